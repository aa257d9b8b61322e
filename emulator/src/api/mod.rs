//! One module per operation: input parsing and validation with Bedrock's messages, and the
//! output body. `dispatch` maps a routed request to its operation.

pub mod converse;
pub mod converse_stream;
pub mod count_tokens;
pub mod foundation_models;
pub mod inference_profiles;
pub mod invoke_model;
pub mod validate;

use bytes::Bytes;
use http::HeaderMap;

use crate::backend::catalog::Catalog;
use crate::plan::Plan;
use crate::server::router::RouteMatch;
use crate::synthetic::SyntheticModel;
use crate::wire::error::BedrockError;

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

/// Shared, immutable state the operations read.
#[derive(Debug, Clone, Copy)]
pub struct Services {
    /// The model catalog.
    pub catalog: &'static Catalog,
    /// The synthetic model.
    pub synthetic: SyntheticModel,
    /// Seed for padding and ids.
    pub seed: u64,
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

/// Runs the operation and returns its Plan.
pub fn dispatch(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    match req.operation() {
        "Converse" => converse_op(req, services, converse::Mode::Unary),
        "ConverseStream" => converse_op(req, services, converse::Mode::Stream),
        "CountTokens" => count_tokens::count(req, services),
        "InvokeModel" => invoke_model::invoke(req, services, invoke_model::Mode::Unary),
        "InvokeModelWithResponseStream" => invoke_model::invoke(req, services, invoke_model::Mode::Stream),
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

fn converse_op(req: &Request, services: &Services, mode: converse::Mode) -> Result<Plan, BedrockError> {
    let resolved = services.catalog.resolve(req.label("modelId"), &req.region)?;
    let model = resolved.model;
    let parsed = converse::parse(&req.body, model, mode)?;
    let reply = services.synthetic.reply(&model.model_id, &parsed.conversation, model.emulator.max_output_tokens);
    Ok(match mode {
        converse::Mode::Unary => Plan::json(converse::response_json(&reply, &parsed)),
        converse::Mode::Stream => {
            let events = converse_stream::events(&reply, &parsed);
            Plan::stream(converse_stream::steps(&events, services.seed ^ u64::from(reply.usage.output_tokens)))
        }
    })
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
