//! The words of the console's reports page (`web/reports.rs`). Vietnamese
//! first. The report's own words are in `report.rs`.

use super::Lang;

pub struct ReportsText {
    /// The site filter's "any".
    pub all_sites: &'static str,
    pub no_trends: &'static str,
    pub no_data_yet: &'static str,
    /// Data kept since this day, already written.
    pub data_since: fn(&str) -> String,
    pub months: &'static str,
    pub weeks: &'static str,
    pub col_period: &'static str,
    pub col_days: &'static str,
    pub col_open: &'static str,
    /// A month: its number and year.
    pub month: fn(i8, i16) -> String,
    /// An ISO week: its number and year.
    pub week: fn(i8, i16) -> String,
    pub in_progress: &'static str,
    pub csv: &'static str,
    pub csv_note: &'static str,
    /// A period that is neither a month nor a week, as given.
    pub bad_period: fn(&str) -> String,
    /// A period without data: its label.
    pub no_data: fn(&str) -> String,
    pub read_failed: &'static str,
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub static VI: ReportsText = ReportsText {
    all_sites: "Tất cả các trung tâm",
    no_trends: "Collector chưa lưu dữ liệu theo giờ (mục trends: trong cấu hình), nên chưa có báo cáo nào.",
    no_data_yet: "Chưa có dữ liệu nào để làm báo cáo.",
    data_since: |d| format!("Có dữ liệu từ ngày {d}. Báo cáo được lập ngay khi mở, từ dữ liệu theo giờ."),
    months: "Báo cáo tháng",
    weeks: "Báo cáo tuần",
    col_period: "Kỳ",
    col_days: "Từ ngày – đến ngày",
    col_open: "Mở báo cáo",
    month: |m, y| format!("Tháng {m}/{y}"),
    week: |w, y| format!("Tuần {w}/{y}"),
    in_progress: "đang diễn ra",
    csv: "Tải CSV",
    csv_note: "Tệp CSV giống nhau ở cả hai ngôn ngữ: tên cột và con số được viết cho chương trình đọc (dấu chấm thập phân).",
    bad_period: |p| {
        format!("“{p}” không phải là một kỳ báo cáo: hãy dùng một tháng (2026-10) hoặc một tuần (2026-W43).")
    },
    no_data: |p| format!("Không có dữ liệu cho kỳ {p}."),
    read_failed: "Không đọc được dữ liệu theo giờ để lập báo cáo.",
};

pub static EN: ReportsText = ReportsText {
    all_sites: "All sites",
    no_trends: "The collector keeps no hourly trends (the trends: section of its configuration), so there is no report yet.",
    no_data_yet: "There is no data to report on yet.",
    data_since: |d| format!("Data since {d}. A report is made when it is opened, from the hourly trends."),
    months: "Monthly reports",
    weeks: "Weekly reports",
    col_period: "Period",
    col_days: "Days",
    col_open: "Open the report",
    month: |m, y| format!("{} {y}", MONTHS_EN[(m.clamp(1, 12) - 1) as usize]),
    week: |w, y| format!("Week {w}, {y}"),
    in_progress: "in progress",
    csv: "Download CSV",
    csv_note: "The CSV is the same in both languages: its columns and numbers are written for programs (a decimal point).",
    bad_period: |p| format!("“{p}” is not a report period: give a month (2026-10) or a week (2026-W43)."),
    no_data: |p| format!("There is no data for {p}."),
    read_failed: "The hourly trends cannot be read to make the report.",
};

impl Lang {
    /// The reports page's words.
    pub fn web_reports(self) -> &'static ReportsText {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}
