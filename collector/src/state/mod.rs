//! What the collector knows while it runs: its counters, per agent when it
//! last wrote, and the bounds on what writers may make it hold (bodies read
//! at once, hosts tracked per token) with their counters in `/metrics`.

pub mod health;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use std::sync::Arc;

use dcwatch_common::forward;
use dcwatch_common::spool::{Committer, Spool};

use crate::ingest::auth::{Forbidden, Tokens};

/// A sink as the API sees it.
pub struct Sink {
    pub name: String,
    pub endpoint: String,
    /// An InfluxDB 1.x sink (`flavour: v1`): it cannot store unsigned
    /// integers, so ingest writes them as signed ones.
    pub v1: bool,
    pub stats: Arc<forward::Stats>,
}

/// The spool and its group committer (present when there are sinks).
pub struct Durable {
    pub spool: Arc<Spool>,
    pub committer: Arc<Committer>,
    /// Which token wrote each spool record, for the sinks' logs.
    pub origins: Arc<dcwatch_common::origin::Origins>,
}

/// Why a whole request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRejection {
    Unauthorized,
    TooLarge,
    BadRequest,
    Overloaded,
    Timeout,
    /// The token is bound to a client certificate the connection lacks.
    ClientCertificate,
    /// The token has spent its allowance (`ingest.rate_limit`): 429.
    RateLimited,
    /// The collector failed (a parsing thread lost): 500.
    Internal,
}

impl RequestRejection {
    pub const ALL: [RequestRejection; 8] = [
        Self::Unauthorized,
        Self::TooLarge,
        Self::BadRequest,
        Self::Overloaded,
        Self::Timeout,
        Self::ClientCertificate,
        Self::RateLimited,
        Self::Internal,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::BadRequest => "bad_request",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::ClientCertificate => "client_certificate",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
        }
    }
}

#[derive(Debug, Default)]
pub struct IngestStats {
    pub requests_total: AtomicU64,
    pub points_received: AtomicU64,
    pub points_invalid: AtomicU64,
    pub points_forbidden: AtomicU64,
    requests_rejected: [AtomicU64; RequestRejection::ALL.len()],
    forbidden_by: [AtomicU64; Forbidden::ALL.len()],
    /// Writes refused (503) because their token had its share of the bodies
    /// read at once, or because all were taken for `read_timeout`.
    pub bodies_refused_share: AtomicU64,
    pub bodies_refused_busy: AtomicU64,
    /// Per token: (site, host) pairs not listed in `/health` and `/metrics`
    /// past `ingest.max_hosts_per_token`.
    pub hosts_untracked: Mutex<BTreeMap<String, u64>>,
}

impl IngestStats {
    pub fn reject(&self, why: RequestRejection) {
        self.requests_rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, why: RequestRejection) -> u64 {
        self.requests_rejected[why as usize].load(Ordering::Relaxed)
    }

    pub fn add_forbidden(&self, by: &[u64; Forbidden::ALL.len()]) {
        for (c, n) in self.forbidden_by.iter().zip(by) {
            c.fetch_add(*n, Ordering::Relaxed);
        }
    }

    pub fn forbidden(&self, why: Forbidden) -> u64 {
        self.forbidden_by[why as usize].load(Ordering::Relaxed)
    }
}

/// The last write seen from one agent (site, host).
#[derive(Debug, Clone, Default)]
pub struct AgentSeen {
    pub last_write_ns: i64,
    pub points: u64,
}

/// What a config reload replaces, swapped whole so a request sees one
/// consistent version.
pub struct Live {
    pub tokens: Tokens,
    pub sinks: Vec<Sink>,
    pub durable: Option<Durable>,
    pub max_body_bytes: usize,
    /// Longest the body of a write may take to arrive.
    pub read_timeout: std::time::Duration,
    /// The API's tokens and their roles.
    pub api_tokens: crate::auth::TokenTable<crate::auth::ApiIdentity>,
    /// `/metrics` needs an API token.
    pub metrics_require_token: bool,
    /// `ingest.rate_limit`, per token.
    pub rate: crate::ingest::rate::Rate,
    /// `api.health`: what makes `/health` fail.
    pub health: crate::api::health::HealthConfig,
}

/// How many write bodies are read (and parsed) at once, in all and per
/// token: a body in memory costs many times its size, so this bounds the
/// memory writes can take; and one token (a flood) may hold at most half,
/// so the other agents' writes still get in.
pub struct Bodies {
    all: Arc<tokio::sync::Semaphore>,
    max: usize,
    held: Mutex<std::collections::HashMap<String, usize>>,
}

/// A body being read; released when dropped.
pub struct BodyPermit {
    _all: tokio::sync::OwnedSemaphorePermit,
    _share: Share,
}

struct Share {
    bodies: Arc<Bodies>,
    token: String,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.bodies.held.lock().expect("not poisoned");
        if let Some(n) = held.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.token);
            }
        }
    }
}

impl Bodies {
    pub fn new(max: usize) -> Arc<Bodies> {
        Arc::new(Bodies { all: Arc::new(tokio::sync::Semaphore::new(max)), max, held: Mutex::default() })
    }

    /// A token's share: half of them, rounded up.
    pub fn share(&self) -> usize {
        self.max.div_ceil(2)
    }

    /// Bodies being read now.
    pub fn reading(&self) -> usize {
        self.max - self.all.available_permits()
    }

    /// Waits (at most `wait`) for a body of `token` to be read; the error
    /// says why not, for a 503.
    pub async fn acquire(
        self: &Arc<Self>,
        token: &str,
        wait: std::time::Duration,
        stats: &IngestStats,
    ) -> Result<BodyPermit, String> {
        {
            let mut held = self.held.lock().expect("not poisoned");
            let n = held.entry(token.to_string()).or_default();
            if *n >= self.share() {
                stats.bodies_refused_share.fetch_add(1, Ordering::Relaxed);
                return Err(format!(
                    "token `{token}` has {n} writes being read, its share of ingest.max_concurrent_bodies ({}); \
                     send them one after another",
                    self.max
                ));
            }
            *n += 1;
        }
        let share = Share { bodies: self.clone(), token: token.to_string() };
        match tokio::time::timeout(wait, self.all.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(BodyPermit { _all: p, _share: share }),
            _ => {
                stats.bodies_refused_busy.fetch_add(1, Ordering::Relaxed);
                Err(format!(
                    "{} writes are being read (ingest.max_concurrent_bodies) and none ended within {} s",
                    self.max,
                    wait.as_secs_f64()
                ))
            }
        }
    }
}

pub struct AppState {
    live: std::sync::RwLock<Arc<Live>>,
    pub stats: IngestStats,
    pub agents: Mutex<BTreeMap<(String, String), AgentSeen>>,
    /// Per token, the entries it added to `agents`.
    agents_per_token: Mutex<std::collections::HashMap<String, usize>>,
    /// Open connections and why others were closed.
    pub connections: Arc<crate::listen::Stats>,
    /// The bodies read at once (`ingest.max_concurrent_bodies`; set at start).
    pub bodies: Arc<Bodies>,
    /// `ingest.max_hosts_per_token` (set at start).
    pub max_hosts_per_token: usize,
    /// Each token's allowance of points (`ingest.rate_limit`).
    pub rate_limiter: crate::ingest::rate::RateLimiter,
    pub started: Instant,
    /// The alarm engine, when `alarms:` is configured.
    pub alarms: Option<Arc<crate::alarm::Engine>>,
    /// The hourly trend store, when `trends:` is configured.
    pub trends: Option<Arc<crate::trends::Trends>>,
    /// What the report schedule has sent and failed to.
    pub reports: Arc<crate::report::schedule::ReportStats>,
    /// The audit log (None only in tests that do not look at it).
    pub audit: Option<Arc<crate::audit::Audit>>,
    /// The pair of collectors, when `peering:` is configured.
    pub peering: Option<Arc<crate::peer::Peering>>,
    /// The watchdog's pings (`watchdog.url`).
    pub watchdog: Arc<crate::watchdog::Stats>,
}

impl AppState {
    #[cfg(test)]
    pub fn new(live: Live) -> Self {
        Self::with_alarms(live, None)
    }

    pub fn with_alarms(live: Live, alarms: Option<Arc<crate::alarm::Engine>>) -> Self {
        AppState {
            live: std::sync::RwLock::new(Arc::new(live)),
            stats: IngestStats::default(),
            agents: Mutex::new(BTreeMap::new()),
            agents_per_token: Mutex::default(),
            connections: Arc::default(),
            bodies: Bodies::new(16),
            max_hosts_per_token: 1000,
            rate_limiter: Default::default(),
            started: Instant::now(),
            trends: None,
            reports: Arc::default(),
            audit: None,
            peering: None,
            watchdog: Arc::default(),
            alarms,
        }
    }

    /// The current tokens, sinks and limits.
    pub fn live(&self) -> Arc<Live> {
        self.live.read().expect("not poisoned").clone()
    }

    /// Records a write of `points` from `token` naming these (site, host)
    /// pairs; a token's pairs past `max_hosts_per_token` are counted,
    /// not listed, so a flood of made-up hosts cannot grow `/metrics`.
    /// (Not forgotten: a silent agent stays listed.)
    pub fn saw_agents(&self, token: &str, keys: BTreeSet<(String, String)>, points: u64, now_ns: i64) {
        let mut agents = self.agents.lock().expect("not poisoned");
        let mut untracked = 0;
        // A peer's relay speaks for all the tokens of its site: a larger
        // bound, still a bound (what one token wrote past its bound there
        // was still relayed).
        let relay = token.starts_with(crate::peer::config::RELAY_PREFIX);
        let limit = if relay {
            self.max_hosts_per_token.saturating_mul(crate::peer::config::RELAY_CAP_FACTOR)
        } else {
            self.max_hosts_per_token
        };
        // A relayed body holds many hosts' points: each is credited its share.
        let points = if relay { points / (keys.len() as u64).max(1) } else { points };
        for key in keys {
            if !agents.contains_key(&key) {
                let mut per_token = self.agents_per_token.lock().expect("not poisoned");
                let n = per_token.entry(token.to_string()).or_default();
                if *n >= limit {
                    untracked += 1;
                    continue;
                }
                *n += 1;
            }
            let seen = agents.entry(key).or_default();
            seen.last_write_ns = now_ns;
            // A body is nearly always one agent's; with several (a proxy
            // forwarding for many hosts) each is credited with the whole body.
            seen.points += points;
        }
        if untracked > 0 {
            *self.stats.hosts_untracked.lock().expect("not poisoned").entry(token.to_string()).or_default() +=
                untracked;
        }
    }

    /// Installs a reloaded configuration's part.
    pub fn replace(&self, live: Live) {
        *self.live.write().expect("not poisoned") = Arc::new(live);
    }
}

/// The limits' families of `/metrics` (docs/metrics.md).
pub fn write_limit_metrics(app: &AppState, m: &mut String) {
    use std::fmt::Write as _;
    let family = |m: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let esc = |v: &str| v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n");
    let c = &app.connections;
    family(m, "dcwatch_collector_connections_open", "gauge", "Open client connections.");
    let _ = writeln!(m, "dcwatch_collector_connections_open {}", c.open.load(Ordering::Relaxed));
    family(m, "dcwatch_collector_connections_closed_total", "counter", "Connections the collector closed, by reason.");
    for (reason, n) in c.closed() {
        let _ = writeln!(m, "dcwatch_collector_connections_closed_total{{reason=\"{reason}\"}} {n}");
    }
    family(
        m,
        "dcwatch_collector_connections_refused_total",
        "counter",
        "Connections refused at listen.max_connections with none idle to close.",
    );
    let _ = writeln!(m, "dcwatch_collector_connections_refused_total {}", c.refused.load(Ordering::Relaxed));
    family(m, "dcwatch_collector_write_bodies_reading", "gauge", "Write bodies being read now.");
    let _ = writeln!(m, "dcwatch_collector_write_bodies_reading {}", app.bodies.reading());
    family(
        m,
        "dcwatch_collector_write_bodies_refused_total",
        "counter",
        "Writes refused (503) at ingest.max_concurrent_bodies, by reason.",
    );
    for (reason, n) in [("token_share", &app.stats.bodies_refused_share), ("all_busy", &app.stats.bodies_refused_busy)]
    {
        let _ = writeln!(
            m,
            "dcwatch_collector_write_bodies_refused_total{{reason=\"{reason}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    family(
        m,
        "dcwatch_collector_hosts_untracked_total",
        "counter",
        "Hosts written for but not listed, past ingest.max_hosts_per_token, by token.",
    );
    for (token, n) in app.stats.hosts_untracked.lock().expect("not poisoned").iter() {
        let _ = writeln!(m, "dcwatch_collector_hosts_untracked_total{{token=\"{}\"}} {n}", esc(token));
    }
    family(
        m,
        "dcwatch_collector_write_rate_limited_total",
        "counter",
        "Writes refused (429) because their token was over ingest.rate_limit, by token.",
    );
    for (token, n) in app.rate_limiter.refused() {
        let _ = writeln!(m, "dcwatch_collector_write_rate_limited_total{{token=\"{}\"}} {n}", esc(&token));
    }
    let Some(e) = &app.alarms else { return };
    let seen = e.stats.limits.lock().expect("not poisoned").clone();
    family(
        m,
        "dcwatch_collector_state_entries",
        "gauge",
        "Series and heartbeats in the alarm engine's latest-state table.",
    );
    let _ = writeln!(m, "dcwatch_collector_state_entries {}", seen.entries);
    family(m, "dcwatch_collector_state_token_entries", "gauge", "Entries of the latest-state table each token added.");
    for (token, (entries, _)) in &seen.tokens {
        let _ = writeln!(m, "dcwatch_collector_state_token_entries{{token=\"{}\"}} {entries}", esc(token));
    }
    family(
        m,
        "dcwatch_collector_state_points_refused_total",
        "counter",
        "Accepted (and forwarded) points the latest-state table did not take, by reason and token.",
    );
    for (token, (_, refused)) in &seen.tokens {
        let _ = writeln!(
            m,
            "dcwatch_collector_state_points_refused_total{{reason=\"series_cap\",token=\"{}\"}} {refused}",
            esc(token)
        );
    }
    family(
        m,
        "dcwatch_collector_alarms_not_raised",
        "gauge",
        "Active conditions not raised as alarms at alarms.limits.max_alarms_per_site, by site.",
    );
    for (site, n) in &seen.not_raised {
        let _ = writeln!(m, "dcwatch_collector_alarms_not_raised{{reason=\"alarm_cap\",site=\"{}\"}} {n}", esc(site));
    }
    family(
        m,
        "dcwatch_collector_alarms_expired_total",
        "counter",
        "Alarms resolved because their series were forgotten.",
    );
    let _ = writeln!(m, "dcwatch_collector_alarms_expired_total {}", seen.expired_alarms);
    family(
        m,
        "dcwatch_collector_notices_folded_total",
        "counter",
        "Notices folded into a receiver's summary at alarms.limits.max_notices_per_window.",
    );
    let _ = writeln!(m, "dcwatch_collector_notices_folded_total {}", e.stats.notices_folded.load(Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_token_may_read_half_the_bodies_at_once_and_the_rest_stay_for_others() {
        let bodies = Bodies::new(4);
        let stats = IngestStats::default();
        let wait = std::time::Duration::from_millis(50);
        let a1 = bodies.acquire("flood", wait, &stats).await.unwrap();
        let _a2 = bodies.acquire("flood", wait, &stats).await.unwrap();
        let refused = bodies.acquire("flood", wait, &stats).await.err().unwrap();
        assert_eq!(
            refused,
            "token `flood` has 2 writes being read, its share of ingest.max_concurrent_bodies (4); send them one after another"
        );
        let _b1 = bodies.acquire("web", wait, &stats).await.unwrap();
        let _b2 = bodies.acquire("other", wait, &stats).await.unwrap();
        assert_eq!(bodies.reading(), 4);
        let busy = bodies.acquire("third", wait, &stats).await.err().unwrap();
        assert_eq!(busy, "4 writes are being read (ingest.max_concurrent_bodies) and none ended within 0.05 s");
        drop(a1);
        assert!(bodies.acquire("flood", wait, &stats).await.is_ok(), "its share is free again");
        assert_eq!(
            (stats.bodies_refused_share.load(Ordering::Relaxed), stats.bodies_refused_busy.load(Ordering::Relaxed)),
            (1, 1)
        );
    }
}
