//! Inputs that once could wedge or bloat the server, sent through aws-sdk-rust: every one is
//! answered (a `within` guard turns a hang into a failure; no timing is asserted).

use std::future::Future;
use std::time::Duration;

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use bedrock_emulator::{Emulator, EmulatorHandle};
use bedrock_harness::cases::{doc, user};
use bedrock_harness::target::{emulator_clients, ClientOptions};
use serde_json::json;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

async fn within<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(60), f).await {
        Ok(v) => v,
        Err(_) => panic!("no answer within 60 s"),
    }
}

async fn emulator() -> EmulatorHandle {
    match Emulator::builder().start().await {
        Ok(e) => e,
        Err(e) => panic!("emulator did not start: {e}"),
    }
}

fn tool(name: &str, schema: serde_json::Value) -> Tool {
    Tool::ToolSpec(
        ToolSpecification::builder()
            .name(name)
            .input_schema(ToolInputSchema::Json(doc(&schema)))
            .build()
            .expect("tool spec"),
    )
}

#[tokio::test]
async fn a_forced_tool_call_with_a_billion_character_min_length_is_answered_with_a_bounded_input() {
    let emulator = emulator().await;
    let rt = emulator_clients(&emulator.endpoint_url(), &ClientOptions::default()).await.runtime;
    let schema = json!({"type": "object", "properties": {"s": {"type": "string", "minLength": 1_000_000_000u64}}, "required": ["s"]});
    let config = ToolConfiguration::builder()
        .tools(tool("huge", schema))
        .tool_choice(ToolChoice::Any(AnyToolChoice::builder().build()))
        .build()
        .expect("config");
    let out = within(rt.converse().model_id(HAIKU).messages(user("call it")).tool_config(config).send())
        .await
        .expect("answered");
    let text = format!("{:?}", out.output());
    assert!(text.len() < 1_000_000, "the tool input is bounded: {} bytes", text.len());
}

#[tokio::test]
async fn twenty_thousand_tools_in_one_request_are_answered() {
    let emulator = emulator().await;
    let rt = emulator_clients(&emulator.endpoint_url(), &ClientOptions::default()).await.runtime;
    let mut builder = ToolConfiguration::builder();
    for i in 0..20_000 {
        builder = builder.tools(tool(&format!("tool_{i}"), json!({"type": "object"})));
    }
    let config = builder.build().expect("config");
    within(rt.converse().model_id(HAIKU).messages(user("hello")).tool_config(config).send()).await.expect("answered");
}
