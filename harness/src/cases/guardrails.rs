//! Control plane, guardrails: the lifecycle of a guardrail and its versions, and the errors
//! AWS answers for unknown ids and bad input. Names carry a per-run suffix, so the cases can
//! run side by side and against a real account (each deletes what it created).

use std::sync::Arc;

use aws_sdk_bedrock::types::{
    GuardrailContentFilterConfig, GuardrailContentFilterType, GuardrailContentPolicyConfig, GuardrailFilterStrength,
};

use crate::case::{expect_error, expect_error_containing, sdk, Case, CaseResult, Ctx};
use crate::{case, ensure, ensure_eq};

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![
        case!("Guardrails", a_guardrail_lives_through_create_version_update_and_delete),
        case!("Guardrails", get_guardrail_of_an_unknown_id_is_not_found),
        case!("Guardrails", create_guardrail_with_a_bad_name_is_refused),
    ]
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

fn hate_filter() -> Result<GuardrailContentPolicyConfig, String> {
    let filter = GuardrailContentFilterConfig::builder()
        .r#type(GuardrailContentFilterType::Hate)
        .input_strength(GuardrailFilterStrength::High)
        .output_strength(GuardrailFilterStrength::Medium)
        .build()
        .map_err(|e| e.to_string())?;
    GuardrailContentPolicyConfig::builder().filters_config(filter).build().map_err(|e| e.to_string())
}

async fn a_guardrail_lives_through_create_version_update_and_delete(ctx: Arc<Ctx>) -> CaseResult {
    let control = ctx.control();
    let name = unique("harness-lifecycle");
    let created = sdk(
        control
            .create_guardrail()
            .name(&name)
            .content_policy_config(hate_filter()?)
            .blocked_input_messaging("Blocked input.")
            .blocked_outputs_messaging("Blocked output.")
            .send()
            .await,
        "create",
    )?;
    let id = created.guardrail_id().to_string();
    ensure_eq!(created.version(), "DRAFT", "created version");
    ensure!(created.guardrail_arn().ends_with(&format!(":guardrail/{id}")), "ARN {}", created.guardrail_arn());

    let got = sdk(control.get_guardrail().guardrail_identifier(&id).send().await, "get")?;
    // The name's suffix differs per run; a replayed session answers the recorded one.
    ensure!(got.name().starts_with("harness-lifecycle-"), "name {}", got.name());
    ensure_eq!(got.version(), "DRAFT", "version");
    let filters = got.content_policy().map(|p| p.filters()).unwrap_or_default();
    ensure_eq!(filters.len(), 1, "content filters");
    ensure_eq!(filters[0].r#type(), &GuardrailContentFilterType::Hate, "filter type");
    ensure_eq!(filters[0].input_strength(), &GuardrailFilterStrength::High, "input strength");

    let v1 =
        sdk(control.create_guardrail_version().guardrail_identifier(&id).description("v1").send().await, "version")?;
    ensure_eq!(v1.version(), "1", "first version");
    sdk(
        control
            .update_guardrail()
            .guardrail_identifier(created.guardrail_arn())
            .name(&name)
            .blocked_input_messaging("Changed.")
            .blocked_outputs_messaging("Changed.")
            .content_policy_config(hate_filter()?)
            .send()
            .await,
        "update",
    )?;
    let draft = sdk(control.get_guardrail().guardrail_identifier(&id).send().await, "get draft")?;
    ensure_eq!(draft.blocked_input_messaging(), "Changed.", "updated draft");
    let one = sdk(control.get_guardrail().guardrail_identifier(&id).guardrail_version("1").send().await, "get v1")?;
    ensure_eq!(one.blocked_input_messaging(), "Blocked input.", "version 1 keeps its messages");

    let versions = sdk(control.list_guardrails().guardrail_identifier(&id).send().await, "list versions")?;
    let listed: Vec<&str> = versions.guardrails().iter().map(|g| g.version()).collect();
    ensure!(listed.contains(&"DRAFT") && listed.contains(&"1"), "versions listed: {listed:?}");

    sdk(control.delete_guardrail().guardrail_identifier(&id).send().await, "delete")?;
    expect_error(control.get_guardrail().guardrail_identifier(&id).send().await, "ResourceNotFoundException", None)
}

async fn get_guardrail_of_an_unknown_id_is_not_found(ctx: Arc<Ctx>) -> CaseResult {
    expect_error(
        ctx.control().get_guardrail().guardrail_identifier("zzzzzzzzzzzz").send().await,
        "ResourceNotFoundException",
        None,
    )
}

async fn create_guardrail_with_a_bad_name_is_refused(ctx: Arc<Ctx>) -> CaseResult {
    expect_error_containing(
        ctx.control()
            .create_guardrail()
            .name("not a valid name!")
            .content_policy_config(hate_filter()?)
            .blocked_input_messaging("Blocked.")
            .blocked_outputs_messaging("Blocked.")
            .send()
            .await,
        "ValidationException",
        "at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_]+",
    )
}
