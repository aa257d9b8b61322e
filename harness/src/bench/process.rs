//! The emulator as a child process (spawned, timed to its first healthy answer, always
//! killed) and the `/proc` readings the benchmark reports: memory and CPU time.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper::{Method, StatusCode};

use super::load;

/// Longest the emulator may take to print its listening line and answer health.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Linux reports CPU times in `stat` in USER_HZ ticks, which is 100 per second.
const NANOS_PER_TICK: u64 = 10_000_000;
/// How much of the emulator's stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 4096;

/// A spawned `bedrock-emulator serve --port 0`; dropping it kills and reaps the process.
pub struct EmulatorProcess {
    child: Child,
    addr: SocketAddr,
}

/// Kills and reaps a child on drop, so every error path (and Ctrl-C) stops the emulator.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> anyhow::Result<&mut Child> {
        self.0.as_mut().context("the emulator process is gone")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            kill(child);
        }
    }
}

fn kill(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Keeps draining a pipe on a plain thread (so the child never blocks writing to it),
/// remembering the last few KiB.
fn drain(mut pipe: impl Read + Send + 'static, tail: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut t) = tail.lock() {
                t.extend_from_slice(&buf[..n]);
                let excess = t.len().saturating_sub(STDERR_TAIL_BYTES);
                t.drain(..excess);
            }
        }
    });
}

fn tail_text(tail: &Mutex<Vec<u8>>) -> String {
    tail.lock().map(|t| String::from_utf8_lossy(&t).trim().to_string()).unwrap_or_default()
}

/// `listening on http://127.0.0.1:PORT` → the address; only loopback is accepted.
fn parse_listening_line(line: &str) -> anyhow::Result<SocketAddr> {
    let rest = line
        .trim()
        .strip_prefix("listening on http://")
        .with_context(|| format!("unexpected first line from the emulator: {line:?}"))?;
    let addr: SocketAddr =
        rest.trim_end_matches('/').parse().with_context(|| format!("cannot parse the emulator address in {line:?}"))?;
    if !addr.ip().is_loopback() {
        bail!("the emulator listens on {addr}, not on loopback; the benchmark only talks to 127.0.0.1");
    }
    Ok(addr)
}

impl EmulatorProcess {
    /// Spawns `bin serve --host 127.0.0.1 --port 0` and waits until `/_emulator/health`
    /// answers 200. Returns the process and the time from spawn to that first 200.
    pub async fn start(bin: &Path) -> anyhow::Result<(EmulatorProcess, Duration)> {
        let t0 = Instant::now();
        let child = Command::new(bin)
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut guard = ChildGuard(Some(child));
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = guard.child()?.stderr.take() {
            drain(stderr, stderr_tail.clone());
        }
        let stdout = guard.child()?.stdout.take().context("no stdout pipe to the emulator")?;
        let (line_tx, line_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = line_tx.send(first);
            // Keep reading so the emulator never blocks on a full stdout pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });

        let failed = |what: String, tail: &Mutex<Vec<u8>>| {
            let stderr = tail_text(tail);
            if stderr.is_empty() {
                anyhow::anyhow!("{what}")
            } else {
                anyhow::anyhow!("{what}; emulator stderr:\n{stderr}")
            }
        };
        let line = match tokio::time::timeout(START_TIMEOUT, line_rx).await {
            Ok(Ok(Ok(line))) if !line.is_empty() => line,
            Ok(_) => {
                // Give the stderr thread a moment to collect why it exited.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let status = guard.child()?.try_wait().ok().flatten();
                return Err(failed(
                    format!("{} exited before printing its address (status {status:?})", bin.display()),
                    &stderr_tail,
                ));
            }
            Err(_) => {
                return Err(failed(
                    format!("{} printed no address within {START_TIMEOUT:?}", bin.display()),
                    &stderr_tail,
                ))
            }
        };
        let addr = parse_listening_line(&line)?;

        let deadline = t0 + START_TIMEOUT;
        loop {
            let last_error = match health(addr).await {
                Ok(StatusCode::OK) => break,
                Ok(status) => format!("health answered {status}"),
                Err(e) => format!("{e:#}"),
            };
            if let Ok(Some(status)) = guard.child()?.try_wait() {
                return Err(failed(format!("the emulator exited ({status}) before health answered 200"), &stderr_tail));
            }
            if Instant::now() >= deadline {
                return Err(failed(
                    format!("health never answered 200 within {START_TIMEOUT:?}: {last_error}"),
                    &stderr_tail,
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let elapsed = t0.elapsed();
        let child = guard.0.take().context("the emulator process is gone")?;
        Ok((EmulatorProcess { child, addr }, elapsed))
    }

    /// Sends SIGTERM (a graceful shutdown).
    pub fn terminate(&self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }

    /// Waits up to `timeout` for the process to exit; returns when it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident and peak resident memory.
    pub fn memory(&self) -> Option<Memory> {
        memory(self.pid())
    }

    /// CPU time of its threads so far, in nanoseconds.
    pub fn cpu_ns(&self) -> Option<u64> {
        process_cpu_ns(self.pid())
    }
}

/// One GET /_emulator/health on a fresh connection.
async fn health(addr: SocketAddr) -> anyhow::Result<StatusCode> {
    let mut sender = load::connect(addr).await?;
    let (status, _) = load::fetch(&mut sender, addr, Method::GET, "/_emulator/health", Bytes::new()).await?;
    Ok(status)
}

/// `VmRSS` and `VmHWM` from `/proc/PID/status`, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// Resident set size now.
    pub rss_kib: u64,
    /// Peak resident set size ("high water mark").
    pub hwm_kib: u64,
}

/// Reads `/proc/PID/status`.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
    };
    Some(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// CPU time of one thread (`dir` = `/proc/PID/task/TID`) in nanoseconds: the first field
/// of `schedstat` (time on CPU, in ns), or else utime + stime from `stat` (10 ms ticks).
pub fn task_cpu_ns(dir: &Path) -> Option<u64> {
    if let Ok(schedstat) = std::fs::read_to_string(dir.join("schedstat")) {
        if let Some(ns) = schedstat.split_whitespace().next().and_then(|f| f.parse().ok()) {
            return Some(ns);
        }
    }
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 of the man page are utime and stime; field 3 is fields[0] here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * NANOS_PER_TICK)
}

/// CPU time of all living threads of process `pid`, in nanoseconds. (Threads that exited
/// are not counted; the emulator's Tokio workers live as long as the process.)
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let ns: Vec<u64> = tasks.filter_map(|t| task_cpu_ns(&t.ok()?.path())).collect();
    (!ns.is_empty()).then(|| ns.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_must_name_a_loopback_address() {
        let addr = parse_listening_line("listening on http://127.0.0.1:4567\n").ok();
        assert_eq!(addr, "127.0.0.1:4567".parse().ok());
        assert!(parse_listening_line("listening on http://10.0.0.1:80").is_err());
        assert!(parse_listening_line("hello").is_err());
    }

    #[test]
    fn own_process_readings_parse() {
        let me = std::process::id();
        assert!(memory(me).is_some_and(|m| m.rss_kib > 0 && m.hwm_kib >= m.rss_kib));
        assert!(process_cpu_ns(me).is_some());
        assert!(task_cpu_ns(&std::path::PathBuf::from(format!("/proc/{me}/task/{me}"))).is_some());
    }
}
