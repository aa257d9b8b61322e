//! The wire encoder: Plan → HTTP response.
//!
//! JSON and error bodies are sent whole; event streams are drained from the Plan's lazy step
//! stream as hyper asks for body chunks: a paced frame is flushed on its own after its delay
//! (clients see tokens as they "arrive"), frames with no delay go out together. `Abort` tears the connection down mid-body, `Reset` does so with a TCP
//! RST, and `Stall` sends nothing more until the server shuts down.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body::Frame as BodyFrame;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use tokio::sync::watch;

use super::connection::ConnectionControl;
use crate::plan::{Plan, PlanBody, StepStream, StreamAction};

/// The body type of every response the emulator sends (not `Sync`: a stream body owns its
/// shapers, and hyper only needs `Send`).
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

// What every response carries, named once (parsing a name per response shows in profiles).
// hyper writes names lower-case whatever they were built from, as it always has for these.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// The content type of AWS event streams.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Pause before a mid-body abort or reset (see `drain`).
const FLUSH_BEFORE_CUT: std::time::Duration = std::time::Duration::from_millis(25);

/// A complete in-memory body.
pub fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed_unsync()
}

/// Waits until the server starts shutting down (forever if it never does).
pub async fn shutdown_started(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            // The sender is gone: the server is gone too.
            return;
        }
    }
}

/// What a stream needs from its connection: the shutdown signal (stalls end with it) and the
/// connection's reset switch.
#[derive(Debug, Clone)]
pub struct StreamContext {
    /// Flips to true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The connection the stream is sent on.
    pub connection: ConnectionControl,
    /// When the stream's schedule begins: the request's arrival plus any injected latency.
    /// Pacing counts from here, so the time spent reading and answering the request is
    /// part of the time to first token instead of being added to it.
    pub start: tokio::time::Instant,
}

/// How late Tokio's millisecond timer fires, about: it rounds a deadline up to the next tick
/// and parks in whole milliseconds, so a paced frame reached the client 1–2 ms after it was
/// due (`bench-pacing`, and a raw socket client). Waking this much earlier centres the error
/// on zero (within about ±1 ms) instead of always adding it; the schedule itself is kept
/// exact, so the shift never adds up.
const TIMER_LATENESS: std::time::Duration = std::time::Duration::from_millis(1);

/// A stream body's progress: the steps left and the schedule they are due on.
struct Drain {
    steps: StepStream,
    ctx: StreamContext,
    /// Delays are kept on one schedule from the first step (each is due `delay` after the
    /// one before it was due), so timer granularity does not add up over a long paced stream.
    due: tokio::time::Instant,
    ended: bool,
}

fn aborted(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, why.to_string())
}

/// The next chunk of a stream body. The body polls this directly (no task, no channel):
/// steps that are ready go out back to back and hyper writes them together, while a step
/// with a delay leaves the body pending, so hyper flushes each paced frame on its own.
async fn next_chunk(mut d: Drain) -> Option<(Result<Bytes, std::io::Error>, Drain)> {
    if d.ended {
        return None;
    }
    let mut step = d.steps.next().await?;
    while matches!(step.action, StreamAction::Turn) {
        // Its answer is timed from now: the input it answers arrived only now.
        d.due = tokio::time::Instant::now();
        step = d.steps.next().await?;
    }
    if matches!(step.action, StreamAction::Abort | StreamAction::Reset) {
        // hyper drops bytes it has not flushed when a body fails: let the frames before
        // the cut reach the client first, so "after N events" means N events arrive.
        tokio::time::sleep(FLUSH_BEFORE_CUT).await;
    }
    if !step.delay.is_zero() {
        // Paced frames keep their schedule through a graceful shutdown: the stream is in
        // flight and finishes within SHUTDOWN_GRACE (only a stall ends at once).
        d.due += step.delay;
        tokio::time::sleep_until(d.due.checked_sub(TIMER_LATENESS).unwrap_or(d.due)).await;
    }
    let item = match step.action {
        StreamAction::Frame(frame) => frame.encode().map_err(|e| std::io::Error::other(e.to_string())),
        StreamAction::Raw(bytes) => Ok(bytes),
        // Consumed above; nothing to send.
        StreamAction::Turn => Ok(Bytes::new()),
        StreamAction::Abort => Err(aborted("stream aborted by plan")),
        StreamAction::Reset => {
            d.ctx.connection.request_reset();
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "stream reset by plan"))
        }
        StreamAction::Stall => {
            // Until shutdown; a client that gives up (its read timeout) drops the body.
            shutdown_started(&mut d.ctx.shutdown).await;
            Err(aborted("stalled stream ended by shutdown"))
        }
    };
    d.ended = item.is_err();
    Some((item, d))
}

fn stream_body(steps: StepStream, ctx: StreamContext) -> ResponseBody {
    let drain = Drain { due: ctx.start, steps, ctx, ended: false };
    let chunks = futures_util::stream::unfold(drain, next_chunk);
    StreamBody::new(futures_util::StreamExt::map(chunks, |r| r.map(BodyFrame::data))).boxed_unsync()
}

/// Turns a Plan into a response (stream bodies use Tokio timers: call it inside a runtime).
/// `request_id` is taken by value: its bytes become the header's without a copy.
pub fn encode(plan: Plan, request_id: String, ctx: StreamContext) -> Response<ResponseBody> {
    const JSON: HeaderValue = HeaderValue::from_static("application/json");
    // The usual content types are constants; only a raw body's own type is parsed.
    let (status, content_type, body, error_type) = match plan.body {
        PlanBody::Json(value) => {
            let bytes = serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec());
            (plan.status, Some(JSON), full_body(bytes), None)
        }
        PlanBody::Raw { content_type, bytes } => {
            let content_type =
                if content_type == "application/json" { Ok(JSON) } else { HeaderValue::try_from(content_type) };
            (plan.status, content_type.ok(), full_body(bytes), None)
        }
        PlanBody::Error(error) => {
            let bytes = serde_json::to_vec(&error.body()).unwrap_or_else(|_| b"{}".to_vec());
            (error.code.status(), Some(JSON), full_body(bytes), Some(error.error_type_header()))
        }
        // hyper polls the body only when it can write, so a slow reader applies back-pressure
        // instead of the emulator buffering a whole long stream in memory.
        PlanBody::Stream(steps) => {
            (plan.status, Some(HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE)), stream_body(steps, ctx), None)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Some(v) = content_type {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    // A proxied answer keeps Bedrock's own request id (what AWS support asks for).
    if !plan.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-amzn-requestid")) {
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(request_id)) {
            headers.insert(REQUEST_ID, v);
        }
    }
    if let Some(error_type) = error_type {
        if let Ok(v) = HeaderValue::try_from(error_type) {
            headers.insert(ERROR_TYPE, v);
        }
    }
    for (name, value) in &plan.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            headers.append(n, v);
        }
    }
    response
}
