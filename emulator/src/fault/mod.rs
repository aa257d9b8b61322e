//! Fault injection: rules that fail, slow, pace, stall, reset or break any reply, whoever
//! produced it, plus quotas. The pipeline asks [`FaultSet::before`] after a request is parsed
//! (errors, latency, stalls, resets, quota admission) and hands the responder's Plan to
//! [`FaultSet::after`] (pacing, stream faults, quota settlement). It never looks at where a
//! Plan came from.
//!
//! * [`attempts`] — which attempt of an invocation a request is.
//! * [`quota`] — token buckets per model.
//! * [`shape`] — stream faults as Plan shapers.

pub mod attempts;
pub mod quota;
pub mod shape;

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::api::TokenEstimate;
use crate::clock::Clock;
use crate::operations::stream_exceptions;
use crate::plan::{AnsweredBy, Plan};
use crate::rng::{stable_hash, SplitMix64};
use crate::scenario::fault_format::{
    ErrorInject, FaultSpec, Inject, Latency, OnSpec, PaceSpec, Stall, StreamFault, StreamThen, MAX_DELAY_MS,
};
use crate::scenario::matcher::matches;
use crate::scenario::MatchInput;
use crate::wire::error::{BedrockError, ErrorCode};
use attempts::AttemptTracker;
use quota::{QuotaSet, Reservation};

/// Where a fault rule came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "source")]
pub enum Origin {
    /// A scenario file (replaced on hot reload).
    File(String),
    /// `--fault` on the command line.
    Flag,
    /// The admin API or the Rust API.
    Api,
    /// A scenario document loaded through the admin API (removed with it).
    Scenario(String),
}

#[derive(Debug, Clone)]
struct Installed {
    name: String,
    origin: Origin,
    spec: FaultSpec,
    matched: u64,
    hits: u64,
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<Installed>,
    /// When the windows start: server start or the last reset.
    epoch: Duration,
    /// Numbers unnamed API rules.
    unnamed: u64,
}

/// Every fault rule and quota, with their runtime state.
#[derive(Debug)]
pub struct FaultSet {
    seed: u64,
    clock: Clock,
    inner: Mutex<Inner>,
    /// Attempt numbers per invocation.
    pub attempts: AttemptTracker,
    /// Quota buckets.
    pub quotas: QuotaSet,
}

/// What the before-stage decided.
#[derive(Debug)]
pub enum Verdict {
    /// Let the responder answer.
    Proceed,
    /// Answer with this Plan instead (an injected error, a quota throttle).
    Answer(Plan),
    /// Drop the connection with a TCP RST before any byte.
    Reset,
    /// Send nothing, ever (until the client gives up or the server shuts down).
    Stall,
}

#[derive(Debug)]
enum After {
    Pace(PaceSpec),
    Stream(StreamFault),
}

/// The faults chosen for one request.
#[derive(Debug)]
pub struct Before {
    /// What happens instead of (or before) the responder.
    pub verdict: Verdict,
    /// Added before the response head (latency, timed stalls).
    pub delay: Duration,
    /// Names of every fault injected (quota labels too), for the journal.
    pub injected: Vec<String>,
    after: Vec<After>,
    reservations: Vec<Reservation>,
}

impl Before {
    /// Nothing injected.
    pub fn none() -> Self {
        Before {
            verdict: Verdict::Proceed,
            delay: Duration::ZERO,
            injected: Vec::new(),
            after: Vec::new(),
            reservations: Vec::new(),
        }
    }
}

/// What the fault layer sees of a request.
#[derive(Debug)]
pub struct FaultRequest<'a> {
    /// What matchers see.
    pub input: &'a MatchInput,
    /// The attempt number (1 for the first).
    pub attempt: u32,
    /// Tokens it may consume (inference requests only).
    pub estimate: Option<TokenEstimate>,
}

/// A uniform draw in [0, 1) from a seeded hash.
fn unit(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn sample(latency: &Latency, rng: &mut SplitMix64) -> Duration {
    let ms = match *latency {
        Latency::Fixed { ms } => ms as f64,
        Latency::Uniform { min_ms, max_ms } => min_ms as f64 + unit(rng) * (max_ms - min_ms) as f64,
        Latency::LogNormal { median_ms, p99_ms } => {
            // ln X ~ N(mu, sigma): the median is e^mu and the 99th percentile e^(mu + 2.326 sigma).
            let mu = (median_ms as f64).ln();
            let sigma = ((p99_ms as f64).ln() - mu) / 2.326_347_874;
            let (u1, u2) = (1.0 - unit(rng), unit(rng));
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (mu + sigma * z).exp()
        }
    };
    Duration::from_secs_f64(ms.clamp(0.0, MAX_DELAY_MS as f64) / 1000.0)
}

fn error_plan(e: &ErrorInject, name: &str) -> Plan {
    let mut plan = Plan::error(BedrockError::modelled(e.code.0, e.message.as_deref()))
        .answered_by(AnsweredBy::Fault(name.to_string()));
    if let Some(s) = e.retry_after_seconds.filter(|s| s.is_finite() && *s >= 0.0) {
        // The SDKs read x-amz-retry-after as milliseconds; Retry-After is whole seconds.
        plan = plan.header("x-amz-retry-after", format!("{}", (s * 1000.0).round() as u64));
        plan = plan.header("Retry-After", format!("{}", s.ceil() as u64));
    }
    plan
}

/// Whether `inject` can change a reply of `operation` (a stream fault needs a stream whose
/// union carries its exception); a rule that cannot is neither applied nor counted.
fn applies(inject: &Inject, operation: &str) -> bool {
    match inject {
        Inject::Stream(s) => {
            let carried = stream_exceptions(operation);
            match &s.then {
                StreamThen::Exception(e) => carried.iter().any(|c| c == e.code.0 .0.name()),
                _ => !carried.is_empty(),
            }
        }
        _ => true,
    }
}

/// Whether `on` holds for the `n`th matching request.
fn fires(on: &OnSpec, n: u64, hits: u64, attempt: u32, since_epoch: Duration, rng: &mut SplitMix64) -> bool {
    on.attempts.is_none_or(|a| u64::from(attempt) <= a.0)
        && on.every.is_none_or(|e| n % e.0 == 0)
        && on.after.is_none_or(|a| n >= a.0)
        && on.times.is_none_or(|t| hits < t.0)
        && on.window.is_none_or(|w| {
            let t = since_epoch.as_millis() as u64;
            t >= w.from_ms && t < w.from_ms.saturating_add(w.for_ms)
        })
        && on.probability.is_none_or(|p| unit(rng) < p.0)
}

impl FaultSet {
    /// No faults, no quotas.
    pub fn new(seed: u64, clock: Clock) -> Self {
        FaultSet {
            seed,
            attempts: AttemptTracker::new(clock.clone()),
            quotas: QuotaSet::new(clock.clone()),
            inner: Mutex::new(Inner { epoch: clock.now(), ..Inner::default() }),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces every file-origin rule (startup and hot reload); counters of rules that keep
    /// their name are kept.
    pub fn set_file_faults(&self, files: Vec<(String, Vec<FaultSpec>)>) {
        let mut inner = self.lock();
        let old: Vec<Installed> = inner.rules.iter().filter(|r| matches!(r.origin, Origin::File(_))).cloned().collect();
        inner.rules.retain(|r| !matches!(r.origin, Origin::File(_)));
        let mut new = Vec::new();
        for (source, specs) in files {
            for (i, spec) in specs.into_iter().enumerate() {
                let name = spec.name.clone().unwrap_or_else(|| format!("{source}/{}-{}", spec.inject.kind(), i + 1));
                let (matched, hits) = old.iter().find(|o| o.name == name).map_or((0, 0), |o| (o.matched, o.hits));
                new.push(Installed { name, origin: Origin::File(source.clone()), spec, matched, hits });
            }
        }
        // File rules first, in load order, as on startup.
        new.append(&mut inner.rules);
        inner.rules = new;
    }

    /// Adds a rule (replacing one of the same name); returns its name.
    pub fn add(&self, origin: Origin, spec: FaultSpec) -> String {
        let mut inner = self.lock();
        let name = match &spec.name {
            Some(n) => n.clone(),
            None => {
                inner.unnamed += 1;
                let prefix = match &origin {
                    Origin::Flag => "flag".to_string(),
                    Origin::Scenario(source) => source.clone(),
                    Origin::File(_) | Origin::Api => "api".to_string(),
                };
                format!("{prefix}-{}-{}", spec.inject.kind(), inner.unnamed)
            }
        };
        inner.rules.retain(|r| r.name != name);
        inner.rules.push(Installed { name: name.clone(), origin, spec, matched: 0, hits: 0 });
        name
    }

    /// Removes the rule `name`; false if there was none.
    pub fn remove(&self, name: &str) -> bool {
        let mut inner = self.lock();
        let before = inner.rules.len();
        inner.rules.retain(|r| r.name != name);
        inner.rules.len() != before
    }

    /// Removes every rule of one origin; false if it had none.
    pub fn remove_origin(&self, origin: &Origin) -> bool {
        let mut inner = self.lock();
        let before = inner.rules.len();
        inner.rules.retain(|r| r.origin != *origin);
        inner.rules.len() != before
    }

    /// Removes the rules of every admin-loaded scenario document.
    pub fn remove_scenario_origins(&self) {
        self.lock().rules.retain(|r| !matches!(r.origin, Origin::Scenario(_)));
    }

    /// Removes every rule (file rules come back with the next change to their file).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Resets hit counters, windows, attempt counting and quota buckets (the rules stay).
    pub fn reset(&self) {
        let mut inner = self.lock();
        for r in &mut inner.rules {
            r.matched = 0;
            r.hits = 0;
        }
        inner.epoch = self.clock.now();
        drop(inner);
        self.attempts.clear();
        self.quotas.reset();
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.lock().rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One page of the admin listing: the fault rules from position `offset` on, at most
    /// `max_rules` and about `max_bytes` of rule JSON (at least one), with every quota; and,
    /// when rules remain, the position to continue from.
    pub fn listing_page(&self, offset: usize, max_rules: usize, max_bytes: usize) -> (Value, Option<usize>) {
        let (faults, next) = {
            let inner = self.lock();
            let mut faults = Vec::new();
            let (mut bytes, mut next) = (0usize, None);
            for (i, r) in inner.rules.iter().enumerate().skip(offset) {
                if faults.len() == max_rules || (!faults.is_empty() && bytes >= max_bytes) {
                    next = Some(i);
                    break;
                }
                let spent = r.spec.on.times.is_some_and(|t| r.hits >= t.0);
                let item = json!({"name": r.name, "origin": r.origin, "matched": r.matched, "hits": r.hits, "spent": spent, "rule": r.spec});
                bytes += serde_json::to_vec(&item).map_or(0, |v| v.len());
                faults.push(item);
            }
            (faults, next)
        };
        (json!({"faults": faults, "quotas": self.quotas.listing()}), next)
    }

    /// The whole listing in one document.
    pub fn listing(&self) -> Value {
        self.listing_page(0, usize::MAX, usize::MAX).0
    }

    /// Chooses the faults for a request, before any responder runs.
    pub fn before(&self, req: &FaultRequest<'_>) -> Before {
        let mut out = Before::none();
        {
            let now = self.clock.now();
            let mut inner = self.lock();
            let since = now.saturating_sub(inner.epoch);
            for rule in &mut inner.rules {
                if !matches(&rule.spec.matcher, req.input) {
                    continue;
                }
                rule.matched += 1;
                if rule.spec.matcher.request_count.as_ref().is_some_and(|c| !c.matches(rule.matched)) {
                    continue;
                }
                let mut rng =
                    SplitMix64::new(stable_hash(self.seed, format!("{}\u{1f}{}", rule.name, rule.matched).as_bytes()));
                if !fires(&rule.spec.on, rule.matched, rule.hits, req.attempt, since, &mut rng) {
                    continue;
                }
                if !applies(&rule.spec.inject, &req.input.operation) {
                    continue;
                }
                let decided = !matches!(out.verdict, Verdict::Proceed);
                match &rule.spec.inject {
                    // Once a rule has answered, only delays still make sense.
                    Inject::Error(_)
                    | Inject::Reset(_)
                    | Inject::Stall(Stall::Forever)
                    | Inject::Pace(_)
                    | Inject::Stream(_)
                        if decided =>
                    {
                        continue
                    }
                    Inject::Error(e) => out.verdict = Verdict::Answer(error_plan(e, &rule.name)),
                    Inject::Reset(_) => out.verdict = Verdict::Reset,
                    Inject::Stall(Stall::Forever) => out.verdict = Verdict::Stall,
                    Inject::Stall(Stall::For { ms }) => out.delay += Duration::from_millis(*ms),
                    Inject::Latency(l) => out.delay += sample(l, &mut rng),
                    Inject::Pace(p) => out.after.push(After::Pace(*p)),
                    Inject::Stream(s) => out.after.push(After::Stream(s.clone())),
                }
                rule.hits += 1;
                out.injected.push(rule.name.clone());
            }
        }
        if let (Verdict::Proceed, Some(estimate)) = (&out.verdict, req.estimate) {
            let tokens = u64::from(estimate.input) + u64::from(estimate.max_output);
            let sent = req.input.model_id.as_deref().or(req.input.resolved_model.as_deref()).unwrap_or("");
            match self.quotas.admit(sent, tokens) {
                Ok(reservations) => out.reservations = reservations,
                Err(over) => {
                    out.verdict = Verdict::Answer(
                        Plan::error(BedrockError::new(ErrorCode::ThrottlingException, over.message))
                            .answered_by(AnsweredBy::Fault(over.label.clone())),
                    );
                    out.injected.push(over.label);
                }
            }
        }
        out
    }

    /// Applies the after-stage faults to the responder's Plan and settles quota reservations
    /// to the usage it reports.
    pub fn after(&self, mut plan: Plan, before: &mut Before) -> Plan {
        let failed = matches!(plan.body, crate::plan::PlanBody::Error(_));
        let used = if failed {
            None
        } else {
            Some(plan.usage.map_or(0, |u| u64::from(u.input_tokens) + u64::from(u.output_tokens)))
        };
        self.quotas.settle(&std::mem::take(&mut before.reservations), used);
        for after in before.after.drain(..) {
            plan = match after {
                After::Pace(p) => plan.paced(p.pace()),
                After::Stream(s) => plan.shaped(Box::new(shape::AfterEvents::new(&s))),
            };
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::parse_fault;

    fn set(rules: &[&str]) -> FaultSet {
        let f = FaultSet::new(42, Clock::manual());
        for r in rules {
            f.add(Origin::Api, parse_fault("t", r).expect("valid"));
        }
        f
    }

    fn input() -> MatchInput {
        MatchInput { operation: "Converse".into(), model_id: Some("m".into()), ..Default::default() }
    }

    fn fired(f: &FaultSet, attempt: u32) -> Vec<String> {
        f.before(&FaultRequest { input: &input(), attempt, estimate: None }).injected
    }

    #[test]
    fn attempts_fire_only_for_the_first_n_attempts() {
        let f = set(&["{name: t, on: {attempts: 2}, inject: {error: {type: ThrottlingException}}}"]);
        assert_eq!(fired(&f, 1), vec!["t"]);
        assert_eq!(fired(&f, 2), vec!["t"]);
        assert!(fired(&f, 3).is_empty());
    }

    #[test]
    fn every_after_and_times_count_matching_requests() {
        let f = set(&["{name: e, on: {every: 3}, inject: {reset: {}}}"]);
        let hits: Vec<bool> = (0..6).map(|_| !fired(&f, 1).is_empty()).collect();
        assert_eq!(hits, vec![false, false, true, false, false, true]);
        let f = set(&["{name: a, on: {after: 3, times: 2}, inject: {reset: {}}}"]);
        let hits: Vec<bool> = (0..6).map(|_| !fired(&f, 1).is_empty()).collect();
        assert_eq!(hits, vec![false, false, true, true, false, false]);
    }

    #[test]
    fn windows_follow_the_clock_and_restart_on_reset() {
        let clock = Clock::manual();
        let f = FaultSet::new(0, clock.clone());
        f.add(
            Origin::Api,
            parse_fault("t", "{name: w, on: {window: {fromMs: 1000, forMs: 500}}, inject: {reset: {}}}")
                .expect("valid"),
        );
        assert!(fired(&f, 1).is_empty());
        clock.advance(Duration::from_millis(1200));
        assert_eq!(fired(&f, 1), vec!["w"]);
        clock.advance(Duration::from_millis(400));
        assert!(fired(&f, 1).is_empty());
        f.reset();
        clock.advance(Duration::from_millis(1100));
        assert_eq!(fired(&f, 1), vec!["w"]);
    }

    #[test]
    fn the_same_seed_gives_the_same_probabilistic_sequence() {
        let run = |seed| {
            let f = FaultSet::new(seed, Clock::manual());
            f.add(
                Origin::Api,
                parse_fault("t", "{name: p, on: {probability: 0.5}, inject: {reset: {}}}").expect("valid"),
            );
            (0..64).map(|_| !fired(&f, 1).is_empty()).collect::<Vec<bool>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let n = run(7).into_iter().filter(|b| *b).count();
        assert!((16..=48).contains(&n), "{n} of 64");
    }

    #[test]
    fn log_normal_latency_has_the_asked_median() {
        let l = Latency::LogNormal { median_ms: 100, p99_ms: 1000 };
        let mut samples: Vec<u128> = (0..2001u64)
            .map(|i| sample(&l, &mut SplitMix64::new(stable_hash(1, &i.to_le_bytes()))).as_millis())
            .collect();
        samples.sort();
        let median = samples[1000];
        assert!((80..=125).contains(&median), "median {median}");
        let p99 = samples[1980];
        assert!((600..=1600).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn an_injected_error_carries_retry_after_headers() {
        let f = set(&["{name: t, inject: {error: {type: ThrottlingException, retryAfterSeconds: 1.5}}}"]);
        let before = f.before(&FaultRequest { input: &input(), attempt: 1, estimate: None });
        let Verdict::Answer(plan) = before.verdict else { panic!("answer") };
        assert!(plan.headers.contains(&("x-amz-retry-after".into(), "1500".into())));
        assert!(plan.headers.contains(&("Retry-After".into(), "2".into())));
        assert_eq!(plan.wire_status(), 429);
    }

    #[test]
    fn stream_faults_skip_operations_that_cannot_carry_them() {
        let f = set(&["{name: s, inject: {stream: {then: {exception: {type: ModelTimeoutException}}}}}"]);
        assert!(fired(&f, 1).is_empty(), "Converse streams nothing");
        let stream = MatchInput { operation: "ConverseStream".into(), ..Default::default() };
        assert!(f.before(&FaultRequest { input: &stream, attempt: 1, estimate: None }).injected.is_empty());
        let native = MatchInput { operation: "InvokeModelWithResponseStream".into(), ..Default::default() };
        assert_eq!(f.before(&FaultRequest { input: &native, attempt: 1, estimate: None }).injected, vec!["s"]);
    }

    #[test]
    fn non_matching_requests_are_left_alone() {
        let f = set(&["{name: t, match: {operation: InvokeModel}, inject: {reset: {}}}"]);
        assert!(fired(&f, 1).is_empty());
    }
}
