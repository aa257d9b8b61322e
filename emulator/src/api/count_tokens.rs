//! CountTokens (SPEC §4.5): the input tokens a Converse or native InvokeModel request would be
//! billed, with the same tokenizer the usage fields use — so `inputTokens` here equals
//! `usage.inputTokens` of the same request through Converse.

use base64::Engine;
use serde_json::json;

use super::validate::{body_object, constraint, union_member, wrong_type};
use super::{converse, Prepared, Request, Services};
use crate::families::{self, native_schema, Family};
use crate::plan::{AnsweredBy, Plan};
use crate::synthetic::input_tokens;
use crate::wire::error::BedrockError;

/// `POST /model/{modelId}/count-tokens`: parses and validates.
pub fn prepare(req: &Request, services: &Services) -> Result<Prepared, BedrockError> {
    let model = super::resolve_model(services, req, req.label("modelId"))?.model;
    let body = body_object(&req.body)?;
    let input = body.get("input").ok_or_else(|| constraint(&serde_json::Value::Null, "input", "not be null"))?;
    let (kind, value) = union_member(input, "input")?;
    let conversation = match kind {
        "converse" => {
            let inner = value.as_object().ok_or_else(|| wrong_type("input.converse", "a structure"))?;
            converse::parse_object(inner, model, converse::Mode::Unary)?.conversation
        }
        "invokeModel" => {
            let b64 = value
                .get("body")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| constraint(&serde_json::Value::Null, "input.invokeModel.body", "not be null"))?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| wrong_type("input.invokeModel.body", "a base64-encoded blob"))?;
            match families::lookup(model)? {
                Family::Text(f) => f.parse(&native_schema::body_json(&raw)?, model)?,
                Family::Embedding(_) | Family::Image(_) => {
                    return Err(BedrockError::validation("The provided model doesn't support counting tokens."));
                }
            }
        }
        other => return Err(wrong_type(&format!("input.{other}"), "converse or invokeModel")),
    };
    let input_tokens = input_tokens(&conversation);
    Ok(Prepared::CountTokens { model, conversation, input_tokens })
}

/// Answers a prepared CountTokens request with the shared tokenizer's count.
pub fn builtin(input_tokens: u32) -> Plan {
    Plan::json(json!({"inputTokens": input_tokens})).answered_by(AnsweredBy::Synthetic)
}
