//! Evaluating a `MatchSpec` against a request. The same evaluation serves scenario rules,
//! the verify endpoint and the Rust API, and reports every failed condition so that near
//! misses can be explained.

use serde::Serialize;
use serde_json::Value;

use super::format::MatchSpec;
use crate::canonical::Conversation;

/// What matchers can see of a request (also what the journal keeps of it).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MatchInput {
    /// Operation name.
    pub operation: String,
    /// Model id as sent (runtime operations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The foundation model it resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_model: Option<String>,
    /// Text of the last user message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_user_text: Option<String>,
    /// System prompt text (blocks joined by a newline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_text: Option<String>,
    /// Names of the tools offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_names: Vec<String>,
    /// The body (listed as its JSON tree, when it is JSON).
    #[serde(skip_serializing_if = "super::request_body::is_not_json")]
    pub body: super::RequestBody,
    /// Headers (lower-case names; credentials redacted when read or listed).
    pub headers: RequestHeaders,
}

/// Headers whose values never reach a matcher, the journal or any listing.
pub const SECRET_HEADERS: &[&str] =
    &["authorization", "x-amz-security-token", "cookie", "x-api-key", "proxy-authorization"];

/// A request's headers as matchers and the journal see them. It shares the listener's own
/// header map and redacts on every read, so a request pays no per-header copies for a
/// journal entry that may never be listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestHeaders(std::sync::Arc<http::HeaderMap>);

impl RequestHeaders {
    /// Wraps the request's headers.
    pub fn new(headers: http::HeaderMap) -> Self {
        RequestHeaders(std::sync::Arc::new(headers))
    }

    /// Shares headers the request already holds.
    pub fn shared(headers: std::sync::Arc<http::HeaderMap>) -> Self {
        RequestHeaders(headers)
    }

    /// Every header as (lower-case name, value), secrets redacted, non-UTF-8 values shown
    /// as `(binary)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| {
            let name = k.as_str();
            let value = if SECRET_HEADERS.contains(&name) { "REDACTED" } else { v.to_str().unwrap_or("(binary)") };
            (name, value)
        })
    }

    /// The (first) value of `name` (any case), redacted like [`iter`](Self::iter).
    pub fn get(&self, name: &str) -> Option<&str> {
        let lower = name.to_ascii_lowercase();
        let value = self.0.get(lower.as_str())?;
        Some(if SECRET_HEADERS.contains(&lower.as_str()) { "REDACTED" } else { value.to_str().unwrap_or("(binary)") })
    }

    /// Bytes of names and values held (the journal's byte bound).
    pub fn byte_len(&self) -> usize {
        self.0.iter().map(|(k, v)| k.as_str().len() + v.len()).sum()
    }
}

impl Serialize for RequestHeaders {
    /// `[[name, value], …]`, the shape the journal has always listed.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl MatchInput {
    /// Adds what the canonical conversation tells.
    pub fn with_conversation(&mut self, model: &str, conversation: &Conversation) {
        self.resolved_model = Some(model.to_string());
        self.last_user_text = Some(conversation.last_user_text());
        self.system_text = (!conversation.system.is_empty()).then(|| conversation.system.join("\n"));
        self.tool_names = conversation.tools.iter().map(|t| t.name.clone()).collect();
    }
}

/// `*` matches any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Every condition of `spec` that `input` fails, described (empty = match). `requestCount`
/// is not evaluated here: it depends on the rule's counters.
pub fn failures(spec: &MatchSpec, input: &MatchInput) -> Vec<String> {
    let mut out = Vec::new();
    check(spec, input, &mut |why| {
        out.push(why());
        true
    });
    out
}

/// Whether `input` satisfies every condition of `spec` (`requestCount` aside, as in
/// [`failures`]). Stops at the first failed condition and describes none: every request is
/// checked against every rule, and describing a miss nobody reads cost more than the check.
pub fn matches(spec: &MatchSpec, input: &MatchInput) -> bool {
    let mut ok = true;
    check(spec, input, &mut |_| {
        ok = false;
        false
    });
    ok
}

/// Evaluates each condition of `spec` in turn, passing every failed one to `note`, which
/// calls the description only if it wants the text, and returns whether to go on.
fn check(spec: &MatchSpec, input: &MatchInput, note: &mut dyn FnMut(&dyn Fn() -> String) -> bool) {
    if let Some(ops) = &spec.operation {
        if !ops.iter().any(|o| o.0 == input.operation) {
            let names = || ops.iter().map(|o| o.0.as_str()).collect::<Vec<_>>().join(" or ");
            if !note(&|| format!("operation is {} (wanted {})", input.operation, names())) {
                return;
            }
        }
    }
    if let Some(pattern) = &spec.model {
        let hit =
            [&input.resolved_model, &input.model_id].iter().any(|m| m.as_deref().is_some_and(|m| glob(pattern, m)));
        if !hit {
            let shown = input.resolved_model.as_deref().or(input.model_id.as_deref()).unwrap_or("(none)");
            if !note(&|| format!("model is {shown} (wanted {pattern})")) {
                return;
            }
        }
    }
    if let Some(m) = &spec.last_user_message {
        let text = input.last_user_text.as_deref().unwrap_or("");
        if !m.matches(text)
            && !note(&|| format!("last user message {:?} does not satisfy: {}", shorten(text), m.describe()))
        {
            return;
        }
    }
    if let Some(m) = &spec.system {
        let text = input.system_text.as_deref().unwrap_or("");
        if !m.matches(text)
            && !note(&|| format!("system prompt {:?} does not satisfy: {}", shorten(text), m.describe()))
        {
            return;
        }
    }
    if let Some(wanted) = spec.tools {
        if wanted == input.tool_names.is_empty() {
            let why = if wanted { "no tools were offered" } else { "tools were offered" };
            if !note(&|| why.to_string()) {
                return;
            }
        }
    }
    if let Some(name) = &spec.tool {
        if !input.tool_names.iter().any(|t| t == name)
            && !note(&|| format!("tool {name} was not offered (offered: {})", input.tool_names.join(", ")))
        {
            return;
        }
    }
    for j in &spec.json {
        let found = input.body.json().and_then(|b| b.pointer(&j.path.0));
        if let Some(exists) = j.exists {
            if exists != found.is_some()
                && !note(&|| format!("body {} {}", j.path.0, if exists { "is missing" } else { "is present" }))
            {
                return;
            }
        }
        if let Some(want) = &j.equals {
            if found != Some(want)
                && !note(&|| {
                    format!(
                        "body {} is {} (wanted {want})",
                        j.path.0,
                        found.map_or("missing".to_string(), Value::to_string)
                    )
                })
            {
                return;
            }
        }
        if let Some(t) = &j.text {
            let text = found.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
            if (found.is_none() || !t.matches(&text))
                && !note(&|| format!("body {} {:?} does not satisfy: {}", j.path.0, shorten(&text), t.describe()))
            {
                return;
            }
        }
    }
    for (name, m) in &spec.headers {
        let lower = name.to_ascii_lowercase();
        let value = input.headers.get(&lower);
        if !value.is_some_and(|v| m.matches(v))
            && !note(&|| {
                format!(
                    "header {lower} {} does not satisfy: {}",
                    value.map_or("missing".into(), |v| format!("{v:?}")),
                    m.describe()
                )
            })
        {
            return;
        }
    }
}

/// The first 60 characters of `text` (reading no further: near-miss reports are built for
/// every rule a request fails, whatever the size of its prompt).
fn shorten(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_stars_and_question_marks() {
        assert!(glob("anthropic.claude-3*", "anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(glob("*haiku*", "anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("anthropic.*", "amazon.nova-micro-v1:0"));
        assert!(glob("*", ""));
    }
}
