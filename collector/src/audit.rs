//! The audit log: every acknowledgement, silence created or ended, refused
//! or failed authentication and configuration reload, with who (the token's
//! name and role), when, and from where. Kept in SQLite, appended to only
//! (the API reads it, never changes it), and written to the log as well.
//!
//! Failed authentications are what an attacker can make many of: per source
//! address, action and actor, the first in a minute is recorded at once and the rest
//! of that minute are folded into one record that counts them.

mod replica;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

/// Longest free text (a comment, a reason, a typed name) the API takes.
pub const MAX_TEXT_CHARS: usize = 1024;

/// Longest text a record's field keeps, whoever wrote it: a comment joins
/// a person's text (at most [`MAX_TEXT_CHARS`]) to what the action names.
pub const MAX_RECORD_CHARS: usize = 4096;

/// A text longer than [`MAX_TEXT_CHARS`]: the API answers with this
/// (English) message, the console words it from its catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` is {chars} characters long; at most {MAX_TEXT_CHARS}")]
pub struct TooLong {
    pub field: String,
    pub chars: usize,
}

/// `text` as the API keeps it, or why not: longer than [`MAX_TEXT_CHARS`]
/// is refused (naming `field`); control characters are replaced (see
/// [`clean`]).
pub fn checked_text(field: &str, text: &str) -> Result<String, TooLong> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(TooLong { field: field.to_string(), chars });
    }
    Ok(clean(text))
}

/// `text` with every control character (C0 including newline and tab, DEL,
/// C1) replaced by U+FFFD, and an escape sequence (CSI `ESC [ … final`,
/// OSC `ESC ] … BEL or ESC \`, or `ESC` and one character) replaced whole
/// by one U+FFFD: a terminal showing the log or a reader of `/api/audit`
/// must not be sent sequences that move the cursor, retitle the window or
/// hide what was written before. The characters that reorder or hide text
/// (bidirectional controls, zero-width ones) are replaced too; a sequence
/// that never ends swallows at most 64 characters; and the text is cut at
/// [`MAX_RECORD_CHARS`] (with `…`), whoever wrote it (a writer's tag values
/// reach the audit log in refusal comments).
pub fn clean(text: &str) -> String {
    let hiding = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(hiding) && text.len() <= MAX_RECORD_CHARS {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len().min(4 * MAX_RECORD_CHARS + 3));
    let mut kept = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if kept == MAX_RECORD_CHARS {
            out.push('…');
            break;
        }
        kept += 1;
        if !hiding(c) {
            out.push(c);
            continue;
        }
        out.push('\u{fffd}');
        if c != '\u{1b}' {
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates up to a final byte in @..~.
            Some('[') => {
                for c in chars.by_ref().take(64) {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \\).
            Some(']' | 'P' | 'X' | '^' | '_') => {
                for _ in 0..64 {
                    let Some(c) = chars.next() else { break };
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        chars.next_if_eq(&'\\');
                        break;
                    }
                }
            }
            // ESC and one character; a control character after it is replaced too.
            Some(c) if c.is_control() => out.push('\u{fffd}'),
            _ => {}
        }
    }
    out
}

/// One record, as stored and as `/api/audit` gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub id: i64,
    pub at_ms: i64,
    /// The token's name (later the user's); `-` when none was accepted.
    pub actor: String,
    /// The actor's role, or `agent` for an ingest token, `-` for none.
    pub role: String,
    /// The client's address, `-` when unknown (a request made in-process).
    pub source: String,
    /// `ack`, `unack`, `silence_create`, `silence_end`, `api_auth_failed`,
    /// `api_forbidden`, `ingest_auth_failed`, `ingest_forbidden`, `config_reload`.
    pub action: String,
    /// What it was done to: an alarm's fingerprint, a silence's id, a path.
    pub target: String,
    pub comment: String,
    /// `ok` or `refused`.
    pub outcome: String,
    /// The peered collector it was done at (`peering:`); empty: this one.
    #[serde(default)]
    pub origin: String,
}

/// What a caller records; the log adds the id and the time.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub actor: &'a str,
    pub role: &'a str,
    pub source: Option<IpAddr>,
    pub action: &'a str,
    pub target: &'a str,
    pub comment: &'a str,
    pub refused: bool,
}

/// A query of the log: every part optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub source: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Records whose actor, action, target, comment or source holds this
    /// text (SQLite's `LIKE`: ASCII letters in any case).
    pub text: Option<String>,
    /// `ok` or `refused`.
    pub outcome: Option<String>,
    /// Records older than this one (by id): the next page.
    pub before_id: Option<i64>,
    /// Most records, newest first. Defaults to 100, at most 10000.
    pub limit: Option<usize>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
    source TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, comment TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at_ms);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action);
";

/// Failed authentications from one source, of one kind and actor, this minute.
struct Window {
    /// When the window opened, on the monotonic clock: a wall clock set
    /// back must not keep a window open for an hour (or close it at once).
    opened: Instant,
    folded: u64,
    /// Wall time (ms since the epoch) of the first and the last folded failure.
    first_ms: i64,
    last_ms: i64,
    /// The last folded failure's.
    actor: String,
    role: String,
    target: String,
}

/// A window's count, ready to write.
struct Folded {
    source: Option<IpAddr>,
    action: String,
    window: Window,
}

/// A window is per source address, action and actor.
type WindowKey = (Option<IpAddr>, String, String);

/// Sources tracked at once; past it the rest share one window.
const MAX_WINDOWS: usize = 1024;
const WINDOW: Duration = Duration::from_secs(60);

pub struct Audit {
    conn: Mutex<Connection>,
    /// Queries (the console's audit page, `/api/audit`) read on their own
    /// connection: the log is in WAL mode, so a long search does not hold
    /// up the records being written meanwhile.
    reader: Mutex<Connection>,
    windows: Mutex<HashMap<WindowKey, Window>>,
    retention_days: u32,
}

fn source_text(s: Option<IpAddr>) -> String {
    s.map_or_else(|| "-".to_string(), |ip| ip.to_string())
}

impl Audit {
    pub fn open(path: &Path, retention_days: u32) -> Result<Audit, crate::db::OpenError> {
        let conn = crate::db::open(path, Some(std::time::Duration::from_secs(5)), SCHEMA)?;
        replica::migrate(&conn).map_err(|source| crate::db::OpenError::Schema { path: path.to_path_buf(), source })?;
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| crate::db::OpenError::Open { path: path.to_path_buf(), source })?;
        let audit = Audit {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            windows: Mutex::new(HashMap::new()),
            retention_days,
        };
        audit.purge(crate::alarm::now_ms())?;
        Ok(audit)
    }

    /// Records `e` now: in the log at once, and in SQLite.
    pub fn record(&self, e: &Event<'_>) {
        self.record_at(e, crate::alarm::now_ms());
    }

    pub fn record_at(&self, e: &Event<'_>, now_ms: i64) {
        self.record_from(e, &source_text(e.source), now_ms);
    }

    /// Records `e` done on this machine, not over the network: `source`
    /// says how (`cli` for `dcwatch-collector user …`).
    pub fn record_from(&self, e: &Event<'_>, source: &str, now_ms: i64) {
        let outcome = if e.refused { "refused" } else { "ok" };
        // Whatever a caller passes, neither the log nor the database gets a
        // control character (the API cleans what it takes as well).
        let (actor, role, action, target, comment) =
            (clean(e.actor), clean(e.role), clean(e.action), clean(e.target), clean(e.comment));
        if e.refused {
            tracing::warn!(actor = %actor, role = %role, source = %source, action = %action,
                target = %target, comment = %comment, "audit: refused");
        } else {
            tracing::info!(actor = %actor, role = %role, source = %source, action = %action,
                target = %target, comment = %comment, "audit");
        }
        self.insert(now_ms, &actor, &role, source, &action, &target, &comment, outcome);
    }

    /// Records a failed authentication, folding a flood (see the module doc).
    pub fn record_failure(&self, e: &Event<'_>) {
        self.record_failure_at(e, Instant::now(), crate::alarm::now_ms());
    }

    /// [`Self::record_failure`] at `now` (monotonic, for the windows) and
    /// `now_ms` (wall time, for the record).
    pub fn record_failure_at(&self, e: &Event<'_>, now: Instant, now_ms: i64) {
        let (flush, first) = {
            let mut w = self.windows.lock().expect("not poisoned");
            let flush = Self::take_ended(&mut w, |win| now.saturating_duration_since(win.opened) >= WINDOW);
            let mut key = (e.source, e.action.to_string(), e.actor.to_string());
            if w.len() >= MAX_WINDOWS && !w.contains_key(&key) {
                // Past the bound every newcomer shares one window.
                key = (None, e.action.to_string(), "*".to_string());
            }
            let first = match w.get_mut(&key) {
                Some(win) => {
                    win.folded += 1;
                    if win.folded == 1 {
                        win.first_ms = now_ms;
                    }
                    win.last_ms = now_ms;
                    win.actor = e.actor.to_string();
                    win.role = e.role.to_string();
                    win.target = e.target.to_string();
                    false
                }
                None => {
                    let win = Window {
                        opened: now,
                        folded: 0,
                        first_ms: now_ms,
                        last_ms: now_ms,
                        actor: String::new(),
                        role: String::new(),
                        target: String::new(),
                    };
                    w.insert(key, win);
                    true
                }
            };
            (flush, first)
        };
        self.write_folded(flush);
        if first {
            self.record_at(&Event { refused: true, ..e.clone() }, now_ms);
        }
    }

    /// Writes the count of every window that has ended; called every minute
    /// so the last failures of a flood are recorded without waiting for
    /// another one.
    pub fn flush(&self) {
        self.flush_at(Instant::now());
    }

    /// [`Self::flush`] as of `now` (monotonic).
    pub fn flush_at(&self, now: Instant) {
        let flush = {
            let mut w = self.windows.lock().expect("not poisoned");
            Self::take_ended(&mut w, |win| now.saturating_duration_since(win.opened) >= WINDOW)
        };
        self.write_folded(flush);
    }

    /// Writes the count of every window, ended or not: at shutdown.
    pub fn flush_all(&self) {
        let flush = Self::take_ended(&mut self.windows.lock().expect("not poisoned"), |_| true);
        self.write_folded(flush);
    }

    /// Removes the windows `ended` says have, and returns those that folded
    /// something (one that folded nothing has been recorded whole).
    fn take_ended(w: &mut HashMap<WindowKey, Window>, ended: impl Fn(&Window) -> bool) -> Vec<Folded> {
        let keys: Vec<WindowKey> = w.iter().filter(|(_, win)| ended(win)).map(|(k, _)| k.clone()).collect();
        let mut out: Vec<Folded> = keys
            .into_iter()
            .filter_map(|k| {
                let window = w.remove(&k)?;
                (window.folded > 0).then_some(Folded { source: k.0, action: k.1, window })
            })
            .collect();
        out.sort_by_key(|f| f.window.last_ms);
        out
    }

    fn write_folded(&self, flush: Vec<Folded>) {
        for Folded { source, action, window: w } in flush {
            let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string());
            let comment =
                format!("{} more like it from {} to {} (the last shown)", w.folded, at(w.first_ms), at(w.last_ms));
            tracing::warn!(actor = %clean(&w.actor), role = %clean(&w.role), source = %source_text(source),
                action = %clean(&action), target = %clean(&w.target), comment = %comment, "audit: refused");
            self.insert(w.last_ms, &w.actor, &w.role, &source_text(source), &action, &w.target, &comment, "refused");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        at_ms: i64,
        actor: &str,
        role: &str,
        source: &str,
        action: &str,
        target: &str,
        comment: &str,
        outcome: &str,
    ) {
        let (actor, role, action, target, comment) =
            (clean(actor), clean(role), clean(action), clean(target), clean(comment));
        let conn = self.conn.lock().expect("not poisoned");
        if let Err(e) = conn.execute(
            "INSERT INTO audit (at_ms, actor, role, source, action, target, comment, outcome) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![at_ms, actor, role, source, action, target, comment, outcome],
        ) {
            // The log line above already holds the record.
            tracing::error!(error = %e, action = %action, "cannot write the audit record to its database");
        }
    }

    /// Records matching `f`, newest first.
    pub fn query(&self, f: &Filter) -> Result<Vec<Record>, String> {
        let conn = self.reader.lock().expect("not poisoned");
        let mut st = conn
            .prepare(
                "SELECT id, at_ms, actor, role, source, action, target, comment, outcome, origin FROM audit \
                 WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR source = ?3) \
                 AND (?4 IS NULL OR at_ms >= ?4) AND (?5 IS NULL OR at_ms < ?5) AND (?7 IS NULL OR outcome = ?7) \
                 AND (?8 IS NULL OR id < ?8) \
                 AND (?9 IS NULL OR actor LIKE ?9 ESCAPE '\\' OR action LIKE ?9 ESCAPE '\\' \
                      OR target LIKE ?9 ESCAPE '\\' OR comment LIKE ?9 ESCAPE '\\' OR source LIKE ?9 ESCAPE '\\') \
                 ORDER BY id DESC LIMIT ?6",
            )
            .map_err(|e| e.to_string())?;
        let limit = f.limit.unwrap_or(100).min(10_000) as i64;
        let like = f.text.as_deref().map(crate::db::like_containing);
        let (actor, action, source, since, until) = (&f.actor, &f.action, &f.source, f.since_ms, f.until_ms);
        let rows = st
            .query_map(params![actor, action, source, since, until, limit, f.outcome, f.before_id, like], row)
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }

    /// Removes records past the retention (the peer's too).
    pub fn purge(&self, now_ms: i64) -> rusqlite::Result<usize> {
        let cutoff = now_ms - i64::from(self.retention_days) * 86_400_000;
        self.conn.lock().expect("not poisoned").execute("DELETE FROM audit WHERE at_ms < ?1", params![cutoff])
    }
}

/// A record from a row of `id, at_ms, actor, role, source, action, target, comment, outcome, origin`.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        actor: r.get(2)?,
        role: r.get(3)?,
        source: r.get(4)?,
        action: r.get(5)?,
        target: r.get(6)?,
        comment: r.get(7)?,
        outcome: r.get(8)?,
        origin: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> Audit {
        Audit::open(&dir.path().join("audit.db"), 400).unwrap()
    }

    fn ack<'a>() -> Event<'a> {
        Event {
            actor: "nam",
            role: "operator",
            source: Some("10.0.0.7".parse().unwrap()),
            action: "ack",
            target: "fp1",
            comment: "đang xử lý",
            refused: false,
        }
    }

    #[test]
    fn a_record_keeps_who_when_where_what_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let a = open(&dir);
        a.record_at(&ack(), 1_000);
        assert_eq!(
            a.query(&Filter::default()).unwrap(),
            vec![Record {
                id: 1,
                at_ms: 1_000,
                actor: "nam".into(),
                role: "operator".into(),
                source: "10.0.0.7".into(),
                action: "ack".into(),
                target: "fp1".into(),
                comment: "đang xử lý".into(),
                outcome: "ok".into(),
                origin: String::new(),
            }]
        );
    }

    #[test]
    fn control_characters_and_escape_sequences_are_replaced() {
        let f = '\u{fffd}';
        for (dirty, want) in [
            ("plain Hà Nội", "plain Hà Nội".to_string()),
            ("\u{1b}[31mred\u{1b}[0m", format!("{f}red{f}")),
            ("\u{1b}]0;pwned\u{7}title", format!("{f}title")),
            ("\u{1b}]8;;http://x\u{1b}\\link", format!("{f}link")),
            ("a\nb\tc\rd\u{0}e\u{7f}f\u{9b}g\u{85}h", format!("a{f}b{f}c{f}d{f}e{f}f{f}g{f}h")),
            ("\u{1b}c reset", format!("{f} reset")),
            ("end\u{1b}", format!("end{f}")),
            // Text that reorders or hides: replaced.
            ("ab\u{202e}cd\u{2066}e\u{200b}f", format!("ab{f}cd{f}e{f}f")),
            // An OSC that never ends swallows 64 characters, not the rest.
            (&format!("\u{1b}]{}token=web01", "x".repeat(64)), format!("{f}token=web01")),
        ] {
            assert_eq!(clean(dirty), want, "{dirty:?}");
        }
        assert_eq!(checked_text("comment", &"ắ".repeat(1024)).unwrap(), "ắ".repeat(1024));
        // Whoever writes it, a record's text is cut at 4096 characters.
        assert_eq!(clean(&"ắ".repeat(5000)), format!("{}…", "ắ".repeat(4096)));
        assert_eq!(
            checked_text("comment", &"ắ".repeat(1025)).unwrap_err().to_string(),
            "`comment` is 1025 characters long; at most 1024"
        );
    }

    #[test]
    fn a_record_written_with_control_characters_is_stored_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = open(&dir);
        a.record_at(&Event { actor: "nam\u{1b}[2J", comment: "ok\n\u{1b}]0;x\u{7}", ..ack() }, 1_000);
        let r = &a.query(&Filter::default()).unwrap()[0];
        assert_eq!((r.actor.as_str(), r.comment.as_str()), ("nam\u{fffd}", "ok\u{fffd}\u{fffd}"));
    }

    fn fail<'a>(src: &str, actor: &'a str, role: &'a str) -> Event<'a> {
        Event {
            actor,
            role,
            source: Some(src.parse().unwrap()),
            action: "api_forbidden",
            target: "/api/audit",
            comment: "needs role admin",
            refused: true,
        }
    }

    fn rows(a: &Audit) -> Vec<(i64, String, String, String, String)> {
        let rows = a.query(&Filter::default()).unwrap();
        assert!(rows.iter().all(|r| r.outcome == "refused"));
        rows.iter()
            .rev()
            .map(|r| (r.at_ms, r.source.clone(), r.actor.clone(), r.role.clone(), r.comment.clone()))
            .collect()
    }

    fn row(at_ms: i64, source: &str, actor: &str, role: &str, comment: &str) -> (i64, String, String, String, String) {
        (at_ms, source.into(), actor.into(), role.into(), comment.into())
    }

    #[test]
    fn a_flood_of_failed_logins_is_folded_per_source_and_minute() {
        let dir = tempfile::tempdir().unwrap();
        let a = open(&dir);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // 1_767_225_600_000 is 2026-01-01T00:00:00Z.
        let wall = 1_767_225_600_000;
        for i in 0..500 {
            a.record_failure_at(&fail("10.0.0.9", "noc", "viewer"), t0 + ms(i), wall + i as i64);
        }
        a.record_failure_at(&fail("10.0.0.10", "noc", "viewer"), t0 + ms(1_000), wall + 1_000);
        // The minute is over: the next failure writes the folded count first.
        a.record_failure_at(&fail("10.0.0.9", "noc", "viewer"), t0 + ms(61_000), wall + 61_000);
        assert_eq!(
            rows(&a),
            vec![
                row(wall, "10.0.0.9", "noc", "viewer", "needs role admin"),
                row(wall + 1_000, "10.0.0.10", "noc", "viewer", "needs role admin"),
                row(
                    wall + 499,
                    "10.0.0.9",
                    "noc",
                    "viewer",
                    "499 more like it from 2026-01-01T00:00:00.001Z to 2026-01-01T00:00:00.499Z (the last shown)"
                ),
                row(wall + 61_000, "10.0.0.9", "noc", "viewer", "needs role admin"),
            ]
        );
    }

    /// Regression (issue 13 review): a window's count was written only when
    /// a later failure came, so the end of a flood could stay unrecorded.
    #[test]
    fn an_ended_window_is_written_by_the_timer_and_every_window_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let a = open(&dir);
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let wall = 1_767_225_600_000;
        a.record_failure_at(&fail("10.0.0.9", "noc", "viewer"), t0, wall);
        a.record_failure_at(&fail("10.0.0.9", "noc", "viewer"), t0 + s(10), wall + 10_000);
        a.record_failure_at(&fail("10.0.0.9", "noc", "viewer"), t0 + s(20), wall + 20_000);
        // The wall clock is set back an hour: the windows age by the monotonic one.
        a.record_failure_at(&fail("10.0.0.7", "oncall", "operator"), t0 + s(30), wall - 3_600_000);
        a.record_failure_at(&fail("10.0.0.7", "oncall", "operator"), t0 + s(40), wall - 3_590_000);
        a.flush_at(t0 + s(59));
        assert_eq!(rows(&a).len(), 2, "no window has ended yet");
        a.flush_at(t0 + s(60));
        let first = row(wall, "10.0.0.9", "noc", "viewer", "needs role admin");
        let second = row(wall - 3_600_000, "10.0.0.7", "oncall", "operator", "needs role admin");
        let folded_9 = row(
            wall + 20_000,
            "10.0.0.9",
            "noc",
            "viewer",
            "2 more like it from 2026-01-01T00:00:10Z to 2026-01-01T00:00:20Z (the last shown)",
        );
        assert_eq!(rows(&a), vec![first.clone(), second.clone(), folded_9.clone()]);
        // Written once: a later tick finds nothing more.
        a.flush_at(t0 + s(80));
        assert_eq!(rows(&a).len(), 3);
        a.flush_all();
        let folded_7 = row(
            wall - 3_590_000,
            "10.0.0.7",
            "oncall",
            "operator",
            "1 more like it from 2025-12-31T23:00:10Z to 2025-12-31T23:00:10Z (the last shown)",
        );
        assert_eq!(rows(&a), vec![first, second, folded_9, folded_7]);
        // After a window is flushed, the next failure is recorded at once again.
        a.record_failure_at(&fail("10.0.0.9", "noc", "viewer"), t0 + s(130), wall + 130_000);
        assert_eq!(rows(&a).len(), 5);
    }

    #[test]
    fn the_filter_picks_by_actor_action_and_time_and_old_records_expire() {
        let dir = tempfile::tempdir().unwrap();
        let a = open(&dir);
        a.record_at(&ack(), 1_000);
        a.record_at(&Event { action: "silence_create", target: "7", ..ack() }, 2_000);
        a.record_at(&Event { actor: "lan", ..ack() }, 3_000);
        let ids = |f: Filter| a.query(&f).unwrap().iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(Filter { actor: Some("nam".into()), ..Default::default() }), vec![2, 1]);
        assert_eq!(ids(Filter { action: Some("silence_create".into()), ..Default::default() }), vec![2]);
        assert_eq!(ids(Filter { since_ms: Some(2_000), until_ms: Some(3_000), ..Default::default() }), vec![2]);
        assert_eq!(ids(Filter { limit: Some(1), ..Default::default() }), vec![3]);
        assert_eq!(ids(Filter { before_id: Some(3), limit: Some(1), ..Default::default() }), vec![2]);
        assert_eq!(ids(Filter { text: Some("SILENCE".into()), ..Default::default() }), vec![2]);
        assert_eq!(
            ids(Filter { text: Some("%".into()), ..Default::default() }),
            Vec::<i64>::new(),
            "% is a percent sign"
        );
        assert_eq!(ids(Filter { outcome: Some("refused".into()), ..Default::default() }), Vec::<i64>::new());
        a.record_at(&Event { refused: true, ..ack() }, 3_500);
        assert_eq!(ids(Filter { outcome: Some("refused".into()), ..Default::default() }), vec![4]);
        let day = 86_400_000;
        assert_eq!(a.purge(400 * day + 2_500).unwrap(), 2);
        assert_eq!(ids(Filter::default()), vec![4, 3]);
    }
}
