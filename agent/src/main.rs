//! `dcwatch-agent`: parses flags and starts the pieces; the work is in
//! `sources`, `heartbeat` and the shared forwarder.

mod config;
mod heartbeat;
mod probe;
mod run;
mod sources;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    ExitCode::from(match cli.command.unwrap_or(Command::Run) {
        Command::Run => daemon(cli.config),
        Command::Validate => validate(&cli.config),
        Command::Once => once(&cli.config),
        Command::Probe { what } => probe_device(&what),
        Command::Profiles { snmp_dir, modbus_dir } => probe::profiles(&cli.config, snmp_dir, modbus_dir),
    })
}

/// `run`: the agent, until stopped.
fn daemon(path: PathBuf) -> u8 {
    let config = match load(&path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    dcwatch_common::init_logging(&config.agent.log_level);
    finish(runtime().and_then(|rt| rt.block_on(run::run(path, config))))
}

/// `validate`: the configuration's problems, or that it has none.
fn validate(path: &Path) -> u8 {
    match load(path) {
        Ok(_) => {
            println!("{}: configuration is valid", path.display());
            0
        }
        Err(code) => code,
    }
}

/// `once`: every source's points to stdout.
fn once(path: &Path) -> u8 {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    dcwatch_common::init_logging("warn");
    finish(runtime().and_then(|rt| rt.block_on(run::once(&config))))
}

/// `probe snmp|modbus`: needs no configuration file.
fn probe_device(what: &Probe) -> u8 {
    dcwatch_common::init_logging("off");
    match runtime() {
        Ok(rt) => match what {
            Probe::Snmp(p) => rt.block_on(probe::snmp(p)),
            Probe::Modbus(p) => rt.block_on(probe::modbus(p)),
        },
        Err(e) => finish(Err(e)),
    }
}

/// The configuration file, loaded and checked; else its problems printed
/// and the exit code of a bad configuration.
fn load(path: &Path) -> Result<AgentConfig, u8> {
    dcwatch_common::config::load(path).map_err(|e| {
        eprintln!("dcwatch-agent: invalid configuration:\n{e}");
        EXIT_CONFIG
    })
}

/// The exit code of a command that ran; its error, with every cause, printed.
fn finish(result: anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dcwatch-agent: {e:#}");
            EXIT_FAILURE
        }
    }
}

/// One thread is plenty for an agent and keeps its footprint small.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}
