//! What the simple timed jobs share (evaluation and prompt-optimization jobs): completion
//! when due on the injected clock, stopping, and batch deletion.

use serde_json::{json, Value};

use super::state::Space;
use crate::wire::error::{BedrockError, ErrorCode};

/// How a kind of job keeps its status.
pub struct JobKind {
    /// The state kind.
    pub kind: &'static str,
    /// The member holding the status (`status`, `jobStatus`).
    pub status: &'static str,
    /// What the job is called in messages.
    pub what: &'static str,
}

impl JobKind {
    fn due(&self, doc: &Value, clock_us: u64, completes: &dyn Fn(&Value) -> bool) -> bool {
        doc[self.status] == "InProgress" && completes(doc) && doc["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us)
    }

    /// Whether a job that `completes` on its own is due at `clock_us`.
    pub fn any_due(&self, space: &Space, clock_us: u64, completes: &dyn Fn(&Value) -> bool) -> bool {
        space.all(self.kind).any(|(_, d)| self.due(d, clock_us, completes))
    }

    /// The jobs due at `clock_us` (id, record): what will complete, read before it does.
    pub fn due_jobs(&self, space: &Space, clock_us: u64, completes: &dyn Fn(&Value) -> bool) -> Vec<(String, Value)> {
        space
            .all(self.kind)
            .filter(|(_, d)| self.due(d, clock_us, completes))
            .map(|(id, d)| (id.clone(), d.clone()))
            .collect()
    }

    /// Ends each job `failed` names `Failed`, with its reason in `key` (a list of one when
    /// `list`: evaluation jobs keep `failureMessages`).
    pub fn fail(&self, space: &mut Space, failed: &[(String, String)], key: &str, list: bool) {
        for (id, why) in failed {
            if let Some(doc) = space.get_mut(self.kind, id) {
                doc[self.status] = json!("Failed");
                doc[key] = if list { json!([why]) } else { json!(why) };
            }
        }
    }

    /// Completes the jobs due at `clock_us`.
    pub fn settle(&self, space: &mut Space, clock_us: u64, now: &str, completes: &dyn Fn(&Value) -> bool) {
        let ids: Vec<String> =
            space.all(self.kind).filter(|(_, d)| self.due(d, clock_us, completes)).map(|(id, _)| id.clone()).collect();
        for id in ids {
            if let Some(doc) = space.get_mut(self.kind, &id) {
                doc[self.status] = json!("Completed");
                doc["lastModifiedTime"] = json!(now);
            }
        }
    }

    /// Stops an `InProgress` job; any other is a `ConflictException`.
    pub fn stop(&self, doc: &mut Value, identifier: &str, now: &str) -> Result<(), BedrockError> {
        if doc[self.status] != "InProgress" {
            return Err(BedrockError::new(
                ErrorCode::ConflictException,
                format!(
                    "The {} {identifier} is {} and cannot be stopped.",
                    self.what,
                    doc[self.status].as_str().unwrap_or_default()
                ),
            ));
        }
        doc[self.status] = json!("Stopped");
        doc["lastModifiedTime"] = json!(now);
        Ok(())
    }

    /// Deletes each job an identifier names (`id_of`), one `Deleting` item each, or an error
    /// entry: `ConflictException` for a job `busy` says cannot go yet, `ResourceNotFoundException`
    /// for none. The `(errors, deleted)` lists.
    pub fn batch_delete(
        &self,
        space: &mut Space,
        identifiers: &[&str],
        id_of: &dyn Fn(&str) -> Option<String>,
        busy: &dyn Fn(&Value) -> bool,
    ) -> (Vec<Value>, Vec<Value>) {
        let (mut errors, mut deleted) = (Vec::new(), Vec::new());
        for identifier in identifiers {
            match id_of(identifier).filter(|id| space.get(self.kind, id).is_some()) {
                Some(id) if space.get(self.kind, &id).is_some_and(busy) => errors.push(json!({
                    "jobIdentifier": identifier,
                    "code": "ConflictException",
                    "message": format!("The {} is in progress: stop it before deleting it.", self.what),
                })),
                Some(id) => {
                    space.remove(self.kind, &id);
                    deleted.push(json!({"jobIdentifier": identifier, "jobStatus": "Deleting"}));
                }
                None => errors.push(json!({
                    "jobIdentifier": identifier,
                    "code": "ResourceNotFoundException",
                    "message": format!("The {} {identifier} could not be found.", self.what),
                })),
            }
        }
        (errors, deleted)
    }
}
