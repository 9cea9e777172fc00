//! Hosts: availability (minutes silent outside the hours without data),
//! CPU, memory and network p95, disks and when they fill; what to act on
//! first (disks full within 60 days, CPU or memory at 90 % or more).

use dcwatch_common::schema::{f, m};
use std::collections::{BTreeSet, HashMap};

use super::super::ReportError;
use super::super::context::Ctx;
use super::super::{ActFirst, DiskRow, HostRow, Span, all, daily, date_str, key_part, minutes_outside, round1, round3};
use crate::trends::{Agg, SeriesHours, SeriesKey};

type HostKey = (String, String);

/// Every host's row, in (site, host) order, and what to act on first, most
/// urgent first. A server that reports host metrics but no heartbeat
/// (another agent, Telegraf) is a server too.
pub fn build(c: &Ctx<'_>) -> Result<(Vec<HostRow>, Vec<ActFirst>), ReportError> {
    let per_host = |m: &str, f: &str| -> Result<HashMap<HostKey, Agg>, ReportError> {
        Ok(c.total(m, f)?.into_iter().map(|(k, h)| ((k.site, k.host), all(&h))).collect())
    };
    let (cpu, mem) = (per_host(m::HOST_CPU, f::USAGE_PCT)?, per_host(m::HOST_MEM, f::USED_PCT)?);
    let (rx, tx) = (busiest(c, f::RX_BYTES_PER_S)?, busiest(c, f::TX_BYTES_PER_S)?);
    let disks = Disks::read(c)?;
    let mut hosts: BTreeSet<HostKey> = c.beat_hosts.clone();
    hosts.extend(cpu.keys().chain(mem.keys()).chain(rx.keys()).cloned());
    hosts.extend(disks.used.iter().map(|(k, _)| (k.site.clone(), k.host.clone())));

    let silent = c.spans_of("agent_silent");
    let mut rows = Vec::new();
    let mut act_first = Vec::new();
    for key in &hosts {
        let (s, h) = key;
        let down: Vec<&Span> = silent
            .iter()
            .copied()
            .filter(|x| x.labels.get("host") == Some(h) && x.labels.get("site") == Some(s))
            .collect();
        let down_min = minutes_outside(&down, &c.gaps_of(s));
        let cov = c.covered_minutes(s);
        let availability =
            (c.inp.alarms.is_some() && cov > 0.0).then(|| round3(100.0 * (1.0 - down_min / cov).max(0.0)));
        let p95 = |m: &HashMap<HostKey, Agg>| {
            m.get(key).and_then(|a| a.sketch.as_ref()).and_then(|sk| sk.quantile(0.95)).map(round1)
        };
        let (cpu95, mem95) = (p95(&cpu), p95(&mem));
        let mut host_disks = Vec::new();
        for (k, hours) in disks.used.iter().filter(|(k, _)| &k.site == s && &k.host == h) {
            let (row, act) = disks.row(c, k, hours);
            host_disks.push(row);
            act_first.extend(act);
        }
        for (what, v) in [("cpu", cpu95), ("memory", mem95)] {
            if let Some(v) = v.filter(|v| *v >= 90.0) {
                act_first.push(ActFirst {
                    site: s.clone(),
                    host: h.clone(),
                    what: what.into(),
                    mount: None,
                    days_left: None,
                    full_on: None,
                    value_pct: Some(v),
                });
            }
        }
        rows.push(HostRow {
            site: s.clone(),
            host: h.clone(),
            availability_pct: availability,
            down_minutes: round1(down_min),
            cpu_p95_pct: cpu95,
            mem_p95_pct: mem95,
            net_rx_p95_bytes_s: rx.get(key).map(|v| v.round()),
            net_tx_p95_bytes_s: tx.get(key).map(|v| v.round()),
            disks: host_disks,
        });
    }
    act_first.sort_by(|a, b| {
        a.days_left
            .unwrap_or(i64::MAX)
            .cmp(&b.days_left.unwrap_or(i64::MAX))
            .then_with(|| b.value_pct.unwrap_or(0.0).total_cmp(&a.value_pct.unwrap_or(0.0)))
            .then_with(|| (&a.site, &a.host, &a.mount).cmp(&(&b.site, &b.host, &b.mount)))
    });
    Ok((rows, act_first))
}

/// Each host's busiest interface: the highest p95 of `field` among them.
fn busiest(c: &Ctx<'_>, field: &str) -> Result<HashMap<HostKey, f64>, ReportError> {
    let mut m: HashMap<HostKey, f64> = HashMap::new();
    for (k, h) in c.total(m::HOST_NET, field)? {
        if let Some(p) = all(&h).sketch.as_ref().and_then(|s| s.quantile(0.95)) {
            let e = m.entry((k.site, k.host)).or_insert(p);
            *e = e.max(p);
        }
    }
    Ok(m)
}

/// The disks' series: used bytes hour by hour, the size, and the bytes
/// free (what df counts as available).
struct Disks {
    used: Vec<SeriesHours>,
    total: HashMap<(String, String, String), Agg>,
    free: HashMap<(String, String, String), Vec<(i64, Agg)>>,
}

impl Disks {
    fn read(c: &Ctx<'_>) -> Result<Disks, ReportError> {
        Ok(Disks {
            used: c.read(m::HOST_DISK, f::USED_BYTES)?,
            total: c
                .total(m::HOST_DISK, f::TOTAL_BYTES)?
                .into_iter()
                .map(|(k, h)| ((k.site, k.host, k.key), all(&h)))
                .collect(),
            free: c.read(m::HOST_DISK, f::FREE_BYTES)?.into_iter().map(|(k, h)| ((k.site, k.host, k.key), h)).collect(),
        })
    }

    /// One disk's row, and an entry to act on first if it fills within 60 days.
    fn row(&self, c: &Ctx<'_>, k: &SeriesKey, hours: &[(i64, Agg)]) -> (DiskRow, Option<ActFirst>) {
        let period = c.period;
        let mount = key_part(k, "mount").to_string();
        let days = daily(period, hours);
        let daily_used: Vec<Option<f64>> = days.iter().map(|d| d.as_ref().and_then(Agg::avg)).collect();
        let pts: Vec<(f64, f64)> =
            daily_used.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i as f64, v))).collect();
        let last = pts.last().copied();
        let dk = (k.site.clone(), k.host.clone(), k.key.clone());
        let tot = self.total.get(&dk).and_then(|a| (a.n > 0).then_some(a.max));
        let fit = crate::stats::theil_sen(&pts);
        // Used at the end of the last day with data: its average is mid-day.
        let used_end = match (last, fit) {
            (Some((_, v)), Some((slope, _))) => Some(v + slope * 0.5),
            (Some((_, v)), None) => Some(v),
            _ => None,
        };
        // What df counts as the disk: used + available (root's reserve
        // is neither), on the last day with both; the total without
        // `free_bytes` (another agent).
        let usable = last.and_then(|(d, used_avg)| {
            let free = daily(period, self.free.get(&dk)?).get(d as usize)?.as_ref().and_then(Agg::avg)?;
            Some(used_avg + free)
        });
        let cap = usable.or(tot);
        // Days left are counted from the period's last day, or from today
        // for a period not yet over.
        let end_date = *period.days.last().expect("days");
        let reference_day = period.day_of(c.now_s).map_or(end_date, |d| period.days[d]);
        let (mut full_on, mut days_left, mut confidence) = (None, None, None);
        if let (Some((slope, spread)), Some(u), Some(t), Some((last_day, _))) = (fit, used_end, cap, last)
            && slope > 0.0
        {
            // Capped at a century: a disk that barely grows is not going
            // to fill, and the calendar ends somewhere.
            let left_days = ((t - u).max(0.0) / slope).floor().min(36_500.0) as i64;
            // Counted from the end of the last day with data.
            let base = period.days[last_day as usize];
            if left_days < 36_500
                && let Ok(d) = base.checked_add(jiff::Span::new().days(left_days + 1))
            {
                full_on = Some(date_str(d));
                days_left = Some(i64::from((d - reference_day).get_days()));
            }
            confidence = Some(
                if pts.len() >= 21 && spread < 0.5 {
                    "high"
                } else if pts.len() >= 7 && spread < 1.5 {
                    "medium"
                } else {
                    "low"
                }
                .to_string(),
            );
        }
        let act = match (days_left, &full_on) {
            (Some(dl), Some(fo)) if dl <= 60 => Some(ActFirst {
                site: k.site.clone(),
                host: k.host.clone(),
                what: "disk".into(),
                mount: Some(mount.clone()),
                days_left: Some(dl),
                full_on: Some(fo.clone()),
                value_pct: None,
            }),
            _ => None,
        };
        let row = DiskRow {
            used_pct: used_end.zip(cap).filter(|(_, t)| *t > 0.0).map(|(u, t)| round1(100.0 * u / t)),
            used_bytes: used_end.map(f64::round),
            total_bytes: tot,
            growth_bytes_per_month: fit.map(|(slope, _)| (slope * 30.0).round()),
            full_on,
            days_left,
            confidence,
            daily_used_bytes: daily_used.iter().map(|v| v.map(f64::round)).collect(),
            mount,
        };
        (row, act)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::october;
    use super::*;

    #[test]
    fn the_known_months_hosts_their_availability_and_the_disk_to_act_on() {
        october(|c| {
            let (rows, act) = build(c).unwrap();
            let hosts: Vec<(&str, &str, f64, Option<f64>)> =
                rows.iter().map(|h| (h.site.as_str(), h.host.as_str(), h.down_minutes, h.availability_pct)).collect();
            // web1 silent 45 minutes of the 44 280 with data; db1's silence
            // while the collector was down is not held against it.
            assert_eq!(hosts, [("hn", "db1", 0.0, Some(100.0)), ("hn", "web1", 45.0, Some(99.898))]);
            let disk = &rows[0].disks[0];
            assert_eq!(
                (disk.mount.as_str(), disk.used_pct, disk.full_on.as_deref(), disk.days_left),
                ("/data", Some(64.2), Some("2026-12-05"), Some(35))
            );
            let act: Vec<(&str, &str, Option<i64>)> =
                act.iter().map(|a| (a.host.as_str(), a.what.as_str(), a.days_left)).collect();
            assert_eq!(act, [("db1", "disk", Some(35))]);
        });
    }
}
