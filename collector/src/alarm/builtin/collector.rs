//! The collector family: alarms about the collector itself — its sinks,
//! spool, reports, notices, limits and alarm database. They read no
//! measurement: `state::health` hands a snapshot ([`Health`]) of what runs, the
//! engine the rest.

use std::collections::{BTreeMap, HashMap};

use super::{Def, cond, labels};
use crate::alarm::conditions::{Cond, Latest};
use crate::alarm::config::AlarmsConfig;
use crate::alarm::config::Severity::{Critical, Info, Warning};
use crate::alarm::store::{Alarm, Undelivered};
use crate::i18n::alarms::{self as words, Texts};

pub const DEFS: &[Def] = &[
    Def { name: "sink_down", severity: Critical, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "spool_filling", severity: Warning, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "spool_dropped_points", severity: Critical, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "notification_failing", severity: Critical, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "report_failing", severity: Warning, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "alarms_db_quarantined", severity: Warning, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "series_cap_reached", severity: Warning, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "alarm_cap_reached", severity: Warning, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "ingest_rate_limited", severity: Warning, reads: &[], explained_by: &[], uncapped: true },
    Def { name: "peer_unreachable", severity: Critical, reads: &[], explained_by: &[], uncapped: true },
    Def { name: WATCHDOG, severity: Info, reads: &[], explained_by: &[], uncapped: true },
];

/// The always-firing alarm of the dead man's switch (`watchdog.receivers`):
/// not for people, so the console and the API leave it out
/// ([`crate::alarm::Engine::alarms`]), and it is sent on its own terms
/// (`lifecycle::dispatch`).
pub const WATCHDOG: &str = "watchdog";

/// Labels the conditions of this collector's own alarms with its name
/// (`collector`), for a pair of collectors: each has its own spool, sinks
/// and notices. `peer_unreachable` names the peer already; the watchdog
/// has its own labels (`watchdog.labels`).
pub fn label_own(conds: &mut [Cond], name: &str) {
    for c in conds.iter_mut() {
        if DEFS.iter().any(|d| d.name == c.name) && !matches!(c.name.as_str(), "peer_unreachable" | WATCHDOG) {
            c.labels.insert("collector".into(), name.to_string());
        }
    }
}

/// What the collector's self-checks read, copied out of the running program.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub sinks: Vec<SinkHealth>,
    /// The scheduled report that fails: (receiver, period, error).
    pub report_failing: Option<(String, String, String)>,
    /// Tokens refused by the rate limit lately, and whether within the window.
    pub rate_limited: Vec<(String, bool)>,
    pub rate_points_per_sec: f64,
    pub rate_window_secs: u64,
    /// With a durable spool: how full it is, and the points it dropped.
    pub spool: Option<SpoolHealth>,
    /// The peered collector, with `peering:` (`crate::peer`).
    pub peers: Vec<crate::peer::PeerHealth>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkHealth {
    pub name: String,
    pub endpoint: String,
    pub queued: u64,
    /// Seconds since its last success (since the start without one).
    pub since_secs: i64,
    pub last_error: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpoolHealth {
    pub used_pct: f64,
    pub dropped_lines: u64,
    /// Whether the last drop was within the hour.
    pub dropped_recently: bool,
}

/// The collector's self-checks: sinks down, a report failing, tokens rate
/// limited, the spool filling or dropping points.
pub fn self_checks(cfg: &AlarmsConfig, h: &Health) -> Vec<Cond> {
    let mut out = Vec::new();
    if cfg.enabled("sink_down") {
        for s in &h.sinks {
            let summary =
                Texts::new(|l| words::sink_down(l, &s.name, &s.endpoint, s.since_secs, s.queued, &s.last_error));
            let active = s.queued > 0 && s.since_secs > 300;
            let l = [("sink".to_string(), s.name.clone())].into();
            out.push(cond("sink_down", l, summary, Some(s.queued.to_string()), active));
        }
    }
    if cfg.enabled("report_failing") {
        let (receiver, period, err) = h.report_failing.clone().unwrap_or_default();
        let summary = Texts::new(|l| words::report_failing(l, &period, &receiver, &err));
        out.push(cond("report_failing", BTreeMap::new(), summary, Some(period.clone()), h.report_failing.is_some()));
    }
    if cfg.enabled("ingest_rate_limited") {
        for (token, recent) in &h.rate_limited {
            let summary =
                Texts::new(|l| words::ingest_rate_limited(l, token, h.rate_points_per_sec, h.rate_window_secs));
            // The token's label is kept even when empty (an anonymous writer).
            let l = [("token".to_string(), token.clone())].into();
            out.push(cond("ingest_rate_limited", l, summary, Some(recent.to_string()), *recent));
        }
    }
    if cfg.enabled("peer_unreachable") {
        let zone = cfg.zone();
        for peer in &h.peers {
            let since = peer.down_since_ms.unwrap_or_default();
            let summary = Texts::new(|l| {
                let since = l.time(since, &zone);
                let last = peer.last_ok_ms.map(|t| l.time(t, &zone));
                words::peer_unreachable(l, &peer.name, &peer.url, &since, last.as_deref(), &peer.last_error)
            });
            let l = labels(&[("peer", &peer.name)]);
            out.push(cond("peer_unreachable", l, summary, None, peer.gone));
        }
    }
    if let Some(sp) = &h.spool {
        if cfg.enabled("spool_filling") {
            let summary = Texts::new(|l| words::spool_filling(l, sp.used_pct));
            let value = Some(format!("{:.0}", sp.used_pct));
            out.push(cond("spool_filling", BTreeMap::new(), summary, value, sp.used_pct > 80.0));
        }
        if cfg.enabled("spool_dropped_points") {
            // Only with `spool.when_full: drop_oldest`: points some sink never
            // had were deleted to make room. Fires for an hour after a drop.
            let summary = Texts::new(|l| words::spool_dropped_points(l, sp.dropped_lines));
            let value = Some(sp.dropped_lines.to_string());
            out.push(cond("spool_dropped_points", BTreeMap::new(), summary, value, sp.dropped_recently));
        }
    }
    out
}

/// A receiver whose notices keep failing (3 attempts or more); an existing
/// such alarm clears once nothing waits for its receiver any more.
pub fn notification_failing<'a>(undelivered: &[Undelivered], alarms: impl Iterator<Item = &'a Alarm>) -> Vec<Cond> {
    let mut out = Vec::new();
    for u in undelivered {
        let summary = Texts::new(|l| {
            words::notification_failing(l, &u.receiver, u.count, u.last_error.as_deref().unwrap_or_default())
        });
        let l = labels(&[("receiver", &u.receiver)]);
        out.push(cond("notification_failing", l, summary, Some(u.count.to_string()), u.attempts >= 3));
    }
    for a in alarms {
        let receiver = a.labels.get("receiver").cloned().unwrap_or_default();
        if a.name == "notification_failing" && !undelivered.iter().any(|u| u.receiver == receiver) {
            let mut c = cond(
                "notification_failing",
                a.labels.clone(),
                Texts::new(|l| words::notification_recovered(l, &receiver)),
                None,
                false,
            );
            c.severity = a.severity;
            out.push(c);
        }
    }
    out
}

/// The `watchdog` condition: active while `watchdog.receivers` are set
/// (and it is not in `builtin.disabled`); inactive, to remove them, for
/// the watchdog alarms of earlier settings (turned off, or other labels).
pub fn watchdog<'a>(cfg: &AlarmsConfig, alarms: impl Iterator<Item = &'a Alarm>) -> Vec<Cond> {
    let on = cfg.watchdog.as_ref().filter(|_| cfg.enabled(WATCHDOG)).map(|w| &w.labels);
    let mut out: Vec<Cond> =
        on.map(|l| cond(WATCHDOG, l.clone(), Texts::new(words::watchdog), None, true)).into_iter().collect();
    for a in alarms.filter(|a| a.name == WATCHDOG && Some(&a.labels) != on) {
        out.push(cond(WATCHDOG, a.labels.clone(), Texts::new(words::watchdog), None, false));
    }
    out
}

/// `series_cap_reached` of each token at its cap (and of those no longer, to resolve).
pub fn series_cap(latest: &Latest, alarms: &HashMap<String, Alarm>, token_cap: usize) -> Vec<Cond> {
    let mut out = Vec::new();
    // A peer's relay has a cap of its own (`alarm::apply`).
    let cap_of = |owner: &str| {
        if owner.starts_with(crate::peer::config::RELAY_PREFIX) {
            token_cap.saturating_mul(crate::peer::config::RELAY_CAP_FACTOR)
        } else {
            token_cap
        }
    };
    let mut tokens: std::collections::BTreeSet<String> =
        latest.owners.iter().filter(|(k, c)| c.entries >= cap_of(k)).map(|(k, _)| k.to_string()).collect();
    tokens.extend(
        alarms.values().filter(|a| a.name == "series_cap_reached").filter_map(|a| a.labels.get("token").cloned()),
    );
    for token in tokens {
        let entries = latest.owners.get(token.as_str()).map_or(0, |c| c.entries);
        let cap = cap_of(&token);
        let summary = Texts::new(|l| words::series_cap(l, &token, cap));
        let l = [("token".to_string(), token.clone())].into();
        out.push(cond("series_cap_reached", l, summary, Some(entries.to_string()), entries >= cap));
    }
    out
}

/// `alarm_cap_reached` of each site over its cap (and of those no longer, to resolve).
pub fn alarm_cap(alarms: &HashMap<String, Alarm>, not_raised: &BTreeMap<String, usize>, cap: usize) -> Vec<Cond> {
    let mut sites: std::collections::BTreeSet<String> = not_raised.keys().cloned().collect();
    sites.extend(
        alarms
            .values()
            .filter(|a| a.name == "alarm_cap_reached")
            .map(|a| a.labels.get("site").cloned().unwrap_or_default()),
    );
    sites
        .into_iter()
        .map(|site| {
            let n = not_raised.get(&site).copied().unwrap_or(0);
            let summary = Texts::new(|l| words::alarm_cap(l, &site, cap, n));
            cond("alarm_cap_reached", labels(&[("site", &site)]), summary, Some(n.to_string()), n > 0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{cfg, row, rows};
    use super::*;

    fn health() -> Health {
        Health {
            sinks: vec![
                SinkHealth {
                    name: "influx".into(),
                    endpoint: "http://db:8086".into(),
                    queued: 12,
                    since_secs: 301,
                    last_error: "refused".into(),
                },
                SinkHealth {
                    name: "vm".into(),
                    endpoint: "http://vm:8428".into(),
                    queued: 0,
                    since_secs: 900,
                    last_error: String::new(),
                },
            ],
            report_failing: Some(("boss".into(), "2026-11".into(), "smtp".into())),
            rate_limited: vec![("edge".into(), true)],
            rate_points_per_sec: 100.0,
            rate_window_secs: 300,
            spool: Some(SpoolHealth { used_pct: 81.4, dropped_lines: 7, dropped_recently: false }),
            peers: vec![
                crate::peer::PeerHealth {
                    name: "hn-dc2".into(),
                    url: "https://10.2.0.10:8186".into(),
                    gone: true,
                    down_since_ms: Some(1_795_363_200_000),
                    last_ok_ms: Some(1_795_363_195_000),
                    last_error: "connection refused".into(),
                },
                crate::peer::PeerHealth {
                    name: "late".into(),
                    gone: false,
                    down_since_ms: Some(0),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn in_a_pair_each_collectors_own_alarms_carry_its_name() {
        let mut conds = self_checks(&cfg(""), &health());
        conds.push(super::super::cond("room_hot", BTreeMap::new(), Texts::default(), None, true));
        label_own(&mut conds, "hn-dc1");
        let got: Vec<(String, Option<&String>)> =
            conds.iter().map(|c| (c.name.clone(), c.labels.get("collector"))).collect();
        let dc1 = "hn-dc1".to_string();
        for (name, label) in &got {
            let want = if name == "peer_unreachable" || name == "room_hot" { None } else { Some(&dc1) };
            assert_eq!(*label, want, "{name}");
        }
        assert!(got.iter().any(|(n, _)| n == "sink_down") && got.iter().any(|(n, _)| n == "peer_unreachable"));
    }

    #[test]
    fn the_collector_checks_itself() {
        let table = [
            (
                health(),
                vec![
                    row("ingest_rate_limited", "token=edge", "warning", Some("true"), true),
                    row("peer_unreachable", "peer=hn-dc2", "critical", None, true),
                    row("peer_unreachable", "peer=late", "critical", None, false),
                    row("report_failing", "", "warning", Some("2026-11"), true),
                    row("sink_down", "sink=influx", "critical", Some("12"), true),
                    row("sink_down", "sink=vm", "critical", Some("0"), false),
                    row("spool_dropped_points", "", "critical", Some("7"), false),
                    row("spool_filling", "", "warning", Some("81"), true),
                ],
            ),
            (
                Health {
                    sinks: vec![],
                    rate_limited: vec![],
                    spool: None,
                    report_failing: None,
                    peers: vec![],
                    ..health()
                },
                vec![row("report_failing", "", "warning", Some(""), false)],
            ),
        ];
        for (h, want) in table {
            assert_eq!(rows(&self_checks(&cfg(""), &h)), want);
        }
    }

    #[test]
    fn the_watchdog_fires_while_configured_and_is_removed_with_its_old_labels() {
        use crate::alarm::config::WatchdogAlarm;
        use crate::alarm::lifecycle::transition::step;
        let mut c = cfg("");
        let alarm = |pairs: &[(&str, &str)]| {
            let cond = cond(WATCHDOG, labels(pairs), Texts::default(), None, true);
            step(None, "fp", &cond, 0, crate::i18n::Lang::En).updated.unwrap()
        };
        // Off, and no alarm of it: nothing.
        assert_eq!(rows(&watchdog(&c, [].iter())), []);
        c.watchdog = Some(WatchdogAlarm {
            receivers: vec!["am".into()],
            every_secs: 60,
            labels: labels(&[("collector", "hn")]),
        });
        let table = [
            (vec![], vec![row("watchdog", "collector=hn", "info", None, true)]),
            (vec![alarm(&[("collector", "hn")])], vec![row("watchdog", "collector=hn", "info", None, true)]),
            // The labels changed on a reload: the old one goes.
            (
                vec![alarm(&[("collector", "hcm")])],
                vec![
                    row("watchdog", "collector=hcm", "info", None, false),
                    row("watchdog", "collector=hn", "info", None, true),
                ],
            ),
        ];
        for (alarms, want) in table {
            assert_eq!(rows(&watchdog(&c, alarms.iter())), want);
        }
        let on = watchdog(&c, [].iter());
        assert_eq!(
            on[0].summary.en,
            "Always firing on purpose, not a problem: this collector still evaluates and sends alarms; when it stops arriving, check the collector"
        );
        assert_eq!(
            on[0].summary.vi,
            "Tín hiệu kiểm tra luôn bật, không phải sự cố: collector này vẫn đánh giá và gửi được cảnh báo; khi tín hiệu này ngừng đến, hãy kiểm tra collector"
        );
        // Switched off by name, or the section gone: the alarm is removed.
        let mut off = c.clone();
        off.builtin.disabled = vec![WATCHDOG.into()];
        let gone = [row("watchdog", "collector=hn", "info", None, false)];
        assert_eq!(rows(&watchdog(&off, [alarm(&[("collector", "hn")])].iter())), gone);
        c.watchdog = None;
        assert_eq!(rows(&watchdog(&c, [alarm(&[("collector", "hn")])].iter())), gone);
    }

    #[test]
    fn a_token_at_its_cap_reaches_it() {
        let mut latest = Latest::default();
        let owner = latest.owner("edge");
        latest.owners.get_mut(&owner).unwrap().entries = 5;
        let table = [(5, true), (6, false)];
        for (cap, active) in table {
            let c = series_cap(&latest, &HashMap::new(), cap);
            let want =
                if active { vec![row("series_cap_reached", "token=edge", "warning", Some("5"), true)] } else { vec![] };
            assert_eq!(rows(&c), want);
        }
        let not_raised: BTreeMap<String, usize> = [("hn".to_string(), 3)].into();
        assert_eq!(
            rows(&alarm_cap(&HashMap::new(), &not_raised, 10)),
            [row("alarm_cap_reached", "site=hn", "warning", Some("3"), true)]
        );
    }
}
