//! Response bodies of the account and admin routes (named schemas in the spec).

use poem_openapi::{Enum, Object};
use rivo_core::audit::{AuditAction, AuditEntry};
use rivo_core::chat::SessionSummary;
use rivo_core::{Assignment, Client, ClientContext, Permission, Role, Stage, StageChange, User};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::render::DrfDateTime;

/// Where a client stands in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "Stage", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum StageName {
    Lead,
    Contacted,
    Qualified,
    DocsPending,
    DocsReceived,
    ApplicationStarted,
    ApplicationSubmitted,
    ApplicationInProcess,
    ApplicationApproved,
    Disbursed,
    Active,
    Lost,
    Closed,
    Rejected,
}

impl From<Stage> for StageName {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Lead => Self::Lead,
            Stage::Contacted => Self::Contacted,
            Stage::Qualified => Self::Qualified,
            Stage::DocsPending => Self::DocsPending,
            Stage::DocsReceived => Self::DocsReceived,
            Stage::ApplicationStarted => Self::ApplicationStarted,
            Stage::ApplicationSubmitted => Self::ApplicationSubmitted,
            Stage::ApplicationInProcess => Self::ApplicationInProcess,
            Stage::ApplicationApproved => Self::ApplicationApproved,
            Stage::Disbursed => Self::Disbursed,
            Stage::Active => Self::Active,
            Stage::Lost => Self::Lost,
            Stage::Closed => Self::Closed,
            Stage::Rejected => Self::Rejected,
        }
    }
}

impl From<StageName> for Stage {
    fn from(stage: StageName) -> Self {
        Stage::ALL
            .into_iter()
            .find(|s| StageName::from(*s) == stage)
            .unwrap_or_default()
    }
}

/// What the audit log recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "AuditAction", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum AuditActionName {
    Create,
    Update,
    Delete,
}

impl From<AuditAction> for AuditActionName {
    fn from(a: AuditAction) -> Self {
        match a {
            AuditAction::Create => Self::Create,
            AuditAction::Update => Self::Update,
            AuditAction::Delete => Self::Delete,
        }
    }
}

/// A user (the password is never part of it).
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "User", example)]
pub struct UserBody {
    /// Id.
    pub id: i64,
    /// Login email, unique case-insensitively.
    pub email: String,
    /// Unique username.
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Phone.
    pub phone: String,
    /// Role id.
    pub role: Option<i64>,
    /// Id of the user who created this one.
    pub created_by: Option<i64>,
    /// Inactive users cannot log in.
    pub is_active: bool,
    /// Staff users may use the admin.
    pub is_staff: bool,
    /// Superusers hold every permission.
    pub is_superuser: bool,
    /// Permissions held directly (besides the role's).
    pub permissions: Vec<String>,
    /// Last login.
    pub last_login: Option<DrfDateTime>,
    /// When the account was opened.
    pub date_joined: DrfDateTime,
    /// Created.
    pub created_at: DrfDateTime,
    /// Last changed.
    pub updated_at: DrfDateTime,
}

impl UserBody {
    /// The body of `user` with its directly held permissions.
    pub fn new(user: User, permissions: impl IntoIterator<Item = Permission>) -> Self {
        Self {
            id: user.id.0,
            email: user.email,
            username: user.username,
            first_name: user.first_name,
            last_name: user.last_name,
            phone: user.phone,
            role: user.role_id.map(|r| r.0),
            created_by: user.created_by.map(|u| u.0),
            is_active: user.is_active,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            permissions: permissions.into_iter().map(|p| p.to_string()).collect(),
            last_login: user.last_login.map(DrfDateTime),
            date_joined: DrfDateTime(user.date_joined),
            created_at: DrfDateTime(user.created_at),
            updated_at: DrfDateTime(user.updated_at),
        }
    }
}

/// A role and the permissions it grants.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Role", example)]
pub struct RoleBody {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Permission codenames, e.g. `client.change_client`.
    pub permissions: Vec<String>,
    /// Created.
    pub created_at: DrfDateTime,
    /// Last changed.
    pub updated_at: DrfDateTime,
}

impl From<Role> for RoleBody {
    fn from(r: Role) -> Self {
        Self {
            id: r.id.0,
            name: r.name,
            description: r.description,
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            created_at: DrfDateTime(r.created_at),
            updated_at: DrfDateTime(r.updated_at),
        }
    }
}

/// A permission a role or user can hold.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Permission", example)]
pub struct PermissionBody {
    /// `<app>.<action>_<model>`, e.g. `chat.view_chathistory`.
    pub codename: String,
    /// For people: `Can view chat history`.
    pub name: String,
    /// The app: `account`, `chat` or `client`.
    pub app_label: String,
    /// The model, e.g. `chathistory`.
    pub model: String,
    /// `view`, `add`, `change` or `delete`.
    pub action: String,
}

impl From<Permission> for PermissionBody {
    fn from(p: Permission) -> Self {
        Self {
            codename: p.to_string(),
            name: p.description(),
            app_label: p.model.app().to_owned(),
            model: p.model.name().to_owned(),
            action: p.action.as_str().to_owned(),
        }
    }
}

/// A chat session: its size, time span, last message and linked client.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "ChatSession", example)]
pub struct ChatSessionBody {
    /// The session.
    pub session_id: Uuid,
    /// How many messages it holds.
    pub message_count: u64,
    /// First message.
    pub first_sent_at: DrfDateTime,
    /// Last message.
    pub last_sent_at: DrfDateTime,
    /// The first 100 characters of the last message.
    pub last_message_preview: String,
    /// Who sent the last message.
    pub last_sender_type: crate::chat::SenderTypeName,
    /// The client whose context links this session, if any.
    pub client: Option<i64>,
}

impl From<SessionSummary> for ChatSessionBody {
    fn from(s: SessionSummary) -> Self {
        Self {
            session_id: s.session_id.0,
            message_count: s.message_count,
            first_sent_at: DrfDateTime(s.first_sent_at),
            last_sent_at: DrfDateTime(s.last_sent_at),
            last_message_preview: s.last_message_preview,
            last_sender_type: s.last_sender_type.into(),
            client: s.client_id.map(|c| c.0),
        }
    }
}

/// A whole conversation, oldest first.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "ChatTranscript")]
pub struct TranscriptBody {
    /// The session, lowercase hyphenated.
    pub session_id: Uuid,
    /// Every message, oldest first.
    pub messages: Vec<crate::chat::ChatMessageBody>,
}

/// A client (lead).
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Client", example)]
pub struct ClientBody {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email (may be empty).
    pub email: String,
    /// Phone (may be empty).
    pub phone: String,
    /// Stage; changed with `POST /api/v1/admin/clients/{id}/stage/`.
    pub current_stage: StageName,
    /// Created.
    pub created_at: DrfDateTime,
    /// Last changed.
    pub updated_at: DrfDateTime,
}

impl From<Client> for ClientBody {
    fn from(c: Client) -> Self {
        Self {
            id: c.id.0,
            name: c.name,
            email: c.email,
            phone: c.phone,
            current_stage: c.current_stage.into(),
            created_at: DrfDateTime(c.created_at),
            updated_at: DrfDateTime(c.updated_at),
        }
    }
}

/// A client's context: free-form JSON and the chat the lead came from.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "ClientContext", example)]
pub struct ContextBody {
    /// Id (0 for a client whose context was never written).
    pub id: i64,
    /// The client.
    pub client: i64,
    /// The client's name (in lists; Django's `__str__`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The chat session the lead came from.
    pub chat_session_id: Option<Uuid>,
    /// A JSON object.
    pub context_data: Value,
    /// Created.
    pub created_at: DrfDateTime,
    /// Last changed.
    pub updated_at: DrfDateTime,
}

impl From<ClientContext> for ContextBody {
    fn from(c: ClientContext) -> Self {
        Self {
            id: c.id.0,
            client: c.client_id.0,
            client_name: None,
            chat_session_id: c.chat_session_id.map(|s| s.0),
            context_data: Value::Object(c.data),
            created_at: DrfDateTime(c.created_at),
            updated_at: DrfDateTime(c.updated_at),
        }
    }
}

/// One entry of a client's stage history.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "StageChange", example)]
pub struct StageChangeBody {
    /// Id.
    pub id: i64,
    /// The client.
    pub client: i64,
    /// The client's name (in lists; Django's `__str__`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The stage before (null for the first entry).
    pub from_stage: Option<StageName>,
    /// The stage after.
    pub to_stage: StageName,
    /// Who changed it.
    pub changed_by: Option<i64>,
    /// Who changed it, by email (in lists).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by_repr: Option<String>,
    /// Remarks.
    pub remarks: String,
    /// When.
    pub created_at: DrfDateTime,
    /// Last changed.
    pub updated_at: DrfDateTime,
}

impl From<StageChange> for StageChangeBody {
    fn from(h: StageChange) -> Self {
        Self {
            id: h.id.0,
            client: h.client_id.0,
            client_name: None,
            from_stage: h.from_stage.map(Into::into),
            to_stage: h.to_stage.into(),
            changed_by: h.changed_by.map(|u| u.0),
            changed_by_repr: None,
            remarks: h.remarks,
            created_at: DrfDateTime(h.created_at),
            updated_at: DrfDateTime(h.updated_at),
        }
    }
}

/// A client handed to a support user.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Assignment", example)]
pub struct AssignmentBody {
    /// Id.
    pub id: i64,
    /// The client.
    pub client: i64,
    /// The client's name (in lists; Django's `__str__`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The support user; `null` on an active assignment means "awaiting assignment" (written
    /// by chat lead capture when no one is picked automatically).
    pub assigned_to: Option<i64>,
    /// The support user, by email (in lists).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to_repr: Option<String>,
    /// Who assigned.
    pub assigned_by: Option<i64>,
    /// Who assigned, by email (in lists).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_by_repr: Option<String>,
    /// At most one active assignment per client.
    pub is_active: bool,
    /// Remarks.
    pub remarks: String,
    /// Created.
    pub created_at: DrfDateTime,
    /// Last changed.
    pub updated_at: DrfDateTime,
}

impl From<Assignment> for AssignmentBody {
    fn from(a: Assignment) -> Self {
        Self {
            id: a.id.0,
            client: a.client_id.0,
            client_name: None,
            assigned_to: a.assigned_to.map(|u| u.0),
            assigned_to_repr: None,
            assigned_by: a.assigned_by.map(|u| u.0),
            assigned_by_repr: None,
            is_active: a.is_active,
            remarks: a.remarks,
            created_at: DrfDateTime(a.created_at),
            updated_at: DrfDateTime(a.updated_at),
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "AuditEntry", example)]
pub struct AuditEntryBody {
    /// Id.
    pub id: i64,
    /// Who (null once that user is deleted).
    pub actor: Option<i64>,
    /// Who, as they were then (their email).
    pub actor_repr: String,
    /// What was done.
    pub action: AuditActionName,
    /// The kind of object, e.g. `client`, `user`, `chatsession`.
    pub object_type: String,
    /// The object's id.
    pub object_id: String,
    /// A short description of the object.
    pub object_repr: String,
    /// The fields set and their new values (never a password).
    pub changes: Value,
    /// When.
    pub created_at: DrfDateTime,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor: e.actor_id.map(|u| u.0),
            actor_repr: e.actor_repr,
            action: e.action.into(),
            object_type: e.object_type,
            object_id: e.object_id,
            object_repr: e.object_repr,
            changes: e.changes,
            created_at: DrfDateTime(e.created_at),
        }
    }
}
