//! Mistral AI on Bedrock, SPEC §7.6, in its two native formats:
//!
//! * [`Mistral`] — text completion (`mistral-7b-instruct`, `mixtral-8x7b`, `mistral-large-2402`,
//!   `mistral-small-2402`): a raw `prompt`. `<s>[INST] … [/INST] …</s>` turns are read back into
//!   user and assistant messages (contents trimmed, as the template pads them); a prompt
//!   without `[INST]` is one user message, so the same text gets the same reply as Converse.
//! * [`MistralChat`] — chat completion (`mistral-large-2407`, `pixtral-large-2502`): OpenAI-like
//!   `messages`/`tools`, answered as `chat.completion` / `chat.completion.chunk` objects. Ids
//!   and the `created` timestamp are deterministic.

use base64::Engine;
use serde_json::{json, Value};

use super::native_schema::validate;
use super::nova::word_deltas;
use super::{NativeReply, RenderMeta, TextFamily};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Block, Conversation, InferenceConfig, Message, Reply, Role, StopReason, ToolChoice, ToolSpec};
use crate::wire::error::BedrockError;

/// The text-completion family (`prompt`).
#[derive(Debug, Clone, Copy)]
pub struct Mistral;

/// The chat-completion family (`messages`).
#[derive(Debug, Clone, Copy)]
pub struct MistralChat;

/// `max_tokens` of the small instruct models when the request sets none (the 2402 Large and
/// Small models default to their cap).
pub const DEFAULT_MAX_TOKENS: u32 = 512;
/// The `created` timestamp of every chat completion (fixed, so answers are reproducible).
pub const CREATED: u64 = 1_721_779_200;
const HEX: &[u8] = b"0123456789abcdef";

fn stop_sequences(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Text completion
// ---------------------------------------------------------------------------------------------

fn prompt_schema(cap: u32) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string"},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": cap},
            "stop": {"type": "array", "maxItems": 10, "items": {"type": "string"}},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 200}
        }
    })
}

fn clean_turn(text: &str) -> String {
    text.replace("</s>", "").replace("<s>", "").trim().to_string()
}

/// The messages of an `[INST]` prompt, or `None` for a plain prompt.
pub fn parse_prompt(prompt: &str) -> Option<Vec<Message>> {
    if !prompt.contains("[INST]") {
        return None;
    }
    fn push(messages: &mut Vec<Message>, role: Role, text: String) {
        if !text.is_empty() {
            messages.push(Message { role, content: vec![Block::Text(text)] });
        }
    }
    let mut messages: Vec<Message> = Vec::new();
    let mut rest = prompt;
    while let Some(p) = rest.find("[INST]") {
        let before = clean_turn(&rest[..p]);
        let role = if messages.is_empty() { Role::User } else { Role::Assistant };
        push(&mut messages, role, before);
        let after = &rest[p + "[INST]".len()..];
        let (user, next) = match after.find("[/INST]") {
            Some(q) => (&after[..q], &after[q + "[/INST]".len()..]),
            None => (after, ""),
        };
        push(&mut messages, Role::User, clean_turn(user));
        rest = next;
    }
    push(&mut messages, Role::Assistant, clean_turn(rest));
    (!messages.is_empty()).then_some(messages)
}

impl TextFamily for Mistral {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        let cap = model.emulator.max_output_tokens;
        validate(body, &prompt_schema(cap))?;
        let prompt = body["prompt"].as_str().unwrap_or_default();
        let messages = parse_prompt(prompt)
            .unwrap_or_else(|| vec![Message { role: Role::User, content: vec![Block::Text(prompt.to_string())] }]);
        let default_max = if model.model_id.contains("large") || model.model_id.contains("small") {
            cap
        } else {
            DEFAULT_MAX_TOKENS.min(cap)
        };
        Ok(Conversation {
            messages,
            inference: InferenceConfig {
                max_tokens: Some(super::native_schema::count(body.get("max_tokens")).unwrap_or(default_max)),
                temperature: body.get("temperature").and_then(Value::as_f64),
                top_p: body.get("top_p").and_then(Value::as_f64),
                stop_sequences: stop_sequences(body.get("stop")),
            },
            ..Default::default()
        })
    }

    fn render(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Value {
        json!({"outputs": [{"text": reply.text(), "stop_reason": self.native_stop(reply.stop_reason)}]})
    }

    fn chunks(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Vec<Value> {
        let mut pieces = word_deltas(&reply.text());
        if pieces.is_empty() {
            pieces.push(String::new());
        }
        let last = pieces.len() - 1;
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let stop = if i == last { json!(self.native_stop(reply.stop_reason)) } else { Value::Null };
                json!({"outputs": [{"text": text, "stop_reason": stop}]})
            })
            .collect()
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        match stop {
            StopReason::MaxTokens => "length",
            StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse | StopReason::GuardrailIntervened => {
                "stop"
            }
        }
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        let output = body.get("outputs")?.as_array()?.first()?;
        Some(NativeReply {
            text: output.get("text")?.as_str()?.to_string(),
            input_tokens: None,
            output_tokens: None,
            stop_reason: output.get("stop_reason").and_then(Value::as_str).map(str::to_string),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Chat completion
// ---------------------------------------------------------------------------------------------

fn chat_schema(cap: u32) -> Value {
    let part = json!({"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string", "enum": ["text", "image_url"]},
        "text": {"type": "string"},
        "image_url": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}]}
    }});
    let tool_call = json!({"type": "object", "required": ["function"], "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["function"]},
        "function": {"type": "object", "required": ["name", "arguments"], "properties": {
            "name": {"type": "string"},
            "arguments": {"anyOf": [{"type": "string"}, {"type": "object"}]}
        }}
    }});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["messages"],
        "properties": {
            "messages": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["role"],
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                    "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": part}, {"type": "null"}]},
                    "tool_calls": {"anyOf": [{"type": "array", "items": tool_call}, {"type": "null"}]},
                    "tool_call_id": {"type": "string"},
                    "name": {"type": "string"}
                }
            }},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": cap},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "tools": {"type": "array", "items": {"type": "object", "required": ["function"], "properties": {
                "type": {"type": "string", "enum": ["function"]},
                "function": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "parameters": {"type": "object"}
                }}
            }}},
            "tool_choice": {"anyOf": [
                {"type": "string", "enum": ["auto", "any", "none", "required"]},
                {"type": "object", "required": ["function"], "properties": {
                    "type": {"type": "string", "enum": ["function"]},
                    "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
                }}
            ]}
        }
    })
}

/// Mistral's API model name of a Bedrock id (`mistral.mistral-large-2407-v1:0` → `mistral-large-2407`).
pub fn api_model_name(model_id: &str) -> String {
    let bare = model_id.strip_prefix("mistral.").unwrap_or(model_id);
    match bare.rfind("-v") {
        Some(i) if bare[i + 2..].chars().next().is_some_and(|c| c.is_ascii_digit()) => bare[..i].to_string(),
        _ => bare.to_string(),
    }
}

/// The native id of a canonical tool-use id (its random part, like the ids Bedrock documents).
fn native_tool_id(canonical: &str) -> String {
    canonical.trim_start_matches("tooluse_").to_string()
}

fn unsupported_image() -> BedrockError {
    BedrockError::validation(
        "This model doesn't support the image content block that you provided. Try again with a supported content block.",
    )
}

fn image_block(part: &Value) -> Block {
    let url =
        part["image_url"].as_str().or_else(|| part.pointer("/image_url/url").and_then(Value::as_str)).unwrap_or("");
    match url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
        Some((mime, data)) => Block::Image {
            format: mime.rsplit('/').next().unwrap_or("png").to_string(),
            size: base64::engine::general_purpose::STANDARD.decode(data).map_or(0, |b| b.len()),
        },
        None => Block::Image { format: "png".into(), size: 0 },
    }
}

fn content_blocks(content: &Value, model: &FoundationModel) -> Result<Vec<Block>, BedrockError> {
    Ok(match content {
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => vec![Block::Text(s.clone())],
        Value::Array(parts) => {
            let mut blocks = Vec::new();
            for part in parts {
                if part["type"] == "image_url" {
                    if !model.emulator.vision {
                        return Err(unsupported_image());
                    }
                    blocks.push(image_block(part));
                } else if let Some(t) = part["text"].as_str() {
                    blocks.push(Block::Text(t.to_string()));
                }
            }
            blocks
        }
        _ => Vec::new(),
    })
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

/// Appends a turn, merging it into the previous one when the speaker is the same (tool
/// results and the user's next words form one canonical user turn, as in Converse).
fn push_turn(messages: &mut Vec<Message>, role: Role, content: Vec<Block>) {
    if content.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(content),
        _ => messages.push(Message { role, content }),
    }
}

fn chat_usage(reply: &Reply) -> Value {
    json!({
        "prompt_tokens": reply.usage.input_tokens,
        "completion_tokens": reply.usage.output_tokens,
        "total_tokens": reply.usage.input_tokens + reply.usage.output_tokens,
    })
}

fn tool_calls(reply: &Reply) -> Vec<Value> {
    super::openai_tool_calls(reply, native_tool_id)
}

impl MistralChat {
    fn completion_id(meta: &RenderMeta<'_>) -> String {
        meta.id("cmpl-", HEX, 32, 1)
    }

    fn chunk(meta: &RenderMeta<'_>, delta: Value, finish: Value) -> Value {
        json!({
            "id": Self::completion_id(meta),
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": api_model_name(&meta.model.model_id),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }
}

impl TextFamily for MistralChat {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        validate(body, &chat_schema(model.emulator.max_output_tokens))?;
        let mut system = Vec::new();
        let mut messages = Vec::new();
        for m in body["messages"].as_array().into_iter().flatten() {
            let content = m.get("content").unwrap_or(&Value::Null);
            match m["role"].as_str().unwrap_or_default() {
                "system" => {
                    let text = content_text(content);
                    if !text.is_empty() {
                        system.push(text);
                    }
                }
                "assistant" => {
                    let mut blocks = content_blocks(content, model)?;
                    for call in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                        let f = &call["function"];
                        let input = match &f["arguments"] {
                            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
                            other => other.clone(),
                        };
                        blocks.push(Block::ToolUse {
                            id: call.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                            name: f["name"].as_str().unwrap_or_default().to_string(),
                            input,
                        });
                    }
                    push_turn(&mut messages, Role::Assistant, blocks);
                }
                "tool" => {
                    let result = Block::ToolResult {
                        id: m.get("tool_call_id").and_then(Value::as_str).unwrap_or_default().to_string(),
                        text: content_text(content),
                        is_error: false,
                    };
                    push_turn(&mut messages, Role::User, vec![result]);
                }
                _ => {
                    let blocks = content_blocks(content, model)?;
                    push_turn(&mut messages, Role::User, blocks);
                }
            }
        }
        let mut tools: Vec<ToolSpec> = body
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| ToolSpec {
                name: t["function"]["name"].as_str().unwrap_or_default().to_string(),
                description: t["function"].get("description").and_then(Value::as_str).map(str::to_string),
                input_schema: t["function"].get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
            })
            .collect();
        let tool_choice = match body.get("tool_choice") {
            Some(Value::String(s)) if s == "any" || s == "required" => ToolChoice::Any,
            Some(Value::String(s)) if s == "none" => {
                tools.clear();
                ToolChoice::Auto
            }
            Some(c @ Value::Object(_)) => c
                .pointer("/function/name")
                .and_then(Value::as_str)
                .map_or(ToolChoice::Auto, |n| ToolChoice::Tool(n.into())),
            _ => ToolChoice::Auto,
        };
        Ok(Conversation {
            system,
            messages,
            inference: InferenceConfig {
                max_tokens: super::native_schema::count(body.get("max_tokens")),
                temperature: body.get("temperature").and_then(Value::as_f64),
                top_p: body.get("top_p").and_then(Value::as_f64),
                stop_sequences: Vec::new(),
            },
            tools,
            tool_choice,
            output_schema: None,
            thinking_budget: None,
        })
    }

    fn render(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Value {
        let calls = tool_calls(reply);
        json!({
            "id": Self::completion_id(meta),
            "object": "chat.completion",
            "created": CREATED,
            "model": api_model_name(&meta.model.model_id),
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.text(),
                    "tool_calls": if calls.is_empty() { Value::Null } else { Value::Array(calls) },
                },
                "finish_reason": self.native_stop(reply.stop_reason),
            }],
            "usage": chat_usage(reply),
        })
    }

    fn chunks(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Vec<Value> {
        let mut out = vec![Self::chunk(meta, json!({"role": "assistant", "content": ""}), Value::Null)];
        for d in word_deltas(&reply.text()) {
            out.push(Self::chunk(meta, json!({"content": d}), Value::Null));
        }
        for (index, mut call) in tool_calls(reply).into_iter().enumerate() {
            if let Some(obj) = call.as_object_mut() {
                obj.insert("index".into(), json!(index));
            }
            out.push(Self::chunk(meta, json!({"tool_calls": [call]}), Value::Null));
        }
        let mut last = Self::chunk(meta, json!({"content": ""}), json!(self.native_stop(reply.stop_reason)));
        last["usage"] = chat_usage(reply);
        out.push(last);
        out
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        match stop {
            StopReason::MaxTokens => "length",
            StopReason::ToolUse => "tool_calls",
            StopReason::EndTurn | StopReason::StopSequence | StopReason::GuardrailIntervened => "stop",
        }
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        let choice = body.get("choices")?.as_array()?.first()?;
        let message = choice.get("message")?;
        Some(NativeReply {
            text: message.get("content").and_then(Value::as_str).unwrap_or_default().to_string(),
            input_tokens: body.pointer("/usage/prompt_tokens").and_then(Value::as_u64).map(|n| n as u32),
            output_tokens: body.pointer("/usage/completion_tokens").and_then(Value::as_u64).map(|n| n as u32),
            stop_reason: choice.get("finish_reason").and_then(Value::as_str).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;
    use crate::canonical::ReplyBlock;
    use crate::canonical::Usage;
    use crate::synthetic::SyntheticModel;

    fn model(id: &str) -> &'static FoundationModel {
        Catalog::builtin().model(id).expect("model in catalog")
    }

    fn mistral7b() -> &'static FoundationModel {
        model("mistral.mistral-7b-instruct-v0:2")
    }

    fn large2() -> &'static FoundationModel {
        model("mistral.mistral-large-2407-v1:0")
    }

    fn user(text: &str) -> Message {
        Message { role: Role::User, content: vec![Block::Text(text.into())] }
    }

    fn assistant(text: &str) -> Message {
        Message { role: Role::Assistant, content: vec![Block::Text(text.into())] }
    }

    fn reply_with(family: &dyn TextFamily, body: &Value, m: &FoundationModel) -> Reply {
        let conv = family.parse(body, m).expect("valid request");
        SyntheticModel::new(0).reply(&m.model_id, &conv, m.emulator.max_output_tokens)
    }

    fn converse_reply(text: &str, m: &FoundationModel) -> Reply {
        let req = crate::api::converse::parse(
            json!({"messages": [{"role": "user", "content": [{"text": text}]}]}).to_string().as_bytes(),
            m,
            crate::api::converse::Mode::Unary,
        )
        .expect("valid converse");
        SyntheticModel::new(0).reply(&m.model_id, &req.conversation, m.emulator.max_output_tokens)
    }

    fn sample_reply(with_tool: bool) -> Reply {
        let mut content = vec![ReplyBlock::Text("I will use the get_weather tool.".into())];
        if with_tool {
            content.push(ReplyBlock::ToolUse {
                id: "tooluse_v6RMMiRlT7ygYkT4uULjtg".into(),
                name: "get_weather".into(),
                input: json!({"location": "Paris"}),
            });
        }
        Reply {
            content,
            stop_reason: if with_tool { StopReason::ToolUse } else { StopReason::EndTurn },
            stop_sequence: None,
            usage: Usage { input_tokens: 18, output_tokens: 20 },
            latency_ms: 250,
        }
    }

    // --- text completion -----------------------------------------------------------------

    #[test]
    fn a_recorded_prompt_request_parses() {
        // otel-python-botocore-vcr/test_invoke_model_no_content[mistral.mistral].yaml
        let body =
            json!({"prompt": "Say this is a test", "max_tokens": 10, "temperature": 0.8, "top_p": 1, "stop": ["|"]});
        let conv = Mistral.parse(&body, mistral7b()).expect("valid");
        assert_eq!(conv.messages, vec![user("Say this is a test")]);
        assert_eq!(conv.inference.max_tokens, Some(10));
        assert_eq!(conv.inference.stop_sequences, vec!["|".to_string()]);
    }

    #[test]
    fn inst_turns_are_read_back_into_messages() {
        let prompt = "<s>[INST] What is your favourite condiment? [/INST] Well, I'm quite partial to lemon juice.</s> [INST] Do you have mayonnaise recipes? [/INST]";
        assert_eq!(
            parse_prompt(prompt),
            Some(vec![
                user("What is your favourite condiment?"),
                assistant("Well, I'm quite partial to lemon juice."),
                user("Do you have mayonnaise recipes?")
            ])
        );
        assert_eq!(parse_prompt("Say this is a test"), None);
        let plain = reply_with(&Mistral, &json!({"prompt": "Write a haiku"}), mistral7b());
        let templated = reply_with(&Mistral, &json!({"prompt": "<s>[INST] Write a haiku [/INST]"}), mistral7b());
        assert_eq!(plain.content, templated.content);
        assert_eq!(plain.content, converse_reply("Write a haiku", mistral7b()).content);
    }

    #[test]
    fn the_prompt_response_shape_is_stable() {
        let reply = reply_with(
            &Mistral,
            &json!({"prompt": "<s>[INST] Say this is a test [/INST]", "max_tokens": 10}),
            mistral7b(),
        );
        insta::assert_json_snapshot!(
            Mistral.render(&reply, &RenderMeta { model: mistral7b(), request: &json!({}), hash: 42 })
        );
    }

    #[test]
    fn the_prompt_chunk_sequence_is_stable() {
        let chunks =
            Mistral.chunks(&sample_reply(false), &RenderMeta { model: mistral7b(), request: &json!({}), hash: 42 });
        assert!(chunks[..chunks.len() - 1].iter().all(|c| c["outputs"][0]["stop_reason"].is_null()));
        assert_eq!(chunks.last().map(|c| c["outputs"][0]["stop_reason"].clone()), Some(json!("stop")));
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn prompt_form_malformed_input_uses_everit_wording() {
        let error = |body: Value| Mistral.parse(&body, mistral7b()).expect_err("invalid").message;
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": "hi"}]})),
            "Malformed input request: #: required key [prompt] not found#: extraneous key [messages] is not permitted, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"prompt": "hi", "max_tokens": 9000, "top_k": 0})),
            "Malformed input request: #/max_tokens: 9000 is not less or equal to 8192#/top_k: 0 is not greater or equal to 1, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"prompt": "hi", "stop": "|"})),
            "Malformed input request: #/stop: expected type: JSONArray, found: String, please reformat your input and try again."
        );
    }

    #[test]
    fn the_prompt_form_reads_back() {
        let reply = sample_reply(false);
        let read = Mistral
            .read(&Mistral.render(&reply, &RenderMeta { model: mistral7b(), request: &json!({}), hash: 1 }))
            .expect("reads");
        assert_eq!(read.text, "I will use the get_weather tool.");
        assert_eq!(read.stop_reason.as_deref(), Some("stop"));
    }

    // --- chat completion -----------------------------------------------------------------

    #[test]
    fn a_documented_chat_request_parses_like_converse() {
        // The invoke_model example of the Mistral Large (24.07) page.
        let body = json!({"messages": [{"role": "user", "content": "which llm are you?"}]});
        let conv = MistralChat.parse(&body, large2()).expect("valid");
        assert_eq!(conv.messages, vec![user("which llm are you?")]);
        let reply = reply_with(&MistralChat, &body, large2());
        assert_eq!(reply.content, converse_reply("which llm are you?", large2()).content);
    }

    #[test]
    fn tool_calls_and_tool_results_map_to_canonical_blocks() {
        let body = json!({
            "messages": [
                {"role": "system", "content": "You are a radio DJ."},
                {"role": "user", "content": "What is the most popular song on WZPZ?"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "v6RMMiRlT7ygYkT4uULjtg", "function": {"name": "top_song", "arguments": "{\"sign\": \"WZPZ\"}"}}]},
                {"role": "tool", "tool_call_id": "v6RMMiRlT7ygYkT4uULjtg", "content": "{\"song\": \"Elemental Hotel\", \"artist\": \"8 Storey Hike\"}"}
            ],
            "tools": [{"type": "function", "function": {"name": "top_song", "description": "Get the most popular song played on a radio station.", "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}, "required": ["sign"]}}}],
            "tool_choice": "auto"
        });
        let conv = MistralChat.parse(&body, large2()).expect("valid");
        assert_eq!(conv.system, vec!["You are a radio DJ.".to_string()]);
        assert_eq!(
            conv.messages[1].content,
            vec![Block::ToolUse {
                id: "v6RMMiRlT7ygYkT4uULjtg".into(),
                name: "top_song".into(),
                input: json!({"sign": "WZPZ"})
            }]
        );
        assert!(matches!(&conv.messages[2].content[0], Block::ToolResult { id, .. } if id == "v6RMMiRlT7ygYkT4uULjtg"));
        let reply = SyntheticModel::new(0).reply(&large2().model_id, &conv, 8192);
        let text = reply.text();
        assert!(text.starts_with("The top_song tool returned:"), "{text}");
    }

    #[test]
    fn the_chat_response_shape_is_stable() {
        let reply = reply_with(
            &MistralChat,
            &json!({"messages": [{"role": "user", "content": "which llm are you?"}]}),
            large2(),
        );
        insta::assert_json_snapshot!(
            MistralChat.render(&reply, &RenderMeta { model: large2(), request: &json!({}), hash: 42 })
        );
    }

    #[test]
    fn the_chat_tool_call_response_shape_is_stable() {
        let body =
            MistralChat.render(&sample_reply(true), &RenderMeta { model: large2(), request: &json!({}), hash: 42 });
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(body["choices"][0]["message"]["tool_calls"][0]["id"], "v6RMMiRlT7ygYkT4uULjtg");
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn the_chat_chunk_sequence_is_stable() {
        let chunks =
            MistralChat.chunks(&sample_reply(true), &RenderMeta { model: large2(), request: &json!({}), hash: 42 });
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
        assert_eq!(chunks.last().map(|c| c["choices"][0]["finish_reason"].clone()), Some(json!("tool_calls")));
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn chat_malformed_input_uses_everit_wording() {
        let error = |body: Value| MistralChat.parse(&body, large2()).expect_err("invalid").message;
        assert_eq!(
            error(json!({"prompt": "hi"})),
            "Malformed input request: #: required key [messages] not found#: extraneous key [prompt] is not permitted, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"messages": [{"role": "human", "content": "hi"}], "max_tokens": 0})),
            "Malformed input request: #/messages/0/role: human is not a valid enum value#/max_tokens: 0 is not greater or equal to 1, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "sometimes"})),
            "Malformed input request: #/tool_choice: sometimes is not a valid enum value, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"messages": [], "stream": true})),
            "Malformed input request: #: extraneous key [stream] is not permitted#/messages: expected minimum item count: 1, found: 0, please reformat your input and try again."
        );
    }

    #[test]
    fn images_need_pixtral() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        ]}]});
        assert!(MistralChat.parse(&body, large2()).is_err());
        let conv = MistralChat.parse(&body, model("mistral.pixtral-large-2502-v1:0")).expect("pixtral sees images");
        assert_eq!(
            conv.messages[0].content,
            vec![Block::Text("What is this?".into()), Block::Image { format: "png".into(), size: 8 }]
        );
    }

    #[test]
    fn api_model_names_drop_the_provider_and_version() {
        assert_eq!(api_model_name("mistral.mistral-large-2407-v1:0"), "mistral-large-2407");
        assert_eq!(api_model_name("mistral.pixtral-large-2502-v1:0"), "pixtral-large-2502");
    }

    #[test]
    fn the_chat_form_reads_back() {
        let reply = sample_reply(true);
        let read = MistralChat
            .read(&MistralChat.render(&reply, &RenderMeta { model: large2(), request: &json!({}), hash: 1 }))
            .expect("reads");
        assert_eq!(read.text, "I will use the get_weather tool.");
        assert_eq!(read.input_tokens, Some(18));
        assert_eq!(read.output_tokens, Some(20));
        assert_eq!(read.stop_reason.as_deref(), Some("tool_calls"));
    }
}
