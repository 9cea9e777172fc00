//! Handler tests: the whole router, called without a listener.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::auth::Role;
use crate::config::TokenConfig;
use crate::ingest::auth::Tokens;
use crate::state::{AppState, Durable, Live, Sink};
use dcwatch_common::forward::{self, ForwarderSettings};
use dcwatch_common::spool::{Committer, Spool, SpoolSettings};
use dcwatch_common::write::{Flavour, Writer, WriterSettings};

const TOKEN: &str = "token-for-hn-site-0001";
/// A server's token: bound to host web01, no poller.
const WEB01: &str = "token-for-web01-only-01";
const VIEWER: &str = "api-token-viewer-000001";
const OPERATOR: &str = "api-token-operator-0001";
const ADMIN: &str = "api-token-admin-0000001";

/// The app with one sink whose target never answers (nothing listens on
/// port 1), so what ingest accepted stays in the spool where the test can
/// count it. The spool lives in the returned directory.
fn state(spool_max_bytes: u64, max_body_bytes: usize) -> (Arc<AppState>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = SpoolSettings::new(dir.path(), 1 << 20, spool_max_bytes);
    let (spool, _) = Spool::open(settings, &["dead"]).unwrap();
    let writer = Writer::new(&WriterSettings {
        url: "http://127.0.0.1:1".into(),
        flavour: Flavour::V2,
        org: "o".into(),
        bucket: "b".into(),
        database: String::new(),
        retention_policy: None,
        token: None,
        username: None,
        password: None,
        gzip: false,
        timeout: Duration::from_millis(200),
        ca_file: None,
        cert_file: None,
        key_file: None,
    })
    .unwrap();
    let fw = ForwarderSettings {
        name: "dead".into(),
        batch_max_lines: 1000,
        flush_interval: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        shutdown_timeout: Duration::from_secs(1),
        max_in_flight: 1,
        origins: None,
        skip_relayed: false,
        backlog_bound: None,
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Dropping the sender would stop the forwarder; keep it for the test process.
    std::mem::forget(tx);
    let (stats, _task) = forward::spawn(writer, fw, spool.clone(), 0, rx);
    let sink = Sink { name: "dead".into(), endpoint: "http://127.0.0.1:1".into(), v1: false, stats };
    let committer = Committer::start(spool.clone());
    let token = |name: &str, secret: &str, host: Option<&str>, poller: bool| TokenConfig {
        name: name.into(),
        token_sha256: None,
        token: Some(secret.into()),
        site: "hn".into(),
        host: host.map(Into::into),
        poller,
        devices: None,
        client_cert_name: None,
    };
    let tokens = Tokens::new(&[token("hn", TOKEN, None, true), token("web01", WEB01, Some("web01"), false)], false);
    let durable = Durable { spool, committer, origins: Default::default() };
    let api = |name: &str, secret: &str, role| {
        (crate::auth::sha256(secret), crate::auth::ApiIdentity { name: name.into(), role })
    };
    let live = Live {
        tokens,
        sinks: vec![sink],
        durable: Some(durable),
        max_body_bytes,
        read_timeout: Duration::from_millis(300),
        api_tokens: crate::auth::TokenTable::new([
            api("noc", VIEWER, Role::Viewer),
            api("oncall", OPERATOR, Role::Operator),
            api("boss", ADMIN, Role::Admin),
        ]),
        metrics_require_token: false,
        rate: crate::ingest::rate::Rate { points_per_sec: 0.0, burst_points: 0.0 },
        health: Default::default(),
    };
    let mut state = AppState::new(live);
    state.audit = Some(Arc::new(crate::audit::Audit::open(&dir.path().join("audit.db"), 400).unwrap()));
    (Arc::new(state), dir)
}

/// Points accepted and waiting in the spool for the sink.
fn queued(app: &AppState) -> u64 {
    app.live().durable.as_ref().unwrap().spool.consumer_stats(0).queued_lines
}

async fn post(
    app: &Arc<AppState>,
    uri: &str,
    token: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let mut req = Request::post(uri);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Token {t}"));
    }
    if let Some(e) = encoding {
        req = req.header("Content-Encoding", e);
    }
    let resp = super::app(app.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn get(app: &Arc<AppState>, uri: &str) -> String {
    let (status, body) = call(app, Request::get(uri), None, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Any request, with a bearer token if given.
async fn call(
    app: &Arc<AppState>,
    req: axum::http::request::Builder,
    bearer: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let req = match bearer {
        Some(t) => req.header("Authorization", format!("Bearer {t}")),
        None => req,
    };
    let req = req.header("Content-Type", "application/json").body(Body::from(body.to_string())).unwrap();
    let resp = super::app(app.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (status, String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

#[tokio::test]
async fn a_valid_write_is_accepted_and_queued_for_every_sink() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let (status, body) =
        post(&app, "/api/v2/write?org=o&bucket=b", Some(TOKEN), None, b"m,site=hn v=1 1\nm v=2 2\n".to_vec()).await;
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(queued(&app), 2);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401_and_nothing_is_queued() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let (status, body) = post(&app, "/api/v2/write", Some("not-the-token-at-all"), None, b"m v=1 1\n".to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, r#"{"code":"unauthorized","message":"missing or unknown token"}"#);
    let (status, _) = post(&app, "/write?db=x", None, None, b"m v=1 1\n".to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(queued(&app), 0);
    assert!(
        get(&app, "/metrics")
            .await
            .contains("dcwatch_collector_write_requests_rejected_total{reason=\"unauthorized\"} 2\n")
    );
}

#[tokio::test]
async fn v1_clients_may_give_the_token_as_the_p_parameter() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let (status, _) =
        post(&app, &format!("/write?db=x&u=telegraf&p={TOKEN}&precision=s"), None, None, b"m v=1 1\n".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(queued(&app), 1);
}

#[tokio::test]
async fn a_batch_wholly_for_another_site_is_403_and_counted() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let (status, body) =
        post(&app, "/api/v2/write", Some(TOKEN), None, b"m,site=hcm v=1 1\nm,site=hcm v=2 2\n".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        r#"{"code":"forbidden","line":1,"message":"line 1: site `hcm` is not allowed for token `hn` (it may write site `hn`)"}"#
    );
    assert_eq!(queued(&app), 0);
    assert!(get(&app, "/metrics").await.contains("dcwatch_collector_points_rejected_total{reason=\"forbidden\"} 2\n"));
}

#[tokio::test]
async fn a_malformed_line_is_named_and_the_valid_lines_are_kept() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let (status, body) =
        post(&app, "/api/v2/write", Some(TOKEN), None, b"m v=1 1\nm v=2 2\nm,site=hn v= 3\nm v=4 4\n".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["line"], 3);
    assert_eq!(json["code"], "invalid");
    assert!(json["message"].as_str().unwrap().starts_with("partial write: line 3: "), "{body}");
    assert_eq!(queued(&app), 3);
}

#[tokio::test]
async fn a_body_with_no_good_line_is_no_partial_write_and_names_line_column_and_fault() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let body = b"# header\nm,host=a n=1,msg=\"oops 1\nm v=.\n".to_vec();
    let (status, body) = post(&app, "/api/v2/write", Some(TOKEN), None, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"code":"invalid","line":2,"message":"line 2: column 18: unbalanced quote in field `msg` starting at column 18 (rejected: 1, nothing was accepted)"}"#
    );
    assert_eq!(queued(&app), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_plain_or_gzipped() {
    let (app, _dir) = state(1 << 20, 2048);
    let big = "m,site=hn v=1 1\n".repeat(200).into_bytes();
    let (status, body) = post(&app, "/api/v2/write", Some(TOKEN), None, big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("exceeds the limit of 2048 bytes"), "{body}");
    // Small on the wire, large inflated: the limit applies after inflating.
    let zipped = dcwatch_common::write::gzip(&big).unwrap();
    assert!(zipped.len() < 2048);
    let (status, _) = post(&app, "/api/v2/write", Some(TOKEN), Some("gzip"), zipped).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(queued(&app), 0);
}

#[tokio::test]
async fn gzip_bodies_are_inflated_and_broken_gzip_is_400() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let zipped = dcwatch_common::write::gzip(b"m v=1 1\n").unwrap();
    let (status, _) = post(&app, "/api/v2/write", Some(TOKEN), Some("gzip"), zipped.clone()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) =
        post(&app, "/api/v2/write", Some(TOKEN), Some("gzip"), zipped[..zipped.len() / 2].to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("body is not valid gzip"), "{body}");
    assert_eq!(queued(&app), 1);
}

#[tokio::test]
async fn a_full_spool_answers_503_with_retry_after_and_accepts_nothing() {
    // 44 bytes for the first write (16 of lines, a 28-byte header); the
    // second would make 88 > 80.
    let (app, _dir) = state(80, 1 << 20);
    let (status, _) = post(&app, "/api/v2/write", Some(TOKEN), None, b"m v=1 1\nm v=2 2\n".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let req = Request::post("/api/v2/write")
        .header("Authorization", format!("Token {TOKEN}"))
        .body(Body::from("m v=3 3\nm v=4 4\n"))
        .unwrap();
    let resp = super::app(app.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["Retry-After"], "5");
    assert_eq!(queued(&app), 2);
}

#[tokio::test]
async fn an_unknown_precision_is_400() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let (status, body) = post(&app, "/api/v2/write?precision=d", Some(TOKEN), None, b"m v=1 1\n".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("precision `d` is not one of"), "{body}");
}

#[tokio::test]
async fn health_lists_agents_by_site_and_host() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    post(&app, "/api/v2/write", Some(TOKEN), None, b"host_cpu,host=web01 usage_pct=3 1\n".to_vec()).await;
    let (_, body) = call(&app, Request::get("/health"), Some(VIEWER), "").await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["agents"][0]["site"], "hn");
    assert_eq!(health["agents"][0]["host"], "web01");
    assert_eq!(health["agents"][0]["points"], 1);
    assert_eq!(health["points_received"], 1);
    assert_eq!(health["sinks"][0]["queued_points"], 1);
}

/// Regression: without `alarms:` `/api/status` answered 404, so `status`
/// could not show the sinks and the spool.
#[tokio::test]
async fn status_without_alarms_shows_the_sinks_and_the_spool() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    post(&app, "/api/v2/write", Some(TOKEN), None, b"host_cpu,host=web01 usage_pct=3 1\n".to_vec()).await;
    let (status, body) = call(&app, Request::get("/api/status"), Some(VIEWER), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["alarms"], serde_json::Value::Null);
    let sink = &st["sinks"][0];
    // Its flush interval is an hour: no write tried yet.
    assert_eq!(
        (sink["name"].as_str(), sink["state"].as_str(), sink["queued_points"].as_u64()),
        (Some("dead"), Some("idle"), Some(1))
    );
    let spool = &st["spool"];
    assert_eq!(
        (spool["points"].as_u64(), spool["segments"].as_u64(), spool["max_bytes"].as_u64()),
        (Some(1), Some(1), Some(1 << 20))
    );
    let on_disk = app.live().durable.as_ref().unwrap().spool.total_bytes();
    assert_eq!(spool["bytes"].as_u64(), Some(on_disk));
}

/// A request body whose bytes never come, like a client that stalled.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_is_408_not_a_hung_request() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let req = Request::post("/api/v2/write")
        .header("Authorization", format!("Token {TOKEN}"))
        .body(Body::new(Stalled))
        .unwrap();
    let resp = super::app(app.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"code":"request timeout","message":"the body did not arrive within 0.3 s (ingest.read_timeout_secs)"}"#
    );
    assert_eq!(queued(&app), 0);
}

#[tokio::test]
async fn health_without_a_token_says_only_whether_all_is_well() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    post(&app, "/api/v2/write", Some(TOKEN), None, b"host_cpu,host=web01 usage_pct=3 1\n".to_vec()).await;
    assert_eq!(get(&app, "/health").await, r#"{"status":"pass"}"#);
    let (_, body) = call(&app, Request::get("/health"), Some("not-a-token-at-all-x"), "").await;
    assert_eq!(body, r#"{"status":"pass"}"#);
}

/// docs/security.md lists these as the ways the API takes its token.
#[tokio::test]
async fn the_api_takes_its_token_as_bearer_token_or_basic_password_and_not_in_the_query() {
    use base64::Engine;
    let (app, _dir) = state(1 << 20, 1 << 20);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{ADMIN}"));
    let mut got = Vec::new();
    for (uri, authorization) in [
        ("/api/audit", Some(format!("Bearer {ADMIN}"))),
        ("/api/audit", Some(format!("token {ADMIN}"))),
        ("/api/audit", Some(format!("Basic {basic}"))),
        (&format!("/api/audit?p={ADMIN}") as &str, None),
    ] {
        let mut req = Request::get(uri);
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        let resp = super::app(app.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        got.push(resp.status());
    }
    assert_eq!(got, vec![StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::UNAUTHORIZED]);
}

#[tokio::test]
async fn health_with_a_wrong_token_is_audited_as_a_failed_api_login_and_without_one_is_not() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    get(&app, "/health").await;
    call(&app, Request::get("/health"), Some("not-a-token-at-all-x"), "").await;
    let audit = app.audit.as_ref().unwrap().query(&Default::default()).unwrap();
    let rows: Vec<_> =
        audit.iter().map(|r| (r.actor.as_str(), r.action.as_str(), r.target.as_str(), r.comment.as_str())).collect();
    assert_eq!(rows, vec![("-", "api_auth_failed", "GET /health", "unknown token")]);
}

#[tokio::test]
async fn a_repeated_tag_key_is_audited_with_the_token_the_first_line_and_the_reason() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let body = b"m v=1 1\nups,site=hn,site=hcm,device=u1 on_battery=true 2\nm,host=a,host=b v=1 3\n".to_vec();
    post(&app, "/api/v2/write", Some(TOKEN), None, body).await;
    let audit = app.audit.as_ref().unwrap().query(&Default::default()).unwrap();
    let rows: Vec<_> =
        audit.iter().map(|r| (r.actor.as_str(), r.action.as_str(), r.target.as_str(), r.comment.as_str())).collect();
    assert_eq!(
        rows,
        vec![("hn", "ingest_line_refused", "write", "2 line(s) refused; line 2: column 13: tag `site` appears twice")]
    );
}

#[tokio::test]
async fn a_line_with_two_site_tags_is_refused_and_nothing_of_it_is_kept() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let body = b"ups,site=hn,site=hcm,device=u1 on_battery=true 1\nm,host=a,host=b v=1 2\nm v=3 3\n".to_vec();
    let (status, body) = post(&app, "/api/v2/write", Some(TOKEN), None, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"code":"invalid","line":1,"message":"partial write: line 1: column 13: tag `site` appears twice (accepted: 1, rejected: 2; do not resend this body)"}"#
    );
    assert_eq!(queued(&app), 1);
}

#[tokio::test]
async fn a_server_token_may_not_write_power_equipment_points() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    let body = b"ups,device=u1 on_battery=true 1\npower_feed,feed=A,device=m1 live=false 1\nhost_cpu usage_pct=5 1\n";
    let (status, body) = post(&app, "/api/v2/write", Some(WEB01), None, body.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"code":"invalid","line":1,"message":"partial write: line 1: token `web01` may not write `ups` points: they come from power and room equipment, which only a token with `poller: true` may write (accepted: 1, rejected: 2; do not resend this body)"}"#
    );
    assert_eq!(queued(&app), 1);
    // The poller's token may.
    let (status, _) =
        post(&app, "/api/v2/write", Some(TOKEN), None, b"ups,device=u1 on_battery=true 1\n".to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let m = get(&app, "/metrics").await;
    assert!(m.contains("dcwatch_collector_points_forbidden_total{reason=\"measurement\"} 2\n"), "{m}");
    assert!(m.contains("dcwatch_collector_points_forbidden_total{reason=\"site\"} 0\n"), "{m}");
    let audit = app.audit.as_ref().unwrap().query(&Default::default()).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].actor.as_str(), audit[0].action.as_str()), ("web01", "ingest_forbidden"));
    assert!(audit[0].comment.starts_with("2 line(s) refused; line 1: token `web01` may not write `ups`"), "{audit:?}");
}

#[tokio::test]
async fn each_role_may_do_only_what_it_allows_and_refusals_are_audited() {
    let (app, _dir) = state(1 << 20, 1 << 20);
    // No engine is configured here: a permitted call reaches "not configured" (404).
    let cases: [(&str, &str, Option<&str>, StatusCode); 7] = [
        ("GET", "/api/alarms", None, StatusCode::UNAUTHORIZED),
        ("GET", "/api/alarms", Some("wrong-token-0000000000"), StatusCode::UNAUTHORIZED),
        ("GET", "/api/alarms", Some(VIEWER), StatusCode::NOT_FOUND),
        ("POST", "/api/silences", Some(VIEWER), StatusCode::FORBIDDEN),
        ("POST", "/api/silences", Some(OPERATOR), StatusCode::NOT_FOUND),
        ("GET", "/api/audit", Some(OPERATOR), StatusCode::FORBIDDEN),
        ("GET", "/api/audit", Some(ADMIN), StatusCode::OK),
    ];
    for (method, uri, token, want) in cases {
        let (status, body) = call(&app, Request::builder().method(method).uri(uri), token, "{}").await;
        assert_eq!(status, want, "{method} {uri} with {token:?}: {body}");
    }
    let (_, body) = call(&app, Request::get("/api/audit"), Some(ADMIN), "").await;
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let got: Vec<(String, String, String, String)> = rows["audit"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("actor"), s("action"), s("target"), s("comment"))
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str| (a.to_string(), b.to_string(), c.to_string(), d.to_string());
    assert_eq!(
        got,
        vec![
            row("-", "api_auth_failed", "GET /api/alarms", "missing token"),
            // The second failure from the same place within a minute is folded.
            row("noc", "api_forbidden", "POST /api/silences", "needs role operator"),
            row("oncall", "api_forbidden", "GET /api/audit", "needs role admin"),
        ]
    );
}

#[tokio::test]
async fn metrics_need_a_token_when_configured() {
    let (app, dir) = state(1 << 20, 1 << 20);
    let live = app.live();
    let app = {
        let s = AppState::new(Live {
            tokens: Tokens::new(&[], false),
            sinks: Vec::new(),
            durable: None,
            max_body_bytes: live.max_body_bytes,
            read_timeout: live.read_timeout,
            api_tokens: crate::auth::TokenTable::new([(
                crate::auth::sha256(VIEWER),
                crate::auth::ApiIdentity { name: "prometheus".into(), role: Role::Viewer },
            )]),
            metrics_require_token: true,
            rate: live.rate,
            health: Default::default(),
        });
        drop(dir);
        Arc::new(s)
    };
    let (status, _) = call(&app, Request::get("/metrics"), None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&app, Request::get("/metrics"), Some(VIEWER), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("dcwatch_collector_write_requests_total 0\n"), "{body}");
}

/// [`state`] with an alarm engine (no rules beyond the built-in ones).
fn state_with_alarms() -> (Arc<AppState>, Arc<crate::alarm::Engine>, tempfile::TempDir) {
    let (app, dir) = state(1 << 20, 1 << 20);
    let yaml = format!(
        "db: {}\nsites:\n  - name: hn\nreceivers:\n  - name: hook\n    webhook: {{url: http://127.0.0.1:9/x}}\n",
        dir.path().join("alarms.db").display()
    );
    let cfg = dcwatch_common::config::parse(&yaml, std::path::Path::new("/x/alarms.yaml")).unwrap();
    let engine = Arc::new(crate::alarm::Engine::open(cfg).unwrap());
    let mut s = Arc::try_unwrap(app).ok().expect("no other holder yet");
    s.alarms = Some(engine.clone());
    (Arc::new(s), engine, dir)
}

/// Regression (issue 13 review): the audit record was written after the
/// handler awaited the blocking action, so a client that went away
/// mid-request left a silence without its record. The request is polled
/// once (the action starts on the blocking pool) and dropped, as the
/// server drops a request whose client disconnected.
#[test]
fn a_silence_keeps_its_audit_record_when_the_client_goes_away_mid_request() {
    use std::future::Future as _;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (app, engine, _dir) = rt.block_on(async { state_with_alarms() });
    let body = r#"{"matchers": {"site": "hn"}, "duration_secs": 600, "reason": "thay ắc quy"}"#;
    let req = Request::post("/api/silences")
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap();
    {
        let _in_runtime = rt.enter();
        let mut request = Box::pin(super::app(app.clone()).oneshot(req));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(request.as_mut().poll(&mut cx).is_pending(), "the action runs on the blocking pool");
    }
    // The action finishes whatever happened to the request; dropping the
    // runtime waits for the blocking task it runs in.
    while engine.silences().is_empty() {
        std::thread::yield_now();
    }
    drop(rt);
    let id = engine.silences()[0].id.to_string();
    let rows = app.audit.as_ref().unwrap().query(&crate::audit::Filter::default()).unwrap();
    let got: Vec<_> = rows.iter().map(|r| (r.actor.as_str(), r.action.as_str(), r.target.as_str())).collect();
    assert_eq!(got, vec![("oncall", "silence_create", id.as_str())]);
}

/// Regression (issue 13 review): alarm history, the outbox, the silences,
/// the status and `/metrics` read SQLite (or waited for the engine's lock,
/// which an evaluation holds while it writes SQLite) on the async worker.
/// With the lock held elsewhere, each request must yield (its read waits
/// on the blocking pool), not block the worker until the lock is free.
#[test]
fn alarm_reads_wait_for_the_engine_on_the_blocking_pool_not_on_an_async_worker() {
    use std::future::Future as _;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (app, engine, _dir) = rt.block_on(async { state_with_alarms() });
    for uri in ["/api/alarms", "/api/alarms/history", "/api/silences", "/api/status", "/metrics"] {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let e = engine.clone();
        let holder = std::thread::spawn(move || {
            let _held = e.hold_lock();
            held_tx.send(()).unwrap();
            // Bounded only so that a regression fails instead of hanging.
            let _ = release_rx.recv_timeout(Duration::from_secs(5));
        });
        held_rx.recv().unwrap();
        let req = Request::get(uri).header("Authorization", format!("Bearer {VIEWER}")).body(Body::empty()).unwrap();
        let mut request = Box::pin(super::app(app.clone()).oneshot(req));
        let pending = {
            let _in_runtime = rt.enter();
            request.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())).is_pending()
        };
        let _ = release_tx.send(());
        holder.join().unwrap();
        assert!(pending, "{uri} waited for the engine on the async worker");
        let resp = rt.block_on(request).unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    }
}

/// Review of issue 15: a sink that failed and then wrote again is up, and
/// `status` still shows when and why it last failed.
#[tokio::test]
async fn a_sink_that_recovers_after_an_error_is_up_again_with_its_last_error() {
    use std::sync::atomic::Ordering;
    let (app, _dir) = state(1 << 20, 1 << 20);
    // 2 December 2025 07:20 UTC it failed; a minute later a write went through.
    let failed_ns = 1_764_660_000_000_000_000i64;
    {
        let live = app.live();
        let st = &live.sinks[0].stats;
        *st.last_error.lock().unwrap() = Some("connection refused".into());
        st.last_error_ns.store(failed_ns, Ordering::Relaxed);
        st.last_success_ns.store(failed_ns + 60_000_000_000, Ordering::Relaxed);
    }
    let (status, body) = call(&app, Request::get("/api/status"), Some(VIEWER), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["sinks"][0]["state"], "up");
    let hanoi = jiff::tz::TimeZone::fixed(jiff::tz::offset(7));
    let out = crate::status::render(&st, "http://127.0.0.1:1", crate::i18n::Lang::Vi, &hanoi);
    let line = out.lines().find(|l| l.trim_start().starts_with("dead")).unwrap_or_default().to_string();
    assert_eq!(line, "  dead  hoạt động    0 điểm  02/12/2025 14:20: connection refused");
}

/// An action the engine did not do is answered by its kind: no such
/// alarm or silence 404, a silence the check refused 400 with its reason,
/// an alarm not acknowledged 409 (not 404 for every refusal, as before).
#[tokio::test]
async fn a_refused_alarm_action_is_answered_by_its_kind() {
    let (app, _engine, _dir) = state_with_alarms();
    let (status, body) = call(&app, Request::post("/api/alarms/nope/ack"), Some(OPERATOR), "{}").await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, r#"{"error":"no pending or firing alarm nope"}"#));
    let (status, body) = call(&app, Request::delete("/api/silences/42"), Some(OPERATOR), "").await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, r#"{"error":"no silence 42"}"#));
    let everything = r#"{"matchers": {"alertname": "~.*"}, "duration_secs": 600, "reason": "x"}"#;
    let (status, body) = call(&app, Request::post("/api/silences"), Some(OPERATOR), everything).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("so it would silence every alarm"), "{body}");
    let r = super::alarms::refused(crate::alarm::ActionError::NotAcknowledged("f1".into()));
    assert_eq!(r.status(), StatusCode::CONFLICT);
}
