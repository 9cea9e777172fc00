//! SNMP device profiles: data, not code. A profile maps OIDs (scalars) and
//! table columns to the normalised fields of docs/metrics.md, with scales,
//! enum maps, the sentinels that mean "unknown", and plausible ranges.
//! Profiles live in `configs/profiles/snmp/*.yaml`; those shipped with dcwatch
//! are built into the binary, and a profile directory can add more.

use std::collections::BTreeMap;

use dcwatch_common::config::{Problem, Validate};
use serde::Deserialize;

use crate::sources::profile_files::ProfileError;

/// The profiles shipped with dcwatch, built in.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("ups-mib.yaml", include_str!("../../../../configs/profiles/snmp/ups-mib.yaml")),
    ("huawei-ups2000.yaml", include_str!("../../../../configs/profiles/snmp/huawei-ups2000.yaml")),
    ("apc-ups.yaml", include_str!("../../../../configs/profiles/snmp/apc-ups.yaml")),
    ("netagent.yaml", include_str!("../../../../configs/profiles/snmp/netagent.yaml")),
    ("apc-ats.yaml", include_str!("../../../../configs/profiles/snmp/apc-ats.yaml")),
    ("apc-rpdu2.yaml", include_str!("../../../../configs/profiles/snmp/apc-rpdu2.yaml")),
    ("eaton-xups.yaml", include_str!("../../../../configs/profiles/snmp/eaton-xups.yaml")),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Another profile this one starts from.
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub detect: Detect,
    /// Points of this profile (added to those of `extends`).
    #[serde(default)]
    pub points: Vec<PointSpec>,
    /// Changes to fields read from a given OID or column (vendor quirks).
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Traps this kind of device sends and what each means.
    #[serde(default)]
    pub traps: Vec<TrapSpec>,
}

/// A trap: its OID (SNMPv2 form; a v1 trap's enterprise and specific code
/// become `enterprise.0.specific`, as RFC 3584 says), the event it is, and
/// the fields of a point it sets at once, before the re-poll confirms them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrapSpec {
    pub oid: String,
    /// Event name (tag `event` of the `snmp_trap` point), e.g. `on_battery`.
    pub event: String,
    /// Measurement of the point `set` writes. Defaults to `ups`.
    #[serde(default = "default_trap_measurement")]
    pub measurement: String,
    /// Fields written at once, e.g. `{on_battery: true, status: on_battery}`.
    #[serde(default)]
    pub set: BTreeMap<String, TrapField>,
}

fn default_trap_measurement() -> String {
    "ups".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TrapField {
    Bool(bool),
    Str(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    /// sysObjectID prefixes this profile claims.
    #[serde(default)]
    pub sys_object_id_prefixes: Vec<String>,
    /// Used when no profile claims the device.
    #[serde(default)]
    pub fallback: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSpec {
    pub measurement: String,
    /// Fixed tags of a scalar point (e.g. `phase: "1"` when a device gives
    /// per-phase values as separate scalars rather than a table).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Scalar fields: one point.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// Table fields: one point per row.
    #[serde(default)]
    pub table: Option<TableSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Tag that carries the row index (e.g. `phase`).
    pub index_tag: String,
    /// Fixed tags of every row (e.g. `direction: input`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    Sum,
    Max,
    Min,
    First,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    /// A scalar OID (with its `.0` instance, or a row's full OID).
    #[serde(default)]
    pub oid: Option<String>,
    /// A table column: in a table, read per row; in scalar fields, combined
    /// over all rows with `aggregate`.
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// Multiplier applied to the raw number. Defaults to 1.
    #[serde(default)]
    pub scale: Option<f64>,
    /// Raw value → string (an enum), written as a string field.
    #[serde(default)]
    pub map: Option<BTreeMap<i64, String>>,
    /// Raw values meaning true; the field is then a bool.
    #[serde(default)]
    pub true_when: Option<Vec<i64>>,
    /// Raw values meaning "unknown": the field is left out.
    #[serde(default)]
    pub unknown: Vec<i64>,
    /// [min, max] of a believable value after scaling; outside, the value is
    /// left out and flagged.
    #[serde(default)]
    pub plausible: Option<[f64; 2]>,
    /// OIDs read, in order, when `oid` is absent or unknown (e.g. a basic
    /// OID behind a high-precision one), each with its own scale.
    #[serde(default)]
    pub fallback: Vec<Alternate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alternate {
    pub oid: String,
    /// Defaults to 1.
    #[serde(default)]
    pub scale: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default)]
    pub scale: Option<f64>,
    #[serde(default)]
    pub plausible: Option<[f64; 2]>,
}

impl Validate for ProfileFile {
    fn validate(&self, p: &mut Vec<Problem>) {
        if self.name.trim().is_empty() {
            p.push(Problem::general("name: must not be empty"));
        }
        for (i, pt) in self.points.iter().enumerate() {
            let fields = pt.table.as_ref().map_or(&pt.fields, |t| &t.fields);
            if pt.table.is_some() && !pt.fields.is_empty() {
                p.push(Problem::general(format!("points[{i}]: give fields or table, not both")));
            }
            for (j, f) in fields.iter().enumerate() {
                let at = format!("points[{i}].fields[{j}] ({})", f.name);
                match (&f.oid, &f.column, pt.table.is_some()) {
                    (Some(_), Some(_), _) => p.push(Problem::general(format!("{at}: give oid or column, not both"))),
                    (None, None, _) => p.push(Problem::general(format!("{at}: needs oid or column"))),
                    (Some(_), None, true) => p.push(Problem::general(format!("{at}: a table field needs column"))),
                    (None, Some(_), false) if f.aggregate.is_none() => {
                        p.push(Problem::general(format!("{at}: a column outside a table needs aggregate")))
                    }
                    _ => {}
                }
                if f.map.is_some() && f.true_when.is_some() {
                    p.push(Problem::general(format!("{at}: give map or true_when, not both")));
                }
                if let Some([lo, hi]) = f.plausible
                    && lo > hi
                {
                    p.push(Problem::general(format!("{at}: plausible range [{lo}, {hi}] is empty")));
                }
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if o.oid.is_some() == o.column.is_some() {
                p.push(Problem::general(format!("overrides[{i}]: give exactly one of oid or column")));
            }
        }
    }
}

/// A profile with `extends` and `overrides` resolved: ready to use.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub detect: Detect,
    pub points: Vec<PointSpec>,
    pub traps: Vec<TrapSpec>,
}

impl Profile {
    /// The kind of equipment (tag `kind` of the `device` point): the
    /// measurement of its first point, e.g. `ups` or `ats`.
    pub fn kind(&self) -> &str {
        self.points.first().map_or("snmp", |p| p.measurement.as_str())
    }

    /// Every OID to GET and every column to walk.
    pub fn requests(&self) -> (Vec<String>, Vec<String>) {
        let mut oids = Vec::new();
        let mut columns = Vec::new();
        for pt in &self.points {
            let fields = pt.table.as_ref().map_or(&pt.fields, |t| &t.fields);
            for f in fields {
                if let Some(o) = &f.oid
                    && !oids.contains(o)
                {
                    oids.push(o.clone());
                }
                if let Some(c) = &f.column
                    && !columns.contains(c)
                {
                    columns.push(c.clone());
                }
                for a in &f.fallback {
                    if !oids.contains(&a.oid) {
                        oids.push(a.oid.clone());
                    }
                }
            }
        }
        (oids, columns)
    }
}

/// Parses profile files (name, text) and resolves them. Errors name the file.
pub fn load(files: &[(&str, &str)]) -> Result<Vec<Profile>, ProfileError> {
    let mut raw: BTreeMap<String, ProfileFile> = BTreeMap::new();
    for (file, text) in files {
        let pf: ProfileFile = dcwatch_common::config::parse(text, std::path::Path::new(file))
            .map_err(|problems| dcwatch_common::config::ConfigError { path: (*file).into(), problems })?;
        if raw.insert(pf.name.clone(), pf).is_some() {
            return Err(ProfileError::Duplicate { file: file.to_string(), what: "the same".into() });
        }
    }
    raw.values().map(|pf| resolve(pf, &raw, 0).map_err(ProfileError::Invalid)).collect()
}

fn resolve(pf: &ProfileFile, all: &BTreeMap<String, ProfileFile>, depth: usize) -> Result<Profile, String> {
    if depth > 8 {
        return Err(format!("profile `{}`: `extends` goes round in a circle", pf.name));
    }
    let (mut points, mut traps) = match &pf.extends {
        Some(base) => {
            let b =
                all.get(base).ok_or_else(|| format!("profile `{}` extends `{base}`, which does not exist", pf.name))?;
            let b = resolve(b, all, depth + 1)?;
            (b.points, b.traps)
        }
        None => (Vec::new(), Vec::new()),
    };
    points.extend(pf.points.iter().cloned());
    traps.extend(pf.traps.iter().cloned());
    for o in &pf.overrides {
        let mut hit = false;
        for pt in &mut points {
            let fields = match &mut pt.table {
                Some(t) => &mut t.fields,
                None => &mut pt.fields,
            };
            for f in fields.iter_mut() {
                if (o.oid.is_some() && f.oid == o.oid) || (o.column.is_some() && f.column == o.column) {
                    hit = true;
                    if o.scale.is_some() {
                        f.scale = o.scale;
                    }
                    if o.plausible.is_some() {
                        f.plausible = o.plausible;
                    }
                }
            }
        }
        if !hit {
            return Err(format!("profile `{}`: an override matches no field", pf.name));
        }
    }
    Ok(Profile { name: pf.name.clone(), description: pf.description.clone(), detect: pf.detect.clone(), points, traps })
}

/// The profile for a device: the one whose sysObjectID prefix matches
/// longest, else the fallback.
pub fn detect<'a, P: std::borrow::Borrow<Profile>>(profiles: &'a [P], sys_object_id: &str) -> Option<&'a P> {
    let id = sys_object_id.trim_start_matches('.');
    profiles
        .iter()
        .filter_map(|p| {
            p.borrow()
                .detect
                .sys_object_id_prefixes
                .iter()
                .filter(|pre| id == pre.as_str() || id.starts_with(&format!("{pre}.")))
                .map(|pre| pre.len())
                .max()
                .map(|len| (len, p))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
        .or_else(|| profiles.iter().find(|p| p.borrow().detect.fallback))
}
