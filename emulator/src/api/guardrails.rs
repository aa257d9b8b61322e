//! The guardrail operations of the control plane: CreateGuardrail, GetGuardrail,
//! ListGuardrails, UpdateGuardrail, DeleteGuardrail and CreateGuardrailVersion.
//!
//! Each request's input (body members, URI labels, query parameters) is validated against the
//! service model with Coral's messages ([`super::coral`]), then applied to the caller's
//! (account, region) space of the shared state in one atomic step
//! ([`crate::backend::guardrails`] keeps the behaviour).

use serde_json::{json, Value};

use super::{coral, Request, Services};
use crate::backend::guardrails;
use crate::backend::paging::{self, PageRequest};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "CreateGuardrail",
    "GetGuardrail",
    "ListGuardrails",
    "UpdateGuardrail",
    "DeleteGuardrail",
    "CreateGuardrailVersion",
];

/// ListGuardrails' page size when `maxResults` is absent (AWS answers 20).
const DEFAULT_PAGE: usize = 20;

/// Answers a guardrail operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let state = &services.state;
    let body = match req.operation() {
        "CreateGuardrail" => {
            let input = coral::validated_input(req)?;
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            let now = now();
            state.update(&scope, |space| {
                space.idempotent("CreateGuardrail", token.as_deref(), &Value::Object(input.clone()), |space| {
                    guardrails::create(space, &scope, &input, &now)
                })
            })?
        }
        "GetGuardrail" => {
            let input = coral::validated_input(req)?;
            let version = input.get("guardrailVersion").and_then(Value::as_str);
            state.read(&scope, |space| guardrails::get(space, &scope, req.label("guardrailIdentifier"), version))?
        }
        "ListGuardrails" => {
            let input = coral::validated_input(req)?;
            let identifier = input.get("guardrailIdentifier").and_then(Value::as_str);
            let items = state.read(&scope, |space| guardrails::list(space, &scope, identifier))?;
            let request = PageRequest {
                max_results: input.get("maxResults").and_then(Value::as_u64).map(|n| n as usize),
                next_token: input.get("nextToken").and_then(Value::as_str).map(str::to_string),
            };
            let listing = format!("guardrails/{}", identifier.unwrap_or(""));
            let page = paging::page(&listing, items, |(key, _)| key.clone(), &request, DEFAULT_PAGE)?;
            let mut body = json!({"guardrails": page.items.into_iter().map(|(_, s)| s).collect::<Vec<_>>()});
            if let Some(t) = page.next_token {
                body["nextToken"] = json!(t);
            }
            body
        }
        "UpdateGuardrail" => {
            let input = coral::validated_input(req)?;
            let now = now();
            state.update(&scope, |space| {
                guardrails::update(space, &scope, req.label("guardrailIdentifier"), &input, &now)
            })?
        }
        "DeleteGuardrail" => {
            let input = coral::validated_input(req)?;
            let version = input.get("guardrailVersion").and_then(Value::as_str);
            state
                .update(&scope, |space| guardrails::delete(space, &scope, req.label("guardrailIdentifier"), version))?;
            json!({})
        }
        "CreateGuardrailVersion" => {
            let input = coral::validated_input(req)?;
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            let description = input.get("description").and_then(Value::as_str).map(str::to_string);
            let identifier = req.label("guardrailIdentifier");
            // Keyed by the guardrail itself, so a token sent once by id and once by ARN is one
            // request.
            let id = guardrails::resolve(&scope, identifier)?;
            let now = now();
            state.update(&scope, |space| {
                space.idempotent(
                    &format!("CreateGuardrailVersion/{id}"),
                    token.as_deref(),
                    &Value::Object(input.clone()),
                    |space| guardrails::create_version(space, &scope, identifier, description.as_deref(), &now),
                )
            })?
        }
        other => return Err(BedrockError::validation(format!("{other} is not a guardrail operation."))),
    };
    Ok(Plan::json(body))
}
