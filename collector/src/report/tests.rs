//! A generated month with known answers: October 2026 at a site in UTC+7.

use super::*;
use crate::ingest::lines::{ObsValue, Observation};
use crate::trends::{Trends, TrendsConfig};

const GIB: f64 = 1_073_741_824.0;

fn tz() -> TimeZone {
    TimeZone::fixed(jiff::tz::offset(7))
}

/// Unix seconds of a local time in October 2026.
fn at(day: i8, hour: i8, minute: i8) -> i64 {
    jiff::civil::date(2026, 10, day).at(hour, minute, 0, 0).to_zoned(tz()).unwrap().timestamp().as_second()
}

fn obs(m: &str, tags: &[(&str, &str)], fields: Vec<(&str, ObsValue)>, ts: i64) -> Observation {
    Observation {
        measurement: m.into(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ts: ts * 1_000_000_000,
    }
}

/// The collector was down on 15 October from 00:00 to 06:00: nothing arrived.
fn collector_down(t: i64) -> bool {
    t >= at(15, 0, 0) && t < at(15, 6, 0)
}

fn month(dir: &std::path::Path) -> (Connection, Connection) {
    let trends = Trends::open(TrendsConfig { db: dir.join("trends.db"), retention_days: 730, flush_secs: 60 }).unwrap();
    let (start, end) = (at(1, 0, 0), at(31, 0, 0) + 86_400);
    let mut t = start;
    let mut batch = Vec::new();
    while t < end {
        if !collector_down(t) {
            let minute = (t - start) / 60;
            // Heartbeats every minute; web1 silent on 10 October 03:00–03:45.
            for host in ["web1", "db1"] {
                if host == "web1" && t >= at(10, 3, 0) && t < at(10, 3, 45) {
                    continue;
                }
                batch.push(obs(
                    "dcwatch_agent",
                    &[("site", "hn"), ("host", host)],
                    vec![("uptime_s", ObsValue::Num(1.0))],
                    t,
                ));
            }
            // web1's CPU: 1 … 60 % over each hour (the month's p95 is 57 %).
            batch.push(obs(
                "host_cpu",
                &[("site", "hn"), ("host", "web1"), ("cpu", "total")],
                vec![("usage_pct", ObsValue::Num((minute % 60 + 1) as f64))],
                t,
            ));
            // The UPS: on battery 5 October 14:00–14:30 and 20 October 09:00–09:12.
            let on = (t >= at(5, 14, 0) && t < at(5, 14, 30)) || (t >= at(20, 9, 0) && t < at(20, 9, 12));
            batch.push(obs(
                "ups",
                &[("site", "hn"), ("device", "ups-a1")],
                vec![
                    ("on_battery", ObsValue::Bool(on)),
                    ("load_pct", ObsValue::Num(if on { 71.5 } else { 40.0 })),
                    ("battery_charge_pct", ObsValue::Num(if on { 83.0 } else { 100.0 })),
                ],
                t,
            ));
            if minute % 10 == 0 {
                // db1's /data: 300 GiB on 1 October at 00:00, 10 GiB more a day, of 1000 GiB.
                let used = 300.0 * GIB + 10.0 * GIB * (t - start) as f64 / 86_400.0;
                batch.push(obs(
                    "host_disk",
                    &[("site", "hn"), ("host", "db1"), ("mount", "/data")],
                    vec![("used_bytes", ObsValue::Num(used)), ("total_bytes", ObsValue::Num(1000.0 * GIB))],
                    t,
                ));
                // The nightly backup at 01:30, except on 7 and 22 October; the 12th is 45 % smaller.
                let mut last = None;
                for d in 1..=31i8 {
                    let run = at(d, 1, 30);
                    if run <= t && d != 7 && d != 22 {
                        last = Some((d, run));
                    }
                }
                let mut f = vec![("status", ObsValue::Str(if last.is_some() { "ok" } else { "missing" }.into()))];
                if let Some((d, run)) = last {
                    f.push(("last_success_ts", ObsValue::Num(run as f64)));
                    f.push(("size_change_pct", ObsValue::Num(if d == 12 { -45.0 } else { 0.5 })));
                }
                batch.push(obs("backup", &[("site", "hn"), ("host", "db1"), ("job", "db")], f, t));
            }
        }
        if batch.len() > 10_000 {
            trends.observe(&batch);
            batch.clear();
        }
        t += 60;
    }
    trends.observe(&batch);
    trends.flush(end * 1_000_000_000).unwrap();
    drop(trends);

    // The alarm history of the same month, as the engine writes it.
    let store = crate::alarm::store::Store::open(&dir.join("alarms.db")).unwrap();
    drop(store);
    let alarms = Connection::open(dir.join("alarms.db")).unwrap();
    let spans: &[(&str, &str, i64, Option<i64>)] = &[
        ("agent_silent", r#"{"host":"web1","site":"hn"}"#, at(10, 3, 0) + 30, Some(at(10, 3, 45) + 30)),
        ("feed_lost", r#"{"feed":"A","site":"hn"}"#, at(5, 14, 0), Some(at(5, 14, 30))),
        ("power_lost", r#"{"site":"hn"}"#, at(5, 14, 5), Some(at(5, 14, 25))),
        ("service_outage", r#"{"service":"portal"}"#, at(5, 14, 10), Some(at(5, 14, 20))),
        ("generator_running", r#"{"device":"gen1","site":"hn"}"#, at(5, 14, 2), Some(at(5, 14, 40))),
        // Fired in September, resolved on 1 October 02:00: 120 minutes of it are October's.
        ("feed_lost", r#"{"feed":"B","site":"hn"}"#, at(1, 0, 0) - 3600, Some(at(1, 2, 0))),
        // Still firing at the end of the month.
        ("disk_full", r#"{"host":"db1","mount":"/data","site":"hn"}"#, at(31, 23, 0), None),
    ];
    for (name, labels, start, end) in spans {
        let fp = format!("{name}{labels}");
        alarms
            .execute(
                "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES (?1, ?2, ?3, ?4, 'firing', ?5)",
                params![fp, name, labels, start * 1000, format!("{name} fired")],
            )
            .unwrap();
        if let Some(e) = end {
            alarms
                .execute(
                    "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES (?1, ?2, ?3, ?4, 'resolved', '')",
                    params![fp, name, labels, e * 1000],
                )
                .unwrap();
        }
    }
    (crate::trends::open_read(&dir.join("trends.db")).unwrap(), alarms)
}

#[test]
fn a_generated_month_gives_its_known_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (trends, alarms) = month(dir.path());
    let inputs = Inputs { trends: &trends, alarms: Some(&alarms), tz: tz(), services: vec!["portal".into()] };
    let period = parse_period("2026-10", &tz()).unwrap();
    assert_eq!((period.days.len(), period.start()), (31, at(1, 0, 0)));
    let r = build(&inputs, &period, None, at(31, 0, 0) + 3 * 86_400).unwrap();
    assert!(!r.partial);
    assert_eq!((r.from.as_str(), r.to.as_str()), ("2026-10-01", "2026-10-31"));

    // Availability, to the minute; the 6 hours without data are a gap, not downtime.
    let site = &r.sites[0];
    assert_eq!((site.site.as_str(), site.hosts, site.gap_hours), ("hn", 2, 6));
    let covered = 31.0 * 1440.0 - 360.0;
    let web1 = r.hosts.iter().find(|h| h.host == "web1").unwrap();
    assert_eq!(web1.down_minutes, 45.0);
    assert_eq!(web1.availability_pct, Some(round3(100.0 * (1.0 - 45.0 / covered))));
    assert_eq!(web1.availability_pct, Some(99.898));
    assert_eq!(r.hosts.iter().find(|h| h.host == "db1").unwrap().availability_pct, Some(100.0));
    assert_eq!(
        (site.power_lost_minutes, site.power_availability_pct),
        (20.0, Some(round3(100.0 * (1.0 - 20.0 / covered))))
    );
    assert_eq!(r.services[0].outage_minutes, 10.0);
    assert_eq!(r.services[0].availability_pct, 99.978);

    // Power: 42 minutes on battery, on the 5th and the 20th.
    let ups = &r.ups[0];
    assert_eq!((ups.device.as_str(), ups.minutes_on_battery), ("ups-a1", 42.0));
    assert_eq!(ups.daily_battery_minutes[4], Some(30.0));
    assert_eq!(ups.daily_battery_minutes[19], Some(12.0));
    assert_eq!(ups.daily_battery_minutes[0], Some(0.0));
    assert_eq!((ups.load_peak_pct, ups.min_charge_pct), (Some(71.5), Some(83.0)));
    assert_eq!(r.summary.minutes_on_battery, 42.0);
    // Feed A once in October for 30 min; B's September outage ran 120 min into it, not counted as October's.
    let feed = |f: &str| r.feeds.iter().find(|x| x.feed == f).unwrap().clone();
    assert_eq!((feed("A").outages, feed("A").down_minutes), (1, 30.0));
    assert_eq!((feed("B").outages, feed("B").down_minutes), (0, 120.0));
    assert_eq!(r.summary.feed_outages, 1);

    // Incidents: all but the generator running (info); the disk alarm is ongoing.
    let names: Vec<&str> = r.incidents.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["feed_lost", "feed_lost", "power_lost", "service_outage", "agent_silent", "disk_full"]);
    assert_eq!(r.incidents[0].start, "2026-10-01 00:00");
    assert_eq!(r.incidents.last().unwrap().end, None);
    // MTTR over the five that ended: (120 + 30 + 20 + 10 + 45) / 5.
    assert_eq!(r.mttr_minutes, Some(45.0));

    // Capacity: CPU p95 57 % (within the sketch's 1 %); the disk fills on 10 December.
    let cpu = web1.cpu_p95_pct.unwrap();
    assert!((cpu - 57.0).abs() <= 0.6, "{cpu}");
    let disk = &r.hosts.iter().find(|h| h.host == "db1").unwrap().disks[0];
    assert_eq!(disk.mount, "/data");
    assert_eq!(disk.total_bytes, Some(1000.0 * GIB));
    assert!((disk.growth_bytes_per_month.unwrap() - 300.0 * GIB).abs() < 1.0, "{:?}", disk.growth_bytes_per_month);
    assert_eq!((disk.full_on.as_deref(), disk.days_left), (Some("2026-12-10"), Some(40)));
    assert_eq!(disk.confidence.as_deref(), Some("high"));
    assert_eq!(disk.daily_used_bytes.len(), 31);
    assert!(disk.daily_used_bytes.iter().all(Option::is_some));
    assert_eq!(r.act_first.len(), 1);
    assert_eq!((r.act_first[0].host.as_str(), r.act_first[0].days_left), ("db1", Some(40)));

    // Backups: 29 of 31 days, 7 and 22 October missed, the largest shrink 45 %.
    let b = &r.backups[0];
    assert_eq!((b.job.as_str(), b.days, b.success_days), ("db", 31, 29));
    assert_eq!(b.missed_days, ["2026-10-07", "2026-10-22"]);
    assert_eq!((b.success_pct, b.largest_shrink_pct), (Some(93.5), Some(-45.0)));
}

#[test]
fn hours_without_data_are_gaps_in_the_daily_figures_not_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let (trends, _) = month(dir.path());
    let inputs = Inputs { trends: &trends, alarms: None, tz: tz(), services: Vec::new() };
    let period = parse_period("2026-10", &tz()).unwrap();
    let r = build(&inputs, &period, None, at(31, 0, 0) + 3 * 86_400).unwrap();
    // Without the alarm history there is no availability to state.
    assert_eq!(r.hosts[0].availability_pct, None);
    assert_eq!(r.sites[0].power_availability_pct, None);
    // A week with no data at all before the month's trends: every day a gap.
    let before = parse_period("2026-W39", &tz()).unwrap();
    let r = build(&inputs, &before, None, at(31, 0, 0)).unwrap();
    assert!(r.hosts.is_empty() && r.ups.is_empty());
    assert_eq!(r.sites.len(), 0);
    // The CSV says "no data" as an empty value; the HTML as a gap.
    let oct = build(&inputs, &period, None, at(31, 0, 0) + 3 * 86_400).unwrap();
    let csv = render::csv(&oct);
    assert!(csv.contains("host,hn,web1,,availability_pct,\n"), "{csv}");
    let html = render::html(&oct, i18n::Lang::Vi);
    assert!(html.contains("<span class=gap>không có dữ liệu</span>"));
}

#[test]
fn periods_are_months_or_iso_weeks_in_the_site_zone() {
    let p = parse_period("2026-W43", &tz()).unwrap();
    assert_eq!(p.days.first().unwrap().to_string(), "2026-10-19");
    assert_eq!(p.days.len(), 7);
    assert_eq!(p.start(), at(19, 0, 0));
    assert_eq!(parse_period("2026-02", &tz()).unwrap().days.len(), 28);
    assert_eq!(
        parse_period("2026-13", &tz()).unwrap_err(),
        "`2026-13` is not a period: give a month (2026-10) or an ISO week (2026-W43)"
    );
    assert_eq!(last_month(at(3, 12, 0), &tz()), "2026-09");
}
