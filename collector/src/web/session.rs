//! Sessions: a random 256-bit token in the cookie `dcwatch_session`, and on
//! the server a map from the token's SHA-256 to the user, their role, the
//! session's CSRF token and when it was opened and last used. A session
//! ends after `web.idle_timeout_secs` unused, `web.lifetime_secs` after
//! its login, at logout, or when its user is disabled or changed (the
//! user's epoch moved, checked at each request against users.db).
//!
//! Times are on the monotonic clock and passed in, so tests move them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::auth::Role;

pub const COOKIE: &str = "dcwatch_session";
/// The login form's own token (double submit: cookie and form field), as
/// there is no session yet to hold one.
pub const LOGIN_COOKIE: &str = "dcwatch_login";
/// Sessions held at once; past it the one idle longest is ended.
const MAX_SESSIONS: usize = 10_000;
/// Sessions one user holds at once; a new login past it ends that user's
/// least recently used one (so one account cannot push out the others').
pub const MAX_SESSIONS_PER_USER: usize = 10;

/// 32 random bytes from the operating system, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random source");
    hex::encode(b)
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The cookie's name as sent: under TLS with the `__Secure-` prefix, so a
/// browser takes it only from an HTTPS answer with `Secure` (a page of the
/// same host over plain HTTP cannot set or overwrite it). `__Host-` would
/// also need `Path=/`; the console's cookies are for `/ui` only.
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure { format!("__Secure-{name}") } else { name.to_string() }
}

/// `Set-Cookie` of a session (or the login form's token): HttpOnly,
/// SameSite=Strict, only for `/ui`, Secure (and `__Secure-`) when the
/// listener has TLS. No Max-Age: the browser forgets it when closed, and
/// the server ends it.
pub fn set_cookie(name: &str, value: &str, secure: bool) -> String {
    let (name, flag) = (cookie_name(name, secure), if secure { "; Secure" } else { "" });
    format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict{flag}")
}

/// `Set-Cookie` that makes the browser drop the cookie `name`.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    let (name, flag) = (cookie_name(name, secure), if secure { "; Secure" } else { "" });
    format!("{name}=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict{flag}")
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// What every form of this session carries.
    pub csrf: String,
    /// The user's epoch at login (see `users::User::epoch`).
    pub epoch: i64,
    pub opened: Instant,
    pub last_seen: Instant,
}

pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    lifetime: Duration,
}

fn key(token: &str) -> [u8; 32] {
    crate::auth::sha256(token)
}

impl Sessions {
    pub fn new(idle: Duration, lifetime: Duration) -> Sessions {
        Sessions { map: Mutex::new(HashMap::new()), idle, lifetime }
    }

    /// Opens a session; returns its token (for the cookie).
    pub fn open(&self, user: &str, role: Role, epoch: i64, now: Instant) -> (String, Session) {
        let token = random_token();
        let s = Session { user: user.to_string(), role, csrf: random_token(), epoch, opened: now, last_seen: now };
        let mut map = self.map.lock().expect("not poisoned");
        map.retain(|_, s| !self.expired(s, now));
        let mine: Vec<_> = map.iter().filter(|(_, s)| s.user == user).map(|(k, s)| (s.last_seen, *k)).collect();
        if mine.len() >= MAX_SESSIONS_PER_USER
            && let Some((_, k)) = mine.iter().min()
        {
            map.remove(k);
        }
        if map.len() >= MAX_SESSIONS
            && let Some(k) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
        {
            map.remove(&k);
        }
        map.insert(key(&token), s.clone());
        (token, s)
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_seen) >= self.idle
            || now.saturating_duration_since(s.opened) >= self.lifetime
    }

    /// The session of `token`, marked used at `now`; None (and forgotten)
    /// if it has passed its idle timeout or its lifetime.
    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        self.lookup(token, now, true)
    }

    /// The session of `token` as [`Sessions::get`] finds it, but not marked
    /// used: a page's live updates do not keep it from its idle timeout.
    pub fn peek(&self, token: &str, now: Instant) -> Option<Session> {
        self.lookup(token, now, false)
    }

    fn lookup(&self, token: &str, now: Instant, used: bool) -> Option<Session> {
        let mut map = self.map.lock().expect("not poisoned");
        let k = key(token);
        let s = map.get_mut(&k)?;
        if self.expired(s, now) {
            map.remove(&k);
            return None;
        }
        if used {
            s.last_seen = now;
        }
        Some(s.clone())
    }

    /// Ends the session of `token` (logout, or its user changed).
    pub fn end(&self, token: &str) {
        self.map.lock().expect("not poisoned").remove(&key(token));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().expect("not poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_a_session_ends_after_its_idle_timeout_and_its_lifetime() {
        let s = Sessions::new(Duration::from_secs(1800), Duration::from_secs(43_200));
        let t0 = Instant::now();
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        let (tok, opened) = s.open("nam", Role::Operator, 1, t0);
        assert_eq!(tok.len(), 64);
        assert_eq!(opened.csrf.len(), 64);
        assert_ne!(tok, opened.csrf);
        // Used every 29 minutes, it lives on.
        for m in (29..=29 * 24).step_by(29) {
            assert_eq!(s.get(&tok, min(m)).map(|x| x.user), Some("nam".into()), "minute {m}");
        }
        // 12 h after the login it ends, however recently used.
        assert_eq!(s.get(&tok, min(720)), None);
        assert_eq!(s.len(), 0);

        let (tok, _) = s.open("lan", Role::Viewer, 1, t0);
        assert!(s.get(&tok, min(29)).is_some());
        // 30 minutes unused after its last use: ended.
        assert_eq!(s.get(&tok, min(59)), None);
        // Ended means forgotten: coming back earlier does not revive it.
        assert_eq!(s.get(&tok, min(30)), None);

        // Live updates (peek) do not count as use: 30 minutes after the
        // last real use the session ends, however often it was peeked at.
        let (tok, _) = s.open("lan", Role::Viewer, 1, t0);
        assert!(s.get(&tok, min(10)).is_some());
        for m in 11..=39 {
            assert_eq!(s.peek(&tok, min(m)).map(|x| x.user), Some("lan".into()), "minute {m}");
        }
        assert_eq!(s.peek(&tok, min(40)), None);
        assert_eq!(s.get(&tok, min(20)), None);

        let (tok, _) = s.open("lan", Role::Viewer, 1, t0);
        s.end(&tok);
        assert_eq!(s.get(&tok, t0), None);
        assert_eq!(s.get("not-a-token", t0), None);
    }

    #[test]
    fn web_an_eleventh_login_of_one_user_ends_that_users_oldest_session_only() {
        let s = Sessions::new(Duration::from_secs(1800), Duration::from_secs(43_200));
        let t0 = Instant::now();
        let at = |i: u64| t0 + Duration::from_secs(i);
        let (other, _) = s.open("lan", Role::Viewer, 1, at(0));
        let tokens: Vec<String> = (1..=10).map(|i| s.open("nam", Role::Operator, 1, at(i)).0).collect();
        let (newest, _) = s.open("nam", Role::Operator, 1, at(11));
        let alive: Vec<bool> = tokens.iter().map(|t| s.get(t, at(12)).is_some()).collect();
        assert_eq!(alive, [false, true, true, true, true, true, true, true, true, true]);
        assert_eq!(s.get(&newest, at(12)).map(|x| x.user), Some("nam".to_string()));
        assert_eq!(s.get(&other, at(12)).map(|x| x.user), Some("lan".to_string()));
    }

    #[test]
    fn web_cookies_have_exactly_their_attributes() {
        assert_eq!(set_cookie(COOKIE, "abc", false), "dcwatch_session=abc; Path=/ui; HttpOnly; SameSite=Strict");
        assert_eq!(
            set_cookie(COOKIE, "abc", true),
            "__Secure-dcwatch_session=abc; Path=/ui; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            clear_cookie(COOKIE, true),
            "__Secure-dcwatch_session=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(clear_cookie(LOGIN_COOKIE, false), "dcwatch_login=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict");
        assert_eq!(cookie("a=1; dcwatch_session=xyz ; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("dcwatch_session_x=1", COOKIE), None);
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("", ""));
    }
}
