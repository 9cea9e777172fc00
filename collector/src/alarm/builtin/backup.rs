//! The backup family: failed, stale, shrunk, missing, not replicated.

use dcwatch_common::schema::{f, m};

use super::{Ctx, Def, cond, fmt_num, labels};
use crate::alarm::conditions::{Cond, Series};
use crate::alarm::config::JobRef;
use crate::alarm::config::Severity::{Critical, Warning};
use crate::i18n::alarms::{self as words, Texts};

const READS: &[&str] = &[m::BACKUP];

pub const DEFS: &[Def] = &[
    Def { name: "backup_failed", severity: Warning, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "backup_stale", severity: Critical, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "backup_shrunk", severity: Warning, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "backup_missing", severity: Warning, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "backup_not_replicated", severity: Warning, reads: READS, explained_by: &[], uncapped: false },
];

/// A job's RPO when its point carries none (`rpo_s`): a day.
pub const DEFAULT_RPO_S: f64 = 86_400.0;

/// Whether a last good backup `age_s` old is past its RPO and the grace
/// (`builtin.backup_grace_secs`): `backup_stale`, and the console's "late".
pub fn stale(age_s: f64, rpo_s: f64, grace_s: u64) -> bool {
    age_s > rpo_s + grace_s as f64
}

/// Whether a backup `pct` % larger than the one before (−40: smaller) has
/// shrunk past `builtin.backup_shrink_pct`: `backup_shrunk`.
pub fn shrunk(pct: f64, shrink_pct: f64) -> bool {
    pct < -shrink_pct
}

/// Whether `mirror_ts` lacks the primary's newest backup for longer than
/// `max_lag`. A copy keeps or gets a later time; a minute of slack covers
/// clocks and copy tools.
pub fn lagging(now_s: i64, primary_ts: f64, mirror_ts: Option<f64>, max_lag: u64) -> bool {
    mirror_ts.is_none_or(|m| m + 60.0 < primary_ts) && now_s as f64 - primary_ts > max_lag as f64
}

pub fn conditions(ctx: &Ctx, out: &mut Vec<Cond>) {
    let jobs: Vec<&Series> = ctx.latest.series.values().filter(|s| s.measurement == m::BACKUP).collect();
    for s in &jobs {
        job(ctx, s, out);
    }
    let find = |r: &JobRef| {
        jobs.iter().copied().find(|s| s.tag("site") == r.site && s.tag("host") == r.host && s.tag("job") == r.job)
    };
    if ctx.on("backup_not_replicated") {
        replication(ctx, &find, out);
    }
    if ctx.on("backup_missing") {
        let grace = ctx.cfg.builtin.backup_report_grace_secs;
        let waited = ctx.latest.since.is_some_and(|t| ctx.now.saturating_duration_since(t).as_secs() >= grace);
        for e in ctx.cfg.backups.expected.iter().filter(|e| find(e).is_none()) {
            let summary = Texts::new(|l| words::backup_never_reported(l, &e.job, &e.host, &e.site));
            let l = labels(&[("site", &e.site), ("host", &e.host), ("job", &e.job)]);
            out.push(cond("backup_missing", l, summary, None, waited));
        }
    }
}

/// The conditions of one reported job.
fn job(ctx: &Ctx, s: &Series, out: &mut Vec<Cond>) {
    let b = &ctx.cfg.builtin;
    let (site, host, job) = (s.tag("site"), s.tag("host"), s.tag("job"));
    let l = labels(&[("site", site), ("host", host), ("job", job)]);
    let status = s.text(f::STATUS).unwrap_or("");
    let message = s.text("message").unwrap_or("");
    let last = s.num(f::LAST_SUCCESS_TS);
    if ctx.on("backup_failed") {
        // A new run after a failure does not clear it; its outcome does.
        let active = status == "failed" || (status == "running" && ctx.was("backup_failed", &l));
        let summary = Texts::new(|l| words::backup_failed(l, job, host, site, message));
        out.push(cond("backup_failed", l.clone(), summary, s.num("exit_status").map(fmt_num), active));
    }
    if ctx.on("backup_stale")
        && let Some(ts) = last
    {
        let age = ctx.now_s as f64 - ts;
        let rpo = s.num("rpo_s").unwrap_or(DEFAULT_RPO_S);
        let summary = Texts::new(|l| words::backup_stale(l, job, host, site, age, rpo));
        // In tenths of hours, like the summary: not a change every second.
        let value = Some(format!("{:.1}", age.max(0.0) / 3600.0));
        out.push(cond("backup_stale", l.clone(), summary, value, stale(age, rpo, b.backup_grace_secs)));
    }
    if ctx.on("backup_shrunk") {
        // A backup point without a size change (nothing to compare with)
        // is a condition too, inactive: a shrunk alarm of the one before resolves.
        let pct = s.num(f::SIZE_CHANGE_PCT);
        let size = s.num("last_size_bytes");
        let summary = Texts::new(|l| words::backup_shrunk(l, job, host, site, pct.map(|p| -p), size));
        let active = pct.is_some_and(|pct| shrunk(pct, b.backup_shrink_pct));
        out.push(cond("backup_shrunk", l.clone(), summary, pct.map(fmt_num), active));
    }
    if ctx.on("backup_missing") {
        let summary = Texts::new(|l| words::backup_missing(l, job, host, site, message));
        out.push(cond("backup_missing", l.clone(), summary, None, status == "missing" && last.is_none()));
    }
    // A job with no mirror reported (any more) is an inactive condition,
    // so a not-replicated alarm of before resolves — unless a pair in
    // `backups.replication` judges it below.
    let paired = ctx
        .cfg
        .backups
        .replication
        .iter()
        .any(|r| r.primary.site == site && r.primary.host == host && r.primary.job == job);
    if ctx.on("backup_not_replicated")
        && let Some(ts) = last
        && (s.num("mirror_copies").is_some() || !paired)
    {
        let copies = s.num("mirror_copies").unwrap_or(f64::NAN);
        let mirror = if copies > 0.0 { s.num("mirror_last_success_ts") } else { None };
        let lag = match mirror {
            Some(m) => words::MirrorLag::Older(ts - m),
            None => words::MirrorLag::NoCopy,
        };
        let summary = Texts::new(|l| words::backup_not_replicated(l, (job, host, site), None, &lag));
        let active = !copies.is_nan() && lagging(ctx.now_s, ts, mirror, b.backup_replication_lag_secs);
        out.push(cond("backup_not_replicated", l, summary, None, active));
    }
}

/// The pairs of `backups.replication`: the mirror job holds the primary's newest backup.
fn replication<'a>(ctx: &Ctx, find: &dyn Fn(&JobRef) -> Option<&'a Series>, out: &mut Vec<Cond>) {
    for r in &ctx.cfg.backups.replication {
        let Some(p) = find(&r.primary) else { continue };
        let Some(ts) = p.num(f::LAST_SUCCESS_TS) else { continue };
        let m = find(&r.mirror);
        let mirror_ts = m.and_then(|m| m.num(f::LAST_SUCCESS_TS));
        let lag = match (m, mirror_ts) {
            (None, _) => words::MirrorLag::NotReported,
            (Some(_), None) => words::MirrorLag::NoGoodBackup,
            (Some(_), Some(mt)) => words::MirrorLag::PairOlder(ts - mt),
        };
        let (pr, mr) = (&r.primary, &r.mirror);
        let summary = Texts::new(|l| {
            let mirror = Some((mr.job.as_str(), mr.host.as_str(), mr.site.as_str()));
            words::backup_not_replicated(l, (&pr.job, &pr.host, &pr.site), mirror, &lag)
        });
        let max_lag = r.max_lag_secs.unwrap_or(ctx.cfg.builtin.backup_replication_lag_secs);
        let l = labels(&[("site", &pr.site), ("host", &pr.host), ("job", &pr.job)]);
        out.push(cond("backup_not_replicated", l, summary, None, lagging(ctx.now_s, ts, mirror_ts, max_lag)));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_support::{cfg, obs, row, run};
    use crate::model::ObsValue::{Num, Str};

    const NOW_S: i64 = 1_000_000;

    #[test]
    fn a_job_point_makes_its_conditions() {
        let c = cfg("builtin: {backup_grace_secs: 0, backup_shrink_pct: 30}\n");
        let tags = [("site", "hn"), ("host", "db1"), ("job", "pg")];
        let l = "host=db1,job=pg,site=hn";
        let ok_at = |age: f64| ("last_success_ts", Num(NOW_S as f64 - age));
        let table = [
            (
                vec![("status", Str("failed".into())), ("exit_status", Num(2.0))],
                vec![
                    row("backup_failed", l, "warning", Some("2"), true),
                    row("backup_missing", l, "warning", None, false),
                    row("backup_shrunk", l, "warning", None, false),
                ],
            ),
            (
                vec![("status", Str("ok".into())), ok_at(90_000.0), ("size_change_pct", Num(-40.0))],
                vec![
                    row("backup_failed", l, "warning", None, false),
                    row("backup_missing", l, "warning", None, false),
                    row("backup_not_replicated", l, "warning", None, false),
                    row("backup_shrunk", l, "warning", Some("-40"), true),
                    row("backup_stale", l, "critical", Some("25.0"), true),
                ],
            ),
            (
                vec![("status", Str("missing".into()))],
                vec![
                    row("backup_failed", l, "warning", None, false),
                    row("backup_missing", l, "warning", None, true),
                    row("backup_shrunk", l, "warning", None, false),
                ],
            ),
        ];
        for (fields, want) in table {
            let p = obs("backup", &tags, &fields);
            assert_eq!(run(super::conditions, &c, &[p], Instant::now(), NOW_S), want, "{fields:?}");
        }
    }

    #[test]
    fn a_mirror_that_lags_is_not_replicated() {
        let c = cfg(concat!(
            "builtin: {backup_replication_lag_secs: 3600}\n",
            "backups:\n  replication:\n    - primary: {site: hn, host: db1, job: pg}\n",
            "      mirror: {site: hn, host: bk1, job: pg-copy}\n"
        ));
        let job = |host, job, age: f64| {
            obs(
                "backup",
                &[("site", "hn"), ("host", host), ("job", job)],
                &[("status", Str("ok".into())), ("last_success_ts", Num(NOW_S as f64 - age))],
            )
        };
        let primary = job("db1", "pg", 7200.0);
        let table = [(vec![primary.clone()], true), (vec![primary.clone(), job("bk1", "pg-copy", 7200.0)], false)];
        for (points, lagging) in table {
            let rows = run(super::conditions, &c, &points, Instant::now(), NOW_S);
            let pair: Vec<_> = rows
                .into_iter()
                .filter(|r| r.0 == "backup_not_replicated" && r.1 == "host=db1,job=pg,site=hn")
                .collect();
            assert_eq!(pair, [row("backup_not_replicated", "host=db1,job=pg,site=hn", "warning", None, lagging)]);
        }
    }
}
