//! Chat history, sessions and messages.

use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{Dialect, Sql, paged, preview, push_fts, push_like, push_where, record, record_many};
use crate::audit::{Audit, AuditAction};
use crate::chat::{
    ChatMessage, HistoryCursor, MessageFilter, MessageSort, SessionFilter, SessionSummary,
};
use crate::error::{Error, Result};
use crate::ids::{ClientId, MessageId, SessionId};
use crate::query::{Cond, Page, PageRequest, Sort};
use crate::store::dialect::RowsAffected as _;
use crate::store::rows::{MESSAGE_COLS, MessageRow, SessionRow};

pub(super) const SESSION_COLS: &str = "session_id, client_id, message_count, first_message_at AS first_sent_at, \
     last_message_at AS last_sent_at, last_message_preview, last_sender_type";

impl<DB: Dialect> Sql<DB> {
    pub(crate) async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub(crate) async fn history(&self, session_id: SessionId) -> Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, session_id, message, sender_type, data_type, sent_at FROM chat_messages \
             WHERE session_id = $1 ORDER BY sent_at, id",
        )
        .bind(session_id.0)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(ChatMessage::try_from).collect()
    }

    pub(crate) async fn history_page(
        &self,
        session_id: SessionId,
        after: Option<HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = match after {
            None => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT id, session_id, message, sender_type, data_type, sent_at FROM chat_messages \
                     WHERE session_id = $1 ORDER BY sent_at, id LIMIT {limit}"
                )))
                .bind(session_id.0)
                .fetch_all(&self.read)
                .await?
            }
            Some(cursor) => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT id, session_id, message, sender_type, data_type, sent_at FROM chat_messages \
                     WHERE session_id = $1 AND (sent_at > $2 OR (sent_at = $2 AND id > $3)) \
                     ORDER BY sent_at, id LIMIT {limit}"
                )))
                .bind(session_id.0)
                .bind(cursor.sent_at)
                .bind(cursor.id.0)
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.into_iter().map(ChatMessage::try_from).collect()
    }

    pub(crate) async fn message(&self, id: MessageId) -> Result<ChatMessage> {
        let row: MessageRow = self
            .row_by_id(MESSAGE_COLS, "chat_messages", id.0, "message")
            .await?;
        row.try_into()
    }

    pub(crate) async fn list_messages(
        &self,
        filter: &MessageFilter,
        sort: Sort<MessageSort>,
        page: PageRequest,
    ) -> Result<Page<ChatMessage>> {
        self.list::<MessageRow, _, _>(MESSAGE_COLS, "chat_messages", &filter.conds().0, sort, page)
            .await
    }

    pub(crate) async fn delete_message(&self, id: MessageId, audit: Audit<'_>) -> Result<()> {
        match self.delete_messages(&[id], audit).await? {
            0 => Err(Error::NotFound { entity: "message" }),
            _ => Ok(()),
        }
    }

    pub(crate) async fn delete_messages(&self, ids: &[MessageId], audit: Audit<'_>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let mut deleted = 0;
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::<DB>::new("DELETE FROM chat_messages WHERE id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.0);
            }
            qb.push(") RETURNING id, session_id, message");
            let gone: Vec<(i64, uuid::Uuid, String)> =
                qb.build_query_as().fetch_all(&mut *tx).await?;
            // The session is recorded so that erasing it later can scrub these previews.
            let entries: Vec<(String, String, serde_json::Value)> = gone
                .iter()
                .map(|(id, session, message)| {
                    (
                        id.to_string(),
                        preview(message),
                        serde_json::json!({ "session_id": SessionId(*session).to_string() }),
                    )
                })
                .collect();
            record_many(
                &mut tx,
                &audit,
                AuditAction::Delete,
                "chathistory",
                &entries,
            )
            .await?;
            deleted += gone.len() as u64;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    pub(crate) async fn list_sessions(
        &self,
        filter: &SessionFilter,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>> {
        self.sessions_page(filter, None, page.clamped_limit(), page.clamped_offset())
            .await
    }

    pub(crate) async fn list_sessions_after(
        &self,
        filter: &SessionFilter,
        after: Option<crate::chat::SessionCursor>,
        limit: u32,
    ) -> Result<Page<SessionSummary>> {
        self.sessions_page(filter, after, i64::from(limit), 0).await
    }

    /// A page of session rows, most recently active first, after `after` and `offset`.
    pub(super) async fn sessions_page(
        &self,
        filter: &SessionFilter,
        after: Option<crate::chat::SessionCursor>,
        limit: i64,
        offset: i64,
    ) -> Result<Page<SessionSummary>> {
        let search = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let push_filter = |qb: &mut QueryBuilder<DB>| match search {
            Some(text) if text.contains('\0') => {
                qb.push(" WHERE 1 = 0");
            }
            Some(text) => {
                qb.push(" WHERE session_id IN (SELECT session_id FROM chat_messages WHERE ");
                push_fts(qb, "chat_messages_fts", text);
                push_like(qb, &["message"], &crate::query::like_pattern(text));
                qb.push(")");
            }
            None => {
                qb.push(" WHERE 1 = 1");
            }
        };
        let (total, estimated) = self
            .bounded_count("chat_sessions", search.is_none(), push_filter)
            .await?;
        let mut select = QueryBuilder::<DB>::new(
            "SELECT session_id, client_id, message_count, first_message_at AS first_sent_at, \
             last_message_at AS last_sent_at, last_message_preview, last_sender_type \
             FROM chat_sessions",
        );
        push_filter(&mut select);
        if let Some(cursor) = after {
            // Written so that the (last_message_at DESC, session_id) index starts at the cursor.
            select
                .push(" AND last_message_at <= ")
                .push_bind(cursor.last_sent_at);
            select
                .push(" AND (last_message_at < ")
                .push_bind(cursor.last_sent_at);
            select
                .push(" OR session_id > ")
                .push_bind(cursor.session_id.0)
                .push(")");
        }
        select.push(" ORDER BY last_message_at DESC, session_id LIMIT ");
        select.push(limit + 1);
        select.push(" OFFSET ").push_bind(offset);
        let rows: Vec<SessionRow> = select.build_query_as().fetch_all(&self.read).await?;
        paged(rows, limit, total, estimated)
    }

    pub(crate) async fn list_messages_after(
        &self,
        filter: &MessageFilter,
        after: Option<HistoryCursor>,
        limit: u32,
    ) -> Result<Page<ChatMessage>> {
        let conds = filter.conds().0;
        let (total, estimated) = self
            .bounded_count("chat_messages", conds.is_empty(), |qb| {
                push_where(qb, &conds)
            })
            .await?;
        let mut all = conds.clone();
        if let Some(cursor) = after {
            all.push(Cond::AfterDesc(
                "sent_at",
                cursor.sent_at.into(),
                cursor.id.0,
            ));
        }
        let mut select =
            QueryBuilder::<DB>::new(format!("SELECT {MESSAGE_COLS} FROM chat_messages"));
        push_where(&mut select, &all);
        select.push(" ORDER BY sent_at DESC, id DESC LIMIT ");
        let limit = i64::from(limit);
        select.push(limit + 1);
        let rows: Vec<MessageRow> = select.build_query_as().fetch_all(&self.read).await?;
        paged(rows, limit, total, estimated)
    }

    pub(crate) async fn delete_session(
        &self,
        session_id: SessionId,
        audit: Audit<'_>,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM chat_messages WHERE session_id = $1")
            .bind(session_id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted > 0 {
            let audit = Audit {
                changes: serde_json::json!({ "messages": deleted }),
                ..audit
            };
            let id = session_id.to_string();
            record(
                &mut tx,
                &audit,
                AuditAction::Delete,
                "chatsession",
                &id,
                &id,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// One session row.
    pub(crate) async fn session_row(&self, id: SessionId) -> Result<Option<SessionSummary>> {
        let row: Option<SessionRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM chat_sessions WHERE session_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await?;
        row.map(SessionSummary::try_from).transpose()
    }

    /// The session rows linked to a client, or named by its context, by session id.
    pub(crate) async fn client_sessions(
        &self,
        client_id: ClientId,
        context_session: Option<SessionId>,
    ) -> Result<Vec<SessionSummary>> {
        let rows: Vec<SessionRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM chat_sessions WHERE client_id = $1 OR session_id = $2 \
             ORDER BY session_id"
        )))
        .bind(client_id.0)
        .bind(context_session.map(|s| s.0))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(SessionSummary::try_from).collect()
    }

    /// Messages of sessions linked to no client containing `needle`: an email (a
    /// case-insensitive substring, through the trigram index), or a phone's digits (compared
    /// with the message's spaces, dashes, dots, parentheses and `+` removed).
    pub(crate) async fn find_unlinked_messages(
        &self,
        needle: &str,
        phone: bool,
        limit: i64,
    ) -> Result<Vec<ChatMessage>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {MESSAGE_COLS} FROM chat_messages WHERE NOT EXISTS (SELECT 1 FROM \
             chat_sessions s WHERE s.session_id = chat_messages.session_id \
             AND s.client_id IS NOT NULL) AND "
        ));
        if phone {
            qb.push(
                "replace(replace(replace(replace(replace(replace(message, ' ', ''), '-', ''), \
                 '(', ''), ')', ''), '.', ''), '+', '') LIKE ",
            )
            .push_bind(format!("%{needle}%"));
        } else {
            push_fts(&mut qb, "chat_messages_fts", needle);
            push_like(&mut qb, &["message"], &crate::query::like_pattern(needle));
        }
        qb.push(" ORDER BY sent_at DESC, id DESC LIMIT ")
            .push(limit);
        let rows: Vec<MessageRow> = qb.build_query_as().fetch_all(&self.read).await?;
        rows.into_iter().map(ChatMessage::try_from).collect()
    }
}
