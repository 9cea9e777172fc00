//! The docs checked against the programs, shared by the agent's and the
//! collector's CLI tests (each includes this file by path, so it needs
//! nothing but std): the list of commands in docs/configuration.md against
//! each binary's `--help`, and the example configs under `configs/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// Every configuration file under `configs/` (recursively, the profiles left
/// out), relative to the root, in name order.
pub fn example_configs() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read configs/").flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != "profiles") {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let root = root();
    let mut files = Vec::new();
    walk(&root.join("configs"), &mut files);
    let mut names: Vec<String> =
        files.iter().map(|p| p.strip_prefix(&root).expect("under the root").display().to_string()).collect();
    names.sort();
    names
}

/// Each command (`probe snmp`) with its flags (`--unit`), sorted.
pub type Commands = BTreeMap<String, Vec<String>>;

/// The commands of `binary` in docs/configuration.md's "## Commands": under
/// `### `binary``, each bullet's first backquoted words (up to the first
/// in capitals, a placeholder) and every backquoted `--flag` in the bullet.
pub fn documented(binary: &str) -> Commands {
    let doc = std::fs::read_to_string(root().join("docs/configuration.md")).expect("read docs/configuration.md");
    let section = doc.split("\n## ").find(|s| s.starts_with("Commands\n")).expect("a `## Commands` section");
    let part = section
        .split("\n### ")
        .find(|s| s.starts_with(&format!("`{binary}`\n")))
        .unwrap_or_else(|| panic!("no `### `{binary}`` in the commands"));
    let mut out = Commands::new();
    let mut current: Option<String> = None;
    for line in part.lines() {
        let ticked: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        if line.starts_with("- ") {
            let name: Vec<&str> = ticked
                .first()
                .expect("a bullet starts with its command")
                .split(' ')
                .take_while(|w| !w.chars().any(|c| c.is_ascii_uppercase()))
                .collect();
            current = Some(name.join(" "));
            out.insert(name.join(" "), Vec::new());
        } else if !line.starts_with("  ") {
            current = None;
        }
        if let Some(c) = &current {
            let flags = out.get_mut(c).expect("inserted");
            for t in ticked {
                if let Some(flag) = t.split(' ').next().filter(|f| f.starts_with("--")) {
                    flags.push(flag.to_string());
                }
            }
            flags.sort();
            flags.dedup();
        }
    }
    out
}

/// `--help` of `binary` (a path) for the command `words`.
pub fn help(binary: &Path, words: &[&str]) -> String {
    let out = Command::new(binary).args(words).arg("--help").output().expect("run --help");
    assert!(out.status.success(), "{} {words:?} --help failed", binary.display());
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The lines of a `--help` section (`Commands:`, `Options:`) up to the next blank line.
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    help.lines().skip_while(|l| *l != title).skip(1).take_while(|l| !l.is_empty()).collect()
}

/// The commands `binary` shows in its `--help` (hidden ones are not shown),
/// down to those without subcommands, with their flags; `--help`,
/// `--version` and the global `--config` left out.
pub fn from_help(binary: &Path) -> Commands {
    let mut out = Commands::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(words) = todo.pop() {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let text = help(binary, &w);
        let subs: Vec<String> = section(&text, "Commands:")
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect();
        if !words.is_empty() && subs.is_empty() {
            let mut flags: Vec<String> = section(&text, "Options:")
                .iter()
                .map(|l| l.trim_start())
                .filter(|l| l.starts_with('-'))
                .filter_map(|l| l.split("  ").next())
                .flat_map(|spec| spec.split([',', ' ']))
                .filter(|t| t.starts_with("--") && !["--help", "--version", "--config"].contains(t))
                .map(str::to_string)
                .collect();
            flags.sort();
            out.insert(words.join(" "), flags);
        }
        for s in subs {
            let mut next = words.clone();
            next.push(s);
            todo.push(next);
        }
    }
    out
}
