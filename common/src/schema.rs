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

/// Whether only a poller's token may write `measurement`.
pub fn is_device_measurement(measurement: &str) -> bool {
    DEVICE_MEASUREMENTS.contains(&measurement)
}
