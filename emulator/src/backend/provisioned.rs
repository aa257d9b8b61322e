//! Provisioned throughput (Create/Get/List/Update/Delete ProvisionedModelThroughput): model
//! units bought for a model, invoked by the provisioned model's ARN.
//!
//! A new one is `Creating` until the lifecycle duration has passed on the injected clock, then
//! `InService`; an update that changes the model is `Updating` for as long, after which the new
//! model serves (a rename is immediate). The status is worked out when the record is read, so
//! reads stay reads. A commitment (`OneMonth`, `SixMonths`) sets `commitmentExpirationTime`.

use serde_json::{json, Map, Value};

use super::catalog::{parse_arn, Catalog, FoundationModel};
use super::customization;
use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// The state kind provisioned models are kept under.
pub const KIND: &str = "provisioned-model";

fn not_found(identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The provisioned model {identifier} could not be found."))
}

/// The id an identifier (id, name or ARN) names in `space`.
fn id_of(space: &Space, scope: &Scope, identifier: &str) -> Option<String> {
    if let Some(arn) = parse_arn(identifier) {
        return (arn.resource_type == KIND && arn.region == scope.region && arn.account == scope.account)
            .then(|| arn.resource_id.to_string());
    }
    if space.get(KIND, identifier).is_some() {
        return Some(identifier.to_string());
    }
    space.all(KIND).find(|(_, d)| d["provisionedModelName"] == identifier).map(|(id, _)| id.clone())
}

/// The catalog model behind a provisionable model id: the id itself, or a context-length
/// variant of it (`anthropic.claude-3-haiku-20240307-v1:0:200k`, the ids AWS sells
/// throughput for).
pub fn base_model(catalog: &'static Catalog, model_id: &str) -> Option<&'static FoundationModel> {
    catalog.model_by_identifier(model_id).or_else(|| {
        let (base, variant) = model_id.rsplit_once(':')?;
        let digits = variant.strip_suffix('k')?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
        catalog.model_by_identifier(base)
    })
}

/// What a `modelId` provisions: (the model's ARN, its foundation model's ARN). A catalog
/// model (id or foundation-model ARN, a context-length variant included; any catalog model
/// may be provisioned here, AWS sells throughput for fewer), or an `Active` custom model of
/// the caller's (ARN or name), which its base model answers for.
fn provisionable(
    space: &Space,
    scope: &Scope,
    catalog: &'static Catalog,
    model_id: &str,
    clock_us: u64,
) -> Result<(String, String), BedrockError> {
    if let Ok(custom) = customization::get_model(space, scope, model_id, clock_us) {
        if custom["modelStatus"] != "Active" {
            return Err(BedrockError::validation(format!(
                "The custom model {model_id} is {} and cannot be provisioned until it is Active.",
                custom["modelStatus"].as_str().unwrap_or_default()
            )));
        }
        let arn = |key: &str| custom[key].as_str().unwrap_or_default().to_string();
        return Ok((arn("modelArn"), arn("baseModelArn")));
    }
    let id = parse_arn(model_id).map_or(model_id, |a| a.resource_id);
    base_model(catalog, id)
        .map(|_| {
            let arn = format!("arn:aws:bedrock:{}::foundation-model/{id}", scope.region);
            (arn.clone(), arn)
        })
        .ok_or_else(|| BedrockError::not_found(format!("The model {model_id} could not be found.")))
}

fn add_months(now: &str, months: u32) -> String {
    // `YYYY-MM-DDTHH:MM:SS…`: the month moves, the day is kept (clamped to 28 so every month
    // has it).
    let (Some(y), Some(m), Some(rest)) = (now.get(0..4), now.get(5..7), now.get(7..)) else { return now.to_string() };
    let (Ok(y), Ok(m)) = (y.parse::<u32>(), m.parse::<u32>()) else { return now.to_string() };
    let total = y * 12 + (m - 1) + months;
    let day: u32 = rest.get(1..3).and_then(|d| d.parse().ok()).unwrap_or(1).min(28);
    format!("{:04}-{:02}-{:02}{}", total / 12, total % 12 + 1, day, rest.get(3..).unwrap_or(""))
}

/// What a create needs besides the input.
pub struct Create<'a> {
    /// The model catalog.
    pub catalog: &'static Catalog,
    /// RFC 3339 time of the request.
    pub now: &'a str,
    /// The injected clock's reading, in microseconds.
    pub clock_us: u64,
    /// When it is ready, in microseconds.
    pub ready_us: u64,
}

/// CreateProvisionedModelThroughput (input validated).
pub fn create(
    space: &mut Space,
    scope: &Scope,
    input: &Map<String, Value>,
    c: &Create<'_>,
) -> Result<Value, BedrockError> {
    let name = input["provisionedModelName"].as_str().unwrap_or_default();
    if space.all(KIND).any(|(_, d)| d["provisionedModelName"] == name) {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("A provisioned model named {name} already exists."),
        ));
    }
    let (model_arn, foundation_arn) =
        provisionable(space, scope, c.catalog, input["modelId"].as_str().unwrap_or_default(), c.clock_us)?;
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("{KIND}/{id}"));
    let units = input["modelUnits"].clone();
    let mut doc = json!({
        "modelUnits": units,
        "desiredModelUnits": units,
        "provisionedModelName": name,
        "provisionedModelArn": arn,
        "modelArn": model_arn,
        "desiredModelArn": model_arn,
        "foundationModelArn": foundation_arn,
        "status": "Creating",
        "creationTime": c.now,
        "lastModifiedTime": c.now,
        "_readyMicros": c.ready_us,
        "_createdMicros": c.clock_us,
        "_tags": input.get("tags").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(term) = input.get("commitmentDuration").and_then(Value::as_str) {
        doc["commitmentDuration"] = json!(term);
        doc["commitmentExpirationTime"] = json!(add_months(c.now, if term == "SixMonths" { 6 } else { 1 }));
    }
    space.put(KIND, &id, doc);
    Ok(json!({"provisionedModelArn": arn}))
}

/// A record as Get answers it at `clock_us`: the status its lifecycle has reached, private
/// members left out.
pub fn view(doc: &Value, clock_us: u64) -> Value {
    let mut out = public(doc);
    if doc["_readyMicros"].as_u64().is_some_and(|t| t <= clock_us) && doc["status"] != "InService" {
        out["status"] = json!("InService");
        out["modelArn"] = doc["desiredModelArn"].clone();
    }
    out
}

/// GetProvisionedModelThroughput.
pub fn get(space: &Space, scope: &Scope, identifier: &str, clock_us: u64) -> Result<Value, BedrockError> {
    let id = id_of(space, scope, identifier).ok_or_else(|| not_found(identifier))?;
    space.get(KIND, &id).map(|d| view(d, clock_us)).ok_or_else(|| not_found(identifier))
}

/// The summary members of a record (ListProvisionedModelThroughputs).
pub fn summary(view: &Value) -> Value {
    let mut s = Map::new();
    for key in [
        "provisionedModelName",
        "provisionedModelArn",
        "modelArn",
        "desiredModelArn",
        "foundationModelArn",
        "modelUnits",
        "desiredModelUnits",
        "status",
        "commitmentDuration",
        "commitmentExpirationTime",
        "creationTime",
        "lastModifiedTime",
    ] {
        if let Some(v) = view.get(key) {
            s.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(s)
}

/// Every record at `clock_us` with its creation time on the clock, oldest first.
pub fn all(space: &Space, clock_us: u64) -> Vec<(u64, String, Value)> {
    let mut out: Vec<(u64, String, Value)> = space
        .all(KIND)
        .map(|(id, d)| (d["_createdMicros"].as_u64().unwrap_or(0), id.clone(), view(d, clock_us)))
        .collect();
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out
}

/// UpdateProvisionedModelThroughput (input validated).
pub fn update(
    space: &mut Space,
    scope: &Scope,
    input: &Map<String, Value>,
    c: &Create<'_>,
) -> Result<Value, BedrockError> {
    let identifier = input["provisionedModelId"].as_str().unwrap_or_default();
    let id = id_of(space, scope, identifier).ok_or_else(|| not_found(identifier))?;
    let desired_model = match input.get("desiredModelId").and_then(Value::as_str) {
        Some(m) => Some((m, provisionable(space, scope, c.catalog, m, c.clock_us)?)),
        None => None,
    };
    let new_name = input.get("desiredProvisionedModelName").and_then(Value::as_str);
    if let Some(n) = new_name {
        if space.all(KIND).any(|(other, d)| other != &id && d["provisionedModelName"] == n) {
            return Err(BedrockError::new(
                ErrorCode::ConflictException,
                format!("A provisioned model named {n} already exists."),
            ));
        }
    }
    let doc = space.get_mut(KIND, &id).ok_or_else(|| not_found(identifier))?;
    let current = view(doc, c.clock_us);
    if current["status"] != "InService" {
        return Err(BedrockError::validation(format!(
            "The provisioned model {identifier} is {} and cannot be updated until it is InService.",
            current["status"].as_str().unwrap_or_default()
        )));
    }
    // AWS's rules for a new model: only throughput bought for a custom model may change
    // model, and only to its base model or another custom model of the same base.
    if let Some((asked, (_, foundation))) = &desired_model {
        if current["modelArn"] == current["foundationModelArn"] {
            return Err(BedrockError::validation(format!(
                "The provisioned model {identifier} is associated with a base model, so desiredModelId cannot be specified."
            )));
        }
        if current["foundationModelArn"] != *foundation {
            return Err(BedrockError::validation(format!(
                "The model {asked} is not customized from the base model of the provisioned model {identifier}."
            )));
        }
    }
    // The lifecycle reached so far becomes the stored one.
    doc["status"] = current["status"].clone();
    doc["modelArn"] = current["modelArn"].clone();
    if let Some(n) = new_name {
        doc["provisionedModelName"] = json!(n);
    }
    if let Some((_, (m, _))) = desired_model.filter(|(_, (m, _))| doc["modelArn"] != *m) {
        doc["desiredModelArn"] = json!(m);
        doc["status"] = json!("Updating");
        doc["_readyMicros"] = json!(c.ready_us);
    }
    doc["lastModifiedTime"] = json!(c.now);
    Ok(json!({}))
}

/// DeleteProvisionedModelThroughput.
pub fn delete(space: &mut Space, scope: &Scope, identifier: &str) -> Result<(), BedrockError> {
    let id = id_of(space, scope, identifier).ok_or_else(|| not_found(identifier))?;
    space.remove(KIND, &id).map(|_| ()).ok_or_else(|| not_found(identifier))
}

/// The record a provisioned-model ARN names, at `clock_us` (for inference).
pub fn for_inference(space: &Space, scope: &Scope, arn: &str, clock_us: u64) -> Option<Value> {
    let id = id_of(space, scope, arn)?;
    space.get(KIND, &id).map(|d| view(d, clock_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_end_months_later() {
        assert_eq!(add_months("2026-12-02T08:00:00Z", 1), "2027-01-02T08:00:00Z");
        assert_eq!(add_months("2026-08-31T08:00:00.5Z", 6), "2027-02-28T08:00:00.5Z");
    }

    #[test]
    fn a_new_throughput_is_creating_until_it_is_ready() {
        let doc = json!({"status": "Creating", "_readyMicros": 100, "modelArn": "a", "desiredModelArn": "a"});
        assert_eq!(view(&doc, 99)["status"], "Creating");
        assert_eq!(view(&doc, 100)["status"], "InService");
        assert!(view(&doc, 100).get("_readyMicros").is_none());
        let updating = json!({"status": "Updating", "_readyMicros": 100, "modelArn": "a", "desiredModelArn": "b"});
        assert_eq!(view(&updating, 50)["modelArn"], "a");
        assert_eq!(view(&updating, 150)["modelArn"], "b");
    }
}
