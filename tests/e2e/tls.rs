//! `server.tls_cert_file` / `tls_key_file`: the real binary serves HTTPS
//! with the configured certificate (so that Clerk's SDKs can use an
//! absolute proxy URL, which they reach over https only), with Secure
//! cookies, and refuses to start on half a configuration.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use latch_testkit::smtp::TestPki;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};

use crate::support::{Server, latch, run};

/// One HTTP/1.1 request over TLS to `addr`, trusting only `ca`; the whole
/// answer (head and body) as text.
fn https(addr: &str, ca: &std::path::Path, request: &str) -> String {
    let mut builder = SslConnector::builder(SslMethod::tls()).unwrap();
    builder.set_ca_file(ca).unwrap();
    builder.set_verify(SslVerifyMode::PEER);
    let connector = builder.build();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = connector
        .connect("localhost", tcp)
        .expect("a verified TLS session");
    tls.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    answer
}

#[test]
fn latch_serves_https_with_its_certificate_and_secure_cookies() {
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = latch(dir.path());
    cmd.env("LATCH_SERVER__TLS_CERT_FILE", &pki.server_cert)
        .env("LATCH_SERVER__TLS_KEY_FILE", &pki.server_key)
        .env("LATCH_SERVER__HEADER_READ_TIMEOUT_MS", "500");
    let server = Server::start(cmd);
    let addr = server
        .url
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("an https URL: {}", server.url))
        .to_owned();

    let health = https(
        &addr,
        &pki.ca_cert,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // A browser's new client gets a Secure cookie over TLS.
    let created = https(
        &addr,
        &pki.ca_cert,
        "POST /v1/client HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let client_cookie = created
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: __client="))
        .unwrap_or_else(|| panic!("no __client cookie: {created}"));
    assert!(client_cookie.contains("; Secure"), "{client_cookie}");

    // A client that never finishes the TLS handshake is dropped by the head
    // deadline, holding its slot no longer.
    let mut silent = TcpStream::connect(&addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = silent.read(&mut buf);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Plain HTTP on the TLS port gets no answer.
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1 200"),
        "plain HTTP was served"
    );
}

#[test]
fn half_a_tls_configuration_or_an_unreadable_key_stops_start_up() {
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    for (cert, key, says) in [
        (
            pki.server_cert.clone(),
            std::path::PathBuf::new(),
            "go together",
        ),
        (pki.server_cert.clone(), pki.ca_cert.clone(), "private key"),
        (
            dir.path().join("missing.pem"),
            pki.server_key.clone(),
            "cannot read",
        ),
    ] {
        let mut cmd = latch(dir.path());
        cmd.env("LATCH_SERVER__TLS_CERT_FILE", &cert)
            .env("LATCH_SERVER__TLS_KEY_FILE", &key)
            .arg("serve");
        let out = run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {cert:?} / {key:?}");
        assert!(stderr.contains("server.tls_"), "{stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
}
