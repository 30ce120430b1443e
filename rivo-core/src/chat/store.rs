//! The store's chat operations: append, read a history, list and delete messages and sessions.

use serde_json::json;

use super::{
    ChatMessage, DataType, HistoryCursor, HistoryPage, KeysetPage, MessageFilter, MessageSort,
    SenderType, SessionCursor, SessionFilter, SessionSummary, clean_message,
};
use crate::error::{Error, Result};
use crate::ids::{MessageId, SessionId};
use crate::query::{Page, PageRequest, Sort};
use crate::store::append::NewMessage;
use crate::store::{Store, dispatch};

/// The store's chat operations.
impl Store {
    /// Stores one message and returns it with its id and `sent_at`.
    ///
    /// The text is trimmed; a blank text or one with a NUL character is rejected with
    /// [`Error::Validation`] on field `message`, and nothing is written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rivo_core::Error> {
    /// use rivo_core::{SenderType, SessionId, Store};
    /// let store = Store::open("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let session = SessionId::new_random();
    /// store.append(session, "  Hi, I need a loan ", SenderType::Client).await?;
    /// store.append(session, "Happy to help!", SenderType::Bot).await?;
    /// let history = store.history(session).await?;
    /// assert_eq!(history[0].message, "Hi, I need a loan");
    /// assert_eq!(history[1].sender_type, SenderType::Bot);
    /// # Ok(()) }
    /// ```
    ///
    /// Concurrent appends are group-committed: each batch (what queued while the previous one
    /// was committing, at most [`StoreOptions::append_batch_max`](crate::StoreOptions)) is one
    /// INSERT in one transaction, with the session rows updated in it. The call returns only
    /// once its own batch committed; if the batch fails, every call in it fails and none of its
    /// messages is stored. Within a session, history order (`sent_at`, then id) equals id order,
    /// across several stores on one database too.
    #[tracing::instrument(skip_all, fields(%sender_type))]
    pub async fn append(
        &self,
        session_id: SessionId,
        message: &str,
        sender_type: SenderType,
    ) -> Result<ChatMessage> {
        let message = clean_message(message).map_err(|rule| Error::invalid("message", rule))?;
        self.limits.check_message(&message)?;
        let mut stored = self
            .appender
            .append(vec![NewMessage {
                session_id,
                message,
                sender_type,
                data_type: DataType::Message,
            }])
            .await?;
        stored
            .pop()
            .ok_or_else(|| Error::Internal("append returned no row".into()))
    }

    /// Stores several messages in one transaction (all or none), in the given order, and
    /// returns them. Every text is validated first: a bad one fails the call with
    /// [`Error::Validation`] on field `message`, and nothing is written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rivo_core::Error> {
    /// use rivo_core::{SenderType, SessionId, Store};
    /// let store = Store::open("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let s = SessionId::new_random();
    /// let stored = store
    ///     .append_many(&[(s, "Hi", SenderType::Client), (s, "Hello!", SenderType::Bot)])
    ///     .await?;
    /// assert!(stored[0].id < stored[1].id);
    /// assert!(store.append_many(&[(s, "ok", SenderType::Client), (s, " ", SenderType::Bot)]).await.is_err());
    /// assert_eq!(store.history(s).await?.len(), 2);
    /// # Ok(()) }
    /// ```
    #[tracing::instrument(skip_all, fields(count = messages.len()))]
    pub async fn append_many(
        &self,
        messages: &[(SessionId, &str, SenderType)],
    ) -> Result<Vec<ChatMessage>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let rows = messages
            .iter()
            .map(|(session_id, text, sender_type)| {
                clean_message(text)
                    .map(|message| NewMessage {
                        session_id: *session_id,
                        message,
                        sender_type: *sender_type,
                        data_type: DataType::Message,
                    })
                    .map_err(|rule| Error::invalid("message", rule))
            })
            .collect::<Result<Vec<_>>>()?;
        for row in &rows {
            self.limits.check_message(&row.message)?;
        }
        self.appender.append(rows).await
    }

    /// The whole conversation of a session, oldest first (by `sent_at`, then id). An unknown
    /// session has an empty history.
    #[tracing::instrument(skip_all)]
    pub async fn history(&self, session_id: SessionId) -> Result<Vec<ChatMessage>> {
        dispatch!(self.history(session_id))
    }

    /// The conversation of a session, oldest first, up to [`Limits::max_history_bytes`] of
    /// message text (always at least one message): the rows are read a page at a time, so
    /// the memory a reader holds is bounded however long the session is. `next` is `None`
    /// when the whole history fits, otherwise where the rest starts (for
    /// [`Store::history_page`]).
    ///
    /// [`Limits::max_history_bytes`]: crate::Limits::max_history_bytes
    pub async fn history_bounded(&self, session_id: SessionId) -> Result<HistoryPage> {
        const PAGE: u32 = 200;
        let budget = self.limits.max_history_bytes;
        let mut messages: Vec<ChatMessage> = Vec::new();
        let mut used = 0usize;
        let mut after = None;
        loop {
            let page = self.history_page(session_id, after, PAGE).await?;
            for message in page.messages {
                // The JSON of one message: its text plus ~150 bytes of id, time and names.
                let size = message.message.len() + 150;
                if !messages.is_empty() && used + size > budget {
                    let next = messages.last().map(HistoryCursor::after);
                    return Ok(HistoryPage { messages, next });
                }
                used += size;
                messages.push(message);
            }
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => {
                    return Ok(HistoryPage {
                        messages,
                        next: None,
                    });
                }
            }
        }
    }

    /// Up to `limit` messages of a session after `after` (from the start when `None`), oldest
    /// first, and the cursor of the next page. `limit` is capped at
    /// [`PageRequest::MAX_LIMIT`].
    #[tracing::instrument(skip_all, fields(limit))]
    pub async fn history_page(
        &self,
        session_id: SessionId,
        after: Option<HistoryCursor>,
        limit: u32,
    ) -> Result<HistoryPage> {
        let limit = limit.clamp(1, PageRequest::MAX_LIMIT);
        let mut messages = dispatch!(self.history_page(session_id, after, i64::from(limit) + 1))?;
        let next = if messages.len() > limit as usize {
            messages.truncate(limit as usize);
            messages.last().map(HistoryCursor::after)
        } else {
            None
        };
        Ok(HistoryPage { messages, next })
    }

    /// One message by id.
    pub async fn message(&self, id: MessageId) -> Result<ChatMessage> {
        dispatch!(self.message(id))
    }

    /// Messages matching `filter`, sorted, one page of them.
    pub async fn list_messages(
        &self,
        filter: &MessageFilter,
        sort: Sort<MessageSort>,
        page: PageRequest,
    ) -> Result<Page<ChatMessage>> {
        dispatch!(self.list_messages(filter, sort, page))
    }

    /// Deletes one message (recorded in the audit log when acting as a user).
    pub async fn delete_message(&self, id: MessageId) -> Result<()> {
        dispatch!(self.delete_message(id, self.audit(json!({}))))
    }

    /// Deletes the given messages in one transaction and returns how many existed. At most
    /// [`MAX_BULK_IDS`](crate::chat::MAX_BULK_IDS) ids: more is a validation error on `ids`,
    /// and nothing is deleted.
    pub async fn delete_messages(&self, ids: &[MessageId]) -> Result<u64> {
        if ids.len() > crate::chat::MAX_BULK_IDS {
            return Err(crate::Error::Validation(crate::ValidationErrors::single(
                "ids",
                crate::Rule::TooManyItems {
                    max: crate::chat::MAX_BULK_IDS,
                },
            )));
        }
        dispatch!(self.delete_messages(ids, self.audit(json!({}))))
    }

    /// Chat sessions, most recently active first, from the session rows (never a scan of the
    /// messages; a search goes through the trigram index of the messages).
    pub async fn list_sessions(
        &self,
        filter: &SessionFilter,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>> {
        dispatch!(self.list_sessions(filter, page))
    }

    /// [`Store::list_sessions`] by keyset: up to `limit` sessions after `after` (from the
    /// start when `None`) and the next cursor. A deep page costs what the first one does,
    /// unlike an offset.
    pub async fn list_sessions_after(
        &self,
        filter: &SessionFilter,
        after: Option<SessionCursor>,
        limit: u32,
    ) -> Result<KeysetPage<SessionSummary, SessionCursor>> {
        let limit = limit.clamp(1, PageRequest::MAX_LIMIT);
        let page = dispatch!(self.list_sessions_after(filter, after, limit))?;
        Ok(KeysetPage::new(page, SessionCursor::after))
    }

    /// [`Store::list_messages`] newest first (`sent_at`, then id, descending) by keyset: up to
    /// `limit` messages after `after` (from the newest when `None`) and the next cursor. A
    /// deep page costs what the first one does.
    pub async fn list_messages_after(
        &self,
        filter: &MessageFilter,
        after: Option<HistoryCursor>,
        limit: u32,
    ) -> Result<KeysetPage<ChatMessage, HistoryCursor>> {
        let limit = limit.clamp(1, PageRequest::MAX_LIMIT);
        let page = dispatch!(self.list_messages_after(filter, after, limit))?;
        Ok(KeysetPage::new(page, HistoryCursor::after))
    }

    /// Deletes every message of a session and returns how many there were.
    pub async fn delete_session(&self, session_id: SessionId) -> Result<u64> {
        dispatch!(self.delete_session(session_id, self.audit(json!({}))))
    }
}
