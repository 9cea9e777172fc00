//! The devices pages rendered from a made-up latest state (groups, exact
//! cells, units, names with HTML in them), and through the router (one
//! device's page with its alarms, an unknown device).

use std::time::Instant;

use super::*;
use crate::alarm::builtin::test_support::obs;
use crate::model::ObsValue::{Bool, Num, Str};
use crate::model::Observation;
use crate::web::hosts::tests::{NOW_MS, assert_has, engine, get, web_with};

fn at(site: &str, device: &str) -> Vec<(&'static str, String)> {
    vec![("site", site.to_string()), ("host", "poller1".to_string()), ("device", device.to_string())]
}

fn point(m: &str, site: &str, device: &str, extra: &[(&str, &str)], fields: &[(&str, ObsValue)]) -> Observation {
    let mut tags: Vec<(String, String)> = at(site, device).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut o = obs(m, &[], fields);
    o.tags = tags;
    o
}

const ROOM: &str = "<i>r1</i>";

/// ups-1 up with three failed polls; ats-1 reporting no `device` point;
/// meter-1 down; a PDU with a phase; a room sensor named with HTML; a
/// generator at hcm.
fn points(on_battery: bool) -> Vec<Observation> {
    vec![
        point(
            "device",
            "hn",
            "ups-1",
            &[("kind", "ups"), ("protocol", "snmp")],
            &[
                ("up", Bool(true)),
                ("poll_ms", Num(41.5)),
                ("errors_total", Num(3.0)),
                ("errors_timeout_total", Num(2.0)),
                ("errors_network_total", Num(1.0)),
                ("errors_auth_total", Num(0.0)),
                ("profile", Str("apc".into())),
            ],
        ),
        point(
            "ups",
            "hn",
            "ups-1",
            &[],
            &[
                ("status", Str(if on_battery { "on_battery" } else { "online" }.into())),
                ("on_battery", Bool(on_battery)),
                ("battery_charge_pct", Num(91.5)),
                ("runtime_remaining_s", Num(1530.0)),
                ("load_pct", Num(35.0)),
            ],
        ),
        point("ups_phase", "hn", "ups-1", &[("direction", "output"), ("phase", "1")], &[("voltage_v", Num(229.6))]),
        point("ats", "hn", "ats-1", &[], &[("active_source", Str("B".into())), ("on_source_b", Bool(true))]),
        point("power_feed", "hn", "ats-1", &[("feed", "A")], &[("live", Bool(false)), ("voltage_v", Num(0.0))]),
        point(
            "device",
            "hn",
            "meter-1",
            &[("kind", "meter"), ("protocol", "modbus")],
            &[("up", Bool(false)), ("errors_total", Num(0.0))],
        ),
        point(
            "power_feed",
            "hn",
            "meter-1",
            &[("feed", "B")],
            &[("power_w", Num(1234.0)), ("energy_kwh", Num(10_500.75))],
        ),
        point("device", "hn", "pdu-1", &[("kind", "pdu"), ("protocol", "snmp")], &[("up", Bool(true))]),
        point("pdu", "hn", "pdu-1", &[("scope", "phase"), ("phase", "1")], &[("current_a", Num(6.0))]),
        point("pdu", "hn", "pdu-1", &[("scope", "device")], &[("current_a", Num(12.25))]),
        point("env", "hn", ROOM, &[], &[("temperature_c", Num(35.5)), ("humidity_pct", Num(60.0))]),
        point(
            "generator",
            "hcm",
            "gen-1",
            &[],
            &[("running", Bool(true)), ("fuel_pct", Num(80.0)), ("run_hours", Num(1200.0))],
        ),
        // Not devices: a host's own point, and a trap.
        obs("host_cpu", &[("site", "hn"), ("host", "web1"), ("cpu", "total")], &[("usage_pct", Num(1.0))]),
        point("snmp_trap", "hn", "ups-1", &[("event", "on_battery")], &[("source", Str("10.0.0.9".into()))]),
    ]
}

fn state() -> (Latest, Instant) {
    let now = Instant::now();
    let mut l = Latest::default();
    let owner = l.owner("t");
    for p in points(false) {
        l.observe(&p, now, &owner, 1000);
    }
    (l, now)
}

#[test]
fn devices_are_grouped_by_site_and_kind_with_their_kind_from_the_poller_or_what_they_report() {
    let (l, now) = state();
    let rows = devices(&l, now, NOW_MS);
    let got: Vec<(&str, &str, &str)> =
        rows.iter().map(|r| (r.site.as_str(), r.kind.as_str(), r.device.as_str())).collect();
    assert_eq!(
        got,
        [
            ("hcm", "generator", "gen-1"),
            ("hn", "ups", "ups-1"),
            ("hn", "ats", "ats-1"),
            ("hn", "pdu", "pdu-1"),
            ("hn", "meter", "meter-1"),
            ("hn", "env", ROOM),
        ]
    );
    let ups = &rows[1];
    let series: Vec<String> = ups.series.iter().map(SeriesView::title).collect();
    assert_eq!(series, ["ups", "ups_phase direction=output, phase=1"], "the trap is no series of the device");
    assert_eq!(rows[3].series[0].title(), "pdu scope=device", "the device-wide PDU series first");
    assert_eq!((ups.polled_by.as_deref(), ups.protocol()), (Some("poller1"), Some("snmp")));
    assert_eq!(ups.last_poll_ms, Some(NOW_MS));
}

#[test]
fn each_row_says_up_or_down_the_last_poll_the_errors_and_the_values_with_their_units() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_with(dir.path(), None);
    let (l, now) = state();
    let rows = devices(&l, now, NOW_MS);
    let q = ListQuery::default();
    let vi = list_body(&web, Lang::Vi, &q, &rows, &[]).into_string();
    let kinds: Vec<&str> = vi.split("<h3 data-kind=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert_eq!(kinds, ["generator", "ups", "ats", "pdu", "meter", "env"]);
    assert_has(
        &vi,
        &[
            r#"<section class="device-site" data-site="hn"><h2>hn</h2><h3 data-kind="ups">UPS</h3>"#,
            r#"<h3 data-kind="ats">Bộ chuyển nguồn (ATS)</h3>"#,
            r#"<h3 data-kind="env">Cảm biến môi trường</h3>"#,
            r#"<tr class="ok" data-device="ups-1"><td data-col="device" data-label="Thiết bị"><a href="/ui/devices/hn/ups-1">ups-1</a></td><td class="state" data-col="state" data-label="Trạng thái">Kết nối được</td><td data-col="poll" data-label="Lần đọc cuối">22/11/2026 14:05</td><td data-col="errors" data-label="Lỗi khi đọc">3 lần đọc lỗi (lỗi mạng: 1, quá thời gian chờ: 2)</td>"#,
            r#"<div data-field="battery_charge_pct"><dt><code>battery_charge_pct</code></dt><dd>91,5 %</dd></div>"#,
            r#"<div data-field="runtime_remaining_s"><dt><code>runtime_remaining_s</code></dt><dd>1.530 s</dd></div>"#,
            r#"<div data-field="on_battery"><dt><code>on_battery</code></dt><dd>không</dd></div>"#,
            r#"<div data-field="status"><dt><code>status</code></dt><dd>online</dd></div>"#,
            r#"<tr class="bad" data-device="meter-1">"#,
            r#"<td class="state" data-col="state" data-label="Trạng thái">Không kết nối được</td>"#,
            r#"<td data-col="errors" data-label="Lỗi khi đọc">Không có</td>"#,
            r#"<div data-field="energy_kwh"><dt><code>energy_kwh</code></dt><dd>10.500,75 kWh</dd></div>"#,
            r#"<div data-field="current_a"><dt><code>current_a</code></dt><dd>12,25 A</dd></div>"#,
            r#"<div data-field="temperature_c"><dt><code>temperature_c</code></dt><dd>35,5 °C</dd></div>"#,
            r#"<div data-field="run_hours"><dt><code>run_hours</code></dt><dd>1.200 giờ</dd></div>"#,
            // The room named with HTML: text, in a link of one segment; no poll status reported.
            r#"<tr class="unknown" data-device="&lt;i&gt;r1&lt;/i&gt;"><td data-col="device" data-label="Thiết bị"><a href="/ui/devices/hn/%3Ci%3Er1%3C%2Fi%3E">&lt;i&gt;r1&lt;/i&gt;</a></td><td class="state" data-col="state" data-label="Trạng thái">Chưa rõ kết nối</td>"#,
        ],
    );
    assert!(!vi.contains("<i>"), "{vi}");
    assert!(!vi.contains("usage_pct"), "a host is no device");
    let en = list_body(&web, Lang::En, &q, &rows, &[]).into_string();
    assert_has(
        &en,
        &[
            r#"<td data-col="errors" data-label="Poll errors">3 failed polls (network: 1, timeout: 2)</td>"#,
            r#"<dd>91.5 %</dd>"#,
            r#"<td data-col="poll" data-label="Last poll">22 Nov 2026 14:05</td>"#,
            r#"<div data-field="energy_kwh"><dt><code>energy_kwh</code></dt><dd>10,500.75 kWh</dd></div>"#,
        ],
    );
    // One site only.
    let hcm = list_body(&web, Lang::Vi, &ListQuery { site: "hcm".into() }, &rows, &[]).into_string();
    assert!(hcm.contains(r#"data-device="gen-1""#) && !hcm.contains(r#"data-device="ups-1""#), "{hcm}");
}

#[tokio::test]
async fn a_devices_page_shows_its_poll_every_series_and_its_alarms_and_an_unknown_device_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), &points(true));
    e.evaluate();
    let web = web_with(dir.path(), Some(e));
    let (status, html) = get(&web, "/ui/devices", "lan").await;
    assert_eq!(status, StatusCode::OK);
    assert_has(&html, &[r#"<a href="/ui/devices/hn/ups-1">ups-1</a>"#, r#"<dd>91,5 %</dd>"#]);
    let (status, html) = get(&web, "/ui/devices/hn/ups-1", "lan").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_has(
        &html,
        &[
            "<h1>ups-1</h1>",
            r#"<p class="poller">Do agent trên poller1 đọc · Giao thức snmp</p>"#,
            r#"<div data-field="errors_timeout_total"><dt><code>errors_timeout_total</code></dt><dd>2</dd></div>"#,
            r#"<div data-field="profile"><dt><code>profile</code></dt><dd>apc</dd></div>"#,
            "<h3><code>ups_phase direction=output, phase=1</code></h3>",
            r#"<div data-field="voltage_v"><dt><code>voltage_v</code></dt><dd>229,6 V</dd></div>"#,
            ">ups_on_battery</a>",
        ],
    );
    let (status, html) = get(&web, "/ui/devices/hn/%3Ci%3Er1%3C%2Fi%3E", "nam").await;
    assert_eq!(status, StatusCode::OK);
    assert_has(&html, &["<h1>&lt;i&gt;r1&lt;/i&gt;</h1>", "Poll status unknown", "No alarm."]);
    let (status, html) = get(&web, "/ui/devices/hn/ups-9", "lan").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_has(&html, &["Không có thiết bị này."]);
}

#[test]
fn the_consoles_measurements_stay_watched_across_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let e = crate::alarm::Engine::open(crate::web::hosts::tests::cfg(dir.path())).unwrap();
    assert!(!e.watched().contains("host_cpu") && !e.watched().contains("env"));
    e.watch_also(crate::web::hosts::MEASUREMENTS);
    e.watch_also(&measurements());
    e.set_config(crate::web::hosts::tests::cfg(dir.path()));
    let w = e.watched();
    for m in ["host_cpu", "host_mem", "host_net", "host_service", "env", "pdu", "ups_phase", "ups", "device"] {
        assert!(w.contains(m), "{m}");
    }
    assert!(!w.contains("snmp_trap"), "traps are events, not a device's state");
}
