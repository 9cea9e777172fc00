//! Label matchers of rules and silences: `name: value` matches exactly;
//! `name: "~regex"` matches the whole value against a regular expression
//! (like Alertmanager's `=~`, anchored at both ends).

use std::collections::BTreeMap;

/// Label values of every shape an alarm has: a short word, names with an
/// underscore, a digit, a long one, and one with a space, a dash, a dot and
/// letters outside ASCII. A regex that matches all of them (and so is
/// taken to match anything) is one a silence may not consist of.
pub const PROBES: &[&str] =
    &["x", "disk_full", "ups_on_battery", "hn", "0", "rack07.pdu-b.outlet-12.hn-dc1.example.vn", "Hà Nội dc-1.a"];

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Regex(regex::Regex),
}

/// Matchers as written (a map of label → value or `~regex`), compiled once.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Matchers {
    raw: BTreeMap<String, String>,
    compiled: Vec<(String, Matcher)>,
}

impl PartialEq for Matchers {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

/// A matcher `key: ~value` whose value is not a regular expression; `why`
/// is the regex parser's own (English) last line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matcher `{key}: {value}`: not a regular expression: {why}")]
pub struct NotARegex {
    pub key: String,
    pub value: String,
    pub why: String,
}

impl TryFrom<BTreeMap<String, String>> for Matchers {
    type Error = NotARegex;

    fn try_from(raw: BTreeMap<String, String>) -> Result<Self, NotARegex> {
        let mut compiled = Vec::with_capacity(raw.len());
        for (k, v) in &raw {
            let m = match v.strip_prefix('~') {
                // Checked alone first: `a)|(b` must not escape the anchors.
                Some(re) => Matcher::Regex(
                    regex::Regex::new(re).and_then(|_| regex::Regex::new(&format!("^(?:{re})$"))).map_err(|e| {
                        // The parser's message is a drawing over several lines; its last says what.
                        let e = e.to_string();
                        let why = e.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string();
                        NotARegex { key: k.clone(), value: v.clone(), why }
                    })?,
                ),
                None => Matcher::Exact(v.clone()),
            };
            compiled.push((k.clone(), m));
        }
        Ok(Matchers { raw, compiled })
    }
}

impl From<Matchers> for BTreeMap<String, String> {
    fn from(m: Matchers) -> Self {
        m.raw
    }
}

impl Matchers {
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether every matcher matches; `value(label)` gives a label's value.
    pub fn matches<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.compiled.iter().all(|(k, m)| match (m, value(k)) {
            (Matcher::Exact(want), Some(v)) => want == v,
            (Matcher::Regex(re), Some(v)) => re.is_match(v),
            // A label the alarm does not have matches only a regex that
            // accepts the empty string (as in Alertmanager).
            (Matcher::Regex(re), None) => re.is_match(""),
            (Matcher::Exact(want), None) => want.is_empty(),
        })
    }

    /// Whether every matcher accepts the empty string, so the set would match
    /// alarms that lack all its labels: a silence like that hides everything
    /// (Alertmanager refuses it too).
    pub fn all_match_empty(&self) -> bool {
        self.compiled.iter().all(|(_, m)| match m {
            Matcher::Exact(want) => want.is_empty(),
            Matcher::Regex(re) => re.is_match(""),
        })
    }

    /// Whether every matcher accepts the empty string or every value of
    /// [`PROBES`] (for `alertname`: every name of `alertnames`, the built-in
    /// alarms' names, given by the caller so that this file, which the
    /// config's types use, never imports the registry that reads the config):
    /// `alertname: "~.+"`, `"~[a-z_]+"` or `"~.{2,}"` skip the empty label
    /// but still match every alarm, so the empty string alone is not a
    /// test of "matches everything".
    pub fn all_match_anything(&self, alertnames: &[&str]) -> bool {
        self.compiled.iter().all(|(label, m)| match m {
            Matcher::Exact(want) => want.is_empty(),
            Matcher::Regex(re) if label == "alertname" => re.is_match("") || alertnames.iter().all(|n| re.is_match(n)),
            Matcher::Regex(re) => re.is_match("") || PROBES.iter().all(|p| re.is_match(p)),
        })
    }

    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.raw
    }
}

/// The matchers of a silence of exactly one alarm: its name and every
/// label, each value matched as written (a value that starts with `~`,
/// which a matcher would read as a regular expression, is matched as an
/// escaped one).
pub fn exact_matchers(name: &str, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let exact = |v: &str| if v.starts_with('~') { format!("~{}", regex::escape(v)) } else { v.to_string() };
    std::iter::once(("alertname".to_string(), exact(name)))
        .chain(labels.iter().map(|(k, v)| (k.clone(), exact(v))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> Result<Matchers, String> {
        Matchers::try_from(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn exact_and_anchored_regex_matchers() {
        let set = m(&[("site", "hn-dc1"), ("host", "~web[0-9]+")]).unwrap();
        let labels = |host: &'static str| {
            move |k: &str| match k {
                "site" => Some("hn-dc1"),
                "host" => Some(host),
                _ => None,
            }
        };
        assert!(set.matches(labels("web12")));
        assert!(!set.matches(labels("db1")));
        assert!(!set.matches(labels("web1-old")), "anchored at the end");
        assert!(!set.matches(labels("oldweb1")), "anchored at the start");
        assert!(!set.matches(|_| None));
        assert!(m(&[("host", "~a)|(b")]).is_err(), "must not escape the anchors");
        assert_eq!(
            m(&[("host", "~web[")]).unwrap_err(),
            "matcher `host: ~web[`: not a regular expression: unclosed character class"
        );
    }
}
