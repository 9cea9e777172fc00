//! Two collectors that back each other up (`peering:`, docs/ha.md), as
//! real processes on loopback, each reaching the other through its own
//! [`TcpProxy`], so a test or a benchmark can cut the link: for
//! `tests/tests/peering.rs` and `scripts/bench failover`.

use crate::proxy::TcpProxy;
use crate::*;
use serde_json::Value;

pub const TOKEN: &str = "peering-agent-token-0123456789";
/// The token of site B's agents (site `hn-dc2`, whose collector is `b`).
pub const TOKEN_B: &str = "peering-agent-token-b-0123456789";
pub const SECRET: &str = "peering-shared-secret-0123456789";

/// A collector of the pair: `name`, `rank`, its peer reached at
/// `peer_url`; `extra` goes under `alarms:`, `timing` under `peering:`.
/// Collector `a` is at site `hn-dc1`, `b` at `hn-dc2`.
#[allow(clippy::too_many_arguments)]
pub fn yaml(
    dir: &std::path::Path,
    name: &str,
    rank: u32,
    peer: &str,
    peer_url: &str,
    receivers: &str,
    extra: &str,
    timing: &str,
) -> String {
    format!(
        "listen:\n  address: 127.0.0.1:{{port}}\n\
         ingest:\n  tokens:\n    - {{name: agent, token: {TOKEN}, site: hn-dc1, poller: true}}\n    \
         - {{name: agent-b, token: {TOKEN_B}, site: hn-dc2, poller: true}}\n\
         alarms:\n  lang: en\n  db: {db}\n  evaluate_every_ms: 200\n  group_wait_ms: 300\n  \
         sites:\n    - name: hn-dc1\n    - name: hn-dc2\n{extra}  \
         rules:\n    - name: room_hot\n      measurement: env\n      field: temperature_c\n      above: 30\n      \
         severity: critical\n      summary: \"Room {{device}} hot: {{value}} °C\"\n    \
         - name: room_humid\n      measurement: env\n      field: humidity_pct\n      above: 80\n      for_secs: 4\n  \
         receivers:\n{receivers}\
         web:\n  users_db: {users}\n\
         peering:\n  name: {name}\n  rank: {rank}\n{timing}  \
         peers:\n    - {{name: {peer}, url: '{peer_url}', secret: {SECRET}, site: {peer_site}}}\n",
        db = dir.join("alarms.db").display(),
        users = dir.join("users.db").display(),
        peer_site = if peer == "a" { "hn-dc1" } else { "hn-dc2" },
    )
}

/// Collectors `a` (rank 0) and `b` (rank 1), each reaching the other
/// through its own proxy.
pub struct Pair {
    pub a: Option<Collector>,
    pub b: Option<Collector>,
    pub to_a: TcpProxy,
    pub to_b: TcpProxy,
    pub a_port: u16,
    pub a_yaml: String,
    pub b_port: u16,
    pub b_yaml: String,
}

impl Pair {
    pub fn start(receivers: &str, extra: &str, timing: &str) -> Pair {
        Self::start_edited(receivers, extra, timing, |_, _, y| y)
    }

    /// [`Pair::start`], each collector's configuration passed through
    /// `edit(name, its directory, yaml)` first.
    pub fn start_edited(
        receivers: &str,
        extra: &str,
        timing: &str,
        edit: impl Fn(&str, &std::path::Path, String) -> String,
    ) -> Pair {
        let (a_port, b_port) = (free_port(), free_port());
        let (to_a, to_b) = (TcpProxy::start(a_port), TcpProxy::start(b_port));
        let (da, db) = (TempDir::new().expect("tempdir"), TempDir::new().expect("tempdir"));
        let a_yaml = edit("a", da.path(), yaml(da.path(), "a", 0, "b", &to_b.url(), receivers, extra, timing));
        let b_yaml = edit("b", db.path(), yaml(db.path(), "b", 1, "a", &to_a.url(), receivers, extra, timing));
        let a = Collector::start_at(da, &a_yaml, a_port);
        let b = Collector::start_at(db, &b_yaml, b_port);
        let pair = Pair { a: Some(a), b: Some(b), to_a, to_b, a_port, a_yaml, b_port, b_yaml };
        wait_for("both to reach each other", || {
            let ok = |c: &Collector| status(c)["peering"]["peers"][0]["reachable"] == true;
            (ok(pair.a()) && ok(pair.b())).then_some(())
        });
        pair
    }

    pub fn a(&self) -> &Collector {
        self.a.as_ref().expect("a runs")
    }

    pub fn b(&self) -> &Collector {
        self.b.as_ref().expect("b runs")
    }

    /// Writes `lines` to both, as an agent with two outputs does.
    pub fn write(&self, lines: &str) {
        for c in self.a.iter().chain(self.b.iter()) {
            write(c, lines);
        }
    }

    pub fn cut(&self) {
        self.to_a.cut();
        self.to_b.cut();
    }

    pub fn heal(&self) {
        self.to_a.heal();
        self.to_b.heal();
    }
}

pub fn write(c: &Collector, lines: &str) {
    let (code, body) = c.post("/api/v2/write", Some(TOKEN), false, lines.as_bytes());
    assert_eq!(code, 204, "{body}");
}

pub fn get(c: &Collector, path: &str) -> Value {
    let r = c.client().get(format!("{}{path}", c.url())).bearer_auth(API_TOKEN).send().expect("request");
    serde_json::from_slice(&r.bytes().expect("body")).expect("json")
}

pub fn status(c: &Collector) -> Value {
    get(c, "/api/status")
}

/// The webhook receiver of `hook`, as `alarms.receivers` lists it.
pub fn hook_receiver(hook: &Capture) -> String {
    format!("    - name: hook\n      webhook: {{url: {}/hook}}\n", hook.url())
}
