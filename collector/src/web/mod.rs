//! The web console at `/ui` (docs/web.md): users and their sessions, the
//! login with its rate limit, CSRF tokens and the one check every action
//! goes through ([`authorize`]), the layout every page shares, and the
//! pages. Served by the API's listener, with its TLS.

mod alarms;
mod audit;
mod backups;
pub mod cli;
pub mod config;
mod devices;
mod hosts;
mod layout;
mod limit;
mod login;
mod overview;
mod pages;
mod peer;
mod reports;
pub mod session;
mod show;
mod spark;
pub mod users;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::access::Client;
use crate::audit::Event;
use crate::auth::Role;
use crate::i18n::Lang;
use crate::state::AppState;

/// What the console's handlers share.
/// Password checks run at once (see [`Web::checks`]).
pub const PASSWORD_CHECKS: usize = 2;
/// How long a login waits for a password check before it is told to try again.
pub const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(10);

pub struct Web {
    pub app: Arc<AppState>,
    pub users: users::Users,
    pub sessions: session::Sessions,
    pub limit: limit::LoginLimit,
    /// Password checks running at once: each argon2id check takes about
    /// 19 MiB, so a flood of logins must wait here, not run the collector
    /// out of memory.
    pub checks: tokio::sync::Semaphore,
    pub cfg: config::WebConfig,
    /// The listener has TLS: cookies are `Secure`.
    pub secure: bool,
    pub tz: jiff::tz::TimeZone,
    /// The zone of the reports' days (`reports.timezone`, else `tz`).
    pub report_tz: jiff::tz::TimeZone,
    pub wall: Vec<config::Cidr>,
}

impl Web {
    pub fn new(
        app: Arc<AppState>,
        cfg: config::WebConfig,
        secure: bool,
        tz: jiff::tz::TimeZone,
    ) -> Result<Web, crate::db::OpenError> {
        let users = users::Users::open(&cfg.users_db)?;
        let sessions =
            session::Sessions::new(Duration::from_secs(cfg.idle_timeout_secs), Duration::from_secs(cfg.lifetime_secs));
        let wall = cfg.wall.blocks();
        Ok(Web {
            app,
            users,
            sessions,
            limit: limit::LoginLimit::default(),
            checks: tokio::sync::Semaphore::new(PASSWORD_CHECKS),
            cfg,
            secure,
            report_tz: tz.clone(),
            tz,
            wall,
        })
    }

    /// Records an action or a refusal in the audit log.
    fn audit(&self, e: &Event<'_>) {
        if let Some(a) = &self.app.audit {
            if e.refused { a.record_failure(e) } else { a.record(e) }
        }
    }
}

/// `app` with the console under `/ui`, if `web.enabled`.
pub fn mount(app: Router, config: &crate::config::CollectorConfig, state: &Arc<AppState>) -> anyhow::Result<Router> {
    use anyhow::Context;
    if !config.web.enabled {
        return Ok(app);
    }
    let mut web = Web::new(state.clone(), config.web.clone(), config.listen.tls.is_some(), config.tz())
        .context("web.users_db")?;
    web.report_tz = config.reports.tz(&config.tz());
    // The hosts and devices pages read more of the latest state than the alarms do.
    if let Some(e) = &state.alarms {
        e.watch_also(hosts::MEASUREMENTS);
        e.watch_also(&devices::measurements());
    }
    match web.users.any_enabled() {
        Ok(true) => tracing::info!(path = "/ui", "web console on"),
        _ => tracing::warn!(
            users_db = %config.web.users_db.display(),
            "web console on at /ui, but it has no user yet: add one with `dcwatch-collector user add NAME --role admin`"
        ),
    }
    Ok(app.merge(router(Arc::new(web))))
}

/// The console's routes, apart from any listener so tests call them directly.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::overview))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/lang", post(pages::set_lang))
        .route("/ui/wall", get(pages::wall))
        .route("/ui/alarms", get(alarms::list))
        .route("/ui/alarms/ack", post(alarms::ack_many))
        .route("/ui/alarms/history", get(alarms::history))
        .route("/ui/alarms/{fingerprint}", get(alarms::one))
        .route("/ui/alarms/{fingerprint}/ack", post(alarms::ack))
        .route("/ui/alarms/{fingerprint}/silence", post(alarms::silence))
        .route("/ui/silences/{id}/end", post(alarms::end_silence))
        .route("/ui/backups", get(backups::page))
        .route("/ui/reports", get(reports::list))
        .route("/ui/reports/{period}", get(reports::one))
        .route("/ui/audit", get(audit::page))
        .route("/ui/hosts", get(hosts::list))
        .route("/ui/hosts/{site}/{host}", get(hosts::one))
        .route("/ui/devices", get(devices::list))
        .route("/ui/devices/{site}/{device}", get(devices::one))
        .route("/ui/assets/{name}", get(layout::asset))
        // Any other path, however deep: the console's own 404 page, with its headers.
        .route("/ui/{*page}", get(pages::not_found))
        .layer(axum::middleware::map_response_with_state(web.secure, secure_headers))
        .layer(axum::middleware::map_request(remember_path))
        .with_state(web)
}

/// The header [`remember_path`] sets: the page a GET asked for, so a
/// request without a session is sent to the login and then back to it.
const PATH_HEADER: &str = "x-dcwatch-path";

/// Puts the path (and query) of a GET into [`PATH_HEADER`], replacing any
/// the client sent; removes it from every other request.
async fn remember_path(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = (req.method() == axum::http::Method::GET)
        .then(|| req.uri().path_and_query().and_then(|p| HeaderValue::from_str(p.as_str()).ok()))
        .flatten();
    match path {
        Some(p) => req.headers_mut().insert(PATH_HEADER, p),
        None => req.headers_mut().remove(PATH_HEADER),
    };
    req
}

/// `next` if it is a page of the console to go back to after the login:
/// a path under `/ui/` (not the login itself), on this host (no `//`, no
/// backslash, no scheme), of printable ASCII, at most 2000 bytes.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with("/ui/")
        && !next.starts_with("/ui/login")
        && !next.starts_with("/ui/logout")
        && !next.contains("//")
        && !next.contains('\\')
        && next.len() <= 2000
        && next.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(next)
}

/// Every answer: no framing, no sniffing, scripts and styles from here
/// only, forms posted only here; pages are not cached (they hold a CSRF
/// token); under TLS, browsers keep to HTTPS for a year (HSTS). An answer
/// that sets its own, stricter policy keeps it (a report's HTML:
/// `reports::report_csp`).
async fn secure_headers(axum::extract::State(tls): axum::extract::State<bool>, mut r: Response) -> Response {
    let h = r.headers_mut();
    if tls {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    r
}

/// Someone logged in, as the current request shows them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: String,
    pub session: session::Session,
    pub user: users::User,
    pub lang: Lang,
}

/// The language of a request without a user's choice: the first of vi and
/// en the browser asks for (by `q`), Vietnamese when it names neither.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    let Some(h) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else { return Lang::Vi };
    let mut best: Option<(f32, Lang)> = None;
    for part in h.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("vi") => Lang::Vi,
            Some("en") => Lang::En,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::Vi, |(_, l)| l)
}

/// The value of the console's cookie `name` (as [`session::cookie_name`]
/// sends it), if the request has it.
pub fn cookie_of(web: &Web, headers: &HeaderMap, name: &str) -> Option<String> {
    let name = session::cookie_name(name, web.secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, &name))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The session cookie's token, if the request has one.
fn session_token(web: &Web, headers: &HeaderMap) -> Option<String> {
    cookie_of(web, headers, session::COOKIE)
}

/// The header of a page's live updates (`assets/live.js`).
pub const LIVE_HEADER: &str = "x-dcwatch-live";

/// Who is calling, if their session is alive and their user still exists
/// unchanged and enabled (a user disabled or given a new password since
/// the login ends the session here). A live update (its header set) does
/// not count as use of the session.
pub fn current(web: &Web, headers: &HeaderMap, now: Instant) -> Option<Caller> {
    let token = session_token(web, headers)?;
    let session = if headers.contains_key(LIVE_HEADER) {
        web.sessions.peek(&token, now)?
    } else {
        web.sessions.get(&token, now)?
    };
    let user = match web.users.get(&session.user) {
        Ok(Some(u)) if !u.disabled && u.epoch == session.epoch => u,
        Ok(_) => {
            web.sessions.end(&token);
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the console's users");
            return None;
        }
    };
    let lang = user.lang.unwrap_or_else(|| lang_of(headers));
    Some(Caller { token, session, user, lang })
}

/// Where a request without a live session is sent: the login page, saying
/// the session ended if the browser still had a cookie.
fn to_login(web: &Web, headers: &HeaderMap) -> Response {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if session_token(web, headers).is_some() {
        query.push(("m", "ended"));
    }
    let next = headers.get(PATH_HEADER).and_then(|v| v.to_str().ok()).and_then(safe_next).filter(|p| *p != "/ui/");
    if let Some(next) = next {
        query.push(("next", next));
    }
    let to = match serde_urlencoded::to_string(&query) {
        Ok(q) if !q.is_empty() => format!("/ui/login?{q}"),
        _ => "/ui/login".to_string(),
    };
    let mut r = Redirect::to(&to).into_response();
    if session_token(web, headers).is_some() {
        // The browser may drop a cookie the server has forgotten.
        if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(session::COOKIE, web.secure)) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    r
}

/// The caller of a page (GET): logged in, else sent to the login page.
pub fn viewer(web: &Web, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    current(web, headers, Instant::now()).ok_or_else(|| Box::new(to_login(web, headers)))
}

/// The one check of every action (POST) of the console: a live session,
/// the session's CSRF token in the form (`csrf`), and a role of at least
/// `need`. A refusal is answered 403 (a missing session: to the login
/// page) and audited; `what` names the action in the audit log.
pub fn authorize(
    web: &Web,
    headers: &HeaderMap,
    client: Client,
    csrf: Option<&str>,
    need: Role,
    what: &str,
) -> Result<Caller, Box<Response>> {
    let caller = viewer(web, headers)?;
    if !csrf.is_some_and(|c| session::same_token(c, &caller.session.csrf)) {
        let t = caller.lang.web();
        return Err(refuse(
            web,
            &caller,
            client,
            "web_csrf_refused",
            what,
            "missing or wrong CSRF token",
            t.csrf_refused,
        ));
    }
    require_role(web, &caller, client, need, what)?;
    Ok(caller)
}

/// The role check of [`authorize`] alone, for a page only some roles may
/// read (a GET has no CSRF token to check): below `need`, 403, audited
/// `web_forbidden` with `what` as its target.
pub fn require_role(web: &Web, caller: &Caller, client: Client, need: Role, what: &str) -> Result<(), Box<Response>> {
    if caller.user.role >= need {
        return Ok(());
    }
    let comment = format!("needs role {}", need.as_str());
    Err(refuse(web, caller, client, "web_forbidden", what, &comment, &(caller.lang.web().role_refused)(need.as_str())))
}

/// A refusal of `caller`: audited (folded per address and minute, as every
/// refusal is), and answered 403 with `message`.
fn refuse(
    web: &Web,
    caller: &Caller,
    client: Client,
    action: &str,
    what: &str,
    comment: &str,
    message: &str,
) -> Box<Response> {
    web.audit(&Event {
        actor: &caller.user.name,
        role: caller.user.role.as_str(),
        source: client.0,
        action,
        target: what,
        comment,
        refused: true,
    });
    let t = caller.lang.web();
    Box::new(layout::message(web, Some(caller), StatusCode::FORBIDDEN, t.forbidden_title, message))
}
