//! Anthropic Claude, Messages API on Bedrock (`anthropic_version: bedrock-2023-05-31`), SPEC §7.1.
//!
//! Validation is two-layered like the real service: Bedrock's schema check (everit wording,
//! `Malformed input request: …`), then Anthropic's own checks (`max_tokens: N > M, which is
//! the maximum allowed …`, tool_use/tool_result pairing).

use base64::Engine;
use serde_json::{json, Value};

use super::native_schema::{validate, violations};
use super::{NativeReply, RenderMeta, TextFamily};
use crate::backend::catalog::FoundationModel;
use crate::canonical::text_deltas;
use crate::canonical::{
    Block, Conversation, InferenceConfig, Message, Reply, ReplyBlock, Role, StopReason, ToolChoice, ToolSpec,
};
use crate::wire::error::BedrockError;

/// The Messages API family.
#[derive(Debug, Clone, Copy)]
pub struct Anthropic;

/// Alphabet of Anthropic message and tool ids (base58-like).
const ID_ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Characters of tool input JSON per `input_json_delta`.
const JSON_CHUNK: usize = 16;

fn request_schema() -> Value {
    let text_block = json!({"type": "object"});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["anthropic_version", "max_tokens", "messages"],
        "properties": {
            // `bedrock-2023-05-31` is the documented value; the official Anthropic SDKs 2.x send
            // dated API versions (e.g. `2026-10-21`) to Bedrock, so any non-empty version passes.
            "anthropic_version": {"type": "string", "minLength": 1},
            "anthropic_beta": {"type": "array", "items": {"type": "string"}},
            "max_tokens": {"type": "integer", "minimum": 1},
            "messages": {"type": "array", "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": ["user", "assistant"]},
                    "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object", "required": ["type"]}}]}
                }
            }},
            "system": {"anyOf": [{"type": "string"}, {"type": "array", "items": text_block}]},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "top_k": {"type": "integer", "minimum": 0},
            "stop_sequences": {"type": "array", "items": {"type": "string"}},
            "tools": {"type": "array", "items": {"type": "object", "required": ["name"]}},
            "tool_choice": {"type": "object", "required": ["type"], "properties": {
                "type": {"type": "string", "enum": ["auto", "any", "tool", "none"]},
                "name": {"type": "string"}
            }},
            "thinking": {"type": "object", "required": ["type"], "properties": {
                "type": {"type": "string", "enum": ["enabled", "disabled", "adaptive"]},
                "budget_tokens": {"type": "integer"}
            }},
            "metadata": {"type": "object"},
            "output_config": {"type": "object"},
            "context_management": {"type": "object"}
        }
    })
}

/// Anthropic's API name of a Bedrock model id (`anthropic.claude-3-5-sonnet-20240620-v1:0` →
/// `claude-3-5-sonnet-20240620`).
pub fn api_model_name(model_id: &str) -> String {
    let bare = model_id.strip_prefix("anthropic.").unwrap_or(model_id);
    match bare.rfind("-v") {
        Some(i) if bare[i + 2..].chars().next().is_some_and(|c| c.is_ascii_digit()) && bare[..i].contains('-') => {
            bare[..i].to_string()
        }
        _ => bare.to_string(),
    }
}

/// Anthropic's rules for `thinking.budget_tokens` (shared with Converse's pass-through).
pub fn check_thinking_budget(budget: i64, max_tokens: Option<u64>) -> Result<(), BedrockError> {
    if budget < 1024 {
        return Err(BedrockError::validation(format!(
            "The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024 (got {budget})"
        )));
    }
    if let Some(max) = max_tokens.filter(|m| i64::try_from(*m).is_ok_and(|m| m <= budget)) {
        return Err(BedrockError::validation(format!(
            "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size (max_tokens={max}, budget_tokens={budget})"
        )));
    }
    Ok(())
}

fn anthropic_error(message: impl Into<String>) -> BedrockError {
    BedrockError::validation(message)
}

fn text_of_tool_result(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_string),
                Some("json") => b.get("json").map(Value::to_string),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn parse_block(block: &Value, i: usize, j: usize) -> Result<Block, BedrockError> {
    let ty = block.get("type").and_then(Value::as_str).unwrap_or_default();
    let path = format!("#/messages/{i}/content/{j}");
    let need = |key: &str, schema: Value| -> Result<(), BedrockError> {
        let errors = violations(block, &json!({"type": "object", "required": [key], "properties": {key: schema}}));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(super::native_schema::malformed(&errors.iter().map(|e| e.replacen('#', &path, 1)).collect::<Vec<_>>()))
        }
    };
    Ok(match ty {
        "text" => {
            need("text", json!({"type": "string"}))?;
            let text = block.get("text").and_then(Value::as_str).unwrap_or_default();
            if text.is_empty() {
                return Err(anthropic_error(format!(
                    "messages.{i}.content.{j}.text: text content blocks must be non-empty"
                )));
            }
            Block::Text(text.to_string())
        }
        "image" | "document" => {
            need("source", json!({"type": "object"}))?;
            let source = &block["source"];
            let size = source
                .get("data")
                .and_then(Value::as_str)
                .map(|d| base64::engine::general_purpose::STANDARD.decode(d).map(|b| b.len()))
                .transpose()
                .map_err(|_| anthropic_error(format!("messages.{i}.content.{j}.source.data: invalid base64 data")))?
                .unwrap_or(0);
            let media = source.get("media_type").and_then(Value::as_str).unwrap_or("");
            let format = media.rsplit('/').next().unwrap_or("").to_string();
            if ty == "image" {
                Block::Image { format, size }
            } else {
                let name = block.get("title").and_then(Value::as_str).unwrap_or("document").to_string();
                Block::Document { name, format, size }
            }
        }
        "tool_use" => {
            need("id", json!({"type": "string"}))?;
            need("name", json!({"type": "string"}))?;
            need("input", json!({"type": "object"}))?;
            Block::ToolUse {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                name: block["name"].as_str().unwrap_or_default().to_string(),
                input: block["input"].clone(),
            }
        }
        "tool_result" => {
            need("tool_use_id", json!({"type": "string"}))?;
            Block::ToolResult {
                id: block["tool_use_id"].as_str().unwrap_or_default().to_string(),
                text: text_of_tool_result(block.get("content")),
                is_error: block.get("is_error").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        "thinking" => Block::Reasoning(block.get("thinking").and_then(Value::as_str).unwrap_or_default().to_string()),
        "redacted_thinking" => Block::Reasoning(String::new()),
        "" => return Err(anthropic_error(format!("messages.{i}.content.{j}.type: Field required"))),
        other => Block::Other(other.to_string()),
    })
}

fn check_tool_pairing(messages: &[Message]) -> Result<(), BedrockError> {
    for (i, pair) in messages.windows(2).enumerate() {
        let uses: Vec<&str> = pair[0]
            .content
            .iter()
            .filter_map(|b| if let Block::ToolUse { id, .. } = b { Some(id.as_str()) } else { None })
            .collect();
        let results: Vec<&str> = pair[1]
            .content
            .iter()
            .filter_map(|b| if let Block::ToolResult { id, .. } = b { Some(id.as_str()) } else { None })
            .collect();
        if let Some(orphan) = results.iter().find(|r| !uses.contains(r)) {
            return Err(anthropic_error(format!(
                "messages.{}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {orphan}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
                i + 1
            )));
        }
        if !uses.is_empty() && results.len() < uses.len() {
            return Err(anthropic_error(format!(
                "messages.{}: Did not find {} `tool_result` block(s) at the beginning of this message. Messages following `tool_use` blocks must begin with a matching number of `tool_result` blocks.",
                i + 1,
                uses.len() - results.len()
            )));
        }
    }
    if let Some(first) = messages.first() {
        if let Some(Block::ToolResult { id, .. }) = first.content.iter().find(|b| matches!(b, Block::ToolResult { .. }))
        {
            return Err(anthropic_error(format!(
                "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
            )));
        }
    }
    Ok(())
}

impl TextFamily for Anthropic {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        validate(body, &request_schema())?;
        let max_tokens = super::native_schema::count(body.get("max_tokens")).map_or(1, u64::from);
        let cap = u64::from(model.emulator.max_output_tokens);
        if max_tokens > cap {
            return Err(anthropic_error(format!(
                "max_tokens: {max_tokens} > {cap}, which is the maximum allowed number of output tokens for {}",
                api_model_name(&model.model_id)
            )));
        }
        let raw_messages = body["messages"].as_array().cloned().unwrap_or_default();
        if raw_messages.is_empty() {
            return Err(anthropic_error("messages: at least one message is required"));
        }
        let mut messages = Vec::with_capacity(raw_messages.len());
        for (i, m) in raw_messages.iter().enumerate() {
            let role = if m["role"] == "user" { Role::User } else { Role::Assistant };
            let content = match &m["content"] {
                Value::String(s) => {
                    if s.is_empty() {
                        return Err(anthropic_error(format!(
                            "messages.{i}.content: text content blocks must be non-empty"
                        )));
                    }
                    vec![Block::Text(s.clone())]
                }
                Value::Array(blocks) => {
                    if blocks.is_empty() && !(role == Role::Assistant && i + 1 == raw_messages.len()) {
                        return Err(anthropic_error(format!(
                            "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
                        )));
                    }
                    blocks.iter().enumerate().map(|(j, b)| parse_block(b, i, j)).collect::<Result<Vec<_>, _>>()?
                }
                _ => Vec::new(),
            };
            messages.push(Message { role, content });
        }
        // Unlike Converse, the Messages API accepts consecutive turns of one role (it merges
        // them), as a recorded IMWRS session with a tool_result turn followed by a user turn shows.
        check_tool_pairing(&messages)?;
        let system = match body.get("system") {
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            Some(Value::Array(blocks)) => {
                blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).map(str::to_string).collect()
            }
            _ => Vec::new(),
        };
        let mut tools = Vec::new();
        for t in body.get("tools").and_then(Value::as_array).into_iter().flatten() {
            // Server tools (typed, e.g. web search) are accepted and never called.
            if t.get("type").and_then(Value::as_str).is_some_and(|ty| ty != "custom") {
                continue;
            }
            tools.push(ToolSpec {
                name: t["name"].as_str().unwrap_or_default().to_string(),
                description: t.get("description").and_then(Value::as_str).map(str::to_string),
                input_schema: t.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
            });
        }
        let tool_choice = match body.get("tool_choice").and_then(|c| c.get("type")).and_then(Value::as_str) {
            Some("any") => ToolChoice::Any,
            Some("tool") => {
                let name = body["tool_choice"].get("name").and_then(Value::as_str).unwrap_or_default();
                if !tools.iter().any(|t| t.name == name) {
                    return Err(anthropic_error(format!(
                        "tool_choice.name: Tool '{name}' not found in provided tools"
                    )));
                }
                ToolChoice::Tool(name.to_string())
            }
            Some("none") => {
                tools.clear();
                ToolChoice::Auto
            }
            _ => ToolChoice::Auto,
        };
        if tool_choice != ToolChoice::Auto && tools.is_empty() {
            return Err(anthropic_error("tool_choice: tool_choice may only be specified while providing tools."));
        }
        let thinking_budget = match body.get("thinking") {
            Some(t) if t["type"] == "enabled" && model.emulator.reasoning => {
                // The schema refused a non-integral budget; an absent one is Anthropic's 0.
                let budget = t.get("budget_tokens").and_then(super::native_schema::whole_number).unwrap_or(0);
                check_thinking_budget(budget, Some(max_tokens))?;
                Some(u32::try_from(budget).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        Ok(Conversation {
            system,
            messages,
            inference: InferenceConfig {
                max_tokens: Some(u32::try_from(max_tokens).unwrap_or(u32::MAX)),
                temperature: body.get("temperature").and_then(Value::as_f64),
                top_p: body.get("top_p").and_then(Value::as_f64),
                stop_sequences: body
                    .get("stop_sequences")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
            },
            tools,
            tool_choice,
            output_schema: None,
            thinking_budget,
        })
    }

    fn render(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Value {
        json!({
            "id": meta.id("msg_bdrk_01", ID_ALPHABET, 22, 1),
            "type": "message",
            "role": "assistant",
            "model": api_model_name(&meta.model.model_id),
            "content": content(reply, meta),
            "stop_reason": self.native_stop(reply.stop_reason),
            "stop_sequence": reply.stop_sequence,
            "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": reply.usage.output_tokens},
        })
    }

    fn chunks(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Vec<Value> {
        let mut out = vec![json!({
            "type": "message_start",
            "message": {
                "id": meta.id("msg_bdrk_01", ID_ALPHABET, 22, 1),
                "type": "message",
                "role": "assistant",
                "model": api_model_name(&meta.model.model_id),
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": 1},
            }
        })];
        for (index, block) in reply.content.iter().enumerate() {
            match block {
                ReplyBlock::Text(text) => {
                    out.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}));
                    for d in text_deltas(text) {
                        out.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": d}}));
                    }
                }
                ReplyBlock::Reasoning { text, signature } => {
                    out.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}));
                    for d in text_deltas(text) {
                        out.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": d}}));
                    }
                    out.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": signature}}));
                }
                ReplyBlock::ToolUse { id, name, input } => {
                    out.push(json!({"type": "content_block_start", "index": index, "content_block": {
                        "type": "tool_use", "id": native_tool_id(id), "name": name, "input": {}
                    }}));
                    out.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": ""}}));
                    let chars: Vec<char> = input.to_string().chars().collect();
                    for part in chars.chunks(JSON_CHUNK) {
                        out.push(json!({"type": "content_block_delta", "index": index, "delta": {
                            "type": "input_json_delta", "partial_json": part.iter().collect::<String>()
                        }}));
                    }
                }
            }
            out.push(json!({"type": "content_block_stop", "index": index}));
        }
        out.push(json!({
            "type": "message_delta",
            "delta": {"stop_reason": self.native_stop(reply.stop_reason), "stop_sequence": reply.stop_sequence},
            "usage": {"output_tokens": reply.usage.output_tokens}
        }));
        out.push(json!({"type": "message_stop"}));
        out
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        match stop {
            StopReason::EndTurn => "end_turn",
            // A guarded native reply ends like any other; `amazon-bedrock-guardrailAction` says it
            // intervened.
            StopReason::GuardrailIntervened => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
        }
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        let text = body
            .get("content")?
            .as_array()?
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<String>();
        Some(NativeReply {
            text,
            input_tokens: body["usage"]["input_tokens"].as_u64().map(|n| n as u32),
            output_tokens: body["usage"]["output_tokens"].as_u64().map(|n| n as u32),
            stop_reason: body["stop_reason"].as_str().map(str::to_string),
        })
    }
}

/// Claude-native tool ids look like `toolu_bdrk_01…`; the canonical id's random part is kept.
fn native_tool_id(canonical: &str) -> String {
    format!("toolu_bdrk_01{}", canonical.trim_start_matches("tooluse_"))
}

fn content(reply: &Reply, _meta: &RenderMeta<'_>) -> Vec<Value> {
    reply
        .content
        .iter()
        .map(|b| match b {
            ReplyBlock::Text(t) => json!({"type": "text", "text": t}),
            ReplyBlock::Reasoning { text, signature } => {
                json!({"type": "thinking", "thinking": text, "signature": signature})
            }
            ReplyBlock::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": native_tool_id(id), "name": name, "input": input})
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_model_names_drop_the_provider_and_version() {
        assert_eq!(api_model_name("anthropic.claude-3-5-sonnet-20240620-v1:0"), "claude-3-5-sonnet-20240620");
        assert_eq!(api_model_name("anthropic.claude-sonnet-4-20250514-v1:0"), "claude-sonnet-4-20250514");
        assert_eq!(api_model_name("anthropic.claude-3-5-sonnet-20241022-v2:0"), "claude-3-5-sonnet-20241022");
    }
}
