use super::*;

fn obs(m: &str, tags: &[(&str, &str)], fields: &[(&str, ObsValue)], ts_s: i64) -> Observation {
    Observation {
        measurement: m.into(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        ts: ts_s * 1_000_000_000,
    }
}

const H: i64 = 3600;
const T0: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z

fn open(dir: &std::path::Path) -> Trends {
    Trends::open(TrendsConfig { db: dir.join("trends.db"), retention_days: 730, flush_secs: 60 }).unwrap()
}

#[test]
fn an_hour_keeps_count_min_max_sum_and_a_p95_and_late_points_land_in_their_own_hour() {
    let d = tempfile::tempdir().unwrap();
    let t = open(d.path());
    let cpu = |v: f64, ts: i64| {
        obs("host_cpu", &[("site", "hn"), ("host", "web1"), ("cpu", "total")], &[("usage_pct", ObsValue::Num(v))], ts)
    };
    // 360 samples in the first hour: 1 … 100 %, cycling; the p95 of 1..=100 repeated is 95.
    let first: Vec<Observation> = (0..360).map(|i| cpu(f64::from(i % 100 + 1), T0 + i64::from(i) * 10)).collect();
    t.observe(&first);
    // Per-core points are not kept.
    t.observe(&[obs(
        "host_cpu",
        &[("site", "hn"), ("host", "web1"), ("cpu", "cpu0")],
        &[("usage_pct", ObsValue::Num(1.0))],
        T0,
    )]);
    t.flush(T0 * 1_000_000_000).unwrap();
    // The next hour, then a late point for the first (a replayed queue).
    t.observe(&[cpu(50.0, T0 + H + 5), cpu(200.0, T0 + 100)]);
    t.flush((T0 + H) * 1_000_000_000).unwrap();
    let got = read(&t.conn(), "host_cpu", "usage_pct", Some("hn"), T0 / H, T0 / H + 2, By::Hour).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.host, "web1");
    let hours = &got[0].1;
    assert_eq!(hours.len(), 2);
    let first = &hours[0].1;
    assert_eq!((hours[0].0, first.n, first.min, first.max), (T0 / H, 361, 1.0, 200.0));
    // 1..=100 three times, 1..=60 once, plus 200.
    let sum: f64 = (0..360).map(|i| f64::from(i % 100 + 1)).sum::<f64>() + 200.0;
    assert_eq!(first.sum, sum);
    let p95 = first.sketch.as_ref().unwrap().quantile(0.95).unwrap();
    assert!((p95 - 95.0).abs() / 95.0 <= 0.01, "{p95}");
    assert_eq!((hours[1].1.n, hours[1].1.avg()), (1, Some(50.0)));
}

#[test]
fn booleans_backup_outcomes_and_heartbeats() {
    let d = tempfile::tempdir().unwrap();
    let t = open(d.path());
    let ups = |b: bool, ts: i64| {
        obs("ups", &[("site", "hn"), ("device", "ups-a1")], &[("on_battery", ObsValue::Bool(b))], ts)
    };
    // 30 of 60 one-minute samples on battery: half the hour.
    let pts: Vec<Observation> = (0..60).map(|i| ups(i >= 30, T0 + i * 60)).collect();
    t.observe(&pts);
    let backup = |status: &str, ts: i64| {
        obs(
            "backup",
            &[("site", "hn"), ("host", "nas1"), ("job", "db")],
            &[("status", ObsValue::Str(status.into()))],
            ts,
        )
    };
    t.observe(&[backup("ok", T0), backup("failed", T0 + 60), backup("running", T0 + 120)]);
    let beat = obs("dcwatch_agent", &[("site", "hn"), ("host", "web1")], &[("uptime_s", ObsValue::Num(9.0))], T0);
    t.observe(&[beat.clone(), beat]);
    t.flush(T0 * 1_000_000_000).unwrap();
    let on = read(&t.conn(), "ups", "on_battery", None, 0, i64::MAX, By::Hour).unwrap();
    assert_eq!(on[0].0.key, "device=ups-a1");
    assert_eq!(on[0].1[0].1.avg(), Some(0.5));
    let ok = read(&t.conn(), "backup", "ok", None, 0, i64::MAX, By::Hour).unwrap();
    assert_eq!((ok[0].1[0].1.n, ok[0].1[0].1.sum), (2, 1.0), "running is not an outcome");
    let beats = read(&t.conn(), "dcwatch_agent", "beat", Some("hn"), 0, i64::MAX, By::Hour).unwrap();
    assert_eq!(beats[0].1[0].1.n, 2);
}

#[test]
fn hours_past_retention_are_deleted() {
    let d = tempfile::tempdir().unwrap();
    let t = Trends::open(TrendsConfig { db: d.path().join("t.db"), retention_days: 1, flush_secs: 60 }).unwrap();
    let mem = |ts: i64| obs("host_mem", &[("site", "hn"), ("host", "a")], &[("used_pct", ObsValue::Num(40.0))], ts);
    t.observe(&[mem(T0), mem(T0 + 30 * H)]);
    t.flush((T0 + 30 * H) * 1_000_000_000).unwrap();
    let left = read(&t.conn(), "host_mem", "used_pct", None, 0, i64::MAX, By::Hour).unwrap();
    assert_eq!(left[0].1.iter().map(|(h, _)| *h).collect::<Vec<_>>(), vec![T0 / H + 30]);
}

#[test]
fn infinite_values_are_left_out_and_the_flush_still_works() {
    let d = tempfile::tempdir().unwrap();
    let t = open(d.path());
    let mem = |v: f64| obs("host_mem", &[("site", "hn"), ("host", "a")], &[("used_pct", ObsValue::Num(v))], T0);
    t.observe(&[mem(f64::INFINITY), mem(f64::NEG_INFINITY), mem(f64::NAN), mem(40.0)]);
    t.flush(T0 * 1_000_000_000).unwrap();
    let got = read(&t.conn(), "host_mem", "used_pct", None, 0, i64::MAX, By::Hour).unwrap();
    assert_eq!((got[0].1[0].1.n, got[0].1[0].1.sum), (1, 40.0));
}

#[test]
fn an_hour_keeps_its_first_and_last_sample_time_across_flushes() {
    let d = tempfile::tempdir().unwrap();
    let t = open(d.path());
    let ups = |on: bool, ts: i64| {
        obs("ups", &[("site", "hn"), ("device", "ups1")], &[("on_battery", ObsValue::Bool(on))], ts)
    };
    t.observe(&[ups(false, T0 + 600), ups(true, T0 + 602)]);
    t.flush(T0 * 1_000_000_000).unwrap();
    // A later flush, and a point replayed late that is older than both.
    t.observe(&[ups(true, T0 + 690), ups(false, T0 + 500)]);
    t.flush((T0 + 700) * 1_000_000_000).unwrap();
    let got = read(&t.conn(), "ups", "on_battery", None, T0 / H, T0 / H + 1, By::Hour).unwrap();
    let a = &got[0].1[0].1;
    assert_eq!((a.n, a.first_s, a.last_s), (4, Some(T0 + 500), Some(T0 + 690)));
    // 4 samples over 190 s: one every 63⅓ s, standing for 253⅓ s.
    assert_eq!(a.observed_secs(0.0), 190.0 + 190.0 / 3.0);
}

#[test]
fn a_database_from_before_sample_times_gets_the_columns_and_keeps_its_hours() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("trends.db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE series (id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, field TEXT NOT NULL, \
             site TEXT NOT NULL, host TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (measurement, field, site, host, key));
             CREATE TABLE hourly (series INTEGER NOT NULL, hour INTEGER NOT NULL, n INTEGER NOT NULL, \
             min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, sketch BLOB, PRIMARY KEY (series, hour)) WITHOUT ROWID;
             INSERT INTO series VALUES (1, 'ups', 'on_battery', 'hn', '', 'device=ups1');",
        )
        .unwrap();
        c.execute("INSERT INTO hourly VALUES (1, ?1, 60, 0, 1, 30, NULL)", params![T0 / H]).unwrap();
    }
    let t = open(d.path());
    let got = read(&t.conn(), "ups", "on_battery", None, T0 / H, T0 / H + 1, By::Hour).unwrap();
    let a = &got[0].1[0].1;
    assert_eq!((a.n, a.sum, a.first_s, a.last_s), (60, 30.0, None, None));
    assert_eq!(first_hour(&t.conn(), "ups", "hn").unwrap(), Some(T0 / H));
    assert_eq!(newest_sample(&t.conn(), None, T0 / H, T0 / H + 1).unwrap(), Some(T0 + 3599));
}

#[test]
fn the_first_hour_of_any_series_and_the_sites_are_what_the_reports_page_lists_from() {
    let d = tempfile::tempdir().unwrap();
    let t = open(d.path());
    assert_eq!(first_hour_any(&t.conn(), None).unwrap(), None);
    let beat = |site: &str, ts: i64| {
        obs("dcwatch_agent", &[("site", site), ("host", "h1")], &[("beat", ObsValue::Num(1.0))], ts)
    };
    t.observe(&[beat("hn", T0 + 5 * H), beat("hcm", T0 + 2 * H + 10)]);
    t.flush((T0 + 6 * H) * 1_000_000_000).unwrap();
    t.observe(&[beat("hn", T0 + 30 * H)]);
    t.flush((T0 + 31 * H) * 1_000_000_000).unwrap();
    assert_eq!(first_hour_any(&t.conn(), None).unwrap(), Some(T0 / H + 2));
    assert_eq!(first_hour_any(&t.conn(), Some("hn")).unwrap(), Some(T0 / H + 5));
    assert_eq!(first_hour_any(&t.conn(), Some("dn")).unwrap(), None);
    assert_eq!(sites(&t.conn()).unwrap(), ["hcm", "hn"]);
}
