//! Slow and greedy clients over real TCP, against `latch_api::serve`: every
//! way a client can hold the server without finishing a request is cut off
//! (a slow head, an idle connection, a slow body, too many connections, an
//! oversized head), and the server goes on answering others meanwhile.
//!
//! Deadlines under test are short (a few hundred milliseconds); the bounds
//! asserted are loose on purpose: "not before the deadline" is exact (the
//! server's clock starts no earlier than ours), "eventually" means within
//! [`PATIENCE`], far beyond any deadline in these tests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use latch_api::ConnectionLimits;

use crate::support::TestApp;

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(60);
/// A connection still open after this was never going to be closed.
const PATIENCE: Duration = Duration::from_secs(20);
/// Timers never fire early, but `Instant`s taken on two sides of a socket
/// may differ by a tick.
const TICK: Duration = Duration::from_millis(5);

fn limits(header: Duration, idle: Duration, body: Duration, max: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: header,
        idle_timeout: idle,
        body_read_timeout: body,
        max_connections: max,
    }
}

/// Reads until the server closes the connection; what it sent. Fails the
/// test if it is still open after [`PATIENCE`].
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {PATIENCE:?}; it sent {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response with a `content-length` off a kept-alive connection:
/// (status, head, body).
async fn response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                return (status, head.to_owned(), body.to_owned());
            }
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before a whole answer: {text:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: latch.test\r\n\r\n";

/// `GET /healthz` on a fresh connection.
async fn healthz(addr: SocketAddr) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(HEALTHZ).await.unwrap();
    response(&mut stream).await.0
}

/// A connection that has been answered once and is kept alive.
async fn answered_once(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(response(&mut stream).await.0, 200);
    stream
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_after_the_header_timeout() {
    let app = TestApp::new().await;
    let server = app.serve(limits(SHORT, LONG, LONG, 64)).await;
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: latch.test\r\n")
        .await
        .unwrap();
    // Others are served while it dawdles.
    assert_eq!(healthz(server.addr).await, 200);
    let sent = until_closed(&mut slow).await;
    assert!(started.elapsed() + TICK >= SHORT, "{:?}", started.elapsed());
    assert_eq!(sent, "", "a cut-off head gets no answer");
    assert_eq!(healthz(server.addr).await, 200);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = TestApp::new().await;
    let server = app.serve(limits(SHORT, LONG, LONG, 64)).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(healthz(server.addr).await, 200);
    assert_eq!(until_closed(&mut silent).await, "");
    assert!(started.elapsed() + TICK >= SHORT, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_head_that_trickles_in_is_cut_off_from_its_first_byte() {
    let app = TestApp::new().await;
    let server = app.serve(limits(SHORT, LONG, LONG, 64)).await;
    // On a kept-alive connection the head's clock starts with its first
    // byte, not with the idle time before it.
    let mut stream = answered_once(server.addr).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let first_byte = Instant::now();
    // One header line every 50 ms: each arrives well within any per-read
    // timeout, the whole head never does.
    let mut buf = [0u8; 1024];
    loop {
        assert!(
            first_byte.elapsed() < PATIENCE,
            "a trickling head held the connection for {PATIENCE:?}"
        );
        let _ = stream.write_all(b"x-slow: 1\r\n").await;
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => panic!("answered a head never finished: {:?}", &buf[..n]),
        }
    }
    assert!(
        first_byte.elapsed() + TICK >= SHORT,
        "{:?}",
        first_byte.elapsed()
    );
    assert_eq!(healthz(server.addr).await, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::new().await;
    let idle = Duration::from_millis(600);
    let server = app.serve(limits(LONG, idle, LONG, 64)).await;
    // Before the request: the server's idle time starts after its answer,
    // however late the answer reaches this client.
    let asked = Instant::now();
    let mut stream = answered_once(server.addr).await;
    assert_eq!(healthz(server.addr).await, 200);
    assert_eq!(until_closed(&mut stream).await, "");
    assert!(asked.elapsed() + TICK >= idle, "{:?}", asked.elapsed());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_shorter_header_timeout() {
    let app = TestApp::new().await;
    let server = app.serve(limits(SHORT, LONG, LONG, 64)).await;
    let mut stream = answered_once(server.addr).await;
    // Five header timeouts of idleness are within the idle timeout: the
    // connection still serves its next request.
    tokio::time::sleep(SHORT * 5).await;
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(response(&mut stream).await.0, 200);
}

#[tokio::test]
async fn a_trickling_body_is_refused_with_408_and_its_connection_closed() {
    let app = TestApp::new().await;
    let body_timeout = Duration::from_millis(500);
    let server = app.serve(limits(LONG, LONG, body_timeout, 64)).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(
            b"POST /v1/client/sign_ins?_is_native=1 HTTP/1.1\r\nhost: latch.test\r\n\
              content-type: application/x-www-form-urlencoded\r\ncontent-length: 10000\r\n\r\n",
        )
        .await
        .unwrap();
    let head_sent = Instant::now();
    // One byte every 50 ms: 10,000 bytes would take over eight minutes.
    let trickle = tokio::spawn(async move {
        loop {
            if writer.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            head_sent.elapsed() < PATIENCE,
            "a trickling body held the connection for {PATIENCE:?}"
        );
        match tokio::time::timeout(PATIENCE, reader.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    trickle.abort();
    assert!(
        head_sent.elapsed() + TICK >= body_timeout,
        "{:?}",
        head_sent.elapsed()
    );
    let text = String::from_utf8_lossy(&got);
    let (head, body) = text.split_once("\r\n\r\n").expect("an answer");
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["errors"][0]["code"], "request_timeout", "{body}");
    assert!(body["errors"][0]["long_message"].as_str().is_some());
    assert_eq!(healthz(server.addr).await, 200);
}

/// Descriptors this process holds.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = TestApp::new().await;
    let server = app.serve(limits(LONG, LONG, LONG, 2)).await;
    let first = answered_once(server.addr).await;
    let _second = answered_once(server.addr).await;
    // A third connects (the kernel completes the handshake) but is not
    // served while both slots are taken.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "a connection beyond the cap was served: {waited:?}"
    );
    drop(first);
    assert_eq!(response(&mut third).await.0, 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_take_no_descriptor() {
    let app = TestApp::new().await;
    let cap = 4;
    let server = app.serve(limits(LONG, LONG, LONG, cap)).await;
    // The tests run one per process, so every descriptor counted here is
    // this test's: each client socket, and each connection the server took.
    let before = open_descriptors();
    let clients = 40;
    let mut streams = Vec::new();
    for _ in 0..clients {
        streams.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Time for the server to take all it will take.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = open_descriptors() - before;
    assert!(
        held <= clients + cap + 2,
        "{held} descriptors for {clients} clients with a cap of {cap}"
    );
    drop(streams);
    assert_eq!(healthz(server.addr).await, 200);
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_refused_with_431() {
    let app = TestApp::new().await;
    let server = app.serve(limits(LONG, LONG, LONG, 64)).await;
    let head = |extra: &str| format!("GET /healthz HTTP/1.1\r\nhost: latch.test\r\n{extra}\r\n");

    let many: String = (0..latch_api::serve::MAX_HEADERS)
        .map(|i| format!("x-h{i}: 1\r\n"))
        .collect();
    let large = format!(
        "cookie: a={}\r\n",
        "b".repeat(latch_api::serve::MAX_HEAD_BYTES)
    );
    for extra in [many, large] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(head(&extra).as_bytes()).await.unwrap();
        let sent = until_closed(&mut stream).await;
        assert!(sent.starts_with("HTTP/1.1 431"), "{sent}");
    }
    // Just under both limits is served.
    let fine: String = (0..latch_api::serve::MAX_HEADERS - 2)
        .map(|i| format!("x-h{i}: 1\r\n"))
        .collect();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head(&fine).as_bytes()).await.unwrap();
    assert_eq!(response(&mut stream).await.0, 200);
    assert_eq!(healthz(server.addr).await, 200);
}

#[tokio::test]
async fn a_malformed_request_head_gets_400_not_a_dropped_connection() {
    let app = TestApp::new().await;
    let served = app.serve(limits(LONG, LONG, LONG, 16)).await;
    for head in [
        // A header line without a colon.
        "GET /v1/environment HTTP/1.1\r\nHost: localhost\r\nnot a header\r\n\r\n",
        // A header name with a space in it.
        "GET /v1/environment HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n",
        // A request line that is not one.
        "GARBAGE\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = until_closed(&mut stream).await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{head:?} was answered {answer:?}"
        );
    }
}
