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
    /// A page of a later version (the nav already names it).
    pub coming: &'static str,

    /// An alarm acknowledged from the console.
    pub acked: &'static str,
    pub alarm_unknown: &'static str,
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
    coming: "Trang này sẽ có trong phiên bản sau.",

    acked: "Đã xác nhận cảnh báo.",
    alarm_unknown: "Không có cảnh báo này (có thể đã hết).",
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
    coming: "This page comes in a later version.",

    acked: "Alarm acknowledged.",
    alarm_unknown: "No such alarm (it may have cleared).",
};

impl Lang {
    /// The web console's words.
    pub fn web(self) -> &'static Text {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}
