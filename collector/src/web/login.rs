//! `GET /ui/login`, `POST /ui/login`, `POST /ui/logout`. The login form
//! carries its own CSRF token (cookie `dcwatch_login` and a form field that
//! must match); failed logins are rate-limited per name and per address
//! (`limit.rs`) and each one is audited (`web_login_failed`), and so are
//! good logins (`web_login`), logouts (`web_logout`) and attempts the
//! limit refused (`web_login_limited`, folded per minute like other floods).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::session::{self, LOGIN_COOKIE};
use super::{Web, layout};
use crate::api::access::Client;
use crate::audit::Event;
use crate::auth::Role;
use crate::i18n::Lang;
use crate::web::users::{MAX_PASSWORD_CHARS, Refused};

type Fields = HashMap<String, String>;

fn chosen_lang(fields: &Fields, headers: &HeaderMap) -> Lang {
    fields.get("lang").and_then(|l| Lang::parse(l).ok()).unwrap_or_else(|| super::lang_of(headers))
}

fn with_cookies(mut r: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// How a name that is no user's is written in the audit log: the first 12
/// hex digits of its SHA-256, enough to see one name tried many times.
fn unknown_name(name: &str) -> String {
    let h = crate::auth::sha256(name);
    format!("(unknown {})", hex::encode(&h[..6]))
}

/// The login page with a fresh form token; `error` is shown above the form.
fn render(
    web: &Web,
    lang: Lang,
    status: StatusCode,
    notice: Option<(&str, bool)>,
    name: &str,
    next: Option<&str>,
) -> Response {
    let t = lang.web();
    let token = session::random_token();
    let no_users = !web.users.any_enabled().unwrap_or(true);
    let body = html! {
        h1 { (t.login_title) }
        @if let Some((text, error)) = notice {
            p.notice.error[error] role=[error.then_some("alert")] { (text) }
        }
        @if no_users {
            p.notice { (t.no_users) }
        }
        form.login method="post" action="/ui/login" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="lang" value=(lang.code());
            @if let Some(next) = next { input type="hidden" name="next" value=(next); }
            label for="user" { (t.user_name) }
            input #user type="text" name="user" value=(name) autocomplete="username" autocapitalize="none" required;
            label for="password" { (t.password) }
            input #password type="password" name="password" autocomplete="current-password" required;
            button.primary type="submit" { (t.log_in) }
        }
        p {
            a href=(other_lang_link(lang, next)) lang=(layout::other(lang).code()) {
                (t.other_language)
            }
        }
    };
    let page = layout::page(web, lang, None, None, t.login_title, body);
    with_cookies((status, page).into_response(), &[session::set_cookie(LOGIN_COOKIE, &token, web.secure)])
}

/// The login page in the other language, going back to the same page after.
fn other_lang_link(lang: Lang, next: Option<&str>) -> String {
    let mut q = vec![("lang", layout::other(lang).code())];
    q.extend(next.map(|n| ("next", n)));
    format!("/ui/login?{}", serde_urlencoded::to_string(&q).unwrap_or_default())
}

pub async fn form(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let next = q.get("next").and_then(|n| super::safe_next(n));
    if super::current(&web, &headers, Instant::now()).is_some() {
        return Redirect::to(next.unwrap_or("/ui/")).into_response();
    }
    let lang = chosen_lang(&q, &headers);
    let t = lang.web();
    let notice = match q.get("m").map(String::as_str) {
        Some("ended") => Some((t.session_ended, false)),
        Some("out") => Some((t.logged_out, false)),
        _ => None,
    };
    render(&web, lang, StatusCode::OK, notice, "", next)
}

fn login_cookie(web: &Web, headers: &HeaderMap) -> Option<String> {
    super::cookie_of(web, headers, LOGIN_COOKIE)
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let lang = chosen_lang(&f, &headers);
    let t = lang.web();
    let name: String = f.get("user").map(|n| n.trim().chars().take(64).collect()).unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let next = f.get("next").and_then(|n| super::safe_next(n));
    let event = |action, comment, refused| Event {
        actor: if name.is_empty() { "-" } else { &name },
        role: "-",
        source: client.0,
        action,
        target: "/ui/login",
        comment,
        refused,
    };
    let form_ok =
        matches!((f.get("csrf"), login_cookie(&web, &headers)), (Some(a), Some(b)) if session::same_token(a, &b));
    if !form_ok {
        web.audit(&event("web_csrf_refused", "login form without its token", true));
        return layout::message_in(&web, lang, None, StatusCode::FORBIDDEN, t.forbidden_title, t.csrf_refused);
    }
    let now = Instant::now();
    if let Err(wait) = web.limit.attempt(&name, client.0, now) {
        web.audit(&event("web_login_limited", "too many failed logins", true));
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let mut r =
            render(&web, lang, StatusCode::TOO_MANY_REQUESTS, Some((&(t.rate_limited)(minutes), true)), &name, next);
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // A password no user can have is not hashed (argon2 of a megabyte).
    let checked = if password.chars().count() > MAX_PASSWORD_CHARS {
        Ok(Ok(Err(Refused::WrongPassword)))
    } else {
        let Ok(Ok(_permit)) = tokio::time::timeout(super::PASSWORD_CHECK_WAIT, web.checks.acquire()).await else {
            web.limit.withdraw(&name, client.0, now);
            return render(&web, lang, StatusCode::SERVICE_UNAVAILABLE, Some((t.login_busy, true)), &name, next);
        };
        let (web, name, password) = (web.clone(), name.clone(), password.clone());
        tokio::task::spawn_blocking(move || web.users.check_login(&name, &password)).await
    };
    let user = match checked {
        Ok(Ok(Ok(u))) => u,
        Ok(Ok(Err(why))) => {
            // Each failure is recorded whole (the limit bounds how many). A
            // name no user has is not written as it was typed: it may be a
            // password typed into the wrong box.
            let hidden = unknown_name(&name);
            let actor = if why == Refused::UnknownUser { hidden.as_str() } else { event("", "", true).actor };
            if let Some(a) = &web.app.audit {
                a.record(&Event { actor, ..event("web_login_failed", why.as_str(), true) });
            }
            return render(&web, lang, StatusCode::UNAUTHORIZED, Some((t.wrong_login, true)), &name, next);
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read the console's users");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "the login check panicked");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    web.limit.succeeded(&user.name, client.0, now);
    let (token, _) = web.sessions.open(&user.name, user.role, user.epoch, now);
    web.audit(&Event { role: user.role.as_str(), ..event("web_login", "", false) });
    with_cookies(
        Redirect::to(next.unwrap_or("/ui/")).into_response(),
        &[session::set_cookie(session::COOKIE, &token, web.secure), session::clear_cookie(LOGIN_COOKIE, web.secure)],
    )
}

pub async fn logout(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let caller = match super::authorize(
        &web,
        &headers,
        client,
        f.get("csrf").map(String::as_str),
        Role::Viewer,
        "POST /ui/logout",
    ) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    web.sessions.end(&caller.token);
    web.audit(&Event {
        actor: &caller.user.name,
        role: caller.user.role.as_str(),
        source: client.0,
        action: "web_logout",
        target: "/ui/logout",
        comment: "",
        refused: false,
    });
    with_cookies(Redirect::to("/ui/login?m=out").into_response(), &[session::clear_cookie(session::COOKIE, web.secure)])
}
