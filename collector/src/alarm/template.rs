//! Message templates: `{name}` is replaced by a variable (a tag, `value`,
//! …); `{{` and `}}` are literal braces. Any text — Vietnamese included — is
//! kept as written.

use std::collections::BTreeMap;

/// Checks a template when the config is loaded.
pub fn check(t: &str) -> Result<(), String> {
    let mut it = t.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '{' if it.peek().map(|x| x.1) == Some('{') => {
                it.next();
            }
            '{' => {
                let rest = &t[i + 1..];
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("`{{` at character {} is not closed", t[..i].chars().count() + 1))?;
                let name = &rest[..end];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("`{{{name}}}` is not a variable name (letters, digits, _)"));
                }
                for _ in 0..=end {
                    it.next();
                }
            }
            '}' if it.peek().map(|x| x.1) == Some('}') => {
                it.next();
            }
            '}' => {
                return Err(format!(
                    "`}}` at character {} has no `{{`; write `}}}}` for a brace",
                    t[..i].chars().count() + 1
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Fills a checked template; an unknown variable stays as `{name}`.
pub fn render(t: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(t.len() + 32);
    let mut rest = t;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(stripped) = tail.strip_prefix('{')
            && let Some(end) = stripped.find('}')
        {
            let name = &stripped[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&tail[..end + 2]),
            }
            rest = &stripped[end + 1..];
            continue;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_and_vietnamese_is_kept() {
        let vars: BTreeMap<String, String> =
            [("device", "ups-a1"), ("value", "12")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(
            render("UPS {device} đang chạy bằng ắc quy, còn {value} phút {{x}} {nope}", &vars),
            "UPS ups-a1 đang chạy bằng ắc quy, còn 12 phút {x} {nope}"
        );
    }

    #[test]
    fn broken_templates_are_refused_with_the_reason() {
        assert_eq!(check("còn {value phút"), Err("`{` at character 5 is not closed".into()));
        assert_eq!(check("a } b"), Err("`}` at character 3 has no `{`; write `}}` for a brace".into()));
        assert_eq!(check("{a b}"), Err("`{a b}` is not a variable name (letters, digits, _)".into()));
        assert_eq!(check("ok {site} {{literal}}"), Ok(()));
    }
}
