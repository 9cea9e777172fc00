//! The overview page and the wall display (their body is
//! [`super::overview`]), the language switch, and the 404 page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Web, authorize, layout, viewer};
use crate::api::access::Client;
use crate::auth::Role;
use crate::i18n::Lang;

type Fields = HashMap<String, String>;

pub async fn overview(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let body = super::overview::body(&web, caller.lang, true).await;
    layout::page(&web, caller.lang, Some(&caller), Some(0), caller.lang.web().overview, body).into_response()
}

/// `GET /ui/wall`: the overview without login, read-only, updated every
/// 5 s by the script (every 30 s by the browser with JavaScript off), for the addresses of `web.wall.allow_from`
/// only (none configured: off, 404).
pub async fn wall(State(web): State<Arc<Web>>, client: Client, headers: HeaderMap) -> Response {
    let lang = super::lang_of(&headers);
    let t = lang.web();
    if web.wall.is_empty() {
        return layout::message_in(&web, lang, None, StatusCode::NOT_FOUND, t.not_found, t.not_found);
    }
    if !client.0.is_some_and(|ip| web.wall.iter().any(|b| b.contains(ip))) {
        return layout::message_in(&web, lang, None, StatusCode::FORBIDDEN, t.forbidden_title, t.wall_refused);
    }
    let body = super::overview::body(&web, lang, false).await;
    let page = layout::page(&web, lang, None, Some(0), t.wall_title, body);
    ([("Refresh", "30")], page).into_response()
}

/// `POST /ui/lang`: the language the console speaks to this user from now on.
pub async fn set_lang(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let caller =
        match authorize(&web, &headers, client, f.get("csrf").map(String::as_str), Role::Viewer, "POST /ui/lang") {
            Ok(c) => c,
            Err(r) => return *r,
        };
    let lang = f.get("lang").and_then(|l| Lang::parse(l).ok());
    if let Err(e) = web.users.set_lang(&caller.user.name, lang, crate::alarm::now_ms()) {
        tracing::error!(error = %e, "cannot save the user's language");
    }
    Redirect::to("/ui/").into_response()
}

/// Any path under `/ui` no page has: the console's 404 page.
pub async fn not_found(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let caller = super::current(&web, &headers, std::time::Instant::now());
    let lang = caller.as_ref().map_or_else(|| super::lang_of(&headers), |c| c.lang);
    let t = lang.web();
    layout::message_in(&web, lang, caller.as_ref(), StatusCode::NOT_FOUND, t.not_found, t.not_found)
}
