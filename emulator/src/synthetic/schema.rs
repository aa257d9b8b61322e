//! Builds a JSON value that validates against a tool's JSON schema, so a forced tool call from
//! the synthetic model passes the caller's own validation.
//!
//! Covers what tool schemas use in practice: `type` (single or list), `properties`/`required`,
//! `items`/`minItems`/`maxItems`, `enum`/`const`/`default`, numeric bounds and `multipleOf`,
//! string lengths and common `format`s, `anyOf`/`oneOf`/`allOf` (first branch) and local
//! `$ref`s. `pattern` is not satisfied in general (documented in README).

use serde_json::{json, Map, Value};

const MAX_DEPTH: usize = 12;
/// Longest string an instance holds: `minLength` is the client's number, and a tool call's
/// input cannot be longer than a model's output anyway (the largest catalog limit is 128k
/// tokens); past it the string stops short of `minLength` rather than never answering.
pub const MAX_STRING_CHARS: usize = 65_536;
/// Most values one instance may hold: a schema of nested `minItems` arrays (or a `$ref`
/// cycle) would otherwise grow exponentially. Past the budget, values become `null`.
const MAX_NODES: usize = 2_000;

/// A value valid against `schema` (best effort; see module docs).
pub fn instance(schema: &Value) -> Value {
    let mut budget = MAX_NODES;
    build(schema, schema, "value", 0, &mut budget)
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#")?;
    if path.is_empty() {
        return Some(root);
    }
    root.pointer(path)
}

fn build(schema: &Value, root: &Value, name: &str, depth: usize, budget: &mut usize) -> Value {
    if *budget == 0 {
        return Value::Null;
    }
    *budget -= 1;
    let Some(obj) = schema.as_object() else {
        return json!(format!("{name}-value"));
    };
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        return match resolve(root, r) {
            Some(target) => build(target, root, name, depth + 1, budget),
            None => Value::Null,
        };
    }
    if let Some(c) = obj.get("const") {
        return c.clone();
    }
    if let Some(first) = obj.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(d) = obj.get("default") {
        return d.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = obj.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return build(first, root, name, depth + 1, budget);
        }
    }
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ if obj.contains_key("properties") => "object",
        _ if obj.contains_key("items") => "array",
        _ => "string",
    };
    match ty {
        "object" => object(obj, root, depth, budget),
        "array" => {
            let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(1);
            let max = obj.get("maxItems").and_then(Value::as_u64).unwrap_or(u64::MAX);
            let n = min.max(1).min(max).min(16);
            let item_schema = obj.get("items").cloned().unwrap_or(json!({}));
            Value::Array((0..n).map(|_| build(&item_schema, root, name, depth + 1, budget)).collect())
        }
        "integer" => number(obj, true),
        "number" => number(obj, false),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => string(obj, name),
    }
}

fn object(obj: &Map<String, Value>, root: &Value, depth: usize, budget: &mut usize) -> Value {
    let empty = Map::new();
    let props = obj.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let required: Vec<&str> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (key, sub) in props {
        if required.is_empty() || required.contains(&key.as_str()) {
            out.insert(key.clone(), build(sub, root, key, depth + 1, budget));
        }
    }
    // Required keys without a property schema still have to be present.
    for key in required {
        if !out.contains_key(key) {
            out.insert(key.to_string(), json!(format!("{key}-value")));
        }
    }
    Value::Object(out)
}

fn number(obj: &Map<String, Value>, integer: bool) -> Value {
    let min = obj.get("minimum").and_then(Value::as_f64);
    let max = obj.get("maximum").and_then(Value::as_f64);
    let xmin = obj.get("exclusiveMinimum").and_then(Value::as_f64);
    let xmax = obj.get("exclusiveMaximum").and_then(Value::as_f64);
    let step = obj.get("multipleOf").and_then(Value::as_f64).filter(|s| *s > 0.0);
    let mut v: f64 = if integer { 1.0 } else { 1.5 };
    if let Some(m) = min {
        v = v.max(m);
    }
    if let Some(m) = xmin {
        if v <= m {
            v = if integer { m.floor() + 1.0 } else { m + 0.5 };
        }
    }
    if let Some(m) = max {
        v = v.min(m);
    }
    if let Some(m) = xmax {
        if v >= m {
            v = if integer { m.ceil() - 1.0 } else { (m + xmin.or(min).unwrap_or(m - 1.0)) / 2.0 };
        }
    }
    if let Some(s) = step {
        let lo = xmin.or(min).unwrap_or(f64::MIN);
        v = (v / s).ceil() * s;
        if v < lo {
            v += s;
        }
    }
    if integer {
        json!(v.round() as i64)
    } else {
        json!(v)
    }
}

fn string(obj: &Map<String, Value>, name: &str) -> Value {
    let mut s = match obj.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z".to_string(),
        Some("date") => "2024-01-01".to_string(),
        Some("time") => "00:00:00".to_string(),
        Some("email") => "user@example.com".to_string(),
        Some("uri") | Some("url") => "https://example.com".to_string(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_string(),
        Some("ipv4") => "192.0.2.1".to_string(),
        _ => format!("{name}-value"),
    };
    let min = obj.get("minLength").and_then(Value::as_u64).map_or(0, |m| m.min(MAX_STRING_CHARS as u64) as usize);
    let max = obj.get("maxLength").and_then(Value::as_u64).map(|m| m.min(MAX_STRING_CHARS as u64) as usize);
    let have = s.chars().count();
    if have < min {
        s.extend(std::iter::repeat_n('x', min - have));
    }
    if let Some(max) = max {
        s = s.chars().take(max).collect();
    }
    json!(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_get_their_required_properties_with_the_right_types() {
        let schema = json!({
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "city"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 3, "maximum": 10},
                "detailed": {"type": "boolean"}
            },
            "required": ["location", "unit", "days"]
        });
        assert_eq!(instance(&schema), json!({"location": "location-value", "unit": "celsius", "days": 3}));
    }

    #[test]
    fn arrays_refs_and_formats_are_honoured() {
        let schema = json!({
            "type": "object",
            "properties": {"when": {"type": "string", "format": "date"}, "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 2}},
            "$defs": {"tag": {"type": "string", "minLength": 12}}
        });
        assert_eq!(instance(&schema), json!({"when": "2024-01-01", "tags": ["tags-valuexx", "tags-valuexx"]}));
    }

    #[test]
    fn numeric_bounds_are_respected() {
        assert_eq!(instance(&json!({"type": "integer", "exclusiveMinimum": 5})), json!(6));
        assert_eq!(instance(&json!({"type": "number", "maximum": 0.25})), json!(0.25));
        assert_eq!(instance(&json!({"type": "integer", "minimum": 7, "multipleOf": 5})), json!(10));
    }

    #[test]
    fn exponential_schemas_stay_bounded() {
        let mut schema = json!({"type": "string"});
        for _ in 0..12 {
            schema = json!({"type": "array", "minItems": 16, "items": schema});
        }
        let v = instance(&schema);
        assert!(v.to_string().len() < 200_000);
        let cyclic = json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
        assert!(instance(&cyclic).is_object());
    }

    #[test]
    fn a_huge_min_length_is_answered_at_once_and_bounded() {
        let v = instance(
            &json!({"type": "object", "properties": {"s": {"type": "string", "minLength": 1_000_000_000u64}}, "required": ["s"]}),
        );
        assert_eq!(v["s"].as_str().map(str::len), Some(MAX_STRING_CHARS));
    }

    #[test]
    fn nullable_type_lists_pick_the_non_null_type() {
        assert_eq!(instance(&json!({"type": ["null", "integer"]})), json!(1));
    }
}
