//! SNMP values as the normaliser sees them, independent of the wire library,
//! and a reader for snmpsim recordings (`OID|type|value` lines), which the
//! tests and the simulator use.

use std::collections::BTreeMap;

/// One varbind's value.
#[derive(Debug, Clone, PartialEq)]
pub enum SnmpValue {
    /// INTEGER.
    Int(i64),
    /// Counter32, Gauge32, TimeTicks, Counter64.
    Unsigned(u64),
    OctetString(Vec<u8>),
    Oid(String),
    IpAddress([u8; 4]),
    Null,
    /// noSuchObject, noSuchInstance, endOfMibView: the agent has no value.
    Missing,
}

impl SnmpValue {
    /// The raw number, if the value is one (a numeric string counts: some
    /// cards report "230.5" as text).
    pub fn number(&self) -> Option<f64> {
        match self {
            SnmpValue::Int(i) => Some(*i as f64),
            SnmpValue::Unsigned(u) => Some(*u as f64),
            SnmpValue::OctetString(b) => {
                std::str::from_utf8(b).ok()?.trim().parse::<f64>().ok().filter(|v| v.is_finite())
            }
            _ => None,
        }
    }

    /// The raw integer, for comparing with enum keys and sentinels.
    pub fn integer(&self) -> Option<i128> {
        match self {
            SnmpValue::Int(i) => Some(i128::from(*i)),
            SnmpValue::Unsigned(u) => Some(i128::from(*u)),
            SnmpValue::OctetString(_) => self.number().filter(|v| v.fract() == 0.0).map(|v| v as i128),
            _ => None,
        }
    }
}

/// Values by OID (no leading dot).
pub type Values = BTreeMap<String, SnmpValue>;

/// Reads an snmpsim recording: `OID|type|value` per line (type codes: 2
/// INTEGER, 4 OCTET STRING, 4x hex string, 5 NULL, 6 OID, 64 IpAddress, 65
/// Counter32, 66 Gauge32, 67 TimeTicks, 70 Counter64). Lines it cannot read
/// are returned as errors with their line numbers.
#[cfg(test)]
pub fn parse_snmprec(text: &str) -> Result<Values, String> {
    let mut out = Values::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, '|');
        let (Some(oid), Some(ty), Some(val)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("line {}: expected OID|type|value", i + 1));
        };
        let oid = oid.trim_start_matches('.').to_string();
        let bad = || format!("line {}: type {ty} value `{val}` cannot be read", i + 1);
        let v = match ty {
            "2" => SnmpValue::Int(val.parse().map_err(|_| bad())?),
            "4" => SnmpValue::OctetString(val.as_bytes().to_vec()),
            "4x" => SnmpValue::OctetString(
                (0..val.len() / 2)
                    .map(|j| u8::from_str_radix(&val[2 * j..2 * j + 2], 16))
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad())?,
            ),
            "5" => SnmpValue::Null,
            "6" => SnmpValue::Oid(val.trim_start_matches('.').to_string()),
            "64" => {
                let octets: Vec<u8> = val.split('.').map(str::parse).collect::<Result<_, _>>().map_err(|_| bad())?;
                SnmpValue::IpAddress(octets.try_into().map_err(|_| bad())?)
            }
            "65" | "66" | "67" | "70" => SnmpValue::Unsigned(val.parse().map_err(|_| bad())?),
            _ => return Err(format!("line {}: unknown type code `{ty}`", i + 1)),
        };
        out.insert(oid, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_lines_become_typed_values() {
        let v = parse_snmprec(
            "1.3.6.1.2.1.1.2.0|6|.1.3.6.1.4.1.935\n1.3.6.1.2.1.33.1.2.3.0|66|4294967295\n1.2|4x|414243\n1.3|2|-5\n",
        )
        .unwrap();
        assert_eq!(v["1.3.6.1.2.1.1.2.0"], SnmpValue::Oid("1.3.6.1.4.1.935".into()));
        assert_eq!(v["1.3.6.1.2.1.33.1.2.3.0"], SnmpValue::Unsigned(4_294_967_295));
        assert_eq!(v["1.2"], SnmpValue::OctetString(b"ABC".to_vec()));
        assert_eq!(v["1.3"].integer(), Some(-5));
    }

    #[test]
    fn a_broken_line_is_named() {
        assert_eq!(parse_snmprec("1.2|2|x\n"), Err("line 1: type 2 value `x` cannot be read".into()));
    }

    #[test]
    fn numeric_strings_are_numbers() {
        assert_eq!(SnmpValue::OctetString(b" 230.5 ".to_vec()).number(), Some(230.5));
        assert_eq!(SnmpValue::OctetString(b"n/a".to_vec()).number(), None);
    }
}
