//! Turns a device's SNMP values into normalised points, by its profile.
//!
//! Rules: a value the device marks unknown (a profile's sentinel, an empty
//! string, noSuchObject/noSuchInstance) is left out, never written as a
//! number; a value outside its plausible range after scaling is left out and
//! flagged (counted and logged by the caller, naming device and OID).

use std::collections::BTreeSet;

use dcwatch_common::lp::Point;

use super::profile::{Aggregate, FieldSpec, Profile};
use super::value::{SnmpValue, Values};
use crate::sources::normal::{FieldValue, put};
pub use crate::sources::normal::{Flag, Normalized, apply_scale};

enum Read {
    Value(FieldValue),
    Unknown,
    Implausible(Flag),
    Absent,
}

/// Reads one field from one OID's value.
fn read(f: &FieldSpec, oid: &str, v: Option<&SnmpValue>) -> Read {
    let Some(v) = v else { return Read::Absent };
    match v {
        SnmpValue::Missing | SnmpValue::Null => return Read::Unknown,
        SnmpValue::OctetString(b) if b.iter().all(|c| c.is_ascii_whitespace()) => return Read::Unknown,
        _ => {}
    }
    let Some(raw) = v.integer().or_else(|| v.number().map(|n| n as i128)) else { return Read::Unknown };
    if f.unknown.iter().any(|u| i128::from(*u) == raw && v.number().is_some_and(|n| n.fract() == 0.0)) {
        return Read::Unknown;
    }
    if let Some(map) = &f.map {
        return match i64::try_from(raw).ok().and_then(|k| map.get(&k)) {
            Some(s) => Read::Value(FieldValue::Str(s.clone())),
            None => Read::Value(FieldValue::Str("unknown".into())),
        };
    }
    if let Some(t) = &f.true_when {
        return Read::Value(FieldValue::Bool(t.iter().any(|x| i128::from(*x) == raw)));
    }
    let Some(n) = v.number() else { return Read::Unknown };
    let value = apply_scale(n, f.scale.unwrap_or(1.0));
    if let Some(range) = f.plausible
        && !(range[0]..=range[1]).contains(&value)
    {
        return Read::Implausible(Flag { field: f.name.clone(), at: oid.to_string(), value, range });
    }
    Read::Value(FieldValue::F64(value))
}

/// The values of a column, by row index (the OID suffix after the column).
fn column<'a>(values: &'a Values, col: &str) -> Vec<(String, &'a str, &'a SnmpValue)> {
    let prefix = format!("{col}.");
    values
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (k[prefix.len()..].to_string(), k.as_str(), v))
        .collect()
}

pub fn normalize(profile: &Profile, values: &Values, site: &str, device: &str, ts: i64) -> Normalized {
    let mut out = Normalized::default();
    let note = |r: Read, out: &mut Normalized| -> Option<FieldValue> {
        match r {
            Read::Value(v) => Some(v),
            Read::Unknown => {
                out.unknown += 1;
                None
            }
            Read::Implausible(f) => {
                out.flags.push(f);
                None
            }
            Read::Absent => None,
        }
    };
    for spec in &profile.points {
        let base = Point::new(spec.measurement.clone(), ts).tag("site", site).tag("device", device);
        match &spec.table {
            None => {
                let mut p = base;
                for (k, v) in &spec.tags {
                    p = p.tag(k.clone(), v.clone());
                }
                let mut any = false;
                for f in &spec.fields {
                    let value = match (&f.oid, &f.column) {
                        (Some(oid), _) => {
                            let mut r = read(f, oid, values.get(oid));
                            // Absent or unknown: try the alternates in order.
                            for alt in &f.fallback {
                                if !matches!(r, Read::Absent | Read::Unknown) {
                                    break;
                                }
                                let spec = FieldSpec { scale: alt.scale, ..f.clone() };
                                let next = read(&spec, &alt.oid, values.get(&alt.oid));
                                if !matches!(next, Read::Absent) {
                                    r = next;
                                }
                            }
                            note(r, &mut out)
                        }
                        (None, Some(col)) => {
                            let mut nums = Vec::new();
                            for (_, oid, v) in column(values, col) {
                                if let Some(FieldValue::F64(x)) = note(read(f, oid, Some(v)), &mut out) {
                                    nums.push(x);
                                }
                            }
                            let agg = match f.aggregate.unwrap_or(Aggregate::First) {
                                Aggregate::Sum => (!nums.is_empty()).then(|| nums.iter().sum()),
                                Aggregate::Max => nums.iter().copied().reduce(f64::max),
                                Aggregate::Min => nums.iter().copied().reduce(f64::min),
                                Aggregate::First => nums.first().copied(),
                            };
                            agg.map(FieldValue::F64)
                        }
                        (None, None) => None,
                    };
                    if let Some(v) = value {
                        p = put(p, &f.name, v);
                        any = true;
                    }
                }
                if any {
                    out.points.push(p);
                }
            }
            Some(t) => {
                let rows: BTreeSet<String> = t
                    .fields
                    .iter()
                    .filter_map(|f| f.column.as_deref())
                    .flat_map(|c| column(values, c).into_iter().map(|(idx, _, _)| idx))
                    .collect();
                for idx in rows {
                    let mut p = base.clone().tag(t.index_tag.clone(), idx.clone());
                    for (k, v) in &t.tags {
                        p = p.tag(k.clone(), v.clone());
                    }
                    let mut any = false;
                    for f in &t.fields {
                        let Some(col) = &f.column else { continue };
                        let oid = format!("{col}.{idx}");
                        if let Some(v) = note(read(f, &oid, values.get(&oid)), &mut out) {
                            p = put(p, &f.name, v);
                            any = true;
                        }
                    }
                    if any {
                        out.points.push(p);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::normal::lines;
    use crate::sources::snmp::profile::{self, BUILT_IN};
    use crate::sources::snmp::value::parse_snmprec;

    fn recording(name: &str) -> Values {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/snmp").join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is missing ({e}): the recordings live in tests/data/snmp", path.display()));
        parse_snmprec(&text).unwrap()
    }

    fn profiles() -> Vec<profile::Profile> {
        profile::load(BUILT_IN).unwrap()
    }

    #[test]
    fn eaton_9px_over_ups_mib_gives_the_values_read_by_hand() {
        let values = recording("eaton-mgeups_9px.snmprec");
        let all = profiles();
        let sys_oid = match &values["1.3.6.1.2.1.1.2.0"] {
            SnmpValue::Oid(o) => o.clone(),
            other => panic!("{other:?}"),
        };
        let p = profile::detect(&all, &sys_oid).unwrap();
        assert_eq!(p.name, "ups-mib", "no vendor profile claims 1.3.6.1.4.1.705.1: the UPS-MIB fallback");
        let n = normalize(p, &values, "hn", "ups1", 7);
        // upsOutputSource 3 = normal → online; upsBatteryStatus 2 = normal;
        // 100 %; 24 min = 1440 s; 0 s on battery; 520 × 0.1 V = 52 V; 0 °C;
        // input 501 × 0.1 = 50.1 Hz at 237 V; output 502 × 0.1 = 50.2 Hz,
        // 230 V, 16 × 0.1 = 1.6 A, 310 W, 35 % (one line: sum = max = it).
        assert_eq!(
            lines(&n),
            vec![
                "ups,site=hn,device=ups1 status=\"online\",on_battery=false,low_battery=false,battery_charge_pct=100,\
                 runtime_remaining_s=1440,seconds_on_battery=0,battery_voltage_v=52,battery_temperature_c=0,\
                 input_frequency_hz=50.1,input_voltage_v=237,output_frequency_hz=50.2,output_voltage_v=230,\
                 output_current_a=1.6,output_power_w=310,load_pct=35 7",
                "ups_phase,site=hn,device=ups1,phase=1,direction=input voltage_v=237,current_a=0,power_w=0 7",
                "ups_phase,site=hn,device=ups1,phase=1,direction=output voltage_v=230,current_a=1.6,power_w=310,load_pct=35 7",
            ]
        );
        assert_eq!((n.unknown, n.flags.len()), (0, 0));
    }

    #[test]
    fn huawei_ups2000_leaves_out_unknown_runtime_and_reads_power_in_kw() {
        let values = recording("huaweiups_ups2000.snmprec");
        let all = profiles();
        let p = profile::detect(&all, "1.3.6.1.4.1.2011.6.174.4.1.2.4").unwrap();
        assert_eq!(p.name, "huawei-ups2000");
        let n = normalize(p, &values, "hn", "ups2", 7);
        // Runtime 4294967295 is UPS-MIB's "unknown": left out, counted.
        // Battery 2707 × 0.1 = 270.7 V, 21 °C; input 500 × 0.1 = 50 Hz at
        // 233 V; output 7.2 A at 230 V and 27 % load of 6 kVA, so the "1"
        // of upsOutputPower is 1 kW = 1000 W (the profile's override).
        let l = lines(&n);
        assert_eq!(
            l[0],
            "ups,site=hn,device=ups2 status=\"online\",on_battery=false,low_battery=false,battery_charge_pct=100,\
             seconds_on_battery=0,battery_voltage_v=270.7,battery_temperature_c=21,input_frequency_hz=50,\
             input_voltage_v=233,output_frequency_hz=50,output_voltage_v=230,output_current_a=7.2,\
             output_power_w=1000,load_pct=27 7"
        );
        assert_eq!(n.unknown, 1);
        assert!(l.iter().all(|x| !x.contains("runtime_remaining_s")));
    }

    #[test]
    fn apc_smx750_reads_high_precision_values_and_timeticks() {
        let values = recording("apc_smx750.snmprec");
        let all = profiles();
        let p = profile::detect(&all, "1.3.6.1.4.1.318.1.3.27").unwrap();
        assert_eq!(p.name, "apc-ups");
        let n = normalize(p, &values, "hn", "smx", 7);
        // upsBasicOutputStatus 2 = onLine; replace indicator 1 = no; capacity
        // 1000 × 0.1 = 100 %; runtime 1637400 ticks × 0.01 = 16374 s;
        // battery 545 × 0.1 = 54.5 V at 209 × 0.1 = 20.9 °C; input 2460 ×
        // 0.1 = 246 V, 499 × 0.1 = 49.9 Hz; output 246.1 V, 49.9 Hz, 76.2 %
        // load, 22 × 0.1 = 2.2 A, 333 W. No battery status or time on
        // battery in the recording: left out.
        assert_eq!(
            lines(&n),
            vec![
                "ups,site=hn,device=smx status=\"online\",on_battery=false,replace_battery=false,battery_charge_pct=100,\
                 runtime_remaining_s=16374,battery_voltage_v=54.5,battery_temperature_c=20.9,\
                 input_voltage_v=246,input_frequency_hz=49.9,output_voltage_v=246.1,\
                 output_frequency_hz=49.9,load_pct=76.2,output_current_a=2.2,output_power_w=333 7"
            ]
        );
    }

    #[test]
    fn netagent_three_phase_reads_tenths_and_onbuck_as_trim() {
        let values = recording("netagent2.snmprec");
        let all = profiles();
        let p = profile::detect(&all, ".1.3.6.1.4.1.935").unwrap();
        assert_eq!(p.name, "netagent");
        let n = normalize(p, &values, "hn", "na", 7);
        // upsBaseOutputStatus 9 = onBuck: trimming a high input (254.5 V in,
        // 228.5 V out); battery status 2 = normal, 100 %, 250 × 0.1 = 25 °C;
        // 500 × 0.1 = 50 Hz; load 44 %. Phases R, S, T in tenths of a volt:
        // input 2360, 2367, 2379; output 2312, 2313, 2312; bypass 2346, 2362, 2364.
        assert_eq!(
            lines(&n),
            vec![
                "ups,site=hn,device=na status=\"trim\",on_battery=false,low_battery=false,battery_charge_pct=100,\
                 battery_temperature_c=25,input_voltage_v=254.5,input_frequency_hz=50,output_voltage_v=228.5,\
                 output_frequency_hz=50,load_pct=44 7",
                "ups_phase,site=hn,device=na,direction=input,phase=1 voltage_v=236 7",
                "ups_phase,site=hn,device=na,direction=input,phase=2 voltage_v=236.7 7",
                "ups_phase,site=hn,device=na,direction=input,phase=3 voltage_v=237.9 7",
                "ups_phase,site=hn,device=na,direction=output,phase=1 voltage_v=231.2 7",
                "ups_phase,site=hn,device=na,direction=output,phase=2 voltage_v=231.3 7",
                "ups_phase,site=hn,device=na,direction=output,phase=3 voltage_v=231.2 7",
                "ups_phase,site=hn,device=na,direction=bypass,phase=1 voltage_v=234.6 7",
                "ups_phase,site=hn,device=na,direction=bypass,phase=2 voltage_v=236.2 7",
                "ups_phase,site=hn,device=na,direction=bypass,phase=3 voltage_v=236.4 7",
            ]
        );
        assert_eq!((n.unknown, n.flags.len()), (0, 0));
    }

    #[test]
    fn apc_ats_reports_its_source_and_both_feeds() {
        let values = recording("apc_ats.snmprec");
        let all = profiles();
        let p = profile::detect(&all, "1.3.6.1.4.1.318.1.3.32").unwrap();
        assert_eq!(p.name, "apc-ats");
        let n = normalize(p, &values, "hn", "ats1", 7);
        // Selected source 1 = A; source A and B status 2 = ok; redundancy
        // state 2 = fully redundant; switch status 2 = ok; phase sync 1 = in sync.
        assert_eq!(
            lines(&n),
            vec![
                "ats,site=hn,device=ats1 active_source=\"A\",source_a_ok=true,source_b_ok=true,redundant=true,\
                 switch_ok=true,phase_in_sync=true 7"
            ]
        );
    }

    #[test]
    fn a_card_without_high_precision_oids_falls_back_to_the_basic_ones() {
        let mut values = recording("apc_smx750.snmprec");
        values.remove("1.3.6.1.4.1.318.1.1.1.3.3.1.0");
        values.insert("1.3.6.1.4.1.318.1.1.1.3.2.1.0".into(), SnmpValue::Unsigned(231));
        // A high-precision OID the card answers with noSuchObject counts as absent too.
        values.insert("1.3.6.1.4.1.318.1.1.1.2.3.1.0".into(), SnmpValue::Missing);
        values.insert("1.3.6.1.4.1.318.1.1.1.2.2.1.0".into(), SnmpValue::Unsigned(87));
        let all = profiles();
        let n = normalize(profile::detect(&all, "1.3.6.1.4.1.318.1.3.27").unwrap(), &values, "hn", "smx", 7);
        let l = lines(&n);
        assert!(l[0].contains(",input_voltage_v=231,"), "{}", l[0]);
        assert!(l[0].contains(",battery_charge_pct=87,"), "{}", l[0]);
    }

    #[test]
    fn an_implausible_value_is_left_out_and_flagged_with_its_oid() {
        let mut values = recording("eaton-mgeups_9px.snmprec");
        values.insert("1.3.6.1.2.1.33.1.3.3.1.3.1".into(), SnmpValue::Int(2360));
        let all = profiles();
        let n = normalize(profile::detect(&all, "").unwrap(), &values, "hn", "ups1", 7);
        assert!(!lines(&n)[0].contains("input_voltage_v"));
        assert_eq!(
            n.flags,
            vec![
                Flag {
                    field: "input_voltage_v".into(),
                    at: "1.3.6.1.2.1.33.1.3.3.1.3.1".into(),
                    value: 2360.0,
                    range: [0.0, 500.0]
                },
                Flag {
                    field: "voltage_v".into(),
                    at: "1.3.6.1.2.1.33.1.3.3.1.3.1".into(),
                    value: 2360.0,
                    range: [0.0, 500.0]
                },
            ]
        );
    }

    #[test]
    fn decimal_scales_give_the_nearest_decimal() {
        assert_eq!(apply_scale(209.0, 0.1), 20.9);
        assert_eq!(apply_scale(1637400.0, 0.01), 16374.0);
        assert_eq!(apply_scale(24.0, 60.0), 1440.0);
        assert_eq!(apply_scale(3.0, 0.5), 1.5);
    }

    #[test]
    fn missing_objects_and_empty_strings_are_unknown_not_zero() {
        let all = profiles();
        let p = profile::detect(&all, "").unwrap();
        let mut values = Values::new();
        values.insert("1.3.6.1.2.1.33.1.2.4.0".into(), SnmpValue::Missing);
        values.insert("1.3.6.1.2.1.33.1.2.7.0".into(), SnmpValue::OctetString(Vec::new()));
        values.insert("1.3.6.1.2.1.33.1.4.1.0".into(), SnmpValue::Int(5));
        let n = normalize(p, &values, "hn", "u", 1);
        assert_eq!(lines(&n), vec!["ups,site=hn,device=u status=\"on_battery\",on_battery=true 1"]);
        assert_eq!(n.unknown, 2);
    }

    #[test]
    fn a_profile_error_names_the_file_and_the_problem() {
        let err =
            profile::load(&[("bad.yaml", "name: x\npoints:\n  - measurement: ups\n    fields:\n      - name: y\n")])
                .unwrap_err()
                .to_string();
        assert_eq!(err, "bad.yaml:5:9: points[0].fields[0] (y): needs oid or column");
        let err = profile::load(&[("x.yaml", "name: x\nextends: nope\n")]).unwrap_err().to_string();
        assert_eq!(err, "profile `x` extends `nope`, which does not exist");
    }

    #[test]
    fn the_longest_sys_object_id_prefix_wins_and_the_fallback_takes_the_rest() {
        let all = profiles();
        assert_eq!(profile::detect(&all, ".1.3.6.1.4.1.2011.6.174.4").unwrap().name, "huawei-ups2000");
        assert_eq!(profile::detect(&all, "1.3.6.1.4.1.2011.6.1745").unwrap().name, "ups-mib");
        assert_eq!(profile::detect(&all, "1.3.6.1.4.1.318.1.3.27").unwrap().name, "apc-ups");
        assert_eq!(profile::detect(&all, "1.3.6.1.4.1.705.1").unwrap().name, "ups-mib");
    }

    #[test]
    fn apc_ap8853_reports_device_and_phase_power_in_watts() {
        let values = recording("apc_ap8853.snmprec");
        let all = profiles();
        let sys_oid = match &values["1.3.6.1.2.1.1.2.0"] {
            SnmpValue::Oid(o) => o.clone(),
            other => panic!("{other:?}"),
        };
        let p = profile::detect(&all, &sys_oid).unwrap();
        assert_eq!(p.name, "apc-rpdu2", "1.3.6.1.4.1.318.1.3.4.6 is masterSwitchrPDU2");
        assert_eq!(p.kind(), "pdu");
        let n = normalize(p, &values, "hn", "pdu1", 7);
        // rPDU2DeviceStatus row 1: load state 2 = normal; power 114 hundredths
        // of kW = 114 × 10 = 1140 W; peak 143 × 10 = 1430 W; apparent power
        // 119 hundredths of kVA = 1190 VA; power factor 96 hundredths = 0.96;
        // energy 35128 tenths of kWh = 3512.8 kWh; power supply alarm 1 = normal.
        // rPDU2PhaseStatus row 1 (single phase): state 2 = normal; 49 tenths of
        // A = 4.9 A (the old rPDULoadStatusLoad.1 says 49 tenths too); 242 V;
        // 1140 W; 1190 VA; 0.96; peak 60 tenths = 6 A. Cross-check: 242 V ×
        // 4.9 A = 1185.8 VA, the 1190 VA reported to its 10 VA step, and
        // 1140 W / 1190 VA = 0.958, the 0.96 reported. The recording has no
        // rPDU2 bank table, so no bank points.
        assert_eq!(
            lines(&n),
            vec![
                "pdu,site=hn,device=pdu1,unit=1,scope=device load_state=\"normal\",power_w=1140,peak_power_w=1430,\
                 power_va=1190,power_factor=0.96,energy_kwh=3512.8,power_supply_alarm=false 7",
                "pdu,site=hn,device=pdu1,phase=1,scope=phase load_state=\"normal\",current_a=4.9,voltage_v=242,\
                 power_w=1140,power_va=1190,power_factor=0.96,peak_current_a=6 7",
            ]
        );
        assert_eq!((n.unknown, n.flags.len()), (0, 0));
    }

    #[test]
    fn apc_rpdu2_banks_become_points_and_minus_one_is_unknown() {
        // The AP8853 recording has no rPDU2 bank rows; these two are set by
        // hand after its first-generation rPDULoadStatus rows (bank 1: 0
        // tenths of A, bank 2: 47 tenths), with load states picked here.
        let mut values = recording("apc_ap8853.snmprec");
        let bank = "1.3.6.1.4.1.318.1.1.26.8.3.1";
        values.insert(format!("{bank}.4.1"), SnmpValue::Int(1));
        values.insert(format!("{bank}.5.1"), SnmpValue::Int(0));
        values.insert(format!("{bank}.4.2"), SnmpValue::Int(2));
        values.insert(format!("{bank}.5.2"), SnmpValue::Int(47));
        // A model that does not measure power answers -1 (rPDU2DeviceStatusPower)
        // and notsupported(5) (rPDU2DeviceStatusLoadState): both left out, counted.
        values.insert("1.3.6.1.4.1.318.1.1.26.4.3.1.5.1".into(), SnmpValue::Int(-1));
        values.insert("1.3.6.1.4.1.318.1.1.26.4.3.1.4.1".into(), SnmpValue::Int(5));
        let all = profiles();
        let n = normalize(profile::detect(&all, "1.3.6.1.4.1.318.1.3.4.6").unwrap(), &values, "hn", "pdu1", 7);
        let l = lines(&n);
        assert_eq!(
            l[0],
            "pdu,site=hn,device=pdu1,unit=1,scope=device peak_power_w=1430,power_va=1190,power_factor=0.96,\
             energy_kwh=3512.8,power_supply_alarm=false 7"
        );
        // Bank 1: state 1 = lowLoad, 0 A; bank 2: state 2 = normal, 47 / 10 = 4.7 A.
        assert_eq!(
            l[2..],
            [
                "pdu,site=hn,device=pdu1,bank=1,scope=bank load_state=\"low_load\",current_a=0 7",
                "pdu,site=hn,device=pdu1,bank=2,scope=bank load_state=\"normal\",current_a=4.7 7",
            ]
        );
        assert_eq!((n.unknown, n.flags.len()), (2, 0));
    }

    #[test]
    fn eaton_9px_answers_no_xups_ups_objects_so_eaton_xups_gives_nothing() {
        let values = recording("eaton-mgeups_9px.snmprec");
        let all = profiles();
        // Its card reports MGE's sysObjectID: detection keeps it on UPS-MIB.
        assert_eq!(profile::detect(&all, "1.3.6.1.4.1.705.1").unwrap().name, "ups-mib");
        assert_eq!(profile::detect(&all, "1.3.6.1.4.1.534.1").unwrap().name, "eaton-xups");
        assert_eq!(profile::detect(&all, "1.3.6.1.4.1.534.2.12").unwrap().name, "eaton-xups");
        // An Eaton ePDU (534.6) is not an XUPS UPS.
        assert_eq!(profile::detect(&all, "1.3.6.1.4.1.534.6.6.7").unwrap().name, "ups-mib");
        let p = all.iter().find(|p| p.name == "eaton-xups").unwrap();
        // The only XUPS objects in the recording are xupsEnvironment
        // (534.1.6: ambient 17 °C, limits 0 and 40 °C, 0 contacts), which the
        // profile does not map; xupsBattery, xupsInput, xupsOutput and
        // xupsBypass are absent. Absent is not unknown: nothing is written,
        // nothing counted, nothing flagged.
        assert!(
            values.keys().filter(|k| k.starts_with("1.3.6.1.4.1.534.")).all(|k| k.starts_with("1.3.6.1.4.1.534.1.6."))
        );
        let n = normalize(p, &values, "hn", "ups1", 7);
        assert_eq!(lines(&n), Vec::<String>::new());
        assert_eq!((n.unknown, n.flags.len()), (0, 0));
    }

    #[test]
    fn eaton_xups_reads_its_units_with_values_set_by_hand() {
        // No recording here carries XUPS UPS values, so these are set by hand,
        // after what the 9PX itself reports over UPS-MIB, in XUPS-MIB units.
        let x = "1.3.6.1.4.1.534.1";
        let mut values = Values::new();
        for (oid, v) in [
            ("4.5.0", 3),       // xupsOutputSource: normal(3)
            ("2.10.0", 2),      // xupsBatteryLowCapacity: no(2)
            ("2.9.0", 2),       // xupsBatteryAged: no(2)
            ("2.4.0", 100),     // xupsBatCapacity, %
            ("2.1.0", 1440),    // xupsBatTimeRemaining, s
            ("2.2.0", 52),      // xupsBatVoltage, V DC
            ("3.1.0", 501),     // xupsInputFrequency, 0.1 Hz
            ("3.4.1.2.1", 237), // xupsInputVoltage.1, V
            ("3.4.1.3.1", 0),   // xupsInputCurrent.1, A
            ("3.4.1.4.1", 0),   // xupsInputWatts.1, W
            ("4.1.0", 35),      // xupsOutputLoad, %
            ("4.2.0", 502),     // xupsOutputFrequency, 0.1 Hz
            ("4.4.1.2.1", 230), // xupsOutputVoltage.1, V
            ("4.4.1.3.1", 2),   // xupsOutputCurrent.1, A
            ("4.4.1.4.1", 310), // xupsOutputWatts.1, W
            ("4.4.1.8.1", 35),  // xupsOutputPercentLoad.1, %
            ("5.3.1.2.1", 238), // xupsBypassVoltage.1, V
            ("5.3.1.6.1", 0),   // xupsBypassWatts.1, W
        ] {
            values.insert(format!("{x}.{oid}"), SnmpValue::Int(v));
        }
        let all = profiles();
        let p = profile::detect(&all, "1.3.6.1.4.1.534.1").unwrap();
        assert_eq!(p.name, "eaton-xups");
        let n = normalize(p, &values, "hn", "ups9", 7);
        // normal(3) → online; no low battery, battery not aged; 100 %; 1440 s
        // as is (XUPS gives seconds, not UPS-MIB's minutes); 52 V; 501 × 0.1 =
        // 50.1 Hz at 237 V in; 502 × 0.1 = 50.2 Hz, 230 V, 2 A, 310 W and 35 %
        // out (one phase: sum = first = it); bypass 238 V, 0 W.
        assert_eq!(
            lines(&n),
            vec![
                "ups,site=hn,device=ups9 status=\"online\",on_battery=false,low_battery=false,replace_battery=false,\
                 battery_charge_pct=100,runtime_remaining_s=1440,battery_voltage_v=52,input_frequency_hz=50.1,\
                 input_voltage_v=237,output_frequency_hz=50.2,output_voltage_v=230,output_current_a=2,\
                 output_power_w=310,load_pct=35 7",
                "ups_phase,site=hn,device=ups9,phase=1,direction=input voltage_v=237,current_a=0,power_w=0 7",
                "ups_phase,site=hn,device=ups9,phase=1,direction=output voltage_v=230,current_a=2,power_w=310,load_pct=35 7",
                "ups_phase,site=hn,device=ups9,phase=1,direction=bypass voltage_v=238,power_w=0 7",
            ]
        );
        assert_eq!((n.unknown, n.flags.len()), (0, 0));
        // battery(5): on battery.
        values.insert(format!("{x}.4.5.0"), SnmpValue::Int(5));
        let l = lines(&normalize(p, &values, "hn", "ups9", 7));
        assert!(l[0].starts_with("ups,site=hn,device=ups9 status=\"on_battery\",on_battery=true,"), "{}", l[0]);
        // xupstdOnBattery (xupsTrapOidDefined.3) is known and sets the same fields.
        let t = p.traps.iter().find(|t| t.oid == "1.3.6.1.4.1.534.1.11.4.1.0.3").unwrap();
        assert_eq!(t.event, "on_battery");
        assert_eq!(t.set["status"], profile::TrapField::Str("on_battery".into()));
    }
}
