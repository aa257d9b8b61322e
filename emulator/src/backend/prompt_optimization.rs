//! Advanced prompt optimization jobs (Create/Get/List/Stop, BatchDelete): `InProgress` for the
//! lifecycle duration on the injected clock, then `Completed` when next read.

use serde_json::{json, Map, Value};

use super::catalog::{parse_arn, Catalog};
use super::jobs::JobKind;
use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// The state kind jobs are kept under.
pub const KIND: &str = "advanced-prompt-optimization-job";

fn not_found(identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The advanced prompt optimization job {identifier} could not be found."))
}

fn id_of<'i>(scope: &Scope, identifier: &'i str) -> Option<&'i str> {
    super::state::id_in_scope(scope, KIND, identifier)
}

/// CreateAdvancedPromptOptimizationJob (input validated).
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
        return Err(BedrockError::new(ErrorCode::ConflictException, format!("A job named {name} already exists.")));
    }
    for m in input["modelConfigurations"].as_array().into_iter().flatten() {
        let id = m["modelId"].as_str().unwrap_or_default();
        let bare = parse_arn(id).map_or(id, |a| a.resource_id);
        if catalog.model_by_identifier(id).is_none() && catalog.system_profile(bare, &scope.region).is_none() {
            return Err(BedrockError::not_found(format!("The model {id} could not be found.")));
        }
    }
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("{KIND}/{id}"));
    let mut doc = json!({
        "jobArn": arn,
        "jobName": name,
        "jobStatus": "InProgress",
        "inputConfig": input["inputConfig"],
        "outputConfig": input["outputConfig"],
        "creationTime": now,
        "lastModifiedTime": now,
        "modelConfigurations": input["modelConfigurations"],
        "_dueMicros": due_us,
        "_createdMicros": clock_us,
        "_tags": input.get("tags").cloned().unwrap_or_else(|| json!([])),
    });
    for key in ["jobDescription", "encryptionKeyArn"] {
        if let Some(v) = input.get(key) {
            doc[key] = v.clone();
        }
    }
    space.put(KIND, &id, doc);
    Ok(json!({"jobArn": arn}))
}

/// How these jobs keep their status.
const JOBS: JobKind = JobKind { kind: KIND, status: "jobStatus", what: "advanced prompt optimization job" };

/// Whether a job is due to complete at `clock_us`.
pub fn any_due(space: &Space, clock_us: u64) -> bool {
    JOBS.any_due(space, clock_us, &|_| true)
}

/// Completes the jobs due at `clock_us`; those `failed` names (id, why) end `Failed` with
/// that `failureMessage` instead.
pub fn settle(space: &mut Space, clock_us: u64, now: &str, failed: &[(String, String)]) {
    JOBS.settle(space, clock_us, now, &|_| true);
    JOBS.fail(space, failed, "failureMessage", false);
}

/// The jobs due to complete at `clock_us` (id, record), whose input is read before they are
/// settled.
pub fn due(space: &Space, clock_us: u64) -> Vec<(String, Value)> {
    JOBS.due_jobs(space, clock_us, &|_| true)
}

/// Get…Job.
pub fn get(space: &Space, scope: &Scope, identifier: &str) -> Result<Value, BedrockError> {
    let id = id_of(scope, identifier).ok_or_else(|| not_found(identifier))?;
    space.get(KIND, id).map(public).ok_or_else(|| not_found(identifier))
}

/// Every job's summary with its creation time on the clock and id.
pub fn all(space: &Space) -> Vec<(u64, String, Value)> {
    space
        .all(KIND)
        .map(|(id, d)| {
            let summary = json!({"jobArn": d["jobArn"], "jobName": d["jobName"], "jobStatus": d["jobStatus"],
                "creationTime": d["creationTime"], "lastModifiedTime": d["lastModifiedTime"]});
            (d["_createdMicros"].as_u64().unwrap_or(0), id.clone(), summary)
        })
        .collect()
}

/// Stop…Job.
pub fn stop(space: &mut Space, scope: &Scope, identifier: &str, now: &str) -> Result<(), BedrockError> {
    let id = id_of(scope, identifier).ok_or_else(|| not_found(identifier))?;
    let doc = space.get_mut(KIND, id).ok_or_else(|| not_found(identifier))?;
    JOBS.stop(doc, identifier, now)
}

/// BatchDelete…Job (any status may go).
pub fn batch_delete(space: &mut Space, scope: &Scope, identifiers: &[&str]) -> Value {
    let id = |i: &str| id_of(scope, i).map(str::to_string);
    let (errors, deleted) = JOBS.batch_delete(space, identifiers, &id, &|_| false);
    json!({"errors": errors, "advancedPromptOptimizationJobs": deleted})
}
