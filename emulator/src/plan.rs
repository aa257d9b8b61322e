//! The Plan: the single currency between emulation and the wire (DESIGN.md).
//!
//! Operations, the synthetic model (and later scenarios, replays and fault rules) produce or
//! rewrite Plans; only `wire::response` turns a Plan into bytes. That is what lets one fault
//! rule apply identically to a scripted, a replayed and a synthetic reply.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::wire::error::BedrockError;
use crate::wire::event_stream::Frame;

/// A complete answer to one request, before encoding.
#[derive(Debug, Clone)]
pub struct Plan {
    /// HTTP status for non-error bodies (errors take theirs from the code).
    pub status: u16,
    /// Extra response headers (request id, `Content-Type` and `Date` are added by the encoder).
    pub headers: Vec<(String, String)>,
    /// What the body holds.
    pub body: PlanBody,
    /// Delay before the response head is sent (latency faults, model think time).
    pub delay: Duration,
    /// Which responder produced it (`synthetic`, `scenario:<file>/<rule>`, `catalog`…), for
    /// the journal. Not sent to the client.
    pub answered_by: Option<String>,
}

/// The body of a [`Plan`].
#[derive(Debug, Clone)]
pub enum PlanBody {
    /// A JSON document, `Content-Type: application/json`.
    Json(Value),
    /// Raw bytes with their content type (InvokeModel bodies).
    Raw {
        /// `Content-Type` of the body.
        content_type: String,
        /// The bytes.
        bytes: Bytes,
    },
    /// An AWS error; the HTTP status follows from its code.
    Error(BedrockError),
    /// An event stream, `Content-Type: application/vnd.amazon.eventstream`.
    Stream(Vec<StreamStep>),
}

/// One step of a streamed body: wait, then act.
#[derive(Debug, Clone)]
pub struct StreamStep {
    /// Wait before this step (time to first token, inter-token pacing, stalls).
    pub delay: Duration,
    /// What to do.
    pub action: StreamAction,
}

/// What a stream step does.
#[derive(Debug, Clone)]
pub enum StreamAction {
    /// Send one frame, flushed on its own.
    Frame(Frame),
    /// Abort the connection mid-body (a dropped connection as the client sees it).
    Abort,
}

impl Plan {
    /// 200 with a JSON body.
    pub fn json(body: Value) -> Self {
        Plan::with_status(200, body)
    }

    /// A JSON body with a given success status (control-plane 201/202).
    pub fn with_status(status: u16, body: Value) -> Self {
        Plan { status, headers: Vec::new(), body: PlanBody::Json(body), delay: Duration::ZERO, answered_by: None }
    }

    /// An AWS error.
    pub fn error(error: BedrockError) -> Self {
        Plan {
            status: error.code.status(),
            headers: Vec::new(),
            body: PlanBody::Error(error),
            delay: Duration::ZERO,
            answered_by: None,
        }
    }

    /// 200 with raw bytes of a content type (InvokeModel bodies).
    pub fn raw(content_type: &str, bytes: Bytes) -> Self {
        Plan {
            status: 200,
            headers: Vec::new(),
            body: PlanBody::Raw { content_type: content_type.to_string(), bytes },
            delay: Duration::ZERO,
            answered_by: None,
        }
    }

    /// 200 with an event stream.
    pub fn stream(steps: Vec<StreamStep>) -> Self {
        Plan {
            status: 200,
            headers: Vec::new(),
            body: PlanBody::Stream(steps),
            delay: Duration::ZERO,
            answered_by: None,
        }
    }

    /// Records which responder produced the plan.
    pub fn answered_by(mut self, by: impl Into<String>) -> Self {
        self.answered_by = Some(by.into());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

impl StreamStep {
    /// A frame sent without delay.
    pub fn frame(frame: Frame) -> Self {
        StreamStep { delay: Duration::ZERO, action: StreamAction::Frame(frame) }
    }
}
