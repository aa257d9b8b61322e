//! Native InvokeModel formats, one module per model family.
//!
//! A text family parses its native request into the canonical conversation (validating it
//! with Bedrock's messages), and renders a canonical reply as its native response body and
//! its native stream chunks. An embedding family turns its request into vectors. Nothing here
//! knows HTTP: `api::invoke_model` does the wire part.

pub mod anthropic;
pub mod embeddings;
pub mod native_schema;

use serde_json::Value;

use crate::backend::catalog::FoundationModel;
use crate::canonical::{Conversation, Reply, StopReason};
use crate::rng::SplitMix64;
use crate::wire::error::BedrockError;

/// What a family renderer may use besides the reply: the model and a request hash for ids.
#[derive(Debug, Clone, Copy)]
pub struct RenderMeta<'a> {
    /// The model answering.
    pub model: &'a FoundationModel,
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
