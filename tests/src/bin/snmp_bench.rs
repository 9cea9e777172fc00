//! SNMP benchmarks, each against its peer in the same run (scripts/bench snmp):
//!
//! 1. One poll of N simulated UPS (snmpsim serving the Eaton 9PX recording
//!    on N UDP ports): `dcwatch-agent once` (a new process each round, so its
//!    start-up is counted against it) versus prometheus-snmp-exporter, a
//!    long-running process scraped for all N targets at once with a module
//!    asking for the same OIDs as the `ups-mib` profile. Wall time, and CPU
//!    seconds of the process doing the SNMP work.
//! 2. Trap latency: a v2c upsTrapOnBattery sent to a running agent → the
//!    `ups … on_battery=true` line arriving at the HTTP endpoint it writes to.
//!
//! Environment: BENCH_UPS (200), BENCH_ROUNDS (7), BENCH_TRAPS (300).

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use dcwatch_tests::bench::{children_cpu, env_or, median};
use dcwatch_tests::*;

/// The `ups-mib` profile's OIDs (configs/profiles/snmp/ups-mib.yaml).
const GETS: [&str; 11] = [
    "1.3.6.1.2.1.33.1.2.1.0",
    "1.3.6.1.2.1.33.1.2.2.0",
    "1.3.6.1.2.1.33.1.2.3.0",
    "1.3.6.1.2.1.33.1.2.4.0",
    "1.3.6.1.2.1.33.1.2.5.0",
    "1.3.6.1.2.1.33.1.2.7.0",
    "1.3.6.1.2.1.33.1.3.3.1.2.1",
    "1.3.6.1.2.1.33.1.3.3.1.3.1",
    "1.3.6.1.2.1.33.1.4.1.0",
    "1.3.6.1.2.1.33.1.4.2.0",
    "1.3.6.1.2.1.33.1.4.4.1.2.1",
];
const WALKS: [&str; 7] = [
    "1.3.6.1.2.1.33.1.3.3.1.3",
    "1.3.6.1.2.1.33.1.3.3.1.4",
    "1.3.6.1.2.1.33.1.3.3.1.5",
    "1.3.6.1.2.1.33.1.4.4.1.2",
    "1.3.6.1.2.1.33.1.4.4.1.3",
    "1.3.6.1.2.1.33.1.4.4.1.4",
    "1.3.6.1.2.1.33.1.4.4.1.5",
];

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime")) / hz
}

fn exporter_config() -> String {
    let mut y = String::from(
        "ups:\n  version: 2\n  auth:\n    community: ups\n  max_repetitions: 25\n  retries: 1\n  timeout: 2s\n",
    );
    y.push_str("  get:\n");
    for g in GETS {
        y.push_str(&format!("    - {g}\n"));
    }
    y.push_str("  walk:\n");
    for w in WALKS {
        y.push_str(&format!("    - {w}\n"));
    }
    y.push_str("  metrics:\n");
    for (i, o) in GETS.iter().enumerate() {
        let base = o.trim_end_matches(".0");
        let base = if o.ends_with(".0") { base.to_string() } else { o.rsplit_once('.').expect("row").0.to_string() };
        y.push_str(&format!("    - name: ups_get_{i}\n      oid: {base}\n      type: gauge\n"));
        if !o.ends_with(".0") {
            y.push_str("      indexes:\n        - labelname: row\n          type: gauge\n");
        }
    }
    for (i, w) in WALKS.iter().enumerate() {
        y.push_str(&format!(
            "    - name: ups_walk_{i}\n      oid: {w}\n      type: gauge\n      indexes:\n        - labelname: row\n          type: gauge\n"
        ));
    }
    y
}

fn main() {
    let n = env_or("BENCH_UPS", 200);
    let rounds = env_or("BENCH_ROUNDS", 7);
    let traps = env_or("BENCH_TRAPS", 300);
    let dir = TempDir::new().expect("tempdir");
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p = free_udp_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    eprintln!("starting snmpsim on {n} ports");
    let sim = Snmpsim::start_on_ports(&[("ups", Snmpsim::recording("eaton-mgeups_9px"))], &ports);

    // The agent's side: one `once` over every UPS, with the same profile.
    let mut yaml = String::from(
        "agent:\n  site: bench\noutput:\n  url: http://127.0.0.1:9\nsources:\n  - type: snmp\n    devices:\n",
    );
    for (i, p) in ports.iter().enumerate() {
        yaml.push_str(&format!(
            "      - name: ups-{i}\n        address: 127.0.0.1:{p}\n        community: ups\n        profile: ups-mib\n"
        ));
    }
    yaml.push_str(&format!("queue:\n  dir: {}\n", dir.path().join("queue").display()));
    let agent_cfg = dir.path().join("agent.yaml");
    std::fs::write(&agent_cfg, &yaml).expect("write agent config");

    // The exporter's side.
    let cfg = dir.path().join("snmp.yml");
    std::fs::write(&cfg, exporter_config()).expect("write snmp.yml");
    let eport = free_port();
    let exporter = Proc::spawn(
        "snmp-exporter",
        Command::new(system_program("prometheus-snmp-exporter"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{eport}")),
        dir.path(),
    );
    let http = dcwatch_tests::http(None);
    wait_for("snmp_exporter", || {
        http.get(format!("http://127.0.0.1:{eport}/metrics")).send().ok().filter(|r| r.status().is_success())
    });

    let (mut a_wall, mut a_cpu, mut e_wall, mut e_cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // dcwatch-agent once.
        let cpu0 = children_cpu();
        let t0 = Instant::now();
        let out = Command::new(bin("dcwatch-agent")).arg("-c").arg(&agent_cfg).arg("once").output().expect("run once");
        let wall = t0.elapsed().as_secs_f64();
        let cpu = children_cpu() - cpu0;
        let text = String::from_utf8_lossy(&out.stdout);
        let ups_lines = text.lines().filter(|l| l.starts_with("ups,")).count();
        assert_eq!(ups_lines, n, "the agent polled {ups_lines} of {n} UPS: {}", String::from_utf8_lossy(&out.stderr));
        a_wall.push(wall);
        a_cpu.push(cpu);

        // snmp_exporter: every target at once, as Prometheus scrapes them.
        let c0 = cpu_secs(exporter.pid());
        let t0 = Instant::now();
        let oks = std::thread::scope(|s| {
            let hs: Vec<_> = ports
                .iter()
                .map(|p| {
                    let http = &http;
                    s.spawn(move || {
                        let url = format!("http://127.0.0.1:{eport}/snmp?module=ups&target=127.0.0.1:{p}");
                        http.get(url)
                            .send()
                            .ok()
                            .and_then(|r| r.text().ok())
                            .is_some_and(|b| b.contains("ups_get_3 100"))
                    })
                })
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).filter(|ok| *ok).count()
        });
        let wall = t0.elapsed().as_secs_f64();
        assert_eq!(oks, n, "snmp_exporter answered {oks} of {n} scrapes with the charge");
        e_wall.push(wall);
        e_cpu.push(cpu_secs(exporter.pid()) - c0);
        eprintln!(
            "round {round}: agent {:.3} s / {:.3} CPU s; exporter {:.3} s / {:.3} CPU s",
            a_wall[round], a_cpu[round], e_wall[round], e_cpu[round]
        );
    }
    let (aw, ac, ew, ec) = (median(&mut a_wall), median(&mut a_cpu), median(&mut e_wall), median(&mut e_cpu));
    println!("\n### One poll of {n} UPS (snmpsim, Eaton 9PX recording, UPS-MIB OIDs), medians of {rounds} rounds\n");
    println!("| | wall time (s) | CPU (s) |");
    println!("|---|---|---|");
    println!("| dcwatch-agent once (new process each round) | {aw:.3} | {ac:.3} |");
    println!("| prometheus-snmp-exporter ({n} concurrent scrapes) | {ew:.3} | {ec:.3} |");
    println!("| ratio agent / exporter | {:.2} | {:.2} |", aw / ew, ac / ec);
    drop(exporter);

    // Trap latency.
    let capture = Capture::start();
    let trap_port = free_udp_port();
    let agent_yaml = format!(
        "agent:\n  site: bench\n  interval_secs: 60\noutput:\n  url: {}\n  flush_interval_ms: 1000\nsources:\n  - type: snmp\n    interval_secs: 60\n    \
         devices:\n      - name: ups-0\n        address: 127.0.0.1:{}\n        community: ups\n        profile: ups-mib\n    traps:\n      \
         listen: 127.0.0.1:{trap_port}\n      communities: [public]\n",
        capture.url(),
        sim.port
    );
    let agent = Agent::start(&agent_yaml);
    wait_for("the trap receiver", || agent.proc.output().contains("listening for SNMP traps").then_some(()));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    // `snmptrap -v 2c -c public … 12345 1.3.6.1.2.1.33.2.1`, as Net-SNMP sends it.
    let trap: Vec<u8> = {
        let h = "304302010104067075626c6963a73602042be24a7f0201000201003028300e06082b06010201010300430230393016060a2b\
                 06010603010104010006082b06010201210201";
        (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex")).collect()
    };
    let mut lat = Vec::new();
    for _ in 0..traps {
        let seen = capture.arrivals().len();
        let t0 = Instant::now();
        sock.send_to(&trap, ("127.0.0.1", trap_port)).expect("send trap");
        let arrived = wait_for("the on-battery point", || {
            capture.arrivals()[seen..]
                .iter()
                .find(|(_, b)| String::from_utf8_lossy(b).contains("on_battery=true,status=\"on_battery\""))
                .map(|(t, _)| *t)
        });
        lat.push(arrived.duration_since(t0).as_secs_f64() * 1000.0);
        // Let the poll the trap triggers finish, as between real traps.
        std::thread::sleep(Duration::from_millis(50));
    }
    let (p50, p99, max) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99), percentile(&mut lat, 1.0));
    println!("\n### Trap → `ups on_battery=true` point at the agent's output ({traps} v2c traps)\n");
    println!("| p50 (ms) | p99 (ms) | max (ms) |");
    println!("|---|---|---|");
    println!("| {p50:.1} | {p99:.1} | {max:.1} |");
    let _ = std::io::stdout().flush();
}
