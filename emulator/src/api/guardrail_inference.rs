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

/// Reads the guardrail version `parsed` names, and the account's enforced guardrail for
/// `model` (sent as `model_id`), from the state into it.
pub fn resolve(
    parsed: &mut ConverseRequest,
    services: &Services,
    scope: &Scope,
    model: &str,
    model_id: &str,
) -> Result<(), BedrockError> {
    parsed.enforced = enforced(services, scope, model, model_id);
    let Some(g) = &mut parsed.guardrail else { return Ok(()) };
    g.doc = lookup(services, scope, &g.identifier, &g.version)?;
    Ok(())
}

/// The `appliedGuardrailDetails` of an assessment of `guardrail` at `version`, named in the
/// request.
pub fn details(guardrail: &Value, version: &str) -> Value {
    details_from(guardrail, version, Origin::Request)
}

/// Where an applied guardrail came from (`appliedGuardrailDetails.guardrailOrigin`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Origin {
    /// Named by the request.
    Request,
    /// The account's enforced guardrail configuration.
    AccountEnforced,
}

fn details_from(guardrail: &Value, version: &str, origin: Origin) -> Value {
    let origin = match origin {
        Origin::Request => "REQUEST",
        Origin::AccountEnforced => "ACCOUNT_ENFORCED",
    };
    json!({
        "guardrailArn": guardrail["guardrailArn"],
        "guardrailId": guardrail["guardrailId"],
        "guardrailOrigin": [origin],
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

/// The account's enforced guardrail, when one applies to a request: the stored version it
/// names and which content it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Enforced {
    /// The guardrail version as stored.
    pub doc: Value,
    /// Its (numbered) version.
    pub version: String,
    /// `selectiveContentGuarding.system` is not `SELECTIVE`: every system prompt is read.
    pub all_system: bool,
    /// `selectiveContentGuarding.messages` is not `SELECTIVE`: every message text is read,
    /// `guardContent` tags or not.
    pub all_messages: bool,
}

/// The enforced guardrail that applies to a request answered by `model` and sent as
/// `model_id` in `scope`, if the account configured one (a guardrail deleted since is skipped).
pub fn enforced(services: &Services, scope: &Scope, model: &str, model_id: &str) -> Option<Box<Enforced>> {
    use crate::backend::account_settings;
    let bare = crate::backend::catalog::parse_arn(model_id).map_or(model_id, |a| a.resource_id);
    services.state.read(scope, |space| {
        let config = account_settings::enforced_for(space, &[model, model_id, bare])?;
        let version = config["guardrailVersion"].as_str()?;
        let doc = guardrails::get(space, scope, config["guardrailId"].as_str()?, Some(version)).ok()?;
        let selective = |key: &str| config["selectiveContentGuarding"][key] == "SELECTIVE";
        Some(Box::new(Enforced {
            doc,
            version: version.to_string(),
            all_system: !selective("system"),
            all_messages: !selective("messages"),
        }))
    })
}

/// One guardrail to apply: its stored version, where it came from, and the input it reads.
pub struct Applying<'a> {
    /// The stored version.
    pub doc: &'a Value,
    /// Its version.
    pub version: &'a str,
    /// Request or account-enforced.
    pub origin: Origin,
    /// The input texts it evaluates.
    pub inputs: Vec<&'a str>,
    /// The output is evaluated as it streams.
    pub asynchronous: bool,
}

/// Each guardrail applied in turn (the request's, then the account's enforced one), each to the
/// reply the one before let out; a blocked input stops there (the model is not asked, and no
/// later guardrail runs). Empty when none applies.
pub fn guard_each(reply: &Reply, guards: &[Applying<'_>]) -> Vec<Guarded> {
    let mut out: Vec<Guarded> = Vec::new();
    for g in guards {
        let current = out.last().map_or(reply, |last| &last.reply);
        let guarded = guard_from(current, &g.inputs, g.doc, g.version, g.origin, g.asynchronous);
        let blocked = guarded.input.blocked;
        out.push(guarded);
        if blocked {
            break;
        }
    }
    out
}

/// `guardrail` (its stored version `version`) applied to `inputs` and then to `reply`, the
/// output evaluated whole (sync) or as it streams (`asynchronous`).
pub fn guard(reply: &Reply, inputs: &[&str], guardrail: &Value, version: &str, asynchronous: bool) -> Guarded {
    guard_from(reply, inputs, guardrail, version, Origin::Request, asynchronous)
}

fn guard_from(
    reply: &Reply,
    inputs: &[&str],
    guardrail: &Value,
    version: &str,
    origin: Origin,
    asynchronous: bool,
) -> Guarded {
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
        applied: details_from(guardrail, version, origin),
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

/// The reply as the request's guardrail and the account's enforced one let it out, and the
/// Converse `trace` member when the request asks for it; None when no guardrail applies.
pub fn apply(reply: &Reply, parsed: &ConverseRequest) -> Option<(Reply, Option<Value>)> {
    let mut guards = Vec::new();
    let (message_guards, system_guards) = parsed.guard_content.split_at(parsed.message_guard_count);
    if let Some(config) = &parsed.guardrail {
        let inputs: Vec<&str> = if parsed.guard_content.is_empty() {
            message_texts(&parsed.conversation)
        } else {
            parsed.guard_content.iter().map(String::as_str).collect()
        };
        guards.push(Applying {
            doc: &config.doc,
            version: &config.version,
            origin: Origin::Request,
            inputs,
            asynchronous: config.asynchronous,
        });
    }
    if let Some(e) = &parsed.enforced {
        // Messages: every text, or (SELECTIVE) the tagged ones when there are any; system
        // prompts: every one, or (SELECTIVE) only tagged ones.
        let mut inputs: Vec<&str> = if e.all_messages || message_guards.is_empty() {
            message_texts(&parsed.conversation)
        } else {
            message_guards.iter().map(String::as_str).collect()
        };
        if e.all_system {
            inputs.extend(parsed.conversation.system.iter().map(String::as_str));
        } else {
            inputs.extend(system_guards.iter().map(String::as_str));
        }
        let asynchronous = parsed.guardrail.as_ref().is_some_and(|c| c.asynchronous);
        guards.push(Applying {
            doc: &e.doc,
            version: &e.version,
            origin: Origin::AccountEnforced,
            inputs,
            asynchronous,
        });
    }
    let applied = guard_each(reply, &guards);
    let last = applied.last()?;
    let trace_mode = parsed.guardrail.as_ref().map_or("disabled", |c| c.trace.as_str());
    if trace_mode == "disabled" {
        return Some((last.reply.clone(), None));
    }
    let mut trace = serde_json::Map::new();
    let deciding = applied.iter().find(|g| g.intervened()).unwrap_or(last);
    trace.insert("actionReason".into(), json!(deciding.action_reason()));
    let mut input = serde_json::Map::new();
    let mut outputs = serde_json::Map::new();
    for g in &applied {
        input.insert(g.id.clone(), g.input.assessment_with(g.applied.clone(), 0));
        if let Some(o) = &g.output {
            outputs.insert(g.id.clone(), json!([o.assessment_with(g.applied.clone(), 0)]));
        }
    }
    trace.insert("inputAssessment".into(), Value::Object(input));
    let unguarded = applied.iter().find_map(|g| g.model_output.as_ref());
    if let (Some(text), "enabled_full") = (unguarded, trace_mode) {
        trace.insert("modelOutput".into(), json!([text]));
    }
    if !outputs.is_empty() {
        trace.insert("outputAssessments".into(), Value::Object(outputs));
    }
    Some((last.reply.clone(), Some(json!({ "guardrail": Value::Object(trace) }))))
}

/// The members an InvokeModel body (or a stream's last chunk) carries for the guardrails
/// applied: `amazon-bedrock-guardrailAction`, and `amazon-bedrock-trace` when `trace` is on.
pub fn native_members(applied: &[Guarded], trace: bool) -> Vec<(&'static str, Value)> {
    let intervened = applied.iter().any(Guarded::intervened);
    let mut members = vec![("amazon-bedrock-guardrailAction", json!(if intervened { "INTERVENED" } else { "NONE" }))];
    if trace {
        let mut input = serde_json::Map::new();
        let mut outputs = serde_json::Map::new();
        for g in applied {
            input.insert(g.id.clone(), g.input.assessment_with(g.applied.clone(), 0));
            if let Some(o) = &g.output {
                outputs.insert(g.id.clone(), o.assessment_with(g.applied.clone(), 0));
            }
        }
        let mut guardrail = serde_json::Map::new();
        guardrail.insert("input".into(), Value::Object(input));
        if !outputs.is_empty() {
            guardrail.insert("outputs".into(), json!([Value::Object(outputs)]));
        }
        members.push(("amazon-bedrock-trace", json!({ "guardrail": Value::Object(guardrail) })));
    }
    members
}
