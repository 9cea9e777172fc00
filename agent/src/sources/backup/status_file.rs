//! The status-file contract: a backup script writes a small JSON document
//! when it starts and when it ends (docs/backups.md):
//!
//! ```json
//! {"job": "db-dump", "start": "2026-11-22T01:00:00+07:00", "end": "2026-11-22T01:12:40+07:00",
//!  "exit_status": 0, "bytes": 73400320, "message": "pg_dump ok"}
//! ```
//!
//! `start`/`end` are RFC 3339 times or Unix seconds; no `end` (or `null`)
//! means running. Writers replace the file atomically (write a temporary
//! file in the same folder, rename it over); a file that does not parse and
//! was modified in the last two seconds is looked at again before it is
//! called broken, for writers that do not.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{Checked, Report, Status};

#[derive(Debug, Deserialize)]
struct Doc {
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    start: Option<Time>,
    #[serde(default)]
    end: Option<Time>,
    #[serde(default)]
    exit_status: Option<i64>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Time {
    Secs(f64),
    Text(String),
}

impl Time {
    fn secs(&self) -> Result<f64, String> {
        match self {
            Time::Secs(s) => Ok(*s),
            Time::Text(t) => parse_time(t).map(|ts| ts.as_millisecond() as f64 / 1000.0),
        }
    }
}

/// An RFC 3339 time (`Z` or an offset). A time without an offset is refused:
/// it would be read differently on machines in different zones.
pub fn parse_time(t: &str) -> Result<jiff::Timestamp, String> {
    t.parse::<jiff::Timestamp>().map_err(|e| format!("`{t}` is not an RFC 3339 time with an offset: {e}"))
}

/// How long a fresh unparsable file is given to be completed.
const HALF_WRITTEN: i64 = 2;

/// Times further ahead than this are refused (milliseconds written as seconds, a wrong clock).
const FUTURE_SLACK: f64 = 300.0;

pub fn read(path: &Path, job: &str, now: i64) -> Checked {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Checked::Report(Report::missing(format!(
                "status file {} does not exist (has the backup ever run?)",
                path.display()
            )));
        }
        Err(e) => return Checked::Report(Report::failed(format!("cannot read status file {}: {e}", path.display()))),
    };
    let doc: Doc = match serde_json::from_slice(&bytes) {
        Ok(d) => d,
        Err(e) => {
            let modified = std::fs::metadata(path).map_or(0, |m| super::directory::secs(&m));
            let why = format!("status file {} is not valid JSON: {e}", path.display());
            if (0..HALF_WRITTEN).contains(&(now - modified)) {
                return Checked::Retry(Duration::from_secs(HALF_WRITTEN as u64), why);
            }
            return Checked::Report(Report::failed(why));
        }
    };
    Checked::Report(interpret(&doc, path, job, now))
}

fn interpret(doc: &Doc, path: &Path, job: &str, now: i64) -> Report {
    if let Some(j) = doc.job.as_deref().filter(|j| *j != job) {
        return Report::failed(format!("status file {} is for job `{j}`, not `{job}`", path.display()));
    }
    let start = match doc.start.as_ref().map(Time::secs).transpose() {
        Ok(s) => s,
        Err(e) => return Report::failed(format!("status file {}: start: {e}", path.display())),
    };
    let end = match doc.end.as_ref().map(Time::secs).transpose() {
        Ok(s) => s,
        Err(e) => return Report::failed(format!("status file {}: end: {e}", path.display())),
    };
    for (key, t) in [("start", start), ("end", end)] {
        if let Some(t) = t.filter(|t| *t > now as f64 + FUTURE_SLACK) {
            return Report::failed(format!(
                "status file {}: {key} ({t}) is in the future: Unix seconds are expected (not milliseconds), and a right clock",
                path.display()
            ));
        }
    }
    let message = doc.message.clone().filter(|m| !m.trim().is_empty());
    let Some(end) = end else {
        return match start {
            Some(_) => Report { status: Status::Running, message, ..Report::default() },
            None => Report::failed(format!("status file {} has neither `start` nor `end`", path.display())),
        };
    };
    let duration_s = start.filter(|s| end >= *s).map(|s| ((end - s) * 10.0).round() / 10.0);
    let end_secs = end.floor() as i64;
    match doc.exit_status {
        Some(0) => Report {
            status: Status::Ok,
            message,
            last_success_ts: Some(end_secs),
            last_size_bytes: doc.bytes,
            duration_s,
            exit_status: Some(0),
            last_id: Some(end_secs.to_string()),
            ..Report::default()
        },
        Some(code) => Report {
            status: Status::Failed,
            message: Some(message.unwrap_or_else(|| format!("the backup exited with status {code}"))),
            exit_status: Some(code),
            duration_s,
            ..Report::default()
        },
        None => Report::failed(format!("status file {} has an `end` but no `exit_status`", path.display())),
    }
}
