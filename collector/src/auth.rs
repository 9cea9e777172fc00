//! Tokens, kept only as SHA-256 hashes and matched in constant time, and the
//! roles of the API's tokens. Ingest tokens (`ingest/auth.rs`) and API tokens
//! share the table; what a token may do is the holder's type `T`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn parse_sha256(hex_digest: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest.trim(), &mut out).ok()?;
    Some(out)
}

/// The shortest token accepted in a config (random characters).
pub const MIN_TOKEN_CHARS: usize = 16;

/// Checks a config entry that gives a token in clear or as a hash; `at` is
/// its key path.
pub fn check_secret(
    at: &str,
    token: Option<&str>,
    token_sha256: Option<&str>,
    p: &mut Vec<dcwatch_common::config::Problem>,
) {
    use dcwatch_common::config::Problem;
    match (token, token_sha256) {
        (Some(_), Some(_)) => p.push(Problem::general(format!("{at}: give token or token_sha256, not both"))),
        (None, None) => p.push(Problem::general(format!("{at}: needs token_sha256 (or token)"))),
        (Some(tok), None) if tok.trim().is_empty() => p.push(Problem::general(format!(
            "{at}.token: is empty (an unset ${{VARIABLE}}?); an empty token would let anyone in"
        ))),
        (Some(tok), None) if tok.chars().count() < MIN_TOKEN_CHARS => p.push(Problem::general(format!(
            "{at}.token: too short ({} characters); use at least {MIN_TOKEN_CHARS} random characters",
            tok.chars().count()
        ))),
        (None, Some(h)) if parse_sha256(h).is_none() => p.push(Problem::general(format!(
            "{at}.token_sha256: must be 64 hex digits (see `dcwatch-collector hash-token`)"
        ))),
        _ => {}
    }
}

/// The hash of a validated entry (None only for an entry validation refused).
pub fn secret_hash(token: Option<&str>, token_sha256: Option<&str>) -> Option<[u8; 32]> {
    match (token, token_sha256) {
        (Some(t), _) if t.chars().count() >= MIN_TOKEN_CHARS => Some(sha256(t)),
        (None, Some(h)) => parse_sha256(h),
        _ => None,
    }
}

/// Hashed tokens and who holds each.
#[derive(Debug)]
pub struct TokenTable<T> {
    entries: Vec<([u8; 32], T)>,
}

impl<T> Default for TokenTable<T> {
    fn default() -> Self {
        TokenTable { entries: Vec::new() }
    }
}

impl<T: Clone> TokenTable<T> {
    pub fn new(entries: impl IntoIterator<Item = ([u8; 32], T)>) -> Self {
        TokenTable { entries: entries.into_iter().collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The holder of `presented`. Every entry is compared, whatever matches,
    /// so the time taken says nothing about which token came close. An
    /// empty token matches nothing.
    pub fn find(&self, presented: &str) -> Option<T> {
        if presented.is_empty() {
            return None;
        }
        let hash = sha256(presented);
        let mut found = None;
        for (h, holder) in &self.entries {
            if bool::from(h.ct_eq(&hash)) {
                found = Some(holder);
            }
        }
        found.cloned()
    }
}

/// What an API token (later, a user) may do. Each role may do everything
/// the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads alarms, status, silences, history and the detail of `/health`.
    Viewer,
    /// Also acknowledges alarms and creates and ends silences.
    Operator,
    /// Also reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// The holder of an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiIdentity {
    pub name: String,
    pub role: Role,
}

/// Pulls a token out of the places InfluxDB and HTTP clients put it:
/// `Authorization: Token X` or `Bearer X`, `Authorization: Basic
/// base64(user:X)` or the `p` query parameter (InfluxDB 1.x clients).
pub fn presented_token(authorization: Option<&str>, query_p: Option<&str>) -> Option<String> {
    use base64::Engine;
    if let Some(h) = authorization.map(str::trim) {
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
            return Some(rest.to_string());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            return text.split_once(':').map(|(_, p)| p.to_string());
        }
    }
    query_p.map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_every_place_influxdb_clients_put_them() {
        assert_eq!(presented_token(Some("Token abc"), None), Some("abc".into()));
        assert_eq!(presented_token(Some("Bearer abc"), None), Some("abc".into()));
        // base64("telegraf:abc")
        assert_eq!(presented_token(Some("Basic dGVsZWdyYWY6YWJj"), None), Some("abc".into()));
        assert_eq!(presented_token(None, Some("abc")), Some("abc".into()));
        assert_eq!(presented_token(None, None), None);
    }

    #[test]
    fn a_hex_digest_must_have_64_digits() {
        assert_eq!(parse_sha256(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_sha256("abc"), None);
    }

    #[test]
    fn an_empty_token_matches_nothing_even_an_empty_entry() {
        // An entry hashed from "" can only exist if validation was skipped;
        // the table still refuses the empty token.
        let t = TokenTable::new([(sha256(""), "x")]);
        assert_eq!(t.find(""), None);
        assert_eq!(TokenTable::new([(sha256("0123456789abcdef"), "x")]).find("0123456789abcdef"), Some("x"));
    }

    #[test]
    fn empty_and_short_tokens_are_refused_at_load() {
        let mut p = Vec::new();
        check_secret("api.tokens[0]", Some(""), None, &mut p);
        check_secret("api.tokens[1]", Some("short"), None, &mut p);
        check_secret("api.tokens[2]", Some("0123456789abcdef"), None, &mut p);
        let msgs: Vec<_> = p.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "api.tokens[0].token: is empty (an unset ${VARIABLE}?); an empty token would let anyone in",
                "api.tokens[1].token: too short (5 characters); use at least 16 random characters",
            ]
        );
        assert_eq!(secret_hash(Some(""), None), None);
    }
}
