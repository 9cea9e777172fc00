//! The reports page: the periods listed, the words and links in each
//! language, a report opened (its own CSP) and downloaded, and a period
//! that is malformed or has no data.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use sha2::Digest as _;

use super::*;
use crate::model::{ObsValue, Observation};
use crate::web::tests::{get, session_of, web, web_with};

fn hanoi() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
}

/// `y-m-d h:00` in Hanoi, Unix seconds.
fn at(y: i16, m: i8, d: i8, h: i8) -> i64 {
    jiff::civil::date(y, m, d).at(h, 0, 0, 0).to_zoned(hanoi()).unwrap().timestamp().as_second()
}

fn labels(list: &[Listed]) -> Vec<(&str, bool)> {
    list.iter().map(|p| (p.label.as_str(), p.current)).collect()
}

#[test]
fn the_months_and_weeks_from_the_first_data_to_now_are_listed_newest_first() {
    // The first data on Monday 28 Sep 2026 at 01:00 in Hanoi (still the
    // 27th in UTC); now is 14 Oct 2026.
    let (first, now) = (at(2026, 9, 28, 1), at(2026, 10, 14, 9));
    assert_eq!(labels(&months(first, now, &hanoi())), [("2026-10", true), ("2026-09", false)]);
    assert_eq!(labels(&weeks(first, now, &hanoi())), [("2026-W42", true), ("2026-W41", false), ("2026-W40", false)]);
    let w40 = &weeks(first, now, &hanoi())[2];
    assert_eq!((w40.first.to_string(), w40.last.to_string()), ("2026-09-28".into(), "2026-10-04".into()));
    // In UTC the first data is on Sunday the 27th: one week more.
    assert_eq!(weeks(first, now, &jiff::tz::TimeZone::UTC).last().unwrap().label, "2026-W39");
    // A week across the new year is the ISO week's year.
    assert_eq!(labels(&weeks(at(2026, 12, 31, 12), at(2026, 12, 31, 12), &hanoi())), [("2026-W53", true)]);
}

#[test]
fn the_list_names_each_period_in_the_users_language_and_links_both_languages_and_the_csv() {
    let (first, now) = (at(2026, 9, 28, 1), at(2026, 10, 14, 9));
    let q = Params { site: "hn-dc1".into(), lang: String::new() };
    let vi = list_body(Lang::Vi, &hanoi(), &q, &["hn-dc1".into()], Some(first), now).into_string();
    for want in [
        r#"<p class="since">Có dữ liệu từ ngày 28/09/2026 01:00."#,
        r#"<tr data-period="2026-10"><td class="period" data-label="Kỳ">Tháng 10/2026 (đang diễn ra)</td><td class="days" data-label="Từ ngày – đến ngày">01/10/2026 – 31/10/2026</td>"#,
        r#"<a class="html" lang="vi" href="/ui/reports/2026-10?lang=vi&amp;site=hn-dc1">Tiếng Việt</a>"#,
        r#"<a class="html" lang="en" href="/ui/reports/2026-10?lang=en&amp;site=hn-dc1">English</a>"#,
        r#"<a class="csv" href="/ui/reports/2026-10.csv?site=hn-dc1" download>Tải CSV</a>"#,
        r#"<td class="period" data-label="Kỳ">Tuần 40/2026</td><td class="days" data-label="Từ ngày – đến ngày">28/09/2026 – 04/10/2026</td>"#,
        r#"<option value="">Tất cả các trung tâm</option><option value="hn-dc1" selected>hn-dc1</option>"#,
    ] {
        assert!(vi.contains(want), "{want}\nnot in\n{vi}");
    }
    let en = list_body(Lang::En, &hanoi(), &Params::default(), &[], Some(first), now).into_string();
    for want in [
        r#"<td class="period" data-label="Period">October 2026 (in progress)</td><td class="days" data-label="Days">1 Oct 2026 – 31 Oct 2026</td>"#,
        r#"<td class="period" data-label="Period">Week 42, 2026 (in progress)</td>"#,
        r#"<a class="csv" href="/ui/reports/2026-09.csv" download>Download CSV</a>"#,
    ] {
        assert!(en.contains(want), "{want}\nnot in\n{en}");
    }
    let none = list_body(Lang::En, &hanoi(), &Params::default(), &[], None, now).into_string();
    assert!(none.contains(r#"<p class="notice">There is no data to report on yet.</p>"#), "{none}");
}

/// A console whose trends hold one heartbeat of `hn-dc1` a minute ago;
/// the label of the month it falls in (in UTC, the test console's zone).
fn with_trends(dir: &tempfile::TempDir) -> (Arc<Web>, String) {
    let cfg = trends::TrendsConfig { db: dir.path().join("trends.db"), retention_days: 730, flush_secs: 60 };
    let t = trends::Trends::open(cfg).unwrap();
    let ts = crate::alarm::now_ms() / 1000 - 60;
    t.observe(&[Observation {
        measurement: "dcwatch_agent".into(),
        tags: vec![("site".into(), "hn-dc1".into()), ("host".into(), "web1".into())],
        fields: vec![("beat".into(), ObsValue::Num(1.0))],
        ts: ts * 1_000_000_000,
    }]);
    t.flush(ts * 1_000_000_000).unwrap();
    let web = web_with(dir, |s| s.trends = Some(Arc::new(t)));
    (web, months(ts, ts, &jiff::tz::TimeZone::UTC)[0].label.clone())
}

#[tokio::test]
async fn a_report_downloads_as_csv_with_its_file_name_and_opens_as_html_under_its_own_csp() {
    let dir = tempfile::tempdir().unwrap();
    let (web, month) = with_trends(&dir);
    let (lan, _) = session_of(&web, "lan");

    let (status, headers, csv) = get(&web, &format!("/ui/reports/{month}.csv?lang=en&site=hn-dc1"), &lan).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION].to_str().unwrap(),
        format!("attachment; filename=\"dcwatch-hn-dc1-{month}.csv\"")
    );
    assert_eq!(csv.lines().next(), Some("section,site,host,item,metric,value"));
    assert_eq!(csv.lines().nth(1), Some(format!("report,,,,period,{month}").as_str()));

    let (status, headers, html) = get(&web, &format!("/ui/reports/{month}?lang=en"), &lan).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(html.starts_with(r#"<!DOCTYPE html><html lang="en">"#), "{html}");
    let style = html.split("<style>").nth(1).unwrap().split("</style>").next().unwrap();
    use base64::Engine as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap(),
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; frame-ancestors 'none'; \
             form-action 'none'; base-uri 'none'; sandbox"
        ),
        "the report's own policy, not the console's"
    );
    assert!(!html.contains(" style="), "every style of the report is in the one hashed element");
    assert_eq!(html.matches("<style>").count(), 1);
    // Vietnamese when the link asks for it (lan has no language of her own).
    let (_, _, vi) = get(&web, &format!("/ui/reports/{month}?lang=vi"), &lan).await;
    assert!(vi.starts_with(r#"<!DOCTYPE html><html lang="vi">"#), "{vi}");
    // The list has the month with data, and the site.
    let (status, headers, list) = get(&web, "/ui/reports", &lan).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'self'"));
    assert!(list.contains(&format!(r#"<tr data-period="{month}">"#)), "{list}");
    assert!(list.contains(r#"<option value="hn-dc1">hn-dc1</option>"#), "{list}");
}

#[tokio::test]
async fn a_malformed_period_or_one_without_data_is_the_consoles_404_page() {
    let dir = tempfile::tempdir().unwrap();
    let (web, _) = with_trends(&dir);
    let (lan, _) = session_of(&web, "lan");
    let (nam, _) = session_of(&web, "nam");
    let cases = [
        (
            "/ui/reports/2026-13",
            &lan,
            "“2026-13” không phải là một kỳ báo cáo: hãy dùng một tháng (2026-10) hoặc một tuần (2026-W43).",
        ),
        ("/ui/reports/abc.csv", &lan, "“abc” không phải là một kỳ báo cáo"),
        ("/ui/reports/2026-W54?lang=en", &nam, "“2026-W54” is not a report period"),
        ("/ui/reports/2020-01", &lan, "Không có dữ liệu cho kỳ 2020-01."),
        ("/ui/reports/2999-01.csv", &nam, "There is no data for 2999-01."),
    ];
    for (uri, who, want) in cases {
        let (status, headers, text) = get(&web, uri, who).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(text.contains(want), "{uri}: {want}\nnot in\n{text}");
        assert!(text.contains(r#"<a href="/ui/reports" aria-current="page">"#), "{uri}: in the console's layout");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8", "{uri}");
    }
    // A site without data: no report either.
    let (status, _, _) = get(&web, "/ui/reports/2026-10.csv?site=dn", &lan).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_trends_the_page_says_there_are_no_reports() {
    let dir = tempfile::tempdir().unwrap();
    let web = web(&dir);
    let (lan, _) = session_of(&web, "lan");
    let (status, _, text) = get(&web, "/ui/reports", &lan).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("Collector chưa lưu dữ liệu theo giờ (mục trends: trong cấu hình), nên chưa có báo cáo nào.")
    );
    // Not logged in: to the login page, and back here after it.
    let (status, headers, _) = get(&web, "/ui/reports/2026-10", "").await;
    assert_eq!(
        (status, headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/ui/login?next=%2Fui%2Freports%2F2026-10")
    );
}
