//! The wire encoder: Plan → HTTP response.
//!
//! JSON and error bodies are sent whole; event streams are sent frame by frame through a
//! channel so that each frame is flushed on its own after its delay (clients see tokens as
//! they "arrive"), and an `Abort` step tears the connection down mid-body.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame as BodyFrame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use tokio::sync::mpsc;

use crate::plan::{Plan, PlanBody, StreamAction};

/// The body type of every response the emulator sends.
pub type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// The content type of AWS event streams.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

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

/// Turns a Plan into a response. Stream frames are produced by a spawned task, so this must
/// run inside a Tokio runtime.
pub fn encode(plan: Plan, request_id: &str) -> Response<ResponseBody> {
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
            tokio::spawn(async move {
                for step in steps {
                    if !step.delay.is_zero() {
                        tokio::time::sleep(step.delay).await;
                    }
                    let item = match step.action {
                        StreamAction::Frame(frame) => match frame.encode() {
                            Ok(bytes) => Ok(bytes),
                            Err(e) => Err(std::io::Error::other(e.to_string())),
                        },
                        StreamAction::Abort => {
                            Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "stream aborted by plan"))
                        }
                    };
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        return;
                    }
                }
            });
            (plan.status, EVENT_STREAM_CONTENT_TYPE.to_string(), ChannelBody { rx }.boxed(), None)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(n, v);
        }
    };
    put("content-type", &content_type);
    put("x-amzn-RequestId", request_id);
    if let Some(error_type) = error_type {
        put("x-amzn-ErrorType", &error_type);
    }
    for (name, value) in &plan.headers {
        put(name, value);
    }
    response
}
