//! Control plane, catalog part: foundation models, system inference profiles, and the
//! application inference profiles callers create.

use std::collections::HashSet;
use std::sync::Arc;

use aws_sdk_bedrock::types::{InferenceProfileType, InferenceType, ModelCustomization, ModelModality};

use crate::case::{expect_error, sdk, Case, CaseResult, Ctx};
use crate::{case, ensure, ensure_eq};

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![
        case!("Catalog", list_foundation_models_returns_well_formed_summaries),
        case!("Catalog", list_foundation_models_filters_by_provider),
        case!("Catalog", list_foundation_models_filters_by_output_modality),
        case!("Catalog", list_foundation_models_filters_by_inference_type),
        case!("Catalog", list_foundation_models_filters_by_customization_type),
        case!("Catalog", get_foundation_model_accepts_an_id_or_an_arn),
        case!("Catalog", get_foundation_model_of_an_unknown_id_is_not_found),
        case!("Catalog", list_inference_profiles_pages_without_duplicates),
        case!("Catalog", get_inference_profile_accepts_an_id_or_an_arn),
        case!("Catalog", get_inference_profile_of_an_unknown_id_is_not_found),
        case!("Catalog", an_application_inference_profile_lives_serves_converse_and_is_deleted),
    ]
}

async fn list_foundation_models_returns_well_formed_summaries(ctx: Arc<Ctx>) -> CaseResult {
    let out = sdk(ctx.control().list_foundation_models().send().await, "list")?;
    let models = out.model_summaries();
    ensure!(models.len() >= 10, "only {} models", models.len());
    for m in models {
        ensure!(
            m.model_arn().starts_with("arn:aws:bedrock:")
                && m.model_arn().contains("::foundation-model/")
                && m.model_arn().ends_with(m.model_id()),
            "malformed ARN {} for {}",
            m.model_arn(),
            m.model_id()
        );
        ensure!(m.provider_name().is_some() && m.model_name().is_some(), "{} lacks names", m.model_id());
        ensure!(!m.output_modalities().is_empty(), "{} has no output modalities", m.model_id());
        ensure!(m.model_lifecycle().is_some(), "{} has no lifecycle", m.model_id());
    }
    ensure!(models.iter().any(|m| m.model_id() == ctx.text_model), "{} not listed", ctx.text_model);
    Ok(())
}

async fn list_foundation_models_filters_by_provider(ctx: Arc<Ctx>) -> CaseResult {
    let out = sdk(ctx.control().list_foundation_models().by_provider("Anthropic").send().await, "list")?;
    ensure!(!out.model_summaries().is_empty(), "no Anthropic models");
    for m in out.model_summaries() {
        ensure_eq!(m.provider_name(), Some("Anthropic"), "provider of a filtered model");
    }
    Ok(())
}

async fn list_foundation_models_filters_by_output_modality(ctx: Arc<Ctx>) -> CaseResult {
    let out =
        sdk(ctx.control().list_foundation_models().by_output_modality(ModelModality::Embedding).send().await, "list")?;
    ensure!(!out.model_summaries().is_empty(), "no embedding models");
    for m in out.model_summaries() {
        ensure!(
            m.output_modalities().contains(&ModelModality::Embedding),
            "{} does not output embeddings",
            m.model_id()
        );
    }
    Ok(())
}

async fn list_foundation_models_filters_by_inference_type(ctx: Arc<Ctx>) -> CaseResult {
    let out =
        sdk(ctx.control().list_foundation_models().by_inference_type(InferenceType::OnDemand).send().await, "list")?;
    ensure!(!out.model_summaries().is_empty(), "no on-demand models");
    for m in out.model_summaries() {
        ensure!(m.inference_types_supported().contains(&InferenceType::OnDemand), "{} is not on-demand", m.model_id());
    }
    Ok(())
}

async fn list_foundation_models_filters_by_customization_type(ctx: Arc<Ctx>) -> CaseResult {
    let out = sdk(
        ctx.control().list_foundation_models().by_customization_type(ModelCustomization::FineTuning).send().await,
        "list",
    )?;
    for m in out.model_summaries() {
        ensure!(
            m.customizations_supported().contains(&ModelCustomization::FineTuning),
            "{} is not fine-tunable",
            m.model_id()
        );
    }
    Ok(())
}

async fn get_foundation_model_accepts_an_id_or_an_arn(ctx: Arc<Ctx>) -> CaseResult {
    let by_id = sdk(ctx.control().get_foundation_model().model_identifier(&ctx.text_model).send().await, "get by id")?;
    let details = by_id.model_details().ok_or("no modelDetails")?;
    ensure_eq!(details.model_id(), ctx.text_model.as_str(), "modelId");
    let by_arn =
        sdk(ctx.control().get_foundation_model().model_identifier(details.model_arn()).send().await, "get by ARN")?;
    ensure_eq!(by_arn.model_details().map(|d| d.model_id()), Some(ctx.text_model.as_str()), "modelId by ARN");
    Ok(())
}

async fn get_foundation_model_of_an_unknown_id_is_not_found(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx.control().get_foundation_model().model_identifier("anthropic.claude-nonexistent-v9:0").send().await;
    expect_error(r, "ResourceNotFoundException", None)
}

async fn list_inference_profiles_pages_without_duplicates(ctx: Arc<Ctx>) -> CaseResult {
    let mut seen = HashSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = sdk(
            ctx.control()
                .list_inference_profiles()
                .max_results(5)
                .type_equals(InferenceProfileType::SystemDefined)
                .set_next_token(token.clone())
                .send()
                .await,
            "list page",
        )?;
        pages += 1;
        ensure!(out.inference_profile_summaries().len() <= 5, "page larger than maxResults");
        for p in out.inference_profile_summaries() {
            ensure!(seen.insert(p.inference_profile_id().to_string()), "duplicate {}", p.inference_profile_id());
            ensure_eq!(p.r#type(), &InferenceProfileType::SystemDefined, "type");
            ensure!(!p.models().is_empty(), "{} lists no models", p.inference_profile_id());
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() || pages > 200 {
            break;
        }
    }
    ensure!(pages > 1, "expected several pages of 5");
    ensure!(seen.contains(&format!("us.{}", ctx.text_model)), "us.{} not listed", ctx.text_model);
    Ok(())
}

async fn get_inference_profile_accepts_an_id_or_an_arn(ctx: Arc<Ctx>) -> CaseResult {
    let id = format!("us.{}", ctx.text_model);
    let by_id = sdk(ctx.control().get_inference_profile().inference_profile_identifier(&id).send().await, "get by id")?;
    ensure_eq!(by_id.inference_profile_id(), id.as_str(), "inferenceProfileId");
    ensure!(
        by_id.inference_profile_arn().ends_with(&format!(":inference-profile/{id}")),
        "ARN {}",
        by_id.inference_profile_arn()
    );
    let by_arn = sdk(
        ctx.control().get_inference_profile().inference_profile_identifier(by_id.inference_profile_arn()).send().await,
        "get by ARN",
    )?;
    ensure_eq!(by_arn.inference_profile_id(), id.as_str(), "id by ARN");
    Ok(())
}

async fn get_inference_profile_of_an_unknown_id_is_not_found(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx.control().get_inference_profile().inference_profile_identifier("us.no-such-model-v1:0").send().await;
    expect_error(r, "ResourceNotFoundException", None)
}

/// Holds against AWS too (it creates and deletes a profile in the account).
async fn an_application_inference_profile_lives_serves_converse_and_is_deleted(ctx: Arc<Ctx>) -> CaseResult {
    use aws_sdk_bedrock::types::InferenceProfileModelSource;
    let region = ctx.clients.runtime.config().region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let source = format!("arn:aws:bedrock:{region}::foundation-model/{}", ctx.text_model);
    // Unique per run, like the guardrail cases' names (see `unique`).
    let name = super::control_plane::unique("harness");
    let created = sdk(
        ctx.control()
            .create_inference_profile()
            .inference_profile_name(&name)
            .model_source(InferenceProfileModelSource::CopyFrom(source.clone()))
            .send()
            .await,
        "create_inference_profile",
    )?;
    let arn = created.inference_profile_arn().to_string();
    ensure!(arn.contains(":application-inference-profile/"), "ARN {arn}");
    let outcome = async {
        let got = sdk(ctx.control().get_inference_profile().inference_profile_identifier(&arn).send().await, "get")?;
        ensure_eq!(got.r#type(), &InferenceProfileType::Application, "type");
        // The id, not the name or account: a replaying emulator answers Get from the
        // recording, whose name (and upstream account) were that run's.
        let id_of = |a: &str| a.rsplit('/').next().unwrap_or_default().to_string();
        ensure_eq!(id_of(got.inference_profile_arn()), id_of(&arn), "profile id");
        let routed: Vec<&str> = got.models().iter().filter_map(|m| m.model_arn()).collect();
        ensure_eq!(routed, vec![source.as_str()], "models");
        let listed = sdk(
            ctx.control().list_inference_profiles().type_equals(InferenceProfileType::Application).send().await,
            "list APPLICATION",
        )?;
        ensure!(
            listed.inference_profile_summaries().iter().any(|p| id_of(p.inference_profile_arn()) == id_of(&arn)),
            "{arn} not listed"
        );
        let answer = sdk(
            ctx.clients.runtime.converse().model_id(&arn).messages(super::user("Say hello.")).send().await,
            "converse with the profile ARN",
        )?;
        ensure!(answer.usage().is_some_and(|u| u.output_tokens() > 0), "no output tokens");
        Ok(())
    }
    .await;
    let deleted = ctx.control().delete_inference_profile().inference_profile_identifier(&arn).send().await;
    outcome?;
    sdk(deleted, "delete_inference_profile")?;
    let gone = ctx.control().get_inference_profile().inference_profile_identifier(&arn).send().await;
    expect_error(gone, "ResourceNotFoundException", None)
}
