//! Automated reasoning policies and their test cases ([`crate::backend::reasoning`]). Build
//! and test workflows, annotations, scenarios and test results are not emulated yet.

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
];

const DEFAULT_PAGE: usize = 100;

/// Answers an automated-reasoning operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock", req.operation(), &Value::Object(input.clone()))?;
    let now = now();
    let state = &services.state;
    let arn = req.label("policyArn");
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
        other => return Err(BedrockError::validation(format!("{other} is not an automated-reasoning operation."))),
    };
    Ok(Plan::with_status(status, body))
}
