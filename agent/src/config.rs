//! The agent's configuration file (`/etc/dcwatch/agent.yaml`).
//!
//! See `configs/agent.yaml` for a commented example and
//! `docs/configuration.md` for the reference.

use std::path::PathBuf;
use std::time::Duration;

use dcwatch_common::config::{Problem, Validate, duration};
use dcwatch_common::forward::ForwarderSettings;
use dcwatch_common::write::{Flavour, WriterSettings};
use serde::Deserialize;

use crate::sources::backup::config::BackupConfig;
use crate::sources::default_interval;
use crate::sources::host::config::HostConfig;
use crate::sources::modbus::config::ModbusConfig;
use crate::sources::snmp::config::SnmpConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub agent: AgentSection,
    /// The one collector (or InfluxDB) the agent writes to. Give this or
    /// `outputs`, not both.
    #[serde(default, deserialize_with = "given_output")]
    pub output: OutputConfig,
    /// Several collectors (two sites), each named, each with its own cursor
    /// on the one queue, so one that is down delays only its own copy.
    /// Defaults to none (then `output` is required).
    #[serde(default)]
    pub outputs: Vec<OutputConfig>,
    /// The on-disk queue between the sources and the output.
    #[serde(default)]
    pub queue: QueueConfig,
    /// The sources this agent runs. Defaults to none (only the heartbeat).
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

/// Points wait here, on disk, until the output target acknowledges them: a
/// collector or network outage, or a restart of the agent, loses nothing
/// within these bounds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Directory of the queue files. Defaults to /var/lib/dcwatch-agent/queue
    /// (systemd's StateDirectory).
    #[serde(default = "default_queue_dir")]
    pub dir: PathBuf,
    /// Most bytes on disk; past it the oldest points are dropped and counted
    /// (`dcwatch_agent.dropped`). Defaults to 268435456 (256 MiB: weeks of
    /// one server's host metrics at 10 s).
    #[serde(default = "default_queue_bytes")]
    pub max_bytes: u64,
    /// Points older than this are dropped and counted. Defaults to 604800 (7 days).
    #[serde(default = "dcwatch_common::config::defaults::max_age_secs", deserialize_with = "duration::secs")]
    pub max_age_secs: u64,
    /// Size of one queue file. Defaults to 8388608 (8 MiB).
    #[serde(default = "default_segment_bytes")]
    pub segment_max_bytes: u64,
    /// What a full queue does: `drop_oldest` (the oldest points are dropped
    /// and counted; a collector down for days must not stop the newest
    /// readings) or `refuse` (the newest points are lost and counted instead).
    /// Defaults to `drop_oldest`.
    #[serde(default = "default_when_full")]
    pub when_full: dcwatch_common::spool::WhenFull,
    /// `drop_oldest` never drops points queued less than this long ago; new
    /// points are lost instead. Defaults to 3600 (1 hour).
    #[serde(default = "dcwatch_common::config::defaults::drop_min_age_secs", deserialize_with = "duration::secs")]
    pub drop_min_age_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            dir: default_queue_dir(),
            max_bytes: default_queue_bytes(),
            max_age_secs: dcwatch_common::config::defaults::max_age_secs(),
            segment_max_bytes: default_segment_bytes(),
            when_full: default_when_full(),
            drop_min_age_secs: dcwatch_common::config::defaults::drop_min_age_secs(),
        }
    }
}

impl QueueConfig {
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

fn default_when_full() -> dcwatch_common::spool::WhenFull {
    dcwatch_common::spool::WhenFull::DropOldest
}
fn default_queue_dir() -> PathBuf {
    PathBuf::from("/var/lib/dcwatch-agent/queue")
}
fn default_queue_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_segment_bytes() -> u64 {
    8 * 1024 * 1024
}

/// Who this agent is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Site this server belongs to (tag `site` on every point). Required.
    pub site: String,
    /// Host name (tag `host`). Defaults to the machine's hostname.
    #[serde(default)]
    pub host: Option<String>,
    /// Heartbeat interval, and the default interval of sources. Defaults to 10.
    #[serde(default = "default_interval", deserialize_with = "duration::secs")]
    pub interval_secs: u64,
    /// Log level (error, warn, info, debug, trace). Defaults to info; `RUST_LOG` wins.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Longest a stop (SIGTERM) or reload waits for a batch in flight; what
    /// is not sent stays queued. Defaults to 10.
    #[serde(default = "dcwatch_common::config::defaults::shutdown_timeout_secs", deserialize_with = "duration::secs")]
    pub shutdown_timeout_secs: u64,
}

/// Where the agent writes: a dcwatch collector, or InfluxDB directly.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Name of an entry of `outputs` (letters, digits, `-`, `_`; tag
    /// `output` of the heartbeat's `dcwatch_agent_output`, and its queue
    /// cursor `output-<name>`). Required there; not used under `output`.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether the file had this section (`output:`); false when it is
    /// left out for `outputs:`.
    #[serde(skip)]
    pub given: bool,
    /// Base URL, e.g. `https://collector.dc.local:8428`. Required.
    pub url: String,
    /// Organisation for the v2 write API. Defaults to "dcwatch".
    #[serde(default = "dcwatch_common::config::defaults::dcwatch")]
    pub org: String,
    /// Bucket for the v2 write API. Defaults to "dcwatch".
    #[serde(default = "dcwatch_common::config::defaults::dcwatch")]
    pub bucket: String,
    /// API token (`Authorization: Token …`). Use `${ENV}` or `${file:PATH}`.
    #[serde(default)]
    pub token: Option<String>,
    /// Gzip request bodies. Defaults to true.
    #[serde(default = "dcwatch_common::config::defaults::yes")]
    pub gzip: bool,
    /// Lines per request. Defaults to 5000.
    #[serde(default = "dcwatch_common::config::defaults::batch_max_lines")]
    pub batch_max_lines: u64,
    /// Longest a point waits before it is sent. Defaults to 1000.
    #[serde(default = "dcwatch_common::config::defaults::flush_interval_ms", deserialize_with = "duration::ms")]
    pub flush_interval_ms: u64,
    /// Request timeout. Defaults to 10000.
    #[serde(default = "dcwatch_common::config::defaults::timeout_ms", deserialize_with = "duration::ms")]
    pub timeout_ms: u64,
    /// Longest wait between retries. Defaults to 60.
    #[serde(default = "default_backoff", deserialize_with = "duration::secs")]
    pub max_backoff_secs: u64,
    /// PEM file of the CA that signed the collector's certificate (HTTPS).
    /// Defaults to the system's trusted roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate the agent presents when the collector asks for
    /// one (`listen.tls.client_ca_file`), with `key_file`. Defaults to none.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`. Defaults to none.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// One source of measurements, chosen by `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// CPU, load, memory, filesystems, network interfaces, uptime and systemd units.
    Host(HostConfig),
    /// UPS, ATS, rack PDUs and room sensors over SNMP, polled and by trap.
    Snmp(SnmpConfig),
    /// Feed meters, UPS, ATS and generators over Modbus (TCP, RTU, RTU over TCP).
    Modbus(ModbusConfig),
    /// Backup jobs: folders of backup files, status files written by backup
    /// scripts, restic and borg repositories.
    Backup(BackupConfig),
}

impl Default for OutputConfig {
    /// An `output:` left out (no URL): only valid with `outputs:`.
    fn default() -> Self {
        use dcwatch_common::config::defaults;
        OutputConfig {
            name: None,
            given: false,
            url: String::new(),
            org: defaults::dcwatch(),
            bucket: defaults::dcwatch(),
            token: None,
            gzip: true,
            batch_max_lines: defaults::batch_max_lines(),
            flush_interval_ms: defaults::flush_interval_ms(),
            timeout_ms: defaults::timeout_ms(),
            max_backoff_secs: default_backoff(),
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }
}

/// `output:` as the file writes it, marked as given.
fn given_output<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OutputConfig, D::Error> {
    let mut o = OutputConfig::deserialize(d)?;
    o.given = true;
    Ok(o)
}

/// One target the running agent writes to: `output`, or an entry of `outputs`.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    /// `None` for the single `output`; the entry's name in `outputs`.
    pub name: Option<&'a str>,
    pub config: &'a OutputConfig,
}

impl Output<'_> {
    /// The queue consumer (cursor file) and the forwarder's name in logs:
    /// `output` as before for the single form, `output-<name>` in a list.
    pub fn consumer(&self) -> String {
        match self.name {
            None => "output".into(),
            Some(n) => format!("output-{n}"),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}
fn default_backoff() -> u64 {
    60
}

impl SourceConfig {
    /// The source a section configures: the one place each kind is registered.
    pub fn source(&self) -> &dyn crate::sources::Source {
        match self {
            SourceConfig::Host(c) => c,
            SourceConfig::Snmp(c) => c,
            SourceConfig::Modbus(c) => c,
            SourceConfig::Backup(c) => c,
        }
    }
}

impl Validate for AgentConfig {
    fn validate(&self, p: &mut Vec<Problem>) {
        if self.agent.site.trim().is_empty() {
            p.push(Problem::general("agent.site: must name the site, e.g. `hn-dc1`"));
        }
        if self.agent.host.as_deref().is_some_and(|h| h.trim().is_empty()) {
            p.push(Problem::general("agent.host: must not be empty; leave it out to use the hostname"));
        }
        if self.agent.interval_secs == 0 {
            p.push(Problem::general("agent.interval_secs: must be at least 1"));
        }
        self.check_outputs(p);
        let q = &self.queue;
        q.spool_settings().check("queue", p);
        let mut backup_jobs = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            s.source().build(&format!("sources[{i}]"), p);
            // Jobs of all backup sources share the state file's names.
            if let SourceConfig::Backup(c) = s {
                for j in &c.jobs {
                    if !backup_jobs.insert(j.name.as_str()) {
                        p.push(Problem::general(format!(
                            "sources[{i}]: backup job `{}` is also in another backup source",
                            j.name
                        )));
                    }
                }
            }
        }
        self.check_devices_unique(p);
    }
}

/// Checks one output's settings; `key` is `output` or `outputs[i]`.
fn check_output(key: &str, o: &OutputConfig, p: &mut Vec<Problem>) {
    if let Err(e) = dcwatch_common::write::Writer::new(&writer_settings_of(o)) {
        let e = dcwatch_common::redact::redact_urls_in(&dcwatch_common::error_chain(&e));
        p.push(Problem::general(format!("{key}: {e}")));
    }
    if o.batch_max_lines == 0 {
        p.push(Problem::general(format!("{key}.batch_max_lines: must be at least 1")));
    }
    if o.timeout_ms == 0 {
        p.push(Problem::general(format!("{key}.timeout_ms: must be at least 1")));
    }
    if o.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        p.push(Problem::general(format!(
            "{key}.token: is empty (an unset ${{VARIABLE}}?); leave it out if the target needs no token"
        )));
    }
}

impl AgentConfig {
    /// `output` or `outputs`, exactly one of them; every output valid; the
    /// names of `outputs` present, plain and unique (they name cursor files).
    fn check_outputs(&self, p: &mut Vec<Problem>) {
        match (self.output.given, self.outputs.is_empty()) {
            (false, true) => p.push(Problem::general(
                "output: missing; give `output:` with the collector's url, or `outputs:` listing several collectors",
            )),
            (true, false) => p.push(Problem::general(
                "outputs: `output:` is also given; keep one of them (`outputs:` for several collectors)",
            )),
            (true, true) => {
                if self.output.name.is_some() {
                    p.push(Problem::general("output.name: only entries of `outputs:` have a name; leave it out here"));
                }
                check_output("output", &self.output, p);
            }
            (false, false) => {}
        }
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, o) in self.outputs.iter().enumerate() {
            let key = format!("outputs[{i}]");
            match o.name.as_deref() {
                None => p.push(Problem::general(format!(
                    "{key}: needs a `name` (e.g. `dc1`), which tells the outputs apart in the heartbeat and the queue"
                ))),
                Some(n) if !valid_output_name(n) => {
                    p.push(Problem::general(format!("{key}.name: `{n}` must be 1 to 32 letters, digits, `-` or `_`")))
                }
                Some(n) => {
                    if let Some(first) = seen.get(n) {
                        p.push(Problem::general(format!(
                            "{key}.name: `{n}` is also the name of outputs[{first}]; each output needs a name of its own"
                        )));
                    } else {
                        seen.insert(n, i);
                    }
                }
            }
            check_output(&key, o, p);
        }
    }

    /// The targets this agent writes to, in the order of the file.
    pub fn outputs(&self) -> Vec<Output<'_>> {
        if self.outputs.is_empty() {
            vec![Output { name: None, config: &self.output }]
        } else {
            self.outputs.iter().map(|o| Output { name: o.name.as_deref(), config: o }).collect()
        }
    }

    /// The queue consumers of [`Self::outputs`], in their order.
    pub fn consumers(&self) -> Vec<String> {
        self.outputs().iter().map(Output::consumer).collect()
    }

    /// Whether the outputs are a list (`outputs:`): then the heartbeat adds
    /// one `dcwatch_agent_output` point per output.
    pub fn has_output_list(&self) -> bool {
        !self.outputs.is_empty()
    }

    /// The `device` tag names one device: two sources (SNMP and Modbus, or
    /// two of one kind) polling devices of the same name would mix their
    /// points. Names within one source are checked by the source.
    fn check_devices_unique(&self, p: &mut Vec<Problem>) {
        let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, s) in self.sources.iter().enumerate() {
            let names: Vec<&str> = match s {
                SourceConfig::Snmp(c) => c.devices.iter().map(|d| d.name.as_str()).collect(),
                SourceConfig::Modbus(c) => c.devices.iter().map(|d| d.name.as_str()).collect(),
                _ => continue,
            };
            for (j, name) in names.into_iter().enumerate() {
                match first.get(name) {
                    Some(&k) if k != i => p.push(Problem::general(format!(
                        "sources[{i}].devices[{j}].name: `{name}` is also the name of a device of sources[{k}]; \
                         each device needs a name of its own (tag `device`)"
                    ))),
                    Some(_) => {}
                    None => {
                        first.insert(name, i);
                    }
                }
            }
        }
    }

    pub fn host_name(&self) -> String {
        self.agent.host.clone().unwrap_or_else(crate::sources::hostname)
    }

    /// What the sources read of this configuration.
    pub fn for_sources(&self) -> crate::sources::Agent {
        crate::sources::Agent {
            site: self.agent.site.clone(),
            host: self.host_name(),
            interval_secs: self.agent.interval_secs,
            queue_dir: self.queue.dir.clone(),
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.agent.interval_secs)
    }

    /// The single `output`'s writer ([`writer_settings_of`]).
    #[cfg(test)]
    pub fn writer_settings(&self) -> WriterSettings {
        writer_settings_of(&self.output)
    }

    /// The single `output`'s forwarder.
    #[cfg(test)]
    pub fn forwarder_settings(&self) -> ForwarderSettings {
        self.forwarder_settings_of(Output { name: None, config: &self.output })
    }

    /// The forwarder of one output, named as its queue consumer.
    pub fn forwarder_settings_of(&self, out: Output<'_>) -> ForwarderSettings {
        let o = out.config;
        ForwarderSettings {
            name: out.consumer(),
            batch_max_lines: o.batch_max_lines,
            flush_interval: Duration::from_millis(o.flush_interval_ms),
            max_backoff: Duration::from_secs(o.max_backoff_secs.max(1)),
            shutdown_timeout: Duration::from_secs(self.agent.shutdown_timeout_secs),
            // One server's points are few: one batch at a time keeps them in order.
            max_in_flight: 1,
            origins: None,
            skip_relayed: false,
            backlog_bound: None,
        }
    }
}

fn valid_output_name(n: &str) -> bool {
    (1..=32).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The writer of one output. A `user:password@` in the URL becomes basic
/// authentication (as the HTTP client would make it anyway) and leaves the
/// URL, which is then fit for logs and messages.
pub fn writer_settings_of(o: &OutputConfig) -> WriterSettings {
    let (url, username, password) = split_userinfo(&o.url);
    WriterSettings {
        url,
        flavour: Flavour::V2,
        org: o.org.clone(),
        bucket: o.bucket.clone(),
        database: String::new(),
        retention_policy: None,
        token: o.token.clone(),
        username,
        password,
        gzip: o.gzip,
        timeout: Duration::from_millis(o.timeout_ms),
        ca_file: o.ca_file.clone(),
        cert_file: o.cert_file.clone(),
        key_file: o.key_file.clone(),
    }
}

/// A URL without its userinfo, and the user and password it held
/// (percent-decoded). A URL that does not parse is returned as it is.
fn split_userinfo(url: &str) -> (String, Option<String>, Option<String>) {
    let Ok(mut u) = reqwest::Url::parse(url) else { return (url.to_string(), None, None) };
    if u.username().is_empty() && u.password().is_none() {
        return (url.to_string(), None, None);
    }
    let user = percent_decode(u.username());
    let password = u.password().map(percent_decode);
    // Cannot fail: the URL has a host, or it would have no userinfo.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    (u.to_string(), Some(user), password)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<AgentConfig, Vec<Problem>> {
        dcwatch_common::config::parse(text, Path::new("/x/agent.yaml"))
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let c = parse("agent:\n  site: hn\noutput:\n  url: http://127.0.0.1:8428\nsources:\n  - type: host\n").unwrap();
        assert_eq!(c.agent.interval_secs, 10);
        assert_eq!(c.output.batch_max_lines, 5000);
        assert_eq!(c.output.org, "dcwatch");
        assert!(c.output.gzip);
        let SourceConfig::Host(h) = &c.sources[0] else { panic!("not a host source") };
        assert_eq!(h.ignore_interfaces, vec!["lo".to_string()]);
    }

    #[test]
    fn the_queue_drops_its_oldest_points_when_full_unless_told_to_refuse() {
        let base = "agent:\n  site: hn\noutput:\n  url: http://127.0.0.1:8428\n";
        let s = parse(base).unwrap().queue.spool_settings();
        assert_eq!((s.when_full, s.drop_min_age.as_secs()), (dcwatch_common::spool::WhenFull::DropOldest, 3600));
        let s = parse(&format!("{base}queue:\n  when_full: refuse\n  drop_min_age_secs: 60\n"))
            .unwrap()
            .queue
            .spool_settings();
        assert_eq!((s.when_full, s.drop_min_age.as_secs()), (dcwatch_common::spool::WhenFull::Refuse, 60));
        let problems = parse(&format!("{base}queue:\n  when_full: drop_newest\n")).unwrap_err();
        assert_eq!(problems[0].position.map(|p| p.0), Some(6));
        assert!(problems[0].message.contains("drop_oldest"), "{}", problems[0].message);
    }

    #[test]
    fn an_unknown_source_type_is_reported_at_its_line() {
        let problems =
            parse("agent:\n  site: hn\noutput:\n  url: http://127.0.0.1:1\nsources:\n  - type: hots\n").unwrap_err();
        assert_eq!(problems[0].position.map(|p| p.0), Some(6));
        assert!(problems[0].message.contains("hots"), "{}", problems[0].message);
    }

    #[test]
    fn a_password_in_the_output_url_becomes_basic_auth_and_leaves_the_url() {
        let c =
            parse("agent:\n  site: hn\noutput:\n  url: https://dc%40hn:pa%3Ass@collector.dc.local:8428/x\n").unwrap();
        let w = c.writer_settings();
        assert_eq!(
            (w.url.as_str(), w.username.as_deref(), w.password.as_deref()),
            ("https://collector.dc.local:8428/x", Some("dc@hn"), Some("pa:ss"))
        );
        let problems = parse("agent:\n  site: hn\noutput:\n  url: ftp://admin:S3cretPw@collector:8428\n").unwrap_err();
        assert_eq!(problems[0].message, "output: url `ftp://collector:8428/` must start with http:// or https://");
        let problems = parse("agent:\n  site: hn\noutput:\n  url: http://admin:S3cretPw@[::1\n").unwrap_err();
        assert_eq!(problems[0].message, "output: url `http://***@[::1` is not a valid URL: invalid IPv6 address");
    }

    #[test]
    fn semantic_problems_are_reported_together_with_key_paths() {
        let problems = parse(
            "agent:\n  site: ''\n  interval_secs: 0\noutput:\n  url: ftp://x\nsources:\n  - type: host\n    interval_secs: 0\n",
        )
        .unwrap_err();
        let msgs: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "agent.site: must name the site, e.g. `hn-dc1`",
                "agent.interval_secs: must be at least 1",
                "output: url `ftp://x` must start with http:// or https://",
                "sources[0].interval_secs: must be at least 1",
            ]
        );
    }

    fn messages_at(problems: &[Problem]) -> Vec<(Option<(u64, u64)>, &str)> {
        problems.iter().map(|p| (p.position, p.message.as_str())).collect()
    }

    #[test]
    fn durations_are_read_in_the_forms_people_write_and_stay_numbers() {
        let c = parse(
            "agent:\n  site: hn\n  interval_secs: 30s\n  shutdown_timeout_secs: 1m\noutput:\n  url: http://x\n  \
             timeout_ms: 2s\n  flush_interval_ms: 500ms\n  max_backoff_secs: 90\nqueue:\n  max_age_secs: 7d\n  \
             drop_min_age_secs: 1h30m\nsources:\n  - type: host\n    interval_secs: 5m\n",
        )
        .unwrap();
        assert_eq!((c.agent.interval_secs, c.agent.shutdown_timeout_secs), (30, 60));
        assert_eq!((c.output.timeout_ms, c.output.flush_interval_ms, c.output.max_backoff_secs), (2000, 500, 90));
        assert_eq!((c.queue.max_age_secs, c.queue.drop_min_age_secs), (604_800, 5400));
        let SourceConfig::Host(h) = &c.sources[0] else { panic!("not a host source") };
        assert_eq!(h.interval_secs, Some(300));
    }

    #[test]
    fn a_device_name_used_by_two_sources_is_refused_at_the_later_one() {
        let problems = parse(
            "agent:\n  site: hn\noutput:\n  url: http://x\nsources:\n  - type: snmp\n    devices:\n      \
             - {name: ups1, address: 10.0.0.1, profile: ups-mib}\n  - type: modbus\n    devices:\n      \
             - {name: meter-a, address: 10.0.0.2, profile: sdm630}\n      \
             - {name: ups1, address: 10.0.0.3, profile: sdm630}\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((12, 10)),
                "sources[1].devices[1].name: `ups1` is also the name of a device of sources[0]; \
                 each device needs a name of its own (tag `device`)"
            )]
        );
    }

    /// Regression: a source's fields are buffered (by `type`), and a wrong
    /// type in one was reported at the list item as "expected u32, found a map".
    #[test]
    fn a_wrong_type_inside_a_source_is_named_at_its_value() {
        let problems = parse(
            "agent:\n  site: hn\noutput:\n  url: http://x\nsources:\n  - type: snmp\n    max_repetitions: many\n",
        )
        .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(Some((7, 22)), "sources[0].max_repetitions: expected a whole number, found `many`")]
        );
    }

    #[test]
    fn an_empty_output_token_is_refused_at_its_key() {
        let problems = parse("agent:\n  site: hn\noutput:\n  url: http://x\n  token: ''\n").unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((5, 3)),
                "output.token: is empty (an unset ${VARIABLE}?); leave it out if the target needs no token"
            )]
        );
    }

    const TWO_SITES: &str = "agent:\n  site: hn\noutputs:\n  - name: dc1\n    url: http://dc1.local:8428\n    token: a\n  \
                             - name: dr\n    url: https://dr.local:8428\n    max_backoff_secs: 30\n";

    #[test]
    fn outputs_list_several_collectors_each_with_its_own_cursor_and_settings() {
        let c = parse(TWO_SITES).unwrap();
        let outs = c.outputs();
        assert_eq!(outs.iter().map(|o| o.name).collect::<Vec<_>>(), vec![Some("dc1"), Some("dr")]);
        assert_eq!(c.consumers(), vec!["output-dc1".to_string(), "output-dr".to_string()]);
        assert_eq!(writer_settings_of(outs[1].config).url, "https://dr.local:8428");
        assert_eq!(outs[0].config.token.as_deref(), Some("a"));
        let f = c.forwarder_settings_of(outs[1]);
        assert_eq!((f.name.as_str(), f.max_backoff.as_secs(), f.batch_max_lines), ("output-dr", 30, 5000));
        assert!(c.has_output_list());
    }

    #[test]
    fn the_single_output_keeps_its_cursor_named_output() {
        let c = parse("agent:\n  site: hn\noutput:\n  url: http://x\n").unwrap();
        assert_eq!(c.consumers(), vec!["output".to_string()]);
        assert_eq!(c.outputs()[0].name, None);
        assert_eq!(c.forwarder_settings().name, "output");
        assert!(!c.has_output_list());
    }

    #[test]
    fn two_outputs_of_one_name_are_refused_at_the_second_name() {
        let problems =
            parse("agent:\n  site: hn\noutputs:\n  - name: dc1\n    url: http://a\n  - name: dc1\n    url: http://b\n")
                .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((6, 5)),
                "outputs[1].name: `dc1` is also the name of outputs[0]; each output needs a name of its own"
            )]
        );
    }

    #[test]
    fn each_output_of_the_list_is_checked_under_its_own_key() {
        let problems =
            parse("agent:\n  site: hn\noutputs:\n  - url: http://a\n  - name: dr/1\n    url: ftp://b\n    token: ''\n")
                .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![
                (
                    Some((4, 5)),
                    "outputs[0]: needs a `name` (e.g. `dc1`), which tells the outputs apart in the heartbeat and the queue"
                ),
                (Some((5, 5)), "outputs[1].name: `dr/1` must be 1 to 32 letters, digits, `-` or `_`"),
                (Some((5, 5)), "outputs[1]: url `ftp://b` must start with http:// or https://"),
                (
                    Some((7, 5)),
                    "outputs[1].token: is empty (an unset ${VARIABLE}?); leave it out if the target needs no token"
                ),
            ]
        );
    }

    #[test]
    fn no_output_or_both_forms_are_refused() {
        let problems = parse("agent:\n  site: hn\n").unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                None,
                "output: missing; give `output:` with the collector's url, or `outputs:` listing several collectors"
            )]
        );
        let problems =
            parse("agent:\n  site: hn\noutput:\n  url: http://a\noutputs:\n  - name: b\n    url: http://b\n")
                .unwrap_err();
        assert_eq!(
            messages_at(&problems),
            vec![(
                Some((5, 1)),
                "outputs: `output:` is also given; keep one of them (`outputs:` for several collectors)"
            )]
        );
    }
}
