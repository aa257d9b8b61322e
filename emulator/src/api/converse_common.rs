//! The common Converse request — text turns, an optional text system prompt and inference
//! parameters — read straight from the body into the canonical conversation, without a JSON
//! tree. Nearly every request has this shape, and the tree cost more than the rest of parsing
//! and validation together.
//!
//! This is only a shortcut: it answers `Some` exactly when [`converse::parse_object`] would
//! accept the body and give the same request (a proptest holds the two together), and `None`
//! for anything else — another member, a `null`, a duplicate or escaped key, a structure sent
//! as an array, any value Bedrock refuses — which then goes through the full parser and its
//! error messages.
//!
//! It reads the JSON with a small scanner of its own rather than serde's visitors: for a
//! 100-byte request, serde_json's per-token machinery cost about 3,500 instructions
//! (callgrind), most of the request's parsing. The scanner only ever has to be right when it
//! accepts; anything it is unsure of (a string with escapes aside) it hands to the full parser.
//!
//! [`converse::parse_object`]: super::converse::parse_object

use super::converse::{ConverseRequest, Mode};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Block, Conversation, InferenceConfig, Message, Role};
use crate::wire::json::first_needing_escape;

/// The request, if it has the common shape and is valid for `model`.
pub fn parse_common(body: &[u8], model: &FoundationModel, mode: Mode) -> Option<ConverseRequest> {
    if !model.emulator.converse || (mode == Mode::Stream && !model.response_streaming_supported) {
        return None;
    }
    // UTF-8 checked once for the whole body; a body that is not UTF-8 is the full parser's
    // to refuse.
    let Common { messages, system, inference } = Scan::new(std::str::from_utf8(body).ok()?).common()?;
    let starts_with_user = messages.first().is_some_and(|m| m.role == Role::User);
    let alternates = messages.windows(2).all(|w| w[0].role != w[1].role);
    let texts_present = messages.iter().all(|m| {
        !m.content.is_empty() && m.content.iter().all(|b| matches!(b, Block::Text(t) if !t.trim().is_empty()))
    });
    if !starts_with_user || !alternates || !texts_present {
        return None;
    }
    let system = system.unwrap_or_default();
    if system.iter().any(String::is_empty) || (!system.is_empty() && !model.emulator.system_prompt) {
        return None;
    }
    let inference = inference.unwrap_or_default();
    let cap = u64::from(model.emulator.max_output_tokens);
    let unit = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
    let valid = inference.max_tokens.is_none_or(|m| (1..=cap).contains(&m))
        && unit(inference.temperature)
        && unit(inference.top_p)
        && inference.stop_sequences.len() <= 2500
        && inference.stop_sequences.iter().all(|s| !s.is_empty());
    if !valid {
        return None;
    }
    let inference = InferenceConfig {
        max_tokens: inference.max_tokens.map(|m| m as u32),
        temperature: inference.temperature,
        top_p: inference.top_p,
        stop_sequences: inference.stop_sequences,
    };
    Some(ConverseRequest {
        conversation: Conversation { system, messages, inference, ..Conversation::default() },
        response_field_paths: Vec::new(),
        guardrail: None,
        guard_content: Vec::new(),
        message_guard_count: 0,
        enforced: None,
        invoked_model: None,
    })
}

struct Common {
    messages: Vec<Message>,
    system: Option<Vec<String>>,
    inference: Option<Inference>,
}

#[derive(Default)]
struct Inference {
    max_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop_sequences: Vec<String>,
}

/// Fills `slot` once: a member sent twice is left to the full parser (which keeps the last).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// A cursor over the body. Every method gives `None` for anything but the shape it reads.
struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        Scan { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after white space (JSON's four), not consumed.
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(self.at) {
            self.at += 1;
        }
        bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// `open item, … close`: a list's or an object's items, separated by commas.
    fn sequence(&mut self, open: u8, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(open)?;
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b if b == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `[item, …]`, each read by `item`.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        self.sequence(b'[', b']', |s| {
            out.push(item(s)?);
            Some(())
        })?;
        Some(out)
    }

    /// `{"key": value, …}`, `member` reading each value; a key with an escape is refused,
    /// as serde refused to borrow it.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.sequence(b'{', b'}', |s| {
            let key = s.plain_string()?;
            s.eat(b':')?;
            member(s, key)
        })
    }

    /// A string without escapes, borrowed from the body.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let len = first_needing_escape(&self.bytes()[start..])?;
        // Ending at a backslash means escapes; at a control character, a string JSON forbids
        // (serde refused it).
        if self.bytes()[start + len] == b'"' {
            self.at = start + len + 1;
            // Both ends are ASCII quotes, so this is a whole-character slice of the body.
            return self.text.get(start..start + len);
        }
        None
    }

    /// Any string: borrowed and copied when it has no escapes, else decoded by serde_json
    /// (escapes are rare; their rules are serde's).
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        if let Some(plain) = self.plain_string() {
            return Some(plain.to_string());
        }
        self.at = start;
        self.eat(b'"')?;
        let open = self.at - 1;
        let bytes = self.bytes();
        let mut i = self.at;
        loop {
            match bytes.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        serde_json::from_str(self.text.get(open..=i)?).ok()
    }

    /// The bytes of a JSON number (checked by whoever converts them).
    fn number(&mut self) -> Option<&'a str> {
        self.peek()?;
        let start = self.at;
        let bytes = self.bytes();
        while bytes.get(self.at).is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')) {
            self.at += 1;
        }
        (self.at > start).then(|| &self.text[start..self.at])
    }

    /// A JSON integer that fits `u64`: digits only, no leading zero (what serde read as u64;
    /// `64.0`, `1e2` and `-1` it refused).
    fn unsigned(&mut self) -> Option<u64> {
        let digits = self.number()?;
        let canonical = digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
        if canonical {
            digits.parse().ok()
        } else {
            None
        }
    }

    /// A JSON number as serde_json reads it into an `f64` (its rounding, not Rust's).
    fn float(&mut self) -> Option<f64> {
        serde_json::from_str(self.number()?).ok()
    }

    /// `[{"text": "…"}, …]`, each text wrapped by `wrap` (a block, or the text itself).
    fn texts<T>(&mut self, wrap: fn(String) -> T) -> Option<Vec<T>> {
        self.list(|s| {
            let mut text = None;
            s.object(|s, key| match key {
                "text" => once(&mut text, s.string()?),
                _ => None,
            })?;
            Some(wrap(text?))
        })
    }

    fn message(&mut self) -> Option<Message> {
        let (mut role, mut content) = (None, None);
        self.object(|s, key| match key {
            "role" => {
                let r = match s.plain_string()? {
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    _ => return None,
                };
                once(&mut role, r)
            }
            "content" => once(&mut content, s.texts(Block::Text)?),
            _ => None,
        })?;
        Some(Message { role: role?, content: content? })
    }

    fn inference(&mut self) -> Option<Inference> {
        let (mut max_tokens, mut temperature, mut top_p, mut stop) = (None, None, None, None);
        self.object(|s, key| match key {
            "maxTokens" => once(&mut max_tokens, s.unsigned()?),
            "temperature" => once(&mut temperature, s.float()?),
            "topP" => once(&mut top_p, s.float()?),
            "stopSequences" => once(&mut stop, s.list(Self::string)?),
            _ => None,
        })?;
        Some(Inference { max_tokens, temperature, top_p, stop_sequences: stop.unwrap_or_default() })
    }

    /// The whole body: the request object and nothing after it but white space.
    fn common(mut self) -> Option<Common> {
        let (mut messages, mut system, mut inference) = (None, None, None);
        self.object(|s, key| match key {
            "messages" => once(&mut messages, s.list(Self::message)?),
            "system" => once(&mut system, s.texts(std::convert::identity)?),
            "inferenceConfig" => once(&mut inference, s.inference()?),
            _ => None,
        })?;
        if self.peek().is_some() {
            return None;
        }
        Some(Common { messages: messages?, system, inference })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::converse::parse_object;
    use crate::backend::catalog::Catalog;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn model(id: &str) -> &'static FoundationModel {
        Catalog::builtin().models().iter().find(|m| m.model_id == id).expect("model")
    }

    fn full(body: &[u8], model: &FoundationModel, mode: Mode) -> Option<ConverseRequest> {
        let value: Value = serde_json::from_slice(body).ok()?;
        parse_object(value.as_object()?, model, mode).ok()
    }

    #[test]
    fn the_common_shape_is_read_without_a_tree() {
        let haiku = model("anthropic.claude-3-haiku-20240307-v1:0");
        let body = br#"{"messages":[{"role":"user","content":[{"text":"Hello, \"you\""}]},{"role":"assistant","content":[{"text":"Hi"}]},{"role":"user","content":[{"text":"a"},{"text":"b"}]}],"system":[{"text":"Be brief"}],"inferenceConfig":{"maxTokens":64,"temperature":0.5,"topP":1,"stopSequences":["END"]}}"#;
        let common = parse_common(body, haiku, Mode::Unary).expect("common");
        assert_eq!(Some(&common), full(body, haiku, Mode::Unary).as_ref());
        assert_eq!(common.conversation.messages.len(), 3);
        assert_eq!(common.conversation.inference.max_tokens, Some(64));
    }

    #[test]
    fn escapes_white_space_and_numbers_read_as_serde_reads_them() {
        let haiku = model("anthropic.claude-3-haiku-20240307-v1:0");
        let body = " {\r\n \"messages\" : [ {\"content\":[ {\"text\" :\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\\tend\"} ], \"role\":\"user\"}\t] ,\n\"inferenceConfig\":{\"temperature\": 0.7e0, \"topP\":1E-1,\"maxTokens\" : 10, \"stopSequences\": [\"\\u0045ND\"]}} \n";
        let common = parse_common(body.as_bytes(), haiku, Mode::Unary).expect("common");
        assert_eq!(Some(&common), full(body.as_bytes(), haiku, Mode::Unary).as_ref());
        assert_eq!(common.conversation.messages[0].content, vec![Block::Text("café 😀 \"q\" \\ / \n\tend".into())]);
        assert_eq!(common.conversation.inference.stop_sequences, vec!["END".to_string()]);
        assert_eq!(common.conversation.inference.temperature, Some(0.7));
        for refused in [
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]}]} x"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]}],}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"},]}]}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a\x"}]}]}"#,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\u{1}\"}]}]}",
            r#"{"messages":[{"role":"us\u0065r","content":[{"text":"a"}]}]}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":064}}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":1e2}}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"temperature":.5}}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"temperature":0.5.1}}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]}]"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"#,
        ] {
            assert_eq!(parse_common(refused.as_bytes(), haiku, Mode::Unary), None, "{refused}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_full_parser() {
        let haiku = model("anthropic.claude-3-haiku-20240307-v1:0");
        for body in [
            json!([[{"role": "user", "content": [{"text": "hi"}]}]]),
            json!({"messages": [["user", [{"text": "hi"}]]]}),
            json!({"messages": [{"role": "user", "content": [["hi"]]}]}),
            json!({"messages": null}),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "system": null}),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "toolConfig": {}}),
            json!({"messages": [{"role": "user", "content": [{"text": " "}]}]}),
            json!({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 64.0}}),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 0}}),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 1_000_000}}),
        ] {
            let bytes = serde_json::to_vec(&body).expect("serialises");
            assert_eq!(parse_common(&bytes, haiku, Mode::Unary), None, "{body}");
        }
        let duplicate = br#"{"messages":[{"role":"user","content":[{"text":"a"}]}],"messages":[{"role":"user","content":[{"text":"b"}]}]}"#;
        assert_eq!(parse_common(duplicate, haiku, Mode::Unary), None);
        let escaped_key = br#"{"\u006dessages":[{"role":"user","content":[{"text":"a"}]}]}"#;
        assert_eq!(parse_common(escaped_key, haiku, Mode::Unary), None);
        assert!(full(escaped_key, haiku, Mode::Unary).is_some());
    }

    fn text() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => "[a-zA-Z ,.\"\\\\é\n]{0,12}".prop_map(Value::from),
            1 => Just(Value::from(" \t")),
            1 => Just(Value::from("")),
            1 => Just(Value::Null),
            1 => Just(json!(7)),
        ]
    }

    fn block() -> impl Strategy<Value = Value> {
        prop_oneof![
            8 => text().prop_map(|t| json!({"text": t})),
            1 => Just(json!({"text": "a", "cachePoint": {}})),
            1 => Just(json!({"image": {"format": "png", "source": {"bytes": "aGk="}}})),
            1 => Just(json!(["text", "a"])),
        ]
    }

    fn message() -> impl Strategy<Value = Value> {
        let role = prop_oneof![4 => Just(json!("user")), 4 => Just(json!("assistant")), 1 => Just(json!("system")), 1 => Just(Value::Null)];
        (role, prop::collection::vec(block(), 0..3), 0..8u8).prop_map(|(role, content, shape)| match shape {
            0 => json!({"role": role}),
            1 => json!({"content": content, "role": role, "extra": 1}),
            _ => json!({"role": role, "content": content}),
        })
    }

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!(0)),
            Just(json!(1)),
            Just(json!(64)),
            Just(json!(4096)),
            Just(json!(4097)),
            Just(json!(64.0)),
            Just(json!(0.5)),
            Just(json!(-1)),
            Just(json!(1.5)),
            Just(json!(1e30)),
            Just(json!("64")),
            Just(Value::Null),
        ]
    }

    fn inference() -> impl Strategy<Value = Value> {
        let stops = prop_oneof![
            Just(json!(["END"])),
            Just(json!([""])),
            Just(json!([])),
            Just(json!("END")),
            Just(Value::Null)
        ];
        (prop::option::of(number()), prop::option::of(number()), prop::option::of(number()), prop::option::of(stops))
            .prop_map(|(m, t, p, s)| {
                let mut o = serde_json::Map::new();
                for (k, v) in [("maxTokens", m), ("temperature", t), ("topP", p), ("stopSequences", s)] {
                    if let Some(v) = v {
                        o.insert(k.to_string(), v);
                    }
                }
                Value::Object(o)
            })
    }

    fn body() -> impl Strategy<Value = Value> {
        let messages = prop_oneof![
            8 => prop::collection::vec(message(), 0..5).prop_map(Value::from),
            1 => Just(Value::Null),
            1 => Just(json!({})),
        ];
        let system = prop_oneof![
            prop::collection::vec(block(), 0..3).prop_map(Value::from),
            Just(Value::Null),
            Just(json!("be brief")),
        ];
        (
            messages,
            prop::option::of(system),
            prop::option::of(prop_oneof![4 => inference(), 1 => Just(Value::Null)]),
            0..10u8,
        )
            .prop_map(|(messages, system, inference, extra)| {
                let mut o = serde_json::Map::new();
                o.insert("messages".into(), messages);
                if let Some(s) = system {
                    o.insert("system".into(), s);
                }
                if let Some(i) = inference {
                    o.insert("inferenceConfig".into(), i);
                }
                if extra == 0 {
                    o.insert("additionalModelRequestFields".into(), json!({}));
                }
                Value::Object(o)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The shortcut never disagrees with the full parser: whatever it accepts, the full
        /// parser accepts as the same request (on models that differ in what they allow).
        #[test]
        fn the_shortcut_agrees_with_the_full_parser(body in body(), which in 0..4usize, stream in any::<bool>(), pretty in any::<bool>()) {
            let ids = [
                "anthropic.claude-3-haiku-20240307-v1:0",
                "amazon.titan-text-express-v1",
                "mistral.mistral-7b-instruct-v0:2",
                "cohere.command-r-v1:0",
            ];
            let model = model(ids[which]);
            let mode = if stream { Mode::Stream } else { Mode::Unary };
            // Pretty-printed too: white space wherever JSON allows it.
            let bytes = if pretty { serde_json::to_vec_pretty(&body) } else { serde_json::to_vec(&body) }.expect("serialises");
            let full = full(&bytes, model, mode);
            if let Some(common) = parse_common(&bytes, model, mode) {
                prop_assert_eq!(Some(common), full, "{}", body);
            }
        }

        /// …and it is not vacuous: a valid plain conversation always takes the shortcut.
        #[test]
        fn valid_plain_conversations_take_the_shortcut(texts in prop::collection::vec("[a-zA-Z ,.!?\"]{0,40}[a-z]", 1..6), max in 1u32..200) {
            let haiku = model("anthropic.claude-3-haiku-20240307-v1:0");
            let messages: Vec<Value> = texts.iter().enumerate().map(|(i, t)| {
                json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": [{"text": t}]})
            }).collect();
            let bytes = serde_json::to_vec(&json!({"messages": messages, "inferenceConfig": {"maxTokens": max}})).expect("serialises");
            let common = parse_common(&bytes, haiku, Mode::Unary);
            prop_assert!(common.is_some());
            prop_assert_eq!(common, full(&bytes, haiku, Mode::Unary));
        }
    }
}
