//! The `[server]` connection limits reach the real binary: a slow head and
//! an idle connection are closed after the configured times, a slow body is
//! refused, and a fresh connection is served meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Server, http, latch};

/// A connection still open after this was never going to be closed.
const PATIENCE: Duration = Duration::from_secs(20);

/// Reads until the server closes the connection; what it sent.
fn until_closed(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the server kept the connection open for {PATIENCE:?}")
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn the_configured_timeouts_close_slow_and_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = latch(dir.path());
    cmd.env("LATCH_SERVER__HEADER_READ_TIMEOUT_MS", "300")
        .env("LATCH_SERVER__IDLE_TIMEOUT_MS", "400")
        .env("LATCH_SERVER__BODY_READ_TIMEOUT_MS", "300");
    let server = Server::start(cmd);
    let addr = server.addr();

    // Half a head.
    let started = Instant::now();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: latch.test\r\n")
        .unwrap();
    assert_eq!(http(&addr, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(until_closed(&mut slow), "");
    assert!(started.elapsed() >= Duration::from_millis(295));

    // An idle keep-alive connection, after one answer.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: latch.test\r\n\r\n")
        .unwrap();
    let sent = until_closed(&mut idle);
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");

    // A body that stops half-way.
    let mut body = TcpStream::connect(&addr).unwrap();
    body.write_all(
        b"POST /v1/client/sign_ins?_is_native=1 HTTP/1.1\r\nhost: latch.test\r\n\
          content-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\nidentifier=",
    )
    .unwrap();
    let sent = until_closed(&mut body);
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("\"request_timeout\""), "{sent}");
    assert_eq!(http(&addr, "GET", "/healthz", &[], "").0, 200);
}
