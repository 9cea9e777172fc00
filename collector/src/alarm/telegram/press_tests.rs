use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

use super::*;
use crate::alarm::store::State;
use crate::model::{ObsValue, Observation};

const TOKEN: &str = "123456:ABC-secret";

fn cfg(dir: &std::path::Path) -> AlarmsConfig {
    let yaml = format!(
        "db: {}\nlang: en\ninhibit_wait_ms: 0\nreceivers:\n  - name: tg\n    lang: vi\n    telegram:\n      \
         bot_token: '{TOKEN}'\n      chat_id: '-1001'\n      api_url: http://127.0.0.1:9\n      \
         allow: [{{telegram_user: 111, user: nam}}, {{telegram_user: 222, user: lan}}, {{telegram_user: 333, user: ghost}}, \
         {{telegram_user: 444, user: old}}]\n  \
         - name: quiet\n    telegram: {{bot_token: '{TOKEN}', chat_id: '@oncall_hn'}}\n",
        dir.join("alarms.db").display()
    );
    dcwatch_common::config::parse::<AlarmsConfig>(&yaml, std::path::Path::new("/x/alarms.yaml")).unwrap()
}

/// An engine with `ups_on_battery` firing at site hn, the console's users
/// nam (operator), lan (viewer) and old (operator, disabled), and an audit log.
fn setup(dir: &std::path::Path) -> (Ctx, String) {
    let engine = Arc::new(Engine::open(cfg(dir)).unwrap());
    let ups = Observation {
        measurement: "ups".into(),
        tags: vec![("site".into(), "hn".into()), ("device".into(), "~ups1".into())],
        fields: vec![("on_battery".into(), ObsValue::Bool(true))],
        ts: 1,
    };
    let t0 = Instant::now();
    engine.observe_at(&[ups], t0);
    engine.evaluate_at(t0, crate::alarm::now_ms());
    let a = engine.alarms().into_iter().find(|a| a.name == "ups_on_battery" && a.state == State::Firing).unwrap();
    let users = Users::open(&dir.join("users.db")).unwrap();
    users.add("nam", Role::Operator, "mật-khẩu-dài-1", None, 1).unwrap();
    users.add("lan", Role::Viewer, "mật-khẩu-dài-2", None, 1).unwrap();
    users.add("old", Role::Operator, "mật-khẩu-dài-3", None, 1).unwrap();
    users.disable("old", 2).unwrap();
    let audit = Arc::new(Audit::open(&dir.join("audit.db"), 400).unwrap());
    (Ctx::new(engine, users, audit), a.fingerprint)
}

fn press(from: i64, data: &str) -> Press {
    let q = json!({"id": "q1", "from": {"id": from, "username": "minh\u{1b}[2J"}, "data": data,
        "message": {"message_id": 7, "chat": {"id": -1001}, "text": "[NGHIÊM TRỌNG] ups_on_battery",
            "reply_markup": {"inline_keyboard": [[{"text": "Xác nhận", "callback_data": data},
                {"text": "Tạm tắt 1 giờ", "callback_data": data.replace("ack:", "sil1h:")}]]}}});
    Press::parse(&q).unwrap()
}

/// The audit log as (actor, role, source, action, target, comment, outcome), oldest first.
fn audit_rows(c: &Ctx) -> Vec<[String; 7]> {
    let mut rows = c.audit.query(&crate::audit::Filter::default()).unwrap();
    rows.reverse();
    rows.into_iter().map(|r| [r.actor, r.role, r.source, r.action, r.target, r.comment, r.outcome]).collect()
}

fn row(cells: [&str; 7]) -> [String; 7] {
    cells.map(str::to_string)
}

#[test]
fn an_allowed_operator_acknowledges_from_telegram_as_from_the_console_and_it_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (c, fp) = setup(dir.path());
    let data = format!("ack:{fp}");
    let out = c.handle(TOKEN, &press(111, &data));
    assert_eq!(
        out,
        Outcome {
            answer: "Đã xác nhận cảnh báo (nam).".into(),
            alert: false,
            edit: Some((
                Some("— nam đã xác nhận qua Telegram.".into()),
                json!({"inline_keyboard": [[{"text": "Tạm tắt 1 giờ", "callback_data": format!("sil1h:{fp}")}]]})
            )),
        }
    );
    let a = c.engine.alarms().into_iter().find(|a| a.fingerprint == fp).unwrap();
    let ack = a.ack.unwrap();
    assert_eq!((ack.by.as_str(), ack.comment.as_str()), ("nam", "Telegram"));
    assert_eq!(audit_rows(&c), vec![row(["nam", "operator", "telegram:111", "ack", &fp, "nam: Telegram", "ok"])]);
}

#[test]
fn the_silence_button_silences_exactly_that_alarm_for_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let (c, fp) = setup(dir.path());
    let before = crate::alarm::now_ms();
    let out = c.handle(TOKEN, &press(111, &format!("sil1h:{fp}")));
    assert_eq!(out.answer, "Đã tạm tắt cảnh báo trong 1 giờ (nam).");
    assert_eq!(out.edit.as_ref().unwrap().0.as_deref(), Some("— nam đã tạm tắt 1 giờ qua Telegram."));
    let s = c.engine.silences().into_iter().next().unwrap();
    // The device `~ups1` is matched as written, not read as a regular expression.
    let want: BTreeMap<String, String> = [("alertname", "ups_on_battery"), ("device", "~\\~ups1"), ("site", "hn")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(s.matchers.raw(), &want);
    assert_eq!((s.author.as_str(), s.reason.as_str()), ("nam", "Telegram"));
    assert!(s.ends_ms - s.starts_ms == SILENCE_MS && s.starts_ms >= before, "{s:?}");
    let rows = audit_rows(&c);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][..5],
        row(["nam", "operator", "telegram:111", "silence_create", &s.id.to_string(), "", ""])[..5]
    );
    assert!(rows[0][5].ends_with(": Telegram"), "{:?}", rows[0]);
}

#[test]
fn a_press_by_anyone_not_allowed_does_nothing_and_is_audited_as_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (c, fp) = setup(dir.path());
    let refused = Outcome {
        answer:
            "Tài khoản Telegram của bạn không được phép xử lý cảnh báo. Hãy nhờ quản trị viên thêm bạn vào danh sách."
                .into(),
        alert: true,
        edit: None,
    };
    for from in [999, 222, 333, 444] {
        assert_eq!(c.handle(TOKEN, &press(from, &format!("ack:{fp}"))), refused, "{from}");
    }
    // The right button to another bot is no receiver's (and so in `alarms.lang`).
    let other = c.handle("999:other", &press(111, &format!("ack:{fp}")));
    assert_eq!(
        (other.answer.as_str(), other.alert),
        ("Your Telegram account may not act on alarms. Ask an administrator to add you to the list.", true)
    );
    let a = c.engine.alarms().into_iter().find(|a| a.fingerprint == fp).unwrap();
    assert_eq!(a.ack, None);
    assert_eq!(c.engine.silences(), Vec::new());
    let who = "Telegram user";
    assert_eq!(
        audit_rows(&c),
        vec![
            row([
                "-",
                "-",
                "telegram:999",
                "telegram_refused",
                &fp,
                &format!("{who} 999 (@minh\u{FFFD}[2J): not in the allow-list of receiver `tg`"),
                "refused"
            ]),
            row([
                "lan",
                "viewer",
                "telegram:222",
                "telegram_refused",
                &fp,
                &format!(
                    "{who} 222 (@minh\u{FFFD}[2J): console user `lan` has role viewer; acting on alarms needs operator"
                ),
                "refused"
            ]),
            row([
                "ghost",
                "-",
                "telegram:333",
                "telegram_refused",
                &fp,
                &format!("{who} 333 (@minh\u{FFFD}[2J): console user `ghost` does not exist"),
                "refused"
            ]),
            row([
                "old",
                "operator",
                "telegram:444",
                "telegram_refused",
                &fp,
                &format!("{who} 444 (@minh\u{FFFD}[2J): console user `old` is disabled"),
                "refused"
            ]),
            row([
                "-",
                "-",
                "telegram:111",
                "telegram_refused",
                &fp,
                &format!(
                    "{who} 111 (@minh\u{FFFD}[2J): chat -1001 is not the chat of a Telegram receiver with buttons of this bot"
                ),
                "refused"
            ]),
        ]
    );
    // Pressing on: answered each time, recorded once a minute.
    assert_eq!(c.handle(TOKEN, &press(999, &format!("sil1h:{fp}"))), refused);
    assert_eq!(audit_rows(&c).len(), 5);
}

#[test]
fn a_gone_alarm_and_a_strange_button_are_answered_politely() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = setup(dir.path());
    let gone = c.handle(TOKEN, &press(111, "ack:00000000000000aa"));
    assert_eq!(gone.answer, "Cảnh báo này không còn: đã hết hoặc đã hết hạn.");
    // Both of its buttons go.
    assert_eq!(gone.edit, Some((None, json!({"inline_keyboard": []}))));
    assert_eq!(c.handle(TOKEN, &press(111, "sil1h:00000000000000aa")).answer, gone.answer);
    let strange = c.handle(TOKEN, &press(999, "rm -rf"));
    assert_eq!(strange, Outcome { answer: "Nút này không còn dùng được.".into(), alert: false, edit: None });
    assert_eq!(audit_rows(&c), Vec::<[String; 7]>::new());
}

#[test]
fn the_pressed_chat_chooses_the_receiver_by_number_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let at = |id: i64, name: Option<&str>| {
        receiver_of(&c, TOKEN, &Chat { id, username: name.map(str::to_string) }).map(|r| r.name.as_str())
    };
    assert_eq!(at(-1001, None), Some("tg"));
    assert_eq!(at(-1002, Some("oncall_hn")), None, "`quiet` has no allow-list");
    assert_eq!(at(-1002, None), None);
    assert_eq!(allowed(c.receivers[0].telegram.as_ref().unwrap(), 222), Some("lan"));
    assert_eq!(allowed(c.receivers[0].telegram.as_ref().unwrap(), 555), None);
}

#[test]
fn a_console_user_may_act_only_enabled_and_at_least_an_operator() {
    let u = |role: Role, disabled: bool| User {
        name: "nam".into(),
        role,
        disabled,
        lang: None,
        created_ms: 0,
        changed_ms: 0,
        epoch: 1,
    };
    assert_eq!(may_act("nam", Some(&u(Role::Operator, false))), Ok(()));
    assert_eq!(may_act("nam", Some(&u(Role::Admin, false))), Ok(()));
    assert_eq!(
        may_act("nam", Some(&u(Role::Viewer, false))),
        Err("console user `nam` has role viewer; acting on alarms needs operator".into())
    );
    assert_eq!(may_act("nam", Some(&u(Role::Admin, true))), Err("console user `nam` is disabled".into()));
    assert_eq!(may_act("nam", None), Err("console user `nam` does not exist".into()));
}

#[test]
fn a_press_that_is_not_one_is_refused_with_words() {
    for (q, why) in [
        (json!({}), "the callback query has no usable `id`"),
        (json!({"id": "", "from": {"id": 1}}), "the callback query has no usable `id`"),
        (json!({"id": "x".repeat(300), "from": {"id": 1}}), "the callback query has no usable `id`"),
        (json!({"id": "q", "from": {"id": 1.5}}), "the callback query has no `from.id`"),
        (json!({"id": "q", "from": "me"}), "the callback query has no `from.id`"),
    ] {
        assert_eq!(Press::parse(&q), Err(why.to_string()), "{q}");
    }
    // No message (or a message without a chat): read, and refused later.
    let p = Press::parse(&json!({"id": "q", "from": {"id": 1}, "data": 5, "message": [1]})).unwrap();
    assert_eq!((p.chat, p.data, p.text, p.markup), (None, None, None, None));
}

#[test]
fn the_line_of_who_acted_fits_below_the_longest_notice() {
    assert_eq!(with_line("notice\n", "— nam"), "notice\n\n— nam");
    let long = with_line(&"x".repeat(MAX_TEXT_CHARS), "— nam đã xác nhận qua Telegram.");
    assert_eq!(long.chars().count(), MAX_TEXT_CHARS);
    assert!(long.ends_with("…\n\n— nam đã xác nhận qua Telegram."), "{}", &long[long.len() - 60..]);
}

/// Regression (review): past 1024 refused Telegram users in a minute every
/// further refusal was audited whole; the newcomers now share one entry.
#[test]
fn a_crowd_of_refused_presses_is_folded_past_the_bound_too() {
    let mut r = Refusals::default();
    let now = Instant::now();
    for user in 0..MAX_REFUSERS as i64 {
        assert!(r.first_in_window(user, now), "{user}");
    }
    assert!(!r.first_in_window(5, now), "a known user's second refusal is folded");
    assert!(r.first_in_window(90_001, now), "the first newcomer past the bound is written");
    assert!(!r.first_in_window(90_002, now), "the next newcomers are folded with it");
    assert!(!r.first_in_window(90_001, now));
    // A minute on, all are written again.
    let later = now + REFUSAL_WINDOW;
    assert!(r.first_in_window(90_002, later));
    assert!(r.first_in_window(5, later));
}
