//! Event at the device → notice at the receiver (scripts/bench notify), side
//! by side with NUT in the same run:
//!
//! - dcwatch, trap path: an APC PowerNet v1 trap (upsOnBattery, then
//!   powerRestored) sent to the agent → the collector's `ups_on_battery`
//!   notice (firing, then resolved) at a webhook.
//! - dcwatch, poll path: an APC Smart-UPS Modbus map (pymodbus) whose status
//!   word flips to on-battery and back, polled every 2 s → the same notices.
//! - NUT: `dummy-ups` flipped with `upsrw` (ups.status OB, then OL) →
//!   `upsmon`'s NOTIFYCMD for ONBATT / ONLINE, with NUT's default POLLFREQ 5.
//!
//! Both use their defaults otherwise (dcwatch evaluates alarms every second).
//! Environment: BENCH_FLIPS (10).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dcwatch_tests::bench::env_or;
use dcwatch_tests::*;
use serde_json::json;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn row(name: &str, v: &mut [f64]) -> String {
    format!("| {name} | {} | {:.0} | {:.0} | {:.0} |", v.len(), pct(v, 0.5), pct(v, 0.99), pct(v, 1.0))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn unix_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64()
}

/// The notice of `name`/`status` that arrived after `since`, and when.
fn notice_after(hook: &Capture, since: Instant, device: &str, notice: &str) -> Option<Instant> {
    hook.arrivals().into_iter().find_map(|(t, b)| {
        let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
        (t >= since && v["name"] == "ups_on_battery" && v["notice"] == notice && v["labels"]["device"] == device)
            .then_some(t)
    })
}

fn nut(dir: &Path, flips: usize) -> (Vec<f64>, Vec<f64>) {
    let d = dir.join("nut");
    let (etc, run) = (d.join("etc"), d.join("run"));
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::create_dir_all(&run).expect("mkdir");
    let port = free_port();
    let w = |f: &str, t: String| std::fs::write(etc.join(f), t).expect("write nut config");
    w("nut.conf", "MODE=standalone\n".into());
    w("ups.conf", "[ups1]\n  driver = dummy-ups\n  port = ups1.dev\n  mode = dummy-once\n".into());
    w("ups1.dev", "ups.status: OL\nbattery.charge: 100\n".into());
    w("upsd.conf", format!("LISTEN 127.0.0.1 {port}\n"));
    w(
        "upsd.users",
        "[admin]\n  password = adminpass\n  actions = SET\n[mon]\n  password = monpass\n  upsmon primary\n".into(),
    );
    let log = run.join("notify.log");
    w("notify.sh", format!("#!/bin/sh\necho \"$(date +%s.%N) $NOTIFYTYPE\" >> {}\n", log.display()));
    w(
        "upsmon.conf",
        format!(
            "MONITOR ups1@127.0.0.1:{port} 1 mon monpass primary\nMINSUPPLIES 1\nSHUTDOWNCMD \"/bin/true\"\nNOTIFYCMD {}\n\
             NOTIFYFLAG ONBATT EXEC\nNOTIFYFLAG ONLINE EXEC\n",
            etc.join("notify.sh").display()
        ),
    );
    Command::new("chmod").args(["-R", "a+rwX"]).arg(&d).status().expect("chmod");
    Command::new("chmod").arg("0755").arg(etc.join("notify.sh")).status().expect("chmod");
    let env = |c: &mut Command| {
        c.env("NUT_CONFPATH", &etc).env("NUT_STATEPATH", &run).env("NUT_ALTPIDPATH", &run);
    };
    let spawn = |name: &str, prog: &str, args: &[&str]| {
        let mut c = Command::new(prog);
        c.args(args);
        env(&mut c);
        Proc::spawn(name, &mut c, &d)
    };
    let _driver = spawn("dummy-ups", "/lib/nut/dummy-ups", &["-a", "ups1", "-F", "-u", "nobody"]);
    std::thread::sleep(Duration::from_secs(1));
    let _upsd = spawn("upsd", "/lib/nut/upsd", &["-F", "-u", "nobody"]);
    wait_for("upsd", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    let _upsmon = spawn("upsmon", "/lib/nut/upsmon", &["-F", "-u", "nobody"]);
    std::thread::sleep(Duration::from_secs(6));
    let lines = || std::fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_string).collect::<Vec<_>>();
    let (mut onbatt, mut online) = (Vec::new(), Vec::new());
    for _ in 0..flips {
        for (status, event, out) in [("OB", "ONBATT", &mut onbatt), ("OL", "ONLINE", &mut online)] {
            let seen = lines().len();
            let t0 = unix_secs();
            let st = Command::new(system_program("upsrw"))
                .args([
                    "-s",
                    &format!("ups.status={status}"),
                    "-u",
                    "admin",
                    "-p",
                    "adminpass",
                    &format!("ups1@127.0.0.1:{port}"),
                ])
                .output()
                .expect("upsrw");
            assert!(st.status.success(), "upsrw: {}", String::from_utf8_lossy(&st.stderr));
            let at = wait_for(&format!("NUT's {event}"), || {
                lines()[seen..]
                    .iter()
                    .find(|l| l.ends_with(event))
                    .and_then(|l| l.split(' ').next()?.parse::<f64>().ok())
            });
            out.push((at - t0) * 1000.0);
        }
    }
    (onbatt, online)
}

fn main() {
    let flips = env_or("BENCH_FLIPS", 10);
    let dir = TempDir::new().expect("tempdir");
    let hook = Capture::start();
    let token = "bench-token-0123456789";
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - {{name: a, token: {token}, site: bench, poller: true}}\n\
         alarms:\n  db: {}\n  flap_changes: 0\n  builtin: {{disabled: [device_unreachable]}}\n  receivers:\n    \
         - {{name: hook, webhook: {{url: {}/hook}}}}\n",
        dir.path().join("alarms.db").display(),
        hook.url()
    ));
    // The Modbus UPS: on battery while `ob` exists (UPSStatus bit 2, and bit 1 clear).
    let ob = dir.path().join("ob");
    let mut low = vec![0u16; 27];
    low[1] = 0x0002;
    let mut high = vec![0u16; 44];
    high[2] = 100 * 512;
    let server = ModbusServer::start(json!([{"id": 1, "holding": {"0": low, "128": high},
        "when": [{"file": ob, "holding": {"0": [0, 0x0004]}}]}]));
    let trap_port = free_udp_port();
    let agent = Agent::start(&format!(
        "agent:\n  site: bench\noutput:\n  url: {}\n  token: {token}\nsources:\n  - type: snmp\n    interval_secs: 3600\n    \
         timeout_ms: 100\n    retries: 0\n    devices:\n      - {{name: ups-trap, address: '127.0.0.1:{}', profile: apc-ups}}\n    \
         traps: {{listen: '127.0.0.1:{trap_port}', communities: [public]}}\n  - type: modbus\n    interval_secs: 2\n    \
         devices:\n      - {{name: ups-poll, address: '127.0.0.1:{}', unit: 1, profile: apc-smartups}}\n",
        collector.url(),
        free_udp_port(),
        server.port
    ));
    wait_for("the trap receiver", || agent.proc.output().contains("listening for SNMP traps").then_some(()));
    // `snmptrap -v 1 -c public … 1.3.6.1.4.1.318 10.1.2.3 6 5 777`: APC upsOnBattery; specific 9: powerRestored.
    let on_batt = hex("302802010004067075626c6963a41b06072b06010401823e40040a010203020106020105430203093000");
    let restored = hex("302802010004067075626c6963a41b06072b06010401823e40040a010203020106020109430203093000");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let (mut trap_fire, mut trap_resolve, mut poll_fire, mut poll_resolve) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    std::thread::sleep(Duration::from_secs(3));
    for i in 0..flips {
        for (bytes, notice, out) in [(&on_batt, "firing", &mut trap_fire), (&restored, "resolved", &mut trap_resolve)] {
            let t0 = Instant::now();
            sock.send_to(bytes, ("127.0.0.1", trap_port)).expect("send trap");
            let at = wait_for("the trap's notice", || notice_after(&hook, t0, "ups-trap", notice));
            out.push(at.duration_since(t0).as_secs_f64() * 1000.0);
        }
        // Poll path: flip at a different phase of the poll interval each time.
        std::thread::sleep(Duration::from_millis(200 * (i as u64 % 10)));
        for (present, notice, out) in [(true, "firing", &mut poll_fire), (false, "resolved", &mut poll_resolve)] {
            let t0 = Instant::now();
            if present {
                std::fs::write(&ob, "").expect("on battery");
            } else {
                std::fs::remove_file(&ob).expect("online");
            }
            let at = wait_for("the poll's notice", || notice_after(&hook, t0, "ups-poll", notice));
            out.push(at.duration_since(t0).as_secs_f64() * 1000.0);
        }
        eprintln!(
            "round {i}: trap {:.0}/{:.0} ms, poll {:.0}/{:.0} ms",
            trap_fire[i], trap_resolve[i], poll_fire[i], poll_resolve[i]
        );
    }
    let (mut nut_ob, mut nut_ol) = nut(dir.path(), flips);
    println!("\n### Event at the device → notice at the receiver ({flips} flips each way), milliseconds\n");
    println!("| path | events | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    println!("{}", row("dcwatch, trap → webhook: on battery", &mut trap_fire));
    println!("{}", row("dcwatch, trap → webhook: power restored", &mut trap_resolve));
    println!("{}", row("dcwatch, Modbus poll every 2 s → webhook: on battery", &mut poll_fire));
    println!("{}", row("dcwatch, Modbus poll every 2 s → webhook: back online", &mut poll_resolve));
    println!("{}", row("NUT upsmon (POLLFREQ 5) → NOTIFYCMD: ONBATT", &mut nut_ob));
    println!("{}", row("NUT upsmon (POLLFREQ 5) → NOTIFYCMD: ONLINE", &mut nut_ol));
}
