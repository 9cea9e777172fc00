//! `dcwatch-collector`: parses flags and starts the pieces; the work is in
//! `ingest`, `sink`, `api` and `state`.

mod api;
mod config;
mod ingest;
mod sink;
mod state;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    dcwatch_common::install_crypto_provider();
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
    dcwatch_common::init_logging(&config.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dcwatch-collector: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "collector failed");
            eprintln!("dcwatch-collector: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

async fn run(config: CollectorConfig) -> anyhow::Result<()> {
    let addr: SocketAddr = config.listen.address.parse().context("listen.address")?;
    let shutdown_timeout = Duration::from_secs(config.listen.shutdown_timeout_secs);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (sinks, sink_tasks, durable) = if config.sinks.is_empty() {
        tracing::warn!("no sink configured: points are accepted, counted and logged, and go nowhere");
        (Vec::new(), Vec::new(), None)
    } else {
        let names: Vec<&str> = config.sinks.iter().map(|s| s.name.as_str()).collect();
        let (spool, report) = Spool::open(config.spool.spool_settings(), &names)
            .with_context(|| format!("cannot open the spool in {}", config.spool.dir.display()))?;
        tracing::info!(
            dir = %config.spool.dir.display(), points = report.lines, corrupt_records = report.corrupt_records,
            "spool opened"
        );
        let (sinks, tasks) =
            sink::spawn_all(&config.sinks, &spool, shutdown_timeout, &stop_rx).map_err(anyhow::Error::msg)?;
        let committer = Committer::start(spool.clone());
        (sinks, tasks, Some(state::Durable { spool, committer }))
    };
    let tokens = ingest::auth::Tokens::new(&config.ingest.tokens, config.ingest.allow_anonymous);
    let read_timeout = Duration::from_secs(config.ingest.read_timeout_secs);
    let state = Arc::new(state::AppState::new(tokens, sinks, durable, config.ingest.max_body_bytes, read_timeout));
    let app = api::app(state.clone());

    let handle = axum_server::Handle::new();
    let server = match &config.listen.tls {
        Some(tls) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file)
                .await
                .with_context(|| {
                    format!("cannot load TLS certificate {} / key {}", tls.cert_file.display(), tls.key_file.display())
                })?;
            let mut server = axum_server::bind_rustls(addr, rustls).handle(handle.clone());
            server.http_builder().http1().header_read_timeout(read_timeout);
            tokio::spawn(async move { server.serve(app.into_make_service()).await })
        }
        None => {
            let mut server = axum_server::bind(addr).handle(handle.clone());
            // Also closes keep-alive connections idle for this long.
            server.http_builder().http1().header_read_timeout(read_timeout);
            tokio::spawn(async move { server.serve(app.into_make_service()).await })
        }
    };
    let Some(bound) = handle.listening().await else {
        let err = server.await.context("server task")?.err();
        return Err(anyhow::anyhow!("cannot listen on {addr}: {}", err.map(|e| e.to_string()).unwrap_or_default()));
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"), address = %bound, tls = config.listen.tls.is_some(),
        sinks = config.sinks.len(), tokens = config.ingest.tokens.len(), "dcwatch-collector listening"
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    // SIGHUP would otherwise kill the collector (its default action).
    let mut hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let mut server = server;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::warn!("SIGHUP received: reloading the configuration is not supported yet; restart the collector to apply changes");
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            r = &mut server => {
                r.context("server task")?.context("server failed")?;
                return Ok(());
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
    let _ = stop_tx.send(true);
    for t in sink_tasks {
        let _ = tokio::time::timeout_at(deadline + Duration::from_secs(1), t).await;
    }
    tracing::info!("stopped");
    Ok(())
}
