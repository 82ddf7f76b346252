//! A small HTTP server on a loopback port, run on a thread of its own so it
//! serves whatever runtime (or none) the test uses, and stops when dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use warp::Filter;
use warp::http::{HeaderMap, Method, Response, StatusCode};

/// One request as a handler sees it.
pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<String> {
        find(&self.query, name)
    }

    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The token of `Authorization: Bearer <t>` (or GitHub's `token <t>`).
    pub fn bearer(&self) -> Option<String> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
            .then(|| token.trim().to_owned())
    }

    /// `(user, password)` of `Authorization: Basic`, each form-decoded as
    /// RFC 6749 section 2.3.1 has them.
    pub fn basic(&self) -> Option<(String, String)> {
        let value = self.header("authorization")?;
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                .ok()
                .and_then(|mut v| v.pop())
                .map(|(_, v)| v)
        };
        Some((unescape(user)?, unescape(password)?))
    }
}

pub(crate) fn find(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

pub(crate) type Reply = Response<Vec<u8>>;
type Handler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

pub(crate) fn reply(status: StatusCode, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}

pub(crate) fn json(status: StatusCode, doc: &serde_json::Value) -> Reply {
    reply(status, "application/json", doc.to_string())
}

pub(crate) fn redirect(location: &str) -> Reply {
    let mut response = reply(StatusCode::FOUND, "text/plain", Vec::new());
    if let Ok(value) = location.parse() {
        response.headers_mut().insert("location", value);
    }
    response
}

/// Random URL-safe text carrying `bytes` bytes of entropy.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS gives random bytes");
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE S256 challenge of `verifier`.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A running server; stopped (with its open connections) when dropped.
pub(crate) struct Served {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Served {
    pub fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |request| Box::pin(handler(request)));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the test server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                addr_tx
                    .send(listener.local_addr().expect("a bound address"))
                    .expect("the starter waits");
                let query = warp::query::raw()
                    .map(|raw: String| serde_urlencoded::from_str(&raw).unwrap_or_default())
                    .or(warp::any().map(Vec::new))
                    .unify();
                let route = warp::method()
                    .and(warp::path::full())
                    .and(query)
                    .and(warp::header::headers_cloned())
                    .and(warp::body::bytes())
                    .then(
                        move |method, path: warp::path::FullPath, query, headers, body| {
                            let handler = Arc::clone(&handler);
                            async move {
                                handler(Request {
                                    method,
                                    path: path.as_str().to_owned(),
                                    query,
                                    headers,
                                    body,
                                })
                                .await
                            }
                        },
                    );
                tokio::select! {
                    () = warp::serve(route).incoming(listener).run() => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the test server starts");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
