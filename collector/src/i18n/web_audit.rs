//! The words of the console's audit page (`web/audit.rs`). Vietnamese first.

use super::Lang;

pub struct AuditText {
    pub no_audit: &'static str,
    pub actor: &'static str,
    pub action: &'static str,
    pub text: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub refused_only: &'static str,
    pub col_when: &'static str,
    pub col_actor: &'static str,
    pub col_role: &'static str,
    pub col_source: &'static str,
    /// A record made at the peered collector `{0}` (`peering:`).
    pub at_peer: fn(&str) -> String,
    pub col_action: &'static str,
    pub col_target: &'static str,
    pub col_comment: &'static str,
    pub col_outcome: &'static str,
    pub ok: &'static str,
    pub refused: &'static str,
    pub none: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    /// A date the filter cannot read, as given.
    pub bad_date: fn(&str) -> String,
    pub read_failed: &'static str,
}

pub static VI: AuditText = AuditText {
    no_audit: "Collector này không mở nhật ký thao tác (audit.db).",
    actor: "Người thực hiện",
    action: "Thao tác",
    text: "Có chứa",
    from: "Từ ngày",
    to: "Đến ngày",
    refused_only: "Chỉ các lần bị từ chối",
    col_when: "Thời điểm",
    col_actor: "Người thực hiện",
    col_role: "Vai trò",
    col_source: "Từ địa chỉ",
    at_peer: |peer| format!("tại collector {peer}"),
    col_action: "Thao tác",
    col_target: "Đối tượng",
    col_comment: "Ghi chú",
    col_outcome: "Kết quả",
    ok: "Đã thực hiện",
    refused: "Bị từ chối",
    none: "Không có bản ghi nào khớp bộ lọc.",
    older: "Cũ hơn →",
    newest: "← Mới nhất",
    bad_date: |d| format!("Không hiểu ngày “{d}”: hãy viết năm-tháng-ngày, ví dụ 2026-11-22."),
    read_failed: "Không đọc được nhật ký thao tác.",
};

pub static EN: AuditText = AuditText {
    no_audit: "This collector has no audit log open (audit.db).",
    actor: "Who",
    action: "Action",
    text: "Containing",
    from: "From",
    to: "To",
    refused_only: "Refused only",
    col_when: "When",
    col_actor: "Who",
    col_role: "Role",
    col_source: "From address",
    at_peer: |peer| format!("at collector {peer}"),
    col_action: "Action",
    col_target: "Target",
    col_comment: "Comment",
    col_outcome: "Outcome",
    ok: "Done",
    refused: "Refused",
    none: "No record matches the filter.",
    older: "Older →",
    newest: "← Newest",
    bad_date: |d| format!("“{d}” is not a date: write year-month-day, e.g. 2026-11-22."),
    read_failed: "The audit log cannot be read.",
};

impl Lang {
    /// The audit page's words.
    pub fn web_audit(self) -> &'static AuditText {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}
