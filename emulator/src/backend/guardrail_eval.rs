//! A deterministic guardrail evaluator: what `ApplyGuardrail` (and the guardrail step of
//! Converse / InvokeModel) decides for some text, from a stored guardrail version. Pure
//! functions, no I/O, no randomness: the same guardrail and text always give the same
//! [`Evaluation`].
//!
//! The guardrail is the stored version document ([`super::guardrails`]: exactly
//! `GetGuardrail`'s answer). Anything missing or malformed in it is skipped, never an error.
//!
//! # Which text is evaluated
//!
//! * Text blocks qualified `grounding_source` or `query` feed the contextual grounding check
//!   only; every other block (no qualifier, or `guard_content`) is *guarded*: the topic,
//!   content, word and sensitive-information policies run on it.
//! * Guarded text is evaluated on its first [`MAX_EVALUATED_CHARS`] characters (all guarded
//!   blocks together, in order); grounding sources and queries likewise. Characters past the
//!   limit are neither evaluated nor masked, and not counted as `guarded`.
//! * On AWS the prompt attack filter only looks at input tagged as guard content when tags are
//!   used (Converse `guardContent`, InvokeModel input tags); callers that emulate tagging pass
//!   only the tagged text as guarded blocks.
//!
//! # Direction and actions
//!
//! A policy entry applies to INPUT unless its `inputEnabled` is `false`, to OUTPUT unless its
//! `outputEnabled` is `false`. Its action is `inputAction` / `outputAction`; missing, it is
//! `BLOCK` (PII entities and regexes: their own `action`). An entry whose action is `NONE` is
//! still assessed (`detected: true`, `action: "NONE"`) but never intervenes. Entries that do
//! not apply to the direction are neither evaluated, listed nor charged.
//!
//! # Policies
//!
//! Words below are *tokens*: maximal runs of alphanumeric characters, lowercased. A *phrase*
//! (custom word, lexicon entry, topic example) matches where its tokens occur consecutively
//! in the text, so matching is case-insensitive, on word boundaries, and ignores the
//! punctuation between words. Phrases of more than [`MAX_PHRASE_WORDS`] words never match.
//! *Content words* are tokens of at least two characters that are not in [`STOPWORDS`], with
//! a simple plural stripped (`ies`→`y`; `sses`/`xes`/`ches`/`shes`/`zes` lose `es`; a final
//! `s` is dropped unless the word ends in `ss`, `us` or `is` or is shorter than 4 letters).
//!
//! * **Denied topics** — a topic's key words are the content words of its `name` (camelCase
//!   split), `definition` and `examples`. It is detected when the guarded text contains at
//!   least two distinct key words, or any of its examples as a whole phrase.
//!   `topics[{action, detected, name, type: DENY}]`.
//! * **Content filters** — each category has a small built-in lexicon ([`CONTENT_LEXICONS`]).
//!   Confidence comes from the number of lexicon hits (occurrences) in the guarded text:
//!   0 → `NONE`, 1 → `LOW`, 2 → `MEDIUM`, ≥ 3 → `HIGH`. As on AWS, the strength is how
//!   strictly the filter blocks: `HIGH` blocks content of `LOW` confidence and up, `MEDIUM`
//!   blocks `MEDIUM` and `HIGH`, `LOW` only `HIGH`, `NONE` turns the filter off (not listed).
//!   A filter whose modalities (when given) lack `TEXT` is off too. `PROMPT_ATTACK` applies to
//!   INPUT only. `filters[{action, confidence, detected, filterStrength, type}]`.
//! * **Word filters** — each custom `words[].text` is a phrase; the managed `PROFANITY` list
//!   is [`PROFANITY`]. One entry per configured word (per distinct profanity) found:
//!   `customWords[{action, detected, match}]` (`match` is the configured text),
//!   `managedWordLists[{action, detected, match, type: PROFANITY}]`.
//! * **Sensitive information** — built-in detectors for the types listed in
//!   [`DETECTED_PII_TYPES`] (see [`find_pii`] for each rule); every other type is accepted and
//!   assessed but never detected. Custom `regexes[]` use `regex-lite` (a pattern that does not
//!   compile, or is longer than [`MAX_REGEX_LEN`], never matches). Each detector reports at
//!   most [`MAX_MATCHES`] matches; empty matches are ignored; overlapping matches of built-in
//!   types go to the type listed first in [`DETECTED_PII_TYPES`]. One entry per match:
//!   `piiEntities[{action, detected, match, type}]`, `regexes[{action, detected, match, name,
//!   regex}]`. `ANONYMIZE` replaces each match with `{TYPE}` (regex: `{name}`).
//! * **Contextual grounding** (OUTPUT only) — `GROUNDING` needs a `grounding_source` block,
//!   `RELEVANCE` a `query` block (otherwise the filter is skipped). Grounding score = share of
//!   the guarded text's distinct content words that occur in the grounding sources;
//!   relevance score = share of the query's distinct content words that occur in the guarded
//!   text; 1.0 when there is no word to share; rounded to 2 decimals. Detected (blocks) when
//!   the score is below the filter's `threshold`. `filters[{action, detected, score,
//!   threshold, type}]`, always listed.
//!
//! # What is reported (`outputScope`)
//!
//! With `full_output` (`outputScope: FULL`, Converse `trace: enabled_full`) every evaluated
//! topic, content filter and PII type is listed, undetected ones with `detected: false`,
//! `action: "NONE"` (PII: `match: ""`); word filters and regexes list only what was found (as
//! AWS documents). Without it (`INTERVENTIONS`) only detected entries are listed. A policy
//! with nothing to list is left out of the assessment; inside the word and sensitive
//! information policies an empty list is `null`, as AWS sends it. Keys are in AWS's
//! (alphabetical) order.
//!
//! # Outcome
//!
//! The guardrail intervenes when a detected entry's action is `BLOCK` (blocked) or
//! `ANONYMIZE` (masked). Blocked: `actionReason` "Guardrail blocked.", one output, the
//! guardrail's `blockedInputMessaging` (INPUT) or `blockedOutputsMessaging` (OUTPUT). Masked
//! only: "Guardrail masked.", one output per text block, in order, guarded blocks masked and
//! the others as given. Otherwise: "No action." and no outputs, whatever the scope.
//!
//! # Usage and coverage
//!
//! A policy is charged ceil(guarded characters / 1,000) units when at least one of its
//! entries applies to the direction: `topicPolicyUnits`, `contentPolicyUnits`,
//! `wordPolicyUnits`, and `sensitiveInformationPolicyUnits` when a PII entity applies, else
//! `sensitiveInformationPolicyFreeUnits` when only regexes do (AWS prices regex filters as
//! free). `contextualGroundingPolicyUnits` = ceil((guarded + grounding source + query
//! characters) / 1,000) when a grounding filter was evaluated. Image and automated reasoning
//! counts are 0. Coverage: `guarded` = guarded characters evaluated, `total` = characters of
//! every text block.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex_lite::{Regex, RegexBuilder};
use serde_json::{json, Map, Value};

/// Characters of guarded text (and, separately, of grounding sources and of queries)
/// evaluated; the rest is passed through unevaluated.
pub const MAX_EVALUATED_CHARS: usize = 100_000;

/// Matches one detector (a PII type or a custom regex) reports at most.
pub const MAX_MATCHES: usize = 100;

/// Words a phrase (custom word, lexicon entry, topic example) may have and still match.
pub const MAX_PHRASE_WORDS: usize = 32;

/// Longest custom regex pattern compiled (AWS allows 500 characters).
pub const MAX_REGEX_LEN: usize = 1_000;

/// The blocked messaging used when the guardrail document has none (AWS's console default).
pub const DEFAULT_BLOCKED_MESSAGING: &str = "Sorry, the model cannot answer this question.";

/// `actionReason` when something was blocked.
pub const REASON_BLOCKED: &str = "Guardrail blocked.";
/// `actionReason` when sensitive information was only masked.
pub const REASON_MASKED: &str = "Guardrail masked.";
/// `actionReason` when the guardrail did not intervene.
pub const REASON_NONE: &str = "No action.";

/// `ApplyGuardrail`'s `source`: which direction's settings apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Input,
    Output,
}

impl Source {
    /// `INPUT` / `OUTPUT`.
    pub fn from_wire(s: &str) -> Option<Source> {
        match s {
            "INPUT" => Some(Source::Input),
            "OUTPUT" => Some(Source::Output),
            _ => None,
        }
    }

    fn enabled_key(self) -> &'static str {
        match self {
            Source::Input => "inputEnabled",
            Source::Output => "outputEnabled",
        }
    }

    fn action_key(self) -> &'static str {
        match self {
            Source::Input => "inputAction",
            Source::Output => "outputAction",
        }
    }

    fn strength_key(self) -> &'static str {
        match self {
            Source::Input => "inputStrength",
            Source::Output => "outputStrength",
        }
    }

    fn modalities_key(self) -> &'static str {
        match self {
            Source::Input => "inputModalities",
            Source::Output => "outputModalities",
        }
    }

    fn messaging_key(self) -> &'static str {
        match self {
            Source::Input => "blockedInputMessaging",
            Source::Output => "blockedOutputsMessaging",
        }
    }
}

/// A text block's `qualifiers` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qualifier {
    GroundingSource,
    Query,
    GuardContent,
}

impl Qualifier {
    /// `grounding_source` / `query` / `guard_content`.
    pub fn from_wire(s: &str) -> Option<Qualifier> {
        match s {
            "grounding_source" => Some(Qualifier::GroundingSource),
            "query" => Some(Qualifier::Query),
            "guard_content" => Some(Qualifier::GuardContent),
            _ => None,
        }
    }
}

/// One text content block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextBlock<'a> {
    pub text: &'a str,
    pub qualifiers: Vec<Qualifier>,
}

impl<'a> TextBlock<'a> {
    /// A block without qualifiers (guarded).
    pub fn new(text: &'a str) -> Self {
        TextBlock { text, qualifiers: Vec::new() }
    }

    /// A block with qualifiers.
    pub fn qualified(text: &'a str, qualifiers: &[Qualifier]) -> Self {
        TextBlock { text, qualifiers: qualifiers.to_vec() }
    }

    fn role(&self) -> Role {
        if self.qualifiers.contains(&Qualifier::GroundingSource) {
            Role::GroundingSource
        } else if self.qualifiers.contains(&Qualifier::Query) {
            Role::Query
        } else {
            Role::Guarded
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Guarded,
    GroundingSource,
    Query,
}

/// What the guardrail decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// `GUARDRAIL_INTERVENED` (true) or `NONE`.
    pub intervened: bool,
    /// "Guardrail blocked." / "Guardrail masked." / "No action.".
    pub action_reason: String,
    /// The texts of `outputs[]`.
    pub outputs: Vec<String>,
    /// One `GuardrailAssessment`: the policies that have something to report.
    pub assessment: Value,
    /// `GuardrailUsage`.
    pub usage: Value,
    /// `GuardrailCoverage`.
    pub coverage: Value,
}

impl Evaluation {
    /// The `action` member: `GUARDRAIL_INTERVENED` or `NONE`.
    pub fn action(&self) -> &'static str {
        if self.intervened {
            "GUARDRAIL_INTERVENED"
        } else {
            "NONE"
        }
    }

    /// The assessment as AWS sends it in `assessments[]` / trace assessments: the policies plus
    /// `appliedGuardrailDetails` and `invocationMetrics` (`guardrailCoverage`,
    /// `guardrailProcessingLatency`, `usage`), every key in AWS's alphabetical order.
    pub fn assessment_with(&self, applied_guardrail_details: Value, processing_latency_ms: u64) -> Value {
        let mut members: Vec<(String, Value)> = match &self.assessment {
            Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        };
        members.push(("appliedGuardrailDetails".into(), applied_guardrail_details));
        members.push((
            "invocationMetrics".into(),
            json!({
                "guardrailCoverage": self.coverage,
                "guardrailProcessingLatency": processing_latency_ms,
                "usage": self.usage,
            }),
        ));
        members.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Object(members.into_iter().collect())
    }
}

/// An entry's configured action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Block,
    Anonymize,
    None,
}

impl Act {
    fn parse(v: Option<&Value>) -> Option<Act> {
        match v.and_then(Value::as_str)? {
            "BLOCK" => Some(Act::Block),
            "ANONYMIZE" => Some(Act::Anonymize),
            "NONE" => Some(Act::None),
            _ => None,
        }
    }

    /// The assessment's `action` for an entry with this action.
    fn reported(self, detected: bool) -> &'static str {
        match (detected, self) {
            (false, _) | (true, Act::None) => "NONE",
            (true, Act::Block) => "BLOCKED",
            (true, Act::Anonymize) => "ANONYMIZED",
        }
    }
}

fn applies(entry: &Map<String, Value>, dir: Source) -> bool {
    entry.get(dir.enabled_key()).and_then(Value::as_bool).unwrap_or(true)
}

/// The action of a topic / content filter / word entry: BLOCK or NONE (anything else: BLOCK).
fn block_or_none(entry: &Map<String, Value>, dir: Source) -> Act {
    match Act::parse(entry.get(dir.action_key())) {
        Some(Act::None) => Act::None,
        _ => Act::Block,
    }
}

/// The entries of `guardrail[policy][list]` that are objects and apply to `dir`.
fn entries<'g>(guardrail: &'g Value, policy: &str, list: &str, dir: Source) -> Vec<&'g Map<String, Value>> {
    guardrail
        .get(policy)
        .and_then(|p| p.get(list))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_object).filter(|e| applies(e, dir)).collect())
        .unwrap_or_default()
}

fn str_of<'v>(entry: &'v Map<String, Value>, key: &str) -> &'v str {
    entry.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `text` cut to at most `budget` characters: (evaluated prefix, rest, characters taken).
fn take_chars(text: &str, budget: usize) -> (&str, &str, usize) {
    match text.char_indices().nth(budget) {
        Some((at, _)) => (&text[..at], &text[at..], budget),
        None => (text, "", text.chars().count()),
    }
}

/// A guarded block as evaluated.
struct Guarded<'a> {
    /// Index of the block in the request.
    index: usize,
    /// The evaluated prefix.
    text: &'a str,
    /// What is past the evaluation limit.
    rest: &'a str,
    /// Its tokens.
    words: Vec<String>,
}

/// Everything the policies look at.
struct Ctx<'a> {
    dir: Source,
    full: bool,
    guarded: Vec<Guarded<'a>>,
    guarded_chars: usize,
    grounding: Vec<&'a str>,
    grounding_chars: usize,
    query: Vec<&'a str>,
    query_chars: usize,
}

impl<'a> Ctx<'a> {
    fn new(blocks: &'a [TextBlock<'a>], dir: Source, full: bool) -> Ctx<'a> {
        let mut ctx = Ctx {
            dir,
            full,
            guarded: Vec::new(),
            guarded_chars: 0,
            grounding: Vec::new(),
            grounding_chars: 0,
            query: Vec::new(),
            query_chars: 0,
        };
        for (index, block) in blocks.iter().enumerate() {
            match block.role() {
                Role::Guarded => {
                    let (text, rest, n) = take_chars(block.text, MAX_EVALUATED_CHARS - ctx.guarded_chars);
                    ctx.guarded_chars += n;
                    ctx.guarded.push(Guarded { index, text, rest, words: words(text) });
                }
                Role::GroundingSource => {
                    let (text, _, n) = take_chars(block.text, MAX_EVALUATED_CHARS - ctx.grounding_chars);
                    ctx.grounding_chars += n;
                    ctx.grounding.push(text);
                }
                Role::Query => {
                    let (text, _, n) = take_chars(block.text, MAX_EVALUATED_CHARS - ctx.query_chars);
                    ctx.query_chars += n;
                    ctx.query.push(text);
                }
            }
        }
        ctx
    }

    /// How many times each phrase of `trie` occurs in the guarded text (indexed by node).
    fn count(&self, trie: &Trie) -> Vec<u32> {
        let mut counts = vec![0u32; trie.children.len()];
        for g in &self.guarded {
            trie.count_into(&g.words, &mut counts);
        }
        counts
    }
}

/// What the policies decided, besides their assessments.
#[derive(Default)]
struct Verdict {
    blocked: bool,
    /// (guarded block position, start, end, replacement) for anonymized matches.
    masks: Vec<(usize, usize, usize, String)>,
}

/// Units charged per policy.
#[derive(Default)]
struct Units {
    topic: u64,
    content: u64,
    word: u64,
    pii: u64,
    pii_free: u64,
    grounding: u64,
}

/// Evaluates `blocks` against `guardrail` (a stored version document) for `source`.
/// `full_output` is `outputScope: FULL` (list undetected entries too).
pub fn evaluate(guardrail: &Value, source: Source, blocks: &[TextBlock], full_output: bool) -> Evaluation {
    let ctx = Ctx::new(blocks, source, full_output);
    let units = ctx.guarded_chars.div_ceil(1000) as u64;
    let mut verdict = Verdict::default();
    let mut charged = Units::default();
    let mut assessment = Map::new();

    // Alphabetical, as AWS orders the assessment's members.
    let (active, a) = content_policy(guardrail, &ctx, &mut verdict);
    if active {
        charged.content = units;
    }
    if let Some(a) = a {
        assessment.insert("contentPolicy".into(), a);
    }
    let (grounding_units, a) = grounding_policy(guardrail, &ctx, &mut verdict);
    charged.grounding = grounding_units;
    if let Some(a) = a {
        assessment.insert("contextualGroundingPolicy".into(), a);
    }
    let (pii_active, regex_active, a) = sensitive_policy(guardrail, &ctx, &mut verdict);
    if pii_active {
        charged.pii = units;
    } else if regex_active {
        charged.pii_free = units;
    }
    if let Some(a) = a {
        assessment.insert("sensitiveInformationPolicy".into(), a);
    }
    let (active, a) = topic_policy(guardrail, &ctx, &mut verdict);
    if active {
        charged.topic = units;
    }
    if let Some(a) = a {
        assessment.insert("topicPolicy".into(), a);
    }
    let (active, a) = word_policy(guardrail, &ctx, &mut verdict);
    if active {
        charged.word = units;
    }
    if let Some(a) = a {
        assessment.insert("wordPolicy".into(), a);
    }

    let masked = !verdict.masks.is_empty();
    let (intervened, reason, outputs) = if verdict.blocked {
        let message = guardrail
            .get(source.messaging_key())
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_BLOCKED_MESSAGING);
        (true, REASON_BLOCKED, vec![message.to_string()])
    } else if masked {
        (true, REASON_MASKED, masked_outputs(blocks, &ctx, verdict.masks))
    } else {
        (false, REASON_NONE, Vec::new())
    };

    let total: usize = blocks.iter().map(|b| b.text.chars().count()).sum();
    Evaluation {
        intervened,
        action_reason: reason.to_string(),
        outputs,
        assessment: Value::Object(assessment),
        usage: json!({
            "automatedReasoningPolicies": 0,
            "automatedReasoningPolicyUnits": 0,
            "contentPolicyImageUnits": 0,
            "contentPolicyUnits": charged.content,
            "contextualGroundingPolicyUnits": charged.grounding,
            "sensitiveInformationPolicyFreeUnits": charged.pii_free,
            "sensitiveInformationPolicyUnits": charged.pii,
            "topicPolicyUnits": charged.topic,
            "wordPolicyUnits": charged.word,
        }),
        coverage: json!({"images": null, "textCharacters": {"guarded": ctx.guarded_chars, "total": total}}),
    }
}

/// One output per block: guarded blocks with their anonymized matches replaced.
fn masked_outputs(blocks: &[TextBlock], ctx: &Ctx, mut masks: Vec<(usize, usize, usize, String)>) -> Vec<String> {
    // Earliest first; of two starting together the longer; overlapping later ones dropped.
    masks.sort_by(|a, b| (a.0, a.1, b.2).cmp(&(b.0, b.1, a.2)));
    let mut out: Vec<String> = blocks.iter().map(|b| b.text.to_string()).collect();
    for (position, g) in ctx.guarded.iter().enumerate() {
        let mut text = String::with_capacity(g.text.len() + g.rest.len());
        let mut at = 0;
        for (_, start, end, replacement) in masks.iter().filter(|m| m.0 == position) {
            if *start < at {
                continue;
            }
            text.push_str(&g.text[at..*start]);
            text.push_str(replacement);
            at = *end;
        }
        text.push_str(&g.text[at..]);
        text.push_str(g.rest);
        if let Some(slot) = out.get_mut(g.index) {
            *slot = text;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Words and phrases
// ---------------------------------------------------------------------------------------------

/// Words dropped from key words and content words.
pub const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
    "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "get", "give",
    "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into",
    "is", "it", "its", "just", "like", "may", "me", "might", "more", "most", "must", "my", "no", "nor", "not",
    "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "please", "same",
    "shall", "she", "should", "so", "some", "such", "tell", "than", "that", "the", "their", "theirs", "them",
    "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "us",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "would", "yes", "you", "your", "yours",
];

static STOPWORD_SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| STOPWORDS.iter().copied().collect());

/// Tokens: maximal runs of alphanumeric characters, lowercased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// `InvestmentObjectives` → `Investment Objectives`.
fn split_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_uppercase() && previous_lower {
            out.push(' ');
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// A word with a simple plural stripped.
fn stem(word: &str) -> String {
    let n = word.chars().count();
    if n > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    for suffix in ["sses", "xes", "ches", "shes", "zes"] {
        if n > suffix.len() + 1 && word.ends_with(suffix) {
            return word[..word.len() - 2].to_string();
        }
    }
    if n >= 4 && word.ends_with('s') && !["ss", "us", "is"].iter().any(|s| word.ends_with(s)) {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
}

/// The content words among `tokens`.
fn content_words<'w>(tokens: impl IntoIterator<Item = &'w String>) -> HashSet<String> {
    tokens
        .into_iter()
        .filter(|w| w.chars().count() >= 2 && !STOPWORD_SET.contains(w.as_str()))
        .map(|w| stem(w))
        .collect()
}

/// Phrases as a trie over tokens: counting every phrase's occurrences takes one walk of the
/// text, at most [`MAX_PHRASE_WORDS`] steps per position.
struct Trie {
    children: Vec<HashMap<String, usize>>,
    depth: usize,
}

impl Trie {
    fn new() -> Trie {
        Trie { children: vec![HashMap::new()], depth: 0 }
    }

    /// Adds a phrase; its node (where its count is kept), or None when it can never match.
    fn insert(&mut self, phrase: &str) -> Option<usize> {
        let tokens = words(phrase);
        if tokens.is_empty() || tokens.len() > MAX_PHRASE_WORDS {
            return None;
        }
        let mut node = 0;
        for token in tokens.iter() {
            node = match self.children[node].get(token.as_str()) {
                Some(&next) => next,
                None => {
                    let next = self.children.len();
                    self.children.push(HashMap::new());
                    self.children[node].insert(token.clone(), next);
                    next
                }
            };
        }
        self.depth = self.depth.max(tokens.len());
        Some(node)
    }

    fn count_into(&self, text: &[String], counts: &mut [u32]) {
        for start in 0..text.len() {
            let mut node = 0;
            for token in text[start..].iter().take(self.depth) {
                match self.children[node].get(token.as_str()) {
                    Some(&next) => {
                        node = next;
                        counts[next] = counts[next].saturating_add(1);
                    }
                    None => break,
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Denied topics
// ---------------------------------------------------------------------------------------------

fn topic_policy(guardrail: &Value, ctx: &Ctx, verdict: &mut Verdict) -> (bool, Option<Value>) {
    let topics = entries(guardrail, "topicPolicy", "topics", ctx.dir);
    if topics.is_empty() {
        return (false, None);
    }
    let text_words = content_words(ctx.guarded.iter().flat_map(|g| g.words.iter()));
    let mut trie = Trie::new();
    let example_nodes: Vec<Vec<usize>> = topics
        .iter()
        .map(|t| {
            let examples = t.get("examples").and_then(Value::as_array);
            examples.into_iter().flatten().filter_map(Value::as_str).filter_map(|e| trie.insert(e)).collect()
        })
        .collect();
    let counts = ctx.count(&trie);
    let mut list = Vec::new();
    for (topic, nodes) in topics.iter().zip(&example_nodes) {
        let mut key_text = split_camel(str_of(topic, "name"));
        key_text.push(' ');
        key_text.push_str(str_of(topic, "definition"));
        for example in topic.get("examples").and_then(Value::as_array).into_iter().flatten() {
            key_text.push(' ');
            key_text.push_str(example.as_str().unwrap_or_default());
        }
        let key_words = content_words(&words(&key_text));
        let hits = key_words.iter().filter(|w| text_words.contains(*w)).count();
        let detected = hits >= 2 || nodes.iter().any(|&n| counts[n] > 0);
        let act = block_or_none(topic, ctx.dir);
        verdict.blocked |= detected && act == Act::Block;
        if detected || ctx.full {
            list.push(json!({
                "action": act.reported(detected),
                "detected": detected,
                "name": str_of(topic, "name"),
                "type": "DENY",
            }));
        }
    }
    (true, (!list.is_empty()).then(|| json!({ "topics": list })))
}

// ---------------------------------------------------------------------------------------------
// Content filters
// ---------------------------------------------------------------------------------------------

/// The content filters' lexicons: phrases per category, matched as described in the module
/// documentation; each occurrence is one hit.
pub const CONTENT_LEXICONS: &[(&str, &[&str])] = &[
    (
        "HATE",
        &[
            "i hate all",
            "subhuman",
            "inferior race",
            "racial slur",
            "ethnic cleansing",
            "white power",
            "go back to your country",
            "those people are vermin",
            "hate speech",
        ],
    ),
    (
        "INSULTS",
        &["idiot", "idiots", "stupid", "moron", "loser", "dumb", "pathetic", "worthless", "imbecile", "shut up", "fool"],
    ),
    (
        "SEXUAL",
        &["sex", "sexual", "porn", "pornography", "nude", "naked", "erotic", "orgasm", "intercourse", "explicit sex"],
    ),
    (
        "VIOLENCE",
        &[
            "kill", "killing", "murder", "stab", "shoot", "bomb", "massacre", "torture", "assault", "beat up",
            "behead",
        ],
    ),
    (
        "MISCONDUCT",
        &[
            "steal",
            "shoplift",
            "hack into",
            "launder money",
            "money laundering",
            "counterfeit",
            "bribe",
            "smuggle",
            "evade taxes",
            "make meth",
            "phishing",
            "fraud",
        ],
    ),
    (
        "PROMPT_ATTACK",
        &[
            "ignore previous instructions",
            "ignore all previous instructions",
            "ignore all prior",
            "ignore the above",
            "disregard previous instructions",
            "forget your instructions",
            "you are now dan",
            "do anything now",
            "system prompt",
            "developer mode",
            "jailbreak",
            "pretend you have no restrictions",
        ],
    ),
];

/// NONE, LOW, MEDIUM, HIGH → 0..=3 (anything else: None).
fn level(s: &str) -> Option<u8> {
    ["NONE", "LOW", "MEDIUM", "HIGH"].iter().position(|l| *l == s).map(|p| p as u8)
}

const LEVELS: [&str; 4] = ["NONE", "LOW", "MEDIUM", "HIGH"];

fn content_policy(guardrail: &Value, ctx: &Ctx, verdict: &mut Verdict) -> (bool, Option<Value>) {
    let filters = entries(guardrail, "contentPolicy", "filters", ctx.dir);
    let mut active = false;
    let mut list = Vec::new();
    for filter in filters {
        let kind = str_of(filter, "type");
        if kind == "PROMPT_ATTACK" && ctx.dir == Source::Output {
            continue;
        }
        let strength_name = str_of(filter, ctx.dir.strength_key());
        let strength = level(strength_name).unwrap_or(0);
        if strength == 0 {
            continue;
        }
        if let Some(modalities) = filter.get(ctx.dir.modalities_key()).and_then(Value::as_array) {
            if !modalities.iter().any(|m| m.as_str() == Some("TEXT")) {
                continue;
            }
        }
        active = true;
        let hits = lexicon_hits(kind, ctx);
        let confidence = hits.min(3) as u8;
        // HIGH strength blocks LOW confidence and up, MEDIUM from MEDIUM, LOW only HIGH.
        let detected = confidence > 0 && confidence + strength >= 4;
        let act = block_or_none(filter, ctx.dir);
        verdict.blocked |= detected && act == Act::Block;
        if detected || ctx.full {
            list.push(json!({
                "action": act.reported(detected),
                "confidence": LEVELS[confidence as usize],
                "detected": detected,
                "filterStrength": strength_name,
                "type": kind,
            }));
        }
    }
    (active, (!list.is_empty()).then(|| json!({ "filters": list })))
}

/// Occurrences of `kind`'s lexicon phrases in the guarded text.
fn lexicon_hits(kind: &str, ctx: &Ctx) -> u32 {
    let Some((_, phrases)) = CONTENT_LEXICONS.iter().find(|(k, _)| *k == kind) else {
        return 0;
    };
    let mut trie = Trie::new();
    let nodes: Vec<usize> = phrases.iter().filter_map(|p| trie.insert(p)).collect();
    let counts = ctx.count(&trie);
    nodes.iter().map(|&n| counts[n]).fold(0u32, u32::saturating_add)
}

// ---------------------------------------------------------------------------------------------
// Word filters
// ---------------------------------------------------------------------------------------------

/// The managed `PROFANITY` list (whole words only).
pub const PROFANITY: &[&str] = &[
    "fuck",
    "fucking",
    "motherfucker",
    "shit",
    "bullshit",
    "bitch",
    "bastard",
    "asshole",
    "damn",
    "crap",
    "dick",
    "piss",
];

fn word_policy(guardrail: &Value, ctx: &Ctx, verdict: &mut Verdict) -> (bool, Option<Value>) {
    let custom = entries(guardrail, "wordPolicy", "words", ctx.dir);
    let managed: Vec<_> = entries(guardrail, "wordPolicy", "managedWordLists", ctx.dir)
        .into_iter()
        .filter(|m| str_of(m, "type") == "PROFANITY")
        .collect();
    if custom.is_empty() && managed.is_empty() {
        return (false, None);
    }
    let mut trie = Trie::new();
    let custom_nodes: Vec<Option<usize>> = custom.iter().map(|w| trie.insert(str_of(w, "text"))).collect();
    let profanity_nodes: Vec<Option<usize>> = if managed.is_empty() {
        Vec::new()
    } else {
        PROFANITY.iter().map(|p| trie.insert(p)).collect()
    };
    let counts = ctx.count(&trie);
    let found = |node: &Option<usize>| node.is_some_and(|n| counts[n] > 0);

    let mut custom_list = Vec::new();
    for (word, node) in custom.iter().zip(&custom_nodes) {
        if found(node) {
            let act = block_or_none(word, ctx.dir);
            verdict.blocked |= act == Act::Block;
            custom_list.push(json!({"action": act.reported(true), "detected": true, "match": str_of(word, "text")}));
        }
    }
    let mut managed_list = Vec::new();
    if let Some(list) = managed.first() {
        let act = block_or_none(list, ctx.dir);
        for (word, node) in PROFANITY.iter().zip(&profanity_nodes) {
            if found(node) {
                verdict.blocked |= act == Act::Block;
                managed_list.push(json!({
                    "action": act.reported(true),
                    "detected": true,
                    "match": word,
                    "type": "PROFANITY",
                }));
            }
        }
    }
    let assessment = (!custom_list.is_empty() || !managed_list.is_empty())
        .then(|| json!({"customWords": list_or_null(custom_list), "managedWordLists": list_or_null(managed_list)}));
    (true, assessment)
}

/// An empty list as `null`, as AWS sends it.
fn list_or_null(list: Vec<Value>) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list)
    }
}

// ---------------------------------------------------------------------------------------------
// Sensitive information
// ---------------------------------------------------------------------------------------------

/// The PII types the emulator detects, in the order overlapping matches are given away.
pub const DETECTED_PII_TYPES: &[&str] = &[
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "URL",
    "EMAIL",
    "CREDIT_DEBIT_CARD_NUMBER",
    "US_SOCIAL_SECURITY_NUMBER",
    "PHONE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "ADDRESS",
    "NAME",
];

struct Builtins {
    access_key: Option<Regex>,
    secret_key: Option<Regex>,
    url: Option<Regex>,
    email: Option<Regex>,
    card: Option<Regex>,
    ssn: Option<Regex>,
    phone: Option<Regex>,
    ipv4: Option<Regex>,
    mac: Option<Regex>,
    address: Option<Regex>,
    name: Option<Regex>,
}

const STREET_SUFFIXES: &str = "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|parkway|pkwy|highway|hwy";

static BUILTINS: LazyLock<Builtins> = LazyLock::new(|| Builtins {
    access_key: Regex::new(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b").ok(),
    secret_key: Regex::new(
        r#"(?i:secret(?:[ _-]?access)?(?:[ _-]?key)?)["'\s:=]{1,5}([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
    )
    .ok(),
    url: Regex::new(r#"\b(?:(?:https?|ftp)://|www\.)[^\s<>"'`{}|\\^\[\]]+"#).ok(),
    email: Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").ok(),
    card: Regex::new(r"[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{5}").ok(),
    ssn: Regex::new(r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}").ok(),
    phone: Regex::new(r"\+[1-9][0-9]{7,14}|(?:\+1[ .-]?)?(?:\([2-9][0-9]{2}\)|[2-9][0-9]{2})[ .-]?[0-9]{3}[ .-]?[0-9]{4}")
        .ok(),
    ipv4: Regex::new(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}").ok(),
    mac: Regex::new(r"\b[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}\b").ok(),
    address: Regex::new(&format!(r"\b[0-9]{{1,6}}(?:\s+[A-Z0-9][A-Za-z0-9]*){{1,4}}\s+(?i:{STREET_SUFFIXES})\b")).ok(),
    name: Regex::new(
        r"(?i:\bmy name is)\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b|\b(?:I am|I'm|I’m)\s+([A-Z][a-z]+ [A-Z][a-z]+)\b|\b(?:Mr|Mrs|Ms|Dr)\.?\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b",
    )
    .ok(),
});

fn char_before(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|s| s.chars().next_back())
}

fn char_after(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|s| s.chars().next())
}

/// Not glued to a letter or digit on either side.
fn isolated(text: &str, start: usize, end: usize) -> bool {
    !char_before(text, start).is_some_and(char::is_alphanumeric) && !char_after(text, end).is_some_and(char::is_alphanumeric)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

fn card_ok(text: &str, start: usize, end: usize) -> bool {
    let digits: Vec<u8> = text[start..end].bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    isolated(text, start, end) && (13..=19).contains(&digits.len()) && luhn(&digits)
}

fn ssn_ok(text: &str, start: usize, end: usize) -> bool {
    let digits: String = text[start..end].chars().filter(char::is_ascii_digit).collect();
    let (Some(area), Some(group), Some(serial)) = (digits.get(..3), digits.get(3..5), digits.get(5..)) else {
        return false;
    };
    isolated(text, start, end) && area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

fn ipv4_ok(text: &str, start: usize, end: usize) -> bool {
    let octets_ok = text[start..end].split('.').all(|o| o.parse::<u16>().is_ok_and(|n| n <= 255));
    let dotted_before = char_before(text, start) == Some('.');
    let dotted_after = char_after(text, end) == Some('.')
        && text.get(end + 1..).and_then(|s| s.chars().next()).is_some_and(|c| c.is_ascii_digit());
    octets_ok && isolated(text, start, end) && !dotted_before && !dotted_after
}

/// A URL without the sentence punctuation after it.
fn url_end(text: &str, start: usize, end: usize) -> usize {
    start + text[start..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']).len()
}

/// Matches of `re` (its capture `group`), kept when `ok`; at most `limit`.
fn regex_spans(
    re: Option<&Regex>,
    text: &str,
    group: Option<usize>,
    limit: usize,
    ok: impl Fn(&str, usize, usize) -> Option<(usize, usize)>,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let Some(re) = re else { return out };
    if limit == 0 {
        return out;
    }
    match group {
        None => {
            for m in re.find_iter(text) {
                if let Some(span) = ok(text, m.start(), m.end()).filter(|(s, e)| s < e) {
                    out.push(span);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
        }
        Some(_) => {
            for caps in re.captures_iter(text) {
                // The first participating capture group (NAME has one per trigger).
                let Some(m) = (1..caps.len()).find_map(|i| caps.get(i)) else { continue };
                if let Some(span) = ok(text, m.start(), m.end()).filter(|(s, e)| s < e) {
                    out.push(span);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
        }
    }
    out
}

fn contains_ignore_ascii_case(text: &str, needle: &str) -> bool {
    text.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Byte spans of built-in PII type `kind` in `text`, at most `limit`:
///
/// * `EMAIL` — `local@domain.tld` (local part `[A-Za-z0-9._%+-]`, a 2+ letter TLD).
/// * `PHONE` — E.164 `+` and 8–15 digits, or US `(+1) NPA NXX XXXX` with optional
///   parentheses around the area code (first digit 2–9) and ` `, `.` or `-` between groups;
///   not glued to letters or digits.
/// * `US_SOCIAL_SECURITY_NUMBER` — `AAA-GG-SSSS` or `AAA GG SSSS`; area not 000, 666 or
///   9xx, group not 00, serial not 0000.
/// * `CREDIT_DEBIT_CARD_NUMBER` — 13–19 digits, contiguous or in groups of 4 (4-6-5 for
///   15-digit cards) separated by spaces or dashes, Luhn-valid.
/// * `IP_ADDRESS` — dotted IPv4, every octet ≤ 255, not part of a longer dotted number.
/// * `MAC_ADDRESS` — six hex pairs separated by `:` or `-`.
/// * `AWS_ACCESS_KEY` — `AKIA`/`ASIA` and 16 uppercase letters or digits.
/// * `AWS_SECRET_KEY` — 40 characters of `[A-Za-z0-9/+]` right after a hint (`secret`,
///   `secret key`, `secret_access_key`, `SecretAccessKey`, … any case) and up to 5 of
///   `"' :=` or whitespace.
/// * `URL` — `http://`, `https://`, `ftp://` or `www.` up to whitespace or a quote,
///   trailing `.,;:!?)` excluded.
/// * `NAME` — the capitalised words after `my name is` (one or two words; the phrase in any
///   case), after `I am` / `I'm` (exactly two words), or after `Mr`, `Mrs`, `Ms`, `Dr` with
///   or without a dot (one or two words). Nothing else is taken for a name.
/// * `ADDRESS` — a 1–6 digit number, one to four capitalised or numeric words, and a street
///   suffix (`Street`, `St`, `Avenue`, `Ave`, `Road`, `Rd`, `Boulevard`, `Blvd`, `Lane`,
///   `Ln`, `Drive`, `Dr`, `Court`, `Ct`, `Way`, `Place`, `Pl`, `Terrace`, `Parkway`, `Pkwy`,
///   `Highway`, `Hwy`; any case).
///
/// Any other type: nothing.
pub fn find_pii(kind: &str, text: &str, limit: usize) -> Vec<(usize, usize)> {
    let b = &*BUILTINS;
    let plain = |s: usize, e: usize| Some((s, e));
    match kind {
        "AWS_ACCESS_KEY" if text.contains("AKIA") || text.contains("ASIA") => {
            regex_spans(b.access_key.as_ref(), text, None, limit, |_, s, e| plain(s, e))
        }
        "AWS_SECRET_KEY" if contains_ignore_ascii_case(text, "secret") => {
            regex_spans(b.secret_key.as_ref(), text, Some(1), limit, |_, s, e| plain(s, e))
        }
        "URL" if text.contains("://") || contains_ignore_ascii_case(text, "www.") => {
            regex_spans(b.url.as_ref(), text, None, limit, |t, s, e| Some((s, url_end(t, s, e))))
        }
        "EMAIL" if text.contains('@') => regex_spans(b.email.as_ref(), text, None, limit, |_, s, e| plain(s, e)),
        "CREDIT_DEBIT_CARD_NUMBER" => {
            regex_spans(b.card.as_ref(), text, None, limit, |t, s, e| card_ok(t, s, e).then_some((s, e)))
        }
        "US_SOCIAL_SECURITY_NUMBER" => {
            regex_spans(b.ssn.as_ref(), text, None, limit, |t, s, e| ssn_ok(t, s, e).then_some((s, e)))
        }
        "PHONE" => regex_spans(b.phone.as_ref(), text, None, limit, |t, s, e| isolated(t, s, e).then_some((s, e))),
        "IP_ADDRESS" if text.contains('.') => {
            regex_spans(b.ipv4.as_ref(), text, None, limit, |t, s, e| ipv4_ok(t, s, e).then_some((s, e)))
        }
        "MAC_ADDRESS" => regex_spans(b.mac.as_ref(), text, None, limit, |_, s, e| plain(s, e)),
        "ADDRESS" => regex_spans(b.address.as_ref(), text, None, limit, |_, s, e| plain(s, e)),
        "NAME" => regex_spans(b.name.as_ref(), text, Some(1), limit, |_, s, e| plain(s, e)),
        _ => Vec::new(),
    }
}

/// A custom regex, compiled with bounds; None when it does not compile.
fn custom_regex(pattern: &str) -> Option<Regex> {
    if pattern.is_empty() || pattern.len() > MAX_REGEX_LEN {
        return None;
    }
    RegexBuilder::new(pattern).size_limit(1 << 20).nest_limit(64).build().ok()
}

/// Returns (PII entities applied, regexes applied, assessment).
fn sensitive_policy(guardrail: &Value, ctx: &Ctx, verdict: &mut Verdict) -> (bool, bool, Option<Value>) {
    let entities = entries(guardrail, "sensitiveInformationPolicy", "piiEntities", ctx.dir);
    let regexes = entries(guardrail, "sensitiveInformationPolicy", "regexes", ctx.dir);
    if entities.is_empty() && regexes.is_empty() {
        return (false, false, None);
    }
    let action = |e: &Map<String, Value>| {
        Act::parse(e.get(ctx.dir.action_key())).or_else(|| Act::parse(e.get("action"))).unwrap_or(Act::Block)
    };

    // Built-in types, first configuration of each; matches found in priority order so that
    // an overlapping match goes to the type listed first in DETECTED_PII_TYPES.
    let mut configured: Vec<(&str, Act)> = Vec::new();
    for e in &entities {
        let kind = str_of(e, "type");
        if !kind.is_empty() && !configured.iter().any(|(k, _)| *k == kind) {
            configured.push((kind, action(e)));
        }
    }
    let mut claimed: Vec<(usize, usize, usize)> = Vec::new();
    let mut found: HashMap<&str, Vec<(usize, usize, usize)>> = HashMap::new();
    for kind in DETECTED_PII_TYPES.iter().filter(|k| configured.iter().any(|(c, _)| c == *k)) {
        let mut spans = Vec::new();
        for (position, g) in ctx.guarded.iter().enumerate() {
            for (s, e) in find_pii(kind, g.text, MAX_MATCHES - spans.len()) {
                if !claimed.iter().any(|&(p, cs, ce)| p == position && s < ce && cs < e) {
                    claimed.push((position, s, e));
                    spans.push((position, s, e));
                }
            }
        }
        found.insert(kind, spans);
    }
    let mut pii_list = Vec::new();
    for (kind, act) in &configured {
        let spans = found.get(kind).map(Vec::as_slice).unwrap_or_default();
        for &(position, s, e) in spans {
            let text = &ctx.guarded[position].text[s..e];
            match act {
                Act::Block => verdict.blocked = true,
                Act::Anonymize => verdict.masks.push((position, s, e, format!("{{{kind}}}"))),
                Act::None => {}
            }
            pii_list.push(json!({"action": act.reported(true), "detected": true, "match": text, "type": kind}));
        }
        if spans.is_empty() && ctx.full {
            pii_list.push(json!({"action": "NONE", "detected": false, "match": "", "type": kind}));
        }
    }

    let mut regex_list = Vec::new();
    for r in &regexes {
        let (name, pattern) = (str_of(r, "name"), str_of(r, "pattern"));
        let compiled = custom_regex(pattern);
        let act = action(r);
        let mut n = 0;
        for (position, g) in ctx.guarded.iter().enumerate() {
            let spans = regex_spans(compiled.as_ref(), g.text, None, MAX_MATCHES - n, |_, s, e| Some((s, e)));
            n += spans.len();
            for (s, e) in spans {
                match act {
                    Act::Block => verdict.blocked = true,
                    Act::Anonymize => verdict.masks.push((position, s, e, format!("{{{name}}}"))),
                    Act::None => {}
                }
                regex_list.push(json!({
                    "action": act.reported(true),
                    "detected": true,
                    "match": &g.text[s..e],
                    "name": name,
                    "regex": pattern,
                }));
            }
        }
    }
    let assessment = (!pii_list.is_empty() || !regex_list.is_empty())
        .then(|| json!({"piiEntities": list_or_null(pii_list), "regexes": list_or_null(regex_list)}));
    (!entities.is_empty(), !regexes.is_empty(), assessment)
}

// ---------------------------------------------------------------------------------------------
// Contextual grounding
// ---------------------------------------------------------------------------------------------

/// Share of `of` found in `among`, rounded to 2 decimals; 1.0 when `of` is empty.
fn share(of: &HashSet<String>, among: &HashSet<String>) -> f64 {
    if of.is_empty() {
        return 1.0;
    }
    let found = of.iter().filter(|w| among.contains(*w)).count();
    (found as f64 / of.len() as f64 * 100.0).round() / 100.0
}

/// Returns (units, assessment).
fn grounding_policy(guardrail: &Value, ctx: &Ctx, verdict: &mut Verdict) -> (u64, Option<Value>) {
    if ctx.dir != Source::Output {
        return (0, None);
    }
    let filters: Vec<&Map<String, Value>> = guardrail
        .get("contextualGroundingPolicy")
        .and_then(|p| p.get("filters"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_object)
                .filter(|f| f.get("enabled").and_then(Value::as_bool).unwrap_or(true))
                .collect()
        })
        .unwrap_or_default();
    if filters.is_empty() {
        return (0, None);
    }
    let output = content_words(ctx.guarded.iter().flat_map(|g| g.words.iter()));
    let source: Vec<String> = ctx.grounding.iter().flat_map(|t| words(t)).collect();
    let source = content_words(&source);
    let query: Vec<String> = ctx.query.iter().flat_map(|t| words(t)).collect();
    let query = content_words(&query);
    let mut list = Vec::new();
    for filter in filters {
        let kind = str_of(filter, "type");
        let score = match kind {
            "GROUNDING" if !ctx.grounding.is_empty() => share(&output, &source),
            "RELEVANCE" if !ctx.query.is_empty() => share(&query, &output),
            _ => continue,
        };
        let Some(threshold) = filter.get("threshold").filter(|t| t.is_number()) else { continue };
        let detected = score < threshold.as_f64().unwrap_or_default();
        // Grounding filters have one `action` (BLOCK or NONE) for their only direction.
        let act = match Act::parse(filter.get("action")) {
            Some(Act::None) => Act::None,
            _ => Act::Block,
        };
        verdict.blocked |= detected && act == Act::Block;
        list.push(json!({
            "action": act.reported(detected),
            "detected": detected,
            "score": score,
            "threshold": threshold,
            "type": kind,
        }));
    }
    if list.is_empty() {
        return (0, None);
    }
    let chars = ctx.guarded_chars + ctx.grounding_chars + ctx.query_chars;
    (chars.div_ceil(1000) as u64, Some(json!({ "filters": list })))
}

