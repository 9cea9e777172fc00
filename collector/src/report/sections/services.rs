//! Services: minutes of outage and of degradation, and availability over
//! the minutes for which there is data at all.

use super::super::ReportError;
use super::super::context::Ctx;
use super::super::{ServiceRow, minutes, round1, round3};
use crate::trends;

/// One row per configured service, in the order configured; none without
/// the alarm history.
pub fn build(c: &Ctx<'_>) -> Result<Vec<ServiceRow>, ReportError> {
    if c.inp.alarms.is_none() {
        return Ok(Vec::new());
    }
    let data_hours = trends::hours_with_data(c.inp.trends, c.site, c.from_h, c.to_h)?;
    let period_min = (data_hours as f64 * 60.0).min((c.seen_to - c.from) as f64 / 60.0);
    Ok(c.inp
        .services
        .iter()
        .map(|name| {
            let of = |n: &str| {
                minutes(
                    &c.spans
                        .iter()
                        .filter(|x| x.name == n && x.labels.get("service") == Some(name))
                        .collect::<Vec<_>>(),
                )
            };
            let out = of("service_outage");
            ServiceRow {
                service: name.clone(),
                outage_minutes: round1(out),
                degraded_minutes: round1(of("service_degraded")),
                availability_pct: (period_min > 0.0).then(|| round3(100.0 * (1.0 - out / period_min).max(0.0))),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::october;
    use super::*;

    #[test]
    fn the_known_months_service_over_the_minutes_with_data() {
        october(|c| {
            let rows = build(c).unwrap();
            // 10 minutes out of the 44 280 with data.
            assert_eq!(
                rows,
                [ServiceRow {
                    service: "portal".into(),
                    outage_minutes: 10.0,
                    degraded_minutes: 0.0,
                    availability_pct: Some(99.977)
                }]
            );
        });
    }
}
