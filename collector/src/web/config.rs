//! The `web:` section of the collector's configuration.

use std::net::IpAddr;
use std::path::PathBuf;

use dcwatch_common::config::{Problem, duration};
use serde::Deserialize;

/// The web console (docs/web.md), served under the API's listener at `/ui`
/// (with its TLS, if any).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the console at `/ui`. Defaults to true: nobody can log in
    /// before `dcwatch-collector user add` has made a user, and the login
    /// page says so.
    #[serde(default = "dcwatch_common::config::defaults::yes")]
    pub enabled: bool,
    /// The name in the console's header and the pages' titles, e.g. the
    /// centre's. Defaults to `dcwatch`.
    #[serde(default = "default_title")]
    pub title: String,
    /// SQLite file of the console's users. Defaults to /var/lib/dcwatch/users.db.
    #[serde(default = "default_users_db")]
    pub users_db: PathBuf,
    /// A session not used for this many s ends. Defaults to 1800 (30 min).
    #[serde(default = "default_idle", deserialize_with = "duration::secs")]
    pub idle_timeout_secs: u64,
    /// A session ends this many s after its login, used or not. Defaults to
    /// 43200 (12 h).
    #[serde(default = "default_lifetime", deserialize_with = "duration::secs")]
    pub lifetime_secs: u64,
    /// The wall display: a read-only overview without login.
    #[serde(default)]
    pub wall: WallConfig,
    /// The console's address as people reach it (through a proxy or a DNS
    /// name), e.g. `https://dcwatch.example.gov.vn`: alarm notices then
    /// link to the alarm's page, `{public_url}/ui/alarms/{fingerprint}`.
    /// http or https, no query or fragment. Defaults to none: no links.
    #[serde(default)]
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WallConfig {
    /// Addresses (`10.1.2.30/32`, `10.1.2.0/24`, `fd00::/64`) that may open
    /// `/ui/wall` without logging in. Defaults to none: the wall display is off.
    #[serde(default)]
    pub allow_from: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            title: default_title(),
            users_db: default_users_db(),
            idle_timeout_secs: default_idle(),
            lifetime_secs: default_lifetime(),
            wall: WallConfig::default(),
            public_url: None,
        }
    }
}

fn default_title() -> String {
    "dcwatch".into()
}
fn default_users_db() -> PathBuf {
    PathBuf::from("/var/lib/dcwatch/users.db")
}
fn default_idle() -> u64 {
    1800
}
fn default_lifetime() -> u64 {
    43_200
}

/// An address block: `10.1.2.0/24`, or one address (`10.1.2.30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net: addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl WallConfig {
    /// The blocks of `allow_from` (those that parse: validation refused the rest).
    pub fn blocks(&self) -> Vec<Cidr> {
        self.allow_from.iter().filter_map(|s| Cidr::parse(s)).collect()
    }
}

/// Why `url` cannot be the console's public address, if it cannot: the
/// link goes into every notice, to people's phones.
fn public_url_problem(url: &str) -> Option<String> {
    let shown = dcwatch_common::redact::redact_config_url(url);
    let example = "e.g. https://dcwatch.example.gov.vn";
    let Ok(u) = reqwest::Url::parse(url) else {
        return Some(format!("`{shown}` is not a URL; {example}"));
    };
    if !matches!(u.scheme(), "http" | "https") {
        return Some(format!("`{shown}` must start with https:// or http://; {example}"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Some(format!("`{shown}` names no host; {example}"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Some(format!("`{shown}` holds a user name or password, which every notice would show; remove it"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Some(format!(
            "`{shown}` has a query (`?`) or a fragment (`#`); give the console's address only, {example}"
        ));
    }
    None
}

impl WebConfig {
    /// `public_url` without its trailing `/`, to put `/ui/…` after.
    pub fn public_base(&self) -> Option<String> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/').to_string())
    }

    pub fn check(&self, p: &mut Vec<Problem>) {
        if let Some(why) = self.public_url.as_deref().and_then(public_url_problem) {
            p.push(Problem::general(format!("web.public_url: {why}")));
        }
        if self.idle_timeout_secs == 0 {
            p.push(Problem::general("web.idle_timeout_secs: must be at least 1"));
        }
        if self.lifetime_secs < self.idle_timeout_secs {
            p.push(Problem::general(format!(
                "web.lifetime_secs: {} is shorter than web.idle_timeout_secs ({}); make it at least as long",
                self.lifetime_secs, self.idle_timeout_secs
            )));
        }
        if self.title.trim().is_empty() {
            p.push(Problem::general("web.title: is empty; leave it out for `dcwatch`"));
        }
        for (i, a) in self.wall.allow_from.iter().enumerate() {
            match Cidr::parse(a) {
                None => p.push(Problem::general(format!(
                    "web.wall.allow_from[{i}]: `{a}` is not an address or block, e.g. `10.1.2.30` or `10.1.2.0/24`"
                ))),
                Some(c) if c.prefix == 0 => p.push(Problem::general(format!(
                    "web.wall.allow_from[{i}]: `{a}` holds every address and would show the wall display to anyone; \
                     name the wall screens' addresses or their room's block"
                ))),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_wall_blocks_hold_the_addresses_of_their_prefix_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let b = Cidr::parse("10.1.2.0/24").unwrap();
        assert!(b.contains(ip("10.1.2.255")));
        assert!(!b.contains(ip("10.1.3.1")));
        assert!(b.contains(ip("::ffff:10.1.2.7")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("192.0.2.1")));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(Cidr::parse("fd00::/64").unwrap().contains(ip("fd00::1")));
        assert!(!Cidr::parse("fd00::/64").unwrap().contains(ip("10.1.2.3")));
        assert_eq!(Cidr::parse("10.1.2.0/33"), None);
        assert_eq!(Cidr::parse("screen-1"), None);
    }

    #[test]
    fn web_config_problems_name_their_keys() {
        let c = WebConfig {
            idle_timeout_secs: 600,
            lifetime_secs: 60,
            wall: WallConfig { allow_from: vec!["10.0.0.0/8".into(), "wall".into(), "::/0".into()] },
            ..WebConfig::default()
        };
        let mut p = Vec::new();
        c.check(&mut p);
        let msgs: Vec<_> = p.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "web.lifetime_secs: 60 is shorter than web.idle_timeout_secs (600); make it at least as long",
                "web.wall.allow_from[1]: `wall` is not an address or block, e.g. `10.1.2.30` or `10.1.2.0/24`",
                "web.wall.allow_from[2]: `::/0` holds every address and would show the wall display to anyone; \
                 name the wall screens' addresses or their room's block",
            ]
        );
    }

    /// The problems of `yaml` as the collector prints them, `file:line:column: …`.
    fn printed(yaml: &str) -> String {
        let path = std::path::Path::new("/x/collector.yaml");
        let problems = dcwatch_common::config::parse::<crate::config::CollectorConfig>(yaml, path).unwrap_err();
        dcwatch_common::config::ConfigError { path: path.into(), problems }.to_string()
    }

    #[test]
    fn web_a_public_url_must_be_an_http_address_without_query_or_fragment() {
        let at = |url: &str| {
            printed(&format!("ingest:\n  allow_anonymous: true\nweb:\n  title: x\n  public_url: '{url}'\n"))
        };
        assert_eq!(
            at("ftp://dcwatch.example.gov.vn"),
            "/x/collector.yaml:5:3: web.public_url: `ftp://dcwatch.example.gov.vn` must start with https:// or http://; \
             e.g. https://dcwatch.example.gov.vn"
        );
        assert_eq!(
            at("https://dcwatch.example.gov.vn/?a=1"),
            "/x/collector.yaml:5:3: web.public_url: `https://dcwatch.example.gov.vn/?a=1` has a query (`?`) or a \
             fragment (`#`); give the console's address only, e.g. https://dcwatch.example.gov.vn"
        );
        assert_eq!(
            at("https://dcwatch.example.gov.vn/#top"),
            "/x/collector.yaml:5:3: web.public_url: `https://dcwatch.example.gov.vn/#top` has a query (`?`) or a \
             fragment (`#`); give the console's address only, e.g. https://dcwatch.example.gov.vn"
        );
        assert_eq!(
            at("dcwatch.example.gov.vn"),
            "/x/collector.yaml:5:3: web.public_url: `dcwatch.example.gov.vn` is not a URL; e.g. https://dcwatch.example.gov.vn"
        );
        assert_eq!(
            at("https://nam:S3cret@dcwatch.example.gov.vn"),
            "/x/collector.yaml:5:3: web.public_url: `https://***@dcwatch.example.gov.vn` holds a user name or \
             password, which every notice would show; remove it"
        );
    }

    #[test]
    fn web_a_public_url_with_a_path_is_kept_without_its_last_slash() {
        for (url, base) in [
            ("https://dcwatch.example.gov.vn", "https://dcwatch.example.gov.vn"),
            ("https://dcwatch.example.gov.vn/", "https://dcwatch.example.gov.vn"),
            ("http://10.1.2.3:8186/giam-sat/", "http://10.1.2.3:8186/giam-sat"),
        ] {
            let c = WebConfig { public_url: Some(url.into()), ..WebConfig::default() };
            let mut p = Vec::new();
            c.check(&mut p);
            assert_eq!((p, c.public_base().as_deref()), (Vec::new(), Some(base)), "{url}");
        }
        assert_eq!(WebConfig::default().public_base(), None);
    }
}
