//! Checking a silence before it is stored: one that would hide every alarm,
//! last for years, or cost every evaluation a fortune is refused.

use std::collections::BTreeMap;

use super::config::SilenceLimits;
use super::matchers::Matchers;
use super::store::Silence;

/// A silence as asked for, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: BTreeMap<String, String>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub author: String,
    pub reason: String,
}

/// How far ahead a maintenance window may be planned.
const MAX_LEAD_MS: i64 = 366 * 86_400_000;

/// Checks `new` against the limits, given how many silences are active or
/// waiting to start; the silence to store (id 0), or why not.
pub fn check(new: NewSilence, limits: &SilenceLimits, now_ms: i64, active: usize) -> Result<Silence, String> {
    if new.matchers.is_empty() {
        return Err("a silence needs at least one matcher (e.g. site, alertname, device)".into());
    }
    if new.matchers.len() > limits.max_matchers {
        return Err(format!(
            "a silence may have at most {} matchers (alarms.silences.max_matchers); this one has {}",
            limits.max_matchers,
            new.matchers.len()
        ));
    }
    if let Some((k, v)) =
        new.matchers.iter().find(|(k, v)| k.chars().count().max(v.chars().count()) > limits.max_matcher_chars)
    {
        let k: String = k.chars().take(40).collect();
        let chars = v.chars().count().max(k.chars().count());
        return Err(format!(
            "matcher `{k}` is {chars} characters long; at most {} (alarms.silences.max_matcher_chars)",
            limits.max_matcher_chars
        ));
    }
    let matchers = Matchers::try_from(new.matchers)?;
    if matchers.all_match_empty() {
        return Err("every matcher of this silence also matches an empty label, so it would silence every alarm; \
             name at least one label value (e.g. site: hn-dc1)"
            .into());
    }
    if new.ends_ms <= new.starts_ms {
        return Err("a silence must end after it starts".into());
    }
    if new.ends_ms <= now_ms {
        return Err("this silence would already have ended".into());
    }
    if new.starts_ms > now_ms.saturating_add(MAX_LEAD_MS) {
        return Err("a silence may start at most 366 days from now".into());
    }
    let from = new.starts_ms.max(now_ms);
    let max_ms = i64::try_from(limits.max_duration_secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
    if new.ends_ms - from > max_ms {
        return Err(format!(
            "a silence may last at most {} s (alarms.silences.max_duration_secs); this one lasts {} s",
            limits.max_duration_secs,
            (new.ends_ms - from) / 1000
        ));
    }
    if active >= limits.max_active {
        return Err(format!(
            "there are already {active} silences active or planned (alarms.silences.max_active); end some first"
        ));
    }
    Ok(Silence {
        id: 0,
        matchers,
        // A silence asked to start in the past starts now: the record says
        // when it really began.
        starts_ms: from,
        ends_ms: new.ends_ms,
        author: new.author,
        reason: new.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn new(matchers: &[(&str, &str)], starts_ms: i64, ends_ms: i64) -> NewSilence {
        NewSilence {
            matchers: matchers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            starts_ms,
            ends_ms,
            author: "nam".into(),
            reason: "bảo trì".into(),
        }
    }

    fn refused(n: NewSilence) -> String {
        check(n, &SilenceLimits::default(), NOW, 0).unwrap_err()
    }

    #[test]
    fn a_silence_that_would_hide_everything_is_refused() {
        for m in [&[("alertname", "~.*")][..], &[("site", "")], &[("site", "~x|"), ("host", "~.*")]] {
            assert_eq!(
                refused(new(m, NOW, NOW + HOUR)),
                "every matcher of this silence also matches an empty label, so it would silence every alarm; \
                 name at least one label value (e.g. site: hn-dc1)",
                "{m:?}"
            );
        }
        // One concrete value is enough.
        assert!(
            check(new(&[("site", "hn"), ("host", "~.*")], NOW, NOW + HOUR), &SilenceLimits::default(), NOW, 0).is_ok()
        );
    }

    #[test]
    fn a_silence_for_a_century_or_ending_at_the_end_of_time_is_refused() {
        assert_eq!(
            refused(new(&[("site", "hn")], NOW, NOW + 100 * 365 * 24 * HOUR)),
            "a silence may last at most 2592000 s (alarms.silences.max_duration_secs); this one lasts 3153600000 s"
        );
        assert!(refused(new(&[("site", "hn")], NOW, i64::MAX)).starts_with("a silence may last at most 2592000 s"));
        // starts_ms = 0 does not stretch the window: only the part from now counts.
        let s = check(new(&[("site", "hn")], 0, NOW + HOUR), &SilenceLimits::default(), NOW, 0).unwrap();
        assert_eq!((s.starts_ms, s.ends_ms), (NOW, NOW + HOUR));
        assert_eq!(refused(new(&[("site", "hn")], 0, HOUR)), "this silence would already have ended");
        assert_eq!(
            refused(new(&[("site", "hn")], NOW + 400 * 24 * HOUR, NOW + 401 * 24 * HOUR)),
            "a silence may start at most 366 days from now"
        );
    }

    #[test]
    fn too_many_or_too_long_matchers_and_too_many_silences_are_refused() {
        let many: Vec<(String, String)> = (0..20_000).map(|i| (format!("l{i}"), "v".to_string())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            refused(new(&many, NOW, NOW + HOUR)),
            "a silence may have at most 16 matchers (alarms.silences.max_matchers); this one has 20000"
        );
        let long = "a".repeat(300);
        assert_eq!(
            refused(new(&[("site", &long)], NOW, NOW + HOUR)),
            "matcher `site` is 300 characters long; at most 256 (alarms.silences.max_matcher_chars)"
        );
        assert_eq!(
            check(new(&[("site", "hn")], NOW, NOW + HOUR), &SilenceLimits::default(), NOW, 1000).unwrap_err(),
            "there are already 1000 silences active or planned (alarms.silences.max_active); end some first"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// Any matchers and times: an answer, never a panic; and what is
            /// accepted never matches an alarm that has none of its labels.
            #[test]
            fn arbitrary_silences_never_panic_nor_match_everything(
                matchers in proptest::collection::btree_map("\\PC{0,8}", "~?\\PC{0,12}", 0..20),
                starts in any::<i64>(),
                ends in any::<i64>(),
            ) {
                let n = NewSilence { matchers, starts_ms: starts, ends_ms: ends, author: "a".into(), reason: "r".into() };
                if let Ok(s) = check(n, &SilenceLimits::default(), NOW, 0) {
                    prop_assert!(!s.matchers.matches(|_| None));
                    prop_assert!(s.ends_ms - s.starts_ms <= 30 * 86_400_000);
                }
            }
        }
    }
}
