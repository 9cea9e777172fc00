//! `dcwatch-collector status` against a running collector: a sink that is
//! down (nothing listens on its port) beside one that is up (a capture
//! server), the spool, a site with a feed that has sent nothing and a site
//! with no data at all, in Vietnamese and English, times in the site's zone.

use dcwatch_tests::*;

const TOKEN: &str = "status-test-token-0123456789";

/// `status --lang {lang}` (no `--lang` for "") run against `c`; its output.
fn status(c: &Collector, lang: &str) -> String {
    let mut cmd = std::process::Command::new(bin("dcwatch-collector"));
    cmd.arg("status");
    if !lang.is_empty() {
        cmd.args(["--lang", lang]);
    }
    let out = cmd.arg("-c").arg(c.dir.path().join("collector.yaml")).output().expect("status");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `line` with its `dd/mm/yyyy HH:MM` (or `d Mon yyyy HH:MM`) time after
/// `prefix` replaced by `<time>`: the time of a retry is not known in
/// advance. The unit tests check the time itself.
fn without_time(line: &str, prefix: &str, vi: bool) -> String {
    let rest = line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    let (time, after) = rest.split_once(": ").unwrap_or_else(|| panic!("no time in {line:?}"));
    let ok = if vi {
        jiff::civil::DateTime::strptime("%d/%m/%Y %H:%M", time).is_ok()
    } else {
        jiff::civil::DateTime::strptime("%d %b %Y %H:%M", time).is_ok()
    };
    assert!(ok, "{time:?} is not a time written the language's way");
    format!("{prefix}<time>: {after}")
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn status_shows_a_feed_without_data_and_a_sink_that_is_down_in_vietnamese_and_english() {
    let dir = TempDir::new().expect("tempdir");
    let up = Capture::start();
    let closed = free_port();
    let c = Collector::start(&format!(
        "timezone: Asia/Ho_Chi_Minh\nlisten:\n  address: 127.0.0.1:{{port}}\n\
         ingest:\n  tokens:\n    - name: poller\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         sinks:\n  - name: capture\n    url: {}\n    flush_interval_ms: 100\n    gzip: false\n  \
         - name: influx-hcm\n    url: http://127.0.0.1:{closed}\n    flush_interval_ms: 100\n    max_backoff_secs: 1\n\
         spool:\n  dir: {}\n  segment_max_bytes: 1048576\n  max_bytes: 8388608\n\
         alarms:\n  db: {}\n  evaluate_every_ms: 200\n  sites:\n    - name: hn-dc1\n      feeds: [A, B]\n    \
         - name: hcm-dc2\n      feeds: [A, B]\n",
        up.url(),
        dir.path().join("spool").display(),
        dir.path().join("alarms.db").display(),
    ));
    // Feed A of hn-dc1 is live; feed B and hcm-dc2 have sent nothing.
    let (code, text) =
        c.post("/api/v2/write", Some(TOKEN), false, b"power_feed,feed=A,device=meter-a live=true,voltage_v=231.4\n");
    assert_eq!(code, 204, "{text}");
    wait_for("the capture sink to take the point", || (!up.requests().is_empty()).then_some(()));
    let error = wait_for("influx-hcm to be down", || {
        let h = c.health();
        let s = h["sinks"].as_array()?.iter().find(|s| s["name"] == "influx-hcm")?.clone();
        (s["state"] == "down").then(|| s["last_error"].as_str().map(str::to_string))?
    });
    let bytes = c.metric("dcwatch_collector_spool_bytes").expect("spool bytes") as u64;
    assert!(bytes < 1024, "{bytes} B: the expected lines below write bytes as B");

    let vi = status(&c, "vi");
    let lines: Vec<&str> = vi.lines().collect();
    let sink_down = without_time(lines[5], "  influx-hcm  MẤT KẾT NỐI   1 điểm  ", true);
    let mut seen: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    seen[5] = sink_down;
    assert_eq!(
        seen,
        [
            format!("Trạng thái dcwatch — collector {}", c.url()),
            String::new(),
            "NƠI LƯU DỮ LIỆU".into(),
            "  tên         trạng thái   chờ gửi  lỗi gần nhất".into(),
            "  capture     hoạt động     0 điểm  —".into(),
            format!("  influx-hcm  MẤT KẾT NỐI   1 điểm  <time>: {error}"),
            String::new(),
            format!("HÀNG ĐỢI TRÊN ĐĨA  {bytes} B / 8,0 MiB, 1 điểm trong 1 tệp"),
            String::new(),
            "NGUỒN ĐIỆN".into(),
            "  trung tâm  tình trạng                                   các nguồn".into(),
            "  hn-dc1     chưa rõ dự phòng (có nguồn chưa có dữ liệu)  A: có điện (231 V), B: chưa có dữ liệu".into(),
            "  hcm-dc2    chưa có dữ liệu                              A: chưa có dữ liệu, B: chưa có dữ liệu".into(),
            String::new(),
            "THIẾT BỊ KHÔNG PHẢN HỒI (0)".into(),
            String::new(),
            "AGENT KHÔNG GỬI DỮ LIỆU (0 / 0)".into(),
            "  chưa có agent nào gửi dữ liệu".into(),
            String::new(),
            "CẢNH BÁO (0 đang cảnh báo, 0 đang chờ)".into(),
        ],
        "{vi}"
    );

    let en = status(&c, "en");
    let lines: Vec<&str> = en.lines().collect();
    let sink_down = without_time(lines[5], "  influx-hcm  DOWN    1 point  ", false);
    let mut seen: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    seen[5] = sink_down;
    assert_eq!(
        seen,
        [
            format!("dcwatch status — collector {}", c.url()),
            String::new(),
            "SINKS".into(),
            "  sink        state   waiting  last error".into(),
            "  capture     up     0 points  —".into(),
            format!("  influx-hcm  DOWN    1 point  <time>: {error}"),
            String::new(),
            format!("SPOOL  {bytes} B of 8.0 MiB, 1 point in 1 segment file"),
            String::new(),
            "POWER".into(),
            "  site     power                                    feeds".into(),
            "  hn-dc1   redundancy unknown (a feed has no data)  A: live (231 V), B: no data".into(),
            "  hcm-dc2  no data                                  A: no data, B: no data".into(),
            String::new(),
            "DEVICES DOWN (0)".into(),
            String::new(),
            "AGENTS SILENT (0 of 0)".into(),
            "  no agent has sent data yet".into(),
            String::new(),
            "ALARMS (0 firing, 0 pending)".into(),
        ],
        "{en}"
    );

    // Without --lang: alarms.lang, Vietnamese unless configured otherwise.
    assert_eq!(status(&c, "").lines().next(), Some(format!("Trạng thái dcwatch — collector {}", c.url()).as_str()));
}
