//! The cassette format, version 1: one JSON file per recorded interaction, written to be
//! read in code review (pretty JSON, sorted headers, bodies as JSON where that is exact).
//!
//! ```json
//! {
//!   "version": 1,
//!   "request": {"operation": "ConverseStream", "service": "bedrock-runtime",
//!               "modelId": "anthropic.claude-3-haiku-20240307-v1:0", "method": "POST",
//!               "path": "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
//!               "headers": {"content-type": "application/json"}, "body": {"messages": []}},
//!   "response": {"status": 200, "headers": {"content-type": "application/vnd.amazon.eventstream"},
//!                "stream": [{"offsetMs": 12.5, "event": "messageStart", "payload": {"p": "abc", "role": "assistant"}}]},
//!   "metadata": {"recordedAt": "2025-07-22T20:54:50Z", "region": "us-east-1",
//!                "emulatorVersion": "0.1.0", "source": "record"}
//! }
//! ```
//!
//! **Byte faithfulness.** A replay must send what Bedrock sent, so a payload is stored as a
//! JSON value only when `serde_json`'s compact serialisation of that value reproduces the
//! recorded bytes exactly; otherwise it is stored as base64 (`payloadBase64`, `bodyBase64`)
//! or text (`bodyText`). A `chunk` event's base64 `bytes` (InvokeModelWithResponseStream) is
//! decoded into its provider JSON under the same rule, when that JSON is an object or array;
//! a string `bytes` is always the base64 as sent. Imports are the one exception: recording
//! tools kept some bodies only as parsed or re-indented JSON, so those are stored as JSON and
//! listed in `metadata.reformatted` (replay sends their compact serialisation).
//!
//! **Strictness.** Unknown fields are refused (a typo such as `bodyBas64` would otherwise
//! silently empty a body), and so is any `version` but 1, with file, line and column.
//!
//! **Atomic writes.** [`write_atomic`] writes a hidden temp file, fsyncs it and hard-links
//! it under a name no other cassette holds, so neither a crash nor a concurrent writer
//! leaves a partial or clobbered cassette under a final name.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::redact::Redactor;
use crate::scenario::format::LoadError;
use crate::wire::event_stream::Frame;

/// The only cassette version this build reads and writes.
pub const VERSION: u32 = 1;

/// The largest event-stream frame [`split_frames`] accepts (Bedrock's own frames are a few
/// KiB; the bound keeps a corrupt length prelude from claiming the whole buffer).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// The largest cassette file read (one interaction: a request the emulator accepts is at most
/// 40 MiB, more as base64, plus its response); a bigger file is refused without being read
/// whole.
pub const MAX_CASSETTE_BYTES: usize = 128 * 1024 * 1024;

/// The smallest possible frame: prelude (8), prelude CRC (4), message CRC (4).
const MIN_FRAME_BYTES: usize = 16;

/// How many `-N` suffixes [`write_atomic`] tries before giving up on a name.
const MAX_NAME_SUFFIX: u32 = 10_000;

/// One recorded interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cassette {
    /// Format version; always [`VERSION`].
    #[serde(deserialize_with = "version_field")]
    pub version: u32,
    /// What the client sent (redacted).
    pub request: RecordedRequest,
    /// What Bedrock answered (redacted).
    pub response: RecordedResponse,
    /// Where and when it was recorded.
    #[serde(default)]
    pub metadata: Metadata,
}

/// A request or unary response body, in the most readable form that is still exact.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Body {
    /// No body (nothing is written).
    #[default]
    Empty,
    /// `body`: JSON whose compact serialisation is the body.
    Json(Value),
    /// `bodyText`: UTF-8 that is not exactly-reproducible JSON.
    Text(String),
    /// `bodyBase64`: anything else.
    Bytes(Vec<u8>),
}

/// The request half. `query` and `headers` are decoded and redacted; `path` stays as sent
/// (percent-encoded) because replay matching and routing work on the raw path.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RequestIn")]
pub struct RecordedRequest {
    /// The operation name from the service model, e.g. `ConverseStream`.
    pub operation: String,
    /// `bedrock` or `bedrock-runtime`.
    pub service: String,
    /// The decoded `modelId` path label, for operations that have one.
    pub model_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// The raw path as sent, without the query.
    pub path: String,
    /// Decoded query parameters in the order sent (written only when present).
    pub query: Vec<(String, String)>,
    /// Lower-case header names; secrets and per-attempt headers removed.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Body,
}

/// The response half.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ResponseIn")]
pub struct RecordedResponse {
    /// HTTP status.
    pub status: u16,
    /// Lower-case header names; secrets removed.
    pub headers: BTreeMap<String, String>,
    /// A unary body or an event stream.
    pub content: ResponseContent,
}

/// What a response carried.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseContent {
    /// A unary body (`body` / `bodyText` / `bodyBase64`).
    Unary(Body),
    /// An `application/vnd.amazon.eventstream` body (`stream`), frame by frame.
    Stream(Vec<StreamItem>),
}

/// One event-stream frame with the time it arrived.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ItemIn")]
pub struct StreamItem {
    /// Milliseconds since the response headers (0 in imports: recordings kept no timing).
    pub offset_ms: f64,
    /// Event or exception, with its name.
    pub kind: ItemKind,
    /// The frame payload.
    pub payload: StreamPayload,
}

/// Which kind of frame, and its `:event-type` / `:exception-type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// `"event": name` (`:message-type: event`).
    Event(String),
    /// `"exception": name` (`:message-type: exception`).
    Exception(String),
}

/// A frame payload.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamPayload {
    /// `payload`: JSON whose compact serialisation is the payload (for `chunk` events, with a
    /// non-string `bytes` standing for the base64 of that value's compact serialisation).
    Json(Value),
    /// `payloadBase64`: the payload bytes, when JSON would not reproduce them.
    Base64(Vec<u8>),
}

/// Where and when an interaction was recorded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// RFC 3339 UTC time of the response (from its `Date` header in imports), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
    /// AWS region of the endpoint, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The emulator version that wrote the cassette.
    #[serde(default)]
    pub emulator_version: String,
    /// `record` for live recordings, `import:<file name>#<index>` for imports.
    #[serde(default)]
    pub source: String,
    /// Bodies stored as JSON although the recorded bytes were not kept exactly (imports only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reformatted: Vec<Side>,
}

/// The request or the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    /// The request body.
    Request,
    /// The response body.
    Response,
}

// ------------------------------------------------------------------------------------------
// Bodies

impl Body {
    /// The body for recorded bytes under the faithfulness rule: JSON only when exact, else
    /// text when UTF-8, else bytes.
    pub fn from_bytes(bytes: &[u8]) -> Body {
        if bytes.is_empty() {
            return Body::Empty;
        }
        if let Some(value) = exact_json(bytes) {
            return Body::Json(value);
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_string()),
            Err(_) => Body::Bytes(bytes.to_vec()),
        }
    }

    /// The body for bytes a recording tool may have re-indented: JSON whenever it parses;
    /// the flag says the JSON is not byte-exact (see [`Metadata::reformatted`]).
    pub fn from_reformatted(bytes: &[u8]) -> (Body, bool) {
        match Body::from_bytes(bytes) {
            Body::Text(text) => match serde_json::from_str::<Value>(&text) {
                Ok(value) if depth(&value) <= MAX_STORED_JSON_DEPTH => (Body::Json(value), true),
                _ => (Body::Text(text), false),
            },
            exact => (exact, false),
        }
    }

    /// The bytes to send: compact JSON, the text, or the bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Body::Empty => Vec::new(),
            Body::Json(value) => serde_json::to_vec(value).unwrap_or_default(),
            Body::Text(text) => text.as_bytes().to_vec(),
            Body::Bytes(bytes) => bytes.clone(),
        }
    }

    /// The body as JSON: the stored value, or text that parses.
    pub fn json(&self) -> Option<Value> {
        match self {
            Body::Json(value) => Some(value.clone()),
            Body::Text(text) => serde_json::from_str(text).ok(),
            Body::Empty | Body::Bytes(_) => None,
        }
    }

    /// The body with secrets removed (binary bodies cannot be searched and stay as they are).
    pub fn redacted(self, redactor: &Redactor) -> Body {
        match self {
            Body::Json(mut value) => {
                redactor.json(&mut value);
                Body::Json(value)
            }
            Body::Text(text) => Body::Text(redactor.text(&text)),
            other => other,
        }
    }
}

/// Deepest JSON a cassette stores as a value: the cassette's own structure nests it up to
/// eight levels down (a stream chunk's decoded bytes), and serde_json reads 128 levels, so a
/// deeper body is stored as text and the cassette stays readable.
const MAX_STORED_JSON_DEPTH: usize = 120;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// `bytes` parsed as JSON, when the compact serialisation reproduces them exactly (and the
/// value is not too deep to store as one).
fn exact_json(bytes: &[u8]) -> Option<Value> {
    let value = serde_json::from_slice::<Value>(bytes).ok()?;
    (serde_json::to_vec(&value).ok()? == bytes && depth(&value) <= MAX_STORED_JSON_DEPTH).then_some(value)
}

// ------------------------------------------------------------------------------------------
// Building cassettes from traffic

impl RecordedRequest {
    /// The request half of what a client sent: routes `method` and the raw request target
    /// (`path?query`, still percent-encoded) to a Bedrock operation and redacts headers,
    /// path, query and body. `None` when the target is no Bedrock operation.
    pub fn from_sent(
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (String, String)>,
        body: Body,
        redactor: &Redactor,
    ) -> Option<RecordedRequest> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let route = crate::operations::find(method, path)?;
        Some(RecordedRequest {
            operation: route.route.operation.clone(),
            service: route.route.service.name().to_string(),
            model_id: route.labels.get("modelId").map(|m| redactor.text(m)),
            method: method.to_ascii_uppercase(),
            path: redactor.text(path),
            query: decode_query(query).into_iter().map(|(k, v)| (k, redactor.text(&v))).collect(),
            headers: redactor.headers(headers),
            body: body.redacted(redactor),
        })
    }
}

/// `a=1&b=x%20y` → `[(a, 1), (b, x y)]` (`+` is left alone: AWS encodes spaces as `%20`).
fn decode_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

impl RecordedResponse {
    /// A unary response, headers and body redacted.
    pub fn unary(
        status: u16,
        headers: impl IntoIterator<Item = (String, String)>,
        body: Body,
        redactor: &Redactor,
    ) -> RecordedResponse {
        let content = ResponseContent::Unary(body.redacted(redactor));
        RecordedResponse { status, headers: redactor.headers(headers), content }
    }

    /// An event-stream response from its frames and their arrival offsets (ms), each frame
    /// redacted (unchanged frames keep their exact bytes) and stored faithfully.
    pub fn stream(
        status: u16,
        headers: impl IntoIterator<Item = (String, String)>,
        frames: &[(f64, Frame)],
        redactor: &Redactor,
    ) -> RecordedResponse {
        let redacted: Vec<(f64, Frame)> = frames.iter().map(|(at, f)| (*at, redactor.frame(f))).collect();
        RecordedResponse {
            status,
            headers: redactor.headers(headers),
            content: ResponseContent::Stream(frames_to_items(&redacted)),
        }
    }
}

impl Metadata {
    /// Metadata for a live recording made now.
    pub fn recorded(region: Option<String>, at: SystemTime) -> Metadata {
        Metadata {
            recorded_at: Some(rfc3339(at)),
            region,
            emulator_version: env!("CARGO_PKG_VERSION").to_string(),
            source: "record".to_string(),
            reformatted: Vec::new(),
        }
    }
}

impl Cassette {
    /// A version-1 cassette.
    pub fn new(request: RecordedRequest, response: RecordedResponse, metadata: Metadata) -> Cassette {
        Cassette { version: VERSION, request, response, metadata }
    }

    /// Whether the response is an event stream.
    pub fn is_stream(&self) -> bool {
        matches!(self.response.content, ResponseContent::Stream(_))
    }

    /// The recorded stream as frames with their offsets (ms), byte-identical to what was
    /// recorded; empty for a unary response.
    pub fn stream_frames(&self) -> Result<Vec<(f64, Frame)>, String> {
        match &self.response.content {
            ResponseContent::Stream(items) => {
                items.iter().enumerate().map(|(i, item)| Ok((item.offset_ms, item.frame(i)?))).collect()
            }
            ResponseContent::Unary(_) => Ok(Vec::new()),
        }
    }

    /// The unary response body as sent (empty for an event stream: see
    /// [`Cassette::stream_frames`]).
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.response.content {
            ResponseContent::Unary(body) => body.to_bytes(),
            ResponseContent::Stream(_) => Vec::new(),
        }
    }

    /// The request body as JSON, when it is JSON (what replay matching compares).
    pub fn request_body_json(&self) -> Option<Value> {
        self.request.body.json()
    }
}

// ------------------------------------------------------------------------------------------
// Event streams

/// Turns frames into stream items under the faithfulness rule (see the module docs).
pub fn frames_to_items(frames: &[(f64, Frame)]) -> Vec<StreamItem> {
    frames
        .iter()
        .map(|(offset_ms, frame)| {
            let (kind, payload) = match frame {
                Frame::Event { event_type, payload } => (ItemKind::Event(event_type.to_string()), payload),
                Frame::Exception { exception_type, payload } => (ItemKind::Exception(exception_type.clone()), payload),
            };
            let payload = match exact_json(payload) {
                Some(mut value) => {
                    if kind.is_chunk() {
                        decode_chunk_bytes(&mut value);
                    }
                    StreamPayload::Json(value)
                }
                None => StreamPayload::Base64(payload.to_vec()),
            };
            StreamItem { offset_ms: *offset_ms, kind, payload }
        })
        .collect()
}

/// Replaces a chunk's base64 `bytes` by the JSON it holds, when that JSON is an object or
/// array, exact, and the base64 is canonical (so re-encoding gives the same characters).
fn decode_chunk_bytes(payload: &mut Value) {
    let Some(slot) = payload.get_mut("bytes") else { return };
    let Some(encoded) = slot.as_str() else { return };
    let Ok(inner) = STANDARD.decode(encoded) else { return };
    if STANDARD.encode(&inner) != encoded {
        return;
    }
    if let Some(value) = exact_json(&inner).filter(|v| v.is_object() || v.is_array()) {
        *slot = value;
    }
}

impl ItemKind {
    fn is_chunk(&self) -> bool {
        matches!(self, ItemKind::Event(name) if name == "chunk")
    }
}

impl StreamItem {
    /// The frame this item stands for, byte-identical to the recorded one; `index` names the
    /// item in errors.
    pub fn frame(&self, index: usize) -> Result<Frame, String> {
        let payload = Bytes::from(self.payload_bytes().map_err(|e| format!("stream item {index}: {e}"))?);
        Ok(match &self.kind {
            ItemKind::Event(event_type) => Frame::Event { event_type: event_type.clone().into(), payload },
            ItemKind::Exception(exception_type) => Frame::Exception { exception_type: exception_type.clone(), payload },
        })
    }

    fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        let value = match &self.payload {
            StreamPayload::Base64(bytes) => return Ok(bytes.clone()),
            StreamPayload::Json(value) => value,
        };
        let decoded_chunk = self.kind.is_chunk() && value.get("bytes").is_some_and(|b| !b.is_string());
        if !decoded_chunk {
            return serde_json::to_vec(value).map_err(|e| e.to_string());
        }
        let mut outer = value.clone();
        if let Some(slot) = outer.get_mut("bytes") {
            let inner = serde_json::to_vec(slot).map_err(|e| e.to_string())?;
            *slot = Value::String(STANDARD.encode(inner));
        }
        serde_json::to_vec(&outer).map_err(|e| e.to_string())
    }
}

/// Splits a whole `application/vnd.amazon.eventstream` body into frames, refusing a frame
/// whose length prelude exceeds [`MAX_FRAME_BYTES`] or the bytes left, a bad CRC, and a frame
/// the [`Frame`] type cannot reproduce byte for byte (other headers or header order).
pub fn split_frames(bytes: &[u8]) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) {
        let index = frames.len();
        let prelude: [u8; 4] = match rest.get(..4).and_then(|p| p.try_into().ok()) {
            Some(p) => p,
            None => return Err(format!("{} stray bytes at byte {at}, too short for a frame prelude", rest.len())),
        };
        let total = usize::try_from(u32::from_be_bytes(prelude)).unwrap_or(usize::MAX);
        if total > MAX_FRAME_BYTES {
            return Err(format!("frame {index} at byte {at} declares {total} bytes, over the 16 MiB limit"));
        }
        if total < MIN_FRAME_BYTES {
            return Err(format!("frame {index} at byte {at} declares {total} bytes, less than a frame's 16"));
        }
        let Some(raw) = rest.get(..total) else {
            return Err(format!(
                "frame {index} at byte {at} declares {total} bytes but {} remain (truncated stream)",
                rest.len()
            ));
        };
        let frame = Frame::decode(raw).map_err(|e| format!("frame {index} at byte {at}: {e}"))?;
        if !frame.encode().is_ok_and(|again| again.as_ref() == raw) {
            return Err(format!(
                "frame {index} at byte {at} does not re-encode to its own bytes (headers other than \
                 :event-type or :exception-type, :content-type application/json and :message-type, \
                 in that order), so a cassette cannot keep it"
            ));
        }
        frames.push(frame);
        at += total;
    }
    Ok(frames)
}

// ------------------------------------------------------------------------------------------
// Reading

/// Parses a cassette; `source` names it in errors. Malformed or truncated JSON, a `version`
/// other than 1, unknown or missing fields and bad base64 are refused with line and column.
pub fn parse(source: &str, text: &str) -> Result<Cassette, LoadError> {
    // The version is checked on its own first, so a future cassette is refused for its
    // version rather than for the first field this build does not know.
    if let Some((at, found)) = text.char_indices().find(|(_, c)| !c.is_whitespace()).filter(|(_, c)| *c != '{') {
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        return Err(LoadError {
            file: source.to_string(),
            line: Some(line),
            column: Some(column),
            message: format!("line {line} column {column}: a cassette is a JSON object, found `{found}`"),
        });
    }
    located(source, serde_json::from_str::<VersionProbe>(text))?;
    located(source, serde_json::from_str::<Cassette>(text))
}

/// Every `*.json` cassette under `dir` (recursively, sorted by path), or every error found.
/// Hidden entries (temp files of [`write_atomic`] among them) are ignored; a missing `dir`
/// holds no cassettes.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Cassette)>, Vec<LoadError>> {
    match fs::metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            let message = format!("cannot read directory: {e}");
            return Err(vec![LoadError { file: dir.display().to_string(), line: None, column: None, message }]);
        }
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    collect_json(dir, &mut files, &mut errors);
    files.sort();
    let mut cassettes = Vec::new();
    for path in files {
        let source = path.display().to_string();
        match crate::scenario::document::read_bounded(&path, MAX_CASSETTE_BYTES) {
            Ok(text) => match parse(&source, &text) {
                Ok(cassette) => cassettes.push((path, cassette)),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(cassettes)
    } else {
        Err(errors)
    }
}

fn collect_json(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<LoadError>) {
    let unreadable = |e: io::Error| LoadError {
        file: dir.display().to_string(),
        line: None,
        column: None,
        message: format!("cannot read directory: {e}"),
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return errors.push(unreadable(e)),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(unreadable(e));
                continue;
            }
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `file_type` does not follow symlinks, so a link cycle cannot recurse forever.
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            collect_json(&path, files, errors);
        } else if name.ends_with(".json") && (kind.is_file() || path.is_file()) {
            files.push(path);
        }
    }
}

/// Reads only `version`, ignoring the rest.
#[derive(Deserialize)]
#[serde(rename = "Cassette")]
struct VersionProbe {
    #[serde(rename = "version", deserialize_with = "version_field")]
    _version: u32,
}

fn version_field<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == VERSION {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("unsupported cassette version {v}: this build reads version {VERSION}")))
    }
}

fn located<T>(source: &str, result: Result<T, serde_json::Error>) -> Result<T, LoadError> {
    result.map_err(|e| {
        let message = e.to_string();
        // serde_json appends " at line L column C"; the message puts the location first.
        let reason = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]);
        LoadError {
            file: source.to_string(),
            line: Some(e.line()),
            column: Some(e.column()),
            message: format!("line {} column {}: {reason}", e.line(), e.column()),
        }
    })
}

// ------------------------------------------------------------------------------------------
// Writing

/// The cassette as written: pretty JSON (2-space indent) with a trailing newline.
pub fn to_json(c: &Cassette) -> String {
    let mut text = serde_json::to_string_pretty(c).unwrap_or_default();
    text.push('\n');
    text
}

/// `<operation>-<model id>-<hash>.json`: deterministic, the model id lower-cased and cut to
/// `[a-z0-9.-]`, the hash 8 hex digits of the method, raw path and request body, so the same
/// request always gets the same name and different requests rarely share one.
pub fn file_name(c: &Cassette) -> String {
    let operation: String = c.request.operation.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
    let operation = if operation.is_empty() { "Interaction".to_string() } else { operation };
    let mut key = Vec::new();
    key.extend_from_slice(c.request.method.as_bytes());
    key.push(b'\n');
    key.extend_from_slice(c.request.path.as_bytes());
    key.push(b'\n');
    key.extend_from_slice(&c.request.body.to_bytes());
    let hash = crate::rng::stable_hash(0, &key) & 0xffff_ffff;
    match c.request.model_id.as_deref().map(sanitise_model).filter(|m| !m.is_empty()) {
        Some(model) => format!("{operation}-{model}-{hash:08x}.json"),
        None => format!("{operation}-{hash:08x}.json"),
    }
}

/// Lower case, `[a-z0-9.-]` only, runs of anything else one `-`, at most 80 characters.
fn sanitise_model(model: &str) -> String {
    let mut out = String::new();
    for c in model.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches(|c| c == '-' || c == '.').chars().take(80).collect()
}

/// Writes `c` into `dir` (created if missing) under [`file_name`], or `-2`, `-3`, … when that
/// name holds a different cassette; returns the path. Writing a cassette identical to one
/// already under its name returns that file. The bytes go to a hidden `.….tmp` file that is
/// fsynced and then hard-linked under the final name, which fails rather than replaces when
/// the name is taken, so concurrent writers never clobber each other and a crash never
/// leaves a partial cassette under a final name. (On a file system without hard links the
/// temp file is renamed after an existence check, which narrows but does not close the race.)
pub fn write_atomic(dir: &Path, c: &Cassette) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let text = to_json(c);
    let name = file_name(c);
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    let tmp = dir.join(format!(".{stem}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    let placed = written.and_then(|()| place(dir, stem, &tmp, text.as_bytes()));
    // After a link the temp name is a second name for the same file; after a rename or a
    // failure it may not exist. Either way it must not stay behind.
    let _ = fs::remove_file(&tmp);
    let path = placed?;
    sync_dir(dir)?;
    Ok(path)
}

/// Gives the complete temp file its final name: the first of `stem.json`, `stem-2.json`, …
/// that is free or already holds exactly `text`.
pub(crate) fn place(dir: &Path, stem: &str, tmp: &Path, text: &[u8]) -> io::Result<PathBuf> {
    for n in 1..=MAX_NAME_SUFFIX {
        let candidate = if n == 1 { dir.join(format!("{stem}.json")) } else { dir.join(format!("{stem}-{n}.json")) };
        let taken = match fs::hard_link(tmp, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => true,
            // No hard links here (some network and FAT file systems): rename instead.
            Err(_) if !candidate.exists() => {
                fs::rename(tmp, &candidate)?;
                return Ok(candidate);
            }
            Err(_) => true,
        };
        if taken && fs::read(&candidate).is_ok_and(|existing| existing == text) {
            return Ok(candidate);
        }
    }
    Err(io::Error::other(format!("{MAX_NAME_SUFFIX} cassettes named {stem}(-N).json exist already")))
}

/// Makes the new directory entry durable (a file's fsync does not cover its name).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// `SystemTime` → `2025-07-22T20:54:50Z` (whole seconds, UTC).
pub fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ------------------------------------------------------------------------------------------
// Serde plumbing: the JSON shape has alternative keys (`body` / `bodyText` / `bodyBase64`,
// `event` / `exception`, `payload` / `payloadBase64`) that the Rust types make exclusive.

/// A present key, even when its value is `null` (`"body": null` is the JSON body `null`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn base64_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD
        .decode(text.as_bytes())
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid base64 (standard alphabet, padded): {e}")))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

impl<'a> From<&'a Body> for BodyOut<'a> {
    fn from(body: &'a Body) -> Self {
        let mut out = BodyOut { body: None, body_text: None, body_base64: None };
        match body {
            Body::Empty => {}
            Body::Json(value) => out.body = Some(value),
            Body::Text(text) => out.body_text = Some(text),
            Body::Bytes(bytes) => out.body_base64 = Some(STANDARD.encode(bytes)),
        }
        out
    }
}

fn body_from(what: &str, json: Option<Value>, text: Option<String>, bytes: Option<Vec<u8>>) -> Result<Body, String> {
    match (json, text, bytes) {
        (None, None, None) => Ok(Body::Empty),
        (Some(value), None, None) => Ok(Body::Json(value)),
        (None, Some(text), None) => Ok(Body::Text(text)),
        (None, None, Some(bytes)) => Ok(Body::Bytes(bytes)),
        _ => Err(format!("{what} has more than one of `body`, `bodyText` and `bodyBase64`")),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestOut<'a> {
    operation: &'a str,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_id: Option<&'a str>,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    query: &'a [(String, String)],
    headers: &'a BTreeMap<String, String>,
    #[serde(flatten)]
    body: BodyOut<'a>,
}

impl Serialize for RecordedRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RequestOut {
            operation: &self.operation,
            service: &self.service,
            model_id: self.model_id.as_deref(),
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: BodyOut::from(&self.body),
        }
        .serialize(s)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RequestIn {
    operation: String,
    service: String,
    #[serde(default)]
    model_id: Option<String>,
    method: String,
    path: String,
    #[serde(default)]
    query: Vec<(String, String)>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Value>,
    #[serde(default)]
    body_text: Option<String>,
    #[serde(default, deserialize_with = "base64_field")]
    body_base64: Option<Vec<u8>>,
}

impl TryFrom<RequestIn> for RecordedRequest {
    type Error = String;

    fn try_from(r: RequestIn) -> Result<Self, String> {
        Ok(RecordedRequest {
            body: body_from("request", r.body, r.body_text, r.body_base64)?,
            operation: r.operation,
            service: r.service,
            model_id: r.model_id,
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    status: u16,
    headers: &'a BTreeMap<String, String>,
    #[serde(flatten)]
    body: BodyOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a [StreamItem]>,
}

impl Serialize for RecordedResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (body, stream) = match &self.content {
            ResponseContent::Unary(body) => (BodyOut::from(body), None),
            ResponseContent::Stream(items) => (BodyOut::from(&Body::Empty), Some(items.as_slice())),
        };
        ResponseOut { status: self.status, headers: &self.headers, body, stream }.serialize(s)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResponseIn {
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Value>,
    #[serde(default)]
    body_text: Option<String>,
    #[serde(default, deserialize_with = "base64_field")]
    body_base64: Option<Vec<u8>>,
    #[serde(default)]
    stream: Option<Vec<StreamItem>>,
}

impl TryFrom<ResponseIn> for RecordedResponse {
    type Error = String;

    fn try_from(r: ResponseIn) -> Result<Self, String> {
        let body = body_from("response", r.body, r.body_text, r.body_base64)?;
        let content = match (r.stream, body) {
            (None, body) => ResponseContent::Unary(body),
            (Some(items), Body::Empty) => ResponseContent::Stream(items),
            (Some(_), _) => return Err("response has both a `stream` and a body".to_string()),
        };
        Ok(RecordedResponse { status: r.status, headers: r.headers, content })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemOut<'a> {
    offset_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exception: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_base64: Option<String>,
}

impl Serialize for StreamItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (event, exception) = match &self.kind {
            ItemKind::Event(name) => (Some(name.as_str()), None),
            ItemKind::Exception(name) => (None, Some(name.as_str())),
        };
        let (payload, payload_base64) = match &self.payload {
            StreamPayload::Json(value) => (Some(value), None),
            StreamPayload::Base64(bytes) => (None, Some(STANDARD.encode(bytes))),
        };
        ItemOut { offset_ms: self.offset_ms, event, exception, payload, payload_base64 }.serialize(s)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ItemIn {
    #[serde(default)]
    offset_ms: f64,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    exception: Option<String>,
    #[serde(default, deserialize_with = "present")]
    payload: Option<Value>,
    #[serde(default, deserialize_with = "base64_field")]
    payload_base64: Option<Vec<u8>>,
}

impl TryFrom<ItemIn> for StreamItem {
    type Error = String;

    fn try_from(i: ItemIn) -> Result<Self, String> {
        if !i.offset_ms.is_finite() || i.offset_ms < 0.0 {
            return Err(format!("stream item `offsetMs` must be a non-negative number, not {}", i.offset_ms));
        }
        let kind = match (i.event, i.exception) {
            (Some(name), None) => ItemKind::Event(name),
            (None, Some(name)) => ItemKind::Exception(name),
            _ => return Err("stream item needs exactly one of `event` and `exception`".to_string()),
        };
        let payload = match (i.payload, i.payload_base64) {
            (Some(value), None) => StreamPayload::Json(value),
            (None, Some(bytes)) => StreamPayload::Base64(bytes),
            _ => return Err("stream item needs exactly one of `payload` and `payloadBase64`".to_string()),
        };
        Ok(StreamItem { offset_ms: i.offset_ms, kind, payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A fresh directory under the system temp dir (no tempfile crate: std is enough).
    fn scratch(name: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bedrock-emulator-cassette-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn sample() -> Cassette {
        let request = RecordedRequest {
            operation: "ConverseStream".into(),
            service: "bedrock-runtime".into(),
            model_id: Some("anthropic.claude-3-haiku-20240307-v1:0".into()),
            method: "POST".into(),
            path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream".into(),
            query: Vec::new(),
            headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
            body: Body::Json(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})),
        };
        let frames = [
            (
                0.0,
                Frame::Event {
                    event_type: "messageStart".into(),
                    payload: Bytes::from_static(br#"{"p":"abc","role":"assistant"}"#),
                },
            ),
            (
                12.5,
                Frame::Exception {
                    exception_type: "throttlingException".into(),
                    payload: Bytes::from_static(br#"{"message":"slow down"}"#),
                },
            ),
        ];
        let response = RecordedResponse {
            status: 200,
            headers: BTreeMap::from([("content-type".into(), "application/vnd.amazon.eventstream".into())]),
            content: ResponseContent::Stream(frames_to_items(&frames)),
        };
        Cassette::new(request, response, Metadata { source: "record".into(), ..Metadata::default() })
    }

    fn chunk(inner: &[u8], padding: &str) -> Frame {
        let payload = format!(r#"{{"bytes":"{}","p":"{padding}"}}"#, STANDARD.encode(inner));
        Frame::Event { event_type: "chunk".into(), payload: Bytes::from(payload) }
    }

    #[test]
    fn a_cassette_is_written_as_the_documented_json() {
        let text = to_json(&sample());
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            value["response"]["stream"][0],
            json!({"offsetMs": 0.0, "event": "messageStart", "payload": {"p": "abc", "role": "assistant"}})
        );
        assert_eq!(value["response"]["stream"][1]["exception"], "throttlingException");
        assert_eq!(value["request"]["modelId"], "anthropic.claude-3-haiku-20240307-v1:0");
        assert!(value["request"].get("query").is_none(), "an empty query is omitted");
        assert!(text.starts_with("{\n  \"version\": 1,\n  \"request\": {\n    \"operation\""), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn a_chunk_is_stored_with_its_provider_json_decoded_and_re_encodes_exactly() {
        let frame = chunk(br#"{"type":"content_block_delta","delta":{"text":"Hi"}}"#, "ab");
        let items = frames_to_items(&[(0.0, frame.clone())]);
        let StreamPayload::Json(payload) = &items[0].payload else { panic!("JSON payload") };
        assert_eq!(payload, &json!({"bytes": {"type": "content_block_delta", "delta": {"text": "Hi"}}, "p": "ab"}));
        assert_eq!(items[0].frame(0).expect("frame"), frame);
    }

    #[test]
    fn payloads_json_cannot_reproduce_are_kept_as_base64() {
        let spaced = Frame::Event { event_type: "x".into(), payload: Bytes::from_static(br#"{"a": 1}"#) };
        let binary = Frame::Event { event_type: "y".into(), payload: Bytes::from_static(&[0, 159, 146, 150]) };
        // Inner bytes that are JSON but re-indented, and a JSON string: `bytes` stays base64.
        let inner_spaced = chunk(br#"{"a": 1}"#, "p");
        let inner_string = chunk(br#""text""#, "p");
        let frames = [(0.0, spaced), (1.0, binary), (2.0, inner_spaced), (3.0, inner_string)];
        let items = frames_to_items(&frames);
        assert!(matches!(items[0].payload, StreamPayload::Base64(_)));
        assert!(matches!(items[1].payload, StreamPayload::Base64(_)));
        for item in &items[2..] {
            let StreamPayload::Json(v) = &item.payload else { panic!("outer JSON is exact") };
            assert!(v["bytes"].is_string(), "{v}");
        }
        let again: Vec<Frame> = items.iter().enumerate().map(|(i, item)| item.frame(i).expect("frame")).collect();
        assert_eq!(again, frames.map(|(_, f)| f).to_vec());
    }

    #[test]
    fn unary_bodies_are_json_only_when_exact() {
        assert_eq!(Body::from_bytes(br#"{"a":1}"#), Body::Json(json!({"a": 1})));
        assert_eq!(Body::from_bytes(b"{\n  \"a\": 1\n}"), Body::Text("{\n  \"a\": 1\n}".into()));
        assert_eq!(Body::from_bytes(&[0xff, 0]), Body::Bytes(vec![0xff, 0]));
        assert_eq!(Body::from_bytes(b""), Body::Empty);
        let deep = format!("{}{}", "[".repeat(125), "]".repeat(125));
        assert_eq!(Body::from_bytes(deep.as_bytes()), Body::Text(deep.clone()), "too deep to nest in a cassette");
        assert_eq!(Body::from_reformatted(b"{\n  \"a\": 1\n}"), (Body::Json(json!({"a": 1})), true));
        assert_eq!(Body::from_reformatted(br#"{"a":1}"#), (Body::Json(json!({"a": 1})), false));
    }

    #[test]
    fn split_frames_splits_a_stream_and_refuses_bad_length_preludes() {
        let a = Frame::Event { event_type: "a".into(), payload: Bytes::from_static(b"{}") };
        let b = Frame::Exception { exception_type: "b".into(), payload: Bytes::from_static(b"{\"message\":\"m\"}") };
        let mut bytes = a.encode().expect("encodes").to_vec();
        bytes.extend_from_slice(&b.encode().expect("encodes"));
        assert_eq!(split_frames(&bytes), Ok(vec![a.clone(), b]));
        assert_eq!(split_frames(b""), Ok(vec![]));

        let huge = [0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0];
        assert!(split_frames(&huge).is_err_and(|e| e.contains("over the 16 MiB limit")));
        let truncated = &bytes[..bytes.len() - 3];
        assert!(split_frames(truncated).is_err_and(|e| e.contains("frame 1 at byte") && e.contains("truncated")));
        assert!(split_frames(&bytes[..2]).is_err_and(|e| e.contains("too short for a frame prelude")));
        let mut corrupt = a.encode().expect("encodes").to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(split_frames(&corrupt).is_err_and(|e| e.starts_with("frame 0 at byte 0:")));
    }

    #[test]
    fn bad_cassettes_are_refused_with_file_line_and_reason() {
        let good = to_json(&sample());
        let cases = [
            ("malformed.json", "{\"version\": 1,, }".to_string()),
            ("truncated.json", good[..good.len() / 2].to_string()),
            ("version-2.json", good.replacen("\"version\": 1", "\"version\": 2", 1)),
            ("version-2-new-fields.json", "{\"future\": true, \"version\": 2}".to_string()),
            ("missing-version.json", "{\"request\": {}}".to_string()),
            (
                "missing-response.json",
                "{\"version\": 1, \"request\": {\"operation\": \"Converse\", \"service\": \"bedrock-runtime\", \
                 \"method\": \"POST\", \"path\": \"/model/m/converse\"}}"
                    .to_string(),
            ),
            (
                "bad-base64.json",
                good.replacen("\"payload\": {\n", "\"payloadBase64\": \"not base64!\", \"payload\": {\n", 1),
            ),
            ("typo.json", good.replacen("\"body\":", "\"bdy\":", 1)),
            ("two-bodies.json", good.replacen("\"body\": {", "\"bodyText\": \"x\", \"body\": {", 1)),
            ("not-an-object.json", "[1, 2]".to_string()),
            ("empty.json", String::new()),
            (
                "event-and-exception.json",
                good.replacen("\"event\": \"messageStart\"", "\"event\": \"a\", \"exception\": \"b\"", 1),
            ),
            ("stream-and-body.json", good.replacen("\"stream\": [", "\"bodyText\": \"x\", \"stream\": [", 1)),
        ];
        let report: Vec<String> = cases
            .iter()
            .map(|(name, text)| match parse(name, text) {
                Ok(_) => format!("{name}: (parsed)"),
                Err(e) => e.to_string(),
            })
            .collect();
        insta::assert_snapshot!(report.join("\n"), @r"
        malformed.json: line 1 column 15: key must be a string
        truncated.json: line 25 column 5: EOF while parsing a string
        version-2.json: line 2 column 14: unsupported cassette version 2: this build reads version 1
        version-2-new-fields.json: line 1 column 30: unsupported cassette version 2: this build reads version 1
        missing-version.json: line 1 column 15: missing field `version`
        missing-response.json: line 1 column 129: missing field `response`
        bad-base64.json: line 34 column 38: invalid base64 (standard alphabet, padded): Invalid symbol 32, offset 3.
        typo.json: line 12 column 9: unknown field `bdy`, expected one of `operation`, `service`, `modelId`, `method`, `path`, `query`, `headers`, `body`, `bodyText`, `bodyBase64`
        two-bodies.json: line 24 column 3: request has more than one of `body`, `bodyText` and `bodyBase64`
        not-an-object.json: line 1 column 1: a cassette is a JSON object, found `[`
        empty.json: line 1 column 0: EOF while parsing a value
        event-and-exception.json: line 39 column 6: stream item needs exactly one of `event` and `exception`
        stream-and-body.json: line 47 column 3: response has both a `stream` and a body
        ");
    }

    #[test]
    fn the_same_request_always_gets_the_same_file_name() {
        let c = sample();
        let name = file_name(&c);
        assert_eq!(name, file_name(&c.clone()));
        assert!(name.starts_with("ConverseStream-anthropic.claude-3-haiku-20240307-v1-0-"), "{name}");
        assert_eq!(name.len(), "ConverseStream-anthropic.claude-3-haiku-20240307-v1-0-".len() + 8 + 5);
        let mut other = c.clone();
        other.request.body = Body::Json(json!({"messages": []}));
        assert_ne!(file_name(&other), name);
        other.request.model_id = Some("../../etc/passwd".into());
        assert!(file_name(&other).starts_with("ConverseStream-etc-passwd-"), "{}", file_name(&other));
    }

    #[test]
    fn writing_never_clobbers_a_different_cassette_and_repeats_are_idempotent() {
        let dir = scratch("suffix");
        let c = sample();
        let first = write_atomic(&dir, &c).expect("written");
        assert_eq!(write_atomic(&dir, &c).expect("written"), first, "identical content reuses the file");
        let mut other = c.clone();
        other.response.status = 500;
        let second = write_atomic(&dir, &other).expect("written");
        assert_eq!(second.file_name(), Some(std::ffi::OsStr::new(&file_name(&c).replace(".json", "-2.json"))));
        let loaded = load_dir(&dir).expect("loads");
        // Path order: `-` sorts before `.`, so the suffixed name comes first.
        assert_eq!(loaded, vec![(second, other), (first, c)]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_writers_of_one_name_each_get_their_own_complete_file() {
        let dir = scratch("concurrent");
        let handles: Vec<_> = (0..8u16)
            .map(|i| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let mut c = sample();
                    c.response.status = 200 + i;
                    (write_atomic(&dir, &c).expect("written"), c)
                })
            })
            .collect();
        let mut written: Vec<(PathBuf, Cassette)> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
        written.sort_by(|a, b| a.0.cmp(&b.0));
        let loaded = load_dir(&dir).expect("every file parses");
        assert_eq!(loaded.len(), 8);
        assert_eq!(loaded, written);
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn load_dir_reads_recursively_in_path_order_and_skips_hidden_files() {
        let dir = scratch("load");
        assert_eq!(load_dir(&dir), Ok(vec![]), "a missing directory holds no cassettes");
        let c = sample();
        fs::create_dir_all(dir.join("b/nested")).expect("mkdir");
        fs::write(dir.join("b/nested/z.json"), to_json(&c)).expect("write");
        fs::write(dir.join("a.json"), to_json(&c)).expect("write");
        fs::write(dir.join(".a.123.0.tmp"), "{partial").expect("write");
        fs::write(dir.join(".hidden.json"), "{partial").expect("write");
        fs::write(dir.join("notes.txt"), "not a cassette").expect("write");
        let paths: Vec<PathBuf> = load_dir(&dir).expect("loads").into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, vec![dir.join("a.json"), dir.join("b/nested/z.json")]);

        fs::write(dir.join("bad1.json"), "{").expect("write");
        fs::write(dir.join("b/bad2.json"), "{\"version\": 3}").expect("write");
        let errors = load_dir(&dir).expect_err("two bad files");
        let files: Vec<&str> = errors.iter().map(|e| e.file.rsplit('/').next().unwrap_or("")).collect();
        assert_eq!(files, ["bad2.json", "bad1.json"]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn builders_route_and_redact_what_they_record() {
        let headers = vec![
            ("Authorization".to_string(), "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/x".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        let body = Body::from_bytes(br#"{"guardrailIdentifier":"arn:aws:bedrock:us-east-1:123456789012:guardrail/g"}"#);
        let request = RecordedRequest::from_sent(
            "POST",
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.m/converse?a=1&b=x%20y",
            headers,
            body,
            &Redactor::default(),
        )
        .expect("routes");
        assert_eq!(request.operation, "Converse");
        assert_eq!(request.model_id.as_deref(), Some("arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.m"));
        assert!(request.path.contains("%3A000000000000%3A"), "{}", request.path);
        assert_eq!(request.query, [("a".to_string(), "1".to_string()), ("b".to_string(), "x y".to_string())]);
        assert_eq!(request.headers.keys().collect::<Vec<_>>(), ["content-type"]);
        let text = serde_json::to_string(&request).expect("json");
        assert_eq!(super::super::redact::find_secrets(&text), Vec::<String>::new(), "{text}");
        assert!(
            RecordedRequest::from_sent("GET", "/images/x.webp", vec![], Body::Empty, &Redactor::default()).is_none()
        );
    }

    #[test]
    fn recorded_at_is_rfc_3339_utc() {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_753_217_690);
        assert_eq!(rfc3339(at), "2025-07-22T20:54:50Z");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    // --- property tests ---

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Dyadic fractions print and parse back exactly under any float algorithm.
            (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 1024.0)),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            Just(Body::Empty),
            json_value().prop_map(Body::Json),
            any::<String>().prop_map(Body::Text),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        ]
    }

    fn item() -> impl Strategy<Value = StreamItem> {
        let kind =
            prop_oneof!["[a-zA-Z]{1,20}".prop_map(ItemKind::Event), "[a-zA-Z]{1,20}".prop_map(ItemKind::Exception),];
        let payload = prop_oneof![
            json_value().prop_map(StreamPayload::Json),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(StreamPayload::Base64),
        ];
        (0u32..4_000_000, kind, payload).prop_map(|(quarter_ms, kind, payload)| StreamItem {
            offset_ms: f64::from(quarter_ms) / 4.0,
            kind,
            payload,
        })
    }

    fn cassette() -> impl Strategy<Value = Cassette> {
        let headers = prop::collection::btree_map(any::<String>(), any::<String>(), 0..4);
        let request = (
            "[A-Za-z]{1,20}",
            prop::option::of(any::<String>()),
            "[A-Z]{3,6}",
            any::<String>(),
            prop::collection::vec((any::<String>(), any::<String>()), 0..3),
            headers.clone(),
            body(),
        )
            .prop_map(|(operation, model_id, method, path, query, headers, body)| RecordedRequest {
                operation,
                service: "bedrock-runtime".into(),
                model_id,
                method,
                path,
                query,
                headers,
                body,
            });
        let content = prop_oneof![
            body().prop_map(ResponseContent::Unary),
            prop::collection::vec(item(), 0..6).prop_map(ResponseContent::Stream),
        ];
        let response = (100u16..600, headers, content).prop_map(|(status, headers, content)| RecordedResponse {
            status,
            headers,
            content,
        });
        let metadata = (prop::option::of(any::<String>()), prop::option::of(any::<String>()), any::<String>())
            .prop_map(|(recorded_at, region, source)| Metadata {
                recorded_at,
                region,
                emulator_version: "0.1.0".into(),
                source,
                reformatted: vec![Side::Request],
            });
        (request, response, metadata)
            .prop_map(|(request, response, metadata)| Cassette::new(request, response, metadata))
    }

    fn frame() -> impl Strategy<Value = (f64, Frame)> {
        let bytes = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..128),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
            json_value().prop_map(|v| serde_json::to_vec_pretty(&v).unwrap_or_default()),
        ];
        let chunk_inner = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            json_value().prop_map(|v| serde_json::to_vec(&json!({"inner": v})).unwrap_or_default()),
        ];
        prop_oneof![
            ("[a-zA-Z]{1,20}", bytes.clone())
                .prop_map(|(t, p)| Frame::Event { event_type: t.into(), payload: Bytes::from(p) }),
            ("[a-zA-Z]{1,20}", bytes)
                .prop_map(|(t, p)| Frame::Exception { exception_type: t, payload: Bytes::from(p) }),
            (chunk_inner, "[a-z]{0,30}").prop_map(|(inner, p)| chunk(&inner, &p)),
        ]
        .prop_flat_map(|f| (0u32..1_000_000).prop_map(move |q| (f64::from(q) / 4.0, f.clone())))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_cassette_survives_write_and_parse(c in cassette()) {
            let dir = scratch("prop");
            let path = write_atomic(&dir, &c).expect("written");
            let text = fs::read_to_string(&path).expect("readable");
            let _ = fs::remove_dir_all(&dir);
            prop_assert_eq!(parse("prop.json", &text).expect("parses"), c);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn frames_survive_items_and_the_file_byte_for_byte(frames in prop::collection::vec(frame(), 0..8)) {
            let mut c = sample();
            c.response.content = ResponseContent::Stream(frames_to_items(&frames));
            let back = parse("prop.json", &to_json(&c)).expect("parses").stream_frames().expect("frames");
            prop_assert_eq!(back.len(), frames.len());
            for ((at, original), (at_again, again)) in frames.iter().zip(&back) {
                prop_assert_eq!(at, at_again);
                prop_assert_eq!(original.encode().expect("encodes"), again.encode().expect("encodes"));
            }
        }

        #[test]
        fn split_frames_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = split_frames(&bytes);
        }
    }
}
