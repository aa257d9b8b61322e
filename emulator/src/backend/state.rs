//! Resources created through the API — guardrails today; async invocations, custom models and
//! jobs as they land — held per (account, region) the way AWS partitions them.
//!
//! One lock guards every space, and a caller changes a space inside one closure
//! ([`State::update`]), so a read-modify-write is atomic: concurrent requests never lose an
//! update. Resources are JSON documents (the shape each operation's `Get` answers with, plus
//! whatever private members the owning module keeps), kept in id order, so listings are stable
//! and the whole state serialises as it is (`POST /_emulator/reset` clears it).
//!
//! Idempotency follows the SDKs' `clientRequestToken`: an operation called again with a token
//! it has seen answers what it answered the first time; with the same token but a different
//! input it answers `ConflictException`, since the token names one request.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rng::stable_hash;
use crate::wire::error::{BedrockError, ErrorCode};

/// Where a resource lives: an account and a region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    /// The 12-digit account id.
    pub account: String,
    /// The region of the request's credential scope.
    pub region: String,
}

impl Scope {
    /// The scope of `account` in `region`.
    pub fn new(account: &str, region: &str) -> Self {
        Scope { account: account.to_string(), region: region.to_string() }
    }

    /// An ARN of this scope: `arn:aws:bedrock:{region}:{account}:{resource}`.
    pub fn arn(&self, resource: &str) -> String {
        format!("arn:aws:bedrock:{}:{}:{resource}", self.region, self.account)
    }
}

/// What was answered for one idempotency token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    /// A hash of the input it came with (without the token).
    input: u64,
    /// The answer.
    output: Value,
}

/// The resources of one scope.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Space {
    /// Documents by kind (`guardrail`, …), then id.
    resources: BTreeMap<String, BTreeMap<String, Value>>,
    /// Answers by `operation/token`.
    tokens: BTreeMap<String, Remembered>,
    /// Ids made so far, which seeds the next one.
    minted: u64,
}

impl Space {
    /// The document of `kind` with `id`.
    pub fn get(&self, kind: &str, id: &str) -> Option<&Value> {
        self.resources.get(kind)?.get(id)
    }

    /// The document of `kind` with `id`, to change in place.
    pub fn get_mut(&mut self, kind: &str, id: &str) -> Option<&mut Value> {
        self.resources.get_mut(kind)?.get_mut(id)
    }

    /// Stores (or replaces) a document.
    pub fn put(&mut self, kind: &str, id: &str, doc: Value) {
        self.resources.entry(kind.to_string()).or_default().insert(id.to_string(), doc);
    }

    /// Removes a document, giving it back.
    pub fn remove(&mut self, kind: &str, id: &str) -> Option<Value> {
        self.resources.get_mut(kind)?.remove(id)
    }

    /// Every document of `kind`, in id order.
    pub fn all(&self, kind: &str) -> impl Iterator<Item = (&String, &Value)> {
        self.resources.get(kind).into_iter().flatten()
    }

    /// How many documents of `kind` there are.
    pub fn count(&self, kind: &str) -> usize {
        self.resources.get(kind).map_or(0, BTreeMap::len)
    }

    /// A new id of `len` lowercase letters and digits, not used by any `kind` document yet.
    /// Ids follow from the scope's history alone, so a test that creates the same resources
    /// in the same order sees the same ids on every run.
    pub fn mint_id(&mut self, kind: &str, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            self.minted += 1;
            let mut h = stable_hash(stable_hash(0x5eed, kind.as_bytes()), &self.minted.to_le_bytes());
            let mut id = String::with_capacity(len);
            for _ in 0..len {
                if h < 36 {
                    h = stable_hash(h, b"more");
                }
                id.push(char::from(ALPHABET[(h % 36) as usize]));
                h /= 36;
            }
            if self.get(kind, &id).is_none() {
                return id;
            }
        }
    }

    /// Runs `create` once per `operation` and idempotency `token`: called again with the same
    /// token and input, it answers the first answer again without running; with the same
    /// token and another input, `ConflictException`. Without a token it always runs. Only
    /// successful answers are remembered (a refused request may be retried with its token).
    pub fn idempotent(
        &mut self,
        operation: &str,
        token: Option<&str>,
        input: &Value,
        create: impl FnOnce(&mut Space) -> Result<Value, BedrockError>,
    ) -> Result<Value, BedrockError> {
        let Some(token) = token else { return create(self) };
        let key = format!("{operation}/{token}");
        let fingerprint = input_fingerprint(input);
        if let Some(seen) = self.tokens.get(&key) {
            if seen.input == fingerprint {
                return Ok(seen.output.clone());
            }
            return Err(BedrockError::new(
                ErrorCode::ConflictException,
                format!(
                    "The clientRequestToken {token} was already used for a {operation} request with different parameters."
                ),
            ));
        }
        let output = create(self)?;
        self.tokens.insert(key, Remembered { input: fingerprint, output: output.clone() });
        Ok(output)
    }
}

/// A hash of an input without its `clientRequestToken` (serde_json keeps member order, so
/// the same members sent in another order count as another input; the SDKs always serialise
/// in model order).
fn input_fingerprint(input: &Value) -> u64 {
    let mut input = input.clone();
    if let Some(o) = input.as_object_mut() {
        o.remove("clientRequestToken");
    }
    stable_hash(0, input.to_string().as_bytes())
}

/// Every scope's resources.
#[derive(Debug, Default)]
pub struct State {
    spaces: Mutex<BTreeMap<Scope, Space>>,
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        State::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Scope, Space>> {
        // A panic while holding the lock leaves the map consistent (every change is one
        // insertion or removal), so a poisoned lock is still usable.
        self.spaces.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads `scope`'s space (an empty one if nothing was created there).
    pub fn read<R>(&self, scope: &Scope, f: impl FnOnce(&Space) -> R) -> R {
        let spaces = self.lock();
        match spaces.get(scope) {
            Some(space) => f(space),
            None => f(&Space::default()),
        }
    }

    /// Changes `scope`'s space atomically.
    pub fn update<R>(&self, scope: &Scope, f: impl FnOnce(&mut Space) -> R) -> R {
        let mut spaces = self.lock();
        f(spaces.entry(scope.clone()).or_default())
    }

    /// Forgets everything.
    pub fn reset(&self) {
        self.lock().clear();
    }

    /// How many resources of each kind are held, over all scopes (for health and tests).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for space in self.lock().values() {
            for (kind, docs) in &space.resources {
                *out.entry(kind.clone()).or_default() += docs.len();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn scope() -> Scope {
        Scope::new("123456789012", "us-east-1")
    }

    #[test]
    fn ids_are_deterministic_and_unique() {
        let (mut a, mut b) = (Space::default(), Space::default());
        let ids: Vec<String> = (0..50)
            .map(|_| {
                let id = a.mint_id("guardrail", 12);
                a.put("guardrail", &id, json!({}));
                id
            })
            .collect();
        let again: Vec<String> = (0..50)
            .map(|_| {
                let id = b.mint_id("guardrail", 12);
                b.put("guardrail", &id, json!({}));
                id
            })
            .collect();
        assert_eq!(ids, again);
        assert_eq!(a.count("guardrail"), 50);
        assert!(ids.iter().all(|i| i.len() == 12 && i.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())));
    }

    #[test]
    fn a_token_answers_its_first_answer_and_refuses_other_input() {
        let mut space = Space::default();
        let mut runs = 0;
        let mut create = |input: Value| {
            space.idempotent("CreateThing", Some("tok-1"), &input, |s| {
                runs += 1;
                let id = s.mint_id("thing", 8);
                Ok(json!({"id": id}))
            })
        };
        let first = create(json!({"name": "a", "clientRequestToken": "tok-1"})).expect("created");
        let again = create(json!({"name": "a", "clientRequestToken": "tok-1"})).expect("same answer");
        assert_eq!(first, again);
        let conflict = create(json!({"name": "b", "clientRequestToken": "tok-1"})).expect_err("conflict");
        assert_eq!(conflict.code, ErrorCode::ConflictException);
        assert_eq!(runs, 1);
    }

    #[test]
    fn scopes_are_apart_and_reset_clears_them() {
        let state = State::new();
        state.update(&scope(), |s| s.put("guardrail", "a", json!(1)));
        assert_eq!(state.read(&Scope::new("123456789012", "us-west-2"), |s| s.count("guardrail")), 0);
        assert_eq!(state.read(&scope(), |s| s.count("guardrail")), 1);
        state.reset();
        assert_eq!(state.read(&scope(), |s| s.count("guardrail")), 0);
    }

    #[test]
    fn concurrent_updates_are_never_lost() {
        let state = Arc::new(State::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let state = state.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        state.update(&scope(), |s| {
                            let n = s.get("counter", "n").and_then(Value::as_u64).unwrap_or(0);
                            s.put("counter", "n", json!(n + 1));
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(state.read(&scope(), |s| s.get("counter", "n").cloned()), Some(json!(4000)));
    }
}
