//! Watches (inotify) the folders where a job's backups land: a change wakes
//! the job, which rescans after its debounce. A folder that does not exist
//! yet is tried again on every report; the periodic rescan stays either way
//! (watches miss what happens on the far side of a network mount).

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::Notify;

use super::config::{BackupJob, BackupKind};

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub dir: PathBuf,
    pub recursive: bool,
    pub job: usize,
}

pub struct Watcher {
    inner: Mutex<RecommendedWatcher>,
    /// Routes and whether their watch is in place.
    routes: Vec<(Route, Mutex<bool>)>,
}

impl Watcher {
    pub fn start(jobs: &[BackupJob], wakes: &[Arc<Notify>]) -> Option<Watcher> {
        let routes: Vec<Route> = jobs.iter().enumerate().flat_map(|(i, j)| routes(i, j)).collect();
        if routes.is_empty() {
            return None;
        }
        let table: Vec<(PathBuf, usize)> = routes.iter().map(|r| (r.dir.clone(), r.job)).collect();
        let wakes: Vec<Arc<Notify>> = wakes.to_vec();
        let handler = move |res: notify::Result<Event>| {
            let Ok(ev) = res else { return };
            // Reads (our own scans, restic and borg listing) are not changes.
            if matches!(ev.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write)) {
                return;
            }
            for (dir, job) in &table {
                if ev.paths.iter().any(|p| p.starts_with(dir)) {
                    wakes[*job].notify_one();
                }
            }
        };
        let inner = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the backup folders; they are rescanned on the interval only");
                return None;
            }
        };
        let w =
            Watcher { inner: Mutex::new(inner), routes: routes.into_iter().map(|r| (r, Mutex::new(false))).collect() };
        for i in 0..jobs.len() {
            w.retry(i);
        }
        Some(w)
    }

    /// Puts in place the job's watches that are not yet.
    pub fn retry(&self, job: usize) {
        for (r, active) in self.routes.iter().filter(|(r, _)| r.job == job) {
            let mut active = active.lock().expect("not poisoned");
            if *active {
                continue;
            }
            let mode = if r.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            match self.inner.lock().expect("not poisoned").watch(&r.dir, mode) {
                Ok(()) => {
                    *active = true;
                    tracing::debug!(dir = %r.dir.display(), recursive = r.recursive, "watching");
                }
                Err(e) => {
                    tracing::debug!(dir = %r.dir.display(), error = %e, "cannot watch yet; rescanning on the interval")
                }
            }
        }
    }
}

/// The folders a job's changes show in.
pub fn routes(job: usize, j: &BackupJob) -> Vec<Route> {
    let mut out = Vec::new();
    match j.kind {
        BackupKind::Directory => {
            for pat in [&j.path, &j.mirror].into_iter().flatten() {
                let (dir, recursive) = glob_root(pat);
                out.push(Route { dir, recursive, job });
            }
        }
        BackupKind::StatusFile => {
            if let Some(dir) = j.path.as_deref().map(Path::new).and_then(Path::parent) {
                out.push(Route { dir: dir.to_path_buf(), recursive: false, job });
            }
        }
        // Local repositories only: a new snapshot is a new file in
        // `snapshots/` (restic); a borg commit rewrites the files at its root.
        BackupKind::Restic => {
            if let Some(dir) = j.repository.as_deref().and_then(local_repo) {
                out.push(Route { dir: dir.join("snapshots"), recursive: false, job });
            }
        }
        BackupKind::Borg => {
            if let Some(dir) = j.repository.as_deref().and_then(local_repo) {
                out.push(Route { dir, recursive: false, job });
            }
        }
    }
    out
}

/// The part of a glob before its first wildcard, and whether wildcards
/// reach into folders below it.
pub fn glob_root(pattern: &str) -> (PathBuf, bool) {
    let path = Path::new(pattern);
    let mut root = PathBuf::new();
    let comps: Vec<Component<'_>> = path.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) {
            return (root, i + 1 < comps.len());
        }
        root.push(c);
    }
    // No wildcard: one file; watch its folder.
    (root.parent().map(Path::to_path_buf).unwrap_or_default(), false)
}

/// A repository on this machine's file system: a path, or `local:PATH`.
fn local_repo(repo: &str) -> Option<PathBuf> {
    let p = repo.strip_prefix("local:").unwrap_or(repo);
    (p.starts_with('/') && !p.contains("://")).then(|| PathBuf::from(p))
}
