//! The forwarder, reading a real spool, against a scripted HTTP target:
//! what it retries, what it drops, what it keeps, and where a restart resumes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use dcwatch_common::forward::{self, ForwarderSettings};
use dcwatch_common::spool::{Spool, SpoolSettings, WhenFull};
use dcwatch_common::write::{Flavour, Writer, WriterSettings};
use tokio::sync::watch;

/// A target that answers each request with the next scripted status (204
/// once the script is used up) and records the bodies of those it accepted.
#[derive(Clone, Default)]
struct Target {
    script: Arc<Mutex<Vec<u16>>>,
    accepted: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<u32>>,
    /// The relay's age header of each request, if it had one.
    relay_ages: Arc<Mutex<Vec<Option<String>>>>,
}

impl Target {
    async fn start(script: &[u16]) -> (Target, String) {
        let t = Target { script: Arc::new(Mutex::new(script.iter().rev().copied().collect())), ..Default::default() };
        let state = t.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let t = state.clone();
            async move {
                *t.requests.lock().unwrap() += 1;
                let age = headers.get(forward::RELAY_AGE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
                t.relay_ages.lock().unwrap().push(age);
                let status = t.script.lock().unwrap().pop().unwrap_or(204);
                if status == 204 {
                    t.accepted.lock().unwrap().push(String::from_utf8(body.to_vec()).unwrap());
                }
                let mut resp = axum::response::IntoResponse::into_response((
                    StatusCode::from_u16(status).unwrap(),
                    r#"{"code":"x","message":"scripted"}"#,
                ));
                if status == 503 {
                    resp.headers_mut().insert("Retry-After", "1".parse().unwrap());
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (t, url)
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }

    fn requests(&self) -> u32 {
        *self.requests.lock().unwrap()
    }
}

fn settings(max_backoff: Duration) -> ForwarderSettings {
    ForwarderSettings {
        name: "test".into(),
        batch_max_lines: 100,
        flush_interval: Duration::from_millis(20),
        max_backoff,
        shutdown_timeout: Duration::from_secs(5),
        max_in_flight: 1,
        origins: None,
        skip_relayed: false,
        backlog_bound: None,
    }
}

fn spool(dir: &std::path::Path, max_bytes: u64) -> Arc<Spool> {
    let mut settings = SpoolSettings::new(dir, 64, max_bytes);
    settings.when_full = WhenFull::DropOldest;
    Spool::open(settings, &["target"]).unwrap().0
}

/// Appends lines as one record, like a source's tick or an ingest request.
fn push(spool: &Spool, text: &str) {
    spool.append(text.lines().count() as u64, text.as_bytes(), 1).unwrap();
}

fn writer(url: &str) -> Writer {
    Writer::new(&WriterSettings {
        url: url.into(),
        flavour: Flavour::V2,
        org: "o".into(),
        bucket: "b".into(),
        database: String::new(),
        retention_policy: None,
        token: Some("t".into()),
        username: None,
        password: None,
        gzip: false,
        timeout: Duration::from_secs(5),
        ca_file: None,
        cert_file: None,
        key_file: None,
    })
    .unwrap()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test]
async fn a_503_is_retried_after_retry_after_and_the_batch_arrives_once() {
    let (target, url) = Target::start(&[503]).await;
    let dir = tempfile::tempdir().unwrap();
    let sp = spool(dir.path(), 1 << 20);
    let (_stop, stop_rx) = watch::channel(false);
    let (stats, _task) = forward::spawn(writer(&url), settings(Duration::from_secs(2)), sp.clone(), 0, stop_rx);
    push(&sp, "m v=1 1\nm v=2 2\n");
    // Wait on the forwarder's own count: the target records a body before
    // the forwarder has read the answer.
    until("the retried batch to be counted as sent", || stats.sent_lines.load(Ordering::Relaxed) == 2).await;
    assert_eq!(target.accepted(), vec!["m v=1 1\nm v=2 2\n".to_string()]);
    assert_eq!(target.requests(), 2);
    assert_eq!(stats.errors_total.load(Ordering::Relaxed), 1);
    until("the cursor to pass the batch", || sp.consumer_stats(0).queued_lines == 0).await;
}

#[tokio::test]
async fn records_relayed_by_a_peer_are_passed_over_and_acknowledged_not_sent_back() {
    let (target, url) = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let sp = spool(dir.path(), 1 << 20);
    let (_stop, stop_rx) = watch::channel(false);
    let s = ForwarderSettings { skip_relayed: true, ..settings(Duration::from_secs(2)) };
    let (stats, _task) = forward::spawn(writer(&url), s, sp.clone(), 0, stop_rx);
    push(&sp, "own v=1 1\n");
    sp.append_relayed(2, b"relayed v=1 1\nrelayed v=2 2\n", 1).unwrap();
    push(&sp, "own v=2 2\n");
    sp.append_relayed(1, b"relayed v=3 3\n", 1).unwrap();
    until("the cursor to pass every record", || sp.consumer_stats(0).queued_lines == 0).await;
    assert_eq!(target.accepted().concat(), "own v=1 1\nown v=2 2\n");
    assert_eq!(stats.sent_lines.load(Ordering::Relaxed), 2);
}

/// A relay tells the peer how long ago it took its batch's newest point,
/// by its own clock; other forwarders say nothing of it.
#[tokio::test]
async fn a_relay_says_how_old_its_batch_is_and_a_sink_does_not() {
    for relay in [true, false] {
        let (target, url) = Target::start(&[]).await;
        let dir = tempfile::tempdir().unwrap();
        let sp = spool(dir.path(), 1 << 20);
        let (_stop, stop_rx) = watch::channel(false);
        let s = ForwarderSettings { skip_relayed: relay, ..settings(Duration::from_secs(2)) };
        let (_stats, _task) = forward::spawn(writer(&url), s, sp.clone(), 0, stop_rx);
        // Taken five minutes ago (a backlog).
        sp.append(1, b"m v=1 1\n", dcwatch_common::now_ns() - 300_000_000_000).unwrap();
        until("the batch", || target.accepted().len() == 1).await;
        let ages = target.relay_ages.lock().unwrap().clone();
        if relay {
            let ms: u64 = ages[0].as_deref().expect("an age").parse().unwrap();
            assert!((300_000..360_000).contains(&ms), "{ms}");
        } else {
            assert_eq!(ages, vec![None]);
        }
    }
}

/// A relay to a peer that is down holds at most its bound: what is past it
/// is passed over, counted as dropped, and never sent, not even the batch
/// that was waiting to be retried when the bound passed it.
#[tokio::test]
async fn past_its_backlog_bound_a_forwarder_drops_its_oldest_and_never_sends_them_late() {
    let (target, url) = Target::start(&[503, 503, 503]).await;
    let dir = tempfile::tempdir().unwrap();
    // 64-byte segments: one record (28 + 61 bytes) each.
    let sp = spool(dir.path(), 1 << 20);
    let (_stop, stop_rx) = watch::channel(false);
    let s = ForwarderSettings {
        backlog_bound: Some((2 * 89, Duration::from_secs(3600))),
        ..settings(Duration::from_secs(2))
    };
    let (stats, _task) = forward::spawn(writer(&url), s, sp.clone(), 0, stop_rx);
    let line = |i: usize| format!("rec{i} {:0>55}\n", i);
    // Appended now: within the bound's age, so only its size passes them over.
    let push_now = |i: usize| sp.append(1, line(i).as_bytes(), dcwatch_common::now_ns()).unwrap();
    push_now(0);
    until("the first batch to be refused", || target.requests() >= 1).await;
    for i in 1..6 {
        push_now(i);
    }
    until("the last two to arrive", || stats.sent_lines.load(Ordering::Relaxed) == 2).await;
    assert_eq!(target.accepted(), vec![format!("{}{}", line(4), line(5))]);
    assert_eq!(sp.consumer_stats(0).dropped_lines, 4);
    until("the cursor to the end", || sp.consumer_stats(0).queued_lines == 0).await;
}

#[tokio::test]
async fn a_400_drops_the_batch_and_later_batches_still_go() {
    let (target, url) = Target::start(&[400]).await;
    let dir = tempfile::tempdir().unwrap();
    let sp = spool(dir.path(), 1 << 20);
    let (_stop, stop_rx) = watch::channel(false);
    let (stats, _task) = forward::spawn(writer(&url), settings(Duration::from_secs(2)), sp.clone(), 0, stop_rx);
    push(&sp, "bad v=1 1\n");
    until("the drop to be counted", || stats.dropped_lines.load(Ordering::Relaxed) == 1).await;
    push(&sp, "good v=2 2\n");
    until("the next batch", || stats.sent_lines.load(Ordering::Relaxed) == 1).await;
    assert_eq!(target.accepted(), vec!["good v=2 2\n".to_string()]);
    assert_eq!(target.requests(), 2, "a 400 must not be retried");
    assert_eq!(stats.last_error.lock().unwrap().as_deref(), Some("HTTP 400: scripted"));
}

#[tokio::test]
async fn a_401_keeps_the_data_and_retries_until_the_target_accepts() {
    let (target, url) = Target::start(&[401, 401]).await;
    let dir = tempfile::tempdir().unwrap();
    let sp = spool(dir.path(), 1 << 20);
    let (_stop, stop_rx) = watch::channel(false);
    let (stats, _task) = forward::spawn(writer(&url), settings(Duration::from_secs(1)), sp.clone(), 0, stop_rx);
    push(&sp, "m v=1 1\n");
    until("delivery once the token is accepted", || stats.sent_lines.load(Ordering::Relaxed) == 1).await;
    assert_eq!(target.accepted(), vec!["m v=1 1\n".to_string()]);
    assert_eq!(stats.dropped_lines.load(Ordering::Relaxed), 0);
    assert_eq!(target.requests(), 3);
}

#[tokio::test]
async fn what_was_not_sent_before_a_stop_is_sent_after_a_restart_and_nothing_twice() {
    let (target, url) = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    {
        let sp = spool(dir.path(), 1 << 20);
        let (_stop, stop_rx) = watch::channel(false);
        let (stats, task) = forward::spawn(writer(&url), settings(Duration::from_secs(1)), sp.clone(), 0, stop_rx);
        push(&sp, "m v=1 1\n");
        until("the first point", || stats.sent_lines.load(Ordering::Relaxed) == 1).await;
        task.abort();
        let _ = task.await;
        // Written while no forwarder runs: must go after the restart.
        push(&sp, "m v=2 2\n");
        push(&sp, "m v=3 3\n");
    }
    let sp = spool(dir.path(), 1 << 20);
    assert_eq!(sp.consumer_stats(0).queued_lines, 2);
    let (_stop, stop_rx) = watch::channel(false);
    let (stats, _task) = forward::spawn(writer(&url), settings(Duration::from_secs(1)), sp.clone(), 0, stop_rx);
    until("the backlog", || stats.sent_lines.load(Ordering::Relaxed) == 2).await;
    assert_eq!(target.accepted(), vec!["m v=1 1\n".to_string(), "m v=2 2\nm v=3 3\n".to_string()]);
}

#[tokio::test]
async fn past_the_spool_bound_the_oldest_lines_are_dropped_and_counted() {
    // Nothing listens on port 1: every write fails and the spool fills.
    let dir = tempfile::tempdir().unwrap();
    let sp = spool(dir.path(), 200);
    let (_stop, stop_rx) = watch::channel(false);
    let (stats, _task) =
        forward::spawn(writer("http://127.0.0.1:1"), settings(Duration::from_secs(3600)), sp.clone(), 0, stop_rx);
    for i in 0..6 {
        // 28-byte header + 36 bytes of line = 64: one record per segment.
        push(&sp, &format!("m v={i} {i:0>29}\n"));
    }
    // 6 × 64 = 384 bytes > 200: the three oldest segments go.
    until("three drops", || stats.dropped_lines.load(Ordering::Relaxed) == 3).await;
    assert_eq!(sp.consumer_stats(0).queued_lines, 3);
}

/// A target that refuses, as InfluxDB 1.x does a type conflict (naming no
/// line), any body holding a line with `bad`, and records what it accepted.
async fn picky_target() -> (Arc<Mutex<Vec<String>>>, String) {
    let accepted: Arc<Mutex<Vec<String>>> = Default::default();
    let seen = accepted.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let text = String::from_utf8(body.to_vec()).unwrap();
            if text.contains("bad") {
                let msg = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"bad\" is type integer, already exists as type float dropped=1"}"#;
                return (StatusCode::BAD_REQUEST, msg);
            }
            seen.lock().unwrap().push(text);
            (StatusCode::NO_CONTENT, "")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (accepted, url)
}

#[tokio::test]
async fn a_refused_batch_delivers_its_good_lines_and_counts_only_the_bad_one_by_reason() {
    let (accepted, url) = picky_target().await;
    let dir = tempfile::tempdir().unwrap();
    let sp = spool(dir.path(), 1 << 20);
    let (_stop, stop_rx) = watch::channel(false);
    let mut s = settings(Duration::from_secs(2));
    s.flush_interval = Duration::from_millis(300);
    let (stats, _task) = forward::spawn(writer(&url), s, sp.clone(), 0, stop_rx);
    // Two writers' records in one batch.
    push(&sp, "a v=1 1\na v=2 2\na v=3 3\n");
    push(&sp, "bad v=1i 4\nb v=5 5\n");
    until("the batch to be finished", || sp.consumer_stats(0).queued_lines == 0).await;
    assert_eq!(stats.sent_lines.load(Ordering::Relaxed), 4);
    assert_eq!(stats.sent_batches.load(Ordering::Relaxed), 1);
    assert_eq!(stats.rejected_lines.load(Ordering::Relaxed), 1);
    assert_eq!(stats.rejected(dcwatch_common::isolate::Reason::TypeConflict), 1);
    assert_eq!(stats.rejected(dcwatch_common::isolate::Reason::Refused), 0);
    until("the dropped count", || stats.dropped_lines.load(Ordering::Relaxed) == 1).await;
    let stored: String = accepted.lock().unwrap().concat();
    assert_eq!(stored, "a v=1 1\na v=2 2\na v=3 3\nb v=5 5\n");
}
