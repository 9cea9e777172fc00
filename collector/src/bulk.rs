//! Threads for the CPU work of large writes: inflating and parsing a body
//! of thousands of lines, and applying its points to the alarm and trend
//! state. They run at a lower CPU priority (nice 10) than the rest of the
//! collector, so on a small server a large or flooding writer gets the CPU
//! the others leave, and an agent's small write (parsed on the async
//! workers) is answered without waiting behind it. One thread per core, at
//! most four; jobs wait their turn in one queue, and their number is held
//! down by `ingest.max_concurrent_bodies` and the connection cap.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// The nice value of the bulk threads (the collector runs at 0).
pub const NICE: i32 = 10;

/// A body of at least this many bytes (as inflated, or as sent times 8 for
/// gzip) is parsed here rather than on an async worker.
pub const LARGE_BODY_BYTES: usize = 64 * 1024;

/// A write of at least this many points has them applied here.
pub const LARGE_OBSERVATIONS: usize = 1000;

fn queue() -> &'static Mutex<mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("bulk-{i}"))
                .spawn(move || {
                    // On Linux the nice value is the calling thread's own.
                    // SAFETY: setpriority takes plain integers; failure
                    // (a seccomp filter, say) only leaves the thread at 0.
                    // A collector started at a lower priority stays there.
                    unsafe {
                        if libc::getpriority(libc::PRIO_PROCESS, 0) < NICE {
                            libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
                        }
                    }
                    loop {
                        let job = match rx.lock().expect("not poisoned").recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        job();
                    }
                })
                .expect("cannot start a bulk thread");
        }
        Mutex::new(tx)
    })
}

/// Why a bulk job gave no result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BulkError {
    #[error("the bulk threads have stopped")]
    Stopped,
    #[error("a bulk job ended without a result")]
    NoResult,
}

/// Runs `f` on a bulk thread and waits for its result.
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, BulkError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    queue()
        .lock()
        .expect("not poisoned")
        .send(Box::new(move || {
            let _ = tx.send(f());
        }))
        .map_err(|_| BulkError::Stopped)?;
    rx.await.map_err(|_| BulkError::NoResult)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_job_runs_at_the_lower_priority_and_returns_its_result() {
        // SAFETY: getpriority of the calling thread.
        let caller = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let (nice, sum) = super::run(|| {
            // SAFETY: getpriority of the calling thread.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            (nice, (1..=100).sum::<u32>())
        })
        .await
        .unwrap();
        assert_eq!((nice, sum), (super::NICE.max(caller), 5050));
        // The async worker itself keeps its priority.
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, caller);
    }
}
