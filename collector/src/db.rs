//! Opening one of the collector's own SQLite files (trends, audit, users):
//! its folder made, the file opened, its tables made, with the one error
//! type that says which step failed and on which path.

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
    let conn = Connection::open(path).map_err(|source| OpenError::Open { path: path.to_path_buf(), source })?;
    if let Some(busy) = busy {
        conn.busy_timeout(busy)?;
    }
    conn.execute_batch(schema).map_err(|source| OpenError::Schema { path: path.to_path_buf(), source })?;
    Ok(conn)
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
}
