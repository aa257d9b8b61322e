//! Amazon Nova understanding models (`amazon.nova-micro|lite|pro|premier-v1:0`), native
//! `messages-v1` format, SPEC §7.4.
//!
//! Requests are Converse-shaped (camelCase content-block unions) and parse into the same
//! canonical blocks Converse produces, so the same conversation gets the same reply either
//! way. Real Nova accepted both `max_new_tokens` and `maxTokens`, and `top_p` and `topP`, in
//! `inferenceConfig` (recorded), so that object is not closed; the top level, messages and
//! content blocks are (`#: extraneous key [top_p] is not permitted` is a reported error).
//!
//! Responses and stream chunks follow the recordings: tool-use ids are UUIDs, usage carries
//! `cacheRead/WriteInputTokenCount: 0`, and the stream closes and reopens a content block for
//! every text delta (indexes 0, 1, 2, …), with no `contentBlockStart` for text.

use base64::Engine;
use serde_json::{json, Value};

use super::native_schema::{malformed, validate};
use super::{NativeReply, RenderMeta, TextFamily};
use crate::backend::catalog::FoundationModel;
use crate::canonical::text_deltas;
use crate::canonical::{
    Block, Conversation, InferenceConfig, Message, Reply, ReplyBlock, Role, StopReason, ToolChoice, ToolSpec,
};
use crate::rng::{stable_hash, SplitMix64};
use crate::wire::error::BedrockError;

/// The Nova family.
#[derive(Debug, Clone, Copy)]
pub struct Nova;

/// Content-block members a Nova message may use (each block holds exactly one).
const BLOCK_KINDS: &[&str] =
    &["text", "image", "video", "document", "toolUse", "toolResult", "cachePoint", "reasoningContent"];

/// The response headers every Nova InvokeModel answer carries (recorded).
const CACHE_HEADERS: &[(&str, &str)] =
    &[("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", "0"), ("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", "0")];

fn request_schema(cap: u32) -> Value {
    let source = json!({"type": "object", "additionalProperties": false, "properties": {
        "bytes": {"type": "string"},
        "s3Location": {"type": "object", "required": ["uri"], "properties": {
            "uri": {"type": "string"}, "bucketOwner": {"type": "string"}
        }}
    }});
    let block = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "text": {"type": "string"},
            "image": {"type": "object", "additionalProperties": false, "required": ["format", "source"], "properties": {
                "format": {"type": "string", "enum": ["png", "jpeg", "gif", "webp"]},
                "source": source
            }},
            "video": {"type": "object", "additionalProperties": false, "required": ["format", "source"], "properties": {
                "format": {"type": "string", "enum": ["mkv", "mov", "mp4", "webm", "flv", "mpeg", "mpg", "wmv", "three_gp"]},
                "source": source
            }},
            "document": {"type": "object", "additionalProperties": false, "required": ["format", "name", "source"], "properties": {
                "format": {"type": "string", "enum": ["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]},
                "name": {"type": "string", "minLength": 1},
                "source": {"type": "object"}
            }},
            "toolUse": {"type": "object", "additionalProperties": false, "required": ["toolUseId", "name", "input"], "properties": {
                "toolUseId": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "input": {"type": "object"}
            }},
            "toolResult": {"type": "object", "additionalProperties": false, "required": ["toolUseId", "content"], "properties": {
                "toolUseId": {"type": "string", "minLength": 1},
                "content": {"type": "array", "items": {"type": "object"}},
                "status": {"type": "string", "enum": ["success", "error"]}
            }},
            "cachePoint": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["default"]}}},
            "reasoningContent": {"type": "object"}
        }
    });
    let tokens = json!({"type": "integer", "minimum": 1, "maximum": cap});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["messages"],
        "properties": {
            "schemaVersion": {"type": "string", "enum": ["messages-v1"]},
            "system": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {
                "text": {"type": "string"},
                "cachePoint": {"type": "object"}
            }}},
            "messages": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": ["user", "assistant"]},
                    "content": {"type": "array", "items": block}
                }
            }},
            "inferenceConfig": {"type": "object", "properties": {
                "max_new_tokens": tokens,
                "maxTokens": tokens,
                "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "topP": {"type": "number", "minimum": 0, "maximum": 1},
                "top_k": {"type": "integer", "minimum": 0},
                "topK": {"type": "integer", "minimum": 0},
                "stopSequences": {"type": "array", "items": {"type": "string"}}
            }},
            "toolConfig": {"type": "object", "additionalProperties": false, "required": ["tools"], "properties": {
                "tools": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {
                    "toolSpec": {"type": "object", "additionalProperties": false, "required": ["name", "inputSchema"], "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "description": {"type": "string"},
                        "inputSchema": {"type": "object", "additionalProperties": false, "required": ["json"], "properties": {
                            "json": {"type": "object"}
                        }}
                    }},
                    "cachePoint": {"type": "object"}
                }}},
                "toolChoice": {"type": "object", "additionalProperties": false, "properties": {
                    "auto": {"type": "object"},
                    "any": {"type": "object"},
                    "tool": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
                }}
            }}
        }
    })
}

fn unsupported(kind: &str) -> BedrockError {
    BedrockError::validation(format!(
        "This model doesn't support the {kind} content block that you provided. Try again with a supported content block."
    ))
}

fn decoded_len(source: &Value) -> usize {
    source
        .get("bytes")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map_or(0, |b| b.len())
}

/// Exactly one member per union object, in everit's `minimum/maximum size` wording.
fn check_union(value: &Value, path: &str) -> Result<(), BedrockError> {
    let n = value.as_object().map_or(0, |o| o.len());
    match n {
        1 => Ok(()),
        0 => Err(malformed(&[format!("{path}: minimum size: [1], found: [0]")])),
        _ => Err(malformed(&[format!("{path}: maximum size: [1], found: [{n}]")])),
    }
}

fn parse_block(block: &Value, i: usize, j: usize, model: &FoundationModel) -> Result<Block, BedrockError> {
    check_union(block, &format!("#/messages/{i}/content/{j}"))?;
    let kind = BLOCK_KINDS.iter().copied().find(|k| block.get(*k).is_some()).unwrap_or("text");
    let value = &block[kind];
    Ok(match kind {
        "text" => Block::Text(value.as_str().unwrap_or_default().to_string()),
        "image" => {
            if !model.emulator.vision {
                return Err(unsupported("image"));
            }
            Block::Image {
                format: value["format"].as_str().unwrap_or_default().to_string(),
                size: decoded_len(&value["source"]),
            }
        }
        "video" => {
            if !model.input_modalities.iter().any(|m| m == "VIDEO") {
                return Err(unsupported("video"));
            }
            Block::Other("video".into())
        }
        "document" => {
            if !model.emulator.documents {
                return Err(unsupported("document"));
            }
            let source = &value["source"];
            let size = match source.get("text").and_then(Value::as_str) {
                Some(t) => t.len(),
                None if source.get("bytes").is_some() => decoded_len(source),
                None if source.get("s3Location").is_some() => 0,
                None => source.to_string().len(),
            };
            Block::Document {
                name: value["name"].as_str().unwrap_or_default().to_string(),
                format: value["format"].as_str().unwrap_or("txt").to_string(),
                size,
            }
        }
        "toolUse" => Block::ToolUse {
            id: value["toolUseId"].as_str().unwrap_or_default().to_string(),
            name: value["name"].as_str().unwrap_or_default().to_string(),
            input: value["input"].clone(),
        },
        "toolResult" => {
            let text = value["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| match (c.get("text"), c.get("json")) {
                    (Some(t), _) => t.as_str().map(str::to_string),
                    (None, Some(j)) => Some(j.to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" ");
            Block::ToolResult {
                id: value["toolUseId"].as_str().unwrap_or_default().to_string(),
                text,
                is_error: value.get("status").and_then(Value::as_str) == Some("error"),
            }
        }
        "reasoningContent" => Block::Reasoning(
            value.pointer("/reasoningText/text").and_then(Value::as_str).unwrap_or_default().to_string(),
        ),
        other => Block::Other(other.to_string()),
    })
}

fn parse_tools(body: &Value) -> Result<(Vec<ToolSpec>, ToolChoice), BedrockError> {
    let Some(config) = body.get("toolConfig") else {
        return Ok((Vec::new(), ToolChoice::Auto));
    };
    let mut tools = Vec::new();
    for (k, t) in config["tools"].as_array().into_iter().flatten().enumerate() {
        check_union(t, &format!("#/toolConfig/tools/{k}"))?;
        let Some(spec) = t.get("toolSpec") else { continue };
        let schema = spec.pointer("/inputSchema/json").cloned().unwrap_or_else(|| json!({"type": "object"}));
        // Nova's tool-schema validator rejects JSON-Schema definitions (reported on Converse as
        // "…/inputSchema/json: extraneous key [definitions] is not permitted").
        let extraneous: Vec<String> = ["$defs", "definitions"]
            .iter()
            .filter(|key| schema.get(**key).is_some())
            .map(|key| {
                format!("#/toolConfig/tools/{k}/toolSpec/inputSchema/json: extraneous key [{key}] is not permitted")
            })
            .collect();
        if !extraneous.is_empty() {
            return Err(malformed(&extraneous));
        }
        tools.push(ToolSpec {
            name: spec["name"].as_str().unwrap_or_default().to_string(),
            description: spec.get("description").and_then(Value::as_str).map(str::to_string),
            input_schema: schema,
        });
    }
    let choice = match config.get("toolChoice") {
        Some(c) => {
            check_union(c, "#/toolConfig/toolChoice")?;
            if c.get("any").is_some() {
                ToolChoice::Any
            } else if let Some(name) = c.pointer("/tool/name").and_then(Value::as_str) {
                ToolChoice::Tool(name.to_string())
            } else {
                ToolChoice::Auto
            }
        }
        None => ToolChoice::Auto,
    };
    Ok((tools, choice))
}

/// Text deltas of one to two words with the spaces in front of the words (`"The"`, `" the year"`),
/// as Nova, Titan and Mistral stream them; concatenated they give `text` back.
pub fn word_deltas(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut carry = String::new();
    for d in text_deltas(text) {
        let (body, space) = d.split_at(d.trim_end().len());
        out.push(format!("{carry}{body}"));
        carry = space.to_string();
    }
    match out.last_mut() {
        Some(last) => last.push_str(&carry),
        None if !carry.is_empty() => out.push(carry),
        None => {}
    }
    out
}

/// Nova's tool-use id for a canonical one: a UUID derived from it (stable both ways round a
/// conversation, since the client sends the UUID back).
pub fn nova_tool_id(canonical: &str) -> String {
    SplitMix64::new(stable_hash(0x6e6f7661, canonical.as_bytes())).uuid()
}

/// Closes block `index` and moves on to the next.
fn close(out: &mut Vec<Value>, index: &mut usize) {
    out.push(json!({"contentBlockStop": {"contentBlockIndex": *index}}));
    *index += 1;
}

fn content_json(reply: &Reply) -> Vec<Value> {
    reply
        .content
        .iter()
        .map(|b| match b {
            ReplyBlock::Text(t) => json!({"text": t}),
            ReplyBlock::ToolUse { id, name, input } => {
                json!({"toolUse": {"name": name, "toolUseId": nova_tool_id(id), "input": input}})
            }
            ReplyBlock::Reasoning { text, signature } => {
                json!({"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}})
            }
        })
        .collect()
}

impl TextFamily for Nova {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        validate(body, &request_schema(model.emulator.max_output_tokens))?;
        let mut messages = Vec::new();
        for (i, m) in body["messages"].as_array().into_iter().flatten().enumerate() {
            let role = if m["role"] == "assistant" { Role::Assistant } else { Role::User };
            let content = m["content"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(j, b)| parse_block(b, i, j, model))
                .collect::<Result<Vec<_>, _>>()?;
            messages.push(Message { role, content });
        }
        let mut system = Vec::new();
        for (k, s) in body.get("system").and_then(Value::as_array).into_iter().flatten().enumerate() {
            check_union(s, &format!("#/system/{k}"))?;
            if let Some(t) = s.get("text").and_then(Value::as_str) {
                system.push(t.to_string());
            }
        }
        let (tools, tool_choice) = parse_tools(body)?;
        let cfg = body.get("inferenceConfig");
        let get = |a: &str, b: &str| cfg.and_then(|c| c.get(a).or_else(|| c.get(b)));
        Ok(Conversation {
            system,
            messages,
            inference: InferenceConfig {
                max_tokens: super::native_schema::count(get("max_new_tokens", "maxTokens")),
                temperature: get("temperature", "temperature").and_then(Value::as_f64),
                top_p: get("top_p", "topP").and_then(Value::as_f64),
                stop_sequences: get("stopSequences", "stopSequences")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
            },
            tools,
            tool_choice,
            output_schema: None,
            thinking_budget: None,
        })
    }

    fn render(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Value {
        json!({
            "output": {"message": {"content": content_json(reply), "role": "assistant"}},
            "stopReason": self.native_stop(reply.stop_reason),
            "usage": {
                "inputTokens": reply.usage.input_tokens,
                "outputTokens": reply.usage.output_tokens,
                "totalTokens": reply.usage.input_tokens + reply.usage.output_tokens,
                "cacheReadInputTokenCount": 0,
                "cacheWriteInputTokenCount": 0,
            }
        })
    }

    fn chunks(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Vec<Value> {
        let mut out = vec![json!({"messageStart": {"role": "assistant"}})];
        let mut index = 0usize;
        for block in &reply.content {
            match block {
                ReplyBlock::Text(text) => {
                    for d in word_deltas(text) {
                        out.push(json!({"contentBlockDelta": {"delta": {"text": d}, "contentBlockIndex": index}}));
                        close(&mut out, &mut index);
                    }
                }
                ReplyBlock::Reasoning { text, .. } => {
                    for d in word_deltas(text) {
                        out.push(json!({"contentBlockDelta": {
                            "delta": {"reasoningContent": {"text": d}}, "contentBlockIndex": index
                        }}));
                        close(&mut out, &mut index);
                    }
                }
                ReplyBlock::ToolUse { id, name, input } => {
                    out.push(json!({"contentBlockStart": {
                        "start": {"toolUse": {"toolUseId": nova_tool_id(id), "name": name}}, "contentBlockIndex": index
                    }}));
                    out.push(json!({"contentBlockDelta": {
                        "delta": {"toolUse": {"input": input.to_string()}}, "contentBlockIndex": index
                    }}));
                    close(&mut out, &mut index);
                }
            }
        }
        out.push(json!({"messageStop": {"stopReason": self.native_stop(reply.stop_reason)}}));
        out.push(json!({"metadata": {
            "usage": {
                "inputTokens": reply.usage.input_tokens,
                "outputTokens": reply.usage.output_tokens,
                "cacheReadInputTokenCount": 0,
                "cacheWriteInputTokenCount": 0,
            },
            "metrics": {},
            "trace": {}
        }}));
        out
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        stop.as_str()
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        let text = body
            .pointer("/output/message/content")?
            .as_array()?
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<String>();
        Some(NativeReply {
            text,
            input_tokens: body.pointer("/usage/inputTokens").and_then(Value::as_u64).map(|n| n as u32),
            output_tokens: body.pointer("/usage/outputTokens").and_then(Value::as_u64).map(|n| n as u32),
            stop_reason: body.get("stopReason").and_then(Value::as_str).map(str::to_string),
        })
    }

    fn extra_headers(&self) -> &'static [(&'static str, &'static str)] {
        CACHE_HEADERS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;
    use crate::canonical::Usage;
    use crate::synthetic::SyntheticModel;

    fn model(id: &str) -> &'static FoundationModel {
        Catalog::builtin().model(id).expect("model in catalog")
    }

    fn micro() -> &'static FoundationModel {
        model("amazon.nova-micro-v1:0")
    }

    fn meta() -> RenderMeta<'static> {
        RenderMeta { model: micro(), request: crate::families::empty_request(), hash: 42 }
    }

    fn reply_for(body: &Value) -> Reply {
        let conv = Nova.parse(body, micro()).expect("valid request");
        SyntheticModel::new(0).reply(&micro().model_id, &conv, micro().emulator.max_output_tokens)
    }

    fn error(body: Value) -> String {
        Nova.parse(&body, micro()).expect_err("invalid request").message
    }

    fn weather_tools() -> Value {
        json!({"tools": [{"toolSpec": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location.",
            "inputSchema": {"json": {"type": "object", "properties": {"location": {"type": "string", "description": "The name of the city"}}, "required": ["location"]}}
        }}]})
    }

    #[test]
    fn recorded_requests_parse_like_converse() {
        // otel-python-botocore-vcr/test_invoke_model_no_content[amazon.nova].yaml
        let body = json!({
            "messages": [{"role": "user", "content": [{"text": "Say this is a test"}]}],
            "inferenceConfig": {"max_new_tokens": 10, "temperature": 0.8, "topP": 1, "stopSequences": ["|"]},
            "schemaVersion": "messages-v1"
        });
        let conv = Nova.parse(&body, micro()).expect("valid");
        assert_eq!(
            conv.messages,
            vec![Message { role: Role::User, content: vec![Block::Text("Say this is a test".into())] }]
        );
        assert_eq!(conv.inference.max_tokens, Some(10));
        assert_eq!(conv.inference.top_p, Some(1.0));
        assert_eq!(conv.inference.stop_sequences, vec!["|".to_string()]);
        // openinference-py-vcr/TestNovaInvokeModel.test_nova_lite_with_system.yaml
        let body = json!({"schemaVersion": "messages-v1", "system": [{"text": "You are a helpful assistant. Keep responses brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hello! Who are you?"}]}], "inferenceConfig": {"maxTokens": 128, "temperature": 0.5}});
        let conv = Nova.parse(&body, model("amazon.nova-lite-v1:0")).expect("valid");
        assert_eq!(conv.system, vec!["You are a helpful assistant. Keep responses brief.".to_string()]);
        assert_eq!(conv.inference.max_tokens, Some(128));
    }

    #[test]
    fn a_recorded_tool_result_turn_parses() {
        // otel-python-botocore-vcr/test_invoke_model_no_content_tool_call[amazon.nova].yaml (second request)
        let mut body = json!({
            "messages": [
                {"role": "user", "content": [{"text": "What is the weather in Seattle and San Francisco today? Please expect one tool call for Seattle and one for San Francisco"}]},
                {"content": [
                    {"text": "<thinking> I will call the tool for each city.</thinking>\n"},
                    {"toolUse": {"name": "get_current_weather", "toolUseId": "4d8acf92-6a04-42b6-aaf7-f68937a339ef", "input": {"location": "Seattle"}}},
                    {"toolUse": {"name": "get_current_weather", "toolUseId": "db27bd9d-9f7d-4783-aa8b-59871e00e0bc", "input": {"location": "San Francisco"}}}
                ], "role": "assistant"},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "4d8acf92-6a04-42b6-aaf7-f68937a339ef", "content": [{"json": {"weather": "50 degrees and raining"}}]}},
                    {"toolResult": {"toolUseId": "db27bd9d-9f7d-4783-aa8b-59871e00e0bc", "content": [{"json": {"weather": "70 degrees and sunny"}}]}}
                ]}
            ],
            "inferenceConfig": {"max_new_tokens": 1000},
            "schemaVersion": "messages-v1"
        });
        body["toolConfig"] = weather_tools();
        let conv = Nova.parse(&body, micro()).expect("valid");
        assert_eq!(conv.tools.len(), 1);
        assert_eq!(
            conv.messages[2].content[0],
            Block::ToolResult {
                id: "4d8acf92-6a04-42b6-aaf7-f68937a339ef".into(),
                text: "{\"weather\":\"50 degrees and raining\"}".into(),
                is_error: false
            }
        );
        let reply = SyntheticModel::new(0).reply(&micro().model_id, &conv, 10_000);
        assert_eq!(reply.stop_reason, StopReason::EndTurn);
    }

    #[test]
    fn the_response_shape_is_stable() {
        let reply = reply_for(
            &json!({"messages": [{"role": "user", "content": [{"text": "What is 2+2? Reply with just the number."}]}]}),
        );
        insta::assert_json_snapshot!(Nova.render(&reply, &meta()));
    }

    #[test]
    fn the_tool_use_response_shape_is_stable() {
        let mut body =
            json!({"messages": [{"role": "user", "content": [{"text": "What is the weather in Seattle?"}]}]});
        body["toolConfig"] = weather_tools();
        let reply = reply_for(&body);
        assert_eq!(reply.stop_reason, StopReason::ToolUse);
        let rendered = Nova.render(&reply, &meta());
        let id = rendered.pointer("/output/message/content/1/toolUse/toolUseId").and_then(Value::as_str).unwrap_or("");
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.matches('-').count(), 4, "{id}");
        insta::assert_json_snapshot!(rendered);
    }

    #[test]
    fn the_chunk_sequence_is_stable() {
        let reply = Reply {
            content: vec![
                ReplyBlock::Text("I will use the get_weather tool.".into()),
                ReplyBlock::ToolUse {
                    id: "tooluse_abcdefghijklmnopqrstuv".into(),
                    name: "get_weather".into(),
                    input: json!({"location": "Seattle"}),
                },
            ],
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
            usage: Usage { input_tokens: 12, output_tokens: 13 },
            latency_ms: 244,
        };
        let chunks = Nova.chunks(&reply, &meta());
        // Every text delta is its own block: delta, stop, delta, stop, …
        assert_eq!(chunks[1]["contentBlockDelta"]["contentBlockIndex"], 0);
        assert_eq!(chunks[2]["contentBlockStop"]["contentBlockIndex"], 0);
        assert_eq!(chunks[3]["contentBlockDelta"]["contentBlockIndex"], 1);
        assert!(chunks.last().is_some_and(|c| c.get("metadata").is_some()));
        let key_order: Vec<&str> = chunks[1]["contentBlockDelta"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(key_order, ["delta", "contentBlockIndex"]);
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn word_deltas_put_the_spaces_in_front() {
        assert_eq!(word_deltas("In the year 2154, humanity"), ["In the", " year 2154,", " humanity"]);
        for t in ["", "  ", " a b ", "x\n\ny z", "one"] {
            assert_eq!(word_deltas(t).concat(), t);
        }
    }

    #[test]
    fn nova_sends_the_cache_headers() {
        let names: Vec<&str> = Nova.extra_headers().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            ["X-Amzn-Bedrock-Cache-Read-Input-Token-Count", "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"]
        );
        assert!(Nova.extra_headers().iter().all(|(_, v)| *v == "0"));
    }

    #[test]
    fn the_same_prompt_gets_the_same_text_as_converse() {
        let text = "Tell me a very short story about space exploration in the future.";
        let native = reply_for(&json!({"messages": [{"role": "user", "content": [{"text": text}]}]}));
        let converse = crate::api::converse::parse(
            json!({"messages": [{"role": "user", "content": [{"text": text}]}]}).to_string().as_bytes(),
            micro(),
            crate::api::converse::Mode::Unary,
        )
        .expect("valid converse");
        let via_converse = SyntheticModel::new(0).reply(&micro().model_id, &converse.conversation, 10_000);
        assert_eq!(native.content, via_converse.content);
    }

    #[test]
    fn malformed_input_uses_everit_wording() {
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "top_p": 0.5})),
            "Malformed input request: #: extraneous key [top_p] is not permitted, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"prompt": "hi"})),
            "Malformed input request: #: required key [messages] not found#: extraneous key [prompt] is not permitted, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})),
            "Malformed input request: #/messages/0/content/0: extraneous key [type] is not permitted, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"max_new_tokens": 10001}})),
            "Malformed input request: #/inferenceConfig/max_new_tokens: 10001 is not less or equal to 10000, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"messages": [{"role": "system", "content": [{"text": "hi"}]}]})),
            "Malformed input request: #/messages/0/role: system is not a valid enum value, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"messages": [{"role": "user", "content": [{}]}]})),
            "Malformed input request: #/messages/0/content/0: minimum size: [1], found: [0], please reformat your input and try again."
        );
        let mut body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
        body["toolConfig"] = json!({"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "object", "definitions": {}}}}}]});
        assert_eq!(
            error(body),
            "Malformed input request: #/toolConfig/tools/0/toolSpec/inputSchema/json: extraneous key [definitions] is not permitted, please reformat your input and try again."
        );
    }

    #[test]
    fn images_need_a_vision_model() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"text": "What is this?"},
            {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
        ]}]});
        assert!(error(body.clone()).contains("doesn't support the image content block"));
        let conv = Nova.parse(&body, model("amazon.nova-lite-v1:0")).expect("lite sees images");
        assert_eq!(conv.messages[0].content[1], Block::Image { format: "png".into(), size: 8 });
    }

    #[test]
    fn read_parses_the_rendered_body() {
        let reply = reply_for(&json!({"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}));
        let read = Nova.read(&Nova.render(&reply, &meta())).expect("reads");
        assert_eq!(read.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(read.output_tokens, Some(reply.usage.output_tokens));
        assert!(read.text.starts_with("You said: \"Hello\"."), "{}", read.text);
    }
}
