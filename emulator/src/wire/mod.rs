//! The wire layer: restJson1 errors, event-stream framing, and the Plan encoder.
//! Knows nothing of Bedrock semantics.

pub mod error;
pub mod event_stream;
pub mod response;
