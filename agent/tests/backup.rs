//! `dcwatch-agent once` with backup jobs that need no server: folders the
//! scan must get through.

use std::collections::BTreeSet;
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
