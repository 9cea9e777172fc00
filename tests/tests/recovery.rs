//! Retries probe a recovered peer quickly: after an outage of a minute, an
//! agent resumes writing to its collector, and a collector sink to
//! VictoriaMetrics, within the documented probe interval (5 s,
//! `common::forward::PROBE_INTERVAL`) of the peer's return. Before, backoff
//! had grown to 16–30 s by then. The figures printed go to docs/benchmarks.md.

use std::time::{Duration, Instant};

use dcwatch_tests::*;

const TOKEN: &str = "e2e-agent-token-0123456789";
/// As long as the outages that showed the slow return: by then the old
/// backoff had doubled past 16 s, so a shorter outage would hide it.
const OUTAGE: Duration = Duration::from_secs(60);
/// The probe interval (5 s), plus a batch's flush and a request, with room
/// for a loaded test machine.
const DEADLINE: Duration = Duration::from_secs(12);

fn poll_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what} took longer than {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_agent_resumes_writing_within_the_probe_interval_after_a_minute_without_its_collector() {
    let sink = Capture::start();
    let yaml = format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\nsinks:\n  - name: capture\n    url: {}\n",
        sink.url()
    );
    let collector = Collector::start(&yaml);
    // The agent's default max_backoff_secs (60) applies: only the probe cap
    // keeps it from waiting that long.
    let _agent = Agent::start(&format!(
        "agent:\n  site: hn-dc1\n  interval_secs: 1\noutput:\n  url: {}\n  token: {TOKEN}\n  flush_interval_ms: 200\nsources:\n  - type: host\n",
        collector.url()
    ));
    wait_for("the agent's first points", || {
        (collector.metric("dcwatch_collector_points_received_total")? > 0.0).then_some(())
    });
    let (dir, port) = collector.kill9();
    std::thread::sleep(OUTAGE);
    let collector = Collector::start_at(dir, &yaml, port);
    let took = poll_until("the agent's first write after the outage", DEADLINE, || {
        collector.metric("dcwatch_collector_points_received_total").is_some_and(|n| n > 0.0)
    });
    println!("agent: first write {:.1} s after the collector answered again ({OUTAGE:?} outage)", took.as_secs_f64());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_sink_resumes_writing_within_the_probe_interval_after_a_minute_without_victoriametrics() {
    let vm = Victoria::start();
    let port = vm.port;
    let yaml = format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: w\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\nsinks:\n  - name: vm\n    url: {}\n    flush_interval_ms: 200\n",
        vm.url()
    );
    let collector = Collector::start(&yaml);
    let sent = || collector.metric("dcwatch_collector_sink_points_sent_total{sink=\"vm\"}").unwrap_or(-1.0);
    assert_eq!(collector.post("/api/v2/write", Some(TOKEN), false, b"before v=1\n").0, 204);
    wait_for("the first point in VictoriaMetrics", || (sent() == 1.0).then_some(()));
    drop(vm);
    // Written while VictoriaMetrics is down: the sink retries it throughout.
    assert_eq!(collector.post("/api/v2/write", Some(TOKEN), false, b"during v=2\n").0, 204);
    std::thread::sleep(OUTAGE);
    let vm = Victoria::start_on(port);
    let took = poll_until("the sink's first write after the outage", DEADLINE, || sent() == 2.0);
    println!("sink: first write {:.1} s after VictoriaMetrics answered again ({OUTAGE:?} outage)", took.as_secs_f64());
    let during = vm.wait_series("during_v");
    assert_eq!(during[0].values, vec![2.0]);
}
