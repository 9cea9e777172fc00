//! The alarm API, for tokens of `api.tokens` (`Authorization: Bearer …`,
//! `Token …` or `Basic`):
//! viewers read alarms, status, history and silences; operators also
//! acknowledge and silence; admins also read the audit log. Every action is
//! audited with the token's name.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::access::{Client, audit, err, require};
use crate::alarm::store::Alarm;
use crate::alarm::{ActionError, Engine};
use crate::auth::{ApiIdentity, Role};
use crate::state::AppState;

/// The engine, if the caller's token has at least role `need`.
fn authorized(
    app: &AppState,
    headers: &HeaderMap,
    client: Client,
    need: Role,
    what: &str,
) -> Result<(Arc<Engine>, ApiIdentity), Box<Response>> {
    let who = require(app, headers, client, need, what)?;
    let engine = app.alarms.clone().ok_or_else(|| Box::new(err(StatusCode::NOT_FOUND, "alarms are not configured")))?;
    Ok((engine, who))
}

/// Who an action is recorded as: the token's name, and the name the caller
/// typed when a shared token is used by several people.
fn author(who: &ApiIdentity, claimed: Option<&str>) -> String {
    match claimed.map(str::trim).filter(|c| !c.is_empty() && *c != who.name) {
        Some(c) => format!("{} ({c})", who.name),
        None => who.name.clone(),
    }
}

/// Runs `f` on the blocking pool: anything that takes the engine's lock
/// may wait for an evaluation's SQLite transaction, or reads SQLite itself,
/// and must not stall the async workers serving ingest.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Box<Response>> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Box::new(err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
}

/// An alarm for the API: `summary` in the default language (`alarms.lang`),
/// `summaries` in each.
pub fn alarm_json(a: &Alarm, lang: crate::i18n::Lang) -> serde_json::Value {
    serde_json::json!({
        "fingerprint": a.fingerprint,
        "name": a.name,
        "state": a.state.as_str(),
        "severity": a.severity.as_str(),
        "labels": a.labels,
        "summary": a.summary.get(lang),
        "summaries": {"vi": a.summary.vi, "en": a.summary.en},
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

pub async fn list(State(app): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Response {
    let engine = match authorized(&app, &headers, client, Role::Viewer, "GET /api/alarms") {
        Ok((e, _)) => e,
        Err(r) => return *r,
    };
    let read = blocking(move || {
        let alarms: Vec<_> = {
            let lang = engine.config().lang;
            engine.alarms().iter().map(|a| alarm_json(a, lang)).collect()
        };
        let failing: Vec<_> = engine
            .undelivered()
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                serde_json::json!({"receiver": u.receiver, "undelivered": u.count, "attempts": u.attempts, "last_error": u.last_error})
            })
            .collect();
        serde_json::json!({"alarms": alarms, "outbox": failing})
    });
    match read.await {
        Ok(v) => Json(v).into_response(),
        Err(r) => *r,
    }
}

#[derive(serde::Deserialize)]
pub struct AckBody {
    /// The person, when a token is shared; the record names the token too.
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    comment: String,
}

/// Free text a caller sent, capped and cleaned (`crate::audit::checked_text`),
/// or the 400 that says which field is too long.
fn text(field: &str, value: &str) -> Result<String, Box<Response>> {
    crate::audit::checked_text(field, value).map_err(|e| Box::new(err(StatusCode::BAD_REQUEST, e.to_string())))
}

/// Like [`text`], for an optional field.
fn opt_text(field: &str, value: Option<&str>) -> Result<Option<String>, Box<Response>> {
    value.map(|v| text(field, v)).transpose()
}

/// The answer to an action the engine did not do: 404 for an alarm or
/// silence it does not have, 409 for an alarm not acknowledged, 400 for a
/// silence its check refused, 500 for the store failing (its error is
/// logged; the caller is told the store failed, not its path).
pub(crate) fn refused(e: ActionError) -> Response {
    let status = match &e {
        ActionError::NoAlarm(_) | ActionError::NoSilence(_) => StatusCode::NOT_FOUND,
        ActionError::NotAcknowledged(_) => StatusCode::CONFLICT,
        ActionError::Refused(_) => StatusCode::BAD_REQUEST,
        ActionError::Store(s) => {
            tracing::error!(error = %s, "the alarm store failed an action");
            return err(StatusCode::INTERNAL_SERVER_ERROR, "the alarm store failed; see the collector's log");
        }
    };
    err(status, e.to_string())
}

pub async fn ack(
    State(app): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(fp): Path<String>,
    body: Option<Json<AckBody>>,
) -> Response {
    let (engine, who) = match authorized(&app, &headers, client, Role::Operator, "POST /api/alarms/{fingerprint}/ack") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let b = body.map(|Json(b)| b).unwrap_or(AckBody { by: None, comment: String::new() });
    let (comment, claimed) = match (text("comment", &b.comment), opt_text("by", b.by.as_deref())) {
        (Ok(c), Ok(by)) => (c, by),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    let by = author(&who, claimed.as_deref());
    // The audit record is written in the same blocking task as the action:
    // a client that goes away mid-request drops this future, not the task.
    let engine_lang = engine.config().lang;
    let done = tokio::task::spawn_blocking(move || {
        let a = engine.ack(&fp, &by, &comment)?;
        audit(&app, &who, client, "ack", &fp, &format!("{by}: {comment}"));
        Ok::<_, ActionError>(a)
    });
    match done.await {
        Ok(Ok(a)) => Json(alarm_json(&a, engine_lang)).into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `DELETE /api/alarms/{fingerprint}/ack`: the alarm repeats and escalates again.
pub async fn unack(
    State(app): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(fp): Path<String>,
) -> Response {
    let (engine, who) = match authorized(&app, &headers, client, Role::Operator, "DELETE /api/alarms/{fingerprint}/ack")
    {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let engine_lang = engine.config().lang;
    let done = tokio::task::spawn_blocking(move || {
        let a = engine.unack(&fp, &who.name)?;
        audit(&app, &who, client, "unack", &fp, "");
        Ok::<_, ActionError>(a)
    });
    match done.await {
        Ok(Ok(a)) => Json(alarm_json(&a, engine_lang)).into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub async fn history(
    State(app): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let engine = match authorized(&app, &headers, client, Role::Viewer, "GET /api/alarms/history") {
        Ok((e, _)) => e,
        Err(r) => return *r,
    };
    let limit = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(100usize).min(10_000);
    match blocking(move || engine.history(limit)).await {
        Ok(Ok(h)) => Json(serde_json::json!({"history": h})).into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => *r,
    }
}

pub async fn silences(State(app): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Response {
    let engine = match authorized(&app, &headers, client, Role::Viewer, "GET /api/silences") {
        Ok((e, _)) => e,
        Err(r) => return *r,
    };
    match blocking(move || engine.silences()).await {
        Ok(s) => Json(serde_json::json!({"silences": s})).into_response(),
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
    /// The person, when a token is shared; the silence names the token too.
    #[serde(default)]
    author: Option<String>,
    reason: String,
}

pub async fn add_silence(
    State(app): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    body: Result<Json<NewSilence>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let (engine, who) = match authorized(&app, &headers, client, Role::Operator, "POST /api/silences") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let b = match body {
        Ok(Json(b)) => b,
        Err(e) => {
            return err(
                StatusCode::BAD_REQUEST,
                format!(
                    "{}; send JSON: {{\"matchers\": {{\"site\": \"hn-dc1\"}}, \"duration_secs\": 3600, \"reason\": \"why\"}}",
                    e.body_text()
                ),
            );
        }
    };
    if b.reason.trim().is_empty() {
        return err(StatusCode::BAD_REQUEST, "a silence needs a reason");
    }
    let (reason, claimed) = match (text("reason", &b.reason), opt_text("author", b.author.as_deref())) {
        (Ok(r), Ok(a)) => (r, a),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    let now = crate::alarm::now_ms();
    let starts = b.starts_ms.unwrap_or(now);
    let Some(ends) = b.ends_ms.or(b.duration_secs.map(|d| starts.saturating_add(d.saturating_mul(1000)))) else {
        return err(StatusCode::BAD_REQUEST, "give ends_ms or duration_secs");
    };
    let s = crate::alarm::silence::NewSilence {
        matchers: b.matchers,
        starts_ms: starts,
        ends_ms: ends,
        author: author(&who, claimed.as_deref()),
        reason,
    };
    let done = tokio::task::spawn_blocking(move || {
        let s = engine.add_silence(s, now)?;
        let comment = format!("{:?} until {}: {}", s.matchers.raw(), s.ends_ms, s.reason);
        audit(&app, &who, client, "silence_create", &s.id.to_string(), &comment);
        Ok::<_, ActionError>(s)
    });
    match done.await {
        Ok(Ok(s)) => (StatusCode::CREATED, Json(s)).into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub async fn end_silence(
    State(app): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (engine, who) = match authorized(&app, &headers, client, Role::Operator, "DELETE /api/silences/{id}") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let done = tokio::task::spawn_blocking(move || {
        engine.end_silence(id)?;
        audit(&app, &who, client, "silence_end", &id.to_string(), "");
        Ok::<_, ActionError>(())
    });
    match done.await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/audit?actor=&action=&source=&since_ms=&until_ms=&text=&outcome=&before_id=&limit=`,
/// newest first (admins).
pub async fn audit_log(
    State(app): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Query(f): Query<crate::audit::Filter>,
) -> Response {
    if let Err(r) = require(&app, &headers, client, Role::Admin, "GET /api/audit") {
        return *r;
    }
    let Some(a) = app.audit.clone() else { return err(StatusCode::NOT_FOUND, "the audit log is not open") };
    match tokio::task::spawn_blocking(move || a.query(&f)).await {
        Ok(Ok(rows)) => Json(serde_json::json!({ "audit": rows })).into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Everything `dcwatch-collector status` shows. Without `alarms:` only the
/// sinks and the spool (`"alarms": null`).
pub async fn status(State(app): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Response {
    if let Err(r) = require(&app, &headers, client, Role::Viewer, "GET /api/status") {
        return *r;
    }
    let live = app.live();
    let (sinks, spool) = (crate::api::sinks_json(&live, dcwatch_common::now_ns()), crate::api::spool_json(&live));
    let engine = app.alarms.clone();
    let read = blocking(move || {
        let Some(engine) = engine else { return serde_json::json!({ "alarms": null }) };
        let mut st = engine.status(std::time::Instant::now());
        st["alarms"] = serde_json::Value::Array({
            let lang = engine.config().lang;
            engine.alarms().iter().map(|a| alarm_json(a, lang)).collect()
        });
        st
    });
    match read.await {
        Ok(mut st) => {
            st["sinks"] = serde_json::Value::Array(sinks);
            st["spool"] = spool;
            st["peering"] = app.peering.as_ref().map_or(serde_json::Value::Null, |p| p.status(crate::alarm::now_ms()));
            Json(st).into_response()
        }
        Err(r) => *r,
    }
}
