//! The evaluation-job operations ([`crate::backend::evaluation`] keeps the lifecycle).

use serde_json::{json, Map, Value};

use super::evaluation_results::{self as results, Prompts};
use super::{coral, listing, Request, Services};
use crate::backend::evaluation;
use crate::backend::object_store::{local_path, split_s3_uri};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] =
    &["CreateEvaluationJob", "GetEvaluationJob", "ListEvaluationJobs", "StopEvaluationJob", "BatchDeleteEvaluationJob"];

const DEFAULT_PAGE: usize = 100;

/// Answers an evaluation-job operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let at = super::provisioned::clock_us(services);
    let now = now();
    let state = &services.state;
    if state.read(&scope, |space| evaluation::any_due(space, at)) {
        complete_due(services, &scope, at, &now)?;
    }
    let (status, body) = match req.operation() {
        "CreateEvaluationJob" => {
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            let due = at.saturating_add(super::import_copy::lifecycle_us(services));
            (
                202,
                state.update(&scope, |space| {
                    space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                        evaluation::create(space, &scope, services.catalog, &input, &now, at, due)
                    })
                })?,
            )
        }
        "GetEvaluationJob" => {
            (200, state.read(&scope, |space| evaluation::get(space, &scope, req.label("jobIdentifier")))?)
        }
        "ListEvaluationJobs" => (200, list(req, services, &scope, &input)?),
        "StopEvaluationJob" => {
            state.update(&scope, |space| evaluation::stop(space, &scope, req.label("jobIdentifier"), &now))?;
            (200, json!({}))
        }
        "BatchDeleteEvaluationJob" => {
            let ids: Vec<&str> = input["jobIdentifiers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            (202, state.update(&scope, |space| Ok(evaluation::batch_delete(space, &scope, &ids)))?)
        }
        other => return Err(BedrockError::validation(format!("{other} is not an evaluation operation."))),
    };
    Ok(Plan::with_status(status, body))
}

fn list(req: &Request, services: &Services, scope: &Scope, input: &Map<String, Value>) -> Result<Value, BedrockError> {
    let window = listing::time_window(req, "creationTimeAfter", "creationTimeBefore")?;
    let status = input.get("statusEquals").and_then(Value::as_str);
    let app = input.get("applicationTypeEquals").and_then(Value::as_str);
    let name = input.get("nameContains").and_then(Value::as_str);
    let items = services
        .state
        .read(scope, evaluation::all)
        .into_iter()
        .filter(|(_, _, v)| status.is_none_or(|s| v["status"] == s))
        .filter(|(_, _, v)| app.is_none_or(|a| v["applicationType"] == a))
        .filter(|(_, _, v)| name.is_none_or(|n| v["jobName"].as_str().is_some_and(|j| j.contains(n))))
        .filter(|(_, _, v)| listing::in_window(v["creationTime"].as_str(), window))
        .map(|(created, id, v)| (created, id, evaluation::summary(&v)))
        .collect();
    listing::page_by_creation(items, input, "evaluation", "jobSummaries", DEFAULT_PAGE)
}

/// A custom prompt dataset is read at most this large.
const MAX_DATASET_BYTES: u64 = 16 * 1024 * 1024;

/// Completes the scope's due automated jobs and writes their results: with the S3 folder the
/// datasets are read and the results written before the job reads `Completed` (a dataset that
/// cannot be read or parsed fails the job with the reason); with `--s3-endpoint` both happen
/// in a task after it.
fn complete_due(services: &Services, scope: &Scope, at: u64, now: &str) -> Result<(), BedrockError> {
    let due = services.state.read(scope, |space| evaluation::due(space, at));
    let store = &services.async_invoke.store;
    let mut failed = Vec::new();
    let mut ready = Vec::new();
    for (id, job) in due {
        if store.is_remote() {
            ready.push((id, job, None));
            continue;
        }
        match local_prompts(services, &job) {
            Ok(prompts) => ready.push((id, job, Some(prompts))),
            Err(why) => failed.push((id, why)),
        }
    }
    services.state.update(scope, |space| {
        evaluation::settle(space, at, now, &failed);
        Ok(())
    })?;
    for (id, job, prompts) in ready {
        match prompts {
            Some(prompts) => {
                let objects = results::objects(services, scope, &id, &job, &prompts);
                if let Err(e) = store.put_local(&objects) {
                    tracing::warn!(error = %e, "evaluation results not written");
                }
            }
            None => {
                let (services, scope, store) = (services.clone(), scope.clone(), store.clone());
                tokio::spawn(async move {
                    let mut prompts = Vec::new();
                    for (_, _, uri, _) in results::datasets(&job) {
                        let read = match uri.as_deref().and_then(split_s3_uri) {
                            None => Ok(results::builtin_prompts()),
                            Some((bucket, key)) => store
                                .read_prefix(bucket, key, MAX_DATASET_BYTES as usize)
                                .await
                                .and_then(|objects| {
                                    objects.first().map(|(_, b)| b.clone()).ok_or_else(|| "no dataset".into())
                                })
                                .and_then(|bytes| results::parse_prompts(&bytes)),
                        };
                        match read {
                            Ok(p) => prompts.push(p),
                            Err(e) => {
                                tracing::warn!(error = %e, "evaluation dataset not read");
                                return;
                            }
                        }
                    }
                    let objects = results::objects(&services, &scope, &id, &job, &prompts);
                    if let Err(e) = store.put(objects).await {
                        tracing::warn!(error = %e, "evaluation results not written");
                    }
                });
            }
        }
    }
    Ok(())
}

/// Each dataset's prompts, read from the S3 folder (built-in datasets: the emulator's own).
fn local_prompts(services: &Services, job: &Value) -> Result<Vec<Prompts>, String> {
    let folder = services.async_invoke.store.folder();
    results::datasets(job)
        .into_iter()
        .map(|(_, name, uri, _)| {
            let Some(uri) = uri else { return Ok(results::builtin_prompts()) };
            let unreadable = || format!("The prompt dataset {name} at {uri} could not be read.");
            let (bucket, key) = split_s3_uri(&uri).ok_or_else(unreadable)?;
            let path = folder.and_then(|dir| local_path(dir, bucket, key)).ok_or_else(unreadable)?;
            let meta = std::fs::metadata(&path).map_err(|_| unreadable())?;
            if !meta.is_file() || meta.len() > MAX_DATASET_BYTES {
                return Err(unreadable());
            }
            let bytes = std::fs::read(&path).map_err(|_| unreadable())?;
            results::parse_prompts(&bytes)
        })
        .collect()
}
