//! Writing line protocol safely, through InfluxData's type-state builder.
//!
//! The builder escapes, but it does not refuse what line protocol cannot hold:
//! empty tag values, line breaks in names, NaN or infinite floats. This module
//! drops or mends those before they reach the builder, so every line we emit
//! parses back to what we meant (the tests check that by parsing).

use influxdb_line_protocol::LineProtocolBuilder;

/// A field value, borrowed where it can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
    Str(&'a str),
}

impl Value<'_> {
    fn is_writable(&self) -> bool {
        match self {
            Value::F64(v) => v.is_finite(),
            _ => true,
        }
    }
}

/// Mends a measurement, tag key/value or field key: a line break cannot be
/// escaped in line protocol, so it becomes a space.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\n', '\r']) { s.replace(['\n', '\r'], " ").into() } else { s.into() }
}

/// Appends one line to `buf`. Tags with an empty key or value are left out
/// (line protocol has no empty tag); non-finite floats are left out (line
/// protocol has no NaN). Returns false, writing nothing, when no field is
/// left or the measurement is empty.
pub fn write_line(
    buf: &mut Vec<u8>,
    measurement: &str,
    tags: &[(&str, &str)],
    fields: &[(&str, Value<'_>)],
    timestamp_ns: Option<i64>,
) -> bool {
    if measurement.is_empty() || !fields.iter().any(|(k, v)| !k.is_empty() && v.is_writable()) {
        return false;
    }
    let b = LineProtocolBuilder::new_with(&mut *buf).measurement(&clean(measurement));
    let b =
        tags.iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()).fold(b, |b, (k, v)| b.tag(&clean(k), &clean(v)));
    let mut fields = fields.iter().filter(|(k, v)| !k.is_empty() && v.is_writable());
    let (k, v) = fields.next().expect("checked above that one field is writable");
    let k = clean(k);
    let b = match *v {
        Value::F64(x) => b.field(&k, x),
        Value::I64(x) => b.field(&k, x),
        Value::U64(x) => b.field(&k, x),
        Value::Bool(x) => b.field(&k, x),
        Value::Str(x) => b.field(&k, x),
    };
    let b = fields.fold(b, |b, (k, v)| {
        let k = clean(k);
        match *v {
            Value::F64(x) => b.field(&k, x),
            Value::I64(x) => b.field(&k, x),
            Value::U64(x) => b.field(&k, x),
            Value::Bool(x) => b.field(&k, x),
            Value::Str(x) => b.field(&k, x),
        }
    });
    match timestamp_ns {
        Some(ts) => b.timestamp(ts).close_line(),
        None => b.close_line(),
    };
    true
}

/// A name that is usually a constant, and sometimes comes from data (a profile).
pub type Name = std::borrow::Cow<'static, str>;

/// A point owned by its producer, for sources that collect before writing.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: Name,
    pub tags: Vec<(Name, String)>,
    pub fields: Vec<(Name, OwnedValue)>,
    pub timestamp_ns: i64,
}

/// An owned field value.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    F64(f64),
    I64(i64),
    Bool(bool),
    Str(String),
}

impl Point {
    pub fn new(measurement: impl Into<Name>, timestamp_ns: i64) -> Self {
        Point { measurement: measurement.into(), tags: Vec::new(), fields: Vec::new(), timestamp_ns }
    }

    pub fn tag(mut self, key: impl Into<Name>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    pub fn f64(mut self, key: impl Into<Name>, value: f64) -> Self {
        self.fields.push((key.into(), OwnedValue::F64(value)));
        self
    }

    pub fn i64(mut self, key: impl Into<Name>, value: i64) -> Self {
        self.fields.push((key.into(), OwnedValue::I64(value)));
        self
    }

    /// Counters and sizes: written as signed integers, because InfluxDB 1.x
    /// rejects the `u` suffix; values above i64::MAX saturate.
    pub fn u64(self, key: impl Into<Name>, value: u64) -> Self {
        self.i64(key, i64::try_from(value).unwrap_or(i64::MAX))
    }

    pub fn bool(mut self, key: impl Into<Name>, value: bool) -> Self {
        self.fields.push((key.into(), OwnedValue::Bool(value)));
        self
    }

    pub fn str(mut self, key: impl Into<Name>, value: impl Into<String>) -> Self {
        self.fields.push((key.into(), OwnedValue::Str(value.into())));
        self
    }

    /// Appends the point as one line; false when it had nothing writable.
    pub fn write_to(&self, buf: &mut Vec<u8>) -> bool {
        let tags: Vec<(&str, &str)> = self.tags.iter().map(|(k, v)| (k.as_ref(), v.as_str())).collect();
        let fields: Vec<(&str, Value<'_>)> = self
            .fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    OwnedValue::F64(x) => Value::F64(*x),
                    OwnedValue::I64(x) => Value::I64(*x),
                    OwnedValue::Bool(x) => Value::Bool(*x),
                    OwnedValue::Str(x) => Value::Str(x),
                };
                (k.as_ref(), v)
            })
            .collect();
        write_line(buf, &self.measurement, &tags, &fields, Some(self.timestamp_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use influxdb_line_protocol::{FieldValue, parse_lines};

    fn one_line(buf: &[u8]) -> influxdb_line_protocol::ParsedLine<'_> {
        let text = std::str::from_utf8(buf).unwrap();
        let mut lines: Vec<_> = parse_lines(text).collect();
        assert_eq!(lines.len(), 1, "{text:?}");
        lines.pop().unwrap().unwrap()
    }

    #[test]
    fn special_characters_survive_a_round_trip() {
        let mut buf = Vec::new();
        let ok = write_line(
            &mut buf,
            "host disk,x",
            &[("mount", "/mnt/my disk,a=b"), ("win", r"C:\data")],
            &[("used pct", Value::F64(42.5)), ("label", Value::Str(r#"say "hi" \ bye"#))],
            Some(1_700_000_000_000_000_000),
        );
        assert!(ok);
        let line = one_line(&buf);
        assert_eq!(line.series.measurement.as_str(), "host disk,x");
        assert_eq!(line.tag_value("mount").unwrap().as_str(), "/mnt/my disk,a=b");
        assert_eq!(line.tag_value("win").unwrap().as_str(), r"C:\data");
        assert_eq!(line.field_value("used pct"), Some(&FieldValue::F64(42.5)));
        match line.field_value("label") {
            Some(FieldValue::String(s)) => assert_eq!(s.as_str(), r#"say "hi" \ bye"#),
            other => panic!("label was {other:?}"),
        }
        assert_eq!(line.timestamp, Some(1_700_000_000_000_000_000));
    }

    #[test]
    fn empty_tags_and_non_finite_floats_are_left_out() {
        let mut buf = Vec::new();
        let ok = write_line(
            &mut buf,
            "ups",
            &[("site", "hn"), ("device", "")],
            &[("load_pct", Value::F64(f64::NAN)), ("runtime_remaining_s", Value::I64(600))],
            Some(1),
        );
        assert!(ok);
        assert_eq!(std::str::from_utf8(&buf).unwrap(), "ups,site=hn runtime_remaining_s=600i 1\n");
    }

    #[test]
    fn a_point_with_no_writable_field_writes_nothing() {
        let mut buf = b"keep\n".to_vec();
        let ok = write_line(&mut buf, "ups", &[("site", "a")], &[("x", Value::F64(f64::INFINITY))], None);
        assert!(!ok);
        assert_eq!(buf, b"keep\n");
    }

    #[test]
    fn line_breaks_in_names_become_spaces() {
        let mut buf = Vec::new();
        write_line(&mut buf, "m", &[("unit", "a\nb")], &[("v", Value::Bool(true))], None);
        assert_eq!(std::str::from_utf8(&buf).unwrap(), "m,unit=a\\ b v=true\n");
    }

    #[test]
    fn large_unsigned_values_saturate_as_signed_integers() {
        let mut buf = Vec::new();
        Point::new("host_net", 5).tag("iface", "eth0").u64("rx_bytes", u64::MAX).write_to(&mut buf);
        assert_eq!(std::str::from_utf8(&buf).unwrap(), format!("host_net,iface=eth0 rx_bytes={}i 5\n", i64::MAX));
    }
}
