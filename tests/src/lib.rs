//! Shared helpers for dcwatch's end-to-end tests: free ports, temp dirs, and
//! starting the real programs — InfluxDB 1.x, VictoriaMetrics, the collector
//! and the agent — each on 127.0.0.1, killed when its guard is dropped.
//!
//! The end-to-end tests are `#[ignore]`d so plain `cargo test` needs no
//! server; `scripts/test` installs the servers and runs them with
//! `--run-ignored all`. A missing server is then a loud failure.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod bench;
pub mod browser;
pub mod docs_check;
pub mod pair;
pub mod proxy;

pub use tempfile::TempDir;

/// Writes `dir/<file>` with `yaml`, adding `<section>:\n  dir: dir/<section>`
/// when the config has no such section, so each program gets its own
/// queue or spool. Returns the path.
fn write_config(dir: &Path, file: &str, yaml: &str, section: &str) -> PathBuf {
    let mut yaml = yaml.to_string();
    if !yaml.lines().any(|l| l.starts_with(&format!("{section}:"))) {
        yaml.push_str(&format!("\n{section}:\n  dir: {}\n", dir.join(section).display()));
    }
    let path = dir.join(file);
    std::fs::write(&path, &yaml).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// The API token (role admin) every collector the harness starts has, unless
/// its config has an `api:` section of its own.
pub const API_TOKEN: &str = "harness-api-token-0123456789";

/// Why e2e tests are ignored under plain `cargo test`.
pub const NEEDS_SERVERS: &str = "needs real servers: run scripts/test";

/// Longest any test waits for something to happen.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port()
}

/// The directory holding the workspace's built binaries: `DCWATCH_BIN_DIR`,
/// else `target/debug` of this workspace.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("DCWATCH_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("target").join("debug")
    });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`; scripts/test does)",
        path.display()
    );
    path
}

/// A program that must be installed on the machine (scripts/test installs them).
pub fn system_program(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` is not installed: run scripts/test, which installs every server the tests need");
}

/// Waits until `f` returns Some, polling; panics naming `what` after `PATIENCE`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up after {PATIENCE:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process, killed on drop; its output goes to a log file.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc { name: name.into(), child, log }
    }

    /// The process's output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A size from `/proc/PID/status` in bytes: `VmRSS` (now) or `VmHWM` (peak).
    pub fn memory_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).expect("field in proc status");
        line.split_whitespace().nth(1).and_then(|k| k.parse::<u64>().ok()).expect("kB") * 1024
    }

    /// Exit status if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        wait_for(&format!("{} to exit after SIGTERM", self.name), || self.exited())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let out = self.output();
            let tail: String =
                out.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            eprintln!("----- last lines of {} ({}) -----\n{tail}\n-----", self.name, self.log.display());
        }
    }
}

/// A blocking HTTP client that trusts the given CA (or the system roots).
pub fn http(ca_pem: Option<&Path>) -> reqwest::blocking::Client {
    http_as(ca_pem, None)
}

/// [`http`], presenting the client certificate and key in `identity_pem`
/// (see [`make_client_cert`]) when given.
pub fn http_as(ca_pem: Option<&Path>, identity_pem: Option<&Path>) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20));
    if let Some(ca) = ca_pem {
        let pem = std::fs::read(ca).expect("read CA");
        b = b.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).expect("CA PEM"));
    }
    if let Some(id) = identity_pem {
        let pem = std::fs::read(id).expect("read client identity");
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("client identity PEM"));
    }
    b.build().expect("client")
}

fn status_of(client: &reqwest::blocking::Client, url: &str) -> Option<u16> {
    client.get(url).send().ok().map(|r| r.status().as_u16())
}

/// InfluxDB 1.x (Debian `influxdb`): the real peer for the v1 write API.
pub struct Influx1 {
    pub port: u16,
    proc: Option<Proc>,
    conf: PathBuf,
    dir: TempDir,
}

impl Influx1 {
    pub fn start() -> Influx1 {
        let influxd = system_program("influxd");
        let dir = TempDir::new().expect("tempdir");
        let base = Command::new(&influxd).arg("config").output().expect("influxd config");
        let base = String::from_utf8_lossy(&base.stdout).into_owned();
        let (port, rpc) = (free_port(), free_port());
        let data = dir.path().display().to_string();
        let conf = base
            .replace("/var/lib/influxdb", &data)
            .replace("bind-address = \":8086\"", &format!("bind-address = \"127.0.0.1:{port}\""))
            .replace("bind-address = \"127.0.0.1:8088\"", &format!("bind-address = \"127.0.0.1:{rpc}\""))
            .replace("reporting-disabled = false", "reporting-disabled = true");
        let conf_path = dir.path().join("influxdb.conf");
        std::fs::write(&conf_path, conf).expect("write influxdb.conf");
        let mut influx = Influx1 { port, proc: None, conf: conf_path, dir };
        influx.restart();
        influx
    }

    /// Stops the server (as a crash would); its data stays.
    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        let mut cmd = Command::new(system_program("influxd"));
        cmd.arg("-config").arg(&self.conf);
        self.proc = Some(Proc::spawn("influxd", &mut cmd, self.dir.path()));
        let client = http(None);
        let url = format!("http://127.0.0.1:{}/ping", self.port);
        wait_for("influxd to answer /ping", || (status_of(&client, &url) == Some(204)).then_some(()));
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs InfluxQL; returns the JSON answer.
    pub fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/query", self.url()), [("db", db), ("q", q), ("epoch", "ns")])
                .expect("query URL");
        let text = http(None).post(url).send().expect("influx query").text().expect("influx answer");
        serde_json::from_str(&text).expect("influx JSON")
    }

    pub fn create_db(&self, db: &str) {
        let r = self.query(db, &format!("CREATE DATABASE \"{db}\""));
        assert!(r["results"][0].get("error").is_none(), "{r}");
    }

    /// The first value column of the first row of a single-series query, if any.
    pub fn scalar(&self, db: &str, q: &str) -> Option<serde_json::Value> {
        let r = self.query(db, q);
        r["results"][0]["series"][0]["values"][0].get(1).cloned()
    }
}

/// VictoriaMetrics (Debian `victoria-metrics`): the real peer for the v2 write API.
pub struct Victoria {
    pub port: u16,
    pub proc: Proc,
    _dir: TempDir,
}

/// One exported series: its labels and (timestamp ms, value) samples.
#[derive(Debug, Clone)]
pub struct Series {
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub values: Vec<f64>,
    pub timestamps: Vec<i64>,
}

impl Series {
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).and_then(|v| v.as_str()).unwrap_or("")
    }
}

impl Victoria {
    pub fn start() -> Victoria {
        Self::start_on(free_port())
    }

    /// Starts VictoriaMetrics on a given port (e.g. one a sink already points at).
    pub fn start_on(port: u16) -> Victoria {
        let vm = system_program("victoria-metrics");
        let dir = TempDir::new().expect("tempdir");
        let proc = Proc::spawn(
            "victoria-metrics",
            Command::new(vm)
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
                .arg("-search.latencyOffset=0s")
                .arg("-search.disableCache"),
            dir.path(),
        );
        let client = http(None);
        wait_for("victoria-metrics to answer /health", || {
            (status_of(&client, &format!("http://127.0.0.1:{port}/health")) == Some(200)).then_some(())
        });
        Victoria { port, proc, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every series matching a selector, e.g. `{__name__=~"host_mem_.*"}`.
    pub fn export(&self, selector: &str) -> Vec<Series> {
        let client = http(None);
        let _ = client.get(format!("{}/internal/force_flush", self.url())).send();
        let mut body = String::new();
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/export", self.url()), [("match[]", selector)])
            .expect("export URL");
        client.get(url).send().expect("export").read_to_string(&mut body).expect("export body");
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("export line is JSON");
                Series {
                    labels: v["metric"].as_object().cloned().unwrap_or_default(),
                    values: v["values"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                        .unwrap_or_default(),
                    timestamps: v["timestamps"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Waits until a selector matches at least one series, then returns them.
    pub fn wait_series(&self, selector: &str) -> Vec<Series> {
        wait_for(&format!("series {selector} in VictoriaMetrics"), || {
            let s = self.export(selector);
            (!s.is_empty()).then_some(s)
        })
    }
}

/// A running `dcwatch-collector` with its config in a temp dir.
pub struct Collector {
    pub port: u16,
    pub proc: Proc,
    pub dir: TempDir,
    scheme: &'static str,
}

impl Collector {
    /// Starts the collector with `yaml`, in which `{port}` is replaced by the
    /// port it listens on.
    pub fn start(yaml: &str) -> Collector {
        let dir = TempDir::new().expect("tempdir");
        Self::start_in(dir, yaml)
    }

    pub fn start_in(dir: TempDir, yaml: &str) -> Collector {
        let port = free_port();
        Self::start_at(dir, yaml, port)
    }

    /// Starts a collector on a given port (a restart keeps its port); a
    /// config with no `spool:` gets one in the collector's directory.
    pub fn start_at(dir: TempDir, yaml: &str, port: u16) -> Collector {
        let mut yaml = yaml.replace("{port}", &port.to_string());
        if !yaml.lines().any(|l| l.starts_with("api:")) {
            yaml.push_str(&format!("\napi:\n  tokens:\n    - {{name: harness, token: {API_TOKEN}, role: admin}}\n"));
        }
        if !yaml.lines().any(|l| l.starts_with("audit:")) {
            yaml.push_str(&format!("\naudit:\n  db: {}\n", dir.path().join("audit.db").display()));
        }
        let path = write_config(dir.path(), "collector.yaml", &yaml, "spool");
        let proc = Proc::spawn(
            "dcwatch-collector",
            Command::new(bin("dcwatch-collector")).arg("-c").arg(&path).env("RUST_LOG", "info"),
            dir.path(),
        );
        let scheme = if yaml.contains("  tls:") { "https" } else { "http" };
        let mut c = Collector { port, proc, dir, scheme };
        let client = c.client();
        let url = format!("{}/ping", c.url());
        wait_for("the collector to answer /ping", || {
            if let Some(status) = c.proc.exited() {
                panic!("the collector exited ({status}) while starting:\n{}", c.proc.output());
            }
            (status_of(&client, &url) == Some(204)).then_some(())
        });
        c
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Adds a console user with `dcwatch-collector user add NAME --role ROLE`
    /// on this collector's config, the password on standard input.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        use std::io::Write as _;
        let mut child = Command::new(bin("dcwatch-collector"))
            .arg("-c")
            .arg(self.dir.path().join("collector.yaml"))
            .args(["user", "add", name, "--role", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run dcwatch-collector user add");
        child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("write password");
        let out = child.wait_with_output().expect("user add");
        assert!(out.status.success(), "user add {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Kills the collector with SIGKILL; returns its directory (config,
    /// spool) and port for a restart.
    pub fn kill9(self) -> (TempDir, u16) {
        let Collector { port, proc, dir, .. } = self;
        drop(proc);
        (dir, port)
    }

    /// A client that trusts the collector (its `ca.pem` if the test wrote
    /// one), presenting the client certificate `identity.pem` if the test
    /// wrote one.
    pub fn client(&self) -> reqwest::blocking::Client {
        let (ca, id) = (self.dir.path().join("ca.pem"), self.dir.path().join("identity.pem"));
        http_as(ca.is_file().then_some(ca.as_path()), id.is_file().then_some(id.as_path()))
    }

    /// `/health` in full, as a holder of the harness's API token sees it.
    pub fn health(&self) -> serde_json::Value {
        let text = self
            .client()
            .get(format!("{}/health", self.url()))
            .bearer_auth(API_TOKEN)
            .send()
            .expect("health")
            .text()
            .expect("health body");
        serde_json::from_str(&text).expect("health JSON")
    }

    pub fn metrics(&self) -> String {
        self.client()
            .get(format!("{}/metrics", self.url()))
            .bearer_auth(API_TOKEN)
            .send()
            .expect("metrics")
            .text()
            .expect("metrics text")
    }

    /// The value of one exact metric line (`name{labels}`), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.metrics().lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// The sum of the metric lines whose series starts with `prefix`
    /// (`name{sink="s"` adds up every reason of a sink); None if none.
    pub fn metric_sum(&self, prefix: &str) -> Option<f64> {
        metric_sum(&self.metrics(), prefix)
    }

    /// Posts a body; returns the status and the answer text.
    pub fn post(&self, path_and_query: &str, token: Option<&str>, gzip: bool, body: &[u8]) -> (u16, String) {
        let mut req = self.client().post(format!("{}{}", self.url(), path_and_query));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        let body = if gzip {
            req = req.header("Content-Encoding", "gzip");
            gzip_bytes(body)
        } else {
            body.to_vec()
        };
        let resp = req.body(body).send().expect("post to collector");
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    }
}

/// The sum of the lines of a `/metrics` text whose series starts with
/// `prefix`; None if none does.
pub fn metric_sum(text: &str, prefix: &str) -> Option<f64> {
    let values: Vec<f64> =
        text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit_once(' ')?.1.parse().ok()).collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// One HTTP/1.1 request on a connection of its own that the server closes
/// after the answer (`Connection: close`), so no pooled connection stays
/// open behind a test that counts connections: (status, body).
pub fn raw_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).and_then(|()| s.write_all(body)).expect("send");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read the answer");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

impl Collector {
    /// [`Self::metric`] read over a connection of its own (plain HTTP only).
    pub fn metric_once(&self, series: &str) -> Option<f64> {
        let (_, text) = raw_request(self.port, "GET", "/metrics", &[], b"");
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }
}

/// A running `dcwatch-agent`.
pub struct Agent {
    pub proc: Proc,
    pub dir: TempDir,
}

impl Agent {
    /// Starts an agent; a config with no `queue:` gets one in the agent's directory.
    pub fn start(yaml: &str) -> Agent {
        let dir = TempDir::new().expect("tempdir");
        Self::start_in(dir, yaml)
    }

    pub fn start_in(dir: TempDir, yaml: &str) -> Agent {
        let path = write_config(dir.path(), "agent.yaml", yaml, "queue");
        let proc = Proc::spawn(
            "dcwatch-agent",
            Command::new(bin("dcwatch-agent")).arg("-c").arg(&path).env("RUST_LOG", "info"),
            dir.path(),
        );
        Agent { proc, dir }
    }
}

impl Agent {
    /// Kills the agent with SIGKILL; returns its directory (config, queue).
    pub fn kill9(self) -> TempDir {
        let Agent { proc, dir } = self;
        drop(proc);
        dir
    }

    /// Stops the agent with SIGTERM; returns its directory (config, queue).
    pub fn stop(self) -> TempDir {
        let Agent { mut proc, dir } = self;
        proc.terminate();
        dir
    }
}

pub fn gzip_bytes(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body).expect("gzip");
    enc.finish().expect("gzip")
}

/// This machine's hostname, as the agent reports it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname").trim().to_string()
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn mem_total_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).expect("MemTotal line");
    let kib: u64 = line.split_whitespace().nth(1).expect("value").parse().expect("number");
    kib * 1024
}

/// Total size of the filesystem at `path` by statvfs(2): f_blocks × f_frsize.
pub fn fs_total_bytes(path: &str) -> u64 {
    let c = std::ffi::CString::new(path).expect("path");
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0, "statvfs {path}");
    s.f_blocks as u64 * s.f_frsize as u64
}

/// Runs `openssl` with arguments in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(system_program("openssl")).args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Makes a CA (`{name}-ca.pem`/`-ca.key`) and a server certificate for
/// 127.0.0.1 and localhost signed by it (`{name}-server.pem`/`.key`).
pub fn make_ca_and_server_cert(dir: &Path, name: &str) {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
        ],
    );
    sign_cert(
        dir,
        name,
        &format!("{name}-server"),
        "127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
}

/// Makes a client certificate for the DNS name `dns`, signed by the CA of
/// [`make_ca_and_server_cert`]`(dir, ca)`; returns the path of a PEM file
/// holding the certificate and its key (a client identity).
pub fn make_client_cert(dir: &Path, ca: &str, dns: &str) -> PathBuf {
    let prefix = format!("{ca}-client-{dns}");
    sign_cert(
        dir,
        ca,
        &prefix,
        dns,
        &format!(
            "subjectAltName=DNS:{dns}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"
        ),
    );
    let mut identity = std::fs::read(dir.join(format!("{prefix}.pem"))).expect("client cert");
    identity.extend(std::fs::read(dir.join(format!("{prefix}.key"))).expect("client key"));
    let path = dir.join(format!("{prefix}-identity.pem"));
    std::fs::write(&path, identity).expect("write identity");
    path
}

/// A P-256 key (`{prefix}.key`) and a certificate for it (`{prefix}.pem`)
/// with the given extensions, signed by the CA `{ca}-ca.pem`.
fn sign_cert(dir: &Path, ca: &str, prefix: &str, cn: &str, extensions: &str) {
    let (key, csr, cert, ext) =
        (format!("{prefix}.key"), format!("{prefix}.csr"), format!("{prefix}.pem"), format!("{prefix}-ext.cnf"));
    let subj = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subj,
        ],
    );
    std::fs::write(dir.join(&ext), extensions).expect("ext");
    let (ca_pem, ca_key) = (format!("{ca}-ca.pem"), format!("{ca}-ca.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

/// Requests a [`Capture`] received: (path and query, inflated body).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>, Instant)>>>;

/// A stand-in write endpoint that records every body it is sent (inflated)
/// and answers 204: for comparing exactly what the collector forwards.
pub struct Capture {
    pub port: u16,
    bodies: Received,
    _rt: tokio::runtime::Runtime,
}

impl Capture {
    pub fn start() -> Capture {
        Self::start_slow(Duration::ZERO)
    }

    /// A capture that waits `delay` before answering each request.
    pub fn start_slow(delay: Duration) -> Capture {
        use axum::http::{HeaderMap, StatusCode, Uri};
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let bodies: Received = Default::default();
        let store = bodies.clone();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind capture");
        let port = listener.local_addr().expect("addr").port();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                tokio::time::sleep(delay).await;
                let gz = headers.get("content-encoding").is_some_and(|v| v == "gzip");
                let mut data = Vec::new();
                if gz {
                    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut data).expect("gzip body");
                } else {
                    data = body.to_vec();
                }
                store.lock().expect("lock").push((uri.to_string(), data, Instant::now()));
                StatusCode::NO_CONTENT
            }
        });
        rt.spawn(async move { axum::serve(listener, app).await });
        Capture { port, bodies, _rt: rt }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far: (path and query, body).
    pub fn requests(&self) -> Vec<(String, Vec<u8>)> {
        self.bodies.lock().expect("lock").iter().map(|(p, b, _)| (p.clone(), b.clone())).collect()
    }

    /// Every body so far with the moment it arrived.
    pub fn arrivals(&self) -> Vec<(Instant, Vec<u8>)> {
        self.bodies.lock().expect("lock").iter().map(|(_, b, t)| (*t, b.clone())).collect()
    }
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp").local_addr().expect("local addr").port()
}

/// How many file descriptors a process has open (`/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
}

/// Bytes waiting in the receive queue of the UDP socket bound to
/// 127.0.0.1:`port` (`/proc/net/udp`), if there is one: 0 once its owner
/// has read everything sent to it.
pub fn udp_rx_queue(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.get(1) != Some(&local.as_str()) {
            return None;
        }
        let (_, rx) = cols.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

/// `tests/data/snmp`: the recordings of real devices the SNMP tests serve
/// (their origin and licence are in its README).
pub fn snmp_recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/snmp")
}

/// The Python venv with snmpsim (scripts/test makes it): `DCWATCH_VENV`,
/// else `target/venv` of this workspace.
pub fn venv() -> PathBuf {
    let p = std::env::var_os("DCWATCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv"));
    assert!(p.join("bin/snmpsim-command-responder").is_file(), "snmpsim is not in {}: run scripts/test", p.display());
    p
}

/// Runs `snmpget` once; Some(output) if the agent at `port` answered.
pub fn snmpget(port: u16, args: &[&str], oid: &str) -> Option<String> {
    let out = Command::new(system_program("snmpget"))
        .args(args)
        .args(["-t", "0.5", "-r", "0", "-On"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(oid)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// snmpsim serving SNMP recordings on 127.0.0.1 (community = file name).
pub struct Snmpsim {
    pub proc: Proc,
    pub port: u16,
    pub dir: TempDir,
}

impl Snmpsim {
    /// Serves the given `*.snmprec` files (name → content).
    pub fn start(records: &[(&str, String)]) -> Snmpsim {
        Self::start_on(records, free_udp_port())
    }

    pub fn start_on(records: &[(&str, String)], port: u16) -> Snmpsim {
        Self::start_on_ports(records, &[port])
    }

    /// One snmpsim listening on every port given (each serves every recording).
    pub fn start_on_ports(records: &[(&str, String)], ports: &[u16]) -> Snmpsim {
        let port = ports[0];
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new().expect("tempdir");
        // snmpsim drops its privileges to `nobody`: it must read these.
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::create_dir_all(&cache).expect("cache dir");
        for (name, text) in records {
            std::fs::write(data.join(format!("{name}.snmprec")), text).expect("write recording");
        }
        for (p, mode) in [(dir.path(), 0o755), (data.as_path(), 0o755), (cache.as_path(), 0o777)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        for (name, _) in records {
            std::fs::set_permissions(data.join(format!("{name}.snmprec")), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
        }
        let mut cmd = Command::new(venv().join("bin/snmpsim-command-responder"));
        cmd.arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .args(ports.iter().map(|p| format!("--agent-udpv4-endpoint=127.0.0.1:{p}")));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["--process-user=nobody", "--process-group=nogroup"]);
        }
        let proc = Proc::spawn("snmpsim", &mut cmd, dir.path());
        let first = records.first().expect("at least one recording").0;
        for p in [port, *ports.last().expect("a port")] {
            wait_for("snmpsim to answer", || snmpget(p, &["-v2c", "-c", first], "1.3.6.1.2.1.1.2.0"));
        }
        Snmpsim { proc, port, dir }
    }

    /// Reads a recording of tests/data/snmp.
    pub fn recording(name: &str) -> String {
        let path = snmp_recordings().join(format!("{name}.snmprec"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

/// Net-SNMP's snmpd on 127.0.0.1 with the given extra `snmpd.conf` lines.
pub struct Snmpd {
    pub proc: Proc,
    pub port: u16,
    pub dir: TempDir,
}

impl Snmpd {
    pub fn start(conf: &str, probe_args: &[&str]) -> Snmpd {
        let dir = TempDir::new().expect("tempdir");
        let port = free_udp_port();
        let path = dir.path().join("snmpd.conf");
        std::fs::write(&path, format!("agentaddress udp:127.0.0.1:{port}\n{conf}\n")).expect("write snmpd.conf");
        let proc = Proc::spawn(
            "snmpd",
            Command::new(system_program("snmpd"))
                .args(["-f", "-Lo", "-C", "-c"])
                .arg(&path)
                .env("SNMP_PERSISTENT_DIR", dir.path())
                .env("MIBS", ""),
            dir.path(),
        );
        wait_for("snmpd to answer", || snmpget(port, probe_args, "1.3.6.1.2.1.1.2.0"));
        Snmpd { proc, port, dir }
    }
}

/// Every line protocol line a [`Capture`] received, in order.
pub fn captured_lines(c: &Capture) -> Vec<String> {
    c.requests()
        .iter()
        .flat_map(|(_, b)| String::from_utf8_lossy(b).lines().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// A line without its timestamp.
pub fn strip_ts(line: &str) -> &str {
    line.rsplit_once(' ').map_or(line, |(head, _)| head)
}

/// A pymodbus server (tests/py/modbus_server.py) from a JSON spec.
pub struct ModbusServer {
    pub proc: Proc,
    pub port: u16,
    pub dir: TempDir,
}

impl ModbusServer {
    /// Serves `devices` (the spec's `devices` list) over Modbus TCP on a free port.
    pub fn start(devices: serde_json::Value) -> ModbusServer {
        Self::start_on(devices, free_port())
    }

    pub fn start_on(devices: serde_json::Value, port: u16) -> ModbusServer {
        let spec = serde_json::json!({"tcp": format!("127.0.0.1:{port}"), "devices": devices});
        let (proc, dir) = Self::spawn(&spec);
        wait_for("the Modbus server", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        ModbusServer { proc, port, dir }
    }

    /// Serves `devices` as RTU on a serial port (e.g. one end of a pty pair).
    pub fn start_serial(devices: serde_json::Value, tty: &Path) -> ModbusServer {
        let spec = serde_json::json!({"serial": tty, "baudrate": 9600, "devices": devices});
        let (mut proc, dir) = Self::spawn(&spec);
        wait_for("the Modbus RTU server", || {
            assert!(proc.exited().is_none(), "the Modbus server exited:\n{}", proc.output());
            proc.output().contains("ready").then_some(())
        });
        ModbusServer { proc, port: 0, dir }
    }

    fn spawn(spec: &serde_json::Value) -> (Proc, TempDir) {
        let dir = TempDir::new().expect("tempdir");
        let path = dir.path().join("spec.json");
        std::fs::write(&path, spec.to_string()).expect("write spec");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/modbus_server.py");
        let proc = Proc::spawn("pymodbus", Command::new(venv().join("bin/python")).arg(script).arg(&path), dir.path());
        (proc, dir)
    }
}

/// Two registers holding `x` as an IEEE-754 float, high word first.
pub fn f32_words(x: f32) -> [u16; 2] {
    let b = x.to_bits();
    [(b >> 16) as u16, b as u16]
}

/// `socat` joining two ptys, linked at `dir/ttyA` and `dir/ttyB`.
pub fn pty_pair(dir: &Path) -> (Proc, PathBuf, PathBuf) {
    let (a, b) = (dir.join("ttyA"), dir.join("ttyB"));
    let proc = Proc::spawn(
        "socat",
        Command::new(system_program("socat"))
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display())),
        dir,
    );
    wait_for("socat's ptys", || (a.exists() && b.exists()).then_some(()));
    (proc, a, b)
}

/// Prometheus Alertmanager (Debian `prometheus-alertmanager`) with a route to nowhere.
pub struct Alertmanager {
    pub proc: Proc,
    pub port: u16,
    pub dir: TempDir,
}

impl Alertmanager {
    pub fn start() -> Alertmanager {
        Self::start_with("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
    }

    /// Alertmanager with the config `yaml` (e.g. a short `global.resolve_timeout`).
    pub fn start_with(yaml: &str) -> Alertmanager {
        let dir = TempDir::new().expect("tempdir");
        let port = free_port();
        let cfg = dir.path().join("am.yml");
        std::fs::write(&cfg, yaml).expect("write am.yml");
        let proc = Proc::spawn(
            "alertmanager",
            Command::new(system_program("prometheus-alertmanager"))
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address="),
            dir.path(),
        );
        let client = http(None);
        wait_for("Alertmanager to be ready", || {
            (status_of(&client, &format!("http://127.0.0.1:{port}/-/ready")) == Some(200)).then_some(())
        });
        Alertmanager { proc, port, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v2/alerts` (active ones only).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        http(None)
            .get(format!("{}/api/v2/alerts?active=true&silenced=false&inhibited=false", self.url()))
            .send()
            .ok()
            .and_then(|r| r.bytes().ok())
            .and_then(|b| serde_json::from_slice::<Vec<serde_json::Value>>(&b).ok())
            .unwrap_or_default()
    }
}

/// A real SMTP server (aiosmtpd, tests/py/smtp_server.py) that keeps every
/// message it accepts as JSON (envelope, decoded subject and body).
pub struct SmtpServer {
    pub proc: Proc,
    pub port: u16,
    pub dir: TempDir,
}

impl SmtpServer {
    pub fn start_on(port: u16) -> SmtpServer {
        let dir = TempDir::new().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/smtp_server.py");
        let mut proc = Proc::spawn(
            "aiosmtpd",
            Command::new(venv().join("bin/python")).arg(script).arg(port.to_string()).arg(dir.path()),
            dir.path(),
        );
        wait_for("the SMTP server", || {
            assert!(proc.exited().is_none(), "the SMTP server exited:\n{}", proc.output());
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        SmtpServer { proc, port, dir }
    }

    /// The messages so far, in order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|f| std::fs::read(f).ok()).filter_map(|b| serde_json::from_slice(&b).ok()).collect()
    }
}
