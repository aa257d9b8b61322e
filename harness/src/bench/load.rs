//! The load generator: N keep-alive HTTP/1.1 connections, one worker task each, sending
//! requests one after another on its connection with a raw hyper client (no SDK, so the
//! client's own cost stays small next to the server's).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Longest a single request (or a whole stream) may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a TCP connect + HTTP/1 handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A phase bounded by a request count still stops after this long.
pub const COUNT_PHASE_LIMIT: Duration = Duration::from_secs(300);
/// A worker gives up after this many errors in a row (the server is gone or broken).
const MAX_CONSECUTIVE_ERRORS: u32 = 50;
/// Smallest legal event-stream frame: 12-byte prelude + 4-byte message CRC.
const MIN_FRAME_LEN: usize = 16;
/// Largest frame accepted before the stream is declared garbage.
const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// The request sender used everywhere in the benchmark.
pub type Sender = SendRequest<Full<Bytes>>;

/// How a response body is consumed and what counts as an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole JSON body (Converse): drained, no events.
    Json,
    /// An AWS event stream (ConverseStream): frames are counted from their preludes.
    EventStream,
}

/// One fixed request, sent over and over.
#[derive(Clone, Debug)]
pub struct Target {
    /// Loopback address of the server.
    pub addr: SocketAddr,
    /// Request path, already percent-encoded.
    pub path: String,
    /// Request body.
    pub body: Bytes,
    /// How to read the answer.
    pub kind: Kind,
}

/// When a phase's measured part ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this much time.
    After(Duration),
    /// After this many requests in total (or [`COUNT_PHASE_LIMIT`], whichever comes first).
    Requests(u64),
}

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct PhaseSpec {
    /// Connections, one worker each.
    pub connections: usize,
    /// Unmeasured time first (connections are opened and warmed up).
    pub warmup: Duration,
    /// End of the measured part.
    pub stop: Stop,
}

/// What a phase measured.
#[derive(Debug, Default)]
pub struct PhaseResult {
    /// Successful requests in the measured part.
    pub requests: u64,
    /// Failed requests in the measured part.
    pub errors: u64,
    /// Event-stream frames received in the measured part.
    pub events: u64,
    /// From the start of the measured part until its last request finished.
    pub elapsed: Duration,
    /// Latency of each successful request, sorted.
    pub latencies: Vec<Duration>,
    /// The first error any worker saw (warm-up included).
    pub first_error: Option<String>,
    /// Server CPU time during the measured part, in nanoseconds, if it could be read.
    pub cpu_ns: Option<u64>,
}

impl PhaseResult {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    /// Successful requests per second.
    pub fn per_second(&self) -> f64 {
        if self.secs() > 0.0 {
            self.requests as f64 / self.secs()
        } else {
            0.0
        }
    }

    /// Event-stream frames per second.
    pub fn events_per_second(&self) -> f64 {
        if self.secs() > 0.0 {
            self.events as f64 / self.secs()
        } else {
            0.0
        }
    }

    /// Nearest-rank percentile (`q` in 0..=1) of the latencies, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        percentile(&self.latencies, q).map(|d| d.as_secs_f64() * 1000.0)
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(sorted.len() - 1)).copied()
}

/// Counts event-stream frames from the 4-byte big-endian total length that starts each
/// prelude, without buffering: the rest of each frame is skipped as it arrives.
#[derive(Debug, Default)]
pub struct FrameCounter {
    len_bytes: [u8; 4],
    have: usize,
    remaining: usize,
    /// Frames whose prelude has been seen.
    pub frames: u64,
}

impl FrameCounter {
    /// Feeds the next chunk of the body.
    pub fn feed(&mut self, mut data: &[u8]) -> anyhow::Result<()> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
                continue;
            }
            let n = (4 - self.have).min(data.len());
            self.len_bytes[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == 4 {
                let total = u32::from_be_bytes(self.len_bytes) as usize;
                if !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&total) {
                    bail!("event-stream frame {} has an impossible total length {total}", self.frames + 1);
                }
                self.frames += 1;
                self.remaining = total - 4;
                self.have = 0;
            }
        }
        Ok(())
    }

    /// Checks that the body ended on a frame boundary.
    pub fn finish(&self) -> anyhow::Result<()> {
        if self.have != 0 || self.remaining != 0 {
            bail!("event stream ended in the middle of frame {}", self.frames.max(1));
        }
        Ok(())
    }
}

/// Opens one keep-alive HTTP/1.1 connection; its driver runs as a spawned task that ends
/// when the sender is dropped.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let open = async {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true).context("cannot set TCP_NODELAY")?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.context("HTTP/1 handshake failed")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        anyhow::Ok(sender)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, open).await.with_context(|| format!("connecting to {addr} timed out"))?
}

/// Sends one request and returns the status and the whole body (for set-up requests, not load).
pub async fn fetch(
    sender: &mut Sender,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let exchange = async {
        sender.ready().await.context("connection closed")?;
        let request = build_request(addr, method, path, body, "application/json")?;
        let response = sender.send_request(request).await.context("request failed")?;
        let status = response.status();
        let bytes = response.into_body().collect().await.context("reading the response body failed")?.to_bytes();
        anyhow::Ok((status, bytes))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.with_context(|| format!("{path} timed out"))?
}

/// A request as the benchmark sends it (host, content type, accept).
pub fn build_request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
    accept: &str,
) -> anyhow::Result<Request<Full<Bytes>>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, accept)
        .body(Full::new(body))
        .context("cannot build request")
}

/// One load request: returns the number of event-stream frames (0 for JSON).
async fn exchange(sender: &mut Sender, target: &Target) -> anyhow::Result<u64> {
    sender.ready().await.context("connection closed")?;
    let accept = match target.kind {
        Kind::Json => "application/json",
        Kind::EventStream => "application/vnd.amazon.eventstream",
    };
    let request = build_request(target.addr, Method::POST, &target.path, target.body.clone(), accept)?;
    let response = sender.send_request(request).await.context("request failed")?;
    let status = response.status();
    let mut body = response.into_body();
    if status != StatusCode::OK {
        let text = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        bail!("HTTP {status}: {}", text.chars().take(300).collect::<String>());
    }
    let mut counter = FrameCounter::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the response body failed")?;
        if target.kind == Kind::EventStream {
            if let Ok(data) = frame.into_data() {
                counter.feed(&data)?;
            }
        }
    }
    if target.kind == Kind::EventStream {
        counter.finish()?;
        if counter.frames == 0 {
            bail!("event stream had no frames");
        }
    }
    Ok(counter.frames)
}

struct Shared {
    measure_start: Instant,
    stop: Stop,
    hard_deadline: Instant,
    issued: AtomicU64,
}

impl Shared {
    /// Whether a request starting `now` should be sent, and whether it is measured.
    fn admit(&self, now: Instant) -> Option<bool> {
        if now < self.measure_start {
            return Some(false);
        }
        if now >= self.hard_deadline {
            return None;
        }
        match self.stop {
            Stop::After(_) => Some(true),
            Stop::Requests(n) => (self.issued.fetch_add(1, Ordering::Relaxed) < n).then_some(true),
        }
    }
}

#[derive(Default)]
struct WorkerStats {
    requests: u64,
    errors: u64,
    events: u64,
    latencies: Vec<Duration>,
    last_done: Option<Instant>,
    first_error: Option<String>,
}

async fn worker(target: Arc<Target>, shared: Arc<Shared>) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut sender: Option<Sender> = None;
    let mut consecutive_errors = 0u32;
    while let Some(measured) = shared.admit(Instant::now()) {
        let result = match sender.as_mut() {
            Some(s) => {
                let t0 = Instant::now();
                match tokio::time::timeout(REQUEST_TIMEOUT, exchange(s, &target)).await {
                    Ok(Ok(events)) => Ok((t0.elapsed(), events)),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(anyhow::anyhow!("no complete answer within {REQUEST_TIMEOUT:?}")),
                }
            }
            None => match connect(target.addr).await {
                Ok(s) => {
                    sender = Some(s);
                    // Connecting is not a request: don't count it, try again.
                    if measured {
                        if let Stop::Requests(_) = shared.stop {
                            shared.issued.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    continue;
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok((latency, events)) => {
                consecutive_errors = 0;
                if measured {
                    stats.requests += 1;
                    stats.events += events;
                    stats.latencies.push(latency);
                    stats.last_done = Some(Instant::now());
                }
            }
            Err(e) => {
                consecutive_errors += 1;
                if measured {
                    stats.errors += 1;
                    stats.last_done = Some(Instant::now());
                }
                stats.first_error.get_or_insert_with(|| format!("{e:#}"));
                // Start over on a fresh connection: the old one may be half-way through a body.
                sender = None;
                if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    stats
}

/// Runs one phase against `target`. `cpu_ns` reads the server's CPU time; it is sampled
/// when the measured part starts and after the last worker has finished.
pub async fn run_phase(
    target: Target,
    spec: PhaseSpec,
    cpu_ns: &(dyn Fn() -> Option<u64> + Sync),
) -> anyhow::Result<PhaseResult> {
    let start = Instant::now();
    let measure_start = start + spec.warmup;
    let hard_deadline = measure_start
        + match spec.stop {
            Stop::After(d) => d,
            Stop::Requests(_) => COUNT_PHASE_LIMIT,
        };
    let shared = Arc::new(Shared { measure_start, stop: spec.stop, hard_deadline, issued: AtomicU64::new(0) });
    let target = Arc::new(target);
    let mut set = JoinSet::new();
    for _ in 0..spec.connections.max(1) {
        set.spawn(worker(target.clone(), shared.clone()));
    }
    tokio::time::sleep_until(measure_start.into()).await;
    let cpu_before = cpu_ns();
    let mut result = PhaseResult::default();
    let mut last_done: Option<Instant> = None;
    while let Some(joined) = set.join_next().await {
        let stats = joined.context("a load worker panicked")?;
        result.requests += stats.requests;
        result.errors += stats.errors;
        result.events += stats.events;
        result.latencies.extend(stats.latencies);
        if result.first_error.is_none() {
            result.first_error = stats.first_error;
        }
        last_done = last_done.max(stats.last_done);
    }
    let cpu_after = cpu_ns();
    result.cpu_ns = cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a));
    result.elapsed = last_done.map(|t| t.saturating_duration_since(measure_start)).unwrap_or_default();
    result.latencies.sort_unstable();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(total: u32) -> Vec<u8> {
        let mut f = total.to_be_bytes().to_vec();
        f.resize(total as usize, 0xAB);
        f
    }

    #[test]
    fn frames_are_counted_across_arbitrary_chunk_boundaries() {
        let mut wire = frame(16);
        wire.extend(frame(100));
        wire.extend(frame(37));
        for chunk in [1, 2, 3, 5, 7, 16, 200] {
            let mut counter = FrameCounter::default();
            for piece in wire.chunks(chunk) {
                assert!(counter.feed(piece).is_ok());
            }
            assert!(counter.finish().is_ok());
            assert_eq!(counter.frames, 3, "chunk size {chunk}");
        }
    }

    #[test]
    fn truncated_and_impossible_frames_are_errors() {
        let mut counter = FrameCounter::default();
        assert!(counter.feed(&frame(40)[..30]).is_ok());
        assert!(counter.finish().is_err());
        assert!(FrameCounter::default().feed(&[0, 0, 0, 3]).is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&v[..1], 0.99), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
