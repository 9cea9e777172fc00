//! The words about the pair of collectors (`peering:`), in `status` and
//! the console: who this collector is, who sends the notices, how the
//! other one is doing.

use super::Lang;

pub struct PeerText {
    /// The section's title in `status`.
    pub title: &'static str,
    /// Its heading in the console.
    pub heading: &'static str,
    /// This collector, its name and rank.
    pub this_one: fn(name: &str, rank: &str) -> String,
    pub sending_here: &'static str,
    /// The peer sends; this one holds each notice `hold` s first.
    pub sending_peer: fn(peer: &str, hold: &str) -> String,
    pub peer: &'static str,
    pub rank: &'static str,
    pub state: &'static str,
    pub last_heartbeat: &'static str,
    /// Entries of the peer's log not read yet.
    pub log_lag: &'static str,
    pub last_error: &'static str,
    pub reachable: &'static str,
    /// Not answering, not yet for `failover_secs`.
    pub late: &'static str,
    /// Not answering for `failover_secs` or more: this one sends alone.
    pub gone: &'static str,
    pub never: &'static str,
}

pub static VI: PeerText = PeerText {
    title: "CẶP COLLECTOR (HAI TRUNG TÂM)",
    heading: "Cặp collector (hai trung tâm)",
    this_one: |name, rank| format!("collector này: {name}, hạng {rank}"),
    sending_here: "đang gửi thông báo: collector này",
    sending_peer: |peer, hold| {
        format!(
            "đang gửi thông báo: {peer} (collector này giữ mỗi thông báo {hold} giây, rồi chỉ gửi cái {peer} chưa gửi)"
        )
    },
    peer: "collector kia",
    rank: "hạng",
    state: "trạng thái",
    last_heartbeat: "trả lời lần cuối",
    log_lag: "mục nhật ký chưa đọc",
    last_error: "lỗi gần nhất",
    reachable: "liên lạc được",
    late: "không trả lời",
    gone: "mất liên lạc",
    never: "chưa lần nào",
};

pub static EN: PeerText = PeerText {
    title: "COLLECTOR PAIR (TWO SITES)",
    heading: "Collector pair (two sites)",
    this_one: |name, rank| format!("this collector: {name}, rank {rank}"),
    sending_here: "sending the notices: this collector",
    sending_peer: |peer, hold| {
        format!(
            "sending the notices: {peer} (this collector holds each notice {hold} s, then sends only what {peer} has not)"
        )
    },
    peer: "peer",
    rank: "rank",
    state: "state",
    last_heartbeat: "last answer",
    log_lag: "log entries not read",
    last_error: "last error",
    reachable: "reachable",
    late: "not answering",
    gone: "unreachable",
    never: "never",
};

impl Lang {
    /// The words about the pair of collectors.
    pub fn peer(self) -> &'static PeerText {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}
