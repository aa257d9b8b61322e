//! The wire layer: restJson1 errors and event-stream framing.
//! Knows nothing of Bedrock semantics.

pub mod error;
pub mod event_stream;
pub mod json;
