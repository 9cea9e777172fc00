//! What every section of a report reads: the inputs, the period's bounds,
//! the alarm spans of the period and the hours each site was heard from.

use dcwatch_common::schema::{f, m};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Inputs, Period, ReportError, Span, hour_minutes, spans};
use crate::trends::{self, SeriesHours};

pub struct Ctx<'a> {
    pub inp: &'a Inputs<'a>,
    pub period: &'a Period,
    /// The site a report is of; None: all sites.
    pub site: Option<&'a str>,
    pub now_s: i64,
    /// The period's start and end (Unix seconds).
    pub from: i64,
    pub to_full: i64,
    /// The end of what the report covers: `to_full`, or now for a period
    /// not yet over.
    pub to: i64,
    /// The first hour, and the hour after the last (hour numbers).
    pub from_h: i64,
    pub to_h: i64,
    /// The newest data received (from the site, for a site's report): open
    /// alarms and the time observed end there, so a report made again later
    /// without new data gives the same figures.
    pub newest: Option<i64>,
    pub seen_to: i64,
    /// The alarm history's spans of the period (all sites).
    pub spans: Vec<Span>,
    /// Hosts with a heartbeat, and the hours each site was heard from.
    pub beat_hosts: BTreeSet<(String, String)>,
    pub heard: BTreeMap<String, BTreeSet<i64>>,
    /// The hour each site was first heard from, ever: the hours before it
    /// are not gaps (dcwatch was not running there yet).
    pub first_heard: HashMap<String, i64>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        inp: &'a Inputs<'a>,
        period: &'a Period,
        site: Option<&'a str>,
        now_s: i64,
    ) -> Result<Ctx<'a>, ReportError> {
        let (from, to_full) = (period.start(), period.end());
        let to = to_full.min(now_s.max(from));
        let (from_h, to_h) = (from.div_euclid(3600), (to + 3599).div_euclid(3600));
        let newest = trends::newest_sample(inp.trends, site, from_h, to_h)?.map(|l| l + 1);
        let seen_to = newest.map_or(from, |n| n.clamp(from, to));
        let spans = match inp.alarms {
            Some(c) => spans(c, from, to, now_s, seen_to)?,
            None => Vec::new(),
        };
        let mut c = Ctx {
            inp,
            period,
            site,
            now_s,
            from,
            to_full,
            to,
            from_h,
            to_h,
            newest,
            seen_to,
            spans,
            beat_hosts: BTreeSet::new(),
            heard: BTreeMap::new(),
            first_heard: HashMap::new(),
        };
        for (k, hours) in &c.read(m::AGENT, f::BEAT)? {
            c.beat_hosts.insert((k.site.clone(), k.host.clone()));
            c.heard.entry(k.site.clone()).or_default().extend(hours.iter().map(|(h, _)| *h));
        }
        for s in c.heard.keys() {
            if let Some(h) = trends::first_hour(inp.trends, "dcwatch_agent", s)? {
                c.first_heard.insert(s.clone(), h);
            }
        }
        Ok(c)
    }

    /// A field's series, hour by hour.
    pub fn read(&self, m: &str, f: &str) -> Result<Vec<SeriesHours>, ReportError> {
        Ok(trends::read(self.inp.trends, m, f, self.site, self.from_h, self.to_h, trends::By::Hour)?)
    }

    /// A field's series, each as one aggregate of the period.
    pub fn total(&self, m: &str, f: &str) -> Result<Vec<SeriesHours>, ReportError> {
        Ok(trends::read(self.inp.trends, m, f, self.site, self.from_h, self.to_h, trends::By::Series)?)
    }

    /// A time in the report's zone: `2026-10-05 14:00`.
    pub fn fmt_ts(&self, s: i64) -> String {
        jiff::Timestamp::from_second(s)
            .map(|t| t.to_zoned(self.inp.tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }

    /// Whether a span is the report's site's (any, for a report of all).
    pub fn in_site(&self, s: &Span) -> bool {
        self.site.is_none_or(|x| s.labels.get("site").map(String::as_str) == Some(x))
    }

    /// The spans of one alarm at the report's site.
    pub fn spans_of(&self, name: &str) -> Vec<&Span> {
        self.spans.iter().filter(|s| s.name == name && self.in_site(s)).collect()
    }

    /// The hours without data from a site.
    pub fn gaps_of(&self, site: &str) -> BTreeSet<i64> {
        let heard = self.heard.get(site);
        (self.from_h..self.to_h).filter(|h| heard.is_none_or(|x| !x.contains(h))).collect()
    }

    /// The hours without data from a site since it was first heard from.
    pub fn gap_hours_of(&self, site: &str) -> u64 {
        let first = self.first_heard.get(site).copied().unwrap_or(self.to_h).max(self.from_h);
        self.gaps_of(site).range(first..).count() as u64
    }

    /// The minutes a site was heard in.
    pub fn covered_minutes(&self, site: &str) -> f64 {
        let gaps = self.gaps_of(site);
        let gap_min: f64 = gaps.iter().map(|h| hour_minutes(*h, self.seen_to) - hour_minutes(*h, self.from)).sum();
        ((self.seen_to - self.from) as f64 / 60.0 - gap_min).max(0.0)
    }
}
