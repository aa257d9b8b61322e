//! Pieces of hand-written JSON: strings escaped exactly as serde_json escapes them, and
//! integers. For the bodies written on every request, where serde's per-member and per-string
//! overhead was most of the cost (callgrind); tests hold the bytes equal to serde_json's.

/// Appends `s` as a JSON string: copied as it is when nothing in it needs escaping (the usual
/// case), else through serde_json's escaper (control characters, `"` and `\`, nothing else).
pub fn push_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        push_value(out, s);
    }
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

    proptest! {
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
