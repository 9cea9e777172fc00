//! The service family: a service whose sites' hosts have gone silent,
//! degraded (some sites down) or out (fewer than `min_sites` up).

use dcwatch_common::schema::m;

use super::{Ctx, Def, cond, labels};
use crate::alarm::conditions::Cond;
use crate::alarm::config::Severity::{Critical, Warning};
use crate::i18n::alarms::{self as words, Texts};

pub const DEFS: &[Def] = &[
    Def { name: "service_degraded", severity: Warning, reads: &[m::AGENT], explained_by: &[], uncapped: true },
    Def { name: "service_outage", severity: Critical, reads: &[m::AGENT], explained_by: &[], uncapped: true },
];

pub fn conditions(ctx: &Ctx, out: &mut Vec<Cond>) {
    if !(ctx.on("service_degraded") || ctx.on("service_outage")) {
        return;
    }
    let silent = |site: &str, host: &str| -> Option<bool> {
        let b = ctx.latest.agents.get(&(site.to_string(), host.to_string()))?;
        Some(b.silent(&ctx.cfg.builtin, ctx.now))
    };
    for svc in &ctx.cfg.services {
        let mut down_sites = Vec::new();
        let mut known_sites = 0;
        for (site, hosts) in &svc.members {
            let states: Vec<bool> = hosts.iter().filter_map(|h| silent(site, h)).collect();
            if states.is_empty() {
                continue;
            }
            known_sites += 1;
            if states.len() == hosts.len() && states.iter().all(|s| *s) {
                down_sites.push(site.as_str());
            }
        }
        if known_sites == 0 {
            continue;
        }
        let l = labels(&[("service", &svc.name)]);
        let total = svc.members.len();
        let up_sites = total - down_sites.len();
        let out_of_service = up_sites < svc.min_sites;
        if ctx.on("service_degraded") {
            let summary = Texts::new(|l| words::service_degraded(l, &svc.name, &down_sites));
            let active = !down_sites.is_empty() && !out_of_service;
            out.push(cond("service_degraded", l.clone(), summary, Some(format!("{up_sites}/{total}")), active));
        }
        if ctx.on("service_outage") {
            let summary = Texts::new(|l| words::service_outage(l, &svc.name, svc.min_sites, up_sites, &down_sites));
            out.push(cond("service_outage", l, summary, Some(format!("{up_sites}/{total}")), out_of_service));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::test_support::{cfg, obs, row, rows, state};
    use crate::model::ObsValue::Num;

    #[test]
    fn silent_sites_degrade_then_stop_a_service() {
        let c = cfg(concat!(
            "builtin: {agent_interval_secs: 10, agent_silent_intervals: 3}\n",
            "services:\n  - name: dns\n    min_sites: 1\n    members: {hn: [ns1], hcm: [ns2]}\n"
        ));
        let beat = |site, host| obs("dcwatch_agent", &[("site", site), ("host", host)], &[("dropped", Num(0.0))]);
        let start = Instant::now();
        let never = |_: &str, _: &std::collections::BTreeMap<String, String>| false;
        // (hosts heard at start, heard again 60 s later) → conditions at 60 s.
        let table = [
            (vec![("hn", "ns1"), ("hcm", "ns2")], vec![("hn", "ns1"), ("hcm", "ns2")], "2/2", false, false),
            (vec![("hn", "ns1"), ("hcm", "ns2")], vec![("hn", "ns1")], "1/2", true, false),
            (vec![("hn", "ns1"), ("hcm", "ns2")], vec![], "0/2", false, true),
        ];
        for (first, again, value, degraded, outage) in table {
            let pts: Vec<_> = first.iter().map(|(s, h)| beat(*s, *h)).collect();
            let mut latest = state(&pts, start);
            let later = start + Duration::from_secs(60);
            let owner = latest.owner("t");
            for (s, h) in &again {
                latest.observe(&beat(s, h), later, &owner, 1000);
            }
            let ctx = super::Ctx { cfg: &c, latest: &latest, now: later, now_s: 0, previously_active: &never };
            let mut out = Vec::new();
            super::conditions(&ctx, &mut out);
            assert_eq!(
                rows(&out),
                [
                    row("service_degraded", "service=dns", "warning", Some(value), degraded),
                    row("service_outage", "service=dns", "critical", Some(value), outage),
                ]
            );
        }
    }
}
