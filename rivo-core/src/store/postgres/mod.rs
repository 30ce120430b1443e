//! The PostgreSQL backend: one pool shared by reads and writes; row locks serialise changes of
//! one client.

use std::time::Duration;

use ::sqlx::Postgres;
use ::sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::sql::{Sql, sqlx};
use super::{StoreOptions, count_limit};

type Db = Postgres;

/// The PostgreSQL backend: the shared SQL on PostgreSQL's pools.
pub(crate) type Backend = Sql<Postgres>;

/// PostgreSQL's own state of a [`Backend`].
#[derive(Debug, Clone)]
pub(crate) struct PgExt {
    /// Behind a transaction-mode pooler ([`StoreOptions::transaction_pooler`]).
    pooler: bool,
}

mod append;
mod listen;
mod migrate;
mod pool;

pub(crate) use pool::PgPool;

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
        Ok(Sql {
            read: pool.clone(),
            write: pool,
            count_limit: count_limit(options),
            ext: PgExt { pooler },
        })
    }

    pub(crate) async fn close(&self) {
        self.write.close().await;
    }

    pub(crate) async fn backup_to(&self, _path: &str) -> crate::Result<()> {
        Err(crate::Error::Unsupported(
            "rivo cannot back up a PostgreSQL database itself: use `pg_dump --format=custom \
             --file=FILE DATABASE_URL` (online and consistent), restore with `pg_restore`"
                .into(),
        ))
    }

    /// The planner's estimate of a table's rows (`None` before its first ANALYZE).
    pub(crate) async fn estimate_rows(&self, table: &str) -> crate::Result<Option<i64>> {
        let estimate: Option<f32> =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)")
                .bind(table)
                .fetch_optional(&self.read)
                .await?;
        Ok(estimate.filter(|n| *n >= 0.0).map(|n| n as i64))
    }
}

/// Serialises throttle checks of one key until the end of `tx` (a transaction-scoped advisory
/// lock in its own key space, class 1, so it works through a transaction-mode pooler too).
pub(crate) async fn lock_throttle_key(
    tx: &mut sqlx::Transaction<'static, Db>,
    key: &str,
) -> crate::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
