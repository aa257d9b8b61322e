//! Validation of native InvokeModel bodies with the JSON-Schema-style messages Bedrock's
//! model front door sends (everit-json-schema wording), e.g.
//! `Malformed input request: #: required key [prompt] not found#: extraneous key [texts] is
//! not permitted, please reformat your input and try again.`
//!
//! Schemas are small JSON-Schema subsets written per family: `type` (one or a list), `required`,
//! `properties`, `additionalProperties: false`, `items`, `enum`, `minimum`/`maximum`,
//! `minItems`/`maxItems`, `minLength`/`maxLength`, `anyOf` (branch picked by JSON type).

use serde_json::Value;

use crate::wire::error::BedrockError;

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

fn schema_type_name(t: &str) -> &'static str {
    match t {
        "string" => "String",
        "integer" => "Integer",
        "number" => "Number",
        "boolean" => "Boolean",
        "array" => "JSONArray",
        "object" => "JSONObject",
        _ => "Null",
    }
}

/// Largest magnitude a float written for an integer member may have (2^63): beyond it the
/// value cannot be a Java `long`, so Bedrock's schema sees a non-integral number, as for `100.5`.
const WHOLE_FLOAT_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Bounds of an `integer` member whose schema gives none: Bedrock's request classes hold a Java
/// `int`, so a count beyond it is refused rather than silently wrapped or saturated.
const INT_MIN: f64 = i32::MIN as f64;
const INT_MAX: f64 = i32::MAX as f64;

/// A JSON number that is a whole number (`7`, `7.0`; not `7.5`, not `1e30`), as an `i64`
/// (saturating at its bounds for `u64`s past it, which the integer bounds refuse anyway).
pub fn whole_number(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.is_u64() {
        return Some(i64::MAX);
    }
    v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < WHOLE_FLOAT_LIMIT).map(|f| f as i64)
}

/// A validated count member (`max_tokens`, `n`, …) as a `u32`: negative values read as 0 and
/// larger ones saturate (the schema bounds have already refused both).
pub fn count(v: Option<&Value>) -> Option<u32> {
    v.and_then(whole_number).map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

fn matches_type(v: &Value, t: &str) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => whole_number(v).is_some(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn check(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    if let Some(branches) = s.get("anyOf").and_then(Value::as_array) {
        let chosen = branches.iter().find(|b| types_of(b).iter().any(|t| matches_type(value, t)));
        match chosen {
            Some(b) => check(value, b, path, errors),
            None => {
                let want = branches.first().map(types_of).unwrap_or_default();
                errors.push(format!(
                    "{path}: expected type: {}, found: {}",
                    want.first().map(|t| schema_type_name(t)).unwrap_or("Null"),
                    type_name(value)
                ));
            }
        }
        return;
    }
    let types = types_of(schema);
    if !types.is_empty() && !types.iter().any(|t| matches_type(value, t)) {
        let want: Vec<&str> = types.iter().map(|t| schema_type_name(t)).collect();
        let want = if want.len() == 1 { want[0].to_string() } else { format!("one of {}", want.join(", ")) };
        errors.push(format!("{path}: expected type: {want}, found: {}", type_name(value)));
        return;
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let shown = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            errors.push(format!("{path}: {shown} is not a valid enum value"));
        }
    }
    if let Some(n) = value.as_f64() {
        let integer = types.iter().any(|t| t == "integer");
        let bound =
            |key: &str, implicit: f64| s.get(key).and_then(Value::as_f64).or_else(|| integer.then_some(implicit));
        // A u64 past i64 is exact only as itself: compare and show it as an integer.
        let shown = value.as_u64().map_or_else(|| fmt_num(n), |u| u.to_string());
        if let Some(min) = bound("minimum", INT_MIN).filter(|m| n < *m) {
            errors.push(format!("{path}: {shown} is not greater or equal to {}", fmt_num(min)));
        }
        if let Some(max) = bound("maximum", INT_MAX).filter(|m| n > *m) {
            errors.push(format!("{path}: {shown} is not less or equal to {}", fmt_num(max)));
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64).filter(|m| length < *m) {
            errors.push(format!("{path}: expected minLength: {min}, actual: {length}"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64).filter(|m| length > *m) {
            errors.push(format!("{path}: expected maxLength: {max}, actual: {length}"));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64).filter(|m| (items.len() as u64) < *m) {
            errors.push(format!("{path}: expected minimum item count: {min}, found: {}", items.len()));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64).filter(|m| (items.len() as u64) > *m) {
            errors.push(format!("{path}: expected maximum item count: {max}, found: {}", items.len()));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item, item_schema, &format!("{path}/{i}"), errors);
            }
        }
    }
    if let Some(obj) = value.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(key) {
                    errors.push(format!("{path}: required key [{key}] not found"));
                }
            }
        }
        if s.get("additionalProperties") == Some(&Value::Bool(false)) {
            for key in obj.keys() {
                if !props.is_some_and(|p| p.contains_key(key)) {
                    errors.push(format!("{path}: extraneous key [{key}] is not permitted"));
                }
            }
        }
        if let Some(props) = props {
            for (key, sub) in props {
                if let Some(v) = obj.get(key) {
                    check(v, sub, &format!("{path}/{key}"), errors);
                }
            }
        }
    }
}

fn types_of(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Every schema violation of `value`, in everit's `#/path: reason` form.
pub fn violations(value: &Value, schema: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(value, schema, "#", &mut errors);
    errors
}

/// The ValidationException Bedrock sends for a malformed native body.
pub fn malformed(errors: &[String]) -> BedrockError {
    BedrockError::validation(format!(
        "Malformed input request: {}, please reformat your input and try again.",
        errors.concat()
    ))
}

/// Validates `value` against `schema`, answering Bedrock's malformed-input error.
pub fn validate(value: &Value, schema: &Value) -> Result<(), BedrockError> {
    let errors = violations(value, schema);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(malformed(&errors))
    }
}

/// Parses an InvokeModel body as a JSON object, with Bedrock's malformed-input error.
pub fn body_json(body: &[u8]) -> Result<Value, BedrockError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(malformed(&[format!("#: expected type: JSONObject, found: {}", type_name(&other))])),
        Err(_) => Err(BedrockError::validation("Malformed input request, please reformat your input and try again.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_follow_everit_wording() {
        let schema = json!({
            "type": "object", "additionalProperties": false, "required": ["prompt", "max_tokens_to_sample"],
            "properties": {"prompt": {"type": "string"}, "max_tokens_to_sample": {"type": "integer"}}
        });
        let e = validate(&json!({"texts": []}), &schema).expect_err("invalid");
        assert_eq!(
            e.message,
            "Malformed input request: #: required key [prompt] not found#: required key [max_tokens_to_sample] not found#: extraneous key [texts] is not permitted, please reformat your input and try again."
        );
    }

    #[test]
    fn integer_members_take_whole_numbers_within_a_java_int_unless_bounded_otherwise() {
        let schema = json!({"type": "object", "properties": {"k": {"type": "integer", "minimum": 0}}});
        assert!(violations(&json!({"k": 100.0}), &schema).is_empty());
        assert_eq!(count(Some(&json!(100.0))), Some(100));
        for v in [json!(100.5), json!(1e30)] {
            assert_eq!(violations(&json!({"k": v}), &schema), vec!["#/k: expected type: Integer, found: Number"]);
        }
        assert_eq!(
            violations(&json!({"k": 3_000_000_000u64}), &schema),
            vec!["#/k: 3000000000 is not less or equal to 2147483647"]
        );
        assert_eq!(
            violations(&json!({"k": u64::MAX}), &schema),
            vec!["#/k: 18446744073709551615 is not less or equal to 2147483647"]
        );
        assert_eq!(violations(&json!({"k": -1}), &schema), vec!["#/k: -1 is not greater or equal to 0"]);
    }

    #[test]
    fn nested_types_bounds_and_enums_are_reported_with_their_path() {
        let schema = json!({"type": "object", "properties": {
            "t": {"type": "number", "minimum": 0, "maximum": 1},
            "m": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {"role": {"enum": ["user", "assistant"]}}}}
        }});
        assert_eq!(violations(&json!({"t": 1.5}), &schema), vec!["#/t: 1.5 is not less or equal to 1"]);
        assert_eq!(violations(&json!({"m": []}), &schema), vec!["#/m: expected minimum item count: 1, found: 0"]);
        assert_eq!(
            violations(&json!({"m": [{"role": "system"}]}), &schema),
            vec!["#/m/0/role: system is not a valid enum value"]
        );
        assert_eq!(violations(&json!({"t": "x"}), &schema), vec!["#/t: expected type: Number, found: String"]);
    }
}
