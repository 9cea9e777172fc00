//! A generated month with known answers: October 2026 at a site in UTC+7.

use super::sample::{GIB, at, tz};
use super::*;

fn month(dir: &std::path::Path) -> (Connection, Connection) {
    sample::generate(dir, 0, 10).unwrap();
    (crate::trends::open_read(&dir.join("trends.db")).unwrap(), Connection::open(dir.join("alarms.db")).unwrap())
}

/// A report of October from just these points, made at `now`.
fn report_of(points: Vec<crate::ingest::lines::Observation>, flush_at: i64, now: i64) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::trends::Trends::open(crate::trends::TrendsConfig {
        db: dir.path().join("trends.db"),
        retention_days: 730,
        flush_secs: 60,
    })
    .unwrap();
    t.observe(&points);
    t.flush(flush_at * 1_000_000_000).unwrap();
    let trends = crate::trends::open_read(&dir.path().join("trends.db")).unwrap();
    let inputs = Inputs { trends: &trends, alarms: None, tz: tz(), services: Vec::new() };
    build(&inputs, &parse_period("2026-10", &tz()).unwrap(), None, now).unwrap()
}

/// A point of `m` at `ts` (seconds).
fn point(
    m: &str,
    tags: &[(&str, &str)],
    fields: Vec<(&str, crate::ingest::lines::ObsValue)>,
    ts: i64,
) -> crate::ingest::lines::Observation {
    crate::ingest::lines::Observation {
        measurement: m.into(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ts: ts * 1_000_000_000,
    }
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
    assert_eq!(
        (site.power_lost_minutes, site.power_availability_pct),
        (20.0, Some(round3(100.0 * (1.0 - 20.0 / covered))))
    );
    assert_eq!(r.services[0].outage_minutes, 10.0);
    assert_eq!(r.services[0].availability_pct, 99.978);

    // Power: 52 minutes on battery: the 5th, the 20th, and October's last 10.
    let ups = &r.ups[0];
    assert_eq!((ups.device.as_str(), ups.minutes_on_battery), ("ups-a1", 52.0));
    assert_eq!(ups.daily_battery_minutes[4], Some(30.0));
    assert_eq!(ups.daily_battery_minutes[19], Some(12.0));
    assert_eq!(ups.daily_battery_minutes[30], Some(10.0));
    assert_eq!(ups.daily_battery_minutes[0], Some(0.0));
    assert_eq!((ups.load_peak_pct, ups.min_charge_pct), (Some(71.5), Some(83.0)));
    assert_eq!(r.summary.minutes_on_battery, 52.0);
    // Feed A once in October for 30 min; B's September outage ran 120 min into it, not counted as October's.
    let feed = |f: &str| r.feeds.iter().find(|x| x.feed == f).unwrap().clone();
    assert_eq!((feed("A").outages, feed("A").down_minutes), (1, 30.0));
    assert_eq!((feed("B").outages, feed("B").down_minutes), (0, 120.0));
    assert_eq!(r.summary.feed_outages, 1);

    // Incidents: those that fired in October, but the generator running
    // (info); September's feed B outage is not October's; the disk alarm is
    // ongoing; the UPS one ended in November, after 20 minutes.
    let names: Vec<&str> = r.incidents.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "feed_lost",
            "ups_on_battery",
            "power_lost",
            "service_outage",
            "agent_silent",
            "agent_silent",
            "ups_on_battery",
            "disk_full",
            "ups_on_battery"
        ]
    );
    assert_eq!(r.incidents[0].start, "2026-10-05 14:00");
    let disk = r.incidents.iter().find(|i| i.name == "disk_full").unwrap();
    assert_eq!(disk.end, None);
    let ups = r.incidents.last().unwrap();
    assert_eq!((ups.end.as_deref(), ups.minutes), (Some("2026-11-01 00:10"), 20.0));
    // MTTR over the eight that ended: (30 + 30 + 20 + 10 + 45 + 180 + 12 + 20) / 8.
    assert_eq!(r.mttr_minutes, Some(43.4));
    // db1's silence while the collector was down is not held against it.
    let db1 = r.hosts.iter().find(|h| h.host == "db1").unwrap();
    assert_eq!((db1.down_minutes, db1.availability_pct), (0.0, Some(100.0)));

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

#[test]
fn network_p95_is_the_busiest_interfaces() {
    use crate::ingest::lines::ObsValue::Num;
    let mut obs = Vec::new();
    for i in 0..100i64 {
        let ts = at(2, 10, 0) + i * 30;
        for (iface, scale) in [("eth0", 1.0e6), ("eth1", 2.0e6)] {
            obs.push(point(
                "host_net",
                &[("site", "hn"), ("host", "web1"), ("iface", iface)],
                vec![("rx_bytes_per_s", Num((i + 1) as f64 * scale)), ("tx_bytes_per_s", Num(1000.0))],
                ts,
            ));
        }
        obs.push(point("dcwatch_agent", &[("site", "hn"), ("host", "web1")], vec![("uptime_s", Num(1.0))], ts));
    }
    let r = report_of(obs, at(3, 0, 0), at(31, 0, 0) + 86_400 * 3);
    // eth1 is the busier: its p95 is 95 × 2 MB/s (within the sketch's 1 %).
    let rx = r.hosts[0].net_rx_p95_bytes_s.unwrap();
    assert!((rx - 190.0e6).abs() / 190.0e6 <= 0.01, "{rx}");
    let tx = r.hosts[0].net_tx_p95_bytes_s.unwrap();
    assert!((tx - 1000.0).abs() <= 10.0, "{tx}");
}

#[test]
fn the_hour_a_report_so_far_ends_in_counts_only_its_minutes_so_far() {
    // On battery since 09:00; the report is made at 09:06.
    let obs = (0..6)
        .map(|i| {
            point(
                "ups",
                &[("site", "hn"), ("device", "ups-a1")],
                vec![("on_battery", crate::ingest::lines::ObsValue::Bool(true))],
                at(20, 9, 0) + i * 60,
            )
        })
        .collect();
    let r = report_of(obs, at(20, 9, 6), at(20, 9, 6));
    assert!(r.partial);
    assert_eq!(r.ups[0].minutes_on_battery, 6.0);
    assert_eq!(r.ups[0].daily_battery_minutes[19], Some(6.0));
}

#[test]
fn a_report_so_far_counts_days_left_from_today() {
    let dir = tempfile::tempdir().unwrap();
    let (trends, alarms) = month(dir.path());
    let inputs = Inputs { trends: &trends, alarms: Some(&alarms), tz: tz(), services: Vec::new() };
    let r = build(&inputs, &parse_period("2026-10", &tz()).unwrap(), None, at(5, 12, 0)).unwrap();
    assert!(r.partial);
    let disk = &r.hosts.iter().find(|h| h.host == "db1").unwrap().disks[0];
    // The same date as at the month's end, 66 days from the 5th (not 40 from the 31st).
    assert_eq!((disk.full_on.as_deref(), disk.days_left), (Some("2026-12-10"), Some(66)));
}

#[test]
fn a_disk_that_barely_grows_has_no_full_date_and_no_overflow() {
    use crate::ingest::lines::ObsValue::Num;
    // 1 TB free, growing by a few bytes a day: billions of days.
    let obs = (0..10i64)
        .map(|d| {
            point(
                "host_disk",
                &[("site", "hn"), ("host", "nas"), ("mount", "/")],
                vec![("used_bytes", Num(1.0e9 + d as f64 * 3.0)), ("total_bytes", Num(1.0e12))],
                at(1, 12, 0) + d * 86_400,
            )
        })
        .collect();
    let r = report_of(obs, at(11, 0, 0), at(31, 0, 0) + 86_400 * 3);
    let disk = &r.hosts[0].disks[0];
    assert_eq!(disk.growth_bytes_per_month, Some(90.0));
    assert_eq!((disk.full_on.as_deref(), disk.days_left), (None, None));
    assert!(r.act_first.is_empty());
}

#[test]
fn two_ups_on_battery_at_once_are_one_site_on_battery() {
    let dir = tempfile::tempdir().unwrap();
    let (trends, alarms) = month(dir.path());
    // A second UPS on battery on the 5th from 14:10 to 14:40, overlapping ups-a1's 14:00–14:30.
    for (event, at_s) in [("firing", at(5, 14, 10)), ("resolved", at(5, 14, 40))] {
        alarms
            .execute(
                "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES ('b', 'ups_on_battery', ?1, ?2, ?3, '')",
                params![r#"{"device":"ups-b1","site":"hn"}"#, at_s * 1000, event],
            )
            .unwrap();
    }
    let inputs = Inputs { trends: &trends, alarms: Some(&alarms), tz: tz(), services: Vec::new() };
    let r = build(&inputs, &parse_period("2026-10", &tz()).unwrap(), None, at(31, 0, 0) + 3 * 86_400).unwrap();
    // 14:00–14:40 on the 5th, 12 on the 20th, 10 on the 31st: 62, not 30 + 30 + 12 + 10.
    assert_eq!(r.summary.minutes_on_battery, 62.0);
}

/// Regression (CSV injection): device and site names come from agents; one
/// that starts with a formula after a space or tab reached the CSV as it was.
#[test]
fn the_csv_neutralises_formulas_in_names_from_the_data() {
    let obs = [" =HYPERLINK(\"http://x\")", "\t@SUM(A1)", "\r-2+3"]
        .iter()
        .map(|device| {
            point(
                "ups",
                &[("site", "hn"), ("device", device)],
                vec![("on_battery", crate::ingest::lines::ObsValue::Bool(true))],
                at(20, 9, 0),
            )
        })
        .collect();
    let r = report_of(obs, at(20, 9, 6), at(20, 9, 6));
    let csv = render::csv(&r);
    let rows: Vec<&str> =
        csv.split_inclusive('\n').filter(|l| l.starts_with("ups,") && l.contains(",minutes_on_battery,")).collect();
    assert_eq!(
        rows,
        [
            "ups,hn,,\"'\t@SUM(A1)\",minutes_on_battery,6\n",
            "ups,hn,,\"'\r-2+3\",minutes_on_battery,6\n",
            "ups,hn,,\"' =HYPERLINK(\"\"http://x\"\")\",minutes_on_battery,6\n",
        ]
    );
}
