//! Alarm state on disk (SQLite, WAL): the alarms not yet resolved, their
//! history, and the notification outbox. Every state change and the notices
//! it causes are written in one transaction, so a restart neither sends a
//! notice twice nor loses one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::config::Severity;

mod peer_log;
pub use peer_log::{Entry, Logged, PeerChange, new_uid};

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Pending,
    Firing,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub by: String,
    pub at_ms: i64,
    pub comment: String,
}

/// An alarm that is pending or firing.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub fingerprint: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub severity: Severity,
    pub state: State,
    /// In both languages (column `summary` holds the Vietnamese, `summary_en` the English).
    pub summary: crate::i18n::alarms::Texts,
    pub value: Option<String>,
    /// When the condition began (ms since the epoch).
    pub since_ms: i64,
    pub fired_ms: Option<i64>,
    /// When a firing notice last went out (None: never, e.g. inhibited).
    pub sent_ms: Option<i64>,
    pub ack: Option<Ack>,
    /// Suppressed by another alarm (its fingerprint) that explains it.
    pub inhibited_by: Option<String>,
    /// When it was escalated (sent to the escalation receivers).
    pub escalated_ms: Option<i64>,
    /// The silence that keeps it quiet now (worked out at each evaluation).
    pub silenced_by: Option<i64>,
}

/// A silence or maintenance window: alarms whose labels (and `alertname`)
/// match every matcher send nothing between `starts_ms` and `ends_ms`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Silence {
    pub id: i64,
    /// `alertname` (the alarm's name) or a label → a value, or `~regex`.
    pub matchers: super::matchers::Matchers,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub author: String,
    pub reason: String,
}

impl Silence {
    pub fn matches(&self, a: &Alarm, now_ms: i64) -> bool {
        self.starts_ms <= now_ms
            && now_ms < self.ends_ms
            && self
                .matchers
                .matches(|k| if k == "alertname" { Some(a.name.as_str()) } else { a.labels.get(k).map(String::as_str) })
    }
}

/// A notice waiting to be delivered, or failing.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub id: i64,
    pub receiver: String,
    pub fingerprint: String,
    pub status: String,
    pub payload: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_ms: i64,
}

pub struct Store {
    conn: Connection,
}

/// Notices a receiver has not taken yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Undelivered {
    pub receiver: String,
    pub count: i64,
    /// The most attempts of one of them.
    pub attempts: i64,
    pub last_error: Option<String>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS alarms (
    fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, severity TEXT NOT NULL,
    state TEXT NOT NULL, summary TEXT NOT NULL, value TEXT, since_ms INTEGER NOT NULL, fired_ms INTEGER,
    sent_ms INTEGER, ack_by TEXT, ack_ms INTEGER, ack_comment TEXT, inhibited_by TEXT, escalated_ms INTEGER,
    summary_en TEXT
);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY, matchers TEXT NOT NULL, starts_ms INTEGER NOT NULL, ends_ms INTEGER NOT NULL,
    author TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL,
    at_ms INTEGER NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_at ON history (at_ms);
CREATE INDEX IF NOT EXISTS history_fingerprint ON history (fingerprint, id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, receiver TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    payload TEXT NOT NULL, created_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL, delivered_ms INTEGER, last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (delivered_ms, next_ms);
";

/// Brings a store made by an earlier version up to this schema, keeping its rows.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_en: bool =
        conn.prepare("SELECT 1 FROM pragma_table_info('alarms') WHERE name = 'summary_en'")?.exists([])?;
    if !has_en {
        conn.execute_batch("ALTER TABLE alarms ADD COLUMN summary_en TEXT")?;
    }
    Ok(())
}

fn sev(s: &str) -> Severity {
    match s {
        "critical" => Severity::Critical,
        "info" => Severity::Info,
        _ => Severity::Warning,
    }
}

/// A change to write in one transaction.
pub enum Change<'a> {
    Upsert(&'a Alarm),
    Remove(&'a str),
    History {
        alarm: &'a Alarm,
        event: &'a str,
        detail: String,
        at_ms: i64,
    },
    /// A notice, due `delay_ms` after `at_ms` (email and chat wait a moment
    /// for others to group with).
    Notice {
        receiver: &'a str,
        fingerprint: &'a str,
        status: &'a str,
        payload: String,
        at_ms: i64,
        delay_ms: i64,
    },
    /// An entry of the log peered collectors exchange (`peer_log`).
    Peer(PeerChange<'a>),
}

/// Why the store could not be opened: the caller moves a corrupt file aside
/// (`quarantine.rs`) and stops on anything else (a folder it may not write).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is not an SQLite database, or its pages are damaged.
    #[error("{path}: {message}")]
    Corrupt { path: String, message: String },
    /// Its folder cannot be made, or SQLite cannot open or set it up.
    #[error(transparent)]
    Db(#[from] crate::db::OpenError),
}

impl OpenError {
    /// `e` of a step on `path`: corrupt, or the step's failure (`step`
    /// names it, as `db::OpenError` does) with its source.
    fn sqlite(
        path: &Path,
        e: rusqlite::Error,
        step: fn(PathBuf, rusqlite::Error) -> crate::db::OpenError,
    ) -> OpenError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                OpenError::Corrupt { path: path.display().to_string(), message: e.to_string() }
            }
            _ => OpenError::Db(step(path.to_path_buf(), e)),
        }
    }
}

fn opening(path: PathBuf, source: rusqlite::Error) -> crate::db::OpenError {
    crate::db::OpenError::Open { path, source }
}

fn schema(path: PathBuf, source: rusqlite::Error) -> crate::db::OpenError {
    crate::db::OpenError::Schema { path, source }
}

/// A read or write of the alarm store failed; the text is SQLite's.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        Self::try_open(path)
    }

    /// Opens (or creates) the store, telling a corrupt file from other
    /// failures (see [`Self::check`]).
    pub fn try_open(path: &Path) -> Result<Store, OpenError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|source| crate::db::OpenError::Dir { path: dir.to_path_buf(), source })?;
        }
        if path.exists() {
            Self::check(path)?;
        }
        let conn = Connection::open(path).map_err(|e| OpenError::sqlite(path, e, opening))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| OpenError::sqlite(path, e, opening))?;
        conn.execute_batch(SCHEMA).map_err(|e| OpenError::sqlite(path, e, schema))?;
        migrate(&conn).map_err(|e| OpenError::sqlite(path, e, schema))?;
        conn.execute_batch(peer_log::SCHEMA).map_err(|e| OpenError::sqlite(path, e, schema))?;
        peer_log::migrate(&conn).map_err(|e| OpenError::sqlite(path, e, schema))?;
        Ok(Store { conn })
    }

    /// Whether the file at `path` is a sound SQLite database: `PRAGMA
    /// quick_check` reads every page once, so damage behind a valid header
    /// is found now, not at the first alarm. The file is opened `immutable`
    /// (read-only, no locks, no journal): a read-write connection to a
    /// corrupt file deletes its `-wal` and `-shm` when it closes, and they
    /// are part of what is moved aside for inspection.
    fn check(path: &Path) -> Result<(), OpenError> {
        let escaped = path.display().to_string().replace('%', "%25").replace('?', "%3f").replace('#', "%23");
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let sqlite = |e| OpenError::sqlite(path, e, opening);
        let conn = Connection::open_with_flags(format!("file:{escaped}?immutable=1"), flags).map_err(sqlite)?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(sqlite)?;
        if check == "ok" {
            Ok(())
        } else {
            Err(OpenError::Corrupt { path: path.display().to_string(), message: check })
        }
    }

    pub fn load(&self) -> Result<Vec<Alarm>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT fingerprint, name, labels, severity, state, summary, value, since_ms, fired_ms, sent_ms,
                        ack_by, ack_ms, ack_comment, inhibited_by, escalated_ms, summary_en FROM alarms",
        )?;
        let rows = st.query_map([], |r| {
            let labels: String = r.get(2)?;
            let ack_by: Option<String> = r.get(10)?;
            Ok(Alarm {
                fingerprint: r.get(0)?,
                name: r.get(1)?,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
                severity: sev(&r.get::<_, String>(3)?),
                state: if r.get::<_, String>(4)? == "firing" { State::Firing } else { State::Pending },
                summary: {
                    let vi: String = r.get(5)?;
                    // A row from before both languages were kept: its one text for both.
                    let en: Option<String> = r.get(15)?;
                    crate::i18n::alarms::Texts { en: en.unwrap_or_else(|| vi.clone()), vi }
                },
                value: r.get(6)?,
                since_ms: r.get(7)?,
                fired_ms: r.get(8)?,
                sent_ms: r.get(9)?,
                ack: match ack_by {
                    Some(by) => Some(Ack { by, at_ms: r.get(11)?, comment: r.get(12)? }),
                    None => None,
                },
                inhibited_by: r.get(13)?,
                escalated_ms: r.get(14)?,
                silenced_by: None,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn apply(&mut self, changes: &[Change<'_>]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for c in changes {
            match c {
                Change::Upsert(a) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO alarms (fingerprint, name, labels, severity, state, summary, value,
                             since_ms, fired_ms, sent_ms, ack_by, ack_ms, ack_comment, inhibited_by, escalated_ms,
                             summary_en)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                        params![
                            a.fingerprint,
                            a.name,
                            serde_json::to_string(&a.labels).unwrap_or_default(),
                            a.severity.as_str(),
                            a.state.as_str(),
                            a.summary.vi,
                            a.value,
                            a.since_ms,
                            a.fired_ms,
                            a.sent_ms,
                            a.ack.as_ref().map(|k| k.by.clone()),
                            a.ack.as_ref().map(|k| k.at_ms),
                            a.ack.as_ref().map(|k| k.comment.clone()),
                            a.inhibited_by,
                            a.escalated_ms,
                            a.summary.en,
                        ],
                    )?;
                }
                Change::Remove(fp) => {
                    tx.execute("DELETE FROM alarms WHERE fingerprint = ?1", params![fp])?;
                }
                Change::History { alarm, event, detail, at_ms } => {
                    tx.execute(
                        "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            alarm.fingerprint,
                            alarm.name,
                            serde_json::to_string(&alarm.labels).unwrap_or_default(),
                            at_ms,
                            event,
                            detail
                        ],
                    )
                    ?;
                }
                Change::Notice { receiver, fingerprint, status, payload, at_ms, delay_ms } => {
                    tx.execute(
                        "INSERT INTO outbox (receiver, fingerprint, status, payload, created_ms, next_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![receiver, fingerprint, status, payload, at_ms, at_ms + delay_ms],
                    )
                    ?;
                }
                Change::Peer(p) => peer_log::apply(&tx, p)?,
            }
        }
        Ok(tx.commit()?)
    }

    /// The stored silences. One that cannot be read (a matcher that no
    /// longer compiles, a damaged row) is skipped and logged: read as empty
    /// matchers it would match everything.
    pub fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        let mut st =
            self.conn.prepare("SELECT id, matchers, starts_ms, ends_ms, author, reason FROM silences ORDER BY id")?;
        // The id (the rowid, always an integer) apart from the rest, so a
        // column of the wrong type skips its row, named, not every silence.
        type Columns = (String, i64, i64, String, String);
        fn columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<Columns> {
            Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        }
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, columns(r))))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, rest) = match row {
                Ok(row) => row,
                Err(e) => {
                    tracing::error!(error = %e, "a stored silence cannot be read; it is skipped");
                    continue;
                }
            };
            let (m, starts_ms, ends_ms, author, reason) = match rest {
                Ok(rest) => rest,
                Err(e) => {
                    tracing::error!(id, error = %e, "a stored silence cannot be read; it is skipped");
                    continue;
                }
            };
            match serde_json::from_str::<super::matchers::Matchers>(&m) {
                Ok(matchers) if !matchers.is_empty() => {
                    out.push(Silence { id, matchers, starts_ms, ends_ms, author, reason })
                }
                Ok(_) => tracing::error!(id, "a stored silence has no matchers; it is skipped"),
                Err(e) => tracing::error!(id, error = %e, "a stored silence cannot be read; it is skipped"),
            }
        }
        Ok(out)
    }

    /// Removes silences that ended before `before_ms`.
    pub fn purge_silences(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.conn.execute("DELETE FROM silences WHERE ends_ms < ?1", params![before_ms]).map_err(StoreError::from)
    }

    /// Removes the delivered notices of alarm `name` delivered before
    /// `before_ms` (the watchdog's: one per interval, worth nothing once
    /// delivered).
    pub fn purge_delivered(&self, name: &str, before_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "DELETE FROM outbox WHERE delivered_ms < ?1 AND json_extract(payload, '$.name') = ?2",
                params![before_ms, name],
            )
            .map_err(StoreError::from)
    }

    /// Adds a silence with a new global id, in the peer log too.
    pub fn add_silence(&mut self, s: &Silence, now_ms: i64) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        let uid = new_uid();
        tx.execute(
            "INSERT INTO silences (matchers, starts_ms, ends_ms, author, reason, uid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                serde_json::to_string(&s.matchers).unwrap_or_default(),
                s.starts_ms,
                s.ends_ms,
                s.author,
                s.reason,
                uid
            ],
        )?;
        let id = tx.last_insert_rowid();
        let entry = Entry::Silence {
            uid,
            matchers: s.matchers.clone(),
            starts_ms: s.starts_ms,
            ends_ms: s.ends_ms,
            author: s.author.clone(),
            reason: s.reason.clone(),
        };
        peer_log::apply(&tx, &PeerChange::Local { entry, at_ms: now_ms })?;
        tx.commit()?;
        Ok(id)
    }

    /// Ends a silence now (it stays in the table, ended), in the peer log too.
    pub fn end_silence(&mut self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let uid: Option<String> =
            tx.query_row("SELECT uid FROM silences WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
        let Some(uid) = uid else { return Ok(false) };
        tx.execute("UPDATE silences SET ends_ms = MIN(ends_ms, ?2) WHERE id = ?1", params![id, now_ms])?;
        peer_log::apply(&tx, &PeerChange::Local { entry: Entry::SilenceEnd { uid }, at_ms: now_ms })?;
        tx.commit()?;
        Ok(true)
    }

    /// Notices due now, oldest first.
    pub fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Outgoing>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, receiver, fingerprint, status, payload, attempts, last_error, created_ms FROM outbox
                 WHERE delivered_ms IS NULL AND next_ms <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = st.query_map(params![now_ms, limit as i64], |r| {
            Ok(Outgoing {
                id: r.get(0)?,
                receiver: r.get(1)?,
                fingerprint: r.get(2)?,
                status: r.get(3)?,
                payload: r.get(4)?,
                attempts: r.get(5)?,
                last_error: r.get(6)?,
                created_ms: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// A notice its receiver took: done, and in the peer log.
    pub fn delivered(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("UPDATE outbox SET delivered_ms = ?2, last_error = NULL WHERE id = ?1", params![id, now_ms])?;
        let notice: Option<(String, String, String)> = tx
            .query_row("SELECT receiver, fingerprint, status FROM outbox WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        if let Some((receiver, fingerprint, status)) = notice {
            let entry = Entry::Notice { receiver, fingerprint, status };
            peer_log::apply(&tx, &PeerChange::Local { entry, at_ms: now_ms })?;
        }
        Ok(tx.commit()?)
    }

    pub fn failed(&self, id: i64, next_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_ms = ?2, last_error = ?3 WHERE id = ?1",
                params![id, next_ms, error],
            )
            .map(|_| ())
            .map_err(StoreError::from)
    }

    /// Undelivered notices per receiver.
    pub fn undelivered(&self) -> Result<Vec<Undelivered>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT receiver, COUNT(*), MAX(attempts),
                        (SELECT last_error FROM outbox o2 WHERE o2.receiver = outbox.receiver AND o2.delivered_ms IS NULL
                         AND o2.last_error IS NOT NULL ORDER BY id DESC LIMIT 1)
                 FROM outbox WHERE delivered_ms IS NULL GROUP BY receiver",
            )
            ?;
        let rows = st.query_map([], |r| {
            Ok(Undelivered { receiver: r.get(0)?, count: r.get(1)?, attempts: r.get(2)?, last_error: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The last `limit` history events, newest first: (fingerprint, name, labels, at, event, detail).
    pub fn history(&self, limit: usize) -> Result<Vec<serde_json::Value>, StoreError> {
        self.history_where(&HistoryQuery { limit, ..Default::default() })
    }

    /// The last `q.limit` events, newest first, of one alarm (`fingerprint`,
    /// by its index) and/or holding `text` in its name, labels, event or
    /// detail (case as typed; SQLite's LIKE folds ASCII only).
    pub fn history_where(&self, q: &HistoryQuery) -> Result<Vec<serde_json::Value>, StoreError> {
        let like = q.text.as_deref().map(crate::db::like_containing);
        let mut st = self.conn.prepare(
            "SELECT fingerprint, name, labels, at_ms, event, detail FROM history \
             WHERE (?2 IS NULL OR fingerprint = ?2) \
               AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\' OR labels LIKE ?3 ESCAPE '\\' \
                    OR event LIKE ?3 ESCAPE '\\' OR detail LIKE ?3 ESCAPE '\\') \
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map(params![q.limit as i64, q.fingerprint, like], |r| {
            let labels: String = r.get(2)?;
            Ok(serde_json::json!({
                "fingerprint": r.get::<_, String>(0)?,
                "name": r.get::<_, String>(1)?,
                "labels": serde_json::from_str::<serde_json::Value>(&labels).unwrap_or_default(),
                "at_ms": r.get::<_, i64>(3)?,
                "event": r.get::<_, String>(4)?,
                "detail": r.get::<_, String>(5)?,
            }))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Which history events to read ([`Store::history_where`]).
#[derive(Debug, Default, Clone)]
pub struct HistoryQuery {
    pub limit: usize,
    pub fingerprint: Option<String>,
    pub text: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_watchdogs_delivered_notices_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("alarms.db")).unwrap();
        let notice = |name: &str, at_ms: i64| Change::Notice {
            receiver: "am",
            fingerprint: "f",
            status: "repeat",
            payload: serde_json::json!({"name": name}).to_string(),
            at_ms,
            delay_ms: 0,
        };
        s.apply(&[notice("watchdog", 1), notice("watchdog", 2), notice("watchdog", 3), notice("power_lost", 4)])
            .unwrap();
        for (id, at) in [(1, 10), (2, 500), (4, 10)] {
            s.delivered(id, at).unwrap();
        }
        // Delivered before 100: the first watchdog's; not the later one, the
        // undelivered one, nor another alarm's.
        assert_eq!(s.purge_delivered("watchdog", 100).unwrap(), 1);
        let left: Vec<i64> = s
            .conn
            .prepare("SELECT id FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(left, [2, 3, 4]);
    }

    #[test]
    fn the_history_is_read_for_one_alarm_or_by_a_text_in_its_values_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("alarms.db")).unwrap();
        for (i, (fp, name, detail)) in
            [("a", "feed_lost", "lộ A"), ("b", "room_hot", "50% ẩm"), ("a", "feed_lost", "resolved")].iter().enumerate()
        {
            s.conn
                .execute(
                    "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES (?1, ?2, '{\"site\":\"hn\"}', ?3, 'firing', ?4)",
                    params![fp, name, i as i64, detail],
                )
                .unwrap();
        }
        let of = |q: HistoryQuery| -> Vec<(String, i64)> {
            s.history_where(&q)
                .unwrap()
                .iter()
                .map(|h| (h["fingerprint"].as_str().unwrap().to_string(), h["at_ms"].as_i64().unwrap()))
                .collect()
        };
        let q = |fp: Option<&str>, text: Option<&str>| HistoryQuery {
            limit: 10,
            fingerprint: fp.map(str::to_string),
            text: text.map(str::to_string),
        };
        assert_eq!(of(q(Some("a"), None)), [("a".to_string(), 2), ("a".to_string(), 0)]);
        assert_eq!(of(q(None, Some("room"))), [("b".to_string(), 1)]);
        // `%` and `_` are the text itself, not LIKE's wildcards.
        assert_eq!(of(q(None, Some("50%"))), [("b".to_string(), 1)]);
        assert_eq!(of(q(None, Some("d_l"))), [("a".to_string(), 2), ("a".to_string(), 0)], "feed_lost's underscore");
        assert_eq!(of(q(None, Some("lộ_A"))), [], "an underscore is not any character");
        assert_eq!(of(q(None, Some("%%"))), []);
        assert_eq!(of(q(Some("b"), Some("lộ"))), []);
    }

    #[test]
    fn garbage_and_damaged_pages_are_corrupt_and_the_journal_survives_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("alarms.db");
        std::fs::write(&db, "not a database\n".repeat(100)).unwrap();
        std::fs::write(dir.path().join("alarms.db-wal"), b"junk wal").unwrap();
        let Err(OpenError::Corrupt { message, .. }) = Store::try_open(&db) else { panic!("garbage is corrupt") };
        assert_eq!(message, "file is not a database");
        assert_eq!(std::fs::read(dir.path().join("alarms.db-wal")).unwrap(), b"junk wal", "the check deletes nothing");

        // A sound file whose table pages are overwritten behind a valid header.
        let db = dir.path().join("damaged.db");
        {
            let s = Store::open(&db).unwrap();
            for i in 0..3 {
                s.conn
                    .execute(
                        "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES ('f', 'x', '{}', ?1, 'firing', ?2)",
                        params![i, "y".repeat(3000)],
                    )
                    .unwrap();
            }
            s.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        }
        let mut bytes = std::fs::read(&db).unwrap();
        assert!(bytes.len() > 3 * 4096, "{}", bytes.len());
        bytes[4096..3 * 4096].fill(0xA5);
        std::fs::write(&db, bytes).unwrap();
        assert!(matches!(Store::try_open(&db), Err(OpenError::Corrupt { .. })));

        // A sound one opens, and keeps what it holds.
        let db = dir.path().join("sound.db");
        drop(Store::open(&db).unwrap());
        assert!(Store::try_open(&db).unwrap().load().unwrap().is_empty());
    }

    /// Regression (issue 13 review): one row with a column of the wrong
    /// type made `silences()` fail, and with it the loading of all of them.
    #[test]
    fn a_damaged_silence_row_is_skipped_and_the_others_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("alarms.db")).unwrap();
        let m = |site: &str| {
            super::super::matchers::Matchers::try_from(BTreeMap::from([("site".to_string(), site.to_string())]))
                .unwrap()
        };
        let silence = |site: &str| Silence {
            id: 0,
            matchers: m(site),
            starts_ms: 1_000,
            ends_ms: 2_000,
            author: "nam".into(),
            reason: "bảo trì".into(),
        };
        for site in ["hn", "hcm", "dn", "hp", "ct"] {
            s.add_silence(&silence(site), 1_000).unwrap();
        }
        // Matchers stored as a blob, a time as text, matchers that are not JSON,
        // a reason as a blob (TEXT affinity turns an integer into text, so the
        // wrong types that stay are blobs and non-numeric text).
        s.conn.execute("UPDATE silences SET matchers = X'00FF' WHERE id = 1", []).unwrap();
        s.conn.execute("UPDATE silences SET starts_ms = 'soon' WHERE id = 2", []).unwrap();
        s.conn.execute("UPDATE silences SET matchers = '{not json' WHERE id = 4", []).unwrap();
        s.conn.execute("UPDATE silences SET reason = X'01' WHERE id = 5", []).unwrap();
        let got = s.silences().unwrap();
        assert_eq!(got, vec![Silence { id: 3, ..silence("dn") }]);
    }

    #[test]
    fn a_store_from_before_both_languages_keeps_its_alarms_with_their_one_text() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("alarms.db");
        {
            // The alarms table as it was, with one alarm in it.
            let c = Connection::open(&db).unwrap();
            c.execute_batch(
                "CREATE TABLE alarms (
                    fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, severity TEXT NOT NULL,
                    state TEXT NOT NULL, summary TEXT NOT NULL, value TEXT, since_ms INTEGER NOT NULL, fired_ms INTEGER,
                    sent_ms INTEGER, ack_by TEXT, ack_ms INTEGER, ack_comment TEXT, inhibited_by TEXT, escalated_ms INTEGER);
                 INSERT INTO alarms VALUES ('f1', 'feed_lost', '{\"site\":\"hn\"}', 'warning', 'firing',
                    'Feed A at hn is down', NULL, 1, 1, 1, NULL, NULL, NULL, NULL, NULL);",
            )
            .unwrap();
        }
        let mut s = Store::open(&db).unwrap();
        let mut a = s.load().unwrap().pop().unwrap();
        assert_eq!(a.summary.vi, "Feed A at hn is down");
        assert_eq!(a.summary.en, "Feed A at hn is down");
        a.summary = crate::i18n::alarms::Texts {
            vi: "Mất nguồn A tại trung tâm hn".into(),
            en: "Feed A at hn is down".into(),
        };
        s.apply(&[Change::Upsert(&a)]).unwrap();
        drop(s);
        let s = Store::open(&db).unwrap();
        assert_eq!(s.load().unwrap()[0].summary, a.summary);
    }
}
