//! Loading YAML configuration files: secret expansion, parsing with positions,
//! and errors a technician can act on.
//!
//! The file is read as text, `${VAR}` and `${file:PATH}` references are expanded
//! (outside comments), and the result is deserialized straight into the typed
//! config structs with `serde-saphyr`, which keeps line and column numbers. We
//! never parse into an untyped value first: that would lose the positions.

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
    let text = expand(raw, base.parent().unwrap_or(Path::new(".")))?;
    let value: T = serde_saphyr::from_str(&text).map_err(|e| vec![yaml_problem(&e)])?;
    let mut problems = Vec::new();
    value.validate(&mut problems);
    if problems.is_empty() { Ok(value) } else { Err(problems) }
}

fn yaml_problem(e: &serde_saphyr::Error) -> Problem {
    // serde-saphyr's Display renders a multi-line snippet; the first line of the
    // plain message is what we want after our own `file:line:col:` prefix.
    let message = e.to_string();
    let message = first_meaningful_line(&message);
    match e.location() {
        Some(loc) if loc.line() > 0 => Problem::at(loc.line(), loc.column(), message),
        _ => Problem::general(message),
    }
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

/// Expands `${NAME}` from the environment and `${file:PATH}` from a file
/// (trailing newline removed; relative paths are relative to the config
/// file's folder). `$${` stands for a literal `${`. Comment lines are left as
/// they are, so a commented-out `${TOKEN}` does not need to be defined.
///
/// Expansion never spans lines, so line numbers in later errors stay right.
pub fn expand(raw: &str, base_dir: &Path) -> Result<String, Vec<Problem>> {
    let mut out = String::with_capacity(raw.len());
    let mut problems = Vec::new();
    for (idx, line) in raw.split_inclusive('\n').enumerate() {
        let line_no = idx as u64 + 1;
        if line.trim_start().starts_with('#') || !line.contains('$') {
            out.push_str(line);
            continue;
        }
        // A trailing comment is kept as it is: a `${…}` in it is not expanded.
        let (line, comment) = line.split_at(comment_start(line).unwrap_or(line.len()));
        let mut rest = line;
        let mut col = 1u64;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            col += rest[..pos].chars().count() as u64;
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
                col += 3;
                continue;
            }
            if !tail.starts_with("${") {
                out.push('$');
                rest = &tail[1..];
                col += 1;
                continue;
            }
            let Some(end) = tail.find('}') else {
                problems.push(Problem::at(line_no, col, "unclosed `${`: write `${NAME}`, or `$${` for a literal"));
                out.push_str(tail);
                break;
            };
            let name = &tail[2..end];
            match resolve(name, base_dir) {
                Ok(value) if value.contains('\n') => problems.push(Problem::at(
                    line_no,
                    col,
                    format!("`${{{name}}}` expands to text with a line break, which cannot stand in one YAML value"),
                )),
                Ok(value) => out.push_str(&value),
                Err(msg) => problems.push(Problem::at(line_no, col, msg)),
            }
            col += tail[..=end].chars().count() as u64;
            rest = &tail[end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
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
    fn a_wrong_type_is_reported_at_the_value() {
        let problems = parse_sample("name: a\ninterval_secs: ten\n").unwrap_err();
        assert_eq!(problems[0].position.map(|p| p.0), Some(2));
    }

    #[test]
    fn semantic_problems_are_all_collected() {
        let problems = parse_sample("name: a\ninterval_secs: 0\n").unwrap_err();
        assert_eq!(problems, vec![Problem::general("interval_secs: must be at least 1")]);
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
        let problems = expand("a: 1\nb: x ${DCWATCH_SURELY_UNDEFINED_1}\n", Path::new(".")).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].position, Some((2, 6)));
        assert!(problems[0].message.contains("DCWATCH_SURELY_UNDEFINED_1"));
    }

    #[test]
    fn comment_lines_and_escaped_references_are_left_alone() {
        let out = expand("# token: ${NOPE_NOT_SET}\nv: $${LITERAL} costs $5\n", Path::new(".")).unwrap();
        assert_eq!(out, "# token: ${NOPE_NOT_SET}\nv: ${LITERAL} costs $5\n");
    }

    #[test]
    fn trailing_comments_are_not_expanded_but_a_hash_in_a_value_is_no_comment() {
        let out = expand(
            "a: x   # or ${file:/no/such/file}\nb: '${NOPE_NOT_SET_2} # not a comment'\nc: pa#ss\n",
            Path::new("."),
        );
        let problems = out.unwrap_err();
        // Only the reference inside quotes, before a `#` that is part of the value.
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].position, Some((2, 5)));
        let out = expand("a: x   # or ${file:/no/such/file}\nc: pa#ss\n", Path::new(".")).unwrap();
        assert_eq!(out, "a: x   # or ${file:/no/such/file}\nc: pa#ss\n");
    }

    #[test]
    fn file_references_are_read_relative_to_the_config_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let out = expand("token: ${file:token}\n", dir.path()).unwrap();
        assert_eq!(out, "token: s3cret\n");
    }

    #[test]
    fn a_missing_file_is_reported_with_its_path() {
        let err = load::<Sample>(Path::new("/nonexistent/dcwatch.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/nonexistent/dcwatch.yaml: cannot read the config file"), "{text}");
    }
}
