//! Pages of the admin listings (`GET /_emulator/scenarios`, `/journal`, `/faults`), so that no
//! listing builds one response the size of everything loaded or recorded.
//!
//! `?maxResults=N` (1–1000, default 1000) caps the items of a page, and a page also ends once
//! its items pass [`PAGE_BYTES`] of JSON (it always holds at least one). When more remain the
//! response carries `nextToken`; sending it back as `?nextToken=…` continues after the last
//! item. Tokens are opaque (base64url of the listing's name and a position) and only valid for
//! the listing that issued them. A listing that changes between pages (rules loaded, entries
//! recorded) is read as it is when each page is asked for.

use base64::Engine as _;

use crate::wire::error::BedrockError;

/// Items per page when `maxResults` is absent, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// About how many bytes of item JSON a page holds before it ends early.
pub const PAGE_BYTES: usize = 8 * 1024 * 1024;

/// What a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Most items.
    pub max_items: usize,
    /// Where to start: the position carried by `nextToken`, or 0.
    pub after: u64,
}

fn invalid_token() -> BedrockError {
    BedrockError::validation("The nextToken is not one this listing issued. Send the nextToken of its previous page.")
}

/// Reads `maxResults` and `nextToken` for the listing named `listing`.
pub fn request(query: &[(String, String)], listing: &str) -> Result<PageRequest, BedrockError> {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let max_items = match param("maxResults") {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=DEFAULT_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(BedrockError::validation(format!(
                    "maxResults must be a whole number from 1 to {DEFAULT_PAGE_SIZE} (got {v})."
                )))
            }
        },
    };
    let after = match param("nextToken") {
        None => 0,
        Some(token) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix(listing).and_then(|r| r.strip_prefix(':')).and_then(|n| n.parse().ok()))
            .ok_or_else(invalid_token)?,
    };
    Ok(PageRequest { max_items, after })
}

/// The `nextToken` that continues `listing` at position `after`.
pub fn token(listing: &str, after: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{listing}:{after}"))
}

/// Bytes of `value` as JSON (what a page counts against [`PAGE_BYTES`]).
pub fn json_len(value: &serde_json::Value) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn tokens_round_trip_and_only_for_their_listing() {
        let t = token("journal", 42);
        assert_eq!(request(&q(&[("nextToken", &t)]), "journal").map(|p| p.after).ok(), Some(42));
        assert!(request(&q(&[("nextToken", &t)]), "faults").is_err());
        assert!(request(&q(&[("nextToken", "garbage!")]), "journal").is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(request(&[], "x").map(|p| p.max_items).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(request(&q(&[("maxResults", "5")]), "x").map(|p| p.max_items).ok(), Some(5));
        for bad in ["0", "1001", "-1", "many"] {
            assert!(request(&q(&[("maxResults", bad)]), "x").is_err(), "{bad}");
        }
    }
}
