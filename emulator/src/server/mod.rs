//! The listener: one port serves `bedrock`, `bedrock-runtime` and the `/_emulator/` admin API,
//! over HTTP/1.1 and cleartext HTTP/2.
//!
//! Per request: read the body (bounded), route by method + raw path, dispatch to the
//! operation, and hand the resulting Plan to the wire encoder. Nothing here knows model
//! formats.

pub mod admin;
pub mod journal;
pub mod router;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request as HttpRequest, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, Request, Services};
use crate::plan::Plan;
use crate::rng::SplitMix64;
use crate::scenario::MatchInput;
use crate::wire::error::{BedrockError, ErrorCode};
use crate::wire::response::{encode, ResponseBody};

/// Largest request body accepted: InvokeModel allows 25,000,000 bytes; JSON envelopes add
/// base64 overhead, so 40 MiB leaves room without letting a client exhaust memory.
pub const MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

/// Server-wide state shared by all connections.
#[derive(Debug)]
pub struct ServerState {
    /// What operations read.
    pub services: Services,
    /// Account id for ARNs.
    pub account: String,
    /// When the server started (health's uptime).
    pub started: Instant,
    /// Request counter, mixed with the seed to make request ids.
    pub requests: AtomicU64,
    /// Every request, bounded.
    pub journal: journal::Journal,
}

impl ServerState {
    fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        SplitMix64::new(self.services.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).uuid()
    }
}

/// The region of the SigV4 credential scope (`Credential=AKID/DATE/REGION/bedrock/aws4_request`).
pub fn region_from_authorization(value: &str) -> Option<String> {
    let cred = value.split("Credential=").nth(1)?;
    let scope = cred.split([',', ' ']).next()?;
    let region = scope.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
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

async fn handle(state: Arc<ServerState>, req: HttpRequest<Incoming>) -> Result<Response<ResponseBody>, Infallible> {
    let started = std::time::Instant::now();
    let time = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let request_id = state.next_request_id();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let headers = req.headers().clone();
    let body = Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await.map(|c| c.to_bytes());
    let body_len = body.as_ref().map_or(0, Bytes::len);
    if let Some(admin_path) = path.strip_prefix("/_emulator/") {
        let plan = match body {
            Ok(body) => admin::handle(&state, &method, admin_path, &query, &headers, &body),
            Err(_) => Plan::error(BedrockError::validation("The admin request body could not be read.")),
        };
        return Ok(encode(plan, &request_id));
    }
    let mut input = MatchInput { headers: journal::redact(&headers), ..Default::default() };
    let plan = match body {
        Err(_) => Plan::error(BedrockError::validation(format!(
            "The request body is larger than the {MAX_BODY_BYTES} bytes bedrock-emulator accepts, or the connection failed while reading it."
        ))),
        Ok(body) => route_and_run(&state, &method, &path, query, headers, body, &mut input),
    };
    tracing::debug!(%method, %path, status = plan.status, answered_by = plan.answered_by.as_deref().unwrap_or("error"), "request");
    if input.body.is_some() && body_len > journal::MAX_JOURNALED_BODY {
        // Matching saw the whole body; the journal keeps a marker so a run of large requests
        // cannot hold capacity × 25 MB.
        input.body = Some(serde_json::json!({"_truncated": {"bytes": body_len}}));
    }
    state.journal.record(journal::JournalEntry {
        seq: 0,
        time,
        request_id: request_id.clone(),
        method,
        path,
        request: input,
        answered_by: plan.answered_by.clone().unwrap_or_else(|| "error".to_string()),
        status: match &plan.body {
            crate::plan::PlanBody::Error(e) => e.code.status(),
            _ => plan.status,
        },
        duration_ms: started.elapsed().as_secs_f64() * 1000.0 + plan.delay.as_secs_f64() * 1000.0,
    });
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    Ok(encode(plan, &request_id))
}

fn route_and_run(
    state: &ServerState,
    method: &str,
    path: &str,
    query: Vec<(String, String)>,
    headers: http::HeaderMap,
    body: Bytes,
    input: &mut MatchInput,
) -> Plan {
    input.body = serde_json::from_slice(&body).ok();
    let Some(route) = router::find(method, path) else {
        input.operation = "(unknown)".to_string();
        return Plan::error(BedrockError::new(
            ErrorCode::UnknownOperationException,
            format!("No operation of bedrock or bedrock-runtime matches {method} {path}."),
        ));
    };
    input.operation = route.route.operation.clone();
    input.model_id = route.labels.get("modelId").cloned();
    let region = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(region_from_authorization)
        .unwrap_or_else(|| "us-east-1".to_string());
    let request = Request { route, query, headers, body, region, account: state.account.clone() };
    let success_status = request.route.route.code;
    match api::dispatch(&request, &state.services, input) {
        Ok(mut plan) => {
            if plan.status == 200 {
                plan.status = success_status;
            }
            plan
        }
        Err(e) => Plan::error(e),
    }
}

/// Accepts connections until `shutdown` flips to true, then lets open connections finish.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>, mut shutdown: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer): (_, SocketAddr) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = service_fn(move |req| handle(state.clone(), req));
                // HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on the same port: the AWS SDK
                // for JavaScript v3 sends every bedrock-runtime call over HTTP/2 by default.
                let conn = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-3/bedrock/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(region_from_authorization(auth).as_deref(), Some("eu-west-3"));
        assert_eq!(region_from_authorization("Bearer abc"), None);
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        assert_eq!(
            parse_query(Some("byProvider=Mistral%20AI&x")),
            vec![("byProvider".to_string(), "Mistral AI".to_string()), ("x".to_string(), String::new())]
        );
    }
}
