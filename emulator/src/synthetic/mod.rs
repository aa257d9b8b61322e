//! The deterministic synthetic model: answers any canonical conversation when no scenario or
//! recording does.
//!
//! Rules (also in README):
//! * The reply is a pure function of (seed, model id, conversation): the same request gives
//!   the same reply through Converse, ConverseStream and (later) InvokeModel.
//! * Text: `You said: "<first 12 words of the last user text>". ` followed by 1–4 sentences
//!   drawn from a fixed vocabulary by a generator seeded with a hash of the request.
//! * After a `toolResult`: `The <tool> tool returned: <first 20 words of the result>.`
//! * Tools: `toolChoice` `any` calls the first tool, `tool` calls the named one; `auto` calls
//!   a tool the last user text (its last 4 KiB) mentions (its name, or the stem of a word of
//!   its name), or —
//!   when that text is a question — the tool whose name and description share most words
//!   with it (the first on a tie); it says `I will use the <tool> tool.` first.
//!   The input is built from the tool's JSON schema (`schema`).
//! * Structured output (`outputConfig.textFormat`): the text is a JSON document built from
//!   the given schema the same way.
//! * `stopSequences` cut the text before the earliest match (`stop_sequence`); `maxTokens`
//!   cuts after that many tokens (`max_tokens`). Tokens follow `tokenizer`.

pub mod jpeg;
pub mod png;
pub mod schema;
pub mod tokenizer;
pub mod webp;

use serde_json::Value;

use crate::canonical::{Block, Conversation, Reply, ReplyBlock, Role, StopReason, ToolChoice, Usage};
use crate::rng::{SplitMix64, StableHasher, BASE64URL_ALPHABET};
use std::fmt::Write as _;

const VOCABULARY: &[&str] = &[
    "the", "model", "answer", "river", "signal", "quiet", "bright", "system", "window", "garden", "careful", "number",
    "stream", "token", "light", "simple", "test", "request", "cloud", "stone", "future", "paper", "green", "letter",
    "echo", "bridge", "silver", "data", "morning", "orbit", "engine", "forest", "gentle", "harbor", "island",
    "journey", "kernel", "ladder", "meadow", "needle", "ocean", "puzzle", "rocket", "summer", "timber", "valley",
    "winter", "yellow", "amber", "basket", "candle", "desert", "fabric", "glacier", "hollow", "lantern", "marble",
    "nectar", "pepper", "ribbon", "saddle", "thunder", "velvet", "wander",
];

/// Tokens every message adds beyond its content (role markers in real chat templates).
pub const MESSAGE_OVERHEAD_TOKENS: u32 = 4;
/// Tokens an image counts as input.
pub const IMAGE_TOKENS: u32 = 256;

/// Input token count of a conversation (system + messages + tool specs).
pub fn input_tokens(conv: &Conversation) -> u32 {
    let mut total: u32 = conv.system.iter().map(|s| tokenizer::count(s)).sum();
    for m in &conv.messages {
        total += MESSAGE_OVERHEAD_TOKENS;
        for b in &m.content {
            total += match b {
                Block::Text(t) | Block::Reasoning(t) => tokenizer::count(t),
                Block::Image { .. } => IMAGE_TOKENS,
                Block::Document { size, .. } => u32::try_from(size / 4).unwrap_or(u32::MAX).max(1),
                Block::ToolUse { name, input, .. } => tokenizer::count(name) + tokenizer::count(&input.to_string()),
                Block::ToolResult { text, .. } => tokenizer::count(text),
                Block::Other(_) => 1,
            };
        }
    }
    for t in &conv.tools {
        total += tokenizer::count(&t.name)
            + t.description.as_deref().map(tokenizer::count).unwrap_or(0)
            + tokenizer::count(&t.input_schema.to_string());
    }
    total.max(1)
}

/// What the reply text is derived from: the conversation without its inference parameters
/// (they act after generation, by cutting), formatted exactly as the derived `Debug` of such
/// a copy — the fingerprint every recorded synthetic text depends on — without cloning it.
/// Only the reference now: [`write_fingerprint`] feeds the same bytes without the formatter.
#[cfg(test)]
struct GenerationInput<'a>(&'a Conversation);

#[cfg(test)]
impl std::fmt::Debug for GenerationInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.0;
        f.debug_struct("Conversation")
            .field("system", &c.system)
            .field("messages", &c.messages)
            .field("inference", &crate::canonical::InferenceConfig::default())
            .field("tools", &c.tools)
            .field("tool_choice", &c.tool_choice)
            .field("output_schema", &c.output_schema)
            .field("thinking_budget", &c.thinking_budget)
            .finish()
    }
}

/// Feeds `h` exactly the bytes of `{:?}` of [`GenerationInput`], writing the common pieces
/// (text blocks, printable ASCII strings, empty lists) directly: the formatter's machinery
/// cost more than the rest of generating a short reply. Anything else goes through `Debug`.
fn write_fingerprint(h: &mut StableHasher, c: &Conversation) {
    fn string(h: &mut StableHasher, s: &str) {
        // `str`'s Debug leaves printable ASCII other than `"` and `\` as it is.
        if s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
            h.write(b"\"");
            h.write(s.as_bytes());
            h.write(b"\"");
        } else {
            let _ = write!(h, "{s:?}");
        }
    }
    fn list<T>(h: &mut StableHasher, items: &[T], mut item: impl FnMut(&mut StableHasher, &T)) {
        h.write(b"[");
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                h.write(b", ");
            }
            item(h, x);
        }
        h.write(b"]");
    }
    h.write(b"Conversation { system: ");
    list(h, &c.system, |h, s| string(h, s));
    h.write(b", messages: ");
    list(h, &c.messages, |h, m| {
        h.write(if m.role == Role::User {
            b"Message { role: User, content: "
        } else {
            b"Message { role: Assistant, content: "
        });
        list(h, &m.content, |h, b| match b {
            Block::Text(t) => {
                h.write(b"Text(");
                string(h, t);
                h.write(b")");
            }
            other => {
                let _ = write!(h, "{other:?}");
            }
        });
        h.write(b" }");
    });
    h.write(b", inference: InferenceConfig { max_tokens: None, temperature: None, top_p: None, stop_sequences: [] }, tools: ");
    if c.tools.is_empty() {
        h.write(b"[]");
    } else {
        let _ = write!(h, "{:?}", c.tools);
    }
    h.write(b", tool_choice: ");
    match &c.tool_choice {
        ToolChoice::Auto => h.write(b"Auto"),
        other => {
            let _ = write!(h, "{other:?}");
        }
    }
    match (&c.output_schema, c.thinking_budget) {
        (None, None) => h.write(b", output_schema: None, thinking_budget: None }"),
        (schema, budget) => {
            let _ = write!(h, ", output_schema: {schema:?}, thinking_budget: {budget:?} }}");
        }
    }
}

fn first_words(text: &str, n: usize) -> String {
    let mut out = String::new();
    push_first_words(&mut out, text, n);
    out
}

/// Appends the first `n` whitespace-separated words of `text`, joined by single spaces.
fn push_first_words(out: &mut String, text: &str, n: usize) {
    let mut push = |i: usize, word: &str| {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    };
    // The byte splitter is several times cheaper than the Unicode one, and splits ASCII text
    // the same way except at a vertical tab (Unicode white space, not ASCII).
    if text.is_ascii() && !text.contains('\x0b') {
        text.split_ascii_whitespace().take(n).enumerate().for_each(|(i, w)| push(i, w));
    } else {
        text.split_whitespace().take(n).enumerate().for_each(|(i, w)| push(i, w));
    }
}

/// Appends 1–4 sentences of vocabulary words to `out`, giving back how many tokens they
/// count: every vocabulary word is one token (at most 8 ASCII letters) and so is each full
/// stop, and the spaces between count none — so the reply is not counted again.
fn push_sentences(out: &mut String, rng: &mut SplitMix64) -> u32 {
    const _: () = {
        let mut i = 0;
        while i < VOCABULARY.len() {
            let w = VOCABULARY[i].as_bytes();
            assert!(!w.is_empty() && w.len() <= 8);
            let mut j = 0;
            while j < w.len() {
                assert!(w[j].is_ascii_lowercase());
                j += 1;
            }
            i += 1;
        }
    };
    let mut tokens = 0;
    let count = 1 + rng.below(4);
    out.reserve(96 * count as usize);
    for i in 0..count {
        if i > 0 {
            out.push(' ');
        }
        let words = 5 + rng.below(6);
        tokens += words as u32 + 1;
        for w in 0..words {
            let word = VOCABULARY[rng.below(VOCABULARY.len() as u64) as usize];
            if w == 0 {
                let mut c = word.chars();
                if let Some(f) = c.next() {
                    out.extend(f.to_uppercase());
                    out.push_str(c.as_str());
                }
            } else {
                out.push(' ');
                out.push_str(word);
            }
        }
        out.push('.');
    }
    tokens
}

/// The tool result the last user message answers, if it carries one: (tool name, result text).
fn answered_tool(conv: &Conversation) -> Option<(String, String)> {
    let last = conv.messages.last().filter(|m| m.role == Role::User)?;
    let (id, text) = last.content.iter().find_map(|b| match b {
        Block::ToolResult { id, text, .. } => Some((id.clone(), text.clone())),
        _ => None,
    })?;
    let name = conv
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .find_map(|b| match b {
            Block::ToolUse { id: use_id, name, .. } if *use_id == id => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "requested".to_string());
    Some((name, text))
}

/// How much of the last user text (its end, where the question is) the tool heuristics read:
/// their work then grows with the tools offered, not with tools × prompt length.
pub const MENTION_WINDOW_BYTES: usize = 4096;

/// The last user text as the tool heuristics read it: lower-cased, its last
/// [`MENTION_WINDOW_BYTES`], and each 4-, 5- and 6-character piece of it, so that a stem is
/// looked up rather than searched for.
struct Said<'a> {
    text: &'a str,
    pieces: std::collections::HashSet<&'a str>,
}

impl<'a> Said<'a> {
    fn new(text: &'a str) -> Self {
        let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let mut pieces = std::collections::HashSet::new();
        for n in 4..=6 {
            for w in ends.windows(n + 1) {
                pieces.insert(&text[w[0]..w[n]]);
            }
        }
        Said { text, pieces }
    }

    fn contains(&self, needle: &str) -> bool {
        if (4..=6).contains(&needle.chars().count()) {
            self.pieces.contains(needle)
        } else {
            self.text.contains(needle)
        }
    }
}

/// The lower-cased end of `text` the tool heuristics read (cut on a character boundary).
fn window(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut start = lower.len().saturating_sub(MENTION_WINDOW_BYTES);
    while !lower.is_char_boundary(start) {
        start += 1;
    }
    lower[start..].to_string()
}

/// Whether lower-cased user text asks for a tool: its whole name (with `_`/`-` read as
/// spaces), or the 6-character stem of any 4+-letter word of its name (`get_weather` →
/// "weathe", `calculate` → "calcul", `getCitiesList` → "citie"…).
fn mentions_tool(said: &Said<'_>, name: &str) -> bool {
    let lower = name.to_lowercase();
    if said.contains(&lower) || said.contains(&lower.replace(['_', '-'], " ")) {
        return true;
    }
    let mut words = Vec::new();
    let mut current = String::new();
    for c in name.chars() {
        if c == '_' || c == '-' || c.is_ascii_digit() || (c.is_uppercase() && !current.is_empty()) {
            words.push(std::mem::take(&mut current));
        }
        if c.is_alphabetic() {
            current.extend(c.to_lowercase());
        }
    }
    words.push(current);
    words.iter().filter(|w| w.chars().count() >= 4).any(|w| said.contains(&w.chars().take(6).collect::<String>()))
}

/// Word stems (first 5 letters of 4+-letter words) of a tool's name and description.
fn tool_stems(tool: &crate::canonical::ToolSpec) -> Vec<String> {
    let text = format!("{} {}", tool.name.replace(['_', '-'], " "), tool.description.as_deref().unwrap_or(""));
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(|w| w.chars().take(5).collect())
        .collect()
}

fn chosen_tool(conv: &Conversation) -> Option<&crate::canonical::ToolSpec> {
    match &conv.tool_choice {
        ToolChoice::Any => conv.tools.first(),
        ToolChoice::Tool(name) => conv.tools.iter().find(|t| &t.name == name),
        ToolChoice::Auto => {
            // Without tools there is nothing to choose: skip reading the text (its pieces
            // are most of a plain chat turn's cost otherwise).
            if conv.tools.is_empty() || answered_tool(conv).is_some() {
                return None;
            }
            let text = window(&conv.last_user_text());
            let said = Said::new(&text);
            if let Some(named) = conv.tools.iter().find(|t| mentions_tool(&said, &t.name)) {
                return Some(named);
            }
            // A question, with tools at hand, is what real models answer with a tool call.
            if !text.trim_end().ends_with('?') {
                return None;
            }
            let overlap =
                |t: &crate::canonical::ToolSpec| tool_stems(t).iter().filter(|s| said.contains(s.as_str())).count();
            conv.tools.iter().enumerate().max_by_key(|(i, t)| (overlap(t), std::cmp::Reverse(*i))).map(|(_, t)| t)
        }
    }
}

/// The synthetic model, parameterised by the server's seed.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticModel {
    seed: u64,
}

impl SyntheticModel {
    /// A model whose filler text depends on `seed`.
    pub fn new(seed: u64) -> Self {
        SyntheticModel { seed }
    }

    /// Answers `conv` as `model` would, within its output limit.
    pub fn reply_as(&self, model: &crate::backend::catalog::FoundationModel, conv: &Conversation) -> Reply {
        self.reply(&model.model_id, conv, model.emulator.max_output_tokens)
    }

    /// [`reply_as`](Self::reply_as), given the conversation's [`input_tokens`] (already
    /// counted to check the context window: counting is a pass over every prompt).
    pub fn reply_counted(
        &self,
        model: &crate::backend::catalog::FoundationModel,
        conv: &Conversation,
        input_tokens: u32,
    ) -> Reply {
        self.reply_with(&model.model_id, conv, model.emulator.max_output_tokens, input_tokens)
    }

    /// Answers `conv` as model `model_id` would, within `max_output_tokens` when the request
    /// sets no `maxTokens`.
    pub fn reply(&self, model_id: &str, conv: &Conversation, max_output_tokens: u32) -> Reply {
        self.reply_with(model_id, conv, max_output_tokens, input_tokens(conv))
    }

    fn reply_with(&self, model_id: &str, conv: &Conversation, max_output_tokens: u32, input: u32) -> Reply {
        // Inference parameters act after generation (cuts), so they stay out of the
        // fingerprint: the same prompt gives the same text whatever maxTokens says, and
        // through Converse and every native format alike.
        let mut hasher = StableHasher::new(self.seed);
        hasher.write(model_id.as_bytes());
        hasher.write("\u{1f}".as_bytes());
        write_fingerprint(&mut hasher, conv);
        let hash = hasher.finish();
        let mut rng = SplitMix64::new(hash);
        let max_tokens = conv.inference.max_tokens.unwrap_or(max_output_tokens.max(1));

        let forced = !matches!(conv.tool_choice, ToolChoice::Auto);
        let tool = chosen_tool(conv);
        // The text, and its token count when it is known without counting.
        let (text, mut known_tokens) = match (&tool, answered_tool(conv)) {
            (Some(_), _) if forced => (String::new(), None),
            (Some(t), _) => (format!("I will use the {} tool.", t.name), None),
            (None, Some((name, result))) => (format!("The {name} tool returned: {}.", first_words(&result, 20)), None),
            (None, None) if conv.output_schema.is_some() => {
                let schema = conv.output_schema.clone().unwrap_or(Value::Null);
                (schema::instance(&schema).to_string(), None)
            }
            (None, None) => {
                // Written in place: `format!` cost more than the words. Sized once for the
                // echo and up to four sentences (growing it cost three reallocations).
                let mut text = String::with_capacity(512);
                text.push_str("You said: \"");
                push_first_words(&mut text, &conv.last_user_text(), 12);
                text.push_str("\". ");
                // The quote ends at a space, so the two parts count apart.
                let echoed = tokenizer::count(&text);
                let generated = push_sentences(&mut text, &mut rng);
                (text, Some(echoed + generated))
            }
        };

        let mut content = Vec::new();
        let mut output = 0;
        let mut stop = StopReason::EndTurn;
        let mut stop_sequence = None;
        if let Some(budget) = conv.thinking_budget {
            let thought = format!("Thinking about \"{}\".", first_words(&conv.last_user_text(), 8));
            let thought = tokenizer::truncate(&thought, max_tokens.min(budget)).to_string();
            output += tokenizer::count(&thought);
            let signature = format!("sig_{}", rng.string_from(BASE64URL_ALPHABET, 32));
            content.push(ReplyBlock::Reasoning { text: thought, signature });
        }
        let budget = max_tokens.saturating_sub(output);

        // Stop sequences apply to the generated text before the token cap.
        let mut text = text;
        if let Some((cut, seq)) = conv
            .inference
            .stop_sequences
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()).map(|i| (i, s)))
            .min_by_key(|(i, _)| *i)
        {
            text.truncate(cut);
            stop = StopReason::StopSequence;
            stop_sequence = Some(seq.clone());
            known_tokens = None;
        }
        let mut text_tokens = known_tokens.unwrap_or_else(|| tokenizer::count(&text));
        debug_assert_eq!(text_tokens, tokenizer::count(&text), "the token count of {text:?}");
        if text_tokens > budget {
            text = tokenizer::truncate(&text, budget).to_string();
            text_tokens = tokenizer::count(&text);
            stop = StopReason::MaxTokens;
            stop_sequence = None;
        }
        output += text_tokens;
        if !text.is_empty() {
            content.push(ReplyBlock::Text(text));
        }
        if let (Some(t), StopReason::EndTurn) = (tool, stop) {
            let input_doc: Value = schema::instance(&t.input_schema);
            let tokens = tokenizer::count(&input_doc.to_string()) + tokenizer::count(&t.name);
            if output + tokens <= max_tokens {
                output += tokens;
                content.push(ReplyBlock::ToolUse {
                    id: format!("tooluse_{}", rng.string_from(BASE64URL_ALPHABET, 22)),
                    name: t.name.clone(),
                    input: input_doc,
                });
                stop = StopReason::ToolUse;
            } else {
                stop = StopReason::MaxTokens;
            }
        }
        Reply {
            content,
            stop_reason: stop,
            stop_sequence,
            usage: Usage { input_tokens: input, output_tokens: output },
            latency_ms: 180 + 9 * u64::from(output) + hash % 40,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{InferenceConfig, Message, ToolSpec};
    use serde_json::json;

    fn ask(text: &str) -> Conversation {
        Conversation {
            messages: vec![Message { role: Role::User, content: vec![Block::Text(text.into())] }],
            ..Default::default()
        }
    }

    fn text_of(r: &Reply) -> String {
        r.content
            .iter()
            .filter_map(|b| match b {
                ReplyBlock::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_same_request_gets_the_same_reply_and_the_seed_changes_it() {
        let m = SyntheticModel::new(1);
        let a = m.reply("x", &ask("Hello there"), 4096);
        assert_eq!(a, m.reply("x", &ask("Hello there"), 4096));
        assert!(text_of(&a).starts_with("You said: \"Hello there\". "));
        assert_ne!(text_of(&a), text_of(&SyntheticModel::new(2).reply("x", &ask("Hello there"), 4096)));
    }

    #[test]
    fn max_tokens_truncates_and_reports_max_tokens() {
        let mut c = ask("Hello there");
        c.inference = InferenceConfig { max_tokens: Some(3), ..Default::default() };
        let r = SyntheticModel::new(1).reply("x", &c, 4096);
        assert_eq!(r.stop_reason, StopReason::MaxTokens);
        assert_eq!(r.usage.output_tokens, 3);
        assert_eq!(text_of(&r), "You said:");
    }

    #[test]
    fn stop_sequences_cut_before_the_match() {
        let mut c = ask("alpha beta gamma");
        c.inference.stop_sequences = vec!["gamma".into()];
        let r = SyntheticModel::new(1).reply("x", &c, 4096);
        assert_eq!(r.stop_reason, StopReason::StopSequence);
        assert_eq!(text_of(&r), "You said: \"alpha beta ");
    }

    #[test]
    fn a_forced_tool_choice_yields_a_schema_valid_tool_use() {
        let mut c = ask("what now");
        c.tools = vec![ToolSpec {
            name: "get_weather".into(),
            description: None,
            input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }];
        c.tool_choice = ToolChoice::Any;
        let r = SyntheticModel::new(1).reply("x", &c, 4096);
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        match &r.content[..] {
            [ReplyBlock::ToolUse { id, name, input }] => {
                assert!(id.starts_with("tooluse_") && id.len() == 30);
                assert_eq!(name, "get_weather");
                assert_eq!(input, &json!({"city": "city-value"}));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_tool_result_is_summarised_and_ends_the_turn() {
        let mut c = ask("weather please");
        c.tools =
            vec![ToolSpec { name: "get_weather".into(), description: None, input_schema: json!({"type": "object"}) }];
        c.messages.push(Message {
            role: Role::Assistant,
            content: vec![Block::ToolUse { id: "t1".into(), name: "get_weather".into(), input: json!({}) }],
        });
        c.messages.push(Message {
            role: Role::User,
            content: vec![Block::ToolResult { id: "t1".into(), text: "sunny and 21C".into(), is_error: false }],
        });
        let r = SyntheticModel::new(1).reply("x", &c, 4096);
        assert_eq!(r.stop_reason, StopReason::EndTurn);
        assert_eq!(text_of(&r), "The get_weather tool returned: sunny and 21C.");
    }

    #[test]
    fn auto_tool_choice_calls_a_tool_the_prompt_mentions() {
        let mentions = |said: &str, name: &str| mentions_tool(&Said::new(said), name);
        assert!(mentions("what's the weather in paris?", "get_weather"));
        assert!(mentions("please calculate 2+2", "calculator"));
        assert!(mentions("list the cities", "getCitiesList"));
        assert!(mentions("about the get weather report", "get_weather"));
        assert!(!mentions("hello there", "get_weather"));
    }

    #[test]
    fn tool_mentions_are_read_from_the_end_of_a_long_prompt() {
        let tool = ToolSpec { name: "get_weather".into(), description: None, input_schema: json!({"type": "object"}) };
        let mut early = ask(&format!("weather please. {}", "filler ".repeat(2000)));
        early.tools = vec![tool.clone()];
        assert!(chosen_tool(&early).is_none(), "a mention before the last 4 KiB is not read");
        let mut late = ask(&format!("{} weather please", "filler ".repeat(2000)));
        late.tools = vec![tool];
        assert_eq!(chosen_tool(&late).map(|t| t.name.as_str()), Some("get_weather"));
    }

    #[test]
    fn a_question_with_tools_at_hand_gets_a_tool_call() {
        let mut c = ask("What is the most popular song on WZPZ?");
        c.tools = vec![
            ToolSpec {
                name: "get_time".into(),
                description: Some("Current time".into()),
                input_schema: json!({"type": "object"}),
            },
            ToolSpec {
                name: "top_song".into(),
                description: Some("Get the most popular song played on a radio station.".into()),
                input_schema: json!({"type": "object"}),
            },
        ];
        let r = SyntheticModel::new(1).reply("x", &c, 4096);
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert!(matches!(r.content.last(), Some(ReplyBlock::ToolUse { name, .. }) if name == "top_song"));
        let statement = ask("Tell me a joke about rivers");
        let r = SyntheticModel::new(1).reply("x", &Conversation { tools: c.tools.clone(), ..statement }, 4096);
        assert_eq!(r.stop_reason, StopReason::EndTurn);
    }

    #[test]
    fn the_fingerprint_is_the_derived_debug_of_the_conversation_without_inference() {
        let mut conv = ask("hello");
        conv.system = vec!["be brief".into()];
        conv.inference.max_tokens = Some(7);
        conv.thinking_budget = Some(3);
        let old = Conversation { inference: Default::default(), ..conv.clone() };
        assert_eq!(format!("{:?}", GenerationInput(&conv)), format!("{old:?}"));
    }

    fn fingerprint_bytes_match(conv: &Conversation) {
        let mut direct = StableHasher::new(5);
        write_fingerprint(&mut direct, conv);
        let mut formatted = StableHasher::new(5);
        let _ = write!(formatted, "{:?}", GenerationInput(conv));
        assert_eq!(direct.finish(), formatted.finish(), "{:?}", GenerationInput(conv));
    }

    #[test]
    fn the_direct_fingerprint_writer_feeds_the_same_bytes_as_debug() {
        fingerprint_bytes_match(&Conversation::default());
        let mut conv = ask("hello \"quoted\" back\\slash tab\t newline\n é ünïcode 😀 \u{7f}");
        fingerprint_bytes_match(&conv);
        conv.system = vec!["be brief".into(), "second\n".into()];
        conv.messages.push(Message {
            role: Role::Assistant,
            content: vec![
                Block::Text("ok".into()),
                Block::Reasoning("hm".into()),
                Block::Image { format: "png".into(), size: 3 },
                Block::ToolUse { id: "t1".into(), name: "f".into(), input: json!({"a": [1, "x"]}) },
            ],
        });
        conv.messages.push(Message {
            role: Role::User,
            content: vec![
                Block::ToolResult { id: "t1".into(), text: "r".into(), is_error: true },
                Block::Other("video".into()),
            ],
        });
        fingerprint_bytes_match(&conv);
        conv.tools =
            vec![ToolSpec { name: "f".into(), description: Some("d".into()), input_schema: json!({"type": "object"}) }];
        conv.tool_choice = ToolChoice::Tool("f".into());
        conv.inference.max_tokens = Some(9);
        fingerprint_bytes_match(&conv);
        conv.tool_choice = ToolChoice::Any;
        conv.output_schema = Some(json!({"type": "string"}));
        fingerprint_bytes_match(&conv);
        conv.output_schema = None;
        conv.thinking_budget = Some(1024);
        fingerprint_bytes_match(&conv);
    }

    proptest::proptest! {
        #[test]
        fn the_direct_fingerprint_matches_debug_for_any_text(system in proptest::collection::vec(".{0,12}", 0..3), texts in proptest::collection::vec(".{0,24}", 1..4)) {
            let mut conv = Conversation { system, ..Default::default() };
            for (i, t) in texts.into_iter().enumerate() {
                let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
                conv.messages.push(Message { role, content: vec![Block::Text(t)] });
            }
            fingerprint_bytes_match(&conv);
        }

        #[test]
        fn first_words_split_as_unicode_white_space_does(text in "[a-c \t\n\x0b\x0c\r\x1c\u{85}\u{a0}é]{0,40}", n in 0usize..8) {
            let expected: Vec<&str> = text.split_whitespace().take(n).collect();
            proptest::prop_assert_eq!(first_words(&text, n), expected.join(" "));
        }
    }

    #[test]
    fn input_tokens_grow_with_system_prompt_and_history() {
        let base = input_tokens(&ask("hi"));
        let mut with_system = ask("hi");
        with_system.system = vec!["be brief".into()];
        assert!(input_tokens(&with_system) > base);
        let mut longer = ask("hi");
        longer.messages.insert(0, Message { role: Role::User, content: vec![Block::Text("earlier".into())] });
        assert!(input_tokens(&longer) > base);
    }
}
