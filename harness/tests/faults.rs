//! Fault injection and quotas, driven through the real aws-sdk-bedrockruntime client against
//! in-process emulators: per-attempt errors and the SDK's retries, stalls and read timeouts,
//! resets, stream faults on synthetic streams, quotas, seeded probability, and the injected
//! clock. One `#[tokio::test]` per behaviour.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{ConverseStreamOutput, InferenceConfiguration};
use bedrock_emulator::clock::Clock;
use bedrock_emulator::scenario::fault_format::{FaultSpec, QuotaSpec};
use bedrock_emulator::scenario::format::parse_fault;
use bedrock_emulator::server::journal::JournalEntry;
use bedrock_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use bedrock_harness::cases::user;
use bedrock_harness::target::{emulator_clients, ClientOptions};
use serde_json::json;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const HAIKU_PROFILE: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";

fn fault(yaml: &str) -> FaultSpec {
    match parse_fault("test", yaml) {
        Ok(f) => f,
        Err(e) => panic!("invalid fault rule in test: {e}"),
    }
}

async fn start(builder: EmulatorBuilder) -> EmulatorHandle {
    match builder.start().await {
        Ok(e) => e,
        Err(e) => panic!("emulator did not start: {e}"),
    }
}

async fn with_faults(rules: &[&str]) -> EmulatorHandle {
    let mut builder = Emulator::builder();
    for r in rules {
        builder = builder.fault(fault(r));
    }
    start(builder).await
}

/// A runtime client with the SDK's standard retry strategy (`attempts` attempts, ~no backoff)
/// and optional read timeout.
async fn client(endpoint: &str, attempts: u32, read_timeout: Option<Duration>) -> aws_sdk_bedrockruntime::Client {
    emulator_clients(endpoint, &ClientOptions { attempts, read_timeout, ..ClientOptions::default() }).await.runtime
}

/// Fails instead of hanging.
async fn within<F: Future>(f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("did not finish within 30 s"),
    }
}

fn ok<T, E: Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

async fn converse(rt: &aws_sdk_bedrockruntime::Client, text: &str) -> Result<String, ConverseError> {
    let out = rt.converse().model_id(HAIKU).messages(user(text)).send().await.map_err(|e| e.into_service_error())?;
    Ok(bedrock_harness::cases::converse::output_text(out.output()))
}

/// Journal entries grouped by invocation id: (attempt, status, faults) in order.
fn by_invocation(journal: &[JournalEntry]) -> BTreeMap<String, Vec<(u32, u16, Vec<String>)>> {
    let mut out: BTreeMap<String, Vec<(u32, u16, Vec<String>)>> = BTreeMap::new();
    for e in journal {
        let id = e.invocation_id.clone().unwrap_or_else(|| "(none)".into());
        out.entry(id).or_default().push((e.attempt.unwrap_or(0), e.status, e.faults.clone()));
    }
    out
}

#[tokio::test]
async fn failing_the_first_two_attempts_makes_every_call_succeed_on_the_third() {
    let emulator = with_faults(&[
        "{name: flaky, match: {operation: Converse}, on: {attempts: 2}, inject: {error: {type: ThrottlingException}}}",
    ])
    .await;
    let rt = client(&emulator.endpoint_url(), 3, None).await;
    ok(within(converse(&rt, "first")).await, "first call");
    ok(within(converse(&rt, "second")).await, "second call");
    let calls = by_invocation(&emulator.journal());
    assert_eq!(calls.len(), 2, "{calls:?}");
    for attempts in calls.values() {
        let flaky = vec!["flaky".to_string()];
        assert_eq!(attempts, &vec![(1, 429, flaky.clone()), (2, 429, flaky), (3, 200, vec![])]);
    }
}

#[tokio::test]
async fn concurrent_calls_each_get_their_own_failed_attempts() {
    let emulator =
        with_faults(&["{name: flaky, on: {attempts: 2}, inject: {error: {type: ThrottlingException}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 3, None).await;
    let (a, b, c) = within(async { tokio::join!(converse(&rt, "a"), converse(&rt, "b"), converse(&rt, "a")) }).await;
    ok(a, "a");
    ok(b, "b");
    ok(c, "a again");
    let calls = by_invocation(&emulator.journal());
    assert_eq!(calls.len(), 3);
    for attempts in calls.values() {
        let numbers: Vec<u32> = attempts.iter().map(|a| a.0).collect();
        assert_eq!(numbers, vec![1, 2, 3], "{calls:?}");
    }
}

#[tokio::test]
async fn without_an_attempt_limit_the_sdk_gives_up_after_its_max_attempts() {
    let emulator = with_faults(&["{name: down, inject: {error: {type: ThrottlingException}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 3, None).await;
    match within(converse(&rt, "hi")).await {
        Err(ConverseError::ThrottlingException(e)) => {
            assert_eq!(
                e.message(),
                Some(bedrock_emulator::wire::error::ErrorCode::ThrottlingException.default_message())
            )
        }
        other => panic!("expected ThrottlingException, got {other:?}"),
    }
    assert_eq!(emulator.journal().len(), 3);
}

/// What aws-sdk-rust's standard retry strategy does with each modelled error (3 attempts
/// allowed): the README's retry table is this, verified.
#[tokio::test]
async fn the_rust_sdk_retries_throttling_and_server_errors_only() {
    let expected: [(&str, usize); 9] = [
        ("ThrottlingException", 3),
        ("ModelNotReadyException", 3),
        ("ServiceUnavailableException", 3),
        ("InternalServerException", 3),
        ("ModelTimeoutException", 1),
        ("ModelErrorException", 1),
        ("ValidationException", 1),
        ("AccessDeniedException", 1),
        ("ServiceQuotaExceededException", 1),
    ];
    let mut observed = Vec::new();
    for (code, _) in expected {
        let emulator = with_faults(&[&format!("{{name: e, inject: {{error: {{type: {code}}}}}}}")]).await;
        let rt = client(&emulator.endpoint_url(), 3, None).await;
        let err = within(converse(&rt, "hi")).await.expect_err("the fault fails every attempt");
        assert_eq!(err.code(), Some(code), "{err:?}");
        observed.push((code, emulator.journal().len()));
    }
    println!("aws-sdk-rust attempts per error (of 3 allowed): {observed:?}");
    assert_eq!(observed, expected.to_vec());
}

#[tokio::test]
async fn a_model_timeout_surfaces_at_once() {
    let emulator = with_faults(&["{name: slow, inject: {error: {type: ModelTimeoutException}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 3, None).await;
    assert!(matches!(within(converse(&rt, "hi")).await, Err(ConverseError::ModelTimeoutException(_))));
    assert_eq!(emulator.journal().len(), 1);
}

#[tokio::test]
async fn a_stall_makes_the_client_read_timeout_fire_without_stalling_other_clients() {
    let emulator = with_faults(&[
        "{name: stuck, match: {lastUserMessage: stall me}, inject: {stall: {forever: true}}}",
        "{name: slow, match: {lastUserMessage: slow}, inject: {stall: {ms: 5000}}}",
    ])
    .await;
    let stalled = client(&emulator.endpoint_url(), 1, Some(Duration::from_millis(500))).await;
    let healthy = client(&emulator.endpoint_url(), 1, None).await;
    let (stalled_result, slow_result, healthy_result) = within(async {
        tokio::join!(converse(&stalled, "stall me"), converse(&stalled, "slow"), converse(&healthy, "hello"))
    })
    .await;
    for (what, r) in [("forever", stalled_result), ("5 s", slow_result)] {
        match r {
            Err(e) => assert!(format!("{e:?}").to_lowercase().contains("timeout"), "{what}: {e:?}"),
            Ok(text) => panic!("{what}: expected a read timeout, got {text:?}"),
        }
    }
    ok(healthy_result, "a request on another connection");
    // A stall forever must not hold up a graceful shutdown.
    within(emulator.shutdown()).await;
}

#[tokio::test]
async fn a_reset_is_a_connection_error_the_sdk_retries() {
    let emulator = with_faults(&["{name: rst, on: {attempts: 1}, inject: {reset: {}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 3, None).await;
    ok(within(converse(&rt, "hi")).await, "retried after the reset");
    let journal = emulator.journal();
    assert_eq!(journal.len(), 2);
    assert_eq!((journal[0].status, journal[0].faults.clone()), (0, vec!["rst".to_string()]));
    assert_eq!(journal[1].status, 200);
}

#[tokio::test]
async fn a_reset_without_retries_reaches_the_caller_as_a_dispatch_failure() {
    let emulator = with_faults(&["{name: rst, inject: {reset: {}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let err = within(rt.converse().model_id(HAIKU).messages(user("hi")).send()).await.expect_err("reset");
    assert!(err.as_service_error().is_none(), "a connection error, not a service error: {err:?}");
    assert!(format!("{err:?}").contains("DispatchFailure"), "{err:?}");
}

#[tokio::test]
async fn a_mid_stream_exception_on_a_synthetic_stream_is_the_typed_stream_error() {
    let emulator = with_faults(&[
        "{name: cut, inject: {stream: {afterEvents: 2, then: {exception: {type: ModelStreamErrorException, message: upstream hiccup}}}}}",
    ])
    .await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let mut out = ok(within(rt.converse_stream().model_id(HAIKU).messages(user("tell me more")).send()).await, "send");
    let mut events = 0;
    let err = loop {
        match within(out.stream.recv()).await {
            Ok(Some(_)) => events += 1,
            Ok(None) => panic!("the stream ended without the injected exception"),
            Err(e) => break e,
        }
    };
    assert_eq!(events, 2);
    match err.into_service_error() {
        ConverseStreamOutputError::ModelStreamErrorException(e) => assert_eq!(e.message(), Some("upstream hiccup")),
        other => panic!("expected ModelStreamErrorException, got {other:?}"),
    }
    assert_eq!(emulator.journal()[0].answered_by, "synthetic", "the fault shaped a synthetic reply");
}

#[tokio::test]
async fn a_native_stream_can_time_out_mid_way() {
    let emulator = with_faults(&[
        "{name: cut, match: {operation: InvokeModelWithResponseStream}, inject: {stream: {afterEvents: 1, then: {exception: {type: ModelTimeoutException}}}}}",
    ])
    .await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let mut out = ok(
        within(rt.invoke_model_with_response_stream().model_id(HAIKU).body(Blob::new(body.to_string())).send()).await,
        "send",
    );
    assert!(matches!(within(out.body.recv()).await, Ok(Some(_))), "one chunk first");
    match within(out.body.recv()).await {
        Err(e) => assert!(matches!(e.into_service_error(), ResponseStreamError::ModelTimeoutException(_))),
        other => panic!("expected ModelTimeoutException, got {other:?}"),
    }
}

#[tokio::test]
async fn a_corrupt_frame_is_a_decode_error_not_a_hang() {
    let emulator = with_faults(&["{name: bad-crc, inject: {stream: {afterEvents: 1, then: {corrupt: {}}}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let mut out = ok(within(rt.converse_stream().model_id(HAIKU).messages(user("hi")).send()).await, "send");
    assert!(matches!(within(out.stream.recv()).await, Ok(Some(ConverseStreamOutput::MessageStart(_)))));
    let err = within(out.stream.recv()).await.expect_err("the corrupt frame fails to decode");
    assert!(format!("{err:?}").contains("ChecksumMismatch"), "{err:?}");
}

#[tokio::test]
async fn a_truncated_stream_ends_cleanly_without_its_closing_events() {
    let emulator = with_faults(&["{name: short, inject: {stream: {afterEvents: 3, then: {truncate: {}}}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let mut out = ok(within(rt.converse_stream().model_id(HAIKU).messages(user("hi")).send()).await, "send");
    let mut kinds = Vec::new();
    while let Some(event) = ok(within(out.stream.recv()).await, "recv") {
        kinds.push(matches!(event, ConverseStreamOutput::MessageStop(_) | ConverseStreamOutput::Metadata(_)));
    }
    assert_eq!(kinds, vec![false, false, false]);
}

#[tokio::test]
async fn an_injected_error_on_a_stream_is_the_http_response() {
    let emulator = with_faults(&["{name: t, inject: {error: {type: ThrottlingException}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let err = within(rt.converse_stream().model_id(HAIKU).messages(user("hi")).send()).await.expect_err("429");
    assert!(matches!(err.into_service_error(), ConverseStreamError::ThrottlingException(_)));
}

#[tokio::test]
async fn requests_per_minute_over_quota_are_throttled_per_model_id() {
    let quota = QuotaSpec {
        model: "*anthropic.claude-3-haiku*".into(),
        requests_per_minute: Some(2),
        tokens_per_minute: None,
        tokens_per_day: None,
    };
    let emulator = start(Emulator::builder().quotas([quota])).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    ok(converse(&rt, "1").await, "first");
    ok(converse(&rt, "2").await, "second");
    match converse(&rt, "3").await {
        Err(ConverseError::ThrottlingException(e)) => {
            assert_eq!(e.message(), Some(bedrock_emulator::fault::quota::TOO_MANY_REQUESTS))
        }
        other => panic!("expected ThrottlingException, got {other:?}"),
    }
    // The inference profile has buckets of its own.
    ok(rt.converse().model_id(HAIKU_PROFILE).messages(user("4")).send().await, "profile");
    assert_eq!(emulator.journal()[2].faults, vec!["quota:*anthropic.claude-3-haiku*:requestsPerMinute".to_string()]);
}

#[tokio::test]
async fn tokens_per_minute_count_what_the_responses_report() {
    // Learn what one request uses from the response itself.
    let probe = start(Emulator::builder()).await;
    let rt = client(&probe.endpoint_url(), 1, None).await;
    let max_tokens = 50;
    let send = |rt: aws_sdk_bedrockruntime::Client| async move {
        rt.converse()
            .model_id(HAIKU)
            .messages(user("count my tokens"))
            .inference_config(InferenceConfiguration::builder().max_tokens(max_tokens).build())
            .send()
            .await
    };
    let usage = ok(send(rt.clone()).await, "probe").usage.expect("usage");
    let used = (usage.input_tokens + usage.output_tokens) as u64;
    let reserved = usage.input_tokens as u64 + max_tokens as u64;
    assert!(used < reserved, "the reply uses less than it reserves");
    // Room for two requests settled to their usage, but not for a third reservation.
    let tpm = used * 2 + reserved - 1;
    let quota = QuotaSpec {
        model: HAIKU.into(),
        requests_per_minute: None,
        tokens_per_minute: Some(tpm),
        tokens_per_day: None,
    };
    let clock = Clock::manual();
    let emulator = start(Emulator::builder().quotas([quota]).clock(clock.clone())).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    ok(send(rt.clone()).await, "first");
    ok(send(rt.clone()).await, "second: the first was settled to its usage");
    match send(rt.clone()).await.map_err(|e| e.into_service_error()) {
        Err(ConverseError::ThrottlingException(e)) => {
            assert_eq!(e.message(), Some(bedrock_emulator::fault::quota::TOO_MANY_TOKENS))
        }
        other => panic!("expected ThrottlingException, got {other:?}"),
    }
    // A minute later the bucket has refilled (the injected clock moves; nothing sleeps).
    clock.advance(Duration::from_secs(60));
    ok(send(rt).await, "after a minute");
}

#[tokio::test]
async fn fault_windows_follow_the_injected_clock() {
    let clock = Clock::manual();
    let emulator = start(
        Emulator::builder()
            .clock(clock.clone())
            .fault(fault("{name: outage, on: {window: {fromMs: 10000, forMs: 5000}}, inject: {error: {type: ServiceUnavailableException}}}")),
    )
    .await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    ok(converse(&rt, "before").await, "before the window");
    clock.advance(Duration::from_secs(11));
    assert!(matches!(converse(&rt, "during").await, Err(ConverseError::ServiceUnavailableException(_))));
    clock.advance(Duration::from_secs(5));
    ok(converse(&rt, "after").await, "after the window");
}

#[tokio::test]
async fn the_same_seed_injects_into_the_same_requests() {
    let run = |seed: u64| async move {
        let emulator =
            start(Emulator::builder().seed(seed).fault(fault(
                "{name: coin, on: {probability: 0.5}, inject: {error: {type: InternalServerException}}}",
            )))
            .await;
        let rt = client(&emulator.endpoint_url(), 1, None).await;
        let mut failed = Vec::new();
        for i in 0..20 {
            failed.push(converse(&rt, &format!("call {i}")).await.is_err());
        }
        failed
    };
    let first = run(11).await;
    assert_eq!(first, run(11).await);
    assert!(first.iter().any(|f| *f) && first.iter().any(|f| !*f), "{first:?}");
}

#[tokio::test]
async fn pacing_applies_to_synthetic_streams() {
    let emulator =
        with_faults(&["{name: slow-tokens, inject: {pace: {firstTokenMs: 300, tokensPerSecond: 1000}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let started = std::time::Instant::now();
    let mut out = ok(within(rt.converse_stream().model_id(HAIKU).messages(user("hi")).send()).await, "send");
    let mut first_token = None;
    while let Some(event) = ok(within(out.stream.recv()).await, "recv") {
        if matches!(event, ConverseStreamOutput::ContentBlockDelta(_)) && first_token.is_none() {
            first_token = Some(started.elapsed());
        }
    }
    // A lower bound only: the machine may be slow, never fast.
    assert!(first_token.expect("a text delta") >= Duration::from_millis(300));
}

#[tokio::test]
async fn faults_can_be_added_and_removed_at_runtime() {
    let emulator = start(Emulator::builder()).await;
    let rt = client(&emulator.endpoint_url(), 1, None).await;
    let name = emulator.add_fault(fault("{inject: {error: {type: AccessDeniedException}}}"));
    assert!(matches!(converse(&rt, "hi").await, Err(ConverseError::AccessDeniedException(_))));
    assert!(emulator.remove_fault(&name));
    ok(converse(&rt, "hi").await, "after removal");
    assert!(!emulator.remove_fault(&name));
}

#[tokio::test]
async fn a_stall_past_the_read_timeout_is_retried_by_the_sdk() {
    let emulator = with_faults(&["{name: stuck, on: {attempts: 1}, inject: {stall: {forever: true}}}"]).await;
    let rt = client(&emulator.endpoint_url(), 3, Some(Duration::from_millis(500))).await;
    ok(within(converse(&rt, "hi")).await, "the second attempt is not stalled");
    let journal = emulator.journal();
    assert_eq!(journal.iter().map(|e| (e.attempt, e.status)).collect::<Vec<_>>(), vec![(Some(1), 0), (Some(2), 200)]);
}
