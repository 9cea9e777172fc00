//! Agent tokens and what each may write.
//!
//! A token is bound to a site, and optionally to one host. What it may write:
//! - every token: points for its own site (and its own host, if bound);
//! - only a token with `poller: true`: the measurements of power and room
//!   equipment ([`dcwatch_common::schema::DEVICE_MEASUREMENTS`]), which drive
//!   the site-wide power alarms and their inhibitions; with `devices:` also
//!   only for those devices, each point named by its measurement's identity
//!   tag ([`dcwatch_common::schema::identity_tag`]: `feed` for `power_feed`,
//!   `device` for the others), which it must then have.
//!
//! So a leaked server token cannot fake a power cut for the whole site.

use crate::auth::{TokenTable, secret_hash};
pub use crate::auth::{presented_token, sha256};
use crate::config::TokenConfig;

/// Who wrote, once the token matched, and what the token may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub site: Option<String>,
    pub host: Option<String>,
    /// May write device measurements.
    pub poller: bool,
    /// If set, device measurements only for these devices.
    pub devices: Option<Vec<String>>,
    /// If set, the token counts only over TLS with a verified client
    /// certificate valid for this DNS name.
    pub client_cert_name: Option<String>,
    /// A peer collector relaying what its writers wrote ([`Identity::relay`]).
    pub relayed: bool,
}

/// Why a valid line was refused, as a counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Site,
    Host,
    Measurement,
    Device,
}

impl Forbidden {
    pub const ALL: [Forbidden; 4] = [Self::Site, Self::Host, Self::Measurement, Self::Device];

    pub fn label(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Host => "host",
            Self::Measurement => "measurement",
            Self::Device => "device",
        }
    }
}

impl Identity {
    /// Anonymous writers (`allow_anonymous`, a closed lab network) may write anything.
    pub fn anonymous() -> Self {
        Identity {
            name: "anonymous".into(),
            site: None,
            host: None,
            poller: true,
            devices: None,
            client_cert_name: None,
            relayed: false,
        }
    }

    /// A peer collector relaying its own writers' points
    /// (`peering.peers[].forward`): each was checked there against the
    /// token that wrote it (site, host, devices, rate), so those are not
    /// checked again; counted under `peer:<name>`, with the series and host
    /// bounds of [`RELAY_CAP_FACTOR`] tokens.
    ///
    /// [`RELAY_CAP_FACTOR`]: crate::peer::config::RELAY_CAP_FACTOR
    pub fn relay(peer: &str) -> Self {
        Identity { name: format!("{}{peer}", crate::peer::config::RELAY_PREFIX), relayed: true, ..Self::anonymous() }
    }

    /// Whether this token may write a point of `measurement` with these tags
    /// (None: the line has no such tag, and the token's own is added);
    /// `identity` is the value of the measurement's identity tag
    /// ([`dcwatch_common::schema::identity_tag`]).
    pub fn may_write(
        &self,
        measurement: &str,
        site: Option<&str>,
        host: Option<&str>,
        identity: Option<&str>,
    ) -> Result<(), (Forbidden, String)> {
        for (why, tag, allowed, got) in
            [(Forbidden::Site, "site", &self.site, site), (Forbidden::Host, "host", &self.host, host)]
        {
            if let (Some(allowed), Some(got)) = (allowed.as_deref(), got)
                && got != allowed
            {
                return Err((
                    why,
                    format!("{tag} `{got}` is not allowed for token `{}` (it may write {tag} `{allowed}`)", self.name),
                ));
            }
        }
        let Some(tag) = dcwatch_common::schema::identity_tag(measurement) else {
            return Ok(());
        };
        if !self.poller {
            return Err((
                Forbidden::Measurement,
                format!(
                    "token `{}` may not write `{measurement}` points: they come from power and room equipment, \
                     which only a token with `poller: true` may write",
                    self.name
                ),
            ));
        }
        match (&self.devices, identity) {
            (Some(list), Some(d)) if !list.iter().any(|x| x == d) => Err((
                Forbidden::Device,
                format!(
                    "{tag} `{d}` of a `{measurement}` point is not among the devices token `{}` may write",
                    self.name
                ),
            )),
            (Some(_), None) => Err((
                Forbidden::Device,
                format!(
                    "a `{measurement}` point needs a `{tag}` tag from token `{}`, which lists its devices",
                    self.name
                ),
            )),
            _ => Ok(()),
        }
    }
}

impl Identity {
    /// Whether this token may write `field` of a `measurement` point it may
    /// write: a token without `poller: true` may not write a field whose
    /// series in VictoriaMetrics or Prometheus (`{measurement}_{field}`)
    /// would pass for a device measurement's; nor may a poller bound to a
    /// `devices:` list (such a series carries no identity tag to check).
    pub fn may_write_field(&self, measurement: &str, field: &str) -> Result<(), (Forbidden, String)> {
        if self.poller && self.devices.is_none() {
            return Ok(());
        }
        match dcwatch_common::schema::flattened_device_series(measurement, field) {
            None => Ok(()),
            Some(device) => Err((
                Forbidden::Measurement,
                format!(
                    "token `{}` may not write field `{field}` of `{measurement}`: as the series \
                     `{measurement}_{field}` it would pass for a `{device}` one, which only a token \
                     with `poller: true` {}may write",
                    self.name,
                    if self.poller { "and no `devices:` list " } else { "" }
                ),
            )),
        }
    }

    /// Whether the connection's client certificate (DER, verified by the
    /// TLS handshake against `listen.tls.client_ca_file`) satisfies the
    /// token's `client_cert_name`; the message says why not.
    pub fn check_client_cert(&self, cert: Option<&[u8]>) -> Result<(), String> {
        let Some(name) = &self.client_cert_name else {
            return Ok(());
        };
        let refused = || format!("token `{}` must come with a client certificate for `{name}`", self.name);
        let (Some(der), Ok(server_name)) = (cert, rustls::pki_types::ServerName::try_from(name.as_str())) else {
            return Err(refused());
        };
        let der = rustls::pki_types::CertificateDer::from(der);
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| refused())?;
        cert.verify_is_valid_for_subject_name(&server_name).map_err(|_| refused())
    }
}

/// Why a request could not be authenticated.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Wrong,
}

impl AuthError {
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing token",
            AuthError::Wrong => "unknown token",
        }
    }
}

#[derive(Debug)]
pub struct Tokens {
    table: TokenTable<Identity>,
    allow_anonymous: bool,
}

impl Tokens {
    /// Builds the table; validation has already checked every entry.
    pub fn new<'a>(config: impl IntoIterator<Item = &'a TokenConfig>, allow_anonymous: bool) -> Self {
        let table = TokenTable::new(config.into_iter().filter_map(|t| {
            let hash = secret_hash(t.token.as_deref(), t.token_sha256.as_deref())?;
            Some((
                hash,
                Identity {
                    name: t.name.clone(),
                    site: Some(t.site.clone()),
                    host: t.host.clone(),
                    poller: t.poller,
                    devices: t.devices.clone(),
                    client_cert_name: t.client_cert_name.clone(),
                    relayed: false,
                },
            ))
        }));
        Tokens { table, allow_anonymous }
    }

    /// Finds the token's owner.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Identity, AuthError> {
        let Some(presented) = presented.filter(|p| !p.is_empty()) else {
            return if self.allow_anonymous { Ok(Identity::anonymous()) } else { Err(AuthError::Missing) };
        };
        self.table.find(presented).ok_or(AuthError::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, site: &str, host: Option<&str>) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            token_sha256: None,
            token: Some(format!("agent-token-{name}-0123")),
            site: site.into(),
            host: host.map(Into::into),
            poller: false,
            devices: None,
            client_cert_name: None,
        }
    }

    fn tokens() -> Tokens {
        Tokens::new(
            &[
                token("web01", "hn", Some("web01")),
                TokenConfig {
                    token: None,
                    token_sha256: Some(hex::encode(sha256("site-token-hcm-01"))),
                    ..token("hcm", "hcm", None)
                },
            ],
            false,
        )
    }

    fn who(poller: bool, devices: Option<&[&str]>) -> Identity {
        Identity {
            name: "ups-poller".into(),
            site: Some("hn".into()),
            host: Some("mon1".into()),
            poller,
            devices: devices.map(|d| d.iter().map(|s| s.to_string()).collect()),
            client_cert_name: None,
            relayed: false,
        }
    }

    #[test]
    fn a_token_given_in_clear_or_as_hash_finds_its_owner() {
        let t = tokens();
        assert_eq!(
            t.authenticate(Some("agent-token-web01-0123")),
            Ok(Identity {
                name: "web01".into(),
                site: Some("hn".into()),
                host: Some("web01".into()),
                poller: false,
                devices: None,
                client_cert_name: None,
                relayed: false,
            })
        );
        assert_eq!(t.authenticate(Some("site-token-hcm-01")).map(|i| i.name), Ok("hcm".to_string()));
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused() {
        let t = tokens();
        assert_eq!(t.authenticate(Some("agent-token-web02-0123")), Err(AuthError::Wrong));
        assert_eq!(t.authenticate(None), Err(AuthError::Missing));
        assert_eq!(t.authenticate(Some("")), Err(AuthError::Missing));
    }

    #[test]
    fn a_server_token_writes_its_host_but_no_power_equipment() {
        let w = who(false, None);
        assert_eq!(w.may_write("host_cpu", Some("hn"), None, None), Ok(()));
        assert_eq!(w.may_write("backup", None, Some("mon1"), None), Ok(()));
        for m in ["ups", "power_feed", "ats", "generator", "pdu", "env", "device"] {
            assert_eq!(
                w.may_write(m, Some("hn"), None, Some("u1")).map_err(|e| e.0),
                Err(Forbidden::Measurement),
                "{m}"
            );
        }
        assert_eq!(
            w.may_write("ups", None, None, Some("u1")).unwrap_err().1,
            "token `ups-poller` may not write `ups` points: they come from power and room equipment, \
             which only a token with `poller: true` may write"
        );
        assert_eq!(w.may_write("host_cpu", Some("hcm"), None, None).map_err(|e| e.0), Err(Forbidden::Site));
        assert_eq!(w.may_write("host_cpu", None, Some("web02"), None).map_err(|e| e.0), Err(Forbidden::Host));
    }

    #[test]
    fn a_server_token_may_not_write_a_field_that_flattens_into_a_device_series() {
        assert_eq!(
            who(false, None).may_write_field("ups_on", "battery"),
            Err((
                Forbidden::Measurement,
                "token `ups-poller` may not write field `battery` of `ups_on`: as the series `ups_on_battery` \
                 it would pass for a `ups` one, which only a token with `poller: true` may write"
                    .into()
            ))
        );
        assert_eq!(who(false, None).may_write_field("host_cpu", "usage_pct"), Ok(()));
        assert_eq!(who(true, None).may_write_field("ups_on", "battery"), Ok(()), "a poller may");
        // A poller bound to its devices may not: the series names no device to check.
        assert_eq!(
            who(true, Some(&["ups1"])).may_write_field("ups_on", "battery"),
            Err((
                Forbidden::Measurement,
                "token `ups-poller` may not write field `battery` of `ups_on`: as the series `ups_on_battery` \
                 it would pass for a `ups` one, which only a token with `poller: true` and no `devices:` list \
                 may write"
                    .into()
            ))
        );
        assert_eq!(who(true, Some(&["ups1"])).may_write_field("host_cpu", "usage_pct"), Ok(()));
    }

    #[test]
    fn a_poller_writes_equipment_and_only_its_listed_devices() {
        assert_eq!(who(true, None).may_write("ups", Some("hn"), None, Some("u9")), Ok(()));
        let listed = who(true, Some(&["ups1", "ats1"]));
        assert_eq!(listed.may_write("ups", None, None, Some("ups1")), Ok(()));
        assert_eq!(listed.may_write("ups", None, None, Some("ups2")).map_err(|e| e.0), Err(Forbidden::Device));
        assert_eq!(listed.may_write("ups", None, None, None).map_err(|e| e.0), Err(Forbidden::Device));
        assert_eq!(listed.may_write("host_cpu", None, None, None), Ok(()));
        // A poller is still bound to its site.
        assert_eq!(listed.may_write("ups", Some("hcm"), None, Some("ups1")).map_err(|e| e.0), Err(Forbidden::Site));
        assert_eq!(
            listed.may_write("ups", None, None, Some("ups2")).unwrap_err().1,
            "device `ups2` of a `ups` point is not among the devices token `ups-poller` may write"
        );
        assert_eq!(
            who(true, Some(&["A"])).may_write("power_feed", None, None, None).unwrap_err().1,
            "a `power_feed` point needs a `feed` tag from token `ups-poller`, which lists its devices"
        );
    }
}
