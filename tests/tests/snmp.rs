//! The SNMP source against real peers: snmpsim serving recordings of real
//! devices, Net-SNMP's snmpd (SNMPv3 authPriv) and snmptrap (v1, v2c, v3).

use std::process::Command;

use dcwatch_tests::*;

/// `dcwatch-agent probe snmp …`: (exit code, stdout, stderr).
fn probe(args: &[&str]) -> (i32, String, String) {
    probe_env(args, &[])
}

fn probe_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin("dcwatch-agent"))
        .args(["probe", "snmp"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run probe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn probe_lines(port: u16, community: &str) -> Vec<String> {
    let addr = format!("127.0.0.1:{port}");
    let (code, out, err) = probe(&[&addr, "--community", community, "--name", "d", "--format", "lp"]);
    assert_eq!(code, 0, "probe of {community} failed: {err}");
    out.lines().map(|l| strip_ts(l).to_string()).collect()
}

const RECORDINGS: [&str; 6] =
    ["eaton-mgeups_9px", "huaweiups_ups2000", "apc_smx750", "netagent2", "apc_ats", "apc_ap8853"];

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn every_recording_served_by_snmpsim_reads_as_computed_by_hand() {
    let records: Vec<(&str, String)> = RECORDINGS.iter().map(|n| (*n, Snmpsim::recording(n))).collect();
    let sim = Snmpsim::start(&records);

    // Eaton 9PX, no vendor profile for MGE's sysObjectID: RFC 1628 UPS-MIB.
    // upsOutputSource 3 = normal → online; upsBatteryStatus 2 = normal; 100 %;
    // 24 min × 60 = 1440 s; 520 × 0.1 V = 52 V; input 501 × 0.1 Hz = 50.1 Hz
    // at 237 V; output 502 × 0.1 = 50.2 Hz, 230 V, 16 × 0.1 A = 1.6 A, 310 W, 35 %.
    assert_eq!(
        probe_lines(sim.port, "eaton-mgeups_9px"),
        vec![
            "ups,site=probe,device=d status=\"online\",on_battery=false,low_battery=false,battery_charge_pct=100,\
             runtime_remaining_s=1440,seconds_on_battery=0,battery_voltage_v=52,battery_temperature_c=0,\
             input_frequency_hz=50.1,input_voltage_v=237,output_frequency_hz=50.2,output_voltage_v=230,\
             output_current_a=1.6,output_power_w=310,load_pct=35",
            "ups_phase,site=probe,device=d,phase=1,direction=input voltage_v=237,current_a=0,power_w=0",
            "ups_phase,site=probe,device=d,phase=1,direction=output voltage_v=230,current_a=1.6,power_w=310,load_pct=35",
        ]
    );

    // Huawei UPS2000: runtime 4294967295 means "unknown" and is left out (no
    // runtime_remaining_s at all); 2707 × 0.1 V = 270.7 V; upsOutputPower "1"
    // is in kW (7.2 A at 230 V): 1000 W.
    assert_eq!(
        probe_lines(sim.port, "huaweiups_ups2000"),
        vec![
            "ups,site=probe,device=d status=\"online\",on_battery=false,low_battery=false,battery_charge_pct=100,\
             seconds_on_battery=0,battery_voltage_v=270.7,battery_temperature_c=21,input_frequency_hz=50,\
             input_voltage_v=233,output_frequency_hz=50,output_voltage_v=230,output_current_a=7.2,\
             output_power_w=1000,load_pct=27",
            "ups_phase,site=probe,device=d,phase=1,direction=input voltage_v=233",
            "ups_phase,site=probe,device=d,phase=1,direction=output voltage_v=230,current_a=7.2,power_w=1000,load_pct=27",
        ]
    );

    // APC SMX750 (PowerNet): high-precision tenths — 1000 → 100 %, 545 →
    // 54.5 V, 209 → 20.9 °C, 2460 → 246 V, 499 → 49.9 Hz, 2461 → 246.1 V,
    // 762 → 76.2 %; runtime 1637400 ticks × 0.01 s = 16374 s; 22 × 0.1 A = 2.2 A.
    assert_eq!(
        probe_lines(sim.port, "apc_smx750"),
        vec![
            "ups,site=probe,device=d status=\"online\",on_battery=false,replace_battery=false,battery_charge_pct=100,\
             runtime_remaining_s=16374,battery_voltage_v=54.5,battery_temperature_c=20.9,\
             input_voltage_v=246,input_frequency_hz=49.9,output_voltage_v=246.1,\
             output_frequency_hz=49.9,load_pct=76.2,output_current_a=2.2,output_power_w=333",
        ]
    );

    // NetAgent (three-phase): status 9 = onBuck → trim; phases in tenths of a volt.
    let na = probe_lines(sim.port, "netagent2");
    assert_eq!(
        na[0],
        "ups,site=probe,device=d status=\"trim\",on_battery=false,low_battery=false,battery_charge_pct=100,\
         battery_temperature_c=25,input_voltage_v=254.5,input_frequency_hz=50,output_voltage_v=228.5,\
         output_frequency_hz=50,load_pct=44"
    );
    assert_eq!(
        na[1..].to_vec(),
        [
            ("input", "1", "236"),
            ("input", "2", "236.7"),
            ("input", "3", "237.9"),
            ("output", "1", "231.2"),
            ("output", "2", "231.3"),
            ("output", "3", "231.2"),
            ("bypass", "1", "234.6"),
            ("bypass", "2", "236.2"),
            ("bypass", "3", "236.4"),
        ]
        .iter()
        .map(|(dir, ph, v)| format!("ups_phase,site=probe,device=d,direction={dir},phase={ph} voltage_v={v}"))
        .collect::<Vec<_>>()
    );

    // APC ATS: atsStatusSelectedSource 1 = A; both sources ok (2); fully
    // redundant (2); switch ok; phases in sync.
    assert_eq!(
        probe_lines(sim.port, "apc_ats"),
        vec![
            "ats,site=probe,device=d active_source=\"A\",source_a_ok=true,source_b_ok=true,redundant=true,\
             switch_ok=true,phase_in_sync=true"
        ]
    );

    // APC AP8853 rack PDU (rPDU2): power in hundredths of kW (114 → 1140 W,
    // peak 143 → 1430 W), apparent power in hundredths of kVA (119 → 1190 VA),
    // power factor in hundredths (96 → 0.96), energy in tenths of kWh (35128
    // → 3512.8 kWh); the phase: 49 tenths of A = 4.9 A at 242 V, peak 60 → 6 A.
    assert_eq!(
        probe_lines(sim.port, "apc_ap8853"),
        vec![
            "pdu,site=probe,device=d,unit=1,scope=device load_state=\"normal\",power_w=1140,peak_power_w=1430,\
             power_va=1190,power_factor=0.96,energy_kwh=3512.8,power_supply_alarm=false",
            "pdu,site=probe,device=d,phase=1,scope=phase load_state=\"normal\",current_a=4.9,voltage_v=242,\
             power_w=1140,power_va=1190,power_factor=0.96,peak_current_a=6",
        ]
    );

    // For people: a table naming the detected profile.
    let (code, out, _) = probe(&[&format!("127.0.0.1:{}", sim.port), "--community", "huaweiups_ups2000"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!(
            "127.0.0.1:{} (2c): profile huawei-ups2000 (detected from sysObjectID 1.3.6.1.4.1.2011.6.174.4.1.2.4)",
            sim.port
        )),
        "{out}"
    );
    assert!(out.contains("\nups                                 status                 online\n"), "{out}");
    assert!(out.contains("1 value(s) the device reports as unknown were left out."), "{out}");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_implausible_value_is_flagged_with_its_oid_and_a_silent_device_is_a_clear_error() {
    // A UPS-MIB card that reports input voltage without its scale: 2360 V.
    let rec = "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.99999.1\n\
               1.3.6.1.2.1.33.1.2.4.0|2|87\n\
               1.3.6.1.2.1.33.1.3.3.1.3.1|2|2360\n\
               1.3.6.1.2.1.33.1.4.1.0|2|3\n"
        .to_string();
    let sim = Snmpsim::start(&[("badscale", rec)]);
    let addr = format!("127.0.0.1:{}", sim.port);
    let (code, out, err) = probe(&[&addr, "--community", "badscale"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "implausible: input_voltage_v = 2360 from OID 1.3.6.1.2.1.33.1.3.3.1.3.1 (plausible 0..500): left out; check the profile's scale"
        ),
        "{out}"
    );
    let (_, lp, _) = probe(&[&addr, "--community", "badscale", "--format", "lp", "--name", "u"]);
    assert_eq!(
        lp.lines().map(strip_ts).collect::<Vec<_>>(),
        // 2360 V is left out of both the `ups` point and the input phase's
        // (which then has no field and is not written at all).
        vec!["ups,site=probe,device=u status=\"online\",on_battery=false,battery_charge_pct=87"]
    );

    // The running agent counts it on the `device` point and logs device, field and OID once.
    let capture = Capture::start();
    let agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: snmp\n    devices:\n      - name: u\n        address: {addr}\n        community: badscale\n"
        ),
    ));
    let dev = wait_for("the device point", || {
        captured_lines(&capture).into_iter().find(|l| l.starts_with("device,site=hn-dc1,host=mon1,device=u,"))
    });
    // Twice per poll: the `ups` input voltage and the input phase's voltage.
    assert!(dev.contains(",implausible_total=2i,"), "{dev}");
    let log = agent.proc.output();
    assert!(
        log.contains("implausible value left out (check the profile's scale) device=u field=input_voltage_v oid=1.3.6.1.2.1.33.1.3.3.1.3.1 value=2360.0"),
        "{log}"
    );

    // Wrong community: snmpsim stays silent, as a real agent does.
    let (code, _, err) = probe(&[&addr, "--community", "nope", "--timeout-ms", "300", "--retries", "0"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!(
            "dcwatch-agent probe: {addr} does not answer SNMP 2c (wrong address, community or credentials, a firewall, or SNMP is off on the device)"
        )
    );

    // A device no profile fits, when asked for one that does not exist.
    let (code, _, err) = probe(&[&addr, "--community", "badscale", "--profile", "no-such"]);
    assert_eq!(code, 2);
    assert!(err.contains("profile: `no-such` is not a profile; known: "), "{err}");
}

const V3_CONF: &str = "createUser dcwatch SHA dcwatch-auth-1 AES dcwatch-priv-1\n\
                       rouser dcwatch priv\n\
                       override 1.3.6.1.2.1.33.1.4.1.0 integer 5\n\
                       override 1.3.6.1.2.1.33.1.2.4.0 integer 64\n\
                       override 1.3.6.1.2.1.33.1.2.3.0 integer 12\n";

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn snmpv3_auth_priv_reads_net_snmp_and_a_wrong_password_is_an_authentication_error() {
    let v3 = [
        "-v3",
        "-u",
        "dcwatch",
        "-l",
        "authPriv",
        "-a",
        "SHA",
        "-A",
        "dcwatch-auth-1",
        "-x",
        "AES",
        "-X",
        "dcwatch-priv-1",
    ];
    let snmpd = Snmpd::start(V3_CONF, &v3);
    let addr = format!("127.0.0.1:{}", snmpd.port);
    let creds = |auth: &'static str| {
        vec![
            addr.clone(),
            "--snmp-version".into(),
            "3".into(),
            "--user".into(),
            "dcwatch".into(),
            "--auth-protocol".into(),
            "sha".into(),
            "--auth-password".into(),
            auth.into(),
            "--priv-protocol".into(),
            "aes".into(),
            "--priv-password".into(),
            "dcwatch-priv-1".into(),
            "--profile".into(),
            "ups-mib".into(),
            "--name".into(),
            "v3ups".into(),
            "--format".into(),
            "lp".into(),
        ]
    };
    let args = creds("dcwatch-auth-1");
    let (code, out, err) = probe(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    // upsOutputSource 5 = battery; 64 %; 12 min = 720 s (set by `override`).
    assert_eq!(
        out.lines().map(strip_ts).collect::<Vec<_>>(),
        vec![
            "ups,site=probe,device=v3ups status=\"on_battery\",on_battery=true,battery_charge_pct=64,runtime_remaining_s=720"
        ]
    );

    // The same with no password on the command line (where `ps` shows it):
    // the auth password from a file, the priv password from the environment.
    let dir = TempDir::new().expect("tempdir");
    let auth_file = dir.path().join("auth");
    std::fs::write(&auth_file, "dcwatch-auth-1\n").expect("write the password file");
    let mut args = creds("unused");
    let at = args.iter().position(|a| a == "--auth-password").expect("flag");
    args.splice(at..at + 2, ["--auth-password-file".to_string(), auth_file.display().to_string()]);
    let at = args.iter().position(|a| a == "--priv-password").expect("flag");
    args.drain(at..at + 2);
    let (code, from_file, err) = probe_env(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("DCWATCH_SNMP_PRIV_PASSWORD", "dcwatch-priv-1")],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(from_file.lines().map(strip_ts).collect::<Vec<_>>(), out.lines().map(strip_ts).collect::<Vec<_>>());

    let args = creds("wrong-password-1");
    let (code, out, err) = probe(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // The running agent: the device is down, for an authentication error, and the agent runs on.
    let capture = Capture::start();
    let mut agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: snmp\n    interval_secs: 1\n    timeout_ms: 300\n    retries: 0\n    devices:\n      - name: v3ups\n        \
             address: {addr}\n        version: \"3\"\n        user: dcwatch\n        auth_protocol: sha\n        \
             auth_password: wrong-password-1\n        priv_protocol: aes\n        priv_password: dcwatch-priv-1\n"
        ),
    ));
    let down = wait_for("two failed polls", || {
        captured_lines(&capture).into_iter().find(|l| l.starts_with("device,") && l.contains(",errors_auth_total=2i,"))
    });
    assert!(down.starts_with("device,site=hn-dc1,host=mon1,device=v3ups,kind=snmp,protocol=snmp up=false,"), "{down}");
    assert!(agent.proc.exited().is_none(), "the agent died");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("dcwatch-agent probe: authentication failed: "), "{err}");
    // Net-SNMP answers a wrong digest with silence; the engine discovery it
    // did answer tells that apart from a dead device.
    assert_eq!(
        err.trim(),
        "dcwatch-agent probe: authentication failed: the device answers SNMPv3 engine discovery but none of our \
         authenticated requests: check the user, the auth/priv protocols and the passwords"
    );
}

fn agent_yaml(capture: &Capture, body: &str) -> String {
    format!(
        "agent:\n  site: hn-dc1\n  host: mon1\n  interval_secs: 60\noutput:\n  url: {}\n  flush_interval_ms: 200\nsources:\n{body}",
        capture.url()
    )
}

/// The integer fields of a line (`name=5i`).
fn fields(line: &str) -> std::collections::HashMap<String, u64> {
    let parsed = influxdb_line_protocol::parse_lines(line).next().expect("a line").expect("valid line protocol");
    parsed
        .field_set
        .iter()
        .filter_map(|(k, v)| match v {
            influxdb_line_protocol::FieldValue::I64(i) => Some((k.to_string(), *i as u64)),
            influxdb_line_protocol::FieldValue::U64(u) => Some((k.to_string(), *u)),
            _ => None,
        })
        .collect()
}

fn snmptrap(args: &[&str]) {
    let st = Command::new(system_program("snmptrap")).args(args).env("MIBS", "").status().expect("run snmptrap");
    assert!(st.success(), "snmptrap {args:?} failed");
}

fn count(lines: &[String], prefix: &str) -> usize {
    lines.iter().filter(|l| l.starts_with(prefix)).count()
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn traps_from_snmptrap_write_events_at_once_and_repoll_while_bad_ones_are_counted() {
    let sim = Snmpsim::start(&[("eaton-mgeups_9px", Snmpsim::recording("eaton-mgeups_9px"))]);
    let capture = Capture::start();
    let trap_port = free_udp_port();
    let agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: snmp\n    interval_secs: 1\n    devices:\n      - name: ups-a1\n        address: 127.0.0.1:{}\n        \
             community: eaton-mgeups_9px\n        interval_secs: 3600\n    traps:\n      listen: 127.0.0.1:{trap_port}\n      \
             communities: [dc-traps]\n{V3_TRAP_USER}",
            sim.port
        ),
    ));
    let target = format!("127.0.0.1:{trap_port}");
    // The first (and, with a one-hour interval, only scheduled) poll.
    wait_for("the first poll", || {
        (count(&captured_lines(&capture), "device,site=hn-dc1,host=mon1,device=ups-a1") == 1).then_some(())
    });
    wait_for("the trap receiver", || agent.proc.output().contains("listening for SNMP traps").then_some(()));

    // v2c upsTrapOnBattery: an event point and the fields it implies, then a poll at once.
    snmptrap(&["-v", "2c", "-c", "dc-traps", &target, "", "1.3.6.1.2.1.33.2.1"]);
    let lines = wait_for("the on-battery trap's points", || {
        let l = captured_lines(&capture);
        (count(&l, "snmp_trap,") == 1 && count(&l, "device,site=hn-dc1,host=mon1,device=ups-a1") == 2).then_some(l)
    });
    let stripped: Vec<&str> = lines.iter().map(|l| strip_ts(l)).collect();
    assert!(
        stripped.contains(
            &"snmp_trap,site=hn-dc1,host=mon1,device=ups-a1,event=on_battery trap_oid=\"1.3.6.1.2.1.33.2.1\",version=\"2c\",source=\"127.0.0.1\""
        ),
        "{stripped:#?}"
    );
    assert!(
        stripped.contains(&"ups,site=hn-dc1,host=mon1,device=ups-a1 on_battery=true,status=\"on_battery\""),
        "{stripped:#?}"
    );

    // v1 PowerNet powerRestored (enterprise apc, specific 9) and a v3 authPriv trap.
    snmptrap(&["-v", "1", "-c", "dc-traps", &target, "1.3.6.1.4.1.318", "127.0.0.1", "6", "9", ""]);
    v3_trap(&target, "trap-auth-1", "1.3.6.1.2.1.33.2.3");
    let lines = wait_for("the v1 and v3 traps", || {
        let l = captured_lines(&capture);
        (count(&l, "snmp_trap,") == 3).then_some(l)
    });
    let stripped: Vec<&str> = lines.iter().map(|l| strip_ts(l)).collect();
    assert!(
        stripped.contains(
            &"snmp_trap,site=hn-dc1,host=mon1,device=ups-a1,event=power_restored trap_oid=\"1.3.6.1.4.1.318.0.9\",version=\"1\",source=\"127.0.0.1\""
        ),
        "{stripped:#?}"
    );
    assert!(
        stripped.contains(&"ups,site=hn-dc1,host=mon1,device=ups-a1 on_battery=false,status=\"online\""),
        "{stripped:#?}"
    );
    assert!(
        stripped.contains(
            &"snmp_trap,site=hn-dc1,host=mon1,device=ups-a1,event=alarm_added trap_oid=\"1.3.6.1.2.1.33.2.3\",version=\"3\",source=\"127.0.0.1\""
        ),
        "{stripped:#?}"
    );

    // What must be dropped and counted: a wrong community, an address that is
    // no device, a wrong v3 password, garbage, a truncated trap, and a GET.
    snmptrap(&["-v", "2c", "-c", "wrong", &target, "", "1.3.6.1.2.1.33.2.1"]);
    snmptrap(&["--clientaddr=127.0.0.2", "-v", "2c", "-c", "dc-traps", &target, "", "1.3.6.1.2.1.33.2.1"]);
    v3_trap(&target, "not-the-password", "1.3.6.1.2.1.33.2.1");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.send_to(b"\xff\x00garbage that is not BER", &target).expect("send garbage");
    // The first 20 bytes of a v2c trap: a SEQUENCE that claims more than it has.
    sock.send_to(
        &[
            0x30, 0x3a, 0x02, 0x01, 0x01, 0x04, 0x08, b'd', b'c', b'-', b't', b'r', b'a', b'p', b's', 0xa7, 0x2b, 0x02,
            0x04, 0x01,
        ],
        &target,
    )
    .expect("send truncated");
    let _ = snmpget(trap_port, &["-v2c", "-c", "dc-traps"], "1.3.6.1.2.1.1.1.0");
    let counters = wait_for("the receiver's counts", || {
        captured_lines(&capture)
            .into_iter()
            .rev()
            .find(|l| l.starts_with("snmp_trap_receiver,") && l.contains("received_total=9i,"))
    });
    let host = "mon1";
    let (counts, relays) = strip_ts(&counters).split_once(",v3_senders=").expect("the relay counts");
    assert_eq!(
        counts,
        format!(
            "snmp_trap_receiver,site=hn-dc1,host={host} received_total=9i,accepted_total=3i,dropped_unknown_source_total=1i,\
             dropped_bad_community_total=1i,dropped_bad_credentials_total=1i,dropped_malformed_total=2i,ignored_not_a_trap_total=1i"
        )
    );
    // Two v3 senders: the good one is held; the one with the wrong password
    // is held until its 5 s of grace are up, then expired.
    let f = fields(&counters);
    assert_eq!((f["v3_senders"] + f["v3_senders_expired_total"], f["v3_senders_evicted_total"]), (2, 0), "{relays}");
    // None of it became an event; the agent runs on.
    assert_eq!(count(&captured_lines(&capture), "snmp_trap,"), 3);
    let mut agent = agent;
    assert!(agent.proc.exited().is_none(), "the agent died");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_device_that_stops_answering_is_down_within_two_intervals_and_comes_back() {
    let steady = Snmpsim::start(&[("apc_ats", Snmpsim::recording("apc_ats"))]);
    let flaky = Snmpsim::start(&[("apc_smx750", Snmpsim::recording("apc_smx750"))]);
    let flaky_port = flaky.port;
    let capture = Capture::start();
    let _agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: snmp\n    interval_secs: 1\n    timeout_ms: 300\n    retries: 0\n    devices:\n      - name: ats\n        \
             address: 127.0.0.1:{}\n        community: apc_ats\n      - name: smx\n        address: 127.0.0.1:{flaky_port}\n        \
             community: apc_smx750\n",
            steady.port
        ),
    ));
    let up = |l: &String, dev: &str, v: bool| {
        l.starts_with(&format!("device,site=hn-dc1,host=mon1,device={dev},")) && l.contains(&format!(" up={v},"))
    };
    wait_for("both devices up", || {
        let l = captured_lines(&capture);
        (l.iter().any(|x| up(x, "smx", true)) && l.iter().any(|x| up(x, "ats", true))).then_some(())
    });
    let before = captured_lines(&capture).len();
    drop(flaky);
    // Down within two polls of the silence: each poll waits 300 ms at most.
    let lines = wait_for("smx marked down", || {
        let l = captured_lines(&capture);
        l[before..].iter().any(|x| up(x, "smx", false)).then_some(l)
    });
    let first_down = lines[before..].iter().position(|x| up(x, "smx", false)).expect("found") + before;
    let smx_polls_between =
        lines[before..first_down].iter().filter(|x| x.starts_with("device,site=hn-dc1,host=mon1,device=smx,")).count();
    assert!(smx_polls_between <= 1, "more than two polls before `down`: {:#?}", &lines[before..=first_down]);
    let down = &lines[first_down];
    assert!(down.contains("errors_timeout_total=1i"), "{down}");
    assert!(down.starts_with("device,site=hn-dc1,host=mon1,device=smx,kind=ups,protocol=snmp up=false,"), "{down}");

    // Back on the same port: up again, and the values flow.
    let _flaky = Snmpsim::start_on(&[("apc_smx750", Snmpsim::recording("apc_smx750"))], flaky_port);
    let mark = captured_lines(&capture).len();
    wait_for("smx up again", || captured_lines(&capture)[mark..].iter().any(|x| up(x, "smx", true)).then_some(()));
    // The other device never went down.
    assert!(!captured_lines(&capture).iter().any(|x| up(x, "ats", false)));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn the_demo_ups_simulator_goes_on_battery_with_a_trap_the_agent_acts_on() {
    let dir = TempDir::new().expect("tempdir");
    let scenario = dir.path().join("outage.txt");
    std::fs::write(&scenario, "0 online\n2 on_battery\n2 charge_rate -1\n").expect("write scenario");
    let capture = Capture::start();
    let (sim_port, trap_port) = (free_udp_port(), free_udp_port());
    let agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: snmp\n    interval_secs: 3600\n    devices:\n      - name: sim\n        address: 127.0.0.1:{sim_port}\n    \
             traps:\n      listen: 127.0.0.1:{trap_port}\n"
        ),
    ));
    wait_for("the trap receiver", || agent.proc.output().contains("listening for SNMP traps").then_some(()));
    let _sim = Proc::spawn(
        "dcwatch-sim",
        Command::new(bin("dcwatch-sim"))
            .args(["snmp-ups", "--listen", &format!("127.0.0.1:{sim_port}"), "--scenario"])
            .arg(&scenario)
            .args(["--trap-to", &format!("127.0.0.1:{trap_port}")]),
        dir.path(),
    );
    // The trap's own point, then the poll it triggers reads the UPS on battery.
    let lines = wait_for("the polled on-battery state", || {
        let l = captured_lines(&capture);
        l.iter()
            .any(|x| {
                x.starts_with(
                    "ups,site=hn-dc1,host=mon1,device=sim status=\"on_battery\",on_battery=true,low_battery=false,",
                )
            })
            .then_some(l)
    });
    assert!(
        lines
            .iter()
            .any(|x| strip_ts(x) == "ups,site=hn-dc1,host=mon1,device=sim on_battery=true,status=\"on_battery\""),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|x| x.starts_with("snmp_trap,site=hn-dc1,host=mon1,device=sim,event=on_battery ")),
        "{lines:#?}"
    );
}

/// The v3 trap of the attack: noAuthNoPriv from an unknown user, as
/// Net-SNMP's snmptrap sends it (caught on a socket of the test).
fn forged_v3_trap() -> Vec<u8> {
    let catch = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let at = catch.local_addr().expect("addr").to_string();
    snmptrap(&[
        "-v",
        "3",
        "-e",
        "0x8000000001020305",
        "-u",
        "attacker",
        "-l",
        "noAuthNoPriv",
        &at,
        "",
        "1.3.6.1.2.1.33.2.1",
    ]);
    let mut buf = [0u8; 2048];
    let (n, _) = catch.recv_from(&mut buf).expect("the forged trap");
    buf[..n].to_vec()
}

/// An SNMPv3 authPriv trap of user `trapper` (the password decides whether it authenticates).
fn v3_trap(target: &str, auth_password: &str, trap_oid: &str) {
    snmptrap(&[
        "-v",
        "3",
        "-e",
        "0x8000000001020304",
        "-u",
        "trapper",
        "-l",
        "authPriv",
        "-a",
        "SHA",
        "-A",
        auth_password,
        "-x",
        "AES",
        "-X",
        "trap-priv-1",
        target,
        "",
        trap_oid,
    ]);
}

const V3_TRAP_USER: &str = "      users:\n        - user: trapper\n          auth_protocol: sha\n          \
                            auth_password: trap-auth-1\n          priv_protocol: aes\n          priv_password: trap-priv-1\n";

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_flood_of_unauthenticated_v3_traps_from_many_senders_holds_few_sockets_and_a_real_trap_still_arrives() {
    const SENDERS: usize = 1100;
    const CAP: usize = 32;
    let forged = forged_v3_trap();
    let capture = Capture::start();
    let trap_port = free_udp_port();
    let mut agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: snmp\n    traps:\n      listen: 127.0.0.1:{trap_port}\n      accept_unknown_sources: true\n      \
             max_v3_senders: {CAP}\n{V3_TRAP_USER}"
        ),
    ));
    let target = format!("127.0.0.1:{trap_port}");
    wait_for("the trap receiver", || agent.proc.output().contains("listening for SNMP traps").then_some(()));
    wait_for("the first counts", || {
        captured_lines(&capture).iter().any(|l| l.starts_with("snmp_trap_receiver,")).then_some(())
    });
    let pid = agent.proc.pid();
    let before = open_fds(pid);

    // The attack: each datagram from a socket of its own, on four addresses.
    // In batches the agent has read before the next is sent, so the kernel
    // drops none and every one is counted.
    let mut most = before;
    // The kernel may give a closed sender's port to a later one: the agent
    // then sees one sender where the test made two.
    let mut distinct = std::collections::HashSet::new();
    for batch in 0..SENDERS / 20 {
        for i in 0..20 {
            let ip = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"][(batch * 20 + i) % 4];
            let s = std::net::UdpSocket::bind((ip, 0)).expect("bind a sender");
            distinct.insert(s.local_addr().expect("sender address"));
            s.send_to(&forged, &target).expect("send the forged trap");
        }
        let start = std::time::Instant::now();
        while udp_rx_queue(trap_port) != Some(0) {
            assert!(start.elapsed() < PATIENCE, "the agent stopped reading its trap socket");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        most = most.max(open_fds(pid));
    }

    // A real, authenticated trap is still received, and written out.
    v3_trap(&target, "trap-auth-1", "1.3.6.1.2.1.33.2.3");
    wait_for("the real trap's point", || {
        captured_lines(&capture)
            .iter()
            .any(|l| strip_ts(l) == "snmp_trap,site=hn-dc1,host=mon1,device=127.0.0.1,event=alarm_added trap_oid=\"1.3.6.1.2.1.33.2.3\",version=\"3\",source=\"127.0.0.1\"")
            .then_some(())
    });
    let after = open_fds(pid);
    // One socket per held sender at most, and a few the agent opens anyway
    // (its HTTP connection, a queue segment).
    assert!(
        most <= before + CAP + 8 && after <= before + CAP + 8,
        "open fds: {before} before the flood, up to {most} during it, {after} after"
    );

    // Once the forged senders' grace is over only the real one is held; the
    // others were all evicted (cap) or expired (grace), each counted.
    let counts = wait_for("the counts with only the real sender held", || {
        captured_lines(&capture).into_iter().rev().find(|l| {
            l.starts_with("snmp_trap_receiver,") && l.contains(",accepted_total=1i,") && l.contains(",v3_senders=1i,")
        })
    });
    let f = fields(&counts);
    assert_eq!(f["received_total"], SENDERS as u64 + 1, "{counts}");
    // Each forged trap reached USM, which refused it (unknown user).
    assert_eq!(f["dropped_bad_credentials_total"], SENDERS as u64, "{counts}");
    // Each sender the agent saw went; one whose port came back after it went
    // is a new sender, so the count lies between the two.
    let gone = f["v3_senders_evicted_total"] + f["v3_senders_expired_total"];
    assert!((distinct.len() as u64..=SENDERS as u64).contains(&gone), "{} distinct: {counts}", distinct.len());
    assert!(!agent.proc.output().contains("cannot persist the spool cursor"), "{}", agent.proc.output());
    assert!(agent.proc.exited().is_none(), "the agent died");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_v1_agent_addr_names_another_device_only_in_a_trap_from_a_trusted_forwarder() {
    let capture = Capture::start();
    let (trap_port, dead_port) = (free_udp_port(), free_udp_port());
    let agent = Agent::start(&agent_yaml(
        &capture,
        &format!(
            "  - type: snmp\n    interval_secs: 3600\n    timeout_ms: 200\n    retries: 0\n    devices:\n      - name: ups-far\n        \
             address: 127.0.0.5:{dead_port}\n    traps:\n      listen: 127.0.0.1:{trap_port}\n      communities: [dc-traps]\n      \
             trusted_forwarders: [127.0.0.3]\n"
        ),
    ));
    let target = format!("127.0.0.1:{trap_port}");
    wait_for("the trap receiver", || agent.proc.output().contains("listening for SNMP traps").then_some(()));
    // APC upsOnBattery, claiming to be about ups-far: from an address that is
    // no device and no forwarder, then from the forwarder.
    for from in ["127.0.0.2", "127.0.0.3"] {
        snmptrap(&[
            &format!("--clientaddr={from}"),
            "-v",
            "1",
            "-c",
            "dc-traps",
            &target,
            "1.3.6.1.4.1.318",
            "127.0.0.5",
            "6",
            "5",
            "",
        ]);
    }
    let counts = wait_for("both traps counted", || {
        captured_lines(&capture)
            .into_iter()
            .rev()
            .find(|l| l.starts_with("snmp_trap_receiver,") && l.contains("received_total=2i,"))
    });
    let f = fields(&counts);
    assert_eq!((f["accepted_total"], f["dropped_unknown_source_total"]), (1, 1), "{counts}");
    let traps: Vec<String> = captured_lines(&capture)
        .iter()
        .filter(|l| l.starts_with("snmp_trap,") || l.starts_with("ups,"))
        .map(|l| strip_ts(l).to_string())
        .collect();
    assert_eq!(
        traps,
        vec![
            "snmp_trap,site=hn-dc1,host=mon1,device=ups-far,event=on_battery trap_oid=\"1.3.6.1.4.1.318.0.5\",version=\"1\",source=\"127.0.0.3\"",
            "ups,site=hn-dc1,host=mon1,device=ups-far on_battery=true,status=\"on_battery\"",
        ]
    );
    assert!(
        agent.proc.output().contains("dropped a trap from an address that is no configured device from=127.0.0.2"),
        "{}",
        agent.proc.output()
    );
}

/// A UDP relay in front of an SNMP agent that sends each reply back from
/// `reply_from` (its own listening socket, or another address).
struct Relay {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(agent_port: u16, spoof_from: Option<&str>) -> Relay {
        use std::net::UdpSocket;
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind front");
        let port = front.local_addr().expect("addr").port();
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind back");
        let reply = match spoof_from {
            Some(ip) => UdpSocket::bind((ip, 0)).expect("bind spoof"),
            None => front.try_clone().expect("clone front"),
        };
        for s in [&front, &back] {
            s.set_read_timeout(Some(std::time::Duration::from_millis(100))).expect("timeout");
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 65_536];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, client)) = front.recv_from(&mut buf) else { continue };
                back.send_to(&buf[..n], ("127.0.0.1", agent_port)).expect("forward");
                if let Ok((n, _)) = back.recv_from(&mut buf) {
                    let _ = reply.send_to(&buf[..n], client);
                }
            }
        });
        Relay { port, stop, thread: Some(thread) }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_reply_from_another_address_than_the_device_is_ignored_and_the_poll_fails_saying_so() {
    let sim = Snmpsim::start(&[("apc_ats", Snmpsim::recording("apc_ats"))]);
    let args = |port: u16| {
        vec![
            format!("127.0.0.1:{port}"),
            "--community".into(),
            "apc_ats".into(),
            "--timeout-ms".into(),
            "500".into(),
            "--retries".into(),
            "0".into(),
            "--format".into(),
            "lp".into(),
            "--name".into(),
            "d".into(),
        ]
    };
    // The relay itself works: replies from the polled address are read.
    let honest = Relay::start(sim.port, None);
    let a = args(honest.port);
    let (code, out, err) = probe(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out.lines().map(strip_ts).collect::<Vec<_>>(),
        vec![
            "ats,site=probe,device=d active_source=\"A\",source_a_ok=true,source_b_ok=true,redundant=true,\
             switch_ok=true,phase_in_sync=true"
        ]
    );
    drop(honest);

    // The same replies from 127.0.0.2: ignored, and the probe says why.
    let spoofing = Relay::start(sim.port, Some("127.0.0.2"));
    let a = args(spoofing.port);
    let (code, out, err) = probe(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let at = format!("127.0.0.1:{}", spoofing.port);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "dcwatch-agent probe: no reply from {at}; 1 datagram(s) that did not come from {at} (or did not match \
             the request) were ignored: replies are taken only from the address polled, so poll the device at the \
             address it answers from"
        )
    );
}
