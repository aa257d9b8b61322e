//! Replaying cassettes: a recorded answer for a request that matches one on operation, model
//! and body (with configurable JSON pointers ignored, or only some compared). Identical
//! requests replay in recorded order, and the last one repeats. The replayed answer is a Plan
//! like any other, so faults compose on top of it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::cassette::{self, Cassette, RecordedRequest};
use crate::api::stream_tokens::content_tokens;
use crate::canonical::Usage;
use crate::plan::{AnsweredBy, Plan, StreamAction, StreamStep};
use crate::scenario::format::LoadError;
use crate::scenario::MatchInput;
use crate::wire::event_stream::Frame;

/// How replayed streams are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplayTiming {
    /// As fast as the client reads (default).
    None,
    /// With the recorded gaps between events.
    Recorded,
    /// With the recorded gaps times this factor.
    Scaled(f64),
}

impl std::str::FromStr for ReplayTiming {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(ReplayTiming::None),
            "recorded" => Ok(ReplayTiming::Recorded),
            _ => match s.strip_prefix("scaled:").map(str::parse::<f64>) {
                Some(Ok(f)) if f.is_finite() && f >= 0.0 => Ok(ReplayTiming::Scaled(f)),
                _ => Err(format!("expected recorded, none or scaled:F with F ≥ 0 (got `{s}`)")),
            },
        }
    }
}

/// How requests are matched to cassettes.
#[derive(Debug, Clone, Default)]
pub struct MatchOptions {
    /// JSON pointers left out of the comparison (e.g. `/inferenceConfig/temperature`).
    pub ignore: Vec<String>,
    /// When not empty, only these JSON pointers of the body are compared.
    pub only: Vec<String>,
}

#[derive(Debug)]
struct Entry {
    file: String,
    request: RecordedRequest,
    /// The request body as JSON, parsed once (nearest-cassette reports compare it).
    request_body: Option<Value>,
    /// Order among identical requests (recording time, then the writer's `-N` suffix).
    order: (String, u32),
    /// The answer, built once at load: a replay only clones it.
    answer: Answer,
}

/// A recorded answer ready to send.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: AnswerBody,
    usage: Option<Usage>,
}

#[derive(Debug)]
enum AnswerBody {
    Unary { content_type: String, bytes: Bytes },
    Stream(Vec<StreamStep>),
}

/// Every loaded cassette, grouped by request.
#[derive(Debug)]
pub struct Replayer {
    groups: HashMap<String, Vec<Entry>>,
    options: MatchOptions,
    played: Mutex<HashMap<String, usize>>,
}

/// What replay made of a request.
#[derive(Debug)]
pub enum ReplayAnswer {
    /// A cassette answers.
    Hit(Plan),
    /// None does; the nearest cassette and how it differs, when any is loaded.
    Miss {
        /// `FILE differs in: …`.
        nearest: Option<String>,
    },
}

fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = if parent.is_empty() { Some(v) } else { v.pointer_mut(parent) };
    match target {
        Some(Value::Object(o)) => {
            o.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

/// A canonical text of a JSON value: object keys sorted, so equal documents match whatever
/// order the client wrote them in.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let inner: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&o[*k]))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

impl MatchOptions {
    fn normalise(&self, body: Option<&Value>) -> Value {
        let body = body.cloned().unwrap_or(Value::Null);
        if !self.only.is_empty() {
            let picked: Map<String, Value> =
                self.only.iter().map(|p| (p.clone(), body.pointer(p).cloned().unwrap_or(Value::Null))).collect();
            return Value::Object(picked);
        }
        let mut body = body;
        for p in &self.ignore {
            remove_pointer(&mut body, p);
        }
        body
    }

    /// [`normalise`](Self::normalise), and for operations with an idempotency token (not the
    /// inference operations, whose native bodies may hold any member) that token left out:
    /// the SDKs fill it with a fresh UUID on every call, so a recorded create could never
    /// match its replay.
    fn normalise_for(&self, operation: &str, body: Option<&Value>) -> Value {
        let mut body = self.normalise(body);
        const INFERENCE: &[&str] =
            &["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "CountTokens"];
        if self.only.is_empty() && !INFERENCE.contains(&operation) {
            remove_pointer(&mut body, "/clientRequestToken");
        }
        body
    }

    /// What identifies a request: operation, target (path labels and query, so that two
    /// GetFoundationModel calls for different models differ), body.
    fn key(&self, operation: &str, target: &str, body: Option<&Value>) -> String {
        format!("{operation}\u{1f}{target}\u{1f}{}", canonical(&self.normalise_for(operation, body)))
    }
}

/// A request's target as matching compares it: the path decoded, the query decoded and
/// sorted, and account ids in ARNs as cassettes store them (redacted to 000000000000), so a
/// live request matches the cassette that recorded it.
pub fn target_key(raw_path: &str, query: &[(String, String)]) -> String {
    let decoded = percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy().into_owned();
    let mut q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    q.sort();
    account_neutral(&format!("{decoded}?{}", q.join("&")))
}

fn account_neutral(s: &str) -> String {
    static ARN_ACCOUNT: std::sync::OnceLock<Option<regex_lite::Regex>> = std::sync::OnceLock::new();
    match ARN_ACCOUNT.get_or_init(|| regex_lite::Regex::new(r"(arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:)\d{12}:").ok()) {
        Some(re) => re.replace_all(s, "${1}000000000000:").into_owned(),
        None => s.to_string(),
    }
}

/// Leaf JSON pointers where two documents differ (at most `limit`).
fn differences(recorded: &Value, sent: &Value, path: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || recorded == sent {
        return;
    }
    match (recorded, sent) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))).collect();
            keys.dedup();
            for k in keys {
                let (x, y) = (a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null));
                differences(x, y, &format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")), out, limit);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}/{i}"), out, limit);
            }
        }
        _ => {
            let show = |v: &Value| {
                let t = v.to_string();
                if t.chars().count() > 40 {
                    format!("{}…", t.chars().take(40).collect::<String>())
                } else {
                    t
                }
            };
            out.push(format!(
                "{} (recorded {}, sent {})",
                if path.is_empty() { "/" } else { path },
                show(recorded),
                show(sent)
            ));
        }
    }
}

fn suffix(file: &str) -> u32 {
    let stem = file.trim_end_matches(".json");
    stem.rsplit_once('-').and_then(|(_, n)| n.parse().ok()).filter(|n| *n < 1000).unwrap_or(1)
}

/// Headers a replay does not repeat: framing and per-response values the server sets itself.
const NOT_REPLAYED: &[&str] =
    &["content-length", "content-type", "date", "connection", "transfer-encoding", "x-amzn-requestid", "keep-alive"];

/// Usage the recorded answer reports (Converse `usage`, stream `metadata`, native metrics).
fn usage_of(values: &[&Value]) -> Option<Usage> {
    // Converse says inputTokens, Anthropic input_tokens, the native metrics inputTokenCount.
    type Names = (&'static str, &'static [&'static str], &'static [&'static str]);
    const NAMES: [Names; 2] = [
        ("usage", &["inputTokens", "input_tokens"], &["outputTokens", "output_tokens"]),
        ("amazon-bedrock-invocationMetrics", &["inputTokenCount"], &["outputTokenCount"]),
    ];
    let count = |v: &Value, keys: &[&str]| keys.iter().find_map(|k| v.get(*k)).and_then(Value::as_u64);
    values.iter().find_map(|v| {
        NAMES.iter().find_map(|(field, input, output)| {
            let u = v.get(*field)?;
            Some(Usage { input_tokens: count(u, input)? as u32, output_tokens: count(u, output)? as u32 })
        })
    })
}

impl Replayer {
    /// Loads every cassette under `dir`; all bad files are reported.
    pub fn load(dir: &Path, options: MatchOptions, timing: ReplayTiming) -> Result<Self, Vec<LoadError>> {
        let loaded = cassette::load_dir(dir)?;
        Ok(Self::from_cassettes(
            loaded.into_iter().map(|(p, c)| (p.display().to_string(), c)).collect(),
            options,
            timing,
        ))
    }

    /// A replayer over cassettes already in memory (`(file name, cassette)`).
    pub fn from_cassettes(cassettes: Vec<(String, Cassette)>, options: MatchOptions, timing: ReplayTiming) -> Self {
        let mut groups: HashMap<String, Vec<Entry>> = HashMap::new();
        for (file, c) in cassettes {
            let request_body = c.request_body_json();
            let target = target_key(&c.request.path, &c.request.query);
            let key = options.key(&c.request.operation, &target, request_body.as_ref());
            let name = Path::new(&file).file_name().and_then(|n| n.to_str()).unwrap_or(&file).to_string();
            let order = (c.metadata.recorded_at.clone().unwrap_or_default(), suffix(&name));
            let answer = answer(&c, timing);
            groups.entry(key).or_default().push(Entry { file: name, request: c.request, request_body, order, answer });
        }
        for entries in groups.values_mut() {
            entries.sort_by(|a, b| a.order.cmp(&b.order));
        }
        Replayer { groups, options, played: Mutex::new(HashMap::new()) }
    }

    /// Number of cassettes.
    pub fn len(&self) -> usize {
        self.groups.values().map(Vec::len).sum()
    }

    /// Whether none is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts every group of identical requests from its first recording again.
    pub fn reset(&self) {
        self.played.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The recorded answer for a request, or the nearest miss.
    pub fn answer(&self, input: &MatchInput, raw_path: &str, query: &[(String, String)]) -> ReplayAnswer {
        let key = self.options.key(&input.operation, &target_key(raw_path, query), input.body.json());
        let Some(entries) = self.groups.get(&key) else {
            return ReplayAnswer::Miss { nearest: self.nearest(input, &target_key(raw_path, query)) };
        };
        let index = {
            let mut played = self.played.lock().unwrap_or_else(|p| p.into_inner());
            let n = played.entry(key).or_insert(0);
            let i = (*n).min(entries.len().saturating_sub(1));
            *n += 1;
            i
        };
        match entries.get(index) {
            Some(e) => ReplayAnswer::Hit(self.plan(e)),
            None => ReplayAnswer::Miss { nearest: None },
        }
    }

    fn nearest(&self, input: &MatchInput, target: &str) -> Option<String> {
        let sent = self.options.normalise_for(&input.operation, input.body.json());
        let mut best: Option<(usize, String)> = None;
        for e in self.groups.values().flatten() {
            let r = &e.request;
            let mut diffs = Vec::new();
            if r.operation != input.operation {
                diffs.push(format!("operation (recorded {}, sent {})", r.operation, input.operation));
            }
            let recorded_target = target_key(&r.path, &r.query);
            if recorded_target != target && r.model_id.as_deref() == input.model_id.as_deref() {
                diffs.push(format!("path or query (recorded {recorded_target}, sent {target})"));
            }
            if r.model_id.as_deref().map(account_neutral) != input.model_id.as_deref().map(account_neutral) {
                diffs.push(format!(
                    "model (recorded {}, sent {})",
                    r.model_id.as_deref().unwrap_or("none"),
                    input.model_id.as_deref().unwrap_or("none")
                ));
            }
            let recorded = e.request_body.as_ref();
            if self.options.only.is_empty() {
                differences(&self.options.normalise_for(&input.operation, recorded), &sent, "", &mut diffs, 6);
            } else {
                // Compared pointer by pointer, named as the user wrote them.
                for p in &self.options.only {
                    let at = |b: Option<&Value>| b.and_then(|b| b.pointer(p)).cloned().unwrap_or(Value::Null);
                    differences(&at(recorded), &at(input.body.json()), p, &mut diffs, 6);
                }
            }
            if best.as_ref().is_none_or(|(n, _)| diffs.len() < *n) {
                best =
                    Some((diffs.len(), format!("The nearest cassette, {}, differs in: {}.", e.file, diffs.join("; "))));
            }
        }
        best.map(|(_, text)| text)
    }

    fn plan(&self, e: &Entry) -> Plan {
        let a = &e.answer;
        let mut plan = match &a.body {
            AnswerBody::Unary { content_type, bytes } => Plan::raw(content_type, bytes.clone()),
            AnswerBody::Stream(steps) => Plan::stream(steps.clone()),
        };
        plan.status = a.status;
        for (k, v) in &a.headers {
            plan = plan.header(k, v.clone());
        }
        if let Some(u) = a.usage {
            plan = plan.with_usage(u);
        }
        plan.answered_by(AnsweredBy::Replay(e.file.clone()))
    }
}

/// The gap before a replayed event under `timing`.
fn delay(timing: ReplayTiming, gap_ms: f64) -> Duration {
    let factor = match timing {
        ReplayTiming::None => return Duration::ZERO,
        ReplayTiming::Recorded => 1.0,
        ReplayTiming::Scaled(f) => f,
    };
    Duration::from_secs_f64((gap_ms.max(0.0) * factor / 1000.0).min(3600.0))
}

/// A cassette's answer as it will be sent: frames (with their tokens, for pacing, and their
/// delays under `timing`) or the unary body, the headers to repeat and the usage reported.
fn answer(c: &Cassette, timing: ReplayTiming) -> Answer {
    let response = &c.response;
    let mut values: Vec<Value> = Vec::new();
    let body = match c.stream_frames() {
        Ok(frames) if c.is_stream() => {
            let mut last = 0.0;
            let steps = frames
                .into_iter()
                .map(|(offset, frame)| {
                    let gap = delay(timing, offset - last);
                    last = offset;
                    let payload = match &frame {
                        Frame::Event { payload, .. } | Frame::Exception { payload, .. } => {
                            serde_json::from_slice::<Value>(payload).ok()
                        }
                    };
                    let tokens = payload.as_ref().map_or(0, content_tokens);
                    if let Some(p) = payload {
                        values.push(decoded_chunk(&p).unwrap_or(p));
                    }
                    StreamStep { delay: gap, action: StreamAction::Frame(frame), tokens }
                })
                .collect();
            AnswerBody::Stream(steps)
        }
        _ => {
            let bytes = c.body_bytes();
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                values.push(v);
            }
            let content_type = response.headers.get("content-type").map_or("application/json", String::as_str);
            AnswerBody::Unary { content_type: content_type.to_string(), bytes: Bytes::from(bytes) }
        }
    };
    let headers = response
        .headers
        .iter()
        .filter(|(k, _)| !NOT_REPLAYED.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let refs: Vec<&Value> = values.iter().rev().collect();
    Answer { status: response.status, headers, body, usage: usage_of(&refs) }
}

/// The JSON inside a native `chunk` event's base64 `bytes`, for usage.
fn decoded_chunk(payload: &Value) -> Option<Value> {
    use base64::Engine as _;
    let b = payload.get("bytes")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn idempotency_tokens_are_not_compared() {
        let o = MatchOptions::default();
        let a = json!({"name": "g", "clientRequestToken": "3f1c-uuid-a"});
        let b = json!({"name": "g", "clientRequestToken": "9e2d-uuid-b"});
        assert_eq!(o.key("CreateGuardrail", "", Some(&a)), o.key("CreateGuardrail", "", Some(&b)));
        assert_ne!(o.key("CreateGuardrail", "", Some(&a)), o.key("CreateGuardrail", "", Some(&json!({"name": "h"}))));
        assert_ne!(o.key("InvokeModel", "", Some(&a)), o.key("InvokeModel", "", Some(&b)), "native bodies keep it");
    }
}
