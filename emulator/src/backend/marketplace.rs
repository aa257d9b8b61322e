//! Marketplace model endpoints (Create/Get/List/Update/Delete, Register/Deregister
//! MarketplaceModelEndpoint): SageMaker endpoints serving a Bedrock Marketplace model,
//! registered with Bedrock so that their ARN (`arn:aws:sagemaker:…:endpoint/NAME`) is a
//! `modelId`. A created endpoint's `endpointStatus` is `Creating` for the lifecycle duration,
//! then `InService`; it answers in the native format of the model family its source names
//! (Mistral, Mixtral, Llama; Llama for any other).

use serde_json::{json, Map, Value};

use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// The state kind endpoints are kept under (by endpoint name).
pub const KIND: &str = "marketplace-endpoint";

fn not_found(arn: &str) -> BedrockError {
    BedrockError::not_found(format!("The marketplace model endpoint {arn} could not be found."))
}

/// The endpoint name of a SageMaker endpoint ARN of the caller's account and region.
pub fn endpoint_name<'a>(scope: &Scope, arn: &'a str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:aws:sagemaker:")?;
    let mut parts = rest.splitn(3, ':');
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let name = resource.strip_prefix("endpoint/")?;
    (region == scope.region && account == scope.account && !name.is_empty()).then_some(name)
}

fn arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:sagemaker:{}:{}:endpoint/{name}", scope.region, scope.account)
}

/// The catalog model whose format an endpoint's source answers in.
pub fn family_model(source: &str) -> &'static str {
    let s = source.to_ascii_lowercase();
    if s.contains("mixtral") {
        "mistral.mixtral-8x7b-instruct-v0:1"
    } else if s.contains("mistral") {
        "mistral.mistral-7b-instruct-v0:2"
    } else {
        "meta.llama3-8b-instruct-v1:0"
    }
}

/// The `MarketplaceModelEndpoint` of a record at `clock_us`.
pub fn view(doc: &Value, clock_us: u64) -> Value {
    let mut out = public(doc);
    if doc["_readyMicros"].as_u64().is_some_and(|t| t <= clock_us) {
        out["endpointStatus"] = json!("InService");
    }
    out
}

/// CreateMarketplaceModelEndpoint (input validated).
pub fn create(
    space: &mut Space,
    scope: &Scope,
    input: &Map<String, Value>,
    now: &str,
    ready_us: u64,
) -> Result<Value, BedrockError> {
    let name = input["endpointName"].as_str().unwrap_or_default();
    if space.get(KIND, name).is_some() {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("An endpoint named {name} already exists."),
        ));
    }
    if input.get("acceptEula").and_then(Value::as_bool) == Some(false) {
        return Err(BedrockError::validation("The model's end-user license agreement must be accepted (acceptEula)."));
    }
    let doc = json!({
        "endpointArn": arn(scope, name),
        "modelSourceIdentifier": input["modelSourceIdentifier"],
        "status": "REGISTERED",
        "createdAt": now,
        "updatedAt": now,
        "endpointConfig": input["endpointConfig"],
        "endpointStatus": "Creating",
        "_readyMicros": ready_us,
    });
    space.put(KIND, name, doc.clone());
    Ok(json!({"marketplaceModelEndpoint": view(&doc, 0)}))
}

/// RegisterMarketplaceModelEndpoint: an endpoint made outside Bedrock (SageMaker) registered
/// with it (it is taken to be in service).
pub fn register(
    space: &mut Space,
    scope: &Scope,
    endpoint: &str,
    source: &str,
    now: &str,
) -> Result<Value, BedrockError> {
    let name = endpoint_name(scope, endpoint).ok_or_else(|| not_found(endpoint))?.to_string();
    let doc = match space.get(KIND, &name) {
        Some(d) => {
            let mut d = d.clone();
            d["status"] = json!("REGISTERED");
            d["modelSourceIdentifier"] = json!(source);
            d["updatedAt"] = json!(now);
            d
        }
        None => json!({
            "endpointArn": endpoint,
            "modelSourceIdentifier": source,
            "status": "REGISTERED",
            "createdAt": now,
            "updatedAt": now,
            "endpointConfig": {"sageMaker": {"initialInstanceCount": 1, "instanceType": "ml.g5.2xlarge", "executionRole": format!("arn:aws:iam::{}:role/SageMakerExecution", scope.account)}},
            "endpointStatus": "InService",
        }),
    };
    space.put(KIND, &name, doc.clone());
    Ok(json!({"marketplaceModelEndpoint": view(&doc, 0)}))
}

/// DeregisterMarketplaceModelEndpoint: the endpoint is no longer a Bedrock model.
pub fn deregister(space: &mut Space, scope: &Scope, endpoint: &str) -> Result<(), BedrockError> {
    let name = endpoint_name(scope, endpoint).ok_or_else(|| not_found(endpoint))?;
    space.remove(KIND, name).map(|_| ()).ok_or_else(|| not_found(endpoint))
}

/// GetMarketplaceModelEndpoint.
pub fn get(space: &Space, scope: &Scope, endpoint: &str, clock_us: u64) -> Result<Value, BedrockError> {
    let name = endpoint_name(scope, endpoint).ok_or_else(|| not_found(endpoint))?;
    space
        .get(KIND, name)
        .map(|d| json!({"marketplaceModelEndpoint": view(d, clock_us)}))
        .ok_or_else(|| not_found(endpoint))
}

/// UpdateMarketplaceModelEndpoint (a new configuration: `Updating` for the lifecycle duration).
pub fn update(
    space: &mut Space,
    scope: &Scope,
    endpoint: &str,
    config: &Value,
    now: &str,
    ready_us: u64,
) -> Result<Value, BedrockError> {
    let name = endpoint_name(scope, endpoint).ok_or_else(|| not_found(endpoint))?;
    let doc = space.get_mut(KIND, name).ok_or_else(|| not_found(endpoint))?;
    doc["endpointConfig"] = config.clone();
    doc["endpointStatus"] = json!("Updating");
    doc["updatedAt"] = json!(now);
    doc["_readyMicros"] = json!(ready_us);
    Ok(json!({"marketplaceModelEndpoint": view(doc, 0)}))
}

/// DeleteMarketplaceModelEndpoint.
pub fn delete(space: &mut Space, scope: &Scope, endpoint: &str) -> Result<(), BedrockError> {
    deregister(space, scope, endpoint)
}

/// Every endpoint at `clock_us` (by name), optionally of one source.
pub fn list(space: &Space, source: Option<&str>, clock_us: u64) -> Vec<(String, Value)> {
    space
        .all(KIND)
        .filter(|(_, d)| source.is_none_or(|s| d["modelSourceIdentifier"] == s))
        .map(|(name, d)| {
            let v = view(d, clock_us);
            let summary = json!({
                "endpointArn": v["endpointArn"],
                "modelSourceIdentifier": v["modelSourceIdentifier"],
                "status": v["status"],
                "createdAt": v["createdAt"],
                "updatedAt": v["updatedAt"],
            });
            (name.clone(), summary)
        })
        .collect()
}

/// The family model an endpoint ARN answers with at `clock_us` (None when not registered).
pub fn for_inference(
    space: &Space,
    scope: &Scope,
    endpoint: &str,
    clock_us: u64,
) -> Option<Result<&'static str, BedrockError>> {
    let name = endpoint_name(scope, endpoint)?;
    let doc = space.get(KIND, name)?;
    let v = view(doc, clock_us);
    Some(if v["endpointStatus"] == "InService" {
        Ok(family_model(doc["modelSourceIdentifier"].as_str().unwrap_or_default()))
    } else {
        Err(BedrockError::validation(format!(
            "The endpoint {endpoint} is {} and cannot serve requests until it is InService.",
            v["endpointStatus"].as_str().unwrap_or_default()
        )))
    })
}
