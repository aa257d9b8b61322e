//! Prompt routers (Create/Get/List/DeletePromptRouter): AWS's default routers (Anthropic,
//! Meta, Amazon families) and routers callers create over two models. A router's ARN is a
//! `modelId` at inference: Converse and ConverseStream requests go to the model
//! `api::prompt_routers::choose` picks for their prompt, other requests to the router's
//! fallback model.

use serde_json::{json, Map, Value};

use super::catalog::{parse_arn, Catalog};
use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// Routers callers create.
pub const KIND: &str = "prompt-router";
/// The ARN type of AWS's default routers.
pub const DEFAULT_KIND: &str = "default-prompt-router";

/// AWS's default routers: (id, description, the two models' system profiles, fallback).
const DEFAULTS: &[(&str, &str, [&str; 2])] = &[
    (
        "anthropic.claude:1",
        "Routes requests among models in the Claude family",
        ["anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"],
    ),
    (
        "meta.llama:1",
        "Routes requests among models in the LLaMA family",
        ["meta.llama3-1-70b-instruct-v1:0", "meta.llama3-1-8b-instruct-v1:0"],
    ),
    (
        "amazon.nova:1",
        "Routes requests among models in the Nova family",
        ["amazon.nova-pro-v1:0", "amazon.nova-lite-v1:0"],
    ),
];

const DEFAULT_CREATED: &str = "2024-11-20T00:00:00Z";

fn not_found(arn: &str) -> BedrockError {
    BedrockError::not_found(format!("The prompt router {arn} could not be found."))
}

/// The default routers of a region (those whose models the catalog routes there).
pub fn defaults(catalog: &'static Catalog, scope: &Scope) -> Vec<Value> {
    let geo = scope.region.split('-').next().unwrap_or("us");
    let geo = match geo {
        "us" | "eu" => geo,
        "ap" => "apac",
        _ => return Vec::new(),
    };
    DEFAULTS
        .iter()
        .filter_map(|(id, description, models)| {
            let profile = |m: &str| {
                catalog
                    .system_profile(&format!("{geo}.{m}"), &scope.region)
                    .map(|p| p.summary(&scope.region, &scope.account)["inferenceProfileArn"].clone())
            };
            let arns = [profile(models[0])?, profile(models[1])?];
            Some(json!({
                "promptRouterName": format!("{} Prompt Router", id.split('.').nth(1).unwrap_or(id).split(':').next().unwrap_or(id)),
                "routingCriteria": {"responseQualityDifference": 0.0},
                "description": description,
                "createdAt": DEFAULT_CREATED,
                "updatedAt": DEFAULT_CREATED,
                "promptRouterArn": scope.arn(&format!("{DEFAULT_KIND}/{id}")),
                "models": arns.iter().map(|a| json!({"modelArn": a})).collect::<Vec<_>>(),
                "fallbackModel": {"modelArn": arns[0]},
                "status": "AVAILABLE",
                "type": "default",
            }))
        })
        .collect()
}

/// Whether `arn` names a model a router can route to: a foundation model or an inference
/// profile the catalog knows.
fn routable(catalog: &'static Catalog, scope: &Scope, arn: &str) -> bool {
    match parse_arn(arn) {
        Some(a) if a.resource_type == "foundation-model" => catalog.model(a.resource_id).is_some(),
        Some(a) if a.resource_type == "inference-profile" => catalog.system_profile(arn, &scope.region).is_some(),
        _ => false,
    }
}

/// CreatePromptRouter (input validated).
pub fn create(
    space: &mut Space,
    scope: &Scope,
    catalog: &'static Catalog,
    input: &Map<String, Value>,
    now: &str,
) -> Result<Value, BedrockError> {
    let name = input["promptRouterName"].as_str().unwrap_or_default();
    if space.all(KIND).any(|(_, d)| d["promptRouterName"] == name) {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("A prompt router named {name} already exists."),
        ));
    }
    let models: Vec<&str> = input["models"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["modelArn"].as_str()).collect())
        .unwrap_or_default();
    if models.len() != 2 {
        return Err(BedrockError::validation("A prompt router routes between exactly 2 models."));
    }
    if let Some(bad) = models.iter().find(|m| !routable(catalog, scope, m)) {
        return Err(BedrockError::not_found(format!("The model {bad} could not be found.")));
    }
    let fallback = input["fallbackModel"]["modelArn"].as_str().unwrap_or_default();
    if !models.contains(&fallback) {
        return Err(BedrockError::validation("The fallback model must be one of the router's models."));
    }
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("{KIND}/{id}"));
    let mut doc = json!({
        "promptRouterName": name,
        "routingCriteria": input["routingCriteria"],
        "createdAt": now,
        "updatedAt": now,
        "promptRouterArn": arn,
        "models": input["models"],
        "fallbackModel": input["fallbackModel"],
        "status": "AVAILABLE",
        "type": "custom",
        "_tags": input.get("tags").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(d) = input.get("description") {
        doc["description"] = d.clone();
    }
    space.put(KIND, &id, doc);
    Ok(json!({"promptRouterArn": arn}))
}

fn custom_id<'a>(scope: &Scope, arn: &'a str) -> Option<&'a str> {
    let a = parse_arn(arn)?;
    (a.resource_type == KIND && a.account == scope.account && a.region == scope.region).then_some(a.resource_id)
}

/// GetPromptRouter (a default or a created router).
pub fn get(space: &Space, scope: &Scope, catalog: &'static Catalog, arn: &str) -> Result<Value, BedrockError> {
    if let Some(d) = defaults(catalog, scope).into_iter().find(|d| d["promptRouterArn"] == arn) {
        return Ok(d);
    }
    custom_id(scope, arn).and_then(|id| space.get(KIND, id)).map(public).ok_or_else(|| not_found(arn))
}

/// Every router of `ty` (`default`, `custom`, or both), defaults first, then by creation.
pub fn list(space: &Space, scope: &Scope, catalog: &'static Catalog, ty: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    if ty != Some("custom") {
        out.extend(defaults(catalog, scope));
    }
    if ty != Some("default") {
        let mut custom: Vec<&Value> = space.all(KIND).map(|(_, d)| d).collect();
        custom.sort_by(|a, b| {
            (a["createdAt"].as_str(), a["promptRouterArn"].as_str())
                .cmp(&(b["createdAt"].as_str(), b["promptRouterArn"].as_str()))
        });
        out.extend(custom.into_iter().map(public));
    }
    out
}

/// DeletePromptRouter (default routers cannot be deleted).
pub fn delete(space: &mut Space, scope: &Scope, arn: &str) -> Result<(), BedrockError> {
    if parse_arn(arn).is_some_and(|a| a.resource_type == DEFAULT_KIND) {
        return Err(BedrockError::validation(format!(
            "The prompt router {arn} is a default router and cannot be deleted."
        )));
    }
    let id = custom_id(scope, arn).ok_or_else(|| not_found(arn))?;
    space.remove(KIND, id).map(|_| ()).ok_or_else(|| not_found(arn))
}

/// The router `arn` names, as Get shows it.
pub fn find(space: &Space, scope: &Scope, catalog: &'static Catalog, arn: &str) -> Option<Value> {
    get(space, scope, catalog, arn).ok()
}

/// The model a router sends a request to (its fallback model's id or profile id).
pub fn route(space: &Space, scope: &Scope, catalog: &'static Catalog, arn: &str) -> Option<String> {
    let router = get(space, scope, catalog, arn).ok()?;
    let fallback = router["fallbackModel"]["modelArn"].as_str()?;
    let target = parse_arn(fallback)?;
    Some(target.resource_id.to_string())
}
