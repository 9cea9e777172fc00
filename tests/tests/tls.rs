//! Agent → collector over HTTPS, with a CA made in the test.

use dcwatch_tests::*;

const TOKEN: &str = "tls-agent-token-0123456789";

fn tls_collector() -> Collector {
    let dir = TempDir::new().expect("tempdir");
    make_ca_and_server_cert(dir.path(), "good");
    std::fs::copy(dir.path().join("good-ca.pem"), dir.path().join("ca.pem")).expect("copy CA");
    let yaml = format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  tls:\n    cert_file: {d}/good-server.pem\n    key_file: {d}/good-server.key\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn\n",
        d = dir.path().display()
    );
    Collector::start_in(dir, &yaml)
}

fn agent(collector: &Collector, ca: &std::path::Path) -> Agent {
    Agent::start(&format!(
        "agent:\n  site: hn\n  interval_secs: 1\noutput:\n  url: {}\n  token: {TOKEN}\n  ca_file: {}\n  flush_interval_ms: 100\n",
        collector.url(),
        ca.display()
    ))
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_agent_trusting_the_collectors_ca_writes_over_https() {
    let collector = tls_collector();
    let _agent = agent(&collector, &collector.dir.path().join("ca.pem"));
    let points = wait_for("the agent's points over HTTPS", || {
        collector.health()["agents"][0]["points"].as_u64().filter(|n| *n > 0)
    });
    assert!(points >= 1);
    assert_eq!(collector.health()["agents"][0]["host"], hostname());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_agent_refuses_a_collector_certificate_not_signed_by_its_ca() {
    let collector = tls_collector();
    let other = TempDir::new().expect("tempdir");
    make_ca_and_server_cert(other.path(), "rogue");
    let agent = agent(&collector, &other.path().join("rogue-ca.pem"));
    let line = wait_for("the agent to log why it refuses the certificate", || {
        agent.proc.output().lines().find(|l| l.contains("write failed")).map(str::to_string)
    });
    assert!(line.contains("invalid peer certificate: UnknownIssuer"), "{line}");
    assert_eq!(collector.health()["agents"], serde_json::json!([]));
    assert_eq!(collector.metric("dcwatch_collector_points_received_total"), Some(0.0));
}
