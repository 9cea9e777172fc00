//! The console's users: name, argon2id hash (a PHC string), role, disabled
//! flag, preferred language, created and changed times, in their own
//! SQLite file (`web.users_db`). `dcwatch-collector user …` writes it; the
//! running collector reads it at each login and each request, so a user
//! disabled or given a new password from the command line is logged out
//! at their next click.

mod replica;
pub use replica::Shared;

use std::path::Path;
use std::sync::Mutex;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rusqlite::{Connection, OptionalExtension, params};

use crate::auth::Role;
use crate::i18n::Lang;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: argon2 takes any length, but nobody types more, and a
/// megabyte-long one would be hashed for nothing.
pub const MAX_PASSWORD_CHARS: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("`{0}` is not a user name: 1 to 64 letters, digits, `.`, `-`, `_` or `@`")]
    BadName(String),
    #[error("user `{0}` exists already")]
    Exists(String),
    #[error("no user `{0}`")]
    Unknown(String),
    #[error("the password is {0} characters long; use at least {MIN_PASSWORD_CHARS}")]
    ShortPassword(usize),
    #[error("the password is {0} characters long; at most {MAX_PASSWORD_CHARS}")]
    LongPassword(usize),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("{0}")]
    Db(String),
}

impl From<rusqlite::Error> for UserError {
    fn from(e: rusqlite::Error) -> Self {
        UserError::Db(e.to_string())
    }
}

/// One user, as stored (without the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// None: follow the browser's Accept-Language.
    pub lang: Option<Lang>,
    pub created_ms: i64,
    pub changed_ms: i64,
    /// Raised by a new password, a new role or disabling: a session opened
    /// at an older epoch ends.
    pub epoch: i64,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
    lang TEXT, created_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL, epoch INTEGER NOT NULL DEFAULT 1
);
";

/// A hash verified against when the name is unknown, so a wrong name
/// takes as long as a wrong password (of a random password nobody knows).
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut secret = [0u8; 32];
    let _ = getrandom::fill(&mut secret);
    hash(&hex::encode(secret)).unwrap_or_default()
});

pub fn check_name(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.chars().count())
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok { Ok(()) } else { Err(UserError::BadName(name.to_string())) }
}

pub fn check_password(password: &str) -> Result<(), UserError> {
    match password.chars().count() {
        n if n < MIN_PASSWORD_CHARS => Err(UserError::ShortPassword(n)),
        n if n > MAX_PASSWORD_CHARS => Err(UserError::LongPassword(n)),
        _ => Ok(()),
    }
}

/// The argon2id PHC string of `password` (a fresh random salt).
pub fn hash(password: &str) -> Result<String, UserError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`.
pub fn verify(password: &str, phc: &str) -> bool {
    match argon2::PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

fn role_of(s: &str) -> Role {
    match s {
        "admin" => Role::Admin,
        "operator" => Role::Operator,
        // An unknown role (a newer version's) gets the least.
        _ => Role::Viewer,
    }
}

pub struct Users {
    conn: Mutex<Connection>,
}

impl Users {
    pub fn open(path: &Path) -> Result<Users, crate::db::OpenError> {
        let conn = crate::db::open(path, Some(std::time::Duration::from_secs(5)), SCHEMA)?;
        Ok(Users { conn: Mutex::new(conn) })
    }

    pub fn add(
        &self,
        name: &str,
        role: Role,
        password: &str,
        lang: Option<Lang>,
        now_ms: i64,
    ) -> Result<(), UserError> {
        check_name(name)?;
        check_password(password)?;
        let hash = hash(password)?;
        let conn = self.conn.lock().expect("not poisoned");
        let n = conn.execute(
            "INSERT OR IGNORE INTO users (name, hash, role, disabled, lang, created_ms, changed_ms) \
             VALUES (?1, ?2, ?3, 0, ?4, ?5, ?5)",
            params![name, hash, role.as_str(), lang.map(Lang::code), now_ms],
        )?;
        if n == 0 {
            return Err(UserError::Exists(name.to_string()));
        }
        Ok(())
    }

    fn update(&self, name: &str, sql: &str, value: Option<String>, now_ms: i64) -> Result<(), UserError> {
        let conn = self.conn.lock().expect("not poisoned");
        let n = conn.execute(sql, params![name, value, now_ms])?;
        if n == 0 {
            return Err(UserError::Unknown(name.to_string()));
        }
        Ok(())
    }

    /// A new password; the user's sessions end.
    pub fn passwd(&self, name: &str, password: &str, now_ms: i64) -> Result<(), UserError> {
        check_password(password)?;
        let hash = hash(password)?;
        self.update(
            name,
            "UPDATE users SET hash = ?2, changed_ms = ?3, epoch = epoch + 1 WHERE name = ?1",
            Some(hash),
            now_ms,
        )
    }

    /// The user can no longer log in, and their sessions end.
    pub fn disable(&self, name: &str, now_ms: i64) -> Result<(), UserError> {
        self.update(
            name,
            "UPDATE users SET disabled = 1, changed_ms = ?3, epoch = epoch + 1 WHERE name = ?1",
            None,
            now_ms,
        )
    }

    /// The language the console speaks to the user (None: the browser's).
    pub fn set_lang(&self, name: &str, lang: Option<Lang>, now_ms: i64) -> Result<(), UserError> {
        let code = lang.map(|l| l.code().to_string());
        self.update(name, "UPDATE users SET lang = ?2, changed_ms = ?3 WHERE name = ?1", code, now_ms)
    }

    pub fn get(&self, name: &str) -> Result<Option<User>, UserError> {
        Ok(self.get_with_hash(name)?.map(|(u, _)| u))
    }

    fn get_with_hash(&self, name: &str) -> Result<Option<(User, String)>, UserError> {
        let conn = self.conn.lock().expect("not poisoned");
        Ok(conn
            .query_row(
                "SELECT name, role, disabled, lang, created_ms, changed_ms, epoch, hash FROM users WHERE name = ?1",
                params![name],
                |r| Ok((row(r)?, r.get(7)?)),
            )
            .optional()?)
    }

    /// Every user, by name.
    pub fn list(&self) -> Result<Vec<User>, UserError> {
        let conn = self.conn.lock().expect("not poisoned");
        let mut st =
            conn.prepare("SELECT name, role, disabled, lang, created_ms, changed_ms, epoch FROM users ORDER BY name")?;
        let rows = st.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Whether anyone could log in.
    pub fn any_enabled(&self) -> Result<bool, UserError> {
        let conn = self.conn.lock().expect("not poisoned");
        Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE disabled = 0)", [], |r| r.get(0))?)
    }

    /// The user, if `password` is theirs and they are not disabled, else
    /// why not (for the audit log; the person is told only "wrong name or
    /// password"). Takes as long (one argon2id verification) whether the
    /// name exists or not.
    pub fn check_login(&self, name: &str, password: &str) -> Result<Result<User, Refused>, UserError> {
        let found = if check_name(name).is_ok() { self.get_with_hash(name)? } else { None };
        let phc = found.as_ref().map_or(DUMMY_HASH.as_str(), |(_, h)| h.as_str());
        let matches = verify(password, phc);
        Ok(match found {
            None => Err(Refused::UnknownUser),
            Some(_) if !matches => Err(Refused::WrongPassword),
            Some((u, _)) if u.disabled => Err(Refused::Disabled),
            Some((u, _)) => Ok(u),
        })
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    UnknownUser,
    WrongPassword,
    Disabled,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::UnknownUser => "unknown user",
            Refused::WrongPassword => "wrong password",
            Refused::Disabled => "user disabled",
        }
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(1)?;
    let lang: Option<String> = r.get(3)?;
    Ok(User {
        name: r.get(0)?,
        role: role_of(&role),
        disabled: r.get::<_, i64>(2)? != 0,
        lang: lang.and_then(|l| Lang::parse(&l).ok()),
        created_ms: r.get(4)?,
        changed_ms: r.get(5)?,
        epoch: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> Users {
        Users::open(&dir.path().join("users.db")).unwrap()
    }

    #[test]
    fn web_a_password_hash_is_argon2id_and_verifies_only_that_password() {
        let h = hash("đúng-mật-khẩu-1").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("đúng-mật-khẩu-1", &h));
        assert!(!verify("đúng-mật-khẩu-2", &h));
        // Two hashes of one password differ (a fresh salt each).
        assert_ne!(hash("đúng-mật-khẩu-1").unwrap(), h);
        // The dummy hash is argon2id too, and matches nothing typed.
        assert!(DUMMY_HASH.starts_with("$argon2id$"));
        assert!(!verify("", &DUMMY_HASH));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn web_users_are_added_changed_disabled_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let u = open(&dir);
        u.add("nam", Role::Operator, "mật-khẩu-dài-1", Some(Lang::En), 1_000).unwrap();
        u.add("lan", Role::Viewer, "mật-khẩu-dài-2", None, 2_000).unwrap();
        assert_eq!(u.add("nam", Role::Admin, "mật-khẩu-dài-3", None, 3_000), Err(UserError::Exists("nam".into())));
        assert_eq!(u.add("a b", Role::Admin, "mật-khẩu-dài-3", None, 3_000), Err(UserError::BadName("a b".into())));
        assert_eq!(u.add("minh", Role::Admin, "ngắn-123", None, 3_000), Err(UserError::ShortPassword(8)));
        assert_eq!(u.check_login("nam", "mật-khẩu-dài-1").unwrap().map(|u| u.role), Ok(Role::Operator));
        assert_eq!(u.check_login("nam", "mật-khẩu-dài-2").unwrap(), Err(Refused::WrongPassword));
        assert_eq!(u.check_login("nobody", "mật-khẩu-dài-1").unwrap(), Err(Refused::UnknownUser));
        u.passwd("nam", "mật-khẩu-mới-1", 4_000).unwrap();
        assert_eq!(u.check_login("nam", "mật-khẩu-dài-1").unwrap(), Err(Refused::WrongPassword));
        let nam = u.check_login("nam", "mật-khẩu-mới-1").unwrap().unwrap();
        assert_eq!((nam.created_ms, nam.changed_ms, nam.epoch, nam.lang), (1_000, 4_000, 2, Some(Lang::En)));
        u.disable("lan", 5_000).unwrap();
        assert_eq!(u.check_login("lan", "mật-khẩu-dài-2").unwrap(), Err(Refused::Disabled));
        assert_eq!(u.disable("nobody", 5_000), Err(UserError::Unknown("nobody".into())));
        let list: Vec<_> = u.list().unwrap().into_iter().map(|u| (u.name, u.role, u.disabled, u.epoch)).collect();
        assert_eq!(list, vec![("lan".into(), Role::Viewer, true, 2), ("nam".into(), Role::Operator, false, 2)]);
        assert!(u.any_enabled().unwrap());
    }
}
