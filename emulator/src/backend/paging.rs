//! The one paginator of every `List*` operation (`maxResults` / `nextToken`, as
//! `bedrock.paginators-1.json` names them).
//!
//! Items are listed in a stable order (each listing's sort key); a page's `nextToken` is
//! opaque — base64url of the listing's name and the last key it returned — and the next page
//! starts after that key, so resources created or deleted between pages neither repeat nor
//! shift the ones not yet listed. A token from another listing, or not one at all, is refused
//! with `ValidationException`.

use base64::Engine as _;

use crate::wire::error::BedrockError;

/// What a `List*` request asked for.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// `maxResults` (validated by the caller against the operation's model range).
    pub max_results: Option<usize>,
    /// `nextToken`.
    pub next_token: Option<String>,
}

/// One page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Where the next page starts, when items remain.
    pub next_token: Option<String>,
}

/// The message of a token this listing did not issue.
pub fn invalid_token() -> BedrockError {
    BedrockError::validation("The pagination token is invalid.")
}

fn encode(listing: &str, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{listing}\n{key}"))
}

fn decode(listing: &str, token: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, key) = text.split_once('\n')?;
    (name == listing).then(|| key.to_string())
}

/// The page of `items` (already in `key` order) that `request` asks for, at most
/// `default_max` items when it names no `maxResults`.
pub fn page<T>(
    listing: &str,
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    request: &PageRequest,
    default_max: usize,
) -> Result<Page<T>, BedrockError> {
    let after = match &request.next_token {
        None => None,
        Some(token) => Some(decode(listing, token).ok_or_else(invalid_token)?),
    };
    let max = request.max_results.unwrap_or(default_max).max(1);
    let mut rest = items.into_iter().filter(|item| after.as_ref().is_none_or(|a| key(item) > *a)).peekable();
    let mut page = Vec::new();
    while page.len() < max {
        match rest.next() {
            Some(item) => page.push(item),
            None => break,
        }
    }
    let next_token = match (rest.peek(), page.last()) {
        (Some(_), Some(last)) => Some(encode(listing, &key(last))),
        _ => None,
    };
    Ok(Page { items: page, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_pages(items: &[String], max: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut request = PageRequest { max_results: Some(max), next_token: None };
        loop {
            let p = page("things", items.to_vec(), Clone::clone, &request, 100).expect("page");
            assert!(p.items.len() <= max);
            out.extend(p.items);
            match p.next_token {
                Some(t) => request.next_token = Some(t),
                None => return out,
            }
        }
    }

    proptest! {
        #[test]
        fn pages_list_every_item_once(mut items in prop::collection::btree_set("[a-z0-9]{1,6}", 0..40), max in 1usize..8) {
            let items: Vec<String> = std::mem::take(&mut items).into_iter().collect();
            prop_assert_eq!(all_pages(&items, max), items);
        }
    }

    #[test]
    fn foreign_and_garbled_tokens_are_refused() {
        let items = vec!["a".to_string(), "b".to_string()];
        let first =
            page("things", items.clone(), Clone::clone, &PageRequest { max_results: Some(1), next_token: None }, 10)
                .expect("page");
        let token = first.next_token.expect("more");
        let other = page(
            "others",
            items.clone(),
            Clone::clone,
            &PageRequest { max_results: None, next_token: Some(token) },
            10,
        );
        assert!(other.is_err());
        let garbled =
            page("things", items, Clone::clone, &PageRequest { max_results: None, next_token: Some("%%%".into()) }, 10);
        assert_eq!(garbled.expect_err("refused").message, invalid_token().message);
    }

    #[test]
    fn an_item_deleted_between_pages_does_not_shift_the_rest() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let p1 = page("t", items.clone(), Clone::clone, &PageRequest { max_results: Some(2), next_token: None }, 10)
            .expect("page");
        let remaining: Vec<String> = items.into_iter().filter(|i| i != "a").collect();
        let p2 =
            page("t", remaining, Clone::clone, &PageRequest { max_results: Some(2), next_token: p1.next_token }, 10)
                .expect("page");
        assert_eq!(p2.items, vec!["c".to_string(), "d".to_string()]);
    }
}
