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

fn for_each_token(text: &str, mut emit: impl FnMut((usize, usize))) {
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
    let mut n: u32 = 0;
    for_each_token(text, |_| n = n.saturating_add(1));
    n
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
