//! Quotas as token buckets, per quota rule and per model id as sent (a foundation model id
//! and an inference profile id have buckets of their own, as in Bedrock; an ARN shares the
//! buckets of the id it names).
//!
//! Like Bedrock, a request reserves its input tokens plus its `maxTokens` (or the model's
//! output limit) when it starts, and the reservation is settled to the usage the reply
//! reports when it ends; a request that fails returns its tokens. Requests per minute count
//! every admitted request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::clock::Clock;
use crate::scenario::fault_format::QuotaSpec;
use crate::scenario::format::{parse, LoadError};
use crate::scenario::matcher::glob;

/// Bedrock's message when the request rate is over quota (as reported by users of the
/// service; the double space is Bedrock's).
pub const TOO_MANY_REQUESTS: &str =
    "Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again.";
/// Bedrock's message when the tokens-per-minute quota is exceeded.
pub const TOO_MANY_TOKENS: &str = "Too many tokens, please wait before trying again.";
/// Bedrock's message when the tokens-per-day quota is exceeded.
pub const TOO_MANY_TOKENS_PER_DAY: &str = "Too many tokens per day, please wait before trying again.";

/// Bedrock's default on-demand quotas for the catalog's models (`--quotas realistic`).
pub const REALISTIC: &str = include_str!("../../data/quotas-realistic.yaml");

/// Quotas from `--quotas`: `realistic` (the preset) or a scenario-format file's `quotas:`.
pub fn load_quotas(source: &str) -> Result<Vec<QuotaSpec>, LoadError> {
    let (name, text) = if source == "realistic" {
        ("realistic".to_string(), REALISTIC.to_string())
    } else {
        let text = crate::scenario::document::read_bounded(
            std::path::Path::new(source),
            crate::scenario::document::MAX_DOCUMENT_BYTES,
        )?;
        (source.to_string(), text)
    };
    let file = parse(&name, &text)?;
    if file.quotas.is_empty() {
        return Err(LoadError {
            file: name,
            line: None,
            column: None,
            message: "the file has no `quotas:` list".into(),
        });
    }
    Ok(file.quotas)
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// A bucket of `capacity` that refills completely over `period`.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    period: Duration,
    level: f64,
    at: Duration,
}

impl Bucket {
    fn new(capacity: u64, period: Duration, now: Duration) -> Self {
        Bucket { capacity: capacity as f64, period, level: capacity as f64, at: now }
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.capacity / self.period.as_secs_f64()).min(self.capacity);
        self.at = now;
    }

    fn can_take(&mut self, n: f64, now: Duration) -> bool {
        self.refill(now);
        self.level >= n
    }

    fn give_back(&mut self, n: f64, now: Duration) {
        self.refill(now);
        self.level = (self.level + n).min(self.capacity);
    }
}

#[derive(Debug, Clone)]
struct Buckets {
    requests: Option<Bucket>,
    tokens_minute: Option<Bucket>,
    tokens_day: Option<Bucket>,
}

impl Buckets {
    fn new(spec: &QuotaSpec, now: Duration) -> Self {
        Buckets {
            requests: spec.requests_per_minute.map(|n| Bucket::new(n, MINUTE, now)),
            tokens_minute: spec.tokens_per_minute.map(|n| Bucket::new(n, MINUTE, now)),
            tokens_day: spec.tokens_per_day.map(|n| Bucket::new(n, DAY, now)),
        }
    }
}

/// Tokens taken from one bucket set, to settle when the reply is known.
#[derive(Debug, Clone)]
pub struct Reservation {
    key: (usize, String),
    tokens: u64,
}

/// A request over quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota {
    /// `quota:<model glob>:<limit>`, for the journal.
    pub label: String,
    /// Bedrock's message.
    pub message: &'static str,
}

#[derive(Debug, Default)]
struct Inner {
    /// `(origin, spec)`: `flag` (--quotas), `file` (scenario files, replaced on reload) or
    /// `api:<source>` (admin API).
    specs: Vec<(String, QuotaSpec)>,
    buckets: HashMap<(usize, String), Buckets>,
}

/// Every quota and its buckets.
#[derive(Debug)]
pub struct QuotaSet {
    clock: Clock,
    inner: Mutex<Inner>,
}

impl QuotaSet {
    /// No quotas.
    pub fn new(clock: Clock) -> Self {
        QuotaSet { clock, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the quotas of one origin (`flag`, `file`, `api:<source>`); when that changes
    /// them, every bucket starts full again (buckets are numbered by quota). Setting the quotas
    /// an origin already has — a reload of an unchanged file, a document without quotas — leaves
    /// the buckets as they are.
    pub fn set(&self, origin: &str, specs: Vec<QuotaSpec>) {
        let mut inner = self.lock();
        let current: Vec<&QuotaSpec> = inner.specs.iter().filter(|(o, _)| o == origin).map(|(_, q)| q).collect();
        if current.len() == specs.len() && current.iter().zip(&specs).all(|(a, b)| *a == b) {
            return;
        }
        inner.specs.retain(|(o, _)| o != origin);
        inner.specs.extend(specs.into_iter().map(|s| (origin.to_string(), s)));
        inner.buckets.clear();
    }

    /// Removes the quotas of every origin starting with `prefix` (`api:` for admin documents).
    pub fn remove_prefixed(&self, prefix: &str) {
        let mut inner = self.lock();
        inner.specs.retain(|(o, _)| !o.starts_with(prefix));
        inner.buckets.clear();
    }

    /// Refills every bucket.
    pub fn reset(&self) {
        self.lock().buckets.clear();
    }

    /// Number of quotas.
    pub fn len(&self) -> usize {
        self.lock().specs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits a request for the model id `as_sent` (a foundation model or an inference
    /// profile: each has buckets of its own, as in Bedrock) that may use `tokens`, or says
    /// which limit it is over. Nothing is taken from any bucket unless all admit it.
    pub fn admit(&self, as_sent: &str, tokens: u64) -> Result<Vec<Reservation>, OverQuota> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let sent = as_sent;
        // An ARN has the buckets of the id it names: the buckets stay one per model and
        // profile, however many ARN spellings (regions, accounts) clients send.
        let key = crate::backend::catalog::parse_arn(sent).map_or(sent, |arn| arn.resource_id);
        let matching: Vec<usize> =
            inner.specs.iter().enumerate().filter(|(_, (_, q))| glob(&q.model, sent)).map(|(i, _)| i).collect();
        for &i in &matching {
            let spec = &inner.specs[i].1;
            let b = inner.buckets.entry((i, key.to_string())).or_insert_with(|| Buckets::new(spec, now));
            let over = |what: &str, message| OverQuota { label: format!("quota:{}:{what}", spec.model), message };
            if let Some(r) = &mut b.requests {
                if !r.can_take(1.0, now) {
                    return Err(over("requestsPerMinute", TOO_MANY_REQUESTS));
                }
            }
            if let Some(t) = &mut b.tokens_minute {
                if !t.can_take(tokens as f64, now) {
                    return Err(over("tokensPerMinute", TOO_MANY_TOKENS));
                }
            }
            if let Some(t) = &mut b.tokens_day {
                if !t.can_take(tokens as f64, now) {
                    return Err(over("tokensPerDay", TOO_MANY_TOKENS_PER_DAY));
                }
            }
        }
        let mut taken = Vec::new();
        for i in matching {
            let key = (i, key.to_string());
            if let Some(b) = inner.buckets.get_mut(&key) {
                for bucket in [&mut b.requests].into_iter().flatten() {
                    bucket.level -= 1.0;
                }
                for bucket in [&mut b.tokens_minute, &mut b.tokens_day].into_iter().flatten() {
                    bucket.level -= tokens as f64;
                }
            }
            taken.push(Reservation { key, tokens });
        }
        Ok(taken)
    }

    /// Settles reservations to the tokens actually used (`None`: the request failed and
    /// uses none).
    pub fn settle(&self, reservations: &[Reservation], used: Option<u64>) {
        if reservations.is_empty() {
            return;
        }
        let now = self.clock.now();
        let mut inner = self.lock();
        for r in reservations {
            let refund = r.tokens.saturating_sub(used.unwrap_or(0)) as f64;
            let extra = used.unwrap_or(0).saturating_sub(r.tokens) as f64;
            if let Some(b) = inner.buckets.get_mut(&r.key) {
                for bucket in [&mut b.tokens_minute, &mut b.tokens_day].into_iter().flatten() {
                    bucket.give_back(refund, now);
                    bucket.level -= extra;
                }
            }
        }
    }

    /// The admin listing: each quota with its buckets' remaining levels.
    pub fn listing(&self) -> Value {
        let now = self.clock.now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let quotas: Vec<Value> = inner
            .specs
            .iter()
            .enumerate()
            .map(|(i, (origin, spec))| {
                let mut buckets: Vec<Value> = inner
                    .buckets
                    .iter_mut()
                    .filter(|((j, _), _)| *j == i)
                    .map(|((_, model), b)| {
                        let level = |b: &mut Option<Bucket>| {
                            b.as_mut().map(|b| {
                                b.refill(now);
                                b.level.floor()
                            })
                        };
                        json!({
                            "modelId": model,
                            "requestsRemaining": level(&mut b.requests),
                            "tokensPerMinuteRemaining": level(&mut b.tokens_minute),
                            "tokensPerDayRemaining": level(&mut b.tokens_day),
                        })
                    })
                    .collect();
                buckets.sort_by(|a, b| a["modelId"].as_str().cmp(&b["modelId"].as_str()));
                json!({"quota": spec, "origin": origin, "buckets": buckets})
            })
            .collect();
        json!(quotas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(rpm: Option<u64>, tpm: Option<u64>) -> QuotaSpec {
        QuotaSpec {
            model: "anthropic.*".into(),
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            tokens_per_day: None,
        }
    }

    #[test]
    fn requests_per_minute_refill_over_the_minute() {
        let clock = Clock::manual();
        let q = QuotaSet::new(clock.clone());
        q.set("flag", vec![quota(Some(2), None)]);
        let m = "anthropic.claude-3-haiku-20240307-v1:0";
        assert!(q.admit(m, 10).is_ok());
        assert!(q.admit(m, 10).is_ok());
        assert_eq!(q.admit(m, 10).map(|_| ()).expect_err("over quota").message, TOO_MANY_REQUESTS);
        clock.advance(Duration::from_secs(30));
        assert!(q.admit(m, 10).is_ok(), "half a minute refills one request");
        assert!(q.admit(m, 10).is_err());
    }

    #[test]
    fn tokens_are_reserved_then_settled_to_what_was_used() {
        let clock = Clock::manual();
        let q = QuotaSet::new(clock);
        q.set("flag", vec![quota(None, Some(1000))]);
        let m = "anthropic.claude-3-haiku-20240307-v1:0";
        let r = q.admit(m, 600).expect("fits");
        assert!(q.admit(m, 600).is_err(), "the first reservation still holds 600");
        q.settle(&r, Some(100));
        assert!(q.admit(m, 600).is_ok(), "settling to 100 used gave 500 back");
    }

    #[test]
    fn a_profile_and_its_model_have_buckets_of_their_own() {
        let q = QuotaSet::new(Clock::manual());
        q.set("flag", vec![quota(Some(1), None)]);
        q.set("flag", vec![QuotaSpec { model: "*anthropic.claude-3-haiku*".into(), ..quota(Some(1), None) }]);
        let model = "anthropic.claude-3-haiku-20240307-v1:0";
        let profile = "us.anthropic.claude-3-haiku-20240307-v1:0";
        assert!(q.admit(model, 1).is_ok());
        assert!(q.admit(profile, 1).is_ok());
        assert!(q.admit(model, 1).is_err());
    }

    #[test]
    fn the_realistic_preset_parses_and_covers_claude_3_haiku() {
        let q = load_quotas("realistic").expect("preset parses");
        assert!(q.iter().any(|q| glob(&q.model, "anthropic.claude-3-haiku-20240307-v1:0")));
    }

    #[test]
    fn an_arn_shares_the_buckets_of_the_id_it_names_whatever_its_spelling() {
        let q = QuotaSet::new(Clock::manual());
        q.set("flag", vec![QuotaSpec { model: "*claude-3-haiku*".into(), ..quota(Some(1), None) }]);
        assert!(q.admit("anthropic.claude-3-haiku-20240307-v1:0", 1).is_ok());
        for region in ["us-east-1", "us-west-2", "x"] {
            let arn = format!("arn:aws:bedrock:{region}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0");
            assert!(q.admit(&arn, 1).is_err(), "{arn}");
        }
        assert_eq!(q.listing()[0]["buckets"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn setting_unchanged_quotas_keeps_the_buckets() {
        let q = QuotaSet::new(Clock::manual());
        q.set("file", vec![quota(Some(1), None)]);
        let m = "anthropic.claude-3-haiku-20240307-v1:0";
        assert!(q.admit(m, 1).is_ok());
        q.set("file", vec![quota(Some(1), None)]);
        q.set("api:other", Vec::new());
        assert!(q.admit(m, 1).is_err(), "neither a reload nor another origin refilled the bucket");
        q.set("file", vec![quota(Some(2), None)]);
        assert!(q.admit(m, 1).is_ok(), "changed quotas start full");
    }

    #[test]
    fn unmatched_models_are_not_limited() {
        let q = QuotaSet::new(Clock::manual());
        q.set("flag", vec![quota(Some(1), None)]);
        let m = "amazon.nova-micro-v1:0";
        for _ in 0..5 {
            assert!(q.admit(m, 1).is_ok());
        }
    }
}
