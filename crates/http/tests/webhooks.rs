//! The webhook sender against hand-written HTTP servers on loopback,
//! well-behaved and not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use latch_core::ports::{WebhookResponse, WebhookSender};
use latch_http::{HttpWebhookSender, WebhookSenderConfig};

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    /// The values of header `name` (lowercase).
    fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// Reads one request: the head, then a body of its content-length.
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut seen = Seen {
        head,
        body: data[end..].to_vec(),
    };
    let length: usize = seen
        .header("content-length")
        .first()
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    while seen.body.len() < length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        seen.body.extend_from_slice(&buf[..n]);
    }
    Some(seen)
}

/// A server that answers every request with `response` and records it;
/// `hits` counts the connections it accepted.
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
}

impl Server {
    async fn start(response: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let hits: Arc<AtomicUsize> = Arc::default();
        let (keep, count) = (Arc::clone(&seen), Arc::clone(&hits));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let keep = Arc::clone(&keep);
                let response = response.clone();
                tokio::spawn(async move {
                    if let Some(request) = read_request(&mut stream).await {
                        keep.lock().unwrap().push(request);
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                });
            }
        });
        Self { addr, seen, hits }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }
}

fn answer(status: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
}

fn sender(timeout: Duration, allow_private_targets: bool) -> HttpWebhookSender {
    HttpWebhookSender::new(WebhookSenderConfig {
        timeout,
        allow_private_targets,
        ..WebhookSenderConfig::default()
    })
    .unwrap()
}

fn local() -> HttpWebhookSender {
    sender(Duration::from_secs(5), true)
}

fn svix_headers() -> Vec<(String, String)> {
    vec![
        ("svix-id".into(), "msg_2abc".into()),
        ("svix-timestamp".into(), "1700000000".into()),
        ("svix-signature".into(), "v1,c2lnbmF0dXJl".into()),
    ]
}

#[test]
fn defaults_are_fifteen_seconds_64_kib_and_public_targets_only() {
    let config = WebhookSenderConfig::default();
    assert_eq!(config.timeout, Duration::from_secs(15));
    assert_eq!(config.max_response_bytes, 64 * 1024);
    assert!(!config.allow_private_targets);
}

#[tokio::test]
async fn a_2xx_answer_is_returned_and_the_body_and_headers_arrive_as_given() {
    let server = Server::start(answer("204 No Content")).await;
    // Spacing and key order a re-encoding would change: the signature covers
    // these exact bytes.
    let body = "{\"type\":\"user.created\",  \"data\":{\"b\":1,\"a\":\"\u{e9}\"}}";
    let response = local().post(&server.url(), &svix_headers(), body).await;
    assert_eq!(
        response,
        WebhookResponse {
            status: Some(204),
            error: None
        }
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert!(
        request.head.starts_with("POST /hooks HTTP/1.1\r\n"),
        "{}",
        request.head
    );
    assert_eq!(request.body, body.as_bytes());
    assert_eq!(request.header("content-type"), ["application/json"]);
    assert_eq!(request.header("content-length"), [body.len().to_string()]);
    assert_eq!(request.header("svix-id"), ["msg_2abc"]);
    assert_eq!(request.header("svix-timestamp"), ["1700000000"]);
    assert_eq!(request.header("svix-signature"), ["v1,c2lnbmF0dXJl"]);
    let agent = request.header("user-agent");
    assert_eq!(agent.len(), 1);
    assert!(agent[0].starts_with("Latch-Webhooks/"), "{agent:?}");
}

#[tokio::test]
async fn a_500_answer_is_returned_as_500() {
    let server = Server::start(answer("500 Internal Server Error")).await;
    let response = local().post(&server.url(), &svix_headers(), "{}").await;
    assert_eq!(response.status, Some(500));
    assert_eq!(response.error, None);
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let target = Server::start(answer("200 OK")).await;
    let redirecting = Server::start(format!(
        "HTTP/1.1 302 Found\r\nlocation: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        target.url()
    ))
    .await;
    let response = local()
        .post(&redirecting.url(), &svix_headers(), "{}")
        .await;
    assert_eq!(response.status, Some(302));
    assert_eq!(redirecting.seen.lock().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let response = sender(Duration::from_millis(500), true)
        .post(&format!("http://{addr}/"), &svix_headers(), "{}")
        .await;
    let took = started.elapsed();
    assert_eq!(response.status, None);
    assert_eq!(response.error.as_deref(), Some("timed out after 0.5 s"));
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn a_server_that_stalls_in_the_body_times_out_too() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            read_request(&mut stream).await;
            // Promises 1000 bytes, sends 3, then nothing.
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nabc")
                .await;
            held.push(stream);
        }
    });
    let started = Instant::now();
    let response = sender(Duration::from_millis(500), true)
        .post(&format!("http://{addr}/"), &svix_headers(), "{}")
        .await;
    assert_eq!(response.status, None);
    assert_eq!(response.error.as_deref(), Some("timed out after 0.5 s"));
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A server that answers 200 and then writes body bytes until the client
/// goes away; returns how many it wrote, once it stops.
async fn endless(head: &'static [u8]) -> (SocketAddr, tokio::sync::oneshot::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, written) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_request(&mut stream).await;
        let mut total = 0usize;
        if stream.write_all(head).await.is_ok() {
            let chunk = vec![b'x'; 16 * 1024];
            while stream.write_all(&chunk).await.is_ok() {
                total += chunk.len();
            }
        }
        let _ = done.send(total);
    });
    (addr, written)
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_cap() {
    for head in [
        // Read until the connection closes.
        &b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n"[..],
        // A length far beyond the cap.
        &b"HTTP/1.1 200 OK\r\ncontent-length: 100000000000\r\n\r\n"[..],
    ] {
        let (addr, written) = endless(head).await;
        let started = Instant::now();
        // Far longer than reading 64 KiB takes: an uncapped read would run
        // into it and answer no status.
        let response = sender(Duration::from_secs(20), true)
            .post(&format!("http://{addr}/"), &svix_headers(), "{}")
            .await;
        let took = started.elapsed();
        assert_eq!(
            response,
            WebhookResponse {
                status: Some(200),
                error: None
            }
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
        // The connection was dropped: the server stops writing, having
        // written no more than the cap and what socket buffers hold.
        let total = tokio::time::timeout(Duration::from_secs(5), written)
            .await
            .expect("the server kept writing: the connection was not dropped")
            .unwrap();
        assert!(total < 64 * 1024 * 1024, "{total}");
    }
}

#[tokio::test]
async fn private_and_loopback_targets_are_refused_without_sending() {
    let server = Server::start(answer("200 OK")).await;
    let port = server.addr.port();
    let public_only = sender(Duration::from_secs(5), false);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://LOCALHOST:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.1.1/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fd00::1]/".to_owned(),
    ] {
        let response = public_only.post(&url, &svix_headers(), "{}").await;
        assert_eq!(response.status, None, "{url}");
        let error = response.error.unwrap_or_default();
        assert!(
            error.starts_with("the target address ")
                && error.contains(
                    "is private or loopback, which this server does not send webhooks to"
                ),
            "{url}: {error}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    // The same server is reached when private targets are allowed.
    let response = local().post(&server.url(), &svix_headers(), "{}").await;
    assert_eq!(response.status, Some(200));
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_literal_names_its_address() {
    let response = sender(Duration::from_secs(5), false)
        .post("http://[::ffff:169.254.169.254]/", &[], "{}")
        .await;
    assert_eq!(
        response.error.as_deref(),
        Some(
            "the target address ::ffff:169.254.169.254 is private or loopback, which this \
             server does not send webhooks to"
        )
    );
}

#[tokio::test]
async fn urls_that_are_not_http_are_errors() {
    let any = local();
    for url in [
        "ftp://x",
        "not a url",
        "",
        "http://",
        "https://",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "mailto:ann@example.com",
        "http://[::1",
        "http://exa mple.com/",
        "http://127.0.0.1:99999/",
        "http://%zz/",
        "data:application/json,{}",
    ] {
        let response = any.post(url, &svix_headers(), "{}").await;
        assert_eq!(response.status, None, "{url:?}");
        assert!(response.error.is_some(), "{url:?}");
    }
}

#[tokio::test]
async fn bad_headers_are_errors() {
    let server = Server::start(answer("200 OK")).await;
    let response = local()
        .post(&server.url(), &[("x-bad".into(), "a\r\nb".into())], "{}")
        .await;
    assert_eq!(response.status, None);
    assert!(response.error.is_some());
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn errors_do_not_carry_the_url_credentials() {
    // A port nothing listens on: bind one, then close it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let response = local()
        .post(
            &format!("http://ann:hunter2@{addr}/hooks?token=t0ps3cret"),
            &svix_headers(),
            "{}",
        )
        .await;
    assert_eq!(response.status, None);
    let error = response.error.unwrap();
    assert!(error.starts_with("could not connect"), "{error}");
    assert!(
        !error.contains("hunter2") && !error.contains("t0ps3cret"),
        "{error}"
    );
}
