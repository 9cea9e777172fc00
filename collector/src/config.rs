//! The collector's configuration file (`/etc/dcwatch/collector.yaml`).
//!
//! See `configs/collector.yaml` for a commented example and
//! `docs/configuration.md` for the reference.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use dcwatch_common::config::{Problem, Validate, duration};
use dcwatch_common::forward::ForwarderSettings;
use dcwatch_common::write::{Flavour, WriterSettings};
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    #[serde(default)]
    pub listen: ListenConfig,
    pub ingest: IngestConfig,
    /// Where received points go. Defaults to none: the collector still
    /// accepts, counts and logs what it receives.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// The on-disk spool between ingest and the sinks.
    #[serde(default)]
    pub spool: SpoolConfig,
    /// Log level (error, warn, info, debug, trace). Defaults to info; `RUST_LOG` wins.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Alarms: topology, built-in alarms, rules, receivers. Defaults to off.
    #[serde(default)]
    pub alarms: Option<crate::alarm::config::AlarmsConfig>,
    /// Hourly trends for the capacity and availability reports. Defaults to off.
    #[serde(default)]
    pub trends: Option<crate::trends::TrendsConfig>,
    /// Reports: their time zone, and the ones sent by email on a schedule.
    #[serde(default)]
    pub reports: crate::report::schedule::ReportsConfig,
    /// The site's time zone, e.g. `Asia/Ho_Chi_Minh`: the times in notices,
    /// `status` and the console are written in it, and reports use it unless
    /// `reports.timezone` says otherwise. Defaults to the system's.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Who may use the HTTP API (alarms, silences, status, audit) and how.
    #[serde(default)]
    pub api: ApiConfig,
    /// The audit log: who acknowledged, silenced, or failed to log in.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The web console at `/ui`, its users and sessions (docs/web.md).
    #[serde(default)]
    pub web: crate::web::config::WebConfig,
    /// The other site's collector, when two back each other up (docs/ha.md).
    /// Defaults to none.
    #[serde(default)]
    pub peering: Option<crate::peer::config::PeeringConfig>,
    /// The dead man's switch: a ping and/or an always-firing alarm while
    /// this collector can raise alarms (docs/ha.md). Defaults to off.
    #[serde(default)]
    pub watchdog: Option<crate::watchdog::WatchdogConfig>,
}

impl CollectorConfig {
    /// The site's time zone (`timezone`, else the system's).
    pub fn tz(&self) -> jiff::tz::TimeZone {
        self.timezone
            .as_deref()
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
            .unwrap_or_else(jiff::tz::TimeZone::system)
    }
}

/// The HTTP API's tokens. Each has a name (it is the author of what it
/// does, in the audit log) and a role.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Tokens of the API (`Authorization: Bearer …`, `Token …` or `Basic`). Defaults to none: the
    /// API then answers 403, and `/health` says only whether all is well.
    /// Each entry keeps its place in the file, for errors that name two entries.
    #[serde(default)]
    pub tokens: Vec<Spanned<ApiTokenConfig>>,
    /// `/metrics` needs a token (any role), for Prometheus with
    /// `authorization: {credentials: …}`. Defaults to false.
    #[serde(default)]
    pub metrics_require_token: bool,
    /// What makes `/health` answer 503, for a load balancer or keepalived.
    /// Defaults to nothing: always 200.
    #[serde(default)]
    pub health: crate::api::health::HealthConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenConfig {
    /// Who holds it: a person, a team, or a program (`noc-screen`). Required, unique.
    pub name: String,
    /// SHA-256 of the token, hex (`dcwatch-collector hash-token`). Preferred.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The token itself (at least 16 characters), best from `${ENV}` or `${file:PATH}`.
    #[serde(default)]
    pub token: Option<String>,
    /// `viewer` (reads), `operator` (also acknowledges and silences) or
    /// `admin` (also reads the audit log). Required.
    pub role: crate::auth::Role,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// SQLite file of the audit log. Defaults to /var/lib/dcwatch/audit.db.
    #[serde(default = "default_audit_db")]
    pub db: PathBuf,
    /// Records older than this are removed. Defaults to 400 (over a year).
    #[serde(default = "default_audit_retention")]
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { db: default_audit_db(), retention_days: default_audit_retention() }
    }
}

fn default_audit_db() -> PathBuf {
    PathBuf::from("/var/lib/dcwatch/audit.db")
}
fn default_audit_retention() -> u32 {
    400
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Address and port of the HTTP(S) API. Defaults to `0.0.0.0:8186`.
    #[serde(default = "default_address")]
    pub address: String,
    /// Serve HTTPS with this certificate and key. Defaults to plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Longest a shutdown waits for open requests. Defaults to 10.
    #[serde(default = "dcwatch_common::config::defaults::shutdown_timeout_secs", deserialize_with = "duration::secs")]
    pub shutdown_timeout_secs: u64,
    /// Connections open at once. A new one past it closes an idle one
    /// (first one that has not used a valid token); refused only when every
    /// one has a request in progress. Defaults to 1024.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A new connection (TCP, TLS handshake, HTTP/1 or HTTP/2) must send its
    /// first request within this many s, or it is closed. Defaults to 10.
    #[serde(default = "default_first_request_timeout", deserialize_with = "duration::secs")]
    pub first_request_timeout_secs: u64,
    /// A connection with no request in progress for this many s is closed
    /// (HTTP/1 and HTTP/2). Defaults to 30.
    #[serde(default = "default_idle_timeout", deserialize_with = "duration::secs")]
    pub idle_timeout_secs: u64,
    /// A request still in progress after this many s is answered 503 and its
    /// connection closed; more than `ingest.read_timeout_secs`. Defaults to 60.
    #[serde(default = "default_request_timeout", deserialize_with = "duration::secs")]
    pub request_timeout_secs: u64,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            address: default_address(),
            tls: None,
            shutdown_timeout_secs: dcwatch_common::config::defaults::shutdown_timeout_secs(),
            max_connections: default_max_connections(),
            first_request_timeout_secs: default_first_request_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            request_timeout_secs: default_request_timeout(),
        }
    }
}

fn default_max_connections() -> usize {
    1024
}
fn default_first_request_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    30
}
fn default_request_timeout() -> u64 {
    60
}
fn default_max_concurrent_bodies() -> usize {
    16
}
fn default_max_hosts_per_token() -> usize {
    1000
}

/// A write is acknowledged only once its points are on disk here; each sink
/// reads them at its own pace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Directory of the spool files. Defaults to /var/lib/dcwatch/spool
    /// (systemd's StateDirectory).
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
    /// Most bytes on disk. When full, writers get 503 and keep their data.
    /// Defaults to 4294967296 (4 GiB).
    #[serde(default = "default_spool_bytes")]
    pub max_bytes: u64,
    /// With `when_full: drop_oldest`, points older than this are dropped
    /// (counted per sink) even if a sink never took them; with `refuse` it
    /// drops nothing unsent. Defaults to 604800 (7 days).
    #[serde(default = "dcwatch_common::config::defaults::max_age_secs", deserialize_with = "duration::secs")]
    pub max_age_secs: u64,
    /// Size of one spool file. Defaults to 67108864 (64 MiB).
    #[serde(default = "default_spool_segment")]
    pub segment_max_bytes: u64,
    /// What a write that does not fit under `max_bytes` does: `refuse` (503,
    /// nothing unsent is ever deleted) or `drop_oldest` (the oldest unsent
    /// points are deleted, counted per sink, alarm `spool_dropped_points`).
    /// Defaults to `refuse`.
    #[serde(default)]
    pub when_full: dcwatch_common::spool::WhenFull,
    /// `drop_oldest` never deletes points accepted less than this long ago;
    /// writes are refused instead. Defaults to 3600 (1 hour).
    #[serde(default = "dcwatch_common::config::defaults::drop_min_age_secs", deserialize_with = "duration::secs")]
    pub drop_min_age_secs: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: default_spool_dir(),
            max_bytes: default_spool_bytes(),
            max_age_secs: dcwatch_common::config::defaults::max_age_secs(),
            segment_max_bytes: default_spool_segment(),
            when_full: dcwatch_common::spool::WhenFull::Refuse,
            drop_min_age_secs: dcwatch_common::config::defaults::drop_min_age_secs(),
        }
    }
}

impl SpoolConfig {
    pub fn spool_settings(&self) -> dcwatch_common::spool::SpoolSettings {
        dcwatch_common::spool::SpoolSettings::from_config(
            &self.dir,
            self.max_bytes,
            self.max_age_secs,
            self.segment_max_bytes,
            self.when_full,
            self.drop_min_age_secs,
        )
    }
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/dcwatch/spool")
}
fn default_spool_bytes() -> u64 {
    4 * 1024 * 1024 * 1024
}
fn default_spool_segment() -> u64 {
    64 * 1024 * 1024
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, server certificate first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM of the CA certificate(s) that sign the agents' client
    /// certificates. Defaults to none: clients are not asked for one.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: `optional` (a client may come without a
    /// certificate; one it presents must be valid) or `required` (the
    /// handshake fails without a valid one). Defaults to optional.
    #[serde(default)]
    pub client_cert: ClientCert,
}

/// Whether a client must present a certificate (`listen.tls.client_cert`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCert {
    #[default]
    Optional,
    Required,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body, after gzip decompression. The agent sends at
    /// most 5000 points (about 1 MiB) a request, Telegraf 1000. Defaults to
    /// 8388608 (8 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Write bodies read and parsed at once (each costs memory several
    /// times its size); one token may hold half of them. A write that waits
    /// `read_timeout_secs` for one, or whose token has its half, gets 503.
    /// Defaults to 16.
    #[serde(default = "default_max_concurrent_bodies")]
    pub max_concurrent_bodies: usize,
    /// (site, host) pairs listed per token in `/health` and `/metrics`;
    /// writes naming more are accepted, and the rest counted. Defaults to 1000.
    #[serde(default = "default_max_hosts_per_token")]
    pub max_hosts_per_token: usize,
    /// Who may write. Each agent (or Telegraf) gets its own token. Each
    /// entry keeps its place in the file, for errors that name two entries.
    #[serde(default)]
    pub tokens: Vec<Spanned<TokenConfig>>,
    /// Accept writes with no token, for a closed lab network only. Defaults to false.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Longest a client may take to send a request's headers, and then its
    /// body; a slower one gets 408 and its connection closed, so stalled
    /// clients cannot pile up. Defaults to 30.
    #[serde(default = "default_read_timeout", deserialize_with = "duration::secs")]
    pub read_timeout_secs: u64,
    /// Points each token may write per second, with a burst; a write that
    /// finds its token's allowance spent gets 429 and `Retry-After`.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
}

/// `ingest.rate_limit`: one allowance per token.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Points per second per token, refilled continuously; 0 turns the
    /// limit off. Defaults to 10000.
    #[serde(default = "default_points_per_sec")]
    pub points_per_sec: u64,
    /// Points a token may write at once after being quiet (an agent
    /// sending its backlog). Defaults to 1000000.
    #[serde(default = "default_burst_points")]
    pub burst_points: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig { points_per_sec: default_points_per_sec(), burst_points: default_burst_points() }
    }
}

impl RateLimitConfig {
    pub fn rate(&self) -> crate::ingest::rate::Rate {
        crate::ingest::rate::Rate { points_per_sec: self.points_per_sec as f64, burst_points: self.burst_points as f64 }
    }
}

fn default_points_per_sec() -> u64 {
    10_000
}
fn default_burst_points() -> u64 {
    1_000_000
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (logs, metrics), e.g. the agent's host name.
    pub name: String,
    /// SHA-256 of the token, hex (`dcwatch-collector hash-token`). Preferred:
    /// the config then holds no secret.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The token itself, best from `${ENV}` or `${file:PATH}`; hashed at load.
    #[serde(default)]
    pub token: Option<String>,
    /// The only site this token may write for. Points without a `site` tag get this one.
    pub site: String,
    /// If set, the only host this token may write for. Points without a `host` tag get this one.
    #[serde(default)]
    pub host: Option<String>,
    /// May write the measurements of power and room equipment (`ups`,
    /// `power_feed`, `ats`, `generator`, `pdu`, `env`, `device`, …): set it
    /// for the agents that poll SNMP or Modbus devices. Defaults to false.
    #[serde(default)]
    pub poller: bool,
    /// With `poller`, only these devices: their `device` tag, or for
    /// `power_feed` and `power_feed_phase` their `feed` tag. Defaults to any.
    #[serde(default)]
    pub devices: Option<Vec<String>>,
    /// If set, a request with this token is accepted only over TLS with a
    /// verified client certificate valid for this DNS name (e.g.
    /// `web01.dc.local`); needs `listen.tls.client_ca_file`. Defaults to none.
    #[serde(default)]
    pub client_cert_name: Option<String>,
}

/// One InfluxDB-compatible target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Name in logs and metrics. Required, unique.
    pub name: String,
    /// `v2` (`/api/v2/write`: InfluxDB 2.x/3.x, VictoriaMetrics) or `v1` (`/write`: InfluxDB 1.x). Defaults to v2.
    #[serde(default)]
    pub flavour: Flavour,
    /// Base URL, e.g. `http://influx.dc.local:8086`. Required.
    pub url: String,
    /// v2: organisation. Defaults to "dcwatch".
    #[serde(default = "dcwatch_common::config::defaults::dcwatch")]
    pub org: String,
    /// v2: bucket. Defaults to "dcwatch".
    #[serde(default = "dcwatch_common::config::defaults::dcwatch")]
    pub bucket: String,
    /// v2 (and v1 on 2.x compatibility endpoints): API token.
    #[serde(default)]
    pub token: Option<String>,
    /// v1: database. Defaults to "dcwatch".
    #[serde(default = "dcwatch_common::config::defaults::dcwatch")]
    pub database: String,
    /// v1: retention policy. Defaults to the database's default.
    #[serde(default)]
    pub retention_policy: Option<String>,
    /// v1: user name (basic auth).
    #[serde(default)]
    pub username: Option<String>,
    /// v1: password.
    #[serde(default)]
    pub password: Option<String>,
    /// Gzip request bodies. Defaults to true.
    #[serde(default = "dcwatch_common::config::defaults::yes")]
    pub gzip: bool,
    /// Points per request. Defaults to 5000.
    #[serde(default = "dcwatch_common::config::defaults::batch_max_lines")]
    pub batch_max_lines: u64,
    /// Longest a point waits before it is sent. Defaults to 1000.
    #[serde(default = "dcwatch_common::config::defaults::flush_interval_ms", deserialize_with = "duration::ms")]
    pub flush_interval_ms: u64,
    /// Request timeout. Defaults to 10000.
    #[serde(default = "dcwatch_common::config::defaults::timeout_ms", deserialize_with = "duration::ms")]
    pub timeout_ms: u64,
    /// Longest wait between retries. Defaults to 30.
    #[serde(default = "default_backoff", deserialize_with = "duration::secs")]
    pub max_backoff_secs: u64,
    /// Batches written at once to this sink. Defaults to 4.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// PEM file of the CA that signed the target's certificate. Defaults to the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate presented when the target asks for one
    /// (mutual TLS), with `key_file`. Defaults to none.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`. Defaults to none.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Not in the file: set on the relay to a peer collector
    /// (`peering.peers[].forward`), with how long it keeps what the peer
    /// has not taken. A relay passes over what the peer itself relayed.
    #[serde(skip)]
    pub relay_keep: Option<Duration>,
}

fn default_log_level() -> String {
    "info".into()
}
fn default_address() -> String {
    "0.0.0.0:8186".into()
}
fn default_max_body() -> usize {
    8 * 1024 * 1024
}
fn default_read_timeout() -> u64 {
    30
}
fn default_backoff() -> u64 {
    30
}
fn default_in_flight() -> usize {
    4
}

impl Validate for CollectorConfig {
    fn validate(&self, p: &mut Vec<Problem>) {
        if let Some(z) = &self.timezone
            && let Err(e) = jiff::tz::TimeZone::get(z)
        {
            p.push(Problem::general(format!("timezone: `{z}` is not a time zone this system knows: {e}")));
        }
        if let Some(a) = &self.alarms {
            a.check(crate::alarm::builtin::BUILTIN_NAMES, p);
            let token_sites: Vec<&str> = self.ingest.tokens.iter().map(|t| t.value.site.as_str()).collect();
            a.check_sites(&token_sites, p);
        }
        if let Some(t) = &self.trends {
            t.check(p);
        }
        self.reports.check(self.trends.is_some(), self.alarms.as_ref(), p);
        self.check_listen_and_ingest(p);
        self.check_ingest_tokens(p);
        self.check_tokens_unique(p);
        self.check_devices_unique(p);
        if self.api.metrics_require_token && self.api.tokens.is_empty() {
            p.push(Problem::general(
                "api.metrics_require_token: no api.tokens are configured, so nothing could read /metrics",
            ));
        }
        if self.audit.retention_days == 0 {
            p.push(Problem::general("audit.retention_days: must be at least 1"));
        }
        self.check_sinks(p);
        self.web.check(p);
        if let Some(peering) = &self.peering {
            peering.check(self.alarms.is_some(), p);
            let sites: Vec<&str> = self.alarms.iter().flat_map(|a| a.sites.iter().map(|s| s.name.as_str())).collect();
            for (i, peer) in peering.peers.iter().enumerate() {
                if let Some(site) = &peer.site
                    && !sites.contains(&site.as_str())
                {
                    p.push(Problem::general(format!(
                        "peering.peers[{i}].site: `{site}` is not one of alarms.sites ({})",
                        sites.join(", ")
                    )));
                }
            }
        }
        if let Some(w) = &self.watchdog {
            w.check(self.alarms.as_ref(), p);
        }
        self.api.health.check(self.alarms.as_ref(), p);
        let sp = &self.spool;
        sp.spool_settings().check("spool", p);
        if let Some(tls) = &self.listen.tls {
            let ca = tls.client_ca_file.as_ref().map(|c| ("client_ca_file", c));
            for (key, path) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)].into_iter().chain(ca) {
                if !path.is_file() {
                    p.push(Problem::general(format!("listen.tls.{key}: {} is not a readable file", path.display())));
                }
            }
        }
    }
}

impl CollectorConfig {
    /// `listen` and `ingest`'s limits and timeouts, and how agents may write.
    fn check_listen_and_ingest(&self, p: &mut Vec<Problem>) {
        if self.listen.address.parse::<SocketAddr>().is_err() {
            p.push(Problem::general(format!(
                "listen.address: `{}` is not an address:port, e.g. `0.0.0.0:8186`",
                self.listen.address
            )));
        }
        if self.ingest.read_timeout_secs == 0 {
            p.push(Problem::general("ingest.read_timeout_secs: must be at least 1"));
        }
        if self.ingest.max_body_bytes < 1024 {
            p.push(Problem::general("ingest.max_body_bytes: must be at least 1024"));
        }
        for (key, v) in [
            ("ingest.max_concurrent_bodies", self.ingest.max_concurrent_bodies as u64),
            ("ingest.max_hosts_per_token", self.ingest.max_hosts_per_token as u64),
            ("listen.max_connections", self.listen.max_connections as u64),
            ("listen.first_request_timeout_secs", self.listen.first_request_timeout_secs),
            ("listen.idle_timeout_secs", self.listen.idle_timeout_secs),
        ] {
            if v == 0 {
                p.push(Problem::general(format!("{key}: must be at least 1")));
            }
        }
        let r = &self.ingest.rate_limit;
        if r.points_per_sec > 0 && r.burst_points < r.points_per_sec {
            p.push(Problem::general(format!(
                "ingest.rate_limit.burst_points: must be at least points_per_sec ({}), \
                 or a token could never write one second's worth at once",
                r.points_per_sec
            )));
        }
        if self.listen.request_timeout_secs <= self.ingest.read_timeout_secs {
            p.push(Problem::general(format!(
                "listen.request_timeout_secs: must be more than ingest.read_timeout_secs ({}), \
                 or a slow body would be cut off before it could be answered 408",
                self.ingest.read_timeout_secs
            )));
        }
        if self.ingest.tokens.is_empty() && !self.ingest.allow_anonymous {
            p.push(Problem::general(
                "ingest.tokens: no token is configured, so no agent could write; add one per agent, \
                 or set ingest.allow_anonymous: true on a closed lab network",
            ));
        }
        if self.ingest.allow_anonymous && !self.ingest.tokens.is_empty() {
            p.push(Problem::general(
                "ingest.allow_anonymous: cannot be used with ingest.tokens: a token holder could leave the token \
                 out and write for any site and any device; keep one or the other",
            ));
        }
    }

    /// Each `ingest.tokens` entry: its site, its secret, its devices and
    /// its client certificate.
    fn check_ingest_tokens(&self, p: &mut Vec<Problem>) {
        for (i, t) in self.ingest.tokens.iter().map(|t| &t.value).enumerate() {
            let at = format!("ingest.tokens[{i}]");
            if t.site.trim().is_empty() {
                p.push(Problem::general(format!("{at}.site: must name the site this token writes for")));
            }
            crate::auth::check_secret(&at, t.token.as_deref(), t.token_sha256.as_deref(), p);
            if t.name.starts_with(crate::peer::config::RELAY_PREFIX) {
                p.push(Problem::general(format!(
                    "{at}.name: `{}` starts with `{}`, which names what a peer collector relays",
                    t.name,
                    crate::peer::config::RELAY_PREFIX
                )));
            }
            if t.devices.is_some() && !t.poller {
                p.push(Problem::general(format!("{at}.devices: lists devices, so set `poller: true` too")));
            }
            if let Some(name) = &t.client_cert_name {
                if rustls::pki_types::DnsName::try_from(name.as_str()).is_err() {
                    p.push(Problem::general(format!("{at}.client_cert_name: `{name}` is not a DNS name")));
                }
                if self.listen.tls.as_ref().is_none_or(|tls| tls.client_ca_file.is_none()) {
                    p.push(Problem::general(format!(
                        "{at}.client_cert_name: needs listen.tls with client_ca_file, \
                         or no client certificate could ever be verified"
                    )));
                }
            }
        }
        for (i, t) in self.api.tokens.iter().map(|t| &t.value).enumerate() {
            if t.name.trim().is_empty() {
                p.push(Problem::general(format!("api.tokens[{i}].name: must not be empty")));
            }
            crate::auth::check_secret(&format!("api.tokens[{i}]"), t.token.as_deref(), t.token_sha256.as_deref(), p);
        }
    }

    /// Each sink: a unique name that can name a spool cursor, a target the
    /// writer accepts, and its limits.
    fn check_sinks(&self, p: &mut Vec<Problem>) {
        let mut sink_names = HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let at = format!("sinks[{i}]");
            if s.name.trim().is_empty() || !sink_names.insert(s.name.as_str()) {
                p.push(Problem::general(format!("{at}.name: `{}` must be non-empty and unique", s.name)));
            }
            if let Err(e) = dcwatch_common::write::Writer::new(&s.writer_settings()) {
                p.push(Problem::general(format!("{at}: {}", dcwatch_common::error_chain(&e))));
            }
            if s.batch_max_lines == 0 {
                p.push(Problem::general(format!("{at}.batch_max_lines: must be at least 1")));
            }
            if s.name.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
                p.push(Problem::general(format!(
                    "{at}.name: `{}` may hold only letters, digits, - and _ (it names the sink's spool cursor)",
                    s.name
                )));
            }
            if !(1..=64).contains(&s.max_in_flight) {
                p.push(Problem::general(format!("{at}.max_in_flight: must be from 1 to 64")));
            }
            if s.flavour == Flavour::V1 && s.database.trim().is_empty() {
                p.push(Problem::general(format!("{at}.database: must name the InfluxDB 1.x database")));
            }
        }
    }
}

/// A token entry as the uniqueness check sees it.
struct Entry<'a> {
    /// `ingest.tokens[0]`.
    at: String,
    name: &'a str,
    hash: Option<[u8; 32]>,
    position: Option<(u64, u64)>,
}

impl Entry<'_> {
    /// `ingest.tokens[0] (`web01`)`: the entry a problem is at.
    fn describe(&self) -> String {
        format!("{} (`{}`)", self.at, self.name)
    }

    /// `ingest.tokens[0] (`web01`, line 5 column 7)`: the other entry.
    fn describe_with_place(&self) -> String {
        match self.position {
            Some((l, c)) => format!("{} (`{}`, line {l} column {c})", self.at, self.name),
            None => self.describe(),
        }
    }
}

fn position<T>(s: &Spanned<T>) -> Option<(u64, u64)> {
    (s.referenced.line() > 0).then(|| (s.referenced.line(), s.referenced.column()))
}

impl CollectorConfig {
    /// The sinks the spool feeds: those configured, then a relay to each
    /// peer with `forward: true`.
    pub fn all_sinks(&self) -> Vec<SinkConfig> {
        let relays = self.peering.iter().flat_map(|c| c.peers.iter().filter(|p| p.forward));
        self.sinks.iter().cloned().chain(relays.map(crate::peer::config::PeerConfig::relay_sink)).collect()
    }
}

impl CollectorConfig {
    /// Every token is held by one entry: the same secret twice (in clear or as a
    /// hash, in either table) would make the holder ambiguous, and one shared
    /// by an agent and the API would let a leaked agent token read the API. A
    /// name is unique within its table. Each problem is at the later entry and
    /// names the earlier one.
    fn check_tokens_unique(&self, p: &mut Vec<Problem>) {
        let ingest = self.ingest.tokens.iter().enumerate().map(|(i, t)| Entry {
            at: format!("ingest.tokens[{i}]"),
            name: &t.value.name,
            hash: crate::auth::secret_hash(t.value.token.as_deref(), t.value.token_sha256.as_deref()),
            position: position(t),
        });
        let api = self.api.tokens.iter().enumerate().map(|(i, t)| Entry {
            at: format!("api.tokens[{i}]"),
            name: &t.value.name,
            hash: crate::auth::secret_hash(t.value.token.as_deref(), t.value.token_sha256.as_deref()),
            position: position(t),
        });
        let (ingest, api): (Vec<_>, Vec<_>) = (ingest.collect(), api.collect());
        let peers: Vec<Entry> = (self.peering.iter().flat_map(|c| c.peers.iter().enumerate()))
            .map(|(i, peer)| Entry {
                at: format!("peering.peers[{i}].secret"),
                name: &peer.name,
                hash: crate::auth::secret_hash(Some(&peer.secret), None),
                position: None,
            })
            .collect();
        for table in [&ingest, &api] {
            for (j, later) in table.iter().enumerate() {
                if let Some(first) = table[..j].iter().find(|e| e.name == later.name && !later.name.trim().is_empty()) {
                    p.push(Problem {
                        position: later.position,
                        message: format!(
                            "{}.name: `{}` is also the name of {}; names must be unique",
                            later.at,
                            later.name,
                            first.describe_with_place()
                        ),
                    });
                }
            }
        }
        let all: Vec<&Entry> = ingest.iter().chain(&api).chain(&peers).collect();
        for (j, later) in all.iter().enumerate() {
            let Some(hash) = later.hash else { continue };
            if let Some(first) = all[..j].iter().find(|e| e.hash == Some(hash)) {
                let what = if later.at.starts_with("peering") {
                    "a peer's secret must be its own: a holder of it may act as the peer"
                } else if first.at.starts_with("ingest") == later.at.starts_with("ingest") {
                    "every entry needs a token of its own"
                } else {
                    "an API token must not also be an ingest token"
                };
                p.push(Problem {
                    position: later.position,
                    message: format!("{}: the same token as {}; {what}", later.describe(), first.describe_with_place()),
                });
            }
        }
    }
}

impl CollectorConfig {
    /// A device is polled by one agent: the same device of a site in two
    /// tokens' `devices` (or twice in one) would let two agents write its
    /// points, and each alarm would flip with whichever wrote last.
    fn check_devices_unique(&self, p: &mut Vec<Problem>) {
        let mut seen: HashMap<(&str, &str), String> = HashMap::new();
        for (i, t) in self.ingest.tokens.iter().map(|t| &t.value).enumerate() {
            for (j, d) in t.devices.iter().flatten().enumerate() {
                let at = format!("ingest.tokens[{i}].devices[{j}]");
                match seen.get(&(t.site.as_str(), d.as_str())) {
                    Some(first) => p.push(Problem::general(format!(
                        "{at}: `{d}` at site `{}` is also {first}; each device is polled by one agent",
                        t.site
                    ))),
                    None => {
                        seen.insert((&t.site, d), format!("{at} (`{}`)", t.name));
                    }
                }
            }
        }
    }
}

impl SinkConfig {
    pub fn writer_settings(&self) -> WriterSettings {
        WriterSettings {
            url: self.url.clone(),
            flavour: self.flavour,
            org: self.org.clone(),
            bucket: self.bucket.clone(),
            database: self.database.clone(),
            retention_policy: self.retention_policy.clone(),
            token: self.token.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            gzip: self.gzip,
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }

    pub fn forwarder_settings(&self, shutdown_timeout: Duration) -> ForwarderSettings {
        ForwarderSettings {
            name: self.name.clone(),
            batch_max_lines: self.batch_max_lines,
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            max_backoff: Duration::from_secs(self.max_backoff_secs.max(1)),
            shutdown_timeout,
            max_in_flight: self.max_in_flight,
            origins: None,
            skip_relayed: self.relay_keep.is_some(),
            backlog_bound: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<CollectorConfig, Vec<Problem>> {
        dcwatch_common::config::parse(text, Path::new("/x/collector.yaml"))
    }

    #[test]
    fn a_minimal_config_gets_defaults() {
        let c = parse(
            "ingest:\n  tokens:\n    - name: web01\n      token: 0123456789abcdef0\n      site: hn\nsinks:\n  - name: vm\n    url: http://127.0.0.1:8428\n",
        )
        .unwrap();
        assert_eq!(c.listen.address, "0.0.0.0:8186");
        assert_eq!(c.ingest.max_body_bytes, 8 * 1024 * 1024);
        assert_eq!((c.ingest.max_concurrent_bodies, c.ingest.max_hosts_per_token), (16, 1000));
        assert_eq!(c.ingest.rate_limit, RateLimitConfig { points_per_sec: 10_000, burst_points: 1_000_000 });
        let l = &c.listen;
        assert_eq!(
            (l.max_connections, l.first_request_timeout_secs, l.idle_timeout_secs, l.request_timeout_secs),
            (1024, 10, 30, 60)
        );
        assert_eq!(c.sinks[0].flavour, Flavour::V2);
        assert_eq!(c.spool.max_bytes, 4 * 1024 * 1024 * 1024);
        let s = c.spool.spool_settings();
        assert_eq!((s.when_full, s.drop_min_age.as_secs()), (dcwatch_common::spool::WhenFull::Refuse, 3600));
    }

    #[test]
    fn every_token_and_sink_problem_is_listed() {
        let problems = parse(
            "listen:\n  address: nowhere\ningest:\n  tokens:\n    - name: a\n      token: short\n      site: hn\n    \
             - name: a\n      site: ''\nsinks:\n  - name: s\n    flavour: v1\n    url: localhost:8086\n",
        )
        .unwrap_err();
        let msgs: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "listen.address: `nowhere` is not an address:port, e.g. `0.0.0.0:8186`",
                "ingest.tokens[0].token: too short (5 characters); use at least 16 random characters",
                "ingest.tokens[1].site: must name the site this token writes for",
                "ingest.tokens[1]: needs token_sha256 (or token)",
                "ingest.tokens[1].name: `a` is also the name of ingest.tokens[0] (`a`, line 5 column 7); \
                 names must be unique",
                "sinks[0]: url `localhost:8086` must start with http:// or https://",
            ]
        );
    }

    #[test]
    fn empty_or_short_api_tokens_are_refused_at_load() {
        // `${X}` with X set to nothing arrives here as an empty token.
        let problems = parse(
            "ingest:\n  allow_anonymous: true\napi:\n  tokens:\n    - {name: a, token: '', role: admin}\n    \
             - {name: b, token: 0123456789, role: viewer}\n    - {name: b, token_sha256: abc, role: viewer}\n  \
             metrics_require_token: true\n",
        )
        .unwrap_err();
        let msgs: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "api.tokens[0].token: is empty (an unset ${VARIABLE}?); an empty token would let anyone in",
                "api.tokens[1].token: too short (10 characters); use at least 16 random characters",
                "api.tokens[2].token_sha256: must be 64 hex digits (see `dcwatch-collector hash-token`)",
                "api.tokens[2].name: `b` is also the name of api.tokens[1] (`b`, line 6 column 7); \
                 names must be unique",
            ]
        );
        let problems = parse("ingest:\n  allow_anonymous: true\napi:\n  metrics_require_token: true\n").unwrap_err();
        assert_eq!(
            problems[0].message,
            "api.metrics_require_token: no api.tokens are configured, so nothing could read /metrics"
        );
    }

    #[test]
    fn anonymous_writes_and_tokens_do_not_mix() {
        let problems =
            parse("ingest:\n  allow_anonymous: true\n  tokens:\n    - {name: a, token: 0123456789abcdef0, site: hn}\n")
                .unwrap_err();
        assert!(problems[0].message.starts_with("ingest.allow_anonymous: cannot be used with ingest.tokens"));
    }

    #[test]
    fn a_device_list_needs_the_poller_flag() {
        let problems =
            parse("ingest:\n  tokens:\n    - {name: a, token: 0123456789abcdef0, site: hn, devices: [ups1]}\n")
                .unwrap_err();
        assert_eq!(problems[0].message, "ingest.tokens[0].devices: lists devices, so set `poller: true` too");
    }

    #[test]
    fn no_tokens_is_refused_unless_anonymous_writes_are_allowed() {
        let problems = parse("ingest: {}\n").unwrap_err();
        assert!(problems[0].message.starts_with("ingest.tokens: no token is configured"), "{problems:?}");
        assert!(parse("ingest:\n  allow_anonymous: true\n").is_ok());
    }

    #[test]
    fn a_rate_limit_burst_below_one_second_is_refused_and_zero_turns_it_off() {
        let problems =
            parse("ingest:\n  allow_anonymous: true\n  rate_limit: {points_per_sec: 5000, burst_points: 100}\n")
                .unwrap_err();
        assert_eq!(
            problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>(),
            vec![
                "ingest.rate_limit.burst_points: must be at least points_per_sec (5000), \
                 or a token could never write one second's worth at once"
            ]
        );
        let off = parse("ingest:\n  allow_anonymous: true\n  rate_limit: {points_per_sec: 0}\n").unwrap();
        assert_eq!(off.ingest.rate_limit.rate().points_per_sec, 0.0);
    }

    #[test]
    fn a_missing_client_ca_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("server.pem");
        std::fs::write(&pem, "x").unwrap();
        let problems = parse(&format!(
            "listen:\n  tls:\n    cert_file: {p}\n    key_file: {p}\n    client_ca_file: {d}/nope.pem\n    \
             client_cert: required\ningest:\n  allow_anonymous: true\n",
            p = pem.display(),
            d = dir.path().display()
        ))
        .unwrap_err();
        let msgs: Vec<_> = problems.iter().map(|p| p.message.clone()).collect();
        assert_eq!(
            msgs,
            vec![format!("listen.tls.client_ca_file: {}/nope.pem is not a readable file", dir.path().display())]
        );
    }

    #[test]
    fn a_client_cert_name_needs_tls_with_a_client_ca() {
        let problems = parse(
            "ingest:\n  tokens:\n    - {name: a, token: 0123456789abcdef0, site: hn, client_cert_name: web01.dc.local}\n    \
             - {name: b, token: 0123456789abcdef1, site: hn, client_cert_name: 'not a name'}\n",
        )
        .unwrap_err();
        let msgs: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "ingest.tokens[0].client_cert_name: needs listen.tls with client_ca_file, \
                 or no client certificate could ever be verified",
                "ingest.tokens[1].client_cert_name: `not a name` is not a DNS name",
                "ingest.tokens[1].client_cert_name: needs listen.tls with client_ca_file, \
                 or no client certificate could ever be verified",
            ]
        );
    }

    /// The secret of the ingest and API tokens in these tests, in clear.
    const SECRET: &str = "0123456789abcdef0";

    fn messages_at(problems: &[Problem]) -> Vec<(Option<(u64, u64)>, &str)> {
        problems.iter().map(|p| (p.position, p.message.as_str())).collect()
    }

    #[test]
    fn the_same_ingest_token_twice_is_refused_at_the_later_entry_naming_both() {
        let hash = hex::encode(crate::auth::sha256(SECRET));
        let problems = parse(&format!(
            "ingest:\n  tokens:\n    - {{name: a, token: {SECRET}, site: hn}}\n    \
             - {{name: b, token: 0123456789abcdef1, site: hn}}\n    \
             - {{name: c, token_sha256: {hash}, site: hn}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((5, 7)),
                "ingest.tokens[2] (`c`): the same token as ingest.tokens[0] (`a`, line 3 column 7); \
                 every entry needs a token of its own"
            )]
        );
    }

    #[test]
    fn the_same_api_token_twice_is_refused() {
        let problems = parse(&format!(
            "ingest:\n  allow_anonymous: true\napi:\n  tokens:\n    - {{name: noc, token: {SECRET}, role: viewer}}\n    \
             - {{name: boss, token: {SECRET}, role: admin}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((6, 7)),
                "api.tokens[1] (`boss`): the same token as api.tokens[0] (`noc`, line 5 column 7); \
                 every entry needs a token of its own"
            )]
        );
    }

    #[test]
    fn an_api_token_that_is_also_an_ingest_token_is_refused_in_either_form() {
        let hash = hex::encode(crate::auth::sha256(SECRET));
        let problems = parse(&format!(
            "ingest:\n  tokens:\n    - name: web01\n      token: {SECRET}\n      site: hn\n\
             api:\n  tokens:\n    - name: noc\n      token_sha256: {hash}\n      role: viewer\n"
        ))
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((8, 7)),
                "api.tokens[0] (`noc`): the same token as ingest.tokens[0] (`web01`, line 3 column 7); \
                 an API token must not also be an ingest token"
            )]
        );
    }

    #[test]
    fn a_peer_secret_that_is_an_ingest_token_and_a_token_named_as_a_relay_are_refused() {
        let problems = parse(&format!(
            "ingest:\n  tokens:\n    - {{name: 'peer:b', token: {SECRET}, site: hn}}\n\
             alarms:\n  db: /tmp/x.db\n\
             peering:\n  name: a\n  peers:\n    - {{name: b, url: 'http://10.0.0.2:8186', secret: {SECRET}}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![
                (
                    Some((3, 8)),
                    "ingest.tokens[0].name: `peer:b` starts with `peer:`, which names what a peer collector relays"
                ),
                (
                    Some((9, 46)),
                    "peering.peers[0].secret (`b`): the same token as ingest.tokens[0] (`peer:b`, line 3 column 7); \
                     a peer's secret must be its own: a holder of it may act as the peer"
                ),
            ]
        );
    }

    #[test]
    fn a_peer_with_forward_is_a_relay_sink_after_the_configured_ones() {
        let c = parse(&format!(
            "ingest:\n  tokens:\n    - {{name: web01, token: {SECRET}, site: hn}}\n\
             sinks:\n  - {{name: vm, url: 'http://127.0.0.1:8428'}}\n\
             alarms:\n  db: /tmp/x.db\n\
             peering:\n  name: a\n  peers:\n    - {{name: b, url: 'https://10.0.0.2:8186', \
             secret: peer-secret-0123456789, forward: true, forward_keep_secs: 3600}}\n"
        ))
        .unwrap();
        let sinks = c.all_sinks();
        assert_eq!(sinks.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["vm", "peer:b"]);
        let r = &sinks[1];
        assert_eq!(
            (r.url.as_str(), r.token.as_deref(), r.flavour, r.max_in_flight, r.relay_keep),
            ("https://10.0.0.2:8186", Some("peer-secret-0123456789"), Flavour::V2, 1, Some(Duration::from_secs(3600)))
        );
        assert!(r.forwarder_settings(Duration::from_secs(1)).skip_relayed);
        assert!(!sinks[0].forwarder_settings(Duration::from_secs(1)).skip_relayed);
        let mut without = c.peering.clone().unwrap();
        (without.peers[0].forward, without.peers[0].forward_keep_secs) = (false, 0);
        assert_eq!(c.peering.as_ref().unwrap().without_forward(), without);
    }

    #[test]
    fn a_name_used_twice_in_one_table_is_refused_but_the_tables_may_share_one() {
        let problems = parse(
            "ingest:\n  tokens:\n    - {name: web01, token: 0123456789abcdef0, site: hn}\n    \
             - {name: web01, token: 0123456789abcdef1, site: hn}\n\
             api:\n  tokens:\n    - {name: web01, token: 0123456789abcdef2, role: viewer}\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((4, 7)),
                "ingest.tokens[1].name: `web01` is also the name of ingest.tokens[0] (`web01`, line 3 column 7); \
                 names must be unique"
            )]
        );
    }

    #[test]
    fn a_receiver_url_in_an_error_shows_no_password() {
        let problems = parse(
            "ingest:\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  receivers:\n    \
             - {name: a, webhook: {url: 'ftp://admin:S3cretPw@hooks.local/x'}}\n    \
             - {name: b, webhook: {url: 'admin:S3cretPw@hooks.local/x'}}\n",
        )
        .unwrap_err();
        let msgs: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "alarms.receivers[0] (a): url `ftp://***@hooks.local/x` must start with http:// or https://",
                "alarms.receivers[1] (b): url `***@hooks.local/x` must start with http:// or https://",
            ]
        );
    }

    #[test]
    fn a_duplicate_is_shown_at_its_line_and_column_after_the_file_name() {
        let problems = parse(&format!(
            "ingest:\n  tokens:\n    - {{name: a, token: {SECRET}, site: hn}}\n    - {{name: b, token: {SECRET}, site: hn}}\n"
        ))
        .unwrap_err();
        let e = dcwatch_common::config::ConfigError { path: "/x/collector.yaml".into(), problems };
        assert_eq!(
            e.to_string(),
            "/x/collector.yaml:4:7: ingest.tokens[1] (`b`): the same token as ingest.tokens[0] (`a`, line 3 column 7); \
             every entry needs a token of its own"
        );
    }

    #[test]
    fn a_site_listed_twice_is_refused_at_the_second_and_so_is_a_site_twice_in_a_service() {
        let problems = parse(
            "ingest:\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  sites:\n    - name: hn\n    - name: hcm\n    \
             - name: hn\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(Some((8, 7)), "alarms.sites[2].name: `hn` is also the name of an earlier site; list each site once")]
        );
        let problems = parse(
            "ingest:\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  services:\n    - name: web\n      \
             members: {hn: [web01], hn: [web02]}\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(Some((7, 30)), "`alarms.services[0].members.hn`: duplicate key (first at 7:17); keep one")]
        );
    }

    #[test]
    fn a_threshold_that_is_not_a_number_is_refused_at_its_key() {
        let problems = parse(
            "ingest:\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  builtin:\n    disk_used_pct: .nan\n  \
             rules:\n    - {name: hot, measurement: env, field: temperature_c, above: .nan}\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![
                (Some((6, 5)), "alarms.builtin.disk_used_pct: must be a number, found `NaN`"),
                (Some((8, 59)), "alarms.rules[0].above: must be a number, found `NaN`"),
            ]
        );
    }

    #[test]
    fn a_service_member_or_backup_at_a_site_not_configured_is_refused_naming_the_sites() {
        let problems = parse(&format!(
            "ingest:\n  tokens:\n    - {{name: web01, token: {SECRET}, site: hn}}\nalarms:\n  db: /tmp/x.db\n  \
             services:\n    - name: web\n      members: {{hn: [web01], hcm: [web02]}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((8, 30)),
                "alarms.services[0] (web).members.hcm: no site `hcm` is configured; \
                 the sites of alarms.sites and ingest.tokens are: hn"
            )]
        );
        let problems = parse(
            "ingest:\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  sites:\n    - name: hn\n    - name: hcm\n  \
             backups:\n    expected:\n      - {site: hn, host: db1, job: pg}\n      - {site: hnn, host: db1, job: pg}\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((11, 10)),
                "alarms.backups.expected[1].site: no site `hnn` is configured; \
                 the sites of alarms.sites and ingest.tokens are: hcm, hn"
            )]
        );
    }

    #[test]
    fn an_ingest_token_with_no_token_or_an_empty_one_is_refused_at_its_entry() {
        let problems = parse(
            "ingest:\n  tokens:\n    - {name: web01, site: hn}\n    - name: web02\n      site: hn\n      token: ''\n    \
             - {name: web03, site: hn, token_sha256: ''}\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![
                (Some((3, 7)), "ingest.tokens[0]: needs token_sha256 (or token)"),
                (
                    Some((6, 7)),
                    "ingest.tokens[1].token: is empty (an unset ${VARIABLE}?); an empty token would let anyone in"
                ),
                (
                    Some((7, 31)),
                    "ingest.tokens[2].token_sha256: must be 64 hex digits (see `dcwatch-collector hash-token`)"
                ),
            ]
        );
    }

    #[test]
    fn a_route_to_an_unknown_receiver_is_refused_at_the_name_listing_the_receivers() {
        let problems = parse(
            "ingest:\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  receivers:\n    \
             - {name: noc, webhook: {url: 'http://h/x'}}\n    - {name: boss, webhook: {url: 'http://h/y'}}\n  \
             routes:\n    - receivers: [noc, nco]\n      escalate_to: [bos]\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![
                (
                    Some((9, 24)),
                    "alarms.routes[0].receivers[1]: no receiver is named `nco`; the receivers are: boss, noc"
                ),
                (
                    Some((10, 21)),
                    "alarms.routes[0].escalate_to[0]: no receiver is named `bos`; the receivers are: boss, noc"
                ),
            ]
        );
    }

    #[test]
    fn a_device_in_two_poller_tokens_of_one_site_is_refused() {
        let problems = parse(
            "ingest:\n  tokens:\n    - {name: pa, token: 0123456789abcdef0, site: hn, poller: true, devices: [ups1]}\n    \
             - {name: pb, token: 0123456789abcdef1, site: hn, poller: true, devices: [ups2, ups1]}\n    \
             - {name: pc, token: 0123456789abcdef2, site: hcm, poller: true, devices: [ups1]}\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((4, 84)),
                "ingest.tokens[1].devices[1]: `ups1` at site `hn` is also ingest.tokens[0].devices[0] (`pa`); \
                 each device is polled by one agent"
            )]
        );
    }

    #[test]
    fn durations_are_read_in_the_forms_people_write() {
        let c = parse(
            "listen:\n  idle_timeout_secs: 2m\ningest:\n  allow_anonymous: true\n  read_timeout_secs: 45s\n\
             alarms:\n  db: /tmp/x.db\n  evaluate_every_ms: 2s\n  repeat_interval_secs: 1h30m\n  \
             silences:\n    max_duration_secs: 7d\n",
        )
        .unwrap();
        assert_eq!((c.listen.idle_timeout_secs, c.ingest.read_timeout_secs), (120, 45));
        let a = c.alarms.unwrap();
        assert_eq!((a.evaluate_every_ms, a.repeat_interval_secs, a.silences.max_duration_secs), (2000, 5400, 604_800));
        let problems = parse("ingest:\n  allow_anonymous: true\n  read_timeout_secs: 1y\n").unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((3, 22)),
                "ingest.read_timeout_secs: expected a duration such as 30s, 5m, 1h30m or a number of seconds, found `1y`"
            )]
        );
    }
}
