//! How the hosts and devices pages write what agents report: a value with
//! the unit its field name ends in (`_pct`, `_v`, `_c`, `_s`, …), numbers
//! the language's way, an instant of the latest-state table as a wall-clock
//! time, and a name as one segment of a link (a host name may hold `/`,
//! `?`, `#` or `<`).

use std::time::Instant;

use crate::i18n::{Lang, percent};
use crate::model::ObsValue;

/// What a cell without a value shows.
pub const DASH: &str = "—";

/// The wall-clock time (ms) of `t`, an instant before `now` (which is `now_ms`).
pub fn wall_ms(t: Instant, now: Instant, now_ms: i64) -> i64 {
    now_ms - i64::try_from(now.saturating_duration_since(t).as_millis()).unwrap_or(i64::MAX / 2)
}

/// `name` as one path segment: every byte but the unreserved ones
/// (RFC 3986: letters, digits, `-._~`) percent-encoded, so `/`, `?`, `#`
/// and `%` stay inside the segment and the router gives the name back whole.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The date of the instant `ms` in `tz`, written the language's way (`24/11/2026`).
pub fn day(lang: Lang, ms: i64, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => lang.date(&t.to_zoned(tz.clone()).date().to_string()),
        Err(_) => ms.to_string(),
    }
}

/// A number with as few decimals as it needs, at most two: `91,5`, `230`, `0,95`.
pub fn number(lang: Lang, x: f64) -> String {
    let decimals = (0..2).find(|d| {
        let scale = 10f64.powi(*d);
        ((x * scale).round() / scale - x).abs() < 1e-9
    });
    lang.num(x, decimals.unwrap_or(2) as usize)
}

/// The unit a field's name ends in, written after the number.
fn unit(lang: Lang, field: &str) -> Option<&'static str> {
    let t = lang.web_devices();
    const PLAIN: [(&str, &str); 12] = [
        ("_pct", "%"),
        ("_kwh", "kWh"),
        ("_kpa", "kPa"),
        ("_va", "VA"),
        ("_var", "var"),
        ("_hz", "Hz"),
        ("_ms", "ms"),
        ("_v", "V"),
        ("_a", "A"),
        ("_w", "W"),
        ("_c", "°C"),
        ("_s", "s"),
    ];
    if field.ends_with("_hours") {
        return Some(t.unit_hours);
    }
    if field.ends_with("_rpm") {
        return Some(t.unit_rpm);
    }
    PLAIN.iter().find(|(suffix, _)| field.ends_with(suffix)).map(|(_, u)| *u)
}

/// A field's value as a technician reads it: a number the language's
/// way with its field's unit (`91,5 %`, `229,6 V`, `1,5 GiB` for
/// `_bytes`, a time for a Unix `_ts`), yes or no, or the text as reported.
pub fn value(lang: Lang, field: &str, v: &ObsValue, tz: &jiff::tz::TimeZone) -> String {
    let t = lang.web_devices();
    match v {
        ObsValue::Bool(true) => t.yes.to_string(),
        ObsValue::Bool(false) => t.no.to_string(),
        ObsValue::Str(s) => s.clone(),
        ObsValue::Num(x) if field.ends_with("_bytes") => lang.bytes(*x),
        ObsValue::Num(x) if field.ends_with("_bytes_per_s") => format!("{}/s", lang.bytes(*x)),
        ObsValue::Num(x) if field.ends_with("_ts") => lang.time((*x * 1000.0) as i64, tz),
        ObsValue::Num(x) => match unit(lang, field) {
            Some("%") => percent(&number(lang, *x)),
            Some(u) => format!("{} {u}", number(lang, *x)),
            None => number(lang, *x),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_the_unit_their_field_name_ends_in_with_vietnamese_numbers() {
        let tz = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
        let vi = |f: &str, v: ObsValue| value(Lang::Vi, f, &v, &tz);
        let en = |f: &str, v: ObsValue| value(Lang::En, f, &v, &tz);
        use ObsValue::{Bool, Num, Str};
        assert_eq!(vi("battery_charge_pct", Num(91.5)), "91,5 %");
        assert_eq!(en("battery_charge_pct", Num(91.5)), "91.5 %");
        assert_eq!(vi("input_voltage_v", Num(229.6)), "229,6 V");
        assert_eq!(vi("output_current_a", Num(12.25)), "12,25 A");
        assert_eq!(vi("output_power_w", Num(1234.0)), "1.234 W");
        assert_eq!(en("output_power_w", Num(1234.0)), "1,234 W");
        assert_eq!(vi("battery_temperature_c", Num(31.0)), "31 °C");
        assert_eq!(vi("runtime_remaining_s", Num(1530.0)), "1.530 s");
        assert_eq!(vi("poll_ms", Num(41.5)), "41,5 ms");
        assert_eq!(vi("input_frequency_hz", Num(50.0)), "50 Hz");
        assert_eq!(vi("energy_kwh", Num(10_500.75)), "10.500,75 kWh");
        assert_eq!(vi("power_va", Num(800.0)), "800 VA");
        assert_eq!(vi("run_hours", Num(1200.0)), "1.200 giờ");
        assert_eq!(en("run_hours", Num(1200.0)), "1,200 h");
        assert_eq!(vi("engine_rpm", Num(1500.0)), "1.500 vòng/phút");
        assert_eq!(vi("power_factor", Num(0.954)), "0,95");
        assert_eq!(vi("errors_total", Num(3.0)), "3");
        assert_eq!(vi("last_size_bytes", Num(1_610_612_736.0)), "1,5 GiB");
        assert_eq!(vi("rx_bytes_per_s", Num(2048.0)), "2,0 KiB/s");
        // 2026-11-22T07:05:00Z is 14:05 in Hanoi.
        assert_eq!(vi("last_success_ts", Num(1_795_331_100.0)), "22/11/2026 14:05");
        assert_eq!(vi("on_battery", Bool(true)), "có");
        assert_eq!(en("on_battery", Bool(false)), "no");
        assert_eq!(vi("status", Str("on_battery".into())), "on_battery");
    }

    #[test]
    fn a_name_is_one_path_segment_whatever_it_holds() {
        assert_eq!(segment("web-1.hn_a~"), "web-1.hn_a~");
        assert_eq!(segment("<img src=x onerror=alert(1)>"), "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E");
        assert_eq!(segment("a/b?c#d%e"), "a%2Fb%3Fc%23d%25e");
        assert_eq!(segment("máy"), "m%C3%A1y");
    }

    #[test]
    fn an_instant_is_the_wall_clock_time_that_far_before_now() {
        let now = Instant::now();
        let then = now - std::time::Duration::from_secs(90);
        assert_eq!(wall_ms(then, now, 1_000_000), 910_000);
        assert_eq!(wall_ms(now + std::time::Duration::from_secs(5), now, 1_000_000), 1_000_000);
        let hanoi = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
        // 2026-11-23T20:00:00Z is already the 24th in Hanoi.
        assert_eq!(day(Lang::Vi, 1_795_464_000_000, &hanoi), "24/11/2026");
        assert_eq!(day(Lang::En, 1_795_464_000_000, &hanoi), "24 Nov 2026");
    }
}
