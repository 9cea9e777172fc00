//! The dead man's switch with real collector processes: the pings of two
//! collectors reach a small HTTP server while either runs and stop when
//! both are gone; a collector whose alarm evaluation is stuck stops pinging
//! (and fails `/health`) until it runs again; and the always-firing
//! `watchdog` alarm stays active in a real Alertmanager past its
//! `resolve_timeout` while the collector runs, and ends once it stops.
//!
//! No timing assertions: the tests wait for counts, and "stopped" is a count
//! that did not grow over several ping intervals.

use std::time::Duration;

use dcwatch_tests::*;

/// Every ping interval of these tests.
const INTERVAL: Duration = Duration::from_secs(1);

/// A collector with alarms (evaluated every 200 ms, in `db`) that pings
/// `url` every second by `method`, with `more` at the end of its config.
fn collector_yaml(db: &std::path::Path, url: &str, method: &str, more: &str) -> String {
    format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  shutdown_timeout_secs: 1\ningest:\n  allow_anonymous: true\n\
         alarms:\n  lang: en\n  db: {}\n  evaluate_every_ms: 200\n{more}\
         watchdog:\n  url: {url}\n  method: {method}\n  interval_secs: 1\n  timeout_secs: 1\n  max_evaluation_age_secs: 3\n",
        db.display()
    )
}

/// The pings `capture` received: (POSTed ones, with their status text; GETs).
fn pings(capture: &Capture) -> (Vec<String>, usize) {
    let all = capture.requests();
    let posts =
        all.iter().filter(|(_, b)| !b.is_empty()).map(|(_, b)| String::from_utf8_lossy(b).into_owned()).collect();
    (posts, all.iter().filter(|(_, b)| b.is_empty()).count())
}

/// Waits three ping intervals (and a little) and says whether `count` stayed the same.
fn stays(what: &str, count: impl Fn() -> usize) -> usize {
    let before = count();
    std::thread::sleep(INTERVAL * 3 + Duration::from_millis(500));
    let after = count();
    assert_eq!(after, before, "{what}: still arriving after the collectors were stopped");
    after
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn the_pings_go_on_while_either_collector_runs_and_stop_when_both_are_gone() {
    let dir = TempDir::new().expect("tempdir");
    // One check for the pair, as a healthchecks-style service would have it.
    let target = Capture::start();
    let url = format!("{}/ping/0f6c7a2e-pair", target.url());
    let a = Collector::start(&collector_yaml(&dir.path().join("a.db"), &url, "post", ""));
    let b = Collector::start(&collector_yaml(&dir.path().join("b.db"), &url, "get", ""));
    // Both up: pings from both (a POSTs its status, b GETs).
    let (posts, gets) = wait_for("three pings from each collector", || {
        let (posts, gets) = pings(&target);
        (posts.len() >= 3 && gets >= 3).then_some((posts, gets))
    });
    assert!(target.requests().iter().all(|(path, _)| path == "/ping/0f6c7a2e-pair"), "{:?}", target.requests());
    let text = format!("dcwatch-collector {}: alarms evaluated ", env!("CARGO_PKG_VERSION"));
    assert!(posts.iter().all(|p| p.starts_with(&text) && p.ends_with(" s ago")), "{posts:?}");
    let sent = a.metric("dcwatch_collector_watchdog_pings_total{result=\"sent\"}").expect("the ping counter");
    assert!(sent >= 3.0, "{sent}");
    assert_eq!(a.metric("dcwatch_collector_watchdog_pings_total{result=\"failed\"}"), Some(0.0));

    // b is killed: a's pings go on, b's have stopped.
    let _ = b.kill9();
    std::thread::sleep(INTERVAL);
    let gets_after_kill = pings(&target).1;
    assert!(gets_after_kill >= gets);
    let posts_then = pings(&target).0.len();
    wait_for("three more pings from the collector still up", || {
        (pings(&target).0.len() >= posts_then + 3).then_some(())
    });
    assert_eq!(pings(&target).1, gets_after_kill, "the killed collector pinged");

    // Both gone: the pings stop.
    let _ = a.kill9();
    std::thread::sleep(INTERVAL);
    let total = stays("pings", || target.requests().len());
    assert!(total >= gets_after_kill + posts_then + 3, "{total}");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_collector_whose_alarm_evaluation_is_stuck_stops_pinging_and_fails_health_until_it_runs_again() {
    let dir = TempDir::new().expect("tempdir");
    let target = Capture::start();
    let hook = Capture::start();
    let db = dir.path().join("alarms.db");
    // The watchdog alarm too (to a webhook): each interval's evaluation
    // writes its repeat to alarms.db, so a database that takes no write
    // stalls the evaluation.
    let more = format!(
        "  receivers:\n    - name: hook\n      webhook: {{url: {}/hook}}\n\
         api:\n  tokens:\n    - {{name: harness, token: {API_TOKEN}, role: admin}}\n  \
         health:\n    fail_on: {{alarms_stalled_secs: 3}}\n",
        hook.url()
    );
    let yaml = collector_yaml(&db, &format!("{}/ping", target.url()), "get", &more)
        .replace("  max_evaluation_age_secs: 3\n", "  max_evaluation_age_secs: 3\n  receivers: [hook]\n");
    let c = Collector::start(&yaml);
    let health = || {
        let r = http(None).get(format!("{}/health", c.url())).send().expect("health");
        (r.status().as_u16(), r.text().expect("health body"))
    };
    wait_for("two pings", || (target.requests().len() >= 2).then_some(()));
    wait_for("the watchdog alarm at the webhook", || (hook.requests().len() >= 2).then_some(()));
    assert_eq!(health(), (200, r#"{"status":"pass"}"#.to_string()));

    // Another program holds alarms.db's write lock: the evaluation waits
    // for it (5 s), cannot write, and tries again, and again.
    let script = "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                  c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(3600)\n";
    let mut locker = Proc::spawn(
        "sqlite-locker",
        std::process::Command::new(system_program("python3")).arg("-c").arg(script).arg(&db),
        dir.path(),
    );
    wait_for("the lock on alarms.db", || {
        assert!(locker.exited().is_none(), "the locker exited:\n{}", locker.output());
        locker.output().contains("locked").then_some(())
    });
    let withheld = || c.metric("dcwatch_collector_watchdog_pings_total{result=\"withheld\"}").unwrap_or(0.0);
    wait_for("a ping withheld", || (withheld() >= 1.0).then_some(()));
    let stalled = wait_for("/health to fail", || Some(health()).filter(|(code, _)| *code == 503));
    assert_eq!(stalled.1, r#"{"failing":["alarms_stalled_secs"],"status":"fail"}"#);
    let seen = target.requests().len();
    let w = withheld();
    wait_for("three more pings withheld", || (withheld() >= w + 3.0).then_some(()));
    assert_eq!(target.requests().len(), seen, "a ping went while the evaluation was stuck");
    assert!(c.proc.output().contains("the alarm evaluation has stalled: watchdog pings withheld"));

    // The lock is gone: the evaluation writes again, the pings resume, /health passes.
    drop(locker);
    wait_for("the pings to resume", || (target.requests().len() >= seen + 2).then_some(()));
    wait_for("/health to pass", || Some(health()).filter(|(code, _)| *code == 200));
    assert!(c.proc.output().contains("the alarm evaluation runs again: watchdog pings resume"));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn the_watchdog_alarm_stays_active_in_alertmanager_past_its_resolve_timeout_and_ends_when_the_collector_stops() {
    const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
    let am = Alertmanager::start_with(&format!(
        "global:\n  resolve_timeout: {}s\nroute:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n",
        RESOLVE_TIMEOUT.as_secs()
    ));
    let dir = TempDir::new().expect("tempdir");
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  shutdown_timeout_secs: 1\ningest:\n  allow_anonymous: true\n\
         alarms:\n  lang: en\n  db: {}\n  evaluate_every_ms: 200\n  receivers:\n    \
         - name: am\n      alertmanager: {{url: {}}}\n\
         watchdog:\n  interval_secs: 1\n  timeout_secs: 1\n  receivers: [am]\n  labels: {{collector: hn-dc1}}\n",
        dir.path().join("alarms.db").display(),
        am.url()
    ));
    let watchdog = || am.alerts().into_iter().find(|a| a["labels"]["alertname"] == "watchdog");
    let first = wait_for("the watchdog alert in Alertmanager", watchdog);
    assert_eq!(
        first["labels"],
        serde_json::json!({"alertname": "watchdog", "severity": "info", "collector": "hn-dc1"})
    );
    assert_eq!(
        first["annotations"]["summary"],
        "Always firing on purpose, not a problem: this collector still evaluates and sends alarms; \
         when it stops arriving, check the collector"
    );
    assert_eq!(first["status"]["state"], "active");
    // Twice Alertmanager's resolve_timeout later it is still active: it was sent again meanwhile.
    std::thread::sleep(RESOLVE_TIMEOUT * 2);
    let later = watchdog().expect("the watchdog alert is still active past resolve_timeout");
    assert_eq!(later["status"]["state"], "active");
    assert_eq!(later["startsAt"], first["startsAt"], "the same alert, not a new one");
    assert_ne!(later["endsAt"], first["endsAt"], "sent again: its end moved on");
    // People do not see it: not in the collector's alarm list.
    let listed = http(None)
        .get(format!("{}/api/alarms", c.url()))
        .bearer_auth(API_TOKEN)
        .send()
        .and_then(|r| r.bytes())
        .expect("/api/alarms");
    let listed: serde_json::Value = serde_json::from_slice(&listed).expect("JSON");
    assert_eq!(listed["alarms"], serde_json::json!([]));

    // The collector is gone: Alertmanager ends the alert after resolve_timeout.
    let _ = c.kill9();
    wait_for("Alertmanager to end the watchdog alert", || watchdog().is_none().then_some(()));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_reload_starts_and_stops_the_pings() {
    let dir = TempDir::new().expect("tempdir");
    let target = Capture::start();
    let yaml = collector_yaml(&dir.path().join("alarms.db"), &format!("{}/ping", target.url()), "get", "");
    let (without, with) = yaml.split_once("watchdog:\n").expect("a watchdog section");
    let c = Collector::start(without);
    let path = c.dir.path().join("collector.yaml");
    let reload = |text: String| {
        std::fs::write(&path, text).expect("rewrite the config");
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(c.proc.pid() as i32, libc::SIGHUP) };
    };
    let running = std::fs::read_to_string(&path).expect("config");
    reload(format!("{running}watchdog:\n{with}"));
    wait_for("pings after the reload that added watchdog.url", || (target.requests().len() >= 2).then_some(()));
    reload(running);
    wait_for("the reload that took it away", || {
        (c.proc.output().matches("configuration reloaded").count() == 2).then_some(())
    });
    stays("pings after the reload that took watchdog.url away", || target.requests().len());
}
