//! What the trap receiver keeps per SNMPv3 sender (a relay socket), bounded.
//!
//! Anyone can send a datagram to the trap port, and each new SNMPv3 sender
//! needs a relay socket so async-snmp's receiver sees (and answers) it under
//! its own address. So the state is earned and kept small:
//!
//! - a sender is *unauthenticated* until the receiver has accepted a
//!   notification from it; it is forgotten [`UNAUTHENTICATED_GRACE`] after it
//!   was first heard, whatever it sends meanwhile (enough for an inform's
//!   engine discovery round trip);
//! - an authenticated sender is forgotten after [`IDLE`] without a datagram;
//! - at most `cap` senders are kept: a new one makes room by evicting the
//!   least recently heard unauthenticated sender, and only when there is
//!   none the least recently heard authenticated one. A flood of forged
//!   datagrams thus only ever evicts its own kind.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

/// How long a sender that never sent a valid notification is kept.
pub const UNAUTHENTICATED_GRACE: Duration = Duration::from_secs(5);
/// How long an authenticated sender is kept without a datagram.
pub const IDLE: Duration = Duration::from_secs(60);

struct Entry<T> {
    value: T,
    /// The relay's own (loopback) address: what the receiver reports as source.
    local: SocketAddr,
    first_heard: Instant,
    last_heard: Instant,
    authenticated: bool,
}

/// The senders and their values (relays), at most `cap` of them.
pub struct Senders<T> {
    by_sender: HashMap<SocketAddr, Entry<T>>,
    by_local: HashMap<SocketAddr, SocketAddr>,
    cap: usize,
    /// Senders forgotten to make room for a new one.
    pub evicted: u64,
    /// Senders forgotten because they never authenticated in time, or went idle.
    pub expired: u64,
}

impl<T> Senders<T> {
    pub fn new(cap: usize) -> Senders<T> {
        Senders { by_sender: HashMap::new(), by_local: HashMap::new(), cap: cap.max(1), evicted: 0, expired: 0 }
    }

    pub fn len(&self) -> usize {
        self.by_sender.len()
    }

    /// A known sender's value; its datagram counts as heard now.
    pub fn get(&mut self, sender: SocketAddr, now: Instant) -> Option<&T> {
        let e = self.by_sender.get_mut(&sender)?;
        e.last_heard = now;
        Some(&e.value)
    }

    /// Adds a new sender, first forgetting expired ones and, when still
    /// full, evicting one. Returns what was dropped, for the caller to close.
    pub fn insert(&mut self, sender: SocketAddr, local: SocketAddr, value: T, now: Instant) -> Vec<T> {
        let mut dropped = self.expire(now);
        if let Some(old) = self.remove(sender) {
            dropped.push(old);
        }
        while self.by_sender.len() >= self.cap {
            let victim = self
                .by_sender
                .iter()
                .min_by_key(|(_, e)| (e.authenticated, e.last_heard))
                .map(|(s, _)| *s)
                .expect("full, so not empty");
            dropped.extend(self.remove(victim));
            self.evicted += 1;
        }
        self.by_local.insert(local, sender);
        self.by_sender.insert(sender, Entry { value, local, first_heard: now, last_heard: now, authenticated: false });
        dropped
    }

    /// The sender whose relay has the address `local`.
    pub fn sender_of(&self, local: SocketAddr) -> Option<SocketAddr> {
        self.by_local.get(&local).copied()
    }

    /// The receiver accepted a notification from `sender`: keep it for [`IDLE`].
    pub fn authenticated(&mut self, sender: SocketAddr, now: Instant) {
        if let Some(e) = self.by_sender.get_mut(&sender) {
            e.authenticated = true;
            e.last_heard = now;
        }
    }

    /// Forgets the senders whose time is up; returns their values.
    pub fn expire(&mut self, now: Instant) -> Vec<T> {
        let due: Vec<SocketAddr> = self
            .by_sender
            .iter()
            .filter(|(_, e)| {
                if e.authenticated {
                    now.duration_since(e.last_heard) >= IDLE
                } else {
                    now.duration_since(e.first_heard) >= UNAUTHENTICATED_GRACE
                }
            })
            .map(|(s, _)| *s)
            .collect();
        self.expired += due.len() as u64;
        due.into_iter().filter_map(|s| self.remove(s)).collect()
    }

    fn remove(&mut self, sender: SocketAddr) -> Option<T> {
        let e = self.by_sender.remove(&sender)?;
        self.by_local.remove(&e.local);
        Some(e.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 9], port))
    }

    fn local(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_heard_unauthenticated_sender_first() {
        let t0 = Instant::now();
        let mut s: Senders<u16> = Senders::new(3);
        assert_eq!(s.insert(addr(1), local(101), 1, t0), Vec::<u16>::new());
        s.authenticated(addr(1), t0);
        s.insert(addr(2), local(102), 2, t0 + Duration::from_millis(1));
        s.insert(addr(3), local(103), 3, t0 + Duration::from_millis(2));
        // 2 is heard again: 3 is now the least recently heard unauthenticated one.
        assert_eq!(s.get(addr(2), t0 + Duration::from_millis(3)), Some(&2));
        assert_eq!(s.insert(addr(4), local(104), 4, t0 + Duration::from_millis(4)), vec![3]);
        assert_eq!(s.insert(addr(5), local(105), 5, t0 + Duration::from_millis(5)), vec![2]);
        // The authenticated sender survives the flood; its relay is still found.
        assert_eq!(s.sender_of(local(101)), Some(addr(1)));
        assert_eq!(s.sender_of(local(103)), None);
        assert_eq!((s.len(), s.evicted, s.expired), (3, 2, 0));
    }

    #[test]
    fn only_authenticated_senders_left_means_the_least_recently_heard_of_them_goes() {
        let t0 = Instant::now();
        let mut s: Senders<u16> = Senders::new(2);
        s.insert(addr(1), local(101), 1, t0);
        s.insert(addr(2), local(102), 2, t0);
        s.authenticated(addr(2), t0 + Duration::from_millis(1));
        s.authenticated(addr(1), t0 + Duration::from_millis(2));
        assert_eq!(s.insert(addr(3), local(103), 3, t0 + Duration::from_millis(3)), vec![2]);
        assert_eq!((s.len(), s.evicted), (2, 1));
    }

    #[test]
    fn a_sender_that_never_authenticates_is_forgotten_after_the_grace_even_if_it_keeps_sending() {
        let t0 = Instant::now();
        let mut s: Senders<u16> = Senders::new(10);
        s.insert(addr(1), local(101), 1, t0);
        assert_eq!(s.get(addr(1), t0 + Duration::from_secs(4)), Some(&1));
        assert_eq!(s.expire(t0 + UNAUTHENTICATED_GRACE - Duration::from_millis(1)), Vec::<u16>::new());
        assert_eq!(s.expire(t0 + UNAUTHENTICATED_GRACE), vec![1]);
        assert_eq!((s.len(), s.expired, s.evicted), (0, 1, 0));
        assert_eq!(s.sender_of(local(101)), None);
    }

    #[test]
    fn an_authenticated_sender_is_kept_while_heard_and_forgotten_after_a_minute_of_silence() {
        let t0 = Instant::now();
        let mut s: Senders<u16> = Senders::new(10);
        s.insert(addr(1), local(101), 1, t0);
        s.authenticated(addr(1), t0);
        s.get(addr(1), t0 + Duration::from_secs(50));
        assert_eq!(s.expire(t0 + Duration::from_secs(100)), Vec::<u16>::new());
        assert_eq!(s.expire(t0 + Duration::from_secs(110)), vec![1]);
        assert_eq!(s.expired, 1);
    }

    #[test]
    fn expired_senders_make_room_before_anything_is_evicted() {
        let t0 = Instant::now();
        let mut s: Senders<u16> = Senders::new(2);
        s.insert(addr(1), local(101), 1, t0);
        s.insert(addr(2), local(102), 2, t0 + Duration::from_secs(4));
        assert_eq!(s.insert(addr(3), local(103), 3, t0 + Duration::from_secs(6)), vec![1]);
        assert_eq!((s.len(), s.expired, s.evicted), (2, 1, 0));
    }
}
