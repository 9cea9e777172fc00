//! One press of a notice's button: who pressed (a Telegram user, mapped
//! to a console user by the receiver's allow-list), the checks the API
//! and the console make (the console user exists, is enabled and is an
//! operator or an admin now), the engine's action, the audit record, and
//! what the presser is answered.
//!
//! Everything in a press came from the network: sizes are bounded, and
//! anything that is not what dcwatch sent is refused with words, never a
//! panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::callback::{self, Action};
use crate::alarm::config::{AlarmsConfig, ReceiverConfig, TelegramConfig};
use crate::alarm::{ActionError, Engine};
use crate::audit::{Audit, Event};
use crate::auth::Role;
use crate::i18n::Lang;
use crate::web::users::{User, Users};

/// The comment of an acknowledgement and the reason of a silence made from Telegram.
pub const VIA: &str = "Telegram";

/// How long a silence from the button lasts.
const SILENCE_MS: i64 = 3_600_000;

/// Telegram's limit for a message's text.
const MAX_TEXT_CHARS: usize = 4096;

/// The longest callback query id kept (Telegram's are about 20 digits).
const MAX_ID_CHARS: usize = 256;

/// The chat a pressed message is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: i64,
    pub username: Option<String>,
}

/// A press (`callback_query`), cut to what dcwatch uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Press {
    /// The query's id, for `answerCallbackQuery`.
    pub id: String,
    /// The presser's Telegram user id.
    pub from: i64,
    /// The presser's @name, for the audit comment only (its owner can change it).
    pub username: Option<String>,
    /// What the button carries; None when missing or longer than Telegram allows.
    pub data: Option<String>,
    pub chat: Option<Chat>,
    pub message_id: Option<i64>,
    /// The pressed message's text (to add who acted below it).
    pub text: Option<String>,
    /// The pressed message's keyboard.
    pub markup: Option<Value>,
}

/// A short text of the network, cleaned of control characters and cut.
fn short(v: &Value, max: usize) -> Option<String> {
    v.as_str().map(|s| crate::alarm::notify::cut(&crate::status::printable(s), max))
}

impl Press {
    /// Reads a `callback_query`; refuses one without an id or a presser.
    pub fn parse(q: &Value) -> Result<Press, String> {
        let id = q["id"].as_str().filter(|s| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS);
        let id = id.ok_or("the callback query has no usable `id`")?.to_string();
        let from = q["from"]["id"].as_i64().ok_or("the callback query has no `from.id`")?;
        let m = &q["message"];
        let chat = m["chat"]["id"].as_i64().map(|id| Chat { id, username: short(&m["chat"]["username"], 64) });
        Ok(Press {
            id,
            from,
            username: short(&q["from"]["username"], 64),
            data: q["data"].as_str().filter(|d| d.len() <= callback::MAX_CALLBACK_BYTES).map(str::to_string),
            chat,
            message_id: m["message_id"].as_i64(),
            // Cut, not cleaned: the text is the notice dcwatch sent, and the
            // edit sends it back as plain text.
            text: m["text"].as_str().map(|t| crate::alarm::notify::cut(t, MAX_TEXT_CHARS)),
            markup: m.get("reply_markup").filter(|v| v.is_object()).cloned(),
        })
    }

    /// The audit record's source: `telegram:123456`.
    pub fn source(&self) -> String {
        format!("telegram:{}", self.from)
    }

    fn presser(&self) -> String {
        match &self.username {
            Some(u) => format!("Telegram user {} (@{u})", self.from),
            None => format!("Telegram user {}", self.from),
        }
    }
}

/// The receiver (with buttons) of bot `bot_token` whose chat the pressed
/// message is in: its allow-list is the one that counts. `chat_id` may be
/// written as the chat's number or as its `@name`.
pub fn receiver_of<'a>(cfg: &'a AlarmsConfig, bot_token: &str, chat: &Chat) -> Option<&'a ReceiverConfig> {
    cfg.receivers.iter().find(|r| {
        r.telegram.as_ref().is_some_and(|t| {
            let by_name = || {
                let (Some(want), Some(have)) = (t.chat_id.strip_prefix('@'), chat.username.as_deref()) else {
                    return false;
                };
                want.eq_ignore_ascii_case(have)
            };
            t.buttons() && t.bot_token == bot_token && (t.chat_id.trim() == chat.id.to_string() || by_name())
        })
    })
}

/// The console user the Telegram user `telegram_user` acts as, if the
/// receiver's allow-list names them.
pub fn allowed(t: &TelegramConfig, telegram_user: i64) -> Option<&str> {
    t.allow.iter().find(|a| a.telegram_user == telegram_user).map(|a| a.user.as_str())
}

/// Why the console user `name` (as users.db has them now) may not act, if
/// they may not: the same checks as a login and an operator's form.
pub fn may_act(name: &str, u: Option<&User>) -> Result<(), String> {
    match u {
        None => Err(format!("console user `{name}` does not exist")),
        Some(u) if u.disabled => Err(format!("console user `{name}` is disabled")),
        Some(u) if u.role < Role::Operator => {
            Err(format!("console user `{name}` has role {}; acting on alarms needs operator", u.role.as_str()))
        }
        Some(_) => Ok(()),
    }
}

/// What the presser is answered, and how the message changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `answerCallbackQuery`'s text.
    pub answer: String,
    /// Shown as an alert the presser must close (a refusal), not a passing note.
    pub alert: bool,
    /// The message's new state: a line below its text (None: the text
    /// stays) and its keyboard. None: the message stays as it is.
    pub edit: Option<(Option<String>, Value)>,
}

impl Outcome {
    fn note(answer: impl Into<String>) -> Outcome {
        Outcome { answer: answer.into(), alert: false, edit: None }
    }
}

/// Refused presses recorded per Telegram user: the first of a minute
/// whole, the rest of that minute only in the log (a chat member pressing
/// on and on must not fill the audit log).
#[derive(Default)]
struct Refusals(HashMap<i64, Instant>);

const REFUSAL_WINDOW: Duration = Duration::from_secs(60);
const MAX_REFUSERS: usize = 1024;
/// The entry the newcomers past [`MAX_REFUSERS`] share (no Telegram user has it).
const EVERYONE_ELSE: i64 = i64::MIN;

impl Refusals {
    /// Whether `user`'s refusal is the first of its window. Past
    /// [`MAX_REFUSERS`] users in a window every newcomer shares one entry
    /// (as the audit log's own folding does), so a crowd pressing is still
    /// folded, not written whole.
    fn first_in_window(&mut self, user: i64, now: Instant) -> bool {
        self.0.retain(|_, at| now.saturating_duration_since(*at) < REFUSAL_WINDOW);
        let key = if self.0.contains_key(&user) || self.0.len() < MAX_REFUSERS { user } else { EVERYONE_ELSE };
        if self.0.contains_key(&key) {
            return false;
        }
        self.0.insert(key, now);
        true
    }
}

/// What a press acts with: the engine, the console's users, the audit log.
pub struct Ctx {
    pub engine: Arc<Engine>,
    pub users: Users,
    pub audit: Arc<Audit>,
    refusals: Mutex<Refusals>,
}

impl Ctx {
    pub fn new(engine: Arc<Engine>, users: Users, audit: Arc<Audit>) -> Ctx {
        Ctx { engine, users, audit, refusals: Mutex::default() }
    }

    fn refuse(&self, p: &Press, actor: &str, role: &str, target: &str, why: &str, lang: Lang) -> Outcome {
        tracing::warn!(telegram_user = p.from, actor = %actor, target = %target, why = %why, "Telegram press refused");
        if self.refusals.lock().expect("not poisoned").first_in_window(p.from, Instant::now()) {
            let comment = format!("{}: {why}", p.presser());
            let e = Event {
                actor,
                role,
                source: None,
                action: "telegram_refused",
                target,
                comment: &comment,
                refused: true,
            };
            self.audit.record_from(&e, &p.source(), crate::alarm::now_ms());
        }
        Outcome { answer: lang.telegram().refused.to_string(), alert: true, edit: None }
    }

    /// Acts on press `p` to bot `bot_token`. Blocking: reads users.db and
    /// takes the engine's lock.
    pub fn handle(&self, bot_token: &str, p: &Press) -> Outcome {
        let cfg = self.engine.config();
        let receiver = p.chat.as_ref().and_then(|c| receiver_of(&cfg, bot_token, c));
        let lang = receiver.map_or(cfg.lang, |r| cfg.lang_of(&r.name));
        let t = lang.telegram();
        let Some((action, fp)) = p.data.as_deref().and_then(callback::decode) else {
            tracing::warn!(telegram_user = p.from, data = ?p.data.as_deref().map(crate::status::printable), "a Telegram press dcwatch did not make a button for");
            return Outcome::note(t.unknown_button);
        };
        let Some(r) = receiver else {
            let chat = p.chat.as_ref().map_or_else(|| "no chat".to_string(), |c| format!("chat {}", c.id));
            let why = format!("{chat} is not the chat of a Telegram receiver with buttons of this bot");
            return self.refuse(p, "-", "-", fp, &why, lang);
        };
        let Some(tg) = r.telegram.as_ref() else { return Outcome::note(t.failed) };
        let Some(name) = allowed(tg, p.from) else {
            let why = format!("not in the allow-list of receiver `{}`", r.name);
            return self.refuse(p, "-", "-", fp, &why, lang);
        };
        let user = match self.users.get(name) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the console's users for a Telegram press");
                return Outcome::note(t.failed);
            }
        };
        if let Err(why) = may_act(name, user.as_ref()) {
            let role = user.as_ref().map_or("-", |u| u.role.as_str());
            return self.refuse(p, name, role, fp, &why, lang);
        }
        let role = user.as_ref().map_or("-", |u| u.role.as_str());
        let pressed = p.data.as_deref().unwrap_or_default();
        let gone = || Outcome {
            answer: t.gone.to_string(),
            alert: false,
            edit: Some((None, callback::remaining(p.markup.as_ref(), pressed, Some(fp)))),
        };
        let done = |answer: String, line: String| Outcome {
            answer,
            alert: false,
            edit: Some((Some(line), callback::remaining(p.markup.as_ref(), pressed, None))),
        };
        let audit = |target: &str, comment: &str| {
            let e =
                Event { actor: name, role, source: None, action: action.audit_name(), target, comment, refused: false };
            self.audit.record_from(&e, &p.source(), crate::alarm::now_ms());
        };
        match action {
            Action::Ack => match self.engine.ack(fp, name, VIA) {
                Ok(_) => {
                    audit(fp, &format!("{name}: {VIA}"));
                    done((t.acked)(name), (t.acked_line)(name))
                }
                Err(ActionError::NoAlarm(_)) => gone(),
                Err(e) => {
                    tracing::error!(error = %e, fingerprint = %fp, "cannot acknowledge an alarm from Telegram");
                    Outcome::note(t.failed)
                }
            },
            Action::Silence1h => {
                let Some(a) = self.engine.alarms().into_iter().find(|a| a.fingerprint == fp) else { return gone() };
                let now = crate::alarm::now_ms();
                let new = crate::alarm::silence::NewSilence {
                    matchers: crate::alarm::matchers::exact_matchers(&a.name, &a.labels),
                    starts_ms: now,
                    ends_ms: now + SILENCE_MS,
                    author: name.to_string(),
                    reason: VIA.to_string(),
                };
                match self.engine.add_silence(new, now) {
                    Ok(s) => {
                        audit(&s.id.to_string(), &format!("{:?} until {}: {}", s.matchers.raw(), s.ends_ms, s.reason));
                        done((t.silenced)(name), (t.silenced_line)(name))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, fingerprint = %fp, "a silence from Telegram was refused");
                        Outcome::note(t.failed)
                    }
                }
            }
        }
    }
}

/// The pressed message's text with `line` below it, within Telegram's limit.
pub fn with_line(text: &str, line: &str) -> String {
    let room = MAX_TEXT_CHARS.saturating_sub(line.chars().count() + 2);
    format!("{}\n\n{line}", crate::alarm::notify::cut(text.trim_end(), room))
}

#[cfg(test)]
#[path = "press_tests.rs"]
mod tests;
