//! `--auth sigv4`: real aws-sdk-rust clients signing with known, unknown and wrong
//! credentials, skewed clocks and session tokens against an emulator verifying SigV4, and the
//! typed errors (codes, statuses, messages) they get back.

use std::time::{Duration, SystemTime};

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use bedrock_emulator::auth::credentials::CredentialStore;
use bedrock_emulator::auth::AuthMode;
use bedrock_emulator::{Emulator, EmulatorHandle};
use bedrock_harness::cases::user;
use bedrock_harness::target::{emulator_clients, ClientOptions};
use serde_json::json;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CREDENTIALS: &str = "[default]\naws_access_key_id = AKIDEMULATORTEST\naws_secret_access_key = right-secret\n\n[temporary]\naws_access_key_id = ASIAEMULATORTEST\naws_secret_access_key = temp-secret\naws_session_token = the-session-token\n\n[expired]\naws_access_key_id = ASIAEXPIREDTEST\naws_secret_access_key = old-secret\naws_session_token = old-token\nexpiration = 2020-01-01T00:00:00Z\n";

async fn verifying_emulator() -> EmulatorHandle {
    let store = match CredentialStore::parse("test credentials", CREDENTIALS) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    match Emulator::builder().auth(AuthMode::Verify(store)).start().await {
        Ok(e) => e,
        Err(e) => panic!("emulator did not start: {e}"),
    }
}

#[derive(Clone, Copy)]
struct Signing<'a> {
    key: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
    clock_offset: i64,
}

const RIGHT: Signing<'static> =
    Signing { key: "AKIDEMULATORTEST", secret: "right-secret", token: None, clock_offset: 0 };

async fn clients(endpoint: &str, s: Signing<'_>) -> (aws_sdk_bedrockruntime::Client, aws_sdk_bedrock::Client) {
    let now = SystemTime::now();
    let shifted = if s.clock_offset >= 0 {
        now + Duration::from_secs(s.clock_offset as u64)
    } else {
        now - Duration::from_secs(s.clock_offset.unsigned_abs())
    };
    let options = ClientOptions {
        key: s.key.into(),
        secret: s.secret.into(),
        token: s.token.map(str::to_string),
        region: "eu-west-3".into(),
        clock: Some(shifted),
        ..ClientOptions::default()
    };
    let c = emulator_clients(endpoint, &options).await;
    (c.runtime, c.control)
}

/// The error code and message of a failed Converse.
async fn converse_error(rt: &aws_sdk_bedrockruntime::Client) -> (String, String, u16) {
    let err = rt.converse().model_id(HAIKU).messages(user("hi")).send().await.expect_err("refused");
    let status = err.raw_response().map_or(0, |r| r.status().as_u16());
    let e = err.into_service_error();
    (e.code().unwrap_or("").to_string(), e.message().unwrap_or("").to_string(), status)
}

#[tokio::test]
async fn requests_signed_with_known_credentials_pass_every_operation_shape() {
    let emulator = verifying_emulator().await;
    let (rt, control) = clients(&emulator.endpoint_url(), RIGHT).await;
    // A model id with ':' (double-encoded in the canonical request), a JSON body, a region
    // taken from the verified scope.
    let out = rt.converse().model_id(HAIKU).messages(user("hi")).send().await.expect("converse");
    assert!(out.output().is_some());
    let mut stream = rt.converse_stream().model_id(HAIKU).messages(user("hi")).send().await.expect("stream");
    while stream.stream.recv().await.expect("events").is_some() {}
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    rt.invoke_model().model_id(HAIKU).body(Blob::new(body.to_string())).send().await.expect("invoke_model");
    // A query string and an ARN label with '/' and ':'.
    control.list_foundation_models().by_provider("Anthropic").send().await.expect("list with a query");
    let arn = format!("arn:aws:bedrock:eu-west-3:{}:inference-profile/eu.{HAIKU}", "123456789012");
    control.get_inference_profile().inference_profile_identifier(arn).send().await.expect("ARN label");
    // Temporary credentials with their session token.
    let (rt, _) = clients(
        &emulator.endpoint_url(),
        Signing { key: "ASIAEMULATORTEST", secret: "temp-secret", token: Some("the-session-token"), clock_offset: 0 },
    )
    .await;
    rt.converse().model_id(HAIKU).messages(user("hi")).send().await.expect("session credentials");
}

#[tokio::test]
async fn an_unknown_access_key_is_an_unrecognized_client() {
    let emulator = verifying_emulator().await;
    let (rt, _) = clients(&emulator.endpoint_url(), Signing { key: "AKIDUNKNOWN", ..RIGHT }).await;
    assert_eq!(
        converse_error(&rt).await,
        ("UnrecognizedClientException".into(), "The security token included in the request is invalid.".into(), 403)
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature() {
    let emulator = verifying_emulator().await;
    let (rt, _) = clients(&emulator.endpoint_url(), Signing { secret: "wrong-secret", ..RIGHT }).await;
    let (code, message, status) = converse_error(&rt).await;
    assert_eq!((code.as_str(), status), ("InvalidSignatureException", 403));
    assert!(message.starts_with("The request signature we calculated does not match the signature you provided."));
}

#[tokio::test]
async fn a_clock_ten_minutes_behind_is_an_expired_signature() {
    let emulator = verifying_emulator().await;
    let (rt, _) = clients(&emulator.endpoint_url(), Signing { clock_offset: -600, ..RIGHT }).await;
    let (code, message, status) = converse_error(&rt).await;
    assert_eq!((code.as_str(), status), ("InvalidSignatureException", 403));
    assert!(message.starts_with("Signature expired: ") && message.ends_with(" - 5 min.)"), "{message}");
    let (rt, _) = clients(&emulator.endpoint_url(), Signing { clock_offset: 600, ..RIGHT }).await;
    let (_, message, _) = converse_error(&rt).await;
    assert!(message.starts_with("Signature not yet current: ") && message.ends_with(" + 5 min.)"), "{message}");
}

#[tokio::test]
async fn a_missing_or_foreign_session_token_is_unrecognized_and_an_expired_one_is_expired() {
    let emulator = verifying_emulator().await;
    let temporary = Signing { key: "ASIAEMULATORTEST", secret: "temp-secret", token: None, clock_offset: 0 };
    let (rt, _) = clients(&emulator.endpoint_url(), temporary).await;
    assert_eq!(converse_error(&rt).await.0, "UnrecognizedClientException");
    let (rt, _) = clients(&emulator.endpoint_url(), Signing { token: Some("someone-elses"), ..temporary }).await;
    assert_eq!(converse_error(&rt).await.0, "UnrecognizedClientException");
    let expired = Signing { key: "ASIAEXPIREDTEST", secret: "old-secret", token: Some("old-token"), clock_offset: 0 };
    let (rt, _) = clients(&emulator.endpoint_url(), expired).await;
    assert_eq!(
        converse_error(&rt).await,
        ("ExpiredTokenException".into(), "The security token included in the request is expired".into(), 403)
    );
}

#[tokio::test]
async fn the_admin_api_stays_open() {
    let emulator = verifying_emulator().await;
    let (rt, _) = clients(&emulator.endpoint_url(), Signing { key: "AKIDUNKNOWN", ..RIGHT }).await;
    let _ = converse_error(&rt).await;
    assert_eq!(emulator.journal().len(), 1, "refused requests are journaled");
    assert_eq!(emulator.journal()[0].status, 403);
}
