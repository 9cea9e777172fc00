//! The listener: HTTP/1 and HTTP/2 (h2c, or by ALPN over TLS) on one port,
//! with bounds on connections so that none can stay open for ever and a
//! flood of them cannot starve the agents.
//!
//! Every accepted connection is tracked from its first byte (before any
//! protocol is known, and through the TLS handshake):
//!
//! - it must dispatch its first request within `first_request_timeout_secs`
//!   (an idle socket, a partial HTTP/2 preface, a stalled handshake);
//! - after that, it is closed once idle (no request in progress) for
//!   `idle_timeout_secs` — for HTTP/2 too, where hyper has no idle timeout
//!   of its own and a peer answering pings would otherwise stay for ever;
//! - a request still in progress after `request_timeout_secs` is answered
//!   503 and its connection closed;
//! - at most `max_connections` are open. A new one past it closes an idle
//!   connection: first one that has not yet been answered a request to the
//!   write or alarm API (so holds no valid token), the one idle longest
//!   among them; else the one idle longest. Only when every connection has
//!   a request in progress is the newcomer refused. An agent's connection is
//!   therefore never refused while an idle one exists, and an attacker must
//!   keep requests in progress to hold slots, which the body limits and the
//!   request timeout bound.
//!
//! Each close is counted by reason in `/metrics`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{ClientCert, ListenConfig, TlsConfig};

/// HTTP/2: a ping every this long, and the connection closed if its answer
/// takes longer than as much again (a peer that went away).
pub const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// HTTP/2: requests in progress at once on one connection.
pub const H2_MAX_STREAMS: u32 = 32;
/// HTTP/2: the largest header block of a request.
pub const H2_MAX_HEADER_BYTES: u32 = 64 * 1024;

/// Why the collector closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    FirstRequestTimeout,
    IdleTimeout,
    RequestTimeout,
    Evicted,
}

impl Close {
    pub const ALL: [Close; 4] = [Self::FirstRequestTimeout, Self::IdleTimeout, Self::RequestTimeout, Self::Evicted];

    pub fn label(self) -> &'static str {
        match self {
            Self::FirstRequestTimeout => "first_request_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::RequestTimeout => "request_timeout",
            Self::Evicted => "evicted",
        }
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub open: AtomicU64,
    closed: [AtomicU64; 4],
    /// Refused at the cap with no idle connection to close.
    pub refused: AtomicU64,
}

impl Stats {
    pub fn closed(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Close::ALL.into_iter().map(|c| (c.label(), self.closed[c as usize].load(Ordering::Relaxed)))
    }
}

/// The bounds, from `listen.*`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub first_request: Duration,
    pub idle: Duration,
    pub request: Duration,
}

impl Limits {
    pub fn from_config(c: &ListenConfig) -> Limits {
        Limits {
            max_connections: c.max_connections,
            first_request: Duration::from_secs(c.first_request_timeout_secs),
            idle: Duration::from_secs(c.idle_timeout_secs),
            request: Duration::from_secs(c.request_timeout_secs),
        }
    }
}

/// One connection as the tracker sees it.
struct Conn {
    id: u64,
    opened: Instant,
    /// Milliseconds after `opened` of the last request's start or end.
    last_active_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// A request was dispatched: the first-request timeout is over.
    served: AtomicBool,
    /// A request to the write or alarm API was answered below 400.
    proven: AtomicBool,
    closing: Mutex<Option<Close>>,
    /// The task reading it, to wake when it is closed from outside.
    waker: Mutex<Option<Waker>>,
}

impl Conn {
    fn last_active(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
    }

    fn touch(&self) {
        self.last_active_ms.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn closing(&self) -> Option<Close> {
        *self.closing.lock().expect("not poisoned")
    }

    /// Marks it closed (counted once) and wakes its reader, whose next read fails.
    fn close(&self, why: Close, stats: &Stats) {
        {
            let mut c = self.closing.lock().expect("not poisoned");
            if c.is_some() {
                return;
            }
            *c = Some(why);
        }
        stats.closed[why as usize].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(connection = self.id, reason = why.label(), "closing a connection");
        if let Some(w) = self.waker.lock().expect("not poisoned").take() {
            w.wake();
        }
    }
}

/// The open connections.
pub struct Tracker {
    limits: Limits,
    stats: Arc<Stats>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    refused_warned: Mutex<Option<Instant>>,
}

impl Tracker {
    pub fn new(limits: Limits, stats: Arc<Stats>) -> Arc<Tracker> {
        Arc::new(Tracker {
            limits,
            stats,
            conns: Mutex::default(),
            next_id: AtomicU64::new(0),
            refused_warned: Mutex::default(),
        })
    }

    /// Takes a new connection, closing an idle one at the cap; an error
    /// when every connection has a request in progress.
    fn admit(&self) -> io::Result<Arc<Conn>> {
        let mut conns = self.conns.lock().expect("not poisoned");
        if conns.len() >= self.limits.max_connections {
            let victim = conns
                .values()
                .filter(|c| c.in_flight.load(Ordering::Relaxed) == 0)
                .min_by_key(|c| (c.proven.load(Ordering::Relaxed), c.last_active()))
                .cloned();
            match victim {
                Some(v) => {
                    conns.remove(&v.id);
                    v.close(Close::Evicted, &self.stats);
                }
                None => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    let mut warned = self.refused_warned.lock().expect("not poisoned");
                    if warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        *warned = Some(Instant::now());
                        tracing::warn!(
                            max = self.limits.max_connections,
                            "connection refused: every open connection has a request in progress (listen.max_connections)"
                        );
                    }
                    return Err(io::Error::other("listen.max_connections reached"));
                }
            }
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            opened: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            proven: AtomicBool::new(false),
            closing: Mutex::new(None),
            waker: Mutex::new(None),
        });
        conns.insert(conn.id, conn.clone());
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Ok(conn)
    }

    fn forget(&self, conn: &Conn) {
        self.conns.lock().expect("not poisoned").remove(&conn.id);
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The acceptor that tracks each connection (inside the TLS acceptor, so
/// the handshake is timed too).
#[derive(Clone)]
pub struct TrackedAcceptor(pub Arc<Tracker>);

impl<S> Accept<TcpStream, S> for TrackedAcceptor {
    type Stream = TrackedStream<TcpStream>;
    type Service = TrackedService<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let tracker = self.0.clone();
        std::future::ready(tracker.admit().map(|conn| {
            let deadline = tokio::time::Instant::now() + tracker.limits.first_request;
            let s = TrackedService { inner: service, conn: conn.clone(), tracker: tracker.clone() };
            (TrackedStream { inner: stream, conn, tracker, timer: Box::pin(tokio::time::sleep_until(deadline)) }, s)
        }))
    }
}

/// A connection's bytes: a read fails once the connection is closed (by a
/// timeout it notices itself, or by the tracker).
pub struct TrackedStream<S> {
    inner: S,
    conn: Arc<Conn>,
    tracker: Arc<Tracker>,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<S> TrackedStream<S> {
    fn closed_error(why: Close) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, format!("connection closed by the collector: {}", why.label()))
    }

    /// Whether the connection has been idle too long; re-arms the timer if not.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Option<Close> {
        let l = self.tracker.limits;
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let deadline = if self.conn.in_flight.load(Ordering::Relaxed) > 0 {
                // A request in progress has its own timeout.
                now + l.idle
            } else if self.conn.served.load(Ordering::Relaxed) {
                self.conn.last_active() + l.idle
            } else {
                self.conn.opened + l.first_request
            };
            if deadline <= now {
                let why = if self.conn.served.load(Ordering::Relaxed) {
                    Close::IdleTimeout
                } else {
                    Close::FirstRequestTimeout
                };
                self.conn.close(why, &self.tracker.stats);
                return Some(why);
            }
            self.timer.as_mut().reset(deadline.into());
        }
        None
    }
}

impl<S> Drop for TrackedStream<S> {
    fn drop(&mut self) {
        self.tracker.forget(&self.conn);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TrackedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(why) = self.conn.closing() {
            return Poll::Ready(Err(Self::closed_error(why)));
        }
        {
            let mut w = self.conn.waker.lock().expect("not poisoned");
            if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
        }
        let this = &mut *self;
        if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            return Poll::Ready(r);
        }
        match this.check_idle(cx) {
            Some(why) => Poll::Ready(Err(Self::closed_error(why))),
            None => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TrackedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(why) = self.conn.closing() {
            return Poll::Ready(Err(Self::closed_error(why)));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(why) = self.conn.closing() {
            return Poll::Ready(Err(Self::closed_error(why)));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The app, seen per connection: it counts requests in progress, notes
/// whether one proved a token, and bounds each request's time.
#[derive(Clone)]
pub struct TrackedService<S> {
    inner: S,
    conn: Arc<Conn>,
    tracker: Arc<Tracker>,
}

/// A request in progress; ends when dropped (also when its connection goes).
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S, B> tower_service::Service<Request<B>> for TrackedService<S>
where
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let conn = self.conn.clone();
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        conn.served.store(true, Ordering::Relaxed);
        conn.touch();
        let guard = InFlight(conn.clone());
        let api = req.uri().path().starts_with("/write") || req.uri().path().starts_with("/api/");
        let fut = self.inner.call(req);
        let tracker = self.tracker.clone();
        Box::pin(async move {
            let _guard = guard;
            match tokio::time::timeout(tracker.limits.request, fut).await {
                Ok(Ok(resp)) => {
                    if api && resp.status().as_u16() < 400 {
                        conn.proven.store(true, Ordering::Relaxed);
                    }
                    Ok(resp)
                }
                Err(_) => {
                    conn.close(Close::RequestTimeout, &tracker.stats);
                    let msg = format!(
                        "the request took longer than {} s (listen.request_timeout_secs)",
                        tracker.limits.request.as_secs()
                    );
                    Ok((
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::CONNECTION, "close")],
                        axum::Json(serde_json::json!({"code": "unavailable", "message": msg})),
                    )
                        .into_response())
                }
            }
        })
    }
}

/// Why `listen.tls` cannot be served: each names the setting and the file
/// to fix, and keeps the error that says what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A certificate file cannot be read (`setting` is `cert_file` or `client_ca_file`).
    #[error("listen.tls.{setting}: cannot read {}", path.display())]
    Read {
        setting: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("listen.tls.key_file: cannot read a private key from {}", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The file holds no certificate of the kind (`what`) the setting wants.
    #[error("listen.tls.{setting}: {} holds no {what}", path.display())]
    Empty { setting: &'static str, path: PathBuf, what: &'static str },
    #[error("TLS protocol versions")]
    Protocols(#[source] rustls::Error),
    #[error("listen.tls.client_ca_file: {}", path.display())]
    ClientCa {
        path: PathBuf,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("listen.tls: certificate {} does not go with key {}", cert.display(), key.display())]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Builds the TLS server config from `listen.tls`: the certificate and key,
/// the client CA if given, and ALPN offering h2 and http/1.1 (as
/// axum-server's own loaders do).
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, ListenError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let read = |setting: &'static str, path: &std::path::Path| {
        CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|source| ListenError::Read { setting, path: path.to_path_buf(), source })
    };
    let certs = read("cert_file", &tls.cert_file)?;
    if certs.is_empty() {
        return Err(ListenError::Empty { setting: "cert_file", path: tls.cert_file.clone(), what: "certificate" });
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|source| ListenError::Key { path: tls.key_file.clone(), source })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(ListenError::Protocols)?;
    let builder = match &tls.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(read("client_ca_file", ca)?);
            if added == 0 {
                return Err(ListenError::Empty { setting: "client_ca_file", path: ca.clone(), what: "CA certificate" });
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match tls.client_cert {
                ClientCert::Required => verifier,
                ClientCert::Optional => verifier.allow_unauthenticated(),
            };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|source| ListenError::ClientCa { path: ca.clone(), source })?,
            )
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|source| ListenError::Pair {
        cert: tls.cert_file.clone(),
        key: tls.key_file.clone(),
        source,
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Warns when tokens would cross the network unencrypted: plain HTTP on an
/// address other than loopback (`0.0.0.0` included).
pub fn warn_if_clear(addr: std::net::SocketAddr, listen: &ListenConfig) {
    if listen.tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(address = %addr, "tokens travel in clear: serve HTTPS (listen.tls) on a non-loopback address");
    }
}

/// The running server, and its TLS config for a reload of the certificates.
pub struct Served {
    pub task: tokio::task::JoinHandle<io::Result<()>>,
    pub tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

/// Serves `app` on `addr` (with TLS if given) under the limits, until
/// `handle` shuts it down.
pub async fn serve(
    addr: std::net::SocketAddr,
    listen: &ListenConfig,
    header_read_timeout: Duration,
    stats: Arc<Stats>,
    app: axum::Router,
    handle: axum_server::Handle<std::net::SocketAddr>,
) -> Result<Served, ListenError> {
    let limits = Limits::from_config(listen);
    let acceptor = TrackedAcceptor(Tracker::new(limits, stats));
    let mut server = axum_server::bind(addr).handle(handle);
    let b = server.http_builder();
    // Also closes keep-alive HTTP/1 connections idle for this long.
    b.http1().header_read_timeout(header_read_timeout);
    b.http2()
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_BYTES);
    // With the client's address, for the audit log.
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    Ok(match &listen.tls {
        Some(tls) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(server_config(tls)?);
            // The tracker's first-request timeout ends a stalled handshake
            // (and counts it); the acceptor's own is a second line. The TLS
            // acceptor hands every request the connection's `TlsInfo`, with
            // the client certificate the handshake verified.
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls.clone())
                .handshake_timeout(limits.first_request + Duration::from_secs(1))
                .acceptor(acceptor);
            let server = server.acceptor(acceptor);
            Served { task: tokio::spawn(async move { server.serve(service).await }), tls: Some(rustls) }
        }
        None => {
            let server = server.acceptor(acceptor);
            Served { task: tokio::spawn(async move { server.serve(service).await }), tls: None }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_file_that_cannot_be_read_names_its_setting_and_path_and_keeps_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let tls = |cert: PathBuf| TlsConfig {
            cert_file: cert,
            key_file: dir.path().join("key.pem"),
            client_ca_file: None,
            client_cert: ClientCert::Optional,
        };
        let missing = dir.path().join("cert.pem");
        let e = server_config(&tls(missing.clone())).unwrap_err();
        assert!(matches!(&e, ListenError::Read { setting: "cert_file", path, .. } if *path == missing), "{e:?}");
        let chain = dcwatch_common::error_chain(&e);
        assert!(chain.starts_with(&format!("listen.tls.cert_file: cannot read {}: ", missing.display())), "{chain}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = server_config(&tls(empty.clone())).unwrap_err();
        assert_eq!(e.to_string(), format!("listen.tls.cert_file: {} holds no certificate", empty.display()));
    }
}
