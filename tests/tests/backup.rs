//! The backup source against the real tools: restic and borg repositories
//! made in temp dirs, the status-file wrapper script, inotify on folders.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use dcwatch_tests::*;

/// The fields of the `backup` line of `job` (string values unquoted).
fn backup_fields(lines: &[String], job: &str) -> Option<HashMap<String, String>> {
    let line = lines.iter().rev().find(|l| l.starts_with("backup,") && l.contains(&format!(",job={job},")))?;
    Some(fields(line))
}

fn fields(line: &str) -> HashMap<String, String> {
    let parsed = influxdb_line_protocol::parse_lines(line).next().expect("a line").expect("valid line protocol");
    parsed
        .field_set
        .iter()
        .map(|(k, v)| {
            let v = match v {
                influxdb_line_protocol::FieldValue::String(s) => s.to_string(),
                influxdb_line_protocol::FieldValue::I64(i) => i.to_string(),
                influxdb_line_protocol::FieldValue::F64(f) => f.to_string(),
                influxdb_line_protocol::FieldValue::Boolean(b) => b.to_string(),
                influxdb_line_protocol::FieldValue::U64(u) => u.to_string(),
            };
            (k.to_string(), v)
        })
        .collect()
}

fn once(dir: &Path, sources: &str) -> (i32, Vec<String>, String) {
    let cfg = dir.join("agent.yaml");
    std::fs::write(
        &cfg,
        format!(
            "agent:\n  site: hn\n  host: nas1\noutput:\n  url: http://127.0.0.1:9\nqueue:\n  dir: {}\nsources:\n{sources}",
            dir.join("queue").display()
        ),
    )
    .unwrap();
    let out =
        Command::new(bin("dcwatch-agent")).arg("-c").arg(&cfg).arg("once").current_dir(dir).output().expect("run once");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn now_s() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn data(dir: &Path, bytes: usize) -> PathBuf {
    let d = dir.join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("db.dump"), vec![7u8; bytes]).unwrap();
    d
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn restic_snapshots_are_reported_exactly_and_a_wrong_password_is_a_clear_failure() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let pw = t.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let restic = || {
        let mut c = Command::new(system_program("restic"));
        c.arg("-r").arg(&repo).env("RESTIC_PASSWORD_FILE", &pw).env("RESTIC_CACHE_DIR", t.path().join("cache"));
        c
    };
    run_ok(restic().args(["init", "-q"]));
    let src = data(t.path(), 100_000);
    run_ok(restic().args(["backup", "-q"]).arg(&src));
    std::thread::sleep(Duration::from_millis(1100));
    data(t.path(), 60_000);
    run_ok(restic().args(["backup", "-q"]).arg(&src));
    let snaps: serde_json::Value = serde_json::from_str(&run_ok(restic().args(["snapshots", "--json"]))).unwrap();
    let times: Vec<i64> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_second())
        .collect();
    let newest = *times.iter().max().unwrap();
    let oldest = *times.iter().min().unwrap();

    let job = |password: &str| {
        format!(
            "  - type: backup\n    state_file: {}/state.json\n    jobs:\n      - name: files\n        kind: restic\n        repository: {}\n        {password}\n        env:\n          RESTIC_CACHE_DIR: {}/cache\n",
            t.path().display(),
            repo.display(),
            t.path().display()
        )
    };
    let before = now_s();
    let (code, lines, err) = once(t.path(), &job(&format!("password_file: {}", pw.display())));
    assert_eq!(code, 0, "{err}");
    let f = backup_fields(&lines, "files").unwrap_or_else(|| panic!("no backup line in {lines:?}"));
    assert_eq!(f["status"], "ok");
    assert_eq!(f["last_success_ts"], newest.to_string());
    assert_eq!(f["copies"], "2");
    // restic's restore size: the file's bytes.
    assert_eq!(f["last_size_bytes"], "60000");
    assert_eq!(f["size_change_pct"], "-40");
    assert_eq!(f["rpo_s"], "86400");
    let age: i64 = f["age_s"].parse().unwrap();
    assert!(age >= before - newest && age <= now_s() - newest, "age_s {age}");
    let oldest_age: i64 = f["oldest_age_s"].parse().unwrap();
    assert!(oldest_age >= before - oldest && oldest_age <= now_s() - oldest);
    assert!(lines[0].starts_with("backup,site=hn,host=nas1,job=files,kind=restic status=\"ok\""), "{}", lines[0]);

    let (code, lines, err) = once(t.path(), &job("password: wrong"));
    assert_eq!(code, 0, "{err}");
    let f = backup_fields(&lines, "files").unwrap();
    assert_eq!(f["status"], "failed");
    assert_eq!(f["message"], "restic exited with status 1: Fatal: wrong password or no key found");
    assert!(!f.contains_key("last_success_ts"), "once does not write the state: nothing is remembered");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn borg_archives_are_reported_exactly_and_a_wrong_passphrase_is_a_clear_failure() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("borg");
    let borg = || {
        let mut c = Command::new(system_program("borg"));
        c.env("BORG_PASSPHRASE", "s3cret").env("BORG_BASE_DIR", t.path().join("base")).env("TZ", "UTC");
        c
    };
    run_ok(borg().args(["init", "-e", "repokey"]).arg(&repo));
    let src = data(t.path(), 100_000);
    run_ok(borg().arg("create").arg(format!("{}::one", repo.display())).arg(&src));
    std::thread::sleep(Duration::from_millis(1100));
    data(t.path(), 80_000);
    run_ok(borg().arg("create").arg(format!("{}::two", repo.display())).arg(&src));
    let list: serde_json::Value = serde_json::from_str(&run_ok(borg().args(["list", "--json"]).arg(&repo))).unwrap();
    let time_of = |name: &str| -> i64 {
        let a = list["archives"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap();
        let dt: jiff::civil::DateTime = a["time"].as_str().unwrap().parse().unwrap();
        dt.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second()
    };

    let job = |pass: &str| {
        format!(
            "  - type: backup\n    state_file: {dir}/state.json\n    jobs:\n      - name: home\n        kind: borg\n        repository: {}\n        password: {pass}\n        env:\n          BORG_BASE_DIR: {dir}/base\n",
            repo.display(),
            dir = t.path().display(),
        )
    };
    let (code, lines, err) = once(t.path(), &job("s3cret"));
    assert_eq!(code, 0, "{err}");
    let f = backup_fields(&lines, "home").unwrap_or_else(|| panic!("no backup line in {lines:?}"));
    assert_eq!(f["status"], "ok");
    assert_eq!(f["last_success_ts"], time_of("two").to_string());
    assert_eq!(f["copies"], "2");
    assert_eq!(f["last_size_bytes"], "80000");
    assert_eq!(f["size_change_pct"], "-20");
    assert!(f.contains_key("duration_s"), "{f:?}");
    let oldest_age: i64 = f["oldest_age_s"].parse().unwrap();
    assert!(oldest_age >= 0 && oldest_age <= now_s() - time_of("one"));

    let (code, lines, err) = once(t.path(), &job("wrong"));
    assert_eq!(code, 0, "{err}");
    let f = backup_fields(&lines, "home").unwrap();
    assert_eq!(f["status"], "failed");
    assert_eq!(
        f["message"],
        "borg exited with status 2: passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect."
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn repositories_whose_names_start_with_a_dash_are_read_as_repositories_by_restic_and_borg() {
    let t = tempfile::tempdir().unwrap();
    let src = data(t.path(), 5_000);
    // `-restic` and `-borg`, relative to the agent's working folder.
    let restic = || {
        let mut c = Command::new(system_program("restic"));
        c.arg(format!("--repo={}/-restic", t.path().display()))
            .env("RESTIC_PASSWORD", "s3cret")
            .env("RESTIC_CACHE_DIR", t.path().join("cache"));
        c
    };
    run_ok(restic().args(["init", "-q"]));
    run_ok(restic().args(["backup", "-q"]).arg(&src));
    let borg = || {
        let mut c = Command::new(system_program("borg"));
        c.env("BORG_BASE_DIR", t.path().join("base")).env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes");
        c
    };
    run_ok(borg().args(["init", "-e", "none", "--"]).arg(t.path().join("-borg")));
    run_ok(borg().args(["create", "--"]).arg(format!("{}/-borg::one", t.path().display())).arg(&src));
    let sources = format!(
        "  - type: backup\n    state_file: {dir}/state.json\n    jobs:\n      \
         - name: files\n        kind: restic\n        repository: -restic\n        password: s3cret\n      \
         - name: home\n        kind: borg\n        repository: -borg\n        env:\n          BORG_BASE_DIR: {dir}/base\n",
        dir = t.path().display()
    );
    let (code, lines, err) = once(t.path(), &sources);
    assert_eq!(code, 0, "{err}");
    for job in ["files", "home"] {
        let f = backup_fields(&lines, job).unwrap_or_else(|| panic!("no {job} line in {lines:?}"));
        assert_eq!((f["status"].as_str(), f["copies"].as_str()), ("ok", "1"), "{job}: {f:?}");
    }
}

/// Processes whose command line mentions `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_hung_tool_is_killed_at_the_timeout_with_what_it_started() {
    let t = tempfile::tempdir().unwrap();
    let sleeper = t.path().join("hung-tool-sleeper");
    std::os::unix::fs::symlink(system_program("sleep"), &sleeper).unwrap();
    let fake = t.path().join("restic");
    std::fs::write(&fake, format!("#!/bin/sh\n{} 600 &\nwait\n", sleeper.display())).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&fake).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (code, lines, err) = once(
        t.path(),
        &format!(
            "  - type: backup\n    timeout_secs: 2\n    state_file: {0}/state.json\n    jobs:\n      - name: vm\n        kind: restic\n        repository: /nonexistent\n        binary: {1}\n",
            t.path().display(),
            fake.display()
        ),
    );
    assert_eq!(code, 0, "{err}");
    let f = backup_fields(&lines, "vm").unwrap();
    assert_eq!(f["status"], "failed");
    assert_eq!(f["message"], "restic did not finish within 2 s; it was killed");
    // The script and the sleep it started are gone (killed with their group).
    let left = wait_for("the hung tool's processes to be gone", || {
        let p = processes_with("hung-tool-sleeper");
        p.is_empty().then_some(p)
    });
    assert!(left.is_empty());
}

fn agent_yaml(capture: &Capture, dir: &Path, sources: &str) -> String {
    format!(
        "agent:\n  site: hn\n  host: nas1\n  interval_secs: 60\noutput:\n  url: {}\n  flush_interval_ms: 200\nqueue:\n  dir: {}\nsources:\n{sources}",
        capture.url(),
        dir.join("queue").display()
    )
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_file_landing_in_a_watched_folder_is_reported_at_once_and_the_periodic_scan_catches_it_unwatched() {
    let t = tempfile::tempdir().unwrap();
    let (w, s) = (t.path().join("watched"), t.path().join("scanned"));
    std::fs::create_dir_all(&w).unwrap();
    std::fs::create_dir_all(&s).unwrap();
    let capture = Capture::start();
    // The watched job is rescanned every 300 s: within the test's patience
    // only the watch can report the file. The unwatched one every 2 s.
    let agent_dir = tempfile::tempdir().unwrap();
    let _agent = Agent::start_in(
        agent_dir,
        &agent_yaml(
            &capture,
            t.path(),
            &format!(
                "  - type: backup\n    interval_secs: 300\n    debounce_ms: 300\n    jobs:\n      - name: watched\n        kind: directory\n        settle_secs: 0\n        path: {}/*.tar\n\
                 \x20 - type: backup\n    interval_secs: 2\n    watch: false\n    jobs:\n      - name: scanned\n        kind: directory\n        settle_secs: 0\n        path: {}/*.tar\n",
                w.display(),
                s.display()
            ),
        ),
    );
    for job in ["watched", "scanned"] {
        let f = wait_for("the first reports", || backup_fields(&captured_lines(&capture), job));
        assert_eq!((f["status"].as_str(), f["copies"].as_str()), ("missing", "0"), "{job}");
    }
    std::fs::write(w.join("db-1.tar"), vec![1u8; 4096]).unwrap();
    let landed = Instant::now();
    std::fs::write(s.join("db-1.tar"), vec![1u8; 2048]).unwrap();
    let f = wait_for("the watched file's report", || {
        backup_fields(&captured_lines(&capture), "watched").filter(|f| f["status"] == "ok")
    });
    let latency = landed.elapsed();
    assert_eq!((f["copies"].as_str(), f["last_size_bytes"].as_str()), ("1", "4096"));
    println!("file landed → backup point at the endpoint: {} ms (debounce 300 ms)", latency.as_millis());
    let f = wait_for("the scanned file's report", || {
        backup_fields(&captured_lines(&capture), "scanned").filter(|f| f["status"] == "ok")
    });
    assert_eq!((f["copies"].as_str(), f["last_size_bytes"].as_str()), ("1", "2048"));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn the_status_file_contract_through_the_wrapper_half_written_files_and_a_restart() {
    let t = tempfile::tempdir().unwrap();
    let st = t.path().join("db.json");
    let payload = t.path().join("db.dump");
    std::fs::write(&payload, vec![0u8; 1000]).unwrap();
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/dcwatch-backup-status");
    let sources = format!(
        "  - type: backup\n    interval_secs: 300\n    debounce_ms: 500\n    jobs:\n      - name: db\n        kind: status_file\n        path: {}\n",
        st.display()
    );
    let capture = Capture::start();
    let agent = Agent::start_in(tempfile::tempdir().unwrap(), &agent_yaml(&capture, t.path(), &sources));
    let f = wait_for("the first report", || backup_fields(&captured_lines(&capture), "db"));
    assert_eq!(f["status"], "missing");

    // A run: running while the command works, then ok with its size.
    let mut run = Command::new(&wrapper)
        .args(["--job", "db", "--file"])
        .arg(&st)
        .arg("--size-of")
        .arg(&payload)
        .args(["--", "sh", "-c", "sleep 3"])
        .spawn()
        .unwrap();
    wait_for("running", || backup_fields(&captured_lines(&capture), "db").filter(|f| f["status"] == "running"));
    assert!(run.wait().unwrap().success());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&st).unwrap()).unwrap();
    let f = wait_for("ok", || backup_fields(&captured_lines(&capture), "db").filter(|f| f["status"] == "ok"));
    assert_eq!(f["last_success_ts"], doc["end"].to_string());
    assert_eq!(f["last_size_bytes"], "1000");
    assert_eq!(f["exit_status"], "0");
    let duration = doc["end"].as_i64().unwrap() - doc["start"].as_i64().unwrap();
    assert_eq!(f["duration_s"], duration.to_string());
    let success_ts = f["last_success_ts"].clone();

    // A failing run: failed, with the command's last stderr line.
    let code = Command::new(&wrapper)
        .args(["--job", "db", "--file"])
        .arg(&st)
        .args(["--", "sh", "-c", "echo 'pg_dump: lỗi: không kết nối được' >&2; exit 3"])
        .status()
        .unwrap();
    assert_eq!(code.code(), Some(3));
    let f = wait_for("failed", || backup_fields(&captured_lines(&capture), "db").filter(|f| f["status"] == "failed"));
    assert_eq!(f["message"], "pg_dump: lỗi: không kết nối được");
    assert_eq!(f["exit_status"], "3");
    assert_eq!(f["last_success_ts"], success_ts, "the last success is kept through a failure");

    // A writer that is not atomic: the half it wrote first is looked at
    // again, not reported as broken.
    let seen = captured_lines(&capture).len();
    let end = now_s() + 1;
    let full = format!(r#"{{"job":"db","start":{},"end":{end},"exit_status":0,"bytes":900}}"#, end - 100);
    std::fs::write(&st, &full[..30]).unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    std::fs::write(&st, &full).unwrap();
    let f = wait_for("the completed file", || {
        backup_fields(&captured_lines(&capture)[seen..], "db").filter(|f| f["status"] != "failed")
    });
    assert_eq!(f["status"], "ok");
    assert!(
        captured_lines(&capture)[seen..].iter().all(|l| !l.contains("not valid JSON")),
        "a half-written file was reported"
    );
    // One that stays broken is.
    std::fs::write(&st, "{\"start\": 1795370000,\n \"end\": ").unwrap();
    let f = wait_for("the broken file's report", || {
        backup_fields(&captured_lines(&capture), "db").filter(|f| f["status"] == "failed")
    });
    assert_eq!(
        f["message"],
        format!("status file {} is not valid JSON: EOF while parsing a value at line 2 column 8", st.display())
    );

    // After a restart the last success is still known.
    agent.stop();
    let capture = Capture::start();
    let _agent = Agent::start_in(tempfile::tempdir().unwrap(), &agent_yaml(&capture, t.path(), &sources));
    let f = wait_for("the report after the restart", || backup_fields(&captured_lines(&capture), "db"));
    assert_eq!(f["status"], "failed");
    assert_eq!(f["last_success_ts"], end.to_string());
    assert_eq!(f["last_size_bytes"], "900");
    assert_eq!(f["size_change_pct"], "-10");
}

fn set_mtime(path: &Path, secs_ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs_ago);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn backup_alarms_fire_from_what_the_agent_finds_and_resolve_when_the_backups_are_fixed() {
    const TOKEN: &str = "backup-test-token-0123456789";
    let t = tempfile::tempdir().unwrap();
    let (db, mirror, logs) = (t.path().join("db"), t.path().join("mirror"), t.path().join("logs"));
    for d in [&db, &mirror, &logs] {
        std::fs::create_dir_all(d).unwrap();
    }
    // Two nights ago the last dump, half the size of the one before; no copy
    // at the other site; the file job's last run failed; no logs backup at all.
    std::fs::write(db.join("db-1.sql.gz"), vec![1u8; 1000]).unwrap();
    set_mtime(&db.join("db-1.sql.gz"), 3 * 86400);
    std::fs::write(db.join("db-2.sql.gz"), vec![1u8; 500]).unwrap();
    set_mtime(&db.join("db-2.sql.gz"), 2 * 86400);
    let status = t.path().join("files.json");
    std::fs::write(
        &status,
        r#"{"job":"files","start":1795000000,"end":1795000100,"exit_status":1,"message":"rsync: mất kết nối"}"#,
    )
    .unwrap();

    let hook = Capture::start();
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn\n\
         alarms:\n  lang: en\n  db: {}\n  evaluate_every_ms: 200\n  group_wait_ms: 0\n  receivers:\n    - name: hook\n      webhook: {{url: {}/hook}}\n",
        t.path().join("alarms.db").display(),
        hook.url()
    ));
    let _agent = Agent::start(&format!(
        "agent:\n  site: hn\n  host: nas1\n  interval_secs: 2\noutput:\n  url: {}\n  token: {TOKEN}\n  flush_interval_ms: 100\nsources:\n  \
         - type: backup\n    interval_secs: 2\n    debounce_ms: 200\n    jobs:\n      \
         - {{name: db, kind: directory, settle_secs: 0, path: '{}/*.sql.gz', mirror: '{}/*.sql.gz'}}\n      \
         - {{name: files, kind: status_file, path: '{}'}}\n      \
         - {{name: logs, kind: directory, settle_secs: 0, path: '{}/*.tar'}}\n",
        collector.url(),
        db.display(),
        mirror.display(),
        status.display(),
        logs.display()
    ));
    let notices = || -> Vec<serde_json::Value> {
        hook.requests().iter().filter_map(|(_, b)| serde_json::from_slice(b).ok()).collect()
    };
    let with = |kind: &str| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = notices()
            .into_iter()
            .filter(|n| n["notice"] == kind)
            .map(|n| {
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["labels"]["job"].as_str().unwrap_or("").to_string(),
                    n["summary"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let fired = wait_for("five backup alarms", || {
        let f = with("firing");
        (f.len() >= 5).then_some(f)
    });
    assert_eq!(
        fired,
        vec![
            ("backup_failed".into(), "files".into(), "Backup files on nas1 at hn failed: rsync: mất kết nối".into()),
            (
                "backup_missing".into(),
                "logs".into(),
                format!("Backup logs on nas1 at hn: no backup found (no file matches `{}/*.tar`)", logs.display())
            ),
            (
                "backup_not_replicated".into(),
                "db".into(),
                "Backup db on nas1 at hn has not reached its mirror: no copy there".into()
            ),
            (
                "backup_shrunk".into(),
                "db".into(),
                "Backup db on nas1 at hn is 50 % smaller than the one before (500 B)".into()
            ),
            (
                "backup_stale".into(),
                "db".into(),
                "Backup db on nas1 at hn: the last good backup is 2.0 days old (RPO 24 h)".into()
            ),
        ]
    );
    // Tonight's dump, its copy, a good file run, the first logs backup.
    std::fs::write(db.join("db-3.sql.gz"), vec![1u8; 1000]).unwrap();
    std::fs::write(mirror.join("db-3.sql.gz"), vec![1u8; 1000]).unwrap();
    std::fs::write(logs.join("logs-1.tar"), vec![1u8; 10]).unwrap();
    std::fs::write(
        t.path().join("files.json.tmp"),
        format!(r#"{{"job":"files","start":{},"end":{},"exit_status":0,"bytes":42}}"#, now_s() - 60, now_s()),
    )
    .unwrap();
    std::fs::rename(t.path().join("files.json.tmp"), &status).unwrap();
    let resolved = wait_for("the five to resolve", || {
        let r = with("resolved");
        (r.len() >= 5).then_some(r)
    });
    let names: Vec<&str> = resolved.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec!["backup_failed", "backup_missing", "backup_not_replicated", "backup_shrunk", "backup_stale"]
    );
    assert_eq!(with("firing").len(), 5, "no alarm fired twice");
}
