//! `dcwatch-agent probe snmp …` and `dcwatch-agent profiles`: what a
//! technician runs when adding a device.

use std::fmt::Write as _;
use std::path::PathBuf;

use dcwatch_common::lp::{OwnedValue, Point};

use crate::ProbeSnmp;
use crate::config::{SnmpConfig, SnmpDevice};
use crate::sources::snmp::{self, client::PollError};

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

/// Polls the device once and prints the result; the exit code says whether
/// it worked (0), the device did not answer or fit no profile (1), or the
/// arguments were wrong (2).
pub async fn snmp(a: &ProbeSnmp) -> u8 {
    let c = config(a.profiles_dir.clone(), a.timeout_ms, a.retries);
    let d = SnmpDevice {
        name: a.name.clone(),
        address: a.address.clone(),
        kind: None,
        profile: a.profile.clone(),
        version: a.version.clone(),
        community: a.community.clone(),
        user: a.user.clone(),
        auth_protocol: a.auth_protocol.clone(),
        auth_password: a.auth_password.clone(),
        priv_protocol: a.priv_protocol.clone(),
        priv_password: a.priv_password.clone(),
        interval_secs: None,
        timeout_ms: None,
        retries: None,
        max_repetitions: None,
    };
    let mut problems = Vec::new();
    snmp::validate(&SnmpConfig { devices: vec![d.clone()], ..c.clone() }, "probe", &mut problems);
    if !problems.is_empty() {
        for p in problems {
            eprintln!(
                "dcwatch-agent probe: {}",
                p.message.trim_start_matches("probe.devices[0]").trim_start_matches([':', '.', ' '])
            );
        }
        return 2;
    }
    let started = std::time::Instant::now();
    match snmp::probe(&c, &d, "probe").await {
        Ok((r, n, max_rep)) => {
            if a.format == "lp" {
                let mut buf = Vec::new();
                for p in &n.points {
                    p.write_to(&mut buf);
                }
                print!("{}", String::from_utf8_lossy(&buf));
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
                if n.unknown > 0 {
                    println!("\n{} value(s) the device reports as unknown were left out.", n.unknown);
                }
                for f in &n.flags {
                    println!(
                        "implausible: {} = {} from OID {} (plausible {}..{}): left out; check the profile's scale",
                        f.field, f.value, f.oid, f.range[0], f.range[1]
                    );
                }
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

/// Lists the profiles: name, what they detect, description.
pub fn profiles(dir: Option<PathBuf>) -> u8 {
    match snmp::load_profiles(&config(dir, 2000, 1)) {
        Ok(ps) => {
            for p in ps {
                let how =
                    if p.detect.fallback { "fallback".to_string() } else { p.detect.sys_object_id_prefixes.join(", ") };
                println!("{:16} {:5} {} (detects: {how})", p.name, p.kind(), p.description);
            }
            0
        }
        Err(e) => {
            eprintln!("dcwatch-agent profiles: {e}");
            2
        }
    }
}
