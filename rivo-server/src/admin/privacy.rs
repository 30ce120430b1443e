//! Erasure and export of one person's data, and finding unlinked conversations that mention an
//! email or phone number: thin mappings of [`rivo_core::privacy`].

use poem_openapi::payload::PlainText;
use poem_openapi::{Object, OpenApi, ResponseContent, param::Path, param::Query};
use rivo_core::accounts::{Action, Model};
use rivo_core::privacy::{
    ClientErasure, ClientExport, PersonalDataQuery, SessionErasure, SessionExport, TranscriptFormat,
};
use rivo_core::{ClientId, Permission};
use serde::Serialize;
use uuid::Uuid;

use super::bodies::{AssignmentBody, ChatSessionBody, ClientBody, ContextBody, StageChangeBody};
use rivo_core::access::Access;

use super::chat::session_param;
use super::ctx::AdminCtx;
use super::{AdminTag, DeleteErrors, Found, ReadErrors, found};
use crate::chat::ChatMessageBody;
use crate::error::{ApiError, OpError};

/// One chat session and its whole conversation. Parses into `rivo_core::privacy::SessionExport`.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "SessionExport")]
pub struct SessionExportBody {
    /// Version of the export format (1).
    pub format: u32,
    /// The session row.
    pub session: ChatSessionBody,
    /// Every message, oldest first.
    pub messages: Vec<ChatMessageBody>,
}

impl From<SessionExport> for SessionExportBody {
    fn from(e: SessionExport) -> Self {
        Self {
            format: e.format,
            session: e.session.into(),
            messages: e.messages.into_iter().map(Into::into).collect(),
        }
    }
}

/// Everything stored about one client. Parses into `rivo_core::privacy::ClientExport`.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "ClientExport")]
pub struct ClientExportBody {
    /// Version of the export format (1).
    pub format: u32,
    /// The client.
    pub client: ClientBody,
    /// Its context.
    pub context: ContextBody,
    /// Its stage history, oldest first.
    pub stage_history: Vec<StageChangeBody>,
    /// Its assignments, oldest first.
    pub assignments: Vec<AssignmentBody>,
    /// Its linked conversations, by session id.
    pub sessions: Vec<SessionExportBody>,
}

impl From<ClientExport> for ClientExportBody {
    fn from(e: ClientExport) -> Self {
        Self {
            format: e.format,
            client: e.client.into(),
            context: e.context.into(),
            stage_history: e.stage_history.into_iter().map(Into::into).collect(),
            assignments: e.assignments.into_iter().map(Into::into).collect(),
            sessions: e.sessions.into_iter().map(Into::into).collect(),
        }
    }
}

/// What erasing a client deleted. The audit log keeps one entry saying so (ids and counts).
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "ClientErasure", example)]
pub struct ClientErasureBody {
    /// The erased client.
    pub client: i64,
    /// Linked chat sessions deleted.
    pub sessions: u64,
    /// Their messages.
    pub messages: u64,
    /// Stage history entries deleted.
    pub stage_changes: u64,
    /// Assignments deleted.
    pub assignments: u64,
    /// Earlier audit entries whose description and changes became `[erased]`.
    pub audit_entries_scrubbed: u64,
}

impl poem_openapi::types::Example for ClientErasureBody {
    fn example() -> Self {
        Self {
            client: 42,
            sessions: 1,
            messages: 18,
            stage_changes: 3,
            assignments: 1,
            audit_entries_scrubbed: 6,
        }
    }
}

impl From<ClientErasure> for ClientErasureBody {
    fn from(e: ClientErasure) -> Self {
        Self {
            client: e.client_id.0,
            sessions: e.sessions,
            messages: e.messages,
            stage_changes: e.stage_changes,
            assignments: e.assignments,
            audit_entries_scrubbed: e.audit_entries_scrubbed,
        }
    }
}

/// What erasing a chat session deleted.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "SessionErasure", example)]
pub struct SessionErasureBody {
    /// The erased session.
    pub session_id: Uuid,
    /// Messages deleted.
    pub messages: u64,
    /// Client contexts whose link to the session was cleared.
    pub links_cleared: u64,
    /// Earlier audit entries whose description and changes became `[erased]`.
    pub audit_entries_scrubbed: u64,
}

impl poem_openapi::types::Example for SessionErasureBody {
    fn example() -> Self {
        Self {
            session_id: Uuid::from_u128(0x6f1c_2b9e_8a4d_4e6b_9c1f_0a2b_3c4d_5e6f),
            messages: 12,
            links_cleared: 1,
            audit_entries_scrubbed: 0,
        }
    }
}

impl From<SessionErasure> for SessionErasureBody {
    fn from(e: SessionErasure) -> Self {
        Self {
            session_id: e.session_id.0,
            messages: e.messages,
            links_cleared: e.links_cleared,
            audit_entries_scrubbed: e.audit_entries_scrubbed,
        }
    }
}

/// Messages of sessions linked to no client that mention the email or phone asked for.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "UnlinkedMessages")]
pub struct UnlinkedMessagesBody {
    /// Newest first, at most `limit`.
    pub results: Vec<ChatMessageBody>,
}

/// A transcript body.
#[derive(ResponseContent)]
pub enum TranscriptContent {
    /// `[time] sender: text`, one message per line; further lines of a message are indented.
    #[oai(content_type = "text/plain; charset=utf-8")]
    Text(PlainText<String>),
    /// RFC 4180 CSV with the header `session_id,message_id,sent_at,sender_type,message`.
    #[oai(content_type = "text/csv; charset=utf-8")]
    Csv(PlainText<String>),
}

/// A transcript to download.
#[derive(poem_openapi::ApiResponse)]
pub enum TranscriptFile {
    /// The transcript; `Content-Disposition: attachment` names the file.
    #[oai(status = 200)]
    Ok(
        TranscriptContent,
        #[oai(header = "Content-Disposition")] String,
    ),
}

fn transcript_file(text: String, format: TranscriptFormat, name: &str) -> TranscriptFile {
    match format {
        TranscriptFormat::Text => TranscriptFile::Ok(
            TranscriptContent::Text(PlainText(text)),
            format!("attachment; filename=\"{name}.txt\""),
        ),
        TranscriptFormat::Csv => TranscriptFile::Ok(
            TranscriptContent::Csv(PlainText(text)),
            format!("attachment; filename=\"{name}.csv\""),
        ),
    }
}

fn format_param(value: Option<&str>) -> Result<TranscriptFormat, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(TranscriptFormat::Text),
        Some(v) => v.parse().map_err(|_| {
            ApiError::field(
                "format",
                format!("\"{v}\" is not a valid choice: text or csv."),
            )
        }),
    }
}

const CLIENT_VIEW: Permission = Permission {
    model: Model::Client,
    action: Action::View,
};
const CHAT_VIEW: Permission = Permission {
    model: Model::ChatHistory,
    action: Action::View,
};

/// Erasure and export of one person's data.
#[derive(Default)]
pub struct AdminPrivacyApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::AdminPrivacy")]
impl AdminPrivacyApi {
    /// Export a client's data
    ///
    /// The client, its context, stage history, assignments and linked conversations, as JSON
    /// (the shapes of the other admin endpoints). Needs `client.view_client` and
    /// `chat.view_chathistory`.
    #[oai(
        path = "/clients/:id/export/",
        method = "get",
        operation_id = "admin_clients_export"
    )]
    async fn client_export(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<Found<ClientExportBody>, OpError<ReadErrors>> {
        let admin = ctx
            .require_both(Access::Admin(CLIENT_VIEW), CHAT_VIEW)
            .await?;
        let export = admin.store.export_client(ClientId(id.0)).await?;
        Ok(found(export.into()))
    }

    /// Download a client's transcript
    ///
    /// Every linked conversation as plain text (`format=text`, the default) or CSV
    /// (`format=csv`). Needs `client.view_client` and `chat.view_chathistory`.
    #[oai(
        path = "/clients/:id/transcript/",
        method = "get",
        operation_id = "admin_clients_transcript"
    )]
    async fn client_transcript(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
        /// `text` (default) or `csv`.
        format: Query<Option<String>>,
    ) -> Result<TranscriptFile, OpError<ReadErrors>> {
        let admin = ctx
            .require_both(Access::Admin(CLIENT_VIEW), CHAT_VIEW)
            .await?;
        let format = format_param(format.0.as_deref())?;
        let export = admin.store.export_client(ClientId(id.0)).await?;
        Ok(transcript_file(
            export.transcript(format),
            format,
            &format!("client-{}", id.0),
        ))
    }

    /// Erase a client
    ///
    /// Deletes the client, its context, stage history, assignments and linked conversations
    /// in one transaction, and replaces the descriptions and changes of earlier audit entries
    /// about them by `[erased]`. One audit entry records the erasure (ids and counts). Not
    /// reversible. Needs `client.erase_client`.
    #[oai(
        path = "/clients/:id/erase/",
        method = "post",
        operation_id = "admin_clients_erase"
    )]
    async fn client_erase(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<Found<ClientErasureBody>, OpError<DeleteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Erase, Model::Client))
            .await?;
        let erasure = admin.store.erase_client(ClientId(id.0)).await?;
        Ok(found(erasure.into()))
    }

    /// Export a chat session
    ///
    /// The session row and every message, as JSON. Needs `chat.view_chathistory`.
    #[oai(
        path = "/chat/sessions/:session_id/export/",
        method = "get",
        operation_id = "admin_chat_sessions_export"
    )]
    async fn session_export(
        &self,
        ctx: AdminCtx<'_>,
        /// The session (any UUID spelling).
        session_id: Path<String>,
    ) -> Result<Found<SessionExportBody>, OpError<ReadErrors>> {
        let admin = ctx.require(Access::Admin(CHAT_VIEW)).await?;
        let session = session_param(&session_id.0)?;
        Ok(found(admin.store.export_session(session).await?.into()))
    }

    /// Download a chat session's transcript
    ///
    /// Plain text (`format=text`, the default) or CSV (`format=csv`). Needs
    /// `chat.view_chathistory`.
    #[oai(
        path = "/chat/sessions/:session_id/transcript/",
        method = "get",
        operation_id = "admin_chat_sessions_transcript"
    )]
    async fn session_transcript(
        &self,
        ctx: AdminCtx<'_>,
        /// The session (any UUID spelling).
        session_id: Path<String>,
        /// `text` (default) or `csv`.
        format: Query<Option<String>>,
    ) -> Result<TranscriptFile, OpError<ReadErrors>> {
        let admin = ctx.require(Access::Admin(CHAT_VIEW)).await?;
        let session = session_param(&session_id.0)?;
        let format = format_param(format.0.as_deref())?;
        let export = admin.store.export_session(session).await?;
        Ok(transcript_file(
            export.transcript(format),
            format,
            &format!("session-{session}"),
        ))
    }

    /// Erase a chat session
    ///
    /// Deletes its messages and row, clears the link of any client context to it, and scrubs
    /// earlier audit entries about it, in one transaction; one audit entry records the
    /// erasure. Not reversible. Needs `chat.erase_chathistory`.
    #[oai(
        path = "/chat/sessions/:session_id/erase/",
        method = "post",
        operation_id = "admin_chat_sessions_erase"
    )]
    async fn session_erase(
        &self,
        ctx: AdminCtx<'_>,
        /// The session (any UUID spelling).
        session_id: Path<String>,
    ) -> Result<Found<SessionErasureBody>, OpError<DeleteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Erase, Model::ChatHistory))
            .await?;
        let session = session_param(&session_id.0)?;
        Ok(found(admin.store.erase_session(session).await?.into()))
    }

    /// Find unlinked messages by email or phone
    ///
    /// Messages of sessions linked to no client that contain `email` (case-insensitive) or
    /// `phone` (by its digits; spaces, dashes, dots, parentheses and `+` are ignored), newest
    /// first, so that their sessions can be exported or erased. Give exactly one of the two.
    /// Needs `chat.view_chathistory`.
    #[oai(
        path = "/chat/personal-data/",
        method = "get",
        operation_id = "admin_chat_personal_data"
    )]
    async fn personal_data(
        &self,
        ctx: AdminCtx<'_>,
        /// An email address.
        email: Query<Option<String>>,
        /// A phone number (at least 6 digits).
        phone: Query<Option<String>>,
        /// Most messages returned (1 to 1000, default 100).
        limit: Query<Option<u32>>,
    ) -> Result<Found<UnlinkedMessagesBody>, OpError<ReadErrors>> {
        let admin = ctx.require(Access::Admin(CHAT_VIEW)).await?;
        let query = match (email.0, phone.0) {
            (Some(email), None) => PersonalDataQuery::Email(email),
            (None, Some(phone)) => PersonalDataQuery::Phone(phone),
            _ => {
                return Err(ApiError::field(
                    "non_field_errors",
                    "Give exactly one of email and phone.",
                )
                .into());
            }
        };
        let found_messages = admin
            .store
            .find_unlinked_messages(&query, limit.0.unwrap_or(100))
            .await?;
        Ok(found(UnlinkedMessagesBody {
            results: found_messages.into_iter().map(Into::into).collect(),
        }))
    }
}
