//! `application/vnd.amazon.eventstream` framing (SPEC §3).
//!
//! The only module that touches `aws-smithy-eventstream`, an unstable 0.x crate: if its API
//! moves, this file is the whole blast radius. Frames are built with the header order real
//! Bedrock uses (`:event-type`, `:content-type`, `:message-type`; exceptions:
//! `:exception-type`, `:content-type`, `:message-type`).

use aws_smithy_eventstream::frame::read_message_from;
#[cfg(test)]
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::HeaderValue;
#[cfg(test)]
use aws_smithy_types::event_stream::{Header, Message};
use bytes::Bytes;

/// One frame the server sends inside an event-stream response.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `:message-type: event` with the union member name and its JSON payload.
    Event {
        /// `:event-type`, e.g. `contentBlockDelta` or `chunk` (borrowed when it is one of
        /// the modelled names: a stream writes it on every frame).
        event_type: std::borrow::Cow<'static, str>,
        /// JSON-serialised event structure.
        payload: Bytes,
    },
    /// `:message-type: exception` with the lower-camel exception member name.
    Exception {
        /// `:exception-type`, e.g. `throttlingException`.
        exception_type: String,
        /// JSON-serialised exception structure (`{"message": …}`).
        payload: Bytes,
    },
}

/// Encoding failed (a header name over 255 bytes or a value over 64 KiB — never for frames
/// the emulator builds, but scenario authors write event names).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode event-stream frame: {0}")]
pub struct EncodeError(String);

#[cfg(test)]
fn string_header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_string().into()))
}

impl Frame {
    /// Encodes the frame to its wire bytes (prelude, headers, payload, both CRCs).
    ///
    /// Written here rather than through `aws-smithy-eventstream`'s `write_message_to`: a
    /// paced stream encodes every token's frame, and building its `Message` (owned header
    /// names and values) cost several times the framing itself (`bench-pinned`). A proptest
    /// holds the bytes equal to the crate's encoder, and the crate decodes them.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let (kind_name, kind, message_type, payload) = match self {
            Frame::Event { event_type, payload } => (":event-type", event_type.as_ref(), "event", payload),
            Frame::Exception { exception_type, payload } => {
                (":exception-type", exception_type.as_str(), "exception", payload)
            }
        };
        let headers = [(kind_name, kind), (":content-type", "application/json"), (":message-type", message_type)];
        let mut headers_len = 0usize;
        for (name, value) in headers {
            if name.len() > 255 || value.len() > usize::from(u16::MAX) {
                return Err(EncodeError(format!("header {name} is too long")));
            }
            // name length, name, type byte (7 = string), value length, value
            headers_len += 1 + name.len() + 1 + 2 + value.len();
        }
        let total = 12 + headers_len + payload.len() + 4;
        let total32 = u32::try_from(total).map_err(|_| EncodeError("frame larger than 4 GiB".into()))?;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&total32.to_be_bytes());
        out.extend_from_slice(&(headers_len as u32).to_be_bytes());
        // One running CRC: the message CRC covers the prelude and its CRC too.
        let mut crc = crc32fast::Hasher::new();
        crc.update(&out);
        let prelude_crc = crc.clone().finalize();
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        for (name, value) in headers {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
            out.push(7);
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(payload);
        crc.update(&out[8..]);
        let message_crc = crc.finalize();
        out.extend_from_slice(&message_crc.to_be_bytes());
        Ok(Bytes::from(out))
    }

    /// The same bytes through `aws-smithy-eventstream` (the reference the encoder is held to).
    #[cfg(test)]
    fn encode_with_crate(&self) -> Bytes {
        let message = match self {
            Frame::Event { event_type, payload } => Message::new(payload.clone())
                .add_header(string_header(":event-type", event_type))
                .add_header(string_header(":content-type", "application/json"))
                .add_header(string_header(":message-type", "event")),
            Frame::Exception { exception_type, payload } => Message::new(payload.clone())
                .add_header(string_header(":exception-type", exception_type))
                .add_header(string_header(":content-type", "application/json"))
                .add_header(string_header(":message-type", "exception")),
        };
        let mut out = Vec::new();
        write_message_to(&message, &mut out).expect("the crate encodes");
        Bytes::from(out)
    }

    /// Decodes one complete frame; used by tests and by tools that read recorded streams.
    pub fn decode(bytes: &[u8]) -> Result<Frame, EncodeError> {
        let message = read_message_from(bytes).map_err(|e| EncodeError(e.to_string()))?;
        let header = |name: &str| {
            message.headers().iter().find(|h| h.name().as_str() == name).and_then(|h| match h.value() {
                HeaderValue::String(s) => Some(s.as_str().to_string()),
                _ => None,
            })
        };
        let payload = message.payload().clone();
        match header(":message-type").as_deref() {
            Some("event") => Ok(Frame::Event {
                event_type: header(":event-type").ok_or_else(|| EncodeError("no :event-type".into()))?.into(),
                payload,
            }),
            Some("exception") => Ok(Frame::Exception {
                exception_type: header(":exception-type").ok_or_else(|| EncodeError("no :exception-type".into()))?,
                payload,
            }),
            other => Err(EncodeError(format!("unsupported :message-type {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The annotated `messageStop` frame of SPEC §3.1, recorded from real Bedrock.
    const RECORDED_MESSAGE_STOP: &str = "000000860000005147e8fb390b3a6576656e742d747970650700\
0b6d65737361676553746f700d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a\
6d6573736167652d747970650700056576656e747b2270223a226162636465222c2273746f70526561736f6e223a22\
656e645f7475726e227d292761a1";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0)).collect()
    }

    #[test]
    fn encoding_reproduces_a_recorded_bedrock_frame_byte_for_byte() {
        let frame = Frame::Event {
            event_type: "messageStop".into(),
            payload: Bytes::from_static(br#"{"p":"abcde","stopReason":"end_turn"}"#),
        };
        let encoded = frame.encode().expect("encodes");
        assert_eq!(encoded.as_ref(), unhex(RECORDED_MESSAGE_STOP).as_slice());
    }

    proptest! {
        #[test]
        fn any_event_frame_round_trips(event_type in "[a-zA-Z]{1,40}", payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let frame = Frame::Event { event_type: event_type.into(), payload: Bytes::from(payload) };
            let bytes = frame.encode().expect("encodes");
            prop_assert_eq!(&bytes, &frame.encode_with_crate());
            prop_assert_eq!(Frame::decode(&bytes).expect("decodes"), frame);
        }

        #[test]
        fn any_exception_frame_round_trips(exception_type in "[a-zA-Z]{1,40}", message in ".{0,200}") {
            let payload = serde_json::to_vec(&serde_json::json!({"message": message})).expect("json");
            let frame = Frame::Exception { exception_type, payload: Bytes::from(payload) };
            let bytes = frame.encode().expect("encodes");
            prop_assert_eq!(&bytes, &frame.encode_with_crate());
            prop_assert_eq!(Frame::decode(&bytes).expect("decodes"), frame);
        }
    }
}
