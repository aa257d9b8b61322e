//! InvokeModelWithBidirectionalStream (Nova Sonic) through aws-sdk-rust: the input events go
//! out on the request stream while the answer comes back on the response stream.

use std::sync::Arc;

use aws_sdk_bedrockruntime::primitives::event_stream::EventStreamSender;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::InvokeModelWithBidirectionalStreamInputError;
use aws_sdk_bedrockruntime::types::{
    BidirectionalInputPayloadPart, InvokeModelWithBidirectionalStreamInput, InvokeModelWithBidirectionalStreamOutput,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::case::{sdk, Case, CaseResult, Ctx};
use crate::{case, ensure, ensure_eq};

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    vec![
        case!("InvokeModelWithBidirectionalStream", nova_sonic_answers_a_text_turn_in_text_and_audio, emulator_only),
        case!("InvokeModelWithBidirectionalStream", nova_sonic_answers_over_http2_with_prior_knowledge, emulator_only),
    ]
}

const SONIC: &str = "amazon.nova-sonic-v1:0";
const PROMPT: &str = "prompt-1";

type Input = Result<InvokeModelWithBidirectionalStreamInput, InvokeModelWithBidirectionalStreamInputError>;

fn chunk(event: Value) -> Input {
    let bytes = serde_json::to_vec(&json!({ "event": event })).unwrap_or_default();
    Ok(InvokeModelWithBidirectionalStreamInput::Chunk(
        BidirectionalInputPayloadPart::builder().bytes(Blob::new(bytes)).build(),
    ))
}

fn opening() -> Vec<Value> {
    let text_block = |name: &str, role: &str, interactive: bool| {
        json!({"contentStart": {"promptName": PROMPT, "contentName": name, "type": "TEXT", "interactive": interactive,
            "role": role, "textInputConfiguration": {"mediaType": "text/plain"}}})
    };
    vec![
        json!({"sessionStart": {"inferenceConfiguration": {"maxTokens": 1024, "topP": 0.9, "temperature": 0.7}}}),
        json!({"promptStart": {"promptName": PROMPT, "textOutputConfiguration": {"mediaType": "text/plain"},
            "audioOutputConfiguration": {"mediaType": "audio/lpcm", "sampleRateHertz": 24000, "sampleSizeBits": 16,
                "channelCount": 1, "voiceId": "tiffany", "encoding": "base64", "audioType": "SPEECH"}}}),
        text_block("system", "SYSTEM", false),
        json!({"textInput": {"promptName": PROMPT, "contentName": "system", "content": "You are a concise assistant."}}),
        json!({"contentEnd": {"promptName": PROMPT, "contentName": "system"}}),
        text_block("question", "USER", true),
        json!({"textInput": {"promptName": PROMPT, "contentName": "question", "content": "Name a colour of the sky."}}),
        json!({"contentEnd": {"promptName": PROMPT, "contentName": "question"}}),
    ]
}

/// The event name and body of one output chunk.
fn output_event(out: InvokeModelWithBidirectionalStreamOutput) -> Result<(String, Value), String> {
    let InvokeModelWithBidirectionalStreamOutput::Chunk(part) = out else {
        return Err(format!("expected a chunk, got {out:?}"));
    };
    let bytes = part.bytes().ok_or("a chunk without bytes")?;
    let doc: Value = serde_json::from_slice(bytes.as_ref()).map_err(|e| format!("chunk bytes are not JSON: {e}"))?;
    let (name, body) = doc["event"].as_object().and_then(|o| o.iter().next()).ok_or("no event in a chunk")?;
    Ok((name.clone(), body.clone()))
}

/// Emulator only: Nova Sonic's words are its own, and the interactive text turn is the
/// emulator's way to end a turn without speech. The shapes checked are the documented ones.
/// The SDK's default client, which speaks HTTP/1.1 to an `http://` endpoint.
async fn nova_sonic_answers_a_text_turn_in_text_and_audio(ctx: Arc<Ctx>) -> CaseResult {
    session(&ctx.clients.runtime).await
}

/// The same session over HTTP/2 (cleartext, prior knowledge), as AWS serves it.
async fn nova_sonic_answers_over_http2_with_prior_knowledge(ctx: Arc<Ctx>) -> CaseResult {
    let config = ctx.clients.runtime.config().to_builder().http_client(crate::h2c::client()).build();
    session(&aws_sdk_bedrockruntime::Client::from_conf(config)).await
}

async fn session(runtime: &aws_sdk_bedrockruntime::Client) -> CaseResult {
    use base64::Engine as _;
    let (tx, rx) = mpsc::channel::<Input>(16);
    for e in opening() {
        tx.send(chunk(e)).await.map_err(|_| "input closed")?;
    }
    // Fused: the SDK's signer polls its input once more after the end, to sign the end frame.
    let input = futures_util::StreamExt::fuse(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }));
    let mut out = sdk(
        runtime
            .invoke_model_with_bidirectional_stream()
            .model_id(SONIC)
            .body(EventStreamSender::from(input))
            .send()
            .await,
        "invoke_model_with_bidirectional_stream",
    )?;
    let mut events = Vec::new();
    while let Some(event) = sdk(out.body.recv().await, "recv")? {
        let (name, body) = output_event(event)?;
        let done = name == "usageEvent";
        events.push((name, body));
        if done {
            break;
        }
    }
    ensure_eq!(events.first().map(|(n, _)| n.as_str()), Some("completionStart"), "first event");
    let said: Vec<&str> = events
        .iter()
        .filter(|(n, b)| n == "textOutput" && b["role"] == "ASSISTANT")
        .filter_map(|(_, b)| b["content"].as_str())
        .collect();
    ensure!(!said.is_empty(), "no assistant text in {events:?}");
    let mut pcm = 0usize;
    for (_, b) in events.iter().filter(|(n, _)| n == "audioOutput") {
        let audio = base64::engine::general_purpose::STANDARD
            .decode(b["content"].as_str().ok_or("audioOutput without content")?)
            .map_err(|e| format!("audio is not base64: {e}"))?;
        ensure!(audio.len() % 2 == 0, "odd 16-bit PCM length {}", audio.len());
        pcm += audio.len();
    }
    ensure!(pcm > 0, "no audio");
    let usage = &events.last().ok_or("no events")?.1;
    ensure_eq!(
        usage["totalTokens"].as_u64(),
        Some(usage["totalInputTokens"].as_u64().unwrap_or(0) + usage["totalOutputTokens"].as_u64().unwrap_or(0)),
        "totalTokens"
    );
    tx.send(chunk(json!({"promptEnd": {"promptName": PROMPT}}))).await.map_err(|_| "input closed")?;
    tx.send(chunk(json!({"sessionEnd": {}}))).await.map_err(|_| "input closed")?;
    drop(tx);
    let mut rest = Vec::new();
    while let Some(event) = sdk(out.body.recv().await, "recv after sessionEnd")? {
        rest.push(output_event(event)?.0);
    }
    ensure_eq!(rest, vec!["completionEnd".to_string()], "events after promptEnd");
    Ok(())
}
