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
    }
}

fn web(dir: &tempfile::TempDir) -> Arc<Web> {
    let mut state = AppState::new(live());
    state.audit = Some(Arc::new(crate::audit::Audit::open(&dir.path().join("audit.db"), 400).unwrap()));
    let cfg = config::WebConfig { users_db: dir.path().join("users.db"), ..Default::default() };
    let web = Web::new(Arc::new(state), cfg, false, jiff::tz::TimeZone::UTC).unwrap();
    web.users.add("lan", Role::Viewer, "mật-khẩu-của-lan", None, 1_000).unwrap();
    web.users.add("nam", Role::Operator, "mật-khẩu-của-nam", Some(Lang::En), 1_000).unwrap();
    Arc::new(web)
}

/// A session of `name` opened directly; returns (cookie header, CSRF token).
fn session_of(web: &Web, name: &str) -> (String, String) {
    let u = web.users.get(name).unwrap().unwrap();
    let (token, s) = web.sessions.open(name, u.role, u.epoch, std::time::Instant::now());
    (format!("{}={token}", session::COOKIE), s.csrf)
}

async fn post(web: &Arc<Web>, uri: &str, cookie: &str, body: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(web.clone()).oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, headers, text)
}

fn actions(web: &Web) -> Vec<(String, String, String)> {
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
