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

const WEB01: &str = "web01.dc.local";
const LINE: &[u8] = b"host_cpu,site=hn,host=web01 usage_pct=12\n";

/// A collector on HTTPS asking clients for a certificate signed by the
/// same test CA as its own; `extra_tls` and `tokens` are YAML lines under
/// `listen.tls` and `ingest.tokens`. Its harness client presents a web01
/// certificate when `harness_cert` (for `client_cert: required`).
fn mtls_collector(extra_tls: &str, tokens: &str, harness_cert: bool) -> Collector {
    let dir = TempDir::new().expect("tempdir");
    let d = dir.path();
    make_ca_and_server_cert(d, "good");
    std::fs::copy(d.join("good-ca.pem"), d.join("ca.pem")).expect("copy CA");
    if harness_cert {
        std::fs::copy(make_client_cert(d, "good", WEB01), d.join("identity.pem")).expect("copy identity");
    }
    let yaml = format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  tls:\n    cert_file: {d}/good-server.pem\n    key_file: {d}/good-server.key\n    \
         client_ca_file: {d}/good-ca.pem\n{extra_tls}ingest:\n  tokens:\n{tokens}",
        d = d.display()
    );
    Collector::start_in(dir, &yaml)
}

fn post_with(
    collector: &Collector,
    client: &reqwest::blocking::Client,
    token: &str,
) -> Result<(u16, String), reqwest::Error> {
    let resp = client
        .post(format!("{}/api/v2/write?precision=s", collector.url()))
        .header("Authorization", format!("Token {token}"))
        .body(LINE)
        .send()?;
    Ok((resp.status().as_u16(), resp.text()?))
}

/// The whole chain of an error, where rustls puts the TLS alert.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn with_client_cert_required_a_client_without_a_certificate_fails_the_handshake_and_one_with_it_writes() {
    let tokens = format!("    - {{name: agent, token: {TOKEN}, site: hn}}\n");
    let collector = mtls_collector("    client_cert: required\n", &tokens, true);
    let d = collector.dir.path();
    // Over TLS 1.2 the refusal is part of the handshake, so the client sees
    // the alert itself; over TLS 1.3 it may see the alert or the connection
    // closed after it, depending on timing.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(d.join("ca.pem")).expect("CA")).expect("CA PEM");
    let tls12 = reqwest::blocking::Client::builder()
        .tls_certs_only([ca])
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client");
    let err = post_with(&collector, &tls12, TOKEN).expect_err("a client without a certificate must be refused");
    assert!(chain(&err).contains("received fatal alert: CertificateRequired"), "{}", chain(&err));
    let tls13 = http(Some(&d.join("ca.pem")));
    post_with(&collector, &tls13, TOKEN).expect_err("a client without a certificate must be refused");
    assert_eq!(collector.metric("dcwatch_collector_points_received_total"), Some(0.0));
    let with = http_as(Some(&d.join("ca.pem")), Some(&d.join("identity.pem")));
    assert_eq!(post_with(&collector, &with, TOKEN).expect("write with a client certificate"), (204, String::new()));
    assert_eq!(collector.metric("dcwatch_collector_points_received_total"), Some(1.0));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_token_bound_to_a_client_certificate_name_is_refused_with_another_hosts_certificate() {
    let tokens = format!("    - {{name: web01, token: {TOKEN}, site: hn, client_cert_name: {WEB01}}}\n");
    let collector = mtls_collector("", &tokens, false);
    let d = collector.dir.path();
    let db01 = http_as(Some(&d.join("ca.pem")), Some(&make_client_cert(d, "good", "db01.dc.local")));
    let (status, body) = post_with(&collector, &db01, TOKEN).expect("write with the db01 certificate");
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON"),
        serde_json::json!({
            "code": "forbidden",
            "message": "token `web01` must come with a client certificate for `web01.dc.local`"
        })
    );
    assert_eq!(
        collector.metric("dcwatch_collector_write_requests_rejected_total{reason=\"client_certificate\"}"),
        Some(1.0)
    );
    assert_eq!(collector.metric("dcwatch_collector_points_received_total"), Some(0.0));
    let audit = collector
        .client()
        .get(format!("{}/api/audit?limit=10", collector.url()))
        .bearer_auth(API_TOKEN)
        .send()
        .and_then(|r| r.text())
        .expect("audit log");
    let audit: serde_json::Value = serde_json::from_str(&audit).expect("audit JSON");
    let refused: Vec<_> = audit["audit"]
        .as_array()
        .expect("audit rows")
        .iter()
        .filter(|r| r["action"] == "ingest_auth_failed")
        .map(|r| (r["actor"].clone(), r["role"].clone(), r["outcome"].clone(), r["comment"].clone()))
        .collect();
    assert_eq!(
        refused,
        vec![(
            "web01".into(),
            "agent".into(),
            "refused".into(),
            "token `web01` must come with a client certificate for `web01.dc.local`".into()
        )]
    );
    let web01 = http_as(Some(&d.join("ca.pem")), Some(&make_client_cert(d, "good", WEB01)));
    assert_eq!(post_with(&collector, &web01, TOKEN).expect("write with the web01 certificate"), (204, String::new()));
    assert_eq!(collector.metric("dcwatch_collector_points_received_total"), Some(1.0));
}

/// An agent of site hn trusting the test CA and presenting `cert` and `key`.
fn agent_with_cert(collector: &Collector, cert: &std::path::Path, key: &std::path::Path) -> Agent {
    Agent::start(&format!(
        "agent:\n  site: hn\n  interval_secs: 1\noutput:\n  url: {}\n  token: {TOKEN}\n  ca_file: {}\n  \
         cert_file: {}\n  key_file: {}\n  flush_interval_ms: 100\n",
        collector.url(),
        collector.dir.path().join("ca.pem").display(),
        cert.display(),
        key.display()
    ))
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_agent_presenting_its_client_certificate_writes_where_one_is_required_and_bound_to_its_token() {
    let tokens = format!("    - {{name: web01, token: {TOKEN}, site: hn, client_cert_name: {WEB01}}}\n");
    let collector = mtls_collector("    client_cert: required\n", &tokens, true);
    let d = collector.dir.path();
    let identity = make_client_cert(d, "good", WEB01);
    let (cert, key) = (d.join(format!("good-client-{WEB01}.pem")), d.join(format!("good-client-{WEB01}.key")));
    assert!(identity.exists() && cert.exists() && key.exists());
    let agent = agent_with_cert(&collector, &cert, &key);
    wait_for("the agent's points over mutual TLS", || {
        collector.health()["agents"][0]["points"].as_u64().filter(|n| *n > 0)
    });
    assert_eq!(collector.health()["agents"][0]["host"], hostname());
    assert_eq!(
        collector.metric("dcwatch_collector_write_requests_rejected_total{reason=\"client_certificate\"}"),
        Some(0.0)
    );
    assert!(!agent.proc.output().contains("write failed"), "{}", agent.proc.output());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_agent_reads_its_renewed_client_certificate_on_sighup() {
    let tokens = format!("    - {{name: web01, token: {TOKEN}, site: hn, client_cert_name: {WEB01}}}\n");
    let collector = mtls_collector("", &tokens, false);
    let d = collector.dir.path();
    // First the agent holds a certificate for another name: refused.
    let (cert, key) = (d.join("agent.pem"), d.join("agent.key"));
    make_client_cert(d, "good", "db01.dc.local");
    std::fs::copy(d.join("good-client-db01.dc.local.pem"), &cert).expect("cert");
    std::fs::copy(d.join("good-client-db01.dc.local.key"), &key).expect("key");
    let agent = agent_with_cert(&collector, &cert, &key);
    wait_for("the collector to refuse the db01 certificate", || {
        collector
            .metric("dcwatch_collector_write_requests_rejected_total{reason=\"client_certificate\"}")
            .filter(|n| *n >= 1.0)
    });
    assert_eq!(collector.metric("dcwatch_collector_points_received_total"), Some(0.0));
    // The renewed certificate, under the same paths, and SIGHUP.
    make_client_cert(d, "good", WEB01);
    std::fs::copy(d.join(format!("good-client-{WEB01}.pem")), &cert).expect("cert");
    std::fs::copy(d.join(format!("good-client-{WEB01}.key")), &key).expect("key");
    unsafe { libc::kill(agent.proc.pid() as i32, libc::SIGHUP) };
    wait_for("the agent's points with its renewed certificate", || {
        collector.metric("dcwatch_collector_points_received_total").filter(|n| *n > 0.0)
    });
    assert!(!agent.proc.output().contains("the configuration is unchanged"), "{}", agent.proc.output());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_agent_with_a_client_certificate_but_no_key_is_refused_by_validate() {
    let dir = TempDir::new().expect("tempdir");
    let d = dir.path();
    make_ca_and_server_cert(d, "good");
    let cert = make_client_cert(d, "good", WEB01);
    let path = d.join("agent.yaml");
    let run = |extra: &str| {
        std::fs::write(
            &path,
            format!("agent:\n  site: hn\noutput:\n  url: https://127.0.0.1:1\n  token: {TOKEN}\n{extra}"),
        )
        .expect("write config");
        let out = std::process::Command::new(bin("dcwatch-agent"))
            .args(["validate", "-c"])
            .arg(&path)
            .output()
            .expect("run validate");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run(&format!("  cert_file: {}\n", cert.display()));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("output: cert_file is set without key_file: give both or neither"), "{stderr}");
    let ca = d.join("good-ca.pem");
    let (code, stderr) = run(&format!("  cert_file: {}\n  key_file: {}\n", cert.display(), ca.display()));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("output: key_file {} holds no PEM private key", ca.display())), "{stderr}");
    let (code, stderr) = run(&format!("  cert_file: {0}\n  key_file: {0}\n", cert.display()));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_sighup_makes_new_connections_use_the_replaced_certificate_and_a_broken_one_is_refused() {
    let collector = tls_collector();
    let d = collector.dir.path();
    make_ca_and_server_cert(d, "new");
    let trusts_new = http(Some(&d.join("new-ca.pem")));
    let ping =
        |c: &reqwest::blocking::Client| c.get(format!("{}/ping", collector.url())).send().map(|r| r.status().as_u16());
    let err = ping(&trusts_new).expect_err("the old certificate is not signed by the new CA");
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));

    std::fs::copy(d.join("new-server.pem"), d.join("good-server.pem")).expect("replace cert");
    std::fs::copy(d.join("new-server.key"), d.join("good-server.key")).expect("replace key");
    unsafe { libc::kill(collector.proc.pid() as i32, libc::SIGHUP) };
    wait_for("the collector to reload its certificate", || {
        collector.proc.output().contains("TLS certificate, key and client CA reloaded").then_some(())
    });
    assert_eq!(ping(&trusts_new).expect("the new certificate"), 204);
    // The reloaded config still offers h2 by ALPN.
    let version = trusts_new.get(format!("{}/ping", collector.url())).send().expect("ping").version();
    assert_eq!(version, reqwest::Version::HTTP_2);
    let err = ping(&http(Some(&d.join("good-ca.pem")))).expect_err("the old CA no longer matches");
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));

    std::fs::write(d.join("good-server.pem"), "not a certificate\n").expect("break cert");
    unsafe { libc::kill(collector.proc.pid() as i32, libc::SIGHUP) };
    let line = wait_for("the collector to refuse the broken certificate", || {
        collector.proc.output().lines().find(|l| l.contains("cannot load the TLS certificate")).map(str::to_string)
    });
    assert!(line.contains("listen.tls.cert_file"), "{line}");
    assert_eq!(ping(&trusts_new).expect("the running certificate stays"), 204);
}

fn plain_collector(address: &str) -> Collector {
    Collector::start(&format!(
        "listen:\n  address: {address}:{{port}}\ningest:\n  tokens:\n    - {{name: agent, token: {TOKEN}, site: hn}}\n"
    ))
}

fn listening_log(collector: &Collector) -> String {
    wait_for("the collector to log that it listens", || {
        let out = collector.proc.output();
        out.contains("dcwatch-collector listening").then_some(out)
    })
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn plain_http_on_every_address_warns_that_tokens_travel_in_clear_and_on_loopback_does_not() {
    let open = plain_collector("0.0.0.0");
    let out = listening_log(&open);
    let warning: Vec<_> = out.lines().filter(|l| l.contains("tokens travel in clear")).collect();
    assert_eq!(warning.len(), 1, "{out}");
    assert!(warning[0].contains(&format!("address=0.0.0.0:{}", open.port)), "{}", warning[0]);
    assert!(warning[0].contains("WARN"), "{}", warning[0]);

    let local = plain_collector("127.0.0.1");
    let out = listening_log(&local);
    assert!(!out.contains("tokens travel in clear"), "{out}");
}
