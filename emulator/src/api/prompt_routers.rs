//! The prompt-router operations ([`crate::backend::prompt_routers`] keeps the routers), and
//! the choice a router makes for a prompt at inference ([`choose`]).

use serde_json::{json, Map, Value};

use super::{coral, Request, Services};
use crate::backend::paging::{self, PageRequest};
use crate::backend::prompt_routers as routers;
use crate::backend::state::{now_rfc3339 as now, Scope};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// The operations this module answers.
pub const OPERATIONS: &[&str] = &["CreatePromptRouter", "GetPromptRouter", "ListPromptRouters", "DeletePromptRouter"];

const DEFAULT_PAGE: usize = 100;

/// A stand-in ARN the model's `PromptRouterArn` pattern accepts.
const PATTERN_STAND_IN: &str = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/stand.in:1";

fn validated(req: &Request) -> Result<Map<String, Value>, BedrockError> {
    let input = coral::operation_input(req)?;
    // The service model's `PromptRouterArn` pattern names only default routers, yet Get and
    // Delete take the ARNs of created ones too (`…:prompt-router/ID`): those are checked
    // against the pattern as a stand-in, the rest of the input as sent.
    let mut checked = input.clone();
    if let Some(Value::String(arn)) = checked.get_mut("promptRouterArn") {
        if arn.contains(&format!(":{}/", routers::KIND)) {
            *arn = PATTERN_STAND_IN.to_string();
        }
    }
    coral::validate_input("bedrock", req.operation(), &Value::Object(checked))?;
    Ok(input)
}

/// Answers a prompt-router operation.
pub fn handle(req: &Request, services: &Services) -> Result<Plan, BedrockError> {
    let scope = Scope::new(&req.account, &req.region);
    let input = validated(req)?;
    let (state, catalog) = (&services.state, services.catalog);
    let body = match req.operation() {
        "CreatePromptRouter" => {
            let token = input.get("clientRequestToken").and_then(Value::as_str).map(str::to_string);
            let now = now();
            state.update(&scope, |space| {
                space.idempotent(req.operation(), token.as_deref(), &Value::Object(input.clone()), |space| {
                    routers::create(space, &scope, catalog, &input, &now)
                })
            })?
        }
        "GetPromptRouter" => {
            state.read(&scope, |space| routers::get(space, &scope, catalog, req.label("promptRouterArn")))?
        }
        "ListPromptRouters" => {
            let ty = input.get("type").and_then(Value::as_str);
            let all = state.read(&scope, |space| routers::list(space, &scope, catalog, ty));
            let keyed: Vec<(String, Value)> =
                all.into_iter().enumerate().map(|(i, r)| (format!("{i:06}"), r)).collect();
            let request = PageRequest {
                max_results: input.get("maxResults").and_then(Value::as_u64).map(|n| n as usize),
                next_token: input.get("nextToken").and_then(Value::as_str).map(str::to_string),
            };
            let page = paging::page(
                &format!("prompt-routers/{}", ty.unwrap_or("")),
                keyed,
                |(k, _)| k.clone(),
                &request,
                DEFAULT_PAGE,
            )?;
            let mut body = json!({"promptRouterSummaries": page.items.into_iter().map(|(_, r)| r).collect::<Vec<_>>()});
            if let Some(t) = page.next_token {
                body["nextToken"] = json!(t);
            }
            body
        }
        "DeletePromptRouter" => {
            state.update(&scope, |space| routers::delete(space, &scope, req.label("promptRouterArn")))?;
            json!({})
        }
        other => return Err(BedrockError::validation(format!("{other} is not a prompt-router operation."))),
    };
    Ok(Plan::json(body))
}

/// Words that make a prompt harder to answer well, each adding 25 points to its predicted
/// quality gap.
const HARD_WORDS: &[&str] = &[
    "analyse",
    "analyze",
    "calculate",
    "code",
    "compare",
    "derive",
    "design",
    "explain",
    "implement",
    "prove",
    "reason",
    "step",
    "why",
];

/// The quality gap, in percent (0 to 100), the emulator predicts between a router's other model
/// and its fallback model on `prompt` (the last user turn): its tokens beyond the first 10,
/// plus 25 for each distinct word of [`HARD_WORDS`] in it. Deterministic, so tests can choose
/// which model answers by the prompt they send.
pub fn predicted_gap(prompt: &str) -> f64 {
    let tokens = crate::synthetic::tokenizer::count(prompt);
    let lower = prompt.to_lowercase();
    let words: std::collections::BTreeSet<&str> =
        lower.split(|c: char| !c.is_alphanumeric()).filter(|w| HARD_WORDS.contains(w)).collect();
    let gap = f64::from(tokens.saturating_sub(10)) + 25.0 * words.len() as f64;
    gap.min(100.0)
}

/// The model ARN (as the router lists it) that `router` (a Get view) sends `prompt` to: the
/// other model when its predicted quality gap is within `routingCriteria.responseQualityDifference`
/// percent, else the fallback model.
pub fn choose(router: &Value, prompt: &str) -> Option<String> {
    let fallback = router["fallbackModel"]["modelArn"].as_str()?;
    let within = router["routingCriteria"]["responseQualityDifference"].as_f64().unwrap_or(0.0);
    let other = router["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["modelArn"].as_str())
        .find(|m| *m != fallback);
    match other {
        Some(other) if predicted_gap(prompt) <= within => Some(other.to_string()),
        _ => Some(fallback.to_string()),
    }
}
