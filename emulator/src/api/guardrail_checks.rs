//! InvokeGuardrailChecks: the request validated like Bedrock (the model's constraints, plus
//! the two its documentation adds: at least one check, at most ten content blocks a message),
//! then scored by [`crate::backend::guardrail_checks`].

use serde_json::{Map, Value};

use super::{apply_guardrail, coral, Request};
use crate::backend::guardrail_checks;
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// Content blocks one message may hold (AWS's user guide: "A message can contain at most ten
/// content blocks").
pub const MAX_BLOCKS_PER_MESSAGE: usize = 10;

/// Answers InvokeGuardrailChecks.
pub fn handle(req: &Request) -> Result<Plan, BedrockError> {
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock-runtime", "InvokeGuardrailChecks", &Value::Object(input.clone()))?;
    let empty = Map::new();
    let checks = input.get("checks").and_then(Value::as_object).unwrap_or(&empty);
    if checks.values().all(Value::is_null) {
        return Err(BedrockError::validation(
            "At least one check (contentFilter, promptAttack or sensitiveInformation) must be specified.",
        ));
    }
    let messages = input.get("messages").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut texts = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let content = message.get("content").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        if content.len() > MAX_BLOCKS_PER_MESSAGE {
            return Err(BedrockError::validation(format!(
                "1 validation error detected: Value at 'messages.{}.member.content' failed to satisfy constraint: \
                 Member must have length less than or equal to {MAX_BLOCKS_PER_MESSAGE}",
                i + 1
            )));
        }
        texts.push(content.iter().filter_map(|b| b.get("text")?.as_str()).collect::<Vec<&str>>());
    }
    let checks: Map<String, Value> =
        checks.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(Plan::json(apply_guardrail::sorted(guardrail_checks::run(&texts, &checks))))
}
