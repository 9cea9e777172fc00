//! The alarms' words: every built-in alarm's summary, what each built-in
//! means and what to do first, and the words of notices (severity, state,
//! the labels block, grouped and storm notices).
//!
//! A summary is made in both languages when its condition is seen
//! ([`Texts`]), so an alarm can go to a Vietnamese and an English receiver
//! at once and the API can show both.

use super::Lang;

/// One text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Texts {
    pub vi: String,
    pub en: String,
}

impl Texts {
    /// The text `f` writes in each language.
    pub fn new(f: impl Fn(Lang) -> String) -> Texts {
        Texts { vi: f(Lang::Vi), en: f(Lang::En) }
    }

    pub fn get(&self, l: Lang) -> &str {
        match l {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }

    /// Appends what `f` writes in each language.
    pub fn push(&mut self, f: impl Fn(Lang) -> String) {
        self.vi.push_str(&f(Lang::Vi));
        self.en.push_str(&f(Lang::En));
    }
}

/// A measured number: whole numbers without decimals, others with one.
pub fn n(l: Lang, x: f64) -> String {
    l.num(x, if x.fract() == 0.0 { 0 } else { 1 })
}

/// An alarm's value as the notice's "value" line shows it: a number written
/// the language's way with the decimals it was given (`3.5` is `3,5` in
/// Vietnamese, `1500` is `1.500`); anything else (`0/2`, a text field) as it
/// is.
pub fn value(l: Lang, raw: &str) -> String {
    // The digits as written, only the separators changed: a number read
    // into an f64 and written again could change (20 digits, long decimals).
    let (sign, digits) = raw.strip_prefix('-').map_or(("", raw), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) || (digits.contains('.') && frac.is_empty()) {
        return raw.to_string();
    }
    let (group, point) = l.separators();
    format!("{sign}{}", super::join_digits(int, frac, group, point))
}

fn opt(l: Lang, x: Option<f64>) -> String {
    x.map_or_else(|| "?".into(), |x| n(l, x))
}

/// `, … 3 more` after a list cut at its first items.
pub fn more(l: Lang, left: usize) -> String {
    match (left, l) {
        (0, _) => String::new(),
        (k, Lang::Vi) => format!(", … và {k} nữa"),
        (k, Lang::En) => format!(", … {k} more"),
    }
}

/// `60` → "1 min" / "1 phút", `86400` → "24 h" / "24 giờ", `45` → "45 s" / "45 giây".
pub fn duration(l: Lang, secs: u64) -> String {
    let (h, m, s) = match l {
        Lang::Vi => ("giờ", "phút", "giây"),
        Lang::En => ("h", "min", "s"),
    };
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} {h}", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} {m}", secs / 60)
    } else {
        format!("{secs} {s}")
    }
}

/// An age: hours to a tenth under 48 h, days beyond.
pub fn hours(l: Lang, secs: f64) -> String {
    let h = secs / 3600.0;
    let (hu, du) = match l {
        Lang::Vi => ("giờ", "ngày"),
        Lang::En => ("h", "days"),
    };
    if h < 48.0 { format!("{} {hu}", n(l, (h * 10.0).round() / 10.0)) } else { format!("{} {du}", l.num(h / 24.0, 1)) }
}

// ---- UPS, power, devices ----

pub fn ups_on_battery(l: Lang, dev: &str, site: &str, charge: Option<f64>, runtime_min: Option<f64>) -> String {
    let (c, r) = (opt(l, charge), opt(l, runtime_min));
    match l {
        Lang::Vi => format!("UPS {dev} tại trung tâm {site} đang chạy bằng ắc quy (còn {c} %, {r} phút)"),
        Lang::En => format!("UPS {dev} at {site} is on battery ({c} % charge, {r} min runtime)"),
    }
}

/// A UPS on battery, in the site's power alarm.
pub fn ups_on_battery_short(l: Lang, dev: &str, charge: Option<f64>, runtime_min: Option<f64>) -> String {
    let (c, r) = (opt(l, charge), opt(l, runtime_min));
    match l {
        Lang::Vi => format!("UPS {dev} chạy bằng ắc quy (còn {c} %, {r} phút)"),
        Lang::En => format!("UPS {dev} on battery ({c} %, {r} min left)"),
    }
}

pub fn ups_low_battery(l: Lang, dev: &str, site: &str) -> String {
    match l {
        Lang::Vi => format!("UPS {dev} tại trung tâm {site}: ắc quy yếu, sắp tắt"),
        Lang::En => format!("UPS {dev} at {site}: battery low, shutdown near"),
    }
}

pub fn ups_runtime_low(l: Lang, dev: &str, site: &str, minutes: f64) -> String {
    let m = n(l, minutes);
    match l {
        Lang::Vi => format!("UPS {dev} tại trung tâm {site}: chỉ còn {m} phút lưu điện"),
        Lang::En => format!("UPS {dev} at {site}: {m} min of runtime left"),
    }
}

pub fn ups_replace_battery(l: Lang, dev: &str, site: &str) -> String {
    match l {
        Lang::Vi => format!("UPS {dev} tại trung tâm {site}: cần thay ắc quy"),
        Lang::En => format!("UPS {dev} at {site}: replace the battery"),
    }
}

/// A UPS's `status` as an agent reports it (`online`, `on_battery`, `off`,
/// …), in the language; a value dcwatch does not know is shown as written,
/// without control characters.
pub fn ups_status(l: Lang, status: &str) -> String {
    let word = match (l, status) {
        (_, "onbattery") => return ups_status(l, "on_battery"),
        (Lang::En, _) => None,
        // The words of `status` (one word for each thing), in a sentence.
        (Lang::Vi, s) => (l.status().ups_status)(s).map(str::to_lowercase).or_else(|| match s {
            "sleeping" => Some("chờ".into()),
            "rebooting" => Some("đang khởi động lại".into()),
            _ => None,
        }),
    };
    word.unwrap_or_else(|| crate::status::printable(status))
}

/// A device's `kind` tag (`ups`, `pdu`, `generator`, …), in the language;
/// a kind dcwatch does not know is shown as written, without control characters.
pub fn device_kind(l: Lang, kind: &str) -> String {
    let (vi, en) = match kind {
        "ups" => ("UPS", "UPS"),
        "pdu" => ("PDU", "PDU"),
        "ats" => ("ATS", "ATS"),
        "generator" => ("máy phát điện", "generator"),
        "meter" | "power_feed" => ("đồng hồ điện", "meter"),
        "snmp" => ("SNMP", "SNMP device"),
        "modbus" => ("Modbus", "Modbus device"),
        _ => return crate::status::printable(kind),
    };
    match l {
        Lang::Vi => vi.to_string(),
        Lang::En => en.to_string(),
    }
}

pub fn ups_output_off(l: Lang, dev: &str, site: &str, status: &str) -> String {
    let status = ups_status(l, status);
    match l {
        Lang::Vi => {
            format!(
                "UPS {dev} tại trung tâm {site}: đầu ra đã tắt (trạng thái: {status}); các thiết bị UPS cấp điện đang \
                 mất điện"
            )
        }
        Lang::En => format!("UPS {dev} at {site}: output off ({status}); what it powers has no power"),
    }
}

pub fn ups_overload(l: Lang, dev: &str, site: &str) -> String {
    match l {
        Lang::Vi => format!("UPS {dev} tại trung tâm {site} bị quá tải"),
        Lang::En => format!("UPS {dev} at {site} is overloaded"),
    }
}

/// Appended to a UPS alarm whose UPS feeds configured hosts.
pub fn ups_powers(l: Lang, hosts: &[String]) -> String {
    let shown: Vec<&str> = hosts.iter().take(10).map(String::as_str).collect();
    let rest = more(l, hosts.len().saturating_sub(10));
    match l {
        Lang::Vi => format!("; UPS này cấp điện cho {} máy chủ: {}{rest}", hosts.len(), shown.join(", ")),
        Lang::En => format!("; it powers {} host(s): {}{rest}", hosts.len(), shown.join(", ")),
    }
}

pub fn ats_on_secondary(l: Lang, dev: &str, site: &str) -> String {
    match l {
        Lang::Vi => format!("ATS {dev} tại trung tâm {site} đang dùng nguồn dự phòng"),
        Lang::En => format!("ATS {dev} at {site} is on its secondary source"),
    }
}

pub fn generator_running(l: Lang, dev: &str, site: &str) -> String {
    match l {
        Lang::Vi => format!("Máy phát điện {dev} tại trung tâm {site} đang chạy"),
        Lang::En => format!("Generator {dev} at {site} is running"),
    }
}

pub fn device_unreachable(l: Lang, kind: &str, dev: &str, site: &str, protocol: &str) -> String {
    let kind = device_kind(l, kind);
    let protocol = crate::status::printable(protocol);
    match l {
        Lang::Vi => format!("Thiết bị {kind} {dev} tại trung tâm {site} không phản hồi ({protocol})"),
        Lang::En => format!("{kind} {dev} at {site} does not answer ({protocol})"),
    }
}

pub fn feed_lost(l: Lang, feed: &str, site: &str) -> String {
    match l {
        Lang::Vi => format!("Mất nguồn {feed} tại trung tâm {site}"),
        Lang::En => format!("Feed {feed} at {site} is down"),
    }
}

pub fn power_redundancy_degraded(l: Lang, site: &str, live: &[&str], dead: &[&str]) -> String {
    let (live, dead) = (live.join(", "), dead.join(", "));
    match l {
        Lang::Vi => format!("Trung tâm {site}: mất dự phòng nguồn điện, chỉ còn nguồn {live} ({dead} mất điện)"),
        Lang::En => format!("Site {site}: power redundancy lost, only feed {live} live ({dead} down)"),
    }
}

pub fn power_lost(l: Lang, site: &str, dead: &[&str]) -> String {
    let dead = dead.join(", ");
    match l {
        Lang::Vi => format!("Trung tâm {site}: MẤT ĐIỆN mọi nguồn ({dead})"),
        Lang::En => format!("Site {site}: ALL power feeds down ({dead})"),
    }
}

/// The site's power alarm: how many hosts its UPSes feed.
pub fn power_lost_on_ups(l: Lang, count: usize) -> String {
    match l {
        Lang::Vi => format!("; {count} máy chủ đang chạy bằng UPS"),
        Lang::En => format!("; {count} host(s) on its UPS"),
    }
}

/// The site's power alarm: the hosts gone silent.
pub fn power_lost_silent(l: Lang, hosts: &[&str]) -> String {
    let shown: Vec<&str> = hosts.iter().take(10).copied().collect();
    let rest = more(l, hosts.len().saturating_sub(10));
    match l {
        Lang::Vi => format!("; {} máy chủ mất liên lạc: {}{rest}", hosts.len(), shown.join(", ")),
        Lang::En => format!("; {} host(s) silent: {}{rest}", hosts.len(), shown.join(", ")),
    }
}

pub fn generator_not_running(l: Lang, site: &str, stopped: &[String]) -> String {
    let g = stopped.join(", ");
    match l {
        Lang::Vi => format!("Trung tâm {site}: mất điện mọi nguồn và máy phát điện {g} không chạy"),
        Lang::En => format!("Site {site}: every feed is down and generator {g} is not running"),
    }
}

// ---- hosts, disks, services ----

pub fn agent_silent(l: Lang, host: &str, site: &str, secs: u64) -> String {
    let s = l.num(secs as f64, 0);
    match l {
        Lang::Vi => format!("Máy chủ {host} tại trung tâm {site} đã {s} giây không gửi dữ liệu"),
        Lang::En => format!("Host {host} at {site} has sent nothing for {s} s"),
    }
}

pub fn agent_dropped_data(l: Lang, host: &str, site: &str, dropped: Option<f64>) -> String {
    let d = dropped.map(|d| n(l, d)).unwrap_or_default();
    match l {
        Lang::Vi => format!(
            "Agent trên máy chủ {host} tại trung tâm {site} đã bỏ dữ liệu (tổng cộng mất {d} điểm; hàng đợi \
             đầy, dữ liệu quá cũ hoặc ổ đĩa lỗi)"
        ),
        Lang::En => format!(
            "Agent on {host} at {site} dropped data ({d} points lost in all; its queue was full, too old, or the disk failed)"
        ),
    }
}

pub fn disk_full(l: Lang, mount: &str, host: &str, site: &str, pct: f64) -> String {
    let p = super::percent(&n(l, pct));
    match l {
        Lang::Vi => format!("Ổ đĩa {mount} trên máy chủ {host} tại trung tâm {site} đã đầy {p}"),
        Lang::En => format!("{mount} on {host} at {site} is {p} full"),
    }
}

pub fn disk_full_forecast(l: Lang, mount: &str, host: &str, site: &str, days: f64) -> String {
    let d = l.num(days, 1);
    match l {
        Lang::Vi => format!(
            "Ổ đĩa {mount} trên máy chủ {host} tại trung tâm {site} sẽ đầy sau khoảng {d} ngày với tốc độ tăng gần đây"
        ),
        Lang::En => format!("{mount} on {host} at {site} will be full in about {d} days at its recent growth"),
    }
}

pub fn service_degraded(l: Lang, service: &str, down_sites: &[&str]) -> String {
    let down = down_sites.join(", ");
    match l {
        Lang::Vi => {
            format!("Dịch vụ {service}: mọi máy chủ tại {down} mất liên lạc; dịch vụ chỉ còn chạy ở trung tâm khác")
        }
        Lang::En => format!("Service {service}: every host at {down} is silent; it runs on the other site(s) only"),
    }
}

pub fn service_outage(l: Lang, service: &str, min_sites: usize, up_sites: usize, down_sites: &[&str]) -> String {
    let down = down_sites.join(", ");
    match (l, up_sites) {
        (Lang::Vi, 0) => format!("Dịch vụ {service}: mọi máy chủ ở mọi trung tâm đều mất liên lạc"),
        (Lang::En, 0) => format!("Service {service}: every host at every site is silent"),
        (Lang::Vi, _) => format!(
            "Dịch vụ {service}: cần {min_sites} trung tâm nhưng chỉ chạy ở {up_sites} — mọi máy chủ tại {down} mất liên lạc"
        ),
        (Lang::En, _) => format!(
            "Service {service}: it needs {min_sites} site(s) and runs at {up_sites} — every host at {down} is silent"
        ),
    }
}

// ---- backups ----

/// `Sao lưu job trên máy chủ host tại trung tâm site` / `Backup job on host at site`.
fn job(l: Lang, job: &str, host: &str, site: &str) -> String {
    match l {
        Lang::Vi => format!("Sao lưu {job} trên máy chủ {host} tại trung tâm {site}"),
        Lang::En => format!("Backup {job} on {host} at {site}"),
    }
}

pub fn backup_failed(l: Lang, j: &str, host: &str, site: &str, message: &str) -> String {
    let why = if message.is_empty() { String::new() } else { format!(": {message}") };
    match l {
        Lang::Vi => format!("{} thất bại{why}", job(l, j, host, site)),
        Lang::En => format!("{} failed{why}", job(l, j, host, site)),
    }
}

pub fn backup_stale(l: Lang, j: &str, host: &str, site: &str, age_secs: f64, rpo_secs: f64) -> String {
    let (age, rpo) = (hours(l, age_secs), hours(l, rpo_secs));
    match l {
        Lang::Vi => format!("{}: bản sao lưu tốt gần nhất đã cũ {age} (RPO {rpo})", job(l, j, host, site)),
        Lang::En => format!("{}: the last good backup is {age} old (RPO {rpo})", job(l, j, host, site)),
    }
}

pub fn backup_shrunk(
    l: Lang,
    j: &str,
    host: &str,
    site: &str,
    shrunk_pct: Option<f64>,
    size_bytes: Option<f64>,
) -> String {
    let size = size_bytes.map_or_else(|| "?".into(), |b| l.bytes(b));
    let head = job(l, j, host, site);
    match (l, shrunk_pct) {
        (Lang::Vi, Some(p)) => format!("{head}: bản mới nhỏ hơn bản trước {} % ({size})", n(l, p)),
        (Lang::En, Some(p)) => format!("{head} is {} % smaller than the one before ({size})", n(l, p)),
        (Lang::Vi, None) => format!("{head}: chưa có thay đổi kích thước để so sánh ({size})"),
        (Lang::En, None) => format!("{head}: no size change to compare ({size})"),
    }
}

pub fn backup_missing(l: Lang, j: &str, host: &str, site: &str, message: &str) -> String {
    let why = if message.is_empty() { String::new() } else { format!(" ({message})") };
    match l {
        Lang::Vi => format!("{}: không tìm thấy bản sao lưu nào{why}", job(l, j, host, site)),
        Lang::En => format!("{}: no backup found{why}", job(l, j, host, site)),
    }
}

pub fn backup_never_reported(l: Lang, j: &str, host: &str, site: &str) -> String {
    match l {
        Lang::Vi => {
            format!("{}: chưa từng báo về (tác vụ đã được cấu hình trên agent của máy đó chưa?)", job(l, j, host, site))
        }
        Lang::En => format!("{}: never reported (is the job configured on its agent?)", job(l, j, host, site)),
    }
}

/// How far a job's mirror is behind (a directory job's `mirror:`).
pub enum MirrorLag {
    /// The newest copy there is this many seconds older.
    Older(f64),
    NoCopy,
    /// A configured pair's mirror job has not reported.
    NotReported,
    /// A configured pair's mirror job has no good backup.
    NoGoodBackup,
    /// A configured pair's mirror's last good backup is this many seconds older.
    PairOlder(f64),
}

impl MirrorLag {
    fn render(&self, l: Lang) -> String {
        match (self, l) {
            (MirrorLag::Older(s), Lang::Vi) => format!("bản mới nhất ở đó cũ hơn {}", hours(l, *s)),
            (MirrorLag::Older(s), Lang::En) => format!("the newest copy there is {} older", hours(l, *s)),
            (MirrorLag::NoCopy, Lang::Vi) => "ở đó chưa có bản nào".into(),
            (MirrorLag::NoCopy, Lang::En) => "no copy there".into(),
            (MirrorLag::NotReported, Lang::Vi) => "nơi đó chưa báo về".into(),
            (MirrorLag::NotReported, Lang::En) => "it has not reported".into(),
            (MirrorLag::NoGoodBackup, Lang::Vi) => "nơi đó chưa có bản sao lưu tốt nào".into(),
            (MirrorLag::NoGoodBackup, Lang::En) => "it has no good backup".into(),
            (MirrorLag::PairOlder(s), Lang::Vi) => format!("bản sao lưu tốt gần nhất ở đó cũ hơn {}", hours(l, *s)),
            (MirrorLag::PairOlder(s), Lang::En) => format!("its last good backup is {} older", hours(l, *s)),
        }
    }
}

/// `mirror`: (job, host, site) of a configured pair's mirror; None for a directory job's `mirror:`.
pub fn backup_not_replicated(
    l: Lang,
    primary: (&str, &str, &str),
    mirror: Option<(&str, &str, &str)>,
    lag: &MirrorLag,
) -> String {
    let head = job(l, primary.0, primary.1, primary.2);
    let detail = lag.render(l);
    match (l, mirror) {
        (Lang::Vi, None) => format!("{head} chưa được sao chép sang nơi dự phòng: {detail}"),
        (Lang::En, None) => format!("{head} has not reached its mirror: {detail}"),
        (Lang::Vi, Some((j, h, s))) => {
            format!("{head} chưa được sao chép sang {j} trên máy chủ {h} tại trung tâm {s}: {detail}")
        }
        (Lang::En, Some((j, h, s))) => format!("{head} has not reached its mirror {j} on {h} at {s}: {detail}"),
    }
}

// ---- the collector itself ----

pub fn notification_failing(l: Lang, receiver: &str, waiting: i64, error: &str) -> String {
    match l {
        Lang::Vi => format!("Không gửi được thông báo tới {receiver} ({waiting} thông báo đang chờ): {error}"),
        Lang::En => format!("Notices to {receiver} are not delivered ({waiting} waiting): {error}"),
    }
}

pub fn notification_recovered(l: Lang, receiver: &str) -> String {
    match l {
        Lang::Vi => format!("Đã gửi lại được thông báo tới {receiver}"),
        Lang::En => format!("Notices to {receiver} are delivered again"),
    }
}

pub fn sink_down(l: Lang, sink: &str, endpoint: &str, since_secs: i64, queued: u64, error: &str) -> String {
    let (s, q) = (l.num(since_secs as f64, 0), l.num(queued as f64, 0));
    match l {
        Lang::Vi => format!(
            "Nơi lưu dữ liệu {sink} ({endpoint}) đã {s} giây không nhận dữ liệu; {q} điểm đang chờ trong hàng đợi \
             trên đĩa: {error}"
        ),
        Lang::En => {
            format!("Sink {sink} ({endpoint}) has taken nothing for {s} s; {q} points wait in the spool: {error}")
        }
    }
}

pub fn report_failing(l: Lang, period: &str, receiver: &str, error: &str) -> String {
    match l {
        Lang::Vi => format!("Không gửi được báo cáo định kỳ {period} tới {receiver}: {error}; sẽ thử lại mỗi 10 phút"),
        Lang::En => format!(
            "The scheduled report {period} cannot be sent to {receiver}: {error}; trying again every 10 minutes"
        ),
    }
}

pub fn ingest_rate_limited(l: Lang, token: &str, points_per_sec: f64, window_secs: u64) -> String {
    let r = l.num(points_per_sec, 0);
    match l {
        Lang::Vi => format!(
            "Token {token} ghi nhanh hơn ingest.rate_limit ({r} điểm/giây): các lần ghi bị từ chối (429) trong \
             {window_secs} giây qua; có thể bị ghi tràn, hoặc giới hạn quá thấp cho nguồn ghi này"
        ),
        Lang::En => format!(
            "Token {token} writes faster than ingest.rate_limit ({r} points/s): its writes were refused \
             (429) in the last {window_secs} s; a flood, or a limit set too low for this writer"
        ),
    }
}

pub fn spool_filling(l: Lang, pct: f64) -> String {
    let p = l.num(pct, 0);
    match l {
        Lang::Vi => format!(
            "Hàng đợi trên đĩa của collector đã đầy {p} %: nơi lưu dữ liệu đang chậm; khi đầy 100 % các lần ghi bị \
             từ chối (503)"
        ),
        Lang::En => {
            format!("The collector's spool is {p} % full: sinks are behind; at 100 % writers are refused (503)")
        }
    }
}

/// The last power state a collector heard at a site: each feed live or
/// not, each UPS on battery or not with its runtime left (s).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SitePower {
    pub feeds: Vec<(String, bool)>,
    pub ups: Vec<(String, bool, Option<f64>)>,
}

impl SitePower {
    fn text(&self, l: Lang) -> String {
        let mut parts: Vec<String> = self
            .feeds
            .iter()
            .map(|(feed, live)| match (l, live) {
                (Lang::Vi, true) => format!("nguồn {feed} có điện"),
                (Lang::Vi, false) => format!("nguồn {feed} mất điện"),
                (Lang::En, true) => format!("feed {feed} live"),
                (Lang::En, false) => format!("feed {feed} down"),
            })
            .collect();
        for (ups, on_battery, runtime) in &self.ups {
            let left = runtime.map(|s| l.num((s / 60.0).floor(), 0));
            parts.push(match (l, on_battery, left) {
                (Lang::Vi, true, Some(m)) => format!("UPS {ups} chạy ắc quy, còn {m} phút"),
                (Lang::Vi, true, None) => format!("UPS {ups} chạy ắc quy"),
                (Lang::Vi, false, _) => format!("UPS {ups} chạy điện lưới"),
                (Lang::En, true, Some(m)) => format!("UPS {ups} on battery, {m} min left"),
                (Lang::En, true, None) => format!("UPS {ups} on battery"),
                (Lang::En, false, _) => format!("UPS {ups} on mains"),
            });
        }
        match (l, parts.is_empty()) {
            (Lang::Vi, true) => "không có số liệu điện".into(),
            (Lang::En, true) => "no power data".into(),
            _ => parts.join(", "),
        }
    }
}

/// A whole site gone: its collector unreachable since `since`, its `hosts`
/// (the first `named`) silent, the `services` it runs, the last power state.
#[allow(clippy::too_many_arguments)]
pub fn site_down(
    l: Lang,
    site: &str,
    peer: &str,
    since: &str,
    hosts: usize,
    named: &[&str],
    services: &[&str],
    power: &SitePower,
) -> String {
    let n = l.num(hosts as f64, 0);
    let more = if named.len() < hosts { ", …" } else { "" };
    let names = format!("{}{more}", named.join(", "));
    let power = power.text(l);
    let (svc_vi, svc_en) = match services.len() {
        0 => (String::new(), String::new()),
        k => (
            format!("; {} dịch vụ chỉ còn chạy ở trung tâm kia ({})", l.num(k as f64, 0), services.join(", ")),
            match k {
                1 => format!("; 1 service now runs at the other site only ({})", services.join(", ")),
                _ => format!("; {k} services now run at the other site only ({})", services.join(", ")),
            },
        ),
    };
    match l {
        Lang::Vi => format!(
            "MẤT TRUNG TÂM {site}: collector {peer} không trả lời từ {since} và cả {n} máy chủ đều im lặng ({names}); \
             trạng thái điện cuối cùng: {power}{svc_vi}"
        ),
        Lang::En => format!(
            "SITE {site} DOWN: collector {peer} unreachable since {since} and all {n} hosts silent ({names}); \
             last power state: {power}{svc_en}"
        ),
    }
}

/// The peered collector has not answered since `since` (last answer
/// `last`, if ever): this collector now sends every notice itself.
pub fn peer_unreachable(l: Lang, peer: &str, url: &str, since: &str, last: Option<&str>, error: &str) -> String {
    match (l, last) {
        (Lang::Vi, Some(last)) => format!(
            "Không liên lạc được với collector {peer} ({url}) từ {since} (lần cuối trả lời lúc {last}): {error}. \
             Collector này tự gửi mọi thông báo"
        ),
        (Lang::Vi, None) => format!(
            "Chưa liên lạc được với collector {peer} ({url}) lần nào từ {since}: {error}. Collector này tự gửi mọi \
             thông báo"
        ),
        (Lang::En, Some(last)) => format!(
            "The peer collector {peer} ({url}) has not answered since {since} (last answer at {last}): {error}. \
             This collector sends every notice itself"
        ),
        (Lang::En, None) => format!(
            "The peer collector {peer} ({url}) has not answered once since {since}: {error}. This collector sends \
             every notice itself"
        ),
    }
}

pub fn spool_dropped_points(l: Lang, lines: u64) -> String {
    let k = l.num(lines as f64, 0);
    match l {
        Lang::Vi => format!(
            "Hàng đợi trên đĩa của collector đã xoá {k} điểm mà có nơi lưu dữ liệu chưa nhận (spool.when_full: \
             drop_oldest, hàng đợi đầy): nơi lưu dữ liệu chậm quá xa, hoặc spool.max_bytes quá nhỏ"
        ),
        Lang::En => format!(
            "The collector's spool deleted {k} points some sink had not taken (spool.when_full: \
             drop_oldest, the spool is full): sinks are far behind, or spool.max_bytes is too small"
        ),
    }
}

pub fn db_quarantined(l: Lang, db: &str, moved: &str) -> String {
    match l {
        Lang::Vi => format!(
            "{db} bị hỏng lúc khởi động và đã được chuyển sang {moved}; collector chạy với trạng thái cảnh báo mới \
             (các cảnh báo, xác nhận, lịch tạm tắt thông báo, lịch sử và thông báo chưa gửi trước đó nằm trong tệp đã chuyển)"
        ),
        Lang::En => format!(
            "{db} was corrupt at the start and was moved to {moved}; the collector runs with fresh alarm state \
             (earlier alarms, acknowledgements, silences, history and undelivered notices are in the moved file)"
        ),
    }
}

pub fn db_in_use_again(l: Lang, db: &str) -> String {
    match l {
        Lang::Vi => format!("{db} đã được dùng lại bình thường"),
        Lang::En => format!("{db} is in use again"),
    }
}

/// The always-firing alarm of the dead man's switch.
pub fn watchdog(l: Lang) -> String {
    match l {
        Lang::Vi => "Tín hiệu kiểm tra luôn bật, không phải sự cố: collector này vẫn đánh giá và gửi được cảnh báo; \
                     khi tín hiệu này ngừng đến, hãy kiểm tra collector"
            .into(),
        Lang::En => "Always firing on purpose, not a problem: this collector still evaluates and sends alarms; \
                     when it stops arriving, check the collector"
            .into(),
    }
}

/// The resolve of an alarm whose series were all forgotten.
pub fn expired(l: Lang, ttl_secs: u64) -> String {
    let d = duration(l, ttl_secs);
    match l {
        Lang::Vi => format!(
            "Không có dữ liệu trong {d}: thứ cảnh báo này theo dõi không còn được gửi về, nên collector đã bỏ nó \
             (alarms.limits.series_ttl_secs); cảnh báo được đóng dù chưa thấy trở lại bình thường"
        ),
        Lang::En => format!(
            "No data for {d}: what this alarm is about is no longer reported, so the collector forgot it \
             (alarms.limits.series_ttl_secs); closed without a recovery"
        ),
    }
}

pub fn series_cap(l: Lang, token: &str, cap: usize) -> String {
    let c = l.num(cap as f64, 0);
    match l {
        Lang::Vi => format!(
            "Token {token} đã có {c} chuỗi số liệu trong trạng thái cảnh báo, mức tối đa \
             (alarms.limits.max_series_per_token): điểm của chuỗi mới vẫn được chuyển tới nơi lưu dữ liệu, nhưng \
             không cảnh báo nào thấy chúng"
        ),
        Lang::En => format!(
            "Token {token} has {c} series in the alarm state, its cap (alarms.limits.max_series_per_token): \
             points of new series are still forwarded to the sinks, but no alarm sees them"
        ),
    }
}

pub fn alarm_cap(l: Lang, site: &str, cap: usize, not_raised: usize) -> String {
    let c = l.num(cap as f64, 0);
    match (l, site.is_empty()) {
        (Lang::Vi, empty) => {
            let at =
                if empty { "không thuộc trung tâm nào".to_string() } else { format!("tại trung tâm {site}") };
            format!(
                "{c} cảnh báo đang chờ hoặc đang cảnh báo {at}, mức tối đa (alarms.limits.max_alarms_per_site): \
                 {not_raised} cảnh báo nữa không được tạo; xem bảng điều khiển và các nguồn ghi của trung tâm đó"
            )
        }
        (Lang::En, empty) => {
            let at = if empty { "without a site".to_string() } else { format!("at site {site}") };
            format!(
                "{c} alarms pending or firing {at}, its cap (alarms.limits.max_alarms_per_site): \
                 {not_raised} more are not raised; see the console and the writers of that site"
            )
        }
    }
}

// ---- notices ----

/// The one notice that stands for a window's notices to a receiver past
/// `alarms.limits.max_notices_per_window`.
pub fn storm_summary(
    l: Lang,
    count: usize,
    firing: usize,
    resolved: usize,
    sites: &std::collections::BTreeSet<String>,
    window_secs: u64,
    first: &[String],
) -> String {
    let one = sites.iter().next().map(String::as_str).unwrap_or("");
    let rest = more(l, count.saturating_sub(first.len()));
    let (w, names) = (duration(l, window_secs), first.join(", "));
    match l {
        Lang::Vi => {
            let at = match sites.len() {
                0 => String::new(),
                1 => format!(" tại trung tâm {one}"),
                k => format!(" tại {k} trung tâm"),
            };
            format!(
                "Thêm {count} thông báo cảnh báo{at} trong {w} ({firing} đang cảnh báo, {resolved} đã hết), không gửi \
                 riêng từng thông báo; xem bảng điều khiển: {names}{rest}"
            )
        }
        Lang::En => {
            let at = match sites.len() {
                0 => String::new(),
                1 => format!(" at site {one}"),
                k => format!(" at {k} sites"),
            };
            format!(
                "{count} more alarm notices{at} in {w} ({firing} firing, {resolved} resolved), not sent one by one; \
                 see the console: {names}{rest}"
            )
        }
    }
}

/// `[CRITICAL]`'s word.
pub fn severity(l: Lang, sev: &str) -> String {
    match (l, sev) {
        (Lang::Vi, "critical") => "NGHIÊM TRỌNG".into(),
        (Lang::Vi, "warning") => "CHÚ Ý".into(),
        (Lang::Vi, "info") => "THÔNG TIN".into(),
        (_, s) => s.to_uppercase(),
    }
}

/// The state word of a notice kind (`firing`, `resolved`, `repeat`, `flapping`, `escalated`).
pub fn state(l: Lang, notice: &str) -> &'static str {
    match (l, notice) {
        (Lang::Vi, "resolved") => "ĐÃ HẾT",
        (Lang::Vi, "repeat") => "VẪN ĐANG CẢNH BÁO",
        (Lang::Vi, "flapping") => "CHẬP CHỜN",
        (Lang::Vi, "escalated") => "BÁO CẤP TRÊN",
        (Lang::Vi, _) => "ĐANG CẢNH BÁO",
        (Lang::En, "resolved") => "RESOLVED",
        (Lang::En, "repeat") => "STILL FIRING",
        (Lang::En, "flapping") => "FLAPPING",
        (Lang::En, "escalated") => "ESCALATED",
        (Lang::En, _) => "FIRING",
    }
}

/// The summary of a flapping notice.
pub fn flapping(l: Lang, summary: &str) -> String {
    match l {
        Lang::Vi => format!("{summary} (chập chờn: tạm dừng thông báo cho tới khi ổn định)"),
        Lang::En => format!("{summary} (flapping: notices paused until it is stable)"),
    }
}

/// The history's note of an alarm that started flapping.
pub fn flap_changes(l: Lang, changes: usize, window_secs: u64) -> String {
    match l {
        Lang::Vi => format!("{changes} lần thay đổi trong {window_secs} giây"),
        Lang::En => format!("{changes} changes in {window_secs} s"),
    }
}

/// The summary of an escalated notice.
pub fn not_acknowledged(l: Lang, summary: &str) -> String {
    match l {
        Lang::Vi => format!("CHƯA AI XÁC NHẬN: {summary}"),
        Lang::En => format!("NOT ACKNOWLEDGED: {summary}"),
    }
}

/// The words of a notice's body: the labels block and its times.
pub struct Body {
    pub since: &'static str,
    pub ended: &'static str,
    pub value: &'static str,
    pub fingerprint: &'static str,
    pub what_to_do: &'static str,
    /// The line with the link to the alarm's page (`web.public_url`).
    pub link: &'static str,
}

pub const BODY_VI: Body = Body {
    since: "bắt đầu",
    ended: "kết thúc",
    value: "giá trị",
    fingerprint: "mã cảnh báo",
    what_to_do: "cần làm",
    link: "xem trên bảng điều khiển",
};
pub const BODY_EN: Body = Body {
    since: "since",
    ended: "ended",
    value: "value",
    fingerprint: "fingerprint",
    what_to_do: "what to do",
    link: "open in the console",
};

pub fn body(l: Lang) -> &'static Body {
    match l {
        Lang::Vi => &BODY_VI,
        Lang::En => &BODY_EN,
    }
}

/// A label's name in a notice's body (well-known ones translated, others as they are).
pub fn label(l: Lang, key: &str) -> &str {
    match (l, key) {
        (Lang::Vi, "site") => "trung tâm",
        (Lang::Vi, "device") => "thiết bị",
        (Lang::Vi, "host") => "máy chủ",
        (Lang::Vi, "feed") => "nguồn",
        (Lang::Vi, "mount") => "ổ đĩa",
        (Lang::Vi, "job") => "tác vụ sao lưu",
        (Lang::Vi, "service") => "dịch vụ",
        (Lang::Vi, "receiver") => "nơi nhận",
        (Lang::Vi, "sink") => "nơi lưu dữ liệu",
        (_, k) => k,
    }
}

/// The subject of one message for several notices of one site and severity.
pub fn grouped_subject(l: Lang, sev: &str, count: usize, site: &str, names: &[String]) -> String {
    let s = severity(l, sev);
    let names = names.join(", ");
    match (l, site.is_empty()) {
        (Lang::Vi, true) => format!("[{s}] {count} thông báo: {names}"),
        (Lang::Vi, false) => format!("[{s}] {count} thông báo tại trung tâm {site}: {names}"),
        (Lang::En, true) => format!("[{s}] {count} notices: {names}"),
        (Lang::En, false) => format!("[{s}] {count} notices at {site}: {names}"),
    }
}

/// What a built-in alarm means and what to do first.
pub fn description(l: Lang, name: &str) -> Option<&'static str> {
    let (_, vi, en) = DESCRIPTIONS.iter().find(|(n, _, _)| *n == name)?;
    Some(match l {
        Lang::Vi => vi,
        Lang::En => en,
    })
}

/// What to do about each built-in alarm: its name, then Vietnamese and English.
const DESCRIPTIONS: &[(&str, &str, &str)] = &[
    (
        "ups_on_battery",
        "UPS mất điện lưới và đang chạy bằng ắc quy. Kiểm tra nguồn điện lưới và máy phát; chuẩn bị tắt máy chủ \
         theo thứ tự nếu điện không sớm trở lại.",
        "The UPS lost mains and runs on its battery. Check the feed and the generator; get ready to shut \
         servers down in order if power does not come back soon.",
    ),
    (
        "ups_low_battery",
        "Ắc quy UPS sắp cạn, UPS sẽ tắt. Tắt ngay các máy chủ do UPS này cấp điện.",
        "The UPS battery is nearly empty and the UPS will shut down. Shut down the servers it powers now.",
    ),
    (
        "ups_runtime_low",
        "Thời gian lưu điện còn dưới ngưỡng. Tắt các máy chủ không quan trọng để kéo dài thời gian lưu điện.",
        "Runtime left is below the threshold. Shut down less important servers to stretch it.",
    ),
    (
        "ups_replace_battery",
        "UPS báo cần thay ắc quy. Đặt lịch thay ắc quy; khi mất điện, thời gian lưu điện sẽ ngắn hơn dự kiến.",
        "The UPS asks for a new battery. Schedule the replacement; on a power cut the runtime will be shorter.",
    ),
    (
        "ups_overload",
        "Tải vượt công suất UPS. Chuyển bớt thiết bị sang UPS khác; quá tải có thể làm UPS chuyển bypass hoặc tắt.",
        "The load is above the UPS's capacity. Move equipment to another UPS; an overload can send it to \
         bypass or off.",
    ),
    (
        "ups_output_off",
        "Đầu ra UPS đã tắt: thiết bị UPS cấp điện không có điện. Đến phòng máy kiểm tra UPS ngay.",
        "The UPS output is off: what it powers has no power. Go to the room and check the UPS now.",
    ),
    (
        "feed_lost",
        "Một nguồn điện lưới mất điện. Kiểm tra aptomat và báo bên cung cấp điện.",
        "A power feed is down. Check its breaker and call the utility.",
    ),
    (
        "power_redundancy_degraded",
        "Trung tâm chỉ còn một phần nguồn điện: mất thêm một nguồn là mất điện. Khôi phục nguồn bị mất sớm nhất.",
        "The site runs on part of its feeds: one more loss is a power cut. Restore the lost feed first.",
    ),
    (
        "power_lost",
        "Trung tâm mất điện mọi nguồn; UPS và máy phát đang gánh tải. Kiểm tra máy phát, theo dõi thời gian lưu \
         điện, chuẩn bị tắt máy chủ.",
        "Every feed of the site is down; UPSes and the generator carry the load. Check the generator, watch \
         the runtime, get ready to shut servers down.",
    ),
    (
        "generator_not_running",
        "Mất điện mọi nguồn mà máy phát điện không chạy. Khởi động máy phát bằng tay; kiểm tra nhiên liệu và ATS.",
        "Every feed is down and the generator does not run. Start it by hand; check its fuel and the ATS.",
    ),
    ("generator_running", "Máy phát điện đang chạy. Theo dõi nhiên liệu.", "The generator is running. Watch its fuel."),
    (
        "ats_on_secondary",
        "ATS đang dùng nguồn dự phòng. Kiểm tra nguồn chính.",
        "The ATS is on its secondary source. Check the primary.",
    ),
    (
        "device_unreachable",
        "Thiết bị không trả lời SNMP/Modbus. Kiểm tra mạng và card quản lý của thiết bị.",
        "The device does not answer SNMP/Modbus. Check the network and its management card.",
    ),
    (
        "agent_silent",
        "Máy chủ không gửi dữ liệu. Kiểm tra máy chủ còn chạy không, mạng và dịch vụ dcwatch-agent.",
        "The host sends nothing. Check that it runs, its network and the dcwatch-agent service.",
    ),
    (
        "disk_full",
        "Ổ đĩa sắp đầy. Dọn tệp nhật ký và tệp tạm, hoặc mở rộng ổ đĩa.",
        "The filesystem is nearly full. Clear logs and temporary files, or grow it.",
    ),
    (
        "disk_full_forecast",
        "Với tốc độ tăng hiện nay ổ đĩa sẽ đầy trong vài ngày. Tìm thứ đang tăng và lên kế hoạch mở rộng.",
        "At its current growth the filesystem fills within days. Find what grows and plan more space.",
    ),
    (
        "agent_dropped_data",
        "Agent đã bỏ dữ liệu (hàng đợi đầy, quá cũ hoặc ổ đĩa lỗi). Kiểm tra kết nối tới collector và ổ đĩa của agent.",
        "The agent dropped data (queue full, too old, or disk failure). Check its link to the collector and its disk.",
    ),
    (
        "service_degraded",
        "Dịch vụ mất một trung tâm và chỉ còn chạy ở trung tâm khác. Khôi phục trung tâm bị mất.",
        "The service lost a site and runs at the others only. Restore the lost site.",
    ),
    (
        "service_outage",
        "Dịch vụ không còn đủ trung tâm để chạy. Khôi phục ngay một trung tâm.",
        "The service runs at too few sites. Restore a site now.",
    ),
    (
        "sink_down",
        "Nơi lưu dữ liệu (InfluxDB, VictoriaMetrics) không nhận dữ liệu; dữ liệu đang dồn trong hàng đợi trên đĩa. \
         Kiểm tra nơi lưu dữ liệu.",
        "A sink (InfluxDB, VictoriaMetrics) takes nothing; data waits in the spool. Check the sink.",
    ),
    (
        "spool_filling",
        "Hàng đợi trên đĩa của collector sắp đầy. Kiểm tra nơi lưu dữ liệu và dung lượng đĩa.",
        "The collector's spool is nearly full. Check the sinks and the disk.",
    ),
    (
        "spool_dropped_points",
        "Collector đã xoá dữ liệu chưa lưu để lấy chỗ. Kiểm tra nơi lưu dữ liệu; tăng spool.max_bytes nếu cần.",
        "The collector deleted data not yet stored to make room. Check the sinks; raise spool.max_bytes if needed.",
    ),
    (
        "site_down",
        "Cả trung tâm kia mất liên lạc: collector và mọi máy chủ ở đó đều im lặng (mất điện toàn bộ, cháy nổ, \
         hoặc đứt mọi đường truyền tới đó). Gọi người trực ở trung tâm đó; kiểm tra các dịch vụ đã chuyển sang \
         trung tâm này chưa. Cảnh báo máy chủ im lặng của trung tâm đó được gộp vào cảnh báo này.",
        "The whole other site is gone: its collector and every host there are silent (a total power loss, a \
         fire, or every link to it cut). Call whoever is on duty there; check that the services have moved to \
         this site. The site's silent-host alarms are folded into this one.",
    ),
    (
        "peer_unreachable",
        "Collector ở trung tâm kia không trả lời: mất đường truyền giữa hai trung tâm, hoặc trung tâm kia mất điện \
         hay collector ở đó đã dừng. Kiểm tra đường truyền và collector ở trung tâm kia; trong lúc đó collector này \
         tự gửi mọi thông báo.",
        "The other site's collector does not answer: the link between the sites is down, or the other site has \
         lost power or its collector has stopped. Check the link and the other collector; meanwhile this one sends \
         every notice itself.",
    ),
    (
        "notification_failing",
        "Không gửi được thông báo tới một nơi nhận. Kiểm tra máy chủ thư, bot Telegram hoặc webhook.",
        "Notices to a receiver fail. Check the mail server, the Telegram bot or the webhook.",
    ),
    (
        "backup_failed",
        "Lần sao lưu gần nhất thất bại. Đọc lý do trong nội dung và chạy lại tác vụ sao lưu.",
        "The last backup failed. Read the reason in the summary and run the job again.",
    ),
    (
        "backup_stale",
        "Bản sao lưu tốt gần nhất đã quá cũ so với RPO. Kiểm tra lịch sao lưu và chạy sao lưu ngay.",
        "The last good backup is older than its RPO. Check the schedule and run a backup now.",
    ),
    (
        "backup_shrunk",
        "Bản sao lưu nhỏ hơn hẳn bản trước. Kiểm tra dữ liệu nguồn có bị xoá không và bản sao lưu có đầy đủ không.",
        "The backup is much smaller than the one before. Check whether source data was deleted and the backup is whole.",
    ),
    (
        "backup_missing",
        "Không tìm thấy bản sao lưu nào. Kiểm tra cấu hình tác vụ trên agent và thư mục sao lưu.",
        "No backup is found. Check the job's configuration on its agent and the backup folder.",
    ),
    (
        "backup_not_replicated",
        "Bản sao lưu chưa được sao chép sang trung tâm kia. Kiểm tra tác vụ sao chép và đường truyền.",
        "The backup has not reached the other site. Check the copy job and the link.",
    ),
    (
        "report_failing",
        "Không gửi được báo cáo định kỳ. Kiểm tra máy chủ thư; collector sẽ thử lại.",
        "A scheduled report cannot be sent. Check the mail server; the collector tries again.",
    ),
    (
        "alarms_db_quarantined",
        "Cơ sở dữ liệu cảnh báo bị hỏng và đã được chuyển sang chỗ khác. Giữ tệp đã chuyển để kiểm tra; kiểm tra ổ đĩa.",
        "The alarm database was corrupt and was moved aside. Keep the moved file for inspection; check the disk.",
    ),
    (
        "series_cap_reached",
        "Một token gửi quá nhiều chuỗi số liệu; cảnh báo không thấy các chuỗi mới. Kiểm tra nguồn ghi dùng token đó.",
        "A token writes too many series; alarms do not see the new ones. Check the writer using that token.",
    ),
    (
        "alarm_cap_reached",
        "Một trung tâm có quá nhiều cảnh báo; các cảnh báo mới không được tạo. Tìm nguồn ghi gây ra.",
        "A site has too many alarms; new ones are not raised. Find the writer causing it.",
    ),
    (
        "watchdog",
        "Cảnh báo luôn bật dùng làm tín hiệu nhịp sống (watchdog): Alertmanager hoặc hệ thống giám sát bên ngoài \
         nhận được nó đều đặn chừng nào collector còn hoạt động. Không cần xử lý; khi nó ngừng đến, cần kiểm tra ngay \
         collector và đường gửi cảnh báo.",
        "The dead man's switch's always-firing alarm: Alertmanager or an outside system gets it regularly while the \
         collector runs. Nothing to do; when it stops arriving, check the collector and the way its alarms are sent \
         at once.",
    ),
    (
        "ingest_rate_limited",
        "Một token ghi nhanh hơn giới hạn và bị từ chối. Kiểm tra nguồn ghi, hoặc nâng ingest.rate_limit.",
        "A token writes faster than the limit and is refused. Check the writer, or raise ingest.rate_limit.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_alarm_has_a_description_in_both_languages() {
        for name in crate::alarm::builtin::BUILTIN_NAMES {
            assert!(description(Lang::Vi, name).is_some_and(|d| !d.is_empty()), "{name}");
            assert!(description(Lang::En, name).is_some_and(|d| !d.is_empty()), "{name}");
        }
        assert_eq!(description(Lang::En, "room_hot"), None);
    }

    #[test]
    fn a_ups_on_battery_summary_in_vietnamese_and_english() {
        let t = Texts::new(|l| ups_on_battery(l, "ups1", "hn", Some(87.0), Some(25.0)));
        assert_eq!(t.vi, "UPS ups1 tại trung tâm hn đang chạy bằng ắc quy (còn 87 %, 25 phút)");
        assert_eq!(t.en, "UPS ups1 at hn is on battery (87 % charge, 25 min runtime)");
    }

    #[test]
    fn numbers_in_vietnamese_summaries_use_a_decimal_comma_and_dot_grouping() {
        assert_eq!(
            disk_full(Lang::Vi, "/data", "db1", "hn", 93.5),
            "Ổ đĩa /data trên máy chủ db1 tại trung tâm hn đã đầy 93,5 %"
        );
        assert_eq!(disk_full(Lang::En, "/data", "db1", "hn", 93.5), "/data on db1 at hn is 93.5 % full");
        assert_eq!(
            agent_silent(Lang::Vi, "db1", "hn", 1234),
            "Máy chủ db1 tại trung tâm hn đã 1.234 giây không gửi dữ liệu"
        );
        assert_eq!(
            backup_stale(Lang::Vi, "pg", "db1", "hn", 30.0 * 3600.0, 86_400.0),
            "Sao lưu pg trên máy chủ db1 tại trung tâm hn: bản sao lưu tốt gần nhất đã cũ 30 giờ (RPO 24 giờ)"
        );
    }

    #[test]
    fn the_storm_summary_in_both_languages() {
        let sites: std::collections::BTreeSet<String> = ["hn".to_string()].into();
        let first = vec!["disk_full{host=a}".to_string(), "disk_full{host=b}".to_string()];
        assert_eq!(
            storm_summary(Lang::Vi, 5, 4, 1, &sites, 60, &first),
            "Thêm 5 thông báo cảnh báo tại trung tâm hn trong 1 phút (4 đang cảnh báo, 1 đã hết), không gửi riêng \
             từng thông báo; xem bảng điều khiển: disk_full{host=a}, disk_full{host=b}, … và 3 nữa"
        );
        assert_eq!(
            storm_summary(Lang::En, 5, 4, 1, &sites, 60, &first),
            "5 more alarm notices at site hn in 1 min (4 firing, 1 resolved), not sent one by one; see the \
             console: disk_full{host=a}, disk_full{host=b}, … 3 more"
        );
    }

    /// Review of issue 15: Vietnamese summaries carried the agents' English
    /// words (`ups`, `(off)`).
    #[test]
    fn device_kinds_and_ups_states_are_written_in_vietnamese() {
        assert_eq!(
            ups_output_off(Lang::Vi, "ups-a1", "hn", "off"),
            "UPS ups-a1 tại trung tâm hn: đầu ra đã tắt (trạng thái: tắt đầu ra); các thiết bị UPS cấp điện đang mất \
             điện"
        );
        assert_eq!(
            ups_output_off(Lang::En, "ups-a1", "hn", "fault"),
            "UPS ups-a1 at hn: output off (fault); what it powers has no power"
        );
        assert_eq!(
            device_unreachable(Lang::Vi, "generator", "gen1", "hn", "modbus"),
            "Thiết bị máy phát điện gen1 tại trung tâm hn không phản hồi (modbus)"
        );
        assert_eq!(
            device_unreachable(Lang::En, "pdu", "pdu-1", "hn", "snmp"),
            "PDU pdu-1 at hn does not answer (snmp)"
        );
        // Unknown words stay as written, without what would forge a line.
        assert_eq!(ups_status(Lang::Vi, "fault"), "lỗi");
        assert_eq!(ups_status(Lang::Vi, "onbattery"), "chạy bằng ắc quy");
        assert_eq!(ups_status(Lang::Vi, "eco\nmode"), "eco\u{FFFD}mode");
        assert_eq!(device_kind(Lang::Vi, "chiller"), "chiller");
    }
}
