//! The engine's side of peering (`crate::peer`): its log for the peer to
//! read, and the peer's log merged into its own alarms and silences.

use super::store::{self, Ack, Change, Logged, Outgoing, PeerChange, StoreError};
use super::{Alarm, Engine};

/// How long before an alarm began a peer's acknowledgement of it may have
/// been made and still be of it (the two collectors see a condition begin
/// up to a poll apart); one older is of an earlier episode.
const ACK_SLACK_MS: i64 = 60_000;

/// Keeps of `entries` the silences `silence::check` accepts (with
/// `active` silences in force); the others' numbers go to `skipped`.
fn checked_silences(
    entries: &mut Vec<Logged>,
    skipped: &mut Vec<i64>,
    limits: &crate::alarm::config::SilenceLimits,
    now: i64,
    mut active: usize,
    peer: &str,
) {
    entries.retain(|l| match &l.entry {
        store::Entry::Silence { matchers, starts_ms, ends_ms, author, reason, .. } => {
            let new = super::silence::NewSilence {
                matchers: matchers.raw().clone(),
                starts_ms: *starts_ms,
                ends_ms: *ends_ms,
                author: author.clone(),
                reason: reason.clone(),
            };
            match super::silence::check(new, limits, now, active) {
                Ok(_) => {
                    active += 1;
                    true
                }
                Err(e) => {
                    tracing::warn!(%peer, seq = l.seq, error = %e, "a silence from the peer is refused");
                    skipped.push(l.seq);
                    false
                }
            }
        }
        _ => true,
    });
}

/// One page of the peer's log as it came: its log's id and last number,
/// its clock minus this one's, and the entries.
pub struct PeerPage<'a> {
    pub log_id: &'a str,
    pub last_seq: i64,
    pub offset_ms: i64,
    pub raw: Vec<serde_json::Value>,
}

/// What merging a read of the peer's log did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// How far the peer's log has been read now.
    pub cursor: i64,
    pub entries: usize,
    /// Alarms whose acknowledgement changed.
    pub acks: usize,
    pub silences: usize,
}

/// Gives each alarm this round raises the acknowledgement the peer made of
/// it before this collector had it (the two see a condition begin up to a
/// poll apart, and an on-call engineer may be quick): the peer's last
/// decision on the fingerprint since the alarm began (less the slack),
/// when that is an acknowledgement, with its history event.
pub(super) fn adopt_peer_acks(
    store: &store::Store,
    alarms: &std::collections::HashMap<String, Alarm>,
    round: &mut super::lifecycle::Round,
) {
    for a in round.updated.iter_mut().filter(|a| a.ack.is_none() && !alarms.contains_key(&a.fingerprint)) {
        let decision = match store.peer_decision(&a.fingerprint, a.since_ms.saturating_sub(ACK_SLACK_MS)) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the peer's acknowledgements; a new alarm starts unacknowledged");
                return;
            }
        };
        if let Some((peer, store::Logged { at_ms, entry: store::Entry::Ack { by, comment, .. }, .. })) = decision {
            a.ack = Some(Ack { by: by.clone(), at_ms, comment: comment.clone() });
            round.history.push((a.clone(), "acknowledged", format!("{by}: {comment} ({peer})")));
        }
    }
}

impl Engine {
    /// This collector's log (its id), its entries after `after` (at most
    /// `limit`), and its last number.
    pub fn log_since(&self, after: i64, limit: usize) -> Result<(String, Vec<Logged>, i64), StoreError> {
        self.with_store(|s| {
            let id = s.log_id()?;
            let (entries, last) = s.log_since(after, limit)?;
            Ok((id, entries, last))
        })
    }

    /// Which of `peer`'s logs has been read, and how far.
    pub fn peer_cursor(&self, peer: &str) -> Result<Option<(String, i64)>, StoreError> {
        self.with_store(|s| s.peer_cursor(peer))
    }

    /// The peer that has delivered `n` (to its receiver, in its state)
    /// since `window_ms` before `n` was queued, if one has.
    pub fn sent_by_peer(&self, n: &Outgoing, window_ms: i64) -> Result<Option<String>, StoreError> {
        self.with_store(|s| {
            s.sent_by_peer(n.id, &n.receiver, &n.fingerprint, &n.status, n.created_ms.saturating_sub(window_ms))
        })
    }

    /// Whether the alarm `fp` is acknowledged now (here, or at the peer).
    pub fn acknowledged(&self, fp: &str) -> bool {
        self.core.lock().expect("not poisoned").alarms.get(fp).is_some_and(|a| a.ack.is_some())
    }

    /// `n` is done: `peer` sent it.
    pub fn sent_elsewhere(&self, n: &Outgoing, peer: &str) -> Result<(), StoreError> {
        self.with_store(|s| s.sent_elsewhere(n.id, super::now_ms(), peer))
    }

    /// Makes the notices held for the peer due now (those not tried yet);
    /// how many.
    pub fn release_held(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.with_store(|s| s.release_held(now_ms))
    }

    /// Removes log entries older than `before_ms`, but those of silences
    /// still in force and the newest.
    pub fn purge_log(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.with_store(|s| s.purge_log(before_ms, super::now_ms()))
    }

    /// Merges entries of `peer`'s log `log_id` (as they came over the
    /// wire) after the cursor: stored, in one transaction with what they
    /// change here — an acknowledgement or its taking back on the alarm of
    /// the same fingerprint (the later decision wins), a silence added or
    /// ended (by its global id; the earliest end wins).
    pub fn apply_peer(&self, peer: &str, page: PeerPage<'_>) -> Result<Applied, StoreError> {
        let PeerPage { log_id, last_seq, offset_ms, raw } = page;
        let (entries, mut skipped) = crate::peer::parse_entries(raw);
        let now = super::now_ms();
        let limits = self.config().silences.clone();
        let mut core = self.core.lock().expect("not poisoned");
        let cursor = core.store.peer_cursor(peer)?;
        let mut changes = Vec::new();
        let from = match &cursor {
            // A log that ends before the cursor was replaced (a restored
            // backup keeps its id): read it again from the start.
            Some((id, seq)) if id == log_id && *seq <= last_seq => *seq,
            _ => {
                changes.push(Change::Peer(PeerChange::NewPeerLog { peer, log_id }));
                if cursor.is_some() {
                    // Read again from the start, in the next page.
                    core.store.apply(&changes)?;
                    return Ok(Applied::default());
                }
                0
            }
        };
        let mut entries: Vec<Logged> = entries.into_iter().filter(|l| l.seq > from && l.seq <= last_seq).collect();
        entries.sort_by_key(|l| l.seq);
        // The peer's times on this collector's clock, never in the future:
        // a peer whose clock runs ahead must not make its notices count for
        // every later one, nor one behind make none count.
        for l in &mut entries {
            l.at_ms = l.at_ms.saturating_sub(offset_ms).min(now);
        }
        // A silence from the peer passes the checks a local one does (a
        // broken or hostile peer must not silence everything).
        let active = core.silences.iter().filter(|s| s.ends_ms > now).count();
        checked_silences(&mut entries, &mut skipped, &limits, now, active, peer);
        let mut changed: Vec<(Alarm, String, &'static str)> = Vec::new();
        let mut silences = 0;
        for l in &entries {
            let current = |fp: &str, changed: &[(Alarm, String, &str)]| {
                changed.iter().rev().find(|(a, _, _)| a.fingerprint == fp).map(|c| c.0.clone())
            };
            match &l.entry {
                store::Entry::Ack { fingerprint, by, comment } => {
                    let Some(mut a) = current(fingerprint, &changed).or_else(|| core.alarms.get(fingerprint).cloned())
                    else {
                        continue;
                    };
                    let later = a.ack.as_ref().is_none_or(|k| k.at_ms < l.at_ms);
                    if later && a.since_ms <= l.at_ms.saturating_add(ACK_SLACK_MS) {
                        a.ack = Some(Ack { by: by.clone(), at_ms: l.at_ms, comment: comment.clone() });
                        changed.push((a, format!("{by}: {comment} ({peer})"), "acknowledged"));
                    }
                }
                store::Entry::Unack { fingerprint, by } => {
                    let Some(mut a) = current(fingerprint, &changed).or_else(|| core.alarms.get(fingerprint).cloned())
                    else {
                        continue;
                    };
                    if a.ack.as_ref().is_some_and(|k| k.at_ms <= l.at_ms) {
                        a.ack = None;
                        changed.push((a, format!("{by}: acknowledgement taken back ({peer})"), "unacknowledged"));
                    }
                }
                store::Entry::Silence { .. } | store::Entry::SilenceEnd { .. } => silences += 1,
                store::Entry::Notice { .. } => {}
            }
        }
        let last = entries
            .iter()
            .map(|l| l.seq)
            .chain(skipped.iter().copied().filter(|s| *s <= last_seq))
            .max()
            .unwrap_or(from)
            .max(from);
        // The last state of each changed alarm is written; each change is history.
        let mut finals: Vec<&Alarm> = Vec::new();
        for (a, _, _) in changed.iter().rev() {
            if !finals.iter().any(|f| f.fingerprint == a.fingerprint) {
                finals.push(a);
            }
        }
        changes.extend(finals.iter().map(|a| Change::Upsert(a)));
        for (a, detail, event) in &changed {
            changes.push(Change::History { alarm: a, event, detail: detail.clone(), at_ms: now });
        }
        for l in &entries {
            changes.push(Change::Peer(PeerChange::FromPeer { peer, log_id, logged: l.clone() }));
        }
        for seq in skipped.iter().filter(|s| **s > from && **s <= last_seq) {
            changes.push(Change::Peer(PeerChange::Skip { peer, log_id, seq: *seq }));
        }
        core.store.apply(&changes)?;
        let acks = finals.len();
        let updated: Vec<Alarm> = finals.into_iter().cloned().collect();
        drop(changes);
        for a in updated {
            core.alarms.insert(a.fingerprint.clone(), a);
        }
        if silences > 0 {
            core.silences = core.store.silences()?;
        }
        Ok(Applied { cursor: last, entries: entries.len(), acks, silences })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::alarm::config::AlarmsConfig;
    use crate::model::{ObsValue, Observation};

    fn engine(dir: &std::path::Path) -> Engine {
        let yaml = format!(
            "db: {}\nlang: en\nsites:\n  - name: hn\nreceivers:\n  - name: hook\n    webhook: {{url: http://127.0.0.1:9/x}}\n\
             rules:\n  - name: room_hot\n    measurement: env\n    field: temperature_c\n    above: 30\n",
            dir.join("alarms.db").display()
        );
        let cfg = dcwatch_common::config::parse::<AlarmsConfig>(&yaml, std::path::Path::new("/x/alarms.yaml")).unwrap();
        Engine::open(cfg).unwrap()
    }

    /// Room r1 at `t` °C, observed and evaluated.
    fn room(e: &Engine, t: f64, ts: i64) {
        let o = Observation {
            measurement: "env".into(),
            tags: [("site", "hn"), ("device", "r1")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            fields: [("temperature_c".to_string(), ObsValue::Num(t))].into(),
            ts,
        };
        e.observe_at(&[o], Instant::now());
        e.evaluate();
    }

    fn hot(e: &Engine) -> String {
        room(e, 35.0, 1);
        e.alarms()[0].fingerprint.clone()
    }

    fn cool(e: &Engine) {
        room(e, 20.0, 2);
    }

    fn page(log_id: &str, last_seq: i64, offset_ms: i64, raw: Vec<serde_json::Value>) -> PeerPage<'_> {
        PeerPage { log_id, last_seq, offset_ms, raw }
    }

    #[test]
    fn an_ack_from_the_peer_is_put_on_its_clock_and_the_later_decision_wins() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let fp = hot(&e);
        let now = crate::alarm::now_ms();
        // The peer's clock runs an hour ahead: its ack is taken at this clock's time.
        let ack = serde_json::json!({"seq": 1, "at_ms": now + 3_600_000, "kind": "ack", "fingerprint": fp,
            "by": "lan", "comment": "đang xử lý"});
        let a = e.apply_peer("b", page("L1", 1, 3_600_000, vec![ack])).unwrap();
        assert_eq!((a.cursor, a.entries, a.acks), (1, 1, 1));
        let k = e.alarms()[0].ack.clone().unwrap();
        assert_eq!((k.by.as_str(), k.comment.as_str()), ("lan", "đang xử lý"));
        assert!((now..now + 60_000).contains(&k.at_ms), "{}", k.at_ms);
        // An unack made before the ack does not undo it; one after does.
        let old = serde_json::json!({"seq": 2, "at_ms": k.at_ms - 1, "kind": "unack", "fingerprint": fp, "by": "x"});
        e.apply_peer("b", page("L1", 2, 0, vec![old])).unwrap();
        assert!(e.alarms()[0].ack.is_some());
        let new = serde_json::json!({"seq": 3, "at_ms": k.at_ms + 1, "kind": "unack", "fingerprint": fp, "by": "x"});
        e.apply_peer("b", page("L1", 3, 0, vec![new])).unwrap();
        assert!(e.alarms()[0].ack.is_none());
    }

    #[test]
    fn an_ack_the_peer_made_before_this_collector_raised_the_alarm_is_taken_when_it_does() {
        let fp = hot(&engine(tempfile::tempdir().unwrap().path()));
        let now = crate::alarm::now_ms();
        let ack = |at_ms: i64| {
            serde_json::json!({"seq": 1, "at_ms": at_ms, "kind": "ack", "fingerprint": fp,
                "by": "lan", "comment": "đang xử lý"})
        };
        let peered = |dir: &std::path::Path| {
            let e = engine(dir);
            *e.collector_label.lock().unwrap() = Some("a".into());
            e
        };
        // Made a moment ago at the peer, before this one saw the room hot.
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let e = peered(d1.path());
        assert_eq!(e.apply_peer("b", page("L1", 1, 0, vec![ack(now - 5_000)])).unwrap().acks, 0);
        assert_eq!(hot(&e), fp);
        let k = e.alarms()[0].ack.clone().expect("acknowledged");
        assert_eq!((k.by.as_str(), k.comment.as_str(), k.at_ms), ("lan", "đang xử lý", now - 5_000));
        // One of an earlier episode (two hours ago) is not of this alarm.
        let e = peered(d2.path());
        e.apply_peer("b", page("L1", 1, 0, vec![ack(now - 7_200_000)])).unwrap();
        hot(&e);
        assert_eq!(e.alarms()[0].ack, None);
        // Nor one made before this collector resolved the alarm, however recent.
        let d3 = tempfile::tempdir().unwrap();
        let e = peered(d3.path());
        hot(&e);
        e.apply_peer("b", page("L1", 1, 0, vec![ack(crate::alarm::now_ms() - 1)])).unwrap();
        assert!(e.alarms()[0].ack.is_some(), "applied to the alarm of the time");
        cool(&e);
        assert!(e.alarms().is_empty());
        hot(&e);
        assert_eq!(e.alarms()[0].ack, None, "the ack of the episode before");
        // An acknowledgement taken back after it: the alarm starts unacknowledged.
        let d4 = tempfile::tempdir().unwrap();
        let e = peered(d4.path());
        let unack =
            serde_json::json!({"seq": 2, "at_ms": now - 1_000, "kind": "unack", "fingerprint": fp, "by": "lan"});
        e.apply_peer("b", page("L1", 2, 0, vec![ack(now - 5_000), unack])).unwrap();
        hot(&e);
        assert_eq!(e.alarms()[0].ack, None);
    }

    #[test]
    fn a_hostile_page_cannot_move_the_cursor_past_the_log_nor_silence_everything() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let now = crate::alarm::now_ms();
        let silence = |seq: i64, matchers: serde_json::Value| {
            serde_json::json!({"seq": seq, "at_ms": now, "kind": "silence", "uid": format!("u{seq}"),
                "matchers": matchers, "starts_ms": now, "ends_ms": now + 3_600_000, "author": "x", "reason": "r"})
        };
        let raw = vec![
            silence(1, serde_json::json!({"alertname": "~.*"})),
            silence(2, serde_json::json!({"device": "r1"})),
            // Past the log's end: dropped, the cursor does not go there.
            silence(i64::MAX, serde_json::json!({"device": "r2"})),
            serde_json::json!({"seq": 3, "kind": "what_a_newer_version_says"}),
        ];
        let a = e.apply_peer("b", page("L1", 3, 0, raw)).unwrap();
        assert_eq!((a.cursor, a.entries), (3, 1));
        let kept: Vec<String> = e.silences().iter().map(|s| format!("{:?}", s.matchers.raw())).collect();
        assert_eq!(kept, [r#"{"device": "r1"}"#]);
        // The log now ends before the cursor (a restored backup): read again from 0.
        let a = e.apply_peer("b", page("L1", 1, 0, vec![])).unwrap();
        assert_eq!(a.cursor, 0);
        assert_eq!(e.peer_cursor("b").unwrap(), Some(("L1".to_string(), 0)));
    }
}
