//! Meta Llama (3, 3.1, 3.2, 3.3, 4) native format, SPEC §7.5: a raw `prompt` string.
//!
//! Prompts written with the chat template (`<|start_header_id|>user<|end_header_id|>\n\n…<|eot_id|>`,
//! or Llama 4's `<|header_start|>…<|header_end|>…<|eot|>`) are read back into system, user and
//! assistant messages (contents trimmed, as the template trims them; the trailing empty
//! assistant header is the generation prompt). A prompt without template tokens is one user
//! message, so the same text gets the same reply as Converse. Stream chunks carry about one
//! token each, as recorded.

use base64::Engine;
use serde_json::{json, Value};

use super::native_schema::validate;
use super::{NativeReply, RenderMeta, TextFamily};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Block, Conversation, InferenceConfig, Message, Reply, Role, StopReason};
use crate::synthetic::tokenizer;
use crate::wire::error::BedrockError;

/// The Llama family.
#[derive(Debug, Clone, Copy)]
pub struct Llama;

/// `max_gen_len` when the request sets none.
pub const DEFAULT_MAX_GEN_LEN: u32 = 512;
const BEGIN_OF_TEXT: &str = "<|begin_of_text|>";
const IMAGE_TOKEN: &str = "<|image|>";

/// One chat-template dialect: header start, header end, and the end-of-turn markers.
struct Template {
    start: &'static str,
    end: &'static str,
    eot: &'static [&'static str],
}

const LLAMA3: Template =
    Template { start: "<|start_header_id|>", end: "<|end_header_id|>", eot: &["<|eot_id|>", "<|eom_id|>"] };
const LLAMA4: Template = Template { start: "<|header_start|>", end: "<|header_end|>", eot: &["<|eot|>", "<|eom|>"] };

fn request_schema(model: &FoundationModel) -> Value {
    let mut properties = json!({
        "prompt": {"type": "string"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_gen_len": {"type": "integer", "minimum": 1, "maximum": model.emulator.max_output_tokens}
    });
    if model.emulator.vision {
        properties["images"] = json!({"type": "array", "items": {"type": "string"}});
    }
    json!({"type": "object", "additionalProperties": false, "required": ["prompt"], "properties": properties})
}

/// The system texts and messages of a chat-template prompt, or `None` for a plain prompt.
pub fn parse_prompt(prompt: &str) -> Option<(Vec<String>, Vec<Message>)> {
    let template = [LLAMA3, LLAMA4].into_iter().find(|t| prompt.contains(t.start))?;
    let mut system = Vec::new();
    let mut messages = Vec::new();
    let mut rest = prompt;
    while let Some(pos) = rest.find(template.start) {
        let after = &rest[pos + template.start.len()..];
        let Some(e) = after.find(template.end) else { break };
        let role = after[..e].trim();
        let body = &after[e + template.end.len()..];
        let stop = template.eot.iter().filter_map(|m| body.find(m).map(|i| (i, m.len()))).min();
        let (content, next) = match stop {
            Some((i, len)) => (&body[..i], &body[i + len..]),
            None => (body, ""),
        };
        rest = next;
        let content = content.replace(IMAGE_TOKEN, "");
        let content = content.trim();
        if content.is_empty() {
            continue;
        }
        match role {
            "system" => system.push(content.to_string()),
            "assistant" => messages.push(Message { role: Role::Assistant, content: vec![Block::Text(content.into())] }),
            _ => messages.push(Message { role: Role::User, content: vec![Block::Text(content.into())] }),
        }
    }
    (!messages.is_empty() || !system.is_empty()).then_some((system, messages))
}

fn image_format(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, ..] => "jpeg",
        [b'G', b'I', b'F', ..] => "gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        _ => "png",
    }
}

/// `text` cut into one piece per token, whitespace riding in front of the token it precedes.
fn token_pieces(text: &str) -> Vec<&str> {
    let spans = tokenizer::token_spans(text);
    let mut out = Vec::with_capacity(spans.len().max(1));
    let mut from = 0;
    for (i, (_, end)) in spans.iter().enumerate() {
        let end = if i + 1 == spans.len() { text.len() } else { *end };
        out.push(&text[from..end]);
        from = end;
    }
    if out.is_empty() {
        out.push(text);
    }
    out
}

impl TextFamily for Llama {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        validate(body, &request_schema(model))?;
        let prompt = body["prompt"].as_str().unwrap_or_default();
        let (system, mut messages) = parse_prompt(prompt).unwrap_or_else(|| {
            let text = prompt.strip_prefix(BEGIN_OF_TEXT).unwrap_or(prompt);
            (Vec::new(), vec![Message { role: Role::User, content: vec![Block::Text(text.to_string())] }])
        });
        let images: Vec<Block> = body
            .get("images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|b64| {
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
                Block::Image { format: image_format(&bytes).to_string(), size: bytes.len() }
            })
            .collect();
        if !images.is_empty() {
            match messages.iter_mut().rev().find(|m| m.role == Role::User) {
                Some(m) => {
                    m.content.splice(0..0, images);
                }
                None => messages.push(Message { role: Role::User, content: images }),
            }
        }
        let cap = model.emulator.max_output_tokens;
        Ok(Conversation {
            system,
            messages,
            inference: InferenceConfig {
                max_tokens: Some(
                    super::native_schema::count(body.get("max_gen_len")).unwrap_or(DEFAULT_MAX_GEN_LEN.min(cap)),
                ),
                temperature: body.get("temperature").and_then(Value::as_f64),
                top_p: body.get("top_p").and_then(Value::as_f64),
                stop_sequences: Vec::new(),
            },
            ..Default::default()
        })
    }

    fn render(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Value {
        json!({
            "generation": reply.text(),
            "prompt_token_count": reply.usage.input_tokens,
            "generation_token_count": reply.usage.output_tokens,
            "stop_reason": self.native_stop(reply.stop_reason),
        })
    }

    fn chunks(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Vec<Value> {
        let text = reply.text();
        let pieces = token_pieces(&text);
        let last = pieces.len() - 1;
        pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let count =
                    if i == last { reply.usage.output_tokens } else { u32::try_from(i + 1).unwrap_or(u32::MAX) };
                json!({
                    "generation": piece,
                    "prompt_token_count": if i == 0 { json!(reply.usage.input_tokens) } else { Value::Null },
                    "generation_token_count": count,
                    "stop_reason": if i == last { json!(self.native_stop(reply.stop_reason)) } else { Value::Null },
                })
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
        Some(NativeReply {
            text: body.get("generation")?.as_str()?.to_string(),
            input_tokens: body.get("prompt_token_count").and_then(Value::as_u64).map(|n| n as u32),
            output_tokens: body.get("generation_token_count").and_then(Value::as_u64).map(|n| n as u32),
            stop_reason: body.get("stop_reason").and_then(Value::as_str).map(str::to_string),
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

    fn llama3() -> &'static FoundationModel {
        model("meta.llama3-8b-instruct-v1:0")
    }

    fn meta() -> RenderMeta<'static> {
        RenderMeta { model: llama3(), request: crate::families::empty_request(), hash: 42 }
    }

    fn user(text: &str) -> Message {
        Message { role: Role::User, content: vec![Block::Text(text.into())] }
    }

    fn reply_for(body: &Value) -> Reply {
        let conv = Llama.parse(body, llama3()).expect("valid request");
        SyntheticModel::new(0).reply(&llama3().model_id, &conv, llama3().emulator.max_output_tokens)
    }

    fn error(body: Value) -> String {
        Llama.parse(&body, llama3()).expect_err("invalid request").message
    }

    #[test]
    fn a_recorded_plain_prompt_is_one_user_message() {
        // openinference-js-nock/should-handle-meta-llama-models-invoke.json
        let body = json!({"prompt": "Hello, how are you?", "max_gen_len": 100, "temperature": 0.7, "top_p": 0.9});
        let conv = Llama.parse(&body, llama3()).expect("valid");
        assert_eq!(conv.messages, vec![user("Hello, how are you?")]);
        assert_eq!(conv.inference.max_tokens, Some(100));
        assert_eq!(conv.inference.top_p, Some(0.9));
    }

    #[test]
    fn a_recorded_template_prompt_is_read_back_into_messages() {
        // openinference-js-nock/should-handle-meta-llama-streaming.json
        let body = json!({"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTell me a very short story about artificial intelligence in the future.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "max_gen_len": 120, "temperature": 0.7});
        let conv = Llama.parse(&body, llama3()).expect("valid");
        assert_eq!(
            conv.messages,
            vec![user("Tell me a very short story about artificial intelligence in the future.")]
        );
        assert!(conv.system.is_empty());
    }

    #[test]
    fn system_and_multi_turn_templates_parse() {
        let prompt = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
            <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>\
            <|start_header_id|>assistant<|end_header_id|>\n\n";
        let (system, messages) = parse_prompt(prompt).expect("template");
        assert_eq!(system, vec!["Be brief.".to_string()]);
        assert_eq!(
            messages,
            vec![
                user("Hi"),
                Message { role: Role::Assistant, content: vec![Block::Text("Hello!".into())] },
                user("How are you?")
            ]
        );
        let llama4 = "<|begin_of_text|><|header_start|>user<|header_end|>\n\nHi there<|eot|><|header_start|>assistant<|header_end|>\n\n";
        assert_eq!(parse_prompt(llama4).map(|p| p.1), Some(vec![user("Hi there")]));
        assert_eq!(parse_prompt("Say this is a test"), None);
    }

    #[test]
    fn template_and_plain_prompts_get_the_converse_reply() {
        let plain = reply_for(&json!({"prompt": "Tell me a story"}));
        let templated = reply_for(
            &json!({"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTell me a story<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"}),
        );
        assert_eq!(plain.content, templated.content);
        let converse = crate::api::converse::parse(
            json!({"messages": [{"role": "user", "content": [{"text": "Tell me a story"}]}]}).to_string().as_bytes(),
            llama3(),
            crate::api::converse::Mode::Unary,
        )
        .expect("valid converse");
        let via_converse = SyntheticModel::new(0).reply(&llama3().model_id, &converse.conversation, 2048);
        assert_eq!(plain.content, via_converse.content);
    }

    #[test]
    fn images_are_accepted_by_vision_models_only() {
        let body = json!({"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What is this?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "images": ["iVBORw0KGgo="]});
        let conv = Llama.parse(&body, model("meta.llama3-2-11b-instruct-v1:0")).expect("vision model");
        assert_eq!(
            conv.messages[0].content,
            vec![Block::Image { format: "png".into(), size: 8 }, Block::Text("What is this?".into())]
        );
        assert_eq!(
            error(body),
            "Malformed input request: #: extraneous key [images] is not permitted, please reformat your input and try again."
        );
    }

    #[test]
    fn the_response_shape_is_stable() {
        let reply = reply_for(&json!({"prompt": "Hello, how are you?", "max_gen_len": 100}));
        insta::assert_json_snapshot!(Llama.render(&reply, &meta()));
    }

    #[test]
    fn the_chunk_sequence_is_stable() {
        let reply = Reply {
            content: vec![ReplyBlock::Text("Here is a very short story:\n\nIn the year 2154".into())],
            stop_reason: StopReason::MaxTokens,
            stop_sequence: None,
            usage: Usage { input_tokens: 23, output_tokens: 11 },
            latency_ms: 300,
        };
        let chunks = Llama.chunks(&reply, &meta());
        assert_eq!(chunks.len(), 11);
        assert_eq!(chunks[1]["generation"], " is");
        let joined: String = chunks.iter().filter_map(|c| c["generation"].as_str()).collect();
        assert_eq!(joined, reply.text());
        assert_eq!(chunks[0]["prompt_token_count"], 23);
        assert!(chunks[1]["prompt_token_count"].is_null());
        assert_eq!(chunks[10]["generation_token_count"], 11);
        assert_eq!(chunks[10]["stop_reason"], "length");
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn an_empty_reply_is_one_chunk() {
        let reply = Reply {
            content: vec![],
            stop_reason: StopReason::MaxTokens,
            stop_sequence: None,
            usage: Usage { input_tokens: 5, output_tokens: 0 },
            latency_ms: 100,
        };
        let chunks = Llama.chunks(&reply, &meta());
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0]["generation"], "");
        assert_eq!(chunks[0]["stop_reason"], "length");
    }

    #[test]
    fn malformed_input_uses_everit_wording() {
        // Reported for a Messages-API body sent to Llama (lobehub/lobehub#5203).
        assert_eq!(
            error(json!({"system": "s", "max_tokens": 5, "messages": [], "anthropic_version": "bedrock-2023-05-31"})),
            "Malformed input request: #: required key [prompt] not found#: extraneous key [system] is not permitted#: extraneous key [max_tokens] is not permitted#: extraneous key [messages] is not permitted#: extraneous key [anthropic_version] is not permitted, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"prompt": "hi", "max_gen_len": 4096})),
            "Malformed input request: #/max_gen_len: 4096 is not less or equal to 2048, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"prompt": "hi", "top_p": -0.5})),
            "Malformed input request: #/top_p: -0.5 is not greater or equal to 0, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"prompt": ["hi"]})),
            "Malformed input request: #/prompt: expected type: String, found: JSONArray, please reformat your input and try again."
        );
    }

    #[test]
    fn read_parses_the_rendered_body() {
        let reply = reply_for(&json!({"prompt": "Hello"}));
        let read = Llama.read(&Llama.render(&reply, &meta())).expect("reads");
        assert_eq!(read.text, reply.text());
        assert_eq!(read.stop_reason.as_deref(), Some("stop"));
        assert_eq!(read.input_tokens, Some(reply.usage.input_tokens));
    }
}
