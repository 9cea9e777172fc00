//! The words of what the limits say to people (notices, self-alarms), in
//! one place for the translation that comes later. English for now.

use std::collections::BTreeSet;

/// `60` → "1 min", `86400` → "24 h", `45` → "45 s".
pub fn duration(secs: u64) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// The one notice that stands for a window's notices to a receiver past
/// `alarms.limits.max_notices_per_window`.
pub fn storm_summary(
    count: usize,
    firing: usize,
    resolved: usize,
    sites: &BTreeSet<String>,
    window_secs: u64,
    first: &[String],
) -> String {
    let at = match sites.len() {
        0 => String::new(),
        1 => format!(" at site {}", sites.iter().next().expect("one")),
        n => format!(" at {n} sites"),
    };
    let more = if count > first.len() { format!(", … {} more", count - first.len()) } else { String::new() };
    format!(
        "{count} more alarm notices{at} in {} ({firing} firing, {resolved} resolved), not sent one by one; \
         see the console: {}{more}",
        duration(window_secs),
        first.join(", ")
    )
}

/// The resolve of an alarm whose series were all forgotten.
pub fn expired(ttl_secs: u64) -> String {
    format!(
        "No data for {}: what this alarm is about is no longer reported, so the collector forgot it \
         (alarms.limits.series_ttl_secs); closed without a recovery",
        duration(ttl_secs)
    )
}

pub fn series_cap(token: &str, cap: usize) -> String {
    format!(
        "Token {token} has {cap} series in the alarm state, its cap (alarms.limits.max_series_per_token): \
         points of new series are still forwarded to the sinks, but no alarm sees them"
    )
}

pub fn alarm_cap(site: &str, cap: usize, not_raised: usize) -> String {
    let at = if site.is_empty() { "without a site".to_string() } else { format!("at site {site}") };
    format!(
        "{cap} alarms pending or firing {at}, its cap (alarms.limits.max_alarms_per_site): \
         {not_raised} more are not raised; see the console and the writers of that site"
    )
}
