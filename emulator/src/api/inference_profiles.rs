//! ListInferenceProfiles and GetInferenceProfile for the system-defined profiles (SPEC §8.2).

use serde_json::{json, Value};

use super::validate::{check_enum, constraint};
use super::Request;
use crate::backend::catalog::Catalog;
use crate::backend::paging::{self, PageRequest};
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// Default page size when `maxResults` is absent (the whole catalog fits in one page).
const DEFAULT_PAGE: usize = 1000;

/// `GET /inference-profiles?maxResults&nextToken&type`.
pub fn list(req: &Request, catalog: &'static Catalog) -> Result<Plan, BedrockError> {
    let max = match req.query("maxResults") {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(constraint(&json!(v), "maxResults", "have value between 1 and 1000")),
        },
    };
    let ty = req.query("type");
    if let Some(t) = ty {
        check_enum(t, "typeEquals", &["SYSTEM_DEFINED", "APPLICATION"])?;
    }
    let all: Vec<Value> = if ty == Some("APPLICATION") {
        Vec::new()
    } else {
        catalog.system_profiles(&req.region).iter().map(|p| p.summary(&req.region, &req.account)).collect()
    };
    // The catalog's order is fixed, so a profile's position is its sort key.
    let keyed: Vec<(String, Value)> = all.into_iter().enumerate().map(|(i, p)| (format!("{i:06}"), p)).collect();
    let request = PageRequest { max_results: Some(max), next_token: req.query("nextToken").map(str::to_string) };
    let page = paging::page("inference-profiles", keyed, |(key, _)| key.clone(), &request, DEFAULT_PAGE)?;
    let mut body = json!({"inferenceProfileSummaries": page.items.into_iter().map(|(_, p)| p).collect::<Vec<_>>()});
    if let Some(token) = page.next_token {
        body["nextToken"] = json!(token);
    }
    Ok(Plan::json(body))
}

/// `GET /inference-profiles/{inferenceProfileIdentifier}` (id or ARN).
pub fn get(req: &Request, catalog: &'static Catalog) -> Result<Plan, BedrockError> {
    let id = req.label("inferenceProfileIdentifier");
    let profile = catalog
        .system_profile(id, &req.region)
        .ok_or_else(|| BedrockError::not_found(format!("The inference profile {id} could not be found.")))?;
    Ok(Plan::json(profile.summary(&req.region, &req.account)))
}
