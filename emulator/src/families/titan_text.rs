//! Amazon Titan Text (`amazon.titan-text-express-v1`, `-lite-v1`, `-premier-v1:0`,
//! `amazon.titan-tg1-large`), SPEC §7.2.
//!
//! The whole `inputText` is one user text message, so the same prompt text gets the same reply
//! text as Converse. Stream chunks are large (Titan sends a few hundred characters at a time):
//! the first carries `inputTextTokenCount`, the last `totalOutputTextTokenCount` and
//! `completionReason` (a single chunk carries both, as recorded).

use serde_json::{json, Value};

use super::native_schema::validate;
use super::nova::word_deltas;
use super::{NativeReply, RenderMeta, TextFamily};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Block, Conversation, InferenceConfig, Message, Reply, Role, StopReason};
use crate::wire::error::BedrockError;

/// The Titan Text family.
#[derive(Debug, Clone, Copy)]
pub struct TitanText;

/// `maxTokenCount` when the request sets none.
pub const DEFAULT_MAX_TOKEN_COUNT: u32 = 512;
/// A stream chunk closes once it holds at least this many characters.
const CHUNK_CHARS: usize = 200;

fn request_schema(cap: u32) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["inputText"],
        "properties": {
            "inputText": {"type": "string", "minLength": 1},
            "textGenerationConfig": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                    "topP": {"type": "number", "minimum": 0, "maximum": 1},
                    "maxTokenCount": {"type": "integer", "minimum": 0, "maximum": cap},
                    "stopSequences": {"type": "array", "items": {"type": "string"}}
                }
            }
        }
    })
}

/// The text split into Titan-sized stream pieces (at least one, possibly empty).
fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for d in word_deltas(text) {
        current.push_str(&d);
        if current.len() >= CHUNK_CHARS {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

impl TextFamily for TitanText {
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError> {
        let cap = model.emulator.max_output_tokens;
        validate(body, &request_schema(cap))?;
        let text = body["inputText"].as_str().unwrap_or_default().to_string();
        let config = body.get("textGenerationConfig");
        let get = |key: &str| config.and_then(|c| c.get(key));
        let max_tokens =
            super::native_schema::count(get("maxTokenCount")).unwrap_or_else(|| DEFAULT_MAX_TOKEN_COUNT.min(cap));
        Ok(Conversation {
            messages: vec![Message { role: Role::User, content: vec![Block::Text(text)] }],
            inference: InferenceConfig {
                max_tokens: Some(max_tokens),
                temperature: get("temperature").and_then(Value::as_f64),
                top_p: get("topP").and_then(Value::as_f64),
                stop_sequences: get("stopSequences")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
            },
            ..Default::default()
        })
    }

    fn render(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Value {
        json!({
            "inputTextTokenCount": reply.usage.input_tokens,
            "results": [{
                "tokenCount": reply.usage.output_tokens,
                "outputText": reply.text(),
                "completionReason": self.native_stop(reply.stop_reason),
            }]
        })
    }

    fn chunks(&self, reply: &Reply, _meta: &RenderMeta<'_>) -> Vec<Value> {
        let pieces = pieces(&reply.text());
        let last = pieces.len() - 1;
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                json!({
                    "outputText": text,
                    "index": 0,
                    "totalOutputTextTokenCount": if i == last { json!(reply.usage.output_tokens) } else { Value::Null },
                    "completionReason": if i == last { json!(self.native_stop(reply.stop_reason)) } else { Value::Null },
                    "inputTextTokenCount": if i == 0 { json!(reply.usage.input_tokens) } else { Value::Null },
                })
            })
            .collect()
    }

    fn native_stop(&self, stop: StopReason) -> &'static str {
        match stop {
            StopReason::EndTurn | StopReason::ToolUse | StopReason::GuardrailIntervened => "FINISH",
            StopReason::MaxTokens => "LENGTH",
            StopReason::StopSequence => "STOP_CRITERIA_MET",
        }
    }

    fn read(&self, body: &Value) -> Option<NativeReply> {
        let result = body.get("results")?.as_array()?.first()?;
        Some(NativeReply {
            text: result.get("outputText")?.as_str()?.to_string(),
            input_tokens: body.get("inputTextTokenCount").and_then(Value::as_u64).map(|n| n as u32),
            output_tokens: result.get("tokenCount").and_then(Value::as_u64).map(|n| n as u32),
            stop_reason: result.get("completionReason").and_then(Value::as_str).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;
    use crate::canonical::ReplyBlock;
    use crate::synthetic::SyntheticModel;

    fn express() -> &'static FoundationModel {
        Catalog::builtin().model("amazon.titan-text-express-v1").expect("titan express in catalog")
    }

    fn reply_for(body: &Value) -> Reply {
        let conv = TitanText.parse(body, express()).expect("valid request");
        SyntheticModel::new(0).reply(&express().model_id, &conv, express().emulator.max_output_tokens)
    }

    fn meta() -> RenderMeta<'static> {
        RenderMeta { model: express(), request: crate::families::empty_request(), hash: 42 }
    }

    fn error(body: Value) -> String {
        TitanText.parse(&body, express()).expect_err("invalid request").message
    }

    #[test]
    fn a_recorded_request_is_one_user_text_message() {
        // openinference-js-nock/should-handle-amazon-titan-models.json
        let body = json!({"inputText": "Hello, how are you?", "textGenerationConfig": {"maxTokenCount": 100, "temperature": 0.7}});
        let conv = TitanText.parse(&body, express()).expect("valid");
        assert_eq!(
            conv.messages,
            vec![Message { role: Role::User, content: vec![Block::Text("Hello, how are you?".into())] }]
        );
        assert_eq!(conv.inference.max_tokens, Some(100));
        assert_eq!(conv.inference.temperature, Some(0.7));
        assert!(conv.system.is_empty() && conv.tools.is_empty());
        // otel-python-botocore-vcr/test_invoke_model_no_content[amazon.titan].yaml
        let body = json!({"inputText": "Say this is a test", "textGenerationConfig": {"maxTokenCount": 10, "temperature": 0.8, "topP": 1, "stopSequences": ["|"]}});
        let conv = TitanText.parse(&body, express()).expect("valid");
        assert_eq!(conv.inference.stop_sequences, vec!["|".to_string()]);
        assert_eq!(conv.inference.top_p, Some(1.0));
    }

    #[test]
    fn max_token_count_defaults_to_512() {
        let conv = TitanText.parse(&json!({"inputText": "Hi"}), express()).expect("valid");
        assert_eq!(conv.inference.max_tokens, Some(DEFAULT_MAX_TOKEN_COUNT));
    }

    #[test]
    fn the_response_shape_is_stable() {
        let reply = reply_for(&json!({"inputText": "Hello, how are you?"}));
        insta::assert_json_snapshot!(TitanText.render(&reply, &meta()));
    }

    #[test]
    fn a_truncated_reply_reports_length() {
        let reply =
            reply_for(&json!({"inputText": "Hello, how are you?", "textGenerationConfig": {"maxTokenCount": 3}}));
        let body = TitanText.render(&reply, &meta());
        assert_eq!(body["results"][0]["completionReason"], "LENGTH");
        assert_eq!(body["results"][0]["tokenCount"], 3);
    }

    #[test]
    fn the_chunk_sequence_is_stable() {
        let reply = Reply {
            content: vec![ReplyBlock::Text(
                "Once upon a time, a robot named PaintBot was created to paint beautiful landscapes. However, \
                 PaintBot had never painted before and was unsure of how to start. One day, PaintBot stumbled \
                 upon a group of humans painting a sunset together. The humans were amazed by its unique style."
                    .into(),
            )],
            stop_reason: StopReason::MaxTokens,
            stop_sequence: None,
            usage: crate::canonical::Usage { input_tokens: 13, output_tokens: 100 },
            latency_ms: 400,
        };
        let chunks = TitanText.chunks(&reply, &meta());
        assert_eq!(chunks.len(), 2);
        let joined: String = chunks.iter().filter_map(|c| c["outputText"].as_str()).collect();
        assert_eq!(joined, reply.text());
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn a_short_reply_is_one_chunk_with_both_counts() {
        let reply =
            reply_for(&json!({"inputText": "Say this is a test", "textGenerationConfig": {"maxTokenCount": 10}}));
        let chunks = TitanText.chunks(&reply, &meta());
        assert_eq!(chunks.len(), 1);
        let c = &chunks[0];
        let keys: Vec<&str> = c.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        assert_eq!(
            keys,
            ["outputText", "index", "totalOutputTextTokenCount", "completionReason", "inputTextTokenCount"]
        );
        assert_eq!(c["completionReason"], "LENGTH");
        assert_eq!(c["totalOutputTextTokenCount"], 10);
        assert_eq!(c["inputTextTokenCount"], reply.usage.input_tokens);
    }

    #[test]
    fn malformed_input_uses_everit_wording() {
        assert_eq!(
            error(json!({"prompt": "hi", "textGenerationConfig": {"maxTokenCount": 10}})),
            "Malformed input request: #: required key [inputText] not found#: extraneous key [prompt] is not permitted, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 9000}})),
            "Malformed input request: #/textGenerationConfig/maxTokenCount: 9000 is not less or equal to 8192, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"inputText": "hi", "textGenerationConfig": {"temperature": 1.5, "max_tokens": 5}})),
            "Malformed input request: #/textGenerationConfig: extraneous key [max_tokens] is not permitted#/textGenerationConfig/temperature: 1.5 is not less or equal to 1, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"inputText": 5})),
            "Malformed input request: #/inputText: expected type: String, found: Integer, please reformat your input and try again."
        );
        assert_eq!(
            error(json!({"inputText": ""})),
            "Malformed input request: #/inputText: expected minLength: 1, actual: 0, please reformat your input and try again."
        );
    }

    #[test]
    fn the_cap_follows_the_catalog() {
        let lite = Catalog::builtin().model("amazon.titan-text-lite-v1").expect("lite");
        let e = TitanText
            .parse(&json!({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 4097}}), lite)
            .expect_err("over cap");
        assert!(e.message.contains("4097 is not less or equal to 4096"), "{}", e.message);
    }

    #[test]
    fn read_parses_the_rendered_body() {
        let reply = reply_for(&json!({"inputText": "Hello"}));
        let read = TitanText.read(&TitanText.render(&reply, &meta())).expect("reads");
        assert_eq!(read.text, reply.text());
        assert_eq!(read.input_tokens, Some(reply.usage.input_tokens));
        assert_eq!(read.stop_reason.as_deref(), Some("FINISH"));
    }
}
