//! Field-level validation helpers that produce Bedrock's (Coral's) constraint messages, e.g.
//! `1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to
//! satisfy constraint: Member must have value less than or equal to 1`.

use serde_json::{Map, Value};

use crate::wire::error::BedrockError;

/// A Coral constraint failure for the member at `path` (Coral paths: `messages.1.member.role`).
pub fn constraint(value: &Value, path: &str, must: &str) -> BedrockError {
    let shown = match value {
        Value::Null => "null".to_string(),
        Value::String(s) => format!("'{s}'"),
        other => format!("'{other}'"),
    };
    let value_part = if value.is_null() { "Value null".to_string() } else { format!("Value {shown}") };
    BedrockError::validation(format!(
        "1 validation error detected: {value_part} at '{path}' failed to satisfy constraint: Member must {must}"
    ))
}

/// The Coral member path of list element `index` (0-based) under `list_path`.
pub fn member(list_path: &str, index: usize) -> String {
    format!("{list_path}.{}.member", index + 1)
}

/// A JSON type mismatch (what Coral reports when a body does not deserialise).
pub fn wrong_type(path: &str, expected: &str) -> BedrockError {
    BedrockError::validation(format!(
        "1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must be {expected}"
    ))
}

/// The body as a JSON object (an empty body counts as `{}`, as botocore sends for no members).
pub fn body_object(body: &[u8]) -> Result<Map<String, Value>, BedrockError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BedrockError::validation("The request body must be a JSON object.")),
        Err(e) => Err(BedrockError::validation(format!("The request body is not valid JSON: {e}"))),
    }
}

/// The member `key` of `obj`. Request objects hold a handful of members: comparing keys
/// beats hashing `key` (SipHash, per lookup) until about a dozen, and validation looks up
/// each member it knows on every request.
pub fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if obj.len() <= 12 {
        obj.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        obj.get(key)
    }
}

/// Optional object member.
pub fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, BedrockError> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(wrong_type(path, "a structure")),
    }
}

/// Optional list member.
pub fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Vec<Value>>, BedrockError> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(wrong_type(path, "a list")),
    }
}

/// Optional string member.
pub fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<Option<&'a str>, BedrockError> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(path, "a string")),
    }
}

/// Required string member.
pub fn req_str<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, BedrockError> {
    opt_str(obj, key, path)?.ok_or_else(|| constraint(&Value::Null, path, "not be null"))
}

/// Checks a string against `enum` values.
pub fn check_enum(value: &str, path: &str, allowed: &[&str]) -> Result<(), BedrockError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(constraint(
            &Value::String(value.to_string()),
            path,
            &format!("satisfy enum value set: [{}]", allowed.join(", ")),
        ))
    }
}

/// Checks string length bounds (in characters).
pub fn check_len(value: &str, path: &str, min: usize, max: Option<usize>) -> Result<(), BedrockError> {
    let n = value.chars().count();
    if n < min {
        return Err(constraint(
            &Value::String(value.into()),
            path,
            &format!("have length greater than or equal to {min}"),
        ));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(constraint(
            &Value::String(value.into()),
            path,
            &format!("have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// The service model's pattern of a guardrail identifier (Converse's `guardrailConfig`,
/// InvokeModel's `X-Amzn-Bedrock-GuardrailIdentifier`), at most 2048 characters.
pub const GUARDRAIL_IDENTIFIER_PATTERN: &str =
    "(|([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))";

/// The service model's pattern of a guardrail version.
pub const GUARDRAIL_VERSION_PATTERN: &str = "(|([1-9][0-9]{0,7})|(DRAFT))";

/// One service-model pattern, compiled, with the values already found to fit it.
struct CompiledPattern {
    pattern: String,
    regex: Option<regex_lite::Regex>,
    fits: std::collections::HashSet<String>,
}

/// Most values remembered per pattern, and most patterns kept (the service models have a few
/// dozen; a caller passing endless distinct patterns only misses the cache).
const MAX_REMEMBERED: usize = 4096;

/// Whether `value` as a whole matches the service-model `pattern` (compiled once per
/// pattern; a pattern regex-lite cannot compile matches everything, and a test keeps the
/// service models' patterns compiling).
///
/// Patterns are looked up by address (they are the route table's and constants), confirmed
/// by text, and values that fit are remembered: clients send the same few model ids again
/// and again, and regex-lite's matcher on the modelId pattern cost ~166k instructions a
/// request — more than all the rest of Converse (callgrind, `bench-pinned`).
pub fn matches_pattern(pattern: &str, value: &str) -> bool {
    // The last values that fit, per thread: the same model id arrives on request after
    // request, and this check costs a few comparisons where the shared cache below costs a
    // lock and two hashes.
    thread_local! {
        static RECENT: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    const RECENT_FITS: usize = 8;
    let recent =
        |p: &str, v: &str| RECENT.with(|r| r.try_borrow().is_ok_and(|r| r.iter().any(|(rp, rv)| rv == v && rp == p)));
    if recent(pattern, value) {
        return true;
    }
    let fits = matches_pattern_shared(pattern, value);
    if fits && value.len() <= 2048 {
        RECENT.with(|r| {
            if let Ok(mut r) = r.try_borrow_mut() {
                if r.len() == RECENT_FITS {
                    r.remove(0);
                }
                r.push((pattern.to_string(), value.to_string()));
            }
        });
    }
    fits
}

fn matches_pattern_shared(pattern: &str, value: &str) -> bool {
    type Cache = std::collections::HashMap<usize, Vec<CompiledPattern>>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let key = pattern.as_ptr() as usize;
    let regex = {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        let full = cache.len() >= MAX_REMEMBERED;
        let slot = cache.entry(key).or_default();
        let index = match slot.iter().position(|c| c.pattern == pattern) {
            Some(i) => Some(i),
            None if !full => {
                slot.push(CompiledPattern {
                    pattern: pattern.to_string(),
                    regex: regex_lite::Regex::new(&format!("^(?:{pattern})$")).ok(),
                    fits: Default::default(),
                });
                Some(slot.len() - 1)
            }
            None => None,
        };
        match index.map(|i| &slot[i]) {
            Some(c) if c.fits.contains(value) => return true,
            Some(c) => c.regex.clone(),
            None => regex_lite::Regex::new(&format!("^(?:{pattern})$")).ok(),
        }
    };
    let Some(re) = regex else { return true };
    let fits = re.is_match(value);
    if fits {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get_mut(&key).and_then(|slot| slot.iter_mut().find(|c| c.pattern == pattern)) {
            if c.fits.len() < MAX_REMEMBERED {
                c.fits.insert(value.to_string());
            }
        }
    }
    fits
}

/// Checks `value` against a service-model pattern, with Coral's message.
pub fn check_pattern(value: &str, path: &str, pattern: &str) -> Result<(), BedrockError> {
    if matches_pattern(pattern, value) {
        Ok(())
    } else {
        Err(constraint(&Value::String(value.into()), path, &format!("satisfy regular expression pattern: {pattern}")))
    }
}

/// Checks a tool name against `[a-zA-Z0-9_-]+` (1–64).
pub fn check_tool_name(value: &str, path: &str) -> Result<(), BedrockError> {
    check_len(value, path, 1, Some(64))?;
    if value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(constraint(&Value::String(value.into()), path, "satisfy regular expression pattern: [a-zA-Z0-9_-]+"))
    }
}

/// The single member of a tagged union (nulls and `__type` ignored, as the SDKs do), or a
/// validation error naming the union.
pub fn union_member<'a>(value: &'a Value, path: &str) -> Result<(&'a str, &'a Value), BedrockError> {
    let Value::Object(map) = value else {
        return Err(wrong_type(path, "a union structure"));
    };
    let mut set = map.iter().filter(|(k, v)| !v.is_null() && k.as_str() != "__type");
    match (set.next(), set.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        (None, _) => Err(BedrockError::validation(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must have exactly one member set, but none was set"
        ))),
        (Some(_), Some(_)) => Err(BedrockError::validation(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must have exactly one member set, but more than one was set"
        ))),
    }
}

/// A number member within `[min, max]`; `integer` requires a whole number.
pub fn opt_number(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    min: Option<f64>,
    max: Option<f64>,
    integer: bool,
) -> Result<Option<f64>, BedrockError> {
    let value = match field(obj, key) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let Some(n) = value.as_f64() else {
        return Err(wrong_type(path, if integer { "an integer" } else { "a number" }));
    };
    if integer && (value.as_i64().is_none() && value.as_u64().is_none()) {
        return Err(wrong_type(path, "an integer"));
    }
    if let Some(min) = min.filter(|m| n < *m) {
        return Err(constraint(value, path, &format!("have value greater than or equal to {}", fmt_bound(min))));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(constraint(value, path, &format!("have value less than or equal to {}", fmt_bound(max))));
    }
    Ok(Some(n))
}

fn fmt_bound(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_fits_never_excuse_a_value_that_does_not_fit() {
        const PATTERN: &str = "[a-z]{1,3}";
        for _ in 0..2 {
            assert!(matches_pattern(PATTERN, "abc"));
            assert!(!matches_pattern(PATTERN, "abcd"));
            assert!(!matches_pattern(PATTERN, "ABC"));
        }
        // The same text at another address is the same pattern; another text at any address
        // is another pattern.
        let owned = String::from("[a-z]{1,3}");
        assert!(matches_pattern(&owned, "abc") && !matches_pattern(&owned, "abcd"));
        assert!(matches_pattern("[0-9]+", "123") && !matches_pattern("[0-9]+", "abc"));
    }
    use serde_json::json;

    #[test]
    fn constraint_messages_follow_coral() {
        let m = json!({"temperature": 1.5});
        let e = opt_number(
            m.as_object().expect("obj"),
            "temperature",
            "inferenceConfig.temperature",
            Some(0.0),
            Some(1.0),
            false,
        )
        .expect_err("too big");
        assert_eq!(
            e.message,
            "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"
        );
    }

    #[test]
    fn unions_need_exactly_one_member() {
        assert_eq!(union_member(&json!({"text": "a", "image": null}), "p").expect("one").0, "text");
        assert!(union_member(&json!({}), "p").is_err());
        assert!(union_member(&json!({"text": "a", "image": {}}), "p").is_err());
    }
}
