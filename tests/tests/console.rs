//! The web console in a real headless Chromium (driven by Debian's
//! chromedriver): the login, the overview's power chain of a site with
//! feed A lost, its UPS on battery and the generator running, the alarms
//! page (acknowledge with a comment, silence and end the silence), what a
//! viewer is not offered, names with HTML in them, both languages, and
//! screenshots at a phone's and a wall screen's size (kept in
//! `target/console-screens/`).

use std::path::PathBuf;

use dcwatch_tests::browser::Browser;
use dcwatch_tests::*;

const TOKEN: &str = "console-test-token-0123456789";
const NAM_PW: &str = "mật-khẩu-của-nam-1";
const LAN_PW: &str = "mật-khẩu-của-lan-1";
const XSS_HOST: &str = "<img src=x onerror=alert(1)>";

fn start(hook: &Capture) -> Collector {
    let dir = TempDir::new().expect("tempdir");
    let yaml = format!(
        "timezone: Asia/Ho_Chi_Minh\nlisten:\n  address: 127.0.0.1:{{port}}\n\
         ingest:\n  tokens:\n    - name: poller\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  db: {alarms}\n  evaluate_every_ms: 200\n  repeat_interval_secs: 1\n  \
         sites:\n    - name: hn-dc1\n      feeds: [A, B]\n      ups:\n        ups-1: [web1, \"{XSS_HOST}\"]\n    \
         - name: hcm-dc2\n      feeds: [A, B]\n  \
         rules:\n    - name: room_hot\n      measurement: env\n      field: temperature_c\n      above: 30\n      \
         severity: warning\n      summary: \"Phòng <b>{{device}}</b> nóng: {{value}} °C\"\n  \
         receivers:\n    - name: hook\n      webhook: {{url: {hook}/hook}}\n\
         web:\n  users_db: {users}\n  title: TTDL Lào Cai\n",
        alarms = dir.path().join("alarms.db").display(),
        users = dir.path().join("users.db").display(),
        hook = hook.url(),
    );
    let c = Collector::start_in(dir, &yaml);
    for (name, role, pw) in [("nam", "operator", NAM_PW), ("lan", "viewer", LAN_PW)] {
        c.add_user(name, role, pw);
    }
    c
}

/// Feed A lost, feed B live, the ATS on B, the generator running, UPS
/// ups-1 on battery; a hot room with HTML in its name.
const SCENARIO: &str = "power_feed,feed=A,device=ats-1 live=false,voltage_v=0\n\
    power_feed,feed=B,device=ats-1 live=true,voltage_v=229.6\n\
    ats,device=ats-1 active_source=\"B\",on_source_b=true\n\
    generator,device=gen-1 running=true,fuel_pct=80\n\
    ups,device=ups-1 status=\"on_battery\",on_battery=true,battery_charge_pct=91.5,runtime_remaining_s=1530,load_pct=35\n\
    env,device=<i>r1</i> temperature_c=35.5\n";

/// The collector of [`start`], sent [`SCENARIO`].
fn start_with_scenario(hook: &Capture) -> Collector {
    let c = start(hook);
    let (code, text) = c.post("/api/v2/write", Some(TOKEN), false, SCENARIO.as_bytes());
    assert_eq!(code, 204, "{text}");
    c
}

fn alarms(c: &Collector) -> Vec<serde_json::Value> {
    let v = get_json(c, "/api/alarms");
    v["alarms"].as_array().cloned().unwrap_or_default()
}

/// A GET of the API as its admin.
fn get_json(c: &Collector, path: &str) -> serde_json::Value {
    let r = c.client().get(format!("{}{path}", c.url())).bearer_auth(API_TOKEN).send().unwrap();
    serde_json::from_str(&r.text().unwrap()).expect("json")
}

fn firing(c: &Collector, name: &str) -> Option<serde_json::Value> {
    alarms(c).into_iter().find(|a| a["name"] == name && a["state"] == "firing")
}

fn login(b: &Browser, c: &Collector, name: &str, pw: &str) {
    b.goto(&format!("{}/ui/", c.url()));
    wait_for("the login page", || b.url().contains("/ui/login").then_some(()));
    b.type_into("#user", name);
    b.type_into("#password", pw);
    b.click_on("form.login button[type=submit]");
    wait_for("the overview after the login", || (!b.all("section.sites").is_empty()).then_some(()));
}

fn screens() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/console-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn in_chromium_the_overview_draws_the_power_chain_and_an_operator_acks_and_silences_from_the_alarms_page() {
    let hook = Capture::start();
    let c = start_with_scenario(&hook);
    let ups_alarm = wait_for("ups_on_battery firing", || firing(&c, "ups_on_battery"));
    let fp = ups_alarm["fingerprint"].as_str().unwrap().to_string();
    wait_for("room_hot firing", || firing(&c, "room_hot"));

    let b = Browser::start(1280, 900);
    login(&b, &c, "nam", NAM_PW);
    // The power chain, in Vietnamese (the browser asks for vi).
    let site = "article.site[data-site='hn-dc1']";
    assert_eq!(b.text_of(&format!("{site} p.redundancy")), "Mất lộ A: chỉ còn chạy trên lộ B.");
    assert_eq!(b.text_of(&format!("{site} li.node.bad[data-feed='A'] .state")), "Mất điện");
    assert_eq!(b.text_of(&format!("{site} li.node.ok[data-feed='B'] .state")), "Có điện");
    assert_eq!(b.text_of(&format!("{site} li.node[data-device='ats-1'] .state")), "Đang dùng nguồn B");
    assert_eq!(b.text_of(&format!("{site} li.node.warn[data-device='gen-1'] .state")), "Đang chạy");
    let ups = format!("{site} li.node.bad[data-device='ups-1']");
    assert_eq!(b.text_of(&format!("{ups} > .state")), "Đang chạy pin");
    let details: Vec<String> = b.all(&format!("{ups} > .detail")).iter().map(|e| b.text(e)).collect();
    assert_eq!(details, ["Pin 92 %", "Còn 25 phút", "Tải 35 %"]);
    // The host named with HTML is text: no such element in the DOM.
    let hosts: Vec<String> = b.all(&format!("{ups} li.host .what")).iter().map(|e| b.text(e)).collect();
    assert_eq!(hosts, ["web1", XSS_HOST]);
    assert_eq!(b.run("return document.querySelectorAll('img').length;"), 0);
    assert_eq!(b.run("return document.querySelectorAll('main i, main b').length;"), 0);
    // The site with nothing reported says so.
    assert_eq!(b.text_of("article.site[data-site='hcm-dc2'] p.redundancy"), "Chưa có số liệu về nguồn điện.");
    b.screenshot(&screens().join("overview-1280-vi.png"));

    // The alarms page: acknowledge the UPS alarm with a comment.
    b.goto(&format!("{}/ui/alarms?site=hn-dc1", c.url()));
    let row = format!("tr[data-fingerprint='{fp}']");
    b.find(&row);
    assert_eq!(b.run("return document.querySelectorAll('main b, main i').length;"), 0, "summaries are text");
    b.click_on(&format!("{row} input[type=checkbox]"));
    b.type_into("div.bulk input[name=comment]", "đang xử lý, đã gọi điện lực");
    b.click_on("div.bulk button[type=submit]");
    wait_for("the acked notice", || b.try_text("p.notice[role=status]"));
    assert_eq!(b.text_of("p.notice[role=status]"), "Đã xác nhận 1 cảnh báo.");
    assert_eq!(b.text_of(&format!("{row} td.state")).lines().next().unwrap(), "Đã xác nhận");
    assert!(b.text_of(&format!("{row} td.state")).contains("Đã xác nhận bởi nam lúc "));
    let acked = alarms(&c).into_iter().find(|a| a["fingerprint"] == fp.as_str()).unwrap();
    assert_eq!(acked["ack"]["by"], "nam");
    assert_eq!(acked["ack"]["comment"], "đang xử lý, đã gọi điện lực");
    // Audited with its author and address.
    let audit = get_json(&c, "/api/audit?action=ack");
    let rows: Vec<(String, String, String)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().into(),
                r["source"].as_str().unwrap().into(),
                r["target"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(rows, vec![("nam".to_string(), "127.0.0.1".to_string(), fp.clone())]);
    // No repeat for it after the ack (repeats come every second before).
    let count = || {
        hook.requests()
            .iter()
            .filter(|(_, body)| {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                v["fingerprint"] == fp.as_str() || v.to_string().contains(&fp)
            })
            .count()
    };
    let before = count();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(count(), before, "no repeat of an acknowledged alarm");

    // Silence the hot room from its page, with the matchers filled in.
    let room = firing(&c, "room_hot").unwrap();
    let room_fp = room["fingerprint"].as_str().unwrap().to_string();
    b.goto(&format!("{}/ui/alarms/{room_fp}", c.url()));
    let matchers = b.run("return document.querySelector('form.silence textarea').value;");
    assert_eq!(matchers, "alertname=room_hot\ndevice=<i>r1</i>\nsite=hn-dc1");
    b.type_into("form.silence input[name=reason]", "bảo trì điều hòa");
    b.click_on("form.silence button[type=submit]");
    wait_for("the silenced notice", || b.try_text("p.notice[role=status]"));
    assert_eq!(b.text_of("p.notice[role=status]"), "Đã tạm tắt cảnh báo.");
    // The engine marks it silenced at its next evaluation.
    wait_for("the silenced state", || {
        b.goto(&format!("{}/ui/alarms/{room_fp}", c.url()));
        (b.all("p.alarm-state[data-state='silenced']").len() == 1).then_some(())
    });
    // End it from the alarms page: the alarm fires again.
    b.goto(&format!("{}/ui/alarms", c.url()));
    b.click_on("ul.silences form.inline button[type=submit]");
    wait_for("the ended notice", || b.try_text("p.notice[role=status]"));
    assert_eq!(b.text_of("p.notice[role=status]"), "Đã kết thúc lệnh tạm tắt.");
    wait_for("room_hot firing, not silenced", || {
        b.goto(&format!("{}/ui/alarms/{room_fp}", c.url()));
        (b.all("p.alarm-state[data-state='firing']").len() == 1).then_some(())
    });
    let silence_audit = get_json(&c, "/api/audit?actor=nam");
    let mut actions: Vec<String> =
        silence_audit["audit"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap().to_string()).collect();
    actions.reverse();
    assert_eq!(actions, ["web_login", "ack", "silence_create", "silence_end"]);
    // Log out: back at the login page.
    b.click_on("div.user form[action='/ui/logout'] button");
    wait_for("the login page after logout", || b.url().contains("/ui/login?m=out").then_some(()));
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn in_chromium_a_viewer_is_offered_no_action_and_the_pages_speak_both_languages_at_a_phones_and_a_walls_size() {
    let hook = Capture::start();
    let c = start_with_scenario(&hook);
    let fp =
        wait_for("ups_on_battery firing", || firing(&c, "ups_on_battery"))["fingerprint"].as_str().unwrap().to_string();

    let b = Browser::start(360, 740);
    login(&b, &c, "lan", LAN_PW);
    b.goto(&format!("{}/ui/alarms", c.url()));
    assert_eq!(b.all("input[type=checkbox]").len(), 0, "a viewer gets no checkboxes");
    assert_eq!(b.all("div.bulk").len(), 0, "nor the bulk acknowledgement");
    b.goto(&format!("{}/ui/alarms/{fp}", c.url()));
    assert_eq!(b.all("form.ack").len() + b.all("form.silence").len(), 0, "nor the forms of one alarm");
    // Vietnamese: words and a date dd/mm/yyyy.
    let vi = b.text_of("main");
    assert!(vi.contains("Nhãn") && vi.contains("Diễn biến"), "{vi}");
    let date_vi = b.text_of("p.alarm-state");
    assert!(regex_like_date(&date_vi, '/'), "{date_vi}");
    b.goto(&format!("{}/ui/", c.url()));
    b.screenshot(&screens().join("overview-360-vi.png"));
    b.goto(&format!("{}/ui/alarms", c.url()));
    b.screenshot(&screens().join("alarms-360-vi.png"));

    // English, chosen by the user: the same page in English words and dates.
    b.goto(&format!("{}/ui/", c.url()));
    b.click_on("div.user form[action='/ui/lang'] button");
    wait_for("the English overview", || (b.try_text("h1")? == "Overview").then_some(()));
    assert_eq!(b.text_of("article.site[data-site='hn-dc1'] p.redundancy"), "Feed A lost: running on feed B only.");
    b.goto(&format!("{}/ui/alarms/{fp}", c.url()));
    let en = b.text_of("main");
    assert!(en.contains("Labels") && en.contains("Timeline"), "{en}");
    let date_en = b.text_of("p.alarm-state");
    assert!(!regex_like_date(&date_en, '/'), "{date_en}");
    assert!(date_en.contains(" 20"), "{date_en}");

    // A wall screen.
    b.viewport(1920, 1080);
    b.goto(&format!("{}/ui/", c.url()));
    b.screenshot(&screens().join("overview-1920-en.png"));
    b.goto(&format!("{}/ui/alarms", c.url()));
    b.screenshot(&screens().join("alarms-1920-en.png"));
    for f in ["overview-360-vi.png", "alarms-360-vi.png", "overview-1920-en.png", "alarms-1920-en.png"] {
        let png = std::fs::read(screens().join(f)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f} is a PNG");
    }
}

/// `text` holds a date `dd/mm/yyyy` (with `sep`).
fn regex_like_date(text: &str, sep: char) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(10).any(|w| {
        w[0..2].iter().all(char::is_ascii_digit)
            && w[2] == sep
            && w[3..5].iter().all(char::is_ascii_digit)
            && w[5] == sep
            && w[6..10].iter().all(char::is_ascii_digit)
    })
}
