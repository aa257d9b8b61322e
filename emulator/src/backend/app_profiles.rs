//! Application inference profiles (CreateInferenceProfile, DeleteInferenceProfile, and their
//! place in GetInferenceProfile / ListInferenceProfiles): a named copy of a foundation model's
//! or a system profile's routing, which callers invoke by its ARN to track cost and usage.
//! They are `ACTIVE` as soon as they are created.

use serde_json::{json, Map, Value};

use super::catalog::{parse_arn, Catalog, FoundationModel};
use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// The state kind profiles are kept under.
pub const KIND: &str = "application-inference-profile";

fn not_found(identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The inference profile {identifier} could not be found."))
}

/// The id an identifier (id or ARN) names in `scope`, if it could name an application
/// profile there.
pub fn id_of<'i>(scope: &Scope, identifier: &'i str) -> Option<&'i str> {
    super::state::id_in_scope(scope, KIND, identifier)
}

/// The model and the model ARNs a `modelSource.copyFrom` ARN routes to.
fn source(
    catalog: &'static Catalog,
    scope: &Scope,
    arn: &str,
) -> Result<(&'static FoundationModel, Vec<String>), BedrockError> {
    let missing = || {
        BedrockError::not_found(format!("The model source {arn} could not be found. Copy from a foundation model or a system-defined inference profile."))
    };
    let parsed = parse_arn(arn).ok_or_else(missing)?;
    match parsed.resource_type {
        "foundation-model" => {
            let model = catalog.model(parsed.resource_id).ok_or_else(missing)?;
            Ok((model, vec![model.arn(&scope.region)]))
        }
        "inference-profile" => {
            let profile = catalog.system_profile(arn, &scope.region).ok_or_else(missing)?;
            let summary = profile.summary(&scope.region, &scope.account);
            let models = summary["models"]
                .as_array()
                .map(|m| m.iter().filter_map(|m| m["modelArn"].as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            Ok((profile.model, models))
        }
        _ => Err(missing()),
    }
}

/// CreateInferenceProfile (input validated).
pub fn create(
    space: &mut Space,
    scope: &Scope,
    catalog: &'static Catalog,
    input: &Map<String, Value>,
    now: &str,
    clock_us: u64,
) -> Result<Value, BedrockError> {
    let name = input["inferenceProfileName"].as_str().unwrap_or_default();
    if space.all(KIND).any(|(_, p)| p["inferenceProfileName"] == name) {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("An inference profile named {name} already exists."),
        ));
    }
    let copy_from = input["modelSource"]["copyFrom"].as_str().unwrap_or_default();
    let (model, models) = source(catalog, scope, copy_from)?;
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("{KIND}/{id}"));
    let mut doc = json!({
        "inferenceProfileName": name,
        "createdAt": now,
        "updatedAt": now,
        "inferenceProfileArn": arn,
        "models": models.iter().map(|m| json!({"modelArn": m})).collect::<Vec<_>>(),
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "APPLICATION",
        "_modelId": model.model_id,
        "_createdMicros": clock_us,
        "_tags": input.get("tags").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(d) = input.get("description") {
        doc["description"] = d.clone();
    }
    space.put(KIND, &id, doc);
    Ok(json!({"inferenceProfileArn": arn, "status": "ACTIVE"}))
}

/// The stored profile an identifier names.
pub fn find<'s>(space: &'s Space, scope: &Scope, identifier: &str) -> Option<&'s Value> {
    space.get(KIND, id_of(scope, identifier)?)
}

/// GetInferenceProfile for an application profile.
pub fn get(space: &Space, scope: &Scope, identifier: &str) -> Result<Value, BedrockError> {
    find(space, scope, identifier).map(public).ok_or_else(|| not_found(identifier))
}

/// Every application profile, oldest first, each with a listing key that rises in that order
/// and stays the profile's own whatever is created or deleted meanwhile.
pub fn list(space: &Space) -> Vec<(String, Value)> {
    let mut all: Vec<(String, Value)> = space
        .all(KIND)
        .map(|(id, p)| (format!("{:020}/{id}", p["_createdMicros"].as_u64().unwrap_or(0)), public(p)))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// DeleteInferenceProfile.
pub fn delete(space: &mut Space, scope: &Scope, identifier: &str) -> Result<(), BedrockError> {
    let id = id_of(scope, identifier).ok_or_else(|| not_found(identifier))?;
    space.remove(KIND, id).map(|_| ()).ok_or_else(|| not_found(identifier))
}

/// The foundation model a profile routes to (for inference).
pub fn model_id(doc: &Value) -> Option<&str> {
    doc["_modelId"].as_str()
}
