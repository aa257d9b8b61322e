//! Converse happy paths: text, usage, limits, system prompts, tools, model id forms.

use std::sync::Arc;

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, StopReason,
    SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
    ToolSpecification, ToolUseBlock,
};
use serde_json::json;

use super::{doc, json, msg, user};
use crate::case::{sdk, Case, CaseResult, Ctx};
use crate::{case, ensure, ensure_eq};

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![
        case!("Converse", converse_returns_assistant_text_with_consistent_usage),
        case!("Converse", converse_is_deterministic_for_the_same_request, emulator_only),
        case!("Converse", max_tokens_truncates_the_reply_with_stop_reason_max_tokens),
        case!("Converse", stop_sequences_end_the_reply_with_stop_reason_stop_sequence, emulator_only),
        case!("Converse", a_system_prompt_and_history_increase_input_tokens),
        case!("Converse", a_forced_tool_choice_returns_a_tool_use_matching_the_schema),
        case!("Converse", a_named_tool_choice_calls_that_tool),
        case!("Converse", a_tool_result_continues_the_conversation_with_text),
        case!("Converse", inference_profile_ids_and_arns_are_accepted),
        case!("Converse", foundation_model_arns_are_accepted),
        case!("Converse", responses_carry_a_request_id),
    ]
}

/// The weather tool used by tool cases.
pub fn weather_tool() -> Tool {
    Tool::ToolSpec(
        ToolSpecification::builder()
            .name("get_weather")
            .description("Current weather for a city")
            .input_schema(ToolInputSchema::Json(doc(&json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                },
                "required": ["city", "unit"]
            }))))
            .build()
            .unwrap_or_else(|e| unreachable!("tool spec has name and schema: {e}")),
    )
}

/// A tool config with the weather tool and `choice`.
pub fn weather_config(choice: Option<ToolChoice>) -> ToolConfiguration {
    ToolConfiguration::builder()
        .tools(weather_tool())
        .set_tool_choice(choice)
        .build()
        .unwrap_or_else(|e| unreachable!("tool config has tools: {e}"))
}

/// The text blocks of a Converse output, concatenated.
pub fn output_text(output: Option<&ConverseOutput>) -> String {
    match output {
        Some(ConverseOutput::Message(m)) => m.content().iter().filter_map(|b| b.as_text().ok().cloned()).collect(),
        _ => String::new(),
    }
}

async fn converse_returns_assistant_text_with_consistent_usage(ctx: Arc<Ctx>) -> CaseResult {
    let out = sdk(
        ctx.runtime().converse().model_id(&ctx.text_model).messages(user("Say hello in five words.")).send().await,
        "converse",
    )?;
    let Some(ConverseOutput::Message(m)) = out.output() else {
        return Err(format!("output is not a message: {:?}", out.output()));
    };
    ensure_eq!(m.role(), &ConversationRole::Assistant, "role");
    ensure!(!output_text(out.output()).is_empty(), "empty text");
    ensure_eq!(out.stop_reason(), &StopReason::EndTurn, "stopReason");
    let u = out.usage().ok_or("no usage")?;
    ensure!(u.input_tokens() > 0 && u.output_tokens() > 0, "token counts must be positive: {u:?}");
    ensure_eq!(u.total_tokens(), u.input_tokens() + u.output_tokens(), "totalTokens");
    ensure!(out.metrics().is_some_and(|m| m.latency_ms() >= 0), "metrics.latencyMs missing");
    Ok(())
}

async fn converse_is_deterministic_for_the_same_request(ctx: Arc<Ctx>) -> CaseResult {
    let ask = || ctx.runtime().converse().model_id(&ctx.text_model).messages(user("Tell me about rivers")).send();
    let a = sdk(ask().await, "first converse")?;
    let b = sdk(ask().await, "second converse")?;
    ensure_eq!(output_text(a.output()), output_text(b.output()), "second reply");
    ensure_eq!(a.usage(), b.usage(), "usage");
    Ok(())
}

async fn max_tokens_truncates_the_reply_with_stop_reason_max_tokens(ctx: Arc<Ctx>) -> CaseResult {
    let out = sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .messages(user("Write a long story about a lighthouse keeper."))
            .inference_config(InferenceConfiguration::builder().max_tokens(5).build())
            .send()
            .await,
        "converse",
    )?;
    ensure_eq!(out.stop_reason(), &StopReason::MaxTokens, "stopReason");
    let u = out.usage().ok_or("no usage")?;
    ensure!(u.output_tokens() <= 5, "outputTokens {} exceeds maxTokens 5", u.output_tokens());
    Ok(())
}

async fn stop_sequences_end_the_reply_with_stop_reason_stop_sequence(ctx: Arc<Ctx>) -> CaseResult {
    // The synthetic model echoes the prompt, so a word of the prompt is a stop sequence it meets.
    let out = sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .messages(user("alpha beta gamma delta"))
            .inference_config(InferenceConfiguration::builder().stop_sequences("gamma").build())
            .send()
            .await,
        "converse",
    )?;
    ensure_eq!(out.stop_reason(), &StopReason::StopSequence, "stopReason");
    let text = output_text(out.output());
    ensure!(!text.contains("gamma"), "text still contains the stop sequence: {text:?}");
    Ok(())
}

async fn a_system_prompt_and_history_increase_input_tokens(ctx: Arc<Ctx>) -> CaseResult {
    let tokens = |r: aws_sdk_bedrockruntime::operation::converse::ConverseOutput| {
        r.usage().map(|u| u.input_tokens()).unwrap_or(0)
    };
    let base =
        tokens(sdk(ctx.runtime().converse().model_id(&ctx.text_model).messages(user("Hi")).send().await, "plain")?);
    let with_system = tokens(sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .system(SystemContentBlock::Text("You are a terse assistant who answers in one word.".into()))
            .messages(user("Hi"))
            .send()
            .await,
        "with system",
    )?);
    let with_history = tokens(sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .messages(user("My name is Ada and I like rivers."))
            .messages(super::assistant("Nice to meet you, Ada."))
            .messages(user("Hi"))
            .send()
            .await,
        "with history",
    )?);
    ensure!(with_system > base, "system prompt did not add input tokens ({with_system} vs {base})");
    ensure!(with_history > base, "history did not add input tokens ({with_history} vs {base})");
    Ok(())
}

fn first_tool_use(out: &aws_sdk_bedrockruntime::operation::converse::ConverseOutput) -> Option<ToolUseBlock> {
    match out.output() {
        Some(ConverseOutput::Message(m)) => m.content().iter().find_map(|b| b.as_tool_use().ok().cloned()),
        _ => None,
    }
}

async fn a_forced_tool_choice_returns_a_tool_use_matching_the_schema(ctx: Arc<Ctx>) -> CaseResult {
    let out = sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .messages(user("What is the weather in Paris?"))
            .tool_config(weather_config(Some(ToolChoice::Any(AnyToolChoice::builder().build()))))
            .send()
            .await,
        "converse",
    )?;
    ensure_eq!(out.stop_reason(), &StopReason::ToolUse, "stopReason");
    let tool_use = first_tool_use(&out).ok_or("no toolUse block")?;
    ensure_eq!(tool_use.name(), "get_weather", "tool name");
    ensure!(!tool_use.tool_use_id().is_empty(), "empty toolUseId");
    let input = json(tool_use.input());
    ensure!(input.get("city").is_some_and(|v| v.is_string()), "input.city missing or not a string: {input}");
    ensure!(
        matches!(input.get("unit").and_then(|v| v.as_str()), Some("celsius" | "fahrenheit")),
        "input.unit not one of the enum values: {input}"
    );
    Ok(())
}

async fn a_named_tool_choice_calls_that_tool(ctx: Arc<Ctx>) -> CaseResult {
    let choice = ToolChoice::Tool(
        aws_sdk_bedrockruntime::types::SpecificToolChoice::builder()
            .name("get_weather")
            .build()
            .map_err(|e| e.to_string())?,
    );
    let out = sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .messages(user("Hello"))
            .tool_config(weather_config(Some(choice)))
            .send()
            .await,
        "converse",
    )?;
    ensure_eq!(out.stop_reason(), &StopReason::ToolUse, "stopReason");
    ensure_eq!(first_tool_use(&out).map(|t| t.name().to_string()), Some("get_weather".to_string()), "tool called");
    Ok(())
}

async fn a_tool_result_continues_the_conversation_with_text(ctx: Arc<Ctx>) -> CaseResult {
    let first = sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .messages(user("What is the weather in Paris?"))
            .tool_config(weather_config(Some(ToolChoice::Any(AnyToolChoice::builder().build()))))
            .send()
            .await,
        "first turn",
    )?;
    let tool_use = first_tool_use(&first).ok_or("first turn made no tool call")?;
    let Some(ConverseOutput::Message(assistant_msg)) = first.output() else {
        return Err("first turn output is not a message".into());
    };
    let result = ToolResultBlock::builder()
        .tool_use_id(tool_use.tool_use_id())
        .content(ToolResultContentBlock::Json(doc(&json!({"temperature": 21, "conditions": "sunny"}))))
        .build()
        .map_err(|e| e.to_string())?;
    let out = sdk(
        ctx.runtime()
            .converse()
            .model_id(&ctx.text_model)
            .messages(user("What is the weather in Paris?"))
            .messages(assistant_msg.clone())
            .messages(msg(ConversationRole::User, vec![ContentBlock::ToolResult(result)]))
            .tool_config(weather_config(None))
            .send()
            .await,
        "second turn",
    )?;
    ensure_eq!(out.stop_reason(), &StopReason::EndTurn, "stopReason");
    ensure!(!output_text(out.output()).is_empty(), "no text after the tool result");
    Ok(())
}

async fn inference_profile_ids_and_arns_are_accepted(ctx: Arc<Ctx>) -> CaseResult {
    let profile = format!("us.{}", ctx.text_model);
    sdk(ctx.runtime().converse().model_id(&profile).messages(user("Hi")).send().await, "converse with profile id")?;
    let got =
        sdk(ctx.control().get_inference_profile().inference_profile_identifier(&profile).send().await, "get profile")?;
    sdk(
        ctx.runtime().converse().model_id(got.inference_profile_arn()).messages(user("Hi")).send().await,
        "converse with profile ARN",
    )?;
    Ok(())
}

async fn foundation_model_arns_are_accepted(ctx: Arc<Ctx>) -> CaseResult {
    let got = sdk(ctx.control().get_foundation_model().model_identifier(&ctx.text_model).send().await, "get model")?;
    let arn = got.model_details().map(|d| d.model_arn().to_string()).ok_or("no modelDetails")?;
    sdk(ctx.runtime().converse().model_id(&arn).messages(user("Hi")).send().await, "converse with model ARN")?;
    Ok(())
}

async fn responses_carry_a_request_id(ctx: Arc<Ctx>) -> CaseResult {
    use aws_sdk_bedrockruntime::operation::RequestId;
    let out = sdk(ctx.runtime().converse().model_id(&ctx.text_model).messages(user("Hi")).send().await, "converse")?;
    ensure!(
        out.request_id().is_some_and(|id| id.len() == 36),
        "missing or malformed request id: {:?}",
        out.request_id()
    );
    let err = ctx.runtime().converse().model_id("not-a-model").messages(user("Hi")).send().await;
    let id = err.as_ref().err().and_then(|e| e.request_id().map(str::to_string));
    ensure!(id.is_some(), "error response has no request id");
    Ok(())
}
