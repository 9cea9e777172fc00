//! The devices pages: the UPS, ATS, PDU, meters, generators and room
//! sensors agents poll, grouped by site and kind, each with whether its
//! last poll was answered (the poller's `device` point), when that was,
//! its failed polls by cause, and the values of its last poll with the
//! units their field names carry; and one device's page with every series
//! it reports and its alarms. Read from the alarm engine's latest state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dcwatch_common::schema::{self, f, m};
use maud::{Markup, html};

use super::hosts::{alarms_of, alarms_table, reader, site_select, unknown};
use super::show::{self, DASH, segment, wall_ms};
use super::{Web, layout};
use crate::alarm::conditions::{Latest, Series};
use crate::i18n::Lang;
use crate::model::ObsValue;

/// The nav entry of these pages.
const NAV: usize = 3;

/// What these pages read of the latest state: every device measurement
/// but the traps (events, whose `set` fields land on the device's own series).
pub fn measurements() -> Vec<&'static str> {
    schema::DEVICE_MEASUREMENTS.iter().copied().filter(|m| *m != m::SNMP_TRAP).collect()
}

/// The measurements that say what a device is, most telling first: a
/// device's first series and its kind (when its poller names none) come
/// from the first of these it reports.
const BY_KIND: [(&str, &str); 8] = [
    (m::UPS, "ups"),
    (m::ATS, "ats"),
    (m::GENERATOR, "generator"),
    (m::PDU, "pdu"),
    (m::ENV, "env"),
    (m::COOLING, "cooling"),
    (m::POWER_FEED, "meter"),
    (m::NET_IF, "net"),
];

/// The kinds in the order the page groups them.
const KIND_ORDER: [&str; 8] = ["ups", "ats", "pdu", "meter", "generator", "env", "cooling", "net"];

fn rank(measurement: &str) -> usize {
    // `ups_phase` ranks with `ups`, `pdu_outlet` with `pdu`.
    BY_KIND
        .iter()
        .position(|(mm, _)| measurement == *mm || measurement.strip_prefix(mm).is_some_and(|r| r.starts_with('_')))
        .unwrap_or(BY_KIND.len())
}

fn kind_rank(kind: &str) -> usize {
    KIND_ORDER.iter().position(|k| *k == kind).unwrap_or(KIND_ORDER.len())
}

/// A kind's heading.
pub fn kind_word(lang: Lang, kind: &str) -> String {
    let t = lang.web_devices();
    match kind {
        "ups" => t.kind_ups,
        "ats" => t.kind_ats,
        "pdu" => t.kind_pdu,
        "meter" => t.kind_meter,
        "generator" => t.kind_generator,
        "env" => t.kind_env,
        "cooling" => t.kind_cooling,
        "net" => t.kind_net,
        other => return other.to_string(),
    }
    .to_string()
}

/// One series of a device: its measurement, the tags that tell it from the
/// device's other series of that measurement (`feed=A`, `phase=1`), and its
/// fields by name.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesView {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, ObsValue)>,
}

impl SeriesView {
    fn of(s: &Series) -> SeriesView {
        let tags = s.tags.iter().filter(|(k, _)| !["site", "host", "device"].contains(&k.as_str()));
        let mut fields: Vec<(String, ObsValue)> = s.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        SeriesView {
            measurement: s.measurement.clone(),
            tags: tags.map(|(k, v)| (k.clone(), v.clone())).collect(),
            fields,
        }
    }

    fn num(&self, field: &str) -> Option<f64> {
        match self.fields.iter().find(|(k, _)| k == field)?.1 {
            ObsValue::Num(x) => Some(x),
            _ => None,
        }
    }

    /// `pdu scope=phase, phase=1`.
    fn title(&self) -> String {
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if tags.is_empty() { self.measurement.clone() } else { format!("{} {}", self.measurement, tags.join(", ")) }
    }
}

/// One device of a site.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub site: String,
    pub device: String,
    pub kind: String,
    /// Its last poll was answered (`device.up`); None: no `device` point.
    pub up: Option<bool>,
    /// When it was last polled (its `device` point, else its newest series), ms.
    pub last_poll_ms: Option<i64>,
    /// The agent that polls it.
    pub polled_by: Option<String>,
    /// The poller's `device` point: up, poll time, error counts, profile.
    pub poll: Option<SeriesView>,
    /// What it reported, its most telling series first.
    pub series: Vec<SeriesView>,
}

impl DeviceRow {
    /// `snmp`, `modbus`: the protocol its poller names.
    pub fn protocol(&self) -> Option<&str> {
        let p = self.poll.as_ref()?;
        p.tags.iter().find(|(k, _)| k == "protocol").map(|(_, v)| v.as_str())
    }

    /// Failed polls since its agent started, and by cause (the causes
    /// counted, not the exceptions by name).
    pub fn errors(&self) -> Option<(f64, Vec<(String, f64)>)> {
        let p = self.poll.as_ref()?;
        let total = p.num(f::ERRORS_TOTAL)?;
        let by: Vec<(String, f64)> = p
            .fields
            .iter()
            .filter_map(|(k, v)| {
                let cause = k.strip_prefix("errors_")?.strip_suffix("_total")?;
                match v {
                    ObsValue::Num(n) if *n > 0.0 && !cause.contains('_') => Some((cause.to_string(), *n)),
                    _ => None,
                }
            })
            .collect();
        Some((total, by))
    }
}

/// A device's series: its poller's `device` point, and the others.
type Reported<'a> = (Option<&'a Series>, Vec<&'a Series>);

/// Every device of the latest state, by site, kind and name.
pub fn devices(l: &Latest, now: Instant, now_ms: i64) -> Vec<DeviceRow> {
    let skip = |mm: &str| mm == m::SNMP_TRAP || !schema::is_device_measurement(mm);
    let mut by: BTreeMap<(String, String), Reported<'_>> = BTreeMap::new();
    for s in l.series.values().filter(|s| !skip(&s.measurement) && !s.tag("device").is_empty()) {
        let e = by.entry((s.tag("site").to_string(), s.tag("device").to_string())).or_default();
        if s.measurement == m::DEVICE {
            // Two agents polling one device: the newest poll counts.
            if e.0.is_none_or(|p| p.updated < s.updated) {
                e.0 = Some(s);
            }
        } else {
            e.1.push(s);
        }
    }
    let mut out: Vec<DeviceRow> = by
        .into_iter()
        .map(|((site, device), (poll, mut series))| {
            series.sort_by(|a, b| {
                let key = |s: &Series| (rank(&s.measurement), s.tags.len(), s.measurement.clone());
                key(a).cmp(&key(b)).then_with(|| a.tags.cmp(&b.tags))
            });
            let from_series =
                series.first().map(|s| BY_KIND.get(rank(&s.measurement)).map_or(s.measurement.as_str(), |(_, k)| k));
            let kind = poll.map(|p| p.tag("kind")).filter(|k| !k.is_empty()).or(from_series).unwrap_or("").to_string();
            let newest = poll.into_iter().chain(series.iter().copied()).map(|s| s.updated).max();
            DeviceRow {
                site,
                device,
                kind,
                up: poll.and_then(|p| p.flag(f::UP)),
                last_poll_ms: poll.map(|p| p.updated).or(newest).map(|t| wall_ms(t, now, now_ms)),
                polled_by: poll
                    .or(series.first().copied())
                    .map(|s| s.tag("host").to_string())
                    .filter(|h| !h.is_empty()),
                poll: poll.map(SeriesView::of),
                series: series.into_iter().map(SeriesView::of).collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.site, kind_rank(&a.kind), &a.kind, &a.device).cmp(&(&b.site, kind_rank(&b.kind), &b.kind, &b.device))
    });
    out
}

/// A device's page.
pub fn device_link(site: &str, device: &str) -> String {
    format!("/ui/devices/{}/{}", segment(site), segment(device))
}

fn state(lang: Lang, up: Option<bool>) -> (&'static str, &'static str) {
    let t = lang.web_devices();
    match up {
        Some(true) => ("ok", t.up),
        Some(false) => ("bad", t.down),
        None => ("unknown", t.no_poll_status),
    }
}

fn cause_word(lang: Lang, cause: &str) -> String {
    let t = lang.web_devices();
    match cause {
        "timeout" => t.err_timeout,
        "auth" => t.err_auth,
        "protocol" => t.err_protocol,
        "network" => t.err_network,
        "profile" => t.err_profile,
        "connect" => t.err_connect,
        "transport" => t.err_transport,
        "exception" => t.err_exception,
        other => return other.to_string(),
    }
    .to_string()
}

/// `2 lần đọc lỗi (quá thời gian chờ: 2)`, `Không có`, or a dash when not reported.
pub fn errors_text(lang: Lang, d: &DeviceRow) -> String {
    let t = lang.web_devices();
    match d.errors() {
        None => DASH.to_string(),
        Some((total, _)) if total <= 0.0 => t.no_errors.to_string(),
        Some((total, by)) => {
            let n = (t.failed_polls)(&show::number(lang, total));
            if by.is_empty() {
                return n;
            }
            let parts: Vec<String> =
                by.iter().map(|(c, k)| format!("{}: {}", cause_word(lang, c), show::number(lang, *k))).collect();
            format!("{n} ({})", parts.join(", "))
        }
    }
}

fn values(web: &Web, lang: Lang, s: &SeriesView) -> Markup {
    html! {
        dl.values {
            @for (k, v) in &s.fields {
                div data-field=(k) { dt { code { (k) } } dd { (show::value(lang, k, v, &web.tz)) } }
            }
        }
    }
}

/// The list's query: `?site=hn`; empty: every site.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub site: String,
}

fn table(web: &Web, lang: Lang, rows: &[&DeviceRow]) -> Markup {
    let (t, d) = (lang.web(), lang.web_devices());
    html! {
        div.table.devices {
            table {
                thead { tr { th { (d.col_device) } th { (t.col_state) } th { (d.col_last_poll) } th { (d.col_errors) } th { (d.col_values) } } }
                tbody {
                    @for r in rows {
                        @let (class, word) = state(lang, r.up);
                        tr.(class) data-device=(r.device) {
                            td data-col="device" data-label=(d.col_device) { a href=(device_link(&r.site, &r.device)) { (r.device) } }
                            td.state data-col="state" data-label=(t.col_state) { (word) }
                            td data-col="poll" data-label=(d.col_last_poll) {
                                (r.last_poll_ms.map_or_else(|| DASH.to_string(), |ms| lang.time(ms, &web.tz)))
                            }
                            td data-col="errors" data-label=(d.col_errors) { (errors_text(lang, r)) }
                            td data-col="values" data-label=(d.col_values) {
                                @match r.series.first() { Some(s) => (values(web, lang, s)), None => (DASH) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The list: a section per site, a table per kind.
pub fn list_body(web: &Web, lang: Lang, q: &ListQuery, rows: &[DeviceRow], sites: &[String]) -> Markup {
    let (t, d) = (lang.web(), lang.web_devices());
    let mut by_site: BTreeMap<&str, Vec<(&str, Vec<&DeviceRow>)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| q.site.is_empty() || r.site == q.site) {
        let kinds = by_site.entry(&r.site).or_default();
        match kinds.last_mut() {
            Some((k, list)) if *k == r.kind => list.push(r),
            _ => kinds.push((&r.kind, vec![r])),
        }
    }
    html! {
        h1 { (t.nav[NAV]) }
        form.filters method="get" action="/ui/devices" {
            (site_select(lang, &q.site, sites))
            button type="submit" { (t.filter) }
        }
        @if by_site.is_empty() {
            p.quiet { (d.no_devices) }
        }
        @for (site, kinds) in &by_site {
            section.device-site data-site=(site) {
                h2 { (site) }
                @for (kind, list) in kinds {
                    h3 data-kind=(kind) { (kind_word(lang, kind)) }
                    (table(web, lang, list))
                }
            }
        }
    }
}

/// A device's page: its state, its poll, every series it reports, its alarms.
pub fn device_body(web: &Web, lang: Lang, r: &DeviceRow, alarms: &[&crate::alarm::store::Alarm]) -> Markup {
    let (d, h) = (lang.web_devices(), lang.web_hosts());
    let (class, word) = state(lang, r.up);
    html! {
        h1 { (r.device) }
        p.device-state.(class) {
            ((h.at_site)(&r.site)) " · " (kind_word(lang, &r.kind)) " · " strong { (word) }
            @if let Some(ms) = r.last_poll_ms { " · " (d.col_last_poll) " " (lang.time(ms, &web.tz)) }
        }
        p.poller {
            @if let Some(by) = &r.polled_by { ((d.polled_by)(by)) }
            @if let Some(proto) = r.protocol() { " · " ((d.protocol)(proto)) }
        }
        p.errors { (d.col_errors) ": " (errors_text(lang, r)) }
        @if let Some(p) = &r.poll {
            h2 { (d.poll) }
            (values(web, lang, p))
        }
        h2 { (d.values) }
        @if r.series.is_empty() { p.quiet { (DASH) } }
        @for s in &r.series {
            h3 { code { (s.title()) } }
            (values(web, lang, s))
        }
        h2 { (d.alarms) }
        (alarms_table(web, lang, alarms, h.no_alarms))
    }
}

/// `GET /ui/devices`: every device, by site and kind.
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    let (caller, engine) = match reader(&web, &headers, NAV) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let read = tokio::task::spawn_blocking(move || {
        let (now, now_ms) = (Instant::now(), crate::alarm::now_ms());
        engine.read_latest(|cfg, l| {
            let rows = devices(l, now, now_ms);
            let mut sites: BTreeSet<String> = cfg.sites.iter().map(|s| s.name.clone()).collect();
            sites.extend(rows.iter().map(|r| r.site.clone()));
            (rows, sites.into_iter().collect::<Vec<_>>())
        })
    });
    let Ok((rows, sites)) = read.await else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let body = list_body(&web, caller.lang, &q, &rows, &sites);
    layout::page(&web, caller.lang, Some(&caller), Some(NAV), caller.lang.web().nav[NAV], body).into_response()
}

/// `GET /ui/devices/{site}/{device}`: one device; an unknown one is 404.
pub async fn one(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((site, device)): Path<(String, String)>,
) -> Response {
    let (caller, engine) = match reader(&web, &headers, NAV) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let (s, d) = (site.clone(), device.clone());
    let read = tokio::task::spawn_blocking(move || {
        let (now, now_ms) = (Instant::now(), crate::alarm::now_ms());
        let row = engine.read_latest(|_, l| devices(l, now, now_ms).into_iter().find(|r| r.site == s && r.device == d));
        (row, engine.alarms())
    });
    let Ok((row, alarms)) = read.await else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let lang = caller.lang;
    let Some(row) = row else { return unknown(&web, &caller, lang.web_devices().unknown_device) };
    let mine = alarms_of(&alarms, &site, "device", &device);
    let body = device_body(&web, lang, &row, &mine);
    layout::page(&web, lang, Some(&caller), Some(NAV), &device, body).into_response()
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
