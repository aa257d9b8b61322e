//! The conformance cases, grouped by operation. Each asserts what AWS guarantees (shapes,
//! codes, ordering); cases that pin emulator-defined behaviour (determinism, the synthetic
//! text) are marked `emulator_only`.

pub mod async_invoke;
pub mod bidi_stream;
pub mod catalog;
pub mod control_plane;
pub mod converse;
pub mod converse_stream;
pub mod guardrails;
pub mod invoke_model;
pub mod validation;

use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::case::Case;

/// Declares a case from an `async fn(Arc<Ctx>) -> CaseResult`.
#[macro_export]
macro_rules! case {
    ($group:literal, $f:path) => {
        $crate::case::Case { name: stringify!($f), group: $group, emulator_only: false, func: |c| Box::pin($f(c)) }
    };
    ($group:literal, $f:path, emulator_only) => {
        $crate::case::Case { name: stringify!($f), group: $group, emulator_only: true, func: |c| Box::pin($f(c)) }
    };
}

/// Every case, in report order.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(converse::cases());
    v.extend(converse_stream::cases());
    v.extend(invoke_model::cases());
    v.extend(validation::cases());
    v.extend(catalog::cases());
    v.extend(control_plane::cases());
    v.extend(guardrails::cases());
    v.extend(async_invoke::cases());
    v.extend(bidi_stream::cases());
    v
}

/// Finds a case by name.
pub fn find(name: &str) -> Option<Case> {
    all().into_iter().find(|c| c.name == name)
}

/// A user message with one text block.
pub fn user(text: &str) -> Message {
    msg(ConversationRole::User, vec![ContentBlock::Text(text.into())])
}

/// An assistant message with one text block.
pub fn assistant(text: &str) -> Message {
    msg(ConversationRole::Assistant, vec![ContentBlock::Text(text.into())])
}

/// A message from blocks. Building only fails for missing required fields, which these have.
pub fn msg(role: ConversationRole, content: Vec<ContentBlock>) -> Message {
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .unwrap_or_else(|e| unreachable!("message with role and content always builds: {e}"))
}

/// serde_json → smithy Document (tool schemas and inputs).
pub fn doc(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap_or(0.0)))
            }
        }
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(doc).collect()),
        Value::Object(o) => Document::Object(o.iter().map(|(k, v)| (k.clone(), doc(v))).collect()),
    }
}

/// smithy Document → serde_json.
pub fn json(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(json).collect()),
        Document::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique() {
        let mut names: Vec<_> = all().iter().map(|c| c.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn documents_round_trip_through_json() {
        let v = serde_json::json!({"a": [1, -2, 1.5, "x", null, true], "b": {}});
        assert_eq!(json(&doc(&v)), v);
    }
}
