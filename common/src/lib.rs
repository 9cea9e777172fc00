//! Code that both dcwatch binaries need: loading configuration files, writing
//! line protocol safely, and process set-up (logging, TLS provider).

pub mod config;
pub mod forward;
pub mod isolate;
pub mod lp;
pub mod origin;
pub mod redact;
pub mod reload;
pub mod schema;
pub mod spool;
pub mod write;

/// Installs the one TLS crypto provider of the workspace (ring). Both the
/// HTTP client and the HTTPS server are built without a provider of their
/// own, so the binary carries a single crypto stack.
pub fn install_crypto_provider() {
    // Err means one is already installed (tests call this repeatedly): fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Changes the log level of a running process (see [`set_log_level`]).
type LevelSetter = Box<dyn Fn(&str) + Send + Sync>;
static LEVEL_SETTER: std::sync::OnceLock<LevelSetter> = std::sync::OnceLock::new();

/// Sets up `tracing` to stderr. `RUST_LOG` overrides `level` when set.
pub fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let from_env = EnvFilter::try_from_default_env().ok();
    let env_wins = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter_reloading();
    let handle = builder.reload_handle();
    if builder.try_init().is_ok() && !env_wins {
        let _ = LEVEL_SETTER.set(Box::new(move |level: &str| {
            let _ = handle.reload(EnvFilter::new(level));
        }));
    }
}

/// Applies a new log level after a config reload (not when `RUST_LOG` is set).
pub fn set_log_level(level: &str) {
    if let Some(set) = LEVEL_SETTER.get() {
        set(level);
    }
}

/// An error and its sources, joined by ": " (what `{:#}` of anyhow prints):
/// for messages that carry an error whose cause is a source, not its text.
/// A cause whose text the message already holds is left out (an error
/// that prints its source too gives no "x: y: y").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot read the state file")]
        Quiet(#[source] std::io::Error),
        #[error("cannot read the state file: {0}")]
        Loud(#[source] std::io::Error),
    }

    #[test]
    fn an_error_chain_names_each_cause_once_even_when_an_error_prints_its_source() {
        let io = || std::io::Error::other("permission denied");
        assert_eq!(super::error_chain(&Outer::Quiet(io())), "cannot read the state file: permission denied");
        assert_eq!(super::error_chain(&Outer::Loud(io())), "cannot read the state file: permission denied");
    }
}
