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

/// `text`'s lines with its test modules blanked (line numbers kept): a
/// `#[cfg(test)]` before a top-level `mod name {`, to its closing `}` at the
/// start of a line, or before `mod tests;` (a file of its own, left out by
/// name). A `#[cfg(test)]` on one item elsewhere blanks nothing.
fn without_tests(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = lines.clone();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == "#[cfg(test)]" && lines.get(i + 1).is_some_and(|n| n.starts_with("mod ")) {
            let end = if lines[i + 1].trim_end().ends_with('{') {
                (i + 2..lines.len()).find(|&k| lines[k] == "}").unwrap_or(lines.len() - 1)
            } else {
                i + 1
            };
            out[i..=end].fill("");
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The functions of `text` longer than [`LIMIT`] lines: (lines, line
/// number, name). A function whose closing brace is not found counts as
/// long (0 lines), so a layout the counter cannot read fails the test
/// instead of passing unseen.
fn long_functions(text: &str) -> Vec<(usize, usize, String)> {
    let lines = without_tests(text);
    let cut = lines.len();
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
        match (j + 1..cut).find(|&k| lines[k] == close) {
            Some(end) if end - i + 1 > LIMIT => found.push((end - i + 1, i + 1, name.to_string())),
            Some(_) => {}
            None => found.push((0, i + 1, format!("{name} (its closing brace was not found)"))),
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
    // Neither does an out-of-line test module, nor an inline one's end.
    let after_mod = format!("#[cfg(test)]\nmod tests;\n\nfn long() {{\n{body}}}\n");
    assert_eq!(long_functions(&after_mod), vec![(LIMIT + 2, 4, "long".to_string())]);
    let after_tests = format!("#[cfg(test)]\nmod tests {{\n    fn t() {{}}\n}}\n\nfn long() {{\n{body}}}\n");
    assert_eq!(long_functions(&after_tests), vec![(LIMIT + 2, 6, "long".to_string())]);
    // A function whose end the counter cannot find is reported, not skipped.
    let unclosed = "fn odd() {\r\n    let x = 1;\r\n}\r\n".to_string();
    assert_eq!(long_functions(&unclosed), vec![(0, 1, "odd (its closing brace was not found)".to_string())]);
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

/// The paths a source file names outside its tests: each `use` with its
/// groups expanded (`use crate::a::{b, c::d}` gives `crate::a::b` and
/// `crate::a::c::d`), and each `crate::…`, `super::…` or `self::…` path
/// written in the code. Comment lines are left out.
fn paths_in(text: &str) -> Vec<String> {
    let code: Vec<&str> = without_tests(text).into_iter().filter(|l| !l.trim_start().starts_with("//")).collect();
    let code = code.join("\n");
    let mut out = Vec::new();
    for stmt in code.split(';') {
        let lines: Vec<&str> = stmt.lines().collect();
        let Some(i) = lines.iter().position(|l| use_tree(l).is_some()) else { continue };
        let mut tree = use_tree(lines[i]).unwrap_or_default().to_string();
        for l in &lines[i + 1..] {
            tree.push(' ');
            tree.push_str(l);
        }
        let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ").replace(" as ", "@").replace(' ', "");
        expand("", &tree, &mut out);
    }
    out.retain(|p| ["crate", "super", "self"].contains(&p.split("::").next().unwrap_or("")));
    let code: Vec<&str> = code.lines().filter(|l| use_tree(l).is_none()).collect();
    let code = code.join("\n");
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(start) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let len =
                code[i..].find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(code.len() - i);
            out.push(code[i..i + len].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The tree of a `use` line (`use`, `pub use`, `pub(crate) use`).
fn use_tree(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let t = t.strip_prefix("pub").map_or(t, |r| r.find(") ").map_or(r.trim_start(), |i| &r[i + 2..]));
    t.strip_prefix("use ")
}

/// Expands a use tree without spaces (`a::{b,c::{d,e}}`) into paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let (mut depth, mut from, mut items) = (0, 0, Vec::new());
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&tree[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tree[from..]);
    for item in items.into_iter().filter(|i| !i.is_empty()) {
        match item.find('{') {
            Some(i) => expand(&format!("{prefix}{}", &item[..i]), item[i + 1..].strip_suffix('}').unwrap_or(""), out),
            None => {
                let path = format!("{prefix}{}", item.split('@').next().unwrap_or(item));
                let path = path.strip_suffix("::self").or(path.strip_suffix("::*")).unwrap_or(&path).to_string();
                out.push(path);
            }
        }
    }
}

/// The module path of a file under a crate's `src`: `sources/snmp/config.rs`
/// is `[sources, snmp, config]`, `sources/mod.rs` is `[sources]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let mut m: Vec<String> =
        file.strip_prefix(src).expect("a file of the crate").iter().map(|c| c.to_string_lossy().into_owned()).collect();
    let last = m.pop().unwrap_or_default();
    if !["mod.rs", "main.rs", "lib.rs"].contains(&last.as_str()) {
        m.push(last.trim_end_matches(".rs").to_string());
    }
    m
}

/// The file of the crate that `path`, written in `from`, leads into: the
/// longest prefix of the path that is a module file.
fn resolve(src: &Path, from: &Path, path: &str) -> Option<PathBuf> {
    let mut segs = path.split("::").peekable();
    let mut m = module_of(src, from);
    match segs.peek().copied() {
        Some("crate") => {
            m.clear();
            segs.next();
        }
        Some("self") => {
            segs.next();
        }
        Some("super") => {
            while segs.peek() == Some(&"super") {
                m.pop();
                segs.next();
            }
        }
        _ => return None,
    }
    m.extend(segs.map(str::to_string));
    for n in (0..=m.len()).rev() {
        let dir = src.join(m[..n].join("/"));
        let candidates = if n == 0 {
            vec![src.join("main.rs"), src.join("lib.rs")]
        } else {
            vec![dir.with_extension("rs"), dir.join("mod.rs")]
        };
        if let Some(f) = candidates.into_iter().find(|f| f.is_file()) {
            return Some(f);
        }
    }
    None
}

/// An import circle through `start` that stays among the files `scope`
/// holds, as the files in order, if there is one.
fn circle_through(src: &Path, start: &Path, scope: &dyn Fn(&Path) -> bool) -> Option<Vec<PathBuf>> {
    let edges = |f: &Path| -> Vec<PathBuf> {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let mut to: Vec<PathBuf> =
            paths_in(&text).iter().filter_map(|p| resolve(src, f, p)).filter(|t| t != f && scope(t)).collect();
        to.sort();
        to.dedup();
        to
    };
    // Breadth first from `start`, remembering the way back.
    let mut came_from: std::collections::BTreeMap<PathBuf, PathBuf> = Default::default();
    let mut queue = std::collections::VecDeque::from([start.to_path_buf()]);
    while let Some(f) = queue.pop_front() {
        for t in edges(&f) {
            if t == start {
                let mut way = vec![f.clone()];
                while let Some(p) = came_from.get(way.last().expect("not empty")) {
                    way.push(p.clone());
                }
                way.reverse();
                return Some(way);
            }
            if !came_from.contains_key(&t) {
                came_from.insert(t.clone(), f.clone());
                queue.push_back(t);
            }
        }
    }
    None
}

#[test]
fn the_import_reader_expands_use_groups_and_finds_paths_in_code_but_not_in_comments_or_tests() {
    let text = "use super::{builtin, store::Store};\npub(crate) use crate::alarm::{config::{self, Severity as S}, *};\n\
                use dcwatch_common::config::Problem;\n// use crate::hidden;\nfn f() {\n    let n = crate::alarm::builtin::def(x);\n}\n\
                #[cfg(test)]\nmod tests {\n    use crate::tested;\n}\n";
    assert_eq!(
        paths_in(text),
        vec![
            "super::builtin",
            "super::store::Store",
            "crate::alarm::config",
            "crate::alarm::config::Severity",
            "crate::alarm",
            "crate::alarm::builtin::def",
        ]
    );
}

#[test]
fn the_circle_finder_follows_imports_through_other_files_of_the_scope() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |p: &str, t: &str| {
        let f = src.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, t).unwrap();
    };
    write("main.rs", "mod config;\nmod sources;\n");
    write("config.rs", "use crate::sources::snmp::config::SnmpConfig;\n");
    write("sources/mod.rs", "use crate::config::AgentConfig;\npub fn helper() {}\n");
    write("sources/snmp/config.rs", "use crate::sources::helper;\n");
    let all = |_: &Path| true;
    let way = circle_through(src, &src.join("config.rs"), &all).expect("a circle");
    let way: Vec<_> = way.iter().map(|p| p.strip_prefix(src).unwrap().display().to_string()).collect();
    assert_eq!(way, ["config.rs", "sources/snmp/config.rs", "sources/mod.rs"]);
    write("sources/snmp/config.rs", "use crate::sources::check::helper;\n");
    write("sources/check.rs", "pub fn helper() {}\n");
    assert_eq!(circle_through(src, &src.join("config.rs"), &all), None);
}

/// Configs that still sit in an import circle with their sources or
/// families (issue 16): none; the list may only stay empty, as [`NOT_YET_SPLIT`].
const KNOWN_CIRCLES: &[&str] = &[];

#[test]
fn no_config_sits_in_an_import_circle_with_its_sources_or_alarm_families() {
    let root = root();
    let agent = root.join("agent/src");
    let collector = root.join("collector/src");
    let in_sources = |p: &Path| p == agent.join("config.rs") || p.starts_with(agent.join("sources"));
    let in_alarm = |p: &Path| p.starts_with(collector.join("alarm"));
    type Check<'a> = (&'a Path, PathBuf, &'a dyn Fn(&Path) -> bool);
    let checks: [Check; 2] =
        [(&agent, agent.join("config.rs"), &in_sources), (&collector, collector.join("alarm/config.rs"), &in_alarm)];
    let (mut circles, mut gone) = (Vec::new(), Vec::new());
    for (src, config, scope) in checks {
        let rel = config.strip_prefix(&root).unwrap().display().to_string();
        match circle_through(src, &config, scope) {
            Some(way) if !KNOWN_CIRCLES.contains(&rel.as_str()) => circles.push(
                way.iter()
                    .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
                    .collect::<Vec<_>>()
                    .join(" → "),
            ),
            None if KNOWN_CIRCLES.contains(&rel.as_str()) => gone.push(rel),
            _ => {}
        }
    }
    assert_eq!(circles, Vec::<String>::new(), "import circles (docs/architecture.md, Measures): break them");
    assert_eq!(gone, Vec::<String>::new(), "no circle left: take these off KNOWN_CIRCLES");
}
