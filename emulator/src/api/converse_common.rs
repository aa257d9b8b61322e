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
//! [`converse::parse_object`]: super::converse::parse_object

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::converse::{ConverseRequest, Mode};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Block, Conversation, InferenceConfig, Message, Role};

/// The request, if it has the common shape and is valid for `model`.
pub fn parse_common(body: &[u8], model: &FoundationModel, mode: Mode) -> Option<ConverseRequest> {
    if !model.emulator.converse || (mode == Mode::Stream && !model.response_streaming_supported) {
        return None;
    }
    // UTF-8 checked once for the whole body: from a byte slice, serde_json checks every
    // string it reads on its own. A body that is not UTF-8 is the full parser's to refuse.
    let body = std::str::from_utf8(body).ok()?;
    let Common { messages, system, inference } = serde_json::from_str(body).ok()?;
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

/// Any shape but the common one: the full parser decides (its message is never shown).
fn other<E: de::Error>() -> E {
    E::custom("not the common Converse shape")
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
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    match slot {
        Some(_) => Err(other()),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

impl<'de> Deserialize<'de> for Common {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Common;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Converse request")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Common, A::Error> {
                let (mut messages, mut system, mut inference) = (None, None, None);
                // Keys borrowed from the body: one with an escape fails here and is left to
                // the full parser.
                while let Some(key) = map.next_key::<&str>()? {
                    match key {
                        "messages" => once(&mut messages, map.next_value::<List<Turn>>()?.0)?,
                        "system" => once(&mut system, map.next_value::<List<Text>>()?.0)?,
                        "inferenceConfig" => once(&mut inference, map.next_value::<Inference>()?)?,
                        _ => return Err(other()),
                    }
                }
                let messages = messages.ok_or_else(other)?.into_iter().map(|t| t.0).collect();
                let system = system.map(|s: Vec<Text>| s.into_iter().map(|t| t.0).collect());
                Ok(Common { messages, system, inference })
            }
        }
        d.deserialize_map(V)
    }
}

/// A JSON array (never `null`).
struct List<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List(items))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// A message whose content is text blocks only.
struct Turn(Message);

impl<'de> Deserialize<'de> for Turn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Turn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Turn, A::Error> {
                let (mut role, mut content) = (None, None);
                while let Some(key) = map.next_key::<&str>()? {
                    match key {
                        "role" => {
                            let r = match map.next_value::<&str>()? {
                                "user" => Role::User,
                                "assistant" => Role::Assistant,
                                _ => return Err(other()),
                            };
                            once(&mut role, r)?;
                        }
                        "content" => once(&mut content, map.next_value::<List<Text>>()?.0)?,
                        _ => return Err(other()),
                    }
                }
                let content = content.ok_or_else(other)?.into_iter().map(|t| Block::Text(t.0)).collect();
                Ok(Turn(Message { role: role.ok_or_else(other)?, content }))
            }
        }
        d.deserialize_map(V)
    }
}

/// `{"text": "…"}`, and nothing else.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text block")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                let mut text = None;
                while let Some(key) = map.next_key::<&str>()? {
                    match key {
                        "text" => once(&mut text, map.next_value::<String>()?)?,
                        _ => return Err(other()),
                    }
                }
                text.map(Text).ok_or_else(other)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Inference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Inference;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("inference parameters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inference, A::Error> {
                let (mut max_tokens, mut temperature, mut top_p, mut stop) = (None, None, None, None);
                while let Some(key) = map.next_key::<&str>()? {
                    match key {
                        // A JSON integer only: `64.0` is refused by the full parser.
                        "maxTokens" => once(&mut max_tokens, map.next_value::<u64>()?)?,
                        "temperature" => once(&mut temperature, map.next_value::<f64>()?)?,
                        "topP" => once(&mut top_p, map.next_value::<f64>()?)?,
                        "stopSequences" => once(&mut stop, map.next_value::<List<String>>()?.0)?,
                        _ => return Err(other()),
                    }
                }
                Ok(Inference { max_tokens, temperature, top_p, stop_sequences: stop.unwrap_or_default() })
            }
        }
        d.deserialize_map(V)
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
        fn the_shortcut_agrees_with_the_full_parser(body in body(), which in 0..4usize, stream in any::<bool>()) {
            let ids = [
                "anthropic.claude-3-haiku-20240307-v1:0",
                "amazon.titan-text-express-v1",
                "mistral.mistral-7b-instruct-v0:2",
                "cohere.command-r-v1:0",
            ];
            let model = model(ids[which]);
            let mode = if stream { Mode::Stream } else { Mode::Unary };
            let bytes = serde_json::to_vec(&body).expect("serialises");
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
