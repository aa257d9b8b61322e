//! The library entry point: `Emulator::builder()…start().await` → a running server handle,
//! the way Rust users embed a test double (cf. `wiremock::MockServer`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Services;
use crate::auth::AuthMode;
use crate::backend::async_invoke::AsyncSettings;
use crate::backend::catalog::Catalog;
use crate::backend::object_store::{ObjectStore, RemoteS3};
use crate::backend::state::State;
use crate::clock::Clock;
use crate::fault::{FaultSet, Origin};
use crate::record::proxy::{RecordMode, RecordOptions, Recorder};
use crate::record::replay::{MatchOptions, ReplayTiming, Replayer};
use crate::scenario::fault_format::{FaultSpec, QuotaSpec};
use crate::scenario::format::{LoadError, ScenarioFile};
use crate::scenario::loader::ReloadSink;
use crate::scenario::{loader, Engine, Match, Rule, Times};
use crate::server::journal::{Journal, JournalEntry, Verification, DEFAULT_CAPACITY};
use crate::server::limits::Limits;
use crate::server::{serve, Accounts, ServerState};
use crate::synthetic::SyntheticModel;
use crate::wire::error::BedrockError;

/// Default account id in ARNs (the documentation example account).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// Namespace for [`Emulator::builder`].
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the built-in defaults: loopback, a free port, seed 0, no scenarios.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            host: "127.0.0.1".into(),
            port: 0,
            seed: 0,
            account_id: DEFAULT_ACCOUNT_ID.into(),
            accounts_by_key: Vec::new(),
            scenarios: Vec::new(),
            watch: false,
            strict: false,
            journal_capacity: DEFAULT_CAPACITY,
            faults: Vec::new(),
            quotas: Vec::new(),
            clock: Clock::system(),
            auth: AuthMode::Permissive,
            replay: None,
            replay_match: MatchOptions::default(),
            replay_timing: ReplayTiming::None,
            record: None,
            limits: Limits::default(),
            state_dir: None,
            async_invoke: AsyncSettings::default(),
            s3_endpoint: None,
        }
    }
}

/// Configures an emulator before it starts.
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    host: String,
    port: u16,
    seed: u64,
    account_id: String,
    accounts_by_key: Vec<(String, String)>,
    scenarios: Vec<PathBuf>,
    watch: bool,
    strict: bool,
    journal_capacity: usize,
    faults: Vec<FaultSpec>,
    quotas: Vec<QuotaSpec>,
    clock: Clock,
    auth: AuthMode,
    replay: Option<PathBuf>,
    replay_match: MatchOptions,
    replay_timing: ReplayTiming,
    record: Option<RecordOptions>,
    limits: Limits,
    state_dir: Option<PathBuf>,
    async_invoke: AsyncSettings,
    s3_endpoint: Option<String>,
}

/// Why an emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listener failed.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// A scenario file is invalid (every error is listed).
    #[error("invalid scenarios:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Scenarios(Vec<LoadError>),
    /// A cassette is invalid (every error is listed).
    #[error("invalid cassettes:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Cassettes(Vec<LoadError>),
    /// The state directory cannot be opened or read.
    #[error("--state-dir: {0}")]
    State(String),
    /// `--record` and `--replay` were both given.
    #[error("--record DIR already replays DIR (by its record mode); drop --replay")]
    RecordAndReplay,
}

impl EmulatorBuilder {
    /// Interface to bind (default `127.0.0.1`; anything else exposes the emulator).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Keeps created resources (guardrails, …) in `dir`, so a restarted emulator still has
    /// them (default: in memory only).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The folder that stands in for S3: asynchronous invocations write their output under
    /// `dir/<bucket>/<prefix>/<invocation id>/` (default: `bedrock-emulator-s3` in the
    /// system's temporary folder).
    pub fn s3_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.async_invoke.store = ObjectStore::Folder(dir.into());
        self.s3_endpoint = None;
        self
    }

    /// A real S3-compatible server (LocalStack, MinIO, moto, …) that asynchronous-invocation
    /// output and invocation-log records are written to instead of the folder, path-style,
    /// with credentials from the standard AWS chain (`test`/`test` when it has none).
    pub fn s3_endpoint(mut self, url: impl Into<String>) -> Self {
        self.s3_endpoint = Some(url.into());
        self
    }

    /// How long an asynchronous invocation stays `InProgress` on the injected clock (1 s).
    pub fn async_duration(mut self, duration: std::time::Duration) -> Self {
        self.async_invoke.duration = duration;
        self
    }

    /// Port to bind; 0 picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Seed of the synthetic model, ids and padding.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Account id used in ARNs (the default account: see [`EmulatorBuilder::account_for`]).
    pub fn account_id(mut self, account: impl Into<String>) -> Self {
        self.account_id = account.into();
        self
    }

    /// Requests signed with `access_key_id` belong to `account` (ARNs, and the state their
    /// resources live in) instead of the default account. Repeatable.
    pub fn account_for(mut self, access_key_id: impl Into<String>, account: impl Into<String>) -> Self {
        self.accounts_by_key.push((access_key_id.into(), account.into()));
        self
    }

    /// Loads scenario files from a file or directory (repeatable).
    pub fn scenarios(mut self, path: impl Into<PathBuf>) -> Self {
        self.scenarios.push(path.into());
        self
    }

    /// Reloads scenario files when they change (keeping the previous rules if a reload fails).
    pub fn watch_scenarios(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// Refuse inference requests no scenario rule matches instead of answering synthetically.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Connection limits and timeouts (defaults: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many requests the journal keeps (oldest dropped first).
    pub fn journal_capacity(mut self, capacity: usize) -> Self {
        self.journal_capacity = capacity;
        self
    }

    /// Adds a fault rule (like `--fault`; repeatable).
    pub fn fault(mut self, spec: FaultSpec) -> Self {
        self.faults.push(spec);
        self
    }

    /// Adds quotas (like `--quotas FILE`).
    pub fn quotas(mut self, quotas: impl IntoIterator<Item = QuotaSpec>) -> Self {
        self.quotas.extend(quotas);
        self
    }

    /// The clock fault windows and quota buckets read (default: the system clock; tests can
    /// pass [`Clock::manual`] and move it by hand).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How requests are authenticated (default: permissive, any signature accepted).
    pub fn auth(mut self, auth: AuthMode) -> Self {
        self.auth = auth;
        self
    }

    /// Answers from the cassettes under `dir` after scenario rules and before the synthetic
    /// model (`--replay DIR`).
    pub fn replay(mut self, dir: impl Into<PathBuf>) -> Self {
        self.replay = Some(dir.into());
        self
    }

    /// How replayed requests are matched (JSON pointers ignored, or only some compared).
    pub fn replay_match(mut self, options: MatchOptions) -> Self {
        self.replay_match = options;
        self
    }

    /// How replayed streams are paced (default: as fast as the client reads).
    pub fn replay_timing(mut self, timing: ReplayTiming) -> Self {
        self.replay_timing = timing;
        self
    }

    /// Turns the emulator into a recording proxy to live Bedrock (`--record DIR`).
    pub fn record(mut self, options: RecordOptions) -> Self {
        self.record = Some(options);
        self
    }

    /// Loads scenarios, binds and starts serving in the current Tokio runtime.
    pub async fn start(self) -> Result<EmulatorHandle, StartError> {
        let engine = Arc::new(Engine::default());
        let files = if self.scenarios.is_empty() {
            Vec::new()
        } else {
            loader::load(&self.scenarios).map_err(StartError::Scenarios)?
        };
        let replay_dir = match (&self.replay, &self.record) {
            (Some(_), Some(_)) => return Err(StartError::RecordAndReplay),
            (Some(dir), None) => Some(dir.clone()),
            // Recording replays its own folder, except in `all` mode, which records everything.
            (None, Some(r)) if r.mode != RecordMode::All => Some(r.dir.clone()),
            _ => None,
        };
        let replay = match &replay_dir {
            Some(dir) => Some(Arc::new(
                Replayer::load(dir, self.replay_match.clone(), self.replay_timing).map_err(StartError::Cassettes)?,
            )),
            None => None,
        };
        let recorder = match self.record.clone() {
            Some(options) => {
                let had = replay.as_ref().is_some_and(|r| !r.is_empty());
                Some(Recorder::new(options, had).await?)
            }
            None => None,
        };
        let mut async_invoke = self.async_invoke.clone();
        if let Some(url) = &self.s3_endpoint {
            async_invoke.store = ObjectStore::Remote(Arc::new(RemoteS3::connect(url).await));
        }
        let resources = match &self.state_dir {
            Some(dir) => State::open(dir).map_err(StartError::State)?,
            None => State::new(),
        };
        let listener = TcpListener::bind((self.host.as_str(), self.port)).await?;
        let addr = listener.local_addr()?;
        let faults = FaultSet::new(self.seed, self.clock.clone());
        for spec in self.faults {
            faults.add(Origin::Flag, spec);
        }
        faults.quotas.set("flag", self.quotas);
        let mut accounts = Accounts { default: self.account_id, by_key: Default::default() };
        if let AuthMode::Verify(store) = &self.auth {
            for identity in &store.identities {
                if let Some(account) = &identity.account_id {
                    accounts.by_key.insert(identity.access_key_id.clone(), account.clone());
                }
            }
        }
        // The builder's own mappings win over the credentials file's.
        accounts.by_key.extend(self.accounts_by_key);
        let faults = Arc::new(faults);
        let state = Arc::new(ServerState {
            services: Services {
                catalog: Catalog::builtin(),
                synthetic: SyntheticModel::new(self.seed),
                seed: self.seed,
                scenarios: engine.clone(),
                strict: self.strict,
                state: Arc::new(resources),
                clock: self.clock.clone(),
                async_invoke,
                inner_faults: Some(inner_faults(&faults)),
                inner_replay: replay.clone().map(inner_replay),
            },
            faults,
            auth: self.auth,
            replay,
            recorder,
            accounts,
            started: Instant::now(),
            requests: AtomicU64::new(0),
            journal: Journal::new(self.journal_capacity),
            limits: self.limits,
        });
        let sink = Arc::new(Installer(state.clone()));
        sink.loaded(files);
        let watcher = (self.watch && !self.scenarios.is_empty()).then(|| loader::watch(self.scenarios.clone(), sink));
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, state.clone(), rx));
        Ok(EmulatorHandle { addr, shutdown: tx, task: Some(task), watcher, state })
    }
}

/// Installs loaded scenario files: rules into the engine, faults and quotas into the fault set.
struct Installer(Arc<ServerState>);

impl ReloadSink for Installer {
    fn loaded(&self, files: Vec<(String, ScenarioFile)>) {
        let mut faults = Vec::new();
        let mut quotas = Vec::new();
        let files = files
            .into_iter()
            .map(|(name, mut file)| {
                faults.push((name.clone(), std::mem::take(&mut file.faults)));
                quotas.append(&mut file.quotas);
                (name, file)
            })
            .collect();
        self.0.faults.set_file_faults(faults);
        self.0.faults.quotas.set("file", quotas);
        self.0.services.scenarios.set_file_sources(files);
    }

    fn failed(&self, errors: Vec<LoadError>) {
        self.0.services.scenarios.set_errors(errors);
    }
}

/// A running emulator. Dropping it stops the server abruptly; `shutdown` stops it gracefully.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    watcher: Option<JoinHandle<()>>,
    state: Arc<ServerState>,
}

/// A verification failed: the count was off; the message lists the near misses.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct VerifyError {
    /// Human explanation with near misses.
    pub message: String,
    /// The raw result.
    pub verification: Verification,
}

impl EmulatorHandle {
    /// `http://HOST:PORT` — what to give clients as their endpoint URL.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a rule (rules mounted from code form the source `code`, in mount order).
    pub fn mount(&self, rule: Rule) {
        self.state.services.scenarios.push_rule("code", rule.0);
    }

    /// Every journalled request, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.state.journal.entries()
    }

    /// Checks how many journalled requests `m` matches; the error explains near misses.
    pub fn verify(&self, m: Match, times: Times) -> Result<(), VerifyError> {
        let v = self.state.journal.verify(&m.0, &times.0);
        if v.ok {
            return Ok(());
        }
        let mut message = format!(
            "expected {} matching request(s), found {}",
            serde_json::to_string(&times.0).unwrap_or_default(),
            v.matched
        );
        for miss in &v.near_misses {
            message.push_str(&format!(
                "\n  near miss #{} ({}): {}",
                miss.seq,
                miss.operation,
                miss.failures.join("; ")
            ));
        }
        Err(VerifyError { message, verification: v })
    }

    /// Adds a fault rule (replacing one of the same name); returns its name.
    pub fn add_fault(&self, spec: FaultSpec) -> String {
        self.state.faults.add(Origin::Api, spec)
    }

    /// Removes the fault rule `name`; false if there was none.
    pub fn remove_fault(&self, name: &str) -> bool {
        self.state.faults.remove(name)
    }

    /// Clears the journal, resets scenario counters and states, fault counters, windows,
    /// attempt counting and quota buckets, and forgets created resources (as
    /// `POST /_emulator/reset` does). Fails only when a state directory cannot be written.
    pub fn reset(&self) -> Result<(), BedrockError> {
        self.state.reset()
    }

    /// Stops accepting, waits for open connections to finish, and returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The cassettes the requests the emulator makes itself (batch records) are answered from, as
/// the pipeline's requests are (a miss falls through to the synthetic model).
fn inner_replay(replay: Arc<Replayer>) -> crate::api::InnerReplay {
    crate::api::InnerReplay(Arc::new(move |input, raw_path| match replay.answer(input, raw_path, &[]) {
        crate::record::replay::ReplayAnswer::Hit(plan) => Some(plan),
        crate::record::replay::ReplayAnswer::Miss { .. } => None,
    }))
}

/// The fault stages of the requests the emulator makes itself (batch records): the same rules
/// and quotas as the pipeline's, an injected answer (error, throttle) or a reset or stall
/// (which a record cannot wait out: it fails) instead of the responder.
fn inner_faults(faults: &Arc<crate::fault::FaultSet>) -> crate::api::InnerFaults {
    use crate::fault::{FaultRequest, Verdict};
    use crate::wire::error::{BedrockError, ErrorCode};
    let faults = faults.clone();
    crate::api::InnerFaults(Arc::new(move |input, estimate, respond| {
        let mut before = faults.before(&FaultRequest { input, attempt: 1, estimate });
        let plan = match std::mem::replace(&mut before.verdict, Verdict::Proceed) {
            Verdict::Answer(plan) => plan,
            Verdict::Proceed => respond().unwrap_or_else(crate::plan::Plan::error),
            Verdict::Reset | Verdict::Stall => crate::plan::Plan::error(BedrockError::new(
                ErrorCode::InternalServerException,
                "The record's answer was cut off by a fault rule (reset or stall).",
            )),
        };
        faults.after(plan, &mut before)
    }))
}
