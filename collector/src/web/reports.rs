//! The reports page (`/ui/reports`, any role): the months and ISO weeks a
//! report can be made of — from the first hour the trends still keep to
//! the period in progress — each opened as the report's HTML in Vietnamese
//! or English (`/ui/reports/2026-10?lang=vi`) or downloaded as its CSV
//! (`/ui/reports/2026-10.csv`), of every site or one (`&site=`). A report
//! is built when it is asked for, off the async threads, from `trends.db`
//! and `alarms.db` read-only, as `dcwatch-collector report` builds it; the
//! schedule only emails reports, it keeps no files.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use maud::{Markup, html};

use super::{Caller, Web, layout, viewer};
use crate::i18n::Lang;
use crate::report::{self, Period, Report, ReportError};
use crate::trends;

/// The nav entry of the page.
const NAV: usize = 5;

/// Reports built at once: each reads a month of trends (and sketches);
/// more wait their turn rather than fill the blocking pool.
static BUILDS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Params {
    pub site: String,
    pub lang: String,
}

impl Params {
    fn site(&self) -> Option<String> {
        Some(self.site.trim().to_string()).filter(|s| !s.is_empty())
    }
}

/// A period the page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `2026-10`, `2026-W43`: what the report's URL and `--period` take.
    pub label: String,
    /// The month or the week's number, and its year.
    pub number: i8,
    pub year: i16,
    pub first: Date,
    pub last: Date,
    /// Not over yet: the report is of the days so far.
    pub current: bool,
}

fn day_of(s: i64, tz: &jiff::tz::TimeZone) -> Date {
    jiff::Timestamp::from_second(s).unwrap_or_default().to_zoned(tz.clone()).date()
}

fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(jiff::Span::new().days(n)).unwrap_or(d)
}

/// The months from the one holding `first_s` to the one holding `now_s`
/// (in `tz`), newest first.
pub fn months(first_s: i64, now_s: i64, tz: &jiff::tz::TimeZone) -> Vec<Listed> {
    let (mut d, today) = (day_of(first_s, tz).first_of_month(), day_of(now_s, tz));
    let mut out = Vec::new();
    while d <= today {
        let last = d.last_of_month();
        out.push(Listed {
            label: d.strftime("%Y-%m").to_string(),
            number: d.month(),
            year: d.year(),
            first: d,
            last,
            current: today <= last,
        });
        d = add_days(last, 1);
    }
    out.reverse();
    out
}

/// The ISO weeks from the one holding `first_s` to the one holding `now_s`, newest first.
pub fn weeks(first_s: i64, now_s: i64, tz: &jiff::tz::TimeZone) -> Vec<Listed> {
    let first = day_of(first_s, tz);
    let today = day_of(now_s, tz);
    let mut d = add_days(first, -i64::from(first.weekday().to_monday_zero_offset()));
    let mut out = Vec::new();
    while d <= today {
        let w = d.iso_week_date();
        let last = add_days(d, 6);
        out.push(Listed {
            label: format!("{}-W{:02}", w.year(), w.week()),
            number: w.week(),
            year: w.year(),
            first: d,
            last,
            current: today <= last,
        });
        d = add_days(d, 7);
    }
    out.reverse();
    out
}

/// The trends' file, if the collector keeps trends.
fn trends_db(web: &Web) -> Option<PathBuf> {
    web.app.trends.as_ref().map(|t| t.config().db.clone())
}

fn page(web: &Web, caller: &Caller, status: StatusCode, body: Markup) -> Response {
    let title = caller.lang.web().nav[NAV];
    (status, layout::page(web, caller.lang, Some(caller), Some(NAV), title, body)).into_response()
}

fn notice(web: &Web, caller: &Caller, status: StatusCode, text: &str) -> Response {
    let title = caller.lang.web().nav[NAV];
    page(web, caller, status, html! { h1 { (title) } p.notice.error[status != StatusCode::OK] { (text) } })
}

/// `GET /ui/reports?site=`: the periods, each with its links.
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<Params>) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let r = caller.lang.web_reports();
    let Some(db) = trends_db(&web) else { return notice(&web, &caller, StatusCode::OK, r.no_trends) };
    let site = q.site();
    let read = tokio::task::spawn_blocking(move || -> Result<(Option<i64>, Vec<String>), trends::TrendsError> {
        let c = trends::open_read(&db)?;
        Ok((trends::first_hour_any(&c, site.as_deref())?, trends::sites(&c)?))
    });
    let (first_hour, kept) = match read.await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::error!(error = %dcwatch_common::error_chain(&e), "the console cannot read the trends");
            return notice(&web, &caller, StatusCode::INTERNAL_SERVER_ERROR, r.read_failed);
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    // The configured sites first, then any other the trends hold.
    let mut sites: Vec<String> =
        web.app.alarms.as_ref().map(|e| e.config().sites.iter().map(|s| s.name.clone()).collect()).unwrap_or_default();
    for s in kept {
        if !sites.contains(&s) {
            sites.push(s);
        }
    }
    let now_s = crate::alarm::now_ms() / 1000;
    let body = list_body(caller.lang, &web.report_tz, &q, &sites, first_hour.map(|h| h * 3600), now_s);
    page(&web, &caller, StatusCode::OK, body)
}

/// A report's address: `/ui/reports/2026-10?lang=vi&site=hn`, or `.csv`.
pub fn href(label: &str, csv: bool, lang: Option<Lang>, site: Option<&str>) -> String {
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(l) = lang {
        q.push(("lang", l.code()));
    }
    if let Some(s) = site {
        q.push(("site", s));
    }
    let ext = if csv { ".csv" } else { "" };
    let query = serde_urlencoded::to_string(&q).unwrap_or_default();
    if query.is_empty() { format!("/ui/reports/{label}{ext}") } else { format!("/ui/reports/{label}{ext}?{query}") }
}

pub fn list_body(
    lang: Lang,
    tz: &jiff::tz::TimeZone,
    q: &Params,
    sites: &[String],
    first_s: Option<i64>,
    now_s: i64,
) -> Markup {
    let t = lang.web();
    let r = lang.web_reports();
    let options: Vec<(String, String)> = sites.iter().map(|s| (s.clone(), s.clone())).collect();
    html! {
        h1 { (t.nav[NAV]) }
        form.filters method="get" action="/ui/reports" {
            (super::alarms::select("site", t.filter_site, r.all_sites, &q.site, &options))
            button type="submit" { (t.filter) }
        }
        @match first_s {
            None => p.notice { (r.no_data_yet) },
            Some(first) => {
                p.since { ((r.data_since)(&lang.time(first * 1000, tz))) }
                h2 { (r.months) }
                (table(lang, &months(first, now_s, tz), q.site().as_deref(), r.month))
                h2 { (r.weeks) }
                (table(lang, &weeks(first, now_s, tz), q.site().as_deref(), r.week))
                p.updated { (r.csv_note) }
            }
        }
    }
}

fn table(lang: Lang, periods: &[Listed], site: Option<&str>, name: fn(i8, i16) -> String) -> Markup {
    let r = lang.web_reports();
    // Each language's name in itself: "Tiếng Việt", "English".
    let own = |l: Lang| layout::other(l).web().other_language;
    let day = |d: Date| lang.date(&d.strftime("%Y-%m-%d").to_string());
    html! {
        div.table {
            table.reports {
                thead { tr { th { (r.col_period) } th { (r.col_days) } th { (r.col_open) } } }
                tbody {
                    @for p in periods {
                        tr data-period=(p.label) {
                            td.period data-label=(r.col_period) {
                                (name(p.number, p.year))
                                @if p.current { " (" (r.in_progress) ")" }
                            }
                            td.days data-label=(r.col_days) { (day(p.first)) " – " (day(p.last)) }
                            td.links data-label=(r.col_open) {
                                @for l in [Lang::Vi, Lang::En] {
                                    a.html lang=(l.code()) href=(href(&p.label, false, Some(l), site)) { (own(l)) }
                                }
                                a.csv href=(href(&p.label, true, None, site)) download { (r.csv) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The report of `period` (of `site`, or of all) as of `now_s`, from the
/// trends and the alarm history (if there is one), both read-only.
fn build(
    trends_db: &std::path::Path,
    alarms_db: Option<PathBuf>,
    tz: jiff::tz::TimeZone,
    services: Vec<String>,
    period: &Period,
    site: Option<&str>,
    now_s: i64,
) -> Result<Report, ReportError> {
    let trends = trends::open_read(trends_db)?;
    let alarms = alarms_db
        .filter(|p| p.exists())
        .and_then(|p| rusqlite::Connection::open_with_flags(p, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok());
    let inputs = report::Inputs { trends: &trends, alarms: alarms.as_ref(), tz, services };
    report::build(&inputs, period, site, now_s)
}

/// The header that lets the report's HTML apply its one `<style>` element
/// and nothing else. The report is one self-contained file (it is also
/// emailed and saved), so its CSS is inline and the console's
/// `style-src 'self'` would drop it. Rather than `'unsafe-inline'`, the
/// element is allowed by its SHA-256, so no other inline style (one slipped
/// in through a name in the data, say) applies; `sandbox` gives the page an
/// opaque origin with no scripts and no forms, so even a report whose
/// escaping failed could not act with the console's session or read its
/// pages; nothing else may load (`default-src 'none'`; the charts are
/// inline SVG).
pub fn report_csp(html: &str) -> String {
    use base64::Engine as _;
    let style = html.split_once("<style>").and_then(|(_, rest)| rest.split_once("</style>")).map_or("", |(s, _)| s);
    let hash = base64::engine::general_purpose::STANDARD.encode(crate::auth::sha256(style));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; frame-ancestors 'none'; \
         form-action 'none'; base-uri 'none'; sandbox"
    )
}

/// The CSV's file name: `dcwatch-2026-10.csv`, `dcwatch-hn-dc1-2026-W43.csv`;
/// anything but letters, digits, `.`, `_` and `-` is `_`.
pub fn csv_name(label: &str, site: Option<&str>) -> String {
    let name = match site {
        Some(s) => format!("dcwatch-{s}-{label}.csv"),
        None => format!("dcwatch-{label}.csv"),
    };
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

/// `GET /ui/reports/{period}?lang=&site=` (HTML) and `/ui/reports/{period}.csv?site=`.
pub async fn one(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(asked): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let r = caller.lang.web_reports();
    let (label, csv) = match asked.strip_suffix(".csv") {
        Some(l) => (l.to_string(), true),
        None => (asked.clone(), false),
    };
    let Some(db) = trends_db(&web) else { return notice(&web, &caller, StatusCode::NOT_FOUND, r.no_trends) };
    let Ok(period) = report::parse_period(&label, &web.report_tz) else {
        return notice(&web, &caller, StatusCode::NOT_FOUND, &(r.bad_period)(&label));
    };
    let now_s = crate::alarm::now_ms() / 1000;
    if period.start() > now_s {
        return notice(&web, &caller, StatusCode::NOT_FOUND, &(r.no_data)(&label));
    }
    let (alarms_db, services) = match &web.app.alarms {
        Some(e) => {
            let c = e.config();
            (Some(c.db.clone()), c.services.iter().map(|s| s.name.clone()).collect())
        }
        None => (None, Vec::new()),
    };
    let (tz, site) = (web.report_tz.clone(), q.site());
    let Ok(_turn) = BUILDS.acquire().await else { return StatusCode::SERVICE_UNAVAILABLE.into_response() };
    let s = site.clone();
    let built = tokio::task::spawn_blocking(move || build(&db, alarms_db, tz, services, &period, s.as_deref(), now_s));
    let report = match built.await {
        Ok(Ok(rep)) if rep.coverage_exact > 0.0 => rep,
        Ok(Ok(_)) => return notice(&web, &caller, StatusCode::NOT_FOUND, &(r.no_data)(&label)),
        Ok(Err(e)) => {
            tracing::error!(period = %label, error = %dcwatch_common::error_chain(&e), "the console cannot build a report");
            return notice(&web, &caller, StatusCode::INTERNAL_SERVER_ERROR, r.read_failed);
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if csv {
        let disposition = format!("attachment; filename=\"{}\"", csv_name(&label, site.as_deref()));
        let headers =
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)];
        return (headers, report::render::csv(&report)).into_response();
    }
    let lang = Lang::parse(&q.lang).unwrap_or(caller.lang);
    let html = report::render::html(&report, lang);
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
        (header::CONTENT_SECURITY_POLICY, report_csp(&html)),
    ];
    (headers, html).into_response()
}

#[cfg(test)]
#[path = "reports_tests.rs"]
mod tests;
