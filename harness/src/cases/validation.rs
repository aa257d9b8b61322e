//! Server-side validation: every error a bad Converse request must get, with Bedrock's code
//! and (where recorded or widely quoted) its exact message.

use std::sync::Arc;

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration, SpecificToolChoice,
    ToolChoice, ToolResultBlock, ToolResultStatus, ToolUseBlock,
};
use aws_smithy_types::Blob;
use serde_json::json;

use super::converse::weather_config;
use super::{assistant, doc, msg, user};
use crate::case;
use crate::case::{expect_error, expect_error_containing, Case, CaseResult, Ctx};

const V: &str = "ValidationException";

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![
        case!("Validation", an_unknown_model_id_is_invalid),
        case!("Validation", an_unknown_model_id_is_invalid_for_converse_stream_before_the_stream),
        case!("Validation", a_profile_only_model_by_bare_id_needs_an_inference_profile),
        case!("Validation", an_embedding_model_is_refused_by_converse),
        case!("Validation", a_conversation_must_start_with_a_user_message),
        case!("Validation", roles_must_alternate),
        case!("Validation", a_blank_text_block_is_rejected),
        case!("Validation", an_empty_content_list_is_rejected),
        case!("Validation", temperature_above_one_is_rejected),
        case!("Validation", negative_top_p_is_rejected),
        case!("Validation", max_tokens_above_the_model_limit_is_rejected),
        case!("Validation", max_tokens_below_one_is_rejected),
        case!("Validation", tool_blocks_without_tool_config_are_rejected),
        case!("Validation", more_tool_results_than_tool_uses_are_rejected),
        case!("Validation", an_unanswered_tool_use_is_rejected),
        case!("Validation", an_error_tool_result_needs_content),
        case!("Validation", a_tool_choice_naming_an_undefined_tool_is_rejected, emulator_only),
        case!("Validation", an_unknown_image_format_is_rejected),
        case!("Validation", images_are_only_accepted_in_user_messages, emulator_only),
        case!("Validation", tool_use_is_refused_by_models_without_tools),
        case!("Validation", streaming_tool_use_is_refused_by_models_without_it),
    ]
}

fn tool_use(id: &str) -> ContentBlock {
    ContentBlock::ToolUse(
        ToolUseBlock::builder()
            .tool_use_id(id)
            .name("get_weather")
            .input(doc(&json!({"city": "Paris", "unit": "celsius"})))
            .build()
            .unwrap_or_else(|e| unreachable!("tool use block is complete: {e}")),
    )
}

fn tool_result(
    id: &str,
    status: Option<ToolResultStatus>,
    content: Vec<aws_sdk_bedrockruntime::types::ToolResultContentBlock>,
) -> ContentBlock {
    ContentBlock::ToolResult(
        ToolResultBlock::builder()
            .tool_use_id(id)
            .set_content(Some(content))
            .set_status(status)
            .build()
            .unwrap_or_else(|e| unreachable!("tool result block is complete: {e}")),
    )
}

fn sunny() -> aws_sdk_bedrockruntime::types::ToolResultContentBlock {
    aws_sdk_bedrockruntime::types::ToolResultContentBlock::Text("sunny".into())
}

async fn an_unknown_model_id_is_invalid(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx.runtime().converse().model_id("anthropic.claude-nonexistent-v9:0").messages(user("Hi")).send().await;
    expect_error(r, V, Some("The provided model identifier is invalid."))
}

async fn an_unknown_model_id_is_invalid_for_converse_stream_before_the_stream(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx.runtime().converse_stream().model_id("no-such-model").messages(user("Hi")).send().await;
    expect_error(r.map(|_| ()), V, Some("The provided model identifier is invalid."))
}

async fn a_profile_only_model_by_bare_id_needs_an_inference_profile(ctx: Arc<Ctx>) -> CaseResult {
    let r =
        ctx.runtime().converse().model_id("anthropic.claude-sonnet-4-20250514-v1:0").messages(user("Hi")).send().await;
    expect_error_containing(r, V, "with on-demand throughput isn\u{2019}t supported")
}

async fn an_embedding_model_is_refused_by_converse(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx.runtime().converse().model_id("amazon.titan-embed-text-v2:0").messages(user("Hi")).send().await;
    expect_error(r, V, None)
}

async fn a_conversation_must_start_with_a_user_message(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(assistant("Hello"))
        .messages(user("Hi"))
        .send()
        .await;
    expect_error(
        r,
        V,
        Some("A conversation must start with a user message. Try again with a conversation that starts with a user message."),
    )
}

async fn roles_must_alternate(ctx: Arc<Ctx>) -> CaseResult {
    let r =
        ctx.runtime().converse().model_id(&ctx.text_model).messages(user("Hi")).messages(user("Hello?")).send().await;
    expect_error(
        r,
        V,
        Some("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."),
    )
}

async fn a_blank_text_block_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx.runtime().converse().model_id(&ctx.text_model).messages(user("  ")).send().await;
    expect_error(
        r,
        V,
        Some("The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again."),
    )
}

async fn an_empty_content_list_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r =
        ctx.runtime().converse().model_id(&ctx.text_model).messages(msg(ConversationRole::User, vec![])).send().await;
    expect_error(r, V, None)
}

async fn temperature_above_one_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Hi"))
        .inference_config(InferenceConfiguration::builder().temperature(1.5).build())
        .send()
        .await;
    expect_error_containing(r, V, "Member must have value less than or equal to 1")
}

async fn negative_top_p_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Hi"))
        .inference_config(InferenceConfiguration::builder().top_p(-0.5).build())
        .send()
        .await;
    expect_error_containing(r, V, "Member must have value greater than or equal to 0")
}

async fn max_tokens_above_the_model_limit_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Hi"))
        .inference_config(InferenceConfiguration::builder().max_tokens(1_000_000).build())
        .send()
        .await;
    expect_error_containing(r, V, "The maximum tokens you requested exceeds the model limit of")
}

async fn max_tokens_below_one_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Hi"))
        .inference_config(InferenceConfiguration::builder().max_tokens(0).build())
        .send()
        .await;
    expect_error(r, V, None)
}

async fn tool_blocks_without_tool_config_are_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Weather?"))
        .messages(msg(ConversationRole::Assistant, vec![tool_use("tooluse_1")]))
        .messages(msg(ConversationRole::User, vec![tool_result("tooluse_1", None, vec![sunny()])]))
        .send()
        .await;
    expect_error(r, V, Some("The toolConfig field must be defined when using toolUse and toolResult content blocks."))
}

async fn more_tool_results_than_tool_uses_are_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Weather?"))
        .messages(msg(ConversationRole::Assistant, vec![tool_use("tooluse_1")]))
        .messages(msg(
            ConversationRole::User,
            vec![tool_result("tooluse_1", None, vec![sunny()]), tool_result("tooluse_2", None, vec![sunny()])],
        ))
        .tool_config(weather_config(None))
        .send()
        .await;
    expect_error(
        r,
        V,
        Some("The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn."),
    )
}

async fn an_unanswered_tool_use_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Weather?"))
        .messages(msg(ConversationRole::Assistant, vec![tool_use("tooluse_1")]))
        .messages(user("Never mind."))
        .tool_config(weather_config(None))
        .send()
        .await;
    expect_error_containing(r, V, "tooluse_1")
}

async fn an_error_tool_result_needs_content(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Weather?"))
        .messages(msg(ConversationRole::Assistant, vec![tool_use("tooluse_1")]))
        .messages(msg(ConversationRole::User, vec![tool_result("tooluse_1", Some(ToolResultStatus::Error), vec![])]))
        .tool_config(weather_config(None))
        .send()
        .await;
    expect_error(
        r,
        V,
        Some("The content field at messages.2.content.0.toolResult cannot be empty when status value is error."),
    )
}

async fn a_tool_choice_naming_an_undefined_tool_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let choice = ToolChoice::Tool(SpecificToolChoice::builder().name("get_time").build().map_err(|e| e.to_string())?);
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Hi"))
        .tool_config(weather_config(Some(choice)))
        .send()
        .await;
    expect_error_containing(r, V, "get_time")
}

fn image(format: ImageFormat) -> ContentBlock {
    ContentBlock::Image(
        ImageBlock::builder()
            .format(format)
            .source(ImageSource::Bytes(Blob::new(b"\x89PNG\r\n\x1a\n".to_vec())))
            .build()
            .unwrap_or_else(|e| unreachable!("image block is complete: {e}")),
    )
}

async fn an_unknown_image_format_is_rejected(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(msg(
            ConversationRole::User,
            vec![image(ImageFormat::from("bmp")), ContentBlock::Text("What is this?".into())],
        ))
        .send()
        .await;
    expect_error(r, V, None)
}

async fn images_are_only_accepted_in_user_messages(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id(&ctx.text_model)
        .messages(user("Draw"))
        .messages(msg(ConversationRole::Assistant, vec![image(ImageFormat::Png)]))
        .messages(user("Thanks"))
        .send()
        .await;
    expect_error(r, V, None)
}

async fn tool_use_is_refused_by_models_without_tools(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse()
        .model_id("amazon.titan-text-express-v1")
        .messages(user("Weather?"))
        .tool_config(weather_config(None))
        .send()
        .await;
    expect_error(r, V, Some("This model doesn't support tool use."))
}

async fn streaming_tool_use_is_refused_by_models_without_it(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .converse_stream()
        .model_id("us.meta.llama3-1-8b-instruct-v1:0")
        .messages(user("Weather?"))
        .tool_config(weather_config(None))
        .send()
        .await;
    expect_error(r.map(|_| ()), V, Some("This model doesn't support tool use in streaming mode."))
}
