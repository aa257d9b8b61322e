//! Which attempt of an invocation a request is.
//!
//! botocore, the JavaScript SDK v3 and aws-sdk-rust send `amz-sdk-invocation-id` (one per
//! call, kept across retries) and `amz-sdk-request: attempt=K; max=N`. Clients that send
//! neither (curl, litellm, the Vercel AI SDK) still retry by sending the same request again,
//! so the fallback counts a request identical to one that *failed* within the last
//! [`FALLBACK_WINDOW`] (same operation, model and body) as that one's next attempt; after a
//! success, the same request starts a new invocation at attempt 1.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;

/// How long a failed header-less request waits for its retry.
pub const FALLBACK_WINDOW: Duration = Duration::from_secs(30);

/// Most invocations remembered at once (older ones are forgotten first).
const MAX_TRACKED: usize = 10_000;

/// How the attempt number was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CountedBy {
    /// `amz-sdk-request: attempt=K`.
    Header,
    /// Requests seen with the same `amz-sdk-invocation-id`.
    InvocationId,
    /// An identical request that failed shortly before.
    Fingerprint,
}

/// The attempt a request is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// `amz-sdk-invocation-id`, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// 1 for the first attempt.
    pub number: u32,
    /// How `number` was learnt.
    pub counted_by: CountedBy,
    #[serde(skip)]
    fingerprint: u64,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    count: u32,
    at: Duration,
    failed: bool,
}

#[derive(Debug, Default)]
struct Maps {
    by_invocation: HashMap<String, Seen>,
    by_fingerprint: HashMap<u64, Seen>,
}

/// Counts attempts per invocation (bounded).
#[derive(Debug)]
pub struct AttemptTracker {
    clock: Clock,
    maps: Mutex<Maps>,
}

/// Reads `attempt=K` from an `amz-sdk-request` value (`attempt=2; max=3`).
pub fn attempt_from_header(value: &str) -> Option<u32> {
    // What every SDK sends, `attempt=1; max=3`, read without the general split (a char
    // searcher and a trim per part); anything else takes the general reading.
    if let Some(rest) = value.strip_prefix("attempt=") {
        let end = memchr::memchr(b';', rest.as_bytes()).unwrap_or(rest.len());
        if let Ok(n) = rest[..end].trim().parse::<u32>() {
            return (n >= 1).then_some(n);
        }
    }
    value.split(';').find_map(|part| part.trim().strip_prefix("attempt=")?.trim().parse().ok()).filter(|n| *n >= 1)
}

fn prune<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, Seen>, now: Duration) {
    if map.len() < MAX_TRACKED {
        return;
    }
    map.retain(|_, s| now.saturating_sub(s.at) <= FALLBACK_WINDOW);
    if map.len() >= MAX_TRACKED {
        // Everything is recent: forget the oldest half rather than grow without bound.
        let mut ages: Vec<Duration> = map.values().map(|s| s.at).collect();
        ages.sort();
        let cut = ages[ages.len() / 2];
        map.retain(|_, s| s.at > cut);
    }
}

impl AttemptTracker {
    /// A tracker reading time from `clock`.
    pub fn new(clock: Clock) -> Self {
        AttemptTracker { clock, maps: Mutex::new(Maps::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The attempt of a request with these headers (`amz-sdk-request`, `amz-sdk-invocation-id`)
    /// and this fingerprint of its operation, model and body. Without `track` (no fault rule
    /// is loaded) nothing is remembered: a request without the attempt header is attempt 1.
    pub fn observe(
        &self,
        sdk_request: Option<&str>,
        invocation_id: Option<&str>,
        fingerprint: u64,
        track: bool,
    ) -> Attempt {
        let invocation = invocation_id.map(str::to_string);
        if let Some(n) = sdk_request.and_then(attempt_from_header) {
            return Attempt { invocation_id: invocation, number: n, counted_by: CountedBy::Header, fingerprint };
        }
        if !track {
            return Attempt { invocation_id: invocation, number: 1, counted_by: CountedBy::Header, fingerprint };
        }
        let now = self.clock.now();
        let mut maps = self.lock();
        if let Some(id) = invocation {
            prune(&mut maps.by_invocation, now);
            let seen = maps.by_invocation.entry(id.clone()).or_insert(Seen { count: 0, at: now, failed: false });
            seen.count = seen.count.saturating_add(1);
            seen.at = now;
            return Attempt {
                invocation_id: Some(id),
                number: seen.count,
                counted_by: CountedBy::InvocationId,
                fingerprint,
            };
        }
        prune(&mut maps.by_fingerprint, now);
        let number = match maps.by_fingerprint.get(&fingerprint) {
            Some(s) if s.failed && now.saturating_sub(s.at) <= FALLBACK_WINDOW => s.count.saturating_add(1),
            _ => 1,
        };
        maps.by_fingerprint.insert(fingerprint, Seen { count: number, at: now, failed: false });
        Attempt { invocation_id: None, number, counted_by: CountedBy::Fingerprint, fingerprint }
    }

    /// Records how a header-less attempt ended, so that an identical retry is counted.
    pub fn settle(&self, attempt: &Attempt, failed: bool) {
        if attempt.counted_by != CountedBy::Fingerprint {
            return;
        }
        let now = self.clock.now();
        if let Some(seen) = self.lock().by_fingerprint.get_mut(&attempt.fingerprint) {
            seen.failed = failed;
            seen.at = now;
        }
    }

    /// Forgets every invocation.
    pub fn clear(&self) {
        *self.lock() = Maps::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_header_gives_the_attempt() {
        assert_eq!(attempt_from_header("attempt=2; max=3"), Some(2));
        assert_eq!(attempt_from_header("ttl=20250101T000000Z; attempt=3; max=5"), Some(3));
        assert_eq!(attempt_from_header("attempt=x"), None);
        assert_eq!(attempt_from_header("attempt=x; attempt=2"), Some(2), "an unreadable first part is read past");
        assert_eq!(attempt_from_header("attempt=0; attempt=2"), None, "the first readable part decides");
        assert_eq!(attempt_from_header("attempt= 4 ;max=5"), Some(4));
        let t = AttemptTracker::new(Clock::manual());
        assert_eq!(t.observe(Some("attempt=3; max=3"), Some("id"), 1, true).number, 3);
    }

    #[test]
    fn an_invocation_id_alone_is_counted() {
        let t = AttemptTracker::new(Clock::manual());
        assert_eq!(t.observe(None, Some("a"), 1, true).number, 1);
        assert_eq!(t.observe(None, Some("a"), 1, true).number, 2);
        assert_eq!(t.observe(None, Some("b"), 1, true).number, 1);
    }

    #[test]
    fn a_header_less_retry_of_a_failed_request_is_its_next_attempt() {
        let clock = Clock::manual();
        let t = AttemptTracker::new(clock.clone());
        let first = t.observe(None, None, 7, true);
        assert_eq!(first.number, 1);
        t.settle(&first, true);
        clock.advance(Duration::from_secs(1));
        let second = t.observe(None, None, 7, true);
        assert_eq!(second.number, 2);
        t.settle(&second, false);
        // After a success the same request is a new invocation.
        assert_eq!(t.observe(None, None, 7, true).number, 1);
    }

    #[test]
    fn a_header_less_retry_after_the_window_starts_again() {
        let clock = Clock::manual();
        let t = AttemptTracker::new(clock.clone());
        let first = t.observe(None, None, 7, true);
        t.settle(&first, true);
        clock.advance(FALLBACK_WINDOW + Duration::from_secs(1));
        assert_eq!(t.observe(None, None, 7, true).number, 1);
    }

    #[test]
    fn the_tracker_stays_bounded() {
        let t = AttemptTracker::new(Clock::manual());
        for i in 0..(MAX_TRACKED as u64 * 3) {
            t.observe(None, Some(&i.to_string()), i, true);
            t.observe(None, None, i, true);
        }
        let maps = t.lock();
        assert!(maps.by_invocation.len() <= MAX_TRACKED);
        assert!(maps.by_fingerprint.len() <= MAX_TRACKED);
    }
}
