//! `bedrock-harness bench-pacing`: how closely paced streams keep their configured timing,
//! event by event, as aws-sdk-bedrockruntime receives them.
//!
//! A scripted reply of identical two-token text deltas ("alpha beta " …) paced by a `pace`
//! fault makes every expected time exact: the first delta at `firstTokenMs + 2/rate`, each
//! later delta `2/rate` after the one before. Errors are measured − configured, reported as
//! medians and 99th percentiles of their absolute values.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use super::load;
use super::process::EmulatorProcess;
use crate::cases::user;
use crate::target::{clients, Target};

/// Configured time to first token, in milliseconds.
pub const FIRST_TOKEN_MS: u64 = 200;
/// Configured tokens per second.
pub const TOKENS_PER_SECOND: f64 = 100.0;
/// Text deltas per stream (two tokens each).
const DELTAS: usize = 50;

/// What one run measured, in milliseconds.
#[derive(Debug, Default)]
pub struct Report {
    /// Streams measured.
    pub streams: usize,
    /// Measured − configured time to the first text delta, per stream.
    pub ttft_errors_ms: Vec<f64>,
    /// Measured − configured gap between consecutive text deltas, every gap of every stream.
    pub gap_errors_ms: Vec<f64>,
}

fn abs_percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().map(|x| x.abs()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

async fn script(emulator: &EmulatorProcess) -> anyhow::Result<()> {
    let text: Vec<&str> = ["alpha", "beta"].iter().copied().cycle().take(DELTAS * 2).collect();
    let doc = json!({
        "version": 1,
        "name": "bench-pacing",
        "rules": [{"name": "uniform", "match": {"operation": "ConverseStream"}, "reply": {"text": text.join(" ")}}],
        "faults": [{"name": "bench-pacing", "match": {"operation": "ConverseStream"},
                    "inject": {"pace": {"firstTokenMs": FIRST_TOKEN_MS, "tokensPerSecond": TOKENS_PER_SECOND}}}]
    });
    let addr = emulator.addr();
    let mut sender = load::connect(addr).await?;
    let (status, body) =
        load::fetch(&mut sender, addr, Method::POST, "/_emulator/scenarios", Bytes::from(doc.to_string())).await?;
    if status != StatusCode::CREATED {
        bail!("POST /_emulator/scenarios answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// Arrival time of each text delta, from just before the request was sent.
async fn one_stream(rt: &aws_sdk_bedrockruntime::Client) -> anyhow::Result<Vec<Duration>> {
    use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
    let started = Instant::now();
    let mut out = rt
        .converse_stream()
        .model_id(super::MODEL_ID)
        .messages(user("Pace me."))
        .send()
        .await
        .context("ConverseStream failed")?;
    let mut arrivals = Vec::new();
    while let Some(event) = out.stream.recv().await.context("reading the stream failed")? {
        if let ConverseStreamOutput::ContentBlockDelta(_) = event {
            arrivals.push(started.elapsed());
        }
    }
    Ok(arrivals)
}

/// Measures `streams` streams one after another.
pub async fn run(emulator: &EmulatorProcess, streams: usize) -> anyhow::Result<Report> {
    script(emulator).await?;
    let rt = clients(&Target::Emulator { endpoint: format!("http://{}", emulator.addr()) }).await.runtime;
    // One unmeasured stream: the first connection and the client's own set-up are not pacing.
    one_stream(&rt).await?;
    let gap = 2.0 / TOKENS_PER_SECOND * 1000.0;
    let first = FIRST_TOKEN_MS as f64 + gap;
    let mut report = Report { streams, ..Report::default() };
    for _ in 0..streams {
        let arrivals = one_stream(&rt).await?;
        if arrivals.len() != DELTAS {
            bail!("expected {DELTAS} text deltas, got {}", arrivals.len());
        }
        let ms: Vec<f64> = arrivals.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        report.ttft_errors_ms.push(ms[0] - first);
        report.gap_errors_ms.extend(ms.windows(2).map(|w| (w[1] - w[0]) - gap));
    }
    Ok(report)
}

impl Report {
    /// The human-readable summary.
    pub fn table(&self) -> String {
        let f = |v: Option<f64>| v.map_or("?".to_string(), |x| format!("{x:.3} ms"));
        let gap = 2.0 / TOKENS_PER_SECOND * 1000.0;
        format!(
            "bedrock-harness bench-pacing: {} streams of {DELTAS} two-token deltas, pace firstTokenMs {FIRST_TOKEN_MS}, tokensPerSecond {TOKENS_PER_SECOND}\n\
             TTFT: configured {:.1} ms; error median |e| {}, p99 |e| {}, mean e {}\n\
             inter-event gap: configured {gap:.1} ms; error median |e| {}, p99 |e| {}, mean e {} ({} gaps)\n",
            self.streams,
            FIRST_TOKEN_MS as f64 + gap,
            f(abs_percentile(&self.ttft_errors_ms, 0.5)),
            f(abs_percentile(&self.ttft_errors_ms, 0.99)),
            f(mean(&self.ttft_errors_ms)),
            f(abs_percentile(&self.gap_errors_ms, 0.5)),
            f(abs_percentile(&self.gap_errors_ms, 0.99)),
            f(mean(&self.gap_errors_ms)),
            self.gap_errors_ms.len(),
        )
    }

    /// The machine-readable summary.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "streams": self.streams,
            "ttft_configured_ms": FIRST_TOKEN_MS as f64 + 2.0 / TOKENS_PER_SECOND * 1000.0,
            "ttft_median_abs_error_ms": abs_percentile(&self.ttft_errors_ms, 0.5),
            "ttft_p99_abs_error_ms": abs_percentile(&self.ttft_errors_ms, 0.99),
            "gap_configured_ms": 2.0 / TOKENS_PER_SECOND * 1000.0,
            "gap_median_abs_error_ms": abs_percentile(&self.gap_errors_ms, 0.5),
            "gap_p99_abs_error_ms": abs_percentile(&self.gap_errors_ms, 0.99),
            "gaps": self.gap_errors_ms.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_of_absolute_errors() {
        let v = [-3.0, 1.0, -2.0];
        assert_eq!(abs_percentile(&v, 0.5), Some(2.0));
        assert_eq!(abs_percentile(&v, 1.0), Some(3.0));
        assert_eq!(abs_percentile(&[], 0.5), None);
    }
}
