//! Custom model import (Create/Get/ListModelImportJob, Get/List/DeleteImportedModel) and model
//! copy (Create/Get/ListModelCopyJob).
//!
//! An import job is `InProgress` for the lifecycle duration; the first read after that starts
//! its completion in a task (`api::import_copy`), which reads the weights folder's
//! `config.json` (Hugging Face layout) for the architecture — Llama, Mistral or Mixtral, else
//! the job fails — and makes the imported model. An imported model starts cold: the first
//! invocation answers `ModelNotReadyException` (which the SDKs retry) and warms it for the
//! lifecycle duration; once warm it answers in its architecture's native format. A copy job
//! makes a custom model in the caller's region from one of the account's custom models,
//! `Completed` once the duration has passed.

use serde_json::{json, Map, Value};

use super::catalog::parse_arn;
use super::customization::MODEL_KIND;
use super::state::{find_id as id_of, public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// Import jobs.
pub const IMPORT_JOB_KIND: &str = "model-import-job";
/// Imported models.
pub const IMPORTED_KIND: &str = "imported-model";
/// Copy jobs.
pub const COPY_JOB_KIND: &str = "model-copy-job";

fn not_found(what: &str, identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The {what} {identifier} could not be found."))
}

/// The catalog model whose native format an architecture (`config.json`'s
/// `architectures[0]` or `model_type`) answers in, and the `modelArchitecture` name.
pub fn family_model(config: &Value) -> Option<(&'static str, &'static str)> {
    let arch = config["architectures"][0].as_str().or_else(|| config["model_type"].as_str()).unwrap_or_default();
    let arch = arch.to_ascii_lowercase();
    if arch.contains("mixtral") {
        Some(("mistral.mixtral-8x7b-instruct-v0:1", "mixtral"))
    } else if arch.contains("mistral") {
        Some(("mistral.mistral-7b-instruct-v0:2", "mistral"))
    } else if arch.contains("llama") {
        Some(("meta.llama3-8b-instruct-v1:0", "llama"))
    } else {
        None
    }
}

/// CreateModelImportJob (input validated).
pub fn create_import(
    space: &mut Space,
    scope: &Scope,
    input: &Map<String, Value>,
    now: &str,
    clock_us: u64,
    due_us: u64,
) -> Result<Value, BedrockError> {
    let name = input["jobName"].as_str().unwrap_or_default();
    let model_name = input["importedModelName"].as_str().unwrap_or_default();
    if space.all(IMPORT_JOB_KIND).any(|(_, d)| d["jobName"] == name) {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("A model import job named {name} already exists."),
        ));
    }
    if space.all(IMPORTED_KIND).any(|(_, d)| d["modelName"] == model_name) {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("An imported model named {model_name} already exists."),
        ));
    }
    let id = space.mint_id(IMPORT_JOB_KIND, 12);
    let arn = scope.arn(&format!("{IMPORT_JOB_KIND}/{id}"));
    let mut doc = json!({
        "jobArn": arn,
        "jobName": name,
        "importedModelName": model_name,
        "roleArn": input["roleArn"],
        "modelDataSource": input["modelDataSource"],
        "status": "InProgress",
        "creationTime": now,
        "lastModifiedTime": now,
        "_dueMicros": due_us,
        "_createdMicros": clock_us,
        "_tags": input.get("jobTags").cloned().unwrap_or_else(|| json!([])),
        "_modelTags": input.get("importedModelTags").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(v) = input.get("vpcConfig") {
        doc["vpcConfig"] = v.clone();
    }
    space.put(IMPORT_JOB_KIND, &id, doc);
    Ok(json!({"jobArn": arn}))
}

/// The import jobs due at `clock_us`, marked as completing (their weights are read in a task,
/// then [`finish_import`]).
pub fn start_due_imports(space: &mut Space, clock_us: u64) -> Vec<(String, Value)> {
    let due: Vec<String> = space
        .all(IMPORT_JOB_KIND)
        .filter(|(_, d)| {
            d["status"] == "InProgress"
                && d.get("_completing").is_none()
                && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us)
        })
        .map(|(id, _)| id.clone())
        .collect();
    let mut out = Vec::new();
    for id in due {
        if let Some(doc) = space.get_mut(IMPORT_JOB_KIND, &id) {
            doc["_completing"] = json!(true);
            out.push((id, doc.clone()));
        }
    }
    out
}

/// Whether an import job is due at `clock_us`.
pub fn any_import_due(space: &Space, clock_us: u64) -> bool {
    space.all(IMPORT_JOB_KIND).any(|(_, d)| {
        d["status"] == "InProgress"
            && d.get("_completing").is_none()
            && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us)
    })
}

/// Ends an import job: the imported model made from `architecture` (its family model and
/// name), or the job failed with why.
pub fn finish_import(
    space: &mut Space,
    scope: &Scope,
    id: &str,
    architecture: Result<(&str, &str), String>,
    now: &str,
    clock_us: u64,
) {
    let Some(job) = space.get(IMPORT_JOB_KIND, id).cloned() else { return };
    let outcome = match architecture {
        Ok((family, arch)) => {
            let model_id = space.mint_id(IMPORTED_KIND, 12);
            let model_arn = scope.arn(&format!("{IMPORTED_KIND}/{model_id}"));
            space.put(
                IMPORTED_KIND,
                &model_id,
                json!({
                    "modelArn": model_arn,
                    "modelName": job["importedModelName"],
                    "jobName": job["jobName"],
                    "jobArn": job["jobArn"],
                    "modelDataSource": job["modelDataSource"],
                    "creationTime": now,
                    "modelArchitecture": arch,
                    "instructSupported": true,
                    "customModelUnits": {"customModelUnitsPerModelCopy": 1, "customModelUnitsVersion": "1.0"},
                    "_family": family,
                    "_createdMicros": clock_us,
                    "_tags": job["_modelTags"],
                }),
            );
            Ok(model_arn)
        }
        Err(why) => Err(why),
    };
    let Some(doc) = space.get_mut(IMPORT_JOB_KIND, id) else { return };
    if let Some(o) = doc.as_object_mut() {
        o.remove("_completing");
    }
    match outcome {
        Ok(arn) => {
            doc["status"] = json!("Completed");
            doc["importedModelArn"] = json!(arn);
        }
        Err(why) => {
            doc["status"] = json!("Failed");
            doc["failureMessage"] = json!(why);
        }
    }
    doc["endTime"] = json!(now);
    doc["lastModifiedTime"] = json!(now);
}

/// GetModelImportJob (ARN or name).
pub fn get_import(space: &Space, scope: &Scope, identifier: &str) -> Result<Value, BedrockError> {
    let id = id_of(space, scope, IMPORT_JOB_KIND, "jobName", identifier)
        .ok_or_else(|| not_found("model import job", identifier))?;
    space.get(IMPORT_JOB_KIND, &id).map(public).ok_or_else(|| not_found("model import job", identifier))
}

/// Records of `kind` with their creation time on the clock and id.
pub fn all(space: &Space, kind: &str) -> Vec<(u64, String, Value)> {
    space.all(kind).map(|(id, d)| (d["_createdMicros"].as_u64().unwrap_or(0), id.clone(), public(d))).collect()
}

/// GetImportedModel (ARN or name).
pub fn get_imported(space: &Space, scope: &Scope, identifier: &str) -> Result<Value, BedrockError> {
    let id = id_of(space, scope, IMPORTED_KIND, "modelName", identifier)
        .ok_or_else(|| not_found("imported model", identifier))?;
    space.get(IMPORTED_KIND, &id).map(public).ok_or_else(|| not_found("imported model", identifier))
}

/// DeleteImportedModel.
pub fn delete_imported(space: &mut Space, scope: &Scope, identifier: &str) -> Result<(), BedrockError> {
    let id = id_of(space, scope, IMPORTED_KIND, "modelName", identifier)
        .ok_or_else(|| not_found("imported model", identifier))?;
    space.remove(IMPORTED_KIND, &id);
    Ok(())
}

/// An imported model about to be invoked at `clock_us`: its family model once warm. A cold
/// model starts warming (`warm_us` from now) and answers `ModelNotReadyException` until then.
/// The outer result is the state change's (kept even when the model is not ready); the inner
/// one the invocation's. `None`: no such model.
pub fn invoke(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    clock_us: u64,
    warm_us: u64,
) -> Result<Option<Result<String, BedrockError>>, BedrockError> {
    let Some(id) = id_of(space, scope, IMPORTED_KIND, "modelName", arn) else { return Ok(None) };
    let Some(doc) = space.get_mut(IMPORTED_KIND, &id) else { return Ok(None) };
    Ok(Some(match doc["_warmMicros"].as_u64() {
        Some(t) if t <= clock_us => Ok(doc["_family"].as_str().unwrap_or_default().to_string()),
        Some(_) => Err(not_ready(arn)),
        None => {
            doc["_warmMicros"] = json!(clock_us.saturating_add(warm_us));
            Err(not_ready(arn))
        }
    }))
}

fn not_ready(arn: &str) -> BedrockError {
    BedrockError::new(
        ErrorCode::ModelNotReadyException,
        format!("Model {arn} is not ready for inference; it is being loaded. Retry the request."),
    )
}

/// An imported model's family model if it is warm at `clock_us` (`Some(None)`: cold or
/// warming; `None`: no such model). A read: no warming starts.
pub fn warm_family(space: &Space, scope: &Scope, arn: &str, clock_us: u64) -> Option<Option<String>> {
    let id = id_of(space, scope, IMPORTED_KIND, "modelName", arn)?;
    let doc = space.get(IMPORTED_KIND, &id)?;
    let warm = doc["_warmMicros"].as_u64().is_some_and(|t| t <= clock_us);
    Some(warm.then(|| doc["_family"].as_str().unwrap_or_default().to_string()))
}

/// Whether a copy job is due at `clock_us`.
pub fn any_copy_due(space: &Space, clock_us: u64) -> bool {
    space
        .all(COPY_JOB_KIND)
        .any(|(_, d)| d["status"] == "InProgress" && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us))
}

/// CreateModelCopyJob (input validated): `source` is the custom model copied (read from its
/// own region's space).
pub fn create_copy(
    space: &mut Space,
    scope: &Scope,
    input: &Map<String, Value>,
    source: &Value,
    now: &str,
    clock_us: u64,
    due_us: u64,
) -> Result<Value, BedrockError> {
    let target = input["targetModelName"].as_str().unwrap_or_default();
    if space.all(MODEL_KIND).any(|(_, d)| d["modelName"] == target) {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("A custom model named {target} already exists."),
        ));
    }
    let id = space.mint_id(COPY_JOB_KIND, 12);
    let arn = scope.arn(&format!("{COPY_JOB_KIND}/{id}"));
    let model_id = space.mint_id(MODEL_KIND, 12);
    let base =
        source["baseModelArn"].as_str().and_then(parse_arn).map(|a| a.resource_id.to_string()).unwrap_or_default();
    let target_arn = scope.arn(&format!("{MODEL_KIND}/{base}/{model_id}"));
    let tags = input.get("targetModelTags").cloned().unwrap_or_else(|| json!([]));
    space.put(
        COPY_JOB_KIND,
        &id,
        json!({
            "jobArn": arn,
            "status": "InProgress",
            "creationTime": now,
            "targetModelArn": target_arn,
            "targetModelName": target,
            "sourceAccountId": scope.account,
            "sourceModelArn": input["sourceModelArn"],
            "targetModelTags": tags,
            "sourceModelName": source["modelName"],
            "_dueMicros": due_us,
            "_createdMicros": clock_us,
            "_modelId": model_id,
            "_source": source,
        }),
    );
    Ok(json!({"jobArn": arn}))
}

/// Completes the copy jobs due at `clock_us` (each makes its custom model).
pub fn settle_copies(space: &mut Space, clock_us: u64, now: &str) {
    let due: Vec<String> = space
        .all(COPY_JOB_KIND)
        .filter(|(_, d)| d["status"] == "InProgress" && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us))
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        let Some(doc) = space.get_mut(COPY_JOB_KIND, &id) else { continue };
        doc["status"] = json!("Completed");
        let job = doc.clone();
        let mut model = job["_source"].clone();
        model["modelArn"] = job["targetModelArn"].clone();
        model["modelName"] = job["targetModelName"].clone();
        model["creationTime"] = json!(now);
        model["_createdMicros"] = json!(clock_us);
        model["_tags"] = job["targetModelTags"].clone();
        if let Some(o) = model.as_object_mut() {
            o.remove("_readyMicros");
        }
        model["modelStatus"] = json!("Active");
        space.put(MODEL_KIND, job["_modelId"].as_str().unwrap_or_default(), model);
    }
}

/// GetModelCopyJob.
pub fn get_copy(space: &Space, scope: &Scope, arn: &str) -> Result<Value, BedrockError> {
    let id = id_of(space, scope, COPY_JOB_KIND, "jobArn", arn).ok_or_else(|| not_found("model copy job", arn))?;
    space.get(COPY_JOB_KIND, &id).map(public).ok_or_else(|| not_found("model copy job", arn))
}
