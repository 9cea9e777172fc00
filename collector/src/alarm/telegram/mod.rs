//! Telegram's buttons: notices to a chat whose receiver has an allow-list
//! carry "acknowledge" and "silence 1 h" buttons ([`callback`]); the
//! collector learns of presses by long-polling the Bot API's `getUpdates`
//! (no inbound port), one task per bot, and acts on each ([`press`]).
//!
//! [`run`] keeps one polling task per bot (API URL and token) that some
//! receiver with buttons names, starting and stopping them as reloads
//! change the receivers. A poller asks for `callback_query` updates only,
//! confirms each update by its offset, and backs off (1 s doubling to
//! 60 s, or Telegram's `retry_after`) when the API fails. Presses made
//! while no poller ran are dropped at its start: a press acts when it is
//! made, or not at all.

pub mod callback;
pub mod press;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::Engine;
use super::config::AlarmsConfig;
use crate::audit::Audit;
use press::{Ctx, Outcome, Press};

/// How long Telegram holds a `getUpdates` open when nothing happens, in s.
const LONG_POLL_SECS: u64 = 25;
/// Updates asked for at once.
const UPDATES_PER_CALL: usize = 20;
/// The largest answer read from the API (20 updates with their messages fit well).
const MAX_REPLY_BYTES: usize = 2 << 20;
/// Backoff after a failed call: doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));
/// The least time between two polls that brought nothing (a proxy that
/// answers at once must not make this a busy loop).
const MIN_POLL_GAP: Duration = Duration::from_millis(500);
/// How often the receivers are read for bots to start or stop.
const RECHECK: Duration = Duration::from_secs(5);

/// One bot, as the receivers name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bot {
    pub api_url: String,
    pub token: String,
}

impl Bot {
    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.api_url.trim_end_matches('/'), self.token)
    }

    /// The bot's public id (the token's part before `:`), for logs: the
    /// rest of the token is its secret.
    fn id(&self) -> &str {
        self.token.split(':').next().unwrap_or("?")
    }
}

impl Bot {
    /// A digest of the bot (its API and token) that names it to a peer
    /// without giving its token away.
    pub fn digest(&self) -> String {
        hex::encode(&crate::auth::sha256(&format!("{} {}", self.api_url.trim_end_matches('/'), self.token))[..8])
    }
}

/// Each bot with buttons (by [`Bot::digest`]) and the chats whose presses
/// it serves, for the peer: a collector that does not send leaves a bot to
/// its peer only when the peer serves all its chats of it.
pub fn bot_chats(cfg: &AlarmsConfig) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for t in cfg.receivers.iter().filter_map(|r| r.telegram.as_ref()).filter(|t| t.buttons()) {
        let bot = Bot { api_url: t.api_url.clone(), token: t.bot_token.clone() };
        out.entry(bot.digest()).or_default().insert(t.chat_id.clone());
    }
    out
}

/// The bots of the receivers with buttons.
pub fn bots(cfg: &AlarmsConfig) -> Vec<Bot> {
    let mut v: Vec<Bot> = cfg
        .receivers
        .iter()
        .filter_map(|r| r.telegram.as_ref())
        .filter(|t| t.buttons())
        .map(|t| Bot { api_url: t.api_url.clone(), token: t.bot_token.clone() })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Why a call to the Bot API failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("{0}")]
    Transport(String),
    #[error("HTTP {status}: {description}")]
    Refused { status: u16, description: String, retry_after: Option<u64> },
    #[error("the answer is larger than {MAX_REPLY_BYTES} bytes")]
    TooLarge,
    #[error("the answer is not the Bot API's JSON: {0}")]
    NotJson(String),
}

/// The body of `resp`, at most `max` bytes.
async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, BotError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BotError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| BotError::Transport(e.without_url().to_string()))? {
        if body.len() + chunk.len() > max {
            return Err(BotError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Calls `method` with `body`; the answer's `result`.
async fn call(
    http: &reqwest::Client,
    bot: &Bot,
    method: &str,
    body: &Value,
    timeout: Duration,
) -> Result<Value, BotError> {
    let resp = http
        .post(bot.url(method))
        .timeout(timeout)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        // Without the URL: it holds the bot's token.
        .map_err(|e| {
            BotError::Transport(format!("{method}: {}", dcwatch_common::write::error_chain(&e.without_url())))
        })?;
    let status = resp.status().as_u16();
    let bytes = read_bounded(resp, MAX_REPLY_BYTES).await?;
    // What the server says goes to the log: printable, short, and without
    // the token (a proxy's page may echo the URL).
    let said = |text: &str| {
        let text = dcwatch_common::redact::redact_urls_in(&text.replace(&bot.token, "<bot_token>"));
        crate::alarm::notify::cut(&crate::status::printable(&text), 200)
    };
    let reply: Value = serde_json::from_slice(&bytes).map_err(|e| {
        if (200..300).contains(&status) {
            BotError::NotJson(e.to_string())
        } else {
            // A proxy's error page, say: its start says what happened.
            BotError::Refused { status, description: said(&String::from_utf8_lossy(&bytes)), retry_after: None }
        }
    })?;
    if reply["ok"] == true && (200..300).contains(&status) {
        return Ok(reply["result"].clone());
    }
    let description = said(reply["description"].as_str().unwrap_or(""));
    let retry_after = reply["parameters"]["retry_after"].as_u64();
    Err(BotError::Refused { status, description, retry_after })
}

/// Sends the answer to a press and the message's new state.
async fn answer(http: &reqwest::Client, bot: &Bot, p: &Press, o: &Outcome) {
    let t = Duration::from_secs(10);
    let body =
        json!({"callback_query_id": p.id, "text": crate::alarm::notify::cut(&o.answer, 200), "show_alert": o.alert});
    if let Err(e) = call(http, bot, "answerCallbackQuery", &body, t).await {
        tracing::warn!(bot = %bot.id(), error = %e, "cannot answer a Telegram press");
    }
    let (Some((line, keyboard)), Some(chat), Some(message_id)) = (&o.edit, &p.chat, p.message_id) else { return };
    let edited = match (line, &p.text) {
        (Some(line), Some(text)) => {
            let body = json!({"chat_id": chat.id, "message_id": message_id, "text": press::with_line(text, line),
                "reply_markup": keyboard, "disable_web_page_preview": true});
            call(http, bot, "editMessageText", &body, t).await
        }
        _ => {
            let body = json!({"chat_id": chat.id, "message_id": message_id, "reply_markup": keyboard});
            call(http, bot, "editMessageReplyMarkup", &body, t).await
        }
    };
    if let Err(e) = edited {
        tracing::warn!(bot = %bot.id(), error = %e, "cannot change the pressed Telegram message");
    }
}

/// Sleeps `d`, or less if `stop` says so (then true).
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stop.changed() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// The offset after `updates`, and the presses among them that are new
/// (an update below `offset` was confirmed already and is skipped). An
/// update that is not one is logged and skipped.
pub fn read_updates(updates: &[Value], offset: i64) -> (i64, Vec<Press>) {
    let (mut next, mut presses) = (offset, Vec::new());
    for u in updates.iter().take(UPDATES_PER_CALL * 5) {
        let Some(id) = u["update_id"].as_i64() else {
            tracing::warn!("a Telegram update without an update_id; skipped");
            continue;
        };
        if id < offset {
            continue;
        }
        next = next.max(id.saturating_add(1));
        let Some(q) = u.get("callback_query") else { continue };
        match Press::parse(q) {
            Ok(p) => presses.push(p),
            Err(e) => tracing::warn!(update_id = id, error = %e, "a Telegram press that cannot be read; skipped"),
        }
    }
    (next, presses)
}

/// Polls `bot` for presses and acts on them, until `stop`.
async fn poll(bot: Bot, ctx: Arc<Ctx>, http: reqwest::Client, mut stop: watch::Receiver<bool>) {
    tracing::info!(bot = %bot.id(), "polling Telegram for button presses");
    // None until the presses made before this task are dropped.
    let mut offset: Option<i64> = None;
    let mut backoff = BACKOFF.0;
    loop {
        let body = match offset {
            // The last update only, to start after it.
            None => json!({"offset": -1, "timeout": 0, "allowed_updates": ["callback_query"]}),
            Some(o) => json!({"offset": o, "timeout": LONG_POLL_SECS, "limit": UPDATES_PER_CALL,
                "allowed_updates": ["callback_query"]}),
        };
        let began = Instant::now();
        let timeout = Duration::from_secs(LONG_POLL_SECS + 10);
        let got = tokio::select! {
            _ = stop.changed() => return,
            r = call(&http, &bot, "getUpdates", &body, timeout) => r,
        };
        let got = got.and_then(|r| match r {
            Value::Array(u) => Ok(u),
            _ => Err(BotError::NotJson("`result` is not a list".into())),
        });
        let updates = match got {
            Ok(u) => u,
            Err(e) => {
                let wait = match &e {
                    BotError::Refused { retry_after: Some(s), .. } => Duration::from_secs((*s).min(300)),
                    _ => backoff,
                };
                tracing::warn!(bot = %bot.id(), error = %e, retry_in_s = wait.as_secs(), "Telegram getUpdates failed; will retry");
                backoff = (backoff * 2).min(BACKOFF.1);
                if pause(wait, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        backoff = BACKOFF.0;
        let Some(from) = offset else {
            let (next, skipped) = read_updates(&updates, 0);
            if !skipped.is_empty() {
                tracing::info!(bot = %bot.id(), dropped = skipped.len(), "Telegram presses made before polling began were dropped");
            }
            offset = Some(next);
            continue;
        };
        let (next, presses) = read_updates(&updates, from);
        offset = Some(next);
        for p in presses {
            let (c, token) = (ctx.clone(), bot.token.clone());
            let q = p.clone();
            let outcome = match tokio::task::spawn_blocking(move || c.handle(&token, &q)).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "a Telegram press panicked");
                    continue;
                }
            };
            answer(&http, &bot, &p, &outcome).await;
        }
        if next == from && began.elapsed() < MIN_POLL_GAP && pause(MIN_POLL_GAP - began.elapsed(), &mut stop).await {
            return;
        }
    }
}

/// Keeps one poller per bot of the receivers with buttons, until `stop`.
/// The console's users (`users_db`) are opened when the first such bot
/// appears. With a peer, a bot both have is polled by the collector that
/// sends only (a bot answers one poller at a time: two get 409 Conflict
/// and take each other's presses), when the peer serves every chat of it
/// this one has; the acknowledgement a press makes reaches the peer with
/// the log.
pub async fn run(
    engine: Arc<Engine>,
    users_db: PathBuf,
    audit: Arc<Audit>,
    http: reqwest::Client,
    peering: Option<Arc<crate::peer::Peering>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut running: HashMap<Bot, (watch::Sender<bool>, tokio::task::JoinHandle<()>)> = HashMap::new();
    let mut ctx: Option<Arc<Ctx>> = None;
    let mut tick = tokio::time::interval(RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        let sending = peering.as_ref().is_none_or(|p| p.sending(crate::alarm::now_ms()));
        let cfg = engine.config();
        let chats = bot_chats(&cfg);
        // Not sending, a bot the peer serves (every chat of it this one
        // has) is left to the peer; any other is polled here.
        let wanted: Vec<Bot> = bots(&cfg)
            .into_iter()
            .filter(|b| {
                sending
                    || peering.as_ref().is_none_or(|p| {
                        // (Until the peer has answered once, what it serves is not known: wait.)
                        if !p.peers_known() {
                            return false;
                        }
                        let digest = b.digest();
                        !chats.get(&digest).is_some_and(|c| p.peer_serves_bot(&digest, c))
                    })
            })
            .collect();
        running.retain(|bot, (tx, task)| {
            let keep = wanted.contains(bot) && !task.is_finished();
            if !keep {
                let _ = tx.send(true);
                tracing::info!(bot = %bot.id(), peer_sends = !sending, "stopped polling Telegram");
            }
            keep
        });
        if wanted.is_empty() {
            continue;
        }
        let ctx = match &ctx {
            Some(c) => c.clone(),
            None => {
                let path = users_db.clone();
                match tokio::task::spawn_blocking(move || crate::web::users::Users::open(&path)).await {
                    Ok(Ok(users)) => ctx.insert(Arc::new(Ctx::new(engine.clone(), users, audit.clone()))).clone(),
                    Ok(Err(e)) => {
                        tracing::error!(users_db = %users_db.display(), error = %dcwatch_common::error_chain(&e),
                            "cannot open the console's users; Telegram buttons do nothing until it opens");
                        continue;
                    }
                    Err(_) => continue,
                }
            }
        };
        for bot in wanted {
            running.entry(bot.clone()).or_insert_with(|| {
                let (tx, rx) = watch::channel(false);
                (tx, tokio::spawn(poll(bot, ctx.clone(), http.clone(), rx)))
            });
        }
    }
    for (_, (tx, task)) in running {
        let _ = tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_confirmed_by_offset_and_garbage_among_them_is_skipped() {
        let press = |id: i64, data: &str| {
            json!({"update_id": id, "callback_query": {"id": format!("q{id}"), "from": {"id": 42, "is_bot": false},
                "data": data, "message": {"message_id": 7, "chat": {"id": -1001}, "text": "notice"}}})
        };
        let updates = vec![
            press(10, "ack:0123456789abcdef"),
            json!({"update_id": 11}),
            json!("not an update"),
            json!({"update_id": 12, "callback_query": {"id": "q12"}}),
            json!({"update_id": 13, "callback_query": {"id": "q13", "from": {"id": "forty-two"}}}),
            press(14, &"x".repeat(200)),
            press(9, "ack:0123456789abcdef"),
        ];
        let (next, presses) = read_updates(&updates, 10);
        assert_eq!(next, 15);
        let got: Vec<(&str, i64, Option<&str>)> =
            presses.iter().map(|p| (p.id.as_str(), p.from, p.data.as_deref())).collect();
        // Update 9 was confirmed before; a too-long `data` is no button's.
        assert_eq!(got, vec![("q10", 42, Some("ack:0123456789abcdef")), ("q14", 42, None)]);
        assert_eq!(presses[0].chat, Some(press::Chat { id: -1001, username: None }));
        assert_eq!(read_updates(&[], 15), (15, Vec::new()));
    }

    #[test]
    fn only_receivers_with_an_allow_list_have_their_bot_polled_once() {
        let cfg: AlarmsConfig = dcwatch_common::config::parse(
            "db: /x/a.db\nreceivers:\n  - name: a\n    telegram: {bot_token: '1:A', chat_id: '-1', api_url: 'http://127.0.0.1:9', allow: [{telegram_user: 5, user: nam}]}\n  \
             - name: b\n    telegram: {bot_token: '1:A', chat_id: '-2', api_url: 'http://127.0.0.1:9', allow: [{telegram_user: 6, user: lan}]}\n  \
             - name: c\n    telegram: {bot_token: '2:B', chat_id: '-3'}\n",
            std::path::Path::new("/x/c.yaml"),
        )
        .unwrap();
        assert_eq!(bots(&cfg), vec![Bot { api_url: "http://127.0.0.1:9".into(), token: "1:A".into() }]);
        assert_eq!(bots(&cfg)[0].id(), "1");
    }

    #[test]
    fn a_broken_allow_list_is_reported_at_its_line_and_column() {
        let yaml = "ingest:\n  allow_anonymous: true\nalarms:\n  db: /x/a.db\n  receivers:\n    - name: tg\n      telegram:\n        \
            bot_token: '1:A'\n        chat_id: '-1001'\n        allow:\n          - {telegram_user: 0, user: nam}\n          \
            - {telegram_user: 42, user: 'nam minh'}\n          - {telegram_user: 42, user: lan}\n    \
            - name: tg2\n      telegram:\n        bot_token: '1:A'\n        chat_id: '-1002'\n        api_url: http://127.0.0.1:9\n        \
            allow: [{telegram_user: 7, user: nam}]\n";
        let path = std::path::Path::new("/x/collector.yaml");
        let problems = dcwatch_common::config::parse::<crate::config::CollectorConfig>(yaml, path).unwrap_err();
        let printed = dcwatch_common::config::ConfigError { path: path.into(), problems }.to_string();
        assert_eq!(
            printed.lines().collect::<Vec<_>>(),
            vec![
                "/x/collector.yaml:11:14: alarms.receivers[0] (tg).telegram.allow[0].telegram_user: `0` is not a \
                 Telegram user's id (a positive number; a negative one is a group's); a refused press is logged and \
                 audited with its presser's id",
                "/x/collector.yaml:12:33: alarms.receivers[0] (tg).telegram.allow[1].user: `nam minh` is not a user \
                 name: 1 to 64 letters, digits, `.`, `-`, `_` or `@`",
                "/x/collector.yaml:13:14: alarms.receivers[0] (tg).telegram.allow[2].telegram_user: 42 is listed \
                 twice; list each Telegram user once",
                "/x/collector.yaml:18:9: alarms.receivers[1] (tg2).telegram.api_url: receivers[0] (tg) has buttons \
                 with the same bot through another api_url; a bot is polled once: give both the same api_url",
            ]
        );
    }
}
