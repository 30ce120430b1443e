//! Privacy: retention, erasure, and the leases that keep one purger at a time.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::audit::{record_always, scrub_audit, scrub_message_audit};
use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{
    Dialect, Sql, Tx, for_sessions, forget_activity, lock_client, outbox_forget_client,
    outbox_forget_sessions, push_uuid_list,
};
use crate::audit::AuditAction;
use crate::error::{Error, Result};
use crate::ids::{ClientId, SessionId};
use crate::store::dialect::RowsAffected as _;

/// What an erased object's earlier audit entries keep in place of their description.
pub(super) const ERASED: &str = "[erased]";

/// Deletes the messages (and so, by the triggers, the session rows) of `sessions` and clears
/// every context's link to them; returns (messages deleted, links cleared).
pub(super) async fn delete_conversations<DB: Dialect>(
    tx: &mut Tx<DB>,
    sessions: &[uuid::Uuid],
) -> Result<(u64, u64)> {
    let messages = for_sessions(
        tx,
        "DELETE FROM chat_messages WHERE session_id IN (",
        sessions,
    )
    .await?;
    for_sessions(
        tx,
        "DELETE FROM chat_sessions WHERE session_id IN (",
        sessions,
    )
    .await?;
    let links = for_sessions(
        tx,
        "UPDATE client_contexts SET chat_session_id = NULL WHERE chat_session_id IN (",
        sessions,
    )
    .await?;
    forget_activity(tx, sessions).await?;
    outbox_forget_sessions(tx, sessions).await?;
    Ok((messages, links))
}

impl<DB: Dialect> Sql<DB> {
    /// Takes the lease `name` for `holder` until `until` (Unix µs) when it is free (never taken,
    /// or expired by `now`); one atomic upsert, so of concurrent takers exactly one wins.
    pub(crate) async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "INSERT INTO maintenance_leases (name, holder, acquired_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             acquired_at = excluded.acquired_at, expires_at = excluded.expires_at \
             WHERE maintenance_leases.expires_at <= excluded.acquired_at",
        )
        .bind(name)
        .bind(holder)
        .bind(now)
        .bind(until)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Extends `holder`'s lease `name` to `until`; `false` when `holder` no longer holds it.
    pub(crate) async fn renew_lease(&self, name: &str, holder: &str, until: i64) -> Result<bool> {
        let renewed = sqlx::query(
            "UPDATE maintenance_leases SET expires_at = $1 WHERE name = $2 AND holder = $3",
        )
        .bind(until)
        .bind(name)
        .bind(holder)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// In one transaction: records the run's summary entry (if any) and lets `holder`'s lease
    /// `name` expire at `release_at`.
    pub(crate) async fn finish_lease(
        &self,
        name: &str,
        holder: &str,
        release_at: i64,
        summary: Option<(DateTime<Utc>, serde_json::Value)>,
        actor: Option<&crate::audit::Actor>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        if let Some((cutoff, changes)) = summary {
            let id = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            record_always(
                &mut tx,
                actor,
                "rivo (chat retention)",
                AuditAction::Delete,
                "retention",
                &id,
                "chat retention run",
                &changes,
            )
            .await?;
        }
        sqlx::query(
            "UPDATE maintenance_leases SET expires_at = $1 WHERE name = $2 AND holder = $3",
        )
        .bind(release_at)
        .bind(name)
        .bind(holder)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sessions (and their messages) whose last message is before `cutoff`.
    pub(crate) async fn retention_preview(&self, cutoff: DateTime<Utc>) -> Result<(u64, u64)> {
        let (sessions, messages): (i64, i64) = sqlx::query_as(
            "SELECT count(*), CAST(coalesce(sum(message_count), 0) AS BIGINT) \
             FROM chat_sessions WHERE last_message_at < $1",
        )
        .bind(cutoff)
        .fetch_one(&self.read)
        .await?;
        Ok((
            u64::try_from(sessions).unwrap_or(0),
            u64::try_from(messages).unwrap_or(0),
        ))
    }

    /// One retention batch, its own transaction: up to `limit` of the oldest sessions whose
    /// last message is before `cutoff`, locked in session order (as appends lock them) and
    /// checked again under the lock (an append may just have continued one), deleted with
    /// their messages; links of contexts to them are cleared. Returns (sessions, messages).
    pub(crate) async fn retention_batch(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<(u64, u64)> {
        let mut tx = self.begin().await?;
        let candidates: Vec<uuid::Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT session_id FROM chat_sessions WHERE last_message_at < $1 \
             ORDER BY last_message_at, session_id LIMIT {limit}"
        )))
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        if candidates.is_empty() {
            tx.commit().await?;
            return Ok((0, 0));
        }
        let mut qb =
            QueryBuilder::<DB>::new("SELECT session_id FROM chat_sessions WHERE session_id IN (");
        push_uuid_list(&mut qb, &candidates);
        qb.push(") AND last_message_at < ")
            .push_bind(cutoff)
            .push(" ORDER BY session_id")
            .push(DB::FOR_UPDATE);
        let locked: Vec<uuid::Uuid> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
        if locked.is_empty() {
            tx.commit().await?;
            return Ok((0, 0));
        }
        let (messages, _links) = delete_conversations(&mut tx, &locked).await?;
        tx.commit().await?;
        Ok((locked.len() as u64, messages))
    }

    pub(crate) async fn erase_client(
        &self,
        id: ClientId,
        actor: Option<&crate::audit::Actor>,
    ) -> Result<crate::privacy::ClientErasure> {
        let mut tx = self.begin().await?;
        lock_client(&mut tx, id).await?;
        let contexts: Vec<(i64, Option<uuid::Uuid>)> =
            sqlx::query_as("SELECT id, chat_session_id FROM client_contexts WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let linked: Vec<uuid::Uuid> =
            sqlx::query_scalar("SELECT session_id FROM chat_sessions WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let sessions: Vec<uuid::Uuid> = linked
            .into_iter()
            .chain(contexts.iter().filter_map(|(_, s)| *s))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stage_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM client_stage_history WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let assignment_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM client_assignments WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let (messages, _links) = delete_conversations(&mut tx, &sessions).await?;
        outbox_forget_client(&mut tx, id).await?;
        // The context, stage history and assignments go by ON DELETE CASCADE.
        sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let strings = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>();
        let context_ids: Vec<i64> = contexts.iter().map(|(c, _)| *c).collect();
        let mut scrubbed = scrub_audit(&mut tx, "client", &[id.0.to_string()]).await?;
        scrubbed += scrub_audit(&mut tx, "context", &strings(&context_ids)).await?;
        scrubbed += scrub_audit(&mut tx, "clientstagehistory", &strings(&stage_ids)).await?;
        scrubbed += scrub_audit(&mut tx, "clientassignment", &strings(&assignment_ids)).await?;
        let session_strings: Vec<String> =
            sessions.iter().map(|s| SessionId(*s).to_string()).collect();
        scrubbed += scrub_audit(&mut tx, "chatsession", &session_strings).await?;
        scrubbed += scrub_message_audit(&mut tx, &session_strings).await?;
        let erasure = crate::privacy::ClientErasure {
            client_id: id,
            sessions: sessions.len() as u64,
            messages,
            stage_changes: stage_ids.len() as u64,
            assignments: assignment_ids.len() as u64,
            audit_entries_scrubbed: scrubbed,
        };
        let changes = serde_json::json!({ "erasure": erasure });
        record_always(
            &mut tx,
            actor,
            "(no user)",
            AuditAction::Delete,
            "client",
            &id.0.to_string(),
            ERASED,
            &changes,
        )
        .await?;
        tx.commit().await?;
        Ok(erasure)
    }

    pub(crate) async fn erase_session(
        &self,
        session_id: SessionId,
        actor: Option<&crate::audit::Actor>,
    ) -> Result<crate::privacy::SessionErasure> {
        let mut tx = self.begin().await?;
        let (messages, links_cleared) = delete_conversations(&mut tx, &[session_id.0]).await?;
        if messages == 0 && links_cleared == 0 {
            return Err(Error::NotFound {
                entity: "chat session",
            });
        }
        let id = session_id.to_string();
        let audit_entries_scrubbed = scrub_audit(&mut tx, "chatsession", std::slice::from_ref(&id))
            .await?
            + scrub_message_audit(&mut tx, std::slice::from_ref(&id)).await?;
        let erasure = crate::privacy::SessionErasure {
            session_id,
            messages,
            links_cleared,
            audit_entries_scrubbed,
        };
        let changes = serde_json::json!({ "erasure": erasure });
        record_always(
            &mut tx,
            actor,
            "(no user)",
            AuditAction::Delete,
            "chatsession",
            &id,
            ERASED,
            &changes,
        )
        .await?;
        tx.commit().await?;
        Ok(erasure)
    }
}
