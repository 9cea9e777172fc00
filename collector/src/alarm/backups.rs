//! Each backup job as the latest `backup` points show it, beside the jobs
//! `backups.expected` names that nothing has reported: its tool, last good
//! backup and its age against the RPO, size and change, copies kept, and
//! its copy at the second site. Late, shrunk and not replicated are judged
//! by the functions the built-in alarms use (`builtin/backup.rs`), so the
//! console's backups page says what the alarms say. Typed, so a page
//! cannot misspell a field.

use dcwatch_common::schema::{f, m};

use super::Engine;
use super::builtin::backup::{DEFAULT_RPO_S, lagging, shrunk, stale};
use super::conditions::{Latest, Series};
use super::config::{AlarmsConfig, JobRef};

/// One backup job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub site: String,
    pub host: String,
    pub job: String,
    /// What its agent last reported; None: listed in `backups.expected`
    /// and never reported.
    pub seen: Option<Seen>,
}

/// What a job's latest point says.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The tool: `restic`, `borg`, `directory`, `status_file` (the `kind` tag).
    pub kind: String,
    /// `ok`, `failed`, `running`, `missing`.
    pub status: String,
    /// Why it failed or is missing, or the run's own message.
    pub message: Option<String>,
    /// End of the last good backup, Unix seconds.
    pub last_success_s: Option<i64>,
    /// Now − `last_success_s`.
    pub age_s: Option<i64>,
    pub rpo_s: f64,
    /// Past its RPO and the grace: what `backup_stale` fires on.
    pub late: bool,
    pub size_bytes: Option<f64>,
    /// Against the backup before (−40: 40 % smaller).
    pub size_change_pct: Option<f64>,
    /// Smaller than `builtin.backup_shrink_pct` allows: `backup_shrunk`.
    pub shrunk: bool,
    /// Backups kept: files, snapshots, archives.
    pub copies: Option<u64>,
    pub mirror: Option<Mirror>,
}

/// A job's copy at the second site.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    /// The mirror job of a `backups.replication` pair; None: the job's own
    /// `mirror:` folder (`mirror_*` fields of its point).
    pub pair: Option<JobRef>,
    /// The pair's mirror job has reported (a `mirror:` folder: always).
    pub reported: bool,
    pub copies: Option<u64>,
    /// End of the newest copy there, Unix seconds.
    pub last_success_s: Option<i64>,
    /// Holds the job's newest backup (a minute of slack, as the alarm allows).
    pub current: bool,
    /// Lags past its bound: what `backup_not_replicated` fires on.
    pub lagging: bool,
}

impl Job {
    /// 0: late; 1: failed, missing, never seen, shrunk or not replicated; 2: fine.
    pub fn rank(&self) -> u8 {
        match &self.seen {
            None => 1,
            Some(s) if s.late => 0,
            Some(s) if s.status == "failed" || s.status == "missing" || s.shrunk => 1,
            Some(s) if s.mirror.as_ref().is_some_and(|m| m.lagging) => 1,
            Some(_) => 2,
        }
    }
}

/// A time an agent sent (Unix seconds) as a whole second, if it is one:
/// from 1970 to the year 9999. Anything else (a hostile 1e300) is no time,
/// so no sum with it overflows.
fn unix_s(t: f64) -> Option<i64> {
    (t.is_finite() && (0.0..=253_402_300_799.0).contains(&t)).then_some(t as i64)
}

fn count(s: &Series, field: &str) -> Option<u64> {
    s.num(field).filter(|x| *x >= 0.0).map(|x| x as u64)
}

fn find<'a>(jobs: &[&'a Series], r: &JobRef) -> Option<&'a Series> {
    jobs.iter().copied().find(|s| s.tag("site") == r.site && s.tag("host") == r.host && s.tag("job") == r.job)
}

/// The mirror of the reported job `s` (last good backup at `ts`).
fn mirror(cfg: &AlarmsConfig, jobs: &[&Series], s: &Series, ts: Option<i64>, now_s: i64) -> Option<Mirror> {
    let b = &cfg.builtin;
    let primary = ts.map_or(f64::NAN, |t| t as f64);
    let current = |m: Option<i64>| ts.is_some_and(|t| m.is_some_and(|m| m + 60 >= t));
    if let Some(copies) = count(s, "mirror_copies") {
        let last = if copies > 0 { s.num("mirror_last_success_ts").and_then(unix_s) } else { None };
        return Some(Mirror {
            pair: None,
            reported: true,
            copies: Some(copies),
            last_success_s: last,
            current: current(last),
            lagging: ts.is_some() && lagging(now_s, primary, last.map(|t| t as f64), b.backup_replication_lag_secs),
        });
    }
    let r = cfg.backups.replication.iter().find(|r| {
        r.primary.site == s.tag("site") && r.primary.host == s.tag("host") && r.primary.job == s.tag("job")
    })?;
    let m = find(jobs, &r.mirror);
    let last = m.and_then(|m| m.num(f::LAST_SUCCESS_TS)).and_then(unix_s);
    let max_lag = r.max_lag_secs.unwrap_or(b.backup_replication_lag_secs);
    Some(Mirror {
        pair: Some(r.mirror.clone()),
        reported: m.is_some(),
        copies: m.and_then(|m| count(m, "copies")),
        last_success_s: last,
        current: current(last),
        lagging: ts.is_some() && lagging(now_s, primary, last.map(|t| t as f64), max_lag),
    })
}

/// Every reported job and every expected one never reported, late first,
/// then by site, host and job.
pub fn jobs(cfg: &AlarmsConfig, latest: &Latest, now_s: i64) -> Vec<Job> {
    let b = &cfg.builtin;
    let points: Vec<&Series> = latest.series.values().filter(|s| s.measurement == m::BACKUP).collect();
    let mut out: Vec<Job> = points
        .iter()
        .map(|s| {
            let ts = s.num(f::LAST_SUCCESS_TS).and_then(unix_s);
            let age = ts.map(|t| now_s - t);
            let rpo = s.num("rpo_s").unwrap_or(DEFAULT_RPO_S);
            let pct = s.num(f::SIZE_CHANGE_PCT);
            Job {
                site: s.tag("site").to_string(),
                host: s.tag("host").to_string(),
                job: s.tag("job").to_string(),
                seen: Some(Seen {
                    kind: s.tag("kind").to_string(),
                    status: s.text(f::STATUS).unwrap_or("").to_string(),
                    message: s.text("message").map(str::to_string),
                    last_success_s: ts,
                    age_s: age,
                    rpo_s: rpo,
                    late: age.is_some_and(|a| stale(a as f64, rpo, b.backup_grace_secs)),
                    size_bytes: s.num(f::LAST_SIZE_BYTES),
                    size_change_pct: pct,
                    shrunk: pct.is_some_and(|p| shrunk(p, b.backup_shrink_pct)),
                    copies: count(s, "copies"),
                    mirror: mirror(cfg, &points, s, ts, now_s),
                }),
            }
        })
        .collect();
    for e in cfg.backups.expected.iter().filter(|e| find(&points, e).is_none()) {
        out.push(Job { site: e.site.clone(), host: e.host.clone(), job: e.job.clone(), seen: None });
    }
    out.sort_by(|a, b| (a.rank(), &a.site, &a.host, &a.job).cmp(&(b.rank(), &b.site, &b.host, &b.job)));
    out
}

impl Engine {
    /// Every backup job (see [`jobs`]) as of `now_s` (Unix seconds).
    pub fn backups(&self, now_s: i64) -> Vec<Job> {
        let cfg = self.config();
        let mut latest = self.latest.lock().expect("not poisoned");
        self.apply_pending(&mut latest, cfg.limits.max_series_per_token);
        jobs(&cfg, &latest, now_s)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::alarm::builtin::test_support::{cfg, obs, run, state};
    use crate::model::ObsValue::{Num, Str};

    const NOW_S: i64 = 1_000_000;

    fn point(host: &str, job: &str, age_s: f64, rpo_s: f64) -> crate::model::Observation {
        obs(
            "backup",
            &[("site", "hn"), ("host", host), ("job", job), ("kind", "restic")],
            &[("status", Str("ok".into())), ("last_success_ts", Num(NOW_S as f64 - age_s)), ("rpo_s", Num(rpo_s))],
        )
    }

    /// Regression (review): a hostile time (1e300, −1e300) was cast to an
    /// i64 and summed, which overflows (a panic under the engine's lock in
    /// debug builds, a wrong age in release): it is now no time at all.
    #[test]
    fn a_time_no_clock_can_show_is_no_time_and_overflows_nothing() {
        let c = cfg("");
        let hostile = obs(
            "backup",
            &[("site", "hn"), ("host", "db1"), ("job", "pg"), ("kind", "directory")],
            &[
                ("status", Str("ok".into())),
                ("last_success_ts", Num(-1e300)),
                ("mirror_copies", Num(2.0)),
                ("mirror_last_success_ts", Num(1e300)),
            ],
        );
        let got = jobs(&c, &state(&[hostile], Instant::now()), NOW_S);
        let seen = got[0].seen.as_ref().unwrap();
        assert_eq!((seen.last_success_s, seen.age_s, seen.late), (None, None, false));
        assert_eq!(seen.mirror.as_ref().map(|m| m.last_success_s), Some(None));
        assert_eq!(unix_s(f64::NAN), None);
        assert_eq!(unix_s(1_800_000_000.5), Some(1_800_000_000));
    }

    #[test]
    fn a_job_is_late_exactly_when_backup_stale_fires_and_late_jobs_come_first() {
        let c =
            cfg("builtin: {backup_grace_secs: 3600}\nbackups:\n  expected:\n    - {site: hn, host: db9, job: pg}\n");
        // 26 h against an RPO of 24 h and an hour's grace: late; 24 h 59 min: not yet.
        let points = [point("db1", "a-fine", 89_940.0, 86_400.0), point("db2", "z-late", 93_600.0, 86_400.0)];
        let got = jobs(&c, &state(&points, Instant::now()), NOW_S);
        let summary: Vec<(&str, &str, Option<bool>)> =
            got.iter().map(|j| (j.host.as_str(), j.job.as_str(), j.seen.as_ref().map(|s| s.late))).collect();
        assert_eq!(summary, [("db2", "z-late", Some(true)), ("db9", "pg", None), ("db1", "a-fine", Some(false))]);
        let stale: Vec<(String, bool)> =
            run(crate::alarm::builtin::backup::conditions, &c, &points, Instant::now(), NOW_S)
                .into_iter()
                .filter(|r| r.0 == "backup_stale")
                .map(|r| (r.1, r.4))
                .collect();
        assert_eq!(
            stale,
            [("host=db1,job=a-fine,site=hn".into(), false), ("host=db2,job=z-late,site=hn".into(), true)]
        );
    }

    #[test]
    fn a_mirror_folder_and_a_replication_pair_each_say_whether_the_copy_is_current() {
        let c = cfg(concat!(
            "builtin: {backup_replication_lag_secs: 3600}\n",
            "backups:\n  replication:\n    - primary: {site: hn, host: db1, job: pg}\n",
            "      mirror: {site: hcm, host: bk1, job: pg-copy}\n"
        ));
        let folder = obs(
            "backup",
            &[("site", "hn"), ("host", "fs1"), ("job", "files"), ("kind", "directory")],
            &[
                ("status", Str("ok".into())),
                ("last_success_ts", Num((NOW_S - 7200) as f64)),
                ("mirror_copies", Num(3.0)),
                ("mirror_last_success_ts", Num((NOW_S - 7200 - 86_400) as f64)),
            ],
        );
        let primary = point("db1", "pg", 7200.0, 86_400.0);
        let copy = obs(
            "backup",
            &[("site", "hcm"), ("host", "bk1"), ("job", "pg-copy"), ("kind", "borg")],
            &[("status", Str("ok".into())), ("last_success_ts", Num((NOW_S - 7000) as f64)), ("copies", Num(14.0))],
        );
        let got = jobs(&c, &state(&[folder, primary, copy], Instant::now()), NOW_S);
        let mirror = |host: &str| got.iter().find(|j| j.host == host).unwrap().seen.clone().unwrap().mirror;
        assert_eq!(
            mirror("fs1"),
            Some(Mirror {
                pair: None,
                reported: true,
                copies: Some(3),
                last_success_s: Some(NOW_S - 7200 - 86_400),
                current: false,
                lagging: true,
            })
        );
        assert_eq!(
            mirror("db1"),
            Some(Mirror {
                pair: Some(JobRef { site: "hcm".into(), host: "bk1".into(), job: "pg-copy".into() }),
                reported: true,
                copies: Some(14),
                last_success_s: Some(NOW_S - 7000),
                current: true,
                lagging: false,
            })
        );
        assert_eq!(mirror("bk1"), None, "the copy job itself has no mirror");
        assert_eq!(got[0].host, "fs1", "a job not replicated comes before the fine ones");
    }
}
