//! Sources of measurements. Each configured source runs in its own task on
//! its own interval, so a slow one cannot delay the others.

pub mod backup;
pub mod host;
pub mod modbus;
pub mod normal;
pub mod profile_files;
pub mod snmp;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dcwatch_common::config::Problem;
use dcwatch_common::lp::Point;
use dcwatch_common::spool::{AppendError, Committer, Spool};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The agent's interval and the sources' default one, in seconds.
pub fn default_interval() -> u64 {
    10
}

/// What every polling source checks first: its profiles (directory) load,
/// its interval and timeout are at least 1. Returns the profiles.
pub fn check_poller<P>(
    profiles: Result<Vec<P>, profile_files::ProfileError>,
    interval_secs: u64,
    timeout_ms: u64,
    at: &str,
    p: &mut Vec<Problem>,
) -> Vec<P> {
    let profiles = profiles.unwrap_or_else(|e| {
        p.push(Problem::general(format!("{at}.profiles_dir: {}", dcwatch_common::error_chain(&e))));
        Vec::new()
    });
    if interval_secs == 0 {
        p.push(Problem::general(format!("{at}.interval_secs: must be at least 1")));
    }
    if timeout_ms == 0 {
        p.push(Problem::general(format!("{at}.timeout_ms: must be at least 1")));
    }
    profiles
}

/// A device's or job's name: given (else `empty`), and not another `what`'s.
pub fn check_name(names: &mut BTreeSet<String>, at: &str, name: &str, empty: &str, what: &str, p: &mut Vec<Problem>) {
    if name.trim().is_empty() {
        p.push(Problem::general(format!("{at}.name: {empty}")));
    } else if !names.insert(name.to_string()) {
        p.push(Problem::general(format!("{at}.name: `{name}` is used by another {what}")));
    }
}

/// A device's profile is one of `known` (when they loaded).
pub fn check_profile(known: &[&str], at: &str, name: &str, p: &mut Vec<Problem>) {
    if !known.is_empty() && !known.contains(&name) {
        p.push(Problem::general(format!("{at}.profile: `{name}` is not a profile; known: {}", known.join(", "))));
    }
}

/// Counters every source adds to; the heartbeat reports them.
#[derive(Debug, Default)]
pub struct SourceStats {
    pub points_total: AtomicU64,
    pub errors_total: AtomicU64,
}

/// The on-disk queue the sources write to and the output reads from.
pub struct Queue {
    pub spool: Arc<Spool>,
    committer: Arc<Committer>,
    /// Points that could not be queued (a full or failing disk).
    pub lost_points: AtomicU64,
    failing: AtomicBool,
}

impl Queue {
    pub fn new(spool: Arc<Spool>) -> Queue {
        let committer = Committer::start(spool.clone());
        Queue { spool, committer, lost_points: AtomicU64::new(0), failing: AtomicBool::new(false) }
    }

    /// Appends one record. The sync is asked for, not waited on: a killed
    /// agent loses nothing (the data is in the page cache); only a machine
    /// crash can lose the last moment.
    fn push(&self, data: &[u8], lines: u64) {
        match self.spool.append(lines, data, dcwatch_common::now_ns()) {
            Ok(seq) => {
                self.committer.request(seq);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the queue accepts points again");
                }
            }
            Err(e) => {
                self.lost_points.fetch_add(lines, Ordering::Relaxed);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    let settings = self.spool.settings();
                    if let AppendError::Full { .. } = e {
                        // `refuse`, or `drop_oldest` with every segment younger
                        // than `drop_min_age_secs`.
                        tracing::error!(
                            dir = %settings.dir.display(), error = %e, when_full = settings.when_full.label(),
                            drop_min_age_secs = settings.drop_min_age.as_secs(),
                            "the queue is full (queue.max_bytes) and may drop nothing older; new points are lost until the collector takes some"
                        );
                    } else {
                        tracing::error!(
                            dir = %settings.dir.display(), error = %e,
                            "cannot write to the queue (is the disk full?); points are lost until this clears"
                        );
                    }
                }
            }
        }
    }
}

/// The power states in `points` (`schema::POWER_STATE_FIELDS`: UPS status
/// and on-battery, feed live, ATS source, generator running, device up): when they change from one
/// poll to the next, the points are sent at once, not at the batch timer.
pub fn power_state(points: &[Point]) -> String {
    use dcwatch_common::lp::OwnedValue;
    let mut sig = String::new();
    for p in points {
        for (k, v) in &p.fields {
            if dcwatch_common::schema::is_power_state(p.measurement.as_ref(), k.as_ref()) {
                let v = match v {
                    OwnedValue::Bool(b) => b.to_string(),
                    OwnedValue::Str(s) => s.clone(),
                    _ => continue,
                };
                sig.push_str(&format!(
                    "{}|{}|{k}={v};",
                    p.measurement,
                    p.tags.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")
                ));
            }
        }
    }
    sig
}

/// Tags every point with the agent's `host`, after `site`: the points of
/// the devices an agent polls name it as the host's own do.
pub fn tag_host(points: &mut [Point], host: &str) {
    for p in points {
        p.tags.insert(1.min(p.tags.len()), ("host".into(), host.to_string()));
    }
}

/// Serializes points and queues them as one record.
pub fn emit(points: &[Point], out: &Queue, stats: &SourceStats) {
    let mut buf = Vec::with_capacity(points.len() * 128);
    let lines = points.iter().filter(|p| p.write_to(&mut buf)).count() as u64;
    if lines > 0 {
        stats.points_total.fetch_add(lines, Ordering::Relaxed);
        out.push(&buf, lines);
    }
}

/// What the sources read of the agent's configuration: who they write
/// for, and the defaults they fall back to. The configuration builds it
/// (`AgentConfig::for_sources`); the sources never see the whole of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Tag `site` of every point.
    pub site: String,
    /// Tag `host` of every point (`agent.host`, else the machine's hostname).
    pub host: String,
    /// The agent's interval: the default of sources that set none.
    pub interval_secs: u64,
    /// The queue's directory; the backup state file defaults to beside it.
    pub queue_dir: PathBuf,
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

/// What a running source is given: who it is writing for, where its points
/// go, and when to stop.
pub struct Context<'a> {
    /// Site, host and the defaults of the agent.
    pub agent: &'a Agent,
    pub out: &'a Arc<Queue>,
    pub stats: &'a Arc<SourceStats>,
    pub shutdown: &'a watch::Receiver<bool>,
    /// Backup state files by path: two backup sources with one file share it.
    pub backup_states: HashMap<PathBuf, Arc<backup::StateFile>>,
}

/// What `once` gives: the points, for stdout.
pub type Once<'a> = Pin<Box<dyn Future<Output = Result<Vec<Point>, SourceError>> + 'a>>;

/// Why a source cannot start (`Built::spawn`) or collect once: problems
/// with single devices are not this, they are reported and counted.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Host(#[from] host::HostError),
    /// The socket SNMP polls go out of.
    #[error("cannot open a UDP socket")]
    Socket(#[source] Box<async_snmp::Error>),
    /// A device's poll panicked or was cancelled.
    #[error("a poll task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// One kind of source, as its configuration section (`type: …`). Each kind
/// is registered once, in `config::SourceConfig`.
pub trait Source {
    /// Checks the section and builds the source from it: profiles loaded,
    /// strings read into typed values, once. Problems carry the key path
    /// `at`; None when there was one.
    fn build(&self, at: &str, p: &mut Vec<Problem>) -> Option<Box<dyn Built>>;
}

/// A source built from its section: the one shape the daemon, `once` and
/// `probe` run. Nothing in it is parsed again.
pub trait Built {
    /// Starts the source's tasks (the daemon).
    fn spawn(&self, ctx: &mut Context<'_>) -> Result<Vec<JoinHandle<()>>, SourceError>;
    /// Collects once (`dcwatch-agent once`); problems with single devices
    /// go to stderr.
    fn once<'a>(&'a self, agent: &'a Agent) -> Once<'a>;
}

/// The problems of sections that did not build (a loaded config has none).
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
pub struct BuildError {
    pub problems: Vec<Problem>,
}

/// Builds every section of `sections` (`sources[i]`).
pub fn build_all<'a>(sections: impl IntoIterator<Item = &'a dyn Source>) -> Result<Vec<Box<dyn Built>>, BuildError> {
    let mut p = Vec::new();
    let built: Vec<_> =
        sections.into_iter().enumerate().filter_map(|(i, s)| s.build(&format!("sources[{i}]"), &mut p)).collect();
    if p.is_empty() { Ok(built) } else { Err(BuildError { problems: p }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polled_devices_points_carry_the_agents_host_after_the_site() {
        // Regression: SNMP and Modbus points had no `host` tag, though every point has one.
        let mut points = [Point::new("ups", 7).tag("site", "hn").tag("device", "u").f64("load_pct", 35.0)];
        tag_host(&mut points, "mon1");
        assert_eq!(crate::sources::normal::line(&points[0]), "ups,site=hn,host=mon1,device=u load_pct=35 7");
    }
}
