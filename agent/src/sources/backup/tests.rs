use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::config::validate;
use super::*;

fn set_mtime(path: &Path, unix: i64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(unix as u64);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

fn write(path: &Path, bytes: usize, mtime: i64) {
    std::fs::write(path, vec![b'x'; bytes]).unwrap();
    set_mtime(path, mtime);
}

fn job(kind: BackupKind, path: Option<&str>) -> BackupJob {
    BackupJob {
        name: "db".into(),
        kind,
        path: path.map(str::to_string),
        mirror: None,
        repository: None,
        password: None,
        password_file: None,
        binary: None,
        args: Vec::new(),
        env: Default::default(),
        rpo_hours: 24.0,
        settle_secs: 0,
        interval_secs: None,
        timeout_secs: None,
    }
}

const NOW: i64 = 1_796_000_000;

#[test]
fn a_folder_reports_its_newest_file_its_size_change_and_retention() {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("db-1.sql.gz"), 1000, NOW - 3 * 86400);
    write(&d.path().join("db-2.sql.gz"), 1000, NOW - 2 * 86400);
    write(&d.path().join("db-3.sql.gz"), 800, NOW - 86400 + 600);
    write(&d.path().join("db-4.sql.gz"), 600, NOW - 600);
    write(&d.path().join("notes.txt"), 5, NOW);
    let r = directory::scan(&format!("{}/db-*.sql.gz", d.path().display()), 0, NOW);
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.last_success_ts, Some(NOW - 600));
    assert_eq!(r.last_size_bytes, Some(600));
    assert_eq!(r.prev_size_bytes, Some(800));
    assert_eq!(r.copies, Some(4));
    assert_eq!(r.total_bytes, Some(3400));
    assert_eq!(r.oldest_ts, Some(NOW - 3 * 86400));
    let p = point("hn", "nas1", &job(BackupKind::Directory, Some("x")), &r, NOW * 1_000_000_000);
    let mut buf = Vec::new();
    p.write_to(&mut buf);
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        format!(
            "backup,site=hn,host=nas1,job=db,kind=directory status=\"ok\",rpo_s=86400i,last_success_ts={}i,age_s=600i,\
             last_size_bytes=600i,size_change_pct=-25,copies=4i,total_bytes=3400i,oldest_age_s=259200i {}\n",
            NOW - 600,
            NOW * 1_000_000_000
        )
    );
}

#[test]
fn a_file_still_being_written_is_running_and_the_last_backup_is_the_one_before() {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("a.tar"), 100, NOW - 86400);
    write(&d.path().join("b.tar"), 30, NOW - 10);
    let r = directory::scan(&format!("{}/*.tar", d.path().display()), 60, NOW);
    assert_eq!(r.status, Status::Running);
    assert_eq!(r.last_success_ts, Some(NOW - 86400));
    assert_eq!(r.last_size_bytes, Some(100));
    assert_eq!(r.copies, Some(1));
    // Looked at again once it has been quiet for 60 s.
    assert_eq!(r.recheck_after_s, Some(51));
}

#[test]
fn a_file_overwritten_in_place_is_a_new_backup_with_a_size_change() {
    let d = tempfile::tempdir().unwrap();
    let st = StateFile::open(&d.path().join("state.json"));
    let f = d.path().join("latest.sql.gz");
    write(&f, 1000, NOW - 86400);
    let pattern = format!("{}/latest.sql.gz", d.path().display());
    let mut r = directory::scan(&pattern, 0, NOW);
    st.merge("db", &mut r);
    write(&f, 400, NOW - 60);
    let mut r = directory::scan(&pattern, 0, NOW);
    st.merge("db", &mut r);
    assert_eq!((r.last_size_bytes, r.prev_size_bytes), (Some(400), Some(1000)));
}

#[test]
fn passwords_in_repository_urls_are_not_shown() {
    let repo = "rest:https://backup:s3cret@nas:8000/repo";
    assert_eq!(
        tools::redacted(
            &format!("restic exited with status 1: Fatal: unable to open config file: {repo}/config"),
            repo
        ),
        "restic exited with status 1: Fatal: unable to open config file: rest:https://***@nas:8000/repo/config"
    );
    // The repository as the tool printed it differs from the configured one.
    assert_eq!(
        tools::redacted("ssh: connect to ssh://backup:pw@nas2:22/srv/borg failed", "ssh://backup:pw@nas2/srv/borg"),
        "ssh: connect to ssh://***@nas2:22/srv/borg failed"
    );
    assert_eq!(
        tools::redacted("repository s3:https://s3.local/bucket is locked", "x"),
        "repository s3:https://s3.local/bucket is locked"
    );
    assert_eq!(tools::redacted("/srv/restic: no such file", "/srv/restic"), "/srv/restic: no such file");
}

#[test]
fn matched_folders_count_their_whole_tree() {
    let d = tempfile::tempdir().unwrap();
    let day = d.path().join("2026-11-21");
    std::fs::create_dir_all(day.join("sub")).unwrap();
    // The folders' own times are now (files were just made in them).
    let now = dcwatch_common::now_ns() / 1_000_000_000 + 100;
    write(&day.join("a"), 10, now + 7200);
    write(&day.join("sub/b"), 20, now + 3600);
    let r = directory::scan(&format!("{}/2026-*", d.path().display()), 0, now + 9000);
    assert_eq!(r.last_size_bytes, Some(30));
    // The newest change inside the tree, not the folder's own time.
    assert_eq!(r.last_success_ts, Some(now + 7200));
}

#[test]
fn a_double_star_glob_does_not_follow_symlinked_folders_but_a_named_component_does() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path();
    std::fs::create_dir_all(base.join("hosts/a/2026-11-21")).unwrap();
    std::fs::create_dir_all(base.join("elsewhere")).unwrap();
    write(&base.join("hosts/a/2026-11-21/db.tar"), 100, NOW - 600);
    write(&base.join("elsewhere/other.tar"), 50, NOW - 300);
    std::os::unix::fs::symlink("2026-11-21", base.join("hosts/a/latest")).unwrap();
    std::os::unix::fs::symlink("../../elsewhere", base.join("hosts/a/offsite")).unwrap();
    std::os::unix::fs::symlink("..", base.join("hosts/a/2026-11-21/parent")).unwrap();
    // `**` stays out of every link: each file once, none through `latest`, `offsite` or `parent`.
    let r = directory::scan(&format!("{}/hosts/**/*.tar", base.display()), 0, NOW);
    assert_eq!((r.status, r.copies, r.last_size_bytes), (Status::Ok, Some(1), Some(100)));
    assert_eq!(r.last_id, Some(format!("{}/hosts/a/2026-11-21/db.tar@{}", base.display(), NOW - 600)));
    // A link named by the pattern (a `latest` link, a `*` folder) is followed.
    let r = directory::scan(&format!("{}/hosts/a/latest/*.tar", base.display()), 0, NOW);
    assert_eq!(r.last_id, Some(format!("{}/hosts/a/latest/db.tar@{}", base.display(), NOW - 600)));
    let r = directory::scan(&format!("{}/hosts/a/*/*.tar", base.display()), 0, NOW);
    assert_eq!(r.copies, Some(3), "2026-11-21, latest and offsite: {r:?}");
}

#[test]
fn a_scan_deeper_than_its_limit_stops_with_a_clear_failure() {
    let d = tempfile::tempdir().unwrap();
    let mut deep = d.path().to_path_buf();
    for i in 0..5 {
        deep.push(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    write(&deep.join("x.tar"), 10, NOW - 60);
    let pattern = format!("{}/**/*.tar", d.path().display());
    let limits = |max_depth| directory::Limits { max_depth, max_entries: 1000 };
    assert_eq!(directory::scan_with(&pattern, 0, NOW, limits(5)).copies, Some(1));
    let r = directory::scan_with(&pattern, 0, NOW, limits(4));
    assert_eq!(r.status, Status::Failed);
    assert_eq!(
        r.message,
        Some(format!(
            "the scan of `{pattern}` stopped: {} is more than 4 folders deep, the deepest a scan goes; narrow the glob",
            deep.display()
        ))
    );
}

#[test]
fn a_scan_that_reads_more_entries_than_its_limit_stops_with_a_clear_failure() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..10 {
        write(&d.path().join(format!("f{i}.tar")), 10, NOW - 60);
    }
    let pattern = format!("{}/*.tar", d.path().display());
    let limits = |max_entries| directory::Limits { max_depth: 32, max_entries };
    assert_eq!(directory::scan_with(&pattern, 0, NOW, limits(10)).copies, Some(10));
    let r = directory::scan_with(&pattern, 0, NOW, limits(9));
    assert_eq!(
        (r.status, r.message),
        (
            Status::Failed,
            Some(format!(
                "the scan of `{pattern}` stopped: it read 9 folder entries, the most one scan reads; narrow the glob"
            ))
        )
    );
    // A matched folder's tree counts against the same budget (the folder is
    // new: looked at a day from now, it has settled).
    std::fs::create_dir_all(d.path().join("dir.tar/sub")).unwrap();
    let later = dcwatch_common::now_ns() / 1_000_000_000 + 86400;
    assert_eq!(directory::scan_with(&pattern, 0, later, limits(11)).status, Status::Failed);
    assert_eq!(directory::scan_with(&pattern, 0, later, limits(12)).copies, Some(11));
}

#[test]
fn no_match_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let r = directory::scan(&format!("{}/*.gz", d.path().display()), 0, NOW);
    assert_eq!(r.status, Status::Missing);
    assert_eq!(r.copies, Some(0));
    assert_eq!(r.message.as_deref(), Some(format!("no file matches `{}/*.gz`", d.path().display()).as_str()));
}

fn status(text: &str, age: i64) -> (Checked, PathBuf, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("db.status.json");
    std::fs::write(&p, text).unwrap();
    set_mtime(&p, NOW - age);
    (status_file::read(&p, "db", NOW), p, d)
}

fn report(c: Checked) -> Report {
    match c {
        Checked::Report(r) => r,
        Checked::Retry(_, why) => panic!("retry: {why}"),
    }
}

#[test]
fn status_file_success_failure_and_running() {
    let (c, _, _d) = status(
        r#"{"job":"db","start":"2026-11-22T01:00:00+07:00","end":"2026-11-22T01:12:40.5+07:00","exit_status":0,"bytes":73400320,"message":"Sao lưu xong"}"#,
        60,
    );
    let r = report(c);
    assert_eq!(r.status, Status::Ok);
    // 2026-11-21T18:12:40.5Z
    assert_eq!(r.last_success_ts, Some(1_795_284_760));
    assert_eq!(r.duration_s, Some(760.5));
    assert_eq!(r.last_size_bytes, Some(73_400_320));
    assert_eq!(r.message.as_deref(), Some("Sao lưu xong"));

    let (c, _, _d) = status(r#"{"start":1795800000,"end":1795800100,"exit_status":3,"message":"disk full"}"#, 60);
    let r = report(c);
    assert_eq!((r.status, r.exit_status, r.message.as_deref()), (Status::Failed, Some(3), Some("disk full")));
    assert_eq!(r.last_success_ts, None);
    assert_eq!(r.duration_s, Some(100.0));

    let (c, _, _d) = status(r#"{"start":1795800000,"exit_status":null}"#, 60);
    assert_eq!(report(c).status, Status::Running);

    let (c, _, _d) = status(r#"{"job":"files","start":1,"end":2,"exit_status":0}"#, 60);
    let r = report(c);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.unwrap().ends_with("is for job `files`, not `db`"));

    // Milliseconds where seconds are expected: refused, not a success in the year 58000.
    let (c, _, _d) = status(&format!(r#"{{"start":{},"end":{},"exit_status":0}}"#, NOW * 1000, NOW * 1000 + 5), 60);
    let r = report(c);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.unwrap().contains("is in the future: Unix seconds are expected"));

    let (c, _, _d) = status(r#"{"start":"2026-11-22 01:00:00","end":"2026-11-22 02:00:00","exit_status":0}"#, 60);
    let r = report(c);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.unwrap().contains("start: `2026-11-22 01:00:00` is not an RFC 3339 time with an offset"));
}

#[test]
fn a_malformed_status_file_fails_with_its_position_but_a_fresh_one_is_read_again() {
    let (c, p, _d) = status("{\"start\": 1795800000,\n \"end\": 17958", 60);
    let r = report(c);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(
        r.message.as_deref(),
        Some(
            format!("status file {} is not valid JSON: EOF while parsing an object at line 2 column 13", p.display())
                .as_str()
        )
    );
    let (c, _, _d) = status("{\"start\": 1795800000,\n \"end\": 17958", 0);
    assert!(matches!(c, Checked::Retry(d, _) if d == Duration::from_secs(2)));
}

#[test]
fn no_status_file_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let r = report(status_file::read(&d.path().join("nope.json"), "db", NOW));
    assert_eq!(r.status, Status::Missing);
}

#[test]
fn the_state_keeps_the_last_success_through_failures_and_restarts() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("state.json");
    let st = StateFile::open(&path);
    let ok = |ts: i64, bytes: u64| Report {
        status: Status::Ok,
        last_success_ts: Some(ts),
        last_size_bytes: Some(bytes),
        last_id: Some(ts.to_string()),
        ..Report::default()
    };
    let mut r = ok(100, 1000);
    st.merge("db", &mut r);
    assert_eq!(r.prev_size_bytes, None);
    let mut r = ok(200, 700);
    st.merge("db", &mut r);
    assert_eq!(r.prev_size_bytes, Some(1000));
    // The same success seen again keeps its previous size.
    let mut r = ok(200, 700);
    st.merge("db", &mut r);
    assert_eq!(r.prev_size_bytes, Some(1000));
    drop(st);
    // After a restart, a failure reports the last success.
    let st = StateFile::open(&path);
    let mut r = Report::failed("exit 1");
    st.merge("db", &mut r);
    assert_eq!((r.last_success_ts, r.last_size_bytes, r.prev_size_bytes), (Some(200), Some(700), Some(1000)));
    assert_eq!(r.status, Status::Failed);
}

#[test]
fn watch_roots_of_globs() {
    assert_eq!(watch::glob_root("/backup/db/*.sql.gz"), (PathBuf::from("/backup/db"), false));
    assert_eq!(watch::glob_root("/backup/*/daily/*.tar"), (PathBuf::from("/backup"), true));
    assert_eq!(watch::glob_root("/backup/db/latest.tar"), (PathBuf::from("/backup/db"), false));
    let mut j = job(BackupKind::Restic, None);
    j.repository = Some("/srv/restic".into());
    assert_eq!(watch::routes(0, &j)[0].dir, PathBuf::from("/srv/restic/snapshots"));
    j.repository = Some("sftp:backup@nas:/srv/restic".into());
    assert!(watch::routes(0, &j).is_empty());
}

#[test]
fn configuration_problems_are_named() {
    let mut jobs = vec![job(BackupKind::Directory, None), job(BackupKind::Restic, Some("/x"))];
    jobs[1].mirror = Some("/y/*".into());
    jobs.push(job(BackupKind::Directory, Some("/b/[")));
    jobs[2].name = "other".into();
    jobs[2].rpo_hours = 0.0;
    let c = BackupConfig {
        interval_secs: 60,
        tool_interval_secs: 900,
        timeout_secs: 120,
        watch: true,
        debounce_ms: 1000,
        state_file: None,
        jobs,
    };
    let mut p = Vec::new();
    validate(&c, "sources[0]", &mut p);
    let msgs: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "sources[0].jobs[0].path: a directory job needs a path",
            "sources[0].jobs[1].name: `db` is used by another job",
            "sources[0].jobs[1].path: a restic job reads `repository`, not `path`",
            "sources[0].jobs[1].mirror: only a directory job has a mirror path; for other kinds, pair the jobs of both sites in the collector's `backups.replication`",
            "sources[0].jobs[1].repository: a restic job needs its repository",
            "sources[0].jobs[2].path: `/b/[` is not a valid glob: Pattern syntax error near position 3: invalid range pattern",
            "sources[0].jobs[2].rpo_hours: must be above 0",
        ]
    );
}
