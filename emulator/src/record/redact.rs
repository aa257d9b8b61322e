//! What never reaches disk: credentials, signatures, session tokens, volatile per-attempt
//! headers, AWS account ids and whatever the user's own patterns name.
//!
//! Cassettes are files people commit and review, so redaction runs inside the cassette
//! builders (not as an optional pass afterwards) and [`find_secrets`] lets tests assert that
//! a cassette holds nothing it should not. Redaction replaces only the secret itself, so a
//! recorded body keeps its bytes wherever it held no secret (see [`Redactor::frame`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::Engine as _;
use bytes::Bytes;
use regex_lite::Regex;
use serde_json::Value;

use crate::wire::event_stream::Frame;

/// Headers dropped whole: signing material and credentials, per-attempt values that make
/// every recording differ (so a cassette diff would show noise), and transport framing that
/// describes the recording connection rather than the response (a replayer computes its own).
const DROPPED_HEADERS: &[&str] = &[
    // Credentials and signatures.
    "authorization",
    "proxy-authorization",
    "x-amz-security-token",
    "x-api-key",
    "cookie",
    "set-cookie",
    "x-amz-content-sha256",
    // Per-attempt values (they change on every call).
    "x-amz-date",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "x-amzn-trace-id",
    // Transport framing.
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

/// What a header value that holds a credential becomes.
const REDACTED: &str = "REDACTED";
/// What an access key id becomes (recognisable in a review, and not a key id itself).
const REDACTED_ACCESS_KEY: &str = "REDACTED-ACCESS-KEY";
/// The account id every ARN gets (all zeros: never a real account).
const PLACEHOLDER_ACCOUNT: &str = "000000000000";

/// The ARN separator, raw or percent-encoded (ARNs travel in request paths as `%3A`).
const SEP: &str = "(?::|%3[aA])";

/// A user pattern failed to compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid redaction pattern `{pattern}`: {source}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it did not compile.
    #[source]
    pub source: regex_lite::Error,
}

/// Removes secrets from what a cassette stores. Built-in rules always apply; account ids in
/// ARNs are replaced unless turned off; user patterns run last, in the order added.
#[derive(Debug, Clone)]
pub struct Redactor {
    accounts: bool,
    patterns: Vec<(Regex, String)>,
}

impl Default for Redactor {
    /// Account redaction on, no user patterns.
    fn default() -> Self {
        Redactor { accounts: true, patterns: Vec::new() }
    }
}

/// The built-in rules, compiled once.
struct Rules {
    access_key: Regex,
    sigv4: Regex,
    signature: Regex,
    amz_signature: Regex,
    security_token: Regex,
    secret_key: Regex,
    bearer: Regex,
    arn_account: Regex,
    authorization_key: Regex,
}

/// Compiles a constant pattern (covered by the tests below, so failure is a build bug).
fn constant(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("constant pattern {pattern}: {e}"))
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        access_key: constant(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
        // A SigV4 `Authorization` value, up to the end of the quoted string or line.
        sigv4: constant(r#"AWS4-HMAC-SHA256\s+Credential=[^"\r\n]*"#),
        signature: constant(r"\bSignature=[0-9a-fA-F]{64}"),
        amz_signature: constant(r#"(?i)(X-Amz-Signature=)([^&\s"']+)"#),
        security_token: constant(r#"(?i)(x-amz-security-token["']?\s*[:=]\s*["']?)([^&\s"',]+)"#),
        secret_key: constant(r#"(?i)(aws_secret_access_key["']?\s*[:=]\s*["']?)([A-Za-z0-9/+=]{16,})"#),
        bearer: constant(r"(Bearer\s+)([A-Za-z0-9._~+/=-]{20,})"),
        arn_account: constant(&format!(r"(arn{SEP}aws[a-z-]*{SEP}[a-z0-9-]+{SEP}[a-z0-9-]*{SEP})(\d{{12}})({SEP})")),
        authorization_key: constant(r#"(?i)"(?:proxy-)?authorization"\s*:\s*""#),
    })
}

impl Redactor {
    /// Adds a user pattern: every match becomes `replacement` (`$1`-style group references
    /// expand). Applied after the built-in rules, to text, JSON strings and header values.
    pub fn with_pattern(mut self, pattern: &str, replacement: impl Into<String>) -> Result<Self, PatternError> {
        let regex = Regex::new(pattern).map_err(|source| PatternError { pattern: pattern.to_string(), source })?;
        self.patterns.push((regex, replacement.into()));
        Ok(self)
    }

    /// Keeps account ids in ARNs (for recordings of a sandbox account whose ids matter to the
    /// replay, e.g. ARNs the client later sends back).
    pub fn without_account_redaction(mut self) -> Self {
        self.accounts = false;
        self
    }

    /// Header names lower-cased; credentials, per-attempt and transport headers dropped;
    /// a value holding an access key id or a SigV4 signature replaced whole by `REDACTED`;
    /// other values through [`Redactor::text`]. Repeated names are joined with `, `.
    pub fn headers(&self, headers: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
        let r = rules();
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if DROPPED_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let value = if r.access_key.is_match(&value)
                || value.contains("AWS4-HMAC-SHA256")
                || r.signature.is_match(&value)
                || r.amz_signature.is_match(&value)
            {
                REDACTED.to_string()
            } else {
                self.text(&value)
            };
            match out.entry(name) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    e.get_mut().push_str(", ");
                    e.get_mut().push_str(&value);
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(value);
                }
            }
        }
        out
    }

    /// Redacts free text: access key ids, SigV4 credentials and signatures, session tokens,
    /// secret keys, bearer tokens, account ids in ARNs (raw or percent-encoded), then the
    /// user patterns. Only the secret itself changes.
    pub fn text(&self, s: &str) -> String {
        let r = rules();
        let mut out = r.access_key.replace_all(s, REDACTED_ACCESS_KEY).into_owned();
        out = r.sigv4.replace_all(&out, "AWS4-HMAC-SHA256 REDACTED").into_owned();
        out = r.signature.replace_all(&out, "Signature=REDACTED").into_owned();
        out = r.amz_signature.replace_all(&out, "${1}REDACTED").into_owned();
        out = r.security_token.replace_all(&out, "${1}REDACTED").into_owned();
        out = r.secret_key.replace_all(&out, "${1}REDACTED").into_owned();
        out = r.bearer.replace_all(&out, "${1}REDACTED").into_owned();
        if self.accounts {
            out = r.arn_account.replace_all(&out, format!("${{1}}{PLACEHOLDER_ACCOUNT}${{3}}")).into_owned();
        }
        for (regex, replacement) in &self.patterns {
            out = regex.replace_all(&out, replacement.as_str()).into_owned();
        }
        out
    }

    /// Redacts every string in a JSON value (recursively); object keys are left as they are
    /// (they are field names from the service model, not data).
    pub fn json(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                let redacted = self.text(s);
                if redacted != *s {
                    *s = redacted;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.json(item)),
            Value::Object(map) => map.values_mut().for_each(|item| self.json(item)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Redacts a body: JSON through [`Redactor::json`], other UTF-8 through
    /// [`Redactor::text`]. Returns `None` when nothing changed, so the caller keeps the
    /// original bytes (a recording stays byte-faithful wherever it held no secret).
    pub fn bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if let Ok(original) = serde_json::from_slice::<Value>(bytes) {
            let mut value = original.clone();
            self.json(&mut value);
            return if value == original { None } else { serde_json::to_vec(&value).ok() };
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let redacted = self.text(text);
        (redacted != text).then(|| redacted.into_bytes())
    }

    /// Redacts one event-stream frame's payload, and for a `chunk` event also the provider
    /// JSON inside its base64 `bytes`. An unchanged payload keeps its exact bytes.
    pub fn frame(&self, frame: &Frame) -> Frame {
        let (name, payload) = match frame {
            Frame::Event { event_type, payload } => (event_type.as_ref(), payload),
            Frame::Exception { exception_type, payload } => (exception_type.as_str(), payload),
        };
        let mut out = self.bytes(payload).map(Bytes::from).unwrap_or_else(|| payload.clone());
        if name == "chunk" && matches!(frame, Frame::Event { .. }) {
            if let Some(redacted) = self.chunk_bytes(&out) {
                out = Bytes::from(redacted);
            }
        }
        match frame {
            Frame::Event { event_type, .. } => Frame::Event { event_type: event_type.clone(), payload: out },
            Frame::Exception { exception_type, .. } => {
                Frame::Exception { exception_type: exception_type.clone(), payload: out }
            }
        }
    }

    /// The chunk payload with its inner `bytes` redacted, when that changed anything.
    fn chunk_bytes(&self, payload: &[u8]) -> Option<Vec<u8>> {
        let mut outer = serde_json::from_slice::<Value>(payload).ok()?;
        let encoded = outer.get_mut("bytes")?;
        let inner = base64::engine::general_purpose::STANDARD.decode(encoded.as_str()?).ok()?;
        let redacted = self.bytes(&inner)?;
        *encoded = Value::String(base64::engine::general_purpose::STANDARD.encode(redacted));
        serde_json::to_vec(&outer).ok()
    }
}

/// Scans text (typically a serialised cassette) for anything that looks like a secret, so
/// tests can assert a cassette is clean. Each finding names the kind, the byte offset and a
/// masked preview (never the whole secret: test logs are not a place for one either).
pub fn find_secrets(text: &str) -> Vec<String> {
    let r = rules();
    let mut found = Vec::new();
    let mut report = |kind: &str, at: usize, secret: &str| {
        let preview: String = secret.chars().take(4).collect();
        found.push(format!("{kind} at byte {at}: {preview}…"));
    };
    let whole: [(&str, &Regex); 5] = [
        ("access key id", &r.access_key),
        ("SigV4 Authorization credential", &r.sigv4),
        ("SigV4 signature", &r.signature),
        ("bearer token", &r.bearer),
        ("authorization header", &r.authorization_key),
    ];
    for (kind, regex) in whole {
        for m in regex.find_iter(text) {
            // `AWS4-HMAC-SHA256 REDACTED` and `Bearer REDACTED` are what redaction leaves.
            if !m.as_str().ends_with(REDACTED) {
                report(kind, m.start(), m.as_str());
            }
        }
    }
    let valued: [(&str, &Regex, usize); 3] = [
        ("X-Amz-Signature", &r.amz_signature, 2),
        ("security token", &r.security_token, 2),
        ("secret access key", &r.secret_key, 2),
    ];
    for (kind, regex, group) in valued {
        for caps in regex.captures_iter(text) {
            if let Some(m) = caps.get(group).filter(|m| m.as_str() != REDACTED) {
                report(kind, m.start(), m.as_str());
            }
        }
    }
    for caps in r.arn_account.captures_iter(text) {
        if let Some(m) = caps.get(2).filter(|m| m.as_str() != PLACEHOLDER_ACCOUNT) {
            report("account id in an ARN", m.start(), m.as_str());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const SIGV4: &str = "AWS4-HMAC-SHA256 Credential=AKIATEST1234567890AB/20250626/us-east-1/bedrock/aws4_request, \
SignedHeaders=host;x-amz-date, Signature=9dd8a45acbd0693204b9fbc2bfa292eed719abb7bcd0f5837e01afefc1eb4df0";

    fn header_list(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_built_in_patterns_compile() {
        let _ = rules();
    }

    #[test]
    fn secret_and_volatile_headers_are_dropped_and_names_lower_cased() {
        let headers = Redactor::default().headers(header_list(&[
            ("Authorization", SIGV4),
            ("X-Amz-Security-Token", "FAKE-SESSION-TOKEN"),
            ("X-Amz-Date", "20250626T120000Z"),
            ("Cookie", "a=b"),
            ("Set-Cookie", "test_set_cookie"),
            ("amz-sdk-invocation-id", "c8cf6f08"),
            ("amz-sdk-request", "attempt=1; max=3"),
            ("X-Amzn-Trace-Id", "Root=1-6c333b46"),
            ("x-amz-content-sha256", "9dd8"),
            ("Content-Length", "170"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("X-Amzn-Bedrock-Accept", "application/json"),
            ("User-Agent", "Boto3/1.35.56"),
        ]));
        let names: Vec<&str> = headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["accept", "content-type", "user-agent", "x-amzn-bedrock-accept"]);
    }

    #[test]
    fn a_header_value_holding_an_access_key_or_signature_becomes_redacted() {
        let headers = Redactor::default().headers(header_list(&[
            ("X-Custom-Auth", SIGV4),
            ("X-Forwarded-Key", "key AKIAIOSFODNN7EXAMPLE"),
            ("X-Presigned", "https://x/?X-Amz-Signature=abc123"),
        ]));
        assert!(headers.values().all(|v| v == "REDACTED"), "{headers:?}");
    }

    #[test]
    fn repeated_headers_are_joined_in_order() {
        let headers = Redactor::default().headers(header_list(&[("Accept", "a"), ("accept", "b")]));
        assert_eq!(headers.get("accept").map(String::as_str), Some("a, b"));
    }

    #[test]
    fn account_ids_in_arns_become_zeros_raw_and_percent_encoded() {
        let r = Redactor::default();
        assert_eq!(
            r.text("arn:aws:bedrock:us-east-1:503561449716:guardrail/274u1upxm897"),
            "arn:aws:bedrock:us-east-1:000000000000:guardrail/274u1upxm897"
        );
        assert_eq!(
            r.text("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x/converse"),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A000000000000%3Ainference-profile%2Fus.x/converse"
        );
        assert_eq!(r.text("arn:aws:iam::123456789012:role/x"), "arn:aws:iam::000000000000:role/x");
    }

    #[test]
    fn account_redaction_can_be_turned_off() {
        let arn = "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:custom-model/x";
        assert_eq!(Redactor::default().without_account_redaction().text(arn), arn);
    }

    #[test]
    fn access_keys_become_a_placeholder_that_is_not_a_key() {
        let out = Redactor::default().text("Credential=ASIAABCDEFGHIJKLMNOP/2025");
        assert_eq!(out, "Credential=REDACTED-ACCESS-KEY/2025");
        assert!(find_secrets(&out).is_empty());
    }

    #[test]
    fn tokens_signatures_and_secret_keys_in_text_are_redacted() {
        let text = format!(
            "Authorization: {SIGV4}\nBearer abcdefghijklmnopqrstuvwxyz012345\n\
             https://h/?X-Amz-Signature=deadbeef&X-Amz-Security-Token=IQoJb3JpZ2lu%2Fxyz\n\
             aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        );
        assert!(find_secrets(&text).len() >= 5, "{:?}", find_secrets(&text));
        let out = Redactor::default().text(&text);
        assert_eq!(find_secrets(&out), Vec::<String>::new(), "{out}");
        assert!(out.contains("Bearer REDACTED") && out.contains("X-Amz-Signature=REDACTED"), "{out}");
    }

    #[test]
    fn user_patterns_apply_after_the_built_in_rules() {
        let r = Redactor::default().with_pattern(r"customer-(\d+)", "customer-<$1>").expect("valid pattern");
        assert_eq!(r.text("for customer-42 only"), "for customer-<42> only");
    }

    #[test]
    fn an_invalid_user_pattern_is_refused_with_the_pattern_named() {
        let error = Redactor::default().with_pattern("(", "x").expect_err("invalid");
        assert!(error.to_string().starts_with("invalid redaction pattern `(`"), "{error}");
    }

    #[test]
    fn json_redaction_reaches_nested_strings_and_leaves_keys() {
        let mut v = json!({"arn:aws:s3::123456789012:x": ["arn:aws:bedrock:us-east-1:123456789012:guardrail/g"],
                           "n": 1, "o": {"k": "AKIAIOSFODNN7EXAMPLE"}});
        Redactor::default().json(&mut v);
        assert_eq!(
            v,
            json!({"arn:aws:s3::123456789012:x": ["arn:aws:bedrock:us-east-1:000000000000:guardrail/g"],
                   "n": 1, "o": {"k": "REDACTED-ACCESS-KEY"}})
        );
    }

    #[test]
    fn a_frame_without_secrets_keeps_its_exact_bytes() {
        let payload = Bytes::from_static(br#"{"p":"abc","role":"assistant"}"#);
        let frame = Frame::Event { event_type: "messageStart".into(), payload: payload.clone() };
        assert_eq!(Redactor::default().frame(&frame), frame);
    }

    #[test]
    fn a_chunk_frame_has_its_inner_bytes_redacted() {
        let inner = br#"{"arn":"arn:aws:bedrock:us-east-1:123456789012:guardrail/g"}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
        let payload = format!(r#"{{"bytes":"{b64}","p":"ab"}}"#);
        let frame = Frame::Event { event_type: "chunk".into(), payload: Bytes::from(payload) };
        let Frame::Event { payload, .. } = Redactor::default().frame(&frame) else { panic!("an event") };
        let outer: Value = serde_json::from_slice(&payload).expect("json");
        let inner =
            base64::engine::general_purpose::STANDARD.decode(outer["bytes"].as_str().unwrap_or("")).expect("b64");
        assert_eq!(inner, br#"{"arn":"arn:aws:bedrock:us-east-1:000000000000:guardrail/g"}"#);
        assert_eq!(outer["p"], "ab");
    }

    #[test]
    fn the_scanner_finds_each_kind_of_secret() {
        let cases = [
            "AKIAIOSFODNN7EXAMPLE",
            "Signature=9dd8a45acbd0693204b9fbc2bfa292eed719abb7bcd0f5837e01afefc1eb4df0",
            "?X-Amz-Signature=abc",
            r#""authorization": "AWS4-HMAC-SHA256 Credential=x/y""#,
            r#""authorization": "Basic dXNlcjpwYXNz""#,
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "arn:aws:bedrock:us-east-1:503561449716:guardrail/x",
            "Bearer test_aws_authorization_token",
            r#""x-amz-security-token": "FAKE-SESSION-TOKEN""#,
        ];
        for case in cases {
            assert!(!find_secrets(case).is_empty(), "not found in {case}");
        }
        for clean in ["arn:aws:bedrock:us-east-1:000000000000:guardrail/x", "Bearer REDACTED", "AKIA", "the bearer"] {
            assert_eq!(find_secrets(clean), Vec::<String>::new(), "{clean}");
        }
    }

    #[test]
    fn the_scanner_never_prints_a_whole_secret() {
        let found = find_secrets("AKIAIOSFODNN7EXAMPLE");
        assert_eq!(found, ["access key id at byte 0: AKIA…"]);
    }

    proptest! {
        #[test]
        fn redacted_text_holds_no_secret_the_scanner_finds(
            prefix in "[ -~]{0,20}",
            key in "(AKIA|ASIA)[A-Z0-9]{16}",
            account in "[1-9][0-9]{11}",
            token in "[A-Za-z0-9]{20,40}",
        ) {
            let text = format!("{prefix} {key} arn:aws:bedrock:us-east-1:{account}:x Bearer {token} X-Amz-Signature={token}");
            let out = Redactor::default().text(&text);
            prop_assert_eq!(find_secrets(&out), Vec::<String>::new(), "{}", out);
        }
    }
}
