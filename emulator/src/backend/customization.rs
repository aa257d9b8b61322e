//! Model customization: fine-tuning jobs (Create/Get/List/StopModelCustomizationJob), the
//! custom models they make (and CreateCustomModel's), and custom model deployments, which
//! carry on-demand inference of a custom model.
//!
//! Lifecycles run on the injected clock: a job is `InProgress` for the lifecycle duration,
//! then the first read completes it — its custom model appears (`Active`) and its training
//! metrics are written under the job's output URI — unless it was stopped. A model made by
//! CreateCustomModel is `Creating`, and a deployment `Creating`, until the duration has passed
//! (then `Active`); those two are worked out when read.

use serde_json::{json, Map, Value};

use super::catalog::{parse_arn, Catalog, FoundationModel};
use super::object_store::{join_key, split_s3_uri, Object};
use super::state::{find_id as id_of, public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// Customization jobs.
pub const JOB_KIND: &str = "model-customization-job";
/// Custom models.
pub const MODEL_KIND: &str = "custom-model";
/// Custom model deployments.
pub const DEPLOYMENT_KIND: &str = "custom-model-deployment";

fn not_found(what: &str, identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The {what} {identifier} could not be found."))
}

fn conflict(message: String) -> BedrockError {
    BedrockError::new(ErrorCode::ConflictException, message)
}

/// Clock readings of one change: the request's time and when its lifecycle step is due.
pub struct Times<'a> {
    /// RFC 3339 time of the request.
    pub now: &'a str,
    /// The injected clock's reading, in microseconds.
    pub clock_us: u64,
    /// When the next lifecycle step is due, in microseconds.
    pub due_us: u64,
}

/// CreateModelCustomizationJob (input validated).
pub fn create_job(
    space: &mut Space,
    scope: &Scope,
    catalog: &'static Catalog,
    input: &Map<String, Value>,
    t: &Times<'_>,
) -> Result<Value, BedrockError> {
    let base_id = input["baseModelIdentifier"].as_str().unwrap_or_default();
    let base = catalog
        .model_by_identifier(base_id)
        .ok_or_else(|| BedrockError::not_found(format!("The base model {base_id} could not be found.")))?;
    let kind = input.get("customizationType").and_then(Value::as_str).unwrap_or("FINE_TUNING");
    if !base.customizations_supported.iter().any(|c| c == kind) {
        return Err(BedrockError::validation(format!(
            "The base model {} does not support {kind} customization.",
            base.model_id
        )));
    }
    let name = input["jobName"].as_str().unwrap_or_default();
    let model_name = input["customModelName"].as_str().unwrap_or_default();
    if space.all(JOB_KIND).any(|(_, d)| d["jobName"] == name) {
        return Err(conflict(format!("A model customization job named {name} already exists.")));
    }
    let running_for = |d: &Value| d["status"] == "InProgress" && d["outputModelName"] == model_name;
    if space.all(MODEL_KIND).any(|(_, d)| d["modelName"] == model_name)
        || space.all(JOB_KIND).any(|(_, d)| running_for(d))
    {
        return Err(conflict(format!("A custom model named {model_name} already exists.")));
    }
    let id = space.mint_id(JOB_KIND, 12);
    let model_id = space.mint_id(MODEL_KIND, 12);
    let arn = scope.arn(&format!("{JOB_KIND}/{}/{id}", base.model_id));
    let mut doc = json!({
        "jobArn": arn,
        "jobName": name,
        "outputModelName": model_name,
        "roleArn": input["roleArn"],
        "status": "InProgress",
        "creationTime": t.now,
        "lastModifiedTime": t.now,
        "baseModelArn": base.arn(&scope.region),
        "hyperParameters": input.get("hyperParameters").cloned().unwrap_or_else(|| json!({})),
        "trainingDataConfig": input["trainingDataConfig"],
        "validationDataConfig": input.get("validationDataConfig").cloned().unwrap_or_else(|| json!({"validators": []})),
        "outputDataConfig": input["outputDataConfig"],
        "customizationType": kind,
        "_dueMicros": t.due_us,
        "_createdMicros": t.clock_us,
        "_modelId": model_id,
        "_tags": input.get("jobTags").cloned().unwrap_or_else(|| json!([])),
        "_modelTags": input.get("customModelTags").cloned().unwrap_or_else(|| json!([])),
    });
    for key in ["clientRequestToken", "vpcConfig", "customizationConfig"] {
        if let Some(v) = input.get(key) {
            doc[key] = v.clone();
        }
    }
    space.put(JOB_KIND, &id, doc);
    Ok(json!({"jobArn": arn}))
}

/// The training metrics file a completed job writes under its output URI.
fn metrics_object(doc: &Value, id: &str) -> Option<Object> {
    let uri = doc["outputDataConfig"]["s3Uri"].as_str()?;
    let (bucket, prefix) = split_s3_uri(uri)?;
    let epochs =
        doc["hyperParameters"]["epochCount"].as_str().and_then(|e| e.parse::<u32>().ok()).unwrap_or(2).clamp(1, 100);
    let mut csv = String::from("step_number,epoch_number,training_loss\n");
    for epoch in 1..=epochs {
        for step in 1..=4u32 {
            let n = (epoch - 1) * 4 + step;
            csv.push_str(&format!("{n},{epoch},{:.4}\n", 2.0 / f64::from(n + 1)));
        }
    }
    Some(Object {
        bucket: bucket.to_string(),
        key: join_key(
            prefix,
            &format!("model-customization-job-{id}/training_artifacts/step_wise_training_metrics.csv"),
        ),
        body: csv.into_bytes(),
        content_type: "text/csv",
    })
}

/// Completes the jobs due at `clock_us`: each makes its custom model; the metrics files to
/// write are returned.
pub fn settle_jobs(space: &mut Space, scope: &Scope, clock_us: u64, now: &str) -> Vec<Object> {
    let due: Vec<String> = space
        .all(JOB_KIND)
        .filter(|(_, d)| d["status"] == "InProgress" && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us))
        .map(|(id, _)| id.clone())
        .collect();
    let mut objects = Vec::new();
    for id in due {
        let Some(doc) = space.get_mut(JOB_KIND, &id) else { continue };
        let model_id = doc["_modelId"].as_str().unwrap_or_default().to_string();
        let base =
            doc["baseModelArn"].as_str().and_then(parse_arn).map(|a| a.resource_id.to_string()).unwrap_or_default();
        let model_arn = scope.arn(&format!("{MODEL_KIND}/{base}/{model_id}"));
        let loss = 0.0421;
        doc["status"] = json!("Completed");
        doc["endTime"] = json!(now);
        doc["lastModifiedTime"] = json!(now);
        doc["outputModelArn"] = json!(model_arn);
        doc["trainingMetrics"] = json!({"trainingLoss": loss});
        let has_validators = doc["validationDataConfig"]["validators"].as_array().is_some_and(|v| !v.is_empty());
        if has_validators {
            doc["validationMetrics"] = json!([{"validationLoss": loss * 1.1}]);
        }
        let job = doc.clone();
        objects.extend(metrics_object(&job, &id));
        let mut model = json!({
            "modelArn": model_arn,
            "modelName": job["outputModelName"],
            "jobName": job["jobName"],
            "jobArn": job["jobArn"],
            "baseModelArn": job["baseModelArn"],
            "customizationType": job["customizationType"],
            "hyperParameters": job["hyperParameters"],
            "trainingDataConfig": job["trainingDataConfig"],
            "validationDataConfig": job["validationDataConfig"],
            "outputDataConfig": job["outputDataConfig"],
            "trainingMetrics": job["trainingMetrics"],
            "creationTime": now,
            "modelStatus": "Active",
            "_createdMicros": clock_us,
            "_tags": job["_modelTags"],
        });
        if has_validators {
            model["validationMetrics"] = job["validationMetrics"].clone();
        }
        space.put(MODEL_KIND, &model_id, model);
    }
    objects
}

/// Whether any job is due at `clock_us`.
pub fn any_job_due(space: &Space, clock_us: u64) -> bool {
    space
        .all(JOB_KIND)
        .any(|(_, d)| d["status"] == "InProgress" && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us))
}

/// GetModelCustomizationJob.
pub fn get_job(space: &Space, scope: &Scope, identifier: &str) -> Result<Value, BedrockError> {
    let id = id_of(space, scope, JOB_KIND, "jobName", identifier)
        .ok_or_else(|| not_found("model customization job", identifier))?;
    space.get(JOB_KIND, &id).map(public).ok_or_else(|| not_found("model customization job", identifier))
}

/// StopModelCustomizationJob.
pub fn stop_job(space: &mut Space, scope: &Scope, identifier: &str, now: &str) -> Result<(), BedrockError> {
    let id = id_of(space, scope, JOB_KIND, "jobName", identifier)
        .ok_or_else(|| not_found("model customization job", identifier))?;
    let doc = space.get_mut(JOB_KIND, &id).ok_or_else(|| not_found("model customization job", identifier))?;
    if doc["status"] != "InProgress" {
        return Err(conflict(format!(
            "The model customization job {identifier} is {} and cannot be stopped.",
            doc["status"].as_str().unwrap_or_default()
        )));
    }
    doc["status"] = json!("Stopped");
    doc["endTime"] = json!(now);
    doc["lastModifiedTime"] = json!(now);
    Ok(())
}

/// Records of `kind` as read at `clock_us` (`Creating` ones past due read `Active`), with
/// their creation time on the clock and id.
pub fn all(space: &Space, kind: &str, clock_us: u64) -> Vec<(u64, String, Value)> {
    space.all(kind).map(|(id, d)| (d["_createdMicros"].as_u64().unwrap_or(0), id.clone(), view(d, clock_us))).collect()
}

/// A model or deployment as read at `clock_us`.
pub fn view(doc: &Value, clock_us: u64) -> Value {
    let mut out = public(doc);
    let due = doc["_readyMicros"].as_u64().is_some_and(|t| t <= clock_us);
    if due {
        for status in ["modelStatus", "status"] {
            if out[status] == "Creating" {
                out[status] = json!("Active");
            }
        }
        if let Some(o) = out.as_object_mut() {
            if let Some(update) = o.remove("updateDetails") {
                o.insert("modelArn".into(), update["modelArn"].clone());
            }
        }
    }
    out
}

/// CreateCustomModel (input validated): a model from artifacts in S3, `Creating` until due.
/// Its base model is Nova Micro (the artifacts name none the emulator could read).
pub fn create_model(
    space: &mut Space,
    scope: &Scope,
    catalog: &'static Catalog,
    input: &Map<String, Value>,
    t: &Times<'_>,
) -> Result<Value, BedrockError> {
    let name = input["modelName"].as_str().unwrap_or_default();
    if space.all(MODEL_KIND).any(|(_, d)| d["modelName"] == name) {
        return Err(conflict(format!("A custom model named {name} already exists.")));
    }
    let base: &FoundationModel = catalog
        .model("amazon.nova-micro-v1:0")
        .ok_or_else(|| BedrockError::validation("The catalog has no base model for imported artifacts."))?;
    let id = space.mint_id(MODEL_KIND, 12);
    let arn = scope.arn(&format!("{MODEL_KIND}/{}/{id}", base.model_id));
    let mut doc = json!({
        "modelArn": arn,
        "modelName": name,
        "baseModelArn": base.arn(&scope.region),
        "customizationType": "IMPORTED",
        "creationTime": t.now,
        "modelStatus": "Creating",
        "_createdMicros": t.clock_us,
        "_readyMicros": t.due_us,
        "_tags": input.get("modelTags").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(k) = input.get("modelKmsKeyArn") {
        doc["modelKmsKeyArn"] = k.clone();
    }
    space.put(MODEL_KIND, &id, doc);
    Ok(json!({"modelArn": arn}))
}

/// GetCustomModel (id, name or ARN).
pub fn get_model(space: &Space, scope: &Scope, identifier: &str, clock_us: u64) -> Result<Value, BedrockError> {
    let id = id_of(space, scope, MODEL_KIND, "modelName", identifier)
        .ok_or_else(|| not_found("custom model", identifier))?;
    space.get(MODEL_KIND, &id).map(|d| view(d, clock_us)).ok_or_else(|| not_found("custom model", identifier))
}

/// The `ListCustomModels` summary of a model view.
pub fn model_summary(view: &Value, scope: &Scope) -> Value {
    let base = view["baseModelArn"].as_str().and_then(parse_arn).map(|a| a.resource_id.to_string()).unwrap_or_default();
    json!({
        "modelArn": view["modelArn"],
        "modelName": view["modelName"],
        "creationTime": view["creationTime"],
        "baseModelArn": view["baseModelArn"],
        "baseModelName": base,
        "customizationType": view["customizationType"],
        "ownerAccountId": scope.account,
        "modelStatus": view["modelStatus"],
    })
}

/// DeleteCustomModel (refused while a deployment serves it or is moving to it).
pub fn delete_model(space: &mut Space, scope: &Scope, identifier: &str, clock_us: u64) -> Result<(), BedrockError> {
    let id = id_of(space, scope, MODEL_KIND, "modelName", identifier)
        .ok_or_else(|| not_found("custom model", identifier))?;
    let arn = space.get(MODEL_KIND, &id).map(|d| d["modelArn"].clone()).unwrap_or_default();
    let uses = |d: &Value| {
        let v = view(d, clock_us);
        v["modelArn"] == arn || v["updateDetails"]["modelArn"] == arn
    };
    if space.all(DEPLOYMENT_KIND).any(|(_, d)| uses(d)) {
        return Err(conflict(format!("The custom model {identifier} has a deployment: delete the deployment first.")));
    }
    space.remove(MODEL_KIND, &id);
    Ok(())
}

/// The stored custom model an ARN names (None when unknown).
fn model_by_arn<'s>(space: &'s Space, scope: &Scope, arn: &str) -> Option<&'s Value> {
    let id = id_of(space, scope, MODEL_KIND, "modelName", arn)?;
    space.get(MODEL_KIND, &id)
}

/// CreateCustomModelDeployment (input validated).
pub fn create_deployment(
    space: &mut Space,
    scope: &Scope,
    input: &Map<String, Value>,
    t: &Times<'_>,
) -> Result<Value, BedrockError> {
    let name = input["modelDeploymentName"].as_str().unwrap_or_default();
    let model_arn = input["modelArn"].as_str().unwrap_or_default();
    if model_by_arn(space, scope, model_arn).is_none() {
        return Err(not_found("custom model", model_arn));
    }
    if space.all(DEPLOYMENT_KIND).any(|(_, d)| d["modelDeploymentName"] == name) {
        return Err(conflict(format!("A custom model deployment named {name} already exists.")));
    }
    let id = space.mint_id(DEPLOYMENT_KIND, 12);
    let arn = scope.arn(&format!("{DEPLOYMENT_KIND}/{id}"));
    let mut doc = json!({
        "customModelDeploymentArn": arn,
        "modelDeploymentName": name,
        "modelArn": model_arn,
        "createdAt": t.now,
        "lastUpdatedAt": t.now,
        "status": "Creating",
        "_createdMicros": t.clock_us,
        "_readyMicros": t.due_us,
        "_tags": input.get("tags").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(d) = input.get("description") {
        doc["description"] = d.clone();
    }
    space.put(DEPLOYMENT_KIND, &id, doc);
    Ok(json!({"customModelDeploymentArn": arn}))
}

/// GetCustomModelDeployment (id, name or ARN).
pub fn get_deployment(space: &Space, scope: &Scope, identifier: &str, clock_us: u64) -> Result<Value, BedrockError> {
    let id = id_of(space, scope, DEPLOYMENT_KIND, "modelDeploymentName", identifier)
        .ok_or_else(|| not_found("custom model deployment", identifier))?;
    space
        .get(DEPLOYMENT_KIND, &id)
        .map(|d| view(d, clock_us))
        .ok_or_else(|| not_found("custom model deployment", identifier))
}

/// UpdateCustomModelDeployment: the deployment moves to another custom model (`updateDetails`
/// until it has, still serving the old one).
pub fn update_deployment(
    space: &mut Space,
    scope: &Scope,
    identifier: &str,
    model_arn: &str,
    t: &Times<'_>,
) -> Result<Value, BedrockError> {
    if model_by_arn(space, scope, model_arn).is_none() {
        return Err(not_found("custom model", model_arn));
    }
    let id = id_of(space, scope, DEPLOYMENT_KIND, "modelDeploymentName", identifier)
        .ok_or_else(|| not_found("custom model deployment", identifier))?;
    let doc = space.get_mut(DEPLOYMENT_KIND, &id).ok_or_else(|| not_found("custom model deployment", identifier))?;
    let current = view(doc, t.clock_us);
    if current["status"] != "Active" {
        return Err(BedrockError::validation(format!(
            "The custom model deployment {identifier} is {} and cannot be updated until it is Active.",
            current["status"].as_str().unwrap_or_default()
        )));
    }
    doc["status"] = json!("Active");
    doc["modelArn"] = current["modelArn"].clone();
    doc["updateDetails"] = json!({"modelArn": model_arn, "updateStatus": "Updating"});
    doc["_readyMicros"] = json!(t.due_us);
    doc["lastUpdatedAt"] = json!(t.now);
    Ok(json!({"customModelDeploymentArn": doc["customModelDeploymentArn"]}))
}

/// DeleteCustomModelDeployment.
pub fn delete_deployment(space: &mut Space, scope: &Scope, identifier: &str) -> Result<(), BedrockError> {
    let id = id_of(space, scope, DEPLOYMENT_KIND, "modelDeploymentName", identifier)
        .ok_or_else(|| not_found("custom model deployment", identifier))?;
    space.remove(DEPLOYMENT_KIND, &id);
    Ok(())
}

/// The foundation model that answers for a deployment ARN at `clock_us`: Ok(None) when the
/// deployment is unknown, Err while it is not Active.
pub fn deployment_base(space: &Space, scope: &Scope, arn: &str, clock_us: u64) -> Result<Option<String>, BedrockError> {
    let Ok(view) = get_deployment(space, scope, arn, clock_us) else { return Ok(None) };
    if view["status"] != "Active" {
        return Err(BedrockError::validation(format!(
            "The custom model deployment {arn} is {} and cannot serve requests until it is Active.",
            view["status"].as_str().unwrap_or_default()
        )));
    }
    let model = view["modelArn"].as_str().and_then(|m| model_by_arn(space, scope, m));
    Ok(model.and_then(|m| m["baseModelArn"].as_str()).and_then(parse_arn).map(|a| a.resource_id.to_string()))
}
