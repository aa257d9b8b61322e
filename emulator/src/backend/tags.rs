//! Tags of created resources (TagResource, UntagResource, ListTagsForResource). Each taggable
//! resource keeps its tags in its own record, so tags given at creation, tags added later and
//! the resource's deletion stay one thing. A resource is addressed by its ARN, which must name
//! a resource of the caller's account and region.

use serde_json::{json, Value};

use super::catalog::parse_arn;
use super::state::{Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// Tags one resource may carry (the model's `TagList` maximum, which AWS enforces per resource).
pub const MAX_TAGS: usize = 200;

/// The taggable resources that exist in this build: (ARN resource type, state kind, the member
/// of its record holding the tags).
const TAGGABLE: &[(&str, &str, &str)] = &[
    ("guardrail", super::guardrails::KIND, "tags"),
    ("async-invoke", super::async_invoke::KIND, "_tags"),
    ("application-inference-profile", super::app_profiles::KIND, "_tags"),
    ("provisioned-model", super::provisioned::KIND, "_tags"),
    ("model-invocation-job", super::batch::KIND, "_tags"),
    ("model-customization-job", super::customization::JOB_KIND, "_tags"),
    ("custom-model", super::customization::MODEL_KIND, "_tags"),
    ("custom-model-deployment", super::customization::DEPLOYMENT_KIND, "_tags"),
    ("model-import-job", super::import_copy::IMPORT_JOB_KIND, "_tags"),
    ("imported-model", super::import_copy::IMPORTED_KIND, "_tags"),
    ("prompt-router", super::prompt_routers::KIND, "_tags"),
    ("evaluation-job", super::evaluation::KIND, "_tags"),
    ("advanced-prompt-optimization-job", super::prompt_optimization::KIND, "_tags"),
    ("automated-reasoning-policy", super::reasoning::KIND, "_tags"),
];

fn not_found(arn: &str) -> BedrockError {
    BedrockError::not_found(format!("The resource {arn} was not found."))
}

/// The record an ARN names in `scope`: (state kind, tag member, id).
fn locate(scope: &Scope, arn: &str) -> Result<(&'static str, &'static str, String), BedrockError> {
    let parsed = parse_arn(arn).ok_or_else(|| not_found(arn))?;
    if parsed.region != scope.region || parsed.account != scope.account {
        return Err(not_found(arn));
    }
    let (_, kind, member) =
        TAGGABLE.iter().find(|(t, _, _)| *t == parsed.resource_type).ok_or_else(|| not_found(arn))?;
    // Custom models and customization jobs carry their base model before the id.
    Ok((kind, member, parsed.resource_id.rsplit('/').next().unwrap_or_default().to_string()))
}

fn tags_of<'s>(space: &'s mut Space, scope: &Scope, arn: &str) -> Result<&'s mut Vec<Value>, BedrockError> {
    let (kind, member, id) = locate(scope, arn)?;
    let record = space.get_mut(kind, &id).ok_or_else(|| not_found(arn))?;
    let Some(object) = record.as_object_mut() else { return Err(not_found(arn)) };
    let slot = object.entry(member.to_string()).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    match slot {
        Value::Array(tags) => Ok(tags),
        _ => Err(not_found(arn)),
    }
}

fn key_of(tag: &Value) -> &str {
    tag.get("key").and_then(Value::as_str).unwrap_or_default()
}

/// ListTagsForResource: the tags, in the order they were first set.
pub fn list(space: &Space, scope: &Scope, arn: &str) -> Result<Value, BedrockError> {
    let (kind, member, id) = locate(scope, arn)?;
    let record = space.get(kind, &id).ok_or_else(|| not_found(arn))?;
    Ok(record.get(member).filter(|t| t.is_array()).cloned().unwrap_or_else(|| json!([])))
}

/// TagResource: each tag set (a key already there gets the new value); more than
/// [`MAX_TAGS`] in all is a `TooManyTagsException` and changes nothing.
pub fn tag(space: &mut Space, scope: &Scope, arn: &str, new: &[Value]) -> Result<(), BedrockError> {
    let tags = tags_of(space, scope, arn)?;
    let mut merged = tags.clone();
    for tag in new {
        match merged.iter_mut().find(|t| key_of(t) == key_of(tag)) {
            Some(existing) => *existing = tag.clone(),
            None => merged.push(tag.clone()),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(BedrockError::new(
            ErrorCode::TooManyTagsException,
            format!(
                "The request would leave {arn} with {} tags; a resource can have at most {MAX_TAGS}.",
                merged.len()
            ),
        )
        .with_extra("resourceName", json!(arn)));
    }
    *tags = merged;
    Ok(())
}

/// UntagResource: the tags with these keys removed (keys it does not have are ignored).
pub fn untag(space: &mut Space, scope: &Scope, arn: &str, keys: &[&str]) -> Result<(), BedrockError> {
    let tags = tags_of(space, scope, arn)?;
    tags.retain(|t| !keys.contains(&key_of(t)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Space, Scope, String) {
        let scope = Scope::new("123456789012", "us-east-1");
        let mut space = Space::default();
        space.put(super::super::guardrails::KIND, "abc", json!({"draft": {}, "tags": [{"key": "team", "value": "a"}]}));
        (space, scope, "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc".to_string())
    }

    #[test]
    fn tags_are_set_replaced_listed_and_removed() {
        let (mut space, scope, arn) = setup();
        tag(&mut space, &scope, &arn, &[json!({"key": "team", "value": "b"}), json!({"key": "env", "value": "ci"})])
            .expect("tagged");
        assert_eq!(
            list(&space, &scope, &arn).expect("listed"),
            json!([{"key": "team", "value": "b"}, {"key": "env", "value": "ci"}])
        );
        untag(&mut space, &scope, &arn, &["team", "missing"]).expect("untagged");
        assert_eq!(list(&space, &scope, &arn).expect("listed"), json!([{"key": "env", "value": "ci"}]));
    }

    #[test]
    fn too_many_tags_change_nothing_and_unknown_resources_are_not_found() {
        let (mut space, scope, arn) = setup();
        let many: Vec<Value> = (0..MAX_TAGS).map(|i| json!({"key": format!("k{i}"), "value": ""})).collect();
        let e = tag(&mut space, &scope, &arn, &many).expect_err("201 tags");
        assert_eq!(e.code, ErrorCode::TooManyTagsException);
        assert_eq!(list(&space, &scope, &arn).expect("listed").as_array().map(Vec::len), Some(1));
        for other in [
            "arn:aws:bedrock:us-east-1:123456789012:guardrail/nope",
            "arn:aws:bedrock:us-west-2:123456789012:guardrail/abc",
            "arn:aws:bedrock:us-east-1:111111111111:guardrail/abc",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/x",
            "not-an-arn",
        ] {
            assert_eq!(list(&space, &scope, other).expect_err(other).code, ErrorCode::ResourceNotFoundException);
        }
    }
}
