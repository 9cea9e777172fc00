//! The Modbus source: each device (a unit id on a connection) is polled by
//! its own task with its register-map profile; devices behind one gateway or
//! on one RS-485 bus share a connection and take turns on it. A poll reads
//! the fewest blocks (`plan`), decodes them (`decode`, `normalize`), adds
//! the feed a meter measures with its `live` state, and writes a `device`
//! point.

pub mod config;
pub mod conn;
pub mod decode;
pub mod normalize;
pub mod plan;
pub mod profile;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dcwatch_common::lp::{OwnedValue, Point};
use dcwatch_common::schema::{f, m};
use tokio::sync::{Mutex, watch};
use tokio_modbus::ExceptionCode;

use self::config::{Built, ModbusConfig, ModbusDevice, ModbusTransport, Target};
use self::conn::{Conn, Endpoint, ReadError};
use self::normalize::Image;
use self::plan::Learned;
use self::profile::Profile;
use super::normal::Normalized;
use super::{Queue, SourceStats, emit};

/// A protocol address as manuals and profiles write it, and in decimal:
/// `0x5000 (20480)`.
pub fn address(a: u16) -> String {
    format!("0x{a:04X} ({a})")
}

/// Addresses `a` to `b` as [`address`] writes one: `0x5000–0x5003 (20480–20483)`.
pub fn address_range(a: u16, b: u16) -> String {
    if a == b { address(a) } else { format!("0x{a:04X}–0x{b:04X} ({a}–{b})") }
}

/// The built-in profiles plus those of `profiles_dir` (a local profile with
/// a built-in's name replaces it).
pub fn load_profiles(
    dir: Option<&std::path::Path>,
) -> Result<Vec<Profile>, crate::sources::profile_files::ProfileError> {
    crate::sources::profile_files::load(profile::BUILT_IN, dir, "Modbus", profile::load)
}

/// The connection a device is reached through.
pub fn endpoint(d: &ModbusDevice) -> Result<Endpoint, String> {
    let addr = |a: &Option<String>| -> Result<String, String> {
        let a =
            a.as_deref().filter(|a| !a.trim().is_empty()).ok_or("address: needs host:port (port 502 unless given)")?;
        Ok(if a.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !a.ends_with(']') {
            a.to_string()
        } else {
            format!("{a}:502")
        })
    };
    Ok(match d.transport {
        ModbusTransport::Tcp => Endpoint::Tcp(addr(&d.address)?),
        ModbusTransport::RtuOverTcp => Endpoint::RtuOverTcp(addr(&d.address)?),
        ModbusTransport::Rtu => Endpoint::Rtu {
            port: d
                .port
                .clone()
                .filter(|p| !p.trim().is_empty())
                .ok_or("port: rtu needs a serial port, e.g. /dev/ttyUSB0")?,
            baud_rate: d.baud_rate,
            parity: d.parity,
            stop_bits: d.stop_bits,
        },
    })
}

fn same_connection(a: &Endpoint, b: &Endpoint) -> bool {
    match (a, b) {
        (Endpoint::Tcp(x), Endpoint::Tcp(y)) | (Endpoint::RtuOverTcp(x), Endpoint::RtuOverTcp(y)) => x == y,
        (Endpoint::Rtu { port: x, .. }, Endpoint::Rtu { port: y, .. }) => x == y,
        _ => false,
    }
}

/// A feed's live state with hysteresis.
#[derive(Debug, Clone, Copy)]
pub struct Hysteresis {
    pub above: f64,
    pub below: f64,
    pub state: Option<bool>,
}

impl Hysteresis {
    /// A device's feed thresholds, state not yet known.
    pub fn of(d: &ModbusDevice) -> Hysteresis {
        Hysteresis { above: d.live_above_v, below: d.dead_below_v, state: None }
    }

    /// Live once the voltage reaches `above`; dead once it falls below
    /// `below`; in between, as it was (at start: dead until `above`).
    pub fn update(&mut self, volts: f64) -> bool {
        let live = match self.state {
            _ if volts >= self.above => true,
            _ if volts < self.below => false,
            Some(s) => s,
            None => false,
        };
        self.state = Some(live);
        live
    }
}

fn field_f64(p: &Point, name: &str) -> Option<f64> {
    p.fields.iter().find(|(k, _)| k == name).and_then(|(_, v)| match v {
        OwnedValue::F64(x) => Some(*x),
        OwnedValue::I64(x) => Some(*x as f64),
        _ => None,
    })
}

/// Binds a device's points to its feed: tag `feed` on `power_feed` and
/// `power_feed_phase`; the feed's `voltage_v` is its lowest phase (a lost
/// phase is a lost feed) and `current_a` its highest; `live` follows the
/// voltage with hysteresis. A UPS bound to a feed gives a `power_feed` point
/// from its input voltage and frequency.
pub fn bind_feed(points: &mut Vec<Point>, feed: &str, site: &str, device: &str, ts: i64, h: &mut Hysteresis) {
    let mut phase_v: Vec<f64> = Vec::new();
    let mut phase_a: Vec<f64> = Vec::new();
    for p in points.iter_mut() {
        if p.measurement == "power_feed" || p.measurement == "power_feed_phase" {
            p.tags.insert(2, ("feed".into(), feed.to_string()));
        }
        if p.measurement == "power_feed_phase" {
            phase_v.extend(field_f64(p, "voltage_v"));
            phase_a.extend(field_f64(p, "current_a"));
        }
    }
    if !points.iter().any(|p| p.measurement == m::POWER_FEED) {
        let ups = points.iter().find(|p| p.measurement == m::UPS);
        let (v, hz) =
            (ups.and_then(|u| field_f64(u, "input_voltage_v")), ups.and_then(|u| field_f64(u, "input_frequency_hz")));
        if v.is_none() && phase_v.is_empty() {
            return;
        }
        let mut p = Point::new(m::POWER_FEED, ts).tag("site", site).tag("device", device).tag("feed", feed);
        if let Some(v) = v {
            p = p.f64("voltage_v", v);
        }
        if let Some(hz) = hz {
            p = p.f64("frequency_hz", hz);
        }
        points.insert(0, p);
    }
    let feed_point = points.iter_mut().find(|p| p.measurement == m::POWER_FEED).expect("inserted above");
    if field_f64(feed_point, "voltage_v").is_none()
        && let Some(min) = phase_v.iter().copied().reduce(f64::min)
    {
        feed_point.fields.insert(0, ("voltage_v".into(), OwnedValue::F64(min)));
    }
    if field_f64(feed_point, "current_a").is_none()
        && let Some(max) = phase_a.iter().copied().reduce(f64::max)
    {
        feed_point.fields.insert(1.min(feed_point.fields.len()), ("current_a".into(), OwnedValue::F64(max)));
    }
    if let Some(v) = field_f64(feed_point, "voltage_v") {
        let live = h.update(v);
        feed_point.fields.insert(0, ("live".into(), OwnedValue::Bool(live)));
    }
}

/// The connection of `ep`: the one already open to that address or port, or a new one.
fn shared_conn(conns: &mut Vec<(Endpoint, Arc<Mutex<Conn>>)>, ep: Endpoint) -> Arc<Mutex<Conn>> {
    if let Some((_, c)) = conns.iter().find(|(e, _)| same_connection(e, &ep)) {
        return c.clone();
    }
    let c = Arc::new(Mutex::new(Conn::new(ep.clone())));
    conns.push((ep, c.clone()));
    c
}

/// Where a poll's points come from: the site, the agent's host (tag `host`,
/// after `site`; None for `probe`, whose points no agent sends).
pub struct Origin<'a> {
    pub site: &'a str,
    pub host: Option<&'a str>,
}

/// A poll's points: the profile's, bound to the device's feed if it has one.
pub fn read_points(
    profile: &Profile,
    o: &PollOutcome,
    from: &Origin,
    d: &ModbusDevice,
    ts: i64,
    h: &mut Hysteresis,
) -> Normalized {
    let mut n = normalize::normalize(profile, &o.image, from.site, &d.name, ts);
    if let Some(feed) = &d.feed {
        bind_feed(&mut n.points, feed, from.site, &d.name, ts, h);
    }
    if let Some(host) = from.host {
        super::tag_host(&mut n.points, host);
    }
    n
}

/// What one poll gave.
pub struct PollOutcome {
    pub image: Image,
    pub requests: u32,
    /// The device answered at least one request (data or an exception).
    pub answered: bool,
    pub errors: Vec<ReadError>,
}

/// Polls a device once: plans the reads, sends them one by one on its
/// connection, splits a refused merged read and remembers it.
pub async fn poll(
    conn: &Mutex<Conn>,
    unit: u8,
    profile: &Profile,
    max_gap: Option<u16>,
    timeout: Duration,
    learned: &mut Learned,
) -> PollOutcome {
    let ranges = plan::ranges(profile.fields());
    let mut queue: VecDeque<plan::Read> =
        plan::plan_for(&ranges, max_gap.is_some(), max_gap.unwrap_or(0), learned).into();
    let max_gap = max_gap.unwrap_or(0);
    let mut out = PollOutcome { image: Image::default(), requests: 0, answered: false, errors: Vec::new() };
    while let Some(read) = queue.pop_front() {
        out.requests += 1;
        let r = conn.lock().await.read(unit, &read, timeout).await;
        match r {
            Ok(words) => {
                out.answered = true;
                out.image.insert(read.function, read.start, &words);
            }
            Err(ReadError::Exception(ExceptionCode::IllegalDataAddress)) => {
                out.answered = true;
                let inside: Vec<plan::Read> = ranges
                    .iter()
                    .filter(|x| x.function == read.function && x.start >= read.start && x.end() <= read.end())
                    .copied()
                    .collect();
                if plan::refused(&read, &ranges, learned) {
                    tracing::info!(
                        function = read.function.name(),
                        start = %address(read.start),
                        count = read.count,
                        "the device refused a merged read (exception 02): splitting it, and remembering"
                    );
                    for r in plan::plan(&inside, max_gap, learned).into_iter().rev() {
                        queue.push_front(r);
                    }
                } else {
                    out.errors.push(ReadError::Exception(ExceptionCode::IllegalDataAddress));
                    tracing::warn!(
                        function = read.function.name(),
                        address = %address(read.start),
                        count = read.count,
                        "the device does not have these registers (exception 02): they are left out from now on"
                    );
                }
            }
            Err(e @ ReadError::Exception(_)) => {
                out.answered = true;
                out.errors.push(e);
            }
            Err(e) => {
                // Silent or unreachable: the rest of this poll would only wait too.
                out.errors.push(e);
                break;
            }
        }
    }
    out
}

/// Counts of one device's failures, written on its `device` point.
#[derive(Debug, Default)]
struct Counters {
    errors: BTreeMap<String, u64>,
    implausible: u64,
}

struct Job {
    t: Target,
    conn: Arc<Mutex<Conn>>,
    max_gap: u16,
    site: String,
    host: String,
}

/// Starts one task per device of a built source; devices on one connection share it.
pub fn spawn(
    b: &Built,
    site: &str,
    host: &str,
    out: &Arc<Queue>,
    stats: &Arc<SourceStats>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut conns: Vec<(Endpoint, Arc<Mutex<Conn>>)> = Vec::new();
    let mut tasks = Vec::new();
    for t in &b.devices {
        let conn = shared_conn(&mut conns, t.endpoint.clone());
        let job = Job { t: t.clone(), conn, max_gap: b.max_gap, site: site.to_string(), host: host.to_string() };
        tasks.push(tokio::spawn(run_device(job, out.clone(), stats.clone(), shutdown.clone())));
    }
    tasks
}

async fn run_device(job: Job, out: Arc<Queue>, stats: Arc<SourceStats>, mut shutdown: watch::Receiver<bool>) {
    let name = job.t.spec.name.clone();
    let mut tick = tokio::time::interval(job.t.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut learned = Learned::default();
    let mut counters = Counters::default();
    let mut was_up: Option<bool> = None;
    let mut flagged: BTreeSet<String> = BTreeSet::new();
    let mut last_state: Option<String> = None;
    let mut hysteresis = Hysteresis::of(&job.t.spec);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let started = Instant::now();
        let ts = dcwatch_common::now_ns();
        let gap = job.t.spec.merge_reads.then_some(job.max_gap);
        let o = poll(&job.conn, job.t.spec.unit, &job.t.profile, gap, job.t.timeout, &mut learned).await;
        let elapsed = started.elapsed();
        for e in &o.errors {
            let key = match e {
                ReadError::Exception(code) => format!("exception_{}", conn::exception_name(*code)),
                other => other.kind().to_string(),
            };
            *counters.errors.entry(key).or_default() += 1;
        }
        if !o.errors.is_empty() {
            stats.errors_total.fetch_add(o.errors.len() as u64, Ordering::Relaxed);
        }
        let up = o.answered;
        if was_up != Some(up) {
            match (up, o.errors.first()) {
                (true, _) => {
                    tracing::info!(device = %name, profile = %job.t.profile.name, requests = o.requests, "device answers")
                }
                (false, Some(e)) => {
                    tracing::warn!(device = %name, kind = e.kind(), error = %e, "device does not answer; marked down")
                }
                (false, None) => {}
            }
        }
        was_up = Some(up);
        let mut points = Vec::new();
        if up {
            let from = Origin { site: &job.site, host: Some(&job.host) };
            let n = read_points(&job.t.profile, &o, &from, &job.t.spec, ts, &mut hysteresis);
            counters.implausible += n.flags.len() as u64;
            let now: BTreeSet<String> = n.flags.iter().map(|f| f.field.clone()).collect();
            for f in n.flags.iter().filter(|f| !flagged.contains(&f.field)) {
                tracing::warn!(
                    device = %name, field = %f.field, register = %f.at, value = f.value, plausible = ?f.range,
                    "implausible value left out (check the profile's type, order and scale)"
                );
            }
            flagged = now;
            points = n.points;
        }
        points.push(device_point(&job, ts, up, elapsed, o.requests, &counters));
        let state = crate::sources::power_state(&points);
        if last_state.as_ref().is_some_and(|l| *l != state) {
            out.spool.request_flush();
        }
        last_state = Some(state);
        emit(&points, &out, &stats);
    }
}

fn device_point(job: &Job, ts: i64, up: bool, elapsed: Duration, requests: u32, c: &Counters) -> Point {
    let kind = job.t.spec.kind.clone().unwrap_or_else(|| job.t.profile.kind().to_string());
    let total: u64 = c.errors.values().sum();
    let mut p = Point::new(m::DEVICE, ts)
        .tag("site", job.site.as_str())
        .tag("host", job.host.as_str())
        .tag("device", job.t.spec.name.as_str())
        .tag("kind", kind)
        .tag("protocol", "modbus")
        .bool(f::UP, up)
        .f64("poll_ms", (elapsed.as_secs_f64() * 10_000.0).round() / 10.0)
        .u64("requests", u64::from(requests))
        .u64("errors_total", total);
    for k in ["timeout", "connect", "transport"] {
        p = p.u64(format!("errors_{k}_total"), c.errors.get(k).copied().unwrap_or(0));
    }
    let exceptions: u64 = c.errors.iter().filter(|(k, _)| k.starts_with("exception_")).map(|(_, v)| v).sum();
    p = p.u64("errors_exception_total", exceptions);
    for (k, v) in c.errors.iter().filter(|(k, _)| k.starts_with("exception_")) {
        p = p.u64(format!("errors_{k}_total"), *v);
    }
    p.u64("implausible_total", c.implausible).str("profile", job.t.profile.name.clone())
}

/// Reads every device of a built source once, at the same time (`dcwatch-agent once`).
pub async fn once(
    b: &Built,
    site: &str,
    host: &str,
) -> Result<(Vec<Point>, Vec<(String, String)>), crate::sources::SourceError> {
    let mut conns: Vec<(Endpoint, Arc<Mutex<Conn>>)> = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for t in b.devices.clone() {
        let conn = shared_conn(&mut conns, t.endpoint.clone());
        let (gap, site, host) = (b.max_gap, site.to_string(), host.to_string());
        set.spawn(async move {
            let d = &t.spec;
            let mut learned = Learned::default();
            let o = poll(&conn, d.unit, &t.profile, d.merge_reads.then_some(gap), t.timeout, &mut learned).await;
            let ts = dcwatch_common::now_ns();
            let mut h = Hysteresis::of(d);
            let from = Origin { site: &site, host: Some(&host) };
            let points = read_points(&t.profile, &o, &from, d, ts, &mut h).points;
            let err = (!o.answered).then(|| o.errors.first().map_or("no answer".to_string(), |e| e.to_string()));
            (t.spec.name, points, err)
        });
    }
    let mut points = Vec::new();
    let mut errors = Vec::new();
    while let Some(j) = set.join_next().await {
        let (name, p, err) = j.map_err(crate::sources::SourceError::Task)?;
        points.extend(p);
        if let Some(e) = err {
            errors.push((name, e));
        }
    }
    Ok((points, errors))
}

impl crate::sources::Source for ModbusConfig {
    fn build(&self, at: &str, p: &mut Vec<dcwatch_common::config::Problem>) -> Option<Box<dyn crate::sources::Built>> {
        config::build(self, at, p).map(|b| Box::new(b) as Box<dyn crate::sources::Built>)
    }
}

impl crate::sources::Built for Built {
    fn spawn(
        &self,
        ctx: &mut crate::sources::Context<'_>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, crate::sources::SourceError> {
        Ok(spawn(self, &ctx.agent.site, &ctx.agent.host, ctx.out, ctx.stats, ctx.shutdown))
    }

    fn once<'a>(&'a self, agent: &'a crate::sources::Agent) -> crate::sources::Once<'a> {
        Box::pin(async move {
            let (points, errors) = once(self, &agent.site, &agent.host).await?;
            for (name, e) in errors {
                eprintln!("{name}: {e}");
            }
            Ok(points)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flickering_voltage_does_not_flap_the_feed() {
        let mut h = Hysteresis { above: 190.0, below: 150.0, state: None };
        let seq = [230.0, 170.0, 160.0, 149.0, 170.0, 185.0, 190.0, 151.0];
        let states: Vec<bool> = seq.iter().map(|v| h.update(*v)).collect();
        assert_eq!(states, [true, true, true, false, false, false, true, true]);
        let mut h = Hysteresis { above: 190.0, below: 150.0, state: None };
        assert!(!h.update(170.0), "at start, in between is not live");
    }

    #[test]
    fn a_three_phase_meter_feed_is_its_lowest_phase() {
        let mut pts = vec![
            Point::new("power_feed", 7).tag("site", "hn").tag("device", "m").f64("power_w", 2000.0),
            Point::new("power_feed_phase", 7)
                .tag("site", "hn")
                .tag("device", "m")
                .tag("phase", "1")
                .f64("voltage_v", 231.0)
                .f64("current_a", 5.0),
            Point::new("power_feed_phase", 7)
                .tag("site", "hn")
                .tag("device", "m")
                .tag("phase", "2")
                .f64("voltage_v", 0.0)
                .f64("current_a", 0.0),
        ];
        let mut h = Hysteresis { above: 190.0, below: 150.0, state: Some(true) };
        bind_feed(&mut pts, "A", "hn", "m", 7, &mut h);
        use crate::sources::normal::line;
        assert_eq!(
            line(&pts[0]),
            "power_feed,site=hn,device=m,feed=A live=false,voltage_v=0,current_a=5,power_w=2000 7"
        );
        assert_eq!(line(&pts[1]), "power_feed_phase,site=hn,device=m,feed=A,phase=1 voltage_v=231,current_a=5 7");
    }

    #[test]
    fn every_point_of_a_poll_carries_the_agents_host_after_the_site() {
        // Regression: Modbus points had no `host` tag, though every point has one.
        let profiles = load_profiles(None).unwrap();
        let meter = profiles.iter().find(|p| p.name == "meter-3phase").unwrap();
        let mut image = Image::default();
        image.insert(profile::Function::Holding, 0, &[2315, 2302, 2298, 1250, 1175, 1310]);
        image.insert(profile::Function::Holding, 12, &[0, 8400, 5002, 0, 0x0001, 0x86A0]);
        let o = PollOutcome { image, requests: 1, answered: true, errors: Vec::new() };
        let d: ModbusDevice =
            serde_saphyr::from_str("{name: m, address: 10.0.0.5, profile: meter-3phase, feed: A}").unwrap();
        let mut h = Hysteresis::of(&d);
        let from = Origin { site: "hn", host: Some("mon1") };
        let n = read_points(meter, &o, &from, &d, 7, &mut h);
        assert_eq!(
            crate::sources::normal::lines(&n),
            [
                "power_feed,site=hn,host=mon1,device=m,feed=A live=true,voltage_v=229.8,current_a=13.1,power_w=8400,\
                 frequency_hz=50.02,energy_kwh=1000 7",
                "power_feed_phase,site=hn,host=mon1,device=m,feed=A,phase=1 voltage_v=231.5,current_a=12.5 7",
                "power_feed_phase,site=hn,host=mon1,device=m,feed=A,phase=2 voltage_v=230.2,current_a=11.75 7",
                "power_feed_phase,site=hn,host=mon1,device=m,feed=A,phase=3 voltage_v=229.8,current_a=13.1 7",
            ]
        );
        // `probe` sends nothing: no host.
        let n = read_points(meter, &o, &Origin { site: "probe", host: None }, &d, 7, &mut h);
        assert!(crate::sources::normal::lines(&n)[0].starts_with("power_feed,site=probe,device=m,feed=A "));
    }

    #[test]
    fn a_ups_bound_to_a_feed_reports_its_input() {
        let mut pts = vec![Point::new("ups", 7).tag("site", "hn").tag("device", "u").f64("input_voltage_v", 229.5)];
        let mut h = Hysteresis { above: 190.0, below: 150.0, state: None };
        bind_feed(&mut pts, "B", "hn", "u", 7, &mut h);
        assert_eq!(pts[0].measurement, "power_feed");
        assert_eq!(pts[0].tags[2], ("feed".into(), "B".to_string()));
        assert_eq!(pts[0].fields[0], ("live".into(), OwnedValue::Bool(true)));
    }
}
