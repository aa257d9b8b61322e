//! StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes (the behaviour and the S3 stand-in
//! are in [`crate::backend::async_invoke`]). Inputs are validated against the model with
//! Coral's messages; the model must be one that runs asynchronously (Nova Reel).

use serde_json::{json, Value};

use super::validate::{check_enum, constraint};
use super::{coral, Request, Services};
use crate::backend::async_invoke::{self, Filter, Start};
use crate::backend::paging::{self, PageRequest};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &["StartAsyncInvoke", "GetAsyncInvoke", "ListAsyncInvokes"];

/// ListAsyncInvokes' page size when `maxResults` is absent.
const DEFAULT_PAGE: usize = 1000;

/// Nova Reel task types.
const TASK_TYPES: &[&str] = &["TEXT_VIDEO", "MULTI_SHOT_AUTOMATED", "MULTI_SHOT_MANUAL"];

fn clock_us(services: &Services) -> u64 {
    u64::try_from(services.clock.now().as_micros()).unwrap_or(u64::MAX)
}

/// The Nova Reel request checks Bedrock makes before accepting the job.
fn check_model_input(input: &Value) -> Result<(), BedrockError> {
    let task = input.get("taskType").and_then(Value::as_str).unwrap_or_default();
    check_enum(task, "modelInput.taskType", TASK_TYPES)?;
    if task == "TEXT_VIDEO" {
        let text = input.pointer("/textToVideoParams/text").and_then(Value::as_str).unwrap_or_default();
        if text.is_empty() || text.chars().count() > 512 {
            return Err(constraint(&json!(text), "modelInput.textToVideoParams.text", "have length between 1 and 512"));
        }
    }
    Ok(())
}

/// StartAsyncInvoke with a job that a scenario rule makes fail: accepted as usual, then
/// `Failed` with `failure` as its `failureMessage` when it is due (no output written).
pub fn start_failing(req: &Request, services: &Services, failure: &str) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    Ok(Plan::json(start(req, services, &scope, Some(failure))?))
}

fn start(req: &Request, services: &Services, scope: &Scope, failure: Option<&str>) -> Result<Value, BedrockError> {
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock-runtime", "StartAsyncInvoke", &Value::Object(input.clone()))?;
    let model_id = input.get("modelId").and_then(Value::as_str).unwrap_or_default();
    let model = super::resolve_model(services, req, model_id)?.model;
    if model.emulator.family != "nova-reel" {
        return Err(BedrockError::validation(format!(
            "The model {model_id} doesn't support asynchronous invocation. Use InvokeModel or Converse, or choose a model that supports StartAsyncInvoke."
        )));
    }
    check_model_input(input.get("modelInput").unwrap_or(&Value::Null))?;
    let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
    let model_arn = format!("arn:aws:bedrock:{}::foundation-model/{}", req.region, model.model_id);
    let (now, at) = (now(), clock_us(services));
    services.state.update(scope, |space| {
        space.idempotent("StartAsyncInvoke", token.as_deref(), &Value::Object(input.clone()), |space| {
            let s = Start { input: &input, model_arn: model_arn.clone(), now: &now, clock_us: at, failure };
            Ok(async_invoke::start(space, scope, s, &services.async_invoke))
        })
    })
}

fn list(req: &Request, services: &Services, scope: &Scope) -> Result<Value, BedrockError> {
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock-runtime", "ListAsyncInvokes", &Value::Object(input.clone()))?;
    let time = |name: &str| -> Result<Option<f64>, BedrockError> {
        match req.query(name) {
            None => Ok(None),
            Some(t) => async_invoke::parse_time(t)
                .map(Some)
                .ok_or_else(|| super::validate::wrong_type(name, "a timestamp (ISO 8601)")),
        }
    };
    let filter = Filter {
        status: req.query("statusEquals"),
        after: time("submitTimeAfter")?,
        before: time("submitTimeBefore")?,
        ascending: req.query("sortOrder") == Some("Ascending"),
    };
    settle(services, scope)?;
    let items = services.state.read(scope, |space| async_invoke::list(space, &filter));
    let request = PageRequest {
        max_results: input.get("maxResults").and_then(Value::as_u64).map(|n| n as usize),
        next_token: req.query("nextToken").map(str::to_string),
    };
    let listing = format!("async-invoke/{}", if filter.ascending { "asc" } else { "desc" });
    let page = paging::page(&listing, items, |(key, _)| key.clone(), &request, DEFAULT_PAGE)?;
    let mut body = json!({"asyncInvokeSummaries": page.items.into_iter().map(|(_, s)| s).collect::<Vec<_>>()});
    if let Some(t) = page.next_token {
        body["nextToken"] = json!(t);
    }
    Ok(body)
}

/// Completes the scope's due invocations: a write (and, with `--state-dir`, a disk write) only
/// when one is due, so that polling reads stay reads.
fn settle(services: &Services, scope: &Scope) -> Result<(), BedrockError> {
    let at = clock_us(services);
    if services.state.read(scope, |space| async_invoke::any_due(space, at)) {
        let now = now();
        let uploads =
            services.state.update(scope, |space| Ok(async_invoke::settle(space, at, &services.async_invoke, &now)))?;
        // A real S3 gets the output after the request (a read never waits on the network):
        // the invocation stays InProgress until its objects are written.
        for upload in uploads {
            let (services, scope) = (services.clone(), scope.clone());
            tokio::spawn(async move {
                let written = services.async_invoke.store.put(upload.objects).await;
                if let Err(e) = &written {
                    tracing::warn!(invocation = %upload.id, error = %e, "asynchronous invocation output not written");
                }
                let now = crate::backend::state::now_rfc3339();
                let _ = services.state.update(&scope, |space| {
                    async_invoke::uploaded(space, &upload.id, written, &now);
                    Ok(())
                });
            });
        }
    }
    Ok(())
}

/// Answers an async-invoke operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let body = match req.operation() {
        "StartAsyncInvoke" => start(req, services, &scope, None)?,
        "GetAsyncInvoke" => {
            let arn = req.label("invocationArn");
            coral::validate_input("bedrock-runtime", "GetAsyncInvoke", &Value::Object(coral::operation_input(req)?))?;
            settle(services, &scope)?;
            services.state.read(&scope, |space| async_invoke::get(space, &scope, arn))?
        }
        "ListAsyncInvokes" => list(req, services, &scope)?,
        other => return Err(BedrockError::validation(format!("{other} is not an async-invoke operation."))),
    };
    Ok(Plan::json(body))
}
