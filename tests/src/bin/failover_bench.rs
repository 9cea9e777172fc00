//! Failover benchmark (run by `scripts/bench failover`).
//!
//! Two release collectors of a pair (`peering:`), each reaching the other
//! through a TCP proxy on loopback, both receiving the same points, a
//! webhook receiver. Each run: an alarm fires and the collector of rank 0
//! sends it; the other reads that in its log; then rank 0 is killed with
//! SIGKILL and, at once, a new alarm is written to the survivor. The time
//! from the kill to that alarm's notice at the webhook is the failover
//! time. BENCH_RUNS runs (10) with the defaults (heartbeat 5 s,
//! peer_timeout 15 s, failover 30 s), and as many with `failover_secs: 10`.
//!
//! Then the cost of peering: 300 agents' heartbeats written to both every
//! 10 s for BENCH_COST_SECS (60), a pair with peering beside a pair
//! without: the CPU each collector used, and the bytes per second between
//! the peers (both ways, through the proxies).
//!
//! Anchors: Zabbix 7 HA's failover delay (60 s by default, 10 s at least)
//! and Alertmanager's `peer_timeout` (15 s).

use std::time::{Duration, Instant};

use dcwatch_tests::bench::{env_or, percentile};
use dcwatch_tests::pair::*;
use dcwatch_tests::*;

/// CPU seconds a process has used (`/proc/PID/stat`, user + system).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn sent(hook: &Capture, device: &str) -> bool {
    hook.requests().iter().any(|(_, b)| {
        serde_json::from_slice::<serde_json::Value>(b)
            .is_ok_and(|n| n["labels"]["device"] == device && n["notice"] == "firing")
    })
}

/// One failover: seconds from the kill of rank 0 to the survivor's notice.
fn failover(timing: &str) -> f64 {
    let hook = Capture::start();
    let mut pair = Pair::start(&hook_receiver(&hook), "", timing);
    pair.write("env,device=x temperature_c=35\n");
    wait_for("x sent by a", || sent(&hook, "x").then_some(()));
    wait_for("b to read that a sent x", || {
        (pair.b().metric("dcwatch_collector_notices_sent_by_peer_total").unwrap_or(0.0) >= 1.0).then_some(())
    });
    let killed = Instant::now();
    drop(pair.a.take());
    write(pair.b(), "env,device=y temperature_c=35\n");
    let start = Instant::now();
    while !sent(&hook, "y") {
        assert!(start.elapsed() < Duration::from_secs(120), "no notice from the survivor");
        std::thread::sleep(Duration::from_millis(20));
    }
    killed.elapsed().as_secs_f64()
}

/// How the two collectors of a cost run stand to each other.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    /// Two collectors that do not know each other, the agents writing to both.
    Apart,
    /// A pair, the agents writing to both.
    Pair,
    /// A pair, the agents writing to `a` only, which relays to `b`.
    Relay,
}

/// The pair's CPU (s) and the bytes per second between them, with 300
/// agents writing for `secs`.
fn cost(setup: Setup, secs: u64) -> (f64, f64, f64) {
    let hook = Capture::start();
    let (pa, pb, bytes) = if setup != Setup::Apart {
        let pair = Pair::start_edited(&hook_receiver(&hook), "", "", |_, dir, y| {
            if setup == Setup::Relay {
                y.replace(", secret: ", ", forward: true, secret: ")
                    + &format!("spool:\n  dir: {}\n", dir.join("spool").display())
            } else {
                y
            }
        });
        let before =
            (cpu_secs(pair.a().proc.pid()), cpu_secs(pair.b().proc.pid()), pair.to_a.bytes() + pair.to_b.bytes());
        let to: Vec<&Collector> = if setup == Setup::Relay { vec![pair.a()] } else { vec![pair.a(), pair.b()] };
        run_agents(&to, secs);
        let after =
            (cpu_secs(pair.a().proc.pid()), cpu_secs(pair.b().proc.pid()), pair.to_a.bytes() + pair.to_b.bytes());
        (after.0 - before.0, after.1 - before.1, (after.2 - before.2) as f64)
    } else {
        let y = |d: &TempDir| {
            let full = yaml(d.path(), "a", 0, "b", "http://127.0.0.1:9", &hook_receiver(&hook), "", "");
            full[..full.find("peering:").expect("peering")].to_string()
        };
        let (da, db) = (TempDir::new().expect("tempdir"), TempDir::new().expect("tempdir"));
        let (ya, yb) = (y(&da), y(&db));
        let (a, b) = (Collector::start_in(da, &ya), Collector::start_in(db, &yb));
        let before = (cpu_secs(a.proc.pid()), cpu_secs(b.proc.pid()));
        run_agents(&[&a, &b], secs);
        (cpu_secs(a.proc.pid()) - before.0, cpu_secs(b.proc.pid()) - before.1, 0.0)
    };
    (pa, pb, bytes / secs as f64)
}

/// What 300 agents write every 10 s: heartbeats and host points.
fn agents_body() -> String {
    (0..300)
        .map(|i| {
            format!(
                "dcwatch_agent,host=srv-{i:03} interval_s=10,uptime_s=1000\n\
                 host_cpu,host=srv-{i:03} usage_pct=12.5\nhost_mem,host=srv-{i:03} used_pct=40\n"
            )
        })
        .collect()
}

/// 300 agents' heartbeats and host points, to each of `to`, every 10 s.
fn run_agents(to: &[&Collector], secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let body = agents_body();
        for c in to {
            write(c, &body);
        }
        std::thread::sleep(Duration::from_secs(10).min(end.saturating_duration_since(Instant::now())));
    }
}

fn main() {
    let runs = env_or("BENCH_RUNS", 10);
    let cost_secs = env_or("BENCH_COST_SECS", 60) as u64;
    if runs > 0 {
        failovers(runs);
    }
    costs(cost_secs);
}

fn failovers(runs: usize) {
    println!("## Failover: kill -9 of the sending collector → the survivor's first notice\n");
    println!("{runs} runs each, release build, loopback, the link through a TCP proxy.\n");
    println!(
        "| settings | p50 | p99 | max | target (failover_secs + 2 s) | Zabbix 7 HA failover delay | Alertmanager peer_timeout |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, timing, failover_secs) in [
        ("defaults (heartbeat 5 s, peer_timeout 15 s, failover 30 s)", "", 30.0),
        ("failover_secs: 10", "  failover_secs: 10\n", 10.0),
    ] {
        let mut t: Vec<f64> = (0..runs)
            .map(|i| {
                let s = failover(timing);
                eprintln!("{name}: run {} of {runs}: {s:.2} s", i + 1);
                s
            })
            .collect();
        let max = t.iter().cloned().fold(0.0, f64::max);
        println!(
            "| {name} | {:.1} s | {:.1} s | {max:.1} s | ≤ {:.0} s | 60 s (10 s at least) | 15 s × position |",
            percentile(&mut t, 50.0),
            percentile(&mut t, 99.0),
            failover_secs + 2.0
        );
    }
}

fn costs(cost_secs: u64) {
    println!("\n## The cost of peering: 300 agents for {cost_secs} s\n");
    let (a0, b0, _) = cost(Setup::Apart, cost_secs);
    let (a1, b1, bps) = cost(Setup::Pair, cost_secs);
    let (a2, b2, relay_bps) = cost(Setup::Relay, cost_secs);
    let pct = |s: f64| s * 100.0 / cost_secs as f64;
    // What the agents send to the other site themselves when they report to
    // both, as line protocol before gzip (the relay's bytes are gzipped).
    let direct_bps = agents_body().len() as f64 / 10.0;
    println!("| setup | CPU of a | CPU of b | bytes/s between the collectors |");
    println!("|---|---|---|---|");
    println!("| agents to both, without peering | {:.2} % | {:.2} % | — |", pct(a0), pct(b0));
    println!("| agents to both, with peering | {:.2} % | {:.2} % | {bps:.0} |", pct(a1), pct(b1));
    println!(
        "| agents to a only, a relays to b | {:.2} % | {:.2} % | {relay_bps:.0} (the agents' own {direct_bps:.0} bytes/s of line protocol, gzipped, plus the heartbeats) |",
        pct(a2),
        pct(b2)
    );
}
