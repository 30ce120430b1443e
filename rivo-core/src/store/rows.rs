//! Rows as the database returns them, and their conversion to the public models.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::accounts::{Role, User};
use crate::audit::{AuditAction, AuditEntry};
use crate::chat::{ChatMessage, DataType, SenderType, SessionSummary};
use crate::clients::{Assignment, Client, ClientContext, Stage, StageChange};
use crate::error::{Error, Result};
use crate::ids::*;
use crate::names::stored as parse;

/// A row struct (`sqlx::FromRow`) and, from the same field list, the constant naming its
/// columns in order (`"id, name, …"`) for the `SELECT`s and `RETURNING`s that read it.
macro_rules! row_struct {
    (
        $(#[$attr:meta])*
        $vis:vis struct $row:ident, columns $cols:ident {
            $($(#[$field_attr:meta])* $field_vis:vis $field:ident: $ty:ty),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(sqlx::FromRow)]
        $vis struct $row {
            $($(#[$field_attr])* $field_vis $field: $ty),+
        }

        #[doc = concat!("The columns of `", stringify!($row), "`, in order.")]
        pub(crate) const $cols: &str = $crate::store::rows::row_struct!(@list $($field),+);
    };
    (@list $first:ident $(, $rest:ident)*) => {
        concat!(stringify!($first) $(, ", ", stringify!($rest))*)
    };
}

pub(crate) use row_struct;

row_struct! {
    pub(crate) struct MessageRow, columns MESSAGE_COLS {
        id: i64,
        session_id: Uuid,
        message: String,
        sender_type: String,
        data_type: String,
        sent_at: DateTime<Utc>,
    }
}

impl MessageRow {
    /// A row from its columns (for queries that select them under other names).
    pub(crate) fn new(
        id: i64,
        session_id: Uuid,
        message: String,
        sender_type: String,
        data_type: String,
        sent_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            session_id,
            message,
            sender_type,
            data_type,
            sent_at,
        }
    }
}

impl TryFrom<MessageRow> for ChatMessage {
    type Error = Error;
    fn try_from(r: MessageRow) -> Result<Self> {
        Ok(ChatMessage {
            id: MessageId(r.id),
            session_id: SessionId(r.session_id),
            message: r.message,
            sender_type: parse::<SenderType>("sender_type", &r.sender_type)?,
            data_type: parse::<DataType>("data_type", &r.data_type)?,
            sent_at: r.sent_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    session_id: Uuid,
    client_id: Option<i64>,
    message_count: i64,
    first_sent_at: DateTime<Utc>,
    last_sent_at: DateTime<Utc>,
    last_message_preview: String,
    last_sender_type: String,
}

impl TryFrom<SessionRow> for SessionSummary {
    type Error = Error;
    fn try_from(r: SessionRow) -> Result<Self> {
        Ok(SessionSummary {
            session_id: SessionId(r.session_id),
            message_count: u64::try_from(r.message_count).unwrap_or(0),
            first_sent_at: r.first_sent_at,
            last_sent_at: r.last_sent_at,
            last_message_preview: r.last_message_preview,
            last_sender_type: parse("sender type", &r.last_sender_type)?,
            client_id: r.client_id.map(crate::ClientId),
        })
    }
}

row_struct! {
    pub(crate) struct RoleRow, columns ROLE_COLS {
        pub id: i64,
        name: String,
        description: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl RoleRow {
    pub fn into_role(self, permissions: &[(i64, String)]) -> Result<Role> {
        let permissions = permissions
            .iter()
            .filter(|(role, _)| *role == self.id)
            .map(|(_, p)| parse("permission", p))
            .collect::<Result<_>>()?;
        Ok(Role {
            id: RoleId(self.id),
            name: self.name,
            description: self.description,
            permissions,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

row_struct! {
    pub(crate) struct UserRow, columns USER_COLS {
        id: i64,
        email: String,
        username: String,
        first_name: String,
        last_name: String,
        phone: String,
        role_id: Option<i64>,
        created_by_id: Option<i64>,
        is_active: bool,
        is_staff: bool,
        is_superuser: bool,
        last_login: Option<DateTime<Utc>>,
        date_joined: DateTime<Utc>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl TryFrom<UserRow> for User {
    type Error = Error;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(User {
            id: UserId(r.id),
            email: r.email,
            username: r.username,
            first_name: r.first_name,
            last_name: r.last_name,
            phone: r.phone,
            role_id: r.role_id.map(RoleId),
            created_by: r.created_by_id.map(UserId),
            is_active: r.is_active,
            is_staff: r.is_staff,
            is_superuser: r.is_superuser,
            last_login: r.last_login,
            date_joined: r.date_joined,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

row_struct! {
    pub(crate) struct ClientRow, columns CLIENT_COLS {
        id: i64,
        name: String,
        email: String,
        phone: String,
        current_stage: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = Error;
    fn try_from(r: ClientRow) -> Result<Self> {
        Ok(Client {
            id: ClientId(r.id),
            name: r.name,
            email: r.email,
            phone: r.phone,
            current_stage: parse::<Stage>("current_stage", &r.current_stage)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A stored `context_data` as the object it must be (`null`: empty); anything else is
/// [`Error::Corrupt`], naming the client.
pub(crate) fn context_object(
    value: Json,
    client_id: impl std::fmt::Display,
) -> Result<Map<String, Json>> {
    match value {
        Json::Object(map) => Ok(map),
        Json::Null => Ok(Map::new()),
        other => Err(Error::Corrupt(format!(
            "context_data of client {client_id} is not an object: {other}"
        ))),
    }
}

row_struct! {
    pub(crate) struct ContextRow, columns CONTEXT_COLS {
        id: i64,
        client_id: i64,
        chat_session_id: Option<Uuid>,
        context_data: sqlx::types::Json<Json>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl TryFrom<ContextRow> for ClientContext {
    type Error = Error;
    fn try_from(r: ContextRow) -> Result<Self> {
        let data = context_object(r.context_data.0, r.client_id)?;
        Ok(ClientContext {
            id: ContextId(r.id),
            client_id: ClientId(r.client_id),
            chat_session_id: r.chat_session_id.map(SessionId),
            data,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A stored `from_stage`: `NULL`, or `''` (the original's first entry), is none.
pub(crate) fn from_stage(value: Option<&str>) -> Result<Option<Stage>> {
    value
        .filter(|s| !s.is_empty())
        .map(|s| parse("from_stage", s))
        .transpose()
}

row_struct! {
    pub(crate) struct StageChangeRow, columns STAGE_CHANGE_COLS {
        id: i64,
        client_id: i64,
        from_stage: Option<String>,
        to_stage: String,
        changed_by_id: Option<i64>,
        remarks: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl TryFrom<StageChangeRow> for StageChange {
    type Error = Error;
    fn try_from(r: StageChangeRow) -> Result<Self> {
        Ok(StageChange {
            id: StageChangeId(r.id),
            client_id: ClientId(r.client_id),
            from_stage: from_stage(r.from_stage.as_deref())?,
            to_stage: parse::<Stage>("to_stage", &r.to_stage)?,
            changed_by: r.changed_by_id.map(UserId),
            remarks: r.remarks,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

row_struct! {
    pub(crate) struct AssignmentRow, columns ASSIGNMENT_COLS {
        id: i64,
        client_id: i64,
        assigned_to_id: Option<i64>,
        assigned_by_id: Option<i64>,
        is_active: bool,
        remarks: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

impl TryFrom<AssignmentRow> for Assignment {
    type Error = Error;
    fn try_from(r: AssignmentRow) -> Result<Self> {
        Ok(Assignment {
            id: AssignmentId(r.id),
            client_id: ClientId(r.client_id),
            assigned_to: r.assigned_to_id.map(UserId),
            assigned_by: r.assigned_by_id.map(UserId),
            is_active: r.is_active,
            remarks: r.remarks,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    pub id: i64,
    pub password: String,
    pub is_active: bool,
}

row_struct! {
    pub(crate) struct AuditRow, columns AUDIT_COLS {
        id: i64,
        actor_id: Option<i64>,
        actor_repr: String,
        action: String,
        object_type: String,
        object_id: String,
        object_repr: String,
        changes: sqlx::types::Json<Json>,
        created_at: DateTime<Utc>,
    }
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = Error;
    fn try_from(r: AuditRow) -> Result<Self> {
        Ok(AuditEntry {
            id: r.id,
            actor_id: r.actor_id.map(UserId),
            actor_repr: r.actor_repr,
            action: parse::<AuditAction>("action", &r.action)?,
            object_type: r.object_type,
            object_id: r.object_id,
            object_repr: r.object_repr,
            changes: r.changes.0,
            created_at: r.created_at,
        })
    }
}
