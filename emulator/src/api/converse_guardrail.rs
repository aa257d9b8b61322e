//! A Converse / ConverseStream `guardrailConfig` applied to the conversation and the reply,
//! with the same evaluator as ApplyGuardrail ([`crate::backend::guardrail_eval`]).
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
//!   unguarded `modelOutput` when the output was changed). Streams are evaluated whole before
//!   the first event (as `streamProcessingMode: sync`; `async` is answered the same way).

use serde_json::{json, Value};

use super::converse::ConverseRequest;
use super::Services;
use crate::backend::guardrail_eval::{self, Evaluation, Source, TextBlock, REASON_NONE};
use crate::backend::guardrails;
use crate::backend::state::Scope;
use crate::canonical::{Block, Reply, ReplyBlock, StopReason};
use crate::wire::error::BedrockError;

fn missing() -> BedrockError {
    BedrockError::validation("The guardrail identifier or version provided in the request does not exist.")
}

/// Reads the guardrail version `parsed` names from the state into it (nothing to do when
/// it names none).
pub fn resolve(parsed: &mut ConverseRequest, services: &Services, scope: &Scope) -> Result<(), BedrockError> {
    let Some(g) = &mut parsed.guardrail else { return Ok(()) };
    if g.version.is_empty() {
        return Err(missing());
    }
    g.doc = services
        .state
        .read(scope, |space| guardrails::get(space, scope, &g.identifier, Some(&g.version)))
        .map_err(|_| missing())?;
    Ok(())
}

fn details(guardrail: &Value, version: &str) -> Value {
    json!({
        "guardrailArn": guardrail["guardrailArn"],
        "guardrailId": guardrail["guardrailId"],
        "guardrailOrigin": ["REQUEST"],
        "guardrailOwnership": "SELF",
        "guardrailVersion": version,
    })
}

/// The reply as the request's guardrail lets it out, and the `trace` member when asked for;
/// None when the request names no guardrail.
pub fn apply(reply: &Reply, parsed: &ConverseRequest) -> Option<(Reply, Option<Value>)> {
    let config = parsed.guardrail.as_ref()?;
    let guardrail = &config.doc;
    let id = guardrail["guardrailId"].as_str().unwrap_or_default().to_string();
    let inputs: Vec<&str> = if parsed.guard_content.is_empty() {
        parsed
            .conversation
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    } else {
        parsed.guard_content.iter().map(String::as_str).collect()
    };
    let blocks: Vec<TextBlock> = inputs.into_iter().map(TextBlock::new).collect();
    let input = guardrail_eval::evaluate(guardrail, Source::Input, &blocks, false);
    let mut out = reply.clone();
    let mut output: Option<Evaluation> = None;
    let mut model_output = None;
    if input.blocked {
        let message = guardrail["blockedInputMessaging"].as_str().unwrap_or_default().to_string();
        out.content = vec![ReplyBlock::Text(message)];
        out.stop_reason = StopReason::GuardrailIntervened;
        out.stop_sequence = None;
        out.usage.output_tokens = 0;
    } else {
        let text = reply.text();
        let evaluation = guardrail_eval::evaluate(guardrail, Source::Output, &[TextBlock::new(&text)], false);
        if evaluation.intervened {
            let replacement = if evaluation.blocked {
                guardrail["blockedOutputsMessaging"].as_str().unwrap_or_default().to_string()
            } else {
                evaluation.outputs.first().cloned().unwrap_or_default()
            };
            out.content.retain(|b| !matches!(b, ReplyBlock::Text(_)));
            out.content.push(ReplyBlock::Text(replacement));
            out.stop_reason = StopReason::GuardrailIntervened;
            out.stop_sequence = None;
            model_output = Some(text);
        }
        output = Some(evaluation);
    }
    if config.trace == "disabled" {
        return Some((out, None));
    }
    let applied = details(guardrail, &config.version);
    let deciding = if input.intervened { Some(&input) } else { output.as_ref().filter(|o| o.intervened) };
    let mut trace = serde_json::Map::new();
    trace.insert("actionReason".into(), json!(deciding.map_or(REASON_NONE.to_string(), |e| e.action_reason.clone())));
    trace.insert("inputAssessment".into(), json!({ id.clone(): input.assessment_with(applied.clone(), 0) }));
    if let (Some(text), "enabled_full") = (&model_output, config.trace.as_str()) {
        trace.insert("modelOutput".into(), json!([text]));
    }
    if let Some(o) = &output {
        trace.insert("outputAssessments".into(), json!({ id: [o.assessment_with(applied, 0)] }));
    }
    Some((out, Some(json!({ "guardrail": Value::Object(trace) }))))
}
