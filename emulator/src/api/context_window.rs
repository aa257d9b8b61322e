//! The context window: a request whose input tokens exceed the model's window is refused
//! before anything is generated. The count is the shared tokenizer's (`synthetic::input_tokens`),
//! the number CountTokens reports, so a prompt CountTokens puts at the window passes and one
//! token more is refused.
//!
//! Bedrock's wording depends on the operation and the model (as reported by its users):
//! * InvokeModel / InvokeModelWithResponseStream: `Input is too long for requested model.`
//! * Converse / ConverseStream, Anthropic models: the model's own refusal,
//!   `prompt is too long: N tokens > M maximum`, behind Converse's
//!   `The model returned the following errors: ` prefix; other models: the same prefix before
//!   `Input is too long for requested model.`
//! * CountTokens, Anthropic models: `prompt is too long: N tokens > M maximum`. For other
//!   models nothing shows CountTokens refusing, so it counts and answers.
//!
//! Only the synthetic model is refused: a scenario rule or a recording that matches answers
//! as scripted (they are the user's explicit choice).

use crate::backend::catalog::FoundationModel;
pub use crate::families::INPUT_TOO_LONG;
use crate::wire::error::BedrockError;

/// Converse's prefix for errors the model itself returned.
const MODEL_ERRORS: &str = "The model returned the following errors: ";

/// Which wording applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Converse or ConverseStream.
    Converse,
    /// InvokeModel or InvokeModelWithResponseStream.
    Invoke,
    /// CountTokens.
    CountTokens,
}

fn anthropic_refusal(input_tokens: u32, window: u32) -> String {
    format!("prompt is too long: {input_tokens} tokens > {window} maximum")
}

/// Refuses `input_tokens` over `model`'s window (models without one, window 0, accept any).
pub fn check(model: &FoundationModel, input_tokens: u32, operation: Operation) -> Result<(), BedrockError> {
    let window = model.emulator.context_window;
    if window == 0 || input_tokens <= window {
        return Ok(());
    }
    let anthropic = model.emulator.family == "anthropic";
    let message = match (operation, anthropic) {
        (Operation::Invoke, _) => INPUT_TOO_LONG.to_string(),
        (Operation::Converse, true) => format!("{MODEL_ERRORS}{}", anthropic_refusal(input_tokens, window)),
        (Operation::Converse, false) => format!("{MODEL_ERRORS}{INPUT_TOO_LONG}"),
        (Operation::CountTokens, true) => anthropic_refusal(input_tokens, window),
        (Operation::CountTokens, false) => return Ok(()),
    };
    Err(BedrockError::validation(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;

    fn model(id: &str) -> &'static FoundationModel {
        Catalog::builtin().model(id).expect("model in catalog")
    }

    #[test]
    fn a_count_at_the_window_passes_and_one_more_is_refused_in_each_wording() {
        let haiku = model("anthropic.claude-3-haiku-20240307-v1:0");
        assert!(check(haiku, 200_000, Operation::Converse).is_ok());
        let over = |op| check(haiku, 200_001, op).map_err(|e| e.message);
        assert_eq!(
            over(Operation::Converse),
            Err("The model returned the following errors: prompt is too long: 200001 tokens > 200000 maximum".into())
        );
        assert_eq!(over(Operation::Invoke), Err(INPUT_TOO_LONG.into()));
        assert_eq!(over(Operation::CountTokens), Err("prompt is too long: 200001 tokens > 200000 maximum".into()));
        let nova = model("amazon.nova-micro-v1:0");
        assert_eq!(
            check(nova, 128_001, Operation::Converse).map_err(|e| e.message),
            Err(format!("The model returned the following errors: {INPUT_TOO_LONG}"))
        );
        assert!(check(nova, 128_001, Operation::CountTokens).is_ok(), "counted, not refused");
    }

    #[test]
    fn every_text_model_has_a_context_window() {
        for m in Catalog::builtin().models() {
            if m.emulator.max_output_tokens > 0 {
                assert!(m.emulator.context_window >= 4000, "{}", m.model_id);
            }
        }
    }
}
