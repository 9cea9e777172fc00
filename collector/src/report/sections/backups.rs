//! Backups: a day with a success is a day on which a last success falls;
//! days are counted from the first on which the job was watched, and today
//! does not count until it is over.

use dcwatch_common::schema::{f, m};
use std::collections::BTreeSet;

use super::super::ReportError;
use super::super::context::Ctx;
use super::super::{BackupRow, all, date_str, key_part, round1};

/// One row per job that reported its outcome.
pub fn build(c: &Ctx<'_>) -> Result<Vec<BackupRow>, ReportError> {
    let period = c.period;
    let last_ok = c.read(m::BACKUP, f::LAST_SUCCESS_TS)?;
    let outcome = c.read(m::BACKUP, f::OK)?;
    let shrink = c.total(m::BACKUP, f::SIZE_CHANGE_PCT)?;
    let today = period.day_of(c.now_s);
    let mut backups = Vec::new();
    for (k, hours) in &outcome {
        let job = key_part(k, "job").to_string();
        let watched: BTreeSet<usize> = hours.iter().filter_map(|(h, _)| period.day_of(h * 3600)).collect();
        let first = watched.iter().next().copied();
        let mut ok_days: BTreeSet<usize> = BTreeSet::new();
        if let Some((_, hs)) = last_ok.iter().find(|(x, _)| x.site == k.site && x.host == k.host && x.key == k.key) {
            for (_, a) in hs {
                // The newest success known that hour, and the one before (min).
                for v in [a.max, a.min] {
                    if let Some(d) = period.day_of(v as i64) {
                        ok_days.insert(d);
                    }
                }
            }
        }
        let days: Vec<usize> = first
            .map(|f| (f..period.days.len()).filter(|d| Some(*d) != today && period.bounds[d + 1] <= c.to).collect())
            .unwrap_or_default();
        let success = days.iter().filter(|d| ok_days.contains(d)).count();
        let missed: Vec<String> =
            days.iter().filter(|d| !ok_days.contains(d)).map(|d| date_str(period.days[*d])).collect();
        let s =
            shrink.iter().find(|(x, _)| x.site == k.site && x.host == k.host && x.key == k.key).map(|(_, h)| all(h));
        backups.push(BackupRow {
            site: k.site.clone(),
            host: k.host.clone(),
            job,
            days: days.len(),
            success_days: success,
            success_pct: (!days.is_empty()).then(|| round1(100.0 * success as f64 / days.len() as f64)),
            missed_days: missed,
            largest_shrink_pct: s.filter(|a| a.n > 0 && a.min < 0.0).map(|a| round1(a.min)),
        });
    }
    Ok(backups)
}

#[cfg(test)]
mod tests {
    use super::super::testing::october;
    use super::*;

    #[test]
    fn the_known_months_backup_missed_two_nights_and_shrank_once() {
        october(|c| {
            assert_eq!(
                build(c).unwrap(),
                [BackupRow {
                    site: "hn".into(),
                    host: "db1".into(),
                    job: "db".into(),
                    days: 31,
                    success_days: 29,
                    success_pct: Some(93.5),
                    missed_days: vec!["2026-10-07".into(), "2026-10-22".into()],
                    largest_shrink_pct: Some(-45.0),
                }]
            );
        });
    }
}
