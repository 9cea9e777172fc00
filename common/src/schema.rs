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

/// Measurement names that something besides the store reads: the alarms,
/// the trends, the reports, `status` and the agent's own sources name them
/// by these constants, so a rename is one change and a typo does not
/// compile.
pub mod m {
    pub const UPS: &str = "ups";
    pub const POWER_FEED: &str = "power_feed";
    pub const ATS: &str = "ats";
    pub const GENERATOR: &str = "generator";
    pub const PDU: &str = "pdu";
    pub const ENV: &str = "env";
    pub const COOLING: &str = "cooling";
    pub const NET_IF: &str = "net_if";
    pub const DEVICE: &str = "device";
    pub const SNMP_TRAP: &str = "snmp_trap";
    pub const HOST_CPU: &str = "host_cpu";
    pub const HOST_MEM: &str = "host_mem";
    pub const HOST_DISK: &str = "host_disk";
    pub const HOST_NET: &str = "host_net";
    pub const HOST_SERVICE: &str = "host_service";
    pub const BACKUP: &str = "backup";
    pub const AGENT: &str = "dcwatch_agent";
    /// One point per output of an agent with `outputs:` (tag `output`).
    pub const AGENT_OUTPUT: &str = "dcwatch_agent_output";
}

/// Field names that something besides the store reads (see [`m`]).
pub mod f {
    // ups
    pub const STATUS: &str = "status";
    pub const ON_BATTERY: &str = "on_battery";
    pub const LOW_BATTERY: &str = "low_battery";
    pub const REPLACE_BATTERY: &str = "replace_battery";
    pub const OVERLOAD: &str = "overload";
    pub const BATTERY_CHARGE_PCT: &str = "battery_charge_pct";
    pub const RUNTIME_REMAINING_S: &str = "runtime_remaining_s";
    pub const LOAD_PCT: &str = "load_pct";
    // power_feed
    pub const LIVE: &str = "live";
    pub const VOLTAGE_V: &str = "voltage_v";
    pub const POWER_W: &str = "power_w";
    // ats
    pub const ACTIVE_SOURCE: &str = "active_source";
    pub const ON_SOURCE_B: &str = "on_source_b";
    pub const REDUNDANT: &str = "redundant";
    // generator
    pub const RUNNING: &str = "running";
    pub const STATE: &str = "state";
    pub const FUEL_PCT: &str = "fuel_pct";
    // device
    pub const UP: &str = "up";
    pub const ERRORS_TOTAL: &str = "errors_total";
    // host
    pub const USAGE_PCT: &str = "usage_pct";
    pub const USED_PCT: &str = "used_pct";
    pub const USED_BYTES: &str = "used_bytes";
    pub const FREE_BYTES: &str = "free_bytes";
    pub const TOTAL_BYTES: &str = "total_bytes";
    // backup
    pub const OK: &str = "ok";
    pub const LAST_SUCCESS_TS: &str = "last_success_ts";
    pub const SIZE_CHANGE_PCT: &str = "size_change_pct";
    // host_service
    pub const ACTIVE: &str = "active";
    pub const SUB_STATE: &str = "sub_state";
    // dcwatch_agent
    pub const BEAT: &str = "beat";
    pub const VERSION: &str = "version";
    // dcwatch_agent, dcwatch_agent_output
    /// Lines queued and not yet acknowledged (by the output furthest behind).
    pub const QUEUED: &str = "queued";
    // dcwatch_agent_output
    /// Age in seconds of the oldest point the output has not had acknowledged.
    pub const OLDEST_AGE_S: &str = "oldest_age_s";
    // host_net
    pub const RX_BYTES_PER_S: &str = "rx_bytes_per_s";
    pub const TX_BYTES_PER_S: &str = "tx_bytes_per_s";
    // backup
    pub const LAST_SIZE_BYTES: &str = "last_size_bytes";
}

/// The fields whose change is a change of power state: the agent sends a
/// poll at once when one of them changed since the last (not at the batch
/// timer), and the collector's power chain reads them. Listed once, here.
pub const POWER_STATE_FIELDS: &[(&str, &[&str])] = &[
    (m::UPS, &[f::STATUS, f::ON_BATTERY, f::LOW_BATTERY]),
    (m::POWER_FEED, &[f::LIVE]),
    (m::ATS, &[f::ACTIVE_SOURCE, f::ON_SOURCE_B]),
    (m::GENERATOR, &[f::RUNNING, f::STATE]),
    (m::DEVICE, &[f::UP]),
];

/// Whether `field` of `measurement` is a power state ([`POWER_STATE_FIELDS`]).
pub fn is_power_state(measurement: &str, field: &str) -> bool {
    POWER_STATE_FIELDS.iter().any(|(m, fs)| *m == measurement && fs.contains(&field))
}

/// The measurements a device profile (SNMP or Modbus) may feed, each with
/// its fields: the contract of docs/metrics.md, which a test checks against
/// this table. The agent writes `device` and `snmp_trap` itself.
pub const PROFILE_FIELDS: &[(&str, &[&str])] = &[
    (
        "ups",
        &[
            "status",
            "on_battery",
            "low_battery",
            "replace_battery",
            "overload",
            "battery_charge_pct",
            "runtime_remaining_s",
            "seconds_on_battery",
            "battery_voltage_v",
            "battery_temperature_c",
            "input_voltage_v",
            "input_frequency_hz",
            "output_voltage_v",
            "output_frequency_hz",
            "output_current_a",
            "output_power_w",
            "load_pct",
        ],
    ),
    ("ups_phase", &["voltage_v", "current_a", "power_w", "load_pct"]),
    ("ats", &["active_source", "on_source_b", "source_a_ok", "source_b_ok", "redundant", "switch_ok", "phase_in_sync"]),
    (
        "pdu",
        &[
            "load_state",
            "current_a",
            "peak_current_a",
            "voltage_v",
            "power_w",
            "peak_power_w",
            "power_va",
            "power_factor",
            "energy_kwh",
            "power_supply_alarm",
        ],
    ),
    (
        "power_feed",
        &[
            "live",
            "voltage_v",
            "current_a",
            "power_w",
            "power_va",
            "power_var",
            "power_factor",
            "frequency_hz",
            "energy_kwh",
            "import_energy_kwh",
            "export_energy_kwh",
        ],
    ),
    ("power_feed_phase", &["voltage_v", "current_a", "power_w"]),
    (
        "generator",
        &[
            "state",
            "running",
            "control_mode",
            "alarm",
            "fuel_pct",
            "battery_voltage_v",
            "voltage_v",
            "frequency_hz",
            "power_w",
            "engine_rpm",
            "oil_pressure_kpa",
            "coolant_temperature_c",
            "run_hours",
            "starts_total",
        ],
    ),
    ("generator_phase", &["voltage_v", "current_a"]),
];

/// A measurement or field name outside the contract starts with this: the
/// stored name itself tells every reader that dcwatch gives it no meaning.
pub const CUSTOM_PREFIX: &str = "custom_";

/// The fields a profile may give `measurement`: None if it is not one a
/// profile may feed.
pub fn profile_fields(measurement: &str) -> Option<&'static [&'static str]> {
    PROFILE_FIELDS.iter().find(|(m, _)| *m == measurement).map(|(_, f)| *f)
}

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

    /// The `### `name`` sections of docs/metrics.md's power equipment, with
    /// the backquoted names in the first column of their tables.
    fn documented_profile_fields() -> Vec<(String, Vec<String>)> {
        let doc = include_str!("../../docs/metrics.md");
        let start = doc.find("\n## Power equipment over SNMP").expect("the SNMP section");
        let end = doc[start..].find("\n## Backups").expect("the backups section") + start;
        let ticked = |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_string).collect() };
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for line in doc[start..end].lines() {
            if let Some(h) = line.strip_prefix("### ") {
                out.push((ticked(h)[0].clone(), Vec::new()));
            } else if let Some(row) = line.strip_prefix("| `")
                && let Some((_, fields)) = out.last_mut()
            {
                fields.extend(ticked(&format!("`{}", row.split(" |").next().unwrap_or(""))));
            }
        }
        out.retain(|(m, _)| !["device", "snmp_trap", "snmp_trap_receiver"].contains(&m.as_str()));
        out
    }

    #[test]
    fn the_profile_fields_are_those_docs_metrics_md_lists() {
        let schema: Vec<(String, Vec<String>)> =
            PROFILE_FIELDS.iter().map(|(m, f)| (m.to_string(), f.iter().map(|f| f.to_string()).collect())).collect();
        let mut documented = documented_profile_fields();
        let mut sorted = schema.clone();
        for (_, f) in documented.iter_mut().chain(sorted.iter_mut()) {
            f.sort();
        }
        documented.sort();
        sorted.sort();
        assert_eq!(documented, sorted);
        assert!(PROFILE_FIELDS.iter().all(|(m, _)| is_device_measurement(m)));
        assert_eq!(profile_fields("generator_phase"), Some(&["voltage_v", "current_a"][..]));
        assert_eq!(profile_fields("host_cpu"), None);
    }

    #[test]
    fn the_power_states_are_fields_of_the_contract() {
        for (m, fields) in POWER_STATE_FIELDS {
            for f in *fields {
                let known = profile_fields(m).is_some_and(|p| p.contains(f)) || (*m, *f) == (m::DEVICE, f::UP);
                assert!(known, "{m}.{f} is not in PROFILE_FIELDS");
            }
        }
        assert!(is_power_state("ups", "on_battery"));
        assert!(is_power_state("device", "up"));
        assert!(!is_power_state("ups", "load_pct"));
        assert!(!is_power_state("power_feed", "on_battery"));
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
