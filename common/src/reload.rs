//! Reading the configuration again while running, the same way in both
//! programs: on SIGHUP, or when the file's modification time changes
//! (checked every 2 s, so an edit is picked up without a signal). A broken
//! file is refused with every problem logged, and the running
//! configuration is kept.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::Validate;

/// Why the configuration is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Hangup,
    FileChanged,
}

impl Trigger {
    /// As the audit log and the logs say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Hangup => "SIGHUP",
            Trigger::FileChanged => "file changed",
        }
    }
}

/// Waits for the next reason to read the configuration again.
pub struct ConfigWatch {
    path: PathBuf,
    seen: Option<SystemTime>,
    hup: Signal,
    check: tokio::time::Interval,
}

/// How often the file's modification time is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ConfigWatch {
    /// Watches `path`; needs a Tokio runtime (for the signal and the timer).
    pub fn new(path: &Path) -> std::io::Result<ConfigWatch> {
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(ConfigWatch { path: path.to_path_buf(), seen: mtime(path), hup: signal(SignalKind::hangup())?, check })
    }

    /// The next SIGHUP or change of the file. Safe to use as a branch of
    /// `select!`: a wait cut short loses nothing.
    pub async fn changed(&mut self) -> Trigger {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    self.seen = mtime(&self.path);
                    tracing::info!(config = %self.path.display(), "SIGHUP: reloading the configuration");
                    return Trigger::Hangup;
                }
                _ = self.check.tick() => {
                    let now = mtime(&self.path);
                    if now != self.seen {
                        self.seen = now;
                        tracing::info!(config = %self.path.display(), "the configuration file changed: reloading it");
                        return Trigger::FileChanged;
                    }
                }
            }
        }
    }
}

/// Loads the configuration again. `Ok(None)`: it is the same as `current`
/// (and `reread_files` is false: with certificate files configured, a
/// reload reads them again, since they may have been renewed in place under
/// the same paths). `Err`: the problems, one line, logged.
pub fn reload<C: DeserializeOwned + Validate + PartialEq>(
    path: &Path,
    current: &C,
    reread_files: impl Fn(&C) -> bool,
) -> Result<Option<C>, String> {
    match crate::config::load::<C>(path) {
        Ok(new) if new == *current && !reread_files(&new) => {
            tracing::info!("the configuration is unchanged");
            Ok(None)
        }
        Ok(new) => Ok(Some(new)),
        Err(e) => {
            let problems = e.to_string().replace('\n', "; ");
            tracing::error!(problems = %problems, "the new configuration is invalid; keeping the running one");
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Conf {
        interval: u64,
        #[serde(default)]
        cert: Option<String>,
    }

    impl Validate for Conf {
        fn validate(&self, p: &mut Vec<crate::config::Problem>) {
            if self.interval == 0 {
                p.push(crate::config::Problem::general("interval: must be at least 1"));
            }
        }
    }

    #[test]
    fn a_reload_applies_a_change_refuses_a_broken_file_and_skips_the_same_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let current = Conf { interval: 5, cert: None };
        let no_files = |_: &Conf| false;
        std::fs::write(&path, "interval: 5\n").unwrap();
        assert_eq!(reload(&path, &current, no_files), Ok(None));
        std::fs::write(&path, "interval: 7\n").unwrap();
        assert_eq!(reload(&path, &current, no_files), Ok(Some(Conf { interval: 7, cert: None })));
        std::fs::write(&path, "interval: 0\n").unwrap();
        let e = reload(&path, &current, no_files).unwrap_err();
        assert!(e.ends_with("interval: must be at least 1"), "{e}");
        // Unchanged, but with a certificate file: read again.
        let with_cert = Conf { interval: 5, cert: Some("/etc/c.pem".into()) };
        std::fs::write(&path, "interval: 5\ncert: /etc/c.pem\n").unwrap();
        assert_eq!(reload(&path, &with_cert, |c: &Conf| c.cert.is_some()), Ok(Some(with_cert)));
    }

    #[tokio::test]
    async fn a_change_of_the_file_is_a_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "interval: 5\n").unwrap();
        let mut w = ConfigWatch::new(&path).unwrap();
        // A modification time the watch has not seen.
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)).unwrap();
        assert_eq!(w.changed().await, Trigger::FileChanged);
        assert_eq!(Trigger::FileChanged.as_str(), "file changed");
    }
}
