//! Web console benchmark (run by `scripts/bench web`).
//!
//! A release collector holding what a large provincial centre has: 2 sites,
//! 8 UPS (4 per site), 300 hosts (150 per site, each with its heartbeat,
//! CPU, memory and a disk, each powered by one UPS of its site's topology)
//! and 200 alarms firing (100 hot rooms per site). It runs twice with the
//! same points, which are written again every 10 s as agents would:
//!
//! - console off (`web.enabled: false`): the collector's RSS;
//! - console on: a viewer logs in, then fetches the overview and the
//!   alarms page BENCH_REQUESTS times each, one after the other on one
//!   keep-alive connection, as a browser would; the answer's time is from
//!   sending the request to its last byte, on loopback (so it bounds the
//!   server's time from above); then its RSS.
//!
//! Prints, per page, p50 and p99 over all rounds (and the medians of the
//! rounds' p99s), the page's weight at first load (HTML, the stylesheet and
//! the script, as served: the collector does not compress; a proxy's gzip
//! is shown beside it), and the RSS of both runs.
//!
//! Settings (environment): BENCH_ROUNDS (3), BENCH_REQUESTS (500 per page and round).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dcwatch_tests::bench::{env_or, median, percentile};
use dcwatch_tests::*;

const TOKENS: [(&str, &str); 2] = [("hn-dc1", "bench-hn-token-0123456789"), ("hcm-dc2", "bench-hcm-token-0123456789")];
const USER: &str = "bench";
const PASSWORD: &str = "bench-password-1";
const HOSTS_PER_SITE: usize = 150;
const UPS_PER_SITE: usize = 4;
const HOT_ROOMS_PER_SITE: usize = 100;

fn host(site: usize, i: usize) -> String {
    format!("srv-{}-{:03}", site + 1, i + 1)
}

fn config(dir: &std::path::Path, web: bool) -> String {
    let mut sites = String::new();
    for (s, (name, _)) in TOKENS.iter().enumerate() {
        sites.push_str(&format!("    - name: {name}\n      feeds: [A, B]\n      ups:\n"));
        for u in 0..UPS_PER_SITE {
            let hosts: Vec<String> =
                (0..HOSTS_PER_SITE).filter(|i| i % UPS_PER_SITE == u).map(|i| host(s, i)).collect();
            sites.push_str(&format!("        ups-{}: [{}]\n", u + 1, hosts.join(", ")));
        }
    }
    let tokens: String = TOKENS
        .iter()
        .map(|(site, token)| {
            format!("    - name: poller-{site}\n      token: {token}\n      site: {site}\n      poller: true\n")
        })
        .collect();
    format!(
        "timezone: Asia/Ho_Chi_Minh\nlisten:\n  address: 127.0.0.1:{{port}}\ningest:\n  tokens:\n{tokens}\
         alarms:\n  db: {alarms}\n  sites:\n{sites}  rules:\n    - name: room_hot\n      measurement: env\n      \
         field: temperature_c\n      above: 30\n      severity: warning\n      summary: \"Phòng {{device}} nóng: {{value}} °C\"\n\
         web:\n  enabled: {web}\n  users_db: {users}\n",
        alarms = dir.join("alarms.db").display(),
        users = dir.join("users.db").display(),
    )
}

/// One site's points: heartbeats and host metrics, UPS, feeds, ATS,
/// generator and the hot rooms.
fn points(s: usize) -> String {
    let mut b = String::new();
    for i in 0..HOSTS_PER_SITE {
        let h = host(s, i);
        let cpu = (i * 7) % 100;
        b.push_str(&format!(
            "dcwatch_agent,host={h} version=\"bench\",uptime_s=3600i,points=40i,sent=40i,queued=0i,dropped=0i,errors=0i\n\
             host_cpu,host={h},cpu=total usage_pct={cpu}\n\
             host_mem,host={h} used_pct={}\n\
             host_disk,host={h},mount=/ used_pct=41.5,used_bytes=41500000000i,total_bytes=100000000000i\n",
            (i * 3) % 90,
        ));
    }
    for u in 0..UPS_PER_SITE {
        b.push_str(&format!(
            "ups,device=ups-{} status=\"online\",on_battery=false,battery_charge_pct=100,runtime_remaining_s=2400,load_pct=38\n",
            u + 1
        ));
    }
    b.push_str("power_feed,feed=A,device=ats-1 live=true,voltage_v=229.1\npower_feed,feed=B,device=ats-1 live=true,voltage_v=230.2\n");
    b.push_str(
        "ats,device=ats-1 active_source=\"A\",on_source_b=false\ngenerator,device=gen-1 running=false,fuel_pct=90\n",
    );
    for r in 0..HOT_ROOMS_PER_SITE {
        b.push_str(&format!("env,device=room-{:03} temperature_c=3{}.5\n", r + 1, 1 + r % 8));
    }
    b
}

fn write_all(c: &Collector) {
    for (s, (_, token)) in TOKENS.iter().enumerate() {
        let (code, text) = c.post("/api/v2/write", Some(token), false, points(s).as_bytes());
        assert_eq!(code, 204, "{text}");
    }
}

fn firing(c: &Collector) -> usize {
    let r = c.client().get(format!("{}/api/alarms", c.url())).bearer_auth(API_TOKEN).send().expect("GET /api/alarms");
    let v: serde_json::Value = serde_json::from_str(&r.text().unwrap()).expect("json");
    v["alarms"].as_array().map_or(0, |a| a.iter().filter(|a| a["state"] == "firing").count())
}

fn start(web: bool) -> Collector {
    let dir = TempDir::new().expect("tempdir");
    let yaml = config(dir.path(), web);
    let c = Collector::start_in(dir, &yaml);
    if web {
        c.add_user(USER, "viewer", PASSWORD);
    }
    write_all(&c);
    wait_for("200 alarms firing", || (firing(&c) == 2 * HOT_ROOMS_PER_SITE).then_some(()));
    c
}

fn cookie_of(r: &reqwest::blocking::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next()?.strip_prefix(&format!("{name}=")).map(str::to_string))
        .filter(|v| !v.is_empty())
}

/// Logs in as the viewer: the session's `Cookie` header.
fn login(client: &reqwest::blocking::Client, url: &str) -> String {
    let r = client.get(format!("{url}/ui/login")).send().expect("GET /ui/login");
    let form = cookie_of(&r, "dcwatch_login").expect("the login form's cookie");
    let r = client
        .post(format!("{url}/ui/login"))
        .header("Cookie", format!("dcwatch_login={form}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={form}&user={USER}&password={PASSWORD}"))
        .send()
        .expect("POST /ui/login");
    assert_eq!(r.status().as_u16(), 303, "the login");
    format!("dcwatch_session={}", cookie_of(&r, "dcwatch_session").expect("a session cookie"))
}

/// `n` GETs of `path`: each one's time in ms, and the last body.
fn timed(client: &reqwest::blocking::Client, url: &str, cookie: &str, path: &str, n: usize) -> (Vec<f64>, String) {
    let mut ms = Vec::with_capacity(n);
    let mut body = String::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(format!("{url}{path}")).header("Cookie", cookie).send().expect("GET");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        body = r.text().expect("body");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (ms, body)
}

/// The assets a page links (`/ui/assets/…`).
fn assets(page: &str) -> Vec<String> {
    page.split("\"/ui/assets/").skip(1).filter_map(|s| s.split('"').next()).map(|s| format!("/ui/assets/{s}")).collect()
}

fn gzip_len(b: &[u8]) -> usize {
    let mut child = Command::new("gzip").arg("-9c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("gzip");
    child.stdin.take().unwrap().write_all(b).unwrap();
    child.wait_with_output().unwrap().stdout.len()
}

fn mib(b: u64) -> f64 {
    b as f64 / 1_048_576.0
}

fn main() {
    let rounds = env_or("BENCH_ROUNDS", 3);
    let n = env_or("BENCH_REQUESTS", 500);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let pages = [("overview", "/ui/"), ("alarms", "/ui/alarms")];
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); pages.len()];
    let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); pages.len()];
    let mut weights: Vec<(usize, usize)> = vec![(0, 0); pages.len()];
    let (mut rss_off, mut rss_on, mut hwm_off, mut hwm_on) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut rss_login, mut rss_before, mut rss_logins) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}: console off");
        let off = start(false);
        let status = client.get(format!("{}/ui/", off.url())).send().expect("GET /ui/").status().as_u16();
        assert_eq!(status, 404, "the console is off");
        // As long as the run with the console takes, with the points written again.
        for _ in 0..3 {
            std::thread::sleep(Duration::from_secs(10));
            write_all(&off);
        }
        rss_off.push(mib(off.proc.memory_bytes("VmRSS")));
        hwm_off.push(mib(off.proc.memory_bytes("VmHWM")));
        drop(off);

        eprintln!("round {round}/{rounds}: console on, {n} requests per page");
        let on = start(true);
        let url = on.url();
        rss_before.push(mib(on.proc.memory_bytes("VmRSS")));
        let cookie = login(&client, &url);
        // The login's password check (argon2id, 19 MiB) on its own.
        rss_login.push(mib(on.proc.memory_bytes("VmRSS")));
        // Nine more: memory a login takes is taken once, not per login.
        for _ in 0..9 {
            login(&client, &url);
        }
        rss_logins.push(mib(on.proc.memory_bytes("VmRSS")));
        let mut last_write = Instant::now();
        for (i, (_, path)) in pages.iter().enumerate() {
            // Warm: the first answer of each page is not counted.
            let (_, page) = timed(&client, &url, &cookie, path, 1);
            if *path == "/ui/" {
                assert_eq!(page.matches("<article class=\"site").count(), 2, "two sites");
                assert_eq!(
                    page.matches("<li class=\"host ok\"").count(),
                    2 * HOSTS_PER_SITE,
                    "every host in its chain, up"
                );
            } else {
                assert_eq!(page.matches(" data-fingerprint=").count(), 2 * HOT_ROOMS_PER_SITE, "every alarm");
            }
            let mut weight = page.len();
            let mut gz = gzip_len(page.as_bytes());
            for a in assets(&page) {
                let body = client.get(format!("{url}{a}")).send().unwrap().bytes().unwrap();
                weight += body.len();
                gz += gzip_len(&body);
            }
            weights[i] = (weight, gz);
            let mut left = n;
            while left > 0 {
                let (mut ms, _) = timed(&client, &url, &cookie, path, left.min(100));
                left -= ms.len();
                p99s[i].push(percentile(&mut ms.clone(), 0.99));
                all[i].append(&mut ms);
                if last_write.elapsed() >= Duration::from_secs(10) {
                    write_all(&on);
                    last_write = Instant::now();
                }
            }
        }
        rss_on.push(mib(on.proc.memory_bytes("VmRSS")));
        hwm_on.push(mib(on.proc.memory_bytes("VmHWM")));
    }
    println!();
    println!(
        "Console pages, {n} requests per page and round, {rounds} rounds (300 hosts, 2 sites, 8 UPS, 200 alarms firing):"
    );
    println!();
    println!(
        "| page | p50 (ms) | p99 (ms) | median of the rounds' p99 (ms) | first load: HTML + CSS + JS (KB) | gzip (KB) |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, (name, _)) in pages.iter().enumerate() {
        let p50 = percentile(&mut all[i], 0.5);
        let p99 = percentile(&mut all[i], 0.99);
        println!(
            "| {name} | {p50:.2} | {p99:.2} | {:.2} | {:.1} | {:.1} |",
            median(&mut p99s[i]),
            weights[i].0 as f64 / 1024.0,
            weights[i].1 as f64 / 1024.0
        );
    }
    println!();
    println!("| collector | RSS after the run (MiB, median) | peak RSS (MiB, median) |");
    println!("|---|---|---|");
    println!("| console off | {:.1} | {:.1} |", median(&mut rss_off), median(&mut hwm_off));
    println!("| console on, before any login | {:.1} | |", median(&mut rss_before));
    println!("| console on, after one login | {:.1} | |", median(&mut rss_login));
    println!("| console on, after ten logins | {:.1} | |", median(&mut rss_logins));
    println!("| console on, after the requests | {:.1} | {:.1} |", median(&mut rss_on), median(&mut hwm_on));
    println!(
        "| ratio on / off | {:.2} | {:.2} |",
        median(&mut rss_on) / median(&mut rss_off),
        median(&mut hwm_on) / median(&mut hwm_off)
    );
    println!();
}
