//! AI21 Labs Jamba on Bedrock (`ai21.jamba-1-5-mini-v1:0`, `-large-v1:0`, `jamba-instruct-v1:0`),
//! SPEC §7.8: an OpenAI-like chat format.
//!
//! Canonically `system` messages become the system prompt, `user`/`assistant` messages turns,
//! assistant `tool_calls` tool uses, and `tool` messages user-side tool results, so one user
//! message gets the same text as through Converse.
//!
//! Stream chunks follow AI21's `chat.completion.chunk` shape: a role chunk, one content chunk
//! per token, a chunk with `finish_reason` and `usage`, and then a separate last chunk that only
//! carries Bedrock's `amazon-bedrock-invocationMetrics` (AI21's own Bedrock client,
//! `ai21/clients/bedrock/_stream_decoder.py`, holds the finish chunk back and merges it with
//! that "Bedrock metering chunk").
//!
//! `n` (several choices) is read from the request in [`RenderMeta::request`] (see [`choices`]).

use serde_json::{json, Value};

use super::cohere::token_deltas;
use super::native_schema::{malformed, validate};
use super::{NativeReply, RenderMeta, TextFamily};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Block, Conversation, InferenceConfig, Message, Reply, Role, StopReason, ToolChoice, ToolSpec};
use crate::rng::SplitMix64;
use crate::wire::error::BedrockError;

/// The Jamba chat family.
#[derive(Debug, Clone, Copy)]
pub struct Jamba;

/// How many choices the native `request` asks for (its `n`, at least 1).
fn choices(request: &Value) -> usize {
    super::native_schema::count(request.get("n")).map_or(1, |n| (n as usize).max(1))
}

fn request_schema(cap: u32) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["messages"],
        "properties": {
            "messages": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["role"],
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                    "content": {"type": ["string", "null"]},
                    "tool_calls": {"type": "array", "items": {
                        "type": "object",
                        "required": ["id", "type", "function"],
                        "properties": {
                            "id": {"type": "string"},
                            "type": {"type": "string", "enum": ["function"]},
                            "function": {"type": "object", "required": ["name", "arguments"], "properties": {
                                "name": {"type": "string"},
                                "arguments": {"type": "string"}
                            }}
                        }
                    }},
                    "tool_call_id": {"type": "string"}
                }
            }},
            "max_tokens": {"type": "integer", "minimum": 0, "maximum": cap},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "n": {"type": "integer", "minimum": 1, "maximum": 16},
            "tools": {"type": "array", "items": {
                "type": "object",
                "required": ["type", "function"],
                "properties": {
                    "type": {"type": "string", "enum": ["function"]},
                    "function": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "parameters": {"type": "object"}
                    }}
                }
            }},
            "response_format": {"type": "object", "required": ["type"], "properties": {
                "type": {"type": "string", "enum": ["text", "json_object"]}
            }},
            "documents": {"type": "array", "items": {"type": "object"}}
        }
    })
}

/// AI21's model name in responses (`ai21.jamba-1-5-mini-v1:0` → `jamba-1.5-mini`).
pub fn api_model_name(model_id: &str) -> String {
    let bare = model_id.strip_prefix("ai21.").unwrap_or(model_id);
    let bare = bare.split_once("-v1").map_or(bare, |(name, _)| name);
    bare.replace("jamba-1-5", "jamba-1.5")
}

fn push_turn(messages: &mut Vec<Message>, role: Role, blocks: Vec<Block>) {
    if blocks.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => messages.push(Message { role, content: blocks }),
    }
}

/// Native tool-call ids keep the canonical id's random part (`tooluse_X` → `call_X`).
fn native_tool_id(canonical: &str) -> String {
    format!("call_{}", canonical.trim_start_matches("tooluse_"))
}

fn tool_calls(reply: &Reply) -> Vec<Value> {
    super::openai_tool_calls(reply, native_tool_id)
}

fn completion_id(meta: &RenderMeta<'_>) -> String {
    format!("chatcmpl-{}", SplitMix64::new(meta.hash ^ 0x9E37_79B9_7F4A_7C15).uuid())
}

fn usage(reply: &Reply) -> Value {
    json!({
        "prompt_tokens": reply.usage.input_tokens,
        "completion_tokens": reply.usage.output_tokens,
        "total_tokens": reply.usage.input_tokens + reply.usage.output_tokens,
    })
}

impl TextFamily for Jamba {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        validate(body, &request_schema(model.emulator.max_output_tokens))?;
        let mut system = Vec::new();
        let mut messages = Vec::new();
        for (i, m) in body["messages"].as_array().into_iter().flatten().enumerate() {
            let role = m["role"].as_str().unwrap_or_default();
            let content = m.get("content").and_then(Value::as_str);
            if role != "assistant" && content.is_none() {
                return Err(malformed(&[format!("#/messages/{i}: required key [content] not found")]));
            }
            let text = content.unwrap_or_default();
            let text_block = || if text.is_empty() { Vec::new() } else { vec![Block::Text(text.to_string())] };
            match role {
                "system" => {
                    if !text.is_empty() {
                        system.push(text.to_string());
                    }
                }
                "user" => push_turn(&mut messages, Role::User, text_block()),
                "assistant" => {
                    let mut blocks = text_block();
                    for call in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
                        blocks.push(Block::ToolUse {
                            id: call["id"].as_str().unwrap_or_default().to_string(),
                            name: call["function"]["name"].as_str().unwrap_or_default().to_string(),
                            input: serde_json::from_str(arguments).unwrap_or_else(|_| json!({})),
                        });
                    }
                    push_turn(&mut messages, Role::Assistant, blocks);
                }
                _ => {
                    let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or_default().to_string();
                    push_turn(
                        &mut messages,
                        Role::User,
                        vec![Block::ToolResult { id, text: text.to_string(), is_error: false }],
                    );
                }
            }
        }
        let tools = body
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
        let stop_sequences = match body.get("stop") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let json_mode =
            body.get("response_format").and_then(|f| f.get("type")).and_then(Value::as_str) == Some("json_object");
        Ok(Conversation {
            system,
            messages,
            inference: InferenceConfig {
                max_tokens: super::native_schema::count(body.get("max_tokens")),
                temperature: body.get("temperature").and_then(Value::as_f64),
                top_p: body.get("top_p").and_then(Value::as_f64),
                stop_sequences,
            },
            tools,
            tool_choice: ToolChoice::Auto,
            output_schema: json_mode.then(|| json!({"type": "object"})),
            thinking_budget: None,
        })
    }

    fn render(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Value {
        let text = reply.text();
        let calls = tool_calls(reply);
        let content = if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) };
        let calls = if calls.is_empty() { Value::Null } else { json!(calls) };
        let choices: Vec<Value> = (0..choices(meta.request))
            .map(|index| {
                json!({
                    "index": index,
                    "message": {"role": "assistant", "content": content, "tool_calls": calls},
                    "finish_reason": self.native_stop(reply.stop_reason),
                })
            })
            .collect();
        json!({
            "id": completion_id(meta),
            "choices": choices,
            "usage": usage(reply),
            "meta": {"requestDurationMillis": reply.latency_ms * 3 / 4},
            "model": api_model_name(&meta.model.model_id),
        })
    }

    fn chunks(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Vec<Value> {
        let id = completion_id(meta);
        let n = choices(meta.request);
        let chunk = |index: usize, delta: Value, finish: Value| json!({"id": id, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]});
        let text = reply.text();
        let calls = tool_calls(reply);
        let mut out = Vec::new();
        for index in 0..n {
            out.push(chunk(index, json!({"role": "assistant", "content": ""}), Value::Null));
            for piece in token_deltas(&text) {
                out.push(chunk(index, json!({"content": piece}), Value::Null));
            }
            if !calls.is_empty() {
                let indexed: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let mut c = c.clone();
                        c["index"] = json!(i);
                        c
                    })
                    .collect();
                out.push(chunk(index, json!({"tool_calls": indexed}), Value::Null));
            }
            let mut last = chunk(index, json!({}), json!(self.native_stop(reply.stop_reason)));
            if index + 1 == n {
                last["usage"] = usage(reply);
            }
            out.push(last);
        }
        // Bedrock's metering chunk: the caller adds `amazon-bedrock-invocationMetrics` to it.
        out.push(json!({}));
        out
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        match stop {
            StopReason::EndTurn | StopReason::StopSequence | StopReason::GuardrailIntervened => "stop",
            StopReason::MaxTokens => "length",
            StopReason::ToolUse => "tool_calls",
        }
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        let choice = body.get("choices")?.as_array()?.first()?;
        let text = match &choice["message"]["content"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            _ => return None,
        };
        let count = |key: &str| body["usage"][key].as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        Some(NativeReply {
            text,
            input_tokens: count("prompt_tokens"),
            output_tokens: count("completion_tokens"),
            stop_reason: choice.get("finish_reason").and_then(Value::as_str).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::converse;
    use crate::backend::catalog::Catalog;
    use crate::canonical::ReplyBlock;
    use crate::canonical::Usage;
    use crate::synthetic::SyntheticModel;

    const MINI: &str = "ai21.jamba-1-5-mini-v1:0";

    fn model(id: &str) -> &'static FoundationModel {
        Catalog::builtin().model(id).expect("model in catalog")
    }

    fn meta(request: &Value) -> RenderMeta<'_> {
        RenderMeta { model: model(MINI), request, hash: 42 }
    }

    fn answer(body: &Value) -> Reply {
        let conv = Jamba.parse(body, model(MINI)).expect("valid request");
        SyntheticModel::new(0).reply(MINI, &conv, model(MINI).emulator.max_output_tokens)
    }

    #[test]
    fn model_names_follow_the_recorded_spelling() {
        assert_eq!(api_model_name("ai21.jamba-1-5-mini-v1:0"), "jamba-1.5-mini");
        assert_eq!(api_model_name("ai21.jamba-1-5-large-v1:0"), "jamba-1.5-large");
        assert_eq!(api_model_name("ai21.jamba-instruct-v1:0"), "jamba-instruct");
    }

    #[test]
    fn a_recorded_request_is_one_user_message_like_converse() {
        // openinference-js-nock/should-handle-ai21-jamba-models.json
        let body = json!({"messages": [{"role": "user", "content": "Hello, how are you?"}], "max_tokens": 100, "temperature": 0.7});
        let conv = Jamba.parse(&body, model(MINI)).expect("valid");
        assert_eq!(conv.inference.max_tokens, Some(100));
        assert_eq!(conv.inference.temperature, Some(0.7));
        let converse_body = json!({"messages": [{"role": "user", "content": [{"text": "Hello, how are you?"}]}]});
        let req = converse::parse(converse_body.to_string().as_bytes(), model(MINI), converse::Mode::Unary)
            .expect("converse");
        assert_eq!(
            Conversation { inference: InferenceConfig::default(), ..conv },
            Conversation { inference: InferenceConfig::default(), ..req.conversation }
        );
    }

    #[test]
    fn system_tool_calls_and_tool_results_map_to_canonical_blocks() {
        let body = json!({
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "21C and sunny"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "stop": "END"
        });
        let conv = Jamba.parse(&body, model(MINI)).expect("valid");
        assert_eq!(conv.system, vec!["Be brief.".to_string()]);
        assert_eq!(conv.inference.stop_sequences, vec!["END".to_string()]);
        assert_eq!(conv.tools[0].name, "get_weather");
        assert_eq!(
            conv.messages[1..],
            [
                Message {
                    role: Role::Assistant,
                    content: vec![Block::ToolUse {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        input: json!({"city": "Paris"})
                    }]
                },
                Message {
                    role: Role::User,
                    content: vec![Block::ToolResult {
                        id: "call_1".into(),
                        text: "21C and sunny".into(),
                        is_error: false
                    }]
                },
            ]
        );
        let reply = SyntheticModel::new(0).reply(MINI, &conv, 4096);
        assert_eq!(reply.text(), "The get_weather tool returned: 21C and sunny.");
    }

    #[test]
    fn the_response_shape_is_stable() {
        let request = json!({"messages": [{"role": "user", "content": "Hello, how are you?"}], "max_tokens": 100});
        let reply = answer(&request);
        insta::assert_json_snapshot!(Jamba.render(&reply, &meta(&request)));
    }

    #[test]
    fn the_tool_call_response_shape_is_stable() {
        let request = json!({
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
        });
        let reply = answer(&request);
        let body = Jamba.render(&reply, &meta(&request));
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn chunks_run_role_content_finish_then_a_metering_chunk() {
        let request =
            json!({"messages": [{"role": "user", "content": "What is artificial intelligence?"}], "max_tokens": 10});
        let reply = answer(&request);
        let chunks = Jamba.chunks(&reply, &meta(&request));
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let finish = &chunks[chunks.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "length");
        assert_eq!(finish["usage"], usage(&reply));
        assert_eq!(chunks.last(), Some(&json!({})));
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, reply.text());
        assert!(chunks[..chunks.len() - 2].iter().all(|c| c["choices"][0]["finish_reason"].is_null()));
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn n_repeats_the_choice() {
        let request = json!({"messages": [{"role": "user", "content": "Hi"}], "n": 2});
        let reply = answer(&request);
        let body = Jamba.render(&reply, &meta(&request));
        assert_eq!(body["choices"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["choices"][1]["index"], 1);
        let finishes = Jamba
            .chunks(&reply, &meta(&request))
            .iter()
            .filter(|c| c["choices"][0]["finish_reason"].is_string())
            .count();
        assert_eq!(finishes, 2);
        assert_eq!(Jamba.render(&reply, &meta(&json!({})))["choices"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn read_returns_what_render_wrote() {
        let reply = Reply {
            content: vec![ReplyBlock::Text(" Hello!".into())],
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
            usage: Usage { input_tokens: 16, output_tokens: 19 },
            latency_ms: 411,
        };
        let request = json!({"messages": [{"role": "user", "content": "Hi"}]});
        let read = Jamba.read(&Jamba.render(&reply, &meta(&request))).expect("reads");
        assert_eq!(
            read,
            NativeReply {
                text: " Hello!".into(),
                input_tokens: Some(16),
                output_tokens: Some(19),
                stop_reason: Some("stop".into())
            }
        );
    }

    #[test]
    fn malformed_bodies_get_everit_messages() {
        let m = model(MINI);
        let e = Jamba.parse(&json!({"prompt": "hi", "stream": true}), m).expect_err("invalid");
        assert_eq!(
            e.message,
            "Malformed input request: #: required key [messages] not found#: extraneous key [prompt] is not permitted#: extraneous key [stream] is not permitted, please reformat your input and try again."
        );
        let e = Jamba.parse(&json!({"messages": []}), m).expect_err("invalid");
        assert!(e.message.contains("#/messages: expected minimum item count: 1, found: 0"), "{}", e.message);
        let e = Jamba.parse(&json!({"messages": [{"role": "bot", "content": "x"}]}), m).expect_err("invalid");
        assert!(e.message.contains("#/messages/0/role: bot is not a valid enum value"), "{}", e.message);
        let e = Jamba.parse(&json!({"messages": [{"role": "user"}]}), m).expect_err("invalid");
        assert!(e.message.contains("#/messages/0: required key [content] not found"), "{}", e.message);
        let e = Jamba
            .parse(&json!({"messages": [{"role": "user", "content": "x"}], "temperature": 2.5, "n": 0}), m)
            .expect_err("invalid");
        assert!(e.message.contains("#/temperature: 2.5 is not less or equal to 2"), "{}", e.message);
        assert!(e.message.contains("#/n: 0 is not greater or equal to 1"), "{}", e.message);
        let e = Jamba
            .parse(&json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5000}), m)
            .expect_err("invalid");
        assert!(e.message.contains("#/max_tokens: 5000 is not less or equal to 4096"), "{}", e.message);
    }

    #[test]
    fn json_mode_answers_a_json_object() {
        let reply = answer(
            &json!({"messages": [{"role": "user", "content": "Give me JSON"}], "response_format": {"type": "json_object"}}),
        );
        let text = reply.text();
        assert!(serde_json::from_str::<Value>(&text).is_ok_and(|v| v.is_object()), "{text}");
    }
}
