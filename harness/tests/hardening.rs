//! Inputs that once could wedge or bloat the server, sent through aws-sdk-rust: every one is
//! answered (a `within` guard turns a hang into a failure; no timing is asserted).

use std::future::Future;
use std::time::Duration;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ConverseTokensRequest, CountTokensInput, Tool, ToolChoice, ToolConfiguration, ToolInputSchema,
    ToolSpecification,
};
use bedrock_emulator::scenario::{Match, Reply, Rule};
use bedrock_emulator::{Emulator, EmulatorHandle};
use bedrock_harness::cases::{doc, user};
use bedrock_harness::target::{emulator_clients, ClientOptions};
use serde_json::json;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA_PRO: &str = "amazon.nova-pro-v1:0";

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
    // Nova Pro: twenty thousand tool specs fit its 300K-token window (not Claude's 200K).
    within(rt.converse().model_id(NOVA_PRO).messages(user("hello")).tool_config(config).send())
        .await
        .expect("answered");
}

/// The code and message of a refused call (panics on success: the test expects a refusal).
fn refusal<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, aws_sdk_bedrockruntime::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> (String, String) {
    match result {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => {
            assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400), "{e:?}");
            (e.code().unwrap_or_default().to_string(), e.message().unwrap_or_default().to_string())
        }
    }
}

/// A prompt the shared tokenizer counts as `tokens` in one user message (each `a` is a
/// token, and a message adds four).
fn prompt_of(tokens: usize) -> String {
    "a ".repeat(tokens - 4)
}

fn anthropic_body(text: &str) -> Blob {
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": text}]});
    Blob::new(body.to_string())
}

async fn count(rt: &aws_sdk_bedrockruntime::Client, text: &str) -> Result<i32, (String, String)> {
    let input = CountTokensInput::Converse(ConverseTokensRequest::builder().messages(user(text)).build());
    match rt.count_tokens().model_id(HAIKU).input(input).send().await {
        Ok(out) => Ok(out.input_tokens()),
        Err(e) => Err(refusal::<(), _>(Err(e))),
    }
}

#[tokio::test]
async fn a_prompt_at_the_context_window_is_answered_and_one_token_more_is_refused_by_every_inference_operation() {
    let emulator = emulator().await;
    let rt = emulator_clients(&emulator.endpoint_url(), &ClientOptions::default()).await.runtime;
    let at = prompt_of(200_000);
    assert_eq!(within(count(&rt, &at)).await, Ok(200_000), "CountTokens reports the count compared with the window");
    within(rt.converse().model_id(HAIKU).messages(user(&at)).send()).await.expect("a prompt at the window is answered");
    within(rt.invoke_model().model_id(HAIKU).body(anthropic_body(&at)).send()).await.expect("and through InvokeModel");

    let over = format!("{at}a");
    let counted = "prompt is too long: 200001 tokens > 200000 maximum";
    assert_eq!(within(count(&rt, &over)).await, Err(("ValidationException".into(), counted.into())));
    let converse = format!("The model returned the following errors: {counted}");
    let refused = refusal(within(rt.converse().model_id(HAIKU).messages(user(&over)).send()).await);
    assert_eq!(refused, ("ValidationException".into(), converse.clone()));
    let refused = refusal(within(rt.converse_stream().model_id(HAIKU).messages(user(&over)).send()).await);
    assert_eq!(refused, ("ValidationException".into(), converse), "refused before the stream starts");
    let too_long = ("ValidationException".to_string(), "Input is too long for requested model.".to_string());
    let refused = refusal(within(rt.invoke_model().model_id(HAIKU).body(anthropic_body(&over)).send()).await);
    assert_eq!(refused, too_long);
    let refused = refusal(
        within(rt.invoke_model_with_response_stream().model_id(HAIKU).body(anthropic_body(&over)).send()).await,
    );
    assert_eq!(refused, too_long);
}

#[tokio::test]
async fn a_ten_megabyte_prompt_is_refused_with_its_token_count() {
    let emulator = emulator().await;
    let rt = emulator_clients(&emulator.endpoint_url(), &ClientOptions::default()).await.runtime;
    let huge = prompt_of(5_000_004);
    assert!(huge.len() >= 10_000_000);
    let refused = refusal(within(rt.converse().model_id(HAIKU).messages(user(&huge)).send()).await);
    assert_eq!(
        refused.1,
        "The model returned the following errors: prompt is too long: 5000004 tokens > 200000 maximum"
    );
    let journal = emulator.journal();
    assert_eq!(journal.last().map(|e| e.status), Some(400));
}

#[tokio::test]
async fn a_scripted_reply_still_answers_a_prompt_over_the_context_window() {
    let emulator = emulator().await;
    emulator.mount(Rule::new("long").when(Match::operation("Converse")).reply(Reply::text("scripted")));
    let rt = emulator_clients(&emulator.endpoint_url(), &ClientOptions::default()).await.runtime;
    let out = within(rt.converse().model_id(HAIKU).messages(user(&prompt_of(200_001))).send())
        .await
        .expect("the rule answers");
    let text = out.output().and_then(|o| o.as_message().ok()).and_then(|m| m.content().first()).cloned();
    assert_eq!(text.and_then(|b| b.as_text().ok().cloned()).as_deref(), Some("scripted"));
}

#[tokio::test]
async fn thousands_of_tools_beside_a_five_megabyte_prompt_are_answered() {
    // Nova Premier's one-million-token window holds both; the synthetic model's tool
    // heuristics read the end of the prompt, so the work does not grow as tools × prompt.
    let emulator = emulator().await;
    let rt = emulator_clients(&emulator.endpoint_url(), &ClientOptions::default()).await.runtime;
    let mut builder = ToolConfiguration::builder();
    for i in 0..10_000 {
        builder = builder.tools(tool(&format!("lookup_{i}"), json!({"type": "object"})));
    }
    let config = builder.build().expect("config");
    let prompt = "alpha bravo charlie ".repeat(250_000);
    within(rt.converse().model_id("us.amazon.nova-premier-v1:0").messages(user(&prompt)).tool_config(config).send())
        .await
        .expect("answered");
}
