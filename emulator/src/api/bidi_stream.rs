//! InvokeModelWithBidirectionalStream: a full-duplex session with Nova Sonic. The request body
//! is read as the client sends it — event-stream `chunk` frames whose `bytes` are Nova Sonic's
//! input events — and each user turn is answered on the response stream as soon as it ends.
//!
//! The request itself goes through the pipeline like every other (auth, faults before, a
//! scenario `error` reply refuses it); its answer is a stream fed by a task that reads the
//! input, so faults after (cuts, stalls, pacing) shape the session's output like any stream.
//! Each turn is answered by the first scenario rule that matches it (its `text` / `toolUse`,
//! or an `error` sent as an in-stream exception), else by the synthetic model; a rule that
//! matched the request answers the first turn. Recordings do not cover this operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{context_window, respond, Prepared, Request, Services};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Conversation, Reply};
use crate::families::nova_sonic::{OutputEvent, Progress, Session};
use crate::plan::{AnsweredBy, InputBody, Plan, StepStream, StreamAction, StreamStep};
use crate::rng::stable_hash;
use crate::scenario::format::{ReplyKind, ReplySpec};
use crate::scenario::matcher::RequestHeaders;
use crate::scenario::{Decision, MatchInput};
use crate::synthetic::input_tokens;
use crate::wire::error::BedrockError;
use crate::wire::event_stream::{Frame, Input, InputDecoder};

/// The operation's name.
pub const OPERATION: &str = "InvokeModelWithBidirectionalStream";

/// How long a session waits for the client's first event (Bedrock: "Timed out waiting for
/// input events").
pub const FIRST_EVENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a started session waits between input events (Nova Sonic's documented gap).
pub const INPUT_GAP_TIMEOUT: Duration = Duration::from_secs(55);
/// How long a session may last (Bedrock closes Nova Sonic streams after 8 minutes).
pub const SESSION_LIMIT: Duration = Duration::from_secs(8 * 60);
/// Output events buffered ahead of a client that reads slowly.
const OUTPUT_BUFFER: usize = 64;

/// Sessions started by this process, mixed into each session's ids so that two sessions
/// never share a `sessionId`.
static SESSIONS: AtomicU64 = AtomicU64::new(0);

/// Resolves the model: only Nova Sonic speaks this protocol.
pub fn prepare(req: &Request, services: &Services) -> Result<Prepared, BedrockError> {
    let model = super::resolve_model(services, req, req.label("modelId"))?.model;
    if model.emulator.family != "nova-sonic" {
        return Err(BedrockError::validation(format!(
            "The model {} does not support InvokeModelWithBidirectionalStream. Use a Nova Sonic model such as amazon.nova-sonic-v1:0.",
            model.model_id
        )));
    }
    Ok(Prepared::Bidi { model })
}

/// Starts the session: the response is the stream its task feeds. `first` is the scenario
/// reply that matched the request, for the first turn.
pub fn start(
    req: &Request,
    services: &Services,
    model: &'static FoundationModel,
    first: Option<(String, ReplySpec)>,
) -> Result<Plan, BedrockError> {
    let input = req
        .duplex
        .as_ref()
        .and_then(crate::plan::DuplexInput::take)
        .ok_or_else(|| BedrockError::validation("InvokeModelWithBidirectionalStream needs its request stream."))?;
    let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
    let session = Session::new(stable_hash(services.seed ^ n, model.model_id.as_bytes()));
    let answered_by = match &first {
        Some((rule, _)) => AnsweredBy::Scenario(rule.clone()),
        None => AnsweredBy::Synthetic,
    };
    let turns = Turns { services: services.clone(), model, first, headers: req.headers.clone() };
    let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
    tokio::spawn(run(input, tx, session, turns));
    Ok(Plan::stream_from(StepStream::channel(rx)).answered_by(answered_by))
}

/// Who answers each turn.
struct Turns {
    services: Services,
    model: &'static FoundationModel,
    first: Option<(String, ReplySpec)>,
    headers: Arc<http::HeaderMap>,
}

impl Turns {
    fn reply(&mut self, conversation: &Conversation) -> Result<Reply, BedrockError> {
        let tokens = input_tokens(conversation);
        let (rule, spec) = match self.first.take() {
            Some(first) => first,
            None => {
                let mut input = MatchInput {
                    operation: OPERATION.to_string(),
                    model_id: Some(self.model.model_id.clone()),
                    headers: RequestHeaders::shared(self.headers.clone()),
                    ..Default::default()
                };
                input.with_conversation(&self.model.model_id, conversation);
                let fits = |r: &ReplySpec| matches!(r.kind, ReplyKind::Content { .. } | ReplyKind::Error(_));
                match self.services.scenarios.decide(&input, &fits, self.services.strict) {
                    Decision::Reply { rule, reply } => (rule, reply),
                    Decision::NoMatch { closest } => {
                        if let Some(refusal) = respond::strict_refusal(&self.services, &input, closest.as_ref(), None) {
                            return Err(refusal);
                        }
                        context_window::check(self.model, tokens, context_window::Operation::Invoke)?;
                        return Ok(self.services.synthetic.reply_as(self.model, conversation));
                    }
                }
            }
        };
        match &spec.kind {
            ReplyKind::Content { text, tool_uses } => {
                Ok(respond::content_reply(&spec, text.as_deref(), tool_uses, tokens, self.services.seed))
            }
            ReplyKind::Error(e) => Err(respond::scenario_error(e)),
            _ => Err(respond::misfit(&rule, "json/output/body/stream", OPERATION)),
        }
    }
}

/// The `chunk` frame carrying one output event.
fn chunk(event: &OutputEvent) -> StreamStep {
    let bytes = serde_json::to_vec(&event.json).unwrap_or_default();
    let payload = serde_json::json!({"bytes": base64::engine::general_purpose::STANDARD.encode(bytes)});
    let frame = Frame::Event { event_type: "chunk".into(), payload: Bytes::from(payload.to_string()) };
    if event.tokens > 0 {
        StreamStep::content(frame, event.tokens)
    } else {
        StreamStep::frame(frame)
    }
}

/// Sends `events`; false once the client is gone.
async fn send_all(tx: &mpsc::Sender<StreamStep>, events: &[OutputEvent]) -> bool {
    for e in events {
        if tx.send(chunk(e)).await.is_err() {
            return false;
        }
    }
    true
}

/// Ends the output with an exception.
async fn fail(tx: &mpsc::Sender<StreamStep>, error: BedrockError) {
    let _ = tx.send(StreamStep::frame(error.stream_frame())).await;
}

/// Reads one `chunk` message into the Nova Sonic event it carries.
fn event_bytes(message: &crate::wire::event_stream::InputMessage) -> Result<Vec<u8>, BedrockError> {
    use crate::families::nova_sonic::INVALID_INPUT;
    if message.event_type.as_deref() != Some("chunk") {
        return Err(BedrockError::validation(format!(
            "The input stream may only carry chunk events, not {}. {INVALID_INPUT}",
            message.event_type.as_deref().unwrap_or("(none)")
        )));
    }
    let part: serde_json::Value =
        serde_json::from_slice(&message.payload).map_err(|_| BedrockError::validation(INVALID_INPUT))?;
    let encoded = part.get("bytes").and_then(serde_json::Value::as_str).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| BedrockError::validation(INVALID_INPUT))
}

/// The session: reads input events as they come and answers each turn.
async fn run(mut input: InputBody, tx: mpsc::Sender<StreamStep>, mut session: Session, mut turns: Turns) {
    let deadline = tokio::time::Instant::now() + SESSION_LIMIT;
    let mut decoder = InputDecoder::new();
    loop {
        // Every complete frame buffered, in order.
        loop {
            let message = match decoder.next_input() {
                Ok(Some(Input::Message(m))) => m,
                // The client's input ended; what was asked has been answered.
                Ok(Some(Input::End)) => return,
                Ok(None) => break,
                Err(e) => return fail(&tx, BedrockError::validation(e.0)).await,
            };
            let progress = match event_bytes(&message).and_then(|bytes| session.accept(&bytes)) {
                Ok(p) => p,
                Err(e) => return fail(&tx, e).await,
            };
            match progress {
                Progress::Events(events) => {
                    if !send_all(&tx, &events).await {
                        return;
                    }
                }
                Progress::End(events) => {
                    send_all(&tx, &events).await;
                    // The output ends now; the client's end frame is read after it.
                    drop(tx);
                    return drain(input).await;
                }
                Progress::Turn { before, conversation } => {
                    if tx.send(StreamStep::action(StreamAction::Turn)).await.is_err() || !send_all(&tx, &before).await {
                        return;
                    }
                    let answer = match turns.reply(&conversation) {
                        Ok(reply) => session.answer(&reply),
                        Err(e) => return fail(&tx, e).await,
                    };
                    if !send_all(&tx, &answer).await {
                        return;
                    }
                }
            }
        }
        let wait = if session.started() { INPUT_GAP_TIMEOUT } else { FIRST_EVENT_TIMEOUT };
        let next = tokio::select! {
            next = tokio::time::timeout(wait, input.next()) => next,
            () = tokio::time::sleep_until(deadline) => {
                return fail(&tx, BedrockError::new(
                    crate::wire::error::ErrorCode::ModelTimeoutException,
                    "Model has timed out in processing the request.",
                )).await;
            }
            // The client stopped reading and went away.
            () = tx.closed() => return,
        };
        match next {
            Err(_) if session.started() => {
                return fail(&tx, BedrockError::validation(format!(
                    "Timed out waiting for audio bytes or interactive content. Please ensure gaps between audio bytes and interactive content are less than {} seconds",
                    INPUT_GAP_TIMEOUT.as_secs()
                )))
                .await;
            }
            Err(_) => return fail(&tx, BedrockError::validation("Timed out waiting for input events")).await,
            // The body ended without the signed end frame (an unsigned client).
            Ok(None) => {
                if decoder.has_partial() {
                    fail(&tx, BedrockError::validation("The input stream ended inside an event-stream frame.")).await;
                }
                return;
            }
            Ok(Some(Err(_))) => return,
            Ok(Some(Ok(bytes))) => decoder.push(&bytes),
        }
    }
}

/// Reads what the client still sends after `sessionEnd` (its end frame), briefly, so that an
/// HTTP/1.1 connection stays usable.
async fn drain(mut input: InputBody) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while input.next().await.is_some() {} }).await;
}
