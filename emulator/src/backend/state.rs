//! Resources created through the API — guardrails today; async invocations, custom models and
//! jobs as they land — held per (account, region) the way AWS partitions them.
//!
//! One lock guards every space, and a caller changes a space inside one closure
//! ([`State::update`]), so a read-modify-write is atomic: concurrent requests never lose an
//! update. Resources are JSON documents (the shape each operation's `Get` answers with, plus
//! whatever private members the owning module keeps), kept in id order, so listings are stable
//! and the whole state serialises as it is (`POST /_emulator/reset` clears it).
//!
//! With a state directory ([`State::open`], `--state-dir`), every change is also written to an
//! embedded database (redb: pure Rust, no C toolchain to build, a few seconds of compile time
//! and no dependencies of its own, where SQLite through rusqlite compiles its C amalgamation)
//! before the request is answered: each scope is one record, rewritten whole in a durable
//! transaction while the lock is held, so the file always holds the last answered state and a
//! restarted emulator carries on where it stopped. A write that fails leaves memory as it was
//! and answers `InternalServerException`.
//!
//! Idempotency follows the SDKs' `clientRequestToken`: an operation called again with a token
//! it has seen answers what it answered the first time; with the same token but a different
//! input it answers `ConflictException`, since the token names one request.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rng::stable_hash;
use crate::wire::error::{BedrockError, ErrorCode};

/// The wall-clock time of a request as the control plane's timestamps show it (RFC 3339, UTC).
pub fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// A stored record as the API answers it: members starting with `_` are the emulator's own
/// bookkeeping (due times, tags, private copies) and are never sent.
pub fn public(doc: &Value) -> Value {
    match doc {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        other => other.clone(),
    }
}

/// The id an identifier gives for a `kind` record of `scope`: the resource id of its ARN (none
/// for an ARN of another kind, account or region), or the identifier itself.
pub fn id_in_scope<'i>(scope: &Scope, kind: &str, identifier: &'i str) -> Option<&'i str> {
    match super::catalog::parse_arn(identifier) {
        Some(arn) => (arn.resource_type == kind && arn.region == scope.region && arn.account == scope.account)
            .then_some(arn.resource_id),
        None => Some(identifier),
    }
}

/// The id of the `kind` record an identifier names in `scope`: its ARN (the id is the last
/// path part: custom models carry their base model before it), its id, or its name (the
/// record's `name_member`).
pub fn find_id(space: &Space, scope: &Scope, kind: &str, name_member: &str, identifier: &str) -> Option<String> {
    if let Some(arn) = super::catalog::parse_arn(identifier) {
        if arn.resource_type != kind || arn.region != scope.region || arn.account != scope.account {
            return None;
        }
        let id = arn.resource_id.rsplit('/').next()?.to_string();
        return space.get(kind, &id).is_some().then_some(id);
    }
    if space.get(kind, identifier).is_some() {
        return Some(identifier.to_string());
    }
    space.all(kind).find(|(_, d)| d[name_member] == identifier).map(|(id, _)| id.clone())
}

/// An account id as AWS writes them: twelve digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

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
    /// When it was answered, in the space's order of answers (the oldest go first).
    #[serde(default)]
    seq: u64,
}

/// Tokens remembered per scope. The SDKs send a fresh token with every create, so without a
/// bound a long run would keep one answer per create ever made; past this the oldest tenth
/// is forgotten (a retry comes seconds after its first attempt, not ten thousand creates).
pub const MAX_TOKENS: usize = 10_000;

/// The resources of one scope.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Space {
    /// Documents by kind (`guardrail`, …), then id.
    resources: BTreeMap<String, BTreeMap<String, Value>>,
    /// Answers by `operation/token`.
    tokens: BTreeMap<String, Remembered>,
    /// Ids made so far, which seeds the next one.
    minted: u64,
    /// Answers remembered so far (orders `tokens`).
    #[serde(default)]
    answers: u64,
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

    /// Readies what was in flight when an earlier emulator stopped (`--state-dir`): the
    /// injected clock starts again at zero, so every pending lifecycle step is due at once;
    /// work whose task died with that process (an upload, a batch or import job being
    /// answered) is taken up again; imported models are cold again. Whether anything changed.
    pub fn resume_after_restart(&mut self) -> bool {
        let mut changed = false;
        for (kind, docs) in &mut self.resources {
            for doc in docs.values_mut() {
                let Some(o) = doc.as_object_mut() else { continue };
                for key in ["_uploading", "_completing", "_warmMicros"] {
                    changed |= o.remove(key).is_some();
                }
                for key in ["_dueMicros", "_readyMicros"] {
                    if let Some(v) = o.get_mut(key).filter(|v| v.as_u64() != Some(0)) {
                        *v = Value::from(0u64);
                        changed = true;
                    }
                }
                if kind == "model-invocation-job" && o.get("status").and_then(Value::as_str) == Some("InProgress") {
                    o.insert("status".into(), Value::from("Submitted"));
                    changed = true;
                }
            }
        }
        changed
    }

    /// Whether the space never held anything (no resources, tokens or ids made).
    pub fn is_empty(&self) -> bool {
        self.minted == 0 && self.resources.values().all(BTreeMap::is_empty) && self.tokens.is_empty()
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
        self.answers += 1;
        self.tokens.insert(key, Remembered { input: fingerprint, output: output.clone(), seq: self.answers });
        if self.tokens.len() > MAX_TOKENS {
            let mut seqs: Vec<u64> = self.tokens.values().map(|r| r.seq).collect();
            seqs.sort_unstable();
            let cut = seqs[MAX_TOKENS / 10];
            self.tokens.retain(|_, r| r.seq >= cut);
        }
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
    store: Option<Store>,
    /// Whether any space may hold something. Every inference request reads the state (the
    /// logging configuration, an enforced guardrail), and most emulators never create a
    /// resource: while this is false a read answers the empty space without the lock.
    kept: std::sync::atomic::AtomicBool,
}

/// Scopes by `account\tregion`, each the JSON of its [`Space`].
const SPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("spaces");

/// The database a persistent state writes through to.
struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

fn key(scope: &Scope) -> String {
    format!("{}\t{}", scope.account, scope.region)
}

impl Store {
    fn write(&self, scope: &Scope, space: Option<&Space>) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = txn.open_table(SPACES).map_err(|e| e.to_string())?;
            match space {
                Some(space) => {
                    let bytes = serde_json::to_vec(space).map_err(|e| e.to_string())?;
                    table.insert(key(scope).as_str(), bytes.as_slice()).map_err(|e| e.to_string())?;
                }
                None => {
                    table.remove(key(scope).as_str()).map_err(|e| e.to_string())?;
                }
            }
        }
        txn.commit().map_err(|e| e.to_string())
    }

    fn clear(&self) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        txn.delete_table(SPACES).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())
    }

    fn load(&self) -> Result<BTreeMap<Scope, Space>, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let table = match txn.open_table(SPACES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(e.to_string()),
        };
        let mut spaces = BTreeMap::new();
        for entry in table.iter().map_err(|e| e.to_string())? {
            let (k, v) = entry.map_err(|e| e.to_string())?;
            let (account, region) = k.value().split_once('\t').ok_or("a record without a scope")?.to_owned();
            let space: Space =
                serde_json::from_slice(v.value()).map_err(|e| format!("record {account}/{region}: {e}"))?;
            spaces.insert(Scope::new(account, region), space);
        }
        Ok(spaces)
    }
}

fn write_failed(path: &std::path::Path, why: &str) -> BedrockError {
    BedrockError::new(
        ErrorCode::InternalServerException,
        format!("bedrock-emulator could not write its state to {}: {why}", path.display()),
    )
}

impl State {
    /// An empty state, in memory only.
    pub fn new() -> Self {
        State::default()
    }

    /// The state kept in `dir` (created if missing; `dir/state.redb` holds it): what was there
    /// is loaded, and every change is written back before it is answered.
    pub fn open(dir: &std::path::Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join("state.redb");
        let db = Database::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let store = Store { db, path };
        let mut spaces = store.load().map_err(|e| format!("cannot read {}: {e}", store.path.display()))?;
        for (scope, space) in &mut spaces {
            if space.resume_after_restart() {
                store.write(scope, Some(space)).map_err(|e| format!("cannot write {}: {e}", store.path.display()))?;
            }
        }
        let kept = std::sync::atomic::AtomicBool::new(!spaces.is_empty());
        Ok(State { spaces: Mutex::new(spaces), store: Some(store), kept })
    }

    /// The file a persistent state is kept in.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.store.as_ref().map(|s| s.path.as_path())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Scope, Space>> {
        // A panic while holding the lock leaves the map consistent (every change is one
        // insertion or removal), so a poisoned lock is still usable.
        self.spaces.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether nothing was ever kept in any space (so every read answers an empty one).
    pub fn is_pristine(&self) -> bool {
        !self.kept.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reads `scope`'s space (an empty one if nothing was created there).
    pub fn read<R>(&self, scope: &Scope, f: impl FnOnce(&Space) -> R) -> R {
        if !self.kept.load(std::sync::atomic::Ordering::Acquire) {
            return f(&Space::default());
        }
        let spaces = self.lock();
        match spaces.get(scope) {
            Some(space) => f(space),
            None => f(&Space::default()),
        }
    }

    /// Changes `scope`'s space atomically: `f`'s changes stand (and are written through) only
    /// when it succeeds; when it fails, or writing fails, the space is as it was.
    pub fn update<T>(
        &self,
        scope: &Scope,
        f: impl FnOnce(&mut Space) -> Result<T, BedrockError>,
    ) -> Result<T, BedrockError> {
        let mut spaces = self.lock();
        let space = spaces.entry(scope.clone()).or_default();
        let before = space.clone();
        let result = f(space).and_then(|out| match &self.store {
            Some(store) => store.write(scope, Some(space)).map(|()| out).map_err(|why| write_failed(&store.path, &why)),
            None => Ok(out),
        });
        if result.is_err() {
            *space = before;
        }
        // A scope nothing was created in is not kept (the region comes from the client's
        // credential scope, so any number of them can be named).
        if space.is_empty() {
            spaces.remove(scope);
        } else {
            self.kept.store(true, std::sync::atomic::Ordering::Release);
        }
        result
    }

    /// Forgets everything (in the state directory too).
    pub fn reset(&self) -> Result<(), BedrockError> {
        let mut spaces = self.lock();
        if let Some(store) = &self.store {
            store.clear().map_err(|why| write_failed(&store.path, &why))?;
        }
        spaces.clear();
        Ok(())
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

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("012345678901"));
        assert!(!is_account_id("12345") && !is_account_id("01234567890a") && !is_account_id("0123456789012"));
    }
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
    fn remembered_tokens_are_bounded_and_the_newest_kept() {
        let mut space = Space::default();
        for i in 0..MAX_TOKENS + 5 {
            let token = format!("t{i}");
            space.idempotent("Create", Some(&token), &json!({"i": i}), |_| Ok(json!(i))).expect("created");
        }
        assert!(space.tokens.len() <= MAX_TOKENS);
        let newest = format!("t{}", MAX_TOKENS + 4);
        let mut ran = false;
        let again = space.idempotent("Create", Some(&newest), &json!({"i": MAX_TOKENS + 4}), |_| {
            ran = true;
            Ok(json!(0))
        });
        assert_eq!(again.expect("remembered"), json!(MAX_TOKENS + 4));
        assert!(!ran);
    }

    #[test]
    fn scopes_are_apart_and_reset_clears_them() {
        let state = State::new();
        state
            .update(&scope(), |s| {
                s.put("guardrail", "a", json!(1));
                Ok(())
            })
            .expect("put");
        assert_eq!(state.read(&Scope::new("123456789012", "us-west-2"), |s| s.count("guardrail")), 0);
        assert_eq!(state.read(&scope(), |s| s.count("guardrail")), 1);
        state.reset().expect("reset");
        assert_eq!(state.read(&scope(), |s| s.count("guardrail")), 0);
    }

    #[test]
    fn a_failed_change_leaves_the_space_as_it_was() {
        let state = State::new();
        let refused: Result<(), BedrockError> = state.update(&scope(), |s| {
            s.put("guardrail", "half-made", json!({}));
            Err(BedrockError::validation("no"))
        });
        assert!(refused.is_err());
        assert_eq!(state.read(&scope(), |s| s.count("guardrail")), 0);
    }

    #[test]
    fn a_state_directory_keeps_what_was_created_across_a_restart() {
        let dir = std::env::temp_dir().join(format!("bedrock-emulator-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = {
            let state = State::open(&dir).expect("open");
            state
                .update(&scope(), |s| {
                    s.put("guardrail", "a", json!({"name": "kept"}));
                    Ok(())
                })
                .expect("put");
            state
                .update(&Scope::new("123456789012", "eu-west-1"), |s| {
                    let id = s.mint_id("guardrail", 12);
                    s.put("guardrail", &id, json!(2));
                    Ok(id)
                })
                .expect("minted")
        };
        let reopened = State::open(&dir).expect("reopen");
        assert_eq!(reopened.read(&scope(), |s| s.get("guardrail", "a").cloned()), Some(json!({"name": "kept"})));
        assert_eq!(reopened.counts().get("guardrail"), Some(&2));
        let next = reopened.update(&Scope::new("123456789012", "eu-west-1"), |s| Ok(s.mint_id("guardrail", 12)));
        let mut fresh = Space::default();
        assert_eq!(fresh.mint_id("guardrail", 12), first);
        assert_eq!(next.expect("minted"), fresh.mint_id("guardrail", 12), "ids carry on after a restart");
        reopened.reset().expect("reset");
        drop(reopened);
        assert_eq!(State::open(&dir).expect("after reset").counts().get("guardrail"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_updates_are_never_lost() {
        let state = Arc::new(State::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let state = state.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        state
                            .update(&scope(), |s| {
                                let n = s.get("counter", "n").and_then(Value::as_u64).unwrap_or(0);
                                s.put("counter", "n", json!(n + 1));
                                Ok(())
                            })
                            .expect("update");
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
