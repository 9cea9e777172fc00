//! The collector's spool keeps its word at its limits (issue 14): a full
//! spool refuses (503) rather than delete what it acknowledged, a sink behind
//! a segment `drop_oldest` deleted still reaches the end, and a spool that
//! filled its disk takes writes again once the sink has drained it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dcwatch_tests::*;
use tempfile::TempDir;

const TOKEN: &str = "spool-limits-token-0123456789";

/// A collector with one InfluxDB 1.x sink and the given `spool:` section; the
/// rate limit is off, so every refusal a test sees is the spool's.
fn collector_yaml(influx: &str, spool: &str) -> String {
    format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  shutdown_timeout_secs: 2\ningest:\n  rate_limit:\n    points_per_sec: 0\n  tokens:\n    - name: w\n      token: {TOKEN}\n      site: hn\n      poller: true\nsinks:\n  - name: influx\n    flavour: v1\n    url: {influx}\n    database: dc\n    flush_interval_ms: 100\n    max_backoff_secs: 1\nspool:\n{spool}"
    )
}

fn base_ns() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    now.as_secs() as i64 * 1_000_000_000
}

/// `lines` points of writer `w`, batch `b`: one series per writer, one
/// timestamp per point, so InfluxDB keeps every one of them.
fn batch(base: i64, w: usize, b: usize, lines: usize) -> String {
    (0..lines)
        .map(|i| {
            let n = (b * lines + i) as i64;
            format!("m,site=hn,host=w{w} v={n}i {}\n", base + n * 1000 + w as i64)
        })
        .collect()
}

fn post(client: &reqwest::blocking::Client, url: &str, body: &str) -> u16 {
    client
        .post(url)
        .header("Authorization", format!("Token {TOKEN}"))
        .body(body.to_string())
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn stored(influx: &Influx1) -> u64 {
    influx.scalar("dc", "SELECT count(\"v\") FROM \"m\"").and_then(|v| v.as_u64()).unwrap_or(0)
}

/// Sends SIGTERM to the collector and starts it again on the same
/// directory and port.
fn restart(collector: Collector, yaml: &str) -> Collector {
    let Collector { port, mut proc, dir, .. } = collector;
    assert!(proc.terminate().success(), "the collector did not stop cleanly:\n{}", proc.output());
    Collector::start_at(dir, yaml, port)
}

/// Regression (issue 14): the room check and the append were two steps, so
/// 16 writers passed `spool.max_bytes` together and the bound then deleted
/// 1,100 acknowledged points.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn sixteen_writers_against_a_full_spool_get_503s_and_every_acknowledged_point_survives_a_restart() {
    let mut influx = Influx1::start();
    influx.create_db("dc");
    influx.stop();
    let dir = TempDir::new().expect("tempdir");
    let spool =
        format!("  dir: {}\n  max_bytes: 1048576\n  segment_max_bytes: 65536\n", dir.path().join("spool").display());
    let yaml = collector_yaml(&influx.url(), &spool);
    let collector = Collector::start_in(dir, &yaml);
    let url = format!("{}/api/v2/write", collector.url());

    const WRITERS: usize = 16;
    const BATCHES: usize = 20;
    const PER_BATCH: usize = 250;
    let (acked, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let base = base_ns();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, acked, refused) = (url.clone(), acked.clone(), refused.clone());
            std::thread::spawn(move || {
                let client = http(None);
                let mut refusals = 0;
                for b in 0..BATCHES {
                    let body = batch(base, w, b, PER_BATCH);
                    loop {
                        match post(&client, &url, &body) {
                            204 => {
                                acked.fetch_add(PER_BATCH as u64, Ordering::Relaxed);
                                break;
                            }
                            // A full spool: retry a few times, as a writer
                            // would, then keep the rest of the data.
                            503 => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                refusals += 1;
                                if refusals == 5 {
                                    return;
                                }
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            other => panic!("writer {w}: HTTP {other}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.load(Ordering::Relaxed);
    assert!(refused.load(Ordering::Relaxed) > 0, "16 × 20 batches of ~11 KB must not fit in 1 MiB");
    assert!(acked > 0);
    let bytes = collector.metric("dcwatch_collector_spool_bytes").expect("spool_bytes");
    assert!(bytes <= 1_048_576.0, "the spool passed its bound: {bytes} bytes");
    wait_for("the sink to count every acknowledged point as queued", || {
        (collector.metric("dcwatch_collector_sink_queue_points{sink=\"influx\"}") == Some(acked as f64)).then_some(())
    });

    let collector = restart(collector, &yaml);
    influx.restart();
    wait_for("every acknowledged point in InfluxDB", || (stored(&influx) == acked).then_some(()));
    wait_for("the sink to drain", || {
        (collector.metric("dcwatch_collector_sink_queue_points{sink=\"influx\"}") == Some(0.0)).then_some(())
    });
    assert_eq!(collector.metric_sum("dcwatch_collector_sink_points_dropped_total{sink=\"influx\""), Some(0.0));
    assert!(!collector.proc.output().contains("dropped the oldest segment"), "{}", collector.proc.output());
}

/// Regression (issue 14): after the spool dropped a segment the sink's
/// cursor stuck (no finished batch started exactly at the new position), so
/// its queue never emptied and the spool never shrank.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_sink_behind_a_segment_drop_oldest_deleted_reaches_the_end_and_the_spool_shrinks() {
    let mut influx = Influx1::start();
    influx.create_db("dc");
    influx.stop();
    let dir = TempDir::new().expect("tempdir");
    let spool = format!(
        "  dir: {}\n  max_bytes: 262144\n  segment_max_bytes: 65536\n  when_full: drop_oldest\n  drop_min_age_secs: 0\nalarms:\n  db: {}\n  evaluate_every_ms: 100\n",
        dir.path().join("spool").display(),
        dir.path().join("alarms.db").display()
    );
    let collector = Collector::start_in(dir, &collector_yaml(&influx.url(), &spool));
    let url = format!("{}/api/v2/write", collector.url());
    let client = http(None);

    const BATCHES: usize = 120;
    const PER_BATCH: usize = 100;
    let base = base_ns();
    for b in 0..BATCHES {
        assert_eq!(post(&client, &url, &batch(base, 0, b, PER_BATCH)), 204, "batch {b}");
        // Let the sink read (and fail to send) batches from the oldest segments.
        if b % 10 == 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    let total = (BATCHES * PER_BATCH) as u64;
    wait_for("a drop to be counted", || {
        collector.metric_sum("dcwatch_collector_sink_points_dropped_total{sink=\"influx\"").filter(|d| *d > 0.0)
    });
    assert!(collector.proc.output().contains("when_full: drop_oldest"));
    // The collector's own alarm: a 204 no longer meant delivered.
    let alarm = wait_for("the spool_dropped_points alarm", || {
        let v: serde_json::Value = collector
            .client()
            .get(format!("{}/api/alarms", collector.url()))
            .bearer_auth(API_TOKEN)
            .send()
            .and_then(|r| r.text())
            .map(|t| serde_json::from_str(&t).expect("alarms JSON"))
            .expect("alarms");
        v["alarms"].as_array()?.iter().find(|a| a["name"] == "spool_dropped_points").cloned()
    });
    assert_eq!(alarm["severity"], "critical");

    influx.restart();
    wait_for("the sink to reach the end of the spool", || {
        (collector.metric("dcwatch_collector_sink_queue_points{sink=\"influx\"}") == Some(0.0)).then_some(())
    });
    let dropped =
        collector.metric_sum("dcwatch_collector_sink_points_dropped_total{sink=\"influx\"").expect("dropped") as u64;
    assert_eq!(dropped % PER_BATCH as u64, 0, "whole records are dropped");
    assert!(dropped > 0 && dropped < total, "{dropped}");
    // The spool kept the newest `total - dropped` points (v counts from 0):
    // every one of them arrived. Older ones may arrive too, from a batch the
    // sink had read before its segment went, so `dropped` is an upper bound
    // of the loss.
    let kept = influx.scalar("dc", &format!("SELECT count(\"v\") FROM \"m\" WHERE \"v\" >= {dropped}"));
    assert_eq!(kept.and_then(|v| v.as_u64()), Some(total - dropped));
    assert!(stored(&influx) <= total);
    wait_for("the spool to give its space back", || {
        (collector.metric("dcwatch_collector_spool_bytes") == Some(0.0)).then_some(())
    });
}

/// Regression (issue 14): with a 16 MiB disk and 64 MiB segments the spool
/// filled, the sink drained it, and the active segment was never removed,
/// so every later write got 503, after a restart too.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_spool_that_filled_its_disk_takes_writes_again_once_drained_without_and_after_a_restart() {
    let dir = TempDir::new().expect("tempdir");
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&spool_dir)
        .output()
        .expect("run mount");
    if !mounted.status.success() {
        eprintln!(
            "SKIPPED: cannot mount a 16 MiB tmpfs for the spool (the test needs root): {}",
            String::from_utf8_lossy(&mounted.stderr).trim()
        );
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(spool_dir.clone());

    let mut influx = Influx1::start();
    influx.create_db("dc");
    influx.stop();
    // Default segment size (64 MiB) and max_bytes (4 GiB): the disk is the limit.
    let yaml = collector_yaml(&influx.url(), &format!("  dir: {}\n", spool_dir.display()));
    let collector = Collector::start_in(dir, &yaml);
    let url = format!("{}/api/v2/write", collector.url());
    let client = http(None);
    const PER_BATCH: usize = 1000;
    let base = base_ns();
    let mut b = 0;
    let mut acked = 0u64;
    // Fills the disk: batches until the first 503.
    let fill = |acked: &mut u64, b: &mut usize| {
        loop {
            match post(&client, &url, &batch(base, 0, *b, PER_BATCH)) {
                204 => *acked += PER_BATCH as u64,
                503 => break,
                other => panic!("batch {b}: HTTP {other}"),
            }
            *b += 1;
            assert!(*b < 2000, "16 MiB should be full long before 2000 batches of ~50 KB");
        }
        *b += 1;
    };
    // Sends one batch until it is taken (the sink's last ack frees the space).
    let take_one = |b: usize| {
        let client = http(None);
        let body = batch(base, 0, b, PER_BATCH);
        wait_for("a write to be accepted again", || (post(&client, &url, &body) == 204).then_some(()));
    };

    fill(&mut acked, &mut b);
    assert!(acked > 0);
    influx.restart();
    wait_for("every acknowledged point in InfluxDB", || (stored(&influx) == acked).then_some(()));
    take_one(b);
    acked += PER_BATCH as u64;
    b += 1;
    wait_for("the new point in InfluxDB", || (stored(&influx) == acked).then_some(()));

    // Again, with a restart while the disk is full and the sink down.
    influx.stop();
    fill(&mut acked, &mut b);
    let collector = restart(collector, &yaml);
    influx.restart();
    wait_for("every acknowledged point in InfluxDB", || (stored(&influx) == acked).then_some(()));
    take_one(b);
    acked += PER_BATCH as u64;
    wait_for("the new point in InfluxDB", || (stored(&influx) == acked).then_some(()));
    assert_eq!(collector.metric_sum("dcwatch_collector_sink_points_dropped_total{sink=\"influx\""), Some(0.0));
}
