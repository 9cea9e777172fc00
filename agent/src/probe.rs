//! `dcwatch-agent probe snmp …` and `dcwatch-agent profiles`: what a
//! technician runs when adding a device.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dcwatch_common::lp::{OwnedValue, Point};

use crate::sources::modbus::config::{ModbusDevice, ModbusTransport};
use crate::sources::modbus::conn::{Conn, Parity};
use crate::sources::modbus::decode::{DataType, Order, Raw, decode};
use crate::sources::modbus::plan::Read;
use crate::sources::modbus::profile::Function;
use crate::sources::modbus::{self};
use crate::sources::snmp::config::{SnmpConfig, SnmpDevice};
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
    let built = snmp::config::build(&SnmpConfig { devices: vec![d], ..c }, "probe", &mut problems);
    let (Some(built), false) = (built, refused(&problems)) else {
        return 2;
    };
    let started = std::time::Instant::now();
    match snmp::probe(&built, &built.devices[0], "probe", None).await {
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

/// The profile directories `profiles` lists: the flags' if any is given,
/// else those of the configuration's snmp and modbus sources (None: the
/// built-ins alone), else none. (SNMP dirs, Modbus dirs.)
type ProfileDirs = (Vec<Option<PathBuf>>, Vec<Option<PathBuf>>);

fn profile_dirs(config: &Path, snmp_dir: Option<PathBuf>, modbus_dir: Option<PathBuf>) -> Result<ProfileDirs, String> {
    if snmp_dir.is_some() || modbus_dir.is_some() {
        return Ok((vec![snmp_dir], vec![modbus_dir]));
    }
    if !config.exists() && config == Path::new(crate::DEFAULT_CONFIG) {
        return Ok((vec![None], vec![None]));
    }
    let c: crate::config::AgentConfig =
        dcwatch_common::config::load(config).map_err(|e| format!("invalid configuration:\n{e}"))?;
    let (mut snmp, mut modbus) = (Vec::new(), Vec::new());
    for s in &c.sources {
        let (dirs, dir) = match s {
            crate::config::SourceConfig::Snmp(x) => (&mut snmp, &x.profiles_dir),
            crate::config::SourceConfig::Modbus(x) => (&mut modbus, &x.profiles_dir),
            _ => continue,
        };
        if !dirs.contains(dir) {
            dirs.push(dir.clone());
        }
    }
    for dirs in [&mut snmp, &mut modbus] {
        if dirs.is_empty() {
            dirs.push(None);
        }
    }
    Ok((snmp, modbus))
}

/// "built in" or "built in and DIR's".
fn origin(dir: &Option<PathBuf>) -> String {
    match dir {
        Some(d) => format!("built in and from {}", d.display()),
        None => "built in".to_string(),
    }
}

/// Lists the profiles, SNMP and Modbus, each kind from its own directories:
/// name, kind, description (SNMP: what they detect).
pub fn profiles(config: &Path, snmp_dir: Option<PathBuf>, modbus_dir: Option<PathBuf>) -> u8 {
    match list_profiles(config, snmp_dir, modbus_dir) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("dcwatch-agent profiles: {e}");
            2
        }
    }
}

fn list_profiles(config: &Path, snmp_dir: Option<PathBuf>, modbus_dir: Option<PathBuf>) -> Result<String, String> {
    let (snmp_dirs, modbus_dirs) = profile_dirs(config, snmp_dir, modbus_dir)?;
    let mut out = String::new();
    for dir in &snmp_dirs {
        let ps =
            snmp::load_profiles(&self::config(dir.clone(), 2000, 1)).map_err(|e| dcwatch_common::error_chain(&e))?;
        let _ = writeln!(out, "SNMP profiles, {} (chosen by sysObjectID unless a device names one):", origin(dir));
        for p in ps {
            let how =
                if p.detect.fallback { "fallback".to_string() } else { p.detect.sys_object_id_prefixes.join(", ") };
            let _ = writeln!(out, "  {:16} {:9} {} (detects: {how})", p.name, p.kind(), p.description);
        }
    }
    for dir in &modbus_dirs {
        let ps = modbus::load_profiles(dir.as_deref()).map_err(|e| dcwatch_common::error_chain(&e))?;
        let _ = writeln!(out, "Modbus profiles, {} (named by each device's `profile:`):", origin(dir));
        for p in ps {
            let _ = writeln!(out, "  {:16} {:9} {}", p.name, p.kind(), p.description);
        }
    }
    Ok(out)
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
            eprintln!(
                "dcwatch-agent probe: --raw {} {count}: 1 to {} values within 0–65535 (0x0000–0xFFFF)",
                modbus::address(start),
                function.max_read()
            );
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
    let c = crate::sources::modbus::config::ModbusConfig {
        interval_secs: 10,
        timeout_ms: a.timeout_ms,
        max_gap: 16,
        profiles_dir: a.profiles_dir.clone(),
        devices: vec![d.clone()],
    };
    let mut problems = Vec::new();
    let built = modbus::config::build(&c, "probe", &mut problems);
    let (Some(built), false) = (built, refused(&problems)) else {
        return 2;
    };
    let t = &built.devices[0];
    let (p, ep, timeout) = (&t.profile, &t.endpoint, t.timeout);
    let conn = tokio::sync::Mutex::new(Conn::new(ep.clone()));
    let started = std::time::Instant::now();
    let mut learned = modbus::plan::Learned::default();
    let o = modbus::poll(&conn, a.unit, p, Some(16), timeout, &mut learned).await;
    if !o.answered {
        let why = o.errors.first().map_or("no answer".to_string(), |e| e.to_string());
        eprintln!(
            "dcwatch-agent probe: {ep} unit {}: {why} (check the address, unit id, transport and serial settings)",
            a.unit
        );
        return 1;
    }
    let ts = dcwatch_common::now_ns();
    let from = modbus::Origin { site: "probe", host: None };
    let n = modbus::read_points(p, &o, &from, &t.spec, ts, &mut modbus::Hysteresis::of(&t.spec));
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
                .map(|(f, a, n)| format!("{} {}", f.name(), modbus::address_range(*a, a + n - 1)))
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

/// `--raw`'s ADDRESS and COUNT: decimal, or hex with `0x` as in profiles.
pub fn parse_u16(s: &str) -> Result<u16, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse::<u16>(),
    };
    r.map_err(|_| format!("`{s}` is not 0 to 65535 (decimal, or hex as 0x0000 to 0xFFFF)"))
}

/// Registers side by side in every type and byte/word order.
fn raw_table(ep: &str, unit: u8, function: Function, start: u16, words: &[u16]) -> String {
    // `conn.read` returns what was asked for, and `--raw` keeps it within 65535.
    let at = |i: usize| start + i as u16;
    let mut out = format!(
        "{ep} unit {unit}: {} {} — 0-based protocol addresses: a manual's 40001 or 30001 is 0\n\n",
        function.name(),
        modbus::address_range(start, at(words.len().saturating_sub(1)))
    );
    if function.is_bits() {
        for (i, w) in words.iter().enumerate() {
            let _ = writeln!(out, "{:>14}  {}", modbus::address(at(i)), *w != 0);
        }
        return out;
    }
    let _ = writeln!(
        out,
        "{:>14}  {:>4}  {:>6}  {:>6}  {:<5}| 2 registers from here: {:>11} {:>11} {:>11} {:>11} {:>12} {:>12} {:>12} {:>12}",
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
        let _ = write!(out, "{:>14}  {w:04X}  {w:>6}  {:>6}  {ascii:<5}|", modbus::address(at(i)), *w as i16);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_takes_hex_addresses_as_profiles_write_them() {
        // Regression: `--raw 0x5000 4` was refused.
        assert_eq!(parse_u16("0x5000"), Ok(20480));
        assert_eq!(parse_u16("0X34"), Ok(52));
        assert_eq!(parse_u16("20480"), Ok(20480));
        assert_eq!(
            parse_u16("0x10000"),
            Err("`0x10000` is not 0 to 65535 (decimal, or hex as 0x0000 to 0xFFFF)".to_string())
        );
    }

    #[test]
    fn the_raw_dump_prints_each_address_in_hex_and_decimal() {
        let t = raw_table("tcp://h:502", 1, Function::Discrete, 0x5000, &[1, 0]);
        assert_eq!(
            t,
            "tcp://h:502 unit 1: discrete 0x5000–0x5001 (20480–20481) — 0-based protocol addresses: a manual's 40001 \
             or 30001 is 0\n\n0x5000 (20480)  true\n0x5001 (20481)  false\n"
        );
        let t = raw_table("tcp://h:502", 1, Function::Holding, 0x5000, &[0x4366, 0x8000]);
        let rows: Vec<&str> = t.lines().skip(3).map(|l| l.split('|').next().unwrap()).collect();
        assert_eq!(
            rows,
            ["0x5000 (20480)  4366   17254   17254  Cf   ", "0x5001 (20481)  8000   32768  -32768  ..   "]
        );
    }
}
