//! What timed jobs write when they complete (evaluation results, optimized prompts): the
//! objects they read, what those make, and the objects written, over the S3 folder or a real
//! S3 server (`--s3-endpoint`). With the folder, inputs are read and outputs written before the
//! job reads `Completed`, and an input that cannot be read or parsed fails the job with the
//! reason; with a real S3 both happen in a task just after it (a failure is only logged).

use serde_json::Value;

use super::Services;
use crate::backend::object_store::{local_path, split_s3_uri, Object, ObjectStore};
use crate::backend::state::{Scope, Space};
use crate::wire::error::BedrockError;

/// An input object is read at most this large.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// The objects a job read, in the order of its sources (None where a source named none).
pub type Read = Vec<Option<Vec<u8>>>;

/// How one kind of job makes its outputs.
pub struct Outputs<I> {
    /// The S3 URIs a job reads (None: nothing to read, such as a built-in dataset).
    pub sources: fn(&Value) -> Vec<Option<String>>,
    /// What the objects read (in the order of `sources`) make, or why the job fails.
    pub parse: fn(&Value, Read) -> Result<I, String>,
    /// The objects a job writes, given its id and record.
    pub objects: fn(&Services, &Scope, &str, &Value, &I) -> Vec<Object>,
}

/// Completes the `due` jobs (id, record) with `settle` — given those that fail, with why —
/// and writes their outputs.
pub fn complete<I: Send + 'static>(
    services: &Services,
    scope: &Scope,
    outputs: &'static Outputs<I>,
    due: Vec<(String, Value)>,
    settle: impl FnOnce(&mut Space, &[(String, String)]),
) -> Result<(), BedrockError> {
    let store = &services.async_invoke.store;
    let mut failed = Vec::new();
    let mut ready = Vec::new();
    for (id, job) in due {
        if store.is_remote() {
            ready.push((id, job, None));
            continue;
        }
        let read: Result<Read, String> = (outputs.sources)(&job)
            .iter()
            .map(|uri| uri.as_deref().map(|u| read_local(store, u)).transpose())
            .collect();
        match read.and_then(|objects| (outputs.parse)(&job, objects)) {
            Ok(input) => ready.push((id, job, Some(input))),
            Err(why) => failed.push((id, why)),
        }
    }
    services.state.update(scope, |space| {
        settle(space, &failed);
        Ok(())
    })?;
    for (id, job, input) in ready {
        match input {
            Some(input) => {
                if let Err(e) = store.put_local(&(outputs.objects)(services, scope, &id, &job, &input)) {
                    tracing::warn!(error = %e, job = %id, "job outputs not written");
                }
            }
            None => {
                let (services, scope, store) = (services.clone(), scope.clone(), store.clone());
                tokio::spawn(async move {
                    let mut objects = Vec::new();
                    for uri in (outputs.sources)(&job) {
                        match uri {
                            None => objects.push(None),
                            Some(uri) => match read_remote(&store, &uri).await {
                                Ok(bytes) => objects.push(Some(bytes)),
                                Err(e) => {
                                    tracing::warn!(error = %e, job = %id, "job input not read");
                                    return;
                                }
                            },
                        }
                    }
                    let input = match (outputs.parse)(&job, objects) {
                        Ok(input) => input,
                        Err(e) => {
                            tracing::warn!(error = %e, job = %id, "job input not usable");
                            return;
                        }
                    };
                    if let Err(e) = store.put((outputs.objects)(&services, &scope, &id, &job, &input)).await {
                        tracing::warn!(error = %e, job = %id, "job outputs not written");
                    }
                });
            }
        }
    }
    Ok(())
}

fn unreadable(uri: &str) -> String {
    format!("The input {uri} could not be read.")
}

/// The object at `uri` in the S3 folder.
fn read_local(store: &ObjectStore, uri: &str) -> Result<Vec<u8>, String> {
    let (bucket, key) = split_s3_uri(uri).ok_or_else(|| unreadable(uri))?;
    let path = store.folder().and_then(|dir| local_path(dir, bucket, key)).ok_or_else(|| unreadable(uri))?;
    let meta = std::fs::metadata(&path).map_err(|_| unreadable(uri))?;
    if !meta.is_file() || meta.len() > MAX_INPUT_BYTES as u64 {
        return Err(unreadable(uri));
    }
    std::fs::read(&path).map_err(|_| unreadable(uri))
}

/// The object at `uri` on the S3 server (the first under it, when it is a prefix).
async fn read_remote(store: &ObjectStore, uri: &str) -> Result<Vec<u8>, String> {
    let (bucket, key) = split_s3_uri(uri).ok_or_else(|| unreadable(uri))?;
    let objects = store.read_prefix(bucket, key, MAX_INPUT_BYTES).await?;
    objects.into_iter().next().map(|(_, body)| body).ok_or_else(|| unreadable(uri))
}
