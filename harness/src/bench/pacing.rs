//! Pacing accuracy: the `pace` fault's configured time to first token and tokens per second
//! against what a real client (aws-sdk-bedrockruntime) measures, event by event.
//!
//! Two sub-phases, each isolating one parameter so the measurement is clean:
//! * TTFT: `{firstTokenMs: F, tokensPerSecond: 0}` — the first text delta should arrive after F;
//! * rate: `{firstTokenMs: 0, tokensPerSecond: T}` — every text delta waits for its tokens, so
//!   the last one arrives after `outputTokens / T` (`outputTokens` from the stream's metadata).

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper::{Method, StatusCode};

use super::load;
use super::process::EmulatorProcess;
use crate::cases::user;
use crate::target::{clients, Target};

/// Configured time to first token for the TTFT sub-phase.
pub const TTFT_MS: u64 = 250;
/// Configured tokens per second for the rate sub-phase.
pub const TOKENS_PER_SECOND: f64 = 200.0;
/// Streams per sub-phase.
pub const STREAMS: usize = 5;

/// What the pacing phase measured.
#[derive(Debug, Clone, Default)]
pub struct PacingResult {
    /// Time to the first text delta, per stream (TTFT sub-phase).
    pub ttft: Vec<Duration>,
    /// Output tokens ÷ time to the last text delta, per stream (rate sub-phase).
    pub tokens_per_second: Vec<f64>,
}

impl PacingResult {
    /// Mean measured TTFT in milliseconds.
    pub fn mean_ttft_ms(&self) -> Option<f64> {
        (!self.ttft.is_empty())
            .then(|| self.ttft.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / self.ttft.len() as f64)
    }

    /// Mean measured tokens per second.
    pub fn mean_tokens_per_second(&self) -> Option<f64> {
        (!self.tokens_per_second.is_empty())
            .then(|| self.tokens_per_second.iter().sum::<f64>() / self.tokens_per_second.len() as f64)
    }
}

async fn set_pace(emulator: &EmulatorProcess, first_token_ms: u64, tokens_per_second: f64) -> anyhow::Result<()> {
    let addr = emulator.addr();
    let mut sender = load::connect(addr).await?;
    let rule = format!(
        r#"{{"name": "bench-pace", "match": {{"operation": "ConverseStream"}}, "inject": {{"pace": {{"firstTokenMs": {first_token_ms}, "tokensPerSecond": {tokens_per_second}}}}}}}"#
    );
    let (status, body) = load::fetch(&mut sender, addr, Method::POST, "/_emulator/faults", Bytes::from(rule)).await?;
    if status != StatusCode::CREATED {
        bail!("POST /_emulator/faults answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// One stream: (time to first text delta, time to last text delta, output tokens).
async fn one_stream(rt: &aws_sdk_bedrockruntime::Client) -> anyhow::Result<(Duration, Duration, u32)> {
    use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
    let started = Instant::now();
    let mut out = rt
        .converse_stream()
        .model_id(super::MODEL_ID)
        .messages(user("Tell me a story about pacing, benchmarks and patience, in some detail please."))
        .send()
        .await
        .context("ConverseStream failed")?;
    let (mut first, mut last, mut tokens) = (None, Duration::ZERO, 0);
    while let Some(event) = out.stream.recv().await.context("reading the stream failed")? {
        match event {
            ConverseStreamOutput::ContentBlockDelta(_) => {
                let now = started.elapsed();
                first.get_or_insert(now);
                last = now;
            }
            ConverseStreamOutput::Metadata(m) => tokens = m.usage().map_or(0, |u| u.output_tokens as u32),
            _ => {}
        }
    }
    Ok((first.context("the stream had no text delta")?, last, tokens))
}

/// Runs both sub-phases against a running emulator (its other faults are left alone).
pub async fn run(emulator: &EmulatorProcess) -> anyhow::Result<PacingResult> {
    let rt = clients(&Target::Emulator { endpoint: format!("http://{}", emulator.addr()) }).await.runtime;
    let mut result = PacingResult::default();
    set_pace(emulator, TTFT_MS, 0.0).await?;
    for _ in 0..STREAMS {
        result.ttft.push(one_stream(&rt).await?.0);
    }
    set_pace(emulator, 0, TOKENS_PER_SECOND).await?;
    for _ in 0..STREAMS {
        let (_, last, tokens) = one_stream(&rt).await?;
        if last > Duration::ZERO && tokens > 0 {
            result.tokens_per_second.push(f64::from(tokens) / last.as_secs_f64());
        }
    }
    Ok(result)
}
