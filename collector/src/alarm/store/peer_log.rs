//! The replicated log two peered collectors exchange (`crate::peer`): what
//! this collector sent (a notice: receiver, fingerprint, state, when) and
//! decided (acknowledgements, silences), numbered in order, and what the
//! peer's log holds, as far as it has been read (a cursor per peer). The
//! local entries are written in the transaction of what they record, so a
//! notice marked delivered is in the log, and a crash loses neither.
//!
//! Every entry is idempotent and merges by id and time: a silence by its
//! `uid` (added once, its end the earliest of the ends known), an
//! acknowledgement by the alarm and the time, so the same decision made at
//! both sites during a partition converges once they talk again.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError};
use crate::alarm::matchers::Matchers;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS peer_log (
    origin TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, kind TEXT NOT NULL,
    receiver TEXT NOT NULL DEFAULT '', fingerprint TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL, PRIMARY KEY (origin, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS peer_log_notice ON peer_log (receiver, fingerprint, at_ms);
CREATE INDEX IF NOT EXISTS peer_log_at ON peer_log (at_ms);
CREATE INDEX IF NOT EXISTS outbox_notice ON outbox (fingerprint, receiver);
CREATE TABLE IF NOT EXISTS peer_cursor (peer TEXT PRIMARY KEY, log_id TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS peer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO peer_meta (key, value) VALUES ('log_id', lower(hex(randomblob(16))));
";

/// Columns later versions added to older tables: the silences' global id
/// and who sent a notice this collector then did not.
pub(super) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has = |table: &str, column: &str| -> rusqlite::Result<bool> {
        conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?.exists([column])
    };
    if !has("silences", "uid")? {
        conn.execute_batch("ALTER TABLE silences ADD COLUMN uid TEXT")?;
    }
    conn.execute_batch(
        "UPDATE silences SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
         CREATE UNIQUE INDEX IF NOT EXISTS silences_uid ON silences (uid);",
    )?;
    if !has("outbox", "peer_sent")? {
        conn.execute_batch("ALTER TABLE outbox ADD COLUMN peer_sent TEXT")?;
    }
    Ok(())
}

/// The origin of this collector's own entries.
const LOCAL: &str = "";

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A notice delivered to its receiver.
    Notice {
        receiver: String,
        fingerprint: String,
        status: String,
    },
    Ack {
        fingerprint: String,
        by: String,
        comment: String,
    },
    Unack {
        fingerprint: String,
        by: String,
    },
    Silence {
        uid: String,
        matchers: Matchers,
        starts_ms: i64,
        ends_ms: i64,
        author: String,
        reason: String,
    },
    SilenceEnd {
        uid: String,
    },
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self {
            Entry::Notice { .. } => "notice",
            Entry::Ack { .. } => "ack",
            Entry::Unack { .. } => "unack",
            Entry::Silence { .. } => "silence",
            Entry::SilenceEnd { .. } => "silence_end",
        }
    }

    /// The longest text an entry from a peer may hold in one field: more
    /// is refused, not stored (a peer holds the secret, but a bug or a
    /// hostile one must not fill the disk).
    pub const MAX_TEXT: usize = 4096;

    /// Whether every text of the entry is within [`Self::MAX_TEXT`] bytes.
    pub fn bounded(&self) -> bool {
        let ok = |s: &str| s.len() <= Self::MAX_TEXT;
        match self {
            Entry::Notice { receiver, fingerprint, status } => ok(receiver) && ok(fingerprint) && ok(status),
            Entry::Ack { fingerprint, by, comment } => ok(fingerprint) && ok(by) && ok(comment),
            Entry::Unack { fingerprint, by } => ok(fingerprint) && ok(by),
            Entry::Silence { uid, matchers, author, reason, .. } => {
                ok(uid) && ok(author) && ok(reason) && matchers.raw().iter().all(|(k, v)| ok(k) && ok(v))
            }
            Entry::SilenceEnd { uid } => ok(uid),
        }
    }
}

/// An entry with its place in its origin's log and its time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Logged {
    pub seq: i64,
    pub at_ms: i64,
    #[serde(flatten)]
    pub entry: Entry,
}

/// The change of a peered collector to write with the rest of a transaction.
#[derive(Debug, Clone)]
pub enum PeerChange<'a> {
    /// This collector's own entry, numbered next.
    Local { entry: Entry, at_ms: i64 },
    /// An entry read from `peer`'s log (`log_id`); the cursor moves past it.
    FromPeer { peer: &'a str, log_id: &'a str, logged: Logged },
    /// `peer`'s log is another than the one its cursor is in (its
    /// alarms.db was replaced): what was read of the old one goes, and it
    /// is read again from the start.
    NewPeerLog { peer: &'a str, log_id: &'a str },
    /// An entry of `peer`'s log this version cannot read: the cursor moves past it.
    Skip { peer: &'a str, log_id: &'a str, seq: i64 },
}

/// A new silence's global id: 128 random bits.
pub fn new_uid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source");
    hex::encode(b)
}

fn next_local_seq(tx: &Transaction) -> rusqlite::Result<i64> {
    tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM peer_log WHERE origin = ''", [], |r| r.get(0))
}

fn insert(tx: &Transaction, origin: &str, logged: &Logged) -> rusqlite::Result<usize> {
    let (receiver, fingerprint, status) = match &logged.entry {
        Entry::Notice { receiver, fingerprint, status } => (receiver.as_str(), fingerprint.as_str(), status.as_str()),
        Entry::Ack { fingerprint, .. } | Entry::Unack { fingerprint, .. } => ("", fingerprint.as_str(), ""),
        _ => ("", "", ""),
    };
    let body = serde_json::to_string(&logged.entry).unwrap_or_default();
    tx.execute(
        "INSERT OR IGNORE INTO peer_log (origin, seq, at_ms, kind, receiver, fingerprint, status, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![origin, logged.seq, logged.at_ms, logged.entry.kind(), receiver, fingerprint, status, body],
    )
}

fn move_cursor(tx: &Transaction, peer: &str, log_id: &str, seq: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO peer_cursor (peer, log_id, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer) DO UPDATE SET seq = MAX(seq, excluded.seq)",
        params![peer, log_id, seq],
    )?;
    Ok(())
}

/// Writes `c` inside `tx` (from [`Store::apply`]).
pub(super) fn apply(tx: &Transaction, c: &PeerChange<'_>) -> rusqlite::Result<()> {
    match c {
        PeerChange::Local { entry, at_ms } => {
            let seq = next_local_seq(tx)?;
            insert(tx, LOCAL, &Logged { seq, at_ms: *at_ms, entry: entry.clone() })?;
        }
        PeerChange::NewPeerLog { peer, log_id } => {
            tx.execute("DELETE FROM peer_log WHERE origin = ?1", params![peer])?;
            tx.execute(
                "INSERT INTO peer_cursor (peer, log_id, seq) VALUES (?1, ?2, 0)
                     ON CONFLICT (peer) DO UPDATE SET log_id = excluded.log_id, seq = 0",
                params![peer, log_id],
            )?;
        }
        PeerChange::Skip { peer, log_id, seq } => move_cursor(tx, peer, log_id, *seq)?,
        PeerChange::FromPeer { peer, log_id, logged } => {
            insert(tx, peer, logged)?;
            move_cursor(tx, peer, log_id, logged.seq)?;
            match &logged.entry {
                Entry::Silence { uid, matchers, starts_ms, ends_ms, author, reason } => {
                    tx.execute(
                        "INSERT INTO silences (matchers, starts_ms, ends_ms, author, reason, uid)
                             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM silences WHERE uid = ?6)",
                        params![
                            serde_json::to_string(matchers).unwrap_or_default(),
                            starts_ms,
                            ends_ms,
                            author,
                            reason,
                            uid
                        ],
                    )?;
                }
                Entry::SilenceEnd { uid } => {
                    tx.execute(
                        "UPDATE silences SET ends_ms = MIN(ends_ms, ?2) WHERE uid = ?1",
                        params![uid, logged.at_ms],
                    )?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

impl Store {
    /// This collector's own entries after `after`, at most `limit`, and the
    /// last number it has given.
    pub fn log_since(&self, after: i64, limit: usize) -> Result<(Vec<Logged>, i64), StoreError> {
        let last: i64 =
            self.conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM peer_log WHERE origin = ''", [], |r| r.get(0))?;
        let mut st = self
            .conn
            .prepare("SELECT seq, at_ms, body FROM peer_log WHERE origin = '' AND seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = st.query_map(params![after, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at_ms, body) = row?;
            match serde_json::from_str(&body) {
                Ok(entry) => out.push(Logged { seq, at_ms, entry }),
                Err(e) => tracing::error!(seq, error = %e, "an entry of the peer log cannot be read; it is skipped"),
            }
        }
        Ok((out, last))
    }

    /// The peers' last decision on the alarm `fingerprint` made since
    /// `since_ms` and since this collector last resolved it (one before was
    /// of an earlier episode): an acknowledgement, or its taking back; the
    /// peer that made it, and the entry.
    pub fn peer_decision(&self, fingerprint: &str, since_ms: i64) -> Result<Option<(String, Logged)>, StoreError> {
        let row: Option<(String, i64, i64, String)> = self
            .conn
            .query_row(
                "SELECT origin, seq, at_ms, body FROM peer_log
                     WHERE receiver = '' AND fingerprint = ?1 AND origin != ''
                       AND at_ms >= MAX(?2, COALESCE((SELECT MAX(at_ms) FROM history
                           WHERE fingerprint = ?1 AND event = 'resolved'), 0))
                       AND kind IN ('ack', 'unack')
                     ORDER BY at_ms DESC, seq DESC LIMIT 1",
                params![fingerprint, since_ms],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row.and_then(|(origin, seq, at_ms, body)| {
            serde_json::from_str(&body).ok().map(|entry| (origin, Logged { seq, at_ms, entry }))
        }))
    }

    /// This collector's log's id: random, made with the database.
    pub fn log_id(&self) -> Result<String, StoreError> {
        Ok(self.conn.query_row("SELECT value FROM peer_meta WHERE key = 'log_id'", [], |r| r.get(0))?)
    }

    /// Which of `peer`'s logs has been read, and how far (None: none yet).
    pub fn peer_cursor(&self, peer: &str) -> Result<Option<(String, i64)>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT log_id, seq FROM peer_cursor WHERE peer = ?1", params![peer], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// The peer that delivered the notice `id` (to `receiver`, of alarm
    /// `fingerprint`, in `status`) since `since_ms`, if one did: a notice
    /// of the peer's of that alarm to that receiver in the same state (a
    /// repeat and a first notice count alike, "still firing") that came
    /// after this collector queued its own last one of it, sent or found sent, so a
    /// notice of an earlier episode never stands for one of this episode.
    /// (Not only the peer's last: it may have resolved the alarm before
    /// this collector's hold of the firing ended.)
    /// A storm's summary is never taken as sent: the alarms it folds may
    /// not be the ones the peer folded.
    pub fn sent_by_peer(
        &self,
        id: i64,
        receiver: &str,
        fingerprint: &str,
        status: &str,
        since_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        if status == "summary" {
            return Ok(None);
        }
        let class = |s: &str| if s == "repeat" { "firing".to_string() } else { s.to_string() };
        let own_last: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(created_ms), 0) FROM outbox
                 WHERE fingerprint = ?2 AND receiver = ?1 AND delivered_ms IS NOT NULL AND id < ?3",
            params![receiver, fingerprint, id],
            |r| r.get(0),
        )?;
        let mut st = self.conn.prepare(
            "SELECT origin, status FROM peer_log
                 WHERE receiver = ?1 AND fingerprint = ?2 AND at_ms >= ?3 AND origin != '' AND kind = 'notice'
                 ORDER BY at_ms DESC",
        )?;
        let mut rows = st.query(params![receiver, fingerprint, since_ms.max(own_last)])?;
        while let Some(r) = rows.next()? {
            let (origin, s): (String, String) = (r.get(0)?, r.get(1)?);
            if class(&s) == class(status) {
                return Ok(Some(origin));
            }
        }
        Ok(None)
    }

    /// A notice the peer has sent: done here too, without a delivery.
    pub fn sent_elsewhere(&self, id: i64, now_ms: i64, peer: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET delivered_ms = ?2, last_error = NULL, peer_sent = ?3 WHERE id = ?1",
                params![id, now_ms, peer],
            )
            .map(|_| ())
            .map_err(StoreError::from)
    }

    /// Makes the notices not tried yet that wait past `now_ms` due now.
    pub fn release_held(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET next_ms = ?1 WHERE delivered_ms IS NULL AND attempts = 0 AND next_ms > ?1",
                params![now_ms],
            )
            .map_err(StoreError::from)
    }

    /// Removes log entries older than `before_ms`, but for this
    /// collector's last one, whose number the next continues from (a
    /// peer's cursor must never be past the end).
    pub fn purge_log(&self, before_ms: i64, now_ms: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "DELETE FROM peer_log WHERE at_ms < ?1
                     AND NOT (origin = '' AND seq = (SELECT MAX(seq) FROM peer_log WHERE origin = ''))
                     AND NOT (origin = '' AND kind = 'silence' AND EXISTS (SELECT 1 FROM silences
                         WHERE silences.uid = json_extract(peer_log.body, '$.uid') AND silences.ends_ms > ?2))",
                params![before_ms, now_ms],
            )
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Change, Store};
    use super::*;

    fn notice(at_ms: i64, seq: i64, status: &str) -> Change<'static> {
        let entry = Entry::Notice { receiver: "hook".into(), fingerprint: "fp".into(), status: status.into() };
        Change::Peer(PeerChange::FromPeer { peer: "a", log_id: "L", logged: Logged { seq, at_ms, entry } })
    }

    fn queue(s: &mut Store, status: &'static str, at_ms: i64) -> i64 {
        s.apply(&[Change::Notice {
            receiver: "hook",
            fingerprint: "fp",
            status,
            payload: "{}".into(),
            at_ms,
            delay_ms: 0,
        }])
        .unwrap();
        s.due(i64::MAX, 100).unwrap().last().unwrap().id
    }

    #[test]
    fn the_peers_notice_counts_only_for_the_same_state_after_this_ones_last_and_never_for_a_summary() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("alarms.db")).unwrap();
        // The window: 500 ms before a notice was queued.
        let sent =
            |s: &Store, id: i64, status: &str, at: i64| s.sent_by_peer(id, "hook", "fp", status, at - 500).unwrap();
        // Episode 1: a sent the firing at 1 000; b, which queued it at 900, finds it.
        s.apply(&[notice(1_000, 1, "firing")]).unwrap();
        let first = queue(&mut s, "firing", 900);
        assert_eq!(sent(&s, first, "firing", 900).as_deref(), Some("a"));
        s.sent_elsewhere(first, 1_500, "a").unwrap();
        // A repeat counts as the same state, within the window.
        let repeat = queue(&mut s, "repeat", 2_000);
        assert_eq!(sent(&s, repeat, "repeat", 2_000), None, "a's firing is out of the repeat's window");
        s.apply(&[notice(2_100, 2, "repeat")]).unwrap();
        assert_eq!(sent(&s, repeat, "repeat", 2_000).as_deref(), Some("a"));
        s.sent_elsewhere(repeat, 2_200, "a").unwrap();
        let resolved = queue(&mut s, "resolved", 3_000);
        assert_eq!(sent(&s, resolved, "resolved", 3_000), None, "no resolve from a");
        s.delivered(resolved, 3_100).unwrap();
        // Episode 2: a's notices of episode 1 do not stand for b's new firing.
        let again = queue(&mut s, "firing", 3_400);
        s.apply(&[notice(3_200, 3, "resolved")]).unwrap();
        assert_eq!(sent(&s, again, "firing", 3_400), None);
        s.apply(&[notice(3_500, 4, "firing")]).unwrap();
        assert_eq!(sent(&s, again, "firing", 3_400).as_deref(), Some("a"));
        // Past the window, nothing counts.
        assert_eq!(s.sent_by_peer(again, "hook", "fp", "firing", 3_600).unwrap(), None);
        // A summary is always sent.
        assert_eq!(s.sent_by_peer(again, "hook", "fp", "summary", 0).unwrap(), None);
    }

    /// A silence of months (a decommissioned rack) outlives the log's keep:
    /// its entry stays while it is in force, so a peer that reads the log
    /// from the start (its alarms.db rebuilt) still learns it.
    #[test]
    fn the_purge_keeps_the_entries_of_silences_still_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("alarms.db")).unwrap();
        let silence = |ends_ms: i64| super::super::Silence {
            id: 0,
            matchers: super::super::super::matchers::Matchers::try_from(std::collections::BTreeMap::from([(
                "site".to_string(),
                "hn".to_string(),
            )]))
            .unwrap(),
            starts_ms: 1_000,
            ends_ms,
            author: "nam".into(),
            reason: "tháo dỡ tủ rack".into(),
        };
        s.add_silence(&silence(1_000_000_000), 1_000).unwrap();
        s.add_silence(&silence(2_000), 1_000).unwrap();
        s.apply(&[Change::Peer(PeerChange::Local {
            entry: Entry::Ack { fingerprint: "fp".into(), by: "lan".into(), comment: "ok".into() },
            at_ms: 1_500,
        })])
        .unwrap();
        s.apply(&[notice(1_000, 1, "firing")]).unwrap();
        // A week later: the ended silence, the peer's notice go; the one in force
        // and the newest entry (the log's last number) stay.
        assert_eq!(s.purge_log(10_000, 20_000).unwrap(), 2);
        let (kept, last) = s.log_since(0, 10).unwrap();
        assert_eq!(kept.iter().map(|l| (l.seq, l.entry.kind())).collect::<Vec<_>>(), vec![(1, "silence"), (3, "ack")]);
        assert_eq!(last, 3);
    }

    /// Review: the peer sent the firing and the resolve while this one held its firing.
    #[test]
    fn the_peers_firing_counts_even_when_it_has_resolved_since() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("alarms.db")).unwrap();
        s.apply(&[notice(1_000, 1, "firing"), notice(1_100, 2, "resolved")]).unwrap();
        let firing = queue(&mut s, "firing", 900);
        assert_eq!(s.sent_by_peer(firing, "hook", "fp", "firing", 400).unwrap().as_deref(), Some("a"));
        s.sent_elsewhere(firing, 1_200, "a").unwrap();
        let resolved = queue(&mut s, "resolved", 1_150);
        // a's resolve (1 100) came after b queued its firing (900): it stands for b's.
        assert_eq!(s.sent_by_peer(resolved, "hook", "fp", "resolved", 650).unwrap().as_deref(), Some("a"));
    }
}
