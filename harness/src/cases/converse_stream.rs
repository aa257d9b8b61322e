//! ConverseStream: event order, text and tool-use deltas, parity with Converse.

use std::sync::Arc;

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, InferenceConfiguration, StopReason,
    ToolChoice,
};

use super::converse::{output_text, weather_config};
use super::user;
use crate::case::{sdk, Case, CaseResult, Ctx};
use crate::{case, ensure, ensure_eq};

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![
        case!("ConverseStream", converse_stream_emits_events_in_bedrock_order),
        case!("ConverseStream", converse_stream_text_equals_converse_text, emulator_only),
        case!("ConverseStream", converse_stream_streams_tool_input_as_partial_json),
        case!("ConverseStream", converse_stream_reports_max_tokens_in_message_stop),
    ]
}

/// Everything a stream yielded, flattened for assertions.
#[derive(Debug, Default)]
pub struct Collected {
    /// Event kinds in order (`messageStart`, `contentBlockDelta`, …).
    pub kinds: Vec<&'static str>,
    /// Concatenated text deltas.
    pub text: String,
    /// Tool name from contentBlockStart.
    pub tool_name: Option<String>,
    /// Concatenated tool input deltas.
    pub tool_input: String,
    /// messageStop's stop reason.
    pub stop_reason: Option<StopReason>,
    /// metadata usage (input, output, total).
    pub usage: Option<(i32, i32, i32)>,
}

/// Sends a ConverseStream request and collects every event.
pub async fn collect(
    req: aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder,
) -> Result<Collected, String> {
    let mut out = sdk(req.send().await, "converse_stream")?;
    let mut c = Collected::default();
    loop {
        let event = sdk(out.stream.recv().await, "stream recv")?;
        let Some(event) = event else { break };
        match event {
            ConverseStreamOutput::MessageStart(_) => c.kinds.push("messageStart"),
            ConverseStreamOutput::ContentBlockStart(s) => {
                c.kinds.push("contentBlockStart");
                if let Some(ContentBlockStart::ToolUse(t)) = s.start() {
                    c.tool_name = Some(t.name().to_string());
                }
            }
            ConverseStreamOutput::ContentBlockDelta(d) => {
                c.kinds.push("contentBlockDelta");
                match d.delta() {
                    Some(ContentBlockDelta::Text(t)) => c.text.push_str(t),
                    Some(ContentBlockDelta::ToolUse(t)) => c.tool_input.push_str(t.input()),
                    _ => {}
                }
            }
            ConverseStreamOutput::ContentBlockStop(_) => c.kinds.push("contentBlockStop"),
            ConverseStreamOutput::MessageStop(s) => {
                c.kinds.push("messageStop");
                c.stop_reason = Some(s.stop_reason().clone());
            }
            ConverseStreamOutput::Metadata(m) => {
                c.kinds.push("metadata");
                c.usage = m.usage().map(|u| (u.input_tokens(), u.output_tokens(), u.total_tokens()));
            }
            _ => c.kinds.push("unknown"),
        }
    }
    Ok(c)
}

async fn converse_stream_emits_events_in_bedrock_order(ctx: Arc<Ctx>) -> CaseResult {
    let c = collect(ctx.runtime().converse_stream().model_id(&ctx.text_model).messages(user("Count to five."))).await?;
    ensure_eq!(c.kinds.first().copied(), Some("messageStart"), "first event");
    ensure_eq!(c.kinds.last().copied(), Some("metadata"), "last event");
    let n = c.kinds.len();
    ensure!(n >= 5, "too few events: {:?}", c.kinds);
    ensure_eq!(c.kinds[n - 2], "messageStop", "second-to-last event");
    ensure_eq!(c.kinds[n - 3], "contentBlockStop", "event before messageStop");
    ensure!(c.kinds.iter().filter(|k| **k == "contentBlockDelta").count() >= 1, "no deltas: {:?}", c.kinds);
    ensure!(!c.text.is_empty(), "no text streamed");
    ensure_eq!(c.stop_reason, Some(StopReason::EndTurn), "stopReason");
    let (i, o, t) = c.usage.ok_or("metadata without usage")?;
    ensure!(i > 0 && o > 0 && t == i + o, "inconsistent usage {i}+{o}={t}");
    Ok(())
}

async fn converse_stream_text_equals_converse_text(ctx: Arc<Ctx>) -> CaseResult {
    let unary = sdk(
        ctx.runtime().converse().model_id(&ctx.text_model).messages(user("Describe a harbor.")).send().await,
        "converse",
    )?;
    let c =
        collect(ctx.runtime().converse_stream().model_id(&ctx.text_model).messages(user("Describe a harbor."))).await?;
    ensure_eq!(c.text, output_text(unary.output()), "streamed text");
    let u = unary.usage().ok_or("no usage")?;
    ensure_eq!(c.usage, Some((u.input_tokens(), u.output_tokens(), u.total_tokens())), "streamed usage");
    Ok(())
}

async fn converse_stream_streams_tool_input_as_partial_json(ctx: Arc<Ctx>) -> CaseResult {
    let c = collect(
        ctx.runtime()
            .converse_stream()
            .model_id(&ctx.text_model)
            .messages(user("What is the weather in Paris?"))
            .tool_config(weather_config(Some(ToolChoice::Any(AnyToolChoice::builder().build())))),
    )
    .await?;
    ensure!(c.kinds.contains(&"contentBlockStart"), "no contentBlockStart for the tool block: {:?}", c.kinds);
    ensure_eq!(c.tool_name.as_deref(), Some("get_weather"), "tool name");
    let input: serde_json::Value = serde_json::from_str(&c.tool_input)
        .map_err(|e| format!("tool input deltas do not form JSON ({e}): {:?}", c.tool_input))?;
    ensure!(input.get("city").is_some(), "input lacks required key city: {input}");
    ensure_eq!(c.stop_reason, Some(StopReason::ToolUse), "stopReason");
    Ok(())
}

async fn converse_stream_reports_max_tokens_in_message_stop(ctx: Arc<Ctx>) -> CaseResult {
    let c = collect(
        ctx.runtime()
            .converse_stream()
            .model_id(&ctx.text_model)
            .messages(user("Write a long story about a lighthouse keeper."))
            .inference_config(InferenceConfiguration::builder().max_tokens(4).build()),
    )
    .await?;
    ensure_eq!(c.stop_reason, Some(StopReason::MaxTokens), "stopReason");
    let (_, o, _) = c.usage.ok_or("no usage")?;
    ensure!(o <= 4, "outputTokens {o} exceeds maxTokens 4");
    Ok(())
}
