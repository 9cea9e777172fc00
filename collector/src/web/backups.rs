//! The backups page (`/ui/backups`, any role): each backup job its agents
//! report, and each `backups.expected` never reported, late first — its
//! tool, last good backup (in the site's zone) and its age against the
//! RPO, its size and change, the copies kept, and its copy at the second
//! site. Late, shrunk and not replicated as the built-in alarms judge them
//! ([`crate::alarm::backups`]). Filtered by site.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Web, layout, viewer};
use crate::alarm::backups::{Job, Mirror, Seen};
use crate::i18n::Lang;
use crate::i18n::alarms::hours;

/// The nav entry of the page.
const NAV: usize = 4;

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Filter {
    pub site: String,
}

/// `GET /ui/backups?site=`.
pub async fn page(State(web): State<Arc<Web>>, headers: HeaderMap, Query(f): Query<Filter>) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let lang = caller.lang;
    let title = lang.web().nav[NAV];
    let Some(engine) = web.app.alarms.clone() else {
        let body = html! { h1 { (title) } p.notice { (lang.web().alarms_off) } };
        return layout::page(&web, lang, Some(&caller), Some(NAV), title, body).into_response();
    };
    let now_s = crate::alarm::now_ms() / 1000;
    let read = tokio::task::spawn_blocking(move || {
        let sites: Vec<String> = engine.config().sites.iter().map(|s| s.name.clone()).collect();
        (engine.backups(now_s), sites)
    });
    let Ok((jobs, sites)) = read.await else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let body = body(lang, &web.tz, &f, &jobs, &sites);
    layout::page(&web, lang, Some(&caller), Some(NAV), title, body).into_response()
}

/// The configured sites, then any other a job names, each once.
fn site_options(jobs: &[Job], configured: &[String]) -> Vec<(String, String)> {
    let mut sites: Vec<String> = configured.to_vec();
    for j in jobs {
        if !sites.contains(&j.site) {
            sites.push(j.site.clone());
        }
    }
    sites.into_iter().map(|s| (s.clone(), s)).collect()
}

pub fn body(lang: Lang, tz: &jiff::tz::TimeZone, f: &Filter, jobs: &[Job], sites: &[String]) -> Markup {
    let t = lang.web();
    let b = lang.web_backups();
    let shown: Vec<&Job> = jobs.iter().filter(|j| f.site.is_empty() || j.site == f.site).collect();
    let late = shown.iter().filter(|j| j.seen.as_ref().is_some_and(|s| s.late)).count();
    html! {
        h1 { (t.nav[NAV]) }
        form.filters method="get" action="/ui/backups" {
            (super::alarms::select("site", t.filter_site, t.any, &f.site, &site_options(jobs, sites)))
            button type="submit" { (t.filter) }
        }
        @if shown.is_empty() {
            p.notice { (b.none) }
        } @else {
            p.backups-late.(if late > 0 { "bad" } else { "ok" }) { ((b.late_of)(late, shown.len())) }
            div.table {
                table.backups {
                    thead {
                        tr {
                            th { (t.col_site) } th { (b.col_host) } th { (b.col_job) } th { (b.col_tool) }
                            th { (b.col_state) } th { (b.col_last) } th { (b.col_age) } th { (b.col_size) }
                            th { (b.col_copies) } th { (b.col_mirror) }
                        }
                    }
                    tbody {
                        @for j in &shown { (row(lang, tz, j)) }
                    }
                }
            }
        }
    }
}

fn row(lang: Lang, tz: &jiff::tz::TimeZone, j: &Job) -> Markup {
    let t = lang.web();
    let b = lang.web_backups();
    let class = match j.rank() {
        0 => "late",
        1 => "bad",
        _ => "ok",
    };
    html! {
        tr.(class) data-site=(j.site) data-host=(j.host) data-job=(j.job) {
            td data-label=(t.col_site) { (j.site) }
            td data-label=(b.col_host) { (j.host) }
            td.job data-label=(b.col_job) { (j.job) }
            @match &j.seen {
                None => {
                    td.tool data-label=(b.col_tool) { "—" }
                    td.state.bad data-label=(b.col_state) { (b.never_seen) }
                    td.last data-label=(b.col_last) { "—" }
                    td.age data-label=(b.col_age) { "—" }
                    td.size data-label=(b.col_size) { "—" }
                    td.copies data-label=(b.col_copies) { "—" }
                    td.mirror data-label=(b.col_mirror) { "—" }
                }
                Some(s) => (seen(lang, tz, s)),
            }
        }
    }
}

fn tool(lang: Lang, kind: &str) -> &str {
    let b = lang.web_backups();
    match kind {
        "directory" => b.folder,
        "status_file" => b.status_file,
        "" => "—",
        k => k,
    }
}

/// `+12,5 %`, `-40 %`: the change against the backup before.
fn change(lang: Lang, pct: f64) -> String {
    let sign = if pct > 0.0 { "+" } else { "" };
    crate::i18n::percent(&format!("{sign}{}", crate::i18n::alarms::n(lang, pct)))
}

fn seen(lang: Lang, tz: &jiff::tz::TimeZone, s: &Seen) -> Markup {
    let b = lang.web_backups();
    let (state_class, state) = match s.status.as_str() {
        "ok" => ("ok", b.ok),
        "failed" => ("bad", b.failed),
        "missing" => ("bad", b.missing),
        "running" => ("unknown", b.running),
        other => ("unknown", other),
    };
    html! {
        td.tool data-label=(b.col_tool) { (tool(lang, &s.kind)) }
        td.state.(state_class) data-label=(b.col_state) {
            (state)
            @if let Some(m) = s.message.as_ref().filter(|m| !m.is_empty() && s.status != "ok") { br; small { (m) } }
        }
        td.last data-label=(b.col_last) {
            @match s.last_success_s { Some(ts) => (lang.time(ts * 1000, tz)), None => (b.no_success) }
        }
        @let rpo = hours(lang, s.rpo_s);
        @match s.age_s {
            Some(age) => td.age.late[s.late] data-label=(b.col_age) {
                ((b.age_rpo)(&hours(lang, age.max(0) as f64), &rpo))
                @if s.late { " " strong { (b.late) } }
            },
            None => td.age data-label=(b.col_age) { ((b.age_rpo)("—", &rpo)) },
        }
        td.size.shrunk[s.shrunk] data-label=(b.col_size) {
            @match s.size_bytes { Some(x) => (lang.size(x)), None => "—" }
            @if let Some(p) = s.size_change_pct { " (" (change(lang, p)) ")" }
            @if s.shrunk { " " strong { (b.shrunk) } }
        }
        td.copies data-label=(b.col_copies) { @match s.copies { Some(n) => ((b.copies)(n)), None => "—" } }
        td.mirror data-label=(b.col_mirror) {
            @match &s.mirror { Some(m) => (mirror(lang, tz, m)), None => (b.no_mirror) }
        }
    }
}

fn mirror(lang: Lang, tz: &jiff::tz::TimeZone, m: &Mirror) -> Markup {
    let b = lang.web_backups();
    let (class, word) = if m.current {
        ("ok", b.mirror_current)
    } else if m.lagging {
        ("bad", b.mirror_late)
    } else {
        ("warn", b.mirror_pending)
    };
    html! {
        @if let Some(p) = &m.pair { span.pair { ((b.mirror_job)(&p.job, &p.host, &p.site)) } br; }
        span.(class) { (word) }
        @if !m.reported {
            br; small { (b.mirror_not_reported) }
        } @else {
            br;
            small {
                @match m.last_success_s {
                    Some(ts) => ((b.mirror_newest)(&lang.time(ts * 1000, tz))),
                    None => (b.mirror_no_copy),
                }
                @if let Some(n) = m.copies { " · " ((b.copies)(n)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::config::JobRef;

    /// 2026-11-22 14:05 in Hanoi.
    const NOW_S: i64 = 1_795_331_100;

    fn hanoi() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
    }

    fn seen(age_s: i64, late: bool) -> Seen {
        Seen {
            kind: "restic".into(),
            status: "ok".into(),
            message: None,
            last_success_s: Some(NOW_S - age_s),
            age_s: Some(age_s),
            rpo_s: 86_400.0,
            late,
            size_bytes: Some(1_500_000_000.0),
            size_change_pct: Some(12.5),
            shrunk: false,
            copies: Some(14),
            mirror: None,
        }
    }

    fn job(site: &str, host: &str, name: &str, seen: Option<Seen>) -> Job {
        Job { site: site.into(), host: host.into(), job: name.into(), seen }
    }

    fn jobs() -> Vec<Job> {
        let mut failed = seen(3600, false);
        failed.kind = "directory".into();
        failed.status = "failed".into();
        failed.message = Some("<b>disk full</b>".into());
        failed.size_change_pct = Some(-40.0);
        failed.shrunk = true;
        failed.mirror = Some(Mirror {
            pair: Some(JobRef { site: "hcm".into(), host: "bk1".into(), job: "pg-copy".into() }),
            reported: true,
            copies: Some(3),
            last_success_s: Some(NOW_S - 90_000),
            current: false,
            lagging: true,
        });
        vec![
            job("hn", "db1", "pg", Some(seen(26 * 3600, true))),
            job("hn", "fs1", "files", Some(failed)),
            job("hcm", "db9", "pg", None),
        ]
    }

    /// The text of each cell of the row of `host`, tags stripped.
    fn cells(html: &str, host: &str) -> Vec<String> {
        let start = html.find(&format!("data-host=\"{host}\"")).unwrap();
        let row = &html[start..html[start..].find("</tr>").unwrap() + start];
        row.split("<td").skip(1).map(|c| strip(&c[c.find('>').unwrap() + 1..])).collect()
    }

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut tag = false;
        for c in s.chars() {
            match c {
                '<' => tag = true,
                '>' => tag = false,
                c if !tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn each_job_says_its_age_against_the_rpo_size_and_mirror_in_vietnamese() {
        let html = body(Lang::Vi, &hanoi(), &Filter::default(), &jobs(), &["hn".into()]).into_string();
        assert_eq!(
            cells(&html, "db1"),
            [
                "hn",
                "db1",
                "pg",
                "restic",
                "Tốt",
                "21/11/2026 12:05",
                "26 giờ / RPO 24 giờ Trễ hạn",
                "1,5 GB (+12,5 %)",
                "14 bản",
                "Không có"
            ]
        );
        assert_eq!(
            cells(&html, "fs1"),
            [
                "hn",
                "fs1",
                "files",
                "thư mục",
                "Lỗi&lt;b&gt;disk full&lt;/b&gt;",
                "22/11/2026 13:05",
                "1 giờ / RPO 24 giờ",
                "1,5 GB (-40 %) Nhỏ bất thường",
                "14 bản",
                "pg-copy trên bk1 (hcm)Chưa sao chép kịpbản mới nhất: 21/11/2026 13:05 · 3 bản"
            ]
        );
        assert_eq!(cells(&html, "db9"), ["hcm", "db9", "pg", "—", "Chưa từng thấy", "—", "—", "—", "—", "—"]);
        assert!(html.contains(r#"<td class="age late" data-label="Độ cũ / RPO">"#), "late in red: {html}");
        assert!(html.contains(r#"<p class="backups-late bad">Trễ hạn: 1/3 tác vụ</p>"#), "{html}");
        // The page keeps the order it is given (late first, from the engine).
        let rows: Vec<usize> =
            ["db1", "fs1", "db9"].iter().map(|h| html.find(&format!("data-host=\"{h}\"")).unwrap()).collect();
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
    }

    #[test]
    fn in_english_the_same_jobs_read_the_english_way_and_the_filter_keeps_one_site() {
        let f = Filter { site: "hn".into() };
        let html = body(Lang::En, &hanoi(), &f, &jobs(), &["hn".into()]).into_string();
        assert_eq!(
            cells(&html, "db1"),
            [
                "hn",
                "db1",
                "pg",
                "restic",
                "OK",
                "21 Nov 2026 12:05",
                "26 h / RPO 24 h Late",
                "1.5 GB (+12.5 %)",
                "14 copies",
                "None"
            ]
        );
        assert!(!html.contains("data-host=\"db9\""), "hcm is filtered out: {html}");
        assert!(html.contains(r#"<option value="hcm">hcm</option>"#), "a site only a job names is offered: {html}");
        assert!(html.contains(r#"<option value="hn" selected>hn</option>"#), "{html}");
        assert!(html.contains("Late: 1 of 2 jobs"), "{html}");
    }
}
