//! Failed logins, counted per user name and per client address: after
//! [`MAX_FAILURES`] in [`WINDOW`], the next attempt for that name or from
//! that address is refused (429) without checking its password, until the
//! oldest failure has left the window.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Names and addresses tracked at once; past it newcomers share one count,
/// so a flood of made-up names cannot grow the map without bound.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Addr(Option<IpAddr>),
    Overflow,
}

#[derive(Default)]
pub struct LoginLimit {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

fn keys(user: &str, addr: Option<IpAddr>) -> [Key; 2] {
    [Key::User(user.to_lowercase()), Key::Addr(addr)]
}

impl LoginLimit {
    /// How long until a login for `user` from `addr` is let in again, if it
    /// is refused now.
    pub fn refused_for(&self, user: &str, addr: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().expect("not poisoned");
        let mut wait = None;
        for k in keys(user, addr) {
            let k = if map.contains_key(&k) || map.len() < MAX_KEYS { k } else { Key::Overflow };
            let Some(q) = map.get_mut(&k) else { continue };
            while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
                q.pop_front();
            }
            if q.len() >= MAX_FAILURES {
                // The failure that must leave the window for the count to drop below the limit.
                let oldest = q[q.len() - MAX_FAILURES];
                let w = WINDOW.saturating_sub(now.saturating_duration_since(oldest));
                wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
            }
        }
        wait
    }

    pub fn failed(&self, user: &str, addr: Option<IpAddr>, now: Instant) {
        let mut map = self.failures.lock().expect("not poisoned");
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|t| now.saturating_duration_since(*t) < WINDOW));
        }
        for k in keys(user, addr) {
            let k = if map.contains_key(&k) || map.len() < MAX_KEYS { k } else { Key::Overflow };
            let q = map.entry(k).or_default();
            q.push_back(now);
            // Only the last MAX_FAILURES matter.
            while q.len() > MAX_FAILURES {
                q.pop_front();
            }
        }
    }

    /// A good login clears its name's count (not its address's: one user
    /// who knows their password must not reset the count of a guesser
    /// behind the same address).
    pub fn succeeded(&self, user: &str) {
        self.failures.lock().expect("not poisoned").remove(&Key::User(user.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_five_failures_in_fifteen_minutes_refuse_the_name_and_the_address_until_the_window_passes() {
        let l = LoginLimit::default();
        let t0 = Instant::now();
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        let a: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        let b: Option<IpAddr> = Some("10.0.0.10".parse().unwrap());
        for m in 0..4 {
            assert_eq!(l.refused_for("nam", a, min(m)), None);
            l.failed("nam", a, min(m));
        }
        assert_eq!(l.refused_for("nam", a, min(4)), None);
        l.failed("nam", a, min(4));
        // The fifth failure: the name is refused from any address, and the
        // address for any name, until minute 15 (when the first leaves the window).
        assert_eq!(l.refused_for("nam", b, min(5)), Some(Duration::from_secs(600)));
        assert_eq!(l.refused_for("NAM", b, min(5)), Some(Duration::from_secs(600)));
        assert_eq!(l.refused_for("lan", a, min(14)), Some(Duration::from_secs(60)));
        assert_eq!(l.refused_for("lan", b, min(5)), None);
        // A good login clears the name's count, not the address's.
        l.succeeded("nam");
        assert_eq!(l.refused_for("nam", b, min(6)), None);
        assert_eq!(l.refused_for("lan", a, min(6)), Some(Duration::from_secs(540)));
        // At minute 15 the first failure has left the window.
        assert_eq!(l.refused_for("nam", a, min(15)), None);
    }
}
