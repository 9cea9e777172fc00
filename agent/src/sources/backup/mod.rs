//! The backup source: one task per job. A job is checked at start, on its
//! interval, and — when watching — within a debounce of a change to its
//! folder, status file or local repository; it is reported on the source's
//! interval in between, its age counting on.
//!
//! What each kind reads is in its own module; this one schedules, merges a
//! check with what the job's state file remembers (the last success, its
//! size), and writes the `backup` point.

pub mod config;
mod directory;
mod state;
mod status_file;
mod tools;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dcwatch_common::lp::Point;
use dcwatch_common::schema::{f, m};
use tokio::sync::{Notify, watch as tokio_watch};

use self::config::{BackupConfig, BackupJob, BackupKind};
use super::{Queue, SourceStats, emit};
pub use state::StateFile;

/// A job's status (`status` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// The newest backup exists and succeeded.
    #[default]
    Ok,
    /// The last run failed, or the repository or status file cannot be read.
    Failed,
    /// A run is in progress (a status file with a start and no end; a
    /// folder's newest file still being written).
    Running,
    /// Nothing found: no file matches, no snapshot, no status file.
    Missing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Running => "running",
            Status::Missing => "missing",
        }
    }
}

/// What one check found. Times are Unix seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub status: Status,
    pub message: Option<String>,
    pub last_success_ts: Option<i64>,
    pub last_size_bytes: Option<u64>,
    /// The size of the successful backup before the last.
    pub prev_size_bytes: Option<u64>,
    pub duration_s: Option<f64>,
    /// Backups kept: files, snapshots or archives.
    pub copies: Option<u64>,
    pub oldest_ts: Option<i64>,
    pub total_bytes: Option<u64>,
    pub exit_status: Option<i64>,
    /// What identifies the last backup (file name, snapshot or archive id).
    pub last_id: Option<String>,
    pub mirror_last_success_ts: Option<i64>,
    pub mirror_copies: Option<u64>,
    /// Look again this soon (a file still settling); not reported.
    pub recheck_after_s: Option<u64>,
}

impl Report {
    pub fn failed(message: impl Into<String>) -> Report {
        Report { status: Status::Failed, message: Some(message.into()), ..Report::default() }
    }

    pub fn missing(message: impl Into<String>) -> Report {
        Report { status: Status::Missing, message: Some(message.into()), ..Report::default() }
    }
}

/// A check's outcome: a report, or "look again shortly" (a status file
/// caught half-written).
pub enum Checked {
    Report(Report),
    Retry(Duration, String),
}

/// What a job's check needs besides the job.
pub struct Ctx {
    pub timeout: Duration,
}

/// Checks one job now.
pub async fn check(job: &BackupJob, ctx: &Ctx, state: &StateFile) -> Checked {
    let now = dcwatch_common::now_ns() / 1_000_000_000;
    match job.kind {
        BackupKind::Directory => {
            let (pattern, mirror, settle) = (job.path.clone().unwrap_or_default(), job.mirror.clone(), job.settle_secs);
            // A hung network mount blocks its scan: the job says so instead
            // of going quiet (the thread stays blocked until the mount answers).
            let scan = tokio::task::spawn_blocking(move || {
                let mut r = directory::scan(&pattern, settle, now);
                if let Some(m) = mirror {
                    let mr = directory::scan(&m, settle, now);
                    r.mirror_last_success_ts = mr.last_success_ts;
                    r.mirror_copies = Some(mr.copies.unwrap_or(0));
                }
                r
            });
            let r = match tokio::time::timeout(ctx.timeout, scan).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Report::failed(format!("folder scan panicked: {e}")),
                Err(_) => Report::failed(format!(
                    "the folder scan did not finish within {} s (a hung network mount?)",
                    ctx.timeout.as_secs()
                )),
            };
            Checked::Report(r)
        }
        BackupKind::StatusFile => {
            let path = job.path.clone().unwrap_or_default();
            let name = job.name.clone();
            tokio::task::spawn_blocking(move || status_file::read(Path::new(&path), &name, now))
                .await
                .unwrap_or_else(|e| Checked::Report(Report::failed(format!("status file read panicked: {e}"))))
        }
        BackupKind::Restic => {
            Checked::Report(tools::restic(job, job.timeout_secs.map_or(ctx.timeout, Duration::from_secs), state).await)
        }
        BackupKind::Borg => {
            Checked::Report(tools::borg(job, job.timeout_secs.map_or(ctx.timeout, Duration::from_secs), state).await)
        }
    }
}

/// The `backup` point of a job's report at `now_ns`.
pub fn point(site: &str, host: &str, job: &BackupJob, r: &Report, now_ns: i64) -> Point {
    let now = now_ns / 1_000_000_000;
    let mut p = Point::new(m::BACKUP, now_ns)
        .tag("site", site)
        .tag("host", host)
        .tag("job", job.name.as_str())
        .tag("kind", job.kind.as_str())
        .str(f::STATUS, r.status.as_str())
        .i64("rpo_s", (job.rpo_hours * 3600.0).round() as i64);
    if let Some(ts) = r.last_success_ts {
        p = p.i64(f::LAST_SUCCESS_TS, ts).i64("age_s", (now - ts).max(0));
    }
    if let Some(b) = r.last_size_bytes {
        p = p.u64(f::LAST_SIZE_BYTES, b);
        if let Some(prev) = r.prev_size_bytes.filter(|p| *p > 0) {
            let pct = (b as f64 - prev as f64) / prev as f64 * 100.0;
            p = p.f64(f::SIZE_CHANGE_PCT, (pct * 10.0).round() / 10.0);
        }
    }
    if let Some(d) = r.duration_s {
        p = p.f64("duration_s", d);
    }
    if let Some(c) = r.copies {
        p = p.u64("copies", c);
    }
    if let Some(t) = r.total_bytes {
        p = p.u64("total_bytes", t);
    }
    if let Some(o) = r.oldest_ts {
        p = p.i64("oldest_age_s", (now - o).max(0));
    }
    if let Some(e) = r.exit_status {
        p = p.i64("exit_status", e);
    }
    if let Some(c) = r.mirror_copies {
        p = p.u64("mirror_copies", c);
    }
    if let Some(ts) = r.mirror_last_success_ts {
        p = p.i64("mirror_last_success_ts", ts).i64("mirror_age_s", (now - ts).max(0));
    }
    if let Some(m) = &r.message {
        p = p.str("message", m.as_str());
    }
    p
}

/// Starts one task per job (and the watcher they share).
pub fn spawn(
    c: &BackupConfig,
    state: Arc<StateFile>,
    site: &str,
    host: &str,
    out: &Arc<Queue>,
    stats: &Arc<SourceStats>,
    shutdown: &tokio_watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let wakes: Vec<Arc<Notify>> = c.jobs.iter().map(|_| Arc::new(Notify::new())).collect();
    let watcher = if c.watch { watch::Watcher::start(&c.jobs, &wakes) } else { None };
    let watcher = watcher.map(Arc::new);
    let ctx = Arc::new(Ctx { timeout: Duration::from_secs(c.timeout_secs) });
    let mut tasks = Vec::new();
    for (i, job) in c.jobs.iter().enumerate() {
        let tool = matches!(job.kind, BackupKind::Restic | BackupKind::Borg);
        let check_every =
            Duration::from_secs(job.interval_secs.unwrap_or(if tool { c.tool_interval_secs } else { c.interval_secs }));
        let task = JobTask {
            job: job.clone(),
            index: i,
            site: site.to_string(),
            host: host.to_string(),
            report_every: Duration::from_secs(c.interval_secs),
            check_every,
            debounce: Duration::from_millis(c.debounce_ms),
            ctx: ctx.clone(),
            state: state.clone(),
            wake: wakes[i].clone(),
            watcher: watcher.clone(),
            out: out.clone(),
            stats: stats.clone(),
        };
        tasks.push(tokio::spawn(task.run(shutdown.clone())));
    }
    tasks
}

struct JobTask {
    job: BackupJob,
    index: usize,
    site: String,
    host: String,
    report_every: Duration,
    check_every: Duration,
    debounce: Duration,
    ctx: Arc<Ctx>,
    state: Arc<StateFile>,
    wake: Arc<Notify>,
    watcher: Option<Arc<watch::Watcher>>,
    out: Arc<Queue>,
    stats: Arc<SourceStats>,
}

impl JobTask {
    async fn run(self, mut shutdown: tokio_watch::Receiver<bool>) {
        use tokio::time::Instant;
        let mut last: Option<Report> = None;
        let mut next_check = Instant::now();
        let mut next_report = Instant::now() + self.report_every;
        let mut last_failure: Option<String> = None;
        loop {
            let now = Instant::now();
            if now >= next_check {
                next_check = now + self.check_every;
                match check(&self.job, &self.ctx, &self.state).await {
                    Checked::Report(mut r) => {
                        if let Some(after) = r.recheck_after_s {
                            next_check = next_check.min(now + Duration::from_secs(after));
                        }
                        if let Some(w) = &self.watcher {
                            w.retry(self.index);
                        }
                        self.state.merge(&self.job.name, &mut r);
                        self.log_change(&r, &mut last_failure);
                        self.send(&r);
                        last = Some(r);
                        next_report = Instant::now() + self.report_every;
                    }
                    Checked::Retry(after, why) => {
                        tracing::debug!(job = %self.job.name, reason = %why, "looking again shortly");
                        next_check = now + after;
                    }
                }
            } else if now >= next_report {
                if let Some(r) = &last {
                    self.send(r);
                }
                if let Some(w) = &self.watcher {
                    w.retry(self.index);
                }
                next_report = now + self.report_every;
            }
            let at = next_check.min(next_report);
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep_until(at) => {}
                _ = self.wake.notified() => {
                    // Let the writer finish: more changes within the
                    // debounce are one rescan.
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(self.debounce) => {}
                    }
                    next_check = Instant::now();
                }
            }
        }
    }

    fn send(&self, r: &Report) {
        let p = point(&self.site, &self.host, &self.job, r, dcwatch_common::now_ns());
        emit(&[p], &self.out, &self.stats);
    }

    /// Logs a failure once when it starts or changes, and when it clears.
    fn log_change(&self, r: &Report, last_failure: &mut Option<String>) {
        let now = match r.status {
            Status::Failed | Status::Missing => Some(r.message.clone().unwrap_or_default()),
            _ => None,
        };
        if now != *last_failure {
            match &now {
                Some(m) => {
                    tracing::warn!(job = %self.job.name, status = r.status.as_str(), message = %m, "backup job problem")
                }
                None => tracing::info!(job = %self.job.name, status = r.status.as_str(), "backup job is fine again"),
            }
            *last_failure = now;
        }
    }
}

/// `dcwatch-agent once`: every job checked once (the state file read, not written).
pub async fn once(c: &BackupConfig, state_path: &Path, site: &str, host: &str) -> Vec<Point> {
    let state = StateFile::open_read_only(state_path);
    let ctx = Ctx { timeout: Duration::from_secs(c.timeout_secs) };
    let mut points = Vec::new();
    for job in &c.jobs {
        let mut r = match check(job, &ctx, &state).await {
            Checked::Report(r) => r,
            Checked::Retry(after, _) => {
                tokio::time::sleep(after).await;
                match check(job, &ctx, &state).await {
                    Checked::Report(r) => r,
                    Checked::Retry(_, why) => Report::failed(why),
                }
            }
        };
        state.merge(&job.name, &mut r);
        points.push(point(site, host, job, &r, dcwatch_common::now_ns()));
    }
    points
}

impl crate::sources::Source for BackupConfig {
    fn build(&self, at: &str, p: &mut Vec<dcwatch_common::config::Problem>) -> Option<Box<dyn crate::sources::Built>> {
        let before = p.len();
        config::validate(self, at, p);
        (p.len() == before).then(|| Box::new(self.clone()) as Box<dyn crate::sources::Built>)
    }
}

/// Where a backup source keeps its state: `state_file`, else beside the
/// queue directory.
pub fn state_file(c: &BackupConfig, agent: &crate::sources::Agent) -> PathBuf {
    c.state_file.clone().unwrap_or_else(|| {
        agent.queue_dir.parent().map_or_else(|| PathBuf::from("backup-state.json"), |d| d.join("backup-state.json"))
    })
}

impl crate::sources::Built for BackupConfig {
    fn spawn(
        &self,
        ctx: &mut crate::sources::Context<'_>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, crate::sources::SourceError> {
        // Two backup sources with one state file share it.
        let path = state_file(self, ctx.agent);
        let state = ctx.backup_states.entry(path.clone()).or_insert_with(|| Arc::new(StateFile::open(&path))).clone();
        Ok(spawn(self, state, &ctx.agent.site, &ctx.agent.host, ctx.out, ctx.stats, ctx.shutdown))
    }

    fn once<'a>(&'a self, agent: &'a crate::sources::Agent) -> crate::sources::Once<'a> {
        Box::pin(async move { Ok(once(self, &state_file(self, agent), &agent.site, &agent.host).await) })
    }
}

#[cfg(test)]
mod tests;
