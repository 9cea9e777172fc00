//! The audit page: admins only (a refusal audited), the records' cells in
//! each language, the filters, the pages of 100.

use axum::http::StatusCode;

use super::*;
use crate::audit::Event;
use crate::web::tests::{actions, get, session_of, web, web_with};

/// 2026-11-22 14:05 in Hanoi.
const AT_MS: i64 = 1_795_331_100_000;

fn hanoi() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
}

fn record(id: i64, actor: &str, action: &str, refused: bool) -> Record {
    Record {
        id,
        at_ms: AT_MS,
        actor: actor.into(),
        role: if actor == "nam" { "operator" } else { "-" }.into(),
        source: "10.1.2.3".into(),
        action: action.into(),
        target: "fp-<b>1</b>".into(),
        comment: "nam: đang xử lý".into(),
        outcome: if refused { "refused" } else { "ok" }.into(),
        origin: String::new(),
    }
}

/// The cells of the row of record `id`, tags stripped.
fn cells(html: &str, id: i64) -> Vec<String> {
    let start = html.find(&format!("data-id=\"{id}\"")).unwrap();
    let row = &html[start..html[start..].find("</tr>").unwrap() + start];
    row.split("<td").skip(1).map(|c| c[c.find('>').unwrap() + 1..].replace("</td>", "")).collect()
}

#[test]
fn each_record_says_who_when_where_what_and_whether_it_was_refused_in_both_languages() {
    let rows = [record(2, "nam", "ack", false), record(1, "(unknown 0a1b2c3d4e5f)", "web_login_failed", true)];
    let vi = body(Lang::Vi, &hanoi(), &Params::default(), &rows).into_string();
    assert_eq!(
        cells(&vi, 2),
        [
            "22/11/2026 14:05",
            "nam",
            "operator",
            "10.1.2.3",
            "ack",
            "fp-&lt;b&gt;1&lt;/b&gt;",
            "nam: đang xử lý",
            "Đã thực hiện"
        ]
    );
    assert_eq!(cells(&vi, 1)[7], "Bị từ chối");
    assert!(vi.contains(r#"<tr class="refused" data-id="1" data-action="web_login_failed">"#), "{vi}");
    assert!(!vi.contains("class=\"pager\""), "one page: no pager");
    let en = body(Lang::En, &hanoi(), &Params::default(), &rows).into_string();
    assert_eq!(cells(&en, 2)[0], "22 Nov 2026 14:05");
    assert_eq!((cells(&en, 2)[7].as_str(), cells(&en, 1)[7].as_str()), ("Done", "Refused"));
    let none = body(Lang::En, &hanoi(), &Params::default(), &[]).into_string();
    assert!(none.contains(r#"<p class="quiet">No record matches the filter.</p>"#), "{none}");
}

#[test]
fn the_form_reads_back_as_the_logs_filter_with_days_in_the_sites_zone() {
    let p = Params {
        actor: " nam ".into(),
        action: "ack".into(),
        q: "UPS".into(),
        from: "2026-11-22".into(),
        to: "2026-11-22".into(),
        refused: "1".into(),
        before: "120".into(),
    };
    let f = p.filter(&hanoi()).unwrap();
    // 22/11 00:00 in Hanoi is 21/11 17:00 UTC; the day ends at the next midnight.
    let midnight = 1_795_280_400_000;
    assert_eq!(
        (f.actor, f.action, f.text, f.outcome, f.before_id, f.since_ms, f.until_ms, f.limit),
        (
            Some("nam".into()),
            Some("ack".into()),
            Some("UPS".into()),
            Some("refused".into()),
            Some(120),
            Some(midnight),
            Some(midnight + 86_400_000),
            Some(PAGE + 1)
        )
    );
    assert_eq!(Params { from: "22/11/2026".into(), ..Params::default() }.filter(&hanoi()).unwrap_err(), "22/11/2026");
    assert_eq!(
        p.href(Some(7)),
        "/ui/audit?actor=+nam+&action=ack&q=UPS&from=2026-11-22&to=2026-11-22&refused=1&before=7"
    );
}

fn admin_web(dir: &tempfile::TempDir) -> Arc<Web> {
    let web = web(dir);
    web.users.add("minh", Role::Admin, "mật-khẩu-của-minh", None, 1_000).unwrap();
    web
}

fn log(web: &Web) -> &crate::audit::Audit {
    web.app.audit.as_ref().unwrap()
}

#[tokio::test]
async fn a_viewer_or_an_operator_is_refused_403_and_the_refusal_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let web = admin_web(&dir);
    let (lan, _) = session_of(&web, "lan");
    let (nam, _) = session_of(&web, "nam");
    let (status, _, text) = get(&web, "/ui/audit", &lan).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("Thao tác này cần vai trò admin."), "{text}");
    assert!(!text.contains("<table"), "no record shown: {text}");
    let (status, _, text) = get(&web, "/ui/audit?actor=lan", &nam).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("This needs the role admin."), "{text}");
    let rows = log(&web).query(&crate::audit::Filter::default()).unwrap();
    let got: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .rev()
        .map(|r| (r.actor.as_str(), r.action.as_str(), r.target.as_str(), r.comment.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("lan", "web_forbidden", "GET /ui/audit", "needs role admin", "refused"),
            ("nam", "web_forbidden", "GET /ui/audit", "needs role admin", "refused"),
        ]
    );
    // Not logged in: to the login page, nothing audited.
    let (status, _, _) = get(&web, "/ui/audit", "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(actions(&web).len(), 2);
}

#[tokio::test]
async fn an_admin_filters_by_actor_and_refusals_and_pages_back_100_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let web = admin_web(&dir);
    let (minh, _) = session_of(&web, "minh");
    let ev = |actor: &'static str, action: &'static str, refused: bool| Event {
        actor,
        role: "operator",
        source: None,
        action,
        target: "x",
        comment: "",
        refused,
    };
    // 150 of nam's acks, then lan's refused login; ids 1…151.
    for i in 0..150 {
        log(&web).record_at(&ev("nam", "ack", false), AT_MS + i);
    }
    log(&web).record_at(&ev("lan", "web_login_failed", true), AT_MS + 200);
    let ids = |html: &str| -> Vec<i64> {
        html.match_indices("data-id=\"")
            .map(|(i, _)| html[i + 9..].split('"').next().unwrap().parse().unwrap())
            .collect()
    };
    let (status, _, first) = get(&web, "/ui/audit", &minh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&first), (52..=151).rev().collect::<Vec<_>>(), "newest first, 100 of them");
    assert!(first.contains(r#"<a class="older" href="/ui/audit?before=52" rel="next">Cũ hơn →</a>"#), "{first}");
    let (_, _, second) = get(&web, "/ui/audit?before=52", &minh).await;
    assert_eq!(ids(&second), (1..=51).rev().collect::<Vec<_>>());
    assert!(second.contains(r#"<a class="newest" href="/ui/audit">← Mới nhất</a>"#), "{second}");
    assert!(!second.contains("class=\"older\""), "{second}");

    let (_, _, refused) = get(&web, "/ui/audit?refused=1", &minh).await;
    assert_eq!(ids(&refused), [151]);
    assert!(refused.contains(r#"<input type="checkbox" name="refused" value="1" checked>"#), "{refused}");
    let (_, _, lan) = get(&web, "/ui/audit?actor=lan&q=LOGIN", &minh).await;
    assert_eq!(ids(&lan), [151]);
    let (_, _, nobody) = get(&web, "/ui/audit?actor=lan&action=ack", &minh).await;
    assert_eq!(ids(&nobody), Vec::<i64>::new());
    // The log's time is 22/11/2026 07:05 UTC (the test console's zone).
    let (_, _, day) = get(&web, "/ui/audit?from=2026-11-22&to=2026-11-22&refused=1", &minh).await;
    assert_eq!(ids(&day), [151]);
    let (_, _, before_day) = get(&web, "/ui/audit?to=2026-11-21", &minh).await;
    assert_eq!(ids(&before_day), Vec::<i64>::new());
    let (status, _, bad) = get(&web, "/ui/audit?from=hôm+qua", &minh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("Không hiểu ngày “hôm qua”: hãy viết năm-tháng-ngày, ví dụ 2026-11-22."), "{bad}");
}

#[tokio::test]
async fn without_an_audit_log_the_page_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_with(&dir, |s| s.audit = None);
    web.users.add("minh", Role::Admin, "mật-khẩu-của-minh", None, 1_000).unwrap();
    let (minh, _) = session_of(&web, "minh");
    let (status, _, text) = get(&web, "/ui/audit", &minh).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("Collector này không mở nhật ký thao tác (audit.db)."), "{text}");
}
