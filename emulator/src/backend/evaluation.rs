//! Model evaluation jobs (Create/Get/List/StopEvaluationJob, BatchDeleteEvaluationJob). An
//! automated job is `InProgress` for the lifecycle duration on the injected clock, then
//! `Completed` when next read; a human job waits for its workers, which the emulator has
//! none of: it stays `InProgress` until stopped.

use serde_json::{json, Map, Value};

use super::catalog::{parse_arn, Catalog};
use super::jobs::JobKind;
use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// The state kind evaluation jobs are kept under.
pub const KIND: &str = "evaluation-job";

fn not_found(identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The evaluation job {identifier} could not be found."))
}

fn id_of<'i>(scope: &Scope, identifier: &'i str) -> Option<&'i str> {
    let a = parse_arn(identifier)?;
    (a.resource_type == KIND && a.account == scope.account && a.region == scope.region).then_some(a.resource_id)
}

/// The model ids a job's inference configuration names.
fn model_identifiers(input: &Value) -> Vec<String> {
    input["inferenceConfig"]["models"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["bedrockModel"]["modelIdentifier"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// CreateEvaluationJob (input validated).
pub fn create(
    space: &mut Space,
    scope: &Scope,
    catalog: &'static Catalog,
    input: &Map<String, Value>,
    now: &str,
    clock_us: u64,
    due_us: u64,
) -> Result<Value, BedrockError> {
    let name = input["jobName"].as_str().unwrap_or_default();
    if space.all(KIND).any(|(_, d)| d["jobName"] == name) {
        return Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("An evaluation job named {name} already exists."),
        ));
    }
    let whole = Value::Object(input.clone());
    for id in model_identifiers(&whole) {
        let bare = parse_arn(&id).map_or(id.as_str(), |a| a.resource_id);
        let known = catalog.model_by_identifier(&id).is_some() || catalog.system_profile(bare, &scope.region).is_some();
        if !known {
            return Err(BedrockError::not_found(format!("The model {id} could not be found.")));
        }
    }
    let human = input["evaluationConfig"].get("human").is_some();
    let rag = input["inferenceConfig"].get("ragConfigs").is_some();
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("{KIND}/{id}"));
    let mut doc = json!({
        "jobName": name,
        "status": "InProgress",
        "jobArn": arn,
        "roleArn": input["roleArn"],
        "jobType": if human { "Human" } else { "Automated" },
        "applicationType": input.get("applicationType").cloned().unwrap_or_else(|| json!(if rag { "RagEvaluation" } else { "ModelEvaluation" })),
        "evaluationConfig": input["evaluationConfig"],
        "inferenceConfig": input["inferenceConfig"],
        "outputDataConfig": input["outputDataConfig"],
        "creationTime": now,
        "lastModifiedTime": now,
        "_dueMicros": due_us,
        "_createdMicros": clock_us,
        "_tags": input.get("jobTags").cloned().unwrap_or_else(|| json!([])),
    });
    for key in ["jobDescription", "customerEncryptionKeyId"] {
        if let Some(v) = input.get(key) {
            doc[key] = v.clone();
        }
    }
    space.put(KIND, &id, doc);
    Ok(json!({"jobArn": arn}))
}

/// How evaluation jobs keep their status.
const JOBS: JobKind = JobKind { kind: KIND, status: "status", what: "evaluation job" };

/// Human jobs wait for workers: only automated ones complete on their own.
fn completes(doc: &Value) -> bool {
    doc["jobType"] == "Automated"
}

/// Whether an automated job is due to complete at `clock_us`.
pub fn any_due(space: &Space, clock_us: u64) -> bool {
    JOBS.any_due(space, clock_us, &completes)
}

/// The automated jobs due to complete at `clock_us` (id, record), whose datasets are read
/// before they are settled.
pub fn due(space: &Space, clock_us: u64) -> Vec<(String, Value)> {
    JOBS.due_jobs(space, clock_us, &completes)
}

/// Completes the automated jobs due at `clock_us`; those `failed` names (id, why) end
/// `Failed` with that message instead.
pub fn settle(space: &mut Space, clock_us: u64, now: &str, failed: &[(String, String)]) {
    JOBS.settle(space, clock_us, now, &completes);
    JOBS.fail(space, failed, "failureMessages", true);
}

/// GetEvaluationJob.
pub fn get(space: &Space, scope: &Scope, identifier: &str) -> Result<Value, BedrockError> {
    let id = id_of(scope, identifier).ok_or_else(|| not_found(identifier))?;
    space.get(KIND, id).map(public).ok_or_else(|| not_found(identifier))
}

/// The ListEvaluationJobs summary of a job.
pub fn summary(doc: &Value) -> Value {
    let config = &doc["evaluationConfig"];
    let metrics = config["automated"]["datasetMetricConfigs"]
        .as_array()
        .or_else(|| config["human"]["datasetMetricConfigs"].as_array());
    let mut tasks: Vec<Value> = metrics.map(|m| m.iter().map(|c| c["taskType"].clone()).collect()).unwrap_or_default();
    tasks.dedup();
    json!({
        "jobArn": doc["jobArn"],
        "jobName": doc["jobName"],
        "status": doc["status"],
        "creationTime": doc["creationTime"],
        "jobType": doc["jobType"],
        "evaluationTaskTypes": tasks,
        "modelIdentifiers": model_identifiers(doc),
        "applicationType": doc["applicationType"],
    })
}

/// Every job with its creation time on the clock and id.
pub fn all(space: &Space) -> Vec<(u64, String, Value)> {
    space.all(KIND).map(|(id, d)| (d["_createdMicros"].as_u64().unwrap_or(0), id.clone(), public(d))).collect()
}

/// StopEvaluationJob.
pub fn stop(space: &mut Space, scope: &Scope, identifier: &str, now: &str) -> Result<(), BedrockError> {
    let id = id_of(scope, identifier).ok_or_else(|| not_found(identifier))?;
    let doc = space.get_mut(KIND, id).ok_or_else(|| not_found(identifier))?;
    JOBS.stop(doc, identifier, now)
}

/// BatchDeleteEvaluationJob: each job deleted (`Deleting`), or an error naming why not.
pub fn batch_delete(space: &mut Space, scope: &Scope, identifiers: &[&str]) -> Value {
    let id = |i: &str| id_of(scope, i).map(str::to_string);
    let (errors, deleted) = JOBS.batch_delete(space, identifiers, &id, &|d| d["status"] == "InProgress");
    json!({"errors": errors, "evaluationJobs": deleted})
}
