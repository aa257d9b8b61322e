//! `bedrock-harness bench-streams`: many concurrent paced ConverseStream streams held open
//! at once, and the emulator's resident memory while they are.
//!
//! Each stream is its own HTTP/1.1 connection (as SDK clients open them). A `pace` fault
//! makes every stream last far longer than it takes to open them all; a stream counts as
//! open once its response head and first event frame have arrived. Memory is read from
//! `/proc/PID/status` when all are open, then every connection is dropped and the emulator
//! must answer health again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use tokio::sync::watch;

use super::load;
use super::process::{EmulatorProcess, Memory};
use super::{model_path, MODEL_ID, REQUEST_BODY};

/// What one run measured.
#[derive(Debug)]
pub struct Report {
    /// Streams asked for.
    pub wanted: usize,
    /// Streams that were open at the same time.
    pub opened: u64,
    /// Streams that failed to open (first error kept).
    pub failed: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Time to open them all.
    pub open_time: Duration,
    /// Emulator memory before.
    pub idle: Option<Memory>,
    /// Emulator memory with every stream open.
    pub held: Option<Memory>,
    /// Emulator memory a moment after every connection was dropped.
    pub after: Option<Memory>,
}

/// Raises this process's open-file limit to its hard limit (10,000 sockets need more than
/// the usual soft limit of 1,024).
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, maximum: limit.maximum });
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

async fn set_slow_pace(emulator: &EmulatorProcess) -> anyhow::Result<()> {
    let addr = emulator.addr();
    let mut sender = load::connect(addr).await?;
    // A synthetic reply has some 30 tokens: at 0.5 tokens/s each stream lasts about a minute.
    let rule = r#"{"name": "bench-streams", "match": {"operation": "ConverseStream"}, "inject": {"pace": {"firstTokenMs": 0, "tokensPerSecond": 0.5}}}"#;
    let (status, body) =
        load::fetch(&mut sender, addr, Method::POST, "/_emulator/faults", Bytes::from_static(rule.as_bytes())).await?;
    if status != StatusCode::CREATED {
        bail!("POST /_emulator/faults answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// Opens one stream, reports it open after its first frame, then holds it until `stop`.
async fn hold_stream(
    addr: std::net::SocketAddr,
    opened: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut sender = load::connect(addr).await?;
    sender.ready().await.context("connection closed")?;
    let request = load::build_request(
        addr,
        Method::POST,
        &model_path(MODEL_ID, "converse-stream"),
        Bytes::from_static(REQUEST_BODY.as_bytes()),
        "application/vnd.amazon.eventstream",
    )?;
    let response = sender.send_request(request).await.context("request failed")?;
    if response.status() != StatusCode::OK {
        bail!("ConverseStream answered {}", response.status());
    }
    let mut body = response.into_body();
    match body.frame().await {
        Some(Ok(_)) => {}
        Some(Err(e)) => bail!("reading the first frame failed: {e}"),
        None => bail!("the stream ended before its first frame"),
    }
    opened.fetch_add(1, Ordering::Relaxed);
    // Keep reading (slowly arriving frames) until told to stop; dropping closes the connection.
    loop {
        tokio::select! {
            frame = body.frame() => if frame.is_none() { return Ok(()) },
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Runs one measurement of `wanted` streams.
pub async fn run(emulator: &EmulatorProcess, wanted: usize, open_timeout: Duration) -> anyhow::Result<Report> {
    let idle = emulator.memory();
    set_slow_pace(emulator).await?;
    let opened = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(wanted);
    for i in 0..wanted {
        let (opened, failures, first_error, stop) =
            (opened.clone(), failures.clone(), first_error.clone(), stop_rx.clone());
        let addr = emulator.addr();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = hold_stream(addr, opened, stop).await {
                failures.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = first_error.lock() {
                    first.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }));
        // Open in bursts so the listen backlog never overflows.
        if i % 256 == 255 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let deadline = started + open_timeout;
    while opened.load(Ordering::Relaxed) + failures.load(Ordering::Relaxed) < wanted as u64 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_time = started.elapsed();
    let held = emulator.memory();
    let opened_count = opened.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = emulator.memory();
    let failed = failures.load(Ordering::Relaxed);
    let first_error = first_error.lock().ok().and_then(|f| f.clone());
    Ok(Report { wanted, opened: opened_count, failed, first_error, open_time, idle, held, after })
}

impl Report {
    /// The human-readable summary.
    pub fn table(&self) -> String {
        let mib = |m: Option<Memory>| m.map_or("?".to_string(), |m| format!("{:.1} MiB", m.rss_kib as f64 / 1024.0));
        let per_stream = match (self.idle, self.held) {
            (Some(i), Some(h)) if self.opened > 0 => {
                format!("{:.1} KiB", h.rss_kib.saturating_sub(i.rss_kib) as f64 / self.opened as f64)
            }
            _ => "?".to_string(),
        };
        let mut out = format!(
            "bedrock-harness bench-streams: {} of {} paced ConverseStream streams open at once (opened in {:.1} s, {} failed)\n",
            self.opened,
            self.wanted,
            self.open_time.as_secs_f64(),
            self.failed
        );
        out.push_str(&format!(
            "emulator VmRSS: idle {}, all open {} ({per_stream} per stream), after closing {}; peak VmHWM {}\n",
            mib(self.idle),
            mib(self.held),
            mib(self.after),
            self.held.map_or("?".to_string(), |m| format!("{:.1} MiB", m.hwm_kib as f64 / 1024.0)),
        ));
        if let Some(e) = &self.first_error {
            out.push_str(&format!("first failure: {e}\n"));
        }
        out
    }

    /// The machine-readable summary.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "streams_wanted": self.wanted,
            "streams_open": self.opened,
            "streams_failed": self.failed,
            "open_seconds": self.open_time.as_secs_f64(),
            "rss_idle_kib": self.idle.map(|m| m.rss_kib),
            "rss_open_kib": self.held.map(|m| m.rss_kib),
            "rss_after_kib": self.after.map(|m| m.rss_kib),
            "hwm_kib": self.held.map(|m| m.hwm_kib),
        })
    }
}
