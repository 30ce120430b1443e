//! The source's rows as read (`Src*Row`) and as checked (rivo's own models, or `Src*` where
//! the source holds more than a model shows): a bad value fails the import, naming its table,
//! id and column, before anything is written.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use super::unusable_source;
use crate::chat::{ChatMessage, DataType, SenderType};
use crate::clients::{Client, ClientContext, Stage, StageChange};
use crate::error::{Error, Result};
use crate::ids::{ClientId, ContextId, MessageId, SessionId, StageChangeId, UserId};

#[derive(sqlx::FromRow)]
pub(crate) struct SrcRole {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SrcUser {
    pub id: i64,
    pub password: String,
    pub last_login: Option<DateTime<Utc>>,
    pub is_superuser: bool,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub phone: String,
    pub role_id: Option<i64>,
    pub created_by_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SrcMessageRow {
    pub(super) id: i64,
    pub(super) session_id: String,
    pub(super) message: String,
    pub(super) sender_type: String,
    pub(super) data_type: String,
    pub(super) sent_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SrcClientRow {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) phone: String,
    pub(super) current_stage: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

/// A client row of the later schema with its context column (`NULL` when the column is absent).
#[derive(sqlx::FromRow)]
pub(super) struct SrcClientContextRow {
    pub(super) id: i64,
    pub(super) context: Option<sqlx::types::Json<Json>>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SrcContextRow {
    pub(super) id: i64,
    pub(super) client_id: i64,
    pub(super) chat_session_id: Option<String>,
    pub(super) context_data: Option<sqlx::types::Json<Json>>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SrcStageChangeRow {
    pub(super) id: i64,
    pub(super) client_id: i64,
    pub(super) from_stage: Option<String>,
    pub(super) to_stage: String,
    pub(super) changed_by_id: Option<i64>,
    pub(super) remarks: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SrcAssignment {
    pub id: i64,
    pub client_id: i64,
    /// `None`: "awaiting assignment" (the later original's unassigned lead, 66bef8b on).
    pub assigned_to_id: Option<i64>,
    pub assigned_by_id: Option<i64>,
    pub is_active: bool,
    pub remarks: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A bad value in the Django database, naming the table, the row and the value.
pub(super) fn bad_row(table: &str, id: i64, what: impl std::fmt::Display) -> Error {
    unusable_source(format!(
        "{table} id {id}: {what}; fix it in the Django database and import again"
    ))
}

pub(super) fn parse_stage(table: &str, id: i64, column: &str, value: &str) -> Result<Stage> {
    Stage::from_str(value).map_err(|_| {
        bad_row(
            table,
            id,
            format_args!("{column} {value:?} is not a rivo stage"),
        )
    })
}

pub(super) fn parse_session(table: &str, id: i64, column: &str, value: &str) -> Result<SessionId> {
    SessionId::from_str(value)
        .map_err(|_| bad_row(table, id, format_args!("{column} {value:?} is not a UUID")))
}

impl TryFrom<SrcMessageRow> for ChatMessage {
    type Error = Error;
    fn try_from(r: SrcMessageRow) -> Result<Self> {
        const T: &str = "chat_chathistory";
        let sender_type = SenderType::from_str(&r.sender_type).map_err(|_| {
            bad_row(
                T,
                r.id,
                format_args!("sender_type {:?} is not client or bot", r.sender_type),
            )
        })?;
        if r.message.is_empty() {
            return Err(bad_row(T, r.id, "the message is empty"));
        }
        let data_type = DataType::from_str(&r.data_type).map_err(|_| {
            bad_row(
                T,
                r.id,
                format_args!(
                    "data_type {:?} is not message, name, email or phone",
                    r.data_type
                ),
            )
        })?;
        Ok(ChatMessage {
            id: MessageId(r.id),
            session_id: parse_session(T, r.id, "session_id", &r.session_id)?,
            message: r.message,
            sender_type,
            data_type,
            sent_at: r.sent_at,
        })
    }
}

impl TryFrom<SrcClientRow> for Client {
    type Error = Error;
    fn try_from(r: SrcClientRow) -> Result<Self> {
        Ok(Client {
            current_stage: parse_stage("client_client", r.id, "current_stage", &r.current_stage)?,
            id: ClientId(r.id),
            name: r.name,
            email: r.email,
            phone: r.phone,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A context row (a `chat_session_id` of `''` or blanks is none).
impl TryFrom<SrcContextRow> for ClientContext {
    type Error = Error;
    fn try_from(r: SrcContextRow) -> Result<Self> {
        const T: &str = "client_context";
        let data = context_object(r.context_data.map(|j| j.0));
        let chat_session_id = match r.chat_session_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(parse_session(T, r.id, "chat_session_id", s)?),
        };
        Ok(ClientContext {
            id: ContextId(r.id),
            client_id: ClientId(r.client_id),
            chat_session_id,
            data,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A stage change row (`from_stage` `''` is none).
impl TryFrom<SrcStageChangeRow> for StageChange {
    type Error = Error;
    fn try_from(r: SrcStageChangeRow) -> Result<Self> {
        const T: &str = "client_clientstagehistory";
        let from_stage = match r.from_stage.as_deref() {
            None | Some("") => None,
            Some(s) => Some(parse_stage(T, r.id, "from_stage", s)?),
        };
        Ok(StageChange {
            from_stage,
            to_stage: parse_stage(T, r.id, "to_stage", &r.to_stage)?,
            id: StageChangeId(r.id),
            client_id: ClientId(r.client_id),
            changed_by: r.changed_by_id.map(UserId),
            remarks: r.remarks,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The key a context that is not a JSON object is kept under: rivo's context is an object,
/// the original stored whatever JSON it was given (the later original even stored a model's
/// non-object answer as is).
pub const NON_OBJECT_CONTEXT_KEY: &str = "value";

/// A source context as rivo's object: `null` is empty, an object is itself, anything else is
/// kept under [`NON_OBJECT_CONTEXT_KEY`] (`[1, 2]` → `{"value": [1, 2]}`), never dropped.
pub(super) fn context_object(value: Option<Json>) -> Map<String, Json> {
    match value {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(map)) => map,
        Some(other) => {
            let mut map = Map::new();
            map.insert(NON_OBJECT_CONTEXT_KEY.to_owned(), other);
            map
        }
    }
}

/// Source rows keyed by their `id` column, read a chunk at a time.
macro_rules! keyed_by_id {
    ($($row:ty),+ $(,)?) => {
        $(impl super::SourceRow for $row {
            fn id(&self) -> i64 {
                self.id
            }
        })+
    };
}

keyed_by_id!(
    SrcRole,
    SrcUser,
    SrcMessageRow,
    SrcClientRow,
    SrcClientContextRow,
    SrcContextRow,
    SrcStageChangeRow,
    SrcAssignment,
);
