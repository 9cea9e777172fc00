//! What every source's normaliser produces: points, the values left out as
//! implausible, and how many the device said it did not know.

use dcwatch_common::lp::Point;

/// A value left out because it is not believable.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub field: String,
    /// Where it was read: an OID, or a Modbus function and address.
    pub at: String,
    pub value: f64,
    pub range: [f64; 2],
}

#[derive(Debug, Default)]
pub struct Normalized {
    pub points: Vec<Point>,
    pub flags: Vec<Flag>,
    /// Fields left out because the device said it does not know them.
    pub unknown: usize,
}

pub enum FieldValue {
    F64(f64),
    Bool(bool),
    Str(String),
}

/// `n × scale`, but a decimal scale (0.1, 0.01, …) divides by its inverse:
/// 209 / 10 is the double nearest 20.9, while 209 × 0.1 is 20.900000000000002.
pub fn apply_scale(n: f64, scale: f64) -> f64 {
    let inv = 1.0 / scale;
    if scale < 1.0 && (inv - inv.round()).abs() < 1e-9 { n / inv.round() } else { n * scale }
}

pub fn put(p: Point, name: &str, v: FieldValue) -> Point {
    match v {
        FieldValue::F64(x) => p.f64(name.to_string(), x),
        FieldValue::Bool(b) => p.bool(name.to_string(), b),
        FieldValue::Str(s) => p.str(name.to_string(), s),
    }
}

/// A point as its line of line protocol, without the newline (tests).
#[cfg(test)]
pub fn line(p: &Point) -> String {
    let mut b = Vec::new();
    p.write_to(&mut b);
    String::from_utf8(b).expect("line protocol is UTF-8").trim_end().to_string()
}

/// The normalised points as lines (tests).
#[cfg(test)]
pub fn lines(n: &Normalized) -> Vec<String> {
    n.points.iter().map(line).collect()
}
