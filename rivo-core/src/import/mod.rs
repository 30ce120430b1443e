//! Moving in: copy an existing database of the original Django app into a rivo store.
//!
//! [`import_django`] reads the Django app's PostgreSQL database (users, roles and their
//! permissions, chat history, clients with their context, stage history and assignments) and
//! writes it into any [`Store`](crate::Store), SQLite or PostgreSQL, keeping ids, timestamps and
//! links. Logins keep working: rivo verifies Django's `pbkdf2_sha256$…` password hashes and
//! replaces them with argon2 at each user's first login.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rivo_core::Error> {
//! use rivo_core::import::{ImportOptions, import_django};
//! use rivo_core::Store;
//!
//! let store = Store::open("sqlite://rivo.sqlite3?mode=rwc").await?;
//! store.migrate().await?;
//! let report = import_django(
//!     "postgres://django@db.example.com:5432/rivo",
//!     &store,
//!     ImportOptions::default(),
//! )
//! .await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! The source is read through ordinary (prepared) statements inside one `REPEATABLE READ`
//! read-only transaction, so it may stay in use during the import. With Supabase use a direct
//! connection or the pooler in **session mode** (port 5432): the transaction-mode pooler
//! (port 6543) does not support prepared statements.

use std::fmt;

use crate::BackendKind;
use crate::ids::UserId;

pub(crate) mod django;

pub use django::import_django;

/// How [`import_django`] treats a target that already holds data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// `false` (the default): refuse a target whose users, roles, chat messages or clients are
    /// not empty. `true`: import into it anyway, skipping every row whose id is already present
    /// (counted as `skipped`), so an interrupted or repeated import can be completed.
    pub merge: bool,
}

/// Counts for one source table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableReport {
    /// The Django table, e.g. `account_user`.
    pub source: &'static str,
    /// The rivo table it goes to, e.g. `users` (`-` when it is only reported).
    pub target: &'static str,
    /// Rows read from the source.
    pub read: u64,
    /// Rows written to the target.
    pub imported: u64,
    /// Rows already present in the target (same id, or the same permission grant); only with
    /// [`ImportOptions::merge`].
    pub skipped: u64,
    /// Rows rivo has no use for: grants of permissions rivo does not know, group memberships.
    pub ignored: u64,
}

impl TableReport {
    /// Counts one chunk: `read` rows, of which `imported` were written and the rest were
    /// already present.
    pub(crate) fn add_chunk(&mut self, read: usize, imported: u64) {
        let read = read as u64;
        self.read += read;
        self.imported += imported;
        self.skipped += read - imported;
    }
}

/// A permission of the Django database that rivo does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IgnoredPermission {
    /// `<app_label>.<codename>`, e.g. `admin.add_logentry`.
    pub codename: String,
    /// How many role and user grants of it were left out.
    pub grants: u64,
}

/// A Django auth group: reported so its permissions can be given through a rivo role instead,
/// but not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupReport {
    /// The group's id in Django.
    pub id: i64,
    /// Its name (empty if `auth_group` is missing).
    pub name: String,
    /// Its members.
    pub members: Vec<UserId>,
}

/// A user who cannot log in with their imported password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnusablePassword {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// `unusable` for Django's `!…` (set_unusable_password) or an empty hash, otherwise the
    /// unsupported hasher's name (`bcrypt_sha256`, `md5`, …).
    pub algorithm: String,
}

/// What [`import_django`] did; `Display` prints it as a table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The backend imported into.
    pub target: BackendKind,
    /// Whether rows already present were skipped.
    pub merge: bool,
    /// Per source table, in import order.
    pub tables: Vec<TableReport>,
    /// Every Django permission rivo does not use, by codename.
    pub ignored_permissions: Vec<IgnoredPermission>,
    /// Django auth groups and their members (not imported).
    pub groups: Vec<GroupReport>,
    /// Imported users whose password cannot be used to log in (they need a new one).
    pub unusable_passwords: Vec<UnusablePassword>,
}

impl ImportReport {
    /// The counts of one Django table, e.g. `report.table("account_user")`.
    pub fn table(&self, source: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.source == source)
    }

    fn table_mut(&mut self, source: &'static str, target: &'static str) -> &mut TableReport {
        let index = match self.tables.iter().position(|t| t.source == source) {
            Some(index) => index,
            None => {
                self.tables.push(TableReport {
                    source,
                    target,
                    read: 0,
                    imported: 0,
                    skipped: 0,
                    ignored: 0,
                });
                self.tables.len() - 1
            }
        };
        &mut self.tables[index]
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match self.target {
            BackendKind::Postgres => "PostgreSQL",
            BackendKind::Sqlite => "SQLite",
        };
        let mode = if self.merge { " (merge)" } else { "" };
        writeln!(f, "Imported the Django database into {target}{mode}:")?;
        writeln!(
            f,
            "  {:<30} {:<22} {:>9} {:>9} {:>9} {:>9}",
            "django table", "rivo table", "read", "imported", "skipped", "ignored"
        )?;
        for t in &self.tables {
            writeln!(
                f,
                "  {:<30} {:<22} {:>9} {:>9} {:>9} {:>9}",
                t.source, t.target, t.read, t.imported, t.skipped, t.ignored
            )?;
        }
        if !self.ignored_permissions.is_empty() {
            let (granted, never): (Vec<_>, Vec<_>) =
                self.ignored_permissions.iter().partition(|p| p.grants > 0);
            writeln!(
                f,
                "Permissions rivo does not use ({}), not imported:",
                self.ignored_permissions.len()
            )?;
            if !granted.is_empty() {
                let list: Vec<String> = granted
                    .iter()
                    .map(|p| {
                        let s = if p.grants == 1 { "" } else { "s" };
                        format!("{} ({} grant{s})", p.codename, p.grants)
                    })
                    .collect();
                writeln!(f, "  granted: {}", list.join(", "))?;
            }
            if !never.is_empty() {
                let list: Vec<&str> = never.iter().map(|p| p.codename.as_str()).collect();
                writeln!(f, "  never granted: {}", list.join(", "))?;
            }
        }
        if !self.groups.is_empty() {
            writeln!(
                f,
                "Django groups (not imported; give their permissions through a role):"
            )?;
            for g in &self.groups {
                let members: Vec<String> = g.members.iter().map(|m| m.to_string()).collect();
                let members = if members.is_empty() {
                    "no members".to_owned()
                } else {
                    format!("users {}", members.join(", "))
                };
                writeln!(f, "  {} {:?}: {members}", g.id, g.name)?;
            }
        }
        if !self.unusable_passwords.is_empty() {
            writeln!(
                f,
                "Users who cannot log in until a new password is set ({}):",
                self.unusable_passwords.len()
            )?;
            for u in &self.unusable_passwords {
                writeln!(f, "  {} {} ({})", u.user_id, u.email, u.algorithm)?;
            }
        }
        Ok(())
    }
}
