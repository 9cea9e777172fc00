//! Agent → collector → InfluxDB, and agent → InfluxDB directly, against the
//! real servers (InfluxDB 1.6 for the v1 API, VictoriaMetrics for v2).

use dcwatch_tests::*;

const TOKEN: &str = "e2e-agent-token-0123456789";

fn collector_yaml(sink: &str) -> String {
    format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n{sink}"
    )
}

fn agent_yaml(url: &str, token: Option<&str>) -> String {
    let token = token.map(|t| format!("  token: {t}\n")).unwrap_or_default();
    format!(
        "agent:\n  site: hn-dc1\n  interval_secs: 1\noutput:\n  url: {url}\n{token}  flush_interval_ms: 200\nsources:\n  - type: host\n"
    )
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn agent_through_collector_reaches_influxdb_1_with_exact_memory_and_disk_totals() {
    let influx = Influx1::start();
    influx.create_db("dc");
    let collector = Collector::start(&collector_yaml(&format!(
        "sinks:\n  - name: influx1\n    flavour: v1\n    url: {}\n    database: dc\n    flush_interval_ms: 200\n",
        influx.url()
    )));
    let _agent = Agent::start(&agent_yaml(&collector.url(), Some(TOKEN)));
    let host = hostname();
    let q = |measure: &str, field: &str, extra: &str| {
        format!("SELECT last(\"{field}\") FROM \"{measure}\" WHERE \"host\" = '{host}' AND \"site\" = 'hn-dc1'{extra}")
    };

    // host_cpu appears only from the second interval on (the first sample is discarded).
    let usage = wait_for("host_cpu in InfluxDB 1.x", || influx.scalar("dc", &q("host_cpu", "usage_pct", "")));
    let usage = usage.as_f64().expect("usage_pct is a number");
    assert!((0.0..=100.0).contains(&usage), "usage_pct {usage}");

    let mem = wait_for("host_mem in InfluxDB 1.x", || influx.scalar("dc", &q("host_mem", "total_bytes", "")));
    assert_eq!(mem.as_u64(), Some(mem_total_bytes()));

    let disk = wait_for("host_disk for / in InfluxDB 1.x", || {
        influx.scalar("dc", &q("host_disk", "total_bytes", " AND \"mount\" = '/'"))
    });
    assert_eq!(disk.as_u64(), Some(fs_total_bytes("/")));

    let version = wait_for("dcwatch_agent in InfluxDB 1.x", || influx.scalar("dc", &q("dcwatch_agent", "version", "")));
    assert_eq!(version.as_str(), Some(env!("CARGO_PKG_VERSION")));

    assert!(influx.scalar("dc", &q("host_load", "load1", "")).is_some(), "host_load missing");
    assert!(influx.scalar("dc", &q("host_net", "rx_bytes_total", "")).is_some(), "host_net missing");
}

fn assert_host_series_arrived(vm: &Victoria) {
    let host = hostname();
    let mem = vm.wait_series(&format!("host_mem_total_bytes{{host=\"{host}\",site=\"hn-dc1\"}}"));
    assert_eq!(mem.len(), 1, "{mem:?}");
    assert_eq!(*mem[0].values.last().expect("a sample"), mem_total_bytes() as f64);
    let disk = vm.wait_series(&format!("host_disk_total_bytes{{host=\"{host}\",mount=\"/\"}}"));
    assert_eq!(*disk[0].values.last().expect("a sample"), fs_total_bytes("/") as f64);
    let cpu = vm.wait_series(&format!("host_cpu_usage_pct{{host=\"{host}\",cpu=\"total\"}}"));
    assert_eq!(cpu[0].label("site"), "hn-dc1");
    let beat = vm.wait_series(&format!("dcwatch_agent_uptime_s{{host=\"{host}\"}}"));
    assert_eq!(beat[0].label("site"), "hn-dc1");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn agent_through_collector_reaches_victoriametrics_over_the_v2_api() {
    let vm = Victoria::start();
    let collector = Collector::start(&collector_yaml(&format!(
        "sinks:\n  - name: vm\n    flavour: v2\n    url: {}\n    org: dc\n    bucket: power\n    token: sink-token\n    flush_interval_ms: 200\n",
        vm.url()
    )));
    let _agent = Agent::start(&agent_yaml(&collector.url(), Some(TOKEN)));
    assert_host_series_arrived(&vm);
    let sent = wait_for("the sink to count sent points", || {
        collector.metric("dcwatch_collector_sink_points_sent_total{sink=\"vm\"}").filter(|v| *v > 0.0)
    });
    assert!(sent >= 4.0, "sent {sent}");
    let health = collector.health();
    assert_eq!(health["agents"][0]["host"], hostname());
    assert_eq!(health["sinks"][0]["name"], "vm");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn agent_writes_straight_to_victoriametrics_with_no_collector() {
    let vm = Victoria::start();
    let _agent = Agent::start(&agent_yaml(&vm.url(), Some("any-token-vm-ignores")));
    assert_host_series_arrived(&vm);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn sighup_does_not_kill_the_agent_or_the_collector_and_sigterm_stops_them_cleanly() {
    let mut collector = Collector::start(&collector_yaml(""));
    let mut agent = Agent::start(&agent_yaml(&collector.url(), Some(TOKEN)));
    wait_for("the agent's first write", || collector.health()["agents"][0]["points"].as_u64().filter(|n| *n > 0));
    for p in [agent.proc.pid(), collector.proc.pid()] {
        // SAFETY: kill(2) on our own children.
        unsafe { libc::kill(p as i32, libc::SIGHUP) };
    }
    wait_for("both to log the SIGHUP", || {
        (agent.proc.output().contains("SIGHUP: reloading the configuration")
            && collector.proc.output().contains("SIGHUP: reloading the configuration"))
        .then_some(())
    });
    assert_eq!(agent.proc.exited(), None, "the agent died on SIGHUP");
    assert_eq!(collector.proc.exited(), None, "the collector died on SIGHUP");
    assert_eq!(collector.health()["status"], "pass");
    assert_eq!(agent.proc.terminate().code(), Some(0));
    assert_eq!(collector.proc.terminate().code(), Some(0));
}

/// Regression: a sink URL's `user:password@` was shown in `/health` and in
/// every log line of a failed write, and a webhook's in the notice errors.
/// Both targets here are closed ports, so every write and notice fails and
/// is logged.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn credentials_in_sink_and_webhook_urls_never_reach_health_metrics_logs_or_the_api() {
    let (sink_port, hook_port) = (free_port(), free_port());
    let dir = TempDir::new().expect("tempdir");
    let db = dir.path().join("alarms.db");
    let collector = Collector::start_in(
        dir,
        &collector_yaml(&format!(
            "sinks:\n  - name: influx\n    url: http://admin:S3cretPw@127.0.0.1:{sink_port}\n    flush_interval_ms: 100\n\
             alarms:\n  db: {}\n  evaluate_every_ms: 200\n  rules:\n    - name: room_hot\n      \
             measurement: env\n      field: temperature_c\n      above: 30\n  receivers:\n    - name: hook\n      \
             webhook: {{url: 'http://hookuser:HookPw99@127.0.0.1:{hook_port}/hook'}}\n",
            db.display()
        )),
    );
    let (status, body) =
        collector.post("/api/v2/write", Some(TOKEN), false, b"env,site=hn-dc1,device=room1 temperature_c=35\n");
    assert_eq!(status, 204, "{body}");
    let health = wait_for("the sink's first failed write", || {
        let h = collector.health();
        h["sinks"][0]["last_error"].is_string().then_some(h)
    });
    assert_eq!(
        health["sinks"][0]["endpoint"],
        format!("http://***@127.0.0.1:{sink_port}/api/v2/write?org=dcwatch&bucket=dcwatch&precision=ns")
    );
    wait_for("a failed notice in the log", || collector.proc.output().contains("notice not delivered").then_some(()));
    let api = http(None)
        .get(format!("{}/api/alarms", collector.url()))
        .bearer_auth(dcwatch_tests::API_TOKEN)
        .send()
        .and_then(|r| r.text())
        .expect("api");
    let log = collector.proc.output();
    assert!(log.contains(&format!("endpoint=http://***@127.0.0.1:{sink_port}/api/v2/write")), "{log}");
    assert!(log.contains(&format!("http://***@127.0.0.1:{hook_port}/hook")), "{log}");
    for (what, text) in
        [("/health", health.to_string()), ("/metrics", collector.metrics()), ("/api/alarms", api), ("the log", log)]
    {
        for secret in ["S3cretPw", "admin:", "HookPw99", "hookuser"] {
            assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
        }
    }
}
