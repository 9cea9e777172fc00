//! The profile files of a source: those built into the agent, and those of
//! a `profiles_dir`, where a file whose `name:` is a built-in's replaces it.

use std::path::{Path, PathBuf};

use dcwatch_common::config::ConfigError;

/// Why a source's profiles did not load. Its sources are the I/O errors;
/// `dcwatch_common::error_chain` writes it with them.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// `profiles_dir` cannot be listed.
    #[error("profiles_dir {}", dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A profile file cannot be read.
    #[error("{}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not a profile (YAML, an unknown field, a wrong type): its
    /// problems at file:line:column.
    #[error(transparent)]
    Parse(#[from] ConfigError),
    /// Two files have one `name:`; `what` is how the profile is named.
    #[error("{file}: a second profile is named {what}")]
    Duplicate { file: String, what: String },
    /// The profiles do not hold together (`extends`, overrides).
    #[error("{0}")]
    Invalid(String),
    /// `error` is in a file that is a profile of another kind.
    #[error(
        "{error}\n(this is a {kind} profile, in a directory of {want} profiles: give it as the profiles_dir of a {} source)",
        kind.to_lowercase()
    )]
    OtherKind { error: Box<ProfileError>, kind: &'static str, want: String },
}

/// (file name, text) of every profile to load: built-ins first, then the
/// directory's `*.yaml`/`*.yml` in name order.
pub fn collect(built_in: &[(&str, &str)], dir: Option<&Path>) -> Result<Vec<(String, String)>, ProfileError> {
    // (file, text, name); built-ins are the first `built_in.len()` entries.
    let mut files: Vec<(String, String, Option<String>)> =
        built_in.iter().map(|(n, t)| (n.to_string(), t.to_string(), name_of(t))).collect();
    let Some(dir) = dir else {
        return Ok(files.into_iter().map(|(f, t, _)| (f, t)).collect());
    };
    let entries = std::fs::read_dir(dir).map_err(|source| ProfileError::ReadDir { dir: dir.to_path_buf(), source })?;
    let mut extra = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            let text =
                std::fs::read_to_string(&path).map_err(|source| ProfileError::Read { path: path.clone(), source })?;
            extra.push((path.display().to_string(), text));
        }
    }
    extra.sort();
    let mut built_ins = built_in.len();
    for (path, text) in extra {
        let name = name_of(&text);
        if let Some(n) = &name
            && let Some(i) = files[..built_ins].iter().position(|(_, _, b)| b.as_ref() == Some(n))
        {
            files.remove(i);
            built_ins -= 1;
        }
        files.push((path, text, name));
    }
    Ok(files.into_iter().map(|(f, t, _)| (f, t)).collect())
}

/// Parses the built-in profiles and those of `dir` with `parse`; an error
/// says so when a file is a profile of another kind than `kind`.
pub fn load<P>(
    built_in: &[(&str, &str)],
    dir: Option<&Path>,
    kind: &str,
    parse: impl Fn(&[(&str, &str)]) -> Result<Vec<P>, ProfileError>,
) -> Result<Vec<P>, ProfileError> {
    let files = collect(built_in, dir)?;
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    parse(&refs).map_err(|e| hint_kind(e, &files, kind))
}

/// The kind of profile a file's text looks like, by keys only that kind's
/// fields have: `function:` (Modbus), `oid:` or `column:` (SNMP).
pub fn kind_of(text: &str) -> Option<&'static str> {
    if text.contains("function:") {
        Some("Modbus")
    } else if text.contains("oid:") || text.contains("column:") {
        Some("SNMP")
    } else {
        None
    }
}

/// A load error `e` of `want` profiles, with a hint when the file it names
/// is a profile of the other kind (a Modbus directory given for SNMP).
pub fn hint_kind(e: ProfileError, files: &[(String, String)], want: &str) -> ProfileError {
    let text = e.to_string();
    let wrong = files.iter().find(|(f, t)| text.starts_with(&format!("{f}:")) && kind_of(t).is_some_and(|k| k != want));
    match wrong.and_then(|(_, t)| kind_of(t)) {
        Some(kind) => ProfileError::OtherKind { error: Box::new(e), kind, want: want.to_string() },
        None => e,
    }
}

/// The `name:` of a profile file, read without parsing the rest.
pub fn name_of(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|v| v.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']).to_string())
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_profile_replaces_the_built_in_of_its_name_and_adds_the_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "name: ups-mib # mine\n").unwrap();
        std::fs::write(dir.path().join("a.yaml"), "name: \"new-one\"\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "name: ignored\n").unwrap();
        let built_in = [("ups-mib.yaml", "name: ups-mib\n"), ("apc.yaml", "name: apc\n")];
        let files = collect(&built_in, Some(dir.path())).unwrap();
        let names: Vec<Option<String>> = files.iter().map(|(_, t)| name_of(t)).collect();
        assert_eq!(names, [Some("apc".into()), Some("new-one".into()), Some("ups-mib".into())]);
        assert_eq!(files[2].1, "name: ups-mib # mine\n");
        assert_eq!(collect(&built_in, None).unwrap().len(), 2);
    }

    #[test]
    fn a_profile_of_the_other_kind_is_named_as_such() {
        let files =
            [("d/m.yaml".to_string(), "points:\n  - fields:\n      - {name: v, function: input}\n".to_string())];
        assert_eq!(
            hint_kind(ProfileError::Invalid("d/m.yaml:3:24: unknown field `function`".into()), &files, "SNMP")
                .to_string(),
            "d/m.yaml:3:24: unknown field `function`\n(this is a Modbus profile, in a directory of SNMP profiles: \
             give it as the profiles_dir of a modbus source)"
        );
        assert_eq!(
            hint_kind(ProfileError::Invalid("d/m.yaml:1:1: bad".into()), &files, "Modbus").to_string(),
            "d/m.yaml:1:1: bad"
        );
    }
}
