//! The write API: `POST /api/v2/write` (InfluxDB 2.x) and `POST /write`
//! (InfluxDB 1.x), so the dcwatch agent, Telegraf and any InfluxDB client
//! can write to the collector.
//!
//! Partial writes: valid lines are accepted even when others in the same body
//! are not, and the answer is 400 naming the first bad line (as InfluxDB 1.x
//! and 3.x do). A client must not resend such a body: the good lines are
//! already in. When every line is for a site the token may not write, the
//! answer is 403 and nothing is accepted. When the spool is full (or cannot be written), the
//! answer is 503 with `Retry-After` and nothing is accepted, so the client
//! keeps the whole body and retries it.

pub mod auth;
pub mod lines;
pub mod parse;
pub mod rate;

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use axum_server::tls::TlsInfo;

use crate::state::{AppState, Live, RequestRejection};
use dcwatch_common::spool::AppendError;

/// How long ago a peer may have taken the points it relays and still have
/// them reach the alarms, in ms.
pub const RELAYED_FRESH_MS: u64 = 120_000;

/// Seconds a client should wait after a 503 before trying again.
const RETRY_AFTER_SECS: u64 = 5;

/// An error answer in InfluxDB's JSON shape (`code`, `message`), plus the
/// line number of the first bad line where there is one.
pub struct WriteError {
    status: StatusCode,
    code: &'static str,
    message: String,
    line: Option<usize>,
    /// `Retry-After` of a 429; a 503 always says [`RETRY_AFTER_SECS`].
    retry_after: Option<u64>,
}

impl WriteError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        WriteError { status, code, message: message.into(), line: None, retry_after: None }
    }
}

impl IntoResponse for WriteError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(l) = self.line {
            body["line"] = l.into();
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Token"));
        }
        resp
    }
}

/// `POST /api/v2/write` and `POST /write`: the two differ only in where
/// clients put the token and which precision names they use, and both are
/// accepted on either route.
pub async fn write_handler(
    State(app): State<Arc<AppState>>,
    client: crate::api::access::Client,
    tls: Option<Extension<Arc<TlsInfo>>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The handshake verified the chain against `listen.tls.client_ca_file`;
    // the first certificate is the client's own.
    let cert = tls.and_then(|Extension(t)| t.peer_certificates.first().cloned());
    write(app, client, cert, q, headers, body)
        .await
        .map_or_else(|e| e.into_response(), |()| StatusCode::NO_CONTENT.into_response())
}

async fn write(
    app: Arc<AppState>,
    client: crate::api::access::Client,
    client_cert: Option<Vec<u8>>,
    q: HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(), WriteError> {
    app.stats.requests_total.fetch_add(1, Ordering::Relaxed);
    let live = app.live();
    let who = authenticate(&app, &live, client, client_cert.as_deref(), &q, &headers)?;
    admit(&app, &live, &who)?;
    let multiplier = lines::precision_multiplier(q.get("precision").map(String::as_str)).map_err(|m| {
        refuse(&app, RequestRejection::BadRequest, WriteError::new(StatusCode::BAD_REQUEST, "invalid", m))
    })?;

    // Held while the body is read and parsed (limits.md: bodies at once).
    let permit = app.bodies.acquire(&who.name, live.read_timeout, &app.stats).await.map_err(|m| {
        tracing::warn!(agent = %who.name, error = %m, "write refused");
        refuse(&app, RequestRejection::Overloaded, WriteError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m))
    })?;
    let raw = read_raw(&live, &headers, body).await.map_err(|e| {
        let why = match e.status {
            StatusCode::PAYLOAD_TOO_LARGE => RequestRejection::TooLarge,
            StatusCode::REQUEST_TIMEOUT => RequestRejection::Timeout,
            _ => RequestRejection::BadRequest,
        };
        tracing::warn!(agent = %who.name, error = %e.message, "write refused");
        refuse(&app, why, e)
    })?;
    let mut n = parse_body(&app, &live, &who, permit, raw, &headers, multiplier).await?;

    if n.accepted > 0 {
        store(&app, &live, &who, &mut n).await?;
        let relay_age_ms = headers
            .get(dcwatch_common::forward::RELAY_AGE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        observe(&app, &who, &mut n, relay_age_ms).await;
    }
    count_refused(&app, client, &who, &n);
    if live.sinks.is_empty() {
        tracing::info!(agent = %who.name, points = n.accepted, invalid = n.invalid.len(), forbidden = n.forbidden.len(), "received (no sink configured)");
    } else {
        tracing::debug!(agent = %who.name, points = n.accepted, invalid = n.invalid.len(), forbidden = n.forbidden.len(), "received");
    }
    answer(&who, &n)
}

/// Counts a refused request under its reason, and passes its error on.
fn refuse(app: &AppState, why: RequestRejection, e: WriteError) -> WriteError {
    app.stats.reject(why);
    e
}

/// The token (header or `p=`) and, when the token asks for one, the client
/// certificate; each refusal is audited.
fn authenticate(
    app: &AppState,
    live: &Live,
    client: crate::api::access::Client,
    client_cert: Option<&[u8]>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<auth::Identity, WriteError> {
    let authz = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let presented = auth::presented_token(authz, q.get("p").map(String::as_str));
    // A peer collector relaying its agents' points presents the pair's secret.
    if let (Some(peering), Some(secret)) = (&app.peering, presented.as_deref())
        && let Some(peer) = peering.peer_of_secret(secret)
    {
        return Ok(auth::Identity::relay(peer));
    }
    let who = live.tokens.authenticate(presented.as_deref()).map_err(|e| {
        tracing::warn!(reason = e.label(), source = ?client.0, "write refused: missing or unknown token");
        if let Some(a) = &app.audit {
            a.record_failure(&crate::audit::Event {
                actor: "-",
                role: "-",
                source: client.0,
                action: "ingest_auth_failed",
                target: "write",
                comment: e.label(),
                refused: true,
            });
        }
        refuse(
            app,
            RequestRejection::Unauthorized,
            WriteError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or unknown token"),
        )
    })?;
    who.check_client_cert(client_cert).map_err(|m| {
        tracing::warn!(agent = %who.name, source = ?client.0, error = %m, "write refused: no client certificate for the token");
        if let Some(a) = &app.audit {
            a.record_failure(&crate::audit::Event {
                actor: &who.name,
                role: "agent",
                source: client.0,
                action: "ingest_auth_failed",
                target: "write",
                comment: &m,
                refused: true,
            });
        }
        refuse(app, RequestRejection::ClientCertificate, WriteError::new(StatusCode::FORBIDDEN, "forbidden", m))
    })?;
    Ok(who)
}

/// The token's write rate, before the body is read: a token past its
/// allowance costs little more than its headers.
fn admit(app: &AppState, live: &Live, who: &auth::Identity) -> Result<(), WriteError> {
    if who.relayed {
        // Its writers' rates were held at the peer.
        return Ok(());
    }
    let Err(l) = app.rate_limiter.admit(&who.name, live.rate, std::time::Instant::now()) else {
        return Ok(());
    };
    let secs = l.retry_after.as_secs();
    if l.warn {
        tracing::warn!(
            agent = %who.name,
            points_per_sec = live.rate.points_per_sec,
            burst_points = live.rate.burst_points,
            retry_after_secs = secs,
            "token over its write rate (ingest.rate_limit): writes refused with 429 until it slows down"
        );
    }
    Err(refuse(
        app,
        RequestRejection::RateLimited,
        WriteError {
            retry_after: Some(secs),
            ..WriteError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests",
                format!(
                    "token `{}` is over its write rate of {} points/s (ingest.rate_limit); retry in {secs} s",
                    who.name, live.rate.points_per_sec
                ),
            )
        },
    ))
}

/// Inflates and parses the body, charging the token's rate for it.
/// Inflating and parsing a large body takes milliseconds of CPU: off the
/// async workers, so other writers' requests are not queued behind it.
async fn parse_body(
    app: &Arc<AppState>,
    live: &Live,
    who: &auth::Identity,
    permit: crate::state::BodyPermit,
    raw: axum::body::Bytes,
    headers: &HeaderMap,
    multiplier: i64,
) -> Result<lines::Normalized, WriteError> {
    let watched = app.alarms.as_ref().map(|e| e.watched());
    let trends = app.trends.is_some();
    let (limit, encoding) = (live.max_body_bytes, content_encoding(headers));
    let parse_as = who.clone();
    let inflated_size = if encoding == "identity" || encoding.is_empty() { raw.len() } else { raw.len() * 8 };
    let (limiter, rate) = (app.clone(), live.rate);
    let rules = lines::SinkRules {
        unsigned_as_signed: live.sinks.iter().any(|s| s.v1),
        plain_series_keys: live.sinks.iter().any(|s| !s.v1),
    };
    // The permit and the charge go with the work: a client that goes away
    // mid-request neither frees its body's place before the parsing ends
    // nor escapes the rate limit.
    let parse = move || {
        let _permit = permit;
        let charge = |bytes: usize, lines: usize| {
            if parse_as.relayed {
                return;
            }
            let cost = lines.max(bytes / rate::BYTES_PER_POINT);
            limiter.rate_limiter.charge(&parse_as.name, cost, rate, std::time::Instant::now());
        };
        let sent = raw.len();
        let raw = inflate(raw, &encoding, limit).inspect_err(|(why, _)| {
            // A refused body is charged too: inflating it was the cost.
            charge(if *why == RequestRejection::TooLarge { limit } else { sent.saturating_mul(8) }, 0)
        })?;
        let lines = raw.iter().filter(|&&b| b == b'\n').count() + usize::from(raw.last().is_some_and(|&b| b != b'\n'));
        charge(raw.len(), lines);
        // Bytes that are not UTF-8 are read as U+FFFD, which is what
        // InfluxDB shows for them (docs/architecture.md).
        let text = parse::to_utf8(&raw);
        let watch = |m: &str| {
            watched.as_ref().is_some_and(|w| w.contains(m)) || (trends && crate::trends::MEASUREMENTS.contains(&m))
        };
        Ok(lines::normalize_watching(&text, &parse_as, multiplier, dcwatch_common::now_ns(), rules, &watch))
    };
    let parsed = if inflated_size >= crate::bulk::LARGE_BODY_BYTES {
        crate::bulk::run(parse)
            .await
            .map_err(|e| {
                (
                    RequestRejection::Internal,
                    WriteError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal error",
                        format!("parsing failed: {e}"),
                    ),
                )
            })
            .and_then(|r| r)
    } else {
        parse()
    };
    parsed.map_err(|(why, e)| {
        tracing::warn!(agent = %who.name, error = %e.message, "write refused");
        refuse(app, why, e)
    })
}

/// Appends the accepted lines to the spool and waits until they are on
/// disk. The room check and the append are one step in the spool: a write
/// that does not fit is refused whole, before any 204.
async fn store(app: &AppState, live: &Live, who: &auth::Identity, n: &mut lines::Normalized) -> Result<(), WriteError> {
    if let Some(d) = &live.durable {
        let spool = d.spool.clone();
        let (lines, out, relayed) = (n.accepted, std::mem::take(&mut n.out), who.relayed);
        let appended = tokio::task::spawn_blocking(move || {
            let now = dcwatch_common::now_ns();
            if relayed { spool.append_relayed(lines, &out, now) } else { spool.append(lines, &out, now) }
        })
        .await
        .map_err(|e| AppendError::Io(std::io::Error::other(e.to_string())))
        .and_then(|r| r);
        if let Err(AppendError::Full { .. }) = appended {
            tracing::warn!(agent = %who.name, points = n.accepted, "spool full (sinks behind); asking the writer to retry later");
            return Err(unavailable(app, "the spool is full while sinks catch up"));
        }
        let durable = match appended {
            Ok(seq) => {
                d.origins.record(seq, &who.name);
                d.committer.wait_durable(seq).await
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = durable {
            tracing::error!(agent = %who.name, error = %e, "cannot store the write durably; refused it (503)");
            return Err(unavailable(app, &format!("cannot store the points durably ({e})")));
        }
    }
    app.stats.points_received.fetch_add(n.accepted, Ordering::Relaxed);
    Ok(())
}

/// A 503 that says why and when to retry.
fn unavailable(app: &AppState, why: &str) -> WriteError {
    refuse(
        app,
        RequestRejection::Overloaded,
        WriteError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{why}; retry in {RETRY_AFTER_SECS} s"),
        ),
    )
}

/// Hands the write's observations to the trends and the alarm state, and
/// notes the agents it speaks for.
/// `relay_age_ms`: from a peer's relay, how long ago it took the newest of
/// these points.
async fn observe(app: &AppState, who: &auth::Identity, n: &mut lines::Normalized, relay_age_ms: Option<u64>) {
    let (trends, alarms, token) = (app.trends.clone(), app.alarms.clone(), who.name.clone());
    let observations = std::mem::take(&mut n.observations);
    let backlog = who.relayed && relay_age_ms.is_some_and(|ms| ms > RELAYED_FRESH_MS);
    let observe = move || {
        if let Some(t) = &trends {
            t.observe(&observations);
        }
        // A relay's backlog after a cut is history: stored and in the
        // trends, but not the alarms' present (it would raise and resolve
        // again what changed during the cut). Its age is the peer's own
        // measure (how long ago it took them), not the points' timestamps:
        // an agent's clock that is off must not make its points stale.
        if let (Some(e), false) = (&alarms, backlog) {
            e.observe(&token, observations);
        }
    };
    if n.accepted as usize >= crate::bulk::LARGE_OBSERVATIONS {
        if let Err(e) = crate::bulk::run(observe).await {
            tracing::error!(agent = %who.name, error = %e, "the write's points did not reach the alarm state");
        }
    } else {
        observe();
    }
    app.saw_agents(&who.name, std::mem::take(&mut n.agents), n.accepted, dcwatch_common::now_ns());
}

/// Counts the lines refused, and audits the first forbidden line and the
/// first that repeats a tag key.
fn count_refused(app: &AppState, client: crate::api::access::Client, who: &auth::Identity, n: &lines::Normalized) {
    app.stats.points_invalid.fetch_add(n.invalid.len() as u64, Ordering::Relaxed);
    app.stats.points_forbidden.fetch_add(n.forbidden.len() as u64, Ordering::Relaxed);
    app.stats.add_forbidden(&n.forbidden_by);
    let Some(a) = &app.audit else { return };
    for (refused, action) in [(&n.forbidden, "ingest_forbidden"), (&n.repeated_tag, "ingest_line_refused")] {
        if let Some(first) = refused.first() {
            let comment = format!("{} line(s) refused; line {}: {}", refused.len(), first.line, first.message);
            a.record_failure(&crate::audit::Event {
                actor: &who.name,
                role: "agent",
                source: client.0,
                action,
                target: "write",
                comment: &comment,
                refused: true,
            });
        }
    }
}

/// 204 when every line is in; 403 when every line was forbidden; else 400
/// naming the first bad line.
fn answer(who: &auth::Identity, n: &lines::Normalized) -> Result<(), WriteError> {
    if n.invalid.is_empty() && n.forbidden.is_empty() {
        return Ok(());
    }
    let rejected = n.invalid.len() + n.forbidden.len();
    if n.accepted == 0 && n.invalid.is_empty() {
        let first = &n.forbidden[0];
        tracing::warn!(agent = %who.name, points = rejected, first = %first.message, "write forbidden");
        return Err(WriteError {
            line: Some(first.line),
            ..WriteError::new(StatusCode::FORBIDDEN, "forbidden", format!("line {}: {}", first.line, first.message))
        });
    }
    let mut all: Vec<_> = n.invalid.iter().chain(&n.forbidden).collect();
    all.sort_by_key(|e| e.line);
    let first = all[0];
    // "partial write" only when some lines are in: then the body must not
    // be resent; when none are, the writer may fix it and send it again.
    let message = if n.accepted > 0 {
        format!(
            "partial write: line {}: {} (accepted: {}, rejected: {}; do not resend this body)",
            first.line, first.message, n.accepted, rejected
        )
    } else {
        format!("line {}: {} (rejected: {rejected}, nothing was accepted)", first.line, first.message)
    };
    tracing::warn!(agent = %who.name, error = %message, "write rejected in part or in whole");
    Err(WriteError { line: Some(first.line), ..WriteError::new(StatusCode::BAD_REQUEST, "invalid", message) })
}

/// Reads the body as sent, within the size limit and the read timeout.
async fn read_raw(app: &Live, headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, WriteError> {
    let limit = app.max_body_bytes;
    let too_large = || too_large(limit);
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(app.read_timeout, axum::body::to_bytes(body, limit)).await.map_err(|_| {
        WriteError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request timeout",
            format!("the body did not arrive within {} s (ingest.read_timeout_secs)", app.read_timeout.as_secs_f64()),
        )
    })?;
    let bytes = read.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            too_large()
        } else {
            WriteError::new(StatusCode::BAD_REQUEST, "invalid", format!("cannot read the body: {e}"))
        }
    })?;
    Ok(bytes)
}

fn too_large(limit: usize) -> WriteError {
    WriteError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request too large",
        format!("body exceeds the limit of {limit} bytes (ingest.max_body_bytes); send smaller batches"),
    )
}

/// The body's `Content-Encoding`, lower-cased.
fn content_encoding(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase()
}

/// Inflates a gzip body. A gzip body may hold several members one after
/// another (RFC 1952 §2.2; `cat a.gz b.gz`, or a client that compresses
/// each batch as it goes): every member is inflated, not just the first.
/// The limit applies to the inflated total, and inflating stops one byte
/// past it, so a gzip bomb is refused without being inflated.
fn inflate(bytes: axum::body::Bytes, encoding: &str, limit: usize) -> Result<Vec<u8>, (RequestRejection, WriteError)> {
    let bad = |e: WriteError| (RequestRejection::BadRequest, e);
    match encoding {
        "identity" | "" => Ok(bytes.to_vec()),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(bytes.len().saturating_mul(8).min(limit + 1));
            let mut dec = flate2::read::MultiGzDecoder::new(&bytes[..]).take(limit as u64 + 1);
            dec.read_to_end(&mut out).map_err(|e| {
                bad(WriteError::new(StatusCode::BAD_REQUEST, "invalid", format!("body is not valid gzip: {e}")))
            })?;
            if out.len() > limit {
                return Err((RequestRejection::TooLarge, too_large(limit)));
            }
            Ok(out)
        }
        other => Err(bad(WriteError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid",
            format!("Content-Encoding `{other}` is not supported; use gzip or none"),
        ))),
    }
}
