//! Talking to one SNMP device with async-snmp: building the client from the
//! configuration, GETs of scalars, and table walks with GETBULK whose
//! max-repetitions adapts to the device.

use std::sync::Arc;
use std::time::Duration;

use async_snmp::{
    Auth, AuthProtocol, Client, ErrorKind, ErrorStatus, Oid, PrivProtocol, Retry, RetryConfigError, UdpTransport,
    UsmConfig, Value,
};

use super::config::{SnmpDevice, Target, Version};
use super::value::{SnmpValue, Values};

/// Why a poll failed, by kind (the `device` point counts each kind). The
/// SNMP library's error, where there is one, is kept as the source.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PollError {
    /// No reply within the timeout, after the retries.
    #[error("no reply (timeout)")]
    Timeout,
    /// SNMPv3 authentication or privacy failed (wrong user, password or engine).
    #[error("authentication failed: {0}")]
    Auth(#[source] AuthFailure),
    /// The device answered with an error, or with something that is not SNMP.
    #[error("{0}")]
    Protocol(#[source] Arc<async_snmp::Error>),
    /// The retry settings were refused by the SNMP library.
    #[error("{0}")]
    Retries(#[source] RetryConfigError),
    /// The address cannot be resolved or reached; `target` is named when
    /// the client could not be built for it.
    #[error("{}{source}", target.as_ref().map(|t| format!("{t}: ")).unwrap_or_default())]
    Network { target: Option<String>, source: Arc<async_snmp::Error> },
    /// No profile fits the device.
    #[error("{0}")]
    Profile(String),
    /// No reply from the device's address, but datagrams from elsewhere
    /// came and were ignored (counted as a timeout): how many.
    #[error(
        "no reply from {target}; {ignored} datagram(s) that did not come from {target} (or did not match \
         the request) were ignored: replies are taken only from the address polled, so poll the device \
         at the address it answers from"
    )]
    ReplyFromElsewhere { target: String, ignored: u64 },
}

/// How SNMPv3 authentication or privacy failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthFailure {
    /// The device answered with a Report (unknown user, wrong digest, …).
    #[error("the device reported {status}")]
    Reported { status: String, source: Arc<async_snmp::Error> },
    /// The SNMP library refused the exchange (authentication or privacy).
    #[error("{0}")]
    Refused(#[source] Arc<async_snmp::Error>),
    /// Engine discovery works but no authenticated request is answered.
    #[error(
        "the device answers SNMPv3 engine discovery but none of our authenticated requests: \
         check the user, the auth/priv protocols and the passwords"
    )]
    NoAuthenticatedReply,
}

impl PollError {
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Timeout | PollError::ReplyFromElsewhere { .. } => "timeout",
            PollError::Auth(_) => "auth",
            PollError::Protocol(_) | PollError::Retries(_) => "protocol",
            PollError::Network { .. } => "network",
            PollError::Profile(_) => "profile",
        }
    }
}

fn classify(e: Box<async_snmp::Error>) -> PollError {
    match e.kind() {
        ErrorKind::Timeout => PollError::Timeout,
        ErrorKind::Auth | ErrorKind::Report | ErrorKind::Privacy => PollError::Auth(match &*e {
            async_snmp::Error::Report { status, .. } => {
                let status = status.to_string();
                AuthFailure::Reported { status, source: Arc::from(e) }
            }
            _ => AuthFailure::Refused(Arc::from(e)),
        }),
        ErrorKind::Network | ErrorKind::Closed | ErrorKind::ConstructionTimeout => {
            PollError::Network { target: None, source: Arc::from(e) }
        }
        _ => PollError::Protocol(Arc::from(e)),
    }
}

/// Errors a smaller GETBULK can avoid: tooBig, and the genErr some agents
/// answer when a bulk request runs past the tables asked for into a subtree
/// whose handler fails.
fn smaller_may_work(e: &async_snmp::Error) -> bool {
    matches!(e, async_snmp::Error::Snmp { status: ErrorStatus::TooBig | ErrorStatus::GenErr, .. })
        || e.kind() == ErrorKind::OutboundMessageTooLarge
}

/// The `host:port` a device is reached at (port 161 unless given).
pub fn target(address: &str) -> String {
    let has_port = match address.rsplit_once(':') {
        // `[v6]:port` or `host:port`; a bare IPv6 address has several colons.
        Some((host, port)) => port.parse::<u16>().is_ok() && (host.ends_with(']') || !host.contains(':')),
        None => false,
    };
    if has_port {
        address.to_string()
    } else if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]:161")
    } else {
        format!("{address}:161")
    }
}

/// The version and authentication of a device's configuration; errors name the key.
pub fn auth(d: &SnmpDevice) -> Result<(Version, Auth), String> {
    let version = Version::parse(&d.version)?;
    let auth = match version {
        Version::V1 => Auth::v1(d.community.as_str()),
        Version::V2c => Auth::v2c(d.community.as_str()),
        Version::V3 => {
            let user = d.user.as_deref().ok_or("version 3 needs `user`")?;
            Auth::Usm(usm(
                user,
                d.auth_protocol.as_deref(),
                d.auth_password.as_deref(),
                d.priv_protocol.as_deref(),
                d.priv_password.as_deref(),
            )?)
        }
    };
    Ok((version, auth))
}

pub fn auth_protocol(name: &str) -> Result<AuthProtocol, String> {
    name.to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("auth_protocol `{name}` is not one of md5, sha, sha224, sha256, sha384, sha512"))
}

pub fn priv_protocol(name: &str) -> Result<PrivProtocol, String> {
    // Net-SNMP's AES-192/256 (and most devices') derive keys as Blumenthal's draft.
    let n = match name.to_ascii_lowercase().as_str() {
        "aes192" => "AES192-BLUMENTHAL".to_string(),
        "aes256" => "AES256-BLUMENTHAL".to_string(),
        other => other.to_ascii_uppercase(),
    };
    n.parse().map_err(|_| format!("priv_protocol `{name}` is not one of des, aes, aes192, aes256"))
}

/// A v3 user: authNoPriv without `priv_*`, authPriv with them.
pub fn usm(
    user: &str,
    auth_proto: Option<&str>,
    auth_pw: Option<&str>,
    priv_proto: Option<&str>,
    priv_pw: Option<&str>,
) -> Result<UsmConfig, String> {
    let base = UsmConfig::new(user.to_string());
    let (Some(ap), Some(apw)) = (auth_proto, auth_pw) else {
        if auth_proto.is_some() || auth_pw.is_some() || priv_proto.is_some() {
            return Err("v3 needs both `auth_protocol` and `auth_password`".into());
        }
        return Ok(base);
    };
    let ap = auth_protocol(ap)?;
    match (priv_proto, priv_pw) {
        (None, None) => base.auth(ap, apw).map_err(|e| format!("auth_password: {e}")),
        (Some(pp), Some(ppw)) => {
            base.auth_priv(ap, apw, priv_protocol(pp)?, ppw).map_err(|e| format!("auth/priv password: {e}"))
        }
        _ => Err("v3 privacy needs both `priv_protocol` and `priv_password`".into()),
    }
}

/// One device's client and what it has learned about the device.
pub struct Device {
    pub client: Client,
    /// v3: what engine discovery learned, to tell wrong credentials (the
    /// device discovers but never authenticates) from silence.
    engines: Option<std::sync::Arc<async_snmp::EngineCache>>,
    pub version: Version,
    /// GETBULK max-repetitions that works for this device.
    pub max_repetitions: u32,
    /// Rows the tables had at the last walk: the next walk asks for one more
    /// rather than for `max_repetitions`, so little is read past their end.
    rows_seen: Option<u32>,
    /// The client has a socket of its own, so its discarded datagrams are its own.
    dedicated: bool,
    /// The socket's discarded datagrams when the current poll began.
    discarded_before: u64,
}

/// Settings of one device's requests.
#[derive(Debug, Clone, Copy)]
pub struct RequestSettings {
    pub timeout: Duration,
    pub retries: u32,
    pub max_repetitions: u32,
}

impl Device {
    /// Builds the client. IPv4 devices share the source's socket; IPv6
    /// devices get their own.
    pub async fn connect(t: &Target, shared: Option<&UdpTransport>) -> Result<Device, PollError> {
        let rs = t.rs;
        let retry = Retry::fixed(rs.retries, Duration::ZERO).map_err(PollError::Retries)?;
        let target = &t.target;
        let engines = (t.version == Version::V3).then(|| std::sync::Arc::new(async_snmp::EngineCache::new()));
        // Only the device's address may answer: a datagram from anywhere else
        // that guesses a request id must not become the device's values.
        let mut builder = Client::builder(target.as_str(), t.auth.clone())
            .request_timeout(rs.timeout)
            .retry(retry)
            .strict_source(true);
        if let Some(e) = &engines {
            builder = builder.engine_cache(e.clone());
        }
        let ipv6 = target.starts_with('[');
        let dedicated = shared.is_none() || ipv6;
        let client = match shared {
            Some(t) if !ipv6 => builder.build_with(t).await,
            _ => builder.connect().await,
        }
        .map_err(|e| PollError::Network { target: Some(target.clone()), source: Arc::from(e) })?;
        Ok(Device {
            client,
            engines,
            version: t.version,
            max_repetitions: rs.max_repetitions.max(1),
            rows_seen: None,
            dedicated,
            discarded_before: 0,
        })
    }

    /// Marks the start of a poll (for telling a silent device from one
    /// whose replies come from another address).
    pub fn begin_poll(&mut self) {
        self.discarded_before = self.client.stats().discarded_datagrams;
    }

    /// GETs the scalars. A v1 device answers noSuchName for the whole
    /// request when one OID is missing: that OID is marked missing and the
    /// rest asked again.
    pub async fn get(&self, oids: &[String], out: &mut Values) -> Result<(), PollError> {
        let mut pending: Vec<Oid> = oids.iter().filter_map(|o| Oid::parse(o).ok()).collect();
        for _ in 0..=oids.len() {
            if pending.is_empty() {
                return Ok(());
            }
            match self.client.get_many(&pending).await {
                Ok(r) => {
                    for vb in r.varbinds {
                        out.insert(vb.oid.to_string(), convert(&vb.value));
                    }
                    return Ok(());
                }
                Err(e) => match &*e {
                    async_snmp::Error::Snmp { status: ErrorStatus::NoSuchName, oid: Some(bad), .. } => {
                        let bad = bad.as_ref().clone();
                        out.insert(bad.to_string(), SnmpValue::Missing);
                        let before = pending.len();
                        pending.retain(|o| *o != bad);
                        if pending.len() == before {
                            return Err(self.classify(e));
                        }
                    }
                    _ => return Err(self.classify(e)),
                },
            }
        }
        Ok(())
    }

    /// Walks table columns together: one GETBULK (GETNEXT for v1) carries
    /// every column still inside its subtree, so a three-phase table costs
    /// one or two round trips. On tooBig, or a timeout of a bulk request from
    /// a device that answers GETs, max-repetitions is halved and kept.
    pub async fn walk(&mut self, columns: &[String], out: &mut Values) -> Result<(), PollError> {
        struct Cursor {
            root: Oid,
            at: Oid,
            rows: u32,
        }
        let mut active: Vec<Cursor> = columns
            .iter()
            .filter_map(|c| Oid::parse(c).ok())
            .map(|root| Cursor { at: root.clone(), root, rows: 0 })
            .collect();
        let mut budget = 100_000usize; // varbinds, against a device that never ends its table
        let mut timeouts = 0;
        let mut most_rows = 0u32;
        let mut first = true;
        while !active.is_empty() && budget > 0 {
            let oids: Vec<Oid> = active.iter().map(|c| c.at.clone()).collect();
            let reps = match (first, self.rows_seen) {
                (true, Some(r)) => (r + 1).min(self.max_repetitions),
                _ => self.max_repetitions,
            };
            let reply = if self.version == Version::V1 {
                self.client.get_next_many(&oids).await.map(|r| r.varbinds)
            } else {
                self.client.get_bulk(&oids, 0, reps).await
            };
            let vbs = match reply {
                Ok(v) => v,
                Err(e) if self.version != Version::V1 && self.max_repetitions > 1 && smaller_may_work(&e) => {
                    let why = match &*e {
                        async_snmp::Error::Snmp { status, .. } => status.to_string(),
                        _ => "the request is too large".to_string(),
                    };
                    self.shrink(&why);
                    continue;
                }
                Err(e)
                    if self.version != Version::V1
                        && self.max_repetitions > 1
                        && e.kind() == ErrorKind::Timeout
                        && timeouts == 0 =>
                {
                    timeouts += 1;
                    self.shrink("timeout");
                    continue;
                }
                // v1 ends a walk past the last object with noSuchName.
                Err(e) if matches!(&*e, async_snmp::Error::Snmp { status: ErrorStatus::NoSuchName, .. }) => {
                    return Ok(());
                }
                Err(e) => return Err(self.classify(e)),
            };
            first = false;
            if vbs.is_empty() {
                break;
            }
            budget = budget.saturating_sub(vbs.len());
            let n = active.len();
            let mut done = vec![false; n];
            let mut moved = vec![false; n];
            for (i, vb) in vbs.iter().enumerate() {
                let c = i % n;
                if done[c] {
                    continue;
                }
                let cur = &mut active[c];
                let ended =
                    matches!(vb.value, Value::EndOfMibView) || !vb.oid.starts_with(&cur.root) || vb.oid <= cur.at;
                if ended {
                    done[c] = true;
                    continue;
                }
                out.insert(vb.oid.to_string(), convert(&vb.value));
                cur.at = vb.oid.clone();
                moved[c] = true;
                cur.rows += 1;
                most_rows = most_rows.max(cur.rows);
            }
            let mut i = 0;
            active.retain(|_| {
                let keep = !done[i] && moved[i];
                i += 1;
                keep
            });
        }
        self.rows_seen = Some(most_rows);
        Ok(())
    }

    fn classify(&self, e: Box<async_snmp::Error>) -> PollError {
        let kind = classify(e);
        let ignored = self.client.stats().discarded_datagrams.saturating_sub(self.discarded_before);
        if matches!(kind, PollError::Timeout) && self.dedicated && ignored > 0 {
            return PollError::ReplyFromElsewhere { target: self.client.peer_addr().to_string(), ignored };
        }
        if matches!(kind, PollError::Timeout)
            && let Some(engines) = &self.engines
            && let Some(state) = engines.get(&self.client.peer_addr())
            && state.authenticated_time().is_none()
        {
            return PollError::Auth(AuthFailure::NoAuthenticatedReply);
        }
        kind
    }

    fn shrink(&mut self, why: &str) {
        let new = (self.max_repetitions / 2).max(1);
        tracing::info!(
            target = %self.client.peer_addr(), from = self.max_repetitions, to = new, reason = why,
            "lowering GETBULK max-repetitions for this device"
        );
        self.max_repetitions = new;
    }
}

/// async-snmp's value as the normaliser's.
pub fn convert(v: &Value) -> SnmpValue {
    match v {
        Value::Integer(i) => SnmpValue::Int(i64::from(*i)),
        Value::OctetString(b) => SnmpValue::OctetString(b.to_vec()),
        Value::Null => SnmpValue::Null,
        Value::ObjectIdentifier(o) => SnmpValue::Oid(o.to_string()),
        Value::IpAddress(a) => SnmpValue::IpAddress(*a),
        Value::Counter32(u) | Value::Gauge32(u) | Value::UInteger32(u) | Value::TimeTicks(u) => {
            SnmpValue::Unsigned(u64::from(*u))
        }
        Value::Counter64(u) => SnmpValue::Unsigned(*u),
        // Opaque (Net-SNMP floats), NSAP and unknown tags: not numbers we trust.
        _ => SnmpValue::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_error_keeps_the_snmp_library_error_as_its_source() {
        let refused = Retry::fixed(async_snmp::MAX_RETRIES + 1, Duration::ZERO).unwrap_err();
        let e = PollError::Retries(refused);
        assert_eq!(e.kind(), "protocol");
        assert_eq!(e.to_string(), refused.to_string());
        let source = std::error::Error::source(&e).expect("the library error is the source");
        assert_eq!(source.to_string(), refused.to_string());
        let e = PollError::Auth(AuthFailure::NoAuthenticatedReply);
        assert!(e.to_string().starts_with("authentication failed: the device answers SNMPv3 engine discovery"), "{e}");
    }

    #[test]
    fn the_port_defaults_to_161() {
        assert_eq!(target("10.0.0.5"), "10.0.0.5:161");
        assert_eq!(target("10.0.0.5:1161"), "10.0.0.5:1161");
        assert_eq!(target("ups-a1.dc.local"), "ups-a1.dc.local:161");
        assert_eq!(target("fe80::1"), "[fe80::1]:161");
        assert_eq!(target("[fe80::1]:1161"), "[fe80::1]:1161");
    }

    #[test]
    fn protocols_are_named_as_technicians_write_them() {
        assert_eq!(auth_protocol("sha").unwrap(), AuthProtocol::Sha1);
        assert_eq!(auth_protocol("SHA256").unwrap(), AuthProtocol::Sha256);
        assert_eq!(priv_protocol("aes").unwrap(), PrivProtocol::Aes128);
        assert_eq!(priv_protocol("aes256").unwrap(), PrivProtocol::Aes256Blumenthal);
        assert_eq!(
            auth_protocol("sha3").unwrap_err(),
            "auth_protocol `sha3` is not one of md5, sha, sha224, sha256, sha384, sha512"
        );
    }

    #[test]
    fn v3_half_configured_privacy_is_refused() {
        let e = usm("u", Some("sha"), Some("authpass1"), Some("aes"), None).err().unwrap();
        assert_eq!(e, "v3 privacy needs both `priv_protocol` and `priv_password`");
        let e = usm("u", Some("sha"), Some("short"), None, None).err().unwrap();
        assert!(e.starts_with("auth_password: "), "{e}");
    }

    #[test]
    fn exceptions_and_opaque_are_unknown() {
        assert_eq!(convert(&Value::NoSuchInstance), SnmpValue::Missing);
        assert_eq!(convert(&Value::Gauge32(7)), SnmpValue::Unsigned(7));
        assert_eq!(convert(&Value::Integer(-3)), SnmpValue::Int(-3));
    }
}
