//! A client's context, stage history and assignments: the records that hang off a client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::{Client, Stage};
use crate::ids::{AssignmentId, ClientId, ContextId, SessionId, StageChangeId, UserId};
use crate::query::{Conds, sort_fields};
#[cfg(doc)]
use crate::store::Store;

/// The free-form data kept about a client, and the chat it came from. One per client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientContext {
    /// Id.
    pub id: ContextId,
    /// The client (also read as `client`, the admin API's name).
    #[serde(alias = "client")]
    pub client_id: ClientId,
    /// The chat session the lead came from.
    pub chat_session_id: Option<SessionId>,
    /// A JSON object (also read as `context_data`, the admin API's name).
    #[serde(alias = "context_data")]
    pub data: Map<String, Json>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// Filters for [`Store::list_contexts`].
#[derive(Debug, Clone, Default)]
pub struct ContextFilter {
    /// Only the context of this client.
    pub client_id: Option<ClientId>,
    /// Only contexts linked to this chat session.
    pub chat_session_id: Option<SessionId>,
}

impl ContextFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("client_id", self.client_id)
            .eq("chat_session_id", self.chat_session_id);
        c
    }
}

/// How to change a context.
#[derive(Debug, Clone)]
pub enum ContextChange {
    /// Set one key.
    Set(String, Json),
    /// Remove one key.
    Remove(String),
    /// Set every key of the object (top-level merge, like Python's `dict.update`).
    Merge(Map<String, Json>),
    /// Replace the whole object.
    Replace(Map<String, Json>),
    /// Link to a chat session, or unlink.
    ChatSession(Option<SessionId>),
}

impl ContextChange {
    /// The change as a JSON object, for the audit log.
    pub(crate) fn describe(&self) -> Json {
        match self {
            ContextChange::Set(key, value) => json!({ "set": { key: value } }),
            ContextChange::Remove(key) => json!({ "remove": key }),
            ContextChange::Merge(map) => json!({ "merge": map }),
            ContextChange::Replace(map) => json!({ "replace": map }),
            ContextChange::ChatSession(session) => json!({ "chat_session_id": session }),
        }
    }

    pub(crate) fn apply(self, context: &mut ClientContext) {
        match self {
            ContextChange::Set(key, value) => {
                context.data.insert(key, value);
            }
            ContextChange::Remove(key) => {
                context.data.remove(&key);
            }
            ContextChange::Merge(map) => context.data.extend(map),
            ContextChange::Replace(map) => context.data = map,
            ContextChange::ChatSession(session) => context.chat_session_id = session,
        }
    }
}

/// What [`Store::set_stage`] did, read in its own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOutcome {
    /// The client as the stage change left it (in the asked stage either way).
    pub client: Client,
    /// The stage history entry written; `None` when the client already was in that stage
    /// (then nothing was written).
    pub change: Option<StageChange>,
}

/// One entry of a client's stage history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// Id.
    pub id: StageChangeId,
    /// The client (also read as `client`, the admin API's name).
    #[serde(alias = "client")]
    pub client_id: ClientId,
    /// The stage before (none for the first entry).
    pub from_stage: Option<Stage>,
    /// The stage after.
    pub to_stage: Stage,
    /// Who made the change, if known.
    pub changed_by: Option<UserId>,
    /// Free text, may be empty.
    pub remarks: String,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// When the row was last changed.
    pub updated_at: DateTime<Utc>,
}

/// Filters for [`Store::list_stage_changes`].
#[derive(Debug, Clone, Default)]
pub struct StageChangeFilter {
    /// Only this client's history.
    pub client_id: Option<ClientId>,
    /// Only changes to this stage.
    pub to_stage: Option<Stage>,
    /// Only changes by this user.
    pub changed_by: Option<UserId>,
}

impl StageChangeFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("client_id", self.client_id)
            .eq("to_stage", self.to_stage.map(Stage::as_str))
            .eq("changed_by_id", self.changed_by);
        c
    }
}

/// A client handed to a support user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Id.
    pub id: AssignmentId,
    /// The client (also read as `client`, the admin API's name).
    #[serde(alias = "client")]
    pub client_id: ClientId,
    /// The support user; `None` on an active row means "awaiting assignment" (the later
    /// original's marker, written by lead capture when no one is picked automatically).
    pub assigned_to: Option<UserId>,
    /// Who assigned, if known.
    pub assigned_by: Option<UserId>,
    /// At most one active assignment per client exists.
    pub is_active: bool,
    /// Free text, may be empty.
    pub remarks: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last changed (e.g. deactivated).
    pub updated_at: DateTime<Utc>,
}

/// Filters for [`Store::list_assignments`].
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    /// Only this client's assignments.
    pub client_id: Option<ClientId>,
    /// Only active (or inactive) assignments.
    pub is_active: Option<bool>,
    /// Only assignments to this user.
    pub assigned_to: Option<UserId>,
}

impl AssignmentFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("client_id", self.client_id)
            .eq("is_active", self.is_active)
            .eq("assigned_to_id", self.assigned_to);
        c
    }
}

sort_fields!(
    /// Fields stage changes, assignments and contexts can be sorted by.
    HistorySort {
        /// Creation time.
        CreatedAt => ("created_at", "created_at"),
        /// Id.
        Id => ("id", "id"),
    }
);
