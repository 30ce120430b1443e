//! Migrations on PostgreSQL: sqlx's migrator on a connection without the statement timeout,
//! or, behind a transaction-mode pooler, everything pending in one transaction.

use super::Backend;
use crate::store::sql::sqlx;

impl Backend {
    pub(crate) async fn migrate(&self) -> crate::Result<()> {
        if self.ext.pooler {
            self.migrate_in_one_transaction().await?;
            self.backfill_email_keys().await?;
            return Ok(());
        }
        // Migrations serve no request: on a connection of their own without the store's
        // `statement_timeout` (a backfill or an index build on a big table takes minutes).
        let mut conn = self.write.pool.acquire().await?;
        ::sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        let migrated = sqlx::migrate!("../migrations/postgres")
            .run(&mut *conn)
            .await;
        ::sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await?;
        migrated?;
        // Migration 0004's `email_key` is computed in Rust.
        self.backfill_email_keys().await?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) async fn migrate_until(&self, version: i64) -> crate::Result<()> {
        let until = sqlx::migrate::Migrator {
            // A fresh database of one test: no concurrent migrator, and a session-level lock
            // would not survive a transaction-mode pooler.
            locking: false,
            ..crate::store::migrations_until(sqlx::migrate!("../migrations/postgres"), version)
        };
        until.run(&self.write.pool).await?;
        Ok(())
    }

    pub(crate) async fn pending_migrations(&self) -> crate::Result<Vec<String>> {
        let migrator = sqlx::migrate!("../migrations/postgres");
        if self.ext.pooler {
            let mut tx = self.read.begin().await?;
            let applied = self.applied_versions(&mut tx).await?;
            tx.commit().await?;
            return Ok(crate::store::unapplied(&migrator, &applied));
        }
        crate::store::pending(&migrator, &self.read.pool).await
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
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await?;
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
}
