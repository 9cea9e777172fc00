//! The dead man's switch (`watchdog:`): while this collector can still
//! raise alarms it says so to the outside every `interval_secs`, so that an
//! outside system notices when both collectors of a pair have gone silent.
//! Two ways, either or both:
//! - a ping: an HTTP GET (or POST with a short status text) of `url`, for a
//!   healthchecks-style service that alarms when the pings stop;
//! - the always-firing `watchdog` alarm, sent to `receivers` (Alertmanager)
//!   through the alarm engine's own outbox (`alarm::builtin::collector`,
//!   `lifecycle::dispatch`), so that it proves the whole way an alarm takes.
//!
//! A ping means "this collector can still raise alarms": it is withheld
//! while the alarm evaluation has not completed for `max_evaluation_age_secs`
//! (stuck on a lock, or unable to write `alarms.db`). A failed ping is logged
//! and counted in `/metrics`; it never holds anything else up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;
use tokio::sync::watch;

use crate::alarm::config::{AlarmsConfig, WatchdogAlarm};

/// `watchdog:` of the collector's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogConfig {
    /// The URL pinged every `interval_secs`, e.g. `https://hc-ping.com/<uuid>`.
    /// Whoever has it can ping in this collector's name: best from
    /// `${file:…}`; logs show only its scheme and host. Defaults to none: no ping.
    #[serde(default)]
    pub url: Option<String>,
    /// `get` (a plain request) or `post` (the body a short status text,
    /// which healthchecks shows in its log). Defaults to get.
    #[serde(default)]
    pub method: Method,
    /// How often the ping goes and the `watchdog` alarm is sent again; keep
    /// it well under Alertmanager's `resolve_timeout` (5 min by default).
    /// Defaults to 60.
    #[serde(default = "default_interval", deserialize_with = "duration::secs")]
    pub interval_secs: u64,
    /// Longest one ping may take. At most `interval_secs`. Defaults to 10.
    #[serde(default = "default_timeout", deserialize_with = "duration::secs")]
    pub timeout_secs: u64,
    /// PEM file of the CA that signed the ping target's certificate.
    /// Defaults to the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The ping is withheld while the alarm evaluation last completed longer
    /// ago than this (with `alarms:` on). At least twice
    /// `alarms.evaluate_every_ms`. Defaults to 60.
    #[serde(default = "default_max_evaluation_age", deserialize_with = "duration::secs")]
    pub max_evaluation_age_secs: u64,
    /// Receivers of `alarms.receivers` (Alertmanager, or a webhook) that get
    /// the always-firing `watchdog` alarm (severity info) every
    /// `interval_secs`. Defaults to none: no watchdog alarm.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Labels of the `watchdog` alarm, e.g. `{collector: hn-dc1}`: with a
    /// label of its own, each collector's watchdog is an alert of its own in
    /// Alertmanager. Defaults to none: both collectors' watchdogs are one
    /// alert there, active while either sends it.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// How the ping is sent (`watchdog.method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    #[default]
    Get,
    Post,
}

fn default_interval() -> u64 {
    60
}
fn default_timeout() -> u64 {
    10
}
fn default_max_evaluation_age() -> u64 {
    60
}

/// Label names the Alertmanager body sets itself.
const RESERVED_LABELS: &[&str] = &["alertname", "severity"];

impl WatchdogConfig {
    /// The `watchdog` alarm's settings for the alarm engine, when it has receivers.
    pub fn alarm(&self) -> Option<WatchdogAlarm> {
        (!self.receivers.is_empty()).then(|| WatchdogAlarm {
            receivers: self.receivers.clone(),
            every_secs: self.interval_secs.max(1),
            labels: self.labels.clone(),
        })
    }

    /// Every problem of the section, with `alarms:` (None when off) for its receivers.
    pub fn check(&self, alarms: Option<&AlarmsConfig>, p: &mut Vec<Problem>) {
        if self.url.is_none() && self.receivers.is_empty() {
            p.push(Problem::general(
                "watchdog: set url (a ping) or receivers (the watchdog alarm), or leave the section out",
            ));
        }
        self.check_ping(p);
        if self.interval_secs == 0 {
            p.push(Problem::general("watchdog.interval_secs: must be at least 1"));
        }
        if self.timeout_secs == 0 || self.timeout_secs > self.interval_secs.max(1) {
            p.push(Problem::general(format!(
                "watchdog.timeout_secs: must be from 1 to interval_secs ({}), or a slow ping would hold up the next",
                self.interval_secs
            )));
        }
        if let Some(a) = alarms {
            let least = (2 * a.evaluate_every_ms).div_ceil(1000);
            if self.max_evaluation_age_secs < least {
                p.push(Problem::general(format!(
                    "watchdog.max_evaluation_age_secs: must be at least {least} (twice alarms.evaluate_every_ms), \
                     or an evaluation on time would withhold the ping"
                )));
            }
        }
        self.check_alarm(alarms, p);
    }

    fn check_ping(&self, p: &mut Vec<Problem>) {
        let Some(url) = &self.url else {
            if self.ca_file.is_some() {
                p.push(Problem::general("watchdog.ca_file: is for the ping; set watchdog.url too"));
            }
            return;
        };
        let http = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        if http.is_none() {
            let shown = shown_url(&dcwatch_common::redact::redact_config_url(url));
            p.push(Problem::general(format!("watchdog.url: `{shown}` is not an http:// or https:// URL with a host")));
        }
        if let Err(e) = client(self) {
            p.push(Problem::general(format!("watchdog.ca_file: {}", dcwatch_common::error_chain(&e))));
        }
    }

    fn check_alarm(&self, alarms: Option<&AlarmsConfig>, p: &mut Vec<Problem>) {
        if self.receivers.is_empty() {
            if !self.labels.is_empty() {
                p.push(Problem::general("watchdog.labels: are the watchdog alarm's; set watchdog.receivers too"));
            }
            return;
        }
        let Some(a) = alarms else {
            p.push(Problem::general(
                "watchdog.receivers: alarms are not configured (alarms:), so nothing could send the watchdog alarm",
            ));
            return;
        };
        if !a.enabled(crate::alarm::builtin::collector::WATCHDOG) {
            p.push(Problem::general(
                "watchdog.receivers: the watchdog alarm is in alarms.builtin.disabled; take it out, \
                 or leave out watchdog.receivers",
            ));
        }
        let mut names: Vec<&str> = a.receivers.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        for (i, name) in self.receivers.iter().enumerate() {
            let at = format!("watchdog.receivers[{i}]");
            match a.receivers.iter().find(|r| &r.name == name) {
                None => p.push(Problem::general(format!(
                    "{at}: no receiver is named `{name}`; the receivers are: {}",
                    names.join(", ")
                ))),
                Some(r) if r.email.is_some() || r.telegram.is_some() => p.push(Problem::general(format!(
                    "{at}: `{name}` reaches people, and the watchdog alarm goes every interval_secs; \
                     send it to an alertmanager or webhook receiver"
                ))),
                Some(_) => {}
            }
        }
        for key in self.labels.keys() {
            let mut chars = key.chars();
            let name_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok || RESERVED_LABELS.contains(&key.as_str()) {
                p.push(Problem::general(format!(
                    "watchdog.labels.{key}: a label name is letters, digits and _ (not first a digit), \
                     and not alertname or severity, which the alarm sets itself"
                )));
            }
        }
    }
}

/// Why the ping's HTTP client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    #[error("{} holds no usable PEM certificate", .0.display())]
    BadCa(PathBuf, #[source] reqwest::Error),
    #[error("{} holds no PEM certificate", .0.display())]
    NoCa(PathBuf),
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// The ping's HTTP client: `timeout_secs`, and `ca_file`'s roots if set.
pub fn client(c: &WatchdogConfig) -> Result<reqwest::Client, ClientError> {
    dcwatch_common::install_crypto_provider();
    let timeout = Duration::from_secs(c.timeout_secs.max(1));
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("dcwatch/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &c.ca_file {
        let pem = std::fs::read(ca).map_err(|e| ClientError::Read(ca.clone(), e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::BadCa(ca.clone(), e))?;
        if certs.is_empty() {
            return Err(ClientError::NoCa(ca.clone()));
        }
        b = b.tls_certs_only(certs);
    }
    b.build().map_err(ClientError::Build)
}

/// A ping URL as logs and errors show it: its scheme and host, the rest
/// (where a ping URL keeps its secret) as `…`, and no `user:password@`.
pub fn shown_url(url: &str) -> String {
    let url = dcwatch_common::redact::redact_url(url);
    let Some(i) = url.find("://") else { return "…".into() };
    let rest = &url[i + 3..];
    match rest.find(['/', '?', '#']) {
        Some(end) if end + 1 < rest.len() => format!("{}/…", &url[..i + 3 + end]),
        _ => url,
    }
}

/// Whether the collector works, as the ping tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The alarm evaluation completed this long ago (None: alarms are off,
    /// and the ping says only that the collector runs).
    Working(Option<Duration>),
    /// The alarm evaluation has not completed for this long: no ping.
    Stalled(Duration),
}

/// The verdict on the last completed evaluation `evaluated_ago` (None with
/// alarms off), against `max_age`.
pub fn judge(evaluated_ago: Option<Duration>, max_age: Duration) -> Verdict {
    match evaluated_ago {
        Some(ago) if ago > max_age => Verdict::Stalled(ago),
        ago => Verdict::Working(ago),
    }
}

/// The status text a POST ping carries (for the operator, in English like the logs).
pub fn status_text(v: Verdict) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match v {
        Verdict::Working(Some(ago)) => {
            format!("dcwatch-collector {version}: alarms evaluated {:.1} s ago", ago.as_secs_f64())
        }
        Verdict::Working(None) => format!("dcwatch-collector {version}: running (alarms are off)"),
        Verdict::Stalled(ago) => {
            format!("dcwatch-collector {version}: alarm evaluation stalled for {} s", ago.as_secs())
        }
    }
}

/// The pings' counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    /// Pings not sent because the alarm evaluation had stalled.
    pub withheld: AtomicU64,
    /// Unix time of the last ping the target took (0: none yet).
    pub last_success_s: AtomicI64,
}

/// The watchdog's families of `/metrics` (docs/metrics.md).
pub fn write_metrics(m: &mut String, s: &Stats) {
    use std::fmt::Write as _;
    let name = "dcwatch_collector_watchdog_pings_total";
    let _ = writeln!(
        m,
        "# HELP {name} Watchdog pings (watchdog.url) the target took, that failed, and withheld while the alarm \
         evaluation stalled.\n# TYPE {name} counter"
    );
    for (result, n) in [("sent", &s.sent), ("failed", &s.failed), ("withheld", &s.withheld)] {
        let _ = writeln!(m, "{name}{{result=\"{result}\"}} {}", n.load(Ordering::Relaxed));
    }
    let name = "dcwatch_collector_watchdog_last_ping_timestamp_seconds";
    let _ = writeln!(
        m,
        "# HELP {name} Unix time of the last watchdog ping the target took (0: none).\n# TYPE {name} gauge\n{name} {}",
        s.last_success_s.load(Ordering::Relaxed)
    );
}

/// Sends one ping; the error says why it failed, without the URL's secret.
async fn ping(http: &reqwest::Client, method: Method, url: &str, v: Verdict) -> Result<(), String> {
    let req = match method {
        Method::Get => http.get(url),
        Method::Post => http.post(url).header("content-type", "text/plain; charset=utf-8").body(status_text(v)),
    };
    let resp = req.send().await.map_err(|e| dcwatch_common::error_chain(&e.without_url()))?;
    if resp.status().is_success() {
        return Ok(());
    }
    let status = resp.status();
    let text: String = resp.text().await.unwrap_or_default().chars().take(200).collect();
    Err(format!("HTTP {status}: {}", shown_url_in(&text)))
}

/// `text` (an answer that may quote the URL) with every URL shown as [`shown_url`] shows it.
fn shown_url_in(text: &str) -> String {
    text.split(' ').map(|w| if w.contains("://") { shown_url(w) } else { w.to_string() }).collect::<Vec<_>>().join(" ")
}

/// Pings while the config has a `url`, until `stop`; a reload (a new
/// config on `config`) takes effect at once.
pub async fn run(
    mut config: watch::Receiver<Option<WatchdogConfig>>,
    engine: Option<Arc<crate::alarm::Engine>>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let current = config.borrow_and_update().clone();
        let next = match current.filter(|c| c.url.is_some()) {
            Some(c) => pinging(&c, &mut config, engine.as_deref(), &stats, &mut stop).await,
            None => Next::Wait,
        };
        match next {
            Next::Stop => return,
            Next::Changed => {}
            Next::Wait => tokio::select! {
                _ = stop.changed() => return,
                changed = config.changed() => if changed.is_err() {
                    // The config's sender is gone: nothing will change any more.
                    let _ = stop.changed().await;
                    return;
                },
            },
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Next {
    Stop,
    /// A new config came: take it.
    Changed,
    /// Nothing to ping with this config: wait for a new one.
    Wait,
}

/// Pings `c.url` every `interval_secs` until `stop` or a new config.
async fn pinging(
    c: &WatchdogConfig,
    config: &mut watch::Receiver<Option<WatchdogConfig>>,
    engine: Option<&crate::alarm::Engine>,
    stats: &Stats,
    stop: &mut watch::Receiver<bool>,
) -> Next {
    let url = c.url.as_deref().unwrap_or_default();
    let shown = shown_url(url);
    let http = match client(c) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(url = %shown, error = %dcwatch_common::error_chain(&e), "watchdog: cannot build the ping's HTTP client; no ping until the config is fixed");
            return Next::Wait;
        }
    };
    tracing::info!(url = %shown, interval_s = c.interval_secs, method = ?c.method, "watchdog pings on");
    let max_age = Duration::from_secs(c.max_evaluation_age_secs);
    let mut tick = tokio::time::interval(Duration::from_secs(c.interval_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut stalled, mut sender_gone) = (false, false);
    loop {
        let due = tokio::select! {
            _ = stop.changed() => return Next::Stop,
            changed = config.changed(), if !sender_gone => match changed {
                Ok(()) => return Next::Changed,
                Err(_) => {
                    sender_gone = true;
                    false
                }
            },
            _ = tick.tick() => true,
        };
        if !due {
            continue;
        }
        let v = judge(engine.map(|e| e.evaluated_ago(Instant::now())), max_age);
        match (v, stalled) {
            (Verdict::Stalled(ago), false) => {
                tracing::error!(stalled_s = ago.as_secs(), url = %shown, "the alarm evaluation has stalled: watchdog pings withheld until it runs again");
            }
            (Verdict::Working(_), true) => {
                tracing::warn!(url = %shown, "the alarm evaluation runs again: watchdog pings resume")
            }
            _ => {}
        }
        stalled = matches!(v, Verdict::Stalled(_));
        if stalled {
            stats.withheld.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let sent = tokio::select! {
            _ = stop.changed() => return Next::Stop,
            r = ping(&http, c.method, url, v) => r,
        };
        match sent {
            Ok(()) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                stats.last_success_s.store(dcwatch_common::now_ns() / 1_000_000_000, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = %shown, error = %e, "watchdog ping failed; the next goes at the next interval");
            }
        }
    }
}

#[cfg(test)]
mod tests;
