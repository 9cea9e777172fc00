//! The engine's side of peering (`crate::peer`): its log for the peer to
//! read, and the peer's log merged into its own alarms and silences.

use super::store::{self, Ack, Change, Logged, Outgoing, PeerChange, StoreError};
use super::{Alarm, Engine};

/// How long before an alarm began a peer's acknowledgement of it may have
/// been made and still be of it (the two collectors see a condition begin
/// up to a poll apart); one older is of an earlier episode.
const ACK_SLACK_MS: i64 = 60_000;

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
        self.with_store(|s| s.sent_by_peer(&n.receiver, &n.fingerprint, &n.status, n.created_ms - window_ms))
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

    /// Removes log entries older than `before_ms`.
    pub fn purge_log(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.with_store(|s| s.purge_log(before_ms))
    }

    /// Merges entries of `peer`'s log `log_id` (as they came over the
    /// wire) after the cursor: stored, in one transaction with what they
    /// change here — an acknowledgement or its taking back on the alarm of
    /// the same fingerprint (the later decision wins), a silence added or
    /// ended (by its global id; the earliest end wins).
    pub fn apply_peer(&self, peer: &str, log_id: &str, raw: Vec<serde_json::Value>) -> Result<Applied, StoreError> {
        let (entries, skipped) = crate::peer::parse_entries(raw);
        let mut core = self.core.lock().expect("not poisoned");
        let cursor = core.store.peer_cursor(peer)?;
        let mut changes = Vec::new();
        let from = match &cursor {
            Some((id, seq)) if id == log_id => *seq,
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
        let mut entries: Vec<Logged> = entries.into_iter().filter(|l| l.seq > from).collect();
        entries.sort_by_key(|l| l.seq);
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
                    if later && a.since_ms <= l.at_ms + ACK_SLACK_MS {
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
        let last = entries.iter().map(|l| l.seq).chain(skipped.iter().copied()).max().unwrap_or(from).max(from);
        let now = super::now_ms();
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
        for seq in skipped.iter().filter(|s| **s > from) {
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
