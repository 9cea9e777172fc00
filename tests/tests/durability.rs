//! Nothing acknowledged is lost: crashes and outages of the collector, of
//! InfluxDB and of sinks, and a damaged queue, against the real servers.
//!
//! Outages last `DCWATCH_OUTAGE_SECS` (scripts/test sets 120, as the
//! requirement says; a developer may set less for a quick run).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dcwatch_tests::*;

const TOKEN: &str = "durability-token-0123456789";

fn outage() -> Duration {
    Duration::from_secs(std::env::var("DCWATCH_OUTAGE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(120))
}

fn collector_yaml(sinks: &str) -> String {
    format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n  shutdown_timeout_secs: 2\ningest:\n  tokens:\n    - name: w\n      token: {TOKEN}\n      site: hn\n      poller: true\nsinks:\n{sinks}"
    )
}

fn influx1_sink(url: &str) -> String {
    format!(
        "  - name: influx\n    flavour: v1\n    url: {url}\n    database: dc\n    flush_interval_ms: 100\n    max_backoff_secs: 1\n"
    )
}

/// An agent that sends only its heartbeat, every second. The heartbeat's
/// `points` field counts the points the agent made before it — 0, 1, 2, … —
/// so a gap in what arrives is a lost point.
fn heartbeat_agent(url: &str) -> String {
    format!(
        "agent:\n  site: hn\n  host: beat\n  interval_secs: 1\noutput:\n  url: {url}\n  token: {TOKEN}\n  flush_interval_ms: 100\n  max_backoff_secs: 1\n"
    )
}

/// The heartbeat sequence numbers InfluxDB 1.x holds, in time order.
fn influx_heartbeats(influx: &Influx1) -> Vec<i64> {
    let r = influx.query("dc", "SELECT \"points\" FROM \"dcwatch_agent\" WHERE \"host\" = 'beat'");
    r["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|row| row[1].as_i64()).collect())
        .unwrap_or_default()
}

fn assert_no_gaps(seq: &[i64]) {
    let expected: Vec<i64> = (0..seq.len() as i64).collect();
    assert_eq!(seq, expected.as_slice(), "heartbeats lost, repeated or out of time order");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn killing_the_collector_loses_no_acknowledged_point() {
    let influx = Influx1::start();
    influx.create_db("dc");
    let collector = Collector::start(&collector_yaml(&influx1_sink(&influx.url())));
    let url = format!("{}/api/v2/write", collector.url());

    // Three writers, like agents: each batch is retried until it is acknowledged.
    const WRITERS: usize = 3;
    const BATCHES: usize = 60;
    const PER_BATCH: usize = 50;
    let sent = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, sent) = (url.clone(), sent.clone());
            std::thread::spawn(move || {
                let client = http(None);
                let base: i64 = 1_700_000_000_000_000_000 + (now_secs() - 1_700_000_000) * 1_000_000_000;
                for b in 0..BATCHES {
                    let body: String = (0..PER_BATCH)
                        .map(|i| {
                            let n = (b * PER_BATCH + i) as i64;
                            format!("m,site=hn,host=w{w} v={n}i {}\n", base + n * 1000 + w as i64)
                        })
                        .collect();
                    loop {
                        let ok = client
                            .post(&url)
                            .header("Authorization", format!("Token {TOKEN}"))
                            .body(body.clone())
                            .send()
                            .map(|r| r.status().as_u16() == 204)
                            .unwrap_or(false);
                        if ok {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(15));
                }
            })
        })
        .collect();

    wait_for("a third of the batches to be acknowledged", || {
        (sent.load(Ordering::Relaxed) >= WRITERS * BATCHES / 3).then_some(())
    });
    let (dir, port) = collector.kill9();
    std::thread::sleep(Duration::from_millis(500));
    let collector = Collector::start_at(dir, &collector_yaml(&influx1_sink(&influx.url())), port);
    for w in writers {
        w.join().expect("writer");
    }
    let total = (WRITERS * BATCHES * PER_BATCH) as u64;
    wait_for("every acknowledged point in InfluxDB", || {
        (influx.scalar("dc", "SELECT count(\"v\") FROM \"m\"").and_then(|v| v.as_u64()) == Some(total)).then_some(())
    });
    // Exactly once: one point per series and timestamp, none extra.
    for w in 0..WRITERS {
        let n = influx.scalar("dc", &format!("SELECT count(\"v\") FROM \"m\" WHERE \"host\" = 'w{w}'"));
        assert_eq!(n.and_then(|v| v.as_u64()), Some((BATCHES * PER_BATCH) as u64));
    }
    assert!(collector.proc.output().contains("spool opened"), "the restarted collector did not reopen its spool");
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_influxdb_outage_delays_points_but_loses_none_and_keeps_their_order() {
    let mut influx = Influx1::start();
    influx.create_db("dc");
    let collector = Collector::start(&collector_yaml(&influx1_sink(&influx.url())));
    let _agent = Agent::start(&heartbeat_agent(&collector.url()));
    wait_for("heartbeats in InfluxDB", || (influx_heartbeats(&influx).len() >= 3).then_some(()));
    influx.stop();
    std::thread::sleep(outage());
    let queued = collector.metric("dcwatch_collector_sink_queue_points{sink=\"influx\"}").unwrap_or(0.0);
    assert!(queued >= (outage().as_secs() / 2) as f64, "the spool should hold the outage's points, holds {queued}");
    influx.restart();
    let target = wait_for("the backlog to drain", || {
        let beats = influx_heartbeats(&influx);
        (beats.len() as u64 > outage().as_secs()).then_some(beats.len())
    });
    let beats = influx_heartbeats(&influx);
    assert!(beats.len() >= target);
    assert_no_gaps(&beats);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_collector_outage_is_bridged_by_the_agents_queue() {
    let influx = Influx1::start();
    influx.create_db("dc");
    let collector = Collector::start(&collector_yaml(&influx1_sink(&influx.url())));
    let agent = Agent::start(&heartbeat_agent(&collector.url()));
    wait_for("heartbeats in InfluxDB", || (influx_heartbeats(&influx).len() >= 3).then_some(()));
    let (dir, port) = collector.kill9();
    std::thread::sleep(outage());
    let _collector = Collector::start_at(dir, &collector_yaml(&influx1_sink(&influx.url())), port);
    let beats = wait_for("the agent's queue to drain", || {
        let b = influx_heartbeats(&influx);
        (b.len() as u64 > outage().as_secs()).then_some(b)
    });
    assert_no_gaps(&beats);
    // While the collector was away the heartbeat showed the queue growing.
    let peak = influx.scalar("dc", "SELECT max(\"queued\") FROM \"dcwatch_agent\" WHERE \"host\" = 'beat'");
    let peak = peak.and_then(|v| v.as_i64()).unwrap_or(0);
    assert!(peak >= (outage().as_secs() / 2) as i64, "queued peaked at {peak}");
    drop(agent);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn one_sink_down_does_not_hold_back_the_other_and_catches_up_later() {
    let up = Victoria::start();
    let down_port = free_port();
    let sinks = format!(
        "  - name: up\n    url: {}\n    flush_interval_ms: 100\n  - name: down\n    url: http://127.0.0.1:{down_port}\n    flush_interval_ms: 100\n    max_backoff_secs: 1\n",
        up.url()
    );
    let collector = Collector::start(&collector_yaml(&sinks));
    for i in 0..20 {
        let (status, body) =
            collector.post("/api/v2/write", Some(TOKEN), false, format!("two,site=hn n={i}\n").as_bytes());
        assert_eq!(status, 204, "{body}");
    }
    let all = |vm: &Victoria| vm.export("two_n").first().map_or(0, |s| s.values.len());
    wait_for("all 20 points in the sink that is up", || (all(&up) == 20).then_some(()));
    assert_eq!(collector.metric("dcwatch_collector_sink_queue_points{sink=\"down\"}"), Some(20.0));
    let down = Victoria::start_on(down_port);
    wait_for("the other sink to catch up", || (all(&down) == 20).then_some(()));
    wait_for("its queue to empty", || {
        (collector.metric("dcwatch_collector_sink_queue_points{sink=\"down\"}") == Some(0.0)).then_some(())
    });
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_torn_queue_tail_is_skipped_and_counted_and_the_agent_carries_on() {
    // Queue some heartbeats while nothing listens, then stop the agent.
    let dead = free_port();
    let agent = Agent::start(&heartbeat_agent(&format!("http://127.0.0.1:{dead}")));
    wait_for("a few queued heartbeats", || {
        let q = agent.dir.path().join("queue");
        let len: u64 = std::fs::read_dir(&q)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        (len > 600).then_some(())
    });
    let dir = agent.stop();
    let seg = std::fs::read_dir(dir.path().join("queue"))
        .expect("queue dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment");
    let len = std::fs::metadata(&seg).expect("segment").len();
    std::fs::OpenOptions::new().write(true).open(&seg).expect("open").set_len(len - 5).expect("tear the tail");

    // Restart it towards a real target: it starts, says what it skipped, and delivers the rest.
    let vm = Victoria::start();
    let yaml = heartbeat_agent(&vm.url());
    let agent = Agent::start_in(dir, &yaml);
    let line = wait_for("the queue to be reopened", || {
        agent.proc.output().lines().find(|l| l.contains("queue opened")).map(str::to_string)
    });
    assert!(line.contains("corrupt_records=1"), "{line}");
    let errors = wait_for("a heartbeat counting the corrupt record", || {
        vm.export("dcwatch_agent_errors{host=\"beat\"}")
            .first()
            .and_then(|s| s.values.iter().copied().reduce(f64::max))
            .filter(|e| *e >= 1.0)
    });
    assert!(errors >= 1.0);
    let points = vm.wait_series("dcwatch_agent_points{host=\"beat\"}");
    assert!(points[0].values.contains(&0.0), "the heartbeats queued before the crash were delivered");
}

/// Every heartbeat a capture endpoint received, as (timestamp, sequence
/// number), in the order received.
fn captured_heartbeats(capture: &Capture) -> Vec<(i64, i64)> {
    let mut beats = Vec::new();
    for (_, body) in capture.requests() {
        let text = String::from_utf8(body).expect("UTF-8");
        for line in influxdb_line_protocol::parse_lines(&text) {
            let line = line.expect("valid line");
            if let (Some(influxdb_line_protocol::FieldValue::I64(n)), Some(ts)) =
                (line.field_value("points"), line.timestamp)
                && line.series.measurement.as_str() == "dcwatch_agent"
            {
                beats.push((ts, *n));
            }
        }
    }
    beats
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn killing_the_agent_during_replay_loses_nothing_and_resends_at_most_one_batch() {
    // Queue a backlog while the target is missing.
    let port = free_port();
    let yaml = format!(
        "agent:\n  site: hn\n  host: beat\n  interval_secs: 1\noutput:\n  url: http://127.0.0.1:{port}\n  batch_max_lines: 2\n  flush_interval_ms: 50\n  max_backoff_secs: 1\n"
    );
    let agent = Agent::start(&yaml);
    std::thread::sleep(Duration::from_secs(8));
    let dir = agent.stop();
    // A slow target: replaying two heartbeats per request takes seconds.
    let capture = Capture::start_slow(Duration::from_millis(300));
    let yaml = yaml.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{}", capture.port));
    let agent = Agent::start_in(dir, &yaml);
    wait_for("replay to be under way", || (capture.requests().len() >= 2).then_some(()));
    let dir = agent.kill9();
    let agent = Agent::start_in(dir, &yaml);
    // Three runs of the agent made heartbeats; each counts from 0. Wait until
    // the third run's live heartbeats arrive, after the whole backlog.
    wait_for("the backlog and then live heartbeats", || {
        let mut b = captured_heartbeats(&capture);
        b.sort();
        (b.iter().filter(|(_, n)| *n == 0).count() >= 3 && b.last().is_some_and(|(_, n)| *n >= 3)).then_some(())
    });
    drop(agent);
    let beats = captured_heartbeats(&capture);
    let mut distinct = beats.clone();
    distinct.sort();
    distinct.dedup();
    let resent = beats.len() - distinct.len();
    assert!(resent <= 2, "{resent} heartbeats sent twice; at most the one batch in flight (2 lines) may be");
    // In time order, each run's sequence is 0, 1, 2, … with nothing missing.
    let mut runs: Vec<Vec<i64>> = Vec::new();
    for (_, n) in &distinct {
        if *n == 0 {
            runs.push(Vec::new());
        }
        runs.last_mut().expect("a run starts at 0").push(*n);
    }
    assert!(runs.len() >= 3, "{runs:?}");
    assert!(runs[0].len() >= 6, "the first run queued only {:?}", runs[0]);
    for run in &runs {
        let expected: Vec<i64> = (0..run.len() as i64).collect();
        assert_eq!(run, &expected, "a heartbeat is missing");
    }
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_full_disk_under_the_queue_is_survived_and_recovered_from() {
    // A 64 KiB filesystem for the queue (tmpfs; the suite runs as root).
    let dir = TempDir::new().expect("tempdir");
    let queue = dir.path().join("queue");
    std::fs::create_dir(&queue).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&queue)
        .status()
        .expect("run mount");
    assert!(mounted.success(), "cannot mount a small tmpfs (the suite must run as root)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(queue.clone());

    let port = free_port();
    let yaml = format!(
        "agent:\n  site: hn\n  host: beat\n  interval_secs: 1\noutput:\n  url: http://127.0.0.1:{port}\n  flush_interval_ms: 50\n  max_backoff_secs: 1\nqueue:\n  dir: {}\n  segment_max_bytes: 4096\n",
        queue.display()
    );
    // Fill the disk first, so the agent meets it full.
    let filler = queue.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 60 * 1024]);
    let agent = Agent::start_in(TempDir::new().expect("tempdir"), &yaml);
    let line = wait_for("the agent to say the queue cannot be written", || {
        agent.proc.output().lines().find(|l| l.contains("cannot write to the queue")).map(str::to_string)
    });
    assert!(line.contains("No space left on device"), "{line}");
    std::thread::sleep(Duration::from_secs(2));
    let mut agent = agent;
    assert_eq!(agent.proc.exited(), None, "the agent must keep running on a full disk");

    // Space returns; the target comes up: points flow again.
    std::fs::remove_file(&filler).expect("free the space");
    let vm = Victoria::start_on(port);
    wait_for("the agent to say the queue works again", || {
        agent.proc.output().contains("the queue accepts points again").then_some(())
    });
    let dropped = wait_for("a heartbeat that counts the lost points", || {
        vm.export("dcwatch_agent_dropped{host=\"beat\"}")
            .first()
            .and_then(|s| s.values.last().copied())
            .filter(|d| *d >= 1.0)
    });
    assert!(dropped >= 1.0);
}

/// The heartbeat sequence numbers VictoriaMetrics holds for host `beat`, in time order.
fn vm_heartbeats(vm: &Victoria) -> Vec<i64> {
    let series = vm.export("dcwatch_agent_points{host=\"beat\"}");
    let Some(s) = series.first() else { return Vec::new() };
    let mut pairs: Vec<(i64, i64)> = s.timestamps.iter().copied().zip(s.values.iter().map(|v| *v as i64)).collect();
    pairs.sort();
    pairs.into_iter().map(|(_, v)| v).collect()
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_reload_with_a_changed_config_while_a_backlog_exists_loses_nothing() {
    let dead = free_port();
    let agent = Agent::start(&heartbeat_agent(&format!("http://127.0.0.1:{dead}")));
    wait_for("a backlog", || (agent.proc.output().matches("write failed").count() >= 3).then_some(()));
    let vm = Victoria::start();
    let path = agent.dir.path().join("agent.yaml");
    let yaml = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, yaml.replace(&format!("http://127.0.0.1:{dead}"), &vm.url())).expect("rewrite config");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(agent.proc.pid() as i32, libc::SIGHUP) };
    let beats = wait_for("the backlog and new heartbeats in VictoriaMetrics", || {
        let b = vm_heartbeats(&vm);
        (b.len() >= 6).then_some(b)
    });
    let expected: Vec<i64> = (0..beats.len() as i64).collect();
    assert_eq!(beats, expected, "a heartbeat queued before the reload was lost");
    assert!(agent.proc.output().contains("SIGHUP: reloading the configuration"));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_broken_config_is_refused_on_reload_and_the_running_one_kept() {
    let vm = Victoria::start();
    let mut agent = Agent::start(&heartbeat_agent(&vm.url()));
    wait_for("heartbeats", || (vm_heartbeats(&vm).len() >= 2).then_some(()));
    let path = agent.dir.path().join("agent.yaml");
    let yaml = std::fs::read_to_string(&path).expect("config");
    // Saving the file is enough: the agent notices the change by itself.
    std::fs::write(&path, yaml.replace("interval_secs: 1", "interval_secs: 1\n  bogus_key: 3")).expect("break config");
    let line = wait_for("the agent to refuse the broken config", || {
        agent.proc.output().lines().find(|l| l.contains("the new configuration is invalid")).map(str::to_string)
    });
    assert!(line.contains("agent.yaml:5:3: unknown field `bogus_key`"), "{line}");
    let before = vm_heartbeats(&vm).len();
    wait_for("heartbeats to keep coming", || (vm_heartbeats(&vm).len() >= before + 2).then_some(()));
    assert_eq!(agent.proc.exited(), None);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_collector_reload_that_repoints_a_sink_delivers_its_whole_backlog() {
    let dead = free_port();
    let sink =
        |url: &str| format!("  - name: main\n    url: {url}\n    flush_interval_ms: 100\n    max_backoff_secs: 1\n");
    let collector = Collector::start(&collector_yaml(&sink(&format!("http://127.0.0.1:{dead}"))));
    for i in 0..30 {
        let (status, body) =
            collector.post("/api/v2/write", Some(TOKEN), false, format!("backlog,site=hn n={i}\n").as_bytes());
        assert_eq!(status, 204, "{body}");
    }
    assert_eq!(collector.metric("dcwatch_collector_sink_queue_points{sink=\"main\"}"), Some(30.0));
    let vm = Victoria::start();
    let path = collector.dir.path().join("collector.yaml");
    let yaml = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, yaml.replace(&format!("http://127.0.0.1:{dead}"), &vm.url())).expect("rewrite config");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(collector.proc.pid() as i32, libc::SIGHUP) };
    wait_for("the whole backlog in VictoriaMetrics", || {
        (vm.export("backlog_n").first().map_or(0, |s| s.values.len()) == 30).then_some(())
    });
    let mut values = vm.export("backlog_n")[0].values.clone();
    values.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    assert_eq!(values, (0..30).map(f64::from).collect::<Vec<_>>());
    assert!(collector.proc.output().contains("configuration reloaded"));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_collector_refuses_a_broken_config_on_reload_and_keeps_serving() {
    let vm = Victoria::start();
    let collector = Collector::start(&collector_yaml(&format!(
        "  - name: main\n    url: {}\n    flush_interval_ms: 100\n",
        vm.url()
    )));
    let path = collector.dir.path().join("collector.yaml");
    let yaml = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, yaml.replace("  shutdown_timeout_secs: 2\n", "  shutdown_timeout_secs: 2\n  bogus: 1\n"))
        .expect("break config");
    let line = wait_for("the collector to refuse the broken config", || {
        collector.proc.output().lines().find(|l| l.contains("the new configuration is invalid")).map(str::to_string)
    });
    assert!(line.contains("collector.yaml:4:3: unknown field `bogus`"), "{line}");
    let (status, body) = collector.post("/api/v2/write", Some(TOKEN), false, b"after,site=hn v=1\n");
    assert_eq!(status, 204, "{body}");
    vm.wait_series("after_v");
}
