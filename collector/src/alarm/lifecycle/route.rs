//! The routing stage: the round's notices, most severe first (in a storm
//! they are the ones sent one by one), to their receivers — the alarm's
//! route unless the notice names its own — each admitted by the receiver's
//! storm window (`notify::Storms`) or folded into the window's summary;
//! then the summaries of the windows that ended.

use std::collections::HashMap;

use super::Round;
use super::flap::Notice;
use crate::alarm::builtin::collector::WATCHDOG;
use crate::alarm::config::AlarmsConfig;
use crate::alarm::notify::{self, Storms};
use crate::alarm::store::Alarm;
use crate::i18n::alarms::Texts;

/// A notice to queue: (receiver, fingerprint, kind, payload).
pub type Payload = (String, String, &'static str, String);

/// Orders `notices` most severe first, then by name and labels.
pub fn order(notices: &mut [Notice], known: &HashMap<&str, &Alarm>) {
    notices.sort_by(|(a, _, _), (b, _, _)| {
        let (a, b) = (known[a.as_str()], known[b.as_str()]);
        b.severity.cmp(&a.severity).then_with(|| a.name.cmp(&b.name)).then_with(|| a.labels.cmp(&b.labels))
    });
}

/// The payloads to queue for the round's notices (ordered in place), each
/// in its receiver's language, then `summaries` (receiver, payload); and
/// how many notices were folded. `why_resolved` gives a resolve notice's
/// summary (the condition's, or why the alarm expired).
pub fn run(
    cfg: &AlarmsConfig,
    storms: &mut Storms,
    round: &mut Round,
    why_resolved: &dyn Fn(&str) -> Option<Texts>,
    summaries: Vec<(String, String)>,
    zone: &jiff::tz::TimeZone,
    now_ms: i64,
) -> (Vec<Payload>, u64) {
    let known: HashMap<&str, &Alarm> =
        round.alarms.iter().chain(round.removed.iter()).map(|a| (a.fingerprint.as_str(), a)).collect();
    order(&mut round.notices, &known);
    let (mut payloads, mut folded) = (Vec::new(), 0);
    for (fp, kind, to) in &round.notices {
        let a = known[fp.as_str()];
        let resolved_summary = why_resolved(fp);
        for receiver in to.clone().unwrap_or_else(|| notify::route(cfg, a)) {
            // The watchdog is never folded: a storm must not end it at Alertmanager.
            if a.name != WATCHDOG && !storms.admit(&receiver, a, kind, now_ms, &cfg.limits) {
                folded += 1;
                continue;
            }
            let payload = notify::payload(a, kind, now_ms, resolved_summary.as_ref(), cfg.lang_of(&receiver), zone);
            payloads.push((receiver, fp.clone(), *kind, payload));
        }
    }
    payloads.extend(summaries.into_iter().map(|(receiver, payload)| (receiver, String::new(), "summary", payload)));
    (payloads, folded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::builtin::test_support::cfg;
    use crate::alarm::builtin::{self, labels};
    use crate::alarm::lifecycle::transition::step;
    use crate::i18n::Lang;

    fn alarm(name: &'static str, fp: &str, host: &str) -> Alarm {
        let c = builtin::cond(name, labels(&[("site", "hn"), ("host", host)]), Texts::default(), None, true);
        step(None, fp, &c, 0, Lang::En).updated.unwrap()
    }

    #[test]
    fn notices_go_most_severe_first_to_their_route_or_their_own_receivers_and_a_storm_is_folded() {
        let c = cfg(concat!(
            "limits: {max_notices_per_window: 3}\n",
            "routes:\n  - receivers: [hook]\n",
            "receivers:\n  - name: hook\n    webhook: {url: http://127.0.0.1:9/x}\n",
            "  - name: boss\n    lang: vi\n    webhook: {url: http://127.0.0.1:9/y}\n",
        ));
        let mut round = Round {
            alarms: vec![
                alarm("disk_full", "d2", "web2"),
                alarm("disk_full", "d1", "web1"),
                alarm("agent_silent", "s1", "db1"),
            ],
            notices: vec![
                ("d2".into(), "firing", None),
                ("d1".into(), "firing", None),
                ("s1".into(), "firing", None),
                ("d1".into(), "escalated", Some(vec!["boss".into()])),
            ],
            ..Default::default()
        };
        let summaries = vec![("hook".to_string(), "{}".to_string())];
        let (payloads, folded) =
            run(&c, &mut Storms::default(), &mut round, &|_| None, summaries, &jiff::tz::TimeZone::UTC, 1_000);
        let got: Vec<(&str, &str, &str)> = payloads.iter().map(|(r, fp, k, _)| (r.as_str(), fp.as_str(), *k)).collect();
        assert_eq!(
            got,
            [
                ("hook", "s1", "firing"),
                ("hook", "d1", "firing"),
                ("boss", "d1", "escalated"),
                ("hook", "d2", "firing"),
                ("hook", "", "summary")
            ]
        );
        assert_eq!(folded, 0);
        let boss: serde_json::Value = serde_json::from_str(&payloads[2].3).unwrap();
        assert_eq!(boss["lang"], "vi");
        // The window of `hook` is full now: the next notice is folded.
        let mut storms = Storms::default();
        round.notices.push(("d2".into(), "repeat", None));
        let (payloads, folded) = run(&c, &mut storms, &mut round, &|_| None, vec![], &jiff::tz::TimeZone::UTC, 2_000);
        assert_eq!((payloads.len(), folded), (4, 1));
    }

    #[test]
    fn the_watchdog_is_never_folded_into_a_storm() {
        let c = cfg("limits: {max_notices_per_window: 1}\n");
        let mut round = Round {
            alarms: vec![alarm("disk_full", "d1", "web1"), alarm("disk_full", "d2", "web2"), alarm(WATCHDOG, "w", "")],
            notices: vec![
                ("d1".into(), "firing", None),
                ("d2".into(), "firing", None),
                ("w".into(), "repeat", Some(vec!["hook".into()])),
            ],
            ..Default::default()
        };
        let (payloads, folded) =
            run(&c, &mut Storms::default(), &mut round, &|_| None, vec![], &jiff::tz::TimeZone::UTC, 1_000);
        let got: Vec<(&str, &str)> = payloads.iter().map(|(_, fp, k, _)| (fp.as_str(), *k)).collect();
        assert_eq!(got, [("d1", "firing"), ("w", "repeat")]);
        assert_eq!(folded, 1);
    }
}
