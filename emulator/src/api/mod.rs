//! One module per operation: input parsing and validation with Bedrock's messages, and the
//! output body. The pipeline calls [`prepare`] (parse and validate: what matchers, faults and
//! quotas need to know) and then [`respond`] (choose the responder and render its Plan).

pub mod account_settings;
pub mod apply_guardrail;
pub mod async_invoke;
pub mod batch;
pub mod bidi_stream;
pub mod context_window;
pub mod converse;
pub mod converse_common;
pub mod converse_stream;
pub mod coral;
pub mod count_tokens;
pub mod customization;
pub mod evaluation;
pub mod evaluation_results;
pub mod foundation_models;
pub mod guardrail_checks;
pub mod guardrail_inference;
pub mod guardrails;
pub mod import_copy;
pub mod inference_profiles;
pub mod invocation_logging;
pub mod invoke_model;
pub mod job_outputs;
pub mod listing;
pub mod marketplace;
pub mod path_labels;
pub mod prompt_optimization;
pub mod prompt_optimization_results;
pub mod prompt_routers;
pub mod provisioned;
pub mod reasoning;
pub mod respond;
pub mod stream_tokens;
pub mod tags;
pub mod validate;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use std::sync::Arc;

use crate::backend::async_invoke::AsyncSettings;
use crate::backend::catalog::{parse_arn, Catalog, FoundationModel, Resolved, INVALID_MODEL_ID};
use crate::backend::state::{Scope, State};
use crate::canonical::{Conversation, Reply};
use crate::clock::Clock;
use crate::operations::RouteMatch;
use crate::plan::{AnsweredBy, Plan};
use crate::scenario::format::{ReplyKind, ReplySpec};
use crate::scenario::{Decision, Engine, MatchInput, RequestBody};
use crate::synthetic::{input_tokens, SyntheticModel};
use crate::wire::error::BedrockError;

/// A request routed to an operation, with everything handlers need.
#[derive(Debug)]
pub struct Request {
    /// The operation and its decoded path labels.
    pub route: RouteMatch,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: Arc<HeaderMap>,
    /// The raw body.
    pub body: Bytes,
    /// Region from the SigV4 credential scope (default `us-east-1`).
    pub region: String,
    /// Account id used in ARNs.
    pub account: String,
    /// The request stream of a bidirectional operation (its `body` is then empty).
    pub duplex: Option<crate::plan::DuplexInput>,
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
    /// Resources callers created (guardrails, …), per account and region.
    pub state: Arc<State>,
    /// The injected clock lifecycles run on.
    pub clock: Clock,
    /// How asynchronous invocations run and where their output goes.
    pub async_invoke: AsyncSettings,
    /// The fault stages of the requests a responder makes itself (batch records).
    pub inner_faults: Option<InnerFaults>,
    /// The recordings those requests may be answered from.
    pub inner_replay: Option<InnerReplay>,
}

/// The recordings a request the emulator makes itself (a batch record) is answered from, as
/// the pipeline's own requests are: given what matchers see and the request's raw path, the
/// recorded answer if one matches. Provided by the layer that owns the cassettes.
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct InnerReplay(pub Arc<dyn Fn(&MatchInput, &str) -> Option<Plan> + Send + Sync>);

impl std::fmt::Debug for InnerReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InnerReplay")
    }
}

/// The fault stages a request the emulator makes itself (a batch record) goes through: given
/// what matchers see and its token estimate, the Plan `respond` makes with the fault rules and
/// quotas applied around it. Provided by the layer that owns the fault rules.
#[derive(Clone)]
pub struct InnerFaults(
    #[allow(clippy::type_complexity)]
    pub  Arc<
        dyn Fn(&MatchInput, Option<TokenEstimate>, &mut dyn FnMut() -> Result<Plan, BedrockError>) -> Plan
            + Send
            + Sync,
    >,
);

impl std::fmt::Debug for InnerFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InnerFaults")
    }
}

/// The operations this build implements besides those of [`guardrails::OPERATIONS`] and
/// [`async_invoke::OPERATIONS`] (see [`is_implemented`]).
const IMPLEMENTED: &[&str] = &[
    "Converse",
    "ConverseStream",
    "CountTokens",
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "ListFoundationModels",
    "GetFoundationModel",
    "ListInferenceProfiles",
    "GetInferenceProfile",
    "ApplyGuardrail",
    "InvokeGuardrailChecks",
    "InvokeModelWithBidirectionalStream",
    "CreateInferenceProfile",
    "DeleteInferenceProfile",
];

/// Whether this build implements `operation` (the README coverage table lists them).
pub fn is_implemented(operation: &str) -> bool {
    [
        IMPLEMENTED,
        guardrails::OPERATIONS,
        async_invoke::OPERATIONS,
        tags::OPERATIONS,
        invocation_logging::OPERATIONS,
        provisioned::OPERATIONS,
        batch::OPERATIONS,
        account_settings::OPERATIONS,
        customization::OPERATIONS,
        import_copy::OPERATIONS,
        prompt_routers::OPERATIONS,
        evaluation::OPERATIONS,
        marketplace::OPERATIONS,
        prompt_optimization::OPERATIONS,
        reasoning::OPERATIONS,
    ]
    .iter()
    .any(|ops| ops.contains(&operation))
}

/// Resolves the model a request names: catalog ids, foundation-model ARNs and system
/// profiles (the catalog's), and the resources callers created that carry inference —
/// application inference profiles and provisioned throughput, by ARN — to the foundation
/// model that answers in their place.
pub fn resolve_model(services: &Services, req: &Request, model_id: &str) -> Result<Resolved, BedrockError> {
    use crate::backend::{app_profiles, provisioned as provisioned_state};
    if model_id.starts_with("arn:aws:sagemaker:") {
        // A marketplace model endpoint registered with Bedrock.
        let scope = Scope::new(&req.account, &req.region);
        let at = provisioned::clock_us(services);
        let family = services
            .state
            .read(&scope, |space| crate::backend::marketplace::for_inference(space, &scope, model_id, at))
            .ok_or_else(|| BedrockError::not_found(format!("The model {model_id} could not be found.")))??;
        let model = services.catalog.model(family).ok_or_else(|| BedrockError::validation(INVALID_MODEL_ID))?;
        return Ok(Resolved { model, profile: Some(model_id.to_string()) });
    }
    let Some(arn) = parse_arn(model_id) else { return services.catalog.resolve(model_id, &req.region) };
    let scope = Scope::new(&req.account, &req.region);
    let gone = || BedrockError::not_found(format!("The model {model_id} could not be found."));
    let target = match arn.resource_type {
        app_profiles::KIND => services
            .state
            .read(&scope, |space| {
                app_profiles::find(space, &scope, model_id).and_then(app_profiles::model_id).map(str::to_string)
            })
            .ok_or_else(gone)?,
        provisioned_state::KIND => {
            let at = provisioned::clock_us(services);
            let view = services
                .state
                .read(&scope, |space| provisioned_state::for_inference(space, &scope, model_id, at))
                .ok_or_else(gone)?;
            if view["status"] != "InService" && view["status"] != "Updating" {
                return Err(BedrockError::validation(format!(
                    "The provisioned model {model_id} is {} and cannot serve requests until it is InService.",
                    view["status"].as_str().unwrap_or_default()
                )));
            }
            // A custom model's throughput is answered by its base model.
            let model_arn = view["foundationModelArn"].as_str().unwrap_or_default();
            parse_arn(model_arn).map(|a| a.resource_id.to_string()).ok_or_else(gone)?
        }
        crate::backend::customization::DEPLOYMENT_KIND => {
            let at = provisioned::clock_us(services);
            services
                .state
                .read(&scope, |space| crate::backend::customization::deployment_base(space, &scope, model_id, at))?
                .ok_or_else(gone)?
        }
        crate::backend::import_copy::IMPORTED_KIND => {
            use crate::backend::import_copy as imported;
            let (at, warm_us) = (provisioned::clock_us(services), import_copy::lifecycle_us(services));
            // A warm model is a read; only a cold one is written to (its warm-up starts).
            match services.state.read(&scope, |space| imported::warm_family(space, &scope, model_id, at)) {
                None => return Err(gone()),
                Some(Some(family)) => family,
                Some(None) => services
                    .state
                    .update(&scope, |space| imported::invoke(space, &scope, model_id, at, warm_us))?
                    .ok_or_else(gone)??,
            }
        }
        crate::backend::prompt_routers::KIND | crate::backend::prompt_routers::DEFAULT_KIND => {
            use crate::backend::prompt_routers as routers;
            let target = services
                .state
                .read(&scope, |space| routers::route(space, &scope, services.catalog, model_id))
                .ok_or_else(gone)?;
            // The fallback may be an inference profile: resolve it as the catalog does.
            let resolved = services.catalog.resolve(&target, &req.region)?;
            return Ok(Resolved { model: resolved.model, profile: Some(model_id.to_string()) });
        }
        crate::backend::customization::MODEL_KIND => {
            return Err(BedrockError::validation(format!(
                "The custom model {model_id} cannot be invoked on demand: deploy it (CreateCustomModelDeployment) or buy provisioned throughput for it."
            )))
        }
        _ => return services.catalog.resolve(model_id, &req.region),
    };
    let model = provisioned_state::base_model(services.catalog, &target).ok_or_else(gone)?;
    Ok(Resolved { model, profile: Some(model_id.to_string()) })
}

/// A request that passed parsing and validation, ready to be answered.
#[derive(Debug)]
pub enum Prepared {
    /// Converse or ConverseStream.
    Converse {
        /// The model that answers.
        model: &'static FoundationModel,
        /// The parsed request.
        parsed: converse::ConverseRequest,
        /// Which of the two.
        mode: converse::Mode,
        /// Its input tokens, counted once (context window, quotas, usage).
        input_tokens: u32,
    },
    /// CountTokens.
    CountTokens {
        /// The model counted for.
        model: &'static FoundationModel,
        /// The conversation counted.
        conversation: Conversation,
        /// What it counts.
        input_tokens: u32,
    },
    /// InvokeModel or InvokeModelWithResponseStream.
    Invoke(invoke_model::PreparedInvoke),
    /// InvokeModelWithBidirectionalStream: its turns arrive later, on the request stream.
    Bidi {
        /// The Nova Sonic model.
        model: &'static FoundationModel,
    },
    /// A control-plane (or unimplemented) operation: nothing to parse ahead.
    Control,
    /// A request the emulator's own validation refuses, kept for a recording (or live
    /// Bedrock, when recording) to answer instead: Bedrock is the judge of what it accepts,
    /// and its catalog may hold models this build does not know.
    Invalid(BedrockError),
}

/// The tokens a request may consume, for quota reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenEstimate {
    /// Input tokens, by the shared tokenizer.
    pub input: u32,
    /// The most output it may produce (`maxTokens`, else the model's output limit).
    pub max_output: u32,
}

impl Prepared {
    /// Adds what parsing learnt (resolved model, conversation texts, tools) to what matchers see.
    pub fn describe(&self, input: &mut MatchInput) {
        match self {
            Prepared::Converse { model, parsed, .. } => input.with_conversation(&model.model_id, &parsed.conversation),
            Prepared::CountTokens { model, conversation, .. } => input.with_conversation(&model.model_id, conversation),
            Prepared::Invoke(p) => p.describe(input),
            Prepared::Bidi { model } => input.resolved_model = Some(model.model_id.clone()),
            Prepared::Control | Prepared::Invalid(_) => {}
        }
    }

    /// What the request may consume (None for requests that invoke no model).
    pub fn token_estimate(&self) -> Option<TokenEstimate> {
        match self {
            Prepared::Converse { model, parsed, input_tokens, .. } => Some(TokenEstimate {
                input: *input_tokens,
                max_output: parsed.conversation.inference.max_tokens.unwrap_or(model.emulator.max_output_tokens),
            }),
            Prepared::Invoke(p) => p.token_estimate(),
            Prepared::CountTokens { .. } | Prepared::Bidi { .. } | Prepared::Control | Prepared::Invalid(_) => None,
        }
    }
}

/// Parses and validates the request for its operation. `body` is the request's body as
/// matchers see it: its JSON tree is built at most once, and only if something needs it.
pub fn prepare(req: &Request, services: &Services, body: &RequestBody) -> Result<Prepared, BedrockError> {
    path_labels::check(&req.route)?;
    match req.operation() {
        "Converse" => prepare_converse(req, services, body, converse::Mode::Unary),
        "ConverseStream" => prepare_converse(req, services, body, converse::Mode::Stream),
        "CountTokens" => count_tokens::prepare(req, services),
        "InvokeModel" => invoke_model::prepare(req, services, invoke_model::Mode::Unary).map(Prepared::Invoke),
        "InvokeModelWithResponseStream" => {
            invoke_model::prepare(req, services, invoke_model::Mode::Stream).map(Prepared::Invoke)
        }
        bidi_stream::OPERATION => bidi_stream::prepare(req, services),
        _ => Ok(Prepared::Control),
    }
}

/// What the scenario rules made of a prepared request.
#[derive(Debug)]
pub enum Scripted {
    /// A rule answered.
    Answered(Result<Plan, BedrockError>),
    /// No rule did: the next responder (replay, upstream, synthetic) answers.
    Unscripted {
        /// The request, still to be answered.
        prepared: Prepared,
        /// The rule that failed the fewest conditions, and why (for strict mode).
        closest: Option<(String, Vec<String>)>,
    },
}

/// The first responder of the chain: a scenario rule, if one matches `input`.
pub fn respond_scripted(req: &Request, prepared: Prepared, services: &Services, input: &MatchInput) -> Scripted {
    let operation = req.operation();
    let (rule, reply) =
        match services.scenarios.decide(input, &|reply| respond::fits(&reply.kind, operation), services.strict) {
            Decision::Reply { rule, reply } => (rule, reply),
            Decision::NoMatch { closest } => return Scripted::Unscripted { prepared, closest },
        };
    Scripted::Answered(match prepared {
        Prepared::Converse { parsed, mode, input_tokens, .. } => {
            converse_scripted(req, services, &parsed, mode, input_tokens, &rule, &reply)
        }
        Prepared::Invoke(p) => invoke_model::scripted(req, services, p, &rule, &reply),
        // A text or tool-use reply answers the session's first turn; an error refuses it.
        Prepared::Bidi { model } => match &reply.kind {
            ReplyKind::Content { .. } => {
                let timing = reply.clone();
                bidi_stream::start(req, services, model, Some((rule.clone(), reply)))
                    .map(|plan| finish_scripted(plan, &rule, &timing))
            }
            ReplyKind::Error(_) => scripted_raw(&rule, &reply, operation),
            _ => Err(respond::misfit(&rule, "json/output/body/stream", operation)),
        },
        Prepared::Control => match &reply.kind {
            ReplyKind::AsyncFailure(message) => {
                async_invoke::start_failing(req, services, message).map(|plan| finish_scripted(plan, &rule, &reply))
            }
            _ => scripted_raw(&rule, &reply, operation),
        },
        Prepared::CountTokens { .. } => scripted_raw(&rule, &reply, operation),
        // Only replies that need no parsed request can answer an invalid one.
        Prepared::Invalid(e) => match &reply.kind {
            ReplyKind::Json { .. } | ReplyKind::Error(_) => scripted_raw(&rule, &reply, operation),
            _ => Err(e),
        },
    })
}

/// The last responder of the chain: the synthetic model, or the built-in operation.
pub fn respond_builtin(req: &Request, prepared: Prepared, services: &Services) -> Result<Plan, BedrockError> {
    match prepared {
        Prepared::Converse { model, parsed, mode, input_tokens } => {
            // Refused before the model runs, so no reply is generated for an over-long prompt.
            context_window::check(model, input_tokens, context_window::Operation::Converse)?;
            let reply = services.synthetic.reply_counted(model, &parsed.conversation, input_tokens);
            Ok(render_converse(&reply, &parsed, mode, services).answered_by(AnsweredBy::Synthetic))
        }
        Prepared::CountTokens { model, input_tokens, .. } => {
            context_window::check(model, input_tokens, context_window::Operation::CountTokens)?;
            Ok(count_tokens::builtin(input_tokens))
        }
        Prepared::Invoke(p) => invoke_model::builtin(req, services, p),
        Prepared::Bidi { model } => bidi_stream::start(req, services, model, None),
        Prepared::Control => {
            builtin_control(req, services, req.operation()).map(|p| p.answered_by(AnsweredBy::Builtin))
        }
        Prepared::Invalid(e) => Err(e),
    }
}

/// The whole chain without recordings: a scenario rule, else (unless `--strict` refuses) the
/// synthetic model or built-in operation.
pub fn respond(
    req: &Request,
    prepared: Prepared,
    services: &Services,
    input: &MatchInput,
    raw_path: &str,
) -> Result<Plan, BedrockError> {
    match respond_scripted(req, prepared, services, input) {
        Scripted::Answered(answer) => answer,
        Scripted::Unscripted { prepared, closest } => {
            if let Some(plan) = services.inner_replay.as_ref().and_then(|replay| (replay.0)(input, raw_path)) {
                return Ok(plan);
            }
            match respond::strict_refusal(services, input, closest.as_ref(), None) {
                Some(refusal) => Err(refusal),
                None => respond_builtin(req, prepared, services),
            }
        }
    }
}

fn builtin_control(req: &Request, services: &Services, operation: &str) -> Result<Plan, BedrockError> {
    match operation {
        "ListFoundationModels" => foundation_models::list(req, services.catalog),
        "GetFoundationModel" => foundation_models::get(req, services.catalog),
        "ListInferenceProfiles" => inference_profiles::list(req, services),
        "GetInferenceProfile" => inference_profiles::get(req, services),
        "CreateInferenceProfile" | "DeleteInferenceProfile" => inference_profiles::change(req, services),
        op if provisioned::OPERATIONS.contains(&op) => provisioned::handle(req, services),
        op if batch::OPERATIONS.contains(&op) => batch::handle(req, services),
        op if account_settings::OPERATIONS.contains(&op) => account_settings::handle(req, services),
        op if customization::OPERATIONS.contains(&op) => customization::handle(req, services),
        op if import_copy::OPERATIONS.contains(&op) => import_copy::handle(req, services),
        op if prompt_routers::OPERATIONS.contains(&op) => prompt_routers::handle(req, services),
        op if evaluation::OPERATIONS.contains(&op) => evaluation::handle(req, services),
        op if marketplace::OPERATIONS.contains(&op) => marketplace::handle(req, services),
        op if prompt_optimization::OPERATIONS.contains(&op) => prompt_optimization::handle(req, services),
        op if reasoning::OPERATIONS.contains(&op) => reasoning::handle(req, services),
        op if guardrails::OPERATIONS.contains(&op) => guardrails::handle(req, services),
        "ApplyGuardrail" => apply_guardrail::handle(req, services),
        "InvokeGuardrailChecks" => guardrail_checks::handle(req),
        op if async_invoke::OPERATIONS.contains(&op) => async_invoke::handle(req, services),
        op if tags::OPERATIONS.contains(&op) => tags::handle(req, services),
        op if invocation_logging::OPERATIONS.contains(&op) => invocation_logging::handle(req, services),
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
        ReplyKind::AsyncFailure(_) => return Err(respond::misfit(rule, "failure", operation)),
    };
    Ok(finish_scripted(plan, rule, reply))
}

/// Adds a scripted reply's headers, its `timing` (sugar for the one pacing formula, plus a
/// fixed unary latency) and provenance.
pub fn finish_scripted(mut plan: Plan, rule: &str, reply: &ReplySpec) -> Plan {
    for (k, v) in &reply.headers {
        plan.headers.push((k.clone(), v.clone()));
    }
    if let Some(t) = &reply.timing {
        if !plan.is_stream() {
            plan.delay += std::time::Duration::from_millis(t.latency_ms);
        }
        plan = plan.paced(t.pace());
    }
    plan.answered_by(AnsweredBy::Scenario(rule.to_string()))
}

fn render_converse(
    reply: &Reply,
    parsed: &converse::ConverseRequest,
    mode: converse::Mode,
    services: &Services,
) -> Plan {
    // A guardrail sees every reply rendered here, synthetic and scripted alike.
    let guarded = guardrail_inference::apply(reply, parsed);
    let (reply, mut trace) = match guarded {
        Some((ref r, ref t)) => (r, t.clone()),
        None => (reply, None),
    };
    if let Some(invoked) = &parsed.invoked_model {
        // A router's answer always names the model it sent the request to.
        let t = trace.get_or_insert_with(|| serde_json::json!({}));
        t["promptRouter"] = serde_json::json!({ "invokedModelId": invoked });
    }
    let plan = match mode {
        converse::Mode::Unary => {
            let mut body = converse::response_json(reply, parsed);
            body.trace = trace;
            Plan::raw("application/json", body.to_bytes().into())
        }
        converse::Mode::Stream => {
            let mut events = converse_stream::events(reply, parsed);
            if let (Some(trace), Some(last)) = (trace, events.last_mut()) {
                last.add_member("trace", trace);
            }
            Plan::stream(converse_stream::steps(&events, services.seed ^ u64::from(reply.usage.output_tokens)))
        }
    };
    plan.with_usage(reply.usage)
}

fn prepare_converse(
    req: &Request,
    services: &Services,
    body: &RequestBody,
    mode: converse::Mode,
) -> Result<Prepared, BedrockError> {
    let model = resolve_model(services, req, req.label("modelId"))?.model;
    // The common shape is read without a JSON tree; everything else (and every error) goes
    // through the tree, built once and shared with matchers. A body that is not a JSON object
    // goes through `parse`, which answers it with the right error.
    let mut parsed = match converse_common::parse_common(&req.body, model, mode) {
        Some(parsed) => parsed,
        None => match body.json().and_then(Value::as_object) {
            Some(object) => converse::parse_object(object, model, mode)?,
            None => converse::parse(&req.body, model, mode)?,
        },
    };
    let scope = Scope::new(&req.account, &req.region);
    let model = match route_prompt(services, req, &parsed.conversation) {
        Some((chosen, invoked)) => {
            parsed.invoked_model = Some(Box::new(invoked));
            chosen
        }
        None => model,
    };
    guardrail_inference::resolve(&mut parsed, services, &scope, &model.model_id, req.label("modelId"))?;
    let input_tokens = input_tokens(&parsed.conversation);
    Ok(Prepared::Converse { model, parsed, mode, input_tokens })
}

/// When `model_id` is a prompt router's ARN: the model it sends this conversation to, and that
/// model's ARN as the router lists it (`trace.promptRouter.invokedModelId`).
pub(crate) fn route_prompt(
    services: &Services,
    req: &Request,
    conversation: &crate::canonical::Conversation,
) -> Option<(&'static FoundationModel, String)> {
    use crate::backend::prompt_routers as routers;
    let model_id = req.label("modelId");
    let arn = crate::backend::catalog::parse_arn(model_id)?;
    if arn.resource_type != routers::KIND && arn.resource_type != routers::DEFAULT_KIND {
        return None;
    }
    let scope = &Scope::new(&req.account, &req.region);
    let router = services.state.read(scope, |space| routers::find(space, scope, services.catalog, model_id))?;
    let model_of = |arn: &str| {
        let target = crate::backend::catalog::parse_arn(arn).map_or(arn, |a| a.resource_id);
        services.catalog.resolve(target, &scope.region).ok().map(|r| r.model)
    };
    let fallback = router["fallbackModel"]["modelArn"].as_str()?.to_string();
    let fallback_model = model_of(&fallback)?;
    let invoked = prompt_routers::choose(&router, &conversation.last_user_text())?;
    match model_of(&invoked) {
        // The request was read in the fallback model's format: another family cannot answer it.
        Some(model) if model.emulator.family == fallback_model.emulator.family => Some((model, invoked)),
        _ => Some((fallback_model, fallback)),
    }
}

fn converse_scripted(
    req: &Request,
    services: &Services,
    parsed: &converse::ConverseRequest,
    mode: converse::Mode,
    input_tokens: u32,
    rule: &str,
    spec: &ReplySpec,
) -> Result<Plan, BedrockError> {
    let operation = req.operation();
    let plan = match (&spec.kind, mode) {
        (ReplyKind::Content { text, tool_uses }, _) => {
            let reply = respond::content_reply(spec, text.as_deref(), tool_uses, input_tokens, services.seed);
            render_converse(&reply, parsed, mode, services)
        }
        // With a guardrail, a scripted output is read back into a reply and guarded like any
        // other (and rendered again); without one it is sent as written.
        (ReplyKind::Output(body), converse::Mode::Unary) if parsed.guardrail.is_some() => {
            render_converse(&respond::reply_from_converse_output(body), parsed, mode, services)
        }
        (ReplyKind::Output(body), converse::Mode::Unary) => {
            let usage = respond::reply_from_converse_output(body).usage;
            Plan::json(body.clone()).with_usage(usage)
        }
        (ReplyKind::Output(body), converse::Mode::Stream) => {
            render_converse(&respond::reply_from_converse_output(body), parsed, mode, services)
        }
        (ReplyKind::Stream(events), converse::Mode::Stream) => {
            respond::check_stream_exceptions(rule, events, operation)?;
            Plan::stream(respond::scripted_stream(events))
        }
        (ReplyKind::Stream(_), converse::Mode::Unary) => return Err(respond::misfit(rule, "stream", operation)),
        (ReplyKind::Body(_), _) => return Err(respond::misfit(rule, "body", operation)),
        (ReplyKind::Json { .. } | ReplyKind::Error(_), _) => return scripted_raw(rule, spec, operation),
        (ReplyKind::AsyncFailure(_), _) => return Err(respond::misfit(rule, "failure", req.operation())),
    };
    Ok(finish_scripted(plan, rule, spec))
}

/// The README's coverage table, generated from the route table and [`is_implemented`] (a test
/// keeps README.md in sync; `bedrock-emulator coverage` prints it).
pub fn coverage_markdown() -> String {
    use crate::operations::{routes, Service};
    let mut out = String::from("| Service | Operation | HTTP | Status |\n|---|---|---|---|\n");
    let mut missing_control = Vec::new();
    for r in routes() {
        let implemented = is_implemented(&r.operation);
        if r.service == Service::Bedrock && !implemented {
            missing_control.push(r.operation.as_str());
            continue;
        }
        let status = if implemented { "implemented" } else { "not yet (modelled error)" };
        out.push_str(&format!("| {} | {} | `{} {}` | {status} |\n", r.service.name(), r.operation, r.method, r.uri));
    }
    if missing_control.is_empty() {
        out.push_str("\nEvery operation of `bedrock` and `bedrock-runtime` in the service models is implemented.\n");
    } else {
        out.push_str(&format!(
            "\nNot yet implemented in `bedrock` ({} operations; each answers `ValidationException` naming the operation): {}.\n",
            missing_control.len(),
            missing_control.join(", ")
        ));
    }
    out
}
