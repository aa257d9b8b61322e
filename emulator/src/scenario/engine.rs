//! The rule set and its runtime state.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};

use super::format::{LoadError, ReplySpec, RuleSpec, ScenarioFile, Then};
use super::matcher::{failures, matches, MatchInput};

/// The initial state of every named scenario (as in WireMock).
pub const STARTED: &str = "Started";

/// Where a set of rules came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Origin {
    /// A file or directory given with `--scenarios` (replaced on hot reload).
    File,
    /// Loaded through the admin API or the Rust API.
    Api,
}

#[derive(Debug, Clone)]
struct Source {
    name: String,
    origin: Origin,
    file: ScenarioFile,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    label: String,
    source: String,
    spec: RuleSpec,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct Counters {
    /// Requests that met the rule's conditions (requestCount's number).
    matched: u64,
    /// Requests the rule answered.
    answered: u64,
}

#[derive(Debug, Default)]
struct Inner {
    sources: Vec<Source>,
    rules: Vec<CompiledRule>,
    counters: HashMap<String, Counters>,
    states: HashMap<String, String>,
    errors: Vec<LoadError>,
}

/// What the rules decided for a request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// A rule answers.
    Reply {
        /// `source/rule` label.
        rule: String,
        /// The reply to render.
        reply: ReplySpec,
    },
    /// No rule answers; the closest one and why it failed, for strict mode.
    NoMatch {
        /// The rule that failed the fewest conditions, with its failures.
        closest: Option<(String, Vec<String>)>,
    },
}

/// The scenario engine: thread-safe, shared by all connections.
#[derive(Debug, Default)]
pub struct Engine {
    inner: Mutex<Inner>,
    /// Numbers the default names of unnamed API sources (`api-1`, `api-2`, … never reused).
    api_sources: std::sync::atomic::AtomicU64,
}

fn rule_label(source: &str, index: usize, spec: &RuleSpec) -> String {
    match &spec.name {
        Some(n) => format!("{source}/{n}"),
        None => format!("{source}/rule-{}", index + 1),
    }
}

impl Inner {
    fn recompile(&mut self) {
        let mut rules: Vec<CompiledRule> = self
            .sources
            .iter()
            .flat_map(|s| {
                s.file.rules.iter().enumerate().map(move |(i, spec)| CompiledRule {
                    label: rule_label(&s.name, i, spec),
                    source: s.name.clone(),
                    spec: spec.clone(),
                })
            })
            .collect();
        // Stable: equal priorities keep declaration (load) order.
        rules.sort_by_key(|r| std::cmp::Reverse(r.spec.priority));
        self.rules = rules;
    }
}

impl Engine {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half-written in a way that
        // matters more than refusing every later request, so a poisoned lock is reused.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces every file-origin source (startup and hot reload) and clears load errors.
    pub fn set_file_sources(&self, files: Vec<(String, ScenarioFile)>) {
        let mut inner = self.lock();
        inner.sources.retain(|s| s.origin != Origin::File);
        let api: Vec<Source> = std::mem::take(&mut inner.sources);
        inner.sources = files.into_iter().map(|(name, file)| Source { name, origin: Origin::File, file }).collect();
        inner.sources.extend(api);
        inner.errors.clear();
        inner.recompile();
    }

    /// Records load errors (a failed reload keeps the previous rules).
    pub fn set_errors(&self, errors: Vec<LoadError>) {
        self.lock().errors = errors;
    }

    /// Adds (or replaces, by name) an API-origin source.
    pub fn add_source(&self, name: &str, file: ScenarioFile) {
        let mut inner = self.lock();
        inner.sources.retain(|s| s.name != name);
        inner.sources.push(Source { name: name.to_string(), origin: Origin::Api, file });
        inner.recompile();
    }

    /// A fresh default name for an unnamed API source.
    pub fn next_api_name(&self) -> String {
        format!("api-{}", self.api_sources.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1)
    }

    /// Appends one rule to the API-origin source `name` (created if absent).
    pub fn push_rule(&self, name: &str, rule: RuleSpec) {
        let mut inner = self.lock();
        match inner.sources.iter_mut().find(|s| s.name == name) {
            Some(source) => source.file.rules.push(rule),
            None => inner.sources.push(Source {
                name: name.to_string(),
                origin: Origin::Api,
                file: ScenarioFile {
                    version: super::format::Version(super::format::VERSION),
                    name: Some(name.to_string()),
                    description: None,
                    rules: vec![rule],
                    faults: Vec::new(),
                    quotas: Vec::new(),
                },
            }),
        }
        inner.recompile();
    }

    /// Removes a source by name; false if there was none.
    pub fn remove_source(&self, name: &str) -> bool {
        let mut inner = self.lock();
        let before = inner.sources.len();
        inner.sources.retain(|s| s.name != name);
        let removed = inner.sources.len() != before;
        inner.recompile();
        removed
    }

    /// Removes every source.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.sources.clear();
        inner.recompile();
    }

    /// Resets counters and scenario states (the rules stay).
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.counters.clear();
        inner.states.clear();
    }

    /// Number of rules loaded.
    pub fn rule_count(&self) -> usize {
        self.lock().rules.len()
    }

    /// Decides which rule answers `input`, advancing counters, sequences and states.
    ///
    /// `fits` says whether a reply kind can be sent by the request's operation. A rule that
    /// names no operation is skipped when its reply does not fit (a catch-all `text` rule does
    /// not break control-plane calls); a rule that names the operation answers anyway, and the
    /// operation reports the misfit.
    ///
    /// Every rule whose conditions hold counts the request (for `requestCount`), even when an
    /// earlier rule answers it: "the Nth request like this" means the same whatever the order.
    ///
    /// With `explain` (strict mode, which refuses with the reason), a miss names the closest
    /// rule and why it failed; without, misses are not described.
    pub fn decide(&self, input: &MatchInput, fits: &dyn Fn(&ReplySpec) -> bool, explain: bool) -> Decision {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut closest: Option<(&str, Vec<String>)> = None;
        let mut answer: Option<Decision> = None;
        // Only a miss that is explained is described: most requests miss most rules.
        fn consider<'r>(closest: &mut Option<(&'r str, Vec<String>)>, label: &'r str, failed: Vec<String>) {
            if closest.as_ref().is_none_or(|(_, f)| failed.len() < f.len()) {
                *closest = Some((label, failed));
            }
        }
        for rule in &inner.rules {
            // (scenario, its state, the state wanted) when the rule waits for another state.
            let wrong_state = match (&rule.spec.scenario, &rule.spec.when_state) {
                (Some(scenario), Some(want)) => {
                    let current = inner.states.get(scenario).map(String::as_str).unwrap_or(STARTED);
                    (current != want).then_some((scenario, current, want))
                }
                _ => None,
            };
            if wrong_state.is_some() || !matches(&rule.spec.matcher, input) {
                if explain && answer.is_none() {
                    let mut failed = failures(&rule.spec.matcher, input);
                    if let Some((scenario, current, want)) = wrong_state {
                        failed.push(format!("scenario {scenario} is in state {current} (wanted {want})"));
                    }
                    consider(&mut closest, rule.label.as_str(), failed);
                }
                continue;
            }
            let counters = inner.counters.entry(rule.label.clone()).or_default();
            counters.matched += 1;
            if answer.is_some() {
                continue;
            }
            let mut failed = Vec::new();
            if let Some(count) = &rule.spec.matcher.request_count {
                if !count.matches(counters.matched) {
                    failed.push(format!("request count is {} (wanted {})", counters.matched, describe_count(count)));
                }
            }
            if failed.is_empty() {
                let n = rule.spec.replies.len();
                let idx = counters.answered as usize;
                let reply = if idx < n {
                    Some(&rule.spec.replies[idx])
                } else {
                    match rule.spec.then {
                        Then::RepeatLast => rule.spec.replies.last(),
                        Then::Cycle => rule.spec.replies.get(idx % n.max(1)),
                        Then::FallThrough => None,
                    }
                };
                match reply {
                    Some(reply) if rule.spec.matcher.operation.is_none() && !fits(reply) => {
                        failed.push(format!("its reply cannot answer {} and it names no operation", input.operation));
                    }
                    Some(reply) => {
                        counters.answered += 1;
                        if let (Some(scenario), Some(next)) = (&rule.spec.scenario, &rule.spec.set_state) {
                            inner.states.insert(scenario.clone(), next.clone());
                        }
                        answer = Some(Decision::Reply { rule: rule.label.clone(), reply: reply.clone() });
                        continue;
                    }
                    None => failed.push(format!("its {n} replies are used up (then: fallThrough)")),
                }
            }
            if explain {
                consider(&mut closest, rule.label.as_str(), failed);
            }
        }
        answer.unwrap_or_else(|| Decision::NoMatch {
            closest: closest.map(|(label, failed)| (label.to_string(), failed)),
        })
    }

    /// One page of the admin listing: the rules from position `offset` on (sources in load
    /// order, each source's rules in priority order), at most `max_rules` and about `max_bytes`
    /// of rule JSON (at least one rule); sources appear with the rules of theirs on the page
    /// (a source without rules on the page where its position falls). Returns the listing and,
    /// when rules remain, the position to continue from.
    pub fn listing_page(&self, offset: usize, max_rules: usize, max_bytes: usize) -> (Value, Option<usize>) {
        let inner = self.lock();
        // Each source's rules, found in one pass (not one pass per source).
        let mut by_source: HashMap<&str, Vec<&CompiledRule>> = HashMap::new();
        for r in &inner.rules {
            by_source.entry(r.source.as_str()).or_default().push(r);
        }
        let total = inner.rules.len();
        let (mut position, mut taken, mut bytes) = (0usize, 0usize, 0usize);
        let full = |taken: usize, bytes: usize| taken == max_rules || (taken > 0 && bytes >= max_bytes);
        let mut next = None;
        let mut sources = Vec::new();
        for s in &inner.sources {
            let rules = by_source.get(s.name.as_str()).map_or(&[][..], Vec::as_slice);
            let start = position;
            position += rules.len();
            if next.is_some() || position < offset || (rules.is_empty() && start < offset) {
                continue;
            }
            if rules.is_empty() {
                // A source without rules is listed once: on the page its position falls in.
                if !full(taken, bytes) || start == total {
                    sources.push(json!({"name": s.name, "origin": s.origin, "rules": []}));
                }
                continue;
            }
            let mut listed = Vec::new();
            for (i, r) in rules.iter().enumerate().skip(offset.saturating_sub(start)) {
                if full(taken, bytes) {
                    next = Some(start + i);
                    break;
                }
                let c = inner.counters.get(&r.label).copied().unwrap_or_default();
                let item = json!({"label": r.label, "priority": r.spec.priority, "matched": c.matched, "answered": c.answered, "rule": r.spec});
                bytes += serde_json::to_vec(&item).map_or(0, |v| v.len());
                taken += 1;
                listed.push(item);
            }
            if !listed.is_empty() {
                sources.push(json!({"name": s.name, "origin": s.origin, "rules": listed}));
            }
        }
        (json!({"sources": sources, "states": inner.states, "errors": inner.errors}), next)
    }

    /// The whole listing in one document (tests and small rule sets).
    pub fn listing(&self) -> Value {
        self.listing_page(0, usize::MAX, usize::MAX).0
    }
}

fn describe_count(c: &super::format::CountMatch) -> String {
    let mut parts = Vec::new();
    if let Some(e) = c.equals {
        parts.push(format!("= {e}"));
    }
    if let Some(l) = c.at_least {
        parts.push(format!(">= {l}"));
    }
    if let Some(m) = c.at_most {
        parts.push(format!("<= {m}"));
    }
    parts.join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::parse;

    fn engine(yaml: &str) -> Engine {
        let e = Engine::default();
        e.add_source("t", parse("t.yaml", yaml).expect("valid"));
        e
    }

    /// Every page of the listing, `size` rules at a time: (source name, rule labels) in order.
    fn pages(e: &Engine, size: usize) -> Vec<Vec<(String, Vec<String>)>> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (page, next) = e.listing_page(offset, size, usize::MAX);
            let sources = page["sources"].as_array().cloned().unwrap_or_default();
            out.push(
                sources
                    .iter()
                    .map(|s| {
                        let labels = s["rules"].as_array().map(|r| r.iter().map(|r| r["label"].to_string()).collect());
                        (s["name"].as_str().unwrap_or_default().to_string(), labels.unwrap_or_default())
                    })
                    .collect(),
            );
            match next {
                Some(n) => offset = n,
                None => return out,
            }
        }
    }

    #[test]
    fn the_listing_pages_through_every_rule_once_and_lists_a_source_without_rules_once() {
        let e = Engine::default();
        let rules = |n: usize| {
            let body: String = (0..n).map(|i| format!("  - {{name: r{i}, reply: {{text: x}}}}\n")).collect();
            parse("t.yaml", &format!("version: 1\nrules:\n{body}")).expect("valid")
        };
        e.add_source("a", rules(5));
        e.add_source("empty", parse("e.yaml", "version: 1\n").expect("valid"));
        e.add_source("b", rules(3));
        e.add_source("tail", parse("e.yaml", "version: 1\n").expect("valid"));
        for size in [1, 2, 3, 5, 8, 100] {
            let pages = pages(&e, size);
            assert_eq!(pages.len(), 8usize.div_ceil(size).max(1), "size {size}");
            let flat: Vec<(String, Vec<String>)> = pages.into_iter().flatten().collect();
            let names: Vec<&str> = flat.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names.iter().filter(|n| **n == "empty").count(), 1, "size {size}: {names:?}");
            assert_eq!(names.iter().filter(|n| **n == "tail").count(), 1, "size {size}: {names:?}");
            let labels: Vec<String> = flat.into_iter().flat_map(|(_, l)| l).collect();
            let expected: Vec<String> =
                (0..5).map(|i| format!("\"a/r{i}\"")).chain((0..3).map(|i| format!("\"b/r{i}\""))).collect();
            assert_eq!(labels, expected, "size {size}");
        }
        let (one, next) = e.listing_page(0, 1000, 1);
        assert_eq!(one["sources"][0]["rules"].as_array().map(Vec::len), Some(1), "a byte budget still lists one rule");
        assert_eq!(next, Some(1));
    }

    fn input(op: &str, text: &str) -> MatchInput {
        MatchInput { operation: op.into(), last_user_text: Some(text.into()), ..Default::default() }
    }

    fn answer(e: &Engine, i: &MatchInput) -> Option<String> {
        match e.decide(i, &|_| true, true) {
            Decision::Reply { reply, .. } => Some(serde_json::to_string(&reply.kind).unwrap_or_default()),
            Decision::NoMatch { .. } => None,
        }
    }

    #[test]
    fn sequences_answer_in_order_then_repeat_the_last() {
        let e = engine("version: 1\nrules:\n  - replies: [{text: one}, {text: two}]\n");
        let i = input("Converse", "x");
        assert!(answer(&e, &i).is_some_and(|a| a.contains("one")));
        assert!(answer(&e, &i).is_some_and(|a| a.contains("two")));
        assert!(answer(&e, &i).is_some_and(|a| a.contains("two")));
    }

    #[test]
    fn fall_through_stops_matching_after_the_last_reply() {
        let e = engine("version: 1\nrules:\n  - replies: [{text: one}]\n    then: fallThrough\n");
        let i = input("Converse", "x");
        assert!(answer(&e, &i).is_some());
        assert!(answer(&e, &i).is_none());
    }

    #[test]
    fn higher_priority_wins_and_equal_priorities_keep_order() {
        let e = engine("version: 1\nrules:\n  - {name: a, reply: {text: a}}\n  - {name: b, reply: {text: b}}\n  - {name: c, priority: 5, reply: {text: c}}\n");
        let i = input("Converse", "x");
        assert!(answer(&e, &i).is_some_and(|a| a.contains("\"c\"")));
        let e = engine("version: 1\nrules:\n  - {name: a, reply: {text: a}}\n  - {name: b, reply: {text: b}}\n");
        assert!(answer(&e, &i).is_some_and(|a| a.contains("\"a\"")));
    }

    #[test]
    fn scenario_states_gate_and_advance_rules() {
        let e = engine(
            "version: 1\nrules:\n  - {scenario: s, whenState: Started, setState: second, reply: {text: first}}\n  - {scenario: s, whenState: second, reply: {text: later}}\n",
        );
        let i = input("Converse", "x");
        assert!(answer(&e, &i).is_some_and(|a| a.contains("first")));
        assert!(answer(&e, &i).is_some_and(|a| a.contains("later")));
        e.reset();
        assert!(answer(&e, &i).is_some_and(|a| a.contains("first")));
    }

    #[test]
    fn the_closest_rule_is_reported_when_nothing_matches() {
        let e = engine("version: 1\nrules:\n  - {name: greet, match: {lastUserMessage: hello}, reply: {text: hi}}\n");
        match e.decide(&input("Converse", "bye"), &|_| true, true) {
            Decision::NoMatch { closest: Some((label, failures)) } => {
                assert_eq!(label, "t/greet");
                assert_eq!(failures.len(), 1, "{failures:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn misses_are_described_only_when_asked_and_counting_is_the_same_either_way() {
        let yaml = "version: 1\nrules:\n  - {name: greet, match: {lastUserMessage: hello}, reply: {text: hi}}\n  - {name: third, match: {operation: Converse, requestCount: {equals: 3}}, reply: {text: three}}\n";
        let (explained, quiet) = (engine(yaml), engine(yaml));
        for n in 1..=4 {
            let i = input("Converse", "bye");
            let (a, b) = (explained.decide(&i, &|_| true, true), quiet.decide(&i, &|_| true, false));
            match (a, b) {
                (Decision::Reply { rule: ra, .. }, Decision::Reply { rule: rb, .. }) => {
                    assert_eq!((ra.as_str(), n), ("t/third", 3));
                    assert_eq!(rb, "t/third");
                }
                (Decision::NoMatch { closest: Some((label, failures)) }, Decision::NoMatch { closest: None }) => {
                    assert_ne!(n, 3);
                    assert_eq!(label, "t/greet", "{failures:?}");
                }
                other => panic!("request {n}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_quick_match_agrees_with_the_described_failures() {
        let e = engine(
            "version: 1\nrules:\n  - {name: a, match: {operation: [Converse, ConverseStream], model: 'anthropic.*'}, reply: {text: a}}\n  - {name: b, match: {lastUserMessage: {contains: hel}, tools: false}, reply: {text: b}}\n  - {name: c, match: {system: {regex: '^be'}, tool: t}, reply: {text: c}}\n  - {name: d, match: {json: [{path: /inferenceConfig/maxTokens, equals: 64}], headers: {x-test: {equals: y}}}, reply: {text: d}}\n",
        );
        let inputs = [
            input("Converse", "hello"),
            input("InvokeModel", "x"),
            MatchInput { model_id: Some("anthropic.claude-v2".into()), ..input("ConverseStream", "hel") },
            MatchInput { system_text: Some("be brief".into()), tool_names: vec!["t".into()], ..input("Converse", "") },
            MatchInput {
                body: crate::scenario::RequestBody::from_json(Some(
                    serde_json::json!({"inferenceConfig": {"maxTokens": 64}}),
                )),
                ..input("Converse", "x")
            },
        ];
        let inner = e.lock();
        for rule in &inner.rules {
            for i in &inputs {
                assert_eq!(
                    matches(&rule.spec.matcher, i),
                    failures(&rule.spec.matcher, i).is_empty(),
                    "{} against {i:?}",
                    rule.label
                );
            }
        }
    }

    #[test]
    fn a_catch_all_rule_steps_aside_when_its_reply_cannot_answer_the_operation() {
        let e = engine("version: 1\nrules:\n  - {name: any, reply: {text: hi}}\n");
        let control = MatchInput { operation: "ListFoundationModels".into(), ..Default::default() };
        assert!(matches!(
            e.decide(&control, &|r| !matches!(r.kind, super::super::format::ReplyKind::Content { .. }), true),
            Decision::NoMatch { .. }
        ));
        assert!(answer(&e, &input("Converse", "x")).is_some());
    }

    #[test]
    fn request_count_counts_requests_meeting_the_other_conditions() {
        let e = engine("version: 1\nrules:\n  - {match: {requestCount: {atLeast: 3}}, reply: {text: third}}\n");
        let i = input("Converse", "x");
        assert!(answer(&e, &i).is_none());
        assert!(answer(&e, &i).is_none());
        assert!(answer(&e, &i).is_some());
    }
}
