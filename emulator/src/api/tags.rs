//! TagResource, UntagResource and ListTagsForResource on the resources this build creates
//! (the behaviour is in [`crate::backend::tags`]).

use serde_json::{json, Value};

use super::{coral, Request, Services};
use crate::backend::state::Scope;
use crate::backend::tags;
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &["TagResource", "UntagResource", "ListTagsForResource"];

/// Answers a tagging operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let input = coral::operation_input(req)?;
    coral::validate_input("bedrock", req.operation(), &Value::Object(input.clone()))?;
    let scope = Scope::new(&req.account, &req.region);
    let arn = input.get("resourceARN").and_then(Value::as_str).unwrap_or_default();
    let state = &services.state;
    let body = match req.operation() {
        "TagResource" => {
            let new = input.get("tags").and_then(Value::as_array).cloned().unwrap_or_default();
            state.update(&scope, |space| tags::tag(space, &scope, arn, &new))?;
            json!({})
        }
        "UntagResource" => {
            let keys: Vec<&str> = input
                .get("tagKeys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            state.update(&scope, |space| tags::untag(space, &scope, arn, &keys))?;
            json!({})
        }
        "ListTagsForResource" => json!({"tags": state.read(&scope, |space| tags::list(space, &scope, arn))?}),
        other => return Err(BedrockError::validation(format!("{other} is not a tagging operation."))),
    };
    Ok(Plan::json(body))
}
