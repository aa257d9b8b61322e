//! Pieces of hand-written JSON: strings escaped exactly as serde_json escapes them, and
//! integers. For the bodies written on every request, where serde's per-member and per-string
//! overhead was most of the cost (callgrind); tests hold the bytes equal to serde_json's.

/// Appends `s` as a JSON string, escaped as serde_json escapes it (`"`, `\\` and control
/// characters, nothing else), copied in runs between the bytes that need escaping. serde_json
/// looks each byte up in a table, which was most of the cost of writing a reply's text. A text
/// without control characters (a check the compiler vectorises) has its runs ended by memchr;
/// any other by [`first_needing_escape`].
pub fn push_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // `|` rather than `any`: no early exit, so the loop runs on whole vectors.
    let has_control = bytes.iter().fold(false, |seen, &b| seen | (b < 0x20));
    if has_control {
        push_runs(out, bytes, first_needing_escape);
    } else {
        push_runs(out, bytes, |rest| memchr::memchr2(b'"', b'\\', rest));
    }
    out.push(b'"');
}

/// Copies `bytes` in runs, escaping each byte `next` stops at (generic, so that each search is
/// inlined rather than called through a pointer).
fn push_runs(out: &mut Vec<u8>, bytes: &[u8], next: impl Fn(&[u8]) -> Option<usize>) {
    let mut rest = bytes;
    while let Some(at) = next(rest) {
        out.extend_from_slice(&rest[..at]);
        push_escaped(out, rest[at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

/// Appends the escape of `b`, one of the bytes [`first_needing_escape`] stops at.
fn push_escaped(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
    }
}

/// Where the first byte that a JSON string must escape (`"`, `\\`, a control character) is
/// in `bytes`: also where a JSON string token without escapes ends. The first 16 bytes are
/// looked at one by one (keys and roles end there, sooner than a word search would set up),
/// the rest eight at a time.
#[inline]
pub fn first_needing_escape(bytes: &[u8]) -> Option<usize> {
    let special = |b: &u8| *b < 0x20 || *b == b'"' || *b == b'\\';
    let head = bytes.len().min(16);
    if let Some(at) = bytes[..head].iter().position(special) {
        return Some(at);
    }
    let mut i = head;
    while let Some(word) = bytes.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        i += 8;
    }
    bytes[i..].iter().position(special).map(|p| i + p)
}

/// Whether any of the eight bytes of `word` is a control character, `"` or `\\` (the
/// classic "has a zero byte" and "has a byte less than n" word tricks, exact for the question
/// whether any byte is).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let has_control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
    has_control || has_zero(word ^ (ONES * u64::from(b'"'))) || has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// Appends any serialisable value through serde_json.
pub fn push_value<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing into a Vec cannot fail, and the values written here (strings, `Value`s) always
    // serialise.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Appends an integer.
pub fn push_integer(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_byte_in_every_position_is_flagged_exactly_when_it_needs_escaping() {
        // Borrows between bytes are where the word tricks could go wrong: each byte value is
        // tried in each position, among neighbours from both ends of the byte range.
        for fill in [b'a', 0x20, 0xff, 0x7f, 0x80] {
            for pos in 0..8 {
                for b in 0..=255u8 {
                    let mut word = [fill; 8];
                    word[pos] = b;
                    let wanted = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(needs_escape(u64::from_le_bytes(word)), wanted, "{word:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn texts_without_control_characters_are_written_as_serde_json_writes_them(s in "[a-z \"\\\\é\u{7f}]{0,80}") {
            let mut out = Vec::new();
            push_string(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_vec(&s).expect("json"));
        }

        #[test]
        fn the_first_byte_needing_escape_is_found(s in "(\\PC|[\u{0}-\u{1f}\"\\\\])*") {
            let wanted = s.bytes().position(|b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(first_needing_escape(s.as_bytes()), wanted);
        }

        #[test]
        fn any_word_is_flagged_exactly_when_a_byte_needs_escaping(word: [u8; 8]) {
            let wanted = word.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(needs_escape(u64::from_le_bytes(word)), wanted);
        }

        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in "(\\PC|[\u{0}-\u{1f}\"\\\\\u{7f}])*") {
            let mut out = Vec::new();
            push_string(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_vec(&s).expect("json"));
        }

        #[test]
        fn integers_are_written_as_serde_json_writes_them(n: u64, i: i32) {
            let mut out = Vec::new();
            push_integer(&mut out, n);
            out.push(b' ');
            push_integer(&mut out, i);
            prop_assert_eq!(String::from_utf8(out).expect("utf-8"), format!("{n} {i}"));
        }
    }
}
