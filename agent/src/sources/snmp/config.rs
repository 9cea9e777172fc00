//! The `snmp` source's section of the agent's configuration, and its checks.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

use super::client::RequestSettings;
use super::profile::Profile;
use crate::sources::default_interval;

/// The SNMP source: devices to poll, their profiles, and the trap receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpConfig {
    /// Default polling interval of the devices. Defaults to 10.
    #[serde(default = "default_interval", deserialize_with = "duration::secs")]
    pub interval_secs: u64,
    /// Default wait for one reply. Defaults to 2000.
    #[serde(default = "default_snmp_timeout", deserialize_with = "duration::ms")]
    pub timeout_ms: u64,
    /// Default number of resends after a timeout. Defaults to 1.
    #[serde(default = "default_snmp_retries")]
    pub retries: u32,
    /// Starting GETBULK max-repetitions (v2c/v3). Halved, and remembered, for a
    /// device that answers tooBig or times out on a bulk request. Defaults to 25.
    #[serde(default = "default_max_repetitions")]
    pub max_repetitions: u32,
    /// A directory of extra profiles (`*.yaml`), added to the built-in ones; a
    /// profile with a built-in's name replaces it. Defaults to none.
    #[serde(default)]
    pub profiles_dir: Option<PathBuf>,
    #[serde(default)]
    pub devices: Vec<SnmpDevice>,
    /// The trap receiver. Defaults to off.
    #[serde(default)]
    pub traps: Option<TrapConfig>,
}

/// One SNMP device.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpDevice {
    /// Name of the device (tag `device`), e.g. `ups-a1`. Required.
    pub name: String,
    /// `host` or `host:port` (port defaults to 161). Required.
    pub address: String,
    /// What kind of equipment (tag `kind` on the `device` point): ups, ats,
    /// pdu, env, meter, … Defaults to the profile's kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Profile name (see `dcwatch-agent profiles`). Defaults to detection by sysObjectID.
    #[serde(default)]
    pub profile: Option<String>,
    /// `1`, `2c` or `3`. Defaults to `2c`.
    #[serde(default = "default_snmp_version")]
    pub version: String,
    /// Community (v1/v2c). Defaults to `public`.
    #[serde(default = "default_community")]
    pub community: String,
    /// v3 user name.
    #[serde(default)]
    pub user: Option<String>,
    /// v3 authentication: md5, sha, sha224, sha256, sha384, sha512.
    #[serde(default)]
    pub auth_protocol: Option<String>,
    #[serde(default)]
    pub auth_password: Option<String>,
    /// v3 privacy: des, aes (= aes128), aes192, aes256.
    #[serde(default)]
    pub priv_protocol: Option<String>,
    #[serde(default)]
    pub priv_password: Option<String>,
    /// Polling interval of this device. Defaults to the source's.
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub interval_secs: Option<u64>,
    #[serde(default, deserialize_with = "duration::opt_ms")]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub max_repetitions: Option<u32>,
}

/// The trap receiver: traps from the configured devices become event points
/// at once and trigger an immediate poll of the device that sent them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrapConfig {
    /// UDP address to listen on. Defaults to `0.0.0.0:162`.
    #[serde(default = "default_trap_listen")]
    pub listen: String,
    /// Communities accepted for v1/v2c traps. Defaults to `public`.
    #[serde(default = "default_trap_communities")]
    pub communities: Vec<String>,
    /// v3 users whose traps are accepted (authNoPriv or authPriv).
    #[serde(default)]
    pub users: Vec<TrapUser>,
    /// Accept traps from addresses that are not configured devices (their
    /// event point names the address as the device). Defaults to false.
    #[serde(default)]
    pub accept_unknown_sources: bool,
    /// IP addresses of trap forwarders (a trap relay passing on v1 traps of
    /// other devices): only in a v1 trap from one of these is the trap's
    /// `agent-addr` taken as the device it is about. From any other address
    /// agent-addr is ignored (anyone can write any agent-addr) and the trap
    /// belongs to the address it came from. Defaults to none.
    #[serde(default)]
    pub trusted_forwarders: Vec<String>,
    /// Most SNMPv3 senders the receiver keeps a relay socket for at a time.
    /// Past it, a new sender takes the place of the least recently heard
    /// one that never sent a valid trap (else of the least recently heard
    /// one). A sender with no valid trap is forgotten 5 s after it was first
    /// heard, one with valid traps after 60 s of silence. Defaults to 256.
    #[serde(default = "default_max_v3_senders")]
    pub max_v3_senders: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrapUser {
    pub user: String,
    pub auth_protocol: String,
    pub auth_password: String,
    #[serde(default)]
    pub priv_protocol: Option<String>,
    #[serde(default)]
    pub priv_password: Option<String>,
}

/// An SNMP version, read from `version` once, when the source is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2c,
    V3,
}

impl Version {
    /// `1`, `2c` (or `2`) or `3`.
    pub fn parse(v: &str) -> Result<Version, String> {
        match v {
            "1" => Ok(Version::V1),
            "2c" | "2" => Ok(Version::V2c),
            "3" => Ok(Version::V3),
            v => Err(format!("version `{v}` is not one of 1, 2c, 3")),
        }
    }
}

/// One device as the source polls it: its section, and what was read from
/// its strings when the source was built.
#[derive(Clone)]
pub struct Target {
    pub spec: SnmpDevice,
    pub version: Version,
    pub auth: async_snmp::Auth,
    /// `host:port` (port 161 unless given).
    pub target: String,
    pub rs: RequestSettings,
    pub interval: Duration,
}

/// A v3 user whose traps are accepted, with its protocols read.
#[derive(Clone)]
pub struct V3User {
    pub user: String,
    pub auth: async_snmp::AuthProtocol,
    pub auth_password: String,
    pub privacy: Option<(async_snmp::PrivProtocol, String)>,
}

/// The trap receiver as built: its section, the v3 users and forwarders read.
#[derive(Clone)]
pub struct Traps {
    pub config: TrapConfig,
    pub users: Vec<V3User>,
    pub forwarders: Vec<std::net::IpAddr>,
}

/// An `snmp` source built from its section: checked, profiles loaded, every
/// string that names a version, a protocol or an address read once.
#[derive(Clone)]
pub struct Built {
    pub profiles: Arc<Vec<Arc<Profile>>>,
    pub devices: Vec<Target>,
    pub traps: Option<Traps>,
}

/// Checks an `snmp` source and builds it; problems carry the key path `at`.
/// None when there was a problem.
pub fn build(c: &SnmpConfig, at: &str, p: &mut Vec<Problem>) -> Option<Built> {
    let before = p.len();
    let profiles = crate::sources::check_poller(super::load_profiles(c), c.interval_secs, c.timeout_ms, at, p);
    let known: Vec<&str> = profiles.iter().map(|pr| pr.name.as_str()).collect();
    let mut names = BTreeSet::new();
    let mut devices = Vec::new();
    for (j, d) in c.devices.iter().enumerate() {
        let at = format!("{at}.devices[{j}]");
        crate::sources::check_name(&mut names, &at, &d.name, "must name the device, e.g. `ups-a1`", "device", p);
        if d.address.trim().is_empty() {
            p.push(Problem::general(format!("{at}.address: must be a host or host:port")));
        }
        let auth = super::client::auth(d).map_err(|e| p.push(Problem::general(format!("{at}: {e}")))).ok();
        if let Some(name) = &d.profile {
            crate::sources::check_profile(&known, &at, name, p);
        }
        if d.interval_secs == Some(0) {
            p.push(Problem::general(format!("{at}.interval_secs: must be at least 1")));
        }
        if d.timeout_ms == Some(0) {
            p.push(Problem::general(format!("{at}.timeout_ms: must be at least 1")));
        }
        if let Some((version, auth)) = auth {
            devices.push(Target {
                spec: d.clone(),
                version,
                auth,
                target: super::client::target(&d.address),
                rs: settings(c, d),
                interval: Duration::from_secs(d.interval_secs.unwrap_or(c.interval_secs)),
            });
        }
    }
    let traps = c.traps.as_ref().map(|t| build_traps(t, at, p));
    (p.len() == before).then(|| Built {
        profiles: Arc::new(profiles.into_iter().map(Arc::new).collect()),
        devices,
        traps,
    })
}

fn build_traps(t: &TrapConfig, at: &str, p: &mut Vec<Problem>) -> Traps {
    if t.listen.parse::<std::net::SocketAddr>().is_err() {
        p.push(Problem::general(format!("{at}.traps.listen: `{}` is not an address:port", t.listen)));
    }
    let mut forwarders = Vec::new();
    for (k, f) in t.trusted_forwarders.iter().enumerate() {
        match f.parse::<std::net::IpAddr>() {
            Ok(ip) => forwarders.push(ip),
            Err(_) => p.push(Problem::general(format!(
                "{at}.traps.trusted_forwarders[{k}]: `{f}` is not an IP address (no port, no host name)"
            ))),
        }
    }
    if !(1..=super::trap::MAX_V3_SENDERS).contains(&t.max_v3_senders) {
        p.push(Problem::general(format!(
            "{at}.traps.max_v3_senders: must be 1 to {} (each is an open socket)",
            super::trap::MAX_V3_SENDERS
        )));
    }
    let mut users = Vec::new();
    for (k, u) in t.users.iter().enumerate() {
        let checked = super::client::usm(
            &u.user,
            Some(&u.auth_protocol),
            Some(&u.auth_password),
            u.priv_protocol.as_deref(),
            u.priv_password.as_deref(),
        );
        if let Err(e) = checked {
            p.push(Problem::general(format!("{at}.traps.users[{k}]: {e}")));
            continue;
        }
        // usm() accepted both protocols and the pair of privacy keys.
        let (Ok(auth), privacy) = (
            super::client::auth_protocol(&u.auth_protocol),
            u.priv_protocol
                .as_deref()
                .zip(u.priv_password.clone())
                .map(|(pp, pw)| super::client::priv_protocol(pp).map(|pp| (pp, pw))),
        ) else {
            continue;
        };
        let Ok(privacy) = privacy.transpose() else { continue };
        users.push(V3User { user: u.user.clone(), auth, auth_password: u.auth_password.clone(), privacy });
    }
    Traps { config: t.clone(), users, forwarders }
}

fn settings(c: &SnmpConfig, d: &SnmpDevice) -> RequestSettings {
    RequestSettings {
        timeout: Duration::from_millis(d.timeout_ms.unwrap_or(c.timeout_ms)),
        retries: d.retries.unwrap_or(c.retries),
        max_repetitions: d.max_repetitions.unwrap_or(c.max_repetitions),
    }
}

fn default_snmp_timeout() -> u64 {
    2000
}
fn default_snmp_retries() -> u32 {
    1
}
fn default_max_repetitions() -> u32 {
    25
}
fn default_snmp_version() -> String {
    "2c".into()
}
fn default_community() -> String {
    "public".into()
}
fn default_trap_listen() -> String {
    "0.0.0.0:162".into()
}
fn default_max_v3_senders() -> usize {
    256
}
fn default_trap_communities() -> Vec<String> {
    vec!["public".into()]
}
