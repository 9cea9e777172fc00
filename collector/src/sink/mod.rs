//! Sinks: one forwarder per configured InfluxDB target, each reading the
//! spool as its own consumer, with its own retry state, so one target being
//! down does not hold back another.

use std::sync::Arc;
use std::time::Duration;

use dcwatch_common::forward;
use dcwatch_common::origin::Origins;
use dcwatch_common::spool::Spool;
use dcwatch_common::write::Writer;
use tokio::sync::watch;

use crate::config::SinkConfig;
use crate::state::Sink;

/// A sink whose writer cannot be made (its URL, certificate or key).
#[derive(Debug, thiserror::Error)]
#[error("sink `{name}`")]
pub struct SinkError {
    pub name: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Starts every sink; sink `i` is spool consumer `i`. `origins` names the
/// writer of each spool record in the log of a refused line. `counters` gives a
/// sink's counters from before a reload, so they carry on.
pub fn spawn_all(
    configs: &[SinkConfig],
    spool: &Arc<Spool>,
    origins: &Arc<Origins>,
    shutdown_timeout: Duration,
    shutdown: &watch::Receiver<bool>,
    counters: impl Fn(&str) -> Option<Arc<forward::Stats>>,
) -> Result<(Vec<Sink>, Vec<tokio::task::JoinHandle<()>>), SinkError> {
    let mut sinks = Vec::new();
    let mut tasks = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let writer =
            Writer::new(&c.writer_settings()).map_err(|e| SinkError { name: c.name.clone(), source: e.into() })?;
        let endpoint = writer.endpoint().to_string();
        let queued = spool.consumer_stats(i).queued_lines;
        tracing::info!(sink = %c.name, endpoint = %endpoint, flavour = ?c.flavour, queued_points = queued, "sink ready");
        let stats = counters(&c.name).unwrap_or_default();
        let mut settings = c.forwarder_settings(shutdown_timeout);
        settings.origins = Some(origins.clone());
        // A relay to a peer must never make this collector refuse its own
        // writers: it holds at most half the spool, for at most its keep.
        settings.backlog_bound = c.relay_keep.map(|keep| (spool.settings().max_bytes / 2, keep));
        let task = forward::spawn_counting(writer, settings, spool.clone(), i, stats.clone(), shutdown.clone());
        let v1 = c.flavour == dcwatch_common::write::Flavour::V1;
        sinks.push(Sink { name: c.name.clone(), endpoint, v1, stats });
        tasks.push(task);
    }
    Ok((sinks, tasks))
}
