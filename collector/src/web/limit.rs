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
/// Names and addresses tracked at once. Past it a newcomer is not tracked
/// (its attempts are still bounded by [`super::login`]'s password-check
/// permits), so a flood of made-up names or addresses can neither grow the
/// map without bound nor lock out the users it does not know.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    /// An IPv4 address, or an IPv6 address's /64 (one subscriber's block).
    Addr(Option<IpAddr>),
}

#[derive(Default)]
pub struct LoginLimit {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

/// The address as the limit counts it: IPv4 as it is (an IPv4-mapped IPv6
/// address as its IPv4), IPv6 by its /64.
fn addr_key(addr: Option<IpAddr>) -> Option<IpAddr> {
    addr.map(|a| match a {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    })
}

fn keys(user: &str, addr: Option<IpAddr>) -> [Key; 2] {
    [Key::User(user.to_lowercase()), Key::Addr(addr_key(addr))]
}

impl LoginLimit {
    /// Takes one attempt for `user` from `addr`: refused (with how long
    /// until one is let in again) when the name or the address has
    /// [`MAX_FAILURES`] in the window; otherwise counted as a failure at
    /// once, before the password is checked, so attempts sent together
    /// cannot all pass the check. A good password gives the count back
    /// with [`LoginLimit::succeeded`].
    pub fn attempt(&self, user: &str, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().expect("not poisoned");
        let mut wait = None;
        for k in keys(user, addr) {
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
        if let Some(w) = wait {
            return Err(w);
        }
        if map.len() + 2 > MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|t| now.saturating_duration_since(*t) < WINDOW));
        }
        for k in keys(user, addr) {
            if !map.contains_key(&k) && map.len() >= MAX_KEYS {
                continue;
            }
            let q = map.entry(k).or_default();
            q.push_back(now);
            // Only the last MAX_FAILURES matter.
            while q.len() > MAX_FAILURES {
                q.pop_front();
            }
        }
        Ok(())
    }

    /// A good login clears its name's count, and takes back the failure its
    /// attempt put on its address (not the address's earlier ones: one
    /// user who knows their password must not reset the count of a guesser
    /// behind the same address).
    pub fn succeeded(&self, user: &str, addr: Option<IpAddr>, at: Instant) {
        self.withdraw(user, addr, at);
        self.failures.lock().expect("not poisoned").remove(&Key::User(user.to_lowercase()));
    }

    /// Takes back the failure an attempt at `at` counted, for an attempt
    /// whose password was never checked (the server was busy).
    pub fn withdraw(&self, user: &str, addr: Option<IpAddr>, at: Instant) {
        let mut map = self.failures.lock().expect("not poisoned");
        for k in keys(user, addr) {
            if let Some(q) = map.get_mut(&k)
                && let Some(i) = q.iter().rposition(|t| *t == at)
            {
                q.remove(i);
            }
        }
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
        for m in 0..5 {
            assert_eq!(l.attempt("nam", a, min(m)), Ok(()));
        }
        // The fifth failure: the name is refused from any address, and the
        // address for any name, until minute 15 (when the first leaves the window).
        assert_eq!(l.attempt("nam", b, min(5)), Err(Duration::from_secs(600)));
        assert_eq!(l.attempt("NAM", b, min(5)), Err(Duration::from_secs(600)));
        assert_eq!(l.attempt("lan", a, min(14)), Err(Duration::from_secs(60)));
        assert_eq!(l.attempt("lan", b, min(5)), Ok(()));
        // A good login clears its name's count and gives back its own
        // attempt's count on its address, not the address's earlier ones.
        for m in 6..9 {
            assert_eq!(l.attempt("pat", b, min(m)), Ok(()));
        }
        assert_eq!(l.attempt("pat", b, min(9)), Ok(()));
        l.succeeded("pat", b, min(9));
        assert_eq!(l.attempt("pat", b, min(10)), Ok(()));
        assert_eq!(l.attempt("zed", b, min(10)), Err(Duration::from_secs(600)));
        // At minute 15 the first failure has left the window.
        assert_eq!(l.attempt("other", a, min(15)), Ok(()));
    }

    #[test]
    fn web_attempts_sent_together_are_counted_before_their_passwords_are_checked() {
        let l = LoginLimit::default();
        let t0 = Instant::now();
        let a: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        // Ten attempts at the same moment, none answered yet: five get through.
        let through = (0..10).filter(|_| l.attempt("nam", a, t0).is_ok()).count();
        assert_eq!(through, 5);
    }

    #[test]
    fn web_an_ipv6_address_counts_by_its_64_and_a_mapped_ipv4_as_its_ipv4() {
        let l = LoginLimit::default();
        let t0 = Instant::now();
        for i in 1..=5 {
            let addr: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            assert_eq!(l.attempt(&format!("n{i}"), Some(addr), t0), Ok(()));
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(l.attempt("x", Some(same_64), t0), Err(WINDOW));
        assert_eq!(l.attempt("x", Some(other_64), t0), Ok(()));
        let v4: IpAddr = "10.1.1.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.1.1.1".parse().unwrap();
        for i in 0..5 {
            assert_eq!(l.attempt(&format!("m{i}"), Some(v4), t0), Ok(()));
        }
        assert_eq!(l.attempt("y", Some(mapped), t0), Err(WINDOW));
    }
}
