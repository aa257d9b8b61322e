//! InvokeModel and InvokeModelWithResponseStream (SPEC §4.1, §4.2): native bodies through the
//! model's family, the token/latency headers, and `chunk` events carrying base64 native chunks
//! with `amazon-bedrock-invocationMetrics` merged into the last one.

use base64::Engine;
use serde_json::{json, Value};

use super::converse_stream::{steps, StreamEvent};
use super::respond;
use super::validate::{check_len, check_pattern, GUARDRAIL_IDENTIFIER_PATTERN, GUARDRAIL_VERSION_PATTERN};
use super::{Request, Services, TokenEstimate};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Conversation, Reply, ReplyBlock, StopReason, Usage};
use crate::families::{self, native_schema, EmbeddingFamily, Family, ImageFamily, RenderMeta, TextFamily};
use crate::plan::{AnsweredBy, Plan};
use crate::rng::stable_hash;
use crate::scenario::format::{ReplyKind, ReplySpec};
use crate::scenario::MatchInput;
use crate::synthetic::{input_tokens, tokenizer};
use crate::wire::error::BedrockError;

/// InvokeModel's body limit in the service model.
pub const MAX_BODY_BYTES: usize = 25_000_000;

/// Which operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// InvokeModel.
    Unary,
    /// InvokeModelWithResponseStream.
    Stream,
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn check_media_types(req: &Request, mode: Mode) -> Result<(), BedrockError> {
    // The content type is not checked against the body: a missing one means JSON (SPEC §1),
    // and aws-sdk-rust sends `application/octet-stream` when the caller sets none. Only
    // guardrails insist on `application/json` (see `check_guardrail_headers`).
    let accept_header = if mode == Mode::Unary { "accept" } else { "x-amzn-bedrock-accept" };
    if let Some(accept) = header(req, accept_header) {
        let ok = accept.split(',').any(|a| {
            let a = a.split(';').next().unwrap_or("").trim();
            a == "application/json" || a == "*/*" || a == "application/*"
        });
        if !ok {
            return Err(BedrockError::validation(format!(
                "The provided accept type {accept} is not supported. Use application/json and try again."
            )));
        }
    }
    Ok(())
}

/// The header members the service model constrains (enums, lengths), validated as Bedrock's
/// Coral layer does before the model sees anything.
fn check_enum_headers(req: &Request) -> Result<(), BedrockError> {
    const ENUMS: [(&str, &str, &[&str]); 3] = [
        ("x-amzn-bedrock-trace", "trace", &["ENABLED", "DISABLED", "ENABLED_FULL"]),
        ("x-amzn-bedrock-performanceconfig-latency", "performanceConfigLatency", &["standard", "optimized"]),
        ("x-amzn-bedrock-service-tier", "serviceTier", &["priority", "default", "flex", "reserved"]),
    ];
    for (name, member, allowed) in ENUMS {
        if let Some(v) = header(req, name) {
            super::validate::check_enum(v, member, allowed)?;
        }
    }
    if let Some(v) = header(req, "x-amzn-bedrock-request-metadata") {
        check_len(v, "requestMetadata", 1, Some(8500))?;
    }
    if let Some(v) = header(req, "x-amzn-bedrock-guardrailidentifier") {
        check_len(v, "guardrailIdentifier", 0, Some(2048))?;
        check_pattern(v, "guardrailIdentifier", GUARDRAIL_IDENTIFIER_PATTERN)?;
    }
    if let Some(v) = header(req, "x-amzn-bedrock-guardrailversion") {
        check_pattern(v, "guardrailVersion", GUARDRAIL_VERSION_PATTERN)?;
    }
    Ok(())
}

/// The guardrails a text request goes through: the one its headers name and the account's
/// enforced one, read from the state.
#[derive(Debug)]
struct InvokeGuardrail {
    /// The stored version the headers name, and `X-Amzn-Bedrock-GuardrailVersion`.
    requested: Option<(Value, String)>,
    /// The account's enforced guardrail, when one applies to the model.
    enforced: Option<Box<super::guardrail_inference::Enforced>>,
    /// `X-Amzn-Bedrock-Trace` is `ENABLED` or `ENABLED_FULL`.
    trace: bool,
    /// `amazon-bedrock-guardrailConfig.streamProcessingMode` is `ASYNCHRONOUS` (streams only).
    asynchronous: bool,
}

/// The guardrails of a request for `model` (None when neither the headers name one nor the
/// account enforces one), after Bedrock's checks.
fn guardrail_of(
    req: &Request,
    services: &Services,
    body: &Value,
    model: &str,
) -> Result<Option<Box<InvokeGuardrail>>, BedrockError> {
    let named = check_guardrail_headers(req, body)?;
    let scope = crate::backend::state::Scope::new(&req.account, &req.region);
    let enforced = super::guardrail_inference::enforced(services, &scope, model, req.label("modelId"));
    let requested = match named {
        Some((id, version)) => {
            Some((super::guardrail_inference::lookup(services, &scope, id, version)?, version.to_string()))
        }
        None => None,
    };
    if requested.is_none() && enforced.is_none() {
        return Ok(None);
    }
    let trace = requested.is_some() && header(req, "x-amzn-bedrock-trace").is_some_and(|t| t != "DISABLED");
    let asynchronous = req.operation() == "InvokeModelWithResponseStream"
        && body["amazon-bedrock-guardrailConfig"]["streamProcessingMode"] == "ASYNCHRONOUS";
    Ok(Some(Box::new(InvokeGuardrail { requested, enforced, trace, asynchronous })))
}

fn check_guardrail_headers<'r>(req: &'r Request, body: &Value) -> Result<Option<(&'r str, &'r str)>, BedrockError> {
    let id = header(req, "x-amzn-bedrock-guardrailidentifier");
    let version = header(req, "x-amzn-bedrock-guardrailversion");
    let json_content = header(req, "content-type")
        .is_none_or(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
    if id.is_some() && !json_content {
        return Err(BedrockError::validation(
            "Guardrails require the application/json content type. Set contentType to application/json and try again.",
        ));
    }
    if body.get("amazon-bedrock-guardrailConfig").is_some() && id.is_none() {
        return Err(BedrockError::validation(
            "The request body contains amazon-bedrock-guardrailConfig, but no guardrail identifier was provided. Provide X-Amzn-Bedrock-GuardrailIdentifier and try again.",
        ));
    }
    match (id, version) {
        (None, _) => Ok(None),
        (Some(_), None) => Err(BedrockError::validation(
            "Guardrail version is required when a guardrail identifier is provided. Provide X-Amzn-Bedrock-GuardrailVersion and try again.",
        )),
        (Some(id), Some(version)) => Ok(Some((id, version))),
    }
}

/// InvokeModel's latency and token-count headers, consistent with the reply.
fn with_token_headers(plan: Plan, reply: &Reply) -> Plan {
    plan.header("X-Amzn-Bedrock-Invocation-Latency", reply.latency_ms.to_string())
        .header("X-Amzn-Bedrock-Output-Token-Count", reply.usage.output_tokens.to_string())
        .header("X-Amzn-Bedrock-Input-Token-Count", reply.usage.input_tokens.to_string())
}

/// [`render_text`] of the reply as the request's guardrail (if any) lets it out, with the
/// guardrail's members in the body or the last chunk. One path for synthetic and scripted
/// replies alike.
fn render_guarded(
    f: &dyn TextFamily,
    reply: &Reply,
    meta: &RenderMeta<'_>,
    mode: Mode,
    guardrail: Option<&InvokeGuardrail>,
    conversation: &Conversation,
) -> Plan {
    use super::guardrail_inference::{guard_each, message_texts, native_members, Applying, Origin};
    let Some(g) = guardrail else { return render_text(f, reply, meta, mode, &[]) };
    let mut guards = Vec::new();
    if let Some((doc, version)) = &g.requested {
        let inputs = message_texts(conversation);
        guards.push(Applying { doc, version, origin: Origin::Request, inputs, asynchronous: g.asynchronous });
    }
    if let Some(e) = &g.enforced {
        // Native bodies carry no guardContent tags: every message text, and the system
        // prompt unless the configuration guards system prompts selectively.
        let mut inputs = message_texts(conversation);
        if e.all_system {
            inputs.extend(conversation.system.iter().map(String::as_str));
        }
        let (doc, version) = (&e.doc, e.version.as_str());
        guards.push(Applying { doc, version, origin: Origin::AccountEnforced, inputs, asynchronous: g.asynchronous });
    }
    let applied = guard_each(reply, &guards);
    let members = native_members(&applied, g.trace);
    let out = applied.last().map_or(reply, |a| &a.reply);
    render_text(f, out, meta, mode, &members)
}

/// The native body and headers of a text reply (InvokeModel), or its chunk stream (IMWRS),
/// with `extra` members added to the body (or the last chunk).
fn render_text(f: &dyn TextFamily, reply: &Reply, meta: &RenderMeta<'_>, mode: Mode, extra: &[(&str, Value)]) -> Plan {
    let plan = match mode {
        Mode::Unary => {
            let mut rendered = f.render(reply, meta);
            if let Some(o) = rendered.as_object_mut() {
                for (k, v) in extra {
                    o.insert((*k).to_string(), v.clone());
                }
            }
            let mut plan = with_token_headers(
                Plan::raw("application/json", serde_json::to_vec(&rendered).unwrap_or_default().into()),
                reply,
            );
            for (k, v) in f.extra_headers() {
                plan = plan.header(k, *v);
            }
            plan
        }
        Mode::Stream => {
            let mut chunks = f.chunks(reply, meta);
            let cache = !f.extra_headers().is_empty();
            if let Some(last) = chunks.last_mut().and_then(Value::as_object_mut) {
                let mut metrics = json!({
                    "inputTokenCount": reply.usage.input_tokens,
                    "outputTokenCount": reply.usage.output_tokens,
                    "invocationLatency": reply.latency_ms,
                    "firstByteLatency": reply.latency_ms / 3,
                });
                if cache {
                    metrics["cacheReadInputTokenCount"] = json!(0);
                    metrics["cacheWriteInputTokenCount"] = json!(0);
                }
                last.insert("amazon-bedrock-invocationMetrics".into(), metrics);
                for (k, v) in extra {
                    last.insert((*k).to_string(), v.clone());
                }
            }
            let events: Vec<StreamEvent> = chunks
                .iter()
                .map(|c| StreamEvent {
                    event_type: "chunk",
                    payload: json!({"bytes": base64::engine::general_purpose::STANDARD.encode(c.to_string())}).into(),
                })
                .collect();
            Plan::stream(steps(&events, meta.hash)).header("X-Amzn-Bedrock-Content-Type", "application/json")
        }
    };
    plan.with_usage(reply.usage)
}

/// A canonical reply from a scripted native body, read back through the family.
fn reply_from_native(f: &dyn TextFamily, body: &Value) -> Reply {
    let read = f.read(body);
    let stop = read.as_ref().and_then(|r| r.stop_reason.as_deref());
    let stop_reason = [StopReason::EndTurn, StopReason::ToolUse, StopReason::MaxTokens, StopReason::StopSequence]
        .into_iter()
        .find(|s| Some(f.native_stop(*s)) == stop)
        .unwrap_or(StopReason::EndTurn);
    let text = read.as_ref().map(|r| r.text.clone()).unwrap_or_default();
    let output = read.as_ref().and_then(|r| r.output_tokens).unwrap_or_else(|| tokenizer::count(&text));
    Reply {
        content: vec![ReplyBlock::Text(text)],
        stop_reason,
        stop_sequence: None,
        usage: Usage { input_tokens: read.as_ref().and_then(|r| r.input_tokens).unwrap_or(0), output_tokens: output },
        latency_ms: 180 + 9 * u64::from(output),
    }
}

/// A parsed and validated InvokeModel or InvokeModelWithResponseStream request.
#[derive(Debug)]
pub struct PreparedInvoke {
    model: &'static FoundationModel,
    mode: Mode,
    /// The body the model sees (Bedrock's own keys removed).
    native: Value,
    kind: PreparedKind,
    /// The guardrail the headers name.
    guardrail: Option<Box<InvokeGuardrail>>,
}

enum PreparedKind {
    Embedding(&'static dyn EmbeddingFamily),
    Image(&'static dyn ImageFamily),
    Text {
        family: &'static dyn TextFamily,
        conversation: Box<Conversation>,
        /// Counted once, at parse (context window, quotas, usage).
        input_tokens: u32,
    },
}

impl std::fmt::Debug for PreparedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreparedKind::Embedding(_) => f.write_str("Embedding"),
            PreparedKind::Image(_) => f.write_str("Image"),
            PreparedKind::Text { conversation, .. } => {
                f.debug_struct("Text").field("conversation", conversation).finish()
            }
        }
    }
}

impl PreparedInvoke {
    /// Adds the resolved model and, for text models, the conversation to what matchers see.
    pub fn describe(&self, input: &mut MatchInput) {
        match &self.kind {
            PreparedKind::Embedding(_) => input.resolved_model = Some(self.model.model_id.clone()),
            PreparedKind::Image(f) => {
                input.resolved_model = Some(self.model.model_id.clone());
                input.last_user_text = Some(f.prompt(&self.native));
            }
            PreparedKind::Text { conversation, .. } => input.with_conversation(&self.model.model_id, conversation),
        }
    }

    /// Input and most output tokens (embeddings produce none).
    pub fn token_estimate(&self) -> Option<TokenEstimate> {
        Some(match &self.kind {
            PreparedKind::Embedding(_) => {
                TokenEstimate { input: tokenizer::count(&self.native.to_string()), max_output: 0 }
            }
            PreparedKind::Image(f) => TokenEstimate { input: tokenizer::count(&f.prompt(&self.native)), max_output: 0 },
            PreparedKind::Text { conversation, input_tokens, .. } => TokenEstimate {
                input: *input_tokens,
                max_output: conversation.inference.max_tokens.unwrap_or(self.model.emulator.max_output_tokens),
            },
        })
    }
}

/// Parses and validates InvokeModel or InvokeModelWithResponseStream.
pub fn prepare(req: &Request, services: &Services, mode: Mode) -> Result<PreparedInvoke, BedrockError> {
    let resolved = super::resolve_model(services, req, req.label("modelId"))?;
    let mut model = resolved.model;
    if req.body.len() > MAX_BODY_BYTES {
        return Err(super::validate::constraint(
            &json!(format!("{} bytes", req.body.len())),
            "body",
            &format!("have length less than or equal to {MAX_BODY_BYTES}"),
        ));
    }
    check_media_types(req, mode)?;
    check_enum_headers(req)?;
    if mode == Mode::Stream && !model.response_streaming_supported {
        return Err(BedrockError::validation("The model is unsupported for streaming."));
    }
    let family = families::lookup(model)?;
    let body = native_schema::body_json(&req.body)?;
    let guardrail = guardrail_of(req, services, &body, &model.model_id)?;
    // Bedrock strips its own key before the model sees the body.
    let mut native = body;
    if let Some(obj) = native.as_object_mut() {
        obj.remove("amazon-bedrock-guardrailConfig");
    }
    let kind = match family {
        Family::Embedding(f) => PreparedKind::Embedding(f),
        Family::Image(f) => PreparedKind::Image(f),
        Family::Text(f) => {
            let conversation = f.parse(&native, model)?;
            // A prompt router answers with the model it picks for the prompt (of the fallback
            // model's family, whose format the body was read in).
            if let Some((chosen, _)) = super::route_prompt(services, req, &conversation) {
                model = chosen;
            }
            let input_tokens = input_tokens(&conversation);
            PreparedKind::Text { family: f, conversation: Box::new(conversation), input_tokens }
        }
    };
    Ok(PreparedInvoke { model, mode, native, kind, guardrail })
}

/// Answers a prepared InvokeModel or InvokeModelWithResponseStream request with a scenario
/// rule's reply.
pub fn scripted(
    req: &Request,
    services: &Services,
    prepared: PreparedInvoke,
    rule: &str,
    spec: &ReplySpec,
) -> Result<Plan, BedrockError> {
    let PreparedInvoke { model, mode, native, kind, guardrail } = prepared;
    let operation = req.operation();
    let PreparedKind::Text { family: f, input_tokens, conversation } = kind else {
        return match &spec.kind {
            ReplyKind::Body(b) => {
                let plan = Plan::raw("application/json", serde_json::to_vec(b).unwrap_or_default().into());
                Ok(super::finish_scripted(plan, rule, spec))
            }
            _ => super::scripted_raw(rule, spec, operation),
        };
    };
    let meta = RenderMeta { model, request: &native, hash: stable_hash(services.seed, &req.body) };
    let plan = match (&spec.kind, mode) {
        (ReplyKind::Content { text, tool_uses }, _) => {
            let reply = respond::content_reply(spec, text.as_deref(), tool_uses, input_tokens, services.seed);
            render_guarded(f, &reply, &meta, mode, guardrail.as_deref(), &conversation)
        }
        // With a guardrail, a scripted body is read back into a reply and guarded like any
        // other (and rendered again); without one it is sent as written.
        (ReplyKind::Body(b), _) if guardrail.is_some() => {
            render_guarded(f, &reply_from_native(f, b), &meta, mode, guardrail.as_deref(), &conversation)
        }
        (ReplyKind::Body(b), Mode::Unary) => {
            let reply = reply_from_native(f, b);
            let plan = Plan::raw("application/json", serde_json::to_vec(b).unwrap_or_default().into());
            with_token_headers(plan, &reply).with_usage(reply.usage)
        }
        (ReplyKind::Body(b), Mode::Stream) => render_text(f, &reply_from_native(f, b), &meta, mode, &[]),
        (ReplyKind::Stream(events), Mode::Stream) => {
            respond::check_stream_exceptions(rule, events, operation)?;
            Plan::stream(respond::scripted_stream(events)).header("X-Amzn-Bedrock-Content-Type", "application/json")
        }
        (ReplyKind::Stream(_), Mode::Unary) => return Err(respond::misfit(rule, "stream", operation)),
        (ReplyKind::Output(_), _) => return Err(respond::misfit(rule, "output", operation)),
        (ReplyKind::Json { .. } | ReplyKind::Error(_), _) => return super::scripted_raw(rule, spec, operation),
        (ReplyKind::AsyncFailure(_), _) => return Err(respond::misfit(rule, "failure", operation)),
    };
    Ok(super::finish_scripted(plan, rule, spec))
}

/// Answers a prepared InvokeModel or InvokeModelWithResponseStream request with the
/// synthetic model.
pub fn builtin(req: &Request, services: &Services, prepared: PreparedInvoke) -> Result<Plan, BedrockError> {
    let PreparedInvoke { model, mode, native, kind, guardrail } = prepared;
    match kind {
        PreparedKind::Image(f) => {
            let generated = f.generate(&native, model, services.seed)?;
            let images = generated.body.get("images").and_then(Value::as_array).map_or(0, Vec::len) as u64;
            let latency = 800 + 400 * images;
            Ok(Plan::raw("application/json", serde_json::to_vec(&generated.body).unwrap_or_default().into())
                .header("X-Amzn-Bedrock-Invocation-Latency", latency.to_string())
                .with_usage(Usage { input_tokens: generated.input_tokens, output_tokens: 0 })
                .answered_by(AnsweredBy::Synthetic))
        }
        PreparedKind::Embedding(f) => {
            let embedded = f.embed(&native, model, services.seed)?;
            let latency = 20 + u64::from(embedded.input_tokens) / 4;
            Ok(Plan::raw("application/json", serde_json::to_vec(&embedded.body).unwrap_or_default().into())
                .header("X-Amzn-Bedrock-Invocation-Latency", latency.to_string())
                .header("X-Amzn-Bedrock-Input-Token-Count", embedded.input_tokens.to_string())
                .with_usage(Usage { input_tokens: embedded.input_tokens, output_tokens: 0 })
                .answered_by(AnsweredBy::Synthetic))
        }
        PreparedKind::Text { family: f, conversation, input_tokens } => {
            // Refused before the model runs, so no reply is generated for an over-long prompt.
            super::context_window::check(model, input_tokens, super::context_window::Operation::Invoke)?;
            let meta = RenderMeta { model, request: &native, hash: stable_hash(services.seed, &req.body) };
            let reply = services.synthetic.reply_as(model, &conversation);
            Ok(render_guarded(f, &reply, &meta, mode, guardrail.as_deref(), &conversation)
                .answered_by(AnsweredBy::Synthetic))
        }
    }
}
