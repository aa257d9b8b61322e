//! The advanced-prompt-optimization operations ([`crate::backend::prompt_optimization`]).

use serde_json::{json, Value};

use super::{coral, Request, Services};
use crate::backend::prompt_optimization as apo;
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "CreateAdvancedPromptOptimizationJob",
    "GetAdvancedPromptOptimizationJob",
    "ListAdvancedPromptOptimizationJobs",
    "StopAdvancedPromptOptimizationJob",
    "BatchDeleteAdvancedPromptOptimizationJob",
];

const DEFAULT_PAGE: usize = 100;

/// How a completed job writes its optimized prompts.
static RESULTS: super::job_outputs::Outputs<super::prompt_optimization_results::Templates> = {
    use super::prompt_optimization_results as results;
    super::job_outputs::Outputs { sources: results::sources, parse: results::parse, objects: results::objects }
};

/// Answers an advanced-prompt-optimization operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let at = super::provisioned::clock_us(services);
    let now = now();
    let state = &services.state;
    if state.read(&scope, |space| apo::any_due(space, at)) {
        let due = state.read(&scope, |space| apo::due(space, at));
        super::job_outputs::complete(services, &scope, &RESULTS, due, |space, failed| {
            apo::settle(space, at, &now, failed)
        })?;
    }
    let (status, body) = match req.operation() {
        "CreateAdvancedPromptOptimizationJob" => {
            let token = input.get("clientToken").and_then(Value::as_str).map(str::to_string);
            let due = at.saturating_add(super::import_copy::lifecycle_us(services));
            (
                200,
                state.update(&scope, |space| {
                    space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                        apo::create(space, &scope, services.catalog, &input, &now, at, due)
                    })
                })?,
            )
        }
        "GetAdvancedPromptOptimizationJob" => {
            (200, state.read(&scope, |space| apo::get(space, &scope, req.label("jobIdentifier")))?)
        }
        "StopAdvancedPromptOptimizationJob" => {
            state.update(&scope, |space| apo::stop(space, &scope, req.label("jobIdentifier"), &now))?;
            (200, json!({}))
        }
        "BatchDeleteAdvancedPromptOptimizationJob" => {
            let ids: Vec<&str> = input["jobIdentifiers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            (202, state.update(&scope, |space| Ok(apo::batch_delete(space, &scope, &ids)))?)
        }
        "ListAdvancedPromptOptimizationJobs" => (
            200,
            super::listing::page_by_creation(
                state.read(&scope, apo::all),
                &input,
                "apo",
                "jobSummaries",
                DEFAULT_PAGE,
            )?,
        ),
        other => return Err(BedrockError::validation(format!("{other} is not a prompt-optimization operation."))),
    };
    Ok(Plan::with_status(status, body))
}
