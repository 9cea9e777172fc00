//! The trap receiver. Every datagram on the trap port is first decoded here
//! (`decode`, which the fuzz test drives with arbitrary bytes): garbage is
//! counted and dropped, v1/v2c traps are checked against the known devices
//! and communities, and SNMPv3 messages go to async-snmp's notification
//! receiver, which does USM (authentication, decryption, time windows). It
//! listens on loopback and is fed through one relay socket per sender, so the
//! sender's address survives and replies (inform acknowledgements) go back;
//! how many relays are kept, and for how long, is bounded (`senders`).
//!
//! A trap belongs to the device at the address it came from. A v1 trap's
//! `agent-addr` is believed only from a configured trusted forwarder: anyone
//! can write any address there.
//!
//! An accepted trap writes an `snmp_trap` event point and, for the traps a
//! profile knows, the fields it implies (`ups.on_battery=true`) at once; the
//! queue is asked to send them without waiting for its batch timer, and the
//! device is polled again straight away.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_snmp::message::{CommunityPdu, Message};
use async_snmp::notification::{NotificationAcceptance, NotificationReceiver};
use async_snmp::{AuthoritativeEngine, DecodeConfig, PduType, SecurityLevel, UsmUser, VarBind, Version};
use bytes::Bytes;
use dcwatch_common::lp::Point;
use dcwatch_common::schema::m;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::Polled;
use super::config::{TrapConfig, Traps, V3User};
use super::profile::{Profile, TrapField, TrapSpec};
use super::senders::Senders;
use crate::sources::{Queue, SourceStats, emit};

const SNMP_TRAP_OID: &str = "1.3.6.1.6.3.1.1.4.1.0";

/// The most `max_v3_senders` may be.
pub const MAX_V3_SENDERS: usize = 4096;

/// The traps every loaded profile knows, by trap OID.
#[derive(Debug, Default, Clone)]
pub struct TrapSpecs(HashMap<String, TrapSpec>);

impl TrapSpecs {
    pub fn from_profiles(profiles: &[Arc<Profile>]) -> TrapSpecs {
        let mut m = HashMap::new();
        for p in profiles {
            for t in &p.traps {
                m.entry(t.oid.trim_start_matches('.').to_string()).or_insert_with(|| t.clone());
            }
        }
        TrapSpecs(m)
    }
}

/// What the receiver counted; written as the `snmp_trap_receiver` point.
#[derive(Debug, Default)]
pub struct TrapCounters {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub unknown_source: AtomicU64,
    pub bad_community: AtomicU64,
    /// v3: unknown user, wrong digest, undecryptable, out of time window,
    /// or below authNoPriv.
    pub bad_credentials: AtomicU64,
    pub malformed: AtomicU64,
    /// Well-formed SNMP that is not a notification (a GET sent to the trap port).
    pub not_a_trap: AtomicU64,
}

/// The SNMPv3 senders' relays, as the counters point shows them.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct SenderCounts {
    /// Relays held now.
    pub held: u64,
    /// Relays dropped to make room for a new sender (`max_v3_senders`).
    pub evicted: u64,
    /// Relays dropped because their sender never authenticated in time, or went idle.
    pub expired: u64,
}

/// A datagram, decoded as far as it can be without credentials.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Trap(Trap),
    /// SNMPv3: USM decides.
    V3,
    NotATrap,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trap {
    pub version: &'static str,
    pub community: Vec<u8>,
    /// snmpTrapOID (v1 traps converted as RFC 3584 says).
    pub trap_oid: String,
    /// A v1 trap's agent-addr.
    pub agent_addr: Option<IpAddr>,
}

/// Decodes one datagram. Never panics, whatever the bytes.
pub fn decode(datagram: &[u8]) -> Result<Decoded, String> {
    let msg = Message::decode(Bytes::copy_from_slice(datagram), DecodeConfig::default()).map_err(|e| e.to_string())?;
    let m = match msg.value {
        Message::V3(_) => return Ok(Decoded::V3),
        Message::Community(m) => m,
    };
    let version = if m.version() == Version::V1 { "1" } else { "2c" };
    let community = m.community().as_bytes().to_vec();
    match m.pdu() {
        CommunityPdu::TrapV1(t) => {
            let oid = t.v2_trap_oid().map_err(|e| e.to_string())?;
            let a = t.agent_addr();
            let agent_addr = (a != [0, 0, 0, 0]).then(|| IpAddr::from(a));
            Ok(Decoded::Trap(Trap { version, community, trap_oid: oid.to_string(), agent_addr }))
        }
        CommunityPdu::Standard(p) if matches!(p.pdu_type(), PduType::TrapV2 | PduType::InformRequest) => {
            let oid = trap_oid_of(p.varbinds()).ok_or("a notification without snmpTrapOID.0")?;
            Ok(Decoded::Trap(Trap { version, community, trap_oid: oid, agent_addr: None }))
        }
        CommunityPdu::Standard(_) => Ok(Decoded::NotATrap),
    }
}

fn trap_oid_of(vbs: &[VarBind]) -> Option<String> {
    vbs.iter().find(|vb| vb.oid.to_string() == SNMP_TRAP_OID).and_then(|vb| match &vb.value {
        async_snmp::Value::ObjectIdentifier(o) => Some(o.to_string()),
        _ => None,
    })
}

/// The configured devices by IP address (resolved once, at start).
async fn resolve(devices: &[Polled]) -> HashMap<IpAddr, Polled> {
    let mut m = HashMap::new();
    for d in devices {
        let target = &d.target;
        match tokio::net::lookup_host(target.as_str()).await {
            Ok(addrs) => {
                for a in addrs {
                    m.insert(a.ip(), d.clone());
                }
            }
            Err(e) => {
                tracing::warn!(device = %d.name, error = %e, "cannot resolve the device's address; its traps will not be recognised")
            }
        }
    }
    m
}

fn usm_user(u: &V3User, base: UsmUser) -> Result<UsmUser, String> {
    match &u.privacy {
        Some((pp, ppw)) => base.auth_priv(u.auth, &u.auth_password, *pp, ppw),
        None => base.auth(u.auth, &u.auth_password),
    }
    .map_err(|e| e.to_string())
}

/// async-snmp's receiver for SNMPv3, on loopback, behind the relay.
async fn v3_receiver(users: &[V3User], counters: &Arc<TrapCounters>) -> Result<Option<NotificationReceiver>, String> {
    if users.is_empty() {
        return Ok(None);
    }
    let engine_id = format!("dcwatch-agent:{}", crate::sources::hostname()).into_bytes();
    let engine = AuthoritativeEngine::install(engine_id, |_| Ok::<(), std::convert::Infallible>(()))
        .map_err(|e| e.to_string())?;
    let mut b = NotificationReceiver::builder().bind("127.0.0.1:0").authoritative_engine(engine);
    for u in users {
        let mut err = None;
        b = b
            .usm_user(u.user.clone().into_bytes(), |base| {
                usm_user(u, base).map_err(|e| {
                    err = Some(e);
                    async_snmp::CryptoError::PasswordTooShort
                })
            })
            .map_err(|e| format!("user `{}`: {}", u.user, err.clone().unwrap_or_else(|| e.to_string())))?;
    }
    let rejected = counters.clone();
    let r = b
        .acceptance_policy(move |n| {
            if n.security_level >= Some(SecurityLevel::AuthNoPriv) {
                NotificationAcceptance::Accept
            } else {
                rejected.bad_credentials.fetch_add(1, Ordering::Relaxed);
                NotificationAcceptance::Reject
            }
        })
        .build()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(r))
}

fn usm_failures(r: &NotificationReceiver) -> u64 {
    [
        r.usm_unknown_usernames(),
        r.usm_wrong_digests(),
        r.usm_decryption_errors(),
        r.usm_not_in_time_windows(),
        r.usm_unsupported_sec_levels(),
    ]
    .iter()
    .map(|v| u64::from(*v))
    .sum()
}

/// One relay socket per SNMPv3 sender; dropping it closes the socket.
struct Relay {
    socket: Arc<UdpSocket>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The task holds the other reference to the socket.
        self.task.abort();
    }
}

/// What the receiver needs to know.
pub struct Setup {
    pub traps: Traps,
    pub devices: Vec<Polled>,
    pub specs: TrapSpecs,
    pub site: String,
    pub host: String,
}

pub async fn run(setup: Setup, out: Arc<Queue>, stats: Arc<SourceStats>, mut shutdown: watch::Receiver<bool>) {
    let Setup { traps: Traps { config: c, users, forwarders }, devices, specs, site, host } = setup;
    let counters = Arc::new(TrapCounters::default());
    let socket = match UdpSocket::bind(&c.listen).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(listen = %c.listen, error = %e, "cannot listen for traps (port in use, or port < 1024 without CAP_NET_BIND_SERVICE); traps are not received");
            stats.errors_total.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    tracing::info!(listen = %c.listen, v3_users = users.len(), "listening for SNMP traps");
    let v3 = match v3_receiver(&users, &counters).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the SNMPv3 trap receiver; v3 traps are dropped");
            None
        }
    };
    let by_ip = resolve(&devices).await;
    let communities: Vec<Vec<u8>> = c.communities.iter().map(|s| s.clone().into_bytes()).collect();
    let mut senders: Senders<Relay> = Senders::new(c.max_v3_senders);
    let mut buf = vec![0u8; 65_536];
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctx = Ctx {
        c: &c,
        by_ip: &by_ip,
        specs: &specs,
        site: &site,
        host: &host,
        out: &out,
        stats: &stats,
        counters: &counters,
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = report.tick() => {
                let usm = v3.as_ref().map_or(0, usm_failures);
                let held = SenderCounts { held: senders.len() as u64, evicted: senders.evicted, expired: senders.expired };
                let p = counters_point(&site, &host, &counters, usm, held, dcwatch_common::now_ns());
                emit(&[p], &out, &stats);
            }
            _ = sweep.tick() => {
                drop(senders.expire(tokio::time::Instant::now()));
            }
            r = socket.recv_from(&mut buf) => {
                let (n, from) = match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "trap socket error");
                        continue;
                    }
                };
                counters.received.fetch_add(1, Ordering::Relaxed);
                let peers = Peers { communities: &communities, forwarders: &forwarders, v3: v3.as_ref(), socket: &socket };
                on_datagram(&ctx, &peers, &mut senders, from, &buf[..n]).await;
            }
            r = async { v3.as_ref().expect("guarded").recv().await }, if v3.is_some() => {
                match r {
                    Ok(n) => ctx.on_v3(&mut senders, n),
                    Err(e) => tracing::warn!(error = %e, "SNMPv3 trap receiver error"),
                }
            }
        }
    }
}

/// What a datagram is checked against, and where v3 datagrams go.
struct Peers<'a> {
    communities: &'a [Vec<u8>],
    forwarders: &'a [IpAddr],
    v3: Option<&'a NotificationReceiver>,
    socket: &'a Arc<UdpSocket>,
}

/// One datagram from the trap port: counted, checked, accepted or relayed.
async fn on_datagram(ctx: &Ctx<'_>, peers: &Peers<'_>, senders: &mut Senders<Relay>, from: SocketAddr, data: &[u8]) {
    let counters = ctx.counters;
    match decode(data) {
        Err(e) => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(from = %from, error = %e, "dropped a datagram that is not SNMP");
        }
        Ok(Decoded::NotATrap) => {
            counters.not_a_trap.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Decoded::Trap(t)) => {
            if !peers.communities.contains(&t.community) {
                counters.bad_community.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(from = %from, "dropped a trap with a community that is not configured");
                return;
            }
            let ip = from.ip().to_canonical();
            // Only a trusted forwarder speaks for another device.
            let about = t.agent_addr.filter(|_| peers.forwarders.contains(&ip));
            ctx.accept(ip, about, &t.trap_oid, t.version);
        }
        Ok(Decoded::V3) => {
            let Some(rx) = peers.v3 else {
                counters.bad_credentials.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(from = %from, "dropped an SNMPv3 trap: no v3 users are configured");
                return;
            };
            let now = tokio::time::Instant::now();
            if senders.get(from, now).is_none() {
                match new_relay(from, peers.socket.clone()).await {
                    Ok((local, r)) => drop(senders.insert(from, local, r, now)),
                    Err(e) => {
                        tracing::warn!(from = %from, error = %e, "cannot open a relay socket for an SNMPv3 trap; it is dropped");
                        return;
                    }
                }
            }
            if let Some(relay) = senders.get(from, now) {
                let _ = relay.socket.send_to(data, rx.local_addr()).await;
            }
        }
    }
}

/// A loopback socket that carries one sender's datagrams to the v3 receiver
/// and its replies back to the sender.
async fn new_relay(sender: SocketAddr, public: Arc<UdpSocket>) -> std::io::Result<(SocketAddr, Relay)> {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let local = socket.local_addr()?;
    let s = socket.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, _)) = s.recv_from(&mut buf).await {
            let _ = public.send_to(&buf[..n], sender).await;
        }
    });
    Ok((local, Relay { socket, task }))
}

struct Ctx<'a> {
    c: &'a TrapConfig,
    by_ip: &'a HashMap<IpAddr, Polled>,
    specs: &'a TrapSpecs,
    site: &'a str,
    host: &'a str,
    out: &'a Arc<Queue>,
    stats: &'a Arc<SourceStats>,
    counters: &'a Arc<TrapCounters>,
}

impl Ctx<'_> {
    /// A notification the v3 receiver authenticated, from the sender behind its relay.
    fn on_v3(&self, senders: &mut Senders<Relay>, n: async_snmp::notification::ReceivedNotification) {
        let Some(from) = senders.sender_of(n.source) else {
            self.counters.unknown_source.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                relay = %n.source,
                "dropped an SNMPv3 trap whose sender was already forgotten (more senders than traps.max_v3_senders?)"
            );
            return;
        };
        senders.authenticated(from, tokio::time::Instant::now());
        match n.notification.trap_oid() {
            Ok(oid) => self.accept(from.ip().to_canonical(), None, &oid.to_string(), "3"),
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "an SNMPv3 notification without a trap OID");
            }
        }
    }

    /// Writes the trap's points. `about` is the device a trusted forwarder
    /// says the trap is about (a v1 agent-addr), else None.
    fn accept(&self, from: IpAddr, about: Option<IpAddr>, trap_oid: &str, version: &str) {
        let device = about.and_then(|a| self.by_ip.get(&a)).or_else(|| self.by_ip.get(&from));
        let name = match device {
            Some(d) => d.name.clone(),
            None if self.c.accept_unknown_sources => from.to_string(),
            None => {
                self.counters.unknown_source.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(from = %from, trap_oid, "dropped a trap from an address that is no configured device");
                return;
            }
        };
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let ts = dcwatch_common::now_ns();
        let spec = self.specs.0.get(trap_oid.trim_start_matches('.'));
        let event = spec.map_or("other", |s| s.event.as_str());
        tracing::info!(device = %name, event, trap_oid, version, "trap");
        let mut points = vec![
            Point::new(m::SNMP_TRAP, ts)
                .tag("site", self.site)
                .tag("host", self.host)
                .tag("device", name.as_str())
                .tag("event", event)
                .str("trap_oid", trap_oid.to_string())
                .str("version", version.to_string())
                .str("source", from.to_string()),
        ];
        if let Some(s) = spec
            && !s.set.is_empty()
        {
            let mut p = Point::new(s.measurement.clone(), ts)
                .tag("site", self.site)
                .tag("host", self.host)
                .tag("device", name.as_str());
            for (k, v) in &s.set {
                p = match v {
                    TrapField::Bool(b) => p.bool(k.clone(), *b),
                    TrapField::Str(t) => p.str(k.clone(), t.clone()),
                };
            }
            points.push(p);
        }
        self.out.spool.request_flush();
        emit(&points, self.out, self.stats);
        if let Some(d) = device {
            d.repoll.notify_one();
        }
    }
}

fn counters_point(site: &str, host: &str, c: &TrapCounters, usm_failures: u64, v3: SenderCounts, ts: i64) -> Point {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Point::new("snmp_trap_receiver", ts)
        .tag("site", site)
        .tag("host", host)
        .u64("received_total", get(&c.received))
        .u64("accepted_total", get(&c.accepted))
        .u64("dropped_unknown_source_total", get(&c.unknown_source))
        .u64("dropped_bad_community_total", get(&c.bad_community))
        .u64("dropped_bad_credentials_total", get(&c.bad_credentials) + usm_failures)
        .u64("dropped_malformed_total", get(&c.malformed))
        .u64("ignored_not_a_trap_total", get(&c.not_a_trap))
        .u64("v3_senders", v3.held)
        .u64("v3_senders_evicted_total", v3.evicted)
        .u64("v3_senders_expired_total", v3.expired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    /// `snmptrap -v 2c -c public … 12345 1.3.6.1.2.1.33.2.1`, as sent.
    fn v2c_on_battery() -> Vec<u8> {
        hex("304302010104067075626c6963a73602042be24a7f0201000201003028300e06082b06010201010300430230393016060a2b\
             06010603010104010006082b06010201210201")
    }

    /// `snmptrap -v 1 -c public … 1.3.6.1.4.1.318 10.1.2.3 6 5 777` (APC upsOnBattery).
    fn v1_apc_on_battery() -> Vec<u8> {
        hex("302802010004067075626c6963a41b06072b06010401823e40040a010203020106020105430203093000")
    }

    #[test]
    fn a_v2c_trap_gives_its_trap_oid_and_community() {
        assert_eq!(
            decode(&v2c_on_battery()),
            Ok(Decoded::Trap(Trap {
                version: "2c",
                community: b"public".to_vec(),
                trap_oid: "1.3.6.1.2.1.33.2.1".into(),
                agent_addr: None
            }))
        );
    }

    #[test]
    fn a_v1_enterprise_trap_becomes_enterprise_0_specific() {
        assert_eq!(
            decode(&v1_apc_on_battery()),
            Ok(Decoded::Trap(Trap {
                version: "1",
                community: b"public".to_vec(),
                trap_oid: "1.3.6.1.4.1.318.0.5".into(),
                agent_addr: Some("10.1.2.3".parse().unwrap())
            }))
        );
    }

    #[test]
    fn every_truncation_of_a_trap_is_an_error_not_a_panic() {
        for t in [v2c_on_battery(), v1_apc_on_battery()] {
            for n in 0..t.len() {
                assert!(decode(&t[..n]).is_err(), "{n} of {} bytes decoded", t.len());
            }
        }
    }

    #[test]
    fn trap_specs_come_from_every_profile() {
        let profiles: Vec<Arc<Profile>> =
            super::super::profile::load(super::super::profile::BUILT_IN).unwrap().into_iter().map(Arc::new).collect();
        let specs = TrapSpecs::from_profiles(&profiles);
        let on_batt = &specs.0["1.3.6.1.4.1.318.0.5"];
        assert_eq!(on_batt.event, "on_battery");
        assert_eq!(on_batt.set.get("on_battery"), Some(&TrapField::Bool(true)));
        assert_eq!(on_batt.set.get("status"), Some(&TrapField::Str("on_battery".into())));
        assert_eq!(specs.0["1.3.6.1.2.1.33.2.1"].event, "on_battery");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// The trap port's decoder against arbitrary datagrams.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&data);
        }

        /// … and against real traps with bytes changed, which reach deeper.
        #[test]
        fn mutated_traps_never_panic(
            which in 0usize..2,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        ) {
            let mut t = if which == 0 { v2c_on_battery() } else { v1_apc_on_battery() };
            for (at, b) in edits {
                let i = at % t.len();
                t[i] = b;
            }
            if let Ok(Decoded::Trap(trap)) = decode(&t) {
                prop_assert!(!trap.trap_oid.is_empty());
            }
        }
    }
}
