//! Native InvokeModel formats, one module per model family.
//!
//! A text family parses its native request into the canonical conversation (validating it
//! with Bedrock's messages), and renders a canonical reply as its native response body and
//! its native stream chunks. An embedding family turns its request into vectors. Nothing here
//! knows HTTP: `api::invoke_model` does the wire part.

pub mod ai21;
pub mod amazon_image;
pub mod anthropic;
pub mod cohere;
pub mod embeddings;
pub mod llama;
pub mod mistral;
pub mod native_schema;
pub mod nova;
pub mod nova_sonic;
pub mod stability;
pub mod titan_text;

use serde_json::Value;

use crate::backend::catalog::FoundationModel;
use crate::canonical::{Conversation, Reply, StopReason};
use crate::rng::SplitMix64;
use crate::wire::error::BedrockError;

/// Bedrock's refusal of an input longer than the model's context window (InvokeModel's
/// wording; Converse wraps it, see `api::context_window`).
pub const INPUT_TOO_LONG: &str = "Input is too long for requested model.";

/// OpenAI-style `tool_calls` (Mistral chat, Jamba) for the reply's tool uses, with the
/// family's id spelling.
pub fn openai_tool_calls(reply: &Reply, native_id: fn(&str) -> String) -> Vec<Value> {
    reply
        .content
        .iter()
        .filter_map(|b| match b {
            crate::canonical::ReplyBlock::ToolUse { id, name, input } => Some(serde_json::json!({
                "id": native_id(id),
                "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            _ => None,
        })
        .collect()
}

/// What a family renderer may use besides the reply: the model, the request, and a request
/// hash for ids.
#[derive(Debug, Clone, Copy)]
pub struct RenderMeta<'a> {
    /// The model answering.
    pub model: &'a FoundationModel,
    /// The native request body as sent, after Bedrock removed its own
    /// `amazon-bedrock-guardrailConfig` key: for what responses echo from their request (Cohere's
    /// `prompt` and `chat_history`, Command's `stream` and `num_generations`, Jamba's `n`).
    pub request: &'a Value,
    /// Stable hash of the request (seeded), for message and tool ids.
    pub hash: u64,
}

impl RenderMeta<'_> {
    /// A deterministic id: `prefix` + `n` characters of `alphabet`, distinct per `salt`.
    pub fn id(&self, prefix: &str, alphabet: &[u8], n: usize, salt: u64) -> String {
        let mut rng = SplitMix64::new(self.hash ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        format!("{prefix}{}", rng.string_from(alphabet, n))
    }
}

/// An empty request body, for render tests of families that echo nothing from the request.
#[cfg(test)]
pub(crate) fn empty_request() -> &'static Value {
    static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| serde_json::json!({}));
    &EMPTY
}

/// A native response read back into comparable parts (tests, and replay matching later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeReply {
    /// All generated text, concatenated.
    pub text: String,
    /// Prompt tokens, when the format reports them.
    pub input_tokens: Option<u32>,
    /// Generated tokens, when the format reports them.
    pub output_tokens: Option<u32>,
    /// The native stop reason string.
    pub stop_reason: Option<String>,
}

/// A text-generation family.
pub trait TextFamily: Send + Sync {
    /// Parses and validates a native request body.
    fn parse(&self, body: &Value, model: &FoundationModel) -> Result<Conversation, BedrockError>;
    /// The native response body for `reply`.
    fn render(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Value;
    /// The native stream chunks for `reply`, in order; the caller merges
    /// `amazon-bedrock-invocationMetrics` into the last one.
    fn chunks(&self, reply: &Reply, meta: &RenderMeta<'_>) -> Vec<Value>;
    /// How the family spells a stop reason.
    fn native_stop(&self, stop: StopReason) -> &'static str;
    /// Reads a native response body back.
    fn read(&self, body: &Value) -> Option<NativeReply>;
    /// Extra InvokeModel response headers the family's models send (Nova's cache counters).
    fn extra_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
}

/// What an embedding request produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// The native response body.
    pub body: Value,
    /// Prompt tokens (the `X-Amzn-Bedrock-Input-Token-Count` header).
    pub input_tokens: u32,
}

/// An embedding family.
pub trait EmbeddingFamily: Send + Sync {
    /// Parses, validates and answers an embedding request.
    fn embed(&self, body: &Value, model: &FoundationModel, seed: u64) -> Result<Embedded, BedrockError>;
}

/// What an image request produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The native response body.
    pub body: Value,
    /// Tokens of its prompt (for quotas and usage accounting; image responses carry no
    /// token headers).
    pub input_tokens: u32,
}

/// An image-generation family.
pub trait ImageFamily: Send + Sync {
    /// Parses, validates and answers an image request.
    fn generate(&self, body: &Value, model: &FoundationModel, seed: u64) -> Result<Generated, BedrockError>;
    /// The request's text prompt (what `lastUserMessage` matchers see).
    fn prompt(&self, body: &Value) -> String;
}

/// A family's handler.
pub enum Family {
    /// Text generation.
    Text(&'static dyn TextFamily),
    /// Embeddings.
    Embedding(&'static dyn EmbeddingFamily),
    /// Image generation.
    Image(&'static dyn ImageFamily),
}

/// The handler for a catalog family name, or Bedrock's refusal for formats not emulated.
pub fn lookup(model: &FoundationModel) -> Result<Family, BedrockError> {
    Ok(match model.emulator.family.as_str() {
        "anthropic" => Family::Text(&anthropic::Anthropic),
        "cohere-command" => Family::Text(&cohere::CohereCommand),
        "cohere-command-r" => Family::Text(&cohere::CohereCommandR),
        "ai21-jamba" => Family::Text(&ai21::Jamba),
        "titan-text" => Family::Text(&titan_text::TitanText),
        "nova" => Family::Text(&nova::Nova),
        "llama" => Family::Text(&llama::Llama),
        "mistral" => Family::Text(&mistral::Mistral),
        "mistral-chat" => Family::Text(&mistral::MistralChat),
        "titan-embed" => Family::Embedding(&embeddings::TitanEmbed),
        "cohere-embed" => Family::Embedding(&embeddings::CohereEmbed),
        "titan-image" => Family::Image(&amazon_image::TitanImage),
        "nova-canvas" => Family::Image(&amazon_image::NovaCanvas),
        "stability" => Family::Image(&stability::Stability),
        // Speech-to-speech: only InvokeModelWithBidirectionalStream speaks to it.
        "nova-sonic" => {
            return Err(BedrockError::validation(format!(
                "The model {} supports only InvokeModelWithBidirectionalStream.",
                model.model_id
            )))
        }
        other => {
            return Err(BedrockError::validation(format!(
                "bedrock-emulator does not emulate the native {other} request format of {} yet.",
                model.model_id
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;
    use crate::canonical::{ReplyBlock, Usage};
    use proptest::prelude::*;

    /// Every text family with a model of that family (add new families here).
    fn text_families() -> Vec<(&'static dyn TextFamily, &'static str)> {
        vec![
            (&anthropic::Anthropic, "anthropic.claude-3-haiku-20240307-v1:0"),
            (&cohere::CohereCommand, "cohere.command-text-v14"),
            (&cohere::CohereCommandR, "cohere.command-r-v1:0"),
            (&ai21::Jamba, "ai21.jamba-1-5-mini-v1:0"),
            (&titan_text::TitanText, "amazon.titan-text-express-v1"),
            (&nova::Nova, "amazon.nova-micro-v1:0"),
            (&llama::Llama, "meta.llama3-8b-instruct-v1:0"),
            (&mistral::Mistral, "mistral.mistral-7b-instruct-v0:2"),
            (&mistral::MistralChat, "mistral.mistral-large-2407-v1:0"),
        ]
    }

    fn arb_reply() -> impl Strategy<Value = Reply> {
        let stop = prop_oneof![
            Just(StopReason::EndTurn),
            Just(StopReason::MaxTokens),
            Just(StopReason::StopSequence),
            Just(StopReason::ToolUse)
        ];
        ("[a-zA-Z0-9 ,.!?\"'\\n]{1,200}", stop, 1u32..5000, 0u32..5000, any::<bool>()).prop_map(
            |(text, stop_reason, input_tokens, output_tokens, with_tool)| {
                let mut content = vec![ReplyBlock::Text(text)];
                if with_tool || stop_reason == StopReason::ToolUse {
                    content.push(ReplyBlock::ToolUse {
                        id: "tooluse_abcdefghijklmnopqrstuv".into(),
                        name: "get_weather".into(),
                        input: serde_json::json!({"city": "Paris"}),
                    });
                }
                Reply {
                    content,
                    stop_reason,
                    stop_sequence: (stop_reason == StopReason::StopSequence).then(|| "END".to_string()),
                    usage: Usage { input_tokens, output_tokens },
                    latency_ms: 100,
                }
            },
        )
    }

    /// Arbitrary JSON biased towards the keys native formats use.
    fn arb_native_body() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            Just("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>".to_string()),
            Just("<s>[INST] hi [/INST] ok </s>[INST]".to_string()),
            Just("user".to_string()),
            Just("assistant".to_string()),
            Just("text".to_string()),
            Just("tool_use".to_string()),
            Just("tool_result".to_string()),
            Just("bedrock-2023-05-31".to_string()),
            ".{0,16}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5000).prop_map(|n| serde_json::json!(n)),
            (-2.0f64..3.0).prop_map(|f| serde_json::json!(f)),
            text.prop_map(Value::String),
        ];
        let keys = prop_oneof![
            Just("prompt"),
            Just("messages"),
            Just("role"),
            Just("content"),
            Just("text"),
            Just("type"),
            Just("inputText"),
            Just("message"),
            Just("chat_history"),
            Just("max_tokens"),
            Just("anthropic_version"),
            Just("system"),
            Just("tools"),
            Just("tool_choice"),
            Just("toolUse"),
            Just("toolResult"),
            Just("input"),
            Just("tool_use_id"),
            Just("id"),
            Just("name"),
            Just("inferenceConfig"),
            Just("textGenerationConfig"),
            Just("texts"),
            Just("input_type"),
            Just("dimensions"),
            Just("thinking"),
            Just("budget_tokens"),
            Just("preamble"),
            Just("tool_results"),
            Just("tool_calls"),
            Just("image"),
            Just("source"),
            Just("data"),
        ]
        .prop_map(str::to_string);
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_prompt() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("<|begin_of_text|>".to_string()),
            Just("<|start_header_id|>".to_string()),
            Just("<|end_header_id|>".to_string()),
            Just("<|eot_id|>".to_string()),
            Just("<|header_start|>".to_string()),
            Just("<|header_end|>".to_string()),
            Just("<|eot|>".to_string()),
            Just("user".to_string()),
            Just("assistant".to_string()),
            Just("system".to_string()),
            Just("<s>".to_string()),
            Just("</s>".to_string()),
            Just("[INST]".to_string()),
            Just("[/INST]".to_string()),
            Just("\n\n".to_string()),
            ".{0,8}",
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    /// Every integer member of every native format, as (model, JSON pointer of the member, a
    /// valid body to set it in, whether negative values are allowed).
    fn integer_members() -> Vec<(&'static str, &'static str, Value, bool)> {
        use serde_json::json;
        let claude = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        let mut thinking = claude.clone();
        thinking["max_tokens"] = json!(4096);
        thinking["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
        let nova = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {}});
        let jamba = json!({"messages": [{"role": "user", "content": "hi"}]});
        let image = json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "hi"}, "imageGenerationConfig": {}});
        vec![
            ("amazon.titan-image-generator-v2:0", "/imageGenerationConfig/numberOfImages", image.clone(), false),
            ("amazon.titan-image-generator-v2:0", "/imageGenerationConfig/seed", image.clone(), false),
            ("amazon.nova-canvas-v1:0", "/imageGenerationConfig/width", image.clone(), false),
            ("amazon.nova-canvas-v1:0", "/imageGenerationConfig/height", image, false),
            ("anthropic.claude-3-haiku-20240307-v1:0", "/max_tokens", claude.clone(), false),
            ("anthropic.claude-3-haiku-20240307-v1:0", "/top_k", claude, false),
            ("anthropic.claude-3-7-sonnet-20250219-v1:0", "/thinking/budget_tokens", thinking, false),
            ("ai21.jamba-1-5-mini-v1:0", "/max_tokens", jamba.clone(), false),
            ("ai21.jamba-1-5-mini-v1:0", "/n", jamba, false),
            ("cohere.command-text-v14", "/max_tokens", json!({"prompt": "hi"}), false),
            ("cohere.command-text-v14", "/num_generations", json!({"prompt": "hi"}), false),
            ("cohere.command-text-v14", "/k", json!({"prompt": "hi"}), false),
            ("cohere.command-r-v1:0", "/max_tokens", json!({"message": "hi"}), false),
            ("cohere.command-r-v1:0", "/k", json!({"message": "hi"}), false),
            ("cohere.command-r-v1:0", "/seed", json!({"message": "hi"}), true),
            (
                "amazon.titan-text-express-v1",
                "/textGenerationConfig/maxTokenCount",
                json!({"inputText": "hi", "textGenerationConfig": {}}),
                false,
            ),
            ("amazon.nova-micro-v1:0", "/inferenceConfig/max_new_tokens", nova.clone(), false),
            ("amazon.nova-micro-v1:0", "/inferenceConfig/maxTokens", nova.clone(), false),
            ("amazon.nova-micro-v1:0", "/inferenceConfig/top_k", nova.clone(), false),
            ("amazon.nova-micro-v1:0", "/inferenceConfig/topK", nova, false),
            ("meta.llama3-8b-instruct-v1:0", "/max_gen_len", json!({"prompt": "hi"}), false),
            ("mistral.mistral-7b-instruct-v0:2", "/max_tokens", json!({"prompt": "<s>[INST] hi [/INST]"}), false),
            ("mistral.mistral-7b-instruct-v0:2", "/top_k", json!({"prompt": "<s>[INST] hi [/INST]"}), false),
            (
                "mistral.mistral-large-2407-v1:0",
                "/max_tokens",
                json!({"messages": [{"role": "user", "content": "hi"}]}),
                false,
            ),
            ("cohere.embed-v4:0", "/max_tokens", json!({"texts": ["hi"], "input_type": "search_query"}), false),
        ]
    }

    fn with_member(body: &Value, pointer: &str, v: Value) -> Value {
        let mut body = body.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        if let Some(obj) = body.pointer_mut(parent).and_then(Value::as_object_mut) {
            obj.insert(key.to_string(), v);
        }
        body
    }

    fn outcome(model_id: &str, body: &Value) -> Result<(), String> {
        let model = Catalog::builtin().model(model_id).expect("model in catalog");
        match lookup(model).map_err(|e| e.message)? {
            Family::Text(f) => f.parse(body, model).map(|_| ()).map_err(|e| e.message),
            Family::Embedding(f) => f.embed(body, model, 0).map(|_| ()).map_err(|e| e.message),
            Family::Image(f) => f.generate(body, model, 0).map(|_| ()).map_err(|e| e.message),
        }
    }

    #[test]
    fn every_integer_member_refuses_fractions_huge_floats_out_of_range_values_and_needless_negatives() {
        for (model, pointer, body, negatives) in integer_members() {
            assert_eq!(outcome(model, &body), Ok(()), "{model}: the base body is valid");
            let path = format!("#{pointer}");
            let not_integer = format!("Malformed input request: {path}: expected type: Integer, found: Number, please reformat your input and try again.");
            for v in [serde_json::json!(100.5), serde_json::json!(1e30), serde_json::json!(-1e300)] {
                assert_eq!(
                    outcome(model, &with_member(&body, pointer, v.clone())),
                    Err(not_integer.clone()),
                    "{model} {pointer} = {v}"
                );
            }
            for v in
                [serde_json::json!(3_000_000_000u64), serde_json::json!(u64::MAX), serde_json::json!(-3_000_000_000i64)]
            {
                let refused = outcome(model, &with_member(&body, pointer, v.clone()));
                assert!(
                    refused.as_ref().is_err_and(|m| m.contains(&path) || m.contains("max_tokens")),
                    "{model} {pointer} = {v}: {refused:?}"
                );
            }
            let negative = outcome(model, &with_member(&body, pointer, serde_json::json!(-1)));
            assert_eq!(negative.is_ok(), negatives, "{model} {pointer} = -1: {negative:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn prompt_parsers_never_panic_on_template_soup(prompt in arb_prompt()) {
            let bodies = [
                ("meta.llama3-8b-instruct-v1:0", serde_json::json!({"prompt": prompt})),
                ("meta.llama4-scout-17b-instruct-v1:0", serde_json::json!({"prompt": prompt})),
                ("mistral.mistral-7b-instruct-v0:2", serde_json::json!({"prompt": prompt})),
                ("amazon.titan-text-express-v1", serde_json::json!({"inputText": prompt})),
                ("cohere.command-text-v14", serde_json::json!({"prompt": prompt})),
                ("cohere.command-r-v1:0", serde_json::json!({"message": prompt})),
                ("anthropic.claude-3-haiku-20240307-v1:0", serde_json::json!({
                    "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                    "messages": [{"role": "user", "content": prompt}]})),
            ];
            for (model_id, body) in bodies {
                let model = Catalog::builtin().model(model_id).expect("model in catalog");
                if let Ok(Family::Text(f)) = lookup(model) {
                    if let Ok(conv) = f.parse(&body, model) {
                        let reply = crate::synthetic::SyntheticModel::new(0).reply_as(model, &conv);
                        let meta = RenderMeta { model, request: &body, hash: 1 };
                        let _ = f.render(&reply, &meta);
                        let _ = f.chunks(&reply, &meta);
                    }
                }
            }
        }


        #[test]
        fn no_native_parser_panics_on_arbitrary_bodies(body in arb_native_body()) {
            for (family, model_id) in text_families() {
                let model = Catalog::builtin().model(model_id).expect("model in catalog");
                let _ = family.parse(&body, model);
            }
            for model_id in ["amazon.titan-embed-text-v1", "amazon.titan-embed-text-v2:0", "amazon.titan-embed-image-v1", "cohere.embed-english-v3", "cohere.embed-v4:0"] {
                if let Some(model) = Catalog::builtin().model(model_id) {
                    if let Ok(Family::Embedding(f)) = lookup(model) {
                        let _ = f.embed(&body, model, 0);
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_reply_rendered_natively_reads_back_the_same(reply in arb_reply()) {
            for (family, model_id) in text_families() {
                let model = Catalog::builtin().model(model_id).expect("model in catalog");
                let meta = RenderMeta { model, request: &serde_json::json!({}), hash: 7 };
                let read = family.read(&family.render(&reply, &meta)).expect("reads back");
                let text: String = reply.content.iter().filter_map(|b| match b {
                    ReplyBlock::Text(t) => Some(t.as_str()),
                    _ => None,
                }).collect();
                prop_assert_eq!(&read.text, &text, "{}", model_id);
                if let Some(i) = read.input_tokens { prop_assert_eq!(i, reply.usage.input_tokens, "{}", model_id); }
                if let Some(o) = read.output_tokens { prop_assert_eq!(o, reply.usage.output_tokens, "{}", model_id); }
                prop_assert_eq!(read.stop_reason.as_deref(), Some(family.native_stop(reply.stop_reason)), "{}", model_id);
            }
        }
    }
}
