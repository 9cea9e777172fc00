//! `dcwatch-collector user add|passwd|disable|list`: the console's users,
//! managed on the collector's machine. Passwords come on standard input
//! (one line), so scripts and tests can pipe them; each change is audited
//! with the operating-system user who ran the command as its author.

use std::io::BufRead;

use clap::Subcommand;

use super::users::{UserError, Users};
use crate::auth::Role;
use crate::config::CollectorConfig;
use crate::i18n::Lang;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (one line, at least 10 characters).
    Add {
        name: String,
        /// viewer (reads), operator (also acknowledges and silences) or admin (also reads the audit log).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// vi or en; defaults to the browser's language.
        #[arg(long, value_parser = Lang::parse)]
        lang: Option<Lang>,
    },
    /// Give a user a new password (read from standard input); their sessions end.
    Passwd { name: String },
    /// Disable a user: they cannot log in, and their sessions end.
    Disable { name: String },
    /// List the users: name, role, state, language, last change.
    List,
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "viewer" => Ok(Role::Viewer),
        "operator" => Ok(Role::Operator),
        "admin" => Ok(Role::Admin),
        _ => Err(format!("`{s}` is not a role: viewer, operator or admin")),
    }
}

/// Who runs this command, for the audit log: the operating-system user,
/// and under sudo the user who called sudo (`root (sudo by minh)`).
fn actor() -> String {
    actor_of(os_user(), std::env::var("SUDO_USER").ok())
}

fn actor_of(user: String, sudo_user: Option<String>) -> String {
    match sudo_user.as_deref().map(str::trim) {
        Some(by) if !by.is_empty() && by != user => format!("{user} (sudo by {by})"),
        _ => user,
    }
}

/// The operating-system user running this command.
fn os_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; it is
    // read at once, before any other call could overwrite it.
    let name = unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned())
        }
    };
    name.unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(
            "give the password on standard input, e.g. `read -rs P; echo \"$P\" | dcwatch-collector user passwd NAME`"
                .into(),
        );
    }
    Ok(pw)
}

/// Runs the command; the exit code is 0, 1 (failed) or 2 (refused input).
pub fn run(config: &CollectorConfig, cmd: UserCommand) -> u8 {
    match exec(config, cmd) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err((code, e)) => {
            eprintln!("dcwatch-collector user: {e}");
            code
        }
    }
}

fn exec(config: &CollectorConfig, cmd: UserCommand) -> Result<String, (u8, String)> {
    let refused = |e: UserError| {
        let code = if matches!(e, UserError::Db(_) | UserError::Hash(_)) { 1 } else { 2 };
        (code, e.to_string())
    };
    let users = Users::open(&config.web.users_db).map_err(|e| (1, dcwatch_common::error_chain(&e)))?;
    let now = crate::alarm::now_ms();
    // Opened before the change: a change that cannot be audited is not made.
    let audit = match &cmd {
        UserCommand::List => None,
        _ => Some(
            crate::audit::Audit::open(&config.audit.db, config.audit.retention_days)
                .map_err(|e| (1, dcwatch_common::error_chain(&e)))?,
        ),
    };
    let (action, name, comment) = match cmd {
        UserCommand::List => return list(&users, config).map_err(refused),
        UserCommand::Add { name, role, lang } => {
            let pw = read_password().map_err(|e| (2, e))?;
            users.add(&name, role, &pw, lang, now).map_err(refused)?;
            ("user_add", name, format!("role {}", role.as_str()))
        }
        UserCommand::Passwd { name } => {
            let pw = read_password().map_err(|e| (2, e))?;
            users.passwd(&name, &pw, now).map_err(refused)?;
            ("user_passwd", name, String::new())
        }
        UserCommand::Disable { name } => {
            users.disable(&name, now).map_err(refused)?;
            ("user_disable", name, String::new())
        }
    };
    let actor = actor();
    let e = crate::audit::Event {
        actor: &actor,
        role: "-",
        action,
        target: &name,
        comment: &comment,
        ..Default::default()
    };
    if let Some(audit) = &audit {
        audit.record_from(&e, "cli", now);
    }
    Ok(format!("{action}: {name}\n"))
}

fn list(users: &Users, config: &CollectorConfig) -> Result<String, UserError> {
    let tz = config.tz();
    let mut out = String::new();
    for u in users.list()? {
        let state = if u.disabled { "disabled" } else { "enabled" };
        let lang = u.lang.map_or("-", Lang::code);
        let changed = jiff::Timestamp::from_millisecond(u.changed_ms)
            .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        out.push_str(&format!("{}\t{}\t{state}\t{lang}\t{changed}\n", u.name, u.role.as_str()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_a_user_change_under_sudo_names_who_called_sudo() {
        assert_eq!(actor_of("root".into(), Some("minh".into())), "root (sudo by minh)");
        assert_eq!(actor_of("root".into(), None), "root");
        assert_eq!(actor_of("dcwatch".into(), Some("dcwatch".into())), "dcwatch");
        assert_eq!(actor_of("root".into(), Some(" ".into())), "root");
    }
}
