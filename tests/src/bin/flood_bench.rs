//! Flood benchmark (run by `scripts/bench flood`).
//!
//! One ordinary agent (`web01`, a host-bound token) writes a small body
//! (3 points) every 20 ms and times each answer. The same writes are timed
//! twice in every round: with the collector otherwise idle, and while one
//! attacker floods it at full speed, with the token of one agent
//! (`flood`, site-bound) and the API token of one operator:
//!
//! - two threads post 20 000-line bodies of new `host_disk` series, each
//!   95 % full, so every line is a new series and a `disk_full` alarm until
//!   the caps (series per token, alarms per site) refuse them, without
//!   pause and ignoring `Retry-After` once the token's write rate
//!   (`ingest.rate_limit`, default) is spent;
//! - one thread posts silences with distinct matchers until the cap on
//!   active silences refuses them.
//!
//! The collector is the release binary, with its durable spool and a
//! VictoriaMetrics sink (which receives the flood's points too). Prints
//! the other agent's p50 and p99 idle and flooded, their ratios (medians
//! over the rounds), what the flood achieved, and the collector's peak RSS.
//!
//! Settings (environment): BENCH_ROUNDS (3), BENCH_WRITES (300 per phase).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dcwatch_tests::bench::{env_or, median, percentile};
use dcwatch_tests::*;

const FLOOD: &str = "flood-token-0123456789";
const WEB: &str = "web01-token-0123456789";
const OPS: &str = "flood-operator-token-0123456789";
const FLOOD_LINES: usize = 20_000;

/// The other agent's write latencies (ms), one write every 20 ms.
fn timed_writes(url: &str, n: usize) -> Vec<f64> {
    let client = http(None);
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!(
            "host_cpu,cpu=total usage_pct={}\nhost_disk,mount=/ used_pct=40\ndcwatch_agent uptime_s={i}i\n",
            i % 100
        );
        let start = Instant::now();
        let resp = client.post(url).header("Authorization", format!("Token {WEB}")).body(body).send().expect("write");
        let status = resp.status().as_u16();
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 204, "the other agent's write was refused: {}", resp.text().unwrap_or_default());
        std::thread::sleep(Duration::from_millis(20));
    }
    ms
}

/// What the flood threads did.
#[derive(Default)]
struct Flood {
    bodies_ok: AtomicU64,
    bodies_limited: AtomicU64,
    bodies_other: AtomicU64,
    bodies_cut: AtomicU64,
    silences_ok: AtomicU64,
    silences_refused: AtomicU64,
}

/// `n` gzipped bodies of FLOOD_LINES new series each, made once so that
/// the flood's client spends its CPU on sending, not formatting.
fn flood_bodies(n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..n)
            .map(|b| {
                let body: String = (b * FLOOD_LINES..(b + 1) * FLOOD_LINES)
                    .map(|i| format!("host_disk,host=f{i:07},mount=/ used_pct=95\n"))
                    .collect();
                gzip_bytes(body.as_bytes())
            })
            .collect(),
    )
}

fn flood(
    url: String,
    stop: Arc<AtomicBool>,
    counts: Arc<Flood>,
    bodies: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let client = http(None);
        while !stop.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize % bodies.len();
            // A 429 comes before the body is read, and the connection is
            // closed: the client may see its send cut short.
            let Ok(resp) = client
                .post(&url)
                .header("Authorization", format!("Token {FLOOD}"))
                .header("Content-Encoding", "gzip")
                .body(bodies[i].clone())
                .send()
            else {
                counts.bodies_cut.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            match resp.status().as_u16() {
                204 => counts.bodies_ok.fetch_add(1, Ordering::Relaxed),
                429 => counts.bodies_limited.fetch_add(1, Ordering::Relaxed),
                _ => counts.bodies_other.fetch_add(1, Ordering::Relaxed),
            };
            let _ = resp.bytes();
        }
    })
}

fn silences(url: String, stop: Arc<AtomicBool>, counts: Arc<Flood>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let client = http(None);
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let body = serde_json::json!({
                "matchers": {"site": "hn", "host": format!("f{i:07}")},
                "duration_secs": 3600,
                "reason": "flood"
            });
            let resp = client
                .post(&url)
                .bearer_auth(OPS)
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .expect("flood silence");
            match resp.status().as_u16() {
                201 => counts.silences_ok.fetch_add(1, Ordering::Relaxed),
                _ => counts.silences_refused.fetch_add(1, Ordering::Relaxed),
            };
            let _ = resp.bytes();
        }
    })
}

fn main() {
    let rounds = env_or("BENCH_ROUNDS", 3);
    let writes = env_or("BENCH_WRITES", 300);
    let vm = Victoria::start();
    let dir = TempDir::new().expect("tempdir");
    // BENCH_RATE: the collector's ingest.rate_limit.points_per_sec (its default when unset).
    let rate = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|r| r.parse::<u64>().ok())
        .map(|r| format!("  rate_limit: {{points_per_sec: {r}, burst_points: {}}}\n", r.max(20_000)))
        .unwrap_or_default();
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n{rate}  tokens:\n    - {{name: flood, token: {FLOOD}, site: hn}}\n    \
         - {{name: web01, token: {WEB}, site: hn, host: web01}}\napi:\n  tokens:\n    \
         - {{name: admin, token: {API_TOKEN}, role: admin}}\n    - {{name: flood-ops, token: {OPS}, role: operator}}\n\
         sinks:\n  - name: vm\n    url: {}\nalarms:\n  db: {}\n",
        vm.url(),
        dir.path().join("alarms.db").display()
    ));
    let write_url = format!("{}/api/v2/write", c.url());
    let rss_idle = c.proc.memory_bytes("VmRSS");
    let counts = Arc::new(Flood::default());
    let next = Arc::new(AtomicU64::new(0));
    let bodies = flood_bodies(10);
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    println!(
        "\n| round | idle p50 (ms) | idle p99 (ms) | flooded p50 (ms) | flooded p99 (ms) | p50 ratio | p99 ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    for round in 1..=rounds {
        let mut idle = timed_writes(&write_url, writes);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = vec![
            flood(write_url.clone(), stop.clone(), counts.clone(), bodies.clone(), next.clone()),
            flood(write_url.clone(), stop.clone(), counts.clone(), bodies.clone(), next.clone()),
            silences(format!("{}/api/silences", c.url()), stop.clone(), counts.clone()),
        ];
        // Let the flood get going before timing.
        std::thread::sleep(Duration::from_millis(500));
        let mut flooded = timed_writes(&write_url, writes);
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("flood thread");
        }
        let (i50, i99) = (percentile(&mut idle, 0.50), percentile(&mut idle, 0.99));
        let (f50, f99) = (percentile(&mut flooded, 0.50), percentile(&mut flooded, 0.99));
        println!("| {round} | {i50:.2} | {i99:.2} | {f50:.2} | {f99:.2} | {:.2} | {:.2} |", f50 / i50, f99 / i99);
        p50s.push(f50 / i50);
        p99s.push(f99 / i99);
        // Let the sink drain before the next idle phase.
        wait_for("the sink to catch up", || {
            (c.metric("dcwatch_collector_sink_queue_points{sink=\"vm\"}") == Some(0.0)).then_some(())
        });
    }
    let peak = c.proc.memory_bytes("VmHWM");
    let refused = c.metric("dcwatch_collector_state_points_refused_total{reason=\"series_cap\",token=\"flood\"}");
    println!("| median of {rounds} | | | | | **{:.2}** | **{:.2}** |", median(&mut p50s), median(&mut p99s));
    let ok = counts.bodies_ok.load(Ordering::Relaxed);
    println!(
        "\nflood: {ok} bodies of {FLOOD_LINES} series accepted ({} points; {} refused at the series cap), {} refused \
         at the rate limit (429) and {} cut short by it, {} otherwise; {} silences accepted and {} refused; alarms firing: {}; \
         collector RSS idle {:.1} MiB, peak {:.1} MiB",
        ok * FLOOD_LINES as u64,
        refused.unwrap_or(0.0),
        counts.bodies_limited.load(Ordering::Relaxed),
        counts.bodies_cut.load(Ordering::Relaxed),
        counts.bodies_other.load(Ordering::Relaxed),
        counts.silences_ok.load(Ordering::Relaxed),
        counts.silences_refused.load(Ordering::Relaxed),
        c.metric("dcwatch_collector_alarms{state=\"firing\",severity=\"warning\"}").unwrap_or(0.0),
        rss_idle as f64 / 1048576.0,
        peak as f64 / 1048576.0
    );
}
