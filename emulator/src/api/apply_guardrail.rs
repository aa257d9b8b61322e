//! ApplyGuardrail: a created guardrail (DRAFT or a numbered version) evaluated on the given
//! content by the deterministic evaluator ([`crate::backend::guardrail_eval`]), answered in
//! the shape real Bedrock sends: members in alphabetical order, `null` for the policies the
//! guardrail does not configure, and the undocumented `output` (a copy of `outputs`) and
//! `blockedResponse` (the blocked message, or `null`) that real responses carry.

use serde_json::{json, Value};

use super::{coral, Request, Services};
use crate::backend::guardrail_eval::{self, Qualifier, Source, TextBlock};
use crate::backend::guardrails;
use crate::backend::state::Scope;
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The assessment members of a GuardrailAssessment (each `null` when not configured).
const POLICIES: &[&str] = &[
    "automatedReasoningPolicy",
    "contentPolicy",
    "contextualGroundingPolicy",
    "sensitiveInformationPolicy",
    "topicPolicy",
    "wordPolicy",
];

fn not_found() -> BedrockError {
    BedrockError::not_found("The guardrail identifier or version provided in the request does not exist.")
}

/// `value` with every object's members in alphabetical order (as Bedrock's serialiser writes
/// this response).
pub(crate) fn sorted(value: Value) -> Value {
    match value {
        Value::Object(o) => {
            let mut entries: Vec<(String, Value)> = o.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The text blocks of `content` (images are counted, not evaluated).
fn text_blocks(content: &[Value]) -> (Vec<TextBlock<'_>>, usize) {
    let mut texts = Vec::new();
    let mut images = 0;
    for block in content {
        if let Some(t) = block.get("text") {
            let qualifiers = t
                .get("qualifiers")
                .and_then(Value::as_array)
                .map(|q| {
                    q.iter()
                        .filter_map(|q| match q.as_str()? {
                            "grounding_source" => Some(Qualifier::GroundingSource),
                            "query" => Some(Qualifier::Query),
                            "guard_content" => Some(Qualifier::GuardContent),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            texts.push(TextBlock { text: t.get("text").and_then(Value::as_str).unwrap_or_default(), qualifiers });
        } else if block.get("image").is_some() {
            images += 1;
        }
    }
    (texts, images)
}

/// Answers ApplyGuardrail.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let started = std::time::Instant::now();
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock-runtime", "ApplyGuardrail", &Value::Object(input.clone()))?;

    let scope = Scope::new(&req.account, &req.region);
    let (identifier, version) = (req.label("guardrailIdentifier"), req.label("guardrailVersion"));
    if identifier.is_empty() || version.is_empty() {
        return Err(not_found());
    }
    let guardrail = services
        .state
        .read(&scope, |space| guardrails::get(space, &scope, identifier, Some(version)))
        .map_err(|_| not_found())?;
    let source =
        if input.get("source").and_then(Value::as_str) == Some("OUTPUT") { Source::Output } else { Source::Input };
    let full = input.get("outputScope").and_then(Value::as_str) == Some("FULL");
    let content = input.get("content").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let (texts, images) = text_blocks(content);
    let mut evaluation = guardrail_eval::evaluate(&guardrail, source, &texts, full);
    if let Some(c) = evaluation.coverage.as_object_mut() {
        c.insert("images".into(), if images > 0 { json!({"guarded": 0, "total": images}) } else { Value::Null });
    }
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let details = super::guardrail_inference::details(&guardrail, version);
    let mut assessment = evaluation.assessment_with(details, latency);
    if let Some(a) = assessment.as_object_mut() {
        for policy in POLICIES {
            a.entry(policy.to_string()).or_insert(Value::Null);
        }
    }
    let outputs: Vec<Value> = evaluation.outputs.iter().map(|t| json!({"text": t})).collect();
    let blocked = if evaluation.intervened && evaluation.outputs.len() == 1 && evaluation.blocked {
        json!(evaluation.outputs[0])
    } else {
        Value::Null
    };
    let body = json!({
        "action": if evaluation.intervened { "GUARDRAIL_INTERVENED" } else { "NONE" },
        "actionReason": evaluation.action_reason,
        "assessments": [assessment],
        "blockedResponse": blocked,
        "guardrailCoverage": evaluation.coverage,
        "output": outputs,
        "outputs": outputs,
        "usage": evaluation.usage,
    });
    Ok(Plan::json(sorted(body)))
}
