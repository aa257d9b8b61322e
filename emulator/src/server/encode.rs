//! The wire encoder: Plan → HTTP response.
//!
//! JSON and error bodies are sent whole; event streams are drained from the Plan's lazy step
//! stream by a task that flushes each frame on its own after its delay (clients see tokens
//! as they "arrive"). `Abort` tears the connection down mid-body, `Reset` does so with a TCP
//! RST, and `Stall` sends nothing more until the server shuts down.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame as BodyFrame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use tokio::sync::{mpsc, watch};

use super::connection::ConnectionControl;
use crate::plan::{Plan, PlanBody, StepStream, StreamAction};

/// The body type of every response the emulator sends.
pub type ResponseBody = BoxBody<Bytes, std::io::Error>;

// What every response carries, named once (parsing a name per response shows in profiles).
// hyper writes names lower-case whatever they were built from, as it always has for these.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// The content type of AWS event streams.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Pause before a mid-body abort or reset (see `drain`).
const FLUSH_BEFORE_CUT: std::time::Duration = std::time::Duration::from_millis(25);

/// A body fed by a channel: each message is one flushed chunk; an `Err` aborts the connection.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|item| item.map(|r| r.map(BodyFrame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A complete in-memory body.
pub fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
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
}

async fn drain(mut steps: StepStream, tx: mpsc::Sender<Result<Bytes, std::io::Error>>, mut ctx: StreamContext) {
    let aborted = |why: &str| Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, why.to_string()));
    // Delays are kept on one schedule from the first step (each is due `delay` after the one
    // before it was due), so timer granularity does not add up over a long paced stream.
    let mut due = tokio::time::Instant::now();
    while let Some(step) = steps.next().await {
        if matches!(step.action, StreamAction::Abort | StreamAction::Reset) {
            // hyper drops bytes it has not flushed when a body fails: let the frames before
            // the cut reach the client first, so "after N events" means N events arrive.
            tokio::time::sleep(FLUSH_BEFORE_CUT).await;
        }
        if !step.delay.is_zero() {
            due += step.delay;
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = shutdown_started(&mut ctx.shutdown) => {
                    let _ = tx.send(aborted("server shutting down")).await;
                    return;
                }
            }
        }
        let item = match step.action {
            StreamAction::Frame(frame) => frame.encode().map_err(|e| std::io::Error::other(e.to_string())),
            StreamAction::Raw(bytes) => Ok(bytes),
            StreamAction::Abort => aborted("stream aborted by plan"),
            StreamAction::Reset => {
                ctx.connection.request_reset();
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "stream reset by plan"))
            }
            StreamAction::Stall => {
                tokio::select! {
                    _ = shutdown_started(&mut ctx.shutdown) => {}
                    // The client gave up (its read timeout fired): stop waiting.
                    _ = tx.closed() => {}
                }
                aborted("stalled stream ended by shutdown")
            }
        };
        let stop = item.is_err();
        if tx.send(item).await.is_err() || stop {
            return;
        }
    }
}

/// Turns a Plan into a response. Stream frames are produced by a spawned task, so this must
/// run inside a Tokio runtime.
pub fn encode(plan: Plan, request_id: &str, ctx: StreamContext) -> Response<ResponseBody> {
    let (status, content_type, body, error_type) = match plan.body {
        PlanBody::Json(value) => {
            let bytes = serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec());
            (plan.status, "application/json".to_string(), full_body(bytes), None)
        }
        PlanBody::Raw { content_type, bytes } => (plan.status, content_type, full_body(bytes), None),
        PlanBody::Error(error) => {
            let bytes = serde_json::to_vec(&error.body()).unwrap_or_else(|_| b"{}".to_vec());
            (error.code.status(), "application/json".to_string(), full_body(bytes), Some(error.error_type_header()))
        }
        PlanBody::Stream(steps) => {
            // Capacity 1: a slow reader applies back-pressure instead of the emulator buffering
            // a whole long stream in memory.
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(drain(steps, tx, ctx));
            (plan.status, EVENT_STREAM_CONTENT_TYPE.to_string(), ChannelBody { rx }.boxed(), None)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::try_from(content_type) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    // A proxied answer keeps Bedrock's own request id (what AWS support asks for).
    if !plan.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-amzn-requestid")) {
        if let Ok(v) = HeaderValue::try_from(request_id) {
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
