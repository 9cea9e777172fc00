//! A forwarder: one task that reads a consumer's records from the durable
//! [`Spool`], batches them and writes them to one target, retrying with
//! backoff and jitter.
//!
//! The agent has one (its output); the collector has one per sink, each its
//! own spool consumer, so a slow or dead InfluxDB at one site never holds back
//! another. Data waits in the spool, not in memory: a restart of the process
//! resumes from the consumer's persisted cursor.
//!
//! Delivery is at least once. The cursor advances only over batches the
//! target acknowledged (or refused as bad data) *contiguously*; batches
//! written at once can finish out of order, so after a crash at most the
//! `max_in_flight` batches that were in flight are sent again. InfluxDB keeps
//! one point per series and timestamp, so a resent point is not a duplicate
//! there.
//!
//! A batch the target refuses as bad data is searched for the lines it
//! refuses ([`crate::isolate`]): only those are dropped, counted by reason.
//!
//! Backoff after passing faults doubles from 0.5 s up to `max_backoff`, but
//! while the target accepted a write within the last [`RECENT_WINDOW`] (or the
//! forwarder started within it) the wait is capped at [`PROBE_INTERVAL`], so
//! delivery resumes within seconds of a restarted peer's return.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::isolate::{self, Delivery, Reason};
use crate::origin::Origins;
use crate::spool::Spool;
use crate::write::Writer;

/// Longest wait between retries to a target that accepted a write within
/// [`RECENT_WINDOW`]: a peer that restarts is back in use within this.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// How long after its last accepted write (or the forwarder's start) a target
/// is probed every [`PROBE_INTERVAL`] at most; after that the backoff grows to
/// `max_backoff`.
pub const RECENT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Refused lines logged one by one per batch; the rest are summed in one line.
const REFUSED_LOGGED_PER_BATCH: usize = 10;

/// The header in which a relay to a peer collector says how long ago (ms)
/// the newest point of its batch was written here.
pub const RELAY_AGE_HEADER: &str = "x-dcwatch-relay-age-ms";

/// Batching and retry settings.
#[derive(Debug, Clone)]
pub struct ForwarderSettings {
    /// Name in logs and metrics (`output`, or the sink's name).
    pub name: String,
    /// Lines per write request; a batch is sent as soon as it is full.
    pub batch_max_lines: u64,
    /// Longest a line waits for its batch to fill.
    pub flush_interval: Duration,
    /// Ceiling of the exponential backoff, and the pace of retries while the
    /// target refuses our credentials.
    pub max_backoff: Duration,
    /// How long a shutdown waits for batches in flight. What is not sent
    /// stays in the spool for the next start.
    pub shutdown_timeout: Duration,
    /// Batches written at once. 1 keeps strict order (the agent); more lets a
    /// collector sink keep up with many agents (InfluxDB orders by timestamp).
    pub max_in_flight: usize,
    /// Who wrote each spool record (the collector's ingest tokens), to name
    /// the writer of a refused line in the log; `None` in the agent.
    pub origins: Option<Arc<Origins>>,
    /// Records a peer collector relayed are acknowledged without being
    /// sent: a collector relaying to its peer sends it only what its own
    /// writers wrote, so a pair that relays both ways makes no loop.
    pub skip_relayed: bool,
    /// How far behind this forwarder may fall (bytes, age) before its oldest
    /// unsent segments are passed over and counted as dropped
    /// ([`Spool::bound_consumer`]); `None`: it holds the spool as long as
    /// it must.
    pub backlog_bound: Option<(u64, Duration)>,
}

/// Counters shared with whoever reports them (heartbeat, /metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Lines in the spool this forwarder has not had acknowledged.
    pub queued_lines: AtomicU64,
    pub sent_lines: AtomicU64,
    pub sent_batches: AtomicU64,
    /// Lines lost: refused by the target as bad data, or dropped by the
    /// spool's bound before this forwarder had them.
    pub dropped_lines: AtomicU64,
    /// Failed write attempts.
    pub errors_total: AtomicU64,
    /// Lines the target refused as bad data (part of `dropped_lines`).
    pub rejected_lines: AtomicU64,
    /// `rejected_lines` by reason, indexed as [`Reason::ALL`].
    pub rejected_by_reason: [AtomicU64; 4],
    /// Lines the spool's bound dropped before this forwarder had them (part
    /// of `dropped_lines`).
    pub spool_dropped_lines: AtomicU64,
    /// Unix time (ns) of the last successful write; 0 before the first.
    pub last_success_ns: AtomicI64,
    pub last_error: Mutex<Option<String>>,
    /// Unix time (ns) of the last write that failed (the target unreachable,
    /// or refusing this client); 0 before the first. The target is down
    /// while this is later than `last_success_ns`. Lines refused as bad
    /// data set `last_error` but not this: the target is up.
    pub last_error_ns: AtomicI64,
}

impl Stats {
    /// Records a failed write attempt (the target is down) and why.
    fn failed(&self, why: String) {
        *self.last_error.lock().expect("not poisoned") = Some(why);
        self.last_error_ns.store(crate::now_ns(), Ordering::Relaxed);
        self.errors_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Lines the target refused for `reason`.
    pub fn rejected(&self, reason: Reason) -> u64 {
        let i = Reason::ALL.iter().position(|r| *r == reason).expect("every reason is in ALL");
        self.rejected_by_reason[i].load(Ordering::Relaxed)
    }

    fn count_rejected(&self, reason: Reason, lines: u64) {
        let i = Reason::ALL.iter().position(|r| *r == reason).expect("every reason is in ALL");
        self.rejected_by_reason[i].fetch_add(lines, Ordering::Relaxed);
        self.rejected_lines.fetch_add(lines, Ordering::Relaxed);
    }
}

/// The longest wait after a passing fault: [`PROBE_INTERVAL`] while the
/// target accepted a write (or the forwarder started) within
/// [`RECENT_WINDOW`] of `now`, else `max_backoff`.
fn backoff_ceiling(last_accepted: Instant, now: Instant, max_backoff: Duration) -> Duration {
    if now.saturating_duration_since(last_accepted) < RECENT_WINDOW {
        PROBE_INTERVAL.min(max_backoff)
    } else {
        max_backoff
    }
}

/// A batch: records `[start, end)` of the spool, their lines, and the body.
struct Batch {
    start: u64,
    end: u64,
    lines: u64,
    body: Arc<Vec<u8>>,
    /// Each record's sequence number and non-empty lines in `body`, in order.
    records: Vec<(u64, usize)>,
    /// When its newest record was appended (ns).
    newest_ns: i64,
}

impl Batch {
    /// The spool record holding the batch's `index`th non-empty line.
    fn record_of(&self, index: usize) -> Option<u64> {
        let mut first = 0;
        for &(seq, n) in &self.records {
            if index < first + n {
                return Some(seq);
            }
            first += n;
        }
        None
    }
}

/// Starts the forwarder for spool consumer `consumer`. It ends when
/// `shutdown` turns true, after at most `shutdown_timeout`.
pub fn spawn(
    writer: Writer,
    settings: ForwarderSettings,
    spool: Arc<Spool>,
    consumer: usize,
    shutdown: watch::Receiver<bool>,
) -> (Arc<Stats>, tokio::task::JoinHandle<()>) {
    let stats = Arc::new(Stats::default());
    let task = spawn_counting(writer, settings, spool, consumer, stats.clone(), shutdown);
    (stats, task)
}

/// Like [`spawn`], but counting into existing `stats` — a forwarder that
/// replaces another after a reload carries on its counts.
pub fn spawn_counting(
    writer: Writer,
    settings: ForwarderSettings,
    spool: Arc<Spool>,
    consumer: usize,
    stats: Arc<Stats>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(writer, settings, spool, consumer, stats, shutdown))
}

struct State {
    /// Next record to read from the spool.
    read_pos: u64,
    /// Everything before this is acknowledged (the persisted cursor).
    commit: u64,
    /// Batches finished out of order: start → end.
    finished: BTreeMap<u64, u64>,
}

impl State {
    /// Marks `[start, end)` finished; returns the new commit position if it moved.
    fn finish(&mut self, start: u64, end: u64) -> Option<u64> {
        self.finished.insert(start, end);
        let before = self.commit;
        // A batch may start before the commit: the spool dropped records and
        // the cursor jumped into or past it. It still moves the commit to its
        // end (a batch read from a dropped position starts at `from`, not at
        // the first record it holds, so none may start exactly at the jump).
        while let Some((&s, &e)) = self.finished.first_key_value()
            && s <= self.commit
        {
            self.finished.pop_first();
            self.commit = self.commit.max(e);
        }
        (self.commit > before).then_some(self.commit)
    }
}

async fn run(
    writer: Writer,
    s: ForwarderSettings,
    spool: Arc<Spool>,
    consumer: usize,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let start = spool.consumer_stats(consumer).cursor;
    let mut appended = spool.subscribe();
    let mut f = Forwarder {
        writer: Arc::new(writer),
        max_in_flight: s.max_in_flight.max(1),
        s,
        spool,
        consumer,
        stats,
        st: State { read_pos: start, commit: start, finished: BTreeMap::new() },
        retry: VecDeque::new(),
        inflight: HashMap::new(),
        next_attempt: Instant::now(),
        backoff: Duration::from_millis(500),
        // Starting counts as recent: a peer that is down when we start is
        // probably restarting too.
        last_accepted: Instant::now(),
        flush_at: None,
        bound_checked: None,
    };
    let mut tasks: JoinSet<Delivery> = JoinSet::new();
    let mut stop_by: Option<Instant> = None;

    loop {
        let unread = f.follow_spool();
        let now = Instant::now();
        if (unread > 0 || !f.retry.is_empty()) && f.flush_at.is_none() {
            f.flush_at = Some(now + f.s.flush_interval);
        }
        if f.spool.take_flush_request() && unread > 0 {
            f.flush_at = Some(now);
        }
        if stop_by.is_none() {
            f.start_due(&mut tasks, now, unread);
        }

        if let Some(t) = stop_by
            && (tasks.is_empty() || now >= t)
        {
            let left = f.spool.consumer_stats(f.consumer).queued_lines;
            if left > 0 {
                tracing::info!(forwarder = %f.s.name, queued_lines = left, "stopped; unsent lines stay in the spool for the next start");
            }
            return;
        }

        let wake = match (f.flush_at, stop_by) {
            (_, Some(t)) => t,
            (Some(at), None) => at.max(f.next_attempt),
            (None, None) => now + Duration::from_secs(3600),
        };

        tokio::select! {
            Some(res) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (id, outcome) = match res {
                    Ok((id, outcome)) => (id, outcome),
                    Err(e) => (e.id(), Delivery::Retry { after: None, reason: format!("write task failed: {e}") }),
                };
                f.delivered(id, outcome);
            }
            changed = appended.changed(), if stop_by.is_none() => {
                if changed.is_err() {
                    stop_by = Some(Instant::now() + f.s.shutdown_timeout);
                }
            }
            changed = shutdown.changed(), if stop_by.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    stop_by = Some(Instant::now() + f.s.shutdown_timeout);
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// One forwarder's state between turns of its loop ([`run`]); the write
/// tasks themselves are the loop's.
struct Forwarder {
    writer: Arc<Writer>,
    s: ForwarderSettings,
    max_in_flight: usize,
    spool: Arc<Spool>,
    consumer: usize,
    stats: Arc<Stats>,
    st: State,
    /// Batches to send again, first first.
    retry: VecDeque<Batch>,
    inflight: HashMap<tokio::task::Id, Batch>,
    next_attempt: Instant,
    backoff: Duration,
    last_accepted: Instant,
    /// When the data waiting is due, full batch or not.
    flush_at: Option<Instant>,
    /// When the backlog was last held to `backlog_bound`.
    bound_checked: Option<Instant>,
}

impl Forwarder {
    /// Catches up with records the spool dropped before this forwarder read
    /// them, updates the counts, and returns the lines not yet read.
    fn follow_spool(&mut self) -> u64 {
        if let Some((bytes, age)) = self.s.backlog_bound
            && self.bound_checked.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.bound_checked = Some(Instant::now());
            if let Err(e) = self.spool.bound_consumer(self.consumer, bytes, age, crate::now_ns()) {
                tracing::error!(forwarder = %self.s.name, error = %e, "cannot pass over the records past the bound");
            }
        }
        let (st, stats) = (&mut self.st, &self.stats);
        let cs = self.spool.consumer_stats(self.consumer);
        if cs.cursor > st.commit {
            st.commit = cs.cursor;
            st.finished.retain(|_, end| *end > cs.cursor);
            // A batch all of whose records were dropped is not sent again.
            self.retry.retain(|b| b.end > cs.cursor);
        }
        st.read_pos = st.read_pos.max(st.commit);
        stats.queued_lines.store(cs.queued_lines, Ordering::Relaxed);
        stats.spool_dropped_lines.store(cs.dropped_lines, Ordering::Relaxed);
        stats.dropped_lines.store(cs.dropped_lines + stats.rejected_lines.load(Ordering::Relaxed), Ordering::Relaxed);
        self.spool.lines_from(st.read_pos)
    }

    /// Starts as many batches as there are free slots and due data.
    fn start_due(&mut self, tasks: &mut JoinSet<Delivery>, now: Instant, mut unread: u64) {
        while tasks.len() < self.max_in_flight && now >= self.next_attempt {
            let due =
                !self.retry.is_empty() || unread >= self.s.batch_max_lines || self.flush_at.is_some_and(|t| now >= t);
            if !due {
                break;
            }
            let batch = match self.retry.pop_front() {
                Some(b) => b,
                None => {
                    if unread == 0 {
                        break;
                    }
                    match self.read_batch(now) {
                        Ok(Some(b)) => {
                            unread = unread.saturating_sub(b.lines);
                            b
                        }
                        Ok(None) => {
                            unread = self.spool.lines_from(self.st.read_pos);
                            continue;
                        }
                        Err(()) => break,
                    }
                }
            };
            let (w, body) = (self.writer.clone(), batch.body.clone());
            // A relay says how old its batch is (by this clock), so the peer
            // can tell a backlog from the present without comparing clocks.
            let age = self.s.skip_relayed.then(|| {
                let ms = crate::now_ns().saturating_sub(batch.newest_ns).max(0) / 1_000_000;
                (RELAY_AGE_HEADER, ms.to_string())
            });
            let id = tasks
                .spawn(async move {
                    isolate::deliver(body, |b| {
                        let (w, age) = (w.clone(), age.clone());
                        async move { w.write_with(&b, age).await }
                    })
                    .await
                })
                .id();
            self.inflight.insert(id, batch);
        }
        if unread == 0 && self.retry.is_empty() {
            self.flush_at = None;
        } else if self.flush_at.is_some_and(|t| now >= t) {
            self.flush_at = Some(now + self.s.flush_interval);
        }
    }

    /// The next batch from the spool; `None` when that range held only
    /// corrupt records, or relayed ones that are not sent (nothing to send); `Err` when the spool cannot be
    /// read (retried in a second).
    fn read_batch(&mut self, now: Instant) -> Result<Option<Batch>, ()> {
        let from = self.st.read_pos;
        let (records, next) = match self.spool.read(from, self.s.batch_max_lines) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(forwarder = %self.s.name, error = %e, "cannot read the spool; will retry");
                self.next_attempt = now + Duration::from_secs(1);
                return Err(());
            }
        };
        self.st.read_pos = next;
        let records: Vec<_> =
            if self.s.skip_relayed { records.into_iter().filter(|r| !r.relayed).collect() } else { records };
        if records.is_empty() {
            if let Some(c) = self.st.finish(from, next) {
                ack(&self.spool, self.consumer, c, &self.s.name);
            }
            return Ok(None);
        }
        let lines: u64 = records.iter().map(|r| r.lines).sum();
        let mut body = Vec::with_capacity(records.iter().map(|r| r.data.len()).sum());
        for r in &records {
            body.extend_from_slice(&r.data);
        }
        let newest_ns = records.iter().map(|r| r.appended_ns).max().unwrap_or_default();
        let records =
            records.iter().map(|r| (r.seq, r.data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count())).collect();
        Ok(Some(Batch { start: from, end: next, lines, body: Arc::new(body), records, newest_ns }))
    }

    /// What a write task came to: acknowledged (moving the cursor), or kept
    /// to retry after a backoff.
    /// Queues a failed batch to send again, unless the cursor passed it
    /// while it was in flight (the spool's bound dropped its records): it
    /// is counted as dropped already, and late it would go out of order.
    fn keep_for_retry(&mut self, done: Batch) {
        if done.end > self.st.commit {
            self.retry.push_front(done);
        }
    }

    fn delivered(&mut self, id: tokio::task::Id, outcome: Delivery) {
        let done = self.inflight.remove(&id).expect("every task has its batch");
        let (s, stats) = (&self.s, &self.stats);
        match outcome {
            Delivery::Done { refused, requests } => {
                let refused_lines: u64 = refused.iter().map(|r| r.lines).sum();
                let sent = done.lines.saturating_sub(refused_lines);
                if sent > 0 {
                    stats.sent_lines.fetch_add(sent, Ordering::Relaxed);
                    stats.sent_batches.fetch_add(1, Ordering::Relaxed);
                    stats.last_success_ns.store(crate::now_ns(), Ordering::Relaxed);
                }
                if !refused.is_empty() {
                    let writer_of =
                        |index: Option<usize>| -> Option<Arc<str>> { s.origins.as_ref()?.of(done.record_of(index?)?) };
                    report_refused(&s.name, self.writer.endpoint(), &refused, sent, requests, stats, writer_of);
                }
                self.backoff = Duration::from_millis(500);
                self.last_accepted = Instant::now();
                if let Some(c) = self.st.finish(done.start, done.end) {
                    ack(&self.spool, self.consumer, c, &s.name);
                }
            }
            Delivery::Retry { after, reason } => {
                let ceiling = backoff_ceiling(self.last_accepted, Instant::now(), s.max_backoff);
                let wait = match after {
                    // The target said when: it knows its own state best.
                    Some(after) => after.min(s.max_backoff.max(Duration::from_secs(1))),
                    None => jitter(self.backoff.min(ceiling)),
                };
                self.backoff = (self.backoff * 2).min(s.max_backoff);
                tracing::warn!(
                    forwarder = %s.name, endpoint = %self.writer.endpoint(), error = %reason,
                    retry_in_ms = wait.as_millis() as u64, "write failed; will retry"
                );
                stats.failed(reason);
                self.keep_for_retry(done);
                self.next_attempt = Instant::now() + wait;
                // Due again as soon as the backoff allows, new data or not.
                self.flush_at = Some(Instant::now());
            }
            Delivery::Stalled { status, message } => {
                let text = format!("HTTP {status}: {message}");
                tracing::error!(
                    forwarder = %s.name, endpoint = %self.writer.endpoint(), error = %text,
                    retry_in_s = s.max_backoff.as_secs(),
                    "the target refuses this client (check the token, credentials and URL); data is kept and retried"
                );
                stats.failed(text);
                self.next_attempt = Instant::now() + s.max_backoff;
                self.keep_for_retry(done);
                self.flush_at = Some(Instant::now());
            }
        }
    }
}

/// Logs and counts the lines the target refused in one batch. ERROR: this
/// is data loss. Each refused line is logged once, up to
/// [`REFUSED_LOGGED_PER_BATCH`] per batch; the rest are summed.
fn report_refused(
    name: &str,
    endpoint: &str,
    refused: &[isolate::Refused],
    sent: u64,
    requests: u32,
    stats: &Stats,
    writer_of: impl Fn(Option<usize>) -> Option<Arc<str>>,
) {
    for (i, r) in refused.iter().enumerate() {
        stats.count_rejected(r.reason, r.lines);
        if i < REFUSED_LOGGED_PER_BATCH {
            let writer = writer_of(r.index);
            tracing::error!(
                forwarder = %name, endpoint = %endpoint, reason = r.reason.label(), lines = r.lines,
                writer = writer.as_deref().unwrap_or("(unknown)"),
                line = r.line.as_deref().unwrap_or("(not named)"), error = %format!("HTTP {}: {}", r.status, r.message),
                "the target refused this data itself; a retry cannot succeed, so it is dropped"
            );
        }
    }
    let total: u64 = refused.iter().map(|r| r.lines).sum();
    if refused.len() > REFUSED_LOGGED_PER_BATCH {
        let more: u64 = refused[REFUSED_LOGGED_PER_BATCH..].iter().map(|r| r.lines).sum();
        tracing::error!(forwarder = %name, endpoint = %endpoint, lines = more, "and more refused lines in the same batch, not logged one by one");
    }
    tracing::info!(forwarder = %name, sent_lines = sent, refused_lines = total, requests, "delivered a batch the target partly refused");
    // The reason first: whoever sees the count then sees why.
    let first = &refused[0];
    // Not `failed`: the target is up, it refused some data.
    *stats.last_error.lock().expect("not poisoned") = Some(format!("HTTP {}: {}", first.status, first.message));
    stats.errors_total.fetch_add(1, Ordering::Relaxed);
}

fn ack(spool: &Spool, consumer: usize, commit: u64, name: &str) {
    if let Err(e) = spool.ack(consumer, commit) {
        tracing::error!(forwarder = %name, error = %e, "cannot persist the spool cursor; after a restart some points may be sent again");
    }
}

/// Full jitter between half and all of `d`, so many agents that lost the
/// collector together do not come back in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let frac = 0.5 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(4));
            assert!(j >= Duration::from_secs(2) && j <= Duration::from_secs(4), "{j:?}");
        }
    }

    #[test]
    fn a_target_that_accepted_recently_is_probed_every_probe_interval_at_most() {
        let t0 = Instant::now();
        let max = Duration::from_secs(60);
        assert_eq!(backoff_ceiling(t0, t0 + Duration::from_secs(61), max), PROBE_INTERVAL);
        assert_eq!(backoff_ceiling(t0, t0 + RECENT_WINDOW, max), max);
        assert_eq!(backoff_ceiling(t0, t0, Duration::from_secs(2)), Duration::from_secs(2));
    }

    #[test]
    fn a_line_of_a_batch_is_found_in_its_spool_record() {
        let b = Batch {
            start: 7,
            end: 10,
            lines: 4,
            body: Arc::new(Vec::new()),
            records: vec![(7, 1), (8, 0), (9, 3)],
            newest_ns: 0,
        };
        assert_eq!([0, 1, 3, 4].map(|i| b.record_of(i)), [Some(7), Some(9), Some(9), None]);
    }

    #[test]
    fn the_commit_moves_only_over_contiguously_finished_batches() {
        let mut st = State { read_pos: 30, commit: 0, finished: BTreeMap::new() };
        assert_eq!(st.finish(10, 20), None, "0..10 is still in flight");
        assert_eq!(st.finish(20, 30), None);
        assert_eq!(st.finish(0, 10), Some(30));
        assert!(st.finished.is_empty());
    }

    /// Regression (issue 14): after the spool dropped a segment the cursor
    /// jumped to 15; the batch read from the old position 10 ends at 20 and
    /// must move the commit there, not be forgotten.
    #[test]
    fn a_batch_starting_before_a_jumped_commit_still_moves_it_to_its_end() {
        let mut st = State { read_pos: 30, commit: 15, finished: BTreeMap::new() };
        assert_eq!(st.finish(20, 30), None, "10..20 is still in flight");
        assert_eq!(st.finish(10, 20), Some(30));
        assert!(st.finished.is_empty());
        assert_eq!(st.finish(0, 5), None, "wholly before the commit: nothing moves");
        assert!(st.finished.is_empty());
    }
}
