//! Robust statistics shared by the alarms and the reports.

/// The median of pairwise slopes (Theil–Sen) of `(x, y)` points, with a
/// spread: the interquartile range of the slopes over the median.
pub fn theil_sen(pts: &[(f64, f64)]) -> Option<(f64, f64)> {
    let mut slopes = Vec::new();
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            let dx = pts[j].0 - pts[i].0;
            if dx > 0.0 {
                slopes.push((pts[j].1 - pts[i].1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let q = |f: f64| slopes[((slopes.len() - 1) as f64 * f).round() as usize];
    let med = q(0.5);
    let spread = if med.abs() > 0.0 { (q(0.75) - q(0.25)).abs() / med.abs() } else { f64::INFINITY };
    Some((med, spread))
}
