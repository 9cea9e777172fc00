//! The alarm API (token auth: `alarms.api_tokens`, sent as `Authorization:
//! Bearer …` or `Token …`): `GET /api/alarms`, `POST /api/alarms/{fingerprint}/ack`,
//! `GET /api/alarms/history`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::alarm::Engine;
use crate::alarm::store::Alarm;
use crate::state::AppState;

fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

/// The engine, if the caller presents an API token.
fn authorized(app: &AppState, headers: &HeaderMap) -> Result<Arc<Engine>, Box<Response>> {
    let engine = app.alarms.clone().ok_or_else(|| Box::new(err(StatusCode::NOT_FOUND, "alarms are not configured")))?;
    let tokens = engine.config().api_tokens.clone();
    if tokens.is_empty() {
        return Err(Box::new(err(StatusCode::FORBIDDEN, "no alarms.api_tokens are configured")));
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("Token ")))
        .unwrap_or("");
    let ok = tokens.iter().fold(false, |acc, t| acc | bool::from(t.as_bytes().ct_eq(presented.as_bytes())));
    if ok { Ok(engine) } else { Err(Box::new(err(StatusCode::UNAUTHORIZED, "missing or unknown API token"))) }
}

pub fn alarm_json(a: &Alarm) -> serde_json::Value {
    serde_json::json!({
        "fingerprint": a.fingerprint,
        "name": a.name,
        "state": a.state.as_str(),
        "severity": a.severity.as_str(),
        "labels": a.labels,
        "summary": a.summary,
        "value": a.value,
        "since_ms": a.since_ms,
        "fired_ms": a.fired_ms,
        "notified_ms": a.sent_ms,
        "inhibited_by": a.inhibited_by,
        "silenced_by": a.silenced_by,
        "escalated_ms": a.escalated_ms,
        "ack": a.ack.as_ref().map(|k| serde_json::json!({"by": k.by, "at_ms": k.at_ms, "comment": k.comment})),
    })
}

pub async fn list(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let engine = match authorized(&app, &headers) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let alarms: Vec<_> = engine.alarms().iter().map(alarm_json).collect();
    let failing: Vec<_> = engine
        .undelivered()
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            serde_json::json!({"receiver": u.receiver, "undelivered": u.count, "attempts": u.attempts, "last_error": u.last_error})
        })
        .collect();
    Json(serde_json::json!({"alarms": alarms, "outbox": failing})).into_response()
}

#[derive(serde::Deserialize)]
pub struct AckBody {
    by: String,
    #[serde(default)]
    comment: String,
}

pub async fn ack(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(fp): Path<String>,
    body: Option<Json<AckBody>>,
) -> Response {
    let engine = match authorized(&app, &headers) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let Some(Json(b)) = body else {
        return err(StatusCode::BAD_REQUEST, "send JSON: {\"by\": \"who\", \"comment\": \"why\"}");
    };
    if b.by.trim().is_empty() {
        return err(StatusCode::BAD_REQUEST, "`by` must name who acknowledges");
    }
    match tokio::task::spawn_blocking(move || engine.ack(&fp, &b.by, &b.comment)).await {
        Ok(Ok(a)) => Json(alarm_json(&a)).into_response(),
        Ok(Err(e)) => err(StatusCode::NOT_FOUND, e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub async fn history(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let engine = match authorized(&app, &headers) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let limit = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(100usize).min(10_000);
    match engine.history(limit) {
        Ok(h) => Json(serde_json::json!({"history": h})).into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub async fn silences(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match authorized(&app, &headers) {
        Ok(e) => Json(serde_json::json!({"silences": e.silences()})).into_response(),
        Err(r) => *r,
    }
}

#[derive(serde::Deserialize)]
pub struct NewSilence {
    matchers: std::collections::BTreeMap<String, String>,
    /// Defaults to now (a maintenance window starts later).
    #[serde(default)]
    starts_ms: Option<i64>,
    #[serde(default)]
    ends_ms: Option<i64>,
    #[serde(default)]
    duration_secs: Option<i64>,
    author: String,
    reason: String,
}

pub async fn add_silence(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Option<Json<NewSilence>>,
) -> Response {
    let engine = match authorized(&app, &headers) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let Some(Json(b)) = body else {
        return err(
            StatusCode::BAD_REQUEST,
            "send JSON: {\"matchers\": {\"site\": \"hn-dc1\"}, \"duration_secs\": 3600, \"author\": \"who\", \"reason\": \"why\"}",
        );
    };
    if b.author.trim().is_empty() || b.reason.trim().is_empty() {
        return err(StatusCode::BAD_REQUEST, "a silence needs an author and a reason");
    }
    let starts = b.starts_ms.unwrap_or_else(crate::alarm::now_ms);
    let Some(ends) = b.ends_ms.or(b.duration_secs.map(|d| starts + d * 1000)) else {
        return err(StatusCode::BAD_REQUEST, "give ends_ms or duration_secs");
    };
    let matchers = match crate::alarm::matchers::Matchers::try_from(b.matchers) {
        Ok(m) => m,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let s = crate::alarm::store::Silence {
        id: 0,
        matchers,
        starts_ms: starts,
        ends_ms: ends,
        author: b.author,
        reason: b.reason,
    };
    match engine.add_silence(s) {
        Ok(s) => (StatusCode::CREATED, Json(s)).into_response(),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

pub async fn end_silence(State(app): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let engine = match authorized(&app, &headers) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    match engine.end_silence(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(StatusCode::NOT_FOUND, e),
    }
}

/// Everything `dcwatch-collector status` shows.
pub async fn status(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let engine = match authorized(&app, &headers) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let mut st = engine.status(std::time::Instant::now());
    st["alarms"] = serde_json::Value::Array(engine.alarms().iter().map(alarm_json).collect());
    Json(st).into_response()
}
