//! `bedrock-harness bench-pinned`: the emulator against a bare hyper server, each pinned to
//! CPU 0 while a one-thread `wrk` on CPU 1 loads it, alternated round by round in one run.
//!
//! Pinning keeps the load generator from stealing the server's core (the in-process `bench`
//! shares both cores with it, which flatters the slower server). Both servers run as child
//! processes under `taskset`, see the same 16 keep-alive connections and the same request
//! with SDK-like headers, and answer the same bytes: the bare server replays the emulator's
//! own Converse answer, and its ConverseStream answer one HTTP chunk per event frame.
//!
//! Numbers are printed, never asserted. Linux only (`taskset`, `/proc`); needs `wrk` on PATH.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::load::{self, FrameCounter};
use super::process::process_cpu_ns;
use super::{model_path, MODEL_ID};

/// The request body every Converse and ConverseStream request of this benchmark sends
/// (about 100 bytes, like a short chat turn).
pub const BODY: &str =
    r#"{"messages":[{"role":"user","content":[{"text":"Hello, benchmark"}]}],"inferenceConfig":{"maxTokens":64}}"#;

/// Words in the scripted ConverseStream reply: two words per text delta, so about 1,000
/// events per stream.
const STREAM_WORDS: usize = 2000;

/// What `bench-pinned` runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The emulator binary.
    pub emulator_bin: PathBuf,
    /// Seconds each wrk run lasts.
    pub seconds: u32,
    /// Unmeasured seconds of the same load before each measured run (0: none).
    pub warmup: u32,
    /// Rounds of (emulator, baseline) per operation; the median round is reported.
    pub rounds: u32,
    /// wrk connections.
    pub connections: u32,
    /// The CPU the servers run on.
    pub server_cpu: u32,
    /// The CPU wrk runs on.
    pub load_cpu: u32,
}

/// One wrk run.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Completed requests per second.
    pub per_second: f64,
    /// Latency percentiles in milliseconds (p50, p99).
    pub p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Server CPU microseconds per completed request.
    pub cpu_us: Option<f64>,
    /// Requests that were not 2xx (wrk's "Non-2xx or 3xx responses").
    pub errors: u64,
}

/// One operation measured on both servers, round by round.
#[derive(Clone, Debug, Default)]
pub struct Pair {
    /// Each round against the emulator.
    pub emulator: Vec<Run>,
    /// Each round against the bare server.
    pub baseline: Vec<Run>,
}

impl Pair {
    /// The median of the per-round ratios emulator ÷ baseline.
    pub fn ratio(&self) -> f64 {
        let ratios: Vec<f64> = self
            .emulator
            .iter()
            .zip(&self.baseline)
            .filter(|(_, b)| b.per_second > 0.0)
            .map(|(e, b)| e.per_second / b.per_second)
            .collect();
        median(ratios)
    }

    fn median_of(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
        median(runs.iter().map(f).collect())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Everything one `bench-pinned` run measured.
#[derive(Debug)]
pub struct Report {
    /// The options it ran with.
    pub options: Options,
    /// Converse, emulator vs bare hyper.
    pub converse: Pair,
    /// ConverseStream (~1,000 events), emulator vs bare hyper sending the same frames.
    pub stream: Pair,
    /// Event frames in one ConverseStream answer.
    pub events_per_stream: u64,
    /// Bytes of the Converse answer.
    pub converse_bytes: usize,
}

/// A child process killed and reaped on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `taskset -c CPU program args…` and reads `listening on http://ADDR` from its stdout.
    fn start(cpu: u32, program: &Path, args: &[&str]) -> anyhow::Result<Server> {
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(cpu.to_string())
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run taskset -c {cpu} {}", program.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.trim_end_matches('/').parse::<SocketAddr>().ok())
            .with_context(|| format!("{} printed {line:?} instead of its address", program.display()));
        let addr = match addr {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Server { child, addr })
    }

    fn cpu_ns(&self) -> Option<u64> {
        process_cpu_ns(self.child.id())
    }
}

/// The wrk script: the benchmark request with the headers an AWS SDK sends.
fn wrk_script(path: &str) -> String {
    let body = BODY.replace('\'', "\\'");
    format!(
        r#"wrk.method = "POST"
wrk.path = "{path}"
wrk.body = '{body}'
wrk.headers["content-type"] = "application/json"
wrk.headers["user-agent"] = "aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0"
wrk.headers["x-amz-user-agent"] = "aws-sdk-rust/1.3.9 ua/2.1 api/bedrockruntime/1.118.0 os/linux lang/rust/1.95.0 m/E"
wrk.headers["x-amz-date"] = "20261201T120000Z"
wrk.headers["authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/bedrock/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-user-agent, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
wrk.headers["amz-sdk-invocation-id"] = "2b1c7d1e-4f5a-4b3c-9d8e-7f6a5b4c3d2e"
wrk.headers["amz-sdk-request"] = "attempt=1; max=3"
"#
    )
}

/// `2.07ms` / `850.00us` / `1.20s` → milliseconds.
fn wrk_duration_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Reads wrk's `--latency` output.
fn parse_wrk(output: &str) -> anyhow::Result<Run> {
    let mut run = Run::default();
    for line in output.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            run.per_second = rest.trim().parse().context("wrk's Requests/sec")?;
        } else if let Some(rest) = line.strip_prefix("50%") {
            run.p50_ms = wrk_duration_ms(rest.trim()).unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("99%") {
            run.p99_ms = wrk_duration_ms(rest.trim()).unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors = rest.trim().parse().unwrap_or(0);
        }
    }
    if run.per_second <= 0.0 {
        bail!("wrk reported no completed request:\n{output}");
    }
    Ok(run)
}

/// The unmeasured load before a measured run: the same wrk for `options.warmup` seconds.
fn warm_up(options: &Options, server: &Server, script: &Path, path: &str) -> anyhow::Result<()> {
    if options.warmup == 0 {
        return Ok(());
    }
    let warm = Options { seconds: options.warmup, ..options.clone() };
    wrk(&warm, server, script, path).map(drop)
}

fn wrk(options: &Options, server: &Server, script: &Path, path: &str) -> anyhow::Result<Run> {
    let url = format!("http://{}{path}", server.addr);
    let cpu_before = server.cpu_ns();
    let output = Command::new("taskset")
        .arg("-c")
        .arg(options.load_cpu.to_string())
        .arg("wrk")
        .args(["-t1", "-c", &options.connections.to_string(), "-d", &format!("{}s", options.seconds), "--latency"])
        .arg("-s")
        .arg(script)
        .arg(&url)
        .output()
        .context("cannot run wrk (install it: apt-get install wrk)")?;
    let cpu_after = server.cpu_ns();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("wrk failed: {}\n{text}", String::from_utf8_lossy(&output.stderr));
    }
    let mut run = parse_wrk(&text)?;
    let requests = run.per_second * f64::from(options.seconds);
    run.cpu_us = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) if requests > 0.0 => Some(b.saturating_sub(a) as f64 / 1e3 / requests),
        _ => None,
    };
    Ok(run)
}

async fn fetch(addr: SocketAddr, path: &str) -> anyhow::Result<Bytes> {
    let mut sender = load::connect(addr).await?;
    let (status, body) =
        load::fetch(&mut sender, addr, Method::POST, path, Bytes::from_static(BODY.as_bytes())).await?;
    if status != StatusCode::OK {
        bail!("POST {path} answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// A scenario whose ConverseStream reply has about a thousand events.
fn stream_scenario(dir: &Path) -> anyhow::Result<PathBuf> {
    let words: Vec<&str> =
        ["lantern", "valley", "signal", "orbit"].iter().copied().cycle().take(STREAM_WORDS).collect();
    let doc = json!({
        "version": 1,
        "name": "bench-pinned",
        "rules": [{"name": "long-stream", "match": {"operation": "ConverseStream"}, "reply": {"text": words.join(" ")}}]
    });
    let path = dir.join("bench-pinned.json");
    std::fs::write(&path, doc.to_string())?;
    Ok(path)
}

/// Runs the benchmark (blocking on wrk; call it from a runtime for the capture requests).
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    if std::thread::available_parallelism().map_or(1, usize::from) < 2 {
        bail!("bench-pinned needs two CPUs (one for the server, one for wrk)");
    }
    if options.server_cpu == options.load_cpu {
        bail!("--server-cpu and --load-cpu must differ");
    }
    let harness = std::env::current_exe().context("cannot find the running executable")?;
    let dir = std::env::temp_dir().join(format!("bench-pinned-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(options, &harness, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(options: &Options, harness: &Path, dir: &Path) -> anyhow::Result<Report> {
    let scenario = stream_scenario(dir)?;
    let scenario_arg = scenario.to_string_lossy().into_owned();
    let emulator_args = ["serve", "--host", "127.0.0.1", "--port", "0", "--no-watch", "--scenarios", &scenario_arg];
    let converse_path = model_path(MODEL_ID, "converse");
    let stream_path = model_path(MODEL_ID, "converse-stream");

    // Capture what the emulator answers, for the bare server to send back.
    let (converse_body, stream_body) = {
        let emulator = Server::start(options.server_cpu, &options.emulator_bin, &emulator_args)?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        (fetch(emulator.addr, &converse_path).await?, fetch(emulator.addr, &stream_path).await?)
    };
    let mut counter = FrameCounter::default();
    counter.feed(&stream_body)?;
    counter.finish()?;
    let converse_file = dir.join("converse.json");
    let stream_file = dir.join("stream.bin");
    std::fs::write(&converse_file, &converse_body)?;
    std::fs::write(&stream_file, &stream_body)?;
    let converse_script = dir.join("converse.lua");
    let stream_script = dir.join("stream.lua");
    std::fs::write(&converse_script, wrk_script(&converse_path))?;
    std::fs::write(&stream_script, wrk_script(&stream_path))?;

    let mut converse = Pair::default();
    let mut stream = Pair::default();
    let converse_arg = converse_file.to_string_lossy().into_owned();
    let stream_arg = stream_file.to_string_lossy().into_owned();
    for round in 1..=options.rounds {
        eprintln!("bench-pinned: round {round} of {}", options.rounds);
        // A fresh process per run, warmed up by the same load before it is measured: both
        // servers are measured in their steady state (the emulator's journal full, its code
        // and heap paged in), not in their first moments.
        for (pair, script, path, body, frames) in [
            (&mut converse, &converse_script, &converse_path, &converse_arg, false),
            (&mut stream, &stream_script, &stream_path, &stream_arg, true),
        ] {
            let emulator = Server::start(options.server_cpu, &options.emulator_bin, &emulator_args)?;
            warm_up(options, &emulator, script, path)?;
            pair.emulator.push(wrk(options, &emulator, script, path)?);
            drop(emulator);
            let mut args = vec!["bench-baseline", "--body", body.as_str()];
            if frames {
                args.push("--frames");
            }
            let baseline = Server::start(options.server_cpu, harness, &args)?;
            warm_up(options, &baseline, script, path)?;
            pair.baseline.push(wrk(options, &baseline, script, path)?);
        }
    }
    Ok(Report {
        options: options.clone(),
        converse,
        stream,
        events_per_stream: counter.frames,
        converse_bytes: converse_body.len(),
    })
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let o = &self.options;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "bedrock-harness bench-pinned: servers on CPU {}, wrk -t1 -c{} on CPU {}, {} s per run after a {} s warm-up, {} rounds alternated (medians)",
            o.server_cpu, o.connections, o.load_cpu, o.seconds, o.warmup, o.rounds
        );
        let _ = writeln!(
            out,
            "request: {} B Converse body with SDK headers; Converse answer {} B; ConverseStream answer {} events",
            BODY.len(),
            self.converse_bytes,
            self.events_per_stream
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<32} {:>12} {:>12} {:>9} {:>9} {:>12}",
            "server", "req/s", "events/s", "p50 ms", "p99 ms", "cpu us/req"
        );
        let events = self.events_per_stream as f64;
        for (name, runs, per_request_events) in [
            ("converse (emulator)", &self.converse.emulator, None),
            ("converse (bare hyper)", &self.converse.baseline, None),
            ("converse-stream (emulator)", &self.stream.emulator, Some(events)),
            ("converse-stream (bare hyper)", &self.stream.baseline, Some(events)),
        ] {
            let rps = Pair::median_of(runs, |r| r.per_second);
            let cpu = median(runs.iter().filter_map(|r| r.cpu_us).collect());
            let _ = writeln!(
                out,
                "{:<32} {:>12.1} {:>12} {:>9.3} {:>9.3} {:>12.1}",
                name,
                rps,
                per_request_events.map_or("-".to_string(), |e| format!("{:.0}", rps * e)),
                Pair::median_of(runs, |r| r.p50_ms),
                Pair::median_of(runs, |r| r.p99_ms),
                cpu
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "ratio emulator/bare hyper, Converse req/s: {:.3}", self.converse.ratio());
        let _ = writeln!(out, "ratio emulator/bare hyper, ConverseStream events/s: {:.3}", self.stream.ratio());
        let errors: u64 = [&self.converse, &self.stream]
            .iter()
            .flat_map(|p| p.emulator.iter().chain(&p.baseline))
            .map(|r| r.errors)
            .sum();
        if errors > 0 {
            let _ = writeln!(out, "non-2xx responses: {errors}");
        }
        out
    }

    /// The machine-readable summary.
    pub fn json(&self) -> Value {
        let runs = |v: &[Run]| {
            v.iter()
                .map(|r| json!({"rps": r.per_second, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "cpu_us": r.cpu_us, "errors": r.errors}))
                .collect::<Vec<_>>()
        };
        json!({
            "converse_ratio": self.converse.ratio(),
            "stream_events_ratio": self.stream.ratio(),
            "events_per_stream": self.events_per_stream,
            "converse_emulator": runs(&self.converse.emulator),
            "converse_baseline": runs(&self.converse.baseline),
            "stream_emulator": runs(&self.stream.emulator),
            "stream_baseline": runs(&self.stream.baseline),
            "seconds": self.options.seconds,
            "warmup_seconds": self.options.warmup,
            "rounds": self.options.rounds,
            "connections": self.options.connections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let out = "  Latency Distribution\n     50%  850.00us\n     99%    2.07ms\n  1000 requests in 1.00s\nRequests/sec:  12345.67\nTransfer/sec: 1MB\n";
        let run = parse_wrk(out).expect("parsed");
        assert!((run.per_second - 12345.67).abs() < 1e-6);
        assert!((run.p50_ms - 0.85).abs() < 1e-9);
        assert!((run.p99_ms - 2.07).abs() < 1e-9);
        assert!(parse_wrk("nothing").is_err());
    }

    #[test]
    fn the_median_ratio_pairs_rounds() {
        let r = |x| Run { per_second: x, ..Run::default() };
        let pair = Pair { emulator: vec![r(6.0), r(5.0), r(7.0)], baseline: vec![r(10.0), r(10.0), r(10.0)] };
        assert!((pair.ratio() - 0.6).abs() < 1e-9);
    }
}
