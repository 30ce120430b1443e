//! The bodies of the chat API: messages and histories as the original serialised them.

use chrono::DateTime;
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use rivo_core::SenderType;
use rivo_core::chat::DataType;
use serde::Serialize;
use uuid::Uuid;

use crate::admin::examples::examples;
use crate::config::ChatCompat;
use crate::render::DrfDateTime;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "SenderType", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SenderTypeName {
    /// The website visitor.
    Client,
    /// The chatbot.
    Bot,
}

impl From<SenderType> for SenderTypeName {
    fn from(sender: SenderType) -> Self {
        match sender {
            SenderType::Client => SenderTypeName::Client,
            SenderType::Bot => SenderTypeName::Bot,
        }
    }
}

/// What a message carries (the `lead-capture` contract's `data_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "DataType", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DataTypeName {
    /// A plain message (the default).
    Message,
    /// The visitor's name.
    Name,
    /// The visitor's email address.
    Email,
    /// The visitor's phone number.
    Phone,
}

impl From<DataType> for DataTypeName {
    fn from(data_type: DataType) -> Self {
        match data_type {
            DataType::Message => DataTypeName::Message,
            DataType::Name => DataTypeName::Name,
            DataType::Email => DataTypeName::Email,
            DataType::Phone => DataTypeName::Phone,
        }
    }
}

/// One stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "ChatMessage", example)]
pub struct ChatMessageBody {
    /// Increases with every stored message.
    pub id: i64,
    /// The conversation, lowercase hyphenated.
    pub session_id: Uuid,
    /// The text, trimmed.
    pub message: String,
    /// Who wrote it.
    pub sender_type: SenderTypeName,
    /// What it carries. Present exactly when the server speaks the `lead-capture` contract
    /// (`RIVO_CHAT_COMPAT=lead-capture`, the later original's), absent in the default
    /// `original` contract (898bd7e), whose messages have no such key.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataTypeName>,
    /// When it was stored: UTC, microseconds (omitted when zero), `Z` suffix.
    pub sent_at: DrfDateTime,
}

impl From<rivo_core::ChatMessage> for ChatMessageBody {
    /// The `original` contract's shape (no `data_type`).
    fn from(m: rivo_core::ChatMessage) -> Self {
        Self::render(m, ChatCompat::Original)
    }
}

impl ChatMessageBody {
    /// The message as `compat` shows it: with `data_type` (between `sender_type` and
    /// `sent_at`) in the `lead-capture` contract only.
    pub fn render(m: rivo_core::ChatMessage, compat: ChatCompat) -> Self {
        Self {
            id: m.id.0,
            session_id: m.session_id.0,
            message: m.message,
            sender_type: m.sender_type.into(),
            data_type: (compat == ChatCompat::LeadCapture).then(|| m.data_type.into()),
            sent_at: DrfDateTime(m.sent_at),
        }
    }
}

fn example_session() -> Uuid {
    Uuid::from_u128(0x1b4e28ba_2fa1_11d2_883f_0016d3cca427)
}

examples! {
    ChatMessageBody => Self {
        id: 42,
        session_id: example_session(),
        message: "Hi! Can I get a quote?".to_owned(),
        sender_type: SenderTypeName::Client,
        data_type: None,
        sent_at: DrfDateTime(
            DateTime::from_timestamp_micros(1_764_032_233_952_520).unwrap_or_default(),
        ),
    };
}

/// A session's conversation, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "ChatHistory", example)]
pub struct ChatHistoryBody {
    /// The `session_id` query parameter exactly as sent.
    pub session_id: String,
    /// Every message of the session, oldest first; empty for an unknown session. With
    /// `limit` or `after`, one page of them.
    pub messages: Vec<ChatMessageBody>,
    /// Only when the request asked for a page (`limit` or `after`): the `after` value of the
    /// next page, `null` on the last page. Absent from the original, unpaginated form.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub next: MaybeUndefined<String>,
}

examples! {
    ChatHistoryBody => Self {
        session_id: example_session().to_string(),
        messages: vec![ChatMessageBody::example()],
        next: MaybeUndefined::Undefined,
    };
}

/// The body of `POST /api/v1/chat/stream/`, as JSON, `application/x-www-form-urlencoded` or
/// `multipart/form-data`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SendMessageRequest", example)]
pub struct SendMessageRequest {
    /// The conversation: a UUID in any spelling Python's `uuid.UUID` accepts (any case, with or
    /// without hyphens, `{braces}`, `urn:uuid:` prefix).
    pub session_id: Uuid,
    /// The text; trimmed before it is stored, must not be blank or contain NUL characters.
    pub message: String,
    /// Who wrote it; `client` when absent (or an empty form field).
    #[oai(default = "default_sender")]
    pub sender_type: SenderTypeName,
    /// `lead-capture` contract only (ignored, like any unknown key, by the default `original`
    /// contract): what the message carries, `message` when absent (or an empty form field).
    /// `name`, `email` and `phone` are checked (`{"message": ["Name must be at least 2
    /// characters"]}` …) and, from a `client`, set that field of the session's client, creating
    /// the client (a lead) when the session has none.
    pub data_type: Option<DataTypeName>,
}

fn default_sender() -> SenderTypeName {
    SenderTypeName::Client
}

examples! {
    SendMessageRequest => Self {
        session_id: example_session(),
        message: "  Hi! Can I get a quote?  ".to_owned(),
        sender_type: SenderTypeName::Client,
        data_type: None,
    };
}
