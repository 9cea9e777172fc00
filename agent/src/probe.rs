//! `dcwatch-agent probe snmp …` and `dcwatch-agent profiles`: what a
//! technician runs when adding a device.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dcwatch_common::lp::{OwnedValue, Point};

use crate::config::{ModbusDevice, ModbusTransport, SnmpConfig, SnmpDevice};
use crate::sources::modbus::conn::{Conn, Parity};
use crate::sources::modbus::decode::{DataType, Order, Raw, decode};
use crate::sources::modbus::plan::Read;
use crate::sources::modbus::profile::Function;
use crate::sources::modbus::{self};
use crate::sources::snmp::{self, client::PollError};
use crate::{ProbeModbus, ProbeSnmp};

fn config(profiles_dir: Option<PathBuf>, timeout_ms: u64, retries: u32) -> SnmpConfig {
    SnmpConfig {
        interval_secs: 10,
        timeout_ms,
        retries,
        max_repetitions: 25,
        profiles_dir,
        devices: Vec::new(),
        traps: None,
    }
}

/// A secret given as `--NAME`, `--NAME-file` (its first line) or the
/// environment variable `var`, in that order; giving both flags is an error.
fn secret(name: &str, flag: Option<&String>, file: Option<&Path>, var: &str) -> Result<Option<String>, String> {
    match (flag, file) {
        (Some(_), Some(_)) => Err(format!("give --{name} or --{name}-file, not both")),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("--{name}-file {}: cannot read it: {e}", f.display()))?;
            match text.lines().next().filter(|l| !l.is_empty()) {
                Some(l) => Ok(Some(l.to_string())),
                None => Err(format!("--{name}-file {}: the first line is empty", f.display())),
            }
        }
        (None, None) => Ok(std::env::var(var).ok().filter(|v| !v.is_empty())),
    }
}

/// The probe's secrets: (community, auth password, priv password).
fn snmp_secrets(a: &ProbeSnmp) -> Result<(String, Option<String>, Option<String>), String> {
    let community = secret("community", a.community.as_ref(), a.community_file.as_deref(), "DCWATCH_SNMP_COMMUNITY")?;
    let auth = secret(
        "auth-password",
        a.auth_password.as_ref(),
        a.auth_password_file.as_deref(),
        "DCWATCH_SNMP_AUTH_PASSWORD",
    )?;
    let privacy = secret(
        "priv-password",
        a.priv_password.as_ref(),
        a.priv_password_file.as_deref(),
        "DCWATCH_SNMP_PRIV_PASSWORD",
    )?;
    Ok((community.unwrap_or_else(|| "public".into()), auth, privacy))
}

/// Polls the device once and prints the result; the exit code says whether
/// it worked (0), the device did not answer or fit no profile (1), or the
/// arguments were wrong (2).
pub async fn snmp(a: &ProbeSnmp) -> u8 {
    let c = config(a.profiles_dir.clone(), a.timeout_ms, a.retries);
    let (community, auth_password, priv_password) = match snmp_secrets(a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dcwatch-agent probe: {e}");
            return 2;
        }
    };
    let d = SnmpDevice {
        name: a.name.clone(),
        address: a.address.clone(),
        kind: None,
        profile: a.profile.clone(),
        version: a.version.clone(),
        community,
        user: a.user.clone(),
        auth_protocol: a.auth_protocol.clone(),
        auth_password,
        priv_protocol: a.priv_protocol.clone(),
        priv_password,
        interval_secs: None,
        timeout_ms: None,
        retries: None,
        max_repetitions: None,
    };
    let mut problems = Vec::new();
    snmp::validate(&SnmpConfig { devices: vec![d.clone()], ..c.clone() }, "probe", &mut problems);
    if refused(&problems) {
        return 2;
    }
    let started = std::time::Instant::now();
    match snmp::probe(&c, &d, "probe").await {
        Ok((r, n, max_rep)) => {
            if a.format == "lp" {
                print_lp(&n.points);
            } else {
                let mut head = format!("{} ({}): profile {}", a.address, a.version, r.profile.name);
                if let Some(id) = &r.sys_object_id {
                    let _ = write!(head, " (detected from sysObjectID {id})");
                }
                let _ = write!(
                    head,
                    "; {} values read in {} ms; GETBULK max-repetitions {max_rep}",
                    r.values.len(),
                    started.elapsed().as_millis()
                );
                println!("{head}\n");
                print!("{}", table(&n.points));
                print_left_out(&n, "OID ", "scale");
            }
            if n.points.iter().all(|p| p.fields.is_empty()) {
                eprintln!(
                    "the device answered, but profile `{}` found none of its values: try another --profile",
                    r.profile.name
                );
                return 1;
            }
            0
        }
        Err(e) => {
            let hint = match &e {
                PollError::Timeout => format!(
                    "{} does not answer SNMP {} (wrong address, community or credentials, a firewall, or SNMP is off on the device)",
                    a.address, a.version
                ),
                PollError::Profile(m) => format!("{m}; `dcwatch-agent profiles` lists them"),
                other => other.to_string(),
            };
            eprintln!("dcwatch-agent probe: {hint}");
            1
        }
    }
}

/// Prints a config check's problems (device key paths shortened); true if any.
fn refused(problems: &[dcwatch_common::config::Problem]) -> bool {
    for p in problems {
        eprintln!(
            "dcwatch-agent probe: {}",
            p.message.trim_start_matches("probe.devices[0]").trim_start_matches([':', '.', ' '])
        );
    }
    !problems.is_empty()
}

fn print_lp(points: &[Point]) {
    let mut buf = Vec::new();
    for p in points {
        p.write_to(&mut buf);
    }
    print!("{}", String::from_utf8_lossy(&buf));
}

/// What was left out: unknown values, and implausible ones with where they
/// were read (`from` prefixes the place, e.g. "OID ") and what to check.
fn print_left_out(n: &crate::sources::normal::Normalized, from: &str, check: &str) {
    if n.unknown > 0 {
        println!("\n{} value(s) the device reports as unknown were left out.", n.unknown);
    }
    for f in &n.flags {
        println!(
            "implausible: {} = {} from {from}{} (plausible {}..{}): left out; check the profile's {check}",
            f.field, f.value, f.at, f.range[0], f.range[1]
        );
    }
}

/// The points as an aligned table: measurement and tags, field, value.
fn table(points: &[Point]) -> String {
    let mut rows: Vec<[String; 3]> = vec![["point".into(), "field".into(), "value".into()]];
    for p in points {
        let mut name = p.measurement.to_string();
        for (k, v) in &p.tags {
            if k != "site" && k != "device" {
                let _ = write!(name, " {k}={v}");
            }
        }
        for (i, (k, v)) in p.fields.iter().enumerate() {
            let value = match v {
                OwnedValue::F64(x) => x.to_string(),
                OwnedValue::I64(x) => x.to_string(),
                OwnedValue::Bool(b) => b.to_string(),
                OwnedValue::Str(s) => s.clone(),
            };
            rows.push([if i == 0 { name.clone() } else { String::new() }, k.to_string(), value]);
        }
    }
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    rows.iter().map(|r| format!("{:w0$}  {:w1$}  {}\n", r[0], r[1], r[2])).collect()
}

/// Lists the profiles: name, kind, description (SNMP: what they detect).
pub fn profiles(dir: Option<PathBuf>) -> u8 {
    let snmp = match snmp::load_profiles(&config(dir.clone(), 2000, 1)) {
        Ok(ps) => ps,
        Err(e) => {
            eprintln!("dcwatch-agent profiles: {e}");
            return 2;
        }
    };
    let mb = match modbus::load_profiles(dir.as_deref()) {
        Ok(ps) => ps,
        Err(e) => {
            eprintln!("dcwatch-agent profiles: {e}");
            return 2;
        }
    };
    println!("SNMP (chosen by sysObjectID unless a device names one):");
    for p in snmp {
        let how = if p.detect.fallback { "fallback".to_string() } else { p.detect.sys_object_id_prefixes.join(", ") };
        println!("  {:16} {:9} {} (detects: {how})", p.name, p.kind(), p.description);
    }
    println!("Modbus (named by each device's `profile:`):");
    for p in mb {
        println!("  {:16} {:9} {}", p.name, p.kind(), p.description);
    }
    0
}

fn modbus_device(a: &ProbeModbus, profile: &str) -> ModbusDevice {
    let (transport, address, port) = match a.transport.as_str() {
        "rtu" => (ModbusTransport::Rtu, None, Some(a.address.clone())),
        "rtu-over-tcp" => (ModbusTransport::RtuOverTcp, Some(a.address.clone()), None),
        _ => (ModbusTransport::Tcp, Some(a.address.clone()), None),
    };
    ModbusDevice {
        name: a.name.clone(),
        transport,
        address,
        port,
        baud_rate: a.baud_rate,
        parity: match a.parity.as_str() {
            "even" => Parity::Even,
            "odd" => Parity::Odd,
            _ => Parity::None,
        },
        stop_bits: a.stop_bits,
        unit: a.unit,
        profile: profile.to_string(),
        kind: None,
        feed: a.feed.clone(),
        live_above_v: 190.0,
        dead_below_v: 150.0,
        merge_reads: true,
        interval_secs: None,
        timeout_ms: Some(a.timeout_ms),
    }
}

/// Reads a Modbus device once with a profile, or dumps registers (`--raw`).
/// Exit codes as for `probe snmp`.
pub async fn modbus(a: &ProbeModbus) -> u8 {
    let profile = a.profile.clone().unwrap_or_default();
    let d = modbus_device(a, &profile);
    let ep = match modbus::endpoint(&d) {
        Ok(ep) => ep,
        Err(e) => {
            eprintln!("dcwatch-agent probe: {e}");
            return 2;
        }
    };
    let timeout = std::time::Duration::from_millis(a.timeout_ms);
    if let Some(raw) = &a.raw {
        let function = match a.function.as_str() {
            "input" => Function::Input,
            "coil" => Function::Coil,
            "discrete" => Function::Discrete,
            _ => Function::Holding,
        };
        let (start, count) = (raw[0], raw[1]);
        if count == 0 || count > function.max_read() || u32::from(start) + u32::from(count) > 65536 {
            eprintln!("dcwatch-agent probe: --raw {start} {count}: 1 to {} values within 0–65535", function.max_read());
            return 2;
        }
        let mut conn = Conn::new(ep.clone());
        return match conn.read(a.unit, &Read { function, start, count }, timeout).await {
            Ok(words) => {
                print!("{}", raw_table(&ep.to_string(), a.unit, function, start, &words));
                0
            }
            Err(e) => {
                eprintln!("dcwatch-agent probe: {ep} unit {}: {e}", a.unit);
                1
            }
        };
    }
    if a.profile.is_none() {
        eprintln!(
            "dcwatch-agent probe: give --profile NAME (`dcwatch-agent profiles` lists them) or --raw ADDRESS COUNT"
        );
        return 2;
    }
    let c = crate::config::ModbusConfig {
        interval_secs: 10,
        timeout_ms: a.timeout_ms,
        max_gap: 16,
        profiles_dir: a.profiles_dir.clone(),
        devices: vec![d.clone()],
    };
    let mut problems = Vec::new();
    modbus::validate(&c, "probe", &mut problems);
    if refused(&problems) {
        return 2;
    }
    let profiles = match modbus::load_profiles(a.profiles_dir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dcwatch-agent probe: {e}");
            return 2;
        }
    };
    let p = profiles.into_iter().find(|p| p.name == profile).expect("validated");
    let conn = tokio::sync::Mutex::new(Conn::new(ep.clone()));
    let started = std::time::Instant::now();
    let mut learned = modbus::plan::Learned::default();
    let o = modbus::poll(&conn, a.unit, &p, Some(16), timeout, &mut learned).await;
    if !o.answered {
        let why = o.errors.first().map_or("no answer".to_string(), |e| e.to_string());
        eprintln!(
            "dcwatch-agent probe: {ep} unit {}: {why} (check the address, unit id, transport and serial settings)",
            a.unit
        );
        return 1;
    }
    let ts = dcwatch_common::now_ns();
    let n = modbus::read_points(&p, &o, "probe", &d, ts, &mut modbus::Hysteresis::of(&d));
    if a.format == "lp" {
        print_lp(&n.points);
    } else {
        println!(
            "{ep} unit {}: profile {}; {} request(s) in {} ms\n",
            a.unit,
            p.name,
            o.requests,
            started.elapsed().as_millis()
        );
        print!("{}", table(&n.points));
        for e in o.errors.iter().filter(|e| {
            !matches!(e, modbus::conn::ReadError::Exception(tokio_modbus::ExceptionCode::IllegalDataAddress))
        }) {
            println!("\nerror: {e}");
        }
        if !learned.missing.is_empty() {
            let list: Vec<String> = learned
                .missing
                .iter()
                .map(|(f, a, n)| {
                    format!("{} {a}{}", f.name(), if *n > 1 { format!("–{}", a + n - 1) } else { String::new() })
                })
                .collect();
            println!("\nnot on this device (exception 02), left out: {}", list.join(", "));
        }
        print_left_out(&n, "", "type, order and scale");
    }
    if n.points.is_empty() {
        eprintln!("the device answered, but profile `{}` found none of its values", p.name);
        return 1;
    }
    0
}

/// Registers side by side in every type and byte/word order.
fn raw_table(ep: &str, unit: u8, function: Function, start: u16, words: &[u16]) -> String {
    let last = u32::from(start) + words.len() as u32 - 1;
    let mut out = format!(
        "{ep} unit {unit}: {} {start}–{last} (0-based protocol addresses: a manual's 40001 or 30001 is 0)\n\n",
        function.name()
    );
    if function.is_bits() {
        for (i, w) in words.iter().enumerate() {
            let _ = writeln!(out, "{:>5}  {}", u32::from(start) + i as u32, *w != 0);
        }
        return out;
    }
    let _ = writeln!(
        out,
        "{:>5}  {:>4}  {:>6}  {:>6}  {:<5}| 2 registers from here: {:>11} {:>11} {:>11} {:>11} {:>12} {:>12} {:>12} {:>12}",
        "addr",
        "hex",
        "u16",
        "i16",
        "ascii",
        "u32 ABCD",
        "u32 CDAB",
        "i32 ABCD",
        "i32 CDAB",
        "f32 ABCD",
        "f32 CDAB",
        "f32 BADC",
        "f32 DCBA"
    );
    let int = |r: Option<Raw>| match r {
        Some(Raw::Int(i)) => i.to_string(),
        _ => String::new(),
    };
    let float = |r: Option<Raw>| match r {
        Some(Raw::Float(f)) if f == 0.0 || (f.is_finite() && (1e-3..1e7).contains(&f.abs())) => format!("{f:.3}"),
        Some(Raw::Float(f)) => format!("{f:.2e}"),
        _ => String::new(),
    };
    for (i, w) in words.iter().enumerate() {
        let ascii: String =
            w.to_be_bytes().iter().map(|b| if b.is_ascii_graphic() || *b == b' ' { *b as char } else { '.' }).collect();
        let _ = write!(out, "{:>5}  {w:04X}  {w:>6}  {:>6}  {ascii:<5}|", u32::from(start) + i as u32, *w as i16);
        if let Some(pair) = words.get(i..i + 2) {
            let _ = write!(
                out,
                "                        {:>11} {:>11} {:>11} {:>11}",
                int(decode(pair, DataType::U32, Order::ABCD, None)),
                int(decode(pair, DataType::U32, Order::CDAB, None)),
                int(decode(pair, DataType::I32, Order::ABCD, None)),
                int(decode(pair, DataType::I32, Order::CDAB, None)),
            );
            for o in Order::ALL {
                let _ = write!(out, " {:>12}", float(decode(pair, DataType::F32, o, None)));
            }
        }
        out.push('\n');
    }
    out
}
