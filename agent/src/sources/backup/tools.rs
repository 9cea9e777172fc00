//! restic and borg repositories, read through the tools' own JSON output.
//! Each command runs in its own process group with stdin closed (a prompt
//! fails at once instead of waiting), and is killed, with anything it
//! started, at the timeout. Repositories are read without taking their lock,
//! so a check never waits for — or blocks — a backup in progress.
//!
//! A tool gets a clean environment: the agent's own holds its secrets
//! (`DCWATCH_TOKEN`, passwords of other jobs), so only what a program needs
//! to run and the tool's own variables are passed on (`tool_env`). The
//! repository never stands where an option could be read: restic takes it
//! from `RESTIC_REPOSITORY` (not on the command line, where `ps` would show
//! a password in its URL), borg after `--`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dcwatch_common::redact::{redact_url, redact_urls_in};
use serde::Deserialize;

use super::config::BackupJob;
use super::state::StateFile;
use super::{Report, Status};

/// The agent's variables every tool inherits: what a program needs to find
/// its binaries, home, locale, time zone and temporary folder.
const PASSED_ON: [&str; 6] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// What a tool reads from its environment.
struct ToolVars {
    /// Its own variables (`RESTIC_…`), inherited from the agent's environment.
    prefix: &'static str,
    password: &'static str,
    /// The variable naming a password file, if the tool has one.
    password_file: Option<&'static str>,
    /// Its cache folder, and where under the agent's state it goes.
    cache: &'static str,
    cache_sub: &'static str,
}

const RESTIC: ToolVars = ToolVars {
    prefix: "RESTIC_",
    password: "RESTIC_PASSWORD",
    password_file: Some("RESTIC_PASSWORD_FILE"),
    cache: "RESTIC_CACHE_DIR",
    cache_sub: "restic",
};

const BORG: ToolVars = ToolVars {
    prefix: "BORG_",
    password: "BORG_PASSPHRASE",
    password_file: None,
    cache: "BORG_CACHE_DIR",
    cache_sub: "borg/cache",
};

/// A tool's error fit for messages: no password of a URL in it.
pub fn redacted(e: &str, repo: &str) -> String {
    redact_urls_in(&e.replace(repo, &redact_url(repo)))
}

/// Runs a command with exactly the environment `env`; its stdout, or a
/// one-line reason it failed.
pub async fn run(
    bin: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let name = bin.file_name().map_or_else(|| bin.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args)
        .env_clear()
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(out.stdout),
        Ok(Ok(out)) => {
            let code = out.status.code().map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
            Err(format!("{name} exited with {code}: {}", last_lines(&out.stderr)))
        }
        Ok(Err(e)) => Err(format!("{name}: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                // The whole group: ssh or a password command it started, too.
                // SAFETY: killpg sends a signal; the group is the child's own.
                unsafe {
                    libc::killpg(pid as libc::pid_t, libc::SIGKILL);
                }
            }
            Err(format!("{name} did not finish within {} s; it was killed", timeout.as_secs()))
        }
    }
}

/// The tool's reason: its last non-empty stderr lines, shortened.
fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut s = lines[lines.len().saturating_sub(2)..].join(" / ");
    if s.is_empty() {
        s = "no message".into();
    }
    if s.chars().count() > 300 {
        s = s.chars().take(300).collect::<String>() + "…";
    }
    s
}

/// The tool's whole environment: [`PASSED_ON`] and the tool's own variables
/// from the agent's environment, then the job's `env`, its password, and a
/// cache folder the agent can write (unless one is set already): the
/// agent's user may have no writable home. Variables whose name or value is
/// not UTF-8 are not passed on.
fn tool_env(job: &BackupJob, state: &StateFile, tool: &ToolVars) -> Result<BTreeMap<String, String>, String> {
    let mut env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| PASSED_ON.contains(&k.as_str()) || k.starts_with(tool.prefix))
        .collect();
    env.extend(job.env.clone());
    if !env.contains_key(tool.cache)
        && let Some(dir) = state.cache_dir()
    {
        env.insert(tool.cache.into(), dir.join(tool.cache_sub).display().to_string());
    }
    if let Some(p) = &job.password {
        env.insert(tool.password.into(), p.clone());
    } else if let Some(f) = &job.password_file {
        match tool.password_file {
            Some(fv) => {
                env.insert(fv.into(), f.display().to_string());
            }
            None => {
                let p = std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read the password file {}: {e}", f.display()))?;
                env.insert(tool.password.into(), p.trim_end_matches(['\n', '\r']).to_string());
            }
        }
    }
    Ok(env)
}

#[derive(Debug, Deserialize)]
struct ResticSnapshot {
    time: String,
    id: String,
    #[serde(default)]
    summary: Option<ResticSummary>,
}

/// restic 0.17 and later put the run's figures in the snapshot.
#[derive(Debug, Deserialize)]
struct ResticSummary {
    #[serde(default)]
    backup_start: Option<String>,
    #[serde(default)]
    backup_end: Option<String>,
    #[serde(default)]
    total_bytes_processed: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ResticStats {
    total_size: u64,
}

pub async fn restic(job: &BackupJob, timeout: Duration, state: &StateFile) -> Report {
    let bin = job.binary.clone().unwrap_or_else(|| PathBuf::from("restic"));
    let repo = job.repository.clone().unwrap_or_default();
    let mut env = match tool_env(job, state, &RESTIC) {
        Ok(e) => e,
        Err(e) => return Report::failed(e),
    };
    // The job's repository, and no other way of naming one.
    env.remove("RESTIC_REPOSITORY_FILE");
    env.insert("RESTIC_REPOSITORY".into(), repo.clone());
    let mut args: Vec<String> = vec!["snapshots".into(), "--json".into(), "--no-lock".into()];
    args.extend(job.args.iter().cloned());
    let out = match run(&bin, &args, &env, timeout).await {
        Ok(o) => o,
        Err(e) => return Report::failed(redacted(&e, &repo)),
    };
    // `null` (old versions) or `[]` when there are none.
    let list: Option<Vec<ResticSnapshot>> = match serde_json::from_slice(&out) {
        Ok(s) => s,
        Err(e) => return Report::failed(format!("restic snapshots printed something unexpected: {e}")),
    };
    let mut snaps: Vec<(i64, ResticSnapshot)> = Vec::new();
    for s in list.unwrap_or_default() {
        match super::status_file::parse_time(&s.time) {
            Ok(t) => snaps.push((t.as_second(), s)),
            Err(e) => return Report::failed(format!("restic snapshot {}: {e}", s.id)),
        }
    }
    if snaps.is_empty() {
        return Report {
            copies: Some(0),
            ..Report::missing(format!("repository {} has no snapshots", redact_url(&repo)))
        };
    }
    snaps.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.id.cmp(&a.1.id)));
    let mut r = Report {
        status: Status::Ok,
        copies: Some(snaps.len() as u64),
        oldest_ts: snaps.last().map(|s| s.0),
        last_success_ts: Some(snaps[0].0),
        last_id: Some(snaps[0].1.id.clone()),
        ..Report::default()
    };
    if let Some(sum) = &snaps[0].1.summary
        && let (Some(a), Some(b)) = (&sum.backup_start, &sum.backup_end)
        && let (Ok(a), Ok(b)) = (super::status_file::parse_time(a), super::status_file::parse_time(b))
    {
        r.duration_s = Some(((b.as_millisecond() - a.as_millisecond()) as f64 / 100.0).round() / 10.0);
    }
    // Sizes of the newest two: from the snapshot (restic ≥ 0.17) or by
    // `restic stats` once per snapshot, remembered.
    let known = state.get(&job.name).sizes;
    let keep: Vec<&str> = snaps.iter().take(2).map(|s| s.1.id.as_str()).collect();
    let mut sizes = Vec::new();
    for (_, s) in snaps.iter().take(2) {
        let size = match s.summary.as_ref().and_then(|m| m.total_bytes_processed) {
            Some(b) => Some(b),
            None => match known.get(&s.id) {
                Some(b) => Some(*b),
                None => {
                    let a: Vec<String> =
                        vec!["stats".into(), "--json".into(), "--no-lock".into(), "--".into(), s.id.clone()];
                    match run(&bin, &a, &env, timeout).await {
                        Ok(out) => match serde_json::from_slice::<ResticStats>(&out) {
                            Ok(st) => {
                                state.remember_size(&job.name, &s.id, st.total_size, &keep);
                                Some(st.total_size)
                            }
                            Err(e) => {
                                r.message = Some(format!("restic stats printed something unexpected: {e}"));
                                None
                            }
                        },
                        Err(e) => {
                            r.message = Some(format!("snapshot sizes unknown: {}", redacted(&e, &repo)));
                            None
                        }
                    }
                }
            },
        };
        sizes.push(size);
    }
    r.last_size_bytes = sizes.first().copied().flatten();
    r.prev_size_bytes = sizes.get(1).copied().flatten();
    r
}

#[derive(Debug, Deserialize)]
struct BorgList {
    archives: Vec<BorgArchive>,
}

#[derive(Debug, Deserialize)]
struct BorgArchive {
    id: String,
    #[serde(default)]
    name: String,
    /// `time` in `borg list`; `borg info` has `start` only.
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    stats: Option<BorgStats>,
}

#[derive(Debug, Deserialize)]
struct BorgStats {
    original_size: u64,
}

/// borg 1.x prints local times without an offset; the commands run with
/// TZ=UTC so they are UTC. (borg 2 adds the offset, which is used when there.)
fn borg_time(t: &str) -> Result<i64, String> {
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    let dt: jiff::civil::DateTime = t.parse().map_err(|e| format!("`{t}` is not a borg time: {e}"))?;
    dt.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp().as_second()).map_err(|e| e.to_string())
}

pub async fn borg(job: &BackupJob, timeout: Duration, state: &StateFile) -> Report {
    let bin = job.binary.clone().unwrap_or_else(|| PathBuf::from("borg"));
    let repo = job.repository.clone().unwrap_or_default();
    let mut env = match tool_env(job, state, &BORG) {
        Ok(e) => e,
        Err(e) => return Report::failed(e),
    };
    // Its security notes (repository ids, nonces) beside the cache, unless
    // set; the keys folder stays where the job's user keeps it.
    if let Some(dir) = state.cache_dir()
        && !env.contains_key("BORG_SECURITY_DIR")
    {
        env.insert("BORG_SECURITY_DIR".into(), dir.join("borg/security").display().to_string());
    }
    // Listing an unencrypted repository is not a reason to stop at a prompt.
    env.entry("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK".into()).or_insert_with(|| "yes".into());
    env.insert("TZ".into(), "UTC".into());
    // The job's repository, positional after `--`, and no other.
    env.remove("BORG_REPO");
    let mut args: Vec<String> = vec!["list".into(), "--json".into(), "--bypass-lock".into()];
    args.extend(job.args.iter().cloned());
    args.extend(["--".into(), repo.clone()]);
    let out = match run(&bin, &args, &env, timeout).await {
        Ok(o) => o,
        Err(e) => return Report::failed(redacted(&e, &repo)),
    };
    let list: BorgList = match serde_json::from_slice(&out) {
        Ok(l) => l,
        Err(e) => return Report::failed(format!("borg list printed something unexpected: {e}")),
    };
    let mut archives = Vec::new();
    for a in list.archives {
        match borg_time(a.time.as_deref().or(a.start.as_deref()).unwrap_or_default()) {
            Ok(t) => archives.push((t, a)),
            Err(e) => return Report::failed(format!("borg archive {}: {e}", a.name)),
        }
    }
    if archives.is_empty() {
        return Report {
            copies: Some(0),
            ..Report::missing(format!("repository {} has no archives", redact_url(&repo)))
        };
    }
    archives.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.id.cmp(&a.1.id)));
    let mut r = Report {
        status: Status::Ok,
        copies: Some(archives.len() as u64),
        oldest_ts: archives.last().map(|a| a.0),
        last_success_ts: Some(archives[0].0),
        last_id: Some(archives[0].1.id.clone()),
        ..Report::default()
    };
    // Sizes and duration of the newest two, by one `borg info` when the
    // newest changed; remembered by archive id.
    let known = state.get(&job.name);
    let newest: Vec<&str> = archives.iter().take(2).map(|a| a.1.id.as_str()).collect();
    if !newest.iter().all(|id| known.sizes.contains_key(*id)) {
        let mut a: Vec<String> =
            vec!["info".into(), "--json".into(), "--bypass-lock".into(), "--last".into(), "2".into()];
        a.extend(job.args.iter().cloned());
        a.extend(["--".into(), repo.clone()]);
        match run(&bin, &a, &env, timeout).await {
            Ok(out) => match serde_json::from_slice::<BorgList>(&out) {
                Ok(info) => {
                    for x in &info.archives {
                        if let Some(s) = &x.stats {
                            state.remember_size(&job.name, &x.id, s.original_size, &newest);
                        }
                        if x.id == archives[0].1.id {
                            r.duration_s = x.duration.map(|d| (d * 10.0).round() / 10.0);
                        }
                    }
                }
                Err(e) => r.message = Some(format!("borg info printed something unexpected: {e}")),
            },
            Err(e) => r.message = Some(format!("archive sizes unknown: {}", redacted(&e, &repo))),
        }
    }
    let sizes = state.get(&job.name).sizes;
    r.last_size_bytes = sizes.get(newest[0]).copied();
    r.prev_size_bytes = newest.get(1).and_then(|id| sizes.get(*id).copied());
    r
}
