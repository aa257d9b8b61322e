//! Recording real Bedrock sessions and replaying them.
//!
//! * [`cassette`] — the versioned cassette format (one JSON file per interaction), loading
//!   with located errors, atomic writes.
//! * [`redact`] — what never reaches disk: credentials, signatures, account ids, user patterns.
//! * [`replay`] — answering requests from cassettes (matching, recorded order, timing).
//! * [`import`] — vcrpy / pytest-recording YAML and nock JSON recordings → cassettes.

pub mod cassette;
pub mod import;
pub mod redact;
pub mod replay;
