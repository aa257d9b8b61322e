//! Runtime, asynchronous invocations: a Nova Reel job is started, read back and listed.

use std::sync::Arc;

use crate::case::{sdk, Case, CaseResult, Ctx};
use crate::{case, ensure};

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![case!("AsyncInvoke", start_async_invoke_is_listed_and_in_progress)]
}

async fn start_async_invoke_is_listed_and_in_progress(ctx: Arc<Ctx>) -> CaseResult {
    use aws_sdk_bedrockruntime::types::{
        AsyncInvokeOutputDataConfig, AsyncInvokeS3OutputDataConfig, AsyncInvokeStatus,
    };
    use aws_smithy_types::Document;
    let text = Document::Object([("text".to_string(), Document::String("A lighthouse at dawn".into()))].into());
    let input = Document::Object(
        [("taskType".to_string(), Document::String("TEXT_VIDEO".into())), ("textToVideoParams".to_string(), text)]
            .into(),
    );
    let s3 = AsyncInvokeS3OutputDataConfig::builder()
        .s3_uri("s3://harness-videos/runs")
        .build()
        .map_err(|e| e.to_string())?;
    let started = sdk(
        ctx.runtime()
            .start_async_invoke()
            .model_id("amazon.nova-reel-v1:0")
            .model_input(input)
            .output_data_config(AsyncInvokeOutputDataConfig::S3OutputDataConfig(s3))
            .send()
            .await,
        "start",
    )?;
    let arn = started.invocation_arn().to_string();
    ensure!(arn.contains(":async-invoke/"), "ARN {arn}");
    let job = sdk(ctx.runtime().get_async_invoke().invocation_arn(&arn).send().await, "get")?;
    ensure!(
        matches!(job.status(), AsyncInvokeStatus::InProgress | AsyncInvokeStatus::Completed),
        "status {:?}",
        job.status()
    );
    let listed = sdk(ctx.runtime().list_async_invokes().send().await, "list")?;
    ensure!(listed.async_invoke_summaries().iter().any(|s| s.invocation_arn() == arn), "{arn} not listed");
    Ok(())
}
