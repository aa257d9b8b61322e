//! The provisioned-throughput operations: Create, Get, List, Update and Delete
//! ProvisionedModelThroughput, validated with Coral's messages and applied to the caller's
//! (account, region) space ([`crate::backend::provisioned`] keeps the behaviour).

use serde_json::{json, Map, Value};

use super::{coral, Request, Services};
use crate::backend::paging::{self, PageRequest};
use crate::backend::provisioned::{self, Create};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "CreateProvisionedModelThroughput",
    "GetProvisionedModelThroughput",
    "ListProvisionedModelThroughputs",
    "UpdateProvisionedModelThroughput",
    "DeleteProvisionedModelThroughput",
];

/// The listing's page size when `maxResults` is absent.
const DEFAULT_PAGE: usize = 100;

fn validated(req: &Request) -> Result<Map<String, Value>, BedrockError> {
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock", req.operation(), &Value::Object(input.clone()))?;
    Ok(input)
}

/// The injected clock's reading in microseconds.
pub fn clock_us(services: &Services) -> u64 {
    u64::try_from(services.clock.now().as_micros()).unwrap_or(u64::MAX)
}

/// Answers a provisioned-throughput operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = validated(req)?;
    let at = clock_us(services);
    let now = now();
    let lifecycle = u64::try_from(services.async_invoke.duration.as_micros()).unwrap_or(u64::MAX);
    let c = Create { catalog: services.catalog, now: &now, clock_us: at, ready_us: at.saturating_add(lifecycle) };
    let state = &services.state;
    let (status, body) = match req.operation() {
        "CreateProvisionedModelThroughput" => {
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            let body = state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    provisioned::create(space, &scope, &input, &c)
                })
            })?;
            (201, body)
        }
        "GetProvisionedModelThroughput" => {
            (200, state.read(&scope, |space| provisioned::get(space, &scope, req.label("provisionedModelId"), at))?)
        }
        "ListProvisionedModelThroughputs" => (200, list(req, services, &scope, &input, at)?),
        "UpdateProvisionedModelThroughput" => {
            (200, state.update(&scope, |space| provisioned::update(space, &scope, &input, &c))?)
        }
        "DeleteProvisionedModelThroughput" => {
            state.update(&scope, |space| provisioned::delete(space, &scope, req.label("provisionedModelId")))?;
            (200, json!({}))
        }
        other => return Err(BedrockError::validation(format!("{other} is not a provisioned-throughput operation."))),
    };
    Ok(Plan::with_status(status, body))
}

fn list(
    req: &Request,
    services: &Services,
    scope: &Scope,
    input: &Map<String, Value>,
    at: u64,
) -> Result<Value, BedrockError> {
    let time = |name: &str| -> Result<Option<f64>, BedrockError> {
        match req.query(name) {
            None => Ok(None),
            Some(t) => crate::backend::async_invoke::parse_time(t)
                .map(Some)
                .ok_or_else(|| super::validate::wrong_type(name, "a timestamp (ISO 8601)")),
        }
    };
    let (after, before) = (time("creationTimeAfter")?, time("creationTimeBefore")?);
    let status = input.get("statusEquals").and_then(Value::as_str);
    let model = input.get("modelArnEquals").and_then(Value::as_str);
    let name = input.get("nameContains").and_then(Value::as_str);
    let ascending = input.get("sortOrder").and_then(Value::as_str) == Some("Ascending");
    let mut items: Vec<(String, Value)> = services
        .state
        .read(scope, |space| provisioned::all(space, at))
        .into_iter()
        .filter(|(_, _, v)| status.is_none_or(|s| v["status"] == s))
        .filter(|(_, _, v)| model.is_none_or(|m| v["modelArn"] == m))
        .filter(|(_, _, v)| name.is_none_or(|n| v["provisionedModelName"].as_str().is_some_and(|p| p.contains(n))))
        .filter(|(_, _, v)| {
            let t = v["creationTime"].as_str().and_then(crate::backend::async_invoke::parse_time);
            after.is_none_or(|a| t.is_some_and(|t| t > a)) && before.is_none_or(|b| t.is_some_and(|t| t < b))
        })
        // Keys rise in listing order (the paginator resumes after the last key it gave).
        .map(|(created, id, v)| {
            let rank = if ascending { created } else { u64::MAX - created };
            (format!("{rank:020}/{id}"), provisioned::summary(&v))
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let request = PageRequest {
        max_results: input.get("maxResults").and_then(Value::as_u64).map(|n| n as usize),
        next_token: input.get("nextToken").and_then(Value::as_str).map(str::to_string),
    };
    let listing = format!("provisioned/{}", if ascending { "asc" } else { "desc" });
    let page = paging::page(&listing, items, |(key, _)| key.clone(), &request, DEFAULT_PAGE)?;
    let mut body = json!({"provisionedModelSummaries": page.items.into_iter().map(|(_, s)| s).collect::<Vec<_>>()});
    if let Some(t) = page.next_token {
        body["nextToken"] = json!(t);
    }
    Ok(body)
}
