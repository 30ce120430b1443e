//! Reads of live streams (`crate::streams`); the SQL that differs is in the [`Dialect`].

use super::sqlx::{self, AssertSqlSafe};
use super::{Dialect, Sql, Tx, for_sessions, now};
use crate::chat::ChatMessage;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ids::SessionId;
use crate::store::rows::{MESSAGE_COLS, MessageRow};

/// Writes a client event to the activity log in the change's transaction (and, on PostgreSQL,
/// queues the wake-up `NOTIFY`, sent at commit). Message events are not written here: the
/// activity stream reads them from `chat_messages` itself.
pub(crate) async fn record_activity<DB: Dialect>(tx: &mut Tx<DB>, event: &Event) -> Result<()> {
    let (client_id, session_id) = match event {
        Event::MessageCreated(_) => return Ok(()),
        Event::ClientCreated(c) => (c.client.id.0, c.chat_session_id.map(|s| s.0)),
        Event::ClientStageChanged(s) => (s.client_id.0, None),
        Event::ClientAssigned(a) => (a.client_id.0, None),
    };
    let payload = serde_json::to_string(event)
        .map_err(|e| Error::Internal(format!("event not serialisable: {e}")))?;
    sqlx::query(
        "INSERT INTO activity_events (kind, client_id, session_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.kind().as_str())
    .bind(client_id)
    .bind(session_id)
    .bind(payload)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    if let Some(notify) = DB::NOTIFY_ACTIVITY {
        sqlx::query(notify).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Erasure: removes the activity rows of erased sessions (a deleted client's rows go with it by
/// `ON DELETE CASCADE`). Called from `delete_conversations`, in the erasure's transaction.
pub(crate) async fn forget_activity<DB: Dialect>(
    tx: &mut Tx<DB>,
    sessions: &[uuid::Uuid],
) -> Result<u64> {
    for_sessions(
        tx,
        "DELETE FROM activity_events WHERE session_id IN (",
        sessions,
    )
    .await
}

impl<DB: Dialect> Sql<DB> {
    /// The newest message id of `session`, 0 when it has none.
    pub(crate) async fn session_head(&self, session: SessionId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(max(id), 0) FROM chat_messages WHERE session_id = $1",
        )
        .bind(session.0)
        .fetch_one(&self.read)
        .await?)
    }

    /// The session's live-stream token now (see `crate::streams::Mark`): `SESSION_TOKEN`.
    pub(crate) async fn session_token(&self, session: SessionId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(DB::SESSION_TOKEN)
            .bind(session.0)
            .fetch_one(&self.read)
            .await?)
    }

    /// At most `limit` messages of `session` after id `after`, in id order (commit order within
    /// a session: each batch locks the session row until it commits).
    pub(crate) async fn session_messages_after(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLS} FROM chat_messages WHERE session_id = $1 AND id > $2 \
             ORDER BY id LIMIT {limit}"
        )))
        .bind(session.0)
        .bind(after)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(ChatMessage::try_from).collect()
    }

    /// Where "now" is in the message and the event log.
    pub(crate) async fn activity_head(&self) -> Result<crate::streams::ActivityCursor> {
        let (mtx, mid, etx, eid): (i64, i64, i64, i64) = sqlx::query_as(DB::ACTIVITY_HEAD)
            .fetch_one(&self.read)
            .await?;
        Ok(crate::streams::ActivityCursor {
            messages: crate::streams::Position { tx: mtx, id: mid },
            events: crate::streams::Position { tx: etx, id: eid },
        })
    }

    /// The next rows of both logs after `cursor` (at most `limit` of each), with their
    /// positions; events as their stored JSON.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn activity_after(
        &self,
        cursor: crate::streams::ActivityCursor,
        limit: i64,
    ) -> Result<(
        Vec<(crate::streams::Position, ChatMessage)>,
        Vec<(crate::streams::Position, String)>,
    )> {
        let messages: Vec<(i64, MessageRow)> =
            sqlx::query(AssertSqlSafe(format!("{}{limit}", DB::GLOBAL_MESSAGES)))
                .bind(cursor.messages.tx)
                .bind(cursor.messages.id)
                .fetch_all(&self.read)
                .await?
                .into_iter()
                .map(|row| {
                    use sqlx::{FromRow, Row};
                    Ok((row.try_get::<i64, _>("tx")?, MessageRow::from_row(&row)?))
                })
                .collect::<std::result::Result<_, sqlx::Error>>()?;
        let messages = messages
            .into_iter()
            .map(|(tx, row)| {
                let message = ChatMessage::try_from(row)?;
                Ok((
                    crate::streams::Position {
                        tx,
                        id: message.id.0,
                    },
                    message,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let events: Vec<(i64, i64, String)> =
            sqlx::query_as(AssertSqlSafe(format!("{}{limit}", DB::ACTIVITY_EVENTS)))
                .bind(cursor.events.tx)
                .bind(cursor.events.id)
                .fetch_all(&self.read)
                .await?;
        let events = events
            .into_iter()
            .map(|(tx, id, payload)| (crate::streams::Position { tx, id }, payload))
            .collect();
        Ok((messages, events))
    }
}
