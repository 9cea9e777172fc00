//! What is wrong right now: the latest value of every watched series, and
//! the conditions the built-in alarms and the rules see in them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use super::config::{AlarmsConfig, RuleConfig, Severity};
use crate::ingest::lines::{ObsValue, Observation};

/// Alarms a site's power alarm explains (and inhibits).
pub const EXPLAINED_BY_POWER: &[&str] = &[
    "feed_lost",
    "power_redundancy_degraded",
    "ups_on_battery",
    "ups_output_off",
    "agent_silent",
    "device_unreachable",
];

/// The measurements the built-in alarms read.
pub const BUILTIN_MEASUREMENTS: &[&str] =
    &["ups", "power_feed", "ats", "generator", "device", "dcwatch_agent", "host_disk", "backup"];

/// The severity of a built-in alarm (docs/alarms.md), for reports that read
/// the history; None for a rule's.
pub fn builtin_severity(name: &str) -> Option<&'static str> {
    Some(match name {
        "ups_on_battery"
        | "ups_low_battery"
        | "ups_runtime_low"
        | "ups_overload"
        | "ups_output_off"
        | "power_lost"
        | "generator_not_running"
        | "agent_silent"
        | "service_outage"
        | "sink_down"
        | "notification_failing"
        | "backup_stale" => "critical",
        "generator_running" => "info",
        n if super::config::BUILTIN_NAMES.contains(&n) => "warning",
        _ => return None,
    })
}

/// Who added an entry to the latest-state table: a token's name.
pub type Owner = std::sync::Arc<str>;

/// The latest value of each field of a series (fields merge: a trap's
/// `on_battery` and a poll's full point update the same series).
#[derive(Debug, Clone)]
pub struct Series {
    pub measurement: String,
    pub tags: BTreeMap<String, String>,
    pub fields: HashMap<String, ObsValue>,
    /// The token that added it (its cap counts it), and when it was last written.
    pub owner: Owner,
    pub updated: Instant,
}

impl Series {
    pub fn num(&self, f: &str) -> Option<f64> {
        match self.fields.get(f)? {
            ObsValue::Num(x) => Some(*x),
            _ => None,
        }
    }

    pub fn flag(&self, f: &str) -> Option<bool> {
        match self.fields.get(f)? {
            ObsValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn text(&self, f: &str) -> Option<&str> {
        match self.fields.get(f)? {
            ObsValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn tag(&self, k: &str) -> &str {
        self.tags.get(k).map_or("", String::as_str)
    }
}

/// An agent's heartbeats: when the last arrived, and its interval as seen.
#[derive(Debug, Clone)]
pub struct Beat {
    pub received: Instant,
    pub last_ts: i64,
    pub interval_secs: Option<f64>,
    /// The agent's `dropped` counter as last seen, and when it last grew.
    pub dropped: Option<f64>,
    pub dropped_grew: Option<Instant>,
    pub owner: Owner,
}

/// A filesystem's samples are kept this long: the forecast reads 6 hours.
const DISK_HISTORY_NS: i64 = 6 * 3_600_000_000_000;

#[derive(Debug, Default)]
pub struct Latest {
    pub series: HashMap<String, Series>,
    pub agents: HashMap<(String, String), Beat>,
    /// Per filesystem (series key), one (ts, used_bytes, total_bytes) sample
    /// a minute for the last 6 hours: the disk-full forecast.
    pub disk_history: HashMap<String, std::collections::VecDeque<(i64, f64, f64)>>,
    /// The first evaluation: expected backup jobs get a grace from here.
    pub since: Option<Instant>,
    /// Per token: the series and heartbeats it added, the points the cap
    /// kept out, and when that was last logged.
    pub owners: HashMap<Owner, OwnerCount>,
}

#[derive(Debug, Default, Clone)]
pub struct OwnerCount {
    pub entries: usize,
    pub refused: u64,
    pub warned: Option<Instant>,
}

/// What became of an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Stored,
    /// A new series (or heartbeat) past its token's cap: not kept.
    OverCap,
}

impl Latest {
    /// The shared name of `token`, made once.
    pub fn owner(&mut self, token: &str) -> Owner {
        match self.owners.get_key_value(token) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Owner = token.into();
                self.owners.insert(k.clone(), OwnerCount::default());
                k
            }
        }
    }

    /// Takes a point into the table. A point of a new series (or a new
    /// agent's heartbeat) when its token already has `cap` entries is left
    /// out, so one token cannot make the table grow without end.
    pub fn observe(&mut self, o: &Observation, now: Instant, owner: &Owner, cap: usize) -> Observed {
        let tags: BTreeMap<String, String> = o.tags.iter().cloned().collect();
        let mut key = o.measurement.clone();
        for (k, v) in &tags {
            key.push(',');
            key.push_str(k);
            key.push('=');
            key.push_str(v);
        }
        let beat = (o.measurement == "dcwatch_agent")
            .then(|| (o.tag("site").unwrap_or("").to_string(), o.tag("host").unwrap_or("").to_string()));
        let new = usize::from(!self.series.contains_key(&key))
            + usize::from(beat.as_ref().is_some_and(|b| !self.agents.contains_key(b)));
        if new > 0 {
            let count = self.owners.entry(owner.clone()).or_default();
            if count.entries + new > cap {
                count.refused += 1;
                return Observed::OverCap;
            }
            count.entries += new;
        }
        if o.measurement == "host_disk" {
            let num = |f: &str| match o.fields.iter().find(|(k, _)| k == f).map(|(_, v)| v) {
                Some(ObsValue::Num(x)) => Some(*x),
                _ => None,
            };
            if let (Some(used), Some(total)) = (num("used_bytes"), num("total_bytes")) {
                let h = self.disk_history.entry(key.clone()).or_default();
                if h.back().is_none_or(|(t, _, _)| o.ts - t >= 60_000_000_000) {
                    h.push_back((o.ts, used, total));
                    while h.front().is_some_and(|(t, _, _)| o.ts - t > DISK_HISTORY_NS) {
                        h.pop_front();
                    }
                }
            }
        }
        let s = self.series.entry(key).or_insert_with(|| Series {
            measurement: o.measurement.clone(),
            tags,
            fields: HashMap::new(),
            owner: owner.clone(),
            updated: now,
        });
        s.updated = now;
        // A backup point is the job's whole state: a field it leaves out
        // (no size change after a 0-byte backup) is gone, not kept from before.
        if o.measurement == "backup" {
            s.fields.clear();
        }
        for (k, v) in &o.fields {
            s.fields.insert(k.clone(), v.clone());
        }
        if let Some(who) = beat {
            let b = self.agents.entry(who).or_insert(Beat {
                received: now,
                last_ts: o.ts,
                interval_secs: None,
                dropped: None,
                dropped_grew: None,
                owner: owner.clone(),
            });
            if let Some(ObsValue::Num(d)) = o.fields.iter().find(|(k, _)| k == "dropped").map(|(_, v)| v) {
                if b.dropped.is_some_and(|prev| *d > prev) {
                    b.dropped_grew = Some(now);
                }
                b.dropped = Some(*d);
            }
            if o.ts > b.last_ts {
                let gap = (o.ts - b.last_ts) as f64 / 1e9;
                // The shortest gap seen is the interval (replays after an outage come faster).
                if gap >= 0.5 {
                    b.interval_secs = Some(b.interval_secs.map_or(gap, |i: f64| i.min(gap)).min(600.0));
                }
                b.last_ts = o.ts;
            }
            b.received = now;
        }
        Observed::Stored
    }

    /// Forgets the series and heartbeats not written for `ttl`; returns how many.
    pub fn expire(&mut self, now: Instant, ttl: std::time::Duration) -> usize {
        let stale = |t: Instant| now.saturating_duration_since(t) >= ttl;
        let mut gone: Vec<Owner> = Vec::new();
        let before = self.series.len() + self.agents.len();
        let history = &mut self.disk_history;
        self.series.retain(|key, s| {
            if !stale(s.updated) {
                return true;
            }
            history.remove(key);
            gone.push(s.owner.clone());
            false
        });
        self.agents.retain(|_, b| {
            if !stale(b.received) {
                return true;
            }
            gone.push(b.owner.clone());
            false
        });
        for o in gone {
            if let Some(c) = self.owners.get_mut(&o) {
                c.entries = c.entries.saturating_sub(1);
            }
        }
        before - self.series.len() - self.agents.len()
    }

    /// Whether some series or heartbeat carries all of `labels` as tags:
    /// an alarm without a condition whose labels none carries any more has
    /// lost what it was about.
    pub fn carries(&self, labels: &BTreeMap<String, String>) -> bool {
        self.series.values().any(|s| labels.iter().all(|(k, v)| s.tags.get(k) == Some(v)))
            || self.agents.keys().any(|(site, host)| {
                labels.iter().all(|(k, v)| match k.as_str() {
                    "site" => site == v,
                    "host" => host == v,
                    _ => false,
                })
            })
    }
}

/// One condition: an alarm that should be active (or clear) now.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub severity: Severity,
    pub summary: String,
    pub value: Option<String>,
    pub active: bool,
    /// How long it must hold before firing.
    pub for_secs: u64,
    /// Names of alarms this one explains at its site (inhibition), when active.
    pub inhibits: &'static [&'static str],
    /// When not empty: it explains those alarms only for these hosts.
    pub inhibit_hosts: Vec<String>,
}

pub fn fingerprint(name: &str, labels: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    for (k, v) in labels {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{:.1}", x) }
}

/// `previously_active(fingerprint)`: whether the alarm is pending or firing,
/// for hysteresis.
/// `now_ms` is the wall clock (backup ages).
pub fn evaluate(
    cfg: &AlarmsConfig,
    latest: &Latest,
    now: Instant,
    now_ms: i64,
    previously_active: &dyn Fn(&str, &BTreeMap<String, String>) -> bool,
) -> Vec<Cond> {
    let mut out = Vec::new();
    let on = |n: &str| cfg.enabled(n);
    let mut sites_with_generator: HashSet<String> = HashSet::new();
    let mut gens_stopped: HashMap<String, Vec<String>> = HashMap::new();
    // Feed states per site: feed → live.
    let mut feeds: HashMap<String, BTreeMap<String, bool>> = HashMap::new();
    let mut ups_by_site: HashMap<String, Vec<String>> = HashMap::new();
    for s in latest.series.values() {
        let site = s.tag("site");
        match s.measurement.as_str() {
            "ups" => {
                let dev = s.tag("device");
                let l = labels(&[("site", site), ("device", dev)]);
                if let Some(b) = s.flag("on_battery") {
                    if b {
                        let charge = s.num("battery_charge_pct").map(fmt_num).unwrap_or_else(|| "?".into());
                        let runtime = s
                            .num("runtime_remaining_s")
                            .map(|r| fmt_num((r / 60.0).floor()))
                            .unwrap_or_else(|| "?".into());
                        ups_by_site
                            .entry(site.to_string())
                            .or_default()
                            .push(format!("UPS {dev} on battery ({charge} %, {runtime} min left)"));
                    }
                    if on("ups_on_battery") {
                        let summary = format!(
                            "UPS {dev} at {site} is on battery ({} % charge, {} min runtime)",
                            s.num("battery_charge_pct").map(fmt_num).unwrap_or_else(|| "?".into()),
                            s.num("runtime_remaining_s")
                                .map(|r| fmt_num((r / 60.0).floor()))
                                .unwrap_or_else(|| "?".into())
                        );
                        push(&mut out, "ups_on_battery", l.clone(), Severity::Critical, summary, None, b);
                    }
                }
                if on("ups_low_battery")
                    && let Some(b) = s.flag("low_battery")
                {
                    push(
                        &mut out,
                        "ups_low_battery",
                        l.clone(),
                        Severity::Critical,
                        format!("UPS {dev} at {site}: battery low, shutdown near"),
                        None,
                        b,
                    );
                }
                if on("ups_runtime_low")
                    && let Some(r) = s.num("runtime_remaining_s")
                {
                    let limit = cfg.builtin.ups_runtime_min * 60.0;
                    let was = previously_active("ups_runtime_low", &l);
                    let on_batt = s.flag("on_battery").unwrap_or(false);
                    // Clears 20 % above the threshold, or back on mains.
                    let active = on_batt && (r < limit || (was && r < limit * 1.2));
                    push(
                        &mut out,
                        "ups_runtime_low",
                        l.clone(),
                        Severity::Critical,
                        format!("UPS {dev} at {site}: {} min of runtime left", fmt_num((r / 60.0).floor())),
                        Some(fmt_num(r)),
                        active,
                    );
                }
                if on("ups_replace_battery")
                    && let Some(b) = s.flag("replace_battery")
                {
                    push(
                        &mut out,
                        "ups_replace_battery",
                        l.clone(),
                        Severity::Warning,
                        format!("UPS {dev} at {site}: replace the battery"),
                        None,
                        b,
                    );
                }
                if on("ups_output_off")
                    && let Some(st) = s.text("status")
                {
                    push(
                        &mut out,
                        "ups_output_off",
                        l.clone(),
                        Severity::Critical,
                        format!("UPS {dev} at {site}: output off ({st}); what it powers has no power"),
                        Some(st.to_string()),
                        st == "off" || st == "fault",
                    );
                }
                if on("ups_overload")
                    && let Some(b) = s.flag("overload")
                {
                    push(
                        &mut out,
                        "ups_overload",
                        l,
                        Severity::Critical,
                        format!("UPS {dev} at {site} is overloaded"),
                        None,
                        b,
                    );
                }
            }
            "power_feed" => {
                let feed = s.tag("feed");
                if feed.is_empty() {
                    continue;
                }
                if let Some(live) = s.flag("live") {
                    let e = feeds.entry(site.to_string()).or_default().entry(feed.to_string()).or_insert(live);
                    // Two meters on one feed: live if either sees it live.
                    *e = *e || live;
                }
            }
            "ats" => {
                let dev = s.tag("device");
                if on("ats_on_secondary") {
                    let secondary = match (s.text("active_source"), s.flag("on_source_b")) {
                        (Some(src), _) => Some(src != "A"),
                        (None, Some(b)) => Some(b),
                        _ => None,
                    };
                    if let Some(b) = secondary {
                        push(
                            &mut out,
                            "ats_on_secondary",
                            labels(&[("site", site), ("device", dev)]),
                            Severity::Warning,
                            format!("ATS {dev} at {site} is on its secondary source"),
                            s.text("active_source").map(str::to_string),
                            b,
                        );
                    }
                }
            }
            "generator" => {
                let dev = s.tag("device");
                sites_with_generator.insert(site.to_string());
                if let Some(run) = s.flag("running") {
                    if !run {
                        gens_stopped.entry(site.to_string()).or_default().push(dev.to_string());
                    }
                    if on("generator_running") {
                        push(
                            &mut out,
                            "generator_running",
                            labels(&[("site", site), ("device", dev)]),
                            Severity::Info,
                            format!("Generator {dev} at {site} is running"),
                            s.num("fuel_pct").map(|f| format!("fuel {} %", fmt_num(f))),
                            run,
                        );
                    }
                }
            }
            "device" => {
                if on("device_unreachable")
                    && let Some(up) = s.flag("up")
                {
                    let dev = s.tag("device");
                    push(
                        &mut out,
                        "device_unreachable",
                        labels(&[("site", site), ("device", dev)]),
                        Severity::Warning,
                        format!("{} {dev} at {site} does not answer ({})", s.tag("kind"), s.tag("protocol")),
                        None,
                        !up,
                    );
                }
            }
            "host_disk" => {
                if on("disk_full")
                    && let Some(p) = s.num("used_pct")
                {
                    let l = labels(&[("site", site), ("host", s.tag("host")), ("mount", s.tag("mount"))]);
                    let was = previously_active("disk_full", &l);
                    let active = p > cfg.builtin.disk_used_pct || (was && p > cfg.builtin.disk_clear_pct);
                    push(
                        &mut out,
                        "disk_full",
                        l,
                        Severity::Warning,
                        format!("{} on {} at {site} is {} % full", s.tag("mount"), s.tag("host"), fmt_num(p)),
                        Some(fmt_num(p)),
                        active,
                    );
                }
            }
            _ => {}
        }
    }
    for (site, fs) in &feeds {
        for (feed, live) in fs {
            if on("feed_lost") {
                push(
                    &mut out,
                    "feed_lost",
                    labels(&[("site", site), ("feed", feed)]),
                    Severity::Warning,
                    format!("Feed {feed} at {site} is down"),
                    None,
                    !live,
                );
            }
        }
    }
    for sc in &cfg.sites {
        let fs = feeds.get(&sc.name);
        let known: Vec<(&String, bool)> =
            sc.feeds.iter().filter_map(|f| fs.and_then(|m| m.get(f)).map(|l| (f, *l))).collect();
        if known.is_empty() {
            continue;
        }
        let live: Vec<&str> = known.iter().filter(|(_, l)| *l).map(|(f, _)| f.as_str()).collect();
        let dead: Vec<&str> = known.iter().filter(|(_, l)| !*l).map(|(f, _)| f.as_str()).collect();
        let site = sc.name.as_str();
        let l = labels(&[("site", site)]);
        if on("power_redundancy_degraded") {
            let summary = format!(
                "Site {site}: power redundancy lost, only feed {} live ({} down)",
                live.join(", "),
                dead.join(", ")
            );
            out.push(Cond {
                name: "power_redundancy_degraded".into(),
                labels: l.clone(),
                severity: Severity::Warning,
                summary,
                value: Some(format!("{}/{}", live.len(), sc.feeds.len())),
                active: !dead.is_empty() && !live.is_empty(),
                for_secs: 0,
                inhibits: &["feed_lost"],
                inhibit_hosts: Vec::new(),
            });
        }
        let all_dead = live.is_empty() && !dead.is_empty();
        if on("power_lost") {
            let mut summary = format!("Site {site}: ALL power feeds down ({})", dead.join(", "));
            if let Some(u) = ups_by_site.get(site) {
                summary.push_str(&format!("; {}", u.join("; ")));
            }
            // The hosts it affects: those of the site that have gone silent.
            let silent: Vec<&str> = latest
                .agents
                .iter()
                .filter(|((s, _), b)| {
                    let interval = b.interval_secs.unwrap_or(cfg.builtin.agent_interval_secs as f64);
                    s == site
                        && now.saturating_duration_since(b.received).as_secs_f64()
                            > interval * f64::from(cfg.builtin.agent_silent_intervals)
                })
                .map(|((_, h), _)| h.as_str())
                .collect();
            let powered: std::collections::BTreeSet<&str> = sc.ups.values().flatten().map(String::as_str).collect();
            if !powered.is_empty() {
                summary.push_str(&format!("; {} host(s) on its UPS", powered.len()));
            }
            if !silent.is_empty() {
                let mut hosts = silent.clone();
                hosts.sort_unstable();
                let shown: Vec<&str> = hosts.iter().take(10).copied().collect();
                let more = if hosts.len() > 10 { format!(", … {} more", hosts.len() - 10) } else { String::new() };
                summary.push_str(&format!("; {} host(s) silent: {}{more}", hosts.len(), shown.join(", ")));
            }
            out.push(Cond {
                name: "power_lost".into(),
                labels: l.clone(),
                severity: Severity::Critical,
                summary,
                value: Some(format!("0/{}", sc.feeds.len())),
                active: all_dead,
                for_secs: 0,
                inhibits: EXPLAINED_BY_POWER,
                inhibit_hosts: Vec::new(),
            });
        }
        if on("generator_not_running") && sites_with_generator.contains(site) {
            let stopped = gens_stopped.get(site).cloned().unwrap_or_default();
            push(
                &mut out,
                "generator_not_running",
                l,
                Severity::Critical,
                format!("Site {site}: every feed is down and generator {} is not running", stopped.join(", ")),
                None,
                all_dead && !stopped.is_empty(),
            );
        }
    }
    if on("agent_silent") {
        for ((site, host), b) in &latest.agents {
            let interval = b.interval_secs.unwrap_or(cfg.builtin.agent_interval_secs as f64);
            let limit = interval * f64::from(cfg.builtin.agent_silent_intervals);
            let quiet = now.saturating_duration_since(b.received).as_secs_f64();
            push(
                &mut out,
                "agent_silent",
                labels(&[("site", site), ("host", host)]),
                Severity::Critical,
                format!("Host {host} at {site} has sent nothing for {} s", quiet as u64),
                Some(format!("{}", quiet as u64)),
                quiet > limit,
            );
        }
    }
    if on("agent_dropped_data") {
        for ((site, host), b) in &latest.agents {
            let Some(grew) = b.dropped_grew else { continue };
            // Active for an hour after the agent last lost points.
            let recent = now.saturating_duration_since(grew).as_secs() < 3600;
            push(
                &mut out,
                "agent_dropped_data",
                labels(&[("site", site), ("host", host)]),
                Severity::Warning,
                format!(
                    "Agent on {host} at {site} dropped data ({} points lost in all; its queue was full, too old, or the disk failed)",
                    b.dropped.map(fmt_num).unwrap_or_default()
                ),
                b.dropped.map(fmt_num),
                recent,
            );
        }
    }
    if on("disk_full_forecast") {
        for (key, h) in &latest.disk_history {
            let Some(s) = latest.series.get(key) else { continue };
            let Some(days) = days_to_full(h) else { continue };
            let l = labels(&[("site", s.tag("site")), ("host", s.tag("host")), ("mount", s.tag("mount"))]);
            let limit = cfg.builtin.disk_forecast_days;
            let was = previously_active("disk_full_forecast", &l);
            let active = days < limit || (was && days < limit * 1.5);
            push(
                &mut out,
                "disk_full_forecast",
                l,
                Severity::Warning,
                format!(
                    "{} on {} at {} will be full in about {:.1} days at its recent growth",
                    s.tag("mount"),
                    s.tag("host"),
                    s.tag("site"),
                    days
                ),
                Some(format!("{days:.1}")),
                active,
            );
        }
    }
    if on("service_degraded") || on("service_outage") {
        let silent = |site: &str, host: &str| -> Option<bool> {
            let b = latest.agents.get(&(site.to_string(), host.to_string()))?;
            let interval = b.interval_secs.unwrap_or(cfg.builtin.agent_interval_secs as f64);
            Some(
                now.saturating_duration_since(b.received).as_secs_f64()
                    > interval * f64::from(cfg.builtin.agent_silent_intervals),
            )
        };
        for svc in &cfg.services {
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
            let up_sites = svc.members.len() - down_sites.len();
            let out_of_service = up_sites < svc.min_sites;
            if on("service_degraded") {
                push(
                    &mut out,
                    "service_degraded",
                    l.clone(),
                    Severity::Warning,
                    format!(
                        "Service {}: every host at {} is silent; it runs on the other site(s) only",
                        svc.name,
                        down_sites.join(", ")
                    ),
                    Some(format!("{}/{}", svc.members.len() - down_sites.len(), svc.members.len())),
                    !down_sites.is_empty() && !out_of_service,
                );
            }
            if on("service_outage") {
                push(
                    &mut out,
                    "service_outage",
                    l,
                    Severity::Critical,
                    if up_sites == 0 {
                        format!("Service {}: every host at every site is silent", svc.name)
                    } else {
                        format!(
                            "Service {}: it needs {} site(s) and runs at {} — every host at {} is silent",
                            svc.name,
                            svc.min_sites,
                            up_sites,
                            down_sites.join(", ")
                        )
                    },
                    Some(format!("{up_sites}/{}", svc.members.len())),
                    out_of_service,
                );
            }
        }
    }
    ups_chain(cfg, latest, &mut out);
    backups(cfg, latest, now, now_ms / 1000, previously_active, &mut out);
    if !cfg.rules.is_empty() {
        let mut by_measurement: HashMap<&str, Vec<&Series>> = HashMap::new();
        for s in latest.series.values() {
            by_measurement.entry(s.measurement.as_str()).or_default().push(s);
        }
        for r in &cfg.rules {
            if let Some(series) = by_measurement.get(r.measurement.as_str()) {
                rule(r, series, previously_active, &mut out);
            }
        }
    }
    out
}

/// The UPS → hosts chain of each site: a UPS whose output is off (status
/// `off` or `fault`), or that is on battery and low or unreachable (its card
/// went down with it), makes its alarm list the hosts it feeds and explain
/// the silence of those whose every UPS is in that state.
fn ups_chain(cfg: &AlarmsConfig, latest: &Latest, out: &mut [Cond]) {
    for sc in cfg.sites.iter().filter(|s| !s.ups.is_empty()) {
        let site = sc.name.as_str();
        let find = |m: &str, dev: &str| {
            latest.series.values().find(|s| s.measurement == m && s.tag("site") == site && s.tag("device") == dev)
        };
        // UPS → the alarm that stands for its loss, if it has lost power.
        let mut lost: BTreeMap<&str, &str> = BTreeMap::new();
        for ups in sc.ups.keys() {
            let u = find("ups", ups);
            let unreachable = find("device", ups).and_then(|d| d.flag("up")) == Some(false);
            let on_battery = u.and_then(|u| u.flag("on_battery")) == Some(true);
            let low = u.and_then(|u| u.flag("low_battery")) == Some(true);
            let off = u.and_then(|u| u.text("status")).is_some_and(|s| s == "off" || s == "fault");
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
            let shown: Vec<&str> = hosts.iter().take(10).map(String::as_str).collect();
            let more = if hosts.len() > 10 { format!(", … {} more", hosts.len() - 10) } else { String::new() };
            c.summary.push_str(&format!("; it powers {} host(s): {}{more}", hosts.len(), shown.join(", ")));
            if !explained.is_empty() {
                c.inhibits = &["agent_silent"];
                c.inhibit_hosts = explained;
            }
        }
    }
}

fn fmt_hours(secs: f64) -> String {
    let h = secs / 3600.0;
    if h < 48.0 { format!("{} h", fmt_num((h * 10.0).round() / 10.0)) } else { format!("{:.1} days", h / 24.0) }
}

/// The backup alarms: failed, stale, shrunk, missing, not replicated.
fn backups(
    cfg: &AlarmsConfig,
    latest: &Latest,
    now: Instant,
    now_s: i64,
    previously_active: &dyn Fn(&str, &BTreeMap<String, String>) -> bool,
    out: &mut Vec<Cond>,
) {
    let on = |n: &str| cfg.enabled(n);
    let b = &cfg.builtin;
    let jobs: Vec<&Series> = latest.series.values().filter(|s| s.measurement == "backup").collect();
    let find = |r: &super::config::JobRef| {
        jobs.iter().copied().find(|s| s.tag("site") == r.site && s.tag("host") == r.host && s.tag("job") == r.job)
    };
    // Whether `mirror_ts` holds the primary's newest backup, and if not, for
    // how long it has lacked it. A copy keeps or gets a later time; a minute
    // of slack covers clocks and copy tools.
    let lagging = |primary_ts: f64, mirror_ts: Option<f64>, max_lag: u64| -> bool {
        mirror_ts.is_none_or(|m| m + 60.0 < primary_ts) && now_s as f64 - primary_ts > max_lag as f64
    };
    for s in &jobs {
        let (site, host, job) = (s.tag("site"), s.tag("host"), s.tag("job"));
        let l = labels(&[("site", site), ("host", host), ("job", job)]);
        let status = s.text("status").unwrap_or("");
        let message = s.text("message").unwrap_or("");
        let last = s.num("last_success_ts");
        if on("backup_failed") {
            // A new run after a failure does not clear it; its outcome does.
            let active = status == "failed" || (status == "running" && previously_active("backup_failed", &l));
            push(
                out,
                "backup_failed",
                l.clone(),
                Severity::Warning,
                format!(
                    "Backup {job} on {host} at {site} failed{}",
                    if message.is_empty() { String::new() } else { format!(": {message}") }
                ),
                s.num("exit_status").map(fmt_num),
                active,
            );
        }
        if on("backup_stale")
            && let Some(ts) = last
        {
            let age = now_s as f64 - ts;
            let rpo = s.num("rpo_s").unwrap_or(86_400.0);
            push(
                out,
                "backup_stale",
                l.clone(),
                Severity::Critical,
                format!(
                    "Backup {job} on {host} at {site}: the last good backup is {} old (RPO {})",
                    fmt_hours(age),
                    fmt_hours(rpo)
                ),
                // In tenths of hours, like the summary: not a change every second.
                Some(format!("{:.1}", age.max(0.0) / 3600.0)),
                age > rpo + b.backup_grace_secs as f64,
            );
        }
        if on("backup_shrunk") {
            // A backup point without a size change (nothing to compare with)
            // is a condition too, inactive: a shrunk alarm of the one before resolves.
            let pct = s.num("size_change_pct");
            let size = s.num("last_size_bytes").map(|b| crate::i18n::Lang::En.bytes(b)).unwrap_or_else(|| "?".into());
            let summary = match pct {
                Some(pct) => {
                    format!(
                        "Backup {job} on {host} at {site} is {} % smaller than the one before ({size})",
                        fmt_num(-pct)
                    )
                }
                None => format!("Backup {job} on {host} at {site}: no size change to compare ({size})"),
            };
            push(
                out,
                "backup_shrunk",
                l.clone(),
                Severity::Warning,
                summary,
                pct.map(fmt_num),
                pct.is_some_and(|pct| pct < -b.backup_shrink_pct),
            );
        }
        if on("backup_missing") {
            push(
                out,
                "backup_missing",
                l.clone(),
                Severity::Warning,
                format!(
                    "Backup {job} on {host} at {site}: no backup found{}",
                    if message.is_empty() { String::new() } else { format!(" ({message})") }
                ),
                None,
                status == "missing" && last.is_none(),
            );
        }
        // A job with no mirror reported (any more) is an inactive condition,
        // so a not-replicated alarm of before resolves — unless a pair in
        // `backups.replication` judges it below.
        let paired = cfg
            .backups
            .replication
            .iter()
            .any(|r| r.primary.site == site && r.primary.host == host && r.primary.job == job);
        if on("backup_not_replicated")
            && let Some(ts) = last
            && (s.num("mirror_copies").is_some() || !paired)
        {
            let copies = s.num("mirror_copies").unwrap_or(f64::NAN);
            let mirror = if copies > 0.0 { s.num("mirror_last_success_ts") } else { None };
            let detail = match mirror {
                Some(m) => format!("the newest copy there is {} older", fmt_hours(ts - m)),
                None => "no copy there".into(),
            };
            push(
                out,
                "backup_not_replicated",
                l.clone(),
                Severity::Warning,
                format!("Backup {job} on {host} at {site} has not reached its mirror: {detail}"),
                None,
                !copies.is_nan() && lagging(ts, mirror, b.backup_replication_lag_secs),
            );
        }
    }
    if on("backup_not_replicated") {
        for r in &cfg.backups.replication {
            let Some(p) = find(&r.primary) else { continue };
            let Some(ts) = p.num("last_success_ts") else { continue };
            let m = find(&r.mirror);
            let mirror_ts = m.and_then(|m| m.num("last_success_ts"));
            let detail = match (m, mirror_ts) {
                (None, _) => "it has not reported".to_string(),
                (Some(_), None) => "it has no good backup".to_string(),
                (Some(_), Some(mt)) => format!("its last good backup is {} older", fmt_hours(ts - mt)),
            };
            let (pr, mr) = (&r.primary, &r.mirror);
            push(
                out,
                "backup_not_replicated",
                labels(&[("site", &pr.site), ("host", &pr.host), ("job", &pr.job)]),
                Severity::Warning,
                format!(
                    "Backup {} on {} at {} has not reached its mirror {} on {} at {}: {detail}",
                    pr.job, pr.host, pr.site, mr.job, mr.host, mr.site
                ),
                None,
                lagging(ts, mirror_ts, r.max_lag_secs.unwrap_or(b.backup_replication_lag_secs)),
            );
        }
    }
    if on("backup_missing") {
        let waited =
            latest.since.is_some_and(|t| now.saturating_duration_since(t).as_secs() >= b.backup_report_grace_secs);
        for e in &cfg.backups.expected {
            if find(e).is_some() {
                continue;
            }
            push(
                out,
                "backup_missing",
                labels(&[("site", &e.site), ("host", &e.host), ("job", &e.job)]),
                Severity::Warning,
                format!(
                    "Backup {} on {} at {}: never reported (is the job configured on its agent?)",
                    e.job, e.host, e.site
                ),
                None,
                waited,
            );
        }
    }
}

/// A receiver whose notices keep failing (3 attempts or more); an existing
/// such alarm clears once nothing waits for its receiver any more.
pub fn notification_failing<'a>(
    undelivered: &[super::store::Undelivered],
    alarms: impl Iterator<Item = &'a super::store::Alarm>,
) -> Vec<Cond> {
    let mut out = Vec::new();
    for u in undelivered {
        push(
            &mut out,
            "notification_failing",
            labels(&[("receiver", &u.receiver)]),
            Severity::Critical,
            format!(
                "Notices to {} are not delivered ({} waiting): {}",
                u.receiver,
                u.count,
                u.last_error.clone().unwrap_or_default()
            ),
            Some(u.count.to_string()),
            u.attempts >= 3,
        );
    }
    for a in alarms {
        let receiver = a.labels.get("receiver").cloned().unwrap_or_default();
        if a.name == "notification_failing" && !undelivered.iter().any(|u| u.receiver == receiver) {
            push(
                &mut out,
                "notification_failing",
                a.labels.clone(),
                a.severity,
                format!("Notices to {receiver} are delivered again"),
                None,
                false,
            );
        }
    }
    out
}

/// Days until a filesystem is full at its growth rate over the last six
/// hours: the median of the slopes between samples (Theil–Sen), so a burst
/// (a one-off dump) or a gap in the data does not decide it. None without
/// at least 30 minutes and 10 samples of history, or when it is not growing.
pub fn days_to_full(h: &std::collections::VecDeque<(i64, f64, f64)>) -> Option<f64> {
    let last = h.back()?;
    let recent: Vec<&(i64, f64, f64)> = h.iter().filter(|(t, _, _)| last.0 - t <= 6 * 3_600_000_000_000).collect();
    if recent.len() < 10 || last.0 - recent[0].0 < 30 * 60_000_000_000 {
        return None;
    }
    // At most 60 samples, evenly spread: 1770 slopes.
    let step = recent.len().div_ceil(60);
    let first = recent[0].0;
    let pts: Vec<(f64, f64)> =
        recent.iter().step_by(step).map(|(t, used, _)| ((t - first) as f64 / 86_400e9, *used)).collect();
    let (per_day, _) = crate::stats::theil_sen(&pts)?;
    if per_day <= 0.0 {
        return None;
    }
    Some(((last.2 - last.1).max(0.0)) / per_day)
}

fn push(
    out: &mut Vec<Cond>,
    name: &str,
    labels: BTreeMap<String, String>,
    severity: Severity,
    summary: String,
    value: Option<String>,
    active: bool,
) {
    out.push(Cond {
        name: name.into(),
        labels,
        severity,
        summary,
        value,
        active,
        for_secs: 0,
        inhibits: &[],
        inhibit_hosts: Vec::new(),
    });
}

fn rule(
    r: &RuleConfig,
    series: &[&Series],
    previously_active: &dyn Fn(&str, &BTreeMap<String, String>) -> bool,
    out: &mut Vec<Cond>,
) {
    for s in series {
        if !r.tags.matches(|k| s.tags.get(k).map(String::as_str)) {
            continue;
        }
        let Some(v) = s.fields.get(&r.field) else { continue };
        // Past the threshold: active. Between it and `clear`: as it was
        // (hysteresis). Elsewhere: clear — and when it was not active either,
        // there is nothing to carry, which is most series most of the time.
        let (beyond, between, shown) = match (v, r.above, r.below, &r.equals) {
            (ObsValue::Num(x), Some(a), _, _) => (*x > a, *x > r.clear.unwrap_or(a), fmt_num(*x)),
            (ObsValue::Num(x), _, Some(b), _) => (*x < b, *x < r.clear.unwrap_or(b), fmt_num(*x)),
            (ObsValue::Num(x), _, _, Some(e)) => {
                let m = e.parse::<f64>().is_ok_and(|e| e == *x);
                (m, m, fmt_num(*x))
            }
            (ObsValue::Bool(b), _, _, Some(e)) => (e == &b.to_string(), e == &b.to_string(), b.to_string()),
            (ObsValue::Str(t), _, _, Some(e)) => (t == e, t == e, t.clone()),
            _ => continue,
        };
        let mut lbl = s.tags.clone();
        lbl.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let (active, was) = if beyond {
            (true, true)
        } else {
            let was = previously_active(&r.name, &lbl);
            (was && between, was)
        };
        if !active && !was {
            // Nothing to start and nothing to resolve: no condition to carry.
            continue;
        }
        let mut vars = s.tags.clone();
        vars.insert("value".into(), shown.clone());
        vars.insert("name".into(), r.name.clone());
        let summary = match &r.summary {
            Some(t) => super::template::render(t, &vars),
            None => format!("{}: {} = {}", r.name, r.field, shown),
        };
        out.push(Cond {
            name: r.name.clone(),
            labels: lbl,
            severity: r.severity,
            summary,
            value: Some(shown),
            active,
            for_secs: r.for_secs,
            inhibits: &[],
            inhibit_hosts: Vec::new(),
        });
    }
}
