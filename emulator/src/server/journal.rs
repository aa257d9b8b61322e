//! The request journal: what every request looked like, who answered it, and how.
//!
//! Bounded: a ring of `capacity` entries; the oldest are dropped (and counted) so that a long
//! load test keeps constant memory.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};

use crate::scenario::format::CountMatch;
use crate::scenario::matcher::failures;
use crate::scenario::{MatchInput, MatchSpec};

/// Largest request body kept in a journal entry (bigger ones become `{"_truncated": {"bytes": N}}`).
pub const MAX_JOURNALED_BODY: usize = 256 * 1024;

/// Default number of entries kept.
pub const DEFAULT_CAPACITY: usize = 1000;

/// Longest last-user or system text an entry keeps (matching saw the whole text; the journal
/// keeps the start and says how long it was).
pub const MAX_JOURNALED_TEXT: usize = 16 * 1024;

/// Most tool names an entry keeps.
pub const MAX_JOURNALED_TOOLS: usize = 256;

/// Most bytes the journal holds in all (oldest entries are dropped first), whatever the
/// entry count: a run of huge prompts cannot hold capacity × prompt size.
pub const MAX_JOURNAL_BYTES: usize = 64 * 1024 * 1024;

/// Cuts `text` to `max` bytes (on a character boundary), noting its full length.
pub fn truncate_text(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let total = text.len();
    text.truncate(cut);
    text.push_str(&format!("…[truncated: {total} bytes]"));
}

impl JournalEntry {
    /// About how much memory the entry holds.
    fn approx_bytes(&self) -> usize {
        let r = &self.request;
        let strings = [&r.last_user_text, &r.system_text, &r.model_id, &r.resolved_model]
            .iter()
            .map(|s| s.as_ref().map_or(0, String::len))
            .sum::<usize>();
        let headers = r.headers.byte_len();
        let tools: usize = r.tool_names.iter().map(String::len).sum();
        256 + strings
            + headers
            + tools
            + self.body_bytes
            + self.path.len()
            + self.faults.iter().map(String::len).sum::<usize>()
    }
}

/// Formatted only when the entry is listed: most entries are never read.
fn rfc3339<S: serde::Serializer>(at: &std::time::SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let text =
        aws_smithy_types::DateTime::from(*at).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default();
    s.serialize_str(&text)
}

/// Which entries a listing shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListingFilter<'a> {
    /// Only this operation.
    pub operation: Option<&'a str>,
    /// Only models matching this glob (resolved id or id as sent).
    pub model: Option<&'a str>,
    /// Only the newest this many (of those the other conditions select).
    pub limit: Option<usize>,
}

/// One request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Position since start (or the last clear), from 1.
    pub seq: u64,
    /// When it arrived (RFC 3339, UTC).
    #[serde(serialize_with = "rfc3339")]
    pub time: std::time::SystemTime,
    /// The `x-amzn-RequestId` sent back.
    pub request_id: String,
    /// HTTP method.
    pub method: String,
    /// Raw path.
    pub path: String,
    /// What matchers see (operation, model, texts, body, redacted headers).
    #[serde(flatten)]
    pub request: MatchInput,
    /// `amz-sdk-invocation-id`, when the client sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// Which attempt of its invocation the request was (1 for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `synthetic`, `builtin`, `scenario:<file>/<rule>`, `fault:<name>`, or `error`
    /// (validation/routing).
    pub answered_by: String,
    /// Names of the fault rules injected (and `quota:…` labels of quotas exceeded).
    pub faults: Vec<String>,
    /// HTTP status sent (0: no response, the connection was reset or stalled).
    pub status: u16,
    /// Time to produce the response head, in milliseconds.
    pub duration_ms: f64,
    /// Bytes of the request body the entry keeps (for the journal's byte bound; not listed).
    #[serde(skip)]
    pub body_bytes: usize,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<(JournalEntry, usize)>,
    bytes: usize,
    next_seq: u64,
    dropped: u64,
}

/// The journal.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    ring: Mutex<Ring>,
}

impl Journal {
    /// A journal keeping at most `capacity` entries (0 keeps none but still counts).
    pub fn new(capacity: usize) -> Self {
        Journal { capacity, ring: Mutex::new(Ring::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an entry (its `seq` is assigned here), dropping the oldest beyond capacity or
    /// beyond [`MAX_JOURNAL_BYTES`].
    pub fn record(&self, mut entry: JournalEntry) {
        let size = entry.approx_bytes();
        let mut ring = self.lock();
        ring.next_seq += 1;
        entry.seq = ring.next_seq;
        ring.entries.push_back((entry, size));
        ring.bytes += size;
        while ring.entries.len() > self.capacity || (ring.bytes > MAX_JOURNAL_BYTES && ring.entries.len() > 1) {
            if let Some((_, gone)) = ring.entries.pop_front() {
                ring.bytes -= gone;
            }
            ring.dropped += 1;
        }
    }

    /// Entries, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().entries.iter().map(|(e, _)| e.clone()).collect()
    }

    /// Empties the journal (counters too).
    pub fn clear(&self) {
        *self.lock() = Ring::default();
    }

    /// One page of the admin listing: entries filtered by operation and model glob, of those
    /// the newest `limit`, then from the one after `after_seq` on, at most `max_entries` and
    /// about `max_bytes` (at least one); `nextToken` when more remain. Entries are identified
    /// by `seq`, so pages stay in step while new requests arrive.
    pub fn listing(&self, filter: &ListingFilter<'_>, after_seq: u64, max_entries: usize, max_bytes: usize) -> Value {
        let ring = self.lock();
        let mut selected: Vec<&(JournalEntry, usize)> = ring
            .entries
            .iter()
            .filter(|(e, _)| filter.operation.is_none_or(|o| e.request.operation == o))
            .filter(|(e, _)| {
                filter.model.is_none_or(|m| {
                    [&e.request.resolved_model, &e.request.model_id]
                        .iter()
                        .any(|id| id.as_deref().is_some_and(|id| crate::scenario::matcher::glob(m, id)))
                })
            })
            .collect();
        if let Some(limit) = filter.limit {
            let skip = selected.len().saturating_sub(limit);
            selected.drain(..skip);
        }
        let mut page = Vec::new();
        let (mut bytes, mut more) = (0usize, false);
        for (e, size) in selected.into_iter().filter(|(e, _)| e.seq > after_seq) {
            if page.len() == max_entries || (!page.is_empty() && bytes >= max_bytes) {
                more = true;
                break;
            }
            bytes += *size;
            page.push(e);
        }
        let mut listing = json!({
            "entries": page,
            "total": ring.entries.len(),
            "recorded": ring.next_seq,
            "dropped": ring.dropped,
            "capacity": self.capacity,
            "bytes": ring.bytes,
            "maxBytes": MAX_JOURNAL_BYTES,
        });
        if let (true, Some(last)) = (more, page.last()) {
            listing["nextToken"] = json!(super::paging::token("journal", last.seq));
        }
        listing
    }

    /// Counts entries `spec` matches and explains near misses (fewest failed conditions first).
    pub fn verify(&self, spec: &MatchSpec, expected: &CountMatch) -> Verification {
        let ring = self.lock();
        let mut matched = 0;
        let mut misses: Vec<(usize, NearMiss)> = Vec::new();
        for (e, _) in &ring.entries {
            let failed = failures(spec, &e.request);
            if failed.is_empty() {
                matched += 1;
            } else {
                misses.push((
                    failed.len(),
                    NearMiss { seq: e.seq, operation: e.request.operation.clone(), failures: failed },
                ));
            }
        }
        misses.sort_by_key(|(n, m)| (*n, m.seq));
        let ok = expected.matches(matched);
        let near_misses = if ok { Vec::new() } else { misses.into_iter().take(5).map(|(_, m)| m).collect() };
        Verification { ok, matched, near_misses, dropped: ring.dropped }
    }
}

/// A journal entry that failed some conditions.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NearMiss {
    /// Its journal position.
    pub seq: u64,
    /// Its operation.
    pub operation: String,
    /// The conditions it failed.
    pub failures: Vec<String>,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Whether the count satisfied the expectation.
    pub ok: bool,
    /// How many entries matched.
    pub matched: u64,
    /// When not ok: up to five closest entries and what they failed.
    pub near_misses: Vec<NearMiss>,
    /// Entries dropped from the journal (they could not be checked).
    pub dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: &str) -> JournalEntry {
        JournalEntry {
            seq: 0,
            time: std::time::SystemTime::UNIX_EPOCH,
            request_id: String::new(),
            method: "POST".into(),
            path: "/".into(),
            request: MatchInput { operation: op.into(), ..Default::default() },
            invocation_id: None,
            attempt: None,
            answered_by: "synthetic".into(),
            faults: Vec::new(),
            status: 200,
            duration_ms: 0.0,
            body_bytes: 0,
        }
    }

    #[test]
    fn the_journal_keeps_the_newest_entries_and_counts_the_dropped() {
        let j = Journal::new(3);
        for _ in 0..5 {
            j.record(entry("Converse"));
        }
        let listing = j.listing(&ListingFilter::default(), 0, usize::MAX, usize::MAX);
        assert_eq!(listing["total"], 3);
        assert_eq!(listing["dropped"], 2);
        assert_eq!(j.entries().first().map(|e| e.seq), Some(3));
    }

    #[test]
    fn huge_prompts_are_cut_and_the_journal_stays_within_its_bytes() {
        let j = Journal::new(1000);
        for _ in 0..40 {
            let mut text = "x".repeat(30 * 1024 * 1024);
            truncate_text(&mut text, MAX_JOURNALED_TEXT);
            let mut e = entry("Converse");
            e.request.last_user_text = Some(text);
            j.record(e);
        }
        let listing = j.listing(&ListingFilter::default(), 0, usize::MAX, usize::MAX);
        assert!(listing["bytes"].as_u64().unwrap_or(u64::MAX) <= MAX_JOURNAL_BYTES as u64);
        let kept = j.entries();
        assert!(kept[0].request.last_user_text.as_deref().is_some_and(|t| t.ends_with("[truncated: 31457280 bytes]")));
    }

    #[test]
    fn the_listing_pages_by_seq_and_keeps_its_place_while_entries_arrive() {
        let j = Journal::new(100);
        for _ in 0..7 {
            j.record(entry("Converse"));
        }
        let all = ListingFilter::default();
        let first = j.listing(&all, 0, 3, usize::MAX);
        let seqs = |l: &Value| l["entries"].as_array().map(|a| a.iter().map(|e| e["seq"].clone()).collect::<Vec<_>>());
        assert_eq!(seqs(&first), Some(vec![json!(1), json!(2), json!(3)]));
        let token = first["nextToken"].as_str().unwrap_or_default().to_string();
        let after = crate::server::paging::request(&[("nextToken".into(), token)], "journal").map(|p| p.after);
        assert_eq!(after.as_ref().ok(), Some(&3));
        j.record(entry("Converse"));
        let rest = j.listing(&all, 3, 100, usize::MAX);
        assert_eq!(seqs(&rest).map(|s| s.len()), Some(5), "4..=8, the new entry included");
        assert!(rest.get("nextToken").is_none());
        let newest = ListingFilter { limit: Some(2), ..Default::default() };
        assert_eq!(seqs(&j.listing(&newest, 0, 1, usize::MAX)), Some(vec![json!(7)]));
        assert_eq!(
            j.listing(&all, 0, 100, 1)["entries"].as_array().map(Vec::len),
            Some(1),
            "the byte budget ends a page"
        );
    }

    #[test]
    fn credentials_are_redacted() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", http::HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKID/..."));
        h.insert("x-amz-security-token", http::HeaderValue::from_static("secret"));
        h.insert("user-agent", http::HeaderValue::from_static("boto3"));
        let r = crate::scenario::matcher::RequestHeaders::new(h);
        let listed: Vec<(&str, &str)> = r.iter().collect();
        assert!(listed.contains(&("authorization", "REDACTED")));
        assert!(listed.contains(&("x-amz-security-token", "REDACTED")));
        assert!(listed.contains(&("user-agent", "boto3")));
        assert_eq!(r.get("Authorization"), Some("REDACTED"));
        assert_eq!(serde_json::to_value(&r).expect("serialises")[0][0], "authorization");
    }
}
