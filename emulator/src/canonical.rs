//! The canonical conversation every request format is parsed into, and the canonical reply
//! every responder produces. Converse maps onto it directly; native InvokeModel formats map
//! onto it in `families`. Responders never see wire formats.

use serde_json::Value;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// As Converse spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Plain text.
    Text(String),
    /// An image (only its format and size matter to the emulator).
    Image {
        /// `png`, `jpeg`, …
        format: String,
        /// Decoded byte length (0 for S3 sources).
        size: usize,
    },
    /// A document; `text` holds its text when the source is inline text.
    Document {
        /// Document name.
        name: String,
        /// Document format.
        format: String,
        /// Decoded byte length.
        size: usize,
    },
    /// A tool call made by the assistant.
    ToolUse {
        /// `toolUseId`.
        id: String,
        /// Tool name.
        name: String,
        /// Tool input document.
        input: Value,
    },
    /// A tool result sent back by the caller.
    ToolResult {
        /// The `toolUseId` it answers.
        id: String,
        /// Text of its content blocks (JSON blocks serialised).
        text: String,
        /// `success` or `error`.
        is_error: bool,
    },
    /// Model reasoning echoed back in history.
    Reasoning(String),
    /// Any other block (video, audio, cachePoint, guardContent, …), by its member name.
    Other(String),
}

/// One turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// Content blocks.
    pub content: Vec<Block>,
}

/// A tool the caller offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// Description, if any.
    pub description: Option<String>,
    /// JSON schema of the input.
    pub input_schema: Value,
}

/// How the model may pick tools.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ToolChoice {
    /// The model decides (default).
    #[default]
    Auto,
    /// The model must call some tool.
    Any,
    /// The model must call this tool.
    Tool(String),
}

/// Inference parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InferenceConfig {
    /// Output cap in tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop_sequences: Vec<String>,
}

/// A request in canonical form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    /// System prompt texts.
    pub system: Vec<String>,
    /// The turns.
    pub messages: Vec<Message>,
    /// Inference parameters.
    pub inference: InferenceConfig,
    /// Offered tools.
    pub tools: Vec<ToolSpec>,
    /// Tool choice.
    pub tool_choice: ToolChoice,
    /// JSON schema the reply text must follow (Converse `outputConfig.textFormat`).
    pub output_schema: Option<Value>,
    /// Extended-thinking budget when the caller enabled thinking on a reasoning model.
    pub thinking_budget: Option<u32>,
}

impl Conversation {
    /// The last user message's text blocks, joined by a space.
    pub fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| {
                let mut text = String::new();
                let texts = m.content.iter().filter_map(|b| match b {
                    Block::Text(t) => Some(t.as_str()),
                    _ => None,
                });
                for (i, t) in texts.enumerate() {
                    if i > 0 {
                        text.push(' ');
                    }
                    text.push_str(t);
                }
                text
            })
            .unwrap_or_default()
    }
}

/// Why generation stopped (Converse spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Natural end.
    EndTurn,
    /// The model called a tool.
    ToolUse,
    /// `maxTokens` reached.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// A guardrail blocked the input or the reply, or masked the reply.
    GuardrailIntervened,
}

impl StopReason {
    /// As Converse spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::GuardrailIntervened => "guardrail_intervened",
        }
    }
}

/// A block of the model's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBlock {
    /// Text.
    Text(String),
    /// A tool call.
    ToolUse {
        /// `toolUseId`.
        id: String,
        /// Tool name.
        name: String,
        /// Input document (valid against the tool's schema).
        input: Value,
    },
    /// Extended thinking (reasoning models with thinking enabled).
    Reasoning {
        /// The reasoning text.
        text: String,
        /// The opaque signature clients send back with the block.
        signature: String,
    },
}

/// Token usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
}

/// The model's answer in canonical form.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Content blocks in order.
    pub content: Vec<ReplyBlock>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// The stop sequence that matched, when `stop_reason` is `StopSequence`.
    pub stop_sequence: Option<String>,
    /// Token counts.
    pub usage: Usage,
    /// Reported model latency in milliseconds.
    pub latency_ms: u64,
}

impl Reply {
    /// All text blocks, concatenated (reasoning and tool calls excluded).
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ReplyBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Splits text into deltas of about two words, keeping whitespace so that the deltas
/// concatenate back to the text exactly.
pub fn text_deltas(text: &str) -> Vec<String> {
    // Cut by position and copy each delta once (pushing character by character grew every
    // delta's buffer twice; ~20% of a long stream's cost).
    let mut out = Vec::new();
    let (mut start, mut words, mut after_space) = (0, 0, true);
    for (i, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if !space && after_space {
            if words == 2 {
                out.push(text[start..i].to_string());
                start = i;
                words = 0;
            }
            words += 1;
        }
        after_space = space;
    }
    if start < text.len() {
        out.push(text[start..].to_string());
    }
    out
}

#[cfg(test)]
mod text_delta_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_is_split_into_two_word_deltas() {
        assert_eq!(text_deltas("You said: \"hi\". Bye now."), vec!["You said: ", "\"hi\". Bye ", "now."]);
    }

    proptest! {
        #[test]
        fn deltas_concatenate_back_to_the_text(text in ".{0,300}") {
            prop_assert_eq!(text_deltas(&text).concat(), text);
        }

        #[test]
        fn deltas_cut_before_every_third_word(text in "([ \t\n]{0,2}[a-zé\"!]{0,4}){0,40}") {
            // The rule as first written: a word starts after whitespace or at the start.
            let mut expected = Vec::new();
            let mut current = String::new();
            let mut words = 0;
            for (i, ch) in text.char_indices() {
                if !ch.is_whitespace() && (i == 0 || text[..i].ends_with(char::is_whitespace)) {
                    if words == 2 {
                        expected.push(std::mem::take(&mut current));
                        words = 0;
                    }
                    words += 1;
                }
                current.push(ch);
            }
            if !current.is_empty() {
                expected.push(current);
            }
            prop_assert_eq!(text_deltas(&text), expected);
        }
    }
}
