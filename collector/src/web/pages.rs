//! The pages built so far: the overview (each site and its firing alarms
//! by severity, from the engine), the wall display, the language switch,
//! acknowledging an alarm, and the places of the pages still to come.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::{Caller, Web, authorize, layout, viewer};
use crate::alarm::config::Severity;
use crate::alarm::store::State as AlarmState;
use crate::api::access::Client;
use crate::audit::Event;
use crate::auth::Role;
use crate::i18n::Lang;

type Fields = HashMap<String, String>;

/// Firing alarms per site (None: labels without `site`) and severity.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SiteCounts {
    /// [critical, warning, info]
    pub by_site: BTreeMap<Option<String>, [usize; 3]>,
}

fn slot(s: Severity) -> usize {
    match s {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

/// The configured sites (each listed, even with nothing firing) and what fires.
pub fn counts(sites: &[String], alarms: &[crate::alarm::store::Alarm]) -> SiteCounts {
    let mut by_site: BTreeMap<Option<String>, [usize; 3]> = sites.iter().map(|s| (Some(s.clone()), [0; 3])).collect();
    for a in alarms.iter().filter(|a| a.state == AlarmState::Firing) {
        by_site.entry(a.labels.get("site").cloned()).or_default()[slot(a.severity)] += 1;
    }
    SiteCounts { by_site }
}

/// The overview's body, for the logged-in page and the wall display.
async fn overview_body(web: &Web, lang: Lang) -> Markup {
    let t = lang.web();
    let now = crate::alarm::now_ms();
    let counts = match web.app.alarms.clone() {
        None => None,
        Some(e) => {
            let read = tokio::task::spawn_blocking(move || {
                let sites: Vec<String> = e.config().sites.iter().map(|s| s.name.clone()).collect();
                counts(&sites, &e.alarms())
            });
            read.await.ok()
        }
    };
    let words = [("critical", t.critical), ("warning", t.warning), ("info", t.info)];
    html! {
        h1 { (t.overview) }
        @match &counts {
            None => p.notice { (t.alarms_off) },
            Some(c) => {
                section.sites aria-label=(t.sites) {
                    @for (site, n) in &c.by_site {
                        article.site {
                            h2 { (site.as_deref().unwrap_or(t.no_site)) }
                            h3.sr { (t.firing_alarms) }
                            @if n.iter().all(|x| *x == 0) {
                                p.quiet { (t.all_quiet) }
                            } @else {
                                ul.counts {
                                    @for (i, (class, word)) in words.iter().enumerate() {
                                        li.(class).zero[n[i] == 0] {
                                            (word) ": " strong { (n[i]) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.updated { ((t.updated_at)(&lang.time(now, &web.tz))) }
    }
}

pub async fn overview(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let body = overview_body(&web, caller.lang).await;
    layout::page(&web, caller.lang, Some(&caller), Some(0), caller.lang.web().overview, body).into_response()
}

/// `GET /ui/wall`: the overview without login, read-only, refreshed every
/// 30 s without JavaScript, for the addresses of `web.wall.allow_from`
/// only (none configured: off, 404).
pub async fn wall(State(web): State<Arc<Web>>, client: Client, headers: HeaderMap) -> Response {
    let lang = super::lang_of(&headers);
    let t = lang.web();
    if web.wall.is_empty() {
        return layout::message_in(&web, lang, None, StatusCode::NOT_FOUND, t.not_found, t.not_found);
    }
    if !client.0.is_some_and(|ip| web.wall.iter().any(|b| b.contains(ip))) {
        return layout::message_in(&web, lang, None, StatusCode::FORBIDDEN, t.forbidden_title, t.wall_refused);
    }
    let body = overview_body(&web, lang).await;
    let page = layout::page(&web, lang, None, None, t.wall_title, body);
    ([("Refresh", "30")], page).into_response()
}

/// `POST /ui/lang`: the language the console speaks to this user from now on.
pub async fn set_lang(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let caller =
        match authorize(&web, &headers, client, f.get("csrf").map(String::as_str), Role::Viewer, "POST /ui/lang") {
            Ok(c) => c,
            Err(r) => return *r,
        };
    let lang = f.get("lang").and_then(|l| Lang::parse(l).ok());
    if let Err(e) = web.users.set_lang(&caller.user.name, lang, crate::alarm::now_ms()) {
        tracing::error!(error = %e, "cannot save the user's language");
    }
    Redirect::to("/ui/").into_response()
}

/// `POST /ui/alarms/{fingerprint}/ack` (operator): acknowledges an alarm
/// with the form's comment, audited as the API's `ack` is.
pub async fn ack(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Path(fp): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let what = "POST /ui/alarms/{fingerprint}/ack";
    let caller = match authorize(&web, &headers, client, f.get("csrf").map(String::as_str), Role::Operator, what) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let t = caller.lang.web();
    let Some(engine) = web.app.alarms.clone() else {
        return layout::message(&web, Some(&caller), StatusCode::NOT_FOUND, t.not_found, t.alarms_off);
    };
    let comment = match crate::audit::checked_text("comment", f.get("comment").map_or("", String::as_str)) {
        Ok(c) => c,
        Err(e) => return layout::message(&web, Some(&caller), StatusCode::BAD_REQUEST, t.forbidden_title, &e),
    };
    let (w, c) = (web.clone(), caller.clone());
    let done = tokio::task::spawn_blocking(move || {
        let a = engine.ack(&fp, &c.user.name, &comment)?;
        w.audit(&Event {
            actor: &c.user.name,
            role: c.user.role.as_str(),
            source: client.0,
            action: "ack",
            target: &fp,
            comment: &format!("{}: {comment}", c.user.name),
            refused: false,
        });
        Ok::<_, String>(a)
    });
    match done.await {
        Ok(Ok(_)) => layout::message(&web, Some(&caller), StatusCode::OK, t.acked, t.acked),
        Ok(Err(_)) => layout::message(&web, Some(&caller), StatusCode::NOT_FOUND, t.not_found, t.alarm_unknown),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The nav's pages not built yet: said so, in the layout.
pub async fn later(State(web): State<Arc<Web>>, headers: HeaderMap, Path(page): Path<String>) -> Response {
    let Some(i) = layout::NAV.iter().position(|p| p.strip_prefix("/ui/") == Some(page.as_str())) else {
        return not_found(State(web), headers).await;
    };
    let caller: Caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let t = caller.lang.web();
    let body = html! { h1 { (t.nav[i]) } p.notice { (t.coming) } };
    layout::page(&web, caller.lang, Some(&caller), Some(i), t.nav[i], body).into_response()
}

pub async fn not_found(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let caller = super::current(&web, &headers, std::time::Instant::now());
    let lang = caller.as_ref().map_or_else(|| super::lang_of(&headers), |c| c.lang);
    let t = lang.web();
    layout::message_in(&web, lang, caller.as_ref(), StatusCode::NOT_FOUND, t.not_found, t.not_found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::store::Alarm;

    fn alarm(site: Option<&str>, severity: Severity, state: AlarmState) -> Alarm {
        Alarm {
            fingerprint: "f".into(),
            name: "feed_lost".into(),
            labels: site.map(|s| ("site".to_string(), s.to_string())).into_iter().collect(),
            severity,
            state,
            summary: crate::i18n::alarms::Texts { vi: String::new(), en: String::new() },
            value: None,
            since_ms: 0,
            fired_ms: None,
            sent_ms: None,
            ack: None,
            inhibited_by: None,
            escalated_ms: None,
            silenced_by: None,
        }
    }

    #[test]
    fn web_the_overview_counts_firing_alarms_per_site_and_severity_and_lists_quiet_sites() {
        let alarms = [
            alarm(Some("hn"), Severity::Critical, AlarmState::Firing),
            alarm(Some("hn"), Severity::Critical, AlarmState::Firing),
            alarm(Some("hn"), Severity::Warning, AlarmState::Firing),
            alarm(Some("hn"), Severity::Info, AlarmState::Pending),
            alarm(None, Severity::Info, AlarmState::Firing),
        ];
        let c = counts(&["hn".into(), "hcm".into()], &alarms);
        let want: BTreeMap<Option<String>, [usize; 3]> =
            [(None, [0, 0, 1]), (Some("hcm".into()), [0, 0, 0]), (Some("hn".into()), [2, 1, 0])].into_iter().collect();
        assert_eq!(c.by_site, want);
    }
}
