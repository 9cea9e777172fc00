//! A corrupt `alarms.db` must not stop the collector: ingest and forwarding
//! do not need it, and a collector that will not start loses every point its
//! agents cannot queue. So a file SQLite calls "not a database" or
//! "malformed" at the start is moved aside — with its `-wal` and `-shm`,
//! named `alarms.db.corrupt-<UTC time>` (`…-wal`, `…-shm`, as SQLite expects
//! them, so `sqlite3` opens the moved copy with its journal) — and the
//! collector starts with fresh alarm state. The moved file is the evidence
//! and what can be recovered (alarms, silences, history, undelivered
//! notices); nothing is deleted.
//!
//! The built-in alarm `alarms_db_quarantined` says so. It reads its state
//! from the folder, not from memory, so a restart does not forget it: it is
//! active while the newest quarantined file is there and younger than
//! [`QUARANTINE_ALARM_SECS`] (24 h); moving that file away (once it has been
//! looked at) clears it sooner.

use std::path::{Path, PathBuf};

use super::conditions::Cond;
use super::config::Severity;

/// How long `alarms_db_quarantined` stays active after the quarantine.
pub const QUARANTINE_ALARM_SECS: i64 = 24 * 3600;

/// The time in a quarantined file's name (UTC; no `:`, which some tools
/// and file systems do not take in a name).
const STAMP: &str = "%Y%m%dT%H%M%SZ";

const SUFFIX: &str = ".corrupt-";

/// `db` plus its `-wal` and `-shm`, each with the name it gets in quarantine.
fn moves(db: &Path, stamp: &str) -> Vec<(PathBuf, PathBuf)> {
    let quarantined = format!("{}{SUFFIX}{stamp}", db.display());
    ["", "-wal", "-shm"]
        .iter()
        .map(|ext| (PathBuf::from(format!("{}{ext}", db.display())), PathBuf::from(format!("{quarantined}{ext}"))))
        .collect()
}

/// Why a corrupt file could not be moved aside (the collector then stops:
/// a technician moves it by hand).
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("cannot name the quarantined file: the clock is out of range")]
    Clock(#[source] jiff::Error),
    #[error("cannot move the corrupt {} aside: {} exists already", db.display(), to.display())]
    Exists { db: PathBuf, to: PathBuf },
    #[error("cannot move the corrupt {} to {}", from.display(), to.display())]
    Move {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Moves `db` (and its `-wal`, `-shm` where they exist) aside; returns the
/// new path of `db`. Refuses to overwrite an earlier quarantine.
pub fn quarantine(db: &Path, now_ms: i64) -> Result<PathBuf, QuarantineError> {
    let stamp = jiff::Timestamp::from_millisecond(now_ms).map_err(QuarantineError::Clock)?.strftime(STAMP).to_string();
    let moves = moves(db, &stamp);
    if let Some((_, to)) = moves.iter().find(|(_, to)| to.exists()) {
        return Err(QuarantineError::Exists { db: db.to_path_buf(), to: to.clone() });
    }
    for (from, to) in &moves {
        match std::fs::rename(from, to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && from != db => {}
            Err(source) => return Err(QuarantineError::Move { from: from.clone(), to: to.clone(), source }),
        }
    }
    Ok(moves[0].1.clone())
}

/// The newest quarantined copy of `db` and when it was moved (ms).
pub fn newest(db: &Path) -> Option<(PathBuf, i64)> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!("{}{SUFFIX}", db.file_name()?.to_string_lossy());
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stamp = name.strip_prefix(&prefix)?;
            let at = jiff::civil::DateTime::strptime(STAMP, stamp).ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
            Some((e.path(), at.timestamp().as_millisecond()))
        })
        .max_by_key(|(_, at)| *at)
}

/// The `alarms_db_quarantined` condition at `now_ms`.
pub fn condition(db: &Path, now_ms: i64) -> Cond {
    let newest = newest(db).filter(|(_, at)| now_ms - at < QUARANTINE_ALARM_SECS * 1000);
    use crate::i18n::alarms::{self as words, Texts};
    let at = db.display().to_string();
    let summary = match &newest {
        Some((path, _)) => Texts::new(|l| words::db_quarantined(l, &at, &path.display().to_string())),
        None => Texts::new(|l| words::db_in_use_again(l, &at)),
    };
    Cond {
        name: "alarms_db_quarantined".into(),
        labels: Default::default(),
        severity: Severity::Warning,
        summary,
        value: newest.as_ref().map(|(p, _)| p.display().to_string()),
        active: newest.is_some(),
        for_secs: 0,
        inhibits: &[],
        inhibit_hosts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-15 10:15:00 UTC.
    const AT: i64 = 1_768_472_100_000;

    #[test]
    fn the_database_and_its_journal_are_moved_under_one_time_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("alarms.db");
        std::fs::write(&db, b"garbage").unwrap();
        std::fs::write(dir.path().join("alarms.db-wal"), b"wal").unwrap();
        let moved = quarantine(&db, AT).unwrap();
        assert_eq!(moved, dir.path().join("alarms.db.corrupt-20260115T101500Z"));
        assert_eq!(std::fs::read(&moved).unwrap(), b"garbage");
        assert_eq!(std::fs::read(dir.path().join("alarms.db.corrupt-20260115T101500Z-wal")).unwrap(), b"wal");
        assert!(!db.exists() && !dir.path().join("alarms.db-wal").exists());
        assert_eq!(newest(&db), Some((moved.clone(), AT)));
        // A second quarantine in the same second does not overwrite the first.
        std::fs::write(&db, b"other").unwrap();
        let err = quarantine(&db, AT).unwrap_err().to_string();
        assert!(err.ends_with("alarms.db.corrupt-20260115T101500Z exists already"), "{err}");
        assert_eq!(std::fs::read(&moved).unwrap(), b"garbage");
    }

    #[test]
    fn the_alarm_names_the_moved_file_for_a_day_and_clears_when_it_is_moved_away() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("alarms.db");
        assert!(!condition(&db, AT).active, "nothing quarantined");
        std::fs::write(&db, b"garbage").unwrap();
        let moved = quarantine(&db, AT).unwrap();
        let c = condition(&db, AT + 60_000);
        assert!(c.active);
        assert_eq!((c.name.as_str(), c.severity), ("alarms_db_quarantined", Severity::Warning));
        assert!(c.summary.en.contains(&format!("was moved to {}", moved.display())), "{}", c.summary.en);
        assert!(c.summary.vi.contains(&format!("đã được chuyển sang {}", moved.display())), "{}", c.summary.vi);
        assert!(condition(&db, AT + QUARANTINE_ALARM_SECS * 1000 - 1).active);
        assert!(!condition(&db, AT + QUARANTINE_ALARM_SECS * 1000).active, "over after 24 h");
        std::fs::rename(&moved, dir.path().join("inspected.db")).unwrap();
        assert!(!condition(&db, AT + 60_000).active, "the file was taken away");
    }
}
