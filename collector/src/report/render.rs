//! A report as CSV (one tidy table: section, site, host, item, metric,
//! value — numbers in plain `1234.5`, empty for no data) or as one HTML
//! file with inline CSS and SVG charts: it opens offline and prints on A4.

use std::fmt::Write as _;

use super::Report;
use crate::i18n::Lang;

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// A name from the data (site, host, mount, job…) as a CSV cell that no
/// spreadsheet runs as a formula (CSV injection, OWASP): a cell that starts
/// with `=`, `+`, `-` or `@` — also after leading spaces or control
/// characters, which Excel and LibreOffice skip — or with a tab, CR or LF
/// gets a leading `'` and is quoted, so it is shown as the text it is.
fn csv_name(s: &str) -> String {
    let first = s.trim_start_matches(|c: char| c.is_whitespace() || c.is_control()).chars().next();
    let formula = first.is_some_and(|c| matches!(c, '=' | '+' | '-' | '@'));
    if formula || s.starts_with(['\t', '\r', '\n']) { format!("\"'{}\"", s.replace('"', "\"\"")) } else { csv_field(s) }
}

/// A value: a number stays a number (`-40`), anything else is guarded as
/// a name is.
fn csv_value(s: &str) -> String {
    if s.parse::<f64>().is_ok_and(f64::is_finite) { csv_field(s) } else { csv_name(s) }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

pub fn csv(r: &Report) -> String {
    let mut out = String::from("section,site,host,item,metric,value\n");
    let mut row = |section: &str, site: &str, host: &str, item: &str, metric: &str, value: String| {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            section,
            csv_name(site),
            csv_name(host),
            csv_name(item),
            metric,
            csv_value(&value)
        );
    };
    let s = &r.summary;
    row("report", "", "", "", "period", r.period.clone());
    row("report", "", "", "", "from", r.from.clone());
    row("report", "", "", "", "to", r.to.clone());
    row("report", "", "", "", "partial", r.partial.to_string());
    row("report", "", "", "", "coverage_pct", r.coverage_pct.to_string());
    row("summary", "", "", "", "hosts", s.hosts.to_string());
    row("summary", "", "", "", "host_availability_pct", opt(s.host_availability_pct));
    row("summary", "", "", "", "power_availability_pct", opt(s.power_availability_pct));
    row("summary", "", "", "", "minutes_on_battery", s.minutes_on_battery.to_string());
    row("summary", "", "", "", "feed_outages", s.feed_outages.to_string());
    row("summary", "", "", "", "incidents", s.incidents.to_string());
    row("summary", "", "", "", "mttr_minutes", opt(r.mttr_minutes));
    row("summary", "", "", "", "backup_success_pct", opt(s.backup_success_pct));
    row("summary", "", "", "", "disks_full_within_60_days", s.disks_full_within_60_days.to_string());
    for x in &r.sites {
        row("site", &x.site, "", "", "hosts", x.hosts.to_string());
        row("site", &x.site, "", "", "gap_hours", x.gap_hours.to_string());
        row("site", &x.site, "", "", "minutes_on_battery", x.minutes_on_battery.to_string());
        row("site", &x.site, "", "", "power_lost_minutes", x.power_lost_minutes.to_string());
        row("site", &x.site, "", "", "redundancy_degraded_minutes", x.redundancy_degraded_minutes.to_string());
        row("site", &x.site, "", "", "power_availability_pct", opt(x.power_availability_pct));
        row("site", &x.site, "", "", "host_availability_pct", opt(x.host_availability_pct));
    }
    for x in &r.services {
        row("service", "", "", &x.service, "outage_minutes", x.outage_minutes.to_string());
        row("service", "", "", &x.service, "degraded_minutes", x.degraded_minutes.to_string());
        row("service", "", "", &x.service, "availability_pct", opt(x.availability_pct));
    }
    for x in &r.incidents {
        let item = format!("{} {} {}", x.start, x.name, x.subject).trim_end().to_string();
        row("incident", &x.site, "", &item, "minutes", x.minutes.to_string());
        row("incident", &x.site, "", &item, "severity", x.severity.clone());
        row("incident", &x.site, "", &item, "end", x.end.clone().unwrap_or_default());
    }
    for x in &r.ups {
        row("ups", &x.site, "", &x.device, "minutes_on_battery", x.minutes_on_battery.to_string());
        row("ups", &x.site, "", &x.device, "load_peak_pct", opt(x.load_peak_pct));
        row("ups", &x.site, "", &x.device, "load_p95_pct", opt(x.load_p95_pct));
        row("ups", &x.site, "", &x.device, "min_charge_pct", opt(x.min_charge_pct));
        row("ups", &x.site, "", &x.device, "min_runtime_minutes", opt(x.min_runtime_minutes));
        row("ups", &x.site, "", &x.device, "replace_battery", x.replace_battery.to_string());
    }
    for x in &r.feeds {
        row("feed", &x.site, "", &x.feed, "outages", x.outages.to_string());
        row("feed", &x.site, "", &x.feed, "down_minutes", x.down_minutes.to_string());
    }
    for x in &r.generators {
        row("generator", &x.site, "", &x.device, "run_minutes", x.run_minutes.to_string());
        row("generator", &x.site, "", &x.device, "runs", x.runs.map(|r| r.to_string()).unwrap_or_default());
        row("generator", &x.site, "", &x.device, "min_fuel_pct", opt(x.min_fuel_pct));
    }
    for h in &r.hosts {
        row("host", &h.site, &h.host, "", "availability_pct", opt(h.availability_pct));
        row("host", &h.site, &h.host, "", "down_minutes", h.down_minutes.to_string());
        row("host", &h.site, &h.host, "", "cpu_p95_pct", opt(h.cpu_p95_pct));
        row("host", &h.site, &h.host, "", "mem_p95_pct", opt(h.mem_p95_pct));
        row("host", &h.site, &h.host, "", "net_rx_p95_bytes_s", opt(h.net_rx_p95_bytes_s));
        row("host", &h.site, &h.host, "", "net_tx_p95_bytes_s", opt(h.net_tx_p95_bytes_s));
        for d in &h.disks {
            row("disk", &h.site, &h.host, &d.mount, "used_pct", opt(d.used_pct));
            row("disk", &h.site, &h.host, &d.mount, "used_bytes", opt(d.used_bytes));
            row("disk", &h.site, &h.host, &d.mount, "total_bytes", opt(d.total_bytes));
            row("disk", &h.site, &h.host, &d.mount, "growth_bytes_per_month", opt(d.growth_bytes_per_month));
            row("disk", &h.site, &h.host, &d.mount, "full_on", d.full_on.clone().unwrap_or_default());
            row(
                "disk",
                &h.site,
                &h.host,
                &d.mount,
                "days_left",
                d.days_left.map(|x| x.to_string()).unwrap_or_default(),
            );
            row("disk", &h.site, &h.host, &d.mount, "confidence", d.confidence.clone().unwrap_or_default());
        }
    }
    for (i, a) in r.act_first.iter().enumerate() {
        let item = match &a.mount {
            Some(m) => format!("{} {m}", a.what),
            None => a.what.clone(),
        };
        row("act_first", &a.site, &a.host, &item, "rank", (i + 1).to_string());
        row("act_first", &a.site, &a.host, &item, "days_left", a.days_left.map(|x| x.to_string()).unwrap_or_default());
        row("act_first", &a.site, &a.host, &item, "value_pct", opt(a.value_pct));
    }
    for b in &r.backups {
        row("backup", &b.site, &b.host, &b.job, "days", b.days.to_string());
        row("backup", &b.site, &b.host, &b.job, "success_days", b.success_days.to_string());
        row("backup", &b.site, &b.host, &b.job, "success_pct", opt(b.success_pct));
        row("backup", &b.site, &b.host, &b.job, "missed_days", b.missed_days.join(" "));
        row("backup", &b.site, &b.host, &b.job, "largest_shrink_pct", opt(b.largest_shrink_pct));
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Decimals for an availability over `minutes`: enough that one minute
/// without service shows (a month: 3, `99,998 %`; a week: 2; a day: 1).
pub fn availability_decimals(minutes: f64) -> usize {
    let one_minute = 100.0 / minutes.max(1.0);
    (0..4).find(|d| one_minute >= 0.5 * 10f64.powi(-(*d as i32))).unwrap_or(4)
}

/// An availability with the precision it has: `100 %` when nothing was
/// lost, else `decimals` places without trailing zeros, never rounded up
/// to 100 (`99,98 %`, `99,999 %`).
pub fn availability(v: f64, decimals: usize, lang: Lang) -> String {
    if v >= 100.0 {
        return lang.pct(100.0, 0);
    }
    let step = 10f64.powi(-(decimals as i32));
    let r = ((v / step).round() * step).min(100.0 - step);
    let s = lang.num(r, decimals);
    let s = if s.contains([',', '.']) && decimals > 0 {
        let point = if lang == Lang::Vi { ',' } else { '.' };
        s.trim_end_matches('0').trim_end_matches(point).to_string()
    } else {
        s
    };
    crate::i18n::percent(&s)
}

/// Vertical bars, one per label; None is left empty (a gap, not a zero).
/// `full`: the value drawn full height (100 for percentages), else the
/// largest value.
fn bars(title: &str, labels: &[String], values: &[Option<f64>], lang: Lang, unit: &str, full: Option<f64>) -> String {
    let (w, h, left, bottom, top) = (720.0, 220.0, 48.0, 28.0, 24.0);
    let max = full.unwrap_or_else(|| values.iter().flatten().cloned().fold(0.0_f64, f64::max).max(1.0));
    let n = values.len().max(1) as f64;
    let bw = (w - left - 8.0) / n;
    let mut s = format!(
        r#"<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{}">"#,
        esc(title),
        esc(title)
    );
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / max);
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#999"/><text x="4" y="{}" font-size="10">{} {unit}</text><text x="4" y="{}" font-size="10">0</text>"##,
        h - bottom,
        w - 8.0,
        h - bottom,
        top + 4.0,
        lang.num(max, 0),
        h - bottom
    );
    for (i, v) in values.iter().enumerate() {
        let x = left + i as f64 * bw;
        match v {
            Some(v) => {
                let _ = write!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#3a6ea5"><title>{}: {}</title></rect>"##,
                    x + 1.0,
                    y(v.min(max)),
                    (bw - 2.0).max(1.0),
                    (h - bottom - y(v.min(max))).max(0.0),
                    esc(&labels[i]),
                    lang.num(*v, 1)
                );
            }
            None => {
                let _ = write!(
                    s,
                    r##"<rect x="{:.1}" y="{top}" width="{:.1}" height="{:.1}" fill="none" stroke="#ccc" stroke-dasharray="2 2"><title>{}: {}</title></rect>"##,
                    x + 1.0,
                    (bw - 2.0).max(1.0),
                    h - top - bottom,
                    esc(&labels[i]),
                    lang.t().no_data
                );
            }
        }
        if labels.len() <= 31 && (labels.len() <= 12 || i % 2 == 0) {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" font-size="9" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                h - bottom + 12.0,
                esc(&labels[i])
            );
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// Lines over days; None breaks a line.
fn lines(title: &str, days: usize, series: &[(String, Vec<Option<f64>>)], lang: Lang) -> String {
    let (w, h, left, bottom, top) = (720.0, 240.0, 64.0, 28.0, 24.0);
    let max = series.iter().flat_map(|(_, v)| v.iter().flatten()).cloned().fold(0.0_f64, f64::max).max(1.0);
    let x = |i: usize| left + (w - left - 120.0) * i as f64 / (days.max(2) - 1) as f64;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / max);
    let mut s = format!(
        r##"<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{}"><line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#999"/><text x="4" y="{}" font-size="10">{}</text>"##,
        esc(title),
        esc(title),
        h - bottom,
        w - 120.0,
        h - bottom,
        top + 4.0,
        lang.bytes(max)
    );
    const COLOURS: [&str; 5] = ["#3a6ea5", "#c0504d", "#9bbb59", "#8064a2", "#f79646"];
    for (k, (name, vals)) in series.iter().enumerate() {
        let c = COLOURS[k % COLOURS.len()];
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in vals.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(d, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(i), y(*v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{c}" stroke-width="2"/><text x="{}" y="{}" font-size="10" fill="{c}">{}</text>"#,
            d.trim_end(),
            w - 112.0,
            top + 12.0 + 14.0 * k as f64,
            esc(name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// A table: a header of `cols`, then rows of cells (safe HTML, and whether
/// it is a number, right-aligned).
fn table(o: &mut String, cols: &[&str], rows: impl Iterator<Item = Vec<(String, bool)>>) {
    o.push_str("<table><tr>");
    for c in cols {
        let _ = write!(o, "<th>{}</th>", esc(c));
    }
    o.push_str("</tr>");
    for r in rows {
        o.push_str("<tr>");
        for (cell, n) in r {
            let _ = write!(o, "<td{}>{cell}</td>", if n { " class=n" } else { "" });
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
}

fn txt(s: &str) -> (String, bool) {
    (esc(s), false)
}

fn num(s: String) -> (String, bool) {
    (s, true)
}

/// What every part of the HTML page needs: the report, its language and
/// the decimals its availabilities are written with.
struct Page<'a> {
    r: &'a Report,
    lang: Lang,
    t: &'static crate::i18n::report::Text,
    /// Availabilities with the decimals the period's length gives.
    ad: usize,
}

pub fn html(r: &Report, lang: Lang) -> String {
    let period_minutes = {
        let from: jiff::civil::Date = r.from.parse().unwrap_or_default();
        let to: jiff::civil::Date = r.to.parse().unwrap_or_default();
        ((to - from).get_days() + 1).max(1) as f64 * 1440.0
    };
    let page = Page { r, lang, t: lang.t(), ad: availability_decimals(period_minutes) };
    let mut o = String::new();
    page.head(&mut o);
    page.summary(&mut o);
    page.act_first(&mut o);
    page.availability(&mut o);
    page.incidents(&mut o);
    page.power(&mut o);
    page.capacity(&mut o);
    page.backups(&mut o);
    o.push_str("</body></html>\n");
    o
}

impl Page<'_> {
    fn pct(&self, v: Option<f64>, d: usize) -> String {
        v.map_or_else(|| format!("<span class=gap>{}</span>", self.t.no_data), |x| self.lang.pct(x, d))
    }

    fn avail(&self, v: Option<f64>) -> String {
        v.map_or_else(|| format!("<span class=gap>{}</span>", self.t.no_data), |x| availability(x, self.ad, self.lang))
    }

    /// The page's head, title line and notes on what the report covers.
    fn head(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let site = r.site.clone().unwrap_or_else(|| t.all_sites.to_string());
        let _ = write!(
            o,
            r#"<!DOCTYPE html><html lang="{}"><head><meta charset="utf-8"><title>{} — {} — {}</title><style>
    body{{font-family:"Noto Sans","DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;font-size:13px}}
    h1{{font-size:20px;margin:0 0 4px}}h2{{font-size:16px;border-bottom:2px solid #3a6ea5;padding-bottom:2px;margin-top:28px}}
    table{{border-collapse:collapse;width:100%;margin:8px 0}}th,td{{border:1px solid #ccc;padding:3px 6px;text-align:left}}
    td.n{{text-align:right;font-variant-numeric:tabular-nums}}th{{background:#eef2f7}}.gap{{color:#999;font-style:italic}}
    .cards{{display:flex;flex-wrap:wrap;gap:8px}}.card{{border:1px solid #ccc;border-radius:4px;padding:8px 12px;min-width:150px}}
    .card b{{display:block;font-size:18px}}.bad{{color:#b00}}.note{{color:#555;font-size:12px}}figure{{margin:8px 0}}
    figcaption{{font-weight:bold;margin-bottom:2px}}@media print{{h2{{page-break-after:avoid}}table,figure{{page-break-inside:avoid}}}}
    </style></head><body>"#,
            lang.code(),
            esc(t.title),
            esc(&site),
            esc(&r.period)
        );
        let _ = write!(
            o,
            "<h1>{}</h1><p>{}: <b>{}</b> · {}: <b>{} – {}</b> ({}) · {}: {}</p>",
            esc(t.title),
            esc(t.site),
            esc(&site),
            esc(t.period),
            lang.date(&r.from),
            lang.date(&r.to),
            esc(&r.time_zone),
            esc(t.generated),
            lang.datetime(&r.generated_at)
        );
        if r.partial {
            let _ = write!(o, "<p class=note>{}</p>", esc(t.partial));
        }
        // Whole percents, but a first day's 0,1 % is not written 0.
        let cov_decimals = if r.coverage_pct > 0.0 && r.coverage_pct < 10.0 { 1 } else { 0 };
        let _ = write!(o, "<p class=note>{}</p>", esc(&(t.coverage)(&lang.num(r.coverage_pct, cov_decimals))));
        if !r.alarm_history {
            let _ = write!(o, "<p class=note>{}</p>", esc(t.no_alarm_history));
        }
    }

    /// The summary cards.
    fn summary(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let pct = |v: Option<f64>, d: usize| self.pct(v, d);
        let avail = |v: Option<f64>| self.avail(v);
        let s = &r.summary;
        let _ = write!(o, "<h2>{}</h2><div class=cards>", esc(t.summary));
        let card = |o: &mut String, label: &str, value: String, bad: bool| {
            let _ = write!(
                o,
                "<div class=card>{}<b class=\"{}\">{}</b></div>",
                esc(label),
                if bad { "bad" } else { "" },
                value
            );
        };
        card(o, t.hosts, lang.num(s.hosts as f64, 0), false);
        card(o, t.host_availability, avail(s.host_availability_pct), s.host_availability_pct.is_some_and(|v| v < 99.9));
        card(
            o,
            t.power_availability,
            avail(s.power_availability_pct),
            s.power_availability_pct.is_some_and(|v| v < 99.9),
        );
        card(o, t.minutes_on_battery, lang.num(s.minutes_on_battery, 1), s.minutes_on_battery > 0.0);
        card(o, t.feed_outages, lang.num(s.feed_outages as f64, 0), s.feed_outages > 0);
        card(o, t.incidents, lang.num(s.incidents as f64, 0), false);
        card(
            o,
            t.mttr,
            r.mttr_minutes.map_or_else(|| t.none.to_string(), |m| format!("{} {}", lang.num(m, 1), t.minutes)),
            false,
        );
        card(o, t.backup_success, pct(s.backup_success_pct, 1), s.backup_success_pct.is_some_and(|v| v < 100.0));
        card(o, t.disks_full_60, lang.num(s.disks_full_within_60_days as f64, 0), s.disks_full_within_60_days > 0);
        o.push_str("</div>");
    }

    /// What to act on first.
    fn act_first(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let pct = |v: Option<f64>, d: usize| self.pct(v, d);
        let _ = write!(o, "<h2>{}</h2>", esc(t.act_first));
        if r.act_first.is_empty() {
            let _ = write!(o, "<p>{}</p>", esc(t.nothing_urgent));
        } else {
            let rows = r.act_first.iter().enumerate().map(|(i, a)| {
                let what = match (a.what.as_str(), &a.mount) {
                    ("disk", Some(m)) => format!("{} {}", t.act_disk, m),
                    ("cpu", _) => format!("{} {}", t.act_cpu, pct(a.value_pct, 1)),
                    _ => format!("{} {}", t.act_memory, pct(a.value_pct, 1)),
                };
                vec![
                    num((i + 1).to_string()),
                    txt(&a.site),
                    txt(&a.host),
                    txt(&what),
                    (a.full_on.as_deref().map(|d| lang.date(d)).unwrap_or_default(), false),
                    num(a.days_left.map(|d| lang.num(d as f64, 0)).unwrap_or_default()),
                ]
            });
            table(o, &["#", t.site, t.host, "", t.full_on, t.days_left], rows);
        }
    }

    /// Availability by site, and of the services.
    fn availability(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let avail = |v: Option<f64>| self.avail(v);
        let _ = write!(o, "<h2>{}</h2>", esc(t.availability));
        let rows = r.sites.iter().map(|x| {
            vec![
                txt(&x.site),
                num(x.hosts.to_string()),
                num(avail(x.host_availability_pct)),
                num(avail(x.power_availability_pct)),
                num(lang.num(x.minutes_on_battery, 1)),
                num(lang.num(x.power_lost_minutes, 1)),
                num(lang.num(x.redundancy_degraded_minutes, 1)),
                num(x.gap_hours.to_string()),
            ]
        });
        table(
            o,
            &[
                t.site,
                t.hosts,
                t.host_availability,
                t.power_availability,
                t.minutes_on_battery,
                t.power_lost_min,
                t.redundancy_degraded_min,
                t.gap_hours,
            ],
            rows,
        );
        let _ = write!(o, "<p class=note>{}</p>", esc(t.gap_note));
        if !r.services.is_empty() {
            let rows = r.services.iter().map(|x| {
                vec![
                    txt(&x.service),
                    num(avail(x.availability_pct)),
                    num(lang.num(x.outage_minutes, 1)),
                    num(lang.num(x.degraded_minutes, 1)),
                ]
            });
            table(o, &[t.service, t.availability, t.outage_min, t.degraded_min], rows);
        }
    }

    /// The incidents of the period.
    fn incidents(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let _ = write!(
            o,
            "<h2>{}</h2><p>{}: {}</p>",
            esc(t.incident_list),
            esc(t.mttr),
            r.mttr_minutes.map_or_else(|| t.none.to_string(), |m| format!("{} {}", lang.num(m, 1), t.minutes))
        );
        if !r.incidents.is_empty() {
            let rows = r.incidents.iter().map(|x| {
                vec![
                    (lang.datetime(&x.start), false),
                    (x.end.as_deref().map_or_else(|| t.ongoing.to_string(), |e| lang.datetime(e)), false),
                    num(lang.num(x.minutes, 1)),
                    txt(&x.name),
                    txt(&format!("{} {}", x.site, x.subject)),
                    txt(&crate::i18n::report::incident_text(lang, &x.name, &x.labels)
                        .unwrap_or_else(|| x.summary.clone())),
                ]
            });
            table(o, &[t.start, t.end, t.minutes, t.alarm, t.subject, t.what_happened], rows);
        }
    }

    /// Power: UPS, feeds and generators.
    fn power(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let pct = |v: Option<f64>, d: usize| self.pct(v, d);
        let _ = write!(o, "<h2>{}</h2>", esc(t.power));
        let day_labels: Vec<String> = {
            let from: jiff::civil::Date = r.from.parse().unwrap_or_default();
            let to: jiff::civil::Date = r.to.parse().unwrap_or_default();
            let n = ((to - from).get_days() + 1).max(0) as usize;
            (0..n)
                .map(|i| {
                    from.checked_add(jiff::Span::new().days(i as i64)).map(|d| d.day().to_string()).unwrap_or_default()
                })
                .collect()
        };
        if !r.ups.is_empty() {
            let per_day: Vec<Option<f64>> = (0..day_labels.len())
                .map(|d| {
                    // The UPS longest on battery that day.
                    let v: Vec<f64> =
                        r.ups.iter().filter_map(|u| u.daily_battery_minutes.get(d).copied().flatten()).collect();
                    (!v.is_empty()).then(|| v.iter().cloned().fold(0.0, f64::max))
                })
                .collect();
            o.push_str(&bars(t.chart_battery, &day_labels, &per_day, lang, t.minutes, None));
            let rows = r.ups.iter().map(|u| {
                vec![
                    txt(&u.site),
                    txt(&u.device),
                    num(lang.num(u.minutes_on_battery, 1)),
                    num(pct(u.load_peak_pct, 1)),
                    num(pct(u.load_p95_pct, 1)),
                    num(pct(u.min_charge_pct, 1)),
                    num(u.min_runtime_minutes.map_or_else(
                        || format!("<span class=gap>{}</span>", t.no_data),
                        |m| format!("{} {}", lang.num(m, 1), t.minutes),
                    )),
                    (if u.replace_battery { format!("<b class=bad>{}</b>", t.yes) } else { t.no.to_string() }, false),
                ]
            });
            table(
                o,
                &[
                    t.site,
                    t.ups,
                    t.minutes_on_battery,
                    t.load_peak,
                    t.load_p95,
                    t.min_charge,
                    t.min_runtime,
                    t.replace_battery,
                ],
                rows,
            );
        }
        if !r.feeds.is_empty() {
            let rows = r.feeds.iter().map(|f| {
                vec![txt(&f.site), txt(&f.feed), num(f.outages.to_string()), num(lang.num(f.down_minutes, 1))]
            });
            table(o, &[t.site, t.feed, t.outages, t.down_min], rows);
        }
        if !r.generators.is_empty() {
            let rows = r.generators.iter().map(|g| {
                vec![
                    txt(&g.site),
                    txt(&g.device),
                    num(lang.num(g.run_minutes, 1)),
                    num(g.runs.map(|r| r.to_string()).unwrap_or_default()),
                    num(pct(g.min_fuel_pct, 1)),
                ]
            });
            table(o, &[t.site, t.generator, t.run_minutes, t.runs, t.min_fuel], rows);
        }
    }

    /// Capacity: CPU, disks growing, and every host's table.
    fn capacity(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let pct = |v: Option<f64>, d: usize| self.pct(v, d);
        let avail = |v: Option<f64>| self.avail(v);
        let _ = write!(o, "<h2>{}</h2>", esc(t.capacity));
        let mut by_cpu: Vec<&super::HostRow> = r.hosts.iter().filter(|h| h.cpu_p95_pct.is_some()).collect();
        by_cpu.sort_by(|a, b| b.cpu_p95_pct.unwrap_or(0.0).total_cmp(&a.cpu_p95_pct.unwrap_or(0.0)));
        by_cpu.truncate(20);
        if !by_cpu.is_empty() {
            let labels: Vec<String> = by_cpu.iter().map(|h| h.host.clone()).collect();
            let vals: Vec<Option<f64>> = by_cpu.iter().map(|h| h.cpu_p95_pct).collect();
            o.push_str(&bars(t.chart_cpu, &labels, &vals, lang, "%", Some(100.0)));
        }
        let days = r.hosts.iter().flat_map(|h| h.disks.first()).map(|d| d.daily_used_bytes.len()).next().unwrap_or(0);
        let urgent: Vec<(String, Vec<Option<f64>>)> = r
            .act_first
            .iter()
            .filter(|a| a.what == "disk")
            .take(5)
            .filter_map(|a| {
                let h = r.hosts.iter().find(|h| h.site == a.site && h.host == a.host)?;
                let d = h.disks.iter().find(|d| Some(&d.mount) == a.mount.as_ref())?;
                Some((format!("{} {}", h.host, d.mount), d.daily_used_bytes.clone()))
            })
            .collect();
        if !urgent.is_empty() {
            o.push_str(&lines(t.chart_disk, days, &urgent, lang));
        }
        let _ = write!(
            o,
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            esc(t.site),
            esc(t.host),
            esc(t.availability),
            esc(t.cpu_p95),
            esc(t.mem_p95),
            esc(t.net_p95),
            esc(t.disk),
            esc(t.used),
            esc(t.size),
            esc(t.growth_month),
            esc(t.full_on),
            esc(t.confidence)
        );
        for h in &r.hosts {
            let rows = h.disks.len().max(1);
            let _ = write!(
                o,
                "<tr><td rowspan={rows}>{}</td><td rowspan={rows}>{}</td><td rowspan={rows} class=n>{}</td><td rowspan={rows} class=n>{}</td><td rowspan={rows} class=n>{}</td><td rowspan={rows} class=n>{}</td>",
                esc(&h.site),
                esc(&h.host),
                avail(h.availability_pct),
                pct(h.cpu_p95_pct, 1),
                pct(h.mem_p95_pct, 1),
                match (h.net_rx_p95_bytes_s, h.net_tx_p95_bytes_s) {
                    (Some(r), Some(t)) => format!("{}/s ↓ {}/s ↑", lang.bytes(r), lang.bytes(t)),
                    _ => String::new(),
                }
            );
            if h.disks.is_empty() {
                o.push_str("<td colspan=6></td></tr>");
            }
            for (i, d) in h.disks.iter().enumerate() {
                if i > 0 {
                    o.push_str("<tr>");
                }
                let conf = match d.confidence.as_deref() {
                    Some("high") => t.conf_high,
                    Some("medium") => t.conf_medium,
                    Some(_) => t.conf_low,
                    None => "",
                };
                let _ = write!(
                    o,
                    "<td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&d.mount),
                    pct(d.used_pct, 1),
                    d.total_bytes.map(|b| lang.bytes(b)).unwrap_or_default(),
                    d.growth_bytes_per_month.map(|b| lang.bytes(b)).unwrap_or_default(),
                    d.full_on.as_deref().map(|x| lang.date(x)).unwrap_or_default(),
                    conf
                );
            }
        }
        o.push_str("</table>");
        let _ = write!(o, "<p class=note>{}</p>", esc(t.confidence_note));
    }

    /// Backups.
    fn backups(&self, o: &mut String) {
        let (r, lang, t) = (self.r, self.lang, self.t);
        let pct = |v: Option<f64>, d: usize| self.pct(v, d);
        if !r.backups.is_empty() {
            let _ = write!(o, "<h2>{}</h2>", esc(t.backups));
            let rows = r.backups.iter().map(|b| {
                let missed: Vec<String> = b.missed_days.iter().map(|d| lang.date(d)).collect();
                vec![
                    txt(&b.site),
                    txt(&b.host),
                    txt(&b.job),
                    num(pct(b.success_pct, 1)),
                    num(format!("{} / {}", b.success_days, b.days)),
                    if missed.is_empty() { (t.none.to_string(), false) } else { txt(&missed.join(", ")) },
                    num(b.largest_shrink_pct.map(|p| lang.pct(p, 1)).unwrap_or_default()),
                ]
            });
            table(o, &[t.site, t.host, t.job, t.success_rate, t.success_days, t.missed_days, t.largest_shrink], rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_spreadsheet_would_run_as_formulas_are_quoted() {
        assert_eq!(csv_name("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_name("+cmd"), "\"'+cmd\"");
        assert_eq!(csv_name("web1"), "web1");
        assert_eq!(csv_name("a,b"), "\"a,b\"");
        assert_eq!(csv_name("web-1"), "web-1", "a sign inside a name is no formula");
        assert_eq!(csv_name(""), "");
        // Numbers stay numbers; other values are guarded as names are.
        assert_eq!(csv_value("-40"), "-40");
        assert_eq!(csv_value("-1e3"), "-1e3");
        assert_eq!(csv_value("-cmd"), "\"'-cmd\"");
    }

    /// Regression: the guard looked at the first character only, so a
    /// leading space, tab, CR or LF let a formula through.
    #[test]
    fn a_formula_after_leading_whitespace_or_control_characters_is_neutralised() {
        assert_eq!(csv_name(" =1+2"), "\"' =1+2\"");
        assert_eq!(csv_name("  @SUM(A1)"), "\"'  @SUM(A1)\"");
        assert_eq!(csv_name("\t=cmd|' /C calc'!A0"), "\"'\t=cmd|' /C calc'!A0\"");
        assert_eq!(csv_name("\r-2+3"), "\"'\r-2+3\"");
        assert_eq!(csv_name("\n+1"), "\"'\n+1\"");
        assert_eq!(csv_name("\u{0}\u{1b}=1"), "\"'\u{0}\u{1b}=1\"");
        // A leading tab or CR alone is enough (OWASP): some tools split there.
        assert_eq!(csv_name("\tweb1"), "\"'\tweb1\"");
        assert_eq!(csv_name("\rweb1"), "\"'\rweb1\"");
        // Leading spaces before plain text are harmless and kept as they are.
        assert_eq!(csv_name(" web1"), " web1");
    }

    #[test]
    fn data_in_the_html_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
