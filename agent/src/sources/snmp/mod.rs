//! The SNMP source: one task per device polls it on its own interval with
//! its profile and writes the normalised points and a `device` point; the
//! trap receiver turns traps into event points at once and has the device
//! polled again straight away.

pub mod client;
pub mod config;
pub mod normalize;
pub mod profile;
mod senders;
pub mod trap;
pub mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_snmp::UdpTransport;
use dcwatch_common::lp::Point;
use dcwatch_common::schema::{f, m};
use tokio::sync::{Notify, watch};

use self::client::{Device, PollError};
use self::config::{Built, SnmpConfig, Target};
use self::profile::Profile;
use self::value::Values;
use super::{Queue, SourceStats, emit};

const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";

/// The built-in profiles plus those of `profiles_dir` (which replace a
/// built-in of the same name).
pub fn load_profiles(c: &SnmpConfig) -> Result<Vec<Profile>, crate::sources::profile_files::ProfileError> {
    crate::sources::profile_files::load(profile::BUILT_IN, c.profiles_dir.as_deref(), "SNMP", profile::load)
}

/// What one poll of a device gave.
pub struct PollResult {
    pub profile: Arc<Profile>,
    pub values: Values,
    pub sys_object_id: Option<String>,
}

/// Polls a device once: detects its profile (unless given or known), GETs
/// the scalars and walks the tables.
pub async fn poll(
    dev: &mut Device,
    profiles: &[Arc<Profile>],
    fixed: Option<&str>,
    known: &mut Option<Arc<Profile>>,
) -> Result<PollResult, PollError> {
    dev.begin_poll();
    let mut values = Values::new();
    let mut sys_object_id = None;
    let profile = match (fixed, known.as_ref()) {
        (Some(name), _) => profiles
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| PollError::Profile(format!("no profile named `{name}`")))?,
        (None, Some(p)) => p.clone(),
        (None, None) => {
            dev.get(&[SYS_OBJECT_ID.to_string()], &mut values).await?;
            let id = match values.get(SYS_OBJECT_ID) {
                Some(value::SnmpValue::Oid(o)) => o.clone(),
                _ => String::new(),
            };
            let found = profile::detect(profiles, &id).cloned().ok_or_else(|| {
                PollError::Profile(format!("no profile fits sysObjectID `{id}`; name one with `profile:`"))
            })?;
            sys_object_id = Some(id);
            *known = Some(found.clone());
            found
        }
    };
    let (oids, columns) = profile.requests();
    dev.get(&oids, &mut values).await?;
    if !columns.is_empty() {
        dev.walk(&columns, &mut values).await?;
    }
    Ok(PollResult { profile, values, sys_object_id })
}

/// Counts of one device's failures, by kind; written on its `device` point.
#[derive(Debug, Default)]
struct DeviceCounters {
    errors: BTreeMap<&'static str, u64>,
    implausible: u64,
}

/// A device the source polls, as the trap receiver sees it.
#[derive(Clone)]
pub struct Polled {
    pub name: String,
    /// `host:port`, as polled.
    pub target: String,
    pub repoll: Arc<Notify>,
}

/// Starts the device tasks and the trap receiver of one built `snmp` source.
pub fn spawn(
    b: &Built,
    site: &str,
    host: &str,
    out: &Arc<Queue>,
    stats: &Arc<SourceStats>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let mut polled = Vec::new();
    // One socket for every IPv4 device; it opens inside the runtime.
    let shared: Arc<tokio::sync::OnceCell<Option<UdpTransport>>> = Arc::new(tokio::sync::OnceCell::new());
    for t in &b.devices {
        let repoll = Arc::new(Notify::new());
        polled.push(Polled { name: t.spec.name.clone(), target: t.target.clone(), repoll: repoll.clone() });
        let job = DeviceJob {
            t: t.clone(),
            site: site.to_string(),
            host: host.to_string(),
            profiles: b.profiles.clone(),
            shared: shared.clone(),
            repoll,
        };
        tasks.push(tokio::spawn(run_device(job, out.clone(), stats.clone(), shutdown.clone())));
    }
    if let Some(t) = &b.traps {
        let setup = trap::Setup {
            traps: t.clone(),
            devices: polled,
            specs: trap::TrapSpecs::from_profiles(&b.profiles),
            site: site.to_string(),
            host: host.to_string(),
        };
        tasks.push(tokio::spawn(trap::run(setup, out.clone(), stats.clone(), shutdown.clone())));
    }
    tasks
}

struct DeviceJob {
    t: Target,
    site: String,
    host: String,
    profiles: Arc<Vec<Arc<Profile>>>,
    shared: Arc<tokio::sync::OnceCell<Option<UdpTransport>>>,
    repoll: Arc<Notify>,
}

async fn run_device(job: DeviceJob, out: Arc<Queue>, stats: Arc<SourceStats>, mut shutdown: watch::Receiver<bool>) {
    let name = job.t.spec.name.clone();
    let mut tick = tokio::time::interval(job.t.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dev: Option<Device> = None;
    let mut known: Option<Arc<Profile>> = None;
    let mut counters = DeviceCounters::default();
    let mut was_up: Option<bool> = None;
    let mut flagged: BTreeSet<String> = BTreeSet::new();
    let mut last_state: Option<String> = None;
    // The last profile that fit: the `device` point keeps its kind while the
    // device is down (detection starts again when it comes back).
    let mut last_profile: Option<Arc<Profile>> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
            _ = job.repoll.notified() => {
                tracing::debug!(device = %name, "polling at once after a trap");
                tick.reset();
            }
        }
        let started = Instant::now();
        let ts = dcwatch_common::now_ns();
        if dev.is_none() {
            let shared = job
                .shared
                .get_or_init(|| async {
                    UdpTransport::bind("0.0.0.0:0")
                        .await
                        .map_err(|e| tracing::warn!(error = %e, "cannot open the shared SNMP socket; each device opens its own"))
                        .ok()
                })
                .await;
            match Device::connect(&job.t, shared.as_ref()).await {
                Ok(d) => dev = Some(d),
                Err(e) => {
                    report_down(&name, &e, &mut was_up, &mut counters);
                    let p = device_point(&job, ts, false, started.elapsed(), &counters, None, None);
                    emit(&[p], &out, &stats);
                    continue;
                }
            }
        }
        let d = dev.as_mut().expect("connected above");
        let result = poll(d, &job.profiles, job.t.spec.profile.as_deref(), &mut known).await;
        let elapsed = started.elapsed();
        match result {
            Ok(r) => {
                if was_up != Some(true) {
                    tracing::info!(device = %name, profile = %r.profile.name, poll_ms = elapsed.as_millis() as u64, "device answers");
                }
                was_up = Some(true);
                last_profile = Some(r.profile.clone());
                let n = normalize::normalize(&r.profile, &r.values, &job.site, &name, ts);
                counters.implausible += n.flags.len() as u64;
                let now_flagged: BTreeSet<String> = n.flags.iter().map(|f| f.field.clone()).collect();
                for f in &n.flags {
                    if !flagged.contains(&f.field) {
                        tracing::warn!(
                            device = %name, field = %f.field, oid = %f.at, value = f.value,
                            plausible = ?f.range, "implausible value left out (check the profile's scale)"
                        );
                    }
                }
                flagged = now_flagged;
                let mut points = n.points;
                super::tag_host(&mut points, &job.host);
                points.push(device_point(
                    &job,
                    ts,
                    true,
                    elapsed,
                    &counters,
                    Some(&r.profile),
                    Some(d.max_repetitions),
                ));
                let state = crate::sources::power_state(&points);
                if last_state.as_ref().is_some_and(|l| *l != state) {
                    out.spool.request_flush();
                }
                last_state = Some(state);
                emit(&points, &out, &stats);
            }
            Err(e) => {
                stats.errors_total.fetch_add(1, Ordering::Relaxed);
                report_down(&name, &e, &mut was_up, &mut counters);
                // Detect again when it comes back: it may have been replaced.
                if job.t.spec.profile.is_none() && e.kind() == "timeout" {
                    known = None;
                }
                let p =
                    device_point(&job, ts, false, elapsed, &counters, last_profile.as_ref(), Some(d.max_repetitions));
                emit(&[p], &out, &stats);
            }
        }
    }
}

fn report_down(name: &str, e: &PollError, was_up: &mut Option<bool>, counters: &mut DeviceCounters) {
    *counters.errors.entry(e.kind()).or_default() += 1;
    if *was_up != Some(false) {
        tracing::warn!(device = %name, kind = e.kind(), error = %e, "device does not answer; marked down");
    }
    *was_up = Some(false);
}

fn device_point(
    job: &DeviceJob,
    ts: i64,
    up: bool,
    elapsed: Duration,
    c: &DeviceCounters,
    profile: Option<&Arc<Profile>>,
    max_rep: Option<u32>,
) -> Point {
    let kind =
        job.t.spec.kind.clone().or_else(|| profile.map(|p| p.kind().to_string())).unwrap_or_else(|| "snmp".into());
    let total: u64 = c.errors.values().sum();
    let mut p = Point::new(m::DEVICE, ts)
        .tag("site", job.site.as_str())
        .tag("host", job.host.as_str())
        .tag("device", job.t.spec.name.as_str())
        .tag("kind", kind)
        .tag("protocol", "snmp")
        .bool(f::UP, up)
        .f64("poll_ms", (elapsed.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)
        .u64("errors_total", total);
    for k in ["timeout", "auth", "protocol", "network", "profile"] {
        p = p.u64(format!("errors_{k}_total"), c.errors.get(k).copied().unwrap_or(0));
    }
    p = p.u64("implausible_total", c.implausible);
    if let Some(pr) = profile {
        p = p.str("profile", pr.name.clone());
    }
    if let Some(m) = max_rep {
        p = p.u64("max_repetitions", u64::from(m));
    }
    p
}

/// Polls one device of a built source once (`dcwatch-agent probe snmp`,
/// and each device of `once`).
pub async fn probe(
    b: &Built,
    t: &Target,
    site: &str,
    shared: Option<&UdpTransport>,
) -> Result<(PollResult, normalize::Normalized, u32), PollError> {
    let mut dev = Device::connect(t, shared).await?;
    let mut known = None;
    let r = poll(&mut dev, &b.profiles, t.spec.profile.as_deref(), &mut known).await?;
    let n = normalize::normalize(&r.profile, &r.values, site, &t.spec.name, dcwatch_common::now_ns());
    Ok((r, n, dev.max_repetitions))
}

/// Polls every device of a source once, all at the same time over one
/// socket (`dcwatch-agent once`): the points, and an error per device that failed.
pub async fn once(
    b: &Built,
    site: &str,
    host: &str,
) -> Result<(Vec<Point>, Vec<(String, PollError)>), crate::sources::SourceError> {
    let b = Arc::new(b.clone());
    let shared = Arc::new(UdpTransport::bind("0.0.0.0:0").await.map_err(crate::sources::SourceError::Socket)?);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..b.devices.len() {
        let (b, site, shared) = (b.clone(), site.to_string(), shared.clone());
        set.spawn(async move {
            let t = &b.devices[i];
            let r = probe(&b, t, &site, Some(&shared)).await;
            (t.spec.name.clone(), r)
        });
    }
    let mut points = Vec::new();
    let mut errors = Vec::new();
    while let Some(j) = set.join_next().await {
        match j {
            Ok((_, Ok((_, mut n, _)))) => {
                super::tag_host(&mut n.points, host);
                points.extend(n.points)
            }
            Ok((name, Err(e))) => errors.push((name, e)),
            Err(e) => return Err(crate::sources::SourceError::Task(e)),
        }
    }
    Ok((points, errors))
}

impl crate::sources::Source for SnmpConfig {
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
                eprintln!("{name}: {e} ({})", e.kind());
            }
            Ok(points)
        })
    }
}
