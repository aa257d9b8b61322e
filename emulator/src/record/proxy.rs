//! The recording proxy (`serve --record DIR`): requests no scenario rule or cassette answers go
//! to live Bedrock — the runtime or the control plane by route, in the client's region —
//! re-signed with this process's own AWS credentials (the standard chain: env, profile, SSO,
//! IMDS) or sent with its `AWS_BEARER_TOKEN_BEDROCK`, and the answer streams back to the
//! client as it arrives (event streams frame by frame) while it is written to a cassette.
//!
//! Memory stays bounded on long streams: each frame is appended to the cassette's temp file as
//! it passes, and the file gets its final name only when the stream ended whole.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tokio::sync::{mpsc, Mutex};

use super::cassette::{self, Body, Cassette, Metadata, RecordedRequest, RecordedResponse};
use super::redact::Redactor;
use super::stream_file::StreamFile;
use crate::api::stream_tokens::content_tokens;
use crate::api::Request;
use crate::plan::{AnsweredBy, Plan, StepStream, StreamAction, StreamStep};
use crate::wire::error::{BedrockError, ErrorCode};
use crate::wire::event_stream::Frame;

/// When to record, as vcrpy's record modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordMode {
    /// Replay what the folder holds; record only if it held nothing at startup.
    Once,
    /// Replay what matches; record the rest.
    NewEpisodes,
    /// Record everything, replay nothing.
    All,
    /// Replay only; never go upstream.
    None,
}

impl std::str::FromStr for RecordMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "once" => Ok(RecordMode::Once),
            "new_episodes" => Ok(RecordMode::NewEpisodes),
            "all" => Ok(RecordMode::All),
            "none" => Ok(RecordMode::None),
            _ => Err(format!("expected once, new_episodes, all or none (got `{s}`)")),
        }
    }
}

/// How the proxy reaches and authenticates to Bedrock.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Where cassettes are written.
    pub dir: PathBuf,
    /// When to record.
    pub mode: RecordMode,
    /// Send every request here instead of `https://{service}.{region}.amazonaws.com` (tests,
    /// VPC endpoints).
    pub upstream: Option<String>,
    /// Use this region instead of the client's credential scope.
    pub upstream_region: Option<String>,
    /// What never reaches disk.
    pub redactor: Redactor,
    /// Sign with these instead of the standard chain (tests, and users who hold them already).
    pub credentials: Option<aws_credential_types::Credentials>,
}

impl RecordOptions {
    /// Recording into `dir` in `mode`, to live Bedrock, credentials from the standard chain.
    pub fn new(dir: impl Into<PathBuf>, mode: RecordMode) -> Self {
        RecordOptions {
            dir: dir.into(),
            mode,
            upstream: None,
            upstream_region: None,
            redactor: Redactor::default(),
            credentials: None,
        }
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The proxy.
pub struct Recorder {
    options: RecordOptions,
    client: HttpsClient,
    credentials: Option<SharedCredentialsProvider>,
    bearer: Option<String>,
    cached: Mutex<Option<(aws_credential_types::Credentials, Instant)>>,
    /// Whether the folder held cassettes at startup (record mode `once`).
    pub had_cassettes: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("options", &self.options).field("bearer", &self.bearer.is_some()).finish()
    }
}

/// Headers the proxy does not forward: hop-by-hop ones, and the client's own signature (the
/// request is signed again with the proxy's credentials).
const NOT_FORWARDED: &[&str] = &[
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
    "proxy-authorization",
];

/// Response headers not passed back (framing the emulator sets itself).
const NOT_RETURNED: &[&str] = &["content-length", "connection", "keep-alive", "transfer-encoding", "date"];

fn upstream_error(what: &str, e: impl std::fmt::Display) -> BedrockError {
    BedrockError::new(ErrorCode::ServiceUnavailableException, format!("bedrock-emulator could not {what}: {e}"))
}

impl Recorder {
    /// A proxy with credentials from the standard AWS chain, or `AWS_BEARER_TOKEN_BEDROCK`.
    pub async fn new(options: RecordOptions, had_cassettes: bool) -> std::io::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        let explicit = options.credentials.clone();
        let bearer = if explicit.is_some() {
            None
        } else {
            std::env::var("AWS_BEARER_TOKEN_BEDROCK").ok().filter(|t| !t.is_empty())
        };
        let credentials = match explicit {
            Some(c) => Some(SharedCredentialsProvider::new(c)),
            None if bearer.is_some() => None,
            None => {
                // aws-config is built without its default HTTPS client (the aws-lc stack); the
                // chain's SSO, STS and IMDS providers get the rustls + ring one the SDK crates
                // already build.
                use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .build_https();
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .http_client(http)
                    .load()
                    .await
                    .credentials_provider()
            }
        };
        Ok(Recorder { options, client, credentials, bearer, cached: Mutex::new(None), had_cassettes })
    }

    /// The record mode.
    pub fn mode(&self) -> RecordMode {
        self.options.mode
    }

    async fn credentials(&self) -> Result<aws_credential_types::Credentials, BedrockError> {
        let mut cached = self.cached.lock().await;
        if let Some((c, at)) = cached.as_ref() {
            let fresh = c.expiry().map_or(at.elapsed() < Duration::from_secs(900), |e| {
                e.duration_since(SystemTime::now()).is_ok_and(|left| left > Duration::from_secs(300))
            });
            if fresh {
                return Ok(c.clone());
            }
        }
        let provider = self.credentials.as_ref().ok_or_else(|| {
            upstream_error("sign the upstream request", "no AWS credentials were found (env, profile, SSO, IMDS)")
        })?;
        let c = provider.provide_credentials().await.map_err(|e| upstream_error("load AWS credentials", e))?;
        *cached = Some((c.clone(), Instant::now()));
        Ok(c)
    }

    /// The upstream URL for a request target (`path?query` as sent) and the region it signs for.
    fn target(&self, req: &Request, target: &str) -> (String, String) {
        let region = self.options.upstream_region.clone().unwrap_or_else(|| req.region.clone());
        let base = self
            .options
            .upstream
            .clone()
            .unwrap_or_else(|| format!("https://{}.{region}.amazonaws.com", req.route.route.service.name()));
        (format!("{}{target}", base.trim_end_matches('/')), region)
    }

    /// Sends `req` upstream and answers with what comes back, recording it.
    pub async fn forward(&self, req: &Request, raw_path: &str, raw_query: Option<&str>) -> Result<Plan, BedrockError> {
        let target = match raw_query {
            Some(q) => format!("{raw_path}?{q}"),
            None => raw_path.to_string(),
        };
        let (url, region) = self.target(req, &target);
        let mut builder = http::Request::builder().method(req.route.route.method.as_str()).uri(&url);
        let mut forwarded: Vec<(String, String)> = Vec::new();
        for (name, value) in req.headers.iter() {
            let n = name.as_str().to_ascii_lowercase();
            if NOT_FORWARDED.contains(&n.as_str()) {
                continue;
            }
            if let Ok(v) = value.to_str() {
                forwarded.push((n, v.to_string()));
            }
        }
        for (n, v) in &forwarded {
            builder = builder.header(n, v);
        }
        let mut upstream =
            builder.body(Full::new(req.body.clone())).map_err(|e| upstream_error("build the upstream request", e))?;
        if let Some(token) = &self.bearer {
            let value = http::HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|e| upstream_error("use AWS_BEARER_TOKEN_BEDROCK", e))?;
            upstream.headers_mut().insert(http::header::AUTHORIZATION, value);
        } else {
            self.sign(&mut upstream, &forwarded, &req.body, &region).await?;
        }
        let started = Instant::now();
        let response = self.client.request(upstream).await.map_err(|e| upstream_error(&format!("reach {url}"), e))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
            .collect();
        let recorded_request = RecordedRequest::from_sent(
            req.route.route.method.as_str(),
            &target,
            req.headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))),
            Body::from_bytes(&req.body),
            &self.options.redactor,
        );
        let is_stream =
            headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("application/vnd.amazon.eventstream"));
        let returned: Vec<(String, String)> =
            headers.iter().filter(|(k, _)| !NOT_RETURNED.contains(&k.as_str())).cloned().collect();
        if is_stream {
            let (tx, rx) = mpsc::channel(1);
            let writer =
                recorded_request.map(|r| StreamWriter::start(&self.options, r, status, headers.clone(), region));
            tokio::spawn(pump(response.into_body(), tx, writer, started));
            let mut plan = Plan::stream_from(StepStream::channel(rx)).answered_by(AnsweredBy::Upstream);
            plan.status = status;
            for (k, v) in returned.iter().filter(|(k, _)| k != "content-type") {
                plan = plan.header(k, v.clone());
            }
            return Ok(plan);
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| upstream_error("read the upstream response", e))?
            .to_bytes();
        if let Some(request) = recorded_request {
            let cassette = Cassette::new(
                request,
                RecordedResponse::unary(status, headers.clone(), Body::from_bytes(&bytes), &self.options.redactor),
                Metadata::recorded(Some(region), SystemTime::now()),
            );
            let dir = self.options.dir.clone();
            let written = tokio::task::spawn_blocking(move || cassette::write_atomic(&dir, &cassette)).await;
            match written {
                Ok(Ok(path)) => tracing::info!(cassette = %path.display(), "recorded"),
                Ok(Err(e)) => tracing::error!("cannot write a cassette: {e}"),
                Err(e) => tracing::error!("cannot write a cassette: {e}"),
            }
        }
        let content_type = headers.iter().find(|(k, _)| k == "content-type").map_or("application/json", |(_, v)| v);
        let mut plan = Plan::raw(content_type, bytes).answered_by(AnsweredBy::Upstream);
        plan.status = status;
        for (k, v) in returned.iter().filter(|(k, _)| k != "content-type") {
            plan = plan.header(k, v.clone());
        }
        Ok(plan)
    }

    async fn sign(
        &self,
        request: &mut http::Request<Full<Bytes>>,
        headers: &[(String, String)],
        body: &[u8],
        region: &str,
    ) -> Result<(), BedrockError> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let credentials = self.credentials().await?;
        let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("bedrock")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| upstream_error("sign the upstream request", e))?
            .into();
        let uri = request.uri().to_string();
        let host = request.uri().authority().map(|a| a.as_str().to_string()).unwrap_or_default();
        let mut signed_headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        signed_headers.push(("host", host.as_str()));
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri.as_str(),
            signed_headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| upstream_error("sign the upstream request", e))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| upstream_error("sign the upstream request", e))?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// Appends a stream's frames to a cassette's temp file as they pass.
struct StreamWriter {
    file: Option<StreamFile>,
}

impl StreamWriter {
    fn start(
        options: &RecordOptions,
        request: RecordedRequest,
        status: u16,
        headers: Vec<(String, String)>,
        region: String,
    ) -> Self {
        let metadata = Metadata::recorded(Some(region), SystemTime::now());
        let response = RecordedResponse::stream(status, headers, &[], &options.redactor);
        let shell = Cassette::new(request, response, metadata);
        let file = match StreamFile::create(&options.dir, shell, options.redactor.clone()) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!("cannot start a cassette: {e}");
                None
            }
        };
        StreamWriter { file }
    }

    fn frame(&mut self, offset_ms: f64, frame: &Frame) {
        if let Some(f) = &mut self.file {
            if let Err(e) = f.append(offset_ms, frame) {
                tracing::error!("cannot write a cassette frame: {e}");
                self.file = None;
            }
        }
    }

    fn finish(self) {
        if let Some(f) = self.file {
            match f.finish() {
                Ok(path) => tracing::info!(cassette = %path.display(), "recorded"),
                Err(e) => tracing::error!("cannot write a cassette: {e}"),
            }
        }
    }
}

/// Reads the upstream event stream, forwards each complete frame as it arrives, and records it.
async fn pump(
    mut body: hyper::body::Incoming,
    tx: mpsc::Sender<StreamStep>,
    mut writer: Option<StreamWriter>,
    started: Instant,
) {
    let mut buffer = BytesMut::new();
    let mut client_gone = false;
    loop {
        let frame = match body.frame().await {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                // The upstream broke the stream: the client sees the same, and no cassette is
                // written (it would claim a stream Bedrock never finished).
                tracing::warn!("upstream stream failed: {e}");
                let _ = tx.send(StreamStep::action(StreamAction::Abort)).await;
                return;
            }
            None => break,
        };
        let Ok(data) = frame.into_data() else { continue };
        buffer.extend_from_slice(&data);
        while buffer.len() >= 4 {
            let total = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
            if !(16..=cassette::MAX_FRAME_BYTES).contains(&total) {
                tracing::warn!("upstream sent an event-stream frame of {total} bytes; stopping");
                let _ = tx.send(StreamStep::action(StreamAction::Abort)).await;
                return;
            }
            if buffer.len() < total {
                break;
            }
            let bytes = buffer.split_to(total).freeze();
            let step = match Frame::decode(&bytes) {
                Ok(frame) => {
                    if let Some(w) = &mut writer {
                        w.frame(started.elapsed().as_secs_f64() * 1000.0, &frame);
                    }
                    let tokens = match &frame {
                        Frame::Event { payload, .. } => {
                            serde_json::from_slice(payload).map_or(0, |v: serde_json::Value| content_tokens(&v))
                        }
                        Frame::Exception { .. } => 0,
                    };
                    StreamStep::content(frame, tokens)
                }
                Err(_) => StreamStep::action(StreamAction::Raw(bytes)),
            };
            if !client_gone && tx.send(step).await.is_err() {
                // Keep reading so the recording is complete even if the client left.
                client_gone = true;
            }
        }
    }
    if let Some(w) = writer {
        w.finish();
    }
}

/// Shared so the pipeline and tests see one proxy.
pub type SharedRecorder = Arc<Recorder>;
