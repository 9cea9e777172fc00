//! Modbus benchmark (scripts/bench modbus): 100 meters (SDM630 maps) behind
//! one Modbus TCP server (`dcwatch-sim modbus-site --meters 100`), read once
//! by `dcwatch-agent once` with request planning (the default) and with one
//! request per field (`merge_reads: false`), in alternating rounds. Wall time
//! and CPU of the agent's process; requests per cycle as counted by the
//! server.
//!
//! Environment: BENCH_METERS (100), BENCH_ROUNDS (7).

use std::process::Command;
use std::time::Instant;

use dcwatch_tests::bench::{children_cpu, env_or, median};
use dcwatch_tests::*;

/// Requests the simulator has answered (its unit 247).
fn served(port: u16) -> u64 {
    let out = Command::new(bin("dcwatch-agent"))
        .args(["probe", "modbus", &format!("127.0.0.1:{port}"), "--unit", "247", "--raw", "0", "2"])
        .output()
        .expect("probe");
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.trim_start().starts_with("0  ")).unwrap_or_else(|| panic!("{text}"));
    // The u32 ABCD column, the first after the `|`.
    row.split('|').nth(1).and_then(|r| r.split_whitespace().next()).and_then(|v| v.parse().ok()).expect("counter")
}

fn main() {
    let meters = env_or("BENCH_METERS", 100).min(200);
    let rounds = env_or("BENCH_ROUNDS", 7);
    let dir = TempDir::new().expect("tempdir");
    let port = free_port();
    let _sim = Proc::spawn(
        "dcwatch-sim",
        Command::new(bin("dcwatch-sim")).args([
            "modbus-site",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--scenario",
            "steady",
            "--meters",
            &meters.to_string(),
        ]),
        dir.path(),
    );
    wait_for("the simulator", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    let config = |merge: bool| {
        let mut y = format!(
            "agent:\n  site: bench\noutput:\n  url: http://127.0.0.1:9\nqueue:\n  dir: {}\nsources:\n  - type: modbus\n    devices:\n",
            dir.path().join(format!("queue-{merge}")).display()
        );
        for i in 0..meters {
            y.push_str(&format!(
                "      - {{name: m{i}, address: 127.0.0.1:{port}, unit: {}, profile: sdm630, merge_reads: {merge}}}\n",
                10 + i
            ));
        }
        let path = dir.path().join(format!("agent-{merge}.yaml"));
        std::fs::write(&path, y).expect("write config");
        path
    };
    let (merged, single) = (config(true), config(false));
    let mut res: [(Vec<f64>, Vec<f64>, Vec<f64>); 2] = Default::default();
    for round in 0..rounds {
        for (k, cfg) in [(0, &merged), (1, &single)] {
            let before = served(port);
            let cpu0 = children_cpu();
            let t0 = Instant::now();
            let out = Command::new(bin("dcwatch-agent")).arg("-c").arg(cfg).arg("once").output().expect("once");
            let wall = t0.elapsed().as_secs_f64();
            let cpu = children_cpu() - cpu0;
            let requests = served(port) - before;
            let feeds = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("power_feed,")).count();
            assert_eq!(feeds, meters, "{}", String::from_utf8_lossy(&out.stderr));
            res[k].0.push(wall);
            res[k].1.push(cpu);
            res[k].2.push(requests as f64);
            eprintln!(
                "round {round} {}: {wall:.3} s, {cpu:.3} CPU s, {requests} requests",
                ["planned", "per field"][k]
            );
        }
    }
    let m: Vec<(f64, f64, f64)> = res.iter_mut().map(|(w, c, r)| (median(w), median(c), median(r))).collect();
    println!(
        "\n### One poll cycle of {meters} SDM630 meters behind one Modbus TCP server, medians of {rounds} rounds\n"
    );
    println!("| | wall time (s) | CPU (s) | requests per cycle |");
    println!("|---|---|---|---|");
    println!("| planned reads (default) | {:.3} | {:.3} | {:.0} |", m[0].0, m[0].1, m[0].2);
    println!("| one request per field (`merge_reads: false`) | {:.3} | {:.3} | {:.0} |", m[1].0, m[1].1, m[1].2);
    println!(
        "| ratio planned / per field | {:.2} | {:.2} | {:.2} |",
        m[0].0 / m[1].0,
        m[0].1 / m[1].1,
        m[0].2 / m[1].2
    );
}
