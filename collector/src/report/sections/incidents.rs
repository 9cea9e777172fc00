//! Incidents: every warning and critical alarm that fired in the period,
//! and the mean time to repair of those that ended.

use super::super::context::Ctx;
use super::super::{Incident, round1};

/// The incidents in the order they fired, and the MTTR in minutes.
pub fn build(c: &Ctx<'_>) -> (Vec<Incident>, Option<f64>) {
    let incidents: Vec<Incident> = c
        .spans
        .iter()
        .filter(|s| s.started_in_period && (c.in_site(s) || !s.labels.contains_key("site")))
        .filter_map(|s| {
            let sev = crate::alarm::conditions::builtin_severity(&s.name).unwrap_or("warning");
            (sev != "info").then(|| Incident {
                name: s.name.clone(),
                severity: sev.into(),
                site: s.labels.get("site").cloned().unwrap_or_default(),
                subject: ["host", "device", "feed", "job", "service", "mount", "receiver", "sink"]
                    .iter()
                    .filter_map(|k| s.labels.get(*k).cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
                start: c.fmt_ts(s.fired),
                end: s.resolved.map(|e| c.fmt_ts(e)),
                // The whole incident, also past the period's end; an open
                // one until the newest data.
                minutes: round1(
                    (s.resolved.unwrap_or(c.newest.unwrap_or(c.now_s).min(c.now_s).max(s.fired)) - s.fired) as f64
                        / 60.0,
                ),
                summary: s.summary.clone(),
                labels: s.labels.clone(),
            })
        })
        .collect();
    let ended: Vec<f64> = incidents.iter().filter(|i| i.end.is_some()).map(|i| i.minutes).collect();
    let mttr = (!ended.is_empty()).then(|| round1(ended.iter().sum::<f64>() / ended.len() as f64));
    (incidents, mttr)
}

#[cfg(test)]
mod tests {
    use super::super::testing::october;
    use super::*;

    #[test]
    fn the_known_months_incidents_leave_out_information_and_septembers() {
        october(|c| {
            let (incidents, mttr) = build(c);
            let first: Vec<(&str, &str, Option<&str>, f64)> = incidents
                .iter()
                .take(3)
                .map(|i| (i.name.as_str(), i.start.as_str(), i.end.as_deref(), i.minutes))
                .collect();
            assert_eq!(
                first,
                [
                    ("feed_lost", "2026-10-05 14:00", Some("2026-10-05 14:30"), 30.0),
                    ("ups_on_battery", "2026-10-05 14:00", Some("2026-10-05 14:30"), 30.0),
                    ("power_lost", "2026-10-05 14:05", Some("2026-10-05 14:25"), 20.0),
                ]
            );
            // Nine: the generator running is information, September's feed B is not October's.
            assert_eq!(incidents.len(), 9);
            assert_eq!((incidents[7].name.as_str(), incidents[7].end.as_deref()), ("disk_full", None));
            assert_eq!(mttr, Some(43.4));
        });
    }
}
