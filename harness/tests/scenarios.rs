//! Scripted scenarios, the request journal and verification, driven through the real AWS SDK
//! clients against in-process emulators configured with rules — from the Rust builder API and
//! from YAML files written to a temporary folder. One `#[tokio::test]` per behaviour.

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput, ConverseStreamOutput, ConverseTokensRequest,
    CountTokensInput, InferenceConfiguration, ResponseStream, StopReason, SystemContentBlock, Tool, ToolConfiguration,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification,
};
use bedrock_emulator::emulator::StartError;
use bedrock_emulator::scenario::format::{StopReasonName, Then};
use bedrock_emulator::scenario::{Match, Reply, Rule, Times};
use bedrock_emulator::wire::error::ErrorCode;
use bedrock_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use bedrock_harness::cases::converse::{output_text, weather_config};
use bedrock_harness::cases::converse_stream::collect;
use bedrock_harness::cases::invoke_model::stream_chunks;
use bedrock_harness::cases::{assistant, doc, json as doc_json, msg, user};
use bedrock_harness::target::{emulator_clients, ClientOptions};
use bedrock_harness::{Ctx, Target};
use serde_json::{json, Value};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const HAIKU_PROFILE: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";
const NOVA: &str = "amazon.nova-micro-v1:0";
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/examples");

/// Every synthetic Converse reply starts with this echo of the prompt.
const SYNTHETIC: &str = "You said: ";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A running emulator and SDK clients (one attempt, no retries) pointed at it.
struct Env {
    emulator: EmulatorHandle,
    ctx: Ctx,
}

async fn start(builder: EmulatorBuilder) -> Env {
    let emulator = match builder.start().await {
        Ok(e) => e,
        Err(e) => panic!("emulator did not start: {e}"),
    };
    let ctx = Ctx::new(Target::Emulator { endpoint: emulator.endpoint_url() }).await;
    Env { emulator, ctx }
}

/// An emulator with `rules` mounted from code (source `code`).
async fn with_rules(rules: impl IntoIterator<Item = Rule>) -> Env {
    let env = start(Emulator::builder()).await;
    for rule in rules {
        env.emulator.mount(rule);
    }
    env
}

/// A unique folder under the system temp dir holding scenario files; removed on drop.
struct TempScenarios {
    dir: PathBuf,
}

impl TempScenarios {
    fn new(tag: &str, files: &[(&str, &str)]) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bedrock-harness-scenarios-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp scenario dir");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write scenario file");
        }
        TempScenarios { dir }
    }
}

impl Drop for TempScenarios {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An emulator loading `yaml` as `<tag>.yaml` from a fresh temp folder (files are read at start).
async fn from_yaml(tag: &str, yaml: &str) -> Env {
    from_yaml_with(tag, yaml, Emulator::builder()).await
}

async fn from_yaml_with(tag: &str, yaml: &str, builder: EmulatorBuilder) -> Env {
    let file = format!("{tag}.yaml");
    let tmp = TempScenarios::new(tag, &[(&file, yaml)]);
    start(builder.scenarios(tmp.dir.clone())).await
}

/// Unwraps an SDK result, showing the whole error on failure.
fn ok<T, E: Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

/// Fails instead of hanging.
async fn within<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("did not finish within 30 s"),
    }
}

/// Converse with one user message; the reply's text.
async fn converse(ctx: &Ctx, model: &str, text: &str) -> String {
    let out = ok(ctx.runtime().converse().model_id(model).messages(user(text)).send().await, "converse");
    output_text(out.output())
}

/// ConverseStream with one user message; the streamed text.
async fn converse_stream(ctx: &Ctx, model: &str, text: &str) -> String {
    let collected = within(collect(ctx.runtime().converse_stream().model_id(model).messages(user(text)))).await;
    ok(collected, "converse_stream").text
}

fn anthropic_request(prompt: &str) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200, "messages": [{"role": "user", "content": prompt}]})
}

/// InvokeModel with a JSON body; the response body as JSON.
async fn invoke(ctx: &Ctx, model: &str, body: &Value) -> Value {
    let out = ok(
        ctx.runtime()
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await,
        "invoke_model",
    );
    serde_json::from_slice(out.body().as_ref()).expect("InvokeModel body is JSON")
}

/// The text of Anthropic Messages stream chunks (`content_block_delta` text deltas).
fn anthropic_stream_text(chunks: &[Value]) -> String {
    chunks.iter().filter(|c| c["type"] == "content_block_delta").filter_map(|c| c["delta"]["text"].as_str()).collect()
}

/// A tool configuration offering one tool named `name`.
fn tool_config(name: &str) -> ToolConfiguration {
    let spec = ToolSpecification::builder()
        .name(name)
        .description("A tool")
        .input_schema(ToolInputSchema::Json(doc(&json!({"type": "object", "properties": {}}))))
        .build()
        .expect("tool spec");
    ToolConfiguration::builder().tools(Tool::ToolSpec(spec)).build().expect("tool config")
}

fn system(text: &str) -> SystemContentBlock {
    SystemContentBlock::Text(text.to_string())
}

/// A runtime client using the SDK's standard retry strategy: three attempts, ~no backoff.
async fn retrying_runtime(endpoint: &str) -> aws_sdk_bedrockruntime::Client {
    emulator_clients(endpoint, &ClientOptions { attempts: 3, ..ClientOptions::default() }).await.runtime
}

/// `answeredBy` of every journal entry, oldest first.
fn answered_by(emulator: &EmulatorHandle) -> Vec<String> {
    emulator.journal().into_iter().map(|e| e.answered_by).collect()
}

// ---------------------------------------------------------------------------------------------
// Match kinds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rule_for_one_operation_leaves_other_operations_to_the_synthetic_model() {
    let env = with_rules([Rule::new("stream-only")
        .when(Match::operation("ConverseStream"))
        .reply(Reply::text("Only streams get this."))])
    .await;
    assert_eq!(converse_stream(&env.ctx, HAIKU, "Hello").await, "Only streams get this.");
    let unary = converse(&env.ctx, HAIKU, "Hello").await;
    assert!(unary.starts_with(SYNTHETIC), "Converse should be synthetic, got {unary:?}");
    assert_eq!(answered_by(&env.emulator), ["scenario:code/stream-only", "synthetic"]);
}

#[tokio::test]
async fn a_list_of_operations_matches_any_of_them() {
    let yaml = r#"
version: 1
rules:
  - name: two-ops
    match:
      operation: [Converse, InvokeModel]
    reply: {text: "One of two."}
"#;
    let env = from_yaml("operation-list", yaml).await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "One of two.");
    let body = invoke(&env.ctx, HAIKU, &anthropic_request("Hi")).await;
    assert_eq!(body["content"][0]["text"], "One of two.");
    let streamed = converse_stream(&env.ctx, HAIKU, "Hi").await;
    assert!(streamed.starts_with(SYNTHETIC), "ConverseStream is not listed, got {streamed:?}");
}

#[tokio::test]
async fn a_model_glob_matches_the_foundation_model_id() {
    let env = with_rules([Rule::new("claude-3")
        .when(Match::any().model("anthropic.claude-3-*"))
        .reply(Reply::text("A Claude 3 answer."))])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "A Claude 3 answer.");
    let other = converse(&env.ctx, NOVA, "Hi").await;
    assert!(other.starts_with(SYNTHETIC), "Nova should not match, got {other:?}");
}

#[tokio::test]
async fn an_inference_profile_id_resolves_to_the_model_a_glob_names() {
    let env = with_rules([Rule::new("haiku")
        .when(Match::operation("Converse").model("anthropic.claude-3-haiku-*"))
        .reply(Reply::text("Haiku, however addressed."))])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU_PROFILE, "Hi").await, "Haiku, however addressed.");
    let entry = env.emulator.journal().pop().expect("one entry");
    assert_eq!(entry.request.model_id.as_deref(), Some(HAIKU_PROFILE));
    assert_eq!(entry.request.resolved_model.as_deref(), Some(HAIKU));
    assert_eq!(entry.answered_by, "scenario:code/haiku");
}

#[tokio::test]
async fn a_model_glob_also_matches_the_id_as_sent() {
    let env = with_rules([Rule::new("us-profiles")
        .when(Match::any().model("us.*"))
        .reply(Reply::text("Sent through a US profile."))])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU_PROFILE, "Hi").await, "Sent through a US profile.");
    let bare = converse(&env.ctx, HAIKU, "Hi").await;
    assert!(bare.starts_with(SYNTHETIC), "the bare id does not start with us., got {bare:?}");
}

#[tokio::test]
async fn last_user_message_as_a_plain_string_means_case_sensitive_contains() {
    let yaml = r#"
version: 1
rules:
  - name: hello
    match: {lastUserMessage: Hello}
    reply: {text: "Contains Hello."}
"#;
    let env = from_yaml("contains", yaml).await;
    assert_eq!(converse(&env.ctx, HAIKU, "Well, Hello there").await, "Contains Hello.");
    let lower = converse(&env.ctx, HAIKU, "well, hello there").await;
    assert!(lower.starts_with(SYNTHETIC), "contains is case-sensitive, got {lower:?}");
}

#[tokio::test]
async fn last_user_message_with_ignore_case_matches_any_case() {
    let yaml = r#"
version: 1
rules:
  - name: hours
    match:
      lastUserMessage: {contains: "opening hours", ignoreCase: true}
    reply: {text: "Nine to five."}
"#;
    let env = from_yaml("ignore-case", yaml).await;
    assert_eq!(converse(&env.ctx, HAIKU, "What are your OPENING Hours?").await, "Nine to five.");
    let other = converse(&env.ctx, HAIKU, "When do you open?").await;
    assert!(other.starts_with(SYNTHETIC), "got {other:?}");
}

#[tokio::test]
async fn last_user_message_regex_matches_anywhere_in_the_text() {
    let env = with_rules([Rule::new("order")
        .when(Match::operation("Converse").last_user_regex(r"order #\d+"))
        .reply(Reply::text("Your order has shipped."))])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU, "Where is my order #1234 please?").await, "Your order has shipped.");
    let miss = converse(&env.ctx, HAIKU, "Where is my order #abc?").await;
    assert!(miss.starts_with(SYNTHETIC), "got {miss:?}");
}

#[tokio::test]
async fn last_user_message_regex_from_yaml_supports_inline_flags() {
    let yaml = r#"
version: 1
rules:
  - name: greeting
    match:
      lastUserMessage: {regex: "(?i)^\\s*(hi|hello|hey)\\b"}
    reply: {text: "Greetings."}
"#;
    let env = from_yaml("regex", yaml).await;
    assert_eq!(converse(&env.ctx, HAIKU, "  HEY you").await, "Greetings.");
    let miss = converse(&env.ctx, HAIKU, "They said hi").await;
    assert!(miss.starts_with(SYNTHETIC), "the regex is anchored, got {miss:?}");
}

#[tokio::test]
async fn last_user_message_equals_needs_the_exact_text() {
    let yaml = r#"
version: 1
rules:
  - name: ping
    match:
      lastUserMessage: {equals: ping}
    reply: {text: pong}
"#;
    let env = from_yaml("equals", yaml).await;
    assert_eq!(converse(&env.ctx, HAIKU, "ping").await, "pong");
    let miss = converse(&env.ctx, HAIKU, "ping!").await;
    assert!(miss.starts_with(SYNTHETIC), "got {miss:?}");
}

#[tokio::test]
async fn only_the_last_user_message_is_matched_not_earlier_turns() {
    let env = with_rules([Rule::new("refund")
        .when(Match::operation("Converse").last_user_contains("refund"))
        .reply(Reply::text("Refunds take five days."))])
    .await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("I want a refund"))
            .messages(assistant("Sure, what is the order number?"))
            .messages(user("It is 42"))
            .send()
            .await,
        "converse",
    );
    let text = output_text(out.output());
    assert!(text.starts_with(SYNTHETIC), "an earlier turn must not match, got {text:?}");
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Hello"))
            .messages(assistant("Hi, how can I help?"))
            .messages(user("I want a refund"))
            .send()
            .await,
        "converse",
    );
    assert_eq!(output_text(out.output()), "Refunds take five days.");
}

#[tokio::test]
async fn a_system_condition_matches_the_system_prompt() {
    let env = with_rules([Rule::new("pirate")
        .when(Match::operation("Converse").system_contains("pirate"))
        .reply(Reply::text("Arr!"))])
    .await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .system(system("You are a pirate."))
            .messages(user("Hi"))
            .send()
            .await,
        "converse with system",
    );
    assert_eq!(output_text(out.output()), "Arr!");
    let plain = converse(&env.ctx, HAIKU, "Hi").await;
    assert!(plain.starts_with(SYNTHETIC), "no system prompt, got {plain:?}");
}

#[tokio::test]
async fn tools_true_and_false_tell_requests_with_and_without_tools_apart() {
    let yaml = r#"
version: 1
rules:
  - name: with-tools
    match: {tools: true}
    reply: {text: "You offered tools."}
  - name: without-tools
    match: {tools: false}
    reply: {text: "No tools here."}
"#;
    let env = from_yaml("tools", yaml).await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Hi"))
            .tool_config(weather_config(None))
            .send()
            .await,
        "converse with tools",
    );
    assert_eq!(output_text(out.output()), "You offered tools.");
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "No tools here.");
}

#[tokio::test]
async fn a_tool_condition_needs_a_tool_of_that_name() {
    let env = with_rules([Rule::new("weather")
        .when(Match::operation("Converse").tool("get_weather"))
        .reply(Reply::text("Weather tool offered."))])
    .await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Hi"))
            .tool_config(weather_config(None))
            .send()
            .await,
        "converse with get_weather",
    );
    assert_eq!(output_text(out.output()), "Weather tool offered.");
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Hi"))
            .tool_config(tool_config("get_time"))
            .send()
            .await,
        "converse with get_time",
    );
    let text = output_text(out.output());
    assert!(text.starts_with(SYNTHETIC), "get_time is not get_weather, got {text:?}");
}

#[tokio::test]
async fn a_json_pointer_condition_matches_a_value_in_the_body() {
    let yaml = r#"
version: 1
rules:
  - name: forty-two
    match:
      json:
        - path: /inferenceConfig/maxTokens
          equals: 42
    reply: {text: "Exactly 42 tokens allowed."}
"#;
    let env = from_yaml("json-pointer", yaml).await;
    let send = |max: i32| {
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Hi"))
            .inference_config(InferenceConfiguration::builder().max_tokens(max).build())
            .send()
    };
    assert_eq!(output_text(ok(send(42).await, "maxTokens 42").output()), "Exactly 42 tokens allowed.");
    let other = output_text(ok(send(43).await, "maxTokens 43").output());
    assert!(other.starts_with(SYNTHETIC), "got {other:?}");
}

#[tokio::test]
async fn a_json_exists_and_text_condition_tests_presence_and_text_of_a_value() {
    let yaml = r#"
version: 1
rules:
  - name: tuned
    match:
      json:
        - {path: /inferenceConfig/temperature, exists: true}
        - {path: /messages/0/content/0/text, text: {regex: "^translate"}}
    reply: {text: "Tuned translation."}
  - name: untuned
    match:
      json:
        - {path: /inferenceConfig, exists: false}
    reply: {text: "Default settings."}
"#;
    let env = from_yaml("json-exists", yaml).await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("translate this"))
            .inference_config(InferenceConfiguration::builder().temperature(0.5).build())
            .send()
            .await,
        "converse with temperature",
    );
    assert_eq!(output_text(out.output()), "Tuned translation.");
    assert_eq!(converse(&env.ctx, HAIKU, "translate this").await, "Default settings.");
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("summarise this"))
            .inference_config(InferenceConfiguration::builder().temperature(0.5).build())
            .send()
            .await,
        "converse with another text",
    );
    let text = output_text(out.output());
    assert!(text.starts_with(SYNTHETIC), "the text condition fails, got {text:?}");
}

#[tokio::test]
async fn a_header_condition_matches_a_request_header_case_insensitively() {
    let yaml = r#"
version: 1
rules:
  - name: tagged
    match:
      headers:
        X-Test: "1"
    reply: {text: "Tagged request."}
"#;
    let env = from_yaml("headers", yaml).await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Hi"))
            .customize()
            .mutate_request(|r| {
                r.headers_mut().insert("x-test", "1");
            })
            .send()
            .await,
        "converse with x-test",
    );
    assert_eq!(output_text(out.output()), "Tagged request.");
    let plain = converse(&env.ctx, HAIKU, "Hi").await;
    assert!(plain.starts_with(SYNTHETIC), "no header, got {plain:?}");
}

#[tokio::test]
async fn request_count_at_least_answers_from_the_nth_matching_request_on() {
    let env = with_rules([Rule::new("third")
        .when(Match::operation("Converse").from_request(3))
        .reply(Reply::text("Third or later."))])
    .await;
    for i in 1..=2 {
        let text = converse(&env.ctx, HAIKU, "Hi").await;
        assert!(text.starts_with(SYNTHETIC), "request {i} should be synthetic, got {text:?}");
    }
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Third or later.");
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Third or later.");
}

#[tokio::test]
async fn request_count_equals_answers_exactly_one_request() {
    let yaml = r#"
version: 1
rules:
  - name: second-only
    match:
      operation: Converse
      requestCount: {equals: 2}
    reply: {text: "Second."}
"#;
    let env = from_yaml("request-count", yaml).await;
    let texts = [
        converse(&env.ctx, HAIKU, "Hi").await,
        converse(&env.ctx, HAIKU, "Hi").await,
        converse(&env.ctx, HAIKU, "Hi").await,
    ];
    assert!(texts[0].starts_with(SYNTHETIC), "{texts:?}");
    assert_eq!(texts[1], "Second.");
    assert!(texts[2].starts_with(SYNTHETIC), "{texts:?}");
}

#[tokio::test]
async fn request_count_only_counts_requests_that_meet_the_other_conditions() {
    let env = with_rules([Rule::new("second-hello")
        .when(Match::operation("Converse").last_user_contains("hello").from_request(2))
        .reply(Reply::text("Hello again."))])
    .await;
    let first = converse(&env.ctx, HAIKU, "hello").await;
    assert!(first.starts_with(SYNTHETIC), "{first:?}");
    let unrelated = converse(&env.ctx, HAIKU, "bye").await;
    assert!(unrelated.starts_with(SYNTHETIC), "{unrelated:?}");
    assert_eq!(converse(&env.ctx, HAIKU, "hello").await, "Hello again.");
}

#[tokio::test]
async fn request_count_counts_matching_requests_that_an_earlier_rule_answered() {
    let env = with_rules([
        Rule::new("first-only")
            .priority(10)
            .when(Match::operation("Converse"))
            .reply(Reply::text("First."))
            .then(Then::FallThrough),
        Rule::new("second").when(Match::operation("Converse").from_request(2)).reply(Reply::text("Second or later.")),
    ])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "First.");
    // The second Converse request met `second`'s other conditions twice (this one included).
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Second or later.");
}

#[tokio::test]
async fn every_condition_of_a_match_must_hold() {
    let env = with_rules([Rule::new("all")
        .when(
            Match::operation("Converse").model("anthropic.*").last_user_contains("invoice").system_contains("billing"),
        )
        .reply(Reply::text("All conditions held."))])
    .await;
    let send = |model: &'static str, sys: &'static str, text: &'static str| {
        env.ctx.runtime().converse().model_id(model).system(system(sys)).messages(user(text)).send()
    };
    let hit = output_text(ok(send(HAIKU, "billing desk", "my invoice").await, "all hold").output());
    assert_eq!(hit, "All conditions held.");
    for (model, sys, text) in
        [(NOVA, "billing desk", "my invoice"), (HAIKU, "sales desk", "my invoice"), (HAIKU, "billing desk", "my order")]
    {
        let got = output_text(ok(send(model, sys, text).await, "one fails").output());
        assert!(got.starts_with(SYNTHETIC), "{model}/{sys}/{text} should not match, got {got:?}");
    }
    let stream = converse_stream(&env.ctx, HAIKU, "my invoice").await;
    assert!(stream.starts_with(SYNTHETIC), "wrong operation, got {stream:?}");
}

#[tokio::test]
async fn last_user_message_and_system_match_native_invoke_model_bodies_of_every_text_family() {
    let env = with_rules([Rule::new("native")
        .when(Match::operation("InvokeModel").last_user_contains("harbor"))
        .reply(Reply::text("A harbor answer."))])
    .await;
    let families = bedrock_harness::cases::invoke_model::family_requests();
    for (model, body, pointer) in &families {
        let out = invoke(&env.ctx, model, body).await;
        assert_eq!(out.pointer(pointer), Some(&json!("A harbor answer.")), "{model}: {out}");
    }
    let labels = answered_by(&env.emulator);
    assert_eq!(labels, vec!["scenario:code/native"; families.len()], "every family's prompt is read");

    env.emulator.mount(
        Rule::new("native-system")
            .priority(1)
            .when(Match::operation("InvokeModel").system_contains("poet"))
            .reply(Reply::text("A poem.")),
    );
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "system": "You are a poet.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Write"}]}]
    });
    assert_eq!(invoke(&env.ctx, HAIKU, &body).await["content"][0]["text"], "A poem.");
}

#[tokio::test]
async fn a_model_glob_matches_a_foundation_model_arn_by_the_model_it_names() {
    let env = with_rules([Rule::new("haiku")
        .when(Match::any().model("anthropic.claude-3-haiku-*"))
        .reply(Reply::text("Addressed by ARN."))])
    .await;
    let arn = format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}");
    assert_eq!(converse(&env.ctx, &arn, "Hi").await, "Addressed by ARN.");
}

#[tokio::test]
async fn a_higher_priority_rule_wins_over_an_earlier_declared_one() {
    let env = with_rules([
        Rule::new("declared-first").reply(Reply::text("low")),
        Rule::new("urgent").priority(5).reply(Reply::text("high")),
        Rule::new("declared-third").reply(Reply::text("also low")),
    ])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "high");
}

#[tokio::test]
async fn equal_priorities_keep_declaration_order() {
    let env = with_rules([
        Rule::new("first").when(Match::operation("Converse")).reply(Reply::text("first")),
        Rule::new("second").when(Match::operation("Converse")).reply(Reply::text("second")),
    ])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "first");
}

// ---------------------------------------------------------------------------------------------
// Reply kinds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn one_text_rule_answers_converse_converse_stream_invoke_model_and_its_stream() {
    let text = "Scripted answer for every operation.";
    let env = with_rules([Rule::new("everywhere").when(Match::any().model(HAIKU)).reply(Reply::text(text))]).await;

    let out = ok(env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await, "converse");
    assert_eq!(output_text(out.output()), text);
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let usage = out.usage().expect("usage");
    assert!(usage.output_tokens() > 0 && usage.input_tokens() > 0, "{usage:?}");

    let streamed =
        ok(within(collect(env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")))).await, "stream");
    assert_eq!(streamed.text, text);
    assert_eq!(streamed.kinds.first(), Some(&"messageStart"));
    assert_eq!(&streamed.kinds[streamed.kinds.len() - 3..], ["contentBlockStop", "messageStop", "metadata"]);
    assert_eq!(streamed.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(streamed.usage.map(|u| u.1), Some(usage.output_tokens()), "stream and unary usage agree");

    let body = invoke(&env.ctx, HAIKU, &anthropic_request("Hi")).await;
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], text);
    assert_eq!(body["stop_reason"], "end_turn");

    let chunks = ok(within(stream_chunks(&env.ctx, HAIKU, &anthropic_request("Hi"))).await, "imwrs");
    assert_eq!(anthropic_stream_text(&chunks), text);
    assert_eq!(chunks.last().and_then(|c| c["type"].as_str()), Some("message_stop"));

    assert_eq!(answered_by(&env.emulator), vec!["scenario:code/everywhere"; 4]);
}

#[tokio::test]
async fn a_text_reply_renders_in_the_native_format_of_other_families() {
    let env = with_rules([Rule::new("titan").reply(Reply::text("Titan says hi."))]).await;
    let body = invoke(
        &env.ctx,
        "amazon.titan-text-express-v1",
        &json!({"inputText": "Hello", "textGenerationConfig": {"maxTokenCount": 50}}),
    )
    .await;
    assert_eq!(body["results"][0]["outputText"], "Titan says hi.");
}

#[tokio::test]
async fn a_tool_use_reply_returns_a_tool_call_with_stop_reason_tool_use() {
    let yaml = r#"
version: 1
rules:
  - name: call-weather
    match: {tool: get_weather}
    reply:
      text: "Checking."
      toolUse:
        name: get_weather
        input: {city: Paris, unit: celsius}
        id: tooluse_scripted_0001
"#;
    let env = from_yaml("tool-use", yaml).await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Weather?"))
            .tool_config(weather_config(None))
            .send()
            .await,
        "converse",
    );
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let Some(ConverseOutput::Message(m)) = out.output() else { panic!("not a message: {:?}", out.output()) };
    assert_eq!(m.content().len(), 2, "{m:?}");
    assert_eq!(m.content()[0].as_text().ok().map(String::as_str), Some("Checking."));
    let tool = m.content()[1].as_tool_use().expect("second block is a tool use");
    assert_eq!(tool.name(), "get_weather");
    assert_eq!(tool.tool_use_id(), "tooluse_scripted_0001");
    assert_eq!(doc_json(tool.input()), json!({"city": "Paris", "unit": "celsius"}));

    let streamed = ok(
        within(collect(
            env.ctx
                .runtime()
                .converse_stream()
                .model_id(HAIKU)
                .messages(user("Weather?"))
                .tool_config(weather_config(None)),
        ))
        .await,
        "stream",
    );
    assert_eq!(streamed.text, "Checking.");
    assert_eq!(streamed.tool_name.as_deref(), Some("get_weather"));
    let input: Value = serde_json::from_str(&streamed.tool_input).expect("tool input deltas form JSON");
    assert_eq!(input, json!({"city": "Paris", "unit": "celsius"}));
    assert_eq!(streamed.stop_reason, Some(StopReason::ToolUse));
}

#[tokio::test]
async fn a_builder_tool_use_reply_gets_a_generated_tool_use_id() {
    let env = with_rules([Rule::new("call").reply(Reply::tool_use("get_weather", json!({"city": "Oslo"})))]).await;
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(user("Weather?"))
            .tool_config(weather_config(None))
            .send()
            .await,
        "converse",
    );
    let Some(ConverseOutput::Message(m)) = out.output() else { panic!("not a message") };
    let tool = m.content().iter().find_map(|b| b.as_tool_use().ok()).expect("a tool use");
    assert!(tool.tool_use_id().starts_with("tooluse_"), "{}", tool.tool_use_id());
    assert_eq!(tool.tool_use_id().len(), "tooluse_".len() + 22, "{}", tool.tool_use_id());
    assert_eq!(doc_json(tool.input()), json!({"city": "Oslo"}));
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
}

#[tokio::test]
async fn usage_and_stop_reason_overrides_replace_the_counted_values() {
    let env = with_rules([
        Rule::new("override").reply(Reply::text("Cut short").usage(3, 4).stop_reason(StopReasonName::MaxTokens))
    ])
    .await;
    let out = ok(env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await, "converse");
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
    let u = out.usage().expect("usage");
    assert_eq!((u.input_tokens(), u.output_tokens(), u.total_tokens()), (3, 4, 7));
    let streamed =
        ok(within(collect(env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")))).await, "stream");
    assert_eq!(streamed.stop_reason, Some(StopReason::MaxTokens));
    assert_eq!(streamed.usage, Some((3, 4, 7)));
}

#[tokio::test]
async fn an_output_reply_is_the_converse_response_as_given_and_streams_its_content() {
    let yaml = r#"
version: 1
rules:
  - name: canned
    match:
      operation: [Converse, ConverseStream]
    reply:
      output:
        output:
          message:
            role: assistant
            content:
              - text: "Canned output."
        stopReason: max_tokens
        usage: {inputTokens: 11, outputTokens: 22, totalTokens: 33}
        metrics: {latencyMs: 77}
"#;
    let env = from_yaml("output", yaml).await;
    let out = ok(env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await, "converse");
    assert_eq!(output_text(out.output()), "Canned output.");
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
    let u = out.usage().expect("usage");
    assert_eq!((u.input_tokens(), u.output_tokens(), u.total_tokens()), (11, 22, 33));
    assert_eq!(out.metrics().map(|m| m.latency_ms()), Some(77));

    let streamed =
        ok(within(collect(env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")))).await, "stream");
    assert_eq!(streamed.text, "Canned output.");
    assert_eq!(streamed.stop_reason, Some(StopReason::MaxTokens));
    assert_eq!(streamed.usage, Some((11, 22, 33)));
}

#[tokio::test]
async fn a_native_body_reply_is_the_invoke_model_response_as_given_and_streams_as_chunks() {
    let yaml = r#"
version: 1
rules:
  - name: native
    match:
      operation: [InvokeModel, InvokeModelWithResponseStream]
    reply:
      body:
        id: msg_scripted_01
        type: message
        role: assistant
        model: claude-3-haiku-20240307
        content:
          - {type: text, text: "Native body text."}
        stop_reason: end_turn
        stop_sequence: null
        usage: {input_tokens: 5, output_tokens: 7}
"#;
    let env = from_yaml("native-body", yaml).await;
    let out = ok(
        env.ctx
            .runtime()
            .invoke_model()
            .model_id(HAIKU)
            .content_type("application/json")
            .body(Blob::new(anthropic_request("Hi").to_string()))
            .send()
            .await,
        "invoke_model",
    );
    let body: Value = serde_json::from_slice(out.body().as_ref()).expect("JSON");
    assert_eq!(
        body,
        json!({
            "id": "msg_scripted_01", "type": "message", "role": "assistant", "model": "claude-3-haiku-20240307",
            "content": [{"type": "text", "text": "Native body text."}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 7}
        })
    );
    let chunks = ok(within(stream_chunks(&env.ctx, HAIKU, &anthropic_request("Hi"))).await, "imwrs");
    assert_eq!(anthropic_stream_text(&chunks), "Native body text.");
}

#[tokio::test]
async fn a_reply_kind_the_operation_cannot_send_is_a_validation_error_naming_the_rule() {
    let yaml = r#"
version: 1
rules:
  - name: body-for-converse
    match: {operation: Converse}
    reply:
      body: {completion: "native"}
"#;
    let env = from_yaml("misfit", yaml).await;
    let err = env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await.expect_err("misfit");
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(message.contains("body-for-converse"), "{message}");
    assert!(message.contains("answers Converse with a `body` reply"), "{message}");
}

#[tokio::test]
async fn a_scripted_stream_exception_reaches_recv_as_the_modelled_error() {
    let yaml = r#"
version: 1
rules:
  - name: cut-off
    match: {operation: ConverseStream}
    reply:
      stream:
        - messageStart: {role: assistant}
        - contentBlockDelta: {contentBlockIndex: 0, delta: {text: "Partial answer"}}
        - exception: {type: ThrottlingException, message: "Slow down, mid-stream."}
"#;
    let env = from_yaml("stream-exception", yaml).await;
    let mut out =
        ok(env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")).send().await, "the stream opens");
    let first = ok(within(out.stream.recv()).await, "first event");
    assert!(matches!(first, Some(ConverseStreamOutput::MessageStart(_))), "{first:?}");
    let second = ok(within(out.stream.recv()).await, "second event");
    match second {
        Some(ConverseStreamOutput::ContentBlockDelta(d)) => {
            assert_eq!(d.delta().and_then(|d| d.as_text().ok()).map(String::as_str), Some("Partial answer"));
        }
        other => panic!("expected a text delta, got {other:?}"),
    }
    let err = within(out.stream.recv()).await.expect_err("the third event is an exception");
    assert!(
        matches!(err.as_service_error(), Some(ConverseStreamOutputError::ThrottlingException(_))),
        "expected ThrottlingException, got {err:?}"
    );
    assert_eq!(err.message(), Some("Slow down, mid-stream."));
}

#[tokio::test]
async fn a_scripted_abort_drops_the_connection_mid_stream() {
    let yaml = r#"
version: 1
rules:
  - name: dropped
    match: {operation: ConverseStream}
    reply:
      stream:
        - messageStart: {role: assistant}
        - contentBlockDelta: {contentBlockIndex: 0, delta: {text: "Partial"}}
        - abort: {}
        - messageStop: {stopReason: end_turn}
"#;
    let env = from_yaml("stream-abort", yaml).await;
    let mut out =
        ok(env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")).send().await, "the stream opens");
    let first = ok(within(out.stream.recv()).await, "first event");
    assert!(matches!(first, Some(ConverseStreamOutput::MessageStart(_))), "{first:?}");
    let second = ok(within(out.stream.recv()).await, "second event");
    assert!(matches!(second, Some(ConverseStreamOutput::ContentBlockDelta(_))), "{second:?}");
    // The connection is cut: the SDK reports a transport/response error, never the messageStop.
    let third = within(out.stream.recv()).await;
    assert!(third.is_err(), "expected the cut to surface as an error, got {third:?}");
}

#[tokio::test]
async fn a_scripted_native_stream_sends_json_chunks_then_the_modelled_exception() {
    let yaml = r#"
version: 1
rules:
  - name: broken-native-stream
    match: {operation: InvokeModelWithResponseStream}
    reply:
      stream:
        - chunk: {bytes: {type: content_block_delta, index: 0, delta: {type: text_delta, text: "Half"}}}
        - exception: {type: ModelStreamErrorException, message: "The model stream broke."}
"#;
    let env = from_yaml("native-stream-exception", yaml).await;
    let mut out = ok(
        env.ctx
            .runtime()
            .invoke_model_with_response_stream()
            .model_id(HAIKU)
            .content_type("application/json")
            .body(Blob::new(anthropic_request("Hi").to_string()))
            .send()
            .await,
        "the stream opens",
    );
    match ok(within(out.body.recv()).await, "first event") {
        Some(ResponseStream::Chunk(part)) => {
            let chunk: Value = serde_json::from_slice(part.bytes().expect("bytes").as_ref()).expect("JSON chunk");
            assert_eq!(
                chunk,
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Half"}})
            );
        }
        other => panic!("expected a chunk, got {other:?}"),
    }
    let err = within(out.body.recv()).await.expect_err("the second event is an exception");
    match err.as_service_error() {
        Some(ResponseStreamError::ModelStreamErrorException(e)) => {
            assert_eq!(e.message(), Some("The model stream broke."));
            assert_eq!(e.original_status_code(), Some(500));
        }
        _ => panic!("expected ModelStreamErrorException, got {err:?}"),
    }
}

#[tokio::test]
async fn a_json_reply_answers_a_control_plane_operation() {
    let env = with_rules([Rule::new("one-model").when(Match::operation("ListFoundationModels")).reply(Reply::json(
        json!({"modelSummaries": [{
            "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/acme.scripted-v1",
            "modelId": "acme.scripted-v1",
            "modelName": "Scripted",
            "providerName": "Acme"
        }]}),
        200,
    ))])
    .await;
    let out = ok(env.ctx.control().list_foundation_models().send().await, "list_foundation_models");
    let ids: Vec<&str> = out.model_summaries().iter().map(|m| m.model_id()).collect();
    assert_eq!(ids, ["acme.scripted-v1"]);
    assert_eq!(out.model_summaries()[0].provider_name(), Some("Acme"));
    // Other control-plane operations keep their built-in answers.
    ok(env.ctx.control().get_foundation_model().model_identifier(HAIKU).send().await, "get_foundation_model");
    assert_eq!(answered_by(&env.emulator), ["scenario:code/one-model", "builtin"]);
}

#[tokio::test]
async fn a_json_reply_from_yaml_can_carry_an_error_status() {
    let yaml = r#"
version: 1
rules:
  - name: gone
    match: {operation: GetFoundationModel}
    reply:
      json: {message: "Scripted not found."}
      status: 404
"#;
    let env = from_yaml("json-status", yaml).await;
    let err = env.ctx.control().get_foundation_model().model_identifier(HAIKU).send().await.expect_err("404");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404), "{err:?}");
    // A raw `json` reply carries no error type, so the SDK sees an unmodelled error: check the body.
    let body = err.raw_response().and_then(|r| r.body().bytes()).map(|b| String::from_utf8_lossy(b).into_owned());
    assert_eq!(body.as_deref(), Some(r#"{"message":"Scripted not found."}"#));
    let entry = env.emulator.journal().pop().expect("entry");
    assert_eq!(entry.status, 404);
    assert!(
        entry.answered_by.starts_with("scenario:") && entry.answered_by.ends_with("/gone"),
        "{}",
        entry.answered_by
    );
}

#[tokio::test]
async fn an_error_reply_surfaces_as_the_sdks_typed_error() {
    let env = with_rules([
        Rule::new("timeout")
            .when(Match::operation("Converse"))
            .reply(Reply::error(ErrorCode::ModelTimeoutException, Some("Scripted timeout."))),
        Rule::new("unavailable")
            .when(Match::operation("InvokeModel"))
            .reply(Reply::error(ErrorCode::ServiceUnavailableException, None)),
    ])
    .await;
    let err = env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await.expect_err("timeout");
    match err.as_service_error() {
        Some(ConverseError::ModelTimeoutException(e)) => assert_eq!(e.message(), Some("Scripted timeout.")),
        _ => panic!("expected ModelTimeoutException, got {err:?}"),
    }
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(408));

    let err = env
        .ctx
        .runtime()
        .invoke_model()
        .model_id(HAIKU)
        .body(Blob::new(anthropic_request("Hi").to_string()))
        .send()
        .await
        .expect_err("unavailable");
    match err.as_service_error() {
        Some(InvokeModelError::ServiceUnavailableException(e)) => {
            assert_eq!(e.message(), Some("Bedrock is unable to process your request."));
        }
        _ => panic!("expected ServiceUnavailableException, got {err:?}"),
    }
    let statuses: Vec<u16> = env.emulator.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [408, 503]);
}

#[tokio::test]
async fn an_error_reply_for_converse_stream_fails_the_call_before_the_stream() {
    let yaml = r#"
version: 1
rules:
  - name: not-ready
    match: {operation: ConverseStream}
    reply:
      error: {type: ModelNotReadyException}
"#;
    let env = from_yaml("stream-error", yaml).await;
    let err = env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")).send().await.expect_err("error");
    match err.as_service_error() {
        Some(ConverseStreamError::ModelNotReadyException(e)) => {
            assert_eq!(e.message(), Some("Model is not ready for inference. Wait and try your request again."));
        }
        _ => panic!("expected ModelNotReadyException, got {err:?}"),
    }
}

#[tokio::test]
async fn a_scripted_error_for_a_control_plane_operation_is_the_typed_error() {
    let env = with_rules([Rule::new("denied")
        .when(Match::operation("ListInferenceProfiles"))
        .reply(Reply::error(ErrorCode::AccessDeniedException, Some("Scripted denial.")))])
    .await;
    let err = env.ctx.control().list_inference_profiles().send().await.expect_err("denied");
    assert!(
        matches!(
            err.as_service_error(),
            Some(
                aws_sdk_bedrock::operation::list_inference_profiles::ListInferenceProfilesError::AccessDeniedException(
                    _
                )
            )
        ),
        "{err:?}"
    );
    assert_eq!(err.message(), Some("Scripted denial."));
}

#[tokio::test]
async fn an_error_reply_for_invoke_model_with_response_stream_fails_the_call_before_the_stream() {
    let env = with_rules([Rule::new("busy")
        .when(Match::operation("InvokeModelWithResponseStream"))
        .reply(Reply::error(ErrorCode::ThrottlingException, Some("Busy.")))])
    .await;
    let err = env
        .ctx
        .runtime()
        .invoke_model_with_response_stream()
        .model_id(HAIKU)
        .content_type("application/json")
        .body(Blob::new(anthropic_request("Hi").to_string()))
        .send()
        .await
        .expect_err("throttled");
    assert!(
        matches!(
            err.as_service_error(),
            Some(aws_sdk_bedrockruntime::operation::invoke_model_with_response_stream::InvokeModelWithResponseStreamError::ThrottlingException(_))
        ),
        "{err:?}"
    );
    assert_eq!(err.message(), Some("Busy."));
}

#[tokio::test]
async fn reply_headers_are_added_to_the_response() {
    let yaml = r#"
version: 1
rules:
  - name: tagged-error
    reply:
      error: {type: ServiceUnavailableException}
      headers: {x-scripted-by: bedrock-emulator-test}
"#;
    let env = from_yaml("reply-headers", yaml).await;
    let err = env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await.expect_err("503");
    let header = err.raw_response().and_then(|r| r.headers().get("x-scripted-by"));
    assert_eq!(header, Some("bedrock-emulator-test"), "{err:?}");
}

#[tokio::test]
async fn a_json_reply_answers_count_tokens() {
    let env = with_rules([Rule::new("count")
        .when(Match::operation("CountTokens"))
        .reply(Reply::json(json!({"inputTokens": 99}), 200))])
    .await;
    let out = ok(
        env.ctx
            .runtime()
            .count_tokens()
            .model_id(HAIKU)
            .input(CountTokensInput::Converse(ConverseTokensRequest::builder().messages(user("Hi")).build()))
            .send()
            .await,
        "count_tokens",
    );
    assert_eq!(out.input_tokens(), 99);
}

#[tokio::test]
async fn reply_timing_delays_the_first_streamed_token() {
    let env = with_rules([Rule::new("slow-start").reply(Reply::text("Eventually.").timing(300, 0.0))]).await;
    let started = Instant::now();
    let mut out =
        ok(env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")).send().await, "converse_stream");
    let mut first_text = None;
    while let Some(event) = ok(within(out.stream.recv()).await, "recv") {
        if let ConverseStreamOutput::ContentBlockDelta(_) = event {
            first_text.get_or_insert_with(|| started.elapsed());
        }
    }
    let first_text = first_text.expect("text arrived");
    assert!(first_text >= Duration::from_millis(300), "first token after {first_text:?}");
}

// ---------------------------------------------------------------------------------------------
// Sequences and states
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_sequence_answers_in_order_then_repeats_the_last_reply() {
    let env = with_rules([Rule::new("seq").reply(Reply::text("one")).reply(Reply::text("two"))]).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(converse(&env.ctx, HAIKU, "Hi").await);
    }
    assert_eq!(got, ["one", "two", "two", "two"]);
}

#[tokio::test]
async fn a_cycling_sequence_starts_again_after_the_last_reply() {
    let yaml = r#"
version: 1
rules:
  - name: rotate
    replies: [{text: red}, {text: green}, {text: blue}]
    then: cycle
"#;
    let env = from_yaml("cycle", yaml).await;
    let mut got = Vec::new();
    for _ in 0..7 {
        got.push(converse(&env.ctx, HAIKU, "Hi").await);
    }
    assert_eq!(got, ["red", "green", "blue", "red", "green", "blue", "red"]);
}

#[tokio::test]
async fn a_fall_through_sequence_hands_later_requests_to_the_synthetic_model() {
    let yaml = r#"
version: 1
rules:
  - name: twice
    replies: [{text: one}, {text: two}]
    then: fallThrough
"#;
    let env = from_yaml("fall-through", yaml).await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "one");
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "two");
    let third = converse(&env.ctx, HAIKU, "Hi").await;
    assert!(third.starts_with(SYNTHETIC), "{third:?}");
    assert_eq!(answered_by(&env.emulator).last().map(String::as_str), Some("synthetic"));
}

#[tokio::test]
async fn a_fall_through_sequence_hands_later_requests_to_the_next_rule() {
    let env = with_rules([
        Rule::new("intro").priority(1).reply(Reply::text("Welcome!")).then(Then::FallThrough),
        Rule::new("steady").reply(Reply::text("Back again.")),
    ])
    .await;
    let got = [converse(&env.ctx, HAIKU, "Hi").await, converse(&env.ctx, HAIKU, "Hi").await];
    assert_eq!(got, ["Welcome!", "Back again."]);
    assert_eq!(answered_by(&env.emulator), ["scenario:code/intro", "scenario:code/steady"]);
}

#[tokio::test]
async fn named_scenario_states_gate_rules_and_advance_after_each_answer() {
    let env = with_rules([
        Rule::new("ask-to-log-in")
            .when(Match::operation("Converse"))
            .in_scenario("session", Some("Started"), Some("logged-in"))
            .reply(Reply::text("Please log in.")),
        Rule::new("welcome")
            .when(Match::operation("Converse"))
            .in_scenario("session", Some("logged-in"), Some("browsing"))
            .reply(Reply::text("Welcome back.")),
        Rule::new("browse")
            .when(Match::operation("Converse"))
            .in_scenario("session", Some("browsing"), None)
            .reply(Reply::text("Here is the catalogue.")),
    ])
    .await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(converse(&env.ctx, HAIKU, "Hi").await);
    }
    assert_eq!(got, ["Please log in.", "Welcome back.", "Here is the catalogue.", "Here is the catalogue."]);
}

#[tokio::test]
async fn named_scenario_states_from_yaml_are_shared_across_operations() {
    let yaml = r#"
version: 1
rules:
  - name: draft
    scenario: doc
    setState: drafted
    match: {operation: Converse, lastUserMessage: draft}
    reply: {text: "Drafted."}
  - name: publish
    scenario: doc
    whenState: drafted
    setState: Started
    match: {operation: ConverseStream, lastUserMessage: publish}
    reply: {text: "Published."}
"#;
    let env = from_yaml("states", yaml).await;
    let early = converse_stream(&env.ctx, HAIKU, "publish").await;
    assert!(early.starts_with(SYNTHETIC), "nothing drafted yet, got {early:?}");
    assert_eq!(converse(&env.ctx, HAIKU, "draft").await, "Drafted.");
    assert_eq!(converse_stream(&env.ctx, HAIKU, "publish").await, "Published.");
    let again = converse_stream(&env.ctx, HAIKU, "publish").await;
    assert!(again.starts_with(SYNTHETIC), "the state went back to Started, got {again:?}");
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn throttled_twice_then_succeeding_passes_with_the_sdks_standard_retry() {
    let env = with_rules([Rule::new("flaky")
        .when(Match::operation("Converse"))
        .reply(Reply::error(ErrorCode::ThrottlingException, None))
        .reply(Reply::error(ErrorCode::ThrottlingException, None))
        .reply(Reply::text("Third time lucky."))])
    .await;
    let client = retrying_runtime(&env.emulator.endpoint_url()).await;
    let out = ok(within(client.converse().model_id(HAIKU).messages(user("Hi")).send()).await, "retried converse");
    assert_eq!(output_text(out.output()), "Third time lucky.");
    let statuses: Vec<u16> = env.emulator.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    env.emulator.verify(Match::operation("Converse"), Times::exactly(3)).expect("three attempts");
}

#[tokio::test]
async fn without_retries_the_first_throttle_reaches_the_caller() {
    let env = with_rules([Rule::new("flaky")
        .reply(Reply::error(ErrorCode::ThrottlingException, None))
        .reply(Reply::text("Too late."))])
    .await;
    let err = env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await.expect_err("throttled");
    match err.as_service_error() {
        Some(ConverseError::ThrottlingException(e)) => {
            assert_eq!(e.message(), Some("Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again."));
        }
        _ => panic!("expected ThrottlingException, got {err:?}"),
    }
    assert_eq!(env.emulator.journal().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Strict mode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn strict_mode_refuses_an_unmatched_request_naming_the_closest_rule_and_why() {
    let env = start(Emulator::builder().strict(true)).await;
    env.emulator.mount(
        Rule::new("greet")
            .when(Match::operation("Converse").last_user_contains("hello"))
            .reply(Reply::text("Hi there!")),
    );
    env.emulator.mount(
        Rule::new("invoice")
            .when(Match::operation("InvokeModel").model("amazon.*").last_user_contains("invoice"))
            .reply(Reply::text("Invoice.")),
    );
    assert_eq!(converse(&env.ctx, HAIKU, "hello").await, "Hi there!");
    let err = env.ctx.runtime().converse().model_id(HAIKU).messages(user("goodbye")).send().await.expect_err("strict");
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(message.contains("strict mode"), "{message}");
    assert!(message.contains("no scenario rule matched this Converse request"), "{message}");
    assert!(message.contains("The closest rule, code/greet, failed because:"), "{message}");
    assert!(message.contains(r#"last user message "goodbye" does not satisfy: contains "hello""#), "{message}");
    assert!(!message.contains("code/invoice"), "{message}");
    assert_eq!(env.emulator.journal().last().map(|e| (e.status, e.answered_by.clone())), Some((400, "error".into())));
}

#[tokio::test]
async fn strict_mode_refuses_native_and_streaming_requests_too() {
    let yaml = r#"
version: 1
name: strict-app
rules:
  - name: only-converse
    match: {operation: Converse}
    reply: {text: ok}
"#;
    let env = from_yaml_with("strict", yaml, Emulator::builder().strict(true)).await;
    let err = env
        .ctx
        .runtime()
        .invoke_model()
        .model_id(HAIKU)
        .body(Blob::new(anthropic_request("Hi").to_string()))
        .send()
        .await
        .expect_err("strict InvokeModel");
    let message = err.message().unwrap_or_default();
    assert!(message.contains("this InvokeModel request"), "{message}");
    assert!(message.contains("only-converse"), "{message}");
    assert!(message.contains("operation is InvokeModel (wanted Converse)"), "{message}");
    let err =
        env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Hi")).send().await.expect_err("strict");
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(err.message().unwrap_or_default().contains("this ConverseStream request"), "{err:?}");
}

#[tokio::test]
async fn strict_mode_without_rules_says_none_are_loaded() {
    let env = start(Emulator::builder().strict(true)).await;
    let err = env.ctx.runtime().converse().model_id(HAIKU).messages(user("Hi")).send().await.expect_err("strict");
    let message = err.message().unwrap_or_default();
    assert!(message.contains("No scenario rules are loaded."), "{message}");
}

#[tokio::test]
async fn strict_mode_leaves_control_plane_operations_to_their_builtin_answers() {
    let env = start(Emulator::builder().strict(true)).await;
    let out = ok(env.ctx.control().list_foundation_models().send().await, "list_foundation_models");
    assert!(out.model_summaries().iter().any(|m| m.model_id() == HAIKU));
    assert_eq!(answered_by(&env.emulator), ["builtin"]);
}

// ---------------------------------------------------------------------------------------------
// Library API: mount, journal, verify, reset
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rule_mounted_on_a_running_emulator_applies_to_the_next_request() {
    let env = start(Emulator::builder()).await;
    let before = converse(&env.ctx, HAIKU, "Hi").await;
    assert!(before.starts_with(SYNTHETIC), "{before:?}");
    env.emulator.mount(Rule::new("late").reply(Reply::text("Mounted late.")));
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Mounted late.");
    env.emulator.mount(Rule::new("later-still").reply(Reply::text("Never reached.")));
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Mounted late.", "earlier mounts win at equal priority");
}

#[tokio::test]
async fn mounted_rules_and_file_rules_share_one_engine() {
    let yaml = r#"
version: 1
rules:
  - name: from-file
    match: {lastUserMessage: file}
    reply: {text: "From the file."}
"#;
    let env = from_yaml("mixed", yaml).await;
    env.emulator.mount(
        Rule::new("from-code")
            .priority(1)
            .when(Match::any().last_user_contains("code"))
            .reply(Reply::text("From code.")),
    );
    assert_eq!(converse(&env.ctx, HAIKU, "file").await, "From the file.");
    assert_eq!(converse(&env.ctx, HAIKU, "code").await, "From code.");
    assert_eq!(converse(&env.ctx, HAIKU, "code and file").await, "From code.", "priority 1 wins");
}

#[tokio::test]
async fn the_journal_records_operation_model_answerer_and_status_of_every_request() {
    let env = with_rules([Rule::new("greet")
        .when(Match::operation("Converse").last_user_contains("hello"))
        .reply(Reply::text("Hi!"))])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU, "hello there").await, "Hi!");
    converse(&env.ctx, HAIKU_PROFILE, "something else").await;
    ok(env.ctx.control().list_foundation_models().send().await, "list_foundation_models");
    env.ctx
        .runtime()
        .converse()
        .model_id("acme.no-such-model-v1")
        .messages(user("Hi"))
        .send()
        .await
        .expect_err("bad id");

    let journal = env.emulator.journal();
    assert_eq!(journal.len(), 4, "{journal:#?}");
    let seqs: Vec<u64> = journal.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let summary: Vec<(&str, &str, u16)> =
        journal.iter().map(|e| (e.request.operation.as_str(), e.answered_by.as_str(), e.status)).collect();
    assert_eq!(
        summary,
        [
            ("Converse", "scenario:code/greet", 200),
            ("Converse", "synthetic", 200),
            ("ListFoundationModels", "builtin", 200),
            ("Converse", "error", 400),
        ]
    );
    let first = &journal[0];
    assert_eq!(first.method, "POST");
    assert!(first.path.starts_with("/model/"), "{}", first.path);
    assert_eq!(first.request.model_id.as_deref(), Some(HAIKU));
    assert_eq!(first.request.resolved_model.as_deref(), Some(HAIKU));
    assert_eq!(first.request.last_user_text.as_deref(), Some("hello there"));
    assert_eq!(first.request.body.json().and_then(|b| b.pointer("/messages/0/role")), Some(&json!("user")));
    assert!(!first.request_id.is_empty());
    assert!(
        first.request.headers.iter().any(|(k, v)| k == "authorization" && v == "REDACTED"),
        "credentials are redacted: {:?}",
        first.request.headers
    );
    assert_eq!(journal[1].request.model_id.as_deref(), Some(HAIKU_PROFILE));
    assert_eq!(journal[1].request.resolved_model.as_deref(), Some(HAIKU));
    assert_eq!(journal[3].request.model_id.as_deref(), Some("acme.no-such-model-v1"));
}

#[tokio::test]
async fn the_journal_keeps_only_the_newest_entries_up_to_its_capacity() {
    let env = start(Emulator::builder().journal_capacity(2)).await;
    for text in ["one", "two", "three"] {
        converse(&env.ctx, HAIKU, text).await;
    }
    let journal = env.emulator.journal();
    let kept: Vec<(u64, Option<&str>)> = journal.iter().map(|e| (e.seq, e.request.last_user_text.as_deref())).collect();
    assert_eq!(kept, [(2, Some("two")), (3, Some("three"))]);
}

#[tokio::test]
async fn verify_passes_when_the_count_of_matching_requests_is_as_expected() {
    let env = start(Emulator::builder()).await;
    for sys in ["You are terse.", "You are terse.", "You are chatty."] {
        ok(
            env.ctx.runtime().converse().model_id(HAIKU).system(system(sys)).messages(user("Hi")).send().await,
            "converse",
        );
    }
    let terse = || Match::operation("Converse").system_contains("You are terse");
    env.emulator.verify(terse(), Times::exactly(2)).expect("exactly two");
    env.emulator.verify(terse(), Times::at_least(1)).expect("at least one");
    env.emulator.verify(terse(), Times::at_most(2)).expect("at most two");
    env.emulator.verify(Match::operation("ConverseStream"), Times::exactly(0)).expect("no streams");
    env.emulator.verify(Match::any().model("anthropic.*"), Times::exactly(3)).expect("three to Anthropic");
}

#[tokio::test]
async fn a_failing_verify_lists_the_near_misses_and_what_they_failed() {
    let env = start(Emulator::builder()).await;
    converse(&env.ctx, HAIKU, "Hi").await;
    ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .system(system("You are verbose."))
            .messages(user("Hi"))
            .send()
            .await,
        "converse verbose",
    );
    ok(
        within(collect(
            env.ctx.runtime().converse_stream().model_id(HAIKU).system(system("You are terse.")).messages(user("Hi")),
        ))
        .await,
        "stream terse",
    );
    let err = env
        .emulator
        .verify(Match::operation("Converse").system_contains("You are terse"), Times::exactly(2))
        .expect_err("nothing matches");
    let message = err.to_string();
    assert!(message.contains("expected"), "{message}");
    assert!(message.contains("found 0"), "{message}");
    assert!(message.contains("near miss #1 (Converse)"), "{message}");
    assert!(
        message.contains(r#"system prompt "You are verbose." does not satisfy: contains "You are terse""#),
        "{message}"
    );
    assert!(
        message.contains("near miss #3 (ConverseStream): operation is ConverseStream (wanted Converse)"),
        "{message}"
    );
    assert_eq!(err.verification.matched, 0);
    assert!(!err.verification.ok);
    let seqs: Vec<u64> = err.verification.near_misses.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "each misses one condition: ordered by seq");
}

#[tokio::test]
async fn a_verify_expecting_fewer_requests_fails_with_the_count_found() {
    let env = start(Emulator::builder()).await;
    for _ in 0..3 {
        converse(&env.ctx, HAIKU, "Hi").await;
    }
    let err = env.emulator.verify(Match::operation("Converse"), Times::at_most(2)).expect_err("three is too many");
    assert!(err.message.contains("found 3"), "{}", err.message);
    assert_eq!(err.verification.matched, 3);
}

#[tokio::test]
async fn reset_clears_the_journal_counters_and_scenario_states() {
    let env = with_rules([
        Rule::new("seq").when(Match::operation("Converse")).reply(Reply::text("one")).reply(Reply::text("two")),
        Rule::new("door-closed")
            .when(Match::operation("ConverseStream"))
            .in_scenario("door", Some("Started"), Some("open"))
            .reply(Reply::text("Opening the door.")),
        Rule::new("door-open")
            .when(Match::operation("ConverseStream"))
            .in_scenario("door", Some("open"), None)
            .reply(Reply::text("The door is open.")),
    ])
    .await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "one");
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "two");
    assert_eq!(converse_stream(&env.ctx, HAIKU, "Hi").await, "Opening the door.");
    assert_eq!(converse_stream(&env.ctx, HAIKU, "Hi").await, "The door is open.");
    assert_eq!(env.emulator.journal().len(), 4);

    env.emulator.reset().expect("reset");
    assert!(env.emulator.journal().is_empty(), "the journal is empty after reset");
    env.emulator.verify(Match::any(), Times::exactly(0)).expect("nothing journalled");

    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "one", "the sequence starts again");
    assert_eq!(converse_stream(&env.ctx, HAIKU, "Hi").await, "Opening the door.", "the scenario is Started again");
    let seqs: Vec<u64> = env.emulator.journal().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2], "sequence numbers restart");
}

#[tokio::test]
async fn reset_keeps_the_rules_loaded() {
    let env = with_rules([Rule::new("stay").reply(Reply::text("Still here."))]).await;
    env.emulator.reset().expect("reset");
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Still here.");
}

// ---------------------------------------------------------------------------------------------
// Scenario files
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn files_of_a_folder_load_in_path_order_and_json_files_load_like_yaml() {
    let a = "version: 1\nrules:\n  - {name: a, reply: {text: from-a}}\n";
    let b = r#"{"version": 1, "rules": [{"name": "b", "match": {"lastUserMessage": "json"}, "reply": {"text": "from-b"}}]}"#;
    let tmp = TempScenarios::new("folder", &[("b.json", b), ("a.yaml", a), ("scenario.schema.json", "{}")]);
    let env = start(Emulator::builder().scenarios(tmp.dir.clone())).await;
    drop(tmp);
    assert_eq!(converse(&env.ctx, HAIKU, "json please").await, "from-a", "a.yaml sorts before b.json");
    let labels = answered_by(&env.emulator);
    assert!(labels[0].ends_with("/a"), "{labels:?}");
}

#[tokio::test]
async fn a_json_scenario_file_answers_like_a_yaml_one() {
    let b = r#"{"version": 1, "rules": [{"name": "b", "match": {"lastUserMessage": "json"}, "reply": {"text": "from-b"}}]}"#;
    let tmp = TempScenarios::new("json-file", &[("b.json", b)]);
    let env = start(Emulator::builder().scenarios(tmp.dir.join("b.json"))).await;
    assert_eq!(converse(&env.ctx, HAIKU, "json please").await, "from-b");
}

#[tokio::test]
async fn an_invalid_scenario_file_stops_start_with_its_line_and_reason() {
    let yaml = "version: 1\nrules:\n  - name: typo\n    match:\n      operation: Conversee\n    reply: {text: hi}\n";
    let tmp = TempScenarios::new("invalid", &[("broken.yaml", yaml)]);
    match Emulator::builder().scenarios(tmp.dir.clone()).start().await {
        Ok(_) => panic!("an invalid file must stop start"),
        Err(StartError::Scenarios(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            let e = &errors[0];
            assert!(e.file.ends_with("broken.yaml"), "{}", e.file);
            assert_eq!(e.line, Some(5), "{e:?}");
            assert!(e.message.contains("unknown operation `Conversee`"), "{}", e.message);
        }
        Err(other) => panic!("expected a scenario error, got {other}"),
    }
}

#[tokio::test]
async fn a_file_rules_answered_by_label_uses_the_files_name() {
    let yaml = r#"
version: 1
name: my-app
rules:
  - name: greet
    reply: {text: "Hi."}
"#;
    let env = from_yaml("named", yaml).await;
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Hi.");
    assert_eq!(answered_by(&env.emulator), ["scenario:my-app/greet"]);
}

#[tokio::test]
async fn a_reply_with_a_latency_delays_a_unary_response() {
    let yaml = r#"
version: 1
rules:
  - name: slow
    reply:
      text: "Slowly."
      timing: {latencyMs: 300}
"#;
    let env = from_yaml("latency", yaml).await;
    let started = Instant::now();
    assert_eq!(converse(&env.ctx, HAIKU, "Hi").await, "Slowly.");
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// The shipped examples (all loaded together, as `--scenarios scenarios/examples` would)
// ---------------------------------------------------------------------------------------------

async fn examples() -> Env {
    start(Emulator::builder().scenarios(EXAMPLES)).await
}

#[tokio::test]
async fn the_chat_app_example_greets_answers_opening_hours_and_falls_back() {
    let env = examples().await;
    // Nova, so that throttled-twice (Claude 3 Haiku only) stays out of the story.
    assert_eq!(converse(&env.ctx, NOVA, "Hello!").await, "Hello! How can I help you today?");
    assert_eq!(converse_stream(&env.ctx, NOVA, "hey there").await, "Hello! How can I help you today?");
    let out = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(NOVA)
            .system(system("You are a support assistant for a bakery."))
            .messages(user("What are your OPENING HOURS?"))
            .send()
            .await,
        "opening hours",
    );
    assert_eq!(output_text(out.output()), "We are open Monday to Friday, 9:00 to 17:00.");
    assert_eq!(out.usage().map(|u| u.output_tokens()), Some(14));
    let fallback = "I'm sorry, I can only answer questions about our opening hours.";
    assert_eq!(converse(&env.ctx, NOVA, "What are your opening hours?").await, fallback, "no system prompt");
    assert_eq!(converse(&env.ctx, NOVA, "Can I pay by card?").await, fallback);
    let labels = answered_by(&env.emulator);
    assert!(labels.iter().all(|l| l.starts_with("scenario:")), "nothing reaches the synthetic model: {labels:?}");
    assert!(labels[0].ends_with("/greeting") && labels[2].ends_with("/opening-hours"), "{labels:?}");
    assert!(labels[4].ends_with("/fallback"), "{labels:?}");
}

#[tokio::test]
async fn the_agent_loop_example_calls_the_tool_then_answers_with_its_result() {
    let env = examples().await;
    let question = user("What's the weather like in Paris?");
    let first = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(question.clone())
            .tool_config(weather_config(None))
            .send()
            .await,
        "first turn",
    );
    assert_eq!(first.stop_reason(), &StopReason::ToolUse);
    let Some(ConverseOutput::Message(call)) = first.output() else { panic!("not a message") };
    assert_eq!(output_text(first.output()), "Let me check the weather for you.");
    let tool = call.content().iter().find_map(|b| b.as_tool_use().ok()).expect("a tool call");
    assert_eq!(tool.name(), "get_weather");
    assert_eq!(doc_json(tool.input()), json!({"city": "Paris", "unit": "celsius"}));

    let result = ToolResultBlock::builder()
        .tool_use_id(tool.tool_use_id())
        .content(ToolResultContentBlock::Json(doc(&json!({"temperature": 21, "conditions": "sunny"}))))
        .build()
        .expect("tool result");
    let second = ok(
        env.ctx
            .runtime()
            .converse()
            .model_id(HAIKU)
            .messages(question.clone())
            .messages(call.clone())
            .messages(msg(ConversationRole::User, vec![ContentBlock::ToolResult(result)]))
            .tool_config(weather_config(None))
            .send()
            .await,
        "second turn",
    );
    assert_eq!(output_text(second.output()), "It is 21 °C and sunny in Paris.");
    assert_eq!(second.stop_reason(), &StopReason::EndTurn);

    // The scenario went back to Started: a new conversation calls the tool again, streamed.
    let streamed = ok(
        within(collect(
            env.ctx.runtime().converse_stream().model_id(HAIKU).messages(question).tool_config(weather_config(None)),
        ))
        .await,
        "third turn",
    );
    assert_eq!(streamed.tool_name.as_deref(), Some("get_weather"));
    assert_eq!(streamed.stop_reason, Some(StopReason::ToolUse));
    let labels = answered_by(&env.emulator);
    assert!(labels[0].ends_with("/call-the-tool"), "{labels:?}");
    assert!(labels[1].ends_with("/answer-with-the-result"), "{labels:?}");
    assert!(labels[2].ends_with("/call-the-tool"), "{labels:?}");
}

#[tokio::test]
async fn the_streaming_ui_example_paces_the_story() {
    let env = examples().await;
    let story = "Once upon a time, a lighthouse keeper counted the ships that passed each night. \
                 One foggy evening a small boat without lights drifted towards the rocks, and the \
                 keeper lit every lamp in the tower until the boat turned safely into the harbour.";
    let started = Instant::now();
    let mut out = ok(
        env.ctx.runtime().converse_stream().model_id(HAIKU).messages(user("Tell me a story")).send().await,
        "converse_stream",
    );
    let (mut first_text, mut text, mut output_tokens) = (None, String::new(), 0);
    while let Some(event) = ok(within(out.stream.recv()).await, "recv") {
        match event {
            ConverseStreamOutput::ContentBlockDelta(d) => {
                if let Some(ContentBlockDelta::Text(t)) = d.delta() {
                    first_text.get_or_insert_with(|| started.elapsed());
                    text.push_str(t);
                }
            }
            ConverseStreamOutput::Metadata(m) => output_tokens = m.usage().map_or(0, |u| u.output_tokens()),
            _ => {}
        }
    }
    let total = started.elapsed();
    assert_eq!(text, story);
    let first_text = first_text.expect("some text");
    assert!(first_text >= Duration::from_millis(400), "first token after {first_text:?}");
    // 30 tokens a second after the first token (80 % of it, to allow for rounding per event).
    let paced = Duration::from_millis(400 + u64::try_from(output_tokens).unwrap_or(0) * 1000 * 8 / (30 * 10));
    assert!(total >= paced, "{output_tokens} tokens streamed in {total:?}, expected at least {paced:?}");
    assert!(answered_by(&env.emulator)[0].ends_with("/story"));
}

#[tokio::test]
async fn the_throttled_twice_example_succeeds_on_the_third_attempt_with_standard_retry() {
    let env = examples().await;
    let client = retrying_runtime(&env.emulator.endpoint_url()).await;
    let out = ok(
        within(client.converse().model_id(HAIKU).messages(user("Summarise the quarterly report")).send()).await,
        "retried converse",
    );
    assert_eq!(output_text(out.output()), "Third time lucky.");
    let journal = env.emulator.journal();
    let statuses: Vec<u16> = journal.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    assert!(journal.iter().all(|e| e.answered_by.ends_with("/flaky-model")), "{journal:#?}");
    // Every later call succeeds too (then: repeatLast), also through a client without retries.
    assert_eq!(converse(&env.ctx, HAIKU, "Summarise it again").await, "Third time lucky.");
    env.emulator
        .verify(Match::operation("Converse").model("anthropic.claude-3-haiku-*"), Times::exactly(4))
        .expect("four");
}
