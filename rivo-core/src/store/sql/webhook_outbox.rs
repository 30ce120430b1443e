//! The webhook outbox: one row per (event, subscribed endpoint), written in the transaction of
//! the change it reports; the worker's claim of due deliveries and the record of its attempts;
//! and the deletes of erasure and the purge. Times are Unix microseconds.

use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{Dialect, Sql, Tx, for_sessions, now};
use crate::chat::ChatMessage;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ids::ClientId;
use crate::store::dialect::RowsAffected as _;
use crate::store::rows::MessageRow;
use crate::webhooks::{AttemptRow, ClaimedRow, Outcome};

/// The row lock suffix of a worker's claim: `FOR UPDATE SKIP LOCKED` on PostgreSQL (each due
/// row goes to one claimer), nothing on SQLite (the single writer serialises claims).
pub(crate) fn skip_locked<DB: Dialect>() -> &'static str {
    if DB::FOR_UPDATE.is_empty() {
        ""
    } else {
        " FOR UPDATE SKIP LOCKED"
    }
}

/// Writes one outbox row per active endpoint subscribed to `event`'s kind, in the transaction
/// of the change it reports (called from `emit`). Nothing when no endpoint subscribes.
pub(crate) async fn outbox_enqueue<DB: Dialect>(tx: &mut Tx<DB>, event: &Event) -> Result<()> {
    let kind = event.kind();
    let (session_id, client_id) = match event {
        Event::MessageCreated(m) => (Some(m.session_id.0), None),
        Event::ClientCreated(c) => (c.chat_session_id.map(|s| s.0), Some(c.client.id.0)),
        Event::ClientStageChanged(c) => (None, Some(c.client_id.0)),
        Event::ClientAssigned(a) => (None, Some(a.client_id.0)),
    };
    let payload = serde_json::to_string(event)
        .map_err(|e| Error::Internal(format!("event serialisation: {e}")))?;
    let at = crate::webhooks::micros(now());
    sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, session_id, \
         client_id, created_at, next_attempt_at, retry_since) \
         SELECT id, $1, $2, $3, $4, $5, $6, $6, $6 FROM webhook_endpoints \
         WHERE active AND (event_mask & $7) <> 0",
    )
    .bind(crate::webhooks::new_event_id())
    .bind(kind.as_str())
    .bind(payload)
    .bind(session_id)
    .bind(client_id)
    .bind(at)
    .bind(crate::webhooks::kind_bit(kind))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Erasure: deletes the outbox rows carrying data of `sessions` (their messages, or a lead
/// created from them).
pub(crate) async fn outbox_forget_sessions<DB: Dialect>(
    tx: &mut Tx<DB>,
    sessions: &[uuid::Uuid],
) -> Result<u64> {
    for_sessions(
        tx,
        "DELETE FROM webhook_deliveries WHERE session_id IN (",
        sessions,
    )
    .await
}

/// Erasure: deletes the outbox rows carrying data of the client `id`.
pub(crate) async fn outbox_forget_client<DB: Dialect>(
    tx: &mut Tx<DB>,
    id: ClientId,
) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM webhook_deliveries WHERE client_id = $1")
            .bind(id.0)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// The purge: deletes deliveries delivered before `before` (µs), with their attempts.
pub(crate) async fn outbox_purge_delivered<DB: Dialect>(
    tx: &mut Tx<DB>,
    before: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM webhook_deliveries WHERE status = 'delivered' AND finished_at < $1",
    )
    .bind(before)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// SQLite's append batch: one outbox row per (message with id in `first..=last`, active
/// endpoint subscribed to `message.created`), in the batch's transaction. The endpoints are
/// the outer loop (`CROSS JOIN` fixes SQLite's join order), so with no subscriber it reads no
/// message. PostgreSQL does the same in `APPEND_BATCH`.
pub(crate) async fn outbox_enqueue_messages<DB: Dialect>(
    tx: &mut Tx<DB>,
    first: i64,
    last: i64,
    at: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, message_id, \
         session_id, created_at, next_attempt_at, retry_since) \
         SELECT e.id, 'msg_' || m.id, 'message.created', m.id, m.session_id, $3, $3, $3 \
         FROM webhook_endpoints e CROSS JOIN chat_messages m \
         WHERE e.active AND (e.event_mask & 1) <> 0 AND m.id BETWEEN $1 AND $2",
    )
    .bind(first)
    .bind(last)
    .bind(at)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// The columns of a finished attempt's delivery: status, next attempt, finished at.
fn outcome_columns(
    attempt: &AttemptRow,
    outcome: Outcome,
) -> (&'static str, Option<i64>, Option<i64>) {
    match outcome {
        Outcome::Delivered => ("delivered", None, Some(attempt.attempted_at)),
        Outcome::Retry { at } => ("pending", Some(at), None),
        Outcome::Failed => ("failed", None, Some(attempt.attempted_at)),
    }
}

/// Records attempts of claimed deliveries and their outcomes and releases the claims, in `tx`
/// (a worker records the attempts that finished together at once), and releases the claims
/// of `release` (claimed, never attempted: a worker stopping).
///
/// On SQLite two statements for the whole batch whose texts never change: the rows travel as
/// one JSON parameter (`json_each`). A multi-row `VALUES` list has a new text for every batch
/// size and, on the writer connection whose statement cache the chat's appends also fill, was
/// prepared again and again (~200k instructions each, more than the rows' own writes); and
/// one statement per row would cost a round trip to SQLite's connection thread each.
/// PostgreSQL keeps one multi-row statement per batch (its few texts, one per batch size up
/// to the worker's slots, stay cached).
pub(crate) async fn finish_attempts_in<DB: Dialect>(
    tx: &mut Tx<DB>,
    done: &[(AttemptRow, Outcome)],
    release: &[i64],
) -> Result<()> {
    for id in release {
        sqlx::query("UPDATE webhook_deliveries SET locked_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    if done.is_empty() {
        return Ok(());
    }
    if DB::FOR_UPDATE.is_empty() {
        // [delivery id, attempted at, status code, latency ms, error, status, next, finished]
        let rows: Vec<_> = done
            .iter()
            .map(|(attempt, outcome)| {
                let (status, next, finished) = outcome_columns(attempt, *outcome);
                (
                    attempt.delivery_id,
                    attempt.attempted_at,
                    attempt.status_code,
                    attempt.latency_ms,
                    &attempt.error,
                    status,
                    next,
                    finished,
                )
            })
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|e| Error::Internal(format!("webhook attempts: {e}")))?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms, \
             error) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 \
             FROM json_each($1)",
        )
        .bind(&rows)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = r.value ->> 5, attempts = attempts + 1, \
             next_attempt_at = COALESCE(r.value ->> 6, next_attempt_at), \
             finished_at = r.value ->> 7, locked_until = NULL \
             FROM json_each($1) AS r WHERE webhook_deliveries.id = r.value ->> 0",
        )
        .bind(&rows)
        .execute(&mut **tx)
        .await?;
        return Ok(());
    }
    // Bound the statement's parameters: 500 rows × 5.
    for chunk in done.chunks(500) {
        let mut qb = QueryBuilder::<DB>::new(
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, \
             latency_ms, error) ",
        );
        qb.push_values(chunk, |mut b, (attempt, _)| {
            b.push_bind(attempt.delivery_id)
                .push_bind(attempt.attempted_at)
                .push_bind(attempt.status_code)
                .push_bind(attempt.latency_ms)
                .push_bind(&attempt.error);
        });
        qb.build().execute(&mut **tx).await?;
        let mut qb = QueryBuilder::<DB>::new("WITH v (id, status, nxt, fin) AS (VALUES ");
        let mut first = true;
        for (attempt, outcome) in chunk {
            let (status, next, finished) = outcome_columns(attempt, *outcome);
            if !first {
                qb.push(", ");
            }
            first = false;
            qb.push("(CAST(")
                .push_bind(attempt.delivery_id)
                .push(" AS BIGINT), CAST(")
                .push_bind(status)
                .push(" AS TEXT), CAST(")
                .push_bind(next)
                .push(" AS BIGINT), CAST(")
                .push_bind(finished)
                .push(" AS BIGINT))");
        }
        qb.push(
            ") UPDATE webhook_deliveries SET status = v.status, attempts = attempts + 1, \
             next_attempt_at = COALESCE(v.nxt, next_attempt_at), finished_at = v.fin, \
             locked_until = NULL FROM v WHERE webhook_deliveries.id = v.id",
        );
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// A claimed delivery from a row of the claim's reads (`CLAIMED_COLS`).
fn claimed_of<DB: Dialect>(row: &DB::Row) -> Result<ClaimedRow> {
    use sqlx::{FromRow, Row};
    let mut claimed = ClaimedRow::from_row(row)?;
    if let (Some(id), Some(session_id)) = (
        claimed.message_id,
        row.try_get::<Option<uuid::Uuid>, _>("m_session_id")?,
    ) {
        claimed.message = Some(ChatMessage::try_from(MessageRow::new(
            id,
            session_id,
            row.try_get("m_message")?,
            row.try_get("m_sender_type")?,
            row.try_get("m_data_type")?,
            row.try_get("m_sent_at")?,
        ))?);
    }
    Ok(claimed)
}

impl<DB: Dialect> Sql<DB> {
    /// One worker cycle in one write transaction: records the attempts in `done` (and releases
    /// their claims) and releases the unattempted claims in `release`, then claims up to `limit` due deliveries of active endpoints until
    /// `lease_until` and returns them with what the worker needs to send them (the endpoint's
    /// URL and secret, and for `message.created` the message). With `limit` 0 it only records.
    ///
    /// One transaction instead of two matters on SQLite, where every write transaction takes
    /// the one writer away from the chat's group commits. On PostgreSQL the claim and its reads
    /// are one statement (one round trip); with nothing to record it runs outside a
    /// transaction.
    pub(crate) async fn finish_and_claim(
        &self,
        done: &[(AttemptRow, Outcome)],
        release: &[i64],
        now_us: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedRow>> {
        if done.is_empty() && release.is_empty() && limit <= 0 {
            return Ok(Vec::new());
        }
        // The endpoint check is a correlated EXISTS, not `endpoint_id IN (…)`: with the IN,
        // SQLite's planner walked the endpoint's index (every delivery the endpoint ever had)
        // and sorted it, a cost growing with the outbox, instead of the partial index of due
        // deliveries in `next_attempt_at` order, which stops after `limit` rows.
        //
        // The limit is a literal, not a bound parameter: SQLite's planner reads a bound LIMIT's
        // value, which marks the statement to be prepared again at every new binding (every
        // run: ~180k instructions, more than the rest of a delivery's SQL). The worker always
        // claims the same number, so the text, and its cached preparation, stays the same.
        let pick = format!(
            "SELECT d.id FROM webhook_deliveries d \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $2 \
               AND (d.locked_until IS NULL OR d.locked_until <= $2) \
               AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.active) \
             ORDER BY d.next_attempt_at LIMIT {limit}{}",
            skip_locked::<DB>()
        );
        // What the worker needs to send a claimed delivery: the endpoint's URL and secret, and
        // for `message.created` the message.
        const CLAIMED_COLS: &str = "c.id, c.endpoint_id, c.event_id, c.event_type, c.payload, \
             c.message_id, c.created_at, c.attempts, c.retry_since, e.url, e.secret, \
             m.session_id AS m_session_id, m.message AS m_message, \
             m.sender_type AS m_sender_type, m.data_type AS m_data_type, m.sent_at AS m_sent_at";
        let rows = if !DB::FOR_UPDATE.is_empty() {
            let mut tx = if done.is_empty() && release.is_empty() {
                None
            } else {
                let mut tx = self.begin().await?;
                finish_attempts_in(&mut tx, done, release).await?;
                Some(tx)
            };
            if limit <= 0 {
                if let Some(tx) = tx {
                    tx.commit().await?;
                }
                return Ok(Vec::new());
            }
            // One statement: the claim and its reads (one round trip).
            let claim = sqlx::query(AssertSqlSafe(format!(
                "WITH c AS (UPDATE webhook_deliveries SET locked_until = $1 WHERE id IN ({pick}) \
                     RETURNING id, endpoint_id, event_id, event_type, payload, message_id, \
                     created_at, attempts, retry_since, next_attempt_at) \
                 SELECT {CLAIMED_COLS} \
                 FROM c JOIN webhook_endpoints e ON e.id = c.endpoint_id \
                 LEFT JOIN chat_messages m ON m.id = c.message_id \
                 ORDER BY c.next_attempt_at, c.id"
            )))
            .bind(lease_until)
            .bind(now_us);
            let rows = match tx.as_mut() {
                Some(tx) => claim.fetch_all(&mut **tx).await?,
                None => claim.fetch_all(&self.write).await?,
            };
            if let Some(tx) = tx {
                tx.commit().await?;
            }
            rows
        } else {
            let mut tx = self.begin().await?;
            finish_attempts_in(&mut tx, done, release).await?;
            if limit <= 0 {
                tx.commit().await?;
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                "UPDATE webhook_deliveries SET locked_until = $1 WHERE id IN ({pick}) RETURNING id"
            )))
            .bind(lease_until)
            .bind(now_us)
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                tx.commit().await?;
                return Ok(Vec::new());
            }
            // SQLite's UPDATE … RETURNING cannot join: the reads are a second statement, its
            // ids one JSON parameter so that its text (and its cached preparation) is the same
            // for every claim.
            let ids = serde_json::to_string(&ids)
                .map_err(|e| Error::Internal(format!("claimed ids: {e}")))?;
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {CLAIMED_COLS} \
                 FROM webhook_deliveries c JOIN webhook_endpoints e ON e.id = c.endpoint_id \
                 LEFT JOIN chat_messages m ON m.id = c.message_id \
                 WHERE c.id IN (SELECT value FROM json_each($1)) \
                 ORDER BY c.next_attempt_at, c.id"
            )))
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows
        };
        rows.iter().map(claimed_of::<DB>).collect()
    }
}
