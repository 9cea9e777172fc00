//! The `peering:` section: this collector's place in a pair of collectors
//! at two sites (docs/ha.md), and the other one.

use std::path::PathBuf;

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

/// A pair of collectors that back each other up: each reads the other's
/// log every `heartbeat_secs` (its heartbeat), both evaluate every alarm,
/// and the one of the lower rank sends first.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeeringConfig {
    /// This collector's name, as its peer names it under `peers:`, e.g. the
    /// site's (`hn-dc1`).
    pub name: String,
    /// Who sends first: 0 sends each notice at once; rank N holds it for N ×
    /// `peer_timeout_secs`, then sends only what no peer of a lower rank has
    /// sent meanwhile. Each collector of a pair has its own rank. Defaults to 0.
    #[serde(default)]
    pub rank: u32,
    /// How often each collector reads its peer's log (the heartbeat), in s.
    /// Defaults to 5.
    #[serde(default = "default_heartbeat", deserialize_with = "duration::secs")]
    pub heartbeat_secs: u64,
    /// The wait per rank before a notice is sent, in s (Alertmanager's
    /// `peer_timeout`). Defaults to 15.
    #[serde(default = "default_peer_timeout", deserialize_with = "duration::secs")]
    pub peer_timeout_secs: u64,
    /// A peer that has not answered for this many s is gone: notices go at
    /// once, without waiting for it, and `peer_unreachable` fires. Defaults to 30.
    #[serde(default = "default_failover", deserialize_with = "duration::secs")]
    pub failover_secs: u64,
    /// A notice the peer sent this long before this collector queued the
    /// same one counts as sent (the two evaluate a few seconds apart, on
    /// data that reaches them at different moments), in s. Defaults to 120.
    #[serde(default = "default_dedup_window", deserialize_with = "duration::secs")]
    pub dedup_window_secs: u64,
    /// The other collector (one; a pair is what is built and tested).
    pub peers: Vec<PeerConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its name, as its own `peering.name` says.
    pub name: String,
    /// Its listener, as this collector reaches it: `https://10.2.0.10:8186`.
    pub url: String,
    /// The secret both collectors of the pair share (at least 16
    /// characters; `${file:…}` or `${env:…}` keep it out of the file). It
    /// is sent as a bearer token and accepted from the peer only.
    pub secret: String,
    /// The site whose agents report to the peer (`alarms.sites`), for
    /// `site_down`. Defaults to none.
    #[serde(default)]
    pub site: Option<String>,
    /// CA bundle that signed the peer's certificate. Defaults to the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key for the peer's `listen.tls.client_ca_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How long one read of its log may take, in s. Defaults to 5.
    #[serde(default = "default_timeout", deserialize_with = "duration::secs")]
    pub timeout_secs: u64,
    /// Relay to the peer every point this collector's own writers (its
    /// agents) write, for agents that can reach only this site: the peer
    /// then sees them as if they wrote to it too. What the peer relays here
    /// is never relayed back. Needs a spool (`spool.dir`). Defaults to false.
    #[serde(default)]
    pub forward: bool,
    /// With `forward`: how long points wait for a peer that does not take
    /// them, in s; older ones are dropped (and counted), and so is what
    /// would take the relay's share past half of `spool.max_bytes`, so a
    /// site lost for days never fills this one's spool. Defaults to 86400.
    #[serde(default = "default_forward_keep", deserialize_with = "duration::secs")]
    pub forward_keep_secs: u64,
}

impl PeerConfig {
    /// The sink that relays to this peer (`forward: true`): spool consumer
    /// `peer:<name>` (a name no configured sink can have), through the
    /// peer's write API with the shared secret, one batch at a time so the
    /// peer's alarms see the points in order.
    pub fn relay_sink(&self) -> crate::config::SinkConfig {
        crate::config::SinkConfig {
            name: format!("{RELAY_PREFIX}{}", self.name),
            flavour: dcwatch_common::write::Flavour::V2,
            url: self.url.clone(),
            org: "dcwatch".into(),
            bucket: "dcwatch".into(),
            token: Some(self.secret.clone()),
            database: "dcwatch".into(),
            retention_policy: None,
            username: None,
            password: None,
            gzip: true,
            batch_max_lines: dcwatch_common::config::defaults::batch_max_lines(),
            flush_interval_ms: 1000,
            timeout_ms: (self.timeout_secs * 2000).max(10_000),
            max_backoff_secs: 10,
            max_in_flight: 1,
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            relay_keep: Some(std::time::Duration::from_secs(self.forward_keep_secs)),
        }
    }
}

/// The start of a relay sink's name, and of the writer a relayed point is
/// counted under at the peer that receives it.
pub const RELAY_PREFIX: &str = "peer:";

/// A relay's series and hosts bounds at the peer that receives it, in
/// multiples of one token's (`alarms.limits.max_series_per_token`,
/// `ingest.max_hosts_per_token`): it writes for a whole site.
pub const RELAY_CAP_FACTOR: usize = 16;

fn default_heartbeat() -> u64 {
    5
}
fn default_peer_timeout() -> u64 {
    15
}
fn default_failover() -> u64 {
    30
}
fn default_dedup_window() -> u64 {
    120
}
fn default_forward_keep() -> u64 {
    86_400
}
fn default_timeout() -> u64 {
    5
}

/// The shortest shared secret: as for tokens.
const MIN_SECRET_CHARS: usize = 16;

impl PeeringConfig {
    /// The settings but each peer's `forward` and `forward_keep_secs`
    /// (which a reload applies, as it does any sink's), to tell whether a
    /// reload changed what waits for a restart.
    pub fn without_forward(&self) -> PeeringConfig {
        let mut c = self.clone();
        for p in &mut c.peers {
            (p.forward, p.forward_keep_secs) = (false, 0);
        }
        c
    }

    /// The wait before this collector sends a notice a peer of a lower
    /// rank may send first, in ms.
    pub fn hold_ms(&self) -> i64 {
        i64::from(self.rank) * (self.peer_timeout_secs as i64) * 1000
    }

    pub fn check(&self, alarms_on: bool, p: &mut Vec<Problem>) {
        if !alarms_on {
            p.push(Problem::general("peering: needs `alarms:` (peers share the alarms' notices and decisions)"));
        }
        if !name_ok(&self.name) {
            p.push(Problem::general(format!(
                "peering.name: `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
                self.name
            )));
        }
        if self.rank > 9 {
            p.push(Problem::general("peering.rank: must be 0 to 9"));
        }
        for (key, v) in [
            ("heartbeat_secs", self.heartbeat_secs),
            ("peer_timeout_secs", self.peer_timeout_secs),
            ("failover_secs", self.failover_secs),
            ("dedup_window_secs", self.dedup_window_secs),
        ] {
            if v == 0 {
                p.push(Problem::general(format!("peering.{key}: must be at least 1")));
            }
        }
        if self.failover_secs < 2 * self.heartbeat_secs {
            p.push(Problem::general(format!(
                "peering.failover_secs: {} is less than two heartbeats ({} s): one late answer would fail over",
                self.failover_secs,
                2 * self.heartbeat_secs
            )));
        }
        match self.peers.len() {
            0 => p.push(Problem::general("peering.peers: name the other collector")),
            1 => {}
            n => p.push(Problem::general(format!(
                "peering.peers: {n} peers; a pair (one peer) is what dcwatch supports"
            ))),
        }
        for (i, peer) in self.peers.iter().enumerate() {
            let at = |key: &str| format!("peering.peers[{i}].{key}");
            if !name_ok(&peer.name) {
                p.push(Problem::general(format!(
                    "{}: `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
                    at("name"),
                    peer.name
                )));
            } else if peer.name == self.name {
                p.push(Problem::general(format!("{}: `{}` is this collector's own name", at("name"), peer.name)));
            }
            match reqwest::Url::parse(&peer.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => p.push(Problem::general(format!(
                    "{}: `{}` is not an http(s) address, e.g. `https://10.2.0.10:8186`",
                    at("url"),
                    dcwatch_common::redact::redact_url(&peer.url)
                ))),
            }
            if peer.secret.chars().count() < MIN_SECRET_CHARS {
                p.push(Problem::general(format!("{}: must be at least {MIN_SECRET_CHARS} characters", at("secret"))));
            }
            if peer.cert_file.is_some() != peer.key_file.is_some() {
                p.push(Problem::general(format!("{}: cert_file and key_file go together", at("cert_file"))));
            }
            for (key, f) in [("ca_file", &peer.ca_file), ("cert_file", &peer.cert_file), ("key_file", &peer.key_file)] {
                if let Some(f) = f
                    && !f.is_file()
                {
                    p.push(Problem::general(format!("{}: {} is not a readable file", at(key), f.display())));
                }
            }
            if peer.forward_keep_secs == 0 {
                p.push(Problem::general(format!("{}: must be at least 1", at("forward_keep_secs"))));
            }
            if peer.timeout_secs == 0 {
                p.push(Problem::general(format!("{}: must be at least 1", at("timeout_secs"))));
            }
        }
    }
}

fn name_ok(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
