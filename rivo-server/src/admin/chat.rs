//! `/api/v1/admin/chat/messages/` and `/api/v1/admin/chat/sessions/`.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Path, param::Query};
use rivo_core::accounts::{Action, Model};
use rivo_core::chat::{HistoryCursor, MessageFilter, MessageSort, SessionCursor, SessionFilter};
use rivo_core::{MessageId, Permission, SessionId, Sort, Store};
use serde::Serialize;

use super::bodies::{ChatMessagePage, ChatSessionPage, TranscriptBody};
use super::input::JsonBody;
use super::{
    AdminTag, DeleteErrors, Found, ListErrors, NoContent, Paging, ReadErrors, WriteErrors, found,
    keyset_paged, time_before, time_from,
};
use crate::auth::Auth;
use crate::chat::{ChatMessageBody, SenderTypeName};
use crate::config::Config;
use crate::error::{ApiError, OpError};

fn chat_permission(action: Action) -> Permission {
    Permission::new(action, Model::ChatHistory)
}

/// An empty `cursor` is the first page; anything else must be a cursor of that list.
fn parse_cursor<C: std::str::FromStr<Err = rivo_core::Rule>>(
    value: &str,
) -> Result<Option<C>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|rule: rivo_core::Rule| ApiError::field("cursor", rule.to_string()))
}

fn session_param(value: &str) -> Result<SessionId, ApiError> {
    value
        .parse()
        .map_err(|rule: rivo_core::Rule| ApiError::field("session_id", rule.to_string()))
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

/// Chat messages and sessions.
pub struct AdminChatApi;

#[OpenApi(prefix_path = "/api/v1/admin/chat", tag = "AdminTag::AdminChat")]
impl AdminChatApi {
    /// List chat messages
    ///
    /// Newest first by default. `search` matches the text.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/messages/",
        method = "get",
        operation_id = "admin_chat_messages_list"
    )]
    async fn messages_list(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// Case-insensitive text to find in messages.
        search: Query<Option<String>>,
        /// `id`, `sent_at`, `session_id` or `sender_type`; `-` for descending.
        ordering: Query<Option<String>>,
        /// Only this session (any UUID spelling).
        session_id: Query<Option<String>>,
        /// Only this sender.
        sender_type: Query<Option<SenderTypeName>>,
        /// Sent on or after this date (`YYYY-MM-DD`) or instant (RFC 3339).
        sent_at_after: Query<Option<String>>,
        /// Sent on or before this date, or before this instant.
        sent_at_before: Query<Option<String>>,
        /// Keyset paging, newest first: empty for the first page, then the `next` link's
        /// value. Deep pages cost what the first does; `page` and `ordering` are ignored.
        cursor: Query<Option<String>>,
    ) -> Result<Found<ChatMessagePage>, OpError<ListErrors>> {
        let admin = auth
            .admin(req, &config, &store, chat_permission(Action::View))
            .await?;
        let paging = Paging::new(page.0, page_size.0)?;
        let filter = MessageFilter {
            session_id: session_id.0.as_deref().map(session_param).transpose()?,
            sender_type: sender_type.0.map(|s| match s {
                SenderTypeName::Client => rivo_core::SenderType::Client,
                SenderTypeName::Bot => rivo_core::SenderType::Bot,
            }),
            sent_from: time_from("sent_at_after", sent_at_after.0.as_deref())?,
            sent_before: time_before("sent_at_before", sent_at_before.0.as_deref())?,
            search: search.0,
        };
        if let Some(cursor) = cursor.0 {
            let after = parse_cursor::<HistoryCursor>(&cursor)?;
            let messages = admin
                .store
                .list_messages_after(&filter, after, paging.size)
                .await?;
            return Ok(found(ChatMessagePage::from(keyset_paged(req, messages))));
        }
        let sort = super::ordering(ordering.0.as_deref(), Sort::desc(MessageSort::SentAt));
        let messages = admin
            .store
            .list_messages(&filter, sort, paging.request())
            .await?;
        Ok(found(ChatMessagePage::from(paging.paged(req, messages)?)))
    }

    /// Read a chat message
    #[oai(
        path = "/messages/:id/",
        method = "get",
        operation_id = "admin_chat_messages_read"
    )]
    async fn messages_read(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Message id.
        id: Path<i64>,
    ) -> Result<Found<ChatMessageBody>, OpError<ReadErrors>> {
        let admin = auth
            .admin(req, &config, &store, chat_permission(Action::View))
            .await?;
        Ok(found(admin.store.message(MessageId(id.0)).await?.into()))
    }

    /// Delete a chat message
    #[oai(
        path = "/messages/:id/",
        method = "delete",
        operation_id = "admin_chat_messages_delete"
    )]
    async fn messages_delete(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Message id.
        id: Path<i64>,
    ) -> Result<NoContent, OpError<DeleteErrors>> {
        let admin = auth
            .admin(req, &config, &store, chat_permission(Action::Delete))
            .await?;
        admin.store.delete_message(MessageId(id.0)).await?;
        Ok(NoContent::NoContent)
    }

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
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        body: JsonBody<BulkDeleteRequest>,
    ) -> Result<Found<DeletedCount>, OpError<WriteErrors>> {
        let admin = auth
            .admin(req, &config, &store, chat_permission(Action::Delete))
            .await?;
        let ids = parse_ids(body)?;
        let deleted = admin.store.delete_messages(&ids).await?;
        Ok(found(DeletedCount { deleted }))
    }

    /// List chat sessions
    ///
    /// Most recently active first, with message counts. `search` finds sessions with a message
    /// containing the text.
    #[oai(
        path = "/sessions/",
        method = "get",
        operation_id = "admin_chat_sessions_list"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn sessions_list(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// Case-insensitive text to find in the sessions' messages.
        search: Query<Option<String>>,
        /// Keyset paging: empty for the first page, then the `next` link's value. Deep pages
        /// cost what the first does; `page` is ignored.
        cursor: Query<Option<String>>,
    ) -> Result<Found<ChatSessionPage>, OpError<ListErrors>> {
        let admin = auth
            .admin(req, &config, &store, chat_permission(Action::View))
            .await?;
        let paging = Paging::new(page.0, page_size.0)?;
        let filter = SessionFilter { search: search.0 };
        if let Some(cursor) = cursor.0 {
            let after = parse_cursor::<SessionCursor>(&cursor)?;
            let sessions = admin
                .store
                .list_sessions_after(&filter, after, paging.size)
                .await?;
            return Ok(found(ChatSessionPage::from(keyset_paged(req, sessions))));
        }
        let sessions = admin.store.list_sessions(&filter, paging.request()).await?;
        Ok(found(ChatSessionPage::from(paging.paged(req, sessions)?)))
    }

    /// Read a chat session's transcript
    ///
    /// Every message of the session, oldest first (404 for a session without messages).
    #[oai(
        path = "/sessions/:session_id/",
        method = "get",
        operation_id = "admin_chat_sessions_read"
    )]
    async fn sessions_read(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// The session (any UUID spelling).
        session_id: Path<String>,
    ) -> Result<Found<TranscriptBody>, OpError<ReadErrors>> {
        let admin = auth
            .admin(req, &config, &store, chat_permission(Action::View))
            .await?;
        let session = session_param(&session_id.0)?;
        let messages = admin.store.history(session).await?;
        if messages.is_empty() {
            return Err(ApiError::NotFound.into());
        }
        Ok(found(TranscriptBody {
            session_id: session.0,
            messages: messages.into_iter().map(Into::into).collect(),
        }))
    }

    /// Delete a chat session
    ///
    /// Deletes every message of the session in one transaction.
    #[oai(
        path = "/sessions/:session_id/",
        method = "delete",
        operation_id = "admin_chat_sessions_delete"
    )]
    async fn sessions_delete(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// The session (any UUID spelling).
        session_id: Path<String>,
    ) -> Result<NoContent, OpError<DeleteErrors>> {
        let admin = auth
            .admin(req, &config, &store, chat_permission(Action::Delete))
            .await?;
        let session = session_param(&session_id.0)?;
        if admin.store.delete_session(session).await? == 0 {
            return Err(ApiError::NotFound.into());
        }
        Ok(NoContent::NoContent)
    }
}

/// The `ids` of a bulk request: a list of at most 1000 integers.
pub fn parse_ids<T>(body: JsonBody<T>) -> Result<Vec<MessageId>, ApiError> {
    let mut body = body;
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
    if items.len() > 1000 {
        return Err(ApiError::field(
            "ids",
            "Ensure this field has no more than 1000 elements.",
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
