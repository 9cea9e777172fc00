//! `dcwatch-collector status`: the running collector's picture for a
//! technician over SSH — sites and feeds, UPS, devices down, silent agents,
//! alarms — read from its `/api/status`.

use std::fmt::Write as _;

use serde_json::Value;

use crate::config::CollectorConfig;

/// A value from the collector's answer as text fit for a terminal. The
/// strings in it come from agents and devices (names, labels, error
/// messages), so they are [`printable`].
fn s(v: &Value) -> String {
    match v {
        Value::String(t) => printable(t),
        Value::Null => "?".into(),
        other => printable(&other.to_string()),
    }
}

/// `text` with every character that could steer a terminal or hide what it
/// shows replaced by U+FFFD: C0 controls (ESC starts `ESC[2J` and the OSC
/// sequences that set a window title or write a hyperlink; a line break would
/// forge a line of the report), DEL, C1 controls (U+009B is a one-byte CSI),
/// and the bidirectional overrides, embeddings and isolates (U+202A–U+202E,
/// U+2066–U+2069) and marks (U+200E, U+200F, U+061C) that make text read
/// differently from what it is, plus the line and paragraph separators.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let steering = c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}');
            if steering { char::REPLACEMENT_CHARACTER } else { c }
        })
        .collect()
}

fn clock(ms: &Value) -> String {
    let Some(ms) = ms.as_i64() else { return "?".into() };
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Renders `/api/status` as text.
pub fn render(st: &Value, url: &str) -> String {
    let mut o = format!("dcwatch status — collector {}\n", dcwatch_common::redact::redact_url(url));
    let feeds = st["feeds"].as_array().cloned().unwrap_or_default();
    for site in st["sites"].as_array().cloned().unwrap_or_default() {
        let name = s(&site["name"]);
        let _ = write!(o, "\nSITE {name}   feeds:");
        let want: Vec<String> = site["feeds"].as_array().cloned().unwrap_or_default().iter().map(s).collect();
        let (mut live, mut down) = (0, 0);
        for f in &want {
            let seen: Vec<&Value> = feeds.iter().filter(|x| s(&x["site"]) == name && &s(&x["feed"]) == f).collect();
            let is_live = seen.iter().any(|x| x["live"] == Value::Bool(true));
            let volts = seen
                .iter()
                .filter_map(|x| x["voltage_v"].as_f64())
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            live += usize::from(is_live);
            down += usize::from(!seen.is_empty() && !is_live);
            let state = if seen.is_empty() {
                "no data".to_string()
            } else if is_live {
                "live".into()
            } else {
                "DOWN".into()
            };
            let _ = write!(o, "  {f} {state}{}", volts.map(|v| format!(" ({v:.0} V)")).unwrap_or_default());
        }
        // As the alarms judge it: power is lost when no feed is live and at
        // least one is seen down; feeds without data prove nothing.
        let verdict = match (live, down, want.len()) {
            (_, _, 0) => "",
            (l, _, n) if l == n => "  → redundant",
            (0, 0, _) => "  → no data",
            (0, _, _) => "  → POWER LOST",
            (_, 0, _) => "  → redundancy unknown (no data for a feed)",
            _ => "  → redundancy DEGRADED",
        };
        let _ = writeln!(o, "{verdict}");
    }
    let ups = st["ups"].as_array().cloned().unwrap_or_default();
    if !ups.is_empty() {
        let _ = writeln!(o, "\nUPS");
        for u in ups {
            let runtime =
                u["runtime_s"].as_f64().map(|r| format!("{:.0} min", r / 60.0)).unwrap_or_else(|| "? min".into());
            let _ = writeln!(
                o,
                "  {:10} {:14} {:12} {:>5} %  {:>8}  load {} %",
                s(&u["site"]),
                s(&u["device"]),
                s(&u["status"]),
                u["charge_pct"].as_f64().map(|c| format!("{c:.0}")).unwrap_or_else(|| "?".into()),
                runtime,
                u["load_pct"].as_f64().map(|c| format!("{c:.0}")).unwrap_or_else(|| "?".into()),
            );
        }
    }
    let down = st["devices_down"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "\nDEVICES DOWN ({})", down.len());
    for d in down {
        let _ = writeln!(o, "  {:10} {} ({}, {})", s(&d["site"]), s(&d["device"]), s(&d["kind"]), s(&d["protocol"]));
    }
    let agents = st["agents"].as_array().cloned().unwrap_or_default();
    let silent: Vec<&Value> = agents.iter().filter(|a| a["silent"] == Value::Bool(true)).collect();
    let _ = writeln!(o, "\nAGENTS SILENT ({} of {})", silent.len(), agents.len());
    for a in silent {
        let _ = writeln!(o, "  {:10} {}  nothing for {} s", s(&a["site"]), s(&a["host"]), s(&a["quiet_s"]));
    }
    let backups = st["backups"].as_array().cloned().unwrap_or_default();
    if !backups.is_empty() {
        let bad = backups
            .iter()
            .filter(|b| b["status"] != "ok" || b["age_s"].as_f64().zip(b["rpo_s"].as_f64()).is_some_and(|(a, r)| a > r))
            .count();
        let _ = writeln!(o, "\nBACKUPS ({bad} of {} need a look)", backups.len());
        for b in backups {
            let age = match b["age_s"].as_f64() {
                Some(a) if a >= 172_800.0 => format!("last good {:>10} ago", format!("{:.1} days", a / 86_400.0)),
                Some(a) => format!("last good {:>10} ago", format!("{:.1} h", a / 3600.0)),
                None => "no good backup yet   ".into(),
            };
            let late = b["age_s"].as_f64().zip(b["rpo_s"].as_f64()).is_some_and(|(a, r)| a > r);
            let _ = writeln!(
                o,
                "  {:10} {:12} {:16} {:8} {}{}{}",
                s(&b["site"]),
                s(&b["host"]),
                s(&b["job"]),
                s(&b["status"]),
                age,
                if late { "  LATE" } else { "" },
                b["message"]
                    .as_str()
                    .filter(|_| b["status"] != "ok")
                    .map(|m| format!("  {}", printable(m)))
                    .unwrap_or_default(),
            );
        }
    }
    let alarms = st["alarms"].as_array().cloned().unwrap_or_default();
    let firing = alarms.iter().filter(|a| a["state"] == "firing").count();
    let _ = writeln!(o, "\nALARMS ({firing} firing, {} pending)", alarms.len() - firing);
    for a in alarms {
        let labels: Vec<String> = a["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{}={}", printable(k), s(v))).collect())
            .unwrap_or_default();
        let mut note = String::new();
        if !a["ack"].is_null() {
            note = format!("  [acknowledged by {}]", s(&a["ack"]["by"]));
        } else if !a["silenced_by"].is_null() {
            note = format!("  [silenced #{}]", s(&a["silenced_by"]));
        } else if !a["inhibited_by"].is_null() {
            note = "  [explained by a power alarm]".into();
        }
        let _ = writeln!(
            o,
            "  {:8} {:8} {:26} {:28} since {}  {}{note}",
            s(&a["severity"]).to_uppercase(),
            s(&a["state"]),
            s(&a["name"]),
            labels.join(","),
            clock(&a["since_ms"]),
            s(&a["summary"]),
        );
    }
    o
}

/// Exit code: 0 shown, 1 the collector cannot be asked, 2 no way to ask.
pub fn run(config: &CollectorConfig, url: Option<String>, token: Option<String>) -> u8 {
    let url = url.unwrap_or_else(|| {
        let addr = config.listen.address.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
        format!("{}://{addr}", if config.listen.tls.is_some() { "https" } else { "http" })
    });
    let Some(token) = token.or_else(|| config.api.tokens.iter().find_map(|t| t.value.token.clone())) else {
        eprintln!(
            "dcwatch-collector status: give --token (or DCWATCH_API_TOKEN): an api.tokens token; \
             the config holds none in clear"
        );
        return 2;
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dcwatch-collector status: {e}");
            return 1;
        }
    };
    // Errors are printed: no `user:password@` of a --url.
    let shown = dcwatch_common::redact::redact_url(&url);
    let got = rt.block_on(async {
        let http =
            reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
        let r = http
            .get(format!("{url}/api/status"))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| format!("{shown}: {}", e.without_url()))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{shown}: HTTP {status}: {}", printable(&String::from_utf8_lossy(&body))));
        }
        serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())
    });
    match got {
        Ok(st) => {
            print!("{}", render(&st, &url));
            0
        }
        Err(e) => {
            eprintln!("dcwatch-collector status: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_url_is_shown_without_its_password() {
        let out = render(&serde_json::json!({}), "https://ops:S3cretPw@collector.dc.local:8186");
        assert_eq!(out.lines().next(), Some("dcwatch status — collector https://***@collector.dc.local:8186"));
    }

    #[test]
    fn a_degraded_site_and_its_alarms_read_at_a_glance() {
        let st = serde_json::json!({
            "sites": [{"name": "hn-dc1", "feeds": ["A", "B"]}],
            "feeds": [{"site": "hn-dc1", "feed": "A", "device": "m-a", "live": true, "voltage_v": 229.8},
                      {"site": "hn-dc1", "feed": "B", "device": "m-b", "live": false, "voltage_v": 0.0}],
            "ups": [{"site": "hn-dc1", "device": "ups-a1", "status": "online", "on_battery": false, "charge_pct": 100.0, "runtime_s": 1500.0, "load_pct": 45.0}],
            "devices_down": [],
            "agents": [{"site": "hn-dc1", "host": "web1", "quiet_s": 45.0, "silent": true}, {"site": "hn-dc1", "host": "db1", "quiet_s": 2.0, "silent": false}],
            "backups": [{"site": "hn-dc1", "host": "nas1", "job": "db", "status": "failed", "age_s": 100_800.0, "rpo_s": 86400.0, "message": "pg_dump: lỗi"},
                        {"site": "hn-dc1", "host": "nas1", "job": "vm", "status": "failed", "age_s": null, "rpo_s": 86400.0, "message": "Fatal: wrong password"},
                        {"site": "hn-dc1", "host": "nas1", "job": "files", "status": "ok", "age_s": 3600.0, "rpo_s": 86400.0, "message": null}],
            "alarms": [{"severity": "warning", "state": "firing", "name": "power_redundancy_degraded", "labels": {"site": "hn-dc1"},
                        "since_ms": 3_723_000, "summary": "Site hn-dc1: power redundancy lost, only feed A live (B down)",
                        "ack": {"by": "Minh"}, "silenced_by": null, "inhibited_by": null}]
        });
        let out = render(&st, "http://127.0.0.1:8186");
        assert!(out.contains("SITE hn-dc1   feeds:  A live (230 V)  B DOWN (0 V)  → redundancy DEGRADED\n"), "{out}");
        assert!(out.contains("  hn-dc1     ups-a1         online         100 %    25 min  load 45 %\n"), "{out}");
        assert!(out.contains("AGENTS SILENT (1 of 2)\n  hn-dc1     web1  nothing for 45.0 s\n"), "{out}");
        assert!(
            out.contains(
                "BACKUPS (2 of 3 need a look)\n  hn-dc1     nas1         db               failed   last good     28.0 h ago  LATE  pg_dump: lỗi\n  \
                 hn-dc1     nas1         vm               failed   no good backup yet     Fatal: wrong password\n  \
                 hn-dc1     nas1         files            ok       last good      1.0 h ago\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("ALARMS (1 firing, 0 pending)\n  WARNING  firing   power_redundancy_degraded  site=hn-dc1"),
            "{out}"
        );
        assert!(out.contains("since 01:02:03 UTC  Site hn-dc1: power redundancy lost, only feed A live (B down)  [acknowledged by Minh]"), "{out}");
    }

    /// Regression: a site whose feeds have sent nothing read "POWER LOST".
    #[test]
    fn a_site_whose_feeds_have_no_data_says_no_data_not_power_lost() {
        let st = serde_json::json!({
            "sites": [{"name": "hn-dc1", "feeds": ["A", "B"]}, {"name": "hcm-dc2", "feeds": ["A", "B"]},
                      {"name": "dn-dc3", "feeds": ["A", "B"]}],
            "feeds": [{"site": "hcm-dc2", "feed": "A", "live": false, "voltage_v": 0.0},
                      {"site": "dn-dc3", "feed": "A", "live": true, "voltage_v": 231.0}],
        });
        let out = render(&st, "http://127.0.0.1:8186");
        let sites: Vec<&str> = out.lines().filter(|l| l.starts_with("SITE ")).collect();
        assert_eq!(
            sites,
            [
                "SITE hn-dc1   feeds:  A no data  B no data  → no data",
                "SITE hcm-dc2   feeds:  A DOWN (0 V)  B no data  → POWER LOST",
                "SITE dn-dc3   feeds:  A live (231 V)  B no data  → redundancy unknown (no data for a feed)",
            ]
        );
    }

    /// Regression: names and messages from agents reached the terminal raw,
    /// so an alarm or host name could clear the screen (`ESC[2J`), set the
    /// window title (OSC `ESC]0;…BEL`) or reverse the text (U+202E).
    #[test]
    fn control_and_bidi_characters_from_agents_are_replaced_before_printing() {
        let st = serde_json::json!({
            "sites": [{"name": "hn\u{1b}[2J", "feeds": []}],
            "agents": [{"site": "hn", "host": "web\u{1b}]0;x\u{7}1", "quiet_s": 45.0, "silent": true}],
            "backups": [{"site": "hn", "host": "nas1", "job": "db", "status": "failed", "age_s": null, "rpo_s": 86400.0,
                         "message": "fail\nALARMS (0 firing)\u{9b}2J"}],
            "alarms": [{"severity": "warning", "state": "firing", "name": "disk\u{1b}[2J", "labels": {"host\u{202e}": "a\u{7}"},
                        "since_ms": 0, "summary": "txt.\u{202e}exe\u{2066}", "ack": null, "silenced_by": null, "inhibited_by": null}]
        });
        let out = render(&st, "http://127.0.0.1:8186");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"SITE hn\u{fffd}[2J   feeds:"), "{out}");
        assert!(lines.contains(&"  hn         web\u{fffd}]0;x\u{fffd}1  nothing for 45.0 s"), "{out}");
        assert!(
            lines.contains(
                &"  hn         nas1         db               failed   no good backup yet     fail\u{fffd}ALARMS (0 firing)\u{fffd}2J"
            ),
            "{out}"
        );
        assert!(
            lines.contains(
                &"  WARNING  firing   disk\u{fffd}[2J                   host\u{fffd}=a\u{fffd}                     since 00:00:00 UTC  txt.\u{fffd}exe\u{fffd}"
            ),
            "{out}"
        );
        let steering: Vec<char> =
            out.chars().filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{2069}').contains(c)).collect();
        assert_eq!(steering, Vec::<char>::new(), "{out:?}");
    }
}
