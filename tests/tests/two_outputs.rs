//! An agent that reports to both sites (`outputs:` with two collectors):
//! a collector that is down delays only its own copy, and when it comes
//! back it receives the whole backlog, in order, with no gap; and an agent
//! switched from `output:` to `outputs:` while points wait in its queue
//! gives that backlog to both.

use std::time::Duration;

use dcwatch_tests::*;

const TOKEN: &str = "two-outputs-token-0123456789";

/// How long one collector stays down: the two-sites issue's 120 s, a
/// backlog of about 120 heartbeats (360 points) that must come back whole.
const OUTAGE: Duration = Duration::from_secs(120);

/// Points the agent makes per heartbeat: `dcwatch_agent` and one
/// `dcwatch_agent_output` per output. The heartbeat's `points` field counts
/// what the agent made before it, so it steps by this.
const STEP: i64 = 3;

fn collector_yaml(influx: &str, db: &str) -> String {
    format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  shutdown_timeout_secs: 2\ningest:\n  tokens:\n    - name: w\n      \
         token: {TOKEN}\n      site: hn\n      poller: true\nsinks:\n  - name: influx\n    flavour: v1\n    url: {influx}\n    \
         database: {db}\n    flush_interval_ms: 100\n    max_backoff_secs: 1\n"
    )
}

/// An agent that sends only its heartbeat, every second, to both collectors.
fn agent_yaml(a: &str, b: &str) -> String {
    let out = |name: &str, url: &str| {
        format!(
            "  - name: {name}\n    url: {url}\n    token: {TOKEN}\n    flush_interval_ms: 100\n    max_backoff_secs: 1\n"
        )
    };
    format!("agent:\n  site: hn\n  host: beat\n  interval_secs: 1\noutputs:\n{}{}", out("a", a), out("b", b))
}

/// An agent like [`agent_yaml`]'s with the single `output:` form.
fn single_output_yaml(url: &str) -> String {
    format!(
        "agent:\n  site: hn\n  host: beat\n  interval_secs: 1\noutput:\n  url: {url}\n  token: {TOKEN}\n  \
         flush_interval_ms: 100\n  max_backoff_secs: 1\n"
    )
}

/// The heartbeats' `points` values database `db` holds, in time order.
fn beats(influx: &Influx1, db: &str) -> Vec<i64> {
    let r = influx.query(db, "SELECT \"points\" FROM \"dcwatch_agent\" WHERE \"host\" = 'beat'");
    r["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|row| row[1].as_i64()).collect())
        .unwrap_or_default()
}

/// Every heartbeat from the first, once each, in order.
fn assert_whole(db: &str, seq: &[i64]) {
    let expected: Vec<i64> = (0..seq.len() as i64).map(|i| i * STEP).collect();
    assert_eq!(seq, expected.as_slice(), "collector {db}: heartbeats lost, repeated or out of order");
}

/// The largest value of a field of output `output`'s lag in database `db`.
fn max_lag(influx: &Influx1, db: &str, field: &str, output: &str) -> i64 {
    let q = format!("SELECT max(\"{field}\") FROM \"dcwatch_agent_output\" WHERE \"output\" = '{output}'");
    influx.scalar(db, &q).and_then(|v| v.as_i64()).unwrap_or(-1)
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_collector_down_delays_only_its_own_copy_and_gets_the_whole_backlog_when_back() {
    let influx = Influx1::start();
    influx.create_db("a");
    influx.create_db("b");
    let a = Collector::start(&collector_yaml(&influx.url(), "a"));
    let b = Collector::start(&collector_yaml(&influx.url(), "b"));
    let _agent = Agent::start(&agent_yaml(&a.url(), &b.url()));
    wait_for("heartbeats at both sites", || {
        (beats(&influx, "a").len() >= 3 && beats(&influx, "b").len() >= 3).then_some(())
    });

    let (dir, port) = b.kill9();
    let at_kill = beats(&influx, "a").len();
    std::thread::sleep(OUTAGE);
    // Site a has had every heartbeat of the outage, with b still down.
    let outage_beats = OUTAGE.as_secs() as usize - 2;
    let seen_by_a = wait_for("site a to have the outage's heartbeats", || {
        let s = beats(&influx, "a");
        (s.len() >= at_kill + outage_beats).then_some(s)
    });
    assert_whole("a", &seen_by_a);
    // The heartbeats a received show b's copy waiting and a's not.
    let b_queued = max_lag(&influx, "a", "queued", "b");
    assert!(b_queued >= STEP * outage_beats as i64 / 2, "b's lag peaked at {b_queued} lines");
    let b_age = max_lag(&influx, "a", "oldest_age_s", "b");
    assert!(b_age >= (OUTAGE.as_secs() / 2) as i64, "b's oldest point peaked at {b_age} s");
    let a_age = max_lag(&influx, "a", "oldest_age_s", "a");
    assert!((0..(OUTAGE.as_secs() / 2) as i64).contains(&a_age), "a's copy waited {a_age} s for b");

    let _b = Collector::start_at(dir, &collector_yaml(&influx.url(), "b"), port);
    let target = beats(&influx, "a").len();
    let seen_by_b = wait_for("site b to receive the whole backlog", || {
        let s = beats(&influx, "b");
        (s.len() >= target).then_some(s)
    });
    assert_whole("b", &seen_by_b);
    assert_whole("a", &beats(&influx, "a"));
}

/// Every heartbeat from the first, once each, in order, across the switch
/// from `output:` (one point a heartbeat) to two outputs (three): returns
/// how many came before the switch.
fn assert_whole_across_the_switch(db: &str, seq: &[i64]) -> usize {
    let single = seq.iter().enumerate().take_while(|(i, v)| **v == *i as i64).count();
    let after = (1..=(seq.len() - single) as i64).map(|j| single as i64 - 1 + j * STEP);
    let expected: Vec<i64> = (0..single as i64).chain(after).collect();
    assert_eq!(seq, expected.as_slice(), "collector {db}: heartbeats lost, repeated or out of order");
    single
}

/// Regression (issue 18): switching from `output:` to `outputs:` started
/// both new outputs at the end of the queue, so what `output` had not yet
/// sent was lost for them.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn switching_output_to_outputs_on_a_reload_gives_both_collectors_the_queued_backlog() {
    let influx = Influx1::start();
    influx.create_db("a");
    influx.create_db("b");
    // The single output names site a's collector, not up yet: heartbeats wait in the queue.
    let port_a = free_port();
    let url_a = format!("http://127.0.0.1:{port_a}");
    let agent = Agent::start(&single_output_yaml(&url_a));
    wait_for("a backlog", || (agent.proc.output().matches("write failed").count() >= 4).then_some(()));

    let b = Collector::start(&collector_yaml(&influx.url(), "b"));
    let path = agent.dir.path().join("agent.yaml");
    let yaml = std::fs::read_to_string(&path).expect("config");
    let queue = &yaml[yaml.find("\nqueue:").expect("the harness's queue section")..];
    std::fs::write(&path, agent_yaml(&url_a, &b.url()) + queue).expect("rewrite config");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(agent.proc.pid() as i32, libc::SIGHUP) };
    wait_for("the agent to reload", || {
        agent.proc.output().contains("SIGHUP: reloading the configuration").then_some(())
    });
    let seen_by_b = wait_for("site b to have the backlog and heartbeats of both outputs", || {
        let s = beats(&influx, "b");
        (s.windows(2).filter(|w| w[1] - w[0] == STEP).count() >= 3).then_some(s)
    });
    // The first heartbeat after the switch still steps by 1 (it follows one
    // of a single output): so at least one queued before it came.
    let backlog = assert_whole_across_the_switch("b", &seen_by_b);
    assert!(backlog >= 2, "no heartbeat from before the switch: {seen_by_b:?}");

    let _a = Collector::start_at(TempDir::new().expect("tempdir"), &collector_yaml(&influx.url(), "a"), port_a);
    let target = beats(&influx, "b").len();
    let seen_by_a = wait_for("site a to receive the whole backlog", || {
        let s = beats(&influx, "a");
        (s.len() >= target).then_some(s)
    });
    assert_eq!(assert_whole_across_the_switch("a", &seen_by_a), backlog);
}
