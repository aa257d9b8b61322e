//! Native InvokeModel formats, one module per model family.
//!
//! A text family parses its native request into the canonical conversation (validating it
//! with Bedrock's messages), and renders a canonical reply as its native response body and
//! its native stream chunks. An embedding family turns its request into vectors. Nothing here
//! knows HTTP: `api::invoke_model` does the wire part.

pub mod ai21;
pub mod anthropic;
pub mod cohere;
pub mod embeddings;
pub mod llama;
pub mod mistral;
pub mod native_schema;
pub mod nova;
pub mod titan_text;

use serde_json::Value;

use crate::backend::catalog::FoundationModel;
use crate::canonical::{Conversation, Reply, StopReason};
use crate::rng::SplitMix64;
use crate::wire::error::BedrockError;

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

/// A family's handler.
pub enum Family {
    /// Text generation.
    Text(&'static dyn TextFamily),
    /// Embeddings.
    Embedding(&'static dyn EmbeddingFamily),
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
