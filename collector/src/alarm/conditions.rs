//! What is wrong right now: the latest value of every watched series, and
//! the conditions the built-in alarms and the rules see in them.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::config::{AlarmsConfig, RuleConfig, Severity};
use crate::i18n::alarms::{self as words, Texts};
use crate::model::{ObsValue, Observation};

pub use super::builtin::builtin_severity;
pub use super::builtin::collector::notification_failing;
use super::builtin::fmt_num;

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
    pub summary: Texts,
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
    let ctx = super::builtin::Ctx { cfg, latest, now, now_s: now_ms / 1000, previously_active };
    let mut out = super::builtin::conditions(&ctx);
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
        vars.insert("name".into(), r.name.clone());
        // `{value}` written the language's way (`31,5` in Vietnamese).
        let summary = Texts::new(|l| {
            let value = match v {
                ObsValue::Num(x) => words::n(l, *x),
                _ => shown.clone(),
            };
            match &r.summary {
                Some(t) => {
                    let mut vars = vars.clone();
                    vars.insert("value".into(), value);
                    super::template::render(t.get(l), &vars)
                }
                None => format!("{}: {} = {value}", r.name, r.field),
            }
        });
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
