//! Storage of the AI summary jobs (the worker and public API are in `crate::summaries`).

use super::sqlx::{self, AssertSqlSafe};
use super::{Dialect, Sql, Tx, commit_recorded, lock_client, now, skip_locked};
use crate::audit::{Audit, AuditAction};
use crate::chat::ChatMessage;
use crate::clients::ClientContext;
use crate::error::Result;
use crate::ids::ClientId;
use crate::store::rows::{CONTEXT_COLS, ContextRow, MESSAGE_COLS, MessageRow};

use crate::summaries::{ClaimedJob, JOB_COLS, JobRow, SummaryReason};

/// Asks for a summary of `client`'s conversation inside an open transaction: the client's job
/// becomes pending now (created, or re-armed with a new generation so a run in flight does not
/// mark it done). The seam for lead capture: call it in the transaction where a lead becomes
/// complete, then wake the worker after the commit (`Store::summaries.enqueued()`).
pub(crate) async fn summaries_enqueue<DB: Dialect>(
    tx: &mut Tx<DB>,
    client: ClientId,
    reason: SummaryReason,
) -> Result<()> {
    let at = crate::summaries::micros(now());
    sqlx::query(
        "INSERT INTO summary_jobs (client_id, reason, status, generation, attempts, \
         next_attempt_at, requested_at, updated_at) VALUES ($1, $2, 'pending', 1, 0, $3, $3, $3) \
         ON CONFLICT (client_id) DO UPDATE SET reason = excluded.reason, status = 'pending', \
         generation = summary_jobs.generation + 1, attempts = 0, \
         next_attempt_at = excluded.next_attempt_at, last_error = NULL, \
         requested_at = excluded.requested_at, finished_at = NULL, \
         updated_at = excluded.updated_at",
    )
    .bind(client.0)
    .bind(reason.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl<DB: Dialect> Sql<DB> {
    pub(crate) async fn request_summary(
        &self,
        client: ClientId,
        reason: SummaryReason,
        audit: Audit<'_>,
    ) -> Result<JobRow> {
        let mut tx = self.begin().await?;
        lock_client(&mut tx, client).await?;
        summaries_enqueue(&mut tx, client, reason).await?;
        let row: JobRow = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM summary_jobs WHERE client_id = $1"
        )))
        .bind(client.0)
        .fetch_one(&mut *tx)
        .await?;
        let repr = format!("summary of client {client}");
        commit_recorded(tx, &audit, AuditAction::Update, "summaryjob", client, &repr).await?;
        Ok(row)
    }

    pub(crate) async fn summary_job(&self, client: ClientId) -> Result<Option<JobRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM summary_jobs WHERE client_id = $1"
        )))
        .bind(client.0)
        .fetch_optional(&self.read)
        .await?)
    }

    /// Claims up to `limit` due jobs until `lease_until`: pending ones that are due and not
    /// leased, and running ones whose lease expired (a worker died). Counts the attempt.
    pub(crate) async fn claim_summaries(
        &self,
        now_us: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedJob>> {
        let mut tx = self.begin().await?;
        let claimed: Vec<ClaimedJob> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE summary_jobs SET locked_until = $1, status = 'running', \
             attempts = attempts + 1, updated_at = $2 WHERE id IN (\
                SELECT j.id FROM summary_jobs j \
                WHERE (j.status = 'pending' AND j.next_attempt_at <= $2 \
                       AND (j.locked_until IS NULL OR j.locked_until <= $2)) \
                   OR (j.status = 'running' AND j.locked_until <= $2) \
                ORDER BY j.next_attempt_at LIMIT {limit}{}) \
             RETURNING id, client_id, generation, attempts",
            skip_locked::<DB>()
        )))
        .bind(lease_until)
        .bind(now_us)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// The latest `max_messages` conversation messages (`data_type` `message`: the contact
    /// details a lead sent are not sent to the model, as in the original) of the session
    /// linked to `client`, oldest first; `None` when no session is linked.
    pub(crate) async fn summary_transcript(
        &self,
        client: ClientId,
        max_messages: u32,
    ) -> Result<Option<Vec<ChatMessage>>> {
        let session: Option<Option<uuid::Uuid>> =
            sqlx::query_scalar("SELECT chat_session_id FROM client_contexts WHERE client_id = $1")
                .bind(client.0)
                .fetch_optional(&self.read)
                .await?;
        let Some(Some(session)) = session else {
            return Ok(None);
        };
        let rows: Vec<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLS} FROM chat_messages WHERE session_id = $1 \
             AND data_type = 'message' ORDER BY id DESC LIMIT {max_messages}"
        )))
        .bind(session)
        .fetch_all(&self.read)
        .await?;
        let mut messages = rows
            .into_iter()
            .map(ChatMessage::try_from)
            .collect::<Result<Vec<_>>>()?;
        messages.reverse();
        Ok(Some(messages))
    }

    /// Stores a summary: merges it into the client's context under the summary key and marks
    /// the job done (if no newer request came meanwhile), in one transaction.
    pub(crate) async fn finish_summary(
        &self,
        job_id: i64,
        generation: i64,
        client: ClientId,
        summary: &serde_json::Map<String, serde_json::Value>,
        model: &str,
        limits: &crate::Limits,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        lock_client(&mut tx, client).await?;
        let row: Option<ContextRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONTEXT_COLS} FROM client_contexts WHERE client_id = $1"
        )))
        .bind(client.0)
        .fetch_optional(&mut *tx)
        .await?;
        let (session, mut data) = match row {
            Some(row) => {
                let c = ClientContext::try_from(row)?;
                (c.chat_session_id, c.data)
            }
            None => (None, serde_json::Map::new()),
        };
        data.insert(
            crate::summaries::SUMMARY_KEY.into(),
            serde_json::Value::Object(summary.clone()),
        );
        limits.check_context(&data)?;
        let at = now();
        sqlx::query(
            "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (client_id) DO UPDATE SET \
             context_data = excluded.context_data, updated_at = excluded.updated_at",
        )
        .bind(client.0)
        .bind(session.map(|s| s.0))
        .bind(sqlx::types::Json(&data))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let at_us = crate::summaries::micros(at);
        sqlx::query(
            "UPDATE summary_jobs SET status = 'done', last_error = NULL, model = $1, \
             finished_at = $2, updated_at = $2, locked_until = NULL \
             WHERE id = $3 AND generation = $4",
        )
        .bind(model)
        .bind(at_us)
        .bind(job_id)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        // A newer request re-armed the job meanwhile: it stays pending, free to claim.
        sqlx::query(
            "UPDATE summary_jobs SET locked_until = NULL, model = $1 \
             WHERE id = $2 AND generation <> $3",
        )
        .bind(model)
        .bind(job_id)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retry later, or give up. The context is not touched.
    pub(crate) async fn fail_summary(
        &self,
        job_id: i64,
        generation: i64,
        error: &str,
        outcome: crate::summaries::Outcome,
        now_us: i64,
    ) -> Result<()> {
        let (status, next, finished) = match outcome {
            crate::summaries::Outcome::Retry { at } => ("pending", Some(at), None),
            crate::summaries::Outcome::Failed => ("failed", None, Some(now_us)),
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE summary_jobs SET status = $1, last_error = $2, \
             next_attempt_at = COALESCE($3, next_attempt_at), finished_at = $4, \
             updated_at = $5, locked_until = NULL WHERE id = $6 AND generation = $7",
        )
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(finished)
        .bind(now_us)
        .bind(job_id)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE summary_jobs SET locked_until = NULL WHERE id = $1 AND generation <> $2",
        )
        .bind(job_id)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
