//! The baseline: a bare hyper HTTP/1.1 server that answers every request with one fixed
//! Converse JSON body. It runs on its own Tokio runtime and thread so that it does not share
//! worker threads with the load generator, just as the emulator process does not.
//!
//! It does the least a real server must do — read the request body, send a response with
//! a content type — so the emulator/baseline ratio isolates the emulator's own work.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{header, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::process::task_cpu_ns;

/// A running baseline server; dropping it stops the server and joins its thread.
pub struct Baseline {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    threads: Arc<Mutex<Vec<PathBuf>>>,
}

/// Remembers the calling thread's `/proc/PID/task/TID` so its CPU time can be read later.
fn record_thread(threads: &Mutex<Vec<PathBuf>>) {
    if let (Ok(link), Ok(mut list)) = (std::fs::read_link("/proc/thread-self"), threads.lock()) {
        list.push(PathBuf::from("/proc").join(link));
    }
}

impl Baseline {
    /// Binds 127.0.0.1 on a free port and starts serving `body`.
    pub fn start(body: Bytes) -> anyhow::Result<Baseline> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot bind the baseline server")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let threads = Arc::new(Mutex::new(Vec::new()));
        let on_start = threads.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bench-baseline")
            .on_thread_start(move || record_thread(&on_start))
            .build()
            .context("cannot build the baseline runtime")?;
        let (tx, rx) = oneshot::channel();
        let main_thread = threads.clone();
        let thread = std::thread::Builder::new()
            .name("bench-baseline-accept".into())
            .spawn(move || {
                record_thread(&main_thread);
                runtime.block_on(serve(listener, body, rx));
                // Dropping the runtime here cancels the connection tasks still open.
            })
            .context("cannot start the baseline thread")?;
        Ok(Baseline { addr, shutdown: Some(tx), thread: Some(thread), threads })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// CPU time of the server's threads so far, in nanoseconds.
    pub fn cpu_ns(&self) -> Option<u64> {
        let list = self.threads.lock().ok()?;
        let ns: Vec<u64> = list.iter().filter_map(|task| task_cpu_ns(task)).collect();
        (!ns.is_empty()).then(|| ns.iter().sum())
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, body: Bytes, mut shutdown: oneshot::Receiver<()>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let body = body.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| respond(req, body.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
}

async fn respond(req: Request<Incoming>, body: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request like any real handler would before answering.
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Ok(response)
}
