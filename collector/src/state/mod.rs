//! What the collector knows while it runs: its counters and, per agent, when
//! it last wrote. (Alarm state and trends live in SQLite in later steps.)

use std::collections::BTreeMap;
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
    pub stats: Arc<forward::Stats>,
}

/// The spool and its group committer (present when there are sinks).
pub struct Durable {
    pub spool: Arc<Spool>,
    pub committer: Arc<Committer>,
}

/// Why a whole request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRejection {
    Unauthorized,
    TooLarge,
    BadRequest,
    Overloaded,
    Timeout,
}

impl RequestRejection {
    pub const ALL: [RequestRejection; 5] =
        [Self::Unauthorized, Self::TooLarge, Self::BadRequest, Self::Overloaded, Self::Timeout];

    pub fn label(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::BadRequest => "bad_request",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Default)]
pub struct IngestStats {
    pub requests_total: AtomicU64,
    pub points_received: AtomicU64,
    pub points_invalid: AtomicU64,
    pub points_forbidden: AtomicU64,
    requests_rejected: [AtomicU64; 5],
    forbidden_by: [AtomicU64; Forbidden::ALL.len()],
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
#[derive(Debug, Clone, Copy, Default)]
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
}

pub struct AppState {
    live: std::sync::RwLock<Arc<Live>>,
    pub stats: IngestStats,
    pub agents: Mutex<BTreeMap<(String, String), AgentSeen>>,
    pub started: Instant,
    /// The alarm engine, when `alarms:` is configured.
    pub alarms: Option<Arc<crate::alarm::Engine>>,
    /// The hourly trend store, when `trends:` is configured.
    pub trends: Option<Arc<crate::trends::Trends>>,
    /// What the report schedule has sent and failed to.
    pub reports: Arc<crate::report::schedule::ReportStats>,
    /// The audit log (None only in tests that do not look at it).
    pub audit: Option<Arc<crate::audit::Audit>>,
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
            started: Instant::now(),
            trends: None,
            reports: Arc::default(),
            audit: None,
            alarms,
        }
    }

    /// The current tokens, sinks and limits.
    pub fn live(&self) -> Arc<Live> {
        self.live.read().expect("not poisoned").clone()
    }

    /// Installs a reloaded configuration's part.
    pub fn replace(&self, live: Live) {
        *self.live.write().expect("not poisoned") = Arc::new(live);
    }
}
