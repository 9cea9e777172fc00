//! The power family: feeds, a site's redundancy and its power, the ATS, the
//! generators.

use std::collections::{BTreeMap, HashMap, HashSet};

use dcwatch_common::schema::{f, m};

use super::{Ctx, Def, cond, fmt_num, labels};
use crate::alarm::conditions::Cond;
use crate::alarm::config::Severity::{Critical, Info, Warning};
use crate::i18n::alarms::{self as words, Texts};

const FEEDS: &[&str] = &[m::POWER_FEED];
/// power_lost's summary lists the UPS on battery and the silent hosts.
const SITE: &[&str] = &[m::POWER_FEED, m::UPS, m::AGENT];
const GEN: &[&str] = &[m::GENERATOR];

pub const DEFS: &[Def] = &[
    Def {
        name: "feed_lost",
        severity: Warning,
        reads: FEEDS,
        explained_by: &["power_lost", "power_redundancy_degraded"],
        uncapped: false,
    },
    Def {
        name: "power_redundancy_degraded",
        severity: Warning,
        reads: FEEDS,
        explained_by: &["power_lost"],
        uncapped: true,
    },
    Def { name: "power_lost", severity: Critical, reads: SITE, explained_by: &[], uncapped: true },
    Def { name: "ats_on_secondary", severity: Warning, reads: &[m::ATS], explained_by: &[], uncapped: false },
    Def { name: "generator_running", severity: Info, reads: GEN, explained_by: &[], uncapped: false },
    Def {
        name: "generator_not_running",
        severity: Critical,
        reads: &[m::GENERATOR, m::POWER_FEED],
        explained_by: &[],
        uncapped: true,
    },
];

/// What the site alarms read from the series, gathered in one pass.
#[derive(Default)]
struct Seen {
    /// Feed states per site: feed → live (live if any meter sees it live).
    feeds: HashMap<String, BTreeMap<String, bool>>,
    sites_with_generator: HashSet<String>,
    gens_stopped: HashMap<String, Vec<String>>,
    /// The short texts of the UPS on battery, per site.
    ups_on_battery: HashMap<String, Vec<Texts>>,
}

pub fn conditions(ctx: &Ctx, out: &mut Vec<Cond>) {
    let mut seen = Seen::default();
    for s in ctx.latest.series.values() {
        let (site, dev) = (s.tag("site"), s.tag("device"));
        match s.measurement.as_str() {
            m::UPS if s.flag(f::ON_BATTERY) == Some(true) => {
                let charge = s.num(f::BATTERY_CHARGE_PCT);
                let runtime = s.num(f::RUNTIME_REMAINING_S).map(|r| (r / 60.0).floor());
                let short = Texts::new(|l| words::ups_on_battery_short(l, dev, charge, runtime));
                seen.ups_on_battery.entry(site.to_string()).or_default().push(short);
            }
            m::POWER_FEED => {
                let feed = s.tag("feed");
                if let Some(live) = s.flag(f::LIVE)
                    && !feed.is_empty()
                {
                    let e = seen.feeds.entry(site.to_string()).or_default().entry(feed.to_string()).or_insert(live);
                    *e = *e || live;
                }
            }
            m::ATS if ctx.on("ats_on_secondary") => {
                let secondary = match (s.text(f::ACTIVE_SOURCE), s.flag(f::ON_SOURCE_B)) {
                    (Some(src), _) => Some(src != "A"),
                    (None, Some(b)) => Some(b),
                    _ => None,
                };
                if let Some(b) = secondary {
                    let summary = Texts::new(|l| words::ats_on_secondary(l, dev, site));
                    let value = s.text(f::ACTIVE_SOURCE).map(str::to_string);
                    out.push(cond("ats_on_secondary", labels(&[("site", site), ("device", dev)]), summary, value, b));
                }
            }
            m::GENERATOR => {
                seen.sites_with_generator.insert(site.to_string());
                let Some(run) = s.flag(f::RUNNING) else { continue };
                if !run {
                    seen.gens_stopped.entry(site.to_string()).or_default().push(dev.to_string());
                }
                if ctx.on("generator_running") {
                    let summary = Texts::new(|l| words::generator_running(l, dev, site));
                    let value = s.num(f::FUEL_PCT).map(|f| format!("fuel {} %", fmt_num(f)));
                    out.push(cond(
                        "generator_running",
                        labels(&[("site", site), ("device", dev)]),
                        summary,
                        value,
                        run,
                    ));
                }
            }
            _ => {}
        }
    }
    if ctx.on("feed_lost") {
        for (site, fs) in &seen.feeds {
            for (feed, live) in fs {
                let summary = Texts::new(|l| words::feed_lost(l, feed, site));
                out.push(cond("feed_lost", labels(&[("site", site), ("feed", feed)]), summary, None, !live));
            }
        }
    }
    sites(ctx, &seen, out);
}

/// Per configured site: redundancy degraded, power lost, generator not running.
fn sites(ctx: &Ctx, seen: &Seen, out: &mut Vec<Cond>) {
    for sc in &ctx.cfg.sites {
        let fs = seen.feeds.get(&sc.name);
        let known: Vec<(&String, bool)> =
            sc.feeds.iter().filter_map(|f| fs.and_then(|m| m.get(f)).map(|l| (f, *l))).collect();
        if known.is_empty() {
            continue;
        }
        let live: Vec<&str> = known.iter().filter(|(_, l)| *l).map(|(f, _)| f.as_str()).collect();
        let dead: Vec<&str> = known.iter().filter(|(_, l)| !*l).map(|(f, _)| f.as_str()).collect();
        let site = sc.name.as_str();
        let l = labels(&[("site", site)]);
        if ctx.on("power_redundancy_degraded") {
            let summary = Texts::new(|l| words::power_redundancy_degraded(l, site, &live, &dead));
            let value = Some(format!("{}/{}", live.len(), sc.feeds.len()));
            out.push(cond(
                "power_redundancy_degraded",
                l.clone(),
                summary,
                value,
                !dead.is_empty() && !live.is_empty(),
            ));
        }
        let all_dead = live.is_empty() && !dead.is_empty();
        if ctx.on("power_lost") {
            let mut summary = Texts::new(|l| words::power_lost(l, site, &dead));
            if let Some(u) = seen.ups_on_battery.get(site) {
                summary.push(|l| u.iter().map(|t| format!("; {}", t.get(l))).collect());
            }
            // The hosts it affects: those of the site that have gone silent.
            let mut silent: Vec<&str> = ctx
                .latest
                .agents
                .iter()
                .filter(|((s, _), b)| s == site && b.silent(&ctx.cfg.builtin, ctx.now))
                .map(|((_, h), _)| h.as_str())
                .collect();
            let powered: std::collections::BTreeSet<&str> = sc.ups.values().flatten().map(String::as_str).collect();
            if !powered.is_empty() {
                summary.push(|l| words::power_lost_on_ups(l, powered.len()));
            }
            if !silent.is_empty() {
                silent.sort_unstable();
                summary.push(|l| words::power_lost_silent(l, &silent));
            }
            out.push(cond("power_lost", l.clone(), summary, Some(format!("0/{}", sc.feeds.len())), all_dead));
        }
        if ctx.on("generator_not_running") && seen.sites_with_generator.contains(site) {
            let stopped = seen.gens_stopped.get(site).cloned().unwrap_or_default();
            let summary = Texts::new(|l| words::generator_not_running(l, site, &stopped));
            out.push(cond("generator_not_running", l, summary, None, all_dead && !stopped.is_empty()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_support::{cfg, obs, row, run};
    use crate::model::ObsValue::{Bool, Num, Str};

    fn feed(f: &str, live: bool) -> crate::model::Observation {
        obs("power_feed", &[("site", "hn"), ("device", &format!("m{f}")), ("feed", f)], &[("live", Bool(live))])
    }

    fn generator(running: bool) -> crate::model::Observation {
        obs("generator", &[("site", "hn"), ("device", "gen1")], &[("running", Bool(running)), ("fuel_pct", Num(80.0))])
    }

    #[test]
    fn feeds_and_generators_make_the_site_conditions() {
        let c = cfg("");
        let now = Instant::now();
        let table = [
            (
                vec![feed("A", true), feed("B", false)],
                vec![
                    row("feed_lost", "feed=A,site=hn", "warning", None, false),
                    row("feed_lost", "feed=B,site=hn", "warning", None, true),
                    row("power_lost", "site=hn", "critical", Some("0/2"), false),
                    row("power_redundancy_degraded", "site=hn", "warning", Some("1/2"), true),
                ],
            ),
            (
                vec![feed("A", false), feed("B", false), generator(false)],
                vec![
                    row("feed_lost", "feed=A,site=hn", "warning", None, true),
                    row("feed_lost", "feed=B,site=hn", "warning", None, true),
                    row("generator_not_running", "site=hn", "critical", None, true),
                    row("generator_running", "device=gen1,site=hn", "info", Some("fuel 80 %"), false),
                    row("power_lost", "site=hn", "critical", Some("0/2"), true),
                    row("power_redundancy_degraded", "site=hn", "warning", Some("0/2"), false),
                ],
            ),
            (
                vec![obs("ats", &[("site", "hn"), ("device", "ats1")], &[("active_source", Str("B".into()))])],
                vec![row("ats_on_secondary", "device=ats1,site=hn", "warning", Some("B"), true)],
            ),
            (
                vec![obs("ats", &[("site", "hn"), ("device", "ats1")], &[("on_source_b", Bool(false))])],
                vec![row("ats_on_secondary", "device=ats1,site=hn", "warning", None, false)],
            ),
        ];
        for (points, want) in table {
            assert_eq!(run(super::conditions, &c, &points, now, 0), want, "{points:?}");
        }
    }

    #[test]
    fn power_lost_inhibits_what_it_explains() {
        let c = cfg("");
        let latest = super::super::test_support::state(&[feed("A", false)], Instant::now());
        let never = |_: &str, _: &std::collections::BTreeMap<String, String>| false;
        let ctx = super::Ctx { cfg: &c, latest: &latest, now: Instant::now(), now_s: 0, previously_active: &never };
        let mut out = Vec::new();
        super::conditions(&ctx, &mut out);
        let lost = out.iter().find(|c| c.name == "power_lost").unwrap();
        assert_eq!(lost.inhibits, super::super::EXPLAINED_BY_POWER);
        let degraded = out.iter().find(|c| c.name == "power_redundancy_degraded").unwrap();
        assert_eq!(degraded.inhibits, ["feed_lost"]);
    }
}
