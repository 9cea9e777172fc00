//! The audit page (`/ui/audit`, admins only): the audit log newest first —
//! who, with which role, when (in the site's zone), from which address,
//! what to what, the comment, and whether it was refused — filtered by
//! actor, action, text, days and refusals, 100 records a page with a link
//! to the older ones. Read-only. A viewer or operator who opens it is
//! refused 403 and the refusal is audited, as [`super::authorize`] does.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Caller, Web, layout, require_role, viewer};
use crate::api::access::Client;
use crate::audit::{Filter, Record};
use crate::auth::Role;
use crate::i18n::Lang;

/// The nav entry of the page.
const NAV: usize = 6;

/// Records a page.
pub const PAGE: usize = 100;

/// The actions the log holds (docs/security.md, docs/web.md), offered as
/// the action filter's suggestions.
const ACTIONS: &[&str] = &[
    "ack",
    "unack",
    "silence_create",
    "silence_end",
    "config_reload",
    "web_login",
    "web_logout",
    "web_login_failed",
    "web_login_limited",
    "web_csrf_refused",
    "web_forbidden",
    "user_add",
    "user_passwd",
    "user_disable",
    "api_auth_failed",
    "api_forbidden",
    "ingest_auth_failed",
    "ingest_forbidden",
    "ingest_line_refused",
    "telegram_refused",
];

/// The filter form's fields, as the query string gives them (empty: any).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Params {
    pub actor: String,
    pub action: String,
    pub q: String,
    /// Days `YYYY-MM-DD` in the site's zone, both included.
    pub from: String,
    pub to: String,
    /// `1`: refused records only.
    pub refused: String,
    /// The id the page starts below (the "older" link).
    pub before: String,
}

fn some(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The start of `day` (`YYYY-MM-DD`, plus `days`) in `tz`, in ms; Err: the day as given.
fn day_start(day: &str, days: i64, tz: &jiff::tz::TimeZone) -> Result<i64, String> {
    let d: jiff::civil::Date = day.trim().parse().map_err(|_| day.to_string())?;
    let d = d.checked_add(jiff::Span::new().days(days)).map_err(|_| day.to_string())?;
    d.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond()).map_err(|_| day.to_string())
}

impl Params {
    /// The log's filter, one record more than a page (to know whether
    /// there are older ones); Err: a day that is not a date, as given.
    pub fn filter(&self, tz: &jiff::tz::TimeZone) -> Result<Filter, String> {
        let since_ms = some(&self.from).map(|d| day_start(&d, 0, tz)).transpose()?;
        let until_ms = some(&self.to).map(|d| day_start(&d, 1, tz)).transpose()?;
        Ok(Filter {
            actor: some(&self.actor),
            action: some(&self.action),
            source: None,
            since_ms,
            until_ms,
            text: some(&self.q),
            outcome: (self.refused == "1").then(|| "refused".to_string()),
            before_id: self.before.trim().parse().ok(),
            limit: Some(PAGE + 1),
        })
    }

    /// The page's address with these filters, starting below `before`.
    fn href(&self, before: Option<i64>) -> String {
        let p = Params { before: before.map(|b| b.to_string()).unwrap_or_default(), ..self.clone() };
        let pairs: Vec<(&str, &str)> = [
            ("actor", &p.actor),
            ("action", &p.action),
            ("q", &p.q),
            ("from", &p.from),
            ("to", &p.to),
            ("refused", &p.refused),
            ("before", &p.before),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.as_str()))
        .collect();
        let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if q.is_empty() { "/ui/audit".to_string() } else { format!("/ui/audit?{q}") }
    }
}

fn notice(web: &Web, caller: &Caller, status: StatusCode, text: &str) -> Response {
    let title = caller.lang.web().nav[NAV];
    let body = html! { h1 { (title) } p.notice.error[status != StatusCode::OK] { (text) } };
    (status, layout::still_page(web, caller.lang, caller, NAV, title, body)).into_response()
}

/// `GET /ui/audit?actor=&action=&q=&from=&to=&refused=1&before=` (admin).
pub async fn page(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if let Err(r) = require_role(&web, &caller, client, Role::Admin, "GET /ui/audit") {
        return *r;
    }
    let a = caller.lang.web_audit();
    let Some(log) = web.app.audit.clone() else { return notice(&web, &caller, StatusCode::OK, a.no_audit) };
    let f = match p.filter(&web.tz) {
        Ok(f) => f,
        Err(day) => return notice(&web, &caller, StatusCode::BAD_REQUEST, &(a.bad_date)(&day)),
    };
    let rows = match tokio::task::spawn_blocking(move || log.query(&f)).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the console cannot read the audit log");
            return notice(&web, &caller, StatusCode::INTERNAL_SERVER_ERROR, a.read_failed);
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let body = body(caller.lang, &web.tz, &p, &rows);
    layout::still_page(&web, caller.lang, &caller, NAV, caller.lang.web().nav[NAV], body).into_response()
}

/// The page of `rows` (up to [`PAGE`] + 1: one more says there are older ones).
pub fn body(lang: Lang, tz: &jiff::tz::TimeZone, p: &Params, rows: &[Record]) -> Markup {
    let t = lang.web();
    let a = lang.web_audit();
    let shown = &rows[..rows.len().min(PAGE)];
    let older = (rows.len() > PAGE).then(|| shown.last().map(|r| r.id)).flatten();
    html! {
        h1 { (t.nav[NAV]) }
        form.filters method="get" action="/ui/audit" {
            label { span { (a.actor) } input type="text" name="actor" value=(p.actor); }
            label { span { (a.action) } input type="text" name="action" value=(p.action) list="audit-actions"; }
            datalist #audit-actions { @for x in ACTIONS { option value=(x); } }
            label { span { (a.text) } input type="search" name="q" value=(p.q); }
            label { span { (a.from) } input type="date" name="from" value=(p.from); }
            label { span { (a.to) } input type="date" name="to" value=(p.to); }
            label.check { input type="checkbox" name="refused" value="1" checked[p.refused == "1"]; span { (a.refused_only) } }
            button type="submit" { (t.filter) }
        }
        @if shown.is_empty() {
            p.quiet { (a.none) }
        } @else {
            div.table {
                table.audit {
                    thead {
                        tr {
                            th { (a.col_when) } th { (a.col_actor) } th { (a.col_role) } th { (a.col_source) }
                            th { (a.col_action) } th { (a.col_target) } th { (a.col_comment) } th { (a.col_outcome) }
                        }
                    }
                    tbody {
                        @for r in shown {
                            @let refused = r.outcome == "refused";
                            tr.refused[refused] data-id=(r.id) data-action=(r.action) {
                                td.when data-label=(a.col_when) { (lang.time(r.at_ms, tz)) }
                                td.actor data-label=(a.col_actor) { (r.actor) }
                                td.role data-label=(a.col_role) { (r.role) }
                                td.source data-label=(a.col_source) {
                                    (r.source)
                                    @if !r.origin.is_empty() { " " small.origin { ((a.at_peer)(&r.origin)) } }
                                }
                                td.action data-label=(a.col_action) { (r.action) }
                                td.target data-label=(a.col_target) { (r.target) }
                                td.comment data-label=(a.col_comment) { (r.comment) }
                                td.outcome data-label=(a.col_outcome) { (if refused { a.refused } else { a.ok }) }
                            }
                        }
                    }
                }
            }
        }
        @if older.is_some() || !p.before.is_empty() {
            p.pager {
                @if !p.before.is_empty() { a.newest href=(p.href(None)) { (a.newest) } " " }
                @if let Some(id) = older { a.older href=(p.href(Some(id))) rel="next" { (a.older) } }
            }
        }
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
