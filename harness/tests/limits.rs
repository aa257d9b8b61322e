//! Connection limits and timeouts: slowloris heads and silent clients are dropped after the
//! header timeout, oversized heads are refused with 431, and clients beyond the connection
//! limit wait until a slot frees — while aws-sdk-rust clients keep being served.
//!
//! Slow or malformed heads are sent over raw sockets (no SDK can send them); each wait is
//! bounded so a regression fails instead of hanging, and no timing is asserted beyond
//! "closed within a generous bound".

use std::time::Duration;

use bedrock_emulator::server::limits::Limits;
use bedrock_emulator::{Emulator, EmulatorHandle};
use bedrock_harness::cases::user;
use bedrock_harness::target::{emulator_clients, ClientOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

async fn emulator(limits: Limits) -> EmulatorHandle {
    match Emulator::builder().limits(limits).start().await {
        Ok(e) => e,
        Err(e) => panic!("emulator did not start: {e}"),
    }
}

fn short(timeout_ms: u64) -> Limits {
    Limits { header_read_timeout: Duration::from_millis(timeout_ms), ..Limits::default() }
}

/// Reads until the server closes the connection (or `bound` passes); returns what arrived,
/// or None if the connection was still open at the bound.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(bound, read_all).await.ok().map(|()| got)
}

async fn converse_ok(e: &EmulatorHandle) {
    let clients = emulator_clients(&e.endpoint_url(), &ClientOptions::default()).await;
    let out = clients.runtime.converse().model_id(HAIKU).messages(user("still there?")).send().await;
    assert!(out.is_ok(), "an SDK client is still served: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_too_slowly_is_dropped_after_the_header_timeout() {
    let e = emulator(short(300)).await;
    let mut slow = TcpStream::connect(e.local_addr()).await.expect("connect");
    slow.write_all(b"POST /model/x/converse HTTP/1.1\r\nHost: localhost\r\nx-slow: ").await.expect("write");
    let closed = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "a slowloris head is not kept open past the header timeout");
    converse_ok(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_is_dropped_after_the_header_timeout() {
    let e = emulator(short(300)).await;
    let mut silent = TcpStream::connect(e.local_addr()).await.expect("connect");
    let closed = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert_eq!(closed, Some(Vec::new()), "a silent connection is closed without a response");
    converse_ok(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_head_is_refused_with_431() {
    let e = emulator(Limits { max_header_bytes: 8192, ..Limits::default() }).await;
    let mut big = TcpStream::connect(e.local_addr()).await.expect("connect");
    let header = "a".repeat(20_000);
    let request = format!(
        "POST /model/{HAIKU}/converse HTTP/1.1\r\nHost: localhost\r\nx-big: {header}\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    big.write_all(request.as_bytes()).await.expect("write");
    let answer = read_until_closed(&mut big, Duration::from_secs(10)).await.expect("answered and closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 431"), "got {text:?}");
    converse_ok(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_beyond_the_connection_limit_wait_for_a_free_slot() {
    let e = emulator(Limits { max_connections: 2, ..Limits::default() }).await;
    // Two connections take both slots (each has sent a byte, so each is being served).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(e.local_addr()).await.expect("connect");
        s.write_all(b"G").await.expect("write");
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A third client connects (the kernel's backlog accepts it) but is not served yet.
    let mut third = TcpStream::connect(e.local_addr()).await.expect("connect");
    third
        .write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let early = read_until_closed(&mut third, Duration::from_millis(500)).await;
    assert!(early.is_none(), "the third connection waits while two are open: {early:?}");
    held.clear();
    let answer = read_until_closed(&mut third, Duration::from_secs(10)).await.expect("served once a slot freed");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    converse_ok(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_defaults_are_documented_values() {
    let d = Limits::default();
    assert_eq!(d.max_connections, 16_384);
    assert_eq!(d.header_read_timeout, Duration::from_secs(60));
    assert_eq!(d.max_header_bytes, 65_536);
}
