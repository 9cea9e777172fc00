//! The flap damping stage: an alarm that fired and resolved `flap_changes`
//! times within `flap_window_secs` sends one "flapping" notice, then nothing
//! until it has been stable for the window; then its state then.

use std::collections::{HashMap, VecDeque};

use super::{Event, Round};
use crate::alarm::config::AlarmsConfig;
use crate::alarm::store::Alarm;
use crate::i18n::Lang;
use crate::i18n::alarms as words;

/// A notice to queue: (fingerprint, kind, receivers — None for the alarm's route).
pub type Notice = (String, &'static str, Option<Vec<String>>);

/// An alarm's recent firing/resolved changes, for flap damping.
#[derive(Debug, Default)]
pub struct Flap {
    changes: VecDeque<i64>,
    flapping: bool,
    /// The notice its state calls for, and the last one sent.
    wanted: &'static str,
    sent: &'static str,
    alarm: Option<Alarm>,
}

/// The settings of flap damping (`flap_changes` 0: off).
pub struct Damping {
    pub changes: u32,
    pub window_secs: u64,
    pub lang: Lang,
}

/// The flap stage over the round's notices, with `cfg`'s settings.
pub fn run(flaps: &mut HashMap<String, Flap>, cfg: &AlarmsConfig, round: &mut Round, now_ms: i64) {
    let d = Damping { changes: cfg.flap_changes, window_secs: cfg.flap_window_secs, lang: cfg.lang };
    let notices = std::mem::take(&mut round.notices);
    round.notices = damp(flaps, notices, &round.alarms, &mut round.removed, &mut round.history, &d, now_ms);
}

/// The notices that go out of `notices`, flap damped; an alarm that settles
/// gets its state's notice (and, when it settled resolved, is removed).
pub fn damp(
    flaps: &mut HashMap<String, Flap>,
    notices: Vec<Notice>,
    alarms: &[Alarm],
    removed: &mut Vec<Alarm>,
    history: &mut Vec<Event>,
    d: &Damping,
    now_ms: i64,
) -> Vec<Notice> {
    if d.changes == 0 {
        return notices;
    }
    let window = (d.window_secs as i64) * 1000;
    let mut kept = Vec::new();
    for (fp, kind, to) in notices {
        if !matches!(kind, "firing" | "resolved") {
            kept.push((fp, kind, to));
            continue;
        }
        let f = flaps.entry(fp.clone()).or_default();
        f.changes.push_back(now_ms);
        while f.changes.front().is_some_and(|t| now_ms - *t > window) {
            f.changes.pop_front();
        }
        f.wanted = kind;
        f.alarm = alarms.iter().chain(removed.iter()).find(|a| a.fingerprint == fp).cloned();
        if f.flapping {
            continue;
        }
        if f.changes.len() >= d.changes as usize {
            f.flapping = true;
            if let Some(a) = &f.alarm {
                history.push((a.clone(), "flapping", words::flap_changes(d.lang, f.changes.len(), d.window_secs)));
            }
            kept.push((fp, "flapping", to));
            continue;
        }
        f.sent = kind;
        kept.push((fp, kind, to));
    }
    let mut settled = Vec::new();
    for (fp, f) in flaps.iter_mut() {
        let stable = f.changes.back().is_none_or(|t| now_ms - *t > window);
        if f.flapping && stable {
            f.flapping = false;
            f.changes.clear();
            if f.wanted != f.sent {
                f.sent = f.wanted;
                settled.push((fp.clone(), f.wanted, f.alarm.clone()));
            }
        } else if !f.flapping && stable {
            f.changes.clear();
        }
    }
    flaps.retain(|_, f| f.flapping || !f.changes.is_empty());
    for (fp, kind, a) in settled {
        if let Some(a) = a
            && !alarms.iter().chain(removed.iter()).any(|x| x.fingerprint == fp)
        {
            removed.push(a);
        }
        kept.push((fp, kind, None));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_that_keeps_changing_sends_flapping_then_its_state_once_stable() {
        // 3 changes within 60 s make it flap.
        let d = Damping { changes: 3, window_secs: 60, lang: Lang::En };
        let mut flaps = HashMap::new();
        let (mut removed, mut history) = (Vec::new(), Vec::new());
        let n = |kind| vec![("fp".to_string(), kind, None)];
        // (at, notices wanted) → the kinds that go out.
        let table: [(i64, Vec<Notice>, Vec<&str>); 6] = [
            (0, n("firing"), vec!["firing"]),
            (10_000, n("resolved"), vec!["resolved"]),
            (20_000, n("firing"), vec!["flapping"]),
            (30_000, vec![], vec![]),
            (80_000, vec![], vec![]),
            // Stable for the window: the state it ended in (firing), not the last sent (resolved).
            (81_000, vec![], vec!["firing"]),
        ];
        for (at, notices, want) in table {
            let out = damp(&mut flaps, notices, &[], &mut removed, &mut history, &d, at);
            assert_eq!(out.iter().map(|(_, k, _)| *k).collect::<Vec<_>>(), want, "at {at}");
        }
        assert!(flaps.is_empty());
        let off = Damping { changes: 0, ..d };
        let out = damp(&mut flaps, n("firing"), &[], &mut removed, &mut history, &off, 0);
        assert_eq!(out, n("firing"));
    }
}
