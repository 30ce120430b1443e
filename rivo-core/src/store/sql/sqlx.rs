//! `sqlx`, except that the query constructors (and [`QueryBuilder`]'s builds) send unnamed
//! statements once a PostgreSQL store of this process runs behind a transaction-mode pooler: a
//! named (prepared) statement lives in one server connection, which a pooler hands to other
//! clients between transactions (`prepared statement "sqlx_s_1" already exists`). The shared
//! query code calls `sqlx::query(…)` and resolves to these.

pub use ::sqlx::*;

use std::sync::atomic::{AtomicBool, Ordering};

use ::sqlx::query::{Query, QueryAs, QueryScalar};

use super::super::dialect::Dialect;

static UNNAMED: AtomicBool = AtomicBool::new(false);

/// Statements of every PostgreSQL store of this process are unnamed from now on.
pub(crate) fn set_unnamed() {
    UNNAMED.store(true, Ordering::Relaxed);
}

/// Whether PostgreSQL statements are prepared and kept ([`set_unnamed`] not called).
pub(crate) fn persistent() -> bool {
    !UNNAMED.load(Ordering::Relaxed)
}

pub fn query<'a, DB: Dialect>(sql: impl SqlSafeStr) -> Query<'a, DB, DB::Arguments> {
    ::sqlx::query(sql).persistent(DB::persistent())
}

pub fn query_as<'q, DB: Dialect, O>(sql: impl SqlSafeStr) -> QueryAs<'q, DB, O, DB::Arguments>
where
    O: for<'r> FromRow<'r, DB::Row>,
{
    ::sqlx::query_as(sql).persistent(DB::persistent())
}

pub fn query_scalar<'q, DB: Dialect, O>(
    sql: impl SqlSafeStr,
) -> QueryScalar<'q, DB, O, DB::Arguments>
where
    (O,): for<'r> FromRow<'r, DB::Row>,
{
    ::sqlx::query_scalar(sql).persistent(DB::persistent())
}

/// [`::sqlx::QueryBuilder`] whose builds follow the pooler setting.
pub struct QueryBuilder<DB: Database>(::sqlx::QueryBuilder<DB>);

impl<DB: Dialect> QueryBuilder<DB> {
    pub fn new(init: impl Into<String>) -> Self {
        Self(::sqlx::QueryBuilder::new(init))
    }

    pub fn build(&mut self) -> Query<'_, DB, DB::Arguments> {
        self.0.build().persistent(DB::persistent())
    }

    pub fn build_query_as<'q, T: FromRow<'q, DB::Row>>(
        &'q mut self,
    ) -> QueryAs<'q, DB, T, DB::Arguments> {
        self.0.build_query_as().persistent(DB::persistent())
    }

    pub fn build_query_scalar<'q, T>(&'q mut self) -> QueryScalar<'q, DB, T, DB::Arguments>
    where
        (T,): for<'r> FromRow<'r, DB::Row>,
    {
        self.0.build_query_scalar().persistent(DB::persistent())
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
