//! Collector ingest benchmark (run by `scripts/bench ingest`).
//!
//! The same gzipped batches of line protocol are posted (a) straight to
//! VictoriaMetrics' `/api/v2/write` and (b) to a dcwatch collector whose sink is
//! that VictoriaMetrics, in alternating rounds on one machine. For (a) the
//! rate is points acknowledged per second; for (b) both points acknowledged by
//! the collector per second and points *forwarded and acknowledged by
//! VictoriaMetrics* per second (the end-to-end figure). Prints medians and
//! ratios as a Markdown table.
//!
//! A second part measures replay: with the sink's VictoriaMetrics not yet
//! running, a backlog the size of 24 h of 100 agents (8.64 million points:
//! 10 points every 10 s) is posted into the collector's spool; then
//! VictoriaMetrics starts on the sink's port and the time until the sink's
//! queue is empty is the replay time.
//!
//! Settings (environment): BENCH_ROUNDS (3), BENCH_BATCHES (200),
//! BENCH_BATCH_LINES (5000), BENCH_SENDERS (4), BENCH_REPLAY_POINTS (8640000).
//!
//! The one bench token writes far past the default `ingest.rate_limit`
//! (100 000 points/s): the limit is turned off here, so the figures are
//! the ingest path's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dcwatch_tests::bench::env_or;
use dcwatch_tests::*;

const TOKEN: &str = "bench-token-0123456789abcdef";

/// `batches` bodies of `lines` host-metric lines each: 100 hosts, 8 fields
/// per line, distinct timestamps, measurement prefixed by `round`.
fn payload(round: usize, batches: usize, lines: usize) -> Vec<Vec<u8>> {
    let base_ns: i64 = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
        - 3600)
        * 1_000_000_000;
    (0..batches)
        .map(|b| {
            let mut body = String::with_capacity(lines * 200);
            for i in 0..lines {
                let n = b * lines + i;
                let host = n % 100;
                let ts = base_ns + (n / 100) as i64 * 1_000_000;
                body.push_str(&format!(
                    "bench{round}_host,site=hn-dc1,host=srv{host:03},cpu=total usage_pct={:.2},user_pct={:.2},system_pct=1.5,iowait_pct=0.25,steal_pct=0,cores=8i,load1={:.2},mem_used_pct={:.1} {ts}\n",
                    (n % 97) as f64 + 0.5,
                    (n % 89) as f64 * 0.5,
                    (n % 13) as f64 * 0.1,
                    40.0 + (n % 50) as f64 * 0.3,
                ));
            }
            gzip_bytes(body.as_bytes())
        })
        .collect()
}

/// Posts every body with `senders` threads; returns seconds until the last
/// answer. Retries a 503 after a short pause (the collector's backpressure).
fn post_all(url: &str, token: &str, bodies: &Arc<Vec<Vec<u8>>>, senders: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let (next, bodies, url, token) = (next.clone(), bodies.clone(), url.to_string(), token.to_string());
            std::thread::spawn(move || {
                let client = http(None);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return };
                    loop {
                        let resp = client
                            .post(&url)
                            .header("Authorization", format!("Token {token}"))
                            .header("Content-Encoding", "gzip")
                            .body(body.clone())
                            .send()
                            .expect("post");
                        match resp.status().as_u16() {
                            204 => break,
                            503 => std::thread::sleep(Duration::from_millis(50)),
                            s => panic!("HTTP {s}: {}", resp.text().unwrap_or_default()),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender");
    }
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn main() {
    let rounds = env_or("BENCH_ROUNDS", 3);
    let batches = env_or("BENCH_BATCHES", 200);
    let lines = env_or("BENCH_BATCH_LINES", 5000);
    let senders = env_or("BENCH_SENDERS", 4);
    let total = (batches * lines) as f64;

    let vm = Victoria::start();
    // Not durable: with no sink, the collector keeps no spool.
    let plain = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  rate_limit: {{points_per_sec: 0}}\n  tokens:\n    - name: bench\n      token: {TOKEN}\n      site: hn-dc1\n"
    ));
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  rate_limit: {{points_per_sec: 0}}\n  tokens:\n    - name: bench\n      token: {TOKEN}\n      site: hn-dc1\nsinks:\n  - name: vm\n    url: {}\n",
        vm.url()
    ));
    let vm_write = format!("{}/api/v2/write?org=o&bucket=b", vm.url());
    let col_write = format!("{}/api/v2/write?org=o&bucket=b", collector.url());
    let plain_write = format!("{}/api/v2/write?org=o&bucket=b", plain.url());

    let (mut direct, mut accepted, mut forwarded, mut nondurable) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let a = Arc::new(payload(round * 2, batches, lines));
        let secs = post_all(&vm_write, "unused", &a, senders);
        direct.push(total / secs);

        let b = Arc::new(payload(round * 2 + 1, batches, lines));
        nondurable.push(total / post_all(&plain_write, TOKEN, &b, senders));
        let already = collector.metric("dcwatch_collector_sink_points_sent_total{sink=\"vm\"}").unwrap_or(0.0);
        let start = Instant::now();
        let secs = post_all(&col_write, TOKEN, &b, senders);
        accepted.push(total / secs);
        wait_for("the collector to forward the round", || {
            let sent = collector.metric("dcwatch_collector_sink_points_sent_total{sink=\"vm\"}").unwrap_or(0.0);
            (sent - already >= total).then_some(())
        });
        forwarded.push(total / start.elapsed().as_secs_f64());
        eprintln!(
            "round {}: direct {:.0} pt/s, collector not durable {:.0}, durable accepted {:.0}, forwarded {:.0}",
            round + 1,
            direct[round],
            nondurable[round],
            accepted[round],
            forwarded[round]
        );
    }
    let (d, a, f, nd) = (median(direct), median(accepted), median(forwarded), median(nondurable));
    println!("| path | points/s (median of {rounds}) | ratio to VictoriaMetrics direct |");
    println!("|---|---|---|");
    println!("| VictoriaMetrics `/api/v2/write` direct | {d:.0} | 1.00 |");
    println!("| collector with no sink, not durable (204 after parsing) | {nd:.0} | {:.2} |", nd / d);
    println!("| collector, durable (204 after the spool's fdatasync) | {a:.0} | {:.2} |", a / d);
    println!("| collector → VictoriaMetrics, forwarded and acknowledged | {f:.0} | {:.2} |", f / d);
    println!();
    println!(
        "{batches} batches × {lines} lines per round, gzip, {senders} concurrent senders, 100 hosts × 8 fields per line."
    );
    println!("Durable / not durable: {:.2}.", a / nd);
    drop(plain);
    drop(collector);
    drop(vm);
    replay(senders, lines);
}

/// Fills a collector's spool while its sink is down, then times the drain.
fn replay(senders: usize, lines: usize) {
    let points = env_or("BENCH_REPLAY_POINTS", 8_640_000);
    let batches = points.div_ceil(lines);
    let sink_port = free_port();
    let spool_dir = std::env::temp_dir().join(format!("dcwatch-replay-{}", std::process::id()));
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  rate_limit: {{points_per_sec: 0}}\n  tokens:\n    - name: bench\n      token: {TOKEN}\n      site: hn-dc1\nsinks:\n  - name: vm\n    url: http://127.0.0.1:{sink_port}\n    max_backoff_secs: 1\nspool:\n  dir: {}\n  max_bytes: 17179869184\n",
        spool_dir.display()
    ));
    let url = format!("{}/api/v2/write?org=o&bucket=b", collector.url());
    eprintln!("replay: preparing {points} points");
    let body = Arc::new(payload(99, batches, lines));
    let fill = post_all(&url, TOKEN, &body, senders);
    drop(body);
    let queued = collector.metric("dcwatch_collector_sink_queue_points{sink=\"vm\"}").unwrap_or(0.0);
    let bytes = collector.metric("dcwatch_collector_spool_bytes").unwrap_or(0.0);
    eprintln!("replay: {queued} points spooled in {fill:.1} s; starting VictoriaMetrics");
    let start = Instant::now();
    let _vm = Victoria::start_on(sink_port);
    let limit = Duration::from_secs(1800);
    while collector.metric("dcwatch_collector_sink_queue_points{sink=\"vm\"}") != Some(0.0) {
        assert!(start.elapsed() < limit, "the backlog did not drain within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let secs = start.elapsed().as_secs_f64();
    drop(collector);
    let _ = std::fs::remove_dir_all(&spool_dir);
    println!();
    println!("| replay of a 24 h backlog of 100 agents | value |");
    println!("|---|---|");
    println!("| points in the backlog | {queued:.0} |");
    println!("| spool size on disk | {:.0} MiB |", bytes / 1048576.0);
    println!("| time to fill the spool (durable ingest, sink down) | {fill:.1} s ({:.0} points/s) |", queued / fill);
    println!("| time to drain into VictoriaMetrics (from its start) | {secs:.1} s |");
    println!("| points/s while draining | {:.0} |", queued / secs);
}
