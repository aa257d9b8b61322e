//! The account's Bedrock settings, per (account, region): the model-access use case, data
//! retention, resource policies, enforced guardrail configurations, and foundation-model
//! agreements with their offers and availability.

use serde_json::{json, Map, Value};

use super::catalog::{parse_arn, Catalog};
use super::state::{Scope, Space};
use crate::rng::stable_hash;
use crate::wire::error::{BedrockError, ErrorCode};

/// Kinds of the state these settings are kept under.
pub const SETTINGS: &str = "account-settings";
/// Resource policies, by resource ARN.
pub const POLICIES: &str = "resource-policy";
/// Enforced guardrail configurations, by config id.
pub const ENFORCED: &str = "enforced-guardrail";
/// Foundation-model agreements, by model id.
pub const AGREEMENTS: &str = "model-agreement";

/// PutUseCaseForModelAccess (`formData`, base64 as the wire carries it).
pub fn put_use_case(space: &mut Space, form: &Value) {
    space.put(SETTINGS, "use-case", json!({"formData": form}));
}

/// GetUseCaseForModelAccess.
pub fn get_use_case(space: &Space) -> Result<Value, BedrockError> {
    space
        .get(SETTINGS, "use-case")
        .cloned()
        .ok_or_else(|| BedrockError::not_found("No use case for model access has been submitted for this account."))
}

/// GetAccountDataRetention (`default` until one is put).
pub fn get_retention(space: &Space) -> Value {
    space.get(SETTINGS, "data-retention").cloned().unwrap_or_else(|| json!({"mode": "default"}))
}

/// PutAccountDataRetention.
pub fn put_retention(space: &mut Space, mode: &str, now: &str) -> Value {
    let doc = json!({"mode": mode, "updatedAt": now});
    space.put(SETTINGS, "data-retention", doc.clone());
    doc
}

/// The resource a policy names must be a Bedrock ARN of the caller's account and region.
fn policy_arn<'a>(scope: &Scope, arn: &'a str) -> Result<&'a str, BedrockError> {
    match parse_arn(arn) {
        Some(a) if a.account == scope.account && a.region == scope.region => Ok(arn),
        _ => Err(BedrockError::validation(format!(
            "The resource ARN {arn} is not a Bedrock resource of account {} in {}.",
            scope.account, scope.region
        ))),
    }
}

/// PutResourcePolicy (the document must be a JSON object, as IAM policies are).
pub fn put_policy(space: &mut Space, scope: &Scope, arn: &str, policy: &str) -> Result<Value, BedrockError> {
    let arn = policy_arn(scope, arn)?;
    if !serde_json::from_str::<Value>(policy).is_ok_and(|v| v.is_object()) {
        return Err(BedrockError::validation("The resource policy is not a valid JSON policy document."));
    }
    space.put(POLICIES, arn, json!({"resourcePolicy": policy}));
    Ok(json!({"resourceArn": arn}))
}

fn no_policy(arn: &str) -> BedrockError {
    BedrockError::not_found(format!("No resource policy is attached to {arn}."))
}

/// GetResourcePolicy.
pub fn get_policy(space: &Space, arn: &str) -> Result<Value, BedrockError> {
    space.get(POLICIES, arn).cloned().ok_or_else(|| no_policy(arn))
}

/// DeleteResourcePolicy.
pub fn delete_policy(space: &mut Space, arn: &str) -> Result<(), BedrockError> {
    space.remove(POLICIES, arn).map(|_| ()).ok_or_else(|| no_policy(arn))
}

/// PutEnforcedGuardrailConfiguration: creates the account's configuration (one at most), or
/// updates the one `configId` names. `guardrail` is the stored guardrail it enforces.
pub fn put_enforced(
    space: &mut Space,
    input: &Map<String, Value>,
    guardrail: &Value,
    caller: &str,
    now: &str,
) -> Result<Value, BedrockError> {
    let config = &input["guardrailInferenceConfig"];
    let id = match input.get("configId").and_then(Value::as_str) {
        Some(id) => {
            if space.get(ENFORCED, id).is_none() {
                return Err(BedrockError::not_found(format!(
                    "The enforced guardrail configuration {id} could not be found."
                )));
            }
            id.to_string()
        }
        None => {
            if space.count(ENFORCED) > 0 {
                return Err(BedrockError::new(
                    ErrorCode::ConflictException,
                    "This account already has an enforced guardrail configuration: name its configId to update it.",
                ));
            }
            space.mint_id(ENFORCED, 12)
        }
    };
    let created = space.get(ENFORCED, &id).map_or_else(|| json!(now), |d| d["createdAt"].clone());
    let mut doc = json!({
        "configId": id,
        "guardrailArn": guardrail["guardrailArn"],
        "guardrailId": guardrail["guardrailId"],
        "guardrailVersion": config["guardrailVersion"],
        "createdAt": created,
        "createdBy": caller,
        "updatedAt": now,
        "updatedBy": caller,
        "owner": "ACCOUNT",
        // Derived: message input tags are honoured only in SELECTIVE mode.
        "inputTags": if config["selectiveContentGuarding"]["messages"] == "SELECTIVE" { "HONOR" } else { "IGNORE" },
    });
    for key in ["selectiveContentGuarding", "modelEnforcement"] {
        if let Some(v) = config.get(key) {
            doc[key] = v.clone();
        }
    }
    space.put(ENFORCED, &id, doc);
    Ok(json!({"configId": id, "updatedAt": now, "updatedBy": caller}))
}

/// DeleteEnforcedGuardrailConfiguration.
pub fn delete_enforced(space: &mut Space, id: &str) -> Result<(), BedrockError> {
    space.remove(ENFORCED, id).map(|_| ()).ok_or_else(|| {
        BedrockError::not_found(format!("The enforced guardrail configuration {id} could not be found."))
    })
}

/// The enforced configuration that applies to a request answered for `model_ids` (the
/// foundation model's id and the `modelId` as sent): every model without `modelEnforcement`,
/// else those `includedModels` names (or `ALL`) and `excludedModels` does not.
pub fn enforced_for<'s>(space: &'s Space, model_ids: &[&str]) -> Option<&'s Value> {
    space.all(ENFORCED).map(|(_, d)| d).find(|d| {
        let Some(enforcement) = d.get("modelEnforcement") else { return true };
        let names = |key: &str, all: bool| {
            enforcement[key].as_array().is_some_and(|list| {
                list.iter().filter_map(Value::as_str).any(|m| (all && m == "ALL") || model_ids.contains(&m))
            })
        };
        names("includedModels", true) && !names("excludedModels", false)
    })
}

/// ListEnforcedGuardrailsConfiguration.
pub fn list_enforced(space: &Space) -> Value {
    json!({"guardrailsConfig": space.all(ENFORCED).map(|(_, d)| d.clone()).collect::<Vec<_>>()})
}

fn model_or_not_found(catalog: &'static Catalog, model_id: &str) -> Result<String, BedrockError> {
    catalog
        .model_by_identifier(model_id)
        .map(|m| m.model_id.clone())
        .ok_or_else(|| BedrockError::not_found(format!("The model {model_id} could not be found.")))
}

/// The one public offer the emulator makes for a model (its token is stable).
fn offer(model_id: &str) -> Value {
    json!({
        "offerId": format!("offer-{:016x}", stable_hash(7, model_id.as_bytes())),
        "offerToken": format!("emulator-offer-{:016x}", stable_hash(11, model_id.as_bytes())),
        "termDetails": {
            "usageBasedPricingTerm": {"rateCard": [
                {"dimension": "InputTokens", "price": "0.00", "description": "Input tokens (emulated: free)", "unit": "1K tokens"},
                {"dimension": "OutputTokens", "price": "0.00", "description": "Output tokens (emulated: free)", "unit": "1K tokens"},
            ]},
            "legalTerm": {"url": "https://aws.amazon.com/legal/bedrock/third-party-models/"},
            "supportTerm": {"refundPolicyDescription": "Not applicable: the emulator charges nothing."},
            "validityTerm": {"agreementDuration": "P1Y"},
        },
    })
}

/// ListFoundationModelAgreementOffers.
pub fn offers(catalog: &'static Catalog, model_id: &str) -> Result<Value, BedrockError> {
    let id = model_or_not_found(catalog, model_id)?;
    Ok(json!({"modelId": id, "offers": [offer(&id)]}))
}

/// CreateFoundationModelAgreement.
pub fn create_agreement(
    space: &mut Space,
    catalog: &'static Catalog,
    model_id: &str,
    token: &str,
    now: &str,
) -> Result<Value, BedrockError> {
    let id = model_or_not_found(catalog, model_id)?;
    if offer(&id)["offerToken"] != token {
        return Err(BedrockError::validation(format!(
            "The offer token is not an offer for {id}: take one from ListFoundationModelAgreementOffers."
        )));
    }
    if space.get(AGREEMENTS, &id).is_some() {
        return Err(BedrockError::new(ErrorCode::ConflictException, format!("An agreement for {id} already exists.")));
    }
    space.put(AGREEMENTS, &id, json!({"modelId": id, "createdAt": now}));
    Ok(json!({"modelId": id}))
}

/// DeleteFoundationModelAgreement.
pub fn delete_agreement(space: &mut Space, catalog: &'static Catalog, model_id: &str) -> Result<(), BedrockError> {
    let id = model_or_not_found(catalog, model_id)?;
    space
        .remove(AGREEMENTS, &id)
        .map(|_| ())
        .ok_or_else(|| BedrockError::not_found(format!("No agreement for {id} exists.")))
}

/// GetFoundationModelAvailability: Amazon's models need no agreement; others are available
/// once an agreement is made.
pub fn availability(space: &Space, catalog: &'static Catalog, model_id: &str) -> Result<Value, BedrockError> {
    let id = model_or_not_found(catalog, model_id)?;
    let agreed = id.starts_with("amazon.") || space.get(AGREEMENTS, &id).is_some();
    Ok(json!({
        "modelId": id,
        "agreementAvailability": {"status": if agreed { "AVAILABLE" } else { "NOT_AVAILABLE" }},
        "authorizationStatus": "AUTHORIZED",
        "entitlementAvailability": "AVAILABLE",
        "regionAvailability": "AVAILABLE",
    }))
}
