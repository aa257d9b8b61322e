//! Custom model import and model copy operations ([`crate::backend::import_copy`] keeps the
//! lifecycles). A due import job completes in a task that reads `config.json` from its
//! weights folder (the S3 folder or `--s3-endpoint`) for the architecture.

use serde_json::{json, Map, Value};

use super::{coral, listing, Request, Services};
use crate::backend::catalog::parse_arn;
use crate::backend::import_copy::{self as import, COPY_JOB_KIND, IMPORTED_KIND, IMPORT_JOB_KIND};
use crate::backend::object_store::{join_key, split_s3_uri};
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "CreateModelImportJob",
    "GetModelImportJob",
    "ListModelImportJobs",
    "GetImportedModel",
    "ListImportedModels",
    "DeleteImportedModel",
    "CreateModelCopyJob",
    "GetModelCopyJob",
    "ListModelCopyJobs",
];

const DEFAULT_PAGE: usize = 100;

/// Answers an import or copy operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = coral::validated_input(req)?;
    let at = super::provisioned::clock_us(services);
    let now = now();
    let due = at.saturating_add(lifecycle_us(services));
    let state = &services.state;
    let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
    settle(services, &scope, at)?;
    let (status, body) = match req.operation() {
        "CreateModelImportJob" => (
            201,
            state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    import::create_import(space, &scope, &input, &now, at, due)
                })
            })?,
        ),
        "GetModelImportJob" => {
            (200, state.read(&scope, |space| import::get_import(space, &scope, req.label("jobIdentifier")))?)
        }
        "ListModelImportJobs" => (200, list(req, services, &scope, &input, IMPORT_JOB_KIND)?),
        "GetImportedModel" => {
            (200, state.read(&scope, |space| import::get_imported(space, &scope, req.label("modelIdentifier")))?)
        }
        "ListImportedModels" => (200, list(req, services, &scope, &input, IMPORTED_KIND)?),
        "DeleteImportedModel" => {
            state.update(&scope, |space| import::delete_imported(space, &scope, req.label("modelIdentifier")))?;
            (200, json!({}))
        }
        "CreateModelCopyJob" => {
            let source_arn = input["sourceModelArn"].as_str().unwrap_or_default();
            // The source lives in its own region's space (copies cross regions).
            let source_scope = parse_arn(source_arn)
                .filter(|a| a.account == scope.account)
                .map(|a| Scope::new(a.account, a.region))
                .ok_or_else(|| BedrockError::not_found(format!("The source model {source_arn} could not be found.")))?;
            let source = state
                .read(&source_scope, |space| {
                    crate::backend::customization::get_model(space, &source_scope, source_arn, at)
                })
                .map_err(|_| BedrockError::not_found(format!("The source model {source_arn} could not be found.")))?;
            (
                201,
                state.update(&scope, |space| {
                    space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                        import::create_copy(space, &scope, &input, &source, &now, at, due)
                    })
                })?,
            )
        }
        "GetModelCopyJob" => (200, state.read(&scope, |space| import::get_copy(space, &scope, req.label("jobArn")))?),
        "ListModelCopyJobs" => (200, list(req, services, &scope, &input, COPY_JOB_KIND)?),
        other => return Err(BedrockError::validation(format!("{other} is not an import or copy operation."))),
    };
    Ok(Plan::with_status(status, body))
}

/// The lifecycle duration in microseconds (`--async-duration-ms`).
pub fn lifecycle_us(services: &Services) -> u64 {
    u64::try_from(services.async_invoke.duration.as_micros()).unwrap_or(u64::MAX)
}

/// Completes due copies, and starts the completion of due imports in tasks.
fn settle(services: &Services, scope: &Scope, at: u64) -> Result<(), BedrockError> {
    let copies_due = services.state.read(scope, |space| import::any_copy_due(space, at));
    if copies_due {
        let settled_at = now();
        services.state.update(scope, |space| {
            import::settle_copies(space, at, &settled_at);
            Ok(())
        })?;
    }
    if !services.state.read(scope, |space| import::any_import_due(space, at)) {
        return Ok(());
    }
    let started = services.state.update(scope, |space| Ok(import::start_due_imports(space, at)))?;
    for (id, job) in started {
        let (services, scope) = (services.clone(), scope.clone());
        tokio::spawn(async move {
            let architecture = read_architecture(&services, &job).await;
            let now = now();
            let at = super::provisioned::clock_us(&services);
            let _ = services.state.update(&scope, |space| {
                import::finish_import(space, &scope, &id, architecture, &now, at);
                Ok(())
            });
        });
    }
    Ok(())
}

/// The family model and architecture name of an import job's weights, from their
/// `config.json`.
async fn read_architecture(services: &Services, job: &Value) -> Result<(&'static str, &'static str), String> {
    let uri = job["modelDataSource"]["s3DataSource"]["s3Uri"].as_str().unwrap_or_default();
    let (bucket, prefix) = split_s3_uri(uri).ok_or_else(|| format!("{uri} is not an S3 URI"))?;
    let key = join_key(prefix, "config.json");
    let files = services
        .async_invoke
        .store
        .read_prefix(bucket, &key, 1 << 20)
        .await
        .map_err(|e| format!("The model's config.json could not be read from {uri}: {e}"))?;
    let config: Value = files
        .first()
        .and_then(|(_, body)| serde_json::from_slice(body).ok())
        .ok_or_else(|| format!("The config.json under {uri} is not JSON."))?;
    import::family_model(&config).ok_or_else(|| {
        format!(
            "The model architecture {} is not supported: import a Llama, Mistral or Mixtral model.",
            config["architectures"][0].as_str().or_else(|| config["model_type"].as_str()).unwrap_or("(none)")
        )
    })
}

fn list(
    req: &Request,
    services: &Services,
    scope: &Scope,
    input: &Map<String, Value>,
    kind: &str,
) -> Result<Value, BedrockError> {
    let window = listing::time_window(req, "creationTimeAfter", "creationTimeBefore")?;
    let (name_member, result, summary_keys): (&str, &str, &[&str]) = match kind {
        IMPORT_JOB_KIND => (
            "jobName",
            "modelImportJobSummaries",
            &[
                "jobArn",
                "jobName",
                "status",
                "lastModifiedTime",
                "creationTime",
                "endTime",
                "importedModelArn",
                "importedModelName",
            ],
        ),
        IMPORTED_KIND => (
            "modelName",
            "modelSummaries",
            &["modelArn", "modelName", "creationTime", "instructSupported", "modelArchitecture"],
        ),
        _ => (
            "targetModelName",
            "modelCopyJobSummaries",
            &[
                "jobArn",
                "status",
                "creationTime",
                "targetModelArn",
                "targetModelName",
                "sourceAccountId",
                "sourceModelArn",
                "targetModelTags",
                "failureMessage",
                "sourceModelName",
            ],
        ),
    };
    let name = input.get("nameContains").or_else(|| input.get("targetModelNameContains")).and_then(Value::as_str);
    let status = input.get("statusEquals").and_then(Value::as_str);
    let source = input.get("sourceModelArnEquals").and_then(Value::as_str);
    let items = services
        .state
        .read(scope, |space| import::all(space, kind))
        .into_iter()
        .filter(|(_, _, v)| name.is_none_or(|n| v[name_member].as_str().is_some_and(|s| s.contains(n))))
        .filter(|(_, _, v)| status.is_none_or(|s| v["status"] == s))
        .filter(|(_, _, v)| source.is_none_or(|s| v["sourceModelArn"] == s))
        .filter(|(_, _, v)| listing::in_window(v["creationTime"].as_str(), window))
        .map(|(created, id, v)| {
            let mut s = Map::new();
            for k in summary_keys {
                if let Some(x) = v.get(*k) {
                    s.insert((*k).to_string(), x.clone());
                }
            }
            (created, id, Value::Object(s))
        })
        .collect();
    listing::page_by_creation(items, input, kind, result, DEFAULT_PAGE)
}
