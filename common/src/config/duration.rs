//! Durations as people write them, for the `*_secs` and `*_ms` keys:
//! `30s`, `5m`, `1h30m`, `7d`, `500ms`, or a plain number in the key's unit.
//!
//! The fields stay numbers (`u64` seconds or milliseconds); these are
//! `deserialize_with` helpers:
//!
//! ```ignore
//! #[serde(default = "default_interval", deserialize_with = "dcwatch_common::config::duration::secs")]
//! pub interval_secs: u64,
//! #[serde(default, deserialize_with = "dcwatch_common::config::duration::opt_secs")]
//! pub timeout_secs: Option<u64>,
//! ```
//!
//! The text is parsed by jiff's "friendly" span format (jiff is already the
//! time library of the collector), which also reads `1h 30m`, `2 days` and
//! ISO 8601 (`PT5M`). A day is 24 hours; months and years are refused (their
//! length depends on the date), as are negative durations and, for a
//! `*_secs` key, a fraction of a second.

use std::fmt;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// The unit of a key: what its plain number counts.
#[derive(Clone, Copy)]
enum Unit {
    Secs,
    Ms,
}

impl Unit {
    fn millis(self) -> u64 {
        match self {
            Unit::Secs => 1000,
            Unit::Ms => 1,
        }
    }
}

/// The longest duration a key takes: ten years of 365 days. Longer is a
/// slip of the finger (`400000d`), and would overflow the timers it sets.
pub const MAX_SECS: u64 = 10 * 365 * 86_400;

/// What a duration past [`MAX_SECS`] is told.
struct TooLong;

impl de::Expected for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration of at most 10 years (3650d)")
    }
}

struct DurationVisitor(Unit);

impl DurationVisitor {
    /// The text form: a plain number in the key's unit (`45`, or `+45` as
    /// YAML reads an unquoted `+45`), or a jiff span.
    fn parse_text<E: de::Error>(&self, s: &str) -> Result<u64, E> {
        let t = s.trim();
        let digits = t.strip_prefix('+').unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n = digits.parse().map_err(|_| E::invalid_value(Unexpected::Str(s), &TooLong))?;
            return self.capped(n, Unexpected::Str(s));
        }
        let bad = || E::invalid_value(Unexpected::Str(s), self);
        let span: jiff::Span = t.parse().map_err(|_| bad())?;
        let ms = span.total((jiff::Unit::Millisecond, jiff::SpanRelativeTo::days_are_24_hours())).map_err(|_| bad())?;
        let unit = self.0.millis() as f64;
        if ms < 0.0 || ms.fract() != 0.0 || (ms / unit).fract() != 0.0 {
            return Err(bad());
        }
        if ms / unit > (MAX_SECS * 1000 / self.0.millis()) as f64 {
            return Err(E::invalid_value(Unexpected::Str(s), &TooLong));
        }
        Ok((ms / unit) as u64)
    }

    /// `n` in the key's unit, if at most [`MAX_SECS`].
    fn capped<E: de::Error>(&self, n: u64, found: Unexpected) -> Result<u64, E> {
        if n > MAX_SECS * 1000 / self.0.millis() {
            return Err(E::invalid_value(found, &TooLong));
        }
        Ok(n)
    }
}

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Unit::Secs => f.write_str("a duration such as 30s, 5m, 1h30m or a number of seconds"),
            Unit::Ms => f.write_str("a duration such as 500ms, 2s, 1m or a number of milliseconds"),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        self.capped(v, Unexpected::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        let v = u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))?;
        self.capped(v, Unexpected::Unsigned(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        self.parse_text(v)
    }
}

/// Whether `text`, a scalar as written in the file after `${…}` references
/// are put in (so `${INTERVAL}` is what it stands for), is refused by the
/// duration key `key` (`…_secs` or `…_ms`); None for other keys.
/// serde-saphyr places a visitor's error at the enclosing map, so `parse`
/// uses this to find the key at fault.
///
/// A null (`~`, `null`, nothing) is what serde makes of it: `None` of an
/// optional key, refused by a required one — `null_refused` says which the
/// error was about (it names a unit or null value).
pub fn refuses(key: &str, text: Option<&str>, null_refused: bool) -> Option<bool> {
    let unit = if key.ends_with("_secs") {
        Unit::Secs
    } else if key.ends_with("_ms") {
        Unit::Ms
    } else {
        return None;
    };
    let Some(t) = text.filter(|t| !is_null(t)) else { return Some(null_refused) };
    Some(DurationVisitor(unit).parse_text::<de::value::Error>(t).is_err())
}

/// YAML 1.2's null: nothing, `~` or `null` (any case YAML allows).
pub fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A `*_secs` key: seconds.
pub fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(DurationVisitor(Unit::Secs))
}

/// A `*_ms` key: milliseconds.
pub fn ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(DurationVisitor(Unit::Ms))
}

/// An optional `*_secs` key (with `#[serde(default)]`).
pub fn opt_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(OptionVisitor(Unit::Secs))
}

/// An optional `*_ms` key (with `#[serde(default)]`).
pub fn opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(OptionVisitor(Unit::Ms))
}

struct OptionVisitor(Unit);

impl<'de> Visitor<'de> for OptionVisitor {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        DurationVisitor(self.0).expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_any(DurationVisitor(self.0)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct D {
        #[serde(default, deserialize_with = "secs")]
        a_secs: u64,
        #[serde(default, deserialize_with = "ms")]
        b_ms: u64,
        #[serde(default, deserialize_with = "opt_secs")]
        c_secs: Option<u64>,
    }

    fn d(text: &str) -> Result<D, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())
    }

    #[test]
    fn the_forms_people_write_are_read_in_the_key_s_unit() {
        for (text, secs) in [("30", 30), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("1h 30m", 5400), ("7d", 604_800)] {
            assert_eq!(d(&format!("a_secs: {text}\n")).map(|d| d.a_secs), Ok(secs), "{text}");
        }
        for (text, ms) in [("500", 500), ("500ms", 500), ("2s", 2000), ("1.5s", 1500), ("1m", 60_000)] {
            assert_eq!(d(&format!("b_ms: {text}\n")).map(|d| d.b_ms), Ok(ms), "{text}");
        }
        assert_eq!(d("c_secs: 2m\n").map(|d| d.c_secs), Ok(Some(120)));
        assert_eq!(d("c_secs: 15\n").map(|d| d.c_secs), Ok(Some(15)));
        assert_eq!(d("c_secs: ~\n").map(|d| d.c_secs), Ok(None));
        assert_eq!(d("a_secs: '45'\n").map(|d| d.a_secs), Ok(45));
        // YAML reads an unquoted `+5` as the number 5; quoted, it is the same.
        assert_eq!(d("a_secs: +5\n").map(|d| d.a_secs), Ok(5));
        assert_eq!(d("a_secs: '+5'\n").map(|d| d.a_secs), Ok(5));
        assert_eq!(d("a_secs: 3650d\n").map(|d| d.a_secs), Ok(MAX_SECS));
    }

    /// Review of issue 15: `400000d` (a slip for `40d`) was taken.
    #[test]
    fn a_duration_longer_than_ten_years_is_refused() {
        for text in ["3651d", "400000d", "315360001", "'315360001'"] {
            let e = d(&format!("a_secs: {text}\n")).unwrap_err();
            assert!(e.ends_with("expected a duration of at most 10 years (3650d)"), "{text}: {e}");
        }
        let e = d("b_ms: 315360000001\n").unwrap_err();
        assert!(e.ends_with("expected a duration of at most 10 years (3650d)"), "{e}");
        assert_eq!(d("b_ms: 315360000000\n").map(|d| d.b_ms), Ok(MAX_SECS * 1000));
    }

    #[test]
    fn refused_is_what_serde_would_refuse() {
        assert_eq!(refuses("a_secs", Some("~"), false), Some(false), "an optional key's null is None");
        assert_eq!(refuses("a_secs", Some("~"), true), Some(true));
        assert_eq!(refuses("a_secs", None, false), Some(false));
        assert_eq!(refuses("a_secs", Some("+5"), false), Some(false));
        assert_eq!(refuses("a_secs", Some("ten"), false), Some(true));
        assert_eq!(refuses("a_secs", Some("4000d"), false), Some(true));
        assert_eq!(refuses("name", Some("ten"), false), None);
    }

    #[test]
    fn what_is_no_duration_in_whole_units_is_refused() {
        for text in ["ten", "1.5s", "-5s", "-5", "1y", "2 months", "5 parsecs"] {
            let e = d(&format!("a_secs: {text}\n")).unwrap_err();
            assert!(e.ends_with("expected a duration such as 30s, 5m, 1h30m or a number of seconds"), "{text}: {e}");
        }
        let e = d("b_ms: 1.5ms\n").unwrap_err();
        assert!(e.ends_with("expected a duration such as 500ms, 2s, 1m or a number of milliseconds"), "{e}");
    }
}
