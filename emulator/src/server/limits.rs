//! The limits a real service puts on connections: how long a client may take to send a
//! request head (slowloris), how large the head may be, how many connections are served at
//! once, and how the listener backs off when accepting fails (out of file descriptors).

use std::time::Duration;

/// Connection limits and timeouts (`serve --max-connections`, `--header-read-timeout`,
/// `--max-header-bytes`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Connections served at once; further clients wait in the listen backlog until one
    /// closes (their connect succeeds, their request is read later).
    pub max_connections: usize,
    /// Longest a connection may take to send a complete request head, and longest an idle
    /// keep-alive connection is kept waiting for its next one (hyper times both from the
    /// moment it starts reading a head).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; larger ones get 431 on
    /// HTTP/1.1 and a stream reset on HTTP/2.
    pub max_header_bytes: usize,
}

/// Default [`Limits::max_connections`]: above the 10,000 concurrent streams the benchmark
/// holds, below what a default hard file-descriptor limit allows.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Default [`Limits::header_read_timeout`]: AWS load balancers close idle connections after
/// 60 s too.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Limits::max_header_bytes`]. SDK request heads are about 1–2 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper cannot read HTTP/1.1 with a smaller buffer than this.
pub const MIN_HEADER_BYTES: usize = 8192;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// Waits after a failed `accept`: 5 ms, doubling to 1 s while failures continue, back to
/// 5 ms after a success, so running out of file descriptors neither spins a core nor
/// leaves the server deaf long after descriptors free up.
#[derive(Debug)]
pub struct AcceptBackoff {
    next: Duration,
    failures: u64,
}

/// The first wait after a failed accept.
pub const BACKOFF_MIN: Duration = Duration::from_millis(5);
/// The longest wait between accept attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff { next: BACKOFF_MIN, failures: 0 }
    }
}

impl AcceptBackoff {
    /// A failure: how long to wait before accepting again.
    pub fn failed(&mut self) -> Duration {
        self.failures += 1;
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }

    /// A success: the next failure waits the minimum again. Returns how many failures the
    /// run that just ended had.
    pub fn succeeded(&mut self) -> u64 {
        self.next = BACKOFF_MIN;
        std::mem::take(&mut self.failures)
    }

    /// Whether this failure should be logged (the first of a run, then every 100th).
    pub fn should_log(&self) -> bool {
        self.failures == 1 || self.failures % 100 == 0
    }
}

/// Raises the soft open-file limit towards `wanted` (at most the hard limit) and returns the
/// soft limit now in force: each connection holds a descriptor, and the usual soft limit
/// of 1,024 would cap the server far below its connection limit.
#[cfg(unix)]
pub fn raise_fd_limit(wanted: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let current = limit.current.unwrap_or(u64::MAX);
    let target = limit.maximum.map_or(wanted, |max| wanted.min(max));
    if target > current && setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }).is_ok()
    {
        return target;
    }
    current
}

/// Elsewhere the limit is left as it is.
#[cfg(not(unix))]
pub fn raise_fd_limit(_wanted: u64) -> u64 {
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_cap_and_resets() {
        let mut b = AcceptBackoff::default();
        let waits: Vec<Duration> = (0..10).map(|_| b.failed()).collect();
        assert_eq!(waits[0], BACKOFF_MIN);
        assert_eq!(waits[1], BACKOFF_MIN * 2);
        assert_eq!(*waits.last().unwrap_or(&Duration::ZERO), BACKOFF_MAX);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(b.succeeded(), 10);
        assert_eq!(b.failed(), BACKOFF_MIN);
    }

    #[test]
    fn only_the_first_and_every_hundredth_failure_is_logged() {
        let mut b = AcceptBackoff::default();
        let logged: Vec<u64> = (1..=250)
            .filter(|_| {
                b.failed();
                b.should_log()
            })
            .collect();
        assert_eq!(logged, vec![1, 100, 200]);
    }

    #[test]
    fn the_fd_limit_is_never_lowered() {
        let before = raise_fd_limit(0);
        assert!(raise_fd_limit(1) >= before.min(1));
        assert_eq!(raise_fd_limit(0), before);
    }
}
