//! The evaluation-job operations ([`crate::backend::evaluation`] keeps the lifecycle).

use serde_json::{json, Map, Value};

use super::evaluation_results as results;
use super::{coral, listing, Request, Services};
use crate::backend::evaluation;
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] =
    &["CreateEvaluationJob", "GetEvaluationJob", "ListEvaluationJobs", "StopEvaluationJob", "BatchDeleteEvaluationJob"];

const DEFAULT_PAGE: usize = 100;

/// Answers an evaluation-job operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let at = super::provisioned::clock_us(services);
    let now = now();
    let state = &services.state;
    if state.read(&scope, |space| evaluation::any_due(space, at)) {
        complete_due(services, &scope, at, &now)?;
    }
    let (status, body) = match req.operation() {
        "CreateEvaluationJob" => {
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            let due = at.saturating_add(super::import_copy::lifecycle_us(services));
            (
                202,
                state.update(&scope, |space| {
                    space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                        evaluation::create(space, &scope, services.catalog, &input, &now, at, due)
                    })
                })?,
            )
        }
        "GetEvaluationJob" => {
            (200, state.read(&scope, |space| evaluation::get(space, &scope, req.label("jobIdentifier")))?)
        }
        "ListEvaluationJobs" => (200, list(req, services, &scope, &input)?),
        "StopEvaluationJob" => {
            state.update(&scope, |space| evaluation::stop(space, &scope, req.label("jobIdentifier"), &now))?;
            (200, json!({}))
        }
        "BatchDeleteEvaluationJob" => {
            let ids: Vec<&str> = input["jobIdentifiers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            (202, state.update(&scope, |space| Ok(evaluation::batch_delete(space, &scope, &ids)))?)
        }
        other => return Err(BedrockError::validation(format!("{other} is not an evaluation operation."))),
    };
    Ok(Plan::with_status(status, body))
}

fn list(req: &Request, services: &Services, scope: &Scope, input: &Map<String, Value>) -> Result<Value, BedrockError> {
    let window = listing::time_window(req, "creationTimeAfter", "creationTimeBefore")?;
    let status = input.get("statusEquals").and_then(Value::as_str);
    let app = input.get("applicationTypeEquals").and_then(Value::as_str);
    let name = input.get("nameContains").and_then(Value::as_str);
    let items = services
        .state
        .read(scope, evaluation::all)
        .into_iter()
        .filter(|(_, _, v)| status.is_none_or(|s| v["status"] == s))
        .filter(|(_, _, v)| app.is_none_or(|a| v["applicationType"] == a))
        .filter(|(_, _, v)| name.is_none_or(|n| v["jobName"].as_str().is_some_and(|j| j.contains(n))))
        .filter(|(_, _, v)| listing::in_window(v["creationTime"].as_str(), window))
        .map(|(created, id, v)| (created, id, evaluation::summary(&v)))
        .collect();
    listing::page_by_creation(items, input, "evaluation", "jobSummaries", DEFAULT_PAGE)
}

/// How a completed automated job writes its results.
static RESULTS: super::job_outputs::Outputs<results::DatasetPrompts> =
    super::job_outputs::Outputs { sources: results::sources, parse: results::parse, objects: results::objects };

/// Completes the scope's due automated jobs and writes their results ([`super::job_outputs`]).
fn complete_due(services: &Services, scope: &Scope, at: u64, now: &str) -> Result<(), BedrockError> {
    let due = services.state.read(scope, |space| evaluation::due(space, at));
    super::job_outputs::complete(services, scope, &RESULTS, due, |space, failed| {
        evaluation::settle(space, at, now, failed)
    })
}
