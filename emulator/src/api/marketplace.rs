//! The marketplace-endpoint operations ([`crate::backend::marketplace`] keeps the behaviour).

use serde_json::{json, Value};

use super::{coral, Request, Services};
use crate::backend::marketplace;
use crate::backend::paging::{self, PageRequest};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "CreateMarketplaceModelEndpoint",
    "GetMarketplaceModelEndpoint",
    "ListMarketplaceModelEndpoints",
    "UpdateMarketplaceModelEndpoint",
    "DeleteMarketplaceModelEndpoint",
    "RegisterMarketplaceModelEndpoint",
    "DeregisterMarketplaceModelEndpoint",
];

const DEFAULT_PAGE: usize = 100;

/// Answers a marketplace-endpoint operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let at = super::provisioned::clock_us(services);
    let ready = at.saturating_add(super::import_copy::lifecycle_us(services));
    let now = now();
    let state = &services.state;
    let text = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let body = match req.operation() {
        "CreateMarketplaceModelEndpoint" => {
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    marketplace::create(space, &scope, &input, &now, ready)
                })
            })?
        }
        "GetMarketplaceModelEndpoint" => {
            state.read(&scope, |space| marketplace::get(space, &scope, req.label("endpointArn"), at))?
        }
        "UpdateMarketplaceModelEndpoint" => state.update(&scope, |space| {
            marketplace::update(space, &scope, req.label("endpointArn"), &input["endpointConfig"], &now, ready)
        })?,
        "DeleteMarketplaceModelEndpoint" => {
            state.update(&scope, |space| marketplace::delete(space, &scope, req.label("endpointArn")))?;
            json!({})
        }
        "RegisterMarketplaceModelEndpoint" => state.update(&scope, |space| {
            marketplace::register(space, &scope, req.label("endpointIdentifier"), &text("modelSourceIdentifier"), &now)
        })?,
        "DeregisterMarketplaceModelEndpoint" => {
            state.update(&scope, |space| marketplace::deregister(space, &scope, req.label("endpointArn")))?;
            json!({})
        }
        "ListMarketplaceModelEndpoints" => {
            let source = input.get("modelSourceEquals").and_then(Value::as_str);
            let items = state.read(&scope, |space| marketplace::list(space, source, at));
            let request = PageRequest {
                max_results: input.get("maxResults").and_then(Value::as_u64).map(|n| n as usize),
                next_token: input.get("nextToken").and_then(Value::as_str).map(str::to_string),
            };
            let page = paging::page("marketplace", items, |(k, _)| k.clone(), &request, DEFAULT_PAGE)?;
            let mut body =
                json!({"marketplaceModelEndpoints": page.items.into_iter().map(|(_, s)| s).collect::<Vec<_>>()});
            if let Some(t) = page.next_token {
                body["nextToken"] = json!(t);
            }
            body
        }
        other => return Err(BedrockError::validation(format!("{other} is not a marketplace operation."))),
    };
    Ok(Plan::json(body))
}
