//! Loading YAML configuration files: secret references, parsing with
//! positions, and errors a technician can act on.
//!
//! The file is deserialized straight into the typed config structs with
//! `serde-saphyr`, which keeps line and column numbers. We never parse into
//! an untyped value first: that would lose the positions. `${VAR}` and
//! `${file:PATH}` references are replaced inside the parsed string values
//! (`substitute.rs`), so a secret is data whatever it holds; a scan of the
//! text beforehand finds them all and reports an unset variable or an
//! unreadable file at its line and column.

pub mod duration;
mod positions;
mod substitute;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a configuration could not be loaded. `Display` gives the whole story on
/// one or more lines, each starting with `file:line:column` where known.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(u64, u64)>,
    pub message: String,
}

impl Problem {
    pub fn at(line: u64, column: u64, message: impl Into<String>) -> Self {
        Problem { position: Some((line, column)), message: message.into() }
    }

    /// A problem found after parsing. When its message starts with the key
    /// path (`alarms.routes[2].receivers[0]: …`; names in parentheses after a
    /// list item are skipped), [`parse`] puts it at that key's line and
    /// column, or at the nearest enclosing key written in the file.
    pub fn general(message: impl Into<String>) -> Self {
        Problem { position: None, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.position {
                Some((line, col)) => write!(f, "{path}:{line}:{col}: {}", p.message)?,
                None => write!(f, "{path}: {}", p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Defaults shared by the agent's `output` and the collector's `sinks[]`, for
/// `#[serde(default = "…")]`.
pub mod defaults {
    pub fn yes() -> bool {
        true
    }
    /// Organisation, bucket and database name.
    pub fn dcwatch() -> String {
        "dcwatch".into()
    }
    pub fn batch_max_lines() -> u64 {
        5000
    }
    pub fn flush_interval_ms() -> u64 {
        1000
    }
    pub fn timeout_ms() -> u64 {
        10_000
    }
    pub fn shutdown_timeout_secs() -> u64 {
        10
    }
    pub fn max_age_secs() -> u64 {
        7 * 24 * 3600
    }
    pub fn drop_min_age_secs() -> u64 {
        3600
    }
}

/// A config that can check itself after parsing. Every problem is collected
/// so a technician sees all of them in one go, not one per restart.
pub trait Validate {
    fn validate(&self, problems: &mut Vec<Problem>);
}

/// Reads, expands and parses `path`, then validates the result.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let err = |problems| ConfigError { path: path.to_path_buf(), problems };
    let raw = std::fs::read_to_string(path).map_err(|e| {
        err(vec![Problem::general(format!("cannot read the config file: {e}; pass an existing file with -c/--config"))])
    })?;
    parse(&raw, path).map_err(err)
}

/// Parses config text (already read from `base` — used to resolve relative
/// `${file:…}` paths).
pub fn parse<T: DeserializeOwned + Validate>(raw: &str, base: &Path) -> Result<T, Vec<Problem>> {
    let base_dir = base.parent().unwrap_or(Path::new(".")).to_path_buf();
    let resolved = references(raw, &base_dir)?;
    let secrets = substitute::Secrets { base_dir, resolved };
    let value: Result<T, _> = serde_saphyr::with_deserializer_from_str(raw, |de| {
        T::deserialize(substitute::Expand { inner: de, secrets: &secrets })
    });
    let positions = positions::Positions::of(raw);
    let value = value.map_err(|e| vec![yaml_problem(&e, &positions, &secrets)])?;
    let mut problems = Vec::new();
    value.validate(&mut problems);
    for p in problems.iter_mut().filter(|p| p.position.is_none()) {
        p.position = positions::leading_path(&p.message).and_then(|path| positions.nearest(&path));
    }
    if problems.is_empty() { Ok(value) } else { Err(problems) }
}

fn yaml_problem(e: &serde_saphyr::Error, positions: &positions::Positions, secrets: &substitute::Secrets) -> Problem {
    // serde-saphyr's Display renders a multi-line snippet; the first line of the
    // plain message is what we want after our own `file:line:col:` prefix.
    let message = e.to_string();
    let message = first_meaningful_line(&message);
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ")
        && let Some(loc) = e.location()
    {
        // The message goes on about serde-saphyr's options, which are not ours.
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        let at = (loc.line(), loc.column());
        // The path records the first of the two; this one is at `at`.
        let message = match positions.at_key(at) {
            Some((path, first)) if first.key != at => {
                format!("`{path}`: duplicate key (first at {}:{}); keep one", first.key.0, first.key.1)
            }
            Some((path, _)) => format!("`{path}`: duplicate key; keep one"),
            None => format!("`{key}`: duplicate key; keep one"),
        };
        return Problem::at(at.0, at.1, message);
    }
    match e.location() {
        Some(loc) if loc.line() > 0 => {
            let mut at = (loc.line(), loc.column());
            if message.contains(", expected a duration ") {
                // serde-saphyr puts a visitor's error at the key (or the
                // enclosing map): the value at fault is the key's, or the
                // map's first duration key that is no duration — judged on
                // the value serde saw (`${VAR}` put in; `~` a null).
                let null_refused = message.contains("unit value") || message.contains("null");
                let refused = |(path, n): &(&str, &positions::Node)| {
                    let text = n.scalar.as_deref().map(|t| secrets.substitute(t).unwrap_or(t.into()));
                    duration::refuses(path, text.as_deref(), null_refused) == Some(true)
                };
                let in_map =
                    || positions.container_at(at).and_then(|map| positions.children(map).into_iter().find(refused));
                if let Some((_, node)) = positions.at_key(at).filter(refused).or_else(in_map) {
                    at = node.value;
                }
            }
            // An internally tagged enum (`sources[0]`, by `type`) is
            // buffered before its fields are read, and serde-saphyr puts
            // their errors at the item: the value is found by its text. When
            // two values below the item are written the same, nothing tells
            // which was refused: the message names both, at the item.
            let mut either = None;
            if let Some(text) = unexpected_scalar(&message)
                && let Some(map) = positions.container_at(at)
            {
                let same: Vec<_> =
                    positions.descendants(map).into_iter().filter(|(_, n)| n.scalar.as_deref() == Some(text)).collect();
                match same.as_slice() {
                    [(_, node)] => at = node.value,
                    [] => {}
                    many => {
                        let names: Vec<String> =
                            many.iter().map(|(p, n)| format!("{p} ({}:{})", n.value.0, n.value.1)).collect();
                        either = Some((names.join(" or "), format!("`{}`", text)));
                    }
                }
            }
            let message = match (&either, positions.at_value(at)) {
                (Some((paths, found)), _) => in_words(&message, paths, found).unwrap_or(message),
                (None, Some((path, found))) => in_words(&message, path, found).unwrap_or(message),
                (None, None) => message,
            };
            // At an alias: what is wrong is written at its anchor.
            let message = match positions.anchor_of(at) {
                Some((l, c)) => format!("{message} (the alias stands for what is written at {l}:{c})"),
                None => message,
            };
            Problem::at(at.0, at.1, message)
        }
        _ => Problem::general(message),
    }
}

/// The value serde names in `invalid type: string "many", expected u32`.
fn unexpected_scalar(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: "))?;
    let (unexpected, _) = rest.rsplit_once(", expected ")?;
    if let Some(s) = unexpected.strip_prefix("string \"") {
        return s.strip_suffix('"');
    }
    let (_, quoted) = unexpected.split_once(" `")?;
    quoted.strip_suffix('`')
}

/// A type error in words, naming its key: `agent.max_gap: expected a whole
/// number from 0 to 65535, found `lots`` rather than `invalid u16`. None for
/// the errors that are clear already (unknown field, missing field, …).
fn in_words(message: &str, path: &str, found: &str) -> Option<String> {
    let unit = [("_secs", " of seconds"), ("_ms", " of milliseconds"), ("_days", " of days"), ("_bytes", " of bytes")]
        .iter()
        .find(|(end, _)| path.ends_with(end))
        .map_or("", |(_, words)| words);
    let whole = |range: &str| format!("a whole number{unit}{range}");
    let expected = match message {
        "invalid u8" => whole(" from 0 to 255"),
        "invalid u16" => whole(" from 0 to 65535"),
        "invalid u32" | "invalid u64" | "invalid u128" | "invalid usize" => whole(""),
        "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64" | "invalid i128" | "invalid isize" => {
            format!("a whole number{unit} (may be negative)")
        }
        "invalid floating point" => "a number".into(),
        "invalid boolean" => "true or false".into(),
        "invalid char" => "one character".into(),
        "expected string scalar" => "a single value (text or a number)".into(),
        "expected sequence start" => "a list".into(),
        "expected mapping start" => "a map (keys with values)".into(),
        m if m.starts_with("unknown variant ") => return Some(format!("{path}: {m}")),
        m => {
            // serde's own words: `invalid type: string "ten", expected a duration …`.
            let rest = m.strip_prefix("invalid type: ").or_else(|| m.strip_prefix("invalid value: "))?;
            let (_, expected) = rest.rsplit_once(", expected ")?;
            match expected {
                "u8" => whole(" from 0 to 255"),
                "u16" => whole(" from 0 to 65535"),
                "u32" | "u64" | "u128" | "usize" => whole(""),
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => format!("a whole number{unit} (may be negative)"),
                "f32" | "f64" => "a number".into(),
                "a boolean" => "true or false".into(),
                "a string" => "text".into(),
                "a sequence" => "a list".into(),
                e => e.to_string(),
            }
        }
    };
    Some(format!("{path}: expected {expected}, found {found}"))
}

/// The message without the position and severity serde-saphyr puts in front
/// (`error: line 3 column 3: unknown field …`): our own prefix says both.
fn first_meaningful_line(s: &str) -> String {
    let mut line = s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("invalid YAML");
    line = line.strip_prefix("error: ").unwrap_or(line);
    if let Some(rest) = line.strip_prefix("line ")
        && let Some((pos, msg)) = rest.split_once(": ")
        && pos.split(" column ").all(|n| n.chars().all(|c| c.is_ascii_digit()))
    {
        line = msg;
    }
    line.to_string()
}

/// Finds the `${NAME}` (environment) and `${file:PATH}` (a file's contents,
/// trailing newline removed; relative paths are relative to the config
/// file's folder) references in the text and resolves them, each problem at
/// its line and column. `$${` stands for a literal `${`. Comments are
/// skipped, so a commented-out `${TOKEN}` does not need to be defined.
///
/// The text is not changed: the values are put in after parsing, inside the
/// string values that hold the references (`substitute.rs`).
pub fn references(raw: &str, base_dir: &Path) -> Result<HashMap<String, String>, Vec<Problem>> {
    let mut found = HashMap::new();
    let mut problems = Vec::new();
    for (idx, line) in raw.split_inclusive('\n').enumerate() {
        let line_no = idx as u64 + 1;
        if line.trim_start().starts_with('#') || !line.contains('$') {
            continue;
        }
        // A `${…}` in a trailing comment is no reference.
        let line = &line[..comment_start(line).unwrap_or(line.len())];
        let mut rest = line;
        let mut col = 1u64;
        while let Some(pos) = rest.find('$') {
            col += rest[..pos].chars().count() as u64;
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("$${") {
                rest = after;
                col += 3;
                continue;
            }
            if !tail.starts_with("${") {
                rest = &tail[1..];
                col += 1;
                continue;
            }
            let Some(end) = tail.find('}') else {
                problems.push(Problem::at(line_no, col, "unclosed `${`: write `${NAME}`, or `$${` for a literal"));
                break;
            };
            let name = &tail[2..end];
            if !found.contains_key(name) {
                match resolve(name, base_dir) {
                    Ok(value) => {
                        found.insert(name.to_string(), value);
                    }
                    Err(msg) => problems.push(Problem::at(line_no, col, msg)),
                }
            }
            col += tail[..=end].chars().count() as u64;
            rest = &tail[end + 1..];
        }
    }
    if problems.is_empty() { Ok(found) } else { Err(problems) }
}

/// Where a YAML comment starts on a line: a `#` after whitespace, outside quotes.
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double, mut prev) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

fn resolve(name: &str, base_dir: &Path) -> Result<String, String> {
    if let Some(file) = name.strip_prefix("file:") {
        let path = base_dir.join(file);
        return std::fs::read_to_string(&path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("`${{{name}}}`: cannot read {}: {e}", path.display()));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`${{{name}}}` is not a valid reference: use `${{NAME}}` (letters, digits, _) or `${{file:PATH}}`"
        ));
    }
    std::env::var(name).map_err(|_| {
        format!(
            "environment variable `{name}` is not set (referenced as `${{{name}}}`); set it, or use `${{file:PATH}}`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(default)]
        interval_secs: u64,
    }

    impl Validate for Sample {
        fn validate(&self, problems: &mut Vec<Problem>) {
            if self.interval_secs == 0 {
                problems.push(Problem::general("interval_secs: must be at least 1"));
            }
        }
    }

    fn parse_sample(text: &str) -> Result<Sample, Vec<Problem>> {
        parse(text, Path::new("/nonexistent/x.yaml"))
    }

    #[test]
    fn an_unknown_key_is_reported_at_its_line_and_column() {
        let problems = parse_sample("name: a\n  \ninterval_secs: 5\nintreval: 3\n").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].position, Some((4, 1)));
        assert_eq!(problems[0].message, "unknown field `intreval`, expected one of name, interval_secs");
    }

    #[test]
    fn a_wrong_type_is_reported_at_the_value_naming_the_key_and_the_kind_in_words() {
        let problems = parse_sample("name: a\ninterval_secs: ten\n").unwrap_err();
        assert_eq!(
            problems,
            vec![Problem::at(2, 16, "interval_secs: expected a whole number of seconds, found `ten`")]
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Kinds {
        #[serde(default)]
        port: u16,
        #[serde(default)]
        pct: f64,
        #[serde(default)]
        on: bool,
        #[serde(default)]
        name: String,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        map: std::collections::BTreeMap<String, String>,
        #[serde(default, deserialize_with = "duration::secs")]
        wait_secs: u64,
        #[serde(default)]
        nested: Vec<Sample>,
    }

    impl Validate for Kinds {
        fn validate(&self, _: &mut Vec<Problem>) {}
    }

    #[test]
    fn each_kind_of_value_is_named_in_words_with_what_was_found() {
        for (text, want) in [
            ("port: 70000", "port: expected a whole number from 0 to 65535, found `70000`"),
            ("pct: high", "pct: expected a number, found `high`"),
            ("on: maybe", "on: expected true or false, found `maybe`"),
            ("name: [a, b]", "name: expected a single value (text or a number), found a list"),
            ("list: x", "list: expected a list, found `x`"),
            ("map: [x]", "map: expected a map (keys with values), found a list"),
            (
                "wait_secs: soon",
                "wait_secs: expected a duration such as 30s, 5m, 1h30m or a number of seconds, found `soon`",
            ),
            (
                "wait_secs: 1.5",
                "wait_secs: expected a duration such as 30s, 5m, 1h30m or a number of seconds, found `1.5`",
            ),
            (
                "nested:\n  - name: a\n    interval_secs: -1",
                "nested[0].interval_secs: expected a whole number of seconds, found `-1`",
            ),
        ] {
            let problems = parse::<Kinds>(&format!("{text}\n"), Path::new("/nonexistent/x.yaml")).unwrap_err();
            assert_eq!(
                problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>(),
                vec![want],
                "{text} {problems:?}"
            );
        }
    }

    #[test]
    fn environment_references_are_expanded() {
        // SAFETY: tests in this module set only this variable, with a unique name.
        unsafe { std::env::set_var("DCWATCH_TEST_EXPAND_NAME", "ups-room") };
        let s = parse_sample("name: ${DCWATCH_TEST_EXPAND_NAME}\ninterval_secs: 1\n").unwrap();
        assert_eq!(s.name, "ups-room");
    }

    #[test]
    fn an_undefined_variable_names_itself_with_its_position() {
        let problems = parse_sample("name: a\ninterval_secs: 1\nb: x ${DCWATCH_SURELY_UNDEFINED_1}\n").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].position, Some((3, 6)));
        assert_eq!(
            problems[0].message,
            "environment variable `DCWATCH_SURELY_UNDEFINED_1` is not set (referenced as \
             `${DCWATCH_SURELY_UNDEFINED_1}`); set it, or use `${file:PATH}`"
        );
    }

    /// Every string value of the config, in the shapes configs have.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Secrets {
        a: String,
        #[serde(default)]
        b: Option<String>,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        map: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
    enum Kind {
        Webhook { url: String },
    }

    impl Validate for Secrets {
        fn validate(&self, _: &mut Vec<Problem>) {}
    }

    fn parse_secrets(text: &str, dir: &Path) -> Result<Secrets, Vec<Problem>> {
        parse(text, &dir.join("x.yaml"))
    }

    /// Regression: secrets were pasted into the text before parsing, so a
    /// `#` in one began a comment, `: ` a key, a quote ended the string and
    /// a line break was refused.
    #[test]
    fn secrets_with_yaml_syntax_in_them_come_through_byte_exact() {
        let tricky = [
            ("DCWATCH_TEST_SECRET_HASH", "pa #x"),
            ("DCWATCH_TEST_SECRET_COLON", "a: b"),
            ("DCWATCH_TEST_SECRET_NEWLINE", "line 1\nline 2: x\n  - y"),
            ("DCWATCH_TEST_SECRET_DQUOTE", "say \"hi\" \\"),
            ("DCWATCH_TEST_SECRET_SQUOTE", "it's"),
            ("DCWATCH_TEST_SECRET_BRACES", "{x: [1, 2]} & *ref ${NOT_A_REFERENCE}"),
        ];
        for (k, v) in tricky {
            // SAFETY: tests in this module set only these variables, with unique names.
            unsafe { std::env::set_var(k, v) };
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, _) in tricky {
            let s = parse_secrets(&format!("a: ${{{name}}}\n"), d).unwrap();
            let want = std::env::var(name).unwrap();
            assert_eq!(s.a, want, "{name} plain");
            let s = parse_secrets(&format!("a: \"${{{name}}}\"\nb: '${{{name}}}'\n"), d).unwrap();
            assert_eq!((s.a.as_str(), s.b.as_deref()), (want.as_str(), Some(want.as_str())), "{name} quoted");
        }
        std::fs::write(d.join("token"), "x # y\n: z\n").unwrap();
        let s = parse_secrets(
            "a: Bearer ${DCWATCH_TEST_SECRET_HASH}/${DCWATCH_TEST_SECRET_SQUOTE}.  # ${NOT_SET_IN_A_COMMENT}\n\
             b: ${file:token}\n\
             list:\n  - ${DCWATCH_TEST_SECRET_COLON}\n  - $${LITERAL} costs $5\n\
             map:\n  bearer: ${DCWATCH_TEST_SECRET_DQUOTE}\n\
             kind:\n  type: webhook\n  url: https://h/${DCWATCH_TEST_SECRET_NEWLINE}\n",
            d,
        )
        .unwrap();
        assert_eq!(
            s,
            Secrets {
                a: "Bearer pa #x/it's.".into(),
                b: Some("x # y\n: z".into()),
                list: vec!["a: b".into(), "${LITERAL} costs $5".into()],
                map: [("bearer".to_string(), "say \"hi\" \\".to_string())].into(),
                kind: Some(Kind::Webhook { url: "https://h/line 1\nline 2: x\n  - y".into() }),
            }
        );
    }

    #[test]
    fn errors_after_a_secret_keep_their_positions_in_the_file() {
        // SAFETY: tests in this module set only this variable, with a unique name.
        unsafe { std::env::set_var("DCWATCH_TEST_SECRET_LINES", "one\ntwo\nthree") };
        let dir = tempfile::tempdir().unwrap();
        let problems = parse_secrets("a: ${DCWATCH_TEST_SECRET_LINES}\nb: x\n  intreval: 3\n", dir.path()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].position, Some((3, 11)), "{problems:?}");
        let problems = parse_secrets("a: ${DCWATCH_TEST_SECRET_LINES}\nintreval: 3\n", dir.path()).unwrap_err();
        assert_eq!(problems[0].position, Some((2, 1)));
        assert_eq!(problems[0].message, "unknown field `intreval`, expected one of a, b, list, map, kind");
        let problems = parse_secrets("a: x\nlist:\n  - ${file:no-such-file}\n", dir.path()).unwrap_err();
        assert_eq!(problems[0].position, Some((3, 5)));
        assert!(problems[0].message.starts_with("`${file:no-such-file}`: cannot read "), "{problems:?}");
    }

    #[test]
    fn comment_lines_and_escaped_references_are_left_alone() {
        let found = references("# token: ${NOPE_NOT_SET}\nv: $${LITERAL} costs $5\n", Path::new(".")).unwrap();
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn trailing_comments_are_not_expanded_but_a_hash_in_a_value_is_no_comment() {
        let out = references(
            "a: x   # or ${file:/no/such/file}\nb: '${NOPE_NOT_SET_2} # not a comment'\nc: pa#ss\n",
            Path::new("."),
        );
        let problems = out.unwrap_err();
        // Only the reference inside quotes, before a `#` that is part of the value.
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].position, Some((2, 5)));
        let found = references("a: x   # or ${file:/no/such/file}\nc: pa#ss\n", Path::new(".")).unwrap();
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn file_references_are_read_relative_to_the_config_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let s = parse_secrets("a: ${file:token}\n", dir.path()).unwrap();
        assert_eq!(s.a, "s3cret");
    }

    #[test]
    fn a_missing_file_is_reported_with_its_path() {
        let err = load::<Sample>(Path::new("/nonexistent/dcwatch.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/nonexistent/dcwatch.yaml: cannot read the config file"), "{text}");
    }
}
#[cfg(test)]
mod review_15 {
    //! The reviewer's findings on how problems are placed and named.
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Top {
        #[serde(default)]
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default, deserialize_with = "duration::secs")]
        interval_secs: u64,
        #[serde(default)]
        agent: Option<Box<Top>>,
        #[serde(default)]
        sources: Vec<Source>,
    }

    /// Internally tagged, like the agent's sources: serde-saphyr places its
    /// fields' errors at the item.
    #[derive(Debug, Deserialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Source {
        Host {
            #[serde(default)]
            label: String,
            #[serde(default)]
            count: u32,
            #[serde(default, deserialize_with = "duration::opt_secs")]
            timeout_secs: Option<u64>,
            #[serde(default, deserialize_with = "duration::secs")]
            retry_secs: u64,
            #[serde(default, deserialize_with = "duration::secs")]
            backoff_secs: u64,
            #[serde(default, deserialize_with = "duration::secs")]
            interval_secs: u64,
        },
    }

    impl Validate for Top {
        fn validate(&self, _: &mut Vec<Problem>) {}
    }

    fn problems(text: &str) -> Vec<(Option<(u64, u64)>, String)> {
        parse::<Top>(text, Path::new("/nonexistent/x.yaml"))
            .unwrap_err()
            .into_iter()
            .map(|p| (p.position, p.message))
            .collect()
    }

    /// `~` is None to an optional key, `${VAR}` is what it stands for and
    /// `+5` is 5: none of them is the duration at fault.
    #[test]
    fn the_duration_at_fault_is_judged_on_what_serde_saw() {
        // SAFETY: only this test sets this variable, with a unique name.
        unsafe { std::env::set_var("DCWATCH_TEST_REVIEW_RETRY", "30s") };
        assert_eq!(
            problems(
                "sources:\n  - type: host\n    timeout_secs: ~\n    retry_secs: ${DCWATCH_TEST_REVIEW_RETRY}\n    \
                 backoff_secs: +5\n    interval_secs: ten\n"
            ),
            vec![(
                Some((6, 20)),
                "sources[0].interval_secs: expected a duration such as 30s, 5m, 1h30m or a number of seconds, \
                 found `ten`"
                    .to_string()
            )]
        );
    }

    /// The value is found by its text in a tagged item: when two values
    /// there are written the same, the message names both.
    #[test]
    fn a_refused_text_written_twice_in_an_item_names_both_places() {
        assert_eq!(
            problems("sources:\n  - type: host\n    label: ten\n    count: ten\n"),
            vec![(
                Some((2, 5)),
                "sources[0].label (3:12) or sources[0].count (4:12): expected a whole number, found `ten`".to_string()
            )]
        );
        assert_eq!(
            problems("name: ten\nsources:\n  - type: host\n    count: ten\n"),
            vec![(Some((4, 12)), "sources[0].count: expected a whole number, found `ten`".to_string())]
        );
    }

    #[test]
    fn an_alias_as_a_key_leaves_the_later_keys_their_paths() {
        assert_eq!(
            problems("name: &k interval_secs\nagent:\n  *k : 5\n  count: ten\n"),
            vec![(Some((4, 10)), "agent.count: expected a whole number, found `ten`".to_string())]
        );
    }

    #[test]
    fn an_aliased_value_is_reported_at_its_use_with_what_it_holds() {
        assert_eq!(
            problems("name: &v ten\nagent:\n  count: *v\n"),
            vec![(
                Some((3, 10)),
                "agent.count: expected a whole number, found `ten` (the alias stands for what is written at 1:10)"
                    .to_string()
            )]
        );
    }

    #[test]
    fn an_error_in_what_an_alias_stands_for_is_at_the_alias_and_names_the_anchor() {
        let p = positions::Positions::of("sources:\n  - &a\n    type: host\nagent: *a\n");
        let anchor = p.get("sources[0]").unwrap().value;
        assert_eq!(
            problems("sources:\n  - &a\n    type: host\nagent: *a\n"),
            vec![(
                Some((4, 8)),
                format!(
                    "unknown field `type`, expected one of name, count, interval_secs, agent, sources (the alias \
                     stands for what is written at {}:{})",
                    anchor.0, anchor.1
                )
            )]
        );
    }

    #[test]
    fn a_duration_past_ten_years_is_refused_naming_its_key() {
        assert_eq!(
            problems("agent:\n  interval_secs: 400000d\n"),
            vec![(
                Some((2, 18)),
                "agent.interval_secs: expected a duration of at most 10 years (3650d), found `400000d`".to_string()
            )]
        );
    }

    #[test]
    fn a_duplicate_key_is_named_once_with_where_it_was_first() {
        assert_eq!(
            problems("name: a\nagent:\n  count: 1\n  name: b\n  count: 2\n"),
            vec![(Some((5, 3)), "`agent.count`: duplicate key (first at 3:3); keep one".to_string())]
        );
    }
}
