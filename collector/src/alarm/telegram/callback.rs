//! The buttons of a Telegram notice: what each carries back to the bot
//! (`callback_data`, at most 64 bytes: the action and the alarm's
//! fingerprint, `ack:3f2a…` or `sil1h:3f2a…`), the keyboard of a message,
//! and the keyboard left after a press.

use serde_json::{Value, json};

use crate::i18n::Lang;

/// Telegram's limit for a button's `callback_data`, in bytes.
pub const MAX_CALLBACK_BYTES: usize = 64;

/// The longest fingerprint a button carries (dcwatch's are 16 hex digits).
const MAX_FINGERPRINT_CHARS: usize = 32;

/// The longest text of a button dcwatch writes or keeps.
const MAX_BUTTON_CHARS: usize = 64;

/// Most buttons of one message (Telegram's limit is 100).
const MAX_BUTTONS: usize = 100;

/// What a button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Acknowledge the alarm.
    Ack,
    /// Silence the alarm (its name and labels) for one hour.
    Silence1h,
}

impl Action {
    fn code(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Silence1h => "sil1h",
        }
    }

    /// The action's name in the audit log, as the API's.
    pub fn audit_name(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Silence1h => "silence_create",
        }
    }
}

/// A fingerprint as dcwatch writes them: lowercase hex digits.
fn fingerprint_ok(fp: &str) -> bool {
    (1..=MAX_FINGERPRINT_CHARS).contains(&fp.len())
        && fp.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The `callback_data` of `action` on the alarm `fp`; None for a
/// fingerprint dcwatch would not have written (no button then).
pub fn encode(action: Action, fp: &str) -> Option<String> {
    fingerprint_ok(fp).then(|| format!("{}:{fp}", action.code()))
}

/// The action and fingerprint of a `callback_data`, if it is one dcwatch
/// wrote; anything else (a garbled or forged press) is None.
pub fn decode(data: &str) -> Option<(Action, &str)> {
    if data.len() > MAX_CALLBACK_BYTES {
        return None;
    }
    let (code, fp) = data.split_once(':')?;
    let action = match code {
        "ack" => Action::Ack,
        "sil1h" => Action::Silence1h,
        _ => return None,
    };
    fingerprint_ok(fp).then_some((action, fp))
}

fn button(text: &str, action: Action, fp: &str) -> Option<Value> {
    let data = encode(action, fp)?;
    Some(json!({"text": super::super::notify::cut(text, MAX_BUTTON_CHARS), "callback_data": data}))
}

/// The keyboard of a message of notices (`payload`s, one or a group): for
/// each alarm firing and not acknowledged, "Xác nhận" and "Tạm tắt 1 giờ"
/// (in `lang`); in a message of several alarms, each pair is named by its
/// alarm (and the start of its fingerprint when two share a name). None
/// when no alarm of the message can be acted on (resolved, a summary).
pub fn keyboard(ps: &[Value], lang: Lang) -> Option<Value> {
    let t = lang.telegram();
    let mut alarms: Vec<(&str, String)> = Vec::new();
    for p in ps {
        let actionable = p["status"] == "firing" && p["notice"] != "summary" && p["acknowledged_by"].is_null();
        let Some(fp) = p["fingerprint"].as_str().filter(|fp| actionable && fingerprint_ok(fp)) else { continue };
        if !alarms.iter().any(|(f, _)| *f == fp) {
            alarms.push((fp, crate::status::printable(p["name"].as_str().unwrap_or(""))));
        }
    }
    let rows: Vec<Value> = match alarms.as_slice() {
        [] => return None,
        [(fp, _)] => vec![json!([button(t.ack, Action::Ack, fp)?, button(t.silence_1h, Action::Silence1h, fp)?])],
        many => many
            .iter()
            .take(MAX_BUTTONS / 2)
            .map(|(fp, name)| {
                let twice = many.iter().filter(|(_, n)| n == name).count() > 1;
                let named = if twice { format!("{name} {}", &fp[..fp.len().min(8)]) } else { name.clone() };
                json!([
                    button(&format!("{}: {named}", t.ack), Action::Ack, fp),
                    button(&format!("{}: {named}", t.silence_1h), Action::Silence1h, fp),
                ])
            })
            .collect(),
    };
    Some(json!({"inline_keyboard": rows}))
}

/// The keyboard a message keeps after a press: the buttons of `markup`
/// (the message's `reply_markup`, as Telegram gives it back) that dcwatch
/// wrote, less the one pressed (`pressed`), and less every button of the
/// alarm `gone` (one that no longer exists). Texts are cut and rows left
/// empty dropped; an empty keyboard takes the buttons away.
pub fn remaining(markup: Option<&Value>, pressed: &str, gone: Option<&str>) -> Value {
    let rows = markup.and_then(|m| m["inline_keyboard"].as_array()).map_or(&[][..], Vec::as_slice);
    let mut kept = 0;
    let mut out = Vec::new();
    for row in rows.iter().take(MAX_BUTTONS) {
        let mut new_row = Vec::new();
        for b in row.as_array().map_or(&[][..], Vec::as_slice).iter().take(MAX_BUTTONS) {
            let (Some(data), Some(text)) = (b["callback_data"].as_str(), b["text"].as_str()) else { continue };
            let Some((_, fp)) = decode(data) else { continue };
            if data == pressed || gone == Some(fp) || kept == MAX_BUTTONS {
                continue;
            }
            kept += 1;
            let text = super::super::notify::cut(&crate::status::printable(text), MAX_BUTTON_CHARS);
            new_row.push(json!({"text": text, "callback_data": data}));
        }
        if !new_row.is_empty() {
            out.push(Value::Array(new_row));
        }
    }
    json!({"inline_keyboard": out})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_names_the_action_and_the_fingerprint_and_reads_back() {
        assert_eq!(encode(Action::Ack, "3f2a9c0d11e4b5a6").as_deref(), Some("ack:3f2a9c0d11e4b5a6"));
        assert_eq!(encode(Action::Silence1h, "3f2a9c0d11e4b5a6").as_deref(), Some("sil1h:3f2a9c0d11e4b5a6"));
        for action in [Action::Ack, Action::Silence1h] {
            let data = encode(action, "0123456789abcdef").unwrap();
            assert_eq!(decode(&data), Some((action, "0123456789abcdef")));
        }
        // The longest fingerprint a button takes still fits Telegram's 64 bytes.
        let longest = encode(Action::Silence1h, &"f".repeat(MAX_FINGERPRINT_CHARS)).unwrap();
        assert_eq!(longest.len(), 38);
        assert!(longest.len() <= MAX_CALLBACK_BYTES);
    }

    #[test]
    fn a_fingerprint_dcwatch_would_not_write_gets_no_button() {
        assert_eq!(encode(Action::Ack, ""), None);
        assert_eq!(encode(Action::Ack, "3F2A"), None);
        assert_eq!(encode(Action::Ack, "3f2a:sil1h"), None);
        assert_eq!(encode(Action::Ack, &"a".repeat(MAX_FINGERPRINT_CHARS + 1)), None);
    }

    #[test]
    fn garbled_or_forged_callback_data_is_refused() {
        for data in [
            "",
            "ack",
            "ack:",
            "ack:XYZ",
            "unack:0123456789abcdef",
            "ack:0123456789abcdef:more",
            "ACK:0123456789abcdef",
            "ack :0123456789abcdef",
            "ack:0123456789abcdéf",
            "sil1h:../../etc",
        ] {
            assert_eq!(decode(data), None, "{data:?}");
        }
        assert_eq!(decode(&format!("ack:{}", "a".repeat(70))), None);
    }

    fn notice(fp: &str, name: &str, status: &str, notice: &str) -> Value {
        json!({"fingerprint": fp, "name": name, "status": status, "notice": notice, "acknowledged_by": null})
    }

    #[test]
    fn one_firing_alarm_gets_the_two_buttons_in_the_receivers_language() {
        let p = notice("0123456789abcdef", "ups_on_battery", "firing", "firing");
        assert_eq!(
            keyboard(std::slice::from_ref(&p), Lang::Vi),
            Some(json!({"inline_keyboard": [[
                {"text": "Xác nhận", "callback_data": "ack:0123456789abcdef"},
                {"text": "Tạm tắt 1 giờ", "callback_data": "sil1h:0123456789abcdef"},
            ]]}))
        );
        assert_eq!(
            keyboard(&[p], Lang::En),
            Some(json!({"inline_keyboard": [[
                {"text": "Acknowledge", "callback_data": "ack:0123456789abcdef"},
                {"text": "Silence 1 h", "callback_data": "sil1h:0123456789abcdef"},
            ]]}))
        );
    }

    #[test]
    fn resolved_acknowledged_and_summary_notices_get_no_buttons() {
        let mut acked = notice("0123456789abcdef", "room_hot", "firing", "repeat");
        acked["acknowledged_by"] = json!("nam");
        for p in [
            notice("0123456789abcdef", "room_hot", "resolved", "resolved"),
            acked,
            notice("", "notice_summary", "firing", "summary"),
        ] {
            assert_eq!(keyboard(std::slice::from_ref(&p), Lang::Vi), None, "{p}");
        }
    }

    #[test]
    fn a_group_names_each_alarms_buttons_and_tells_apart_two_of_one_name() {
        let ps = [
            notice("aaaaaaaa00000001", "disk_full", "firing", "firing"),
            notice("bbbbbbbb00000002", "disk_full", "firing", "firing"),
            notice("cccccccc00000003", "power_lost", "firing", "escalated"),
            notice("dddddddd00000004", "room_hot", "resolved", "resolved"),
        ];
        let k = keyboard(&ps, Lang::En).unwrap();
        let texts: Vec<Vec<&str>> = k["inline_keyboard"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|b| b["text"].as_str().unwrap()).collect())
            .collect();
        assert_eq!(
            texts,
            vec![
                vec!["Acknowledge: disk_full aaaaaaaa", "Silence 1 h: disk_full aaaaaaaa"],
                vec!["Acknowledge: disk_full bbbbbbbb", "Silence 1 h: disk_full bbbbbbbb"],
                vec!["Acknowledge: power_lost", "Silence 1 h: power_lost"],
            ]
        );
        assert_eq!(k["inline_keyboard"][2][1]["callback_data"], "sil1h:cccccccc00000003");
    }

    #[test]
    fn after_a_press_the_message_keeps_the_other_buttons_of_dcwatch_only() {
        let markup = json!({"inline_keyboard": [
            [{"text": "Xác nhận", "callback_data": "ack:0123456789abcdef"},
             {"text": "Tạm tắt 1 giờ", "callback_data": "sil1h:0123456789abcdef"}],
            [{"text": "evil", "url": "https://example.com"}, {"text": "x\u{1b}[2J", "callback_data": "sil1h:00000000000000aa"}],
            "not a row",
            [{"text": 5, "callback_data": "ack:00000000000000bb"}],
        ]});
        assert_eq!(
            remaining(Some(&markup), "ack:0123456789abcdef", None),
            json!({"inline_keyboard": [
                [{"text": "Tạm tắt 1 giờ", "callback_data": "sil1h:0123456789abcdef"}],
                [{"text": "x\u{FFFD}[2J", "callback_data": "sil1h:00000000000000aa"}],
            ]})
        );
        // The alarm is gone: both of its buttons go.
        assert_eq!(
            remaining(Some(&markup), "ack:0123456789abcdef", Some("0123456789abcdef")),
            json!({"inline_keyboard": [[{"text": "x\u{FFFD}[2J", "callback_data": "sil1h:00000000000000aa"}]]})
        );
        assert_eq!(remaining(None, "ack:0123456789abcdef", None), json!({"inline_keyboard": []}));
        assert_eq!(remaining(Some(&json!("garbage")), "x", None), json!({"inline_keyboard": []}));
    }
}
