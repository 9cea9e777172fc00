//! The transition stage: a condition against the alarm it stands for, if any.

use std::collections::HashMap;

use super::{Event, Round};
use crate::alarm::conditions::Cond;
use crate::alarm::store::{Alarm, State};
use crate::i18n::Lang;

/// What a condition does to its alarm.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// The alarm as it now is (new, fired, or its summary or value changed).
    pub updated: Option<Alarm>,
    /// The alarm, cleared.
    pub removed: Option<Alarm>,
    pub history: Vec<Event>,
}

/// Whether nothing is to do: active, unchanged, and firing or still within its `for`.
pub fn unchanged(a: &Alarm, c: &Cond, now_ms: i64) -> bool {
    c.active
        && a.summary == c.summary
        && a.value == c.value
        && (a.state == State::Firing || now_ms - a.since_ms < (c.for_secs as i64) * 1000)
}

/// The transition stage over every condition, by fingerprint, against the
/// engine's `alarms`: what changes goes into `round`.
pub fn run(
    alarms: &HashMap<String, Alarm>,
    by_fp: &HashMap<String, &Cond>,
    now_ms: i64,
    lang: Lang,
    round: &mut Round,
) {
    for (fp, c) in by_fp {
        // Unchanged and nothing due: skip the copy (the steady state of most alarms).
        if alarms.get(fp).is_some_and(|a| unchanged(a, c, now_ms)) {
            continue;
        }
        let s = step(alarms.get(fp), fp, c, now_ms, lang);
        round.updated.extend(s.updated);
        round.removed.extend(s.removed);
        round.history.extend(s.history);
    }
}

/// A new active condition is pending (firing at once without `for`); a
/// pending one fires once it has held `for`; an inactive one removes its
/// alarm, resolved when it had fired.
pub fn step(existing: Option<&Alarm>, fp: &str, c: &Cond, now_ms: i64, lang: Lang) -> Step {
    let mut out = Step::default();
    match (existing.cloned(), c.active) {
        (None, true) => {
            let mut a = Alarm {
                fingerprint: fp.to_string(),
                name: c.name.clone(),
                labels: c.labels.clone(),
                severity: c.severity,
                state: State::Pending,
                summary: c.summary.clone(),
                value: c.value.clone(),
                since_ms: now_ms,
                fired_ms: None,
                sent_ms: None,
                ack: None,
                inhibited_by: None,
                escalated_ms: None,
                silenced_by: None,
            };
            if c.for_secs == 0 {
                a.state = State::Firing;
                a.fired_ms = Some(now_ms);
            }
            let event = if a.state == State::Firing { "firing" } else { "pending" };
            out.history.push((a.clone(), event, a.summary.get(lang).to_string()));
            out.updated = Some(a);
        }
        (Some(mut a), true) => {
            let mut changed = a.summary != c.summary || a.value != c.value;
            a.summary = c.summary.clone();
            a.value = c.value.clone();
            if a.state == State::Pending && now_ms - a.since_ms >= (c.for_secs as i64) * 1000 {
                a.state = State::Firing;
                a.fired_ms = Some(now_ms);
                out.history.push((a.clone(), "firing", a.summary.get(lang).to_string()));
                changed = true;
            }
            if changed {
                out.updated = Some(a);
            }
        }
        (Some(a), false) => {
            if a.state == State::Firing {
                out.history.push((a.clone(), "resolved", c.summary.get(lang).to_string()));
            }
            out.removed = Some(a);
        }
        (None, false) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::config::Severity;
    use crate::i18n::alarms::Texts;

    fn cond(active: bool, for_secs: u64, value: &str) -> Cond {
        Cond {
            name: "disk_full".into(),
            labels: [("host".to_string(), "db1".to_string())].into(),
            severity: Severity::Warning,
            summary: Texts::new(|_| "full".to_string()),
            value: Some(value.into()),
            active,
            for_secs,
            inhibits: &[],
            inhibit_hosts: Vec::new(),
        }
    }

    /// (state after, fired_ms, events) of `c` at `now_ms` against `before`.
    fn run(before: Option<&Alarm>, c: &Cond, now_ms: i64) -> (Option<State>, Option<i64>, bool, Vec<&'static str>) {
        let s = step(before, "fp", c, now_ms, Lang::En);
        let events = s.history.iter().map(|(_, e, _)| *e).collect();
        let a = s.updated.as_ref();
        (a.map(|a| a.state.clone()), a.and_then(|a| a.fired_ms), s.removed.is_some(), events)
    }

    #[test]
    fn conditions_move_alarms_through_pending_firing_resolved() {
        let fresh = step(None, "fp", &cond(true, 60, "95"), 1_000, Lang::En).updated.unwrap();
        let fired = step(None, "fp", &cond(true, 0, "95"), 1_000, Lang::En).updated.unwrap();
        let table: [(Option<&Alarm>, Cond, i64, _); 7] = [
            (None, cond(true, 0, "95"), 1_000, (Some(State::Firing), Some(1_000), false, vec!["firing"])),
            (None, cond(true, 60, "95"), 1_000, (Some(State::Pending), None, false, vec!["pending"])),
            (None, cond(false, 0, "10"), 1_000, (None, None, false, vec![])),
            (Some(&fresh), cond(true, 60, "96"), 30_000, (Some(State::Pending), None, false, vec![])),
            (Some(&fresh), cond(true, 60, "96"), 61_000, (Some(State::Firing), Some(61_000), false, vec!["firing"])),
            (Some(&fresh), cond(false, 60, "10"), 30_000, (None, None, true, vec![])),
            (Some(&fired), cond(false, 0, "10"), 30_000, (None, None, true, vec!["resolved"])),
        ];
        for (before, c, now, want) in table {
            assert_eq!(run(before, &c, now), want, "{before:?} {c:?} at {now}");
        }
    }

    #[test]
    fn an_unchanged_firing_alarm_needs_no_step() {
        let fired = step(None, "fp", &cond(true, 0, "95"), 1_000, Lang::En).updated.unwrap();
        assert!(unchanged(&fired, &cond(true, 0, "95"), 9_000));
        assert!(!unchanged(&fired, &cond(true, 0, "96"), 9_000));
        assert!(!unchanged(&fired, &cond(false, 0, "95"), 9_000));
    }
}
