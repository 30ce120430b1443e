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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Connection, PgConnection};

use super::{
    GroupReport, IgnoredPermission, ImportOptions, ImportReport, TableReport, UnusablePassword,
};
use crate::accounts::Permission;
use crate::chat::{DataType, SenderType};
use crate::clients::Stage;
use crate::django_hash::{self, HashKind};
use crate::error::{Error, Result, Rule};
use crate::ids::{SessionId, UserId};
use crate::store::dialect::Dialect;
use crate::store::sql::{Sql, Tx};
use crate::store::{Backend, BackendKind, Store, dispatch};

/// Rows per read from the source and per INSERT into the target (16 columns at most, far below
/// SQLite's 32766 bound parameters).
const CHUNK: i64 = 1000;

/// How long to wait for the Django database to accept the connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The tables of the Django app rivo reads; the import refuses a source without them. (The
/// context is in `client_context` up to 898bd7e, on `client_client` later: neither is required.)
const REQUIRED_TABLES: [&str; 10] = [
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

#[derive(sqlx::FromRow)]
pub(crate) struct SrcRole {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SrcUser {
    pub id: i64,
    pub password: String,
    pub last_login: Option<DateTime<Utc>>,
    pub is_superuser: bool,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub phone: String,
    pub role_id: Option<i64>,
    pub created_by_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SrcMessageRow {
    id: i64,
    session_id: String,
    message: String,
    sender_type: String,
    data_type: String,
    sent_at: DateTime<Utc>,
}

/// A checked chat message.
pub(crate) struct SrcMessage {
    pub id: i64,
    pub session_id: SessionId,
    pub message: String,
    pub sender_type: SenderType,
    pub data_type: DataType,
    pub sent_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SrcClientRow {
    id: i64,
    name: String,
    email: String,
    phone: String,
    current_stage: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A checked client.
pub(crate) struct SrcClient {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub current_stage: Stage,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A client row of the later schema with its context column (`NULL` when the column is absent).
#[derive(sqlx::FromRow)]
struct SrcClientContextRow {
    id: i64,
    context: Option<sqlx::types::Json<Json>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SrcContextRow {
    id: i64,
    client_id: i64,
    chat_session_id: Option<String>,
    context_data: Option<sqlx::types::Json<Json>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A checked client context.
pub(crate) struct SrcContext {
    pub id: i64,
    pub client_id: i64,
    pub chat_session_id: Option<SessionId>,
    pub data: Map<String, Json>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SrcStageChangeRow {
    id: i64,
    client_id: i64,
    from_stage: Option<String>,
    to_stage: String,
    changed_by_id: Option<i64>,
    remarks: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A checked stage change (`from_stage` `''` is none).
pub(crate) struct SrcStageChange {
    pub id: i64,
    pub client_id: i64,
    pub from_stage: Option<Stage>,
    pub to_stage: Stage,
    pub changed_by_id: Option<i64>,
    pub remarks: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SrcAssignment {
    pub id: i64,
    pub client_id: i64,
    /// `None`: "awaiting assignment" (the later original's unassigned lead, 66bef8b on).
    pub assigned_to_id: Option<i64>,
    pub assigned_by_id: Option<i64>,
    pub is_active: bool,
    pub remarks: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A bad value in the Django database, naming the table, the row and the value.
fn bad_row(table: &str, id: i64, what: impl std::fmt::Display) -> Error {
    Error::invalid(
        "source",
        Rule::Other(format!(
            "{table} id {id}: {what}; fix it in the Django database and import again"
        )),
    )
}

fn parse_stage(table: &str, id: i64, column: &str, value: &str) -> Result<Stage> {
    Stage::from_str(value).map_err(|_| {
        bad_row(
            table,
            id,
            format_args!("{column} {value:?} is not a rivo stage"),
        )
    })
}

fn parse_session(table: &str, id: i64, column: &str, value: &str) -> Result<SessionId> {
    SessionId::from_str(value)
        .map_err(|_| bad_row(table, id, format_args!("{column} {value:?} is not a UUID")))
}

impl TryFrom<SrcMessageRow> for SrcMessage {
    type Error = Error;
    fn try_from(r: SrcMessageRow) -> Result<Self> {
        const T: &str = "chat_chathistory";
        let sender_type = SenderType::from_str(&r.sender_type).map_err(|_| {
            bad_row(
                T,
                r.id,
                format_args!("sender_type {:?} is not client or bot", r.sender_type),
            )
        })?;
        if r.message.is_empty() {
            return Err(bad_row(T, r.id, "the message is empty"));
        }
        let data_type = DataType::from_str(&r.data_type).map_err(|_| {
            bad_row(
                T,
                r.id,
                format_args!(
                    "data_type {:?} is not message, name, email or phone",
                    r.data_type
                ),
            )
        })?;
        Ok(SrcMessage {
            id: r.id,
            session_id: parse_session(T, r.id, "session_id", &r.session_id)?,
            message: r.message,
            sender_type,
            data_type,
            sent_at: r.sent_at,
        })
    }
}

impl TryFrom<SrcClientRow> for SrcClient {
    type Error = Error;
    fn try_from(r: SrcClientRow) -> Result<Self> {
        Ok(SrcClient {
            current_stage: parse_stage("client_client", r.id, "current_stage", &r.current_stage)?,
            id: r.id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl TryFrom<SrcContextRow> for SrcContext {
    type Error = Error;
    fn try_from(r: SrcContextRow) -> Result<Self> {
        const T: &str = "client_context";
        let data = context_object(r.context_data.map(|j| j.0));
        let chat_session_id = match r.chat_session_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(parse_session(T, r.id, "chat_session_id", s)?),
        };
        Ok(SrcContext {
            id: r.id,
            client_id: r.client_id,
            chat_session_id,
            data,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl TryFrom<SrcStageChangeRow> for SrcStageChange {
    type Error = Error;
    fn try_from(r: SrcStageChangeRow) -> Result<Self> {
        const T: &str = "client_clientstagehistory";
        let from_stage = match r.from_stage.as_deref() {
            None | Some("") => None,
            Some(s) => Some(parse_stage(T, r.id, "from_stage", s)?),
        };
        Ok(SrcStageChange {
            from_stage,
            to_stage: parse_stage(T, r.id, "to_stage", &r.to_stage)?,
            id: r.id,
            client_id: r.client_id,
            changed_by_id: r.changed_by_id,
            remarks: r.remarks,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The key a context that is not a JSON object is kept under: rivo's context is an object,
/// the original stored whatever JSON it was given (the later original even stored a model's
/// non-object answer as is).
pub const NON_OBJECT_CONTEXT_KEY: &str = "value";

/// A source context as rivo's object: `null` is empty, an object is itself, anything else is
/// kept under [`NON_OBJECT_CONTEXT_KEY`] (`[1, 2]` → `{"value": [1, 2]}`), never dropped.
fn context_object(value: Option<Json>) -> Map<String, Json> {
    match value {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(map)) => map,
        Some(other) => {
            let mut map = Map::new();
            map.insert(NON_OBJECT_CONTEXT_KEY.to_owned(), other);
            map
        }
    }
}

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
        return Err(Error::invalid(
            "source",
            Rule::Other(
                "the Django database must be given as a postgres:// or postgresql:// URL".into(),
            ),
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

/// The tables and columns the source has: which commit of the original it was migrated to
/// (see the module docs).
struct SourceSchema {
    /// `client_context` (up to 898bd7e; dropped in b2fff2d).
    context_table: bool,
    /// `client_client.context` (e0ca024 on).
    client_context_column: bool,
    /// `chat_chathistory.client_id` (b2fff2d on).
    message_client: bool,
    /// `chat_chathistory.data_type` (b2fff2d on).
    message_data_type: bool,
    /// `account_user.created_by_id` (dropped in 7167cbf).
    user_created_by: bool,
    /// `account_role.description`.
    role_description: bool,
    /// DRF's `authtoken_token` (954f323 on).
    tokens: bool,
    auth_group: bool,
    user_groups: bool,
}

async fn column_exists(src: &mut PgConnection, table: &str, column: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) \
         AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
    )
    .bind(table)
    .bind(column)
    .fetch_one(&mut *src)
    .await?)
}

async fn table_exists(src: &mut PgConnection, table: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(table)
        .fetch_one(&mut *src)
        .await?;
    Ok(found.is_some())
}

/// Checks the source as a whole before anything is written, and finds out its schema.
async fn check_source(src: &mut PgConnection) -> Result<SourceSchema> {
    for table in REQUIRED_TABLES {
        if !table_exists(src, table).await? {
            return Err(Error::invalid(
                "source",
                Rule::Other(format!(
                    "table {table} not found: is this the Django app's database (and its schema \
                     on the search_path)?"
                )),
            ));
        }
    }
    let schema = SourceSchema {
        context_table: table_exists(src, "client_context").await?,
        client_context_column: column_exists(src, "client_client", "context").await?,
        message_client: column_exists(src, "chat_chathistory", "client_id").await?,
        message_data_type: column_exists(src, "chat_chathistory", "data_type").await?,
        user_created_by: column_exists(src, "account_user", "created_by_id").await?,
        role_description: column_exists(src, "account_role", "description").await?,
        tokens: table_exists(src, "authtoken_token").await?,
        auth_group: table_exists(src, "auth_group").await?,
        user_groups: table_exists(src, "account_user_groups").await?,
    };
    let stages: Vec<String> = Stage::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    let bad: Option<(i64, String)> = sqlx::query_as(
        "SELECT id::bigint, current_stage FROM client_client WHERE NOT (current_stage = ANY($1)) \
         ORDER BY id LIMIT 1",
    )
    .bind(&stages)
    .fetch_optional(&mut *src)
    .await?;
    if let Some((id, value)) = bad {
        return Err(parse_stage("client_client", id, "current_stage", &value)
            .err()
            .unwrap_or_else(|| {
                bad_row("client_client", id, format_args!("current_stage {value:?}"))
            }));
    }
    let bad: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id::bigint, CASE WHEN NOT (to_stage = ANY($1)) THEN 'to_stage' ELSE 'from_stage' END, \
         CASE WHEN NOT (to_stage = ANY($1)) THEN to_stage ELSE from_stage END \
         FROM client_clientstagehistory WHERE NOT (to_stage = ANY($1)) \
         OR (from_stage <> '' AND NOT (from_stage = ANY($1))) ORDER BY id LIMIT 1",
    )
    .bind(&stages)
    .fetch_optional(&mut *src)
    .await?;
    if let Some((id, column, value)) = bad {
        return Err(bad_row(
            "client_clientstagehistory",
            id,
            format_args!("{column} {value:?} is not a rivo stage"),
        ));
    }
    let bad: Option<(i64, String)> = sqlx::query_as(
        "SELECT id::bigint, sender_type FROM chat_chathistory \
         WHERE sender_type NOT IN ('client', 'bot') OR message = '' ORDER BY id LIMIT 1",
    )
    .fetch_optional(&mut *src)
    .await?;
    if let Some((id, sender_type)) = bad {
        let what = if SenderType::from_str(&sender_type).is_ok() {
            "the message is empty".to_owned()
        } else {
            format!("sender_type {sender_type:?} is not client or bot")
        };
        return Err(bad_row("chat_chathistory", id, what));
    }
    if schema.message_data_type {
        let kinds: Vec<String> = DataType::ALL
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        let bad: Option<(i64, String)> = sqlx::query_as(
            "SELECT id::bigint, data_type FROM chat_chathistory \
             WHERE NOT (data_type = ANY($1)) ORDER BY id LIMIT 1",
        )
        .bind(&kinds)
        .fetch_optional(&mut *src)
        .await?;
        if let Some((id, value)) = bad {
            return Err(bad_row(
                "chat_chathistory",
                id,
                format_args!("data_type {value:?} is not message, name, email or phone"),
            ));
        }
    }
    let same_email: Option<(Vec<i64>, Vec<String>)> = sqlx::query_as(
        "SELECT array_agg(id::bigint ORDER BY id), array_agg(email::text ORDER BY id) FROM account_user \
         GROUP BY lower(email) HAVING count(*) > 1 ORDER BY min(id) LIMIT 1",
    )
    .fetch_optional(&mut *src)
    .await?;
    if let Some((ids, emails)) = same_email {
        return Err(Error::invalid(
            "source",
            Rule::Other(format!(
                "account_user ids {} have the same email ignoring case ({}); rivo logs users in \
                 by email, so change all but one in the Django database and import again",
                join(&ids),
                emails
                    .iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
    let same_name: Option<(Vec<i64>, String)> = sqlx::query_as(
        "SELECT array_agg(id::bigint ORDER BY id), min(name)::text FROM account_role GROUP BY name \
         HAVING count(*) > 1 ORDER BY min(id) LIMIT 1",
    )
    .fetch_optional(&mut *src)
    .await?;
    if let Some((ids, name)) = same_name {
        return Err(Error::invalid(
            "source",
            Rule::Other(format!(
                "account_role ids {} have the same name {name:?}; role names are unique in rivo",
                join(&ids)
            )),
        ));
    }
    let mut unique = vec![(
        "client_clientassignment",
        "WHERE is_active ",
        "several active assignments",
    )];
    if schema.context_table {
        unique.insert(0, ("client_context", "", "several contexts"));
    }
    for (table, filter, what) in unique {
        let dup: Option<(i64, Vec<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT client_id::bigint, array_agg(id::bigint ORDER BY id) FROM {table} {filter}\
             GROUP BY client_id HAVING count(*) > 1 ORDER BY client_id LIMIT 1"
        )))
        .fetch_optional(&mut *src)
        .await?;
        if let Some((client, ids)) = dup {
            return Err(Error::invalid(
                "source",
                Rule::Other(format!(
                    "{table} ids {} are {what} of client {client}; rivo keeps at most one",
                    join(&ids)
                )),
            ));
        }
    }
    Ok(schema)
}

fn join(ids: &[i64]) -> String {
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

/// The next chunk of a table after id `after`; `sql` has `$1` (after) and `$2` (limit).
async fn chunk<R>(src: &mut PgConnection, sql: &'static str, after: i64) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    Ok(sqlx::query_as(sql)
        .bind(after)
        .bind(CHUNK)
        .fetch_all(&mut *src)
        .await?)
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
fn count<'a>(
    report: &'a mut ImportReport,
    source: &'static str,
    target: &'static str,
) -> &'a mut TableReport {
    report.table_mut(source, target)
}

/// Grants `(owner id, "<app_label>.<codename>")` of a Django many-to-many permission table.
async fn read_grants(src: &mut PgConnection, sql: &'static str) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(sql).fetch_all(&mut *src).await?)
}

async fn import_grants<DB: Dialect>(
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    grants: Vec<(i64, String)>,
    imported_owners: &HashSet<i64>,
    ignored: &mut BTreeMap<String, u64>,
    (table, owner_column): (&'static str, &'static str),
    line: &mut TableReport,
) -> Result<()> {
    line.read = grants.len() as u64;
    let mut known = Vec::new();
    for (owner, codename) in grants {
        if codename.parse::<Permission>().is_err() {
            *ignored.entry(codename).or_insert(0) += 1;
            line.ignored += 1;
        } else if imported_owners.contains(&owner) {
            known.push((owner, codename));
        } else {
            // The owner was already present (merge): its permissions are left as they are.
            line.skipped += 1;
        }
    }
    for batch in known.chunks(CHUNK as usize) {
        let inserted = target
            .import_grants(&mut *tx, table, owner_column, batch)
            .await?;
        line.imported += inserted;
        line.skipped += batch.len() as u64 - inserted;
    }
    Ok(())
}

async fn import_accounts<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
    ignored: &mut BTreeMap<String, u64>,
) -> Result<()> {
    let mut tx = target.import_begin().await?;
    for (source, table) in [
        ("account_role", "roles"),
        ("account_role_permissions", "role_permissions"),
        ("account_user", "users"),
        ("account_user_user_permissions", "user_permissions"),
    ] {
        count(report, source, table);
    }

    let mut roles_imported = HashSet::new();
    let mut after = 0;
    loop {
        let rows: Vec<SrcRole> = chunk(
            src,
            if schema.role_description {
                "SELECT id::bigint AS id, name, COALESCE(description, '') AS description, \
                 created_at, updated_at FROM account_role WHERE id > $1 ORDER BY id LIMIT $2"
            } else {
                "SELECT id::bigint AS id, name, '' AS description, created_at, updated_at \
                 FROM account_role WHERE id > $1 ORDER BY id LIMIT $2"
            },
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        if options.merge {
            let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
            let present = target
                .import_present(&mut tx, "roles", "name", false, false, &names)
                .await?;
            let keys = rows.iter().map(|r| (r.id, r.name.as_str()));
            if let Some(e) = first_clash("account_role", "name", &present, keys) {
                return Err(e);
            }
        }
        let inserted: Vec<i64> = target.import_roles(&mut tx, &rows).await?;
        let line = count(report, "account_role", "roles");
        line.read += rows.len() as u64;
        line.imported += inserted.len() as u64;
        line.skipped += (rows.len() - inserted.len()) as u64;
        roles_imported.extend(inserted);
    }
    let grants = read_grants(
        src,
        "SELECT rp.role_id::bigint, ct.app_label || '.' || p.codename FROM account_role_permissions rp \
         JOIN auth_permission p ON p.id = rp.permission_id \
         JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY rp.role_id, p.id",
    )
    .await?;
    import_grants(
        target,
        &mut tx,
        grants,
        &roles_imported,
        ignored,
        ("role_permissions", "role_id"),
        count(report, "account_role_permissions", "role_permissions"),
    )
    .await?;

    let mut users_imported = HashSet::new();
    let mut created_by = Vec::new();
    let mut after = 0;
    loop {
        let rows: Vec<SrcUser> = chunk(
            src,
            if schema.user_created_by {
                "SELECT id::bigint AS id, password, last_login, is_superuser, username, \
                 COALESCE(first_name, '') AS first_name, COALESCE(last_name, '') AS last_name, \
                 COALESCE(email, '') AS email, is_staff, is_active, date_joined, created_at, \
                 updated_at, COALESCE(phone, '') AS phone, role_id::bigint AS role_id, \
                 created_by_id::bigint AS created_by_id \
                 FROM account_user WHERE id > $1 ORDER BY id LIMIT $2"
            } else {
                "SELECT id::bigint AS id, password, last_login, is_superuser, username, \
                 COALESCE(first_name, '') AS first_name, COALESCE(last_name, '') AS last_name, \
                 COALESCE(email, '') AS email, is_staff, is_active, date_joined, created_at, \
                 updated_at, COALESCE(phone, '') AS phone, role_id::bigint AS role_id, \
                 NULL::bigint AS created_by_id \
                 FROM account_user WHERE id > $1 ORDER BY id LIMIT $2"
            },
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for user in &rows {
            let kind = django_hash::kind(&user.password);
            if matches!(kind, HashKind::Unusable | HashKind::Unsupported) {
                report.unusable_passwords.push(UnusablePassword {
                    user_id: UserId(user.id),
                    email: user.email.clone(),
                    algorithm: django_hash::algorithm(&user.password).to_owned(),
                });
            }
        }
        if options.merge {
            let emails: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
            let present = target
                .import_present(&mut tx, "users", "email", true, false, &emails)
                .await?;
            let keys = rows.iter().map(|r| (r.id, r.email.as_str()));
            if let Some(e) = first_clash("account_user", "email", &present, keys) {
                return Err(e);
            }
            let names: Vec<String> = rows.iter().map(|r| r.username.clone()).collect();
            let present = target
                .import_present(&mut tx, "users", "username", false, false, &names)
                .await?;
            let keys = rows.iter().map(|r| (r.id, r.username.as_str()));
            if let Some(e) = first_clash("account_user", "username", &present, keys) {
                return Err(e);
            }
        }
        let inserted: Vec<i64> = target.import_users(&mut tx, &rows).await?;
        let inserted: HashSet<i64> = inserted.into_iter().collect();
        created_by.extend(
            rows.iter()
                .filter(|u| inserted.contains(&u.id))
                .filter_map(|u| u.created_by_id.map(|by| (u.id, by))),
        );
        let line = count(report, "account_user", "users");
        line.read += rows.len() as u64;
        line.imported += inserted.len() as u64;
        line.skipped += (rows.len() - inserted.len()) as u64;
        users_imported.extend(inserted);
    }
    // Users were written without `created_by`, so creators need not come first.
    target.import_user_created_by(&mut tx, &created_by).await?;
    let grants = read_grants(
        src,
        "SELECT up.user_id::bigint, ct.app_label || '.' || p.codename \
         FROM account_user_user_permissions up \
         JOIN auth_permission p ON p.id = up.permission_id \
         JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY up.user_id, p.id",
    )
    .await?;
    import_grants(
        target,
        &mut tx,
        grants,
        &users_imported,
        ignored,
        ("user_permissions", "user_id"),
        count(report, "account_user_user_permissions", "user_permissions"),
    )
    .await?;

    target
        .import_reset_ids(&mut tx, &["roles", "users"])
        .await?;
    tx.commit().await?;
    tracing::info!("imported accounts");
    Ok(())
}

async fn import_chat<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    report: &mut ImportReport,
) -> Result<()> {
    let mut tx = target.import_begin().await?;
    count(report, "chat_chathistory", "chat_messages");
    let mut after = 0;
    loop {
        let rows: Vec<SrcMessageRow> = chunk(
            src,
            if schema.message_data_type {
                "SELECT id::bigint AS id, session_id::text AS session_id, message, sender_type, \
                 data_type, sent_at FROM chat_chathistory WHERE id > $1 ORDER BY id LIMIT $2"
            } else {
                "SELECT id::bigint AS id, session_id::text AS session_id, message, sender_type, \
                 'message' AS data_type, sent_at \
                 FROM chat_chathistory WHERE id > $1 ORDER BY id LIMIT $2"
            },
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let rows: Vec<SrcMessage> = rows
            .into_iter()
            .map(SrcMessage::try_from)
            .collect::<Result<_>>()?;
        let inserted = target.import_messages(&mut tx, &rows).await?;
        let line = count(report, "chat_chathistory", "chat_messages");
        line.read += rows.len() as u64;
        line.imported += inserted;
        line.skipped += rows.len() as u64 - inserted;
    }
    target.import_reset_ids(&mut tx, &["chat_messages"]).await?;
    target.import_sessions(&mut tx).await?;
    tx.commit().await?;
    tracing::info!("imported chat history");
    Ok(())
}

async fn import_clients<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<()> {
    let mut tx = target.import_begin().await?;

    count(report, "client_client", "clients");
    let mut after = 0;
    loop {
        let rows: Vec<SrcClientRow> = chunk(
            src,
            "SELECT id::bigint AS id, name, COALESCE(email, '') AS email, COALESCE(phone, '') AS phone, \
             current_stage, created_at, updated_at \
             FROM client_client WHERE id > $1 ORDER BY id LIMIT $2",
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let rows: Vec<SrcClient> = rows
            .into_iter()
            .map(SrcClient::try_from)
            .collect::<Result<_>>()?;
        let inserted = target.import_clients(&mut tx, &rows).await?;
        let line = count(report, "client_client", "clients");
        line.read += rows.len() as u64;
        line.imported += inserted;
        line.skipped += rows.len() as u64 - inserted;
    }

    if schema.context_table {
        import_context_table(src, target, &mut tx, options, report).await?;
    } else {
        import_client_contexts(src, schema, target, &mut tx, options, report).await?;
    }

    count(report, "client_clientstagehistory", "client_stage_history");
    let mut after = 0;
    loop {
        let rows: Vec<SrcStageChangeRow> = chunk(
            src,
            "SELECT id::bigint AS id, client_id::bigint AS client_id, from_stage, to_stage, \
             changed_by_id::bigint AS changed_by_id, \
             COALESCE(remarks, '') AS remarks, created_at, updated_at \
             FROM client_clientstagehistory WHERE id > $1 ORDER BY id LIMIT $2",
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let rows: Vec<SrcStageChange> = rows
            .into_iter()
            .map(SrcStageChange::try_from)
            .collect::<Result<_>>()?;
        let inserted = target.import_stage_changes(&mut tx, &rows).await?;
        let line = count(report, "client_clientstagehistory", "client_stage_history");
        line.read += rows.len() as u64;
        line.imported += inserted;
        line.skipped += rows.len() as u64 - inserted;
    }

    count(report, "client_clientassignment", "client_assignments");
    let mut after = 0;
    loop {
        let rows: Vec<SrcAssignment> = chunk(
            src,
            "SELECT id::bigint AS id, client_id::bigint AS client_id, \
             assigned_to_id::bigint AS assigned_to_id, assigned_by_id::bigint AS assigned_by_id, \
             is_active, \
             COALESCE(remarks, '') AS remarks, created_at, updated_at \
             FROM client_clientassignment WHERE id > $1 ORDER BY id LIMIT $2",
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        if options.merge {
            let active: Vec<(i64, String)> = rows
                .iter()
                .filter(|r| r.is_active)
                .map(|r| (r.id, r.client_id.to_string()))
                .collect();
            let clients: Vec<String> = active.iter().map(|(_, c)| c.clone()).collect();
            let present = target
                .import_present(
                    &mut tx,
                    "client_assignments",
                    "client_id",
                    false,
                    true,
                    &clients,
                )
                .await?;
            let keys = active.iter().map(|(id, k)| (*id, k.as_str()));
            if let Some(e) = first_clash(
                "client_clientassignment",
                "active assignment of client",
                &present,
                keys,
            ) {
                return Err(e);
            }
        }
        let inserted = target.import_assignments(&mut tx, &rows).await?;
        let line = count(report, "client_clientassignment", "client_assignments");
        line.read += rows.len() as u64;
        line.imported += inserted;
        line.skipped += rows.len() as u64 - inserted;
    }

    target
        .import_reset_ids(
            &mut tx,
            &[
                "clients",
                "client_contexts",
                "client_stage_history",
                "client_assignments",
            ],
        )
        .await?;
    tx.commit().await?;
    tracing::info!("imported clients");
    Ok(())
}

/// Contexts of the 898bd7e schema: the `client_context` table.
async fn import_context_table<DB: Dialect>(
    src: &mut PgConnection,
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<()> {
    count(report, "client_context", "client_contexts");
    let mut after = 0;
    loop {
        let rows: Vec<SrcContextRow> = chunk(
            src,
            "SELECT id::bigint AS id, client_id::bigint AS client_id, \
             chat_session_id::text AS chat_session_id, \
             context_data::jsonb AS context_data, created_at, updated_at \
             FROM client_context WHERE id > $1 ORDER BY id LIMIT $2",
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let rows: Vec<SrcContext> = rows
            .into_iter()
            .map(SrcContext::try_from)
            .collect::<Result<_>>()?;
        if options.merge {
            let clients: Vec<String> = rows.iter().map(|r| r.client_id.to_string()).collect();
            let present = target
                .import_present(
                    &mut *tx,
                    "client_contexts",
                    "client_id",
                    false,
                    false,
                    &clients,
                )
                .await?;
            let keys: Vec<(i64, String)> = rows
                .iter()
                .map(|r| (r.id, r.client_id.to_string()))
                .collect();
            let keys = keys.iter().map(|(id, k)| (*id, k.as_str()));
            if let Some(e) = first_clash("client_context", "client", &present, keys) {
                return Err(e);
            }
        }
        let inserted = target.import_contexts(&mut *tx, &rows).await?;
        let line = count(report, "client_context", "client_contexts");
        line.read += rows.len() as u64;
        line.imported += inserted;
        line.skipped += rows.len() as u64 - inserted;
    }
    Ok(())
}

/// Contexts of the later schema (b2fff2d on): the context on the client (`client_client.context`,
/// e0ca024 on) and the client's chat session, which is the session whose oldest linked message
/// is the client's oldest (the original's `_get_client`: a session belongs to the client of its
/// oldest linked message). A client with neither gets no context row. The row keeps the client's
/// id and times.
async fn import_client_contexts<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<()> {
    const T: &str = "client_client.context";
    let mut sessions: HashMap<i64, SessionId> = HashMap::new();
    if schema.message_client {
        let links: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT DISTINCT ON (client_id) client_id::bigint, session_id::text, id::bigint \
             FROM (SELECT DISTINCT ON (session_id) session_id, client_id, id \
                   FROM chat_chathistory WHERE client_id IS NOT NULL \
                   ORDER BY session_id, id) AS first_link \
             ORDER BY client_id, id",
        )
        .fetch_all(&mut *src)
        .await?;
        for (client, session, message) in links {
            let session = parse_session("chat_chathistory", message, "session_id", &session)?;
            sessions.insert(client, session);
        }
    }
    count(report, T, "client_contexts");
    let mut after = 0;
    loop {
        let rows: Vec<SrcClientContextRow> = chunk(
            src,
            if schema.client_context_column {
                "SELECT id::bigint AS id, context::jsonb AS context, created_at, updated_at \
                 FROM client_client WHERE id > $1 ORDER BY id LIMIT $2"
            } else {
                "SELECT id::bigint AS id, NULL::jsonb AS context, created_at, updated_at \
                 FROM client_client WHERE id > $1 ORDER BY id LIMIT $2"
            },
            after,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let rows: Vec<SrcContext> = rows
            .into_iter()
            .filter_map(|r| {
                let data = context_object(r.context.map(|j| j.0));
                let chat_session_id = sessions.get(&r.id).copied();
                (!data.is_empty() || chat_session_id.is_some()).then_some(SrcContext {
                    id: r.id,
                    client_id: r.id,
                    chat_session_id,
                    data,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                })
            })
            .collect();
        if options.merge {
            let clients: Vec<String> = rows.iter().map(|r| r.client_id.to_string()).collect();
            let present = target
                .import_present(
                    &mut *tx,
                    "client_contexts",
                    "client_id",
                    false,
                    false,
                    &clients,
                )
                .await?;
            let keys: Vec<(i64, String)> = rows
                .iter()
                .map(|r| (r.id, r.client_id.to_string()))
                .collect();
            let keys = keys.iter().map(|(id, k)| (*id, k.as_str()));
            if let Some(e) = first_clash("client_client", "context of client", &present, keys) {
                return Err(e);
            }
        }
        let inserted = target.import_contexts(&mut *tx, &rows).await?;
        let line = count(report, T, "client_contexts");
        line.read += rows.len() as u64;
        line.imported += inserted;
        line.skipped += rows.len() as u64 - inserted;
    }
    Ok(())
}

async fn report_groups(
    src: &mut PgConnection,
    optional: &SourceSchema,
    report: &mut ImportReport,
) -> Result<()> {
    let mut groups: BTreeMap<i64, GroupReport> = BTreeMap::new();
    if optional.auth_group {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id::bigint, name FROM auth_group ORDER BY id")
                .fetch_all(&mut *src)
                .await?;
        for (id, name) in rows {
            groups.insert(
                id,
                GroupReport {
                    id,
                    name,
                    members: Vec::new(),
                },
            );
        }
    }
    if optional.user_groups {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT group_id::bigint, user_id::bigint FROM account_user_groups \
             ORDER BY group_id, user_id",
        )
        .fetch_all(&mut *src)
        .await?;
        let line = count(report, "account_user_groups", "-");
        line.read = rows.len() as u64;
        line.ignored = rows.len() as u64;
        for (group, user) in rows {
            groups
                .entry(group)
                .or_insert_with(|| GroupReport {
                    id: group,
                    name: String::new(),
                    members: Vec::new(),
                })
                .members
                .push(UserId(user));
        }
    }
    report.groups = groups.into_values().collect();
    Ok(())
}
