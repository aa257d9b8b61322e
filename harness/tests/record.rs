//! Record and replay through real aws-sdk-rust clients, with no AWS: emulator B (verifying
//! SigV4 against known keys) plays Bedrock; A (`record` with B as upstream, its own
//! credentials) records what B answers; C (`replay`, B stopped) answers from A's cassettes.
//! The client must see the same through A and C as directly from B, streams included; upstream
//! failures (throttling, 5xx, a stream cut mid-way, slowness) pass through A as they came.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_bedrockruntime::config::Credentials;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput, ResponseStream};
use bedrock_emulator::auth::credentials::CredentialStore;
use bedrock_emulator::auth::AuthMode;
use bedrock_emulator::record::proxy::{RecordMode, RecordOptions};
use bedrock_emulator::record::redact::find_secrets;
use bedrock_emulator::scenario::format::parse_fault;
use bedrock_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use bedrock_harness::cases::converse::output_text;
use bedrock_harness::cases::user;
use bedrock_harness::target::{emulator_clients, ClientOptions};
use serde_json::{json, Value};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const UPSTREAM_KEY: &str = "AKIDUPSTREAMRECORD";
const UPSTREAM_SECRET: &str = "upstream-secret-value";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bedrock-record-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn cassettes(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(&self.0)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            std::fs::read_to_string(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(builder: EmulatorBuilder) -> EmulatorHandle {
    match builder.start().await {
        Ok(e) => e,
        Err(e) => panic!("emulator did not start: {e}"),
    }
}

/// B: plays Bedrock, verifying the recorder's signatures.
async fn upstream(faults: &[&str]) -> EmulatorHandle {
    let creds = format!("[upstream]\naws_access_key_id = {UPSTREAM_KEY}\naws_secret_access_key = {UPSTREAM_SECRET}\n");
    let store = CredentialStore::parse("upstream credentials", &creds).expect("valid credentials");
    let mut builder = Emulator::builder().seed(3).auth(AuthMode::Verify(store));
    for f in faults {
        builder = builder.fault(parse_fault("test", f).expect("valid fault"));
    }
    start(builder).await
}

/// A: records into `dir` from `upstream_url`.
async fn recorder(dir: &TempDir, upstream_url: &str, mode: RecordMode) -> EmulatorHandle {
    let mut options = RecordOptions::new(dir.0.clone(), mode);
    options.upstream = Some(upstream_url.to_string());
    options.credentials = Some(Credentials::new(UPSTREAM_KEY, UPSTREAM_SECRET, None, None, "recorder"));
    start(Emulator::builder().record(options)).await
}

/// A client with its own (different) credentials: the recorder must re-sign.
async fn client(endpoint: &str) -> aws_sdk_bedrockruntime::Client {
    client_as(endpoint, "AKIDTHECLIENTKEY0000", "client-secret").await
}

async fn client_as(endpoint: &str, key: &str, secret: &str) -> aws_sdk_bedrockruntime::Client {
    let options = ClientOptions { key: key.into(), secret: secret.into(), ..ClientOptions::default() };
    emulator_clients(endpoint, &options).await.runtime
}

/// What a client observes of one fixed set of calls.
#[derive(Debug, PartialEq)]
struct Observed {
    converse: String,
    stream: Vec<String>,
    invoke: Value,
    chunks: Vec<Value>,
}

async fn observe(rt: aws_sdk_bedrockruntime::Client) -> Observed {
    let out = rt.converse().model_id(HAIKU).messages(user("Tell me about tides")).send().await.expect("converse");
    let converse = output_text(out.output());
    let mut s =
        rt.converse_stream().model_id(HAIKU).messages(user("Stream about rivers")).send().await.expect("stream");
    let mut stream = Vec::new();
    while let Some(event) = s.stream.recv().await.expect("events") {
        stream.push(match event {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::Text(t)) => format!("delta:{t}"),
                _ => "delta".into(),
            },
            ConverseStreamOutput::Metadata(m) => format!("metadata:{:?}", m.usage().map(|u| u.output_tokens())),
            other => format!("{other:?}").split('(').next().unwrap_or("").to_string(),
        });
    }
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Native hello"}]});
    let out = rt.invoke_model().model_id(HAIKU).body(Blob::new(body.to_string())).send().await.expect("invoke");
    let mut invoke: Value = serde_json::from_slice(out.body().as_ref()).expect("json");
    invoke["id"] = json!("(varies)");
    let mut s = rt
        .invoke_model_with_response_stream()
        .model_id(HAIKU)
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .expect("imwrs");
    let mut chunks = Vec::new();
    while let Some(event) = s.body.recv().await.expect("chunks") {
        if let ResponseStream::Chunk(c) = event {
            let mut v: Value = serde_json::from_slice(c.bytes().expect("bytes").as_ref()).expect("chunk json");
            if v.pointer("/message/id").is_some() {
                v["message"]["id"] = json!("(varies)");
            }
            chunks.push(v);
        }
    }
    Observed { converse, stream, invoke, chunks }
}

#[tokio::test]
async fn a_recorded_session_replays_exactly_what_the_upstream_answered() {
    let dir = TempDir::new("session");
    let b = upstream(&[]).await;
    let direct = observe(client_as(&b.endpoint_url(), UPSTREAM_KEY, UPSTREAM_SECRET).await).await;
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::Once).await;
    let recorded = observe(client(&a.endpoint_url()).await).await;
    assert_eq!(recorded, direct, "through the recorder");
    assert_eq!(dir.cassettes().len(), 4, "one cassette per interaction");
    // Every answer through A was B's (which verified A's own signature, not the client's).
    assert!(a.journal().iter().all(|e| e.answered_by == "upstream"));
    assert!(b.journal().iter().all(|e| e.status == 200), "B accepted every re-signed request");
    b.shutdown().await;
    a.shutdown().await;
    let c = start(Emulator::builder().replay(dir.0.clone())).await;
    let replayed = observe(client(&c.endpoint_url()).await).await;
    assert_eq!(replayed, direct, "replayed with the upstream stopped");
    assert!(c.journal().iter().all(|e| e.answered_by.starts_with("replay:")));
}

#[tokio::test]
async fn no_secret_reaches_a_cassette() {
    let dir = TempDir::new("secrets");
    let b = upstream(&[]).await;
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::All).await;
    let _ = observe(client(&a.endpoint_url()).await).await;
    let cassettes = dir.cassettes();
    assert!(!cassettes.is_empty());
    for (name, text) in cassettes {
        assert!(find_secrets(&text).is_empty(), "{name}: {:?}", find_secrets(&text));
        for secret in [UPSTREAM_KEY, UPSTREAM_SECRET, "AKIDTHECLIENTKEY0000", "client-secret", "Signature="] {
            assert!(!text.contains(secret), "{name} holds {secret}");
        }
        assert!(!text.to_ascii_lowercase().contains("\"authorization\""), "{name} holds an Authorization header");
    }
}

#[tokio::test]
async fn an_upstream_throttle_is_recorded_and_replayed_as_such() {
    let dir = TempDir::new("throttle");
    let b = upstream(&["{name: t, inject: {error: {type: ThrottlingException}}}"]).await;
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::Once).await;
    let err =
        client(&a.endpoint_url()).await.converse().model_id(HAIKU).messages(user("hi")).send().await.expect_err("429");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert_eq!(err.code(), Some("ThrottlingException"));
    b.shutdown().await;
    a.shutdown().await;
    let c = start(Emulator::builder().replay(dir.0.clone())).await;
    let err =
        client(&c.endpoint_url()).await.converse().model_id(HAIKU).messages(user("hi")).send().await.expect_err("429");
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert!(matches!(
        err.into_service_error(),
        aws_sdk_bedrockruntime::operation::converse::ConverseError::ThrottlingException(_)
    ));
}

#[tokio::test]
async fn an_upstream_server_error_passes_through_and_is_recorded() {
    let dir = TempDir::new("5xx");
    let b = upstream(&["{name: e, inject: {error: {type: InternalServerException, message: upstream broke}}}"]).await;
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::All).await;
    let err =
        client(&a.endpoint_url()).await.converse().model_id(HAIKU).messages(user("hi")).send().await.expect_err("500");
    assert_eq!((err.code(), err.message()), (Some("InternalServerException"), Some("upstream broke")));
    assert_eq!(dir.cassettes().len(), 1);
}

#[tokio::test]
async fn a_stream_cut_upstream_is_cut_for_the_client_and_not_recorded() {
    let dir = TempDir::new("cut");
    let b = upstream(&["{name: cut, inject: {stream: {afterEvents: 3, then: {abort: {}}}}}"]).await;
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::All).await;
    let rt = client(&a.endpoint_url()).await;
    let mut s = rt.converse_stream().model_id(HAIKU).messages(user("hi")).send().await.expect("head");
    let mut events = 0;
    let failed = loop {
        match tokio::time::timeout(Duration::from_secs(10), s.stream.recv()).await.expect("no hang") {
            Ok(Some(_)) => events += 1,
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(failed, "the client sees the cut");
    assert_eq!(events, 3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(dir.cassettes().is_empty(), "a stream Bedrock never finished is not recorded");
}

#[tokio::test]
async fn a_slow_upstream_streams_through_frame_by_frame() {
    let dir = TempDir::new("slow");
    let b = upstream(&["{name: slow, inject: {pace: {firstTokenMs: 200, tokensPerSecond: 200}}}"]).await;
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::All).await;
    let rt = client(&a.endpoint_url()).await;
    let started = std::time::Instant::now();
    let mut s = rt.converse_stream().model_id(HAIKU).messages(user("a long answer please")).send().await.expect("head");
    let head = started.elapsed();
    let mut first_delta = None;
    while let Some(e) = s.stream.recv().await.expect("events") {
        if matches!(e, ConverseStreamOutput::ContentBlockDelta(_)) && first_delta.is_none() {
            first_delta = Some(started.elapsed());
        }
    }
    // The head came before the paced tokens: the proxy did not wait for the whole body.
    assert!(first_delta.expect("a delta") >= Duration::from_millis(200));
    assert!(head < first_delta.expect("a delta"));
    let (_, text) = dir.cassettes().pop().expect("recorded");
    let cassette: Value = serde_json::from_str(&text).expect("json");
    let offsets: Vec<f64> = cassette["response"]["stream"]
        .as_array()
        .expect("stream")
        .iter()
        .filter_map(|i| i["offsetMs"].as_f64())
        .collect();
    assert!(offsets.last().copied().unwrap_or(0.0) >= 200.0, "recorded offsets keep the pacing: {offsets:?}");
}

#[tokio::test]
async fn record_mode_once_replays_a_folder_that_holds_cassettes_and_refuses_new_requests() {
    let dir = TempDir::new("once");
    let b = upstream(&[]).await;
    {
        let a = recorder(&dir, &b.endpoint_url(), RecordMode::Once).await;
        let rt = client(&a.endpoint_url()).await;
        rt.converse().model_id(HAIKU).messages(user("first")).send().await.expect("recorded");
        a.shutdown().await;
    }
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::Once).await;
    let rt = client(&a.endpoint_url()).await;
    rt.converse().model_id(HAIKU).messages(user("first")).send().await.expect("replayed");
    let err = rt.converse().model_id(HAIKU).messages(user("second")).send().await.expect_err("refused");
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap_or("").contains("record mode once"), "{err:?}");
    assert_eq!(b.journal().len(), 1, "only the first recording went upstream");
    // new_episodes records what is new.
    let a2 = recorder(&dir, &b.endpoint_url(), RecordMode::NewEpisodes).await;
    client(&a2.endpoint_url()).await.converse().model_id(HAIKU).messages(user("second")).send().await.expect("new");
    assert_eq!(dir.cassettes().len(), 2);
}

/// The whole conformance suite through the recorder, then from its cassettes alone: every case
/// that passes against B directly passes through A and through C.
#[tokio::test]
async fn the_harness_suite_passes_through_the_recorder_and_from_its_cassettes() {
    use bedrock_harness::case::Status;
    use bedrock_harness::{cases, run_cases, Ctx, Target};
    use std::sync::Arc;
    let dir = TempDir::new("suite");
    // B verifies signatures, so the suite's own (permissive-emulator) credentials cannot talk to
    // it directly; an unverifying twin with the same seed is the reference.
    let reference = start(Emulator::builder().seed(3)).await;
    let b = upstream(&[]).await;
    let a = recorder(&dir, &b.endpoint_url(), RecordMode::Once).await;
    let all = cases::all();
    let failures = |outcomes: Vec<bedrock_harness::Outcome>| -> Vec<String> {
        outcomes
            .into_iter()
            .filter_map(|o| match o.status {
                Status::Failed(why) => Some(format!("{}: {why}", o.name)),
                _ => None,
            })
            .collect()
    };
    let direct = failures(
        run_cases(Arc::new(Ctx::new(Target::Emulator { endpoint: reference.endpoint_url() }).await), &all).await,
    );
    assert!(direct.is_empty(), "directly: {direct:?}");
    let through_a =
        failures(run_cases(Arc::new(Ctx::new(Target::Emulator { endpoint: a.endpoint_url() }).await), &all).await);
    assert!(through_a.is_empty(), "through the recorder: {through_a:?}");
    b.shutdown().await;
    a.shutdown().await;
    let c = start(Emulator::builder().replay(dir.0.clone())).await;
    let from_c =
        failures(run_cases(Arc::new(Ctx::new(Target::Emulator { endpoint: c.endpoint_url() }).await), &all).await);
    assert!(from_c.is_empty(), "from the cassettes: {from_c:?}");
}
