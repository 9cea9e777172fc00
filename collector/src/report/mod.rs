//! Capacity and availability reports for management, from the collector's
//! own hourly trends (`trends.db`) and alarm history (`alarms.db`).
//!
//! [`build`] computes one [`Report`] (the JSON form); `render` writes it
//! as CSV or as one self-contained HTML file with inline SVG charts, in
//! Vietnamese or English (`i18n`).

use crate::i18n;
use dcwatch_common::schema::{f, m};
mod context;
pub mod render;
pub mod sample;
pub mod schedule;
mod sections;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::trends::{self, Agg, SeriesKey, TrendsError};
use dcwatch_common::error_chain;

/// The report's time span, in the site's time zone.
#[derive(Debug, Clone)]
pub struct Period {
    /// `2026-10` or `2026-W43`.
    pub label: String,
    pub days: Vec<Date>,
    /// Unix seconds of each day's start, and the end of the last.
    pub bounds: Vec<i64>,
}

impl Period {
    pub fn start(&self) -> i64 {
        self.bounds[0]
    }

    pub fn end(&self) -> i64 {
        *self.bounds.last().expect("a period has days")
    }

    /// The day an instant falls in, if within the period.
    pub fn day_of(&self, secs: i64) -> Option<usize> {
        if secs < self.start() || secs >= self.end() {
            return None;
        }
        Some(self.bounds.partition_point(|b| *b <= secs) - 1)
    }
}

/// Why a report was not made: the kinds `report` exits on (a bad period
/// is a bad argument; the data or the file cannot be read or written).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `--period` (or a schedule's period) is neither a month nor an ISO week.
    #[error("`{0}` is not a period: give a month (2026-10) or an ISO week (2026-W43)")]
    Period(String),
    /// A day of the period has no time in the zone.
    #[error(transparent)]
    Calendar(#[from] jiff::Error),
    /// The trends cannot be read.
    #[error(transparent)]
    Trends(#[from] TrendsError),
    /// The alarm history cannot be read.
    #[error(transparent)]
    Alarms(rusqlite::Error),
    /// The report file cannot be written.
    #[error("{}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The standard output cannot be written.
    #[error(transparent)]
    Stdout(std::io::Error),
}

/// `YYYY-MM` (a month) or `YYYY-Www` (an ISO week), in `tz`.
pub fn parse_period(s: &str, tz: &TimeZone) -> Result<Period, ReportError> {
    let bad = || ReportError::Period(s.to_string());
    let (first, count) = if let Some((y, w)) = s.split_once("-W") {
        let y: i16 = y.parse().map_err(|_| bad())?;
        let w: i8 = w.parse().map_err(|_| bad())?;
        let wd = jiff::civil::ISOWeekDate::new(y, w, jiff::civil::Weekday::Monday).map_err(|_| bad())?;
        (wd.date(), 7)
    } else {
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let d = Date::new(y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, 1).map_err(|_| bad())?;
        (d, i64::from(d.days_in_month()))
    };
    let mut days = Vec::new();
    let mut bounds = Vec::new();
    for i in 0..=count {
        let d = first.checked_add(jiff::Span::new().days(i))?;
        let z = d.to_zoned(tz.clone())?;
        bounds.push(z.timestamp().as_second());
        if i < count {
            days.push(d);
        }
    }
    Ok(Period { label: s.to_string(), days, bounds })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub period: String,
    pub site: Option<String>,
    pub time_zone: String,
    pub from: String,
    pub to: String,
    /// The period is not over: figures are up to `generated_at`.
    pub partial: bool,
    /// The share of the period's hours for which trends exist (any data
    /// at all, from the site when the report is of one).
    pub coverage_pct: f64,
    /// `coverage_pct` before it is rounded for reading: what
    /// `reports.min_coverage_pct` is compared with (49.96 is less than 50).
    #[serde(skip)]
    pub coverage_exact: f64,
    pub generated_at: String,
    pub summary: Summary,
    pub sites: Vec<SiteRow>,
    pub services: Vec<ServiceRow>,
    pub incidents: Vec<Incident>,
    /// Mean time to repair of the incidents that ended, in minutes.
    pub mttr_minutes: Option<f64>,
    pub ups: Vec<UpsRow>,
    pub feeds: Vec<FeedRow>,
    pub generators: Vec<GeneratorRow>,
    pub hosts: Vec<HostRow>,
    pub act_first: Vec<ActFirst>,
    pub backups: Vec<BackupRow>,
    /// Whether the alarm history was available (availability, incidents, outages need it).
    pub alarm_history: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Summary {
    pub hosts: usize,
    pub host_availability_pct: Option<f64>,
    pub power_availability_pct: Option<f64>,
    pub minutes_on_battery: f64,
    pub feed_outages: usize,
    pub incidents: usize,
    pub backup_success_pct: Option<f64>,
    pub disks_full_within_60_days: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SiteRow {
    pub site: String,
    pub hosts: usize,
    /// Hours in which nothing at all came from the site (the collector or
    /// the link was down): not counted for or against availability.
    pub gap_hours: u64,
    /// Minutes any of the site's UPS was on battery (hour by hour, the UPS
    /// longest on battery).
    pub minutes_on_battery: f64,
    pub power_lost_minutes: f64,
    pub redundancy_degraded_minutes: f64,
    pub power_availability_pct: Option<f64>,
    pub host_availability_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceRow {
    pub service: String,
    pub outage_minutes: f64,
    pub degraded_minutes: f64,
    /// None: no data in the period.
    pub availability_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Incident {
    pub name: String,
    pub severity: String,
    pub site: String,
    /// The host, device, feed, job or service it was about.
    pub subject: String,
    pub start: String,
    pub end: Option<String>,
    pub minutes: f64,
    /// The summary the alarm history kept (a rule's own words).
    pub summary: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UpsRow {
    pub site: String,
    pub device: String,
    pub minutes_on_battery: f64,
    pub load_peak_pct: Option<f64>,
    pub load_p95_pct: Option<f64>,
    pub min_charge_pct: Option<f64>,
    pub min_runtime_minutes: Option<f64>,
    pub replace_battery: bool,
    /// Minutes on battery per day (null: no data that day).
    pub daily_battery_minutes: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeedRow {
    pub site: String,
    pub feed: String,
    pub outages: usize,
    pub down_minutes: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GeneratorRow {
    pub site: String,
    pub device: String,
    pub run_minutes: f64,
    pub runs: Option<usize>,
    pub min_fuel_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostRow {
    pub site: String,
    pub host: String,
    pub availability_pct: Option<f64>,
    pub down_minutes: f64,
    pub cpu_p95_pct: Option<f64>,
    pub mem_p95_pct: Option<f64>,
    /// The busiest interface's p95, received and sent, bytes per second.
    pub net_rx_p95_bytes_s: Option<f64>,
    pub net_tx_p95_bytes_s: Option<f64>,
    pub disks: Vec<DiskRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiskRow {
    pub mount: String,
    pub used_pct: Option<f64>,
    pub used_bytes: Option<f64>,
    pub total_bytes: Option<f64>,
    /// Bytes per 30 days at the period's rate (median of day-to-day slopes).
    pub growth_bytes_per_month: Option<f64>,
    pub full_on: Option<String>,
    pub days_left: Option<i64>,
    /// `high`, `medium` or `low`: how steady the growth was, and on how many days.
    pub confidence: Option<String>,
    /// Average used bytes per day (null: no data that day).
    pub daily_used_bytes: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActFirst {
    pub site: String,
    pub host: String,
    /// `disk` (with `mount`), `cpu` or `memory`.
    pub what: String,
    pub mount: Option<String>,
    pub days_left: Option<i64>,
    pub full_on: Option<String>,
    pub value_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackupRow {
    pub site: String,
    pub host: String,
    pub job: String,
    /// Days the job was watched in the period.
    pub days: usize,
    pub success_days: usize,
    pub success_pct: Option<f64>,
    pub missed_days: Vec<String>,
    pub largest_shrink_pct: Option<f64>,
}

/// A firing → resolved span of one alarm: `start`/`end` clipped to the
/// period (for minutes), `fired`/`resolved` as they were (for the incident list).
#[derive(Debug, Clone)]
pub(crate) struct Span {
    name: String,
    labels: BTreeMap<String, String>,
    start: i64,
    end: i64,
    fired: i64,
    /// None: not resolved when the report was made.
    resolved: Option<i64>,
    started_in_period: bool,
    summary: String,
}

fn minutes(spans: &[&Span]) -> f64 {
    spans.iter().map(|s| (s.end - s.start) as f64 / 60.0).sum()
}

/// The minutes of `spans` outside the hours in `gaps` (hours without data
/// count neither for nor against availability).
fn minutes_outside(spans: &[&Span], gaps: &BTreeSet<i64>) -> f64 {
    let mut m = minutes(spans);
    for s in spans {
        for h in gaps.range(s.start.div_euclid(3600)..=(s.end - 1).div_euclid(3600)) {
            let overlap = s.end.min((h + 1) * 3600) - s.start.max(h * 3600);
            m -= overlap.max(0) as f64 / 60.0;
        }
    }
    m.max(0.0)
}

// `+ 0.0`: an empty sum is -0.0, which would print as "-0".
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0 + 0.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0 + 0.0
}

/// The alarm history's spans that overlap `[from, to)` (Unix seconds); a
/// span is resolved if it was by `now`. A span still open counts up to
/// `open_to`, the newest data received: a report made again later, with no
/// new data, gives the same minutes.
fn spans(conn: &Connection, from: i64, to: i64, now: i64, open_to: i64) -> Result<Vec<Span>, ReportError> {
    let mut st = conn
        .prepare(
            "SELECT fingerprint, name, labels, at_ms, event, detail FROM history \
             WHERE at_ms < ?1 AND event IN ('firing', 'resolved') ORDER BY id",
        )
        .map_err(ReportError::Alarms)?;
    let rows = st
        .query_map(params![now.max(to) * 1000 + 1000], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .map_err(ReportError::Alarms)?;
    let mut open: HashMap<String, (String, BTreeMap<String, String>, i64, String)> = HashMap::new();
    let mut out = Vec::new();
    let mut close = |name: String, labels, start_ms: i64, end_ms: Option<i64>, summary: String| {
        let (s, e) = (start_ms.div_euclid(1000), end_ms.map(|e| e.div_euclid(1000)));
        let clipped_end = e.unwrap_or(open_to.max(s)).min(to);
        if clipped_end > from && s < to {
            out.push(Span {
                name,
                labels,
                start: s.max(from),
                end: clipped_end,
                fired: s,
                resolved: e,
                started_in_period: s >= from,
                summary,
            });
        }
    };
    for row in rows {
        let (fp, name, labels, at, event, detail) = row.map_err(ReportError::Alarms)?;
        match event.as_str() {
            // Spans that start after the period are not its.
            "firing" if at < to * 1000 => {
                open.entry(fp).or_insert_with(|| (name, serde_json::from_str(&labels).unwrap_or_default(), at, detail));
            }
            "firing" => {}
            _ => {
                if let Some((name, labels, start, summary)) = open.remove(&fp) {
                    close(name, labels, start, Some(at), summary);
                }
            }
        }
    }
    let mut rest: Vec<_> = open.into_values().collect();
    rest.sort_by_key(|r| r.2);
    for (name, labels, start, summary) in rest {
        close(name, labels, start, None, summary);
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Per day of the period: the aggregate of the hours in it (None: no data).
fn daily(period: &Period, hours: &[(i64, Agg)]) -> Vec<Option<Agg>> {
    let mut out: Vec<Option<Agg>> = vec![None; period.days.len()];
    for (h, a) in hours {
        if let Some(d) = period.day_of(h * 3600) {
            out[d].get_or_insert_with(Agg::default).merge(a);
        }
    }
    out
}

fn all(hours: &[(i64, Agg)]) -> Agg {
    let mut a = Agg::default();
    for (_, h) in hours {
        a.merge(h);
    }
    a
}

/// The minutes of hour `h` up to `to`: 60, or fewer for the hour a
/// report of a period not yet over ends in.
fn hour_minutes(h: i64, to: i64) -> f64 {
    ((to - h * 3600) as f64 / 60.0).clamp(0.0, 60.0)
}

/// The sampling interval of a series, in seconds: the shortest of its
/// hours' (last − first) / (n − 1). None: no hour has two samples.
fn interval_secs(hours: &[(i64, Agg)]) -> Option<f64> {
    hours
        .iter()
        .filter_map(|(_, a)| match (a.first_s, a.last_s) {
            (Some(f), Some(l)) if a.n >= 2 && l > f => Some((l - f) as f64 / (a.n - 1) as f64),
            _ => None,
        })
        .min_by(f64::total_cmp)
}

/// The minutes hour `h` of a series was observed: its samples times the
/// sampling interval (`Agg::observed_secs`); an hour written before sample
/// times were kept counts as the whole hour up to `to`.
fn observed_minutes(h: i64, a: &Agg, interval: Option<f64>, to: i64) -> f64 {
    match (a.first_s, a.last_s) {
        (Some(f), Some(l)) if a.n >= 2 && l > f => a.observed_secs(0.0) / 60.0,
        (Some(_), Some(_)) => (a.n as f64 * interval.unwrap_or(0.0)).min(3600.0) / 60.0,
        _ => hour_minutes(h, to),
    }
}

/// The one definition of time in a state that devices report (on battery,
/// generator running, feed dead): per hour, the share of samples in the
/// state times the minutes the hour was observed. `f` maps an hour's mean
/// of the 0/1 series to the share (1 − mean for "dead").
fn state_minutes(hours: &[(i64, Agg)], to: i64, f: impl Fn(f64) -> f64) -> Vec<(i64, f64)> {
    let interval = interval_secs(hours);
    hours.iter().filter_map(|(h, a)| a.avg().map(|m| (*h, f(m) * observed_minutes(*h, a, interval, to)))).collect()
}

/// Minutes a 0/1 series was 1.
fn true_minutes(hours: &[(i64, Agg)], to: i64) -> f64 {
    state_minutes(hours, to, |m| m).iter().map(|(_, m)| m).sum()
}

fn key_part<'a>(k: &'a SeriesKey, name: &str) -> &'a str {
    k.key.split(',').find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('='))).unwrap_or("")
}

/// Everything a report needs to read.
pub struct Inputs<'a> {
    pub trends: &'a Connection,
    pub alarms: Option<&'a Connection>,
    pub tz: TimeZone,
    /// The service names (from the alarm config) in the order configured.
    pub services: Vec<String>,
}

/// The report of `period` (of one site, or of all), as made at `now_s`:
/// each section from its own file under `sections/`, then the summary of
/// their totals.
pub fn build(inp: &Inputs<'_>, period: &Period, site: Option<&str>, now_s: i64) -> Result<Report, ReportError> {
    let c = context::Ctx::new(inp, period, site, now_s)?;
    let (hosts, act_first) = sections::hosts::build(&c)?;
    let on_battery = c.read(m::UPS, f::ON_BATTERY)?;
    let sites = sections::sites::build(&c, &hosts, &on_battery);
    let services = sections::services::build(&c)?;
    let (incidents, mttr) = sections::incidents::build(&c);
    let ups = sections::power::ups(&c, &on_battery)?;
    let feeds = sections::power::feeds(&c)?;
    let generators = sections::power::generators(&c)?;
    let backups = sections::backups::build(&c)?;

    let av: Vec<f64> = hosts.iter().filter_map(|h| h.availability_pct).collect();
    let pav: Vec<f64> = sites.iter().filter_map(|s| s.power_availability_pct).collect();
    let bdays: usize = backups.iter().map(|b| b.days).sum();
    let summary = Summary {
        hosts: hosts.len(),
        host_availability_pct: (!av.is_empty()).then(|| round3(av.iter().sum::<f64>() / av.len() as f64)),
        power_availability_pct: (!pav.is_empty()).then(|| round3(pav.iter().cloned().fold(f64::INFINITY, f64::min))),
        minutes_on_battery: round1(sites.iter().map(|x| x.minutes_on_battery).sum()),
        feed_outages: feeds.iter().map(|f| f.outages).sum(),
        incidents: incidents.len(),
        backup_success_pct: (bdays > 0)
            .then(|| round1(100.0 * backups.iter().map(|b| b.success_days).sum::<usize>() as f64 / bdays as f64)),
        disks_full_within_60_days: act_first.iter().filter(|a| a.what == "disk").count(),
    };
    let (from, to_full) = (c.from, c.to_full);
    let coverage = {
        let secs = trends::seconds_with_data(inp.trends, site, from, to_full)?;
        (100.0 * secs as f64 / ((to_full - from) as f64).max(1.0)).min(100.0)
    };
    Ok(Report {
        period: period.label.clone(),
        site: site.map(str::to_string),
        time_zone: inp.tz.iana_name().unwrap_or("UTC").to_string(),
        from: date_str(period.days[0]),
        to: date_str(*period.days.last().expect("days")),
        partial: c.to < to_full,
        coverage_pct: round1(coverage),
        coverage_exact: coverage,
        generated_at: c.fmt_ts(now_s),
        summary,
        sites,
        services,
        incidents,
        mttr_minutes: mttr,
        ups,
        feeds,
        generators,
        hosts,
        act_first,
        backups,
        alarm_history: inp.alarms.is_some(),
    })
}

fn date_str(d: Date) -> String {
    d.strftime("%Y-%m-%d").to_string()
}

/// `dcwatch-collector report …`.
pub struct Args {
    pub period: Option<String>,
    pub site: Option<String>,
    pub format: String,
    pub lang: String,
    pub tz: Option<String>,
    pub output: Option<std::path::PathBuf>,
}

/// The month before the one `now` is in.
pub fn last_month(now_s: i64, tz: &TimeZone) -> String {
    let today = jiff::Timestamp::from_second(now_s).map(|t| t.to_zoned(tz.clone()).date()).unwrap_or_default();
    let d = today.first_of_month().checked_sub(jiff::Span::new().days(1)).unwrap_or(today);
    d.strftime("%Y-%m").to_string()
}

/// Renders a report in a format and language.
pub fn render(r: &Report, format: &str, lang: i18n::Lang) -> String {
    match format {
        "csv" => render::csv(r),
        "json" => serde_json::to_string_pretty(r).unwrap_or_default() + "\n",
        _ => render::html(r, lang),
    }
}

/// Exit code: 0 written, 1 cannot read or write, 2 bad arguments or config.
pub fn run_cli(config: &crate::config::CollectorConfig, a: &Args) -> u8 {
    let fail = |code: u8, msg: String| {
        eprintln!("dcwatch-collector report: {msg}");
        code
    };
    let Some(tc) = &config.trends else {
        return fail(
            2,
            "the configuration has no `trends:` section: the collector keeps no hourly trends to report from".into(),
        );
    };
    let tz = match &a.tz {
        Some(name) => match TimeZone::get(name) {
            Ok(tz) => tz,
            Err(e) => return fail(2, format!("--tz {name}: {e}")),
        },
        None => config.reports.tz(&config.tz()),
    };
    let lang = match i18n::Lang::parse(&a.lang) {
        Ok(l) => l,
        Err(e) => return fail(2, e),
    };
    let now = dcwatch_common::now_ns() / 1_000_000_000;
    let label = a.period.clone().unwrap_or_else(|| last_month(now, &tz));
    let period = match parse_period(&label, &tz) {
        Ok(p) => p,
        Err(e) => return fail(2, error_chain(&e)),
    };
    let trends = match crate::trends::open_read(&tc.db) {
        Ok(c) => c,
        Err(e) => return fail(1, error_chain(&e)),
    };
    let alarms = config
        .alarms
        .as_ref()
        .filter(|c| c.db.exists())
        .and_then(|c| Connection::open_with_flags(&c.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok());
    let inputs = Inputs {
        trends: &trends,
        alarms: alarms.as_ref(),
        tz,
        services: config
            .alarms
            .as_ref()
            .map(|c| c.services.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default(),
    };
    let report = match build(&inputs, &period, a.site.as_deref(), now) {
        Ok(r) => r,
        Err(e) => return fail(1, format!("cannot read the trends: {}", error_chain(&e))),
    };
    let text = render(&report, &a.format, lang);
    let written = match &a.output {
        Some(path) => std::fs::write(path, text).map_err(|source| ReportError::Write { path: path.clone(), source }),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes()).map_err(ReportError::Stdout)
        }
    };
    match written {
        Ok(()) => 0,
        Err(e) => fail(1, format!("cannot write the report: {}", error_chain(&e))),
    }
}

#[cfg(test)]
mod tests;
