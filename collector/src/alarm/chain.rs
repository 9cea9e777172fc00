//! Each site's power chain as the latest values show it: feeds → ATS →
//! generator → each UPS → the hosts it powers (from `sites[].ups`), with
//! the agents silent, devices down and backups late beside it. What the
//! console's overview draws; typed, so a page cannot misspell a field.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use dcwatch_common::schema::{f, m};

use super::Engine;
use super::conditions::{Latest, Series};
use super::config::AlarmsConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub name: String,
    /// None: configured, but nothing reported it.
    pub live: Option<bool>,
    pub voltage_v: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ats {
    pub device: String,
    /// The source it switched to (`A`, `B`), as the device names it.
    pub active_source: Option<String>,
    /// On its secondary source (what `ats_on_secondary` fires on).
    pub on_source_b: Option<bool>,
    pub redundant: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    pub device: String,
    pub running: Option<bool>,
    pub state: Option<String>,
    pub fuel_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// Its agent's heartbeats stopped; None: never heard from.
    pub silent: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ups {
    pub device: String,
    /// None: configured, but nothing reported it.
    pub status: Option<String>,
    pub on_battery: Option<bool>,
    pub charge_pct: Option<f64>,
    pub runtime_s: Option<f64>,
    pub load_pct: Option<f64>,
    /// Its device is down (`device.up` false: the agent cannot reach it).
    pub unreachable: bool,
    /// The hosts it powers (`sites[].ups`), in the config's order.
    pub hosts: Vec<Host>,
}

impl Ups {
    /// A UPS nothing has reported yet, powering no host listed.
    pub fn new(device: &str) -> Ups {
        Ups {
            device: device.to_string(),
            status: None,
            on_battery: None,
            charge_pct: None,
            runtime_s: None,
            load_pct: None,
            unreachable: false,
            hosts: Vec::new(),
        }
    }
}

/// One site.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub name: String,
    /// The configured feeds first (in their order), then any other reported.
    pub feeds: Vec<Feed>,
    /// How many of the configured feeds are live.
    pub feeds_expected: usize,
    pub ats: Vec<Ats>,
    pub generators: Vec<Generator>,
    /// The configured UPS first, then any other reported at the site.
    pub ups: Vec<Ups>,
    pub agents_silent: usize,
    pub agents: usize,
    pub devices_down: Vec<String>,
    pub backups_late: usize,
}

/// What the feeds and the generator say of a site's power, as the power
/// alarms judge it (`builtin/power.rs`): only the feeds that reported count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redundancy {
    /// Two or more feeds, every one that reported live.
    Full { live: Vec<String> },
    /// One feed reported, and it is live: no redundancy to lose.
    Single { live: String },
    /// Some feeds lost: the ones still live, and those lost.
    Degraded { live: Vec<String>, lost: Vec<String> },
    /// Every feed that reported is lost: on the generator (Some(true)),
    /// with a generator that is not running (Some(false)), or with none
    /// reported (None): on the UPS batteries.
    Lost { generator: Option<bool> },
    /// No feed has reported.
    Unknown,
}

impl Site {
    pub fn redundancy(&self) -> Redundancy {
        // The configured feeds; a site only reported: the feeds it reports.
        let feeds = if self.feeds_expected == 0 { &self.feeds[..] } else { &self.feeds[..self.feeds_expected] };
        let live: Vec<String> = feeds.iter().filter(|f| f.live == Some(true)).map(|f| f.name.clone()).collect();
        let lost: Vec<String> = feeds.iter().filter(|f| f.live == Some(false)).map(|f| f.name.clone()).collect();
        match (live.len(), lost.len()) {
            (0, 0) => Redundancy::Unknown,
            (0, _) => Redundancy::Lost {
                generator: if self.generators.is_empty() {
                    None
                } else {
                    Some(self.generators.iter().any(|g| g.running == Some(true)))
                },
            },
            (1, 0) => Redundancy::Single { live: live[0].clone() },
            (_, 0) => Redundancy::Full { live },
            _ => Redundancy::Degraded { live, lost },
        }
    }
}

impl Engine {
    /// Every configured site's chain (and any site only reported), by name.
    pub fn chains(&self, now: Instant) -> Vec<Site> {
        let cfg = self.config();
        let mut latest = self.latest.lock().expect("not poisoned");
        self.apply_pending(&mut latest, cfg.limits.max_series_per_token);
        chains(&cfg, &latest, now, super::now_ms())
    }
}

fn text(s: &Series, field: &str) -> Option<String> {
    s.text(field).map(str::to_string)
}

/// The chains from the latest values (apart from the engine, for tests).
pub fn chains(cfg: &AlarmsConfig, latest: &Latest, now: Instant, now_ms: i64) -> Vec<Site> {
    let mut sites: BTreeMap<String, Site> = BTreeMap::new();
    let blank = |name: &str| Site {
        name: name.to_string(),
        feeds: Vec::new(),
        feeds_expected: 0,
        ats: Vec::new(),
        generators: Vec::new(),
        ups: Vec::new(),
        agents_silent: 0,
        agents: 0,
        devices_down: Vec::new(),
        backups_late: 0,
    };
    for c in &cfg.sites {
        let mut s = blank(&c.name);
        s.feeds = c.feeds.iter().map(|f| Feed { name: f.clone(), live: None, voltage_v: None }).collect();
        s.feeds_expected = s.feeds.len();
        s.ups = c
            .ups
            .iter()
            .map(|(device, hosts)| Ups {
                hosts: hosts.iter().map(|h| Host { name: h.clone(), silent: None }).collect(),
                ..Ups::new(device)
            })
            .collect();
        sites.insert(c.name.clone(), s);
    }
    let mut down: BTreeSet<(String, String)> = BTreeSet::new();
    let mut series: Vec<&Series> = latest.series.values().collect();
    series.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
    for s in series {
        let site_name = s.tag("site");
        if site_name.is_empty() {
            continue;
        }
        let site = sites.entry(site_name.to_string()).or_insert_with(|| blank(site_name));
        read(site, s, &mut down);
    }
    for ((site, host), beat) in &latest.agents {
        let Some(s) = sites.get_mut(site) else { continue };
        let silent = beat.silent(&cfg.builtin, now);
        s.agents += 1;
        s.agents_silent += usize::from(silent);
        for u in &mut s.ups {
            for h in u.hosts.iter_mut().filter(|h| &h.name == host) {
                h.silent = Some(silent);
            }
        }
    }
    // Backups late, failed, missing, never seen, shrunk or not replicated:
    // judged as the backups page and the backup alarms judge them.
    for job in super::backups::jobs(cfg, latest, now_ms / 1000).iter().filter(|j| j.rank() < 2) {
        if let Some(s) = sites.get_mut(&job.site) {
            s.backups_late += 1;
        }
    }
    for (site, device) in down {
        let s = sites.get_mut(&site).expect("inserted above");
        if let Some(u) = s.ups.iter_mut().find(|u| u.device == device) {
            u.unreachable = true;
        }
        s.devices_down.push(device);
    }
    sites.into_values().collect()
}

/// What one series says of its site's chain.
fn read(site: &mut Site, s: &Series, down: &mut BTreeSet<(String, String)>) {
    match s.measurement.as_str() {
        m::POWER_FEED if !s.tag("feed").is_empty() => {
            let name = s.tag("feed");
            let i = site.feeds.iter().position(|f| f.name == name).unwrap_or_else(|| {
                site.feeds.push(Feed { name: name.to_string(), live: None, voltage_v: None });
                site.feeds.len() - 1
            });
            let feed = &mut site.feeds[i];
            // Two devices may report one feed (the ATS and a meter): live if either says so.
            feed.live = match (feed.live, s.flag(f::LIVE)) {
                (Some(a), Some(b)) => Some(a || b),
                (a, b) => a.or(b),
            };
            feed.voltage_v = feed.voltage_v.or(s.num(f::VOLTAGE_V));
        }
        m::ATS => site.ats.push(Ats {
            device: s.tag("device").to_string(),
            active_source: text(s, f::ACTIVE_SOURCE),
            on_source_b: s.flag(f::ON_SOURCE_B),
            redundant: s.flag(f::REDUNDANT),
        }),
        m::GENERATOR => site.generators.push(Generator {
            device: s.tag("device").to_string(),
            running: s.flag(f::RUNNING),
            state: text(s, f::STATE),
            fuel_pct: s.num(f::FUEL_PCT),
        }),
        m::UPS => {
            let device = s.tag("device");
            let i = site.ups.iter().position(|u| u.device == device).unwrap_or_else(|| {
                site.ups.push(Ups::new(device));
                site.ups.len() - 1
            });
            let u = &mut site.ups[i];
            u.status = text(s, f::STATUS);
            u.on_battery = s.flag(f::ON_BATTERY);
            u.charge_pct = s.num(f::BATTERY_CHARGE_PCT);
            u.runtime_s = s.num(f::RUNTIME_REMAINING_S);
            u.load_pct = s.num(f::LOAD_PCT);
        }
        m::DEVICE if s.flag(f::UP) == Some(false) => {
            down.insert((site.name.clone(), s.tag("device").to_string()));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::conditions::Beat;
    use crate::model::ObsValue;
    use std::collections::HashMap;

    fn cfg() -> AlarmsConfig {
        crate::alarm::builtin::test_support::cfg(
            "sites:\n  - name: hn\n    feeds: [A, B]\n    ups:\n      ups1: [web1, db1]\n",
        )
    }

    fn series(measurement: &str, tags: &[(&str, &str)], fields: &[(&str, ObsValue)]) -> Series {
        Series {
            measurement: measurement.to_string(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<HashMap<_, _>>(),
            owner: "t".into(),
            updated: Instant::now(),
        }
    }

    fn latest(list: Vec<Series>) -> Latest {
        let mut l = Latest::default();
        for (i, s) in list.into_iter().enumerate() {
            l.series.insert(i.to_string(), s);
        }
        l
    }

    /// Regression: the count read a field `ok` no agent sends (they send
    /// `status`) and judged late without the grace; it now counts what the
    /// backups page and the backup alarms judge: here one failed, one
    /// missing, one late past RPO and grace, one fine, one only inside its
    /// grace (the old count said 2: the late one and the one in its grace).
    #[test]
    fn the_backups_counted_are_those_failed_or_late_as_the_backup_alarms_judge_them() {
        use ObsValue::{Num, Str};
        let now_ms = 1_800_000_000_000;
        let now_s = now_ms / 1000;
        let job = |name: &str, status: &str, age_s: i64| {
            series(
                "backup",
                &[("site", "hn"), ("host", "db1"), ("job", name), ("kind", "restic")],
                &[
                    ("status", Str(status.into())),
                    ("last_success_ts", Num((now_s - age_s) as f64)),
                    ("rpo_s", Num(86_400.0)),
                ],
            )
        };
        let l = latest(vec![
            job("failed", "failed", 3_600),
            job("missing", "missing", 60),
            job("late", "ok", 86_400 + 4 * 3_600),
            job("fine", "ok", 3_600),
            job("in-grace", "ok", 86_400 + 60),
        ]);
        let sites = chains(&cfg(), &l, Instant::now(), now_ms);
        assert_eq!(sites.iter().find(|s| s.name == "hn").map(|s| s.backups_late), Some(3));
    }

    #[test]
    fn feed_a_lost_with_the_ups_on_battery_and_the_generator_running_is_drawn_as_such() {
        use ObsValue::{Bool, Num, Str};
        let mut l = latest(vec![
            series("power_feed", &[("site", "hn"), ("device", "ats1"), ("feed", "A")], &[("live", Bool(false))]),
            series("power_feed", &[("site", "hn"), ("device", "ats1"), ("feed", "B")], &[("live", Bool(true))]),
            series("ats", &[("site", "hn"), ("device", "ats1")], &[("active_source", Str("B".into()))]),
            series(
                "generator",
                &[("site", "hn"), ("device", "gen1")],
                &[("running", Bool(true)), ("fuel_pct", Num(80.0))],
            ),
            series(
                "ups",
                &[("site", "hn"), ("device", "ups1")],
                &[
                    ("status", Str("on_battery".into())),
                    ("on_battery", Bool(true)),
                    ("battery_charge_pct", Num(91.0)),
                    ("runtime_remaining_s", Num(1500.0)),
                    ("load_pct", Num(35.0)),
                ],
            ),
        ]);
        let now = Instant::now();
        let beat = Beat {
            received: now,
            last_ts: 0,
            interval_secs: Some(10.0),
            dropped: None,
            dropped_grew: None,
            owner: "t".into(),
        };
        l.agents.insert(("hn".into(), "web1".into()), beat);
        let sites = chains(&cfg(), &l, now, 0);
        assert_eq!(sites.len(), 1);
        let s = &sites[0];
        assert_eq!(
            s.feeds,
            vec![
                Feed { name: "A".into(), live: Some(false), voltage_v: None },
                Feed { name: "B".into(), live: Some(true), voltage_v: None }
            ]
        );
        assert_eq!(s.redundancy(), Redundancy::Degraded { live: vec!["B".into()], lost: vec!["A".into()] });
        assert_eq!(
            s.ats,
            vec![Ats { device: "ats1".into(), active_source: Some("B".into()), on_source_b: None, redundant: None }]
        );
        assert_eq!(
            s.generators,
            vec![Generator { device: "gen1".into(), running: Some(true), state: None, fuel_pct: Some(80.0) }]
        );
        assert_eq!(
            s.ups,
            vec![Ups {
                device: "ups1".into(),
                status: Some("on_battery".into()),
                on_battery: Some(true),
                charge_pct: Some(91.0),
                runtime_s: Some(1500.0),
                load_pct: Some(35.0),
                unreachable: false,
                hosts: vec![
                    Host { name: "web1".into(), silent: Some(false) },
                    Host { name: "db1".into(), silent: None }
                ],
            }]
        );
        assert_eq!((s.agents, s.agents_silent), (1, 0));
    }

    #[test]
    fn no_feed_live_is_lost_power_and_says_whether_the_generator_runs() {
        use ObsValue::Bool;
        let l = latest(vec![
            series("power_feed", &[("site", "hn"), ("feed", "A")], &[("live", Bool(false))]),
            series("power_feed", &[("site", "hn"), ("feed", "B")], &[("live", Bool(false))]),
            series("device", &[("site", "hn"), ("device", "ups1")], &[("up", Bool(false))]),
        ]);
        let s = &chains(&cfg(), &l, Instant::now(), 0)[0];
        assert_eq!(s.redundancy(), Redundancy::Lost { generator: None });
        assert_eq!(s.devices_down, vec!["ups1".to_string()]);
        assert!(s.ups[0].unreachable, "the UPS whose device is down is drawn unreachable");
        assert_eq!(s.ups[0].status, None);
    }

    /// Regression (review): an unreported feed counted as lost, and one live
    /// feed was "fully redundant".
    #[test]
    fn only_reported_feeds_count_as_the_power_alarms_count_them() {
        use ObsValue::Bool;
        let feed =
            |name: &str, live: bool| series("power_feed", &[("site", "hn"), ("feed", name)], &[("live", Bool(live))]);
        let gen_stopped = series("generator", &[("site", "hn"), ("device", "g")], &[("running", Bool(false))]);
        let cases = [
            (vec![feed("A", true)], Redundancy::Single { live: "A".into() }),
            (vec![feed("A", false)], Redundancy::Lost { generator: None }),
            (vec![feed("A", false), gen_stopped.clone()], Redundancy::Lost { generator: Some(false) }),
            (vec![feed("A", true), feed("B", true)], Redundancy::Full { live: vec!["A".into(), "B".into()] }),
            (
                vec![feed("A", true), feed("B", false)],
                Redundancy::Degraded { live: vec!["A".into()], lost: vec!["B".into()] },
            ),
        ];
        for (list, want) in cases {
            let s = &chains(&cfg(), &latest(list), Instant::now(), 0)[0];
            assert_eq!(s.redundancy(), want);
        }
        // A site no `sites:` entry names: its reported feeds count.
        let other = series("power_feed", &[("site", "dn"), ("feed", "A")], &[("live", Bool(true))]);
        let other2 = series("power_feed", &[("site", "dn"), ("feed", "B")], &[("live", Bool(true))]);
        let sites = chains(&cfg(), &latest(vec![other, other2]), Instant::now(), 0);
        assert_eq!(
            (sites[0].name.as_str(), sites[0].redundancy()),
            ("dn", Redundancy::Full { live: vec!["A".into(), "B".into()] })
        );
    }

    #[test]
    fn a_site_without_reports_shows_its_configured_feeds_unknown() {
        let s = &chains(&cfg(), &Latest::default(), Instant::now(), 0)[0];
        assert_eq!(s.redundancy(), Redundancy::Unknown);
        assert_eq!(s.feeds[0], Feed { name: "A".into(), live: None, voltage_v: None });
    }
}
