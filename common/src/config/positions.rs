//! Where each key path of a config file is written.
//!
//! serde gives the typed config no positions, and the checks that run after
//! parsing (`Validate`) know a problem by its key path (`alarms.routes[2].receivers[0]`).
//! This module walks the file's YAML events once (serde-saphyr's own parser,
//! so the positions are the ones its errors use) and records, for every key
//! path, where its key and its value start. `parse` then places each problem
//! at its key, and names the key of a type error from the value's position.
//!
//! serde-saphyr keeps a map like this only for its `garde`/`validator`
//! features, which would bring a validation crate we do not use.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// A value in the file: where its key (or, in a list, the item) and the value
/// start, 1-based, and what it is, for "found …" in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub key: (u64, u64),
    pub value: (u64, u64),
    /// `` `ten` ``, `a list`, `a map`, `nothing`.
    pub found: String,
    /// The text of a scalar value.
    pub scalar: Option<String>,
}

/// Key path → where it is written.
#[derive(Debug, Default)]
pub struct Positions {
    by_path: HashMap<String, Node>,
    /// Value position → key path, for errors serde-saphyr reports at a value.
    by_value: HashMap<(u64, u64), String>,
    /// Key position → key path.
    by_key: HashMap<(u64, u64), String>,
    /// Where the root value starts.
    root: Option<(u64, u64)>,
    /// An alias's position → where the node it stands for starts.
    aliases: HashMap<(u64, u64), (u64, u64)>,
}

/// An anchored node: what it is ("found"), its text if a scalar, and where it starts.
type Anchored = (String, Option<String>, (u64, u64));

enum Frame {
    /// A mapping at `path`; the key read and waiting for its value.
    Map {
        path: String,
        key: Option<(String, (u64, u64))>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

impl Positions {
    /// The positions of the file's first document. A file that is not valid
    /// YAML gives what was read before the error (serde-saphyr reports the error).
    pub fn of(text: &str) -> Positions {
        let mut out = Positions::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_done = false;
        // Anchor id → what the anchored node is and, for a scalar, its text:
        // an alias stands for it.
        let mut anchors: HashMap<usize, Anchored> = HashMap::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let at = (span.start.line() as u64, span.start.col() as u64 + 1);
            let found = match &event {
                Event::Scalar(v, ..) if v.is_empty() || v == "~" || v == "null" => "nothing".to_string(),
                Event::Scalar(v, ..) => format!("`{}`", shorten(v)),
                Event::SequenceStart(..) => "a list".into(),
                Event::MappingStart(..) => "a map".into(),
                Event::Alias(id) => {
                    if let Some((_, _, anchor_at)) = anchors.get(id) {
                        out.aliases.insert(at, *anchor_at);
                    }
                    anchors.get(id).map_or_else(|| "an alias".into(), |(f, ..)| f.clone())
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    stack.pop();
                    if stack.is_empty() {
                        root_done = true;
                    }
                    continue;
                }
                Event::DocumentEnd if root_done => break,
                _ => continue,
            };
            // Where this node sits: a key, a map's value, a list's item, or the root.
            let scalar = match &event {
                Event::Scalar(v, ..) => Some(v.to_string()),
                Event::Alias(id) => anchors.get(id).and_then(|(_, s, _)| s.clone()),
                _ => None,
            };
            let anchor = match &event {
                Event::Scalar(_, _, a, _) | Event::SequenceStart(_, a, _) | Event::MappingStart(_, a, _) => *a,
                _ => 0,
            };
            if anchor != 0 {
                anchors.insert(anchor, (found.clone(), scalar.clone(), at));
            }
            let path = match stack.last_mut() {
                None => {
                    if root_done {
                        break;
                    }
                    out.root = Some(at);
                    String::new()
                }
                Some(Frame::Map { key: key @ None, .. }) => {
                    // A key written as an alias (`*k: …`) is the anchored text.
                    let name = scalar.clone().unwrap_or_else(|| "?".into());
                    *key = Some((name, at));
                    // An alias has no end event: it opens no frame.
                    if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) {
                        // A complex key: its children are recorded under `…?`.
                        stack.push(Frame::Map { path: "?".into(), key: None });
                    }
                    continue;
                }
                Some(Frame::Map { path, key }) => {
                    let (name, key_at) = key.take().expect("matched above");
                    let full = if path.is_empty() { name } else { format!("{path}.{name}") };
                    out.record(full.clone(), Node { key: key_at, value: at, found, scalar });
                    full
                }
                Some(Frame::Seq { path, next }) => {
                    let full = format!("{path}[{next}]");
                    *next += 1;
                    out.record(full.clone(), Node { key: at, value: at, found, scalar });
                    full
                }
            };
            match event {
                Event::SequenceStart(..) => stack.push(Frame::Seq { path, next: 0 }),
                Event::MappingStart(..) => stack.push(Frame::Map { path, key: None }),
                _ if stack.is_empty() => root_done = true,
                _ => {}
            }
        }
        out
    }

    fn record(&mut self, path: String, node: Node) {
        self.by_value.entry(node.value).or_insert_with(|| path.clone());
        self.by_key.entry(node.key).or_insert_with(|| path.clone());
        self.by_path.entry(path).or_insert(node);
    }

    /// Where the node starts that the alias at `at` stands for.
    pub fn anchor_of(&self, at: (u64, u64)) -> Option<(u64, u64)> {
        self.aliases.get(&at).copied()
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.by_path.get(path)
    }

    /// The key path whose value starts at `at`, and what the value is.
    pub fn at_value(&self, at: (u64, u64)) -> Option<(&str, &str)> {
        let path = self.by_value.get(&at)?;
        Some((path, &self.by_path.get(path)?.found))
    }

    /// The key written at `at`.
    pub fn at_key(&self, at: (u64, u64)) -> Option<(&str, &Node)> {
        let path = self.by_key.get(&at)?;
        Some((path, self.by_path.get(path)?))
    }

    /// The path of the map or list that starts at `at` ("" for the root).
    pub fn container_at(&self, at: (u64, u64)) -> Option<&str> {
        if self.root == Some(at) {
            return Some("");
        }
        self.by_value.get(&at).map(String::as_str)
    }

    /// The keys directly inside the map at `parent` ("" for the root), in file order.
    pub fn children(&self, parent: &str) -> Vec<(&str, &Node)> {
        let mut out: Vec<(&str, &Node)> = self
            .by_path
            .iter()
            .filter(|(path, _)| {
                let rest = if parent.is_empty() {
                    Some(path.as_str())
                } else {
                    path.strip_prefix(parent).and_then(|r| r.strip_prefix('.'))
                };
                rest.is_some_and(|r| !r.is_empty() && !r.contains(['.', '[']))
            })
            .map(|(path, node)| (path.as_str(), node))
            .collect();
        out.sort_by_key(|(_, n)| n.key);
        out
    }

    /// Every value below `parent` ("" for the root), in file order.
    pub fn descendants(&self, parent: &str) -> Vec<(&str, &Node)> {
        let mut out: Vec<(&str, &Node)> = self
            .by_path
            .iter()
            .filter(|(path, _)| {
                parent.is_empty() || path.strip_prefix(parent).is_some_and(|r| r.starts_with(['.', '[']))
            })
            .map(|(path, node)| (path.as_str(), node))
            .collect();
        out.sort_by_key(|(_, n)| n.value);
        out
    }

    /// Where `path` is written, or else the nearest enclosing key that is
    /// (a default left out is reported at the section that would hold it).
    pub fn nearest(&self, path: &str) -> Option<(u64, u64)> {
        let mut p = path;
        loop {
            if let Some(n) = self.get(p) {
                return Some(n.key);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

fn shorten(v: &str) -> String {
    let first = v.lines().next().unwrap_or("");
    if first.chars().count() > 40 || first.len() < v.len() {
        format!("{}…", first.chars().take(40).collect::<String>())
    } else {
        first.to_string()
    }
}

/// The key path a message starts with: `alarms.services[0] (web).min_sites: …`
/// → `alarms.services[0].min_sites`. The names in parentheses are dropped;
/// a message that does not start with a key path gives None.
pub fn leading_path(message: &str) -> Option<String> {
    let mut path = String::new();
    let mut depth = 0usize;
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            ':' if chars.peek().is_none_or(|n| *n == ' ') => break,
            ' ' if chars.peek() == Some(&'(') => {}
            c if c.is_ascii_alphanumeric() || "_-.[]".contains(c) => path.push(c),
            _ => return None,
        }
    }
    let valid = !path.is_empty()
        && !path.starts_with(['.', '['])
        && path.split('.').all(|seg| {
            let name = seg.split('[').next().unwrap_or("");
            !name.is_empty()
                && seg[name.len()..]
                    .split_terminator(']')
                    .all(|i| i.strip_prefix('[').is_some_and(|n| n.parse::<usize>().is_ok()))
        });
    valid.then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_list_items_are_found_in_block_and_flow_style() {
        let p = Positions::of(
            "agent:\n  site: hn\n  interval_secs: ten\nsources:\n  - type: host\n  - {type: snmp, devices: [a, b]}\n",
        );
        assert_eq!(
            p.get("agent.interval_secs").map(|n| (n.key, n.value, n.found.as_str())),
            Some(((3, 3), (3, 18), "`ten`"))
        );
        assert_eq!(p.get("sources[0]").map(|n| n.key), Some((5, 5)));
        assert_eq!(p.get("sources[0].type").map(|n| n.key), Some((5, 5)));
        assert_eq!(p.get("sources[1].devices[1]").map(|n| (n.key, n.found.as_str())), Some(((6, 31), "`b`")));
        assert_eq!(p.get("sources").map(|n| n.found.as_str()), Some("a list"));
        assert_eq!(p.at_value((3, 18)), Some(("agent.interval_secs", "`ten`")));
    }

    #[test]
    fn a_missing_key_is_placed_at_the_nearest_section_written() {
        let p = Positions::of("alarms:\n  routes:\n    - receivers: [a]\n");
        assert_eq!(p.nearest("alarms.routes[0].receivers[0]"), Some((3, 19)));
        assert_eq!(p.nearest("alarms.routes[0].escalate_to[0]"), Some((3, 7)));
        assert_eq!(p.nearest("ingest.tokens"), None);
    }

    #[test]
    fn a_message_s_leading_key_path_is_read_without_the_names_in_parentheses() {
        assert_eq!(leading_path("alarms.routes[2]: no receiver").as_deref(), Some("alarms.routes[2]"));
        assert_eq!(
            leading_path("alarms.services[0] (web (x)).min_sites: must be").as_deref(),
            Some("alarms.services[0].min_sites")
        );
        assert_eq!(leading_path("timezone: `x`").as_deref(), Some("timezone"));
        assert_eq!(leading_path("cannot read the config file: x"), None);
        assert_eq!(leading_path("listen.address: `a:b`").as_deref(), Some("listen.address"));
        assert_eq!(leading_path("a[x]: y"), None);
    }

    /// Review of issue 15: an alias used as a key opened a frame that was
    /// never closed, so every later key had a wrong path.
    #[test]
    fn an_alias_as_a_key_is_its_anchor_s_text_and_later_keys_keep_their_paths() {
        let p = Positions::of("name: &k interval_secs\nagent:\n  *k : 5\n  site: hn\ncount: ten\n");
        assert_eq!(p.get("agent.interval_secs").map(|n| (n.key, n.value)), Some(((3, 3), (3, 8))));
        assert_eq!(p.get("agent.site").map(|n| n.key), Some((4, 3)));
        assert_eq!(p.get("count").map(|n| (n.key, n.value, n.found.as_str())), Some(((5, 1), (5, 8), "`ten`")));
    }

    /// Review of issue 15: an aliased value is at the alias, and is what its
    /// anchor holds (not "an alias").
    #[test]
    fn an_aliased_value_is_placed_at_its_use_with_the_anchor_s_value() {
        let p = Positions::of("name: &v ten\nagent:\n  count: *v\n");
        let n = p.get("agent.count").unwrap();
        assert_eq!((n.value, n.found.as_str(), n.scalar.as_deref()), ((3, 10), "`ten`", Some("ten")));
        assert_eq!(p.at_value((3, 10)), Some(("agent.count", "`ten`")));
        let anchor = p.get("name").unwrap().value;
        assert_ne!(anchor, (3, 10));
        assert_eq!(p.at_value(anchor), Some(("name", "`ten`")));
    }
}
