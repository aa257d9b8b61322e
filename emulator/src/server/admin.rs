//! The `/_emulator/` admin API (JSON). See README "Admin API".

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ServerState;
use crate::fault::Origin;
use crate::plan::Plan;
use crate::scenario::format::{parse, parse_fault, CountMatch, LoadError};
use crate::scenario::MatchSpec;
use crate::wire::error::{BedrockError, ErrorCode};

const ENDPOINTS: &str = "GET health; GET|POST|DELETE scenarios; DELETE scenarios/{name}; GET|POST|DELETE faults; DELETE faults/{name}; POST reset; GET|DELETE journal; POST verify";

fn query<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The expected count of a verify request: a number (exactly) or `{equals, atLeast, atMost}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expected {
    Exactly(u64),
    Bounds(CountMatch),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    #[serde(rename = "match", default)]
    matcher: MatchSpec,
    #[serde(default)]
    count: Option<Expected>,
}

/// A file-format error as a ValidationException that also names the file, line and column.
fn located_error(e: &LoadError) -> Plan {
    let mut err = BedrockError::validation(e.to_string()).with_extra("file", json!(e.file));
    if let (Some(l), Some(c)) = (e.line, e.column) {
        err = err.with_extra("line", json!(l)).with_extra("column", json!(c));
    }
    Plan::error(err)
}

fn bad_request(message: impl Into<String>) -> Plan {
    Plan::error(BedrockError::validation(message))
}

/// Answers an admin request (`path` is what follows `/_emulator/`).
pub fn handle(
    state: &ServerState,
    method: &str,
    path: &str,
    q: &[(String, String)],
    _headers: &http::HeaderMap,
    body: &Bytes,
) -> Plan {
    let engine = &state.services.scenarios;
    match (method, path.trim_end_matches('/')) {
        ("GET", "health") => Plan::json(json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": state.started.elapsed().as_secs_f64(),
            "requests": state.requests.load(std::sync::atomic::Ordering::Relaxed),
            "scenarioRules": engine.rule_count(),
            "faultRules": state.faults.len(),
            "quotas": state.faults.quotas.len(),
        })),
        ("GET", "scenarios") => Plan::json(engine.listing()),
        ("POST", "scenarios") => {
            let Ok(text) = std::str::from_utf8(body) else {
                return bad_request("The scenario document is not UTF-8 text.");
            };
            let source = query(q, "name").unwrap_or("request body");
            match parse(source, text) {
                Ok(file) => {
                    let name = match query(q, "name") {
                        Some(n) => n.to_string(),
                        None => file.name.clone().unwrap_or_else(|| engine.next_api_name()),
                    };
                    let rules = file.rules.len();
                    let mut file = file;
                    // A document replaces its earlier version whole: rules, faults and quotas.
                    let origin = Origin::Scenario(name.clone());
                    state.faults.remove_origin(&origin);
                    let faults: Vec<String> = std::mem::take(&mut file.faults)
                        .into_iter()
                        .map(|spec| state.faults.add(origin.clone(), spec))
                        .collect();
                    let quotas = std::mem::take(&mut file.quotas);
                    let quota_count = quotas.len();
                    state.faults.quotas.set(&format!("api:{name}"), quotas);
                    engine.add_source(&name, file);
                    Plan::with_status(
                        201,
                        json!({"name": name, "rules": rules, "faults": faults, "quotas": quota_count}),
                    )
                }
                Err(e) => located_error(&e),
            }
        }
        ("GET", "faults") => Plan::json(state.faults.listing()),
        ("POST", "faults") => {
            let Ok(text) = std::str::from_utf8(body) else {
                return bad_request("The fault rule is not UTF-8 text.");
            };
            match parse_fault("request body", text) {
                Ok(spec) => {
                    let name = state.faults.add(Origin::Api, spec);
                    Plan::with_status(201, json!({"name": name}))
                }
                Err(e) => located_error(&e),
            }
        }
        ("DELETE", "faults") => {
            state.faults.clear();
            Plan::json(json!({"deleted": "all"}))
        }
        ("DELETE", p) if p.starts_with("faults/") => {
            let name = percent_encoding::percent_decode_str(&p["faults/".len()..]).decode_utf8_lossy().into_owned();
            if state.faults.remove(&name) {
                Plan::json(json!({"deleted": name}))
            } else {
                Plan::error(BedrockError::not_found(format!("No fault rule named {name} is loaded.")))
            }
        }
        ("DELETE", "scenarios") => {
            engine.clear();
            state.faults.remove_scenario_origins();
            state.faults.quotas.remove_prefixed("api:");
            Plan::json(json!({"deleted": "all"}))
        }
        ("DELETE", p) if p.starts_with("scenarios/") => {
            let name = percent_encoding::percent_decode_str(&p["scenarios/".len()..]).decode_utf8_lossy().into_owned();
            let removed_faults = state.faults.remove_origin(&Origin::Scenario(name.clone()));
            state.faults.quotas.set(&format!("api:{name}"), Vec::new());
            if engine.remove_source(&name) || removed_faults {
                Plan::json(json!({"deleted": name}))
            } else {
                Plan::error(BedrockError::not_found(format!("No scenario source named {name} is loaded.")))
            }
        }
        ("POST", "reset") => {
            engine.reset();
            state.faults.reset();
            if let Some(replay) = &state.replay {
                replay.reset();
            }
            state.journal.clear();
            Plan::json(json!({"reset": true}))
        }
        ("GET", "journal") => {
            let limit = match query(q, "limit").map(str::parse::<usize>) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => return bad_request("The limit query parameter must be a whole number."),
            };
            Plan::json(state.journal.listing(query(q, "operation"), query(q, "model"), limit))
        }
        ("DELETE", "journal") => {
            state.journal.clear();
            Plan::json(json!({"cleared": true}))
        }
        ("POST", "verify") => {
            let req: VerifyRequest = match serde_json::from_slice::<Value>(body)
                .map_err(|e| e.to_string())
                .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    return bad_request(format!(
                        "The verify request must be {{\"match\": {{…matcher…}}, \"count\": N | {{\"atLeast\": N, \"atMost\": N}}}}: {e}"
                    ))
                }
            };
            if req.matcher.request_count.is_some() {
                return bad_request(
                    "requestCount has no meaning in verify: give the expected number of requests in `count`.",
                );
            }
            let expected = match req.count {
                Some(Expected::Exactly(n)) => CountMatch { equals: Some(n), ..Default::default() },
                Some(Expected::Bounds(b)) => b,
                None => CountMatch { at_least: Some(1), ..Default::default() },
            };
            let v = state.journal.verify(&req.matcher, &expected);
            Plan::json(
                json!({"ok": v.ok, "matched": v.matched, "expected": expected, "nearMisses": v.near_misses, "dropped": v.dropped}),
            )
        }
        _ => Plan::error(BedrockError::new(
            ErrorCode::UnknownOperationException,
            format!("No admin endpoint {method} /_emulator/{path}. Available under /_emulator/: {ENDPOINTS}."),
        )),
    }
}
