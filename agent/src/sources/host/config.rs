//! The `host` source's section of the agent's configuration, and its checks.

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Polling interval. Defaults to `agent.interval_secs`.
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub interval_secs: Option<u64>,
    /// systemd units whose state is reported (`host_service`), e.g. `nginx.service`.
    #[serde(default)]
    pub systemd_units: Vec<String>,
    /// Mount points not to report, e.g. `/boot/efi`. Defaults to none.
    #[serde(default)]
    pub ignore_mounts: Vec<String>,
    /// Interfaces not to report. Defaults to `lo`.
    #[serde(default = "default_ignore_ifaces")]
    pub ignore_interfaces: Vec<String>,
}

/// Checks a `host` source; problems carry the key path `at`.
pub fn validate(h: &HostConfig, at: &str, p: &mut Vec<Problem>) {
    if h.interval_secs == Some(0) {
        p.push(Problem::general(format!("{at}.interval_secs: must be at least 1")));
    }
    for (j, u) in h.systemd_units.iter().enumerate() {
        if u.trim().is_empty() || u.contains(char::is_whitespace) {
            p.push(Problem::general(format!("{at}.systemd_units[{j}]: `{u}` is not a unit name")));
        }
    }
}

fn default_ignore_ifaces() -> Vec<String> {
    vec!["lo".into()]
}
