//! Acknowledging and silencing from a Telegram notice, end to end: the real
//! collector sends a notice with its buttons and its link to a fake Bot API
//! written here, long-polls it for presses, and acts on them as the console
//! would — for a Telegram user of the allow-list, as their console user;
//! for anyone else, not at all, with a refusal and an audit record. The
//! email and webhook notices carry the link too.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dcwatch_tests::*;
use serde_json::{Value, json};

const TOKEN: &str = "telegram-test-token-0123456789";
const BOT: &str = "123456:ABC-secret";
const CHAT: i64 = -1001;
const PUBLIC: &str = "https://dcwatch.example.gov.vn";

/// What the fake Bot API has been asked and what it will hand out.
#[derive(Default)]
struct Inner {
    /// (method, body) of every call, in order.
    calls: Vec<(String, Value)>,
    /// Updates not yet confirmed by an offset.
    pending: VecDeque<Value>,
    next_message_id: i64,
    /// The first `getUpdates` calls answered with garbage and an error.
    failures_left: usize,
}

/// A stand-in for Telegram's Bot API: `sendMessage`, `getUpdates` (long
/// polls held up to 1 s here), `answerCallbackQuery`, `editMessageText` and
/// `editMessageReplyMarkup`, for one bot token. Its first two `getUpdates`
/// are answered badly: a 200 that is not JSON, then a 502.
struct FakeBotApi {
    port: u16,
    inner: Arc<Mutex<Inner>>,
    _rt: tokio::runtime::Runtime,
}

impl FakeBotApi {
    fn start() -> FakeBotApi {
        use axum::extract::{Path, State};
        use axum::http::StatusCode;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let inner = Arc::new(Mutex::new(Inner { failures_left: 2, ..Inner::default() }));
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = axum::Router::new()
            .route(
                "/{bot}/{method}",
                axum::routing::post(
                    |State(inner): State<Arc<Mutex<Inner>>>,
                     Path((bot, method)): Path<(String, String)>,
                     body: String| async move {
                        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        if bot != format!("bot{BOT}") {
                            let refused = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
                            return (StatusCode::UNAUTHORIZED, refused.to_string());
                        }
                        let failure = {
                            let mut i = inner.lock().unwrap();
                            i.calls.push((method.clone(), body.clone()));
                            let fail = method == "getUpdates" && i.failures_left > 0;
                            i.failures_left -= usize::from(fail);
                            fail.then_some(i.failures_left)
                        };
                        match failure {
                            Some(1) => (StatusCode::OK, "{\"ok\": tru".to_string()),
                            // A proxy's page that echoes the URL, token and all.
                            Some(_) => {
                                (StatusCode::BAD_GATEWAY, format!("<html>502 Bad Gateway: /bot{BOT}/{method}</html>"))
                            }
                            None => (StatusCode::OK, FakeBotApi::answer(&inner, &method, &body).await.to_string()),
                        }
                    },
                ),
            )
            .with_state(inner.clone());
        rt.spawn(async move { axum::serve(listener, app).await });
        FakeBotApi { port, inner, _rt: rt }
    }

    async fn answer(inner: &Mutex<Inner>, method: &str, body: &Value) -> Value {
        match method {
            "sendMessage" => {
                let mut i = inner.lock().unwrap();
                i.next_message_id += 1;
                json!({"ok": true, "result": {"message_id": i.next_message_id, "chat": {"id": CHAT}, "text": body["text"]}})
            }
            "getUpdates" => {
                let offset = body["offset"].as_i64().unwrap_or(0);
                let wait = body["timeout"].as_u64().unwrap_or(0).min(1);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
                loop {
                    {
                        let mut i = inner.lock().unwrap();
                        if offset == -1 {
                            return json!({"ok": true, "result": i.pending.back().into_iter().collect::<Vec<_>>()});
                        }
                        // An offset confirms every update below it.
                        i.pending.retain(|u| u["update_id"].as_i64().unwrap() >= offset);
                        if !i.pending.is_empty() || tokio::time::Instant::now() >= deadline {
                            return json!({"ok": true, "result": i.pending.iter().collect::<Vec<_>>()});
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            _ => json!({"ok": true, "result": true}),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bodies of the calls of `method` so far.
    fn calls(&self, method: &str) -> Vec<Value> {
        self.inner.lock().unwrap().calls.iter().filter(|(m, _)| m == method).map(|(_, b)| b.clone()).collect()
    }

    /// A press of the button `data` of message `message` by Telegram user `from`.
    fn press(&self, update_id: i64, from: i64, message: &Value, data: &str) {
        let q = json!({"update_id": update_id, "callback_query": {
            "id": format!("q{update_id}"), "from": {"id": from, "is_bot": false, "first_name": "Minh"},
            "chat_instance": "1", "data": data, "message": message}});
        self.inner.lock().unwrap().pending.push_back(q);
    }

    /// The answer to press `update_id`, once the collector has sent it.
    fn answer_to(&self, update_id: i64) -> Value {
        let id = format!("q{update_id}");
        wait_for(&format!("the answer to press {update_id}"), || {
            self.calls("answerCallbackQuery").into_iter().find(|b| b["callback_query_id"] == id.as_str())
        })
    }
}

fn start(api: &FakeBotApi, hook: &Capture, smtp: &SmtpServer) -> Collector {
    let dir = TempDir::new().expect("tempdir");
    let yaml = format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n\
         ingest:\n  tokens:\n    - name: agent\n      token: {TOKEN}\n      site: hn-dc1\n      poller: true\n\
         alarms:\n  db: {alarms}\n  evaluate_every_ms: 200\n  \
         rules:\n    - name: room_hot\n      measurement: env\n      field: temperature_c\n      above: 30\n      \
         severity: critical\n      summary: \"Phòng máy {{device}} nóng: {{value}} °C\"\n  \
         receivers:\n    - name: tg\n      telegram:\n        bot_token: \"{BOT}\"\n        chat_id: \"{CHAT}\"\n        \
         api_url: {api}\n        allow:\n          - {{telegram_user: 111, user: nam}}\n          \
         - {{telegram_user: 222, user: lan}}\n    \
         - name: hook\n      webhook: {{url: {hook}/hook}}\n    \
         - name: mail\n      lang: en\n      email: {{host: 127.0.0.1, port: {smtp}, tls: none, from: dcwatch@dc.local, to: [oncall@dc.local]}}\n\
         web:\n  users_db: {users}\n  public_url: {PUBLIC}/\n",
        alarms = dir.path().join("alarms.db").display(),
        users = dir.path().join("users.db").display(),
        api = api.url(),
        hook = hook.url(),
        smtp = smtp.port,
    );
    let c = Collector::start_in(dir, &yaml);
    for (name, role) in [("nam", "operator"), ("lan", "viewer")] {
        c.add_user(name, role, "mat-khau-dai-du-1");
    }
    c
}

fn get(c: &Collector, path: &str) -> Value {
    let r = http(None).get(format!("{}{path}", c.url())).bearer_auth(API_TOKEN).send().expect("api");
    serde_json::from_slice(&r.bytes().expect("body")).expect("json")
}

fn alarm(c: &Collector, fp: &str) -> Value {
    get(c, "/api/alarms")["alarms"].as_array().unwrap().iter().find(|a| a["fingerprint"] == fp).cloned().unwrap()
}

/// The audit records of `source`, oldest first, as (actor, role, action, target, comment, outcome).
fn audit(c: &Collector, source: &str) -> Vec<[String; 6]> {
    let rows = get(c, &format!("/api/audit?source={source}"))["audit"].as_array().unwrap().clone();
    let s = |r: &Value, k: &str| r[k].as_str().unwrap().to_string();
    rows.iter()
        .rev()
        .map(|r| [s(r, "actor"), s(r, "role"), s(r, "action"), s(r, "target"), s(r, "comment"), s(r, "outcome")])
        .collect()
}

fn strings<const N: usize>(cells: [&str; N]) -> [String; N] {
    cells.map(str::to_string)
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_telegram_notice_links_to_the_console_and_its_buttons_ack_and_silence_for_allowed_users_only() {
    let (api, hook) = (FakeBotApi::start(), Capture::start());
    let smtp = SmtpServer::start_on(free_port());
    let c = start(&api, &hook, &smtp);
    // Past a garbled answer and a 502 (each retried after a pause), the
    // poller has dropped what came before it and waits for presses.
    wait_for("the collector's long poll", || api.calls("getUpdates").iter().any(|b| b["timeout"] == 25).then_some(()));
    let polls = api.calls("getUpdates");
    assert_eq!(polls[..3].iter().map(|b| b["offset"].as_i64()).collect::<Vec<_>>(), vec![Some(-1); 3]);
    let log = c.proc.output();
    assert_eq!(log.matches("Telegram getUpdates failed; will retry").count(), 2, "{log}");
    assert!(
        log.contains("error=HTTP 502: <html>502 Bad Gateway: /bot<bot_token>/getUpdates</html> retry_in_s=2"),
        "{log}"
    );
    let (status, text) = c.post("/api/v2/write", Some(TOKEN), false, b"env,device=room1 temperature_c=35.5");
    assert_eq!(status, 204, "{text}");

    // The notice: its text ends with the link, its buttons name the alarm.
    let sent = wait_for("the Telegram notice", || api.calls("sendMessage").into_iter().next());
    let fp = wait_for("the alarm", || {
        let alarms = get(&c, "/api/alarms")["alarms"].as_array()?.clone();
        alarms.iter().find(|a| a["name"] == "room_hot").map(|a| a["fingerprint"].as_str().unwrap().to_string())
    });
    let page = format!("{PUBLIC}/ui/alarms/{fp}");
    assert_eq!(sent["chat_id"], CHAT.to_string());
    let text = sent["text"].as_str().unwrap();
    assert!(text.starts_with("[NGHIÊM TRỌNG] ĐANG CẢNH BÁO room_hot: Phòng máy room1 nóng: 35,5 °C\n"), "{text}");
    assert!(text.ends_with(&format!("mã cảnh báo: {fp}\nxem trên bảng điều khiển: {page}\n")), "{text}");
    let (ack, silence) = (format!("ack:{fp}"), format!("sil1h:{fp}"));
    assert_eq!(
        sent["reply_markup"],
        json!({"inline_keyboard": [[
            {"text": "Xác nhận", "callback_data": ack},
            {"text": "Tạm tắt 1 giờ", "callback_data": silence},
        ]]})
    );
    // The webhook's notice carries the link as `generatorURL`, the email as a line.
    let notice = wait_for("the webhook notice", || {
        hook.requests()
            .iter()
            .find_map(|(_, b)| serde_json::from_slice::<Value>(b).ok().filter(|n| n["fingerprint"] == fp))
    });
    assert_eq!(notice["generatorURL"], page.as_str());
    let mail = wait_for("the email", || smtp.messages().into_iter().next());
    let body = mail["body"].as_str().unwrap().replace("\r\n", "\n");
    assert!(body.contains(&format!("\nfingerprint: {fp}\nopen in the console: {page}\n")), "{body}");

    let message = json!({"message_id": 1, "chat": {"id": CHAT, "type": "supergroup"}, "text": text,
        "reply_markup": sent["reply_markup"]});
    let refusal =
        "Tài khoản Telegram của bạn không được phép xử lý cảnh báo. Hãy nhờ quản trị viên thêm bạn vào danh sách.";

    // Someone not on the list presses both buttons: nothing happens to the alarm.
    api.press(1, 999_001, &message, &ack);
    api.press(2, 999_001, &message, &silence);
    for id in [1, 2] {
        let a = api.answer_to(id);
        assert_eq!((a["text"].as_str(), a["show_alert"].as_bool()), (Some(refusal), Some(true)));
    }
    // A viewer on the list may not act either.
    api.press(3, 222, &message, &ack);
    assert_eq!(api.answer_to(3)["text"], refusal);
    assert_eq!(alarm(&c, &fp)["ack"], Value::Null);
    assert_eq!(get(&c, "/api/silences")["silences"], json!([]));
    let who = "Telegram user";
    assert_eq!(
        audit(&c, "telegram:999001"),
        vec![strings([
            "-",
            "-",
            "telegram_refused",
            &fp,
            &format!("{who} 999001: not in the allow-list of receiver `tg`"),
            "refused"
        ])],
        "the second refusal of a minute is only logged"
    );
    assert_eq!(
        audit(&c, "telegram:222"),
        vec![strings([
            "lan",
            "viewer",
            "telegram_refused",
            &fp,
            &format!("{who} 222: console user `lan` has role viewer; acting on alarms needs operator"),
            "refused"
        ])]
    );
    assert_eq!(api.calls("editMessageText"), Vec::<Value>::new());

    // nam acknowledges: the alarm shows it, the audit has it, the message says so.
    api.press(4, 111, &message, &ack);
    let a = api.answer_to(4);
    assert_eq!((a["text"].as_str(), a["show_alert"].as_bool()), (Some("Đã xác nhận cảnh báo (nam)."), Some(false)));
    let acked = alarm(&c, &fp)["ack"].clone();
    assert_eq!((acked["by"].as_str(), acked["comment"].as_str()), (Some("nam"), Some("Telegram")));
    assert_eq!(audit(&c, "telegram:111"), vec![strings(["nam", "operator", "ack", &fp, "nam: Telegram", "ok"])]);
    let edit = wait_for("the edited message", || api.calls("editMessageText").into_iter().next());
    assert_eq!(
        edit,
        json!({"chat_id": CHAT, "message_id": 1, "text": format!("{}\n\n— nam đã xác nhận qua Telegram.", text.trim_end()),
            "reply_markup": {"inline_keyboard": [[{"text": "Tạm tắt 1 giờ", "callback_data": silence}]]},
            "disable_web_page_preview": true})
    );

    // nam silences it for an hour: a silence of exactly that alarm.
    api.press(5, 111, &message, &silence);
    assert_eq!(api.answer_to(5)["text"], "Đã tạm tắt cảnh báo trong 1 giờ (nam).");
    let silences = get(&c, "/api/silences")["silences"].as_array().unwrap().clone();
    assert_eq!(silences.len(), 1, "{silences:?}");
    let s = &silences[0];
    assert_eq!(s["matchers"], json!({"alertname": "room_hot", "device": "room1", "site": "hn-dc1"}));
    assert_eq!((s["author"].as_str(), s["reason"].as_str()), (Some("nam"), Some("Telegram")));
    assert_eq!(s["ends_ms"].as_i64().unwrap() - s["starts_ms"].as_i64().unwrap(), 3_600_000);
    let rows = audit(&c, "telegram:111");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][..4], strings(["nam", "operator", "silence_create", &s["id"].to_string()]));
    wait_for("the alarm to show its silence", || (alarm(&c, &fp)["silenced_by"] == s["id"]).then_some(()));

    // Every press was confirmed: the next poll asks past the last one.
    wait_for("the offset past press 5", || api.calls("getUpdates").iter().any(|b| b["offset"] == 6).then_some(()));
    // A press of a button of an alarm that is gone is answered politely.
    api.press(6, 111, &message, "ack:00000000000000aa");
    assert_eq!(api.answer_to(6)["text"], "Cảnh báo này không còn: đã hết hoặc đã hết hạn.");
    // The bot's token is the secret part of its URL: never in the log.
    assert!(!c.proc.output().contains("ABC-secret"), "{}", c.proc.output());
}

/// The receiver of a pair's tests: the bot with buttons, for nam.
fn pair_receivers(api: &FakeBotApi) -> String {
    format!(
        "    - name: tg\n      telegram:\n        bot_token: \"{BOT}\"\n        chat_id: \"{CHAT}\"\n        \
         api_url: {}\n        allow:\n          - {{telegram_user: 111, user: nam}}\n",
        api.url()
    )
}

const PAIR_TIMING: &str = "  heartbeat_secs: 1\n  peer_timeout_secs: 3\n  failover_secs: 6\n";

/// A pair of collectors with one bot: a bot answers one poller at a time,
/// so only the collector that sends polls it; when it dies, the other
/// takes the bot over, and a press there acknowledges at both.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn of_a_pair_only_the_sending_collector_polls_the_bot_and_the_other_takes_over_when_it_dies() {
    use dcwatch_tests::pair::{Pair, TOKEN as PAIR_TOKEN};
    let api = FakeBotApi::start();
    let (receivers, timing) = (pair_receivers(&api), PAIR_TIMING);
    let mut pair = Pair::start(&receivers, "", timing);
    for c in [pair.a(), pair.b()] {
        c.add_user("nam", "operator", "mat-khau-dai-du-1");
    }
    let polling = "polling Telegram for button presses";
    wait_for("a to poll the bot", || pair.a().proc.output().contains(polling).then_some(()));
    wait_for("a's long poll", || api.calls("getUpdates").iter().any(|b| b["timeout"] == 25).then_some(()));
    let (code, body) = pair.a().post("/api/v2/write", Some(PAIR_TOKEN), false, b"env,device=room1 temperature_c=35\n");
    assert_eq!(code, 204, "{body}");
    let (code, body) = pair.b().post("/api/v2/write", Some(PAIR_TOKEN), false, b"env,device=room1 temperature_c=35\n");
    assert_eq!(code, 204, "{body}");
    let sent = wait_for("the Telegram notice", || api.calls("sendMessage").into_iter().next());
    assert!(!pair.b().proc.output().contains(polling), "b polls while a sends");

    // a dies: b sends alone now, and polls the bot.
    let _ = pair.a.take().expect("a").kill9();
    wait_for("b to poll the bot", || pair.b().proc.output().contains(polling).then_some(()));
    let fp = sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .and_then(|d| d.strip_prefix("ack:"))
        .expect("ack button")
        .to_string();
    let message = json!({"message_id": 1, "chat": {"id": CHAT, "type": "supergroup"}, "text": sent["text"],
        "reply_markup": sent["reply_markup"]});
    // A press is taken once b's poller has dropped what came before it:
    // a is dead, so a long poll begun from now on is b's.
    let long_polls = || api.calls("getUpdates").iter().filter(|b| b["timeout"] == 25).count();
    let before = long_polls();
    wait_for("b's long poll", || (long_polls() > before).then_some(()));
    api.press(10, 111, &message, &format!("ack:{fp}"));
    let answer = api.answer_to(10);
    assert_eq!(answer["show_alert"], false, "{answer}");
    let acked = wait_for("the alarm acknowledged at b", || {
        let a = get(pair.b(), "/api/alarms")["alarms"]
            .as_array()?
            .iter()
            .find(|a| a["fingerprint"] == fp.as_str())?
            .clone();
        (!a["ack"].is_null()).then_some(a)
    });
    assert_eq!((acked["ack"]["by"].as_str(), acked["ack"]["comment"].as_str()), (Some("nam"), Some("Telegram")));
}

/// The same bot, but site B's receiver is another chat, which a does not
/// serve: b polls the bot itself (each press is then taken by whichever
/// poller Telegram answers; docs/ha.md advises a bot per chat).
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn of_a_pair_the_other_polls_a_bot_whose_chat_the_sender_does_not_serve() {
    let api = FakeBotApi::start();
    let (receivers, timing) = (pair_receivers(&api), PAIR_TIMING);
    let other_chat = format!("chat_id: \"{}\"", CHAT - 1);
    let pair = dcwatch_tests::pair::Pair::start_edited(&receivers, "", timing, |name, _, y| {
        if name == "b" { y.replace(&format!("chat_id: \"{CHAT}\""), &other_chat) } else { y }
    });
    let polling = "polling Telegram for button presses";
    for c in [pair.a(), pair.b()] {
        wait_for("both to poll the bot", || c.proc.output().contains(polling).then_some(()));
    }
}
