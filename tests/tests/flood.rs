//! Attacks from a writer that holds one agent's token (and from anyone who
//! can open a socket), against the real collector: series, alarms and
//! notices flooded, bodies held half-sent, connections opened and left
//! idle. Past each limit (docs/security.md (Limits)) the flood is refused or
//! counted exactly, every write of the other agent is accepted, and the
//! collector keeps serving in bounded memory. Loopback only; bounded in
//! count; no timing is asserted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dcwatch_tests::*;

const FLOOD: &str = "flood-token-0123456789";
const WEB: &str = "web01-token-0123456789";

fn tokens() -> String {
    format!(
        "  tokens:\n    - {{name: flood, token: {FLOOD}, site: hn}}\n    - {{name: web01, token: {WEB}, site: hn, host: web01}}\n"
    )
}

/// Reads until the collector closes `s`; panics if it keeps it open.
fn closed_by_server(mut s: TcpStream) {
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the collector kept the connection open: {e}"),
        }
    }
}

/// A write whose headers are in, whose body the collector has begun to
/// read (it answered `100 Continue`), and of which only 10 of 100 bytes come.
fn slow_body(port: u16, token: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        s,
        "POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\nContent-Length: 100\r\n\
         Expect: 100-continue\r\n\r\n"
    )
    .expect("headers");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("100 Continue\r\n\r\n") {
        let n = s.read(&mut buf).expect("100 Continue");
        assert!(n > 0, "closed before 100 Continue: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(b"slow,v=1 x").expect("part of the body");
    s
}

/// The status line's code of the next answer on `s`.
fn answer(s: &mut TcpStream) -> u16 {
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("an answer");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// A write of web01's on a connection of its own: its status, or None when
/// the collector closed the connection unanswered.
fn try_web_write(port: u16) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(PATIENCE)).ok()?;
    let body = "host_cpu,cpu=total usage_pct=5\n";
    let req = format!(
        "POST /api/v2/write HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {WEB}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(req.as_bytes());
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).split(' ').nth(1).and_then(|c| c.parse().ok())
}

fn closed(c: &Collector, reason: &str) -> Option<f64> {
    c.metric_once(&format!("dcwatch_collector_connections_closed_total{{reason=\"{reason}\"}}"))
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn sockets_that_send_no_request_and_an_idle_h2c_session_are_closed_and_counted() {
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  first_request_timeout_secs: 1\n  idle_timeout_secs: 2\ningest:\n{}",
        tokens()
    ));
    let connect = || TcpStream::connect(("127.0.0.1", c.port)).expect("connect");
    // Nothing at all; 16 bytes of the HTTP/2 preface; the whole preface
    // and a SETTINGS frame, then no request.
    let idle = connect();
    let mut partial = connect();
    partial.write_all(b"PRI * HTTP/2.0\r\n").expect("send");
    let mut h2 = connect();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").expect("send");
    // An h2c session that made one request and then keeps quiet (its
    // client answers the collector's pings).
    let client = reqwest::blocking::Client::builder().http2_prior_knowledge().build().expect("h2c client");
    let resp = client.get(format!("{}/ping", c.url())).send().expect("h2c request");
    assert_eq!((resp.status().as_u16(), resp.version()), (204, reqwest::Version::HTTP_2));
    for s in [idle, partial, h2] {
        closed_by_server(s);
    }
    wait_for("the idle h2c session to be closed", || (closed(&c, "idle_timeout") == Some(1.0)).then_some(()));
    assert_eq!(closed(&c, "first_request_timeout"), Some(3.0));
    assert_eq!(closed(&c, "evicted"), Some(0.0));
    // Still serving, on a new connection of the same client.
    assert_eq!(client.get(format!("{}/ping", c.url())).send().expect("again").status().as_u16(), 204);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_tls_handshake_that_never_comes_is_closed_and_counted() {
    let dir = TempDir::new().expect("tempdir");
    make_ca_and_server_cert(dir.path(), "good");
    std::fs::copy(dir.path().join("good-ca.pem"), dir.path().join("ca.pem")).expect("copy CA");
    let yaml = format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  first_request_timeout_secs: 1\n  tls:\n    cert_file: {d}/good-server.pem\n    \
         key_file: {d}/good-server.key\ningest:\n{}",
        tokens(),
        d = dir.path().display()
    );
    let c = Collector::start_in(dir, &yaml);
    closed_by_server(TcpStream::connect(("127.0.0.1", c.port)).expect("connect"));
    let n = wait_for("the stalled handshake to be counted", || {
        c.metric("dcwatch_collector_connections_closed_total{reason=\"first_request_timeout\"}").filter(|n| *n > 0.0)
    });
    assert_eq!(n, 1.0);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn at_the_connection_cap_an_idle_connection_makes_room_for_the_agent() {
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  max_connections: 4\n  first_request_timeout_secs: 30\ningest:\n{}",
        tokens()
    ));
    // web01's own keep-alive connection, proven by a write; the metrics are read on it.
    let web = http(None);
    let write = |client: &reqwest::blocking::Client| {
        client
            .post(format!("{}/api/v2/write", c.url()))
            .header("Authorization", format!("Token {WEB}"))
            .body("host_cpu,cpu=total usage_pct=5\n")
            .send()
            .expect("write")
            .status()
            .as_u16()
    };
    assert_eq!(write(&web), 204);
    let metric = |name: &str| -> Option<f64> {
        let text = web.get(format!("{}/metrics", c.url())).send().expect("metrics").text().expect("text");
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    // Three sockets that say nothing fill the cap.
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(("127.0.0.1", c.port)).expect("connect")).collect();
    wait_for("four open connections", || (metric("dcwatch_collector_connections_open") == Some(4.0)).then_some(()));
    // The agent's new connection closes an idle one that never used a token
    // (the one idle longest; which that is depends on when each was taken).
    assert_eq!(try_web_write(c.port), Some(204));
    for s in &idle {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let open =
        |s: &TcpStream| matches!((&*s).read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    wait_for("an idle socket to be closed", || (!idle.iter().all(open)).then_some(()));
    assert_eq!(idle.iter().filter(|s| open(s)).count(), 2, "one closed, two kept");
    assert_eq!(metric("dcwatch_collector_connections_closed_total{reason=\"evicted\"}"), Some(1.0));
    assert_eq!(metric("dcwatch_collector_connections_refused_total"), Some(0.0));
    assert_eq!(write(&web), 204, "its own connection was kept");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn with_every_connection_busy_a_newcomer_is_refused_until_the_slow_bodies_time_out() {
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  max_connections: 4\ningest:\n  read_timeout_secs: 3\n{}",
        tokens()
    ));
    // Four writes of the flood token, each with its body being read, and none coming.
    let mut slow: Vec<TcpStream> = Vec::new();
    for _ in 0..4 {
        slow.push(slow_body(c.port, FLOOD));
    }
    assert_eq!(try_web_write(c.port), None, "refused: every connection has a request in progress");
    for s in &mut slow {
        assert_eq!(answer(s), 408);
    }
    assert_eq!(try_web_write(c.port), Some(204));
    assert_eq!(c.metric_once("dcwatch_collector_connections_refused_total"), Some(1.0));
    assert_eq!(c.metric_once("dcwatch_collector_write_requests_rejected_total{reason=\"timeout\"}"), Some(4.0));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_token_reading_half_the_bodies_at_once_gets_503_and_the_other_agent_still_writes() {
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  max_concurrent_bodies: 4\n{}",
        tokens()
    ));
    let _held = [slow_body(c.port, FLOOD), slow_body(c.port, FLOOD)];
    let (status, body) = c.post("/api/v2/write", Some(FLOOD), false, b"flood v=1\n");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body,
        r#"{"code":"unavailable","message":"token `flood` has 2 writes being read, its share of ingest.max_concurrent_bodies (4); send them one after another"}"#
    );
    assert_eq!(try_web_write(c.port), Some(204));
    assert_eq!(c.metric("dcwatch_collector_write_bodies_refused_total{reason=\"token_share\"}"), Some(1.0));
    assert_eq!(c.metric("dcwatch_collector_write_requests_rejected_total{reason=\"overloaded\"}"), Some(1.0));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_token_over_its_write_rate_gets_429_before_its_body_is_read_and_the_other_agent_still_writes() {
    let dir = TempDir::new().expect("tempdir");
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  rate_limit: {{points_per_sec: 1, burst_points: 1000}}\n{}\
         alarms:\n  db: {}\n  evaluate_every_ms: 100\n",
        tokens(),
        dir.path().join("alarms.db").display()
    ));
    // 3000 lines: let in on a full allowance (1000), which it overdraws to
    // -2000, paid back at 1 point/s.
    let body: String = (0..3000).map(|i| format!("host_disk,host=f{i:04},mount=/ used_pct=10\n")).collect();
    assert_eq!(c.post("/api/v2/write", Some(FLOOD), false, body.as_bytes()), (204, String::new()));
    // The next is refused at once, before its body is read.
    let resp = c
        .client()
        .post(format!("{}/api/v2/write", c.url()))
        .header("Authorization", format!("Token {FLOOD}"))
        .body(body.clone())
        .send()
        .expect("the flood's second write");
    assert_eq!(resp.status().as_u16(), 429);
    // 2001 s less the seconds since the first write (a few at most).
    let retry: u64 = resp.headers()["retry-after"].to_str().expect("ASCII").parse().expect("seconds");
    assert!((1990..=2001).contains(&retry), "Retry-After: {retry}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&resp.text().expect("body")).expect("JSON"),
        serde_json::json!({
            "code": "too many requests",
            "message": format!("token `flood` is over its write rate of 1 points/s (ingest.rate_limit); retry in {retry} s")
        })
    );
    // Headers that promise a body never sent: answered at once, not at the
    // read timeout (408 after 30 s).
    let mut s = TcpStream::connect(("127.0.0.1", c.port)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        s,
        "POST /api/v2/write HTTP/1.1\r\nHost: x\r\nAuthorization: Token {FLOOD}\r\nContent-Length: 100000\r\n\r\nhost_disk"
    )
    .expect("send headers");
    assert_eq!(answer(&mut s), 429);
    // Another token has its own allowance.
    assert_eq!(c.post("/api/v2/write", Some(WEB), false, b"host_cpu,cpu=total usage_pct=5\n").0, 204);
    assert_eq!(c.metric("dcwatch_collector_write_requests_rejected_total{reason=\"rate_limited\"}"), Some(2.0));
    assert_eq!(c.metric("dcwatch_collector_write_rate_limited_total{token=\"flood\"}"), Some(2.0));
    assert_eq!(c.metric("dcwatch_collector_write_rate_limited_total{token=\"web01\"}"), None);
    assert_eq!(c.metric("dcwatch_collector_points_received_total"), Some(3001.0));
    // One warning, not one per request; and the collector's own alarm.
    let out = c.proc.output();
    let warnings: Vec<_> = out.lines().filter(|l| l.contains("token over its write rate")).collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].contains("agent=flood") && warnings[0].contains(&format!("retry_after_secs={retry}")),
        "{}",
        warnings[0]
    );
    let alarm = wait_for("the ingest_rate_limited alarm", || {
        let v: serde_json::Value = c
            .client()
            .get(format!("{}/api/alarms", c.url()))
            .bearer_auth(API_TOKEN)
            .send()
            .and_then(|r| r.text())
            .map(|t| serde_json::from_str(&t).expect("alarms JSON"))
            .expect("alarms");
        v["alarms"].as_array()?.iter().find(|a| a["name"] == "ingest_rate_limited").cloned()
    });
    assert_eq!(alarm["labels"], serde_json::json!({"token": "flood"}));
    assert_eq!(alarm["severity"], "warning");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_refused_body_and_a_long_line_are_charged_to_the_rate_limit_by_their_size() {
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  rate_limit: {{points_per_sec: 1, burst_points: 1000}}\n{}",
        tokens()
    ));
    // One malformed line of 300 000 bytes: refused (400), and it costs
    // 300000 / 256 = 1171 points, more than the allowance.
    let (status, _) = c.post("/api/v2/write", Some(FLOOD), false, &b"x".repeat(300_000));
    assert_eq!(status, 400);
    assert_eq!(c.post("/api/v2/write", Some(FLOOD), false, b"host_disk,host=x,mount=/ used_pct=1\n").0, 429);
    // A body that is not gzip at all, sent as gzip: refused and charged too.
    let c2 = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  rate_limit: {{points_per_sec: 1, burst_points: 1000}}\n{}",
        tokens()
    ));
    let resp = c2
        .client()
        .post(format!("{}/api/v2/write", c2.url()))
        .header("Authorization", format!("Token {FLOOD}"))
        .header("Content-Encoding", "gzip")
        .body(vec![b'y'; 40_000])
        .send()
        .expect("bad gzip");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(c2.post("/api/v2/write", Some(FLOOD), false, b"host_disk,host=x,mount=/ used_pct=1\n").0, 429);
    assert_eq!(c2.post("/api/v2/write", Some(WEB), false, b"host_cpu,cpu=total usage_pct=5\n").0, 204);
}

/// Series the flood writes (4 × the default cap, in each of 5 bodies) and
/// the default limits it meets.
const FLOOD_BODIES: usize = 5;
const FLOOD_LINES: usize = 20_000;
const SERIES_CAP: usize = 5000;
const ALARM_CAP: usize = 500;
const NOTICES_PER_WINDOW: usize = 20;

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn one_token_flooding_series_alarms_and_notices_is_held_at_the_caps_while_another_agent_writes() {
    let dir = TempDir::new().expect("tempdir");
    let sink = Capture::start();
    let hook = Capture::start();
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  max_hosts_per_token: 100\n{}sinks:\n  - name: capture\n    url: {}\n    \
         flush_interval_ms: 100\nalarms:\n  lang: en\n  db: {}\n  receivers:\n    - {{name: hook, webhook: {{url: '{}/hook'}}}}\n  \
         limits: {{notice_window_secs: 5}}\n",
        tokens(),
        sink.url(),
        dir.path().join("alarms.db").display(),
        hook.url()
    ));
    // The other agent writes every 50 ms throughout, on its keep-alive connection.
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (stop, url) = (stop.clone(), format!("{}/api/v2/write", c.url()));
        std::thread::spawn(move || {
            let client = http(None);
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let resp = client
                    .post(&url)
                    .header("Authorization", format!("Token {WEB}"))
                    .body("host_cpu,cpu=total usage_pct=5\nhost_disk,mount=/ used_pct=40\ndcwatch_agent uptime_s=1\n")
                    .send()
                    .expect("the other agent's write");
                statuses.push(resp.status().as_u16());
                std::thread::sleep(Duration::from_millis(50));
            }
            statuses
        })
    };
    let rss_before = c.proc.memory_bytes("VmRSS");
    // The flood: 100 000 new filesystems, each 95 % full (a disk_full alarm each).
    for b in 0..FLOOD_BODIES {
        let body: String = (0..FLOOD_LINES)
            .map(|i| format!("host_disk,host=f{:06},mount=/ used_pct=95\n", b * FLOOD_LINES + i))
            .collect();
        let (status, text) = c.post("/api/v2/write", Some(FLOOD), true, body.as_bytes());
        assert_eq!(status, 204, "{text}");
    }
    let total = (FLOOD_BODIES * FLOOD_LINES) as f64;
    let refused = total - SERIES_CAP as f64;
    wait_for("every flood point to be counted", || {
        (c.metric("dcwatch_collector_state_points_refused_total{reason=\"series_cap\",token=\"flood\"}")
            == Some(refused))
        .then_some(())
    });
    // The first window: the most severe and first-named 20 one by one, the rest in one summary.
    let notices = || -> Vec<serde_json::Value> {
        hook.requests().iter().filter_map(|(_, b)| serde_json::from_slice(b).ok()).collect()
    };
    let summary = wait_for("the summary notice", || notices().into_iter().find(|n| n["notice"] == "summary"));
    stop.store(true, Ordering::Relaxed);
    let statuses = other.join().expect("the other agent");

    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| *s == 204), "the other agent's writes: {statuses:?}");
    assert_eq!(c.metric("dcwatch_collector_state_token_entries{token=\"flood\"}"), Some(SERIES_CAP as f64));
    // Its disk, CPU (kept for the console's hosts page), heartbeat series and heartbeat.
    assert_eq!(c.metric("dcwatch_collector_state_token_entries{token=\"web01\"}"), Some(4.0));
    assert_eq!(
        c.metric("dcwatch_collector_alarms_not_raised{reason=\"alarm_cap\",site=\"hn\"}"),
        Some((SERIES_CAP - ALARM_CAP) as f64)
    );
    // 500 disk_full, alarm_cap_reached and series_cap_reached.
    assert_eq!(c.metric("dcwatch_collector_alarms{state=\"firing\",severity=\"warning\"}"), Some(502.0));
    let folded = 502 - NOTICES_PER_WINDOW;
    assert_eq!(c.metric("dcwatch_collector_notices_folded_total"), Some(folded as f64));
    let all = notices();
    assert_eq!(all.len(), NOTICES_PER_WINDOW + 1, "{all:?}");
    assert_eq!(all[0]["name"], "alarm_cap_reached");
    assert_eq!(all[1]["labels"], serde_json::json!({"site": "hn", "host": "f000000", "mount": "/"}));
    assert_eq!(
        summary["summary"],
        format!(
            "{folded} more alarm notices at site hn in 5 s ({folded} firing, 0 resolved), not sent one by one; see the console: \
             disk_full{{host=f000019,mount=/}}, disk_full{{host=f000020,mount=/}}, disk_full{{host=f000021,mount=/}}, \
             disk_full{{host=f000022,mount=/}}, disk_full{{host=f000023,mount=/}}, … {} more",
            folded - 5
        )
    );
    // Hosts: 64 per body tracked at most, 100 per token; the rest counted.
    assert_eq!(c.metric("dcwatch_collector_hosts_untracked_total{token=\"flood\"}"), Some((5 * 64 - 100) as f64));
    assert_eq!(c.health()["agents"].as_array().map(Vec::len), Some(101));
    // Every flood point was still forwarded.
    wait_for("the flood's points at the sink", || {
        let n = sink
            .requests()
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).lines().filter(|l| l.starts_with("host_disk,host=f")).count())
            .sum::<usize>();
        (n == total as usize).then_some(())
    });
    // One warning for the token in the minute, not one per point.
    let warnings = c.proc.output().lines().filter(|l| l.contains("token at its series cap")).count();
    assert_eq!(warnings, 1, "{}", c.proc.output());
    assert!(c.proc.output().lines().any(|l| l.contains("token at its series cap") && l.contains("token=flood")));
    // Memory: the table holds 5000 series and 500 alarms whatever the flood.
    let peak = c.proc.memory_bytes("VmHWM");
    eprintln!("collector RSS before the flood {rss_before} B, peak {peak} B");
    assert!(peak < rss_before + FLOOD_RSS_BOUND, "peak RSS {peak} B, before {rss_before} B");
    assert_eq!(c.post("/api/v2/write", Some(WEB), false, b"host_cpu,cpu=total usage_pct=6\n").0, 204);
    assert_eq!(c.health()["status"], "pass");
}

/// What the caps let the flood add over the collector's idle RSS: 5000
/// series and 500 alarms (a few MB), the bodies parsed with their points
/// (one 0.9 MB body is about 10 MB in flight), SQLite's cache and the
/// outbox, and the allocator's arenas of the worker threads; measured at a
/// peak of about +55 MiB in a debug build. Without the caps the same flood
/// made the collector take so long that `/metrics` and the other agent's
/// writes timed out (20 s).
const FLOOD_RSS_BOUND: u64 = 96 * 1024 * 1024;
