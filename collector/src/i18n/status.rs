//! The words of `dcwatch-collector status`. Phrases with a count or a name
//! in them are functions, so each language puts the words in its own order.

use super::Lang;

/// The words of `status`.
pub struct Text {
    pub title: &'static str,
    /// What stands for a value not received.
    pub none: &'static str,
    pub no_data: &'static str,
    pub alarms_off: &'static str,
    /// No token to ask the collector with.
    pub no_token: &'static str,

    pub sinks: &'static str,
    pub no_sinks: &'static str,
    pub sink: &'static str,
    pub state: &'static str,
    pub backlog: &'static str,
    pub last_error: &'static str,
    pub sink_up: &'static str,
    pub sink_down: &'static str,
    pub sink_idle: &'static str,
    /// A state this `status` does not know (a newer collector's).
    pub sink_unknown: &'static str,
    /// Points waiting: `1.234 điểm`.
    pub points: fn(&str) -> String,
    /// The spool: size, its bound, points and segment files in it.
    pub spool: fn(bytes: &str, max: &str, points: &str, segments: &str) -> String,

    pub power: &'static str,
    pub site: &'static str,
    pub verdict: &'static str,
    pub feeds: &'static str,
    pub feed_live: &'static str,
    pub feed_down: &'static str,
    pub no_feeds: &'static str,
    pub powered: &'static str,
    pub redundant: &'static str,
    pub power_lost: &'static str,
    pub redundancy_unknown: &'static str,
    pub redundancy_degraded: &'static str,

    pub ups: &'static str,
    pub device: &'static str,
    pub charge: &'static str,
    pub runtime: &'static str,
    pub load: &'static str,
    /// A UPS's `status` field, when it is one dcwatch knows.
    pub ups_status: fn(&str) -> Option<&'static str>,

    pub generators: &'static str,
    pub fuel: &'static str,
    pub gen_alarm: &'static str,
    pub gen_running: &'static str,
    pub gen_stopped: &'static str,
    /// A generator's `state` or `alarm` field, when it is one dcwatch knows.
    pub gen_word: fn(&str) -> Option<&'static str>,

    /// `DEVICES DOWN (2)`.
    pub devices_down: fn(usize) -> String,
    pub kind: &'static str,
    pub protocol: &'static str,

    /// `AGENTS SILENT (1 of 40)`.
    pub agents_silent: fn(usize, usize) -> String,
    pub no_agents: &'static str,
    pub host: &'static str,
    pub silent_for: &'static str,

    /// `BACKUPS (2 of 3 need a look)`.
    pub backups: fn(usize, usize) -> String,
    pub job: &'static str,
    pub last_good: &'static str,
    pub note: &'static str,
    /// A backup's `status` field, when it is one dcwatch knows.
    pub backup_status: fn(&str) -> Option<&'static str>,
    pub no_good_backup: &'static str,
    pub late: &'static str,

    /// `ALARMS (1 firing, 0 pending)`.
    pub alarms: fn(usize, usize) -> String,
    pub severity: &'static str,
    pub alarm: &'static str,
    pub labels: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub firing: &'static str,
    pub pending: &'static str,
    pub acked_by: fn(&str) -> String,
    pub silenced: fn(&str) -> String,
    pub explained: &'static str,

    /// A duration's units: seconds, minutes, hours, days.
    pub units: [&'static str; 4],
    /// `28,0 giờ trước`, from a duration written with its unit.
    pub ago: fn(&str) -> String,
}

pub static EN: Text = Text {
    title: "dcwatch status — collector",
    none: "—",
    no_data: "no data",
    alarms_off: "Alarms are not configured (alarms:): no sites, devices, agents, backups or alarms to show.",
    no_token: "give --token (or DCWATCH_API_TOKEN): an api.tokens token; the config holds none in clear",

    sinks: "SINKS",
    no_sinks: "none configured: points are not stored",
    sink: "sink",
    state: "state",
    backlog: "waiting",
    last_error: "last error",
    sink_up: "up",
    sink_down: "DOWN",
    sink_idle: "nothing sent yet",
    sink_unknown: "unknown",
    points: |n| format!("{n} point{}", if n == "1" { "" } else { "s" }),
    spool: |b, max, p, s| {
        let (ps, ss) = (if p == "1" { "" } else { "s" }, if s == "1" { "" } else { "s" });
        format!("SPOOL  {b} of {max}, {p} point{ps} in {s} segment file{ss}")
    },

    power: "POWER",
    site: "site",
    verdict: "power",
    feeds: "feeds",
    feed_live: "live",
    feed_down: "DOWN",
    no_feeds: "no feeds configured",
    powered: "powered (one feed)",
    redundant: "redundant",
    power_lost: "POWER LOST",
    redundancy_unknown: "redundancy unknown (a feed has no data)",
    redundancy_degraded: "redundancy DEGRADED",

    ups: "UPS",
    device: "device",
    charge: "charge",
    runtime: "runtime",
    load: "load",
    ups_status: |s| {
        Some(match s {
            "online" => "online",
            "on_battery" => "ON BATTERY",
            "bypass" => "on bypass",
            "boost" => "boosting input",
            "trim" => "trimming input",
            "off" => "OUTPUT OFF",
            "fault" => "FAULT",
            "unknown" => "unknown",
            _ => return None,
        })
    },

    generators: "GENERATORS",
    fuel: "fuel",
    gen_alarm: "alarm",
    gen_running: "running",
    gen_stopped: "stopped",
    gen_word: |s| {
        Some(match s {
            "stopped" => "stopped",
            "pre_start" => "starting",
            "warming_up" => "warming up",
            "running" => "running",
            "cooling_down" => "cooling down",
            "none" => "none",
            "warning" => "warning",
            "shutdown" => "SHUTDOWN",
            "electrical_trip" => "ELECTRICAL TRIP",
            _ => return None,
        })
    },

    devices_down: |n| format!("DEVICES DOWN ({n})"),
    kind: "kind",
    protocol: "protocol",

    agents_silent: |n, of| format!("AGENTS SILENT ({n} of {of})"),
    no_agents: "no agent has sent data yet",
    host: "host",
    silent_for: "nothing for",

    backups: |n, of| format!("BACKUPS ({n} of {of} need a look)"),
    job: "job",
    last_good: "last good",
    note: "note",
    backup_status: |s| {
        Some(match s {
            "ok" => "ok",
            "failed" => "FAILED",
            "running" => "running",
            "missing" => "MISSING",
            _ => return None,
        })
    },
    no_good_backup: "no good backup yet",
    late: "LATE",

    alarms: |firing, pending| format!("ALARMS ({firing} firing, {pending} pending)"),
    severity: "severity",
    alarm: "alarm",
    labels: "labels",
    since: "since",
    summary: "summary",
    firing: "firing",
    pending: "pending",
    acked_by: |who| format!("[acknowledged by {who}]"),
    silenced: |id| format!("[silenced #{id}]"),
    explained: "[explained by a power alarm]",

    units: ["s", "min", "h", "days"],
    ago: |d| format!("{d} ago"),
};

pub static VI: Text = Text {
    title: "Trạng thái dcwatch — collector",
    none: "—",
    no_data: "chưa có dữ liệu",
    alarms_off: "Chưa cấu hình cảnh báo (alarms:): không có trung tâm, thiết bị, agent, sao lưu hay cảnh báo để hiển thị.",
    no_token: "cần --token (hoặc DCWATCH_API_TOKEN): một token trong api.tokens; cấu hình không có token nào ở dạng rõ",

    sinks: "NƠI LƯU DỮ LIỆU",
    no_sinks: "chưa cấu hình: dữ liệu không được lưu",
    sink: "tên",
    state: "trạng thái",
    backlog: "chờ gửi",
    last_error: "lỗi gần nhất",
    sink_up: "hoạt động",
    sink_down: "MẤT KẾT NỐI",
    sink_idle: "chưa gửi lần nào",
    sink_unknown: "không rõ",
    points: |n| format!("{n} điểm"),
    spool: |b, max, p, s| format!("HÀNG ĐỢI TRÊN ĐĨA  {b} / {max}, {p} điểm trong {s} tệp"),

    power: "NGUỒN ĐIỆN",
    site: "trung tâm",
    verdict: "tình trạng",
    feeds: "các nguồn",
    feed_live: "có điện",
    feed_down: "MẤT ĐIỆN",
    no_feeds: "chưa khai báo nguồn",
    powered: "có điện (một nguồn)",
    redundant: "đủ dự phòng",
    power_lost: "MẤT ĐIỆN",
    redundancy_unknown: "chưa rõ dự phòng (có nguồn chưa có dữ liệu)",
    redundancy_degraded: "MẤT DỰ PHÒNG",

    ups: "UPS",
    device: "thiết bị",
    charge: "mức ắc quy",
    runtime: "thời gian lưu điện",
    load: "tải",
    ups_status: |s| {
        Some(match s {
            "online" => "chạy điện lưới",
            "on_battery" => "CHẠY BẰNG ẮC QUY",
            "bypass" => "chạy bypass",
            "boost" => "đang tăng áp",
            "trim" => "đang giảm áp",
            "off" => "TẮT ĐẦU RA",
            "fault" => "LỖI",
            "unknown" => "không rõ",
            _ => return None,
        })
    },

    generators: "MÁY PHÁT ĐIỆN",
    fuel: "nhiên liệu",
    gen_alarm: "báo lỗi",
    gen_running: "đang chạy",
    gen_stopped: "đang dừng",
    gen_word: |s| {
        Some(match s {
            "stopped" => "đang dừng",
            "pre_start" => "đang khởi động",
            "warming_up" => "đang sấy máy",
            "running" => "đang chạy",
            "cooling_down" => "đang làm mát",
            "none" => "không",
            "warning" => "chú ý",
            "shutdown" => "DỪNG SỰ CỐ",
            "electrical_trip" => "NHẢY BẢO VỆ ĐIỆN",
            _ => return None,
        })
    },

    devices_down: |n| format!("THIẾT BỊ KHÔNG PHẢN HỒI ({n})"),
    kind: "loại",
    protocol: "giao thức",

    agents_silent: |n, of| format!("AGENT KHÔNG GỬI DỮ LIỆU ({n} / {of})"),
    no_agents: "chưa có agent nào gửi dữ liệu",
    host: "máy chủ",
    silent_for: "im lặng",

    backups: |n, of| format!("SAO LƯU ({n} / {of} cần kiểm tra)"),
    job: "tác vụ",
    last_good: "bản tốt gần nhất",
    note: "ghi chú",
    backup_status: |s| {
        Some(match s {
            "ok" => "tốt",
            "failed" => "LỖI",
            "running" => "đang chạy",
            "missing" => "KHÔNG THẤY",
            _ => return None,
        })
    },
    no_good_backup: "chưa có bản tốt nào",
    late: "QUÁ HẠN",

    alarms: |firing, pending| format!("CẢNH BÁO ({firing} đang cảnh báo, {pending} đang chờ)"),
    severity: "mức độ",
    alarm: "cảnh báo",
    labels: "nhãn",
    since: "bắt đầu",
    summary: "nội dung",
    firing: "đang cảnh báo",
    pending: "đang chờ",
    acked_by: |who| format!("[đã xác nhận: {who}]"),
    silenced: |id| format!("[tạm tắt thông báo #{id}]"),
    explained: "[do sự cố nguồn điện]",

    units: ["giây", "phút", "giờ", "ngày"],
    ago: |d| format!("{d} trước"),
};

impl Lang {
    /// The words of `status`.
    pub fn status(self) -> &'static Text {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}
