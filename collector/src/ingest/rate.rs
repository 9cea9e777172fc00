//! The per-token write rate limit (`ingest.rate_limit`): a token bucket of
//! points for each token, filled at `points_per_sec` up to `burst_points`.
//!
//! A write is let in while its token's bucket is above zero, and every line
//! it carried (accepted or not: parsing them is the cost) is then taken out,
//! so the bucket may go below zero and one large body is never refused for
//! its size alone. A write that finds the bucket empty is answered 429 with
//! `Retry-After` before its body is read, so a flooding writer costs little
//! more than its requests' headers, and a well-behaved client (the agent,
//! Telegraf) keeps its points and sends them again later.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `ingest.rate_limit`: per token; `points_per_sec: 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub points_per_sec: f64,
    pub burst_points: f64,
}

#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
    /// Requests refused, since start.
    refused: u64,
    last_refused: Option<Instant>,
    last_warned: Option<Instant>,
}

/// The buckets, one per token name; kept across reloads.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// A refused write: how long until the bucket is above zero again, and
/// whether to log it (once a minute per token).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited {
    pub retry_after: Duration,
    pub warn: bool,
}

/// A write costs one point per line, and at least one per this many bytes
/// (inflated), so a few very long lines cost what they take to parse.
pub const BYTES_PER_POINT: usize = 256;

/// Tokens refused within this long are named by the `ingest_rate_limited` alarm.
pub const ALARM_WINDOW: Duration = Duration::from_secs(60);

impl RateLimiter {
    /// Lets a write of `token` in, or says how long to wait.
    pub fn admit(&self, token: &str, rate: Rate, now: Instant) -> Result<(), Limited> {
        if rate.points_per_sec <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let b = buckets.entry(token.to_string()).or_insert_with(|| Bucket {
            level: rate.burst_points,
            at: now,
            refused: 0,
            last_refused: None,
            last_warned: None,
        });
        refill(b, rate, now);
        if b.level > 0.0 {
            return Ok(());
        }
        b.refused += 1;
        b.last_refused = Some(now);
        let warn = b.last_warned.is_none_or(|w| now.duration_since(w) >= Duration::from_secs(60));
        if warn {
            b.last_warned = Some(now);
        }
        // Until the level is back above zero: at least a second.
        let secs = ((-b.level + 1.0) / rate.points_per_sec).ceil().max(1.0);
        Err(Limited { retry_after: Duration::from_secs_f64(secs), warn })
    }

    /// Takes the lines a write carried out of its token's bucket.
    pub fn charge(&self, token: &str, lines: usize, rate: Rate, now: Instant) {
        if rate.points_per_sec <= 0.0 || lines == 0 {
            return;
        }
        let mut buckets = self.buckets.lock().expect("not poisoned");
        if let Some(b) = buckets.get_mut(token) {
            refill(b, rate, now);
            // Debt is kept whole: writes let in together (up to half of
            // max_concurrent_bodies) are all paid for.
            b.level -= lines as f64;
        }
    }

    /// Requests refused per token since start (for `/metrics`).
    pub fn refused(&self) -> Vec<(String, u64)> {
        let buckets = self.buckets.lock().expect("not poisoned");
        let mut v: Vec<_> =
            buckets.iter().filter(|(_, b)| b.refused > 0).map(|(k, b)| (k.clone(), b.refused)).collect();
        v.sort();
        v
    }

    /// Tokens refused within [`ALARM_WINDOW`] before `now`, and every token
    /// ever refused (to resolve their alarms).
    pub fn recently_refused(&self, now: Instant) -> Vec<(String, bool)> {
        let buckets = self.buckets.lock().expect("not poisoned");
        let mut v: Vec<_> = buckets
            .iter()
            .filter_map(|(k, b)| b.last_refused.map(|at| (k.clone(), now.saturating_duration_since(at) < ALARM_WINDOW)))
            .collect();
        v.sort();
        v
    }
}

fn refill(b: &mut Bucket, rate: Rate, now: Instant) {
    let dt = now.saturating_duration_since(b.at).as_secs_f64();
    b.level = (b.level + dt * rate.points_per_sec).min(rate.burst_points);
    b.at = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate { points_per_sec: 1000.0, burst_points: 5000.0 };

    #[test]
    fn a_token_gets_its_burst_then_its_rate_and_others_are_not_held_back() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(r.admit("flood", RATE, t0), Ok(()));
        // One body larger than the burst is let in, and puts the bucket in debt.
        r.charge("flood", 8000, RATE, t0);
        let refused = r.admit("flood", RATE, t0).unwrap_err();
        assert_eq!(refused, Limited { retry_after: Duration::from_secs(4), warn: true });
        // Logged once a minute, not per request.
        assert!(!r.admit("flood", RATE, t0 + Duration::from_secs(1)).unwrap_err().warn);
        assert_eq!(r.admit("web01", RATE, t0 + Duration::from_secs(1)), Ok(()));
        // A debt of 3000 is paid back at 1000/s.
        assert!(r.admit("flood", RATE, t0 + Duration::from_millis(2900)).is_err());
        assert_eq!(r.admit("flood", RATE, t0 + Duration::from_millis(3100)), Ok(()));
        // Debt is paid in full, however large.
        r.charge("flood", 1_000_000, RATE, t0 + Duration::from_millis(3100));
        assert_eq!(
            r.admit("flood", RATE, t0 + Duration::from_millis(3100)).unwrap_err().retry_after,
            Duration::from_secs(1000)
        );
        assert_eq!(r.refused(), vec![("flood".to_string(), 4)]);
        assert_eq!(r.recently_refused(t0 + Duration::from_secs(30)), vec![("flood".to_string(), true)]);
        assert_eq!(r.recently_refused(t0 + Duration::from_secs(65)), vec![("flood".to_string(), false)]);
    }

    #[test]
    fn the_bucket_refills_to_the_burst_and_no_further() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(r.admit("a", RATE, t0), Ok(()));
        r.charge("a", 4999, RATE, t0);
        // An hour idle refills 5000, not 3.6 million.
        let t1 = t0 + Duration::from_secs(3600);
        assert_eq!(r.admit("a", RATE, t1), Ok(()));
        r.charge("a", 5000, RATE, t1);
        assert!(r.admit("a", RATE, t1).is_err());
    }

    #[test]
    fn a_rate_of_zero_lets_everything_in() {
        let r = RateLimiter::default();
        let off = Rate { points_per_sec: 0.0, burst_points: 0.0 };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.admit("a", off, t0), Ok(()));
            r.charge("a", 1_000_000, off, t0);
        }
        assert_eq!(r.refused(), vec![]);
    }
}
