//! `bedrock-harness bench-soak`: a fixed request rate of mixed operations for a long time,
//! with the emulator's resident memory sampled throughout (it must stay flat), and
//! `bench-shutdown`: SIGTERM in the middle of a load, counting in-flight responses lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde_json::json;

use super::load::{self, FrameCounter};
use super::process::{EmulatorProcess, Memory};
use super::{model_path, MODEL_ID, REQUEST_BODY};

/// One request of the mix.
#[derive(Clone, Copy, Debug)]
enum Op {
    Converse,
    ConverseStream,
    InvokeModel,
    CountTokens,
    ListFoundationModels,
}

const MIX: [Op; 8] = [
    Op::Converse,
    Op::Converse,
    Op::ConverseStream,
    Op::ConverseStream,
    Op::InvokeModel,
    Op::CountTokens,
    Op::ListFoundationModels,
    Op::Converse,
];

const INVOKE_BODY: &str = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":"Hello, soak"}]}"#;

fn request_of(op: Op) -> (Method, String, Bytes, &'static str) {
    let body = Bytes::from_static(REQUEST_BODY.as_bytes());
    match op {
        Op::Converse => (Method::POST, model_path(MODEL_ID, "converse"), body, "application/json"),
        Op::ConverseStream => {
            (Method::POST, model_path(MODEL_ID, "converse-stream"), body, "application/vnd.amazon.eventstream")
        }
        Op::InvokeModel => (
            Method::POST,
            model_path(MODEL_ID, "invoke"),
            Bytes::from_static(INVOKE_BODY.as_bytes()),
            "application/json",
        ),
        Op::CountTokens => (
            Method::POST,
            model_path(MODEL_ID, "count-tokens"),
            Bytes::from(json!({"input": {"converse": serde_json::from_str::<serde_json::Value>(REQUEST_BODY).unwrap_or_default()}}).to_string()),
            "application/json",
        ),
        Op::ListFoundationModels => (Method::GET, "/foundation-models".to_string(), Bytes::new(), "application/json"),
    }
}

/// Sends one request of `op` and reads its whole answer; event streams must be whole frames.
async fn exchange(sender: &mut load::Sender, addr: std::net::SocketAddr, op: Op) -> anyhow::Result<()> {
    let (method, path, body, accept) = request_of(op);
    sender.ready().await.context("connection closed")?;
    let request = load::build_request(addr, method, &path, body, accept)?;
    let response = sender.send_request(request).await.context("request failed")?;
    let status = response.status();
    let bytes = response.into_body().collect().await.context("reading the body failed")?.to_bytes();
    if status != StatusCode::OK {
        bail!("{path} answered {status}: {}", String::from_utf8_lossy(&bytes));
    }
    if matches!(op, Op::ConverseStream) {
        let mut counter = FrameCounter::default();
        counter.feed(&bytes)?;
        counter.finish()?;
    }
    Ok(())
}

/// What a soak measured.
#[derive(Debug)]
pub struct SoakReport {
    /// Target rate.
    pub rate: u32,
    /// Measured duration.
    pub duration: Duration,
    /// Requests completed.
    pub completed: u64,
    /// Requests failed (first error kept).
    pub failed: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// (seconds since start, memory) samples.
    pub samples: Vec<(f64, Memory)>,
    /// Latency p50 / p99 in ms over all requests.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
}

/// Runs the soak: `rate` requests per second for `duration`, over `connections` connections.
pub async fn soak(
    emulator: &EmulatorProcess,
    rate: u32,
    duration: Duration,
    connections: usize,
) -> anyhow::Result<SoakReport> {
    let addr = emulator.addr();
    let completed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let (tx, rx) = async_channel(connections * 4);
    let mut workers = Vec::new();
    for _ in 0..connections {
        let rx = rx.clone();
        let (completed, failed, first_error, latencies) =
            (completed.clone(), failed.clone(), first_error.clone(), latencies.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = None;
            while let Some(op) = recv(&rx).await {
                if sender.is_none() {
                    sender = load::connect(addr).await.ok();
                }
                let Some(s) = sender.as_mut() else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let t = Instant::now();
                match exchange(s, addr, op).await {
                    Ok(()) => {
                        completed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut l) = latencies.lock() {
                            l.push(t.elapsed());
                        }
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        sender = None;
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut i = 0usize;
    let mut due = tokio::time::Instant::now();
    while started.elapsed() < duration {
        if started.elapsed() >= next_sample {
            if let Some(m) = emulator.memory() {
                samples.push((started.elapsed().as_secs_f64(), m));
            }
            next_sample += Duration::from_secs(10);
        }
        due += interval;
        tokio::time::sleep_until(due).await;
        // A full queue means the emulator is behind the rate: the request is dropped and counted.
        if tx.try_send(MIX[i % MIX.len()]).is_err() {
            failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut f) = first_error.lock() {
                f.get_or_insert_with(|| "the emulator fell behind the request rate (queue full)".to_string());
            }
        }
        i += 1;
    }
    drop(tx);
    for w in workers {
        let _ = w.await;
    }
    if let Some(m) = emulator.memory() {
        samples.push((started.elapsed().as_secs_f64(), m));
    }
    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort();
    let p = |q: f64| load::percentile(&lat, q).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(SoakReport {
        rate,
        duration: started.elapsed(),
        completed: completed.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        first_error: first_error.lock().ok().and_then(|f| f.clone()),
        samples,
        p50_ms: p(0.5),
        p99_ms: p(0.99),
    })
}

// A tiny multi-consumer queue over a mutex-guarded receiver (tokio's mpsc has one consumer).
type Queue = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Op>>>;

fn async_channel(capacity: usize) -> (tokio::sync::mpsc::Sender<Op>, Queue) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

async fn recv(rx: &Queue) -> Option<Op> {
    rx.lock().await.recv().await
}

impl SoakReport {
    /// The human-readable summary.
    pub fn table(&self) -> String {
        let kib = |m: &Memory| m.rss_kib;
        // Flatness: the first sample after a minute of warm-up (or the first) against the last.
        let warm = self.samples.iter().find(|(t, _)| *t >= 60.0).or(self.samples.first());
        let last = self.samples.last();
        let max = self.samples.iter().map(|(_, m)| kib(m)).max().unwrap_or(0);
        let mut out = format!(
            "bedrock-harness bench-soak: {} req/s of mixed operations for {:.0} s: {} completed, {} failed; latency p50 {:.3} ms, p99 {:.3} ms\n",
            self.rate,
            self.duration.as_secs_f64(),
            self.completed,
            self.failed,
            self.p50_ms,
            self.p99_ms
        );
        if let (Some((tw, w)), Some((tl, l))) = (warm, last) {
            out.push_str(&format!(
                "emulator VmRSS: {:.1} MiB at {:.0} s, {:.1} MiB at {:.0} s (change {:+.1} MiB), max {:.1} MiB over {} samples\n",
                kib(w) as f64 / 1024.0,
                tw,
                kib(l) as f64 / 1024.0,
                tl,
                (kib(l) as f64 - kib(w) as f64) / 1024.0,
                max as f64 / 1024.0,
                self.samples.len()
            ));
        }
        if let Some(e) = &self.first_error {
            out.push_str(&format!("first failure: {e}\n"));
        }
        out
    }

    /// The machine-readable summary.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "rate": self.rate,
            "seconds": self.duration.as_secs_f64(),
            "completed": self.completed,
            "failed": self.failed,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "rss_samples_kib": self.samples.iter().map(|(t, m)| json!([t, m.rss_kib])).collect::<Vec<_>>(),
        })
    }
}

/// What `bench-shutdown` measured.
#[derive(Debug)]
pub struct ShutdownReport {
    /// Requests in flight when SIGTERM was sent (sent at least 20 ms before it, not yet answered).
    pub in_flight: u64,
    /// Of those, answered completely.
    pub completed: u64,
    /// Of those, cut or failed.
    pub lost: u64,
    /// The first loss.
    pub first_loss: Option<String>,
    /// Time from SIGTERM to the process exiting.
    pub exit_after: Option<Duration>,
}

/// Runs `connections` workers of paced streams and unary calls, sends SIGTERM after
/// `after`, and checks every request in flight at that moment.
pub async fn shutdown(
    mut emulator: EmulatorProcess,
    connections: usize,
    after: Duration,
) -> anyhow::Result<ShutdownReport> {
    let addr = emulator.addr();
    // Streams of about a second each, so many are mid-body when the signal comes.
    let rule = r#"{"name": "bench-shutdown", "match": {"operation": "ConverseStream"}, "inject": {"pace": {"firstTokenMs": 100, "tokensPerSecond": 40}}}"#;
    let mut admin = load::connect(addr).await?;
    let (status, _) =
        load::fetch(&mut admin, addr, Method::POST, "/_emulator/faults", Bytes::from_static(rule.as_bytes())).await?;
    if status != StatusCode::CREATED {
        bail!("POST /_emulator/faults answered {status}");
    }
    drop(admin);
    let signal_at = Arc::new(Mutex::new(None::<Instant>));
    let results = Arc::new(Mutex::new(Vec::<(Instant, Option<Instant>, Result<(), String>)>::new()));
    let mut workers = Vec::new();
    for w in 0..connections {
        let (signal_at, results) = (signal_at.clone(), results.clone());
        workers.push(tokio::spawn(async move {
            let Ok(mut sender) = load::connect(addr).await else { return };
            let mut i = w;
            loop {
                if signal_at.lock().ok().and_then(|s| *s).is_some() {
                    return;
                }
                let op = if i % 2 == 0 { Op::ConverseStream } else { Op::Converse };
                i += 1;
                let sent = Instant::now();
                let outcome = exchange(&mut sender, addr, op).await.map_err(|e| format!("{e:#}"));
                let failed = outcome.is_err();
                if let Ok(mut r) = results.lock() {
                    r.push((sent, Some(Instant::now()), outcome));
                }
                if failed {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(after).await;
    let signalled = Instant::now();
    if let Ok(mut s) = signal_at.lock() {
        *s = Some(signalled);
    }
    emulator.terminate();
    for w in workers {
        let _ = w.await;
    }
    let exit_after = emulator.wait_exit(Duration::from_secs(30)).map(|t| t.duration_since(signalled));
    let results = results.lock().map(|r| r.clone()).unwrap_or_default();
    let margin = Duration::from_millis(20);
    let mut report = ShutdownReport { in_flight: 0, completed: 0, lost: 0, first_loss: None, exit_after };
    for (sent, done, outcome) in results {
        let in_flight = sent + margin <= signalled && done.is_none_or(|d| d > signalled);
        if !in_flight {
            continue;
        }
        report.in_flight += 1;
        match outcome {
            Ok(()) => report.completed += 1,
            Err(e) => {
                report.lost += 1;
                report.first_loss.get_or_insert(e);
            }
        }
    }
    Ok(report)
}

impl ShutdownReport {
    /// The human-readable summary.
    pub fn table(&self) -> String {
        let mut out = format!(
            "bedrock-harness bench-shutdown: SIGTERM under load: {} requests in flight, {} answered completely, {} lost; exited {} after the signal\n",
            self.in_flight,
            self.completed,
            self.lost,
            self.exit_after.map_or("?".to_string(), |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
        );
        if let Some(e) = &self.first_loss {
            out.push_str(&format!("first loss: {e}\n"));
        }
        out
    }

    /// The machine-readable summary.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "in_flight": self.in_flight,
            "completed": self.completed,
            "lost": self.lost,
            "exit_after_ms": self.exit_after.map(|d| d.as_secs_f64() * 1000.0),
        })
    }
}
