//! A stream body produced lazily: steps come from a ready list or from a channel fed as
//! they are produced (a proxied upstream), and pass through shapers (pacing, faults) on the
//! way to the encoder. Nothing is buffered beyond the step being shaped.

use std::collections::VecDeque;
use std::fmt;

use tokio::sync::mpsc;

use super::StreamStep;

/// Whether a shaper lets the stream go on after this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// End the stream after the steps just emitted (the rest of the source is dropped).
    End,
}

/// Rewrites a stream step by step: a step in, zero or more steps out.
pub trait Shaper: Send + fmt::Debug {
    /// Shapes one step, pushing what should be sent instead onto `out`.
    fn shape(&mut self, step: StreamStep, out: &mut Vec<StreamStep>) -> Flow;
}

enum Source {
    Ready(std::vec::IntoIter<StreamStep>),
    Channel(mpsc::Receiver<StreamStep>),
    Done,
}

/// The steps of a stream body, in order, shaped on the way out.
pub struct StepStream {
    source: Source,
    shapers: Vec<Box<dyn Shaper>>,
    queue: VecDeque<StreamStep>,
}

impl fmt::Debug for StepStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Ready(steps) => format!("{} ready steps", steps.len()),
            Source::Channel(_) => "channel".to_string(),
            Source::Done => "done".to_string(),
        };
        f.debug_struct("StepStream").field("source", &source).field("shapers", &self.shapers).finish()
    }
}

impl StepStream {
    /// A stream of steps known in advance.
    pub fn ready(steps: Vec<StreamStep>) -> Self {
        StepStream { source: Source::Ready(steps.into_iter()), shapers: Vec::new(), queue: VecDeque::new() }
    }

    /// A stream fed through a channel; it ends when every sender is dropped.
    pub fn channel(rx: mpsc::Receiver<StreamStep>) -> Self {
        StepStream { source: Source::Channel(rx), shapers: Vec::new(), queue: VecDeque::new() }
    }

    /// Adds a shaper after those already added.
    pub fn shape(&mut self, shaper: Box<dyn Shaper>) {
        self.shapers.push(shaper);
    }

    async fn pull(&mut self) -> Option<StreamStep> {
        match &mut self.source {
            Source::Ready(steps) => steps.next(),
            Source::Channel(rx) => rx.recv().await,
            Source::Done => None,
        }
    }

    /// The next step to send, or `None` at the end of the body.
    pub async fn next(&mut self) -> Option<StreamStep> {
        loop {
            if let Some(step) = self.queue.pop_front() {
                return Some(step);
            }
            let step = self.pull().await?;
            if self.shapers.is_empty() {
                return Some(step);
            }
            let mut items = vec![step];
            let mut ended = false;
            for shaper in &mut self.shapers {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if shaper.shape(item, &mut out) == Flow::End {
                        ended = true;
                        break;
                    }
                }
                items = out;
            }
            self.queue.extend(items);
            if ended {
                // Dropping a channel's receiver tells its producer to stop.
                self.source = Source::Done;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StreamAction;

    #[derive(Debug)]
    struct EndAfter(usize);
    impl Shaper for EndAfter {
        fn shape(&mut self, step: StreamStep, out: &mut Vec<StreamStep>) -> Flow {
            out.push(step);
            self.0 -= 1;
            if self.0 == 0 {
                Flow::End
            } else {
                Flow::Continue
            }
        }
    }

    #[tokio::test]
    async fn a_shaper_can_end_a_channel_stream_and_stop_its_producer() {
        let (tx, rx) = mpsc::channel(1);
        let producer = tokio::spawn(async move {
            let mut sent = 0;
            while tx.send(StreamStep::action(StreamAction::Abort)).await.is_ok() {
                sent += 1;
            }
            sent
        });
        let mut s = StepStream::channel(rx);
        s.shape(Box::new(EndAfter(3)));
        let mut n = 0;
        while s.next().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
        drop(s);
        let sent = producer.await.expect("producer ends");
        assert!(sent >= 3, "{sent}");
    }
}
