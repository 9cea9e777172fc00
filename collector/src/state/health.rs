//! The collector's health, for its own alarms: a snapshot of what the
//! program runs (sinks, reports, rate limit, spool), copied out of the
//! running state each evaluation for the collector family
//! (`alarm::builtin::collector`) to judge.

use std::sync::Weak;
use std::sync::atomic::Ordering::Relaxed;

use super::AppState;
use crate::alarm;
use crate::alarm::builtin::collector::{self, Health, SinkHealth, SpoolHealth};
use crate::alarm::config::AlarmsConfig;

/// Seconds since a sink's last good write at `now_ns`, or since the
/// collector started when it has had none.
pub fn since_success_secs(app: &AppState, s: &dcwatch_common::forward::Stats, now_ns: i64) -> i64 {
    match s.last_success_ns.load(Relaxed) {
        0 => app.started.elapsed().as_secs() as i64,
        last => (now_ns - last) / 1_000_000_000,
    }
}

/// The collector's self-checks (`alarm::builtin::collector`), on a snapshot
/// of what the program runs: its sinks, reports, rate limit and spool.
pub fn self_checks(state: Weak<AppState>) -> alarm::SelfChecks {
    Box::new(move |cfg: &AlarmsConfig| {
        let Some(app) = state.upgrade() else { return Vec::new() };
        let live = app.live();
        let now = dcwatch_common::now_ns();
        // A relay to a peer that does not answer (or has only just answered
        // again) is `peer_unreachable`'s to tell, not `sink_down`'s.
        let now_ms = crate::alarm::now_ms();
        let relay_down = |name: &str| {
            name.strip_prefix(crate::peer::config::RELAY_PREFIX)
                .is_some_and(|peer| app.peering.as_ref().is_some_and(|p| p.relay_excused(peer, now_ms)))
        };
        let sinks = live
            .sinks
            .iter()
            .filter(|s| !relay_down(&s.name))
            .map(|s| SinkHealth {
                name: s.name.clone(),
                endpoint: s.endpoint.clone(),
                queued: s.stats.queued_lines.load(Relaxed),
                since_secs: since_success_secs(&app, &s.stats, now),
                last_error: s.stats.last_error.lock().expect("not poisoned").clone().unwrap_or_default(),
            })
            .collect();
        let spool = live.durable.as_ref().map(|d| {
            let max = d.spool.settings().max_bytes.max(1);
            let (lines, last_ns) = d.spool.dropped();
            SpoolHealth {
                used_pct: d.spool.total_bytes() as f64 * 100.0 / max as f64,
                dropped_lines: lines,
                dropped_recently: last_ns > 0 && now - last_ns < 3_600_000_000_000,
            }
        });
        let health = Health {
            sinks,
            report_failing: app.reports.failing.lock().expect("not poisoned").clone(),
            rate_limited: app.rate_limiter.recently_refused(std::time::Instant::now()),
            rate_points_per_sec: live.rate.points_per_sec,
            rate_window_secs: crate::ingest::rate::ALARM_WINDOW.as_secs(),
            spool,
            peers: app.peering.as_ref().map(|p| p.health(alarm::now_ms())).unwrap_or_default(),
        };
        collector::self_checks(cfg, &health)
    })
}
