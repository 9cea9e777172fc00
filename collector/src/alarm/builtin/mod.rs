//! The built-in alarms, by family. Each family's file holds its
//! definitions as data ([`Def`]: name, default severity, the measurements it
//! reads, the alarms that explain it) and one `conditions` function that
//! produces its conditions from the latest state. This registry derives from
//! those definitions the list of names, the default severities, the
//! measurements ingest keeps and the inhibition rules.

pub mod backup;
pub mod collector;
pub mod device;
pub mod host;
pub mod power;
pub mod service;
pub mod site;
pub mod ups;

use std::collections::BTreeMap;
use std::time::Instant;

use super::conditions::{Cond, Latest};
use super::config::{AlarmsConfig, Severity};
use crate::i18n::alarms::Texts;

/// A built-in alarm, as data.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    pub name: &'static str,
    /// Its default severity (docs/alarms.md).
    pub severity: Severity,
    /// The measurements its condition reads (ingest keeps only watched ones).
    pub reads: &'static [&'static str],
    /// The alarms that explain it at its site: while one of them is active,
    /// this one is inhibited.
    pub explained_by: &'static [&'static str],
    /// Whether `max_alarms_per_site` never holds it back: alarms a site has
    /// one of per configured site or service, and the collector's own (the
    /// cap must not hide the alarm that tells of the cap, or of the
    /// collector's own trouble).
    pub uncapped: bool,
}

/// Every family's definitions, in the order of the list of names.
pub const FAMILIES: &[&[Def]] =
    &[host::DEFS, device::DEFS, ups::DEFS, power::DEFS, service::DEFS, collector::DEFS, backup::DEFS, site::DEFS];

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn lists(list: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < list.len() {
        if same(list[i], name) {
            return true;
        }
        i += 1;
    }
    false
}

/// How many definitions are explained by `by` (all of them when `by` is None).
const fn count(by: Option<&str>) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < FAMILIES.len() {
        let mut j = 0;
        while j < FAMILIES[i].len() {
            if match by {
                Some(b) => lists(FAMILIES[i][j].explained_by, b),
                None => true,
            } {
                n += 1;
            }
            j += 1;
        }
        i += 1;
    }
    n
}

/// The names of the definitions explained by `by` (all when None); `N` is their count.
const fn names<const N: usize>(by: Option<&str>) -> [&'static str; N] {
    let mut out = [""; N];
    let mut k = 0;
    let mut i = 0;
    while i < FAMILIES.len() {
        let mut j = 0;
        while j < FAMILIES[i].len() {
            let d = &FAMILIES[i][j];
            if match by {
                Some(b) => lists(d.explained_by, b),
                None => true,
            } {
                out[k] = d.name;
                k += 1;
            }
            j += 1;
        }
        i += 1;
    }
    out
}

/// The names of the built-in alarms.
pub const BUILTIN_NAMES: &[&str] = &names::<{ count(None) }>(None);

/// Alarms a site's power alarm explains (and inhibits).
pub const EXPLAINED_BY_POWER: &[&str] = &names::<{ count(Some("power_lost")) }>(Some("power_lost"));

/// Alarms a site's degraded power redundancy explains.
pub const EXPLAINED_BY_REDUNDANCY: &[&str] =
    &names::<{ count(Some("power_redundancy_degraded")) }>(Some("power_redundancy_degraded"));

/// Alarms a whole site gone explains (`site_down`).
pub const EXPLAINED_BY_SITE: &[&str] = &names::<{ count(Some("site_down")) }>(Some("site_down"));

/// Alarms a UPS that lost power explains, for the hosts it feeds.
pub const EXPLAINED_BY_UPS: &[&str] = &names::<{ count(Some("ups_on_battery")) }>(Some("ups_on_battery"));

/// The definition of a built-in alarm.
pub fn def(name: &str) -> Option<&'static Def> {
    FAMILIES.iter().flat_map(|f| f.iter()).find(|d| d.name == name)
}

/// Whether `name` is a built-in alarm `max_alarms_per_site` never holds
/// back ([`Def::uncapped`]); a rule's alarm is always capped.
pub fn uncapped(name: &str) -> bool {
    def(name).is_some_and(|d| d.uncapped)
}

/// The severity of a built-in alarm (docs/alarms.md), for reports that read
/// the history; None for a rule's.
pub fn builtin_severity(name: &str) -> Option<&'static str> {
    def(name).map(|d| d.severity.as_str())
}

/// The measurements the built-in alarms read, each once.
pub fn measurements() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for m in FAMILIES.iter().flat_map(|f| f.iter()).flat_map(|d| d.reads.iter()) {
        if !out.contains(m) {
            out.push(m);
        }
    }
    out
}

/// What the families read: the configuration, the latest state, the clocks,
/// and whether an alarm is pending or firing now (hysteresis).
pub struct Ctx<'a> {
    pub cfg: &'a AlarmsConfig,
    pub latest: &'a Latest,
    pub now: Instant,
    /// The wall clock in seconds (backup ages).
    pub now_s: i64,
    pub previously_active: &'a dyn Fn(&str, &BTreeMap<String, String>) -> bool,
}

impl Ctx<'_> {
    pub fn on(&self, name: &str) -> bool {
        self.cfg.enabled(name)
    }

    pub fn was(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        (self.previously_active)(name, labels)
    }
}

/// The conditions of every built-in family that reads the latest state.
pub fn conditions(ctx: &Ctx) -> Vec<Cond> {
    let mut out = Vec::new();
    ups::conditions(ctx, &mut out);
    power::conditions(ctx, &mut out);
    device::conditions(ctx, &mut out);
    host::conditions(ctx, &mut out);
    service::conditions(ctx, &mut out);
    backup::conditions(ctx, &mut out);
    out
}

/// A condition of the built-in `name`, at its default severity.
pub fn cond(
    name: &'static str,
    labels: BTreeMap<String, String>,
    summary: Texts,
    value: Option<String>,
    active: bool,
) -> Cond {
    Cond {
        name: name.into(),
        labels,
        severity: def(name).map_or(Severity::Warning, |d| d.severity),
        summary,
        value,
        active,
        for_secs: 0,
        inhibits: inhibits(name),
        inhibit_hosts: Vec::new(),
    }
}

/// The alarms `name` explains at its site when active (the UPS chain's are
/// per host: the UPS family sets them).
fn inhibits(name: &str) -> &'static [&'static str] {
    match name {
        "power_lost" => EXPLAINED_BY_POWER,
        "power_redundancy_degraded" => EXPLAINED_BY_REDUNDANCY,
        "site_down" => EXPLAINED_BY_SITE,
        _ => &[],
    }
}

/// Labels from pairs, leaving out the empty values.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A number as shown in a value: whole numbers without decimals, else one.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{:.1}", x) }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! What the families' tables share: a config, a state from points, and
    //! the conditions as (name, labels, severity, value, active).
    use std::time::Instant;

    use super::Ctx;
    use crate::alarm::conditions::{Cond, Latest};
    use crate::alarm::config::AlarmsConfig;
    use crate::model::{ObsValue, Observation};

    pub fn cfg(extra: &str) -> AlarmsConfig {
        let sites = if extra.contains("sites:") { "" } else { "sites:\n  - name: hn\n    feeds: [A, B]\n" };
        let receivers = if extra.contains("receivers:") {
            ""
        } else {
            "receivers:\n  - name: hook\n    webhook: {url: http://127.0.0.1:9/x}\n"
        };
        let yaml = format!("db: never-opened.db\nlang: en\n{sites}{receivers}{extra}");
        dcwatch_common::config::parse::<AlarmsConfig>(&yaml, std::path::Path::new("/x/alarms.yaml")).unwrap()
    }

    pub fn obs(m: &str, tags: &[(&str, &str)], fields: &[(&str, ObsValue)]) -> Observation {
        Observation {
            measurement: m.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            ts: 1,
        }
    }

    pub fn state(points: &[Observation], now: Instant) -> Latest {
        let mut l = Latest::default();
        let owner = l.owner("t");
        for p in points {
            l.observe(p, now, &owner, 1000);
        }
        l.since = Some(now);
        l
    }

    /// (name, labels as `k=v,…`, severity, value, active), sorted.
    pub type Row = (String, String, &'static str, Option<String>, bool);

    pub fn rows(conds: &[Cond]) -> Vec<Row> {
        let mut v: Vec<Row> = conds
            .iter()
            .map(|c| {
                let l: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (c.name.clone(), l.join(","), c.severity.as_str(), c.value.clone(), c.active)
            })
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    }

    pub fn row(name: &str, labels: &str, sev: &'static str, value: Option<&str>, active: bool) -> Row {
        (name.into(), labels.into(), sev, value.map(str::to_string), active)
    }

    /// Runs `family` on `points` with nothing active before.
    pub fn run(
        family: fn(&Ctx, &mut Vec<Cond>),
        cfg: &AlarmsConfig,
        points: &[Observation],
        now: Instant,
        now_s: i64,
    ) -> Vec<Row> {
        let latest = state(points, now);
        let never = |_: &str, _: &std::collections::BTreeMap<String, String>| false;
        let ctx = Ctx { cfg, latest: &latest, now, now_s, previously_active: &never };
        let mut out = Vec::new();
        family(&ctx, &mut out);
        rows(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_derives_names_severities_and_inhibitions() {
        assert_eq!(BUILTIN_NAMES.len(), 36);
        let mut sorted = BUILTIN_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), BUILTIN_NAMES.len(), "a name is defined twice");
        let mut power = EXPLAINED_BY_POWER.to_vec();
        power.sort_unstable();
        assert_eq!(
            power,
            [
                "agent_silent",
                "device_unreachable",
                "feed_lost",
                "power_redundancy_degraded",
                "ups_on_battery",
                "ups_output_off"
            ]
        );
        assert_eq!(EXPLAINED_BY_REDUNDANCY, ["feed_lost"]);
        assert_eq!(EXPLAINED_BY_UPS, ["agent_silent"]);
        assert_eq!(EXPLAINED_BY_SITE, ["agent_silent"]);
        assert_eq!(builtin_severity("generator_running"), Some("info"));
        assert_eq!(builtin_severity("backup_stale"), Some("critical"));
        assert_eq!(builtin_severity("disk_full"), Some("warning"));
        assert_eq!(builtin_severity("room_too_hot"), None);
        let mut m = measurements();
        m.sort_unstable();
        assert_eq!(m, ["ats", "backup", "dcwatch_agent", "device", "generator", "host_disk", "power_feed", "ups"]);
    }

    #[test]
    fn the_uncapped_alarms_are_the_per_site_and_per_service_ones_and_the_collectors_own() {
        let mut set: Vec<&str> = BUILTIN_NAMES.iter().copied().filter(|n| uncapped(n)).collect();
        set.sort_unstable();
        assert_eq!(
            set,
            [
                "alarm_cap_reached",
                "alarms_db_quarantined",
                "generator_not_running",
                "ingest_rate_limited",
                "notification_failing",
                "peer_unreachable",
                "power_lost",
                "power_redundancy_degraded",
                "report_failing",
                "series_cap_reached",
                "service_degraded",
                "service_outage",
                "sink_down",
                "site_down",
                "spool_dropped_points",
                "spool_filling",
                "watchdog",
            ]
        );
        assert!(!uncapped("disk_full"));
        assert!(!uncapped("room_too_hot"), "a rule's alarm is capped");
    }
}
