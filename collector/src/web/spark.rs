//! Sparklines of the last 24 hours, drawn on the server as inline SVG
//! (the page's CSP allows inline `<svg>` elements; no script draws them):
//! the hourly averages of the trend store as a polyline on a 0–100 %
//! scale, broken where hours are missing, with a `<title>` that says the
//! range in words.

use std::collections::HashMap;

use maud::{Markup, html};
use rusqlite::Connection;

use crate::trends::{self, TrendsError};

/// The hours a sparkline spans.
pub const HOURS: i64 = 24;
const WIDTH: f64 = 96.0;
const HEIGHT: f64 = 24.0;

/// One series' last [`HOURS`] hours: (hour number, average), oldest first,
/// and the lowest and highest sample of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Spark {
    pub hours: Vec<(i64, f64)>,
    pub min: f64,
    pub max: f64,
}

/// Each host's (site, host) sparkline of one field.
pub type Sparks = HashMap<(String, String), Spark>;

/// The hours of `measurement`'s `field` (a host-wide series) in the
/// [`HOURS`] hours ending with `to_hour` (its hour included), per host.
pub fn read(
    conn: &Connection,
    measurement: &str,
    field: &str,
    site: Option<&str>,
    to_hour: i64,
) -> Result<Sparks, TrendsError> {
    let rows = trends::read(conn, measurement, field, site, to_hour - HOURS + 1, to_hour + 1, trends::By::Hour)?;
    let mut out = Sparks::new();
    for (k, hours) in rows.into_iter().filter(|(k, _)| k.key.is_empty()) {
        let points: Vec<(i64, f64)> = hours.iter().filter_map(|(h, a)| a.avg().map(|x| (*h, x))).collect();
        if points.is_empty() {
            continue;
        }
        let min = hours.iter().filter(|(_, a)| a.n > 0).map(|(_, a)| a.min).fold(f64::INFINITY, f64::min);
        let max = hours.iter().filter(|(_, a)| a.n > 0).map(|(_, a)| a.max).fold(f64::NEG_INFINITY, f64::max);
        out.insert((k.site, k.host), Spark { hours: points, min, max });
    }
    Ok(out)
}

/// The polylines' points (`x,y x,y`), one string per run of hours with no
/// hour missing; `to_hour` is the last hour drawn, at the right edge.
pub fn runs(s: &Spark, to_hour: i64) -> Vec<String> {
    let from = to_hour - HOURS + 1;
    let x = |h: i64| (h - from) as f64 * WIDTH / (HOURS - 1) as f64;
    // 1 px of room at the top and bottom, so 0 % and 100 % stay visible.
    let y = |v: f64| HEIGHT - 1.0 - v.clamp(0.0, 100.0) / 100.0 * (HEIGHT - 2.0);
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut prev: Option<i64> = None;
    for &(h, v) in s.hours.iter().filter(|(h, _)| (from..=to_hour).contains(h)) {
        if prev != Some(h - 1) || out.is_empty() {
            out.push(Vec::new());
        }
        out.last_mut().expect("pushed").push(format!("{:.1},{:.1}", x(h), y(v)));
        prev = Some(h);
    }
    out.into_iter().map(|p| p.join(" ")).collect()
}

/// The sparkline, titled `title` (what it shows and its range, in words);
/// a run of one hour is drawn as a dot.
pub fn svg(s: &Spark, to_hour: i64, title: &str) -> Markup {
    html! {
        svg.spark xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 24" width="96" height="24" role="img" aria-label=(title) {
            title { (title) }
            @for run in runs(s, to_hour) {
                @if let Some((x, y)) = run.split_once(',').filter(|_| !run.contains(' ')) {
                    circle cx=(x) cy=(y) r="1.5" {}
                } @else {
                    polyline points=(run) {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_is_a_polyline_per_run_of_hours_on_a_percent_scale() {
        let s = Spark {
            hours: vec![(100, 0.0), (101, 50.0), (102, 100.0), (110, 25.0), (123, 75.0)],
            min: 0.0,
            max: 100.0,
        };
        // The 24 hours 100..=123: x from 0 to 96, y from 23 (0 %) to 1 (100 %).
        assert_eq!(runs(&s, 123), ["0.0,23.0 4.2,12.0 8.3,1.0", "41.7,17.5", "96.0,6.5"]);
        let html = svg(&s, 123, "CPU <24 h>").into_string();
        assert_eq!(
            html,
            "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 96 24\" width=\"96\" height=\"24\" \
             role=\"img\" aria-label=\"CPU &lt;24 h&gt;\"><title>CPU &lt;24 h&gt;</title>\
             <polyline points=\"0.0,23.0 4.2,12.0 8.3,1.0\"></polyline>\
             <circle cx=\"41.7\" cy=\"17.5\" r=\"1.5\"></circle><circle cx=\"96.0\" cy=\"6.5\" r=\"1.5\"></circle></svg>"
        );
        // Hours older than the span are not drawn.
        assert_eq!(runs(&s, 130), ["12.5,17.5", "66.8,6.5"]);
    }
}
