//! The Modbus source against a real peer: pymodbus (a third-party server)
//! holding the shipped profiles' register maps with known raw values, over
//! TCP and over RTU on a pty pair.

use std::process::Command;

use dcwatch_tests::*;
use serde_json::json;

fn probe(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("dcwatch-agent")).args(["probe", "modbus"]).args(args).output().expect("run probe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn probe_lines(args: &[&str]) -> Vec<String> {
    let mut all = vec!["--format", "lp", "--name", "d"];
    all.extend_from_slice(args);
    let (code, out, err) = probe(&all);
    assert_eq!(code, 0, "probe {args:?}: {err}");
    out.lines().map(|l| strip_ts(l).to_string()).collect()
}

fn regs(len: usize, set: &[(usize, &[u16])]) -> Vec<u16> {
    let mut v = vec![0u16; len];
    for (at, words) in set {
        v[*at..*at + words.len()].copy_from_slice(words);
    }
    v
}

/// APC Smart-UPS (unit 1): the two blocks NUT's driver reads, 0 (27 registers) and 128 (44).
fn apc() -> serde_json::Value {
    let low = regs(27, &[(0, &[0x0020, 0x0002])]); // bit 21 (overload) in the high word, bit 1 (online) in the low
    let high = regs(
        44,
        &[
            (0, &[0x0000, 0x1C20]), // 128–129: runtime 7200 s
            (2, &[100 * 512]),      // 130: 100 % × 2^9
            (3, &[872]),            // 131: 27.25 V × 2^5
            (7, &[3264]),           // 135: 25.5 °C × 2^7
            (8, &[10816]),          // 136: 42.25 % × 2^8
            (12, &[112]),           // 140: 3.5 A × 2^5
            (14, &[14704]),         // 142: 229.75 V × 2^6
            (16, &[6400]),          // 144: 50 Hz × 2^7
            (23, &[14816]),         // 151: 231.5 V × 2^6
        ],
    );
    json!({"id": 1, "holding": {"0": low, "128": high}})
}

/// Eastron SDM630 (unit 2): float32 input registers 0x00–0x4B and 0x156.
fn sdm630() -> serde_json::Value {
    let f = f32_words;
    let block = regs(
        76,
        &[
            (0x00, &f(230.5)),
            (0x02, &f(231.25)),
            (0x04, &f(229.75)),
            (0x06, &f(10.5)),
            (0x08, &f(8.25)),
            (0x0A, &f(12.0)),
            (0x0C, &f(2400.0)),
            (0x0E, &f(1900.0)),
            (0x10, &f(2750.0)),
            (0x34, &f(7050.0)),
            (0x38, &f(7200.0)),
            (0x3C, &f(1400.5)),
            (0x3E, &f(0.96875)),
            (0x46, &f(50.0)),
            (0x48, &f(12345.5)),
            (0x4A, &f(0.25)),
        ],
    );
    json!({"id": 2, "input": {"0": block, "342": f(12345.75)}})
}

/// DSE GenComm (unit 3).
fn dse() -> serde_json::Value {
    let page4 = regs(
        26,
        &[
            (0, &[350, 82, 0, 76, 0, 264, 1500, 500]), // 1024 oil kPa, coolant °C, -, fuel %, -, battery 0.1 V, rpm, 0.1 Hz
            (8, &[0, 2301, 0, 2298, 0xFFFF, 0xFFFF]),  // 1032–1037: L1 230.1 V, L2 229.8 V, L3 unimplemented
            (20, &[0, 412, 0, 398, 0, 405]),           // 1044–1049: 41.2 A, 39.8 A, 40.5 A
        ],
    );
    let hours = regs(12, &[(0, &[0x0005, 0x7E40]), (10, &[0, 57])]); // 1798: 360000 s; 1808: 57 starts
    let alarms = regs(11, &[(0, &[40]), (1, &[0x1111, 0x1111, 0x1131]), (4, &[0xFFFF; 7])]);
    json!({"id": 3, "holding": {
        "772": [1], "1024": page4, "1408": [3], "1536": [0, 27500], "1798": hours, "2048": alarms
    }})
}

/// ATS contacts (unit 4): A ok, B ok, not on B.
fn ats() -> serde_json::Value {
    json!({"id": 4, "discrete": {"0": [1, 1, 0]}})
}

/// Generic three-phase meter (unit 5): holding 0–17.
fn meter() -> serde_json::Value {
    let block = regs(18, &[(0, &[2315, 2302, 2298, 1250, 1175, 1310]), (12, &[0, 8400, 5002, 0, 0x0001, 0x86A0])]);
    json!({"id": 5, "holding": {"0": block}})
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn every_shipped_profile_decodes_pymodbus_registers_as_computed_by_hand() {
    let server = ModbusServer::start(json!([apc(), sdm630(), dse(), ats(), meter()]));
    let addr = format!("127.0.0.1:{}", server.port);

    // APC: raw / 2^N — 51200/512 = 100 %, 872/32 = 27.25 V, 3264/128 = 25.5 °C,
    // 10816/256 = 42.25 %, 112/32 = 3.5 A, 14704/64 = 229.75 V, 6400/128 = 50 Hz,
    // 14816/64 = 231.5 V; status word 0x00200002: bit 1 online, bit 21 overload.
    assert_eq!(
        probe_lines(&[&addr, "--unit", "1", "--profile", "apc-smartups"]),
        vec![
            "ups,site=probe,device=d status=\"online\",on_battery=false,overload=true,low_battery=false,\
             runtime_remaining_s=7200,battery_charge_pct=100,battery_voltage_v=27.25,battery_temperature_c=25.5,\
             load_pct=42.25,output_current_a=3.5,output_voltage_v=229.75,output_frequency_hz=50,input_voltage_v=231.5"
        ]
    );

    // SDM630 bound to feed A: floats as they are; the feed's voltage is its
    // lowest phase (229.75 V), its current the highest (12 A); 229.75 ≥ 190: live.
    assert_eq!(
        probe_lines(&[&addr, "--unit", "2", "--profile", "sdm630", "--feed", "A"]),
        vec![
            "power_feed,site=probe,device=d,feed=A live=true,voltage_v=229.75,current_a=12,power_w=7050,power_va=7200,\
             power_var=1400.5,power_factor=0.96875,frequency_hz=50,import_energy_kwh=12345.5,export_energy_kwh=0.25,\
             energy_kwh=12345.75",
            "power_feed_phase,site=probe,device=d,feed=A,phase=1 voltage_v=230.5,current_a=10.5,power_w=2400",
            "power_feed_phase,site=probe,device=d,feed=A,phase=2 voltage_v=231.25,current_a=8.25,power_w=1900",
            "power_feed_phase,site=probe,device=d,feed=A,phase=3 voltage_v=229.75,current_a=12,power_w=2750",
        ]
    );

    // DSE: state 3 running, mode 1 auto; 264 × 0.1 = 26.4 V; 500 × 0.1 = 50 Hz;
    // 2301 × 0.1 = 230.1 V; run time 0x00057E40 = 360000 s = 100 h; L3 voltage
    // 0xFFFFFFFF unimplemented (left out); alarm codes 1,1,1,1 1,1,1,1 1,1,3,1: shutdown.
    assert_eq!(
        probe_lines(&[&addr, "--unit", "3", "--profile", "dse-gencomm"]),
        vec![
            "generator,site=probe,device=d state=\"running\",running=true,control_mode=\"auto\",oil_pressure_kpa=350,\
             coolant_temperature_c=82,fuel_pct=76,battery_voltage_v=26.4,engine_rpm=1500,frequency_hz=50,\
             voltage_v=230.1,power_w=27500,run_hours=100,starts_total=57,alarm=\"shutdown\"",
            "generator_phase,site=probe,device=d,phase=1 voltage_v=230.1,current_a=41.2",
            "generator_phase,site=probe,device=d,phase=2 voltage_v=229.8,current_a=39.8",
            "generator_phase,site=probe,device=d,phase=3 current_a=40.5",
        ]
    );

    assert_eq!(
        probe_lines(&[&addr, "--unit", "4", "--profile", "ats-contacts"]),
        vec!["ats,site=probe,device=d source_a_ok=true,source_b_ok=true,on_source_b=false,active_source=\"A\""]
    );

    // Generic meter: 0.1 V, 0.01 A, 0.01 Hz, 0.01 kWh (0x000186A0 = 100000 → 1000 kWh).
    assert_eq!(
        probe_lines(&[&addr, "--unit", "5", "--profile", "meter-3phase"]),
        vec![
            "power_feed,site=probe,device=d power_w=8400,frequency_hz=50.02,energy_kwh=1000",
            "power_feed_phase,site=probe,device=d,phase=1 voltage_v=231.5,current_a=12.5",
            "power_feed_phase,site=probe,device=d,phase=2 voltage_v=230.2,current_a=11.75",
            "power_feed_phase,site=probe,device=d,phase=3 voltage_v=229.8,current_a=13.1",
        ]
    );

    // The raw dump, for word-order questions: 0x4366 0x8000 is 230.5 in ABCD.
    let (code, out, _) = probe(&[&addr, "--unit", "2", "--raw", "0", "2", "--function", "input"]);
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.trim_start().starts_with("0x0000 (0)  4366")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains(" 230.500 "), "{row}");
    // Addresses in hex, as profiles write them (regression: `--raw 0x0` was refused).
    let (code, hex, err) = probe(&[&addr, "--unit", "2", "--raw", "0x0", "0x2", "--function", "input"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(hex, out);
    assert_eq!(
        out.lines().next(),
        Some(format!("tcp://{addr} unit 2: input 0x0000–0x0001 (0–1) — 0-based protocol addresses: a manual's 40001 or 30001 is 0").as_str())
    );
}

fn agent_yaml(capture: &Capture, body: &str) -> String {
    format!(
        "agent:\n  site: hn-dc1\n  host: mon1\n  interval_secs: 60\noutput:\n  url: {}\n  flush_interval_ms: 200\nsources:\n{body}",
        capture.url()
    )
}

fn last_device(capture: &Capture, name: &str) -> Option<String> {
    captured_lines(capture)
        .into_iter()
        .rev()
        .find(|l| l.starts_with(&format!("device,site=hn-dc1,host=mon1,device={name},")))
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn the_planner_reads_each_profile_in_the_fewest_requests_and_remembers_a_refused_merge() {
    // All maps on one server, contiguous: each profile takes the minimum number of reads.
    let server = ModbusServer::start(json!([apc(), sdm630(), dse(), ats(), meter()]));
    // The meter again, with holes at 6–11 and 15: its one planned read (0–17) is refused.
    let holes = json!([{"id": 1, "holding": {
        "0": [2315, 2302, 2298, 1250, 1175, 1310], "12": [0, 8400, 5002], "16": [0x0001, 0x86A0]
    }}]);
    let holey = ModbusServer::start(holes);
    let capture = Capture::start();
    let dev = |name: &str, unit: u8, profile: &str, port: u16| {
        format!("      - {{name: {name}, address: 127.0.0.1:{port}, unit: {unit}, profile: {profile}}}\n")
    };
    let mut body = String::from("  - type: modbus\n    interval_secs: 1\n    devices:\n");
    for (n, u, p) in [
        ("apc", 1, "apc-smartups"),
        ("sdm", 2, "sdm630"),
        ("dse", 3, "dse-gencomm"),
        ("ats", 4, "ats-contacts"),
        ("m", 5, "meter-3phase"),
    ] {
        body.push_str(&dev(n, u, p, server.port));
    }
    body.push_str(&dev("holey", 1, "meter-3phase", holey.port));
    let _agent = Agent::start(&agent_yaml(&capture, &body));
    // With max_gap 16 (the default): apc 0–18 and 128–151; sdm 0x00–0x11, 0x34–0x4B
    // and 0x156; dse 772, 1024–1049, 1408, 1536–1537, 1798–1809, 2049–2058; one
    // read each for the contacts and the meter.
    for (name, reads) in [("apc", 2), ("sdm", 3), ("dse", 6), ("ats", 1), ("m", 1)] {
        let l = wait_for(name, || last_device(&capture, name));
        assert!(l.contains(&format!(",requests={reads}i,")), "{name}: {l}");
        assert!(l.contains(" up=true,"), "{l}");
    }
    // The refused merge: 0–17 refused, split at the widest gap into 0–5 and
    // 12–17; 12–17 refused (15 is missing), split into 12–14 and 16–17: five
    // requests the first time, three from then on, with every value read.
    let first = wait_for("holey's first poll", || {
        captured_lines(&capture).into_iter().find(|l| l.starts_with("device,site=hn-dc1,host=mon1,device=holey,"))
    });
    assert!(first.contains(",requests=5i,"), "{first}");
    let polls = wait_for("holey's later polls", || {
        let l: Vec<String> = captured_lines(&capture)
            .into_iter()
            .filter(|l| l.starts_with("device,site=hn-dc1,host=mon1,device=holey,"))
            .collect();
        (l.len() >= 3).then_some(l)
    });
    assert!(polls[1..].iter().all(|l| l.contains(",requests=3i,")), "{polls:#?}");
    assert!(captured_lines(&capture).iter().any(|l| strip_ts(l)
        == "power_feed,site=hn-dc1,host=mon1,device=holey power_w=8400,frequency_hz=50.02,energy_kwh=1000"));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn exceptions_silence_and_a_dropped_connection_are_survived_and_the_feed_does_not_flap() {
    let dir = TempDir::new().expect("tempdir");
    let (busy, silent, dead) = (dir.path().join("busy"), dir.path().join("silent"), dir.path().join("dead"));
    let mut m = meter();
    m["id"] = json!(1);
    m["busy_if"] = json!(busy);
    m["silent_if"] = json!(silent);
    // The feed dies: every phase reads 0 V while `dead` exists.
    m["when"] = json!([{"file": dead, "holding": {"0": [0, 0, 0]}}]);
    let meter_server = ModbusServer::start(json!([m.clone()]));
    let port = meter_server.port;
    let mut a = ats();
    a["id"] = json!(1);
    let ats_server = ModbusServer::start(json!([a]));
    let capture = Capture::start();
    let _agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: modbus\n    interval_secs: 1\n    timeout_ms: 300\n    devices:\n      \
             - {{name: meter-a, address: 127.0.0.1:{port}, profile: meter-3phase, feed: A}}\n      \
             - {{name: ats, address: 127.0.0.1:{}, profile: ats-contacts}}\n",
            ats_server.port
        ),
    ));
    let feed = |live: bool| {
        let capture = &capture;
        move || {
            captured_lines(capture)
                .into_iter()
                .rev()
                .find(|l| l.starts_with("power_feed,site=hn-dc1,host=mon1,device=meter-a,feed=A "))
                .filter(|l| l.contains(&format!(" live={live},")))
        }
    };
    let l = wait_for("feed A live", feed(true));
    // The lowest phase, 229.8 V, and the highest current, 13.1 A.
    assert!(
        strip_ts(&l).starts_with(
            "power_feed,site=hn-dc1,host=mon1,device=meter-a,feed=A live=true,voltage_v=229.8,current_a=13.1,"
        ),
        "{l}"
    );

    std::fs::write(&dead, "").expect("kill feed A");
    wait_for("feed A dead", feed(false));
    std::fs::remove_file(&dead).expect("restore feed A");
    wait_for("feed A live again", feed(true));

    // Exception 06: the device answers (it is up), the exception is counted by name.
    std::fs::write(&busy, "").expect("busy");
    let l = wait_for("device busy counted", || {
        last_device(&capture, "meter-a").filter(|l| l.contains(",errors_exception_device_busy_total="))
    });
    assert!(l.contains(" up=true,"), "{l}");
    std::fs::remove_file(&busy).expect("not busy");

    // Silence: down (the poll waits 300 ms), then back.
    std::fs::write(&silent, "").expect("silent");
    let l = wait_for("meter down", || last_device(&capture, "meter-a").filter(|l| l.contains(" up=false,")));
    assert!(!l.contains(",errors_timeout_total=0i,"), "{l}");
    std::fs::remove_file(&silent).expect("talk again");
    wait_for("meter up again", || last_device(&capture, "meter-a").filter(|l| l.contains(" up=true,")));

    // The server goes away mid-run and comes back on its port.
    drop(meter_server);
    wait_for("meter down with the server gone", || {
        last_device(&capture, "meter-a").filter(|l| l.contains(" up=false,"))
    });
    let _back = ModbusServer::start_on(json!([m]), port);
    wait_for("meter up after the server came back", || {
        last_device(&capture, "meter-a").filter(|l| l.contains(" up=true,"))
    });

    // The ATS on its own connection never noticed.
    assert!(
        !captured_lines(&capture)
            .iter()
            .any(|l| l.starts_with("device,site=hn-dc1,host=mon1,device=ats,") && l.contains(" up=false,"))
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn rtu_over_a_pty_reads_two_units_on_one_bus() {
    let dir = TempDir::new().expect("tempdir");
    let (_socat, a, b) = pty_pair(dir.path());
    let mut m = meter();
    m["id"] = json!(7);
    let mut c = ats();
    c["id"] = json!(9);
    let _server = ModbusServer::start_serial(json!([m, c]), &b);
    let capture = Capture::start();
    let _agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: modbus\n    interval_secs: 1\n    devices:\n      \
             - {{name: meter, transport: rtu, port: {0}, baud_rate: 9600, unit: 7, profile: meter-3phase}}\n      \
             - {{name: ats, transport: rtu, port: {0}, baud_rate: 9600, unit: 9, profile: ats-contacts}}\n",
            a.display()
        ),
    ));
    wait_for("both units read over RTU", || {
        let l = captured_lines(&capture);
        let meter = l.iter().any(|x| {
            strip_ts(x)
                == "power_feed,site=hn-dc1,host=mon1,device=meter power_w=8400,frequency_hz=50.02,energy_kwh=1000"
        });
        let ats = l.iter().any(|x| {
            strip_ts(x)
                == "ats,site=hn-dc1,host=mon1,device=ats source_a_ok=true,source_b_ok=true,on_source_b=false,active_source=\"A\""
        });
        (meter && ats).then_some(())
    });
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn the_demo_site_simulator_loses_feed_a_and_the_generator_takes_over() {
    let dir = TempDir::new().expect("tempdir");
    let scenario = dir.path().join("outage.txt");
    std::fs::write(&scenario, "1 feed_a off\n2 generator start\n").expect("write scenario");
    let port = free_port();
    let _sim = Proc::spawn(
        "dcwatch-sim",
        Command::new(bin("dcwatch-sim"))
            .args(["modbus-site", "--listen", &format!("127.0.0.1:{port}"), "--scenario"])
            .arg(&scenario),
        dir.path(),
    );
    wait_for("the simulator", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    let capture = Capture::start();
    let dev = |n: &str, u: u8, p: &str, extra: &str| {
        format!("      - {{name: {n}, address: 127.0.0.1:{port}, unit: {u}, profile: {p}{extra}}}\n")
    };
    let _agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: modbus\n    interval_secs: 1\n    devices:\n{}{}{}{}",
            dev("meter-a", 2, "sdm630", ", feed: A"),
            dev("gen", 4, "dse-gencomm", ""),
            dev("ats", 5, "ats-contacts", ""),
            dev("ups", 1, "apc-smartups", "")
        ),
    ));
    let seen = |prefix: &str, needle: &str| {
        let (capture, prefix, needle) = (&capture, prefix.to_string(), needle.to_string());
        move || captured_lines(capture).into_iter().find(|l| l.starts_with(&prefix) && l.contains(&needle))
    };
    wait_for("feed A live at first", seen("power_feed,site=hn-dc1,host=mon1,device=meter-a,feed=A ", " live=true,"));
    wait_for("feed A dead", seen("power_feed,site=hn-dc1,host=mon1,device=meter-a,feed=A ", " live=false,"));
    wait_for("the UPS on battery", seen("ups,site=hn-dc1,host=mon1,device=ups ", "status=\"on_battery\""));
    wait_for("the generator running", seen("generator,site=hn-dc1,host=mon1,device=gen ", "state=\"running\""));
    wait_for("the ATS on the generator", seen("ats,site=hn-dc1,host=mon1,device=ats ", "active_source=\"B\""));
    // Online again, fed by the generator through the ATS, after having been on battery.
    let lines = captured_lines(&capture);
    let on_batt =
        lines.iter().position(|l| l.starts_with("ups,") && l.contains("status=\"on_battery\"")).expect("on battery");
    wait_for("the UPS online again", || {
        captured_lines(&capture)[on_batt..]
            .iter()
            .any(|l| l.starts_with("ups,") && l.contains("status=\"online\""))
            .then_some(())
    });
}
