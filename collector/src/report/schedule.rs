//! Reports sent by email on a schedule: monthly on the 1st, weekly on
//! Monday, at `hour` in the report zone, for the period just ended. Each is
//! sent once (remembered in the trends database, so a restart does not send
//! it again); a failed send is tried again ten minutes later. A period for
//! which trends cover less than `min_coverage_pct` of the hours (a month
//! before dcwatch was installed) is not sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use crate::alarm::config::{AlarmsConfig, EmailConfig};
use crate::mail::{Attachment, Mail};
use dcwatch_common::config::Problem;
use dcwatch_common::error_chain;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// The zone of the reports' days, e.g. `Asia/Ho_Chi_Minh`. Defaults to the system's.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub schedule: Vec<ScheduleConfig>,
    /// A scheduled report is sent only if trends cover at least this share
    /// (0–100) of its period's hours. Defaults to 50.
    #[serde(default = "default_min_coverage")]
    pub min_coverage_pct: f64,
}

fn default_min_coverage() -> f64 {
    50.0
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig { timezone: None, schedule: Vec::new(), min_coverage_pct: default_min_coverage() }
    }
}

/// Whether a scheduled report covers enough of its period to be sent: its
/// coverage as computed, not as rounded for reading (49.96 % is not 50 %).
pub fn covers_enough(r: &super::Report, min_coverage_pct: f64) -> bool {
    r.coverage_exact >= min_coverage_pct
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// `monthly` or `weekly`.
    pub every: Every,
    /// An email receiver of `alarms.receivers`: its SMTP settings and, unless `to` is given, its addresses.
    pub receiver: String,
    #[serde(default)]
    pub to: Vec<String>,
    /// `vi` or `en`. Defaults to vi.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// One site. Defaults to all.
    #[serde(default)]
    pub site: Option<String>,
    /// The hour (0–23) it is sent on its day. Defaults to 7.
    #[serde(default = "default_hour")]
    pub hour: i8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    Monthly,
    Weekly,
}

fn default_lang() -> String {
    "vi".into()
}
fn default_hour() -> i8 {
    7
}

impl ReportsConfig {
    /// The reports' zone: `reports.timezone`, else the site's `site_tz`.
    pub fn tz(&self, site_tz: &TimeZone) -> TimeZone {
        self.timezone.as_deref().and_then(|z| TimeZone::get(z).ok()).unwrap_or_else(|| site_tz.clone())
    }

    pub fn check(&self, trends_on: bool, alarms: Option<&AlarmsConfig>, p: &mut Vec<Problem>) {
        if let Some(z) = &self.timezone
            && let Err(e) = TimeZone::get(z)
        {
            p.push(Problem::general(format!("reports.timezone: `{z}`: {e}")));
        }
        if !(0.0..=100.0).contains(&self.min_coverage_pct) {
            p.push(Problem::general("reports.min_coverage_pct: must be 0–100"));
        }
        if !self.schedule.is_empty() && !trends_on {
            p.push(Problem::general("reports.schedule: needs the `trends:` section (the reports are made from it)"));
        }
        for (i, s) in self.schedule.iter().enumerate() {
            let at = format!("reports.schedule[{i}]");
            if !(0..=23).contains(&s.hour) {
                p.push(Problem::general(format!("{at}.hour: must be 0–23")));
            }
            if crate::i18n::Lang::parse(&s.lang).is_err() {
                p.push(Problem::general(format!("{at}.lang: `{}` is not vi or en", s.lang)));
            }
            match alarms.and_then(|a| a.receivers.iter().find(|r| r.name == s.receiver)) {
                Some(r) if r.email.is_some() => {}
                Some(_) => {
                    p.push(Problem::general(format!("{at}.receiver: `{}` is not an email receiver", s.receiver)))
                }
                None => p.push(Problem::general(format!(
                    "{at}.receiver: no receiver is named `{}` in alarms.receivers",
                    s.receiver
                ))),
            }
            for a in &s.to {
                if !crate::mail::valid_address(a) {
                    p.push(Problem::general(format!("{at}.to: `{a}` is not an email address")));
                }
            }
        }
    }
}

impl ScheduleConfig {
    /// What "sent" is remembered by: everything that makes it a different email.
    pub fn key(&self) -> String {
        format!(
            "{:?}/{}/{}/{}/{}/{}",
            self.every,
            self.lang,
            self.site.as_deref().unwrap_or("*"),
            self.receiver,
            self.to.join(","),
            self.hour
        )
    }
}

/// The period just ended at `now_s` and the moment its report is due.
pub fn due(every: Every, hour: i8, now_s: i64, tz: &TimeZone) -> (String, i64) {
    let now = jiff::Timestamp::from_second(now_s).unwrap_or_default().to_zoned(tz.clone());
    let today = now.date();
    let at = |d: jiff::civil::Date| d.at(hour, 0, 0, 0).to_zoned(tz.clone()).map_or(0, |z| z.timestamp().as_second());
    let day = |d: jiff::civil::Date, n: i64| d.checked_add(jiff::Span::new().days(n)).unwrap_or(d);
    match every {
        Every::Monthly => {
            let mut first = today.first_of_month();
            if now_s < at(first) {
                first = day(first, -1).first_of_month();
            }
            (day(first, -1).strftime("%Y-%m").to_string(), at(first))
        }
        Every::Weekly => {
            let back = i64::from(today.weekday().to_monday_zero_offset());
            let mut monday = day(today, -back);
            if now_s < at(monday) {
                monday = day(monday, -7);
            }
            let w = day(monday, -1).iso_week_date();
            (format!("{}-W{:02}", w.year(), w.week()), at(monday))
        }
    }
}

/// What the schedule has done, for `/metrics` and the `report_failing` alarm.
#[derive(Debug, Default)]
pub struct ReportStats {
    pub sent: std::sync::atomic::AtomicU64,
    pub failed_attempts: std::sync::atomic::AtomicU64,
    /// Periods not sent: too little of them covered by trends.
    pub skipped: std::sync::atomic::AtomicU64,
    /// The last failure (receiver, period, error), until a report is sent.
    pub failing: std::sync::Mutex<Option<(String, String, String)>>,
}

/// What the schedule works from: the receivers, `reports:` and its zone.
/// A reload of the configuration sends new ones; the next look uses them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub alarms: AlarmsConfig,
    pub cfg: ReportsConfig,
    pub tz: TimeZone,
}

/// Each schedule's key, the period just ended at `now` in the settings'
/// zone, and when its report is due.
pub fn periods(s: &Settings, now: i64) -> Vec<(String, String, i64)> {
    s.cfg
        .schedule
        .iter()
        .map(|x| {
            let (period, due_at) = due(x.every, x.hour, now, &s.tz);
            (x.key(), period, due_at)
        })
        .collect()
}

/// The schedule's task: looks once a minute, with the settings of the
/// latest configuration.
pub async fn run(
    trends_db: PathBuf,
    settings: tokio::sync::watch::Receiver<Settings>,
    stats: std::sync::Arc<ReportStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut failed_at: HashMap<String, i64> = HashMap::new();
    // Sent, also when the database cannot say so (a full disk): not again.
    let mut sent_here: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    // Not sent for too little data: looked at once a run.
    let mut skipped_here: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut first = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now = dcwatch_common::now_ns() / 1_000_000_000;
        let current = settings.borrow().clone();
        let Settings { alarms, cfg, tz } = &current;
        for (s, (key, period, due_at)) in cfg.schedule.iter().zip(periods(&current, now)) {
            if now < due_at
                || failed_at.get(&key).is_some_and(|t| now - t < 600)
                || sent_here.contains(&(key.clone(), period.clone()))
                || skipped_here.contains(&(key.clone(), period.clone()))
            {
                continue;
            }
            match sent(&trends_db, &key, &period) {
                Ok(true) => {
                    if first {
                        tracing::info!(period = %period, receiver = %s.receiver, "scheduled report already sent");
                    }
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read which reports were sent");
                    continue;
                }
            }
            match send(&trends_db, alarms, tz, s, &period, now, cfg.min_coverage_pct).await {
                Ok(Outcome::TooLittleData(pct)) => {
                    skipped_here.insert((key.clone(), period.clone()));
                    stats.skipped.fetch_add(1, Relaxed);
                    tracing::info!(
                        period = %period,
                        receiver = %s.receiver,
                        coverage_pct = pct,
                        min_coverage_pct = cfg.min_coverage_pct,
                        "scheduled report not sent: trends cover too little of the period"
                    );
                }
                Ok(Outcome::Sent(to)) => {
                    sent_here.insert((key.clone(), period.clone()));
                    failed_at.remove(&key);
                    stats.sent.fetch_add(1, Relaxed);
                    *stats.failing.lock().expect("not poisoned") = None;
                    if let Err(e) = mark_sent(&trends_db, &key, &period, now) {
                        tracing::warn!(error = %e, "the report was sent but cannot be marked; it may be sent again");
                    }
                    tracing::info!(period = %period, to = %to, "report sent");
                }
                Err(e) => {
                    failed_at.insert(key, now);
                    stats.failed_attempts.fetch_add(1, Relaxed);
                    *stats.failing.lock().expect("not poisoned") =
                        Some((s.receiver.clone(), period.clone(), e.clone()));
                    tracing::warn!(period = %period, receiver = %s.receiver, error = %e, "cannot send the report; trying again in 10 minutes");
                }
            }
        }
        first = false;
    }
}

fn sent(db: &std::path::Path, key: &str, period: &str) -> rusqlite::Result<bool> {
    let c = Connection::open(db)?;
    c.query_row("SELECT 1 FROM reports_sent WHERE schedule = ?1 AND period = ?2", params![key, period], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

fn mark_sent(db: &std::path::Path, key: &str, period: &str, now: i64) -> rusqlite::Result<()> {
    let c = Connection::open(db)?;
    c.execute(
        "INSERT OR REPLACE INTO reports_sent (schedule, period, sent_ms) VALUES (?1, ?2, ?3)",
        params![key, period, now * 1000],
    )
    .map(|_| ())
}

/// What became of a scheduled report.
enum Outcome {
    /// Sent to these addresses.
    Sent(String),
    /// Not sent: trends cover only this share of the period.
    TooLittleData(f64),
}

async fn send(
    trends_db: &std::path::Path,
    alarms: &AlarmsConfig,
    tz: &TimeZone,
    s: &ScheduleConfig,
    period: &str,
    now: i64,
    min_coverage_pct: f64,
) -> Result<Outcome, String> {
    let lang = crate::i18n::Lang::parse(&s.lang)?;
    // Reading a month of trends is blocking work: off the async threads.
    let (db, alarm_path, zone, site, label) =
        (trends_db.to_path_buf(), alarms.db.clone(), tz.clone(), s.site.clone(), period.to_string());
    let services: Vec<String> = alarms.services.iter().map(|x| x.name.clone()).collect();
    let built = tokio::task::spawn_blocking(move || -> Result<Result<(String, String), f64>, String> {
        let trends = crate::trends::open_read(&db).map_err(|e| error_chain(&e))?;
        let alarm_db = Connection::open_with_flags(&alarm_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
        let inputs = super::Inputs { trends: &trends, alarms: alarm_db.as_ref(), tz: zone.clone(), services };
        let p = super::parse_period(&label, &zone).map_err(|e| error_chain(&e))?;
        let r = super::build(&inputs, &p, site.as_deref(), now).map_err(|e| error_chain(&e))?;
        if !covers_enough(&r, min_coverage_pct) {
            return Ok(Err(r.coverage_exact));
        }
        Ok(Ok((super::render::html(&r, lang), super::render::csv(&r))))
    })
    .await
    .map_err(|e| format!("the report build panicked: {e}"))??;
    let (html, csv) = match built {
        Ok(x) => x,
        Err(pct) => return Ok(Outcome::TooLittleData(pct)),
    };
    let mut email: EmailConfig = alarms
        .receivers
        .iter()
        .find(|r| r.name == s.receiver)
        .and_then(|r| r.email.clone())
        .ok_or_else(|| format!("no email receiver `{}`", s.receiver))?;
    if !s.to.is_empty() {
        email.to = s.to.clone();
    }
    let t = lang.t();
    let site = s.site.clone().unwrap_or_else(|| t.all_sites.to_string());
    let subject = format!("[dcwatch] {} — {site} — {period}", t.title);
    let text = format!("{} — {site} — {period}\n\n{}", t.title, t.see_attachment);
    let mail = Mail {
        subject,
        text,
        html: Some(html),
        attachments: vec![Attachment {
            name: format!("dcwatch-{period}.csv"),
            content_type: "text/csv; charset=utf-8".into(),
            body: csv,
        }],
    };
    crate::mail::send(&email, mail).await.map_err(|e| error_chain(&e))?;
    Ok(Outcome::Sent(email.to.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i16, m: i8, d: i8, h: i8) -> i64 {
        jiff::civil::date(y, m, d)
            .at(h, 0, 0, 0)
            .to_zoned(TimeZone::fixed(jiff::tz::offset(7)))
            .unwrap()
            .timestamp()
            .as_second()
    }

    #[test]
    fn a_schedule_needs_trends_an_email_receiver_and_a_real_zone() {
        let yaml = "listen:\n  address: 127.0.0.1:1\ningest:\n  tokens: []\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  \
                    receivers:\n    - name: hook\n      webhook: {url: http://127.0.0.1:9/x}\nreports:\n  timezone: Asia/Hanoi-Nowhere\n  \
                    schedule:\n    - {every: monthly, receiver: hook, lang: fr, hour: 24}\n    - {every: weekly, receiver: mail}\n";
        let problems =
            dcwatch_common::config::parse::<crate::config::CollectorConfig>(yaml, std::path::Path::new("/x/c.yaml"))
                .unwrap_err();
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(msgs[0].starts_with("reports.timezone: `Asia/Hanoi-Nowhere`: "), "{msgs:?}");
        assert_eq!(
            &msgs[1..],
            [
                "reports.schedule: needs the `trends:` section (the reports are made from it)",
                "reports.schedule[0].hour: must be 0–23",
                "reports.schedule[0].lang: `fr` is not vi or en",
                "reports.schedule[0].receiver: `hook` is not an email receiver",
                "reports.schedule[1].receiver: no receiver is named `mail` in alarms.receivers",
            ]
        );
    }

    /// Review of issue 15: a reload did not change the zone the schedule
    /// counted its days in.
    #[test]
    fn the_schedule_counts_days_in_the_zone_of_the_latest_settings() {
        let yaml = "db: /tmp/x.db\nreceivers:\n  - name: mail\n    email: {host: 127.0.0.1, from: a@dc.local, to: [b@dc.local]}\n";
        let alarms: AlarmsConfig = dcwatch_common::config::parse(yaml, std::path::Path::new("/x/a.yaml")).unwrap();
        let cfg = ReportsConfig {
            schedule: vec![ScheduleConfig {
                every: Every::Monthly,
                receiver: "mail".into(),
                to: Vec::new(),
                lang: "vi".into(),
                site: None,
                hour: 7,
            }],
            ..ReportsConfig::default()
        };
        let hanoi = TimeZone::fixed(jiff::tz::offset(7));
        let (tx, rx) = tokio::sync::watch::channel(Settings { alarms, cfg, tz: hanoi });
        // 1 December 2026, 00:30 UTC: 07:30 in Hanoi, November's report is due.
        let now = at(2026, 12, 1, 7) + 1800;
        let key = rx.borrow().cfg.schedule[0].key();
        assert_eq!(periods(&rx.borrow(), now), [(key.clone(), "2026-11".to_string(), at(2026, 12, 1, 7))]);
        // Reloaded with reports in UTC: it is 00:30, before 07:00; October's is the latest.
        tx.send_modify(|s| s.tz = TimeZone::UTC);
        assert_eq!(periods(&rx.borrow(), now), [(key, "2026-10".to_string(), at(2026, 11, 1, 14))]);
    }

    #[test]
    fn two_schedules_that_differ_only_in_their_addresses_or_hour_are_two_emails() {
        let base = ScheduleConfig {
            every: Every::Monthly,
            receiver: "mail".into(),
            to: vec!["a@dc.local".into()],
            lang: "vi".into(),
            site: None,
            hour: 7,
        };
        let other_to = ScheduleConfig { to: vec!["b@dc.local".into()], ..base.clone() };
        let other_hour = ScheduleConfig { hour: 8, ..base.clone() };
        assert_ne!(base.key(), other_to.key());
        assert_ne!(base.key(), other_hour.key());
        assert_eq!(base.key(), base.clone().key());
    }

    #[test]
    fn the_period_just_ended_and_when_it_is_due() {
        let tz = TimeZone::fixed(jiff::tz::offset(7));
        // 22 November 2026 (a Sunday), noon.
        assert_eq!(due(Every::Monthly, 7, at(2026, 11, 22, 12), &tz), ("2026-10".to_string(), at(2026, 11, 1, 7)));
        // 1 December, 06:00: not yet due; still October's.
        assert_eq!(due(Every::Monthly, 7, at(2026, 12, 1, 6), &tz), ("2026-10".to_string(), at(2026, 11, 1, 7)));
        assert_eq!(due(Every::Monthly, 7, at(2026, 12, 1, 7), &tz), ("2026-11".to_string(), at(2026, 12, 1, 7)));
        assert_eq!(due(Every::Monthly, 7, at(2027, 1, 3, 7), &tz), ("2026-12".to_string(), at(2027, 1, 1, 7)));
        // Weekly: Monday 16 November 07:00 sends week 46 (9–15 November).
        assert_eq!(due(Every::Weekly, 7, at(2026, 11, 22, 12), &tz), ("2026-W46".to_string(), at(2026, 11, 16, 7)));
        assert_eq!(due(Every::Weekly, 7, at(2026, 11, 23, 8), &tz), ("2026-W47".to_string(), at(2026, 11, 23, 7)));
    }
}
