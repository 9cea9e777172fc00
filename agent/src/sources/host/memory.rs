//! Memory and swap, from sysinfo (which reads `/proc/meminfo`).

use dcwatch_common::lp::Point;

pub fn collect(sys: &sysinfo::System, point: Point) -> Point {
    let total = sys.total_memory();
    let available = sys.available_memory();
    let used = total.saturating_sub(available);
    let swap_total = sys.total_swap();
    let swap_used = sys.used_swap();
    point
        .u64("total_bytes", total)
        .u64("available_bytes", available)
        .u64("used_bytes", used)
        .u64("free_bytes", sys.free_memory())
        .f64("used_pct", pct(used, total))
        .u64("swap_total_bytes", swap_total)
        .u64("swap_used_bytes", swap_used)
        .f64("swap_used_pct", pct(swap_used, swap_total))
}

/// `part` as a percentage of `whole`; 0 when there is no whole (no swap).
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}
