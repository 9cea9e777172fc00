//! The web console in a real headless Chromium (driven by Debian's
//! chromedriver): the login, the overview's power chain of a site with
//! feed A lost, its UPS on battery and the generator running, the alarms
//! page (acknowledge with a comment, silence and end the silence), what a
//! viewer is not offered, names with HTML in them, both languages, the
//! audit log as an admin reads it, this month's report, the backups late
//! first, and screenshots at a phone's and a wall screen's size (kept in
//! `target/console-screens/`).

use std::path::PathBuf;

use dcwatch_tests::browser::Browser;
use dcwatch_tests::*;

const TOKEN: &str = "console-test-token-0123456789";
const NAM_PW: &str = "mật-khẩu-của-nam-1";
const LAN_PW: &str = "mật-khẩu-của-lan-1";
const XSS_HOST: &str = "<img src=x onerror=alert(1)>";

fn start(hook: &Capture) -> Collector {
    start_with(hook, "", "", &[])
}

/// [`start`] with `alarms_extra` in `alarms:` after its sites (lines
/// indented two spaces), `extra` at the top level (`{dir}`: the
/// collector's folder), and `users` (name, role, password) beside nam and lan.
fn start_with(hook: &Capture, alarms_extra: &str, extra: &str, users: &[(&str, &str, &str)]) -> Collector {
    let dir = TempDir::new().expect("tempdir");
    let yaml = format!(
        "timezone: Asia/Ho_Chi_Minh\nlisten:\n  address: 127.0.0.1:{{port}}\n\
         ingest:\n  tokens:\n    - name: poller\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  db: {alarms}\n  evaluate_every_ms: 200\n  repeat_interval_secs: 1\n  \
         sites:\n    - name: hn-dc1\n      feeds: [A, B]\n      ups:\n        ups-1: [web1, \"{XSS_HOST}\"]\n    \
         - name: hcm-dc2\n      feeds: [A, B]\n{alarms_extra}  \
         rules:\n    - name: room_hot\n      measurement: env\n      field: temperature_c\n      above: 30\n      \
         severity: warning\n      summary: \"Phòng <b>{{device}}</b> nóng: {{value}} °C\"\n  \
         receivers:\n    - name: hook\n      webhook: {{url: {hook}/hook}}\n\
         web:\n  users_db: {users}\n  title: TTDL Lào Cai\n{extra}",
        alarms = dir.path().join("alarms.db").display(),
        users = dir.path().join("users.db").display(),
        hook = hook.url(),
        extra = extra.replace("{dir}", &dir.path().display().to_string()),
    );
    let c = Collector::start_in(dir, &yaml);
    for &(name, role, pw) in [("nam", "operator", NAM_PW), ("lan", "viewer", LAN_PW)].iter().chain(users) {
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
    // The webhook's notices of the UPS alarm so far.
    let count = || {
        hook.requests()
            .iter()
            .filter(|(_, body)| {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                v["fingerprint"] == fp.as_str() || v.to_string().contains(&fp)
            })
            .count()
    };
    // Its first notice is out before the ack: what the ack stops are the repeats.
    wait_for("the UPS alarm's first notice", || (count() >= 1).then_some(()));

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

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn in_chromium_five_wrong_passwords_rate_limit_the_login_and_each_is_audited() {
    let hook = Capture::start();
    let c = start(&hook);
    let b = Browser::start(360, 740);
    b.goto(&format!("{}/ui/login", c.url()));
    // Types into the login form and sends it; waits for the next page.
    let attempt = |pw: &str| {
        b.clear("#user");
        b.type_into("#user", "nam");
        b.clear("#password");
        b.type_into("#password", pw);
        b.run("window.dcwatchOldPage = true; return null;");
        b.click_on("form.login button[type=submit]");
        wait_for("the next page", || (b.run("return window.dcwatchOldPage === undefined;") == true).then_some(()));
        b.text_of("main p.notice")
    };
    for i in 1..=5 {
        assert_eq!(attempt(&format!("sai-mật-khẩu-{i}")), "Sai tên đăng nhập hoặc mật khẩu.", "attempt {i}");
    }
    // The sixth, with the right password, is not even checked.
    assert_eq!(attempt(NAM_PW), "Đăng nhập sai quá nhiều lần. Hãy thử lại sau khoảng 15 phút.");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    assert_eq!(b.all("nav").len(), 0, "no page of the console behind it");
    let rows = wait_for("the audit rows", || {
        let v = get_json(&c, "/api/audit?limit=50");
        let rows: Vec<(String, String, String)> = v["audit"]
            .as_array()?
            .iter()
            .filter(|r| r["action"].as_str().is_some_and(|a| a.starts_with("web_login")))
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                (s("actor"), s("action"), s("source"))
            })
            .collect();
        (rows.len() == 6).then_some(rows)
    });
    let mut expected = vec![("nam".to_string(), "web_login_failed".to_string(), "127.0.0.1".to_string()); 5];
    expected.insert(0, ("nam".into(), "web_login_limited".into(), "127.0.0.1".into()));
    assert_eq!(rows, expected, "newest first: the refused sixth, then the five failures");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn in_chromium_the_alarms_page_shows_a_new_alarm_by_itself_without_reloading() {
    let hook = Capture::start();
    let c = start_with_scenario(&hook);
    wait_for("room_hot firing", || firing(&c, "room_hot"));
    let b = Browser::start(1920, 1080);
    login(&b, &c, "lan", LAN_PW);
    b.goto(&format!("{}/ui/alarms", c.url()));
    let rows = b.all("tr[data-fingerprint]").len();
    // Set on this page only: a reload (or a navigation) would lose it.
    b.run("window.dcwatchSamePage = 'yes'; return null;");
    let (code, text) = c.post("/api/v2/write", Some(TOKEN), false, b"env,device=r2 temperature_c=41\n");
    assert_eq!(code, 204, "{text}");
    let fresh = wait_for("the new alarm on the page", || {
        let n = b.all("tr[data-fingerprint]").len();
        (n == rows + 1).then_some(n)
    });
    assert_eq!(fresh, rows + 1);
    assert!(b.text_of("main table").contains("r2"), "{}", b.text_of("main table"));
    assert_eq!(b.run("return window.dcwatchSamePage;"), serde_json::json!("yes"), "updated in place, not reloaded");
    assert_eq!(b.all("#live-lost:not([hidden])").len(), 0, "the connection-lost line stays hidden");
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

// ---- Backups, reports and audit ----

const MINH_PW: &str = "mật-khẩu-của-minh-1";

/// The collector of [`start_with_scenario`] with an admin (minh), hourly
/// trends flushed every second, an expected backup job that never reports,
/// and two that do: db1's last good backup 26 h old (RPO 24 h: late), fs1's
/// an hour old.
fn start_with_backups(hook: &Capture) -> Collector {
    let c = start_with(
        hook,
        "  backups:\n    expected:\n      - {site: hn-dc1, host: db9, job: pg}\n",
        "trends:\n  db: {dir}/trends.db\n  flush_secs: 1\n",
        &[("minh", "admin", MINH_PW)],
    );
    let (code, text) = c.post("/api/v2/write", Some(TOKEN), false, SCENARIO.as_bytes());
    assert_eq!(code, 204, "{text}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let backups = format!(
        "backup,host=db1,job=pg,kind=restic status=\"ok\",rpo_s=86400i,last_success_ts={}i,last_size_bytes=1500000000i,size_change_pct=12.5,copies=14i\n\
         backup,host=fs1,job=files,kind=borg status=\"ok\",rpo_s=86400i,last_success_ts={}i,last_size_bytes=2345600000i,copies=7i\n\
         dcwatch_agent,host=web1 beat=1i\n",
        now - 26 * 3600,
        now - 3600
    );
    let (code, text) = c.post("/api/v2/write", Some(TOKEN), false, backups.as_bytes());
    assert_eq!(code, 204, "{text}");
    c
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn in_chromium_an_admin_reads_an_operators_ack_in_the_audit_log_opens_this_months_report_and_sees_the_late_backup_first()
 {
    let hook = Capture::start();
    let c = start_with_backups(&hook);
    let fp =
        wait_for("ups_on_battery firing", || firing(&c, "ups_on_battery"))["fingerprint"].as_str().unwrap().to_string();
    let b = Browser::start(1280, 900);

    // nam acknowledges the UPS alarm from its page, then logs out.
    login(&b, &c, "nam", NAM_PW);
    b.goto(&format!("{}/ui/alarms/{fp}", c.url()));
    b.type_into("form.ack input[name=comment]", "đã gọi điện lực");
    b.click_on("form.ack button[type=submit]");
    wait_for("the acknowledged alarm", || b.try_text("p.acked"));
    // An operator may not read the audit log.
    b.goto(&format!("{}/ui/audit", c.url()));
    assert_eq!(b.text_of("main h1"), "Không được phép");
    assert_eq!(b.text_of("main p.notice"), "Thao tác này cần vai trò admin.");
    b.click_on("div.user form[action='/ui/logout'] button");
    wait_for("the login page after logout", || b.url().contains("/ui/login?m=out").then_some(()));

    // minh, an admin, reads it: nam's ack, and nam's refusal.
    login(&b, &c, "minh", MINH_PW);
    b.goto(&format!("{}/ui/audit?actor=nam&action=ack", c.url()));
    let row = "table.audit tr[data-action='ack']";
    let cells: Vec<String> = b.all(&format!("{row} td")).iter().map(|e| b.text(e)).collect();
    assert!(regex_like_date(&cells[0], '/'), "{cells:?}");
    assert_eq!(
        cells[1..],
        ["nam", "operator", "127.0.0.1", "ack", fp.as_str(), "nam: đã gọi điện lực", "Đã thực hiện"]
    );
    b.goto(&format!("{}/ui/audit?refused=1", c.url()));
    let refused = "table.audit tr.refused[data-action='web_forbidden']";
    assert_eq!(b.text_of(&format!("{refused} td.actor")), "nam");
    assert_eq!(b.text_of(&format!("{refused} td.target")), "GET /ui/audit");
    assert_eq!(b.text_of(&format!("{refused} td.outcome")), "Bị từ chối");

    // The backups: the late job first, then the one never seen, then fs1.
    b.goto(&format!("{}/ui/backups", c.url()));
    let hosts: Vec<String> = b.all("table.backups tbody tr td:nth-child(2)").iter().map(|e| b.text(e)).collect();
    assert_eq!(hosts, ["db1", "db9", "fs1"]);
    let db1 = "table.backups tr.late[data-host='db1']";
    assert_eq!(b.text_of(&format!("{db1} td.tool")), "restic");
    assert_eq!(b.text_of(&format!("{db1} td.state")), "Tốt");
    assert!(regex_like_date(&b.text_of(&format!("{db1} td.last")), '/'));
    assert_eq!(b.text_of(&format!("{db1} td.age")), "26 giờ / RPO 24 giờ Trễ hạn");
    assert_eq!(b.text_of(&format!("{db1} td.size")), "1,5 GB (+12,5 %)");
    assert_eq!(b.text_of(&format!("{db1} td.copies")), "14 bản");
    assert_eq!(b.text_of("table.backups tr[data-host='db9'] td.state"), "Chưa từng thấy");
    assert_eq!(b.text_of("table.backups tr.ok[data-host='fs1'] td.size"), "2,3 GB");
    assert_eq!(b.text_of("table.backups tr[data-host='fs1'] td.age"), "1 giờ / RPO 24 giờ");
    assert_eq!(b.text_of("p.backups-late"), "Trễ hạn: 1/3 tác vụ");
    // The alarm says the same: db1's backup_stale fires.
    wait_for("backup_stale of db1", || {
        alarms(&c).into_iter().find(|a| a["name"] == "backup_stale" && a["labels"]["host"] == "db1")
    });

    // The reports: this month, once the trends are flushed.
    let hanoi = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
    let today = jiff::Timestamp::now().to_zoned(hanoi).date();
    let month = today.strftime("%Y-%m").to_string();
    let row = format!("table.reports tr[data-period='{month}']");
    wait_for("this month in the reports", || {
        b.goto(&format!("{}/ui/reports", c.url()));
        (!b.all(&row).is_empty()).then_some(())
    });
    assert_eq!(
        b.text_of(&format!("{row} td.period")),
        format!("Tháng {}/{} (đang diễn ra)", today.month(), today.year())
    );
    let links: Vec<String> = b.all(&format!("{row} td.links a")).iter().map(|e| b.text(e)).collect();
    assert_eq!(links, ["Tiếng Việt", "English", "Tải CSV"]);
    // The CSV, fetched as the page's own script would (same origin, the session's cookie).
    let csv = b.run(&format!(
        "return fetch('/ui/reports/{month}.csv?site=hn-dc1').then(r => r.text().then(t => \
         [r.status, r.headers.get('content-disposition'), t.split('\\n')[0]]));"
    ));
    assert_eq!(
        csv,
        serde_json::json!([
            200,
            format!("attachment; filename=\"dcwatch-hn-dc1-{month}.csv\""),
            "section,site,host,item,metric,value"
        ])
    );
    // The report itself, in Vietnamese, its inline style applied under its own policy.
    b.goto(&format!("{}/ui/reports", c.url()));
    b.click_on(&format!("{row} td.links a[lang='vi']"));
    wait_for("the report", || (b.try_text("h1")? == "Báo cáo công suất và mức độ sẵn sàng").then_some(()));
    let border = b.run("return getComputedStyle(document.querySelector('h2')).borderBottomColor;");
    assert_eq!(border, "rgb(58, 110, 165)", "the report's <style> applies");

    // Each page at a phone's width.
    b.viewport(360, 740);
    for (page, file) in [
        ("/ui/backups", "backups-360-vi.png"),
        ("/ui/reports", "reports-360-vi.png"),
        ("/ui/audit", "audit-360-vi.png"),
    ] {
        b.goto(&format!("{}{page}", c.url()));
        b.find("main h1");
        b.screenshot(&screens().join(file));
        let png = std::fs::read(screens().join(file)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{file} is a PNG");
    }
}

// The hosts and devices pages.

/// web1 busy with a full /var, the host named with HTML, each with a
/// heartbeat; the UPS's own poll: answered, without errors.
const INVENTORY: &str = "host_cpu,host=web1,cpu=total usage_pct=87.5\n\
    host_mem,host=web1 used_pct=62.3\n\
    host_disk,host=web1,mount=/var used_pct=92.1,used_bytes=46100000000i,total_bytes=50000000000i\n\
    host_net,host=web1,iface=eth0 rx_bytes_per_s=1572864,tx_bytes_per_s=524288\n\
    dcwatch_agent,host=web1 version=\"1.4.0\"\n\
    host_cpu,host=<img\\ src\\=x\\ onerror\\=alert(1)>,cpu=total usage_pct=50\n\
    dcwatch_agent,host=<img\\ src\\=x\\ onerror\\=alert(1)> version=\"1.4.0\"\n\
    device,device=ups-1,kind=ups,protocol=snmp up=true,poll_ms=41.5,errors_total=0i\n";

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn in_chromium_a_viewer_reads_the_hosts_and_the_devices_with_names_as_text_at_a_desks_and_a_phones_size() {
    let hook = Capture::start();
    let c = start_with_scenario(&hook);
    let (code, text) = c.post("/api/v2/write", Some(TOKEN), false, INVENTORY.as_bytes());
    assert_eq!(code, 204, "{text}");

    let b = Browser::start(1280, 900);
    login(&b, &c, "lan", LAN_PW);
    // The overview links the hosts the UPS powers to their pages.
    b.click_on("article.site[data-site='hn-dc1'] li.host[data-host='web1'] a");
    wait_for("web1's page", || (b.try_text("h1")? == "web1").then_some(()));
    assert_eq!(b.text_of("tr[data-mount='/var'] td[data-col='size']"), "46,1 / 50,0 GB");

    b.goto(&format!("{}/ui/hosts", c.url()));
    let row = "tr[data-host='web1']";
    assert_eq!(b.text_of(&format!("{row} td[data-col='cpu']")), "87,5 %");
    assert_eq!(b.text_of(&format!("{row} td[data-col='mem']")), "62,3 %");
    assert_eq!(b.text_of(&format!("{row} td[data-col='disk']")), "92,1 % (/var)");
    assert_eq!(b.text_of(&format!("{row} td[data-col='in']")), "1,5 MiB/s");
    assert_eq!(b.text_of(&format!("{row} td[data-col='cpu-24h']")), "—", "no trend store: a dash");
    let names = |b: &Browser| -> Vec<String> { b.all("td[data-col='host'] a").iter().map(|e| b.text(e)).collect() };
    assert_eq!(names(&b), [XSS_HOST, "web1"]);
    assert_eq!(b.run("return document.querySelectorAll('div.table.hosts img').length;"), 0);
    assert_eq!(b.run("return document.querySelectorAll('img').length;"), 0);
    b.screenshot(&screens().join("hosts-1280-vi.png"));
    // Sorted by CPU, the busiest first, through the column's link.
    b.click_on("th[data-col='cpu'] a");
    wait_for("the hosts by CPU", || b.url().contains("sort=cpu&dir=desc").then_some(()));
    assert_eq!(names(&b), ["web1", XSS_HOST]);
    // The host named with HTML has its own page, found through its link.
    b.click_on("td[data-col='host'] a[href*='%3Cimg']");
    wait_for("the HTML-named host's page", || (b.try_text("h1")? == XSS_HOST).then_some(()));
    assert_eq!(b.text_of("li.node[data-device='ups-1'] .state"), "Đang chạy pin");
    assert_eq!(b.run("return document.querySelectorAll('img').length;"), 0);

    b.goto(&format!("{}/ui/devices", c.url()));
    let ups = "section[data-site='hn-dc1'] tr[data-device='ups-1']";
    assert_eq!(b.text_of(&format!("{ups} td[data-col='state']")), "Kết nối được");
    assert_eq!(b.text_of(&format!("{ups} div[data-field='battery_charge_pct'] dd")), "91,5 %");
    assert_eq!(b.text_of(&format!("{ups} td[data-col='errors']")), "Không có");
    let kinds: Vec<String> = b.all("section[data-site='hn-dc1'] h3").iter().map(|e| b.text(e)).collect();
    assert_eq!(kinds, ["UPS", "Bộ chuyển nguồn (ATS)", "Máy phát điện", "Cảm biến môi trường"]);
    let devices: Vec<String> = b.all("td[data-col='device'] a").iter().map(|e| b.text(e)).collect();
    assert_eq!(devices, ["ups-1", "ats-1", "gen-1", "<i>r1</i>"]);
    assert_eq!(b.run("return document.querySelectorAll('main i, main b, img').length;"), 0);
    b.screenshot(&screens().join("devices-1280-vi.png"));

    // A phone: each row a card.
    b.viewport(360, 740);
    b.goto(&format!("{}/ui/hosts", c.url()));
    b.screenshot(&screens().join("hosts-360-vi.png"));
    b.goto(&format!("{}/ui/devices", c.url()));
    b.screenshot(&screens().join("devices-360-vi.png"));
    for f in ["hosts-360-vi.png", "devices-360-vi.png"] {
        let png = std::fs::read(screens().join(f)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f} is a PNG");
    }
}
