//! The connection pool of the PostgreSQL backend, and how it runs statements behind a
//! transaction-mode pooler.

use ::sqlx::Pool;

use super::Db;

/// The connection pool. Behind a transaction-mode pooler, a statement run on the pool itself
/// (not in a transaction) runs in a transaction of its own: sqlx sends an unnamed statement's
/// Parse and its Bind in two round trips, each ending with a Sync, and between them a pooler
/// may hand the server connection to another client (`unnamed prepared statement does not
/// exist`). Inside a transaction the pooler keeps the server connection.
#[derive(Debug, Clone)]
pub(crate) struct PgPool {
    pub(super) pool: Pool<Db>,
    pub(super) wrap: bool,
}

impl crate::store::AsPool<Db> for PgPool {
    fn as_pool(&self) -> &Pool<Db> {
        &self.pool
    }
}

impl PgPool {
    pub(crate) async fn begin(&self) -> Result<::sqlx::Transaction<'static, Db>, ::sqlx::Error> {
        self.pool.begin().await
    }

    pub(super) async fn close(&self) {
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
