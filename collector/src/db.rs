//! Opening one of the collector's own SQLite files (trends, audit, users):
//! its folder made, the file opened, its tables made, with the one error
//! type that says which step failed and on which path; and the `LIKE`
//! pattern their text searches share.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// Why a database file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Its folder cannot be made.
    #[error("{}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file cannot be opened.
    #[error("{}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// Its tables cannot be made or brought up to date.
    #[error("{}", path.display())]
    Schema {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// Setting the connection up failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Opens `path` (making its folder), waits up to `busy` for a lock held by
/// another process when given, and runs `schema`.
pub fn open(path: &Path, busy: Option<Duration>, schema: &str) -> Result<Connection, OpenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir { path: dir.to_path_buf(), source })?;
    }
    create_private(path).map_err(|source| OpenError::Dir { path: path.to_path_buf(), source })?;
    let conn = Connection::open(path).map_err(|source| OpenError::Open { path: path.to_path_buf(), source })?;
    if let Some(busy) = busy {
        conn.busy_timeout(busy)?;
    }
    conn.execute_batch(schema).map_err(|source| OpenError::Schema { path: path.to_path_buf(), source })?;
    Ok(conn)
}

/// Makes a database file that does not exist yet readable by its owner
/// only (it may hold password hashes or the audit log), whatever the umask
/// of whoever runs the command; made by root (`sudo dcwatch-collector user
/// add`), it is given to the owner of its folder (the `dcwatch` user), so
/// the service can still write it. SQLite gives its -wal and -shm files the
/// database file's owner.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0
        && let Some(dir) = path.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d })
    {
        let meta = std::fs::metadata(dir)?;
        if meta.uid() != 0 {
            std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
        }
    }
    Ok(())
}

/// A `LIKE … ESCAPE '\'` pattern matching any text that holds `text`
/// as typed (its `%`, `_` and `\` are themselves).
pub fn like_containing(text: &str) -> String {
    format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_error_names_its_step_and_path_and_keeps_its_source() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("plain-file");
        std::fs::write(&file, "").unwrap();
        let e = open(&file.join("x.db"), None, "").unwrap_err();
        assert!(matches!(&e, OpenError::Dir { path, .. } if *path == file), "{e:?}");
        assert_eq!(dcwatch_common::error_chain(&e), format!("{}: File exists (os error 17)", file.display()));

        let db = d.path().join("t.db");
        let e = open(&db, None, "CREATE TABLE").unwrap_err();
        assert!(matches!(&e, OpenError::Schema { path, .. } if *path == db), "{e:?}");
        assert!(dcwatch_common::error_chain(&e).starts_with(&format!("{}: ", db.display())), "{e}");
        assert!(open(&db, None, "CREATE TABLE t (x)").is_ok());
    }

    #[test]
    fn a_new_database_file_is_its_owners_only_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("users.db");
        open(&db, None, "CREATE TABLE t (x)").unwrap();
        assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
        // A file that exists keeps its mode.
        let other = d.path().join("shared.db");
        std::fs::write(&other, "").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o640)).unwrap();
        open(&other, None, "CREATE TABLE t (x)").unwrap();
        assert_eq!(std::fs::metadata(&other).unwrap().permissions().mode() & 0o777, 0o640);
    }
}
