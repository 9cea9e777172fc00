//! `dcwatch-collector status`: the running collector's picture for a
//! technician over SSH — sinks and spool, sites and feeds, UPS, generators,
//! devices down, silent agents, backups, alarms — read from its
//! `/api/status`, in Vietnamese or English, times in the site's zone.

use std::fmt::Write as _;

use serde_json::Value;

use jiff::tz::TimeZone;

use crate::config::CollectorConfig;
use crate::i18n::Lang;

/// A value from the collector's answer as text fit for a terminal. The
/// strings in it come from agents and devices (names, labels, error
/// messages), so they are [`printable`].
fn s(v: &Value) -> String {
    match v {
        Value::String(t) => printable(t),
        Value::Null => "—".into(),
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

/// `rows` laid out in columns as wide as their widest cell, measured in
/// terminal columns (a Vietnamese letter with its marks is one column
/// however many bytes it takes; a CJK character two), each line indented
/// by two spaces. Cells of the columns in `right` are right-aligned.
fn table(o: &mut String, rows: &[Vec<String>], right: &[usize]) {
    use unicode_width::UnicodeWidthStr as _;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|x| x.width()).max().unwrap_or(0)).collect();
    for row in rows {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.width());
            line.push(' ');
            if right.contains(&c) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
            line.push(' ');
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
}

/// An array of the collector's answer, or none.
fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// Unix ms as the language writes a time, in the site's zone.
fn when(ms: &Value, lang: Lang, tz: &TimeZone) -> String {
    let Some(t) = ms.as_i64().and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()) else {
        return lang.status().none.into();
    };
    lang.datetime(&t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
}

/// A duration in the unit a person would use for it.
fn duration(secs: f64, lang: Lang) -> String {
    let u = lang.status().units;
    match secs {
        s if s < 120.0 => format!("{} {}", lang.num(s, 0), u[0]),
        s if s < 7_200.0 => format!("{} {}", lang.num(s / 60.0, 0), u[1]),
        s if s < 172_800.0 => format!("{} {}", lang.num(s / 3_600.0, 1), u[2]),
        s => format!("{} {}", lang.num(s / 86_400.0, 1), u[3]),
    }
}

/// `n %`, or the sign for a value not received.
fn pct(v: &Value, lang: Lang) -> String {
    v.as_f64().map_or_else(|| lang.status().none.into(), |x| lang.pct(x, 0))
}

/// A state word the catalogue knows, else the raw (printable) value; the
/// sign for none.
fn word(v: &Value, known: fn(&str) -> Option<&'static str>, none: &str) -> String {
    match v.as_str() {
        Some(x) => known(x).map_or_else(|| printable(x), str::to_string),
        None if v.is_null() => none.into(),
        None => s(v),
    }
}

fn sinks(o: &mut String, st: &Value, lang: Lang, tz: &TimeZone) {
    let t = lang.status();
    let Some(sinks) = st["sinks"].as_array() else { return };
    if sinks.is_empty() {
        let _ = writeln!(o, "\n{}: {}", t.sinks, t.no_sinks);
        return;
    }
    let _ = writeln!(o, "\n{}", t.sinks);
    let mut rows = vec![vec![t.sink.into(), t.state.into(), t.backlog.into(), t.last_error.into()]];
    for k in sinks {
        let state = match k["state"].as_str() {
            Some("up") => t.sink_up,
            Some("down") => t.sink_down,
            Some("idle") => t.sink_idle,
            _ => t.sink_unknown,
        };
        let error = match k["last_error"].as_str() {
            Some(e) if !k["last_error_ms"].is_null() => {
                format!("{}: {}", when(&k["last_error_ms"], lang, tz), printable(e))
            }
            Some(e) => printable(e),
            None => t.none.into(),
        };
        let backlog = k["queued_points"].as_f64().map_or_else(|| t.none.into(), |n| (t.points)(&lang.num(n, 0)));
        rows.push(vec![s(&k["name"]), state.into(), backlog, error]);
    }
    table(o, &rows, &[2]);
    let sp = &st["spool"];
    if let (Some(b), Some(max)) = (sp["bytes"].as_f64(), sp["max_bytes"].as_f64()) {
        let n = |v: &Value| lang.num(v.as_f64().unwrap_or(0.0), 0);
        let _ =
            writeln!(o, "\n{}", (t.spool)(&lang.bytes(b), &lang.bytes(max), &n(&sp["points"]), &n(&sp["segments"])));
    }
}

/// The pair of collectors (`peering`), when configured: who sends, and
/// how the other one is doing.
fn peering(o: &mut String, pg: &Value, lang: Lang, tz: &TimeZone) {
    if !pg.is_object() {
        return;
    }
    let t = lang.peer();
    let _ = writeln!(o, "\n{}", t.title);
    let _ = writeln!(o, "{}", (t.this_one)(&s(&pg["name"]), &s(&pg["rank"])));
    if pg["sending"] == true {
        let _ = writeln!(o, "{}", t.sending_here);
    } else {
        let hold = lang.num(pg["hold_s"].as_f64().unwrap_or(0.0), 0);
        let _ = writeln!(o, "{}", (t.sending_peer)(&s(&pg["sender"]), &hold));
    }
    let mut rows = vec![vec![
        t.peer.into(),
        t.rank.into(),
        t.state.into(),
        t.last_heartbeat.into(),
        t.log_lag.into(),
        t.last_error.into(),
    ]];
    for p in list(&pg["peers"]) {
        let state = match (p["reachable"] == true, p["gone"] == true) {
            (true, _) => t.reachable,
            (false, true) => t.gone,
            (false, false) => t.late,
        };
        let last =
            if p["last_heartbeat_ms"].is_null() { t.never.into() } else { when(&p["last_heartbeat_ms"], lang, tz) };
        let lag = lang.num(p["log_lag"].as_f64().unwrap_or(0.0), 0);
        let error = p["last_error"].as_str().map_or_else(|| "—".into(), printable);
        rows.push(vec![s(&p["name"]), s(&p["rank"]), state.into(), last, lag, error]);
    }
    table(o, &rows, &[1, 4]);
}

fn power(o: &mut String, st: &Value, lang: Lang) {
    let t = lang.status();
    let feeds = list(&st["feeds"]);
    let sites = list(&st["sites"]);
    if sites.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{}", t.power);
    let mut rows = vec![vec![t.site.into(), t.verdict.into(), t.feeds.into()]];
    for site in sites {
        let name = s(&site["name"]);
        let want: Vec<String> = list(&site["feeds"]).iter().map(s).collect();
        let (mut live, mut down) = (0, 0);
        let mut cells = Vec::new();
        for f in &want {
            // Only a meter's `live` says anything: a point without it (or
            // no point) is no data, as the alarms judge it.
            let seen: Vec<&Value> = feeds
                .iter()
                .filter(|x| s(&x["site"]) == name && &s(&x["feed"]) == f && x["live"].is_boolean())
                .collect();
            let is_live = seen.iter().any(|x| x["live"] == Value::Bool(true));
            let volts = seen
                .iter()
                .filter_map(|x| x["voltage_v"].as_f64())
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            live += usize::from(is_live);
            down += usize::from(!seen.is_empty() && !is_live);
            let state = match (seen.is_empty(), is_live) {
                (true, _) => t.no_data,
                (false, true) => t.feed_live,
                (false, false) => t.feed_down,
            };
            let v = volts.filter(|_| !seen.is_empty()).map(|v| format!(" ({} V)", lang.num(v, 0))).unwrap_or_default();
            cells.push(format!("{f}: {state}{v}"));
        }
        // As the alarms judge it: power is lost when no feed is live and at
        // least one is seen down; feeds without data prove nothing.
        let verdict = match (live, down, want.len()) {
            (_, _, 0) => t.no_feeds,
            (0, 0, _) => t.no_data,
            (0, _, _) => t.power_lost,
            (_, _, 1) => t.powered,
            (l, _, n) if l == n => t.redundant,
            (_, 0, _) => t.redundancy_unknown,
            _ => t.redundancy_degraded,
        };
        rows.push(vec![name, verdict.into(), cells.join(", ")]);
    }
    table(o, &rows, &[]);
}

fn ups(o: &mut String, st: &Value, lang: Lang) {
    let t = lang.status();
    let ups = list(&st["ups"]);
    if ups.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{}", t.ups);
    let mut rows =
        vec![vec![t.site.into(), t.device.into(), t.state.into(), t.charge.into(), t.runtime.into(), t.load.into()]];
    for u in ups {
        let nothing = ["status", "on_battery", "charge_pct", "runtime_s", "load_pct"].iter().all(|k| u[k].is_null());
        let state = match (&u["status"], &u["on_battery"]) {
            _ if nothing => t.no_data.into(),
            (Value::Null, Value::Bool(b)) => {
                (t.ups_status)(if *b { "on_battery" } else { "online" }).unwrap_or_default().into()
            }
            (v, _) => word(v, t.ups_status, t.none),
        };
        let runtime = u["runtime_s"]
            .as_f64()
            .map_or_else(|| t.none.into(), |r| format!("{} {}", lang.num(r / 60.0, 0), t.units[1]));
        rows.push(vec![
            s(&u["site"]),
            s(&u["device"]),
            state,
            pct(&u["charge_pct"], lang),
            runtime,
            pct(&u["load_pct"], lang),
        ]);
    }
    table(o, &rows, &[3, 4, 5]);
}

fn generators(o: &mut String, st: &Value, lang: Lang) {
    let t = lang.status();
    let gens = list(&st["generators"]);
    if gens.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{}", t.generators);
    let mut rows = vec![vec![t.site.into(), t.device.into(), t.state.into(), t.fuel.into(), t.gen_alarm.into()]];
    for g in gens {
        let state = match (&g["state"], &g["running"]) {
            (Value::Null, Value::Bool(true)) => t.gen_running.into(),
            (Value::Null, Value::Bool(false)) => t.gen_stopped.into(),
            (v, _) => word(v, t.gen_word, t.no_data),
        };
        rows.push(vec![
            s(&g["site"]),
            s(&g["device"]),
            state,
            pct(&g["fuel_pct"], lang),
            word(&g["alarm"], t.gen_word, t.none),
        ]);
    }
    table(o, &rows, &[3]);
}

fn devices_and_agents(o: &mut String, st: &Value, lang: Lang) {
    let t = lang.status();
    let down = list(&st["devices_down"]);
    let _ = writeln!(o, "\n{}", (t.devices_down)(down.len()));
    if !down.is_empty() {
        let mut rows = vec![vec![t.site.into(), t.device.into(), t.kind.into(), t.protocol.into()]];
        rows.extend(down.iter().map(|d| vec![s(&d["site"]), s(&d["device"]), s(&d["kind"]), s(&d["protocol"])]));
        table(o, &rows, &[]);
    }
    let agents = list(&st["agents"]);
    let silent: Vec<&Value> = agents.iter().filter(|a| a["silent"] == Value::Bool(true)).collect();
    let _ = writeln!(o, "\n{}", (t.agents_silent)(silent.len(), agents.len()));
    if agents.is_empty() {
        let _ = writeln!(o, "  {}", t.no_agents);
    } else if !silent.is_empty() {
        let mut rows = vec![vec![t.site.into(), t.host.into(), t.silent_for.into()]];
        rows.extend(silent.iter().map(|a| {
            let quiet = a["quiet_s"].as_f64().map_or_else(|| t.none.into(), |q| duration(q, lang));
            vec![s(&a["site"]), s(&a["host"]), quiet]
        }));
        table(o, &rows, &[2]);
    }
}

fn backups(o: &mut String, st: &Value, lang: Lang) {
    let t = lang.status();
    let backups = list(&st["backups"]);
    if backups.is_empty() {
        return;
    }
    let late = |b: &Value| b["age_s"].as_f64().zip(b["rpo_s"].as_f64()).is_some_and(|(a, r)| a > r);
    // A run in progress is fine; anything but ok or running (no data
    // included) is not known to be good.
    let bad = |b: &Value| !matches!(b["status"].as_str(), Some("ok" | "running")) || late(b);
    let _ = writeln!(o, "\n{}", (t.backups)(backups.iter().filter(|b| bad(b)).count(), backups.len()));
    let mut rows =
        vec![vec![t.site.into(), t.host.into(), t.job.into(), t.state.into(), t.last_good.into(), t.note.into()]];
    for b in backups {
        let last_good = match b["age_s"].as_f64() {
            Some(a) => (t.ago)(&duration(a, lang)),
            None if b["status"].is_null() => t.none.into(),
            None => t.no_good_backup.into(),
        };
        let mut note: Vec<String> = Vec::new();
        if late(b) {
            note.push(t.late.into());
        }
        if let Some(m) = b["message"].as_str().filter(|_| b["status"] != "ok") {
            note.push(printable(m));
        }
        rows.push(vec![
            s(&b["site"]),
            s(&b["host"]),
            s(&b["job"]),
            word(&b["status"], t.backup_status, t.no_data),
            last_good,
            note.join("  "),
        ]);
    }
    table(o, &rows, &[]);
}

fn alarms(o: &mut String, st: &Value, lang: Lang, tz: &TimeZone) {
    let t = lang.status();
    let alarms = list(&st["alarms"]);
    let firing = alarms.iter().filter(|a| a["state"] == "firing").count();
    let _ = writeln!(o, "\n{}", (t.alarms)(firing, alarms.len() - firing));
    if alarms.is_empty() {
        return;
    }
    let mut rows = vec![vec![
        t.severity.into(),
        t.state.into(),
        t.alarm.into(),
        t.labels.into(),
        t.since.into(),
        t.summary.into(),
    ]];
    for a in alarms {
        let labels: Vec<String> = a["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{}={}", printable(k), s(v))).collect())
            .unwrap_or_default();
        // The alarm's text in the language asked for; an older collector sends only `summary`.
        let mut summary = a["summaries"].get(lang.code()).map_or_else(|| s(&a["summary"]), s);
        if !a["ack"].is_null() {
            summary = format!("{summary}  {}", (t.acked_by)(&s(&a["ack"]["by"])));
        } else if !a["silenced_by"].is_null() {
            summary = format!("{summary}  {}", (t.silenced)(&s(&a["silenced_by"])));
        } else if !a["inhibited_by"].is_null() {
            summary = format!("{summary}  {}", t.explained);
        }
        let severity = crate::i18n::alarms::severity(lang, &s(&a["severity"]));
        let state = match a["state"].as_str() {
            Some("firing") => t.firing.into(),
            Some("pending") => t.pending.into(),
            _ => s(&a["state"]),
        };
        rows.push(vec![severity, state, s(&a["name"]), labels.join(","), when(&a["since_ms"], lang, tz), summary]);
    }
    table(o, &rows, &[]);
}

/// Renders `/api/status` as text in `lang`, times in `tz`.
pub fn render(st: &Value, url: &str, lang: Lang, tz: &TimeZone) -> String {
    let t = lang.status();
    let mut o = format!("{} {}\n", t.title, dcwatch_common::redact::redact_url(url));
    sinks(&mut o, st, lang, tz);
    peering(&mut o, &st["peering"], lang, tz);
    if st.get("alarms").is_some_and(Value::is_null) {
        let _ = writeln!(o, "\n{}", t.alarms_off);
        return o;
    }
    power(&mut o, st, lang);
    ups(&mut o, st, lang);
    generators(&mut o, st, lang);
    devices_and_agents(&mut o, st, lang);
    backups(&mut o, st, lang);
    alarms(&mut o, st, lang, tz);
    o
}

/// Exit code: 0 shown, 1 the collector cannot be asked, 2 no way to ask.
pub fn run(config: &CollectorConfig, url: Option<String>, token: Option<String>, lang: Option<Lang>) -> u8 {
    let lang = lang.unwrap_or_else(|| config.alarms.as_ref().map(|a| a.lang).unwrap_or_default());
    let url = url.unwrap_or_else(|| {
        let addr = config.listen.address.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
        format!("{}://{addr}", if config.listen.tls.is_some() { "https" } else { "http" })
    });
    let Some(token) = token.or_else(|| config.api.tokens.iter().find_map(|t| t.value.token.clone())) else {
        eprintln!("dcwatch-collector status: {}", lang.status().no_token);
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
            print!("{}", render(&st, &url, lang, &config.tz()));
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

    fn en(st: &Value) -> String {
        render(st, "http://127.0.0.1:8186", Lang::En, &TimeZone::UTC)
    }

    /// In Vietnamese, times in Hà Nội's zone (UTC+7).
    fn vi(st: &Value) -> String {
        render(st, "http://127.0.0.1:8186", Lang::Vi, &TimeZone::get("Asia/Ho_Chi_Minh").expect("zone"))
    }

    /// The lines of `out` from the one starting with `title` to the next blank line.
    fn section<'a>(out: &'a str, title: &str) -> Vec<&'a str> {
        out.lines().skip_while(|l| !l.starts_with(title)).take_while(|l| !l.is_empty()).collect()
    }

    #[test]
    fn the_collector_url_is_shown_without_its_password() {
        let out =
            render(&serde_json::json!({}), "https://ops:S3cretPw@collector.dc.local:8186", Lang::En, &TimeZone::UTC);
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
                        "since_ms": 1_764_640_923_000i64, "summary": "Site hn-dc1: power redundancy lost, only feed A live (B down)",
                        "ack": {"by": "Minh"}, "silenced_by": null, "inhibited_by": null}]
        });
        let out = en(&st);
        assert_eq!(
            section(&out, "POWER"),
            [
                "POWER",
                "  site    power                feeds",
                "  hn-dc1  redundancy DEGRADED  A: live (230 V), B: DOWN (0 V)",
            ]
        );
        assert_eq!(
            section(&out, "UPS"),
            [
                "UPS",
                "  site    device  state   charge  runtime  load",
                "  hn-dc1  ups-a1  online   100 %   25 min  45 %",
            ]
        );
        assert_eq!(section(&out, "DEVICES DOWN"), ["DEVICES DOWN (0)"]);
        assert_eq!(
            section(&out, "AGENTS SILENT"),
            ["AGENTS SILENT (1 of 2)", "  site    host  nothing for", "  hn-dc1  web1         45 s"]
        );
        assert_eq!(
            section(&out, "BACKUPS"),
            [
                "BACKUPS (2 of 3 need a look)",
                "  site    host  job    state   last good           note",
                "  hn-dc1  nas1  db     FAILED  28.0 h ago          LATE  pg_dump: lỗi",
                "  hn-dc1  nas1  vm     FAILED  no good backup yet  Fatal: wrong password",
                "  hn-dc1  nas1  files  ok      60 min ago",
            ]
        );
        assert_eq!(
            section(&out, "ALARMS"),
            [
                "ALARMS (1 firing, 0 pending)",
                "  severity  state   alarm                      labels       since             summary",
                "  WARNING   firing  power_redundancy_degraded  site=hn-dc1  2 Dec 2025 02:02  \
                 Site hn-dc1: power redundancy lost, only feed A live (B down)  [acknowledged by Minh]",
            ]
        );
    }

    #[test]
    fn in_vietnamese_times_are_in_the_sites_zone_and_numbers_use_a_decimal_comma() {
        let st = serde_json::json!({
            "backups": [{"site": "hn-dc1", "host": "nas1", "job": "db", "status": "failed", "age_s": 100_800.0, "rpo_s": 86400.0, "message": "pg_dump: lỗi"}],
            "alarms": [{"severity": "critical", "state": "firing", "name": "power_lost", "labels": {"site": "hn-dc1"},
                        "since_ms": 1_764_640_923_000i64, "summary": "Site hn-dc1: power lost",
                        "ack": null, "silenced_by": null, "inhibited_by": null},
                       {"severity": "warning", "state": "pending", "name": "feed_lost", "labels": {"feed": "A", "site": "hn-dc1"},
                        "since_ms": 1_764_641_000_000i64, "summary": "Feed A at hn-dc1 is down",
                        "ack": null, "silenced_by": null, "inhibited_by": "abc"}]
        });
        let out = vi(&st);
        assert_eq!(
            section(&out, "SAO LƯU"),
            [
                "SAO LƯU (1 / 1 cần kiểm tra)",
                "  trung tâm  máy chủ  tác vụ  trạng thái  bản tốt gần nhất  ghi chú",
                "  hn-dc1     nas1     db      LỖI         28,0 giờ trước    QUÁ HẠN  pg_dump: lỗi",
            ]
        );
        // 02:02 UTC is 09:02 in Hà Nội.
        assert_eq!(
            section(&out, "CẢNH BÁO"),
            [
                "CẢNH BÁO (1 đang cảnh báo, 1 đang chờ)",
                "  mức độ        trạng thái     cảnh báo    nhãn                bắt đầu           nội dung",
                "  NGHIÊM TRỌNG  đang cảnh báo  power_lost  site=hn-dc1         02/12/2025 09:02  Site hn-dc1: power lost",
                "  CHÚ Ý         đang chờ       feed_lost   feed=A,site=hn-dc1  02/12/2025 09:03  \
                 Feed A at hn-dc1 is down  [do sự cố nguồn điện]",
            ]
        );
    }

    /// Regression: a site whose feeds have sent nothing read "POWER LOST".
    #[test]
    fn a_site_whose_feeds_have_no_data_says_no_data_not_power_lost() {
        let st = serde_json::json!({
            "sites": [{"name": "hn-dc1", "feeds": ["A", "B"]}, {"name": "hcm-dc2", "feeds": ["A", "B"]},
                      {"name": "dn-dc3", "feeds": ["A", "B"]}, {"name": "ct-dc4", "feeds": ["A", "B"]}],
            "feeds": [{"site": "hcm-dc2", "feed": "A", "live": false, "voltage_v": 0.0},
                      {"site": "dn-dc3", "feed": "A", "live": true, "voltage_v": 231.0},
                      // A meter that gives a voltage but no `live`: the alarms
                      // ignore it, and so does status (it read DOWN, POWER LOST).
                      {"site": "ct-dc4", "feed": "A", "live": null, "voltage_v": 12.0}],
        });
        assert_eq!(
            section(&en(&st), "POWER"),
            [
                "POWER",
                "  site     power                                    feeds",
                "  hn-dc1   no data                                  A: no data, B: no data",
                "  hcm-dc2  POWER LOST                               A: DOWN (0 V), B: no data",
                "  dn-dc3   redundancy unknown (a feed has no data)  A: live (231 V), B: no data",
                "  ct-dc4   no data                                  A: no data, B: no data",
            ]
        );
        assert_eq!(
            section(&vi(&st), "NGUỒN ĐIỆN"),
            [
                "NGUỒN ĐIỆN",
                "  trung tâm  tình trạng                                   các nguồn",
                "  hn-dc1     chưa có dữ liệu                              A: chưa có dữ liệu, B: chưa có dữ liệu",
                "  hcm-dc2    MẤT ĐIỆN                                     A: MẤT ĐIỆN (0 V), B: chưa có dữ liệu",
                "  dn-dc3     chưa rõ dự phòng (có nguồn chưa có dữ liệu)  A: có điện (231 V), B: chưa có dữ liệu",
                "  ct-dc4     chưa có dữ liệu                              A: chưa có dữ liệu, B: chưa có dữ liệu",
            ]
        );
    }

    /// Regression: a site with one live feed read "redundant".
    #[test]
    fn a_site_with_one_feed_is_powered_not_redundant() {
        let st = serde_json::json!({
            "sites": [{"name": "hn-dc1", "feeds": ["A"]}, {"name": "hcm-dc2", "feeds": []}],
            "feeds": [{"site": "hn-dc1", "feed": "A", "live": true, "voltage_v": 230.0}],
        });
        assert_eq!(
            section(&en(&st), "POWER"),
            [
                "POWER",
                "  site     power                feeds",
                "  hn-dc1   powered (one feed)   A: live (230 V)",
                "  hcm-dc2  no feeds configured",
            ]
        );
    }

    /// Regression: a UPS, generator or backup without data read `?` (a
    /// backup "no good backup yet", though nothing said so), and no agent
    /// at all read "AGENTS SILENT (0 of 0)" as if all were well.
    #[test]
    fn equipment_and_backups_without_data_say_no_data() {
        let st = serde_json::json!({
            "ups": [{"site": "hn-dc1", "device": "ups-a1", "status": null, "on_battery": null, "charge_pct": null, "runtime_s": null, "load_pct": null},
                    {"site": "hn-dc1", "device": "ups-a2", "status": null, "on_battery": true, "charge_pct": 81.0, "runtime_s": null, "load_pct": null}],
            "generators": [{"site": "hn-dc1", "device": "gen1", "running": null, "state": null, "alarm": null, "fuel_pct": null},
                           {"site": "hn-dc1", "device": "gen2", "running": false, "state": null, "alarm": "shutdown", "fuel_pct": 12.0}],
            "agents": [],
            "backups": [{"site": "hn-dc1", "host": "nas1", "job": "db", "status": null, "age_s": null, "rpo_s": 86400.0, "message": null}],
        });
        let out = vi(&st);
        assert_eq!(
            section(&out, "UPS"),
            [
                "UPS",
                "  trung tâm  thiết bị  trạng thái        mức ắc quy  thời gian lưu điện  tải",
                "  hn-dc1     ups-a1    chưa có dữ liệu            —                   —    —",
                "  hn-dc1     ups-a2    CHẠY BẰNG ẮC QUY        81 %                   —    —",
            ]
        );
        assert_eq!(
            section(&out, "MÁY PHÁT ĐIỆN"),
            [
                "MÁY PHÁT ĐIỆN",
                "  trung tâm  thiết bị  trạng thái       nhiên liệu  báo lỗi",
                "  hn-dc1     gen1      chưa có dữ liệu           —  —",
                "  hn-dc1     gen2      đang dừng              12 %  DỪNG SỰ CỐ",
            ]
        );
        assert_eq!(section(&out, "AGENT"), ["AGENT KHÔNG GỬI DỮ LIỆU (0 / 0)", "  chưa có agent nào gửi dữ liệu"]);
        assert_eq!(
            section(&out, "SAO LƯU"),
            [
                "SAO LƯU (1 / 1 cần kiểm tra)",
                "  trung tâm  máy chủ  tác vụ  trạng thái       bản tốt gần nhất  ghi chú",
                "  hn-dc1     nas1     db      chưa có dữ liệu  —",
            ]
        );
    }

    #[test]
    fn a_sink_that_is_down_shows_its_backlog_and_last_error_at_the_sites_time() {
        let st = serde_json::json!({
            "sinks": [{"name": "influx", "state": "up", "queued_points": 0, "last_error": null, "last_error_ms": null},
                      {"name": "vm", "state": "down", "queued_points": 12345, "last_error": "connection refused", "last_error_ms": 1_764_660_000_000i64},
                      {"name": "archive", "state": "idle", "queued_points": 7, "last_error": null, "last_error_ms": null}],
            "spool": {"bytes": 1_610_612_736u64, "max_bytes": 4_294_967_296u64, "points": 1234567, "segments": 3},
            "alarms": null,
        });
        assert_eq!(
            en(&st).lines().skip(2).collect::<Vec<_>>(),
            [
                "SINKS",
                "  sink     state                   waiting  last error",
                "  influx   up                     0 points  —",
                "  vm       DOWN              12,345 points  2 Dec 2025 07:20: connection refused",
                "  archive  nothing sent yet       7 points  —",
                "",
                "SPOOL  1.5 GiB of 4.0 GiB, 1,234,567 points in 3 segment files",
                "",
                "Alarms are not configured (alarms:): no sites, devices, agents, backups or alarms to show.",
            ]
        );
        assert_eq!(
            vi(&st).lines().skip(2).collect::<Vec<_>>(),
            [
                "NƠI LƯU DỮ LIỆU",
                "  tên      trạng thái            chờ gửi  lỗi gần nhất",
                "  influx   hoạt động              0 điểm  —",
                "  vm       MẤT KẾT NỐI       12.345 điểm  02/12/2025 14:20: connection refused",
                "  archive  chưa gửi lần nào       7 điểm  —",
                "",
                "HÀNG ĐỢI TRÊN ĐĨA  1,5 GiB / 4,0 GiB, 1.234.567 điểm trong 3 tệp",
                "",
                "Chưa cấu hình cảnh báo (alarms:): không có trung tâm, thiết bị, agent, sao lưu hay cảnh báo để hiển thị.",
            ]
        );
    }

    #[test]
    fn no_sinks_says_points_are_not_stored() {
        let out = en(&serde_json::json!({"sinks": [], "spool": null, "alarms": null}));
        assert_eq!(out.lines().nth(2), Some("SINKS: none configured: points are not stored"));
    }

    /// Regression: columns were padded by bytes (`{:10}` counts chars, and
    /// widths were fixed), so Vietnamese names pushed the columns after
    /// them out of line.
    #[test]
    fn vietnamese_names_line_up_by_display_width_not_bytes() {
        // "Hà Nội" is 9 bytes and 6 columns; "Thành phố Cần Thơ" written
        // with combining marks (NFD) is 27 bytes, 22 chars and 17 columns.
        const CT: &str = "Tha\u{300}nh pho\u{302}\u{301} Ca\u{300}n Tho\u{31b}";
        assert_eq!((CT.len(), CT.chars().count()), (27, 22));
        let st = serde_json::json!({
            "sinks": [{"name": "lưu-trữ-hà-nội", "state": "up", "queued_points": 0, "last_error": null},
                      {"name": "influx", "state": "down", "queued_points": 3, "last_error": "timeout"}],
            "sites": [{"name": "Hà Nội", "feeds": ["A"]}, {"name": CT, "feeds": ["A"]}, {"name": "hcm", "feeds": ["A"]}],
            "feeds": [],
        });
        let out = vi(&st);
        assert_eq!(
            section(&out, "NGUỒN ĐIỆN"),
            [
                "NGUỒN ĐIỆN".to_string(),
                "  trung tâm          tình trạng       các nguồn".to_string(),
                "  Hà Nội             chưa có dữ liệu  A: chưa có dữ liệu".into(),
                format!("  {CT}  chưa có dữ liệu  A: chưa có dữ liệu"),
                "  hcm                chưa có dữ liệu  A: chưa có dữ liệu".into(),
            ]
        );
        assert_eq!(
            section(&out, "NƠI LƯU DỮ LIỆU"),
            [
                "NƠI LƯU DỮ LIỆU",
                "  tên             trạng thái   chờ gửi  lỗi gần nhất",
                "  lưu-trữ-hà-nội  hoạt động     0 điểm  —",
                "  influx          MẤT KẾT NỐI   3 điểm  timeout",
            ]
        );
    }

    /// Regression (issue 15): `status --help` did not name backups.
    #[test]
    fn status_help_names_everything_it_shows_and_the_language_flag() {
        use clap::CommandFactory as _;
        let cli = crate::Cli::command();
        let status = cli.find_subcommand("status").expect("a status command");
        assert_eq!(
            status.get_about().map(ToString::to_string).as_deref(),
            Some(
                "Show the running collector's sinks and spool, sites and power feeds, UPS, generators, devices \
                 down, silent agents, backups and alarms (for a technician over SSH)"
            )
        );
        let lang = status.get_arguments().find(|a| a.get_id() == "lang").expect("--lang");
        assert_eq!(
            lang.get_help().map(ToString::to_string).as_deref(),
            Some("`vi` or `en`. Defaults to `alarms.lang` (`vi`)")
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
        let out = en(&st);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"  hn\u{fffd}[2J  no feeds configured"), "{out}");
        assert!(lines.contains(&"  hn    web\u{fffd}]0;x\u{fffd}1         45 s"), "{out}");
        assert!(
            lines.contains(&"  hn    nas1  db   FAILED  no good backup yet  fail\u{fffd}ALARMS (0 firing)\u{fffd}2J"),
            "{out}"
        );
        assert!(
            lines.contains(
                &"  WARNING   firing  disk\u{fffd}[2J  host\u{fffd}=a\u{fffd}  1 Jan 1970 00:00  txt.\u{fffd}exe\u{fffd}"
            ),
            "{out}"
        );
        let steering: Vec<char> =
            out.chars().filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{2069}').contains(c)).collect();
        assert_eq!(steering, Vec::<char>::new(), "{out:?}");
    }

    /// Review of issue 15: a generator's warning read "cảnh báo" (the word
    /// for an alarm), not the severity's "chú ý".
    #[test]
    fn a_generator_warning_is_chu_y() {
        let st = serde_json::json!({
            "generators": [{"site": "hn-dc1", "device": "gen1", "running": true, "state": "running", "alarm": "warning", "fuel_pct": 80.0}],
        });
        assert_eq!(
            section(&vi(&st), "MÁY PHÁT ĐIỆN"),
            [
                "MÁY PHÁT ĐIỆN",
                "  trung tâm  thiết bị  trạng thái  nhiên liệu  báo lỗi",
                "  hn-dc1     gen1      đang chạy         80 %  chú ý",
            ]
        );
    }

    /// Review of issue 15: a sink state `status` does not know read as
    /// "nothing sent yet", which it is not known to be.
    #[test]
    fn an_unknown_sink_state_is_unknown_not_idle() {
        let st = serde_json::json!({
            "sinks": [{"name": "a", "state": "idle", "queued_points": 0, "last_error": null, "last_error_ms": null},
                      {"name": "b", "state": "draining", "queued_points": 0, "last_error": null, "last_error_ms": null}],
            "alarms": null,
        });
        assert_eq!(
            vi(&st).lines().skip(3).take(3).collect::<Vec<_>>(),
            [
                "  tên  trạng thái        chờ gửi  lỗi gần nhất",
                "  a    chưa gửi lần nào   0 điểm  —",
                "  b    không rõ           0 điểm  —"
            ]
        );
        assert_eq!(en(&st).lines().nth(5), Some("  b     unknown           0 points  —"));
    }
}
