//! `bedrock-harness bench`: a load benchmark of the release emulator over loopback.
//!
//! One run measures, in this order:
//! 1. process start → first 200 from `/_emulator/health`, averaged over a few fresh starts;
//! 2. Converse req/s and p50/p99 latency against the emulator (N keep-alive connections);
//! 3. the same Converse load against a bare in-process hyper server that answers with the
//!    emulator's own Converse body — the baseline; `ratio` = emulator req/s ÷ baseline req/s;
//! 4. ConverseStream streams/s and events/s (frames counted from the event-stream preludes);
//! 5. the emulator's VmRSS after each load phase and its peak VmHWM;
//! 6. pacing accuracy: the `pace` fault's configured TTFT and tokens/s against what
//!    aws-sdk-bedrockruntime measures (`pacing`).
//!
//! Everything goes to 127.0.0.1 only, every phase is bounded in time, and the spawned
//! emulators are killed on every exit path (errors and Ctrl-C included). Numbers are
//! printed, never asserted: this is a tool, not a test.

pub mod accuracy;
pub mod baseline;
pub mod load;
pub mod pacing;
pub mod pinned;
pub mod process;
pub mod soak;
pub mod streams;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use baseline::Baseline;
use load::{Kind, PhaseResult, PhaseSpec, Stop, Target};
use process::{EmulatorProcess, Memory};

/// The model every benchmark request names.
pub const MODEL_ID: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The fixed, small request body of every Converse and ConverseStream request.
pub const REQUEST_BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"Hello, benchmark"}]}]}"#;

/// What `bench` runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The emulator binary; `None` means `bedrock-emulator` next to the running harness.
    pub emulator_bin: Option<PathBuf>,
    /// Keep-alive connections (one worker each).
    pub connections: u32,
    /// Measured seconds per load phase (ignored when `requests` is set).
    pub seconds: f64,
    /// Measured requests per load phase instead of a duration.
    pub requests: Option<u64>,
    /// Unmeasured warm-up seconds before each load phase.
    pub warmup: f64,
    /// Fresh emulator starts to average start → first 200 over (0 skips it).
    pub starts: u32,
}

/// Everything one run measured.
#[derive(Debug)]
pub struct Report {
    /// The options it ran with.
    pub options: Options,
    /// The emulator binary used.
    pub emulator_bin: PathBuf,
    /// Size of the emulator's Converse answer (the baseline's fixed body).
    pub converse_body_bytes: usize,
    /// Converse against the emulator.
    pub converse: PhaseResult,
    /// Converse against the bare hyper server.
    pub baseline: PhaseResult,
    /// ConverseStream against the emulator.
    pub stream: PhaseResult,
    /// Each start → first 200.
    pub starts: Vec<Duration>,
    /// Emulator memory before any load.
    pub memory_idle: Option<Memory>,
    /// Emulator memory after the Converse phase.
    pub memory_after_converse: Option<Memory>,
    /// Emulator memory after the ConverseStream phase (its VmHWM is the run's peak).
    pub memory_after_stream: Option<Memory>,
    /// Configured vs measured pacing (None when the emulator has no `pace` fault, e.g. an
    /// older build benchmarked for comparison).
    pub pacing: Option<pacing::PacingResult>,
}

/// Runs the benchmark; Ctrl-C stops it (and the emulator) early with an error.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        report = run_all(options) => report,
        () = interrupted => bail!("interrupted; the spawned emulator has been stopped"),
    }
}

/// `bedrock-emulator` in the directory of the running executable (target/release for a
/// release harness).
pub fn default_emulator_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running executable")?;
    let dir = exe.parent().context("the running executable has no directory")?;
    Ok(dir.join(format!("bedrock-emulator{}", std::env::consts::EXE_SUFFIX)))
}

/// `/model/{modelId}/{operation}` with the model id percent-encoded the way the SDK does it.
pub fn model_path(model_id: &str, operation: &str) -> String {
    let mut encoded = String::with_capacity(model_id.len() + 8);
    for b in model_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("/model/{encoded}/{operation}")
}

fn validate(options: &Options) -> anyhow::Result<()> {
    if options.connections == 0 || options.connections > 1024 {
        bail!("--connections must be between 1 and 1024");
    }
    if !(options.seconds > 0.0 && options.seconds <= 3600.0) {
        bail!("--seconds must be more than 0 and at most 3600");
    }
    if !(0.0..=60.0).contains(&options.warmup) {
        bail!("--warmup must be between 0 and 60 seconds");
    }
    if options.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    if options.starts > 50 {
        bail!("--starts must be at most 50");
    }
    Ok(())
}

fn progress(message: &str) {
    eprintln!("bench: {message}");
}

async fn run_all(options: &Options) -> anyhow::Result<Report> {
    validate(options)?;
    if cfg!(debug_assertions) {
        progress("warning: this bedrock-harness is a debug build; its client overhead distorts the numbers");
    }
    let bin = match &options.emulator_bin {
        Some(path) => path.clone(),
        None => default_emulator_bin()?,
    };
    if !bin.is_file() {
        bail!(
            "no emulator binary at {}; build it with `cargo build --release -p bedrock-emulator` or pass --emulator-bin",
            bin.display()
        );
    }
    if !is_release_dir(&bin) {
        progress(&format!("warning: {} is not in a release directory; is it a release build?", bin.display()));
    }
    let spec = PhaseSpec {
        connections: options.connections as usize,
        warmup: Duration::from_secs_f64(options.warmup),
        stop: match options.requests {
            Some(n) => Stop::Requests(n),
            None => Stop::After(Duration::from_secs_f64(options.seconds)),
        },
    };

    let mut starts = Vec::new();
    for i in 0..options.starts {
        progress(&format!("start {} of {}: {} serve --port 0", i + 1, options.starts, bin.display()));
        let (emulator, elapsed) = EmulatorProcess::start(&bin).await?;
        drop(emulator);
        starts.push(elapsed);
    }

    let (emulator, _) = EmulatorProcess::start(&bin).await?;
    progress(&format!("emulator pid {} on {}", emulator.pid(), emulator.addr()));
    let memory_idle = emulator.memory();
    let converse_body = capture_converse_body(&emulator).await?;
    check_stream(&emulator).await?;

    let target = |addr, operation, kind| Target {
        addr,
        path: model_path(MODEL_ID, operation),
        body: Bytes::from_static(REQUEST_BODY.as_bytes()),
        kind,
    };

    progress("phase 1/3: Converse against the emulator");
    let converse =
        load::run_phase(target(emulator.addr(), "converse", Kind::Json), spec, &|| emulator.cpu_ns()).await?;
    let memory_after_converse = emulator.memory();

    progress("phase 2/3: Converse against the bare hyper baseline");
    let baseline = {
        let server = Baseline::start(converse_body.clone())?;
        let result = load::run_phase(target(server.addr(), "converse", Kind::Json), spec, &|| server.cpu_ns()).await?;
        drop(server);
        result
    };

    progress("phase 3/3: ConverseStream against the emulator");
    let stream =
        load::run_phase(target(emulator.addr(), "converse-stream", Kind::EventStream), spec, &|| emulator.cpu_ns())
            .await?;
    let memory_after_stream = emulator.memory();

    progress("pacing: configured vs measured TTFT and tokens/s through aws-sdk-bedrockruntime");
    let pacing = match pacing::run(&emulator).await {
        Ok(p) => Some(p),
        Err(e) => {
            progress(&format!("pacing skipped: {e:#}"));
            None
        }
    };
    drop(emulator);

    for (name, phase) in [("converse", &converse), ("baseline", &baseline), ("converse-stream", &stream)] {
        if phase.requests == 0 {
            bail!(
                "the {name} phase completed no request: {}",
                phase.first_error.as_deref().unwrap_or("no error was recorded")
            );
        }
    }

    Ok(Report {
        options: options.clone(),
        emulator_bin: bin,
        converse_body_bytes: converse_body.len(),
        converse,
        baseline,
        stream,
        starts,
        memory_idle,
        memory_after_converse,
        memory_after_stream,
        pacing,
    })
}

/// The emulator's real Converse answer to the benchmark request: the baseline serves it.
async fn capture_converse_body(emulator: &EmulatorProcess) -> anyhow::Result<Bytes> {
    let addr = emulator.addr();
    let mut sender = load::connect(addr).await?;
    let path = model_path(MODEL_ID, "converse");
    let (status, body) =
        load::fetch(&mut sender, addr, Method::POST, &path, Bytes::from_static(REQUEST_BODY.as_bytes())).await?;
    if status != StatusCode::OK {
        bail!("POST {path} answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let parsed: Value = serde_json::from_slice(&body).context("the Converse answer is not JSON")?;
    if parsed.pointer("/output/message").is_none() {
        bail!("the Converse answer has no output.message: {parsed}");
    }
    Ok(body)
}

/// One ConverseStream request up front, so a broken stream fails fast with a clear error.
async fn check_stream(emulator: &EmulatorProcess) -> anyhow::Result<()> {
    let addr = emulator.addr();
    let mut sender = load::connect(addr).await?;
    let path = model_path(MODEL_ID, "converse-stream");
    let (status, body) =
        load::fetch(&mut sender, addr, Method::POST, &path, Bytes::from_static(REQUEST_BODY.as_bytes())).await?;
    if status != StatusCode::OK {
        bail!("POST {path} answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let mut counter = load::FrameCounter::default();
    counter.feed(&body)?;
    counter.finish()?;
    if counter.frames == 0 {
        bail!("POST {path} answered an empty event stream");
    }
    Ok(())
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Server CPU microseconds per completed request.
fn cpu_us_per_request(phase: &PhaseResult) -> Option<f64> {
    let ns = phase.cpu_ns?;
    (phase.requests > 0).then(|| ns as f64 / 1e3 / phase.requests as f64)
}

impl Report {
    /// Emulator Converse req/s ÷ baseline req/s.
    pub fn ratio(&self) -> f64 {
        let base = self.baseline.per_second();
        if base > 0.0 {
            self.converse.per_second() / base
        } else {
            0.0
        }
    }

    fn start_stats(&self) -> Option<(f64, f64, f64)> {
        let n = self.starts.len();
        if n == 0 {
            return None;
        }
        let total: f64 = self.starts.iter().map(|d| ms(*d)).sum();
        let min = self.starts.iter().map(|d| ms(*d)).fold(f64::INFINITY, f64::min);
        let max = self.starts.iter().map(|d| ms(*d)).fold(0.0, f64::max);
        Some((total / n as f64, min, max))
    }

    fn phase_description(&self) -> String {
        let warmup = self.options.warmup;
        match self.options.requests {
            Some(n) => format!("{n} requests per phase after {warmup} s warm-up"),
            None => format!("{} s per phase after {warmup} s warm-up", self.options.seconds),
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "bedrock-harness bench: {} keep-alive connections, {}, 127.0.0.1 only",
            self.options.connections,
            self.phase_description()
        );
        let _ = writeln!(out, "emulator: {}", self.emulator_bin.display());
        let _ = writeln!(
            out,
            "request: {MODEL_ID}, {} B body; Converse answer {} B",
            REQUEST_BODY.len(),
            self.converse_body_bytes
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<28} {:>9} {:>7} {:>12} {:>12} {:>9} {:>9} {:>12}",
            "phase", "count", "errors", "per second", "events/s", "p50 ms", "p99 ms", "cpu us/req"
        );
        let rows = [
            ("converse (emulator)", &self.converse, false),
            ("converse (bare hyper)", &self.baseline, false),
            ("converse-stream (emulator)", &self.stream, true),
        ];
        for (name, phase, streaming) in rows {
            let events = if streaming { format!("{:.1}", phase.events_per_second()) } else { "-".into() };
            let cpu = cpu_us_per_request(phase).map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "{:<28} {:>9} {:>7} {:>12.1} {:>12} {:>9} {:>9} {:>12}",
                name,
                phase.requests,
                phase.errors,
                phase.per_second(),
                events,
                opt_ms(phase.percentile_ms(0.50)),
                opt_ms(phase.percentile_ms(0.99)),
                cpu
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "ratio emulator/baseline (Converse req/s): {:.3}", self.ratio());
        if self.stream.requests > 0 {
            let _ = writeln!(
                out,
                "converse-stream: {:.1} streams/s, {:.1} events/s, {:.1} events per stream",
                self.stream.per_second(),
                self.stream.events_per_second(),
                self.stream.events as f64 / self.stream.requests as f64
            );
        }
        match self.start_stats() {
            Some((avg, min, max)) => {
                let _ = writeln!(
                    out,
                    "process start -> first 200 from /_emulator/health ({} starts): avg {avg:.2} ms, min {min:.2} ms, max {max:.2} ms",
                    self.starts.len()
                );
            }
            None => {
                let _ = writeln!(out, "process start -> first 200: skipped (--starts 0)");
            }
        }
        let rss = |m: Option<Memory>| m.map(|m| mib(m.rss_kib)).unwrap_or_else(|| "?".into());
        let _ = writeln!(
            out,
            "emulator VmRSS: idle {}, after converse {}, after converse-stream {}; peak VmHWM {}",
            rss(self.memory_idle),
            rss(self.memory_after_converse),
            rss(self.memory_after_stream),
            self.memory_after_stream.map(|m| mib(m.hwm_kib)).unwrap_or_else(|| "?".into())
        );
        match &self.pacing {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "pacing ({} streams each): TTFT configured {} ms, measured {}; tokens/s configured {:.0}, measured {} (ratio {})",
                    pacing::STREAMS,
                    pacing::TTFT_MS,
                    p.mean_ttft_ms().map_or("?".into(), |m| format!("{m:.1} ms")),
                    pacing::TOKENS_PER_SECOND,
                    p.mean_tokens_per_second().map_or("?".into(), |t| format!("{t:.1}")),
                    p.mean_tokens_per_second().map_or("?".into(), |t| format!("{:.3}", t / pacing::TOKENS_PER_SECOND)),
                );
            }
            None => {
                let _ = writeln!(out, "pacing: skipped (the emulator did not accept a pace fault)");
            }
        }
        for (name, phase) in [("converse", &self.converse), ("baseline", &self.baseline), ("stream", &self.stream)] {
            if let Some(e) = phase.first_error.as_deref() {
                let _ = writeln!(out, "first {name} error: {e}");
            }
        }
        out
    }

    /// The machine-readable summary (printed as one JSON line).
    pub fn json(&self) -> Value {
        let p = |phase: &PhaseResult, q: f64| phase.percentile_ms(q).map(|x| round(x, 3));
        let cpu = |phase: &PhaseResult| cpu_us_per_request(phase).map(|x| round(x, 1));
        let start = self.start_stats();
        json!({
            "converse_rps": round(self.converse.per_second(), 1),
            "baseline_rps": round(self.baseline.per_second(), 1),
            "ratio": round(self.ratio(), 4),
            "converse_p50_ms": p(&self.converse, 0.50),
            "converse_p99_ms": p(&self.converse, 0.99),
            "baseline_p50_ms": p(&self.baseline, 0.50),
            "baseline_p99_ms": p(&self.baseline, 0.99),
            "converse_requests": self.converse.requests,
            "converse_errors": self.converse.errors,
            "baseline_requests": self.baseline.requests,
            "baseline_errors": self.baseline.errors,
            "stream_streams_per_s": round(self.stream.per_second(), 1),
            "stream_events_per_s": round(self.stream.events_per_second(), 1),
            "stream_p50_ms": p(&self.stream, 0.50),
            "stream_p99_ms": p(&self.stream, 0.99),
            "stream_streams": self.stream.requests,
            "stream_events": self.stream.events,
            "stream_errors": self.stream.errors,
            "converse_cpu_us_per_req": cpu(&self.converse),
            "baseline_cpu_us_per_req": cpu(&self.baseline),
            "stream_cpu_us_per_stream": cpu(&self.stream),
            "start_to_first_200_ms": start.map(|s| round(s.0, 3)),
            "start_to_first_200_min_ms": start.map(|s| round(s.1, 3)),
            "start_to_first_200_max_ms": start.map(|s| round(s.2, 3)),
            "starts": self.starts.len(),
            "rss_idle_kib": self.memory_idle.map(|m| m.rss_kib),
            "rss_after_converse_kib": self.memory_after_converse.map(|m| m.rss_kib),
            "rss_after_stream_kib": self.memory_after_stream.map(|m| m.rss_kib),
            "hwm_kib": self.memory_after_stream.map(|m| m.hwm_kib),
            "connections": self.options.connections,
            "seconds": self.options.requests.is_none().then_some(self.options.seconds),
            "requests_per_phase": self.options.requests,
            "warmup_seconds": self.options.warmup,
            "converse_body_bytes": self.converse_body_bytes,
            "harness_profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "pacing_ttft_configured_ms": pacing::TTFT_MS,
            "pacing_ttft_measured_ms": self.pacing.as_ref().and_then(pacing::PacingResult::mean_ttft_ms).map(|x| round(x, 2)),
            "pacing_tokens_per_second_configured": pacing::TOKENS_PER_SECOND,
            "pacing_tokens_per_second_measured": self
                .pacing
                .as_ref()
                .and_then(pacing::PacingResult::mean_tokens_per_second)
                .map(|x| round(x, 1)),
        })
    }

    /// The JSON summary on one line.
    pub fn json_line(&self) -> String {
        self.json().to_string()
    }
}

/// Whether `path` looks like a release build's output directory (for the report only).
pub fn is_release_dir(path: &Path) -> bool {
    path.parent().and_then(Path::file_name).is_some_and(|d| d == "release")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_percent_encoded_like_the_sdk_does() {
        assert_eq!(
            model_path("anthropic.claude-3-haiku-20240307-v1:0", "converse"),
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
        );
    }
}
