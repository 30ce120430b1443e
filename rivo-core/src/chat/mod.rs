//! Chat history: messages of a website chatbot, grouped by session.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, Rule};
use crate::ids::{MessageId, SessionId};
use crate::names::names;
use crate::query::{Conds, sort_fields};
#[cfg(doc)]
use crate::store::Store;
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
}

names! {
    /// The stored and wire spelling: `client` or `bot` (parsed case-sensitively, like the
    /// original).
    SenderType { Client => "client", Bot => "bot" }
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

    /// Whether the message carries a contact detail (name, email or phone).
    pub fn is_contact(self) -> bool {
        self != DataType::Message
    }
}

names! {
    /// The stored and wire spelling: `message`, `name`, `email` or `phone` (parsed
    /// case-sensitively, like the later original).
    DataType { Message => "message", Name => "name", Email => "email", Phone => "phone" }
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

/// The most message ids one [`Store::delete_messages`](crate::Store::delete_messages) takes. A
/// bulk delete is one transaction; the bound keeps one call from holding the writer (SQLite) or
/// a large set of row locks (PostgreSQL) for long. Delete more in several calls.
pub const MAX_BULK_IDS: usize = 1000;

/// Filters for [`Store::list_sessions`].
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions with a message containing this text (case-insensitive).
    pub search: Option<String>,
}

mod cursors;
mod store;

pub use cursors::{HistoryCursor, HistoryPage, KeysetPage, SessionCursor};

#[cfg(test)]
mod tests;
