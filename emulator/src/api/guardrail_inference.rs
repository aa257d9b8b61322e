//! A guardrail applied at inference — Converse / ConverseStream `guardrailConfig`, and the
//! InvokeModel / InvokeModelWithResponseStream guardrail headers — to the conversation and
//! the reply, with the same evaluator as ApplyGuardrail ([`crate::backend::guardrail_eval`]).
//!
//! * The input is the text of the request's `guardContent` blocks when it has any (messages
//!   and system), else every text block of `messages`. Blocked input answers the guardrail's
//!   `blockedInputMessaging` with `stopReason: guardrail_intervened` and no output tokens
//!   (the model is not asked).
//! * The reply's text (synthetic or scripted alike) is then evaluated as OUTPUT: blocked, it is
//!   replaced by `blockedOutputsMessaging`; masked, by the masked text; either way the stop
//!   reason is `guardrail_intervened`.
//! * `trace: enabled | enabled_full` adds `trace.guardrail` (`inputAssessment` and
//!   `outputAssessments` keyed by guardrail id, `actionReason`, and with `enabled_full` the
//!   unguarded `modelOutput` when the output was changed).
//! * Streams in the default `sync` mode are evaluated whole before the first event. In `async`
//!   mode (ConverseStream `streamProcessingMode: async`, IMWRS
//!   `amazon-bedrock-guardrailConfig.streamProcessingMode: ASYNCHRONOUS`) the reply streams as
//!   generated until the guardrail would block it: the text ends after the shortest run of
//!   words the guardrail blocks (what a client has already seen when the background scan
//!   catches up), the rest is not sent, and the stop reason is `guardrail_intervened`. Masking
//!   is not applied in async mode (Bedrock does not support it there): masked text passes.
//! * InvokeModel bodies (and the last chunk of a stream) carry
//!   `amazon-bedrock-guardrailAction` (`INTERVENED` / `NONE`) and, with
//!   `X-Amzn-Bedrock-Trace: ENABLED | ENABLED_FULL`, `amazon-bedrock-trace.guardrail` with the
//!   `input` assessment and the `outputs` assessments keyed by guardrail id.

use serde_json::{json, Value};

use super::converse::ConverseRequest;
use super::Services;
use crate::backend::guardrail_eval::{self, Evaluation, Source, TextBlock, REASON_NONE};
use crate::backend::guardrails;
use crate::backend::state::Scope;
use crate::canonical::{Block, Conversation, Reply, ReplyBlock, StopReason};
use crate::wire::error::BedrockError;

fn missing() -> BedrockError {
    BedrockError::validation("The guardrail identifier or version provided in the request does not exist.")
}

/// The stored guardrail version `identifier`/`version` name, or Bedrock's refusal.
pub fn lookup(services: &Services, scope: &Scope, identifier: &str, version: &str) -> Result<Value, BedrockError> {
    if version.is_empty() {
        return Err(missing());
    }
    services.state.read(scope, |space| guardrails::get(space, scope, identifier, Some(version))).map_err(|_| missing())
}

/// Reads the guardrail version `parsed` names from the state into it (nothing to do when
/// it names none).
pub fn resolve(parsed: &mut ConverseRequest, services: &Services, scope: &Scope) -> Result<(), BedrockError> {
    let Some(g) = &mut parsed.guardrail else { return Ok(()) };
    g.doc = lookup(services, scope, &g.identifier, &g.version)?;
    Ok(())
}

/// The `appliedGuardrailDetails` of an assessment of `guardrail` at `version`.
pub fn details(guardrail: &Value, version: &str) -> Value {
    json!({
        "guardrailArn": guardrail["guardrailArn"],
        "guardrailId": guardrail["guardrailId"],
        "guardrailOrigin": ["REQUEST"],
        "guardrailOwnership": "SELF",
        "guardrailVersion": version,
    })
}

/// What a guardrail made of one exchange.
pub struct Guarded {
    /// The reply as the guardrail lets it out.
    pub reply: Reply,
    /// The input's evaluation.
    pub input: Evaluation,
    /// The reply's evaluation (None when the input was blocked and no model ran).
    pub output: Option<Evaluation>,
    /// The reply's text before the guardrail changed it.
    pub model_output: Option<String>,
    /// `guardrailId`.
    pub id: String,
    /// The version applied, and its `appliedGuardrailDetails`.
    pub applied: Value,
}

impl Guarded {
    /// Whether either evaluation intervened.
    pub fn intervened(&self) -> bool {
        self.input.intervened || self.output.as_ref().is_some_and(|o| o.intervened)
    }

    fn action_reason(&self) -> String {
        let deciding =
            if self.input.intervened { Some(&self.input) } else { self.output.as_ref().filter(|o| o.intervened) };
        deciding.map_or(REASON_NONE.to_string(), |e| e.action_reason.clone())
    }
}

/// The shortest word prefix of `text` that `guardrail` blocks as output (`text` itself is
/// blocked). A binary search over word ends: a blocked prefix stays blocked as it grows (a
/// word, a pattern, a topic key word found stays found).
fn blocked_prefix<'t>(guardrail: &Value, text: &'t str) -> &'t str {
    let ends: Vec<usize> = text
        .char_indices()
        .filter(|&(i, c)| !c.is_whitespace() && text[i + c.len_utf8()..].chars().next().is_none_or(char::is_whitespace))
        .map(|(i, c)| i + c.len_utf8())
        .collect();
    let blocked = |end: usize| {
        guardrail_eval::evaluate(guardrail, Source::Output, &[TextBlock::new(&text[..end])], false).blocked
    };
    let (mut lo, mut hi) = (0, ends.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if blocked(ends[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    ends.get(lo).map_or(text, |&end| &text[..end])
}

/// `guardrail` (its stored version `version`) applied to `inputs` and then to `reply`, the
/// output evaluated whole (sync) or as it streams (`asynchronous`).
pub fn guard(reply: &Reply, inputs: &[&str], guardrail: &Value, version: &str, asynchronous: bool) -> Guarded {
    let blocks: Vec<TextBlock> = inputs.iter().map(|t| TextBlock::new(t)).collect();
    let input = guardrail_eval::evaluate(guardrail, Source::Input, &blocks, false);
    let mut out = reply.clone();
    let mut output = None;
    let mut model_output = None;
    if input.blocked {
        // A blocked evaluation's one output is the guardrail's blocked message.
        out.content = vec![ReplyBlock::Text(input.outputs.first().cloned().unwrap_or_default())];
        out.stop_reason = StopReason::GuardrailIntervened;
        out.stop_sequence = None;
        out.usage.output_tokens = 0;
    } else {
        let text = reply.text();
        let evaluation = guardrail_eval::evaluate(guardrail, Source::Output, &[TextBlock::new(&text)], false);
        if asynchronous {
            if evaluation.blocked {
                // What had streamed when the scan caught up; the rest is never sent.
                let seen = blocked_prefix(guardrail, &text).to_string();
                out.content = vec![ReplyBlock::Text(seen)];
                out.stop_reason = StopReason::GuardrailIntervened;
                out.stop_sequence = None;
                model_output = Some(text);
            }
        } else if evaluation.intervened {
            // Blocked: the blocked message; masked: the masked text (one block was evaluated).
            let replacement = evaluation.outputs.first().cloned().unwrap_or_default();
            out.content.retain(|b| !matches!(b, ReplyBlock::Text(_)));
            out.content.push(ReplyBlock::Text(replacement));
            out.stop_reason = StopReason::GuardrailIntervened;
            out.stop_sequence = None;
            model_output = Some(text);
        }
        output = Some(evaluation);
    }
    Guarded {
        reply: out,
        input,
        output,
        model_output,
        id: guardrail["guardrailId"].as_str().unwrap_or_default().to_string(),
        applied: details(guardrail, version),
    }
}

/// The text blocks of a conversation's messages: what a guardrail evaluates as input when the
/// request marks no guard content.
pub fn message_texts(conversation: &Conversation) -> Vec<&str> {
    conversation
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// The reply as the request's guardrail lets it out, and the Converse `trace` member when
/// asked for; None when the request names no guardrail.
pub fn apply(reply: &Reply, parsed: &ConverseRequest) -> Option<(Reply, Option<Value>)> {
    let config = parsed.guardrail.as_ref()?;
    let inputs: Vec<&str> = if parsed.guard_content.is_empty() {
        message_texts(&parsed.conversation)
    } else {
        parsed.guard_content.iter().map(String::as_str).collect()
    };
    let g = guard(reply, &inputs, &config.doc, &config.version, config.asynchronous);
    if config.trace == "disabled" {
        return Some((g.reply, None));
    }
    let mut trace = serde_json::Map::new();
    trace.insert("actionReason".into(), json!(g.action_reason()));
    trace.insert("inputAssessment".into(), json!({ g.id.clone(): g.input.assessment_with(g.applied.clone(), 0) }));
    if let (Some(text), "enabled_full") = (&g.model_output, config.trace.as_str()) {
        trace.insert("modelOutput".into(), json!([text]));
    }
    if let Some(o) = &g.output {
        trace.insert("outputAssessments".into(), json!({ g.id.clone(): [o.assessment_with(g.applied.clone(), 0)] }));
    }
    Some((g.reply, Some(json!({ "guardrail": Value::Object(trace) }))))
}

/// The members an InvokeModel body (or a stream's last chunk) carries for `g`:
/// `amazon-bedrock-guardrailAction`, and `amazon-bedrock-trace` when `trace` is on.
pub fn native_members(g: &Guarded, trace: bool) -> Vec<(&'static str, Value)> {
    let mut members =
        vec![("amazon-bedrock-guardrailAction", json!(if g.intervened() { "INTERVENED" } else { "NONE" }))];
    if trace {
        let mut guardrail = serde_json::Map::new();
        guardrail.insert("input".into(), json!({ g.id.clone(): g.input.assessment_with(g.applied.clone(), 0) }));
        if let Some(o) = &g.output {
            guardrail.insert("outputs".into(), json!([{ g.id.clone(): o.assessment_with(g.applied.clone(), 0) }]));
        }
        members.push(("amazon-bedrock-trace", json!({ "guardrail": Value::Object(guardrail) })));
    }
    members
}
