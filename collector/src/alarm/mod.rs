//! Alarms: from the latest state of what agents send, conditions
//! (`conditions.rs`: built-in alarms and rules); from conditions, alarms with
//! a lifecycle — pending → firing → resolved, deduplicated by fingerprint,
//! acknowledged, repeated, inhibited by the power alarm that explains them —
//! kept in SQLite (`store.rs`); from changes, notices in an outbox that
//! `notify.rs` delivers with retries.

pub mod backups;
pub mod builtin;
pub mod chain;
pub mod conditions;
pub mod config;
pub mod lifecycle;
pub mod matchers;
pub mod notify;
pub mod quarantine;
mod replica;
pub use replica::PeerPage;
pub mod silence;
pub mod store;
pub mod telegram;
pub mod template;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::conditions::{Cond, Latest, Observed, fingerprint};
use self::config::AlarmsConfig;
use self::store::{Ack, Alarm, Change, Store};
use crate::model::Observation;

pub fn now_ms() -> i64 {
    dcwatch_common::now_ns() / 1_000_000
}

#[derive(Debug, Default)]
pub struct Stats {
    pub evaluations: AtomicU64,
    pub notices_queued: AtomicU64,
    pub notices_sent: AtomicU64,
    pub notices_failed: AtomicU64,
    /// Notices folded into a receiver's summary (`limits.max_notices_per_window`).
    pub notices_folded: AtomicU64,
    /// What the limits hold back now, as of the last evaluation.
    pub limits: Mutex<LimitsSeen>,
    /// When the last evaluation completed (its changes written, or none to
    /// write), in ms after the engine opened; 0 before the first.
    pub completed_ms: AtomicU64,
}

/// The limits' state for `/metrics`, copied out of the evaluation so that a
/// scrape never waits for one.
#[derive(Debug, Default, Clone)]
pub struct LimitsSeen {
    /// Per token: entries in the latest-state table, and points it refused (`series_cap`).
    pub tokens: BTreeMap<String, (usize, u64)>,
    /// Per site: active conditions not raised as alarms (`alarm_cap`).
    pub not_raised: BTreeMap<String, usize>,
    /// Series and heartbeats in the table; alarms resolved because theirs were forgotten.
    pub entries: usize,
    pub expired_alarms: u64,
}

/// See [`Engine::hold_lock`].
#[cfg(test)]
pub struct CoreHeld<'a>(#[allow(dead_code)] std::sync::MutexGuard<'a, Core>);

struct Core {
    store: Store,
    alarms: HashMap<String, Alarm>,
    silences: Vec<store::Silence>,
    flaps: HashMap<String, lifecycle::flap::Flap>,
    /// Alarms restored at start that have not had a condition since: they
    /// may be expired only once the table has run for a series TTL.
    restored: HashSet<String>,
    grace_over: bool,
    storms: notify::Storms,
}

/// Points written while an evaluation holds the table, for it to take next.
#[derive(Default)]
struct Pending {
    batches: Vec<(String, Vec<Observation>, Instant)>,
    points: usize,
}

/// Past this many queued points a writer waits for the evaluation and
/// applies the queue itself (backpressure, never loss).
const PENDING_MAX_POINTS: usize = 50_000;

/// The config loader's check of the alarms section: here, where the
/// registry's names meet the config, so that `config.rs` need not import the
/// families (which read it).
impl dcwatch_common::config::Validate for AlarmsConfig {
    fn validate(&self, p: &mut Vec<dcwatch_common::config::Problem>) {
        self.check(builtin::BUILTIN_NAMES, p);
    }
}

/// Why the engine could not start: its store cannot be opened, or is
/// corrupt and cannot be moved aside, or cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] store::OpenError),
    #[error(transparent)]
    Quarantine(#[from] quarantine::QuarantineError),
    #[error(transparent)]
    Read(#[from] store::StoreError),
}

/// Why an action on the alarms (acknowledge, silence) was not done; the
/// API answers with its text.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no pending or firing alarm {0}")]
    NoAlarm(String),
    #[error("alarm {0} is not acknowledged")]
    NotAcknowledged(String),
    #[error("no silence {0}")]
    NoSilence(i64),
    /// The silence check refused it; the text says why, for the technician.
    #[error(transparent)]
    Refused(#[from] silence::Refused),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// The API's and console's answers are the error's text.
impl From<ActionError> for String {
    fn from(e: ActionError) -> String {
        e.to_string()
    }
}

/// Conditions about the collector itself (sinks, spool), from `state::health`.
pub type SelfChecks = Box<dyn Fn(&AlarmsConfig) -> Vec<Cond> + Send + Sync>;

pub struct Engine {
    config: Mutex<Arc<AlarmsConfig>>,
    self_checks: Mutex<Option<SelfChecks>>,
    /// The measurements the built-ins and rules read (ingest keeps only these).
    watched: std::sync::RwLock<Arc<std::collections::HashSet<String>>>,
    /// Measurements others read from the latest state (the console's
    /// hosts and devices pages), watched across reloads too.
    also_watched: Mutex<Vec<&'static str>>,
    latest: Mutex<Latest>,
    pending: Mutex<Pending>,
    opened: Instant,
    core: Mutex<Core>,
    pub stats: Stats,
    /// Wakes the delivery task when notices are queued.
    pub wake: tokio::sync::Notify,
    /// Wakes the evaluation when a power state arrives (a trap's on-battery
    /// must not wait for the next tick).
    pub eval_wake: tokio::sync::Notify,
    /// How long a new notice waits for a peered collector of a lower rank
    /// to send it first (`crate::peer`; 0 without one, or once it is gone).
    pub peer_hold_ms: std::sync::atomic::AtomicI64,
    /// The sites of the peered collectors and since when each has not
    /// answered, for `site_down` (`crate::peer` keeps it up to date).
    pub peer_sites: Mutex<Vec<builtin::site::PeerSite>>,
    /// With `peering:`, this collector's name: its own alarms (sinks,
    /// spool, notices, limits) carry it as the label `collector`, as each
    /// collector of a pair has its own, not one alarm of both.
    pub collector_label: Mutex<Option<String>>,
    /// Each site that is `site_down`, or coming back from it (`builtin::site`).
    site_states: Mutex<HashMap<String, builtin::site::SiteState>>,
}

impl Engine {
    pub fn open(cfg: AlarmsConfig) -> Result<Engine, OpenError> {
        let store = match Store::try_open(&cfg.db) {
            Ok(s) => s,
            Err(store::OpenError::Corrupt { message, .. }) => {
                let moved = quarantine::quarantine(&cfg.db, now_ms())?;
                tracing::error!(
                    db = %cfg.db.display(), quarantined = %moved.display(), error = %message,
                    "alarms.db is corrupt: moved it aside and starting with fresh alarm state; \
                     earlier alarms, silences, history and undelivered notices are in the moved file"
                );
                Store::open(&cfg.db)?
            }
            Err(e) => return Err(e.into()),
        };
        let alarms: HashMap<String, Alarm> = store.load()?.into_iter().map(|a| (a.fingerprint.clone(), a)).collect();
        if !alarms.is_empty() {
            tracing::info!(alarms = alarms.len(), db = %cfg.db.display(), "alarm state restored");
        }
        Ok(Engine {
            self_checks: Mutex::new(None),
            watched: std::sync::RwLock::new(Arc::new(watched(&cfg, &[]))),
            also_watched: Mutex::new(Vec::new()),
            config: Mutex::new(Arc::new(cfg)),
            latest: Mutex::new(Latest::default()),
            pending: Mutex::new(Pending::default()),
            opened: Instant::now(),
            core: Mutex::new(Core {
                silences: store.silences()?,
                store,
                restored: alarms.keys().cloned().collect(),
                alarms,
                flaps: HashMap::new(),
                grace_over: false,
                storms: notify::Storms::default(),
            }),
            stats: Stats::default(),
            wake: tokio::sync::Notify::new(),
            eval_wake: tokio::sync::Notify::new(),
            peer_hold_ms: Default::default(),
            peer_sites: Mutex::new(Vec::new()),
            collector_label: Mutex::new(None),
            site_states: Mutex::default(),
        })
    }

    pub fn config(&self) -> Arc<AlarmsConfig> {
        self.config.lock().expect("not poisoned").clone()
    }

    /// A new config (reload): alarms and their state carry over.
    pub fn set_config(&self, cfg: AlarmsConfig) {
        let also = self.also_watched.lock().expect("not poisoned").clone();
        *self.watched.write().expect("not poisoned") = Arc::new(watched(&cfg, &also));
        *self.config.lock().expect("not poisoned") = Arc::new(cfg);
    }

    pub fn set_self_checks(&self, f: SelfChecks) {
        *self.self_checks.lock().expect("not poisoned") = Some(f);
    }

    /// Keeps the latest points of `measurements` too, for a reader besides
    /// the alarms (the console): ingest hands them to the engine from now on.
    pub fn watch_also(&self, measurements: &[&'static str]) {
        let mut also = self.also_watched.lock().expect("not poisoned");
        for m in measurements {
            if !also.contains(m) {
                also.push(m);
            }
        }
        *self.watched.write().expect("not poisoned") = Arc::new(watched(&self.config(), &also));
    }

    /// Reads the latest-state table (with the points queued for it) and
    /// the config under the table's lock: `read` should copy what it needs
    /// and return, as writes wait for it.
    pub fn read_latest<T>(&self, read: impl FnOnce(&AlarmsConfig, &Latest) -> T) -> T {
        let cfg = self.config();
        let mut latest = self.latest.lock().expect("not poisoned");
        self.apply_pending(&mut latest, cfg.limits.max_series_per_token);
        read(&cfg, &latest)
    }

    /// The measurements whose points are wanted.
    pub fn watched(&self) -> Arc<std::collections::HashSet<String>> {
        self.watched.read().expect("not poisoned").clone()
    }

    /// Takes a write's points (of the watched measurements) from `token`.
    pub fn observe(&self, token: &str, obs: Vec<Observation>) {
        self.observe_from(token, obs, Instant::now());
    }

    /// [`Self::observe`] of a test's points, at a given moment.
    #[cfg(test)]
    pub fn observe_at(&self, obs: &[Observation], now: Instant) {
        self.observe_from("", obs.to_vec(), now);
    }

    /// The writer applies its points at once when no evaluation holds the
    /// table, else queues them for the next evaluation: a write never waits
    /// for an evaluation (unless the queue is full).
    pub fn observe_from(&self, token: &str, obs: Vec<Observation>, now: Instant) {
        if obs.is_empty() {
            return;
        }
        let power = obs.iter().any(|o| matches!(o.measurement.as_str(), "ups" | "power_feed" | "ats" | "generator"));
        let cap = self.config().limits.max_series_per_token;
        match self.latest.try_lock() {
            Ok(mut latest) => {
                // What was queued first goes in first.
                self.apply_pending(&mut latest, cap);
                apply(&mut latest, token, &obs, now, cap);
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                let full = {
                    let mut p = self.pending.lock().expect("not poisoned");
                    p.points += obs.len();
                    p.batches.push((token.to_string(), obs, now));
                    p.points >= PENDING_MAX_POINTS
                };
                if full {
                    let mut latest = self.latest.lock().expect("not poisoned");
                    self.apply_pending(&mut latest, cap);
                }
            }
            Err(std::sync::TryLockError::Poisoned(e)) => panic!("the latest-state lock is poisoned: {e}"),
        }
        if power {
            self.eval_wake.notify_one();
        }
    }

    fn apply_pending(&self, latest: &mut Latest, cap: usize) {
        let batches = {
            let mut p = self.pending.lock().expect("not poisoned");
            p.points = 0;
            std::mem::take(&mut p.batches)
        };
        for (token, obs, at) in batches {
            apply(latest, &token, &obs, at, cap);
        }
    }

    /// One evaluation: conditions → alarm changes → stored, with their notices.
    pub fn evaluate(&self) {
        self.evaluate_at(Instant::now(), now_ms());
    }

    /// [`Self::evaluate`] at a given moment (tests move time on): the
    /// conditions, then the lifecycle's stages in turn (`lifecycle/`).
    pub fn evaluate_at(&self, now: Instant, now_ms: i64) {
        use lifecycle::{dispatch, expiry, flap, inhibit, route, transition, write};
        let cfg = self.config();
        let ttl = Duration::from_secs(cfg.limits.series_ttl_secs);
        let mut core = self.core.lock().expect("not poisoned");
        // Writers never wait for this lock (they queue): it is held for the
        // whole look at the table, and the alarms it leaves without one.
        let mut latest = self.latest.lock().expect("not poisoned");
        self.apply_pending(&mut latest, cfg.limits.max_series_per_token);
        let forgotten = latest.expire(now, ttl);
        latest.since.get_or_insert(now);
        let (conds, not_raised) = self.conditions(&cfg, &core, &latest, now, now_ms);
        let by_fp: HashMap<String, &Cond> = conds.iter().map(|(fp, c)| (fp.clone(), c)).collect();
        let grace_over = now.saturating_duration_since(self.opened) >= ttl;
        let mut orphans = Vec::new();
        if expiry::look(forgotten, grace_over, &mut core.grace_over) {
            let has_cond = |fp: &str| by_fp.contains_key(fp);
            orphans = expiry::orphans(&core.alarms, &has_cond, &core.restored, grace_over, &|l| latest.carries(l));
        }
        self.note_limits(&latest, not_raised, orphans.len());
        drop(latest);
        for fp in by_fp.keys() {
            core.restored.remove(fp);
        }
        let mut round = lifecycle::Round::default();
        transition::run(&core.alarms, &by_fp, now_ms, cfg.lang, &mut round);
        if self.collector_label.lock().expect("not poisoned").is_some() {
            replica::adopt_peer_acks(&core.store, &core.alarms, &mut round);
        }
        let expired = expiry::expire(orphans, cfg.limits.series_ttl_secs, cfg.lang, &mut round);
        let inhibitors = inhibit::Inhibitors::new(&by_fp);
        let held = dispatch::Held { silences: &core.silences, inhibitors: &inhibitors, conds: &by_fp };
        dispatch::run(&cfg, core.alarms.values(), &held, now_ms, &mut round);
        let core = &mut *core;
        flap::run(&mut core.flaps, &cfg, &mut round, now_ms);
        let zone = cfg.zone();
        let summaries = core.storms.ended(now_ms, &cfg.limits, &|r: &str| cfg.lang_of(r), &zone);
        // Which silence holds an alarm is not stored: a silence added or
        // ended while nothing else changes still shows at once.
        for a in &round.alarms {
            if let Some(held) = core.alarms.get_mut(&a.fingerprint) {
                held.silenced_by = a.silenced_by;
            }
        }
        if round.is_empty() && summaries.is_empty() {
            self.completed(now);
            return;
        }
        let why_resolved = |fp: &str| by_fp.get(fp).map(|c| c.summary.clone()).or_else(|| expired.get(fp).cloned());
        let (payloads, folded) =
            route::run(&cfg, &mut core.storms, &mut round, &why_resolved, summaries, &zone, now_ms);
        self.stats.notices_folded.fetch_add(folded, Ordering::Relaxed);
        let hold_ms = self.peer_hold_ms.load(Ordering::Relaxed);
        if let Err(e) = write::run(&mut core.store, &mut core.alarms, &cfg, round, &payloads, now_ms, hold_ms) {
            tracing::error!(error = %e, "cannot write alarm state; will retry at the next evaluation");
            return;
        }
        if !payloads.is_empty() {
            self.stats.notices_queued.fetch_add(payloads.len() as u64, Ordering::Relaxed);
            self.wake.notify_one();
        }
        self.completed(now);
    }

    fn completed(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.opened).as_millis() as u64;
        self.stats.completed_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// How long before `now` the last evaluation completed (since the
    /// engine opened, before the first): an evaluation stuck (on its lock,
    /// on SQLite) or failing to write its changes makes it grow. The
    /// watchdog and `/health` read it.
    pub fn evaluated_ago(&self, now: Instant) -> Duration {
        let done = self.stats.completed_ms.load(Ordering::Relaxed);
        let now_ms = now.saturating_duration_since(self.opened).as_millis() as u64;
        Duration::from_millis(now_ms.saturating_sub(done))
    }

    /// This evaluation's conditions with their fingerprints — the families'
    /// and rules', the collector's own — past `max_alarms_per_site`; and
    /// how many that cap holds back per site.
    fn conditions(
        &self,
        cfg: &AlarmsConfig,
        core: &Core,
        latest: &Latest,
        now: Instant,
        now_ms: i64,
    ) -> (Vec<(String, Cond)>, BTreeMap<String, usize>) {
        let lim = &cfg.limits;
        let mut conds = conditions::evaluate(cfg, latest, now, now_ms, &|name, labels| {
            core.alarms.contains_key(&fingerprint(name, labels))
        });
        if cfg.enabled("series_cap_reached") {
            conds.extend(builtin::collector::series_cap(latest, &core.alarms, lim.max_series_per_token));
        }
        let peer_sites = self.peer_sites.lock().expect("not poisoned").clone();
        let mut site_states = self.site_states.lock().expect("not poisoned");
        conds.extend(builtin::site::conditions(cfg, latest, &peer_sites, &mut site_states, now));
        drop(site_states);
        if let Some(f) = &*self.self_checks.lock().expect("not poisoned") {
            conds.extend(f(cfg));
        }
        if cfg.enabled("alarms_db_quarantined") {
            conds.push(quarantine::condition(&cfg.db, now_ms));
        }
        if cfg.enabled("notification_failing") {
            let undelivered = core.store.undelivered().unwrap_or_default();
            conds.extend(conditions::notification_failing(&undelivered, core.alarms.values()));
        }
        conds.extend(builtin::collector::watchdog(cfg, core.alarms.values()));
        if let Some(name) = &*self.collector_label.lock().expect("not poisoned") {
            builtin::collector::label_own(&mut conds, name);
        }
        self.stats.evaluations.fetch_add(1, Ordering::Relaxed);
        let fps: Vec<String> = conds.iter().map(|c| fingerprint(&c.name, &c.labels)).collect();
        let (refused, not_raised) = cap_alarms(&core.alarms, &conds, &fps, lim.max_alarms_per_site);
        let mut raised: Vec<(String, Cond)> =
            fps.into_iter().zip(conds).enumerate().filter(|(i, _)| !refused.contains(i)).map(|(_, p)| p).collect();
        if cfg.enabled("alarm_cap_reached") {
            for c in builtin::collector::alarm_cap(&core.alarms, &not_raised, lim.max_alarms_per_site) {
                raised.push((fingerprint(&c.name, &c.labels), c));
            }
        }
        (raised, not_raised)
    }

    /// Copies what the limits hold back for `/metrics`.
    fn note_limits(&self, latest: &Latest, not_raised: BTreeMap<String, usize>, expired: usize) {
        let mut seen = self.stats.limits.lock().expect("not poisoned");
        seen.tokens = latest.owners.iter().map(|(k, c)| (k.to_string(), (c.entries, c.refused))).collect();
        seen.not_raised = not_raised;
        seen.entries = latest.series.len() + latest.agents.len();
        seen.expired_alarms += expired as u64;
    }

    /// The alarms pending or firing, most severe first; the always-firing
    /// `watchdog` left out: it is for Alertmanager, not for people.
    pub fn alarms(&self) -> Vec<Alarm> {
        let core = self.core.lock().expect("not poisoned");
        let mut v: Vec<Alarm> =
            core.alarms.values().filter(|a| a.name != builtin::collector::WATCHDOG).cloned().collect();
        v.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.since_ms.cmp(&b.since_ms)).then(a.name.cmp(&b.name)));
        v
    }

    /// Acknowledges a firing alarm: its repeats stop.
    pub fn ack(&self, fp: &str, by: &str, comment: &str) -> Result<Alarm, ActionError> {
        let mut core = self.core.lock().expect("not poisoned");
        let mut a = core.alarms.get(fp).cloned().ok_or_else(|| ActionError::NoAlarm(fp.to_string()))?;
        let now = now_ms();
        a.ack = Some(Ack { by: by.to_string(), at_ms: now, comment: comment.to_string() });
        let detail = format!("{by}: {comment}");
        let entry = store::Entry::Ack { fingerprint: fp.to_string(), by: by.to_string(), comment: comment.to_string() };
        core.store.apply(&[
            Change::Upsert(&a),
            Change::History { alarm: &a, event: "acknowledged", detail, at_ms: now },
            Change::Peer(store::PeerChange::Local { entry, at_ms: now }),
        ])?;
        core.alarms.insert(fp.to_string(), a.clone());
        Ok(a)
    }

    /// Takes an acknowledgement back: the alarm repeats and escalates again.
    pub fn unack(&self, fp: &str, by: &str) -> Result<Alarm, ActionError> {
        let mut core = self.core.lock().expect("not poisoned");
        let mut a = core.alarms.get(fp).cloned().ok_or_else(|| ActionError::NoAlarm(fp.to_string()))?;
        if a.ack.take().is_none() {
            return Err(ActionError::NotAcknowledged(fp.to_string()));
        }
        let now = now_ms();
        let detail = format!("{by}: acknowledgement taken back");
        let entry = store::Entry::Unack { fingerprint: fp.to_string(), by: by.to_string() };
        core.store.apply(&[
            Change::Upsert(&a),
            Change::History { alarm: &a, event: "unacknowledged", detail, at_ms: now },
            Change::Peer(store::PeerChange::Local { entry, at_ms: now }),
        ])?;
        core.alarms.insert(fp.to_string(), a.clone());
        Ok(a)
    }

    /// What a technician wants at a glance: feeds, UPS, generators, devices
    /// down, silent agents, backups (from the latest values) — for `/api/status`.
    pub fn status(&self, now: Instant) -> serde_json::Value {
        use crate::model::ObsValue;
        let cfg = self.config();
        let mut latest = self.latest.lock().expect("not poisoned");
        self.apply_pending(&mut latest, cfg.limits.max_series_per_token);
        let val = |v: Option<&ObsValue>| match v {
            Some(ObsValue::Num(x)) => serde_json::json!(x),
            Some(ObsValue::Bool(b)) => serde_json::json!(b),
            Some(ObsValue::Str(t)) => serde_json::json!(t),
            None => serde_json::Value::Null,
        };
        let mut feeds = Vec::new();
        let mut ups = Vec::new();
        let mut down = Vec::new();
        let mut backups = Vec::new();
        let mut generators = Vec::new();
        let now_ms = now_ms();
        for s in latest.series.values() {
            match s.measurement.as_str() {
                "power_feed" if !s.tag("feed").is_empty() => feeds.push(serde_json::json!({
                    "site": s.tag("site"), "feed": s.tag("feed"), "device": s.tag("device"),
                    "live": val(s.fields.get("live")), "voltage_v": val(s.fields.get("voltage_v")),
                })),
                "ups" => ups.push(serde_json::json!({
                    "site": s.tag("site"), "device": s.tag("device"), "status": val(s.fields.get("status")),
                    "on_battery": val(s.fields.get("on_battery")), "charge_pct": val(s.fields.get("battery_charge_pct")),
                    "runtime_s": val(s.fields.get("runtime_remaining_s")), "load_pct": val(s.fields.get("load_pct")),
                })),
                "backup" => backups.push(serde_json::json!({
                    "site": s.tag("site"), "host": s.tag("host"), "job": s.tag("job"), "kind": s.tag("kind"),
                    "status": val(s.fields.get("status")),
                    "age_s": s.num("last_success_ts").map(|t| (now_ms / 1000) as f64 - t),
                    "rpo_s": val(s.fields.get("rpo_s")), "last_size_bytes": val(s.fields.get("last_size_bytes")),
                    "message": val(s.fields.get("message")),
                })),
                "generator" => generators.push(serde_json::json!({
                    "site": s.tag("site"), "device": s.tag("device"), "running": val(s.fields.get("running")),
                    "state": val(s.fields.get("state")), "alarm": val(s.fields.get("alarm")),
                    "fuel_pct": val(s.fields.get("fuel_pct")),
                })),
                "device" if s.flag("up") == Some(false) => down.push(serde_json::json!({
                    "site": s.tag("site"), "device": s.tag("device"), "kind": s.tag("kind"), "protocol": s.tag("protocol"),
                })),
                _ => {}
            }
        }
        let key = |v: &serde_json::Value| format!("{}/{}/{}", v["site"], v["feed"], v["device"]);
        feeds.sort_by_key(key);
        ups.sort_by_key(key);
        generators.sort_by_key(key);
        down.sort_by_key(key);
        backups.sort_by_key(|v| format!("{}/{}/{}", v["site"], v["host"], v["job"]));
        let mut agents: Vec<serde_json::Value> = latest
            .agents
            .iter()
            .map(|((site, host), b)| {
                serde_json::json!({"site": site, "host": host, "quiet_s": b.quiet_secs(now).round(),
                    "silent": b.silent(&cfg.builtin, now)})
            })
            .collect();
        agents.sort_by_key(|v| format!("{}/{}", v["site"], v["host"]));
        let sites: Vec<serde_json::Value> =
            cfg.sites.iter().map(|s| serde_json::json!({"name": s.name, "feeds": s.feeds})).collect();
        serde_json::json!({"sites": sites, "feeds": feeds, "ups": ups, "generators": generators,
            "devices_down": down, "agents": agents, "backups": backups})
    }

    pub fn silences(&self) -> Vec<store::Silence> {
        self.core.lock().expect("not poisoned").silences.clone()
    }

    /// Checks and adds a silence (or maintenance window); returns it with its id.
    pub fn add_silence(&self, new: silence::NewSilence, now_ms: i64) -> Result<store::Silence, ActionError> {
        let limits = self.config().silences.clone();
        let mut core = self.core.lock().expect("not poisoned");
        let active = core.silences.iter().filter(|s| s.ends_ms > now_ms).count();
        let mut s = silence::check(new, &limits, now_ms, active).map_err(ActionError::Refused)?;
        core.store.purge_silences(now_ms - i64::from(limits.keep_expired_days) * 86_400_000)?;
        s.id = core.store.add_silence(&s, now_ms)?;
        core.silences = core.store.silences()?;
        tracing::info!(id = s.id, author = %s.author, reason = %s.reason, matchers = ?s.matchers.raw(), "silence added");
        Ok(s)
    }

    /// Removes the silences that ended more than
    /// `alarms.silences.keep_expired_days` before `now_ms`; how many. Run
    /// daily (and at start), as well as when a silence is added.
    pub fn purge_silences(&self, now_ms: i64) -> Result<usize, store::StoreError> {
        let keep_days = self.config().silences.keep_expired_days;
        let mut core = self.core.lock().expect("not poisoned");
        let n = core.store.purge_silences(now_ms - i64::from(keep_days) * 86_400_000)?;
        if n > 0 {
            core.silences = core.store.silences()?;
        }
        Ok(n)
    }

    /// Removes the watchdog's notices delivered more than a day before
    /// `now_ms` (one per `watchdog.interval_secs` would otherwise pile up
    /// in the outbox); how many. Run daily with the silences' purge.
    pub fn purge_watchdog_notices(&self, now_ms: i64) -> Result<usize, store::StoreError> {
        let core = self.core.lock().expect("not poisoned");
        core.store.purge_delivered(builtin::collector::WATCHDOG, now_ms - 86_400_000)
    }

    /// Ends a silence now.
    pub fn end_silence(&self, id: i64) -> Result<(), ActionError> {
        let mut core = self.core.lock().expect("not poisoned");
        if !core.store.end_silence(id, now_ms())? {
            return Err(ActionError::NoSilence(id));
        }
        core.silences = core.store.silences()?;
        tracing::info!(id, "silence ended");
        Ok(())
    }

    pub fn history(&self, limit: usize) -> Result<Vec<serde_json::Value>, store::StoreError> {
        self.core.lock().expect("not poisoned").store.history(limit)
    }

    /// History events of one alarm and/or holding a text (the console).
    pub fn history_where(&self, q: &store::HistoryQuery) -> Result<Vec<serde_json::Value>, store::StoreError> {
        self.core.lock().expect("not poisoned").store.history_where(q)
    }

    pub fn undelivered(&self) -> Result<Vec<store::Undelivered>, store::StoreError> {
        self.core.lock().expect("not poisoned").store.undelivered()
    }

    /// Holds the engine's lock until the guard is dropped, as a long
    /// evaluation does: for tests of who waits for it.
    #[cfg(test)]
    pub fn hold_lock(&self) -> CoreHeld<'_> {
        CoreHeld(self.core.lock().expect("not poisoned"))
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.core.lock().expect("not poisoned").store)
    }
}

/// Evaluates every `evaluate_every_ms` until `stop`.
pub async fn run(engine: Arc<Engine>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let every = std::time::Duration::from_millis(engine.config().evaluate_every_ms.max(1));
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
            // A power state arrived: evaluate now (at most every 100 ms).
            _ = engine.eval_wake.notified() => {}
        }
        let e = engine.clone();
        if let Err(err) = tokio::task::spawn_blocking(move || e.evaluate()).await {
            tracing::error!(error = %err, "alarm evaluation failed");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100).min(every)).await;
    }
}

/// Applies one write's points to the table, counting and (once a minute
/// per token) logging the ones its series cap keeps out.
fn apply(latest: &mut Latest, token: &str, obs: &[Observation], at: Instant, cap: usize) {
    // A peer's relay carries the points of all its site's tokens (and what
    // one wrote past its cap there is still relayed): a larger cap, still a cap.
    let relay = token.starts_with(crate::peer::config::RELAY_PREFIX);
    let cap = if relay { cap.saturating_mul(crate::peer::config::RELAY_CAP_FACTOR) } else { cap };
    let owner = latest.owner(token);
    let refused = obs.iter().filter(|o| latest.observe(o, at, &owner, cap) == Observed::OverCap).count();
    if refused == 0 {
        return;
    }
    let c = latest.owners.entry(owner.clone()).or_default();
    if c.warned.is_none_or(|t| at.saturating_duration_since(t) >= Duration::from_secs(60)) {
        c.warned = Some(at);
        tracing::warn!(
            token = %owner, series = c.entries, cap, refused_points = c.refused,
            "token at its series cap (alarms.limits.max_series_per_token): points of new series are forwarded \
             to the sinks, but no alarm sees them"
        );
    }
}

/// Which new alarms `max_alarms_per_site` holds back (indexes into `conds`),
/// and how many per site. The most severe are raised first.
fn cap_alarms(
    alarms: &HashMap<String, Alarm>,
    conds: &[Cond],
    fps: &[String],
    cap: usize,
) -> (HashSet<usize>, BTreeMap<String, usize>) {
    let site = |labels: &BTreeMap<String, String>| labels.get("site").cloned().unwrap_or_default();
    let mut active: HashMap<String, usize> = HashMap::new();
    for a in alarms.values().filter(|a| !builtin::uncapped(&a.name)) {
        *active.entry(site(&a.labels)).or_default() += 1;
    }
    let mut new: Vec<usize> = (0..conds.len())
        .filter(|&i| conds[i].active && !builtin::uncapped(&conds[i].name) && !alarms.contains_key(&fps[i]))
        .collect();
    new.sort_by(|&a, &b| {
        let (a, b) = (&conds[a], &conds[b]);
        b.severity.cmp(&a.severity).then_with(|| a.name.cmp(&b.name)).then_with(|| a.labels.cmp(&b.labels))
    });
    let (mut refused, mut not_raised) = (HashSet::new(), BTreeMap::new());
    for i in new {
        let n = active.entry(site(&conds[i].labels)).or_default();
        if *n >= cap {
            refused.insert(i);
            *not_raised.entry(site(&conds[i].labels)).or_default() += 1;
        } else {
            *n += 1;
        }
    }
    (refused, not_raised)
}

fn watched(cfg: &AlarmsConfig, also: &[&'static str]) -> std::collections::HashSet<String> {
    builtin::measurements()
        .into_iter()
        .chain(also.iter().copied())
        .map(|m| m.to_string())
        .chain(cfg.rules.iter().map(|r| r.measurement.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::store::State;
    use super::*;
    use crate::i18n::alarms::Texts;
    use crate::model::ObsValue;

    fn cfg(dir: &std::path::Path, extra: &str) -> AlarmsConfig {
        let yaml = format!(
            "db: {}\nlang: en\nrepeat_interval_secs: 60\ninhibit_wait_ms: 0\nsites:\n  - name: hn\n    feeds: [A, B]\nreceivers:\n  - name: hook\n    webhook: {{url: http://127.0.0.1:9/x}}\n{extra}",
            dir.join("alarms.db").display()
        );
        dcwatch_common::config::parse::<AlarmsConfig>(&yaml, std::path::Path::new("/x/alarms.yaml")).unwrap()
    }

    fn obs(m: &str, tags: &[(&str, &str)], fields: &[(&str, ObsValue)]) -> Observation {
        Observation {
            measurement: m.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            ts: 1,
        }
    }

    fn ups(on_battery: bool) -> Observation {
        obs(
            "ups",
            &[("site", "hn"), ("device", "ups1")],
            &[
                ("on_battery", ObsValue::Bool(on_battery)),
                ("battery_charge_pct", ObsValue::Num(87.0)),
                ("runtime_remaining_s", ObsValue::Num(1500.0)),
            ],
        )
    }

    fn feed(f: &str, live: bool) -> Observation {
        obs(
            "power_feed",
            &[("site", "hn"), ("device", &format!("m{f}")), ("feed", f)],
            &[("live", ObsValue::Bool(live))],
        )
    }

    /// (alarm name, notice) of the notices queued so far, oldest first.
    fn notices(e: &Engine) -> Vec<(String, String)> {
        let due = e.with_store(|s| s.due(i64::MAX, 1000)).unwrap();
        due.iter()
            .map(|n| {
                let p: serde_json::Value = serde_json::from_str(&n.payload).unwrap();
                (p["name"].as_str().unwrap().to_string(), n.status.clone())
            })
            .collect()
    }

    fn backup(host: &str, job: &str, fields: &[(&str, ObsValue)]) -> Observation {
        let site = if host.starts_with("hcm") { "hcm" } else { "hn" };
        obs("backup", &[("site", site), ("host", host), ("job", job), ("kind", "directory")], fields)
    }

    fn firing(e: &Engine) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = e
            .alarms()
            .iter()
            .filter(|a| a.state == State::Firing)
            .map(|a| (a.name.clone(), a.summary.en.clone()))
            .collect();
        v.sort();
        v
    }

    const DAY_MS: i64 = 86_400_000;
    const T: i64 = 1_795_000_000; // the clock of these tests, in seconds

    #[test]
    fn backup_alarms_fire_on_what_the_agent_reports_and_resolve() {
        use ObsValue::{Num, Str};
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        let good = |ts: i64| {
            backup(
                "nas1",
                "db",
                &[
                    ("status", Str("ok".into())),
                    ("rpo_s", Num(86400.0)),
                    ("last_success_ts", Num(ts as f64)),
                    ("last_size_bytes", Num(734_003_200.0)),
                    ("size_change_pct", Num(-1.5)),
                ],
            )
        };
        e.observe_at(&[good(T - 3600)], t0);
        e.evaluate_at(t0, T * 1000);
        assert!(firing(&e).is_empty());
        // 26 h later with no new backup: stale (RPO 24 h + 2 h grace).
        e.evaluate_at(t0 + Duration::from_secs(1), (T + 25 * 3600) * 1000);
        assert!(firing(&e).is_empty(), "26 h is not past 24 h + 2 h");
        e.evaluate_at(t0 + Duration::from_secs(2), (T + 25 * 3600 + 2) * 1000);
        assert_eq!(
            firing(&e),
            vec![(
                "backup_stale".into(),
                "Backup db on nas1 at hn: the last good backup is 26 h old (RPO 24 h)".into()
            )]
        );
        // Tonight's run fails; the last good one stays the same.
        e.observe_at(
            &[backup(
                "nas1",
                "db",
                &[("status", Str("failed".into())), ("exit_status", Num(3.0)), ("message", Str("ổ đĩa đầy".into()))],
            )],
            t0,
        );
        e.evaluate_at(t0 + Duration::from_secs(3), (T + 26 * 3600) * 1000);
        assert_eq!(firing(&e)[0], ("backup_failed".into(), "Backup db on nas1 at hn failed: ổ đĩa đầy".into()));
        // A rerun in progress keeps the failure; its success clears both,
        // and its size, 40 % less, is an alarm of its own.
        e.observe_at(&[backup("nas1", "db", &[("status", Str("running".into()))])], t0);
        e.evaluate_at(t0 + Duration::from_secs(4), (T + 26 * 3600 + 60) * 1000);
        assert_eq!(firing(&e).len(), 2);
        e.observe_at(
            &[backup(
                "nas1",
                "db",
                &[
                    ("status", Str("ok".into())),
                    ("last_success_ts", Num((T + 26 * 3600 + 600) as f64)),
                    ("last_size_bytes", Num(440_401_920.0)),
                    ("size_change_pct", Num(-40.0)),
                ],
            )],
            t0,
        );
        e.evaluate_at(t0 + Duration::from_secs(5), (T + 26 * 3600 + 660) * 1000);
        assert_eq!(
            firing(&e),
            vec![(
                "backup_shrunk".into(),
                "Backup db on nas1 at hn is 40 % smaller than the one before (420.0 MiB)".into()
            )]
        );
        let mut resolved: Vec<String> =
            notices(&e).into_iter().filter(|(_, k)| k == "resolved").map(|(n, _)| n).collect();
        resolved.sort();
        assert_eq!(resolved, vec!["backup_failed".to_string(), "backup_stale".to_string()]);
        // The next backup is normal again.
        e.observe_at(&[backup("nas1", "db", &[("size_change_pct", Num(2.0))])], t0);
        e.evaluate_at(t0 + Duration::from_secs(6), (T + 27 * 3600) * 1000);
        assert!(firing(&e).is_empty());
    }

    #[test]
    fn a_field_a_later_backup_point_leaves_out_is_gone() {
        use ObsValue::{Num, Str};
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        // A 0-byte dump: 100 % smaller.
        e.observe_at(
            &[backup(
                "nas1",
                "db",
                &[("status", Str("ok".into())), ("last_size_bytes", Num(0.0)), ("size_change_pct", Num(-100.0))],
            )],
            t0,
        );
        e.evaluate_at(t0, T * 1000);
        assert_eq!(firing(&e)[0].0, "backup_shrunk");
        // The next one is good; with nothing to compare to 0 bytes, it has no size change.
        e.observe_at(&[backup("nas1", "db", &[("status", Str("ok".into())), ("last_size_bytes", Num(7.0e7))])], t0);
        e.evaluate_at(t0 + Duration::from_secs(1), T * 1000 + 1000);
        assert!(firing(&e).is_empty(), "{:?}", firing(&e));
    }

    #[test]
    fn a_missing_backup_and_an_expected_job_nobody_reports() {
        use ObsValue::{Num, Str};
        let dir = tempfile::tempdir().unwrap();
        let extra =
            "backups:\n  expected:\n    - {site: hn, host: nas1, job: db}\n    - {site: hn, host: nas1, job: files}\n";
        let e = Engine::open(cfg(dir.path(), extra)).unwrap();
        let t0 = Instant::now();
        e.observe_at(
            &[backup(
                "nas1",
                "db",
                &[("status", Str("missing".into())), ("message", Str("no file matches `/b/*.gz`".into()))],
            )],
            t0,
        );
        e.evaluate_at(t0, T * 1000);
        assert_eq!(
            firing(&e),
            vec![(
                "backup_missing".into(),
                "Backup db on nas1 at hn: no backup found (no file matches `/b/*.gz`)".into()
            )]
        );
        // `files` gets the collector's first 15 minutes to be reported.
        e.evaluate_at(t0 + Duration::from_secs(899), (T + 899) * 1000);
        assert_eq!(firing(&e).len(), 1);
        e.evaluate_at(t0 + Duration::from_secs(900), (T + 900) * 1000);
        assert_eq!(
            firing(&e)[1],
            (
                "backup_missing".into(),
                "Backup files on nas1 at hn: never reported (is the job configured on its agent?)".into()
            )
        );
        e.observe_at(
            &[
                backup("nas1", "db", &[("status", Str("ok".into())), ("last_success_ts", Num(T as f64))]),
                backup("nas1", "files", &[("status", Str("ok".into())), ("last_success_ts", Num(T as f64))]),
            ],
            t0,
        );
        e.evaluate_at(t0 + Duration::from_secs(901), (T + 901) * 1000);
        assert!(firing(&e).is_empty());
    }

    #[test]
    fn a_backup_that_does_not_reach_its_mirror_in_time_is_not_replicated() {
        use ObsValue::{Num, Str};
        let dir = tempfile::tempdir().unwrap();
        let extra = "backups:\n  replication:\n    - primary: {site: hn, host: nas1, job: vm}\n      mirror: {site: hcm, host: hcm-nas, job: vm}\n      max_lag_secs: 3600\n";
        let e = Engine::open(cfg(dir.path(), extra)).unwrap();
        let t0 = Instant::now();
        let ok = |host: &str, job: &str, ts: i64, mirror: Option<i64>| {
            let mut f = vec![("status", Str("ok".into())), ("last_success_ts", Num(ts as f64))];
            if let Some(m) = mirror {
                f.push(("mirror_copies", Num(if m > 0 { 3.0 } else { 0.0 })));
                f.push(("mirror_last_success_ts", Num(m as f64)));
            }
            backup(host, job, &f)
        };
        // Tonight's backups at T; the copies still yesterday's.
        e.observe_at(
            &[
                ok("nas1", "vm", T, None),
                ok("hcm-nas", "vm", T - DAY_MS / 1000, None),
                ok("nas1", "db", T, Some(T - 86400)),
            ],
            t0,
        );
        e.evaluate_at(t0, (T + 3600) * 1000);
        assert!(firing(&e).is_empty(), "within the lag allowed: {:?}", firing(&e));
        e.evaluate_at(t0 + Duration::from_secs(1), (T + 3601) * 1000);
        assert_eq!(
            firing(&e),
            vec![(
                "backup_not_replicated".into(),
                "Backup vm on nas1 at hn has not reached its mirror vm on hcm-nas at hcm: its last good backup is 24 h older".into()
            )]
        );
        e.evaluate_at(t0 + Duration::from_secs(2), (T + 21601) * 1000);
        assert_eq!(
            firing(&e)[0].1,
            "Backup db on nas1 at hn has not reached its mirror: the newest copy there is 24 h older"
        );
        // The copies arrive (rsync keeps the time; a copy tool may set a later one).
        e.observe_at(&[ok("hcm-nas", "vm", T + 5, None), ok("nas1", "db", T, Some(T))], t0);
        e.evaluate_at(t0 + Duration::from_secs(3), (T + 21602) * 1000);
        assert!(firing(&e).is_empty());
    }

    #[test]
    fn a_ups_that_stops_explains_the_silence_of_the_hosts_it_alone_powers() {
        use ObsValue::{Bool, Num, Str};
        let dir = tempfile::tempdir().unwrap();
        // web1 hangs on ups1 only; db1 is dual-corded on ups1 and ups2.
        let mut c = cfg(dir.path(), "");
        c.sites.push(config::SiteConfig {
            name: "dc2".into(),
            feeds: Vec::new(),
            ups: [
                ("ups1".to_string(), vec!["web1".to_string(), "db1".to_string()]),
                ("ups2".into(), vec!["db1".into()]),
            ]
            .into(),
        });
        let e = Engine::open(c).unwrap();
        let t0 = Instant::now();
        let beat = |h: &str| obs("dcwatch_agent", &[("site", "dc2"), ("host", h)], &[("uptime_s", Num(5.0))]);
        let ups = |dev: &str, status: &str| {
            obs(
                "ups",
                &[("site", "dc2"), ("device", dev)],
                &[("status", Str(status.into())), ("on_battery", Bool(false))],
            )
        };
        // web9 is on no UPS of the topology.
        e.observe_at(&[beat("web1"), beat("db1"), beat("web9"), ups("ups1", "online"), ups("ups2", "online")], t0);
        e.evaluate_at(t0, 0);
        assert!(e.alarms().is_empty());
        // ups1's inverter fails and its output drops: web1 loses power and
        // falls silent. db1 falls silent too — but its second cord, on ups2,
        // still has power: that silence is something else, and is sent.
        e.observe_at(&[ups("ups1", "fault")], t0 + Duration::from_secs(1));
        e.evaluate_at(t0 + Duration::from_secs(40), 40_000);
        let by_name = |n: &str| e.alarms().into_iter().find(|a| a.name == n).unwrap();
        assert_eq!(
            by_name("ups_output_off").summary.en,
            "UPS ups1 at dc2: output off (fault); what it powers has no power; it powers 2 host(s): web1, db1"
        );
        let silent_host =
            |h: &str| e.alarms().into_iter().find(|a| a.name == "agent_silent" && a.labels["host"] == h).unwrap();
        assert_eq!(silent_host("web1").inhibited_by.as_deref(), Some(by_name("ups_output_off").fingerprint.as_str()));
        assert_eq!(silent_host("web9").inhibited_by, None, "web9's silence is not ups1's doing");
        assert_eq!(silent_host("db1").inhibited_by, None, "db1 still has power from ups2");
        let mut sent: Vec<String> = notices(&e).into_iter().map(|(n, _)| n).collect();
        sent.sort();
        assert_eq!(sent, vec!["agent_silent", "agent_silent", "ups_output_off"]);
        // Now ups2 stops too: db1 is explained from then on.
        e.observe_at(&[ups("ups2", "off")], t0 + Duration::from_secs(41));
        e.evaluate_at(t0 + Duration::from_secs(80), 80_000);
        assert!(silent_host("db1").inhibited_by.is_some());
        assert!(silent_host("web1").inhibited_by.is_some());
        let mut names: Vec<String> = notices(&e).into_iter().map(|(n, _)| n).collect();
        names.sort();
        assert_eq!(names, vec!["agent_silent", "agent_silent", "ups_output_off", "ups_output_off"]);
    }

    #[test]
    fn a_ups_on_battery_fires_once_and_resolves_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        e.observe_at(&[ups(true)], t0);
        e.evaluate_at(t0, 1_000);
        e.evaluate_at(t0 + Duration::from_secs(1), 2_000);
        assert_eq!(notices(&e), vec![("ups_on_battery".to_string(), "firing".to_string())]);
        let a = &e.alarms()[0];
        assert_eq!(a.summary.en, "UPS ups1 at hn is on battery (87 % charge, 25 min runtime)");
        e.observe_at(&[ups(false)], t0);
        e.evaluate_at(t0 + Duration::from_secs(2), 3_000);
        e.evaluate_at(t0 + Duration::from_secs(3), 4_000);
        assert_eq!(
            notices(&e),
            vec![("ups_on_battery".into(), "firing".into()), ("ups_on_battery".into(), "resolved".into())]
        );
        assert!(e.alarms().is_empty());
    }

    #[test]
    fn a_rule_waits_for_its_duration_and_clears_with_hysteresis() {
        let dir = tempfile::tempdir().unwrap();
        let rule = "rules:\n  - name: room_hot\n    measurement: env\n    field: temperature_c\n    above: 30\n    clear: 27\n    \
                    for_secs: 60\n    tags: {device: \"~room[0-9]+\"}\n    summary: \"Phòng {device} nóng: {value} °C\"\n";
        let e = Engine::open(cfg(dir.path(), rule)).unwrap();
        let t0 = Instant::now();
        let temp = |v: f64| obs("env", &[("site", "hn"), ("device", "room1")], &[("temperature_c", ObsValue::Num(v))]);
        // The hall is hot too, but the rule's regex matches rooms only.
        let hall = obs("env", &[("site", "hn"), ("device", "hall1")], &[("temperature_c", ObsValue::Num(35.0))]);
        e.observe_at(&[temp(31.5), hall], t0);
        e.evaluate_at(t0, 0);
        assert_eq!(e.alarms().len(), 1);
        assert_eq!(e.alarms()[0].state, State::Pending);
        e.evaluate_at(t0 + Duration::from_secs(59), 59_000);
        assert!(notices(&e).is_empty(), "not yet: 59 s of 60");
        e.evaluate_at(t0 + Duration::from_secs(60), 60_000);
        assert_eq!(notices(&e), vec![("room_hot".into(), "firing".into())]);
        assert_eq!(e.alarms()[0].summary.en, "Phòng room1 nóng: 31.5 °C");
        // Below the threshold but above `clear`: still firing.
        e.observe_at(&[temp(28.0)], t0);
        e.evaluate_at(t0 + Duration::from_secs(61), 61_000);
        assert_eq!(e.alarms()[0].state, State::Firing);
        e.observe_at(&[temp(26.5)], t0);
        e.evaluate_at(t0 + Duration::from_secs(62), 62_000);
        assert!(e.alarms().is_empty());
        assert_eq!(notices(&e).last(), Some(&("room_hot".into(), "resolved".into())));
    }

    #[test]
    fn an_acknowledged_alarm_is_not_repeated_and_an_unacknowledged_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        e.observe_at(
            &[ups(true), obs("ups", &[("site", "hn"), ("device", "ups2")], &[("on_battery", ObsValue::Bool(true))])],
            t0,
        );
        e.evaluate_at(t0, 0);
        let fp = e.alarms().iter().find(|a| a.labels["device"] == "ups1").unwrap().fingerprint.clone();
        e.ack(&fp, "Minh", "đang xử lý").unwrap();
        e.evaluate_at(t0 + Duration::from_secs(61), 61_000);
        let repeats: Vec<_> = notices(&e).into_iter().filter(|(_, k)| k == "repeat").collect();
        assert_eq!(repeats.len(), 1, "only ups2, which nobody acknowledged, is sent again");
        assert_eq!(e.history(10).unwrap()[0]["detail"], "Minh: đang xử lý");
    }

    #[test]
    fn losing_both_feeds_is_one_alarm_that_explains_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        let beat = obs("dcwatch_agent", &[("site", "hn"), ("host", "web1")], &[("uptime_s", ObsValue::Num(5.0))]);
        e.observe_at(&[feed("A", true), feed("B", true), ups(false), beat], t0);
        e.evaluate_at(t0, 0);
        assert!(notices(&e).is_empty());
        e.observe_at(&[feed("A", false)], t0);
        e.evaluate_at(t0 + Duration::from_secs(1), 1_000);
        assert_eq!(notices(&e), vec![("power_redundancy_degraded".into(), "firing".into())]);
        // Feed B goes too, the UPS takes over, and web1 falls silent.
        e.observe_at(&[feed("B", false), ups(true)], t0);
        e.evaluate_at(t0 + Duration::from_secs(40), 40_000);
        let n = notices(&e);
        assert_eq!(
            n[1..],
            [("power_lost".to_string(), "firing".to_string()), ("power_redundancy_degraded".into(), "resolved".into())]
        );
        let lost = e.alarms().into_iter().find(|a| a.name == "power_lost").unwrap();
        assert_eq!(
            lost.summary.en,
            "Site hn: ALL power feeds down (A, B); UPS ups1 on battery (87 %, 25 min left); 1 host(s) silent: web1"
        );
        let inhibited: Vec<_> = e.alarms().into_iter().filter(|a| a.inhibited_by.is_some()).map(|a| a.name).collect();
        assert_eq!(inhibited.len(), 4, "{inhibited:?}"); // ups_on_battery, agent_silent, feed_lost ×2
        // Mains back: the power alarm resolves; nothing it explained was ever sent.
        e.observe_at(&[feed("A", true), feed("B", true), ups(false)], t0 + Duration::from_secs(41));
        e.evaluate_at(t0 + Duration::from_secs(41), 41_000);
        let n = notices(&e);
        assert_eq!(n.last(), Some(&("power_lost".into(), "resolved".into())));
        assert!(!n.iter().any(|(name, _)| name == "ups_on_battery" || name == "feed_lost"), "{n:?}");
    }

    #[test]
    fn a_restart_neither_repeats_a_firing_notice_nor_loses_the_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        {
            let e = Engine::open(cfg(dir.path(), "")).unwrap();
            e.observe_at(&[ups(true)], t0);
            e.evaluate_at(t0, 0);
        }
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        assert_eq!(e.alarms().len(), 1, "restored");
        e.evaluate_at(t0 + Duration::from_secs(1), 1_000);
        e.evaluate_at(t0 + Duration::from_secs(2), 2_000);
        assert_eq!(notices(&e), vec![("ups_on_battery".into(), "firing".into())], "no second firing notice");
        e.observe_at(&[ups(false)], t0);
        e.evaluate_at(t0 + Duration::from_secs(3), 3_000);
        assert_eq!(notices(&e).last(), Some(&("ups_on_battery".into(), "resolved".into())));
    }

    #[test]
    fn an_agent_is_silent_after_three_of_its_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        let beat = |ts: i64| Observation {
            ts,
            ..obs("dcwatch_agent", &[("site", "hn"), ("host", "db1")], &[("uptime_s", ObsValue::Num(1.0))])
        };
        // Heartbeats 5 s apart: its interval is 5 s.
        e.observe_at(&[beat(1_000_000_000)], t0);
        e.observe_at(&[beat(6_000_000_000)], t0 + Duration::from_secs(5));
        e.evaluate_at(t0 + Duration::from_secs(20), 20_000);
        assert!(e.alarms().is_empty(), "15 s of silence is 3 intervals, not more");
        e.evaluate_at(t0 + Duration::from_secs(21), 21_000);
        assert_eq!(e.alarms()[0].name, "agent_silent");
        assert_eq!(e.alarms()[0].summary.en, "Host db1 at hn has sent nothing for 16 s");
    }

    #[test]
    fn ended_silences_are_purged_seven_days_after_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        const T: i64 = 1_800_000_000_000;
        const HOUR: i64 = 3_600_000;
        const DAY: i64 = 24 * HOUR;
        let add = |site: &str, ends_ms: i64| {
            let matchers = [("site".to_string(), site.to_string())].into_iter().collect();
            let new = silence::NewSilence { matchers, starts_ms: T, ends_ms, author: "Lan".into(), reason: "x".into() };
            e.add_silence(new, T).unwrap().id
        };
        let (short, long) = (add("hn", T + HOUR), add("hcm", T + 2 * DAY));
        let ids = || e.silences().iter().map(|s| s.id).collect::<Vec<_>>();
        // Exactly seven days after it ended it is still kept.
        assert_eq!(e.purge_silences(T + HOUR + 7 * DAY).unwrap(), 0);
        assert_eq!(ids(), vec![short, long]);
        assert_eq!(e.purge_silences(T + HOUR + 7 * DAY + 1).unwrap(), 1);
        assert_eq!(ids(), vec![long]);
        // Gone from the store too, not only from memory.
        drop(e);
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        assert_eq!(e.silences().iter().map(|s| s.id).collect::<Vec<_>>(), vec![long]);
    }

    #[test]
    fn a_silence_keeps_an_alarm_quiet_until_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let now = now_ms();
        let s = e
            .add_silence(
                silence::NewSilence {
                    // A regular expression on the name, an exact site.
                    matchers: [
                        ("site".to_string(), "hn".to_string()),
                        ("alertname".to_string(), "~ups_on_batt.*".to_string()),
                    ]
                    .into_iter()
                    .collect(),
                    starts_ms: now - 1000,
                    ends_ms: now + 3_600_000,
                    author: "Lan".into(),
                    reason: "thay ắc quy".into(),
                },
                now,
            )
            .unwrap();
        let t0 = Instant::now();
        e.observe_at(&[ups(true)], t0);
        e.evaluate_at(t0, now);
        assert!(notices(&e).is_empty(), "silenced");
        assert_eq!(e.alarms()[0].silenced_by, Some(s.id));
        e.end_silence(s.id).unwrap();
        e.evaluate_at(t0 + Duration::from_secs(1), now + 1000);
        assert_eq!(notices(&e), vec![("ups_on_battery".into(), "firing".into())], "sent once the silence ended");
    }

    /// Regression: an alarm already firing when a silence was added (or
    /// ended) kept its old `silenced_by` until something else changed, so
    /// the console and `/api/alarms` did not show it silenced.
    #[test]
    fn a_silence_added_to_a_firing_alarm_shows_at_the_next_evaluation_and_its_end_too() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let now = now_ms();
        let t0 = Instant::now();
        e.observe_at(&[ups(true)], t0);
        e.evaluate_at(t0, now);
        assert_eq!(notices(&e), vec![("ups_on_battery".into(), "firing".into())]);
        assert_eq!(e.alarms()[0].silenced_by, None);
        let new = silence::NewSilence {
            matchers: [("alertname".to_string(), "ups_on_battery".to_string())].into_iter().collect(),
            starts_ms: now,
            ends_ms: now + 3_600_000,
            author: "Lan".into(),
            reason: "thay ắc quy".into(),
        };
        let s = e.add_silence(new, now).unwrap();
        e.evaluate_at(t0 + Duration::from_secs(1), now + 1000);
        assert_eq!(e.alarms()[0].silenced_by, Some(s.id));
        e.end_silence(s.id).unwrap();
        e.evaluate_at(t0 + Duration::from_secs(2), now + 2000);
        assert_eq!(e.alarms()[0].silenced_by, None);
    }

    #[test]
    fn an_unacknowledged_alarm_is_escalated_once() {
        let dir = tempfile::tempdir().unwrap();
        let extra = "  - name: boss\n    webhook: {url: http://127.0.0.1:9/boss}\nroutes:\n  - receivers: [hook]\n    escalate_to: [boss]\n    escalate_after_secs: 600\n";
        let e = Engine::open(cfg(dir.path(), extra)).unwrap();
        let t0 = Instant::now();
        e.observe_at(&[ups(true)], t0);
        e.evaluate_at(t0, 0);
        e.evaluate_at(t0 + Duration::from_secs(599), 599_000);
        let to_boss = |e: &Engine| {
            e.with_store(|s| s.due(i64::MAX, 100)).unwrap().into_iter().filter(|n| n.receiver == "boss").count()
        };
        assert_eq!(to_boss(&e), 0);
        e.evaluate_at(t0 + Duration::from_secs(600), 600_000);
        e.evaluate_at(t0 + Duration::from_secs(700), 700_000);
        assert_eq!(to_boss(&e), 1, "escalated once, after 600 s without an acknowledgement");
        let n = e.with_store(|s| s.due(i64::MAX, 100)).unwrap().into_iter().find(|n| n.receiver == "boss").unwrap();
        assert_eq!(n.status, "escalated");
        // Acknowledged in time: no escalation.
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), extra)).unwrap();
        e.observe_at(&[ups(true)], t0);
        e.evaluate_at(t0, 0);
        let fp = e.alarms()[0].fingerprint.clone();
        e.ack(&fp, "Hùng", "đã biết").unwrap();
        e.evaluate_at(t0 + Duration::from_secs(601), 601_000);
        assert_eq!(to_boss(&e), 0);
    }

    #[test]
    fn a_flapping_alarm_sends_one_flapping_notice_then_its_state_once_stable() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "flap_changes: 4\nflap_window_secs: 600\n")).unwrap();
        let t0 = Instant::now();
        let mut t = 0i64;
        // On battery, off, on, off, on, off: six changes in a minute.
        for i in 0..6 {
            e.observe_at(&[ups(i % 2 == 0)], t0);
            t += 10_000;
            e.evaluate_at(t0 + Duration::from_millis(t as u64), t);
        }
        let kinds: Vec<String> = notices(&e).into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds, ["firing", "resolved", "firing", "flapping"]);
        // Quiet, then stable (resolved) for the window: one resolve.
        t += 601_000;
        e.evaluate_at(t0 + Duration::from_millis(t as u64), t);
        let kinds: Vec<String> = notices(&e).into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds, ["firing", "resolved", "firing", "flapping", "resolved"]);
    }

    #[test]
    fn the_disk_forecast_follows_the_trend_not_a_burst() {
        use std::collections::VecDeque;
        let gib = 1024.0 * 1024.0 * 1024.0;
        // 100 GiB disk, 60 GiB used, growing 1 GiB an hour for 6 hours, one sample a minute…
        let mut h: VecDeque<(i64, f64, f64)> =
            (0..360).map(|m| (m * 60_000_000_000, 60.0 * gib + m as f64 / 60.0 * gib, 100.0 * gib)).collect();
        // … with a one-off 20 GiB dump ten minutes ago, deleted five minutes later.
        for s in h.iter_mut().skip(350).take(5) {
            s.1 += 20.0 * gib;
        }
        let days = builtin::host::days_to_full(&h).unwrap();
        // 34 GiB left at 24 GiB a day: 1.42 days (the burst moves it by less than 1 %).
        assert!((days - 34.0 / 24.0).abs() < 0.02, "{days}");
        // A gap of three hours changes nothing.
        h.retain(|(t, _, _)| !(60 * 60_000_000_000..240 * 60_000_000_000).contains(t));
        assert!((builtin::host::days_to_full(&h).unwrap() - 34.0 / 24.0).abs() < 0.02);
        // Shrinking or flat: no forecast.
        let flat: VecDeque<(i64, f64, f64)> = (0..60).map(|m| (m * 60_000_000_000, 50.0 * gib, 100.0 * gib)).collect();
        assert_eq!(builtin::host::days_to_full(&flat), None);
    }

    #[test]
    fn a_service_is_degraded_when_one_site_is_all_silent_and_out_when_all_are() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(
            dir.path(),
            "services:\n  - name: portal\n    members: {hn: [web1, web2], hcm: [web3]}\n",
        ))
        .unwrap();
        let t0 = Instant::now();
        let beat = |site: &str, host: &str| {
            obs("dcwatch_agent", &[("site", site), ("host", host)], &[("uptime_s", ObsValue::Num(1.0))])
        };
        e.observe_at(&[beat("hn", "web1"), beat("hn", "web2"), beat("hcm", "web3")], t0);
        // web3 keeps writing; web1 and web2 fall silent.
        e.observe_at(&[beat("hcm", "web3")], t0 + Duration::from_secs(40));
        e.evaluate_at(t0 + Duration::from_secs(41), 41_000);
        let names: Vec<String> =
            e.alarms().into_iter().filter(|a| a.name.starts_with("service")).map(|a| a.summary.en).collect();
        assert_eq!(names, ["Service portal: every host at hn is silent; it runs on the other site(s) only"]);
        e.evaluate_at(t0 + Duration::from_secs(80), 80_000);
        let names: Vec<String> =
            e.alarms().into_iter().filter(|a| a.name.starts_with("service")).map(|a| a.name).collect();
        assert_eq!(names, ["service_outage"]);
    }

    #[test]
    fn a_service_that_needs_both_sites_is_out_when_one_is_down() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(
            dir.path(),
            "services:\n  - name: tax\n    min_sites: 2\n    members: {hn: [db1], hcm: [db2]}\n",
        ))
        .unwrap();
        let t0 = Instant::now();
        let beat = |site: &str, host: &str| {
            obs("dcwatch_agent", &[("site", site), ("host", host)], &[("uptime_s", ObsValue::Num(1.0))])
        };
        e.observe_at(&[beat("hn", "db1"), beat("hcm", "db2")], t0);
        e.observe_at(&[beat("hcm", "db2")], t0 + Duration::from_secs(40));
        e.evaluate_at(t0 + Duration::from_secs(41), 41_000);
        let got: Vec<(String, String)> =
            e.alarms().into_iter().filter(|a| a.name.starts_with("service")).map(|a| (a.name, a.summary.en)).collect();
        assert_eq!(
            got,
            [(
                "service_outage".to_string(),
                "Service tax: it needs 2 site(s) and runs at 1 — every host at hn is silent".to_string()
            )]
        );
    }

    #[test]
    fn an_agent_that_drops_points_is_an_alarm() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        let beat = |dropped: f64, ts: i64| Observation {
            ts,
            ..obs("dcwatch_agent", &[("site", "hn"), ("host", "db1")], &[("dropped", ObsValue::Num(dropped))])
        };
        e.observe_at(&[beat(0.0, 1)], t0);
        e.observe_at(&[beat(0.0, 10_000_000_001)], t0 + Duration::from_secs(10));
        e.evaluate_at(t0 + Duration::from_secs(10), 10_000);
        assert!(e.alarms().is_empty());
        e.observe_at(&[beat(1500.0, 20_000_000_001)], t0 + Duration::from_secs(20));
        e.evaluate_at(t0 + Duration::from_secs(20), 20_000);
        assert_eq!(e.alarms()[0].name, "agent_dropped_data");
        assert_eq!(e.alarms()[0].value.as_deref(), Some("1500"));
    }

    #[test]
    fn an_alarm_the_power_alarm_may_explain_waits_for_it_before_its_first_notice() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        e.set_config(AlarmsConfig { inhibit_wait_ms: 2000, ..(*e.config()).clone() });
        let t0 = Instant::now();
        // The UPS trap comes first, while the meters still say the feeds are live…
        e.observe_at(&[feed("A", true), feed("B", true), ups(true)], t0);
        e.evaluate_at(t0, 0);
        assert!(notices(&e).is_empty(), "waiting for a power alarm that may explain it");
        // … then the meters' next poll: both feeds down. One alarm goes out.
        e.observe_at(&[feed("A", false), feed("B", false)], t0);
        e.evaluate_at(t0 + Duration::from_secs(1), 1_000);
        e.evaluate_at(t0 + Duration::from_secs(3), 3_000);
        assert_eq!(notices(&e), vec![("power_lost".into(), "firing".into())]);
        // A UPS on battery with the site's feeds live is news on its own: sent after the wait.
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        e.set_config(AlarmsConfig { inhibit_wait_ms: 2000, ..(*e.config()).clone() });
        e.observe_at(&[feed("A", true), feed("B", true), ups(true)], t0);
        e.evaluate_at(t0, 0);
        e.evaluate_at(t0 + Duration::from_secs(2), 2_000);
        assert_eq!(notices(&e), vec![("ups_on_battery".into(), "firing".into())]);
    }

    fn disk(host: &str, mount: &str, used_pct: f64) -> Observation {
        obs("host_disk", &[("site", "hn"), ("host", host), ("mount", mount)], &[("used_pct", ObsValue::Num(used_pct))])
    }

    /// The payloads of the queued notices, oldest first.
    fn payloads(e: &Engine) -> Vec<serde_json::Value> {
        let due = e.with_store(|s| s.due(i64::MAX, 10_000)).unwrap();
        due.iter().map(|n| serde_json::from_str(&n.payload).unwrap()).collect()
    }

    #[test]
    fn a_token_past_its_series_cap_adds_no_series_but_still_updates_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "limits: {max_series_per_token: 3}\n")).unwrap();
        let t0 = Instant::now();
        let flood: Vec<Observation> = (0..5).map(|i| disk("h1", &format!("/m{i}"), 50.0)).collect();
        e.observe_from("flood", flood, t0);
        // Its own series still take new values; another token still adds its own.
        e.observe_from("flood", vec![disk("h1", "/m0", 95.0)], t0);
        e.observe_from("web", vec![disk("web1", "/", 20.0)], t0);
        e.evaluate_at(t0, 1_000);
        let seen = e.stats.limits.lock().unwrap().clone();
        assert_eq!(seen.tokens["flood"], (3, 2), "3 series kept, 2 points refused");
        assert_eq!(seen.tokens["web"], (1, 0));
        assert_eq!(seen.entries, 4);
        assert_eq!(
            firing(&e),
            vec![
                ("disk_full".into(), "/m0 on h1 at hn is 95 % full".into()),
                (
                    "series_cap_reached".into(),
                    "Token flood has 3 series in the alarm state, its cap (alarms.limits.max_series_per_token): \
                     points of new series are still forwarded to the sinks, but no alarm sees them"
                        .into()
                ),
            ]
        );
        let cap = e.alarms().into_iter().find(|a| a.name == "series_cap_reached").unwrap();
        assert_eq!(cap.labels, [("token".to_string(), "flood".to_string())].into());
    }

    #[test]
    fn points_written_while_an_evaluation_holds_the_table_wait_in_a_queue_not_on_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let t0 = Instant::now();
        {
            let _evaluating = e.latest.lock().unwrap();
            e.observe_from("web", vec![disk("web1", "/", 95.0)], t0);
            assert_eq!(e.pending.lock().unwrap().points, 1, "queued, and the writer went on");
        }
        e.evaluate_at(t0, 1_000);
        assert_eq!(e.pending.lock().unwrap().points, 0);
        assert_eq!(firing(&e), vec![("disk_full".into(), "/ on web1 at hn is 95 % full".into())]);
    }

    #[test]
    fn a_series_not_written_for_the_ttl_is_forgotten_and_its_alarm_resolves_as_expired() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "limits: {series_ttl_secs: 60}\n")).unwrap();
        let t0 = Instant::now();
        e.observe_at(&[disk("web1", "/data", 95.0), disk("web2", "/", 20.0)], t0);
        e.evaluate_at(t0, 1_000);
        assert_eq!(firing(&e).len(), 1);
        // web2 keeps writing; web1 goes away for good.
        e.observe_at(&[disk("web2", "/", 21.0)], t0 + Duration::from_secs(30));
        e.evaluate_at(t0 + Duration::from_secs(59), 59_000);
        assert_eq!(firing(&e).len(), 1, "59 s is within the TTL");
        e.evaluate_at(t0 + Duration::from_secs(60), 60_000);
        assert!(e.alarms().is_empty());
        let resolved = payloads(&e).into_iter().find(|p| p["notice"] == "resolved").unwrap();
        assert_eq!(
            resolved["summary"],
            "No data for 1 min: what this alarm is about is no longer reported, so the collector forgot it \
             (alarms.limits.series_ttl_secs); closed without a recovery"
        );
        let seen = e.stats.limits.lock().unwrap().clone();
        assert_eq!((seen.entries, seen.expired_alarms), (1, 1), "web2's series is kept");
        assert_eq!(e.history(10).unwrap()[0]["event"], "resolved");
    }

    #[test]
    fn an_alarm_without_a_condition_stays_while_a_series_still_carries_its_labels() {
        use ObsValue::{Num, Str};
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "limits: {series_ttl_secs: 60}\n")).unwrap();
        let t0 = Instant::now();
        let stale =
            backup("nas1", "db", &[("status", Str("ok".into())), ("last_success_ts", Num((T - 30 * 3600) as f64))]);
        e.observe_at(&[stale, disk("web1", "/", 20.0)], t0);
        e.evaluate_at(t0, T * 1000);
        assert_eq!(firing(&e)[0].0, "backup_stale");
        // The failed rerun carries no last success: no stale condition, but the job still reports.
        e.observe_at(&[backup("nas1", "db", &[("status", Str("failed".into()))])], t0 + Duration::from_secs(50));
        // web1's disk series expires, which makes the engine look for orphans.
        e.evaluate_at(t0 + Duration::from_secs(61), T * 1000 + 61_000);
        let names: Vec<String> = firing(&e).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["backup_failed", "backup_stale"]);
        // Then the job stops reporting too: both expire.
        e.evaluate_at(t0 + Duration::from_secs(111), T * 1000 + 111_000);
        assert!(e.alarms().is_empty(), "{:?}", firing(&e));
    }

    #[test]
    fn an_alarm_restored_at_start_expires_only_after_a_ttl_without_its_series() {
        let dir = tempfile::tempdir().unwrap();
        let extra = "limits: {series_ttl_secs: 60}\n";
        {
            let e = Engine::open(cfg(dir.path(), extra)).unwrap();
            e.observe_at(&[ups(true)], Instant::now());
            e.evaluate_at(Instant::now(), 1_000);
        }
        let e = Engine::open(cfg(dir.path(), extra)).unwrap();
        let t0 = Instant::now();
        e.evaluate_at(t0, 2_000);
        e.evaluate_at(t0 + Duration::from_secs(59), 59_000);
        assert_eq!(e.alarms().len(), 1, "its UPS may report again within the TTL");
        e.evaluate_at(t0 + Duration::from_secs(61), 61_000);
        assert!(e.alarms().is_empty());
    }

    #[test]
    fn an_engine_that_cannot_make_its_folder_says_which_and_keeps_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "").unwrap();
        let mut c = cfg(dir.path(), "");
        c.db = file.join("alarms.db");
        let Err(e) = Engine::open(c) else { panic!("opened under a file") };
        assert!(
            matches!(&e, OpenError::Store(store::OpenError::Db(crate::db::OpenError::Dir { path, .. })) if *path == file),
            "{e:?}"
        );
        assert_eq!(dcwatch_common::error_chain(&e), format!("{}: File exists (os error 17)", file.display()));
    }

    #[test]
    fn acting_on_an_alarm_or_silence_that_is_not_there_says_so_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "")).unwrap();
        let err = e.ack("f00", "lan", "").unwrap_err();
        assert!(matches!(&err, ActionError::NoAlarm(fp) if fp == "f00"), "{err:?}");
        assert_eq!(String::from(err), "no pending or firing alarm f00");
        let err = e.end_silence(7).unwrap_err();
        assert!(matches!(err, ActionError::NoSilence(7)), "{err:?}");
        assert_eq!(err.to_string(), "no silence 7");
    }

    #[test]
    fn the_site_cap_never_holds_back_alarms_db_quarantined_even_at_a_cap_of_zero() {
        let hn = builtin::labels(&[("site", "hn")]);
        let quarantined = builtin::cond("alarms_db_quarantined", hn.clone(), Texts::default(), None, true);
        let disk = builtin::cond("disk_full", hn, Texts::default(), None, true);
        let fps = vec!["q".to_string(), "d".to_string()];
        let (refused, not_raised) = cap_alarms(&HashMap::new(), &[quarantined, disk], &fps, 0);
        assert_eq!(refused, HashSet::from([1]), "only the disk alarm is held back");
        assert_eq!(not_raised, BTreeMap::from([("hn".to_string(), 1)]));
    }

    #[test]
    fn past_the_site_cap_new_alarms_are_not_raised_the_most_severe_first() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "limits: {max_alarms_per_site: 2}\n")).unwrap();
        let t0 = Instant::now();
        let mut points: Vec<Observation> = (0..4).map(|i| disk("h1", &format!("/m{i}"), 95.0)).collect();
        points.push(ups(true));
        // Both feeds down: the site's power alarm is never held back.
        points.extend([feed("A", false), feed("B", false)]);
        e.observe_at(&points, t0);
        e.evaluate_at(t0, 1_000);
        let mut names: Vec<String> = e.alarms().into_iter().map(|a| a.name).collect();
        names.sort();
        assert_eq!(names, ["alarm_cap_reached", "disk_full", "power_lost", "ups_on_battery"]);
        let cap = e.alarms().into_iter().find(|a| a.name == "alarm_cap_reached").unwrap();
        assert_eq!(
            cap.summary.en,
            "2 alarms pending or firing at site hn, its cap (alarms.limits.max_alarms_per_site): 5 more are not raised; \
             see the console and the writers of that site"
        );
        assert_eq!(e.stats.limits.lock().unwrap().not_raised, [("hn".to_string(), 5)].into());
        // The disk raised is the first by its labels; the two feeds' alarms wait too.
        let disk = e.alarms().into_iter().find(|a| a.name == "disk_full").unwrap();
        assert_eq!(disk.labels["mount"], "/m0");
        // Below the cap again, the rest are raised and the cap alarm resolves.
        e.set_config(AlarmsConfig {
            limits: config::LimitsConfig { max_alarms_per_site: 100, ..Default::default() },
            ..(*e.config()).clone()
        });
        e.evaluate_at(t0 + Duration::from_secs(1), 2_000);
        let names: Vec<String> = e.alarms().into_iter().map(|a| a.name).collect();
        assert_eq!(names.len(), 8, "{names:?}");
        assert!(!names.contains(&"alarm_cap_reached".to_string()));
    }

    #[test]
    fn a_storm_of_notices_to_one_receiver_is_folded_into_one_summary_at_the_windows_end() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(cfg(dir.path(), "limits: {max_notices_per_window: 3, notice_window_secs: 60}\n")).unwrap();
        let t0 = Instant::now();
        let points: Vec<Observation> = (0..10).map(|i| disk(&format!("h{i}"), "/", 95.0)).collect();
        e.observe_at(&points, t0);
        e.observe_at(&[ups(true)], t0);
        e.evaluate_at(t0, 1_000);
        let sent: Vec<(String, String)> = notices(&e);
        assert_eq!(
            sent,
            [
                ("ups_on_battery".to_string(), "firing".to_string()),
                ("disk_full".into(), "firing".into()),
                ("disk_full".into(), "firing".into())
            ],
            "the critical one first"
        );
        assert_eq!(e.stats.notices_folded.load(Ordering::Relaxed), 8);
        e.evaluate_at(t0 + Duration::from_secs(59), 59_000);
        assert_eq!(notices(&e).len(), 3, "the window has not ended");
        e.evaluate_at(t0 + Duration::from_secs(61), 61_000);
        let summary = payloads(&e).pop().unwrap();
        assert_eq!(summary["notice"], "summary");
        assert_eq!(summary["severity"], "warning");
        assert_eq!(summary["labels"], serde_json::json!({"site": "hn"}));
        assert_eq!(
            summary["summary"],
            "8 more alarm notices at site hn in 1 min (8 firing, 0 resolved), not sent one by one; see the console: \
             disk_full{host=h2,mount=/}, disk_full{host=h3,mount=/}, disk_full{host=h4,mount=/}, \
             disk_full{host=h5,mount=/}, disk_full{host=h6,mount=/}, … 3 more"
        );
        assert_eq!(
            notify::headline(&summary),
            "[WARNING] 8 more alarm notices at site hn in 1 min (8 firing, 0 resolved), not sent one by one; \
             see the console: disk_full{host=h2,mount=/}, disk_full{host=h3,mount=/}, disk_full{host=h4,mount=/}, \
             disk_full{host=h5,mount=/}, disk_full{host=h6,mount=/}, … 3 more"
        );
        // The repeats due then (every 60 s here) are a storm of their own: three sent, the rest folded.
        let kinds: Vec<String> = notices(&e).into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds[3..], ["repeat", "repeat", "repeat", "summary"]);
        assert_eq!(e.stats.notices_folded.load(Ordering::Relaxed), 8 + 8);
    }

    fn hanoi() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
    }

    /// 2026-11-22T07:05:00Z: 14:05 in Hanoi.
    const HANOI_1405: i64 = 1_795_331_100_000;

    #[test]
    fn each_receiver_gets_the_notice_in_its_language_with_the_time_in_the_sites_zone() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), "  - name: truc-ca\n    lang: vi\n    webhook: {url: http://127.0.0.1:9/y}\n");
        c.tz = Some(hanoi());
        let e = Engine::open(c).unwrap();
        let t0 = Instant::now();
        e.observe_at(&[ups(true)], t0);
        e.evaluate_at(t0, HANOI_1405);
        let ps = payloads(&e);
        assert_eq!(ps.len(), 2);
        let (vi, en) = if ps[0]["lang"] == "vi" { (&ps[0], &ps[1]) } else { (&ps[1], &ps[0]) };
        let fp = e.alarms()[0].fingerprint.clone();
        assert_eq!(vi["summary"], "UPS ups1 tại trung tâm hn đang chạy bằng ắc quy (còn 87 %, 25 phút)");
        assert_eq!(vi["started_at"], "2026-11-22T07:05:00.000Z", "JSON times stay UTC for machines");
        assert_eq!(vi["started"], "22/11/2026 14:05");
        assert_eq!(
            notify::headline(vi),
            "[NGHIÊM TRỌNG] ĐANG CẢNH BÁO ups_on_battery: UPS ups1 tại trung tâm hn đang chạy bằng ắc quy (còn 87 %, 25 phút)"
        );
        assert_eq!(
            notify::text(vi),
            format!(
                "{}\n\nthiết bị: ups1\ntrung tâm: hn\nbắt đầu: 22/11/2026 14:05\ncần làm: UPS mất điện lưới và đang \
                 chạy bằng ắc quy. Kiểm tra nguồn điện lưới và máy phát; chuẩn bị tắt máy chủ theo thứ tự nếu điện \
                 không sớm trở lại.\nmã cảnh báo: {fp}\n",
                notify::headline(vi)
            )
        );
        assert_eq!(
            notify::headline(en),
            "[CRITICAL] FIRING ups_on_battery: UPS ups1 at hn is on battery (87 % charge, 25 min runtime)"
        );
        assert!(notify::text(en).contains("\nsince: 22 Nov 2026 14:05\n"), "{}", notify::text(en));
        // The resolve: its end in the zone too.
        e.observe_at(&[ups(false)], t0);
        e.evaluate_at(t0 + Duration::from_secs(1), HANOI_1405 + 30 * 60_000);
        let resolved = payloads(&e).into_iter().find(|p| p["notice"] == "resolved" && p["lang"] == "vi").unwrap();
        assert_eq!(
            notify::headline(&resolved),
            "[NGHIÊM TRỌNG] ĐÃ HẾT ups_on_battery: UPS ups1 tại trung tâm hn đang chạy bằng ắc quy (còn 87 %, 25 phút)"
        );
        assert!(notify::text(&resolved).contains("\nbắt đầu: 22/11/2026 14:05\nkết thúc: 22/11/2026 14:35\n"));
    }

    #[test]
    fn a_storm_summary_to_a_vietnamese_receiver_is_in_vietnamese() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), "limits: {max_notices_per_window: 3, notice_window_secs: 60}\n");
        c.lang = crate::i18n::Lang::Vi;
        let e = Engine::open(c).unwrap();
        let t0 = Instant::now();
        let points: Vec<Observation> = (0..10).map(|i| disk(&format!("h{i}"), "/", 95.0)).collect();
        e.observe_at(&points, t0);
        e.evaluate_at(t0, 1_000);
        e.evaluate_at(t0 + Duration::from_secs(61), 61_000);
        let summary = payloads(&e).into_iter().find(|p| p["notice"] == "summary").unwrap();
        assert_eq!(
            notify::headline(&summary),
            "[CHÚ Ý] Thêm 7 thông báo cảnh báo tại trung tâm hn trong 1 phút (7 đang cảnh báo, 0 đã hết), không gửi \
             riêng từng thông báo; xem bảng điều khiển: disk_full{host=h3,mount=/}, disk_full{host=h4,mount=/}, \
             disk_full{host=h5,mount=/}, disk_full{host=h6,mount=/}, disk_full{host=h7,mount=/}, … và 2 nữa"
        );
        let disk = payloads(&e).into_iter().find(|p| p["name"] == "disk_full").unwrap();
        assert_eq!(disk["summary"], "Ổ đĩa / trên máy chủ h0 tại trung tâm hn đã đầy 95 %");
    }

    #[test]
    fn a_rule_summary_may_give_each_language_and_writes_its_value_the_languages_way() {
        let dir = tempfile::tempdir().unwrap();
        let rule = "rules:\n  - name: room_hot\n    measurement: env\n    field: temperature_c\n    above: 30\n    \
                    summary: {vi: \"Phòng {device} nóng: {value} °C\", en: \"Room {device} is hot: {value} °C\"}\n  \
                    - name: room_humid\n    measurement: env\n    field: humidity_pct\n    above: 70\n";
        let e = Engine::open(cfg(dir.path(), rule)).unwrap();
        let t0 = Instant::now();
        e.observe_at(
            &[obs(
                "env",
                &[("site", "hn"), ("device", "room1")],
                &[("temperature_c", ObsValue::Num(31.5)), ("humidity_pct", ObsValue::Num(1234.5))],
            )],
            t0,
        );
        e.evaluate_at(t0, 0);
        let mut got: Vec<(String, Texts)> = e.alarms().into_iter().map(|a| (a.name, a.summary)).collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                (
                    "room_hot".to_string(),
                    Texts { vi: "Phòng room1 nóng: 31,5 °C".into(), en: "Room room1 is hot: 31.5 °C".into() }
                ),
                (
                    "room_humid".to_string(),
                    Texts {
                        vi: "room_humid: humidity_pct = 1.234,5".into(),
                        en: "room_humid: humidity_pct = 1,234.5".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_rule_summary_in_a_language_dcwatch_does_not_speak_is_refused() {
        let yaml = "db: /tmp/x.db\nrules:\n  - name: room_hot\n    measurement: env\n    field: t\n    above: 30\n    \
                    summary: {vi: \"nóng\", fr: \"chaud\"}\n";
        let problems =
            dcwatch_common::config::parse::<AlarmsConfig>(yaml, std::path::Path::new("/x/alarms.yaml")).unwrap_err();
        let shown: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        assert_eq!(shown, ["alarms.rules[0] (room_hot).summary.fr: `fr` is not a language dcwatch speaks: vi or en"]);
        let problems = dcwatch_common::config::parse::<AlarmsConfig>(
            &yaml.replace("{vi: \"nóng\", fr: \"chaud\"}", "[nóng, chaud]"),
            std::path::Path::new("/x/alarms.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            (problems[0].position, problems[0].message.as_str()),
            (Some((7, 5)), "invalid type: sequence, expected a text, or a text per language (`vi: …`, `en: …`)")
        );
    }

    #[test]
    fn a_receivers_language_defaults_to_alarms_lang_which_defaults_to_vietnamese() {
        let yaml = "db: /tmp/x.db\nreceivers:\n  - {name: a, webhook: {url: http://h/}}\n  - {name: b, lang: en, webhook: {url: http://h/}}\n";
        let c = dcwatch_common::config::parse::<AlarmsConfig>(yaml, std::path::Path::new("/x/alarms.yaml")).unwrap();
        assert_eq!((c.lang_of("a"), c.lang_of("b")), (crate::i18n::Lang::Vi, crate::i18n::Lang::En));
        let c = dcwatch_common::config::parse::<AlarmsConfig>(
            &format!("lang: en\n{yaml}"),
            std::path::Path::new("/x/a.yaml"),
        )
        .unwrap();
        assert_eq!(c.lang_of("a"), crate::i18n::Lang::En);
    }
}
