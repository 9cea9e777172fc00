//! The systemd units' hardening, as `systemd-analyze security` scores it
//! (0 is best, 10 worst; "OK" is below 4.5). The units in `systemd/` must
//! stay at or below 2.0, and every line of them must mean something to
//! systemd (a misspelt key is ignored with a warning, and its protection
//! silently lost).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The most a unit may score.
const MAX_EXPOSURE: f64 = 2.0;

fn unit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd").join(name)
}

/// `systemd-analyze security --offline=yes UNIT`: (the overall exposure,
/// stderr). None when systemd-analyze is not installed.
fn exposure(unit: &Path) -> Option<(f64, String)> {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].into_iter().find(|p| Path::new(p).is_file())?;
    let out =
        Command::new(analyze).args(["security", "--offline=yes"]).arg(unit).output().expect("run systemd-analyze");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "systemd-analyze failed on {}:\n{stderr}", unit.display());
    // "→ Overall exposure level for dcwatch-agent.service: 1.9 OK 🙂"
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .unwrap_or_else(|| panic!("no overall exposure line for {}:\n{stdout}", unit.display()));
    let score = line.rsplit_once(": ").and_then(|(_, r)| r.split_whitespace().next()).and_then(|s| s.parse().ok());
    Some((score.unwrap_or_else(|| panic!("cannot read the score in {line:?}")), stderr))
}

fn check(name: &str) {
    let path = unit(name);
    let Some((score, stderr)) = exposure(&path) else {
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian package `systemd`; scripts/test installs it)");
        return;
    };
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(name) || l.contains("ignoring")).collect();
    assert_eq!(warnings, Vec::<&str>::new(), "systemd does not understand every line of {name}");
    assert!(score <= MAX_EXPOSURE, "{name} scores {score}, more than {MAX_EXPOSURE}: see docs/security.md");
}

#[test]
fn the_collector_unit_scores_at_most_2_in_systemd_analyze_security() {
    check("dcwatch-collector.service");
}

#[test]
fn the_agent_unit_scores_at_most_2_in_systemd_analyze_security() {
    check("dcwatch-agent.service");
}
