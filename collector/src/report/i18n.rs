//! Every word of the report, in one place per language, and how each
//! language writes numbers and dates (Vietnamese: `1.234,5` and
//! `22/11/2026`; English: `1,234.5` and `22 Nov 2026`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Result<Lang, String> {
        match s {
            "vi" => Ok(Lang::Vi),
            "en" => Ok(Lang::En),
            _ => Err(format!("`{s}` is not a report language: vi or en")),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn t(self) -> &'static Text {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }

    /// A number with `decimals` places, grouped by thousands.
    pub fn num(self, x: f64, decimals: usize) -> String {
        let (group, point) = match self {
            Lang::Vi => ('.', ','),
            Lang::En => (',', '.'),
        };
        let s = format!("{:.*}", decimals, x.abs());
        let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
        let mut out = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i).is_multiple_of(3) {
                out.push(group);
            }
            out.push(c);
        }
        if !frac.is_empty() {
            out.push(point);
            out.push_str(frac);
        }
        if x < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
            out.insert(0, '-');
        }
        out
    }

    /// `2026-11-22` written the language's way.
    pub fn date(self, iso: &str) -> String {
        let Ok(d) = iso.parse::<jiff::civil::Date>() else { return iso.to_string() };
        match self {
            Lang::Vi => d.strftime("%d/%m/%Y").to_string(),
            Lang::En => d.strftime("%-d %b %Y").to_string(),
        }
    }

    /// `2026-11-22 14:05` written the language's way.
    pub fn datetime(self, iso: &str) -> String {
        match iso.split_once(' ') {
            Some((d, t)) => format!("{} {t}", self.date(d)),
            None => self.date(iso),
        }
    }

    /// Bytes in binary units.
    pub fn bytes(self, b: f64) -> String {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut x = b.abs();
        let mut u = 0;
        while x >= 1024.0 && u + 1 < UNITS.len() {
            x /= 1024.0;
            u += 1;
        }
        let sign = if b < 0.0 { "-" } else { "" };
        format!("{sign}{} {}", self.num(x, if u == 0 { 0 } else { 1 }), UNITS[u])
    }
}

/// The report's words.
pub struct Text {
    pub title: &'static str,
    pub site: &'static str,
    pub all_sites: &'static str,
    pub period: &'static str,
    pub partial: &'static str,
    pub generated: &'static str,
    pub summary: &'static str,
    pub hosts: &'static str,
    pub host_availability: &'static str,
    pub power_availability: &'static str,
    pub minutes_on_battery: &'static str,
    pub feed_outages: &'static str,
    pub incidents: &'static str,
    pub backup_success: &'static str,
    pub disks_full_60: &'static str,
    pub availability: &'static str,
    pub gap_hours: &'static str,
    pub power_lost_min: &'static str,
    pub redundancy_degraded_min: &'static str,
    pub service: &'static str,
    pub outage_min: &'static str,
    pub degraded_min: &'static str,
    pub incident_list: &'static str,
    pub mttr: &'static str,
    pub start: &'static str,
    pub end: &'static str,
    pub ongoing: &'static str,
    pub minutes: &'static str,
    pub alarm: &'static str,
    pub subject: &'static str,
    pub power: &'static str,
    pub ups: &'static str,
    pub load_peak: &'static str,
    pub load_p95: &'static str,
    pub min_charge: &'static str,
    pub min_runtime: &'static str,
    pub replace_battery: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub feed: &'static str,
    pub outages: &'static str,
    pub down_min: &'static str,
    pub generator: &'static str,
    pub run_minutes: &'static str,
    pub runs: &'static str,
    pub min_fuel: &'static str,
    pub capacity: &'static str,
    pub host: &'static str,
    pub cpu_p95: &'static str,
    pub mem_p95: &'static str,
    pub net_p95: &'static str,
    pub disk: &'static str,
    pub used: &'static str,
    pub size: &'static str,
    pub growth_month: &'static str,
    pub full_on: &'static str,
    pub days_left: &'static str,
    pub confidence: &'static str,
    pub conf_high: &'static str,
    pub conf_medium: &'static str,
    pub conf_low: &'static str,
    pub act_first: &'static str,
    pub act_disk: &'static str,
    pub act_cpu: &'static str,
    pub act_memory: &'static str,
    pub nothing_urgent: &'static str,
    pub backups: &'static str,
    pub job: &'static str,
    pub success_days: &'static str,
    pub success_rate: &'static str,
    pub missed_days: &'static str,
    pub largest_shrink: &'static str,
    pub no_data: &'static str,
    pub no_alarm_history: &'static str,
    pub chart_battery: &'static str,
    pub chart_cpu: &'static str,
    pub chart_disk: &'static str,
    pub gap_note: &'static str,
    pub confidence_note: &'static str,
    pub none: &'static str,
    pub see_attachment: &'static str,
}

pub static EN: Text = Text {
    title: "Capacity and availability report",
    site: "Site",
    all_sites: "all sites",
    period: "Period",
    partial: "the period is not over: figures up to the time of this report",
    generated: "Generated",
    summary: "Summary",
    hosts: "Servers",
    host_availability: "Server availability",
    power_availability: "Power availability",
    minutes_on_battery: "Minutes on battery",
    feed_outages: "Feed outages",
    incidents: "Incidents",
    backup_success: "Backup success",
    disks_full_60: "Disks full within 60 days",
    availability: "Availability",
    gap_hours: "Hours without data",
    power_lost_min: "Power lost (min)",
    redundancy_degraded_min: "Redundancy degraded (min)",
    service: "Service",
    outage_min: "Outage (min)",
    degraded_min: "One site only (min)",
    incident_list: "Incidents",
    mttr: "Mean time to repair",
    start: "Start",
    end: "End",
    ongoing: "ongoing",
    minutes: "min",
    alarm: "Alarm",
    subject: "On",
    power: "Power",
    ups: "UPS",
    load_peak: "Peak load",
    load_p95: "Load p95",
    min_charge: "Lowest charge",
    min_runtime: "Lowest runtime",
    replace_battery: "Replace battery",
    yes: "yes",
    no: "no",
    feed: "Feed",
    outages: "Outages",
    down_min: "Down (min)",
    generator: "Generator",
    run_minutes: "Running (min)",
    runs: "Starts",
    min_fuel: "Lowest fuel",
    capacity: "Capacity",
    host: "Server",
    cpu_p95: "CPU p95",
    mem_p95: "Memory p95",
    net_p95: "Network p95 (in, out)",
    disk: "Disk",
    used: "Used",
    size: "Size",
    growth_month: "Growth / month",
    full_on: "Full on",
    days_left: "Days left",
    confidence: "Confidence",
    conf_high: "high",
    conf_medium: "medium",
    conf_low: "low",
    act_first: "Act first",
    act_disk: "disk fills up",
    act_cpu: "CPU busy (p95)",
    act_memory: "memory full (p95)",
    nothing_urgent: "Nothing needs action within 60 days.",
    backups: "Backups",
    job: "Job",
    success_days: "Days with a good backup",
    success_rate: "Success",
    missed_days: "Missed days",
    largest_shrink: "Largest shrink",
    no_data: "no data",
    no_alarm_history: "No alarm history: availability, incidents and outages need the collector's alarms.",
    chart_battery: "Minutes on battery per day (the UPS longest on battery)",
    chart_cpu: "CPU p95 by server (highest 20)",
    chart_disk: "Disk used per day (the disks to act on first)",
    gap_note: "Hours in which nothing came from a site (the collector or the link was down) are gaps: they count neither for nor against availability, and charts leave them empty.",
    confidence_note: "Full-on dates extend the period's growth (the median of day-to-day changes, so one large copy does not decide it). Confidence: high with 21 days or more of steady growth; medium with 7 days or more; low otherwise.",
    none: "none",
    see_attachment: "The report is in this message as HTML, and its figures are attached as CSV.",
};

pub static VI: Text = Text {
    title: "Báo cáo năng lực và mức độ sẵn sàng",
    site: "Trung tâm",
    all_sites: "tất cả các trung tâm",
    period: "Kỳ báo cáo",
    partial: "kỳ báo cáo chưa kết thúc: số liệu tính đến thời điểm lập báo cáo",
    generated: "Lập lúc",
    summary: "Tóm tắt",
    hosts: "Máy chủ",
    host_availability: "Mức sẵn sàng của máy chủ",
    power_availability: "Mức sẵn sàng của nguồn điện",
    minutes_on_battery: "Số phút chạy bằng ắc quy",
    feed_outages: "Số lần mất nguồn lưới",
    incidents: "Sự cố",
    backup_success: "Sao lưu thành công",
    disks_full_60: "Ổ đĩa đầy trong 60 ngày tới",
    availability: "Mức sẵn sàng",
    gap_hours: "Số giờ không có dữ liệu",
    power_lost_min: "Mất điện (phút)",
    redundancy_degraded_min: "Mất dự phòng nguồn (phút)",
    service: "Dịch vụ",
    outage_min: "Gián đoạn (phút)",
    degraded_min: "Chỉ còn một trung tâm (phút)",
    incident_list: "Danh sách sự cố",
    mttr: "Thời gian khắc phục trung bình",
    start: "Bắt đầu",
    end: "Kết thúc",
    ongoing: "đang diễn ra",
    minutes: "phút",
    alarm: "Cảnh báo",
    subject: "Đối tượng",
    power: "Nguồn điện",
    ups: "UPS",
    load_peak: "Tải cao nhất",
    load_p95: "Tải p95",
    min_charge: "Mức pin thấp nhất",
    min_runtime: "Thời gian lưu điện thấp nhất",
    replace_battery: "Cần thay ắc quy",
    yes: "có",
    no: "không",
    feed: "Nguồn",
    outages: "Số lần mất",
    down_min: "Thời gian mất (phút)",
    generator: "Máy phát điện",
    run_minutes: "Thời gian chạy (phút)",
    runs: "Số lần khởi động",
    min_fuel: "Nhiên liệu thấp nhất",
    capacity: "Năng lực",
    host: "Máy chủ",
    cpu_p95: "CPU p95",
    mem_p95: "Bộ nhớ p95",
    net_p95: "Mạng p95 (vào, ra)",
    disk: "Ổ đĩa",
    used: "Đã dùng",
    size: "Dung lượng",
    growth_month: "Tăng mỗi tháng",
    full_on: "Đầy vào ngày",
    days_left: "Số ngày còn lại",
    confidence: "Độ tin cậy",
    conf_high: "cao",
    conf_medium: "trung bình",
    conf_low: "thấp",
    act_first: "Cần xử lý trước",
    act_disk: "ổ đĩa sắp đầy",
    act_cpu: "CPU quá tải (p95)",
    act_memory: "bộ nhớ gần đầy (p95)",
    nothing_urgent: "Không có việc cần xử lý trong 60 ngày tới.",
    backups: "Sao lưu",
    job: "Tác vụ",
    success_days: "Số ngày sao lưu tốt",
    success_rate: "Tỷ lệ thành công",
    missed_days: "Ngày bị lỡ",
    largest_shrink: "Giảm dung lượng nhiều nhất",
    no_data: "không có dữ liệu",
    no_alarm_history: "Không có lịch sử cảnh báo: mức sẵn sàng, sự cố và mất nguồn cần phần cảnh báo của bộ thu thập.",
    chart_battery: "Số phút chạy bằng ắc quy mỗi ngày (UPS chạy ắc quy lâu nhất)",
    chart_cpu: "CPU p95 theo máy chủ (20 máy cao nhất)",
    chart_disk: "Dung lượng ổ đĩa đã dùng mỗi ngày (các ổ cần xử lý trước)",
    gap_note: "Những giờ không nhận được gì từ một trung tâm (bộ thu thập hoặc đường truyền gián đoạn) là khoảng trống: không tính vào mức sẵn sàng, và để trống trên biểu đồ.",
    confidence_note: "Ngày đầy được ngoại suy từ mức tăng trong kỳ (trung vị của mức thay đổi giữa các ngày, nên một lần chép dữ liệu lớn không quyết định kết quả). Độ tin cậy: cao khi tăng đều từ 21 ngày trở lên; trung bình từ 7 ngày; còn lại là thấp.",
    none: "không có",
    see_attachment: "Báo cáo nằm trong thư này ở dạng HTML; số liệu được đính kèm dưới dạng CSV.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates_in_each_language() {
        assert_eq!(Lang::Vi.num(1234567.891, 1), "1.234.567,9");
        assert_eq!(Lang::En.num(1234567.891, 1), "1,234,567.9");
        assert_eq!(Lang::En.num(-40.0, 0), "-40");
        assert_eq!(Lang::Vi.num(999.0, 0), "999");
        assert_eq!(Lang::Vi.num(-0.01, 1), "0,0");
        assert_eq!(Lang::Vi.date("2026-11-02"), "02/11/2026");
        assert_eq!(Lang::En.date("2026-11-02"), "2 Nov 2026");
        assert_eq!(Lang::Vi.datetime("2026-10-05 14:05"), "05/10/2026 14:05");
        assert_eq!(Lang::Vi.bytes(1_610_612_736.0), "1,5 GiB");
        assert_eq!(Lang::En.bytes(512.0), "512 B");
    }
}
