//! The agent's own measurement, `dcwatch_agent`: proof of life for the
//! collector, and the counters that show whether data is being lost.

use std::sync::atomic::Ordering;
use std::time::Instant;

use dcwatch_common::forward::Stats;
use dcwatch_common::lp::Point;
use dcwatch_common::schema::m;

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
        .u64("queued", output.queued_lines.load(Ordering::Relaxed))
        .u64("dropped", output.dropped_lines.load(Ordering::Relaxed) + lost)
        .u64("errors", errors)
}

#[cfg(test)]
mod tests {
    use super::*;

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
