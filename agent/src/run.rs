//! The running agent (`run`) and `once`: the configuration's sources
//! built and started, the output, the heartbeat and reloads. Here the
//! configuration meets the sources, which never see it whole.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dcwatch_common::forward;
use dcwatch_common::spool::Spool;
use dcwatch_common::write::Writer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::AgentConfig;
use crate::heartbeat;
use crate::sources::{self, BuildError, Built, Context, Queue, SourceStats};

/// Builds every configured source (`sources[i]`).
pub fn build_all(config: &AgentConfig) -> Result<Vec<Box<dyn Built>>, BuildError> {
    sources::build_all(config.sources.iter().map(|s| s.source()))
}

/// Starts the tasks of every configured source.
pub fn spawn_all(
    config: &AgentConfig,
    out: &Arc<Queue>,
    stats: &Arc<SourceStats>,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let built = build_all(config).context("cannot build the sources")?;
    let agent = config.for_sources();
    let mut ctx = Context { agent: &agent, out, stats, shutdown, backup_states: Default::default() };
    let mut tasks = Vec::new();
    for (i, b) in built.iter().enumerate() {
        tasks.extend(b.spawn(&mut ctx).with_context(|| format!("cannot start sources[{i}]"))?);
    }
    Ok(tasks)
}

/// What ended one generation of the running agent.
enum Next {
    Stop,
    Reload(Box<AgentConfig>),
}

pub async fn run(path: PathBuf, mut config: AgentConfig) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "dcwatch-agent starting");
    // The queue stays open across reloads: what it holds carries over.
    let (spool, report) = Spool::open(config.queue.spool_settings(), &["output"])
        .with_context(|| format!("cannot open the queue in {}", config.queue.dir.display()))?;
    tracing::info!(
        dir = %config.queue.dir.display(), queued_points = report.lines, corrupt_records = report.corrupt_records,
        "queue opened"
    );
    let queue = Arc::new(Queue::new(spool.clone()));
    let stats = Arc::new(SourceStats::default());
    let out_stats = Arc::new(forward::Stats::default());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let mut watch = dcwatch_common::reload::ConfigWatch::new(&path).context("cannot listen for SIGHUP")?;
    // The config before the last reload, to go back to if the new one's
    // output cannot be built after all (a certificate file replaced again
    // between the check and the start).
    let mut previous: Option<AgentConfig> = None;
    loop {
        let host = config.host_name();
        let site = config.agent.site.clone();
        let writer = match Writer::new(&config.writer_settings()) {
            Ok(w) => w,
            Err(e) => {
                let Some(prev) = previous.take() else { return Err(e).context("output") };
                let e = dcwatch_common::redact::redact_urls_in(&dcwatch_common::error_chain(&e));
                tracing::error!(error = %e, "the reloaded output cannot be started; going back to the running configuration");
                config = prev;
                continue;
            }
        };
        tracing::info!(
            site = %site, host = %host, endpoint = %writer.endpoint(), sources = config.sources.len(), "running"
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let out_task = forward::spawn_counting(
            writer,
            config.forwarder_settings(),
            spool.clone(),
            0,
            out_stats.clone(),
            stop_rx.clone(),
        );
        let source_tasks = spawn_all(&config, &queue, &stats, &stop_rx)?;
        let mut tick = tokio::time::interval(config.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let next = loop {
            tokio::select! {
                _ = tick.tick() => {
                    let losses = (queue.lost_points.load(std::sync::atomic::Ordering::Relaxed), spool.corrupt_records());
                    let p = heartbeat::point(&site, &host, started, &stats, &out_stats, losses, dcwatch_common::now_ns());
                    sources::emit(&[p], &queue, &stats);
                }
                _ = watch.changed() => {
                    if let Some(new) = reload(&path, &config) {
                        break Next::Reload(Box::new(new));
                    }
                }
                _ = term.recv() => break Next::Stop,
                _ = tokio::signal::ctrl_c() => break Next::Stop,
            }
        };
        // Stop this generation: sources first, then the output, which waits
        // at most its shutdown timeout for a batch in flight. What it has
        // not sent stays in the queue for the next generation or start.
        let _ = stop_tx.send(true);
        for t in source_tasks {
            let _ = t.await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(config.agent.shutdown_timeout_secs + 5), out_task).await;
        match next {
            Next::Stop => break,
            Next::Reload(new) => {
                if new.queue.dir != config.queue.dir {
                    tracing::warn!("queue.dir changed: it takes effect at the next restart; the open queue is kept");
                }
                previous = Some(std::mem::replace(&mut config, *new));
                dcwatch_common::set_log_level(&config.agent.log_level);
            }
        }
    }
    if let Err(e) = spool.sync() {
        tracing::error!(error = %e, "cannot sync the queue at exit");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Loads the config again (`common::reload`): None if unchanged, or
/// broken (its problems logged; the running config is kept).
fn reload(path: &std::path::Path, current: &AgentConfig) -> Option<AgentConfig> {
    // The certificate files may have been renewed in place under the same
    // paths: with any of them set, a reload reads them again.
    let tls_files = |c: &AgentConfig| {
        let o = &c.output;
        o.ca_file.is_some() || o.cert_file.is_some() || o.key_file.is_some()
    };
    dcwatch_common::reload::reload(path, current, tls_files).ok().flatten()
}

pub async fn once(config: &AgentConfig) -> anyhow::Result<()> {
    let agent = config.for_sources();
    let mut all = Vec::new();
    for (i, s) in build_all(config).context("cannot build the sources")?.iter().enumerate() {
        let points = s.once(&agent).await.with_context(|| format!("cannot collect from sources[{i}]"))?;
        all.extend(points);
    }
    let mut buf = Vec::new();
    for p in &all {
        p.write_to(&mut buf);
    }
    use std::io::Write;
    std::io::stdout().write_all(&buf).context("cannot write to stdout")?;
    Ok(())
}
