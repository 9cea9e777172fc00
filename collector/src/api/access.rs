//! Who is calling the API, and whether their role allows what they ask.
//! Every refusal is audited (folded when many come from one place).

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::audit::Event;
use crate::auth::{ApiIdentity, Role};
use crate::state::AppState;

pub fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

/// The client's address, when the server knows it (not for requests made
/// in-process, as tests do).
#[derive(Debug, Clone, Copy)]
pub struct Client(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// The token in `Authorization: Bearer …`, `Token …` or `Basic` (the
/// password); never from the query string.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    crate::auth::presented_token(Some(h), None)
}

/// The caller's identity without refusing anyone: for pages that show more
/// to a token holder (`/health`). A token that matches none is audited as a
/// failed authentication (`what` names the request); no token at all is
/// not, as load balancers ask without one.
pub fn identify(app: &AppState, headers: &HeaderMap, client: Client, what: &str) -> Option<ApiIdentity> {
    let presented = bearer(headers).filter(|t| !t.is_empty())?;
    let who = app.live().api_tokens.find(&presented);
    if who.is_none()
        && let Some(a) = &app.audit
    {
        a.record_failure(&Event {
            actor: "-",
            role: "-",
            source: client.0,
            action: "api_auth_failed",
            target: what,
            comment: "unknown token",
            refused: true,
        });
    }
    who
}

/// The caller, if they present a token whose role is at least `need`;
/// otherwise 401 (no or unknown token) or 403 (role too low), audited.
/// `what` names the request in the audit record.
pub fn require(
    app: &AppState,
    headers: &HeaderMap,
    client: Client,
    need: Role,
    what: &str,
) -> Result<ApiIdentity, Box<Response>> {
    let live = app.live();
    if live.api_tokens.is_empty() {
        return Err(Box::new(err(StatusCode::FORBIDDEN, "no api.tokens are configured")));
    }
    let presented = bearer(headers);
    let Some(who) = presented.as_deref().and_then(|t| live.api_tokens.find(t)) else {
        if let Some(a) = &app.audit {
            let why = if presented.as_deref().is_none_or(str::is_empty) { "missing token" } else { "unknown token" };
            a.record_failure(&Event {
                actor: "-",
                role: "-",
                source: client.0,
                action: "api_auth_failed",
                target: what,
                comment: why,
                refused: true,
            });
        }
        return Err(Box::new(err(StatusCode::UNAUTHORIZED, "missing or unknown API token")));
    };
    if who.role < need {
        if let Some(a) = &app.audit {
            let comment = format!("needs role {}", need.as_str());
            a.record_failure(&Event {
                actor: &who.name,
                role: who.role.as_str(),
                source: client.0,
                action: "api_forbidden",
                target: what,
                comment: &comment,
                refused: true,
            });
        }
        return Err(Box::new(err(
            StatusCode::FORBIDDEN,
            format!("token `{}` has role {}; this needs {}", who.name, who.role.as_str(), need.as_str()),
        )));
    }
    Ok(who)
}

/// Records an action a caller did.
pub fn audit(app: &AppState, who: &ApiIdentity, client: Client, action: &str, target: &str, comment: &str) {
    if let Some(a) = &app.audit {
        a.record(&Event {
            actor: &who.name,
            role: who.role.as_str(),
            source: client.0,
            action,
            target,
            comment,
            refused: false,
        });
    }
}
