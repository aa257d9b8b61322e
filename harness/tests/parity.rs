//! Parity snapshots through the real SDK clients: a snapshot of one emulator compares clean
//! against another with a different seed (the structure is the same, the text is not), and a
//! behaviour change shows up as a named difference.

use std::sync::Arc;

use bedrock_emulator::scenario::format::parse_fault;
use bedrock_emulator::Emulator;
use bedrock_harness::parity::{self, Capture};
use bedrock_harness::{cases, run_cases, Ctx, Target};

async fn capture_case(endpoint: String, name: &str) -> serde_json::Value {
    let case = cases::find(name).unwrap_or_else(|| panic!("no case {name}"));
    let capture = Capture::new();
    let ctx = Arc::new(Ctx::with_capture(Target::Emulator { endpoint }, Some(capture.clone())).await);
    let _ = run_cases(ctx, &[case]).await;
    capture.take()
}

#[tokio::test]
async fn a_snapshot_compares_clean_across_seeds_and_names_what_changed() {
    let dir = std::env::temp_dir().join(format!("bedrock-parity-{}", std::process::id()));
    let names =
        ["converse_returns_assistant_text_with_consistent_usage", "converse_stream_emits_events_in_bedrock_order"];
    let first = Emulator::builder().seed(1).start().await.expect("starts");
    for name in names {
        parity::write(&dir, name, &capture_case(first.endpoint_url(), name).await).expect("written");
    }
    let second = Emulator::builder().seed(2).start().await.expect("starts");
    for name in names {
        let diffs = parity::compare(&dir, name, &capture_case(second.endpoint_url(), name).await).expect("snapshot");
        assert!(diffs.is_empty(), "{name}: {diffs:?}");
    }
    let throttled = Emulator::builder()
        .fault(parse_fault("t", "{inject: {error: {type: ThrottlingException}}}").expect("fault"))
        .start()
        .await
        .expect("starts");
    let diffs =
        parity::compare(&dir, names[0], &capture_case(throttled.endpoint_url(), names[0]).await).expect("snapshot");
    assert!(diffs.iter().any(|d| d.starts_with("/0/status: snapshot 200, now 429")), "{diffs:?}");
    assert!(parity::compare(&dir, "no_such_case", &serde_json::json!([])).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
