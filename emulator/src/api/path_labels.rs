//! Coral's checks of the URI labels (`modelId`, `modelIdentifier`, …): the length and pattern
//! constraints of their string shapes in the service models (generated into the route table),
//! answered with Coral's messages before the operation looks at the request. An ARN whose
//! region does not fit `[a-z0-9-]{1,20}` (`arn:aws:bedrock:US-EAST-1::foundation-model/…`) is
//! refused here, as Bedrock refuses it.
//!
//! A pattern is matched against the whole value, as Coral does (the service models' patterns
//! rely on it: `(|([1-9][0-9]{0,7})|(DRAFT))` would otherwise match anything).

use serde_json::json;

use super::validate::constraint;
use crate::operations::RouteMatch;
use crate::wire::error::BedrockError;

/// The ARNs of created prompt routers: the service model's `PromptRouterArn` pattern names
/// only default routers (`…:default-prompt-router/…`), yet GetPromptRouter and
/// DeletePromptRouter take created ones, which Bedrock accepts.
const CREATED_PROMPT_ROUTER: &str = "arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:prompt-router/[a-zA-Z0-9-:.]+";

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
            if c.member == "promptRouterArn" && super::validate::matches_pattern(CREATED_PROMPT_ROUTER, value) {
                continue;
            }
            super::validate::check_pattern(value, &c.member, pattern)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::{find, routes};

    fn message(method: &str, path: &str) -> Option<String> {
        check(&find(method, path).expect("route")).err().map(|e| e.message)
    }

    #[test]
    fn every_label_pattern_of_both_services_compiles() {
        let patterns: Vec<&str> =
            routes().iter().flat_map(|r| &r.labels).filter_map(|l| l.pattern.as_deref()).collect();
        assert!(patterns.len() > 20);
        let broken: Vec<&&str> =
            patterns.iter().filter(|p| regex_lite::Regex::new(&format!("^(?:{p})$")).is_err()).collect();
        assert!(broken.is_empty(), "{broken:?}");
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
    fn a_model_id_past_its_length_is_refused_with_the_length_constraint() {
        let long = "a".repeat(2049);
        let m = message("POST", &format!("/model/{long}/converse")).expect("refused");
        assert!(m.ends_with("failed to satisfy constraint: Member must have length less than or equal to 2048"), "{m}");
        let m = message("POST", &format!("/model/{}/count-tokens", "a".repeat(257))).expect("refused");
        assert!(m.ends_with("Member must have length less than or equal to 256"), "{m}");
    }
}
