//! The pair of collectors on the overview (`peering:`, docs/ha.md): who
//! this collector is, who sends the notices now, and how the other one is
//! doing — from the same state `/api/status` and `status` show.

use maud::{Markup, html};
use serde_json::Value;

use crate::i18n::Lang;

/// The panel, from `Peering::status`'s JSON.
pub fn panel(lang: Lang, tz: &jiff::tz::TimeZone, st: &Value) -> Markup {
    let t = lang.peer();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    };
    let sending = if st["sending"] == true {
        t.sending_here.to_string()
    } else {
        (t.sending_peer)(&text(&st["sender"]), &lang.num(st["hold_s"].as_f64().unwrap_or(0.0), 0))
    };
    html! {
        section.peering aria-label=(t.heading) {
            h2 { (t.heading) }
            p { ((t.this_one)(&text(&st["name"]), &text(&st["rank"]))) }
            p.sending { (sending) }
            table {
                thead { tr {
                    th { (t.peer) } th { (t.rank) } th { (t.state) } th { (t.last_heartbeat) }
                    th { (t.log_lag) } th { (t.last_error) }
                } }
                tbody {
                    @for p in st["peers"].as_array().map_or(&[][..], Vec::as_slice) {
                        @let (state, class) = match (p["reachable"] == true, p["gone"] == true) {
                            (true, _) => (t.reachable, "good"),
                            (false, true) => (t.gone, "bad"),
                            (false, false) => (t.late, "warn"),
                        };
                        tr {
                            td { (text(&p["name"])) }
                            td { (text(&p["rank"])) }
                            td class=(class) { (state) }
                            td { @match p["last_heartbeat_ms"].as_i64() {
                                Some(ms) => (lang.time(ms, tz)),
                                None => (t.never),
                            } }
                            td { (lang.num(p["log_lag"].as_f64().unwrap_or(0.0), 0)) }
                            td { (text(&p["last_error"])) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_says_who_sends_and_how_the_peer_is_in_vietnamese_and_escapes_what_the_peer_said() {
        let st = serde_json::json!({
            "name": "hn-dc2", "rank": 1, "sending": false, "sender": "hn-dc1", "hold_s": 15,
            "peers": [{"name": "hn-dc1", "rank": 0, "reachable": false, "gone": true,
                "last_heartbeat_ms": 1_795_363_200_000i64, "log_lag": 1234, "last_error": "<b>refused</b>"}],
        });
        let html = panel(Lang::Vi, &jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap(), &st).into_string();
        assert!(html.contains("<h2>Cặp collector (hai trung tâm)</h2>"), "{html}");
        assert!(html.contains("<p>collector này: hn-dc2, hạng 1</p>"), "{html}");
        assert!(
            html.contains(
                "<p class=\"sending\">đang gửi thông báo: hn-dc1 (collector này giữ mỗi thông báo 15 giây, rồi chỉ gửi \
                 cái hn-dc1 chưa gửi)</p>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<td>hn-dc1</td><td>0</td><td class=\"bad\">mất liên lạc</td><td>22/11/2026 23:00</td><td>1.234</td>\
                 <td>&lt;b&gt;refused&lt;/b&gt;</td>"
            ),
            "{html}"
        );
    }
}
