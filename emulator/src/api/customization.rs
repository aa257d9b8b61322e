//! The model-customization operations: customization jobs, custom models and custom model
//! deployments ([`crate::backend::customization`] keeps the lifecycles).

use serde_json::{json, Map, Value};

use super::{coral, Request, Services};
use crate::backend::customization::{self as custom, Times, DEPLOYMENT_KIND, JOB_KIND, MODEL_KIND};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "CreateModelCustomizationJob",
    "GetModelCustomizationJob",
    "ListModelCustomizationJobs",
    "StopModelCustomizationJob",
    "CreateCustomModel",
    "GetCustomModel",
    "ListCustomModels",
    "DeleteCustomModel",
    "CreateCustomModelDeployment",
    "GetCustomModelDeployment",
    "ListCustomModelDeployments",
    "UpdateCustomModelDeployment",
    "DeleteCustomModelDeployment",
];

/// Listings' page size when `maxResults` is absent.
const DEFAULT_PAGE: usize = 100;

fn text<'a>(input: &'a Map<String, Value>, key: &str) -> &'a str {
    input.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Answers a customization operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let at = super::provisioned::clock_us(services);
    let now = now();
    let lifecycle = u64::try_from(services.async_invoke.duration.as_micros()).unwrap_or(u64::MAX);
    let t = Times { now: &now, clock_us: at, due_us: at.saturating_add(lifecycle) };
    let state = &services.state;
    let catalog = services.catalog;
    let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
    let create = |f: &dyn Fn(&mut crate::backend::state::Space) -> Result<Value, BedrockError>| {
        state.update(&scope, |space| {
            space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| f(space))
        })
    };
    settle(services, &scope, at)?;
    let (status, body) = match req.operation() {
        "CreateModelCustomizationJob" => {
            (201, create(&|space| custom::create_job(space, &scope, catalog, &input, &t))?)
        }
        "GetModelCustomizationJob" => {
            (200, state.read(&scope, |space| custom::get_job(space, &scope, req.label("jobIdentifier")))?)
        }
        "StopModelCustomizationJob" => {
            state.update(&scope, |space| custom::stop_job(space, &scope, req.label("jobIdentifier"), &now))?;
            (200, json!({}))
        }
        "ListModelCustomizationJobs" => (200, list(req, services, &scope, &input, Listing::Jobs, at)?),
        "CreateCustomModel" => (202, create(&|space| custom::create_model(space, &scope, catalog, &input, &t))?),
        "GetCustomModel" => {
            (200, state.read(&scope, |space| custom::get_model(space, &scope, req.label("modelIdentifier"), at))?)
        }
        "ListCustomModels" => (200, list(req, services, &scope, &input, Listing::Models, at)?),
        "DeleteCustomModel" => {
            state.update(&scope, |space| custom::delete_model(space, &scope, req.label("modelIdentifier"), at))?;
            (200, json!({}))
        }
        "CreateCustomModelDeployment" => (202, create(&|space| custom::create_deployment(space, &scope, &input, &t))?),
        "GetCustomModelDeployment" => (
            200,
            state.read(&scope, |space| {
                custom::get_deployment(space, &scope, req.label("customModelDeploymentIdentifier"), at)
            })?,
        ),
        "ListCustomModelDeployments" => (200, list(req, services, &scope, &input, Listing::Deployments, at)?),
        "UpdateCustomModelDeployment" => (
            202,
            state.update(&scope, |space| {
                custom::update_deployment(
                    space,
                    &scope,
                    req.label("customModelDeploymentIdentifier"),
                    text(&input, "modelArn"),
                    &t,
                )
            })?,
        ),
        "DeleteCustomModelDeployment" => {
            state.update(&scope, |space| {
                custom::delete_deployment(space, &scope, req.label("customModelDeploymentIdentifier"))
            })?;
            (200, json!({}))
        }
        other => return Err(BedrockError::validation(format!("{other} is not a customization operation."))),
    };
    Ok(Plan::with_status(status, body))
}

/// Completes the scope's due jobs (their metrics files written after the state change).
fn settle(services: &Services, scope: &Scope, at: u64) -> Result<(), BedrockError> {
    if !services.state.read(scope, |space| custom::any_job_due(space, at)) {
        return Ok(());
    }
    let now = now();
    let objects = services.state.update(scope, |space| Ok(custom::settle_jobs(space, scope, at, &now)))?;
    let store = &services.async_invoke.store;
    if objects.is_empty() {
        return Ok(());
    }
    if !store.is_remote() {
        if let Err(e) = store.put_local(&objects) {
            tracing::warn!(error = %e, "customization metrics not written");
        }
        return Ok(());
    }
    let store = store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.put(objects).await {
            tracing::warn!(error = %e, "customization metrics not written");
        }
    });
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Listing {
    Jobs,
    Models,
    Deployments,
}

fn list(
    req: &Request,
    services: &Services,
    scope: &Scope,
    input: &Map<String, Value>,
    listing: Listing,
    at: u64,
) -> Result<Value, BedrockError> {
    let (kind, created, name_member, result) = match listing {
        Listing::Jobs => (JOB_KIND, "creationTime", "jobName", "modelCustomizationJobSummaries"),
        Listing::Models => (MODEL_KIND, "creationTime", "modelName", "modelSummaries"),
        Listing::Deployments => (DEPLOYMENT_KIND, "createdAt", "modelDeploymentName", "modelDeploymentSummaries"),
    };
    let (after_key, before_key) = if listing == Listing::Deployments {
        ("createdAfter", "createdBefore")
    } else {
        ("creationTimeAfter", "creationTimeBefore")
    };
    let window = super::listing::time_window(req, after_key, before_key)?;
    let name = input.get("nameContains").and_then(Value::as_str);
    let status = input.get("statusEquals").or_else(|| input.get("modelStatus")).and_then(Value::as_str);
    let status_member = if listing == Listing::Models { "modelStatus" } else { "status" };
    let base =
        input.get("baseModelArnEquals").or_else(|| input.get("foundationModelArnEquals")).and_then(Value::as_str);
    let model = input.get("modelArnEquals").and_then(Value::as_str);
    let owned = input.get("isOwned").and_then(Value::as_bool);
    let items = services
        .state
        .read(scope, |space| custom::all(space, kind, at))
        .into_iter()
        .filter(|(_, _, v)| name.is_none_or(|n| v[name_member].as_str().is_some_and(|s| s.contains(n))))
        .filter(|(_, _, v)| status.is_none_or(|s| v[status_member] == s))
        .filter(|(_, _, v)| base.is_none_or(|b| v["baseModelArn"] == b))
        .filter(|(_, _, v)| model.is_none_or(|m| v["modelArn"] == m))
        .filter(|_| owned != Some(false))
        .filter(|(_, _, v)| super::listing::in_window(v[created].as_str(), window))
        .map(|(at_us, id, v)| (at_us, id, summary(listing, &v, scope)))
        .collect();
    super::listing::page_by_creation(items, input, kind, result, DEFAULT_PAGE)
}

fn summary(listing: Listing, v: &Value, scope: &Scope) -> Value {
    let pick = |keys: &[&str]| {
        let mut s = Map::new();
        for k in keys {
            if let Some(x) = v.get(*k) {
                s.insert((*k).to_string(), x.clone());
            }
        }
        Value::Object(s)
    };
    match listing {
        Listing::Jobs => {
            let mut s = pick(&[
                "jobArn",
                "baseModelArn",
                "jobName",
                "status",
                "lastModifiedTime",
                "creationTime",
                "endTime",
                "customizationType",
            ]);
            if let Some(arn) = v.get("outputModelArn") {
                s["customModelArn"] = arn.clone();
            }
            s["customModelName"] = v["outputModelName"].clone();
            s
        }
        Listing::Models => custom::model_summary(v, scope),
        Listing::Deployments => {
            let mut s = pick(&[
                "customModelDeploymentArn",
                "modelArn",
                "createdAt",
                "status",
                "lastUpdatedAt",
                "failureMessage",
            ]);
            s["customModelDeploymentName"] = v["modelDeploymentName"].clone();
            s
        }
    }
}
