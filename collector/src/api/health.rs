//! `/health`'s verdict: `pass`; `warn` while a sink has points it cannot
//! deliver; `fail`, answered with HTTP 503, once something named in
//! `api.health.fail_on` is past its threshold — for a load balancer's
//! health check or keepalived's `vrrp_script`, which take a collector out
//! of service on a failing answer. Without `fail_on` the answer is always
//! 200, as before `fail_on` existed.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

use crate::state::{AppState, Live};

/// `api.health`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// What makes `/health` fail (HTTP 503). Defaults to nothing.
    #[serde(default)]
    pub fail_on: FailOn,
}

/// `api.health.fail_on`: each threshold set is checked; none set, `/health`
/// never fails.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailOn {
    /// A sink with points waiting has written nothing for this many s (since
    /// the collector started, if it never has). Defaults to unchecked.
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub sink_down_secs: Option<u64>,
    /// The spool is fuller than this percentage of `spool.max_bytes`.
    /// Defaults to unchecked.
    #[serde(default)]
    pub spool_used_pct: Option<f64>,
    /// The alarm evaluation has not completed for this many s (stuck, or
    /// unable to write `alarms.db`); needs `alarms:`. Defaults to unchecked.
    #[serde(default, deserialize_with = "duration::opt_secs")]
    pub alarms_stalled_secs: Option<u64>,
}

impl HealthConfig {
    /// The thresholds' problems; `alarms` is `alarms:` when on.
    pub fn check(&self, alarms: Option<&crate::alarm::config::AlarmsConfig>, p: &mut Vec<Problem>) {
        let f = &self.fail_on;
        let at = "api.health.fail_on";
        if f.sink_down_secs == Some(0) {
            p.push(Problem::general(format!("{at}.sink_down_secs: must be at least 1")));
        }
        if let Some(pct) = f.spool_used_pct
            && !(pct > 0.0 && pct <= 100.0)
        {
            p.push(Problem::general(format!("{at}.spool_used_pct: must be above 0 and at most 100, found {pct}")));
        }
        match (f.alarms_stalled_secs, alarms) {
            (None, _) => {}
            (Some(_), None) => p.push(Problem::general(format!(
                "{at}.alarms_stalled_secs: alarms are not configured (alarms:), so nothing is evaluated"
            ))),
            (Some(s), Some(a)) => {
                let least = (2 * a.evaluate_every_ms).div_ceil(1000).max(1);
                if s < least {
                    p.push(Problem::general(format!(
                        "{at}.alarms_stalled_secs: must be at least {least} (twice alarms.evaluate_every_ms), \
                         or an evaluation on time would fail /health"
                    )));
                }
            }
        }
    }
}

/// One sink, as the verdict sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkSeen {
    pub queued: u64,
    /// Seconds since its last good write (since the start without one).
    pub since_secs: i64,
    /// Its last write failed.
    pub failing: bool,
}

/// What the verdict reads, copied out of the running state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub sinks: Vec<SinkSeen>,
    /// With a spool: how full it is.
    pub spool_used_pct: Option<f64>,
    /// Seconds since the last completed alarm evaluation (None: alarms off).
    pub evaluated_ago_secs: Option<u64>,
}

impl Observed {
    pub fn of(app: &AppState, live: &Live, now_ns: i64) -> Observed {
        // A relay to the peer says nothing of this collector's health: a
        // load balancer must not move away from it because the other site
        // is down.
        let sinks = live
            .sinks
            .iter()
            .filter(|s| !s.name.starts_with(crate::peer::config::RELAY_PREFIX))
            .map(|s| SinkSeen {
                queued: s.stats.queued_lines.load(Relaxed),
                since_secs: crate::state::health::since_success_secs(app, &s.stats, now_ns),
                failing: s.stats.last_error.lock().expect("not poisoned").is_some(),
            })
            .collect();
        let spool_used_pct = live
            .durable
            .as_ref()
            .map(|d| d.spool.total_bytes() as f64 * 100.0 / d.spool.settings().max_bytes.max(1) as f64);
        let evaluated_ago_secs = app.alarms.as_ref().map(|e| e.evaluated_ago(Instant::now()).as_secs());
        Observed { sinks, spool_used_pct, evaluated_ago_secs }
    }
}

/// `/health`'s answer: its status and the `fail_on` keys past their thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: &'static str,
    pub failing: Vec<&'static str>,
}

/// The verdict on `o` with the thresholds `f`.
pub fn judge(f: &FailOn, o: &Observed) -> Verdict {
    let mut failing = Vec::new();
    if let Some(limit) = f.sink_down_secs
        && o.sinks.iter().any(|s| s.queued > 0 && s.since_secs > limit as i64)
    {
        failing.push("sink_down_secs");
    }
    if let (Some(limit), Some(used)) = (f.spool_used_pct, o.spool_used_pct)
        && used > limit
    {
        failing.push("spool_used_pct");
    }
    if let (Some(limit), Some(ago)) = (f.alarms_stalled_secs, o.evaluated_ago_secs)
        && ago > limit
    {
        failing.push("alarms_stalled_secs");
    }
    let stuck = o.sinks.iter().any(|s| s.queued > 0 && s.failing);
    let status = match (failing.is_empty(), stuck) {
        (false, _) => "fail",
        (true, true) => "warn",
        (true, false) => "pass",
    };
    Verdict { status, failing }
}

impl Verdict {
    pub fn of(app: &AppState, live: &Live, now_ns: i64) -> Verdict {
        judge(&live.health.fail_on, &Observed::of(app, live, now_ns))
    }

    /// 503 when failing, else 200.
    pub fn code(&self) -> StatusCode {
        if self.failing.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
    }

    /// The answer: `body` with `status` (and `failing` when something fails).
    pub fn respond(&self, mut body: serde_json::Value) -> Response {
        body["status"] = self.status.into();
        if !self.failing.is_empty() {
            body["failing"] = serde_json::json!(self.failing);
        }
        (self.code(), axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(queued: u64, since_secs: i64, failing: bool) -> SinkSeen {
        SinkSeen { queued, since_secs, failing }
    }

    /// (status, the keys failing, HTTP code).
    type Want = (&'static str, Vec<&'static str>, u16);

    #[test]
    fn the_health_decision_table() {
        let all = FailOn { sink_down_secs: Some(300), spool_used_pct: Some(90.0), alarms_stalled_secs: Some(60) };
        let well =
            Observed { sinks: vec![sink(0, 900, false)], spool_used_pct: Some(10.0), evaluated_ago_secs: Some(1) };
        // (thresholds, what is seen) → (status, failing, HTTP code).
        let table: Vec<(FailOn, Observed, Want)> = vec![
            (FailOn::default(), well.clone(), ("pass", vec![], 200)),
            // As before fail_on: a stuck sink warns, and nothing fails.
            (
                FailOn::default(),
                Observed {
                    sinks: vec![sink(5, 9000, true)],
                    spool_used_pct: Some(100.0),
                    evaluated_ago_secs: Some(900),
                },
                ("warn", vec![], 200),
            ),
            (all.clone(), well.clone(), ("pass", vec![], 200)),
            (all.clone(), Observed { sinks: vec![sink(5, 300, true)], ..well.clone() }, ("warn", vec![], 200)),
            (
                all.clone(),
                Observed { sinks: vec![sink(5, 301, true)], ..well.clone() },
                ("fail", vec!["sink_down_secs"], 503),
            ),
            // Nothing waits for it: a sink that wrote nothing for long is idle, not down.
            (all.clone(), Observed { sinks: vec![sink(0, 9000, true)], ..well.clone() }, ("pass", vec![], 200)),
            (all.clone(), Observed { spool_used_pct: Some(90.0), ..well.clone() }, ("pass", vec![], 200)),
            (
                all.clone(),
                Observed { spool_used_pct: Some(90.5), ..well.clone() },
                ("fail", vec!["spool_used_pct"], 503),
            ),
            (all.clone(), Observed { spool_used_pct: None, ..well.clone() }, ("pass", vec![], 200)),
            (all.clone(), Observed { evaluated_ago_secs: Some(60), ..well.clone() }, ("pass", vec![], 200)),
            (
                all.clone(),
                Observed { evaluated_ago_secs: Some(61), ..well.clone() },
                ("fail", vec!["alarms_stalled_secs"], 503),
            ),
            (
                all.clone(),
                Observed {
                    sinks: vec![sink(0, 1, false), sink(9, 400, true)],
                    spool_used_pct: Some(95.0),
                    evaluated_ago_secs: Some(120),
                },
                ("fail", vec!["sink_down_secs", "spool_used_pct", "alarms_stalled_secs"], 503),
            ),
            // Only what is named fails.
            (
                FailOn { spool_used_pct: Some(50.0), ..FailOn::default() },
                Observed { sinks: vec![sink(9, 400, true)], spool_used_pct: Some(40.0), evaluated_ago_secs: Some(900) },
                ("warn", vec![], 200),
            ),
        ];
        for (f, o, (status, failing, code)) in table {
            let v = judge(&f, &o);
            assert_eq!((v.status, v.failing.clone(), v.code().as_u16()), (status, failing, code), "{f:?} {o:?}");
        }
    }

    #[tokio::test]
    async fn the_answer_names_what_fails_only_when_something_does() {
        use http_body_util::BodyExt;
        let answer = |v: Verdict| async move {
            let r = v.respond(serde_json::json!({}));
            let code = r.status().as_u16();
            (code, String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
        };
        let fail = Verdict { status: "fail", failing: vec!["sink_down_secs", "spool_used_pct"] };
        assert_eq!(
            answer(fail).await,
            (503, r#"{"failing":["sink_down_secs","spool_used_pct"],"status":"fail"}"#.into())
        );
        assert_eq!(answer(Verdict { status: "warn", failing: vec![] }).await, (200, r#"{"status":"warn"}"#.into()));
    }
}
