//! The audit log of a pair of collectors (`crate::peer`): each reads the
//! other's records with its log, and keeps them beside its own under the
//! peer's name (`origin`), once each (by the peer's id), so an
//! administrator at either site sees what was done at both.

use rusqlite::{Connection, params};

use super::{Audit, Record, clean};

/// The columns later versions added: who made a record (`''`: this
/// collector; else the peer's name) and its id there.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has = |column: &str| -> rusqlite::Result<bool> {
        conn.prepare("SELECT 1 FROM pragma_table_info('audit') WHERE name = ?1")?.exists([column])
    };
    if !has("origin")? {
        conn.execute_batch("ALTER TABLE audit ADD COLUMN origin TEXT NOT NULL DEFAULT ''")?;
    }
    if !has("origin_id")? {
        conn.execute_batch("ALTER TABLE audit ADD COLUMN origin_id INTEGER")?;
    }
    conn.execute_batch("CREATE UNIQUE INDEX IF NOT EXISTS audit_origin ON audit (origin, origin_id)")
}

/// The longest text of a peer's record kept; longer is cut.
const MAX_TEXT: usize = 4096;

fn cut(s: &str) -> String {
    let s = clean(s);
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => s[..i].to_string(),
        None => s,
    }
}

impl Audit {
    /// This collector's own records after id `after`, oldest first, at most `limit`.
    pub fn local_since(&self, after: i64, limit: usize) -> Result<Vec<Record>, String> {
        let conn = self.reader.lock().expect("not poisoned");
        let mut st = conn
            .prepare(
                "SELECT id, at_ms, actor, role, source, action, target, comment, outcome, origin FROM audit \
                 WHERE origin = '' AND id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| e.to_string())?;
        let rows = st.query_map(params![after, limit as i64], super::row).map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }

    /// The last id of `peer`'s records held here (0: none).
    pub fn peer_cursor(&self, peer: &str) -> Result<i64, String> {
        let conn = self.conn.lock().expect("not poisoned");
        conn.query_row("SELECT COALESCE(MAX(origin_id), 0) FROM audit WHERE origin = ?1", params![peer], |r| r.get(0))
            .map_err(|e| e.to_string())
    }

    /// Keeps `records` of `peer` (each once, by its id there); how many were new.
    pub fn merge_from_peer(&self, peer: &str, records: &[Record]) -> Result<usize, String> {
        let mut conn = self.conn.lock().expect("not poisoned");
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        let mut new = 0;
        for r in records.iter().filter(|r| r.id > 0) {
            let outcome = if r.outcome == "refused" { "refused" } else { "ok" };
            new += tx
                .execute(
                    "INSERT OR IGNORE INTO audit (at_ms, actor, role, source, action, target, comment, outcome, \
                     origin, origin_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        r.at_ms,
                        cut(&r.actor),
                        cut(&r.role),
                        cut(&r.source),
                        cut(&r.action),
                        cut(&r.target),
                        cut(&r.comment),
                        outcome,
                        peer,
                        r.id
                    ],
                )
                .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Event, Filter};
    use super::*;

    #[test]
    fn a_peers_records_are_kept_once_each_under_its_name_and_only_this_ones_own_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) =
            (Audit::open(&dir.path().join("a.db"), 400).unwrap(), Audit::open(&dir.path().join("b.db"), 400).unwrap());
        let ev = |actor: &'static str, comment: &'static str| Event {
            actor,
            role: "operator",
            source: Some("10.0.0.7".parse().unwrap()),
            action: "ack",
            target: "fp1",
            comment,
            refused: false,
        };
        b.record_at(&ev("lan", "bảo trì"), 1_000);
        b.record_at(&ev("nam", "x\u{1b}[2J"), 2_000);
        a.record_at(&ev("hoa", "ở trung tâm a"), 1_500);
        let from_b = b.local_since(0, 500).unwrap();
        assert_eq!(from_b.iter().map(|r| (r.id, r.actor.as_str())).collect::<Vec<_>>(), [(1, "lan"), (2, "nam")]);
        assert_eq!(a.peer_cursor("b").unwrap(), 0);
        assert_eq!(a.merge_from_peer("b", &from_b).unwrap(), 2);
        // Read again (a partition, a retry): nothing twice.
        assert_eq!(a.merge_from_peer("b", &from_b).unwrap(), 0);
        assert_eq!(a.peer_cursor("b").unwrap(), 2);
        assert_eq!(b.local_since(1, 500).unwrap().len(), 1);
        let all = a.query(&Filter::default()).unwrap();
        let got: Vec<(i64, &str, &str, &str)> =
            all.iter().map(|r| (r.at_ms, r.actor.as_str(), r.comment.as_str(), r.origin.as_str())).collect();
        assert_eq!(
            got,
            [(2_000, "nam", "x\u{fffd}", "b"), (1_000, "lan", "bảo trì", "b"), (1_500, "hoa", "ở trung tâm a", "")]
        );
        // a serves only its own: b's records do not go back to b.
        assert_eq!(a.local_since(0, 500).unwrap().iter().map(|r| r.actor.as_str()).collect::<Vec<_>>(), ["hoa"]);
        // A hostile peer's huge text is cut, its odd outcome taken as ok.
        let mut huge = from_b[0].clone();
        huge.id = 3;
        huge.comment = "y".repeat(100_000);
        huge.outcome = "<script>".into();
        assert_eq!(a.merge_from_peer("b", &[huge]).unwrap(), 1);
        let r = &a.query(&Filter { limit: Some(1), ..Default::default() }).unwrap()[0];
        assert_eq!((r.comment.chars().count(), r.outcome.as_str()), (MAX_TEXT, "ok"));
    }
}
