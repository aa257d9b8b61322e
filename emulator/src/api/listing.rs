//! What the control plane's listings share: the creation-time window of their query
//! (`…After` / `…Before`), and pages ordered by creation, newest first unless `sortOrder:
//! Ascending`, through the one paginator.

use serde_json::{json, Map, Value};

use super::Request;
use crate::backend::async_invoke::parse_time;
use crate::backend::paging::{self, PageRequest};
use crate::wire::error::BedrockError;

/// The `(after, before)` bounds a listing's query sets, in seconds since the epoch.
pub type Window = (Option<f64>, Option<f64>);

/// The window named by the query parameters `after` and `before` (ISO 8601 timestamps).
pub fn time_window(req: &Request, after: &str, before: &str) -> Result<Window, BedrockError> {
    let time = |name: &str| -> Result<Option<f64>, BedrockError> {
        match req.query(name) {
            None => Ok(None),
            Some(t) => {
                parse_time(t).map(Some).ok_or_else(|| super::validate::wrong_type(name, "a timestamp (ISO 8601)"))
            }
        }
    };
    Ok((time(after)?, time(before)?))
}

/// Whether an RFC 3339 `time` falls inside `window` (strictly after and before its bounds).
pub fn in_window(time: Option<&str>, (after, before): Window) -> bool {
    let t = time.and_then(parse_time);
    after.is_none_or(|a| t.is_some_and(|t| t > a)) && before.is_none_or(|b| t.is_some_and(|t| t < b))
}

/// Whether the listing asks for the oldest first.
pub fn ascending(input: &Map<String, Value>) -> bool {
    input.get("sortOrder").and_then(Value::as_str) == Some("Ascending")
}

/// One page of `items` — (creation time on the clock, id, summary) — in creation order
/// (`ascending`, else newest first), as `{result: […], nextToken?}`. Keys rise in listing order
/// and stay each item's own, so a page boundary survives items created or deleted between pages.
pub fn page_by_creation(
    items: Vec<(u64, String, Value)>,
    input: &Map<String, Value>,
    listing: &str,
    result: &str,
    default_page: usize,
) -> Result<Value, BedrockError> {
    let up = ascending(input);
    let mut keyed: Vec<(String, Value)> = items
        .into_iter()
        .map(|(created, id, v)| {
            let rank = if up { created } else { u64::MAX - created };
            (format!("{rank:020}/{id}"), v)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    page_of(keyed, input, &format!("{listing}/{}", if up { "asc" } else { "desc" }), result, default_page)
}

/// One page of items already keyed in listing order, as `{result: […], nextToken?}`.
pub fn page_of(
    keyed: Vec<(String, Value)>,
    input: &Map<String, Value>,
    listing: &str,
    result: &str,
    default_page: usize,
) -> Result<Value, BedrockError> {
    let request = PageRequest {
        max_results: input.get("maxResults").and_then(Value::as_u64).map(|n| n as usize),
        next_token: input.get("nextToken").and_then(Value::as_str).map(str::to_string),
    };
    let page = paging::page(listing, keyed, |(k, _)| k.clone(), &request, default_page)?;
    let mut body = json!({ result: page.items.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
    if let Some(t) = page.next_token {
        body["nextToken"] = json!(t);
    }
    Ok(body)
}
