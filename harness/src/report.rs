//! The human-readable result table and JUnit XML.

use std::fmt::Write;

use crate::case::{Outcome, Status};

/// Counts of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Passed cases.
    pub passed: usize,
    /// Failed cases.
    pub failed: usize,
    /// Skipped cases.
    pub skipped: usize,
}

/// Tallies outcomes.
pub fn totals(outcomes: &[Outcome]) -> Totals {
    let mut t = Totals::default();
    for o in outcomes {
        match o.status {
            Status::Passed => t.passed += 1,
            Status::Failed(_) => t.failed += 1,
            Status::Skipped(_) => t.skipped += 1,
        }
    }
    t
}

/// A fixed-width table, one row per case, failures explained below their row, and a closing
/// `N passed, N failed, N skipped` line.
pub fn table(target: &str, outcomes: &[Outcome]) -> String {
    let width = outcomes.iter().map(|o| o.name.len()).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(out, "conformance suite against {target}");
    let _ = writeln!(out, "{:<16} {:<width$} {:>8}  result", "group", "case", "ms");
    for o in outcomes {
        let (result, detail) = match &o.status {
            Status::Passed => ("PASS", None),
            Status::Failed(why) => ("FAIL", Some(why)),
            Status::Skipped(why) => ("SKIP", Some(why)),
        };
        let _ = writeln!(out, "{:<16} {:<width$} {:>8}  {result}", o.group, o.name, o.elapsed.as_millis());
        if let Some(d) = detail {
            let _ = writeln!(out, "{:<16}   └─ {d}", "");
        }
    }
    let t = totals(outcomes);
    let _ = writeln!(out, "harness: {} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped);
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JUnit XML (one testsuite, one testcase per case).
pub fn junit(target: &str, outcomes: &[Outcome]) -> String {
    let t = totals(outcomes);
    let total: f64 = outcomes.iter().map(|o| o.elapsed.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"bedrock-harness ({})\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{total:.3}\">",
        xml_escape(target),
        outcomes.len(),
        t.failed,
        t.skipped
    );
    for o in outcomes {
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            o.group,
            o.name,
            o.elapsed.as_secs_f64()
        );
        match &o.status {
            Status::Passed => out.push_str("/>\n"),
            Status::Failed(why) => {
                let _ = writeln!(out, ">\n    <failure message=\"{}\"/>\n  </testcase>", xml_escape(why));
            }
            Status::Skipped(why) => {
                let _ = writeln!(out, ">\n    <skipped message=\"{}\"/>\n  </testcase>", xml_escape(why));
            }
        }
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn junit_escapes_failure_messages() {
        let o = Outcome {
            name: "x",
            group: "g",
            status: Status::Failed("a<b & \"c\"".into()),
            elapsed: Duration::from_millis(5),
        };
        let xml = junit("t", &[o]);
        assert!(xml.contains("failures=\"1\""));
        assert!(xml.contains("a&lt;b &amp; &quot;c&quot;"));
    }
}
