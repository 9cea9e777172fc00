//! The dispatch stage: every alarm the round leaves, through its silence
//! and inhibition; a firing one that nothing holds back (no silence, no
//! inhibition, not settling) gets its first notice, its repeats while
//! unacknowledged, and its escalation once. A removed alarm whose notice
//! went out gets its resolve notice.

use std::collections::HashMap;

use super::flap::Notice;
use super::inhibit::Inhibitors;
use super::{Event, Round, silence};
use crate::alarm::builtin::collector::WATCHDOG;
use crate::alarm::conditions::Cond;
use crate::alarm::config::{AlarmsConfig, WatchdogAlarm};
use crate::alarm::notify;
use crate::alarm::store::{Alarm, Silence, State};

/// What the dispatch stage reads besides the round.
pub struct Held<'a> {
    pub silences: &'a [Silence],
    pub inhibitors: &'a Inhibitors<'a>,
    /// This evaluation's conditions, by fingerprint.
    pub conds: &'a HashMap<String, &'a Cond>,
}

/// The engine's alarms with the round's changes (`round.updated` in, the
/// removed out), each through [`Held`] and [`due`], into `round.alarms`;
/// those that changed are (re)noted in `round.updated`. Then the resolve
/// notices of the removed.
pub fn run<'a>(
    cfg: &AlarmsConfig,
    alarms: impl Iterator<Item = &'a Alarm>,
    held: &Held,
    now_ms: i64,
    round: &mut Round,
) {
    let mut all: Vec<Alarm> = alarms.cloned().collect();
    for u in &round.updated {
        all.retain(|a| a.fingerprint != u.fingerprint);
        all.push(u.clone());
    }
    all.retain(|a| !round.removed.iter().any(|r| r.fingerprint == a.fingerprint));
    for mut a in all {
        let before = a.clone();
        a.silenced_by = silence::silenced_by(held.silences, &a, now_ms);
        if a.state == State::Firing {
            a.inhibited_by = held.inhibitors.held(held.conds.get(&a.fingerprint).copied(), a.inhibited_by.take());
            let quiet = a.inhibited_by.is_some() || a.silenced_by.is_some();
            if !quiet && !settling(cfg, &a, now_ms) {
                due(cfg, &mut a, now_ms, &mut round.history, &mut round.notices);
            }
        }
        let changed = silence::changed(&before, &a);
        if changed && !round.updated.iter().any(|u| u.fingerprint == a.fingerprint) {
            round.updated.push(a.clone());
        } else if let Some(u) = round.updated.iter_mut().find(|u| u.fingerprint == a.fingerprint) {
            *u = a.clone();
        }
        round.alarms.push(a);
    }
    for r in &round.removed {
        // Only a notice that went out gets a resolve notice; the watchdog
        // gets none (its receivers end it themselves when it stops coming,
        // and the routes would send it to people).
        if r.state == State::Firing && r.sent_ms.is_some() && r.name != WATCHDOG {
            round.notices.push((r.fingerprint.clone(), "resolved", None));
        }
    }
}

/// Whether `a` still waits before its first notice: an alarm a site power
/// alarm could explain waits `inhibit_wait_ms`, so that the power alarm,
/// whose points may come a poll later, can form and stand for it.
pub fn settling(cfg: &AlarmsConfig, a: &Alarm, now_ms: i64) -> bool {
    a.sent_ms.is_none()
        && crate::alarm::builtin::EXPLAINED_BY_POWER.contains(&a.name.as_str())
        && a.labels
            .get("site")
            .is_some_and(|s| cfg.sites.iter().any(|c| &c.name == s && !(c.feeds.is_empty() && c.ups.is_empty())))
        && now_ms - a.fired_ms.unwrap_or(now_ms) < cfg.inhibit_wait_ms as i64
}

/// The notices `a` is due now ("firing", "repeat", "escalated"), noted on it.
pub fn due(cfg: &AlarmsConfig, a: &mut Alarm, now_ms: i64, history: &mut Vec<Event>, notices: &mut Vec<Notice>) {
    if a.name == WATCHDOG {
        if let Some(w) = &cfg.watchdog {
            watchdog_due(w, a, now_ms, notices);
        }
        return;
    }
    let repeat_ms = (cfg.repeat_interval_secs as i64) * 1000;
    let kind = match a.sent_ms {
        None => Some("firing"),
        Some(t) if a.ack.is_none() && repeat_ms > 0 && now_ms - t >= repeat_ms => Some("repeat"),
        _ => None,
    };
    if let Some(kind) = kind {
        a.sent_ms = Some(now_ms);
        notices.push((a.fingerprint.clone(), kind, None));
    }
    if a.ack.is_none()
        && a.escalated_ms.is_none()
        && let Some((to, after)) = notify::escalation(cfg, a)
        && now_ms - a.fired_ms.unwrap_or(now_ms) >= (after as i64) * 1000
    {
        a.escalated_ms = Some(now_ms);
        history.push((a.clone(), "escalated", to.join(", ")));
        notices.push((a.fingerprint.clone(), "escalated", Some(to)));
    }
}

/// The watchdog's notice, due every `every_secs` to its own receivers
/// whether acknowledged or not, never escalated: Alertmanager ends an alert
/// that is not sent again within its `resolve_timeout`.
fn watchdog_due(w: &WatchdogAlarm, a: &mut Alarm, now_ms: i64, notices: &mut Vec<Notice>) {
    let kind = match a.sent_ms {
        None => "firing",
        Some(t) if now_ms - t >= (w.every_secs as i64) * 1000 => "repeat",
        Some(_) => return,
    };
    a.sent_ms = Some(now_ms);
    notices.push((a.fingerprint.clone(), kind, Some(w.receivers.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::builtin::test_support::cfg;
    use crate::alarm::conditions::Cond;
    use crate::alarm::lifecycle::transition::step;
    use crate::alarm::store::Ack;
    use crate::i18n::Lang;

    fn fired(name: &'static str, at: i64) -> Alarm {
        let labels = crate::alarm::builtin::labels(&[("site", "hn"), ("host", "web1")]);
        let c: Cond =
            crate::alarm::builtin::cond(name, labels, crate::i18n::alarms::Texts::new(|_| String::new()), None, true);
        step(None, "fp", &c, at, Lang::En).updated.unwrap()
    }

    #[test]
    fn a_firing_alarm_is_sent_repeated_until_acknowledged_and_escalated_once() {
        let c = cfg(concat!(
            "repeat_interval_secs: 60\n",
            "routes:\n  - receivers: [hook]\n    escalate_to: [boss]\n    escalate_after_secs: 300\n",
            "receivers:\n  - name: hook\n    webhook: {url: http://127.0.0.1:9/x}\n",
            "  - name: boss\n    webhook: {url: http://127.0.0.1:9/y}\n",
        ));
        let sent = |at: i64| Alarm { sent_ms: Some(at), ..fired("disk_full", 0) };
        let acked = Alarm { ack: Some(Ack { by: "an".into(), at_ms: 1, comment: String::new() }), ..sent(0) };
        let escalated = Alarm { escalated_ms: Some(300_000), ..sent(300_000) };
        // (alarm, now) → the notices due.
        let table = [
            (fired("disk_full", 0), 0, vec!["firing"]),
            (sent(0), 59_000, vec![]),
            (sent(0), 60_000, vec!["repeat"]),
            (acked, 600_000, vec![]),
            (sent(240_000), 300_000, vec!["repeat", "escalated"]),
            (escalated, 330_000, vec![]),
        ];
        for (mut a, now, want) in table {
            let (mut history, mut notices) = (Vec::new(), Vec::new());
            due(&c, &mut a, now, &mut history, &mut notices);
            assert_eq!(notices.iter().map(|(_, k, _)| *k).collect::<Vec<_>>(), want, "at {now}");
            if want.contains(&"escalated") {
                assert_eq!(notices[1].2, Some(vec!["boss".to_string()]));
                assert_eq!(
                    history.iter().map(|(_, e, d)| (*e, d.as_str())).collect::<Vec<_>>(),
                    [("escalated", "boss")]
                );
            }
        }
    }

    #[test]
    fn a_silenced_alarm_sends_nothing_and_a_sent_one_that_is_removed_is_resolved() {
        let c = cfg("repeat_interval_secs: 60\n");
        let mut quiet = fired("disk_full", 0);
        quiet.fingerprint = "quiet".into();
        quiet.labels.insert("host".into(), "db1".into());
        let loud = fired("disk_full", 0);
        let gone = Alarm { fingerprint: "gone".into(), sent_ms: Some(0), ..fired("disk_full", 0) };
        let m: std::collections::BTreeMap<String, String> = [("host".to_string(), "db1".to_string())].into();
        let silences = [Silence {
            id: 4,
            matchers: crate::alarm::matchers::Matchers::try_from(m).unwrap(),
            starts_ms: 0,
            ends_ms: 10_000,
            author: "an".into(),
            reason: "maintenance".into(),
        }];
        let conds = HashMap::new();
        let inhibitors = Inhibitors::new(&conds);
        let held = Held { silences: &silences, inhibitors: &inhibitors, conds: &conds };
        let mut round = Round { removed: vec![gone.clone()], ..Default::default() };
        run(&c, [&quiet, &loud, &gone].into_iter(), &held, 1_000, &mut round);
        let kept: Vec<(&str, Option<i64>, Option<i64>)> =
            round.alarms.iter().map(|a| (a.fingerprint.as_str(), a.silenced_by, a.sent_ms)).collect();
        assert_eq!(kept, [("quiet", Some(4), None), ("fp", None, Some(1_000))]);
        let updated: Vec<&str> = round.updated.iter().map(|a| a.fingerprint.as_str()).collect();
        assert_eq!(updated, ["fp"], "a silence alone is not written");
        let notices: Vec<(&str, &str)> = round.notices.iter().map(|(fp, k, _)| (fp.as_str(), *k)).collect();
        assert_eq!(notices, [("fp", "firing"), ("gone", "resolved")]);
    }

    #[test]
    fn the_watchdog_goes_to_its_own_receivers_every_interval_acknowledged_or_not_and_is_never_resolved() {
        // Routes and a 4 h repeat for the others; the watchdog every 60 s to `am` only.
        let mut c = cfg(concat!(
            "repeat_interval_secs: 14400\n",
            "routes:\n  - receivers: [hook]\n    escalate_to: [hook]\n    escalate_after_secs: 1\n",
            "receivers:\n  - name: hook\n    webhook: {url: http://127.0.0.1:9/x}\n",
            "  - name: am\n    alertmanager: {url: http://127.0.0.1:9}\n",
        ));
        c.watchdog = Some(WatchdogAlarm { receivers: vec!["am".into()], every_secs: 60, labels: Default::default() });
        let sent = |at: i64| Alarm { sent_ms: Some(at), ..fired(WATCHDOG, 0) };
        let acked = Alarm { ack: Some(Ack { by: "an".into(), at_ms: 1, comment: String::new() }), ..sent(0) };
        let table = [
            (fired(WATCHDOG, 0), 0, vec!["firing"]),
            (sent(0), 59_999, vec![]),
            (sent(0), 60_000, vec!["repeat"]),
            (acked, 61_000, vec!["repeat"]),
            (sent(600_000), 630_000, vec![]),
        ];
        for (mut a, now, want) in table {
            let (mut history, mut notices) = (Vec::new(), Vec::new());
            due(&c, &mut a, now, &mut history, &mut notices);
            assert_eq!(notices.iter().map(|(_, k, _)| *k).collect::<Vec<_>>(), want, "at {now}");
            assert!(notices.iter().all(|(_, _, to)| to.as_deref() == Some(&["am".to_string()][..])), "{notices:?}");
            assert_eq!(history.len(), 0, "never escalated");
        }
        // Removed (turned off): no resolve notice, which the routes would send to people.
        let gone = Alarm { fingerprint: "gone".into(), sent_ms: Some(0), ..fired(WATCHDOG, 0) };
        let conds = HashMap::new();
        let inhibitors = Inhibitors::new(&conds);
        let held = Held { silences: &[], inhibitors: &inhibitors, conds: &conds };
        let mut round = Round { removed: vec![gone.clone()], ..Default::default() };
        run(&c, [&gone].into_iter(), &held, 1_000, &mut round);
        assert_eq!(round.notices, []);
    }

    #[test]
    fn what_the_power_alarm_may_explain_settles_first() {
        let c = cfg("inhibit_wait_ms: 5000\n");
        let table = [("agent_silent", 4_999, true), ("agent_silent", 5_000, false), ("disk_full", 0, false)];
        for (name, now, want) in table {
            assert_eq!(settling(&c, &fired(name, 0), now), want, "{name} at {now}");
        }
    }
}
