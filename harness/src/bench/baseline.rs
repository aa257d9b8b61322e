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

/// `bedrock-harness bench-baseline`: the bare server as its own process (so `bench-pinned`
/// can pin it to a CPU like the emulator). Answers every request with `body`; with `frames`,
/// as an event stream sent one HTTP chunk per event-stream frame. Prints
/// `listening on http://127.0.0.1:PORT` and serves until killed.
pub async fn serve_process(body: Bytes, frames: bool) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.context("cannot bind the baseline server")?;
    println!("listening on http://{}", listener.local_addr()?);
    let chunks: Arc<Vec<Bytes>> = Arc::new(if frames { split_frames(&body)? } else { vec![body] });
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let chunks = chunks.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| respond_chunks(req, chunks.clone(), frames));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Splits an event-stream body at its frames' prelude lengths.
fn split_frames(body: &Bytes) -> anyhow::Result<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let len = body.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let Some(len) = len.filter(|l| *l >= 16 && at + l <= body.len()) else {
            anyhow::bail!("the stream body is not a sequence of event-stream frames (at byte {at})");
        };
        out.push(body.slice(at..at + len));
        at += len;
    }
    Ok(out)
}

type ChunkBody = http_body_util::StreamBody<
    futures_util::stream::Iter<
        std::iter::Map<std::vec::IntoIter<Bytes>, fn(Bytes) -> Result<hyper::body::Frame<Bytes>, Infallible>>,
    >,
>;

async fn respond_chunks(
    req: Request<Incoming>,
    chunks: Arc<Vec<Bytes>>,
    frames: bool,
) -> Result<Response<http_body_util::Either<Full<Bytes>, ChunkBody>>, Infallible> {
    let _ = req.into_body().collect().await;
    let body = if frames {
        let to_frame: fn(Bytes) -> Result<hyper::body::Frame<Bytes>, Infallible> = |b| Ok(hyper::body::Frame::data(b));
        http_body_util::Either::Right(http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks.as_ref().clone().into_iter().map(to_frame),
        )))
    } else {
        // Whole, with a content length, like the emulator's JSON answers.
        http_body_util::Either::Left(Full::new(chunks.first().cloned().unwrap_or_default()))
    };
    let mut response = Response::new(body);
    let content_type = if frames { "application/vnd.amazon.eventstream" } else { "application/json" };
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    Ok(response)
}
