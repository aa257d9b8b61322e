//! ListInferenceProfiles and GetInferenceProfile for the system-defined profiles (SPEC §8.2).

use base64::Engine;
use serde_json::{json, Value};

use super::validate::{check_enum, constraint};
use super::Request;
use crate::backend::catalog::Catalog;
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// Default page size when `maxResults` is absent (the whole catalog fits in one page).
const DEFAULT_PAGE: usize = 1000;

fn decode_token(token: &str) -> Result<usize, BedrockError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| BedrockError::validation("The pagination token is invalid."))
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

/// `GET /inference-profiles?maxResults&nextToken&type`.
pub fn list(req: &Request, catalog: &'static Catalog) -> Result<Plan, BedrockError> {
    let max = match req.query("maxResults") {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(constraint(&json!(v), "maxResults", "have value between 1 and 1000")),
        },
    };
    let offset = req.query("nextToken").map(decode_token).transpose()?.unwrap_or(0);
    let ty = req.query("type");
    if let Some(t) = ty {
        check_enum(t, "typeEquals", &["SYSTEM_DEFINED", "APPLICATION"])?;
    }
    let all: Vec<Value> = if ty == Some("APPLICATION") {
        Vec::new()
    } else {
        catalog.system_profiles(&req.region).iter().map(|p| p.summary(&req.region, &req.account)).collect()
    };
    let page: Vec<Value> = all.iter().skip(offset).take(max).cloned().collect();
    let mut body = json!({"inferenceProfileSummaries": page});
    if offset + max < all.len() {
        body["nextToken"] = json!(encode_token(offset + max));
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
