//! The listener: one port serves `bedrock`, `bedrock-runtime` and the `/_emulator/` admin API,
//! over HTTP/1.1 and cleartext HTTP/2.
//!
//! * [`pipeline`] — the stages every request goes through, over one `RequestContext`.
//! * [`encode`] — Plan → HTTP response (the only place that writes bytes).
//! * [`connection`] — the socket wrapper that can reset a connection.
//! * [`admin`] — `/_emulator/*`.
//! * [`body`] — reading request bodies within the per-request and server-wide limits.
//! * [`journal`] — the bounded request journal.
//! * [`limits`] — connection limits, timeouts and accept back-off.
//! * [`paging`] — pages of the admin listings (`maxResults`, `nextToken`).
//!
//! Nothing here knows model formats.

pub mod admin;
pub mod body;
pub mod connection;
pub mod encode;
pub mod journal;
pub mod limits;
pub mod paging;
pub mod pipeline;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request as HttpRequest, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::api::Services;
use crate::auth::AuthMode;
use crate::fault::FaultSet;
use crate::plan::Plan;
use crate::record::proxy::Recorder;
use crate::record::replay::Replayer;
use crate::rng::SplitMix64;
use crate::wire::error::{BedrockError, ErrorCode};
use body::BodyError;
use connection::{ConnectionControl, ResettableStream};
use encode::{encode, shutdown_started, ResponseBody, StreamContext};
use pipeline::{Outcome, RawRequest, RequestContext, Step};

pub use pipeline::region_from_authorization;

/// Largest request body accepted: InvokeModel allows 25,000,000 bytes; JSON envelopes add
/// base64 overhead, so 40 MiB leaves room without letting a client exhaust memory.
pub const MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

/// How long a graceful shutdown waits for open connections before closing them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Server-wide state shared by all connections.
#[derive(Debug)]
pub struct ServerState {
    /// What operations read.
    pub services: Services,
    /// Fault rules and quotas.
    pub faults: Arc<FaultSet>,
    /// How requests are authenticated.
    pub auth: AuthMode,
    /// Recorded cassettes consulted after scenario rules (`--replay`, or `--record`'s folder).
    pub replay: Option<Arc<Replayer>>,
    /// The recording proxy (`--record`).
    pub recorder: Option<Recorder>,
    /// Account ids for ARNs and state scopes, by access key.
    pub accounts: Accounts,
    /// When the server started (health's uptime).
    pub started: Instant,
    /// Request counter, mixed with the seed to make request ids.
    pub requests: AtomicU64,
    /// Every request, bounded.
    pub journal: journal::Journal,
    /// Connection limits and timeouts.
    pub limits: limits::Limits,
}

/// Which account a request belongs to: the account of its access key when one is mapped
/// (`--account-for KEY=ACCOUNT`, `aws_account_id` in the `--credentials` file), else the
/// default (`--account-id`).
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// The account of every request whose key is not mapped.
    pub default: String,
    /// Access key id → account id.
    pub by_key: std::collections::HashMap<String, String>,
}

impl Accounts {
    /// The account of a request with this `Authorization` header, or (presigned) this
    /// `X-Amz-Credential` query parameter.
    pub fn for_request(&self, authorization: Option<&[u8]>, presigned_credential: Option<&str>) -> &str {
        if self.by_key.is_empty() {
            return &self.default;
        }
        authorization
            .and_then(access_key_in)
            .or_else(|| presigned_credential.and_then(|c| c.split('/').next()))
            .and_then(|key| self.by_key.get(key))
            .unwrap_or(&self.default)
    }
}

/// The access key id of a SigV4 `Authorization` header (`Credential=KEY/DATE/…`).
pub fn access_key_from_authorization(value: &str) -> Option<&str> {
    access_key_in(value.as_bytes())
}

fn access_key_in(value: &[u8]) -> Option<&str> {
    let scope = pipeline::credential_scope(value)?;
    let end = scope.iter().position(|&b| b == b'/')?;
    // The scope is an ASCII-delimited slice of `value`, so it starts at a character boundary.
    std::str::from_utf8(&scope[..end]).ok().filter(|k| !k.is_empty())
}

impl ServerState {
    /// `POST /_emulator/reset`: the journal, scenario counters and states, fault counters,
    /// windows, attempt counting, quota buckets and replay positions start over, and every
    /// created resource is forgotten (rules stay loaded).
    pub fn reset(&self) -> Result<(), BedrockError> {
        self.services.scenarios.reset();
        self.faults.reset();
        if let Some(replay) = &self.replay {
            replay.reset();
        }
        self.journal.clear();
        self.services.state.reset()
    }

    fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        SplitMix64::new(self.services.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).uuid()
    }
}

fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect()
}

/// A request that ends without a response (reset, stall at shutdown): hyper drops the
/// connection when the service fails.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NoResponse(&'static str);

/// The answer to a body the server would not hold (see [`body`]).
fn busy() -> Plan {
    Plan::error(BedrockError::new(
        ErrorCode::ServiceUnavailableException,
        format!(
            "bedrock-emulator is already holding {} MiB of request bodies. Retry the request.",
            body::MAX_INFLIGHT_BODY_BYTES >> 20
        ),
    ))
}

async fn handle(
    state: Arc<ServerState>,
    connection: ConnectionControl,
    shutdown: watch::Receiver<bool>,
    budget: Arc<Semaphore>,
    req: HttpRequest<Incoming>,
) -> Result<Response<ResponseBody>, NoResponse> {
    let arrived = tokio::time::Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let authority = parts.uri.authority().map(|a| a.as_str().to_string());
    let query = parse_query(parts.uri.query());
    let headers = Arc::new(parts.headers);
    let stream_ctx = StreamContext { shutdown: shutdown.clone(), connection: connection.clone(), start: arrived };
    // The bidirectional stream's body is its input, read as the client sends it (each frame
    // bounded by the decoder), not a document to read whole first.
    let (body, duplex, _share) = if method == "POST"
        && path.starts_with("/model/")
        && path.ends_with(BIDIRECTIONAL_SUFFIX)
    {
        // A session holds up to one input frame at a time: it takes that much of the shared
        // body budget for as long as it runs, so concurrent sessions cannot exhaust memory.
        let units = u32::try_from(crate::wire::event_stream::InputDecoder::MAX_FRAME.div_ceil(body::FREE_BYTES))
            .unwrap_or(u32::MAX);
        let Ok(share) = budget.clone().try_acquire_many_owned(units) else {
            return Ok(encode(busy(), state.next_request_id(), stream_ctx));
        };
        let input: crate::plan::InputBody =
            Box::pin(futures_util::StreamExt::map(http_body_util::BodyExt::into_data_stream(body), move |chunk| {
                let _held = &share;
                chunk.map_err(|e| e.to_string())
            }));
        (Ok(bytes::Bytes::new()), Some(crate::plan::DuplexInput::new(input)), None)
    } else {
        // Its share of the body budget is held until the response is encoded.
        let (body, share) = match body::read(body, &budget).await {
            Ok(read) => (Ok(read.bytes), read.share),
            Err(e) => (Err(e), None),
        };
        if let Err(BodyError::Busy) = body {
            return Ok(encode(busy(), state.next_request_id(), stream_ctx));
        }
        if let Some(admin_path) = path.strip_prefix("/_emulator/") {
            let plan = match body {
                Ok(body) => admin::handle(&state, &method, admin_path, &query, &headers, &body),
                Err(_) => Plan::error(BedrockError::validation("The admin request body could not be read.")),
            };
            return Ok(encode(plan, state.next_request_id(), stream_ctx));
        }
        let body = body.map_err(|_| {
            format!(
                "The request body is larger than the {MAX_BODY_BYTES} bytes bedrock-emulator accepts, or the connection failed while reading it."
            )
        });
        (body, None, share)
    };
    let raw = RawRequest { method, path, raw_query, authority, query, headers, body, duplex };
    // One call site: each `answer(…).await` would reserve its own room in this future.
    answer(&state, raw, stream_ctx, connection, shutdown, arrived).await
}

/// The path ending of `InvokeModelWithBidirectionalStream`.
const BIDIRECTIONAL_SUFFIX: &str = "/invoke-with-bidirectional-stream";

/// Runs a request through the pipeline and encodes what it decided.
async fn answer(
    state: &ServerState,
    mut raw: RawRequest,
    mut stream_ctx: StreamContext,
    connection: ConnectionControl,
    mut shutdown: watch::Receiver<bool>,
    arrived: tokio::time::Instant,
) -> Result<Response<ResponseBody>, NoResponse> {
    let mut ctx = RequestContext::new(state, &mut raw);
    let outcome = match pipeline::run(state, &mut ctx, raw) {
        Step::Done(outcome) => outcome,
        Step::Forwarding(forwarded) => forwarded.await,
    };
    let request_id = ctx.request_id.clone();
    pipeline::journal(state, ctx, &outcome);
    match outcome {
        Outcome::Respond(plan) => {
            // A graceful shutdown lets an injected latency run out (within SHUTDOWN_GRACE):
            // the request is in flight and its response is owed.
            // Due from arrival, like the pacing after it: the work before counts toward it.
            stream_ctx.start = arrived + plan.delay;
            if !plan.delay.is_zero() {
                tokio::time::sleep_until(stream_ctx.start).await;
            }
            Ok(encode(plan, request_id, stream_ctx))
        }
        Outcome::Reset => {
            connection.request_reset();
            Err(NoResponse("connection reset by fault"))
        }
        Outcome::Stall => {
            shutdown_started(&mut shutdown).await;
            Err(NoResponse("stalled request ended by shutdown"))
        }
    }
}

/// The client preface of cleartext HTTP/2 (prior knowledge).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

type ConnBuilder = hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>;

/// The connection builders, one per way a connection can start.
#[derive(Clone)]
struct ProtocolBuilders {
    http1: ConnBuilder,
    http2: ConnBuilder,
    either: ConnBuilder,
}

impl ProtocolBuilders {
    /// The builder for a connection whose first bytes (peeked, not read) are `start`. When
    /// they already tell the protocol, the connection is served without hyper-util's own
    /// version sniffing: that sniff reads the first 24 bytes apart, and hyper's next read then
    /// no longer fitted its 8 KiB buffer, which grew to 16 KiB for every connection (10,000 open
    /// streams: ~8 KiB of resident memory each). A start that is still a prefix of the HTTP/2
    /// preface is left to the sniffing builder.
    fn for_start(&self, start: &[u8]) -> &ConnBuilder {
        if start.len() == H2_PREFACE.len() && start == H2_PREFACE {
            &self.http2
        } else if !H2_PREFACE.starts_with(start) {
            &self.http1
        } else {
            &self.either
        }
    }
}

/// Accepts connections until `shutdown` flips to true, then lets open connections finish
/// (at most [`SHUTDOWN_GRACE`]; stalled requests end at once).
pub async fn serve(listener: TcpListener, state: Arc<ServerState>, mut shutdown: watch::Receiver<bool>) {
    let limits = state.limits;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let budget = body::budget();
    // HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on the same port: the AWS SDK for
    // JavaScript v3 sends every bedrock-runtime call over HTTP/2 by default.
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(limits::MIN_HEADER_BYTES));
    builder.http2().max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let builders =
        ProtocolBuilders { http1: builder.clone().http1_only(), http2: builder.clone().http2_only(), either: builder };
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = limits::AcceptBackoff::default();
    let mut at_limit_logged = false;
    loop {
        // A connection slot first: at the limit, new clients wait in the listen backlog.
        if permits.available_permits() == 0 && !at_limit_logged {
            tracing::warn!(max = limits.max_connections, "at the connection limit; new connections wait");
            at_limit_logged = true;
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                let failures = backoff.succeeded();
                if failures > 0 {
                    tracing::info!(failures, "accepting connections again");
                }
                stream
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                let wait = backoff.failed();
                if backoff.should_log() {
                    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "accept failed; backing off");
                }
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
                continue;
            }
        };
        if permits.available_permits() > 0 {
            at_limit_logged = false;
        }
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let control = ConnectionControl::default();
        let rx = shutdown.clone();
        let builders = builders.clone();
        let watcher = graceful.watcher();
        let budget = budget.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // A client that connects and sends nothing is dropped after the header timeout
            // (hyper's own timer only starts once it knows the protocol).
            let mut first = [0u8; H2_PREFACE.len()];
            let seen = match tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => return,
            };
            let builder = builders.for_start(&first[..seen]);
            let io = ResettableStream::new(stream, control.clone());
            // Boxed: hyper keeps a slot the size of the service's future for the connection's
            // whole life, so the request's largest state (~1.8 KiB) would otherwise stay
            // reserved by every open stream long after the request was answered.
            let service = service_fn(move |req| {
                Box::pin(handle(state.clone(), control.clone(), rx.clone(), budget.clone(), req))
            });
            let conn = builder.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-3/bedrock/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(region_from_authorization(auth).as_deref(), Some("eu-west-3"));
        assert_eq!(region_from_authorization("Bearer abc"), None);
        assert_eq!(
            region_from_authorization("AWS4-HMAC-SHA256 Credential=AKID/20250101/us-west-2").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(region_from_authorization("AWS4-HMAC-SHA256 Credential=AKID/20250101, x"), None);
        assert_eq!(region_from_authorization("AWS4-HMAC-SHA256 Credential=AKID/20250101//bedrock"), None);
        assert_eq!(
            region_from_authorization("x Credential=A/B/ap-south-1/bedrock/aws4_request").as_deref(),
            Some("ap-south-1")
        );
    }

    #[test]
    fn a_connection_is_served_by_the_protocol_its_first_bytes_show() {
        let builder = ConnBuilder::new(hyper_util::rt::TokioExecutor::new());
        let b = ProtocolBuilders {
            http1: builder.clone().http1_only(),
            http2: builder.clone().http2_only(),
            either: builder,
        };
        assert!(std::ptr::eq(b.for_start(b"POST /model/x/converse HTTP/1.1\r\n"), &b.http1));
        assert!(std::ptr::eq(b.for_start(b"G"), &b.http1));
        assert!(std::ptr::eq(b.for_start(H2_PREFACE), &b.http2));
        // Not enough seen yet to tell: hyper-util reads the preface and decides.
        assert!(std::ptr::eq(b.for_start(b"P"), &b.either));
        assert!(std::ptr::eq(b.for_start(b"PRI * HTTP/2.0\r\n"), &b.either));
        assert!(std::ptr::eq(b.for_start(b"PRI * HTTP/1.1\r\n"), &b.http1));
    }

    #[test]
    fn a_requests_account_is_its_access_keys_else_the_default() {
        let accounts = Accounts {
            default: "999999999999".into(),
            by_key: [("AKIDALICE".to_string(), "111111111111".to_string())].into_iter().collect(),
        };
        let auth = |key: &str| {
            format!("AWS4-HMAC-SHA256 Credential={key}/20261202/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0")
        };
        assert_eq!(accounts.for_request(Some(auth("AKIDALICE").as_bytes()), None), "111111111111");
        assert_eq!(accounts.for_request(Some(auth("AKIDBOB").as_bytes()), None), "999999999999");
        assert_eq!(accounts.for_request(Some(b"Bearer abc"), None), "999999999999");
        assert_eq!(accounts.for_request(None, None), "999999999999");
        assert_eq!(
            accounts.for_request(None, Some("AKIDALICE/20261202/us-east-1/bedrock/aws4_request")),
            "111111111111"
        );
        assert_eq!(access_key_from_authorization("AWS4-HMAC-SHA256 Credential=/x"), None);
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        assert_eq!(
            parse_query(Some("byProvider=Mistral%20AI&x")),
            vec![("byProvider".to_string(), "Mistral AI".to_string()), ("x".to_string(), String::new())]
        );
    }
}
