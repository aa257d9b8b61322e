//! The one token approximation used everywhere (usage, limits, CountTokens, headers).
//!
//! Rule: a run of letters/digits/underscores counts one token per started 8 characters; every
//! other non-whitespace character is one token; whitespace is free. Real tokenizers differ
//! per model; this one is cheap, deterministic and lets `maxTokens` cut on word boundaries.

/// Byte ranges of each token in `text`, in order.
pub fn token_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for_each_token(text, |span| spans.push(span));
    spans
}

fn for_each_token(text: &str, emit: impl FnMut((usize, usize))) {
    // Nearly every prompt is ASCII: a byte loop there is several times cheaper than decoding
    // characters, and both loops apply the same rule (a test holds them equal).
    if text.is_ascii() {
        for_each_ascii_token(text.as_bytes(), emit);
    } else {
        for_each_char_token(text, emit);
    }
}

fn for_each_ascii_token(bytes: &[u8], mut emit: impl FnMut((usize, usize))) {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // `char::is_whitespace` on ASCII: space, \t, \n, vertical tab, form feed, \r.
        if matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            i += 1;
        } else if word(b) {
            let start = i;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            let mut run = start;
            while i - run > 8 {
                emit((run, run + 8));
                run += 8;
            }
            emit((run, i));
        } else {
            emit((i, i + 1));
            i += 1;
        }
    }
}

fn for_each_char_token(text: &str, mut emit: impl FnMut((usize, usize))) {
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            let mut end = start + c.len_utf8();
            let mut run_start = start;
            let mut run_len = 1;
            while let Some(&(i, n)) = chars.peek() {
                if !(n.is_alphanumeric() || n == '_') {
                    break;
                }
                if run_len == 8 {
                    emit((run_start, i));
                    run_start = i;
                    run_len = 0;
                }
                run_len += 1;
                end = i + n.len_utf8();
                chars.next();
            }
            emit((run_start, end));
        } else {
            emit((start, start + c.len_utf8()));
        }
    }
}

/// How many tokens `text` counts.
pub fn count(text: &str) -> u32 {
    if text.is_ascii() {
        return count_ascii(text.as_bytes());
    }
    let mut n: u32 = 0;
    for_each_char_token(text, |_| n = n.saturating_add(1));
    n
}

/// Byte classes of the rule: 0 whitespace, 1 word (letter, digit, `_`), 2 any other.
const ASCII_CLASS: [u8; 128] = {
    let mut class = [2u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            class[b] = 0;
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            class[b] = 1;
        }
        b += 1;
    }
    class
};

/// [`count`] of ASCII text without producing spans: a word run of n bytes counts ⌈n/8⌉.
/// Counting runs on every reply and every CountTokens call; the proptest below holds it equal
/// to the span loops.
fn count_ascii(bytes: &[u8]) -> u32 {
    let mut n: usize = 0;
    let mut run = 0usize;
    for &b in bytes {
        match ASCII_CLASS[usize::from(b & 0x7f)] {
            1 => run += 1,
            class => {
                n += run.div_ceil(8) + usize::from(class == 2);
                run = 0;
            }
        }
    }
    n += run.div_ceil(8);
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The prefix of `text` holding at most `max` tokens (cut at the end of the last whole token).
pub fn truncate(text: &str, max: u32) -> &str {
    let spans = token_spans(text);
    let max = max as usize;
    if spans.len() <= max {
        text
    } else if max == 0 {
        ""
    } else {
        &text[..spans[max - 1].1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn char_spans(text: &str) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        for_each_char_token(text, |s| spans.push(s));
        spans
    }

    proptest! {
        #[test]
        fn the_ascii_loop_agrees_with_the_character_loop(text in "[a-zA-Z0-9_ \t\n\x0b\x0c\r.,!?{}\"-]{0,80}") {
            prop_assert_eq!(token_spans(&text), char_spans(&text));
            prop_assert_eq!(count(&text) as usize, char_spans(&text).len());
        }

        #[test]
        fn counting_any_text_agrees_with_its_spans(text in ".{0,120}") {
            prop_assert_eq!(count(&text) as usize, char_spans(&text).len());
        }
    }

    #[test]
    fn words_and_punctuation_count_one_token_each() {
        assert_eq!(count("Hello, world!"), 4);
        assert_eq!(count("   "), 0);
        assert_eq!(count("internationalization"), 3);
    }

    #[test]
    fn truncation_keeps_whole_tokens() {
        assert_eq!(truncate("one two three", 2), "one two");
        assert_eq!(truncate("one two three", 9), "one two three");
        assert_eq!(truncate("one two", 0), "");
    }

    proptest! {
        #[test]
        fn truncating_to_n_tokens_never_exceeds_n(text in ".{0,200}", n in 0u32..60) {
            let cut = truncate(&text, n);
            prop_assert!(count(cut) <= n);
            prop_assert!(text.starts_with(cut));
            if count(&text) <= n { prop_assert_eq!(cut, text.as_str()); }
        }
    }
}
