//! `dcwatch-agent`: parses flags and starts the pieces; the work is in
//! `sources`, `heartbeat` and the shared forwarder.

mod config;
mod heartbeat;
mod probe;
mod sources;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use dcwatch_common::forward;
use dcwatch_common::spool::Spool;
use dcwatch_common::write::Writer;
use tokio::sync::watch;

use crate::config::AgentConfig;

/// Exit codes: 0 clean stop, 1 runtime failure, 2 bad config or flags.
const EXIT_FAILURE: u8 = 1;
const EXIT_CONFIG: u8 = 2;
/// Where the configuration file is unless `-c` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/dcwatch/agent.yaml";

#[derive(Parser)]
#[command(name = "dcwatch-agent", version, about = "dcwatch agent: reports host health to a collector or InfluxDB")]
struct Cli {
    /// Configuration file.
    #[arg(short, long, global = true, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent (the default).
    Run,
    /// Check the configuration file and exit: 0 if valid, 2 with every problem listed if not.
    Validate,
    /// Collect once from every source, print the line protocol to stdout, send nothing.
    Once,
    /// Poll one device once and print what dcwatch reads from it: what a
    /// technician runs when adding a device. Needs no configuration file.
    Probe {
        #[command(subcommand)]
        what: Probe,
    },
    /// List the SNMP and Modbus profiles: those built in, plus those of each
    /// snmp and modbus source's `profiles_dir` in the configuration file (when
    /// it exists), or of --snmp-dir and --modbus-dir instead.
    Profiles {
        /// A directory of extra SNMP profiles (instead of the configuration's).
        #[arg(long, value_name = "DIR")]
        snmp_dir: Option<PathBuf>,
        /// A directory of extra Modbus profiles (instead of the configuration's).
        #[arg(long, value_name = "DIR")]
        modbus_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Probe {
    /// An SNMP device: `probe snmp 10.0.0.5 --community private`.
    Snmp(Box<ProbeSnmp>),
    /// A Modbus device: `probe modbus 10.0.0.50 --unit 2 --profile sdm630`, or
    /// `--raw 0 16 --function input` to see registers in every type and order.
    Modbus(Box<ProbeModbus>),
}

#[derive(clap::Args)]
struct ProbeModbus {
    /// `host` or `host:port` (port 502 unless given); for `--transport rtu`, the serial port.
    address: String,
    /// tcp, rtu, or rtu-over-tcp (RTU frames through a transparent gateway).
    #[arg(long, default_value = "tcp", value_parser = ["tcp", "rtu", "rtu-over-tcp"])]
    transport: String,
    /// Unit id (slave address).
    #[arg(long, default_value_t = 1)]
    unit: u8,
    /// Register-map profile (`dcwatch-agent profiles`).
    #[arg(long)]
    profile: Option<String>,
    /// A directory of extra profiles.
    #[arg(long)]
    profiles_dir: Option<PathBuf>,
    /// Dump COUNT registers from protocol address ADDRESS (0-based, decimal
    /// or hex as in profiles: `20480` or `0x5000`) instead.
    #[arg(long, num_args = 2, value_names = ["ADDRESS", "COUNT"], value_parser = probe::parse_u16)]
    raw: Option<Vec<u16>>,
    /// With --raw: holding, input, coil or discrete.
    #[arg(long, default_value = "holding", value_parser = ["holding", "input", "coil", "discrete"])]
    function: String,
    /// rtu: bits per second.
    #[arg(long, default_value_t = 9600)]
    baud_rate: u32,
    /// rtu: none, even or odd.
    #[arg(long, default_value = "none", value_parser = ["none", "even", "odd"])]
    parity: String,
    /// rtu: 1 or 2.
    #[arg(long, default_value_t = 1)]
    stop_bits: u8,
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Bind to this feed (A, B, …): adds `power_feed` with `live`.
    #[arg(long)]
    feed: Option<String>,
    /// Name of the device in the output.
    #[arg(long, default_value = "probe")]
    name: String,
    /// `table` (for people) or `lp` (line protocol).
    #[arg(long, default_value = "table", value_parser = ["table", "lp"])]
    format: String,
}

#[derive(clap::Args)]
struct ProbeSnmp {
    /// `host` or `host:port` (port 161 unless given).
    address: String,
    /// 1, 2c or 3.
    #[arg(long = "snmp-version", default_value = "2c")]
    version: String,
    /// v1/v2c community; else --community-file, else the environment
    /// variable DCWATCH_SNMP_COMMUNITY, else `public`.
    #[arg(long)]
    community: Option<String>,
    /// A file whose first line is the community.
    #[arg(long, value_name = "FILE")]
    community_file: Option<PathBuf>,
    /// v3 user.
    #[arg(long)]
    user: Option<String>,
    /// v3: md5, sha, sha224, sha256, sha384, sha512.
    #[arg(long)]
    auth_protocol: Option<String>,
    /// v3 authentication password. Every user of this machine can read a
    /// command line (`ps`): prefer --auth-password-file or the environment
    /// variable DCWATCH_SNMP_AUTH_PASSWORD.
    #[arg(long)]
    auth_password: Option<String>,
    /// A file whose first line is the v3 authentication password.
    #[arg(long, value_name = "FILE")]
    auth_password_file: Option<PathBuf>,
    /// v3: des, aes, aes192, aes256.
    #[arg(long)]
    priv_protocol: Option<String>,
    /// v3 privacy password; prefer --priv-password-file or the environment
    /// variable DCWATCH_SNMP_PRIV_PASSWORD.
    #[arg(long)]
    priv_password: Option<String>,
    /// A file whose first line is the v3 privacy password.
    #[arg(long, value_name = "FILE")]
    priv_password_file: Option<PathBuf>,
    /// Profile to use; detected from sysObjectID when left out.
    #[arg(long)]
    profile: Option<String>,
    /// A directory of extra profiles.
    #[arg(long)]
    profiles_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    #[arg(long, default_value_t = 1)]
    retries: u32,
    /// Name of the device in the output.
    #[arg(long, default_value = "probe")]
    name: String,
    /// `table` (for people) or `lp` (line protocol).
    #[arg(long, default_value = "table", value_parser = ["table", "lp"])]
    format: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    dcwatch_common::install_crypto_provider();
    match &cli.command {
        Some(Command::Probe { what }) => {
            dcwatch_common::init_logging("off");
            return match runtime() {
                Ok(rt) => ExitCode::from(match what {
                    Probe::Snmp(p) => rt.block_on(probe::snmp(p)),
                    Probe::Modbus(p) => rt.block_on(probe::modbus(p)),
                }),
                Err(e) => {
                    eprintln!("dcwatch-agent: {e:#}");
                    ExitCode::from(EXIT_FAILURE)
                }
            };
        }
        Some(Command::Profiles { snmp_dir, modbus_dir }) => {
            return ExitCode::from(probe::profiles(&cli.config, snmp_dir.clone(), modbus_dir.clone()));
        }
        _ => {}
    }
    let config: AgentConfig = match dcwatch_common::config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dcwatch-agent: invalid configuration:\n{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Validate => {
            println!("{}: configuration is valid", cli.config.display());
            return ExitCode::SUCCESS;
        }
        Command::Probe { .. } | Command::Profiles { .. } => unreachable!("handled above"),
        Command::Once => {
            dcwatch_common::init_logging("warn");
            runtime().and_then(|rt| rt.block_on(once(&config)))
        }
        Command::Run => {
            dcwatch_common::init_logging(&config.agent.log_level);
            runtime().and_then(|rt| rt.block_on(run(cli.config.clone(), config)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dcwatch-agent: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// One thread is plenty for an agent and keeps its footprint small.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// What ended one generation of the running agent.
enum Next {
    Stop,
    Reload(Box<AgentConfig>),
}

async fn run(path: PathBuf, mut config: AgentConfig) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "dcwatch-agent starting");
    // The queue stays open across reloads: what it holds carries over.
    let (spool, report) = Spool::open(config.queue.spool_settings(), &["output"])
        .with_context(|| format!("cannot open the queue in {}", config.queue.dir.display()))?;
    tracing::info!(
        dir = %config.queue.dir.display(), queued_points = report.lines, corrupt_records = report.corrupt_records,
        "queue opened"
    );
    let queue = Arc::new(sources::Queue::new(spool.clone()));
    let stats = Arc::new(sources::SourceStats::default());
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
                let e = dcwatch_common::redact::redact_urls_in(&e);
                let Some(prev) = previous.take() else { return Err(anyhow::Error::msg(e).context("output")) };
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
        let source_tasks = sources::spawn_all(&config, &queue, &stats, &stop_rx).map_err(anyhow::Error::msg)?;
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

async fn once(config: &AgentConfig) -> anyhow::Result<()> {
    let host = config.host_name();
    let mut all = Vec::new();
    for s in sources::build_all(config).map_err(anyhow::Error::msg)? {
        let points = s.once(config, &config.agent.site, &host).await.map_err(anyhow::Error::msg)?;
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
