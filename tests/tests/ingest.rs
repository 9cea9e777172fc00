//! The collector's write API under bad input, with a real VictoriaMetrics
//! behind it: what is refused is never forwarded, what is valid still is,
//! and the collector keeps serving throughout.

use dcwatch_tests::*;

const HN: &str = "token-for-site-hn-000001";

fn start() -> (Victoria, Collector) {
    let vm = Victoria::start();
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  max_body_bytes: 4096\n  tokens:\n    - name: hn-agents\n      token: {HN}\n      site: hn\n      poller: true\nsinks:\n  - name: vm\n    url: {}\n    flush_interval_ms: 100\n",
        vm.url()
    ));
    (vm, collector)
}

/// Writes a marker point and waits until it is in VictoriaMetrics. The sink
/// forwards in order, so anything accepted before the marker is there too.
/// (Test points carry no timestamp: the collector stamps the receipt time,
/// and VictoriaMetrics silently drops samples outside its retention.)
fn flush_through(vm: &Victoria, collector: &Collector, n: u32) {
    let (status, body) = collector.post("/api/v2/write", Some(HN), false, format!("marker,site=hn n={n}\n").as_bytes());
    assert_eq!(status, 204, "{body}");
    wait_for("the marker to arrive", || {
        let s = vm.export("marker_n");
        s.first().filter(|s| s.values.contains(&f64::from(n))).map(|_| ())
    });
}

fn assert_serving(collector: &Collector) {
    assert_eq!(collector.health()["status"], "pass");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_wrong_token_is_401_and_nothing_is_forwarded() {
    let (vm, collector) = start();
    let (status, body) =
        collector.post("/api/v2/write", Some("wrong-token-000000000000"), false, b"leak,site=hn v=1\n");
    assert_eq!(status, 401);
    assert_eq!(body, r#"{"code":"unauthorized","message":"missing or unknown token"}"#);
    let (status, _) = collector.post("/api/v2/write", None, false, b"leak,site=hn v=2\n");
    assert_eq!(status, 401);
    flush_through(&vm, &collector, 1);
    assert!(vm.export("leak_v").is_empty(), "refused points reached InfluxDB");
    assert_eq!(collector.metric("dcwatch_collector_write_requests_rejected_total{reason=\"unauthorized\"}"), Some(2.0));
    assert_serving(&collector);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_token_for_site_hn_cannot_write_site_hcm() {
    let (vm, collector) = start();
    let (status, body) = collector.post("/api/v2/write", Some(HN), false, b"ups,site=hcm,device=u1 load_pct=40\n");
    assert_eq!(status, 403, "{body}");
    // In a mixed body only the other site's line is refused.
    let (status, body) = collector.post(
        "/api/v2/write",
        Some(HN),
        false,
        b"ups,site=hn,device=u1 load_pct=41\nups,site=hcm,device=u2 load_pct=42\n",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 2: site `hcm` is not allowed"), "{body}");
    flush_through(&vm, &collector, 2);
    let ups = vm.export("ups_load_pct");
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert_eq!((ups[0].label("site"), ups[0].values.as_slice()), ("hn", [41.0].as_slice()));
    assert_eq!(collector.metric("dcwatch_collector_points_rejected_total{reason=\"forbidden\"}"), Some(2.0));
    assert_serving(&collector);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_body_over_the_limit_is_413() {
    let (vm, collector) = start();
    let big = "big,site=hn v=1\n".repeat(400);
    let (status, body) = collector.post("/api/v2/write", Some(HN), false, big.as_bytes());
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("ingest.max_body_bytes"), "{body}");
    let (status, _) = collector.post("/api/v2/write", Some(HN), true, big.as_bytes());
    assert_eq!(status, 413, "a small gzip body that inflates past the limit must be refused too");
    flush_through(&vm, &collector, 3);
    assert!(vm.export("big_v").is_empty());
    assert_eq!(collector.metric("dcwatch_collector_write_requests_rejected_total{reason=\"too_large\"}"), Some(2.0));
    assert_serving(&collector);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_malformed_line_is_named_and_the_valid_lines_arrive() {
    let (vm, collector) = start();
    let body = b"env,site=hn,sensor=s1 temperature_c=24.5\nenv,site=hn,sensor=s2 temperature_c=\nenv,site=hn,sensor=s3 temperature_c=26.5\n";
    let (status, answer) = collector.post("/api/v2/write", Some(HN), true, body);
    assert_eq!(status, 400, "{answer}");
    let json: serde_json::Value = serde_json::from_str(&answer).expect("JSON error");
    assert_eq!(json["line"], 2);
    assert!(json["message"].as_str().unwrap_or("").starts_with("partial write: line 2:"), "{answer}");
    flush_through(&vm, &collector, 4);
    let mut sensors: Vec<_> =
        vm.export("env_temperature_c").iter().map(|s| (s.label("sensor").to_string(), s.values[0])).collect();
    sensors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sensors, vec![("s1".to_string(), 24.5), ("s3".to_string(), 26.5)]);
    assert_serving(&collector);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn broken_gzip_is_400_and_the_collector_keeps_serving() {
    let (vm, collector) = start();
    let zipped = gzip_bytes(b"gz,site=hn v=1\n");
    let (status, answer) = post_gzip_raw(&collector, zipped[..zipped.len() - 6].to_vec());
    assert_eq!(status, 400);
    assert!(answer.contains("not valid gzip"), "{answer}");
    flush_through(&vm, &collector, 5);
    assert!(vm.export("gz_v").is_empty());
    assert_serving(&collector);
}

/// Posts `body` as it is, declared gzip (for bodies the test builds itself).
fn post_gzip_raw(collector: &Collector, body: Vec<u8>) -> (u16, String) {
    let resp = collector
        .client()
        .post(format!("{}/api/v2/write", collector.url()))
        .header("Authorization", format!("Token {HN}"))
        .header("Content-Encoding", "gzip")
        .body(body)
        .send()
        .expect("post");
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

/// Regression: a body of two gzip members one after another (`cat a.gz
/// b.gz`, which RFC 1952 allows) lost every line of the second member.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn every_member_of_a_multi_member_gzip_body_is_accepted() {
    let (vm, collector) = start();
    let mut body = gzip_bytes(b"gzm,site=hn,part=a v=1\ngzm,site=hn,part=b v=2\n");
    body.extend(gzip_bytes(b"gzm,site=hn,part=c v=3\n"));
    let (status, answer) = post_gzip_raw(&collector, body);
    assert_eq!(status, 204, "{answer}");
    flush_through(&vm, &collector, 6);
    let mut parts: Vec<_> =
        vm.export("gzm_v").iter().map(|s| (s.label("part").to_string(), s.values.clone())).collect();
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(parts, vec![("a".to_string(), vec![1.0]), ("b".to_string(), vec![2.0]), ("c".to_string(), vec![3.0])]);
    assert_eq!(collector.metric("dcwatch_collector_points_received_total"), Some(4.0), "3 lines and the marker");
    assert_serving(&collector);
}

/// The size limit holds for the inflated total of all members: a small
/// first member followed by one that inflates past the limit is refused,
/// and nothing of either arrives.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_second_gzip_member_that_inflates_past_the_limit_is_413() {
    let (vm, collector) = start();
    let mut body = gzip_bytes(b"gzb,site=hn v=1\n");
    body.extend(gzip_bytes("gzb,site=hn v=2\n".repeat(400).as_bytes()));
    let (status, answer) = post_gzip_raw(&collector, body);
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("ingest.max_body_bytes"), "{answer}");
    flush_through(&vm, &collector, 7);
    assert!(vm.export("gzb_v").is_empty());
    assert_serving(&collector);
}

/// What Telegraf's InfluxDB output sends: several measurements, sorted and
/// escaped tags, unsigned and string fields, nanosecond timestamps.
const TELEGRAF: &str = r#"cpu,cpu=cpu-total,host=web\ 01,site=hn usage_idle=98.51,usage_system=0.5,usage_user=0.99 1700000000000000000
disk,device=sda1,fstype=ext4,host=web\ 01,mode=rw,path=/srv/my\ data\,v2,site=hn free=52844032000i,inodes_used_percent=2.25,used_percent=41.2 1700000000000000000
mem,host=web\ 01,site=hn available=3084853248i,used_percent=61.7 1700000000000000000
net,host=web\ 01,interface=eth0,site=hn bytes_recv=9876543210u,drop_in=0u,err_in=0u 1700000000000000000
system,host=web\ 01,site=hn load1=0.42,n_cpus=4i,uptime_format="12 days,  3:04" 1700000000000000000
"#;

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_telegraf_payload_is_forwarded_unchanged() {
    let sink = Capture::start();
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: telegraf\n      token: {HN}\n      site: hn\n      poller: true\nsinks:\n  - name: capture\n    url: {}\n    flush_interval_ms: 100\n",
        sink.url()
    ));
    let (status, body) =
        collector.post("/api/v2/write?org=o&bucket=b&precision=ns", Some(HN), true, TELEGRAF.as_bytes());
    assert_eq!(status, 204, "{body}");
    let forwarded = wait_for("the capture sink to receive the batch", || {
        let all: Vec<u8> = sink.requests().into_iter().flat_map(|(_, b)| b).collect();
        (!all.is_empty()).then_some(all)
    });
    let forwarded = String::from_utf8(forwarded).expect("UTF-8");
    let parse = |text: &str| -> Vec<String> {
        influxdb_line_protocol::parse_lines(text).map(|l| l.expect("valid line").to_string()).collect()
    };
    assert_eq!(parse(&forwarded), parse(TELEGRAF));
    assert_eq!(forwarded, TELEGRAF, "lines needing no change are forwarded byte for byte");
    let (path, _) = &sink.requests()[0];
    assert_eq!(path, "/api/v2/write?org=dcwatch&bucket=dcwatch&precision=ns");
}
