//! Webhook endpoints and the deliveries an admin reads and resends (the public API and the
//! delivery worker are in `crate::webhooks`; the outbox is in `webhook_outbox`). Times are Unix
//! microseconds.

use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{Dialect, Sql, commit_recorded, not_found, now};
use crate::audit::{Audit, AuditAction};
use crate::error::{Error, Result, Rule};
use crate::webhooks::{AttemptRow, DELIVERY_COLS, DeliveryRow, ENDPOINT_COLS, EndpointRow};

impl<DB: Dialect> Sql<DB> {
    pub(crate) async fn create_webhook(
        &self,
        w: &crate::webhooks::CleanWebhook,
        max_endpoints: i64,
        audit: Audit<'_>,
    ) -> Result<EndpointRow> {
        let mut tx = self.begin().await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
            .fetch_one(&mut *tx)
            .await?;
        if count >= max_endpoints {
            return Err(Error::Validation(crate::ValidationErrors::single(
                "url",
                Rule::Other(format!(
                    "at most {max_endpoints} webhook endpoints can be registered"
                )),
            )));
        }
        let at = crate::webhooks::micros(now());
        let row: EndpointRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO webhook_endpoints (url, secret, event_mask, active, description, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {ENDPOINT_COLS}"
        )))
        .bind(&w.url)
        .bind(&w.secret)
        .bind(w.event_mask)
        .bind(w.active)
        .bind(&w.description)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        commit_recorded(tx, &audit, AuditAction::Create, "webhook", row.id, &row.url).await?;
        Ok(row)
    }

    pub(crate) async fn webhook(&self, id: i64) -> Result<EndpointRow> {
        self.row_by_id(ENDPOINT_COLS, "webhook_endpoints", id, "webhook")
            .await
    }

    pub(crate) async fn list_webhooks(&self) -> Result<Vec<EndpointRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints ORDER BY id"
        )))
        .fetch_all(&self.read)
        .await?)
    }

    pub(crate) async fn update_webhook(
        &self,
        id: i64,
        w: &crate::webhooks::CleanWebhook,
        audit: Audit<'_>,
    ) -> Result<EndpointRow> {
        let mut tx = self.begin().await?;
        let row: EndpointRow = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE webhook_endpoints SET url = $1, secret = $2, event_mask = $3, active = $4, \
             description = $5, updated_at = $6 WHERE id = $7 RETURNING {ENDPOINT_COLS}"
        )))
        .bind(&w.url)
        .bind(&w.secret)
        .bind(w.event_mask)
        .bind(w.active)
        .bind(&w.description)
        .bind(crate::webhooks::micros(now()))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(not_found("webhook"))?;
        commit_recorded(tx, &audit, AuditAction::Update, "webhook", row.id, &row.url).await?;
        Ok(row)
    }

    pub(crate) async fn delete_webhook(&self, id: i64, audit: Audit<'_>) -> Result<()> {
        let mut tx = self.begin().await?;
        let url: String =
            sqlx::query_scalar("DELETE FROM webhook_endpoints WHERE id = $1 RETURNING url")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(not_found("webhook"))?;
        commit_recorded(tx, &audit, AuditAction::Delete, "webhook", id, &url).await?;
        Ok(())
    }

    /// The OR of the event masks of the active endpoints.
    pub(crate) async fn webhook_subscriptions(&self) -> Result<i64> {
        let masks: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(event_mask AS BIGINT) FROM webhook_endpoints WHERE active",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(masks.into_iter().fold(0, |a, m| a | m))
    }

    pub(crate) async fn list_deliveries(
        &self,
        endpoint_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<DeliveryRow>, Vec<AttemptRow>, i64)> {
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1")
                .bind(endpoint_id)
                .fetch_one(&self.read)
                .await?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE endpoint_id = $1 \
             ORDER BY id DESC LIMIT {limit} OFFSET $2"
        )))
        .bind(endpoint_id)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let attempts = self.attempts_of(rows.iter().map(|r| r.id)).await?;
        Ok((rows, attempts, total))
    }

    pub(crate) async fn delivery(&self, id: i64) -> Result<(DeliveryRow, Vec<AttemptRow>)> {
        let row: DeliveryRow = self
            .row_by_id(DELIVERY_COLS, "webhook_deliveries", id, "webhook delivery")
            .await?;
        let attempts = self.attempts_of(std::iter::once(id)).await?;
        Ok((row, attempts))
    }

    async fn attempts_of(&self, ids: impl Iterator<Item = i64>) -> Result<Vec<AttemptRow>> {
        let ids: Vec<i64> = ids.collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The last 20 attempts of each delivery are plenty to show (a delivery retried for
        // days has ~20 anyway with the default backoff cap).
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT delivery_id, attempted_at, status_code, latency_ms, error FROM (\
             SELECT a.*, row_number() OVER (PARTITION BY delivery_id ORDER BY id DESC) AS rn \
             FROM webhook_attempts a WHERE delivery_id IN (",
        );
        let mut list = qb.separated(", ");
        for id in &ids {
            list.push_bind(*id);
        }
        qb.push(")) AS t WHERE rn <= 20 ORDER BY delivery_id, attempted_at");
        Ok(qb.build_query_as().fetch_all(&self.read).await?)
    }

    pub(crate) async fn resend_delivery(&self, id: i64, audit: Audit<'_>) -> Result<DeliveryRow> {
        let mut tx = self.begin().await?;
        let at = crate::webhooks::micros(now());
        let row: DeliveryRow = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
             retry_since = $1, finished_at = NULL, locked_until = NULL WHERE id = $2 \
             RETURNING {DELIVERY_COLS}"
        )))
        .bind(at)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(not_found("webhook delivery"))?;
        commit_recorded(
            tx,
            &audit,
            AuditAction::Update,
            "webhookdelivery",
            row.id,
            &row.event_id,
        )
        .await?;
        Ok(row)
    }

    /// (pending deliveries, the earliest `next_attempt_at` among them).
    pub(crate) async fn webhook_queue(&self) -> Result<(i64, Option<i64>)> {
        Ok(sqlx::query_as(
            "SELECT count(*), min(next_attempt_at) FROM webhook_deliveries \
             WHERE status = 'pending'",
        )
        .fetch_one(&self.read)
        .await?)
    }
}
