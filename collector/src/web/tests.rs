//! The console's router called without a listener: the CSRF and role
//! check every action goes through, and the language a page is written in.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::state::{AppState, Live};

/// What the listener would serve with: no tokens, no sinks.
pub(super) fn live() -> Live {
    Live {
        tokens: crate::ingest::auth::Tokens::new(std::iter::empty(), true),
        sinks: Vec::new(),
        durable: None,
        max_body_bytes: 1 << 20,
        read_timeout: Duration::from_secs(1),
        api_tokens: crate::auth::TokenTable::default(),
        metrics_require_token: false,
        rate: crate::ingest::rate::Rate { points_per_sec: 0.0, burst_points: 0.0 },
        health: Default::default(),
    }
}

pub(super) fn web(dir: &tempfile::TempDir) -> Arc<Web> {
    web_with(dir, |_| {})
}

/// [`web`] with an alarm engine (the built-in alarms, one site `hn`).
fn web_with_alarms(dir: &tempfile::TempDir) -> Arc<Web> {
    let yaml = format!("db: {}\nsites:\n  - name: hn\n", dir.path().join("alarms.db").display());
    let cfg = dcwatch_common::config::parse(&yaml, std::path::Path::new("alarms.yaml")).unwrap();
    let engine = Arc::new(crate::alarm::Engine::open(cfg).unwrap());
    web_with(dir, |s| s.alarms = Some(engine))
}

/// [`web`] with the state changed by `f` first (alarms, trends).
pub(super) fn web_with(dir: &tempfile::TempDir, f: impl FnOnce(&mut AppState)) -> Arc<Web> {
    let mut state = AppState::new(live());
    state.audit = Some(Arc::new(crate::audit::Audit::open(&dir.path().join("audit.db"), 400).unwrap()));
    f(&mut state);
    let cfg = config::WebConfig { users_db: dir.path().join("users.db"), ..Default::default() };
    let web = Web::new(Arc::new(state), cfg, false, jiff::tz::TimeZone::UTC).unwrap();
    web.users.add("lan", Role::Viewer, "mật-khẩu-của-lan", None, 1_000).unwrap();
    web.users.add("nam", Role::Operator, "mật-khẩu-của-nam", Some(Lang::En), 1_000).unwrap();
    Arc::new(web)
}

/// A session of `name` opened directly; returns (cookie header, CSRF token).
pub(super) fn session_of(web: &Web, name: &str) -> (String, String) {
    let u = web.users.get(name).unwrap().unwrap();
    let (token, s) = web.sessions.open(name, u.role, u.epoch, std::time::Instant::now());
    (format!("{}={token}", session::COOKIE), s.csrf)
}

pub(super) async fn post(web: &Arc<Web>, uri: &str, cookie: &str, body: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(web, req).await
}

/// A GET of `uri` with the cookie header `cookie`.
pub(super) async fn get(web: &Arc<Web>, uri: &str, cookie: &str) -> (StatusCode, HeaderMap, String) {
    send(web, Request::get(uri).header(header::COOKIE, cookie).body(Body::empty()).unwrap()).await
}

async fn send(web: &Arc<Web>, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let resp = router(web.clone()).oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, headers, text)
}

pub(super) fn actions(web: &Web) -> Vec<(String, String, String)> {
    let rows = web.app.audit.as_ref().unwrap().query(&crate::audit::Filter::default()).unwrap();
    rows.into_iter().rev().map(|r| (r.actor, r.action, r.outcome)).collect()
}

/// Every action of the alarms pages goes through the one check: a viewer's
/// good token and an operator's missing one are both refused, 403.
#[tokio::test]
async fn web_every_alarm_action_refuses_a_viewer_and_a_post_without_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let web = web(&dir);
    let (lan, lan_csrf) = session_of(&web, "lan");
    let (nam, _) = session_of(&web, "nam");
    for uri in ["/ui/alarms/ack", "/ui/alarms/abc/ack", "/ui/alarms/abc/silence", "/ui/silences/1/end"] {
        let (status, _, text) =
            post(&web, uri, &lan, &format!("csrf={lan_csrf}&fp=abc&comment=x&reason=y&hours=1")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert!(text.contains("Thao tác này cần vai trò operator."), "{uri}: {text}");
        let (status, _, text) = post(&web, uri, &nam, "fp=abc&comment=x&reason=y&hours=1").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        // nam reads English.
        assert!(text.contains("The form has no valid protection token, or an old one."), "{uri}: {text}");
    }
}

#[tokio::test]
async fn web_a_post_without_the_sessions_csrf_token_or_with_too_low_a_role_is_refused_403_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let web = web(&dir);
    let (lan, lan_csrf) = session_of(&web, "lan");
    let (nam, nam_csrf) = session_of(&web, "nam");
    // No token, a wrong one, another session's: 403.
    for body in [String::new(), "csrf=0000".into(), format!("csrf={nam_csrf}")] {
        let (status, _, text) = post(&web, "/ui/lang", &lan, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(text.contains(VI_CSRF), "{text}");
    }
    // A viewer with a good token, on an operator's action: 403.
    let (status, _, text) = post(&web, "/ui/alarms/abc/ack", &lan, &format!("csrf={lan_csrf}&comment=x")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("Thao tác này cần vai trò operator."), "{text}");
    // An operator passes the check (and finds alarms are off: 404).
    let (status, _, _) = post(&web, "/ui/alarms/abc/ack", &nam, &format!("csrf={nam_csrf}&comment=x")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // No session at all: to the login page.
    let (status, headers, _) = post(&web, "/ui/lang", "", "csrf=x").await;
    assert_eq!((status, headers[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/login"));
    let web_refusals: Vec<_> = actions(&web);
    assert_eq!(
        web_refusals,
        vec![
            ("lan".into(), "web_csrf_refused".into(), "refused".into()),
            ("lan".into(), "web_forbidden".into(), "refused".into()),
        ],
        "three CSRF refusals in a minute from one place fold into one record (written when the window ends)"
    );
    // A good token: the language is saved, and the next page is in English.
    let (status, headers, _) = post(&web, "/ui/lang", &lan, &format!("csrf={lan_csrf}&lang=en")).await;
    assert_eq!((status, headers[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/"));
    assert_eq!(web.users.get("lan").unwrap().unwrap().lang, Some(Lang::En));
}

const VI_CSRF: &str = "Biểu mẫu thiếu mã bảo vệ hoặc mã đã cũ.";

#[test]
fn web_the_language_follows_accept_language_and_is_vietnamese_otherwise() {
    let h = |v: &str| {
        let mut m = HeaderMap::new();
        m.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
        m
    };
    assert_eq!(lang_of(&HeaderMap::new()), Lang::Vi);
    assert_eq!(lang_of(&h("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7")), Lang::Vi);
    assert_eq!(lang_of(&h("en-GB,en;q=0.9")), Lang::En);
    assert_eq!(lang_of(&h("fr-FR,en;q=0.5,vi;q=0.8")), Lang::Vi);
    assert_eq!(lang_of(&h("de,fr")), Lang::Vi);
    assert_eq!(lang_of(&h("vi;q=0,en")), Lang::En);
}

#[tokio::test]
async fn web_a_failed_login_of_a_name_no_user_has_is_audited_without_the_name_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let web = web(&dir);
    let form = "dcwatch_login=t0k3n";
    let (status, _, _) = post(&web, "/ui/login", form, "csrf=t0k3n&user=Hunter2-secret&password=x").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = post(&web, "/ui/login", form, "csrf=t0k3n&user=nam&password=wrong-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let hidden = format!("(unknown {})", &hex::encode(crate::auth::sha256("Hunter2-secret"))[..12]);
    assert_eq!(
        actions(&web),
        vec![
            (hidden, "web_login_failed".to_string(), "refused".to_string()),
            ("nam".to_string(), "web_login_failed".to_string(), "refused".to_string()),
        ]
    );
}

#[tokio::test]
async fn web_answers_carry_hsts_under_tls_only() {
    let dir = tempfile::tempdir().unwrap();
    let plain = web(&dir);
    let get = |w: Arc<Web>| async move {
        let resp = router(w).oneshot(Request::get("/ui/login").body(Body::empty()).unwrap()).await.unwrap();
        resp.headers().get(header::STRICT_TRANSPORT_SECURITY).map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(get(plain.clone()).await, None);
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = config::WebConfig { users_db: dir2.path().join("users.db"), ..Default::default() };
    let tls = Arc::new(Web::new(plain.app.clone(), cfg, true, jiff::tz::TimeZone::UTC).unwrap());
    assert_eq!(get(tls).await, Some("max-age=31536000".to_string()));
}

async fn get_with(web: &Arc<Web>, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router(web.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, headers, text)
}

/// The pages of the nav carry the live-update script and say how often it
/// runs; the login and message pages do not. The script is served from
/// the binary under its hash. A live update is answered like any GET but
/// does not count as use of the session (its idle timeout still runs).
#[tokio::test]
async fn web_nav_pages_update_themselves_with_the_one_script_and_live_updates_do_not_keep_a_session_alive() {
    let dir = tempfile::tempdir().unwrap();
    let web = web(&dir);
    let (nam, _) = session_of(&web, "nam");
    let (status, _, page) = get_with(&web, "/ui/", &[("cookie", nam.as_str())]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<main id="main" data-live="5">"#), "{page}");
    assert!(
        page.contains(
            r#"<div class="notice error" id="live-lost" role="status" hidden>Lost the connection to the server"#
        ),
        "{page}"
    );
    let src = page.split(r#"<script src=""#).nth(1).and_then(|s| s.split('"').next()).expect("a script tag");
    assert!(
        src.starts_with("/ui/assets/live-") && src.ends_with(".js") && src.len() == "/ui/assets/live-".len() + 19,
        "{src}"
    );
    let (status, headers, js) = get_with(&web, src, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert!(js.contains(r#""X-Dcwatch-Live": "1""#), "{js}");
    let (status, _, _) = get_with(&web, "/ui/assets/live-0000000000000000.js", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, login) = get_with(&web, "/ui/login", &[]).await;
    assert!(!login.contains("<script") && !login.contains("data-live"), "{login}");
    // The audit log is searched when asked for, not every 5 s.
    web.users.add("minh", Role::Admin, "mật-khẩu-của-minh", None, 1_000).unwrap();
    let (minh, _) = session_of(&web, "minh");
    let (status, _, audit) = get_with(&web, "/ui/audit", &[("cookie", minh.as_str())]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(audit.contains("<nav") && !audit.contains("<script") && !audit.contains("data-live"), "{audit}");

    // A session last used 20 minutes ago: a live update leaves it so.
    let u = web.users.get("lan").unwrap().unwrap();
    let then = std::time::Instant::now() - Duration::from_secs(20 * 60);
    let (token, _) = web.sessions.open("lan", u.role, u.epoch, then);
    let cookie = format!("{}={token}", session::COOKIE);
    let (status, _, _) = get_with(&web, "/ui/", &[("cookie", cookie.as_str()), (LIVE_HEADER, "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(web.sessions.peek(&token, std::time::Instant::now()).map(|s| s.last_seen), Some(then));
    // A page the user opens is use.
    let (status, _, _) = get_with(&web, "/ui/", &[("cookie", cookie.as_str())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(web.sessions.peek(&token, std::time::Instant::now()).map(|s| s.last_seen), Some(then));
}

/// A silence the console refuses says why in the reader's language: the
/// silence check's reasons, a matcher line that is not `label=value`, a
/// missing reason, a duration not offered, a comment too long.
#[tokio::test]
async fn web_a_refused_silence_or_ack_says_why_in_the_readers_language() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_with_alarms(&dir);
    // An operator who reads Vietnamese (no language of her own: the browser's, none here).
    web.users.add("minh", Role::Operator, "mật-khẩu-của-minh", None, 1_000).unwrap();
    let (lan, lan_csrf) = session_of(&web, "minh");
    let (nam, nam_csrf) = session_of(&web, "nam");
    let form = |csrf: &str, matchers: &str, reason: &str, hours: &str| {
        let enc = |v: &str| serde_urlencoded::to_string([("x", v)]).unwrap()[2..].to_string();
        format!("csrf={csrf}&matchers={}&reason={}&hours={hours}", enc(matchers), enc(reason))
    };
    let cases = [
        (
            "alertname=~.*",
            "bảo trì",
            "1",
            "Các điều kiện này khớp với mọi cảnh báo, nên sẽ tắt tất cả.",
            "These matchers match every alarm, so they would silence them all.",
        ),
        (
            "site=hn\nbroken",
            "bảo trì",
            "1",
            "Dòng 2: mỗi dòng một điều kiện, dạng nhãn=giá trị.",
            "Line 2: one matcher per line, as label=value.",
        ),
        ("site=hn", " ", "1", "Hãy ghi lý do tạm tắt.", "Give a reason for the silence."),
        (
            "site=hn",
            "bảo trì",
            "0",
            "Hãy chọn thời gian tạm tắt trong danh sách.",
            "Choose how long to silence for from the list.",
        ),
        (
            "host=~web[",
            "bảo trì",
            "1",
            "Điều kiện `host: ~web[` không phải biểu thức chính quy: unclosed character class",
            "Matcher `host: ~web[` is not a regular expression: unclosed character class",
        ),
        (
            "site=hn",
            "bảo trì",
            "2000",
            "Tạm tắt kéo dài tối đa 720 giờ (alarms.silences.max_duration_secs); ở đây là 2.000 giờ.",
            "A silence may last at most 720 hours (alarms.silences.max_duration_secs); this one lasts 2,000.",
        ),
    ];
    for (matchers, reason, hours, vi, en) in cases {
        let (status, _, text) =
            post(&web, "/ui/alarms/abc/silence", &lan, &form(&lan_csrf, matchers, reason, hours)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{matchers}");
        assert!(text.contains(vi), "{matchers}: {text}");
        let (status, _, text) =
            post(&web, "/ui/alarms/abc/silence", &nam, &form(&nam_csrf, matchers, reason, hours)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{matchers}");
        assert!(text.contains(en), "{matchers}: {text}");
    }
    let long = "x".repeat(1025);
    let (status, _, text) = post(&web, "/ui/alarms/ack", &lan, &format!("csrf={lan_csrf}&fp=abc&comment={long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("Ghi chú dài 1025 ký tự; tối đa 1024."), "{text}");
    assert!(web.app.alarms.as_ref().unwrap().silences().is_empty(), "nothing was silenced");
}

/// A path under /ui that no page has, however deep, is the console's 404
/// page, with the console's headers (its CSP among them).
#[tokio::test]
async fn web_an_unknown_path_however_deep_is_the_consoles_404_with_its_headers() {
    let dir = tempfile::tempdir().unwrap();
    let web = web(&dir);
    for uri in ["/ui/nothing", "/ui/alarms/a/b/c", "/ui/a/b"] {
        let (status, headers, text) = get_with(&web, uri, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'self'"), "{uri}");
        assert!(text.contains("<h1>Không tìm thấy trang.</h1>"), "{uri}: {text}");
    }
}

/// Under TLS the cookies carry the `__Secure-` prefix, and only the
/// prefixed one is read: a cookie planted over plain HTTP by another page
/// of the host (which cannot have the prefix) is not a session.
#[tokio::test]
async fn web_under_tls_the_cookies_are_secure_prefixed_and_only_those_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let plain = web(&dir);
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = config::WebConfig { users_db: dir2.path().join("users.db"), ..Default::default() };
    let tls = Arc::new(Web::new(plain.app.clone(), cfg, true, jiff::tz::TimeZone::UTC).unwrap());
    tls.users.add("lan", Role::Viewer, "mật-khẩu-của-lan", None, 1_000).unwrap();
    let (_, headers, _) = get_with(&tls, "/ui/login", &[]).await;
    let set = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("__Secure-dcwatch_login=") && set.ends_with("; Path=/ui; HttpOnly; SameSite=Strict; Secure"),
        "{set}"
    );
    let u = tls.users.get("lan").unwrap().unwrap();
    let (token, _) = tls.sessions.open("lan", u.role, u.epoch, std::time::Instant::now());
    let (status, headers, _) = get_with(&tls, "/ui/", &[("cookie", &format!("dcwatch_session={token}"))]).await;
    assert_eq!((status, headers[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/login"));
    let (status, _, _) = get_with(&tls, "/ui/", &[("cookie", &format!("__Secure-dcwatch_session={token}"))]).await;
    assert_eq!(status, StatusCode::OK);
}

/// A page asked for without a session (a link from a notice) sends the
/// browser to the login and, after it, back to that page; only a page of
/// the console is gone back to (no other host, no scheme, not the login).
#[tokio::test]
async fn web_a_page_opened_without_a_session_is_shown_after_the_login() {
    let dir = tempfile::tempdir().unwrap();
    let web = web(&dir);
    let (status, headers, _) = get_with(&web, "/ui/alarms/f00d?x=1", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/login?next=%2Fui%2Falarms%2Ff00d%3Fx%3D1");
    // A header of the client's own is replaced by the path it asked for.
    let (_, headers, _) = get_with(&web, "/ui/hosts", &[("x-dcwatch-path", "/ui/audit")]).await;
    assert_eq!(headers[header::LOCATION], "/ui/login?next=%2Fui%2Fhosts");
    let (_, headers, _) = get_with(&web, "/ui/", &[]).await;
    assert_eq!(headers[header::LOCATION], "/ui/login");
    let (_, _, page) = get_with(&web, "/ui/login?next=%2Fui%2Falarms%2Ff00d", &[]).await;
    assert!(page.contains(r#"<input type="hidden" name="next" value="/ui/alarms/f00d">"#), "{page}");
    assert!(page.contains(r#"href="/ui/login?lang=en&amp;next=%2Fui%2Falarms%2Ff00d""#), "{page}");
    let (_, _, page) = get_with(&web, "/ui/login?next=%2F%2Fevil.example%2Fui%2F", &[]).await;
    assert!(!page.contains(r#"name="next""#), "{page}");

    let login = |next: &str| {
        let body = format!("csrf=t0k3n&user=lan&password=m%E1%BA%ADt-kh%E1%BA%A9u-c%E1%BB%A7a-lan&next={next}");
        let web = web.clone();
        async move { post(&web, "/ui/login", "dcwatch_login=t0k3n", &body).await }
    };
    for (next, to) in [
        ("%2Fui%2Falarms%2Ff00d", "/ui/alarms/f00d"),
        ("%2F%2Fevil.example%2F", "/ui/"),
        ("https%3A%2F%2Fevil.example%2Fui%2F", "/ui/"),
        ("%2Fui%2F%2Fevil.example", "/ui/"),
        ("%2Fui%2Flogin", "/ui/"),
        ("%2Fui%5C%5Cevil", "/ui/"),
    ] {
        let (status, headers, _) = login(next).await;
        assert_eq!((status, headers[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, to), "{next}");
    }
}
