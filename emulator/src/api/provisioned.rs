//! The provisioned-throughput operations: Create, Get, List, Update and Delete
//! ProvisionedModelThroughput, validated with Coral's messages and applied to the caller's
//! (account, region) space ([`crate::backend::provisioned`] keeps the behaviour).

use serde_json::{json, Map, Value};

use super::{coral, listing, Request, Services};
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

/// The injected clock's reading in microseconds.
pub fn clock_us(services: &Services) -> u64 {
    u64::try_from(services.clock.now().as_micros()).unwrap_or(u64::MAX)
}

/// Answers a provisioned-throughput operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
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
    let window = listing::time_window(req, "creationTimeAfter", "creationTimeBefore")?;
    let status = input.get("statusEquals").and_then(Value::as_str);
    let model = input.get("modelArnEquals").and_then(Value::as_str);
    let name = input.get("nameContains").and_then(Value::as_str);
    let items = services
        .state
        .read(scope, |space| provisioned::all(space, at))
        .into_iter()
        .filter(|(_, _, v)| status.is_none_or(|s| v["status"] == s))
        .filter(|(_, _, v)| model.is_none_or(|m| v["modelArn"] == m))
        .filter(|(_, _, v)| name.is_none_or(|n| v["provisionedModelName"].as_str().is_some_and(|p| p.contains(n))))
        .filter(|(_, _, v)| listing::in_window(v["creationTime"].as_str(), window))
        .map(|(created, id, v)| (created, id, provisioned::summary(&v)))
        .collect();
    listing::page_by_creation(items, input, "provisioned", "provisionedModelSummaries", DEFAULT_PAGE)
}
