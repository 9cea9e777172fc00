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

struct DurationVisitor(Unit);

impl DurationVisitor {
    /// The text form: a plain number in the key's unit, or a jiff span.
    fn parse_text<E: de::Error>(&self, s: &str) -> Result<u64, E> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse().map_err(|_| E::invalid_value(Unexpected::Str(s), self));
        }
        let bad = || E::invalid_value(Unexpected::Str(s), self);
        let span: jiff::Span = t.parse().map_err(|_| bad())?;
        let ms = span.total((jiff::Unit::Millisecond, jiff::SpanRelativeTo::days_are_24_hours())).map_err(|_| bad())?;
        let unit = self.0.millis() as f64;
        if ms < 0.0 || ms.fract() != 0.0 || (ms / unit).fract() != 0.0 || ms / unit > u64::MAX as f64 {
            return Err(bad());
        }
        Ok((ms / unit) as u64)
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
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        self.parse_text(v)
    }
}

/// Whether `text` is a valid value of the duration key `key` (`…_secs` or
/// `…_ms`); None for other keys. serde-saphyr places a visitor's error at
/// the enclosing map, so `parse` uses this to find the key at fault.
pub fn refuses(key: &str, text: Option<&str>) -> Option<bool> {
    let unit = if key.ends_with("_secs") {
        Unit::Secs
    } else if key.ends_with("_ms") {
        Unit::Ms
    } else {
        return None;
    };
    Some(text.is_none_or(|t| DurationVisitor(unit).parse_text::<de::value::Error>(t).is_err()))
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
