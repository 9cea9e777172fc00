//! The silence stage: which silence (or maintenance window) keeps an alarm
//! quiet now. Worked out at each evaluation from the stored silences, not
//! stored with the alarm, so a silence that ends releases its alarms at the
//! next evaluation (checking a new silence is `alarm/silence.rs`).

use crate::alarm::store::{Alarm, Silence};

/// The id of the first of `silences` that holds `a` at `now_ms`.
pub fn silenced_by(silences: &[Silence], a: &Alarm, now_ms: i64) -> Option<i64> {
    silences.iter().find(|s| s.matches(a, now_ms)).map(|s| s.id)
}

/// Whether `a` is to be written again: it differs from `before` in more
/// than `silenced_by`, which is not stored.
pub fn changed(before: &Alarm, a: &Alarm) -> bool {
    let mut b = before.clone();
    b.silenced_by = a.silenced_by;
    b != *a
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::alarm::builtin::{self, labels};
    use crate::alarm::lifecycle::transition::step;
    use crate::alarm::matchers::Matchers;
    use crate::i18n::Lang;
    use crate::i18n::alarms::Texts;

    fn alarm(host: &str) -> Alarm {
        let c = builtin::cond("disk_full", labels(&[("site", "hn"), ("host", host)]), Texts::default(), None, true);
        step(None, "fp", &c, 0, Lang::En).updated.unwrap()
    }

    fn silence(id: i64, pairs: &[(&str, &str)], starts_ms: i64, ends_ms: i64) -> Silence {
        let m: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Silence {
            id,
            matchers: Matchers::try_from(m).unwrap(),
            starts_ms,
            ends_ms,
            author: "an".into(),
            reason: "maintenance".into(),
        }
    }

    #[test]
    fn an_alarm_is_held_by_the_first_silence_that_matches_it_now() {
        let silences = [
            silence(1, &[("host", "web1")], 10_000, 20_000),
            silence(2, &[("alertname", "disk_full"), ("host", "~web.*")], 0, 30_000),
            silence(3, &[("host", "web1")], 0, 40_000),
        ];
        // (host, now) → the silence holding it
        let table =
            [("web1", 5_000, Some(2)), ("web1", 15_000, Some(1)), ("web1", 35_000, Some(3)), ("db1", 15_000, None)];
        for (host, now, want) in table {
            assert_eq!(silenced_by(&silences, &alarm(host), now), want, "{host} at {now}");
        }
    }

    #[test]
    fn a_change_of_silence_alone_is_not_written() {
        let before = alarm("web1");
        let silenced = Alarm { silenced_by: Some(7), ..before.clone() };
        assert!(!changed(&before, &silenced));
        let sent = Alarm { sent_ms: Some(1_000), ..silenced };
        assert!(changed(&before, &sent));
    }
}
