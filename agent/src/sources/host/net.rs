//! Network interfaces: byte rates, counters, errors (sysinfo) and drops
//! (`/sys/class/net/*/statistics`, which sysinfo does not expose).

use std::time::Instant;

use dcwatch_common::lp::Point;

/// Whether `name` matches a pattern: exact, or a prefix ending in `*`.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn sys_counter(iface: &str, name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/{name}")).ok()?.trim().parse().ok()
}

pub struct Net {
    networks: sysinfo::Networks,
    last: Instant,
    primed: bool,
}

impl Net {
    pub fn new() -> Result<Self, sysinfo::Error> {
        Ok(Net { networks: sysinfo::Networks::new_with_refreshed_list()?, last: Instant::now(), primed: false })
    }

    pub fn collect(&mut self, ignore: &[String], base: &Point, out: &mut Vec<Point>) {
        self.networks.refresh(true);
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        let with_rates = self.primed && secs > 0.0;
        self.primed = true;
        let mut names: Vec<_> = self.networks.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (name, data) in names {
            let name = name.to_string_lossy();
            let name = name.as_ref();
            if ignore.iter().any(|p| matches(p, name)) {
                continue;
            }
            let mut p = base
                .clone()
                .tag("iface", name)
                .u64("rx_bytes_total", data.total_received())
                .u64("tx_bytes_total", data.total_transmitted())
                .u64("rx_packets_total", data.total_packets_received())
                .u64("tx_packets_total", data.total_packets_transmitted())
                .u64("rx_errors_total", data.total_errors_on_received())
                .u64("tx_errors_total", data.total_errors_on_transmitted());
            if let Some(v) = sys_counter(name, "rx_dropped") {
                p = p.u64("rx_drops_total", v);
            }
            if let Some(v) = sys_counter(name, "tx_dropped") {
                p = p.u64("tx_drops_total", v);
            }
            if with_rates {
                p = p
                    .f64("rx_bytes_per_s", data.received() as f64 / secs)
                    .f64("tx_bytes_per_s", data.transmitted() as f64 / secs);
            }
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly_or_by_prefix_star() {
        assert!(matches("lo", "lo"));
        assert!(!matches("lo", "lo0"));
        assert!(matches("veth*", "veth12ab"));
        assert!(!matches("veth*", "eth0"));
    }
}
