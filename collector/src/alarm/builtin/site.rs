//! The site family: a whole site gone. With a pair of collectors
//! (`peering:`), when the other site's collector does not answer and every
//! agent of that site has missed its heartbeats, the surviving collector
//! raises one `site_down` for the site — naming it, since when, the last
//! power state it heard there, the hosts and the services affected — and
//! it explains (inhibits) the site's per-host `agent_silent`.

use std::time::Instant;

use dcwatch_common::schema::{f, m};

use super::{Def, cond, labels};
use crate::alarm::conditions::{Cond, Latest};
use crate::alarm::config::AlarmsConfig;
use crate::alarm::config::Severity::Critical;
use crate::i18n::alarms::{self as words, Texts};

pub const DEFS: &[Def] =
    &[Def { name: "site_down", severity: Critical, reads: &[], explained_by: &[], uncapped: true }];

/// The site a peered collector serves, and since when it has not answered
/// (None: it answers), as `crate::peer` hands it to the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSite {
    pub site: String,
    pub peer: String,
    pub down_since_ms: Option<i64>,
}

/// How many of an agent's intervals it must have missed, at most, for a
/// site to count as gone once one of its agents is silent: the agents of a
/// site that lost power stop within one interval of each other, so when
/// the first is silent the others have missed at least this many.
const MISSED: f64 = 1.5;

/// The most hosts a summary names.
const NAMED_HOSTS: usize = 10;

/// The last power state heard at `site`: its feeds and its UPS.
pub fn power_state(latest: &Latest, site: &str) -> words::SitePower {
    let mut p = words::SitePower::default();
    for s in latest.series.values().filter(|s| s.tag("site") == site) {
        if s.measurement == m::POWER_FEED && !s.tag("feed").is_empty() {
            if let Some(live) = s.flag(f::LIVE) {
                p.feeds.push((s.tag("feed").to_string(), live));
            }
        } else if s.measurement == m::UPS && !s.tag("device").is_empty() {
            let on_battery = s.flag(f::ON_BATTERY).unwrap_or(false);
            p.ups.push((s.tag("device").to_string(), on_battery, s.num(f::RUNTIME_REMAINING_S)));
        }
    }
    p.feeds.sort();
    p.ups.sort_by(|a, b| a.0.cmp(&b.0));
    p
}

/// Where a site stands between evaluations: gone, or back since the first
/// of it (its collector, an agent) was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteState {
    /// Since when its collector has not answered (ms).
    Down(i64),
    /// Back since, and since when it had been down.
    Returning(Instant, i64),
}

/// `site_down` for each peer's site. A site that was down stays so while
/// its servers come back one by one: until every agent writes again, or
/// `site_return_grace_secs` after the first did (then those still silent
/// alarm on their own), so a site's return is one resolve, not a flood of
/// `agent_silent` for the hosts that boot last. `states` is the engine's
/// memory of it.
pub fn conditions(
    cfg: &AlarmsConfig,
    latest: &Latest,
    peers: &[PeerSite],
    states: &mut std::collections::HashMap<String, SiteState>,
    now: Instant,
) -> Vec<Cond> {
    let mut out = Vec::new();
    if !cfg.enabled("site_down") {
        states.clear();
        return out;
    }
    let zone = cfg.zone();
    for p in peers {
        // Each agent of the site: its host, whether it missed a beat, whether it is silent.
        let agents: Vec<(&str, bool, bool)> = latest
            .agents
            .iter()
            .filter(|((site, _), _)| *site == p.site)
            .map(|((_, host), b)| {
                let interval = b.interval_secs.unwrap_or(cfg.builtin.agent_interval_secs as f64);
                (host.as_str(), b.quiet_secs(now) >= interval * MISSED, b.silent(&cfg.builtin, now))
            })
            .collect();
        // Nothing heard of the site since this collector started (a
        // restart; the hosts expired): no condition, so a site_down restored
        // from before is not resolved for want of knowing.
        if agents.is_empty() && !states.contains_key(&p.site) {
            continue;
        }
        let down =
            p.down_since_ms.is_some() && !agents.is_empty() && agents.iter().all(|a| a.1) && agents.iter().any(|a| a.2);
        let grace = std::time::Duration::from_secs(cfg.builtin.site_return_grace_secs);
        let (active, since) = match (down, states.get(&p.site).copied()) {
            (true, _) => {
                let since = p.down_since_ms.unwrap_or_default();
                states.insert(p.site.clone(), SiteState::Down(since));
                (true, since)
            }
            (false, Some(SiteState::Down(since))) if agents.iter().any(|a| a.2) => {
                states.insert(p.site.clone(), SiteState::Returning(now, since));
                (true, since)
            }
            (false, Some(SiteState::Returning(t, since)))
                if agents.iter().any(|a| a.2) && now.saturating_duration_since(t) < grace =>
            {
                (true, since)
            }
            (false, state) => {
                states.remove(&p.site);
                let since = match state {
                    Some(SiteState::Down(s) | SiteState::Returning(_, s)) => s,
                    None => p.down_since_ms.unwrap_or_default(),
                };
                (false, since)
            }
        };
        let mut hosts: Vec<&str> = agents.iter().map(|a| a.0).collect();
        hosts.sort_unstable();
        let services: Vec<&str> = cfg
            .services
            .iter()
            .filter(|s| s.members.get(&p.site).is_some_and(|m| !m.is_empty()))
            .map(|s| s.name.as_str())
            .collect();
        let power = power_state(latest, &p.site);
        let summary = Texts::new(|l| {
            let named: Vec<&str> = hosts.iter().take(NAMED_HOSTS).copied().collect();
            words::site_down(l, &p.site, &p.peer, &l.time(since, &zone), hosts.len(), &named, &services, &power)
        });
        let l = labels(&[("site", &p.site)]);
        out.push(cond("site_down", l, summary, Some(hosts.len().to_string()), active));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alarm::builtin::test_support::{cfg, obs, row, rows};
    use crate::model::ObsValue::{Bool, Num};

    /// Hosts `b1`..`b3` of site hn-dc2 beat every 10 s, the last beats 0, 2
    /// and 4 s after `t0`; a UPS on battery and feed A down were heard.
    fn latest(t0: Instant) -> Latest {
        let mut l = Latest::default();
        let owner = l.owner("t");
        for (i, host) in ["b1", "b2", "b3"].iter().enumerate() {
            let beat = obs("dcwatch_agent", &[("site", "hn-dc2"), ("host", host)], &[("interval_s", Num(10.0))]);
            l.observe(&beat, t0 + Duration::from_secs(2 * i as u64), &owner, 1000);
        }
        let a1 = obs("dcwatch_agent", &[("site", "hn"), ("host", "a1")], &[("interval_s", Num(10.0))]);
        l.observe(&a1, t0, &owner, 1000);
        let ups = obs(
            "ups",
            &[("site", "hn-dc2"), ("device", "ups-b1")],
            &[("on_battery", Bool(true)), ("runtime_remaining_s", Num(754.0))],
        );
        let feed = obs("power_feed", &[("site", "hn-dc2"), ("feed", "A")], &[("live", Bool(false))]);
        l.observe(&ups, t0, &owner, 1000);
        l.observe(&feed, t0, &owner, 1000);
        l
    }

    #[test]
    fn a_site_is_down_when_its_collector_and_every_agent_there_are_silent() {
        let c = cfg(concat!(
            "sites:\n  - name: hn\n  - name: hn-dc2\n",
            "services:\n  - name: dvc\n    members: {hn: [a1], hn-dc2: [b1, b2]}\n",
            "builtin: {agent_interval_secs: 10, agent_silent_intervals: 3}\n",
        ));
        let t0 = Instant::now();
        let l = latest(t0);
        let gone = [PeerSite { site: "hn-dc2".into(), peer: "dc2".into(), down_since_ms: Some(1_795_363_200_000) }];
        let up = [PeerSite { down_since_ms: None, ..gone[0].clone() }];
        // (peer, seconds after t0) → active: b1 is silent past 30 s; by then
        // b3 (4 s later) has missed a beat (15 s) too.
        let table = [(&gone, 30, false), (&gone, 31, true), (&up, 31, false), (&gone, 18, false)];
        for (peers, after, active) in table {
            let out = conditions(&c, &l, peers, &mut Default::default(), t0 + Duration::from_secs(after));
            assert_eq!(rows(&out), [row("site_down", "site=hn-dc2", "critical", Some("3"), active)], "{after}");
        }
        let out = conditions(&c, &l, &gone, &mut Default::default(), t0 + Duration::from_secs(31));
        assert_eq!(
            out[0].summary.en,
            "SITE hn-dc2 DOWN: collector dc2 unreachable since 22 Nov 2026 16:00 and all 3 hosts silent (b1, b2, b3); \
             last power state: feed A down, UPS ups-b1 on battery, 12 min left; 1 service now runs at the other \
             site only (dvc)"
        );
        assert_eq!(
            out[0].summary.vi,
            "MẤT TRUNG TÂM hn-dc2: collector dc2 không trả lời từ 22/11/2026 16:00 và cả 3 máy chủ đều im lặng \
             (b1, b2, b3); trạng thái điện cuối cùng: nguồn A mất điện, UPS ups-b1 chạy ắc quy, còn 12 phút; 1 dịch \
             vụ chỉ còn chạy ở trung tâm kia (dvc)"
        );
        assert_eq!(out[0].inhibits, crate::alarm::builtin::EXPLAINED_BY_SITE);
        assert_eq!(crate::alarm::builtin::EXPLAINED_BY_SITE, ["agent_silent"]);
    }

    /// The site comes back: its collector first, then its servers one by
    /// one. site_down holds until all are back, or the grace after the first.
    #[test]
    fn a_returning_site_stays_down_until_every_agent_is_back_or_the_grace_has_passed() {
        let c = cfg(concat!(
            "sites:\n  - name: hn\n  - name: hn-dc2\n",
            "builtin: {agent_interval_secs: 10, agent_silent_intervals: 3, site_return_grace_secs: 120}\n",
        ));
        let t0 = Instant::now();
        let mut l = latest(t0);
        let gone = [PeerSite { site: "hn-dc2".into(), peer: "dc2".into(), down_since_ms: Some(1_795_363_200_000) }];
        let up = [PeerSite { down_since_ms: None, ..gone[0].clone() }];
        let mut states = std::collections::HashMap::new();
        let mut cond_at = |l: &Latest, peers: &[PeerSite], secs: u64| {
            conditions(&c, l, peers, &mut states, t0 + Duration::from_secs(secs)).remove(0)
        };
        assert!(cond_at(&l, &gone, 40).active);
        // The collector answers again, the servers are still booting.
        assert!(cond_at(&l, &up, 50).active);
        // b1 is back: the others still silent, within the grace.
        let owner = l.owner("t");
        let beat = |h: &str| obs("dcwatch_agent", &[("site", "hn-dc2"), ("host", h)], &[("interval_s", Num(10.0))]);
        l.observe(&beat("b1"), t0 + Duration::from_secs(100), &owner, 1000);
        assert!(cond_at(&l, &up, 100).active);
        // While it returns, it still says since when it was gone.
        let summary = cond_at(&l, &up, 100).summary.en;
        assert!(summary.contains("unreachable since 22 Nov 2026 16:00 "), "{summary}");
        // b2 too, then b3: all back, it resolves.
        l.observe(&beat("b2"), t0 + Duration::from_secs(110), &owner, 1000);
        assert!(cond_at(&l, &up, 110).active);
        l.observe(&beat("b3"), t0 + Duration::from_secs(115), &owner, 1000);
        assert!(!cond_at(&l, &up, 115).active);
        // Another loss, and a return where b3 never comes back: it resolves
        // 120 s after the return began, and b3 alarms on its own.
        assert!(cond_at(&l, &gone, 300).active);
        l.observe(&beat("b1"), t0 + Duration::from_secs(310), &owner, 1000);
        l.observe(&beat("b2"), t0 + Duration::from_secs(310), &owner, 1000);
        assert!(cond_at(&l, &up, 310).active);
        assert!(cond_at(&l, &up, 429).active);
        assert!(!cond_at(&l, &up, 431).active);
        assert!(!cond_at(&l, &up, 500).active, "the return is over: not down again while the collector answers");
    }

    #[test]
    fn a_site_without_agents_or_without_a_peer_site_raises_nothing() {
        let c = cfg("sites:\n  - name: hn\n  - name: hn-dc3\n");
        let t0 = Instant::now();
        let gone = [PeerSite { site: "hn-dc3".into(), peer: "dc3".into(), down_since_ms: Some(0) }];
        // No agent of it heard (since a restart, say): no condition at all,
        // so a site_down restored from before is not resolved blindly.
        let out = conditions(&c, &latest(t0), &gone, &mut Default::default(), t0 + Duration::from_secs(100));
        assert_eq!(rows(&out), []);
        assert!(conditions(&c, &latest(t0), &[], &mut Default::default(), t0 + Duration::from_secs(100)).is_empty());
    }
}
