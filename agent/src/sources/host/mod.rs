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
use sysinfo::{CpuRefreshKind, DiskRefreshKind, MemoryRefreshKind, RefreshKind};

use self::config::HostConfig;

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

impl HostSource {
    pub fn new(config: HostConfig, site: &str, host: &str) -> Result<Self, String> {
        let sys = sysinfo::System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        )
        .map_err(|e| format!("cannot read system information: {e}"))?;
        Ok(HostSource {
            config,
            site: site.to_string(),
            host: host.to_string(),
            sys,
            disks: sysinfo::Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing())
                .map_err(|e| format!("cannot list filesystems: {e}"))?,
            cpu: cpu::Cpu::new(),
            net: net::Net::new().map_err(|e| format!("cannot list network interfaces: {e}"))?,
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
        if let Some(p) = self.cpu.collect(&self.sys, self.base("host_cpu", ts)) {
            out.push(p);
        }
        let mut errors = 0;
        match sysinfo::System::load_average() {
            Ok(l) => {
                out.push(self.base("host_load", ts).f64("load1", l.one).f64("load5", l.five).f64("load15", l.fifteen))
            }
            Err(_) => errors += 1,
        }
        out.push(memory::collect(&self.sys, self.base("host_mem", ts)));
        let mut system = self.base("host_system", ts).i64("cpus", self.sys.cpus().len() as i64);
        if let (Ok(up), Ok(boot)) = (sysinfo::System::uptime(), sysinfo::System::boot_time()) {
            system = system.u64("uptime_s", up).u64("boot_time_s", boot);
        }
        out.push(system);
        // Re-read the mount list each tick: a disk mounted later is picked up.
        self.disks.refresh_specifics(true, DiskRefreshKind::nothing());
        errors += disk::collect(&self.disks, &self.config.ignore_mounts, &self.base("host_disk", ts), &mut out);
        self.net.collect(&self.config.ignore_interfaces, &self.base("host_net", ts), &mut out);
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
                systemd::points(&self.config.systemd_units, &states, &self.base("host_service", ts), &mut out);
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
