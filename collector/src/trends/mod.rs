//! Hourly trends for capacity and availability reports, kept in the
//! collector's own SQLite (not read back from InfluxDB): per series that
//! matters to a budget — host CPU, memory, disks, network; UPS load, charge,
//! runtime, time on battery; feed power and liveness; generator running;
//! backup outcomes; agent heartbeats — each hour's count, min, max, sum and,
//! where a 95th percentile is reported, a mergeable sketch.
//!
//! Ingest adds points to in-memory deltas; every `flush_secs` the deltas are
//! merged into their hour's row (a late point from an agent's replayed queue
//! lands in its own, older hour). A crash loses at most one flush interval
//! of trends; the full-resolution data is in the spool and InfluxDB.

pub mod sketch;

use dcwatch_common::schema::{f, m};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dcwatch_common::config::duration;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use self::sketch::Sketch;
use crate::model::{ObsValue, Observation};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendsConfig {
    /// SQLite database of the hourly trends. Defaults to /var/lib/dcwatch/trends.db.
    #[serde(default = "default_db")]
    pub db: PathBuf,
    /// Hours older than this are deleted. Defaults to 730 (two years).
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// How often the in-memory deltas are written. Defaults to 60.
    #[serde(default = "default_flush", deserialize_with = "duration::secs")]
    pub flush_secs: u64,
}

fn default_db() -> PathBuf {
    PathBuf::from("/var/lib/dcwatch/trends.db")
}
fn default_retention() -> u32 {
    730
}
fn default_flush() -> u64 {
    60
}

impl TrendsConfig {
    pub fn check(&self, p: &mut Vec<dcwatch_common::config::Problem>) {
        if self.retention_days == 0 {
            p.push(dcwatch_common::config::Problem::general("trends.retention_days: must be at least 1"));
        }
        if self.flush_secs == 0 {
            p.push(dcwatch_common::config::Problem::general("trends.flush_secs: must be at least 1"));
        }
    }
}

/// The measurements trends are kept for.
pub const MEASUREMENTS: &[&str] =
    &[m::HOST_CPU, m::HOST_MEM, m::HOST_DISK, m::HOST_NET, m::UPS, m::POWER_FEED, m::GENERATOR, m::BACKUP, m::AGENT];

/// What is kept of a point: the tags that name the thing within its host
/// (as `k=v,…`), and (field, keep a sketch) pairs. None: nothing.
fn kept(o: &Observation) -> Option<(String, &'static [(&'static str, bool)])> {
    let tag = |k: &str| o.tag(k).unwrap_or("");
    Some(match o.measurement.as_str() {
        m::HOST_CPU if tag("cpu") == "total" => (String::new(), &[(f::USAGE_PCT, true)]),
        // What the report reads, no more: a server-year is thousands of rows per field.
        m::HOST_MEM => (String::new(), &[(f::USED_PCT, true)]),
        // `free_bytes` is df's Avail: used / (used + free) is df's Use%.
        m::HOST_DISK => (
            format!("mount={}", tag("mount")),
            &[(f::USED_BYTES, false), (f::FREE_BYTES, false), (f::TOTAL_BYTES, false)],
        ),
        m::HOST_NET => (format!("iface={}", tag("iface")), &[(f::RX_BYTES_PER_S, true), (f::TX_BYTES_PER_S, true)]),
        m::UPS => (
            format!("device={}", tag("device")),
            &[
                (f::LOAD_PCT, true),
                (f::BATTERY_CHARGE_PCT, false),
                (f::RUNTIME_REMAINING_S, false),
                (f::ON_BATTERY, false),
                (f::REPLACE_BATTERY, false),
            ],
        ),
        m::POWER_FEED if !tag("feed").is_empty() => {
            (format!("device={},feed={}", tag("device"), tag("feed")), &[(f::POWER_W, true), (f::LIVE, false)])
        }
        m::GENERATOR => (format!("device={}", tag("device")), &[(f::RUNNING, false), (f::FUEL_PCT, false)]),
        m::BACKUP => (
            format!("job={}", tag("job")),
            &[(f::OK, false), (f::LAST_SUCCESS_TS, false), (f::LAST_SIZE_BYTES, false), (f::SIZE_CHANGE_PCT, false)],
        ),
        m::AGENT => (String::new(), &[(f::BEAT, false)]),
        _ => return None,
    })
}

/// One series: a field of a thing on a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub measurement: String,
    pub field: String,
    pub site: String,
    pub host: String,
    /// `mount=/var`, `device=ups-a1`, … ; empty for a host-wide series.
    pub key: String,
}

/// A series and its hours (hour number, aggregate), oldest first.
pub type SeriesHours = (SeriesKey, Vec<(i64, Agg)>);

/// One hour of one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agg {
    pub n: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub sketch: Option<Sketch>,
    /// Unix seconds of the hour's first and last sample (None: an hour
    /// written before they were kept).
    pub first_s: Option<i64>,
    pub last_s: Option<i64>,
}

impl Agg {
    fn add(&mut self, x: f64, ts_s: i64, sketch: bool) {
        if self.n == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.first_s = Some(self.first_s.map_or(ts_s, |f| f.min(ts_s)));
        self.last_s = Some(self.last_s.map_or(ts_s, |l| l.max(ts_s)));
        self.n += 1;
        self.sum += x;
        if sketch {
            self.sketch.get_or_insert_with(Sketch::default).add(x);
        }
    }

    pub fn merge(&mut self, o: &Agg) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            self.min = o.min;
            self.max = o.max;
            (self.first_s, self.last_s) = (o.first_s, o.last_s);
        } else {
            self.min = self.min.min(o.min);
            self.max = self.max.max(o.max);
            // An hour without times (written before they were kept) stays without.
            self.first_s = self.first_s.zip(o.first_s).map(|(a, b)| a.min(b));
            self.last_s = self.last_s.zip(o.last_s).map(|(a, b)| a.max(b));
        }
        self.n += o.n;
        self.sum += o.sum;
        if let Some(s) = &o.sketch {
            self.sketch.get_or_insert_with(Sketch::default).merge(s);
        }
    }

    pub fn avg(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// Seconds of the hour its samples stand for: the span from the first
    /// to the last sample plus one sampling interval (estimated as the span
    /// over `n − 1`), so `n` samples every `i` seconds stand for `n × i`.
    /// One sample alone, or an hour written before sample times were kept,
    /// stands for `fallback_s`.
    pub fn observed_secs(&self, fallback_s: f64) -> f64 {
        match (self.first_s, self.last_s) {
            (Some(f), Some(l)) if self.n >= 2 && l > f => {
                let span = (l - f) as f64;
                (span + span / (self.n - 1) as f64).min(3600.0)
            }
            _ => fallback_s,
        }
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, field TEXT NOT NULL, site TEXT NOT NULL,
    host TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (measurement, field, site, host, key)
);
CREATE TABLE IF NOT EXISTS hourly (
    series INTEGER NOT NULL, hour INTEGER NOT NULL, n INTEGER NOT NULL, min REAL NOT NULL,
    max REAL NOT NULL, sum REAL NOT NULL, sketch BLOB, first_s INTEGER, last_s INTEGER,
    PRIMARY KEY (series, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reports_sent (
    schedule TEXT NOT NULL, period TEXT NOT NULL, sent_ms INTEGER NOT NULL, PRIMARY KEY (schedule, period)
);
";

/// Why the trends could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum TrendsError {
    /// The database cannot be opened for writing (its folder, the file or its tables).
    #[error(transparent)]
    Open(#[from] crate::db::OpenError),
    /// The database cannot be opened for reading (`report`).
    #[error("cannot open the trends database {}", path.display())]
    OpenRead {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A query or a write failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

pub struct Trends {
    cfg: TrendsConfig,
    conn: Mutex<Connection>,
    pending: Mutex<HashMap<(SeriesKey, i64), Agg>>,
    ids: Mutex<HashMap<SeriesKey, i64>>,
    last_prune_hour: Mutex<i64>,
}

impl Trends {
    pub fn open(cfg: TrendsConfig) -> Result<Trends, TrendsError> {
        let conn = crate::db::open(&cfg.db, None, SCHEMA)?;
        add_sample_times(&conn).map_err(|source| crate::db::OpenError::Schema { path: cfg.db.clone(), source })?;
        Ok(Trends {
            cfg,
            conn: Mutex::new(conn),
            pending: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
            last_prune_hour: Mutex::new(0),
        })
    }

    pub fn config(&self) -> &TrendsConfig {
        &self.cfg
    }

    /// Adds the points of one write to the current deltas.
    pub fn observe(&self, obs: &[Observation]) {
        let mut pending = self.pending.lock().expect("not poisoned");
        for o in obs {
            let Some((key, fields)) = kept(o) else { continue };
            let hour = o.ts.div_euclid(3_600_000_000_000);
            let ts_s = o.ts.div_euclid(1_000_000_000);
            let site = o.tag("site").unwrap_or("").to_string();
            let host = o.tag("host").unwrap_or("").to_string();
            for (f, sketch) in fields {
                let x = match (o.measurement.as_str(), *f) {
                    ("dcwatch_agent", "beat") => Some(1.0),
                    ("backup", "ok") => match o.fields.iter().find(|(k, _)| k == "status").map(|(_, v)| v) {
                        Some(ObsValue::Str(s)) if s == "ok" => Some(1.0),
                        Some(ObsValue::Str(s)) if s == "failed" || s == "missing" => Some(0.0),
                        _ => None,
                    },
                    _ => match o.fields.iter().find(|(k, _)| k == f).map(|(_, v)| v) {
                        Some(ObsValue::Num(x)) => Some(*x),
                        Some(ObsValue::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
                        _ => None,
                    },
                };
                // An infinite or NaN value (line protocol allows `1e999`) would
                // make the hour's sum NaN, which SQLite cannot store.
                let Some(x) = x.filter(|x| x.is_finite()) else { continue };
                let k = SeriesKey {
                    measurement: o.measurement.clone(),
                    field: (*f).to_string(),
                    site: site.clone(),
                    host: host.clone(),
                    key: key.clone(),
                };
                pending.entry((k, hour)).or_default().add(x, ts_s, *sketch);
            }
        }
    }

    /// Merges the deltas into their hours; prunes what is past retention
    /// once an hour. Returns the rows written.
    /// A failed write (a full disk) keeps the deltas for the next flush.
    pub fn flush(&self, now_ns: i64) -> Result<usize, TrendsError> {
        let deltas = std::mem::take(&mut *self.pending.lock().expect("not poisoned"));
        self.write(&deltas, now_ns).inspect_err(|_| {
            // Series ids made in the rolled-back transaction do not exist.
            self.ids.lock().expect("not poisoned").clear();
            let mut pending = self.pending.lock().expect("not poisoned");
            for (k, a) in deltas {
                pending.entry(k).or_default().merge(&a);
            }
        })
    }

    fn write(&self, deltas: &HashMap<(SeriesKey, i64), Agg>, now_ns: i64) -> Result<usize, TrendsError> {
        let mut conn = self.conn.lock().expect("not poisoned");
        let tx = conn.transaction()?;
        let mut ids = self.ids.lock().expect("not poisoned");
        let n = deltas.len();
        for ((key, hour), delta) in deltas {
            let id = match ids.get(key) {
                Some(id) => *id,
                None => {
                    let id = series_id(&tx, key)?;
                    ids.insert(key.clone(), id);
                    id
                }
            };
            let mut row = read_row(&tx, id, *hour)?.unwrap_or_default();
            row.merge(delta);
            tx.execute(
                "INSERT OR REPLACE INTO hourly (series, hour, n, min, max, sum, sketch, first_s, last_s) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    hour,
                    row.n as i64,
                    row.min,
                    row.max,
                    row.sum,
                    row.sketch.as_ref().map(Sketch::encode),
                    row.first_s,
                    row.last_s
                ],
            )?;
        }
        let hour_now = now_ns.div_euclid(3_600_000_000_000);
        let mut pruned = self.last_prune_hour.lock().expect("not poisoned");
        if *pruned != hour_now {
            let oldest = hour_now - i64::from(self.cfg.retention_days) * 24;
            tx.execute("DELETE FROM hourly WHERE hour < ?1", params![oldest])?;
            *pruned = hour_now;
        }
        tx.commit()?;
        Ok(n)
    }

    #[cfg(test)]
    pub fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("not poisoned")
    }
}

/// Reads trends from a database file (for `report`, beside a running collector).
pub fn open_read(path: &Path) -> Result<Connection, TrendsError> {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| TrendsError::OpenRead { path: path.to_path_buf(), source })
}

/// How [`read`] gives a series' hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Each hour.
    Hour,
    /// All hours merged into one, as they are read (a month of sketches is
    /// not held hour by hour); it stands at the first hour.
    Series,
}

/// Every hour in `[from_hour, to_hour)` of the series that match
/// `measurement` and `field` (and `site`, when given), by series.
pub fn read(
    conn: &Connection,
    measurement: &str,
    field: &str,
    site: Option<&str>,
    from_hour: i64,
    to_hour: i64,
    by: By,
) -> Result<Vec<SeriesHours>, TrendsError> {
    let mut st = conn.prepare(
        "SELECT s.site, s.host, s.key, h.hour, h.n, h.min, h.max, h.sum, h.sketch, h.first_s, h.last_s \
             FROM series s JOIN hourly h \
             ON h.series = s.id WHERE s.measurement = ?1 AND s.field = ?2 AND (?3 IS NULL OR s.site = ?3) \
             AND h.hour >= ?4 AND h.hour < ?5 ORDER BY s.site, s.host, s.key, h.hour",
    )?;
    let rows = st.query_map(params![measurement, field, site, from_hour, to_hour], |r| {
        let blob: Option<Vec<u8>> = r.get(8)?;
        Ok((
            (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?),
            r.get::<_, i64>(3)?,
            Agg {
                n: r.get::<_, i64>(4)? as u64,
                min: r.get(5)?,
                max: r.get(6)?,
                sum: r.get(7)?,
                sketch: blob.and_then(|b| Sketch::decode(&b).ok()),
                first_s: r.get(9)?,
                last_s: r.get(10)?,
            },
        ))
    })?;
    let mut out: Vec<SeriesHours> = Vec::new();
    for row in rows {
        let ((site, host, key), hour, agg) = row?;
        let k = SeriesKey { measurement: measurement.into(), field: field.into(), site, host, key };
        match out.last_mut() {
            Some((last, v)) if *last == k => {
                if by == By::Series {
                    v[0].1.merge(&agg);
                } else {
                    v.push((hour, agg));
                }
            }
            _ => out.push((k, vec![(hour, agg)])),
        }
    }
    Ok(out)
}

/// A database made before the hours kept their first and last sample's
/// time gets the two columns (empty for its old hours).
fn add_sample_times(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool =
        conn.query_row("SELECT COUNT(*) FROM pragma_table_info('hourly') WHERE name = 'first_s'", [], |r| {
            r.get::<_, i64>(0).map(|n| n > 0)
        })?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE hourly ADD COLUMN first_s INTEGER; ALTER TABLE hourly ADD COLUMN last_s INTEGER;",
        )?;
    }
    Ok(())
}

/// The first hour of data ever kept for `measurement` at `site` (when
/// dcwatch began hearing from it). Each series' oldest row is found on its
/// primary key, not by a scan.
pub fn first_hour(conn: &Connection, measurement: &str, site: &str) -> Result<Option<i64>, TrendsError> {
    conn.query_row(
        "SELECT MIN((SELECT MIN(h.hour) FROM hourly h WHERE h.series = s.id)) FROM series s \
         WHERE s.measurement = ?1 AND s.site = ?2",
        params![measurement, site],
        |r| r.get::<_, Option<i64>>(0),
    )
    .map_err(TrendsError::from)
}

/// The first hour of data still kept of any series (at `site`, when
/// given): the oldest period a report can be made of. Found on each
/// series' primary key, as [`first_hour`] is.
pub fn first_hour_any(conn: &Connection, site: Option<&str>) -> Result<Option<i64>, TrendsError> {
    conn.query_row(
        "SELECT MIN((SELECT MIN(h.hour) FROM hourly h WHERE h.series = s.id)) FROM series s \
         WHERE (?1 IS NULL OR s.site = ?1)",
        params![site],
        |r| r.get::<_, Option<i64>>(0),
    )
    .map_err(TrendsError::from)
}

/// The sites the trends have series of, by name.
pub fn sites(conn: &Connection) -> Result<Vec<String>, TrendsError> {
    let mut st = conn.prepare("SELECT DISTINCT site FROM series WHERE site != '' ORDER BY site")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The time (Unix seconds) of the newest sample in `[from_hour, to_hour)`
/// of any series (at `site`, when given); an hour written before sample
/// times were kept counts as ending at its last second.
pub fn newest_sample(
    conn: &Connection,
    site: Option<&str>,
    from_hour: i64,
    to_hour: i64,
) -> Result<Option<i64>, TrendsError> {
    conn.query_row(
        "SELECT MAX(COALESCE(h.last_s, h.hour * 3600 + 3599)) FROM hourly h JOIN series s ON h.series = s.id \
         WHERE (?1 IS NULL OR s.site = ?1) AND h.hour >= ?2 AND h.hour < ?3",
        params![site, from_hour, to_hour],
        |r| r.get::<_, Option<i64>>(0),
    )
    .map_err(TrendsError::from)
}

/// The hours in `[from_hour, to_hour)` in which any series (at `site`,
/// when given) has data.
pub fn hours_with_data(
    conn: &Connection,
    site: Option<&str>,
    from_hour: i64,
    to_hour: i64,
) -> Result<u64, TrendsError> {
    conn.query_row(
        "SELECT COUNT(DISTINCT h.hour) FROM hourly h JOIN series s ON h.series = s.id \
         WHERE (?1 IS NULL OR s.site = ?1) AND h.hour >= ?2 AND h.hour < ?3",
        params![site, from_hour, to_hour],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .map_err(TrendsError::from)
}

/// The seconds of `[from, to)` covered by hours in which any series (at
/// `site`, when given) has data. An hour counts for the part of it inside
/// the span (a period in a zone with a half-hour offset starts and ends in
/// the middle of an hour), and an hour at either end only if samples of it
/// fall inside (its first and last sample's times; an hour written before
/// they were kept counts as if they did).
pub fn seconds_with_data(conn: &Connection, site: Option<&str>, from: i64, to: i64) -> Result<i64, TrendsError> {
    let mut stmt = conn.prepare(
        "SELECT h.hour, MIN(COALESCE(h.first_s, h.hour * 3600)), MAX(COALESCE(h.last_s, h.hour * 3600 + 3599)) \
             FROM hourly h JOIN series s ON h.series = s.id \
             WHERE (?1 IS NULL OR s.site = ?1) AND h.hour >= ?2 AND h.hour < ?3 GROUP BY h.hour",
    )?;
    let rows = stmt.query_map(params![site, from.div_euclid(3600), (to + 3599).div_euclid(3600)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })?;
    let mut total = 0;
    for row in rows {
        let (hour, first, last) = row?;
        if last < from || first >= to {
            continue;
        }
        total += (hour * 3600 + 3600).min(to) - (hour * 3600).max(from);
    }
    Ok(total)
}

fn series_id(conn: &Connection, k: &SeriesKey) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT OR IGNORE INTO series (measurement, field, site, host, key) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![k.measurement, k.field, k.site, k.host, k.key],
    )?;
    conn.query_row(
        "SELECT id FROM series WHERE measurement = ?1 AND field = ?2 AND site = ?3 AND host = ?4 AND key = ?5",
        params![k.measurement, k.field, k.site, k.host, k.key],
        |r| r.get(0),
    )
}

fn read_row(conn: &Connection, id: i64, hour: i64) -> Result<Option<Agg>, TrendsError> {
    conn.query_row(
        "SELECT n, min, max, sum, sketch, first_s, last_s FROM hourly WHERE series = ?1 AND hour = ?2",
        params![id, hour],
        |r| {
            let blob: Option<Vec<u8>> = r.get(4)?;
            Ok(Agg {
                n: r.get::<_, i64>(0)? as u64,
                min: r.get(1)?,
                max: r.get(2)?,
                sum: r.get(3)?,
                sketch: blob.and_then(|b| Sketch::decode(&b).ok()),
                first_s: r.get(5)?,
                last_s: r.get(6)?,
            })
        },
    )
    .optional()
    .map_err(TrendsError::from)
}

#[cfg(test)]
mod tests;
