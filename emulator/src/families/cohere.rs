//! Cohere text generation on Bedrock, SPEC §7.7: Command (`cohere.command-text-v14`,
//! `command-light-text-v14`, Cohere's generate API) and Command R/R+ (`cohere.command-r-v1:0`,
//! `command-r-plus-v1:0`, Cohere's v1 chat API).
//!
//! Canonically a Command prompt is one user text message, and a Command R request is
//! `preamble` (system) + `chat_history` + `message` (the last user turn), so the same prompt
//! gets the same text as through Converse.
//!
//! Both formats echo parts of the request in the response (`prompt`, `chat_history`), and
//! Command's stream shape depends on the request's `stream` flag: the renderers read these
//! from the request in [`RenderMeta::request`] (see [`echo`]).

use serde_json::{json, Map, Value};

use super::native_schema::{malformed, validate};
use super::{NativeReply, RenderMeta, TextFamily};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{
    Block, Conversation, InferenceConfig, Message, Reply, ReplyBlock, Role, StopReason, ToolChoice, ToolSpec,
};
use crate::rng::{stable_hash, SplitMix64};
use crate::synthetic::tokenizer;
use crate::wire::error::BedrockError;

/// Cohere Command (generate API).
#[derive(Debug, Clone, Copy)]
pub struct CohereCommand;

/// Cohere Command R / R+ (chat API).
#[derive(Debug, Clone, Copy)]
pub struct CohereCommandR;

/// Bedrock's default `max_tokens` for Command when the request sets none.
pub const COMMAND_DEFAULT_MAX_TOKENS: u32 = 20;

/// What a response echoes from its request. Each format's schema rejects the other's keys, so
/// a Command request leaves the Command R fields empty and vice versa.
#[derive(Debug, Clone, PartialEq)]
struct Echo<'a> {
    /// Command: the prompt.
    prompt: &'a str,
    /// Command: `stream: true` (token chunks on IMWRS instead of one whole-response chunk).
    stream: bool,
    /// Command: `num_generations` (at least 1).
    generations: usize,
    /// Command R: the request's `chat_history`, as sent.
    history: &'a [Value],
    /// Command R: the request's `message`.
    message: &'a str,
    /// Command R: the request's `tool_results`, as sent.
    tool_results: &'a [Value],
}

/// What a response to the native `request` echoes from it.
fn echo(request: &Value) -> Echo<'_> {
    let text = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or_default();
    let list = |key: &str| request.get(key).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    Echo {
        prompt: text("prompt"),
        stream: request.get("stream").and_then(Value::as_bool).unwrap_or(false),
        generations: super::native_schema::count(request.get("num_generations")).map_or(1, |n| (n as usize).max(1)),
        history: list("chat_history"),
        message: text("message"),
        tool_results: list("tool_results"),
    }
}

/// A version-4-shaped UUID derived from the request hash, distinct per `salt`.
fn uuid(meta: &RenderMeta<'_>, salt: u64) -> String {
    SplitMix64::new(meta.hash ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)).uuid()
}

/// Splits text into one piece per token (leading whitespace goes with the token, trailing
/// whitespace with the last piece), so the pieces concatenate back to the text exactly.
pub fn token_deltas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev = 0;
    for (_, end) in tokenizer::token_spans(text) {
        out.push(text[prev..end].to_string());
        prev = end;
    }
    if prev < text.len() {
        match out.last_mut() {
            Some(last) => last.push_str(&text[prev..]),
            None => out.push(text[prev..].to_string()),
        }
    }
    out
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Appends `blocks` as a `role` turn, merging with the previous turn of the same role.
fn push_turn(messages: &mut Vec<Message>, role: Role, blocks: Vec<Block>) {
    if blocks.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => messages.push(Message { role, content: blocks }),
    }
}

// ---------------------------------------------------------------------------------------------
// Command (generate API)

fn command_schema(cap: u32) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string"},
            "temperature": {"type": "number", "minimum": 0, "maximum": 5},
            "p": {"type": "number", "minimum": 0, "maximum": 1},
            "k": {"type": "integer", "minimum": 0, "maximum": 500},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": cap},
            "stop_sequences": {"type": "array", "items": {"type": "string"}},
            "return_likelihoods": {"type": "string", "enum": ["GENERATION", "ALL", "NONE"]},
            "stream": {"type": "boolean"},
            "num_generations": {"type": "integer", "minimum": 1, "maximum": 5},
            "logit_bias": {"type": "object"},
            "truncate": {"type": "string", "enum": ["NONE", "START", "END"]}
        }
    })
}

impl CohereCommand {
    fn body(&self, reply: &Reply, meta: &RenderMeta<'_>, echo: &Echo) -> Value {
        let text = reply.text();
        let generations: Vec<Value> = (0..echo.generations)
            .map(|i| {
                json!({
                    "id": uuid(meta, 2 + i as u64),
                    "text": text,
                    "finish_reason": self.native_stop(reply.stop_reason),
                })
            })
            .collect();
        json!({"id": uuid(meta, 1), "generations": generations, "prompt": echo.prompt})
    }
}

impl TextFamily for CohereCommand {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        validate(body, &command_schema(model.emulator.max_output_tokens))?;
        let prompt = body["prompt"].as_str().unwrap_or_default().to_string();
        let mut messages = Vec::new();
        if !prompt.is_empty() {
            messages.push(Message { role: Role::User, content: vec![Block::Text(prompt)] });
        }
        Ok(Conversation {
            messages,
            inference: InferenceConfig {
                max_tokens: Some(
                    super::native_schema::count(body.get("max_tokens")).unwrap_or(COMMAND_DEFAULT_MAX_TOKENS),
                ),
                temperature: body.get("temperature").and_then(Value::as_f64),
                top_p: body.get("p").and_then(Value::as_f64),
                stop_sequences: strings(body.get("stop_sequences")),
            },
            ..Conversation::default()
        })
    }

    fn render(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Value {
        self.body(reply, meta, &echo(meta.request))
    }

    /// With `stream: true`, one `{"text", "is_finished": false}` chunk per token, then
    /// `{"is_finished": true, "finish_reason", "response": <whole body>}`. Without it Bedrock
    /// sends the whole response body as a single chunk.
    fn chunks(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Vec<Value> {
        let echo = echo(meta.request);
        let body = self.body(reply, meta, &echo);
        if !echo.stream {
            return vec![body];
        }
        let many = echo.generations > 1;
        let text = reply.text();
        let mut out = Vec::new();
        for index in 0..echo.generations {
            for piece in token_deltas(&text) {
                let mut chunk = json!({"text": piece, "is_finished": false});
                if many {
                    chunk["index"] = json!(index);
                }
                out.push(chunk);
            }
        }
        out.push(json!({"is_finished": true, "finish_reason": self.native_stop(reply.stop_reason), "response": body}));
        out
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        finish_reason(stop)
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        let first = body.get("generations")?.as_array()?.first()?;
        Some(NativeReply {
            text: first.get("text")?.as_str()?.to_string(),
            input_tokens: None,
            output_tokens: None,
            stop_reason: first.get("finish_reason").and_then(Value::as_str).map(str::to_string),
        })
    }
}

/// Cohere's `finish_reason` for a stop reason (both Cohere APIs spell it the same way).
fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::ToolUse | StopReason::GuardrailIntervened => "COMPLETE",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::StopSequence => "STOP_SEQUENCE",
    }
}

// ---------------------------------------------------------------------------------------------
// Command R / R+ (chat API)

fn command_r_schema(cap: u32) -> Value {
    let call = json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"},
        "parameters": {"type": "object"}
    }});
    let tool_result = json!({"type": "object", "required": ["call", "outputs"], "properties": {
        "call": call,
        "outputs": {"type": "array", "items": {"type": "object"}}
    }});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "chat_history": {"type": "array", "items": {
                "type": "object",
                "required": ["role"],
                "properties": {
                    "role": {"type": "string", "enum": ["USER", "CHATBOT", "SYSTEM", "TOOL"]},
                    "message": {"type": "string"},
                    "tool_calls": {"type": "array", "items": call},
                    "tool_results": {"type": "array", "items": tool_result}
                }
            }},
            "documents": {"type": "array", "items": {"type": "object"}},
            "search_queries_only": {"type": "boolean"},
            "preamble": {"type": "string"},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": cap},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "p": {"type": "number", "minimum": 0.01, "maximum": 0.99},
            "k": {"type": "integer", "minimum": 0, "maximum": 500},
            "prompt_truncation": {"type": "string", "enum": ["OFF", "AUTO_PRESERVE_ORDER"]},
            "frequency_penalty": {"type": "number", "minimum": 0, "maximum": 1},
            "presence_penalty": {"type": "number", "minimum": 0, "maximum": 1},
            "seed": {"type": "integer"},
            "return_prompt": {"type": "boolean"},
            "tools": {"type": "array", "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "parameter_definitions": {"type": "object"}
                }
            }},
            "tool_results": {"type": "array", "items": tool_result},
            "stop_sequences": {"type": "array", "items": {"type": "string"}},
            "raw_prompting": {"type": "boolean"}
        }
    })
}

/// Cohere's Python-flavoured parameter types as JSON-schema types.
fn json_type(cohere: &str) -> &'static str {
    let lower = cohere.to_ascii_lowercase();
    if lower.starts_with("int") {
        "integer"
    } else if lower.starts_with("float") || lower == "number" || lower == "double" {
        "number"
    } else if lower.starts_with("bool") {
        "boolean"
    } else if lower.starts_with("list") || lower.starts_with("array") || lower.starts_with("tuple") {
        "array"
    } else if lower.starts_with("dict") || lower == "object" {
        "object"
    } else {
        "string"
    }
}

/// A Cohere tool (`parameter_definitions`) as a canonical tool with a JSON schema.
fn tool_spec(tool: &Value) -> ToolSpec {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, def) in tool.get("parameter_definitions").and_then(Value::as_object).into_iter().flatten() {
        let mut prop = json!({"type": json_type(def.get("type").and_then(Value::as_str).unwrap_or("str"))});
        if let Some(d) = def.get("description").and_then(Value::as_str) {
            prop["description"] = json!(d);
        }
        properties.insert(name.clone(), prop);
        if def.get("required").and_then(Value::as_bool).unwrap_or(false) {
            required.push(name.clone());
        }
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    ToolSpec {
        name: tool["name"].as_str().unwrap_or_default().to_string(),
        description: tool.get("description").and_then(Value::as_str).map(str::to_string),
        input_schema: schema,
    }
}

/// Number of tool calls in the conversation so far (for fresh call ids).
fn tool_call_count(messages: &[Message]) -> usize {
    messages.iter().flat_map(|m| &m.content).filter(|b| matches!(b, Block::ToolUse { .. })).count()
}

/// A Cohere call (`{name, parameters}`) as the conversation's `n`-th tool use.
fn tool_use(n: usize, call: &Value) -> Block {
    Block::ToolUse {
        id: format!("cohere_call_{n}"),
        name: call.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        input: call.get("parameters").cloned().unwrap_or_else(|| json!({})),
    }
}

/// Cohere tool results as a user turn of `ToolResult` blocks. Cohere calls carry no ids, so
/// each result is matched by name to an unanswered call of the preceding assistant turn; a
/// result without one gets a call added there (Cohere lets `tool_results` stand alone).
fn push_tool_results(messages: &mut Vec<Message>, results: &[Value]) {
    let mut blocks = Vec::new();
    let mut answered: Vec<String> = Vec::new();
    for result in results {
        let call = &result["call"];
        let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
        let open = messages.last().filter(|m| m.role == Role::Assistant).and_then(|m| {
            m.content.iter().find_map(|b| match b {
                Block::ToolUse { id, name: n, .. } if n == name && !answered.contains(id) => Some(id.clone()),
                _ => None,
            })
        });
        let id = match open {
            Some(id) => id,
            None => {
                let block = tool_use(tool_call_count(messages), call);
                let id = match &block {
                    Block::ToolUse { id, .. } => id.clone(),
                    _ => String::new(),
                };
                push_turn(messages, Role::Assistant, vec![block]);
                id
            }
        };
        let text = result
            .get("outputs")
            .and_then(Value::as_array)
            .map(|outputs| outputs.iter().map(Value::to_string).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        answered.push(id.clone());
        blocks.push(Block::ToolResult { id, text, is_error: false });
    }
    push_turn(messages, Role::User, blocks);
}

impl CohereCommandR {
    fn body(&self, reply: &Reply, meta: &RenderMeta<'_>, echo: &Echo) -> Value {
        let text = reply.text();
        let tool_calls: Vec<Value> = reply
            .content
            .iter()
            .filter_map(|b| match b {
                ReplyBlock::ToolUse { name, input, .. } => Some(json!({"name": name, "parameters": input})),
                _ => None,
            })
            .collect();
        let mut history = echo.history.to_vec();
        if !echo.message.is_empty() {
            history.push(json!({"role": "USER", "message": echo.message}));
        }
        if !echo.tool_results.is_empty() {
            history.push(json!({"role": "TOOL", "tool_results": echo.tool_results}));
        }
        let mut turn = json!({"role": "CHATBOT", "message": text});
        if !tool_calls.is_empty() {
            turn["tool_calls"] = json!(tool_calls);
        }
        history.push(turn);
        // The part before the slash is constant per deployment in real traffic.
        let deployment = stable_hash(0, meta.model.model_id.as_bytes()) as u32;
        let mut body = json!({
            "response_id": format!("{deployment:08x}/{}", uuid(meta, 1)),
            "text": text,
            "generation_id": uuid(meta, 2),
            "chat_history": history,
            "finish_reason": self.native_stop(reply.stop_reason),
        });
        if !tool_calls.is_empty() {
            body["tool_calls"] = json!(tool_calls);
        }
        body
    }
}

impl TextFamily for CohereCommandR {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        validate(body, &command_r_schema(model.emulator.max_output_tokens))?;
        let Echo { message, history, tool_results, .. } = echo(body);
        if message.trim().is_empty() && tool_results.is_empty() {
            return Err(BedrockError::validation(
                "invalid request: message must be at least 1 token long or tool results must be specified.",
            ));
        }
        let mut system: Vec<String> = body
            .get("preamble")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .into_iter()
            .collect();
        let mut messages = Vec::new();
        for (i, turn) in history.iter().enumerate() {
            let text = turn.get("message").and_then(Value::as_str).unwrap_or_default();
            let role = turn["role"].as_str().unwrap_or_default();
            if matches!(role, "USER" | "CHATBOT" | "SYSTEM") && turn.get("message").is_none() {
                return Err(malformed(&[format!("#/chat_history/{i}: required key [message] not found")]));
            }
            match role {
                "USER" if !text.is_empty() => push_turn(&mut messages, Role::User, vec![Block::Text(text.to_string())]),
                "CHATBOT" => {
                    let mut blocks = Vec::new();
                    if !text.is_empty() {
                        blocks.push(Block::Text(text.to_string()));
                    }
                    let first = tool_call_count(&messages);
                    for (k, call) in turn.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate()
                    {
                        blocks.push(tool_use(first + k, call));
                    }
                    push_turn(&mut messages, Role::Assistant, blocks);
                }
                "SYSTEM" if !text.is_empty() => system.push(text.to_string()),
                "TOOL" => {
                    let results = turn.get("tool_results").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                    push_tool_results(&mut messages, results);
                }
                _ => {}
            }
        }
        push_tool_results(&mut messages, tool_results);
        let mut last = Vec::new();
        if !message.is_empty() {
            last.push(Block::Text(message.to_string()));
        }
        for (j, doc) in body.get("documents").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let name = doc.get("title").and_then(Value::as_str).map_or_else(|| format!("document-{j}"), str::to_string);
            last.push(Block::Document { name, format: "txt".into(), size: doc.to_string().len() });
        }
        push_turn(&mut messages, Role::User, last);
        Ok(Conversation {
            system,
            messages,
            inference: InferenceConfig {
                max_tokens: super::native_schema::count(body.get("max_tokens")),
                temperature: body.get("temperature").and_then(Value::as_f64),
                top_p: body.get("p").and_then(Value::as_f64),
                stop_sequences: strings(body.get("stop_sequences")),
            },
            tools: body.get("tools").and_then(Value::as_array).into_iter().flatten().map(tool_spec).collect(),
            tool_choice: ToolChoice::Auto,
            output_schema: None,
            thinking_budget: None,
        })
    }

    fn render(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Value {
        self.body(reply, meta, &echo(meta.request))
    }

    /// `stream-start`, one `text-generation` per token, `tool-calls-generation` when the
    /// model called tools, then `stream-end` carrying the whole response.
    fn chunks(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Vec<Value> {
        let body = self.body(reply, meta, &echo(meta.request));
        let mut out =
            vec![json!({"is_finished": false, "event_type": "stream-start", "generation_id": body["generation_id"]})];
        for piece in token_deltas(&reply.text()) {
            out.push(json!({"is_finished": false, "event_type": "text-generation", "text": piece}));
        }
        if let Some(calls) = body.get("tool_calls") {
            out.push(json!({
                "is_finished": false,
                "event_type": "tool-calls-generation",
                "text": body["text"],
                "tool_calls": calls,
            }));
        }
        out.push(json!({
            "is_finished": true,
            "event_type": "stream-end",
            "finish_reason": self.native_stop(reply.stop_reason),
            "response": body,
        }));
        out
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        finish_reason(stop)
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        Some(NativeReply {
            text: body.get("text")?.as_str()?.to_string(),
            input_tokens: None,
            output_tokens: None,
            stop_reason: body.get("finish_reason").and_then(Value::as_str).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::converse;
    use crate::backend::catalog::Catalog;
    use crate::canonical::Usage;
    use crate::synthetic::SyntheticModel;

    fn model(id: &str) -> &'static FoundationModel {
        Catalog::builtin().model(id).expect("model in catalog")
    }

    fn meta<'a>(id: &str, request: &'a Value) -> RenderMeta<'a> {
        RenderMeta { model: model(id), request, hash: 42 }
    }

    fn reply(content: Vec<ReplyBlock>, stop_reason: StopReason, input_tokens: u32) -> Reply {
        Reply {
            content,
            stop_reason,
            stop_sequence: None,
            usage: Usage { input_tokens, output_tokens: 9 },
            latency_ms: 250,
        }
    }

    fn answer(family: &dyn TextFamily, id: &str, body: &Value) -> Reply {
        let conv = family.parse(body, model(id)).expect("valid request");
        SyntheticModel::new(0).reply(id, &conv, model(id).emulator.max_output_tokens)
    }

    /// The conversation Converse builds for one user text message, without inference settings.
    fn converse_conversation(id: &str, text: &str) -> Conversation {
        let body = json!({"messages": [{"role": "user", "content": [{"text": text}]}]});
        let req = converse::parse(body.to_string().as_bytes(), model(id), converse::Mode::Unary).expect("converse");
        Conversation { inference: InferenceConfig::default(), ..req.conversation }
    }

    #[test]
    fn a_recorded_command_request_is_one_user_message_like_converse() {
        // openinference-js-nock/should-handle-cohere-command-models.json
        let body = json!({"prompt": "Hello, how are you?", "max_tokens": 100, "temperature": 0.7, "p": 0.9, "k": 0, "stop_sequences": []});
        let conv = CohereCommand.parse(&body, model("cohere.command-text-v14")).expect("valid");
        assert_eq!(conv.inference.max_tokens, Some(100));
        assert_eq!(conv.inference.temperature, Some(0.7));
        assert_eq!(conv.inference.top_p, Some(0.9));
        assert_eq!(
            Conversation { inference: InferenceConfig::default(), ..conv },
            converse_conversation("cohere.command-text-v14", "Hello, how are you?")
        );
    }

    #[test]
    fn command_defaults_to_twenty_tokens() {
        let conv =
            CohereCommand.parse(&json!({"prompt": "Hi"}), model("cohere.command-light-text-v14")).expect("valid");
        assert_eq!(conv.inference.max_tokens, Some(COMMAND_DEFAULT_MAX_TOKENS));
    }

    #[test]
    fn a_recorded_command_r_request_is_one_user_message_like_converse() {
        // otel-python-botocore-vcr/test_invoke_model_with_content[cohere.command-r].yaml
        let body = json!({"message": "Say this is a test", "max_tokens": 10, "temperature": 0.8, "p": 0.99, "stop_sequences": ["|"]});
        let conv = CohereCommandR.parse(&body, model("cohere.command-r-v1:0")).expect("valid");
        assert_eq!(conv.inference.max_tokens, Some(10));
        assert_eq!(conv.inference.stop_sequences, vec!["|".to_string()]);
        assert_eq!(
            Conversation { inference: InferenceConfig::default(), ..conv },
            converse_conversation("cohere.command-r-v1:0", "Say this is a test")
        );
    }

    #[test]
    fn command_r_maps_preamble_history_and_tool_results() {
        let body = json!({
            "preamble": "Be brief.",
            "chat_history": [
                {"role": "USER", "message": "Weather in Paris?"},
                {"role": "CHATBOT", "message": "Checking.", "tool_calls": [{"name": "get_weather", "parameters": {"city": "Paris"}}]},
                {"role": "SYSTEM", "message": "Use Celsius."}
            ],
            "message": "",
            "tools": [{"name": "get_weather", "description": "Weather", "parameter_definitions": {
                "city": {"description": "City", "type": "str", "required": true}
            }}],
            "tool_results": [{"call": {"name": "get_weather", "parameters": {"city": "Paris"}}, "outputs": [{"temp": "21C"}]}]
        });
        let conv = CohereCommandR.parse(&body, model("cohere.command-r-plus-v1:0")).expect("valid");
        assert_eq!(conv.system, vec!["Be brief.".to_string(), "Use Celsius.".to_string()]);
        assert_eq!(
            conv.tools[0].input_schema,
            json!({"type": "object", "properties": {"city": {"type": "string", "description": "City"}}, "required": ["city"]})
        );
        assert_eq!(
            conv.messages,
            vec![
                Message { role: Role::User, content: vec![Block::Text("Weather in Paris?".into())] },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        Block::Text("Checking.".into()),
                        Block::ToolUse {
                            id: "cohere_call_0".into(),
                            name: "get_weather".into(),
                            input: json!({"city": "Paris"})
                        }
                    ]
                },
                Message {
                    role: Role::User,
                    content: vec![Block::ToolResult {
                        id: "cohere_call_0".into(),
                        text: "{\"temp\":\"21C\"}".into(),
                        is_error: false
                    }]
                },
            ]
        );
        let reply = SyntheticModel::new(0).reply("cohere.command-r-plus-v1:0", &conv, 4000);
        assert_eq!(reply.text(), "The get_weather tool returned: {\"temp\":\"21C\"}.");
        let rendered = CohereCommandR.render(&reply, &meta("cohere.command-r-plus-v1:0", &body));
        let roles: Vec<&str> =
            rendered["chat_history"].as_array().expect("history").iter().filter_map(|t| t["role"].as_str()).collect();
        assert_eq!(roles, ["USER", "CHATBOT", "SYSTEM", "TOOL", "CHATBOT"]);
    }

    #[test]
    fn the_command_response_shape_is_stable() {
        let id = "cohere.command-text-v14";
        let body = json!({"prompt": "Say this is a test", "max_tokens": 10});
        let reply = answer(&CohereCommand, id, &body);
        insta::assert_json_snapshot!(CohereCommand.render(&reply, &meta(id, &body)));
    }

    #[test]
    fn the_command_r_response_shape_is_stable() {
        let id = "cohere.command-r-v1:0";
        let body = json!({"message": "Say this is a test", "chat_history": [{"role": "USER", "message": "Hi"}, {"role": "CHATBOT", "message": "Hello!"}]});
        let reply = answer(&CohereCommandR, id, &body);
        insta::assert_json_snapshot!(CohereCommandR.render(&reply, &meta(id, &body)));
    }

    #[test]
    fn the_command_r_tool_call_response_shape_is_stable() {
        let id = "cohere.command-r-v1:0";
        let request = json!({"message": "What is the weather in Paris?", "tools": [{"name": "get_weather", "parameter_definitions": {
            "city": {"type": "str", "required": true}
        }}]});
        let reply = answer(&CohereCommandR, id, &request);
        assert_eq!(reply.stop_reason, StopReason::ToolUse);
        let body = CohereCommandR.render(&reply, &meta(id, &request));
        assert_eq!(body["finish_reason"], "COMPLETE");
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn command_streams_token_chunks_only_with_stream_true() {
        let id = "cohere.command-text-v14";
        let body = json!({"prompt": "Say this is a test", "max_tokens": 12});
        let reply = answer(&CohereCommand, id, &body);
        let whole = CohereCommand.chunks(&reply, &meta(id, &body));
        assert_eq!(whole, vec![CohereCommand.render(&reply, &meta(id, &body))]);

        let body = json!({"prompt": "Say this is a test", "max_tokens": 12, "stream": true});
        let reply = answer(&CohereCommand, id, &body);
        let chunks = CohereCommand.chunks(&reply, &meta(id, &body));
        let (last, pieces) = chunks.split_last().expect("chunks");
        assert!(pieces.iter().all(|c| c["is_finished"] == false && c["text"].is_string()));
        let text: String = pieces.iter().filter_map(|c| c["text"].as_str()).collect();
        assert_eq!(text, reply.text());
        assert_eq!(pieces.len() as u32, reply.usage.output_tokens);
        assert_eq!(last["is_finished"], true);
        assert_eq!(last["finish_reason"], "MAX_TOKENS");
        assert_eq!(last["response"], CohereCommand.render(&reply, &meta(id, &body)));
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn command_r_chunks_run_from_stream_start_to_stream_end() {
        let id = "cohere.command-r-v1:0";
        let body = json!({"message": "Explain the concept of machine learning", "max_tokens": 8});
        let reply = answer(&CohereCommandR, id, &body);
        let chunks = CohereCommandR.chunks(&reply, &meta(id, &body));
        let events: Vec<&str> = chunks.iter().filter_map(|c| c["event_type"].as_str()).collect();
        assert_eq!(events.first(), Some(&"stream-start"));
        assert_eq!(events.last(), Some(&"stream-end"));
        assert!(events[1..events.len() - 1].iter().all(|e| *e == "text-generation"));
        let text: String =
            chunks.iter().filter(|c| c["event_type"] == "text-generation").filter_map(|c| c["text"].as_str()).collect();
        assert_eq!(text, reply.text());
        assert_eq!(chunks[0]["generation_id"], chunks[chunks.len() - 1]["response"]["generation_id"]);
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn command_r_tool_calls_stream_a_tool_calls_generation_event() {
        let id = "cohere.command-r-v1:0";
        let body = json!({"message": "weather in Paris?", "tools": [{"name": "get_weather", "parameter_definitions": {"city": {"type": "str"}}}]});
        let reply = answer(&CohereCommandR, id, &body);
        let chunks = CohereCommandR.chunks(&reply, &meta(id, &body));
        let calls = chunks.iter().find(|c| c["event_type"] == "tool-calls-generation").expect("tool-calls-generation");
        assert_eq!(calls["tool_calls"][0]["name"], "get_weather");
        assert_eq!(chunks.last().map(|c| c["finish_reason"].clone()), Some(json!("COMPLETE")));
    }

    #[test]
    fn read_returns_what_render_wrote() {
        let r = reply(vec![ReplyBlock::Text("Hi there".into())], StopReason::StopSequence, 5);
        let request = json!({"prompt": "Hi"});
        let c =
            CohereCommand.read(&CohereCommand.render(&r, &meta("cohere.command-text-v14", &request))).expect("reads");
        assert_eq!((c.text.as_str(), c.stop_reason.as_deref()), ("Hi there", Some("STOP_SEQUENCE")));
        let request = json!({"message": "Hi"});
        let c =
            CohereCommandR.read(&CohereCommandR.render(&r, &meta("cohere.command-r-v1:0", &request))).expect("reads");
        assert_eq!((c.text.as_str(), c.stop_reason.as_deref()), ("Hi there", Some("STOP_SEQUENCE")));
    }

    #[test]
    fn num_generations_repeats_the_generation() {
        let id = "cohere.command-text-v14";
        let request = json!({"prompt": "Hi", "num_generations": 3});
        let reply = answer(&CohereCommand, id, &request);
        let body = CohereCommand.render(&reply, &meta(id, &request));
        let gens = body["generations"].as_array().expect("generations");
        assert_eq!(gens.len(), 3);
        assert_ne!(gens[0]["id"], gens[1]["id"]);
        assert_eq!(body["prompt"], "Hi");
    }

    #[test]
    fn malformed_command_bodies_get_everit_messages() {
        let m = model("cohere.command-text-v14");
        let e = CohereCommand.parse(&json!({"message": "hi", "temperature": 6}), m).expect_err("invalid");
        assert_eq!(
            e.message,
            "Malformed input request: #: required key [prompt] not found#: extraneous key [message] is not permitted#/temperature: 6 is not less or equal to 5, please reformat your input and try again."
        );
        let e = CohereCommand.parse(&json!({"prompt": "hi", "max_tokens": 5000}), m).expect_err("invalid");
        assert!(e.message.contains("#/max_tokens: 5000 is not less or equal to 4096"), "{}", e.message);
        let e = CohereCommand.parse(&json!({"prompt": "hi", "return_likelihoods": "SOME"}), m).expect_err("invalid");
        assert!(e.message.contains("#/return_likelihoods: SOME is not a valid enum value"), "{}", e.message);
    }

    #[test]
    fn malformed_command_r_bodies_get_everit_messages() {
        let m = model("cohere.command-r-v1:0");
        // Bedrock rejects `stream` for Command R (Portkey-AI/gateway#848).
        let e = CohereCommandR.parse(&json!({"message": "hi", "stream": true}), m).expect_err("invalid");
        assert_eq!(
            e.message,
            "Malformed input request: #: extraneous key [stream] is not permitted, please reformat your input and try again."
        );
        let e = CohereCommandR.parse(&json!({"prompt": "hi"}), m).expect_err("invalid");
        assert!(e.message.starts_with("Malformed input request: #: required key [message] not found"), "{}", e.message);
        let e = CohereCommandR
            .parse(&json!({"message": "hi", "chat_history": [{"role": "ASSISTANT", "message": "x"}]}), m)
            .expect_err("invalid");
        assert!(e.message.contains("#/chat_history/0/role: ASSISTANT is not a valid enum value"), "{}", e.message);
        let e = CohereCommandR
            .parse(&json!({"message": "hi", "chat_history": [{"role": "USER"}]}), m)
            .expect_err("invalid");
        assert!(e.message.contains("#/chat_history/0: required key [message] not found"), "{}", e.message);
        let e = CohereCommandR.parse(&json!({"message": "hi", "p": 1}), m).expect_err("invalid");
        assert!(e.message.contains("#/p: 1 is not less or equal to 0.99"), "{}", e.message);
        let e = CohereCommandR.parse(&json!({"message": " "}), m).expect_err("invalid");
        assert!(e.message.contains("message must be at least 1 token long"), "{}", e.message);
    }

    #[test]
    fn token_deltas_concatenate_back_to_the_text() {
        for text in ["", "  ", "Hello, world!  ", " leading and trailing ", "x"] {
            assert_eq!(token_deltas(text).concat(), text);
        }
        assert_eq!(token_deltas("Hi there."), vec!["Hi", " there", "."]);
    }

    #[test]
    fn a_render_echoes_the_request_in_its_meta_not_the_last_parsed_one() {
        let id = "cohere.command-text-v14";
        let first = answer(&CohereCommand, id, &json!({"prompt": "first request"}));
        let _ = answer(&CohereCommand, id, &json!({"prompt": "second request", "num_generations": 2}));
        let body = CohereCommand.render(&first, &meta(id, &json!({"prompt": "first request"})));
        assert_eq!(body["prompt"], "first request");
        assert_eq!(body["generations"].as_array().map(Vec::len), Some(1));
        assert_eq!(CohereCommand.render(&first, &meta(id, &json!({})))["prompt"], "");
    }

    #[test]
    fn echo_reads_each_format_s_keys_and_defaults_the_rest() {
        let history = [json!({"role": "USER", "message": "Hi"})];
        let results = [json!({"call": {"name": "f"}, "outputs": []})];
        let r = json!({"message": "Go", "chat_history": history, "tool_results": results});
        assert_eq!(
            echo(&r),
            Echo {
                prompt: "",
                stream: false,
                generations: 1,
                history: &history,
                message: "Go",
                tool_results: &results
            }
        );
        let c = json!({"prompt": "Hi", "stream": true, "num_generations": 4});
        assert_eq!(
            echo(&c),
            Echo { prompt: "Hi", stream: true, generations: 4, history: &[], message: "", tool_results: &[] }
        );
    }
}
