//! Rules from Rust code, in the spirit of wiremock-rs (`Mock::given(…).respond_with(…)`):
//!
//! ```
//! use bedrock_emulator::scenario::{Match, Reply, Rule};
//! let rule = Rule::new("greet")
//!     .when(Match::operation("Converse").last_user_contains("hello"))
//!     .reply(Reply::text("Hi there!"));
//! ```
//!
//! The builders produce the same specs as scenario files, so both share one engine.

use std::collections::BTreeMap;

use serde_json::Value;

use super::format::{
    CountMatch, ErrorName, ErrorSpec, MatchSpec, OperationName, Operations, ReplyKind, ReplySpec, RuleSpec,
    StopReasonName, TextMatch, Then, Timing, ToolUseSpec, UsageSpec,
};
use crate::wire::error::ErrorCode;

fn contains(s: &str) -> TextMatch {
    TextMatch { contains: Some(s.to_string()), equals: None, regex: None, ignore_case: false }
}

/// A request matcher under construction.
#[derive(Debug, Clone, Default)]
pub struct Match(pub MatchSpec);

impl Match {
    /// Matches every request.
    pub fn any() -> Self {
        Match::default()
    }

    /// Matches one operation (`Converse`, `InvokeModel`, …). Names are not checked here;
    /// an unknown name simply never matches.
    pub fn operation(name: &str) -> Self {
        Match::any().and_operation(name)
    }

    /// Adds an operation alternative.
    pub fn and_operation(mut self, name: &str) -> Self {
        let op = OperationName(name.to_string());
        let mut ops = self.0.operation.take().unwrap_or(Operations(Vec::new()));
        ops.0.push(op);
        self.0.operation = Some(ops);
        self
    }

    /// Model id glob.
    pub fn model(mut self, glob: &str) -> Self {
        self.0.model = Some(glob.to_string());
        self
    }

    /// The last user message contains `text`.
    pub fn last_user_contains(mut self, text: &str) -> Self {
        self.0.last_user_message = Some(contains(text));
        self
    }

    /// The last user message matches a regex (regex-lite syntax); an invalid one never matches.
    pub fn last_user_regex(mut self, pattern: &str) -> Self {
        let regex = regex_lite::Regex::new(pattern).unwrap_or_else(|_| {
            // `[^\s\S]` matches nothing: an invalid pattern must not match everything.
            regex_lite::Regex::new(r"[^\s\S]").unwrap_or_else(|_| unreachable!("constant pattern"))
        });
        self.0.last_user_message =
            Some(TextMatch { contains: None, equals: None, regex: Some(regex), ignore_case: false });
        self
    }

    /// The system prompt contains `text`.
    pub fn system_contains(mut self, text: &str) -> Self {
        self.0.system = Some(contains(text));
        self
    }

    /// A tool named `name` is offered.
    pub fn tool(mut self, name: &str) -> Self {
        self.0.tool = Some(name.to_string());
        self
    }

    /// Tools are (or are not) offered.
    pub fn tools(mut self, present: bool) -> Self {
        self.0.tools = Some(present);
        self
    }

    /// Header `name` contains `value`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0.headers.insert(name.to_string(), contains(value));
        self
    }

    /// The JSON body has `value` at pointer `path`.
    pub fn json_equals(mut self, path: &str, value: Value) -> Self {
        self.0.json.push(super::format::JsonMatch {
            path: super::format::JsonPointer(path.to_string()),
            equals: Some(value),
            exists: None,
            text: None,
        });
        self
    }

    /// Only from the `n`th matching request on.
    pub fn from_request(mut self, n: u64) -> Self {
        self.0.request_count = Some(CountMatch { at_least: Some(n), ..Default::default() });
        self
    }
}

/// A reply under construction.
#[derive(Debug, Clone)]
pub struct Reply(pub ReplySpec);

impl Reply {
    fn of(kind: ReplyKind) -> Self {
        Reply(ReplySpec { kind, stop_reason: None, usage: None, timing: None, headers: BTreeMap::new() })
    }

    /// Assistant text (rendered for Converse, streams and every native format).
    pub fn text(text: &str) -> Self {
        Reply::of(ReplyKind::Content { text: Some(text.to_string()), tool_uses: Vec::new() })
    }

    /// A tool call.
    pub fn tool_use(name: &str, input: Value) -> Self {
        Reply::of(ReplyKind::Content {
            text: None,
            tool_uses: vec![ToolUseSpec { name: name.to_string(), input, id: None }],
        })
    }

    /// An AWS error (`message` None: Bedrock's usual text for the type).
    pub fn error(code: ErrorCode, message: Option<&str>) -> Self {
        Reply::of(ReplyKind::Error(ErrorSpec { code: ErrorName(code), message: message.map(str::to_string) }))
    }

    /// A raw JSON body with a status.
    pub fn json(body: Value, status: u16) -> Self {
        Reply::of(ReplyKind::Json { body, status })
    }

    /// StartAsyncInvoke: the job is accepted, then fails with `message` as its
    /// `failureMessage` when it is due.
    pub fn async_failure(message: &str) -> Self {
        Reply::of(ReplyKind::AsyncFailure(message.to_string()))
    }

    /// Overrides token usage.
    pub fn usage(mut self, input_tokens: u32, output_tokens: u32) -> Self {
        self.0.usage = Some(UsageSpec { input_tokens: Some(input_tokens), output_tokens: Some(output_tokens) });
        self
    }

    /// Overrides the stop reason.
    pub fn stop_reason(mut self, stop: StopReasonName) -> Self {
        self.0.stop_reason = Some(stop);
        self
    }

    /// Paces the reply.
    pub fn timing(mut self, first_token_ms: u64, tokens_per_second: f64) -> Self {
        self.0.timing = Some(Timing { first_token_ms, tokens_per_second, latency_ms: 0 });
        self
    }
}

/// A rule under construction.
#[derive(Debug, Clone)]
pub struct Rule(pub RuleSpec);

impl Rule {
    /// A rule named `name` that matches everything and has no reply yet.
    pub fn new(name: &str) -> Self {
        Rule(RuleSpec {
            name: Some(name.to_string()),
            priority: 0,
            matcher: MatchSpec::default(),
            replies: Vec::new(),
            then: Then::RepeatLast,
            scenario: None,
            when_state: None,
            set_state: None,
        })
    }

    /// What the request must look like.
    pub fn when(mut self, m: Match) -> Self {
        self.0.matcher = m.0;
        self
    }

    /// Adds a reply (several form a sequence).
    pub fn reply(mut self, r: Reply) -> Self {
        self.0.replies.push(r.0);
        self
    }

    /// Priority (higher first).
    pub fn priority(mut self, p: i64) -> Self {
        self.0.priority = p;
        self
    }

    /// What happens after the last reply.
    pub fn then(mut self, then: Then) -> Self {
        self.0.then = then;
        self
    }

    /// Reads and writes the named scenario's state.
    pub fn in_scenario(mut self, scenario: &str, when_state: Option<&str>, set_state: Option<&str>) -> Self {
        self.0.scenario = Some(scenario.to_string());
        self.0.when_state = when_state.map(str::to_string);
        self.0.set_state = set_state.map(str::to_string);
        self
    }
}

/// How many requests a verification expects.
#[derive(Debug, Clone, Default)]
pub struct Times(pub CountMatch);

impl Times {
    /// Exactly `n`.
    pub fn exactly(n: u64) -> Self {
        Times(CountMatch { equals: Some(n), ..Default::default() })
    }

    /// At least `n`.
    pub fn at_least(n: u64) -> Self {
        Times(CountMatch { at_least: Some(n), ..Default::default() })
    }

    /// At most `n`.
    pub fn at_most(n: u64) -> Self {
        Times(CountMatch { at_most: Some(n), ..Default::default() })
    }
}
