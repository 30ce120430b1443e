//! Login and reset tokens, the login throttle, and the purge of expired rows.

use chrono::{DateTime, Utc};

use super::sqlx::{self, AssertSqlSafe};
use super::{Dialect, Sql, now, outbox_purge_delivered};
use crate::accounts::User;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::store::dialect::RowsAffected as _;
use crate::store::rows::{USER_COLS, UserRow};

impl<DB: Dialect> Sql<DB> {
    pub(crate) async fn insert_token(
        &self,
        user_id: UserId,
        hash: &[u8],
        kind: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_tokens (user_id, token_hash, kind, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id.0)
        .bind(hash)
        .bind(kind)
        .bind(now())
        .bind(expires_at)
        .execute(&self.write)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_foreign_key_violation() => Error::NotFound { entity: "user" },
            _ => Error::from(e),
        })?;
        Ok(())
    }

    pub(crate) async fn token_user(&self, hash: &[u8], kind: &str) -> Result<Option<User>> {
        let cols = USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let at = now();
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {cols} FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.kind = $2 AND t.expires_at > $3"
        )))
        .bind(hash)
        .bind(kind)
        .bind(at)
        .fetch_optional(&self.read)
        .await?;
        row.map(User::try_from).transpose()
    }

    pub(crate) async fn delete_token(&self, hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_user_tokens(&self, user_id: UserId) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
            .bind(user_id.0)
            .execute(&self.write)
            .await?
            .rows_affected())
    }

    pub(crate) async fn purge_expired(
        &self,
        at: DateTime<Utc>,
        failures_before: DateTime<Utc>,
        webhooks_delivered_before: i64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let tokens = sqlx::query("DELETE FROM auth_tokens WHERE expires_at <= $1")
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let failures = sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
            .bind(failures_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let failures = failures
            + sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
                .bind(at.timestamp())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let deliveries = outbox_purge_delivered(&mut tx, webhooks_delivered_before).await?;
        tx.commit().await?;
        Ok(tokens + failures + deliveries)
    }

    /// One atomic step of the login throttle: for every `(key, max)`, counts the failures since
    /// `since` and, when none of the keys is over its limit, records one failure for each key
    /// at `at` (a reservation: the caller deletes it again when the attempt turns out not to be
    /// a failure). Returns the ids of the recorded rows, or the oldest counted failure of the
    /// first key over its limit. Concurrent attempts on one key are serialised (the single
    /// writer on SQLite, a transaction-scoped advisory lock per key on PostgreSQL), so at most
    /// `max` attempts per window get past the check.
    pub(crate) async fn reserve_attempt(
        &self,
        keys: &[(String, i64)],
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<std::result::Result<Vec<i64>, DateTime<Utc>>> {
        let mut tx = self.begin().await?;
        let mut sorted: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        for key in sorted {
            DB::lock_throttle_key(&mut tx, key).await?;
        }
        for (key, max) in keys {
            let (count, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                "SELECT count(*), min(failed_at) FROM login_failures \
                 WHERE key = $1 AND failed_at > $2",
            )
            .bind(key)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            if count >= *max {
                tx.rollback().await?;
                return Ok(Err(oldest.unwrap_or(at)));
            }
        }
        let mut ids = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO login_failures (key, failed_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(key)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Ok(ids))
    }

    /// Counts one request for `key` in the fixed window of `window_secs` that contains `now`
    /// (Unix seconds) in one atomic upsert, and returns the count so far (this request
    /// included) and the end of the window.
    pub(crate) async fn count_request(
        &self,
        key: &str,
        window_secs: i64,
        now: i64,
    ) -> Result<(i64, i64)> {
        let window_secs = window_secs.max(1);
        let start = now - now.rem_euclid(window_secs);
        let end = start + window_secs;
        let count: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, expires_at, count) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 \
             RETURNING count",
        )
        .bind(key)
        .bind(start)
        .bind(end)
        .fetch_one(&self.write)
        .await?;
        Ok((count, end))
    }

    /// Deletes throttle rows by id (reservations of attempts that did not fail).
    pub(crate) async fn release_attempts(&self, ids: &[i64]) -> Result<()> {
        for id in ids {
            sqlx::query("DELETE FROM login_failures WHERE id = $1")
                .bind(id)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn clear_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
