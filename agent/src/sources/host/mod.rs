//! The host source: CPU, load, memory, filesystems, network interfaces,
//! uptime and systemd units of the machine the agent runs on.
//!
//! One `sysinfo::System` lives as long as the source and refreshes only CPU
//! usage and memory each tick; disks and interfaces have their own long-lived
//! lists. Measurement names and units are in docs/metrics.md.

pub mod config;
mod cpu;
mod disk;
mod memory;
mod net;
mod systemd;

use std::time::Duration;

use dcwatch_common::lp::Point;
use dcwatch_common::schema::m;
use sysinfo::{CpuRefreshKind, DiskRefreshKind, MemoryRefreshKind, RefreshKind};

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use self::config::HostConfig;
use crate::sources::{Agent, Context, Once, Queue, SourceError, SourceStats, emit};

pub struct HostSource {
    config: HostConfig,
    site: String,
    host: String,
    sys: sysinfo::System,
    disks: sysinfo::Disks,
    cpu: cpu::Cpu,
    net: net::Net,
    systemd_failing: bool,
}

/// Why the host source cannot start: the system information it reads
/// every interval cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read system information")]
    System(#[source] sysinfo::Error),
    #[error("cannot list filesystems")]
    Disks(#[source] sysinfo::Error),
    #[error("cannot list network interfaces")]
    Net(#[source] sysinfo::Error),
}

impl HostSource {
    pub fn new(config: HostConfig, site: &str, host: &str) -> Result<Self, HostError> {
        let sys = sysinfo::System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        )
        .map_err(HostError::System)?;
        Ok(HostSource {
            config,
            site: site.to_string(),
            host: host.to_string(),
            sys,
            disks: sysinfo::Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing())
                .map_err(HostError::Disks)?,
            cpu: cpu::Cpu::new(),
            net: net::Net::new().map_err(HostError::Net)?,
            systemd_failing: false,
        })
    }

    fn base(&self, measurement: &'static str, ts: i64) -> Point {
        Point::new(measurement, ts).tag("site", self.site.as_str()).tag("host", self.host.as_str())
    }

    /// Reads everything but the systemd units (blocking: /proc, statvfs).
    /// Returns the points and the number of errors met.
    pub fn collect_sync(&mut self, ts: i64) -> (Vec<Point>, u64) {
        let mut out = Vec::with_capacity(16);
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        if let Some(p) = self.cpu.collect(&self.sys, self.base(m::HOST_CPU, ts)) {
            out.push(p);
        }
        let mut errors = 0;
        match sysinfo::System::load_average() {
            Ok(l) => {
                out.push(self.base("host_load", ts).f64("load1", l.one).f64("load5", l.five).f64("load15", l.fifteen))
            }
            Err(_) => errors += 1,
        }
        out.push(memory::collect(&self.sys, self.base(m::HOST_MEM, ts)));
        let mut system = self.base("host_system", ts).i64("cpus", self.sys.cpus().len() as i64);
        if let (Ok(up), Ok(boot)) = (sysinfo::System::uptime(), sysinfo::System::boot_time()) {
            system = system.u64("uptime_s", up).u64("boot_time_s", boot);
        }
        out.push(system);
        // Re-read the mount list each tick: a disk mounted later is picked up.
        self.disks.refresh_specifics(true, DiskRefreshKind::nothing());
        errors += disk::collect(&self.disks, &self.config.ignore_mounts, &self.base(m::HOST_DISK, ts), &mut out);
        self.net.collect(&self.config.ignore_interfaces, &self.base(m::HOST_NET, ts), &mut out);
        (out, errors)
    }

    /// The units' states (async: runs systemctl). Logs a failure once until it recovers.
    pub async fn collect_units(&mut self, ts: i64) -> (Vec<Point>, u64) {
        let mut out = Vec::new();
        if self.config.systemd_units.is_empty() {
            return (out, 0);
        }
        match systemd::query(&self.config.systemd_units, Duration::from_secs(5)).await {
            Ok(states) => {
                if self.systemd_failing {
                    tracing::info!("systemd unit states readable again");
                    self.systemd_failing = false;
                }
                systemd::points(&self.config.systemd_units, &states, &self.base(m::HOST_SERVICE, ts), &mut out);
                (out, 0)
            }
            Err(e) => {
                if !self.systemd_failing {
                    tracing::warn!(error = %e, "cannot read systemd unit states; host_service is not reported until this clears");
                    self.systemd_failing = true;
                }
                (out, 1)
            }
        }
    }
}

impl crate::sources::Source for HostConfig {
    fn build(&self, at: &str, p: &mut Vec<dcwatch_common::config::Problem>) -> Option<Box<dyn crate::sources::Built>> {
        let before = p.len();
        config::validate(self, at, p);
        (p.len() == before).then(|| Box::new(self.clone()) as Box<dyn crate::sources::Built>)
    }
}

/// The host source has nothing to read from strings: its section is what runs.
impl crate::sources::Built for HostConfig {
    fn spawn(&self, ctx: &mut Context<'_>) -> Result<Vec<tokio::task::JoinHandle<()>>, SourceError> {
        let interval = Duration::from_secs(self.interval_secs.unwrap_or(ctx.agent.interval_secs));
        let src = HostSource::new(self.clone(), &ctx.agent.site, &ctx.agent.host)?;
        Ok(vec![tokio::spawn(run(src, interval, ctx.out.clone(), ctx.stats.clone(), ctx.shutdown.clone()))])
    }

    fn once<'a>(&'a self, agent: &'a Agent) -> Once<'a> {
        Box::pin(async move {
            let mut src = HostSource::new(self.clone(), &agent.site, &agent.host)?;
            // CPU usage and rates need two samples.
            let _ = src.collect_sync(dcwatch_common::now_ns());
            tokio::time::sleep(Duration::from_secs(1)).await;
            let ts = dcwatch_common::now_ns();
            let (mut points, _) = src.collect_sync(ts);
            points.extend(src.collect_units(ts).await.0);
            Ok(points)
        })
    }
}

/// The daemon's host source: collects on its interval until shutdown.
async fn run(
    mut src: HostSource,
    interval: Duration,
    out: Arc<Queue>,
    stats: Arc<SourceStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let ts = dcwatch_common::now_ns();
        // /proc and statvfs are blocking reads: keep them off the async threads.
        let joined = tokio::task::spawn_blocking(move || {
            let r = src.collect_sync(ts);
            (src, r)
        })
        .await;
        let (points, errors);
        (src, (points, errors)) = match joined {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "host source panicked; it stops");
                return;
            }
        };
        let (units, unit_errors) = src.collect_units(ts).await;
        stats.errors_total.fetch_add(errors + unit_errors, Ordering::Relaxed);
        emit(&points, &out, &stats);
        emit(&units, &out, &stats);
    }
}
