//! Other tools' recordings → cassettes, so traffic already captured by a test suite can be
//! replayed without recording it again.
//!
//! Formats, told apart by extension and shape:
//! * **nock** JSON (JavaScript): an array of `{scope, method, path, body, status, response,
//!   rawHeaders, reqheaders, responseIsBinary}`; `body`/`response` are parsed JSON, or for a
//!   binary response (an event stream) the hex of its bytes.
//! * **VCR.py** YAML (Python, pytest-recording): `interactions: [{request: {body, headers,
//!   method, uri}, response: {body: {string}, headers, status: {code}}}]`; binary bodies are
//!   `!!binary` base64.
//! * **aws-smithy dvr** JSON (Rust `ReplayingClient`): an array of `{connection_id, action:
//!   Request | Response | Data | Eof}` events, grouped per connection.
//!
//! An interaction becomes a cassette when its request routes to a `bedrock` or
//! `bedrock-runtime` operation; anything else (another AWS service, an image download made by
//! the test, a response kept without its request) is reported in [`ImportReport::skipped`]
//! with the reason. Recordings carry no timing, so every stream offset is 0. Recording tools
//! kept some bodies only as parsed or re-indented JSON: those are stored as JSON and listed
//! in `metadata.reformatted` when the recorded bytes are known to differ (re-indented text,
//! or a recorded `Content-Length` that the compact serialisation does not match).

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::cassette::{split_frames, Body, Cassette, Metadata, RecordedRequest, RecordedResponse, Side};
use super::redact::Redactor;
use crate::scenario::format::LoadError;
use crate::wire::event_stream::Frame;

/// The media type of an event-stream body.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// What one recording file held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// One cassette per Bedrock interaction, in recording order.
    pub cassettes: Vec<Cassette>,
    /// `<file>#<index>: <why>` for each interaction that is not a Bedrock request (or cannot
    /// be replayed), in recording order.
    pub skipped: Vec<String>,
}

/// Imports one recording file. A file in none of the known formats, or one that does not
/// parse, is an error with file, line and column; interactions that are not Bedrock requests
/// are skipped, not errors. A `*.response.json` / `*.response.b64` file (a response body
/// saved without its request) is reported as skipped whole.
pub fn import_file(path: &Path, redactor: &Redactor) -> Result<ImportReport, LoadError> {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    if name.ends_with(".response.json") || name.ends_with(".response.b64") {
        return Ok(ImportReport {
            cassettes: Vec::new(),
            skipped: vec![format!(
                "{name}: a response body saved without its request, so there is no request to replay it against"
            )],
        });
    }
    let text = crate::scenario::document::read_bounded(path, super::cassette::MAX_CASSETTE_BYTES)
        .map_err(|e| LoadError { message: format!("cannot read: {}", e.message), ..e })?;
    import_str(&name, &text, redactor)
}

/// Imports a recording held in memory; `name` is its file name (it picks the format by
/// extension and appears in errors and in each cassette's `metadata.source`).
pub fn import_str(name: &str, text: &str, redactor: &Redactor) -> Result<ImportReport, LoadError> {
    crate::scenario::document::check_size(name, text, super::cassette::MAX_CASSETTE_BYTES)?;
    let interactions = read_interactions(name, text)?;
    let mut report = ImportReport::default();
    for (index, interaction) in interactions.into_iter().enumerate() {
        match interaction.and_then(|it| to_cassette(it, name, index, redactor)) {
            Ok(cassette) => report.cassettes.push(cassette),
            Err(why) => report.skipped.push(format!("{name}#{index}: {why}")),
        }
    }
    Ok(report)
}

// ------------------------------------------------------------------------------------------
// One format-neutral interaction

/// A recorded exchange before it becomes a cassette (`Err` in the list: why it cannot).
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    method: String,
    /// The host the request went to, when the recording names it.
    host: Option<String>,
    /// Raw request target: the percent-encoded path and the query.
    target: String,
    request_headers: Vec<(String, String)>,
    request_body: Raw,
    status: u16,
    response_headers: Vec<(String, String)>,
    response_body: Raw,
}

/// A body as the recording kept it.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    /// The bytes (possibly re-indented by the recording tool).
    Bytes(Vec<u8>),
    /// JSON the recording tool parsed (nock); the wire bytes are gone.
    Parsed(Value),
}

fn read_interactions(name: &str, text: &str) -> Result<Vec<Result<Recorded, String>>, LoadError> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        return read_vcr(name, text);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| json_error(name, &e))?;
    let first = value.as_array().and_then(|a| a.first());
    match (&value, first) {
        (Value::Array(_), None) => Ok(Vec::new()),
        (_, Some(f)) if f.get("connection_id").is_some() && f.get("action").is_some() => read_dvr(name, text),
        (_, Some(f)) if f.get("method").is_some() && f.get("path").is_some() => read_nock(name, text),
        (Value::Object(o), _) if o.contains_key("interactions") => read_vcr(name, text),
        (Value::Object(o), _) if o.contains_key("version") && o.contains_key("request") => Err(LoadError {
            file: name.to_string(),
            line: None,
            column: None,
            message: "this is a cassette already; copy it instead of importing it".to_string(),
        }),
        _ => Err(LoadError {
            file: name.to_string(),
            line: None,
            column: None,
            message: "not a recording this importer reads: expected a nock JSON array, a VCR.py cassette \
                      (`interactions:`) or an aws-smithy dvr JSON array"
                .to_string(),
        }),
    }
}

/// Turns one recorded exchange into a cassette, or says why it is not one.
fn to_cassette(it: Recorded, file: &str, index: usize, redactor: &Redactor) -> Result<Cassette, String> {
    let shown = match &it.host {
        Some(host) => format!("{} https://{host}{}", it.method, it.target),
        None => format!("{} {}", it.method, it.target),
    };
    let endpoint = it.host.as_deref().and_then(aws_endpoint);
    if let Some((service, _)) = &endpoint {
        if !service.starts_with("bedrock") {
            return Err(format!("{shown}: {service} is not a Bedrock service"));
        }
    }
    let mut reformatted = Vec::new();
    let (request_body, changed) = body_of(it.request_body, &it.request_headers);
    if changed {
        reformatted.push(Side::Request);
    }
    let request = RecordedRequest::from_sent(&it.method, &it.target, it.request_headers, request_body, redactor)
        .ok_or_else(|| match (&it.host, &endpoint) {
            (Some(host), None) => {
                format!("{shown}: not a Bedrock request ({host} is not an AWS endpoint and the path is no Bedrock operation)")
            }
            _ => format!("{shown}: the path routes to no bedrock or bedrock-runtime operation"),
        })?;
    let recorded_at = header(&it.response_headers, "date").and_then(http_date_to_rfc3339);
    let response = match stream_frames(&it.response_body, &it.response_headers, &shown)? {
        Some(frames) => {
            let timed: Vec<_> = frames.into_iter().map(|f| (0.0, f)).collect();
            RecordedResponse::stream(it.status, it.response_headers, &timed, redactor)
        }
        None => {
            let (body, changed) = body_of(it.response_body, &it.response_headers);
            if changed {
                reformatted.push(Side::Response);
            }
            RecordedResponse::unary(it.status, it.response_headers, body, redactor)
        }
    };
    let metadata = Metadata {
        recorded_at,
        region: endpoint.and_then(|(_, region)| region),
        emulator_version: env!("CARGO_PKG_VERSION").to_string(),
        source: format!("import:{file}#{index}"),
        reformatted,
    };
    Ok(Cassette::new(request, response, metadata))
}

/// The frames of an event-stream response, `None` for a unary one. A response declared as
/// `application/vnd.amazon.eventstream` must split; one recorded without a `Content-Type`
/// (some VCR cassettes kept no response headers) is a stream when it splits cleanly into
/// frames, whose CRCs make an accidental match practically impossible.
fn stream_frames(body: &Raw, headers: &[(String, String)], shown: &str) -> Result<Option<Vec<Frame>>, String> {
    let content_type = header(headers, "content-type");
    let declared = content_type.is_some_and(|t| t.trim().to_ascii_lowercase().starts_with(EVENT_STREAM));
    match body {
        Raw::Bytes(bytes) if declared => {
            split_frames(bytes).map(Some).map_err(|e| format!("{shown}: the event stream does not split: {e}"))
        }
        Raw::Parsed(_) if declared => Err(format!("{shown}: an event-stream response recorded as parsed JSON")),
        Raw::Bytes(bytes) if content_type.is_none() => Ok(split_frames(bytes).ok().filter(|f| !f.is_empty())),
        _ => Ok(None),
    }
}

/// The body to store and whether its JSON is known not to be the recorded bytes.
fn body_of(raw: Raw, headers: &[(String, String)]) -> (Body, bool) {
    match raw {
        Raw::Bytes(bytes) => Body::from_reformatted(&bytes),
        // nock keeps a body that is not JSON as the string itself.
        Raw::Parsed(Value::String(text)) => Body::from_reformatted(text.as_bytes()),
        Raw::Parsed(Value::Null) => (Body::Empty, false),
        Raw::Parsed(value) => {
            let length = header(headers, "content-length").and_then(|n| n.trim().parse::<usize>().ok());
            let compact = serde_json::to_vec(&value).map_or(0, |b| b.len());
            let differs = length.is_some_and(|n| n != compact);
            (Body::Json(value), differs)
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `bedrock-runtime.us-east-1.amazonaws.com` → (`bedrock-runtime`, `us-east-1`); also FIPS
/// and VPC-endpoint names. `None` for hosts that are not AWS endpoints.
fn aws_endpoint(host: &str) -> Option<(String, Option<String>)> {
    let host = host.to_ascii_lowercase();
    let base = [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"].iter().find_map(|s| host.strip_suffix(s))?;
    let labels: Vec<&str> = base.split('.').collect();
    // A VPC endpoint (`vpce-….bedrock-runtime.us-east-1.vpce`) names the service second.
    let at = labels.iter().position(|l| l.starts_with("bedrock")).unwrap_or(0);
    let service = labels.get(at)?.trim_end_matches("-fips").to_string();
    let region =
        labels.get(at + 1).filter(|r| r.contains('-') && r.chars().any(|c| c.is_ascii_digit())).map(|r| r.to_string());
    Some((service, region))
}

/// `https://host:443/path?q` → (`host`, `/path?q`).
fn split_url(url: &str) -> (Option<String>, String) {
    let Some((_, rest)) = url.split_once("://") else { return (None, url.to_string()) };
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let target = if target.starts_with('?') { format!("/{target}") } else { target.to_string() };
    ((!host.is_empty()).then(|| host.to_string()), target)
}

/// `Thu, 06 Feb 2025 05:12:34 GMT` (RFC 1123, what HTTP `Date` holds) → `2025-02-06T05:12:34Z`.
fn http_date_to_rfc3339(date: &str) -> Option<String> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [_, day, month, year, time, "GMT" | "UTC"] = parts.as_slice() else { return None };
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? + 1;
    let year: u32 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let hms: Vec<u32> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    Some(format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"))
}

fn json_error(name: &str, e: &serde_json::Error) -> LoadError {
    let message = e.to_string();
    let reason = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]);
    LoadError {
        file: name.to_string(),
        line: Some(e.line()),
        column: Some(e.column()),
        message: format!("line {} column {}: {reason}", e.line(), e.column()),
    }
}

fn yaml_error(name: &str, e: &serde_yaml_ng::Error) -> LoadError {
    let location = e.location();
    let (line, column) = (location.as_ref().map(|l| l.line()), location.as_ref().map(|l| l.column()));
    let message = e.to_string();
    let reason = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]);
    let message = match (line, column) {
        (Some(l), Some(c)) => format!("line {l} column {c}: {reason}"),
        _ => message.clone(),
    };
    LoadError { file: name.to_string(), line, column, message }
}

/// A JSON header value as text (nock keeps numbers and lists too).
fn header_text(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(header_text).collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

// ------------------------------------------------------------------------------------------
// nock

#[derive(Deserialize)]
struct NockInteraction {
    #[serde(default)]
    scope: String,
    method: String,
    path: String,
    #[serde(default)]
    body: Value,
    #[serde(default = "ok_status")]
    status: u16,
    #[serde(default)]
    response: Value,
    /// A flat `[name, value, name, value, …]` list (or, in older nock, an object).
    #[serde(default, rename = "rawHeaders")]
    raw_headers: Value,
    #[serde(default)]
    reqheaders: serde_json::Map<String, Value>,
    #[serde(default, rename = "responseIsBinary")]
    response_is_binary: bool,
}

fn ok_status() -> u16 {
    200
}

fn read_nock(name: &str, text: &str) -> Result<Vec<Result<Recorded, String>>, LoadError> {
    let interactions: Vec<NockInteraction> = serde_json::from_str(text).map_err(|e| json_error(name, &e))?;
    Ok(interactions.into_iter().map(nock_interaction).collect())
}

fn nock_interaction(it: NockInteraction) -> Result<Recorded, String> {
    let (host, _) = split_url(&it.scope);
    let response_headers: Vec<(String, String)> = match &it.raw_headers {
        Value::Array(flat) => flat
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((header_text(k).join(", "), header_text(v).join(", "))),
                _ => None,
            })
            .collect(),
        Value::Object(map) => {
            map.iter().flat_map(|(k, v)| header_text(v).into_iter().map(|v| (k.clone(), v))).collect()
        }
        _ => Vec::new(),
    };
    let request_headers =
        it.reqheaders.iter().flat_map(|(k, v)| header_text(v).into_iter().map(move |v| (k.clone(), v))).collect();
    let is_stream = header(&response_headers, "content-type")
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with(EVENT_STREAM));
    let response_body = match it.response {
        Value::String(hex) if it.response_is_binary || is_stream => {
            Raw::Bytes(unhex(&hex).ok_or_else(|| format!("{} {}: the binary response is not hex", it.method, it.path))?)
        }
        Value::String(text) => Raw::Bytes(text.into_bytes()),
        Value::Null => Raw::Bytes(Vec::new()),
        value => Raw::Parsed(value),
    };
    let request_body = match it.body {
        Value::Null => Raw::Bytes(Vec::new()),
        Value::String(text) => Raw::Bytes(text.into_bytes()),
        value => Raw::Parsed(value),
    };
    Ok(Recorded {
        method: it.method,
        host,
        target: it.path,
        request_headers,
        request_body,
        status: it.status,
        response_headers,
        response_body,
    })
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    digits.chunks(2).map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?)).collect()
}

// ------------------------------------------------------------------------------------------
// VCR.py

/// `!!binary` resolves to a plain string in `serde_yaml_ng` (the core-schema tag is dropped),
/// which would make a binary body indistinguishable from text; renamed to a local tag of the
/// same length (so error columns stay right), it survives as `Value::Tagged`.
const BINARY_TAG: &str = "!!binary";
const LOCAL_BINARY_TAG: &str = "!vcr-bin";

#[derive(Deserialize)]
struct VcrFile {
    /// Required: a YAML file without it is not a VCR.py cassette, and saying so beats
    /// importing nothing.
    interactions: Vec<VcrInteraction>,
}

#[derive(Deserialize)]
struct VcrInteraction {
    #[serde(default)]
    request: Option<VcrRequest>,
    #[serde(default)]
    response: Option<VcrResponse>,
}

#[derive(Deserialize)]
struct VcrRequest {
    #[serde(default)]
    body: serde_yaml_ng::Value,
    #[serde(default)]
    headers: serde_yaml_ng::Value,
    method: String,
    uri: String,
}

#[derive(Deserialize)]
struct VcrResponse {
    #[serde(default)]
    body: serde_yaml_ng::Value,
    #[serde(default)]
    headers: serde_yaml_ng::Value,
    status: VcrStatus,
}

#[derive(Deserialize)]
struct VcrStatus {
    code: u16,
    #[serde(default, rename = "message")]
    _message: IgnoredAny,
}

fn read_vcr(name: &str, text: &str) -> Result<Vec<Result<Recorded, String>>, LoadError> {
    // The YAML parser's work grows with the square of flow nesting: measured first.
    crate::scenario::document::check_yaml_depth(name, text)?;
    let (rewritten, tags) = rename_binary_tags(text);
    let file: VcrFile = serde_yaml_ng::from_str(&rewritten).map_err(|e| yaml_error(name, &e))?;
    let found: usize = file
        .interactions
        .iter()
        .map(|it| {
            let request = it.request.as_ref().map_or(0, |r| count_binary(&r.body) + count_binary(&r.headers));
            let response = it.response.as_ref().map_or(0, |r| count_binary(&r.body) + count_binary(&r.headers));
            request + response
        })
        .sum();
    if found != tags {
        // A `!!binary` inside a string was renamed too: refuse rather than alter the string.
        return Err(LoadError {
            file: name.to_string(),
            line: None,
            column: None,
            message: format!(
                "`{BINARY_TAG}` appears {tags} times but tags {found} values; cannot tell binary bodies apart"
            ),
        });
    }
    Ok(file.interactions.into_iter().map(vcr_interaction).collect())
}

/// Renames `!!binary` where it stands as a tag (after a space, before white space).
fn rename_binary_tags(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut rest = text;
    while let Some(i) = rest.find(BINARY_TAG) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + BINARY_TAG.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_none_or(char::is_whitespace) && after.is_none_or(char::is_whitespace) {
            out.push_str(LOCAL_BINARY_TAG);
            count += 1;
        } else {
            out.push_str(BINARY_TAG);
        }
        rest = &rest[i + BINARY_TAG.len()..];
    }
    out.push_str(rest);
    (out, count)
}

fn count_binary(v: &serde_yaml_ng::Value) -> usize {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Tagged(t) if t.tag == LOCAL_BINARY_TAG => 1 + count_binary(&t.value),
        Y::Tagged(t) => count_binary(&t.value),
        Y::Sequence(items) => items.iter().map(count_binary).sum(),
        Y::Mapping(map) => map.iter().map(|(k, v)| count_binary(k) + count_binary(v)).sum(),
        _ => 0,
    }
}

fn vcr_interaction(it: VcrInteraction) -> Result<Recorded, String> {
    let (request, response) = match (it.request, it.response) {
        (Some(request), Some(response)) => (request, response),
        (None, _) => return Err("a response kept without its request: nothing to replay it against".to_string()),
        (Some(r), None) => return Err(format!("{} {}: the request has no recorded response", r.method, r.uri)),
    };
    let (host, target) = split_url(&request.uri);
    let shown = format!("{} {}", request.method, request.uri);
    Ok(Recorded {
        request_body: Raw::Bytes(vcr_body(&request.body).map_err(|e| format!("{shown}: request body: {e}"))?),
        response_body: Raw::Bytes(vcr_body(&response.body).map_err(|e| format!("{shown}: response body: {e}"))?),
        request_headers: vcr_headers(&request.headers),
        response_headers: vcr_headers(&response.headers),
        method: request.method,
        host,
        target,
        status: response.status.code,
    })
}

/// A VCR body: a string, `!!binary` base64, null, or `{string: …}` around any of those.
fn vcr_body(v: &serde_yaml_ng::Value) -> Result<Vec<u8>, String> {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Ok(Vec::new()),
        Y::String(s) => Ok(s.clone().into_bytes()),
        Y::Tagged(t) if t.tag == LOCAL_BINARY_TAG => {
            let Y::String(encoded) = &t.value else { return Err("`!!binary` holds no string".to_string()) };
            let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD.decode(compact).map_err(|e| format!("`!!binary` is not base64: {e}"))
        }
        Y::Mapping(map) => map.get("string").map_or(Ok(Vec::new()), vcr_body),
        Y::Bool(b) => Ok(b.to_string().into_bytes()),
        Y::Number(n) => Ok(n.to_string().into_bytes()),
        Y::Sequence(_) | Y::Tagged(_) => Err("not a string".to_string()),
    }
}

/// VCR headers: `Name: [value, …]` (or a bare `Name: value` where a filter replaced it).
fn vcr_headers(v: &serde_yaml_ng::Value) -> Vec<(String, String)> {
    use serde_yaml_ng::Value as Y;
    fn texts(v: &Y) -> Vec<String> {
        match v {
            Y::String(s) => vec![s.clone()],
            Y::Number(n) => vec![n.to_string()],
            Y::Bool(b) => vec![b.to_string()],
            Y::Sequence(items) => items.iter().flat_map(texts).collect(),
            Y::Tagged(t) => texts(&t.value),
            Y::Null | Y::Mapping(_) => Vec::new(),
        }
    }
    let Y::Mapping(map) = v else { return Vec::new() };
    map.iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), texts(v))))
        .flat_map(|(k, values)| values.into_iter().map(move |v| (k.clone(), v)))
        .collect()
}

// ------------------------------------------------------------------------------------------
// aws-smithy dvr

#[derive(Deserialize)]
struct DvrEvent {
    connection_id: u64,
    action: DvrAction,
}

#[derive(Deserialize)]
enum DvrAction {
    Request { request: DvrRequest },
    Response { response: DvrResult },
    Data { data: DvrData, direction: DvrDirection },
    Eof {},
}

#[derive(Deserialize)]
struct DvrRequest {
    uri: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, Vec<String>>,
    method: String,
}

#[derive(Deserialize)]
enum DvrResult {
    Ok(DvrResponse),
    Err(IgnoredAny),
}

#[derive(Deserialize)]
struct DvrResponse {
    status: u16,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
enum DvrData {
    Base64(String),
    Utf8(String),
}

#[derive(Deserialize, PartialEq)]
enum DvrDirection {
    Request,
    Response,
}

/// One connection's events, gathered.
#[derive(Default)]
struct DvrConnection {
    id: u64,
    request: Option<DvrRequest>,
    response: Option<Result<DvrResponse, ()>>,
    request_body: Vec<u8>,
    response_body: Vec<u8>,
    bad_data: Option<String>,
}

fn read_dvr(name: &str, text: &str) -> Result<Vec<Result<Recorded, String>>, LoadError> {
    let events: Vec<DvrEvent> = serde_json::from_str(text).map_err(|e| json_error(name, &e))?;
    let mut connections: Vec<DvrConnection> = Vec::new();
    for event in events {
        let position = connections.iter().position(|c| c.id == event.connection_id);
        let connection = match position {
            Some(i) => &mut connections[i],
            None => {
                connections.push(DvrConnection { id: event.connection_id, ..DvrConnection::default() });
                let last = connections.len() - 1;
                &mut connections[last]
            }
        };
        match event.action {
            DvrAction::Request { request } => connection.request = Some(request),
            DvrAction::Response { response: DvrResult::Ok(response) } => connection.response = Some(Ok(response)),
            DvrAction::Response { response: DvrResult::Err(_) } => connection.response = Some(Err(())),
            DvrAction::Data { data, direction } => {
                let bytes = match data {
                    DvrData::Utf8(text) => text.into_bytes(),
                    DvrData::Base64(encoded) => STANDARD.decode(encoded).unwrap_or_else(|e| {
                        connection.bad_data = Some(format!("a Data event is not base64: {e}"));
                        Vec::new()
                    }),
                };
                let body = if direction == DvrDirection::Request {
                    &mut connection.request_body
                } else {
                    &mut connection.response_body
                };
                body.extend_from_slice(&bytes);
            }
            DvrAction::Eof {} => {}
        }
    }
    Ok(connections.into_iter().map(dvr_interaction).collect())
}

fn dvr_interaction(c: DvrConnection) -> Result<Recorded, String> {
    let Some(request) = c.request else { return Err(format!("connection {} has no recorded request", c.id)) };
    let (host, target) = split_url(&request.uri);
    let shown = format!("{} {}", request.method, request.uri);
    if let Some(why) = c.bad_data {
        return Err(format!("{shown}: {why}"));
    }
    let response = match c.response {
        Some(Ok(response)) => response,
        Some(Err(())) => return Err(format!("{shown}: the recorded response is a connection error")),
        None => return Err(format!("{shown}: no response was recorded")),
    };
    let flatten = |headers: std::collections::BTreeMap<String, Vec<String>>| {
        headers.into_iter().flat_map(|(k, values)| values.into_iter().map(move |v| (k.clone(), v))).collect()
    };
    Ok(Recorded {
        method: request.method,
        host,
        target,
        request_headers: flatten(request.headers),
        request_body: Raw::Bytes(c.request_body),
        status: response.status,
        response_headers: flatten(response.headers),
        response_body: Raw::Bytes(c.response_body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::cassette::{parse, to_json, ResponseContent};
    use crate::record::redact::find_secrets;
    use bytes::Bytes;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    const REAL_TRAFFIC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/real-traffic");

    fn frame_bytes(frames: &[Frame]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.encode().expect("encodes").to_vec()).collect()
    }

    fn two_frames() -> Vec<Frame> {
        vec![
            Frame::Event {
                event_type: "messageStart".into(),
                payload: Bytes::from_static(br#"{"p":"ab","role":"assistant"}"#),
            },
            Frame::Event {
                event_type: "messageStop".into(),
                payload: Bytes::from_static(br#"{"p":"a","stopReason":"end_turn"}"#),
            },
        ]
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_nock_recording_becomes_cassettes_with_redacted_headers() {
        let stream = hex(&frame_bytes(&two_frames()));
        let text = format!(
            r#"[{{"scope": "https://bedrock-runtime.us-west-2.amazonaws.com:443", "method": "POST",
                 "path": "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
                 "body": {{"messages": []}}, "status": 200, "response": {{"output": {{}}}},
                 "rawHeaders": ["Date", "Tue, 22 Jul 2025 20:54:50 GMT", "Content-Type", "application/json", "Content-Length", "13"],
                 "reqheaders": {{"authorization": "AWS4-HMAC-SHA256 Credential=AKIATEST1234567890AB/x", "content-length": "15",
                                 "x-amz-security-token": "FAKE", "content-type": "application/json"}},
                 "responseIsBinary": false}},
               {{"scope": "https://bedrock-runtime.us-west-2.amazonaws.com:443", "method": "POST",
                 "path": "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream", "body": {{"messages": []}},
                 "status": 200, "response": "{stream}", "responseIsBinary": true,
                 "rawHeaders": ["Content-Type", "application/vnd.amazon.eventstream"]}}]"#
        );
        let report = import_str("rec.json", &text, &Redactor::default()).expect("imports");
        assert_eq!(report.skipped, Vec::<String>::new());
        let [unary, streamed] = report.cassettes.as_slice() else { panic!("two cassettes: {report:?}") };
        assert_eq!(unary.request.operation, "Converse");
        assert_eq!(unary.request.model_id.as_deref(), Some("anthropic.claude-3-haiku-20240307-v1:0"));
        assert_eq!(unary.request.headers, BTreeMap::from([("content-type".into(), "application/json".into())]));
        assert_eq!(unary.metadata.region.as_deref(), Some("us-west-2"));
        assert_eq!(unary.metadata.recorded_at.as_deref(), Some("2025-07-22T20:54:50Z"));
        assert_eq!(unary.metadata.source, "import:rec.json#0");
        assert_eq!(unary.metadata.reformatted, vec![], "compact JSON matches both Content-Lengths");
        assert_eq!(unary.body_bytes(), br#"{"output":{}}"#);
        let frames: Vec<Frame> = streamed.stream_frames().expect("frames").into_iter().map(|(_, f)| f).collect();
        assert_eq!(frames, two_frames());
        assert_eq!(find_secrets(&to_json(unary)), Vec::<String>::new());
    }

    #[test]
    fn a_vcr_cassette_with_binary_and_pretty_bodies_imports() {
        let encoded = STANDARD.encode(frame_bytes(&two_frames()));
        let text = format!(
            "interactions:\n\
             - request:\n    body: |-\n      {{\n        \"messages\": []\n      }}\n\
             \x20   headers:\n      Content-Type:\n      - application/json\n      authorization:\n      - Bearer test_aws_authorization\n\
             \x20   method: POST\n    uri: https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-micro-v1%3A0/converse-stream\n\
             \x20 response:\n    body:\n      string: !!binary |\n        {encoded}\n\
             \x20   headers:\n      Content-Type:\n      - application/vnd.amazon.eventstream\n      Set-Cookie: test_set_cookie\n\
             \x20   status:\n      code: 200\n      message: OK\n\
             - response:\n    body:\n      string: '{{}}'\n    headers: {{}}\n    status:\n      code: 200\n      message: OK\n\
             version: 1\n"
        );
        let report = import_str("vcr.yaml", &text, &Redactor::default()).expect("imports");
        assert_eq!(report.skipped, ["vcr.yaml#1: a response kept without its request: nothing to replay it against"]);
        let [c] = report.cassettes.as_slice() else { panic!("one cassette: {report:?}") };
        assert_eq!(c.request.operation, "ConverseStream");
        assert_eq!(c.metadata.reformatted, vec![Side::Request], "the request body was re-indented");
        assert_eq!(c.request_body_json(), Some(serde_json::json!({"messages": []})));
        assert_eq!(c.response.headers.keys().collect::<Vec<_>>(), ["content-type"]);
        let frames: Vec<Frame> = c.stream_frames().expect("frames").into_iter().map(|(_, f)| f).collect();
        assert_eq!(frames, two_frames());
        assert_eq!(c.stream_frames().expect("frames").iter().map(|(at, _)| *at).collect::<Vec<_>>(), [0.0, 0.0]);
    }

    #[test]
    fn a_stream_recorded_without_response_headers_is_still_a_stream() {
        let encoded = STANDARD.encode(frame_bytes(&two_frames()));
        let text = format!(
            "interactions:\n- request:\n    body: '{{}}'\n    headers: {{}}\n    method: POST\n\
             \x20   uri: https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse-stream\n\
             \x20 response:\n    body: {{string: !!binary '{encoded}'}}\n    headers: {{}}\n    status: {{code: 200}}\n"
        );
        let report = import_str("s.yaml", &text, &Redactor::default()).expect("imports");
        let [c] = report.cassettes.as_slice() else { panic!("one cassette: {report:?}") };
        assert!(c.is_stream());
        let frames: Vec<Frame> = c.stream_frames().expect("frames").into_iter().map(|(_, f)| f).collect();
        assert_eq!(frames, two_frames());
    }

    #[test]
    fn a_binary_tag_inside_a_string_is_not_mistaken_for_a_binary_body() {
        let text = "interactions:\n- request:\n    body: 'a !!binary b'\n    method: POST\n    uri: https://x/model/m/converse\n\
                    \x20 response:\n    body: {string: ''}\n    status: {code: 200}\n";
        let error = import_str("odd.yaml", text, &Redactor::default()).expect_err("ambiguous");
        assert!(error.message.contains("cannot tell binary bodies apart"), "{error}");
    }

    #[test]
    fn a_dvr_recording_of_another_service_is_skipped_with_the_reason() {
        let text = r#"[{"connection_id": 0, "action": {"Request": {"request": {"uri": "https://transcribestreaming.us-east-1.amazonaws.com/stream-transcription", "headers": {}, "method": "POST"}}}},
                       {"connection_id": 0, "action": {"Eof": {"ok": true, "direction": "Request"}}},
                       {"connection_id": 0, "action": {"Response": {"response": {"Ok": {"status": 200, "version": "HTTP/2.0", "headers": {}}}}}},
                       {"connection_id": 0, "action": {"Data": {"data": {"Utf8": "x"}, "direction": "Response"}}}]"#;
        let report = import_str("t.json", text, &Redactor::default()).expect("imports");
        assert_eq!(report.cassettes, vec![]);
        assert_eq!(
            report.skipped,
            ["t.json#0: POST https://transcribestreaming.us-east-1.amazonaws.com/stream-transcription: \
              transcribestreaming is not a Bedrock service"]
        );
    }

    #[test]
    fn a_dvr_recording_of_bedrock_becomes_a_cassette() {
        let body = STANDARD.encode(br#"{"messages":[]}"#);
        let text = format!(
            r#"[{{"connection_id": 7, "action": {{"Request": {{"request": {{"uri": "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse", "headers": {{"content-type": ["application/json"]}}, "method": "POST"}}}}}}}},
                {{"connection_id": 7, "action": {{"Data": {{"data": {{"Base64": "{body}"}}, "direction": "Request"}}}}}},
                {{"connection_id": 7, "action": {{"Response": {{"response": {{"Ok": {{"status": 429, "version": "HTTP/1.1", "headers": {{"x-amzn-errortype": ["ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"]}}}}}}}}}}}},
                {{"connection_id": 7, "action": {{"Data": {{"data": {{"Utf8": "{{\"message\":\"Too many requests\"}}"}}, "direction": "Response"}}}}}}]"#
        );
        let report = import_str("b.json", &text, &Redactor::default()).expect("imports");
        let [c] = report.cassettes.as_slice() else { panic!("one cassette: {report:?}") };
        assert_eq!((c.request.operation.as_str(), c.response.status), ("Converse", 429));
        assert_eq!(c.request.body, Body::Json(serde_json::json!({"messages": []})));
        assert_eq!(c.body_bytes(), br#"{"message":"Too many requests"}"#);
        assert_eq!(c.metadata.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn a_request_to_a_non_aws_host_is_skipped() {
        let text = "interactions:\n- request:\n    body: null\n    headers: {}\n    method: GET\n\
                    \x20   uri: https://cdn.example.com/images/characters/large/800/homer.webp\n\
                    \x20 response:\n    body: {string: !!binary AAEC}\n    headers: {}\n    status: {code: 200}\n";
        let report = import_str("img.yaml", text, &Redactor::default()).expect("imports");
        assert_eq!(
            report.skipped,
            ["img.yaml#0: GET https://cdn.example.com/images/characters/large/800/homer.webp: not a Bedrock request \
              (cdn.example.com is not an AWS endpoint and the path is no Bedrock operation)"]
        );
    }

    #[test]
    fn a_response_half_file_is_skipped_whole_and_an_unknown_format_is_an_error() {
        let report = import_file(Path::new("/nowhere/converse.response.json"), &Redactor::default()).expect("skipped");
        assert_eq!(report.cassettes, vec![]);
        assert!(report.skipped[0].starts_with("converse.response.json: a response body saved without its request"));
        let error = import_str("x.json", r#"{"hello": 1}"#, &Redactor::default()).expect_err("unknown");
        assert!(error.message.starts_with("not a recording this importer reads"), "{error}");
        let error =
            import_str("x.json", "[{\"method\": \"POST\", \"path\": 3}]", &Redactor::default()).expect_err("bad");
        assert_eq!((error.line, error.column), (Some(1), Some(29)), "{error}");
    }

    #[test]
    fn http_dates_become_rfc_3339() {
        assert_eq!(http_date_to_rfc3339("Thu, 06 Feb 2025 05:12:34 GMT").as_deref(), Some("2025-02-06T05:12:34Z"));
        assert_eq!(http_date_to_rfc3339("yesterday"), None);
        assert_eq!(http_date_to_rfc3339("Thu, 32 Feb 2025 05:12:34 GMT"), None);
    }

    #[test]
    fn urls_split_into_host_and_raw_target() {
        assert_eq!(
            split_url("https://bedrock-runtime.us-east-1.amazonaws.com:443/model/a%3A0/converse?x=1"),
            (Some("bedrock-runtime.us-east-1.amazonaws.com".into()), "/model/a%3A0/converse?x=1".into())
        );
        assert_eq!(split_url("http://[::1]:8080"), (Some("::1".into()), "/".into()));
        assert_eq!(
            aws_endpoint("vpce-0a1b.bedrock-runtime.us-east-1.vpce.amazonaws.com"),
            Some(("bedrock-runtime".into(), Some("us-east-1".into())))
        );
        assert_eq!(aws_endpoint("cdn.example.com"), None);
    }

    // --- the real recordings (read in place, never copied) ---

    /// Per folder: (cassettes imported, interactions skipped), frozen from a first run. The
    /// skipped ones: two Transcribe streams (dvr), an image download made by an openinference
    /// test (VCR), two response halves saved without their requests.
    const EXPECTED: &[(&str, usize, usize)] = &[
        ("non-bedrock-dvr", 0, 2),
        ("openinference-js-nock", 60, 0),
        ("openinference-py-vcr", 15, 1),
        ("otel-python-botocore-vcr", 74, 0),
        ("otel-python-botocore-vcr-extra", 0, 2),
    ];

    fn recordings(folder: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
            .expect("readable folder")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "yaml" || e == "yml" || e == "b64"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_real_recording_imports_faithfully_and_without_secrets() {
        let root = Path::new(REAL_TRAFFIC);
        if !root.is_dir() {
            println!("skipped: ../shared/real-traffic not found");
            return;
        }
        let redactor = Redactor::default();
        let mut counts = Vec::new();
        let mut operations: BTreeMap<String, usize> = BTreeMap::new();
        let mut frames_checked = 0;
        for (folder, _, _) in EXPECTED {
            let (mut imported, mut skipped) = (0, 0);
            for path in recordings(&root.join(folder)) {
                let report = import_file(&path, &redactor).unwrap_or_else(|e| panic!("{e}"));
                for why in &report.skipped {
                    println!("{folder}: skipped {why}");
                }
                // The recorded bytes, read by the importer's own reader but before conversion.
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let raw = match std::fs::read_to_string(&path) {
                    Ok(text) if !name.contains(".response.") => read_interactions(&name, &text).expect("reads"),
                    _ => Vec::new(),
                };
                for c in &report.cassettes {
                    *operations.entry(c.request.operation.clone()).or_default() += 1;
                    let text = to_json(c);
                    assert_eq!(find_secrets(&text), Vec::<String>::new(), "{}", c.metadata.source);
                    assert_eq!(&parse(&c.metadata.source, &text).expect("parses"), c);
                    let streaming =
                        ["ConverseStream", "InvokeModelWithResponseStream"].contains(&c.request.operation.as_str());
                    assert_eq!(c.is_stream(), streaming && c.response.status == 200, "{}", c.metadata.source);
                    if let ResponseContent::Stream(_) = c.response.content {
                        let index: usize =
                            c.metadata.source.rsplit('#').next().and_then(|i| i.parse().ok()).expect("indexed source");
                        let Some(Ok(Recorded { response_body: Raw::Bytes(recorded), .. })) = raw.get(index) else {
                            panic!("{}: no recorded bytes", c.metadata.source)
                        };
                        let frames: Vec<Frame> =
                            c.stream_frames().expect("frames").into_iter().map(|(_, f)| f).collect();
                        frames_checked += frames.len();
                        assert!(
                            frame_bytes(&frames) == *recorded,
                            "{}: stream is not byte-identical",
                            c.metadata.source
                        );
                    }
                }
                imported += report.cassettes.len();
                skipped += report.skipped.len();
            }
            counts.push((*folder, imported, skipped));
        }
        println!("imported/skipped per folder: {counts:?}; operations: {operations:?}; {frames_checked} frames byte-identical");
        assert_eq!(counts, EXPECTED.to_vec());
        let expected_operations = [
            ("ApplyGuardrail", 3),
            ("Converse", 30),
            ("ConverseStream", 29),
            ("InvokeModel", 56),
            ("InvokeModelWithResponseStream", 31),
        ];
        assert_eq!(operations, expected_operations.map(|(op, n)| (op.to_string(), n)).into_iter().collect());
        assert_eq!(frames_checked, 1989, "every recorded Bedrock frame");
    }
}
