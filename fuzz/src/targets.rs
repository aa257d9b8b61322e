//! The bodies of every fuzz target, in plain Rust: the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/<name>.rs`) call them under libFuzzer, and the stable test
//! `emulator/tests/fuzz_corpus.rs` includes this file (`#[path]`) to replay the committed
//! corpus and regressions through the same code. Only `bedrock_emulator`, std, and crates
//! bedrock-emulator already depends on (`serde_json`, `http`, `bytes`) may be used here.
//!
//! A target must never panic: a panic is a bug in the emulator (or a broken property
//! asserted here). Inputs are raw bytes; structured targets split them as documented on each
//! function, so that a corpus file stays readable (a selector byte, then a JSON body).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, UNIX_EPOCH};

use bedrock_emulator::api::{self, converse, converse_common, Request, Services};
use bedrock_emulator::auth::credentials::CredentialStore;
use bedrock_emulator::auth::sigv4::SignedRequest;
use bedrock_emulator::auth::AuthMode;
use bedrock_emulator::backend::catalog::{self, Catalog, FoundationModel};
use bedrock_emulator::backend::state::State;
use bedrock_emulator::clock::Clock;
use bedrock_emulator::fault::{FaultRequest, FaultSet, Origin};
use bedrock_emulator::operations::{self, Route};
use bedrock_emulator::plan::{Plan, PlanBody, StreamAction};
use bedrock_emulator::record::cassette::{self, Body, Cassette, Metadata, RecordedRequest, RecordedResponse};
use bedrock_emulator::record::import;
use bedrock_emulator::record::redact::Redactor;
use bedrock_emulator::record::replay::{MatchOptions, ReplayTiming, Replayer};
use bedrock_emulator::scenario::{format, Engine, MatchInput, RequestBody};
use bedrock_emulator::synthetic::SyntheticModel;
use bedrock_emulator::wire::event_stream::Frame;
use serde_json::Value;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay test (and `scripts/fuzz.sh`'s list).
pub const TARGETS: &[(&str, Target)] = &[
    ("router", router),
    ("converse", converse),
    ("anthropic", anthropic),
    ("nova", nova),
    ("titan_text", titan_text),
    ("llama", llama),
    ("mistral", mistral),
    ("cohere", cohere),
    ("ai21", ai21),
    ("embeddings", embeddings),
    ("images", images),
    ("event_stream", event_stream),
    ("scenario", scenario),
    ("cassette", cassette),
    ("import", import),
    ("sigv4", sigv4),
    ("credentials", credentials),
    ("control", control),
    ("nova_sonic", nova_sonic),
    ("job_inputs", job_inputs),
];

// ------------------------------------------------------------------------------------------
// Shared plumbing

const SEED: u64 = 7;
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

fn services() -> &'static Services {
    static SERVICES: OnceLock<Services> = OnceLock::new();
    SERVICES.get_or_init(|| services_with(Arc::new(Engine::default())))
}

fn services_with(scenarios: Arc<Engine>) -> Services {
    Services {
        catalog: Catalog::builtin(),
        synthetic: SyntheticModel::new(SEED),
        seed: SEED,
        scenarios,
        strict: false,
        state: Arc::new(State::new()),
        clock: Clock::manual(),
        async_invoke: Default::default(),
        inner_faults: None,
        inner_replay: None,
    }
}

/// `(first byte, rest)`; an empty input selects 0 with an empty rest.
fn selector(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((s, rest)) => (usize::from(*s), rest),
        None => (0, data),
    }
}

/// The catalog models whose emulator family is one of `families`, in catalog order.
fn models_of(families: &[&str]) -> Vec<&'static FoundationModel> {
    Catalog::builtin().models().iter().filter(|m| families.contains(&m.emulator.family.as_str())).collect()
}

/// The id a client would send for `model`: its own, or (for a model without on-demand
/// throughput) its system inference profile in the fuzz region.
fn invocable_id(model: &FoundationModel) -> String {
    let geo = model.emulator.profiles.iter().find(|g| catalog::geography_serves(g, REGION));
    match geo {
        Some(geo) if !model.on_demand() => format!("{geo}.{}", model.model_id),
        _ => model.model_id.clone(),
    }
}

/// The route table with every label constraint removed (see [`model_request`]).
fn unchecked(route: &'static Route) -> &'static Route {
    static UNCHECKED: OnceLock<Vec<Route>> = OnceLock::new();
    let all = UNCHECKED
        .get_or_init(|| operations::routes().iter().map(|r| Route { labels: Vec::new(), ..r.clone() }).collect());
    all.iter().find(|r| r.operation == route.operation).unwrap_or(route)
}

/// A request routed as the server routes it (`POST /model/{id}/{suffix}`, the id's `:`
/// percent-encoded as the SDKs send it).
///
/// Under libFuzzer (`cfg(fuzzing)`) the route's URI-label constraints are dropped, so that
/// `api::prepare` skips `path_labels::check`: the model ids here are fixed catalog ids that
/// satisfy their pattern, and matching that regular expression (regex-lite's PikeVM, heavily
/// instrumented) took half of every execution without the fuzzer controlling any of its input.
/// The `router` target fuzzes `path_labels::check` on arbitrary paths instead; the stable
/// corpus test keeps the checks.
#[allow(unexpected_cfgs)]
fn model_request(model_id: &str, suffix: &str, body: &[u8]) -> Option<Request> {
    let path = format!("/model/{}/{suffix}", model_id.replace(':', "%3A"));
    let mut route = operations::find("POST", &path)?;
    if cfg!(fuzzing) {
        route.route = unchecked(route.route);
    }
    Some(Request {
        route,
        query: Vec::new(),
        headers: http::HeaderMap::new().into(),
        body: bytes::Bytes::copy_from_slice(body),
        region: REGION.to_string(),
        account: ACCOUNT.to_string(),
        duplex: None,
    })
}

/// Polls a future that never waits (every stream the emulator builds from a ready list).
fn ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Consumes a Plan the way the encoder does: the JSON body serialised, an error's body and
/// headers built, every stream step pulled through its shapers and every frame encoded.
fn drain(plan: Plan) {
    let _ = plan.wire_status();
    match plan.body {
        PlanBody::Json(v) => {
            let _ = serde_json::to_vec(&v);
        }
        PlanBody::Raw { .. } => {}
        PlanBody::Error(e) => {
            let _ = (e.body(), e.error_type_header(), e.stream_frame().encode());
        }
        PlanBody::Stream(mut steps) => {
            while let Some(Some(step)) = ready(steps.next()) {
                if let StreamAction::Frame(frame) = step.action {
                    let _ = frame.encode();
                }
            }
        }
    }
}

/// The server's pipeline from `prepare` on, without faults: parse and validate, describe for
/// matchers, estimate tokens, answer (scenario rules, else the synthetic model or built-in
/// operation), encode.
fn pipeline(req: &Request, services: &Services) {
    let mut input = MatchInput {
        operation: req.operation().to_string(),
        model_id: Some(req.label("modelId").to_string()),
        body: RequestBody::new(req.body.clone()),
        ..MatchInput::default()
    };
    match api::prepare(req, services, &input.body) {
        Ok(prepared) => {
            prepared.describe(&mut input);
            let _ = prepared.token_estimate();
            match api::respond(req, prepared, services, &input, "") {
                Ok(plan) => drain(plan),
                Err(e) => drain(Plan::error(e)),
            }
        }
        Err(e) => drain(Plan::error(e)),
    }
}

// ------------------------------------------------------------------------------------------
// Routing

/// `router`: `METHOD\nPATH` (the method is everything before the first newline; no newline
/// means the whole input is the path of a POST). The match must agree with the input; its
/// labels then go through Coral's length and pattern checks (`api::path_labels::check`).
pub fn router(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (method, path) = text.split_once('\n').unwrap_or(("POST", &text));
    let Some(m) = operations::find(method, path) else { return };
    assert!(m.route.method.eq_ignore_ascii_case(method), "{} routed for method {method:?}", m.route.operation);
    let labels = m.route.segments.iter().filter(|s| s.starts_with('{')).count();
    assert_eq!(m.labels.len(), labels, "labels of {} for {path:?}", m.route.uri);
    assert!(m.labels.values().all(|v| !v.is_empty()), "an empty label for {path:?}");
    let _ = operations::stream_exceptions(&m.route.operation);
    if let Err(e) = api::path_labels::check(&m) {
        let _ = e.body();
    }
}

// ------------------------------------------------------------------------------------------
// Converse, ConverseStream, CountTokens

/// `converse`: a selector byte, then the body. Selector bits 0–1: Converse, ConverseStream,
/// CountTokens (body `{"input": {"converse": …}}` or `{"input": {"invokeModel": …}}`),
/// Converse; bits 2–7: the model, by catalog index (modulo the catalog's size), sent by its
/// system inference profile when it has no on-demand throughput.
pub fn converse(data: &[u8]) {
    let (sel, body) = selector(data);
    let models = Catalog::builtin().models();
    if models.is_empty() {
        return;
    }
    let model = &models[(sel >> 2) % models.len()];
    let suffix = match sel & 3 {
        1 => "converse-stream",
        2 => "count-tokens",
        _ => "converse",
    };
    if sel & 3 != 2 {
        common_agrees(body, model, if sel & 3 == 1 { converse::Mode::Stream } else { converse::Mode::Unary });
    }
    if let Some(req) = model_request(&invocable_id(model), suffix, body) {
        pipeline(&req, services());
    }
}

/// The tree-less shortcut for common Converse bodies accepts only what the full parser
/// accepts, as the same request.
fn common_agrees(body: &[u8], model: &FoundationModel, mode: converse::Mode) {
    let Some(common) = converse_common::parse_common(body, model, mode) else { return };
    let full = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let object = v.as_object()?;
        converse::parse_object(object, model, mode).ok()
    });
    assert!(full.as_ref() == Some(&common), "the common-shape parser disagrees: {common:?} vs {full:?}");
}

// ------------------------------------------------------------------------------------------
// Native InvokeModel families

/// A selector byte, then a native body. Bit 0: InvokeModel or InvokeModelWithResponseStream;
/// bits 1–7: the model among the catalog models of `families` (by profile when it needs one).
fn invoke(families: &[&str], data: &[u8]) {
    let (sel, body) = selector(data);
    let models = models_of(families);
    if models.is_empty() {
        return;
    }
    let model = models[(sel >> 1) % models.len()];
    let suffix = if sel & 1 == 1 { "invoke-with-response-stream" } else { "invoke" };
    if let Some(req) = model_request(&invocable_id(model), suffix, body) {
        pipeline(&req, services());
    }
}

/// `anthropic`: Claude's messages (and legacy text-completion) format.
pub fn anthropic(data: &[u8]) {
    invoke(&["anthropic"], data);
}

/// `nova`: Amazon Nova's messages-v1 format.
pub fn nova(data: &[u8]) {
    invoke(&["nova"], data);
}

/// `titan_text`: Titan Text's `inputText` + `textGenerationConfig`.
pub fn titan_text(data: &[u8]) {
    invoke(&["titan-text"], data);
}

/// `llama`: Meta Llama's prompt-template format.
pub fn llama(data: &[u8]) {
    invoke(&["llama"], data);
}

/// `mistral`: Mistral's `[INST]` prompt format and the chat (messages) format.
pub fn mistral(data: &[u8]) {
    invoke(&["mistral", "mistral-chat"], data);
}

/// `cohere`: Cohere Command (prompt) and Command R (message, chat_history, tools).
pub fn cohere(data: &[u8]) {
    invoke(&["cohere-command", "cohere-command-r"], data);
}

/// `ai21`: AI21 Jamba's chat format.
pub fn ai21(data: &[u8]) {
    invoke(&["ai21-jamba"], data);
}

/// `embeddings`: Titan Embeddings (text v1/v2, multimodal) and Cohere Embed.
pub fn embeddings(data: &[u8]) {
    invoke(&["titan-embed", "cohere-embed"], data);
}

/// `images`: Titan Image Generator (v1, v2) and Nova Canvas (`taskType` + params +
/// `imageGenerationConfig`), and Stability's flat `prompt` + `aspect_ratio` format.
pub fn images(data: &[u8]) {
    invoke(&["titan-image", "nova-canvas", "stability"], data);
}

// ------------------------------------------------------------------------------------------
// Event streams

fn stream_cassette(frames: &[(f64, Frame)]) -> Cassette {
    let id = "anthropic.claude-3-haiku-20240307-v1:0";
    Cassette::new(
        RecordedRequest {
            operation: "InvokeModelWithResponseStream".to_string(),
            service: "bedrock-runtime".to_string(),
            model_id: Some(id.to_string()),
            method: "POST".to_string(),
            path: format!("/model/{}/invoke-with-response-stream", id.replace(':', "%3A")),
            query: Vec::new(),
            headers: BTreeMap::new(),
            body: Body::Empty,
        },
        RecordedResponse {
            status: 200,
            headers: BTreeMap::new(),
            content: cassette::ResponseContent::Stream(cassette::frames_to_items(frames)),
        },
        Metadata::default(),
    )
}

/// `event_stream`: arbitrary bytes as one frame (`Frame::decode`) and as a whole body
/// (`split_frames`). Properties: a decoded frame re-encodes to bytes that decode to the same
/// frame; a split body re-encodes to exactly its bytes; and a cassette holding the split
/// frames, written and read back, replays exactly those frames (byte faithfulness).
pub fn event_stream(data: &[u8]) {
    if let Ok(frame) = Frame::decode(data) {
        let bytes = frame.encode().expect("a decoded frame encodes");
        let again = Frame::decode(&bytes).expect("an encoded frame decodes");
        assert_eq!(again, frame, "encode(decode(x)) decodes to another frame");
    }
    let Ok(frames) = cassette::split_frames(data) else { return };
    let mut joined = Vec::with_capacity(data.len());
    for frame in &frames {
        joined.extend_from_slice(&frame.encode().expect("a split frame encodes"));
    }
    assert!(joined == data, "split_frames' frames do not re-encode to the body");
    let timed: Vec<(f64, Frame)> = frames.into_iter().enumerate().map(|(i, f)| (i as f64 * 1.5, f)).collect();
    let written = cassette::to_json(&stream_cassette(&timed));
    let read = cassette::parse("fuzz.json", &written).expect("a written cassette parses");
    let replayed = read.stream_frames().expect("a written cassette's frames rebuild");
    assert!(replayed == timed, "a cassette does not replay the frames it recorded");
}

// ------------------------------------------------------------------------------------------
// Scenario documents

/// A few requests every scenario rule kind can answer, for `scenario`.
const SCENARIO_REQUESTS: &[(&str, &str, &str)] = &[
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "converse",
        r#"{"messages":[{"role":"user","content":[{"text":"hello there"}]}],"system":[{"text":"be terse"}]}"#,
    ),
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "converse-stream",
        r#"{"messages":[{"role":"user","content":[{"text":"stream please"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}}}}]}}"#,
    ),
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "invoke-with-response-stream",
        r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#,
    ),
    ("amazon.titan-text-express-v1", "invoke", r#"{"inputText":"hello"}"#),
];

/// `scenario`: UTF-8 text as a scenario document (`format::parse`, JSON or YAML) and, when it
/// is a well-formed document of another shape (an unknown or missing field), as one fault
/// rule (`format::parse_fault`; a fault rule is never a valid scenario document, and skipping
/// the second parse of text that is not even YAML doubles this target's speed). What parses
/// is installed as the emulator installs it (rules into an engine, faults and quotas into a
/// fault set) and one of a few requests (by the text's length) is run through it: matchers,
/// scripted replies, fault decisions and shaped streams.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, fault) = match format::parse("fuzz.yaml", text) {
        Ok(file) => (Some(file), None),
        Err(e) if e.message.contains("field") => (None, format::parse_fault("fuzz-fault.yaml", text).ok()),
        Err(_) => return,
    };
    if file.is_none() && fault.is_none() {
        return;
    }
    let faults = FaultSet::new(SEED, Clock::manual());
    let engine = Arc::new(Engine::default());
    if let Some(mut file) = file {
        faults.set_file_faults(vec![("fuzz.yaml".to_string(), std::mem::take(&mut file.faults))]);
        faults.quotas.set("file", std::mem::take(&mut file.quotas));
        engine.set_file_sources(vec![("fuzz.yaml".to_string(), file)]);
        let _ = engine.listing();
    }
    if let Some(spec) = fault {
        faults.add(Origin::Api, spec);
    }
    let _ = faults.listing();
    let services = services_with(engine);
    let (model_id, suffix, body) = SCENARIO_REQUESTS[text.len() % SCENARIO_REQUESTS.len()];
    if let Some(req) = model_request(model_id, suffix, body.as_bytes()) {
        let mut input = MatchInput {
            operation: req.operation().to_string(),
            model_id: Some(model_id.to_string()),
            body: RequestBody::new(req.body.clone()),
            ..MatchInput::default()
        };
        let Ok(prepared) = api::prepare(&req, &services, &input.body) else { return };
        prepared.describe(&mut input);
        let mut before =
            faults.before(&FaultRequest { input: &input, attempt: 1, estimate: prepared.token_estimate() });
        let plan = match api::respond(&req, prepared, &services, &input, "") {
            Ok(plan) => plan,
            Err(e) => Plan::error(e),
        };
        drain(faults.after(plan, &mut before));
    }
}

// ------------------------------------------------------------------------------------------
// Cassettes and imports

/// Everything replay does with a loaded cassette, and the writer's round trip.
fn use_cassette(c: &Cassette) {
    let _ = (c.stream_frames(), c.body_bytes(), c.request_body_json(), cassette::file_name(c));
    let written = cassette::to_json(c);
    let read = cassette::parse("again.json", &written).expect("a written cassette parses");
    assert!(read == *c, "a cassette does not read back as written:\n{written}");
    let replayer = Replayer::from_cassettes(
        vec![("fuzz.json".to_string(), c.clone())],
        MatchOptions::default(),
        ReplayTiming::Recorded,
    );
    let input = MatchInput {
        operation: c.request.operation.clone(),
        model_id: c.request.model_id.clone(),
        body: c.request_body_json().into(),
        ..MatchInput::default()
    };
    if let bedrock_emulator::record::replay::ReplayAnswer::Hit(plan) =
        replayer.answer(&input, &c.request.path, &c.request.query)
    {
        drain(plan);
    }
}

/// `cassette`: UTF-8 text as a cassette (`cassette::parse`). A cassette that parses is used
/// as replay uses it, and must read back unchanged after being written (`to_json`).
pub fn cassette(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = cassette::parse("fuzz.json", text) {
        use_cassette(&c);
    }
}

/// `import`: a selector byte (bit 0: the file is named `fuzz.yaml`, VCR.py, else
/// `fuzz.json`: nock, dvr or VCR as JSON), then the recording's UTF-8 text
/// (`import::import_str`). Every cassette it makes must survive the writer's round trip.
pub fn import(data: &[u8]) {
    let (sel, rest) = selector(data);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let name = if sel & 1 == 1 { "fuzz.yaml" } else { "fuzz.json" };
    if let Ok(report) = import::import_str(name, text, &Redactor::default()) {
        for c in &report.cassettes {
            use_cassette(c);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Authentication

/// The credential store of the `sigv4` target: the AWS documentation's example key, a
/// temporary key with a session token, an expired one, and a bearer API key.
const CREDENTIALS: &str = "[doc]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n\n\
[temp]\naws_access_key_id = ASIATEMPEXAMPLE\naws_secret_access_key = temp-secret\naws_session_token = FQoGZXIvYXdzEXAMPLETOKEN\nexpiration = 2030-01-01T00:00:00Z\n\n\
[old]\naws_access_key_id = ASIAOLDEXAMPLE\naws_secret_access_key = old-secret\naws_session_token = OLDTOKEN\nexpiration = 2015-01-01T00:00:00Z\n\n\
[keys]\nbedrock_api_key = ABSKZnV6ei1rZXk=\n";

fn auth() -> &'static AuthMode {
    static AUTH: OnceLock<AuthMode> = OnceLock::new();
    AUTH.get_or_init(|| AuthMode::Verify(CredentialStore::parse("fuzz-credentials", CREDENTIALS).unwrap_or_default()))
}

/// `sigv4`: newline-separated fields — method, raw path, raw query (empty: none),
/// `authorization`, `x-amz-date`, `host` (a leading `:` makes it the HTTP/2 `:authority`
/// instead), `x-amz-security-token`, `x-amz-content-sha256`, `content-type`; the rest is the
/// body. Empty
/// header fields are left out, so both the header form and the presigned-query form are
/// reachable. The server's clock is the AWS documentation example's (2015-08-30T12:38:00Z),
/// so the committed seed holding that example verifies.
pub fn sigv4(data: &[u8]) {
    let mut fields = data.splitn(10, |b| *b == b'\n');
    let mut next = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (method, raw_path, raw_query) = (next(), next(), next());
    let (authorization, amz_date, host, token, sha, content_type) = (next(), next(), next(), next(), next(), next());
    let body = data.splitn(10, |b| *b == b'\n').nth(9).unwrap_or_default();
    let mut headers = http::HeaderMap::new();
    let host_header = if host.starts_with(':') { "" } else { host.as_str() };
    for (name, value) in [
        ("authorization", authorization.as_str()),
        ("x-amz-date", amz_date.as_str()),
        ("host", host_header),
        ("x-amz-security-token", token.as_str()),
        ("x-amz-content-sha256", sha.as_str()),
        ("content-type", content_type.as_str()),
    ] {
        if let (false, Ok(v)) = (value.is_empty(), http::HeaderValue::from_str(value)) {
            headers.append(name, v);
        }
    }
    let req = SignedRequest {
        method: &method,
        raw_path: &raw_path,
        raw_query: (!raw_query.is_empty()).then_some(raw_query.as_str()),
        headers: &headers,
        authority: host.strip_prefix(':'),
        body,
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_440_938_280);
    for at in [now, now + Duration::from_secs(86_400)] {
        if let Err(e) = auth().check(&req, at) {
            let error: bedrock_emulator::wire::error::BedrockError = e.into();
            let _ = error.body();
        }
    }
}

/// `credentials`: UTF-8 text as a `--credentials` file (`CredentialStore::parse`).
pub fn credentials(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(store) = CredentialStore::parse("fuzz-credentials", text) {
        let _ = format!("{store:?}");
        for identity in &store.identities {
            assert!(store.identity(&identity.access_key_id).is_some(), "a parsed key is not found");
        }
    }
}

// ------------------------------------------------------------------------------------------
// The control plane with state

/// The guardrail operations `control` reaches after its CreateGuardrail, as (method, path
/// with `{id}` for the guardrail).
const CONTROL_CALLS: &[(&str, &str)] = &[
    ("GET", "/guardrails/{id}"),
    ("GET", "/guardrails"),
    ("PUT", "/guardrails/{id}"),
    ("DELETE", "/guardrails/{id}"),
    ("POST", "/guardrails/{id}"),
];

/// A control-plane request as the server builds it: `query` is a raw query string
/// (`a=1&b=2`, not decoded).
fn control_request(method: &str, path: &str, query: &str, body: &[u8]) -> Option<Request> {
    let route = operations::find(method, path)?;
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Request {
        route,
        query,
        headers: http::HeaderMap::new().into(),
        body: bytes::Bytes::copy_from_slice(body),
        region: REGION.to_string(),
        account: ACCOUNT.to_string(),
        duplex: None,
    })
}

/// `control`: a selector byte, a query line, then a CreateGuardrail body. The body is
/// created (validated against the model with Coral's messages, stored), then the selected
/// operation (selector modulo 5: get, list, update with the same body, delete, create a
/// version) runs with the query line on the created guardrail — or on the id `missing` when
/// the create was refused — in a fresh state, so every execution stands alone.
pub fn control(data: &[u8]) {
    let (sel, rest) = selector(data);
    let (query, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&rest[..i]).into_owned(), &rest[i + 1..]),
        None => (String::new(), rest),
    };
    let services = Services { state: Arc::new(State::new()), ..services().clone() };
    let mut id = "missing".to_string();
    if let Some(req) = control_request("POST", "/guardrails", "", body) {
        if let Ok(Plan { body: PlanBody::Json(created), .. }) =
            api::respond(&req, api::Prepared::Control, &services, &MatchInput::default(), "")
        {
            if let Some(made) = created.get("guardrailId").and_then(Value::as_str) {
                id = made.to_string();
            }
        }
    }
    let (method, template) = CONTROL_CALLS[sel % CONTROL_CALLS.len()];
    let path = template.replace("{id}", &id);
    if let Some(req) = control_request(method, &path, &query, body) {
        pipeline(&req, &services);
    }
}

// ------------------------------------------------------------------------------------------
// Nova Sonic's bidirectional stream

/// A bidirectional request stream: the bytes (after a selector byte) as event-stream frames
/// pushed in pieces of the selector's size, each message's payload as a `chunk`; and the same
/// bytes as newline-separated Nova Sonic input events fed to a session directly. Every turn a
/// session announces is answered.
pub fn nova_sonic(data: &[u8]) {
    use bedrock_emulator::families::nova_sonic::Session;
    use bedrock_emulator::wire::event_stream::{Input, InputDecoder};
    let (cut, rest) = selector(data);
    let mut decoder = InputDecoder::new();
    let mut framed = Session::new(SEED);
    'frames: for piece in rest.chunks(cut.max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_input() {
                Ok(Some(Input::Message(m))) => {
                    let part: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
                    let bytes = part["bytes"].as_str().unwrap_or_default().as_bytes().to_vec();
                    sonic_feed(&mut framed, &bytes);
                }
                Ok(Some(Input::End)) | Err(_) => break 'frames,
                Ok(None) => break,
            }
        }
    }
    let mut plain = Session::new(SEED);
    for line in rest.split(|b| *b == b'\n') {
        sonic_feed(&mut plain, line);
    }
}

fn sonic_feed(session: &mut bedrock_emulator::families::nova_sonic::Session, event: &[u8]) {
    use bedrock_emulator::canonical::{Reply, ReplyBlock, StopReason, Usage};
    use bedrock_emulator::families::nova_sonic::Progress;
    if let Ok(Progress::Turn { conversation, .. }) = session.accept(event) {
        let text = conversation.last_user_text();
        let reply = Reply {
            content: vec![ReplyBlock::Text(format!("You said: {text}. Noted!"))],
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
            usage: Usage { input_tokens: 1, output_tokens: 1 },
            latency_ms: 0,
        };
        let events = session.answer(&reply);
        assert!(!events.is_empty(), "a turn's answer has events");
    }
}

/// What jobs read from S3 and policies hold (selector modulo 3): an automated-reasoning test
/// checked against a policy definition (first line the definition's JSON, the rest the query
/// and the guarded content split at `\n---\n`), an evaluation prompt dataset, and a prompt
/// optimization input file.
pub fn job_inputs(data: &[u8]) {
    use bedrock_emulator::api::{evaluation_results, prompt_optimization_results};
    use bedrock_emulator::backend::reasoning_check;
    let (sel, rest) = selector(data);
    match sel % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let (definition, tests) = text.split_once('\n').unwrap_or((&text, ""));
            let definition: Value = serde_json::from_str(definition).unwrap_or_default();
            let (query, claims) = tests.split_once("\n---\n").unwrap_or((tests, ""));
            let (result, findings) = reasoning_check::check(
                &definition,
                query,
                claims,
                "arn:aws:bedrock:us-east-1:123456789012:automated-reasoning-policy/abc",
            );
            assert!(
                ["VALID", "INVALID", "SATISFIABLE", "IMPOSSIBLE", "NO_TRANSLATION"].contains(&result),
                "an aggregated result of the model's enum"
            );
            assert_eq!(findings.len(), 1, "one finding per check");
        }
        1 => {
            if let Ok(prompts) = evaluation_results::parse_prompts(rest) {
                assert!(prompts.len() <= evaluation_results::MAX_PROMPTS);
            }
        }
        _ => {
            let _ = prompt_optimization_results::parse(&Value::Null, vec![Some(rest.to_vec())]);
        }
    }
}
