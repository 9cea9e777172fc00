//! The agent's configuration file (`/etc/dcwatch/agent.yaml`).
//!
//! See `configs/agent.yaml` for a commented example and
//! `docs/configuration.md` for the reference.

use std::path::PathBuf;
use std::time::Duration;

use dcwatch_common::config::{Problem, Validate};
use dcwatch_common::forward::ForwarderSettings;
use dcwatch_common::write::{Flavour, WriterSettings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub agent: AgentSection,
    pub output: OutputConfig,
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
#[derive(Debug, Clone, Deserialize)]
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
    #[serde(default = "dcwatch_common::config::defaults::max_age_secs")]
    pub max_age_secs: u64,
    /// Size of one queue file. Defaults to 8388608 (8 MiB).
    #[serde(default = "default_segment_bytes")]
    pub segment_max_bytes: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            dir: default_queue_dir(),
            max_bytes: default_queue_bytes(),
            max_age_secs: dcwatch_common::config::defaults::max_age_secs(),
            segment_max_bytes: default_segment_bytes(),
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
        )
    }
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Site this server belongs to (tag `site` on every point). Required.
    pub site: String,
    /// Host name (tag `host`). Defaults to the machine's hostname.
    #[serde(default)]
    pub host: Option<String>,
    /// Heartbeat interval, and the default interval of sources. Defaults to 10.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Log level (error, warn, info, debug, trace). Defaults to info; `RUST_LOG` wins.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Longest a stop (SIGTERM) or reload waits for a batch in flight; what
    /// is not sent stays queued. Defaults to 10.
    #[serde(default = "dcwatch_common::config::defaults::shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
}

/// Where the agent writes: a dcwatch collector, or InfluxDB directly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
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
    #[serde(default = "dcwatch_common::config::defaults::flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Request timeout. Defaults to 10000.
    #[serde(default = "dcwatch_common::config::defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Longest wait between retries. Defaults to 60.
    #[serde(default = "default_backoff")]
    pub max_backoff_secs: u64,
    /// PEM file of the CA that signed the collector's certificate (HTTPS).
    /// Defaults to the system's trusted roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// One source of measurements, chosen by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// CPU, load, memory, filesystems, network interfaces, uptime and systemd units.
    Host(HostConfig),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Polling interval. Defaults to `agent.interval_secs`.
    #[serde(default)]
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

fn default_interval() -> u64 {
    10
}
fn default_log_level() -> String {
    "info".into()
}
fn default_backoff() -> u64 {
    60
}
fn default_ignore_ifaces() -> Vec<String> {
    vec!["lo".into()]
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
        if let Err(e) = dcwatch_common::write::Writer::new(&self.writer_settings()) {
            p.push(Problem::general(format!("output: {e}")));
        }
        let o = &self.output;
        if o.batch_max_lines == 0 {
            p.push(Problem::general("output.batch_max_lines: must be at least 1"));
        }
        let q = &self.queue;
        q.spool_settings().check("queue", p);
        if o.timeout_ms == 0 {
            p.push(Problem::general("output.timeout_ms: must be at least 1"));
        }
        for (i, s) in self.sources.iter().enumerate() {
            match s {
                SourceConfig::Host(h) => {
                    if h.interval_secs == Some(0) {
                        p.push(Problem::general(format!("sources[{i}].interval_secs: must be at least 1")));
                    }
                    for (j, u) in h.systemd_units.iter().enumerate() {
                        if u.trim().is_empty() || u.contains(char::is_whitespace) {
                            p.push(Problem::general(format!(
                                "sources[{i}].systemd_units[{j}]: `{u}` is not a unit name"
                            )));
                        }
                    }
                }
            }
        }
    }
}

impl AgentConfig {
    pub fn host_name(&self) -> String {
        self.agent.host.clone().unwrap_or_else(hostname)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.agent.interval_secs)
    }

    pub fn writer_settings(&self) -> WriterSettings {
        let o = &self.output;
        WriterSettings {
            url: o.url.clone(),
            flavour: Flavour::V2,
            org: o.org.clone(),
            bucket: o.bucket.clone(),
            database: String::new(),
            retention_policy: None,
            token: o.token.clone(),
            username: None,
            password: None,
            gzip: o.gzip,
            timeout: Duration::from_millis(o.timeout_ms),
            ca_file: o.ca_file.clone(),
        }
    }

    pub fn forwarder_settings(&self) -> ForwarderSettings {
        let o = &self.output;
        ForwarderSettings {
            name: "output".into(),
            batch_max_lines: o.batch_max_lines,
            flush_interval: Duration::from_millis(o.flush_interval_ms),
            max_backoff: Duration::from_secs(o.max_backoff_secs.max(1)),
            shutdown_timeout: Duration::from_secs(self.agent.shutdown_timeout_secs),
            // One server's points are few: one batch at a time keeps them in order.
            max_in_flight: 1,
        }
    }
}

/// The machine's hostname, as `uname -n` gives it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| sysinfo::System::host_name().ok())
        .unwrap_or_else(|| "unknown".into())
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
        match &c.sources[0] {
            SourceConfig::Host(h) => assert_eq!(h.ignore_interfaces, vec!["lo".to_string()]),
        }
    }

    #[test]
    fn an_unknown_source_type_is_reported_at_its_line() {
        let problems =
            parse("agent:\n  site: hn\noutput:\n  url: http://127.0.0.1:1\nsources:\n  - type: hots\n").unwrap_err();
        assert_eq!(problems[0].position.map(|p| p.0), Some(6));
        assert!(problems[0].message.contains("hots"), "{}", problems[0].message);
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
}
