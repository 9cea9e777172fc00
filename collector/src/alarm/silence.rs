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

/// Why a silence was refused. The text (`Display`) is the API's answer, in
/// English; the console words it from the catalogue
/// (`i18n::web::silence_refused`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("a silence needs at least one matcher (e.g. site, alertname, device)")]
    NoMatcher,
    #[error("a silence may have at most {max} matchers (alarms.silences.max_matchers); this one has {has}")]
    TooManyMatchers { max: usize, has: usize },
    #[error("matcher `{key}` is {chars} characters long; at most {max} (alarms.silences.max_matcher_chars)")]
    MatcherTooLong { key: String, chars: usize, max: usize },
    #[error(transparent)]
    NotARegex(#[from] super::matchers::NotARegex),
    #[error(
        "every matcher of this silence also matches an empty label, so it would silence every alarm; \
         name at least one label value (e.g. site: hn-dc1)"
    )]
    MatchesEmpty,
    #[error(
        "every matcher of this silence matches any value (or an empty label), so it would silence \
         every alarm; name at least one label value (e.g. site: hn-dc1)"
    )]
    MatchesAnything,
    #[error("a silence must end after it starts")]
    EndsBeforeStart,
    #[error("this silence would already have ended")]
    AlreadyEnded,
    #[error("a silence may start at most 366 days from now")]
    StartsTooLate,
    #[error("a silence may last at most {max_secs} s (alarms.silences.max_duration_secs); this one lasts {secs} s")]
    TooLong { max_secs: u64, secs: i64 },
    #[error("there are already {active} silences active or planned (alarms.silences.max_active); end some first")]
    TooManyActive { active: usize },
}

/// Checks `new` against the limits, given how many silences are active or
/// waiting to start; the silence to store (id 0), or why not.
pub fn check(new: NewSilence, limits: &SilenceLimits, now_ms: i64, active: usize) -> Result<Silence, Refused> {
    if new.matchers.is_empty() {
        return Err(Refused::NoMatcher);
    }
    if new.matchers.len() > limits.max_matchers {
        return Err(Refused::TooManyMatchers { max: limits.max_matchers, has: new.matchers.len() });
    }
    if let Some((k, v)) =
        new.matchers.iter().find(|(k, v)| k.chars().count().max(v.chars().count()) > limits.max_matcher_chars)
    {
        let key: String = k.chars().take(40).collect();
        let chars = v.chars().count().max(k.chars().count());
        return Err(Refused::MatcherTooLong { key, chars, max: limits.max_matcher_chars });
    }
    let matchers = Matchers::try_from(new.matchers)?;
    if matchers.all_match_empty() {
        return Err(Refused::MatchesEmpty);
    }
    if matchers.all_match_anything(super::builtin::BUILTIN_NAMES) {
        return Err(Refused::MatchesAnything);
    }
    if new.ends_ms <= new.starts_ms {
        return Err(Refused::EndsBeforeStart);
    }
    if new.ends_ms <= now_ms {
        return Err(Refused::AlreadyEnded);
    }
    if new.starts_ms > now_ms.saturating_add(MAX_LEAD_MS) {
        return Err(Refused::StartsTooLate);
    }
    let from = new.starts_ms.max(now_ms);
    let max_ms = i64::try_from(limits.max_duration_secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
    if new.ends_ms - from > max_ms {
        return Err(Refused::TooLong { max_secs: limits.max_duration_secs, secs: (new.ends_ms - from) / 1000 });
    }
    if active >= limits.max_active {
        return Err(Refused::TooManyActive { active });
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
        check(n, &SilenceLimits::default(), NOW, 0).unwrap_err().to_string()
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
            Refused::TooManyActive { active: 1000 }
        );
        assert_eq!(
            Refused::TooManyActive { active: 1000 }.to_string(),
            "there are already 1000 silences active or planned (alarms.silences.max_active); end some first"
        );
    }

    /// Regression (issue 13 review): regexes that refuse the empty string
    /// but accept any real value passed the "matches everything" check.
    #[test]
    fn regexes_that_match_any_value_but_not_the_empty_one_are_refused() {
        let any = "every matcher of this silence matches any value (or an empty label), so it would silence \
                   every alarm; name at least one label value (e.g. site: hn-dc1)";
        for m in [
            &[("alertname", "~.+")][..],
            &[("alertname", "~.*.")],
            &[("alertname", "~[^\n]+")],
            &[("alertname", "~(?s).+")],
            // Every alarm's name is of these, though "0" or "Hà Nội" is not.
            &[("alertname", "~[a-z_]+")],
            &[("alertname", "~.{2,}")],
            &[("alertname", "~..+")],
            &[("site", "~.+"), ("host", "~(?s).+")],
            // One matcher accepts the empty label, the other any value.
            &[("site", "~.+"), ("host", "~.*")],
        ] {
            assert_eq!(refused(new(m, NOW, NOW + HOUR)), any, "{m:?}");
        }
        for m in [
            &[("alertname", "disk_full")][..],
            &[("alertname", "~disk_.*|ups_.*")],
            &[("host", "~web0[1-3]")],
            &[("site", "hn"), ("host", "~.+")],
            &[("site", "hn"), ("alertname", "~[a-z_]+")],
        ] {
            let s = check(new(m, NOW, NOW + HOUR), &SilenceLimits::default(), NOW, 0).unwrap();
            assert_eq!(s.matchers.raw(), &new(m, NOW, NOW + HOUR).matchers);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The alarms to try an accepted silence on, made apart from the
        /// check's own probes: every built-in alarm, once with no label but
        /// its name (as the collector's own alarms are) and once at a site,
        /// host and device of ordinary names. An accepted silence must
        /// leave at least one of them unsilenced.
        fn alarms() -> Vec<BTreeMap<&'static str, &'static str>> {
            let mut v = Vec::new();
            for name in crate::alarm::builtin::BUILTIN_NAMES {
                v.push(BTreeMap::from([("alertname", *name)]));
                for (site, host, device) in [("hn-dc1", "web01", "ups1"), ("hcm", "db-02.local", "pdu-a")] {
                    v.push(BTreeMap::from([("alertname", *name), ("site", site), ("host", host), ("device", device)]));
                }
            }
            v
        }

        /// A matcher value: often one of the catch-alls reviewers found, or
        /// a piece of an ordinary one; sometimes anything.
        fn value() -> impl Strategy<Value = String> {
            let pieces = proptest::sample::select(vec![
                "~.*",
                "~.+",
                "~.*.",
                "~[^\n]+",
                "~(?s).+",
                "~(?s).*",
                "~x|",
                "~.?",
                "~\\w*",
                "~[^x]*",
                "~.+|",
                "~web0[1-3]",
                "~disk_.*",
                "~.*_.*",
                "~[a-z]+",
                "~[[:alpha:]].*",
                "~.{1,}",
                "~.{2,}",
                "~..+",
                "~[a-z_]+",
                "~[[:alpha:]][a-z0-9_-]*",
                "~\\S+",
                "~\\PC+",
                "hn",
                "",
                "x",
                "disk_full",
            ])
            .prop_map(str::to_string);
            prop_oneof![4 => pieces, 1 => "~?\\PC{0,12}"]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// Any matchers and times: an answer, never a panic; and for
            /// every silence accepted there is an alarm of [`alarms`] it
            /// does not match.
            #[test]
            fn every_accepted_silence_leaves_some_alarm_unsilenced(
                matchers in proptest::collection::btree_map(
                    proptest::sample::select(vec!["alertname", "site", "host", "device"]).prop_map(str::to_string),
                    value(),
                    0..5,
                ),
                // Mostly times that pass, so the matchers are what is checked.
                starts in prop_oneof![1 => any::<i64>(), 3 => NOW - HOUR..NOW + HOUR],
                lasts in prop_oneof![1 => any::<i64>(), 3 => 1..40 * 24 * HOUR],
            ) {
                let ends = starts.saturating_add(lasts);
                let n = NewSilence { matchers, starts_ms: starts, ends_ms: ends, author: "a".into(), reason: "r".into() };
                if let Ok(s) = check(n, &SilenceLimits::default(), NOW, 0) {
                    let spared = alarms().iter().any(|a| !s.matchers.matches(|k| a.get(k).copied()));
                    prop_assert!(spared, "{:?} matches every alarm", s.matchers.raw());
                    prop_assert!(s.ends_ms - s.starts_ms <= 30 * 86_400_000);
                }
            }

            /// Arbitrary text as matchers: an answer, never a panic.
            #[test]
            fn arbitrary_matchers_never_panic(
                matchers in proptest::collection::btree_map("\\PC{0,8}", "~?\\PC{0,12}", 0..20),
            ) {
                let n = NewSilence { matchers, starts_ms: NOW, ends_ms: NOW + HOUR, author: "a".into(), reason: "r".into() };
                let _ = check(n, &SilenceLimits::default(), NOW, 0);
            }
        }
    }
}
