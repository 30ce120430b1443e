//! Chat history: messages of a website chatbot, grouped by session.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result, Rule};
use crate::ids::{MessageId, SessionId};
use crate::query::{Conds, Page, PageRequest, Sort, sort_fields};
use crate::store::append::NewMessage;
use crate::store::{Store, dispatch};
use crate::validate;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderType {
    /// The website visitor (the default).
    #[default]
    Client,
    /// The chatbot.
    Bot,
}

impl SenderType {
    /// Every sender type.
    pub const ALL: [SenderType; 2] = [SenderType::Client, SenderType::Bot];

    /// The stored and wire spelling: `client` or `bot`.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::Client => "client",
            SenderType::Bot => "bot",
        }
    }
}

impl fmt::Display for SenderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for SenderType {
    type Err = Rule;

    /// Case-sensitive, like the original.
    fn from_str(s: &str) -> Result<Self, Rule> {
        match s {
            "client" => Ok(SenderType::Client),
            "bot" => Ok(SenderType::Bot),
            other => Err(Rule::InvalidChoice {
                value: other.to_owned(),
            }),
        }
    }
}

/// What a chat message carries (the later original's `data_type`): a plain message, or one of
/// the visitor's contact details, which lead capture copies onto the session's client (see
/// [`Store::capture`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// A plain message (the default).
    #[default]
    Message,
    /// The visitor's name.
    Name,
    /// The visitor's email address.
    Email,
    /// The visitor's phone number.
    Phone,
}

impl DataType {
    /// Every data type, in the later original's order.
    pub const ALL: [DataType; 4] = [
        DataType::Message,
        DataType::Name,
        DataType::Email,
        DataType::Phone,
    ];

    /// The stored and wire spelling: `message`, `name`, `email` or `phone`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Message => "message",
            DataType::Name => "name",
            DataType::Email => "email",
            DataType::Phone => "phone",
        }
    }

    /// Whether the message carries a contact detail (name, email or phone).
    pub fn is_contact(self) -> bool {
        self != DataType::Message
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for DataType {
    type Err = Rule;

    /// Case-sensitive, like the later original.
    fn from_str(s: &str) -> Result<Self, Rule> {
        match s {
            "message" => Ok(DataType::Message),
            "name" => Ok(DataType::Name),
            "email" => Ok(DataType::Email),
            "phone" => Ok(DataType::Phone),
            other => Err(Rule::InvalidChoice {
                value: other.to_owned(),
            }),
        }
    }
}

/// One stored chat message (the original's `ChatHistory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Increases with every stored message.
    pub id: MessageId,
    /// The conversation it belongs to.
    pub session_id: SessionId,
    /// The text, trimmed, never blank.
    pub message: String,
    /// Who wrote it.
    pub sender_type: SenderType,
    /// What it carries (`message` unless lead capture stored a contact detail).
    #[serde(default)]
    pub data_type: DataType,
    /// When it was stored (UTC, microsecond precision, set by the store).
    pub sent_at: DateTime<Utc>,
}

/// Checks and normalises a message text: trimmed like Python's `str.strip()`, not blank, no NUL.
///
/// ```
/// use rivo_core::{chat::clean_message, Rule};
/// assert_eq!(clean_message("  hello\n").unwrap(), "hello");
/// assert_eq!(clean_message(" \t ").unwrap_err(), Rule::Blank);
/// ```
pub fn clean_message(text: &str) -> Result<String, Rule> {
    validate::required_text(text, None)
}

/// Position in a session's history, for reading long sessions page by page (keyset on
/// `(sent_at, id)`). Its string form is opaque and URL-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    /// `sent_at` of the last message already read.
    pub sent_at: DateTime<Utc>,
    /// `id` of the last message already read.
    pub id: MessageId,
}

impl HistoryCursor {
    /// The cursor just after `message`.
    pub fn after(message: &ChatMessage) -> Self {
        Self {
            sent_at: message.sent_at,
            id: message.id,
        }
    }
}

impl fmt::Display for HistoryCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.sent_at.timestamp_micros(), self.id)
    }
}

impl FromStr for HistoryCursor {
    type Err = Rule;

    fn from_str(s: &str) -> Result<Self, Rule> {
        let invalid = || Rule::Other("Invalid cursor.".to_owned());
        let (micros, id) = s.split_once('.').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let id: i64 = id.parse().map_err(|_| invalid())?;
        let sent_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        Ok(Self {
            sent_at,
            id: MessageId(id),
        })
    }
}

/// Position in the session list (most recently active first), for keyset paging: the list
/// continues after this session. Its string form is opaque and URL-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    /// `last_sent_at` of the last session already read.
    pub last_sent_at: DateTime<Utc>,
    /// The last session already read.
    pub session_id: SessionId,
}

impl SessionCursor {
    /// The cursor just after `session`.
    pub fn after(session: &SessionSummary) -> Self {
        Self {
            last_sent_at: session.last_sent_at,
            session_id: session.session_id,
        }
    }
}

impl fmt::Display for SessionCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            self.last_sent_at.timestamp_micros(),
            self.session_id.0.simple()
        )
    }
}

impl FromStr for SessionCursor {
    type Err = Rule;

    fn from_str(s: &str) -> Result<Self, Rule> {
        let invalid = || Rule::Other("Invalid cursor.".to_owned());
        let (micros, id) = s.split_once('.').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let session = uuid::Uuid::try_parse(id).map_err(|_| invalid())?;
        let last_sent_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        Ok(Self {
            last_sent_at,
            session_id: SessionId(session),
        })
    }
}

/// One page of a keyset-paged list and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysetPage<T, C> {
    /// This page's rows, with the total and whether it is an estimate.
    pub page: Page<T>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<C>,
}

/// One page of a session's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The messages of this page, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Where the next page starts, if there are more messages.
    pub next: Option<HistoryCursor>,
}

/// Filters for [`Store::list_messages`]. Unset fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only this session.
    pub session_id: Option<SessionId>,
    /// Only this sender.
    pub sender_type: Option<SenderType>,
    /// Sent at or after this instant.
    pub sent_from: Option<DateTime<Utc>>,
    /// Sent strictly before this instant.
    pub sent_before: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the message text.
    pub search: Option<String>,
}

impl MessageFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("session_id", self.session_id)
            .eq("sender_type", self.sender_type.map(|s| s.as_str()))
            .at_least("sent_at", self.sent_from)
            .before("sent_at", self.sent_before)
            .indexed_search("chat_messages_fts", &["message"], self.search.as_deref());
        c
    }
}

sort_fields!(
    /// Fields chat messages can be sorted by.
    MessageSort {
        /// The message id.
        Id => ("id", "id"),
        /// When it was sent.
        SentAt => ("sent_at", "sent_at"),
        /// The session.
        SessionId => ("session_id", "session_id"),
        /// The sender type.
        SenderType => ("sender_type", "sender_type"),
    }
);

/// A chat session as a row: its size, time span, last message and linked client, kept right
/// in the transaction of every append and delete of its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// The session.
    pub session_id: SessionId,
    /// How many messages it holds.
    pub message_count: u64,
    /// When its first message was sent.
    pub first_sent_at: DateTime<Utc>,
    /// When its last message was sent.
    pub last_sent_at: DateTime<Utc>,
    /// The first [`PREVIEW_CHARS`] characters of its last message.
    pub last_message_preview: String,
    /// Who sent its last message.
    pub last_sender_type: SenderType,
    /// The client whose context links this session (the oldest such context), if any.
    /// (Also read as `client`, the admin API's name.)
    #[serde(alias = "client")]
    pub client_id: Option<crate::ClientId>,
}

/// How many characters of a session's last message its row keeps.
pub const PREVIEW_CHARS: usize = 100;

/// Filters for [`Store::list_sessions`].
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions with a message containing this text (case-insensitive).
    pub search: Option<String>,
}

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

    /// Deletes the given messages in one transaction and returns how many existed.
    pub async fn delete_messages(&self, ids: &[MessageId]) -> Result<u64> {
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
        let next = page
            .has_next
            .then(|| page.items.last().map(SessionCursor::after))
            .flatten();
        Ok(KeysetPage { page, next })
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
        let next = page
            .has_next
            .then(|| page.items.last().map(HistoryCursor::after))
            .flatten();
        Ok(KeysetPage { page, next })
    }

    /// Deletes every message of a session and returns how many there were.
    pub async fn delete_session(&self, session_id: SessionId) -> Result<u64> {
        dispatch!(self.delete_session(session_id, self.audit(json!({}))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = HistoryCursor {
            sent_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: MessageId(42),
        };
        assert_eq!(cursor.to_string().parse::<HistoryCursor>().unwrap(), cursor);
        assert!("x.1".parse::<HistoryCursor>().is_err());
    }

    #[test]
    fn data_type_round_trips_and_is_case_sensitive() {
        for t in DataType::ALL {
            assert_eq!(t.as_str().parse::<DataType>().unwrap(), t);
        }
        assert_eq!(DataType::default(), DataType::Message);
        assert!(DataType::Phone.is_contact() && !DataType::Message.is_contact());
        assert_eq!(
            "Email".parse::<DataType>().unwrap_err().to_string(),
            "\"Email\" is not a valid choice."
        );
    }

    #[test]
    fn sender_type_is_case_sensitive() {
        assert_eq!("bot".parse::<SenderType>().unwrap(), SenderType::Bot);
        assert_eq!(
            "Bot".parse::<SenderType>().unwrap_err().to_string(),
            "\"Bot\" is not a valid choice."
        );
    }
}
