//! The alarms pages: the list with its filters (site, severity, state,
//! text) and bulk acknowledgement, one alarm with its timeline, what it
//! inhibits or is inhibited by, and the forms to acknowledge and silence
//! it; the silences in force and ending one; the history with search.
//! Every action goes through [`super::authorize`] and is audited as the
//! API's is (`ack`, `silence_create`, `silence_end`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::{Caller, Web, authorize, layout, viewer};
use crate::alarm::config::Severity;
use crate::alarm::store::{Alarm, HistoryQuery, Silence, State as AlarmState, StoreError};
use crate::alarm::{ActionError, Engine};
use crate::api::access::Client;
use crate::audit::Event;
use crate::auth::Role;
use crate::i18n::Lang;
use crate::i18n::web::Text;

type Fields = Vec<(String, String)>;

/// The nav entry of these pages.
const NAV: usize = 1;

/// What an alarm is doing, as the list shows and filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Firing,
    Pending,
    Acked,
    Silenced,
    Inhibited,
}

impl Shown {
    pub const ALL: [Shown; 5] = [Shown::Firing, Shown::Pending, Shown::Acked, Shown::Silenced, Shown::Inhibited];

    pub fn of(a: &Alarm) -> Shown {
        if a.silenced_by.is_some() {
            Shown::Silenced
        } else if a.inhibited_by.is_some() {
            Shown::Inhibited
        } else if a.ack.is_some() {
            Shown::Acked
        } else if a.state == AlarmState::Pending {
            Shown::Pending
        } else {
            Shown::Firing
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Shown::Firing => "firing",
            Shown::Pending => "pending",
            Shown::Acked => "acked",
            Shown::Silenced => "silenced",
            Shown::Inhibited => "inhibited",
        }
    }

    pub fn word(self, t: &Text) -> &'static str {
        match self {
            Shown::Firing => t.state_firing,
            Shown::Pending => t.state_pending,
            Shown::Acked => t.state_acked,
            Shown::Silenced => t.state_silenced,
            Shown::Inhibited => t.state_inhibited,
        }
    }
}

pub fn severity_word(t: &Text, s: Severity) -> &'static str {
    match s {
        Severity::Critical => t.critical,
        Severity::Warning => t.warning,
        Severity::Info => t.info,
    }
}

/// The list's filters, from the query string; empty: any.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Filter {
    pub site: String,
    pub severity: String,
    pub state: String,
    pub q: String,
    /// What the last action did (`acked-3`, `silenced`, `ended`, `none`).
    pub done: String,
}

impl Filter {
    pub fn keeps(&self, a: &Alarm) -> bool {
        let site = a.labels.get("site").map_or("", String::as_str);
        let q = self.q.trim().to_lowercase();
        (self.site.is_empty() || self.site == site)
            && (self.severity.is_empty() || self.severity == a.severity.as_str())
            && (self.state.is_empty() || self.state == Shown::of(a).code())
            && (q.is_empty()
                || a.name.to_lowercase().contains(&q)
                || a.summary.vi.to_lowercase().contains(&q)
                || a.summary.en.to_lowercase().contains(&q)
                || a.labels.values().any(|v| v.to_lowercase().contains(&q)))
    }
}

fn engine_of(web: &Web, caller: &Caller) -> Result<Arc<Engine>, Box<Response>> {
    let t = caller.lang.web();
    web.app
        .alarms
        .clone()
        .ok_or_else(|| Box::new(layout::message(web, Some(caller), StatusCode::NOT_FOUND, t.not_found, t.alarms_off)))
}

/// The operator of an alarm action (checked and audited by [`authorize`])
/// and the engine it acts on.
fn operator(
    web: &Web,
    headers: &HeaderMap,
    client: Client,
    f: &Fields,
    what: &str,
) -> Result<(Caller, Arc<Engine>), Box<Response>> {
    let caller = authorize(web, headers, client, field(f, "csrf"), Role::Operator, what)?;
    let engine = engine_of(web, &caller)?;
    Ok((caller, engine))
}

/// The alarms store cannot be read: said so (500), and logged.
fn store_failed(web: &Web, caller: &Caller, e: &StoreError) -> Response {
    tracing::error!(error = %dcwatch_common::error_chain(e), "the console cannot read the alarm history");
    let t = caller.lang.web();
    layout::message(web, Some(caller), StatusCode::INTERNAL_SERVER_ERROR, t.history, &e.to_string())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

fn done_text(t: &Text, done: &str) -> Option<String> {
    match done {
        "silenced" => Some(t.silenced_done.to_string()),
        "ended" => Some(t.silence_ended.to_string()),
        "none" => Some(t.nothing_selected.to_string()),
        d => d.strip_prefix("acked-").and_then(|n| n.parse().ok()).map(t.acked_n),
    }
}

pub(super) fn select(name: &str, label: &str, any: &str, chosen: &str, options: &[(String, String)]) -> Markup {
    html! {
        label {
            span { (label) }
            select name=(name) {
                option value="" selected[chosen.is_empty()] { (any) }
                @for (value, word) in options {
                    option value=(value) selected[chosen == value] { (word) }
                }
            }
        }
    }
}

/// `GET /ui/alarms`: the alarms pending or firing, filtered; the silences in force.
pub async fn list(State(web): State<Arc<Web>>, headers: HeaderMap, Query(f): Query<Filter>) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let engine = match engine_of(&web, &caller) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let Some((alarms, silences, sites)) = blocking(move || {
        let sites: Vec<String> = engine.config().sites.iter().map(|s| s.name.clone()).collect();
        (engine.alarms(), engine.silences(), sites)
    })
    .await
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let body = list_body(&web, &caller, &f, &alarms, &silences, &sites);
    layout::page(&web, caller.lang, Some(&caller), Some(NAV), caller.lang.web().nav[NAV], body).into_response()
}

fn list_body(
    web: &Web,
    caller: &Caller,
    f: &Filter,
    alarms: &[Alarm],
    silences: &[Silence],
    sites: &[String],
) -> Markup {
    let lang = caller.lang;
    let t = lang.web();
    let operator = caller.user.role >= Role::Operator;
    let shown: Vec<&Alarm> = alarms.iter().filter(|a| f.keeps(a)).collect();
    let now = crate::alarm::now_ms();
    let sites: Vec<(String, String)> = sites.iter().map(|s| (s.clone(), s.clone())).collect();
    let severities: Vec<(String, String)> = [Severity::Critical, Severity::Warning, Severity::Info]
        .iter()
        .map(|s| (s.as_str().to_string(), severity_word(t, *s).to_string()))
        .collect();
    let states: Vec<(String, String)> =
        Shown::ALL.iter().map(|s| (s.code().to_string(), s.word(t).to_string())).collect();
    let active: Vec<&Silence> = silences.iter().filter(|s| s.ends_ms > now).collect();
    html! {
        h1 { (t.nav[NAV]) }
        @if let Some(d) = done_text(t, &f.done) { p.notice role="status" { (d) } }
        form.filters method="get" action="/ui/alarms" {
            (select("site", t.filter_site, t.any, &f.site, &sites))
            (select("severity", t.filter_severity, t.any, &f.severity, &severities))
            (select("state", t.filter_state, t.any, &f.state, &states))
            label { span { (t.filter_text) } input type="search" name="q" value=(f.q); }
            button type="submit" { (t.filter) }
        }
        @if shown.is_empty() {
            p.quiet { (t.no_alarms_match) }
        } @else {
            form.alarms method="post" action="/ui/alarms/ack" {
                @if operator { input type="hidden" name="csrf" value=(caller.session.csrf); }
                div.table {
                    table {
                        thead {
                            tr {
                                @if operator { th { span.sr { (t.ack) } } }
                                th { (t.col_alarm) } th { (t.col_site) } th { (t.filter_severity) }
                                th { (t.col_state) } th { (t.col_since) } th { (t.col_summary) }
                            }
                        }
                        tbody {
                            @for a in &shown {
                                @let s = Shown::of(a);
                                tr.(a.severity.as_str()) data-fingerprint=(a.fingerprint) data-state=(s.code()) {
                                    @if operator {
                                        td { input type="checkbox" name="fp" value=(a.fingerprint) aria-label=(a.name); }
                                    }
                                    td { a href=(format!("/ui/alarms/{}", a.fingerprint)) { (a.name) } }
                                    td { (a.labels.get("site").map_or("", String::as_str)) }
                                    td.severity { (severity_word(t, a.severity)) }
                                    td.state {
                                        (s.word(t))
                                        @if let Some(ack) = &a.ack {
                                            br; small { ((t.acked_by)(&ack.by, &lang.time(ack.at_ms, &web.tz))) }
                                        }
                                    }
                                    td { (lang.time(a.since_ms, &web.tz)) }
                                    td { (a.summary.get(lang)) }
                                }
                            }
                        }
                    }
                }
                @if operator {
                    div.bulk {
                        label { span { (t.comment) } input type="text" name="comment" maxlength="1000"; }
                        button.primary type="submit" { (t.ack_selected) }
                    }
                }
            }
        }
        h2 { (t.silences) }
        (silence_list(web, caller, &active))
        p { a href="/ui/alarms/history" { (t.history) } }
    }
}

fn silence_list(web: &Web, caller: &Caller, active: &[&Silence]) -> Markup {
    let lang = caller.lang;
    let t = lang.web();
    html! {
        @if active.is_empty() {
            p.quiet { (t.no_silences) }
        } @else {
            ul.silences {
                @for s in active {
                    li data-silence=(s.id) {
                        code { (s.matchers.raw().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")) }
                        " — " ((t.silence_line)(&s.author, &lang.time(s.ends_ms, &web.tz), &s.reason))
                        @if caller.user.role >= Role::Operator {
                            form.inline method="post" action=(format!("/ui/silences/{}/end", s.id)) {
                                input type="hidden" name="csrf" value=(caller.session.csrf);
                                button type="submit" { (t.end_silence) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn field<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn audit(web: &Web, c: &Caller, client: Client, action: &str, target: &str, comment: &str) {
    web.audit(&Event {
        actor: &c.user.name,
        role: c.user.role.as_str(),
        source: client.0,
        action,
        target,
        comment,
        refused: false,
    });
}

/// The form's `comment`, checked as the audit log takes it (else a 400 page).
fn comment_of(web: &Web, caller: &Caller, f: &Fields) -> Result<String, Box<Response>> {
    let t = caller.lang.web();
    checked(t, t.comment, field(f, "comment").unwrap_or(""))
        .map_err(|e| Box::new(layout::message(web, Some(caller), StatusCode::BAD_REQUEST, t.forbidden_title, &e)))
}

/// A person's text for the audit log (see `audit::checked_text`), or why
/// not in the reader's words; `word` names the field.
fn checked(t: &Text, word: &str, text: &str) -> Result<String, String> {
    crate::audit::checked_text(word, text).map_err(|e| (t.text_too_long)(word, e.chars, crate::audit::MAX_TEXT_CHARS))
}

/// Acknowledges `fps` with `comment`, each audited as the API's `ack`;
/// how many were acknowledged.
fn ack_all(web: &Web, engine: &Engine, c: &Caller, client: Client, fps: &[String], comment: &str) -> usize {
    let mut n = 0;
    for fp in fps {
        if engine.ack(fp, &c.user.name, comment).is_ok() {
            audit(web, c, client, "ack", fp, &format!("{}: {comment}", c.user.name));
            n += 1;
        }
    }
    n
}

/// `POST /ui/alarms/ack` (operator): acknowledges the checked alarms with one comment.
pub async fn ack_many(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let (caller, engine) = match operator(&web, &headers, client, &f, "POST /ui/alarms/ack") {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let comment = match comment_of(&web, &caller, &f) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let fps: Vec<String> = f.iter().filter(|(k, _)| k == "fp").map(|(_, v)| v.clone()).take(1000).collect();
    if fps.is_empty() {
        return Redirect::to("/ui/alarms?done=none").into_response();
    }
    let w = web.clone();
    let Some(n) = blocking(move || ack_all(&w, &engine, &caller, client, &fps, &comment)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    Redirect::to(&format!("/ui/alarms?done=acked-{n}")).into_response()
}

/// `POST /ui/alarms/{fingerprint}/ack` (operator): acknowledges one alarm
/// with the form's comment, audited as the API's `ack` is.
pub async fn ack(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Path(fp): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let what = "POST /ui/alarms/{fingerprint}/ack";
    let (caller, engine) = match operator(&web, &headers, client, &f, what) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let comment = match comment_of(&web, &caller, &f) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let (w, c, one) = (web.clone(), caller.clone(), vec![fp.clone()]);
    match blocking(move || ack_all(&w, &engine, &c, client, &one, &comment)).await {
        Some(1) => Redirect::to(&format!("/ui/alarms/{fp}")).into_response(),
        Some(_) => {
            let t = caller.lang.web();
            layout::message(&web, Some(&caller), StatusCode::NOT_FOUND, t.not_found, t.alarm_unknown)
        }
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// One history event of an alarm: (at, event, detail).
pub type Event3 = (i64, String, String);

/// An alarm's name and labels.
pub type Named = (String, BTreeMap<String, String>);

/// The events of `fp` in `history` (newest first, as the store gives it),
/// oldest first, with the name and labels the history knows it by.
pub fn timeline_of(history: &[serde_json::Value], fp: &str) -> (Option<Named>, Vec<Event3>) {
    let mut named = None;
    let mut events = Vec::new();
    for h in history.iter().filter(|h| h["fingerprint"] == fp) {
        if named.is_none() {
            let labels = h["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                .unwrap_or_default();
            named = Some((h["name"].as_str().unwrap_or("").to_string(), labels));
        }
        events.push((
            h["at_ms"].as_i64().unwrap_or(0),
            h["event"].as_str().unwrap_or("").to_string(),
            h["detail"].as_str().unwrap_or("").to_string(),
        ));
    }
    events.reverse();
    (named, events)
}

/// How many events an alarm's timeline and the history search show.
const HISTORY_ROWS: usize = 500;

/// `GET /ui/alarms/{fingerprint}`: one alarm (or one that has resolved,
/// from its history).
pub async fn one(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(fp): Path<String>,
    Query(f): Query<Filter>,
) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let engine = match engine_of(&web, &caller) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let t = caller.lang.web();
    let q = HistoryQuery { limit: HISTORY_ROWS, fingerprint: Some(fp.clone()), text: None };
    let Some((alarms, silences, history)) =
        blocking(move || (engine.alarms(), engine.silences(), engine.history_where(&q))).await
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let history = match history {
        Ok(h) => h,
        Err(e) => return store_failed(&web, &caller, &e),
    };
    let (named, events) = timeline_of(&history, &fp);
    let alarm = alarms.iter().find(|a| a.fingerprint == fp);
    let (name, labels) = match (alarm, named) {
        (Some(a), _) => (a.name.clone(), a.labels.clone()),
        (None, Some(n)) => n,
        (None, None) => {
            return layout::message(&web, Some(&caller), StatusCode::NOT_FOUND, t.not_found, t.alarm_unknown);
        }
    };
    let done = done_text(t, &f.done);
    let body = html! {
        @if let Some(d) = done { p.notice role="status" { (d) } }
        (one_body(&web, &caller, &fp, &name, &labels, alarm, &alarms, &silences, &events))
    };
    layout::page(&web, caller.lang, Some(&caller), Some(NAV), &name, body).into_response()
}

/// The silence form's matchers: the alarm's name and every label, one per line.
pub fn matchers_text(name: &str, labels: &BTreeMap<String, String>) -> String {
    let m = crate::alarm::matchers::exact_matchers(name, labels);
    let first = m.get("alertname").map(|v| format!("alertname={v}"));
    first
        .into_iter()
        .chain(m.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[allow(clippy::too_many_arguments)]
fn one_body(
    web: &Web,
    caller: &Caller,
    fp: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    alarm: Option<&Alarm>,
    alarms: &[Alarm],
    silences: &[Silence],
    events: &[Event3],
) -> Markup {
    let lang = caller.lang;
    let t = lang.web();
    let operator = caller.user.role >= Role::Operator;
    let inhibits: Vec<&Alarm> = alarms.iter().filter(|a| a.inhibited_by.as_deref() == Some(fp)).collect();
    let by = alarm.and_then(|a| a.inhibited_by.as_ref()).map(|f| (f, alarms.iter().find(|a| &a.fingerprint == f)));
    let silence = alarm.and_then(|a| a.silenced_by).and_then(|id| silences.iter().find(|s| s.id == id));
    html! {
        h1 { (name) }
        @if let Some(a) = alarm {
            @let s = Shown::of(a);
            p.alarm-state.(a.severity.as_str()) data-state=(s.code()) {
                strong { (severity_word(t, a.severity)) } " · " (s.word(t))
                " · " (t.col_since) " " (lang.time(a.since_ms, &web.tz))
            }
            p.summary { (a.summary.get(lang)) }
            @if let Some(v) = &a.value { p { (t.value) ": " (v) } }
            @if let Some(ack) = &a.ack {
                p.acked { ((t.acked_by)(&ack.by, &lang.time(ack.at_ms, &web.tz))) @if !ack.comment.is_empty() { ": " (ack.comment) } }
            }
        }
        h2 { (t.labels) }
        dl.labels {
            @for (k, v) in labels { dt { (k) } dd { (v) } }
        }
        @if let Some((f, a)) = by {
            p { (t.inhibited_by) ": " a href=(format!("/ui/alarms/{f}")) { (a.map_or(f.as_str(), |a| a.name.as_str())) } }
        }
        @if !inhibits.is_empty() {
            p { (t.inhibits) ": "
                @for (i, a) in inhibits.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(format!("/ui/alarms/{}", a.fingerprint)) { (a.name) }
                }
            }
        }
        @if let Some(s) = silence {
            h2 { (t.state_silenced) }
            (silence_list(web, caller, &[s]))
        }
        @if operator && alarm.is_some() {
            div.actions {
                form.ack method="post" action=(format!("/ui/alarms/{fp}/ack")) {
                    input type="hidden" name="csrf" value=(caller.session.csrf);
                    label { span { (t.comment) } input type="text" name="comment" maxlength="1000"; }
                    button.primary type="submit" { (t.ack) }
                }
                @if silence.is_none() {
                    form.silence method="post" action=(format!("/ui/alarms/{fp}/silence")) {
                        input type="hidden" name="csrf" value=(caller.session.csrf);
                        label { span { (t.matchers) } textarea name="matchers" rows="4" { (matchers_text(name, labels)) } }
                        label {
                            span { (t.silence_for) }
                            select name="hours" {
                                @for h in [1, 2, 4, 8, 24, 72] { option value=(h) selected[h == 1] { (h) " " (t.hours) } }
                            }
                        }
                        label { span { (t.reason) } input type="text" name="reason" required maxlength="1000"; }
                        button type="submit" { (t.silence) }
                    }
                }
            }
        }
        h2 { (t.timeline) }
        (events_table(web, lang, events))
    }
}

fn events_table(web: &Web, lang: Lang, events: &[Event3]) -> Markup {
    let t = lang.web();
    html! {
        div.table {
            table.timeline {
                thead { tr { th { (t.col_when) } th { (t.col_event) } th { (t.col_detail) } } }
                tbody {
                    @for (at, event, detail) in events {
                        tr data-event=(event) { td { (lang.time(*at, &web.tz)) } td { (event) } td { (detail) } }
                    }
                }
            }
        }
    }
}

/// The silence form's matchers: `key=value` per line (blank lines
/// skipped); the number of the first line that is not one.
pub fn parse_matchers(text: &str) -> Result<BTreeMap<String, String>, usize> {
    let mut m = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let Some((k, v)) = line.split_once('=') else { return Err(i + 1) };
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

/// `POST /ui/alarms/{fingerprint}/silence` (operator): a silence with the
/// form's matchers, for `hours`, with a reason; audited as `silence_create`.
pub async fn silence(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Path(fp): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let what = "POST /ui/alarms/{fingerprint}/silence";
    let (caller, engine) = match operator(&web, &headers, client, &f, what) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let t = caller.lang.web();
    let bad = |e: &str| layout::message(&web, Some(&caller), StatusCode::BAD_REQUEST, t.silence, e);
    let reason = match checked(t, t.reason, field(&f, "reason").unwrap_or("").trim()) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => return bad(t.reason_missing),
        Err(e) => return bad(&e),
    };
    let matchers = match parse_matchers(field(&f, "matchers").unwrap_or("")) {
        Ok(m) => m,
        Err(line) => return bad(&(t.matchers_line)(line)),
    };
    let hours: i64 = match field(&f, "hours").and_then(|h| h.parse().ok()) {
        Some(h @ 1..=8784) => h,
        _ => return bad(t.hours_invalid),
    };
    let now = crate::alarm::now_ms();
    let new = crate::alarm::silence::NewSilence {
        matchers,
        starts_ms: now,
        ends_ms: now + hours * 3_600_000,
        author: caller.user.name.clone(),
        reason,
    };
    let (w, c) = (web.clone(), caller.clone());
    let done = blocking(move || {
        let s = engine.add_silence(new, now).map_err(|e| match e {
            ActionError::Refused(r) => crate::i18n::web::silence_refused(c.lang, &r),
            e => e.to_string(),
        })?;
        let comment = format!("{:?} until {}: {}", s.matchers.raw(), s.ends_ms, s.reason);
        audit(&w, &c, client, "silence_create", &s.id.to_string(), &comment);
        Ok::<_, String>(())
    })
    .await;
    match done {
        Some(Ok(())) => Redirect::to(&format!("/ui/alarms/{fp}?done=silenced")).into_response(),
        Some(Err(e)) => bad(&e),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `POST /ui/silences/{id}/end` (operator): ends a silence now; audited as `silence_end`.
pub async fn end_silence(
    State(web): State<Arc<Web>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Response {
    let (caller, engine) = match operator(&web, &headers, client, &f, "POST /ui/silences/{id}/end") {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let t = caller.lang.web();
    let (w, c) = (web.clone(), caller.clone());
    let done = blocking(move || {
        engine.end_silence(id).map_err(|e| e.to_string())?;
        audit(&w, &c, client, "silence_end", &id.to_string(), "");
        Ok::<_, String>(())
    })
    .await;
    match done {
        Some(Ok(())) => Redirect::to("/ui/alarms?done=ended").into_response(),
        Some(Err(_)) => layout::message(&web, Some(&caller), StatusCode::NOT_FOUND, t.not_found, t.no_silences),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /ui/alarms/history?q=`: the history, newest first, searched.
pub async fn history(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let caller = match viewer(&web, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let engine = match engine_of(&web, &caller) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let lang = caller.lang;
    let t = lang.web();
    let needle = q.get("q").map_or(String::new(), |s| s.trim().to_string());
    let query =
        HistoryQuery { limit: HISTORY_ROWS, fingerprint: None, text: Some(needle.clone()).filter(|n| !n.is_empty()) };
    let Some(rows) = blocking(move || engine.history_where(&query)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return store_failed(&web, &caller, &e),
    };
    let body = html! {
        h1 { (t.history) }
        form.filters method="get" action="/ui/alarms/history" {
            label { span { (t.history_search) } input type="search" name="q" value=(needle); }
            button type="submit" { (t.search) }
        }
        div.table {
            table.history {
                thead { tr { th { (t.col_when) } th { (t.col_alarm) } th { (t.col_site) } th { (t.col_event) } th { (t.col_detail) } } }
                tbody {
                    @for h in &rows {
                        tr data-event=(h["event"].as_str().unwrap_or("")) {
                            td { (lang.time(h["at_ms"].as_i64().unwrap_or(0), &web.tz)) }
                            td { a href=(format!("/ui/alarms/{}", h["fingerprint"].as_str().unwrap_or(""))) { (h["name"].as_str().unwrap_or("")) } }
                            td { (h["labels"]["site"].as_str().unwrap_or("")) }
                            td { (h["event"].as_str().unwrap_or("")) }
                            td { (h["detail"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    layout::page(&web, lang, Some(&caller), Some(NAV), t.history, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, site: &str, severity: Severity) -> Alarm {
        let mut a = crate::web::overview::tests::alarm(Some(site), severity, AlarmState::Firing);
        a.fingerprint = format!("fp-{name}");
        a.name = name.into();
        a.summary = crate::i18n::alarms::Texts { vi: "Mất lộ A".into(), en: "Feed A lost".into() };
        a
    }

    #[test]
    fn the_filter_keeps_alarms_by_site_severity_state_and_text() {
        let mut acked = alarm("ups_on_battery", "hn", Severity::Critical);
        acked.ack = Some(crate::alarm::store::Ack { by: "nam".into(), at_ms: 1, comment: String::new() });
        let mut silenced = alarm("feed_lost", "hcm", Severity::Warning);
        silenced.silenced_by = Some(3);
        let alarms = [alarm("feed_lost", "hn", Severity::Warning), acked, silenced];
        let names = |f: Filter| -> Vec<(String, &str)> {
            alarms.iter().filter(|a| f.keeps(a)).map(|a| (a.name.clone(), Shown::of(a).code())).collect()
        };
        let f = |site: &str, severity: &str, state: &str, q: &str| Filter {
            site: site.into(),
            severity: severity.into(),
            state: state.into(),
            q: q.into(),
            done: String::new(),
        };
        assert_eq!(names(f("hn", "", "", "")), [("feed_lost".into(), "firing"), ("ups_on_battery".into(), "acked")]);
        assert_eq!(names(f("", "warning", "", "")), [("feed_lost".into(), "firing"), ("feed_lost".into(), "silenced")]);
        assert_eq!(names(f("", "", "silenced", "")), [("feed_lost".into(), "silenced")]);
        assert_eq!(names(f("", "", "", "BATTERY")), [("ups_on_battery".into(), "acked")]);
        assert_eq!(names(f("", "", "", "lộ a")).len(), 3, "the Vietnamese summary is searched");
        assert_eq!(names(f("dn", "", "", "")), []);
    }

    #[test]
    fn the_silence_form_is_filled_with_the_alarms_name_and_labels_and_reads_back_as_matchers() {
        let labels: BTreeMap<String, String> =
            [("site", "hn"), ("device", "ups1")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let text = matchers_text("ups_on_battery", &labels);
        assert_eq!(text, "alertname=ups_on_battery\ndevice=ups1\nsite=hn");
        let back = parse_matchers(&format!("{text}\n\n")).unwrap();
        let want: BTreeMap<String, String> = [("alertname", "ups_on_battery"), ("device", "ups1"), ("site", "hn")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(back, want);
        assert_eq!(parse_matchers("site=hn\nbroken"), Err(2));
        // A value that starts with `~` is matched as written, not read as a regular expression.
        let odd: BTreeMap<String, String> = [("device".to_string(), "~ups.*".to_string())].into_iter().collect();
        assert_eq!(matchers_text("ups_on_battery", &odd), "alertname=ups_on_battery\ndevice=~\\~ups\\.\\*");
    }

    #[test]
    fn an_alarms_timeline_is_its_history_oldest_first() {
        let h = |fp: &str, at: i64, event: &str| serde_json::json!({"fingerprint": fp, "name": "feed_lost", "labels": {"site": "hn"}, "at_ms": at, "event": event, "detail": "d"});
        let history = [h("a", 30, "resolved"), h("b", 20, "firing"), h("a", 10, "firing")];
        let (named, events) = timeline_of(&history, "a");
        let labels: BTreeMap<String, String> = [("site".to_string(), "hn".to_string())].into_iter().collect();
        assert_eq!(named, Some(("feed_lost".to_string(), labels)));
        assert_eq!(
            events,
            vec![(10, "firing".to_string(), "d".to_string()), (30, "resolved".to_string(), "d".to_string())]
        );
    }
}
