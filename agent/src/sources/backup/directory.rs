//! A folder of backup files: the newest match is the last backup.
//!
//! The glob is expanded here rather than by the `glob` crate, which follows
//! symbolic links into folders while expanding `**`: one link back to a
//! parent folder made a scan (and `dcwatch-agent once`) run forever. So a
//! scan is bounded three ways: `**` never descends into a symlinked folder
//! (a component matched by name, like `latest/` or `*/`, still follows one:
//! each such step uses up a piece of the pattern, so it cannot loop); it
//! goes at most [`MAX_DEPTH`] folders below the glob's fixed part; and it
//! reads at most [`MAX_ENTRIES`] folder entries, the trees of matched
//! folders included. A scan cut short by a bound is a failed check that
//! says which bound, so nothing is reported from half a tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{Report, Status};

/// Folders a scan descends below the glob's fixed part (and below a matched folder).
pub const MAX_DEPTH: usize = 32;
/// Folder entries one scan reads, over every folder it opens.
pub const MAX_ENTRIES: u64 = 1_000_000;

/// How far one scan may go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_entries: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits { max_depth: MAX_DEPTH, max_entries: MAX_ENTRIES };
}

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
    scan_with(pattern, settle_secs, now, Limits::DEFAULT)
}

pub fn scan_with(pattern: &str, settle_secs: u64, now: i64, limits: Limits) -> Report {
    let glob = match Glob::parse(pattern) {
        Ok(g) => g,
        Err(e) => return Report::failed(format!("`{pattern}` is not a valid glob: {e}")),
    };
    let mut walk = Walk { limits, read: 0, stopped: None, problems: Vec::new() };
    let mut paths = BTreeSet::new();
    walk.expand(&glob.root, &glob.parts, 0, &mut paths);
    let mut entries = Vec::new();
    for path in &paths {
        if walk.stopped.is_some() {
            break;
        }
        match walk.entry(path) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(e) => walk.problems.push(format!("{}: {e}", path.display())),
        }
    }
    if let Some(why) = walk.stopped {
        return Report::failed(format!("the scan of `{pattern}` stopped: {why}; narrow the glob"));
    }
    let problems = walk.problems;
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

/// A glob: its fixed leading folders, and the components after them.
struct Glob {
    root: PathBuf,
    parts: Vec<Part>,
}

enum Part {
    /// `**`: this folder and every folder below it.
    Any,
    Name(glob::Pattern),
}

impl Glob {
    fn parse(pattern: &str) -> Result<Glob, glob::PatternError> {
        // The whole pattern first: its errors name their position in it.
        glob::Pattern::new(pattern)?;
        let mut root = PathBuf::new();
        let mut parts = Vec::new();
        for c in Path::new(pattern).components() {
            let s = c.as_os_str().to_string_lossy();
            let wild = s.contains(['*', '?', '[']);
            if parts.is_empty() && !wild {
                root.push(c);
            } else if s == "**" {
                parts.push(Part::Any);
            } else {
                parts.push(Part::Name(glob::Pattern::new(&s)?));
            }
        }
        Ok(Glob { root, parts })
    }
}

/// One scan's walk and what bounds it.
struct Walk {
    limits: Limits,
    read: u64,
    /// Why the walk stopped short, if it did.
    stopped: Option<String>,
    problems: Vec<String>,
}

impl Walk {
    /// The entries of `dir`, counted against the budget (which, used up,
    /// stops the walk and ends the list).
    fn read_dir(&mut self, dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
        let at = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let mut out = Vec::new();
        for e in std::fs::read_dir(at)? {
            if self.read >= self.limits.max_entries {
                self.stopped = Some(format!("it read {} folder entries, the most one scan reads", self.read));
                break;
            }
            self.read += 1;
            out.push(e?);
        }
        Ok(out)
    }

    /// [`Self::read_dir`] while expanding the glob: a problem is noted, and
    /// a folder gone meanwhile is none.
    fn list(&mut self, dir: &Path) -> Vec<std::fs::DirEntry> {
        match self.read_dir(dir) {
            Ok(v) => v,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                Vec::new()
            }
            Err(e) => {
                self.problems.push(format!("{}: {e}", dir.display()));
                Vec::new()
            }
        }
    }

    fn too_deep(&mut self, depth: usize, dir: &Path) -> bool {
        if depth > self.limits.max_depth {
            self.stopped = Some(format!(
                "{} is more than {} folders deep, the deepest a scan goes",
                dir.display(),
                self.limits.max_depth
            ));
        }
        self.stopped.is_some()
    }

    /// Adds to `out` the paths below `dir` (`depth` folders below the
    /// glob's root) that match `parts`.
    fn expand(&mut self, dir: &Path, parts: &[Part], depth: usize, out: &mut BTreeSet<PathBuf>) {
        if self.too_deep(depth, dir) {
            return;
        }
        let Some((first, rest)) = parts.split_first() else {
            // A pattern without wildcards: the path itself, if it is there.
            if std::fs::metadata(dir).is_ok() {
                out.insert(dir.to_path_buf());
            }
            return;
        };
        match first {
            Part::Any => {
                // `**` as the last part matches folders, as in the glob crate.
                if rest.is_empty() {
                    out.insert(dir.to_path_buf());
                } else {
                    self.expand_names(dir, rest, depth, out);
                }
                for e in self.list(dir) {
                    // file_type does not follow a symlink: a link is never a folder here.
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        self.expand(&e.path(), parts, depth + 1, out);
                    }
                }
            }
            Part::Name(_) => self.expand_names(dir, parts, depth, out),
        }
    }

    /// `parts` starts with a name pattern: the entries of `dir` it matches.
    fn expand_names(&mut self, dir: &Path, parts: &[Part], depth: usize, out: &mut BTreeSet<PathBuf>) {
        let Some((Part::Name(p), rest)) = parts.split_first() else {
            return self.expand(dir, parts, depth, out);
        };
        for e in self.list(dir) {
            if !p.matches(&e.file_name().to_string_lossy()) {
                continue;
            }
            let path = e.path();
            if rest.is_empty() {
                out.insert(path);
            } else if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                self.expand(&path, rest, depth + 1, out);
            }
        }
    }

    /// A matched path as a backup: a file (or a link to one), or a folder
    /// with its whole tree; None for anything else.
    fn entry(&mut self, path: &Path) -> std::io::Result<Option<Entry>> {
        let meta = std::fs::metadata(path)?;
        let name = path.display().to_string();
        if meta.is_file() {
            return Ok(Some(Entry { name, mtime: secs(&meta), size: meta.len() }));
        }
        if meta.is_dir() {
            let (mut size, mut mtime) = (0u64, secs(&meta));
            self.tree(path, 0, &mut size, &mut mtime)?;
            return Ok(Some(Entry { name, mtime, size }));
        }
        Ok(None)
    }

    /// Size and newest modification of a matched folder's tree, not
    /// following symlinks; a file deleted meanwhile is skipped.
    fn tree(&mut self, dir: &Path, depth: usize, size: &mut u64, mtime: &mut i64) -> std::io::Result<()> {
        if self.too_deep(depth, dir) {
            return Ok(());
        }
        for e in self.read_dir(dir)? {
            let meta = match e.metadata() {
                Ok(m) => m,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            *mtime = (*mtime).max(secs(&meta));
            if meta.is_dir() {
                self.tree(&e.path(), depth + 1, size, mtime)?;
            } else if meta.is_file() {
                *size += meta.len();
            }
        }
        Ok(())
    }
}

/// A file's modification time, Unix seconds (0 if it has none).
pub fn secs(meta: &std::fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as i64)
}
