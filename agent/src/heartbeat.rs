//! The agent's own measurements: `dcwatch_agent`, proof of life for the
//! collector and the counters that show whether data is being lost, and,
//! with several outputs (`outputs:`), `dcwatch_agent_output`: each output's
//! lag, so the site that stays up sees the other's backlog grow.

use std::sync::atomic::Ordering;
use std::time::Instant;

use dcwatch_common::forward::Stats;
use dcwatch_common::lp::Point;
use dcwatch_common::schema::{f, m};

use crate::sources::SourceStats;

/// `lost` counts points that never reached the queue; `corrupt`, queue
/// records found damaged.
pub fn point(
    site: &str,
    host: &str,
    started: Instant,
    sources: &SourceStats,
    output: &Stats,
    (lost, corrupt): (u64, u64),
    ts: i64,
) -> Point {
    let errors = sources.errors_total.load(Ordering::Relaxed) + output.errors_total.load(Ordering::Relaxed) + corrupt;
    Point::new(m::AGENT, ts)
        .tag("site", site)
        .tag("host", host)
        .str("version", env!("CARGO_PKG_VERSION"))
        .u64("uptime_s", started.elapsed().as_secs())
        .u64("points", sources.points_total.load(Ordering::Relaxed))
        .u64("sent", output.sent_lines.load(Ordering::Relaxed))
        .u64(f::QUEUED, output.queued_lines.load(Ordering::Relaxed))
        .u64("dropped", output.dropped_lines.load(Ordering::Relaxed) + lost)
        .u64("errors", errors)
}

/// One output's lag: tag `output` (its name), the lines it has not had
/// acknowledged and the age of the oldest of them (0 when none waits).
pub fn output_point(site: &str, host: &str, output: &str, stats: &Stats, oldest_age_s: u64, ts: i64) -> Point {
    Point::new(m::AGENT_OUTPUT, ts)
        .tag("site", site)
        .tag("host", host)
        .tag("output", output)
        .u64(f::QUEUED, stats.queued_lines.load(Ordering::Relaxed))
        .u64(f::OLDEST_AGE_S, oldest_age_s)
        .u64("sent", stats.sent_lines.load(Ordering::Relaxed))
        .u64("dropped", stats.dropped_lines.load(Ordering::Relaxed))
        .u64("errors", stats.errors_total.load(Ordering::Relaxed))
}

/// Several outputs' counters as one, for `dcwatch_agent`: `queued` and
/// `dropped` are those of the output furthest behind (what the queue holds
/// for it, what it lost), `sent` and `errors` add up over the outputs.
pub fn combined(outputs: &[&Stats]) -> Stats {
    let c = Stats::default();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    for o in outputs {
        c.queued_lines.fetch_max(load(&o.queued_lines), Ordering::Relaxed);
        c.dropped_lines.fetch_max(load(&o.dropped_lines), Ordering::Relaxed);
        c.sent_lines.fetch_add(load(&o.sent_lines), Ordering::Relaxed);
        c.errors_total.fetch_add(load(&o.errors_total), Ordering::Relaxed);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(queued: u64, sent: u64, dropped: u64, errors: u64) -> Stats {
        let s = Stats::default();
        s.queued_lines.store(queued, Ordering::Relaxed);
        s.sent_lines.store(sent, Ordering::Relaxed);
        s.dropped_lines.store(dropped, Ordering::Relaxed);
        s.errors_total.store(errors, Ordering::Relaxed);
        s
    }

    #[test]
    fn each_output_reports_its_own_lag_under_its_name() {
        let mut buf = Vec::new();
        output_point("hn", "web01", "dr", &stats(120, 30, 2, 9), 118, 5).write_to(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "dcwatch_agent_output,site=hn,host=web01,output=dr queued=120i,oldest_age_s=118i,sent=30i,dropped=2i,errors=9i 5\n"
        );
    }

    #[test]
    fn two_outputs_count_as_the_one_furthest_behind_in_the_heartbeat() {
        let (a, b) = (stats(1, 300, 0, 1), stats(120, 180, 4, 60));
        let c = combined(&[&a, &b]);
        let load = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
        assert_eq!(
            (load(&c.queued_lines), load(&c.dropped_lines), load(&c.sent_lines), load(&c.errors_total)),
            (120, 4, 480, 61)
        );
    }

    #[test]
    fn heartbeat_adds_up_errors_and_losses_from_every_stage() {
        let sources = SourceStats::default();
        sources.errors_total.store(2, Ordering::Relaxed);
        sources.points_total.store(40, Ordering::Relaxed);
        let output = Stats::default();
        output.errors_total.store(3, Ordering::Relaxed);
        output.queued_lines.store(7, Ordering::Relaxed);
        output.sent_lines.store(30, Ordering::Relaxed);
        let mut buf = Vec::new();
        output.dropped_lines.store(4, Ordering::Relaxed);
        point("hn", "web01", Instant::now(), &sources, &output, (1, 2), 9).write_to(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            format!(
                "dcwatch_agent,site=hn,host=web01 version=\"{}\",uptime_s=0i,points=40i,sent=30i,queued=7i,dropped=5i,errors=7i 9\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
