//! The one catalogue of every word a user reads (notices, `status`, the
//! console, reports), in Vietnamese and English, and how each language
//! writes numbers and dates (Vietnamese: `1.234,5` and `22/11/2026`;
//! English: `1,234.5` and `22 Nov 2026`).
//!
//! Each part has its own module: `report` holds the report's words,
//! `alarms` the alarms' and notices'. A
//! language's words are a struct, so a word missing in one language does
//! not compile.

pub mod alarms;
pub mod peer;
pub mod report;
pub mod status;
pub mod telegram;
pub mod web;
pub mod web_audit;
pub mod web_backups;
pub mod web_devices;
pub mod web_hosts;
pub mod web_reports;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Result<Lang, String> {
        match s {
            "vi" => Ok(Lang::Vi),
            "en" => Ok(Lang::En),
            _ => Err(format!("`{s}` is not a language dcwatch speaks: vi or en")),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The report's words.
    pub fn t(self) -> &'static report::Text {
        match self {
            Lang::Vi => &report::VI,
            Lang::En => &report::EN,
        }
    }

    /// The thousands separator and the decimal point.
    pub fn separators(self) -> (char, char) {
        match self {
            Lang::Vi => ('.', ','),
            Lang::En => (',', '.'),
        }
    }

    /// A number with `decimals` places, grouped by thousands.
    pub fn num(self, x: f64, decimals: usize) -> String {
        let (group, point) = self.separators();
        let s = format!("{:.*}", decimals, x.abs());
        let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
        let mut out = join_digits(int, frac, group, point);
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

    /// An instant (ms since the epoch) in the zone `tz`, to the minute:
    /// `22/11/2026 14:05` (vi), `22 Nov 2026 14:05` (en).
    pub fn time(self, ms: i64, tz: &jiff::tz::TimeZone) -> String {
        let Ok(t) = jiff::Timestamp::from_millisecond(ms) else { return ms.to_string() };
        let z = t.to_zoned(tz.clone());
        match self {
            Lang::Vi => z.strftime("%d/%m/%Y %H:%M").to_string(),
            Lang::En => z.strftime("%-d %b %Y %H:%M").to_string(),
        }
    }

    /// A percentage with `decimals` places: `12,5 %` (vi), `12.5 %` (en).
    pub fn pct(self, x: f64, decimals: usize) -> String {
        percent(&self.num(x, decimals))
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

    /// A size in decimal units, as disks are sold and borg writes them
    /// (1 GB = 1 000 000 000 bytes): `1,5 GB` (vi), `1.5 GB` (en).
    pub fn size(self, bytes: f64) -> String {
        const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
        let mut x = bytes.abs();
        let mut u = 0;
        // 999 960 bytes is 1,0 MB, not 1.000,0 KB.
        while u + 1 < UNITS.len() && (if u == 0 { x } else { (x * 10.0).round() / 10.0 }) >= 1000.0 {
            x /= 1000.0;
            u += 1;
        }
        let sign = if bytes < 0.0 { "-" } else { "" };
        format!("{sign}{} {}", self.num(x, if u == 0 { 0 } else { 1 }), UNITS[u])
    }
}

/// The digits `int` grouped by thousands with `group`, then `point` and
/// `frac` if there is a fraction.
pub fn join_digits(int: &str, frac: &str, group: char, point: char) -> String {
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
    out
}

/// A number already written the language's way, as a percentage: the sign
/// after a space in both languages (`12,5 %`, `12.5 %`).
pub fn percent(number: &str) -> String {
    format!("{number} %")
}

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
        assert_eq!(Lang::Vi.pct(12.5, 1), "12,5 %");
        assert_eq!(Lang::En.pct(1234.0, 0), "1,234 %");
        // 2026-11-22T07:05:00Z is 14:05 in Hanoi (UTC+7).
        let hanoi = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
        assert_eq!(Lang::Vi.time(1_795_331_100_000, &hanoi), "22/11/2026 14:05");
        assert_eq!(Lang::En.time(1_795_331_100_000, &hanoi), "22 Nov 2026 14:05");
        assert_eq!(Lang::Vi.time(1_795_331_100_000, &jiff::tz::TimeZone::UTC), "22/11/2026 07:05");
    }
}
