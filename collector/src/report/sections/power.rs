//! Power equipment: each UPS (minutes on battery, day by day, load, charge,
//! runtime, battery to replace), each feed (outages, minutes down) and each
//! generator (minutes running, runs, lowest fuel).

use dcwatch_common::schema::{f, m};
use std::collections::BTreeMap;

use super::super::ReportError;
use super::super::context::Ctx;
use super::super::{FeedRow, GeneratorRow, UpsRow, all, daily, key_part, round1, state_minutes, true_minutes};
use crate::trends::{Agg, SeriesHours, SeriesKey};

/// The series of `v` with `k`'s site and key, as one aggregate.
fn find(v: &[SeriesHours], k: &SeriesKey) -> Option<Agg> {
    v.iter().find(|(x, _)| x.site == k.site && x.key == k.key).map(|(_, h)| all(h))
}

/// One row per UPS that reported its state or its load.
pub fn ups(c: &Ctx<'_>, on_battery: &[SeriesHours]) -> Result<Vec<UpsRow>, ReportError> {
    let load = c.total(m::UPS, f::LOAD_PCT)?;
    let charge = c.total(m::UPS, f::BATTERY_CHARGE_PCT)?;
    let runtime = c.total(m::UPS, f::RUNTIME_REMAINING_S)?;
    let replace = c.total(m::UPS, f::REPLACE_BATTERY)?;
    let mut keys: Vec<SeriesKey> = on_battery.iter().chain(&load).map(|(k, _)| k.clone()).collect();
    keys.sort_by(|a, b| (&a.site, &a.key).cmp(&(&b.site, &b.key)));
    keys.dedup_by(|a, b| a.site == b.site && a.key == b.key);
    let mut rows: Vec<UpsRow> = Vec::new();
    for k in &keys {
        let hours = on_battery.iter().find(|(x, _)| x.site == k.site && x.key == k.key).map(|(_, h)| h.as_slice());
        let l = find(&load, k);
        let mut row = UpsRow {
            site: k.site.clone(),
            device: key_part(k, "device").to_string(),
            minutes_on_battery: round1(hours.map_or(0.0, |h| true_minutes(h, c.seen_to))),
            load_peak_pct: l.as_ref().filter(|a| a.n > 0).map(|a| round1(a.max)),
            load_p95_pct: l.as_ref().and_then(|a| a.sketch.as_ref()).and_then(|s| s.quantile(0.95)).map(round1),
            min_charge_pct: find(&charge, k).filter(|a| a.n > 0).map(|a| round1(a.min)),
            min_runtime_minutes: find(&runtime, k).filter(|a| a.n > 0).map(|a| round1(a.min / 60.0)),
            replace_battery: find(&replace, k).is_some_and(|a| a.n > 0 && a.max >= 1.0),
            daily_battery_minutes: hours
                .map(|h| daily(c.period, h).iter().map(|d| d.as_ref().and_then(Agg::avg).map(|_| 0.0)).collect())
                .unwrap_or_default(),
        };
        // Per day: the minutes of its hours.
        if let Some(h) = hours {
            for (hour, m) in state_minutes(h, c.seen_to, |m| m) {
                if let Some(d) = c.period.day_of(hour * 3600) {
                    let day = row.daily_battery_minutes[d].get_or_insert(0.0);
                    *day = round1(*day + m);
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// One row per feed: outages that began in the period and minutes down
/// (from the alarm history; without it, the minutes its meter saw it dead).
pub fn feeds(c: &Ctx<'_>) -> Result<Vec<FeedRow>, ReportError> {
    let live = c.read(m::POWER_FEED, f::LIVE)?;
    let mut feeds: BTreeMap<(String, String), FeedRow> = BTreeMap::new();
    for (k, hours) in &live {
        let feed = key_part(k, "feed").to_string();
        let row = feeds.entry((k.site.clone(), feed.clone())).or_insert(FeedRow {
            site: k.site.clone(),
            feed: feed.clone(),
            outages: 0,
            down_minutes: 0.0,
        });
        if c.inp.alarms.is_none() {
            let dead: f64 = state_minutes(hours, c.seen_to, |m| 1.0 - m).iter().map(|(_, m)| m).sum();
            row.down_minutes = round1(row.down_minutes.max(dead));
        }
    }
    for s in c.spans_of("feed_lost") {
        let (site, feed) =
            (s.labels.get("site").cloned().unwrap_or_default(), s.labels.get("feed").cloned().unwrap_or_default());
        let row =
            feeds.entry((site.clone(), feed.clone())).or_insert(FeedRow { site, feed, outages: 0, down_minutes: 0.0 });
        if s.started_in_period {
            row.outages += 1;
        }
        row.down_minutes = round1(row.down_minutes + (s.end - s.start) as f64 / 60.0);
    }
    Ok(feeds.into_values().collect())
}

/// One row per generator that reported whether it runs.
pub fn generators(c: &Ctx<'_>) -> Result<Vec<GeneratorRow>, ReportError> {
    let running = c.read(m::GENERATOR, f::RUNNING)?;
    let fuel = c.total(m::GENERATOR, f::FUEL_PCT)?;
    let gen_runs = c.spans_of("generator_running");
    Ok(running
        .iter()
        .map(|(k, hours)| {
            let dev = key_part(k, "device").to_string();
            GeneratorRow {
                site: k.site.clone(),
                runs: c.inp.alarms.is_some().then(|| {
                    gen_runs
                        .iter()
                        .filter(|s| {
                            s.started_in_period
                                && s.labels.get("device") == Some(&dev)
                                && s.labels.get("site") == Some(&k.site)
                        })
                        .count()
                }),
                run_minutes: round1(true_minutes(hours, c.seen_to)),
                min_fuel_pct: find(&fuel, k).filter(|a| a.n > 0).map(|a| round1(a.min)),
                device: dev,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::october;
    use super::*;

    #[test]
    fn the_known_months_ups_and_feeds() {
        october(|c| {
            let rows = ups(c, &c.read("ups", "on_battery").unwrap()).unwrap();
            assert_eq!(rows.len(), 1);
            let u = &rows[0];
            // 52 minutes on battery: 30 on the 5th, 12 on the 20th, October's last 10.
            assert_eq!((u.device.as_str(), u.minutes_on_battery), ("ups-a1", 52.0));
            let days: Vec<(usize, f64)> = u
                .daily_battery_minutes
                .iter()
                .enumerate()
                .filter_map(|(d, m)| m.filter(|m| *m > 0.0).map(|m| (d, m)))
                .collect();
            assert_eq!(days, [(4, 30.0), (19, 12.0), (30, 10.0)]);
            assert_eq!((u.load_peak_pct, u.min_charge_pct, u.replace_battery), (Some(71.5), Some(83.0), false));
            // Feed A once in October for 30 minutes; B's September outage ran
            // 120 minutes into October and is not October's.
            let f: Vec<(String, usize, f64)> =
                feeds(c).unwrap().into_iter().map(|f| (f.feed, f.outages, f.down_minutes)).collect();
            assert_eq!(f, [("A".to_string(), 1, 30.0), ("B".to_string(), 0, 120.0)]);
            // The generator's run is in the alarm history only: no `generator` series.
            assert_eq!(generators(c).unwrap(), []);
        });
    }
}
