//! The hosts pages rendered from a made-up latest state (exact cells, the
//! sort, the forecast, names with HTML in them), and through the router
//! (the site filter, a viewer's access, an unknown host). What the devices
//! tests share is here too.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::alarm::Engine;
use crate::alarm::builtin::test_support::obs;
use crate::alarm::config::Severity;
use crate::alarm::store::State as AlarmState;
use crate::auth::Role;
use crate::model::ObsValue::{Bool, Num, Str};
use crate::model::Observation;
use crate::state::AppState;

pub const XSS: &str = "<img src=x onerror=alert(1)>";
/// 2026-11-22 14:05 in Hanoi (07:05 UTC).
pub const NOW_MS: i64 = 1_795_331_100_000;

pub fn hanoi() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
}

/// The topology of the tests: site hn with feeds A and B and UPS ups-1
/// powering web1, the host named with HTML and dark1 (which never
/// reports); site hcm.
pub fn alarms_yaml(db: &std::path::Path) -> String {
    format!(
        "db: {}\nlang: en\nbuiltin: {{agent_interval_secs: 10, agent_silent_intervals: 3}}\n\
         sites:\n  - name: hn\n    feeds: [A, B]\n    ups:\n      ups-1: [web1, \"{XSS}\", dark1]\n  - name: hcm\n\
         receivers:\n  - name: hook\n    webhook: {{url: http://127.0.0.1:9/x}}\n",
        db.display()
    )
}

pub fn cfg(dir: &std::path::Path) -> AlarmsConfig {
    let yaml = alarms_yaml(&dir.join("alarms.db"));
    dcwatch_common::config::parse::<AlarmsConfig>(&yaml, std::path::Path::new("/x/alarms.yaml")).unwrap()
}

fn host(m: &str, host: &str, extra: &[(&str, &str)], fields: &[(&str, crate::model::ObsValue)]) -> Observation {
    let site = if host == "app1" { "hcm" } else { "hn" };
    let mut tags = vec![("site", site), ("host", host)];
    tags.extend_from_slice(extra);
    obs(m, &tags, fields)
}

/// web1 busy with a full /var; db1 quiet; the HTML-named host silent for
/// 100 s; app1 at hcm the busiest; dark1 never heard from.
pub fn points() -> Vec<Observation> {
    vec![
        host("host_cpu", "web1", &[("cpu", "total")], &[("usage_pct", Num(87.5))]),
        host("host_mem", "web1", &[], &[("used_pct", Num(62.3))]),
        host("host_disk", "web1", &[("mount", "/")], &[("used_pct", Num(40.0))]),
        host("host_disk", "web1", &[("mount", "/var")], &[("used_pct", Num(92.1))]),
        host(
            "host_net",
            "web1",
            &[("iface", "eth0")],
            &[("rx_bytes_per_s", Num(1_048_576.0)), ("tx_bytes_per_s", Num(524_288.0))],
        ),
        host(
            "host_net",
            "web1",
            &[("iface", "eth1")],
            &[("rx_bytes_per_s", Num(524_288.0)), ("tx_bytes_per_s", Num(0.0))],
        ),
        host("host_cpu", "db1", &[("cpu", "total")], &[("usage_pct", Num(12.0))]),
        host("host_cpu", XSS, &[("cpu", "total")], &[("usage_pct", Num(50.0))]),
        host("host_cpu", "app1", &[("cpu", "total")], &[("usage_pct", Num(99.0))]),
    ]
}

pub fn beat(h: &str) -> Observation {
    host("dcwatch_agent", h, &[], &[("version", Str("1.4.0".into()))])
}

/// The latest state of [`points`]: the HTML-named host's heartbeat came
/// 100 s before `now`, the others' at `now`.
pub fn state() -> (Latest, Instant) {
    let start = Instant::now();
    let now = start + Duration::from_secs(100);
    let mut l = Latest::default();
    let owner = l.owner("t");
    for p in points().iter().chain([beat(XSS)].iter()) {
        l.observe(p, start, &owner, 1000);
    }
    for h in ["web1", "db1", "app1"] {
        l.observe(&beat(h), now, &owner, 1000);
    }
    (l, now)
}

/// The console in Hanoi's zone, with the viewer `lan` (Vietnamese) and
/// `nam` (English), over `engine`.
pub fn web_with(dir: &std::path::Path, engine: Option<Arc<Engine>>) -> Arc<Web> {
    let state = AppState::with_alarms(super::super::tests::live(), engine);
    let cfg = super::super::config::WebConfig { users_db: dir.join("users.db"), ..Default::default() };
    let web = Web::new(Arc::new(state), cfg, false, hanoi()).unwrap();
    web.users.add("lan", Role::Viewer, "mật-khẩu-của-lan", None, 1_000).unwrap();
    web.users.add("nam", Role::Viewer, "mật-khẩu-của-nam", Some(Lang::En), 1_000).unwrap();
    Arc::new(web)
}

/// An engine over the tests' topology that has taken `points` now.
pub fn engine(dir: &std::path::Path, points: &[Observation]) -> Arc<Engine> {
    let e = Engine::open(cfg(dir)).unwrap();
    e.observe_at(points, Instant::now());
    Arc::new(e)
}

/// `GET uri` as `user`: the status and the page.
pub async fn get(web: &Arc<Web>, uri: &str, user: &str) -> (StatusCode, String) {
    let u = web.users.get(user).unwrap().unwrap();
    let (token, _) = web.sessions.open(user, u.role, u.epoch, Instant::now());
    let req = Request::get(uri)
        .header(header::COOKIE, format!("{}={token}", super::super::session::COOKIE))
        .body(Body::empty())
        .unwrap();
    let resp = super::super::router(web.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (status, String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

pub fn assert_has(html: &str, wants: &[&str]) {
    for want in wants {
        assert!(html.contains(want), "{want}\nnot in\n{html}");
    }
}

fn shown(rows: &[HostRow]) -> Vec<&str> {
    rows.iter().map(|r| r.host.as_str()).collect()
}

#[test]
fn the_table_writes_each_cell_in_the_users_language_and_marks_the_silent_host() {
    let dir = tempfile::tempdir().unwrap();
    let (l, now) = state();
    let rows = rows(&cfg(dir.path()), &l, now, NOW_MS);
    assert_eq!(shown(&rows), ["app1", XSS, "dark1", "db1", "web1"], "by site, then name");
    let web = web_with(dir.path(), None);
    let q = ListQuery::default();
    let vi = list_body(&web, Lang::Vi, &q, &rows, &[], &Trend::default()).into_string();
    assert_has(
        &vi,
        &[
            r#"<td class="num" data-col="cpu" data-label="CPU">87,5 %</td>"#,
            r#"<td class="num" data-col="mem" data-label="Bộ nhớ">62,3 %</td>"#,
            r#"<td data-col="disk" data-label="Ổ đĩa đầy nhất">92,1 % (/var)</td>"#,
            r#"<td class="num" data-col="in" data-label="Mạng vào">1,5 MiB/s</td>"#,
            r#"<td class="num" data-col="out" data-label="Mạng ra">512,0 KiB/s</td>"#,
            r#"<td data-col="seen" data-label="Lần cuối liên lạc">22/11/2026 14:05</td>"#,
            // No trend store: dashes, not an error.
            r#"<td class="spark" data-col="cpu-24h" data-label="CPU 24 giờ qua">—</td>"#,
            // The silent host: its row and its last heartbeat, 100 s ago.
            r#"<tr class="silent" data-site="hn" data-host="&lt;img src=x onerror=alert(1)&gt;">"#,
            r#"<td data-col="seen" data-label="Lần cuối liên lạc">22/11/2026 14:03 <strong class="bad">Mất liên lạc</strong></td>"#,
            // The host the topology lists but nothing reports.
            r#"<td data-col="seen" data-label="Lần cuối liên lạc">— <span class="unknown">Chưa có số liệu</span></td>"#,
        ],
    );
    let en = list_body(&web, Lang::En, &q, &rows, &[], &Trend::default()).into_string();
    assert_has(
        &en,
        &[
            r#"<td class="num" data-col="cpu" data-label="CPU">87.5 %</td>"#,
            r#"<td data-col="disk" data-label="Fullest disk">92.1 % (/var)</td>"#,
            r#"<td data-col="seen" data-label="Last seen">22 Nov 2026 14:03 <strong class="bad">Silent</strong></td>"#,
        ],
    );
}

#[test]
fn a_host_named_with_html_is_text_in_the_table_and_its_link_is_one_encoded_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (l, now) = state();
    let rows = rows(&cfg(dir.path()), &l, now, NOW_MS);
    let web = web_with(dir.path(), None);
    let html = list_body(&web, Lang::Vi, &ListQuery::default(), &rows, &[], &Trend::default()).into_string();
    assert_has(
        &html,
        &[
            r#"<td data-col="host" data-label="Máy chủ"><a href="/ui/hosts/hn/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E">&lt;img src=x onerror=alert(1)&gt;</a></td>"#,
        ],
    );
    assert!(!html.contains("<img"), "{html}");
    assert_eq!(host_link("hn", "a/b?c#d"), "/ui/hosts/hn/a%2Fb%3Fc%23d");
}

#[test]
fn the_table_sorts_by_a_measure_with_hosts_without_it_last_and_by_last_seen() {
    let dir = tempfile::tempdir().unwrap();
    let (l, now) = state();
    let all = rows(&cfg(dir.path()), &l, now, NOW_MS);
    let sorted = |sort: &str, dir: &str| {
        let q = ListQuery { site: String::new(), sort: sort.into(), dir: dir.into() };
        let (col, desc) = q.order();
        let mut r = all.clone();
        super::sort(&mut r, col, desc);
        shown(&r).into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    // A measure sorts downwards first; dark1 reports none and stays last.
    assert_eq!(sorted("cpu", ""), ["app1", "web1", XSS, "db1", "dark1"]);
    assert_eq!(sorted("cpu", "asc"), ["db1", XSS, "web1", "app1", "dark1"]);
    // The longest silent first; equals by site and name.
    assert_eq!(sorted("seen", ""), [XSS, "app1", "db1", "web1", "dark1"]);
    assert_eq!(sorted("host", "desc"), ["web1", "db1", "dark1", "app1", XSS]);
    // The header links: the column sorted by turns the other way, the others sort their first way.
    let q = ListQuery { site: "hn".into(), sort: "cpu".into(), dir: "desc".into() };
    let web = web_with(dir.path(), None);
    let html = list_body(&web, Lang::En, &q, &all, &[], &Trend::default()).into_string();
    assert_has(
        &html,
        &[
            r#"<th aria-sort="descending" data-col="cpu"><a href="/ui/hosts?site=hn&amp;sort=cpu&amp;dir=asc">CPU<span aria-hidden="true"> ▼</span></a></th>"#,
            r#"<th data-col="mem"><a href="/ui/hosts?site=hn&amp;sort=mem&amp;dir=desc">Memory</a></th>"#,
            r#"<th data-col="host"><a href="/ui/hosts?site=hn&amp;sort=host&amp;dir=asc">Host</a></th>"#,
        ],
    );
}

/// `n` samples of `mount`, ten minutes apart, growing by `per_hour` bytes an hour to `last_used`.
fn disk(mount: &str, n: i64, per_hour: f64, last_used: f64) -> Vec<Observation> {
    (0..n)
        .map(|k| {
            let used = last_used - (n - 1 - k) as f64 * per_hour / 6.0;
            let mut o = host(
                "host_disk",
                "web1",
                &[("mount", mount)],
                &[("used_bytes", Num(used)), ("total_bytes", Num(100e9)), ("used_pct", Num(used / 1e9))],
            );
            o.ts = 1_000_000_000_000_000_000 + k * 600_000_000_000;
            o
        })
        .collect()
}

fn alarm(name: &str, fp: &str, host: &str, state: AlarmState) -> Alarm {
    let mut a = super::super::overview::tests::alarm(Some("hn"), Severity::Warning, state);
    a.name = name.into();
    a.fingerprint = fp.into();
    a.labels.insert("host".into(), host.into());
    a.summary = crate::i18n::alarms::Texts { vi: "Ổ /var sắp đầy".into(), en: "/var filling up".into() };
    a.since_ms = NOW_MS;
    a
}

#[test]
fn the_host_page_forecasts_when_a_growing_disk_is_full_and_shows_its_services_ups_and_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut l = Latest::default();
    let owner = l.owner("t");
    let mut pts = points();
    // 1 GB an hour to 50 of 100 GB: 24 GB a day, full in 50 hours.
    pts.extend(disk("/var", 13, 1e9, 50e9));
    pts.extend(disk("/", 13, 0.0, 20e9));
    pts.extend(disk("/boot", 1, 0.0, 1e8));
    pts.push(host(
        "host_service",
        "web1",
        &[("unit", "nginx.service")],
        &[("active", Bool(true)), ("state", Str("active".into())), ("sub_state", Str("running".into()))],
    ));
    pts.push(host(
        "host_service",
        "web1",
        &[("unit", "<b>cron</b>")],
        &[("active", Bool(false)), ("state", Str("failed".into()))],
    ));
    pts.push(obs(
        "ups",
        &[("site", "hn"), ("device", "ups-1")],
        &[("on_battery", Bool(true)), ("battery_charge_pct", Num(91.5)), ("runtime_remaining_s", Num(1530.0))],
    ));
    pts.push(obs("power_feed", &[("site", "hn"), ("device", "ats-1"), ("feed", "A")], &[("live", Bool(false))]));
    pts.push(beat("web1"));
    for p in &pts {
        l.observe(p, start, &owner, 1000);
    }
    let d = detail(&cfg(dir.path()), &l, "hn", "web1", start, NOW_MS).expect("web1 is known");
    assert_eq!(d.version.as_deref(), Some("1.4.0"));
    let var = d.disks.iter().find(|d| d.mount == "/var").unwrap();
    assert_eq!(var.full_ms, Some(NOW_MS + 50 * 3_600_000));
    let alarms = [
        alarm("disk_full_forecast", "0123abcd", "web1", AlarmState::Firing),
        alarm("agent_silent", "99ff", "db1", AlarmState::Firing),
    ];
    let mine = alarms_of(&alarms, "hn", "host", "web1");
    let web = web_with(dir.path(), None);
    let vi = host_body(&web, Lang::Vi, &d, &mine, &Trend::default()).into_string();
    assert_has(
        &vi,
        &[
            r#"<h1>web1</h1>"#,
            r#"<p class="host-state ok">Trung tâm hn · <strong>Hoạt động</strong> · Lần cuối liên lạc 22/11/2026 14:05 · Agent phiên bản 1.4.0</p>"#,
            // 14:05 on the 22nd plus 50 hours is 16:05 on the 24th.
            r#"<tr data-mount="/var"><td data-col="mount" data-label="Thư mục gắn">/var</td><td class="num" data-col="used" data-label="Đã dùng">50,0 %</td><td class="num" data-col="size" data-label="Đã dùng / tổng">50,0 / 100,0 GB</td><td class="num" data-col="growth" data-label="Tăng mỗi ngày">+24,0 GB/ngày</td><td data-col="full" data-label="Dự báo đầy vào">24/11/2026</td></tr>"#,
            r#"<td class="num" data-col="growth" data-label="Tăng mỗi ngày">0,0 GB/ngày</td><td data-col="full" data-label="Dự báo đầy vào">Không tăng</td>"#,
            r#"<td class="num" data-col="growth" data-label="Tăng mỗi ngày">—</td><td data-col="full" data-label="Dự báo đầy vào">Chưa đủ số liệu (cần ít nhất 30 phút)</td>"#,
            r#"<tr data-unit="nginx.service"><td data-label="Dịch vụ (unit)">nginx.service</td><td data-col="active" data-label="Đang chạy">Có</td><td data-col="state" data-label="Trạng thái systemd">active (running)</td></tr>"#,
            r#"<tr class="bad" data-unit="&lt;b&gt;cron&lt;/b&gt;"><td data-label="Dịch vụ (unit)">&lt;b&gt;cron&lt;/b&gt;</td><td data-col="active" data-label="Đang chạy">Không</td><td data-col="state" data-label="Trạng thái systemd">failed</td></tr>"#,
            r#"<li class="node bad" data-device="ups-1"><span class="what"><a href="/ui/devices/hn/ups-1">UPS ups-1</a></span> <span class="state">Đang chạy pin</span> <span class="detail">Pin 91,5 %</span> <span class="detail">Còn 25 phút</span></li>"#,
            r#"<li class="bad" data-feed="A">Lộ A: Mất điện</li>"#,
            r#"<li class="unknown" data-feed="B">Lộ B: Chưa có số liệu</li>"#,
            r#"<tr class="warning" data-fingerprint="0123abcd" data-state="firing"><td><a href="/ui/alarms/0123abcd">disk_full_forecast</a></td><td class="severity">Cảnh báo</td><td class="state">Đang bật</td><td>22/11/2026 14:05</td><td>Ổ /var sắp đầy</td></tr>"#,
        ],
    );
    assert!(!vi.contains("agent_silent"), "db1's alarm is not web1's");
    assert!(!vi.contains("<b>"), "{vi}");
    let en = host_body(&web, Lang::En, &d, &mine, &Trend::default()).into_string();
    assert_has(
        &en,
        &[
            r#"<td class="num" data-col="growth" data-label="Growth per day">+24.0 GB/day</td><td data-col="full" data-label="Full by">24 Nov 2026</td>"#,
        ],
    );
    // The same forecast as the alarm's.
    let h: &VecDeque<(i64, f64, f64)> =
        l.disk_history.values().find(|h| h.len() == 13 && h.back().unwrap().1 == 50e9).unwrap();
    assert!((days_to_full(h).unwrap() - 50.0 / 24.0).abs() < 1e-9);
}

#[test]
fn the_sparklines_are_the_trend_stores_hourly_averages_titled_with_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::trends::Trends::open(crate::trends::TrendsConfig {
        db: dir.path().join("trends.db"),
        retention_days: 30,
        flush_secs: 60,
    })
    .unwrap();
    let hour_ns = 3_600_000_000_000i64;
    let now_hour = NOW_MS / 3_600_000;
    let mut pts = Vec::new();
    // Two samples an hour ago (10 and 30: average 20), two in this hour (80, 90), one outside the 24 hours.
    for (h, v) in [(now_hour - 1, 10.0), (now_hour - 1, 30.0), (now_hour, 80.0), (now_hour, 90.0), (now_hour - 30, 5.0)]
    {
        let mut o = host("host_cpu", "web1", &[("cpu", "total")], &[("usage_pct", Num(v))]);
        o.ts = h * hour_ns + 60_000_000_000;
        pts.push(o);
    }
    t.observe(&pts);
    t.flush(NOW_MS * 1_000_000).unwrap();
    let tr = trend(Some(&dir.path().join("trends.db")), None, NOW_MS);
    let s = tr.cpu.get(&("hn".to_string(), "web1".to_string())).unwrap();
    assert_eq!((s.hours.clone(), s.min, s.max), (vec![(now_hour - 1, 20.0), (now_hour, 85.0)], 10.0, 90.0));
    assert!(tr.mem.is_empty());
    let cell = spark_cell(Lang::Vi, "CPU", Some(s), tr.to_hour).into_string();
    assert_has(
        &cell,
        &[
            "<title>CPU trong 24 giờ qua: thấp nhất 10,0 %, cao nhất 90,0 %</title>",
            r#"<polyline points="91.8,18.6 96.0,4.3"></polyline>"#,
        ],
    );
    // A store that cannot be read draws dashes.
    let missing = trend(Some(&dir.path().join("nothing-here/trends.db")), None, NOW_MS);
    assert!(missing.cpu.is_empty());
}

#[tokio::test]
async fn a_viewer_filters_the_hosts_by_site_and_an_unknown_host_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let mut pts = points();
    pts.push(beat("web1"));
    pts.push(host("host_cpu", "a/b?c", &[("cpu", "total")], &[("usage_pct", Num(1.0))]));
    let web = web_with(dir.path(), Some(engine(dir.path(), &pts)));
    let (status, html) = get(&web, "/ui/hosts?site=hcm", "lan").await;
    assert_eq!(status, StatusCode::OK);
    assert_has(&html, &[r#"data-host="app1""#, r#"<option value="hcm" selected>hcm</option>"#]);
    assert!(!html.contains(r#"data-host="web1""#), "{html}");
    let (_, html) = get(&web, "/ui/hosts?sort=cpu&dir=desc", "lan").await;
    let order: Vec<&str> = html.split(r#"data-host=""#).skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert_eq!(order, ["app1", "web1", "&lt;img src=x onerror=alert(1)&gt;", "db1", "a/b?c", "dark1"]);
    // A host whose name holds `/`, `?` and `#` is found through its link.
    let (status, html) = get(&web, &host_link("hn", "a/b?c"), "lan").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_has(&html, &["<h1>a/b?c</h1>"]);
    let (status, html) = get(&web, &host_link("hn", XSS), "nam").await;
    assert_eq!(status, StatusCode::OK);
    // It is listed under ups-1, which has not reported yet.
    assert_has(
        &html,
        &[
            "<h1>&lt;img src=x onerror=alert(1)&gt;</h1>",
            r#"<span class="what"><a href="/ui/devices/hn/ups-1">UPS ups-1</a></span> <span class="state">No data</span>"#,
        ],
    );
    assert!(!html.contains("<img"), "{html}");
    let (status, html) = get(&web, "/ui/hosts/hn/nope", "lan").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_has(&html, &["Không có máy chủ này."]);
    let (status, _) = get(&web, "/ui/hosts/other/web1", "lan").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a host is found at its own site only");
}

#[tokio::test]
async fn without_alarms_the_hosts_page_says_they_are_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_with(dir.path(), None);
    let (status, html) = get(&web, "/ui/hosts", "lan").await;
    assert_eq!(status, StatusCode::OK);
    assert_has(&html, &["Chưa cấu hình cảnh báo (alarms:)."]);
}
