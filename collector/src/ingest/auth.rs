//! Agent tokens: kept only as SHA-256 hashes, matched in constant time, each
//! bound to the site (and optionally the host) it may write for.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::TokenConfig;

/// Who wrote, once the token matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub site: Option<String>,
    pub host: Option<String>,
}

impl Identity {
    pub fn anonymous() -> Self {
        Identity { name: "anonymous".into(), site: None, host: None }
    }
}

#[derive(Debug)]
struct Entry {
    hash: [u8; 32],
    identity: Identity,
}

#[derive(Debug)]
pub struct Tokens {
    entries: Vec<Entry>,
    allow_anonymous: bool,
}

pub fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn parse_sha256(hex_digest: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest.trim(), &mut out).ok()?;
    Some(out)
}

/// Why a request could not be authenticated.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Wrong,
}

impl Tokens {
    /// Builds the table; validation has already checked every entry.
    pub fn new(config: &[TokenConfig], allow_anonymous: bool) -> Self {
        let entries = config
            .iter()
            .filter_map(|t| {
                let hash = match (&t.token, &t.token_sha256) {
                    (Some(tok), _) => sha256(tok),
                    (None, Some(h)) => parse_sha256(h)?,
                    (None, None) => return None,
                };
                Some(Entry {
                    hash,
                    identity: Identity { name: t.name.clone(), site: Some(t.site.clone()), host: t.host.clone() },
                })
            })
            .collect();
        Tokens { entries, allow_anonymous }
    }

    /// Finds the token's owner. Every entry is compared, whatever matches, so
    /// the time taken says nothing about which token came close.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Identity, AuthError> {
        let Some(presented) = presented.filter(|p| !p.is_empty()) else {
            return if self.allow_anonymous { Ok(Identity::anonymous()) } else { Err(AuthError::Missing) };
        };
        let hash = sha256(presented);
        let mut found: Option<&Identity> = None;
        for e in &self.entries {
            if bool::from(e.hash.ct_eq(&hash)) {
                found = Some(&e.identity);
            }
        }
        found.cloned().ok_or(AuthError::Wrong)
    }
}

/// Pulls a token out of the places InfluxDB clients put it: `Authorization:
/// Token X` or `Bearer X` (v2), `Authorization: Basic base64(user:X)` or the
/// `p` query parameter (v1).
pub fn presented_token<'a>(authorization: Option<&'a str>, query_p: Option<&'a str>) -> Option<String> {
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

    fn tokens() -> Tokens {
        Tokens::new(
            &[
                TokenConfig {
                    name: "web01".into(),
                    token_sha256: None,
                    token: Some("agent-token-web01".into()),
                    site: "hn".into(),
                    host: Some("web01".into()),
                },
                TokenConfig {
                    name: "hcm".into(),
                    token_sha256: Some(hex::encode(sha256("site-token-hcm-01"))),
                    token: None,
                    site: "hcm".into(),
                    host: None,
                },
            ],
            false,
        )
    }

    #[test]
    fn a_token_given_in_clear_or_as_hash_finds_its_owner() {
        let t = tokens();
        assert_eq!(
            t.authenticate(Some("agent-token-web01")),
            Ok(Identity { name: "web01".into(), site: Some("hn".into()), host: Some("web01".into()) })
        );
        assert_eq!(t.authenticate(Some("site-token-hcm-01")).map(|i| i.name), Ok("hcm".to_string()));
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused() {
        let t = tokens();
        assert_eq!(t.authenticate(Some("agent-token-web02")), Err(AuthError::Wrong));
        assert_eq!(t.authenticate(None), Err(AuthError::Missing));
        assert_eq!(t.authenticate(Some("")), Err(AuthError::Missing));
    }

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
}
