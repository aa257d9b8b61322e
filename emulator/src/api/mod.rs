//! One module per operation: input parsing and validation with Bedrock's messages, and the
//! output body. `dispatch` maps a routed request to its operation.

pub mod converse;
pub mod converse_stream;
pub mod count_tokens;
pub mod foundation_models;
pub mod inference_profiles;
pub mod invoke_model;
pub mod respond;
pub mod validate;

use bytes::Bytes;
use http::HeaderMap;

use std::sync::Arc;

use crate::backend::catalog::Catalog;
use crate::canonical::Reply;
use crate::plan::Plan;
use crate::scenario::format::{ReplyKind, ReplySpec, Timing};
use crate::scenario::{Engine, MatchInput};
use crate::server::router::RouteMatch;
use crate::synthetic::SyntheticModel;
use crate::wire::error::BedrockError;
use respond::Responder;

/// A request routed to an operation, with everything handlers need.
#[derive(Debug)]
pub struct Request {
    /// The operation and its decoded path labels.
    pub route: RouteMatch,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// Region from the SigV4 credential scope (default `us-east-1`).
    pub region: String,
    /// Account id used in ARNs.
    pub account: String,
}

impl Request {
    /// The operation name, e.g. `Converse`.
    pub fn operation(&self) -> &str {
        &self.route.route.operation
    }

    /// A path label (empty if absent, which the router never allows).
    pub fn label(&self, name: &str) -> &str {
        self.route.labels.get(name).map(String::as_str).unwrap_or("")
    }

    /// The first query parameter named `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Shared state the operations read.
#[derive(Debug, Clone)]
pub struct Services {
    /// The model catalog.
    pub catalog: &'static Catalog,
    /// The synthetic model.
    pub synthetic: SyntheticModel,
    /// Seed for padding and ids.
    pub seed: u64,
    /// Scripted rules, consulted before the synthetic model.
    pub scenarios: Arc<Engine>,
    /// Refuse inference requests no rule matches instead of answering synthetically.
    pub strict: bool,
}

/// The operations this build implements (the README coverage table lists them).
pub const IMPLEMENTED: &[&str] = &[
    "Converse",
    "ConverseStream",
    "CountTokens",
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "ListFoundationModels",
    "GetFoundationModel",
    "ListInferenceProfiles",
    "GetInferenceProfile",
];

/// Runs the operation and returns its Plan. `input` starts with what the server knows
/// (operation, model id, body, headers); operations add what parsing tells (resolved model,
/// conversation) before consulting the scenario rules, and the server journals it.
pub fn dispatch(req: &Request, services: &Services, input: &mut MatchInput) -> Result<Plan, BedrockError> {
    match req.operation() {
        "Converse" => converse_op(req, services, input, converse::Mode::Unary),
        "ConverseStream" => converse_op(req, services, input, converse::Mode::Stream),
        "CountTokens" => count_tokens::count(req, services, input),
        "InvokeModel" => invoke_model::invoke(req, services, input, invoke_model::Mode::Unary),
        "InvokeModelWithResponseStream" => invoke_model::invoke(req, services, input, invoke_model::Mode::Stream),
        other => {
            // Control-plane and unimplemented operations: a rule may script them (`json` or
            // `error` replies); otherwise the built-in operation answers.
            if let Responder::Scenario { rule, reply } = respond::choose(services, input, false)? {
                return scripted_raw(&rule, &reply, other);
            }
            builtin_control(req, services, other).map(|p| p.answered_by("builtin"))
        }
    }
}

fn builtin_control(req: &Request, services: &Services, operation: &str) -> Result<Plan, BedrockError> {
    match operation {
        "ListFoundationModels" => foundation_models::list(req, services.catalog),
        "GetFoundationModel" => foundation_models::get(req, services.catalog),
        "ListInferenceProfiles" => inference_profiles::list(req, services.catalog),
        "GetInferenceProfile" => inference_profiles::get(req, services.catalog),
        other => Err(BedrockError::validation(format!(
            "The {other} operation ({} service) is not implemented by bedrock-emulator {}.",
            req.route.route.service.name(),
            env!("CARGO_PKG_VERSION")
        ))),
    }
}

/// `json` and `error` replies, the kinds every operation can send.
pub fn scripted_raw(rule: &str, reply: &ReplySpec, operation: &str) -> Result<Plan, BedrockError> {
    let plan = match &reply.kind {
        ReplyKind::Json { body, status } => Plan::with_status(*status, body.clone()),
        ReplyKind::Error(e) => Plan::error(respond::scenario_error(e)),
        ReplyKind::Content { .. } => return Err(respond::misfit(rule, "text/toolUse", operation)),
        ReplyKind::Output(_) => return Err(respond::misfit(rule, "output", operation)),
        ReplyKind::Body(_) => return Err(respond::misfit(rule, "body", operation)),
        ReplyKind::Stream(_) => return Err(respond::misfit(rule, "stream", operation)),
    };
    Ok(finish_scripted(plan, rule, reply, 0))
}

/// Adds a scripted reply's headers, unary pacing and provenance.
pub fn finish_scripted(mut plan: Plan, rule: &str, reply: &ReplySpec, output_tokens: u32) -> Plan {
    for (k, v) in &reply.headers {
        plan.headers.push((k.clone(), v.clone()));
    }
    if let (Some(t), false) = (&reply.timing, matches!(plan.body, crate::plan::PlanBody::Stream(_))) {
        plan.delay = respond::unary_delay(t, output_tokens);
    }
    plan.answered_by(respond::scenario_label(rule))
}

fn render_converse(
    reply: &Reply,
    parsed: &converse::ConverseRequest,
    mode: converse::Mode,
    services: &Services,
    timing: Option<&Timing>,
) -> Plan {
    match mode {
        converse::Mode::Unary => Plan::json(converse::response_json(reply, parsed)),
        converse::Mode::Stream => {
            let events = converse_stream::events(reply, parsed);
            let mut steps = converse_stream::steps(&events, services.seed ^ u64::from(reply.usage.output_tokens));
            if let Some(t) = timing {
                respond::pace(&mut steps, &respond::event_payloads(&events), t);
            }
            Plan::stream(steps)
        }
    }
}

fn converse_op(
    req: &Request,
    services: &Services,
    input: &mut MatchInput,
    mode: converse::Mode,
) -> Result<Plan, BedrockError> {
    let resolved = services.catalog.resolve(req.label("modelId"), &req.region)?;
    let model = resolved.model;
    // The server already parsed a JSON body for matching; anything else (empty, not JSON, not
    // an object) goes through `parse`, which answers it with the right error.
    let parsed = match input.body.as_ref().and_then(serde_json::Value::as_object) {
        Some(body) => converse::parse_object(body, model, mode)?,
        None => converse::parse(&req.body, model, mode)?,
    };
    input.with_conversation(&model.model_id, &parsed.conversation);
    match respond::choose(services, input, true)? {
        Responder::Builtin => {
            let reply = services.synthetic.reply_as(model, &parsed.conversation);
            Ok(render_converse(&reply, &parsed, mode, services, None).answered_by("synthetic"))
        }
        Responder::Scenario { rule, reply: spec } => {
            let operation = req.operation();
            let (plan, tokens) = match (&spec.kind, mode) {
                (ReplyKind::Content { text, tool_uses }, _) => {
                    let reply =
                        respond::content_reply(&spec, text.as_deref(), tool_uses, &parsed.conversation, services.seed);
                    (render_converse(&reply, &parsed, mode, services, spec.timing.as_ref()), reply.usage.output_tokens)
                }
                (ReplyKind::Output(body), converse::Mode::Unary) => (Plan::json(body.clone()), 0),
                (ReplyKind::Output(body), converse::Mode::Stream) => {
                    let reply = respond::reply_from_converse_output(body);
                    (render_converse(&reply, &parsed, mode, services, spec.timing.as_ref()), reply.usage.output_tokens)
                }
                (ReplyKind::Stream(events), converse::Mode::Stream) => {
                    (Plan::stream(respond::scripted_stream(events, spec.timing.as_ref())), 0)
                }
                (ReplyKind::Stream(_), converse::Mode::Unary) => {
                    return Err(respond::misfit(&rule, "stream", operation))
                }
                (ReplyKind::Body(_), _) => return Err(respond::misfit(&rule, "body", operation)),
                (ReplyKind::Json { .. } | ReplyKind::Error(_), _) => return scripted_raw(&rule, &spec, operation),
            };
            Ok(finish_scripted(plan, &rule, &spec, tokens))
        }
    }
}

/// The README's coverage table, generated from the route table and [`IMPLEMENTED`] (a test
/// keeps README.md in sync; `bedrock-emulator coverage` prints it).
pub fn coverage_markdown() -> String {
    use crate::server::router::{routes, Service};
    let mut out = String::from("| Service | Operation | HTTP | Status |\n|---|---|---|---|\n");
    let mut missing_control = Vec::new();
    for r in routes() {
        let implemented = IMPLEMENTED.contains(&r.operation.as_str());
        if r.service == Service::Bedrock && !implemented {
            missing_control.push(r.operation.as_str());
            continue;
        }
        let status = if implemented { "implemented" } else { "not yet (modelled error)" };
        out.push_str(&format!("| {} | {} | `{} {}` | {status} |\n", r.service.name(), r.operation, r.method, r.uri));
    }
    out.push_str(&format!(
        "\nNot yet implemented in `bedrock` ({} operations; each answers `ValidationException` naming the operation): {}.\n",
        missing_control.len(),
        missing_control.join(", ")
    ));
    out
}
