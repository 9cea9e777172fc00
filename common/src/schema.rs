//! Names that cross from agent to collector and mean something to both.

/// Measurements read from power and room equipment (by SNMP, Modbus, and
/// later NUT and sensors) rather than from the server the agent runs on.
/// They drive the site-wide power alarms, so only a token marked
/// `poller: true` may write them.
pub const DEVICE_MEASUREMENTS: &[&str] = &[
    "ups",
    "ups_phase",
    "power_feed",
    "power_feed_phase",
    "ats",
    "generator",
    "generator_phase",
    "pdu",
    "pdu_outlet",
    "pdu_bank",
    "env",
    "cooling",
    "device",
    "net_if",
    "snmp_trap",
];

/// The tag that names what a device measurement's point is about, for the
/// measurements whose identity is not the usual `device` tag: a
/// `power_feed` point is about its feed (the alarms `feed_lost` and the
/// reports key it by `site` and `feed`), whichever meter or UPS measured it.
const IDENTITY_TAGS: &[(&str, &str)] = &[("power_feed", "feed"), ("power_feed_phase", "feed")];

/// The tag a token's `devices:` list is checked against for `measurement`:
/// `feed` for `power_feed` and `power_feed_phase`, `device` for the other
/// device measurements, None for the rest.
pub fn identity_tag(measurement: &str) -> Option<&'static str> {
    if !is_device_measurement(measurement) {
        return None;
    }
    Some(IDENTITY_TAGS.iter().find(|(m, _)| *m == measurement).map_or("device", |(_, t)| *t))
}

/// The device measurement whose series a point of another measurement would
/// pass for in VictoriaMetrics and Prometheus-style stores, which name each
/// field's series `{measurement}_{field}`: measurement `ups_on` with field
/// `battery` lands as `ups_on_battery`, and `power` with `feed_live` as
/// `power_feed_live`. None for a
/// device measurement itself and for a name no device series starts with.
pub fn flattened_device_series(measurement: &str, field: &str) -> Option<&'static str> {
    if is_device_measurement(measurement) {
        return None;
    }
    let series = format!("{measurement}_{field}");
    DEVICE_MEASUREMENTS.iter().find(|d| series.strip_prefix(**d).is_some_and(|rest| rest.starts_with('_'))).copied()
}

/// Whether only a poller's token may write `measurement`.
pub fn is_device_measurement(measurement: &str) -> bool {
    DEVICE_MEASUREMENTS.contains(&measurement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_measurement_is_named_by_its_identity_tag() {
        let tags: Vec<_> = DEVICE_MEASUREMENTS.iter().map(|m| (*m, identity_tag(m))).collect();
        assert_eq!(
            tags,
            vec![
                ("ups", Some("device")),
                ("ups_phase", Some("device")),
                ("power_feed", Some("feed")),
                ("power_feed_phase", Some("feed")),
                ("ats", Some("device")),
                ("generator", Some("device")),
                ("generator_phase", Some("device")),
                ("pdu", Some("device")),
                ("pdu_outlet", Some("device")),
                ("pdu_bank", Some("device")),
                ("env", Some("device")),
                ("cooling", Some("device")),
                ("device", Some("device")),
                ("net_if", Some("device")),
                ("snmp_trap", Some("device")),
            ]
        );
        assert_eq!(identity_tag("host_cpu"), None);
    }

    #[test]
    fn a_field_that_flattens_into_a_device_series_is_found() {
        assert_eq!(flattened_device_series("ups_on", "battery"), Some("ups"));
        assert_eq!(flattened_device_series("power", "feed_live"), Some("power_feed"));
        assert_eq!(flattened_device_series("snmp", "trap_event"), Some("snmp_trap"));
        assert_eq!(flattened_device_series("net", "if_up"), Some("net_if"));
        // A device measurement's own fields, and names that only look alike.
        assert_eq!(flattened_device_series("ups", "on_battery"), None);
        assert_eq!(flattened_device_series("host_cpu", "usage_pct"), None);
        assert_eq!(flattened_device_series("upsx", "on_battery"), None);
        assert_eq!(flattened_device_series("environment", "temperature_c"), None);
        assert_eq!(flattened_device_series("up", "s_on_battery"), None, "`up_s_on_battery` is no `ups_` series");
    }
}
