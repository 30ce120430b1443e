//! The PostgreSQL backend: one pool shared by reads and writes; row locks serialise changes of
//! one client.

use std::time::Duration;

use ::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use ::sqlx::{Pool, Postgres};

use super::StoreOptions;

type Db = Postgres;

const LIKE: &str = " ILIKE ";
const FOR_UPDATE: &str = " FOR UPDATE";

#[derive(Debug, Clone)]
pub(crate) struct Backend {
    read: PgPool,
    write: PgPool,
    /// Behind a transaction-mode pooler ([`StoreOptions::transaction_pooler`]).
    pooler: bool,
}

/// The connection pool. Behind a transaction-mode pooler, a statement run on the pool itself
/// (not in a transaction) runs in a transaction of its own: sqlx sends an unnamed statement's
/// Parse and its Bind in two round trips, each ending with a Sync, and between them a pooler
/// may hand the server connection to another client (`unnamed prepared statement does not
/// exist`). Inside a transaction the pooler keeps the server connection.
#[derive(Debug, Clone)]
struct PgPool {
    pool: Pool<Db>,
    wrap: bool,
}

impl PgPool {
    async fn begin(&self) -> Result<::sqlx::Transaction<'static, Db>, ::sqlx::Error> {
        self.pool.begin().await
    }

    async fn close(&self) {
        self.pool.close().await
    }
}

impl<'p> ::sqlx::Executor<'p> for &'_ PgPool {
    type Database = Db;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::stream::BoxStream<
        'e,
        Result<
            ::sqlx::Either<::sqlx::postgres::PgQueryResult, ::sqlx::postgres::PgRow>,
            ::sqlx::Error,
        >,
    >
    where
        'p: 'e,
        E: 'q + ::sqlx::Execute<'q, Db>,
    {
        use futures_util::{StreamExt, TryStreamExt};
        if !self.wrap {
            return (&self.pool).fetch_many(query);
        }
        let pool = self.pool.clone();
        futures_util::stream::once(async move {
            let mut tx = pool.begin().await?;
            let items: Vec<_> = (&mut *tx).fetch_many(query).try_collect().await?;
            tx.commit().await?;
            Ok::<_, ::sqlx::Error>(futures_util::stream::iter(items.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::future::BoxFuture<'e, Result<Option<::sqlx::postgres::PgRow>, ::sqlx::Error>>
    where
        'p: 'e,
        E: 'q + ::sqlx::Execute<'q, Db>,
    {
        if !self.wrap {
            return (&self.pool).fetch_optional(query);
        }
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = (&mut *tx).fetch_optional(query).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: ::sqlx::SqlStr,
        parameters: &'e [::sqlx::postgres::PgTypeInfo],
    ) -> futures_core::future::BoxFuture<'e, Result<::sqlx::postgres::PgStatement, ::sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    // Required while sqlx's `offline` feature is on (it is, through its macros).
    fn describe<'e>(
        self,
        sql: ::sqlx::SqlStr,
    ) -> futures_core::future::BoxFuture<'e, Result<::sqlx::Describe<Db>, ::sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).describe(sql)
    }
}

/// Removes rivo's own `pooler=transaction` URL parameter (sqlx does not know it).
fn strip_pooler_param(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), false);
    };
    let mut found = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let is_pooler = pair.eq_ignore_ascii_case("pooler=transaction");
            found |= is_pooler;
            !is_pooler && !pair.is_empty()
        })
        .collect();
    if kept.is_empty() {
        (base.to_owned(), found)
    } else {
        (format!("{base}?{}", kept.join("&")), found)
    }
}

/// `sqlx`, except that the query constructors (and [`QueryBuilder`]'s builds) send unnamed
/// statements once a store of this process runs behind a transaction-mode pooler: a named
/// (prepared) statement lives in one server connection, which a pooler hands to other clients
/// between transactions (`prepared statement "sqlx_s_1" already exists`). The shared query code
/// (`common.rs`) calls `sqlx::query(…)` and resolves to these.
mod sqlx {
    pub use ::sqlx::*;

    use std::sync::atomic::{AtomicBool, Ordering};

    use ::sqlx::postgres::PgArguments;
    use ::sqlx::query::{Query, QueryAs, QueryScalar};

    static UNNAMED: AtomicBool = AtomicBool::new(false);

    pub(super) fn set_unnamed() {
        UNNAMED.store(true, Ordering::Relaxed);
    }

    fn persistent() -> bool {
        !UNNAMED.load(Ordering::Relaxed)
    }

    pub fn query<'a>(sql: impl SqlSafeStr) -> Query<'a, Postgres, PgArguments> {
        ::sqlx::query(sql).persistent(persistent())
    }

    pub fn query_as<'q, O>(sql: impl SqlSafeStr) -> QueryAs<'q, Postgres, O, PgArguments>
    where
        O: for<'r> FromRow<'r, postgres::PgRow>,
    {
        ::sqlx::query_as(sql).persistent(persistent())
    }

    pub fn query_scalar<'q, O>(sql: impl SqlSafeStr) -> QueryScalar<'q, Postgres, O, PgArguments>
    where
        (O,): for<'r> FromRow<'r, postgres::PgRow>,
    {
        ::sqlx::query_scalar(sql).persistent(persistent())
    }

    /// [`::sqlx::QueryBuilder`] whose builds follow the pooler setting.
    pub struct QueryBuilder<DB: Database>(::sqlx::QueryBuilder<DB>);

    impl QueryBuilder<Postgres> {
        pub fn new(init: impl Into<String>) -> Self {
            Self(::sqlx::QueryBuilder::new(init))
        }

        pub fn build(&mut self) -> Query<'_, Postgres, PgArguments> {
            self.0.build().persistent(persistent())
        }

        pub fn build_query_as<'q, T: FromRow<'q, postgres::PgRow>>(
            &'q mut self,
        ) -> QueryAs<'q, Postgres, T, PgArguments> {
            self.0.build_query_as().persistent(persistent())
        }

        pub fn build_query_scalar<'q, T>(&'q mut self) -> QueryScalar<'q, Postgres, T, PgArguments>
        where
            (T,): for<'r> FromRow<'r, postgres::PgRow>,
        {
            self.0.build_query_scalar().persistent(persistent())
        }
    }

    impl<DB: Database> std::ops::Deref for QueryBuilder<DB> {
        type Target = ::sqlx::QueryBuilder<DB>;
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }

    impl<DB: Database> std::ops::DerefMut for QueryBuilder<DB> {
        fn deref_mut(&mut self) -> &mut Self::Target {
            &mut self.0
        }
    }
}

impl Backend {
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> crate::Result<Self> {
        let (url, pooler_param) = strip_pooler_param(url);
        let pooler = options.transaction_pooler || pooler_param;
        let mut connect: PgConnectOptions = url.parse()?;
        if pooler {
            // Statements of every PostgreSQL store of this process are unnamed from now on.
            sqlx::set_unnamed();
            // A pooler forwards no startup options (PgBouncer refuses unknown ones).
            connect = connect.extra_float_digits(None);
        } else if let Some(timeout) = options.statement_timeout.filter(|t| !t.is_zero()) {
            connect =
                connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_lazy_with(connect);
        let pool = PgPool { pool, wrap: pooler };
        Ok(Self {
            read: pool.clone(),
            write: pool,
            pooler,
        })
    }

    pub(crate) async fn migrate(&self) -> crate::Result<()> {
        if self.pooler {
            return self.migrate_in_one_transaction().await;
        }
        sqlx::migrate!("../migrations/postgres")
            .run(&self.write.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn pending_migrations(&self) -> crate::Result<Vec<String>> {
        let migrator = sqlx::migrate!("../migrations/postgres");
        if self.pooler {
            let mut tx = self.read.begin().await?;
            let applied = self.applied_versions(&mut tx).await?;
            tx.commit().await?;
            return Ok(migrator
                .iter()
                .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
                .map(|m| format!("{}_{}", m.version, m.description))
                .collect());
        }
        super::pending(&migrator, &self.read.pool).await
    }

    /// Versions recorded in sqlx's `_sqlx_migrations` table (empty when it does not exist).
    async fn applied_versions(
        &self,
        conn: &mut sqlx::PgConnection,
    ) -> crate::Result<std::collections::HashSet<i64>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            return Ok(Default::default());
        }
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut *conn)
                .await?;
        Ok(versions.into_iter().collect())
    }

    /// Migrations through a transaction-mode pooler: sqlx's migrator holds a session-level
    /// advisory lock across transactions and prepares named statements, neither of which
    /// survives a pooler. Here everything pending runs in one transaction behind a
    /// transaction-scoped advisory lock (so concurrent servers apply each migration once),
    /// recorded in sqlx's own `_sqlx_migrations` table with sqlx's checksums, so the ordinary
    /// migrator agrees with it afterwards.
    async fn migrate_in_one_transaction(&self) -> crate::Result<()> {
        let migrator = sqlx::migrate!("../migrations/postgres");
        let mut tx = self.write.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(2, hashtext(current_database()))")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
                success BOOLEAN NOT NULL,
                checksum BYTEA NOT NULL,
                execution_time BIGINT NOT NULL
            )",
        )
        .execute(&mut *tx)
        .await?;
        let applied = self.applied_versions(&mut tx).await?;
        for migration in migrator.iter() {
            if migration.migration_type.is_down_migration() || applied.contains(&migration.version)
            {
                continue;
            }
            let started = std::time::Instant::now();
            sqlx::raw_sql(migration.sql.clone())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO _sqlx_migrations \
                 (version, description, success, checksum, execution_time) \
                 VALUES ($1, $2, TRUE, $3, $4)",
            )
            .bind(migration.version)
            .bind(migration.description.as_ref())
            .bind(migration.checksum.as_ref())
            .bind(i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.write.close().await;
    }

    async fn begin(&self) -> crate::Result<sqlx::Transaction<'static, Db>> {
        Ok(self.write.begin().await?)
    }

    /// `sent_at` comes from the database clock, so several servers on one database agree on
    /// the order of a conversation. A transaction-scoped advisory lock on the session (taken in
    /// the same statement, released at its commit) makes concurrent appends to one session
    /// take their id and their time in the same order, so history order always agrees with ids;
    /// appends to different sessions do not wait for each other.
    pub(crate) async fn append(
        &self,
        session_id: crate::SessionId,
        message: &str,
        sender_type: crate::SenderType,
    ) -> crate::Result<crate::ChatMessage> {
        let row: (i64, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
            "INSERT INTO chat_messages (session_id, message, sender_type, sent_at) \
             SELECT $1, $2, $3, clock_timestamp() FROM (SELECT pg_advisory_xact_lock($4)) AS l \
             RETURNING id, sent_at",
        )
        .bind(session_id.0)
        .bind(message)
        .bind(sender_type.as_str())
        .bind(session_lock_key(&session_id))
        .fetch_one(&self.write)
        .await?;
        Ok(crate::ChatMessage {
            id: crate::MessageId(row.0),
            session_id,
            message: message.to_owned(),
            sender_type,
            sent_at: row.1,
        })
    }
}

/// Serialises throttle checks of one key until the end of `tx` (a transaction-scoped advisory
/// lock in its own key space, class 1, so it works through a transaction-mode pooler too).
async fn lock_throttle_key(
    tx: &mut sqlx::Transaction<'static, Db>,
    key: &str,
) -> crate::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The advisory lock key of a session: its first 8 bytes.
fn session_lock_key(session: &crate::SessionId) -> i64 {
    let bytes = session.0.as_bytes();
    let mut key = [0u8; 8];
    key.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(key)
}

include!("common.rs");
include!("import_common.rs");
