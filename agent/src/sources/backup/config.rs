//! The `backup` source's section of the agent's configuration, and its checks.

use std::path::PathBuf;

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

/// The backup source: one task per job, watching for finished backups and
/// rescanning on its interval.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Every job is reported this often (its age goes on counting), and
    /// folders and status files are rescanned. Defaults to 60.
    #[serde(default = "default_backup_interval", deserialize_with = "duration::secs")]
    pub interval_secs: u64,
    /// restic and borg repositories are read this often (and when their
    /// local repository changes). Defaults to 900.
    #[serde(default = "default_tool_interval", deserialize_with = "duration::secs")]
    pub tool_interval_secs: u64,
    /// Longest a restic or borg command may run; it is then killed. Defaults to 120.
    #[serde(default = "default_tool_timeout", deserialize_with = "duration::secs")]
    pub timeout_secs: u64,
    /// Watch folders, status files and local repositories for changes
    /// (inotify), so a finished backup is reported within seconds. The
    /// periodic rescan stays, for network mounts where watches miss
    /// events. Defaults to true.
    #[serde(default = "dcwatch_common::config::defaults::yes")]
    pub watch: bool,
    /// After a change is seen, wait this long for more before rescanning. Defaults to 1000.
    #[serde(default = "default_debounce", deserialize_with = "duration::ms")]
    pub debounce_ms: u64,
    /// Where the last successful backup of each job is remembered across
    /// restarts. Defaults to `backup-state.json` beside the queue directory.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    pub jobs: Vec<BackupJob>,
}

/// One backup job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupJob {
    /// Job name (tag `job`). Required, unique.
    pub name: String,
    /// `directory`, `status_file`, `restic` or `borg`. Required.
    pub kind: BackupKind,
    /// directory: a glob of the backup files (or folders), e.g.
    /// `/backup/db/*.sql.gz`; status_file: the file's path.
    #[serde(default)]
    pub path: Option<String>,
    /// directory: a glob of the copies at the second site (e.g. its mount):
    /// reported as `mirror_last_success_ts`, for the collector's "not
    /// replicated" alarm.
    #[serde(default)]
    pub mirror: Option<String>,
    /// restic and borg: the repository (a path, or what the tool accepts:
    /// `sftp:…`, `ssh://…`, `s3:…`).
    #[serde(default)]
    pub repository: Option<String>,
    /// restic and borg: the repository password. Use `${ENV}` or
    /// `${file:PATH}`; or `password_file`; or neither, and the tool reads
    /// its own environment (`RESTIC_PASSWORD…`, `BORG_PASSPHRASE…`).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// restic and borg: the program. Defaults to `restic` / `borg` on PATH.
    #[serde(default)]
    pub binary: Option<PathBuf>,
    /// restic and borg: extra arguments of the listing command, e.g.
    /// `[--host, db1]` (restic) or `[--glob-archives, 'db-*']` (borg).
    #[serde(default)]
    pub args: Vec<String>,
    /// restic and borg: extra environment, e.g. `AWS_ACCESS_KEY_ID`.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// How old the newest backup may be (the recovery point objective);
    /// reported as `rpo_s` for the collector's stale alarm. Defaults to 24.
    #[serde(default = "default_rpo_hours")]
    pub rpo_hours: f64,
    /// directory: a newest file modified less than this long ago is still
    /// being written (`running`), not yet a backup; it is looked at again
    /// when it has settled. 0 for writers that rename a finished file into
    /// place. Defaults to 60.
    #[serde(default = "default_settle", deserialize_with = "duration::secs")]
    pub settle_secs: u64,
    /// Rescan interval of this job. Defaults to the source's.
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub interval_secs: Option<u64>,
    /// restic and borg: timeout of this job's commands. Defaults to the source's.
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    Directory,
    StatusFile,
    Restic,
    Borg,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Directory => "directory",
            BackupKind::StatusFile => "status_file",
            BackupKind::Restic => "restic",
            BackupKind::Borg => "borg",
        }
    }
}

pub fn validate(c: &BackupConfig, at: &str, p: &mut Vec<Problem>) {
    if c.interval_secs == 0 {
        p.push(Problem::general(format!("{at}.interval_secs: must be at least 1")));
    }
    if c.tool_interval_secs == 0 {
        p.push(Problem::general(format!("{at}.tool_interval_secs: must be at least 1")));
    }
    if c.timeout_secs == 0 {
        p.push(Problem::general(format!("{at}.timeout_secs: must be at least 1")));
    }
    if c.jobs.is_empty() {
        p.push(Problem::general(format!("{at}.jobs: name at least one backup job")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, j) in c.jobs.iter().enumerate() {
        let at = format!("{at}.jobs[{i}]");
        crate::sources::check_name(&mut seen, &at, &j.name, "must not be empty", "job", p);
        let needs_path = matches!(j.kind, BackupKind::Directory | BackupKind::StatusFile);
        match (&j.path, needs_path) {
            (None, true) => p.push(Problem::general(format!("{at}.path: a {} job needs a path", j.kind.as_str()))),
            (Some(_), false) => {
                p.push(Problem::general(format!("{at}.path: a {} job reads `repository`, not `path`", j.kind.as_str())))
            }
            _ => {}
        }
        if j.kind == BackupKind::Directory {
            for (key, pat) in [("path", &j.path), ("mirror", &j.mirror)] {
                if let Some(pat) = pat
                    && let Err(e) = glob::Pattern::new(pat)
                {
                    p.push(Problem::general(format!("{at}.{key}: `{pat}` is not a valid glob: {e}")));
                }
            }
        } else if j.mirror.is_some() {
            p.push(Problem::general(format!(
                "{at}.mirror: only a directory job has a mirror path; for other kinds, pair the jobs of both sites in the collector's `backups.replication`"
            )));
        }
        if j.kind == BackupKind::StatusFile && j.path.as_deref().is_some_and(|p| p.contains(['*', '?', '['])) {
            p.push(Problem::general(format!("{at}.path: a status file is one file, not a glob")));
        }
        let tool = matches!(j.kind, BackupKind::Restic | BackupKind::Borg);
        if tool && j.repository.as_deref().is_none_or(|r| r.trim().is_empty()) {
            p.push(Problem::general(format!("{at}.repository: a {} job needs its repository", j.kind.as_str())));
        }
        if !tool && (j.repository.is_some() || j.password.is_some() || j.password_file.is_some()) {
            p.push(Problem::general(format!(
                "{at}: repository and password are for restic and borg jobs, not {}",
                j.kind.as_str()
            )));
        }
        if j.password.is_some() && j.password_file.is_some() {
            p.push(Problem::general(format!("{at}: give `password` or `password_file`, not both")));
        }
        if !(j.rpo_hours > 0.0 && j.rpo_hours.is_finite()) {
            p.push(Problem::general(format!("{at}.rpo_hours: must be above 0")));
        }
        if j.interval_secs == Some(0) || j.timeout_secs == Some(0) {
            p.push(Problem::general(format!("{at}: interval_secs and timeout_secs must be at least 1")));
        }
    }
}

fn default_backup_interval() -> u64 {
    60
}
fn default_tool_interval() -> u64 {
    900
}
fn default_tool_timeout() -> u64 {
    120
}
fn default_debounce() -> u64 {
    1000
}
fn default_settle() -> u64 {
    60
}
fn default_rpo_hours() -> f64 {
    24.0
}
