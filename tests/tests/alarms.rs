//! Alarms end to end: the real agent reads meters from pymodbus, the real
//! collector raises the alarms and delivers them to a webhook and to a real
//! Prometheus Alertmanager.

use dcwatch_tests::*;
use serde_json::json;

const TOKEN: &str = "alarm-test-token-0123456789";

/// A generic three-phase meter (meter-3phase) whose voltages read 0 while `dead` exists.
fn meter(unit: u8, dead: &std::path::Path) -> serde_json::Value {
    let mut block = vec![0u16; 18];
    block[..6].copy_from_slice(&[2315, 2302, 2298, 1250, 1175, 1310]);
    block[13] = 8400;
    block[14] = 5002;
    json!({"id": unit, "holding": {"0": block}, "when": [{"file": dead, "holding": {"0": [0, 0, 0]}}]})
}

fn collector_yaml(hook: &Capture, am: &Alertmanager, db: &std::path::Path) -> String {
    collector_yaml_with(hook, am, db, "")
}

fn collector_yaml_with(hook: &Capture, am: &Alertmanager, db: &std::path::Path, more_receivers: &str) -> String {
    format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  lang: en\n  db: {}\n  evaluate_every_ms: 200\n  sites:\n    - name: hn-dc1\n      feeds: [A, B]\n  \
         receivers:\n    - name: hook\n      webhook: {{url: {}/hook, secret: s3cret}}\n    - name: am\n      alertmanager: {{url: {}}}\n{more_receivers}",
        db.display(),
        hook.url(),
        am.url()
    )
}

/// `GET /api/alarms` with the tests' API token.
fn api_alarms(c: &Collector) -> serde_json::Value {
    http(None)
        .get(format!("{}/api/alarms", c.url()))
        .bearer_auth(dcwatch_tests::API_TOKEN)
        .send()
        .and_then(|r| r.bytes())
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).expect("json"))
        .expect("api")
}

fn notices(hook: &Capture) -> Vec<serde_json::Value> {
    hook.requests().iter().filter_map(|(_, b)| serde_json::from_slice(b).ok()).collect()
}

fn find(hook: &Capture, name: &str, status: &str) -> Option<serde_json::Value> {
    notices(hook).into_iter().find(|n| n["name"] == name && n["notice"] == status)
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn losing_feed_a_raises_power_redundancy_degraded_at_a_webhook_and_alertmanager_and_resolves() {
    let dir = TempDir::new().expect("tempdir");
    let dead = dir.path().join("feed-a-dead");
    let server = ModbusServer::start(json!([meter(1, &dead), meter(2, &dir.path().join("never"))]));
    let hook = Capture::start();
    let am = Alertmanager::start();
    let smtp = SmtpServer::start_on(free_port());
    let mail = format!(
        "    - name: mail\n      email: {{host: 127.0.0.1, port: {}, tls: none, from: dcwatch@dc.local, to: [oncall@dc.local]}}\n",
        smtp.port
    );
    let collector = Collector::start(&collector_yaml_with(&hook, &am, &dir.path().join("alarms.db"), &mail));
    let _agent = Agent::start(&format!(
        "agent:\n  site: hn-dc1\n  interval_secs: 1\noutput:\n  url: {url}\n  token: {TOKEN}\n  flush_interval_ms: 100\nsources:\n  \
         - type: modbus\n    interval_secs: 1\n    devices:\n      \
         - {{name: meter-a, address: 127.0.0.1:{port}, unit: 1, profile: meter-3phase, feed: A}}\n      \
         - {{name: meter-b, address: 127.0.0.1:{port}, unit: 2, profile: meter-3phase, feed: B}}\n",
        url = collector.url(),
        port = server.port
    ));
    // Both feeds live: nothing to say.
    let alarms = || api_alarms(&collector);
    wait_for("the collector to see both feeds", || {
        collector.metrics().contains("dcwatch_collector_alarm_evaluations_total").then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(alarms()["alarms"], json!([]), "both feeds are live");

    std::fs::write(&dead, "").expect("feed A dies");
    let n = wait_for("the degraded notice at the webhook", || find(&hook, "power_redundancy_degraded", "firing"));
    assert_eq!(n["severity"], "warning");
    assert_eq!(n["labels"], json!({"site": "hn-dc1"}));
    assert_eq!(n["summary"], "Site hn-dc1: power redundancy lost, only feed B live (A down)");
    let am_alert = wait_for("the alert in Alertmanager", || {
        am.alerts().into_iter().find(|a| a["labels"]["alertname"] == "power_redundancy_degraded")
    });
    assert_eq!(am_alert["labels"]["site"], "hn-dc1");
    let m = wait_for("the email", || {
        smtp.messages()
            .into_iter()
            .find(|m| m["subject"].as_str().is_some_and(|s| s.contains("power_redundancy_degraded")))
    });
    assert_eq!(
        m["subject"],
        "[WARNING] FIRING power_redundancy_degraded: Site hn-dc1: power redundancy lost, only feed B live (A down)"
    );
    assert_eq!(am_alert["annotations"]["summary"], "Site hn-dc1: power redundancy lost, only feed B live (A down)");
    // The feed_lost alarm it explains was not sent.
    assert!(find(&hook, "feed_lost", "firing").is_none());
    // What a technician sees over SSH.
    let out = std::process::Command::new(bin("dcwatch-collector"))
        .args(["status", "--lang", "en", "-c"])
        .arg(collector.dir.path().join("collector.yaml"))
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("  hn-dc1  redundancy DEGRADED  A: DOWN (0 V), B: live (230 V)\n"), "{text}");
    assert!(text.contains("ALARMS (2 firing, 0 pending)\n"), "{text}");
    let listed = alarms();
    let names: Vec<&str> = listed["alarms"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    // Both warnings (the site is still powered), the older first, then by name.
    assert_eq!(names, ["feed_lost", "power_redundancy_degraded"]);

    std::fs::remove_file(&dead).expect("feed A is back");
    let r = wait_for("the resolve notice", || find(&hook, "power_redundancy_degraded", "resolved"));
    wait_for("the resolve email", || {
        smtp.messages().into_iter().find(|m| {
            m["subject"].as_str().is_some_and(|s| s.starts_with("[WARNING] RESOLVED power_redundancy_degraded"))
        })
    });
    assert!(r["ended_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    wait_for("Alertmanager to see it resolved", || {
        (!am.alerts().iter().any(|a| a["labels"]["alertname"] == "power_redundancy_degraded")).then_some(())
    });
    assert_eq!(
        notices(&hook).iter().filter(|n| n["name"] == "power_redundancy_degraded").count(),
        2,
        "one firing, one resolved: {:#?}",
        notices(&hook)
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_collector_killed_while_alarms_fire_sends_no_duplicate_and_delivers_the_resolve_once() {
    let dir = TempDir::new().expect("tempdir");
    let dead = dir.path().join("feed-a-dead");
    std::fs::write(&dead, "").expect("feed A starts dead");
    let server = ModbusServer::start(json!([meter(1, &dead), meter(2, &dir.path().join("never"))]));
    let hook = Capture::start();
    let am = Alertmanager::start();
    let db = dir.path().join("alarms.db");
    let yaml = collector_yaml(&hook, &am, &db);
    let collector = Collector::start(&yaml);
    let agent_yaml = |url: &str| {
        format!(
            "agent:\n  site: hn-dc1\n  interval_secs: 1\noutput:\n  url: {url}\n  token: {TOKEN}\n  flush_interval_ms: 100\n  \
             max_backoff_secs: 1\nsources:\n  - type: modbus\n    interval_secs: 1\n    devices:\n      \
             - {{name: meter-a, address: 127.0.0.1:{0}, unit: 1, profile: meter-3phase, feed: A}}\n      \
             - {{name: meter-b, address: 127.0.0.1:{0}, unit: 2, profile: meter-3phase, feed: B}}\n",
            server.port
        )
    };
    let _agent = Agent::start(&agent_yaml(&collector.url()));
    wait_for("the degraded notice", || find(&hook, "power_redundancy_degraded", "firing"));
    let (cdir, port) = collector.kill9();
    // While it is down the feed comes back.
    std::fs::remove_file(&dead).expect("feed A is back");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let _collector = Collector::start_at(cdir, &yaml, port);
    wait_for("the resolve after the restart", || find(&hook, "power_redundancy_degraded", "resolved"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let n: Vec<_> = notices(&hook).into_iter().filter(|n| n["name"] == "power_redundancy_degraded").collect();
    assert_eq!(n.len(), 2, "one firing before the restart, one resolved after: {n:#?}");
}

/// A collector with one rule on `env.temperature_c`, whose notices go to `receivers`.
fn rule_collector(db: &std::path::Path, receivers: &str) -> Collector {
    Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  lang: en\n  db: {}\n  evaluate_every_ms: 200\n  rules:\n    - name: room_hot\n      \
         measurement: env\n      field: temperature_c\n      above: 30\n      severity: critical\n      \
         summary: \"Phòng máy {{device}} nóng: {{value}} °C\"\n  receivers:\n{receivers}",
        db.display()
    ))
}

fn write(c: &Collector, body: &str) {
    let (status, text) = c.post("/api/v2/write", Some(TOKEN), false, body.as_bytes());
    assert_eq!(status, 204, "{text}");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_alarm_reaches_a_real_smtp_server_in_utf8_and_a_telegram_style_api() {
    let dir = TempDir::new().expect("tempdir");
    let smtp = SmtpServer::start_on(free_port());
    let tg = Capture::start();
    let c = rule_collector(
        &dir.path().join("alarms.db"),
        &format!(
            "    - name: mail\n      email: {{host: 127.0.0.1, port: {}, tls: none, from: \"dcwatch <dcwatch@dc.local>\", to: [oncall@dc.local, \"Trực ca <truc.ca@dc.local>\"]}}\n    \
             - name: tg\n      telegram: {{bot_token: \"123456:ABC-secret\", chat_id: \"-1001\", api_url: {}}}\n",
            smtp.port,
            tg.url()
        ),
    );
    write(&c, "env,device=room1 temperature_c=35.5");
    let m = wait_for("the email", || smtp.messages().into_iter().next());
    assert_eq!(m["subject"], "[CRITICAL] FIRING room_hot: Phòng máy room1 nóng: 35.5 °C");
    assert_eq!(m["to"], json!(["oncall@dc.local", "truc.ca@dc.local"]));
    assert_eq!(m["charset"], "utf-8");
    let body = m["body"].as_str().unwrap().replace("\r\n", "\n");
    assert!(
        body.starts_with("[CRITICAL] FIRING room_hot: Phòng máy room1 nóng: 35.5 °C\n\ndevice: room1\nsite: hn-dc1\n"),
        "{body}"
    );
    let (path, msg) = wait_for("the Telegram message", || tg.requests().into_iter().next());
    assert_eq!(path, "/bot123456:ABC-secret/sendMessage");
    let msg: serde_json::Value = serde_json::from_slice(&msg).unwrap();
    assert_eq!(msg["chat_id"], "-1001");
    assert!(msg["text"].as_str().unwrap().starts_with("[CRITICAL] FIRING room_hot: Phòng máy room1 nóng: 35.5 °C"));
}

/// The site's zone of these tests: UTC+7, so a time in UTC would show.
const HANOI: &str = "Asia/Ho_Chi_Minh";

/// `ms` written the way a notice writes it: `02/12/2026 14:05` (vi) or `2 Dec 2026 14:05` (en).
fn hanoi_time(ms: i64, format: &str) -> String {
    let tz = jiff::tz::TimeZone::get(HANOI).expect("zone");
    jiff::Timestamp::from_millisecond(ms).expect("ms").to_zoned(tz).strftime(format).to_string()
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_ups_on_battery_reaches_email_and_telegram_in_vietnamese_and_an_english_receiver_in_english_in_the_sites_zone() {
    let dir = TempDir::new().expect("tempdir");
    let smtp = SmtpServer::start_on(free_port());
    let tg = Capture::start();
    // No `alarms.lang`: Vietnamese by default; one receiver asks for English.
    let c = Collector::start(&format!(
        "timezone: {HANOI}\nlisten:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  db: {}\n  evaluate_every_ms: 200\n  receivers:\n    \
         - name: truc-ca\n      email: {{host: 127.0.0.1, port: {}, tls: none, from: dcwatch@dc.local, to: [truc.ca@dc.local]}}\n    \
         - name: vendor\n      lang: en\n      email: {{host: 127.0.0.1, port: {}, tls: none, from: dcwatch@dc.local, to: [vendor@example.com]}}\n    \
         - name: tg\n      telegram: {{bot_token: \"123456:ABC-secret\", chat_id: \"-1001\", api_url: {}}}\n",
        dir.path().join("alarms.db").display(),
        smtp.port,
        smtp.port,
        tg.url()
    ));
    write(&c, "ups,device=ups1 on_battery=true,battery_charge_pct=87.5,runtime_remaining_s=1500");
    let alarm = wait_for("the alarm in the API", || {
        api_alarms(&c)["alarms"].as_array()?.iter().find(|a| a["name"] == "ups_on_battery").cloned()
    });
    let (fp, fired) = (alarm["fingerprint"].as_str().unwrap().to_string(), alarm["fired_ms"].as_i64().unwrap());
    assert_eq!(alarm["summary"], "UPS ups1 tại trung tâm hn-dc1 đang chạy bằng ắc quy (còn 87,5 %, 25 phút)");
    assert_eq!(alarm["summaries"]["en"], "UPS ups1 at hn-dc1 is on battery (87.5 % charge, 25 min runtime)");

    let mail = |to: &str| {
        wait_for(&format!("the email to {to}"), || smtp.messages().into_iter().find(|m| m["to"] == json!([to])))
    };
    // A 7-bit (plain ASCII) body arrives with the line end SMTP's data ends with.
    let body_of =
        |m: &serde_json::Value| m["body"].as_str().unwrap().replace("\r\n", "\n").trim_end().to_string() + "\n";
    let vi = mail("truc.ca@dc.local");
    let subject = "[NGHIÊM TRỌNG] ĐANG CẢNH BÁO ups_on_battery: UPS ups1 tại trung tâm hn-dc1 đang chạy bằng ắc quy \
                   (còn 87,5 %, 25 phút)";
    assert_eq!(vi["subject"], subject);
    let body = format!(
        "{subject}\n\nthiết bị: ups1\ntrung tâm: hn-dc1\nbắt đầu: {}\ncần làm: UPS mất điện lưới và đang chạy bằng \
         ắc quy. Kiểm tra nguồn điện lưới và máy phát; chuẩn bị tắt máy chủ theo thứ tự nếu điện không sớm trở lại.\n\
         mã cảnh báo: {fp}\n",
        hanoi_time(fired, "%d/%m/%Y %H:%M")
    );
    assert_eq!(body_of(&vi), body);

    let (path, msg) = wait_for("the Telegram message", || tg.requests().into_iter().next());
    assert_eq!(path, "/bot123456:ABC-secret/sendMessage");
    let msg: serde_json::Value = serde_json::from_slice(&msg).unwrap();
    assert_eq!(msg["text"], body);

    let en = mail("vendor@example.com");
    let subject = "[CRITICAL] FIRING ups_on_battery: UPS ups1 at hn-dc1 is on battery (87.5 % charge, 25 min runtime)";
    assert_eq!(en["subject"], subject);
    assert_eq!(
        body_of(&en),
        format!(
            "{subject}\n\ndevice: ups1\nsite: hn-dc1\nsince: {}\nwhat to do: The UPS lost mains and runs on its \
             battery. Check the feed and the generator; get ready to shut servers down in order if power does not \
             come back soon.\nfingerprint: {fp}\n",
            hanoi_time(fired, "%-d %b %Y %H:%M")
        )
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_unreachable_smtp_server_is_retried_visibly_and_nothing_is_lost() {
    let dir = TempDir::new().expect("tempdir");
    let smtp_port = free_port();
    let hook = Capture::start();
    let c = rule_collector(
        &dir.path().join("alarms.db"),
        &format!(
            "    - name: mail\n      email: {{host: 127.0.0.1, port: {smtp_port}, tls: none, from: dcwatch@dc.local, to: [oncall@dc.local]}}\n    \
             - name: hook\n      webhook: {{url: {}/hook}}\n",
            hook.url()
        ),
    );
    write(&c, "env,device=room1 temperature_c=40");
    // The webhook has it at once; the mail keeps failing, visibly.
    wait_for("the webhook notice", || find(&hook, "room_hot", "firing"));
    let outbox = || api_alarms(&c)["outbox"].clone();
    let o = wait_for("failed attempts in the API", || {
        let o = outbox();
        (o[0]["attempts"].as_i64().unwrap_or(0) >= 2).then_some(o)
    });
    assert_eq!(o[0]["receiver"], "mail");
    assert!(o[0]["last_error"].as_str().unwrap().starts_with("SMTP 127.0.0.1: "), "{o}");
    assert!(c.metrics().contains("dcwatch_collector_notices_undelivered{receiver=\"mail\"} 1"));
    // After three attempts the self-alarm tells the other receiver.
    let n = wait_for("notification_failing at the webhook", || find(&hook, "notification_failing", "firing"));
    assert_eq!(n["labels"], json!({"receiver": "mail"}));
    // The server comes up: the waiting notice goes out, once, and the self-alarm resolves.
    let smtp = SmtpServer::start_on(smtp_port);
    let room_hot = "[CRITICAL] FIRING room_hot: Phòng máy room1 nóng: 40 °C";
    wait_for("the late email", || smtp.messages().iter().any(|m| m["subject"] == room_hot).then_some(()));
    wait_for("notification_failing resolved", || find(&hook, "notification_failing", "resolved"));
    // The mail receiver also had the self-alarm (no routes: every receiver gets every alarm);
    // the room_hot notice, waiting all along, went out exactly once.
    assert_eq!(smtp.messages().iter().filter(|m| m["subject"] == room_hot).count(), 1);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_ups_on_battery_trap_from_snmptrap_reaches_the_webhook_at_once() {
    let dir = TempDir::new().expect("tempdir");
    let hook = Capture::start();
    let c = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  lang: en\n  db: {}\n  evaluate_every_ms: 100\n  builtin:\n    disabled: [device_unreachable]\n  receivers:\n    \
         - name: hook\n      webhook: {{url: {}/hook}}\n",
        dir.path().join("alarms.db").display(),
        hook.url()
    ));
    let trap_port = free_udp_port();
    // The UPS's card answers no poll here (a closed port): only the trap can tell.
    let agent = Agent::start(&format!(
        "agent:\n  site: hn-dc1\n  interval_secs: 60\noutput:\n  url: {}\n  token: {TOKEN}\nsources:\n  - type: snmp\n    \
         interval_secs: 60\n    timeout_ms: 200\n    retries: 0\n    devices:\n      - name: ups-a1\n        address: 127.0.0.1:{}\n        \
         profile: ups-mib\n    traps:\n      listen: 127.0.0.1:{trap_port}\n      communities: [dc-traps]\n",
        c.url(),
        free_udp_port()
    ));
    wait_for("the trap receiver", || agent.proc.output().contains("listening for SNMP traps").then_some(()));
    let sent = std::time::Instant::now();
    let st = std::process::Command::new(system_program("snmptrap"))
        .args(["-v", "2c", "-c", "dc-traps", &format!("127.0.0.1:{trap_port}"), "", "1.3.6.1.2.1.33.2.1"])
        .env("MIBS", "")
        .status()
        .expect("snmptrap");
    assert!(st.success());
    let n = wait_for("the ups_on_battery notice", || find(&hook, "ups_on_battery", "firing"));
    let arrived = hook.arrivals().into_iter().map(|(t, _)| t).next().expect("arrival");
    eprintln!("trap → webhook: {} ms", arrived.duration_since(sent).as_millis());
    assert_eq!(n["labels"], json!({"site": "hn-dc1", "device": "ups-a1"}));
    assert_eq!(n["summary"], "UPS ups-a1 at hn-dc1 is on battery (? % charge, ? min runtime)");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn both_feeds_lost_is_one_power_alarm_that_explains_the_silent_hosts() {
    let dir = TempDir::new().expect("tempdir");
    let scenario = dir.path().join("blackout.txt");
    std::fs::write(&scenario, "2 feed_a off\n2 feed_b off\n").expect("scenario");
    let port = free_port();
    let _sim = Proc::spawn(
        "dcwatch-sim",
        std::process::Command::new(bin("dcwatch-sim"))
            .args(["modbus-site", "--listen", &format!("127.0.0.1:{port}"), "--scenario"])
            .arg(&scenario),
        dir.path(),
    );
    wait_for("the simulator", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    let hook = Capture::start();
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  lang: en\n  db: {}\n  evaluate_every_ms: 200\n  sites:\n    - name: hn-dc1\n      feeds: [A, B]\n  \
         receivers:\n    - name: hook\n      webhook: {{url: {}/hook}}\n",
        dir.path().join("alarms.db").display(),
        hook.url()
    ));
    let agent = |host: &str, sources: &str| {
        Agent::start(&format!(
            "agent:\n  site: hn-dc1\n  host: {host}\n  interval_secs: 1\noutput:\n  url: {}\n  token: {TOKEN}\n  flush_interval_ms: 100\n{sources}",
            collector.url()
        ))
    };
    let _monitor = agent(
        "monitor",
        &format!(
            "sources:\n  - type: modbus\n    interval_secs: 1\n    devices:\n      \
             - {{name: meter-a, address: 127.0.0.1:{port}, unit: 2, profile: sdm630, feed: A}}\n      \
             - {{name: meter-b, address: 127.0.0.1:{port}, unit: 3, profile: sdm630, feed: B}}\n      \
             - {{name: ups-1, address: 127.0.0.1:{port}, unit: 1, profile: apc-smartups}}\n"
        ),
    );
    let web1 = agent("web1", "");
    let lost = wait_for("the power alarm", || find(&hook, "power_lost", "firing"));
    assert!(
        lost["summary"]
            .as_str()
            .unwrap()
            .starts_with("Site hn-dc1: ALL power feeds down (A, B); UPS ups-1 on battery ("),
        "{lost}"
    );
    // web1 loses power with the site: it falls silent.
    drop(web1);
    let alarms = || api_alarms(&collector)["alarms"].clone();
    let silent = wait_for("web1 silent, and explained", || {
        alarms()
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "agent_silent" && a["labels"]["host"] == "web1")
            .cloned()
    });
    assert!(silent["inhibited_by"].is_string(), "{silent}");
    let listed = wait_for("the power alarm naming web1", || {
        alarms()
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["name"] == "power_lost"
                    && a["summary"].as_str().is_some_and(|s| s.ends_with("; 1 host(s) silent: web1"))
            })
            .cloned()
    });
    assert_eq!(listed["state"], "firing");
    // One alarm went out: the power alarm. Nothing it explains did.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let sent: Vec<String> = notices(&hook).iter().map(|n| n["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(sent, ["power_lost"], "{:#?}", notices(&hook));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_broken_rule_on_reload_is_refused_and_the_running_rules_keep_working_while_a_good_one_applies() {
    let dir = TempDir::new().expect("tempdir");
    let hook = Capture::start();
    let c = rule_collector(
        &dir.path().join("alarms.db"),
        &format!("    - name: hook\n      webhook: {{url: {}/hook}}\n", hook.url()),
    );
    let path = c.dir.path().join("collector.yaml");
    let yaml = std::fs::read_to_string(&path).expect("config");
    // Two thresholds in one rule: refused, with the reason; the running rules stay.
    std::fs::write(&path, yaml.replace("      above: 30\n", "      above: 30\n      below: 10\n")).expect("break");
    let line = wait_for("the refusal in the log", || {
        c.proc.output().lines().find(|l| l.contains("the new configuration is invalid")).map(str::to_string)
    });
    assert!(line.contains("alarms.rules[0] (room_hot): give exactly one of above, below, equals"), "{line}");
    write(&c, "env,device=room1 temperature_c=35");
    let n = wait_for("the running rule's notice", || find(&hook, "room_hot", "firing"));
    assert_eq!(n["summary"], "Phòng máy room1 nóng: 35 °C");
    // A good change applies: the threshold moves to 40, and the alarm, at 35, resolves.
    std::fs::write(&path, yaml.replace("      above: 30\n", "      above: 40\n")).expect("fix");
    wait_for("the reload", || c.proc.output().contains("configuration reloaded").then_some(()));
    write(&c, "env,device=room1 temperature_c=35");
    wait_for("the resolve under the new threshold", || find(&hook, "room_hot", "resolved"));
}

/// Regression: a corrupt `alarms.db` stopped the whole collector, ingest
/// included. Now it is moved aside with its WAL, the collector starts with
/// fresh alarm state, serves writes, and says so in an ERROR log line and
/// the `alarms_db_quarantined` alarm (at /api/alarms and the receivers).
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_corrupt_alarms_db_is_moved_aside_and_the_collector_serves_writes_with_an_alarm() {
    let dir = TempDir::new().expect("tempdir");
    let db = dir.path().join("alarms.db");
    let garbage = "this is not an SQLite database\n".repeat(200);
    std::fs::write(&db, &garbage).expect("write garbage");
    std::fs::write(dir.path().join("alarms.db-wal"), b"junk wal").expect("write wal");
    let hook = Capture::start();
    let collector = rule_collector(&db, &format!("    - name: hook\n      webhook: {{url: {}/hook}}\n", hook.url()));

    write(&collector, "env,site=hn-dc1,device=room1 temperature_c=24\n");

    let mut moved: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("alarms.db.corrupt-"))
        .collect();
    moved.sort();
    assert_eq!(moved.len(), 2, "the database and its WAL: {moved:?}");
    let quarantined = dir.path().join(&moved[0]);
    assert_eq!(moved[1], format!("{}-wal", moved[0]));
    assert_eq!(std::fs::read_to_string(&quarantined).expect("read quarantined"), garbage, "moved, not rewritten");
    let fresh = std::fs::read(&db).expect("a new alarms.db");
    assert_eq!(&fresh[..16], b"SQLite format 3\0");

    let alarm = wait_for("the alarms_db_quarantined alarm", || {
        let alarms = api_alarms(&collector)["alarms"].clone();
        alarms.as_array()?.iter().find(|a| a["name"] == "alarms_db_quarantined").cloned()
    });
    assert_eq!((alarm["state"].as_str(), alarm["severity"].as_str()), (Some("firing"), Some("warning")));
    let summary = alarm["summary"].as_str().unwrap_or_default();
    assert!(summary.contains(&format!("was moved to {}", quarantined.display())), "{summary}");
    let notice = wait_for("the firing notice at the webhook", || find(&hook, "alarms_db_quarantined", "firing"));
    assert_eq!(notice["summary"], alarm["summary"]);

    let log = collector.proc.output();
    let line =
        log.lines().find(|l| l.contains("alarms.db is corrupt")).unwrap_or_else(|| panic!("no log line:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&format!("db={}", db.display())), "{line}");
    assert!(line.contains(&format!("quarantined={}", quarantined.display())), "{line}");
    // The collector keeps serving and raising alarms from the fresh state.
    write(&collector, "env,site=hn-dc1,device=room1 temperature_c=35\n");
    wait_for("room_hot from the fresh alarm state", || find(&hook, "room_hot", "firing"));
}
