//! CPU usage (sysinfo) and its breakdown into iowait and steal (`/proc/stat`,
//! which sysinfo does not expose). Both are deltas between ticks, so the first
//! tick yields nothing.

use dcwatch_common::lp::Point;

/// The aggregate `cpu` line of `/proc/stat`, in jiffies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTimes {
    fn total(&self) -> u64 {
        // guest and guest_nice are already counted in user and nice.
        self.user + self.nice + self.system + self.idle + self.iowait + self.irq + self.softirq + self.steal
    }
}

/// Parses the first (`cpu `) line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0)).collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 4 {
        return None;
    }
    Some(CpuTimes {
        user: get(0),
        nice: get(1),
        system: get(2),
        idle: get(3),
        iowait: get(4),
        irq: get(5),
        softirq: get(6),
        steal: get(7),
    })
}

/// Percentages of the interval between two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breakdown {
    pub user_pct: f64,
    pub system_pct: f64,
    pub iowait_pct: f64,
    pub steal_pct: f64,
}

pub fn breakdown(prev: &CpuTimes, cur: &CpuTimes) -> Option<Breakdown> {
    let total = cur.total().checked_sub(prev.total())?;
    if total == 0 {
        return None;
    }
    let pct = |a: u64, b: u64| 100.0 * a.saturating_sub(b) as f64 / total as f64;
    Some(Breakdown {
        user_pct: pct(cur.user + cur.nice, prev.user + prev.nice),
        system_pct: pct(cur.system + cur.irq + cur.softirq, prev.system + prev.irq + prev.softirq),
        iowait_pct: pct(cur.iowait, prev.iowait),
        steal_pct: pct(cur.steal, prev.steal),
    })
}

pub struct Cpu {
    prev: Option<CpuTimes>,
    primed: bool,
}

impl Cpu {
    pub fn new() -> Self {
        Cpu { prev: std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(parse_proc_stat), primed: false }
    }

    /// `usage_pct` comes from sysinfo, refreshed by the caller.
    pub fn collect(&mut self, sys: &sysinfo::System, point: Point) -> Option<Point> {
        let cur = std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(parse_proc_stat);
        let split = match (&self.prev, &cur) {
            (Some(p), Some(c)) => breakdown(p, c),
            _ => None,
        };
        self.prev = cur;
        // sysinfo's first usage figure covers an unknown span: discard it.
        if !self.primed {
            self.primed = true;
            return None;
        }
        let mut p = point.tag("cpu", "total").f64("usage_pct", f64::from(sys.global_cpu_usage()));
        if let Some(b) = split {
            p = p
                .f64("user_pct", b.user_pct)
                .f64("system_pct", b.system_pct)
                .f64("iowait_pct", b.iowait_pct)
                .f64("steal_pct", b.steal_pct);
        }
        Some(p.i64("cores", sys.cpus().len() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_aggregate_line_is_parsed() {
        let text = "cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 50 2 25 500 10 1 1 5 0 0\nintr 1\n";
        assert_eq!(
            parse_proc_stat(text),
            Some(CpuTimes { user: 100, nice: 5, system: 50, idle: 1000, iowait: 20, irq: 3, softirq: 2, steal: 10 })
        );
    }

    #[test]
    fn breakdown_is_the_share_of_each_kind_of_time_in_the_interval() {
        let prev = CpuTimes { user: 100, idle: 800, ..Default::default() };
        let cur = CpuTimes { user: 130, system: 10, idle: 850, iowait: 5, steal: 5, ..Default::default() };
        // 100 jiffies passed: 30 user, 10 system, 50 idle, 5 iowait, 5 steal.
        assert_eq!(
            breakdown(&prev, &cur),
            Some(Breakdown { user_pct: 30.0, system_pct: 10.0, iowait_pct: 5.0, steal_pct: 5.0 })
        );
    }

    #[test]
    fn no_breakdown_when_no_time_passed_or_counters_went_back() {
        let a = CpuTimes { user: 10, ..Default::default() };
        assert_eq!(breakdown(&a, &a), None);
        assert_eq!(breakdown(&a, &CpuTimes::default()), None);
    }
}
