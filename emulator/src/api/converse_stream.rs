//! ConverseStream: renders a canonical reply as the event sequence real Bedrock sends
//! (SPEC §4.4): messageStart, text deltas (no contentBlockStart for text), contentBlockStop,
//! toolUse blocks with contentBlockStart and partial-JSON deltas, messageStop, metadata.
//! Every payload carries the `p` padding real Bedrock adds, keys in alphabetical order.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::converse::{additional_fields, usage_json, ConverseRequest};
use super::stream_tokens::content_tokens;
use crate::canonical::{text_deltas, Reply, ReplyBlock};
use crate::plan::StreamStep;
use crate::rng::{stable_hash, SplitMix64};
use crate::wire::event_stream::Frame;

const PADDING_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Characters of tool-input JSON per `toolUse` delta.
const TOOL_INPUT_CHUNK: usize = 16;

/// A ConverseStream event before framing: its `:event-type` and JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// Union member name.
    pub event_type: &'static str,
    /// Event structure (without padding).
    pub payload: EventPayload,
}

/// An event's structure. Text deltas — nearly every event of a stream — are kept as their
/// two fields and written straight to bytes; a `Value` tree per delta cost more than the
/// rest of the event's path.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    /// Any structure.
    Json(Value),
    /// `{"contentBlockIndex": index, "delta": {"text": text}}`.
    TextDelta {
        /// The content block it belongs to.
        index: usize,
        /// The text.
        text: String,
    },
}

impl EventPayload {
    /// The structure as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            EventPayload::Json(v) => v.clone(),
            EventPayload::TextDelta { index, text } => json!({"contentBlockIndex": index, "delta": {"text": text}}),
        }
    }

    /// Generated tokens it carries (for pacing).
    fn tokens(&self) -> u32 {
        match self {
            EventPayload::Json(v) => content_tokens(v),
            EventPayload::TextDelta { text, .. } => crate::synthetic::tokenizer::count(text),
        }
    }
}

impl From<Value> for EventPayload {
    fn from(v: Value) -> Self {
        EventPayload::Json(v)
    }
}

fn chunk_str(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

impl StreamEvent {
    /// Adds a member to a structure payload (the metadata event's `trace`).
    pub fn add_member(&mut self, name: &str, value: Value) {
        if let EventPayload::Json(Value::Object(o)) = &mut self.payload {
            o.insert(name.to_string(), value);
        }
    }
}

/// The ConverseStream events for `reply`.
pub fn events(reply: &Reply, request: &ConverseRequest) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent { event_type: "messageStart", payload: json!({"role": "assistant"}).into() }];
    for (index, block) in reply.content.iter().enumerate() {
        match block {
            ReplyBlock::Text(text) => {
                for delta in text_deltas(text) {
                    events.push(StreamEvent {
                        event_type: "contentBlockDelta",
                        payload: EventPayload::TextDelta { index, text: delta },
                    });
                }
            }
            ReplyBlock::Reasoning { text, signature } => {
                for delta in text_deltas(text) {
                    events.push(StreamEvent {
                        event_type: "contentBlockDelta",
                        payload: json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"text": delta}}})
                            .into(),
                    });
                }
                events.push(StreamEvent {
                    event_type: "contentBlockDelta",
                    payload:
                        json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": signature}}})
                            .into(),
                });
            }
            ReplyBlock::ToolUse { id, name, input } => {
                events.push(StreamEvent {
                    event_type: "contentBlockStart",
                    payload: json!({"contentBlockIndex": index, "start": {"toolUse": {"name": name, "toolUseId": id}}})
                        .into(),
                });
                for part in chunk_str(&input.to_string(), TOOL_INPUT_CHUNK) {
                    events.push(StreamEvent {
                        event_type: "contentBlockDelta",
                        payload: json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}}).into(),
                    });
                }
            }
        }
        events
            .push(StreamEvent { event_type: "contentBlockStop", payload: json!({"contentBlockIndex": index}).into() });
    }
    let mut stop = Map::new();
    if !request.response_field_paths.is_empty() {
        stop.insert("additionalModelResponseFields".into(), additional_fields(reply, &request.response_field_paths));
    }
    stop.insert("stopReason".into(), json!(reply.stop_reason.as_str()));
    events.push(StreamEvent { event_type: "messageStop", payload: Value::Object(stop).into() });
    events.push(StreamEvent {
        event_type: "metadata",
        payload: json!({"metrics": {"latencyMs": reply.latency_ms}, "usage": usage_json(reply)}).into(),
    });
    events
}

/// The payload as JSON bytes with the `p` padding member added and the top-level keys in
/// alphabetical order, as real Bedrock sends them. Written straight to bytes: this runs for
/// every frame of every stream, and rebuilding a sorted `Value` cost more than the framing.
fn padded(payload: &EventPayload, rng: &mut SplitMix64) -> Vec<u8> {
    let len = 2 + rng.below(60) as usize;
    let pad = &PADDING_ALPHABET[..len.min(PADDING_ALPHABET.len())];
    let payload = match payload {
        EventPayload::TextDelta { index, text } => {
            // Keys already in order: contentBlockIndex, delta, p.
            let mut out = Vec::with_capacity(64 + text.len() + pad.len());
            out.extend_from_slice(b"{\"contentBlockIndex\":");
            crate::wire::json::push_integer(&mut out, *index);
            out.extend_from_slice(b",\"delta\":{\"text\":");
            crate::wire::json::push_string(&mut out, text);
            out.extend_from_slice(b"},\"p\":\"");
            out.extend_from_slice(pad.as_bytes());
            out.extend_from_slice(b"\"}");
            return out;
        }
        EventPayload::Json(v) => v,
    };
    let padding = Value::String(pad.to_string());
    let mut members: Vec<(&str, &Value)> =
        payload.as_object().map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect()).unwrap_or_default();
    members.push(("p", &padding));
    members.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing to a Vec cannot fail; a key or value that did would be a serde_json bug.
        let _ = serde_json::to_writer(&mut out, key);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, value);
    }
    out.push(b'}');
    out
}

/// Frames the events as stream steps, each carrying its generated tokens (pacing is applied
/// later, by the plan).
pub fn steps(events: &[StreamEvent], seed: u64) -> Vec<StreamStep> {
    let mut rng = SplitMix64::new(stable_hash(seed, b"padding"));
    events
        .iter()
        .map(|e| {
            let payload = padded(&e.payload, &mut rng);
            let frame = Frame::Event { event_type: e.event_type.into(), payload: Bytes::from(payload) };
            StreamStep::content(frame, e.payload.tokens())
        })
        .collect()
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;

    #[test]
    fn a_text_delta_is_written_exactly_as_its_json_form_would_be() {
        for (index, text) in [(0, "Hello "), (3, "quote \" and \u{e9}\n"), (12, "")] {
            let fast = EventPayload::TextDelta { index, text: text.to_string() };
            let slow = EventPayload::Json(fast.to_value());
            let (mut a, mut b) = (SplitMix64::new(9), SplitMix64::new(9));
            assert_eq!(padded(&fast, &mut a), padded(&slow, &mut b));
            assert_eq!(fast.tokens(), slow.tokens());
        }
    }
    use crate::api::converse::{parse, Mode};
    use crate::backend::catalog::Catalog;
    use crate::synthetic::SyntheticModel;

    #[test]
    fn the_converse_stream_event_sequence_is_stable() {
        let model = Catalog::builtin().model("anthropic.claude-3-haiku-20240307-v1:0").expect("haiku");
        let body = json!({
            "messages": [{"role": "user", "content": [{"text": "Weather in Paris? use get_weather"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
                "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]}
        });
        let req = parse(body.to_string().as_bytes(), model, Mode::Stream).expect("valid");
        let reply = SyntheticModel::new(0).reply(&model.model_id, &req.conversation, 4096);
        let shown: Vec<Value> =
            events(&reply, &req).into_iter().map(|e| json!({e.event_type: e.payload.to_value()})).collect();
        insta::assert_json_snapshot!(shown);
    }
}
