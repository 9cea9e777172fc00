//! `GET /api/peer/log?after=N&limit=M`: this collector's log, for its peer
//! only (the shared secret as a bearer token). The read is the peer's
//! heartbeat; the answer is this collector's.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::access::{self, Client};
use crate::state::AppState;

/// The header in which a collector names itself when it reads its peer's log.
pub const NAME_HEADER: &str = "x-dcwatch-peer";

#[derive(Debug, serde::Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: usize,
    /// With it, this collector's audit records after this id come too.
    #[serde(default)]
    audit_after: Option<i64>,
    /// With it, the console's users changed after this time (ms) come too.
    #[serde(default)]
    users_after: Option<i64>,
}

fn default_limit() -> usize {
    super::PAGE
}

pub async fn log(
    State(app): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> Response {
    let (Some(peering), Some(engine)) = (app.peering.clone(), app.alarms.clone()) else {
        return access::err(StatusCode::NOT_FOUND, "this collector has no peering configured");
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(peer) = peering.peer_of_secret(presented) else {
        if let Some(a) = &app.audit {
            let why = if presented.is_empty() { "missing secret" } else { "unknown secret" };
            a.record_failure(&crate::audit::Event {
                actor: "-",
                role: "-",
                source: client.0,
                action: "peer_auth_failed",
                target: "GET /api/peer/log",
                comment: why,
                refused: true,
            });
        }
        return access::err(StatusCode::UNAUTHORIZED, "missing or unknown peer secret");
    };
    let named = headers.get(NAME_HEADER).and_then(|h| h.to_str().ok()).unwrap_or(peer);
    if named != peer {
        tracing::warn!(secret_of = %peer, says = %crate::status::printable(named),
            "a peer reads the log under another name than its secret's; taken as the secret's");
    }
    let now = crate::alarm::now_ms();
    peering.heard(peer, now);
    let (after, limit) = (q.after.max(0), q.limit.clamp(1, super::PAGE));
    let audit = app.audit.clone();
    let audit_after = q.audit_after.map(|a| a.max(0));
    let (users, users_after) = (peering.users.clone(), q.users_after);
    // Which target each receiver's name stands for, so the peer takes this
    // one's deliveries for its own only to the same place.
    let engine_receivers: std::collections::BTreeMap<String, String> =
        engine.config().receivers.iter().map(|r| (r.name.clone(), r.target_digest())).collect();
    let bots = crate::alarm::telegram::bot_chats(&engine.config());
    let read = tokio::task::spawn_blocking(move || {
        let users = match (users, users_after) {
            (Some(u), Some(after)) => u.changed_since(after).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read the console's users for the peer");
                Vec::new()
            }),
            _ => Vec::new(),
        };
        let records = match (audit, audit_after) {
            (Some(a), Some(after)) => a.local_since(after, limit).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read the audit log for the peer");
                Vec::new()
            }),
            _ => Vec::new(),
        };
        engine.log_since(after, limit).map(|l| (l, records, users))
    })
    .await;
    match read {
        Ok(Ok(((log_id, entries, last_seq), audit, users))) => axum::Json(serde_json::json!({
            "name": peering.config().name,
            "rank": peering.config().rank,
            "log_id": log_id,
            "last_seq": last_seq,
            "time_ms": now,
            "entries": entries,
            "audit": audit,
            "users": users,
            "receivers": engine_receivers,
            "bots": bots,
        }))
        .into_response(),
        Ok(Err(e)) => access::err(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the log: {e}")),
        Err(e) => access::err(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the log: {e}")),
    }
}
