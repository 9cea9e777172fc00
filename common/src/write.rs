//! Posting line protocol to an InfluxDB-compatible write endpoint.
//!
//! One writer speaks either flavour: `v2` (`/api/v2/write`, org, bucket,
//! `Authorization: Token`) for InfluxDB 2.x/3.x/Cloud, VictoriaMetrics and the
//! dcwatch collector; `v1` (`/write`, db, retention policy, basic auth) for
//! InfluxDB 1.x. It turns each HTTP answer into an [`Outcome`] that says what
//! the caller should do with the batch, so the agent and the collector retry
//! the same way.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Which write API the target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// `/api/v2/write?org=&bucket=` — InfluxDB 2.x/3.x/Cloud, VictoriaMetrics, a dcwatch collector.
    #[default]
    V2,
    /// `/write?db=&rp=` — InfluxDB 1.x.
    V1,
}

/// Where and how to write. Built from the agent's `output` or a collector
/// `sinks[]` entry.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Base URL, e.g. `http://10.0.0.5:8086`; a path prefix is kept.
    pub url: String,
    pub flavour: Flavour,
    pub org: String,
    pub bucket: String,
    pub database: String,
    pub retention_policy: Option<String>,
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub gzip: bool,
    pub timeout: Duration,
    /// PEM file of the CA(s) to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate (chain) and its private key presented to the server
    /// when it asks for a client certificate (mutual TLS). Both or neither.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Why a writer cannot be made: its URL, a TLS file, or the HTTP client.
/// The text names the setting; the file, URL or TLS error is the source
/// (print the chain, e.g. with [`crate::error_chain`] or `{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("url `{shown}` is not a valid URL")]
    BadUrl { shown: String, source: <reqwest::Url as std::str::FromStr>::Err },
    #[error("url `{shown}` must start with http:// or https://")]
    NotHttp { shown: String },
    /// A TLS file (`ca_file`, `cert_file`, `key_file`) cannot be read.
    #[error("cannot read {setting} {}", path.display())]
    Read { setting: &'static str, path: PathBuf, source: std::io::Error },
    #[error("ca_file {} holds no usable PEM certificate", path.display())]
    BadCa { path: PathBuf, source: reqwest::Error },
    #[error("ca_file {} holds no PEM certificate", .0.display())]
    NoCa(PathBuf),
    #[error("cert_file is set without key_file: give both or neither")]
    CertWithoutKey,
    #[error("key_file is set without cert_file: give both or neither")]
    KeyWithoutCert,
    #[error("cert_file {} holds no PEM certificate", .0.display())]
    NoCert(PathBuf),
    #[error("key_file {} holds no PEM private key", .0.display())]
    NoKey(PathBuf),
    #[error("cert_file {} and key_file {} are not a usable pair", cert.display(), key.display())]
    BadPair { cert: PathBuf, key: PathBuf, source: reqwest::Error },
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

fn read(setting: &'static str, path: &std::path::Path) -> Result<Vec<u8>, WriterError> {
    std::fs::read(path).map_err(|source| WriterError::Read { setting, path: path.to_path_buf(), source })
}

/// The client certificate and key, read and checked together: a certificate
/// without its key (or a key without a certificate) is a config mistake.
fn identity(s: &WriterSettings) -> Result<Option<reqwest::Identity>, WriterError> {
    let (cert, key) = match (&s.cert_file, &s.key_file) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => return Err(WriterError::CertWithoutKey),
        (None, Some(_)) => return Err(WriterError::KeyWithoutCert),
    };
    let mut pem = read("cert_file", cert)?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(WriterError::NoCert(cert.clone()));
    }
    let key_pem = read("key_file", key)?;
    if !key_pem.windows(11).any(|w| w == b"PRIVATE KEY") {
        return Err(WriterError::NoKey(key.clone()));
    }
    pem.push(b'\n');
    pem.extend_from_slice(&key_pem);
    reqwest::Identity::from_pem(&pem).map(Some).map_err(|source| WriterError::BadPair {
        cert: cert.clone(),
        key: key.clone(),
        source,
    })
}

/// What to do with a batch after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the target has it.
    Written,
    /// The target refused the data itself (400 bad lines, 413 too large, 422):
    /// sending it again cannot succeed. The batch is dropped and counted.
    Rejected { status: u16, message: String },
    /// A passing fault (connection error, timeout, 5xx, 429): try again after
    /// `after` if the target said so, else after the backoff.
    Retry { after: Option<Duration>, reason: String },
    /// The target refuses us, not the data (401, 403, 404 — wrong token or
    /// URL): keep the data and retry slowly until someone fixes the config.
    Stalled { status: u16, message: String },
}

/// An HTTP client bound to one write endpoint.
#[derive(Debug, Clone)]
pub struct Writer {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    /// `endpoint` without any `user:password@`, for logs, `/health` and errors.
    shown: String,
    auth: Auth,
    gzip: bool,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Token(String),
    Basic(String, String),
}

impl Writer {
    pub fn new(s: &WriterSettings) -> Result<Self, WriterError> {
        crate::install_crypto_provider();
        let endpoint = endpoint(s)?;
        let mut builder = reqwest::Client::builder()
            .timeout(s.timeout)
            .connect_timeout(s.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("dcwatch/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &s.ca_file {
            let pem = read("ca_file", ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|source| WriterError::BadCa { path: ca.clone(), source })?;
            if certs.is_empty() {
                return Err(WriterError::NoCa(ca.clone()));
            }
            builder = builder.tls_certs_only(certs);
        }
        if let Some(identity) = identity(s)? {
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(WriterError::Client)?;
        let auth = match (&s.token, &s.username) {
            (Some(t), _) => Auth::Token(format!("Token {t}")),
            (None, Some(u)) => Auth::Basic(u.clone(), s.password.clone().unwrap_or_default()),
            _ => Auth::None,
        };
        let shown = crate::redact::redact_url(endpoint.as_str());
        Ok(Writer { client, endpoint, shown, auth, gzip: s.gzip })
    }

    /// The full write URL with any `user:password@` replaced by `***@`: what
    /// logs, `/health` and errors show (the request itself keeps them).
    pub fn endpoint(&self) -> &str {
        &self.shown
    }

    /// Posts one body of newline-separated lines with nanosecond timestamps.
    pub async fn write(&self, body: &[u8]) -> Outcome {
        self.write_with(body, None).await
    }

    /// [`Self::write`] with one more header.
    pub async fn write_with(&self, body: &[u8], header: Option<(&'static str, String)>) -> Outcome {
        let mut req = self.client.post(self.endpoint.clone()).header("Content-Type", "text/plain; charset=utf-8");
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        req = match &self.auth {
            Auth::None => req,
            Auth::Token(t) => req.header("Authorization", t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
        };
        let req = if self.gzip {
            // Compressing a large batch takes milliseconds: off the async
            // workers, which answer the writers meanwhile.
            let zipped = if body.len() >= GZIP_INLINE_MAX_BYTES {
                let owned = body.to_vec();
                tokio::task::spawn_blocking(move || gzip(&owned))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            } else {
                gzip(body)
            };
            match zipped {
                Ok(z) => req.header("Content-Encoding", "gzip").body(z),
                Err(e) => return Outcome::Retry { after: None, reason: format!("gzip failed: {e}") },
            }
        } else {
            req.body(body.to_vec())
        };
        let resp = match req.send().await {
            Ok(r) => r,
            // reqwest's errors quote the URL; keep its credentials out.
            Err(e) => return Outcome::Retry { after: None, reason: crate::redact::redact_urls_in(&error_chain(&e)) },
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if (200..300).contains(&status) {
            return Outcome::Written;
        }
        let text = resp.text().await.unwrap_or_default();
        classify(status, retry_after, &text)
    }
}

/// Maps a non-2xx answer to what to do next. The target's message may quote
/// the request URL (a proxy's error page): it is redacted too.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
    let message = crate::redact::redact_urls_in(&summarize_body(body));
    match status {
        429 | 503 => Outcome::Retry { after: retry_after, reason: format!("HTTP {status}: {message}") },
        401 | 403 | 404 | 405 => Outcome::Stalled { status, message },
        400..=499 => Outcome::Rejected { status, message },
        _ => Outcome::Retry { after: retry_after, reason: format!("HTTP {status}: {message}") },
    }
}

/// InfluxDB answers errors as JSON `{"code":…,"message":…}` (v2) or
/// `{"error":…}` (v1); fall back to the raw text, shortened.
fn summarize_body(body: &str) -> String {
    let body = body.trim();
    for key in ["\"message\":\"", "\"error\":\""] {
        if let Some(i) = body.find(key) {
            let rest = &body[i + key.len()..];
            let mut out = String::new();
            let mut esc = false;
            for c in rest.chars() {
                match (esc, c) {
                    (true, c) => {
                        out.push(c);
                        esc = false
                    }
                    (false, '\\') => esc = true,
                    (false, '"') => break,
                    (false, c) => out.push(c),
                }
            }
            return shorten(&out);
        }
    }
    if body.is_empty() { "(empty body)".to_string() } else { shorten(body) }
}

/// At most about 300 bytes of an answer: its start and its end, where a
/// dcwatch collector puts its counts (`… (accepted: A, rejected: R; do not
/// resend this body)`), which the forwarder reads.
fn shorten(s: &str) -> String {
    const HEAD: usize = 200;
    const TAIL: usize = 100;
    if s.len() <= HEAD + TAIL {
        return s.to_string();
    }
    let mut end = HEAD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut start = s.len() - TAIL;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("{}…{}", &s[..end], &s[start..])
}

/// Joins an error with its sources — `reqwest` hides the useful part (e.g.
/// "invalid peer certificate: UnknownIssuer") a few levels down.
pub use crate::error_chain;

fn endpoint(s: &WriterSettings) -> Result<reqwest::Url, WriterError> {
    let shown = crate::redact::redact_url(&s.url);
    let base = match reqwest::Url::parse(&s.url) {
        Ok(u) => u,
        Err(source) => return Err(WriterError::BadUrl { shown, source }),
    };
    if !matches!(base.scheme(), "http" | "https") {
        return Err(WriterError::NotHttp { shown });
    }
    let path = base.path().trim_end_matches('/').to_string();
    let mut url = base.clone();
    match s.flavour {
        Flavour::V2 => {
            url.set_path(&format!("{path}/api/v2/write"));
            url.query_pairs_mut()
                .clear()
                .append_pair("org", &s.org)
                .append_pair("bucket", &s.bucket)
                .append_pair("precision", "ns");
        }
        Flavour::V1 => {
            url.set_path(&format!("{path}/write"));
            let mut q = url.query_pairs_mut();
            q.clear().append_pair("db", &s.database);
            if let Some(rp) = &s.retention_policy {
                q.append_pair("rp", rp);
            }
            // No `precision`: 1.x defaults to nanoseconds, and old releases
            // spell the unit `n` where newer ones take `ns`.
        }
    }
    Ok(url)
}

/// Gzips a body at a fast level: line protocol compresses ~10× even so.
/// A body at least this large is compressed on the blocking pool.
const GZIP_INLINE_MAX_BYTES: usize = 64 * 1024;

pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 6), flate2::Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_answer_keeps_its_start_and_its_end() {
        let long =
            format!("partial write: line 2: {} (accepted: 4, rejected: 1; do not resend this body)", "x".repeat(500));
        let short = shorten(&long);
        assert!(short.starts_with("partial write: line 2: xxx"), "{short}");
        assert!(short.ends_with("(accepted: 4, rejected: 1; do not resend this body)"), "{short}");
        assert!(short.len() <= 304, "{}", short.len());
        assert_eq!(shorten("short"), "short");
    }

    fn settings(url: &str, flavour: Flavour) -> WriterSettings {
        WriterSettings {
            url: url.into(),
            flavour,
            org: "dc org".into(),
            bucket: "power".into(),
            database: "dc".into(),
            retention_policy: Some("one_year".into()),
            token: None,
            username: None,
            password: None,
            gzip: true,
            timeout: Duration::from_secs(5),
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }

    #[test]
    fn v2_endpoint_keeps_a_path_prefix_and_encodes_the_org() {
        let url = endpoint(&settings("https://gw.example:8443/influx/", Flavour::V2)).unwrap();
        assert_eq!(url.as_str(), "https://gw.example:8443/influx/api/v2/write?org=dc+org&bucket=power&precision=ns");
    }

    #[test]
    fn v1_endpoint_names_database_and_retention_policy() {
        let url = endpoint(&settings("http://127.0.0.1:8086", Flavour::V1)).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8086/write?db=dc&rp=one_year");
    }

    #[test]
    fn an_unreadable_ca_file_keeps_the_file_error_as_the_source() {
        let mut s = settings("http://127.0.0.1:8086", Flavour::V2);
        s.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = Writer::new(&s).unwrap_err();
        assert_eq!(err.to_string(), "cannot read ca_file /nonexistent/ca.pem");
        let io = std::error::Error::source(&err).and_then(|e| e.downcast_ref::<std::io::Error>()).expect("io source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(crate::error_chain(&err), format!("cannot read ca_file /nonexistent/ca.pem: {io}"));
    }

    #[test]
    fn a_url_without_http_scheme_is_refused() {
        let err = endpoint(&settings("ftp://x", Flavour::V2)).unwrap_err().to_string();
        assert_eq!(err, "url `ftp://x` must start with http:// or https://");
    }

    #[test]
    fn credentials_in_the_url_are_kept_out_of_what_is_shown() {
        let w = Writer::new(&settings("http://admin:S3cretPw@127.0.0.1:9/influx", Flavour::V1)).unwrap();
        assert_eq!(w.endpoint(), "http://***@127.0.0.1:9/influx/write?db=dc&rp=one_year");
        let err = endpoint(&settings("ftp://admin:S3cretPw@x/", Flavour::V2)).unwrap_err().to_string();
        assert_eq!(err, "url `ftp://***@x/` must start with http:// or https://");
        assert_eq!(
            classify(502, None, "bad gateway for http://admin:S3cretPw@influx/write"),
            Outcome::Retry { after: None, reason: "HTTP 502: bad gateway for http://***@influx/write".into() }
        );
    }

    /// A connection error names the URL; its credentials never reach the
    /// reason (which becomes a log line and a sink's `last_error`).
    #[tokio::test]
    async fn a_failed_request_reports_no_credentials() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let w = Writer::new(&settings(&format!("http://admin:S3cretPw@127.0.0.1:{port}"), Flavour::V2)).unwrap();
        let Outcome::Retry { reason, .. } = w.write(b"x v=1 1\n").await else {
            panic!("a refused connection is a retry")
        };
        assert!(!reason.contains("S3cretPw") && !reason.contains("admin"), "{reason}");
        assert!(reason.starts_with("error sending request"), "{reason}");
    }

    #[test]
    fn answers_are_classified_by_what_a_retry_could_change() {
        let body = r#"{"code":"invalid","message":"line 3: bad \"x\""}"#;
        assert_eq!(classify(400, None, body), Outcome::Rejected { status: 400, message: "line 3: bad \"x\"".into() });
        assert_eq!(
            classify(503, Some(Duration::from_secs(7)), r#"{"error":"spool full"}"#),
            Outcome::Retry { after: Some(Duration::from_secs(7)), reason: "HTTP 503: spool full".into() }
        );
        assert_eq!(classify(401, None, ""), Outcome::Stalled { status: 401, message: "(empty body)".into() });
        assert_eq!(classify(500, None, "boom"), Outcome::Retry { after: None, reason: "HTTP 500: boom".into() });
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let z = gzip(b"ups,site=a load_pct=1 1\n").unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&z[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "ups,site=a load_pct=1 1\n");
    }
}
