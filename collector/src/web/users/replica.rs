//! The console's users of a pair of collectors (`crate::peer`): each reads
//! the other's users changed since the last it saw, with its log, and
//! keeps the later of each (by `changed_ms`), so a user added, given a new
//! password, a new role or disabled at one site is so at both. A change
//! that ends sessions (password, role, disabled) ends them here too.

use rusqlite::params;

use super::{Users, check_name, role_of};
use crate::auth::Role;
use crate::i18n::Lang;

/// A user as peers exchange it: with its password's argon2id hash (the
/// link between them carries it: use https, docs/ha.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shared {
    pub name: String,
    pub hash: String,
    pub role: Role,
    pub disabled: bool,
    pub lang: Option<String>,
    pub created_ms: i64,
    pub changed_ms: i64,
}

/// The longest hash taken from a peer (an argon2id PHC string is about 100).
const MAX_HASH: usize = 512;

impl Users {
    /// The users changed after `after_ms`, oldest change first.
    pub fn changed_since(&self, after_ms: i64) -> Result<Vec<Shared>, super::UserError> {
        let conn = self.conn.lock().expect("not poisoned");
        let mut st = conn.prepare(
            "SELECT name, hash, role, disabled, lang, created_ms, changed_ms FROM users WHERE changed_ms > ?1 \
             ORDER BY changed_ms, name LIMIT 1000",
        )?;
        let rows = st.query_map(params![after_ms], |r| {
            Ok(Shared {
                name: r.get(0)?,
                hash: r.get(1)?,
                role: role_of(&r.get::<_, String>(2)?),
                disabled: r.get::<_, i64>(3)? != 0,
                lang: r.get(4)?,
                created_ms: r.get(5)?,
                changed_ms: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Keeps each of `users` that is newer than the one here (or new);
    /// the names of those taken. One with a bad name, hash or language is
    /// skipped.
    pub fn merge_from_peer(&self, users: &[Shared]) -> Result<Vec<String>, super::UserError> {
        let mut conn = self.conn.lock().expect("not poisoned");
        let tx = conn.transaction()?;
        let mut taken = Vec::new();
        for u in users {
            let lang_ok = u.lang.as_deref().is_none_or(|l| Lang::parse(l).is_ok());
            if check_name(&u.name).is_err()
                || u.hash.len() > MAX_HASH
                || argon2::PasswordHash::new(&u.hash).is_err()
                || !lang_ok
            {
                tracing::warn!(user = %crate::status::printable(&u.name), "a user from the peer is not valid; skipped");
                continue;
            }
            // Sessions end (the epoch rises) when what guards them changed.
            let n = tx.execute(
                "INSERT INTO users (name, hash, role, disabled, lang, created_ms, changed_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = epoch + (hash != excluded.hash OR role != excluded.role OR disabled != excluded.disabled),
                     hash = excluded.hash, role = excluded.role, disabled = excluded.disabled,
                     lang = excluded.lang, changed_ms = excluded.changed_ms
                 WHERE excluded.changed_ms > users.changed_ms",
                params![u.name, u.hash, u.role.as_str(), u.disabled, u.lang, u.created_ms, u.changed_ms],
            )?;
            if n > 0 {
                taken.push(u.name.clone());
            }
        }
        tx.commit()?;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_changed_at_one_site_is_so_at_the_other_and_the_older_change_does_not_win() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Users::open(&dir.path().join("a.db")).unwrap(), Users::open(&dir.path().join("b.db")).unwrap());
        a.add("nam", Role::Operator, "mat-khau-dai-1", Some(Lang::Vi), 1_000).unwrap();
        b.add("lan", Role::Admin, "mat-khau-dai-2", None, 1_500).unwrap();
        let from_a = a.changed_since(0).unwrap();
        assert_eq!(b.merge_from_peer(&from_a).unwrap(), ["nam"]);
        assert!(b.check_login("nam", "mat-khau-dai-1").unwrap().is_ok());
        assert_eq!(b.get("nam").unwrap().unwrap().lang, Some(Lang::Vi));
        // Taken again: nothing changes, and it does not go back as new.
        assert!(b.merge_from_peer(&from_a).unwrap().is_empty());
        assert_eq!(a.changed_since(1_000).unwrap(), []);
        // A new password at a ends nam's sessions at b too.
        a.passwd("nam", "mat-khau-moi-3", 2_000).unwrap();
        let epoch = b.get("nam").unwrap().unwrap().epoch;
        assert_eq!(b.merge_from_peer(&a.changed_since(1_000).unwrap()).unwrap(), ["nam"]);
        assert!(b.check_login("nam", "mat-khau-moi-3").unwrap().is_ok());
        assert_eq!(b.get("nam").unwrap().unwrap().epoch, epoch + 1);
        // b disabled nam later than a's change: a's older state does not undo it.
        b.disable("nam", 3_000).unwrap();
        assert!(b.merge_from_peer(&a.changed_since(0).unwrap()).unwrap().is_empty());
        assert!(b.get("nam").unwrap().unwrap().disabled);
        // A hostile peer: a bad name or a hash that is not one is skipped.
        let mut bad = a.changed_since(0).unwrap()[0].clone();
        bad.name = "x\ny".into();
        let mut fake = bad.clone();
        fake.name = "fake".into();
        fake.hash = "plaintext".into();
        assert!(b.merge_from_peer(&[bad, fake]).unwrap().is_empty());
        assert_eq!(b.get("fake").unwrap(), None);
    }
}
