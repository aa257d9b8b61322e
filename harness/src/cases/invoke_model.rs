//! InvokeModel, InvokeModelWithResponseStream and CountTokens through the native formats.

use std::sync::Arc;

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ConverseTokensRequest, CountTokensInput, ResponseStream};
use serde_json::{json, Value};

use super::converse::output_text;
use super::user;
use crate::case::{expect_error, expect_error_containing, sdk, Case, CaseResult, Ctx};
use crate::{case, ensure, ensure_eq};

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![
        case!("InvokeModel", invoke_model_answers_in_the_anthropic_messages_format),
        case!("InvokeModel", invoke_model_with_response_stream_sends_anthropic_chunks_in_order),
        case!("InvokeModel", invoke_model_text_equals_its_stream_and_converse, emulator_only),
        case!("InvokeModel", invoke_model_rejects_a_malformed_native_body),
        case!("InvokeModel", invoke_model_accepts_a_missing_content_type),
        case!("InvokeModel", anthropic_messages_answers_invoke_model_and_its_stream),
        case!("InvokeModel", titan_text_answers_invoke_model_and_its_stream),
        case!("InvokeModel", nova_answers_invoke_model_and_its_stream),
        case!("InvokeModel", llama_answers_invoke_model_and_its_stream),
        case!("InvokeModel", mistral_prompt_answers_invoke_model_and_its_stream),
        case!("InvokeModel", mistral_chat_answers_invoke_model_and_its_stream),
        case!("InvokeModel", cohere_command_answers_invoke_model_and_its_stream),
        case!("InvokeModel", cohere_command_r_answers_invoke_model_and_its_stream),
        case!("InvokeModel", jamba_answers_invoke_model_and_its_stream),
        case!("InvokeModel", titan_embeddings_have_the_requested_size_and_unit_length),
        case!("InvokeModel", cohere_embeddings_return_one_vector_per_text),
        case!("InvokeModel", streaming_an_embedding_model_is_refused),
        case!("InvokeModel", nova_canvas_answers_pngs_of_the_requested_size),
        case!("CountTokens", count_tokens_matches_converse_input_tokens),
    ]
}

/// A native request per text family, with a pointer to its generated text (families whose
/// text is spread over several keys use the first).
pub fn family_requests() -> Vec<(&'static str, Value, &'static str)> {
    let prompt = "Describe a quiet harbor at dawn.";
    vec![
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200, "messages": [{"role": "user", "content": prompt}]}),
            "/content/0/text",
        ),
        (
            "amazon.titan-text-express-v1",
            json!({"inputText": prompt, "textGenerationConfig": {"maxTokenCount": 200}}),
            "/results/0/outputText",
        ),
        (
            "amazon.nova-micro-v1:0",
            json!({"messages": [{"role": "user", "content": [{"text": prompt}]}], "inferenceConfig": {"max_new_tokens": 200}}),
            "/output/message/content/0/text",
        ),
        (
            "meta.llama3-8b-instruct-v1:0",
            json!({"prompt": format!("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"), "max_gen_len": 200}),
            "/generation",
        ),
        (
            "mistral.mistral-7b-instruct-v0:2",
            json!({"prompt": format!("<s>[INST] {prompt} [/INST]"), "max_tokens": 200}),
            "/outputs/0/text",
        ),
        (
            "mistral.mistral-large-2407-v1:0",
            json!({"messages": [{"role": "user", "content": prompt}], "max_tokens": 200}),
            "/choices/0/message/content",
        ),
        ("cohere.command-text-v14", json!({"prompt": prompt, "max_tokens": 200}), "/generations/0/text"),
        ("cohere.command-r-v1:0", json!({"message": prompt, "max_tokens": 200}), "/text"),
        (
            "ai21.jamba-1-5-mini-v1:0",
            json!({"messages": [{"role": "user", "content": prompt}], "max_tokens": 200}),
            "/choices/0/message/content",
        ),
    ]
}

async fn invoke_json(ctx: &Ctx, model: &str, body: &Value) -> Result<Value, String> {
    let out = sdk(
        ctx.runtime()
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await,
        &format!("invoke_model {model}"),
    )?;
    ensure_eq!(out.content_type(), "application/json", "contentType");
    serde_json::from_slice(out.body().as_ref()).map_err(|e| format!("{model}: body is not JSON: {e}"))
}

/// Every chunk of an IMWRS call, decoded from base64 JSON.
pub async fn stream_chunks(ctx: &Ctx, model: &str, body: &Value) -> Result<Vec<Value>, String> {
    let mut out = sdk(
        ctx.runtime()
            .invoke_model_with_response_stream()
            .model_id(model)
            .content_type("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await,
        &format!("invoke_model_with_response_stream {model}"),
    )?;
    ensure_eq!(out.content_type(), "application/json", "X-Amzn-Bedrock-Content-Type");
    let mut chunks = Vec::new();
    while let Some(event) = sdk(out.body.recv().await, "stream recv")? {
        if let ResponseStream::Chunk(part) = event {
            let bytes = part.bytes().ok_or("chunk without bytes")?;
            chunks.push(serde_json::from_slice(bytes.as_ref()).map_err(|e| format!("chunk is not JSON: {e}"))?);
        }
    }
    Ok(chunks)
}

fn anthropic_request(prompt: &str) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200, "messages": [{"role": "user", "content": prompt}]})
}

async fn invoke_model_answers_in_the_anthropic_messages_format(ctx: Arc<Ctx>) -> CaseResult {
    let body = invoke_json(&ctx, &ctx.text_model, &anthropic_request("Hello, how are you?")).await?;
    ensure_eq!(body["type"], json!("message"), "type");
    ensure_eq!(body["role"], json!("assistant"), "role");
    ensure!(body["id"].as_str().is_some_and(|id| id.starts_with("msg_bdrk_")), "id {}", body["id"]);
    ensure_eq!(body["content"][0]["type"], json!("text"), "content[0].type");
    ensure!(body["content"][0]["text"].as_str().is_some_and(|t| !t.is_empty()), "empty text");
    ensure_eq!(body["stop_reason"], json!("end_turn"), "stop_reason");
    ensure!(body.get("stop_sequence").is_some(), "stop_sequence key missing");
    ensure!(body["usage"]["input_tokens"].as_u64().is_some_and(|n| n > 0), "usage.input_tokens");
    ensure!(body["usage"]["output_tokens"].as_u64().is_some_and(|n| n > 0), "usage.output_tokens");
    Ok(())
}

async fn invoke_model_with_response_stream_sends_anthropic_chunks_in_order(ctx: Arc<Ctx>) -> CaseResult {
    let chunks = stream_chunks(&ctx, &ctx.text_model, &anthropic_request("Tell me a short story")).await?;
    let types: Vec<&str> = chunks.iter().filter_map(|c| c["type"].as_str()).collect();
    ensure!(types.len() >= 6, "too few chunks: {types:?}");
    ensure_eq!(types[0], "message_start", "first chunk");
    ensure_eq!(types[1], "content_block_start", "second chunk");
    ensure_eq!(types[types.len() - 3], "content_block_stop", "third-to-last chunk");
    ensure_eq!(types[types.len() - 2], "message_delta", "second-to-last chunk");
    ensure_eq!(types[types.len() - 1], "message_stop", "last chunk");
    let metrics = &chunks[chunks.len() - 1]["amazon-bedrock-invocationMetrics"];
    for key in ["inputTokenCount", "outputTokenCount", "invocationLatency", "firstByteLatency"] {
        ensure!(metrics[key].is_u64(), "invocation metrics lack {key}: {metrics}");
    }
    ensure!(
        chunks[..chunks.len() - 1].iter().all(|c| c.get("amazon-bedrock-invocationMetrics").is_none()),
        "metrics before the last chunk"
    );
    Ok(())
}

async fn invoke_model_text_equals_its_stream_and_converse(ctx: Arc<Ctx>) -> CaseResult {
    let prompt = "Describe a lighthouse in winter.";
    let body = invoke_json(&ctx, &ctx.text_model, &anthropic_request(prompt)).await?;
    let unary = body["content"][0]["text"].as_str().unwrap_or_default().to_string();
    let chunks = stream_chunks(&ctx, &ctx.text_model, &anthropic_request(prompt)).await?;
    let streamed: String = chunks.iter().filter_map(|c| c["delta"]["text"].as_str()).collect();
    ensure_eq!(streamed, unary, "streamed text");
    let conv = sdk(ctx.runtime().converse().model_id(&ctx.text_model).messages(user(prompt)).send().await, "converse")?;
    ensure_eq!(output_text(conv.output()), unary, "Converse text");
    Ok(())
}

async fn invoke_model_rejects_a_malformed_native_body(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .invoke_model()
        .model_id(&ctx.text_model)
        .content_type("application/json")
        .body(Blob::new(json!({"max_tokens": 10, "messages": [], "model": "claude", "stream": true}).to_string()))
        .send()
        .await;
    expect_error_containing(r, "ValidationException", "Malformed input request: ")
}

async fn invoke_model_accepts_a_missing_content_type(ctx: Arc<Ctx>) -> CaseResult {
    let out = sdk(
        ctx.runtime()
            .invoke_model()
            .model_id(&ctx.text_model)
            .body(Blob::new(anthropic_request("Hi").to_string()))
            .send()
            .await,
        "invoke_model without content type",
    )?;
    ensure!(!out.body().as_ref().is_empty(), "empty body");
    Ok(())
}

/// The family's native request answers through InvokeModel (text where the format puts it)
/// and through IMWRS (chunks, invocation metrics in the last one), with the same text.
async fn family_answers_invoke_model_and_its_stream(ctx: &Ctx, model: &str) -> CaseResult {
    let (_, body, text_pointer) =
        family_requests().into_iter().find(|(m, _, _)| *m == model).ok_or(format!("no request for {model}"))?;
    let response = invoke_json(ctx, model, &body).await?;
    let text = response.pointer(text_pointer).and_then(Value::as_str).unwrap_or_default();
    ensure!(!text.is_empty(), "{model}: no text at {text_pointer} in {response}");
    let chunks = stream_chunks(ctx, model, &body).await?;
    ensure!(!chunks.is_empty(), "{model}: no chunks");
    let last = chunks.last().cloned().unwrap_or_default();
    ensure!(
        last.get("amazon-bedrock-invocationMetrics").is_some(),
        "{model}: last chunk lacks invocation metrics: {last}"
    );
    ensure!(
        chunks[..chunks.len() - 1].iter().all(|c| c.get("amazon-bedrock-invocationMetrics").is_none()),
        "{model}: invocation metrics before the last chunk"
    );
    Ok(())
}

macro_rules! family_cases {
    ($($name:ident => $model:literal),* $(,)?) => {
        $(
            async fn $name(ctx: Arc<Ctx>) -> CaseResult {
                family_answers_invoke_model_and_its_stream(&ctx, $model).await
            }
        )*
    };
}

family_cases! {
    anthropic_messages_answers_invoke_model_and_its_stream => "anthropic.claude-3-haiku-20240307-v1:0",
    titan_text_answers_invoke_model_and_its_stream => "amazon.titan-text-express-v1",
    nova_answers_invoke_model_and_its_stream => "amazon.nova-micro-v1:0",
    llama_answers_invoke_model_and_its_stream => "meta.llama3-8b-instruct-v1:0",
    mistral_prompt_answers_invoke_model_and_its_stream => "mistral.mistral-7b-instruct-v0:2",
    mistral_chat_answers_invoke_model_and_its_stream => "mistral.mistral-large-2407-v1:0",
    cohere_command_answers_invoke_model_and_its_stream => "cohere.command-text-v14",
    cohere_command_r_answers_invoke_model_and_its_stream => "cohere.command-r-v1:0",
    jamba_answers_invoke_model_and_its_stream => "ai21.jamba-1-5-mini-v1:0",
}

async fn titan_embeddings_have_the_requested_size_and_unit_length(ctx: Arc<Ctx>) -> CaseResult {
    let body = invoke_json(
        &ctx,
        "amazon.titan-embed-text-v2:0",
        &json!({"inputText": "hello world", "dimensions": 256, "normalize": true}),
    )
    .await?;
    let v: Vec<f64> =
        body["embedding"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    ensure_eq!(v.len(), 256, "dimensions");
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    ensure!((norm - 1.0).abs() < 0.01, "norm {norm} is not 1");
    ensure!(body["inputTextTokenCount"].as_u64().is_some_and(|n| n > 0), "inputTextTokenCount");
    Ok(())
}

async fn cohere_embeddings_return_one_vector_per_text(ctx: Arc<Ctx>) -> CaseResult {
    let body = invoke_json(
        &ctx,
        "cohere.embed-english-v3",
        &json!({"texts": ["first text", "second text", "third"], "input_type": "search_document"}),
    )
    .await?;
    let vectors = body["embeddings"].as_array().ok_or("embeddings is not a list")?;
    ensure_eq!(vectors.len(), 3, "vectors");
    ensure!(vectors.iter().all(|v| v.as_array().is_some_and(|a| a.len() == 1024)), "vectors are not 1024-d");
    ensure_eq!(body["response_type"], json!("embeddings_floats"), "response_type");
    Ok(())
}

async fn streaming_an_embedding_model_is_refused(ctx: Arc<Ctx>) -> CaseResult {
    let r = ctx
        .runtime()
        .invoke_model_with_response_stream()
        .model_id("amazon.titan-embed-text-v2:0")
        .content_type("application/json")
        .body(Blob::new(json!({"inputText": "hi"}).to_string()))
        .send()
        .await;
    expect_error(r.map(|_| ()), "ValidationException", Some("The model is unsupported for streaming."))
}

async fn count_tokens_matches_converse_input_tokens(ctx: Arc<Ctx>) -> CaseResult {
    let prompt = "How many tokens is this sentence?";
    let conv = sdk(ctx.runtime().converse().model_id(&ctx.text_model).messages(user(prompt)).send().await, "converse")?;
    let billed = conv.usage().map(|u| u.input_tokens()).ok_or("no usage")?;
    let counted = sdk(
        ctx.runtime()
            .count_tokens()
            .model_id(&ctx.text_model)
            .input(CountTokensInput::Converse(ConverseTokensRequest::builder().messages(user(prompt)).build()))
            .send()
            .await,
        "count_tokens",
    )?;
    ensure_eq!(counted.input_tokens(), billed, "inputTokens");
    Ok(())
}

/// Holds against AWS too: the images' content is the model's, so the case checks their
/// number, format and size only.
async fn nova_canvas_answers_pngs_of_the_requested_size(ctx: Arc<Ctx>) -> CaseResult {
    use base64::Engine as _;
    let body = invoke_json(
        &ctx,
        "amazon.nova-canvas-v1:0",
        &json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a red lighthouse on a cliff at dawn"},
            "imageGenerationConfig": {"numberOfImages": 2, "width": 512, "height": 320, "seed": 1}}),
    )
    .await?;
    let images = body["images"].as_array().ok_or("images is not a list")?;
    ensure_eq!(images.len(), 2, "images");
    for image in images {
        let png = base64::engine::general_purpose::STANDARD
            .decode(image.as_str().ok_or("an image is not a string")?)
            .map_err(|e| format!("an image is not base64: {e}"))?;
        ensure!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 24, "not a PNG");
        let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
        ensure_eq!((be(16), be(20)), (512, 320), "PNG size");
    }
    ensure!(body.get("error").is_none_or(Value::is_null), "error {}", body["error"]);
    Ok(())
}
