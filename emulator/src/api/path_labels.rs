//! Coral's checks of the URI labels (`modelId`, `modelIdentifier`, …): the length and pattern
//! constraints of their string shapes in the service models (generated into the route table),
//! answered with Coral's messages before the operation looks at the request. An ARN whose
//! region does not fit `[a-z0-9-]{1,20}` (`arn:aws:bedrock:US-EAST-1::foundation-model/…`) is
//! refused here, as Bedrock refuses it.
//!
//! A pattern is matched against the whole value, as Coral does (the service models' patterns
//! rely on it: `(|([1-9][0-9]{0,7})|(DRAFT))` would otherwise match anything).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use serde_json::json;

use super::validate::constraint;
use crate::operations::{routes, RouteMatch};
use crate::wire::error::BedrockError;

/// Every label pattern of the route table, compiled once (anchored at both ends). A pattern
/// regex-lite cannot compile maps to `None` and is not checked; a test keeps that set empty.
/// Keyed by the pattern text's address in the (static) route table: hashing a modelId
/// pattern's 300 characters on every request cost more than the lookup saves.
fn compiled() -> &'static HashMap<usize, (&'static str, Option<regex_lite::Regex>)> {
    static PATTERNS: OnceLock<HashMap<usize, (&'static str, Option<regex_lite::Regex>)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let mut by_text: HashMap<&'static str, Option<regex_lite::Regex>> = HashMap::new();
        let mut out = HashMap::new();
        for p in routes().iter().flat_map(|r| &r.labels).filter_map(|l| l.pattern.as_deref()) {
            let re = by_text.entry(p).or_insert_with(|| regex_lite::Regex::new(&format!("^(?:{p})$")).ok()).clone();
            out.insert(p.as_ptr() as usize, (p, re));
        }
        out
    })
}

/// Most values remembered per pattern (clients send a handful of model ids; a client sending
/// endless distinct ids only misses the memo).
const MAX_REMEMBERED: usize = 4096;

/// Whether `value` fits `pattern`. Values that fit are remembered: a client sends the same
/// few model ids again and again, and regex-lite's matcher on the long modelId pattern cost
/// more than all the rest of a Converse request (`bench-pinned`, callgrind).
fn fits(pattern: &'static str, re: &regex_lite::Regex, value: &str) -> bool {
    static FITS: OnceLock<Mutex<HashMap<usize, HashSet<String>>>> = OnceLock::new();
    let memo = FITS.get_or_init(Default::default);
    let key = pattern.as_ptr() as usize;
    if memo.lock().is_ok_and(|m| m.get(&key).is_some_and(|known| known.contains(value))) {
        return true;
    }
    let ok = re.is_match(value);
    if ok {
        if let Ok(mut m) = memo.lock() {
            let known = m.entry(key).or_default();
            if known.len() < MAX_REMEMBERED {
                known.insert(value.to_string());
            }
        }
    }
    ok
}

/// Checks the matched route's labels, first violation first (length, then pattern).
pub fn check(route: &RouteMatch) -> Result<(), BedrockError> {
    for c in &route.route.labels {
        let Some(value) = route.labels.get(&c.label) else { continue };
        let length = value.chars().count();
        if let Some(min) = c.min.filter(|m| length < *m) {
            return Err(constraint(&json!(value), &c.member, &format!("have length greater than or equal to {min}")));
        }
        if let Some(max) = c.max.filter(|m| length > *m) {
            return Err(constraint(&json!(value), &c.member, &format!("have length less than or equal to {max}")));
        }
        if let Some(pattern) = &c.pattern {
            let pattern: &'static str = pattern.as_str();
            let re = compiled().get(&(pattern.as_ptr() as usize)).and_then(|(_, re)| re.as_ref());
            if re.is_some_and(|re| !fits(pattern, re, value)) {
                return Err(constraint(
                    &json!(value),
                    &c.member,
                    &format!("satisfy regular expression pattern: {pattern}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::find;

    fn message(method: &str, path: &str) -> Option<String> {
        check(&find(method, path).expect("route")).err().map(|e| e.message)
    }

    #[test]
    fn every_label_pattern_of_both_services_compiles() {
        let broken: Vec<&str> = compiled().values().filter(|(_, re)| re.is_none()).map(|(p, _)| *p).collect();
        assert!(broken.is_empty(), "{broken:?}");
        assert!(compiled().len() > 20);
    }

    #[test]
    fn ids_arns_and_profiles_the_emulator_serves_fit_their_patterns() {
        for id in [
            "anthropic.claude-3-haiku-20240307-v1%3A0",
            "us.anthropic.claude-3-haiku-20240307-v1%3A0",
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0",
            "arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-3-haiku-20240307-v1%3A0",
            "arn%3Aaws-us-gov%3Abedrock%3Aus-gov-west-1%3A%3Afoundation-model%2Famazon.titan-text-express-v1",
            "no-such-model",
        ] {
            for op in ["converse", "converse-stream", "invoke", "invoke-with-response-stream", "count-tokens"] {
                assert_eq!(message("POST", &format!("/model/{id}/{op}")), None, "{op} {id}");
            }
        }
        assert_eq!(message("GET", "/foundation-models/anthropic.claude-3-haiku-20240307-v1%3A0"), None);
        assert_eq!(message("GET", "/inference-profiles/us.anthropic.claude-3-haiku-20240307-v1%3A0"), None);
    }

    #[test]
    fn an_arn_whose_region_does_not_fit_the_pattern_is_refused_as_coral_refuses_it() {
        for region in ["US-EAST-1", "us_east_1", "a-region-name-longer-than-twenty", ""] {
            let arn = format!(
                "arn%3Aaws%3Abedrock%3A{region}%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0"
            );
            let m = message("POST", &format!("/model/{arn}/converse")).expect("refused");
            assert!(m.starts_with(&format!(
                "1 validation error detected: Value 'arn:aws:bedrock:{region}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{{1,20}}:"
            )), "{m}");
        }
    }

    #[test]
    fn a_remembered_value_is_still_checked_per_pattern() {
        let ok = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
        assert_eq!(message("POST", ok), None);
        assert_eq!(message("POST", ok), None, "the second time, from the memo");
        let bad = "/model/arn%3Aaws%3Abedrock%3AUS%3A%3Afoundation-model%2Fx/converse";
        assert!(message("POST", bad).is_some());
        assert!(message("POST", bad).is_some(), "refusals are never remembered as fits");
    }

    #[test]
    fn a_model_id_past_its_length_is_refused_with_the_length_constraint() {
        let long = "a".repeat(2049);
        let m = message("POST", &format!("/model/{long}/converse")).expect("refused");
        assert!(m.ends_with("failed to satisfy constraint: Member must have length less than or equal to 2048"), "{m}");
        let m = message("POST", &format!("/model/{}/count-tokens", "a".repeat(257))).expect("refused");
        assert!(m.ends_with("Member must have length less than or equal to 256"), "{m}");
    }
}
