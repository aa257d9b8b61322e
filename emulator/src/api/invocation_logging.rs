//! Put/Get/DeleteModelInvocationLoggingConfiguration, and the log record of each answered
//! inference call while a configuration is set ([`crate::backend::invocation_logging`]).

use base64::Engine as _;
use serde_json::{json, Value};

use super::{coral, Request, Services};
use crate::backend::invocation_logging::{self, Invocation};
use crate::backend::object_store::{Object, ObjectStore};
use crate::backend::state::{now_rfc3339, Scope};
use crate::plan::stream::{Flow, Shaper};
use crate::plan::{Plan, PlanBody, StreamAction, StreamStep};
use crate::wire::error::BedrockError;
use crate::wire::event_stream::Frame;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &[
    "PutModelInvocationLoggingConfiguration",
    "GetModelInvocationLoggingConfiguration",
    "DeleteModelInvocationLoggingConfiguration",
];

/// The operations whose calls are logged.
const LOGGED: &[&str] = &["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"];

/// Answers a logging-configuration operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock", req.operation(), &Value::Object(input.clone()))?;
    let scope = Scope::new(&req.account, &req.region);
    let state = &services.state;
    let body = match req.operation() {
        "PutModelInvocationLoggingConfiguration" => {
            let config = input.get("loggingConfig").cloned().unwrap_or_else(|| json!({}));
            for path in ["/s3Config/bucketName", "/cloudWatchConfig/largeDataDeliveryS3Config/bucketName"] {
                if let Some(bucket) = config.pointer(path).and_then(Value::as_str) {
                    if !invocation_logging::valid_bucket(bucket) {
                        return Err(BedrockError::validation(format!(
                            "The S3 bucket name {bucket:?} is not valid: 3 to 63 lower-case letters, digits, dots and hyphens."
                        )));
                    }
                }
            }
            state.update(&scope, |space| {
                invocation_logging::put(space, &config);
                Ok(())
            })?;
            json!({})
        }
        "GetModelInvocationLoggingConfiguration" => match state.read(&scope, invocation_logging::get) {
            Some(config) => json!({"loggingConfig": config}),
            None => json!({}),
        },
        "DeleteModelInvocationLoggingConfiguration" => {
            state.update(&scope, |space| {
                invocation_logging::delete(space);
                Ok(())
            })?;
            json!({})
        }
        other => return Err(BedrockError::validation(format!("{other} is not a logging operation."))),
    };
    Ok(Plan::json(body))
}

/// Logs an answered inference call when its account and region have a logging configuration
/// with an `s3Config`: a unary answer at once, a stream (through a shaper that sees its events)
/// when it ends. Other calls, and errors, pass untouched.
pub fn log(services: &Services, req: &Request, request_id: &str, plan: Plan) -> Plan {
    if !LOGGED.contains(&req.operation())
        || plan.status >= 400
        || matches!(plan.body, PlanBody::Error(_))
        || services.state.is_pristine()
    {
        return plan;
    }
    let scope = Scope::new(&req.account, &req.region);
    let Some(config) = services.state.read(&scope, invocation_logging::get) else { return plan };
    let timestamp = now_rfc3339();
    let Some(location) = invocation_logging::record_location(&config, &scope, request_id, &timestamp) else {
        return plan;
    };
    let input = serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null);
    let tokens = plan.usage.map_or((0, 0), |u| (u.input_tokens, u.output_tokens));
    let pending = Pending {
        config,
        scope,
        operation: req.operation().to_string(),
        model_id: req.label("modelId").to_string(),
        request_id: request_id.to_string(),
        timestamp,
        input,
        tokens,
        location,
        store: services.async_invoke.store.clone(),
        events: Vec::new(),
    };
    match &plan.body {
        PlanBody::Json(v) => {
            pending.write(v.clone());
            plan
        }
        PlanBody::Raw { bytes, .. } => {
            pending.write(serde_json::from_slice(bytes).unwrap_or(Value::Null));
            plan
        }
        PlanBody::Stream(_) => plan.shaped(Box::new(pending)),
        PlanBody::Error(_) => plan,
    }
}

/// A record waiting for its output; as a stream shaper it keeps each event and writes the
/// record when the stream is done (dropped: ended, cut or abandoned by the client).
#[derive(Debug)]
struct Pending {
    config: Value,
    scope: Scope,
    operation: String,
    model_id: String,
    request_id: String,
    timestamp: String,
    input: Value,
    tokens: (u32, u32),
    location: (String, String),
    store: ObjectStore,
    events: Vec<Value>,
}

/// Writes a record: into the folder at once, or to a remote S3 in a task (a failure is
/// logged, never the caller's: the call it records has been answered).
fn write(store: &ObjectStore, object: Object) {
    let key = format!("s3://{}/{}", object.bucket, object.key);
    if !store.is_remote() {
        if let Err(e) = store.put_local(std::slice::from_ref(&object)) {
            tracing::warn!(object = %key, error = %e, "could not write an invocation log record");
        }
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(object = %key, "no runtime to write an invocation log record to S3");
        return;
    };
    let store = store.clone();
    runtime.spawn(async move {
        if let Err(e) = store.put(vec![object]).await {
            tracing::warn!(object = %key, error = %e, "could not write an invocation log record");
        }
    });
}

/// Events a logged stream keeps (a longer stream's record lists its first ones).
const MAX_LOGGED_EVENTS: usize = 10_000;

impl Pending {
    fn write(&self, output: Value) {
        let call = Invocation {
            operation: &self.operation,
            model_id: &self.model_id,
            request_id: &self.request_id,
            timestamp: &self.timestamp,
            input: self.input.clone(),
            output,
            tokens: self.tokens,
        };
        let record = invocation_logging::record(&self.config, &self.scope, &call);
        let object = invocation_logging::record_object(self.location.clone(), &record);
        write(&self.store, object);
    }
}

/// An event as the log shows it: `{eventType: payload}`, a native `chunk`'s bytes decoded.
fn logged_event(frame: &Frame) -> Option<Value> {
    let Frame::Event { event_type, payload } = frame else { return None };
    let mut payload: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    if event_type.as_ref() == "chunk" {
        let decoded = payload
            .get("bytes")
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if let Some(d) = decoded {
            payload = d;
        }
    }
    Some(json!({ event_type.as_ref(): payload }))
}

impl Shaper for Pending {
    fn shape(&mut self, step: StreamStep, out: &mut Vec<StreamStep>) -> Flow {
        if let StreamAction::Frame(frame) = &step.action {
            if self.events.len() < MAX_LOGGED_EVENTS {
                if let Some(event) = logged_event(frame) {
                    self.events.push(event);
                }
            }
        }
        out.push(step);
        Flow::Continue
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.events.is_empty() {
            let events = std::mem::take(&mut self.events);
            self.write(Value::Array(events));
        }
    }
}
