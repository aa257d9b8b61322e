//! bedrock-emulator: a local Amazon Bedrock that unmodified AWS clients cannot tell apart
//! from the real service.
//!
//! Module map, in layer order: each module may use only the modules listed below it
//! (`tests/layers.rs` fails the build when one imports upward).
//! * [`emulator`] — the library entry point (`Emulator::builder()…start()`).
//! * [`server`] — listener, the request pipeline, the encoder, admin API, journal.
//! * [`auth`] — SigV4 and API-key verification, the credential store.
//! * [`fault`] — fault rules, quotas, attempt counting, stream shapers.
//! * [`record`] — cassettes (format, redaction, import), replay and the recording proxy.
//! * [`api`] — one module per operation: parsing, validation, responder choice, rendering.
//! * [`scenario`] — scripted rules and the file format (rules, faults, quotas).
//! * [`families`] — native InvokeModel formats per model family (parse, render, chunks).
//! * [`synthetic`] — the deterministic built-in model (tokenizer, schema instances).
//! * [`backend`] — service state: the model catalog, created resources per (account, region).
//! * [`plan`] — the Plan, the single currency between emulation and the wire; pacing.
//! * [`canonical`] — the conversation/reply types every format maps onto.
//! * [`wire`] — restJson1 errors and event-stream framing.
//! * [`operations`] — the generated operation table and routing.
//! * [`clock`] — the injected clock.
//! * [`rng`] — stable hashing and seeded randomness.

pub mod api;
pub mod auth;
pub mod backend;
pub mod canonical;
pub mod clock;
pub mod emulator;
pub mod families;
pub mod fault;
pub mod operations;
pub mod plan;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod server;
pub mod synthetic;
pub mod wire;

pub use emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
