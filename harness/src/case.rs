//! The `Case` type, the context cases run in, and assertion helpers.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::target::{Clients, Target};

/// What a case returns: `Err` carries a human explanation of the mismatch.
pub type CaseResult = Result<(), String>;
/// The boxed future a case function returns.
pub type CaseFuture = Pin<Box<dyn Future<Output = CaseResult> + Send>>;

/// Shared context: the target, its clients and the model ids cases use.
#[derive(Debug)]
pub struct Ctx {
    /// Where requests go.
    pub target: Target,
    /// SDK clients.
    pub clients: Clients,
    /// An on-demand text model with tools, images and system prompts (Claude 3 Haiku).
    pub text_model: String,
}

impl Ctx {
    /// A context for `target` with default model choices.
    pub async fn new(target: Target) -> Ctx {
        Self::with_capture(target, None).await
    }

    /// A context whose clients hand every response to `capture` (parity snapshots).
    pub async fn with_capture(target: Target, capture: Option<crate::parity::Capture>) -> Ctx {
        let clients = crate::target::clients_with(&target, capture).await;
        Ctx { target, clients, text_model: "anthropic.claude-3-haiku-20240307-v1:0".into() }
    }

    /// The runtime client.
    pub fn runtime(&self) -> &aws_sdk_bedrockruntime::Client {
        &self.clients.runtime
    }

    /// The control-plane client.
    pub fn control(&self) -> &aws_sdk_bedrock::Client {
        &self.clients.control
    }
}

/// One named conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Snake-case sentence naming the behaviour.
    pub name: &'static str,
    /// The operation group, for the report.
    pub group: &'static str,
    /// Runs only against the emulator (asserts emulator-defined behaviour, not AWS's).
    pub emulator_only: bool,
    /// The case body.
    pub func: fn(Arc<Ctx>) -> CaseFuture,
}

impl Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).field("group", &self.group).finish()
    }
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Behaved as asserted.
    Passed,
    /// Did not; the string explains.
    Failed(String),
    /// Not run against this target.
    Skipped(String),
}

/// A case's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Case name.
    pub name: &'static str,
    /// Group.
    pub group: &'static str,
    /// Result.
    pub status: Status,
    /// Wall time.
    pub elapsed: Duration,
}

/// A case that does not finish within this is failed (a hang is a failure, not a wait).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);

impl Case {
    /// Runs the case (or skips it) and records the outcome.
    pub async fn run(&self, ctx: Arc<Ctx>) -> Outcome {
        let start = Instant::now();
        let status = if self.emulator_only && !ctx.target.is_emulator() {
            Status::Skipped("emulator-only behaviour".into())
        } else {
            match tokio::time::timeout(CASE_TIMEOUT, (self.func)(ctx)).await {
                Ok(Ok(())) => Status::Passed,
                Ok(Err(why)) => Status::Failed(why),
                Err(_) => Status::Failed(format!("did not finish within {CASE_TIMEOUT:?}")),
            }
        };
        Outcome { name: self.name, group: self.group, status, elapsed: start.elapsed() }
    }
}

/// Fails the case with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($fmt)+));
        }
    };
}

/// Fails the case unless `left == right`, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!("{}: expected {:?}, got {:?}", $what, r, l));
        }
    }};
}

/// Turns any SDK error into a readable case failure.
pub fn sdk<T, E: Debug>(r: Result<T, E>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e:?}"))
}

/// Asserts that `r` failed with the modelled `code` (and `message`, when given, exactly).
pub fn expect_error<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, E>,
    code: &str,
    message: Option<&str>,
) -> CaseResult {
    match r {
        Ok(v) => Err(format!("expected {code}, got success: {v:?}")),
        Err(e) => {
            if e.code() != Some(code) {
                return Err(format!("expected error code {code}, got {:?} ({e:?})", e.code()));
            }
            if let Some(want) = message {
                if e.message() != Some(want) {
                    return Err(format!("expected message {want:?}, got {:?}", e.message()));
                }
            }
            Ok(())
        }
    }
}

/// Like [`expect_error`], but the message must contain `fragment`.
pub fn expect_error_containing<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, E>,
    code: &str,
    fragment: &str,
) -> CaseResult {
    match r {
        Ok(v) => Err(format!("expected {code}, got success: {v:?}")),
        Err(e) => {
            if e.code() != Some(code) {
                return Err(format!("expected error code {code}, got {:?} ({e:?})", e.code()));
            }
            let msg = e.message().unwrap_or_default();
            if !msg.contains(fragment) {
                return Err(format!("expected a message containing {fragment:?}, got {msg:?}"));
            }
            Ok(())
        }
    }
}
