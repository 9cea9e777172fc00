//! Sites: hosts, hours without data, minutes on battery (hour by hour, the
//! UPS longest on battery), power lost and redundancy degraded, and the
//! availabilities of power and hosts.

use std::collections::{BTreeMap, BTreeSet};

use super::super::context::Ctx;
use super::super::{HostRow, SiteRow, Span, minutes, minutes_outside, round1, round3, state_minutes};
use crate::trends::SeriesHours;

/// Minutes each site ran on battery, by hour: two UPS on battery in the
/// same hour count as the one longer on battery (exact when they overlap,
/// as in a power cut; the hourly trends cannot tell more).
pub fn battery_by_hour(c: &Ctx<'_>, on_battery: &[SeriesHours]) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let mut site_battery: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (k, hours) in on_battery {
        let by_hour = site_battery.entry(k.site.clone()).or_default();
        for (h, m) in state_minutes(hours, c.seen_to, |m| m) {
            let e = by_hour.entry(h).or_insert(0.0);
            *e = e.max(m);
        }
    }
    site_battery
}

/// One row per site heard from, with hosts, or with a UPS (and the
/// report's own site).
pub fn build(c: &Ctx<'_>, hosts: &[HostRow], on_battery: &[SeriesHours]) -> Vec<SiteRow> {
    let site_battery = battery_by_hour(c, on_battery);
    let mut site_names: BTreeSet<String> = c.heard.keys().cloned().collect();
    site_names.extend(hosts.iter().map(|h| h.site.clone()));
    site_names.extend(site_battery.keys().cloned());
    if let Some(s) = c.site {
        site_names.insert(s.to_string());
    }
    let (lost, degraded) = (c.spans_of("power_lost"), c.spans_of("power_redundancy_degraded"));
    site_names
        .iter()
        .map(|s| {
            fn at_site<'a>(v: &[&'a Span], s: &str) -> Vec<&'a Span> {
                v.iter().copied().filter(|x| x.labels.get("site").map(String::as_str) == Some(s)).collect()
            }
            let of = |v: &[&Span]| minutes(&at_site(v, s));
            let cov = c.covered_minutes(s);
            let lost_min = of(&lost);
            // Availability leaves the hours without data out, on both sides.
            let lost_counted = minutes_outside(&at_site(&lost, s), &c.gaps_of(s));
            let mine: Vec<&HostRow> = hosts.iter().filter(|h| &h.site == s).collect();
            let av: Vec<f64> = mine.iter().filter_map(|h| h.availability_pct).collect();
            SiteRow {
                site: s.clone(),
                hosts: mine.len(),
                gap_hours: c.gap_hours_of(s),
                minutes_on_battery: round1(site_battery.get(s).map_or(0.0, |m| m.values().sum())),
                power_lost_minutes: round1(lost_min),
                redundancy_degraded_minutes: round1(of(&degraded)),
                power_availability_pct: (c.inp.alarms.is_some() && cov > 0.0)
                    .then(|| round3(100.0 * (1.0 - lost_counted / cov).max(0.0))),
                host_availability_pct: (!av.is_empty()).then(|| round3(av.iter().sum::<f64>() / av.len() as f64)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::october;
    use super::*;

    #[test]
    fn the_known_months_site_its_gaps_battery_and_power() {
        october(|c| {
            let (hosts, _) = super::super::hosts::build(c).unwrap();
            let rows = build(c, &hosts, &c.read("ups", "on_battery").unwrap());
            assert_eq!(rows.len(), 1);
            let r = &rows[0];
            // 6 hours without data (the collector down on the 15th), 52 minutes
            // on battery, 20 minutes without power of the 44 280 with data.
            assert_eq!((r.site.as_str(), r.hosts, r.gap_hours, r.minutes_on_battery), ("hn", 2, 6, 52.0));
            assert_eq!((r.power_lost_minutes, r.power_availability_pct), (20.0, Some(99.955)));
            assert_eq!(r.host_availability_pct, Some(99.949));
        });
    }
}
