//! Choosing the responder (scenario rule or synthetic model) and turning scenario replies into
//! canonical replies, raw bodies or errors. Whatever answers, the operation renders it through
//! the same renderers, so a scripted reply looks exactly like a synthetic one on the wire.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::stream_tokens::content_tokens;
use super::Services;
use crate::canonical::{Reply, ReplyBlock, StopReason, Usage};
use crate::plan::{StreamAction, StreamStep};
use crate::rng::{SplitMix64, StableHasher, BASE64URL_ALPHABET};
use crate::scenario::format::{ErrorSpec, ReplyKind, ReplySpec, StopReasonName, ToolUseSpec};
use crate::scenario::MatchInput;
use crate::synthetic::tokenizer;
use crate::wire::error::{BedrockError, ErrorCode};
use crate::wire::event_stream::Frame;
use std::fmt::Write as _;

/// Whether `operation` can send a reply of this kind.
pub fn fits(kind: &ReplyKind, operation: &str) -> bool {
    match kind {
        ReplyKind::Json { .. } | ReplyKind::Error(_) => true,
        ReplyKind::Content { .. } => {
            matches!(operation, "Converse" | "ConverseStream" | "InvokeModel" | "InvokeModelWithResponseStream")
        }
        ReplyKind::Output(_) => matches!(operation, "Converse" | "ConverseStream"),
        ReplyKind::Body(_) => matches!(operation, "InvokeModel" | "InvokeModelWithResponseStream"),
        ReplyKind::Stream(_) => matches!(operation, "ConverseStream" | "InvokeModelWithResponseStream"),
        ReplyKind::AsyncFailure(_) => operation == "StartAsyncInvoke",
    }
}

/// The `answeredBy` label of a scenario rule.
pub fn scenario_label(rule: &str) -> String {
    format!("scenario:{rule}")
}

/// The refusal of `--strict` mode for an inference request that nothing scripted or recorded
/// answers: it names the closest rule and why it failed (and, with replay, the nearest
/// cassette's differences in `also`).
pub fn strict_refusal(
    services: &Services,
    input: &MatchInput,
    closest: Option<&(String, Vec<String>)>,
    also: Option<&str>,
) -> Option<BedrockError> {
    let inference = matches!(
        input.operation.as_str(),
        "Converse" | "ConverseStream" | "InvokeModel" | "InvokeModelWithResponseStream"
    );
    if !(services.strict && inference) {
        return None;
    }
    let detail = match closest {
        Some((rule, failures)) => format!(" The closest rule, {rule}, failed because: {}.", failures.join("; ")),
        None => " No scenario rules are loaded.".to_string(),
    };
    let also = also.map(|a| format!(" {a}")).unwrap_or_default();
    Some(BedrockError::validation(format!(
        "bedrock-emulator runs in strict mode and no scenario rule matched this {} request.{detail}{also}",
        input.operation
    )))
}

/// The AWS error a scenario reply describes, with the members its type carries.
pub fn scenario_error(spec: &ErrorSpec) -> BedrockError {
    BedrockError::modelled(spec.code.0, spec.message.as_deref())
}

/// A scenario reply that does not fit the operation (a native `body` for Converse, …).
pub fn misfit(rule: &str, what: &str, operation: &str) -> BedrockError {
    BedrockError::validation(format!(
        "Scenario rule {rule} answers {operation} with a `{what}` reply, which that operation cannot send. Use {}.",
        match operation {
            "Converse" => "`text`/`toolUse`, `output`, `json` or `error`",
            "ConverseStream" => "`text`/`toolUse`, `output`, `stream`, `json` or `error`",
            "InvokeModel" => "`text`/`toolUse`, `body`, `json` or `error`",
            "InvokeModelWithResponseStream" => "`text`/`toolUse`, `body`, `stream`, `json` or `error`",
            _ => "`json` or `error`",
        }
    ))
}

fn stop_from(name: StopReasonName) -> StopReason {
    match name {
        StopReasonName::EndTurn => StopReason::EndTurn,
        StopReasonName::ToolUse => StopReason::ToolUse,
        StopReasonName::MaxTokens => StopReason::MaxTokens,
        StopReasonName::StopSequence => StopReason::StopSequence,
    }
}

/// A canonical reply from scripted content: text then tool calls, usage from the shared
/// tokenizer (the request's `input_tokens`) unless overridden.
pub fn content_reply(
    spec: &ReplySpec,
    text: Option<&str>,
    tool_uses: &[ToolUseSpec],
    input_tokens: u32,
    seed: u64,
) -> Reply {
    // Seeded only when an id must be made up: hashing a long scripted text cost as much as
    // streaming it.
    let mut seeded = None;
    let mut made_up_id = || {
        seeded
            .get_or_insert_with(|| {
                let mut hasher = StableHasher::new(seed);
                let _ = write!(hasher, "{text:?}{tool_uses:?}");
                SplitMix64::new(hasher.finish())
            })
            .string_from(BASE64URL_ALPHABET, 22)
    };
    let mut content = Vec::new();
    let mut output = 0;
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        output += tokenizer::count(t);
        content.push(ReplyBlock::Text(t.to_string()));
    }
    for t in tool_uses {
        output += tokenizer::count(&t.name) + tokenizer::count(&t.input.to_string());
        content.push(ReplyBlock::ToolUse {
            id: t.id.clone().unwrap_or_else(|| format!("tooluse_{}", made_up_id())),
            name: t.name.clone(),
            input: t.input.clone(),
        });
    }
    let default_stop = if tool_uses.is_empty() { StopReason::EndTurn } else { StopReason::ToolUse };
    let usage = spec.usage.clone().unwrap_or_default();
    let usage = Usage {
        input_tokens: usage.input_tokens.unwrap_or(input_tokens),
        output_tokens: usage.output_tokens.unwrap_or(output),
    };
    Reply {
        content,
        stop_reason: spec.stop_reason.map_or(default_stop, stop_from),
        stop_sequence: None,
        usage,
        latency_ms: 180 + 9 * u64::from(usage.output_tokens),
    }
}

/// Reads a Converse-shaped body (`output.message.content`, `stopReason`, `usage`) into a
/// canonical reply, so one scripted `output` also serves ConverseStream.
pub fn reply_from_converse_output(output: &Value) -> Reply {
    let content = output
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| {
                    if let Some(t) = b.get("text").and_then(Value::as_str) {
                        Some(ReplyBlock::Text(t.to_string()))
                    } else {
                        b.get("toolUse").map(|t| ReplyBlock::ToolUse {
                            id: t.get("toolUseId").and_then(Value::as_str).unwrap_or("tooluse_scripted").to_string(),
                            name: t.get("name").and_then(Value::as_str).unwrap_or("tool").to_string(),
                            input: t.get("input").cloned().unwrap_or_else(|| json!({})),
                        })
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let stop_reason = match output.get("stopReason").and_then(Value::as_str) {
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        _ => StopReason::EndTurn,
    };
    let count = |k: &str| output.pointer(&format!("/usage/{k}")).and_then(Value::as_u64).map_or(0, |n| n as u32);
    Reply {
        content,
        stop_reason,
        stop_sequence: None,
        usage: Usage { input_tokens: count("inputTokens"), output_tokens: count("outputTokens") },
        latency_ms: output.pointer("/metrics/latencyMs").and_then(Value::as_u64).unwrap_or(0),
    }
}

/// Refuses a scripted stream whose exception events the operation's stream union does not
/// carry (ConverseStream has no `modelTimeoutException`): the SDK could not parse them.
pub fn check_stream_exceptions(rule: &str, events: &[Value], operation: &str) -> Result<(), BedrockError> {
    let carried = crate::operations::stream_exceptions(operation);
    for e in events.iter().filter_map(|e| e.get("exception")) {
        let code = e.get("type").and_then(Value::as_str).and_then(ErrorCode::from_name);
        if let Some(code) = code.filter(|c| !carried.iter().any(|x| x == c.name())) {
            return Err(BedrockError::validation(format!(
                "Scenario rule {rule} sends {} inside a {operation} stream, whose event stream cannot carry it; use one of {}.",
                code.name(),
                carried.join(", ")
            )));
        }
    }
    Ok(())
}

/// Stream steps from scripted events: `{eventType: payload}` frames as given (a `chunk`
/// whose `bytes` is a JSON value is base64-encoded for you), `{"exception": {type, message}}`
/// exception frames, and `{"abort": {}}`, which drops the connection mid-body. Each step
/// carries the tokens of generated text in its payload, for pacing.
pub fn scripted_stream(events: &[Value]) -> Vec<StreamStep> {
    events
        .iter()
        .filter_map(|e| e.as_object().and_then(|o| o.iter().next()))
        .map(|(event_type, payload)| {
            if event_type == "abort" {
                return StreamStep::action(StreamAction::Abort);
            }
            if event_type == "exception" {
                let code = payload
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(ErrorCode::from_name)
                    .unwrap_or(ErrorCode::InternalServerException);
                let message = payload.get("message").and_then(Value::as_str);
                return StreamStep::frame(BedrockError::modelled(code, message).stream_frame());
            }
            let mut payload = payload.clone();
            if event_type == "chunk" {
                if let Some(inner) = payload.get("bytes").filter(|b| !b.is_string()).cloned() {
                    payload["bytes"] = json!(base64::engine::general_purpose::STANDARD.encode(inner.to_string()));
                }
            }
            let tokens = content_tokens(&payload);
            let frame = Frame::Event {
                event_type: event_type.clone().into(),
                payload: Bytes::from(serde_json::to_vec(&payload).unwrap_or_default()),
            };
            StreamStep::content(frame, tokens)
        })
        .collect()
}
