//! The agent binary refuses a broken config with a message that points at
//! the problem, and accepts the shipped examples.

use std::path::Path;
use std::process::Command;

#[path = "../../tests/src/docs_check.rs"]
mod docs_check;

fn validate(yaml: &str, envs: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dcwatch-agent"))
        .arg("validate")
        .arg("-c")
        .arg(&path)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE");
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

const GOOD: &str = "agent:\n  site: hn\noutput:\n  url: http://127.0.0.1:8186\n  token: ${DCWATCH_TEST_TOKEN}\n";

#[test]
fn a_valid_config_passes_validate() {
    let (code, stdout, _) = validate(GOOD, &[("DCWATCH_TEST_TOKEN", "abc")]);
    assert_eq!(code, 0);
    assert!(stdout.ends_with("configuration is valid\n"), "{stdout}");
}

#[test]
fn an_unknown_key_names_file_line_and_column() {
    let (code, _, stderr) = validate("agent:\n  site: hn\n  intervall_secs: 5\noutput:\n  url: http://x\n", &[]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-agent: invalid configuration:\nFILE:3:3: unknown field `intervall_secs`, expected one of site, host, interval_secs, log_level, shutdown_timeout_secs\n"
    );
}

#[test]
fn a_wrong_type_names_file_line_and_column_the_key_and_the_kind_in_words() {
    let (code, _, stderr) = validate("agent:\n  site: hn\n  interval_secs: often\noutput:\n  url: http://x\n", &[]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-agent: invalid configuration:\nFILE:3:18: agent.interval_secs: expected a duration such as 30s, 5m, \
         1h30m or a number of seconds, found `often`\n"
    );
    let (code, _, stderr) = validate("agent:\n  site: hn\noutput:\n  url: http://x\n  gzip: sometimes\n", &[]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-agent: invalid configuration:\nFILE:5:9: output.gzip: expected true or false, found `sometimes`\n"
    );
}

#[test]
fn durations_are_accepted_in_the_forms_people_write() {
    let yaml = "agent:\n  site: hn\n  interval_secs: 30s\n  shutdown_timeout_secs: 1m\noutput:\n  url: http://x\n  \
                timeout_ms: 2s\nqueue:\n  max_age_secs: 7d\n  drop_min_age_secs: 1h30m\n";
    let (code, stdout, stderr) = validate(yaml, &[]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
}

#[test]
fn an_undefined_variable_is_named() {
    let (code, _, stderr) = validate(GOOD, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-agent: invalid configuration:\nFILE:5:10: environment variable `DCWATCH_TEST_TOKEN` is not set (referenced as `${DCWATCH_TEST_TOKEN}`); set it, or use `${file:PATH}`\n"
    );
}

#[test]
fn a_missing_file_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_dcwatch-agent"))
        .args(["validate", "-c", "/nonexistent/agent.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/agent.yaml: cannot read the config file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_example_config_is_an_agents_or_a_collectors_and_the_agents_are_valid() {
    let all = docs_check::example_configs();
    let name = |f: &String| Path::new(f).file_name().unwrap().to_string_lossy().into_owned();
    let unclaimed: Vec<&String> =
        all.iter().filter(|f| !name(f).starts_with("agent") && !name(f).starts_with("collector")).collect();
    assert!(unclaimed.is_empty(), "name each example agent*.yaml or collector*.yaml: {unclaimed:?}");
    let agents: Vec<&String> = all.iter().filter(|f| name(f).starts_with("agent")).collect();
    assert!(agents.len() >= 5, "{agents:?}");
    for cfg in agents {
        let out = Command::new(env!("CARGO_BIN_EXE_dcwatch-agent"))
            .args(["validate", "-c"])
            .arg(docs_check::root().join(cfg))
            .env("DCWATCH_TOKEN", "example-token-0123456789")
            .env("DCWATCH_DEMO_DIR", "/tmp/dcwatch-demo.example")
            .env("SNMP_COMMUNITY", "example-community")
            .envs(
                ["UPS_B1_AUTH", "UPS_B1_PRIV", "TRAP_AUTH", "TRAP_PRIV", "BORG_HOME_PASSPHRASE"]
                    .map(|k| (k, "example-secret-1")),
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{cfg}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Regression: the examples pointed agents at `:8428`, VictoriaMetrics'
/// port; the collector listens on 8186 (`listen.address`' default).
#[test]
fn the_example_agents_send_to_the_collectors_port() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let configs = [
        "configs/agent.yaml",
        "configs/demo/agent.yaml",
        "configs/examples/agent-snmp.yaml",
        "configs/examples/agent-modbus.yaml",
        "configs/examples/agent-backup.yaml",
    ];
    let ports: Vec<(&str, String)> = configs
        .iter()
        .map(|cfg| {
            let text = std::fs::read_to_string(root.join(cfg)).unwrap();
            // The first `url:` is output.url in every example.
            let url =
                text.lines().find_map(|l| l.trim().strip_prefix("url: ")).unwrap_or_else(|| panic!("{cfg}: no url"));
            (*cfg, url.rsplit_once(':').unwrap().1.to_string())
        })
        .collect();
    assert_eq!(ports, configs.map(|cfg| (cfg, "8186".to_string())));
}

#[test]
fn the_commands_and_flags_of_dcwatch_agent_are_those_docs_configuration_md_lists() {
    let help = docs_check::from_help(Path::new(env!("CARGO_BIN_EXE_dcwatch-agent")));
    assert_eq!(
        help.keys().map(String::as_str).collect::<Vec<_>>(),
        ["once", "probe modbus", "probe snmp", "profiles", "run", "validate"]
    );
    assert_eq!(docs_check::documented("dcwatch-agent"), help);
    // Regression: `profiles --help` said SNMP, and it lists Modbus profiles too.
    let profiles = docs_check::help(Path::new(env!("CARGO_BIN_EXE_dcwatch-agent")), &["profiles"]);
    assert!(profiles.starts_with("List the SNMP and Modbus profiles: "), "{profiles}");
}

#[test]
fn a_broken_modbus_profile_in_profiles_dir_is_refused_with_its_file_line_and_column() {
    let pdir = tempfile::tempdir().unwrap();
    let profile = pdir.path().join("my-meter.yaml");
    std::fs::write(
        &profile,
        "name: my-meter\npoints:\n  - measurement: power_feed\n    fields:\n      \
         - {name: voltage_v, function: input, address: 0, type: f32}\n      \
         - {name: current_a, function: input, address: 1, type: f32}\n",
    )
    .unwrap();
    let yaml = format!(
        "{GOOD}sources:\n  - type: modbus\n    profiles_dir: {}\n    devices:\n      \
         - {{name: m, address: 10.0.0.5, profile: my-meter}}\n",
        pdir.path().display()
    );
    let (code, _, stderr) = validate(&yaml, &[("DCWATCH_TEST_TOKEN", "abc")]);
    assert_eq!(code, 2, "{stderr}");
    let p = profile.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{p}:6:53: points[0].fields[1] (current_a): input registers 0x0001–0x0002 (1–2) overlap points[0].fields[0] \
             (voltage_v) (0x0000–0x0001 (0–1))"
        )),
        "{stderr}"
    );

    std::fs::write(&profile, "name: my-meter\npoints:\n  - measurement: power_feed\n    fields:\n      - {name: v, function: input, address: 0, type: float}\n").unwrap();
    let (code, _, stderr) = validate(&yaml, &[("DCWATCH_TEST_TOKEN", "abc")]);
    assert_eq!(code, 2);
    assert!(stderr.contains(&format!("{p}:5:")) && stderr.contains("float"), "{stderr}");
}

/// `dcwatch-agent ARGS`: exit code, stdout, stderr.
fn agent(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dcwatch-agent")).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn profiles_lists_snmp_and_modbus_profiles_each_from_its_own_directory() {
    // Regression: `profiles --profiles-dir <a Modbus dir>` read the Modbus
    // profiles as SNMP ones and failed; `profiles -c FILE` listed none of the
    // configuration's own Modbus profiles.
    let dir = tempfile::tempdir().unwrap();
    let mb = dir.path().join("modbus");
    std::fs::create_dir(&mb).unwrap();
    std::fs::write(
        mb.join("my-meter.yaml"),
        "name: my-meter\ndescription: My meter\npoints:\n  - measurement: power_feed\n    fields:\n      \
         - {name: voltage_v, function: input, address: 0x10, type: f32}\n",
    )
    .unwrap();
    let modbus = format!(
        "Modbus profiles, built in and from {} (named by each device's `profile:`):\n  \
         apc-smartups     ups       APC Smart-UPS, Modbus map (as NUT's apc_modbus reads it)\n  \
         sdm630           meter     Eastron SDM630 three-phase meter\n  \
         dse-gencomm      generator Deep Sea Electronics generator controller (GenComm)\n  \
         meter-3phase     meter     Generic three-phase meter (holding registers, fixed point)\n  \
         ats-contacts     ats       Generic ATS through discrete inputs (source A ok, source B ok, on B)\n  \
         my-meter         meter     My meter\n",
        mb.display()
    );
    let check = |(code, out, err): (i32, String, String)| {
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(
            out.starts_with("SNMP profiles, built in (chosen by sysObjectID unless a device names one):\n"),
            "{out}"
        );
        assert!(
            out.contains("\n  ups-mib          ups       RFC 1628 UPS-MIB (generic UPS) (detects: fallback)\n"),
            "{out}"
        );
        assert_eq!(&out[out.find("Modbus profiles").unwrap()..], modbus);
    };
    check(agent(&["profiles".as_ref(), "--modbus-dir".as_ref(), mb.as_os_str()]));
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "{}sources:\n  - type: modbus\n    profiles_dir: {}\n    devices:\n      \
             - {{name: m, address: 10.0.0.5, profile: my-meter}}\n",
            GOOD.replace("${DCWATCH_TEST_TOKEN}", "abc"),
            mb.display()
        ),
    )
    .unwrap();
    check(agent(&["profiles".as_ref(), "-c".as_ref(), config.as_os_str()]));

    // Given as SNMP profiles, a Modbus one is refused as the wrong kind.
    let (code, out, err) = agent(&["profiles".as_ref(), "--snmp-dir".as_ref(), mb.as_os_str()]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.ends_with(
            "(this is a Modbus profile, in a directory of SNMP profiles: give it as the profiles_dir of a modbus source)\n"
        ),
        "{err}"
    );
}

/// `dcwatch-agent probe snmp …` with exactly the environment `env`.
fn probe(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dcwatch-agent"))
        .args(["probe", "snmp"])
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const V3: [&str; 6] = ["127.0.0.1:9", "--snmp-version", "3", "--user", "u", "--auth-protocol"];

#[test]
fn probe_takes_v3_passwords_from_a_file_or_the_environment_and_not_both_flags() {
    // A password of four characters is refused before anything is sent: the
    // refusal shows where the probe found it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth");
    std::fs::write(&file, "shrt\nsecond line ignored\n").unwrap();
    let file = file.display().to_string();
    let too_short = "dcwatch-agent probe: auth_password: password is shorter than the RFC 3414 minimum of 8 octets\n";
    let (code, _, err) = probe(&[&V3[..], &["sha", "--auth-password-file", &file]].concat(), &[]);
    assert_eq!((code, err.as_str()), (2, too_short));
    let (code, _, err) = probe(&[&V3[..], &["sha"]].concat(), &[("DCWATCH_SNMP_AUTH_PASSWORD", "shrt")]);
    assert_eq!((code, err.as_str()), (2, too_short));
    // Without either, the password is missing.
    let (code, _, err) = probe(&[&V3[..], &["sha"]].concat(), &[]);
    assert_eq!((code, err.as_str()), (2, "dcwatch-agent probe: v3 needs both `auth_protocol` and `auth_password`\n"));

    let (code, _, err) =
        probe(&[&V3[..], &["sha", "--auth-password", "x", "--auth-password-file", &file]].concat(), &[]);
    assert_eq!(
        (code, err.as_str()),
        (2, "dcwatch-agent probe: give --auth-password or --auth-password-file, not both\n")
    );
    let (code, _, err) = probe(&[&V3[..], &["sha", "--priv-password-file", "/nonexistent/priv"]].concat(), &[]);
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "dcwatch-agent probe: --priv-password-file /nonexistent/priv: cannot read it: No such file or directory (os error 2)\n"
        )
    );
}

#[test]
fn probe_help_names_the_password_files_and_variables() {
    let (code, out, _) = probe(&["--help"], &[]);
    assert_eq!(code, 0);
    for s in [
        "--auth-password-file <FILE>",
        "--priv-password-file <FILE>",
        "--community-file <FILE>",
        "DCWATCH_SNMP_AUTH_PASSWORD",
        "DCWATCH_SNMP_PRIV_PASSWORD",
        "DCWATCH_SNMP_COMMUNITY",
    ] {
        assert!(out.contains(s), "`{s}` is not in the help:\n{out}");
    }
}

#[test]
fn a_password_in_the_output_url_is_in_no_log_line_or_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.yaml");
    // Nothing listens on port 9: every write fails and is logged with its endpoint.
    std::fs::write(
        &cfg,
        format!(
            "agent:\n  site: hn\n  interval_secs: 1\noutput:\n  url: http://admin:S3cretPw@127.0.0.1:9\n  \
             max_backoff_secs: 1\nqueue:\n  dir: {}\n",
            dir.path().join("queue").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcwatch-agent"))
        .arg("-c")
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("write failed; will retry") || start.elapsed() > std::time::Duration::from_secs(60) {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let endpoint = "endpoint=http://127.0.0.1:9/api/v2/write?org=dcwatch&bucket=dcwatch&precision=ns";
    let running = text.lines().find(|l| l.contains("running")).unwrap_or_default();
    let failed = text.lines().find(|l| l.contains("write failed; will retry")).unwrap_or_default();
    assert!(running.contains(endpoint) && failed.contains(endpoint), "{text}");
    assert!(!text.contains("S3cretPw") && !text.contains("admin"), "{text}");

    // A URL the writer refuses is named without its password, too.
    let (code, _, stderr) = validate("agent:\n  site: hn\noutput:\n  url: ftp://admin:S3cretPw@collector:8428\n", &[]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "dcwatch-agent: invalid configuration:\nFILE:3:1: output: url `ftp://collector:8428/` must start with http:// or https://\n"
    );
}
