//! `dcwatch-collector`: parses flags and starts the pieces; the work is in
//! `ingest`, `sink`, `api` and `state`.

mod alarm;
mod api;
mod audit;
mod auth;
mod bench;
mod bulk;
mod config;
mod i18n;
mod ingest;
mod listen;
mod model;
mod report;
mod sink;
mod state;
mod stats;
mod status;
mod trends;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dcwatch_common::spool::{Committer, Spool};
use tokio::sync::watch;

use crate::config::CollectorConfig;

/// Exit codes: 0 clean stop, 1 runtime failure, 2 bad config or flags.
const EXIT_FAILURE: u8 = 1;
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "dcwatch-collector",
    version,
    about = "dcwatch collector: receives agents' points and forwards them to InfluxDB"
)]
struct Cli {
    /// Configuration file.
    #[arg(short, long, global = true, default_value = "/etc/dcwatch/collector.yaml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector (the default).
    Run,
    /// Check the configuration file and exit: 0 if valid, 2 with every problem listed if not.
    Validate,
    /// Print the SHA-256 of a token (read from standard input) for `token_sha256`.
    HashToken,
    /// Measures alarm evaluation on a synthetic load (scripts/bench alarms).
    #[command(hide = true)]
    BenchAlarms {
        #[arg(long, default_value_t = 10_000)]
        series: usize,
        #[arg(long, default_value_t = 200)]
        rules: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Write the capacity and availability report of a month or week, from
    /// the hourly trends and the alarm history (the collector may be running).
    Report {
        /// A month (`2026-10`) or an ISO week (`2026-W43`). Defaults to last month.
        #[arg(long)]
        period: Option<String>,
        /// Only this site. Defaults to all.
        #[arg(long)]
        site: Option<String>,
        /// html (one file, opens offline, prints), csv or json.
        #[arg(long, default_value = "html", value_parser = ["html", "csv", "json"])]
        format: String,
        /// vi or en.
        #[arg(long, default_value = "vi", value_parser = ["vi", "en"])]
        lang: String,
        /// Time zone of the days, e.g. Asia/Ho_Chi_Minh. Defaults to reports.timezone,
        /// else timezone, else the system's zone.
        #[arg(long)]
        tz: Option<String>,
        /// Write here instead of to standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Writes a generated month of trends and alarm history (October 2026)
    /// into DIR, for the report's benchmark and end-to-end test.
    #[command(hide = true)]
    GenTrends {
        #[arg(long)]
        dir: PathBuf,
        /// Ordinary servers besides the two with known figures.
        #[arg(long, default_value_t = 0)]
        hosts: usize,
        /// Their sampling step.
        #[arg(long, default_value_t = 10)]
        step_minutes: i64,
    },
    /// Show the running collector's sinks and spool, sites and power feeds,
    /// UPS, generators, devices down, silent agents, backups and alarms (for a
    /// technician over SSH).
    Status {
        /// The collector's URL. Defaults to its `listen.address`.
        #[arg(long)]
        url: Option<String>,
        /// An `api.tokens` token (any role). Defaults to the config's first given in clear.
        #[arg(long, env = "DCWATCH_API_TOKEN")]
        token: Option<String>,
        /// `vi` or `en`. Defaults to `alarms.lang` (`vi`).
        #[arg(long, value_parser = i18n::Lang::parse)]
        lang: Option<i18n::Lang>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    dcwatch_common::install_crypto_provider();
    if let Some(Command::BenchAlarms { series, rules, seconds }) = cli.command {
        return ExitCode::from(bench::run(series, rules, seconds));
    }
    if let Some(Command::GenTrends { dir, hosts, step_minutes }) = &cli.command {
        return match report::sample::generate(dir, *hosts, *step_minutes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dcwatch-collector gen-trends: {e}");
                ExitCode::from(EXIT_FAILURE)
            }
        };
    }
    if let Some(Command::HashToken) = cli.command {
        let mut token = String::new();
        if std::io::stdin().read_line(&mut token).is_err() || token.trim().is_empty() {
            eprintln!(
                "dcwatch-collector: give the token on standard input, e.g. `echo -n TOKEN | dcwatch-collector hash-token`"
            );
            return ExitCode::from(EXIT_CONFIG);
        }
        println!("{}", hex::encode(ingest::auth::sha256(token.trim_end_matches(['\n', '\r']))));
        return ExitCode::SUCCESS;
    }
    let config: CollectorConfig = match dcwatch_common::config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dcwatch-collector: invalid configuration:\n{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(Command::Validate) = cli.command {
        println!("{}: configuration is valid", cli.config.display());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Report { period, site, format, lang, tz, output }) = &cli.command {
        let args = report::Args {
            period: period.clone(),
            site: site.clone(),
            format: format.clone(),
            lang: lang.clone(),
            tz: tz.clone(),
            output: output.clone(),
        };
        return ExitCode::from(report::run_cli(&config, &args));
    }
    if let Some(Command::Status { url, token, lang }) = &cli.command {
        return ExitCode::from(status::run(&config, url.clone(), token.clone(), *lang));
    }
    dcwatch_common::init_logging(&config.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dcwatch-collector: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(run(cli.config.clone(), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "collector failed");
            eprintln!("dcwatch-collector: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Sinks with their forwarders, the spool, tokens and limits, from `config`.
/// `previous` lends its open spool and the sinks' counters (by name).
fn build_live(
    config: &CollectorConfig,
    previous: Option<&state::Live>,
    stop_rx: &watch::Receiver<bool>,
) -> anyhow::Result<(state::Live, Vec<tokio::task::JoinHandle<()>>)> {
    let shutdown_timeout = Duration::from_secs(config.listen.shutdown_timeout_secs);
    let (sinks, tasks, durable) = if config.sinks.is_empty() {
        tracing::warn!("no sink configured: points are accepted, counted and logged, and go nowhere");
        (Vec::new(), Vec::new(), None)
    } else {
        let names: Vec<&str> = config.sinks.iter().map(|s| s.name.as_str()).collect();
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
        let (sinks, tasks) = sink::spawn_all(&config.sinks, &spool, &origins, shutdown_timeout, stop_rx, counters)
            .map_err(anyhow::Error::msg)?;
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
    };
    Ok((live, tasks))
}

/// The collector's own alarms: a sink that has not taken data for five
/// minutes while points wait for it; the spool over 80 % full.
/// The collector's self-checks (`alarm::builtin::collector`), on a snapshot
/// of what the program runs: its sinks, reports, rate limit and spool.
fn self_checks(state: std::sync::Weak<state::AppState>) -> alarm::SelfChecks {
    use alarm::builtin::collector::{Health, SinkHealth, SpoolHealth};
    use std::sync::atomic::Ordering::Relaxed;
    Box::new(move |cfg: &alarm::config::AlarmsConfig| {
        let Some(app) = state.upgrade() else { return Vec::new() };
        let live = app.live();
        let now = dcwatch_common::now_ns();
        let sinks = live
            .sinks
            .iter()
            .map(|s| {
                let last = s.stats.last_success_ns.load(Relaxed);
                SinkHealth {
                    name: s.name.clone(),
                    endpoint: s.endpoint.clone(),
                    queued: s.stats.queued_lines.load(Relaxed),
                    since_secs: if last > 0 {
                        (now - last) / 1_000_000_000
                    } else {
                        app.started.elapsed().as_secs() as i64
                    },
                    last_error: s.stats.last_error.lock().expect("not poisoned").clone().unwrap_or_default(),
                }
            })
            .collect();
        let spool = live.durable.as_ref().map(|d| {
            let max = d.spool.settings().max_bytes.max(1);
            let (lines, last_ns) = d.spool.dropped();
            SpoolHealth {
                used_pct: d.spool.total_bytes() as f64 * 100.0 / max as f64,
                dropped_lines: lines,
                dropped_recently: last_ns > 0 && now - last_ns < 3_600_000_000_000,
            }
        });
        let health = Health {
            sinks,
            report_failing: app.reports.failing.lock().expect("not poisoned").clone(),
            rate_limited: app.rate_limiter.recently_refused(std::time::Instant::now()),
            rate_points_per_sec: live.rate.points_per_sec,
            rate_window_secs: ingest::rate::ALARM_WINDOW.as_secs(),
            spool,
        };
        alarm::builtin::collector::self_checks(cfg, &health)
    })
}

fn mtime(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Loads the config again: None if unchanged, the problems if broken (logged).
fn reload(path: &std::path::Path, current: &CollectorConfig) -> Result<Option<CollectorConfig>, String> {
    match dcwatch_common::config::load::<CollectorConfig>(path) {
        // A sink's certificate files may have been renewed in place under
        // the same paths: with any of them set, a reload reads them again.
        Ok(new)
            if format!("{new:?}") == format!("{current:?}")
                && !new.sinks.iter().any(|s| s.ca_file.is_some() || s.cert_file.is_some() || s.key_file.is_some()) =>
        {
            tracing::info!("the configuration is unchanged");
            Ok(None)
        }
        Ok(new) => {
            let (n, c) = (&new.ingest, &current.ingest);
            if format!("{:?}", new.listen) != format!("{:?}", current.listen)
                || format!("{:?}", new.spool) != format!("{:?}", current.spool)
                || (n.max_concurrent_bodies, n.max_hosts_per_token) != (c.max_concurrent_bodies, c.max_hosts_per_token)
                || new.audit != current.audit
            {
                tracing::warn!(
                    "changes to listen.*, spool.*, audit.*, ingest.max_concurrent_bodies and \
                     ingest.max_hosts_per_token take effect at the next restart"
                );
            }
            Ok(Some(new))
        }
        Err(e) => {
            let problems = e.to_string().replace('\n', "; ");
            tracing::error!(problems = %problems, "the new configuration is invalid; keeping the running one");
            Err(problems)
        }
    }
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
            error = %format!("{e:#}"),
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

/// The alarms' config with the site's zone (top-level `timezone:`) for times in notices.
fn alarms_with_zone(a: &alarm::config::AlarmsConfig, config: &CollectorConfig) -> alarm::config::AlarmsConfig {
    let mut a = a.clone();
    a.tz = Some(config.tz());
    a
}

async fn run(path: PathBuf, mut config: CollectorConfig) -> anyhow::Result<()> {
    let addr: SocketAddr = config.listen.address.parse().context("listen.address")?;
    let shutdown_timeout = Duration::from_secs(config.listen.shutdown_timeout_secs);
    let (mut stop_tx, stop_rx) = watch::channel(false);
    let (live, mut sink_tasks) = build_live(&config, None, &stop_rx)?;
    let read_timeout = live.read_timeout;
    let engine = match &config.alarms {
        Some(a) => Some(Arc::new(
            alarm::Engine::open(alarms_with_zone(a, &config)).map_err(anyhow::Error::msg).context("alarms.db")?,
        )),
        None => None,
    };
    let (alarm_stop_tx, alarm_stop_rx) = watch::channel(false);
    let mut alarm_tasks = Vec::new();
    if let Some(e) = &engine {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the notification HTTP client")?;
        alarm_tasks.push(tokio::spawn(alarm::run(e.clone(), alarm_stop_rx.clone())));
        alarm_tasks.push(tokio::spawn(alarm::notify::run(e.clone(), http, alarm_stop_rx.clone())));
        tracing::info!(
            db = %e.config().db.display(), rules = e.config().rules.len(), receivers = e.config().receivers.len(),
            "alarms on"
        );
    }
    let trends = match &config.trends {
        Some(t) => Some(Arc::new(trends::Trends::open(t.clone()).map_err(anyhow::Error::msg).context("trends.db")?)),
        None => None,
    };
    let audit = Arc::new(
        audit::Audit::open(&config.audit.db, config.audit.retention_days)
            .map_err(anyhow::Error::msg)
            .context("audit.db")?,
    );
    let mut state = state::AppState::with_alarms(live, engine);
    state.trends = trends.clone();
    state.audit = Some(audit.clone());
    state.bodies = state::Bodies::new(config.ingest.max_concurrent_bodies);
    state.max_hosts_per_token = config.ingest.max_hosts_per_token;
    let state = Arc::new(state);
    let upkeep_task = tokio::spawn(upkeep(audit.clone(), state.alarms.clone(), alarm_stop_rx.clone()));
    let trend_task = trends.map(|t| {
        tracing::info!(db = %t.config().db.display(), retention_days = t.config().retention_days, "hourly trends on");
        tokio::spawn(flush_trends(t, alarm_stop_rx.clone()))
    });
    // Scheduled reports (validation made sure trends and the receivers exist).
    if let (Some(t), Some(a)) = (&config.trends, &config.alarms)
        && !config.reports.schedule.is_empty()
    {
        alarm_tasks.push(tokio::spawn(report::schedule::run(
            t.db.clone(),
            a.clone(),
            config.reports.clone(),
            config.reports.tz(&config.tz()),
            state.reports.clone(),
            alarm_stop_rx.clone(),
        )));
    }
    if let Some(e) = &state.alarms {
        e.set_self_checks(self_checks(Arc::downgrade(&state)));
    }
    let app = api::app(state.clone());

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
    let mut hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let mut file_check = tokio::time::interval(Duration::from_secs(2));
    let mut seen_mtime = mtime(&path);
    let mut server = server;
    loop {
        let (new, why) = tokio::select! {
            _ = hup.recv() => {
                tracing::info!(config = %path.display(), "SIGHUP: reloading the configuration");
                seen_mtime = mtime(&path);
                if let (Some(rustls), Some(c)) = (&tls, &config.listen.tls) {
                    reload_tls(rustls, c);
                }
                listen::warn_if_clear(bound, &config.listen);
                (reload(&path, &config), "SIGHUP")
            }
            _ = file_check.tick() => {
                let now = mtime(&path);
                if now == seen_mtime {
                    continue;
                }
                seen_mtime = now;
                tracing::info!(config = %path.display(), "the configuration file changed: reloading it");
                (reload(&path, &config), "file changed")
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
        let new = match new {
            Ok(Some(new)) => new,
            Ok(None) => continue,
            Err(problems) => {
                audit_reload(&audit, &path, why, &format!("refused, the running one stays: {problems}"), true);
                continue;
            }
        };
        // Stop the old sinks (a batch in flight finishes or is resent; the
        // spool keeps the rest), then start the new ones on the same spool.
        stop_sinks(&stop_tx, std::mem::take(&mut sink_tasks), shutdown_timeout).await;
        let (tx, rx) = watch::channel(false);
        stop_tx = tx;
        match build_live(&new, Some(&state.live()), &rx) {
            Ok((live, tasks)) => {
                state.replace(live);
                sink_tasks = tasks;
                match (&state.alarms, &new.alarms) {
                    (Some(e), Some(a)) => e.set_config(alarms_with_zone(a, &new)),
                    (None, None) => {}
                    _ => tracing::warn!("turning alarms on or off takes effect at the next restart"),
                }
                dcwatch_common::set_log_level(&new.log_level);
                config = new;
                tracing::info!(
                    sinks = config.sinks.len(),
                    tokens = config.ingest.tokens.len(),
                    "configuration reloaded"
                );
                audit_reload(&audit, &path, why, "applied", false);
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot apply the new configuration; restarting the running one's sinks");
                let (live, tasks) = build_live(&config, Some(&state.live()), &rx)?;
                state.replace(live);
                sink_tasks = tasks;
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
    stop_sinks(&stop_tx, sink_tasks, deadline.saturating_duration_since(tokio::time::Instant::now())).await;
    let _ = alarm_stop_tx.send(true);
    for t in alarm_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }
    if let Some(t) = trend_task {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), upkeep_task).await;
    tracing::info!("stopped");
    Ok(())
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
                match e.map(|e| e.purge_silences(now)) {
                    Some(Ok(0)) | None => {}
                    Some(Ok(n)) => tracing::info!(removed = n, "silences past keep_expired_days removed"),
                    Some(Err(err)) => tracing::error!(error = %err, "cannot remove ended silences"),
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
                tracing::error!(error = %e, "cannot write the hourly trends; they are kept in memory for the next try")
            }
            Err(e) => tracing::error!(error = %e, "the trend flush panicked"),
        }
        if last {
            return;
        }
    }
}
