//! Emulated service state: the read-only model catalog, and what callers create (guardrails
//! today; custom models, jobs and async invocations as they land) per (account, region).
//!
//! * [`catalog`] — foundation models, system inference profiles, id resolution.
//! * [`state`] — created resources per (account, region), ids, idempotency tokens.
//! * [`paging`] — the `maxResults`/`nextToken` paginator of every listing.
//! * [`guardrails`] — guardrail drafts and versions.
//! * [`invocation_logging`] — the logging configuration and the log records it makes written.
//! * [`tags`] — tags of created resources (Tag/UntagResource, ListTagsForResource).
//! * [`account_settings`] — use case, data retention, resource policies, enforced guardrails, agreements.
//! * [`app_profiles`] — application inference profiles.
//! * [`provisioned`] — provisioned throughput and its lifecycle.
//! * [`customization`] — customization jobs, custom models and their deployments.
//! * [`import_copy`] — custom model import, imported models, model copy.
//! * [`prompt_routers`] — default and created prompt routers.
//! * [`jobs`] — what the simple timed jobs share (completion, stop, batch delete).
//! * [`evaluation`] — model evaluation jobs.
//! * [`marketplace`] — marketplace model endpoints registered with Bedrock.
//! * [`prompt_optimization`] — advanced prompt optimization jobs.
//! * [`reasoning`] — automated reasoning policies, versions and test cases.
//! * [`batch`] — batch inference jobs and their lifecycle.
//! * [`async_invoke`] — asynchronous invocations, their lifecycle and their output.
//! * [`object_store`] — where objects written "to S3" go: a local folder or a real S3 server.
//! * [`guardrail_eval`] — the deterministic guardrail evaluator (ApplyGuardrail's decisions).
//! * [`guardrail_checks`] — InvokeGuardrailChecks' detect-only scores, from the same detectors.

pub mod account_settings;
pub mod app_profiles;
pub mod async_invoke;
pub mod batch;
pub mod catalog;
pub mod customization;
pub mod evaluation;
pub mod guardrail_checks;
pub mod guardrail_eval;
pub mod guardrails;
pub mod import_copy;
pub mod invocation_logging;
pub mod jobs;
pub mod marketplace;
pub mod object_store;
pub mod paging;
pub mod prompt_optimization;
pub mod prompt_routers;
pub mod provisioned;
pub mod reasoning;
pub mod reasoning_check;
pub mod state;
pub mod tags;
