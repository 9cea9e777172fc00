//! The hosts pages: every host agents report (and every host the site
//! topology lists), with its CPU, memory, fullest disk, network and when
//! it was last heard from, sortable and filtered by site through links;
//! 24-hour sparklines from the trend store; and one host's page with its
//! disks (and the disk-full forecast the `disk_full_forecast` alarm
//! makes), its services, the UPS that powers it and its alarms. Read from
//! the alarm engine's latest-state table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dcwatch_common::schema::{f, m};
use maud::{Markup, html};

use super::alarms::{Shown, severity_word};
use super::show::{self, DASH, segment, wall_ms};
use super::spark::{self, Spark, Sparks};
use super::{Caller, Web, layout, viewer};
use crate::alarm::Engine;
use crate::alarm::builtin::host::{days_to_full, growth_per_day};
use crate::alarm::chain::{self, Feed, Ups};
use crate::alarm::conditions::Latest;
use crate::alarm::config::AlarmsConfig;
use crate::alarm::store::Alarm;
use crate::i18n::Lang;
use crate::model::ObsValue;

/// The nav entry of these pages.
const NAV: usize = 2;

/// What these pages read of the latest state besides what the alarms do.
pub const MEASUREMENTS: &[&str] = &[m::HOST_CPU, m::HOST_MEM, m::HOST_DISK, m::HOST_NET, m::HOST_SERVICE];

/// One host, as the table shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub site: String,
    pub host: String,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    /// The fullest filesystem: (mount, used %).
    pub disk: Option<(String, f64)>,
    /// Bytes a second, all interfaces together.
    pub net_in: Option<f64>,
    pub net_out: Option<f64>,
    /// When it was last heard from (its heartbeat, else its newest point), ms.
    pub seen_ms: Option<i64>,
    /// Its agent's heartbeats stopped, as the `agent_silent` alarm judges; None: no heartbeat.
    pub silent: Option<bool>,
}

impl HostRow {
    fn new(site: &str, host: &str) -> HostRow {
        HostRow {
            site: site.to_string(),
            host: host.to_string(),
            cpu_pct: None,
            mem_pct: None,
            disk: None,
            net_in: None,
            net_out: None,
            seen_ms: None,
            silent: None,
        }
    }
}

fn is_host_measurement(measurement: &str) -> bool {
    MEASUREMENTS.contains(&measurement)
}

/// Every host: those the topology lists, those whose agents beat, and
/// those with host measurements; by site and name.
pub fn rows(cfg: &AlarmsConfig, l: &Latest, now: Instant, now_ms: i64) -> Vec<HostRow> {
    let mut by: BTreeMap<(String, String), HostRow> = BTreeMap::new();
    for s in &cfg.sites {
        for host in s.ups.values().flatten() {
            by.entry((s.name.clone(), host.clone())).or_insert_with(|| HostRow::new(&s.name, host));
        }
    }
    for s in l.series.values().filter(|s| is_host_measurement(&s.measurement) && !s.tag("host").is_empty()) {
        let r = by
            .entry((s.tag("site").to_string(), s.tag("host").to_string()))
            .or_insert_with(|| HostRow::new(s.tag("site"), s.tag("host")));
        let seen = wall_ms(s.updated, now, now_ms);
        r.seen_ms = Some(r.seen_ms.map_or(seen, |t| t.max(seen)));
        match s.measurement.as_str() {
            m::HOST_CPU if matches!(s.tag("cpu"), "total" | "") => r.cpu_pct = s.num(f::USAGE_PCT),
            m::HOST_MEM => r.mem_pct = s.num(f::USED_PCT),
            m::HOST_DISK => {
                if let Some(p) = s.num(f::USED_PCT) {
                    let mount = s.tag("mount");
                    // The fullest; of two as full, the first by mount (the table is a HashMap).
                    if r.disk.as_ref().is_none_or(|(m, q)| p > *q || (p == *q && mount < m.as_str())) {
                        r.disk = Some((mount.to_string(), p));
                    }
                }
            }
            m::HOST_NET => {
                if let Some(x) = s.num(f::RX_BYTES_PER_S) {
                    r.net_in = Some(r.net_in.unwrap_or(0.0) + x);
                }
                if let Some(x) = s.num(f::TX_BYTES_PER_S) {
                    r.net_out = Some(r.net_out.unwrap_or(0.0) + x);
                }
            }
            _ => {}
        }
    }
    for ((site, host), b) in &l.agents {
        let r = by.entry((site.clone(), host.clone())).or_insert_with(|| HostRow::new(site, host));
        r.seen_ms = Some(wall_ms(b.received, now, now_ms));
        r.silent = Some(b.silent(&cfg.builtin, now));
    }
    by.into_values().collect()
}

/// A column of the table, as the links sort by it (`?sort=cpu&dir=desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Site,
    Host,
    Cpu,
    Mem,
    Disk,
    NetIn,
    NetOut,
    Seen,
}

impl Col {
    pub const ALL: [Col; 8] = [Col::Site, Col::Host, Col::Cpu, Col::Mem, Col::Disk, Col::NetIn, Col::NetOut, Col::Seen];

    pub fn code(self) -> &'static str {
        match self {
            Col::Site => "site",
            Col::Host => "host",
            Col::Cpu => "cpu",
            Col::Mem => "mem",
            Col::Disk => "disk",
            Col::NetIn => "in",
            Col::NetOut => "out",
            Col::Seen => "seen",
        }
    }

    pub fn parse(s: &str) -> Option<Col> {
        Col::ALL.into_iter().find(|c| c.code() == s)
    }

    /// The way a first click sorts: the busiest first for a measure, A to Z
    /// for a name, the longest silent first for the last seen.
    fn first_desc(self) -> bool {
        matches!(self, Col::Cpu | Col::Mem | Col::Disk | Col::NetIn | Col::NetOut)
    }

    fn word(self, lang: Lang) -> &'static str {
        let (t, h) = (lang.web(), lang.web_hosts());
        match self {
            Col::Site => t.col_site,
            Col::Host => h.col_host,
            Col::Cpu => h.col_cpu,
            Col::Mem => h.col_mem,
            Col::Disk => h.col_disk,
            Col::NetIn => h.col_net_in,
            Col::NetOut => h.col_net_out,
            Col::Seen => h.col_seen,
        }
    }

    fn measure(self, r: &HostRow) -> Option<f64> {
        match self {
            Col::Site | Col::Host => None,
            Col::Cpu => r.cpu_pct,
            Col::Mem => r.mem_pct,
            Col::Disk => r.disk.as_ref().map(|(_, p)| *p),
            Col::NetIn => r.net_in,
            Col::NetOut => r.net_out,
            Col::Seen => r.seen_ms.map(|t| t as f64),
        }
    }
}

/// Sorts by `col`; hosts without a value for it come last either way, and
/// ties go by site and name.
pub fn sort(rows: &mut [HostRow], col: Col, desc: bool) {
    use std::cmp::Ordering;
    let flip = |o: Ordering| if desc { o.reverse() } else { o };
    rows.sort_by(|a, b| {
        let names = (&a.site, &a.host).cmp(&(&b.site, &b.host));
        match col {
            Col::Site => flip(names),
            Col::Host => flip((&a.host, &a.site).cmp(&(&b.host, &b.site))),
            _ => match (col.measure(a), col.measure(b)) {
                (Some(x), Some(y)) => flip(x.total_cmp(&y)).then(names),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => names,
            },
        }
    });
}

/// The list's query: `?site=hn&sort=cpu&dir=desc`; empty: every site, by site.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub site: String,
    pub sort: String,
    pub dir: String,
}

impl ListQuery {
    /// The column sorted by and whether downwards.
    pub fn order(&self) -> (Col, bool) {
        let col = Col::parse(&self.sort).unwrap_or(Col::Site);
        let desc = match self.dir.as_str() {
            "desc" => true,
            "asc" => false,
            _ => col.first_desc(),
        };
        (col, desc)
    }

    /// The list's link sorted by `col` (downwards when `desc`), in this site.
    fn link(&self, col: Col, desc: bool) -> String {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if !self.site.is_empty() {
            q.push(("site", &self.site));
        }
        q.push(("sort", col.code()));
        q.push(("dir", if desc { "desc" } else { "asc" }));
        format!("/ui/hosts?{}", serde_urlencoded::to_string(&q).unwrap_or_default())
    }
}

/// A host's page.
pub fn host_link(site: &str, host: &str) -> String {
    format!("/ui/hosts/{}/{}", segment(site), segment(host))
}

/// The 24-hour sparklines of CPU and memory use, and the hour they end with.
#[derive(Debug, Default)]
pub struct Trend {
    pub cpu: Sparks,
    pub mem: Sparks,
    pub to_hour: i64,
}

/// The sparklines from the trend store at `db` (None: no trends
/// configured); a store that cannot be read is logged and drawn as dashes.
pub fn trend(db: Option<&std::path::Path>, site: Option<&str>, now_ms: i64) -> Trend {
    let to_hour = now_ms.div_euclid(3_600_000);
    let Some(db) = db else { return Trend { to_hour, ..Trend::default() } };
    let read = || -> Result<Trend, crate::trends::TrendsError> {
        let conn = crate::trends::open_read(db)?;
        Ok(Trend {
            cpu: spark::read(&conn, m::HOST_CPU, f::USAGE_PCT, site, to_hour)?,
            mem: spark::read(&conn, m::HOST_MEM, f::USED_PCT, site, to_hour)?,
            to_hour,
        })
    };
    read().unwrap_or_else(|e| {
        tracing::warn!(error = %dcwatch_common::error_chain(&e), "the console cannot read the trends for its sparklines");
        Trend { to_hour, ..Trend::default() }
    })
}

fn spark_cell(lang: Lang, what: &str, s: Option<&Spark>, to_hour: i64) -> Markup {
    match s {
        None => html! { (DASH) },
        Some(s) => {
            let title = (lang.web_hosts().spark_title)(what, &lang.pct(s.min, 1), &lang.pct(s.max, 1));
            spark::svg(s, to_hour, &title)
        }
    }
}

fn pct(lang: Lang, x: Option<f64>) -> String {
    x.map_or_else(|| DASH.to_string(), |x| lang.pct(x, 1))
}

fn rate(lang: Lang, x: Option<f64>, tz: &jiff::tz::TimeZone) -> String {
    x.map_or_else(|| DASH.to_string(), |x| show::value(lang, f::RX_BYTES_PER_S, &ObsValue::Num(x), tz))
}

/// When a host was last heard from, and whether it is silent.
fn seen(web: &Web, lang: Lang, r: &HostRow) -> Markup {
    let t = lang.web();
    html! {
        @match r.seen_ms {
            Some(ms) => (lang.time(ms, &web.tz)),
            None => (DASH),
        }
        @match r.silent {
            Some(true) => { " " strong.bad { (t.host_silent) } }
            None if r.seen_ms.is_none() => { " " span.unknown { (t.no_data) } }
            _ => {}
        }
    }
}

fn disk_text(lang: Lang, disk: &Option<(String, f64)>) -> String {
    match disk {
        Some((mount, p)) => format!("{} ({mount})", lang.pct(*p, 1)),
        None => DASH.to_string(),
    }
}

/// The filter's choice of site: any, or one of `sites`.
pub(super) fn site_select(lang: Lang, chosen: &str, sites: &[String]) -> Markup {
    let t = lang.web();
    html! {
        label {
            span { (t.filter_site) }
            select name="site" {
                option value="" selected[chosen.is_empty()] { (t.any) }
                @for s in sites { option value=(s) selected[chosen == s] { (s) } }
            }
        }
    }
}

/// The list: the filter and sort form, then the table.
pub fn list_body(web: &Web, lang: Lang, q: &ListQuery, rows: &[HostRow], sites: &[String], tr: &Trend) -> Markup {
    let (t, h) = (lang.web(), lang.web_hosts());
    let (col, desc) = q.order();
    html! {
        h1 { (t.nav[NAV]) }
        form.filters method="get" action="/ui/hosts" {
            (site_select(lang, &q.site, sites))
            label {
                span { (h.sort_by) }
                select name="sort" {
                    @for c in Col::ALL { option value=(c.code()) selected[c == col] { (c.word(lang)) } }
                }
            }
            label {
                span.sr { (h.sort_by) }
                select name="dir" {
                    option value="asc" selected[!desc] { (h.ascending) }
                    option value="desc" selected[desc] { (h.descending) }
                }
            }
            button type="submit" { (t.filter) }
        }
        @if rows.is_empty() {
            p.quiet { (h.no_hosts) }
        } @else {
            (table(web, lang, q, rows, tr))
        }
    }
}

fn sort_head(lang: Lang, q: &ListQuery, c: Col) -> Markup {
    let (col, desc) = q.order();
    let next = if c == col { !desc } else { c.first_desc() };
    html! {
        @if c == col {
            th aria-sort=(if desc { "descending" } else { "ascending" }) data-col=(c.code()) {
                a href=(q.link(c, next)) { (c.word(lang)) span aria-hidden="true" { (if desc { " ▼" } else { " ▲" }) } }
            }
        } @else {
            th data-col=(c.code()) { a href=(q.link(c, next)) { (c.word(lang)) } }
        }
    }
}

fn table(web: &Web, lang: Lang, q: &ListQuery, rows: &[HostRow], tr: &Trend) -> Markup {
    let h = lang.web_hosts();
    let label = |c: Col| c.word(lang);
    html! {
        div.table.hosts {
            table {
                thead {
                    tr {
                        (sort_head(lang, q, Col::Site)) (sort_head(lang, q, Col::Host))
                        (sort_head(lang, q, Col::Cpu)) th { (h.col_cpu_24h) }
                        (sort_head(lang, q, Col::Mem)) th { (h.col_mem_24h) }
                        (sort_head(lang, q, Col::Disk)) (sort_head(lang, q, Col::NetIn))
                        (sort_head(lang, q, Col::NetOut)) (sort_head(lang, q, Col::Seen))
                    }
                }
                tbody {
                    @for r in rows {
                        @let key = (r.site.clone(), r.host.clone());
                        tr class=[(r.silent == Some(true)).then_some("silent")] data-site=(r.site) data-host=(r.host) {
                            td data-col="site" data-label=(label(Col::Site)) { (r.site) }
                            td data-col="host" data-label=(label(Col::Host)) { a href=(host_link(&r.site, &r.host)) { (r.host) } }
                            td.num data-col="cpu" data-label=(label(Col::Cpu)) { (pct(lang, r.cpu_pct)) }
                            td.spark data-col="cpu-24h" data-label=(h.col_cpu_24h) { (spark_cell(lang, h.col_cpu, tr.cpu.get(&key), tr.to_hour)) }
                            td.num data-col="mem" data-label=(label(Col::Mem)) { (pct(lang, r.mem_pct)) }
                            td.spark data-col="mem-24h" data-label=(h.col_mem_24h) { (spark_cell(lang, h.col_mem, tr.mem.get(&key), tr.to_hour)) }
                            td data-col="disk" data-label=(label(Col::Disk)) { (disk_text(lang, &r.disk)) }
                            td.num data-col="in" data-label=(label(Col::NetIn)) { (rate(lang, r.net_in, &web.tz)) }
                            td.num data-col="out" data-label=(label(Col::NetOut)) { (rate(lang, r.net_out, &web.tz)) }
                            td data-col="seen" data-label=(label(Col::Seen)) { (seen(web, lang, r)) }
                        }
                    }
                }
            }
        }
    }
}

/// One filesystem of a host, with its forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    pub mount: String,
    pub used_pct: Option<f64>,
    pub used_bytes: Option<f64>,
    pub total_bytes: Option<f64>,
    /// Bytes a day over the last six hours (None: not enough history yet).
    pub growth_per_day: Option<f64>,
    /// When it is full at that rate (ms); None when not growing or unknown.
    pub full_ms: Option<i64>,
}

/// One systemd unit of a host (`host_service`).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub unit: String,
    pub active: Option<bool>,
    pub state: Option<String>,
    pub sub_state: Option<String>,
}

/// Everything a host's page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct HostDetail {
    pub row: HostRow,
    pub version: Option<String>,
    pub disks: Vec<Disk>,
    pub services: Vec<Service>,
    /// The UPS that power it (`alarms.sites[].ups`), as the power chain has them.
    pub ups: Vec<Ups>,
    /// Its site's feeds.
    pub feeds: Vec<Feed>,
}

/// The host `host` of `site`, if any agent reports it or the topology lists it.
pub fn detail(cfg: &AlarmsConfig, l: &Latest, site: &str, host: &str, now: Instant, now_ms: i64) -> Option<HostDetail> {
    let row = rows(cfg, l, now, now_ms).into_iter().find(|r| r.site == site && r.host == host)?;
    let mine = |s: &crate::alarm::conditions::Series| s.tag("site") == site && s.tag("host") == host;
    let mut disks = Vec::new();
    let mut services = Vec::new();
    let mut version = None;
    for (key, s) in l.series.iter().filter(|(_, s)| mine(s)) {
        match s.measurement.as_str() {
            m::HOST_DISK => {
                let history = l.disk_history.get(key);
                let days = history.and_then(days_to_full);
                disks.push(Disk {
                    mount: s.tag("mount").to_string(),
                    used_pct: s.num(f::USED_PCT),
                    used_bytes: s.num(f::USED_BYTES),
                    total_bytes: s.num(f::TOTAL_BYTES),
                    growth_per_day: history.and_then(growth_per_day),
                    // A date within 100 years (a disk barely growing is not
                    // full "on" a date past any calendar; the cast would overflow).
                    full_ms: days
                        .filter(|d| d.is_finite() && (0.0..=36_500.0).contains(d))
                        .map(|d| now_ms.saturating_add((d * 86_400_000.0) as i64)),
                });
            }
            m::HOST_SERVICE => services.push(Service {
                unit: s.tag("unit").to_string(),
                active: s.flag(f::ACTIVE),
                state: s.text(f::STATE).map(str::to_string),
                sub_state: s.text(f::SUB_STATE).map(str::to_string),
            }),
            m::AGENT => version = s.text(f::VERSION).map(str::to_string),
            _ => {}
        }
    }
    disks.sort_by(|a, b| a.mount.cmp(&b.mount));
    services.sort_by(|a, b| a.unit.cmp(&b.unit));
    let chain = chain::chains(cfg, l, now, now_ms).into_iter().find(|s| s.name == site);
    let (ups, feeds) = match chain {
        Some(c) => (c.ups.into_iter().filter(|u| u.hosts.iter().any(|h| h.name == host)).collect(), c.feeds),
        None => (Vec::new(), Vec::new()),
    };
    Some(HostDetail { row, version, disks, services, ups, feeds })
}

/// The alarms whose labels name this `site` and `key=value` (a host, a device).
pub fn alarms_of<'a>(alarms: &'a [Alarm], site: &str, key: &str, value: &str) -> Vec<&'a Alarm> {
    alarms
        .iter()
        .filter(|a| a.labels.get("site").map(String::as_str) == Some(site))
        .filter(|a| a.labels.get(key).map(String::as_str) == Some(value))
        .collect()
}

/// A table of alarms (firing, pending, acknowledged, …) linking to each one's page.
pub fn alarms_table(web: &Web, lang: Lang, alarms: &[&Alarm], none: &str) -> Markup {
    let t = lang.web();
    html! {
        @if alarms.is_empty() {
            p.quiet { (none) }
        } @else {
            div.table {
                table.host-alarms {
                    thead { tr { th { (t.col_alarm) } th { (t.filter_severity) } th { (t.col_state) } th { (t.col_since) } th { (t.col_summary) } } }
                    tbody {
                        @for a in alarms {
                            @let s = Shown::of(a);
                            tr.(a.severity.as_str()) data-fingerprint=(a.fingerprint) data-state=(s.code()) {
                                td { a href=(format!("/ui/alarms/{}", segment(&a.fingerprint))) { (a.name) } }
                                td.severity { (severity_word(t, a.severity)) }
                                td.state { (s.word(t)) }
                                td { (lang.time(a.since_ms, &web.tz)) }
                                td { (a.summary.get(lang)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn gb(lang: Lang, bytes: f64) -> String {
    lang.num(bytes / 1e9, 1)
}

fn disks_table(web: &Web, lang: Lang, disks: &[Disk]) -> Markup {
    let h = lang.web_hosts();
    html! {
        @if disks.is_empty() {
            p.quiet { (h.no_disks) }
        } @else {
            div.table {
                table.disks {
                    thead { tr { th { (h.col_mount) } th { (h.col_used_pct) } th { (h.col_used_total) } th { (h.col_growth) } th { (h.col_full_on) } } }
                    tbody {
                        @for d in disks {
                            tr data-mount=(d.mount) {
                                td data-col="mount" data-label=(h.col_mount) { (d.mount) }
                                td.num data-col="used" data-label=(h.col_used_pct) { (pct(lang, d.used_pct)) }
                                td.num data-col="size" data-label=(h.col_used_total) {
                                    @match (d.used_bytes, d.total_bytes) {
                                        (Some(u), Some(t)) => ((h.used_of)(&gb(lang, u), &gb(lang, t))),
                                        _ => (DASH),
                                    }
                                }
                                td.num data-col="growth" data-label=(h.col_growth) {
                                    @match d.growth_per_day {
                                        Some(g) => ((h.per_day)(&format!("{}{}", if g > 0.0 { "+" } else { "" }, gb(lang, g)))),
                                        None => (DASH),
                                    }
                                }
                                td data-col="full" data-label=(h.col_full_on) {
                                    @match (d.growth_per_day, d.full_ms) {
                                        (_, Some(ms)) => (show::day(lang, ms, &web.tz)),
                                        (Some(_), None) => (h.not_growing),
                                        (None, None) => (h.too_little_history),
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn services_table(lang: Lang, services: &[Service]) -> Markup {
    let h = lang.web_hosts();
    html! {
        @if services.is_empty() {
            p.quiet { (h.no_services) }
        } @else {
            div.table {
                table.services {
                    thead { tr { th { (h.col_unit) } th { (h.col_active) } th { (h.col_service_state) } } }
                    tbody {
                        @for s in services {
                            tr class=[(s.active == Some(false)).then_some("bad")] data-unit=(s.unit) {
                                td data-label=(h.col_unit) { (s.unit) }
                                td data-col="active" data-label=(h.col_active) {
                                    (match s.active { Some(true) => h.service_active, Some(false) => h.service_inactive, None => DASH })
                                }
                                td data-col="state" data-label=(h.col_service_state) {
                                    (s.state.as_deref().unwrap_or(DASH))
                                    @if let Some(sub) = &s.sub_state { " (" (sub) ")" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn power(lang: Lang, site: &str, d: &HostDetail) -> Markup {
    let (t, h) = (lang.web(), lang.web_hosts());
    html! {
        @if d.ups.is_empty() {
            p.quiet { (h.no_ups) }
        } @else {
            ul.powered-by {
                @for u in &d.ups {
                    @let (class, word) = super::overview::ups_state(t, u);
                    li.node.(class) data-device=(u.device) {
                        span.what { a href=(super::devices::device_link(site, &u.device)) { ((t.ups_named)(&u.device)) } }
                        " " span.state { (word) }
                        @if let Some(p) = u.charge_pct { " " span.detail { ((t.charge)(&lang.pct(p, 1))) } }
                        @if let Some(r) = u.runtime_s { " " span.detail { ((t.runtime)((r / 60.0).floor().max(0.0) as u64)) } }
                    }
                }
            }
        }
        @if !d.feeds.is_empty() {
            h3 { (h.site_feeds) }
            ul.feeds {
                @for f in &d.feeds {
                    li.(match f.live { Some(true) => "ok", Some(false) => "bad", None => "unknown" }) data-feed=(f.name) {
                        ((t.feed)(&f.name)) ": "
                        (match f.live { Some(true) => t.feed_live, Some(false) => t.feed_lost, None => t.no_data })
                    }
                }
            }
        }
    }
}

/// A host's page.
pub fn host_body(web: &Web, lang: Lang, d: &HostDetail, alarms: &[&Alarm], tr: &Trend) -> Markup {
    let (t, h) = (lang.web(), lang.web_hosts());
    let r = &d.row;
    let key = (r.site.clone(), r.host.clone());
    let state = match r.silent {
        Some(true) => ("bad", t.host_silent),
        Some(false) => ("ok", t.host_up),
        None => ("unknown", t.no_data),
    };
    html! {
        h1 { (r.host) }
        p.host-state.(state.0) {
            ((h.at_site)(&r.site)) " · " strong { (state.1) }
            @if let Some(ms) = r.seen_ms { " · " (h.col_seen) " " (lang.time(ms, &web.tz)) }
            @if let Some(v) = &d.version { " · " ((h.agent_version)(v)) }
        }
        div.table {
            table.now {
                thead { tr { th { (h.now) } th { (h.col_cpu) } th { (h.col_mem) } th { (h.col_net_in) } th { (h.col_net_out) } } }
                tbody {
                    tr {
                        td data-label=(h.now) { (h.now) }
                        td.num data-col="cpu" data-label=(h.col_cpu) { (pct(lang, r.cpu_pct)) " " (spark_cell(lang, h.col_cpu, tr.cpu.get(&key), tr.to_hour)) }
                        td.num data-col="mem" data-label=(h.col_mem) { (pct(lang, r.mem_pct)) " " (spark_cell(lang, h.col_mem, tr.mem.get(&key), tr.to_hour)) }
                        td.num data-col="in" data-label=(h.col_net_in) { (rate(lang, r.net_in, &web.tz)) }
                        td.num data-col="out" data-label=(h.col_net_out) { (rate(lang, r.net_out, &web.tz)) }
                    }
                }
            }
        }
        h2 { (h.disks) }
        (disks_table(web, lang, &d.disks))
        h2 { (h.services) }
        (services_table(lang, &d.services))
        h2 { (h.power) }
        (power(lang, &r.site, d))
        h2 { (h.alarms) }
        (alarms_table(web, lang, alarms, h.no_alarms))
    }
}

/// The sites of the filter: those configured, and any other a host reports.
fn sites_of(cfg_sites: Vec<String>, rows: &[HostRow]) -> Vec<String> {
    let mut s: BTreeSet<String> = cfg_sites.into_iter().collect();
    s.extend(rows.iter().map(|r| r.site.clone()));
    s.into_iter().collect()
}

/// The caller of these pages (else to the login page) and the engine they
/// read; without `alarms:`, a page (nav entry `nav`) saying they are not configured.
pub(super) fn reader(web: &Web, headers: &HeaderMap, nav: usize) -> Result<(Caller, Arc<Engine>), Box<Response>> {
    let caller = viewer(web, headers)?;
    match web.app.alarms.clone() {
        Some(e) => Ok((caller, e)),
        None => {
            let t = caller.lang.web();
            let body = html! { h1 { (t.nav[nav]) } p.notice { (t.alarms_off) } };
            Err(Box::new(layout::page(web, caller.lang, Some(&caller), Some(nav), t.nav[nav], body).into_response()))
        }
    }
}

/// A host or device nothing reports: the console's 404 page, saying `text`.
pub(super) fn unknown(web: &Web, caller: &Caller, text: &str) -> Response {
    layout::message(web, Some(caller), StatusCode::NOT_FOUND, caller.lang.web().not_found, text)
}

fn trends_db(web: &Web) -> Option<PathBuf> {
    web.app.trends.as_ref().map(|t| t.config().db.clone())
}

/// `GET /ui/hosts`: every host, filtered by site and sorted.
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    let (caller, engine) = match reader(&web, &headers, NAV) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let (db, site) = (trends_db(&web), Some(q.site.clone()).filter(|s| !s.is_empty()));
    let read = tokio::task::spawn_blocking(move || {
        let (now, now_ms) = (Instant::now(), crate::alarm::now_ms());
        let (rows, sites) = engine
            .read_latest(|cfg, l| (rows(cfg, l, now, now_ms), cfg.sites.iter().map(|s| s.name.clone()).collect()));
        (rows, sites, trend(db.as_deref(), site.as_deref(), now_ms))
    });
    let Ok((mut rows, sites, tr)) = read.await else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let sites = sites_of(sites, &rows);
    rows.retain(|r| q.site.is_empty() || r.site == q.site);
    let (col, desc) = q.order();
    sort(&mut rows, col, desc);
    let t = caller.lang.web();
    let body = list_body(&web, caller.lang, &q, &rows, &sites, &tr);
    layout::page(&web, caller.lang, Some(&caller), Some(NAV), t.nav[NAV], body).into_response()
}

/// `GET /ui/hosts/{site}/{host}`: one host; an unknown one is 404.
pub async fn one(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((site, host)): Path<(String, String)>,
) -> Response {
    let (caller, engine) = match reader(&web, &headers, NAV) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let db = trends_db(&web);
    let (s, h) = (site.clone(), host.clone());
    let read = tokio::task::spawn_blocking(move || {
        let (now, now_ms) = (Instant::now(), crate::alarm::now_ms());
        let d = engine.read_latest(|cfg, l| detail(cfg, l, &s, &h, now, now_ms));
        let tr = d.as_ref().map(|_| trend(db.as_deref(), Some(&s), now_ms)).unwrap_or_default();
        (d, engine.alarms(), tr)
    });
    let Ok((d, alarms, tr)) = read.await else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let lang = caller.lang;
    let Some(d) = d else { return unknown(&web, &caller, lang.web_hosts().unknown_host) };
    let mine = alarms_of(&alarms, &site, "host", &host);
    let body = host_body(&web, lang, &d, &mine, &tr);
    layout::page(&web, lang, Some(&caller), Some(NAV), &host, body).into_response()
}

#[cfg(test)]
#[path = "hosts_tests.rs"]
pub(crate) mod tests;
