//! The account-settings operations of the control plane: the model-access use case, data
//! retention, resource policies, enforced guardrail configurations, and foundation-model
//! agreements ([`crate::backend::account_settings`] keeps the behaviour).

use serde_json::{json, Map, Value};

use super::{coral, Request, Services};
use crate::backend::account_settings as settings;
use crate::backend::guardrails;
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "PutUseCaseForModelAccess",
    "GetUseCaseForModelAccess",
    "GetAccountDataRetention",
    "PutAccountDataRetention",
    "PutResourcePolicy",
    "GetResourcePolicy",
    "DeleteResourcePolicy",
    "PutEnforcedGuardrailConfiguration",
    "DeleteEnforcedGuardrailConfiguration",
    "ListEnforcedGuardrailsConfiguration",
    "CreateFoundationModelAgreement",
    "DeleteFoundationModelAgreement",
    "ListFoundationModelAgreementOffers",
    "GetFoundationModelAvailability",
];

fn text<'a>(input: &'a Map<String, Value>, key: &str) -> &'a str {
    input.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Answers an account-settings operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let state = &services.state;
    let catalog = services.catalog;
    let now = now();
    let (status, body) = match req.operation() {
        "PutUseCaseForModelAccess" => {
            state.update(&scope, |space| {
                settings::put_use_case(space, &input["formData"]);
                Ok(())
            })?;
            (201, json!({}))
        }
        "GetUseCaseForModelAccess" => (200, state.read(&scope, settings::get_use_case)?),
        "GetAccountDataRetention" => (200, state.read(&scope, settings::get_retention)),
        "PutAccountDataRetention" => {
            (200, state.update(&scope, |space| Ok(settings::put_retention(space, text(&input, "mode"), &now)))?)
        }
        "PutResourcePolicy" => (
            201,
            state.update(&scope, |space| {
                settings::put_policy(space, &scope, text(&input, "resourceArn"), text(&input, "resourcePolicy"))
            })?,
        ),
        "GetResourcePolicy" => {
            (200, state.read(&scope, |space| settings::get_policy(space, req.label("resourceArn")))?)
        }
        "DeleteResourcePolicy" => {
            state.update(&scope, |space| settings::delete_policy(space, req.label("resourceArn")))?;
            (200, json!({}))
        }
        "PutEnforcedGuardrailConfiguration" => {
            let config = &input["guardrailInferenceConfig"];
            let identifier = config["guardrailIdentifier"].as_str().unwrap_or_default();
            let version = config["guardrailVersion"].as_str().unwrap_or_default();
            let guardrail = state.read(&scope, |space| guardrails::get(space, &scope, identifier, Some(version)))?;
            let caller = format!("arn:aws:iam::{}:root", scope.account);
            (200, state.update(&scope, |space| settings::put_enforced(space, &input, &guardrail, &caller, &now))?)
        }
        "DeleteEnforcedGuardrailConfiguration" => {
            state.update(&scope, |space| settings::delete_enforced(space, req.label("configId")))?;
            (200, json!({}))
        }
        "ListEnforcedGuardrailsConfiguration" => (200, state.read(&scope, settings::list_enforced)),
        "CreateFoundationModelAgreement" => (
            202,
            state.update(&scope, |space| {
                settings::create_agreement(space, catalog, text(&input, "modelId"), text(&input, "offerToken"), &now)
            })?,
        ),
        "DeleteFoundationModelAgreement" => {
            state.update(&scope, |space| settings::delete_agreement(space, catalog, text(&input, "modelId")))?;
            (202, json!({}))
        }
        "ListFoundationModelAgreementOffers" => (200, settings::offers(catalog, req.label("modelId"))?),
        "GetFoundationModelAvailability" => {
            (200, state.read(&scope, |space| settings::availability(space, catalog, req.label("modelId")))?)
        }
        other => return Err(BedrockError::validation(format!("{other} is not an account-settings operation."))),
    };
    Ok(Plan::with_status(status, body))
}
