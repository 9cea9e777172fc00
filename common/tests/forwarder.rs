//! The forwarder against a scripted HTTP target: what it retries, what it
//! drops, what it keeps, and what it flushes at shutdown.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use dcwatch_common::forward::{self, Chunk, ForwarderSettings};
use dcwatch_common::write::{Flavour, Writer, WriterSettings};
use tokio::sync::watch;

/// A target that answers each request with the next scripted status (204
/// once the script is used up) and records the bodies of those it accepted.
#[derive(Clone, Default)]
struct Target {
    script: Arc<Mutex<Vec<u16>>>,
    accepted: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<u32>>,
}

impl Target {
    async fn start(script: &[u16]) -> (Target, String) {
        let t = Target { script: Arc::new(Mutex::new(script.iter().rev().copied().collect())), ..Default::default() };
        let state = t.clone();
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let t = state.clone();
            async move {
                *t.requests.lock().unwrap() += 1;
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
        buffer_max_lines: 1000,
        max_backoff,
        shutdown_timeout: Duration::from_secs(5),
        max_in_flight: 1,
    }
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
    })
    .unwrap()
}

fn chunk(text: &str) -> Chunk {
    Chunk { data: Bytes::from(text.to_string()), lines: text.lines().count() as u64 }
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
    let (_stop, stop_rx) = watch::channel(false);
    let (h, _task) = forward::spawn(writer(&url), settings(Duration::from_secs(2)), stop_rx);
    h.push(chunk("m v=1 1\nm v=2 2\n"));
    // Wait on the forwarder's own count: the target records a body before
    // the forwarder has read the answer.
    until("the retried batch to be counted as sent", || h.stats.sent_lines.load(Ordering::Relaxed) == 2).await;
    assert_eq!(target.accepted(), vec!["m v=1 1\nm v=2 2\n".to_string()]);
    assert_eq!(target.requests(), 2);
    assert_eq!(h.stats.sent_lines.load(Ordering::Relaxed), 2);
    assert_eq!(h.stats.errors_total.load(Ordering::Relaxed), 1);
    assert_eq!(h.stats.queued_lines.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_400_drops_the_batch_and_later_batches_still_go() {
    let (target, url) = Target::start(&[400]).await;
    let (_stop, stop_rx) = watch::channel(false);
    let (h, _task) = forward::spawn(writer(&url), settings(Duration::from_secs(2)), stop_rx);
    h.push(chunk("bad v=1 1\n"));
    until("the drop to be counted", || h.stats.dropped_lines.load(Ordering::Relaxed) == 1).await;
    h.push(chunk("good v=2 2\n"));
    until("the next batch", || !target.accepted().is_empty()).await;
    assert_eq!(target.accepted(), vec!["good v=2 2\n".to_string()]);
    assert_eq!(target.requests(), 2, "a 400 must not be retried");
    assert_eq!(h.stats.last_error.lock().unwrap().as_deref(), Some("HTTP 400: scripted"));
}

#[tokio::test]
async fn a_401_keeps_the_data_and_retries_until_the_target_accepts() {
    let (target, url) = Target::start(&[401, 401]).await;
    let (_stop, stop_rx) = watch::channel(false);
    let (h, _task) = forward::spawn(writer(&url), settings(Duration::from_secs(1)), stop_rx);
    h.push(chunk("m v=1 1\n"));
    until("delivery once the token is accepted", || h.stats.sent_lines.load(Ordering::Relaxed) == 1).await;
    assert_eq!(target.accepted(), vec!["m v=1 1\n".to_string()]);
    assert_eq!(h.stats.dropped_lines.load(Ordering::Relaxed), 0);
    assert_eq!(target.requests(), 3);
}

#[tokio::test]
async fn shutdown_flushes_what_is_buffered() {
    let (target, url) = Target::start(&[]).await;
    let (stop, stop_rx) = watch::channel(false);
    let mut s = settings(Duration::from_secs(1));
    s.flush_interval = Duration::from_secs(3600);
    let (h, task) = forward::spawn(writer(&url), s, stop_rx);
    h.push(chunk("m v=1 1\n"));
    h.push(chunk("m v=2 2\n"));
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(target.accepted(), vec!["m v=1 1\nm v=2 2\n".to_string()]);
}

#[tokio::test]
async fn past_the_bound_the_oldest_lines_are_dropped_and_counted() {
    // Nothing listens on port 1: every write fails and the buffer fills.
    let (_stop, stop_rx) = watch::channel(false);
    let mut s = settings(Duration::from_secs(3600));
    s.buffer_max_lines = 3;
    s.batch_max_lines = 1;
    let (h, _task) = forward::spawn(writer("http://127.0.0.1:1"), s, stop_rx);
    for i in 0..5 {
        h.push(chunk(&format!("m v={i} {i}\n")));
    }
    until("two drops", || h.stats.dropped_lines.load(Ordering::Relaxed) == 2).await;
    assert_eq!(h.stats.queued_lines.load(Ordering::Relaxed), 3);
}
