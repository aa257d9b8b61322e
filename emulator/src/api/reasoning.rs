//! Automated reasoning policies, their versions, test cases, build and test workflows
//! ([`crate::backend::reasoning`]).

use serde_json::{json, Value};

use super::{coral, Request, Services};
use crate::backend::paging::{self, PageRequest};
use crate::backend::reasoning;
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "CreateAutomatedReasoningPolicy",
    "GetAutomatedReasoningPolicy",
    "ListAutomatedReasoningPolicies",
    "UpdateAutomatedReasoningPolicy",
    "DeleteAutomatedReasoningPolicy",
    "CreateAutomatedReasoningPolicyVersion",
    "ExportAutomatedReasoningPolicyVersion",
    "CreateAutomatedReasoningPolicyTestCase",
    "GetAutomatedReasoningPolicyTestCase",
    "ListAutomatedReasoningPolicyTestCases",
    "UpdateAutomatedReasoningPolicyTestCase",
    "DeleteAutomatedReasoningPolicyTestCase",
    "StartAutomatedReasoningPolicyBuildWorkflow",
    "GetAutomatedReasoningPolicyBuildWorkflow",
    "ListAutomatedReasoningPolicyBuildWorkflows",
    "CancelAutomatedReasoningPolicyBuildWorkflow",
    "DeleteAutomatedReasoningPolicyBuildWorkflow",
    "GetAutomatedReasoningPolicyBuildWorkflowResultAssets",
    "GetAutomatedReasoningPolicyAnnotations",
    "UpdateAutomatedReasoningPolicyAnnotations",
    "GetAutomatedReasoningPolicyNextScenario",
    "StartAutomatedReasoningPolicyTestWorkflow",
    "GetAutomatedReasoningPolicyTestResult",
    "ListAutomatedReasoningPolicyTestResults",
];

const DEFAULT_PAGE: usize = 100;

/// Answers an automated-reasoning operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let now = now();
    let state = &services.state;
    let arn = req.label("policyArn");
    let workflow = req.label("buildWorkflowId");
    let at = super::provisioned::clock_us(services);
    let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
    let text = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let page = |items: Vec<(String, Value)>, listing: &str, key: &str| -> Result<Value, BedrockError> {
        let request = PageRequest {
            max_results: input.get("maxResults").and_then(Value::as_u64).map(|n| n as usize),
            next_token: input.get("nextToken").and_then(Value::as_str).map(str::to_string),
        };
        let page = paging::page(listing, items, |(k, _)| k.clone(), &request, DEFAULT_PAGE)?;
        let mut body = json!({ key: page.items.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
        if let Some(t) = page.next_token {
            body["nextToken"] = json!(t);
        }
        Ok(body)
    };
    let (status, body) = match req.operation() {
        "CreateAutomatedReasoningPolicy" => (
            200,
            state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    reasoning::create(space, &scope, &input, &now)
                })
            })?,
        ),
        "GetAutomatedReasoningPolicy" => (200, state.read(&scope, |space| reasoning::get(space, &scope, arn))?),
        "ExportAutomatedReasoningPolicyVersion" => {
            (200, state.read(&scope, |space| reasoning::export(space, &scope, arn))?)
        }
        "ListAutomatedReasoningPolicies" => {
            let of = input.get("policyArn").and_then(Value::as_str);
            let items = state.read(&scope, |space| reasoning::list(space, &scope, of))?;
            (200, page(items, &format!("reasoning/{}", of.unwrap_or("")), "automatedReasoningPolicySummaries")?)
        }
        "UpdateAutomatedReasoningPolicy" => {
            (200, state.update(&scope, |space| reasoning::update(space, &scope, arn, &input, &now))?)
        }
        "DeleteAutomatedReasoningPolicy" => {
            let force = input.get("force").and_then(Value::as_bool).unwrap_or(false);
            state.update(&scope, |space| reasoning::delete(space, &scope, arn, force))?;
            (202, json!({}))
        }
        "CreateAutomatedReasoningPolicyVersion" => (
            200,
            state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    reasoning::create_version(space, &scope, arn, &text("lastUpdatedDefinitionHash"), &now)
                })
            })?,
        ),
        "CreateAutomatedReasoningPolicyTestCase" => (
            200,
            state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    reasoning::create_test(space, &scope, arn, &input, &now)
                })
            })?,
        ),
        "GetAutomatedReasoningPolicyTestCase" => {
            (200, state.read(&scope, |space| reasoning::get_test(space, &scope, arn, req.label("testCaseId")))?)
        }
        "ListAutomatedReasoningPolicyTestCases" => {
            let items = state.read(&scope, |space| reasoning::list_tests(space, &scope, arn))?;
            (200, page(items, &format!("reasoning-tests/{arn}"), "testCases")?)
        }
        "UpdateAutomatedReasoningPolicyTestCase" => (
            200,
            state.update(&scope, |space| {
                reasoning::update_test(space, &scope, arn, req.label("testCaseId"), &input, &now)
            })?,
        ),
        "DeleteAutomatedReasoningPolicyTestCase" => {
            let seen = text("lastUpdatedAt");
            state.update(&scope, |space| reasoning::delete_test(space, &scope, arn, req.label("testCaseId"), &seen))?;
            (202, json!({}))
        }
        "StartAutomatedReasoningPolicyBuildWorkflow" => {
            let mut rng = crate::rng::SplitMix64::new(crate::rng::stable_hash(services.seed, now.as_bytes()) ^ at);
            let start = reasoning::Start {
                now: &now,
                due_us: at.saturating_add(super::import_copy::lifecycle_us(services)),
                id: rng.uuid(),
            };
            let kind = req.label("buildWorkflowType").to_string();
            (
                200,
                state.update(&scope, |space| {
                    space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                        reasoning::start_build(space, &scope, arn, &kind, &input["sourceContent"], &start)
                    })
                })?,
            )
        }
        "GetAutomatedReasoningPolicyBuildWorkflow" => {
            (200, state.read(&scope, |space| reasoning::get_build(space, &scope, arn, workflow, at))?)
        }
        "ListAutomatedReasoningPolicyBuildWorkflows" => {
            let items = state.read(&scope, |space| reasoning::list_builds(space, &scope, arn, at))?;
            (200, page(items, &format!("reasoning-builds/{arn}"), "automatedReasoningPolicyBuildWorkflowSummaries")?)
        }
        "CancelAutomatedReasoningPolicyBuildWorkflow" => {
            state.update(&scope, |space| reasoning::cancel_build(space, &scope, arn, workflow, &now, at))?;
            (202, json!({}))
        }
        "DeleteAutomatedReasoningPolicyBuildWorkflow" => {
            let seen = text("lastUpdatedAt");
            state.update(&scope, |space| reasoning::delete_build(space, &scope, arn, workflow, &seen, at))?;
            (202, json!({}))
        }
        "GetAutomatedReasoningPolicyBuildWorkflowResultAssets" => {
            let kind = text("assetType");
            (200, state.read(&scope, |space| reasoning::assets(space, &scope, arn, workflow, &kind, at))?)
        }
        "GetAutomatedReasoningPolicyAnnotations" => {
            (200, state.read(&scope, |space| reasoning::annotations(space, &scope, arn, workflow))?)
        }
        "UpdateAutomatedReasoningPolicyAnnotations" => {
            let seen = text("lastUpdatedAnnotationSetHash");
            (
                200,
                state.update(&scope, |space| {
                    reasoning::update_annotations(space, &scope, arn, workflow, &input["annotations"], &seen, &now)
                })?,
            )
        }
        "GetAutomatedReasoningPolicyNextScenario" => {
            (200, state.read(&scope, |space| reasoning::next_scenario(space, &scope, arn, workflow, at))?)
        }
        "StartAutomatedReasoningPolicyTestWorkflow" => {
            let ids = input
                .get("testCaseIds")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
            (200, state.update(&scope, |space| reasoning::start_tests(space, &scope, arn, workflow, ids, &now, at))?)
        }
        "GetAutomatedReasoningPolicyTestResult" => (
            200,
            state
                .read(&scope, |space| reasoning::test_result(space, &scope, arn, workflow, req.label("testCaseId")))?,
        ),
        "ListAutomatedReasoningPolicyTestResults" => {
            let items = state.read(&scope, |space| reasoning::test_results(space, &scope, arn, workflow))?;
            (200, page(items, &format!("reasoning-results/{arn}/{workflow}"), "testResults")?)
        }
        other => return Err(BedrockError::validation(format!("{other} is not an automated-reasoning operation."))),
    };
    Ok(Plan::with_status(status, body))
}
