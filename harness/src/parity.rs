//! Parity snapshots, in the spirit of LocalStack's: `run --target aws --snapshot DIR` stores
//! what each case saw on the wire, normalised (ids, timestamps and generated text replaced by
//! placeholders, the structure and enum values kept, error bodies kept whole), and `run --target emulator --compare DIR` reports every
//! place where the emulator's answers differ from that account's.
//!
//! Responses are captured by an SDK interceptor, so the cases themselves are unchanged; event
//! streams are teed frame by frame as the case reads them.

use std::collections::BTreeSet;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use aws_sdk_bedrockruntime::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// Object keys whose string values are part of the structure (enums), not content.
const KEPT_VALUES: &[&str] =
    &["stopReason", "stop_reason", "role", "type", "finish_reason", "completionReason", "status", "modelLifecycle"];

/// The shape of a JSON document: strings and numbers become placeholders (but enum-like
/// fields keep their values), arrays keep their distinct element shapes in first-seen order.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let kept = KEPT_VALUES.contains(&k.as_str()) && (v.is_string() || v.is_object());
                    (k.clone(), if kept && v.is_string() { v.clone() } else { shape(v) })
                })
                .collect(),
        ),
        Value::Array(a) => {
            let mut seen: Vec<Value> = Vec::new();
            for s in a.iter().map(shape) {
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            Value::Array(seen)
        }
        Value::String(_) => json!("<string>"),
        Value::Number(_) => json!("<number>"),
        other => other.clone(),
    }
}

#[derive(Default)]
struct Exchange {
    operation: String,
    status: u16,
    headers: BTreeSet<String>,
    content_type: String,
    error_type: Option<String>,
    body: Arc<Mutex<Vec<u8>>>,
}

/// Captures every response the SDK clients receive.
#[derive(Clone, Default)]
pub struct Capture {
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

/// A body that copies what passes through it.
struct Tee {
    inner: SdkBody,
    sink: Arc<Mutex<Vec<u8>>>,
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.sink.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(data);
            }
        }
        polled
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "ParityCapture"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_bedrockruntime::error::BoxError> {
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        let response = context.response_mut();
        let header = |name: &str| response.headers().get(name).map(str::to_string);
        let mut exchange = Exchange {
            operation,
            status: response.status().as_u16(),
            content_type: header("content-type").unwrap_or_default(),
            error_type: header("x-amzn-errortype").map(|t| t.split(':').next().unwrap_or("").to_string()),
            ..Exchange::default()
        };
        for (name, _) in response.headers().iter() {
            let n = name.to_ascii_lowercase();
            if n.starts_with("x-amzn-") && n != "x-amzn-requestid" {
                exchange.headers.insert(n);
            }
        }
        let sink = exchange.body.clone();
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        match body.bytes() {
            Some(bytes) => {
                sink.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(bytes);
                *response.body_mut() = body;
            }
            None => {
                *response.body_mut() =
                    body.map_preserve_contents(move |b| SdkBody::from_body_1_x(Tee { inner: b, sink: sink.clone() }));
            }
        }
        self.exchanges.lock().unwrap_or_else(|p| p.into_inner()).push(exchange);
        Ok(())
    }
}

/// `(:event-type or :exception-type, payload)` of each complete event-stream frame.
fn frames(mut bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 16 {
        let total = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let headers_len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        if total < 16 || total > bytes.len() || 12 + headers_len + 4 > total {
            break;
        }
        let mut headers = &bytes[12..12 + headers_len];
        let mut name_of = String::new();
        while let Some((&len, rest)) = headers.split_first() {
            let len = usize::from(len);
            if rest.len() < len + 1 {
                break;
            }
            let name = String::from_utf8_lossy(&rest[..len]).into_owned();
            let kind = rest[len];
            let rest = &rest[len + 1..];
            if kind != 7 || rest.len() < 2 {
                break;
            }
            let vlen = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if rest.len() < 2 + vlen {
                break;
            }
            let value = String::from_utf8_lossy(&rest[2..2 + vlen]).into_owned();
            if name == ":event-type" || name == ":exception-type" {
                name_of = value;
            }
            headers = &rest[2 + vlen..];
        }
        out.push((name_of, bytes[12 + headers_len..total - 4].to_vec()));
        bytes = &bytes[total..];
    }
    out
}

fn json_shape(bytes: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            // A native chunk's base64 bytes: its JSON is the structure worth comparing.
            if let Some(inner) = v.get("bytes").and_then(Value::as_str).and_then(|b| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(b).ok()
            }) {
                if let Ok(decoded) = serde_json::from_slice::<Value>(&inner) {
                    v["bytes"] = decoded;
                }
            }
            shape(&v)
        }
        Err(_) if bytes.is_empty() => Value::Null,
        Err(_) => json!("<not json>"),
    }
}

impl Capture {
    /// A fresh capture.
    pub fn new() -> Self {
        Capture::default()
    }

    /// Everything captured since the last call, normalised; clears the capture.
    pub fn take(&self) -> Value {
        let exchanges = std::mem::take(&mut *self.exchanges.lock().unwrap_or_else(|p| p.into_inner()));
        let normalised: Vec<Value> = exchanges
            .into_iter()
            .map(|e| {
                let body = e.body.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut out = Map::new();
                out.insert("operation".into(), json!(e.operation));
                out.insert("status".into(), json!(e.status));
                out.insert("contentType".into(), json!(e.content_type.split(';').next().unwrap_or("").trim()));
                if let Some(t) = e.error_type {
                    out.insert("errorType".into(), json!(t));
                }
                out.insert("headers".into(), json!(e.headers.into_iter().collect::<Vec<_>>()));
                if e.content_type.starts_with("application/vnd.amazon.eventstream") {
                    // Consecutive events of the same type and shape collapse into one: how many
                    // deltas a reply has is content, not structure.
                    let mut events: Vec<Value> = Vec::new();
                    for (name, payload) in frames(&body) {
                        let event = json!({name: json_shape(&payload)});
                        if events.last() != Some(&event) {
                            events.push(event);
                        }
                    }
                    out.insert("events".into(), Value::Array(events));
                } else if e.status >= 400 {
                    // An error's wording is what parity is about: kept as sent.
                    let sent = serde_json::from_slice::<Value>(&body).unwrap_or_else(|_| json_shape(&body));
                    out.insert("body".into(), sent);
                } else {
                    out.insert("body".into(), json_shape(&body));
                }
                Value::Object(out)
            })
            .collect();
        Value::Array(normalised)
    }
}

/// Leaf JSON pointers where `expected` (the snapshot) and `actual` differ.
pub fn differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    if expected == actual {
        return;
    }
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => differences(v, w, &format!("{path}/{k}"), out),
                    None => out.push(format!("{path}/{k}: missing (the snapshot has {v})")),
                }
            }
            for (k, w) in b {
                if !a.contains_key(k) {
                    out.push(format!("{path}/{k}: not in the snapshot (emulator sent {w})"));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                differences(v, w, &format!("{path}/{i}"), out);
            }
        }
        _ => out.push(format!("{}: snapshot {expected}, now {actual}", if path.is_empty() { "/" } else { path })),
    }
}

/// Writes a case's snapshot.
pub fn write(dir: &Path, case: &str, snapshot: &Value) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(&json!({"version": 1, "case": case, "exchanges": snapshot}))
        .map_err(std::io::Error::other)?;
    std::fs::write(dir.join(format!("{case}.json")), text + "\n")
}

/// Compares a case's capture with its snapshot: `None` when there is no snapshot.
pub fn compare(dir: &Path, case: &str, actual: &Value) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(format!("{case}.json"))).ok()?;
    let expected: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Some(vec![format!("the snapshot is not JSON: {e}")]),
    };
    let mut out = Vec::new();
    differences(&expected["exchanges"], actual, "", &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_keep_structure_and_enums_but_not_content() {
        let v = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}, {"text": "there"}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 3}});
        assert_eq!(
            shape(&v),
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "<string>"}]}}, "stopReason": "end_turn", "usage": {"inputTokens": "<number>"}})
        );
    }

    #[test]
    fn differences_name_their_pointers() {
        let mut out = Vec::new();
        differences(&json!({"a": 1, "b": {"c": 2}}), &json!({"b": {"c": 3}, "d": 4}), "", &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out.iter().any(|d| d.starts_with("/a: missing")));
        assert!(out.iter().any(|d| d.starts_with("/b/c: snapshot 2, now 3")));
        assert!(out.iter().any(|d| d.starts_with("/d: not in the snapshot")));
    }
}
