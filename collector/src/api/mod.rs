//! The HTTP API: the write endpoints, `/health` (JSON), `/metrics`
//! (Prometheus text format) and `/ping` (what InfluxDB clients probe).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub mod access;
mod alarms;
pub mod health;

use crate::ingest;
use crate::state::{AppState, RequestRejection};

/// The whole HTTP API, apart from any listener so tests can call it directly.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v2/write", post(ingest::write_handler))
        .route("/write", post(ingest::write_handler))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/ping", get(ping).head(ping))
        .route("/api/alarms", get(alarms::list))
        .route("/api/status", get(alarms::status))
        .route("/api/alarms/history", get(alarms::history))
        .route("/api/alarms/{fingerprint}/ack", post(alarms::ack).delete(alarms::unack))
        .route("/api/audit", get(alarms::audit_log))
        .route("/api/silences", get(alarms::silences).post(alarms::add_silence))
        .route("/api/silences/{id}", axum::routing::delete(alarms::end_silence))
        .route("/api/peer/log", get(crate::peer::serve::log))
        .with_state(state)
}

async fn ping() -> Response {
    (StatusCode::NO_CONTENT, [("X-Influxdb-Version", concat!("dcwatch-", env!("CARGO_PKG_VERSION")))]).into_response()
}

fn secs(ns: i64) -> Option<f64> {
    (ns > 0).then(|| ns as f64 / 1e9)
}

/// Each sink: its backlog, counts, and whether it is up: `down` while its
/// last failed write is later than its last good one, `idle` before either.
pub fn sinks_json(live: &crate::state::Live, now_ns: i64) -> Vec<serde_json::Value> {
    let ms = |ns: i64| (ns > 0).then_some(ns / 1_000_000);
    live.sinks
        .iter()
        .map(|s| {
            let st = &s.stats;
            let last = st.last_success_ns.load(Ordering::Relaxed);
            let failed = st.last_error_ns.load(Ordering::Relaxed);
            let state = match (last, failed) {
                (0, 0) => "idle",
                (l, f) if f > l => "down",
                _ => "up",
            };
            serde_json::json!({
                "name": s.name,
                "endpoint": dcwatch_common::redact::redact_url(&s.endpoint),
                "state": state,
                "queued_points": st.queued_lines.load(Ordering::Relaxed),
                "sent_points": st.sent_lines.load(Ordering::Relaxed),
                "dropped_points": st.dropped_lines.load(Ordering::Relaxed),
                "errors": st.errors_total.load(Ordering::Relaxed),
                "last_success_s_ago": (last > 0).then(|| (now_ns - last) / 1_000_000_000),
                "last_success_ms": ms(last),
                "last_error_ms": ms(failed),
                "last_error": st.last_error.lock().expect("not poisoned").as_deref().map(dcwatch_common::redact::redact_urls_in),
            })
        })
        .collect()
}

/// The spool's size and bound, when there are sinks.
pub fn spool_json(live: &crate::state::Live) -> serde_json::Value {
    let Some(d) = &live.durable else { return serde_json::Value::Null };
    serde_json::json!({
        "bytes": d.spool.total_bytes(),
        "max_bytes": d.spool.settings().max_bytes,
        "points": d.spool.lines_from(0),
        "segments": d.spool.segment_count(),
    })
}

/// `/health`: without a token only whether all is well (for a load
/// balancer or keepalived: 503 past `api.health.fail_on`, see `health.rs`);
/// with an API token also the sinks and agents.
async fn health(State(app): State<Arc<AppState>>, client: access::Client, headers: axum::http::HeaderMap) -> Response {
    let now = dcwatch_common::now_ns();
    let live = app.live();
    let verdict = health::Verdict::of(&app, &live, now);
    if access::identify(&app, &headers, client, "GET /health").is_none() {
        return verdict.respond(serde_json::json!({}));
    }
    let sinks = sinks_json(&live, now);
    let agents: Vec<_> = app
        .agents
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|((site, host), seen)| {
            serde_json::json!({
                "site": site,
                "host": host,
                "last_write_s_ago": (now - seen.last_write_ns) / 1_000_000_000,
                "points": seen.points,
            })
        })
        .collect();
    verdict.respond(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": app.started.elapsed().as_secs(),
        "points_received": app.stats.points_received.load(Ordering::Relaxed),
        "sinks": sinks,
        "agents": agents,
    }))
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

async fn metrics(State(app): State<Arc<AppState>>, client: access::Client, headers: axum::http::HeaderMap) -> Response {
    let live = app.live();
    if live.metrics_require_token
        && let Err(r) = access::require(&app, &headers, client, crate::auth::Role::Viewer, "GET /metrics")
    {
        return *r;
    }
    let mut m = String::with_capacity(4096);
    family(&mut m, "dcwatch_collector_build_info", "gauge", "Version of this collector.");
    let _ = writeln!(m, "dcwatch_collector_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    family(&mut m, "dcwatch_collector_uptime_seconds", "gauge", "Seconds since the collector started.");
    let _ = writeln!(m, "dcwatch_collector_uptime_seconds {}", app.started.elapsed().as_secs());
    write_request_metrics(&mut m, &app.stats);
    // What the engine holds, read on the blocking pool (its lock waits for
    // SQLite; the outbox is read from SQLite).
    if let Some(e) = app.alarms.clone() {
        let read = e.clone();
        match alarms::blocking(move || (read.alarms(), read.undelivered().unwrap_or_default())).await {
            Ok((alarms, undelivered)) => alarm_metrics(&mut m, &e, &alarms, &undelivered),
            Err(r) => return *r,
        }
    }
    report_metrics(&mut m, &app);
    peer_metrics(&mut m, &app);
    point_metrics(&mut m, &app.stats);
    spool_metrics(&mut m, &live);
    sink_metrics(&mut m, &live);
    agent_metrics(&mut m, &app);
    crate::state::write_limit_metrics(&app, &mut m);
    crate::watchdog::write_metrics(&mut m, &app.watchdog);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], m).into_response()
}

/// A metric family's `# HELP` and `# TYPE` lines.
fn family(m: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn write_request_metrics(m: &mut String, s: &crate::state::IngestStats) {
    family(m, "dcwatch_collector_write_requests_total", "counter", "Write requests received.");
    let _ = writeln!(m, "dcwatch_collector_write_requests_total {}", s.requests_total.load(Ordering::Relaxed));
    family(m, "dcwatch_collector_write_requests_rejected_total", "counter", "Write requests refused whole, by reason.");
    for why in RequestRejection::ALL {
        let _ = writeln!(
            m,
            "dcwatch_collector_write_requests_rejected_total{{reason=\"{}\"}} {}",
            why.label(),
            s.rejected(why)
        );
    }
}

fn alarm_metrics(
    m: &mut String,
    e: &crate::alarm::Engine,
    alarms: &[crate::alarm::store::Alarm],
    undelivered: &[crate::alarm::store::Undelivered],
) {
    family(m, "dcwatch_collector_alarms", "gauge", "Alarms pending or firing, by state and severity.");
    for state in ["pending", "firing"] {
        for sev in ["critical", "warning", "info"] {
            let n = alarms.iter().filter(|a| a.state.as_str() == state && a.severity.as_str() == sev).count();
            let _ = writeln!(m, "dcwatch_collector_alarms{{state=\"{state}\",severity=\"{sev}\"}} {n}");
        }
    }
    let st = &e.stats;
    family(m, "dcwatch_collector_alarm_evaluations_total", "counter", "Alarm evaluations.");
    let _ = writeln!(m, "dcwatch_collector_alarm_evaluations_total {}", st.evaluations.load(Ordering::Relaxed));
    family(m, "dcwatch_collector_notices_total", "counter", "Notices queued, delivered, and failed delivery attempts.");
    for (what, v) in
        [("queued", &st.notices_queued), ("delivered", &st.notices_sent), ("failed_attempt", &st.notices_failed)]
    {
        let _ = writeln!(m, "dcwatch_collector_notices_total{{result=\"{what}\"}} {}", v.load(Ordering::Relaxed));
    }
    family(m, "dcwatch_collector_notices_undelivered", "gauge", "Notices waiting in the outbox, by receiver.");
    for u in undelivered {
        let _ = writeln!(m, "dcwatch_collector_notices_undelivered{{receiver=\"{}\"}} {}", u.receiver, u.count);
    }
}

/// The pair of collectors: each peer reachable or not, how much of its log
/// is not read yet, the notices it sent that this one did not.
fn peer_metrics(m: &mut String, app: &AppState) {
    let Some(p) = &app.peering else { return };
    let st = p.status(crate::alarm::now_ms());
    family(m, "dcwatch_collector_peer_up", "gauge", "Whether the peered collector answered the last heartbeat.");
    for peer in st["peers"].as_array().into_iter().flatten() {
        let name = label(peer["name"].as_str().unwrap_or(""));
        let _ = writeln!(m, "dcwatch_collector_peer_up{{peer=\"{name}\"}} {}", u8::from(peer["reachable"] == true));
    }
    family(m, "dcwatch_collector_peer_log_lag", "gauge", "Entries of the peer's log not read yet.");
    for peer in st["peers"].as_array().into_iter().flatten() {
        let name = label(peer["name"].as_str().unwrap_or(""));
        let _ = writeln!(m, "dcwatch_collector_peer_log_lag{{peer=\"{name}\"}} {}", peer["log_lag"]);
    }
    family(
        m,
        "dcwatch_collector_peer_sending",
        "gauge",
        "Whether this collector sends notices at once (1) or after its peer (0).",
    );
    let _ = writeln!(m, "dcwatch_collector_peer_sending {}", u8::from(st["sending"] == true));
    family(
        m,
        "dcwatch_collector_notices_sent_by_peer_total",
        "counter",
        "Notices not sent because the peer had sent them.",
    );
    let _ =
        writeln!(m, "dcwatch_collector_notices_sent_by_peer_total {}", p.notices_sent_by_peer.load(Ordering::Relaxed));
}

fn report_metrics(m: &mut String, app: &AppState) {
    family(
        m,
        "dcwatch_collector_reports_total",
        "counter",
        "Scheduled reports sent, failed attempts, and periods not sent for too little data.",
    );
    for (what, v) in [
        ("sent", &app.reports.sent),
        ("failed_attempt", &app.reports.failed_attempts),
        ("skipped_low_coverage", &app.reports.skipped),
    ] {
        let _ = writeln!(m, "dcwatch_collector_reports_total{{result=\"{what}\"}} {}", v.load(Ordering::Relaxed));
    }
}

fn point_metrics(m: &mut String, s: &crate::state::IngestStats) {
    family(m, "dcwatch_collector_points_received_total", "counter", "Points accepted from writers.");
    let _ = writeln!(m, "dcwatch_collector_points_received_total {}", s.points_received.load(Ordering::Relaxed));
    family(m, "dcwatch_collector_points_rejected_total", "counter", "Points refused, by reason.");
    let _ = writeln!(
        m,
        "dcwatch_collector_points_rejected_total{{reason=\"invalid\"}} {}",
        s.points_invalid.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        m,
        "dcwatch_collector_points_rejected_total{{reason=\"forbidden\"}} {}",
        s.points_forbidden.load(Ordering::Relaxed)
    );
    family(
        m,
        "dcwatch_collector_points_forbidden_total",
        "counter",
        "Valid points refused because their token may not write them, by what it may not write.",
    );
    for why in crate::ingest::auth::Forbidden::ALL {
        let _ =
            writeln!(m, "dcwatch_collector_points_forbidden_total{{reason=\"{}\"}} {}", why.label(), s.forbidden(why));
    }
}

fn spool_metrics(m: &mut String, live: &crate::state::Live) {
    if let Some(d) = &live.durable {
        family(m, "dcwatch_collector_spool_bytes", "gauge", "Bytes on disk in the spool.");
        let _ = writeln!(m, "dcwatch_collector_spool_bytes {}", d.spool.total_bytes());
        family(m, "dcwatch_collector_spool_max_bytes", "gauge", "The spool's size bound (spool.max_bytes).");
        let _ = writeln!(m, "dcwatch_collector_spool_max_bytes {}", d.spool.settings().max_bytes);
        family(
            m,
            "dcwatch_collector_spool_corrupt_records_total",
            "counter",
            "Spool records found torn or corrupt and skipped.",
        );
        let _ = writeln!(m, "dcwatch_collector_spool_corrupt_records_total {}", d.spool.corrupt_records());
    }
}

fn sink_metrics(m: &mut String, live: &crate::state::Live) {
    type Get = fn(&dcwatch_common::forward::Stats) -> i64;
    let sink_metrics: [(&str, &str, &str, Get); 5] = [
        ("dcwatch_collector_sink_points_sent_total", "counter", "Points written to the sink.", |st| {
            st.sent_lines.load(Ordering::Relaxed) as i64
        }),
        ("dcwatch_collector_sink_queue_points", "gauge", "Points waiting for the sink.", |st| {
            st.queued_lines.load(Ordering::Relaxed) as i64
        }),
        ("dcwatch_collector_sink_errors_total", "counter", "Failed write attempts to the sink.", |st| {
            st.errors_total.load(Ordering::Relaxed) as i64
        }),
        ("dcwatch_collector_sink_batches_sent_total", "counter", "Write requests the sink accepted.", |st| {
            st.sent_batches.load(Ordering::Relaxed) as i64
        }),
        (
            "dcwatch_collector_sink_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the sink's last successful write (0: never).",
            |st| st.last_success_ns.load(Ordering::Relaxed) / 1_000_000_000,
        ),
    ];
    for (name, kind, help, get) in sink_metrics {
        family(m, name, kind, help);
        for sink in &live.sinks {
            let _ = writeln!(m, "{name}{{sink=\"{}\"}} {}", label(&sink.name), get(&sink.stats));
        }
    }

    // Lines, not batches: a batch the sink partly refused counts only the
    // lines it refused (common::isolate).
    family(
        m,
        "dcwatch_collector_sink_points_dropped_total",
        "counter",
        "Points the sink refused as bad data, by reason, or dropped past the spool bound (reason spool_bound).",
    );
    for sink in &live.sinks {
        let name = label(&sink.name);
        for reason in dcwatch_common::isolate::Reason::ALL {
            let _ = writeln!(
                m,
                "dcwatch_collector_sink_points_dropped_total{{sink=\"{name}\",reason=\"{}\"}} {}",
                reason.label(),
                sink.stats.rejected(reason)
            );
        }
        let _ = writeln!(
            m,
            "dcwatch_collector_sink_points_dropped_total{{sink=\"{name}\",reason=\"spool_bound\"}} {}",
            sink.stats.spool_dropped_lines.load(Ordering::Relaxed)
        );
    }
}

fn agent_metrics(m: &mut String, app: &AppState) {
    let agents = app.agents.lock().expect("not poisoned").clone();
    family(
        m,
        "dcwatch_collector_agent_last_write_timestamp_seconds",
        "gauge",
        "Unix time of the last write seen from each agent.",
    );
    for ((site, host), seen) in &agents {
        let _ = writeln!(
            m,
            "dcwatch_collector_agent_last_write_timestamp_seconds{{site=\"{}\",host=\"{}\"}} {:.3}",
            label(site),
            label(host),
            secs(seen.last_write_ns).unwrap_or(0.0)
        );
    }
    family(m, "dcwatch_collector_agent_points_total", "counter", "Points received from each agent.");
    for ((site, host), seen) in &agents {
        let _ = writeln!(
            m,
            "dcwatch_collector_agent_points_total{{site=\"{}\",host=\"{}\"}} {}",
            label(site),
            label(host),
            seen.points
        );
    }
}

#[cfg(test)]
mod tests;
