//! The `modbus` source's section of the agent's configuration, and its checks.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

use super::conn::Endpoint;
use super::profile::Profile;

use crate::sources::default_interval;

/// The Modbus source: devices, each with a register-map profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusConfig {
    /// Default polling interval of the devices. Defaults to 10.
    #[serde(default = "default_interval", deserialize_with = "duration::secs")]
    pub interval_secs: u64,
    /// Default wait for one reply (and for a connection). Defaults to 1000.
    #[serde(default = "default_modbus_timeout", deserialize_with = "duration::ms")]
    pub timeout_ms: u64,
    /// Registers between two fields that one read may span rather than
    /// making two reads. Defaults to 16.
    #[serde(default = "default_max_gap")]
    pub max_gap: u16,
    /// A directory of extra profiles (`*.yaml`); one named like a built-in replaces it.
    #[serde(default)]
    pub profiles_dir: Option<PathBuf>,
    #[serde(default)]
    pub devices: Vec<ModbusDevice>,
}

/// One Modbus device (a unit id on a connection).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusDevice {
    /// Name of the device (tag `device`). Required.
    pub name: String,
    /// `tcp` (Modbus TCP), `rtu` (a serial port) or `rtu_over_tcp` (RTU
    /// frames through a transparent serial-to-Ethernet gateway). Defaults to tcp.
    #[serde(default)]
    pub transport: ModbusTransport,
    /// `host:port` for tcp and rtu_over_tcp (port 502 unless given).
    #[serde(default)]
    pub address: Option<String>,
    /// Serial port for rtu, e.g. /dev/ttyUSB0.
    #[serde(default)]
    pub port: Option<String>,
    /// rtu: bits per second. Defaults to 9600.
    #[serde(default = "default_baud")]
    pub baud_rate: u32,
    /// rtu: none, even or odd. Defaults to none.
    #[serde(default = "default_parity")]
    pub parity: super::conn::Parity,
    /// rtu: 1 or 2. Defaults to 1.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Unit id (slave address), 0–247. Defaults to 1.
    #[serde(default = "default_unit")]
    pub unit: u8,
    /// Register-map profile (`dcwatch-agent profiles`). Required.
    pub profile: String,
    /// Tag `kind` of the `device` point. Defaults to the profile's.
    #[serde(default)]
    pub kind: Option<String>,
    /// The site feed this meter (or UPS input) measures, e.g. `A`, `B`,
    /// `generator`: its `power_feed` points carry tag `feed`, and `live`.
    #[serde(default)]
    pub feed: Option<String>,
    /// The feed turns live when its lowest phase voltage reaches this. Defaults to 190.
    #[serde(default = "default_live_above")]
    pub live_above_v: f64,
    /// … and dead when it falls below this. Defaults to 150.
    #[serde(default = "default_dead_below")]
    pub dead_below_v: f64,
    /// Read several fields in one request where the map allows. Set false
    /// for a device that answers only single-value reads. Defaults to true.
    #[serde(default = "dcwatch_common::config::defaults::yes")]
    pub merge_reads: bool,
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub interval_secs: Option<u64>,
    #[serde(default, deserialize_with = "duration::opt_ms")]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModbusTransport {
    #[default]
    Tcp,
    Rtu,
    RtuOverTcp,
}

/// One device as the source polls it: its section, and its connection,
/// profile and times, read once when the source was built.
#[derive(Clone)]
pub struct Target {
    pub spec: ModbusDevice,
    pub endpoint: Endpoint,
    pub profile: Arc<Profile>,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A `modbus` source built from its section: checked, profiles loaded,
/// every device's connection read once.
#[derive(Clone)]
pub struct Built {
    pub devices: Vec<Target>,
    pub max_gap: u16,
}

/// Checks a `modbus` source and builds it; problems carry the key path
/// `at`. None when there was a problem.
pub fn build(c: &ModbusConfig, at: &str, p: &mut Vec<Problem>) -> Option<Built> {
    let before = p.len();
    let profiles = crate::sources::check_poller(
        super::load_profiles(c.profiles_dir.as_deref()),
        c.interval_secs,
        c.timeout_ms,
        at,
        p,
    );
    let known: Vec<&str> = profiles.iter().map(|pr| pr.name.as_str()).collect();
    let mut names = BTreeSet::new();
    let mut seen: Vec<(Endpoint, u8, String)> = Vec::new();
    let mut devices = Vec::new();
    for (j, d) in c.devices.iter().enumerate() {
        let at = format!("{at}.devices[{j}]");
        crate::sources::check_name(&mut names, &at, &d.name, "must name the device, e.g. `meter-a`", "device", p);
        crate::sources::check_profile(&known, &at, &d.profile, p);
        if d.unit > 247 {
            p.push(Problem::general(format!("{at}.unit: {} is not a unit id (0–247)", d.unit)));
        }
        if d.dead_below_v.partial_cmp(&d.live_above_v) != Some(std::cmp::Ordering::Less) {
            p.push(Problem::general(format!(
                "{at}: dead_below_v ({}) must be below live_above_v ({}), or the feed flaps",
                d.dead_below_v, d.live_above_v
            )));
        }
        if d.interval_secs == Some(0) || d.timeout_ms == Some(0) {
            p.push(Problem::general(format!("{at}: interval_secs and timeout_ms must be at least 1")));
        }
        match super::endpoint(d) {
            Err(e) => p.push(Problem::general(format!("{at}.{e}"))),
            Ok(ep) => {
                for (other, unit, name) in &seen {
                    if super::same_connection(other, &ep) && *other != ep {
                        p.push(Problem::general(format!(
                            "{at}: shares {ep} with `{name}` but with other serial settings ({other})"
                        )));
                    }
                    if super::same_connection(other, &ep) && *unit == d.unit {
                        p.push(Problem::general(format!("{at}.unit: unit {} on {ep} is also `{name}`", d.unit)));
                    }
                }
                seen.push((ep.clone(), d.unit, d.name.clone()));
                // A profile that is not known was named above.
                if let Some(profile) = profiles.iter().find(|pr| pr.name == d.profile) {
                    devices.push(Target {
                        spec: d.clone(),
                        endpoint: ep,
                        profile: Arc::new(profile.clone()),
                        interval: Duration::from_secs(d.interval_secs.unwrap_or(c.interval_secs)),
                        timeout: Duration::from_millis(d.timeout_ms.unwrap_or(c.timeout_ms)),
                    });
                }
            }
        }
    }
    (p.len() == before).then_some(Built { devices, max_gap: c.max_gap })
}

fn default_modbus_timeout() -> u64 {
    1000
}
fn default_max_gap() -> u16 {
    16
}
fn default_baud() -> u32 {
    9600
}
fn default_parity() -> super::conn::Parity {
    super::conn::Parity::None
}
fn default_stop_bits() -> u8 {
    1
}
fn default_unit() -> u8 {
    1
}
fn default_live_above() -> f64 {
    190.0
}
fn default_dead_below() -> f64 {
    150.0
}
