//! Recording real Bedrock sessions and replaying them.
//!
//! * [`cassette`] — the versioned cassette format (one JSON file per interaction), loading
//!   with located errors, atomic writes.
//! * [`redact`] — what never reaches disk: credentials, signatures, account ids, user patterns.
//! * [`replay`] — answering requests from cassettes (matching, recorded order, timing).
//! * [`proxy`] — the recording proxy to live Bedrock (re-signing, streaming while recording).
//! * [`stream_file`] — stream cassettes written frame by frame as they pass.
//! * [`import`] — other tools' recordings (VCR.py / pytest-recording YAML, nock JSON,
//!   aws-smithy dvr JSON) → cassettes; non-Bedrock interactions are reported as skipped.

pub mod cassette;
pub mod import;
pub mod proxy;
pub mod redact;
pub mod replay;
pub mod stream_file;
