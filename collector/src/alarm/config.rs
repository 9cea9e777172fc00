//! The `alarms:` section of the collector's config: the sites' topology, the
//! built-in alarms' switches and thresholds, rules, receivers and routes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmsConfig {
    /// SQLite database of alarm state, history, acknowledgements, silences
    /// and the notification outbox. Defaults to /var/lib/dcwatch/alarms.db.
    #[serde(default = "default_db")]
    pub db: PathBuf,
    /// How often alarms are evaluated, in ms. Defaults to 1000.
    #[serde(default = "default_eval_ms", deserialize_with = "duration::ms")]
    pub evaluate_every_ms: u64,
    /// The language of notices and `status` when a receiver does not say
    /// (`vi` or `en`). Defaults to `vi`.
    #[serde(default)]
    pub lang: crate::i18n::Lang,
    /// The site's zone for times in notices: the top-level `timezone:`,
    /// set by the collector (not a key of `alarms:`).
    #[serde(skip)]
    pub tz: Option<jiff::tz::TimeZone>,
    /// A firing alarm nobody acknowledged is sent again after this. Defaults to 14400 (4 h).
    #[serde(default = "default_repeat", deserialize_with = "duration::secs")]
    pub repeat_interval_secs: u64,
    /// The sites and their power chains.
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    /// Services that run at several sites (redundancy groups).
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    #[serde(default)]
    pub builtin: BuiltinConfig,
    /// Backup jobs that must be reported, and pairs of jobs that mirror each other.
    #[serde(default)]
    pub backups: BackupsConfig,
    /// Alarms on any measurement.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    /// Which receivers get which alarms; the first route that matches wins.
    /// No route: every receiver gets every alarm.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Flap damping: an alarm that fires or resolves this many times within
    /// `flap_window_secs` sends one "flapping" notice and then nothing until
    /// it has been stable for the window. 0 turns it off. Defaults to 4 and 600.
    #[serde(default = "default_flap_changes")]
    pub flap_changes: u32,
    #[serde(default = "default_flap_window", deserialize_with = "duration::secs")]
    pub flap_window_secs: u64,
    /// Email and Telegram notices wait this long for others of the same site
    /// and severity, and go out as one message. Defaults to 1000; 0: no grouping.
    #[serde(default = "default_group_wait", deserialize_with = "duration::ms")]
    pub group_wait_ms: u64,
    /// At a site with feeds configured, the alarms a power loss would
    /// explain (UPS on battery, feed lost, agent silent, device unreachable)
    /// wait this long before their first notice, for the power alarm to form
    /// and stand for them. Defaults to 2000.
    #[serde(default = "default_inhibit_wait", deserialize_with = "duration::ms")]
    pub inhibit_wait_ms: u64,
    /// Bounds on what one writer can make the alarm engine hold and send.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Bounds on silences made through the API.
    #[serde(default)]
    pub silences: SilenceLimits,
    /// The console's address as people reach it (`web.public_url`, set by
    /// the collector when the console is on; not a key of `alarms:`):
    /// notices link to the alarm's page under it.
    #[serde(skip)]
    pub public_url: Option<String>,
    /// The always-firing `watchdog` alarm (the top-level `watchdog:`, set
    /// by the collector; not a key of `alarms:`).
    #[serde(skip)]
    pub watchdog: Option<WatchdogAlarm>,
}

/// The `watchdog` alarm: always firing, sent to its own receivers every
/// `every_secs` whether acknowledged or not, so that Alertmanager, which
/// ends an alert not sent again within its `resolve_timeout`, keeps it
/// active only while this collector evaluates and delivers alarms.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogAlarm {
    pub receivers: Vec<String>,
    pub every_secs: u64,
    /// Its labels (`watchdog.labels`), e.g. which collector sends it.
    pub labels: BTreeMap<String, String>,
}

/// What a silence may be: a silence is a way to not hear about outages, so
/// one that would hide everything, or for years, is refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceLimits {
    /// Longest a silence may last. Defaults to 2592000 (30 days).
    #[serde(default = "default_silence_max_duration", deserialize_with = "duration::secs")]
    pub max_duration_secs: u64,
    /// Most matchers in one silence. Defaults to 16.
    #[serde(default = "default_silence_max_matchers")]
    pub max_matchers: usize,
    /// Longest matcher value (or regular expression), in characters. Defaults to 256.
    #[serde(default = "default_silence_max_chars")]
    pub max_matcher_chars: usize,
    /// Most silences active or waiting to start. Defaults to 1000.
    #[serde(default = "default_silence_max_active")]
    pub max_active: usize,
    /// Ended silences are removed this many days after they end. Defaults to 7.
    #[serde(default = "default_silence_keep_days")]
    pub keep_expired_days: u32,
}

impl Default for SilenceLimits {
    fn default() -> Self {
        SilenceLimits {
            max_duration_secs: default_silence_max_duration(),
            max_matchers: default_silence_max_matchers(),
            max_matcher_chars: default_silence_max_chars(),
            max_active: default_silence_max_active(),
            keep_expired_days: default_silence_keep_days(),
        }
    }
}

/// Bounds on the latest-state table, the alarms and the notices, so that one
/// token (a broken agent or an attacker holding its token) cannot make the
/// collector grow without end or bury the on-call engineer in notices.
/// docs/security.md (Limits) says what happens past each.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// A series (or an agent's heartbeat) not updated for this long is
    /// forgotten; an alarm with no condition whose series are all forgotten
    /// is resolved as expired. In s. Defaults to 86400 (1 day).
    #[serde(default = "default_series_ttl", deserialize_with = "duration::secs")]
    pub series_ttl_secs: u64,
    /// Series (and heartbeats) one token may add to the latest-state table;
    /// points of further new series are still forwarded to the sinks, but
    /// alarms do not see them (counted, `series_cap_reached`). Defaults to 5000.
    #[serde(default = "default_series_per_token")]
    pub max_series_per_token: usize,
    /// Alarms pending or firing at one site; past it new alarms of the site
    /// are not raised (most severe first; `alarm_cap_reached`). The site's
    /// power and service alarms and the collector's own are not counted and
    /// always raised. Defaults to 500.
    #[serde(default = "default_alarms_per_site")]
    pub max_alarms_per_site: usize,
    /// Notices one receiver gets one by one within `notice_window_secs`;
    /// the rest of that window's go out as one summary notice at its end.
    /// 0 turns it off. Defaults to 20.
    #[serde(default = "default_notices_per_window")]
    pub max_notices_per_window: usize,
    /// The window of `max_notices_per_window`, in s. Defaults to 60.
    #[serde(default = "default_notice_window", deserialize_with = "duration::secs")]
    pub notice_window_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            series_ttl_secs: default_series_ttl(),
            max_series_per_token: default_series_per_token(),
            max_alarms_per_site: default_alarms_per_site(),
            max_notices_per_window: default_notices_per_window(),
            notice_window_secs: default_notice_window(),
        }
    }
}

fn default_silence_max_duration() -> u64 {
    30 * 86_400
}
fn default_silence_max_matchers() -> usize {
    16
}
fn default_silence_max_chars() -> usize {
    256
}
fn default_silence_max_active() -> usize {
    1000
}
fn default_silence_keep_days() -> u32 {
    7
}
fn default_series_ttl() -> u64 {
    86_400
}
fn default_series_per_token() -> usize {
    5000
}
fn default_alarms_per_site() -> usize {
    500
}
fn default_notices_per_window() -> usize {
    20
}
fn default_notice_window() -> u64 {
    60
}

/// One site: the feeds it should have live, and what hangs on them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    /// The feeds (tag `feed` of `power_feed`) the site should have live,
    /// e.g. [A, B]. Fewer live: power redundancy degraded; none: lost.
    #[serde(default)]
    pub feeds: Vec<String>,
    /// The power chain below the feeds: each UPS (tag `device`) and the
    /// hosts (tag `host`) it powers. A host listed under two UPS is
    /// dual-corded. When every UPS of a host has lost its output (off or in
    /// fault, or on battery and low or unreachable), the host's silence is
    /// explained by the UPS alarm, which lists the hosts it powers.
    #[serde(default)]
    pub ups: BTreeMap<String, Vec<String>>,
}

/// A service and the hosts that run it at each site. One site's hosts all
/// silent: `service_degraded`; every site's: `service_outage`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    /// site → hosts (tag `host` of their agents).
    pub members: BTreeMap<String, Vec<String>>,
    /// How many sites must run it for it to be up. Fewer: `service_outage`;
    /// enough, but a site down: `service_degraded`. Defaults to 1.
    #[serde(default = "default_min_sites")]
    pub min_sites: usize,
}

fn default_min_sites() -> usize {
    1
}

/// What the collector knows of backups beyond what agents report.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsConfig {
    /// Jobs that must be reported: one that no agent has reported within
    /// `builtin.backup_report_grace_secs` of the collector's start is `backup_missing`.
    #[serde(default)]
    pub expected: Vec<JobRef>,
    /// A job and its copy at the other site, each reported by its own agent:
    /// when the copy's last success lags the job's for longer than
    /// `max_lag_secs`, `backup_not_replicated`.
    #[serde(default)]
    pub replication: Vec<Replication>,
}

/// One backup job, as its agent reports it (tags `site`, `host`, `job`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    pub site: String,
    pub host: String,
    pub job: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replication {
    pub primary: JobRef,
    pub mirror: JobRef,
    /// Defaults to `builtin.backup_replication_lag_secs`.
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub max_lag_secs: Option<u64>,
}

/// Switches and thresholds of the built-in alarms (docs/alarms.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinConfig {
    /// Built-in alarms switched off, by name (e.g. `generator_running`).
    #[serde(default)]
    pub disabled: Vec<String>,
    /// An agent is silent after this many of its intervals without data. Defaults to 3.
    #[serde(default = "default_silent_intervals")]
    pub agent_silent_intervals: u32,
    /// The interval assumed until an agent's heartbeats show its own. Defaults to 10.
    #[serde(default = "default_agent_interval", deserialize_with = "duration::secs")]
    pub agent_interval_secs: u64,
    /// UPS runtime below this many minutes: alarm. Defaults to 10.
    #[serde(default = "default_runtime_min")]
    pub ups_runtime_min: f64,
    /// A filesystem above this percentage used: alarm; it clears below `disk_clear_pct`.
    /// Defaults to 90 and 85.
    #[serde(default = "default_disk_pct")]
    pub disk_used_pct: f64,
    #[serde(default = "default_disk_clear")]
    pub disk_clear_pct: f64,
    /// A filesystem that, at its growth rate of the last hours, fills within
    /// this many days: `disk_full_forecast`. Defaults to 7.
    #[serde(default = "default_forecast_days")]
    pub disk_forecast_days: f64,
    /// A backup is stale when its last success is older than its RPO (the
    /// agent's `rpo_s`) plus this. Defaults to 7200 (2 h).
    #[serde(default = "default_backup_grace", deserialize_with = "duration::secs")]
    pub backup_grace_secs: u64,
    /// A backup this many percent smaller than the one before: `backup_shrunk`. Defaults to 30.
    #[serde(default = "default_backup_shrink")]
    pub backup_shrink_pct: f64,
    /// A mirror may lag its job's newest backup this long. Defaults to 21600 (6 h).
    #[serde(default = "default_backup_lag", deserialize_with = "duration::secs")]
    pub backup_replication_lag_secs: u64,
    /// An expected job not reported this long after the collector started
    /// is missing. Defaults to 900.
    #[serde(default = "default_backup_report_grace", deserialize_with = "duration::secs")]
    pub backup_report_grace_secs: u64,
    /// When a site that was `site_down` comes back, how long after the
    /// first of it (its collector, an agent) is back the others may take (servers boot one by
    /// one) before `site_down` resolves and those still silent alarm on
    /// their own. Defaults to 600.
    #[serde(default = "default_site_return_grace", deserialize_with = "duration::secs")]
    pub site_return_grace_secs: u64,
}

impl Default for BuiltinConfig {
    fn default() -> Self {
        BuiltinConfig {
            disabled: Vec::new(),
            agent_silent_intervals: default_silent_intervals(),
            agent_interval_secs: default_agent_interval(),
            ups_runtime_min: default_runtime_min(),
            disk_used_pct: default_disk_pct(),
            disk_clear_pct: default_disk_clear(),
            disk_forecast_days: default_forecast_days(),
            backup_grace_secs: default_backup_grace(),
            backup_shrink_pct: default_backup_shrink(),
            backup_replication_lag_secs: default_backup_lag(),
            backup_report_grace_secs: default_backup_report_grace(),
            site_return_grace_secs: default_site_return_grace(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// An alarm on one field of one measurement: fires when the value crosses
/// `above`/`below` (or equals `equals`) for `for_secs`, clears when it is back
/// past `clear` (hysteresis; defaults to the threshold itself).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Alarm name (label `alertname`), e.g. `room_too_hot`.
    pub name: String,
    pub measurement: String,
    pub field: String,
    /// Tags the series must have: a value matches exactly, `~regex` the
    /// whole value (`host: "~web[0-9]+"`).
    #[serde(default)]
    pub tags: super::matchers::Matchers,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
    /// A string or bool value (as text: `true`, `on_battery`).
    #[serde(default)]
    pub equals: Option<String>,
    /// Where a firing `above`/`below` alarm clears.
    #[serde(default)]
    pub clear: Option<f64>,
    /// How long the condition must hold before the alarm fires. Defaults to 0.
    #[serde(default, deserialize_with = "duration::secs")]
    pub for_secs: u64,
    /// Defaults to warning.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// Message; `{site}`, `{device}`, `{host}`, any tag, and `{value}` are
    /// filled in. One text for both languages, or `{vi: "…", en: "…"}`.
    /// Defaults to "<name>: <field> = <value>".
    #[serde(default)]
    pub summary: Option<RuleSummary>,
    /// Extra labels of the alarm (for routing).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A rule's summary: one text, or one per language (`vi`, `en`; a language
/// left out uses the other's).
#[derive(Debug, Clone, PartialEq)]
pub enum RuleSummary {
    One(String),
    PerLang(BTreeMap<String, String>),
}

/// By hand rather than `untagged`, so that a wrong kind says what is expected.
impl<'de> Deserialize<'de> for RuleSummary {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RuleSummary;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a text, or a text per language (`vi: …`, `en: …`)")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RuleSummary, E> {
                Ok(RuleSummary::One(s.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<RuleSummary, A::Error> {
                BTreeMap::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(RuleSummary::PerLang)
            }
        }
        d.deserialize_any(V)
    }
}

impl RuleSummary {
    /// The template of language `l`.
    pub fn get(&self, l: crate::i18n::Lang) -> &str {
        match self {
            RuleSummary::One(t) => t,
            RuleSummary::PerLang(m) => {
                m.get(l.code()).or_else(|| m.values().next()).map(String::as_str).unwrap_or_default()
            }
        }
    }

    fn templates(&self) -> Vec<(String, &str)> {
        match self {
            RuleSummary::One(t) => vec![(String::new(), t.as_str())],
            RuleSummary::PerLang(m) => m.iter().map(|(k, v)| (format!(".{k}"), v.as_str())).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    /// The language of this receiver's notices (`vi` or `en`). Defaults to `alarms.lang`.
    #[serde(default)]
    pub lang: Option<crate::i18n::Lang>,
    /// POST of a JSON document per notice, signed with HMAC-SHA256 when `secret` is set.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Prometheus Alertmanager: `POST /api/v2/alerts`.
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    /// Email over SMTP.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// A Telegram chat, through a bot.
    #[serde(default)]
    pub telegram: Option<TelegramConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub host: String,
    /// Defaults to 587 (STARTTLS), 465 (tls) or 25 (none).
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS, port 465) or `none` (a relay on a trusted network).
    #[serde(default = "default_email_tls")]
    pub tls: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Sender, e.g. `dcwatch <dcwatch@dc.local>`.
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token (use `${file:…}`).
    pub bot_token: String,
    /// The chat (a group's id is negative).
    pub chat_id: String,
    /// Defaults to https://api.telegram.org (a proxy or a test server otherwise).
    #[serde(default = "default_telegram_api")]
    pub api_url: String,
    /// The Telegram users who may acknowledge and silence alarms with the
    /// buttons of this chat's notices, each as a console user of
    /// `web.users_db` (who must exist, be enabled and be an operator or an
    /// admin when they press). Defaults to none: the notices carry no
    /// buttons and the bot is not polled.
    #[serde(default)]
    pub allow: Vec<TelegramAllow>,
}

/// One Telegram user allowed to press a notice's buttons, and the console
/// user they act as.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramAllow {
    /// The Telegram user's numeric id (not the @name, which its owner can
    /// change and someone else can then take).
    pub telegram_user: i64,
    /// The console user (`dcwatch-collector user add`) the press acts as.
    pub user: String,
}

impl ReceiverConfig {
    /// Where its notices end up, as a short digest: the webhook's or
    /// Alertmanager's URL, the email addresses, the Telegram chat. A pair
    /// of collectors takes the peer's delivery to a receiver of the same
    /// name for its own only when the digests agree too.
    pub fn target_digest(&self) -> String {
        let mut to = Vec::new();
        if let Some(w) = &self.webhook {
            to.push(format!("webhook {}", w.url));
        }
        if let Some(a) = &self.alertmanager {
            to.push(format!("alertmanager {}", a.url));
        }
        if let Some(e) = &self.email {
            let mut addresses: Vec<String> = e.to.iter().map(|a| a.trim().to_lowercase()).collect();
            addresses.sort();
            to.push(format!("email {}", addresses.join(",")));
        }
        if let Some(t) = &self.telegram {
            to.push(format!("telegram {}", t.chat_id));
        }
        hex::encode(&crate::auth::sha256(&to.join("\n"))[..8])
    }
}

impl TelegramConfig {
    /// Whether this chat's notices carry the acknowledge and silence buttons.
    pub fn buttons(&self) -> bool {
        !self.allow.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Key of the `X-Dcwatch-Signature: sha256=<hex>` header over the body.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. http://127.0.0.1:9093.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub receivers: Vec<String>,
    /// Severities this route takes. Defaults to all.
    #[serde(default)]
    pub severity: Vec<Severity>,
    /// Labels the alarm must have, exactly (e.g. `site: hn-dc1`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Receivers told when a firing alarm of this route is not acknowledged
    /// within `escalate_after_secs`. Defaults to none.
    #[serde(default)]
    pub escalate_to: Vec<String>,
    /// Defaults to 900 (15 min).
    #[serde(default = "default_escalate_after", deserialize_with = "duration::secs")]
    pub escalate_after_secs: u64,
}

fn default_db() -> PathBuf {
    PathBuf::from("/var/lib/dcwatch/alarms.db")
}
fn default_eval_ms() -> u64 {
    1000
}
fn default_repeat() -> u64 {
    4 * 3600
}
fn default_silent_intervals() -> u32 {
    3
}
fn default_agent_interval() -> u64 {
    10
}
fn default_runtime_min() -> f64 {
    10.0
}
fn default_disk_pct() -> f64 {
    90.0
}
fn default_disk_clear() -> f64 {
    85.0
}
fn default_email_tls() -> String {
    "starttls".into()
}
fn default_telegram_api() -> String {
    "https://api.telegram.org".into()
}
fn default_inhibit_wait() -> u64 {
    2000
}
fn default_group_wait() -> u64 {
    1000
}
fn default_flap_changes() -> u32 {
    4
}
fn default_flap_window() -> u64 {
    600
}
fn default_escalate_after() -> u64 {
    900
}
fn default_forecast_days() -> f64 {
    7.0
}
fn default_backup_grace() -> u64 {
    7200
}
fn default_backup_shrink() -> f64 {
    30.0
}
fn default_backup_lag() -> u64 {
    21600
}
fn default_backup_report_grace() -> u64 {
    900
}
fn default_site_return_grace() -> u64 {
    600
}
fn default_severity() -> Severity {
    Severity::Warning
}

impl AlarmsConfig {
    /// The language of `receiver`'s notices: its `lang`, else `alarms.lang`.
    pub fn lang_of(&self, receiver: &str) -> crate::i18n::Lang {
        self.receivers.iter().find(|r| r.name == receiver).and_then(|r| r.lang).unwrap_or(self.lang)
    }

    /// The zone of times in notices: the collector's `timezone:`, else the system's.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        self.tz.clone().unwrap_or_else(jiff::tz::TimeZone::system)
    }

    /// Every check of the section; `builtin` is the built-in alarms' names
    /// (`builtin::BUILTIN_NAMES`), given by the caller so that this file does
    /// not import the families, which read it (the config loader's
    /// `Validate` is in `alarm/mod.rs`).
    pub fn check(&self, builtin: &[&str], p: &mut Vec<Problem>) {
        self.check_limits(p);
        self.check_builtin(builtin, p);
        self.check_rules(builtin, p);
        let names = self.check_receivers(p);
        self.check_routes(&names, p);
        self.check_site_names(p);
    }

    /// The evaluation period and `limits`.
    fn check_limits(&self, p: &mut Vec<Problem>) {
        if self.evaluate_every_ms == 0 {
            p.push(Problem::general("alarms.evaluate_every_ms: must be at least 1"));
        }
        let l = &self.limits;
        for (key, v) in [
            ("series_ttl_secs", l.series_ttl_secs as usize),
            ("max_series_per_token", l.max_series_per_token),
            ("max_alarms_per_site", l.max_alarms_per_site),
            ("notice_window_secs", l.notice_window_secs as usize),
        ] {
            if v == 0 {
                p.push(Problem::general(format!("alarms.limits.{key}: must be at least 1")));
            }
        }
    }

    /// `builtin`, `services` and `backups`.
    fn check_builtin(&self, names: &[&str], p: &mut Vec<Problem>) {
        for d in &self.builtin.disabled {
            if !names.contains(&d.as_str()) {
                p.push(Problem::general(format!(
                    "alarms.builtin.disabled: `{d}` is not a built-in alarm; they are: {}",
                    names.join(", ")
                )));
            }
        }
        if !(self.builtin.backup_shrink_pct > 0.0 && self.builtin.backup_shrink_pct <= 100.0) {
            p.push(Problem::general("alarms.builtin.backup_shrink_pct: must be above 0 and at most 100"));
        }
        for (i, svc) in self.services.iter().enumerate() {
            if svc.min_sites == 0 || svc.min_sites > svc.members.len() {
                p.push(Problem::general(format!(
                    "alarms.services[{i}] ({}).min_sites: must be between 1 and its {} site(s)",
                    svc.name,
                    svc.members.len()
                )));
            }
        }
        for (i, r) in self.backups.replication.iter().enumerate() {
            if r.primary == r.mirror {
                p.push(Problem::general(format!("alarms.backups.replication[{i}]: the mirror is the primary itself")));
            }
        }
        if self.builtin.disk_clear_pct > self.builtin.disk_used_pct {
            p.push(Problem::general("alarms.builtin.disk_clear_pct: must not be above disk_used_pct"));
        }
        // `.nan` passes every comparison above and would never fire.
        let b = &self.builtin;
        for (key, v) in [
            ("ups_runtime_min", b.ups_runtime_min),
            ("disk_used_pct", b.disk_used_pct),
            ("disk_clear_pct", b.disk_clear_pct),
            ("disk_forecast_days", b.disk_forecast_days),
        ] {
            if !v.is_finite() {
                p.push(Problem::general(format!("alarms.builtin.{key}: must be a number, found `{v}`")));
            }
        }
    }

    /// The rules: one threshold, a clear on its side, a name of their own, summaries that parse.
    fn check_rules(&self, builtin: &[&str], p: &mut Vec<Problem>) {
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("alarms.rules[{i}] ({})", r.name);
            let n = [r.above.is_some(), r.below.is_some(), r.equals.is_some()].iter().filter(|b| **b).count();
            if n != 1 {
                p.push(Problem::general(format!("{at}: give exactly one of above, below, equals")));
            }
            for (key, v) in [("above", r.above), ("below", r.below), ("clear", r.clear)] {
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    p.push(Problem::general(format!("alarms.rules[{i}].{key}: must be a number, found `{v}`")));
                }
            }
            if let (Some(a), Some(c)) = (r.above, r.clear)
                && c > a
            {
                p.push(Problem::general(format!("{at}: clear ({c}) must not be above `above` ({a})")));
            }
            if let (Some(b), Some(c)) = (r.below, r.clear)
                && c < b
            {
                p.push(Problem::general(format!("{at}: clear ({c}) must not be below `below` ({b})")));
            }
            if builtin.contains(&r.name.as_str()) {
                p.push(Problem::general(format!("{at}: the name is a built-in alarm's")));
            }
            if let Some(sm) = &r.summary {
                if let RuleSummary::PerLang(m) = sm {
                    if m.is_empty() {
                        p.push(Problem::general(format!("{at}.summary: give a text, or `vi:` and `en:` texts")));
                    }
                    for k in m.keys() {
                        if let Err(e) = crate::i18n::Lang::parse(k) {
                            p.push(Problem::general(format!("{at}.summary.{k}: {e}")));
                        }
                    }
                }
                for (k, t) in sm.templates() {
                    if let Err(e) = super::template::check(t) {
                        p.push(Problem::general(format!("{at}.summary{k}: {e}")));
                    }
                }
            }
        }
    }

    /// The receivers: named once, one kind each, email and URLs well formed.
    /// Returns their names.
    fn check_receivers(&self, p: &mut Vec<Problem>) -> std::collections::BTreeSet<&str> {
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            if !names.insert(r.name.as_str()) {
                p.push(Problem::general(format!("alarms.receivers[{i}]: `{}` is named twice", r.name)));
            }
            let kinds = [r.webhook.is_some(), r.alertmanager.is_some(), r.email.is_some(), r.telegram.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if kinds != 1 {
                p.push(Problem::general(format!(
                    "alarms.receivers[{i}] ({}): give exactly one of webhook, alertmanager, email, telegram",
                    r.name
                )));
            }
            if let Some(e) = &r.email {
                let at = format!("alarms.receivers[{i}] ({}).email", r.name);
                if !["starttls", "tls", "none"].contains(&e.tls.as_str()) {
                    p.push(Problem::general(format!("{at}.tls: `{}` is not one of starttls, tls, none", e.tls)));
                }
                for addr in std::iter::once(&e.from).chain(&e.to) {
                    if addr.parse::<lettre::message::Mailbox>().is_err() {
                        p.push(Problem::general(format!("{at}: `{addr}` is not an email address")));
                    }
                }
                if e.to.is_empty() {
                    p.push(Problem::general(format!("{at}.to: needs at least one address")));
                }
                if e.username.is_some() != e.password.is_some() {
                    p.push(Problem::general(format!("{at}: give both username and password, or neither")));
                }
            }
            if let Some(t) = &r.telegram {
                self.check_telegram(i, &r.name, t, p);
            }
            let urls = [
                r.webhook.as_ref().map(|w| &w.url),
                r.alertmanager.as_ref().map(|a| &a.url),
                r.telegram.as_ref().map(|t| &t.api_url),
            ];
            for url in urls.into_iter().flatten() {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    // The message is printed and logged: no `user:password@`.
                    p.push(Problem::general(format!(
                        "alarms.receivers[{i}] ({}): url `{}` must start with http:// or https://",
                        r.name,
                        dcwatch_common::redact::redact_config_url(url)
                    )));
                }
            }
        }
        names
    }

    /// A Telegram receiver's allow-list: real user ids and console user
    /// names, each Telegram user once; one bot polled from one API URL.
    fn check_telegram(&self, i: usize, name: &str, t: &TelegramConfig, p: &mut Vec<Problem>) {
        let at = format!("alarms.receivers[{i}] ({name}).telegram");
        let mut seen = std::collections::BTreeSet::new();
        for (j, a) in t.allow.iter().enumerate() {
            if a.telegram_user <= 0 {
                p.push(Problem::general(format!(
                    "{at}.allow[{j}].telegram_user: `{}` is not a Telegram user's id (a positive number; \
                     a negative one is a group's); a refused press is logged and audited with its presser's id",
                    a.telegram_user
                )));
            } else if !seen.insert(a.telegram_user) {
                p.push(Problem::general(format!(
                    "{at}.allow[{j}].telegram_user: {} is listed twice; list each Telegram user once",
                    a.telegram_user
                )));
            }
            if let Err(e) = crate::web::users::check_name(&a.user) {
                p.push(Problem::general(format!("{at}.allow[{j}].user: {e}")));
            }
        }
        if !t.buttons() {
            return;
        }
        // One bot answers one long poll at a time: two URLs for one token
        // would be two pollers taking each other's presses.
        let other = self.receivers.iter().enumerate().find_map(|(k, r)| {
            let o = r.telegram.as_ref()?;
            (k < i && o.buttons() && o.bot_token == t.bot_token && o.api_url != t.api_url).then_some((k, &r.name))
        });
        if let Some((k, other)) = other {
            p.push(Problem::general(format!(
                "{at}.api_url: receivers[{k}] ({other}) has buttons with the same bot through another api_url; \
                 a bot is polled once: give both the same api_url"
            )));
        }
    }

    /// The routes name configured receivers.
    fn check_routes(&self, names: &std::collections::BTreeSet<&str>, p: &mut Vec<Problem>) {
        let known = if names.is_empty() {
            "no receiver is configured".to_string()
        } else {
            format!("the receivers are: {}", names.iter().copied().collect::<Vec<_>>().join(", "))
        };
        for (i, r) in self.routes.iter().enumerate() {
            let listed = r.receivers.iter().enumerate().map(|(j, n)| ("receivers", j, n));
            for (key, j, name) in listed.chain(r.escalate_to.iter().enumerate().map(|(j, n)| ("escalate_to", j, n))) {
                if !names.contains(name.as_str()) {
                    p.push(Problem::general(format!(
                        "alarms.routes[{i}].{key}[{j}]: no receiver is named `{name}`; {known}"
                    )));
                }
            }
        }
    }

    /// The sites are named, each once.
    fn check_site_names(&self, p: &mut Vec<Problem>) {
        let mut sites = std::collections::BTreeSet::new();
        for (i, s) in self.sites.iter().enumerate() {
            if s.name.trim().is_empty() {
                p.push(Problem::general(format!("alarms.sites[{i}].name: must name the site, e.g. `hn-dc1`")));
            } else if !sites.insert(s.name.as_str()) {
                p.push(Problem::general(format!(
                    "alarms.sites[{i}].name: `{}` is also the name of an earlier site; list each site once",
                    s.name
                )));
            }
        }
    }

    /// Every site a service or a backup job names is configured: in
    /// `alarms.sites`, or as the site of an ingest token (`token_sites`).
    /// Nothing to check against when neither lists one (anonymous writes).
    pub fn check_sites(&self, token_sites: &[&str], p: &mut Vec<Problem>) {
        let known: std::collections::BTreeSet<&str> =
            self.sites.iter().map(|s| s.name.as_str()).chain(token_sites.iter().copied()).collect();
        if known.is_empty() {
            return;
        }
        let list = known.iter().copied().collect::<Vec<_>>().join(", ");
        let mut check = |at: String, site: &str| {
            if !known.contains(site) {
                p.push(Problem::general(format!(
                    "{at}: no site `{site}` is configured; the sites of alarms.sites and ingest.tokens are: {list}"
                )));
            }
        };
        for (i, svc) in self.services.iter().enumerate() {
            for site in svc.members.keys() {
                check(format!("alarms.services[{i}] ({}).members.{site}", svc.name), site);
            }
        }
        for (i, j) in self.backups.expected.iter().enumerate() {
            check(format!("alarms.backups.expected[{i}].site"), &j.site);
        }
        for (i, r) in self.backups.replication.iter().enumerate() {
            check(format!("alarms.backups.replication[{i}].primary.site"), &r.primary.site);
            check(format!("alarms.backups.replication[{i}].mirror.site"), &r.mirror.site);
        }
    }

    pub fn enabled(&self, builtin: &str) -> bool {
        !self.builtin.disabled.iter().any(|d| d == builtin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(yaml: &str) -> ReceiverConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn a_receivers_digest_names_where_it_delivers_not_how() {
        let mail = |to: &str, host: &str| {
            receiver(&format!("name: mail\nemail: {{host: {host}, from: dcwatch@dc.local, to: [{to}]}}\n"))
        };
        // The addresses decide, in any order or case; the relay host does not.
        assert_eq!(
            mail("a@dc.vn, B@dc.vn", "smtp1").target_digest(),
            mail("b@dc.vn, a@dc.vn", "smtp2").target_digest()
        );
        assert_ne!(mail("a@dc.vn", "smtp1").target_digest(), mail("b@dc.vn", "smtp1").target_digest());
        let hook = |url: &str| receiver(&format!("name: hook\nwebhook: {{url: '{url}'}}\n")).target_digest();
        assert_ne!(hook("http://10.1.0.5/hook"), hook("http://10.2.0.5/hook"));
        assert_eq!(hook("http://10.1.0.5/hook").len(), 16);
    }
}
