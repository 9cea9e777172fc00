//! Capacity and availability reports for management, from the collector's
//! own hourly trends (`trends.db`) and alarm history (`alarms.db`).
//!
//! [`build`] computes one [`Report`] (the JSON form); `render` writes it
//! as CSV or as one self-contained HTML file with inline SVG charts, in
//! Vietnamese or English (`i18n`).

use crate::i18n;
pub mod render;
pub mod sample;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::trends::{self, Agg, SeriesKey};

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

/// `YYYY-MM` (a month) or `YYYY-Www` (an ISO week), in `tz`.
pub fn parse_period(s: &str, tz: &TimeZone) -> Result<Period, String> {
    let bad = || format!("`{s}` is not a period: give a month (2026-10) or an ISO week (2026-W43)");
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
        let d = first.checked_add(jiff::Span::new().days(i)).map_err(|e| e.to_string())?;
        let z = d.to_zoned(tz.clone()).map_err(|e| e.to_string())?;
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
struct Span {
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
fn spans(conn: &Connection, from: i64, to: i64, now: i64, open_to: i64) -> Result<Vec<Span>, String> {
    let mut st = conn
        .prepare(
            "SELECT fingerprint, name, labels, at_ms, event, detail FROM history \
             WHERE at_ms < ?1 AND event IN ('firing', 'resolved') ORDER BY id",
        )
        .map_err(|e| e.to_string())?;
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
        .map_err(|e| e.to_string())?;
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
        let (fp, name, labels, at, event, detail) = row.map_err(|e| e.to_string())?;
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

pub fn build(inp: &Inputs<'_>, period: &Period, site: Option<&str>, now_s: i64) -> Result<Report, String> {
    let (from, to_full) = (period.start(), period.end());
    let to = to_full.min(now_s.max(from));
    let (from_h, to_h) = (from.div_euclid(3600), (to + 3599).div_euclid(3600));
    let read = |m: &str, f: &str| trends::read(inp.trends, m, f, site, from_h, to_h, trends::By::Hour);
    let total = |m: &str, f: &str| trends::read(inp.trends, m, f, site, from_h, to_h, trends::By::Series);
    let fmt_ts = |s: i64| -> String {
        jiff::Timestamp::from_second(s)
            .map(|t| t.to_zoned(inp.tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    let date_str = |d: Date| d.strftime("%Y-%m-%d").to_string();
    // The newest data received (from the site, for a site's report): open
    // alarms and the time observed end there, so a report made again later
    // without new data gives the same figures.
    let newest = trends::newest_sample(inp.trends, site, from_h, to_h)?.map(|l| l + 1);
    let seen_to = newest.map_or(from, |n| n.clamp(from, to));
    let all_spans = match inp.alarms {
        Some(c) => spans(c, from, to, now_s, seen_to)?,
        None => Vec::new(),
    };
    let in_site = |s: &Span| site.is_none_or(|x| s.labels.get("site").map(String::as_str) == Some(x));
    let spans_of = |name: &str| -> Vec<&Span> { all_spans.iter().filter(|s| s.name == name && in_site(s)).collect() };

    // Hosts and their heartbeats: which hours each site was heard from.
    let beats = read("dcwatch_agent", "beat")?;
    let mut heard: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut hosts: BTreeSet<(String, String)> = BTreeSet::new();
    for (k, hours) in &beats {
        hosts.insert((k.site.clone(), k.host.clone()));
        heard.entry(k.site.clone()).or_default().extend(hours.iter().map(|(h, _)| *h));
    }
    // The hour each site was first heard from, ever: the hours before it
    // are not gaps (dcwatch was not running there yet).
    let mut first_heard: HashMap<String, i64> = HashMap::new();
    for s in heard.keys() {
        if let Some(h) = trends::first_hour(inp.trends, "dcwatch_agent", s)? {
            first_heard.insert(s.clone(), h);
        }
    }
    // The hours without data from a site, and the minutes it was heard in.
    let gaps_of = |site: &str| -> BTreeSet<i64> {
        let heard = heard.get(site);
        (from_h..to_h).filter(|h| heard.is_none_or(|x| !x.contains(h))).collect()
    };
    let gap_hours_of = |site: &str| -> u64 {
        let first = first_heard.get(site).copied().unwrap_or(to_h).max(from_h);
        gaps_of(site).range(first..).count() as u64
    };
    let covered_minutes = |site: &str| -> f64 {
        let gaps = gaps_of(site);
        let gap_min: f64 = gaps.iter().map(|h| hour_minutes(*h, seen_to) - hour_minutes(*h, from)).sum();
        ((seen_to - from) as f64 / 60.0 - gap_min).max(0.0)
    };

    // Hosts: availability, CPU and memory p95, disks.
    let cpu: HashMap<(String, String), Agg> =
        total("host_cpu", "usage_pct")?.into_iter().map(|(k, h)| ((k.site, k.host), all(&h))).collect();
    let mem: HashMap<(String, String), Agg> =
        total("host_mem", "used_pct")?.into_iter().map(|(k, h)| ((k.site, k.host), all(&h))).collect();
    let net = |f: &str| -> Result<HashMap<(String, String), f64>, String> {
        let mut m: HashMap<(String, String), f64> = HashMap::new();
        for (k, h) in total("host_net", f)? {
            if let Some(p) = all(&h).sketch.as_ref().and_then(|s| s.quantile(0.95)) {
                let e = m.entry((k.site, k.host)).or_insert(p);
                *e = e.max(p);
            }
        }
        Ok(m)
    };
    let (rx, tx) = (net("rx_bytes_per_s")?, net("tx_bytes_per_s")?);
    let used = read("host_disk", "used_bytes")?;
    // A server that reports host metrics but no heartbeat (another agent,
    // Telegraf) is a server too.
    for (s, h) in cpu.keys().chain(mem.keys()).chain(rx.keys()) {
        hosts.insert((s.clone(), h.clone()));
    }
    for (k, _) in &used {
        hosts.insert((k.site.clone(), k.host.clone()));
    }
    let disk_total: HashMap<(String, String, String), Agg> =
        total("host_disk", "total_bytes")?.into_iter().map(|(k, h)| ((k.site, k.host, k.key), all(&h))).collect();
    let disk_free: HashMap<(String, String, String), Vec<(i64, Agg)>> =
        read("host_disk", "free_bytes")?.into_iter().map(|(k, h)| ((k.site, k.host, k.key), h)).collect();
    let silent = spans_of("agent_silent");
    let end_date = *period.days.last().expect("days");
    // Days left are counted from the period's last day, or from today for a
    // period not yet over.
    let reference_day = period.day_of(now_s).map_or(end_date, |d| period.days[d]);
    let mut host_rows = Vec::new();
    let mut act_first = Vec::new();
    for (s, h) in &hosts {
        let down: Vec<&Span> = silent
            .iter()
            .copied()
            .filter(|x| x.labels.get("host") == Some(h) && x.labels.get("site") == Some(s))
            .collect();
        let down_min = minutes_outside(&down, &gaps_of(s));
        let cov = covered_minutes(s);
        let availability = (inp.alarms.is_some() && cov > 0.0).then(|| round3(100.0 * (1.0 - down_min / cov).max(0.0)));
        let key = (s.clone(), h.clone());
        let p95 = |m: &HashMap<(String, String), Agg>| {
            m.get(&key).and_then(|a| a.sketch.as_ref()).and_then(|sk| sk.quantile(0.95)).map(round1)
        };
        let (cpu95, mem95) = (p95(&cpu), p95(&mem));
        let mut disks = Vec::new();
        for (k, hours) in used.iter().filter(|(k, _)| &k.site == s && &k.host == h) {
            let mount = key_part(k, "mount").to_string();
            let days = daily(period, hours);
            let daily_used: Vec<Option<f64>> = days.iter().map(|d| d.as_ref().and_then(Agg::avg)).collect();
            let pts: Vec<(f64, f64)> =
                daily_used.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i as f64, v))).collect();
            let last = pts.last().copied();
            let dk = (s.clone(), h.clone(), k.key.clone());
            let tot = disk_total.get(&dk).and_then(|a| (a.n > 0).then_some(a.max));
            let fit = crate::stats::theil_sen(&pts);
            // Used at the end of the last day with data: its average is mid-day.
            let used_end = match (last, fit) {
                (Some((_, v)), Some((slope, _))) => Some(v + slope * 0.5),
                (Some((_, v)), None) => Some(v),
                _ => None,
            };
            // What df counts as the disk: used + available (root's reserve
            // is neither), on the last day with both; the total without
            // `free_bytes` (another agent).
            let usable = last.and_then(|(d, used_avg)| {
                let free = daily(period, disk_free.get(&dk)?).get(d as usize)?.as_ref().and_then(Agg::avg)?;
                Some(used_avg + free)
            });
            let cap = usable.or(tot);
            let (mut full_on, mut days_left, mut confidence) = (None, None, None);
            if let (Some((slope, spread)), Some(u), Some(t), Some((last_day, _))) = (fit, used_end, cap, last)
                && slope > 0.0
            {
                // Capped at a century: a disk that barely grows is not
                // going to fill, and the calendar ends somewhere.
                let left_days = ((t - u).max(0.0) / slope).floor().min(36_500.0) as i64;
                // Counted from the end of the last day with data.
                let base = period.days[last_day as usize];
                if left_days < 36_500
                    && let Ok(d) = base.checked_add(jiff::Span::new().days(left_days + 1))
                {
                    full_on = Some(date_str(d));
                    days_left = Some(i64::from((d - reference_day).get_days()));
                }
                confidence = Some(
                    if pts.len() >= 21 && spread < 0.5 {
                        "high"
                    } else if pts.len() >= 7 && spread < 1.5 {
                        "medium"
                    } else {
                        "low"
                    }
                    .to_string(),
                );
            }
            if let (Some(dl), Some(fo)) = (days_left, &full_on)
                && dl <= 60
            {
                act_first.push(ActFirst {
                    site: s.clone(),
                    host: h.clone(),
                    what: "disk".into(),
                    mount: Some(mount.clone()),
                    days_left: Some(dl),
                    full_on: Some(fo.clone()),
                    value_pct: None,
                });
            }
            disks.push(DiskRow {
                used_pct: used_end.zip(cap).filter(|(_, t)| *t > 0.0).map(|(u, t)| round1(100.0 * u / t)),
                used_bytes: used_end.map(f64::round),
                total_bytes: tot,
                growth_bytes_per_month: fit.map(|(slope, _)| (slope * 30.0).round()),
                full_on,
                days_left,
                confidence,
                daily_used_bytes: daily_used.iter().map(|v| v.map(f64::round)).collect(),
                mount,
            });
        }
        for (what, v) in [("cpu", cpu95), ("memory", mem95)] {
            if let Some(v) = v.filter(|v| *v >= 90.0) {
                act_first.push(ActFirst {
                    site: s.clone(),
                    host: h.clone(),
                    what: what.into(),
                    mount: None,
                    days_left: None,
                    full_on: None,
                    value_pct: Some(v),
                });
            }
        }
        host_rows.push(HostRow {
            site: s.clone(),
            host: h.clone(),
            availability_pct: availability,
            down_minutes: round1(down_min),
            cpu_p95_pct: cpu95,
            mem_p95_pct: mem95,
            net_rx_p95_bytes_s: rx.get(&key).map(|v| v.round()),
            net_tx_p95_bytes_s: tx.get(&key).map(|v| v.round()),
            disks,
        });
    }
    act_first.sort_by(|a, b| {
        a.days_left
            .unwrap_or(i64::MAX)
            .cmp(&b.days_left.unwrap_or(i64::MAX))
            .then_with(|| b.value_pct.unwrap_or(0.0).total_cmp(&a.value_pct.unwrap_or(0.0)))
            .then_with(|| (&a.site, &a.host, &a.mount).cmp(&(&b.site, &b.host, &b.mount)))
    });

    // Minutes each site ran on battery: two UPS on battery in the same
    // hour count as the one longer on battery (exact when they overlap, as
    // in a power cut; the hourly trends cannot tell more).
    let on_batt = read("ups", "on_battery")?;
    let mut site_battery: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (k, hours) in &on_batt {
        let by_hour = site_battery.entry(k.site.clone()).or_default();
        for (h, m) in state_minutes(hours, seen_to, |m| m) {
            let e = by_hour.entry(h).or_insert(0.0);
            *e = e.max(m);
        }
    }

    // Sites.
    let mut site_names: BTreeSet<String> = heard.keys().cloned().collect();
    site_names.extend(hosts.iter().map(|(s, _)| s.clone()));
    site_names.extend(site_battery.keys().cloned());
    if let Some(s) = site {
        site_names.insert(s.to_string());
    }
    let (lost, degraded) = (spans_of("power_lost"), spans_of("power_redundancy_degraded"));
    let sites: Vec<SiteRow> = site_names
        .iter()
        .map(|s| {
            fn at_site<'a>(v: &[&'a Span], s: &str) -> Vec<&'a Span> {
                v.iter().copied().filter(|x| x.labels.get("site").map(String::as_str) == Some(s)).collect()
            }
            let of = |v: &[&Span]| minutes(&at_site(v, s));
            let cov = covered_minutes(s);
            let lost_min = of(&lost);
            // Availability leaves the hours without data out, on both sides.
            let lost_counted = minutes_outside(&at_site(&lost, s), &gaps_of(s));
            let mine: Vec<&HostRow> = host_rows.iter().filter(|h| &h.site == s).collect();
            let av: Vec<f64> = mine.iter().filter_map(|h| h.availability_pct).collect();
            SiteRow {
                site: s.clone(),
                hosts: mine.len(),
                gap_hours: gap_hours_of(s),
                minutes_on_battery: round1(site_battery.get(s).map_or(0.0, |m| m.values().sum())),
                power_lost_minutes: round1(lost_min),
                redundancy_degraded_minutes: round1(of(&degraded)),
                power_availability_pct: (inp.alarms.is_some() && cov > 0.0)
                    .then(|| round3(100.0 * (1.0 - lost_counted / cov).max(0.0))),
                host_availability_pct: (!av.is_empty()).then(|| round3(av.iter().sum::<f64>() / av.len() as f64)),
            }
        })
        .collect();

    // Services: over the minutes for which there is data at all.
    let data_hours = trends::hours_with_data(inp.trends, site, from_h, to_h)?;
    let period_min = (data_hours as f64 * 60.0).min((seen_to - from) as f64 / 60.0);
    let services: Vec<ServiceRow> = if inp.alarms.is_some() {
        inp.services
            .iter()
            .map(|name| {
                let of = |n: &str| {
                    minutes(
                        &all_spans
                            .iter()
                            .filter(|x| x.name == n && x.labels.get("service") == Some(name))
                            .collect::<Vec<_>>(),
                    )
                };
                let out = of("service_outage");
                ServiceRow {
                    service: name.clone(),
                    outage_minutes: round1(out),
                    degraded_minutes: round1(of("service_degraded")),
                    availability_pct: (period_min > 0.0).then(|| round3(100.0 * (1.0 - out / period_min).max(0.0))),
                }
            })
            .collect()
    } else {
        Vec::new()
    };

    // Incidents: every warning and critical alarm of the period.
    let incidents: Vec<Incident> = all_spans
        .iter()
        .filter(|s| s.started_in_period && (in_site(s) || !s.labels.contains_key("site")))
        .filter_map(|s| {
            let sev = crate::alarm::conditions::builtin_severity(&s.name).unwrap_or("warning");
            (sev != "info").then(|| Incident {
                name: s.name.clone(),
                severity: sev.into(),
                site: s.labels.get("site").cloned().unwrap_or_default(),
                subject: ["host", "device", "feed", "job", "service", "mount", "receiver", "sink"]
                    .iter()
                    .filter_map(|k| s.labels.get(*k).cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
                start: fmt_ts(s.fired),
                end: s.resolved.map(fmt_ts),
                // The whole incident, also past the period's end; an open
                // one until the newest data.
                minutes: round1(
                    (s.resolved.unwrap_or(newest.unwrap_or(now_s).min(now_s).max(s.fired)) - s.fired) as f64 / 60.0,
                ),
                summary: s.summary.clone(),
                labels: s.labels.clone(),
            })
        })
        .collect();
    let ended: Vec<f64> = incidents.iter().filter(|i| i.end.is_some()).map(|i| i.minutes).collect();
    let mttr = (!ended.is_empty()).then(|| round1(ended.iter().sum::<f64>() / ended.len() as f64));

    // Power equipment.
    let load = total("ups", "load_pct")?;
    let charge = total("ups", "battery_charge_pct")?;
    let runtime = total("ups", "runtime_remaining_s")?;
    let replace = total("ups", "replace_battery")?;
    let find = |v: &[crate::trends::SeriesHours], k: &SeriesKey| {
        v.iter().find(|(x, _)| x.site == k.site && x.key == k.key).map(|(_, h)| all(h))
    };
    let mut ups: Vec<UpsRow> = Vec::new();
    let mut ups_keys: Vec<SeriesKey> = on_batt.iter().chain(&load).map(|(k, _)| k.clone()).collect();
    ups_keys.sort_by(|a, b| (&a.site, &a.key).cmp(&(&b.site, &b.key)));
    ups_keys.dedup_by(|a, b| a.site == b.site && a.key == b.key);
    for k in &ups_keys {
        let hours = on_batt.iter().find(|(x, _)| x.site == k.site && x.key == k.key).map(|(_, h)| h.as_slice());
        let l = find(&load, k);
        ups.push(UpsRow {
            site: k.site.clone(),
            device: key_part(k, "device").to_string(),
            minutes_on_battery: round1(hours.map_or(0.0, |h| true_minutes(h, seen_to))),
            load_peak_pct: l.as_ref().filter(|a| a.n > 0).map(|a| round1(a.max)),
            load_p95_pct: l.as_ref().and_then(|a| a.sketch.as_ref()).and_then(|s| s.quantile(0.95)).map(round1),
            min_charge_pct: find(&charge, k).filter(|a| a.n > 0).map(|a| round1(a.min)),
            min_runtime_minutes: find(&runtime, k).filter(|a| a.n > 0).map(|a| round1(a.min / 60.0)),
            replace_battery: find(&replace, k).is_some_and(|a| a.n > 0 && a.max >= 1.0),
            daily_battery_minutes: hours
                .map(|h| daily(period, h).iter().map(|d| d.as_ref().and_then(Agg::avg).map(|_| 0.0)).collect())
                .unwrap_or_default(),
        });
        // Per day: the minutes of its hours.
        if let (Some(h), Some(row)) = (hours, ups.last_mut()) {
            for (hour, m) in state_minutes(h, seen_to, |m| m) {
                if let Some(d) = period.day_of(hour * 3600) {
                    let day = row.daily_battery_minutes[d].get_or_insert(0.0);
                    *day = round1(*day + m);
                }
            }
        }
    }
    let feed_lost = spans_of("feed_lost");
    let live = read("power_feed", "live")?;
    let mut feeds: BTreeMap<(String, String), FeedRow> = BTreeMap::new();
    for (k, hours) in &live {
        let feed = key_part(k, "feed").to_string();
        let row = feeds.entry((k.site.clone(), feed.clone())).or_insert(FeedRow {
            site: k.site.clone(),
            feed: feed.clone(),
            outages: 0,
            down_minutes: 0.0,
        });
        if inp.alarms.is_none() {
            // Without the alarm history: the minutes its meter saw it dead.
            let dead: f64 = state_minutes(hours, seen_to, |m| 1.0 - m).iter().map(|(_, m)| m).sum();
            row.down_minutes = round1(row.down_minutes.max(dead));
        }
    }
    for s in &feed_lost {
        let (site, feed) =
            (s.labels.get("site").cloned().unwrap_or_default(), s.labels.get("feed").cloned().unwrap_or_default());
        let row =
            feeds.entry((site.clone(), feed.clone())).or_insert(FeedRow { site, feed, outages: 0, down_minutes: 0.0 });
        if s.started_in_period {
            row.outages += 1;
        }
        row.down_minutes = round1(row.down_minutes + (s.end - s.start) as f64 / 60.0);
    }
    let feeds: Vec<FeedRow> = feeds.into_values().collect();
    let running = read("generator", "running")?;
    let fuel = total("generator", "fuel_pct")?;
    let gen_runs = spans_of("generator_running");
    let generators: Vec<GeneratorRow> = running
        .iter()
        .map(|(k, hours)| {
            let dev = key_part(k, "device").to_string();
            GeneratorRow {
                site: k.site.clone(),
                runs: inp.alarms.is_some().then(|| {
                    gen_runs
                        .iter()
                        .filter(|s| {
                            s.started_in_period
                                && s.labels.get("device") == Some(&dev)
                                && s.labels.get("site") == Some(&k.site)
                        })
                        .count()
                }),
                run_minutes: round1(true_minutes(hours, seen_to)),
                min_fuel_pct: find(&fuel, k).filter(|a| a.n > 0).map(|a| round1(a.min)),
                device: dev,
            }
        })
        .collect();

    // Backups: a day with a success is a day on which a last success falls.
    let last_ok = read("backup", "last_success_ts")?;
    let outcome = read("backup", "ok")?;
    let shrink = total("backup", "size_change_pct")?;
    let today = period.day_of(now_s);
    let mut backups = Vec::new();
    for (k, hours) in &outcome {
        let job = key_part(k, "job").to_string();
        let watched: BTreeSet<usize> = hours.iter().filter_map(|(h, _)| period.day_of(h * 3600)).collect();
        let first = watched.iter().next().copied();
        let mut ok_days: BTreeSet<usize> = BTreeSet::new();
        if let Some((_, hs)) = last_ok.iter().find(|(x, _)| x.site == k.site && x.host == k.host && x.key == k.key) {
            for (_, a) in hs {
                // The newest success known that hour, and the one before (min).
                for v in [a.max, a.min] {
                    if let Some(d) = period.day_of(v as i64) {
                        ok_days.insert(d);
                    }
                }
            }
        }
        // Days from the first watched one; today does not count until it is over.
        let days: Vec<usize> = first
            .map(|f| (f..period.days.len()).filter(|d| Some(*d) != today && period.bounds[d + 1] <= to).collect())
            .unwrap_or_default();
        let success = days.iter().filter(|d| ok_days.contains(d)).count();
        let missed: Vec<String> =
            days.iter().filter(|d| !ok_days.contains(d)).map(|d| date_str(period.days[*d])).collect();
        let s =
            shrink.iter().find(|(x, _)| x.site == k.site && x.host == k.host && x.key == k.key).map(|(_, h)| all(h));
        backups.push(BackupRow {
            site: k.site.clone(),
            host: k.host.clone(),
            job,
            days: days.len(),
            success_days: success,
            success_pct: (!days.is_empty()).then(|| round1(100.0 * success as f64 / days.len() as f64)),
            missed_days: missed,
            largest_shrink_pct: s.filter(|a| a.n > 0 && a.min < 0.0).map(|a| round1(a.min)),
        });
    }

    let av: Vec<f64> = host_rows.iter().filter_map(|h| h.availability_pct).collect();
    let pav: Vec<f64> = sites.iter().filter_map(|s| s.power_availability_pct).collect();
    let bdays: usize = backups.iter().map(|b| b.days).sum();
    let summary = Summary {
        hosts: host_rows.len(),
        host_availability_pct: (!av.is_empty()).then(|| round3(av.iter().sum::<f64>() / av.len() as f64)),
        power_availability_pct: (!pav.is_empty()).then(|| round3(pav.iter().cloned().fold(f64::INFINITY, f64::min))),
        minutes_on_battery: round1(sites.iter().map(|x| x.minutes_on_battery).sum()),
        feed_outages: feeds.iter().map(|f| f.outages).sum(),
        incidents: incidents.len(),
        backup_success_pct: (bdays > 0)
            .then(|| round1(100.0 * backups.iter().map(|b| b.success_days).sum::<usize>() as f64 / bdays as f64)),
        disks_full_within_60_days: act_first.iter().filter(|a| a.what == "disk").count(),
    };
    let coverage = {
        let secs = trends::seconds_with_data(inp.trends, site, from, to_full)?;
        (100.0 * secs as f64 / ((to_full - from) as f64).max(1.0)).min(100.0)
    };
    Ok(Report {
        period: period.label.clone(),
        site: site.map(str::to_string),
        time_zone: inp.tz.iana_name().unwrap_or("UTC").to_string(),
        from: date_str(period.days[0]),
        to: date_str(end_date),
        partial: to < to_full,
        coverage_pct: round1(coverage),
        coverage_exact: coverage,
        generated_at: fmt_ts(now_s),
        summary,
        sites,
        services,
        incidents,
        mttr_minutes: mttr,
        ups,
        feeds,
        generators,
        hosts: host_rows,
        act_first,
        backups,
        alarm_history: inp.alarms.is_some(),
    })
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
        Err(e) => return fail(2, e),
    };
    let trends = match crate::trends::open_read(&tc.db) {
        Ok(c) => c,
        Err(e) => return fail(1, e),
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
        Err(e) => return fail(1, format!("cannot read the trends: {e}")),
    };
    let text = render(&report, &a.format, lang);
    let written = match &a.output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes()).map_err(|e| e.to_string())
        }
    };
    match written {
        Ok(()) => 0,
        Err(e) => fail(1, format!("cannot write the report: {e}")),
    }
}

#[cfg(test)]
mod tests;
