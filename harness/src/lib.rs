//! bedrock-harness: conformance cases that drive the real AWS SDK for Rust against a Bedrock
//! endpoint — the emulator or live AWS — plus a load benchmark.
//!
//! Module map:
//! * [`target`] — where to send requests and how the SDK clients are built.
//! * [`case`] — the `Case` type, assertion helpers and SDK-error inspection.
//! * [`cases`] — the named conformance cases, grouped by operation.
//! * [`report`] — the result table and JUnit XML.
//! * [`h2c`] — an SDK HTTP client speaking cleartext HTTP/2 (the bidirectional operation).
//! * [`parity`] — parity snapshots of normalised responses (`--snapshot` / `--compare`).
//! * [`bench`] — `bedrock-harness bench`: raw-hyper load against the release emulator and a
//!   bare hyper baseline.
//!
//! The harness never imports emulator internals: it sees Bedrock the way users do.

pub mod bench;
pub mod case;
pub mod cases;
pub mod h2c;
pub mod parity;
pub mod report;
pub mod target;

pub use case::{Case, Ctx, Outcome};
pub use target::Target;

/// Runs `cases` sequentially against `ctx`, skipping emulator-only cases against AWS.
pub async fn run_cases(ctx: std::sync::Arc<Ctx>, cases: &[Case]) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(cases.len());
    for case in cases {
        outcomes.push(case.run(ctx.clone()).await);
    }
    outcomes
}
