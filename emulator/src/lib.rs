//! bedrock-emulator: a local Amazon Bedrock that unmodified AWS clients cannot tell apart
//! from the real service.
//!
//! Module map (dependencies point down only):
//! * [`emulator`] — the library entry point (`Emulator::builder()…start()`).
//! * [`server`] — listener, routing table (`server::router`), admin API (`server::admin`).
//! * [`api`] — one module per operation: parsing, validation, output bodies.
//! * [`families`] — native InvokeModel formats per model family (parse, render, chunks).
//! * [`scenario`] — scripted rules (files, admin API, Rust builder) consulted before the synthetic model.
//! * [`backend`] — service state: the model catalog and id resolution.
//! * [`synthetic`] — the deterministic built-in model (tokenizer, schema instances).
//! * [`canonical`] — the conversation/reply types every format maps onto.
//! * [`plan`] — the Plan, the single currency between emulation and the wire.
//! * [`wire`] — restJson1 errors, event-stream framing, the Plan encoder.
//! * [`rng`] — stable hashing and seeded randomness.

pub mod api;
pub mod backend;
pub mod canonical;
pub mod emulator;
pub mod families;
pub mod plan;
pub mod rng;
pub mod scenario;
pub mod server;
pub mod synthetic;
pub mod wire;

pub use emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
