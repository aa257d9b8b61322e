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

/// One message a client sent on a request stream (the bidirectional operation), with its
/// signing envelope taken off.
#[derive(Debug, Clone, PartialEq)]
pub struct InputMessage {
    /// `:message-type` (`event` for every message a client sends).
    pub message_type: String,
    /// `:event-type`, the union member (`chunk`).
    pub event_type: Option<String>,
    /// The payload (`{"bytes": "<base64>"}` for a `chunk`).
    pub payload: Bytes,
}

/// What the next frame of a request stream held.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A message.
    Message(InputMessage),
    /// The signed empty frame that ends a client's input.
    End,
}

/// Why a request stream could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Incremental decoder of request streams. SDKs wrap each message in a signing envelope
/// (`:date`, `:chunk-signature`, the inner frame as payload; SPEC §3.8) and end with an
/// envelope whose payload is empty; a client signing nothing (API keys) sends the messages
/// themselves. Both are read. Frames are length-checked before they are buffered, so a client
/// cannot make the server hold more than [`InputDecoder::MAX_FRAME`] per stream.
#[derive(Debug, Default)]
pub struct InputDecoder {
    buf: bytes::BytesMut,
}

impl InputDecoder {
    /// The longest frame accepted: a 1,000,000-byte `PartBody` in base64 JSON, its envelope
    /// and headers.
    pub const MAX_FRAME: usize = 1_500_000;

    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        InputDecoder::default()
    }

    /// Adds bytes read from the request body.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether bytes of an unfinished frame are buffered.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete frame, if one is buffered.
    pub fn next_input(&mut self) -> Result<Option<Input>, InputError> {
        if self.buf.len() < 12 {
            return Ok(None);
        }
        let total = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if !(16..=Self::MAX_FRAME).contains(&total) {
            return Err(InputError(format!(
                "An event-stream frame of {total} bytes was sent; frames are 16 to {} bytes.",
                Self::MAX_FRAME
            )));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        let outer = read_message_from(frame)
            .map_err(|e| InputError(format!("A malformed event-stream frame was sent: {e}.")))?;
        let signed = outer.headers().iter().any(|h| h.name().as_str() == ":chunk-signature");
        let message = if signed {
            if outer.payload().is_empty() {
                return Ok(Some(Input::End));
            }
            read_message_from(outer.payload().clone())
                .map_err(|e| InputError(format!("A malformed event-stream frame was signed: {e}.")))?
        } else {
            outer
        };
        let header = |name: &str| {
            message.headers().iter().find(|h| h.name().as_str() == name).and_then(|h| match h.value() {
                HeaderValue::String(s) => Some(s.as_str().to_string()),
                _ => None,
            })
        };
        Ok(Some(Input::Message(InputMessage {
            message_type: header(":message-type").unwrap_or_default(),
            event_type: header(":event-type"),
            payload: message.payload().clone(),
        })))
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

    /// A client's chunk event as the SDKs frame it, signed (wrapped in a `:date` +
    /// `:chunk-signature` envelope) or not.
    fn client_frame(payload: &[u8], signed: bool) -> Vec<u8> {
        let inner = Message::new(Bytes::copy_from_slice(payload))
            .add_header(string_header(":event-type", "chunk"))
            .add_header(string_header(":content-type", "application/json"))
            .add_header(string_header(":message-type", "event"));
        let mut out = Vec::new();
        write_message_to(&inner, &mut out).expect("encodes");
        if !signed {
            return out;
        }
        envelope(out)
    }

    fn envelope(payload: Vec<u8>) -> Vec<u8> {
        let outer = Message::new(Bytes::from(payload))
            .add_header(Header::new(
                ":date",
                HeaderValue::Timestamp(aws_smithy_types::DateTime::from_secs(1_700_000_000)),
            ))
            .add_header(Header::new(":chunk-signature", HeaderValue::ByteArray(Bytes::from(vec![7u8; 32]))));
        let mut out = Vec::new();
        write_message_to(&outer, &mut out).expect("encodes");
        out
    }

    #[test]
    fn a_frame_longer_than_the_limit_is_refused_before_it_is_buffered() {
        let mut d = InputDecoder::new();
        let mut prelude = ((InputDecoder::MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        prelude.extend_from_slice(&[0; 8]);
        d.push(&prelude);
        assert!(d.next_input().is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = InputDecoder::new();
        d.push(&[0, 0, 0, 20, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert!(d.next_input().is_err());
    }

    proptest! {
        #[test]
        fn client_frames_decode_however_the_body_is_split(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
            signed in any::<bool>(),
            cut in 1usize..64,
        ) {
            let mut body = Vec::new();
            for p in &payloads {
                body.extend(client_frame(p, signed));
            }
            if signed {
                body.extend(envelope(Vec::new()));
            }
            let mut d = InputDecoder::new();
            let mut got = Vec::new();
            for piece in body.chunks(cut) {
                d.push(piece);
                while let Some(input) = d.next_input().expect("decodes") {
                    got.push(input);
                }
            }
            prop_assert!(!d.has_partial());
            let mut want: Vec<Input> = payloads
                .iter()
                .map(|p| Input::Message(InputMessage {
                    message_type: "event".into(),
                    event_type: Some("chunk".into()),
                    payload: Bytes::copy_from_slice(p),
                }))
                .collect();
            if signed {
                want.push(Input::End);
            }
            prop_assert_eq!(got, want);
        }

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
