//! The library entry point: `Emulator::builder()…start().await` → a running server handle,
//! the way Rust users embed a test double (cf. `wiremock::MockServer`).

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Services;
use crate::backend::catalog::Catalog;
use crate::server::{serve, ServerState};
use crate::synthetic::SyntheticModel;

/// Default account id in ARNs (the documentation example account).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// Namespace for [`Emulator::builder`].
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the built-in defaults: loopback, a free port, seed 0.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder { host: "127.0.0.1".into(), port: 0, seed: 0, account_id: DEFAULT_ACCOUNT_ID.into() }
    }
}

/// Configures an emulator before it starts.
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    host: String,
    port: u16,
    seed: u64,
    account_id: String,
}

impl EmulatorBuilder {
    /// Interface to bind (default `127.0.0.1`; anything else exposes the emulator).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
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

    /// Account id used in ARNs.
    pub fn account_id(mut self, account: impl Into<String>) -> Self {
        self.account_id = account.into();
        self
    }

    /// Binds and starts serving in the current Tokio runtime.
    pub async fn start(self) -> std::io::Result<EmulatorHandle> {
        let listener = TcpListener::bind((self.host.as_str(), self.port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ServerState {
            services: Services {
                catalog: Catalog::builtin(),
                synthetic: SyntheticModel::new(self.seed),
                seed: self.seed,
            },
            account: self.account_id,
            started: Instant::now(),
            requests: AtomicU64::new(0),
        });
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, state, rx));
        Ok(EmulatorHandle { addr, shutdown: tx, task: Some(task) })
    }
}

/// A running emulator. Dropping it stops the server abruptly; `shutdown` stops it gracefully.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
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

    /// Stops accepting, waits for open connections to finish, and returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
