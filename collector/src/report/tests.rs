//! A generated month with known answers: October 2026 at a site in UTC+7.

use super::sample::{GIB, at, tz};
use super::*;

fn month(dir: &std::path::Path) -> (Connection, Connection) {
    sample::generate(dir, 0, 10).unwrap();
    (crate::trends::open_read(&dir.join("trends.db")).unwrap(), Connection::open(dir.join("alarms.db")).unwrap())
}

/// A trends database (in its directory) of just these points, flushed at `flush_at`.
fn trends_of(points: &[crate::model::Observation], flush_at: i64) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::trends::Trends::open(crate::trends::TrendsConfig {
        db: dir.path().join("trends.db"),
        retention_days: 730,
        flush_secs: 60,
    })
    .unwrap();
    t.observe(points);
    t.flush(flush_at * 1_000_000_000).unwrap();
    let trends = crate::trends::open_read(&dir.path().join("trends.db")).unwrap();
    (dir, trends)
}

/// A report of October from just these points, made at `now`.
fn report_of(points: Vec<crate::model::Observation>, flush_at: i64, now: i64) -> Report {
    let (_dir, trends) = trends_of(&points, flush_at);
    let inputs = Inputs { trends: &trends, alarms: None, tz: tz(), services: Vec::new() };
    build(&inputs, &parse_period("2026-10", &tz()).unwrap(), None, now).unwrap()
}

/// A point of `m` at `ts` (seconds).
fn point(
    m: &str,
    tags: &[(&str, &str)],
    fields: Vec<(&str, crate::model::ObsValue)>,
    ts: i64,
) -> crate::model::Observation {
    crate::model::Observation {
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
    // Of the 44 280 minutes with data (the collector's 6 hours down are not counted).
    assert_eq!(r.services[0].availability_pct, Some(99.977));

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

    // Capacity: CPU p95 57 % (within the sketch's 1 %); the disk fills on 5 December.
    let cpu = web1.cpu_p95_pct.unwrap();
    assert!((cpu - 57.0).abs() <= 0.6, "{cpu}");
    let disk = &r.hosts.iter().find(|h| h.host == "db1").unwrap().disks[0];
    assert_eq!(disk.mount, "/data");
    assert_eq!(disk.total_bytes, Some(1000.0 * GIB));
    assert!((disk.growth_bytes_per_month.unwrap() - 300.0 * GIB).abs() < 1.0, "{:?}", disk.growth_bytes_per_month);
    // df's 950 GiB (used + available), not the 1000 GiB with root's reserve:
    // 610 GiB used at the month's end is 64,2 %, not 61,0 %.
    assert_eq!(disk.used_pct, Some(64.2));
    assert_eq!((disk.full_on.as_deref(), disk.days_left), (Some("2026-12-05"), Some(35)));
    assert_eq!(disk.confidence.as_deref(), Some("high"));
    assert_eq!(disk.daily_used_bytes.len(), 31);
    assert!(disk.daily_used_bytes.iter().all(Option::is_some));
    assert_eq!(r.act_first.len(), 1);
    assert_eq!((r.act_first[0].host.as_str(), r.act_first[0].days_left), ("db1", Some(35)));

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
    assert!(html.contains("<span class=gap>chưa có dữ liệu</span>"));
}

#[test]
fn periods_are_months_or_iso_weeks_in_the_site_zone() {
    let p = parse_period("2026-W43", &tz()).unwrap();
    assert_eq!(p.days.first().unwrap().to_string(), "2026-10-19");
    assert_eq!(p.days.len(), 7);
    assert_eq!(p.start(), at(19, 0, 0));
    assert_eq!(parse_period("2026-02", &tz()).unwrap().days.len(), 28);
    assert_eq!(
        parse_period("2026-13", &tz()).unwrap_err().to_string(),
        "`2026-13` is not a period: give a month (2026-10) or an ISO week (2026-W43)"
    );
    assert_eq!(last_month(at(3, 12, 0), &tz()), "2026-09");
}

#[test]
fn network_p95_is_the_busiest_interfaces() {
    use crate::model::ObsValue::Num;
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
                vec![("on_battery", crate::model::ObsValue::Bool(true))],
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
    // The same date as at the month's end, 61 days from the 5th (not 35 from the 31st).
    assert_eq!((disk.full_on.as_deref(), disk.days_left), (Some("2026-12-05"), Some(61)));
}

#[test]
fn a_disk_that_barely_grows_has_no_full_date_and_no_overflow() {
    use crate::model::ObsValue::Num;
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
    use crate::model::ObsValue::Bool;
    // A power cut on the 5th: ups-a1 on battery 14:00–14:30, ups-b1 14:05–14:25, sampled every minute.
    let mut obs = Vec::new();
    for m in 0..60i64 {
        let t = at(5, 14, 0) + m * 60;
        for (dev, on) in [("ups-a1", m < 30), ("ups-b1", (5..25).contains(&m))] {
            obs.push(point("ups", &[("site", "hn"), ("device", dev)], vec![("on_battery", Bool(on))], t));
        }
    }
    let r = report_of(obs, at(5, 15, 0), at(31, 0, 0) + 3 * 86_400);
    let minutes: Vec<f64> = r.ups.iter().map(|u| u.minutes_on_battery).collect();
    assert_eq!(minutes, [30.0, 20.0]);
    // 30, not 30 + 20: the site was on battery for 30 minutes.
    assert_eq!((r.sites[0].site.as_str(), r.sites[0].minutes_on_battery), ("hn", 30.0));
    assert_eq!(r.summary.minutes_on_battery, 30.0);
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
                vec![("on_battery", crate::model::ObsValue::Bool(true))],
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
            "ups,hn,,\"'\t@SUM(A1)\",minutes_on_battery,0\n",
            "ups,hn,,\"'\r-2+3\",minutes_on_battery,0\n",
            "ups,hn,,\"' =HYPERLINK(\"\"http://x\"\")\",minutes_on_battery,0\n",
        ]
    );
}

/// A report from these points and alarm history rows (name, labels,
/// firing at, resolved at), for `period`, made at `now`.
fn report_with(
    points: Vec<crate::model::Observation>,
    history: &[(&str, &str, i64, Option<i64>)],
    period: &str,
    now: i64,
) -> Report {
    let (dir, trends) = trends_of(&points, now);
    drop(crate::alarm::store::Store::open(&dir.path().join("alarms.db")).unwrap());
    let alarms = Connection::open(dir.path().join("alarms.db")).unwrap();
    for (name, labels, start, end) in history {
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
    let inputs = Inputs { trends: &trends, alarms: Some(&alarms), tz: tz(), services: vec!["portal".into()] };
    build(&inputs, &parse_period(period, &tz()).unwrap(), None, now).unwrap()
}

/// The 90-second demo: the agent reports every 2 s; the UPS is on battery
/// for 20 s (10 samples) and the generator runs as long; power is lost at
/// 10:00:31 and is not resolved before the collector stops, at 10:29:30.
fn demo_points() -> Vec<crate::model::Observation> {
    use crate::model::ObsValue::{Bool, Num};
    let mut obs = Vec::new();
    for i in 0..45i64 {
        let t = at(20, 10, 0) + i * 2;
        let on = (10..20).contains(&i);
        obs.push(point("dcwatch_agent", &[("site", "hn"), ("host", "web1")], vec![("uptime_s", Num(1.0))], t));
        obs.push(point("ups", &[("site", "hn"), ("device", "ups1")], vec![("on_battery", Bool(on))], t));
        obs.push(point("generator", &[("site", "hn"), ("device", "gen1")], vec![("running", Bool(on))], t));
    }
    // The agent goes on beating after the demo's devices stopped, until 10:29:30.
    for i in 0..57i64 {
        let t = at(20, 10, 1) + 30 + i * 30;
        obs.push(point("dcwatch_agent", &[("site", "hn"), ("host", "web1")], vec![("uptime_s", Num(1.0))], t));
    }
    obs
}

/// Regression (issue 15): after a 90-second demo the UPS table said 20,0
/// minutes on battery, the generator 18,0 and the summary 1,0; a minute
/// later the JSON said 20,5. An hour's share of samples counts for the
/// time the hour was observed (45 samples × 2 s), not for the whole hour.
#[test]
fn minutes_in_a_state_are_the_share_of_samples_times_the_time_observed_and_do_not_grow_later() {
    let history = [("power_lost", r#"{"site":"hn"}"#, at(20, 10, 0) + 31, None)];
    let r = report_with(demo_points(), &history, "2026-10", at(20, 10, 30));
    // 10 of 45 samples over 90 s: 20 s.
    assert_eq!(r.ups[0].minutes_on_battery, 0.3);
    assert_eq!(r.ups[0].daily_battery_minutes[19], Some(0.3));
    assert_eq!(r.generators[0].run_minutes, 0.3);
    assert_eq!((r.sites[0].minutes_on_battery, r.summary.minutes_on_battery), (0.3, 0.3));
    // Still open: counted up to the newest data (10:29:31), 29 minutes.
    assert_eq!(r.sites[0].power_lost_minutes, 29.0);
    let later = report_with(demo_points(), &history, "2026-10", at(20, 10, 31));
    let json = |r: &Report| {
        let mut v = serde_json::to_value(r).unwrap();
        v["generated_at"] = serde_json::Value::Null;
        v
    };
    assert_eq!(json(&later), json(&r), "a minute later, without new data, the same figures");
}

/// Regression (issue 15): "19 hours without data" on the first day of use.
#[test]
fn hours_before_the_first_data_and_after_now_are_not_hours_without_data() {
    use crate::model::ObsValue::Num;
    // Heartbeats from 20 October 05:00 to 06:59; the report is made at 09:30.
    let obs = (0..120)
        .map(|m| {
            point(
                "dcwatch_agent",
                &[("site", "hn"), ("host", "web1")],
                vec![("uptime_s", Num(1.0))],
                at(20, 5, 0) + m * 60,
            )
        })
        .collect();
    let r = report_of(obs, at(20, 7, 0), at(20, 9, 30));
    // 07:00, 08:00 and the 09:00 hour so far: not the 19 days before, nor the rest of October.
    assert_eq!(r.sites[0].gap_hours, 3);
}

/// Regression (issue 15): 3 % CPU was drawn full height.
#[test]
fn the_cpu_chart_draws_percentages_on_a_100_percent_scale() {
    use crate::model::ObsValue::Num;
    let obs = (0..60)
        .map(|m| {
            point(
                "host_cpu",
                &[("site", "hn"), ("host", "web1"), ("cpu", "total")],
                vec![("usage_pct", Num(3.0))],
                at(20, 5, 0) + m * 60,
            )
        })
        .collect();
    let r = report_of(obs, at(20, 7, 0), at(31, 0, 0) + 86_400 * 3);
    assert_eq!(r.hosts[0].cpu_p95_pct, Some(3.0));
    let html = render::html(&r, i18n::Lang::En);
    // 3 % of the 168-pixel plot: 5 pixels high, its top at 24 + 168 × 0.97.
    assert!(
        html.contains(r##"y="187.0" width="662.0" height="5.0" fill="#3a6ea5"><title>web1: 3.0</title>"##),
        "{html}"
    );
}

#[test]
fn availability_is_written_with_the_precision_the_period_gives() {
    use render::{availability, availability_decimals};
    // One minute shows: in a month (44 640 min) 0,002 %, in a week 0,01 %, in a day 0,1 %.
    assert_eq!(
        [availability_decimals(31.0 * 1440.0), availability_decimals(7.0 * 1440.0), availability_decimals(1440.0)],
        [3, 2, 1]
    );
    assert_eq!(availability(100.0, 3, i18n::Lang::Vi), "100 %");
    assert_eq!(availability(99.98, 3, i18n::Lang::Vi), "99,98 %");
    assert_eq!(availability(99.898, 3, i18n::Lang::Vi), "99,898 %");
    assert_eq!(availability(99.977, 2, i18n::Lang::En), "99.98 %");
    // Less than 100 is never written 100.
    assert_eq!(availability(99.9996, 3, i18n::Lang::Vi), "99,999 %");
    assert_eq!(availability(99.0, 3, i18n::Lang::En), "99 %");
}

#[test]
fn the_report_speaks_its_language_in_incidents_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (trends, alarms) = month(dir.path());
    let inputs = Inputs { trends: &trends, alarms: Some(&alarms), tz: tz(), services: vec!["portal".into()] };
    let r = build(&inputs, &parse_period("2026-10", &tz()).unwrap(), None, at(31, 0, 0) + 3 * 86_400).unwrap();
    let vi = render::html(&r, i18n::Lang::Vi);
    assert!(vi.contains("<th>Diễn biến</th>"), "the incidents' text has a header");
    assert!(vi.contains("<td>UPS ups-a1 chạy bằng ắc quy</td>"));
    assert!(vi.contains("<td>Mất nguồn A</td>"));
    assert!(!vi.contains("fired"), "no English summary in the Vietnamese report");
    assert!(vi.contains("<h1>Báo cáo công suất và mức độ sẵn sàng</h1>"));
    assert!(vi.contains("<td rowspan=1 class=n>100 %</td>"), "db1's availability: 100 %, not 100,000 %");
    assert!(vi.contains("Dữ liệu có cho 99 % của kỳ báo cáo."));
    for word in ["p95", "năng lực", "pin"] {
        assert!(!vi.contains(word), "`{word}` in the Vietnamese report");
    }
    let en = render::html(&r, i18n::Lang::En);
    assert!(en.contains("<th>What happened</th>") && en.contains("<td>UPS ups-a1 on battery</td>"));
    assert!(!en.contains("p95"));
}

/// Every total in the summary is the aggregate of its table.
#[test]
fn every_summary_total_agrees_with_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let (trends, alarms) = month(dir.path());
    let inputs = Inputs { trends: &trends, alarms: Some(&alarms), tz: tz(), services: vec!["portal".into()] };
    let r = build(&inputs, &parse_period("2026-10", &tz()).unwrap(), None, at(31, 0, 0) + 3 * 86_400).unwrap();
    let s = &r.summary;
    assert_eq!(s.hosts, r.hosts.len());
    assert_eq!(s.hosts, r.sites.iter().map(|x| x.hosts).sum::<usize>());
    assert_eq!(s.minutes_on_battery, 52.0);
    assert_eq!(s.minutes_on_battery, r.sites.iter().map(|x| x.minutes_on_battery).sum::<f64>());
    for site in &r.sites {
        let ups: Vec<&UpsRow> = r.ups.iter().filter(|u| u.site == site.site).collect();
        let longest = ups.iter().map(|u| u.minutes_on_battery).fold(0.0, f64::max);
        let sum: f64 = ups.iter().map(|u| u.minutes_on_battery).sum();
        assert!(site.minutes_on_battery >= longest && site.minutes_on_battery <= sum, "{site:?}");
    }
    for u in &r.ups {
        let days: f64 = u.daily_battery_minutes.iter().flatten().sum();
        assert_eq!(round1(days), u.minutes_on_battery, "the chart's days add up to the table");
    }
    assert_eq!(s.feed_outages, r.feeds.iter().map(|f| f.outages).sum::<usize>());
    assert_eq!(s.incidents, r.incidents.len());
    assert_eq!(s.disks_full_within_60_days, r.act_first.iter().filter(|a| a.what == "disk").count());
    let (ok, days) = r.backups.iter().fold((0, 0), |(o, d), b| (o + b.success_days, d + b.days));
    assert_eq!(s.backup_success_pct, Some(round1(100.0 * ok as f64 / days as f64)));
    let hav: Vec<f64> = r.hosts.iter().filter_map(|h| h.availability_pct).collect();
    assert_eq!(s.host_availability_pct, Some(round3(hav.iter().sum::<f64>() / hav.len() as f64)));
    let pav = r.sites.iter().filter_map(|x| x.power_availability_pct).fold(f64::INFINITY, f64::min);
    assert_eq!(s.power_availability_pct, Some(pav));
    // The HTML shows the same figures as the JSON.
    let html = render::html(&r, i18n::Lang::Vi);
    assert!(html.contains("Số phút chạy bằng ắc quy<b class=\"bad\">52,0</b>"), "{html}");
}

/// Part 3 of issue 15: at first start the collector emailed the month before
/// it was installed, with service availability "100".
#[test]
fn a_period_before_dcwatch_ran_covers_nothing_and_is_not_sent() {
    use crate::model::ObsValue::Num;
    // Data from 2 November on; October's report.
    let obs = (0..120)
        .map(|m| {
            point(
                "dcwatch_agent",
                &[("site", "hn"), ("host", "web1")],
                vec![("uptime_s", Num(1.0))],
                at(31, 0, 0) + 2 * 86_400 + m * 60,
            )
        })
        .collect();
    let r = report_with(obs, &[], "2026-10", at(31, 0, 0) + 3 * 86_400);
    assert_eq!(r.coverage_pct, 0.0);
    assert_eq!(r.services[0].availability_pct, None, "no data: no availability, not 100");
    assert!(r.sites.is_empty(), "no site was heard from in October: no hours without data");
    assert!(!schedule::covers_enough(&r, 50.0));
    // The generated October: 738 of 744 hours.
    let dir = tempfile::tempdir().unwrap();
    let (trends, alarms) = month(dir.path());
    let inputs = Inputs { trends: &trends, alarms: Some(&alarms), tz: tz(), services: Vec::new() };
    let oct = build(&inputs, &parse_period("2026-10", &tz()).unwrap(), None, at(31, 0, 0) + 3 * 86_400).unwrap();
    assert_eq!(oct.coverage_pct, 99.2);
    assert!(schedule::covers_enough(&oct, 50.0));
}

fn ist() -> TimeZone {
    TimeZone::fixed(jiff::tz::Offset::from_seconds(5 * 3600 + 1800).unwrap())
}

/// The report of October in Asia/Kolkata (+05:30) with a sample every 10
/// minutes in `[from, to)`, made two days after.
fn ist_october(from: i64, to: i64) -> Report {
    use crate::model::ObsValue::Num;
    let oct = parse_period("2026-10", &ist()).unwrap();
    let points: Vec<_> = (from..to)
        .step_by(600)
        .map(|t| point("dcwatch_agent", &[("site", "hn"), ("host", "web1")], vec![("uptime_s", Num(1.0))], t))
        .collect();
    let (_dir, trends) = trends_of(&points, oct.end() + 2 * 86_400);
    let inputs = Inputs { trends: &trends, alarms: None, tz: ist(), services: Vec::new() };
    build(&inputs, &oct, None, oct.end() + 2 * 86_400).unwrap()
}

/// Review of issue 15: in a zone with a half-hour offset (Asia/Kolkata,
/// +05:30) a period starts and ends in the middle of an hour of the trends;
/// the hour before the period must not count, nor any hour for more than
/// its part inside the period.
#[test]
fn coverage_in_a_half_hour_zone_counts_only_the_period() {
    let oct = parse_period("2026-10", &ist()).unwrap();
    let coverage = |from: i64, to: i64| ist_october(from, to).coverage_pct;
    // All of October and the days either side: all of it, not more.
    assert_eq!(coverage(oct.start() - 86_400, oct.end() + 86_400), 100.0);
    // Samples only in the 25 minutes before the period: none of it.
    assert_eq!(coverage(oct.start() - 1500, oct.start()), 0.0);
    // From 25 minutes before to 10 days in: the first hour counts for its
    // half inside the period, then 239 hours, then the hour of the last
    // samples: 240.5 of 744 hours.
    assert_eq!(coverage(oct.start() - 1500, oct.start() + 10 * 86_400), 32.3);
}

/// Review of issue 15: the coverage was rounded before it was compared with
/// `reports.min_coverage_pct`, so 49.96 % passed a minimum of 50 %.
#[test]
fn the_minimum_coverage_is_compared_with_the_coverage_before_rounding() {
    let oct = parse_period("2026-10", &ist()).unwrap();
    // 3.5 of 744 hours: 0.47 %, shown 0.5 %.
    let r = ist_october(oct.start(), oct.start() + 3 * 3600 + 1800);
    assert_eq!(r.coverage_pct, 0.5);
    assert_eq!(r.coverage_exact, 100.0 * 12_600.0 / 2_678_400.0);
    assert!(!schedule::covers_enough(&r, 0.5), "{}", r.coverage_exact);
    assert!(schedule::covers_enough(&r, 0.47));
    let r = Report { coverage_pct: 50.0, coverage_exact: 49.96, ..r };
    assert!(!schedule::covers_enough(&r, 50.0), "49.96 % is skipped by a 50 % minimum");
}
