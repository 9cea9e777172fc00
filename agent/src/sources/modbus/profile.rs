//! Modbus register-map profiles: data, not code. A profile says where each
//! value lives (function, 0-based protocol address), how to decode it (type,
//! byte/word order, bit), how to scale it, which raw values mean "unknown",
//! and which normalised field of which measurement it feeds. Profiles live in
//! `configs/profiles/modbus/*.yaml`; those shipped are built into the agent.

use std::collections::BTreeMap;

use dcwatch_common::config::{Problem, Validate};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::decode::{DataType, Order};

/// The profiles shipped with dcwatch, built in.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("apc-smartups.yaml", include_str!("../../../../configs/profiles/modbus/apc-smartups.yaml")),
    ("sdm630.yaml", include_str!("../../../../configs/profiles/modbus/sdm630.yaml")),
    ("dse-gencomm.yaml", include_str!("../../../../configs/profiles/modbus/dse-gencomm.yaml")),
    ("meter-3phase.yaml", include_str!("../../../../configs/profiles/modbus/meter-3phase.yaml")),
    ("ats-contacts.yaml", include_str!("../../../../configs/profiles/modbus/ats-contacts.yaml")),
];

/// Modbus's limit on one read: 125 registers, 2000 bits.
pub const MAX_READ_REGISTERS: u16 = 125;
pub const MAX_READ_BITS: u16 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Function 01.
    Coil,
    /// Function 02.
    Discrete,
    /// Function 03.
    Holding,
    /// Function 04.
    Input,
}

impl Function {
    pub fn is_bits(self) -> bool {
        matches!(self, Function::Coil | Function::Discrete)
    }

    pub fn max_read(self) -> u16 {
        if self.is_bits() { MAX_READ_BITS } else { MAX_READ_REGISTERS }
    }

    pub fn name(self) -> &'static str {
        match self {
            Function::Coil => "coil",
            Function::Discrete => "discrete",
            Function::Holding => "holding",
            Function::Input => "input",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Byte/word order of multi-register values, unless a field says
    /// otherwise. Defaults to ABCD (big-endian, high word first).
    #[serde(default)]
    pub order: Order,
    pub points: Vec<PointSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSpec {
    /// One of docs/metrics.md's, or `custom_…`.
    pub measurement: Spanned<String>,
    /// Fixed tags (e.g. `phase: "1"`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// One of docs/metrics.md's for the measurement, or `custom_…` (any
    /// name in a `custom_…` measurement).
    pub name: Spanned<String>,
    pub function: Function,
    /// Protocol address, 0-based (a manual's "40001" or "register 1" is 0).
    pub address: Spanned<u16>,
    /// Defaults to u16 (bit for coils and discrete inputs).
    #[serde(default, rename = "type")]
    pub ty: Option<DataType>,
    /// Registers of a string.
    #[serde(default)]
    pub length: Option<u16>,
    /// A bit of the value (0 = least significant): the field is a bool.
    #[serde(default)]
    pub bit: Option<u8>,
    /// This field's byte/word order. Defaults to the profile's.
    #[serde(default)]
    pub order: Option<Order>,
    /// Raw value × scale (after `divide`), then + offset.
    #[serde(default)]
    pub scale: Option<f64>,
    /// Raw value ÷ divide, for fixed-point values (e.g. 512 for 2^9).
    #[serde(default)]
    pub divide: Option<f64>,
    #[serde(default)]
    pub offset: Option<f64>,
    /// Raw value → string (an enum); others → "unknown".
    #[serde(default)]
    pub map: Option<BTreeMap<i64, String>>,
    /// Raw values meaning true: the field is a bool.
    #[serde(default)]
    pub true_when: Option<Vec<i64>>,
    /// A bit field → string: the first listed bit that is set gives the
    /// value; none set gives `otherwise` ("unknown" if not given).
    #[serde(default)]
    pub bits: Option<Vec<BitValue>>,
    #[serde(default)]
    pub otherwise: Option<String>,
    /// Raw bit patterns meaning "unknown" (0xFFFF, 0x8000, …): left out.
    #[serde(default)]
    pub unknown: Vec<u64>,
    /// [min, max] after scaling; outside: left out and flagged.
    #[serde(default)]
    pub plausible: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitValue {
    pub bit: u8,
    pub value: String,
}

impl FieldSpec {
    pub fn data_type(&self) -> DataType {
        self.ty.unwrap_or(if self.function.is_bits() { DataType::Bit } else { DataType::U16 })
    }

    /// Registers (or bits, for coils and discrete inputs) the field reads.
    pub fn count(&self) -> u16 {
        if self.function.is_bits() { 1 } else { self.data_type().registers(self.length.unwrap_or(0)) }
    }

    pub fn addr(&self) -> u16 {
        self.address.value
    }
}

impl Validate for ProfileFile {
    fn validate(&self, p: &mut Vec<Problem>) {
        if self.name.trim().is_empty() {
            p.push(Problem::general("name: must not be empty"));
        }
        let mut seen: Vec<(&FieldSpec, String)> = Vec::new();
        for (i, pt) in self.points.iter().enumerate() {
            check_names(pt, i, p);
            for (j, f) in pt.fields.iter().enumerate() {
                let at = format!("points[{i}].fields[{j}] ({})", f.name.value);
                let pos = |msg: String| Problem::at(f.address.referenced.line(), f.address.referenced.column(), msg);
                let t = f.data_type();
                if f.function.is_bits() && t != DataType::Bit {
                    p.push(pos(format!("{at}: a {} is one bit: its type is `bit`", f.function.name())));
                }
                if matches!(t, DataType::String | DataType::Nibbles) {
                    match f.length {
                        Some(1..=125) => {}
                        _ => p.push(pos(format!("{at}: a {} needs `length` in registers, 1 to 125", t.name()))),
                    }
                } else if f.length.is_some() {
                    p.push(pos(format!("{at}: `length` is for strings and nibbles only")));
                }
                if let Some(b) = f.bit {
                    let width = if t == DataType::Bit { 16 } else { 16 * u32::from(t.registers(0)) };
                    if u32::from(b) >= width
                        || matches!(t, DataType::F32 | DataType::F64 | DataType::String | DataType::Nibbles)
                    {
                        p.push(pos(format!("{at}: bit {b} is not in a {}", t.name())));
                    }
                }
                if u32::from(f.addr()) + u32::from(f.count()) > 65536 {
                    p.push(pos(format!(
                        "{at}: address {} with {} register(s) runs past 0xFFFF (65535), the last Modbus address",
                        super::address(f.addr()),
                        f.count()
                    )));
                }
                let kinds = [f.map.is_some(), f.true_when.is_some(), f.bits.is_some(), f.bit.is_some()];
                if kinds.iter().filter(|k| **k).count() > 1 {
                    p.push(pos(format!("{at}: give only one of map, true_when, bits, bit")));
                }
                if f.scale.is_some() && f.divide.is_some() {
                    p.push(pos(format!("{at}: give scale or divide, not both")));
                }
                if f.divide == Some(0.0) {
                    p.push(pos(format!("{at}: divide by 0")));
                }
                if let Some([lo, hi]) = f.plausible
                    && lo > hi
                {
                    p.push(pos(format!("{at}: plausible range [{lo}, {hi}] is empty")));
                }
                // Fields may share registers only when they read the same ones
                // (a status word read as an enum and as a bit); a partial
                // overlap is a wrong address or type.
                let (a0, a1) = (u32::from(f.addr()), u32::from(f.addr()) + u32::from(f.count()));
                for (g, gat) in &seen {
                    let (b0, b1) = (u32::from(g.addr()), u32::from(g.addr()) + u32::from(g.count()));
                    if g.function == f.function && a0 < b1 && b0 < a1 && (a0, a1) != (b0, b1) {
                        p.push(pos(format!(
                            "{at}: {} registers {} overlap {gat} ({})",
                            f.function.name(),
                            super::address_range(f.addr(), (a1 - 1).min(65535) as u16),
                            super::address_range(g.addr(), (b1 - 1).min(65535) as u16),
                        )));
                    }
                }
                seen.push((f, at));
            }
        }
    }
}

/// Refuses a measurement, or a field of a known one, that is neither in the
/// schema (docs/metrics.md) nor `custom_…`: a misspelt `freq_hz` would
/// otherwise be stored where no alarm or report looks.
fn check_names(pt: &PointSpec, i: usize, p: &mut Vec<Problem>) {
    use dcwatch_common::schema::{CUSTOM_PREFIX, PROFILE_FIELDS, profile_fields};
    let at = |s: &Spanned<String>, msg: String| Problem::at(s.referenced.line(), s.referenced.column(), msg);
    let m = &pt.measurement;
    if m.value.starts_with(CUSTOM_PREFIX) {
        return;
    }
    let Some(fields) = profile_fields(&m.value) else {
        let known: Vec<&str> = PROFILE_FIELDS.iter().map(|(m, _)| *m).collect();
        p.push(at(
            m,
            format!(
                "points[{i}].measurement: `{}` is not a measurement of docs/metrics.md ({}); name your own `{CUSTOM_PREFIX}…`",
                m.value,
                known.join(", ")
            ),
        ));
        return;
    };
    for (j, f) in pt.fields.iter().enumerate() {
        let n = &f.name.value;
        if !n.starts_with(CUSTOM_PREFIX) && !fields.contains(&n.as_str()) {
            p.push(at(
                &f.name,
                format!(
                    "points[{i}].fields[{j}]: `{n}` is not a field of `{}` in docs/metrics.md ({}); name your own `{CUSTOM_PREFIX}…`",
                    m.value,
                    fields.join(", ")
                ),
            ));
        }
    }
}

/// A profile ready to use.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub order: Order,
    pub points: Vec<PointSpec>,
}

impl Profile {
    /// The kind of equipment (tag `kind` of `device`): its first measurement.
    pub fn kind(&self) -> &str {
        match self.points.first().map(|p| p.measurement.value.as_str()) {
            Some("power_feed" | "power_feed_phase") => "meter",
            Some(m) => m,
            None => "modbus",
        }
    }

    /// Every field, with the order it is decoded in.
    pub fn fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.points.iter().flat_map(|p| p.fields.iter())
    }
}

/// Parses profile files (name, text). Errors name the file and position.
pub fn load(files: &[(&str, &str)]) -> Result<Vec<Profile>, crate::sources::profile_files::ProfileError> {
    let mut out: Vec<Profile> = Vec::new();
    for (file, text) in files {
        let pf: ProfileFile = dcwatch_common::config::parse(text, std::path::Path::new(file))
            .map_err(|problems| dcwatch_common::config::ConfigError { path: (*file).into(), problems })?;
        if out.iter().any(|p| p.name == pf.name) {
            let what = format!("`{}`", pf.name);
            return Err(crate::sources::profile_files::ProfileError::Duplicate { file: file.to_string(), what });
        }
        out.push(Profile { name: pf.name, description: pf.description, order: pf.order, points: pf.points });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        load(&[("bad.yaml", text)]).unwrap_err().to_string()
    }

    #[test]
    fn the_shipped_profiles_load() {
        let ps = load(BUILT_IN).unwrap();
        let names: Vec<_> = ps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["apc-smartups", "sdm630", "dse-gencomm", "meter-3phase", "ats-contacts"]);
    }

    #[test]
    fn an_unknown_type_is_named_at_its_line_and_column() {
        let e = err(
            "name: x\npoints:\n  - measurement: custom_ups\n    fields:\n      - {name: a, function: holding, address: 1, type: u24}\n",
        );
        assert!(e.starts_with("bad.yaml:5:"), "{e}");
        assert!(e.contains("u24"), "{e}");
    }

    #[test]
    fn overlapping_fields_are_refused_at_the_address() {
        let e = err(
            "name: x\npoints:\n  - measurement: custom_ups\n    fields:\n      - {name: a, function: holding, address: 10, type: u32}\n      \
             - {name: b, function: holding, address: 11, type: u16}\n      - {name: c, function: input, address: 11}\n      \
             - {name: d, function: holding, address: 10, type: u32, bit: 3}\n",
        );
        // b overlaps a, and d (which reads the same registers as a, allowed) overlaps b too;
        // c is another function.
        assert_eq!(
            e,
            "bad.yaml:6:47: points[0].fields[1] (b): holding registers 0x000B (11) overlap points[0].fields[0] (a) \
             (0x000A–0x000B (10–11))\n\
             bad.yaml:8:47: points[0].fields[3] (d): holding registers 0x000A–0x000B (10–11) overlap points[0].fields[1] (b) \
             (0x000B (11))"
        );
    }

    #[test]
    fn a_field_or_measurement_not_in_docs_metrics_md_is_refused_at_its_name_unless_custom() {
        // Regression: `freq_hz` (for `frequency_hz`) loaded and was stored where nothing looks.
        let e = err("name: x\npoints:\n  - measurement: power_feed\n    fields:\n      \
             - {name: freq_hz, function: input, address: 0}\n      - {name: custom_freq_hz, function: input, address: 1}\n  \
             - measurement: chiller\n    fields:\n      - {name: temperature_c, function: input, address: 2}\n  \
             - measurement: custom_chiller\n    fields:\n      - {name: temperature_c, function: input, address: 3}\n");
        assert_eq!(
            e,
            "bad.yaml:5:16: points[0].fields[0]: `freq_hz` is not a field of `power_feed` in docs/metrics.md (live, \
             voltage_v, current_a, power_w, power_va, power_var, power_factor, frequency_hz, energy_kwh, \
             import_energy_kwh, export_energy_kwh); name your own `custom_…`\n\
             bad.yaml:7:18: points[1].measurement: `chiller` is not a measurement of docs/metrics.md (ups, ups_phase, \
             ats, pdu, power_feed, power_feed_phase, generator, generator_phase); name your own `custom_…`"
        );
    }

    #[test]
    fn an_address_out_of_range_is_refused_at_the_address() {
        let e = err(
            "name: x\npoints:\n  - measurement: custom_ups\n    fields:\n      - name: a\n        function: input\n        address: 65535\n        type: f32\n",
        );
        assert_eq!(
            e,
            "bad.yaml:7:18: points[0].fields[0] (a): address 0xFFFF (65535) with 2 register(s) runs past 0xFFFF (65535), \
             the last Modbus address"
        );
        let e = err(
            "name: x\npoints:\n  - measurement: custom_ups\n    fields:\n      - {name: a, function: input, address: 70000}\n",
        );
        assert!(e.starts_with("bad.yaml:5:"), "{e}");
    }
}
