//! A durable queue on disk: append-only segment files of checksummed
//! records, read by named consumers that each keep their own cursor.
//!
//! The agent keeps one (its output queue, one consumer per output); the collector keeps
//! one spool for all its sinks, one consumer per sink, so a sink that is down
//! holds back nobody else.
//!
//! Files in the directory:
//! - `<first seq, 20 digits>.seg` — records, appended; a new segment starts
//!   when the current one passes `segment_max_bytes`.
//! - `<consumer>.cursor` — the next sequence number that consumer has not
//!   had acknowledged, replaced atomically (write + rename) on every ack.
//!
//! Consumers come and go with the configuration (an output added or
//! renamed, `output:` switched to `outputs:`, a sink renamed). A consumer
//! with no cursor file starts at the oldest cursor the spool knows — those of
//! the consumers it has and the cursor files left by consumers no longer
//! listed — so it gets every record some consumer still has to have, in
//! order; with none known, at the oldest record kept. The cursor file of a
//! consumer no longer listed holds back no deletion; it stays while the
//! record it points at is kept (so that consumer, put back, resumes where it
//! was, and a new one starts no later) and is deleted with that record's
//! segment.
//!
//! A record is a 28-byte header — payload length (u32), CRC-32 (u32) of
//! everything after it, sequence number (u64), line count (u32), append time
//! in ns (i64), all little-endian — then the payload (line protocol). The
//! line count's top bit marks a record relayed by a peer collector
//! ([`Record::relayed`]); files written before it had the bit clear.
//!
//! Durability: [`Spool::append`] writes; [`Spool::sync`] makes everything
//! appended so far durable (`fdatasync`). [`Committer`] runs syncs on a
//! thread of its own and lets many writers wait for one sync that covers them
//! all (group commit). On open, each segment is read back and checked: a
//! record that is torn (the process or machine died mid-write) or fails its
//! checksum ends that segment there — the file is truncated to the last good
//! record and the loss is counted — so a damaged tail never stops a restart.
//!
//! Bounds: an append that would take the spool past `max_bytes` is checked
//! and written under one lock, so concurrent writers cannot overshoot it
//! together. What happens then is the policy [`WhenFull`]:
//! - `Refuse` (the collector's default): the append fails with
//!   [`AppendError::Full`] and nothing is written; the caller refuses the
//!   write (503) before acknowledging anything. No bound ever deletes a
//!   record some consumer has not acknowledged, and `max_age` drops nothing
//!   unsent.
//! - `DropOldest` (the agent's default: its sources cannot be told to wait):
//!   the oldest segment is deleted to make room, and likewise a segment whose
//!   newest record is older than `max_age`; every consumer that had not read
//!   all of it has the lines it lost added to its `dropped` count. A segment
//!   with a record younger than `drop_min_age` is never deleted: then the
//!   append fails with `Full` instead.
//!
//! Space comes back by itself: a segment is deleted once every consumer has
//! acknowledged all of it, and a drained active segment (every consumer has
//! acknowledged everything) is replaced by an empty one once it is large, or
//! after a write failed (a full disk), and on open.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

const HEADER: usize = 28;
/// The line count's top bit: the record was relayed by a peer collector.
const RELAYED: u32 = 1 << 31;
/// A record larger than this is taken as corruption, not as data.
const MAX_RECORD_BYTES: u32 = 256 * 1024 * 1024;

/// Where the spool lives and how large it may grow.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    /// A new segment file starts past this size.
    pub segment_max_bytes: u64,
    /// All segments together; past it the oldest segment is dropped.
    pub max_bytes: u64,
    /// With [`WhenFull::DropOldest`], segments whose newest record is older
    /// than this are dropped; with `Refuse` it drops nothing unsent.
    pub max_age: Option<Duration>,
    /// What an append that does not fit under `max_bytes` does.
    pub when_full: WhenFull,
    /// `DropOldest` never drops a segment holding a record younger than this.
    pub drop_min_age: Duration,
}

/// What the spool does when an append would pass `max_bytes` (config key
/// `when_full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse the append; nothing a consumer has not acknowledged is deleted.
    #[default]
    Refuse,
    /// Delete the oldest segment (counted per consumer as dropped), unless it
    /// holds records younger than `drop_min_age`.
    DropOldest,
}

impl WhenFull {
    pub fn label(self) -> &'static str {
        match self {
            WhenFull::Refuse => "refuse",
            WhenFull::DropOldest => "drop_oldest",
        }
    }
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The record does not fit under `max_bytes` and the policy keeps what
    /// is there; nothing was written.
    #[error("the spool is full: {needed} more bytes do not fit under max_bytes ({max_bytes})")]
    Full { needed: u64, max_bytes: u64 },
    /// Writing failed (a full disk); nothing was kept.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl SpoolSettings {
    /// From the config keys both programs share (`queue.*`, `spool.*`).
    pub fn from_config(
        dir: &Path,
        max_bytes: u64,
        max_age_secs: u64,
        segment_max_bytes: u64,
        when_full: WhenFull,
        drop_min_age_secs: u64,
    ) -> SpoolSettings {
        SpoolSettings {
            dir: dir.to_path_buf(),
            segment_max_bytes,
            max_bytes,
            max_age: Some(Duration::from_secs(max_age_secs)),
            when_full,
            drop_min_age: Duration::from_secs(drop_min_age_secs),
        }
    }

    /// Settings with no age bound and the `Refuse` policy (tests, tools).
    pub fn new(dir: &Path, segment_max_bytes: u64, max_bytes: u64) -> SpoolSettings {
        SpoolSettings {
            dir: dir.to_path_buf(),
            segment_max_bytes,
            max_bytes,
            max_age: None,
            when_full: WhenFull::Refuse,
            drop_min_age: Duration::ZERO,
        }
    }

    /// Checks the bounds; `key` is the config section (`queue`, `spool`).
    pub fn check(&self, key: &str, problems: &mut Vec<crate::config::Problem>) {
        use crate::config::Problem;
        if self.segment_max_bytes < 4096 {
            problems.push(Problem::general(format!("{key}.segment_max_bytes: must be at least 4096")));
        }
        if self.max_bytes < 2 * self.segment_max_bytes {
            problems.push(Problem::general(format!("{key}.max_bytes: must be at least twice {key}.segment_max_bytes")));
        }
        if self.max_age.is_some_and(|a| a.is_zero()) {
            problems.push(Problem::general(format!("{key}.max_age_secs: must be at least 1")));
        }
    }
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub lines: u64,
    pub data: Bytes,
    /// Written by a peer collector that relayed its agents' points
    /// ([`Spool::append_relayed`]): not to be relayed back to it.
    pub relayed: bool,
    /// When it was appended (ns, this machine's clock).
    pub appended_ns: i64,
}

/// What opening found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub segments: usize,
    pub records: u64,
    pub lines: u64,
    /// Torn or corrupt records found (each ends its segment).
    pub corrupt_records: u64,
    /// Bytes cut off segment tails after a corrupt record.
    pub truncated_bytes: u64,
}

/// Counters of one consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Next sequence number not yet acknowledged.
    pub cursor: u64,
    /// Lines appended and not yet acknowledged.
    pub queued_lines: u64,
    /// Lines lost to the size or age bound before this consumer had them.
    pub dropped_lines: u64,
}

struct Segment {
    first_seq: u64,
    path: PathBuf,
    file: Arc<File>,
    bytes: u64,
    /// Start offset and line count of each record; index = seq − first_seq.
    records: Vec<(u64, u32)>,
    lines: u64,
    newest_ns: i64,
}

impl Segment {
    fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }
}

struct Consumer {
    name: String,
    cursor: u64,
    dropped_lines: u64,
}

struct Inner {
    segments: VecDeque<Segment>,
    next_seq: u64,
    total_bytes: u64,
    consumers: Vec<Consumer>,
    corrupt_records: u64,
    /// A write failed since the active segment began (a full disk): release
    /// it as soon as it is drained, however small.
    write_failed: bool,
    /// Lines deleted by `DropOldest` before every consumer had them, and
    /// when that last happened (ns; 0 = never).
    dropped_lines: u64,
    last_drop_ns: i64,
    /// Cursors of consumers no longer listed whose cursor file is still on
    /// disk (name, cursor): never below the first kept record, see
    /// [`forget_departed`].
    departed: Vec<(String, u64)>,
}

/// The durable queue. Share it as `Arc<Spool>`; every method is safe to call
/// from several threads. Methods do blocking file I/O: call them from a
/// blocking context (`spawn_blocking`) or accept short blocking.
pub struct Spool {
    settings: SpoolSettings,
    inner: Mutex<Inner>,
    /// The sequence number the next append gets, sent on every append:
    /// readers wait on `changed()`, which never misses one.
    appended: tokio::sync::watch::Sender<u64>,
    /// Set by a producer whose next records must not wait for the batch
    /// timer (an event: a UPS on battery); readers take it.
    urgent: std::sync::atomic::AtomicBool,
}

fn seg_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

fn crc(seq: u64, lines: u32, ts: i64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&lines.to_le_bytes());
    h.update(&ts.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn encode(seq: u64, lines: u32, ts: i64, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc(seq, lines, ts, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&lines.to_le_bytes());
    buf.extend_from_slice(&ts.to_le_bytes());
    buf.extend_from_slice(payload);
    buf
}

struct Header {
    len: u32,
    crc: u32,
    seq: u64,
    lines: u32,
    ts: i64,
}

fn decode_header(b: &[u8; HEADER]) -> Header {
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    Header { len: u32_at(0), crc: u32_at(4), seq: u64_at(8), lines: u32_at(16), ts: u64_at(20) as i64 }
}

/// What reading a segment back found.
struct Scanned {
    records: Vec<(u64, u32)>,
    newest_ns: i64,
    /// Where the good data ends (the file's length if all of it is good).
    good_len: u64,
    clean: bool,
}

/// Reads a segment's records, stopping at the first that is torn or corrupt.
fn scan(file: &File, first_seq: u64) -> io::Result<Scanned> {
    let len = file.metadata()?.len();
    let mut records = Vec::new();
    let mut newest = 0;
    let mut off = 0u64;
    let mut expect = first_seq;
    let mut hdr = [0u8; HEADER];
    let mut payload = Vec::new();
    while off < len {
        if len - off < HEADER as u64 || file.read_exact_at(&mut hdr, off).is_err() {
            return Ok(Scanned { records, newest_ns: newest, good_len: off, clean: false });
        }
        let h = decode_header(&hdr);
        if h.len > MAX_RECORD_BYTES || off + HEADER as u64 + u64::from(h.len) > len || h.seq != expect {
            return Ok(Scanned { records, newest_ns: newest, good_len: off, clean: false });
        }
        payload.resize(h.len as usize, 0);
        if file.read_exact_at(&mut payload, off + HEADER as u64).is_err()
            || crc(h.seq, h.lines, h.ts, &payload) != h.crc
        {
            return Ok(Scanned { records, newest_ns: newest, good_len: off, clean: false });
        }
        records.push((off, h.lines & !RELAYED));
        newest = newest.max(h.ts);
        off += HEADER as u64 + u64::from(h.len);
        expect += 1;
    }
    Ok(Scanned { records, newest_ns: newest, good_len: off, clean: true })
}

fn open_rw(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

impl Spool {
    /// Opens (or creates) the spool in `settings.dir` with the named
    /// consumers. A consumer with no cursor file yet starts at the oldest
    /// cursor among the other files (those of consumers no longer listed
    /// too: `output` when an agent switches to `outputs:`), so it gets every
    /// record some consumer still has to have; with no cursor file at all
    /// (a new spool), at the oldest record kept.
    pub fn open(settings: SpoolSettings, consumers: &[&str]) -> io::Result<(Arc<Spool>, OpenReport)> {
        std::fs::create_dir_all(&settings.dir)?;
        let mut report = OpenReport::default();
        let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(&settings.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let seq = name.strip_suffix(".seg")?.parse::<u64>().ok()?;
                Some((seq, e.path()))
            })
            .collect();
        found.sort();
        let mut segments = VecDeque::new();
        let mut next_seq = 0;
        for (first_seq, path) in found {
            let file = open_rw(&path)?;
            let Scanned { records, newest_ns, good_len, clean } = scan(&file, first_seq)?;
            if !clean {
                let file_len = file.metadata()?.len();
                report.corrupt_records += 1;
                report.truncated_bytes += file_len - good_len;
                tracing::error!(
                    segment = %path.display(), kept_records = records.len(), cut_bytes = file_len - good_len,
                    "spool segment has a torn or corrupt record; truncated it after the last good record"
                );
                file.set_len(good_len)?;
                file.sync_all()?;
            }
            let lines = records.iter().map(|r| u64::from(r.1)).sum();
            report.records += records.len() as u64;
            report.lines += lines;
            let seg = Segment { first_seq, path, file: Arc::new(file), bytes: good_len, records, lines, newest_ns };
            next_seq = next_seq.max(seg.end_seq());
            segments.push_back(seg);
        }
        // Empty segments other than the last hold nothing: remove them.
        let last = segments.len().saturating_sub(1);
        let mut kept = VecDeque::new();
        for (i, s) in segments.into_iter().enumerate() {
            if s.records.is_empty() && i != last {
                std::fs::remove_file(&s.path)?;
            } else {
                kept.push_back(s);
            }
        }
        let mut segments = kept;
        report.segments = segments.len();

        // Every cursor file, listed consumer or not: a cursor never points
        // past the end, so the sequence goes on from the furthest of them.
        let stored = read_cursors(&settings.dir)?;
        for (_, cursor) in &stored {
            next_seq = next_seq.max(*cursor);
        }
        let cons: Vec<(String, Option<u64>)> = consumers
            .iter()
            .map(|name| (name.to_string(), stored.iter().find(|(n, _)| n == name).map(|s| s.1)))
            .collect();
        if segments.is_empty() {
            let path = settings.dir.join(seg_name(next_seq));
            let file = open_rw(&path)?;
            segments.push_back(Segment {
                first_seq: next_seq,
                path,
                file: Arc::new(file),
                bytes: 0,
                records: Vec::new(),
                lines: 0,
                newest_ns: 0,
            });
        }
        let first = segments.front().map_or(next_seq, |s| s.first_seq);
        // The cursor files of consumers no longer listed.
        let mut departed: Vec<(String, u64)> =
            stored.into_iter().filter(|(n, _)| !consumers.contains(&n.as_str())).collect();
        forget_departed(&settings.dir, &mut departed, first);
        let known = cons.iter().filter_map(|c| c.1).chain(departed.iter().map(|d| d.1));
        let start = start_of_new(known, first, next_seq);
        let mut consumers = Vec::new();
        for (name, stored) in cons {
            let cursor = stored.unwrap_or(start).clamp(first, next_seq);
            // Persist a new consumer's start at once: what is appended before
            // its first ack must still be its after a restart.
            if stored != Some(cursor) {
                write_cursor(&settings.dir, &name, cursor)?;
            }
            consumers.push(Consumer { name, cursor, dropped_lines: 0 });
        }
        let total_bytes = segments.iter().map(|s| s.bytes).sum();
        let spool = Spool {
            settings,
            urgent: std::sync::atomic::AtomicBool::new(false),
            inner: Mutex::new(Inner {
                segments,
                next_seq,
                total_bytes,
                consumers,
                corrupt_records: report.corrupt_records,
                write_failed: false,
                dropped_lines: 0,
                last_drop_ns: 0,
                departed,
            }),
            appended: tokio::sync::watch::channel(next_seq).0,
        };
        // What every consumer acknowledged before the restart goes now, the
        // active segment too: a spool that filled its disk and was drained
        // before a restart must not stay full after it.
        {
            let mut g = spool.inner.lock().expect("not poisoned");
            if !g.consumers.is_empty() {
                spool.release(&mut g, true)?;
            }
            report.segments = g.segments.len();
        }
        Ok((Arc::new(spool), report))
    }

    pub fn settings(&self) -> &SpoolSettings {
        &self.settings
    }

    /// Appends one record; returns its sequence number. Not yet durable: see
    /// [`Spool::sync`] and [`Committer`]. The room check and the write are
    /// one step under the spool's lock: a record that does not fit under
    /// `max_bytes` (after what the [`WhenFull`] policy may delete) is not
    /// written and [`AppendError::Full`] returned. On a write error (a full
    /// disk) the segment is cut back to its last whole record and the error
    /// returned.
    pub fn append(&self, lines: u64, data: &[u8], now_ns: i64) -> Result<u64, AppendError> {
        self.append_as(lines, data, now_ns, false)
    }

    /// [`Self::append`] of points a peer collector relayed (read back with
    /// [`Record::relayed`] set).
    pub fn append_relayed(&self, lines: u64, data: &[u8], now_ns: i64) -> Result<u64, AppendError> {
        self.append_as(lines, data, now_ns, true)
    }

    fn append_as(&self, lines: u64, data: &[u8], now_ns: i64, relayed: bool) -> Result<u64, AppendError> {
        let mut g = self.inner.lock().expect("not poisoned");
        let inner = &mut *g;
        if inner.segments.back().is_some_and(|s| s.bytes >= self.settings.segment_max_bytes && !s.records.is_empty()) {
            self.roll(inner)?;
        }
        let seq = inner.next_seq;
        let lines32 = u32::try_from(lines).unwrap_or(u32::MAX).min(!RELAYED);
        let rec = encode(seq, if relayed { lines32 | RELAYED } else { lines32 }, now_ns, data);
        self.make_room(inner, rec.len() as u64, now_ns)?;
        let seg = inner.segments.back_mut().expect("there is always an active segment");
        let off = seg.bytes;
        if let Err(e) = seg.file.write_all_at(&rec, off) {
            // Leave no half record behind: a later append would follow it.
            let _ = seg.file.set_len(off);
            inner.write_failed = true;
            return Err(e.into());
        }
        seg.bytes += rec.len() as u64;
        seg.records.push((off, lines32));
        seg.lines += u64::from(lines32);
        seg.newest_ns = seg.newest_ns.max(now_ns);
        inner.total_bytes += rec.len() as u64;
        inner.next_seq += 1;
        drop(g);
        self.appended.send_replace(seq + 1);
        Ok(seq)
    }

    /// Starts a new segment after syncing the current one.
    fn roll(&self, inner: &mut Inner) -> io::Result<()> {
        if let Some(cur) = inner.segments.back() {
            cur.file.sync_data()?;
        }
        let seg = self.new_segment(inner.next_seq)?;
        inner.segments.push_back(seg);
        Ok(())
    }

    /// An empty segment file starting at `first_seq`, its name made durable
    /// in the spool's directory.
    fn new_segment(&self, first_seq: u64) -> io::Result<Segment> {
        let path = self.settings.dir.join(seg_name(first_seq));
        let file = open_rw(&path)?;
        sync_dir(&self.settings.dir)?;
        Ok(Segment { first_seq, path, file: Arc::new(file), bytes: 0, records: Vec::new(), lines: 0, newest_ns: 0 })
    }

    /// Makes room for `need` more bytes as the policy allows; `Full` if
    /// they still do not fit. Under `Refuse` nothing is deleted here: a
    /// segment goes only once every consumer acknowledged it ([`Spool::ack`]).
    fn make_room(&self, inner: &mut Inner, need: u64, now_ns: i64) -> Result<(), AppendError> {
        let st = &self.settings;
        while st.when_full == WhenFull::DropOldest && inner.segments.len() > 1 {
            let oldest = inner.segments.front().expect("len > 1");
            let too_big = inner.total_bytes + need > st.max_bytes;
            let too_old = st.max_age.is_some_and(|age| oldest.newest_ns < now_ns.saturating_sub(age.as_nanos() as i64));
            let protected = oldest.newest_ns > now_ns.saturating_sub(st.drop_min_age.as_nanos() as i64);
            if !(too_big || too_old) || protected {
                break;
            }
            let seg = inner.segments.pop_front().expect("len > 1");
            inner.total_bytes -= seg.bytes;
            let end = seg.end_seq();
            for c in &mut inner.consumers {
                if c.cursor < end {
                    let lost: u64 = seg.records[(c.cursor.max(seg.first_seq) - seg.first_seq) as usize..]
                        .iter()
                        .map(|r| u64::from(r.1))
                        .sum();
                    c.dropped_lines += lost;
                    inner.dropped_lines += lost;
                    inner.last_drop_ns = now_ns;
                    c.cursor = end;
                    tracing::error!(
                        consumer = %c.name, lost_lines = lost, reason = if too_big { "size" } else { "age" },
                        "spool bound reached (when_full: drop_oldest): dropped the oldest segment before this consumer had it"
                    );
                    write_cursor(&st.dir, &c.name, c.cursor)?;
                }
            }
            std::fs::remove_file(&seg.path)?;
            self.forget_departed(inner);
        }
        if inner.total_bytes + need > st.max_bytes {
            // Whatever every consumer already has can go, however small.
            self.release(inner, true)?;
        }
        if inner.total_bytes + need > st.max_bytes {
            return Err(AppendError::Full { needed: need, max_bytes: st.max_bytes });
        }
        Ok(())
    }

    /// Deletes the segments every consumer has acknowledged. A drained
    /// active segment is replaced by an empty one when `force`, when a write
    /// failed since it began, or once it holds a sixteenth of
    /// `segment_max_bytes` (not after every ack: that would make a file per
    /// batch).
    fn release(&self, inner: &mut Inner, force: bool) -> io::Result<()> {
        let done = inner.consumers.iter().map(|c| c.cursor).min().unwrap_or(inner.next_seq);
        while inner.segments.len() > 1 && inner.segments.front().is_some_and(|s| s.end_seq() <= done) {
            let seg = inner.segments.pop_front().expect("len > 1");
            inner.total_bytes -= seg.bytes;
            std::fs::remove_file(&seg.path)?;
        }
        let active = inner.segments.back().expect("there is always an active segment");
        let large = active.bytes >= (self.settings.segment_max_bytes / 16).max(1);
        if done >= inner.next_seq
            && inner.segments.len() == 1
            && !active.records.is_empty()
            && (force || inner.write_failed || large)
        {
            // The new file first: if creating it fails, the old one still
            // names where the sequence stands.
            let seg = self.new_segment(inner.next_seq)?;
            let old = inner.segments.pop_front().expect("len == 1");
            inner.total_bytes -= old.bytes;
            inner.segments.push_back(seg);
            inner.write_failed = false;
            std::fs::remove_file(&old.path)?;
        }
        self.forget_departed(inner);
        Ok(())
    }

    /// Deletes the cursor files of consumers no longer listed whose record
    /// is gone (see [`forget_departed`]); call it after deleting segments.
    fn forget_departed(&self, inner: &mut Inner) {
        let first = inner.segments.front().map_or(inner.next_seq, |s| s.first_seq);
        forget_departed(&self.settings.dir, &mut inner.departed, first);
    }

    /// Makes every record appended so far durable. Returns the sequence
    /// number before which all records are on disk.
    pub fn sync(&self) -> io::Result<u64> {
        let (file, upto) = {
            let g = self.inner.lock().expect("not poisoned");
            (g.segments.back().expect("active segment").file.clone(), g.next_seq)
        };
        // Earlier segments were synced when they were closed.
        file.sync_data()?;
        Ok(upto)
    }

    /// Up to `max_lines` lines (at least one record) from `from_seq` on, and
    /// the position after the last record considered. If `from_seq` was
    /// dropped by a bound, reading starts at the oldest kept record. A record
    /// whose checksum fails on reading is skipped and counted.
    pub fn read(&self, from_seq: u64, max_lines: u64) -> io::Result<(Vec<Record>, u64)> {
        let mut wanted = Vec::new();
        let next;
        {
            let g = self.inner.lock().expect("not poisoned");
            let mut seq = from_seq.max(g.segments.front().map_or(0, |s| s.first_seq));
            let mut lines = 0u64;
            'segs: for seg in &g.segments {
                if seq >= seg.end_seq() {
                    continue;
                }
                seq = seq.max(seg.first_seq);
                while seq < seg.end_seq() {
                    let idx = (seq - seg.first_seq) as usize;
                    let (off, n) = seg.records[idx];
                    if !wanted.is_empty() && lines + u64::from(n) > max_lines {
                        break 'segs;
                    }
                    let end = seg.records.get(idx + 1).map_or(seg.bytes, |r| r.0);
                    wanted.push((seg.file.clone(), seq, off, end - off));
                    lines += u64::from(n);
                    seq += 1;
                }
            }
            next = seq.max(from_seq);
        }
        let mut out = Vec::with_capacity(wanted.len());
        for (file, seq, off, len) in wanted {
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, off)?;
            let h = decode_header(buf[..HEADER].try_into().expect("header"));
            let payload = &buf[HEADER..];
            if h.seq != seq || h.len as usize != payload.len() || crc(h.seq, h.lines, h.ts, payload) != h.crc {
                tracing::error!(seq, "spool record fails its checksum on reading; skipped");
                self.inner.lock().expect("not poisoned").corrupt_records += 1;
                continue;
            }
            buf.drain(..HEADER);
            let (lines, relayed) = (u64::from(h.lines & !RELAYED), h.lines & RELAYED != 0);
            out.push(Record { seq, lines, data: Bytes::from(buf), relayed, appended_ns: h.ts });
        }
        Ok((out, next))
    }

    /// A receiver that changes on every append.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Asks readers to send what is queued now rather than at their next
    /// batch timer. Call it before appending the urgent records.
    pub fn request_flush(&self) {
        self.urgent.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether a flush was asked for since the last call.
    pub fn take_flush_request(&self) -> bool {
        self.urgent.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Lines in records from `seq` on.
    pub fn lines_from(&self, seq: u64) -> u64 {
        let g = self.inner.lock().expect("not poisoned");
        lines_from(&g.segments, seq)
    }

    /// Lines `DropOldest` deleted before every consumer had them, and when
    /// that last happened (Unix ns; 0 = never) — for a self-alarm.
    pub fn dropped(&self) -> (u64, i64) {
        let g = self.inner.lock().expect("not poisoned");
        (g.dropped_lines, g.last_drop_ns)
    }

    /// Sequence number the next append will get.
    pub fn end_seq(&self) -> u64 {
        self.inner.lock().expect("not poisoned").next_seq
    }

    /// Records that consumer `idx` has had everything before `next_seq`
    /// acknowledged, persists its cursor, and deletes segments every
    /// consumer is done with.
    pub fn ack(&self, idx: usize, next_seq: u64) -> io::Result<()> {
        let mut g = self.inner.lock().expect("not poisoned");
        let inner = &mut *g;
        let c = &mut inner.consumers[idx];
        if next_seq <= c.cursor {
            return Ok(());
        }
        c.cursor = next_seq.min(inner.next_seq);
        let (name, cursor) = (c.name.clone(), c.cursor);
        // On a full disk even the small cursor file may not fit: free the
        // acknowledged segments first (what they held was delivered), then
        // try again.
        let written = write_cursor(&self.settings.dir, &name, cursor);
        self.release(inner, false)?;
        match written {
            Ok(()) => Ok(()),
            Err(_) => write_cursor(&self.settings.dir, &name, cursor),
        }
    }

    /// Lets consumer `idx` fall no further behind than `max_bytes` and
    /// `max_age`: whole segments it has not had are passed over (oldest
    /// first, never the active one), their lines added to its `dropped`
    /// count, and those no other consumer needs are deleted. For a consumer
    /// that must not hold the spool for the others, e.g. a relay to a site
    /// that may be gone for days. Returns the lines passed over.
    pub fn bound_consumer(&self, idx: usize, max_bytes: u64, max_age: Duration, now_ns: i64) -> io::Result<u64> {
        let mut g = self.inner.lock().expect("not poisoned");
        let inner = &mut *g;
        let cursor = inner.consumers[idx].cursor;
        let mut behind: u64 = inner.segments.iter().filter(|s| s.end_seq() > cursor).map(|s| s.bytes).sum();
        let oldest_kept = now_ns.saturating_sub(max_age.as_nanos().min(i64::MAX as u128) as i64);
        let (mut to, mut lost) = (cursor, 0u64);
        let last = inner.segments.len().saturating_sub(1);
        for seg in inner.segments.iter().take(last) {
            if seg.end_seq() <= to {
                continue;
            }
            if behind <= max_bytes && seg.newest_ns >= oldest_kept {
                break;
            }
            lost += seg.records[(to.max(seg.first_seq) - seg.first_seq) as usize..]
                .iter()
                .map(|r| u64::from(r.1))
                .sum::<u64>();
            behind -= seg.bytes;
            to = seg.end_seq();
        }
        if to == cursor {
            return Ok(0);
        }
        // Counted on the consumer alone: the spool's own drops (its bounds,
        // `when_full`) are another matter, with an alarm of their own.
        let c = &mut inner.consumers[idx];
        c.cursor = to;
        c.dropped_lines += lost;
        tracing::error!(
            consumer = %c.name, lost_lines = lost,
            "consumer past its bound (bytes or age behind): passed over its oldest records"
        );
        let (name, cursor) = (c.name.clone(), c.cursor);
        write_cursor(&self.settings.dir, &name, cursor)?;
        self.release(inner, false)?;
        Ok(lost)
    }

    /// Replaces the set of consumers (after a config reload). A consumer
    /// kept by name keeps its cursor and counts; a new one resumes from its
    /// cursor file if one is left (a consumer removed earlier, its record
    /// still kept), else starts at the oldest cursor the spool knows (the
    /// consumers it had, removed ones included, and the cursor files left),
    /// so it gets the whole backlog. A removed one no longer holds back the
    /// deletion of segments: what only it still needed goes at the next
    /// acknowledgement, and its cursor file with its record's segment. Not
    /// at once: the collector sets its old sinks back if the new ones cannot
    /// start, and they must find their records still there. Consumer `i` is
    /// `names[i]` afterwards.
    pub fn set_consumers(&self, names: &[&str]) -> io::Result<()> {
        let mut g = self.inner.lock().expect("not poisoned");
        let inner = &mut *g;
        let end = inner.next_seq;
        let first = inner.segments.front().map_or(end, |s| s.first_seq);
        let known = inner.consumers.iter().map(|c| c.cursor).chain(inner.departed.iter().map(|d| d.1));
        let start = start_of_new(known, first, end);
        let mut added = Vec::new();
        for name in names.iter().filter(|n| !inner.consumers.iter().any(|c| c.name == **n)) {
            let left = inner.departed.iter().find(|d| d.0 == *name).map(|d| d.1.clamp(first, end));
            added.push((name.to_string(), left.unwrap_or(start)));
        }
        // Their cursor files first: if one cannot be written, nothing changes.
        for (name, cursor) in &added {
            write_cursor(&self.settings.dir, name, *cursor)?;
        }
        let mut old = std::mem::take(&mut inner.consumers);
        for name in names {
            let c = match old.iter().position(|c| c.name == *name) {
                Some(pos) => old.remove(pos),
                None => {
                    let pos = added.iter().position(|a| a.0 == *name).expect("each new name was added");
                    let (name, cursor) = added.swap_remove(pos);
                    Consumer { name, cursor, dropped_lines: 0 }
                }
            };
            inner.consumers.push(c);
        }
        inner.departed.retain(|d| !names.contains(&d.0.as_str()));
        inner.departed.extend(old.into_iter().map(|c| (c.name, c.cursor)));
        Ok(())
    }

    pub fn consumer_stats(&self, idx: usize) -> ConsumerStats {
        let g = self.inner.lock().expect("not poisoned");
        let c = &g.consumers[idx];
        let mut queued = 0u64;
        for seg in &g.segments {
            if c.cursor >= seg.end_seq() {
                continue;
            }
            if c.cursor <= seg.first_seq {
                queued += seg.lines;
            } else {
                queued +=
                    seg.records[(c.cursor - seg.first_seq) as usize..].iter().map(|r| u64::from(r.1)).sum::<u64>();
            }
        }
        ConsumerStats { cursor: c.cursor, queued_lines: queued, dropped_lines: c.dropped_lines }
    }

    /// Append time (Unix ns) of the oldest record consumer `idx` has not had
    /// acknowledged (its lag's age); None when it has had everything.
    pub fn oldest_unacked_ns(&self, idx: usize) -> io::Result<Option<i64>> {
        let (file, off) = {
            let g = self.inner.lock().expect("not poisoned");
            let cursor = g.consumers[idx].cursor;
            let Some(seg) = g.segments.iter().find(|s| !s.records.is_empty() && cursor < s.end_seq()) else {
                return Ok(None);
            };
            let seq = cursor.max(seg.first_seq);
            (seg.file.clone(), seg.records[(seq - seg.first_seq) as usize].0)
        };
        let mut hdr = [0u8; HEADER];
        file.read_exact_at(&mut hdr, off)?;
        Ok(Some(decode_header(&hdr).ts))
    }

    /// Bytes on disk in all segments.
    pub fn total_bytes(&self) -> u64 {
        self.inner.lock().expect("not poisoned").total_bytes
    }

    /// Segment files on disk (the active one included).
    pub fn segment_count(&self) -> usize {
        self.inner.lock().expect("not poisoned").segments.len()
    }

    /// Corrupt records found so far (on open and on reading).
    pub fn corrupt_records(&self) -> u64 {
        self.inner.lock().expect("not poisoned").corrupt_records
    }
}

fn lines_from(segments: &VecDeque<Segment>, seq: u64) -> u64 {
    let mut lines = 0u64;
    for seg in segments {
        if seq >= seg.end_seq() {
            continue;
        }
        if seq <= seg.first_seq {
            lines += seg.lines;
        } else {
            lines += seg.records[(seq - seg.first_seq) as usize..].iter().map(|r| u64::from(r.1)).sum::<u64>();
        }
    }
    lines
}

/// Makes a new file's name in `dir` survive a power cut: points fsynced
/// into a segment whose directory entry was lost would be lost with it.
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Where a consumer with no cursor starts: at the oldest `known` cursor, or
/// with none at the oldest record kept (`first`).
fn start_of_new(known: impl Iterator<Item = u64>, first: u64, end: u64) -> u64 {
    known.min().unwrap_or(first).clamp(first, end)
}

/// The `<name>.cursor` files in `dir` (name, cursor); one that does not
/// parse is no cursor, as if it were missing.
fn read_cursors(dir: &Path) -> io::Result<Vec<(String, u64)>> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let Some(name) = e.file_name().to_str().and_then(|n| n.strip_suffix(".cursor")).map(str::to_string) else {
            continue;
        };
        if let Some(cursor) = std::fs::read_to_string(e.path()).ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            found.push((name, cursor));
        }
    }
    Ok(found)
}

/// Deletes the cursor files of `departed` consumers (no longer listed) that
/// point before `first`, the oldest record kept: their place is gone, so
/// they no longer mean anything — put back, such a consumer starts as a new
/// one. Until then a file is kept: the consumer, put back, resumes where it
/// was, and a new one starts no later than it. Failing to delete one is
/// logged; the file is read again at the next open.
fn forget_departed(dir: &Path, departed: &mut Vec<(String, u64)>, first: u64) {
    departed.retain(|(name, cursor)| {
        if *cursor >= first {
            return true;
        }
        match std::fs::remove_file(dir.join(format!("{name}.cursor"))) {
            Ok(()) => tracing::info!(
                consumer = %name, cursor, first_kept = first,
                "deleted the queue cursor of a consumer no longer configured: the records it pointed at are gone"
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(consumer = %name, error = %e, "cannot delete the queue cursor of a consumer no longer configured"),
        }
        false
    });
}

fn write_cursor(dir: &Path, name: &str, cursor: u64) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.cursor.tmp"));
    std::fs::write(&tmp, format!("{cursor}\n"))?;
    std::fs::rename(&tmp, dir.join(format!("{name}.cursor")))
}

/// Group commit: writers append, then wait until a sync covers their record.
/// One sync runs at a time on a thread of its own; every writer that appended
/// before it started is released by it.
pub struct Committer {
    requested: tokio::sync::watch::Sender<u64>,
    durable: tokio::sync::watch::Receiver<Result<u64, String>>,
}

impl Committer {
    pub fn start(spool: Arc<Spool>) -> Arc<Committer> {
        let start = spool.end_seq();
        let (req_tx, mut req_rx) = tokio::sync::watch::channel(start);
        let (dur_tx, dur_rx) = tokio::sync::watch::channel(Ok(start));
        std::thread::Builder::new()
            .name("spool-sync".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().build().expect("sync thread runtime");
                rt.block_on(async move {
                    loop {
                        let want = *req_rx.borrow_and_update();
                        let have = dur_tx.borrow().as_ref().map_or(0, |d| *d);
                        if want > have {
                            let r = spool.sync().map_err(|e| e.to_string());
                            if let Err(e) = &r {
                                tracing::error!(error = %e, "spool sync failed; writes are not acknowledged");
                            }
                            let _ = dur_tx.send_replace(r.map(|d| d.max(have)));
                            continue;
                        }
                        if req_rx.changed().await.is_err() {
                            return;
                        }
                    }
                });
            })
            .expect("spawn the spool sync thread");
        Arc::new(Committer { requested: req_tx, durable: dur_rx })
    }

    /// Asks for record `seq` to be made durable, without waiting.
    pub fn request(&self, seq: u64) {
        self.requested.send_if_modified(|r| {
            if *r <= seq {
                *r = seq + 1;
                true
            } else {
                false
            }
        });
    }

    /// Waits until record `seq` is on disk.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), String> {
        self.request(seq);
        let mut rx = self.durable.clone();
        loop {
            match &*rx.borrow_and_update() {
                Ok(d) if *d > seq => return Ok(()),
                Err(e) => {
                    let e = e.clone();
                    // Ask again: the failure may have been passing (ENOSPC).
                    self.requested.send_modify(|r| *r = (*r).max(seq + 1));
                    return Err(e);
                }
                Ok(_) => {}
            }
            if rx.changed().await.is_err() {
                return Err("the spool sync thread stopped".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> SpoolSettings {
        SpoolSettings::new(dir, 1 << 20, 1 << 30)
    }

    fn texts(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| String::from_utf8(r.data.to_vec()).unwrap()).collect()
    }

    #[test]
    fn records_come_back_in_order_with_their_line_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Spool::open(settings(dir.path()), &["vm"]).unwrap();
        assert_eq!(s.append(2, b"a 1\na 2\n", 10).unwrap(), 0);
        assert_eq!(s.append(1, b"b 3\n", 11).unwrap(), 1);
        let r = s.read(0, 100).unwrap().0;
        assert_eq!(texts(&r), vec!["a 1\na 2\n", "b 3\n"]);
        assert_eq!((r[0].seq, r[0].lines, r[1].seq, r[1].lines), (0, 2, 1, 1));
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 0, queued_lines: 3, dropped_lines: 0 });
    }

    #[test]
    fn a_bounded_consumer_passes_over_whole_old_segments_and_the_others_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        // 100-byte segments: each record (28 + 61 bytes) fills one.
        let (s, _) = Spool::open(SpoolSettings::new(dir.path(), 64, 1 << 20), &["relay", "influx"]).unwrap();
        for i in 0..5 {
            s.append(1, format!("{i:0>60}\n").as_bytes(), 1_000 + i).unwrap();
        }
        // Within both bounds: nothing passed over.
        assert_eq!(s.bound_consumer(0, 1 << 20, Duration::from_nanos(1_000), 1_004).unwrap(), 0);
        // At most 2 records' bytes behind: the 3 oldest go (never the active one).
        assert_eq!(s.bound_consumer(0, 2 * 89, Duration::from_secs(3600), 1_004).unwrap(), 3);
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 3, queued_lines: 2, dropped_lines: 3 });
        assert_eq!(s.consumer_stats(1), ConsumerStats { cursor: 0, queued_lines: 5, dropped_lines: 0 });
        assert_eq!(s.dropped().0, 0, "not the spool's own drop");
        assert_eq!(s.segment_count(), 5, "the other consumer still needs them");
        // By age: a segment whose newest record is older than 1_004 − 1 is passed over, not the active one.
        assert_eq!(s.bound_consumer(0, 1 << 20, Duration::from_nanos(1), 1_004).unwrap(), 0);
        assert_eq!(s.bound_consumer(0, 1 << 20, Duration::from_nanos(1), 1_005).unwrap(), 1);
        assert_eq!(s.read(s.consumer_stats(0).cursor, 10).unwrap().0[0].seq, 4);
        s.ack(1, 5).unwrap();
        assert_eq!(s.segment_count(), 1);
    }

    #[test]
    fn a_relayed_record_is_marked_after_a_reopen_and_counts_its_lines_alone() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, _) = Spool::open(settings(dir.path()), &["vm"]).unwrap();
            s.append(2, b"a 1\na 2\n", 10).unwrap();
            s.append_relayed(3, b"p 1\np 2\np 3\n", 11).unwrap();
            s.sync().unwrap();
        }
        let (s, report) = Spool::open(settings(dir.path()), &["vm"]).unwrap();
        assert_eq!((report.lines, report.corrupt_records), (5, 0));
        let r = s.read(0, 100).unwrap().0;
        assert_eq!(
            r.iter().map(|r| (r.seq, r.lines, r.relayed)).collect::<Vec<_>>(),
            vec![(0, 2, false), (1, 3, true)]
        );
        assert_eq!(s.consumer_stats(0).queued_lines, 5);
    }
    #[test]
    fn each_consumer_knows_when_its_oldest_unacknowledged_record_was_appended() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Spool::open(settings(dir.path()), &["a", "b"]).unwrap();
        assert_eq!(s.oldest_unacked_ns(0).unwrap(), None);
        s.append(1, b"x 1\n", 100).unwrap();
        s.append(1, b"x 2\n", 200).unwrap();
        s.ack(0, 1).unwrap();
        assert_eq!((s.oldest_unacked_ns(0).unwrap(), s.oldest_unacked_ns(1).unwrap()), (Some(200), Some(100)));
        s.ack(0, 2).unwrap();
        assert_eq!((s.oldest_unacked_ns(0).unwrap(), s.oldest_unacked_ns(1).unwrap()), (None, Some(100)));
    }

    #[test]
    fn read_stops_at_max_lines_but_returns_at_least_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Spool::open(settings(dir.path()), &["c"]).unwrap();
        for i in 0..5 {
            s.append(3, format!("r{i}\n").as_bytes(), 1).unwrap();
        }
        assert_eq!(s.read(0, 7).unwrap(), (s.read(0, 7).unwrap().0, 2));
        assert_eq!(s.read(0, 7).unwrap().0.len(), 2);
        assert_eq!(s.read(0, 1).unwrap().0.len(), 1);
        assert_eq!(s.read(3, 100).unwrap().0.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(s.read(5, 100).unwrap(), (vec![], 5));
    }

    #[test]
    fn acknowledged_positions_survive_a_reopen_and_nothing_is_resent() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, _) = Spool::open(settings(dir.path()), &["a", "b"]).unwrap();
            for i in 0..4 {
                s.append(1, format!("p{i}\n").as_bytes(), 1).unwrap();
            }
            s.sync().unwrap();
            s.ack(0, 3).unwrap();
            s.ack(1, 1).unwrap();
        }
        let (s, report) = Spool::open(settings(dir.path()), &["a", "b"]).unwrap();
        assert_eq!((report.records, report.corrupt_records), (4, 0));
        assert_eq!(s.consumer_stats(0).cursor, 3);
        assert_eq!(texts(&s.read(s.consumer_stats(0).cursor, 100).unwrap().0), vec!["p3\n"]);
        assert_eq!(s.consumer_stats(1), ConsumerStats { cursor: 1, queued_lines: 3, dropped_lines: 0 });
        assert_eq!(s.append(1, b"p4\n", 1).unwrap(), 4);
    }

    #[test]
    fn a_torn_tail_is_cut_off_counted_and_the_spool_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join(seg_name(0));
        {
            let (s, _) = Spool::open(settings(dir.path()), &["c"]).unwrap();
            s.append(1, b"good 1\n", 1).unwrap();
            s.append(1, b"good 2\n", 1).unwrap();
            s.append(1, b"torn 3\n", 1).unwrap();
        }
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 4).unwrap();
        let (s, report) = Spool::open(settings(dir.path()), &["c"]).unwrap();
        assert_eq!((report.records, report.corrupt_records), (2, 1));
        assert_eq!(report.truncated_bytes, (HEADER + 7 - 4) as u64);
        assert_eq!(texts(&s.read(0, 100).unwrap().0), vec!["good 1\n", "good 2\n"]);
        assert_eq!(s.append(1, b"after 3\n", 1).unwrap(), 2);
        assert_eq!(texts(&s.read(2, 100).unwrap().0), vec!["after 3\n"]);
    }

    #[test]
    fn flipped_bytes_in_the_last_record_fail_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join(seg_name(0));
        {
            let (s, _) = Spool::open(settings(dir.path()), &["c"]).unwrap();
            s.append(1, b"good\n", 1).unwrap();
            s.append(1, b"flipped\n", 1).unwrap();
        }
        let mut bytes = std::fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        std::fs::write(&seg, &bytes).unwrap();
        let (s, report) = Spool::open(settings(dir.path()), &["c"]).unwrap();
        assert_eq!((report.records, report.corrupt_records), (1, 1));
        assert_eq!(texts(&s.read(0, 100).unwrap().0), vec!["good\n"]);
    }

    #[test]
    fn segments_roll_and_are_deleted_once_every_consumer_is_past_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = settings(dir.path());
        st.segment_max_bytes = 100;
        let (s, _) = Spool::open(st, &["a", "b"]).unwrap();
        for i in 0..6 {
            s.append(1, format!("{i:0>60}\n").as_bytes(), 1).unwrap();
        }
        let count = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg"))
                .count()
        };
        assert_eq!(count(), 3);
        s.ack(0, 6).unwrap();
        assert_eq!(count(), 3, "b has not read anything yet");
        s.ack(1, 4).unwrap();
        assert_eq!(count(), 1);
        assert_eq!(s.read(4, 100).unwrap().0.len(), 2);
    }

    #[test]
    fn with_drop_oldest_past_max_bytes_the_oldest_segment_is_dropped_and_counted_per_consumer() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = settings(dir.path());
        st.segment_max_bytes = 100;
        st.max_bytes = 300;
        st.when_full = WhenFull::DropOldest;
        let (s, _) = Spool::open(st, &["slow", "fast"]).unwrap();
        for i in 0..4 {
            s.append(2, format!("{i:0>60}\n").as_bytes(), 1).unwrap();
            s.ack(1, i + 1).unwrap();
        }
        // Segments hold 2 records (178 bytes) each; the fourth record makes 356 > 300.
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 2, queued_lines: 4, dropped_lines: 4 });
        assert_eq!(s.consumer_stats(1).dropped_lines, 0);
        assert_eq!(s.read(0, 100).unwrap().0.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn with_drop_oldest_segments_older_than_max_age_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = settings(dir.path());
        st.segment_max_bytes = 10;
        st.max_age = Some(Duration::from_secs(60));
        st.when_full = WhenFull::DropOldest;
        let (s, _) = Spool::open(st, &["c"]).unwrap();
        let t0 = 1_000_000_000_000;
        s.append(1, b"old\n", t0).unwrap();
        s.append(1, b"new\n", t0 + 120_000_000_000).unwrap();
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 1, queued_lines: 1, dropped_lines: 1 });
    }

    /// A spool in `st.dir` with `consumers`, `records` records of 89 bytes
    /// appended (seqs 0 to `records` − 1) and consumer `i` acknowledged up to
    /// `acks[i]`.
    fn filled(st: &SpoolSettings, consumers: &[&str], records: u64, acks: &[u64]) -> Arc<Spool> {
        let (s, _) = Spool::open(st.clone(), consumers).unwrap();
        for i in 0..records {
            s.append(1, format!("{i:0>60}\n").as_bytes(), 1).unwrap();
        }
        for (i, upto) in acks.iter().enumerate() {
            s.ack(i, *upto).unwrap();
        }
        s
    }

    /// What consumer `idx` reads from its cursor until it has everything,
    /// acknowledging each batch (two lines at a time), as a forwarder does.
    fn drain(s: &Spool, idx: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        loop {
            let (records, next) = s.read(s.consumer_stats(idx).cursor, 2).unwrap();
            if records.is_empty() {
                return seqs;
            }
            seqs.extend(records.iter().map(|r| r.seq));
            s.ack(idx, next).unwrap();
        }
    }

    fn cursor_file(dir: &Path, name: &str) -> Option<String> {
        std::fs::read_to_string(dir.join(format!("{name}.cursor"))).ok()
    }

    #[test]
    fn on_a_new_spool_a_consumer_starts_at_the_end_which_is_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Spool::open(settings(dir.path()), &["a"]).unwrap();
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 0, queued_lines: 0, dropped_lines: 0 });
        assert_eq!(cursor_file(dir.path(), "a").as_deref(), Some("0\n"));
    }

    #[test]
    fn with_no_cursor_left_a_new_consumer_starts_at_the_oldest_record_kept() {
        let dir = tempfile::tempdir().unwrap();
        filled(&settings(dir.path()), &["gone"], 3, &[]);
        std::fs::remove_file(dir.path().join("gone.cursor")).unwrap();
        let (s, _) = Spool::open(settings(dir.path()), &["new"]).unwrap();
        assert_eq!(drain(&s, 0), vec![0, 1, 2]);
    }

    #[test]
    fn a_consumer_added_at_open_starts_at_the_oldest_cursor_of_the_others() {
        let dir = tempfile::tempdir().unwrap();
        filled(&settings(dir.path()), &["old", "ahead"], 4, &[1, 3]);
        let (s, _) = Spool::open(settings(dir.path()), &["old", "ahead", "new"]).unwrap();
        assert_eq!(s.consumer_stats(2), ConsumerStats { cursor: 1, queued_lines: 3, dropped_lines: 0 });
        assert_eq!(cursor_file(dir.path(), "new").as_deref(), Some("1\n"), "its start is kept at once");
        assert_eq!((drain(&s, 0), drain(&s, 1), drain(&s, 2)), (vec![1, 2, 3], vec![3], vec![1, 2, 3]));
    }

    /// Issue 18: an agent switched from `output:` to `outputs:` (and
    /// restarted) started both new outputs at the end of the queue, so the
    /// points `output` had not yet sent were lost for them.
    #[test]
    fn switching_output_to_two_outputs_at_a_restart_gives_both_the_whole_backlog_once() {
        let dir = tempfile::tempdir().unwrap();
        filled(&settings(dir.path()), &["output"], 5, &[2]);
        let (s, _) = Spool::open(settings(dir.path()), &["output-a", "output-b"]).unwrap();
        assert_eq!((drain(&s, 0), drain(&s, 1)), (vec![2, 3, 4], vec![2, 3, 4]));
        s.append(1, b"more\n", 1).unwrap();
        assert_eq!((drain(&s, 0), drain(&s, 1)), (vec![5], vec![5]));
        // Its record 2 is still in the (one) segment kept: the file stays.
        assert_eq!(cursor_file(dir.path(), "output").as_deref(), Some("2\n"));
    }

    /// Issue 18, the same switch on a reload (SIGHUP) of the running agent.
    #[test]
    fn switching_output_to_two_outputs_on_a_reload_gives_both_the_whole_backlog_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = filled(&settings(dir.path()), &["output"], 5, &[2]);
        s.set_consumers(&["output-a", "output-b"]).unwrap();
        assert_eq!(cursor_file(dir.path(), "output-a").as_deref(), Some("2\n"));
        assert_eq!(cursor_file(dir.path(), "output-b").as_deref(), Some("2\n"));
        assert_eq!((drain(&s, 0), drain(&s, 1)), (vec![2, 3, 4], vec![2, 3, 4]));
    }

    #[test]
    fn a_consumer_added_on_reload_while_the_others_lag_starts_at_the_oldest_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let s = filled(&settings(dir.path()), &["a", "b"], 6, &[4, 2]);
        s.set_consumers(&["a", "b", "c"]).unwrap();
        assert_eq!((s.consumer_stats(0).cursor, s.consumer_stats(1).cursor), (4, 2), "the others keep their place");
        assert_eq!(s.consumer_stats(2), ConsumerStats { cursor: 2, queued_lines: 4, dropped_lines: 0 });
        assert_eq!((drain(&s, 0), drain(&s, 1), drain(&s, 2)), (vec![4, 5], vec![2, 3, 4, 5], vec![2, 3, 4, 5]));
    }

    #[test]
    fn consumers_kept_by_name_keep_their_place_when_the_set_changes() {
        let dir = tempfile::tempdir().unwrap();
        let s = filled(&settings(dir.path()), &["a", "b"], 3, &[2, 1]);
        s.set_consumers(&["b", "c"]).unwrap();
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 1, queued_lines: 2, dropped_lines: 0 });
        assert_eq!(s.consumer_stats(1), ConsumerStats { cursor: 1, queued_lines: 2, dropped_lines: 0 });
        // `a` comes back: it resumes from its cursor file, not from the others' 1.
        s.set_consumers(&["b", "c", "a"]).unwrap();
        assert_eq!(s.consumer_stats(2), ConsumerStats { cursor: 2, queued_lines: 1, dropped_lines: 0 });
    }

    #[test]
    fn a_removed_consumer_no_longer_holds_segments_and_its_cursor_goes_with_its_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = settings(dir.path());
        st.segment_max_bytes = 100;
        // Segments of 2 records: [0, 1] [2, 3] [4, 5].
        let s = filled(&st, &["a", "slow", "mid"], 6, &[3, 1, 5]);
        assert_eq!(seg_files(dir.path()), 3, "`slow` holds them");
        s.set_consumers(&["a"]).unwrap();
        assert_eq!(seg_files(dir.path()), 3, "nothing goes before the next ack: the old set may come back");
        s.ack(0, 4).unwrap();
        assert_eq!(seg_files(dir.path()), 1, "[0, 1] and [2, 3] went, with `slow` gone");
        assert_eq!(cursor_file(dir.path(), "slow"), None, "its record 1 is gone, and its cursor");
        assert_eq!(cursor_file(dir.path(), "mid").as_deref(), Some("5\n"), "its record 5 is still kept");
        s.ack(0, 6).unwrap();
        assert_eq!((seg_files(dir.path()), s.total_bytes()), (1, 0), "`mid` does not hold [4, 5]");
        assert_eq!(cursor_file(dir.path(), "mid"), None);
        s.set_consumers(&["a", "mid"]).unwrap();
        assert_eq!(s.consumer_stats(1).cursor, 6, "back, it starts as a new one");
    }

    /// The collector's way back when the new sinks cannot start: the old
    /// set is put back before any ack and resumes exactly where it was.
    #[test]
    fn a_set_of_consumers_put_back_before_any_ack_resumes_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = settings(dir.path());
        st.segment_max_bytes = 100;
        let s = filled(&st, &["a", "b"], 6, &[5, 1]);
        s.set_consumers(&["c"]).unwrap();
        s.set_consumers(&["a", "b"]).unwrap();
        assert_eq!((drain(&s, 0), drain(&s, 1)), (vec![5], vec![1, 2, 3, 4, 5]));
    }

    #[test]
    fn at_open_a_cursor_file_left_by_a_removed_consumer_holds_no_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = settings(dir.path());
        st.segment_max_bytes = 100;
        filled(&st, &["a", "slow"], 6, &[4, 0]);
        assert_eq!(seg_files(dir.path()), 3);
        let (s, report) = Spool::open(st, &["a"]).unwrap();
        assert_eq!((report.segments, seg_files(dir.path())), (1, 1));
        assert_eq!(cursor_file(dir.path(), "slow"), None);
        assert_eq!(drain(&s, 0), vec![4, 5]);
    }

    fn seg_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg"))
            .count()
    }

    /// Regression (issue 14): `has_room` and `append` were two steps, so
    /// concurrent writers passed the bound together and the bound then
    /// deleted acknowledged records.
    #[test]
    fn sixteen_concurrent_writers_never_pass_max_bytes_and_nothing_appended_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let st = SpoolSettings::new(dir.path(), 4096, 16 * 1024);
        let (s, _) = Spool::open(st, &["c"]).unwrap();
        let line = format!("m v={:0>90}\n", 1);
        let rec = (HEADER + line.len()) as u64;
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (s, line) = (s.clone(), line.clone());
                std::thread::spawn(move || {
                    let (mut ok, mut full) = (0u64, 0u64);
                    for _ in 0..50 {
                        match s.append(1, line.as_bytes(), 1) {
                            Ok(_) => ok += 1,
                            Err(AppendError::Full { .. }) => full += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (ok, full)
                })
            })
            .collect();
        let (ok, full) = threads.into_iter().map(|t| t.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        assert_eq!(ok, 16 * 1024 / rec);
        assert_eq!(full, 16 * 50 - ok);
        assert_eq!(s.total_bytes(), ok * rec);
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 0, queued_lines: ok, dropped_lines: 0 });
        assert_eq!(s.read(0, u64::MAX).unwrap().0.len() as u64, ok);
    }

    #[test]
    fn with_refuse_a_full_spool_refuses_the_append_and_keeps_every_unsent_record_past_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = SpoolSettings::new(dir.path(), 100, 300);
        st.max_age = Some(Duration::from_secs(60));
        let (s, _) = Spool::open(st, &["c"]).unwrap();
        let t0 = 1_000_000_000_000;
        for i in 0..3 {
            assert_eq!(s.append(2, format!("{i:0>60}\n").as_bytes(), t0).unwrap(), i);
        }
        let late = t0 + 3_600_000_000_000;
        let e = s.append(2, format!("{:0>60}\n", 3).as_bytes(), late).unwrap_err();
        assert_eq!(e.to_string(), "the spool is full: 89 more bytes do not fit under max_bytes (300)");
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 0, queued_lines: 6, dropped_lines: 0 });
        assert_eq!(s.dropped(), (0, 0));
        // Once the consumer has them, the space is free again.
        s.ack(0, 3).unwrap();
        assert_eq!(s.append(2, format!("{:0>60}\n", 3).as_bytes(), late).unwrap(), 3);
    }

    #[test]
    fn drop_oldest_never_drops_records_younger_than_drop_min_age() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = SpoolSettings::new(dir.path(), 100, 300);
        st.when_full = WhenFull::DropOldest;
        st.drop_min_age = Duration::from_secs(60);
        let (s, _) = Spool::open(st, &["c"]).unwrap();
        let t0 = 1_000_000_000_000;
        for i in 0..3 {
            s.append(1, format!("{i:0>60}\n").as_bytes(), t0).unwrap();
        }
        // 30 s later the oldest segment is still protected: refused.
        let e = s.append(1, format!("{:0>60}\n", 3).as_bytes(), t0 + 30_000_000_000).unwrap_err();
        assert!(matches!(e, AppendError::Full { needed: 89, max_bytes: 300 }), "{e}");
        assert_eq!(s.consumer_stats(0).dropped_lines, 0);
        // 61 s later it may go.
        let t1 = t0 + 61_000_000_000;
        assert_eq!(s.append(1, format!("{:0>60}\n", 3).as_bytes(), t1).unwrap(), 3);
        assert_eq!(s.consumer_stats(0), ConsumerStats { cursor: 2, queued_lines: 2, dropped_lines: 2 });
        assert_eq!(s.dropped(), (2, t1));
    }

    /// Regression (issue 14): a drained active segment was never removed,
    /// so a spool that had filled its disk stayed full after the sinks
    /// caught up, and after a restart.
    #[test]
    fn a_drained_active_segment_is_replaced_by_an_empty_one_and_after_a_restart_too() {
        let dir = tempfile::tempdir().unwrap();
        let st = SpoolSettings::new(dir.path(), 3200, 1 << 20);
        {
            let (s, _) = Spool::open(st.clone(), &["a", "b"]).unwrap();
            // 89 bytes a record: 2 of them are under a sixteenth (200 bytes) of a segment.
            for i in 0..2 {
                s.append(1, format!("{i:0>60}\n").as_bytes(), 1).unwrap();
            }
            s.ack(0, 2).unwrap();
            s.ack(1, 2).unwrap();
            assert_eq!(s.total_bytes(), 178, "small: kept, so a busy spool does not make a file per batch");
            s.append(1, format!("{:0>60}\n", 2).as_bytes(), 1).unwrap();
            s.ack(0, 3).unwrap();
            assert_eq!(s.total_bytes(), 267, "b has not read the last one");
            s.ack(1, 3).unwrap();
            assert_eq!(s.total_bytes(), 0);
            assert_eq!(seg_files(dir.path()), 1);
            assert_eq!(std::fs::metadata(dir.path().join(seg_name(3))).unwrap().len(), 0);
            s.append(1, b"small\n", 1).unwrap();
            s.ack(0, 4).unwrap();
            s.ack(1, 4).unwrap();
            assert_eq!(s.total_bytes(), 34);
        }
        let (s, report) = Spool::open(st, &["a", "b"]).unwrap();
        assert_eq!((report.segments, s.total_bytes(), seg_files(dir.path())), (1, 0, 1));
        assert_eq!(s.append(1, b"next\n", 1).unwrap(), 4);
        assert_eq!(texts(&s.read(s.consumer_stats(0).cursor, 100).unwrap().0), vec!["next\n"]);
    }

    #[tokio::test]
    async fn writers_wait_until_their_record_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Spool::open(settings(dir.path()), &["c"]).unwrap();
        let c = Committer::start(s.clone());
        let seq = s.append(1, b"x\n", 1).unwrap();
        assert_eq!(c.wait_durable(seq).await, Ok(()));
        let a = s.append(1, b"y\n", 1).unwrap();
        let b = s.append(1, b"z\n", 1).unwrap();
        let (ra, rb) = tokio::join!(c.wait_durable(a), c.wait_durable(b));
        assert_eq!((ra, rb), (Ok(()), Ok(())));
    }
}
