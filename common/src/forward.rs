//! A forwarder: a bounded buffer of line protocol that one task batches and
//! writes to one target, retrying with backoff and jitter.
//!
//! The agent has one (its output); the collector has one per sink, so a slow
//! or dead InfluxDB at one site never holds back another. The buffer is
//! bounded in lines. The agent pushes with [`Handle::push`], which drops the
//! oldest lines past the bound (counted); the collector's ingest reserves room
//! first with [`Handle::try_reserve`] and answers 503 instead, so nothing it acknowledged is
//! dropped. (The disk-backed queue and spool replace this memory buffer in a
//! later step; the interface stays.)

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::write::{Outcome, Writer};

/// Lines that travel together: whole lines, each ending in `\n`.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub data: Bytes,
    pub lines: u64,
}

/// Batching and buffering limits.
#[derive(Debug, Clone)]
pub struct ForwarderSettings {
    /// Name in logs and metrics (`output`, or the sink's name).
    pub name: String,
    /// Lines per write request; a batch is sent as soon as it is full.
    pub batch_max_lines: u64,
    /// Longest a line waits for its batch to fill.
    pub flush_interval: Duration,
    /// Most lines held while the target is unreachable.
    pub buffer_max_lines: u64,
    /// Ceiling of the exponential backoff, and the pace of retries while the
    /// target refuses our credentials.
    pub max_backoff: Duration,
    /// How long a shutdown may spend flushing what is buffered.
    pub shutdown_timeout: Duration,
    /// Batches written at once. 1 keeps strict order (the agent); more lets a
    /// collector sink keep up with many agents (InfluxDB orders by timestamp).
    pub max_in_flight: usize,
}

/// Counters shared with whoever reports them (heartbeat, /metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Lines accepted into the buffer and not yet written or dropped.
    pub queued_lines: AtomicU64,
    pub sent_lines: AtomicU64,
    pub sent_batches: AtomicU64,
    /// Lines dropped: refused by the target as bad data, or pushed out by the bound.
    pub dropped_lines: AtomicU64,
    /// Failed write attempts.
    pub errors_total: AtomicU64,
    /// Unix time (ns) of the last successful write; 0 before the first.
    pub last_success_ns: AtomicI64,
    pub last_error: Mutex<Option<String>>,
}

/// The sending side of a forwarder.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Chunk>,
    pub stats: Arc<Stats>,
    max_lines: u64,
}

/// The buffer is full: the caller should push back (HTTP 503).
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Handle {
    /// Queues a chunk; past the bound the forwarder drops the oldest lines.
    pub fn push(&self, chunk: Chunk) {
        self.stats.queued_lines.fetch_add(chunk.lines, Ordering::AcqRel);
        self.push_reserved(chunk);
    }

    /// Reserves room for `lines` under the bound, atomically: concurrent
    /// callers can never together overshoot it. On success the caller must
    /// follow with [`Handle::push_reserved`] or [`Handle::cancel`].
    pub fn try_reserve(&self, lines: u64) -> Result<(), Full> {
        self.stats
            .queued_lines
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| (q + lines <= self.max_lines).then_some(q + lines))
            .map(|_| ())
            .map_err(|_| Full)
    }

    /// Gives back a reservation that will not be used.
    pub fn cancel(&self, lines: u64) {
        self.stats.queued_lines.fetch_sub(lines, Ordering::AcqRel);
    }

    /// Queues a chunk whose room was reserved with [`Handle::try_reserve`].
    pub fn push_reserved(&self, chunk: Chunk) {
        if self.tx.send(chunk).is_err() {
            tracing::debug!("forwarder stopped; chunk not queued");
        }
    }

    /// Queues a chunk only if it fits under the bound.
    pub fn try_push(&self, chunk: Chunk) -> Result<(), Full> {
        self.try_reserve(chunk.lines)?;
        self.push_reserved(chunk);
        Ok(())
    }
}

/// Starts a forwarder task. It ends when `shutdown` turns true (after a
/// bounded flush) or when every [`Handle`] is dropped and the buffer is empty.
pub fn spawn(
    writer: Writer,
    settings: ForwarderSettings,
    shutdown: watch::Receiver<bool>,
) -> (Handle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(Stats::default());
    let handle = Handle { tx, stats: stats.clone(), max_lines: settings.buffer_max_lines };
    let task = tokio::spawn(run(writer, settings, rx, stats, shutdown));
    (handle, task)
}

/// A batch being written: its chunks come back to the buffer if it fails.
struct Inflight {
    chunks: Vec<Chunk>,
    lines: u64,
}

async fn run(
    writer: Writer,
    s: ForwarderSettings,
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let writer = Arc::new(writer);
    let max_in_flight = s.max_in_flight.max(1);
    let mut buf: VecDeque<Chunk> = VecDeque::new();
    let mut buffered: u64 = 0;
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut inflight: HashMap<tokio::task::Id, Inflight> = HashMap::new();
    let mut inflight_lines: u64 = 0;
    let mut next_attempt = Instant::now();
    let mut backoff = Duration::from_millis(500);
    let mut flush_at: Option<Instant> = None;
    let mut input_open = true;
    let mut stop_by: Option<Instant> = None;

    loop {
        // Keep the bound: drop the oldest buffered chunks (never a batch in flight).
        if buffered + inflight_lines > s.buffer_max_lines {
            let mut dropped = 0;
            while buffered + inflight_lines > s.buffer_max_lines {
                let Some(c) = buf.pop_front() else { break };
                buffered -= c.lines;
                dropped += c.lines;
            }
            if dropped > 0 {
                stats.dropped_lines.fetch_add(dropped, Ordering::Relaxed);
                stats.queued_lines.fetch_sub(dropped, Ordering::Relaxed);
                tracing::error!(
                    forwarder = %s.name, dropped_lines = dropped, buffer_max_lines = s.buffer_max_lines,
                    "buffer full while the target is unreachable; dropped the oldest lines"
                );
            }
        }

        let now = Instant::now();
        let stopping = stop_by.is_some();
        // Start as many batches as there are free slots and due data.
        while tasks.len() < max_in_flight && !buf.is_empty() && now >= next_attempt {
            let due = buffered >= s.batch_max_lines || flush_at.is_some_and(|t| now >= t) || stopping || !input_open;
            if !due {
                break;
            }
            let mut chunks = Vec::new();
            let mut lines = 0;
            let mut bytes = 0;
            while let Some(c) = buf.front() {
                if lines > 0 && lines + c.lines > s.batch_max_lines {
                    break;
                }
                lines += c.lines;
                bytes += c.data.len();
                chunks.push(buf.pop_front().expect("front exists"));
            }
            buffered -= lines;
            let mut body = Vec::with_capacity(bytes);
            for c in &chunks {
                body.extend_from_slice(&c.data);
            }
            let w = writer.clone();
            let id = tasks.spawn(async move { w.write(&body).await }).id();
            inflight.insert(id, Inflight { chunks, lines });
            inflight_lines += lines;
            flush_at = if buf.is_empty() { None } else { Some(now + s.flush_interval) };
        }

        if tasks.is_empty() && (buf.is_empty() || stop_by.is_some_and(|t| now >= t)) && (stopping || !input_open) {
            if buffered > 0 {
                tracing::error!(
                    forwarder = %s.name, unsent_lines = buffered,
                    "shutdown timeout reached with lines not yet written; they are lost"
                );
            }
            return;
        }

        let wake = match (flush_at, buffered >= s.batch_max_lines || stopping || !input_open) {
            (_, true) => next_attempt,
            (Some(t), false) => t.max(next_attempt),
            (None, false) => now + Duration::from_secs(3600),
        };
        let wake = match stop_by {
            Some(t) => wake.min(t),
            None => wake,
        };

        tokio::select! {
            Some(res) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (id, outcome) = match res {
                    Ok((id, outcome)) => (id, outcome),
                    Err(e) => (e.id(), Outcome::Retry { after: None, reason: format!("write task failed: {e}") }),
                };
                let done = inflight.remove(&id).expect("every task has its batch");
                inflight_lines -= done.lines;
                match outcome {
                    Outcome::Written => {
                        stats.sent_lines.fetch_add(done.lines, Ordering::Relaxed);
                        stats.sent_batches.fetch_add(1, Ordering::Relaxed);
                        stats.queued_lines.fetch_sub(done.lines, Ordering::Relaxed);
                        stats.last_success_ns.store(crate::now_ns(), Ordering::Relaxed);
                        backoff = Duration::from_millis(500);
                    }
                    Outcome::Rejected { status, message } => {
                        let text = format!("HTTP {status}: {message}");
                        tracing::error!(
                            forwarder = %s.name, endpoint = %writer.endpoint(), lines = done.lines, error = %text,
                            "the target refused the data itself; a retry cannot succeed, so the batch is dropped"
                        );
                        // The reason first: whoever sees the count then sees why.
                        *stats.last_error.lock().expect("not poisoned") = Some(text);
                        stats.errors_total.fetch_add(1, Ordering::Relaxed);
                        stats.dropped_lines.fetch_add(done.lines, Ordering::Relaxed);
                        stats.queued_lines.fetch_sub(done.lines, Ordering::Relaxed);
                    }
                    Outcome::Retry { after, reason } => {
                        stats.errors_total.fetch_add(1, Ordering::Relaxed);
                        let wait = after.unwrap_or_else(|| jitter(backoff)).min(s.max_backoff.max(Duration::from_secs(1)));
                        backoff = (backoff * 2).min(s.max_backoff);
                        tracing::warn!(
                            forwarder = %s.name, endpoint = %writer.endpoint(), error = %reason, retry_in_ms = wait.as_millis() as u64,
                            queued_lines = buffered + inflight_lines + done.lines, "write failed; will retry"
                        );
                        *stats.last_error.lock().expect("not poisoned") = Some(reason);
                        requeue(&mut buf, &mut buffered, done);
                        next_attempt = Instant::now() + wait;
                        // Due again as soon as the backoff allows, new data or not.
                        flush_at = Some(Instant::now());
                    }
                    Outcome::Stalled { status, message } => {
                        stats.errors_total.fetch_add(1, Ordering::Relaxed);
                        let text = format!("HTTP {status}: {message}");
                        tracing::error!(
                            forwarder = %s.name, endpoint = %writer.endpoint(), error = %text,
                            retry_in_s = s.max_backoff.as_secs(),
                            "the target refuses this client (check the token, credentials and URL); data is kept and retried"
                        );
                        *stats.last_error.lock().expect("not poisoned") = Some(text);
                        requeue(&mut buf, &mut buffered, done);
                        next_attempt = Instant::now() + s.max_backoff;
                        flush_at = Some(Instant::now());
                    }
                }
            }
            msg = rx.recv(), if input_open => match msg {
                Some(c) => {
                    if flush_at.is_none() {
                        flush_at = Some(Instant::now() + s.flush_interval);
                    }
                    buffered += c.lines;
                    buf.push_back(c);
                }
                None => input_open = false,
            },
            changed = shutdown.changed(), if stop_by.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    stop_by = Some(Instant::now() + s.shutdown_timeout);
                    // Take what is already in the channel, then write it out.
                    while let Ok(c) = rx.try_recv() {
                        buffered += c.lines;
                        buf.push_back(c);
                    }
                    input_open = false;
                    next_attempt = Instant::now();
                }
            }
            _ = tokio::time::sleep_until(wake), if tasks.len() < max_in_flight => {}
        }
    }
}

fn requeue(buf: &mut VecDeque<Chunk>, buffered: &mut u64, done: Inflight) {
    *buffered += done.lines;
    for c in done.chunks.into_iter().rev() {
        buf.push_front(c);
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
    fn try_push_refuses_past_the_bound_and_push_does_not() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let h = Handle { tx, stats: Arc::new(Stats::default()), max_lines: 10 };
        let chunk = |n| Chunk { data: Bytes::new(), lines: n };
        assert_eq!(h.try_push(chunk(6)), Ok(()));
        assert_eq!(h.try_push(chunk(5)), Err(Full));
        assert_eq!(h.try_push(chunk(4)), Ok(()));
        h.push(chunk(5));
        assert_eq!(h.stats.queued_lines.load(Ordering::Relaxed), 15);
    }

    #[test]
    fn concurrent_reservations_never_overshoot_the_bound() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let h = Handle { tx, stats: Arc::new(Stats::default()), max_lines: 1000 };
        let granted = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if h.try_reserve(3).is_ok() {
                            granted.fetch_add(3, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(granted.load(Ordering::Relaxed), 999);
        assert_eq!(h.stats.queued_lines.load(Ordering::Relaxed), 999);
        h.cancel(999);
        assert_eq!(h.stats.queued_lines.load(Ordering::Relaxed), 0);
    }
}
