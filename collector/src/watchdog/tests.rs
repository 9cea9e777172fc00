//! The watchdog's config, its verdict on the alarm evaluation, and its
//! alarm through the engine.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::config::CollectorConfig;

fn parse(text: &str) -> Result<CollectorConfig, Vec<Problem>> {
    dcwatch_common::config::parse(text, Path::new("/x/collector.yaml"))
}

fn messages_at(problems: &[Problem]) -> Vec<(Option<(u64, u64)>, &str)> {
    problems.iter().map(|p| (p.position, p.message.as_str())).collect()
}

const ALARMS: &str = "ingest:\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  evaluate_every_ms: 2000\n  \
                      receivers:\n    - {name: am, alertmanager: {url: 'http://127.0.0.1:9093'}}\n    \
                      - {name: ops, email: {host: smtp.local, from: d@x, to: [o@x]}}\n";

#[test]
fn a_watchdog_gets_its_defaults() {
    let c = parse(&format!("{ALARMS}watchdog:\n  url: https://hc-ping.com/0f6c-uuid\n  receivers: [am]\n")).unwrap();
    let w = c.watchdog.unwrap();
    assert_eq!(
        (w.method, w.interval_secs, w.timeout_secs, w.max_evaluation_age_secs, w.ca_file.clone()),
        (Method::Get, 60, 10, 60, None)
    );
    assert_eq!(
        w.alarm(),
        Some(WatchdogAlarm { receivers: vec!["am".into()], every_secs: 60, labels: BTreeMap::new() })
    );
    let ping_only = parse("ingest:\n  allow_anonymous: true\nwatchdog:\n  url: http://127.0.0.1:1/p\n  method: post\n")
        .unwrap()
        .watchdog
        .unwrap();
    assert_eq!((ping_only.method, ping_only.alarm()), (Method::Post, None));
}

#[test]
fn every_watchdog_problem_is_shown_at_its_line_and_column() {
    let problems = parse(&format!(
        "{ALARMS}watchdog:\n  url: 'ftp://u:pw@hc.local/secret-uuid'\n  interval_secs: 30\n  timeout_secs: 45\n  \
         max_evaluation_age_secs: 3\n  receivers: [am, amm, ops]\n  labels: {{alertname: x, collector: hn}}\n"
    ))
    .unwrap_err();
    assert_eq!(
        messages_at(&problems),
        vec![
            (Some((10, 3)), "watchdog.url: `ftp://***@hc.local/…` is not an http:// or https:// URL with a host"),
            (
                Some((12, 3)),
                "watchdog.timeout_secs: must be from 1 to interval_secs (30), or a slow ping would hold up the next"
            ),
            (
                Some((13, 3)),
                "watchdog.max_evaluation_age_secs: must be at least 4 (twice alarms.evaluate_every_ms), \
                 or an evaluation on time would withhold the ping"
            ),
            (Some((14, 19)), "watchdog.receivers[1]: no receiver is named `amm`; the receivers are: am, ops"),
            (
                Some((14, 24)),
                "watchdog.receivers[2]: `ops` reaches people, and the watchdog alarm goes every interval_secs; \
                 send it to an alertmanager or webhook receiver"
            ),
            (
                Some((15, 12)),
                "watchdog.labels.alertname: a label name is letters, digits and _ (not first a digit), \
                 and not alertname or severity, which the alarm sets itself"
            ),
        ]
    );
    let e = dcwatch_common::config::ConfigError { path: "/x/collector.yaml".into(), problems };
    assert!(e.to_string().starts_with("/x/collector.yaml:10:3: watchdog.url: "), "{e}");
}

#[test]
fn a_watchdog_with_nothing_to_do_or_an_alarm_without_alarms_is_refused() {
    let anon = "ingest:\n  allow_anonymous: true\n";
    let table = [
        (
            format!("{anon}watchdog:\n  interval_secs: 30\n"),
            vec![(
                Some((3, 1)),
                "watchdog: set url (a ping) or receivers (the watchdog alarm), or leave the section out",
            )],
        ),
        (
            format!("{anon}watchdog:\n  receivers: [am]\n"),
            vec![(
                Some((4, 3)),
                "watchdog.receivers: alarms are not configured (alarms:), so nothing could send the watchdog alarm",
            )],
        ),
        (
            format!("{anon}watchdog:\n  url: http://h/p\n  ca_file: /nonexistent/ca.pem\n  method: put\n"),
            vec![(Some((6, 11)), "watchdog.method: unknown variant `put`, expected one of get, post")],
        ),
        (
            format!("{anon}watchdog:\n  url: http://h/p\n  ca_file: /nonexistent/ca.pem\n"),
            vec![(
                Some((5, 3)),
                "watchdog.ca_file: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)",
            )],
        ),
        (
            format!("{anon}watchdog:\n  url: http://h/p\n  interval_secs: ten\n"),
            vec![(
                Some((5, 18)),
                "watchdog.interval_secs: expected a duration such as 30s, 5m, 1h30m or a number of seconds, found `ten`",
            )],
        ),
    ];
    for (yaml, want) in table {
        let problems = parse(&yaml).unwrap_err();
        assert_eq!(messages_at(&problems), want, "{yaml}");
    }
}

#[test]
fn health_thresholds_are_checked_at_their_keys() {
    let problems = parse(
        "ingest:\n  allow_anonymous: true\napi:\n  health:\n    fail_on:\n      sink_down_secs: 0\n      \
         spool_used_pct: 120\n      alarms_stalled_secs: 30\n",
    )
    .unwrap_err();
    assert_eq!(
        messages_at(&problems),
        vec![
            (Some((6, 7)), "api.health.fail_on.sink_down_secs: must be at least 1"),
            (Some((7, 7)), "api.health.fail_on.spool_used_pct: must be above 0 and at most 100, found 120"),
            (
                Some((8, 7)),
                "api.health.fail_on.alarms_stalled_secs: alarms are not configured (alarms:), so nothing is evaluated"
            ),
        ]
    );
    let ok = parse(&format!("{ALARMS}api:\n  health:\n    fail_on: {{alarms_stalled_secs: 2m, spool_used_pct: 90}}\n"))
        .unwrap();
    let f = ok.api.health.fail_on;
    assert_eq!((f.sink_down_secs, f.spool_used_pct, f.alarms_stalled_secs), (None, Some(90.0), Some(120)));
    assert_eq!(
        parse("ingest:\n  allow_anonymous: true\n").unwrap().api.health,
        crate::api::health::HealthConfig::default()
    );
}

#[test]
fn a_ping_goes_only_while_the_alarm_evaluation_completes_in_time() {
    let max = Duration::from_secs(60);
    let s = Duration::from_secs;
    let table = [
        (None, Verdict::Working(None)),
        (Some(s(0)), Verdict::Working(Some(s(0)))),
        (Some(s(60)), Verdict::Working(Some(s(60)))),
        (Some(s(61)), Verdict::Stalled(s(61))),
    ];
    for (ago, want) in table {
        assert_eq!(judge(ago, max), want, "{ago:?}");
    }
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(
        status_text(Verdict::Working(Some(Duration::from_millis(1250)))),
        format!("dcwatch-collector {v}: alarms evaluated 1.2 s ago")
    );
    assert_eq!(status_text(Verdict::Working(None)), format!("dcwatch-collector {v}: running (alarms are off)"));
}

#[test]
fn logs_show_a_ping_url_without_its_secret() {
    let table = [
        ("https://hc-ping.com/0f6c7a2e-uuid", "https://hc-ping.com/…"),
        ("https://u:pw@hc.local:8000/ping/key/slug?create=1", "https://***@hc.local:8000/…"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
        ("not a url", "…"),
    ];
    for (url, want) in table {
        assert_eq!(shown_url(url), want, "{url}");
    }
    assert_eq!(shown_url_in("no such check https://hc-ping.com/0f6c"), "no such check https://hc-ping.com/…");
}

/// The engine's alarms config with `am` and `hook`, and the watchdog to `am` every 60 s.
fn engine(dir: &Path) -> crate::alarm::Engine {
    let yaml = format!(
        "db: {}\nlang: en\nreceivers:\n  - {{name: am, alertmanager: {{url: 'http://127.0.0.1:9'}}}}\n  \
         - {{name: hook, webhook: {{url: 'http://127.0.0.1:9/x'}}}}\n",
        dir.join("alarms.db").display()
    );
    let mut cfg: AlarmsConfig = dcwatch_common::config::parse(&yaml, Path::new("/x/alarms.yaml")).unwrap();
    cfg.watchdog = Some(WatchdogAlarm { receivers: vec!["am".into()], every_secs: 60, labels: BTreeMap::new() });
    crate::alarm::Engine::open(cfg).unwrap()
}

/// Notices waiting per receiver (nothing delivers them in these tests).
fn queued(e: &crate::alarm::Engine) -> Vec<(String, i64)> {
    e.undelivered().unwrap().into_iter().map(|u| (u.receiver, u.count)).collect()
}

#[test]
fn the_watchdog_alarm_goes_to_its_receivers_every_interval_and_no_person_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let (t0, ms) = (Instant::now(), 1_795_000_000_000);
    let at = |secs: u64| (t0 + Duration::from_secs(secs), ms + secs as i64 * 1000);
    let (now, now_ms) = at(0);
    e.evaluate_at(now, now_ms);
    assert_eq!(queued(&e), [("am".to_string(), 1)], "firing, to `am` only");
    for (secs, want) in [(59, 1), (60, 2), (61, 2), (120, 3)] {
        let (now, now_ms) = at(secs);
        e.evaluate_at(now, now_ms);
        assert_eq!(queued(&e), [("am".to_string(), want)], "at {secs} s");
    }
    // Not in the lists people read (the console, /api/alarms).
    assert_eq!(e.alarms(), []);
    // Its one history event is its first firing.
    let h = e.history(10).unwrap();
    assert_eq!(
        h.iter().map(|x| (x["name"].as_str(), x["event"].as_str())).collect::<Vec<_>>(),
        [(Some("watchdog"), Some("firing"))]
    );
    // Acknowledged (through the API, by its fingerprint): it goes on.
    let fp = crate::alarm::conditions::fingerprint(crate::alarm::builtin::collector::WATCHDOG, &BTreeMap::new());
    e.ack(&fp, "an", "ok").unwrap();
    let (now, now_ms) = at(180);
    e.evaluate_at(now, now_ms);
    assert_eq!(queued(&e), [("am".to_string(), 4)]);
    // Turned off: removed without a resolve notice.
    e.set_config(AlarmsConfig { watchdog: None, ..(*e.config()).clone() });
    let (now, now_ms) = at(240);
    e.evaluate_at(now, now_ms);
    assert_eq!(queued(&e), [("am".to_string(), 4)]);
    assert_eq!(e.history(1).unwrap()[0]["event"], "resolved");
    // Every evaluation completed.
    assert_eq!(e.evaluated_ago(now), Duration::ZERO);
    assert_eq!(e.evaluated_ago(now + Duration::from_secs(5)), Duration::from_secs(5));
}
