//! ListFoundationModels and GetFoundationModel (SPEC §8.1).

use serde_json::{json, Value};

use super::validate::check_enum;
use super::Request;
use crate::backend::catalog::Catalog;
use crate::plan::Plan;
use crate::wire::error::BedrockError;

/// `GET /foundation-models` with its four filters.
pub fn list(req: &Request, catalog: &Catalog) -> Result<Plan, BedrockError> {
    let by_provider = req.query("byProvider");
    if let Some(p) = by_provider {
        let ok = !p.is_empty() && p.len() <= 63 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ');
        if !ok {
            return Err(super::validate::constraint(
                &json!(p),
                "byProvider",
                "satisfy regular expression pattern: ^[A-Za-z0-9- ]{1,63}$",
            ));
        }
    }
    let by_customization = req.query("byCustomizationType");
    if let Some(v) = by_customization {
        check_enum(v, "byCustomizationType", &["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"])?;
    }
    let by_output = req.query("byOutputModality");
    if let Some(v) = by_output {
        check_enum(v, "byOutputModality", &["TEXT", "IMAGE", "EMBEDDING"])?;
    }
    let by_inference = req.query("byInferenceType");
    if let Some(v) = by_inference {
        check_enum(v, "byInferenceType", &["ON_DEMAND", "PROVISIONED"])?;
    }
    let summaries: Vec<Value> = catalog
        .models()
        .iter()
        .filter(|m| {
            by_provider
                .is_none_or(|p| m.provider_name.eq_ignore_ascii_case(p) || m.provider_key().eq_ignore_ascii_case(p))
        })
        .filter(|m| by_customization.is_none_or(|c| m.customizations_supported.iter().any(|x| x == c)))
        .filter(|m| by_output.is_none_or(|o| m.output_modalities.iter().any(|x| x == o)))
        .filter(|m| by_inference.is_none_or(|t| m.inference_types_supported.iter().any(|x| x == t)))
        .map(|m| m.details(&req.region))
        .collect();
    Ok(Plan::json(json!({"modelSummaries": summaries})))
}

/// `GET /foundation-models/{modelIdentifier}` (id or ARN).
pub fn get(req: &Request, catalog: &Catalog) -> Result<Plan, BedrockError> {
    let id = req.label("modelIdentifier");
    let model = catalog
        .model_by_identifier(id)
        .ok_or_else(|| BedrockError::not_found(format!("The model {id} could not be found.")))?;
    Ok(Plan::json(json!({"modelDetails": model.details(&req.region)})))
}
