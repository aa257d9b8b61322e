//! The request pipeline, one stage at a time over one [`RequestContext`]:
//!
//! route → auth → prepare (parse, validate) → faults before → respond →
//! faults after → journal → encode.
//!
//! Every reply — synthetic, scripted, built-in, and later replayed or proxied — flows through
//! the same stages, so a fault applies to each alike.

use std::time::Instant;

use bytes::Bytes;

use super::journal::{self, JournalEntry};
use super::ServerState;
use crate::api::{self, Request, Scripted};
use crate::auth::sigv4::SignedRequest;
use crate::fault::attempts::Attempt;
use crate::fault::{Before, FaultRequest, Verdict};
use crate::operations;
use crate::plan::{AnsweredBy, Plan};
use crate::record::proxy::RecordMode;
use crate::record::replay::ReplayAnswer;
use crate::rng::stable_hash;
use crate::scenario::matcher::RequestHeaders;
use crate::scenario::{MatchInput, RequestBody};
use crate::wire::error::{BedrockError, ErrorCode};

/// Everything known about one request as it moves through the stages.
#[derive(Debug)]
pub struct RequestContext {
    /// The `x-amzn-RequestId` sent back.
    pub request_id: String,
    /// When it arrived.
    pub received: std::time::SystemTime,
    /// When handling began (for the journal's duration).
    pub started: Instant,
    /// HTTP method.
    pub method: String,
    /// Raw path.
    pub path: String,
    /// Which attempt of its invocation this is.
    pub attempt: Option<Attempt>,
    /// What matchers see (operation, model, texts, body, redacted headers); journaled.
    pub input: MatchInput,
    /// Size of the request body in bytes.
    pub body_len: usize,
    /// Faults injected.
    pub faults: Vec<String>,
}

/// What the pipeline decided to do with the connection.
#[derive(Debug)]
pub enum Outcome {
    /// Send this Plan (after its delay).
    Respond(Plan),
    /// Drop the connection with a TCP RST.
    Reset,
    /// Send nothing until the server shuts down.
    Stall,
}

/// The raw request as the listener read it.
#[derive(Debug)]
pub struct RawRequest {
    /// HTTP method (moved into the [`RequestContext`] when the pipeline starts).
    pub method: String,
    /// Raw (percent-encoded) path (moved like `method`).
    pub path: String,
    /// The query string as sent (signatures cover it).
    pub raw_query: Option<String>,
    /// `:authority` / the URI's host (HTTP/2 sends no `Host` header).
    pub authority: Option<String>,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: std::sync::Arc<http::HeaderMap>,
    /// The body, or why it could not be read.
    pub body: Result<Bytes, String>,
    /// The request stream of the bidirectional operation, read as it arrives (`body` is empty).
    pub duplex: Option<crate::plan::DuplexInput>,
}

/// The three headers the stages read, found in one pass over the map: a `HeaderMap::get`
/// hashes the name it looks for, and two of these names are not standard ones (hashed byte
/// by byte). The first value of each counts, as `get` would give it.
#[derive(Debug, Default, PartialEq)]
struct SdkHeaders<'a> {
    /// `Authorization`, as bytes (only the parts taken from it are checked as text).
    authorization: Option<&'a [u8]>,
    /// `amz-sdk-request` (`attempt=N; max=M`).
    sdk_request: Option<&'a str>,
    /// `amz-sdk-invocation-id`.
    invocation_id: Option<&'a str>,
}

impl<'a> SdkHeaders<'a> {
    fn of(headers: &'a http::HeaderMap) -> Self {
        // `HeaderValue::to_str` tests each byte for visible ASCII; UTF-8 validation is
        // word-at-a-time and every reader here tolerates what it lets through.
        let text = |v: &'a http::HeaderValue| std::str::from_utf8(v.as_bytes()).ok();
        let (mut authorization, mut sdk_request, mut invocation_id) = (None, None, None);
        for (name, value) in headers {
            if name == http::header::AUTHORIZATION {
                authorization.get_or_insert(value);
            } else if name.as_str() == "amz-sdk-request" {
                sdk_request.get_or_insert(value);
            } else if name.as_str() == "amz-sdk-invocation-id" {
                invocation_id.get_or_insert(value);
            }
        }
        SdkHeaders {
            authorization: authorization.map(http::HeaderValue::as_bytes),
            sdk_request: sdk_request.and_then(text),
            invocation_id: invocation_id.and_then(text),
        }
    }
}

/// The credential scope of a SigV4 `Authorization` header: `AKID/DATE/REGION/…` after
/// `Credential=`, ending at `,` or a space.
pub fn credential_scope(bytes: &[u8]) -> Option<&[u8]> {
    // A byte scan: `split`/`find` with a string needle build a searcher per call, which costs
    // more than the rest of the region lookup on a 250-byte header.
    const NEEDLE: &[u8] = b"Credential=";
    // SDKs put it first: `AWS4-HMAC-SHA256 Credential=…`.
    let at = if bytes.get(17..28) == Some(NEEDLE) {
        17
    } else {
        (0..bytes.len()).find(|&i| bytes[i..].starts_with(NEEDLE))?
    };
    let scope = &bytes[at + NEEDLE.len()..];
    Some(&scope[..memchr::memchr2(b',', b' ', scope).unwrap_or(scope.len())])
}

/// The region of the SigV4 credential scope (`Credential=AKID/DATE/REGION/bedrock/aws4_request`).
pub fn region_from_authorization(value: &str) -> Option<String> {
    region_from_authorization_bytes(value.as_bytes())
}

/// [`region_from_authorization`] of the header's bytes: only the region is checked as UTF-8,
/// not the whole 250-byte header.
fn region_from_authorization_bytes(value: &[u8]) -> Option<String> {
    let scope = credential_scope(value)?;
    let mut slashes = memchr::memchr_iter(b'/', scope);
    let (_, start) = (slashes.next()?, slashes.next()? + 1);
    let end = slashes.next().unwrap_or(scope.len());
    let region = std::str::from_utf8(&scope[start..end]).ok()?;
    (!region.is_empty()).then(|| region.to_string())
}

impl RequestContext {
    /// A context for a request that just arrived. It takes the method and path (the later
    /// stages read them from here): copying them cost two allocations per request.
    pub fn new(state: &ServerState, raw: &mut RawRequest) -> Self {
        RequestContext {
            request_id: state.next_request_id(),
            received: std::time::SystemTime::now(),
            started: Instant::now(),
            method: std::mem::take(&mut raw.method),
            path: std::mem::take(&mut raw.path),
            attempt: None,
            input: MatchInput { headers: RequestHeaders::shared(raw.headers.clone()), ..Default::default() },
            body_len: raw.body.as_ref().map_or(0, Bytes::len),
            faults: Vec::new(),
        }
    }
}

/// Where the stages got to: an outcome, or a request still waiting for live Bedrock.
pub enum Step<'a> {
    /// Decided without waiting (everything but proxying).
    Done(Outcome),
    /// Forwarded by the recording proxy; its future ends the stages. Boxed, so the common
    /// request's future holds no room for it.
    Forwarding(std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + 'a>>),
}

/// Runs the stages from routing to faults-after. Not async: only the recording proxy waits
/// (see [`Step`]). As an `async fn` it made every request's future kilobytes larger, room
/// the server allocated and copied for each request, proxied or not.
pub fn run<'a>(state: &'a ServerState, ctx: &'a mut RequestContext, raw: RawRequest) -> Step<'a> {
    match stages(state, ctx, raw) {
        Staged::Done(outcome) => Step::Done(outcome),
        Staged::Forward(mut later) => {
            let ctx: &'a RequestContext = ctx;
            Step::Forwarding(Box::pin(async move {
                let answered = later.recorder.forward(&later.request, &ctx.path, later.raw_query.as_deref()).await;
                let plan = settle(answered, later.success_status);
                conclude(state, &later.request, &ctx.request_id, plan, &mut later.before, later.delay)
            }))
        }
    }
}

/// [`stages`]' result: done, or a request for the recording proxy.
enum Staged<'a> {
    Done(Outcome),
    Forward(Box<Forward<'a>>),
}

/// A request the recording proxy forwards, with what the stages after it need.
struct Forward<'a> {
    recorder: &'a crate::record::proxy::Recorder,
    request: Request,
    raw_query: Option<String>,
    before: Before,
    delay: std::time::Duration,
    success_status: u16,
}

/// A responder's answer as a plan: success takes the operation's own status.
fn settle(answered: Result<Plan, BedrockError>, success_status: u16) -> Plan {
    match answered {
        Ok(mut plan) => {
            if plan.status == 200 {
                plan.status = success_status;
            }
            plan
        }
        Err(e) => Plan::error(e),
    }
}

/// Faults after, then the invocation log: how every answer leaves the stages.
fn conclude(
    state: &ServerState,
    request: &Request,
    request_id: &str,
    plan: Plan,
    before: &mut Before,
    delay: std::time::Duration,
) -> Outcome {
    let mut plan = state.faults.after(plan, before);
    plan.delay += delay;
    // Logged as answered, faults included (a cut stream logs the events it sent).
    Outcome::Respond(api::invocation_logging::log(&state.services, request, request_id, plan))
}

/// The stages up to the responder chain, and the stages after it for answers that need no
/// waiting.
fn stages<'a>(state: &'a ServerState, ctx: &mut RequestContext, raw: RawRequest) -> Staged<'a> {
    let body = match raw.body {
        Ok(b) => b,
        Err(why) => return Staged::Done(Outcome::Respond(Plan::error(BedrockError::validation(why)))),
    };
    // Route.
    ctx.input.body = RequestBody::new(body.clone());
    let Some(route) = operations::find(&ctx.method, &ctx.path) else {
        ctx.input.operation = "(unknown)".to_string();
        return Staged::Done(Outcome::Respond(Plan::error(BedrockError::new(
            ErrorCode::UnknownOperationException,
            format!("No operation of bedrock or bedrock-runtime matches {} {}.", ctx.method, ctx.path),
        ))));
    };
    ctx.input.operation = route.route.operation.clone();
    ctx.input.model_id = route.labels.get("modelId").cloned();

    // Auth.
    let signed = SignedRequest {
        method: &ctx.method,
        raw_path: &ctx.path,
        raw_query: raw.raw_query.as_deref(),
        headers: &raw.headers,
        authority: raw.authority.as_deref(),
        body: &body,
    };
    // Read once: the region and the account both come from it.
    let sdk = SdkHeaders::of(&raw.headers);
    let authorization = sdk.authorization;
    let verified_region = match state.auth.check(&signed, std::time::SystemTime::now()) {
        Ok(region) => region,
        Err(e) => return Staged::Done(Outcome::Respond(Plan::error(e.into()))),
    };
    let region = verified_region
        .or_else(|| authorization.and_then(region_from_authorization_bytes))
        .unwrap_or_else(|| "us-east-1".to_string());
    // Attempts are only counted by hand (the fallback for clients without SDK headers) while
    // fault rules are loaded: nothing else reads them, and the hash costs a pass over the body.
    let track = !state.faults.is_empty();
    let fingerprint = if track {
        stable_hash(stable_hash(0, ctx.input.operation.as_bytes()), &body)
            ^ stable_hash(1, ctx.input.model_id.as_deref().unwrap_or("").as_bytes())
    } else {
        0
    };
    let attempt = state.faults.attempts.observe(sdk.sdk_request, sdk.invocation_id, fingerprint, track);
    let attempt_number = attempt.number;
    ctx.attempt = Some(attempt);
    let success_status = route.route.code;
    let raw_query = raw.raw_query.clone();
    let presigned = raw.query.iter().find(|(k, _)| k == "X-Amz-Credential").map(|(_, v)| v.as_str());
    let account = state.accounts.for_request(authorization, presigned).to_string();
    let request = Request { route, query: raw.query, headers: raw.headers, body, region, account, duplex: raw.duplex };

    // Prepare: parse and validate, so that faults and rules can match on the conversation.
    let prepared = match api::prepare(&request, &state.services, &ctx.input.body) {
        Ok(p) => p,
        // With recordings (or live Bedrock) behind, they answer what this build refuses.
        Err(e) if state.replay.is_some() || state.recorder.is_some() => api::Prepared::Invalid(e),
        Err(e) => return Staged::Done(Outcome::Respond(Plan::error(e))),
    };
    prepared.describe(&mut ctx.input);

    // Faults before.
    let mut before = if !track && state.faults.quotas.is_empty() {
        Before::none()
    } else {
        state.faults.before(&FaultRequest {
            input: &ctx.input,
            attempt: attempt_number,
            estimate: prepared.token_estimate(),
        })
    };
    ctx.faults = std::mem::take(&mut before.injected);
    let delay = before.delay;
    let plan = match std::mem::replace(&mut before.verdict, Verdict::Proceed) {
        Verdict::Reset => return Staged::Done(Outcome::Reset),
        Verdict::Stall => return Staged::Done(Outcome::Stall),
        Verdict::Answer(plan) => plan,
        // Respond: scenario rule → recording → synthetic model / built-in operation.
        Verdict::Proceed => match respond_chain(state, &request, prepared, &ctx.input, &ctx.path) {
            Chain::Answered(answered) => settle(answered, success_status),
            Chain::Forward(recorder) => {
                return Staged::Forward(Box::new(Forward {
                    recorder,
                    request,
                    raw_query,
                    before,
                    delay,
                    success_status,
                }))
            }
        },
    };
    Staged::Done(conclude(state, &request, &ctx.request_id, plan, &mut before, delay))
}

/// What the responder chain came to: an answer, or a request forwarded to live Bedrock
/// (the one stage that waits).
enum Chain<'a> {
    Answered(Result<Plan, BedrockError>),
    /// The recording proxy is to forward it.
    Forward(&'a crate::record::proxy::Recorder),
}

/// The responder chain: scenario rule → cassette → (recording proxy to live Bedrock) →
/// synthetic model / built-in operation. Forwarding, the one responder that waits, is left
/// to the caller.
fn respond_chain<'a>(
    state: &'a ServerState,
    request: &Request,
    prepared: api::Prepared,
    input: &crate::scenario::MatchInput,
    raw_path: &str,
) -> Chain<'a> {
    let (prepared, closest) = match api::respond_scripted(request, prepared, &state.services, input) {
        Scripted::Answered(answer) => return Chain::Answered(answer),
        Scripted::Unscripted { prepared, closest } => (prepared, closest),
    };
    if matches!(prepared, api::Prepared::Bidi { .. }) {
        // Its turns are matched (and refused under --strict) as they arrive; recordings do
        // not hold bidirectional sessions.
        return Chain::Answered(api::respond_builtin(request, prepared, &state.services));
    }
    let mut nearest = None;
    if let Some(replay) = &state.replay {
        match replay.answer(input, raw_path, &request.query) {
            ReplayAnswer::Hit(plan) => return Chain::Answered(Ok(plan)),
            ReplayAnswer::Miss { nearest: n } => nearest = n,
        }
    }
    if let Some(recorder) = &state.recorder {
        let record = match recorder.mode() {
            RecordMode::All | RecordMode::NewEpisodes => true,
            RecordMode::Once => !recorder.had_cassettes,
            RecordMode::None => false,
        };
        if record {
            return Chain::Forward(recorder);
        }
        let mode = if recorder.mode() == RecordMode::None { "none" } else { "once" };
        return Chain::Answered(Err(BedrockError::validation(format!(
            "bedrock-emulator replays recorded cassettes (record mode {mode}) and none matches this {} request.{}",
            input.operation,
            nearest.map(|n| format!(" {n}")).unwrap_or_default()
        ))));
    }
    if let Some(refusal) = api::respond::strict_refusal(&state.services, input, closest.as_ref(), nearest.as_deref()) {
        return Chain::Answered(Err(refusal));
    }
    Chain::Answered(api::respond_builtin(request, prepared, &state.services))
}

/// Journals the request and settles its attempt.
pub fn journal(state: &ServerState, mut ctx: RequestContext, outcome: &Outcome) {
    let (status, answered_by, delay) = match outcome {
        Outcome::Respond(plan) => (plan.wire_status(), plan.answered_by.clone(), plan.delay),
        Outcome::Reset | Outcome::Stall => {
            (0, AnsweredBy::Fault(ctx.faults.last().cloned().unwrap_or_default()), std::time::Duration::ZERO)
        }
    };
    if let Some(attempt) = &ctx.attempt {
        state.faults.attempts.settle(attempt, status >= 400 || status == 0 || !ctx.faults.is_empty());
    }
    tracing::debug!(method = %ctx.method, path = %ctx.path, status, answered_by = %answered_by, faults = ?ctx.faults, "request");
    for text in [&mut ctx.input.last_user_text, &mut ctx.input.system_text].into_iter().flatten() {
        journal::truncate_text(text, journal::MAX_JOURNALED_TEXT);
    }
    ctx.input.tool_names.truncate(journal::MAX_JOURNALED_TOOLS);
    let mut body_bytes = ctx.body_len;
    if body_bytes > journal::MAX_JOURNALED_BODY {
        // Matching saw the whole body; the journal keeps a marker so a run of large requests
        // cannot hold capacity × 25 MB.
        ctx.input.body = RequestBody::from_json(Some(serde_json::json!({"_truncated": {"bytes": ctx.body_len}})));
        body_bytes = 64;
    } else {
        ctx.input.body.detach();
    }
    let (invocation_id, attempt) = match ctx.attempt {
        Some(a) => (a.invocation_id, Some(a.number)),
        None => (None, None),
    };
    state.journal.record(JournalEntry {
        seq: 0,
        time: ctx.received,
        request_id: ctx.request_id,
        method: ctx.method,
        path: ctx.path,
        request: ctx.input,
        invocation_id,
        attempt,
        answered_by: answered_by.to_string(),
        faults: ctx.faults,
        status,
        duration_ms: ctx.started.elapsed().as_secs_f64() * 1000.0 + delay.as_secs_f64() * 1000.0,
        body_bytes,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};

    /// What three `HeaderMap::get` calls give, the reading `SdkHeaders::of` replaces.
    fn by_get(headers: &HeaderMap) -> SdkHeaders<'_> {
        let text = |name: &str| headers.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok());
        SdkHeaders {
            authorization: headers.get(http::header::AUTHORIZATION).map(HeaderValue::as_bytes),
            sdk_request: text("amz-sdk-request"),
            invocation_id: text("amz-sdk-invocation-id"),
        }
    }

    #[test]
    fn one_pass_over_the_headers_reads_what_get_would() {
        let value = |b: &[u8]| HeaderValue::from_bytes(b).expect("a header value");
        let names = ["authorization", "amz-sdk-request", "amz-sdk-invocation-id", "x-amz-date", "amz-sdk-requests"];
        let values: [&[u8]; 4] = [b"attempt=2; max=3", b"\xff\xfe", b"2b1c7d1e", b""];
        // Every map of up to three entries drawn from those names and values: repeats,
        // non-UTF-8 first values and near-miss names included.
        let mut cases = vec![HeaderMap::new()];
        for _ in 0..3 {
            let mut longer = Vec::new();
            for map in &cases {
                for name in names {
                    for v in values {
                        let mut m = map.clone();
                        m.append(HeaderName::from_static(name), value(v));
                        longer.push(m);
                    }
                }
            }
            cases.extend(longer);
        }
        assert!(cases.len() > 8000);
        for map in &cases {
            assert_eq!(SdkHeaders::of(map), by_get(map), "{map:?}");
        }
    }
}
