//! Two collectors that back each other up (docs/ha.md): each reads the
//! other's log every `peering.heartbeat_secs` — that read is the heartbeat
//! — and merges it into its own store: the notices the peer delivered, its
//! acknowledgements and silences. Both evaluate every alarm on their own
//! data. A notice waits `rank × peer_timeout_secs` (rank 0 sends at once),
//! and before it goes out each collector looks in the log: what the peer
//! has sent is not sent again. A peer silent for `failover_secs` is gone:
//! notices go at once and `peer_unreachable` fires. At least once; a
//! duplicate only while the pair cannot talk; never silence.

pub mod config;
pub mod serve;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::alarm::store::Logged;
use crate::alarm::{Engine, now_ms};
use config::{PeerConfig, PeeringConfig};

/// The most entries one read of the peer's log asks for.
pub const PAGE: usize = 500;
/// The most pages one heartbeat reads (a long partition's backlog comes
/// over several heartbeats rather than in one long stall).
const PAGES_PER_BEAT: usize = 20;
/// The largest answer taken from a peer.
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// What the peer said and how reading it went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerState {
    /// The last good read of its log.
    pub last_ok_ms: Option<i64>,
    /// Since when it has not answered: its last answer (from the start
    /// until a first one).
    pub down_since_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Its rank, as it says.
    pub rank: Option<u32>,
    /// How many entries its log has, and how far this collector has read.
    pub last_seq: i64,
    pub cursor: i64,
    /// Its clock minus this one's, at the last read (ms).
    pub clock_offset_ms: i64,
    /// When it last read this collector's log.
    pub heard_ms: Option<i64>,
    /// The latest change of a console user read from it (ms; 0 at start:
    /// all of them are read once).
    pub users_seen_ms: i64,
    /// Its receivers' names → where they deliver, as it last said.
    pub receivers: Option<std::collections::BTreeMap<String, String>>,
    /// When it last answered again after not answering.
    pub back_ms: Option<i64>,
    /// Its Telegram bots with buttons → their chats, as it last said.
    pub bots: Option<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>,
}

struct Peer {
    cfg: PeerConfig,
    client: reqwest::Client,
    log_url: reqwest::Url,
    secret_hash: [u8; 32],
    state: Mutex<PeerState>,
}

/// The peering of this collector: its config, the peer, the engine whose
/// store holds the log.
pub struct Peering {
    cfg: PeeringConfig,
    engine: Arc<Engine>,
    /// The audit log, into which the peer's records are merged.
    audit: Option<Arc<crate::audit::Audit>>,
    /// The console's users (with `web.enabled`), shared with the peer.
    pub users: Option<Arc<crate::web::users::Users>>,
    peers: Vec<Peer>,
    /// One read of the peers' logs at a time (the heartbeat, a refresh
    /// before notices go out).
    reading: tokio::sync::Mutex<()>,
    /// Whether new notices wait for the peer now (to see the moment that ends).
    holding: std::sync::atomic::AtomicBool,
    started_ms: i64,
    /// Notices not sent because the peer had (for `/metrics`).
    pub notices_sent_by_peer: std::sync::atomic::AtomicU64,
}

/// A peer's health for the self-checks (`peer_unreachable`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerHealth {
    pub name: String,
    pub url: String,
    pub gone: bool,
    pub down_since_ms: Option<i64>,
    pub last_ok_ms: Option<i64>,
    pub last_error: String,
}

impl Peering {
    pub fn new(
        cfg: PeeringConfig,
        engine: Arc<Engine>,
        audit: Option<Arc<crate::audit::Audit>>,
        users: Option<Arc<crate::web::users::Users>>,
    ) -> anyhow::Result<Peering> {
        dcwatch_common::install_crypto_provider();
        let started = now_ms();
        let mut peers = Vec::new();
        for p in &cfg.peers {
            let client = client(p)?;
            let base = reqwest::Url::parse(&p.url)?;
            let log_url = base.join("api/peer/log")?;
            let secret_hash = crate::auth::secret_hash(Some(&p.secret), None)
                .ok_or_else(|| anyhow::anyhow!("peering.peers: the secret of {} is too short", p.name))?;
            let state = PeerState { down_since_ms: Some(started), ..Default::default() };
            peers.push(Peer { cfg: p.clone(), client, log_url, secret_hash, state: Mutex::new(state) });
        }
        let p = Peering {
            cfg,
            engine,
            audit,
            users,
            peers,
            reading: tokio::sync::Mutex::new(()),
            holding: Default::default(),
            started_ms: started,
            notices_sent_by_peer: Default::default(),
        };
        *p.engine.collector_label.lock().expect("not poisoned") = Some(p.cfg.name.clone());
        p.set_hold(started);
        Ok(p)
    }

    pub fn config(&self) -> &PeeringConfig {
        &self.cfg
    }

    /// The peer whose secret `presented` is (constant time).
    pub fn peer_of_secret(&self, presented: &str) -> Option<&str> {
        use subtle::ConstantTimeEq;
        let h = crate::auth::secret_hash(Some(presented), None)?;
        let mut found = None;
        for p in &self.peers {
            if bool::from(p.secret_hash.ct_eq(&h)) {
                found = Some(p.cfg.name.as_str());
            }
        }
        found
    }

    /// Notes that `peer` read this collector's log.
    pub fn heard(&self, peer: &str, now_ms: i64) {
        if let Some(p) = self.peers.iter().find(|p| p.cfg.name == peer) {
            p.state.lock().expect("not poisoned").heard_ms = Some(now_ms);
        }
    }

    fn gone(&self, s: &PeerState, now_ms: i64) -> bool {
        s.down_since_ms.is_some_and(|d| now_ms - d >= (self.cfg.failover_secs as i64) * 1000)
    }

    /// Whether this collector sends at once: rank 0, or every peer that
    /// may be of a lower rank is gone.
    /// Two of the same rank (a mistake, logged): the name that sorts first sends.
    pub fn sending(&self, now_ms: i64) -> bool {
        self.peers.iter().all(|p| {
            let s = p.state.lock().expect("not poisoned");
            let first = match s.rank {
                Some(r) => (self.cfg.rank, self.cfg.name.as_str()) < (r, p.cfg.name.as_str()),
                None => self.cfg.rank == 0,
            };
            first || self.gone(&s, now_ms)
        })
    }

    /// The engine's wait for new notices, from who is sending. When this
    /// collector starts sending alone, the notices held for the peer go at
    /// once: failover within `failover_secs`, not that plus the hold.
    fn set_hold(&self, now_ms: i64) {
        let sites = self
            .peers
            .iter()
            .filter_map(|p| {
                let site = p.cfg.site.clone()?;
                let down_since_ms = p.state.lock().expect("not poisoned").down_since_ms;
                Some(crate::alarm::builtin::site::PeerSite { site, peer: p.cfg.name.clone(), down_since_ms })
            })
            .collect();
        *self.engine.peer_sites.lock().expect("not poisoned") = sites;
        // (At least one wait: two of rank 0, one of them not sending.)
        let hold =
            if self.sending(now_ms) { 0 } else { self.cfg.hold_ms().max((self.cfg.peer_timeout_secs as i64) * 1000) };
        self.engine.peer_hold_ms.store(hold, Ordering::Relaxed);
        let was = self.holding.swap(hold > 0, Ordering::Relaxed);
        if was && hold == 0 {
            match self.engine.release_held(now_ms) {
                Ok(0) => {}
                Ok(n) => tracing::warn!(notices = n, "the peer is gone: the notices held for it go now"),
                Err(e) => tracing::error!(error = %e, "cannot release the notices held for the peer"),
            }
            self.engine.wake.notify_one();
        }
    }

    /// A peer whose receiver named `name` delivers elsewhere than this
    /// collector's (`digest`): its deliveries to it are not this one's.
    pub fn receiver_differs(&self, name: &str, digest: &str) -> Option<String> {
        self.peers.iter().find_map(|p| {
            let s = p.state.lock().expect("not poisoned");
            let theirs = s.receivers.as_ref()?.get(name)?;
            (theirs != digest).then(|| p.cfg.name.clone())
        })
    }

    /// Whether every peer has answered once: until then what it serves is
    /// not known.
    pub fn peers_known(&self) -> bool {
        self.peers.iter().all(|p| p.state.lock().expect("not poisoned").last_ok_ms.is_some())
    }

    /// Whether a peer that answers polls the bot `digest` for all of `chats`.
    pub fn peer_serves_bot(&self, digest: &str, chats: &std::collections::BTreeSet<String>) -> bool {
        self.peers.iter().any(|p| {
            let s = p.state.lock().expect("not poisoned");
            s.down_since_ms.is_none()
                && s.bots.as_ref().and_then(|b| b.get(digest)).is_some_and(|theirs| chats.is_subset(theirs))
        })
    }

    /// Whether the relay to `peer` is excused from `sink_down`: the peer did
    /// not answer its last read, or answered again less than
    /// [`RELAY_CATCH_UP_MS`] ago (the relay is still backing off, its
    /// backlog waiting). False for a name that is no peer.
    pub fn relay_excused(&self, peer: &str, now_ms: i64) -> bool {
        self.peers.iter().any(|p| {
            let s = p.state.lock().expect("not poisoned");
            p.cfg.name == peer
                && (s.down_since_ms.is_some() || s.back_ms.is_some_and(|b| now_ms - b < RELAY_CATCH_UP_MS))
        })
    }

    /// The peers' health, for `peer_unreachable`.
    pub fn health(&self, now_ms: i64) -> Vec<PeerHealth> {
        self.peers
            .iter()
            .map(|p| {
                let s = p.state.lock().expect("not poisoned");
                PeerHealth {
                    name: p.cfg.name.clone(),
                    url: dcwatch_common::redact::redact_url(&p.cfg.url),
                    gone: self.gone(&s, now_ms),
                    down_since_ms: s.down_since_ms,
                    last_ok_ms: s.last_ok_ms,
                    last_error: s.last_error.clone().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The peering as `/api/status` and `status` show it.
    pub fn status(&self, now_ms: i64) -> serde_json::Value {
        let sending = self.sending(now_ms);
        let ours: Vec<(String, String)> =
            self.engine.config().receivers.iter().map(|r| (r.name.clone(), r.target_digest())).collect();
        let peers: Vec<serde_json::Value> = self
            .peers
            .iter()
            .map(|p| {
                let s = p.state.lock().expect("not poisoned").clone();
                let differ: Vec<&str> = ours
                    .iter()
                    .filter(|(name, digest)| {
                        s.receivers.as_ref().and_then(|r| r.get(name)).is_some_and(|d| d != digest)
                    })
                    .map(|(name, _)| name.as_str())
                    .collect();
                serde_json::json!({
                    "receivers_differ": differ,
                    "name": p.cfg.name,
                    "url": dcwatch_common::redact::redact_url(&p.cfg.url),
                    "site": p.cfg.site,
                    "rank": s.rank,
                    "reachable": s.down_since_ms.is_none(),
                    "gone": self.gone(&s, now_ms),
                    "last_heartbeat_ms": s.last_ok_ms,
                    "down_since_ms": s.down_since_ms,
                    "last_error": s.last_error,
                    "log_lag": s.last_seq.saturating_sub(s.cursor).max(0),
                    "last_seq": s.last_seq,
                    "cursor": s.cursor,
                    "clock_offset_ms": s.clock_offset_ms,
                    "heard_ms": s.heard_ms,
                })
            })
            .collect();
        let sender = if sending {
            self.cfg.name.clone()
        } else {
            self.peers.iter().map(|p| p.cfg.name.clone()).collect::<Vec<_>>().join(", ")
        };
        serde_json::json!({
            "name": self.cfg.name,
            "rank": self.cfg.rank,
            "sending": sending,
            "sender": sender,
            "hold_s": self.engine.peer_hold_ms.load(Ordering::Relaxed) / 1000,
            "notices_sent_by_peer": self.notices_sent_by_peer.load(Ordering::Relaxed),
            "peers": peers,
        })
    }

    /// Reads every peer's log now, unless a read is under way (then waits
    /// for it): before notices go out, so the decision sees the latest.
    pub async fn refresh(&self) {
        let _reading = self.reading.lock().await;
        for p in &self.peers {
            self.read(p).await;
        }
        self.set_hold(now_ms());
    }

    /// Whether a refresh is worth its wait: some peer is not gone (a gone
    /// one would only make every delivery wait for its timeout).
    pub fn worth_refreshing(&self) -> bool {
        let now = now_ms();
        self.peers.iter().any(|p| !self.gone(&p.state.lock().expect("not poisoned"), now))
    }

    /// The window before a notice's queueing in which the peer's sending
    /// of it counts (`dedup_window_secs`).
    pub fn window_ms(&self) -> i64 {
        (self.cfg.dedup_window_secs as i64) * 1000
    }

    /// One heartbeat: reads a peer's log, up to [`PAGES_PER_BEAT`] pages.
    async fn read(&self, p: &Peer) {
        let outcome = self.read_pages(p).await;
        let now = now_ms();
        let mut s = p.state.lock().expect("not poisoned");
        match outcome {
            Err(ReadError::Local(e)) => {
                // The peer answered; this collector could not keep what it said
                // (its own disk or database): the peer is not down for that.
                tracing::error!(peer = %p.cfg.name, error = %e, "cannot keep what the peer answered; read again at the next heartbeat");
                s.last_ok_ms = Some(now);
                s.down_since_ms = None;
                s.last_error = Some(format!("here: {e}"));
            }
            Ok(()) => {
                if s.down_since_ms.is_some() && s.last_ok_ms.is_some() {
                    tracing::info!(peer = %p.cfg.name, "the peer answers again");
                    s.back_ms = Some(now);
                }
                s.last_ok_ms = Some(now);
                s.down_since_ms = None;
                s.last_error = None;
            }
            Err(ReadError::Peer(e)) => {
                if s.down_since_ms.is_none() {
                    tracing::warn!(peer = %p.cfg.name, error = %e, "the peer does not answer");
                }
                let since = s.last_ok_ms.unwrap_or(self.started_ms).min(now);
                s.down_since_ms.get_or_insert(since);
                s.last_error = Some(e);
            }
        }
    }

    async fn read_pages(&self, p: &Peer) -> Result<(), ReadError> {
        for _ in 0..PAGES_PER_BEAT {
            let e = self.engine.clone();
            let name = p.cfg.name.clone();
            // Before the peer is asked, a local failure means it was not
            // read at all: as if it did not answer (the safe side: this
            // collector then sends alone, never waits for it).
            let unread = |e: String| ReadError::Peer(format!("here, before asking: {e}"));
            let cursor = tokio::task::spawn_blocking(move || e.peer_cursor(&name))
                .await
                .map_err(|e| unread(e.to_string()))?
                .map_err(|e| unread(e.to_string()))?;
            let after = cursor.as_ref().map_or(0, |c| c.1);
            let audit_after = match self.audit.clone() {
                Some(a) => {
                    let name = p.cfg.name.clone();
                    let c = tokio::task::spawn_blocking(move || a.peer_cursor(&name))
                        .await
                        .map_err(|e| unread(e.to_string()))?;
                    Some(c.map_err(|e| unread(format!("cannot read the audit log: {e}")))?)
                }
                None => None,
            };
            let users_after = self.users.as_ref().map(|_| p.state.lock().expect("not poisoned").users_seen_ms);
            let mut answer = self.fetch(p, after, audit_after, users_after).await.map_err(ReadError::Peer)?;
            if let (Some(u), false) = (self.users.clone(), answer.users.is_empty()) {
                let latest = answer.users.iter().map(|u| u.changed_ms).max().unwrap_or_default();
                let users = answer.users;
                // Best effort: the console's users must not hold up the alarms' log.
                match tokio::task::spawn_blocking(move || u.merge_from_peer(&users)).await {
                    Ok(Ok(taken)) => {
                        if !taken.is_empty() {
                            tracing::info!(peer = %p.cfg.name, users = ?taken, "console users changed at the peer taken");
                        }
                        let mut s = p.state.lock().expect("not poisoned");
                        s.users_seen_ms = s.users_seen_ms.max(latest);
                    }
                    Ok(Err(e)) => {
                        tracing::error!(peer = %p.cfg.name, error = %e, "cannot store the peer's console users; read again next time")
                    }
                    Err(e) => {
                        tracing::error!(peer = %p.cfg.name, error = %e, "cannot store the peer's console users; read again next time")
                    }
                }
            }
            let now = now_ms();
            let full = answer.entries.len() >= PAGE || answer.audit.len() >= PAGE;
            if let (Some(a), false) = (self.audit.clone(), answer.audit.is_empty()) {
                let (name, records) = (p.cfg.name.clone(), answer.audit);
                // Best effort too: its cursor stays, so they come again.
                match tokio::task::spawn_blocking(move || a.merge_from_peer(&name, &records)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(peer = %p.cfg.name, error = %e, "cannot store the peer's audit records; read again next time")
                    }
                    Err(e) => {
                        tracing::error!(peer = %p.cfg.name, error = %e, "cannot store the peer's audit records; read again next time")
                    }
                }
            }
            {
                let mut s = p.state.lock().expect("not poisoned");
                s.rank = Some(answer.rank);
                s.receivers = answer.receivers.take();
                s.bots = answer.bots.take();
                s.last_seq = answer.last_seq;
                s.clock_offset_ms = answer.time_ms.saturating_sub(now);
                if answer.rank == self.cfg.rank {
                    tracing::error!(peer = %p.cfg.name, rank = answer.rank,
                        "the peer has this collector's own rank: both send every notice; give them different peering.rank");
                }
            }
            if answer.entries.len() > PAGE {
                return Err(ReadError::Peer(format!(
                    "the answer has {} entries; {PAGE} were asked for",
                    answer.entries.len()
                )));
            }
            let fresh_log = cursor.as_ref().is_some_and(|(id, seq)| *id != answer.log_id || *seq > answer.last_seq);
            let (e, name) = (self.engine.clone(), p.cfg.name.clone());
            let (log_id, last_seq, offset_ms) =
                (answer.log_id.clone(), answer.last_seq, answer.time_ms.saturating_sub(now));
            let entries = answer.entries;
            let applied = tokio::task::spawn_blocking(move || {
                e.apply_peer(&name, crate::alarm::PeerPage { log_id: &log_id, last_seq, offset_ms, raw: entries })
            })
            .await
            .map_err(local)?
            .map_err(|e| local(format!("cannot store the peer's log: {e}")))?;
            {
                let mut s = p.state.lock().expect("not poisoned");
                s.cursor = applied.cursor;
            }
            if fresh_log {
                tracing::warn!(peer = %p.cfg.name, "the peer's log is a new one (its alarms.db was replaced): reading it from the start");
                continue;
            }
            if !full {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn fetch(
        &self,
        p: &Peer,
        after: i64,
        audit_after: Option<i64>,
        users_after: Option<i64>,
    ) -> Result<Answer, String> {
        let mut url = p.log_url.clone();
        url.query_pairs_mut().append_pair("after", &after.to_string()).append_pair("limit", &PAGE.to_string());
        if let Some(a) = audit_after {
            url.query_pairs_mut().append_pair("audit_after", &a.to_string());
        }
        if let Some(u) = users_after {
            url.query_pairs_mut().append_pair("users_after", &u.to_string());
        }
        let resp = p
            .client
            .get(url)
            .bearer_auth(&p.cfg.secret)
            .header(serve::NAME_HEADER, &self.cfg.name)
            .send()
            .await
            .map_err(|e| dcwatch_common::redact::redact_urls_in(&dcwatch_common::error_chain(&e)))?;
        let status = resp.status();
        let body = read_capped(resp).await?;
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(format!("HTTP {status}: {}", crate::status::printable(&text)));
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| format!("not a peer's answer: {e}"))?;
        if answer.name != p.cfg.name {
            return Err(format!(
                "the collector at this address is `{}`, not `{}` (peering.peers[].name)",
                crate::status::printable(&answer.name),
                p.cfg.name
            ));
        }
        Ok(answer)
    }
}

/// How long after the peer answers again its relay may take to deliver
/// before it counts as a sink that is down: its longest backoff and write
/// timeout, twice.
const RELAY_CATCH_UP_MS: i64 = 60_000;

/// Why a read of the peer's log failed: the peer (no answer, a bad one),
/// or this collector (it could not store what came).
enum ReadError {
    Peer(String),
    Local(String),
}

fn local(e: impl std::fmt::Display) -> ReadError {
    ReadError::Local(e.to_string())
}

/// A peer's answer ([`serve::log`]).
#[derive(Debug, serde::Deserialize)]
struct Answer {
    name: String,
    rank: u32,
    log_id: String,
    last_seq: i64,
    time_ms: i64,
    /// Each as it came: one this version cannot read is skipped, not the answer.
    entries: Vec<serde_json::Value>,
    /// Its audit records after the id asked for (none from an older peer).
    #[serde(default)]
    audit: Vec<crate::audit::Record>,
    /// Its console users changed after the time asked for.
    #[serde(default)]
    users: Vec<crate::web::users::Shared>,
    /// Its receivers' names → [`ReceiverConfig::target_digest`] (none from an older peer).
    ///
    /// [`ReceiverConfig::target_digest`]: crate::alarm::config::ReceiverConfig::target_digest
    #[serde(default)]
    receivers: Option<std::collections::BTreeMap<String, String>>,
    /// Its Telegram bots with buttons (digests) → the chats each serves.
    #[serde(default)]
    bots: Option<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>,
}

/// The body of `resp`, refused past [`MAX_ANSWER_BYTES`].
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| dcwatch_common::error_chain(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The HTTP client for one peer, with its CA and client certificate.
fn client(p: &PeerConfig) -> anyhow::Result<reqwest::Client> {
    let timeout = Duration::from_secs(p.timeout_secs);
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("dcwatch-collector/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &p.ca_file {
        let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)?;
        anyhow::ensure!(!certs.is_empty(), "{}: no certificate in it", ca.display());
        b = b.tls_certs_only(certs);
    }
    if let (Some(cert), Some(key)) = (&p.cert_file, &p.key_file) {
        let mut pem = std::fs::read(cert).map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
        pem.extend(std::fs::read(key).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?);
        b = b.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(b.build()?)
}

/// The heartbeat until `stop`: every `heartbeat_secs` each peer's log is
/// read; every second the engine's hold follows who is sending (a peer
/// becomes gone `failover_secs` after its last answer, between heartbeats too).
pub async fn run(p: Arc<Peering>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let beat = Duration::from_secs(p.cfg.heartbeat_secs);
    let mut last_read: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if last_read.is_none_or(|t| t.elapsed() >= beat) {
            last_read = Some(tokio::time::Instant::now());
            p.refresh().await;
        } else {
            p.set_hold(now_ms());
        }
    }
}

/// Entries of a peer's answer as this version reads them; the others
/// (a newer peer's kinds) by their number, to move the cursor past them.
pub fn parse_entries(raw: Vec<serde_json::Value>) -> (Vec<Logged>, Vec<i64>) {
    let (mut ok, mut skipped) = (Vec::new(), Vec::new());
    for v in raw {
        let seq = v["seq"].as_i64();
        match serde_json::from_value::<Logged>(v) {
            Ok(l) if l.entry.bounded() => ok.push(l),
            Ok(l) => {
                tracing::warn!(seq = l.seq, "an entry of the peer's log has a text too long; it is skipped");
                skipped.push(l.seq);
            }
            Err(e) => {
                tracing::warn!(error = %e, "an entry of the peer's log cannot be read; it is skipped");
                skipped.extend(seq);
            }
        }
    }
    (ok, skipped)
}
