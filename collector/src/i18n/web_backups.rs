//! The words of the console's backups page (`web/backups.rs`). Vietnamese first.

use super::Lang;

pub struct BackupsText {
    pub col_job: &'static str,
    pub col_host: &'static str,
    pub col_tool: &'static str,
    pub col_state: &'static str,
    pub col_last: &'static str,
    pub col_age: &'static str,
    pub col_size: &'static str,
    pub col_copies: &'static str,
    pub col_mirror: &'static str,
    /// An age against the RPO, both already written: `26 giờ / RPO 24 giờ`.
    pub age_rpo: fn(&str, &str) -> String,
    pub ok: &'static str,
    pub failed: &'static str,
    pub running: &'static str,
    pub missing: &'static str,
    pub late: &'static str,
    pub shrunk: &'static str,
    /// Expected (`backups.expected`) and never reported.
    pub never_seen: &'static str,
    pub no_success: &'static str,
    pub folder: &'static str,
    pub status_file: &'static str,
    /// Backups kept.
    pub copies: fn(u64) -> String,
    pub no_mirror: &'static str,
    pub mirror_current: &'static str,
    pub mirror_pending: &'static str,
    pub mirror_late: &'static str,
    pub mirror_not_reported: &'static str,
    pub mirror_no_copy: &'static str,
    /// The mirror job of a pair: job, host, site.
    pub mirror_job: fn(&str, &str, &str) -> String,
    /// The mirror's newest copy, its time already written.
    pub mirror_newest: fn(&str) -> String,
    pub none: &'static str,
    /// Late of all shown.
    pub late_of: fn(usize, usize) -> String,
}

pub static VI: BackupsText = BackupsText {
    col_job: "Tác vụ",
    col_host: "Máy chủ",
    col_tool: "Công cụ",
    col_state: "Trạng thái",
    col_last: "Bản tốt gần nhất",
    col_age: "Độ cũ / RPO",
    col_size: "Dung lượng (thay đổi)",
    col_copies: "Số bản lưu giữ",
    col_mirror: "Bản sao ở nơi dự phòng",
    age_rpo: |age, rpo| format!("{age} / RPO {rpo}"),
    ok: "Tốt",
    failed: "Lỗi",
    running: "Đang chạy",
    missing: "Không tìm thấy bản sao lưu",
    late: "Trễ hạn",
    shrunk: "Nhỏ bất thường",
    never_seen: "Chưa từng thấy",
    no_success: "Chưa có bản tốt nào",
    folder: "thư mục",
    status_file: "tệp trạng thái",
    copies: |n| format!("{n} bản"),
    no_mirror: "Không có",
    mirror_current: "Đã có bản mới nhất",
    mirror_pending: "Đang chờ sao chép",
    mirror_late: "Chưa sao chép kịp",
    mirror_not_reported: "Nơi dự phòng chưa báo về",
    mirror_no_copy: "Ở đó chưa có bản nào",
    mirror_job: |job, host, site| format!("{job} trên {host} ({site})"),
    mirror_newest: |t| format!("bản mới nhất: {t}"),
    none: "Chưa có tác vụ sao lưu nào được báo về hay được khai báo (backups.expected).",
    late_of: |n, all| format!("Trễ hạn: {n}/{all} tác vụ"),
};

pub static EN: BackupsText = BackupsText {
    col_job: "Job",
    col_host: "Host",
    col_tool: "Tool",
    col_state: "State",
    col_last: "Last good backup",
    col_age: "Age / RPO",
    col_size: "Size (change)",
    col_copies: "Copies kept",
    col_mirror: "Copy at the second site",
    age_rpo: |age, rpo| format!("{age} / RPO {rpo}"),
    ok: "OK",
    failed: "Failed",
    running: "Running",
    missing: "No backup found",
    late: "Late",
    shrunk: "Unusually small",
    never_seen: "Never seen",
    no_success: "No good backup yet",
    folder: "folder",
    status_file: "status file",
    copies: |n| format!("{n} cop{}", if n == 1 { "y" } else { "ies" }),
    no_mirror: "None",
    mirror_current: "Up to date",
    mirror_pending: "Copy pending",
    mirror_late: "Not replicated in time",
    mirror_not_reported: "The second site has not reported",
    mirror_no_copy: "No copy there yet",
    mirror_job: |job, host, site| format!("{job} on {host} ({site})"),
    mirror_newest: |t| format!("newest: {t}"),
    none: "No backup job has been reported or configured (backups.expected).",
    late_of: |n, all| format!("Late: {n} of {all} jobs"),
};

impl Lang {
    /// The backups page's words.
    pub fn web_backups(self) -> &'static BackupsText {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_written_in_decimal_units_the_languages_way() {
        assert_eq!(Lang::Vi.size(1_500_000_000.0), "1,5 GB");
        assert_eq!(Lang::En.size(1_500_000_000.0), "1.5 GB");
        assert_eq!(Lang::Vi.size(999.0), "999 B");
        assert_eq!(Lang::Vi.size(999_960.0), "1,0 MB");
        assert_eq!(Lang::En.size(2_345_600_000_000.0), "2.3 TB");
        assert_eq!(Lang::Vi.size(12_300.0), "12,3 KB");
    }
}
