//! The host family: a silent agent, an agent that dropped points, a full
//! disk and one that will be full soon.

use std::time::Instant;

use dcwatch_common::schema::{f, m};

use super::{Ctx, Def, cond, fmt_num, labels};
use crate::alarm::conditions::{Beat, Cond};
use crate::alarm::config::BuiltinConfig;
use crate::alarm::config::Severity::{Critical, Warning};
use crate::i18n::alarms::{self as words, Texts};

pub const DEFS: &[Def] = &[
    Def {
        name: "agent_silent",
        severity: Critical,
        reads: &[m::AGENT],
        explained_by: &["power_lost", "ups_on_battery", "site_down"],
        uncapped: false,
    },
    Def { name: "disk_full", severity: Warning, reads: &[m::HOST_DISK], explained_by: &[], uncapped: false },
    Def { name: "disk_full_forecast", severity: Warning, reads: &[m::HOST_DISK], explained_by: &[], uncapped: false },
    Def { name: "agent_dropped_data", severity: Warning, reads: &[m::AGENT], explained_by: &[], uncapped: false },
];

impl Beat {
    /// Seconds since its last heartbeat arrived.
    pub fn quiet_secs(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.received).as_secs_f64()
    }

    /// Whether the agent is silent: no heartbeat for `agent_silent_intervals`
    /// of its interval (as seen, else the configured one).
    pub fn silent(&self, b: &BuiltinConfig, now: Instant) -> bool {
        let interval = self.interval_secs.unwrap_or(b.agent_interval_secs as f64);
        self.quiet_secs(now) > interval * f64::from(b.agent_silent_intervals)
    }
}

pub fn conditions(ctx: &Ctx, out: &mut Vec<Cond>) {
    agents(ctx, out);
    disks(ctx, out);
}

fn agents(ctx: &Ctx, out: &mut Vec<Cond>) {
    for ((site, host), b) in &ctx.latest.agents {
        let l = labels(&[("site", site), ("host", host)]);
        if ctx.on("agent_silent") {
            let quiet = b.quiet_secs(ctx.now) as u64;
            let summary = Texts::new(|l| words::agent_silent(l, host, site, quiet));
            out.push(cond(
                "agent_silent",
                l.clone(),
                summary,
                Some(quiet.to_string()),
                b.silent(&ctx.cfg.builtin, ctx.now),
            ));
        }
        if ctx.on("agent_dropped_data")
            && let Some(grew) = b.dropped_grew
        {
            // Active for an hour after the agent last lost points.
            let recent = ctx.now.saturating_duration_since(grew).as_secs() < 3600;
            let summary = Texts::new(|l| words::agent_dropped_data(l, host, site, b.dropped));
            out.push(cond("agent_dropped_data", l, summary, b.dropped.map(fmt_num), recent));
        }
    }
}

fn disks(ctx: &Ctx, out: &mut Vec<Cond>) {
    let b = &ctx.cfg.builtin;
    if ctx.on("disk_full") {
        for s in ctx.latest.series.values().filter(|s| s.measurement == m::HOST_DISK) {
            let Some(p) = s.num(f::USED_PCT) else { continue };
            let (site, host, mount) = (s.tag("site"), s.tag("host"), s.tag("mount"));
            let l = labels(&[("site", site), ("host", host), ("mount", mount)]);
            let active = p > b.disk_used_pct || (ctx.was("disk_full", &l) && p > b.disk_clear_pct);
            let summary = Texts::new(|l| words::disk_full(l, mount, host, site, p));
            out.push(cond("disk_full", l, summary, Some(fmt_num(p)), active));
        }
    }
    if ctx.on("disk_full_forecast") {
        for (key, h) in &ctx.latest.disk_history {
            let Some(s) = ctx.latest.series.get(key) else { continue };
            let Some(days) = days_to_full(h) else { continue };
            let (site, host, mount) = (s.tag("site"), s.tag("host"), s.tag("mount"));
            let l = labels(&[("site", site), ("host", host), ("mount", mount)]);
            let limit = b.disk_forecast_days;
            let active = days < limit || (ctx.was("disk_full_forecast", &l) && days < limit * 1.5);
            let summary = Texts::new(|l| words::disk_full_forecast(l, mount, host, site, days));
            out.push(cond("disk_full_forecast", l, summary, Some(format!("{days:.1}")), active));
        }
    }
}

/// Days until a filesystem is full at its growth rate over the last six
/// hours ([`growth_per_day`]). None without enough history, or when it is
/// not growing.
pub fn days_to_full(h: &std::collections::VecDeque<(i64, f64, f64)>) -> Option<f64> {
    let last = h.back()?;
    let per_day = growth_per_day(h)?;
    if per_day <= 0.0 {
        return None;
    }
    Some(((last.2 - last.1).max(0.0)) / per_day)
}

/// A filesystem's growth in bytes a day over the last six hours: the
/// median of the slopes between samples (Theil–Sen), so a burst (a one-off
/// dump) or a gap in the data does not decide it. None without at least 30
/// minutes and 10 samples of history.
pub fn growth_per_day(h: &std::collections::VecDeque<(i64, f64, f64)>) -> Option<f64> {
    let last = h.back()?;
    let recent: Vec<&(i64, f64, f64)> = h.iter().filter(|(t, _, _)| last.0 - t <= 6 * 3_600_000_000_000).collect();
    if recent.len() < 10 || last.0 - recent[0].0 < 30 * 60_000_000_000 {
        return None;
    }
    // At most 60 samples, evenly spread: 1770 slopes.
    let step = recent.len().div_ceil(60);
    let first = recent[0].0;
    let pts: Vec<(f64, f64)> =
        recent.iter().step_by(step).map(|(t, used, _)| ((t - first) as f64 / 86_400e9, *used)).collect();
    crate::stats::theil_sen(&pts).map(|(per_day, _)| per_day)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::test_support::{cfg, obs, row, run};
    use crate::model::ObsValue::Num;

    fn beat(dropped: f64) -> crate::model::Observation {
        obs("dcwatch_agent", &[("site", "hn"), ("host", "web1")], &[("dropped", Num(dropped))])
    }

    #[test]
    fn an_agent_is_silent_after_its_intervals() {
        // Interval 10 s, silent after 3 of them.
        let c = cfg("builtin: {agent_interval_secs: 10, agent_silent_intervals: 3}\n");
        let l = "host=web1,site=hn";
        let table = [(20, "20", false), (30, "30", false), (31, "31", true)];
        for (after, quiet, silent) in table {
            let start = Instant::now();
            let latest = super::super::test_support::state(&[beat(0.0)], start);
            let b = latest.agents.values().next().unwrap();
            let now = start + Duration::from_secs(after);
            assert_eq!(b.silent(&c.builtin, now), silent, "{after}");
            let never = |_: &str, _: &std::collections::BTreeMap<String, String>| false;
            let ctx = super::Ctx { cfg: &c, latest: &latest, now, now_s: 0, previously_active: &never };
            let mut out = Vec::new();
            super::conditions(&ctx, &mut out);
            assert_eq!(
                super::super::test_support::rows(&out),
                [row("agent_silent", l, "critical", Some(quiet), silent)]
            );
        }
    }

    #[test]
    fn disks_over_their_threshold_are_full() {
        let c = cfg("builtin: {disk_used_pct: 90, disk_clear_pct: 85}\n");
        let tags = [("site", "hn"), ("host", "db1"), ("mount", "/var")];
        let l = "host=db1,mount=/var,site=hn";
        let table = [(95.0, Some("95"), true), (87.5, Some("87.5"), false), (10.0, Some("10"), false)];
        for (pct, value, active) in table {
            let p = obs("host_disk", &tags, &[("used_pct", Num(pct))]);
            assert_eq!(
                run(super::conditions, &c, &[p], Instant::now(), 0),
                [row("disk_full", l, "warning", value, active)]
            );
        }
    }
}
