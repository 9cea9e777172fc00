//! The collector binary refuses a broken config with a message that points
//! at the problem, and accepts the shipped examples.

use std::path::Path;
use std::process::Command;

#[path = "../../tests/src/docs_check.rs"]
mod docs_check;

fn validate(yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_dcwatch-collector")).arg("validate").arg("-c").arg(&path).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE"))
}

#[test]
fn an_unknown_key_in_a_sink_names_file_line_and_column() {
    let (code, stderr) = validate(
        "ingest:\n  allow_anonymous: true\nsinks:\n  - name: vm\n    url: http://127.0.0.1:8428\n    bukket: dc\n",
    );
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("dcwatch-collector: invalid configuration:\nFILE:6:5: unknown field `bukket`"),
        "{stderr}"
    );
}

#[test]
fn a_wrong_type_names_file_line_and_column_the_key_and_the_kind_in_words() {
    let (code, stderr) = validate("ingest:\n  allow_anonymous: true\n  max_body_bytes: lots\n");
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-collector: invalid configuration:\n\
         FILE:3:19: ingest.max_body_bytes: expected a whole number of bytes, found `lots`\n"
    );
}

#[test]
fn an_undefined_variable_is_named() {
    let (code, stderr) =
        validate("ingest:\n  tokens:\n    - name: a\n      token: ${DCWATCH_UNSET_TOKEN_VAR}\n      site: hn\n");
    assert_eq!(code, 2);
    assert!(stderr.contains("FILE:4:14: environment variable `DCWATCH_UNSET_TOKEN_VAR` is not set"), "{stderr}");
}

#[test]
fn several_semantic_problems_are_shown_together_each_at_its_key() {
    let (code, stderr) = validate("listen:\n  address: ':8186'\ningest: {}\n");
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-collector: invalid configuration:\n\
         FILE:2:3: listen.address: `:8186` is not an address:port, e.g. `0.0.0.0:8186`\n\
         FILE:3:1: ingest.tokens: no token is configured, so no agent could write; add one per agent, or set ingest.allow_anonymous: true on a closed lab network\n"
    );
}

#[test]
fn a_technician_s_mistakes_are_each_refused_at_file_line_and_column_with_the_key_path() {
    let (code, stderr) = validate(
        "ingest:\n  tokens:\n    - name: web01\n      site: hn-dc1\n\
         alarms:\n  db: /tmp/x.db\n  sites:\n    - name: hn-dc1\n    - name: hn-dc1\n  \
         services:\n    - name: portal\n      members:\n        hn-dc1: [web01]\n        hcm-dc1: [web02]\n  \
         receivers:\n    - {name: oncall, webhook: {url: 'http://127.0.0.1:9/x'}}\n  \
         routes:\n    - receivers: [on-call]\n",
    );
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-collector: invalid configuration:\n\
         FILE:18:19: alarms.routes[0].receivers[0]: no receiver is named `on-call`; the receivers are: oncall\n\
         FILE:9:7: alarms.sites[1].name: `hn-dc1` is also the name of an earlier site; list each site once\n\
         FILE:14:9: alarms.services[0] (portal).members.hcm-dc1: no site `hcm-dc1` is configured; \
         the sites of alarms.sites and ingest.tokens are: hn-dc1\n\
         FILE:3:7: ingest.tokens[0]: needs token_sha256 (or token)\n"
    );
}

#[test]
fn hash_token_prints_the_sha256_of_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcwatch-collector"))
        .arg("hash-token")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
    );
}

#[test]
fn every_example_config_of_the_collector_is_valid() {
    let collectors: Vec<String> = docs_check::example_configs()
        .into_iter()
        .filter(|f| Path::new(f).file_name().is_some_and(|n| n.to_string_lossy().starts_with("collector")))
        .collect();
    assert!(collectors.len() >= 4, "{collectors:?}");
    for cfg in collectors {
        let out = Command::new(env!("CARGO_BIN_EXE_dcwatch-collector"))
            .args(["validate", "-c"])
            .arg(docs_check::root().join(&cfg))
            .env("INFLUX_TOKEN", "example-influx-token")
            .env("DCWATCH_TOKEN_WEB01", "example-token-0123456789")
            .env("DCWATCH_TOKEN_POLLER", "example-token-9876543210")
            // configs/demo names the folder scripts/demo makes for each run.
            .env("DCWATCH_DEMO_DIR", "/tmp/dcwatch-demo.example")
            // Each secret its own value: a token shared by the ingest and API
            // tables is refused.
            .envs(
                [
                    "DCWATCH_TOKEN",
                    "DCWATCH_API_TOKEN",
                    "TELEGRAM_BOT_TOKEN",
                    "SMTP_PASSWORD",
                    "WEBHOOK_SECRET",
                    "DCWATCH_PEER_SECRET",
                ]
                .map(|k| (k, format!("example-secret-0123456789-{k}"))),
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{cfg}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn the_commands_and_flags_of_dcwatch_collector_are_those_docs_configuration_md_lists() {
    let help = docs_check::from_help(Path::new(env!("CARGO_BIN_EXE_dcwatch-collector")));
    assert_eq!(
        help.keys().map(String::as_str).collect::<Vec<_>>(),
        ["hash-token", "report", "run", "status", "user add", "user disable", "user list", "user passwd", "validate"]
    );
    assert_eq!(docs_check::documented("dcwatch-collector"), help);
    // Regression: `status --help` left out the backups it shows.
    let status = docs_check::help(Path::new(env!("CARGO_BIN_EXE_dcwatch-collector")), &["status"]);
    assert_eq!(
        status.lines().next(),
        Some(
            "Show the running collector's sinks and spool, sites and power feeds, UPS, generators, devices down, silent agents, backups and alarms (for a technician over SSH)"
        )
    );
}

#[test]
fn a_broken_alarm_template_and_rule_are_refused_with_their_reasons() {
    let yaml = "ingest:\n  tokens: []\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  rules:\n    - name: hot\n      \
                measurement: env\n      field: t\n      above: 30\n      below: 10\n      summary: \"nóng {value\"\n";
    let (_, err) = refused(yaml);
    assert!(err.contains("alarms.rules[0] (hot): give exactly one of above, below, equals"), "{err}");
    assert!(err.contains("alarms.rules[0] (hot).summary: `{` at character 6 is not closed"), "{err}");
}

#[test]
fn a_rule_matcher_that_is_not_a_regular_expression_is_refused_at_its_line_and_column() {
    let yaml = "ingest:\n  tokens: []\n  allow_anonymous: true\nalarms:\n  db: /tmp/x.db\n  rules:\n    - name: hot\n      \
                measurement: env\n      field: t\n      above: 30\n      tags: {host: \"~web[\"}\n";
    let (path, err) = refused(yaml);
    assert!(
        err.contains(&format!(
            "{}:11:13: matcher `host: ~web[`: not a regular expression: unclosed character class",
            path.display()
        )),
        "{err}"
    );
}

/// `validate` of a config that must be refused: its path and the problems printed.
fn refused(yaml: &str) -> (std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_dcwatch-collector")).args(["validate", "-c"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    (path, String::from_utf8_lossy(&out.stderr).into_owned())
}
