//! `dcwatch-collector bench-alarms` (hidden; scripts/bench alarms): the
//! alarm engine's evaluation cost on a synthetic load — `--series` series in
//! 50 measurements and `--rules` rules, each on one measurement's field,
//! with one series in 20 over its threshold (so alarms fire and stay firing).

use std::time::{Duration, Instant};

use crate::alarm::Engine;
use crate::alarm::config::AlarmsConfig;
use crate::model::{ObsValue, Observation};

fn cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

pub fn run(series: usize, rules: usize, secs: u64) -> u8 {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench-alarms: {e}");
            return 1;
        }
    };
    // Limits as high as the load: this measures evaluation, not the caps.
    let mut yaml = format!(
        "db: {}\nrepeat_interval_secs: 0\nlimits: {{max_series_per_token: {series}, max_alarms_per_site: {series}}}\nrules:\n",
        dir.path().join("alarms.db").display()
    );
    for r in 0..rules {
        yaml.push_str(&format!(
            "  - {{name: r{r}, measurement: m{}, field: f{}, above: 90, clear: 85, severity: warning, summary: \"{{host}} {{value}}\"}}\n",
            r % 50,
            r / 50
        ));
    }
    let cfg: AlarmsConfig = match dcwatch_common::config::parse(&yaml, std::path::Path::new("bench.yaml")) {
        Ok(c) => c,
        Err(p) => {
            eprintln!("bench-alarms: {p:?}");
            return 1;
        }
    };
    let engine = match Engine::open(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench-alarms: {e}");
            return 1;
        }
    };
    let fields = rules.div_ceil(50).max(1);
    let obs: Vec<Observation> = (0..series)
        .map(|i| Observation {
            measurement: format!("m{}", i % 50),
            tags: vec![("site".into(), "bench".into()), ("host".into(), format!("h{i}"))],
            fields: (0..fields)
                .map(|f| (format!("f{f}"), ObsValue::Num(if i % 20 == 0 { 95.0 } else { 50.0 })))
                .collect(),
            ts: 1,
        })
        .collect();
    let t = Instant::now();
    engine.observe("bench", obs);
    let observe_ms = t.elapsed().as_secs_f64() * 1000.0;
    // The first evaluation creates the firing alarms and writes them; time the steady state.
    let t = Instant::now();
    engine.evaluate();
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let firing = engine.alarms().len();
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        engine.evaluate();
        n += 1;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    println!(
        "series={series} rules={rules} firing={firing} observe_ms={observe_ms:.1} first_evaluation_ms={first_ms:.1} \
         evaluations={n} evaluations_per_s={:.2} ms_per_evaluation={:.2} cpu_s_per_evaluation={:.4}",
        n as f64 / wall,
        wall * 1000.0 / n as f64,
        cpu / n as f64
    );
    0
}
