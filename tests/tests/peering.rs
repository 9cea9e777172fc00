//! Two collectors that back each other up (docs/ha.md), as real processes
//! on loopback, each reaching the other through a TCP proxy the test
//! controls (`dcwatch_tests::proxy`): both up, each receiver gets each
//! notice once; the sender killed, the other sends what is pending and
//! not what was sent; a partition, duplicates only of what changed in it
//! and nothing lost; acknowledgements and silences cross over.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dcwatch_tests::pair::*;
use dcwatch_tests::*;
use serde_json::{Value, json};

/// The timings of the tests: a heartbeat a second, failover in 6 s.
const TIMING: &str = "  heartbeat_secs: 1\n  peer_timeout_secs: 3\n  failover_secs: 6\n";

/// The webhook's notices: (name, device or peer, notice) → how many.
fn counts(hook: &Capture) -> BTreeMap<(String, String, String), usize> {
    let mut out = BTreeMap::new();
    for (_, b) in hook.requests() {
        let n: Value = serde_json::from_slice(&b).expect("notice json");
        let who = n["labels"]["device"].as_str().or(n["labels"]["peer"].as_str()).unwrap_or("").to_string();
        let key = (n["name"].as_str().unwrap_or("").to_string(), who, n["notice"].as_str().unwrap_or("").to_string());
        *out.entry(key).or_default() += 1;
    }
    out
}

fn count(hook: &Capture, name: &str, who: &str, notice: &str) -> usize {
    counts(hook).get(&(name.into(), who.into(), notice.into())).copied().unwrap_or(0)
}

fn hot(devices: impl Iterator<Item = String>, t: u32) -> String {
    devices.map(|d| format!("env,device={d} temperature_c={t}\n")).collect()
}

fn devices(prefix: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (0..n).map(move |i| format!("{prefix}{i:02}"))
}

fn metric(c: &Collector, name: &str) -> f64 {
    c.metric(name).unwrap_or(0.0)
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn with_both_up_each_receiver_gets_each_notice_exactly_once() {
    let hook = Capture::start();
    let am = Alertmanager::start();
    let smtp = SmtpServer::start_on(free_port());
    let receivers = format!(
        "{}    - name: am\n      alertmanager: {{url: {}}}\n    - name: mail\n      \
         email: {{host: 127.0.0.1, port: {}, tls: none, from: dcwatch@dc.local, to: [oncall@dc.local]}}\n",
        hook_receiver(&hook),
        am.url(),
        smtp.port
    );
    // 50 at once would be a storm, folded into one notice: not here.
    let pair = Pair::start(&receivers, "  limits: {max_notices_per_window: 200}\n", TIMING);
    pair.write(&hot(devices("r", 50), 35));
    wait_for("50 firing notices at the webhook", || {
        (counts(&hook).iter().filter(|(k, _)| k.2 == "firing").count() == 50).then_some(())
    });
    let firing = |c: &Collector| {
        get(c, "/api/alarms")["alarms"].as_array().map_or(0, |a| a.iter().filter(|a| a["state"] == "firing").count())
    };
    wait_for("b to have them firing too", || (firing(pair.b()) == 50).then_some(()));
    pair.write(&hot(devices("r", 50), 20));
    // Done: b has found every one of its 100 notices to each of the three
    // receivers sent by a, and neither has anything left to send.
    let found = |c: &Collector| metric(c, "dcwatch_collector_notices_sent_by_peer_total");
    let start = Instant::now();
    while found(pair.b()) < 300.0 && start.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(200));
    }
    let notices = |c: &Collector| c.metrics().lines().filter(|l| l.contains("notices")).collect::<Vec<_>>().join("\n");
    let n_alarms = |c: &Collector| get(c, "/api/alarms")["alarms"].as_array().map_or(0, Vec::len);
    assert_eq!(
        found(pair.b()),
        300.0,
        "b ({} alarms):\n{}\na ({} alarms):\n{}\n{:?}",
        n_alarms(pair.b()),
        notices(pair.b()),
        n_alarms(pair.a()),
        notices(pair.a()),
        (counts(&hook), status(pair.b())["peering"].clone())
    );
    wait_for("a to have delivered everything", || {
        (!pair.a().metrics().contains("dcwatch_collector_notices_undelivered{")).then_some(())
    });
    let got = counts(&hook);
    let want: BTreeMap<(String, String, String), usize> = devices("r", 50)
        .flat_map(|d| {
            [("room_hot".to_string(), d.clone(), "firing".to_string()), ("room_hot".into(), d, "resolved".into())]
        })
        .map(|k| (k, 1))
        .collect();
    assert_eq!(got, want);
    let am_metrics = http(None).get(format!("{}/metrics", am.url())).send().and_then(|r| r.text()).expect("am metrics");
    assert_eq!(metric_sum(&am_metrics, "alertmanager_alerts_received_total{status=\"firing\""), Some(50.0));
    assert_eq!(metric_sum(&am_metrics, "alertmanager_alerts_received_total{status=\"resolved\""), Some(50.0));
    let bodies: Vec<String> = smtp.messages().iter().map(|m| m["body"].as_str().unwrap_or("").to_string()).collect();
    let lines = |prefix: &str| bodies.iter().flat_map(|b| b.lines()).filter(|l| l.starts_with(prefix)).count();
    assert_eq!(lines("[CRITICAL] FIRING room_hot: Room r"), 50, "{bodies:?}");
    assert_eq!(lines("[CRITICAL] RESOLVED room_hot: Room r"), 50, "{bodies:?}");
    assert_eq!(metric(pair.a(), "dcwatch_collector_notices_sent_by_peer_total"), 0.0);
    // Who sends, as both say it.
    let (sa, sb) = (status(pair.a())["peering"].clone(), status(pair.b())["peering"].clone());
    assert_eq!(
        (&sa["sending"], &sa["sender"], &sb["sending"], &sb["sender"]),
        (&json!(true), &json!("a"), &json!(false), &json!("a"))
    );
    assert_eq!(sb["hold_s"], 3);
    let out = std::process::Command::new(bin("dcwatch-collector"))
        .args(["status", "--lang", "en", "-c"])
        .arg(pair.b().dir.path().join("collector.yaml"))
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "\nCOLLECTOR PAIR (TWO SITES)\nthis collector: b, rank 1\nsending the notices: a (this collector holds \
             each notice 3 s, then sends only what a has not)\n"
        ),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("  a        0  reachable  ") && l.ends_with("  0  —")), "{text}");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn when_the_sender_is_killed_the_other_sends_what_is_pending_and_not_what_was_sent() {
    let hook = Capture::start();
    let mut pair = Pair::start(&hook_receiver(&hook), "", TIMING);
    pair.write("env,device=x temperature_c=35\n");
    wait_for("x sent by a", || (count(&hook, "room_hot", "x", "firing") == 1).then_some(()));
    wait_for("b to see that a sent x", || {
        (metric(pair.b(), "dcwatch_collector_notices_sent_by_peer_total") == 1.0).then_some(())
    });
    // y is about to fire (room_humid waits 4 s) when a dies.
    pair.write("env,device=y humidity_pct=90\n");
    let killed = Instant::now();
    let (dir, _) = pair.a.take().expect("a").kill9();
    wait_for("b to send y", || (count(&hook, "room_humid", "y", "firing") == 1).then_some(()));
    let failover = killed.elapsed();
    eprintln!("first notice from the survivor {:.1} s after the kill", failover.as_secs_f64());
    wait_for("b to say a is unreachable", || (count(&hook, "peer_unreachable", "a", "firing") == 1).then_some(()));
    assert_eq!(count(&hook, "room_hot", "x", "firing"), 1, "x is not sent again");
    let s = status(pair.b())["peering"].clone();
    assert_eq!((&s["sending"], &s["sender"], &s["peers"][0]["gone"]), (&json!(true), &json!("b"), &json!(true)));
    // a comes back: b says so, and a sends nothing b has sent.
    let a = Collector::start_at(dir, &pair.a_yaml, pair.a_port);
    pair.a = Some(a);
    wait_for("b to say a is back", || (count(&hook, "peer_unreachable", "a", "resolved") == 1).then_some(()));
    wait_for("a to read b's log", || (status(pair.a())["peering"]["peers"][0]["log_lag"] == 0).then_some(()));
    let got = counts(&hook);
    assert_eq!(
        got,
        [
            (("peer_unreachable".into(), "a".into(), "firing".into()), 1),
            (("peer_unreachable".into(), "a".into(), "resolved".into()), 1),
            (("room_hot".into(), "x".into(), "firing".into()), 1),
            (("room_humid".into(), "y".into(), "firing".into()), 1),
        ]
        .into_iter()
        .collect::<BTreeMap<(String, String, String), usize>>()
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_partition_duplicates_only_what_changed_in_it_and_loses_nothing_and_the_logs_converge() {
    let hook = Capture::start();
    let pair = Pair::start(&hook_receiver(&hook), "", TIMING);
    pair.write(&hot(devices("p", 10), 35));
    wait_for("10 firing notices", || {
        (devices("p", 10).all(|d| count(&hook, "room_hot", &d, "firing") == 1)).then_some(())
    });
    wait_for("b to see them sent by a", || {
        (metric(pair.b(), "dcwatch_collector_notices_sent_by_peer_total") == 10.0).then_some(())
    });
    let cut = Instant::now();
    pair.cut();
    // While the pair cannot talk: 3 resolve, 5 new fire.
    pair.write(&hot(devices("p", 3), 20));
    pair.write(&hot(devices("q", 5), 35));
    wait_for("both to fail over", || {
        let gone = |c: &Collector| status(c)["peering"]["peers"][0]["gone"] == true;
        (gone(pair.a()) && gone(pair.b())).then_some(())
    });
    wait_for("the changes at the webhook", || {
        let c = counts(&hook);
        let has = |d: &str, n: &str| c.contains_key(&("room_hot".into(), d.into(), n.into()));
        (devices("p", 3).all(|d| has(&d, "resolved")) && devices("q", 5).all(|d| has(&d, "firing"))).then_some(())
    });
    std::thread::sleep(Duration::from_secs(60).saturating_sub(cut.elapsed()));
    pair.heal();
    wait_for("both to read each other to the end", || {
        let (sa, sb) = (status(pair.a())["peering"].clone(), status(pair.b())["peering"].clone());
        let own_last = |c: &Collector| {
            let r = c.client().get(format!("{}/api/peer/log?after=0&limit=1", c.url())).bearer_auth(SECRET).send();
            r.ok()
                .and_then(|r| r.bytes().ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map(|v| v["last_seq"].clone())
        };
        let converged = sa["peers"][0]["reachable"] == true
            && sb["peers"][0]["reachable"] == true
            && Some(sa["peers"][0]["cursor"].clone()) == own_last(pair.b())
            && Some(sb["peers"][0]["cursor"].clone()) == own_last(pair.a());
        converged.then_some(())
    });
    wait_for("the partition's alarms to resolve", || {
        (count(&hook, "peer_unreachable", "a", "resolved") == 1
            && count(&hook, "peer_unreachable", "b", "resolved") == 1)
            .then_some(())
    });
    let got = counts(&hook);
    // Nothing lost; what did not change is not sent again.
    for d in devices("p", 10) {
        assert_eq!(got[&("room_hot".into(), d.clone(), "firing".into())], 1, "{d}: {got:?}");
    }
    let changed: Vec<(String, String, String)> = devices("p", 3)
        .map(|d| ("room_hot".to_string(), d, "resolved".to_string()))
        .chain(devices("q", 5).map(|d| ("room_hot".to_string(), d, "firing".to_string())))
        .collect();
    let mut duplicates = 0;
    for k in &changed {
        let n = got.get(k).copied().unwrap_or(0);
        assert!((1..=2).contains(&n), "{k:?} sent {n} times: {got:?}");
        duplicates += n - 1;
    }
    eprintln!("duplicates after a 60 s partition: {duplicates} of {} changes", changed.len());
    // Each side's own peer_unreachable went out once each way.
    for peer in ["a", "b"] {
        assert_eq!(got[&("peer_unreachable".into(), peer.into(), "firing".into())], 1);
        assert_eq!(got[&("peer_unreachable".into(), peer.into(), "resolved".into())], 1);
    }
    assert_eq!(got.len(), 10 + changed.len() + 4, "{got:?}");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn an_ack_at_one_stops_the_others_repeats_and_a_silence_made_in_a_partition_applies_after_it() {
    let hook = Capture::start();
    let pair = Pair::start(&hook_receiver(&hook), "  repeat_interval_secs: 2\n", TIMING);
    pair.write("env,device=x temperature_c=35\n");
    wait_for("x repeated", || (count(&hook, "room_hot", "x", "repeat") >= 2).then_some(()));
    let fp = wait_for("x at b", || {
        get(pair.b(), "/api/alarms")["alarms"].as_array()?.iter().find(|a| a["labels"]["device"] == "x").cloned()
    })["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    let r = pair
        .a()
        .client()
        .post(format!("{}/api/alarms/{fp}/ack", pair.a().url()))
        .bearer_auth(API_TOKEN)
        .header("content-type", "application/json")
        .body(json!({"comment": "đang xử lý"}).to_string())
        .send()
        .expect("ack");
    assert_eq!(r.status().as_u16(), 200);
    let ack = wait_for("b to show the ack", || {
        let alarms = get(pair.b(), "/api/alarms");
        let a = alarms["alarms"].as_array()?.iter().find(|a| a["fingerprint"] == fp.as_str())?.clone();
        (!a["ack"].is_null()).then(|| a["ack"].clone())
    });
    assert_eq!((&ack["by"], &ack["comment"]), (&json!("harness"), &json!("đang xử lý")));
    // The audit record of the ack, made at a, is in b's audit log, under a's name.
    let rec = wait_for("a's audit record at b", || {
        let log = get(pair.b(), "/api/audit?action=ack");
        log["audit"].as_array()?.iter().find(|r| r["origin"] == "a").cloned()
    });
    assert_eq!(
        (&rec["actor"], &rec["target"], &rec["comment"], &rec["outcome"]),
        (&json!("harness"), &json!(fp), &json!("harness: đang xử lý"), &json!("ok"))
    );
    // A console user added at a can log in at b.
    pair.a().add_user("nam", "operator", "mat-khau-dai-1");
    wait_for("nam at b", || {
        let out = std::process::Command::new(bin("dcwatch-collector"))
            .arg("-c")
            .arg(pair.b().dir.path().join("collector.yaml"))
            .args(["user", "list"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().any(|l| l.split_whitespace().next() == Some("nam")).then_some(())
    });
    assert_eq!(login(pair.b(), "nam", "mat-khau-dai-1"), (303, "/ui/".to_string()));
    let repeats = count(&hook, "room_hot", "x", "repeat");
    // Three repeat intervals: neither repeats an acknowledged alarm.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(count(&hook, "room_hot", "x", "repeat"), repeats);
    let history = get(pair.b(), &format!("/api/alarms/history?fingerprint={fp}"));
    assert!(
        history["history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|h| h["event"] == "acknowledged" && h["detail"] == "harness: đang xử lý (a)"),
        "{history}"
    );

    // A silence made at b while the pair cannot talk applies at a after.
    pair.cut();
    wait_for("each to find the other silent", || {
        let down = |c: &Collector| status(c)["peering"]["peers"][0]["reachable"] == false;
        (down(pair.a()) && down(pair.b())).then_some(())
    });
    let r = pair
        .b()
        .client()
        .post(format!("{}/api/silences", pair.b().url()))
        .bearer_auth(API_TOKEN)
        .header("content-type", "application/json")
        .body(json!({"matchers": {"device": "z"}, "duration_secs": 3600, "reason": "bảo trì phòng z"}).to_string())
        .send()
        .expect("silence");
    assert_eq!(r.status().as_u16(), 201);
    pair.heal();
    let s = wait_for("a to have b's silence", || {
        get(pair.a(), "/api/silences")["silences"].as_array()?.iter().find(|s| s["matchers"]["device"] == "z").cloned()
    });
    assert_eq!((&s["author"], &s["reason"]), (&json!("harness"), &json!("bảo trì phòng z")));
    pair.write("env,device=z temperature_c=40\n");
    let z = wait_for("z silenced at a", || {
        let alarms = get(pair.a(), "/api/alarms");
        alarms["alarms"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["device"] == "z" && !a["silenced_by"].is_null())
            .cloned()
    });
    assert_eq!(z["state"], "firing");
    assert_eq!(count(&hook, "room_hot", "z", "firing"), 0);
}

/// An agent of site `site` that sends its heartbeat every second to both collectors.
fn agent(site: &str, host: &str, token: &str, pair: &Pair) -> Agent {
    let out = |name: &str, url: &str| {
        format!(
            "  - name: {name}\n    url: {url}\n    token: {token}\n    flush_interval_ms: 100\n    max_backoff_secs: 1\n"
        )
    };
    Agent::start(&format!(
        "agent:\n  site: {site}\n  host: {host}\n  interval_secs: 1\noutputs:\n{}{}",
        out("a", &pair.a().url()),
        out("b", &pair.b().url())
    ))
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_whole_site_lost_is_one_site_down_without_its_hosts_silent_notices_and_its_return_resolves_it() {
    let hook = Capture::start();
    // A service run at both sites: a1 at hn-dc1, b1 and b2 at hn-dc2.
    let services = "  services:\n    - name: dvc\n      members: {hn-dc1: [a1], hn-dc2: [b1, b2]}\n";
    let mut pair = Pair::start(&hook_receiver(&hook), services, TIMING);
    let hosts = ["b1", "b2", "b3"];
    let mut site_b: Vec<Agent> = hosts.iter().map(|h| agent("hn-dc2", h, TOKEN_B, &pair)).collect();
    let _a1 = agent("hn-dc1", "a1", TOKEN, &pair);
    // What site B's poller last said of its power: feed A down, the UPS on battery.
    write_b(&pair, "power_feed,feed=A live=false\nups,device=ups-b1 on_battery=true,runtime_remaining_s=900\n");
    wait_for("a to hear site B's agents", || {
        let st = status(pair.a());
        let n = st["agents"].as_array()?.iter().filter(|a| a["site"] == "hn-dc2" && a["silent"] == false).count();
        (n == 3).then_some(())
    });
    // Site B goes: its collector, its agents, all at once.
    let (b_dir, _) = pair.b.take().expect("b").kill9();
    for a in site_b.drain(..) {
        drop(a.kill9());
    }
    let down = wait_for("site_down from a", || {
        hook.requests().iter().find_map(|(_, b)| {
            let n: Value = serde_json::from_slice(b).ok()?;
            (n["name"] == "site_down" && n["notice"] == "firing").then_some(n)
        })
    });
    assert_eq!(down["labels"], json!({"site": "hn-dc2"}));
    assert_eq!(down["value"], "3");
    let summary = down["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with("SITE hn-dc2 DOWN: collector b unreachable since ")
            && summary.ends_with(
                " and all 3 hosts silent (b1, b2, b3); last power state: feed A down, UPS ups-b1 on battery, 15 min left; \
                 1 service now runs at the other site only (dvc)"
            ),
        "{summary}"
    );
    // The hosts' own alarms are there, held by site_down, and sent nowhere.
    let silent = wait_for("b1..b3 silent at a, inhibited", || {
        let alarms = get(pair.a(), "/api/alarms");
        let held: Vec<Value> = alarms["alarms"]
            .as_array()?
            .iter()
            .filter(|a| a["name"] == "agent_silent" && a["labels"]["site"] == "hn-dc2" && !a["inhibited_by"].is_null())
            .cloned()
            .collect();
        (held.len() == 3).then_some(held)
    });
    assert_eq!(silent.len(), 3);
    assert_eq!(count_named(&hook, "agent_silent", "firing"), 0, "{:?}", counts(&hook));
    // peer_unreachable is a fact of its own (the link, or the collector): sent too, once.
    wait_for("peer_unreachable from a", || (count(&hook, "peer_unreachable", "b", "firing") == 1).then_some(()));
    // The service says it runs at one site only.
    let degraded = wait_for("service_degraded from a", || {
        hook.requests().iter().find_map(|(_, b)| {
            let n: Value = serde_json::from_slice(b).ok()?;
            (n["name"] == "service_degraded" && n["notice"] == "firing").then_some(n)
        })
    });
    assert_eq!(degraded["summary"], "Service dvc: every host at hn-dc2 is silent; it runs on the other site(s) only");
    // Site B comes back.
    let b = Collector::start_at(b_dir, &pair.b_yaml, pair.b_port);
    pair.b = Some(b);
    let _back: Vec<Agent> = hosts.iter().map(|h| agent("hn-dc2", h, TOKEN_B, &pair)).collect();
    wait_for("site_down resolved", || (count_named(&hook, "site_down", "resolved") == 1).then_some(()));
    wait_for("peer_unreachable resolved", || (count(&hook, "peer_unreachable", "b", "resolved") == 1).then_some(()));
    assert_eq!(count_named(&hook, "site_down", "firing"), 1);
    assert_eq!(count_named(&hook, "agent_silent", "firing"), 0, "{:?}", counts(&hook));
    wait_for("service_degraded resolved", || (count_named(&hook, "service_degraded", "resolved") == 1).then_some(()));
    assert_eq!(count_named(&hook, "service_degraded", "firing"), 1);
}

fn write_b(pair: &Pair, lines: &str) {
    for c in [pair.a(), pair.b()] {
        let (code, body) = c.post("/api/v2/write", Some(TOKEN_B), false, lines.as_bytes());
        assert_eq!(code, 204, "{body}");
    }
}

/// Notices of alarm `name` in state `notice`, whatever their labels.
fn count_named(hook: &Capture, name: &str, notice: &str) -> usize {
    counts(hook).iter().filter(|(k, _)| k.0 == name && k.2 == notice).map(|(_, n)| n).sum()
}

/// Logs in to the console of `c`: the answer's status and where it sends the browser.
fn login(c: &Collector, user: &str, password: &str) -> (u16, String) {
    let http =
        reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let form = http.get(format!("{}/ui/login", c.url())).send().expect("login page");
    let cookie = form
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let page = form.text().expect("page");
    let at = page.find(r#"name="csrf" value=""#).expect("csrf field");
    let token = page[at + 19..].split('"').next().expect("token").to_string();
    let r = http
        .post(format!("{}/ui/login", c.url()))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&user={user}&password={password}"))
        .send()
        .expect("login");
    let to = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status().as_u16(), to)
}

/// The relay to the peer (`peer:<name>`) in `c`'s `/api/status`.
fn relay(c: &Collector, peer: &str) -> Value {
    let st = status(c);
    let name = format!("peer:{peer}");
    st["sinks"].as_array().and_then(|s| s.iter().find(|s| s["name"] == name.as_str()).cloned()).unwrap_or(Value::Null)
}

/// The `seq` of every `relay_check` point in `db`, in time order.
fn seqs(influx: &Influx1, db: &str) -> Vec<i64> {
    let r = influx.query(db, "SELECT seq FROM relay_check");
    let rows = r["results"][0]["series"][0]["values"].as_array().cloned().unwrap_or_default();
    rows.iter().filter_map(|v| v[1].as_i64()).collect()
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn agents_that_reach_one_site_are_relayed_to_the_other_once_in_order_and_nothing_comes_back() {
    let influx = Influx1::start();
    influx.create_db("site_a");
    influx.create_db("site_b");
    let hook = Capture::start();
    // Both relay (the loop a careless relay would make); each writes its own store.
    let pair = Pair::start_edited(&hook_receiver(&hook), "", TIMING, |name, dir, y| {
        y.replace(", secret: ", ", forward: true, secret: ")
            + &format!(
                "sinks:\n  - {{name: influx, flavour: v1, url: '{}', database: site_{name}}}\nspool:\n  dir: {}\n",
                influx.url(),
                dir.join("spool").display()
            )
    });
    // Two servers of site hn-dc1 that can reach only their own collector, a.
    let agents: Vec<Agent> = ["a1", "a2"]
        .iter()
        .map(|h| {
            Agent::start(&format!(
                "agent:\n  site: hn-dc1\n  host: {h}\n  interval_secs: 1\noutput:\n  url: {}\n  token: {TOKEN}\n  \
                 flush_interval_ms: 100\n  max_backoff_secs: 1\n",
                pair.a().url()
            ))
        })
        .collect();
    wait_for("b to hear a1 and a2 through a", || {
        let st = status(pair.b());
        let n = st["agents"].as_array()?.iter().filter(|a| a["site"] == "hn-dc1" && a["silent"] == false).count();
        (n == 2).then_some(())
    });
    // b's alarms see what only a was written: one room_hot, raised at both, sent once.
    write(pair.a(), "env,device=room-a temperature_c=35\n");
    for c in [pair.a(), pair.b()] {
        wait_for("room_hot firing at both", || {
            let alarms = get(c, "/api/alarms");
            alarms["alarms"].as_array()?.iter().any(|a| a["name"] == "room_hot" && a["state"] == "firing").then_some(())
        });
    }
    wait_for("room_hot notified", || (count(&hook, "room_hot", "room-a", "firing") == 1).then_some(()));
    // With the writers stopped, every point a took went to b once, and none came back.
    for a in agents {
        drop(a.kill9());
    }
    let received = |c: &Collector| c.health()["points_received"].as_u64().expect("points_received");
    // A write in flight at the kill may land a moment later: wait until a's
    // count stands still, its relay is drained and b has as many.
    let a_received = wait_for("a's relay to drain and b to have a's points", || {
        let n = received(pair.a());
        std::thread::sleep(Duration::from_secs(1));
        let settled = received(pair.a()) == n && relay(pair.a(), "b")["queued_points"] == 0;
        (settled && received(pair.b()) == n).then_some(n)
    });
    assert!(a_received > 2, "{a_received}");
    assert_eq!(relay(pair.a(), "b")["sent_points"], a_received);
    assert_eq!(relay(pair.b(), "a")["sent_points"], 0, "b relayed a's points back");
    assert_eq!(received(pair.a()), a_received);

    // The link cut while a is written: its relay keeps the points, and
    // delivers them in order, with no gap, once the link is back.
    let t0 = 1_700_000_000_000_000_000i64;
    let line = |i: i64| format!("relay_check,host=a1 seq={i}i {}\n", t0 + i * 1_000_000_000);
    for i in 0..10 {
        write(pair.a(), &line(i));
    }
    wait_for("b to store 10", || (seqs(&influx, "site_b").len() == 10).then_some(()));
    pair.cut();
    for i in 10..30 {
        write(pair.a(), &line(i));
    }
    wait_for("a's relay to hold them", || (relay(pair.a(), "b")["queued_points"].as_u64()? >= 20).then_some(()));
    assert_eq!(seqs(&influx, "site_b").len(), 10);
    pair.heal();
    wait_for("b to store all 30", || (seqs(&influx, "site_b").len() == 30).then_some(()));
    assert_eq!(seqs(&influx, "site_b"), (0..30).collect::<Vec<_>>());
    assert_eq!(seqs(&influx, "site_a"), (0..30).collect::<Vec<_>>());
    assert_eq!(relay(pair.b(), "a")["sent_points"], 0);
    assert_eq!(count(&hook, "room_hot", "room-a", "firing"), 1, "{:?}", counts(&hook));

    // What a relay says it took long ago (its backlog) is stored but not
    // the alarms' present; what it took just now is.
    let relayed = |age_ms: u64, device: &str| {
        let r = pair
            .b()
            .client()
            .post(format!("{}/api/v2/write", pair.b().url()))
            .header("Authorization", format!("Token {SECRET}"))
            .header("x-dcwatch-relay-age-ms", age_ms.to_string())
            .body(format!("env,site=hn-dc1,device={device} temperature_c=35\n"))
            .send()
            .expect("relayed write");
        assert_eq!(r.status().as_u16(), 204);
    };
    let before = received(pair.b());
    relayed(300_000, "room-old");
    relayed(1_000, "room-new");
    wait_for("room-new hot at b", || {
        let alarms = get(pair.b(), "/api/alarms");
        alarms["alarms"].as_array()?.iter().any(|a| a["labels"]["device"] == "room-new").then_some(())
    });
    let alarms = get(pair.b(), "/api/alarms");
    let devices: Vec<&str> =
        alarms["alarms"].as_array().unwrap().iter().filter_map(|a| a["labels"]["device"].as_str()).collect();
    assert!(!devices.contains(&"room-old"), "{devices:?}");
    assert_eq!(received(pair.b()), before + 2);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_receiver_of_the_same_name_that_delivers_elsewhere_gets_its_own_notice() {
    let (hook_a, hook_b) = (Capture::start(), Capture::start());
    // Both name their webhook `hook`, but b's is another server.
    let (url_a, url_b) = (hook_a.url(), hook_b.url());
    let pair = Pair::start_edited(&hook_receiver(&hook_a), "", TIMING, |name, _, y| {
        if name == "b" { y.replace(&url_a, &url_b) } else { y }
    });
    wait_for("b to know a's receivers", || {
        (status(pair.b())["peering"]["peers"][0]["receivers_differ"] == json!(["hook"])).then_some(())
    });
    assert_eq!(status(pair.a())["peering"]["peers"][0]["receivers_differ"], json!(["hook"]));
    pair.write(&hot(devices("r", 1), 35));
    wait_for("a's hook", || (count(&hook_a, "room_hot", "r00", "firing") == 1).then_some(()));
    wait_for("b's hook, after its hold", || (count(&hook_b, "room_hot", "r00", "firing") == 1).then_some(()));
    pair.write(&hot(devices("r", 1), 20));
    wait_for("both resolved", || {
        (count(&hook_a, "room_hot", "r00", "resolved") == 1 && count(&hook_b, "room_hot", "r00", "resolved") == 1)
            .then_some(())
    });
    assert_eq!((hook_a.requests().len(), hook_b.requests().len()), (2, 2));
}
