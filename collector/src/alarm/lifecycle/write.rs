//! The store write: the round's alarms, removals, history and notices in
//! one transaction. Only once it is written do the engine's alarms change,
//! so a failed write leaves them as they were and the next evaluation
//! works the same changes out again.

use std::collections::HashMap;

use super::Round;
use super::route::Payload;
use crate::alarm::config::AlarmsConfig;
use crate::alarm::store::{Alarm, Change, Store};

/// How long a notice to `receiver` waits to be grouped with others:
/// `group_wait_ms` for people (email, chat), nothing for machines.
pub fn delay_ms(cfg: &AlarmsConfig, receiver: &str) -> i64 {
    let human = cfg.receivers.iter().any(|r| r.name == receiver && (r.email.is_some() || r.telegram.is_some()));
    if human { cfg.group_wait_ms as i64 } else { 0 }
}

/// The changes of `round` and its `payloads`, in the order they are
/// written; each notice waits `hold_ms` more for a peered collector of a
/// lower rank to send it first (`crate::peer`).
pub fn changes<'a>(
    cfg: &AlarmsConfig,
    round: &'a Round,
    payloads: &'a [Payload],
    now_ms: i64,
    hold_ms: i64,
) -> Vec<Change<'a>> {
    let mut changes: Vec<Change<'a>> = round.updated.iter().map(Change::Upsert).collect();
    changes.extend(round.removed.iter().map(|r| Change::Remove(&r.fingerprint)));
    for (a, event, detail) in &round.history {
        changes.push(Change::History { alarm: a, event, detail: detail.clone(), at_ms: now_ms });
    }
    for (receiver, fp, kind, payload) in payloads {
        changes.push(Change::Notice {
            receiver,
            fingerprint: fp,
            status: kind,
            payload: payload.clone(),
            at_ms: now_ms,
            delay_ms: delay_ms(cfg, receiver) + hold_ms,
        });
    }
    changes
}

/// Writes `round` and `payloads`, then applies the round to `alarms`.
pub fn run(
    store: &mut Store,
    alarms: &mut HashMap<String, Alarm>,
    cfg: &AlarmsConfig,
    round: Round,
    payloads: &[Payload],
    now_ms: i64,
    hold_ms: i64,
) -> Result<(), crate::alarm::store::StoreError> {
    store.apply(&changes(cfg, &round, payloads, now_ms, hold_ms))?;
    for (a, event, _) in &round.history {
        tracing::info!(alarm = %a.name, labels = ?a.labels, event, summary = %a.summary.en, "alarm");
    }
    for a in round.updated {
        alarms.insert(a.fingerprint.clone(), a);
    }
    for r in round.removed {
        alarms.remove(&r.fingerprint);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::builtin::test_support::cfg;
    use crate::alarm::builtin::{self, labels};
    use crate::alarm::lifecycle::transition::step;
    use crate::i18n::Lang;
    use crate::i18n::alarms::Texts;

    fn alarm(fp: &str, host: &str) -> Alarm {
        let c = builtin::cond("disk_full", labels(&[("site", "hn"), ("host", host)]), Texts::default(), None, true);
        step(None, fp, &c, 0, Lang::En).updated.unwrap()
    }

    #[test]
    fn a_round_is_written_at_once_and_only_then_applied_to_the_alarms() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("alarms.db")).unwrap();
        let c = cfg(concat!(
            "group_wait_ms: 30000\n",
            "receivers:\n  - name: hook\n    webhook: {url: http://127.0.0.1:9/x}\n",
            "  - name: ops\n    email: {host: smtp.example.org, from: dcwatch@example.org, to: [ops@example.org]}\n",
        ));
        let mut alarms: HashMap<String, Alarm> = [("old".to_string(), alarm("old", "web9"))].into();
        let new = alarm("new", "web1");
        let round = Round {
            updated: vec![new.clone()],
            removed: vec![alarm("old", "web9")],
            history: vec![(new.clone(), "firing", "full".into())],
            ..Default::default()
        };
        let payloads: Vec<Payload> = vec![
            ("hook".into(), "new".into(), "firing", "{}".into()),
            ("ops".into(), "new".into(), "firing", "{}".into()),
        ];
        run(&mut store, &mut alarms, &c, round, &payloads, 1_000, 0).unwrap();
        assert_eq!(alarms.keys().collect::<Vec<_>>(), ["new"]);
        assert_eq!(store.load().unwrap(), [new]);
        assert_eq!(store.history(10).unwrap()[0]["event"], "firing");
        // The machine's notice is due at once, the person's after the group wait.
        let due = |at| store.due(at, 10).unwrap().into_iter().map(|n| n.receiver).collect::<Vec<_>>();
        assert_eq!(due(1_000), ["hook"]);
        assert_eq!(due(31_000), ["hook", "ops"]);
    }
}
