//! Scripted replies: scenario files and rules built in code, matched against requests before
//! the synthetic model answers.
//!
//! * [`document`] — size and nesting limits of user documents, checked before parsing.
//! * [`format`] — the versioned file format (YAML/JSON) with located errors.
//! * [`fault_format`] — the file format's `faults:` and `quotas:` lists.
//! * [`matcher`] — evaluating a match spec against a request, with failure reasons.
//! * [`engine`] — the ordered rule set, sequences, named-scenario states and counters.
//! * [`loader`] — reading files and directories, and hot reload by polling.
//! * [`mapping`] — the format's structures are read from mappings only.
//! * [`request_body`] — the request body, parsed as JSON only when something reads it.
//! * [`yaml_depth`] — YAML flow nesting as libyaml's scanner sees it, in one linear pass.
//! * [`builder`] — the Rust API (`Rule::new(…).when(…).reply(…)`).
//!
//! This module knows nothing of HTTP or model formats: it decides *which* reply spec answers;
//! `api::respond` renders it for the operation, through the same renderers as the synthetic model.

pub mod builder;
pub mod document;
pub mod engine;
pub mod fault_format;
pub mod format;
pub mod loader;
pub mod mapping;
pub mod matcher;
pub mod request_body;
pub mod yaml_depth;

pub use builder::{Match, Reply, Rule, Times};
pub use engine::{Decision, Engine};
pub use format::{LoadError, MatchSpec, ReplySpec, RuleSpec, ScenarioFile};
pub use matcher::MatchInput;
pub use request_body::RequestBody;
