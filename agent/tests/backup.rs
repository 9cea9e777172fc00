//! `dcwatch-agent once` with backup jobs that need no server: stand-in
//! restic and borg scripts that record what they were given, and folders
//! the scan must get through.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `once` with exactly the environment `env` (nothing inherited) in
/// `dir`; gives up (and fails) if it has not finished within a minute.
fn once(dir: &Path, sources: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let cfg = dir.join("agent.yaml");
    std::fs::write(
        &cfg,
        format!(
            "agent:\n  site: hn\n  host: nas1\noutput:\n  url: http://127.0.0.1:9\nqueue:\n  dir: {}\nsources:\n{sources}",
            dir.join("queue").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcwatch-agent"))
        .arg("-c")
        .arg(&cfg)
        .arg("once")
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`dcwatch-agent once` did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A stand-in tool at `dir/name`: it writes its environment as the kernel
/// handed it over (`/proc/$$/environ`, before the shell adds anything) to
/// `name.env`, its arguments to `name.args`, and prints `output`.
fn fake_tool(dir: &Path, name: &str, output: &str) {
    let path = dir.join(name);
    let rec = dir.join(name).display().to_string();
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ntr '\\0' '\\n' < /proc/$$/environ > '{rec}.env'\nprintf '%s\\n' \"$@\" > '{rec}.args'\necho '{output}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The variables the tool saw: name → value.
fn seen_env(dir: &Path, name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.env"))).unwrap();
    let mut v: Vec<(String, String)> =
        text.lines().filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect();
    v.sort();
    v
}

fn seen_args(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{name}.args"))).unwrap().lines().map(str::to_string).collect()
}

/// The agent's environment: its token and another secret beside what any
/// program needs, and the tools' own variables.
const AGENT_ENV: [(&str, &str); 7] = [
    ("PATH", "/usr/bin:/bin"),
    ("HOME", "/root"),
    ("LANG", "C.UTF-8"),
    ("DCWATCH_TOKEN", "agent-token-0123456789"),
    ("DB_ADMIN_PASSWORD", "not-for-backup-tools"),
    ("RESTIC_PASSWORD", "restic-from-env"),
    ("BORG_PASSPHRASE", "borg-from-env"),
];

#[test]
fn a_backup_tool_sees_only_the_environment_it_needs_and_never_the_agents_token() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    fake_tool(d, "restic", "[]");
    fake_tool(d, "borg", r#"{"archives": []}"#);
    let sources = format!(
        "  - type: backup\n    state_file: {0}/state.json\n    jobs:\n      \
         - name: files\n        kind: restic\n        binary: {0}/restic\n        repository: -r-looks-like-an-option\n        \
         args: [--host, db1]\n        env:\n          AWS_ACCESS_KEY_ID: AKIAEXAMPLE\n      \
         - name: home\n        kind: borg\n        binary: {0}/borg\n        repository: --remote-path=/tmp/evil\n        \
         args: [--glob-archives, 'db-*']\n",
        d.display()
    );
    let (code, out, err) = once(d, &sources, &AGENT_ENV);
    assert_eq!(code, 0, "{err}");

    // `once` opens the state read-only, so no cache folder of the agent's is set.
    let expect = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        v.sort();
        v
    };
    assert_eq!(
        seen_env(d, "restic"),
        expect(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("HOME", "/root"),
            ("LANG", "C.UTF-8"),
            ("PATH", "/usr/bin:/bin"),
            ("RESTIC_PASSWORD", "restic-from-env"),
            ("RESTIC_REPOSITORY", "-r-looks-like-an-option"),
        ])
    );
    // The repository is not on the command line (where `ps` shows it to everyone).
    assert_eq!(seen_args(d, "restic"), ["snapshots", "--json", "--no-lock", "--host", "db1"]);

    assert_eq!(
        seen_env(d, "borg"),
        expect(&[
            ("BORG_PASSPHRASE", "borg-from-env"),
            ("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes"),
            ("HOME", "/root"),
            ("LANG", "C.UTF-8"),
            ("PATH", "/usr/bin:/bin"),
            ("TZ", "UTC"),
        ])
    );
    // After `--`, a repository cannot be read as an option.
    assert_eq!(
        seen_args(d, "borg"),
        ["list", "--json", "--bypass-lock", "--glob-archives", "db-*", "--", "--remote-path=/tmp/evil"]
    );

    let lines: Vec<&str> = out.lines().map(|l| l.rsplit_once(' ').unwrap().0).collect();
    assert_eq!(
        lines,
        [
            "backup,site=hn,host=nas1,job=files,kind=restic status=\"missing\",rpo_s=86400i,copies=0i,\
             message=\"repository -r-looks-like-an-option has no snapshots\"",
            "backup,site=hn,host=nas1,job=home,kind=borg status=\"missing\",rpo_s=86400i,copies=0i,\
             message=\"repository --remote-path=/tmp/evil has no archives\"",
        ]
    );
}

#[test]
fn a_password_in_a_repository_url_is_in_no_message() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // A tool that fails, quoting the repository as restic does.
    let path = d.join("restic");
    std::fs::write(
        &path,
        "#!/bin/sh\necho \"Fatal: unable to open config file: Stat: Get $RESTIC_REPOSITORY/config: connection refused\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sources = format!(
        "  - type: backup\n    state_file: {0}/state.json\n    jobs:\n      - name: files\n        kind: restic\n        \
         binary: {0}/restic\n        repository: rest:https://backup:S3cretPw@nas:8000/repo\n",
        d.display()
    );
    let (code, out, err) = once(d, &sources, &AGENT_ENV);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().map(|l| l.rsplit_once(' ').unwrap().0).collect::<Vec<_>>(),
        ["backup,site=hn,host=nas1,job=files,kind=restic status=\"failed\",rpo_s=86400i,\
          message=\"restic exited with status 1: Fatal: unable to open config file: Stat: Get \
          rest:https://***@nas:8000/repo/config: connection refused\""]
    );
}

fn set_mtime(path: &Path, unix: u64) {
    let t = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(unix);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

#[test]
fn a_double_star_glob_in_a_folder_with_symlink_loops_finishes_with_the_files_once_each() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("backup");
    std::fs::create_dir_all(root.join("db/2026")).unwrap();
    std::fs::create_dir_all(root.join("web")).unwrap();
    std::fs::write(root.join("db/2026/db-1.sql.gz"), vec![1u8; 1000]).unwrap();
    std::fs::write(root.join("web/site.sql.gz"), vec![2u8; 300]).unwrap();
    set_mtime(&root.join("db/2026/db-1.sql.gz"), 1_790_000_000);
    set_mtime(&root.join("web/site.sql.gz"), 1_790_000_600);
    // Links back up the tree: with two per folder, following them is 2^40 paths.
    for (link, to) in [("db/2026/up", "../.."), ("db/2026/again", ".."), ("web/loop", "."), ("web/up", "..")] {
        std::os::unix::fs::symlink(to, root.join(link)).unwrap();
    }
    let sources = format!(
        "  - type: backup\n    state_file: {0}/state.json\n    jobs:\n      - name: dumps\n        kind: directory\n        \
         path: {0}/backup/**/*.sql.gz\n        settle_secs: 0\n        rpo_hours: 1000000\n",
        t.path().display()
    );
    let (code, out, err) = once(t.path(), &sources, &AGENT_ENV);
    assert_eq!((code, err.as_str()), (0, ""));
    let line = out.lines().next().unwrap();
    let (head, _) = line.rsplit_once(' ').unwrap();
    let fields: BTreeSet<&str> = head.split_once(' ').unwrap().1.split(',').collect();
    let expected: BTreeSet<String> = [
        "status=\"ok\"".to_string(),
        "rpo_s=3600000000i".into(),
        "last_success_ts=1790000600i".into(),
        "last_size_bytes=300i".into(),
        "size_change_pct=-70".into(),
        "copies=2i".into(),
        "total_bytes=1300i".into(),
    ]
    .into();
    let ages: BTreeSet<&str> = fields.iter().copied().filter(|f| f.contains("age_s=")).collect();
    assert_eq!(fields.difference(&ages).map(|s| s.to_string()).collect::<BTreeSet<_>>(), expected, "{line}");
    assert_eq!(ages.len(), 2, "age_s and oldest_age_s: {line}");
}
