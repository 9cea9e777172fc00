//! Turns what was read from a device into normalised points, by its profile:
//! a value the device marks unknown (a sentinel, NaN, an empty string) is
//! left out, never written as a number; a value outside its plausible range
//! is left out and flagged.

use std::collections::HashMap;

use dcwatch_common::lp::Point;

use super::decode::{DataType, Raw, decode, unsigned_bits};
use super::profile::{FieldSpec, Function, Profile};
use crate::sources::normal::{FieldValue, Flag, Normalized, apply_scale, put};

/// Registers and bits read in one poll, by function and address (bits as 0/1).
#[derive(Debug, Default, Clone)]
pub struct Image(HashMap<(Function, u16), u16>);

impl Image {
    pub fn insert(&mut self, function: Function, start: u16, words: &[u16]) {
        for (i, w) in words.iter().enumerate() {
            if let Some(a) = start.checked_add(i as u16) {
                self.0.insert((function, a), *w);
            }
        }
    }

    pub fn get(&self, function: Function, start: u16, count: u16) -> Option<Vec<u16>> {
        (0..count).map(|i| start.checked_add(i).and_then(|a| self.0.get(&(function, a)).copied())).collect()
    }
}

enum Got {
    Value(FieldValue),
    Unknown,
    Implausible(Flag),
    Absent,
}

fn read(f: &FieldSpec, p: &Profile, image: &Image) -> Got {
    let Some(regs) = image.get(f.function, f.addr(), f.count()) else { return Got::Absent };
    let t = f.data_type();
    let raw = if f.function.is_bits() {
        Some(Raw::Bool(regs[0] != 0))
    } else {
        decode(&regs, t, f.order.unwrap_or(p.order), if t == DataType::Bit { f.bit } else { None })
    };
    let Some(raw) = raw else { return Got::Absent };
    let n = match raw {
        Raw::Str(s) if s.is_empty() => return Got::Unknown,
        Raw::Str(s) => return Got::Value(FieldValue::Str(s)),
        Raw::Bool(b) => {
            let i = i64::from(b);
            if let Some(map) = &f.map {
                return Got::Value(FieldValue::Str(map.get(&i).cloned().unwrap_or_else(|| "unknown".into())));
            }
            if let Some(t) = &f.true_when {
                return Got::Value(FieldValue::Bool(t.contains(&i)));
            }
            return Got::Value(FieldValue::Bool(b));
        }
        Raw::Float(x) if !x.is_finite() => return Got::Unknown,
        Raw::Float(x) => x,
        Raw::Int(i) => {
            let bits = unsigned_bits(i, t);
            if f.unknown.contains(&bits) {
                return Got::Unknown;
            }
            if let Some(b) = f.bit {
                return Got::Value(FieldValue::Bool((bits >> b) & 1 == 1));
            }
            if let Some(list) = &f.bits {
                let hit = list.iter().find(|bv| (bits >> bv.bit) & 1 == 1).map(|bv| bv.value.clone());
                return Got::Value(FieldValue::Str(
                    hit.or_else(|| f.otherwise.clone()).unwrap_or_else(|| "unknown".into()),
                ));
            }
            if let Some(map) = &f.map {
                let s = i64::try_from(i).ok().and_then(|k| map.get(&k)).cloned();
                return Got::Value(FieldValue::Str(s.unwrap_or_else(|| "unknown".into())));
            }
            if let Some(tw) = &f.true_when {
                return Got::Value(FieldValue::Bool(i64::try_from(i).is_ok_and(|k| tw.contains(&k))));
            }
            i as f64
        }
    };
    let mut v = n;
    if let Some(d) = f.divide {
        v /= d;
    }
    if let Some(s) = f.scale {
        v = apply_scale(v, s);
    }
    if let Some(o) = f.offset {
        v += o;
    }
    if let Some(range) = f.plausible
        && !(range[0]..=range[1]).contains(&v)
    {
        return Got::Implausible(Flag {
            field: f.name.value.clone(),
            at: format!("{} {}", f.function.name(), super::address(f.addr())),
            value: v,
            range,
        });
    }
    Got::Value(FieldValue::F64(v))
}

/// The points of one poll. `tags` are added to every point (e.g. `feed`).
pub fn normalize(profile: &Profile, image: &Image, site: &str, device: &str, ts: i64) -> Normalized {
    let mut out = Normalized::default();
    for spec in &profile.points {
        let mut p = Point::new(spec.measurement.value.clone(), ts).tag("site", site).tag("device", device);
        for (k, v) in &spec.tags {
            p = p.tag(k.clone(), v.clone());
        }
        for f in &spec.fields {
            match read(f, profile, image) {
                Got::Value(v) => p = put(p, &f.name.value, v),
                Got::Unknown => out.unknown += 1,
                Got::Implausible(flag) => out.flags.push(flag),
                Got::Absent => {}
            }
        }
        if !p.fields.is_empty() {
            out.points.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::modbus::profile::{BUILT_IN, load};
    use crate::sources::normal::lines;

    fn profile(name: &str) -> Profile {
        load(BUILT_IN).unwrap().into_iter().find(|p| p.name == name).unwrap()
    }

    /// f32 as two registers, high word first.
    fn f32_regs(x: f32) -> [u16; 2] {
        let b = x.to_bits();
        [(b >> 16) as u16, b as u16]
    }

    #[test]
    fn apc_smartups_fixed_point_values_read_by_hand() {
        let mut img = Image::default();
        // UPSStatus: bit 2 (on battery) and bit 6 (input bad) = 0x0044, in the low word.
        img.insert(Function::Holding, 0, &[0x0000, 0x0044]);
        img.insert(Function::Holding, 18, &[0b10]); // shutdown imminent
        img.insert(Function::Holding, 128, &[0x0000, 0x0258]); // 600 s
        img.insert(Function::Holding, 130, &[45 * 512 + 256]); // 45.5 %
        img.insert(Function::Holding, 131, &[54 * 32 + 8]); // 54.25 V
        img.insert(Function::Holding, 135, &[(-5i16 * 128) as u16]); // -5 °C
        img.insert(Function::Holding, 136, &[(38.5 * 256.0) as u16]); // 38.5 %
        img.insert(Function::Holding, 140, &[(4.75 * 32.0) as u16]); // 4.75 A
        img.insert(Function::Holding, 142, &[230 * 64 + 32]); // 230.5 V
        img.insert(Function::Holding, 144, &[50 * 128 - 64]); // 49.5 Hz
        img.insert(Function::Holding, 151, &[0xFFFF]); // not applicable
        let n = normalize(&profile("apc-smartups"), &img, "hn", "ups1", 7);
        assert_eq!(
            lines(&n),
            vec![
                "ups,site=hn,device=ups1 status=\"on_battery\",on_battery=true,overload=false,low_battery=true,\
                 runtime_remaining_s=600,battery_charge_pct=45.5,battery_voltage_v=54.25,battery_temperature_c=-5,\
                 load_pct=38.5,output_current_a=4.75,output_voltage_v=230.5,output_frequency_hz=49.5 7"
            ]
        );
        assert_eq!(n.unknown, 1, "input voltage 0xFFFF is not applicable: left out");
    }

    #[test]
    fn sdm630_floats_and_a_nan_is_unknown() {
        let mut img = Image::default();
        let mut put_f = |a: u16, x: f32| img.insert(Function::Input, a, &f32_regs(x));
        for (a, x) in [(0x00, 231.5), (0x02, 229.25), (0x04, f32::NAN), (0x06, 10.5), (0x08, 0.0), (0x0A, 2.0)] {
            put_f(a, x);
        }
        for (a, x) in [(0x0C, 2400.0), (0x0E, 0.0), (0x10, 460.0), (0x34, 2860.0), (0x46, 50.0), (0x156, 12345.5)] {
            put_f(a, x);
        }
        let n = normalize(&profile("sdm630"), &img, "hn", "m1", 7);
        assert_eq!(
            lines(&n),
            vec![
                "power_feed,site=hn,device=m1 power_w=2860,frequency_hz=50,energy_kwh=12345.5 7",
                "power_feed_phase,site=hn,device=m1,phase=1 voltage_v=231.5,current_a=10.5,power_w=2400 7",
                "power_feed_phase,site=hn,device=m1,phase=2 voltage_v=229.25,current_a=0,power_w=0 7",
                "power_feed_phase,site=hn,device=m1,phase=3 current_a=2,power_w=460 7",
            ]
        );
        assert_eq!(n.unknown, 1);
    }

    #[test]
    fn dse_sentinels_are_left_out_and_alarms_give_the_worst_code() {
        let mut img = Image::default();
        img.insert(Function::Holding, 1408, &[3]); // running
        img.insert(Function::Holding, 772, &[1]); // auto
        img.insert(Function::Holding, 1024, &[0xFFFF]); // oil pressure unimplemented
        img.insert(Function::Holding, 1025, &[(-3i16) as u16]);
        img.insert(Function::Holding, 1027, &[87]);
        img.insert(Function::Holding, 1029, &[276]); // 27.6 V
        img.insert(Function::Holding, 1030, &[1500]);
        img.insert(Function::Holding, 1031, &[501]); // 50.1 Hz
        img.insert(Function::Holding, 1032, &[0, 2305, 0, 2311, 0xFFFF, 0xFFFF]); // 230.5, 231.1, unimplemented
        img.insert(Function::Holding, 1044, &[0, 125, 0, 0, 0, 1]); // 12.5 A, 0 A, 0.1 A
        img.insert(Function::Holding, 1536, &[0xFFFF, 0xF060]); // -4000 W (reverse power)
        img.insert(Function::Holding, 1798, &[0x0001, 0x5F90]); // 90000 s = 25 h
        img.insert(Function::Holding, 1808, &[0, 42]);
        img.insert(
            Function::Holding,
            2049,
            &[0x1111, 0x1121, 0x1111, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF],
        );
        let n = normalize(&profile("dse-gencomm"), &img, "hn", "gen1", 7);
        assert_eq!(
            lines(&n),
            vec![
                "generator,site=hn,device=gen1 state=\"running\",running=true,control_mode=\"auto\",\
                 coolant_temperature_c=-3,fuel_pct=87,battery_voltage_v=27.6,engine_rpm=1500,frequency_hz=50.1,\
                 voltage_v=230.5,power_w=-4000,run_hours=25,starts_total=42,alarm=\"warning\" 7",
                "generator_phase,site=hn,device=gen1,phase=1 voltage_v=230.5,current_a=12.5 7",
                "generator_phase,site=hn,device=gen1,phase=2 voltage_v=231.1,current_a=0 7",
                "generator_phase,site=hn,device=gen1,phase=3 current_a=0.1 7",
            ]
        );
        assert_eq!(n.unknown, 2);
    }

    #[test]
    fn contact_inputs_give_the_active_source() {
        let mut img = Image::default();
        img.insert(Function::Discrete, 0, &[0, 1, 1]);
        let n = normalize(&profile("ats-contacts"), &img, "hn", "ats", 7);
        assert_eq!(
            lines(&n),
            vec!["ats,site=hn,device=ats source_a_ok=false,source_b_ok=true,on_source_b=true,active_source=\"B\" 7"]
        );
    }

    #[test]
    fn an_implausible_value_is_flagged_with_its_register() {
        let p = profile("meter-3phase");
        let mut img = Image::default();
        img.insert(Function::Holding, 0, &[2360, 2300, 2310]); // tenths of a volt: 236.0 V, plausible
        assert!(normalize(&p, &img, "hn", "m", 7).flags.is_empty());
        img.insert(Function::Holding, 0, &[23600]); // a card that already scaled it ×10 more
        let n = normalize(&p, &img, "hn", "m", 7);
        assert_eq!(
            n.flags,
            vec![Flag {
                field: "voltage_v".into(),
                at: "holding 0x0000 (0)".into(),
                value: 2360.0,
                range: [0.0, 500.0]
            }]
        );
        assert!(!lines(&n).iter().any(|l| l.contains("phase=1 voltage_v")));
    }
}
