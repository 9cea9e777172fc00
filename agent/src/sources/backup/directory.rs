//! A folder of backup files: the newest match is the last backup.

use std::path::Path;
use std::time::UNIX_EPOCH;

use super::{Report, Status};

/// One matched backup: a file, or a folder (its size and newest
/// modification over its whole tree).
#[derive(Debug)]
struct Entry {
    name: String,
    mtime: i64,
    size: u64,
}

/// Scans a glob at `now` (Unix seconds). A newest entry modified less than
/// `settle_secs` ago is still being written: the job is `running` and the
/// last backup is the one before.
pub fn scan(pattern: &str, settle_secs: u64, now: i64) -> Report {
    let paths = match glob::glob(pattern) {
        Ok(p) => p,
        Err(e) => return Report::failed(format!("`{pattern}` is not a valid glob: {e}")),
    };
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        match p {
            Ok(path) => match entry(&path) {
                Ok(Some(e)) => entries.push(e),
                Ok(None) => {}
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            },
            Err(e) => problems.push(e.to_string()),
        }
    }
    if entries.is_empty() {
        return match problems.first() {
            Some(p) => Report::failed(format!("cannot read the backup folder: {p}")),
            None => Report { copies: Some(0), ..Report::missing(format!("no file matches `{pattern}`")) },
        };
    }
    entries.sort_by(|a, b| b.mtime.cmp(&a.mtime).then_with(|| b.name.cmp(&a.name)));
    let settled: Vec<&Entry> = entries.iter().filter(|e| now - e.mtime >= settle_secs as i64).collect();
    let mut r = Report {
        status: if settled.len() < entries.len() { Status::Running } else { Status::Ok },
        copies: Some(settled.len() as u64),
        total_bytes: Some(settled.iter().map(|e| e.size).sum()),
        oldest_ts: settled.last().map(|e| e.mtime),
        ..Report::default()
    };
    if let Some(last) = settled.first() {
        r.last_success_ts = Some(last.mtime);
        r.last_size_bytes = Some(last.size);
        // Name and time: a file overwritten in place each night is a new backup.
        r.last_id = Some(format!("{}@{}", last.name, last.mtime));
        r.prev_size_bytes = settled.get(1).map(|e| e.size);
    } else {
        r.message = Some(format!("{} is still being written", entries[0].name));
    }
    if settled.len() < entries.len() {
        let newest = entries[0].mtime;
        r.recheck_after_s = Some((settle_secs as i64 - (now - newest)).max(0) as u64 + 1);
    }
    if let Some(p) = problems.first() {
        r.message = Some(format!("some entries could not be read: {p}"));
    }
    r
}

fn entry(path: &Path) -> std::io::Result<Option<Entry>> {
    let meta = std::fs::metadata(path)?;
    let name = path.display().to_string();
    if meta.is_file() {
        return Ok(Some(Entry { name, mtime: secs(&meta), size: meta.len() }));
    }
    if meta.is_dir() {
        let (mut size, mut mtime) = (0u64, secs(&meta));
        walk(path, &mut size, &mut mtime)?;
        return Ok(Some(Entry { name, mtime, size }));
    }
    Ok(None)
}

fn walk(dir: &Path, size: &mut u64, mtime: &mut i64) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        // does not follow symlinks; a file deleted meanwhile is skipped
        let meta = match e.metadata() {
            Ok(m) => m,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        *mtime = (*mtime).max(secs(&meta));
        if meta.is_dir() {
            walk(&e.path(), size, mtime)?;
        } else if meta.is_file() {
            *size += meta.len();
        }
    }
    Ok(())
}

/// A file's modification time, Unix seconds (0 if it has none).
pub fn secs(meta: &std::fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as i64)
}
