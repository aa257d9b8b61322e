//! The built-in model catalog (`data/catalog.json`) and model-id resolution.
//!
//! The catalog is data, not code: foundation models as the control plane reports them, plus
//! an `emulator` section per model with the capabilities the runtime checks (Converse support,
//! tools, system prompts, vision, output-token cap, cross-region profile geographies).
//! System-defined inference profiles are derived from those geographies.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::wire::error::BedrockError;

/// Runtime capabilities of a model, used by validation and the synthetic model.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Native request format family (`anthropic`, `titan-text`, `nova`, …).
    pub family: String,
    /// Highest `maxTokens` accepted through Converse (0 for non-text models).
    pub max_output_tokens: u32,
    /// The context window: most input tokens a request may carry, as the emulator's one
    /// tokenizer counts them (what CountTokens reports). For embedding models, the input limit
    /// of one text; 0 for models without a text window (image and video generators). The
    /// figures are the providers' published ones; the catalog's `sources` cite them.
    pub context_window: u32,
    /// Whether Converse / ConverseStream accept the model.
    pub converse: bool,
    /// Tool use through Converse.
    pub tools: bool,
    /// Tool use through ConverseStream.
    pub streaming_tools: bool,
    /// System prompts through Converse.
    pub system_prompt: bool,
    /// Image content blocks.
    pub vision: bool,
    /// Document content blocks.
    pub documents: bool,
    /// Extended thinking.
    pub reasoning: bool,
    /// Geographies of the system-defined cross-region inference profiles (`us`, `eu`, …).
    pub profiles: Vec<String>,
}

/// `FoundationModelLifecycle`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// `ACTIVE` or `LEGACY`.
    pub status: String,
}

/// One foundation model, as `FoundationModelDetails` plus emulator capabilities.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FoundationModel {
    /// e.g. `anthropic.claude-3-5-sonnet-20240620-v1:0`.
    pub model_id: String,
    /// Display name.
    pub model_name: String,
    /// Provider display name, e.g. `Anthropic`.
    pub provider_name: String,
    /// `TEXT`, `IMAGE`, `EMBEDDING`, …
    pub input_modalities: Vec<String>,
    /// `TEXT`, `IMAGE`, `EMBEDDING`, …
    pub output_modalities: Vec<String>,
    /// Whether the streaming operations accept the model.
    pub response_streaming_supported: bool,
    /// `FINE_TUNING`, `CONTINUED_PRE_TRAINING`, `DISTILLATION`.
    pub customizations_supported: Vec<String>,
    /// `ON_DEMAND`, `PROVISIONED`, `INFERENCE_PROFILE`.
    pub inference_types_supported: Vec<String>,
    /// Lifecycle status.
    pub model_lifecycle: Lifecycle,
    /// What the runtime checks.
    pub emulator: Capabilities,
}

impl FoundationModel {
    /// `arn:aws:bedrock:{region}::foundation-model/{id}` (empty account field, as AWS sends).
    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:bedrock:{region}::foundation-model/{}", self.model_id)
    }

    /// Whether the model can be invoked by its bare id (without an inference profile).
    pub fn on_demand(&self) -> bool {
        self.inference_types_supported.iter().any(|t| t == "ON_DEMAND")
    }

    /// The provider key of the id (`anthropic` for `anthropic.claude-…`).
    pub fn provider_key(&self) -> &str {
        self.model_id.split('.').next().unwrap_or("")
    }

    /// `FoundationModelSummary` / `FoundationModelDetails` JSON for `region`.
    pub fn details(&self, region: &str) -> Value {
        json!({
            "modelArn": self.arn(region),
            "modelId": self.model_id,
            "modelName": self.model_name,
            "providerName": self.provider_name,
            "inputModalities": self.input_modalities,
            "outputModalities": self.output_modalities,
            "responseStreamingSupported": self.response_streaming_supported,
            "customizationsSupported": self.customizations_supported,
            "inferenceTypesSupported": self.inference_types_supported,
            "modelLifecycle": {"status": self.model_lifecycle.status},
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: u32,
    /// Where the figures come from, by field: documentation for people, not read by code.
    #[serde(default, rename = "sources")]
    _sources: serde::de::IgnoredAny,
    models: Vec<FoundationModel>,
}

/// Regions each cross-region geography routes to (what `GetInferenceProfile.models` lists).
pub fn geography_regions(geo: &str) -> &'static [&'static str] {
    match geo {
        "us" => &["us-east-1", "us-east-2", "us-west-2"],
        "eu" => &["eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"],
        "apac" => &["ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2"],
        "global" => &["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "ap-northeast-1"],
        _ => &[],
    }
}

/// Whether a caller in `region` can use system profiles of geography `geo`: each region sees
/// its own geography's profiles plus `global` ones. Regions outside the known partitions
/// (a test's made-up `local`, say) see every profile.
pub fn geography_serves(geo: &str, region: &str) -> bool {
    let home = match region.split('-').next().unwrap_or("") {
        "us" if !region.starts_with("us-gov") => "us",
        "eu" => "eu",
        "ap" => "apac",
        _ if region.contains('-') && region.chars().any(|c| c.is_ascii_digit()) => "",
        _ => return true,
    };
    geo == "global" || geo == home
}

fn geography_label(geo: &str) -> &'static str {
    match geo {
        "us" => "US",
        "eu" => "EU",
        "apac" => "APAC",
        "global" => "Global",
        _ => "",
    }
}

/// A system-defined inference profile derived from a model's geographies.
#[derive(Debug, Clone)]
pub struct SystemProfile {
    /// `{geo}.{modelId}`.
    pub id: String,
    /// The geography prefix.
    pub geo: String,
    /// The model it routes to.
    pub model: &'static FoundationModel,
}

/// The fixed creation time of system profiles (deterministic output).
const PROFILE_CREATED_AT: &str = "2024-08-27T00:00:00Z";

impl SystemProfile {
    /// `InferenceProfileSummary` JSON (also the `GetInferenceProfile` response).
    pub fn summary(&self, region: &str, account: &str) -> Value {
        let label = geography_label(&self.geo);
        let regions = geography_regions(&self.geo);
        json!({
            "inferenceProfileName": format!("{label} {}", self.model.model_name),
            "description": format!(
                "Routes requests to {} in {}.",
                self.model.model_name,
                regions.join(", ")
            ),
            "createdAt": PROFILE_CREATED_AT,
            "updatedAt": PROFILE_CREATED_AT,
            "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{account}:inference-profile/{}", self.id),
            "models": regions.iter().map(|r| json!({"modelArn": self.model.arn(r)})).collect::<Vec<_>>(),
            "inferenceProfileId": self.id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        })
    }
}

/// Catalog loading failed (only for user-supplied catalogs; the built-in one is tested).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The JSON does not match the catalog format.
    #[error("catalog: {0}")]
    Parse(#[from] serde_json::Error),
    /// A version this build does not understand.
    #[error("catalog: unsupported version {0} (this build reads version 1)")]
    Version(u32),
}

/// The model catalog.
#[derive(Debug)]
pub struct Catalog {
    models: Vec<FoundationModel>,
    /// Position of each model id in `models`: every request resolves its `modelId`. Hashed
    /// with foldhash (already in the tree through hashbrown): the ids are ours, not an
    /// attacker's keys, and SipHash was most of the lookup's cost.
    by_id: std::collections::HashMap<String, usize, foldhash::fast::FixedState>,
    /// Every geography some model has a system profile in (`us`, `eu`, …): a `modelId`
    /// whose first dotted part is none of these is no profile id, whatever the region.
    geographies: Vec<String>,
}

/// How a request's `modelId` resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The foundation model that will answer.
    pub model: &'static FoundationModel,
    /// The inference profile id when one was used.
    pub profile: Option<String>,
}

/// The message Bedrock sends for any model id it cannot resolve (recorded).
pub const INVALID_MODEL_ID: &str = "The provided model identifier is invalid.";

impl Catalog {
    /// Parses a catalog document.
    pub fn from_json(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = serde_json::from_str(text)?;
        if file.version != 1 {
            return Err(CatalogError::Version(file.version));
        }
        Ok(Catalog::of(file.models))
    }

    fn of(models: Vec<FoundationModel>) -> Catalog {
        let mut by_id = std::collections::HashMap::with_hasher(foldhash::fast::FixedState::default());
        let mut geographies: Vec<String> = Vec::new();
        for (i, m) in models.iter().enumerate() {
            by_id.entry(m.model_id.clone()).or_insert(i);
            for geo in &m.emulator.profiles {
                if !geographies.contains(geo) {
                    geographies.push(geo.clone());
                }
            }
        }
        Catalog { models, by_id, geographies }
    }

    /// The catalog compiled into the binary.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            // Covered by `the_builtin_catalog_parses`; an empty catalog is the only fallback.
            Catalog::from_json(include_str!("../../data/catalog.json")).unwrap_or_else(|_| Catalog::of(Vec::new()))
        })
    }

    /// Every foundation model.
    pub fn models(&self) -> &[FoundationModel] {
        &self.models
    }

    /// A model by its bare id.
    pub fn model(&self, id: &str) -> Option<&FoundationModel> {
        self.by_id.get(id).map(|&i| &self.models[i])
    }

    /// A model by bare id or foundation-model ARN (control-plane `modelIdentifier`).
    pub fn model_by_identifier(&self, identifier: &str) -> Option<&FoundationModel> {
        match parse_arn(identifier) {
            Some(arn) if arn.resource_type == "foundation-model" => self.model(arn.resource_id),
            Some(_) => None,
            None => self.model(identifier),
        }
    }

    /// The system-defined inference profiles a caller in `region` sees, ordered by model then
    /// geography.
    pub fn system_profiles(&'static self, region: &str) -> Vec<SystemProfile> {
        self.models
            .iter()
            .flat_map(|m| {
                m.emulator.profiles.iter().filter(|geo| geography_serves(geo, region)).map(move |geo| SystemProfile {
                    id: format!("{geo}.{}", m.model_id),
                    geo: geo.clone(),
                    model: m,
                })
            })
            .collect()
    }

    /// A system profile by id or ARN, if a caller in `region` can use it.
    pub fn system_profile(&'static self, identifier: &str, region: &str) -> Option<SystemProfile> {
        let id = match parse_arn(identifier) {
            Some(arn) if arn.resource_type == "inference-profile" => arn.resource_id,
            Some(_) => return None,
            None => identifier,
        };
        let (geo, model_id) = id.split_once('.')?;
        // Before the lookup: a bare model id (`anthropic.…`) fails here without hashing.
        if !self.geographies.iter().any(|g| g == geo) || !geography_serves(geo, region) {
            return None;
        }
        let model = self.model(model_id)?;
        model.emulator.profiles.iter().any(|g| g == geo).then(|| SystemProfile {
            id: id.to_string(),
            geo: geo.to_string(),
            model,
        })
    }

    /// Resolves a runtime `modelId` (bare id, foundation-model ARN, system profile id or ARN)
    /// the way Bedrock does, with Bedrock's errors.
    pub fn resolve(&'static self, model_id: &str, region: &str) -> Result<Resolved, BedrockError> {
        if let Some(profile) = self.system_profile(model_id, region) {
            return Ok(Resolved { model: profile.model, profile: Some(profile.id) });
        }
        let model = self.model_by_identifier(model_id).ok_or_else(|| BedrockError::validation(INVALID_MODEL_ID))?;
        if !model.on_demand() {
            return Err(BedrockError::validation(format!(
                "Invocation of model ID {} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
                model.model_id
            )));
        }
        Ok(Resolved { model, profile: None })
    }
}

/// The parts of a Bedrock ARN the emulator cares about.
#[derive(Debug, PartialEq)]
pub struct Arn<'a> {
    /// Region field.
    pub region: &'a str,
    /// Account field (empty for foundation models).
    pub account: &'a str,
    /// `foundation-model`, `inference-profile`, …
    pub resource_type: &'a str,
    /// Everything after the first `/`.
    pub resource_id: &'a str,
}

/// Parses `arn:aws:bedrock:{region}:{account}:{type}/{id}`; `None` if not a Bedrock ARN.
pub fn parse_arn(s: &str) -> Option<Arn<'_>> {
    if !s.starts_with("arn:") {
        return None;
    }
    let mut parts = s.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let partition = parts.next()?;
    if !partition.starts_with("aws") || parts.next()? != "bedrock" {
        return None;
    }
    let region = parts.next()?;
    let account = parts.next()?;
    let (resource_type, resource_id) = parts.next()?.split_once('/')?;
    Some(Arn { region, account, resource_type, resource_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_parses_and_is_not_empty() {
        let catalog = Catalog::from_json(include_str!("../../data/catalog.json")).expect("catalog parses");
        assert!(catalog.models().len() >= 40, "{}", catalog.models().len());
    }

    #[test]
    fn callers_see_their_own_geography_and_global_profiles() {
        assert!(geography_serves("us", "us-west-2") && geography_serves("global", "us-west-2"));
        assert!(!geography_serves("us", "eu-west-1") && geography_serves("eu", "eu-west-1"));
        assert!(geography_serves("apac", "ap-northeast-1") && !geography_serves("eu", "ap-northeast-1"));
        assert!(geography_serves("us", "local"));
        let c = Catalog::builtin();
        let id = "us.anthropic.claude-3-haiku-20240307-v1:0";
        assert!(c.resolve(id, "eu-west-1").is_err());
        assert!(c.system_profiles("eu-west-1").iter().all(|p| p.geo == "eu" || p.geo == "global"));
    }

    #[test]
    fn arns_split_into_their_fields() {
        let arn = parse_arn("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0")
            .expect("arn");
        assert_eq!(arn.resource_type, "foundation-model");
        assert_eq!(arn.resource_id, "anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(arn.account, "");
        assert!(parse_arn("anthropic.claude-3-haiku-20240307-v1:0").is_none());
    }

    #[test]
    fn resolution_accepts_ids_arns_and_profiles() {
        let c = Catalog::builtin();
        let id = "anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(c.resolve(id, "us-east-1").expect("id").model.model_id, id);
        assert_eq!(
            c.resolve(&format!("arn:aws:bedrock:us-east-1::foundation-model/{id}"), "us-east-1")
                .expect("arn")
                .model
                .model_id,
            id
        );
        let p = c.resolve(&format!("us.{id}"), "us-east-1").expect("profile");
        assert_eq!(p.profile.as_deref(), Some(format!("us.{id}").as_str()));
        let p = c
            .resolve(&format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{id}"), "us-east-1")
            .expect("profile arn");
        assert_eq!(p.model.model_id, id);
        assert_eq!(c.resolve("nope", "us-east-1").expect_err("invalid").message, INVALID_MODEL_ID);
    }
}
