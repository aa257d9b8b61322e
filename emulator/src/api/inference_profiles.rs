//! Inference profiles: the system-defined ones of the catalog (SPEC §8.2) and the application
//! profiles callers create (CreateInferenceProfile, DeleteInferenceProfile), listed and read
//! together.

use serde_json::{json, Value};

use super::validate::{check_enum, constraint};
use super::{coral, Request, Services};
use crate::backend::app_profiles;
use crate::backend::paging::{self, PageRequest};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// Default page size when `maxResults` is absent (the whole catalog fits in one page).
const DEFAULT_PAGE: usize = 1000;

/// `GET /inference-profiles?maxResults&nextToken&type`: system profiles first, then the
/// application profiles in creation order.
pub fn list(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let catalog = services.catalog;
    let max = match req.query("maxResults") {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(constraint(&json!(v), "maxResults", "have value between 1 and 1000")),
        },
    };
    let ty = req.query("type");
    if let Some(t) = ty {
        check_enum(t, "typeEquals", &["SYSTEM_DEFINED", "APPLICATION"])?;
    }
    // Keys rise in listing order and belong to their profile: system profiles by catalog
    // position, then application profiles by creation, so a page boundary survives profiles
    // being created or deleted between pages.
    let mut keyed: Vec<(String, Value)> = if ty == Some("APPLICATION") {
        Vec::new()
    } else {
        catalog
            .system_profiles(&req.region)
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("0/{i:06}"), p.summary(&req.region, &req.account)))
            .collect()
    };
    if ty != Some("SYSTEM_DEFINED") {
        let scope = Scope::new(&req.account, &req.region);
        keyed.extend(services.state.read(&scope, app_profiles::list).into_iter().map(|(k, p)| (format!("1/{k}"), p)));
    }
    let request = PageRequest { max_results: Some(max), next_token: req.query("nextToken").map(str::to_string) };
    let page = paging::page("inference-profiles", keyed, |(key, _)| key.clone(), &request, DEFAULT_PAGE)?;
    let mut body = json!({"inferenceProfileSummaries": page.items.into_iter().map(|(_, p)| p).collect::<Vec<_>>()});
    if let Some(token) = page.next_token {
        body["nextToken"] = json!(token);
    }
    Ok(Plan::json(body))
}

/// `GET /inference-profiles/{inferenceProfileIdentifier}` (id or ARN).
pub fn get(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let id = req.label("inferenceProfileIdentifier");
    if let Some(profile) = services.catalog.system_profile(id, &req.region) {
        return Ok(Plan::json(profile.summary(&req.region, &req.account)));
    }
    let scope = Scope::new(&req.account, &req.region);
    Ok(Plan::json(services.state.read(&scope, |space| app_profiles::get(space, &scope, id))?))
}

/// CreateInferenceProfile and DeleteInferenceProfile.
pub fn change(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock", req.operation(), &Value::Object(input.clone()))?;
    let scope = Scope::new(&req.account, &req.region);
    if req.operation() == "DeleteInferenceProfile" {
        let id = req.label("inferenceProfileIdentifier");
        if services.catalog.system_profile(id, &req.region).is_some() {
            return Err(BedrockError::validation(format!(
                "The inference profile {id} is system-defined; only application inference profiles can be deleted."
            )));
        }
        services.state.update(&scope, |space| app_profiles::delete(space, &scope, id))?;
        return Ok(Plan::json(json!({})));
    }
    let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
    let now = now();
    let body = services.state.update(&scope, |space| {
        space.idempotent("CreateInferenceProfile", token.as_deref(), &Value::Object(input.clone()), |space| {
            app_profiles::create(space, &scope, services.catalog, &input, &now, super::provisioned::clock_us(services))
        })
    })?;
    Ok(Plan::with_status(201, body))
}
