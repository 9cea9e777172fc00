//! A line-protocol reader that reads a line as InfluxDB 1.x does.
//!
//! The collector promises that what it accepts, InfluxDB accepts and stores
//! the same way. The surest way to keep that promise is to read the text
//! with InfluxDB's own rules, quirks included, so this is a port of the
//! scanner of InfluxDB's `models/points.go` (`scanLine`, `scanKey`,
//! `scanFields`, `scanNumber`, `scanBoolean`, `scanTime`) and of its
//! unescaping rules. tests/tests/line_protocol.rs checks it against a real
//! InfluxDB 1.6 over a corpus of several hundred bodies; where the collector
//! deliberately reads differently, docs/architecture.md says so.
//!
//! Everything here works on bytes: a line is only required to be UTF-8 by
//! the caller, after invalid bytes were replaced.

use std::borrow::Cow;
use std::fmt;

/// The largest series key InfluxDB 1.x stores (`models.MaxKeyLength`): the
/// measurement and tags as written, plus `#!~#` and the field key.
pub const MAX_KEY_BYTES: usize = 65535;

/// InfluxDB's time range (`models.MinNanoTime`, `models.MaxNanoTime`).
pub const MIN_TIME_NS: i64 = i64::MIN + 2;
pub const MAX_TIME_NS: i64 = i64::MAX - 1;

/// A field value as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
    Str(Cow<'a, str>),
}

impl Value<'_> {
    /// The type's name, as InfluxDB names it in a type conflict.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::F64(_) => "float",
            Value::I64(_) => "integer",
            Value::U64(_) => "unsigned",
            Value::Bool(_) => "boolean",
            Value::Str(_) => "string",
        }
    }
}

/// One field: the key as written (escaped) and unescaped, where its value
/// starts and ends in the line (byte offsets), and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<'a> {
    pub raw_key: &'a str,
    pub key: Cow<'a, str>,
    pub value: Value<'a>,
    pub value_at: (usize, usize),
}

/// One tag, as written and unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag<'a> {
    pub raw_key: &'a str,
    pub raw_value: &'a str,
    pub key: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

/// A line read as InfluxDB reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    pub text: &'a str,
    /// Where the measurement and tags end (the series key as written is
    /// `text[..key_end]`).
    pub key_end: usize,
    pub measurement: Cow<'a, str>,
    pub tags: Vec<Tag<'a>>,
    pub fields: Vec<Field<'a>>,
    pub timestamp: Option<i64>,
    /// Where the timestamp starts and ends, if there is one.
    pub timestamp_at: Option<(usize, usize)>,
}

impl Line<'_> {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.key == key).map(|t| t.value.as_ref())
    }
}

/// Why a line was refused, and where: `column` is 1-based, in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub column: usize,
    pub message: String,
    /// The line names a tag key twice (audited: an attempt to slip a
    /// second `site` or `host` past the check).
    pub repeated_tag: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

/// Splits a body into lines where InfluxDB does (`scanLine`): at a line
/// break that is neither escaped nor inside a quoted field value. Each item
/// is the byte offset of the line in `body` and the line, without its `\n`.
pub fn split_lines(body: &str) -> impl Iterator<Item = (usize, &str)> {
    let buf = body.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let mut i = pos;
        let (mut quoted, mut fields, mut equals) = (false, false, 0);
        while i < buf.len() {
            if buf[i] == b'\\' && i + 2 < buf.len() {
                i += 2;
                continue;
            }
            if buf[i] == b' ' {
                fields = true;
            }
            if fields {
                if !quoted && buf[i] == b'=' {
                    i += 1;
                    equals += 1;
                    continue;
                } else if buf[i] == b'"' && equals > 0 {
                    quoted = !quoted;
                }
            }
            if buf[i] == b'\n' && !quoted {
                break;
            }
            i += 1;
        }
        let i = i.min(buf.len());
        pos = i + 1;
        Some((start, &body[start..i]))
    })
}

/// Where a line starts once InfluxDB's leading whitespace (spaces, tabs and
/// NULs) is skipped; `None` for a line that is blank or a comment.
pub fn content_start(line: &str) -> Option<usize> {
    let start = skip_whitespace(line.as_bytes(), 0);
    match line.as_bytes().get(start) {
        None | Some(b'#') => None,
        Some(_) => Some(start),
    }
}

fn skip_whitespace(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && matches!(buf[i], b' ' | b'\t' | 0) {
        i += 1;
    }
    i
}

/// Reads one line (already stripped of leading whitespace, see
/// [`content_start`]).
pub fn parse_line(text: &str) -> Result<Line<'_>, ParseError> {
    let scan = Scan { text, buf: text.as_bytes() };
    let (measurement_end, has_tags) = scan.measurement()?;
    let (tags, key_end) = if has_tags { scan.tags(measurement_end + 1)? } else { (Vec::new(), measurement_end) };
    let measurement = unescape(&text[..measurement_end]);
    let (fields_start, fields_end) = scan.field_span(key_end)?;
    let fields = scan.fields(fields_start, fields_end)?;
    let (timestamp, timestamp_at) = scan.timestamp(fields_end)?;
    Ok(Line { text, key_end, measurement, tags, fields, timestamp, timestamp_at })
}

/// One line being read: its text, and errors at a column of it.
struct Scan<'a> {
    text: &'a str,
    buf: &'a [u8],
}

impl<'a> Scan<'a> {
    fn err(&self, at: usize, message: String) -> ParseError {
        ParseError { column: column(self.buf, at), message, repeated_tag: false }
    }

    /// The text from `from` to `to`, cut at 40 characters.
    fn quote(&self, from: usize, to: usize) -> String {
        let s = &self.text[boundary(self.text, from)..boundary(self.text, to)];
        if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s.to_string() }
    }

    /// Where the measurement ends (scanMeasurement), and whether tags follow it.
    fn measurement(&self) -> Result<(usize, bool), ParseError> {
        let buf = self.buf;
        let err = |at: usize, message: String| self.err(at, message);
        let quote = |from: usize, to: usize| self.quote(from, to);
        // The measurement (scanMeasurement).
        if buf.is_empty() || buf[0] == b',' {
            return Err(err(0, "the line has no measurement: it starts with a comma".into()));
        }
        let mut i = 0;
        let mut has_tags = false;
        loop {
            i += 1;
            if i >= buf.len() {
                return Err(err(i, format!("measurement `{}` is followed by no fields", quote(0, i))));
            }
            if buf[i - 1] == b'\\' {
                continue;
            }
            if buf[i] == b',' {
                has_tags = true;
                break;
            }
            if buf[i] == b' ' {
                break;
            }
        }
        Ok((i, has_tags))
    }

    /// The tags from `i` (scanTags: key, `=`, value, then `,` for another
    /// tag or ` ` for the fields), and where they end.
    fn tags(&self, mut i: usize) -> Result<(Vec<Tag<'a>>, usize), ParseError> {
        let (text, buf) = (self.text, self.buf);
        let err = |at: usize, message: String| self.err(at, message);
        let quote = |from: usize, to: usize| self.quote(from, to);
        let mut tags: Vec<Tag<'a>> = Vec::new();
        // scanTags: key, `=`, value, then `,` (another tag) or ` ` (fields).
        loop {
            let key_start = i;
            if i >= buf.len() || matches!(buf[i], b' ' | b',' | b'=') {
                let what = match buf.get(i) {
                    Some(b'=') => "a tag has an empty key (`=` right after the comma)",
                    Some(b',') => "two commas in a row (or a comma after the measurement) leave a tag empty",
                    _ => "a comma is followed by no tag (a trailing comma in the tags)",
                };
                return Err(err(i, what.into()));
            }
            loop {
                i += 1;
                if i >= buf.len() || (matches!(buf[i], b' ' | b',') && buf[i - 1] != b'\\') {
                    return Err(err(
                        key_start,
                        format!(
                            "tag `{}` has no value: no `=`, or only one after a backslash, which escapes it",
                            quote(key_start, i)
                        ),
                    ));
                }
                if buf[i] == b'=' && buf[i - 1] != b'\\' {
                    break;
                }
            }
            let key_end = i;
            i += 1;
            let value_start = i;
            if i >= buf.len() || matches!(buf[i], b',' | b' ') {
                return Err(err(value_start, format!("tag `{}` has an empty value", quote(key_start, key_end))));
            }
            let more = loop {
                i += 1;
                if i >= buf.len() {
                    return Err(err(i, format!("tag `{}` is followed by no fields", quote(key_start, key_end))));
                }
                if buf[i] == b'=' && buf[i - 1] != b'\\' {
                    return Err(err(
                        i,
                        format!(
                            "tag `{}`: its value `{}` holds an unescaped `=` (write it `\\=`)",
                            quote(key_start, key_end),
                            quote(value_start, i + 1)
                        ),
                    ));
                }
                if buf[i] == b',' && buf[i - 1] != b'\\' {
                    break true;
                }
                if buf[i] == b' ' && buf[i - 1] != b'\\' {
                    break false;
                }
            };
            let (raw_key, raw_value) = (&text[key_start..key_end], &text[value_start..i]);
            tags.push(Tag { raw_key, raw_value, key: unescape_tag(raw_key), value: unescape_tag(raw_value) });
            if !more {
                break;
            }
            i += 1;
        }
        // Duplicate keys, compared as written, as InfluxDB does.
        for (n, t) in tags.iter().enumerate() {
            if tags[..n].iter().any(|o| o.raw_key == t.raw_key) {
                let at = t.raw_key.as_ptr() as usize - text.as_ptr() as usize;
                return Err(ParseError { repeated_tag: true, ..err(at, format!("tag `{}` appears twice", t.key)) });
            }
        }
        Ok((tags, i))
    }

    /// Where the fields start and end (scanFields), each value's form
    /// checked on the way (scanFieldValue).
    fn field_span(&self, key_end: usize) -> Result<(usize, usize), ParseError> {
        let buf = self.buf;
        let err = |at: usize, message: String| self.err(at, message);
        let quote = |from: usize, to: usize| self.quote(from, to);
        let fields_start = skip_whitespace(buf, key_end);
        let mut i = fields_start;
        let (mut quoted, mut equals, mut commas) = (false, 0usize, 0usize);
        let mut quote_at = 0;
        while i < buf.len() {
            if buf[i] == b'\\' && i + 1 < buf.len() {
                i += 2;
                continue;
            }
            if buf[i] == b'"' && equals > commas {
                quoted = !quoted;
                quote_at = i;
                i += 1;
                continue;
            }
            if buf[i] == b'=' && !quoted {
                equals += 1;
                let before = |n: usize| if i >= n { buf.get(i - n).copied() } else { None };
                if (before(1) == Some(b' ') || before(1) == Some(b',')) && before(2) != Some(b'\\') || i == fields_start
                {
                    return Err(err(i, "a field has an empty key (`=` with nothing before it)".into()));
                }
                let key = field_key_before(buf, fields_start, i);
                if i + 1 >= buf.len() || matches!(buf[i + 1], b',' | b' ') {
                    return Err(err(i + 1, format!("field `{}` has no value after `=`", quote(key, i))));
                }
                let c = buf[i + 1];
                if c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'N' || c == b'n' {
                    i = scan_number(buf, i + 1).map_err(|(at, why)| {
                        let end = (i + 1..buf.len()).find(|&j| matches!(buf[j], b',' | b' ')).unwrap_or(buf.len());
                        err(at, format!("field `{}`: `{}` {why}", quote(key, i), quote(i + 1, end)))
                    })?;
                    continue;
                }
                if c != b'"' {
                    i = scan_boolean(buf, i + 1).map_err(|end| {
                        err(
                            i + 1,
                            format!(
                                "field `{}`: `{}` is not a number, a boolean or a quoted string",
                                quote(key, i),
                                quote(i + 1, end)
                            ),
                        )
                    })?;
                    continue;
                }
            }
            if buf[i] == b',' && !quoted {
                commas += 1;
            }
            if buf[i] == b' ' && !quoted {
                break;
            }
            i += 1;
        }
        if quoted {
            let key = field_key_before(buf, fields_start, quote_at.saturating_sub(1));
            return Err(err(
                quote_at,
                format!(
                    "unbalanced quote in field `{}` starting at column {}",
                    quote(key, quote_at.saturating_sub(1)),
                    column(buf, quote_at)
                ),
            ));
        }
        let fields_end = i;
        if fields_start >= fields_end {
            return Err(err(fields_start, format!("`{}` has no fields", quote(0, key_end))));
        }
        if equals == 0 || commas != equals - 1 {
            let what = if equals == 0 {
                format!("`{}` is no field (`key=value`)", quote(fields_start, fields_end))
            } else if buf[fields_end - 1] == b',' {
                "the fields end in a comma (a trailing comma)".to_string()
            } else {
                format!("`{}` is not a list of `key=value` fields separated by commas", quote(fields_start, fields_end))
            };
            return Err(err(fields_start, what));
        }
        Ok((fields_start, fields_end))
    }

    /// The fields between `fields_start` and `fields_end`, each read.
    fn fields(&self, fields_start: usize, fields_end: usize) -> Result<Vec<Field<'a>>, ParseError> {
        let (text, buf) = (self.text, self.buf);
        let err = |at: usize, message: String| self.err(at, message);
        let quote = |from: usize, to: usize| self.quote(from, to);
        let mut fields = Vec::new();
        let mut j = fields_start;
        while j < fields_end {
            // The key, up to its unescaped `=` (InfluxDB's `scanTo`).
            let key_start = j;
            while j < fields_end && !(buf[j] == b'=' && buf[j - 1] != b'\\') {
                j += 1;
            }
            if j + 2 > fields_end {
                return Err(err(
                    key_start,
                    format!("field `{}` has no unescaped `=` before its value", quote(key_start, fields_end)),
                ));
            }
            let raw_key = &text[key_start..j];
            j += 1;
            let value_start = j;
            let mut quoted = false;
            while j < fields_end {
                if buf[j] == b'\\' && j + 1 < fields_end && matches!(buf[j + 1], b'"' | b'\\') {
                    j += 2;
                    continue;
                }
                if buf[j] == b'"' {
                    quoted = !quoted;
                    j += 1;
                    continue;
                }
                if buf[j] == b',' && !quoted {
                    break;
                }
                j += 1;
            }
            let raw = &text[value_start..j];
            let value = read_value(raw).map_err(|why| err(value_start, format!("field `{raw_key}`: `{raw}` {why}")))?;
            let key = unescape(raw_key);
            fields.push(Field { raw_key, key, value, value_at: (value_start, j) });
            j += 1;
        }

        Ok(fields)
    }

    /// The timestamp after the fields (scanTime), then nothing but spaces.
    #[allow(clippy::type_complexity)]
    fn timestamp(&self, fields_end: usize) -> Result<(Option<i64>, Option<(usize, usize)>), ParseError> {
        let (text, buf) = (self.text, self.buf);
        let err = |at: usize, message: String| self.err(at, message);
        let quote = |from: usize, to: usize| self.quote(from, to);
        let ts_start = skip_whitespace(buf, fields_end);
        let mut k = ts_start;
        while k < buf.len() && !matches!(buf[k], b'\n' | b' ') {
            if !(buf[k].is_ascii_digit() || (k == ts_start && buf[k] == b'-')) {
                let end = (k..buf.len()).find(|&j| buf[j] == b' ').unwrap_or(buf.len());
                return Err(err(
                    k,
                    format!("`{}` after the fields is not a timestamp (an integer)", quote(ts_start, end.max(k + 1))),
                ));
            }
            k += 1;
        }
        Ok(if k == ts_start {
            (None, None)
        } else {
            let t: i64 = text[ts_start..k]
                .parse()
                .map_err(|_| err(ts_start, format!("timestamp `{}` is not a 64-bit integer", quote(ts_start, k))))?;
            if let Some(p) = buf[k..].iter().position(|b| *b != b' ') {
                return Err(err(
                    k + p,
                    format!("`{}` after the timestamp: a line ends after its timestamp", quote(k + p, buf.len())),
                ));
            }
            (Some(t), Some((ts_start, k)))
        })
    }
}

/// The 1-based column, in characters, of byte `at`.
fn column(buf: &[u8], at: usize) -> usize {
    buf[..at.min(buf.len())].iter().filter(|b| (**b & 0xC0) != 0x80).count() + 1
}

/// `at`, or the start of the character it falls in.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Where the field key that ends at `eq` starts.
fn field_key_before(buf: &[u8], fields_start: usize, eq: usize) -> usize {
    let mut start = fields_start;
    let mut j = fields_start;
    while j < eq {
        if buf[j] == b'\\' {
            j += 2;
            continue;
        }
        if buf[j] == b',' {
            start = j + 1;
        }
        j += 1;
    }
    start.min(eq)
}

/// `scanNumber`: where the number starting at `i` ends, or where and why
/// it is not one.
fn scan_number(buf: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    let start = i;
    let (mut is_int, mut is_unsigned, mut decimal, mut scientific) = (false, false, false, false);
    const BAD: &str = "is not a number";
    if buf[i] == b'-' {
        i += 1;
        if i == buf.len() {
            return Err((i, BAD));
        }
    }
    while i < buf.len() {
        let c = buf[i];
        if c == b',' || c == b' ' {
            break;
        }
        if c == b'i' && i > start && !(is_int || is_unsigned) {
            is_int = true;
            i += 1;
            continue;
        } else if c == b'u' && i > start && !(is_int || is_unsigned) {
            is_unsigned = true;
            i += 1;
            continue;
        }
        if c == b'.' {
            if decimal {
                return Err((i, "has two decimal points"));
            }
            decimal = true;
        }
        if i > start && (c == b'e' || c == b'E') {
            scientific = true;
            i += 1;
            continue;
        }
        if (c == b'+' || c == b'-') && matches!(buf[i - 1], b'e' | b'E') {
            i += 1;
            continue;
        }
        if i + 2 < buf.len() && (c == b'N' || c == b'n') {
            return Err((i, "is not a number (NaN cannot be stored)"));
        }
        if !(c.is_ascii_digit() || c == b'.') {
            return Err((i, BAD));
        }
        i += 1;
    }
    if (is_int || is_unsigned) && (decimal || scientific) {
        return Err((start, "is an integer with a decimal point or an exponent"));
    }
    let mut digits = i - start;
    if is_int || is_unsigned {
        digits -= 1;
    }
    if decimal {
        digits -= 1;
    }
    if buf[start] == b'-' {
        digits -= 1;
    }
    if digits == 0 {
        return Err((start, "has no digits"));
    }
    if (is_int || is_unsigned) && !matches!(buf[i - 1], b'i' | b'u') {
        return Err((start, BAD));
    }
    Ok(i)
}

/// `scanBoolean`: where the boolean starting at `i` ends, or where the
/// word that is none ends.
fn scan_boolean(buf: &[u8], i: usize) -> Result<usize, usize> {
    let start = i;
    let end = (i..buf.len()).find(|&j| matches!(buf[j], b',' | b' ')).unwrap_or(buf.len());
    match &buf[start..end] {
        b"t" | b"T" | b"f" | b"F" | b"true" | b"True" | b"TRUE" | b"false" | b"False" | b"FALSE" => Ok(end),
        _ => Err(end),
    }
}

/// Reads a field value the scan found well formed.
fn read_value(raw: &str) -> Result<Value<'_>, &'static str> {
    let b = raw.as_bytes();
    Ok(match b.first() {
        Some(b'"') => {
            // InfluxDB takes what is between the first and the last byte,
            // whatever the last byte is (`"abc"x` is `abc"`).
            if raw.len() >= 2 && raw.is_char_boundary(raw.len() - 1) {
                Value::Str(unescape_string(&raw[1..raw.len() - 1]))
            } else {
                let inner = to_utf8(&b[1.min(b.len())..b.len().saturating_sub(1).max(1)]).into_owned();
                Value::Str(unescape_string(&inner).into_owned().into())
            }
        }
        Some(b't' | b'T') => Value::Bool(true),
        Some(b'f' | b'F') => Value::Bool(false),
        _ if raw.ends_with('i') => {
            Value::I64(raw[..raw.len() - 1].parse().map_err(|_| "is outside the range of a 64-bit integer")?)
        }
        _ if raw.ends_with('u') => {
            Value::U64(raw[..raw.len() - 1].parse().map_err(|_| "is outside the range of a 64-bit unsigned integer")?)
        }
        _ => {
            let v: f64 = parse_float(raw).ok_or("is not a number")?;
            if v.is_infinite() {
                return Err("is outside the range of a 64-bit float");
            }
            Value::F64(v)
        }
    })
}

/// Go's `strconv.ParseFloat` takes `1.` and `.5`, and so does Rust's; both
/// refuse a lone `.`, and Rust also takes `inf`, which the scan never lets
/// through.
fn parse_float(raw: &str) -> Option<f64> {
    raw.parse().ok()
}

/// Tag keys and values: `\,`, `\ ` and `\=` are escapes; any other
/// backslash is kept.
fn unescape_tag(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return s.into();
    }
    s.replace("\\,", ",").replace("\\ ", " ").replace("\\=", "=").into()
}

/// Measurements and field keys (InfluxDB's `escape.Unescape`): `\,`, `\"`,
/// `\ ` and `\=` are escapes; any other backslash is kept.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && matches!(n, ',' | '"' | ' ' | '=')
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out.into()
}

/// String field values: `\\` and `\"` are escapes; any other backslash is
/// kept.
fn unescape_string(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && matches!(n, '\\' | '"')
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out.into()
}

/// Escapes a tag key or value so that [`parse_line`] reads it back: `,`,
/// ` ` and `=` get a backslash. A backslash before one of those, or at the
/// end, cannot be written so that InfluxDB reads it back, so such a value is
/// refused (`None`).
pub fn escape_tag(s: &str) -> Option<String> {
    let b = s.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'\\' && (i + 1 == b.len() || matches!(b[i + 1], b',' | b' ' | b'=' | b'\\')) {
            return None;
        }
        if matches!(c, b'\n' | b'\r') {
            return None;
        }
    }
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, ',' | ' ' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    Some(out)
}

/// Replaces each byte that is not part of valid UTF-8 with U+FFFD, as
/// InfluxDB's JSON answers show them (Go replaces each bad byte by one
/// U+FFFD; Rust's lossy conversion would merge some).
pub fn to_utf8(raw: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(raw) {
        return s.into();
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{FFFD}');
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Line<'_> {
        parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn refused(line: &str) -> String {
        match parse_line(line) {
            Ok(l) => panic!("{line:?} was accepted: {l:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn floats_in_every_form_influxdb_takes_are_read() {
        for (text, v) in [(".1", 0.1), ("-.42", -0.42), (".5e1", 5.0), ("1.", 1.0), ("1.e5", 1e5), ("-1.", -1.0)] {
            let line = format!("m v={text} 1");
            assert_eq!(ok(&line).fields[0].value, Value::F64(v), "{text}");
        }
    }

    #[test]
    fn malformed_numbers_are_refused_with_what_is_wrong() {
        assert_eq!(refused("m v=1.2.3 1"), "column 8: field `v`: `1.2.3` has two decimal points");
        assert_eq!(refused("m v=. 1"), "column 5: field `v`: `.` has no digits");
        assert_eq!(refused("m v=1e400 1"), "column 5: field `v`: `1e400` is outside the range of a 64-bit float");
        assert_eq!(
            refused("m v=9223372036854775808i 1"),
            "column 5: field `v`: `9223372036854775808i` is outside the range of a 64-bit integer"
        );
    }

    #[test]
    fn escapes_are_read_as_influxdb_reads_them() {
        // A backslash before a separator escapes it, even an escaped one.
        let l = ok(r#"c\pu\=x,two=a\\ b,t=eas\t\ a va\"lue=1,s=1 1"#);
        assert_eq!(l.measurement, r"c\pu=x");
        assert_eq!(l.tags[0].value, r"a\ b");
        assert_eq!(l.tags[1].value, r"eas\t a");
        assert_eq!(
            refused(r"m,reg\\=ion v=1"),
            r"column 3: tag `reg\\=ion` has no value: no `=`, or only one after a backslash, which escapes it"
        );
        assert_eq!(l.fields[0].key, "va\"lue");
    }

    #[test]
    fn bad_tags_are_refused_as_influxdb_refuses_them() {
        assert_eq!(refused("m,a=b, v=1 1"), "column 7: a comma is followed by no tag (a trailing comma in the tags)");
        assert_eq!(
            refused("m,h,ost=x v=1"),
            "column 3: tag `h` has no value: no `=`, or only one after a backslash, which escapes it"
        );
        assert_eq!(
            refused("m,h=ost=x v=1"),
            "column 8: tag `h`: its value `ost=` holds an unescaped `=` (write it `\\=`)"
        );
        assert_eq!(refused("m,a=1,a=2 v=1"), "column 7: tag `a` appears twice");
    }

    #[test]
    fn an_unbalanced_quote_names_its_field_and_column() {
        assert_eq!(
            refused(r#"m,h=a n=1,msg="oops 1"#),
            "column 15: unbalanced quote in field `msg` starting at column 15"
        );
    }

    #[test]
    fn a_trailing_comma_in_the_fields_is_refused() {
        assert_eq!(refused("m v=1, 1"), "column 3: the fields end in a comma (a trailing comma)");
    }

    #[test]
    fn lines_are_split_where_influxdb_splits_them() {
        let body = "a v=1\nb s=\"x\ny\" 1\nc v=\\\n2";
        let lines: Vec<_> = split_lines(body).collect();
        assert_eq!(lines, vec![(0, "a v=1"), (6, "b s=\"x\ny\" 1"), (18, "c v=\\\n2")]);
    }

    #[test]
    fn leading_spaces_tabs_and_nuls_are_skipped_and_comments_and_blank_lines_are_no_points() {
        assert_eq!(content_start(" \t\0m v=1"), Some(3));
        assert_eq!(content_start("\0"), None);
        assert_eq!(content_start("  # note"), None);
        // Inside a line they are part of what they are in.
        let l = ok("m\0x,t=a\tb v=1 1");
        assert_eq!((l.measurement.as_ref(), l.tag("t")), ("m\0x", Some("a\tb")));
    }

    #[test]
    fn a_string_value_is_what_lies_between_its_first_and_last_byte() {
        // InfluxDB 1.x takes `"abc"x` as `abc"`, and `"a""b"` as `a""b`.
        assert_eq!(ok(r#"m s="abc"x 1"#).fields[0].value, Value::Str(r#"abc""#.into()));
        assert_eq!(ok(r#"m s="a""b" 1"#).fields[0].value, Value::Str(r#"a""b"#.into()));
        assert_eq!(ok(r#"m s="a\"b\\" 1"#).fields[0].value, Value::Str(r#"a"b\"#.into()));
    }

    #[test]
    fn each_invalid_byte_becomes_one_replacement_character() {
        assert_eq!(to_utf8(b"a\xe2\x82\"b\xff"), "a\u{FFFD}\u{FFFD}\"b\u{FFFD}");
    }

    #[test]
    fn escaped_tags_parse_back() {
        for s in ["a b", "a,b=c", "x\\y", "ü ,="] {
            let line = format!("m,t={} v=1", escape_tag(s).unwrap());
            assert_eq!(ok(&line).tag("t"), Some(s), "{line}");
        }
        assert_eq!(escape_tag("a\\"), None);
        assert_eq!(escape_tag("a\\ b"), None);
    }
}
