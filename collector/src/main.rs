//! `dcwatch-collector`: parses flags and starts the pieces; the work is in
//! `ingest`, `sink`, `api` and `state`.

mod alarm;
mod api;
mod audit;
mod auth;
mod bench;
mod bulk;
mod config;
mod daemon;
mod db;
mod i18n;
mod ingest;
mod listen;
mod mail;
mod model;
mod peer;
mod report;
mod sink;
mod state;
mod stats;
mod status;
mod trends;
mod watchdog;
mod web;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Manage the web console's users (`web.users_db`): add, passwd, disable, list.
    User {
        #[command(subcommand)]
        action: web::cli::UserCommand,
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
    let path = cli.config;
    match cli.command.unwrap_or(Command::Run) {
        Command::BenchAlarms { series, rules, seconds } => ExitCode::from(bench::run(series, rules, seconds)),
        Command::GenTrends { dir, hosts, step_minutes } => gen_trends(&dir, hosts, step_minutes),
        Command::HashToken => hash_token(),
        Command::Validate => with_config(&path, |_| {
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }),
        Command::Report { period, site, format, lang, tz, output } => with_config(&path, |config| {
            ExitCode::from(report::run_cli(&config, &report::Args { period, site, format, lang, tz, output }))
        }),
        Command::Status { url, token, lang } => {
            with_config(&path, |config| ExitCode::from(status::run(&config, url, token, lang)))
        }
        Command::User { action } => with_config(&path, |config| ExitCode::from(web::cli::run(&config, action))),
        Command::Run => with_config(&path, |config| serve(path.clone(), config)),
    }
}

/// Loads the configuration for a command that needs it and runs `f` on it;
/// an invalid one is printed with every problem, exit 2.
fn with_config(path: &Path, f: impl FnOnce(CollectorConfig) -> ExitCode) -> ExitCode {
    match dcwatch_common::config::load(path) {
        Ok(config) => f(config),
        Err(e) => {
            eprintln!("dcwatch-collector: invalid configuration:\n{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn gen_trends(dir: &Path, hosts: usize, step_minutes: i64) -> ExitCode {
    match report::sample::generate(dir, hosts, step_minutes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dcwatch-collector gen-trends: {}", dcwatch_common::error_chain(&*e));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn hash_token() -> ExitCode {
    let mut token = String::new();
    if std::io::stdin().read_line(&mut token).is_err() || token.trim().is_empty() {
        eprintln!(
            "dcwatch-collector: give the token on standard input, e.g. `echo -n TOKEN | dcwatch-collector hash-token`"
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    println!("{}", hex::encode(ingest::auth::sha256(token.trim_end_matches(['\n', '\r']))));
    ExitCode::SUCCESS
}

/// `run`: the collector until it is stopped; a failure is printed with its
/// whole chain of causes.
fn serve(path: PathBuf, config: CollectorConfig) -> ExitCode {
    dcwatch_common::init_logging(&config.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dcwatch-collector: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(daemon::run(path, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "collector failed");
            eprintln!("dcwatch-collector: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
