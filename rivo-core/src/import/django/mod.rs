//! The Django source: its tables are checked first (so a bad value fails the import before
//! anything is written), then read in id order, in chunks, inside one `REPEATABLE READ`
//! snapshot, and written to the target one table group per transaction.
//!
//! The original's schema changed after 898bd7e, and a database may be at any of its commits,
//! so the import looks at which tables and columns are there ([`SourceSchema`]) rather than
//! expecting one layout:
//!
//! | commit | change | read as |
//! | --- | --- | --- |
//! | 0df8cc8 … 898bd7e | `client_context` table (one per client, `chat_session_id`) | contexts as they are |
//! | b2fff2d | `client_context` dropped; `chat_chathistory.client_id`, `.data_type` | the client's session: its oldest linked message's; `data_type` kept |
//! | 66bef8b | `client_clientassignment.assigned_to_id` nullable | an active row without assignee is "awaiting assignment" |
//! | e0ca024 | `client_client.context` (jsonb) | the client's context |
//! | 7167cbf | `account_user.created_by_id` dropped | `created_by` left empty |
//! | 954f323 | DRF `authtoken_token` | reported, not imported (everyone logs in again) |

mod accounts;
mod chat;
mod clients;
mod report;
mod rows;
mod source;

use std::collections::BTreeMap;

use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Connection, PgConnection};

use self::accounts::import_accounts;
use self::chat::import_chat;
use self::clients::import_clients;
use self::report::report_groups;
pub(crate) use self::rows::{SrcAssignment, SrcRole, SrcUser};
use self::source::check_source;
use super::{
    GroupReport, IgnoredPermission, ImportOptions, ImportReport, TableReport, UnusablePassword,
};
use crate::accounts::Permission;
use crate::error::{Error, Result, Rule};
use crate::store::dialect::Dialect;
use crate::store::sql::{Sql, Tx};
use crate::store::{Backend, BackendKind, Store, dispatch};

/// Rows per read from the source and per INSERT into the target (16 columns at most, far below
/// SQLite's 32766 bound parameters).
pub(super) const CHUNK: i64 = 1000;

/// How long to wait for the Django database to accept the connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The tables of the Django app rivo reads; the import refuses a source without them. (The
/// context is in `client_context` up to 898bd7e, on `client_client` later: neither is required.)
pub(super) const REQUIRED_TABLES: [&str; 10] = [
    "django_content_type",
    "auth_permission",
    "account_role",
    "account_role_permissions",
    "account_user",
    "account_user_user_permissions",
    "chat_chathistory",
    "client_client",
    "client_clientstagehistory",
    "client_clientassignment",
];

/// Copies the original Django app's database at `source_url` (PostgreSQL) into `target`.
///
/// `target` must be migrated. Unless [`ImportOptions::merge`] is set, it must hold no users,
/// roles, chat messages or clients ([`Error::Conflict`] on `target` otherwise); with `merge`,
/// rows whose id is already present are skipped and counted as such.
///
/// The source may be at any commit of the original: its schema is read from the tables and
/// columns present (see the module docs), from 898bd7e's `client_context` table to the later
/// original's context on the client, `data_type` and client link on messages, and assignments
/// without assignee ("awaiting assignment"). A context that is not a JSON object is kept under
/// the key `"value"`. DRF tokens are counted in the report, not imported.
///
/// The source is checked first: unknown stages, sender types or data types, empty messages,
/// emails equal ignoring case, several contexts or active assignments for one client fail
/// with [`Error::Validation`] on `source`, naming the table, the row and the value, before
/// anything is written. Then three groups are copied, each in one target transaction:
/// accounts (roles, their permissions, users, their permissions), chat history, and clients
/// (clients, contexts, stage history, assignments). Ids, timestamps (to the microsecond) and
/// links are kept; afterwards new rows get ids past the imported maximum.
///
/// Permissions become rivo permissions when `<app_label>.<codename>` is one
/// ([`Permission`]); the others, and Django groups, are listed in the report, not imported.
/// Password hashes are copied as they are (see [`crate::accounts::is_usable_hash`]).
pub async fn import_django(
    source_url: &str,
    target: &Store,
    options: ImportOptions,
) -> Result<ImportReport> {
    if BackendKind::from_url(source_url) != Some(BackendKind::Postgres) {
        return Err(unusable_source(
            "the Django database must be given as a postgres:// or postgresql:// URL",
        ));
    }
    let pending = target.pending_migrations().await?;
    if !pending.is_empty() {
        return Err(Error::Conflict {
            field: "target",
            message: format!(
                "the target database is not migrated ({} pending): run `rivo-server migrate` first",
                pending.len()
            ),
        });
    }
    if !options.merge {
        let occupied: Vec<&'static str> = dispatch!(target.import_occupied())?;
        if !occupied.is_empty() {
            return Err(Error::Conflict {
                field: "target",
                message: format!(
                    "the target database already holds {}: import into an empty database, or \
                     pass --merge to keep what is there and skip the rows already present",
                    occupied.join(", ")
                ),
            });
        }
    }
    let connect: PgConnectOptions = source_url.parse()?;
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&connect))
        .await
        .map_err(|_| {
            Error::from(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no answer from the Django database within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            )))
        })??;
    // One generic path per backend: `run` and everything below it is written once over `DB`.
    let result = match &target.backend {
        Backend::Postgres(b) => run(&mut conn, b, target.kind(), options).await,
        Backend::Sqlite(b) => run(&mut conn, b, target.kind(), options).await,
    };
    // A failed close changes nothing: the snapshot was only read.
    let _ = conn.close().await;
    result
}

async fn run<DB: Dialect>(
    conn: &mut PgConnection,
    target: &Sql<DB>,
    kind: BackendKind,
    options: ImportOptions,
) -> Result<ImportReport> {
    let mut src = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let schema = check_source(&mut src).await?;
    let mut report = ImportReport {
        target: kind,
        merge: options.merge,
        tables: Vec::new(),
        ignored_permissions: Vec::new(),
        groups: Vec::new(),
        unusable_passwords: Vec::new(),
    };
    let mut ignored: BTreeMap<String, u64> = sqlx::query_scalar::<sqlx::Postgres, String>(
        "SELECT ct.app_label || '.' || p.codename FROM auth_permission p \
         JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY 1",
    )
    .fetch_all(&mut *src)
    .await?
    .into_iter()
    .filter(|codename| codename.parse::<Permission>().is_err())
    .map(|codename| (codename, 0))
    .collect();

    import_accounts(
        &mut src,
        &schema,
        target,
        options,
        &mut report,
        &mut ignored,
    )
    .await?;
    import_chat(&mut src, &schema, target, &mut report).await?;
    import_clients(&mut src, &schema, target, options, &mut report).await?;
    report_groups(&mut src, &schema, &mut report).await?;
    if schema.tokens {
        let tokens: i64 =
            sqlx::query_scalar::<sqlx::Postgres, i64>("SELECT count(*) FROM authtoken_token")
                .fetch_one(&mut *src)
                .await?;
        // DRF's permanent clear-text tokens are not carried over: everyone logs in again.
        let line = count(&mut report, "authtoken_token", "-");
        line.read = tokens as u64;
        line.ignored = tokens as u64;
    }

    report.ignored_permissions = ignored
        .into_iter()
        .map(|(codename, grants)| IgnoredPermission { codename, grants })
        .collect();
    src.rollback().await?;
    Ok(report)
}

pub(super) fn join(ids: &[i64]) -> String {
    match ids {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!(
            "{} and {last}",
            init.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A row of a source table, which is read in id order a chunk at a time ([`Chunks`]).
pub(super) trait SourceRow: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {
    /// The row's id: the next chunk starts after the last one's.
    fn id(&self) -> i64;
}

/// A source table read in id order, [`CHUNK`] rows at a time: `sql` (written by rivo-core, with
/// columns chosen by the source's schema) selects the rows with an id above `$1`, ordered by
/// id, `LIMIT $2`.
pub(super) struct Chunks {
    sql: String,
    after: i64,
}

impl Chunks {
    /// The table `sql` reads, from its first row.
    pub(super) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            after: 0,
        }
    }

    /// The next chunk as read; `None` once every row was read.
    pub(super) async fn next_rows<R: SourceRow>(
        &mut self,
        src: &mut PgConnection,
    ) -> Result<Option<Vec<R>>> {
        let rows: Vec<R> = sqlx::query_as(sqlx::AssertSqlSafe(self.sql.as_str()))
            .bind(self.after)
            .bind(CHUNK)
            .fetch_all(&mut *src)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after = last.id();
        Ok(Some(rows))
    }

    /// The next chunk with each row checked into `T`; `None` once every row was read.
    pub(super) async fn next_checked<R, T>(
        &mut self,
        src: &mut PgConnection,
    ) -> Result<Option<Vec<T>>>
    where
        R: SourceRow,
        T: TryFrom<R, Error = Error>,
    {
        match self.next_rows::<R>(src).await? {
            Some(rows) => rows
                .into_iter()
                .map(T::try_from)
                .collect::<Result<_>>()
                .map(Some),
            None => Ok(None),
        }
    }
}

/// The Django database cannot be imported as it is, for `why` (a validation error on
/// `source`).
pub(super) fn unusable_source(why: impl Into<String>) -> Error {
    Error::invalid("source", Rule::Other(why.into()))
}

/// A unique value of the target that an import with [`ImportOptions::merge`] must not give
/// to a second row: `column` of `table` (of its active rows only when `active_only`), compared
/// case-insensitively when `lower`.
pub(super) struct Unique {
    table: &'static str,
    column: &'static str,
    lower: bool,
    active_only: bool,
}

impl Unique {
    /// `column` of `table`, compared as is, on every row.
    pub(super) const fn of(table: &'static str, column: &'static str) -> Self {
        Self {
            table,
            column,
            lower: false,
            active_only: false,
        }
    }
}

/// Fails when the target holds a value of `keys` (`(source id, value)` of a chunk of
/// `source_table`, each value its `what`) under another id, by `unique`.
pub(super) async fn check_unique<DB: Dialect>(
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    unique: Unique,
    (source_table, what): (&str, &str),
    keys: &[(i64, String)],
) -> Result<()> {
    let values: Vec<String> = keys.iter().map(|(_, value)| value.clone()).collect();
    let present = target
        .import_present(
            tx,
            unique.table,
            unique.column,
            unique.lower,
            unique.active_only,
            &values,
        )
        .await?;
    let keys = keys.iter().map(|(id, value)| (*id, value.as_str()));
    first_clash(source_table, what, &present, keys).map_or(Ok(()), Err)
}

/// Finds rows of a merge target that hold a unique value of an imported row under another id.
fn first_clash<'a>(
    table: &str,
    what: &str,
    present: &[(i64, String)],
    rows: impl Iterator<Item = (i64, &'a str)> + Clone,
) -> Option<Error> {
    present.iter().find_map(|(target_id, value)| {
        rows.clone()
            .find(|(id, key)| *id != *target_id && key.to_lowercase() == value.to_lowercase())
            .map(|(id, key)| Error::Conflict {
                field: "target",
                message: format!(
                    "{table} id {id}: {what} {key:?} belongs to another row (id {target_id}) of \
                     the target database"
                ),
            })
    })
}

/// The counts of a table; lines are created in the order tables are first counted.
pub(super) fn count<'a>(
    report: &'a mut ImportReport,
    source: &'static str,
    target: &'static str,
) -> &'a mut TableReport {
    report.table_mut(source, target)
}
