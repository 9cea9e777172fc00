//! What the backup source remembers across restarts, per job: the last
//! successful backup (time, size, duration, id), the size of the one before,
//! and the sizes of recent snapshots (restic reports them by a second command).
//! One small JSON file, replaced atomically when it changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Report;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JobState {
    #[serde(default)]
    pub last_success_ts: Option<i64>,
    #[serde(default)]
    pub last_size_bytes: Option<u64>,
    #[serde(default)]
    pub prev_size_bytes: Option<u64>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    #[serde(default)]
    pub last_id: Option<String>,
    /// Snapshot id → size, for the few newest snapshots.
    #[serde(default)]
    pub sizes: BTreeMap<String, u64>,
}

pub struct StateFile {
    path: Option<PathBuf>,
    jobs: Mutex<BTreeMap<String, JobState>>,
}

impl StateFile {
    /// Reads the file; a missing one is an empty state, an unreadable one
    /// is logged and started afresh (the next checks rebuild most of it).
    pub fn open(path: &Path) -> StateFile {
        StateFile { path: Some(path.to_path_buf()), jobs: Mutex::new(read(path)) }
    }

    /// For `once`: reads, never writes.
    pub fn open_read_only(path: &Path) -> StateFile {
        StateFile { path: None, jobs: Mutex::new(read(path)) }
    }

    /// Where the tools' caches go: beside the state file (the agent's state
    /// directory, writable under its systemd unit). None for `once`.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        let p = self.path.as_ref()?;
        Some(p.parent().map_or_else(|| PathBuf::from("backup-cache"), |d| d.join("backup-cache")))
    }

    pub fn get(&self, job: &str) -> JobState {
        self.jobs.lock().expect("not poisoned").get(job).cloned().unwrap_or_default()
    }

    /// Remembers a snapshot's size.
    pub fn remember_size(&self, job: &str, id: &str, bytes: u64, keep: &[&str]) {
        let mut jobs = self.jobs.lock().expect("not poisoned");
        let st = jobs.entry(job.to_string()).or_default();
        st.sizes.insert(id.to_string(), bytes);
        st.sizes.retain(|k, _| keep.contains(&k.as_str()));
        self.save(&jobs);
    }

    /// Completes a report with what is remembered, and remembers what is new:
    /// a newer success becomes the last, the one before it the previous
    /// (for the size change); a report without a success (a failed run, an
    /// unreadable repository, a deleted folder) keeps the last success known.
    pub fn merge(&self, job: &str, r: &mut Report) {
        let mut jobs = self.jobs.lock().expect("not poisoned");
        let st = jobs.entry(job.to_string()).or_default();
        let before = st.clone();
        match (r.last_success_ts, st.last_success_ts) {
            (Some(ts), known) if known.is_none_or(|k| ts > k) => {
                if r.prev_size_bytes.is_none() && known.is_some() && r.last_id != st.last_id {
                    r.prev_size_bytes = st.last_size_bytes;
                }
                st.prev_size_bytes = r.prev_size_bytes;
                st.last_success_ts = Some(ts);
                st.last_size_bytes = r.last_size_bytes;
                st.duration_s = r.duration_s;
                st.last_id = r.last_id.clone();
            }
            (Some(ts), Some(k)) if ts == k => {
                if r.prev_size_bytes.is_none() {
                    r.prev_size_bytes = st.prev_size_bytes;
                }
                if r.last_size_bytes.is_none() {
                    r.last_size_bytes = st.last_size_bytes;
                }
                if r.duration_s.is_none() {
                    r.duration_s = st.duration_s;
                }
            }
            // An older success than remembered (the newest file deleted):
            // reported as found.
            (Some(_), _) => {}
            (None, _) => {
                r.last_success_ts = st.last_success_ts;
                r.last_size_bytes = st.last_size_bytes;
                r.prev_size_bytes = st.prev_size_bytes;
                if r.duration_s.is_none() {
                    r.duration_s = st.duration_s;
                }
            }
        }
        if *st != before {
            self.save(&jobs);
        }
    }

    fn save(&self, jobs: &BTreeMap<String, JobState>) {
        let Some(path) = &self.path else { return };
        let text = match serde_json::to_vec_pretty(jobs) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the backup state");
                return;
            }
        };
        if let Err(e) = write_atomically(path, &text) {
            tracing::warn!(file = %path.display(), error = %e, "cannot save the backup state; the last successes are kept in memory");
        }
    }
}

fn read(path: &Path) -> BTreeMap<String, JobState> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(file = %path.display(), error = %e, "the backup state file is unreadable; starting afresh");
            BTreeMap::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read the backup state file; starting afresh");
            BTreeMap::new()
        }
    }
}

/// Writes a sibling temporary file, syncs it and renames it over the target.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}
