//! Sinks: one forwarder per configured InfluxDB target, each with its own
//! buffer and retry state, so one target being down does not hold back another.

use std::time::Duration;

use dcwatch_common::forward;
use dcwatch_common::write::Writer;
use tokio::sync::watch;

use crate::config::SinkConfig;
use crate::state::Sink;

/// Starts every sink. Fails only on a config the validator should have caught.
pub fn spawn_all(
    configs: &[SinkConfig],
    shutdown_timeout: Duration,
    shutdown: &watch::Receiver<bool>,
) -> Result<(Vec<Sink>, Vec<tokio::task::JoinHandle<()>>), String> {
    let mut sinks = Vec::new();
    let mut tasks = Vec::new();
    for c in configs {
        let writer = Writer::new(&c.writer_settings()).map_err(|e| format!("sink `{}`: {e}", c.name))?;
        let endpoint = writer.endpoint().to_string();
        tracing::info!(sink = %c.name, endpoint = %endpoint, flavour = ?c.flavour, "sink ready");
        let (handle, task) = forward::spawn(writer, c.forwarder_settings(shutdown_timeout), shutdown.clone());
        sinks.push(Sink { name: c.name.clone(), endpoint, handle });
        tasks.push(task);
    }
    Ok((sinks, tasks))
}
