//! The shape of the code, kept as docs/architecture.md states it: no
//! function outside tests longer than 120 lines in agent/, collector/ or
//! common/, and no import circle between the agent's config and its
//! sources, nor between the alarm config and the built-in families.
//!
//! A function is measured from its `fn` line to the first later line that
//! is its indentation and a closing brace (rustfmt's layout, which CI
//! enforces with `cargo fmt --check`). Test modules (`#[cfg(test)] mod` at
//! the top level, to the end of the file), files named tests.rs and `tests/`
//! folders are left out.

use std::path::{Path, PathBuf};

const LIMIT: usize = 120;

/// Functions still over the limit, to be split (issue 16); the list may
/// only shrink: a function that fits is taken off it, and none is added.
const NOT_YET_SPLIT: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// Every `.rs` file under `dir`, outside `tests/` folders and tests.rs files.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("read a source folder").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "tests" && name != "target" {
                sources(&p, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(p);
        }
    }
}

/// A `fn` line's indentation and name, if `line` starts a function.
fn fn_start(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start().len();
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = r.strip_prefix(|c: char| c == ' ').map(str::trim_start).unwrap_or_else(|| {
            // `pub(crate) fn`
            r.find(") ").map(|i| &r[i + 2..]).unwrap_or(r)
        });
    }
    for q in ["const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(q).unwrap_or(rest);
    }
    let name = rest.strip_prefix("fn ")?;
    let end = name.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some((indent, &name[..end])).filter(|(_, n)| !n.is_empty())
}

/// The functions of `text` longer than [`LIMIT`] lines: (lines, line number, name).
fn long_functions(text: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = text.split('\n').collect();
    // The test module: `#[cfg(test)]` before a `mod` at the top level (a
    // `#[cfg(test)]` on one item elsewhere does not end the count).
    let cut = (0..lines.len())
        .find(|&i| lines[i] == "#[cfg(test)]" && lines.get(i + 1).is_some_and(|n| n.starts_with("mod ")))
        .unwrap_or(lines.len());
    let mut found = Vec::new();
    for i in 0..cut {
        let Some((indent, name)) = fn_start(lines[i]) else { continue };
        // The signature ends at `{` (a body) or `;` (a declaration).
        let Some(j) = (i..cut).find(|&j| lines[j].trim_end().ends_with('{') || lines[j].trim_end().ends_with(';'))
        else {
            continue;
        };
        if lines[j].trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = (j + 1..cut).find(|&k| lines[k] == close) {
            let n = end - i + 1;
            if n > LIMIT {
                found.push((n, i + 1, name.to_string()));
            }
        }
    }
    found
}

#[test]
fn the_counter_finds_a_long_function_and_passes_a_short_one() {
    let body = "    let x = 1;\n".repeat(LIMIT);
    let text = format!("pub(crate) async fn long() {{\n{body}}}\n\nfn short() {{\n    let y = 2;\n}}\n");
    assert_eq!(long_functions(&text), vec![(LIMIT + 2, 1, "long".to_string())]);
    let in_tests = format!("#[cfg(test)]\nmod tests {{\n    fn long() {{\n{body}    }}\n}}\n");
    assert_eq!(long_functions(&in_tests), vec![]);
    // A `#[cfg(test)]` on one item does not hide what follows it.
    let after_item = format!("#[cfg(test)]\nstruct Probe;\n\nfn long() {{\n{body}}}\n");
    assert_eq!(long_functions(&after_item), vec![(LIMIT + 2, 4, "long".to_string())]);
}

#[test]
fn no_function_outside_tests_is_longer_than_120_lines() {
    let root = root();
    let mut files = Vec::new();
    for crate_dir in ["agent", "collector", "common"] {
        sources(&root.join(crate_dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files under {}", files.len(), root.display());
    let (mut long, mut still_long) = (Vec::new(), Vec::new());
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read a source file");
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        for (n, line, name) in long_functions(&text) {
            if NOT_YET_SPLIT.contains(&(rel.as_str(), name.as_str())) {
                still_long.push((rel.clone(), name));
            } else {
                long.push(format!("{n:5}  {rel}:{line}  {name}"));
            }
        }
    }
    assert_eq!(long, Vec::<String>::new(), "functions over {LIMIT} lines: split them (docs/architecture.md)");
    let fits: Vec<_> =
        NOT_YET_SPLIT.iter().filter(|(f, n)| !still_long.iter().any(|(sf, sn)| sf == f && sn == n)).collect();
    assert_eq!(fits, Vec::<&(&str, &str)>::new(), "these fit now: take them off NOT_YET_SPLIT");
}

/// Whether `text` (Rust source) names the module `module` in a `use` or a
/// path outside its test module: `crate::…::module`, `super::module` or
/// `self::module`.
fn imports(text: &str, module: &str) -> bool {
    let code = text.split("\n#[cfg(test)]\nmod ").next().unwrap_or(text);
    code.lines().filter(|l| !l.trim_start().starts_with("//")).any(|l| {
        l.match_indices(module).any(|(i, _)| {
            let before = &l[..i];
            let after = l[i + module.len()..].chars().next();
            before.ends_with("::") && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn the_import_check_sees_a_module_named_in_a_path_but_not_in_a_comment_or_a_test() {
    assert!(imports("use super::builtin::BUILTIN_NAMES;\n", "builtin"));
    assert!(imports("    let n = crate::alarm::builtin::def(x);\n", "builtin"));
    assert!(!imports("/// the families (`alarm/builtin/`)\npub builtin: BuiltinConfig,\n", "builtin"));
    assert!(!imports("use super::builtins_other::X;\n", "builtin"));
    assert!(!imports("fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::alarm::builtin::cond;\n}\n", "builtin"));
}

#[test]
fn the_alarm_config_does_not_import_the_built_in_families() {
    let path = root().join("collector/src/alarm/config.rs");
    let text = std::fs::read_to_string(&path).expect("read the alarm config");
    assert!(!imports(&text, "builtin"), "{} imports `builtin`, which reads it (docs/architecture.md)", path.display());
}

#[test]
fn no_agent_source_config_imports_the_agents_config() {
    let mut found = Vec::new();
    let dir = root().join("agent/src/sources");
    for e in std::fs::read_dir(&dir).expect("read agent/src/sources").flatten() {
        let path = e.path().join("config.rs");
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        found.push(path.clone());
        let code = text.split("\n#[cfg(test)]\nmod ").next().unwrap_or(&text);
        let bad = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .any(|l| l.contains("crate::config") || l.contains("super::super::config"));
        assert!(!bad, "{} imports the agent's config, which imports it (docs/architecture.md)", path.display());
    }
    assert!(found.len() >= 4, "expected the sources' config.rs files, found {found:?}");
}
