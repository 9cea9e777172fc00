//! The expiry stage: alarms without a condition whose series and heartbeats
//! were all forgotten. Nothing will ever clear them, so they expire: removed,
//! and a firing one resolved with the reason. Looked for when the table
//! forgot something, and once when alarms restored at start have had a
//! series TTL to be seen again.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Round;
use crate::alarm::store::{Alarm, State};
use crate::i18n::Lang;
use crate::i18n::alarms::{self as words, Texts};

/// Whether to look for orphans now: `forgotten` series or heartbeats were
/// just forgotten, or the grace of restored alarms is over for the first
/// time (`looked` remembers that it was).
pub fn look(forgotten: usize, grace_over: bool, looked: &mut bool) -> bool {
    if forgotten > 0 || (grace_over && !*looked) {
        *looked = grace_over;
        return true;
    }
    false
}

/// The alarms without a condition (`has_cond`) that nothing in the table
/// `carries` any more; one restored at start only once `grace_over`.
pub fn orphans(
    alarms: &HashMap<String, Alarm>,
    has_cond: &dyn Fn(&str) -> bool,
    restored: &HashSet<String>,
    grace_over: bool,
    carries: &dyn Fn(&BTreeMap<String, String>) -> bool,
) -> Vec<Alarm> {
    alarms
        .values()
        .filter(|a| {
            !has_cond(&a.fingerprint) && (grace_over || !restored.contains(&a.fingerprint)) && !carries(&a.labels)
        })
        .cloned()
        .collect()
}

/// Removes `orphans` in `round` (a firing one resolved); returns, by
/// fingerprint, why each was closed, for its resolve notice.
pub fn expire(orphans: Vec<Alarm>, ttl_secs: u64, lang: Lang, round: &mut Round) -> HashMap<String, Texts> {
    let mut why_of = HashMap::new();
    for a in orphans {
        let why = Texts::new(|l| words::expired(l, ttl_secs));
        tracing::info!(alarm = %a.name, labels = ?a.labels, "alarm expired: nothing reports on it any more");
        if a.state == State::Firing {
            round.history.push((a.clone(), "resolved", why.get(lang).to_string()));
        }
        why_of.insert(a.fingerprint.clone(), why);
        round.removed.push(a);
    }
    why_of
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::builtin::{self, labels};
    use crate::alarm::lifecycle::transition::step;

    fn alarm(fp: &str, host: &str, for_secs: u64) -> Alarm {
        let mut c = builtin::cond("disk_full", labels(&[("site", "hn"), ("host", host)]), Texts::default(), None, true);
        c.for_secs = for_secs;
        step(None, fp, &c, 0, Lang::En).updated.unwrap()
    }

    #[test]
    fn orphans_are_looked_for_when_something_was_forgotten_and_once_after_the_grace() {
        let mut looked = false;
        // (forgotten, grace over) → look
        let table = [(0, false, false), (2, false, true), (0, true, true), (0, true, false), (1, true, true)];
        for (forgotten, grace_over, want) in table {
            assert_eq!(look(forgotten, grace_over, &mut looked), want, "{forgotten} {grace_over}");
        }
    }

    #[test]
    fn an_alarm_is_an_orphan_without_a_condition_or_a_series_and_restored_ones_after_the_grace() {
        let alarms: HashMap<String, Alarm> = [("a", "web1"), ("b", "web2"), ("c", "web3"), ("d", "web4")]
            .map(|(fp, h)| (fp.into(), alarm(fp, h, 0)))
            .into();
        let has_cond = |fp: &str| fp == "a";
        let restored: HashSet<String> = ["c".to_string()].into();
        let carries = |l: &BTreeMap<String, String>| l["host"] == "web2";
        let fps = |grace_over| {
            let mut v: Vec<String> = orphans(&alarms, &has_cond, &restored, grace_over, &carries)
                .into_iter()
                .map(|a| a.fingerprint)
                .collect();
            v.sort();
            v
        };
        assert_eq!(fps(false), ["d"]);
        assert_eq!(fps(true), ["c", "d"]);
    }

    #[test]
    fn an_expired_alarm_is_removed_and_resolved_only_if_it_fired() {
        let mut round = Round::default();
        let why = expire(vec![alarm("f", "web1", 0), alarm("p", "web2", 60)], 60, Lang::En, &mut round);
        let removed: Vec<&str> = round.removed.iter().map(|a| a.fingerprint.as_str()).collect();
        assert_eq!(removed, ["f", "p"]);
        let history: Vec<(&str, &str)> = round.history.iter().map(|(a, e, _)| (a.fingerprint.as_str(), *e)).collect();
        assert_eq!(history, [("f", "resolved")]);
        assert_eq!(
            round.history[0].2,
            "No data for 1 min: what this alarm is about is no longer reported, so the collector forgot it \
             (alarms.limits.series_ttl_secs); closed without a recovery"
        );
        assert_eq!(why["p"].en, round.history[0].2);
        assert_eq!(why.len(), 2);
    }
}
