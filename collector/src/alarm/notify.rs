//! Routing notices to receivers, their payloads, and the delivery task that
//! empties the outbox: every notice is retried with backoff (2 s doubling to
//! 5 min) until its receiver takes it; failures are logged, counted in
//! `/metrics` and raise the `notification_failing` self-alarm.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::config::{AlarmsConfig, LimitsConfig, ReceiverConfig};
use super::store::{Alarm, Outgoing};
use super::{Engine, now_ms};
use crate::i18n::Lang;
use crate::i18n::alarms::{self as words, Texts};

/// The receivers an alarm goes to: those of the first route that matches;
/// without routes, every receiver.
pub fn route(cfg: &AlarmsConfig, a: &Alarm) -> Vec<String> {
    if cfg.routes.is_empty() {
        return cfg.receivers.iter().map(|r| r.name.clone()).collect();
    }
    for r in &cfg.routes {
        let sev_ok = r.severity.is_empty() || r.severity.contains(&a.severity);
        let labels_ok = r.labels.iter().all(|(k, v)| a.labels.get(k) == Some(v));
        if sev_ok && labels_ok {
            return r.receivers.clone();
        }
    }
    Vec::new()
}

/// Where and when an unacknowledged alarm is escalated: its route's.
pub fn escalation(cfg: &AlarmsConfig, a: &Alarm) -> Option<(Vec<String>, u64)> {
    let r = cfg.routes.iter().find(|r| {
        (r.severity.is_empty() || r.severity.contains(&a.severity))
            && r.labels.iter().all(|(k, v)| a.labels.get(k) == Some(v))
    })?;
    (!r.escalate_to.is_empty()).then(|| (r.escalate_to.clone(), r.escalate_after_secs))
}

fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, ms.rem_euclid(1000))
}

/// The JSON document of a notice (webhook body; Alertmanager gets its own),
/// its words in `lang`: `summary`, and `started`/`ended`, the times in the
/// site's zone `tz` for people (`started_at`/`ended_at` stay RFC 3339 UTC
/// for machines).
pub fn payload(
    a: &Alarm,
    status: &str,
    now_ms: i64,
    resolved_summary: Option<&Texts>,
    lang: Lang,
    tz: &jiff::tz::TimeZone,
) -> String {
    let resolved = status == "resolved";
    let own = a.summary.get(lang);
    let summary = match status {
        "resolved" => resolved_summary.map_or(own, |t| t.get(lang)).to_string(),
        "flapping" => words::flapping(lang, own),
        "escalated" => words::not_acknowledged(lang, own),
        _ => own.to_string(),
    };
    let started = a.fired_ms.unwrap_or(a.since_ms);
    serde_json::json!({
        "status": if resolved { "resolved" } else { "firing" },
        "notice": status,
        "fingerprint": a.fingerprint,
        "name": a.name,
        "severity": a.severity.as_str(),
        "labels": a.labels,
        "summary": summary,
        "value": a.value,
        "started_at": iso(started),
        "ended_at": if resolved { Some(iso(now_ms)) } else { None },
        "acknowledged_by": a.ack.as_ref().map(|k| k.by.clone()),
        "lang": lang.code(),
        "started": lang.time(started, tz),
        "ended": if resolved { Some(lang.time(now_ms, tz)) } else { None },
    })
    .to_string()
}

/// Per receiver, the notices of the current window: the first
/// `max_notices_per_window` go out one by one, the rest are folded into one
/// summary notice at the window's end, so a storm (thousands of alarms from
/// one bad write) is one message, not thousands.
#[derive(Debug, Default)]
pub struct Storms(std::collections::HashMap<String, Storm>);

#[derive(Debug)]
struct Storm {
    start_ms: i64,
    sent: usize,
    folded: usize,
    resolved: usize,
    /// The most severe folded.
    severity: super::config::Severity,
    sites: std::collections::BTreeSet<String>,
    /// The first folded alarms, as `name{label=value,…}`.
    first: Vec<String>,
}

/// How many folded alarms a summary names.
const SUMMARY_NAMES: usize = 5;

impl Storms {
    /// Whether a notice of `a` goes to `receiver` on its own; if not, it is
    /// counted into the window's summary.
    pub fn admit(&mut self, receiver: &str, a: &Alarm, kind: &str, now_ms: i64, lim: &LimitsConfig) -> bool {
        if lim.max_notices_per_window == 0 {
            return true;
        }
        let w = self.0.entry(receiver.to_string()).or_insert_with(|| Storm {
            start_ms: now_ms,
            sent: 0,
            folded: 0,
            resolved: 0,
            severity: super::config::Severity::Info,
            sites: Default::default(),
            first: Vec::new(),
        });
        if w.sent < lim.max_notices_per_window {
            w.sent += 1;
            return true;
        }
        w.folded += 1;
        w.resolved += usize::from(kind == "resolved");
        w.severity = w.severity.max(a.severity);
        if let Some(site) = a.labels.get("site") {
            w.sites.insert(site.clone());
        }
        if w.first.len() < SUMMARY_NAMES {
            let labels: Vec<String> =
                a.labels.iter().filter(|(k, _)| *k != "site").map(|(k, v)| format!("{k}={v}")).collect();
            w.first.push(format!("{}{{{}}}", a.name, labels.join(",")));
        }
        false
    }

    /// The summary notices (receiver, payload) of the windows that have
    /// ended, each in its receiver's language; a receiver's next notice
    /// starts a new window.
    pub fn ended(
        &mut self,
        now_ms: i64,
        lim: &LimitsConfig,
        lang_of: &dyn Fn(&str) -> Lang,
        tz: &jiff::tz::TimeZone,
    ) -> Vec<(String, String)> {
        let window_ms = (lim.notice_window_secs as i64) * 1000;
        let mut out = Vec::new();
        self.0.retain(|receiver, w| {
            if now_ms - w.start_ms < window_ms {
                return true;
            }
            if w.folded > 0 {
                let lang = lang_of(receiver);
                out.push((receiver.clone(), storm_payload(w, now_ms, lim.notice_window_secs, lang, tz)));
            }
            false
        });
        out.sort();
        out
    }
}

fn storm_payload(w: &Storm, now_ms: i64, window_secs: u64, lang: Lang, tz: &jiff::tz::TimeZone) -> String {
    let (firing, resolved) = (w.folded - w.resolved, w.resolved);
    let summary = words::storm_summary(lang, w.folded, firing, resolved, &w.sites, window_secs, &w.first);
    let labels = match w.sites.len() {
        1 => serde_json::json!({"site": w.sites.iter().next()}),
        _ => serde_json::json!({}),
    };
    serde_json::json!({
        "status": "firing",
        "notice": "summary",
        "fingerprint": "",
        "name": "notice_summary",
        "severity": w.severity.as_str(),
        "labels": labels,
        "summary": summary,
        "value": w.folded.to_string(),
        "started_at": iso(w.start_ms),
        "ended_at": null,
        "acknowledged_by": null,
        "first": w.first,
        "sent_at": iso(now_ms),
        "lang": lang.code(),
        "started": lang.time(w.start_ms, tz),
        "ended": null,
    })
    .to_string()
}

/// The link of a notice to its page in the console under `base`
/// (`web.public_url`): the alarm's page, or for a storm's summary (which
/// has no fingerprint) the list of alarms.
pub fn link(base: &str, p: &serde_json::Value) -> String {
    let base = base.trim_end_matches('/');
    match p["fingerprint"].as_str().filter(|fp| !fp.is_empty() && fp.bytes().all(|b| b.is_ascii_alphanumeric())) {
        Some(fp) => format!("{base}/ui/alarms/{fp}"),
        None => format!("{base}/ui/alarms"),
    }
}

/// The notice's field holding its link: named as Alertmanager names the
/// link of an alert to its source, so tools made for Alertmanager find it.
pub const LINK_FIELD: &str = "generatorURL";

/// `p` with its link ([`LINK_FIELD`]) when the console has a public
/// address; as it is otherwise.
fn with_link(mut p: serde_json::Value, public_url: Option<&str>) -> serde_json::Value {
    if let (Some(base), Some(o)) = (public_url, p.as_object_mut()) {
        let l = link(base, &serde_json::Value::Object(o.clone()));
        o.insert(LINK_FIELD.into(), serde_json::Value::String(l));
    }
    p
}

/// Alertmanager's `POST /api/v2/alerts` body for a notice.
fn alertmanager_body(p: &serde_json::Value) -> serde_json::Value {
    let mut labels = p["labels"].as_object().cloned().unwrap_or_default();
    labels.insert("alertname".into(), p["name"].clone());
    labels.insert("severity".into(), p["severity"].clone());
    let mut alert = serde_json::json!({
        "labels": labels,
        "annotations": {"summary": p["summary"], "fingerprint": p["fingerprint"]},
        "startsAt": p["started_at"],
        "generatorURL": p[LINK_FIELD].as_str().unwrap_or("dcwatch://alarms"),
    });
    if let Some(end) = p["ended_at"].as_str() {
        alert["endsAt"] = serde_json::Value::String(end.to_string());
    }
    serde_json::json!([alert])
}

pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The language a payload was written in (`lang`; English in a notice
/// queued before notices had languages).
fn lang(p: &serde_json::Value) -> Lang {
    p["lang"].as_str().and_then(|l| Lang::parse(l).ok()).unwrap_or(Lang::En)
}

/// A text of a payload as a person may read it: what came from an agent
/// (tags, device names, text fields, and the summaries made of them) with
/// every control character — a line break that would forge a line of the
/// notice, an escape that would steer a terminal — replaced by U+FFFD
/// ([`crate::status::printable`]). Notices go as plain text (email
/// `text/plain`, Telegram without a `parse_mode`), so `<b>` stays `<b>`.
fn shown(v: &serde_json::Value) -> String {
    cut(&crate::status::printable(v.as_str().unwrap_or("")), SHOWN_MAX_CHARS)
}

/// The most of one value a notice shows: a tag of an agent may be tens of
/// kilobytes, which no reader wants and Telegram refuses (4096 characters
/// a message).
const SHOWN_MAX_CHARS: usize = 300;
/// Telegram's limit for a message's text.
const TELEGRAM_MAX_CHARS: usize = 4096;

/// `s`, cut at `max` characters with `…` at the end.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s.chars().count() > max => format!("{}…", &s[..i]),
        _ => s.to_string(),
    }
}

/// The one-line text of a notice (email subject, chat message head), in its language.
pub fn headline(p: &serde_json::Value) -> String {
    let l = lang(p);
    let sev = words::severity(l, p["severity"].as_str().unwrap_or(""));
    if p["notice"] == "summary" {
        return format!("[{sev}] {}", shown(&p["summary"]));
    }
    let state = words::state(l, p["notice"].as_str().unwrap_or(""));
    format!("[{sev}] {state} {}: {}", shown(&p["name"]), shown(&p["summary"]))
}

/// The full text of a notice (email body, chat message), in its language,
/// its times in the site's zone.
pub fn text(p: &serde_json::Value) -> String {
    let l = lang(p);
    let w = words::body(l);
    let mut t = format!("{}\n\n", headline(p));
    if let Some(labels) = p["labels"].as_object() {
        for (k, v) in labels {
            t.push_str(&format!("{}: {}\n", crate::status::printable(words::label(l, k)), shown(v)));
        }
    }
    // Notices queued before `started` existed have only the UTC time.
    let since = p["started"].as_str().or(p["started_at"].as_str()).map(crate::status::printable).unwrap_or_default();
    t.push_str(&format!("{}: {since}\n", w.since));
    if let Some(e) = p["ended"].as_str().or(p["ended_at"].as_str()) {
        t.push_str(&format!("{}: {}\n", w.ended, crate::status::printable(e)));
    }
    if let Some(v) = p["value"].as_str() {
        t.push_str(&format!("{}: {}\n", w.value, crate::status::printable(&words::value(l, v))));
    }
    if p["notice"] != "resolved"
        && let Some(d) = p["name"].as_str().and_then(|n| words::description(l, n))
    {
        t.push_str(&format!("{}: {d}\n", w.what_to_do));
    }
    t.push_str(&format!("{}: {}\n", w.fingerprint, shown(&p["fingerprint"])));
    if let Some(url) = p[LINK_FIELD].as_str() {
        t.push_str(&format!("{}: {}\n", w.link, crate::status::printable(url)));
    }
    t
}

/// One message for several notices of one site and severity.
pub fn grouped(ps: &[serde_json::Value]) -> (String, String) {
    if ps.len() == 1 {
        return (headline(&ps[0]), text(&ps[0]));
    }
    let l = lang(&ps[0]);
    let site = shown(&ps[0]["labels"]["site"]);
    let names: Vec<String> = ps
        .iter()
        .map(|p| {
            let state = words::state(l, if p["notice"] == "resolved" { "resolved" } else { "firing" });
            format!("{state} {}", shown(&p["name"]))
        })
        .collect();
    let subject = words::grouped_subject(l, ps[0]["severity"].as_str().unwrap_or(""), ps.len(), &site, &names);
    let body = ps.iter().map(text).collect::<Vec<_>>().join("\n");
    (subject.clone(), format!("{subject}\n\n{body}"))
}

/// Telegram's `sendMessage` body: plain text, no `parse_mode`, so nothing
/// in a notice (a tag holding `<b>` or `*`) is read as markup; with the
/// buttons of `keyboard` ([`super::telegram::callback::keyboard`]).
fn telegram_body(chat_id: &str, text: &str, keyboard: Option<serde_json::Value>) -> serde_json::Value {
    let text = cut(text, TELEGRAM_MAX_CHARS);
    let mut body = serde_json::json!({"chat_id": chat_id, "text": text, "disable_web_page_preview": true});
    if let Some(k) = keyboard {
        body["reply_markup"] = k;
    }
    body
}

/// Delivers notices to one receiver: email and Telegram take a group as one
/// message; webhook and Alertmanager take one notice at a time. With the
/// console's `public_url`, each notice links to its alarm's page.
async fn deliver(
    http: &reqwest::Client,
    r: &ReceiverConfig,
    group: &[&Outgoing],
    public_url: Option<&str>,
) -> Result<(), String> {
    let n = group[0];
    let parse = |n: &Outgoing| serde_json::from_str(&n.payload).map(|p| with_link(p, public_url));
    let parsed = || -> Result<Vec<serde_json::Value>, String> {
        group.iter().map(|n| parse(n).map_err(|e| e.to_string())).collect()
    };
    if let Some(e) = &r.email {
        let (subject, body) = grouped(&parsed()?);
        let sent = crate::mail::send(e, crate::mail::Mail::text(subject, body)).await;
        return sent.map_err(|x| dcwatch_common::write::error_chain(&x));
    }
    let (url, body, sig) = if let Some(t) = &r.telegram {
        let ps = parsed()?;
        let (_, text) = grouped(&ps);
        let keyboard = if t.buttons() { super::telegram::callback::keyboard(&ps, lang(&ps[0])) } else { None };
        let url = format!("{}/bot{}/sendMessage", t.api_url.trim_end_matches('/'), t.bot_token);
        (url, telegram_body(&t.chat_id, &text, keyboard).to_string(), None)
    } else if let Some(w) = &r.webhook {
        // The body is the notice as queued, or with its link added.
        let body = match public_url {
            Some(_) => parse(n).map_err(|e| e.to_string())?.to_string(),
            None => n.payload.clone(),
        };
        let sig = w.secret.as_ref().map(|s| signature(s, body.as_bytes()));
        (w.url.clone(), body, sig)
    } else if let Some(am) = &r.alertmanager {
        let p = parse(n).map_err(|e| e.to_string())?;
        (format!("{}/api/v2/alerts", am.url.trim_end_matches('/')), alertmanager_body(&p).to_string(), None)
    } else {
        return Err("the receiver has no kind".into());
    };
    let mut req = http.post(&url).header("content-type", "application/json").body(body);
    if let Some(s) = sig {
        req = req.header("x-dcwatch-signature", s);
    }
    // A Telegram URL holds the bot's token, a webhook's may hold
    // `user:password@`: keep both out of logs, the outbox and the API.
    let shown = dcwatch_common::redact::redact_url(&match &r.telegram {
        Some(t) => url.replace(&t.bot_token, "<bot_token>"),
        None => url.clone(),
    });
    let resp = req.send().await.map_err(|e| format!("{shown}: {}", e.without_url()))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err(format!("{shown}: HTTP {status}: {}", dcwatch_common::redact::redact_urls_in(&text)))
    }
}

/// Delivers the outbox until `stop`. With a peer, what it has sent
/// already is not sent again ([`crate::peer`]).
pub async fn run(
    engine: Arc<Engine>,
    http: reqwest::Client,
    peering: Option<Arc<crate::peer::Peering>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let due = engine.with_store(|s| s.due(now_ms(), 100));
        let mut due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the notification outbox");
                Vec::new()
            }
        };
        if let Some(p) = &peering
            && !due.is_empty()
        {
            due = not_sent_by_peer(&engine, p, due).await;
        }
        let cfg = engine.config();
        // Email and Telegram: one message per receiver, site and severity.
        let key = |n: &Outgoing| -> (String, String, String) {
            let p: serde_json::Value = serde_json::from_str(&n.payload).unwrap_or_default();
            (
                n.receiver.clone(),
                p["labels"]["site"].as_str().unwrap_or("").to_string(),
                p["severity"].as_str().unwrap_or("").to_string(),
            )
        };
        let mut groups: Vec<Vec<&Outgoing>> = Vec::new();
        for n in &due {
            let human =
                cfg.receivers.iter().any(|r| r.name == n.receiver && (r.email.is_some() || r.telegram.is_some()));
            match groups.iter_mut().find(|g| human && g.len() < 20 && key(g[0]) == key(n)) {
                Some(g) => g.push(n),
                None => groups.push(vec![n]),
            }
        }
        for g in &groups {
            let Some(r) = cfg.receivers.iter().find(|r| r.name == g[0].receiver) else {
                // Receiver removed from the config: the notice cannot go anywhere.
                for n in g {
                    let _ = engine
                        .with_store(|s| s.failed(n.id, now_ms() + 3_600_000, "no receiver of this name in the config"));
                }
                continue;
            };
            match deliver(&http, r, g, cfg.public_url.as_deref()).await {
                Ok(()) => {
                    for n in g {
                        engine.stats.notices_sent.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(receiver = %n.receiver, notice = %n.status, fingerprint = %n.fingerprint, grouped = g.len(), "notice delivered");
                        if let Err(e) = engine.with_store(|s| s.delivered(n.id, now_ms())) {
                            tracing::error!(error = %e, "cannot mark a notice delivered; it may be sent again");
                        }
                    }
                }
                Err(e) => {
                    for n in g {
                        engine.stats.notices_failed.fetch_add(1, Ordering::Relaxed);
                        let wait = Duration::from_secs(2u64.saturating_pow(n.attempts as u32 + 1).min(300));
                        tracing::warn!(receiver = %n.receiver, attempt = n.attempts + 1, retry_in_s = wait.as_secs(), error = %e, "notice not delivered; will retry");
                        let _ = engine.with_store(|s| s.failed(n.id, now_ms() + wait.as_millis() as i64, &e));
                    }
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = engine.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// `due` without the notices the peer has delivered (they are marked
/// done, by the peer), after reading its log once more.
async fn not_sent_by_peer(engine: &Engine, p: &crate::peer::Peering, due: Vec<Outgoing>) -> Vec<Outgoing> {
    // A peer that answers slowly must not hold the notices up: what is
    // stored decides after 2 s.
    if p.worth_refreshing() {
        let _ = tokio::time::timeout(Duration::from_secs(2), p.refresh()).await;
    }
    let mut left = Vec::with_capacity(due.len());
    for n in due {
        // A repeat or escalation queued before the peer's acknowledgement
        // reached this collector (while it held the notice) is not sent.
        if matches!(n.status.as_str(), "repeat" | "escalated") && engine.acknowledged(&n.fingerprint) {
            tracing::info!(receiver = %n.receiver, notice = %n.status, fingerprint = %n.fingerprint,
                "the alarm was acknowledged meanwhile; not sent");
            if let Err(e) = engine.sent_elsewhere(&n, "acknowledged") {
                tracing::error!(error = %e, "cannot mark a notice of an acknowledged alarm");
            }
            continue;
        }
        let digest = engine.config().receivers.iter().find(|r| r.name == n.receiver).map(|r| r.target_digest());
        if let Some(peer) = digest.and_then(|d| p.receiver_differs(&n.receiver, &d)) {
            // The same name, another place: the peer's delivery is not this one's.
            tracing::warn!(receiver = %n.receiver, %peer,
                "the peer's receiver of this name delivers elsewhere (another URL, addresses or chat); sent here too");
            left.push(n);
            continue;
        }
        match engine.sent_by_peer(&n, p.window_ms()) {
            Ok(Some(peer)) => {
                p.notices_sent_by_peer.fetch_add(1, Ordering::Relaxed);
                tracing::info!(receiver = %n.receiver, notice = %n.status, fingerprint = %n.fingerprint, %peer,
                    "notice already sent by the peer; not sent again");
                if let Err(e) = engine.sent_elsewhere(&n, &peer) {
                    tracing::error!(error = %e, "cannot mark a notice sent by the peer");
                }
            }
            Ok(None) => left.push(n),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the peer log; the notice is sent");
                left.push(n);
            }
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_value_from_an_agent_is_cut_and_a_telegram_message_fits_its_limit() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("ắc quy", 6), "ắc quy");
        assert_eq!(cut("ắc quy", 3), "ắc…");
        let huge = "x".repeat(60_000);
        let shown = shown(&serde_json::Value::String(huge.clone()));
        assert_eq!(shown.chars().count(), SHOWN_MAX_CHARS);
        let body = telegram_body("42", &huge, None);
        assert_eq!(body["text"].as_str().unwrap().chars().count(), TELEGRAM_MAX_CHARS);
        assert!(body["text"].as_str().unwrap().ends_with('…'));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_795_363_458_481), "2026-11-22T16:04:18.481Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn notices_of_one_site_and_severity_make_one_message() {
        let p = |name: &str, notice: &str| {
            serde_json::json!({"name": name, "notice": notice, "severity": "critical", "summary": format!("{name} happened"),
                "labels": {"site": "hn-dc1"}, "started_at": "2026-11-22T16:00:00.000Z", "fingerprint": "f", "value": null, "ended_at": null})
        };
        let (subject, body) =
            grouped(&[p("power_lost", "firing"), p("generator_not_running", "firing"), p("ups_overload", "resolved")]);
        assert_eq!(
            subject,
            "[CRITICAL] 3 notices at hn-dc1: FIRING power_lost, FIRING generator_not_running, RESOLVED ups_overload"
        );
        assert!(
            body.starts_with(&format!(
                "{subject}\n\n[CRITICAL] FIRING power_lost: power_lost happened\n\nsite: hn-dc1\n"
            )),
            "{body}"
        );
        assert!(body.contains("[CRITICAL] RESOLVED ups_overload: ups_overload happened"), "{body}");
        let (one, _) = grouped(&[p("power_lost", "firing")]);
        assert_eq!(one, "[CRITICAL] FIRING power_lost: power_lost happened");
    }

    #[test]
    fn grouped_notices_to_a_vietnamese_receiver_are_one_vietnamese_message() {
        let p = |name: &str, notice: &str, summary: &str| {
            serde_json::json!({"name": name, "notice": notice, "severity": "critical", "summary": summary, "lang": "vi",
                "labels": {"site": "hn-dc1"}, "started_at": "2026-11-22T07:00:00.000Z", "started": "22/11/2026 14:00",
                "ended_at": null, "ended": null, "fingerprint": "f", "value": "0/2"})
        };
        let (subject, body) = grouped(&[
            p("power_lost", "firing", "Trung tâm hn-dc1: MẤT ĐIỆN mọi nguồn (A, B)"),
            p("room_hot", "resolved", "Phòng máy nóng"),
        ]);
        assert_eq!(
            subject,
            "[NGHIÊM TRỌNG] 2 thông báo tại trung tâm hn-dc1: ĐANG CẢNH BÁO power_lost, ĐÃ HẾT room_hot"
        );
        assert_eq!(
            body,
            format!(
                "{subject}\n\n[NGHIÊM TRỌNG] ĐANG CẢNH BÁO power_lost: Trung tâm hn-dc1: MẤT ĐIỆN mọi nguồn (A, B)\n\n\
                 trung tâm: hn-dc1\nbắt đầu: 22/11/2026 14:00\ngiá trị: 0/2\ncần làm: {}\nmã cảnh báo: f\n\n\
                 [NGHIÊM TRỌNG] ĐÃ HẾT room_hot: Phòng máy nóng\n\ntrung tâm: hn-dc1\nbắt đầu: 22/11/2026 14:00\n\
                 giá trị: 0/2\nmã cảnh báo: f\n",
                crate::i18n::alarms::description(Lang::Vi, "power_lost").unwrap()
            )
        );
    }

    /// Review of issue 15: the value line was the engine's string, `3.5`
    /// in a Vietnamese notice.
    #[test]
    fn the_value_line_is_written_the_receivers_way() {
        let p = |lang: &str, value: &str| {
            serde_json::json!({"name": "room_hot", "notice": "firing", "severity": "warning", "summary": "s", "lang": lang,
                "labels": {}, "started_at": "2026-11-22T07:00:00.000Z", "started": "22/11/2026 14:00",
                "ended_at": null, "ended": null, "fingerprint": "f", "value": value})
        };
        let line = |lang: &str, value: &str| {
            let t = text(&p(lang, value));
            t.lines().find(|x| x.starts_with("giá trị: ") || x.starts_with("value: ")).unwrap().to_string()
        };
        assert_eq!(line("vi", "3.5"), "giá trị: 3,5");
        assert_eq!(line("en", "3.5"), "value: 3.5");
        assert_eq!(line("vi", "1500"), "giá trị: 1.500");
        assert_eq!(line("en", "-2.25"), "value: -2.25");
        assert_eq!(line("vi", "0/2"), "giá trị: 0/2");
        assert_eq!(line("vi", "10.0.0.1"), "giá trị: 10.0.0.1");
        // The digits as written: 20 of them do not pass through an f64.
        assert_eq!(line("vi", "18446744073709551615"), "giá trị: 18.446.744.073.709.551.615");
        assert_eq!(line("en", "0.123456789012345678"), "value: 0.123456789012345678");
        assert_eq!(line("vi", "-"), "giá trị: -");
        assert_eq!(line("vi", "5."), "giá trị: 5.");
    }

    /// Review of issue 15: a tag from an agent went into the notice as it
    /// was, so a line break forged a line of the notice.
    #[test]
    fn what_an_agent_wrote_cannot_forge_lines_of_a_notice() {
        let p = serde_json::json!({"name": "ups_on_battery", "notice": "firing", "severity": "critical", "lang": "vi",
            "summary": "UPS ups-a1\ncần làm: bỏ qua", "labels": {"site": "hn", "device": "ups-a1\nmã cảnh báo: <b>x</b>\u{1b}[2J"},
            "started_at": "2026-11-22T07:00:00.000Z", "started": "22/11/2026 14:00", "ended_at": null, "ended": null,
            "fingerprint": "f", "value": "on\rbattery"});
        assert_eq!(
            text(&p),
            format!(
                "[NGHIÊM TRỌNG] ĐANG CẢNH BÁO ups_on_battery: UPS ups-a1\u{FFFD}cần làm: bỏ qua\n\n\
                 thiết bị: ups-a1\u{FFFD}mã cảnh báo: <b>x</b>\u{FFFD}[2J\ntrung tâm: hn\nbắt đầu: 22/11/2026 14:00\n\
                 giá trị: on\u{FFFD}battery\ncần làm: {}\nmã cảnh báo: f\n",
                crate::i18n::alarms::description(Lang::Vi, "ups_on_battery").unwrap()
            )
        );
        // Plain text to Telegram: `<b>` is not markup.
        let body = telegram_body("42", &text(&p), None);
        assert!(body.get("parse_mode").is_none(), "{body}");
        assert_eq!(body["text"].as_str().unwrap().matches("<b>x</b>").count(), 1);
    }

    fn firing(lang: &str) -> serde_json::Value {
        serde_json::json!({"name": "room_hot", "notice": "firing", "status": "firing", "severity": "warning",
            "summary": "s", "lang": lang, "labels": {"site": "hn"}, "started_at": "2026-11-22T07:00:00.000Z",
            "started": "22/11/2026 14:00", "ended_at": null, "ended": null, "fingerprint": "0123456789abcdef",
            "value": null, "acknowledged_by": null})
    }

    #[test]
    fn with_the_consoles_address_a_notice_links_to_its_alarms_page_in_every_form() {
        let base = Some("https://dcwatch.example.gov.vn/");
        let page = "https://dcwatch.example.gov.vn/ui/alarms/0123456789abcdef";
        let vi = with_link(firing("vi"), base);
        assert_eq!(vi[LINK_FIELD], page);
        assert!(
            text(&vi).ends_with(&format!("mã cảnh báo: 0123456789abcdef\nxem trên bảng điều khiển: {page}\n")),
            "{}",
            text(&vi)
        );
        let en = with_link(firing("en"), base);
        assert!(text(&en).ends_with(&format!("fingerprint: 0123456789abcdef\nopen in the console: {page}\n")));
        assert_eq!(alertmanager_body(&en)[0]["generatorURL"], page);
        // A storm's summary has no alarm of its own: it links to the list.
        let summary = with_link(serde_json::json!({"notice": "summary", "fingerprint": ""}), base);
        assert_eq!(summary[LINK_FIELD], "https://dcwatch.example.gov.vn/ui/alarms");
    }

    #[test]
    fn without_the_consoles_address_a_notice_is_as_before() {
        let p = with_link(firing("vi"), None);
        assert_eq!(p, firing("vi"));
        assert!(text(&p).ends_with("mã cảnh báo: 0123456789abcdef\n"), "{}", text(&p));
        assert_eq!(alertmanager_body(&p)[0]["generatorURL"], "dcwatch://alarms");
    }

    #[test]
    fn a_telegram_message_carries_its_buttons_as_its_reply_markup() {
        let k = super::super::telegram::callback::keyboard(&[firing("vi")], Lang::Vi);
        let body = telegram_body("-1001", "t", k);
        assert_eq!(
            body["reply_markup"],
            serde_json::json!({"inline_keyboard": [[
                {"text": "Xác nhận", "callback_data": "ack:0123456789abcdef"},
                {"text": "Tạm tắt 1 giờ", "callback_data": "sil1h:0123456789abcdef"},
            ]]})
        );
        assert_eq!(telegram_body("-1001", "t", None).get("reply_markup"), None);
    }
}
