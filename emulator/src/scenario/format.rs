//! The scenario file format, version 1 (YAML or JSON; JSON Schema in
//! `scenarios/scenario.schema.json`).
//!
//! Every check that can be made while reading is made inside deserialisation (newtypes with
//! their own `Deserialize`, `try_from` on the rule), so a bad file is refused with the parser's
//! own line and column and a sentence saying what was expected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fault_format::{FaultSpec, QuotaSpec};
use super::mapping::map_only;
use crate::operations::routes;
use crate::wire::error::ErrorCode;

/// Exceptions the runtime's event-stream unions carry (ConverseStream's are all but
/// `ModelTimeoutException`, which only InvokeModelWithResponseStream's union has).
pub const STREAM_EXCEPTIONS: [&str; 6] = [
    "InternalServerException",
    "ModelStreamErrorException",
    "ValidationException",
    "ThrottlingException",
    "ModelTimeoutException",
    "ServiceUnavailableException",
];

/// The only version this build reads.
pub const VERSION: u32 = 1;

/// A scenario document.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct ScenarioFile {
    /// Format version; must be 1.
    pub version: Version,
    /// A name for listings and `answeredBy` (defaults to the file name).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "source_name")]
    pub name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The rules, in declaration order.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Fault rules (applied to every responder's reply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// Quotas (token buckets per model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<QuotaSpec>,
}

map_only!(ScenarioFile, "a scenario document: a mapping with `version` and `rules`", serialize);

/// The `version` field.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Version(pub u32);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if v == VERSION {
            Ok(Version(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported scenario version {v}: this build reads version {VERSION}"
            )))
        }
    }
}

/// What happens when a sequence of replies is used up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Then {
    /// Keep answering with the last reply (default).
    #[default]
    RepeatLast,
    /// Start again from the first reply.
    Cycle,
    /// Stop matching: later requests go to the next rule or the synthetic model.
    FallThrough,
}

/// One rule: when `match` matches, answer with `reply` (or the next of `replies`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "RawRule", rename_all = "camelCase")]
pub struct RuleSpec {
    /// Name used in listings, the journal and strict-mode errors.
    pub name: Option<String>,
    /// Higher first; equal priorities keep declaration order.
    pub priority: i64,
    /// The matcher.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// Replies in order (a single `reply` is a sequence of one).
    pub replies: Vec<ReplySpec>,
    /// After the last reply.
    pub then: Then,
    /// Named scenario whose state this rule reads and writes.
    pub scenario: Option<String>,
    /// Only match while the scenario is in this state (initial state: `Started`).
    pub when_state: Option<String>,
    /// Move the scenario to this state after answering.
    pub set_state: Option<String>,
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    priority: i64,
    #[serde(default, rename = "match")]
    matcher: MatchSpec,
    #[serde(default)]
    reply: Option<ReplySpec>,
    #[serde(default)]
    replies: Option<Vec<ReplySpec>>,
    #[serde(default)]
    then: Then,
    #[serde(default)]
    scenario: Option<String>,
    #[serde(default)]
    when_state: Option<String>,
    #[serde(default)]
    set_state: Option<String>,
}

map_only!(RawRule, "a rule: a mapping with `match` and `reply` or `replies`");

impl TryFrom<RawRule> for RuleSpec {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let replies = match (raw.reply, raw.replies) {
            (Some(r), None) => vec![r],
            (None, Some(rs)) if !rs.is_empty() => rs,
            (None, Some(_)) => return Err("rule `replies` must list at least one reply".into()),
            (None, None) => return Err("rule needs a `reply` or a `replies` list".into()),
            (Some(_), Some(_)) => return Err("rule has both `reply` and `replies`; use one".into()),
        };
        if (raw.when_state.is_some() || raw.set_state.is_some()) && raw.scenario.is_none() {
            return Err("`whenState`/`setState` need a `scenario` name".into());
        }
        Ok(RuleSpec {
            name: raw.name,
            priority: raw.priority,
            matcher: raw.matcher,
            replies,
            then: raw.then,
            scenario: raw.scenario,
            when_state: raw.when_state,
            set_state: raw.set_state,
        })
    }
}

/// An operation name from the AWS models (`Converse`, `InvokeModel`, `ListFoundationModels`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationName(pub String);

impl<'de> Deserialize<'de> for OperationName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        check_operation(&name).map_err(serde::de::Error::custom)
    }
}

/// One operation name or a list of them. Deserialised by hand (not `untagged`) so that a
/// misspelt name is reported as such rather than as "did not match any variant".
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Operations(pub Vec<OperationName>);

impl Operations {
    /// The names.
    pub fn iter(&self) -> impl Iterator<Item = &OperationName> {
        self.0.iter()
    }
}

impl<'de> Deserialize<'de> for Operations {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Operations;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an operation name or a list of operation names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Operations, E> {
                check_operation(v).map(|o| Operations(vec![o])).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Operations, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    out.push(check_operation(&name).map_err(serde::de::Error::custom)?);
                }
                Ok(Operations(out))
            }
        }
        d.deserialize_any(V)
    }
}

fn check_operation(name: &str) -> Result<OperationName, String> {
    if routes().iter().any(|r| r.operation == name) {
        Ok(OperationName(name.to_string()))
    } else {
        Err(format!(
            "unknown operation `{name}`: expected an operation of bedrock or bedrock-runtime such as Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream, ListFoundationModels"
        ))
    }
}

/// A text condition: a plain string means `contains`.
#[derive(Debug, Clone, Serialize)]
pub struct TextMatch {
    /// Substring that must occur.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Exact text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Regular expression (regex-lite syntax) that must match somewhere.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "serialize_regex")]
    pub regex: Option<regex_lite::Regex>,
    /// Compare case-insensitively (`contains` and `equals`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_case: bool,
}

fn serialize_regex<S: serde::Serializer>(r: &Option<regex_lite::Regex>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_str(r.as_str()),
        None => s.serialize_none(),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTextMatch {
    Plain(String),
    Full(FullTextMatch),
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
struct FullTextMatch {
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    equals: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    ignore_case: bool,
}

map_only!(FullTextMatch, "a text condition mapping");

impl<'de> Deserialize<'de> for TextMatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawTextMatch::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a text condition: a string (contains) or {contains, equals, regex, ignoreCase}",
            )
        })?;
        match raw {
            RawTextMatch::Plain(s) => {
                Ok(TextMatch { contains: Some(s), equals: None, regex: None, ignore_case: false })
            }
            RawTextMatch::Full(f) => {
                if f.contains.is_none() && f.equals.is_none() && f.regex.is_none() {
                    return Err(serde::de::Error::custom("a text condition needs `contains`, `equals` or `regex`"));
                }
                let regex = f.regex.map(|r| compile_regex(&r).map_err(serde::de::Error::custom)).transpose()?;
                Ok(TextMatch { contains: f.contains, equals: f.equals, regex, ignore_case: f.ignore_case })
            }
        }
    }
}

impl TextMatch {
    /// Whether `text` satisfies every condition given.
    pub fn matches(&self, text: &str) -> bool {
        let fold = |s: &str| if self.ignore_case { s.to_lowercase() } else { s.to_string() };
        let hay = fold(text);
        self.contains.as_ref().is_none_or(|c| hay.contains(&fold(c)))
            && self.equals.as_ref().is_none_or(|e| hay == fold(e))
            && self.regex.as_ref().is_none_or(|r| r.is_match(text))
    }

    /// A short description for near-miss reports.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.contains {
            parts.push(format!("contains {c:?}"));
        }
        if let Some(e) = &self.equals {
            parts.push(format!("equals {e:?}"));
        }
        if let Some(r) = &self.regex {
            parts.push(format!("matches /{}/", r.as_str()));
        }
        parts.join(" and ")
    }
}

/// Longest scenario source name (a document's `name`, the admin API's `?name=`): every rule's
/// label repeats it, so its length multiplies with the rule count.
pub const MAX_NAME_CHARS: usize = 256;

/// Refuses `text` past `max` characters, naming `what` it is.
fn check_chars(text: &str, max: usize, what: &str) -> Result<(), String> {
    let n = text.chars().count();
    if n > max {
        return Err(format!("{what} may have at most {max} characters (this one has {n})"));
    }
    Ok(())
}

/// Refuses a source name past [`MAX_NAME_CHARS`].
pub fn check_name(name: &str) -> Result<(), String> {
    check_chars(name, MAX_NAME_CHARS, "a scenario name")
}

fn source_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = Option::<String>::deserialize(d)?;
    if let Some(n) = &name {
        check_name(n).map_err(serde::de::Error::custom)?;
    }
    Ok(name)
}

/// Longest model glob (`match.model`, a quota's `model`): matching one costs up to its length
/// times the model id's per rule and request, and model ids are ids, not documents.
pub const MAX_GLOB_CHARS: usize = 256;

/// Longest regular expression of a text condition, and the most memory its compiled form may
/// take: matching costs the compiled size times the text per rule and request.
pub const MAX_REGEX_CHARS: usize = 1024;
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

fn compile_regex(r: &str) -> Result<regex_lite::Regex, String> {
    check_chars(r, MAX_REGEX_CHARS, "a regex")?;
    regex_lite::RegexBuilder::new(r)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regex `{r}`: {e}"))
}

/// Refuses a model glob past [`MAX_GLOB_CHARS`].
pub fn check_glob(pattern: &str) -> Result<(), String> {
    check_chars(pattern, MAX_GLOB_CHARS, "a model glob")
}

fn model_glob<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let pattern = Option::<String>::deserialize(d)?;
    if let Some(p) = &pattern {
        check_glob(p).map_err(serde::de::Error::custom)?;
    }
    Ok(pattern)
}

/// A condition on a value inside the JSON body, addressed by a JSON pointer (`/inferenceConfig/maxTokens`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct JsonMatch {
    /// JSON pointer; must start with `/`.
    pub path: JsonPointer,
    /// The value there must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// The value must (true) or must not (false) exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The value, as text, must satisfy this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextMatch>,
}

map_only!(JsonMatch, "a JSON condition: a mapping with `path`", serialize);

/// A JSON pointer.
#[derive(Debug, Clone, Serialize)]
pub struct JsonPointer(pub String);

impl<'de> Deserialize<'de> for JsonPointer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = String::deserialize(d)?;
        if p.starts_with('/') {
            Ok(JsonPointer(p))
        } else {
            Err(serde::de::Error::custom(format!(
                "`path` must be a JSON pointer starting with `/`, e.g. /inferenceConfig/maxTokens (got `{p}`)"
            )))
        }
    }
}

/// A count condition.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct CountMatch {
    /// Exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<u64>,
    /// At least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u64>,
    /// At most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<u64>,
}

map_only!(CountMatch, "a count condition: a mapping with `equals`, `atLeast` or `atMost`", serialize);

impl CountMatch {
    /// Whether `n` satisfies every bound given.
    pub fn matches(&self, n: u64) -> bool {
        self.equals.is_none_or(|e| n == e)
            && self.at_least.is_none_or(|l| n >= l)
            && self.at_most.is_none_or(|m| n <= m)
    }
}

/// What a request must look like. Every condition given must hold; none given matches all.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct MatchSpec {
    /// Operation name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operations>,
    /// Model id glob (`*`, `?`), tested against the resolved foundation model id and the id as sent.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "model_glob")]
    pub model: Option<String>,
    /// Text of the last user message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_user_message: Option<TextMatch>,
    /// System prompt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<TextMatch>,
    /// Tools offered (true) or not (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    /// A tool with this name is offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Conditions on the JSON body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json: Vec<JsonMatch>,
    /// Request headers (names case-insensitive).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, TextMatch>,
    /// How many requests (this one included) have matched this rule's other conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_count: Option<CountMatch>,
}

map_only!(MatchSpec, "a matcher: a mapping of conditions", serialize);

/// A tool call in a reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolUseSpec {
    /// Tool name.
    pub name: String,
    /// Input document (default `{}`).
    #[serde(default = "empty_object")]
    pub input: Value,
    /// `toolUseId` (default: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

map_only!(ToolUseSpec, "a tool call: a mapping with `name`", serialize);

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// One tool call or a list (hand-written for precise errors, like [`Operations`]).
struct ToolUses(Vec<ToolUseSpec>);

impl<'de> Deserialize<'de> for ToolUses {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ToolUses;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a tool call {name, input, id} or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ToolUses, A::Error> {
                ToolUseSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(|t| ToolUses(vec![t]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ToolUses, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element::<ToolUseSpec>()? {
                    out.push(t);
                }
                Ok(ToolUses(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// An AWS error reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorSpec {
    /// Modelled exception name, e.g. `ThrottlingException`.
    #[serde(rename = "type")]
    pub code: ErrorName,
    /// Message (default: Bedrock's usual text for the type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

map_only!(ErrorSpec, "an error: a mapping with `type`", serialize);

/// A modelled exception name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorName(pub ErrorCode);

impl Serialize for ErrorName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for ErrorName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ErrorCode::from_name(&name).map(ErrorName).ok_or_else(|| {
            let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
            serde::de::Error::custom(format!("unknown error type `{name}`: expected one of {}", all.join(", ")))
        })
    }
}

/// Pacing of a reply.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct Timing {
    /// Streams: delay before the first content event. Unary: added to the response delay.
    #[serde(default)]
    pub first_token_ms: u64,
    /// Streams: content events are spaced by their tokens at this rate. Unary: output tokens
    /// at this rate are added to the response delay. 0 = no pacing.
    #[serde(default)]
    pub tokens_per_second: f64,
    /// Unary: a fixed delay before the response (added to the above).
    #[serde(default)]
    pub latency_ms: u64,
}

map_only!(Timing, "a timing mapping", serialize);

impl Timing {
    /// The pacing part (the one formula shared with the `pace` fault); `latencyMs` is added
    /// to unary replies by the caller.
    pub fn pace(&self) -> crate::plan::Pace {
        crate::plan::Pace::from_ms(self.first_token_ms, self.tokens_per_second)
    }
}

/// Token usage overrides.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct UsageSpec {
    /// Input tokens to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    /// Output tokens to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
}

map_only!(UsageSpec, "a usage mapping", serialize);

/// A stop reason name (Converse spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReasonName {
    /// `end_turn`.
    EndTurn,
    /// `tool_use`.
    ToolUse,
    /// `max_tokens`.
    MaxTokens,
    /// `stop_sequence`.
    StopSequence,
}

/// One reply. Exactly one kind: content (`text` and/or `toolUse`), `output`, `body`,
/// `stream`, `json` or `error`; plus optional `stopReason`, `usage`, `timing`, `headers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawReply", rename_all = "camelCase")]
pub struct ReplySpec {
    /// The kind.
    pub kind: ReplyKind,
    /// Overrides the stop reason of content replies.
    pub stop_reason: Option<StopReasonName>,
    /// Overrides the token counts.
    pub usage: Option<UsageSpec>,
    /// Pacing.
    pub timing: Option<Timing>,
    /// Extra response headers.
    pub headers: BTreeMap<String, String>,
}

/// What a reply answers with.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ReplyKind {
    /// Assistant content, rendered by the operation (Converse, stream, or the model's native format).
    Content {
        /// Text (may be empty when only tools are called).
        text: Option<String>,
        /// Tool calls after the text.
        tool_uses: Vec<ToolUseSpec>,
    },
    /// A full Converse-shaped response body.
    Output(Value),
    /// A native InvokeModel response body.
    Body(Value),
    /// Stream events, each `{eventType: payload}`, or `{"exception": {"type", "message"}}`.
    Stream(Vec<Value>),
    /// A raw JSON body (control-plane operations) with its status.
    Json {
        /// The body.
        body: Value,
        /// HTTP status (default 200).
        status: u16,
    },
    /// An AWS error.
    Error(ErrorSpec),
    /// StartAsyncInvoke: accept the job, then fail it with this `failureMessage` when it
    /// settles.
    AsyncFailure(String),
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
struct RawReply {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<ToolUses>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    stream: Option<Vec<Value>>,
    #[serde(default)]
    json: Option<Value>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    error: Option<ErrorSpec>,
    #[serde(default)]
    failure: Option<String>,
    #[serde(default)]
    stop_reason: Option<StopReasonName>,
    #[serde(default)]
    usage: Option<UsageSpec>,
    #[serde(default)]
    timing: Option<Timing>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

map_only!(
    RawReply,
    "a reply: a mapping with one of `text`/`toolUse`, `output`, `body`, `stream`, `json`, `error`, `failure`"
);

impl TryFrom<RawReply> for ReplySpec {
    type Error = String;

    fn try_from(raw: RawReply) -> Result<Self, String> {
        let content = raw.text.is_some() || raw.tool_use.is_some();
        let kinds = [
            content,
            raw.output.is_some(),
            raw.body.is_some(),
            raw.stream.is_some(),
            raw.json.is_some(),
            raw.error.is_some(),
            raw.failure.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 => {
                return Err(
                    "reply needs one of `text`/`toolUse`, `output`, `body`, `stream`, `json`, `error`, `failure`".into()
                )
            }
            1 => {}
            _ => {
                return Err(
                    "reply mixes kinds: use only one of `text`/`toolUse`, `output`, `body`, `stream`, `json`, `error`, `failure`"
                        .into(),
                )
            }
        }
        if raw.status.is_some() && raw.json.is_none() {
            return Err("`status` goes with a `json` reply".into());
        }
        if let Some(status) = raw.status.filter(|s| !(100..=599).contains(s)) {
            return Err(format!("`status` must be an HTTP status from 100 to 599 (got {status})"));
        }
        if let Some(stream) = &raw.stream {
            for (i, e) in stream.iter().enumerate() {
                let ok = e.as_object().is_some_and(|o| o.len() == 1);
                if !ok {
                    return Err(format!("stream event {i} must be an object with one key, the event type (e.g. {{messageStart: {{role: assistant}}}})"));
                }
                if let Some(ex) = e.get("exception") {
                    let code = ex.get("type").and_then(Value::as_str).unwrap_or("");
                    if !STREAM_EXCEPTIONS.contains(&ErrorCode::from_name(code).map(|c| c.name()).unwrap_or("")) {
                        return Err(format!(
                            "stream event {i}: `{code}` cannot be sent inside a stream; use one of {}",
                            STREAM_EXCEPTIONS.join(", ")
                        ));
                    }
                }
            }
        }
        let kind = if content {
            ReplyKind::Content { text: raw.text, tool_uses: raw.tool_use.map(|t| t.0).unwrap_or_default() }
        } else if let Some(o) = raw.output {
            ReplyKind::Output(o)
        } else if let Some(b) = raw.body {
            ReplyKind::Body(b)
        } else if let Some(s) = raw.stream {
            ReplyKind::Stream(s)
        } else if let Some(j) = raw.json {
            ReplyKind::Json { body: j, status: raw.status.unwrap_or(200) }
        } else if let Some(e) = raw.error {
            ReplyKind::Error(e)
        } else if let Some(f) = raw.failure {
            ReplyKind::AsyncFailure(f)
        } else {
            return Err("reply has no kind".into());
        };
        Ok(ReplySpec { kind, stop_reason: raw.stop_reason, usage: raw.usage, timing: raw.timing, headers: raw.headers })
    }
}

/// A scenario file failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{file}: {message}")]
pub struct LoadError {
    /// The file (or admin source) name.
    pub file: String,
    /// Line (1-based), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column (1-based), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What went wrong, with the location when known.
    pub message: String,
}

/// Parses a scenario document; `source` names it in errors. JSON when it starts with `{`,
/// YAML otherwise (YAML is a superset, but JSON's own parser gives better messages).
pub fn parse(source: &str, text: &str) -> Result<ScenarioFile, LoadError> {
    parse_as(source, text)
}

/// Parses one fault rule (`--fault`, `POST /_emulator/faults`), JSON or YAML.
pub fn parse_fault(source: &str, text: &str) -> Result<FaultSpec, LoadError> {
    parse_as(source, text)
}

/// Parses any part of the format with located errors. Text that is JSON goes to JSON's own
/// parser (its messages are better); anything else, YAML flow mappings such as
/// `{name: x, inject: {reset: {}}}` included, is YAML. Either way the text is held to the
/// document limits first (`document`: size, nesting).
pub fn parse_as<T: serde::de::DeserializeOwned>(source: &str, text: &str) -> Result<T, LoadError> {
    // Size first: it bounds every pass below, the JSON probe included.
    super::document::check_size(source, text, super::document::MAX_DOCUMENT_BYTES)?;
    let is_json = text.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    if is_json {
        super::document::check_json_depth(source, text)?;
    } else {
        super::document::check_yaml_depth(source, text)?;
    }
    if is_json {
        serde_json::from_str::<T>(text).map_err(|e| LoadError {
            file: source.to_string(),
            line: Some(e.line()),
            column: Some(e.column()),
            message: format!("line {} column {}: {}", e.line(), e.column(), strip_location(&e.to_string())),
        })
    } else {
        serde_yaml_ng::from_str::<T>(text).map_err(|e| {
            let loc = e.location();
            let (line, column) = (loc.as_ref().map(|l| l.line()), loc.as_ref().map(|l| l.column()));
            let message = match (line, column) {
                (Some(l), Some(c)) => format!("line {l} column {c}: {}", strip_location(&e.to_string())),
                _ => e.to_string(),
            };
            LoadError { file: source.to_string(), line, column, message }
        })
    }
}

/// serde_json and serde_yaml append " at line L column C"; the message puts it first instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn error_of(name: &str, text: &str) -> String {
        match parse(name, text) {
            Ok(_) => "(parsed)".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_files_are_refused_with_file_line_and_reason() {
        let cases = [
            ("wrong-version.yaml", "version: 2\nrules: []\n"),
            ("missing-version.yaml", "rules: []\n"),
            (
                "unknown-operation.yaml",
                "version: 1\nrules:\n  - match:\n      operation: Conversee\n    reply: {text: hi}\n",
            ),
            ("unknown-field.yaml", "version: 1\nrules:\n  - reply: {text: hi}\n    mtach: {}\n"),
            ("no-reply.yaml", "version: 1\nrules:\n  - name: lonely\n"),
            ("mixed-reply.yaml", "version: 1\nrules:\n  - reply: {text: hi, error: {type: ThrottlingException}}\n"),
            ("unknown-error.yaml", "version: 1\nrules:\n  - reply: {error: {type: TooManyCooksException}}\n"),
            (
                "bad-regex.yaml",
                "version: 1\nrules:\n  - match: {lastUserMessage: {regex: '('}}\n    reply: {text: x}\n",
            ),
            (
                "bad-pointer.yaml",
                "version: 1\nrules:\n  - match: {json: [{path: messages, exists: true}]}\n    reply: {text: x}\n",
            ),
            ("state-without-scenario.yaml", "version: 1\nrules:\n  - {whenState: a, reply: {text: x}}\n"),
            ("bad-tool-use.yaml", "version: 1\nrules:\n  - reply:\n      toolUse: {nme: x}\n"),
            ("bad-stream-event.yaml", "version: 1\nrules:\n  - reply:\n      stream: [{a: 1, b: 2}]\n"),
            ("status-without-json.yaml", "version: 1\nrules:\n  - reply: {text: x, status: 500}\n"),
            ("status-out-of-range.yaml", "version: 1\nrules:\n  - reply: {json: {}, status: 1000}\n"),
            ("bad-then.yaml", "version: 1\nrules:\n  - {reply: {text: x}, then: loop}\n"),
            ("not-yaml.yaml", "version: 1\nrules: [\n"),
            ("bad.json", "{\"version\": 1, \"rules\": [{\"reply\": {\"txt\": \"x\"}}]}"),
        ];
        let report: Vec<String> = cases.iter().map(|(name, text)| error_of(name, text)).collect();
        insta::assert_snapshot!(report.join("\n"));
    }

    #[test]
    fn a_sequence_where_a_mapping_belongs_is_refused_not_read_as_fields_in_order() {
        let cases = [
            ("[1]", "line 1 column 1: invalid type: sequence, expected a scenario document"),
            (
                "version: 1\nrules:\n  - match: []\n    reply: {text: x}\n",
                "line 3 column 12: rules[0].match: invalid type: sequence",
            ),
            (
                "version: 1\nrules:\n  - [{}, 0, {}]\n",
                "line 3 column 5: rules[0]: invalid type: sequence, expected a rule",
            ),
            (
                "version: 1\nrules:\n  - reply: {text: x, timing: [5]}\n",
                "line 3 column 30: rules[0].reply.timing: invalid type: sequence, expected a timing mapping",
            ),
            (
                "{\"version\": 1, \"rules\": [{\"match\": {\"requestCount\": []}, \"reply\": {\"text\": \"x\"}}]}",
                "invalid type: sequence, expected a count condition",
            ),
            (
                "version: 1\nfaults:\n  - {on: [], inject: {reset: {}}}\n",
                "faults[0].on: invalid type: sequence, expected an `on` mapping",
            ),
        ];
        for (text, expected) in cases {
            let e = error_of("doc.yaml", text);
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_shipped_examples_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/examples");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("examples folder") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            parse(&path.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 4);
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
            let _ = parse("fuzz.yaml", &text);
        }

        #[test]
        fn the_parser_never_panics_on_near_valid_documents(
            op in "[A-Za-z]{0,12}", key in "[a-zA-Z]{0,10}", value in "[ -~]{0,20}", n in 0u32..3,
        ) {
            let doc = format!("version: {n}\nrules:\n  - match: {{operation: {op}, {key}: {value:?}}}\n    reply: {{{key}: {value:?}}}\n");
            let _ = parse("fuzz.yaml", &doc);
            let json = format!("{{\"version\": {n}, \"rules\": [{{\"match\": {{\"{key}\": {value:?}}}, \"reply\": {{\"text\": {value:?}}}}}]}}");
            let _ = parse("fuzz.json", &json);
        }
    }
}
