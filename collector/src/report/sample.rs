//! A generated month with known answers, October 2026 at a site in UTC+7:
//! the report's tests read it, and `dcwatch-collector gen-trends` writes it
//! (with as many ordinary servers as asked) for the benchmark and the
//! end-to-end test.

use jiff::tz::TimeZone;
use rusqlite::{Connection, params};

use crate::model::{ObsValue, Observation};
use crate::trends::{Trends, TrendsConfig};

pub const GIB: f64 = 1_073_741_824.0;

pub fn tz() -> TimeZone {
    TimeZone::fixed(jiff::tz::offset(7))
}

/// Unix seconds of a local time in October 2026.
pub fn at(day: i8, hour: i8, minute: i8) -> i64 {
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

/// Why the sample databases were not written (any of the stores' errors,
/// kept with their chain).
pub type SampleError = Box<dyn std::error::Error + Send + Sync>;

/// Writes `trends.db` and `alarms.db` in `dir`: the known month (hosts web1
/// and db1 at site hn), plus `extra_hosts` ordinary servers sampled every
/// `step_minutes` (for the benchmark: the hourly rows are the same whatever
/// the sampling).
pub fn generate(dir: &std::path::Path, extra_hosts: usize, step_minutes: i64) -> Result<(), SampleError> {
    let trends = Trends::open(TrendsConfig { db: dir.join("trends.db"), retention_days: 730, flush_secs: 60 })?;
    let names: Vec<String> = (1..=extra_hosts).map(|i| format!("srv-{i:03}")).collect();
    let (start, end) = (at(1, 0, 0), at(31, 0, 0) + 86_400);
    let mut t = start;
    let mut batch = Vec::new();
    while t < end {
        if !collector_down(t) {
            let minute = (t - start) / 60;
            known_minute(&mut batch, start, minute, t);
            if minute % step_minutes.max(1) == 0 {
                for (i, h) in names.iter().enumerate() {
                    ordinary(&mut batch, h, i, minute, t);
                }
            }
        }
        if batch.len() > 10_000 {
            trends.observe(&batch);
            batch.clear();
        }
        t += 60;
    }
    trends.observe(&batch);
    trends.flush(end * 1_000_000_000)?;
    drop(trends);

    alarm_history(dir)
}

/// One minute `t` of the known month: heartbeats, web1's CPU, the UPS, and
/// every ten minutes db1's disk and backup.
fn known_minute(batch: &mut Vec<Observation>, start: i64, minute: i64, t: i64) {
    // Heartbeats every minute; web1 silent on 10 October 03:00–03:45.
    for host in ["web1", "db1"] {
        if host == "web1" && t >= at(10, 3, 0) && t < at(10, 3, 45) {
            continue;
        }
        batch.push(obs("dcwatch_agent", &[("site", "hn"), ("host", host)], vec![("uptime_s", ObsValue::Num(1.0))], t));
    }
    // web1's CPU: 1 … 60 % over each hour (the month's p95 is 57 %).
    batch.push(obs(
        "host_cpu",
        &[("site", "hn"), ("host", "web1"), ("cpu", "total")],
        vec![("usage_pct", ObsValue::Num((minute % 60 + 1) as f64))],
        t,
    ));
    // The UPS: on battery 5 October 14:00–14:30, 20 October 09:00–09:12,
    // and from 31 October 23:50 into November.
    let on =
        (t >= at(5, 14, 0) && t < at(5, 14, 30)) || (t >= at(20, 9, 0) && t < at(20, 9, 12)) || t >= at(31, 23, 50);
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
        // db1's /data: 300 GiB on 1 October at 00:00, 10 GiB more a day, of
        // 1000 GiB with 50 GiB reserved for root: df counts 950 GiB.
        let used = 300.0 * GIB + 10.0 * GIB * (t - start) as f64 / 86_400.0;
        batch.push(obs(
            "host_disk",
            &[("site", "hn"), ("host", "db1"), ("mount", "/data")],
            vec![
                ("used_bytes", ObsValue::Num(used)),
                ("free_bytes", ObsValue::Num(950.0 * GIB - used)),
                ("total_bytes", ObsValue::Num(1000.0 * GIB)),
            ],
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

/// The alarm history of the same month, as the engine writes it.
fn alarm_history(dir: &std::path::Path) -> Result<(), SampleError> {
    drop(crate::alarm::store::Store::open(&dir.join("alarms.db"))?);
    let alarms = Connection::open(dir.join("alarms.db"))?;
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
        ("ups_on_battery", r#"{"device":"ups-a1","site":"hn"}"#, at(5, 14, 0), Some(at(5, 14, 30))),
        ("ups_on_battery", r#"{"device":"ups-a1","site":"hn"}"#, at(20, 9, 0), Some(at(20, 9, 12))),
        // Fired in October, resolved in November: October's incident, 20 minutes.
        ("ups_on_battery", r#"{"device":"ups-a1","site":"hn"}"#, at(31, 23, 50), Some(at(31, 23, 50) + 1200)),
        // While the collector was down (no data): not held against db1.
        ("agent_silent", r#"{"host":"db1","site":"hn"}"#, at(15, 2, 0), Some(at(15, 5, 0))),
    ];
    for (name, labels, start, end) in spans {
        let fp = format!("{name}{labels}");
        alarms
            .execute(
                "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES (?1, ?2, ?3, ?4, 'firing', ?5)",
                params![fp, name, labels, start * 1000, format!("{name} fired")],
            )
?;
        if let Some(e) = end {
            alarms
                .execute(
                    "INSERT INTO history (fingerprint, name, labels, at_ms, event, detail) VALUES (?1, ?2, ?3, ?4, 'resolved', '')",
                    params![fp, name, labels, e * 1000],
                )
?;
        }
    }
    Ok(())
}

/// An ordinary server: CPU and memory with a daily rhythm, two disks growing
/// at their own pace, one network interface.
fn ordinary(batch: &mut Vec<Observation>, host: &str, i: usize, minute: i64, t: i64) {
    fn with<'a>(host: &'a str, extra: Option<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
        let mut v = vec![("site", "hn"), ("host", host)];
        v.extend(extra);
        v
    }
    let tags = |extra| with(host, extra);
    let hour_of_day = (minute / 60) % 24;
    let busy = if (8..18).contains(&hour_of_day) { 1.0 } else { 0.3 };
    let wobble = ((minute * 7 + i as i64 * 13) % 17) as f64;
    batch.push(obs("dcwatch_agent", &tags(None), vec![("uptime_s", ObsValue::Num(minute as f64 * 60.0))], t));
    batch.push(obs(
        "host_cpu",
        &tags(Some(("cpu", "total"))),
        vec![("usage_pct", ObsValue::Num(5.0 + busy * (20.0 + wobble * 2.0) + (i % 7) as f64 * 5.0))],
        t,
    ));
    let total_mem = 64.0 * GIB;
    let used_mem = total_mem * (0.35 + 0.02 * wobble / 17.0 + (i % 5) as f64 * 0.1);
    batch.push(obs(
        "host_mem",
        &tags(None),
        vec![
            ("used_pct", ObsValue::Num(100.0 * used_mem / total_mem)),
            ("used_bytes", ObsValue::Num(used_mem)),
            ("total_bytes", ObsValue::Num(total_mem)),
        ],
        t,
    ));
    for (k, mount) in ["/", "/var"].iter().enumerate() {
        let total = if k == 0 { 100.0 * GIB } else { 500.0 * GIB };
        let used = total * (0.2 + (i % 10) as f64 * 0.05) + (i % 4 + k) as f64 * 0.2 * GIB * minute as f64 / 1440.0;
        batch.push(obs(
            "host_disk",
            &tags(Some(("mount", mount))),
            vec![
                ("used_pct", ObsValue::Num(100.0 * used / total)),
                ("used_bytes", ObsValue::Num(used)),
                ("total_bytes", ObsValue::Num(total)),
            ],
            t,
        ));
    }
    batch.push(obs(
        "host_net",
        &tags(Some(("iface", "eth0"))),
        vec![
            ("rx_bytes_per_s", ObsValue::Num(busy * 2.0e6 + wobble * 1.0e5)),
            ("tx_bytes_per_s", ObsValue::Num(busy * 5.0e5 + wobble * 3.0e4)),
        ],
        t,
    ));
}
