//! The words of the web console (`collector/src/web/`). Vietnamese first.
//! Phrases with a number or a name in them are functions, so each language
//! puts the words in its own order.

use super::Lang;

/// The console's words.
pub struct Text {
    /// `lang` of the pages.
    pub html_lang: &'static str,
    /// The nav, in its order: overview, alarms, hosts, devices, backups, reports, audit.
    pub nav: [&'static str; 7],
    pub nav_label: &'static str,
    /// `Đăng nhập: nam (operator)`.
    pub signed_in_as: fn(&str, &str) -> String,
    pub logout: &'static str,
    /// The switch to the other language, in that language.
    pub other_language: &'static str,
    pub skip_to_content: &'static str,

    pub login_title: &'static str,
    pub user_name: &'static str,
    pub password: &'static str,
    pub log_in: &'static str,
    pub wrong_login: &'static str,
    /// Too many failed logins: try again in about N minutes.
    pub rate_limited: fn(u64) -> String,
    /// Too many logins being checked at once (a flood): try again shortly.
    pub login_busy: &'static str,
    pub no_users: &'static str,
    pub session_ended: &'static str,
    pub logged_out: &'static str,

    pub forbidden_title: &'static str,
    /// A form without its CSRF token (an old page, or a forged request).
    pub csrf_refused: &'static str,
    /// The role the action needs: `operator`.
    pub role_refused: fn(&str) -> String,
    pub not_found: &'static str,
    pub back: &'static str,

    pub overview: &'static str,
    pub wall_title: &'static str,
    pub wall_refused: &'static str,
    pub sites: &'static str,
    pub critical: &'static str,
    pub warning: &'static str,
    pub info: &'static str,
    pub firing_alarms: &'static str,
    /// Alarms whose labels name no site.
    pub no_site: &'static str,
    pub alarms_off: &'static str,
    pub all_quiet: &'static str,
    /// `Cập nhật lúc 22/11/2026 14:05`.
    pub updated_at: fn(&str) -> String,
    /// The live updates failed: what is shown may be old.
    pub live_lost: &'static str,

    pub alarm_unknown: &'static str,

    // The power chain (overview).
    pub power_chain: &'static str,
    /// `Lộ A` / `Feed A`.
    pub feed: fn(&str) -> String,
    pub feed_live: &'static str,
    pub feed_lost: &'static str,
    pub no_data: &'static str,
    pub ats: &'static str,
    /// The ATS is on source `B`.
    pub ats_on: fn(&str) -> String,
    pub generator: &'static str,
    pub gen_running: &'static str,
    pub gen_stopped: &'static str,
    /// Fuel, as a percentage already written.
    pub fuel: fn(&str) -> String,
    /// `UPS ups-1`.
    pub ups_named: fn(&str) -> String,
    pub ups_on_mains: &'static str,
    pub ups_on_battery: &'static str,
    pub ups_unreachable: &'static str,
    /// Battery charge, as a percentage already written.
    pub charge: fn(&str) -> String,
    /// Runtime left, in whole minutes.
    pub runtime: fn(u64) -> String,
    /// Load, as a percentage already written.
    pub load: fn(&str) -> String,
    pub hosts_powered: &'static str,
    pub host_up: &'static str,
    pub host_silent: &'static str,
    /// Every configured feed live: `A, B`.
    pub redundancy_full: fn(&str) -> String,
    /// Feeds lost, feeds still live.
    pub redundancy_degraded: fn(&str, &str) -> String,
    pub redundancy_lost_generator: &'static str,
    pub redundancy_lost_battery: &'static str,
    /// Every feed lost at a site without a generator reported.
    pub redundancy_lost_no_generator: &'static str,
    /// One feed only, live: its name.
    pub redundancy_single: fn(&str) -> String,
    pub redundancy_unknown: &'static str,
    /// Agents silent of all.
    pub agents_silent: fn(usize, usize) -> String,
    pub devices_down: fn(usize, &str) -> String,
    pub backups_late: fn(usize) -> String,

    // The alarms page.
    pub state_firing: &'static str,
    pub state_pending: &'static str,
    pub state_acked: &'static str,
    pub state_silenced: &'static str,
    pub state_inhibited: &'static str,
    pub filter: &'static str,
    pub filter_site: &'static str,
    pub filter_severity: &'static str,
    pub filter_state: &'static str,
    pub filter_text: &'static str,
    pub any: &'static str,
    pub col_alarm: &'static str,
    pub col_site: &'static str,
    pub col_since: &'static str,
    pub col_state: &'static str,
    pub col_summary: &'static str,
    pub no_alarms_match: &'static str,
    pub comment: &'static str,
    pub ack_selected: &'static str,
    pub ack: &'static str,
    /// `Đã xác nhận bởi nam lúc …: comment`.
    pub acked_by: fn(&str, &str) -> String,
    /// How many alarms one bulk acknowledgement acknowledged.
    pub acked_n: fn(usize) -> String,
    pub nothing_selected: &'static str,
    pub silence: &'static str,
    pub silence_for: &'static str,
    pub reason: &'static str,
    pub hours: &'static str,
    pub matchers: &'static str,
    /// Why a silence was refused: see [`silence_refused`].
    pub silence_no_matcher: &'static str,
    pub silence_too_many_matchers: fn(usize, usize) -> String,
    pub silence_matcher_too_long: fn(&str, usize, usize) -> String,
    pub silence_not_a_regex: fn(&str, &str, &str) -> String,
    pub silence_matches_every_alarm: &'static str,
    pub silence_ends_before_start: &'static str,
    pub silence_already_ended: &'static str,
    pub silence_starts_too_late: &'static str,
    /// Hours at most, hours asked.
    pub silence_too_long: fn(&str, &str) -> String,
    pub silence_too_many_active: fn(usize) -> String,
    /// The silence form's matchers: line N is not `label=value`.
    pub matchers_line: fn(usize) -> String,
    pub reason_missing: &'static str,
    pub hours_invalid: &'static str,
    /// A field's text is too long: field, characters, at most.
    pub text_too_long: fn(&str, usize, usize) -> String,
    pub silences: &'static str,
    pub no_silences: &'static str,
    /// A silence: who, until when, why.
    pub silence_line: fn(&str, &str, &str) -> String,
    pub end_silence: &'static str,
    pub silenced_done: &'static str,
    pub silence_ended: &'static str,
    pub timeline: &'static str,
    pub inhibited_by: &'static str,
    pub inhibits: &'static str,
    pub history: &'static str,
    pub history_search: &'static str,
    pub col_when: &'static str,
    pub col_event: &'static str,
    pub col_detail: &'static str,
    pub search: &'static str,
    pub labels: &'static str,
    pub value: &'static str,
}

pub static VI: Text = Text {
    html_lang: "vi",
    nav: ["Tổng quan", "Cảnh báo", "Máy chủ", "Thiết bị", "Sao lưu", "Báo cáo", "Nhật ký"],
    nav_label: "Trang",
    signed_in_as: |name, role| format!("Đăng nhập: {name} ({role})"),
    logout: "Đăng xuất",
    other_language: "English",
    skip_to_content: "Đến nội dung",

    login_title: "Đăng nhập",
    user_name: "Tên đăng nhập",
    password: "Mật khẩu",
    log_in: "Đăng nhập",
    wrong_login: "Sai tên đăng nhập hoặc mật khẩu.",
    rate_limited: |m| format!("Đăng nhập sai quá nhiều lần. Hãy thử lại sau khoảng {m} phút."),
    login_busy: "Máy chủ đang bận kiểm tra các lượt đăng nhập khác. Hãy thử lại sau ít phút.",
    no_users: "Chưa có người dùng nào. Trên máy collector, hãy tạo một người dùng: dcwatch-collector user add TÊN --role admin",
    session_ended: "Phiên làm việc đã hết hạn. Hãy đăng nhập lại.",
    logged_out: "Đã đăng xuất.",

    forbidden_title: "Không được phép",
    csrf_refused: "Biểu mẫu thiếu mã bảo vệ hoặc mã đã cũ. Hãy tải lại trang rồi thử lại.",
    role_refused: |role| format!("Thao tác này cần vai trò {role}."),
    not_found: "Không tìm thấy trang.",
    back: "Quay lại",

    overview: "Tổng quan",
    wall_title: "Màn hình giám sát",
    wall_refused: "Địa chỉ này không được mở màn hình giám sát.",
    sites: "Các trung tâm",
    critical: "Nghiêm trọng",
    warning: "Cảnh báo",
    info: "Thông tin",
    firing_alarms: "Cảnh báo đang bật",
    no_site: "(không thuộc trung tâm nào)",
    alarms_off: "Chưa cấu hình cảnh báo (alarms:).",
    all_quiet: "Không có cảnh báo nào đang bật.",
    updated_at: |t| format!("Cập nhật lúc {t}"),
    live_lost: "Mất kết nối với máy chủ: số liệu trên trang có thể đã cũ. Đang thử kết nối lại…",

    alarm_unknown: "Không có cảnh báo này (có thể đã hết).",

    power_chain: "Chuỗi cấp điện",
    feed: |f| format!("Lộ {f}"),
    feed_live: "Có điện",
    feed_lost: "Mất điện",
    no_data: "Chưa có số liệu",
    ats: "Bộ chuyển nguồn (ATS)",
    ats_on: |s| format!("Đang dùng nguồn {s}"),
    generator: "Máy phát điện",
    gen_running: "Đang chạy",
    gen_stopped: "Đang nghỉ",
    fuel: |p| format!("Nhiên liệu {p}"),
    ups_named: |d| format!("UPS {d}"),
    ups_on_mains: "Chạy điện lưới",
    ups_on_battery: "Đang chạy pin",
    ups_unreachable: "Không kết nối được",
    charge: |p| format!("Pin {p}"),
    runtime: |m| format!("Còn {m} phút"),
    load: |p| format!("Tải {p}"),
    hosts_powered: "Máy chủ được cấp điện",
    host_up: "Hoạt động",
    host_silent: "Mất liên lạc",
    redundancy_full: |f| format!("Đủ dự phòng: lộ {f} đều có điện."),
    redundancy_degraded: |lost, live| format!("Mất lộ {lost}: chỉ còn chạy trên lộ {live}."),
    redundancy_lost_generator: "Mất toàn bộ điện lưới: đang chạy máy phát.",
    redundancy_lost_battery: "Mất toàn bộ điện lưới, máy phát không chạy: đang chạy bằng pin UPS.",
    redundancy_lost_no_generator: "Mất toàn bộ điện lưới: đang chạy bằng pin UPS.",
    redundancy_single: |f| format!("Chỉ có một lộ điện ({f}): không có dự phòng."),
    redundancy_unknown: "Chưa có số liệu về nguồn điện.",
    agents_silent: |n, all| format!("Agent mất liên lạc: {n}/{all}"),
    devices_down: |n, names| format!("Thiết bị không kết nối được: {n} ({names})"),
    backups_late: |n| format!("Bản sao lưu trễ hoặc lỗi: {n}"),

    state_firing: "Đang bật",
    state_pending: "Chờ xác định",
    state_acked: "Đã xác nhận",
    state_silenced: "Đang tạm tắt",
    state_inhibited: "Bị che bởi cảnh báo khác",
    filter: "Lọc",
    filter_site: "Trung tâm",
    filter_severity: "Mức độ",
    filter_state: "Trạng thái",
    filter_text: "Tên hoặc nội dung",
    any: "Tất cả",
    col_alarm: "Cảnh báo",
    col_site: "Trung tâm",
    col_since: "Từ lúc",
    col_state: "Trạng thái",
    col_summary: "Nội dung",
    no_alarms_match: "Không có cảnh báo nào khớp bộ lọc.",
    comment: "Ghi chú",
    ack_selected: "Xác nhận các cảnh báo đã chọn",
    ack: "Xác nhận",
    acked_by: |who, when| format!("Đã xác nhận bởi {who} lúc {when}"),
    acked_n: |n| format!("Đã xác nhận {n} cảnh báo."),
    nothing_selected: "Chưa chọn cảnh báo nào.",
    silence: "Tạm tắt",
    silence_for: "Tạm tắt trong",
    reason: "Lý do",
    hours: "giờ",
    matchers: "Điều kiện khớp",
    silence_no_matcher: "Tạm tắt cần ít nhất một điều kiện khớp (ví dụ site, alertname, device).",
    silence_too_many_matchers: |max, has| {
        format!("Tạm tắt có tối đa {max} điều kiện khớp (alarms.silences.max_matchers); ở đây có {has}.")
    },
    silence_matcher_too_long: |key, chars, max| {
        format!("Điều kiện `{key}` dài {chars} ký tự; tối đa {max} (alarms.silences.max_matcher_chars).")
    },
    silence_not_a_regex: |key, value, why| format!("Điều kiện `{key}: {value}` không phải biểu thức chính quy: {why}"),
    silence_matches_every_alarm: "Các điều kiện này khớp với mọi cảnh báo, nên sẽ tắt tất cả. \
        Hãy nêu ít nhất một giá trị nhãn (ví dụ site=hn-dc1).",
    silence_ends_before_start: "Thời điểm kết thúc phải sau thời điểm bắt đầu.",
    silence_already_ended: "Khoảng thời gian tạm tắt này đã qua.",
    silence_starts_too_late: "Chỉ đặt được tạm tắt bắt đầu trong vòng 366 ngày tới.",
    silence_too_long: |max, asked| {
        format!("Tạm tắt kéo dài tối đa {max} giờ (alarms.silences.max_duration_secs); ở đây là {asked} giờ.")
    },
    silence_too_many_active: |n| {
        format!("Đang có {n} tạm tắt hiệu lực hoặc đã lên lịch (alarms.silences.max_active). Hãy kết thúc bớt trước.")
    },
    matchers_line: |n| format!("Dòng {n}: mỗi dòng một điều kiện, dạng nhãn=giá trị."),
    reason_missing: "Hãy ghi lý do tạm tắt.",
    hours_invalid: "Hãy chọn thời gian tạm tắt trong danh sách.",
    text_too_long: |field, chars, max| format!("{field} dài {chars} ký tự; tối đa {max}."),
    silences: "Các lệnh tạm tắt",
    no_silences: "Không có lệnh tạm tắt nào đang hiệu lực.",
    silence_line: |who, until, why| format!("{who}, đến {until}: {why}"),
    end_silence: "Kết thúc tạm tắt",
    silenced_done: "Đã tạm tắt cảnh báo.",
    silence_ended: "Đã kết thúc lệnh tạm tắt.",
    timeline: "Diễn biến",
    inhibited_by: "Bị che bởi",
    inhibits: "Che các cảnh báo",
    history: "Lịch sử",
    history_search: "Tìm trong lịch sử",
    col_when: "Thời điểm",
    col_event: "Sự kiện",
    col_detail: "Chi tiết",
    search: "Tìm",
    labels: "Nhãn",
    value: "Giá trị",
};

pub static EN: Text = Text {
    html_lang: "en",
    nav: ["Overview", "Alarms", "Hosts", "Devices", "Backups", "Reports", "Audit"],
    nav_label: "Pages",
    signed_in_as: |name, role| format!("Signed in: {name} ({role})"),
    logout: "Log out",
    other_language: "Tiếng Việt",
    skip_to_content: "Skip to content",

    login_title: "Log in",
    user_name: "User name",
    password: "Password",
    log_in: "Log in",
    wrong_login: "Wrong user name or password.",
    rate_limited: |m| {
        format!("Too many failed logins. Try again in about {m} minute{}.", if m == 1 { "" } else { "s" })
    },
    login_busy: "The server is busy checking other logins. Try again in a minute.",
    no_users: "There is no user yet. On the collector's machine, make one: dcwatch-collector user add NAME --role admin",
    session_ended: "Your session has ended. Please log in again.",
    logged_out: "Logged out.",

    forbidden_title: "Not allowed",
    csrf_refused: "The form has no valid protection token, or an old one. Reload the page and try again.",
    role_refused: |role| format!("This needs the role {role}."),
    not_found: "No such page.",
    back: "Back",

    overview: "Overview",
    wall_title: "Wall display",
    wall_refused: "This address may not open the wall display.",
    sites: "Sites",
    critical: "Critical",
    warning: "Warning",
    info: "Info",
    firing_alarms: "Alarms firing",
    no_site: "(no site)",
    alarms_off: "Alarms are not configured (alarms:).",
    all_quiet: "No alarm is firing.",
    updated_at: |t| format!("Updated {t}"),
    live_lost: "Lost the connection to the server: what this page shows may be out of date. Trying again…",

    alarm_unknown: "No such alarm (it may have cleared).",

    power_chain: "Power chain",
    feed: |f| format!("Feed {f}"),
    feed_live: "Live",
    feed_lost: "Lost",
    no_data: "No data",
    ats: "Transfer switch (ATS)",
    ats_on: |s| format!("On source {s}"),
    generator: "Generator",
    gen_running: "Running",
    gen_stopped: "Stopped",
    fuel: |p| format!("Fuel {p}"),
    ups_named: |d| format!("UPS {d}"),
    ups_on_mains: "On mains",
    ups_on_battery: "On battery",
    ups_unreachable: "Unreachable",
    charge: |p| format!("Battery {p}"),
    runtime: |m| format!("{m} min left"),
    load: |p| format!("Load {p}"),
    hosts_powered: "Hosts powered",
    host_up: "Up",
    host_silent: "Silent",
    redundancy_full: |f| format!("Fully redundant: feeds {f} live."),
    redundancy_degraded: |lost, live| format!("Feed {lost} lost: running on feed {live} only."),
    redundancy_lost_generator: "All feeds lost: running on the generator.",
    redundancy_lost_battery: "All feeds lost and the generator is not running: on UPS batteries.",
    redundancy_lost_no_generator: "All feeds lost: on UPS batteries.",
    redundancy_single: |f| format!("One feed only ({f}): no redundancy."),
    redundancy_unknown: "No power data yet.",
    agents_silent: |n, all| format!("Agents silent: {n}/{all}"),
    devices_down: |n, names| format!("Devices unreachable: {n} ({names})"),
    backups_late: |n| format!("Backups late or failed: {n}"),

    state_firing: "Firing",
    state_pending: "Pending",
    state_acked: "Acknowledged",
    state_silenced: "Silenced",
    state_inhibited: "Inhibited by another alarm",
    filter: "Filter",
    filter_site: "Site",
    filter_severity: "Severity",
    filter_state: "State",
    filter_text: "Name or text",
    any: "Any",
    col_alarm: "Alarm",
    col_site: "Site",
    col_since: "Since",
    col_state: "State",
    col_summary: "Summary",
    no_alarms_match: "No alarm matches the filter.",
    comment: "Comment",
    ack_selected: "Acknowledge the selected alarms",
    ack: "Acknowledge",
    acked_by: |who, when| format!("Acknowledged by {who} at {when}"),
    acked_n: |n| format!("{n} alarm{} acknowledged.", if n == 1 { "" } else { "s" }),
    nothing_selected: "No alarm was selected.",
    silence: "Silence",
    silence_for: "Silence for",
    reason: "Reason",
    hours: "hours",
    matchers: "Matchers",
    silence_no_matcher: "A silence needs at least one matcher (e.g. site, alertname, device).",
    silence_too_many_matchers: |max, has| {
        format!("A silence may have at most {max} matchers (alarms.silences.max_matchers); this one has {has}.")
    },
    silence_matcher_too_long: |key, chars, max| {
        format!("Matcher `{key}` is {chars} characters long; at most {max} (alarms.silences.max_matcher_chars).")
    },
    silence_not_a_regex: |key, value, why| format!("Matcher `{key}: {value}` is not a regular expression: {why}"),
    silence_matches_every_alarm: "These matchers match every alarm, so they would silence them all. \
        Name at least one label value (e.g. site=hn-dc1).",
    silence_ends_before_start: "A silence must end after it starts.",
    silence_already_ended: "This silence would already have ended.",
    silence_starts_too_late: "A silence may start at most 366 days from now.",
    silence_too_long: |max, asked| {
        format!("A silence may last at most {max} hours (alarms.silences.max_duration_secs); this one lasts {asked}.")
    },
    silence_too_many_active: |n| {
        format!("There are already {n} silences active or planned (alarms.silences.max_active). End some first.")
    },
    matchers_line: |n| format!("Line {n}: one matcher per line, as label=value."),
    reason_missing: "Give a reason for the silence.",
    hours_invalid: "Choose how long to silence for from the list.",
    text_too_long: |field, chars, max| format!("{field} is {chars} characters long; at most {max}."),
    silences: "Silences",
    no_silences: "No silence is in force.",
    silence_line: |who, until, why| format!("{who}, until {until}: {why}"),
    end_silence: "End silence",
    silenced_done: "Alarm silenced.",
    silence_ended: "Silence ended.",
    timeline: "Timeline",
    inhibited_by: "Inhibited by",
    inhibits: "Inhibits",
    history: "History",
    history_search: "Search the history",
    col_when: "When",
    col_event: "Event",
    col_detail: "Detail",
    search: "Search",
    labels: "Labels",
    value: "Value",
};

/// Why a silence was refused, in the reader's words.
pub fn silence_refused(lang: Lang, r: &crate::alarm::silence::Refused) -> String {
    use crate::alarm::silence::Refused as R;
    let t = lang.web();
    // Whole hours as they are, others to a tenth (5400 s: 1,5 giờ).
    let hours = |s: u64| lang.num(s as f64 / 3600.0, if s.is_multiple_of(3600) { 0 } else { 1 });
    match r {
        R::NoMatcher => t.silence_no_matcher.to_string(),
        R::TooManyMatchers { max, has } => (t.silence_too_many_matchers)(*max, *has),
        R::MatcherTooLong { key, chars, max } => (t.silence_matcher_too_long)(key, *chars, *max),
        R::NotARegex(e) => (t.silence_not_a_regex)(&e.key, &e.value, &e.why),
        R::MatchesEmpty | R::MatchesAnything => t.silence_matches_every_alarm.to_string(),
        R::EndsBeforeStart => t.silence_ends_before_start.to_string(),
        R::AlreadyEnded => t.silence_already_ended.to_string(),
        R::StartsTooLate => t.silence_starts_too_late.to_string(),
        R::TooLong { max_secs, secs } => {
            (t.silence_too_long)(&hours(*max_secs), &hours(u64::try_from(*secs).unwrap_or(0)))
        }
        R::TooManyActive { active } => (t.silence_too_many_active)(*active),
    }
}

impl Lang {
    /// The web console's words.
    pub fn web(self) -> &'static Text {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}
