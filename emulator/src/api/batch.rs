//! Batch inference: CreateModelInvocationJob, GetModelInvocationJob, ListModelInvocationJobs
//! and StopModelInvocationJob ([`crate::backend::batch`] keeps the lifecycle).
//!
//! A started job reads its JSONL records (`{"recordId", "modelInput"}` per line) from the
//! input `s3Uri` — one object, or every `.jsonl` object under a prefix — in the S3 folder or
//! the real S3 server (`--s3-endpoint`), answers each `modelInput` as an InvokeModel request
//! of the job's model would be answered (scenario rules, else the synthetic model), and writes
//! `<output prefix>/<job id>/<input file>.out` (one line per record: `recordId`,
//! `modelInput`, and `modelOutput` or `error {errorCode, errorMessage}`) and
//! `manifest.json.out` (the counts and token totals), as AWS does.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::{coral, listing, Request, Services};
use crate::backend::batch::{self, Counts, Create};
use crate::backend::object_store::{join_key, split_s3_uri, Object};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::{Plan, PlanBody};
use crate::scenario::{MatchInput, RequestBody};
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] =
    &["CreateModelInvocationJob", "GetModelInvocationJob", "ListModelInvocationJobs", "StopModelInvocationJob"];

/// The listing's page size when `maxResults` is absent.
const DEFAULT_PAGE: usize = 100;
/// Input a job may read, in all.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// Records a job may hold (AWS's per-job record quota is of this order).
pub const MAX_RECORDS: usize = 50_000;
/// Output a job may write, in all (its answers are held per input file until written).
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024 * 1024;

/// Answers a batch-inference operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let at = super::provisioned::clock_us(services);
    let body = match req.operation() {
        "CreateModelInvocationJob" => {
            let model_id = input["modelId"].as_str().unwrap_or_default().to_string();
            // The model must exist now (it answers the records later).
            super::resolve_model(services, req, &model_id)?;
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            let now = now();
            let lifecycle = u64::try_from(services.async_invoke.duration.as_micros()).unwrap_or(u64::MAX);
            let c = Create { now: &now, clock_us: at, due_us: at.saturating_add(lifecycle), model_id: &model_id };
            services.state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    Ok(batch::create(space, &scope, &input, &c))
                })
            })?
        }
        "GetModelInvocationJob" => {
            start_due(services, &scope, at)?;
            services.state.read(&scope, |space| batch::get(space, &scope, req.label("jobIdentifier")))?
        }
        "ListModelInvocationJobs" => {
            start_due(services, &scope, at)?;
            list(req, services, &scope, &input)?
        }
        "StopModelInvocationJob" => {
            let now = now();
            services.state.update(&scope, |space| batch::stop(space, &scope, req.label("jobIdentifier"), &now))?;
            json!({})
        }
        other => return Err(BedrockError::validation(format!("{other} is not a batch-inference operation."))),
    };
    Ok(Plan::json(body))
}

fn list(req: &Request, services: &Services, scope: &Scope, input: &Map<String, Value>) -> Result<Value, BedrockError> {
    let window = listing::time_window(req, "submitTimeAfter", "submitTimeBefore")?;
    let status = input.get("statusEquals").and_then(Value::as_str);
    let name = input.get("nameContains").and_then(Value::as_str);
    let items = services
        .state
        .read(scope, batch::all)
        .into_iter()
        .filter(|(_, _, v)| status.is_none_or(|s| v["status"] == s))
        .filter(|(_, _, v)| name.is_none_or(|n| v["jobName"].as_str().is_some_and(|j| j.contains(n))))
        .filter(|(_, _, v)| listing::in_window(v["submitTime"].as_str(), window))
        .collect();
    listing::page_by_creation(items, input, "batch", "invocationJobSummaries", DEFAULT_PAGE)
}

/// Starts the scope's due jobs, each in a task (a read never waits on their records).
fn start_due(services: &Services, scope: &Scope, at: u64) -> Result<(), BedrockError> {
    if !services.state.read(scope, |space| batch::any_due(space, at)) {
        return Ok(());
    }
    let started_at = now();
    let started = services.state.update(scope, |space| Ok(batch::start_due(space, at, &started_at)))?;
    for (id, doc) in started {
        let (services, scope) = (services.clone(), scope.clone());
        tokio::spawn(async move {
            let outcome = run(&services, &scope, &id, &doc).await;
            if let Err(e) = &outcome {
                tracing::warn!(job = %id, error = %e, "batch inference job failed");
            }
            let now = now();
            let _ = services.state.update(&scope, |space| {
                batch::finish(space, &id, outcome, &now);
                Ok(())
            });
        });
    }
    Ok(())
}

/// Reads, answers and writes one job's records.
async fn run(services: &Services, scope: &Scope, id: &str, doc: &Value) -> Result<Counts, String> {
    let store = &services.async_invoke.store;
    let input_uri = doc["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].as_str().unwrap_or_default();
    let output_uri = doc["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].as_str().unwrap_or_default();
    let (bucket, key) = split_s3_uri(input_uri).ok_or_else(|| format!("{input_uri} is not an S3 URI"))?;
    let (out_bucket, out_prefix) = split_s3_uri(output_uri).ok_or_else(|| format!("{output_uri} is not an S3 URI"))?;
    let mut files = store.read_prefix(bucket, key, MAX_INPUT_BYTES).await?;
    if files.len() > 1 || files.first().is_some_and(|(k, _)| k != key) {
        files.retain(|(k, _)| k.ends_with(".jsonl"));
    }
    if files.is_empty() {
        return Err(format!("No .jsonl input was found at {input_uri}."));
    }
    let model_id = doc["modelId"].as_str().unwrap_or_default();
    let mut counts = Counts::default();
    let (mut input_tokens, mut output_tokens) = (0u64, 0u64);
    let mut written = 0usize;
    for (file_key, body) in files {
        let text = String::from_utf8_lossy(&body);
        let mut out = String::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            counts.total += 1;
            if counts.total % 64 == 0 {
                // Long jobs share the runtime with requests.
                tokio::task::yield_now().await;
            }
            if counts.total as usize > MAX_RECORDS {
                return Err(format!("The input holds more than {MAX_RECORDS} records."));
            }
            let record: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            let record_id =
                record["recordId"].as_str().map_or_else(|| format!("RECORD{:07}", counts.total), str::to_string);
            let model_input = record.get("modelInput").cloned().unwrap_or(Value::Null);
            let mut line_out = json!({"recordId": record_id, "modelInput": model_input});
            match answer(services, scope, model_id, &model_input) {
                Ok((output, usage)) => {
                    counts.success += 1;
                    input_tokens += u64::from(usage.0);
                    output_tokens += u64::from(usage.1);
                    line_out["modelOutput"] = output;
                }
                Err((code, message)) => {
                    counts.error += 1;
                    line_out["error"] = json!({"errorCode": code, "errorMessage": message});
                }
            }
            counts.processed += 1;
            out.push_str(&line_out.to_string());
            out.push('\n');
            if written + out.len() > MAX_OUTPUT_BYTES {
                return Err(format!("The job's output would exceed {MAX_OUTPUT_BYTES} bytes."));
            }
        }
        if stopped(services, scope, id) {
            return Err("stopped".to_string());
        }
        written += out.len();
        let name = file_key.rsplit('/').next().unwrap_or(&file_key);
        // Each file is written when it is done, so a job holds one file's answers at a time.
        store
            .put(vec![Object {
                bucket: out_bucket.to_string(),
                key: join_key(out_prefix, &format!("{id}/{name}.out")),
                body: out.into_bytes(),
                content_type: "application/jsonl",
            }])
            .await?;
    }
    let manifest = json!({
        "totalRecordCount": counts.total,
        "processedRecordCount": counts.processed,
        "successRecordCount": counts.success,
        "errorRecordCount": counts.error,
        "inputTokenCount": input_tokens,
        "outputTokenCount": output_tokens,
    });
    store
        .put(vec![Object {
            bucket: out_bucket.to_string(),
            key: join_key(out_prefix, &format!("{id}/manifest.json.out")),
            body: manifest.to_string().into_bytes(),
            content_type: "application/json",
        }])
        .await?;
    Ok(counts)
}

/// Whether the job was stopped (or deleted) while it ran: it writes nothing more.
fn stopped(services: &Services, scope: &Scope, id: &str) -> bool {
    services
        .state
        .read(scope, |space| space.get(crate::backend::batch::KIND, id).is_none_or(|d| d["status"] != "InProgress"))
}

/// One record's `modelInput` answered as an InvokeModel request of `model_id`: its native
/// response and (input, output) tokens, or the error's status and message.
fn answer(
    services: &Services,
    scope: &Scope,
    model_id: &str,
    model_input: &Value,
) -> Result<(Value, (u32, u32)), (u16, String)> {
    if !model_input.is_object() {
        return Err((400, "The record has no modelInput object.".to_string()));
    }
    answer_as(services, scope, model_id, Inner::InvokeModel, model_input)
}

/// The runtime operation a request the emulator makes itself is.
#[derive(Clone, Copy)]
pub enum Inner {
    /// `POST /model/{id}/invoke` with a native body (batch records).
    InvokeModel,
    /// `POST /model/{id}/converse` (evaluation prompts).
    Converse,
}

/// `body` answered as an `operation` request of `model_id` in `scope` would be — scenario
/// rules, recordings, the synthetic model, with fault rules and quotas around it: the JSON
/// response and (input, output) tokens, or the error's status and message.
pub fn answer_as(
    services: &Services,
    scope: &Scope,
    model_id: &str,
    operation: Inner,
    body: &Value,
) -> Result<(Value, (u32, u32)), (u16, String)> {
    let fail = |e: BedrockError| (e.code.status(), e.message.clone());
    let (suffix, operation) = match operation {
        Inner::InvokeModel => ("invoke", "InvokeModel"),
        Inner::Converse => ("converse", "Converse"),
    };
    let model_input = body;
    let encoded = percent_encoding::utf8_percent_encode(model_id, percent_encoding::NON_ALPHANUMERIC).to_string();
    let raw_path = format!("/model/{encoded}/{suffix}");
    let route = crate::operations::find("POST", &raw_path)
        .ok_or_else(|| (400, format!("The model {model_id} cannot be invoked.")))?;
    let body = Bytes::from(serde_json::to_vec(model_input).unwrap_or_default());
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    let req = Request {
        route,
        query: Vec::new(),
        headers: Arc::new(headers),
        body: body.clone(),
        region: scope.region.clone(),
        account: scope.account.clone(),
        duplex: None,
    };
    let request_body = RequestBody::new(body);
    let prepared = super::prepare(&req, services, &request_body).map_err(fail)?;
    let mut input = MatchInput {
        operation: operation.to_string(),
        model_id: Some(model_id.to_string()),
        body: request_body,
        ..Default::default()
    };
    prepared.describe(&mut input);
    let estimate = prepared.token_estimate();
    let mut prepared = Some(prepared);
    let mut respond = || match prepared.take() {
        Some(p) => super::respond(&req, p, services, &input, &raw_path),
        None => Err(BedrockError::validation("The record was already answered.")),
    };
    // Fault rules and quotas apply to each record as to a request of its own.
    let plan = match &services.inner_faults {
        Some(faults) => (faults.0)(&input, estimate, &mut respond),
        None => respond().map_err(fail)?,
    };
    let usage = plan.usage.map_or((0, 0), |u| (u.input_tokens, u.output_tokens));
    match plan.body {
        PlanBody::Raw { bytes, .. } => serde_json::from_slice(&bytes)
            .map(|v| (v, usage))
            .map_err(|_| (500, "The model's answer is not JSON.".into())),
        PlanBody::Json(v) if plan.status < 300 => Ok((v, usage)),
        PlanBody::Error(e) => Err(fail(e)),
        _ => Err((plan.status, "The record's answer is not a JSON body.".to_string())),
    }
}
