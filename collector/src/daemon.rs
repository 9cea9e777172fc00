//! The running collector (`dcwatch-collector run`, the default): what it
//! starts, how it applies a changed configuration, and how it stops.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dcwatch_common::spool::{Committer, Spool};
use tokio::sync::watch;

use crate::config::{self, CollectorConfig};
use crate::{alarm, api, audit, ingest, listen, report, sink, state, trends};

/// Sinks with their forwarders, the spool, tokens and limits, from `config`.
/// `previous` lends its open spool and the sinks' counters (by name).
pub fn build_live(
    config: &CollectorConfig,
    previous: Option<&state::Live>,
    stop_rx: &watch::Receiver<bool>,
) -> anyhow::Result<(state::Live, Vec<tokio::task::JoinHandle<()>>)> {
    let shutdown_timeout = Duration::from_secs(config.listen.shutdown_timeout_secs);
    let all_sinks = config.all_sinks();
    let (sinks, tasks, durable) = if all_sinks.is_empty() {
        tracing::warn!("no sink configured: points are accepted, counted and logged, and go nowhere");
        (Vec::new(), Vec::new(), None)
    } else {
        let names: Vec<&str> = all_sinks.iter().map(|s| s.name.as_str()).collect();
        let (spool, committer, origins) = match previous.and_then(|p| p.durable.as_ref()) {
            Some(d) => {
                d.spool.set_consumers(&names).context("cannot update the spool's consumers")?;
                (d.spool.clone(), d.committer.clone(), d.origins.clone())
            }
            None => {
                let (spool, report) = Spool::open(config.spool.spool_settings(), &names)
                    .with_context(|| format!("cannot open the spool in {}", config.spool.dir.display()))?;
                tracing::info!(
                    dir = %config.spool.dir.display(), points = report.lines, corrupt_records = report.corrupt_records,
                    "spool opened"
                );
                let committer = Committer::start(spool.clone());
                (spool, committer, Default::default())
            }
        };
        let counters =
            |name: &str| previous.and_then(|p| p.sinks.iter().find(|s| s.name == name)).map(|s| s.stats.clone());
        let (sinks, tasks) = sink::spawn_all(&all_sinks, &spool, &origins, shutdown_timeout, stop_rx, counters)?;
        (sinks, tasks, Some(state::Durable { spool, committer, origins }))
    };
    let live = state::Live {
        tokens: ingest::auth::Tokens::new(config.ingest.tokens.iter().map(|t| &t.value), config.ingest.allow_anonymous),
        sinks,
        durable,
        max_body_bytes: config.ingest.max_body_bytes,
        read_timeout: Duration::from_secs(config.ingest.read_timeout_secs),
        api_tokens: crate::auth::TokenTable::new(config.api.tokens.iter().map(|t| &t.value).filter_map(|t| {
            let hash = crate::auth::secret_hash(t.token.as_deref(), t.token_sha256.as_deref())?;
            Some((hash, crate::auth::ApiIdentity { name: t.name.clone(), role: t.role }))
        })),
        metrics_require_token: config.api.metrics_require_token,
        rate: config.ingest.rate_limit.rate(),
        health: config.api.health.clone(),
    };
    Ok((live, tasks))
}

/// Loads the config again: None if unchanged, the problems if broken (logged).
fn reload(path: &std::path::Path, current: &CollectorConfig) -> Result<Option<CollectorConfig>, String> {
    // A sink's certificate files may have been renewed in place under the
    // same paths: with any of them set, a reload reads them again.
    let sink_files = |c: &CollectorConfig| {
        c.all_sinks().iter().any(|s| s.ca_file.is_some() || s.cert_file.is_some() || s.key_file.is_some())
    };
    let new = dcwatch_common::reload::reload(path, current, sink_files)?;
    if let Some(new) = &new {
        let (n, c) = (&new.ingest, &current.ingest);
        if new.listen != current.listen
            || new.spool != current.spool
            || (n.max_concurrent_bodies, n.max_hosts_per_token) != (c.max_concurrent_bodies, c.max_hosts_per_token)
            || new.audit != current.audit
            || new.web != current.web
            || new.peering.as_ref().map(crate::peer::config::PeeringConfig::without_forward)
                != current.peering.as_ref().map(crate::peer::config::PeeringConfig::without_forward)
        {
            tracing::warn!(
                "changes to listen.*, spool.*, audit.*, web.*, peering.* (but peers[].forward), \
                 ingest.max_concurrent_bodies and ingest.max_hosts_per_token take effect at the next restart"
            );
        }
        if new.trends != current.trends {
            tracing::warn!("changes to trends.* (turning trends on or off too) take effect at the next restart");
        }
    }
    Ok(new)
}

/// Loads the certificate, key and client CA files again (same paths: a
/// change of paths waits for a restart), for new connections; a broken
/// one is refused and the running one kept.
fn reload_tls(rustls: &axum_server::tls_rustls::RustlsConfig, tls: &config::TlsConfig) {
    match listen::server_config(tls) {
        Ok(c) => {
            rustls.reload_from_config(c);
            tracing::info!(cert = %tls.cert_file.display(), "TLS certificate, key and client CA reloaded");
        }
        Err(e) => tracing::error!(
            error = %dcwatch_common::error_chain(&e),
            "cannot load the TLS certificate; new connections keep the running one"
        ),
    }
}

/// A reload of the configuration, in the audit log: the file is the author
/// (whoever changed it did so with the file system's permissions).
fn audit_reload(audit: &audit::Audit, path: &std::path::Path, why: &str, outcome: &str, refused: bool) {
    let target = path.display().to_string();
    let comment = format!("{why}: {outcome}");
    audit.record(&audit::Event {
        actor: "config file",
        role: "-",
        source: None,
        action: "config_reload",
        target: &target,
        comment: &comment,
        refused,
    });
}

async fn stop_sinks(stop_tx: &watch::Sender<bool>, tasks: Vec<tokio::task::JoinHandle<()>>, timeout: Duration) {
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + timeout + Duration::from_secs(1);
    for t in tasks {
        let _ = tokio::time::timeout_at(deadline, t).await;
    }
}

/// The alarms' config with the site's zone (top-level `timezone:`) for
/// times in notices, and the console's public address (`web.public_url`,
/// when the console is on) for their links.
fn alarms_with_zone(a: &alarm::config::AlarmsConfig, config: &CollectorConfig) -> alarm::config::AlarmsConfig {
    let mut a = a.clone();
    a.tz = Some(config.tz());
    a.public_url = config.web.public_base().filter(|_| config.web.enabled);
    a.watchdog = config.watchdog.as_ref().and_then(crate::watchdog::WatchdogConfig::alarm);
    a
}

/// The collector, until SIGTERM or Ctrl-C: the write API and the web
/// console, the sinks, the alarms, the trends and the scheduled reports; a
/// changed configuration is applied while it runs ([`reload`]).
pub async fn run(path: PathBuf, mut config: CollectorConfig) -> anyhow::Result<()> {
    let addr: SocketAddr = config.listen.address.parse().context("listen.address")?;
    let shutdown_timeout = Duration::from_secs(config.listen.shutdown_timeout_secs);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (live, tasks) = build_live(&config, None, &stop_rx)?;
    let mut sinks = Sinks { stop_tx, tasks };
    let read_timeout = live.read_timeout;
    let (state, audit) = open_state(&config, live)?;
    let background = Background::start(&config, &state, &audit)?;
    let app = crate::web::mount(api::app(state.clone()), &config, &state)?;

    let handle = axum_server::Handle::new();
    let listen::Served { task: server, tls } =
        listen::serve(addr, &config.listen, read_timeout, state.connections.clone(), app, handle.clone()).await?;
    let Some(bound) = handle.listening().await else {
        let err = server.await.context("server task")?.err();
        return Err(anyhow::anyhow!("cannot listen on {addr}: {}", err.map(|e| e.to_string()).unwrap_or_default()));
    };
    listen::warn_if_clear(bound, &config.listen);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"), address = %bound, tls = config.listen.tls.is_some(),
        sinks = config.sinks.len(), tokens = config.ingest.tokens.len(), "dcwatch-collector listening"
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let mut watch = dcwatch_common::reload::ConfigWatch::new(&path).context("cannot listen for SIGHUP")?;
    let mut server = server;
    loop {
        let (new, why) = tokio::select! {
            why = watch.changed() => {
                // A certificate renewed under the same paths: new connections get it.
                if why == dcwatch_common::reload::Trigger::Hangup {
                    if let (Some(rustls), Some(c)) = (&tls, &config.listen.tls) {
                        reload_tls(rustls, c);
                    }
                    listen::warn_if_clear(bound, &config.listen);
                }
                (reload(&path, &config), why.as_str())
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            r = &mut server => {
                // Not the way through the stop below: write the audit
                // log's open failure windows here.
                let a = audit.clone();
                let _ = tokio::task::spawn_blocking(move || a.flush_all()).await;
                r.context("server task")?.context("server failed")?;
                return Ok(());
            }
        };
        match new {
            Ok(Some(new)) => {
                if apply(new, &mut config, &mut sinks, &state, &background, shutdown_timeout).await? {
                    audit_reload(&audit, &path, why, "applied", false);
                }
            }
            Ok(None) => {}
            Err(problems) => {
                audit_reload(&audit, &path, why, &format!("refused, the running one stays: {problems}"), true)
            }
        }
    }
    tracing::info!(timeout_s = shutdown_timeout.as_secs(), "stopping: no new writes; waiting for writes in flight");
    // Stop accepting first and let open requests finish (their points are
    // then in the spool); then stop the sinks. Unsent points stay spooled.
    handle.graceful_shutdown(Some(shutdown_timeout));
    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    while handle.connection_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_sinks(&sinks.stop_tx, sinks.tasks, deadline.saturating_duration_since(tokio::time::Instant::now())).await;
    background.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// The running sinks' forwarders and what stops them.
struct Sinks {
    stop_tx: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The alarm engine, the trends, the audit log, and the state the API serves.
fn open_state(
    config: &CollectorConfig,
    live: state::Live,
) -> anyhow::Result<(Arc<state::AppState>, Arc<audit::Audit>)> {
    let engine = match &config.alarms {
        Some(a) => Some(Arc::new(alarm::Engine::open(alarms_with_zone(a, config)).context("alarms.db")?)),
        None => None,
    };
    let trends = match &config.trends {
        Some(t) => Some(Arc::new(trends::Trends::open(t.clone()).context("trends.db")?)),
        None => None,
    };
    let audit = Arc::new(audit::Audit::open(&config.audit.db, config.audit.retention_days).context("audit.db")?);
    let mut state = state::AppState::with_alarms(live, engine);
    state.trends = trends;
    state.audit = Some(audit.clone());
    state.bodies = state::Bodies::new(config.ingest.max_concurrent_bodies);
    state.max_hosts_per_token = config.ingest.max_hosts_per_token;
    if let (Some(p), Some(e)) = (&config.peering, &state.alarms) {
        // The console's users are shared too, on a connection of their own.
        let users = match config.web.enabled {
            true => Some(Arc::new(crate::web::users::Users::open(&config.web.users_db).context("web.users_db")?)),
            false => None,
        };
        let peering = crate::peer::Peering::new(p.clone(), e.clone(), Some(audit.clone()), users).context("peering")?;
        state.peering = Some(Arc::new(peering));
    }
    Ok((Arc::new(state), audit))
}

/// The report schedule's settings from `c` (None without alarms).
fn report_settings(c: &CollectorConfig) -> Option<report::schedule::Settings> {
    c.alarms.as_ref().map(|a| report::schedule::Settings {
        alarms: a.clone(),
        cfg: c.reports.clone(),
        tz: c.reports.tz(&c.tz()),
    })
}

/// The tasks beside the server: alarm evaluation and notices, the audit
/// log's upkeep, the trends' flushes and the scheduled reports.
struct Background {
    stop_tx: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    trends: Option<tokio::task::JoinHandle<()>>,
    upkeep: tokio::task::JoinHandle<()>,
    /// The report schedule's settings, sent again on a reload.
    reports_tx: Option<watch::Sender<report::schedule::Settings>>,
    /// The watchdog's settings (its pings), sent again on a reload.
    watchdog_tx: watch::Sender<Option<crate::watchdog::WatchdogConfig>>,
}

impl Background {
    fn start(
        config: &CollectorConfig,
        state: &Arc<state::AppState>,
        audit: &Arc<audit::Audit>,
    ) -> anyhow::Result<Background> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(e) = &state.alarms {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("cannot build the notification HTTP client")?;
            tasks.push(tokio::spawn(alarm::run(e.clone(), stop_rx.clone())));
            let peering = state.peering.clone();
            tasks.push(tokio::spawn(alarm::notify::run(e.clone(), http.clone(), peering.clone(), stop_rx.clone())));
            let users_db = config.web.users_db.clone();
            let telegram = alarm::telegram::run(e.clone(), users_db, audit.clone(), http, peering, stop_rx.clone());
            tasks.push(tokio::spawn(telegram));
            tracing::info!(
                db = %e.config().db.display(), rules = e.config().rules.len(), receivers = e.config().receivers.len(),
                "alarms on"
            );
        }
        if let Some(p) = &state.peering {
            tracing::info!(name = %p.config().name, rank = p.config().rank, peers = p.config().peers.len(), "peering on");
            tasks.push(tokio::spawn(crate::peer::run(p.clone(), stop_rx.clone())));
        }
        let upkeep = tokio::spawn(upkeep(audit.clone(), state.alarms.clone(), stop_rx.clone()));
        let trends = state.trends.clone().map(|t| {
            tracing::info!(db = %t.config().db.display(), retention_days = t.config().retention_days, "hourly trends on");
            tokio::spawn(flush_trends(t, stop_rx.clone()))
        });
        // Scheduled reports (validation made sure trends and the receivers
        // exist). With trends and alarms on, the task runs even without a
        // schedule: a reload may add one, or change the zone, and sends it here.
        let mut reports_tx = None;
        if let (Some(t), Some(settings)) = (&config.trends, report_settings(config)) {
            let (tx, rx) = watch::channel(settings);
            reports_tx = Some(tx);
            tasks.push(tokio::spawn(report::schedule::run(t.db.clone(), rx, state.reports.clone(), stop_rx.clone())));
        }
        if let Some(e) = &state.alarms {
            e.set_self_checks(crate::state::health::self_checks(Arc::downgrade(state)));
        }
        let (watchdog_tx, rx) = watch::channel(config.watchdog.clone());
        tasks.push(tokio::spawn(crate::watchdog::run(rx, state.alarms.clone(), state.watchdog.clone(), stop_rx)));
        Ok(Background { stop_tx, tasks, trends, upkeep, reports_tx, watchdog_tx })
    }

    /// After the server and the sinks: each task gets a little time to end.
    async fn stop(self) {
        let _ = self.stop_tx.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        if let Some(t) = self.trends {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.upkeep).await;
    }
}

/// `c` with the peering that runs (a change to it waits for a restart),
/// but each peer's `forward` and `forward_keep_secs` as `c` says: the
/// relays are sinks, which a reload applies, to the peer as it runs.
fn running_peering(c: &CollectorConfig, state: &state::AppState) -> CollectorConfig {
    let mut c = c.clone();
    if let Some(running) = &state.peering {
        let mut p = running.config().clone();
        for peer in &mut p.peers {
            let wanted = c.peering.as_ref().and_then(|n| n.peers.iter().find(|q| q.name == peer.name));
            (peer.forward, peer.forward_keep_secs) =
                wanted.map_or((false, peer.forward_keep_secs), |q| (q.forward, q.forward_keep_secs));
        }
        c.peering = Some(p);
    }
    c
}

/// Applies a new configuration: the old sinks stop (a batch in flight
/// finishes or is resent; the spool keeps the rest), the new ones start on
/// the same spool; the alarms, the log level and the report schedule take
/// the new settings. If the new sinks cannot start, the running
/// configuration's are started again (false: not applied).
async fn apply(
    new: CollectorConfig,
    config: &mut CollectorConfig,
    sinks: &mut Sinks,
    state: &state::AppState,
    background: &Background,
    shutdown_timeout: Duration,
) -> anyhow::Result<bool> {
    stop_sinks(&sinks.stop_tx, std::mem::take(&mut sinks.tasks), shutdown_timeout).await;
    let (tx, rx) = watch::channel(false);
    sinks.stop_tx = tx;
    match build_live(&running_peering(&new, state), Some(&state.live()), &rx) {
        Ok((live, tasks)) => {
            state.replace(live);
            sinks.tasks = tasks;
            match (&state.alarms, &new.alarms) {
                (Some(e), Some(a)) => e.set_config(alarms_with_zone(a, &new)),
                (None, None) => {}
                _ => tracing::warn!("turning alarms on or off takes effect at the next restart"),
            }
            dcwatch_common::set_log_level(&new.log_level);
            if let (Some(tx), Some(settings)) = (&background.reports_tx, report_settings(&new)) {
                tx.send_replace(settings);
            }
            background.watchdog_tx.send_if_modified(|w| std::mem::replace(w, new.watchdog.clone()) != new.watchdog);
            *config = new;
            tracing::info!(sinks = config.sinks.len(), tokens = config.ingest.tokens.len(), "configuration reloaded");
            Ok(true)
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot apply the new configuration; restarting the running one's sinks");
            let (live, tasks) = build_live(&running_peering(config, state), Some(&state.live()), &rx)?;
            state.replace(live);
            sinks.tasks = tasks;
            Ok(false)
        }
    }
}

/// What the audit log and the silences need on a timer: every minute the
/// failure windows that have ended are written (a flood's last failures
/// need no later one to be recorded), and at the stop every window, ended
/// or not; at start and then daily, audit records past
/// `audit.retention_days` and silences past `keep_expired_days` are
/// removed. Stopped after the server has stopped.
async fn upkeep(audit: Arc<audit::Audit>, engine: Option<Arc<alarm::Engine>>, mut stop: watch::Receiver<bool>) {
    #[derive(Clone, Copy)]
    enum Job {
        Flush,
        Purge,
        Stop,
    }
    let mut flush = tokio::time::interval(Duration::from_secs(60));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.tick().await;
    // The first tick is at once: the purge runs at start too.
    let mut purge = tokio::time::interval(Duration::from_secs(86_400));
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let job = tokio::select! {
            _ = flush.tick() => Job::Flush,
            _ = purge.tick() => Job::Purge,
            _ = stop.changed() => Job::Stop,
        };
        let (a, e) = (audit.clone(), engine.clone());
        let done = tokio::task::spawn_blocking(move || match job {
            Job::Flush => a.flush(),
            Job::Stop => a.flush_all(),
            Job::Purge => {
                let now = alarm::now_ms();
                match a.purge(now) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "audit records past audit.retention_days removed"),
                    Err(err) => tracing::error!(error = %err, "cannot remove old audit records"),
                }
                match e.as_ref().map(|e| e.purge_silences(now)) {
                    Some(Ok(0)) | None => {}
                    Some(Ok(n)) => tracing::info!(removed = n, "silences past keep_expired_days removed"),
                    Some(Err(err)) => tracing::error!(error = %err, "cannot remove ended silences"),
                }
                // The peer log: a week is far more than a partition lasts.
                if let Some(Err(err)) = e.as_ref().map(|e| e.purge_log(now - PEER_LOG_KEEP_MS)) {
                    tracing::error!(error = %err, "cannot remove old entries of the peer log");
                }
                if let Some(Err(err)) = e.map(|e| e.purge_watchdog_notices(now)) {
                    tracing::error!(error = %err, "cannot remove the watchdog's delivered notices");
                }
            }
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "the audit and silence upkeep panicked");
        }
        if matches!(job, Job::Stop) {
            return;
        }
    }
}

/// How long the peer log keeps entries (docs/ha.md).
const PEER_LOG_KEEP_MS: i64 = 7 * 86_400_000;

/// Writes the trend deltas every `flush_secs`, and once more at the stop.
async fn flush_trends(t: Arc<trends::Trends>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(t.config().flush_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        let t2 = t.clone();
        match tokio::task::spawn_blocking(move || t2.flush(dcwatch_common::now_ns())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %dcwatch_common::error_chain(&e), "cannot write the hourly trends; they are kept in memory for the next try")
            }
            Err(e) => tracing::error!(error = %e, "the trend flush panicked"),
        }
        if last {
            return;
        }
    }
}
