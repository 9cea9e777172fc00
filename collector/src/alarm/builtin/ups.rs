//! The UPS family: on battery, low battery, runtime low, replace battery,
//! output off, overload; and the UPS → hosts chain of each site.

use std::collections::BTreeMap;

use dcwatch_common::schema::{f, m};

use super::{Ctx, Def, cond, fmt_num, labels};
use crate::alarm::conditions::Cond;
use crate::alarm::config::Severity::{Critical, Warning};
use crate::i18n::alarms::{self as words, Texts};

const READS: &[&str] = &[m::UPS];
const POWER: &[&str] = &["power_lost"];

pub const DEFS: &[Def] = &[
    Def { name: "ups_on_battery", severity: Critical, reads: READS, explained_by: POWER, uncapped: false },
    Def { name: "ups_low_battery", severity: Critical, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "ups_runtime_low", severity: Critical, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "ups_replace_battery", severity: Warning, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "ups_overload", severity: Critical, reads: READS, explained_by: &[], uncapped: false },
    Def { name: "ups_output_off", severity: Critical, reads: READS, explained_by: POWER, uncapped: false },
];

/// Whether a UPS status means its output is off.
pub fn output_off(status: &str) -> bool {
    status == "off" || status == "fault"
}

pub fn conditions(ctx: &Ctx, out: &mut Vec<Cond>) {
    for s in ctx.latest.series.values().filter(|s| s.measurement == m::UPS) {
        let (site, dev) = (s.tag("site"), s.tag("device"));
        let l = labels(&[("site", site), ("device", dev)]);
        if let Some(b) = s.flag(f::ON_BATTERY)
            && ctx.on("ups_on_battery")
        {
            let charge = s.num(f::BATTERY_CHARGE_PCT);
            let runtime = s.num(f::RUNTIME_REMAINING_S).map(|r| (r / 60.0).floor());
            let summary = Texts::new(|l| words::ups_on_battery(l, dev, site, charge, runtime));
            out.push(cond("ups_on_battery", l.clone(), summary, None, b));
        }
        if ctx.on("ups_low_battery")
            && let Some(b) = s.flag(f::LOW_BATTERY)
        {
            out.push(cond("ups_low_battery", l.clone(), Texts::new(|l| words::ups_low_battery(l, dev, site)), None, b));
        }
        if ctx.on("ups_runtime_low")
            && let Some(r) = s.num(f::RUNTIME_REMAINING_S)
        {
            let limit = ctx.cfg.builtin.ups_runtime_min * 60.0;
            let was = ctx.was("ups_runtime_low", &l);
            let on_batt = s.flag(f::ON_BATTERY).unwrap_or(false);
            // Clears 20 % above the threshold, or back on mains.
            let active = on_batt && (r < limit || (was && r < limit * 1.2));
            let summary = Texts::new(|l| words::ups_runtime_low(l, dev, site, (r / 60.0).floor()));
            out.push(cond("ups_runtime_low", l.clone(), summary, Some(fmt_num(r)), active));
        }
        if ctx.on("ups_replace_battery")
            && let Some(b) = s.flag(f::REPLACE_BATTERY)
        {
            let summary = Texts::new(|l| words::ups_replace_battery(l, dev, site));
            out.push(cond("ups_replace_battery", l.clone(), summary, None, b));
        }
        if ctx.on("ups_output_off")
            && let Some(st) = s.text(f::STATUS)
        {
            let summary = Texts::new(|l| words::ups_output_off(l, dev, site, st));
            out.push(cond("ups_output_off", l.clone(), summary, Some(st.to_string()), output_off(st)));
        }
        if ctx.on("ups_overload")
            && let Some(b) = s.flag(f::OVERLOAD)
        {
            out.push(cond("ups_overload", l, Texts::new(|l| words::ups_overload(l, dev, site)), None, b));
        }
    }
    chain(ctx, out);
}

/// The UPS → hosts chain of each site: a UPS whose output is off (status
/// `off` or `fault`), or that is on battery and low or unreachable (its card
/// went down with it), makes its alarm list the hosts it feeds and explain
/// the silence of those whose every UPS is in that state.
fn chain(ctx: &Ctx, out: &mut [Cond]) {
    for sc in ctx.cfg.sites.iter().filter(|s| !s.ups.is_empty()) {
        let site = sc.name.as_str();
        let find = |ms: &str, dev: &str| {
            ctx.latest.series.values().find(|s| s.measurement == ms && s.tag("site") == site && s.tag("device") == dev)
        };
        // UPS → the alarm that stands for its loss, if it has lost power.
        let mut lost: BTreeMap<&str, &str> = BTreeMap::new();
        for ups in sc.ups.keys() {
            let u = find(m::UPS, ups);
            let unreachable = find(m::DEVICE, ups).and_then(|d| d.flag(f::UP)) == Some(false);
            let on_battery = u.and_then(|u| u.flag(f::ON_BATTERY)) == Some(true);
            let low = u.and_then(|u| u.flag(f::LOW_BATTERY)) == Some(true);
            let off = u.and_then(|u| u.text(f::STATUS)).is_some_and(output_off);
            // Unreachable alone is not lost power (a dead network card on a
            // healthy UPS); on battery alone is not either (it still powers).
            let by = if off {
                Some("ups_output_off")
            } else if on_battery && (unreachable || low) {
                Some("ups_on_battery")
            } else {
                None
            };
            if let Some(by) = by {
                lost.insert(ups.as_str(), by);
            }
        }
        for (ups, hosts) in &sc.ups {
            let Some(by) = lost.get(ups.as_str()) else { continue };
            // Dual-corded hosts only when every UPS of theirs is lost.
            let explained: Vec<String> = hosts
                .iter()
                .filter(|h| sc.ups.iter().filter(|(_, hs)| hs.contains(h)).all(|(u, _)| lost.contains_key(u.as_str())))
                .cloned()
                .collect();
            let Some(c) = out.iter_mut().find(|c| {
                c.active
                    && c.name == *by
                    && c.labels.get("site").map(String::as_str) == Some(site)
                    && c.labels.get("device") == Some(ups)
            }) else {
                continue;
            };
            c.summary.push(|l| words::ups_powers(l, hosts));
            if !explained.is_empty() {
                c.inhibits = super::EXPLAINED_BY_UPS;
                c.inhibit_hosts = explained;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_support::{cfg, obs, row, run};
    use crate::model::ObsValue::{Bool, Num, Str};

    #[test]
    fn ups_points_make_their_conditions() {
        let c = cfg("builtin: {ups_runtime_min: 10}\n");
        let now = Instant::now();
        let l = "device=ups1,site=hn";
        let table = [
            (
                vec![("on_battery", Bool(true)), ("runtime_remaining_s", Num(300.0))],
                vec![
                    row("ups_on_battery", l, "critical", None, true),
                    row("ups_runtime_low", l, "critical", Some("300"), true),
                ],
            ),
            (
                vec![("on_battery", Bool(false)), ("runtime_remaining_s", Num(300.0))],
                vec![
                    row("ups_on_battery", l, "critical", None, false),
                    row("ups_runtime_low", l, "critical", Some("300"), false),
                ],
            ),
            (
                vec![("low_battery", Bool(true)), ("replace_battery", Bool(false)), ("overload", Bool(true))],
                vec![
                    row("ups_low_battery", l, "critical", None, true),
                    row("ups_overload", l, "critical", None, true),
                    row("ups_replace_battery", l, "warning", None, false),
                ],
            ),
            (vec![("status", Str("fault".into()))], vec![row("ups_output_off", l, "critical", Some("fault"), true)]),
            (vec![("status", Str("online".into()))], vec![row("ups_output_off", l, "critical", Some("online"), false)]),
        ];
        for (fields, want) in table {
            let p = obs("ups", &[("site", "hn"), ("device", "ups1")], &fields);
            assert_eq!(run(super::conditions, &c, &[p], now, 0), want, "{fields:?}");
        }
    }

    #[test]
    fn a_ups_that_lost_power_explains_the_hosts_it_alone_feeds() {
        let c = cfg("sites:\n  - name: hn\n    feeds: [A]\n    ups: {ups1: [web1, db1], ups2: [db1]}\n");
        let latest = super::super::test_support::state(
            &[
                obs("ups", &[("site", "hn"), ("device", "ups1")], &[("status", Str("off".into()))]),
                obs("ups", &[("site", "hn"), ("device", "ups2")], &[("status", Str("online".into()))]),
            ],
            Instant::now(),
        );
        let never = |_: &str, _: &std::collections::BTreeMap<String, String>| false;
        let ctx = super::Ctx { cfg: &c, latest: &latest, now: Instant::now(), now_s: 0, previously_active: &never };
        let mut out = Vec::new();
        super::conditions(&ctx, &mut out);
        let off: Vec<_> =
            out.iter().filter(|c| c.active).map(|c| (c.name.as_str(), c.inhibits, &c.inhibit_hosts)).collect();
        assert_eq!(off, [("ups_output_off", &["agent_silent"][..], &vec!["web1".to_string()])]);
    }
}
