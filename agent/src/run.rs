//! The running agent (`run`) and `once`: the configuration's sources
//! built and started, the output, the heartbeat and reloads. Here the
//! configuration meets the sources, which never see it whole.

use std::collections::HashMap;
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
    // One consumer (cursor) per output: a collector that is down delays only
    // its own copy, and the queue keeps what any output still needs.
    let consumers = config.consumers();
    let names: Vec<&str> = consumers.iter().map(String::as_str).collect();
    let (spool, report) = Spool::open(config.queue.spool_settings(), &names)
        .with_context(|| format!("cannot open the queue in {}", config.queue.dir.display()))?;
    tracing::info!(
        dir = %config.queue.dir.display(), queued_points = report.lines, corrupt_records = report.corrupt_records,
        "queue opened"
    );
    let queue = Arc::new(Queue::new(spool.clone()));
    let stats = Arc::new(SourceStats::default());
    // Each output's counters, by consumer name: kept across reloads.
    let mut out_stats: HashMap<String, Arc<forward::Stats>> = HashMap::new();
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
        let writers = match start_outputs(&config, &spool) {
            Ok(w) => w,
            Err(e) => {
                let Some(prev) = previous.take() else { return Err(e).context("output") };
                let e = dcwatch_common::redact::redact_urls_in(&format!("{e:#}"));
                tracing::error!(error = %e, "the reloaded output cannot be started; going back to the running configuration");
                config = prev;
                continue;
            }
        };
        let endpoints: Vec<&str> = writers.iter().map(Writer::endpoint).collect();
        tracing::info!(
            site = %site, host = %host, endpoint = %endpoints.join(", "), sources = config.sources.len(), "running"
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let outputs = config.outputs();
        let mut lanes = Vec::new();
        let mut out_tasks = Vec::new();
        for (i, (writer, out)) in writers.into_iter().zip(&outputs).enumerate() {
            let stats = out_stats.entry(out.consumer()).or_default().clone();
            let settings = config.forwarder_settings_of(*out);
            out_tasks.push(forward::spawn_counting(writer, settings, spool.clone(), i, stats.clone(), stop_rx.clone()));
            lanes.push((out.name.map(str::to_string), stats));
        }
        let per_output = config.has_output_list();
        let source_tasks = spawn_all(&config, &queue, &stats, &stop_rx)?;
        let mut tick = tokio::time::interval(config.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let next = loop {
            tokio::select! {
                _ = tick.tick() => {
                    let losses = (queue.lost_points.load(std::sync::atomic::Ordering::Relaxed), spool.corrupt_records());
                    let now = dcwatch_common::now_ns();
                    let all: Vec<&forward::Stats> = lanes.iter().map(|(_, s)| s.as_ref()).collect();
                    let mut points = vec![heartbeat::point(&site, &host, started, &stats, &heartbeat::combined(&all), losses, now)];
                    if per_output {
                        for (i, (name, s)) in lanes.iter().enumerate() {
                            let oldest = spool.oldest_unacked_ns(i).ok().flatten();
                            let age = oldest.map_or(0, |t| u64::try_from(now.saturating_sub(t) / 1_000_000_000).unwrap_or(0));
                            points.push(heartbeat::output_point(&site, &host, name.as_deref().unwrap_or("output"), s, age, now));
                        }
                    }
                    sources::emit(&points, &queue, &stats);
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
        let _ = tokio::time::timeout(
            Duration::from_secs(config.agent.shutdown_timeout_secs + 5),
            futures_join_all(out_tasks),
        )
        .await;
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

/// The writers of the configuration's outputs, in order, with the queue's
/// consumers set to match them (a kept output keeps its cursor; a new one
/// resumes from a cursor file left for it, else starts at the oldest cursor
/// the queue knows — `output`'s when `output:` became `outputs:` — so it
/// gets the whole backlog).
fn start_outputs(config: &AgentConfig, spool: &Spool) -> anyhow::Result<Vec<Writer>> {
    let mut writers = Vec::new();
    for out in config.outputs() {
        let w = Writer::new(&crate::config::writer_settings_of(out.config));
        writers.push(match out.name {
            None => w?,
            Some(n) => w.with_context(|| format!("outputs `{n}`"))?,
        });
    }
    let consumers = config.consumers();
    let names: Vec<&str> = consumers.iter().map(String::as_str).collect();
    spool.set_consumers(&names).context("cannot set the queue's cursors")?;
    Ok(writers)
}

/// Waits for every task.
async fn futures_join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

/// Loads the config again (`common::reload`): None if unchanged, or
/// broken (its problems logged; the running config is kept).
fn reload(path: &std::path::Path, current: &AgentConfig) -> Option<AgentConfig> {
    // The certificate files may have been renewed in place under the same
    // paths: with any of them set, a reload reads them again.
    let tls_files = |c: &AgentConfig| {
        c.outputs().iter().any(|o| {
            let o = o.config;
            o.ca_file.is_some() || o.cert_file.is_some() || o.key_file.is_some()
        })
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
