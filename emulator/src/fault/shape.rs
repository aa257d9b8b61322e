//! Stream faults as shapers: after N events of any stream (synthetic, scripted, replayed),
//! send an exception, drop the connection, end early, corrupt a frame or stall.

use std::time::Duration;

use bytes::Bytes;

use crate::plan::{Flow, Shaper, StreamAction, StreamStep};
use crate::scenario::fault_format::{Stall, StreamFault, StreamThen};
use crate::wire::error::BedrockError;
use crate::wire::event_stream::Frame;

/// Applies one stream fault.
#[derive(Debug)]
pub struct AfterEvents {
    after: u64,
    then: StreamThen,
    seen: u64,
    done: bool,
}

impl AfterEvents {
    /// The shaper for `fault`.
    pub fn new(fault: &StreamFault) -> Self {
        AfterEvents { after: fault.after_events, then: fault.then.clone(), seen: 0, done: false }
    }
}

/// The frame's bytes with its message CRC (the last four bytes) broken.
pub fn corrupted(frame: &Frame) -> Bytes {
    let mut bytes = frame.encode().map(|b| b.to_vec()).unwrap_or_default();
    if let Some(last) = bytes.last_mut() {
        *last ^= 0xFF;
    }
    Bytes::from(bytes)
}

impl Shaper for AfterEvents {
    fn shape(&mut self, mut step: StreamStep, out: &mut Vec<StreamStep>) -> Flow {
        let is_event = matches!(step.action, StreamAction::Frame(_));
        if self.done || !is_event || self.seen < self.after {
            self.seen += u64::from(is_event);
            out.push(step);
            return Flow::Continue;
        }
        self.done = true;
        match &self.then {
            StreamThen::Exception(e) => {
                let error = BedrockError::modelled(e.code.0 .0, e.message.as_deref());
                out.push(StreamStep { delay: step.delay, ..StreamStep::frame(error.stream_frame()) });
                Flow::End
            }
            StreamThen::Abort => {
                out.push(StreamStep { delay: step.delay, ..StreamStep::action(StreamAction::Abort) });
                Flow::End
            }
            StreamThen::Truncate => Flow::End,
            StreamThen::Corrupt => {
                if let StreamAction::Frame(frame) = &step.action {
                    out.push(StreamStep {
                        delay: step.delay,
                        ..StreamStep::action(StreamAction::Raw(corrupted(frame)))
                    });
                }
                Flow::End
            }
            StreamThen::Stall(Stall::For { ms }) => {
                step.delay += Duration::from_millis(*ms);
                self.seen += 1;
                out.push(step);
                Flow::Continue
            }
            StreamThen::Stall(Stall::Forever) => {
                out.push(StreamStep { delay: step.delay, ..StreamStep::action(StreamAction::Stall) });
                Flow::End
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StepStream;
    use crate::scenario::fault_format::FaultSpec;
    use crate::scenario::format::parse_fault;

    fn event(n: u8) -> StreamStep {
        StreamStep::frame(Frame::Event { event_type: "chunk".into(), payload: Bytes::from(vec![b'{', n, b'}']) })
    }

    async fn run(fault_yaml: &str, events: u8) -> Vec<StreamStep> {
        let spec: FaultSpec = parse_fault("t", fault_yaml).expect("valid");
        let crate::scenario::fault_format::Inject::Stream(fault) = &spec.inject else { panic!("stream fault") };
        let mut s = StepStream::ready((0..events).map(event).collect());
        s.shape(Box::new(AfterEvents::new(fault)));
        let mut out = Vec::new();
        while let Some(step) = s.next().await {
            out.push(step);
        }
        out
    }

    #[tokio::test]
    async fn an_exception_replaces_the_event_after_n_and_ends_the_stream() {
        let out = run("inject: {stream: {afterEvents: 2, then: {exception: {type: ThrottlingException}}}}", 5).await;
        assert_eq!(out.len(), 3);
        match &out[2].action {
            StreamAction::Frame(Frame::Exception { exception_type, .. }) => {
                assert_eq!(exception_type, "throttlingException")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn truncate_ends_cleanly_and_abort_drops() {
        assert_eq!(run("inject: {stream: {afterEvents: 1, then: {truncate: {}}}}", 5).await.len(), 1);
        let out = run("inject: {stream: {afterEvents: 0, then: {abort: {}}}}", 5).await;
        assert!(matches!(out.as_slice(), [StreamStep { action: StreamAction::Abort, .. }]));
    }

    #[tokio::test]
    async fn a_corrupt_frame_fails_its_crc_check() {
        let out = run("inject: {stream: {afterEvents: 1, then: {corrupt: {}}}}", 3).await;
        let StreamAction::Raw(bytes) = &out[1].action else { panic!("raw") };
        assert!(Frame::decode(bytes).is_err());
    }

    #[tokio::test]
    async fn a_timed_stall_delays_one_event_and_goes_on() {
        let out = run("inject: {stream: {afterEvents: 1, then: {stall: {ms: 250}}}}", 3).await;
        let delays: Vec<u128> = out.iter().map(|s| s.delay.as_millis()).collect();
        assert_eq!(delays, vec![0, 250, 0]);
    }
}
