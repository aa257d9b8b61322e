//! The request body as the parsers, matchers and the journal see it: its bytes, parsed as a
//! JSON tree on first use.
//!
//! Most requests never need the tree: Converse's common shape is read straight into the
//! canonical conversation, and no rule, fault or recording looks at the body unless one is
//! loaded. Building and dropping a `Value` cost a fifth of a whole Converse request, so it is
//! built only when something asks — at most once.

use std::sync::OnceLock;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

/// A request body and, once asked for, its JSON tree (`None` when the body is not JSON).
#[derive(Clone, Default)]
pub struct RequestBody {
    raw: Bytes,
    json: OnceLock<Option<Value>>,
}

impl RequestBody {
    /// The body as it arrived; parsed when first asked for.
    pub fn new(raw: Bytes) -> Self {
        RequestBody { raw, json: OnceLock::new() }
    }

    /// A body known only as its tree (tests, the Rust API, the journal's truncation marker).
    pub fn from_json(json: Option<Value>) -> Self {
        RequestBody { raw: Bytes::new(), json: OnceLock::from(json) }
    }

    /// The JSON tree, parsed now if nothing asked before.
    pub fn json(&self) -> Option<&Value> {
        self.json.get_or_init(|| serde_json::from_slice(&self.raw).ok()).as_ref()
    }

    /// Whether the tree has been built (so reading it costs nothing more).
    pub fn is_parsed(&self) -> bool {
        self.json.get().is_some()
    }

    /// Bytes held: the raw body while it is kept.
    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }

    /// Lets go of the listener's buffer before the body is kept for long (the journal): a
    /// parsed body keeps only its tree; an unparsed one keeps a copy of its own bytes, so
    /// that it does not pin the connection's whole read buffer.
    pub fn detach(&mut self) {
        self.raw = if self.is_parsed() { Bytes::new() } else { Bytes::copy_from_slice(&self.raw) };
    }
}

impl From<Option<Value>> for RequestBody {
    fn from(json: Option<Value>) -> Self {
        RequestBody::from_json(json)
    }
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.json.get() {
            Some(json) => json.fmt(f),
            None => write!(f, "RequestBody({} bytes, unparsed)", self.raw.len()),
        }
    }
}

impl PartialEq for RequestBody {
    /// Bodies are equal when their trees are (a body that is not JSON equals any other such).
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Serialize for RequestBody {
    /// The tree, or `null` (MatchInput skips a body that is not JSON).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

/// For `skip_serializing_if`: the body is not JSON.
pub fn is_not_json(body: &RequestBody) -> bool {
    body.json().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tree_is_built_on_first_use_and_kept() {
        let body = RequestBody::new(Bytes::from_static(br#"{"a":[1,2]}"#));
        assert!(!body.is_parsed());
        assert_eq!(body.json(), Some(&json!({"a": [1, 2]})));
        assert!(body.is_parsed());
        assert_eq!(format!("{body:?}"), r#"Some(Object {"a": Array [Number(1), Number(2)]})"#);
    }

    #[test]
    fn a_body_that_is_not_json_has_no_tree() {
        let body = RequestBody::new(Bytes::from_static(b"not json"));
        assert!(is_not_json(&body));
        assert_eq!(serde_json::to_value(&body).expect("serialises"), Value::Null);
        assert_eq!(body, RequestBody::from_json(None));
    }

    #[test]
    fn detaching_keeps_what_the_journal_lists() {
        let mut unparsed = RequestBody::new(Bytes::from_static(br#"{"k":"v"}"#));
        unparsed.detach();
        assert_eq!(unparsed.raw_len(), 9);
        assert_eq!(unparsed.json(), Some(&json!({"k": "v"})));

        let mut parsed = RequestBody::new(Bytes::from_static(br#"{"k":"v"}"#));
        parsed.json();
        parsed.detach();
        assert_eq!(parsed.raw_len(), 0);
        assert_eq!(parsed.json(), Some(&json!({"k": "v"})));
    }
}
