//! The `faults:` and `quotas:` lists of a scenario file (version 1), also read from
//! `--fault`, `--quotas` and the admin API. Only the format lives here; the runtime (counters,
//! buckets, shapers) is the `fault` layer's.
//!
//! Like the rest of the format, every check is made while deserialising, so a bad rule is
//! refused with its line, column and what was expected.

use serde::{Deserialize, Serialize};

use super::format::{ErrorName, MatchSpec, STREAM_EXCEPTIONS};
use super::mapping::map_only;
use crate::operations::stream_exceptions;
use crate::wire::error::ErrorCode;

/// One fault rule: when `match` matches and every `on` condition holds, `inject` applies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "RawFault", rename_all = "camelCase")]
pub struct FaultSpec {
    /// Name in listings, the journal and `DELETE /_emulator/faults/NAME` (default: the kind and a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which requests it applies to: exactly the scenario matcher.
    #[serde(default, rename = "match")]
    pub matcher: MatchSpec,
    /// When it fires (all given must hold; none: every matching request).
    #[serde(default)]
    pub on: OnSpec,
    /// What it does.
    pub inject: Inject,
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
struct RawFault {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "match")]
    matcher: MatchSpec,
    #[serde(default)]
    on: OnSpec,
    inject: Inject,
}

map_only!(RawFault, "a fault rule: a mapping with `inject`");

impl TryFrom<RawFault> for FaultSpec {
    type Error = String;

    fn try_from(raw: RawFault) -> Result<Self, String> {
        // A stream fault on operations that stream nothing, or an exception their stream
        // unions do not carry, could never be sent as asked: refuse it now, not silently later.
        if let (Inject::Stream(s), Some(ops)) = (&raw.inject, &raw.matcher.operation) {
            let streaming: Vec<&str> =
                ops.iter().map(|o| o.0.as_str()).filter(|o| !stream_exceptions(o).is_empty()).collect();
            if streaming.is_empty() {
                return Err("a `stream` fault needs a streaming operation (ConverseStream, InvokeModelWithResponseStream); `match.operation` names none".into());
            }
            if let StreamThen::Exception(e) = &s.then {
                let code = e.code.0 .0.name();
                if let Some(op) = streaming.iter().find(|o| !stream_exceptions(o).iter().any(|x| x == code)) {
                    return Err(format!(
                        "{op}'s event stream cannot carry `{code}`; it carries {}",
                        stream_exceptions(op).join(", ")
                    ));
                }
            }
        }
        Ok(FaultSpec { name: raw.name, matcher: raw.matcher, on: raw.on, inject: raw.inject })
    }
}

/// When a fault fires.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct OnSpec {
    /// Only the first N attempts of each invocation (`amz-sdk-request: attempt=K`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Positive>,
    /// Fires with this probability (seeded by `--seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<Probability>,
    /// Every Nth matching request (the Nth, 2Nth, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Positive>,
    /// From the Nth matching request on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Positive>,
    /// At most N injections; then the rule is spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Positive>,
    /// Only inside this window, relative to start or the last reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

map_only!(OnSpec, "an `on` mapping", serialize);

/// A whole number of at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Positive(pub u64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if n == 0 {
            return Err(serde::de::Error::custom("expected a whole number of at least 1"));
        }
        Ok(Positive(n))
    }
}

/// A probability, 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Probability(pub f64);

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        if !(0.0..=1.0).contains(&p) {
            return Err(serde::de::Error::custom(format!("probability must be between 0 and 1 (got {p})")));
        }
        Ok(Probability(p))
    }
}

/// A time window.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct Window {
    /// Start, in milliseconds after start or the last reset.
    #[serde(default)]
    pub from_ms: u64,
    /// Length in milliseconds.
    pub for_ms: u64,
}

map_only!(Window, "a window mapping", serialize);

/// What a fault injects: exactly one kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawInject", rename_all = "camelCase")]
pub enum Inject {
    /// An AWS error as the HTTP response (before any stream event).
    Error(ErrorInject),
    /// A delay before the response head.
    Latency(Latency),
    /// Paces the reply (streams by their tokens; unary replies by their output tokens).
    Pace(PaceSpec),
    /// Nothing is sent for a while, or ever.
    Stall(Stall),
    /// The connection is dropped with a TCP RST before any response byte.
    Reset(Empty),
    /// Something happens after N events of a stream.
    Stream(StreamFault),
}

impl Inject {
    /// The kind's name (`error`, `latency`, …), for default rule names.
    pub fn kind(&self) -> &'static str {
        match self {
            Inject::Error(_) => "error",
            Inject::Latency(_) => "latency",
            Inject::Pace(_) => "pace",
            Inject::Stall(_) => "stall",
            Inject::Reset(_) => "reset",
            Inject::Stream(_) => "stream",
        }
    }
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
struct RawInject {
    #[serde(default)]
    error: Option<ErrorInject>,
    #[serde(default)]
    latency: Option<Latency>,
    #[serde(default)]
    pace: Option<PaceSpec>,
    #[serde(default)]
    stall: Option<Stall>,
    #[serde(default)]
    reset: Option<Empty>,
    #[serde(default)]
    stream: Option<StreamFault>,
}

map_only!(RawInject, "an `inject` mapping");

const INJECT_KINDS: &str = "`error`, `latency`, `pace`, `stall`, `reset` or `stream`";

impl TryFrom<RawInject> for Inject {
    type Error = String;

    fn try_from(raw: RawInject) -> Result<Self, String> {
        let mut kinds = Vec::new();
        if let Some(e) = raw.error {
            kinds.push(Inject::Error(e));
        }
        if let Some(l) = raw.latency {
            kinds.push(Inject::Latency(l));
        }
        if let Some(p) = raw.pace {
            kinds.push(Inject::Pace(p));
        }
        if let Some(s) = raw.stall {
            kinds.push(Inject::Stall(s));
        }
        if let Some(r) = raw.reset {
            kinds.push(Inject::Reset(r));
        }
        if let Some(s) = raw.stream {
            kinds.push(Inject::Stream(s));
        }
        match kinds.len() {
            0 => Err(format!("`inject` needs one of {INJECT_KINDS}")),
            1 => Ok(kinds.remove(0)),
            _ => {
                Err(format!("`inject` mixes kinds: give exactly one of {INJECT_KINDS} (use two rules for two faults)"))
            }
        }
    }
}

/// `{}`: a kind without options.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Empty {}

/// An injected AWS error.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorInject {
    /// Any modelled exception of either service, e.g. `ThrottlingException`.
    #[serde(rename = "type")]
    pub code: ErrorName,
    /// Message (default: Bedrock's usual text for the type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Sets `x-amz-retry-after` (milliseconds) and `Retry-After` (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<f64>,
}

map_only!(ErrorInject, "an error: a mapping with `type`", serialize);

map_only!(Empty, "an empty mapping `{}`", serialize);

/// A delay: fixed, uniform, or log-normal.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "RawLatency", rename_all = "camelCase")]
pub enum Latency {
    /// Always this long.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform between the bounds.
    Uniform {
        /// Lower bound, milliseconds.
        min_ms: u64,
        /// Upper bound, milliseconds.
        max_ms: u64,
    },
    /// Log-normal with this median and 99th percentile.
    LogNormal {
        /// Median, milliseconds.
        median_ms: u64,
        /// 99th percentile, milliseconds.
        p99_ms: u64,
    },
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
struct RawLatency {
    #[serde(default)]
    ms: Option<u64>,
    #[serde(default)]
    min_ms: Option<u64>,
    #[serde(default)]
    max_ms: Option<u64>,
    #[serde(default)]
    median_ms: Option<u64>,
    #[serde(default)]
    p99_ms: Option<u64>,
}

map_only!(RawLatency, "a latency mapping");

/// Longest delay any latency or stall rule may ask for (a typo must not hang a suite for days).
pub const MAX_DELAY_MS: u64 = 3_600_000;

fn check_delay(ms: u64, what: &str) -> Result<u64, String> {
    if ms > MAX_DELAY_MS {
        Err(format!("`{what}` is {ms} ms; at most {MAX_DELAY_MS} ms (one hour) is allowed"))
    } else {
        Ok(ms)
    }
}

impl TryFrom<RawLatency> for Latency {
    type Error = String;

    fn try_from(r: RawLatency) -> Result<Self, String> {
        const FORMS: &str = "`latency` takes {ms}, {minMs, maxMs} or {medianMs, p99Ms}";
        match (r.ms, r.min_ms, r.max_ms, r.median_ms, r.p99_ms) {
            (Some(ms), None, None, None, None) => Ok(Latency::Fixed { ms: check_delay(ms, "ms")? }),
            (None, Some(min), Some(max), None, None) => {
                if min > max {
                    return Err(format!("`minMs` ({min}) is above `maxMs` ({max})"));
                }
                Ok(Latency::Uniform { min_ms: min, max_ms: check_delay(max, "maxMs")? })
            }
            (None, None, None, Some(median), Some(p99)) => {
                if median == 0 || p99 < median {
                    return Err(format!(
                        "`medianMs` must be at least 1 and `p99Ms` at least `medianMs` (got {median} and {p99})"
                    ));
                }
                Ok(Latency::LogNormal { median_ms: median, p99_ms: check_delay(p99, "p99Ms")? })
            }
            _ => Err(FORMS.into()),
        }
    }
}

/// Pacing: time to first token, then tokens per second.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct PaceSpec {
    /// Delay before the first token, milliseconds.
    #[serde(default)]
    pub first_token_ms: u64,
    /// Tokens per second (0: no per-token delay).
    #[serde(default)]
    pub tokens_per_second: NonNegative,
}

map_only!(PaceSpec, "a pace mapping", serialize);

impl PaceSpec {
    /// The pace in the one formula's terms.
    pub fn pace(&self) -> crate::plan::Pace {
        crate::plan::Pace::from_ms(self.first_token_ms, self.tokens_per_second.0)
    }
}

/// A finite number of at least 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || v < 0.0 {
            return Err(serde::de::Error::custom(format!("expected a number of at least 0 (got {v})")));
        }
        Ok(NonNegative(v))
    }
}

/// A stall: nothing is sent for `ms`, or ever (until the server shuts down).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "RawStall", rename_all = "camelCase")]
pub enum Stall {
    /// For this many milliseconds.
    For {
        /// Milliseconds.
        ms: u64,
    },
    /// Until the client gives up or the server shuts down.
    Forever,
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct RawStall {
    #[serde(default)]
    ms: Option<u64>,
    #[serde(default)]
    forever: Option<bool>,
}

map_only!(RawStall, "a stall mapping");

impl TryFrom<RawStall> for Stall {
    type Error = String;

    fn try_from(r: RawStall) -> Result<Self, String> {
        match (r.ms, r.forever) {
            (Some(ms), None) => Ok(Stall::For { ms: check_delay(ms, "ms")? }),
            (None, Some(true)) => Ok(Stall::Forever),
            _ => Err("`stall` takes {ms: N} or {forever: true}".into()),
        }
    }
}

/// After `afterEvents` events of a stream, `then` happens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct StreamFault {
    /// Events sent normally first.
    #[serde(default)]
    pub after_events: u64,
    /// What happens next.
    pub then: StreamThen,
}

map_only!(StreamFault, "a stream fault: a mapping with `then`", serialize);

/// What a stream fault does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawStreamThen", rename_all = "camelCase")]
pub enum StreamThen {
    /// An exception frame of a type the stream union carries; the stream ends.
    Exception(StreamException),
    /// The connection is dropped.
    Abort,
    /// The body ends cleanly, without the events that should follow.
    Truncate,
    /// The next frame is sent with a wrong CRC; the stream ends.
    Corrupt,
    /// The next frame waits; the stream then goes on.
    Stall(Stall),
}

/// An exception inside a stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
pub struct StreamException {
    /// One of the stream unions' exceptions.
    #[serde(rename = "type")]
    pub code: StreamErrorName,
    /// Message (default: Bedrock's usual text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

map_only!(StreamException, "an exception: a mapping with `type`", serialize);

/// An exception name the runtime's stream unions carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StreamErrorName(pub ErrorName);

impl<'de> Deserialize<'de> for StreamErrorName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match ErrorCode::from_name(&name) {
            Some(code) if STREAM_EXCEPTIONS.contains(&code.name()) => Ok(StreamErrorName(ErrorName(code))),
            _ => Err(serde::de::Error::custom(format!(
                "`{name}` cannot be sent inside a stream; use one of {}",
                STREAM_EXCEPTIONS.join(", ")
            ))),
        }
    }
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct RawStreamThen {
    #[serde(default)]
    exception: Option<StreamException>,
    #[serde(default)]
    abort: Option<Empty>,
    #[serde(default)]
    truncate: Option<Empty>,
    #[serde(default)]
    corrupt: Option<Empty>,
    #[serde(default)]
    stall: Option<Stall>,
}

map_only!(RawStreamThen, "a `then` mapping");

impl TryFrom<RawStreamThen> for StreamThen {
    type Error = String;

    fn try_from(r: RawStreamThen) -> Result<Self, String> {
        let mut kinds = Vec::new();
        if let Some(e) = r.exception {
            kinds.push(StreamThen::Exception(e));
        }
        if r.abort.is_some() {
            kinds.push(StreamThen::Abort);
        }
        if r.truncate.is_some() {
            kinds.push(StreamThen::Truncate);
        }
        if r.corrupt.is_some() {
            kinds.push(StreamThen::Corrupt);
        }
        if let Some(s) = r.stall {
            kinds.push(StreamThen::Stall(s));
        }
        if kinds.len() == 1 {
            Ok(kinds.remove(0))
        } else {
            Err("`then` takes exactly one of `exception`, `abort`, `truncate`, `corrupt` or `stall`".into())
        }
    }
}

/// A quota: token buckets per model id (and per inference profile) for models matching `model`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawQuota", rename_all = "camelCase")]
pub struct QuotaSpec {
    /// Glob over the model id as sent (a foundation model id or an inference profile id; each
    /// id has buckets of its own).
    pub model: String,
    /// Requests per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    /// Tokens (input + output) per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// Tokens per day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, rename_all = "camelCase")]
struct RawQuota {
    model: String,
    #[serde(default)]
    requests_per_minute: Option<Positive>,
    #[serde(default)]
    tokens_per_minute: Option<Positive>,
    #[serde(default)]
    tokens_per_day: Option<Positive>,
}

map_only!(RawQuota, "a quota: a mapping with `model`");

impl TryFrom<RawQuota> for QuotaSpec {
    type Error = String;

    fn try_from(r: RawQuota) -> Result<Self, String> {
        super::format::check_glob(&r.model)?;
        if r.requests_per_minute.is_none() && r.tokens_per_minute.is_none() && r.tokens_per_day.is_none() {
            return Err(format!(
                "quota for `{}` needs at least one of `requestsPerMinute`, `tokensPerMinute`, `tokensPerDay`",
                r.model
            ));
        }
        Ok(QuotaSpec {
            model: r.model,
            requests_per_minute: r.requests_per_minute.map(|p| p.0),
            tokens_per_minute: r.tokens_per_minute.map(|p| p.0),
            tokens_per_day: r.tokens_per_day.map(|p| p.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::{parse, parse_fault};
    use proptest::prelude::*;

    fn error_of(name: &str, text: &str) -> String {
        match parse(name, text) {
            Ok(_) => "(parsed)".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_fault_rules_and_quotas_are_refused_with_file_line_and_reason() {
        let cases = [
            ("no-inject.yaml", "version: 1\nfaults:\n  - name: x\n"),
            ("unknown-kind.yaml", "version: 1\nfaults:\n  - inject: {explode: {}}\n"),
            ("two-kinds.yaml", "version: 1\nfaults:\n  - inject: {reset: {}, stall: {ms: 5}}\n"),
            ("bad-error-type.yaml", "version: 1\nfaults:\n  - inject: {error: {type: OopsException}}\n"),
            ("bad-probability.yaml", "version: 1\nfaults:\n  - on: {probability: 1.5}\n    inject: {reset: {}}\n"),
            ("zero-attempts.yaml", "version: 1\nfaults:\n  - on: {attempts: 0}\n    inject: {reset: {}}\n"),
            ("unknown-on.yaml", "version: 1\nfaults:\n  - on: {sometimes: true}\n    inject: {reset: {}}\n"),
            ("latency-forms.yaml", "version: 1\nfaults:\n  - inject: {latency: {ms: 5, minMs: 1}}\n"),
            ("latency-bounds.yaml", "version: 1\nfaults:\n  - inject: {latency: {minMs: 9, maxMs: 1}}\n"),
            ("latency-too-long.yaml", "version: 1\nfaults:\n  - inject: {latency: {ms: 99999999}}\n"),
            ("log-normal.yaml", "version: 1\nfaults:\n  - inject: {latency: {medianMs: 100, p99Ms: 10}}\n"),
            ("stall.yaml", "version: 1\nfaults:\n  - inject: {stall: {forever: false}}\n"),
            ("pace.yaml", "version: 1\nfaults:\n  - inject: {pace: {tokensPerSecond: -3}}\n"),
            (
                "stream-exception.yaml",
                "version: 1\nfaults:\n  - inject: {stream: {afterEvents: 1, then: {exception: {type: AccessDeniedException}}}}\n",
            ),
            ("stream-then.yaml", "version: 1\nfaults:\n  - inject: {stream: {afterEvents: 1, then: {}}}\n"),
            (
                "stream-on-unary.yaml",
                "version: 1\nfaults:\n  - match: {operation: Converse}\n    inject: {stream: {then: {abort: {}}}}\n",
            ),
            (
                "stream-union.yaml",
                "version: 1\nfaults:\n  - match: {operation: [ConverseStream, InvokeModelWithResponseStream]}\n    inject: {stream: {then: {exception: {type: ModelTimeoutException}}}}\n",
            ),
            ("reset-options.yaml", "version: 1\nfaults:\n  - inject: {reset: {hard: true}}\n"),
            ("bad-match.yaml", "version: 1\nfaults:\n  - match: {operation: Conversee}\n    inject: {reset: {}}\n"),
            ("quota-no-limit.yaml", "version: 1\nquotas:\n  - {model: \"anthropic.*\"}\n"),
            ("quota-no-model.yaml", "version: 1\nquotas:\n  - {requestsPerMinute: 5}\n"),
            ("quota-zero.yaml", "version: 1\nquotas:\n  - {model: x, tokensPerMinute: 0}\n"),
            ("faults.json", "{\"version\": 1, \"faults\": [{\"inject\": {\"error\": {\"type\": \"ThrottlingException\", \"retryAfter\": 1}}}]}"),
        ];
        let report: Vec<String> = cases.iter().map(|(name, text)| error_of(name, text)).collect();
        insta::assert_snapshot!(report.join("\n"));
    }

    #[test]
    fn a_single_rule_parses_from_yaml_flow_and_from_json() {
        assert!(
            parse_fault("flag", "{name: t, on: {attempts: 2}, inject: {error: {type: ThrottlingException}}}").is_ok()
        );
        assert!(parse_fault("flag", r#"{"inject": {"stream": {"afterEvents": 3, "then": {"corrupt": {}}}}}"#).is_ok());
    }

    proptest! {
        #[test]
        fn the_fault_parser_never_panics(text in ".{0,300}") {
            let _ = parse_fault("fuzz", &text);
        }

        #[test]
        fn the_fault_parser_never_panics_on_near_valid_rules(
            kind in "[a-z]{0,8}", key in "[a-zA-Z]{0,10}", value in "-?[0-9]{0,12}(\\.[0-9]{0,3})?",
        ) {
            let _ = parse_fault("fuzz", &format!("{{inject: {{{kind}: {{{key}: {value}}}}}, on: {{{key}: {value}}}}}"));
            let _ = parse_fault("fuzz", &format!("{{inject: {{stream: {{afterEvents: {value}, then: {{{kind}: {{}}}}}}}}}}"));
        }
    }
}
