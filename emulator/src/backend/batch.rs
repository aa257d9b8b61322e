//! Batch inference jobs (CreateModelInvocationJob and its Get/List/Stop): their records and
//! lifecycle. A job is `Submitted` until the lifecycle duration has passed on the injected
//! clock; the first read after that starts it (`InProgress`, its records answered in a task:
//! `api::batch`), and it ends `Completed`, `PartiallyCompleted` (some records failed) or
//! `Failed` (its input could not be read, or every record failed). StopModelInvocationJob
//! stops a job that has not ended (`Stopped`).

use serde_json::{json, Map, Value};

use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// The state kind jobs are kept under.
pub const KIND: &str = "model-invocation-job";

fn not_found(identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The model invocation job {identifier} could not be found."))
}

fn id_of<'i>(scope: &Scope, identifier: &'i str) -> Option<&'i str> {
    super::state::id_in_scope(scope, KIND, identifier)
}

/// What a create records besides the input.
pub struct Create<'a> {
    /// RFC 3339 time of the request.
    pub now: &'a str,
    /// The injected clock's reading, in microseconds.
    pub clock_us: u64,
    /// When it starts, in microseconds.
    pub due_us: u64,
    /// The `modelId` as resolved (an ARN given is kept as given).
    pub model_id: &'a str,
}

/// CreateModelInvocationJob (input validated).
pub fn create(space: &mut Space, scope: &Scope, input: &Map<String, Value>, c: &Create<'_>) -> Value {
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("{KIND}/{id}"));
    let mut doc = Map::new();
    doc.insert("jobArn".into(), json!(arn));
    for key in ["jobName", "roleArn", "clientRequestToken", "inputDataConfig", "outputDataConfig", "vpcConfig"] {
        if let Some(v) = input.get(key) {
            doc.insert(key.into(), v.clone());
        }
    }
    doc.insert("modelId".into(), json!(c.model_id));
    doc.insert("status".into(), json!("Submitted"));
    doc.insert("submitTime".into(), json!(c.now));
    doc.insert("lastModifiedTime".into(), json!(c.now));
    let hours = input.get("timeoutDurationInHours").and_then(Value::as_u64).unwrap_or(24);
    doc.insert("timeoutDurationInHours".into(), json!(hours));
    doc.insert("modelInvocationType".into(), input.get("modelInvocationType").cloned().unwrap_or(json!("InvokeModel")));
    doc.insert("_dueMicros".into(), json!(c.due_us));
    doc.insert("_submitMicros".into(), json!(c.clock_us));
    doc.insert("_tags".into(), input.get("tags").cloned().unwrap_or_else(|| json!([])));
    space.put(KIND, &id, Value::Object(doc));
    json!({"jobArn": arn})
}

/// GetModelInvocationJob.
pub fn get(space: &Space, scope: &Scope, identifier: &str) -> Result<Value, BedrockError> {
    let id = id_of(scope, identifier).ok_or_else(|| not_found(identifier))?;
    space.get(KIND, id).map(public).ok_or_else(|| not_found(identifier))
}

/// Every job with its submission time on the clock and id.
pub fn all(space: &Space) -> Vec<(u64, String, Value)> {
    space.all(KIND).map(|(id, d)| (d["_submitMicros"].as_u64().unwrap_or(0), id.clone(), public(d))).collect()
}

/// The jobs due to start at `clock_us`; each is marked `InProgress` (its records are the
/// caller's to answer, then [`finish`]).
pub fn start_due(space: &mut Space, clock_us: u64, now: &str) -> Vec<(String, Value)> {
    let due: Vec<String> = space
        .all(KIND)
        .filter(|(_, d)| d["status"] == "Submitted" && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us))
        .map(|(id, _)| id.clone())
        .collect();
    let mut started = Vec::new();
    for id in due {
        if let Some(doc) = space.get_mut(KIND, &id) {
            doc["status"] = json!("InProgress");
            doc["lastModifiedTime"] = json!(now);
            started.push((id, doc.clone()));
        }
    }
    started
}

/// Whether any job is due to start at `clock_us`.
pub fn any_due(space: &Space, clock_us: u64) -> bool {
    space.all(KIND).any(|(_, d)| d["status"] == "Submitted" && d["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us))
}

/// How a job's records went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Records read.
    pub total: u64,
    /// Records answered (successfully or not).
    pub processed: u64,
    /// Records answered successfully.
    pub success: u64,
    /// Records that failed.
    pub error: u64,
}

/// Ends a started job with its counts, or with why it failed. A job stopped meanwhile stays
/// stopped.
pub fn finish(space: &mut Space, id: &str, outcome: Result<Counts, String>, now: &str) {
    let Some(doc) = space.get_mut(KIND, id) else { return };
    if doc["status"] != "InProgress" {
        return;
    }
    match outcome {
        Ok(c) => {
            doc["status"] = json!(match (c.success, c.error) {
                (_, 0) => "Completed",
                (0, _) => "Failed",
                _ => "PartiallyCompleted",
            });
            for (key, n) in [
                ("totalRecordCount", c.total),
                ("processedRecordCount", c.processed),
                ("successRecordCount", c.success),
                ("errorRecordCount", c.error),
            ] {
                doc[key] = json!(n);
            }
        }
        Err(why) => {
            doc["status"] = json!("Failed");
            doc["message"] = json!(why);
        }
    }
    doc["endTime"] = json!(now);
    doc["lastModifiedTime"] = json!(now);
}

/// StopModelInvocationJob.
pub fn stop(space: &mut Space, scope: &Scope, identifier: &str, now: &str) -> Result<(), BedrockError> {
    let id = id_of(scope, identifier).ok_or_else(|| not_found(identifier))?;
    let doc = space.get_mut(KIND, id).ok_or_else(|| not_found(identifier))?;
    match doc["status"].as_str() {
        Some("Submitted" | "InProgress" | "Validating" | "Scheduled") => {
            doc["status"] = json!("Stopped");
            doc["endTime"] = json!(now);
            doc["lastModifiedTime"] = json!(now);
            Ok(())
        }
        other => Err(BedrockError::new(
            ErrorCode::ConflictException,
            format!("The model invocation job {identifier} is {} and cannot be stopped.", other.unwrap_or("ended")),
        )),
    }
}
