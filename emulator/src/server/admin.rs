//! The `/_emulator/` admin API (JSON). See README "Admin API".
//!
//! Every endpoint says what it accepts: a body where none is taken, a body of the wrong shape
//! and an unknown query parameter are refused with a 400 that names what was expected, so a
//! typo never passes for a request that did something.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::journal::ListingFilter;
use super::paging::{self, PAGE_BYTES};
use super::ServerState;
use crate::fault::Origin;
use crate::plan::Plan;
use crate::scenario::format::{parse, parse_fault, CountMatch, LoadError};
use crate::scenario::MatchSpec;
use crate::wire::error::{BedrockError, ErrorCode};

const ENDPOINTS: &str = "GET health; GET|POST|DELETE scenarios; DELETE scenarios/{name}; GET|POST|DELETE faults; DELETE faults/{name}; POST reset; GET|DELETE journal; POST verify";

/// The verify request's shape, for its error messages.
const VERIFY_SHAPE: &str = "{\"match\": {…matcher…}, \"count\": N | {\"equals\"|\"atLeast\"|\"atMost\": N}}";

fn query<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The expected count of a verify request: a whole number (exactly) or `{equals, atLeast, atMost}`.
enum Expected {
    Exactly(u64),
    Bounds(CountMatch),
}

impl<'de> Deserialize<'de> for Expected {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Expected;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a count: a whole number, or {\"equals\"|\"atLeast\"|\"atMost\": N}")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Expected, E> {
                Ok(Expected::Exactly(n))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Expected, A::Error> {
                CountMatch::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Expected::Bounds)
            }
        }
        d.deserialize_any(V)
    }
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
fn located_error(e: &LoadError) -> BedrockError {
    let mut err = BedrockError::validation(e.to_string()).with_extra("file", json!(e.file));
    if let (Some(l), Some(c)) = (e.line, e.column) {
        err = err.with_extra("line", json!(l)).with_extra("column", json!(c));
    }
    err
}

fn bad_request(message: impl Into<String>) -> BedrockError {
    BedrockError::validation(message)
}

/// What kind of JSON value `v` is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Refuses query parameters the endpoint does not take (`allowed` lists those it does).
fn check_query(q: &[(String, String)], endpoint: &str, allowed: &[&str]) -> Result<(), BedrockError> {
    match q.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some((k, _)) if allowed.is_empty() => {
            Err(bad_request(format!("{endpoint} takes no query parameters (got `{k}`).")))
        }
        Some((k, _)) => Err(bad_request(format!(
            "{endpoint} does not take the query parameter `{k}`; it takes {}.",
            allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Refuses a body on an endpoint that takes none (whitespace, `{}` and `null` are no body:
/// HTTP clients send them for "nothing").
fn check_no_body(body: &Bytes, endpoint: &str) -> Result<(), BedrockError> {
    let text = std::str::from_utf8(body).unwrap_or("?").trim();
    if text.is_empty() || text == "{}" || text == "null" {
        Ok(())
    } else {
        Err(bad_request(format!("{endpoint} takes no request body.")))
    }
}

/// The body as UTF-8 text (scenario documents and fault rules are YAML or JSON).
fn body_text<'a>(body: &'a Bytes, what: &str) -> Result<&'a str, BedrockError> {
    let text = std::str::from_utf8(body).map_err(|_| bad_request(format!("The {what} is not UTF-8 text.")))?;
    if text.trim().is_empty() {
        return Err(bad_request(format!("The request body is empty: send the {what} as YAML or JSON.")));
    }
    Ok(text)
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
    route(state, method, path.trim_end_matches('/'), q, body).unwrap_or_else(Plan::error)
}

fn route(
    state: &ServerState,
    method: &str,
    path: &str,
    q: &[(String, String)],
    body: &Bytes,
) -> Result<Plan, BedrockError> {
    let endpoint = format!("{method} /_emulator/{path}");
    let name_of =
        |prefix: &str| percent_encoding::percent_decode_str(&path[prefix.len()..]).decode_utf8_lossy().into_owned();
    match (method, path) {
        ("GET", "health") => {
            check_query(q, &endpoint, &[])?;
            check_no_body(body, &endpoint)?;
            Ok(health(state))
        }
        ("GET", "scenarios") => {
            check_query(q, &endpoint, PAGE_PARAMS)?;
            check_no_body(body, &endpoint)?;
            let page = paging::request(q, "scenarios")?;
            let (listing, next) =
                state.services.scenarios.listing_page(position(page.after), page.max_items, PAGE_BYTES);
            Ok(Plan::json(with_next(listing, "scenarios", next)))
        }
        ("POST", "scenarios") => {
            check_query(q, &endpoint, &["name"])?;
            post_scenario(state, query(q, "name"), body_text(body, "scenario document")?)
        }
        ("DELETE", "scenarios") => {
            check_query(q, &endpoint, &[])?;
            check_no_body(body, &endpoint)?;
            state.services.scenarios.clear();
            state.faults.remove_scenario_origins();
            state.faults.quotas.remove_prefixed("api:");
            Ok(Plan::json(json!({"deleted": "all"})))
        }
        ("DELETE", p) if p.starts_with("scenarios/") => {
            check_query(q, &endpoint, &[])?;
            check_no_body(body, &endpoint)?;
            delete_scenario(state, name_of("scenarios/"))
        }
        ("GET", "faults") => {
            check_query(q, &endpoint, PAGE_PARAMS)?;
            check_no_body(body, &endpoint)?;
            let page = paging::request(q, "faults")?;
            let (listing, next) = state.faults.listing_page(position(page.after), page.max_items, PAGE_BYTES);
            Ok(Plan::json(with_next(listing, "faults", next)))
        }
        ("POST", "faults") => {
            check_query(q, &endpoint, &[])?;
            let spec = parse_fault("request body", body_text(body, "fault rule")?).map_err(|e| located_error(&e))?;
            let name = state.faults.add(Origin::Api, spec);
            Ok(Plan::with_status(201, json!({"name": name})))
        }
        ("DELETE", "faults") => {
            check_query(q, &endpoint, &[])?;
            check_no_body(body, &endpoint)?;
            state.faults.clear();
            Ok(Plan::json(json!({"deleted": "all"})))
        }
        ("DELETE", p) if p.starts_with("faults/") => {
            check_query(q, &endpoint, &[])?;
            check_no_body(body, &endpoint)?;
            let name = name_of("faults/");
            if state.faults.remove(&name) {
                Ok(Plan::json(json!({"deleted": name})))
            } else {
                Err(BedrockError::not_found(format!("No fault rule named {name} is loaded.")))
            }
        }
        ("POST", "reset") => {
            check_query(q, &endpoint, &[])?;
            check_no_body(body, &endpoint)?;
            state.reset()?;
            Ok(Plan::json(json!({"reset": true})))
        }
        ("GET", "journal") => {
            check_query(q, &endpoint, &["operation", "model", "limit", "maxResults", "nextToken"])?;
            check_no_body(body, &endpoint)?;
            let limit = match query(q, "limit").map(str::parse::<usize>) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => return Err(bad_request("The limit query parameter must be a whole number.")),
            };
            let page = paging::request(q, "journal")?;
            if let Some(m) = query(q, "model") {
                crate::scenario::format::check_glob(m)
                    .map_err(|e| bad_request(format!("The model query parameter: {e}.")))?;
            }
            let filter = ListingFilter { operation: query(q, "operation"), model: query(q, "model"), limit };
            Ok(Plan::json(state.journal.listing(&filter, page.after, page.max_items, PAGE_BYTES)))
        }
        ("DELETE", "journal") => {
            check_query(q, &endpoint, &[])?;
            check_no_body(body, &endpoint)?;
            state.journal.clear();
            Ok(Plan::json(json!({"cleared": true})))
        }
        ("POST", "verify") => {
            check_query(q, &endpoint, &[])?;
            verify(state, body)
        }
        _ => Err(BedrockError::new(
            ErrorCode::UnknownOperationException,
            format!("No admin endpoint {endpoint}. Available under /_emulator/: {ENDPOINTS}."),
        )),
    }
}

/// The query parameters of a paged listing.
const PAGE_PARAMS: &[&str] = &["maxResults", "nextToken"];

/// A token's position as an index (positions past memory are past every item anyway).
fn position(after: u64) -> usize {
    usize::try_from(after).unwrap_or(usize::MAX)
}

/// Adds `nextToken` to a listing page when items remain.
fn with_next(mut listing: Value, name: &str, next: Option<usize>) -> Value {
    if let Some(next) = next {
        listing["nextToken"] = json!(paging::token(name, next as u64));
    }
    listing
}

fn health(state: &ServerState) -> Plan {
    Plan::json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started.elapsed().as_secs_f64(),
        "requests": state.requests.load(std::sync::atomic::Ordering::Relaxed),
        "scenarioRules": state.services.scenarios.rule_count(),
        "faultRules": state.faults.len(),
        "quotas": state.faults.quotas.len(),
    }))
}

fn post_scenario(state: &ServerState, name: Option<&str>, text: &str) -> Result<Plan, BedrockError> {
    let engine = &state.services.scenarios;
    if let Some(n) = name {
        crate::scenario::format::check_name(n).map_err(|e| bad_request(format!("The name query parameter: {e}.")))?;
    }
    let mut file = parse(name.unwrap_or("request body"), text).map_err(|e| located_error(&e))?;
    let name = match name {
        Some(n) => n.to_string(),
        None => file.name.clone().unwrap_or_else(|| engine.next_api_name()),
    };
    let rules = file.rules.len();
    // A document replaces its earlier version whole: rules, faults and quotas.
    let origin = Origin::Scenario(name.clone());
    state.faults.remove_origin(&origin);
    let faults: Vec<String> =
        std::mem::take(&mut file.faults).into_iter().map(|spec| state.faults.add(origin.clone(), spec)).collect();
    let quotas = std::mem::take(&mut file.quotas);
    let quota_count = quotas.len();
    state.faults.quotas.set(&format!("api:{name}"), quotas);
    engine.add_source(&name, file);
    Ok(Plan::with_status(201, json!({"name": name, "rules": rules, "faults": faults, "quotas": quota_count})))
}

fn delete_scenario(state: &ServerState, name: String) -> Result<Plan, BedrockError> {
    let removed_faults = state.faults.remove_origin(&Origin::Scenario(name.clone()));
    state.faults.quotas.set(&format!("api:{name}"), Vec::new());
    if state.services.scenarios.remove_source(&name) || removed_faults {
        Ok(Plan::json(json!({"deleted": name})))
    } else {
        Err(BedrockError::not_found(format!("No scenario source named {name} is loaded.")))
    }
}

fn verify(state: &ServerState, body: &Bytes) -> Result<Plan, BedrockError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let problem = if body.iter().all(u8::is_ascii_whitespace) {
            "is empty".to_string()
        } else {
            format!("is not valid JSON ({e})")
        };
        bad_request(format!("The verify request body {problem}: send {VERIFY_SHAPE}."))
    })?;
    if !value.is_object() {
        return Err(bad_request(format!(
            "The verify request body must be a JSON object {VERIFY_SHAPE}, not {}.",
            kind(&value)
        )));
    }
    let req: VerifyRequest = serde_json::from_value(value)
        .map_err(|e| bad_request(format!("The verify request must be {VERIFY_SHAPE}: {e}")))?;
    if req.matcher.request_count.is_some() {
        return Err(bad_request(
            "requestCount has no meaning in verify: give the expected number of requests in `count`.",
        ));
    }
    let expected = match req.count {
        Some(Expected::Exactly(n)) => CountMatch { equals: Some(n), ..Default::default() },
        Some(Expected::Bounds(b)) => b,
        None => CountMatch { at_least: Some(1), ..Default::default() },
    };
    let v = state.journal.verify(&req.matcher, &expected);
    Ok(Plan::json(
        json!({"ok": v.ok, "matched": v.matched, "expected": expected, "nearMisses": v.near_misses, "dropped": v.dropped}),
    ))
}
