//! Emulated service state. For now the read-only model catalog; guardrails, custom models,
//! jobs and async invocations join it per (account, region) in later issues.

pub mod catalog;
