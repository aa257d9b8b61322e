//! The `/_emulator/` admin API. For now: `GET /_emulator/health`.

use http::Response;
use serde_json::json;

use super::ServerState;
use crate::plan::Plan;
use crate::wire::error::{BedrockError, ErrorCode};
use crate::wire::response::{encode, ResponseBody};

/// Answers an admin request (`path` is what follows `/_emulator/`).
pub fn handle(state: &ServerState, method: &str, path: &str, request_id: &str) -> Response<ResponseBody> {
    let plan = match (method, path) {
        ("GET", "health") => Plan::json(json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": state.started.elapsed().as_secs_f64(),
            "requests": state.requests.load(std::sync::atomic::Ordering::Relaxed),
        })),
        _ => Plan::error(BedrockError::new(
            ErrorCode::UnknownOperationException,
            format!("No admin endpoint {method} /_emulator/{path}. Available: GET /_emulator/health."),
        )),
    };
    encode(plan, request_id)
}
