//! Checking and normalising a body of line protocol before it is forwarded.
//!
//! Every line is read as InfluxDB 1.x reads it ([`super::parse`]), checked
//! against what the writer's token allows and against what the sinks can
//! store (the reserved `time` key, InfluxDB's time range and key length,
//! field types that change within the body, unsigned integers for a v1
//! sink), given the token's `site`/`host` tags if it has none, and given a
//! nanosecond timestamp (the receipt time if it had none — so a point
//! delayed in a queue keeps the time it was received, not the time it was
//! forwarded).
//!
//! A line that needs no change is forwarded byte for byte. One that does is
//! changed in place, not re-encoded: the added tags are spliced in after the
//! series key, a timestamp is appended or scaled, a `u` suffix becomes `i`.
//! Everything the writer wrote stays as written, so every sink reads the
//! same escapes the writer meant, by its own rules (a re-encoding would
//! have to guess how each sink unescapes; that guess once made series that
//! could not be queried).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use super::auth::{Forbidden, Identity};
use super::parse::{self, Value};

/// A line that was not accepted, by its 1-based line number in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Normalized {
    /// Accepted lines, each ending in `\n`, timestamps in ns.
    pub out: Vec<u8>,
    pub accepted: u64,
    /// Lines that are not valid line protocol, or that a sink could not store.
    pub invalid: Vec<LineError>,
    /// The lines of `invalid` that repeat a tag key: an attempt to slip a
    /// second `site` or `host` past the check, so they are also audited.
    pub repeated_tag: Vec<LineError>,
    /// Valid lines the token may not write (another site or host, or a
    /// device measurement from a token that is not a poller's).
    pub forbidden: Vec<LineError>,
    /// How many of `forbidden` for each [`Forbidden`] reason.
    pub forbidden_by: [u64; Forbidden::ALL.len()],
    /// The distinct (site, host) pairs written, at most [`MAX_AGENTS_PER_BODY`].
    pub agents: BTreeSet<(String, String)>,
    /// Accepted points of the measurements the alarm engine watches.
    pub observations: Vec<Observation>,
}

pub use crate::model::{ObsValue, Observation};

/// What the configured sinks can store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkRules {
    /// A sink is InfluxDB 1.x, which refuses unsigned integers: they are
    /// written as signed ones, and refused past `i64::MAX`.
    pub unsigned_as_signed: bool,
    /// A sink is not InfluxDB 1.x (`flavour: v2`, e.g. VictoriaMetrics),
    /// which may read a doubled backslash in the series key otherwise
    /// than InfluxDB does (VictoriaMetrics counts backslashes, so `\\,`
    /// ends the measurement there): such a key is refused, so no tag
    /// reaches the sink that the token check did not see.
    pub plain_series_keys: bool,
}

/// A body naming more hosts than this is a proxy or a bulk import; only the
/// first ones are tracked as agents.
pub const MAX_AGENTS_PER_BODY: usize = 64;

/// Nanoseconds per unit of the `precision` query parameter. v2 takes
/// ns/us/ms/s; v1 also n/u/m/h. Defaults to ns.
pub fn precision_multiplier(p: Option<&str>) -> Result<i64, String> {
    Ok(match p.unwrap_or("ns") {
        "ns" | "n" | "" => 1,
        "us" | "u" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => return Err(format!("precision `{other}` is not one of ns, us, ms, s (v1 also n, u, m, h)")),
    })
}

#[cfg(test)]
pub fn normalize(body: &str, who: &Identity, multiplier: i64, now_ns: i64) -> Normalized {
    normalize_watching(body, who, multiplier, now_ns, SinkRules::default(), &|_| false)
}

/// The type each (measurement, field) has taken in this body, and the line
/// that gave it: InfluxDB refuses a point whose field changes type.
type FieldTypes<'a> = HashMap<(Cow<'a, str>, Cow<'a, str>), (&'static str, usize)>;

/// [`normalize`], also keeping the accepted points of the measurements
/// `watch` picks as [`Observation`]s.
pub fn normalize_watching(
    body: &str,
    who: &Identity,
    multiplier: i64,
    now_ns: i64,
    rules: SinkRules,
    watch: &dyn Fn(&str) -> bool,
) -> Normalized {
    let mut n = Normalized { out: Vec::with_capacity(body.len() + body.len() / 8), ..Default::default() };
    let mut types = FieldTypes::new();
    let mut line_no = 1;
    let mut counted_to = 0;
    for (offset, raw) in parse::split_lines(body) {
        // Physical line number: count the newlines before this line.
        line_no += body.as_bytes()[counted_to..offset].iter().filter(|b| **b == b'\n').count();
        counted_to = offset;
        // CRLF line ends are read as LF (docs/architecture.md).
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // Blank lines and comments are skipped; a comment ending in `\`
        // takes the next line with it (InfluxDB reads them as one), and is
        // refused below like any line break inside a line.
        let start = parse::content_start(raw);
        if raw.contains('\n') {
            // An escaped or quoted line break: InfluxDB reads one line, but
            // a sink that splits on every newline would read the part after
            // it as a point of its own, one no check here has seen. A line
            // that is malformed anyway (a quote never closed, so the rest of
            // the body is in it) is named by what is wrong with it.
            let message = match start.map(|s| (s, parse::parse_line(&raw[s..]))) {
                Some((s, Err(e))) => format!("column {}: {}", e.column + raw[..s].chars().count(), e.message),
                None if raw.trim_start_matches([' ', '\t', '\0']).starts_with('#') => {
                    "this comment takes the next line with it (it ends in a backslash, or opens a quote after \
                     a `=`), as InfluxDB reads it; that line would be dropped unseen, so both are refused"
                        .into()
                }
                _ => "a line break inside a line (escaped, or in a quoted string) is not accepted".into(),
            };
            n.invalid.push(LineError { line: line_no, message });
            continue;
        }
        let Some(start) = start else { continue };
        let text = &raw[start..];
        let column0 = raw[..start].chars().count();
        let at = |e: &parse::ParseError| format!("column {}: {}", e.column + column0, e.message);
        let parsed = match parse::parse_line(text) {
            Ok(p) => p,
            Err(e) => {
                let le = LineError { line: line_no, message: at(&e) };
                if e.repeated_tag {
                    n.repeated_tag.push(le.clone());
                }
                n.invalid.push(le);
                continue;
            }
        };
        match accept(&mut n, &mut types, &parsed, who, multiplier, now_ns, rules, watch, line_no) {
            Ok(()) => n.accepted += 1,
            Err(Refusal::Invalid(message)) => n.invalid.push(LineError { line: line_no, message }),
            Err(Refusal::Forbidden(why, message)) => {
                n.forbidden.push(LineError { line: line_no, message });
                n.forbidden_by[why as usize] += 1;
            }
        }
    }
    n
}

enum Refusal {
    Invalid(String),
    Forbidden(Forbidden, String),
}

/// Checks one parsed line and appends it, changed where it must be, to
/// `n.out`.
#[allow(clippy::too_many_arguments)]
fn accept<'a>(
    n: &mut Normalized,
    types: &mut FieldTypes<'a>,
    parsed: &parse::Line<'a>,
    who: &Identity,
    multiplier: i64,
    now_ns: i64,
    rules: SinkRules,
    watch: &dyn Fn(&str) -> bool,
    line_no: usize,
) -> Result<(), Refusal> {
    if rules.plain_series_keys && parsed.text.as_bytes()[..parsed.key_end].windows(2).any(|w| w == b"\\\\") {
        return Err(Refusal::Invalid(
            "a doubled backslash (`\\\\`) in the measurement or a tag: a v2 sink (VictoriaMetrics) may read the \
             series key otherwise than it is checked here; write the value without it"
                .into(),
        ));
    }
    let measurement = parsed.measurement.as_ref();
    let site = parsed.tag("site");
    let host = parsed.tag("host");
    let identity = dcwatch_common::schema::identity_tag(measurement).and_then(|t| parsed.tag(t));
    who.may_write(measurement, site, host, identity)
        .and_then(|()| parsed.fields.iter().try_for_each(|f| who.may_write_field(measurement, &f.key)))
        .map_err(|(why, message)| Refusal::Forbidden(why, message))?;

    // What InfluxDB would drop after answering: refused here instead.
    if parsed.tags.iter().any(|t| t.key == "time") {
        return Err(Refusal::Invalid(
            "tag `time`: `time` is reserved for the timestamp; InfluxDB drops a point with a `time` tag".into(),
        ));
    }
    if parsed.fields.iter().all(|f| f.key == "time") {
        return Err(Refusal::Invalid(
            "field `time`: `time` is reserved for the timestamp and the point has no other field".into(),
        ));
    }
    let ts = timestamp(parsed, multiplier, now_ns)?;

    let (add_site, add_host, added) = token_tags(parsed, who, site, host)?;

    let unsigned = field_types(types, parsed, rules, line_no)?;

    // A peer's relay writes for many hosts at once: each is tracked.
    if who.relayed || n.agents.len() < MAX_AGENTS_PER_BODY {
        let s = site.or(add_site).unwrap_or("");
        let h = host.or(add_host).unwrap_or("");
        if !h.is_empty() && !n.agents.contains(&(s.to_string(), h.to_string())) {
            n.agents.insert((s.to_string(), h.to_string()));
        }
    }
    if watch(measurement) {
        n.observations.push(observation(parsed, add_site, add_host, ts));
    }

    write_line(&mut n.out, parsed, &added, &unsigned, multiplier, ts)
}

/// The point's time in nanoseconds: its own at the body's precision, or now.
fn timestamp(parsed: &parse::Line<'_>, multiplier: i64, now_ns: i64) -> Result<i64, Refusal> {
    Ok(match parsed.timestamp {
        Some(t) => t
            .checked_mul(multiplier)
            .filter(|t| (parse::MIN_TIME_NS..=parse::MAX_TIME_NS).contains(t))
            .ok_or_else(|| {
                Refusal::Invalid(format!(
                    "timestamp `{t}` is outside InfluxDB's range (about the years 1677 to 2262) at this precision"
                ))
            })?,
        None => now_ns,
    })
}

/// The `site` and `host` tags the token adds when the line has none, and
/// them written as the series key's suffix, checked against the key limit.
fn token_tags<'w>(
    parsed: &parse::Line<'_>,
    who: &'w Identity,
    site: Option<&str>,
    host: Option<&str>,
) -> Result<(Option<&'w str>, Option<&'w str>, String), Refusal> {
    let add_site = site.is_none().then_some(who.site.as_deref()).flatten();
    let add_host = host.is_none().then_some(who.host.as_deref()).flatten();
    let mut added = String::new();
    for (k, v) in [("site", add_site), ("host", add_host)] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            let e = parse::escape_tag(v)
                .ok_or_else(|| Refusal::Invalid(format!("the token's {k} `{v}` cannot be written as a tag value")))?;
            added.push_str(&format!(",{k}={e}"));
        }
    }
    let longest_field = parsed.fields.iter().map(|f| f.raw_key.len()).max().unwrap_or(0);
    let key_bytes = parsed.key_end + added.len() + 4 + longest_field;
    if key_bytes > parse::MAX_KEY_BYTES {
        return Err(Refusal::Invalid(format!(
            "the series key{} and its longest field key are {key_bytes} bytes, more than InfluxDB's limit of {}",
            if added.is_empty() { "" } else { " (with the token's tags)" },
            parse::MAX_KEY_BYTES
        )));
    }
    Ok((add_site, add_host, added))
}

/// Checks field types, the same within the line and within the body, and
/// records the line's; returns where unsigned values end (their `u` to
/// rewrite as `i` for a 1.x sink).
fn field_types<'a>(
    types: &mut FieldTypes<'a>,
    parsed: &parse::Line<'a>,
    rules: SinkRules,
    line_no: usize,
) -> Result<Vec<usize>, Refusal> {
    let mut unsigned = Vec::new();
    let mut line_types: Vec<(&Cow<'a, str>, &'static str)> = Vec::new();
    for f in &parsed.fields {
        let t = match f.value {
            Value::U64(v) if rules.unsigned_as_signed => {
                if v > i64::MAX as u64 {
                    return Err(Refusal::Invalid(format!(
                        "field `{}`: `{v}u` is more than 9223372036854775807, the largest integer InfluxDB 1.x stores",
                        f.key
                    )));
                }
                unsigned.push(f.value_at.1 - 1);
                "integer"
            }
            ref v => v.type_name(),
        };
        if let Some((_, before)) = line_types.iter().find(|(k, t2)| **k == f.key && *t2 != t) {
            return Err(Refusal::Invalid(format!(
                "field `{}` is written twice in the line, as {before} and as {t}; InfluxDB refuses a field whose type changes",
                f.key
            )));
        }
        // Cloning a borrowed `Cow` (the usual case, no escapes) is free.
        if let Some((before, l)) = types.get(&(parsed.measurement.clone(), f.key.clone()))
            && *before != t
        {
            return Err(Refusal::Invalid(format!(
                "field `{}` is {t} here but {before} in line {l} of this body; InfluxDB refuses a field whose type changes",
                f.key
            )));
        }
        line_types.push((&f.key, t));
    }
    for (k, t) in line_types {
        types.entry((parsed.measurement.clone(), k.clone())).or_insert((t, line_no));
    }
    Ok(unsigned)
}

/// The line as the alarms and trends read it, with the token's tags.
fn observation(parsed: &parse::Line<'_>, add_site: Option<&str>, add_host: Option<&str>, ts: i64) -> Observation {
    let mut tags: Vec<(String, String)> =
        parsed.tags.iter().map(|t| (t.key.to_string(), t.value.to_string())).collect();
    tags.extend(add_site.map(|s| ("site".to_string(), s.to_string())));
    tags.extend(add_host.map(|h| ("host".to_string(), h.to_string())));
    let fields = parsed
        .fields
        .iter()
        .map(|f| {
            let v = match &f.value {
                Value::I64(x) => ObsValue::Num(*x as f64),
                Value::U64(x) => ObsValue::Num(*x as f64),
                Value::F64(x) => ObsValue::Num(*x),
                Value::Bool(x) => ObsValue::Bool(*x),
                Value::Str(s) => ObsValue::Str(s.to_string()),
            };
            (f.key.to_string(), v)
        })
        .collect();
    Observation { measurement: parsed.measurement.to_string(), tags, fields, ts }
}

/// Appends the line to `out`: as it came, or with the token's tags, the
/// unsigned values as integers and the timestamp in nanoseconds.
fn write_line(
    out: &mut Vec<u8>,
    parsed: &parse::Line<'_>,
    added: &str,
    unsigned: &[usize],
    multiplier: i64,
    ts: i64,
) -> Result<(), Refusal> {
    let text = parsed.text;
    if added.is_empty() && unsigned.is_empty() && parsed.timestamp.is_some() && multiplier == 1 {
        out.extend_from_slice(text.as_bytes());
    } else {
        let fields_end = parsed.fields.last().map_or(parsed.key_end, |f| f.value_at.1);
        // A timestamp appended after an odd run of backslashes would be
        // read as an escaped space in the last field.
        let trailing = text.as_bytes()[..fields_end].iter().rev().take_while(|&&b| b == b'\\').count();
        if trailing % 2 == 1 {
            return Err(Refusal::Invalid(
                "the fields end in a backslash, which would escape the timestamp added after them; \
                 give the point a timestamp or drop the backslash"
                    .into(),
            ));
        }
        out.extend_from_slice(&text.as_bytes()[..parsed.key_end]);
        out.extend_from_slice(added.as_bytes());
        let mut from = parsed.key_end;
        for &u in unsigned {
            out.extend_from_slice(&text.as_bytes()[from..u]);
            out.push(b'i');
            from = u + 1;
        }
        out.extend_from_slice(&text.as_bytes()[from..fields_end]);
        out.extend_from_slice(format!(" {ts}").as_bytes());
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_token() -> Identity {
        Identity {
            name: "hn-agents".into(),
            site: Some("hn".into()),
            host: None,
            poller: true,
            devices: None,
            client_cert_name: None,
            relayed: false,
        }
    }

    #[test]
    fn a_line_that_needs_no_change_is_forwarded_byte_for_byte() {
        let body = "host_cpu,site=hn,host=web01 usage_pct=12.5 1700000000000000000\n";
        let n = normalize(body, &site_token(), 1, 5);
        assert_eq!(n.out, body.as_bytes());
        assert_eq!(n.accepted, 1);
        assert_eq!(n.agents.into_iter().collect::<Vec<_>>(), vec![("hn".to_string(), "web01".to_string())]);
    }

    #[test]
    fn missing_site_and_timestamp_are_filled_from_the_token_and_the_clock() {
        let n = normalize("ups,device=ups1 load_pct=40i\n", &site_token(), 1, 1234);
        assert_eq!(std::str::from_utf8(&n.out).unwrap(), "ups,device=ups1,site=hn load_pct=40i 1234\n");
    }

    #[test]
    fn timestamps_are_scaled_to_nanoseconds() {
        let n = normalize("m,site=hn v=1 1700000000\n", &site_token(), precision_multiplier(Some("s")).unwrap(), 0);
        assert_eq!(std::str::from_utf8(&n.out).unwrap(), "m,site=hn v=1 1700000000000000000\n");
    }

    #[test]
    fn a_bad_line_is_named_by_its_line_number_and_the_good_ones_pass() {
        let body = "m,site=hn v=1 1\n\n# comment\nm,site=hn 2\nm,site=hn v=3 3\n";
        let n = normalize(body, &site_token(), 1, 0);
        assert_eq!(n.accepted, 2);
        assert_eq!(n.invalid.len(), 1);
        assert_eq!(n.invalid[0].line, 4);
        assert_eq!(std::str::from_utf8(&n.out).unwrap(), "m,site=hn v=1 1\nm,site=hn v=3 3\n");
    }

    #[test]
    fn a_line_break_inside_a_line_cannot_smuggle_a_second_point() {
        let who = Identity { host: Some("web01".into()), poller: false, ..site_token() };
        let body = "host_cpu,host=web01 msg=\"x\nups,device=u1 on_battery=true 1\n\" 1\nm v=1\\\nups,device=u1 on_battery=true 1\nm v=2 2\n";
        let n = normalize(body, &who, 1, 0);
        assert_eq!(std::str::from_utf8(&n.out).unwrap(), "m,site=hn,host=web01 v=2 2\n");
        let msgs: Vec<_> = n.invalid.iter().map(|e| (e.line, e.message.as_str())).collect();
        let why = "a line break inside a line (escaped, or in a quoted string) is not accepted";
        // Lines are counted as in the file: the first spans three. The
        // second is malformed anyway, and named by what is wrong.
        assert_eq!(msgs, vec![(1, why), (4, "column 6: field `v`: `1\\\nups` is not a number")]);
    }

    #[test]
    fn a_repeated_tag_key_is_invalid_and_kept_apart_for_the_audit_log() {
        let n = normalize("m,site=hn v=1 1\nm,site=hn,site=hcm v=2 2\nm v=\n", &site_token(), 1, 0);
        let repeated = vec![LineError { line: 2, message: "column 11: tag `site` appears twice".into() }];
        assert_eq!(n.repeated_tag, repeated);
        assert_eq!(n.invalid.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn a_comment_ending_in_a_backslash_does_not_swallow_the_next_point_unseen() {
        let body = "m v=1 1\n# a comment \\\nm v=2 2\nm v=3 3\n# a=\" opens a quote\nm v=4 4\n";
        let n = normalize(body, &site_token(), 1, 0);
        assert_eq!(std::str::from_utf8(&n.out).unwrap(), "m,site=hn v=1 1\nm,site=hn v=3 3\n");
        let why = "this comment takes the next line with it (it ends in a backslash, or opens a quote after a `=`), \
                   as InfluxDB reads it; that line would be dropped unseen, so both are refused";
        let msgs: Vec<_> = n.invalid.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(msgs, vec![(2, why), (5, why)]);
    }

    #[test]
    fn a_point_for_another_site_is_forbidden() {
        let n = normalize("m,site=hn v=1 1\nm,site=hcm v=2 2\n", &site_token(), 1, 0);
        assert_eq!(n.accepted, 1);
        assert_eq!(
            n.forbidden,
            vec![LineError {
                line: 2,
                message: "site `hcm` is not allowed for token `hn-agents` (it may write site `hn`)".into()
            }]
        );
    }

    #[test]
    fn a_host_bound_token_may_not_write_another_host() {
        let who = Identity { host: Some("web01".into()), poller: false, ..site_token() };
        let n = normalize("m,host=web02 v=1 1\nm v=2 2\n", &who, 1, 0);
        assert_eq!(n.forbidden.len(), 1);
        assert_eq!(std::str::from_utf8(&n.out).unwrap(), "m,site=hn,host=web01 v=2 2\n");
    }

    #[test]
    fn a_timestamp_that_overflows_at_its_precision_is_invalid() {
        let n = normalize("m,site=hn v=1 9223372036854775\n", &site_token(), 1_000_000_000, 0);
        assert_eq!(n.accepted, 0);
        assert_eq!(
            n.invalid[0].message,
            "timestamp `9223372036854775` is outside InfluxDB's range (about the years 1677 to 2262) at this precision"
        );
    }

    #[test]
    fn unknown_precision_is_refused() {
        assert_eq!(
            precision_multiplier(Some("days")),
            Err("precision `days` is not one of ns, us, ms, s (v1 also n, u, m, h)".into())
        );
    }

    #[test]
    fn a_server_token_cannot_write_a_ups_series_by_splitting_its_name() {
        let who = Identity { host: Some("web01".into()), poller: false, ..site_token() };
        let body = "ups_on battery=true 1\npower,x=1 load=1,feed_live=false 2\nup s_on_battery=true 3\n";
        let n = normalize(body, &who, 1, 0);
        // `up_s_on_battery` is no `ups` series.
        assert_eq!(std::str::from_utf8(&n.out).unwrap(), "up,site=hn,host=web01 s_on_battery=true 3\n");
        assert_eq!(n.forbidden.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(n.forbidden_by, [0, 0, 2, 0], "counted as reason `measurement`");
    }

    /// A poller bound to `devices: [ups1, A]`: UPS ups1 and feed A.
    fn listed_poller() -> Identity {
        Identity { devices: Some(vec!["ups1".into(), "A".into()]), ..site_token() }
    }

    /// Whether a one-line body is accepted from [`listed_poller`]; the
    /// forbidden reason otherwise.
    fn verdict(line: &str) -> Result<(), &'static str> {
        let n = normalize(line, &listed_poller(), 1, 7);
        match (n.accepted, n.forbidden_by) {
            (1, [0, 0, 0, 0]) => Ok(()),
            (0, [0, 0, 0, 1]) => Err("device"),
            _ => panic!("{line}: accepted {}, forbidden {:?}, invalid {:?}", n.accepted, n.forbidden_by, n.invalid),
        }
    }

    #[test]
    fn a_listed_poller_writes_each_device_measurement_only_for_its_listed_device() {
        for m in dcwatch_common::schema::DEVICE_MEASUREMENTS.iter().filter(|m| !m.starts_with("power_feed")) {
            assert_eq!(verdict(&format!("{m},device=ups1 v=1 1")), Ok(()), "{m}");
            assert_eq!(verdict(&format!("{m},device=ups2 v=1 1")), Err("device"), "{m}");
            assert_eq!(verdict(&format!("{m},feed=A v=1 1")), Err("device"), "{m}: no device tag");
        }
    }

    #[test]
    fn a_power_feed_point_is_bound_by_its_feed_not_by_the_meter_that_measured_it() {
        for m in ["power_feed", "power_feed_phase"] {
            assert_eq!(verdict(&format!("{m},device=ups1,feed=A live=true 1")), Ok(()), "{m}");
            // The listed UPS may not speak for feed B: it would raise feed_lost for it.
            assert_eq!(verdict(&format!("{m},device=ups1,feed=B live=false 1")), Err("device"), "{m}");
            assert_eq!(verdict(&format!("{m},device=ups1 voltage_v=0 1")), Err("device"), "{m}: no feed tag");
        }
        let n = normalize("power_feed,device=ups1,feed=B live=false 1", &listed_poller(), 1, 7);
        assert_eq!(
            n.forbidden[0].message,
            "feed `B` of a `power_feed` point is not among the devices token `hn-agents` may write"
        );
    }

    fn out(n: &Normalized) -> &str {
        std::str::from_utf8(&n.out).unwrap()
    }

    const V1: SinkRules = SinkRules { unsigned_as_signed: true, plain_series_keys: false };

    #[test]
    fn unsigned_integers_are_written_as_signed_for_a_v1_sink_and_refused_past_i64_max() {
        let body = "m,site=hn a=1u,b=\"x=1u\",c=9223372036854775807u 1\nm,site=hn a=9223372036854775808u 2\n";
        let n = normalize_watching(body, &site_token(), 1, 0, V1, &|_| false);
        assert_eq!(out(&n), "m,site=hn a=1i,b=\"x=1u\",c=9223372036854775807i 1\n");
        assert_eq!(
            n.invalid,
            vec![LineError {
                line: 2,
                message: "field `a`: `9223372036854775808u` is more than 9223372036854775807, the largest integer InfluxDB 1.x stores".into()
            }]
        );
        // Without a v1 sink they are forwarded as they came.
        assert_eq!(out(&normalize("m,site=hn a=1u 1\n", &site_token(), 1, 0)), "m,site=hn a=1u 1\n");
    }

    /// Regression (issue 14 review): VictoriaMetrics ends the measurement
    /// at `\\,`, where InfluxDB reads an escaped comma, so `site=other`
    /// would reach a v2 sink unchecked.
    #[test]
    fn a_doubled_backslash_in_the_series_key_is_refused_when_a_sink_is_v2() {
        let v2 = SinkRules { unsigned_as_signed: false, plain_series_keys: true };
        let body = "host_cpu\\\\,site=other,host=x usage=1 1\nm,t=a\\\\b v=1 2\nm,t=a\\ b v=1 3\n";
        let n = normalize_watching(body, &site_token(), 1, 0, v2, &|_| false);
        assert_eq!(out(&n), "m,t=a\\ b,site=hn v=1 3\n");
        let refused: Vec<usize> = n.invalid.iter().map(|e| e.line).collect();
        assert_eq!(refused, vec![1, 2]);
        assert!(n.invalid[0].message.contains("a doubled backslash"), "{}", n.invalid[0].message);
        // With only v1 sinks, InfluxDB reads it as checked: accepted.
        let n = normalize_watching(body, &site_token(), 1, 0, V1, &|_| false);
        assert_eq!(n.invalid, vec![]);
    }

    /// Regression (issue 14 review): a timestamp added after fields that end
    /// in one backslash would be read as an escaped space.
    #[test]
    fn fields_ending_in_a_backslash_are_refused_when_a_timestamp_is_added() {
        // The last line of a body, with no line break after it.
        let n = normalize("m s=\"a\"\\\\\nm s=\"a\"\\", &site_token(), 1, 42);
        assert_eq!(n.invalid.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2]);
        assert!(n.invalid[0].message.contains("the fields end in a backslash"), "{}", n.invalid[0].message);
        assert_eq!(out(&n), "m,site=hn s=\"a\"\\\\ 42\n");
    }

    #[test]
    fn a_field_whose_type_changes_within_a_line_or_a_body_is_refused() {
        let body = "cpu a=1i 1\ncpu a=2.5 2\ncpu,n=2 a=3i 3\nmem a=1.5 4\ncpu b=1i,b=2.5 5\n";
        let n = normalize(body, &site_token(), 1, 0);
        assert_eq!(out(&n), "cpu,site=hn a=1i 1\ncpu,n=2,site=hn a=3i 3\nmem,site=hn a=1.5 4\n");
        let msgs: Vec<_> = n.invalid.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(
            msgs,
            vec![
                (
                    2,
                    "field `a` is float here but integer in line 1 of this body; InfluxDB refuses a field whose type changes"
                ),
                (
                    5,
                    "field `b` is written twice in the line, as integer and as float; InfluxDB refuses a field whose type changes"
                ),
            ]
        );
    }

    #[test]
    fn the_time_key_and_timestamps_outside_influxdbs_range_are_refused() {
        let body =
            "m,time=x v=1 1\nm time=1 2\nm time=1,v=2 3\nm v=1 9223372036854775807\nm v=1 -9223372036854775806\n";
        let n = normalize(body, &site_token(), 1, 0);
        assert_eq!(out(&n), "m,site=hn time=1,v=2 3\nm,site=hn v=1 -9223372036854775806\n");
        assert_eq!(n.invalid.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 2, 4]);
    }

    #[test]
    fn a_key_pushed_over_influxdbs_limit_by_the_added_site_tag_is_refused() {
        // 65520 + `,site=hn` (8) + `#!~#` (4) + `v` (1) = 65533: fits.
        let fits = format!("{} v=1 1\n", "m".repeat(65520));
        assert_eq!(normalize(&fits, &site_token(), 1, 0).accepted, 1);
        let over = format!("{} v=1 1\n", "m".repeat(65523));
        let n = normalize(&over, &site_token(), 1, 0);
        assert_eq!(n.accepted, 0);
        assert_eq!(
            n.invalid[0].message,
            "the series key (with the token's tags) and its longest field key are 65536 bytes, more than InfluxDB's limit of 65535"
        );
    }

    #[test]
    fn crlf_line_ends_are_read_as_lf_and_the_cr_is_not_forwarded() {
        let n = normalize("m,site=hn v=1 1\r\n\r\nm,site=hn s=\"x\" 2\r\n", &site_token(), 1, 0);
        assert_eq!(out(&n), "m,site=hn v=1 1\nm,site=hn s=\"x\" 2\n");
        assert!(n.invalid.is_empty());
    }

    #[test]
    fn an_added_tag_goes_after_the_key_and_leaves_the_writers_escapes_as_written() {
        let body = "c\\pu\\=x,t=eas\\t\\ a va\\\"lue=1,s=\"a\\\\b\" 7\n";
        assert_eq!(
            out(&normalize(body, &site_token(), 1, 0)),
            "c\\pu\\=x,t=eas\\t\\ a,site=hn va\\\"lue=1,s=\"a\\\\b\" 7\n"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// A tag key or value: letters and the characters line protocol escapes
        /// (written escaped below).
        fn word() -> impl Strategy<Value = String> {
            proptest::string::string_regex("[a-z=, ]{1,6}").unwrap()
        }

        /// Escapes a tag key or value.
        fn esc(s: &str) -> String {
            s.replace(',', "\\,").replace('=', "\\=").replace(' ', "\\ ")
        }

        /// Pieces of line protocol, escaped and not: whatever order they come
        /// in, the body is something a client could send.
        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("m".to_string()),
                Just("ups".to_string()),
                // Whole tags, so bodies often repeat one.
                Just(",site=hn".to_string()),
                Just(",a=b".to_string()),
                Just(",a\\ =b".to_string()),
                Just(",site=".to_string()),
                Just(",host=".to_string()),
                Just(",device=".to_string()),
                Just(" v=".to_string()),
                Just("=".to_string()),
                Just(",".to_string()),
                Just(" ".to_string()),
                Just("\\".to_string()),
                Just("\"".to_string()),
                Just("\n".to_string()),
                Just("\r\n".to_string()),
                Just("\\,".to_string()),
                Just("\\=".to_string()),
                Just("\\ ".to_string()),
                Just("\\\"".to_string()),
                Just("\\\n".to_string()),
                Just("#".to_string()),
                Just("1".to_string()),
                Just("1i".to_string()),
                Just("true".to_string()),
                Just(" 17".to_string()),
                proptest::string::string_regex("[a-z]{1,4}").unwrap(),
            ]
        }

        /// The tag keys of a parsed line, as written.
        fn tag_keys(line: &str) -> Vec<String> {
            match parse::parse_line(line) {
                Ok(p) => p.tags.iter().map(|t| t.raw_key.to_string()).collect(),
                Err(e) => panic!("an accepted line does not parse back: {line:?}: {e}"),
            }
        }

        /// A valid line for the site token: a measurement, unique tags (not
        /// `site` or `host`), and a string field holding quotes, backslashes
        /// and the other special characters.
        fn good_line() -> impl Strategy<Value = String> {
            (
                proptest::string::string_regex("[a-z][a-z_]{0,5}").unwrap(),
                proptest::collection::btree_map(word(), word(), 0..4),
                proptest::string::string_regex("[a-z\"\\\\=, ]{0,8}").unwrap(),
                proptest::option::of(1i64..1_000_000),
            )
                .prop_filter("site and host tags would be checked against the token", |(_, tags, _, _)| {
                    !tags.contains_key("site") && !tags.contains_key("host")
                })
                .prop_map(|(m, tags, text, ts)| {
                    let tags: String = tags.iter().map(|(k, v)| format!(",{}={}", esc(k), esc(v))).collect();
                    let text = text.replace('\\', "\\\\").replace('"', "\\\"");
                    let ts = ts.map(|t| format!(" {t}")).unwrap_or_default();
                    format!("{m}{tags} s=\"{text}\",v=1i{ts}")
                })
        }

        /// A line the parser or the checks refuse, and how many physical lines
        /// it spans.
        fn bad_line() -> impl Strategy<Value = (String, usize)> {
            prop_oneof![
                word().prop_map(|k| (format!("m,{k}=a,{k}=b v=1", k = esc(&k)), 1)),
                word().prop_map(|k| (format!("m,{}=a", esc(&k)), 1)),
                Just(("m v=1x".to_string(), 1)),
                Just(("m v=1 17x".to_string(), 1)),
                Just(("m v=\"two\nlines\" 1".to_string(), 2)),
                Just(("m v=1\\\nups on_battery=true 1".to_string(), 2)),
            ]
        }

        /// What may come between lines and changes no numbering: nothing, a
        /// blank line, a comment.
        fn filler() -> impl Strategy<Value = &'static str> {
            prop_oneof![Just(""), Just("\n"), Just("# a comment, with = and \\ and ,\n"), Just("   \n")]
        }

        /// A piece of a name: plain, unicode, or an escape InfluxDB knows or
        /// keeps as written.
        fn name_piece() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("ü"),
                Just("\\,"),
                Just("\\ "),
                Just("\\="),
                Just("\\x"),
                Just("\""),
                Just("#"),
                Just("="),
                Just("\\\\"),
            ]
        }

        fn name() -> impl Strategy<Value = String> {
            proptest::collection::vec(name_piece(), 1..5).prop_map(|p| p.concat())
        }

        fn field_value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("1".to_string()),
                Just("-.5e1".to_string()),
                Just("1.".to_string()),
                Just("7i".to_string()),
                Just("8u".to_string()),
                Just("T".to_string()),
                Just("false".to_string()),
                proptest::string::string_regex("\"([a-z ,=ü]|\\\\\\\\|\\\\\")*\"").unwrap(),
            ]
        }

        /// Measurement, tags, fields (value as debug text), timestamp.
        type Reading = (String, Vec<(String, String)>, Vec<(String, String)>, Option<i64>);

        /// What a line reads as, with tags sorted.
        fn reading(line: &str) -> Reading {
            let l = parse::parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let mut tags: Vec<_> = l.tags.iter().map(|t| (t.key.to_string(), t.value.to_string())).collect();
            tags.sort();
            let fields = l.fields.iter().map(|f| (f.key.to_string(), format!("{:?}", f.value))).collect();
            (l.measurement.to_string(), tags, fields, l.timestamp)
        }
        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, max_global_rejects: 200_000, ..ProptestConfig::default() })]

            /// Whatever valid line a writer sends, the forwarded line reads
            /// the same, plus the token's tag and the receipt time.
            #[test]
            fn a_forwarded_line_reads_as_the_received_one_plus_the_added_tags(
                m in name(),
                tags in proptest::collection::vec((name(), name()), 0..4),
                fields in proptest::collection::vec((name(), field_value()), 1..4),
                ts in proptest::option::of(-5i64..5_000),
            ) {
                let tags: String = tags.iter().map(|(k, v)| format!(",{k}={v}")).collect();
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let ts = ts.map(|t| format!(" {t}")).unwrap_or_default();
                let line = format!("{m}{tags} {}{ts}", fields.join(","));
                let received = parse::parse_line(&line);
                prop_assume!(received.is_ok());
                let n = normalize(&format!("{line}\n"), &site_token(), 1, 42);
                prop_assume!(n.accepted == 1);
                let forwarded = out(&n).strip_suffix('\n').unwrap();
                let (m, mut tags, fields, ts) = reading(&line);
                prop_assume!(!tags.iter().any(|(k, _)| k == "site"));
                tags.push(("site".into(), "hn".into()));
                tags.sort();
                prop_assert_eq!(reading(forwarded), (m, tags, fields, Some(ts.unwrap_or(42))), "{:?} -> {:?}", line, forwarded);
            }

            /// Whatever the body, normalising it gives an answer, never a panic,
            /// and every line is accounted for.
            #[test]
            fn arbitrary_bodies_never_panic(body in "\\PC{0,300}") {
                let n = normalize(&body, &site_token(), 1, 7);
                prop_assert!(n.accepted as usize + n.invalid.len() + n.forbidden.len() <= body.lines().count().max(1));
            }

            /// Bodies built of escapes, quotes, line breaks and separators never
            /// panic, and what is accepted parses back as one line per point,
            /// none naming a tag key twice.
            #[test]
            fn what_is_accepted_parses_back_without_a_repeated_tag_key(
                pieces in proptest::collection::vec(piece(), 0..40),
            ) {
                let body: String = pieces.concat();
                let n = normalize(&body, &site_token(), 1, 7);
                let out = std::str::from_utf8(&n.out).unwrap();
                prop_assert_eq!(out.lines().count() as u64, n.accepted, "{:?} gave {:?}", body, out);
                for line in out.lines() {
                    let keys = tag_keys(line);
                    let distinct: BTreeSet<_> = keys.iter().collect();
                    prop_assert_eq!(distinct.len(), keys.len(), "{:?} from {:?}", line, body);
                }
                for e in n.invalid.iter().chain(&n.forbidden) {
                    prop_assert!(e.line >= 1 && e.line <= body.split('\n').count(), "{:?} in {:?}", e, body);
                }
            }

            /// In a body of good lines with one bad line at a known place
            /// (blank lines and comments between), the error names that line's
            /// physical number and every other line is accepted.
            #[test]
            fn the_one_bad_line_is_named_by_its_line_number(
                lines in proptest::collection::vec((good_line(), filler()), 0..8),
                (bad, bad_spans) in bad_line(),
                bad_filler in filler(),
                at in 0usize..8,
            ) {
                let at = at.min(lines.len());
                let mut body = String::new();
                let mut physical = 1;
                let mut bad_at = 0;
                for (i, (good, fill)) in lines.iter().enumerate() {
                    if i == at {
                        bad_at = physical;
                        body.push_str(&format!("{bad}\n{bad_filler}"));
                        physical += bad_spans + bad_filler.matches('\n').count();
                    }
                    body.push_str(&format!("{good}\n{fill}"));
                    physical += 1 + fill.matches('\n').count();
                }
                if at == lines.len() {
                    bad_at = physical;
                    body.push_str(&bad);
                }
                let n = normalize(&body, &site_token(), 1, 7);
                let refused: Vec<usize> = n.invalid.iter().chain(&n.forbidden).map(|e| e.line).collect();
                prop_assert_eq!(refused, vec![bad_at], "{:?}: {:?} {:?}", body, n.invalid, n.forbidden);
                prop_assert_eq!(n.accepted, lines.len() as u64, "{:?}", body);
            }

            /// A line that names a tag key twice is never accepted, however the
            /// keys and values are escaped or placed.
            #[test]
            fn a_repeated_tag_key_is_never_accepted(
                key in word(),
                a in word(),
                b in word(),
                other in proptest::collection::vec((word(), word()), 0..3),
                at in 0usize..3,
            ) {
                let mut tags: Vec<(String, String)> =
                    other.iter().filter(|(k, _)| esc(k) != esc(&key)).map(|(k, v)| (esc(k), esc(v))).collect();
                tags.insert(at.min(tags.len()), (esc(&key), esc(&a)));
                tags.push((esc(&key), esc(&b)));
                let tag_text: String = tags.iter().map(|(k, v)| format!(",{k}={v}")).collect();
                let line = format!("m{tag_text} v=1 1\n");
                let n = normalize(&line, &site_token(), 1, 7);
                prop_assert_eq!(n.accepted, 0, "{}", line);
                prop_assert!(n.out.is_empty());
                prop_assert_eq!(n.repeated_tag.len(), 1, "{}", line);
            }
        }
    }
}
