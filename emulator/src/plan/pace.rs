//! The pacing formula, in one place: a delay before the first token, then each token at a
//! steady rate. Scenario `timing` and the `pace` fault are both this.

use std::time::Duration;

use super::stream::{Flow, Shaper};
use super::StreamStep;

/// Time to first token and generation speed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pace {
    /// Before the first step that carries tokens (streams) / added to the head delay (unary).
    pub first_token: Duration,
    /// Tokens per second; 0 means no per-token delay.
    pub tokens_per_second: f64,
}

impl Pace {
    /// A pace from the file format's units (milliseconds, tokens per second).
    pub fn from_ms(first_token_ms: u64, tokens_per_second: f64) -> Self {
        Pace { first_token: Duration::from_millis(first_token_ms), tokens_per_second }
    }

    /// Time to generate `tokens` at the rate (excluding the first-token delay).
    pub fn tokens_time(&self, tokens: u32) -> Duration {
        if self.tokens_per_second > 0.0 && self.tokens_per_second.is_finite() {
            Duration::from_secs_f64((f64::from(tokens) / self.tokens_per_second).min(86_400.0))
        } else {
            Duration::ZERO
        }
    }

    /// The delay before a unary response that reports `output_tokens`.
    pub fn unary_delay(&self, output_tokens: u32) -> Duration {
        self.first_token + self.tokens_time(output_tokens)
    }

    /// A shaper applying this pace to a stream.
    pub fn shaper(self) -> Pacer {
        Pacer { pace: self, first: true }
    }
}

/// Spaces stream steps by their tokens: `first_token` before the first step carrying tokens,
/// then each such step waits for its tokens at the rate. Steps without tokens pass at once.
#[derive(Debug)]
pub struct Pacer {
    pace: Pace,
    first: bool,
}

impl Shaper for Pacer {
    fn shape(&mut self, mut step: StreamStep, out: &mut Vec<StreamStep>) -> Flow {
        if matches!(step.action, crate::plan::StreamAction::Turn) {
            self.first = true;
        } else if step.tokens > 0 {
            let mut delay = self.pace.tokens_time(step.tokens);
            if std::mem::take(&mut self.first) {
                delay += self.pace.first_token;
            }
            step.delay = delay;
        }
        out.push(step);
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{StepStream, StreamAction};

    #[tokio::test]
    async fn the_first_token_waits_then_tokens_come_at_the_rate() {
        let pace = Pace { first_token: Duration::from_millis(200), tokens_per_second: 10.0 };
        let mut s = StepStream::ready(vec![
            StreamStep::action(StreamAction::Abort),
            StreamStep { tokens: 2, ..StreamStep::action(StreamAction::Abort) },
            StreamStep { tokens: 5, ..StreamStep::action(StreamAction::Abort) },
        ]);
        s.shape(Box::new(pace.shaper()));
        let mut delays = Vec::new();
        while let Some(step) = s.next().await {
            delays.push(step.delay.as_millis());
        }
        assert_eq!(delays, vec![0, 400, 500]);
        assert_eq!(pace.unary_delay(5), Duration::from_millis(700));
    }
}
