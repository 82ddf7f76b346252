//! The server loop: connections accepted up to a cap, HTTP/1.1 on each, and
//! a deadline on everything a client can hold without finishing a request.
//!
//! What a client controls, and what bounds it:
//! - how many connections it opens: [`ConnectionLimits::max_connections`];
//!   beyond it the listener stops accepting, so waiting clients sit in the
//!   kernel's backlog and hold no descriptor of ours;
//! - how long it takes to send a request head, from its connection or from
//!   the first byte of the head: [`ConnectionLimits::header_read_timeout`];
//! - how long it keeps a connection open between requests:
//!   [`ConnectionLimits::idle_timeout`];
//! - how long it takes to send a body: [`ConnectionLimits::body_read_timeout`],
//!   enforced where the body is read (`408 request_timeout`, connection closed);
//! - how large a request head is: at most [`MAX_HEADERS`] headers and
//!   [`MAX_HEAD_BYTES`] bytes (hyper answers 431 and closes).
//!
//! The head and idle deadlines are kept by a watchdog beside each connection
//! rather than by hyper's own header timer, which starts when a keep-alive
//! connection goes idle and so cannot tell a slow head from an idle client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use warp::http::{Request, Response};

use crate::{ApiState, jobs, routes};

/// The most header fields a request head may have.
pub const MAX_HEADERS: usize = 100;
/// The largest request head (request line and headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// How much of the server one client may hold, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a whole request head, counted from the connection's
    /// start or, between requests, from the head's first byte.
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time to send a whole request body, counted once its head is read.
    pub body_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// The peer of a connection, for `warp::addr::remote`'s place in [`routes`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub SocketAddr);

/// Serves `routes(state)` on `listener`, with the background [`jobs`]
/// running beside it, until `shutdown` resolves; then stops the jobs, stops
/// accepting, closes idle connections and drains the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_on(listener, state, None, shutdown).await;
}

/// As [`serve`], over TLS with `tls` (see [`crate::tls::server_config`]).
/// The TLS handshake counts against the head deadline: a client that does
/// not finish it in time is dropped, holding its slot no longer.
pub async fn serve_tls(
    listener: TcpListener,
    state: ApiState,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_on(listener, state, Some(acceptor), shutdown).await;
}

async fn serve_on(
    listener: TcpListener,
    state: ApiState,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = state.config.connections;
    let purge = tokio::spawn(jobs::purge_stale(
        state.services.maintenance.clone(),
        jobs::PURGE_INTERVAL,
    ));
    let purge_audit = tokio::spawn(jobs::purge_audit(
        state.services.audit.clone(),
        jobs::PURGE_INTERVAL,
    ));
    let reload = tokio::spawn(jobs::reload_settings(
        state.services.instance.clone(),
        state.services.secret_keys.clone(),
        state.config.settings_poll,
    ));
    let stop_audit = Arc::new(Notify::new());
    let audit_writer = tokio::spawn(jobs::write_audit(
        state.services.audit.clone(),
        stop_audit.clone(),
    ));
    let stop_delivering = Arc::new(Notify::new());
    let deliver = tokio::spawn(jobs::deliver(
        state.services.deliveries.clone(),
        jobs::DELIVERY_POLL_INTERVAL,
        stop_delivering.clone(),
    ));
    let stop_webhooks = Arc::new(Notify::new());
    let webhooks = tokio::spawn(jobs::send_webhooks(
        state.services.webhooks.clone(),
        jobs::DELIVERY_POLL_INTERVAL,
        stop_webhooks.clone(),
    ));
    let graceful = accept_loop(listener, state, tls, limits, shutdown).await;
    purge.abort();
    purge_audit.abort();
    reload.abort();
    // The worker ends after its round (`notify_one` keeps the permit if it
    // is mid-round); the caller's grace bounds both waits.
    stop_delivering.notify_one();
    stop_webhooks.notify_one();
    let (_, delivered, sent) = tokio::join!(graceful.shutdown(), deliver, webhooks);
    if let Err(err) = delivered {
        tracing::warn!(error = %err, "the delivery worker ended abnormally");
    }
    if let Err(err) = sent {
        tracing::warn!(error = %err, "the webhook worker ended abnormally");
    }
    // Last: the requests that finished above recorded their entries.
    stop_audit.notify_one();
    if let Err(err) = audit_writer.await {
        tracing::warn!(error = %err, "the audit writer ended abnormally");
    }
}

/// Serves the pages mounted on `state` ([`ApiState::only_pages`]) on a
/// listener of their own, with the same limits, until `shutdown`
/// resolves. The background jobs run beside the main listener only.
pub async fn serve_pages(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = state.config.connections;
    accept_loop(listener, state, None, limits, shutdown)
        .await
        .shutdown()
        .await;
}

/// Accepts connections up to the cap and serves them until `shutdown`
/// resolves; returns what drains the connections still open.
async fn accept_loop(
    listener: TcpListener,
    state: ApiState,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> hyper_util::server::graceful::GracefulShutdown {
    let service = TowerToHyperService::new(warp::service(routes(state)));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, then the connection: past the cap, clients wait in
        // the backlog rather than in our descriptor table.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(stream, service, watcher, peer, &limits).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => connection(stream, service, watcher, peer, &limits).await,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake too slow"),
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful
}

/// Serves one connection's requests until it ends, or until the watchdog
/// finds it too slow or idle.
async fn connection<IO, S, B>(
    io: IO,
    service: S,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
    limits: &ConnectionLimits,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let clock = Arc::new(ConnClock::new());
    let service = Tracked {
        inner: service,
        clock: clock.clone(),
        peer,
    };
    let io = TokioIo::new(Watched {
        io,
        clock: clock.clone(),
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES)
        // The watchdog keeps the head deadline (see the module's docs).
        .header_read_timeout(None);
    let conn = watcher.watch(http.serve_connection(io, service));
    tokio::select! {
        result = conn => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended");
            }
        }
        () = watchdog(&clock, limits) => {
            tracing::debug!(%peer, "connection closed: too slow or idle");
        }
    }
}

/// Failing to accept (descriptors exhausted, for one) must not spin.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind as K;
    if matches!(
        err.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept connections");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Where a connection stands, shared by its socket, its service and its
/// watchdog.
struct ConnClock {
    state: Mutex<ConnState>,
    /// Wakes the watchdog when the deadline may have moved earlier.
    changed: Notify,
}

struct ConnState {
    /// Requests being answered.
    in_flight: usize,
    /// When the connection last had no request in flight.
    waiting_since: Instant,
    /// Whether a request was answered yet: before that, waiting is a slow head.
    answered: bool,
    /// When the first byte of the next head arrived.
    head_started: Option<Instant>,
}

impl ConnClock {
    fn new() -> Self {
        Self {
            state: Mutex::new(ConnState {
                in_flight: 0,
                waiting_since: Instant::now(),
                answered: false,
                head_started: None,
            }),
            changed: Notify::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut ConnState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// When the connection must be closed; `None` while a request is in
    /// flight (its body has a deadline of its own, and the time its answer
    /// takes is not the client's).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        self.with(|s| {
            if s.in_flight > 0 {
                None
            } else if let Some(started) = s.head_started {
                Some(started + limits.header_read_timeout)
            } else if s.answered {
                Some(s.waiting_since + limits.idle_timeout)
            } else {
                Some(s.waiting_since + limits.header_read_timeout)
            }
        })
    }

    fn bytes_arrived(&self) {
        let started = self.with(|s| {
            let starts = s.in_flight == 0 && s.head_started.is_none();
            if starts {
                s.head_started = Some(Instant::now());
            }
            starts
        });
        if started {
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.with(|s| {
            s.in_flight += 1;
            s.head_started = None;
        });
        InFlight(self.clone())
    }
}

/// A request being answered; dropped when its answer is ready or abandoned.
struct InFlight(Arc<ConnClock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.waiting_since = Instant::now();
                s.answered = true;
            }
        });
        self.0.changed.notify_one();
    }
}

/// Resolves when the connection passed its deadline.
async fn watchdog(clock: &ConnClock, limits: &ConnectionLimits) {
    loop {
        match clock.deadline(limits) {
            None => clock.changed.notified().await,
            Some(deadline) if Instant::now() >= deadline => return,
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = clock.changed.notified() => {}
                }
            }
        }
    }
}

/// The socket (or its TLS stream), telling the clock when bytes arrive.
struct Watched<IO> {
    io: IO,
    clock: Arc<ConnClock>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_arrived();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The routes as a hyper service that names the peer and tells the clock
/// when a request is in flight.
struct Tracked<S> {
    inner: S,
    clock: Arc<ConnClock>,
    peer: SocketAddr,
}

type Answer<B> = Pin<Box<dyn Future<Output = Result<Response<B>, Infallible>> + Send>>;

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = Answer<B>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        let in_flight = self.clock.request_started();
        let answer = self.inner.call(req);
        // Every request runs to its end on a task of its own, even when its
        // client goes away first: its steps are not cut between two awaits
        // (a factor attempt taken and not settled, an OAuth state taken and
        // its sign-in not completed, a write without the one that follows
        // it). Only its answer is lost. Not by method: a `GET` can change
        // state too (the OAuth callback).
        let task = tokio::spawn(async move {
            let response = answer.await;
            drop(in_flight);
            response
        });
        Box::pin(async move {
            match task.await {
                Ok(response) => response,
                Err(err) => match err.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Cancelled: the runtime is shutting down, and the
                    // connection with it.
                    Err(_) => std::future::pending().await,
                },
            }
        })
    }
}
