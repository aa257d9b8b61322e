//! Tokens of generated text inside stream event payloads, so that every stream (synthetic,
//! scripted, replayed) can be paced by the one formula in `plan::pace`.

use base64::Engine as _;
use serde_json::Value;

use crate::synthetic::tokenizer;

/// Tokens of generated text inside an event payload (text deltas, native chunk text), for pacing.
pub fn content_tokens(v: &Value) -> u32 {
    const TEXT_KEYS: [&str; 8] =
        ["text", "outputText", "generation", "completion", "partial_json", "input", "thinking", "content"];
    match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if TEXT_KEYS.contains(&k.as_str()) => tokenizer::count(s),
                Value::String(s) if k == "bytes" => base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .map_or(0, |inner| content_tokens(&inner)),
                other => content_tokens(other),
            })
            .sum(),
        Value::Array(a) => a.iter().map(content_tokens).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_deltas_and_base64_chunks_carry_their_tokens() {
        assert_eq!(content_tokens(&json!({"contentBlockIndex": 0, "delta": {"text": "two words"}})), 2);
        let chunk = base64::engine::general_purpose::STANDARD.encode(r#"{"completion": "one two three"}"#);
        assert_eq!(content_tokens(&json!({"bytes": chunk})), 3);
        assert_eq!(content_tokens(&json!({"stopReason": "end_turn"})), 0);
    }
}
