//! The Plan: the single currency between emulation and the wire (DESIGN.md).
//!
//! Operations, scenarios and the synthetic model produce Plans; fault rules rewrite them;
//! only the server's encoder turns a Plan into bytes. That is what lets one fault rule apply
//! identically to a scripted, a replayed and a synthetic reply.
//!
//! * [`stream`] — the lazily produced stream body and the [`Shaper`]s that rewrite it.
//! * [`pace`] — the one pacing formula (scenario `timing` and the `pace` fault).

pub mod pace;
pub mod stream;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::canonical::Usage;
use crate::wire::error::BedrockError;
use crate::wire::event_stream::Frame;

pub use pace::Pace;
pub use stream::{Flow, Shaper, StepStream};

/// A complete answer to one request, before encoding.
#[derive(Debug)]
pub struct Plan {
    /// HTTP status for non-error bodies (errors take theirs from the code).
    pub status: u16,
    /// Extra response headers (request id and `Content-Type` are added by the encoder).
    pub headers: Vec<(String, String)>,
    /// What the body holds.
    pub body: PlanBody,
    /// Delay before the response head is sent (latency faults, model think time).
    pub delay: Duration,
    /// Tokens the reply reports (quota settlement, unary pacing), when it is a model reply.
    pub usage: Option<Usage>,
    /// Which responder produced it, for the journal. Not sent to the client.
    pub answered_by: AnsweredBy,
}

/// Who produced a Plan (the journal's `answeredBy`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AnsweredBy {
    /// Validation, routing or another error before any responder (`error`).
    #[default]
    Error,
    /// The deterministic synthetic model (`synthetic`).
    Synthetic,
    /// A built-in control-plane operation (`builtin`).
    Builtin,
    /// A scenario rule (`scenario:<source>/<rule>`).
    Scenario(String),
    /// A fault rule that answered instead of any responder (`fault:<name>`).
    Fault(String),
    /// A recorded cassette (`replay:<file>`).
    Replay(String),
    /// Live Bedrock, through the recording proxy (`upstream`).
    Upstream,
}

impl fmt::Display for AnsweredBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnsweredBy::Error => f.write_str("error"),
            AnsweredBy::Synthetic => f.write_str("synthetic"),
            AnsweredBy::Builtin => f.write_str("builtin"),
            AnsweredBy::Scenario(rule) => write!(f, "scenario:{rule}"),
            AnsweredBy::Fault(name) => write!(f, "fault:{name}"),
            AnsweredBy::Replay(file) => write!(f, "replay:{file}"),
            AnsweredBy::Upstream => f.write_str("upstream"),
        }
    }
}

/// The body of a [`Plan`].
#[derive(Debug)]
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
    /// An event stream, `Content-Type: application/vnd.amazon.eventstream`, produced lazily.
    Stream(StepStream),
}

/// The request body of a bidirectional stream, as the client sends it: chunks of bytes, and
/// an error if the connection fails while it is read.
pub type InputBody = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, String>> + Send>>;

/// A bidirectional stream's request body, taken once by the operation that answers it.
pub struct DuplexInput(std::sync::Mutex<Option<InputBody>>);

impl DuplexInput {
    /// Wraps a body.
    pub fn new(body: InputBody) -> Self {
        DuplexInput(std::sync::Mutex::new(Some(body)))
    }

    /// The body, the first time it is asked for.
    pub fn take(&self) -> Option<InputBody> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

impl std::fmt::Debug for DuplexInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DuplexInput")
    }
}

/// One step of a streamed body: wait, then act.
#[derive(Debug, Clone)]
pub struct StreamStep {
    /// Wait before this step (time to first token, inter-token pacing, stalls).
    pub delay: Duration,
    /// What to do.
    pub action: StreamAction,
    /// Generated tokens the step carries (0 for bookkeeping events), for pacing.
    pub tokens: u32,
}

/// What a stream step does.
#[derive(Debug, Clone)]
pub enum StreamAction {
    /// Send one frame, flushed on its own.
    Frame(Frame),
    /// Send bytes as they are (a corrupted frame, a proxied chunk).
    Raw(Bytes),
    /// Send nothing more, ever, until the server shuts down (the client's read timeout fires).
    Stall,
    /// Abort the connection mid-body (a dropped connection as the client sees it).
    Abort,
    /// Drop the connection with a TCP RST.
    Reset,
    /// A new turn of a bidirectional stream begins, answering input that just arrived: the
    /// schedule restarts now and the next step with tokens waits the time to first token
    /// again. Sends nothing.
    Turn,
}

impl Plan {
    fn new(status: u16, body: PlanBody) -> Self {
        Plan { status, headers: Vec::new(), body, delay: Duration::ZERO, usage: None, answered_by: AnsweredBy::Error }
    }

    /// 200 with a JSON body.
    pub fn json(body: Value) -> Self {
        Plan::with_status(200, body)
    }

    /// A JSON body with a given success status (control-plane 201/202).
    pub fn with_status(status: u16, body: Value) -> Self {
        Plan::new(status, PlanBody::Json(body))
    }

    /// An AWS error.
    pub fn error(error: BedrockError) -> Self {
        Plan::new(error.code.status(), PlanBody::Error(error))
    }

    /// 200 with raw bytes of a content type (InvokeModel bodies).
    pub fn raw(content_type: &str, bytes: Bytes) -> Self {
        Plan::new(200, PlanBody::Raw { content_type: content_type.to_string(), bytes })
    }

    /// 200 with an event stream of ready steps.
    pub fn stream(steps: Vec<StreamStep>) -> Self {
        Plan::new(200, PlanBody::Stream(StepStream::ready(steps)))
    }

    /// 200 with a stream produced as it goes (a proxied upstream, a long generation).
    pub fn stream_from(steps: StepStream) -> Self {
        Plan::new(200, PlanBody::Stream(steps))
    }

    /// Records which responder produced the plan.
    pub fn answered_by(mut self, by: AnsweredBy) -> Self {
        self.answered_by = by;
        self
    }

    /// Records the usage the reply reports.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The HTTP status the client will see.
    pub fn wire_status(&self) -> u16 {
        match &self.body {
            PlanBody::Error(e) => e.code.status(),
            _ => self.status,
        }
    }

    /// Whether the body is an event stream.
    pub fn is_stream(&self) -> bool {
        matches!(self.body, PlanBody::Stream(_))
    }

    /// Paces the reply: a stream's steps are spaced by their tokens; a unary reply's head is
    /// delayed by the same formula for the tokens it reports.
    pub fn paced(mut self, pace: Pace) -> Self {
        match &mut self.body {
            PlanBody::Stream(steps) => steps.shape(Box::new(pace.shaper())),
            _ => {
                let tokens = self.usage.map_or(0, |u| u.output_tokens);
                self.delay += pace.unary_delay(tokens);
            }
        }
        self
    }

    /// Adds a stream shaper (no effect on a unary body).
    pub fn shaped(mut self, shaper: Box<dyn Shaper>) -> Self {
        if let PlanBody::Stream(steps) = &mut self.body {
            steps.shape(shaper);
        }
        self
    }
}

impl StreamStep {
    /// A frame sent without delay.
    pub fn frame(frame: Frame) -> Self {
        StreamStep { delay: Duration::ZERO, action: StreamAction::Frame(frame), tokens: 0 }
    }

    /// A frame carrying `tokens` generated tokens.
    pub fn content(frame: Frame, tokens: u32) -> Self {
        StreamStep { delay: Duration::ZERO, action: StreamAction::Frame(frame), tokens }
    }

    /// A step that only acts (abort, reset, stall, raw bytes).
    pub fn action(action: StreamAction) -> Self {
        StreamStep { delay: Duration::ZERO, action, tokens: 0 }
    }
}
