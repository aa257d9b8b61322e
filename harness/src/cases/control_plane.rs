//! Control-plane lifecycles that hold against AWS as well: each makes a resource with a name
//! unique to the run, walks it, and deletes it whatever happened in between.

use std::sync::Arc;

use crate::case::{expect_error, sdk, Case, CaseResult, Ctx};
use crate::{case, ensure, ensure_eq};

/// This group's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("ControlPlane", an_automated_reasoning_policy_lives_changes_and_is_deleted),
        case!("ControlPlane", a_default_prompt_router_answers_converse_and_names_its_model),
    ]
}

/// A name no earlier run used: a replaying emulator then makes the resource itself (no
/// cassette matches), so the ids it mints stay in step with the upstream's.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

async fn an_automated_reasoning_policy_lives_changes_and_is_deleted(ctx: Arc<Ctx>) -> CaseResult {
    let name = unique("harness-policy");
    let created = sdk(
        ctx.control().create_automated_reasoning_policy().name(&name).description("harness").send().await,
        "create_automated_reasoning_policy",
    )?;
    let arn = created.policy_arn().to_string();
    ensure!(arn.contains(":automated-reasoning-policy/"), "ARN {arn}");
    ensure_eq!(created.version(), "DRAFT", "version of a new policy");
    let outcome = async {
        let got = sdk(ctx.control().get_automated_reasoning_policy().policy_arn(&arn).send().await, "get")?;
        // The id, not the account: a replaying emulator answers from the recording, whose
        // account ids are neutralised.
        let id_of = |a: &str| a.rsplit('/').next().unwrap_or_default().to_string();
        ensure_eq!(id_of(got.policy_arn()), id_of(&arn), "policy id");
        ensure_eq!(got.version(), "DRAFT", "version");
        ensure_eq!(got.description(), Some("harness"), "description");
        ensure!(arn.ends_with(got.policy_id()), "policyId {} is not the ARN's {arn}", got.policy_id());
        ensure!(!got.definition_hash().is_empty(), "no definitionHash");
        let renamed = format!("{name}-b");
        let updated = sdk(
            ctx.control()
                .update_automated_reasoning_policy()
                .policy_arn(&arn)
                .name(&renamed)
                .policy_definition(aws_sdk_bedrock::types::AutomatedReasoningPolicyDefinition::builder().build())
                .send()
                .await,
            "update",
        )?;
        ensure_eq!(id_of(updated.policy_arn()), id_of(&arn), "updated policy id");
        ensure!(!updated.definition_hash().is_empty(), "no definitionHash after the update");
        let listed = sdk(ctx.control().list_automated_reasoning_policies().send().await, "list")?;
        ensure!(
            listed.automated_reasoning_policy_summaries().iter().any(|p| id_of(p.policy_arn()) == id_of(&arn)),
            "{arn} not listed"
        );
        Ok(())
    }
    .await;
    let deleted = ctx.control().delete_automated_reasoning_policy().policy_arn(&arn).send().await;
    outcome?;
    sdk(deleted, "delete_automated_reasoning_policy")?;
    let gone = ctx.control().get_automated_reasoning_policy().policy_arn(&arn).send().await;
    expect_error(gone, "ResourceNotFoundException", None)
}

/// Holds against AWS in a region with the Anthropic default router (us-east-1, us-west-2):
/// read-only, nothing is created.
async fn a_default_prompt_router_answers_converse_and_names_its_model(ctx: Arc<Ctx>) -> CaseResult {
    use aws_sdk_bedrock::types::PromptRouterType;
    let listed = sdk(ctx.control().list_prompt_routers().r#type(PromptRouterType::Default).send().await, "list")?;
    let Some(router) =
        listed.prompt_router_summaries().iter().find(|r| r.prompt_router_arn().ends_with("/anthropic.claude:1"))
    else {
        return Err("no anthropic.claude:1 default router listed".into());
    };
    let arn = router.prompt_router_arn().to_string();
    let got = sdk(ctx.control().get_prompt_router().prompt_router_arn(&arn).send().await, "get")?;
    ensure_eq!(got.r#type(), &PromptRouterType::Default, "type");
    ensure_eq!(got.models().len(), 2, "models routed between");
    // Model ARNs without their account (a replaying emulator's are neutralised).
    let tail = |a: &str| a.rsplit('/').next().unwrap_or_default().to_string();
    let models: Vec<String> = got.models().iter().filter_map(|m| m.model_arn()).map(tail).collect();
    let answer = sdk(
        ctx.clients.runtime.converse().model_id(&arn).messages(super::user("Say hello.")).send().await,
        "converse with the router ARN",
    )?;
    let invoked = answer
        .trace()
        .and_then(|t| t.prompt_router())
        .and_then(|p| p.invoked_model_id())
        .ok_or("no trace.promptRouter.invokedModelId")?;
    ensure!(models.contains(&tail(invoked)), "invoked {invoked} is not one of the router's models {models:?}");
    ensure!(answer.usage().is_some_and(|u| u.output_tokens() > 0), "no output tokens");
    Ok(())
}
