//! `/api/v1/admin/chat/messages/` and `/api/v1/admin/chat/sessions/`.

use poem_openapi::{Object, OpenApi};
use rivo_core::accounts::{Action, Model};
use rivo_core::admin::{CHAT_MESSAGES, CHAT_SESSIONS};
use rivo_core::chat::{HistoryCursor, MessageFilter, MessageSort, SessionCursor, SessionFilter};
use rivo_core::{MessageId, SessionId, Sort};
use serde::Serialize;

use super::bodies::TranscriptBody;
use super::pages::{ChatMessagePage, ChatSessionPage};
use rivo_core::access::Access;

use super::ctx::AdminCtx;
use super::input::JsonBody;
use super::resource::admin_resource;
use super::{AdminTag, Found, WriteErrors, found, time_before, time_from};
use crate::chat::{ChatMessageBody, SenderTypeName};
use crate::error::{ApiError, OpError};

/// An empty `cursor` is the first page; anything else must be a cursor of that list.
fn parse_cursor<C: std::str::FromStr<Err = rivo_core::Rule>>(
    value: &str,
) -> Result<Option<C>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    ApiError::parse_field("cursor", value).map(Some)
}

/// The `session_id` of a path.
pub(super) fn session_param(value: &str) -> Result<SessionId, ApiError> {
    ApiError::parse_field("session_id", value)
}

/// Message ids to delete at once.
#[derive(Debug, Object)]
#[oai(example)]
pub struct BulkDeleteRequest {
    /// Ids of the messages (at most 1000).
    pub ids: Vec<i64>,
}

/// How many objects a bulk delete removed.
#[derive(Debug, Object, Serialize)]
pub struct DeletedCount {
    /// Objects deleted.
    pub deleted: u64,
}

/// Chat actions beyond list, read and delete.
#[derive(Default)]
pub struct AdminChatApi;

#[OpenApi(prefix_path = "/api/v1/admin/chat", tag = "AdminTag::AdminChat")]
impl AdminChatApi {
    /// Delete chat messages in bulk
    ///
    /// Deletes the listed messages in one transaction; ids that do not exist are skipped.
    #[oai(
        path = "/messages/bulk-delete/",
        method = "post",
        operation_id = "admin_chat_messages_bulk_delete"
    )]
    async fn messages_bulk_delete(
        &self,
        ctx: AdminCtx<'_>,
        body: JsonBody<BulkDeleteRequest>,
    ) -> Result<Found<DeletedCount>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Delete, Model::ChatHistory))
            .await?;
        let ids = parse_ids(body)?;
        let deleted = admin.store.delete_messages(&ids).await?;
        Ok(found(DeletedCount { deleted }))
    }
}

admin_resource! {
    /// Chat messages.
    AdminChatMessagesApi for CHAT_MESSAGES, tag = "AdminTag::AdminChat";

    list:
    /// List chat messages
    ///
    /// Newest first by default. `search` matches the text.
    ("/chat/messages/", "admin_chat_messages_list") -> ChatMessagePage {
        /// Case-insensitive text to find in messages.
        search: String,
        /// `id`, `sent_at`, `session_id` or `sender_type`; `-` for descending.
        ordering: String,
        /// Only this session (any UUID spelling).
        session_id: String,
        /// Only this sender.
        sender_type: SenderTypeName,
        /// Sent on or after this date (`YYYY-MM-DD`) or instant (RFC 3339).
        sent_at_after: String,
        /// Sent on or before this date, or before this instant.
        sent_at_before: String,
        /// Keyset paging, newest first: empty for the first page, then the `next` link's
        /// value. Deep pages cost what the first does; `page` and `ordering` are ignored.
        cursor: String,
    } |list| {
        let filter = MessageFilter {
            session_id: session_id.as_deref().map(session_param).transpose()?,
            sender_type: sender_type.map(|s| match s {
                SenderTypeName::Client => rivo_core::SenderType::Client,
                SenderTypeName::Bot => rivo_core::SenderType::Bot,
            }),
            sent_from: time_from("sent_at_after", sent_at_after.as_deref())?,
            sent_before: time_before("sent_at_before", sent_at_before.as_deref())?,
            search,
        };
        if let Some(cursor) = cursor {
            let after = parse_cursor::<HistoryCursor>(&cursor)?;
            let size = list.paging.size;
            return list.found_keyset(list.store().list_messages_after(&filter, after, size).await?);
        }
        let sort = list.sort(ordering, Sort::desc(MessageSort::SentAt));
        list.found(list.store().list_messages(&filter, sort, list.request()).await?)
    }

    read:
    /// Read a chat message
    ("/chat/messages/:id/", "admin_chat_messages_read", /// Message id.
        id: i64) -> ChatMessageBody
    |admin| { admin.store.message(MessageId(id)).await?.into() }

    delete:
    /// Delete a chat message
    ("admin_chat_messages_delete") |admin| {
        admin.store.delete_message(MessageId(id)).await?;
    }
}

admin_resource! {
    /// Chat sessions.
    AdminChatSessionsApi for CHAT_SESSIONS, tag = "AdminTag::AdminChat";

    list:
    /// List chat sessions
    ///
    /// Most recently active first, with message counts. `search` finds sessions with a message
    /// containing the text.
    ("/chat/sessions/", "admin_chat_sessions_list") -> ChatSessionPage {
        /// Case-insensitive text to find in the sessions' messages.
        search: String,
        /// Keyset paging: empty for the first page, then the `next` link's value. Deep pages
        /// cost what the first does; `page` is ignored.
        cursor: String,
    } |list| {
        let filter = SessionFilter { search };
        if let Some(cursor) = cursor {
            let after = parse_cursor::<SessionCursor>(&cursor)?;
            let size = list.paging.size;
            return list.found_keyset(list.store().list_sessions_after(&filter, after, size).await?);
        }
        list.found(list.store().list_sessions(&filter, list.request()).await?)
    }

    read:
    /// Read a chat session's transcript
    ///
    /// Every message of the session, oldest first (404 for a session without messages).
    ("/chat/sessions/:session_id/", "admin_chat_sessions_read", /// The session (any UUID spelling).
        session_id: String) -> TranscriptBody
    |admin| {
        let session = session_param(&session_id)?;
        let messages = admin.store.history(session).await?;
        if messages.is_empty() {
            return Err(ApiError::NotFound.into());
        }
        TranscriptBody {
            session_id: session.0,
            messages: messages.into_iter().map(Into::into).collect(),
        }
    }

    delete:
    /// Delete a chat session
    ///
    /// Deletes every message of the session in one transaction.
    ("admin_chat_sessions_delete") |admin| {
        let session = session_param(&session_id)?;
        if admin.store.delete_session(session).await? == 0 {
            return Err(ApiError::NotFound.into());
        }
    }
}

/// The `ids` of a bulk request: a list of at most [`MAX_BULK_IDS`](rivo_core::chat::MAX_BULK_IDS)
/// integers.
pub fn parse_ids<T>(mut body: JsonBody<T>) -> Result<Vec<MessageId>, ApiError> {
    let value = body.raw("ids");
    body.finish()?;
    let Some(serde_json::Value::Array(items)) = value else {
        return Err(ApiError::field(
            "ids",
            if value.is_none() {
                rivo_core::Rule::Required.to_string()
            } else {
                "Expected a list of items.".to_owned()
            },
        ));
    };
    let max = rivo_core::chat::MAX_BULK_IDS;
    if items.len() > max {
        return Err(ApiError::field(
            "ids",
            rivo_core::Rule::TooManyItems { max }.to_string(),
        ));
    }
    items
        .iter()
        .map(|v| {
            v.as_i64()
                .map(MessageId)
                .ok_or_else(|| ApiError::field("ids", "A valid integer is required."))
        })
        .collect()
}
