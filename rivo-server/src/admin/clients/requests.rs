//! The bodies of the client writes and actions.

use poem_openapi::Object;
use serde::Serialize;

use crate::admin::bodies::{ClientBody, StageChangeBody, StageName};

/// A client to create.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientCreateRequest {
    /// Name (required, at most 255 characters).
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Phone (at most 20 characters).
    pub phone: Option<String>,
    /// First stage (default `lead`).
    pub current_stage: Option<StageName>,
    /// The chat session the lead came from.
    pub chat_session_id: Option<String>,
    /// Initial context (a JSON object).
    pub context_data: Option<serde_json::Value>,
}

/// Changes to a client; absent fields stay as they are. Stages change with
/// `admin_clients_set_stage`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientUpdateRequest {
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// A whole new context.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ContextReplaceRequest {
    /// The new JSON object (replaces the old one).
    pub context_data: serde_json::Value,
    /// The chat session the lead came from (`null` unlinks; absent keeps it).
    pub chat_session_id: Option<String>,
}

/// Keys to set in a context.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ContextMergeRequest {
    /// Keys to set (top-level merge; other keys stay).
    pub context_data: Option<serde_json::Value>,
    /// Keys to remove.
    pub remove: Option<Vec<String>>,
    /// The chat session the lead came from (`null` unlinks; absent keeps it).
    pub chat_session_id: Option<String>,
}

/// A stage change.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StageRequest {
    /// The new stage.
    pub to_stage: StageName,
    /// Why.
    pub remarks: Option<String>,
}

/// The result of a stage change.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct StageResult {
    /// Whether the stage changed (`false` when the client was already in it).
    pub changed: bool,
    /// The client after the change.
    pub client: ClientBody,
    /// The stage history entry written, if the stage changed.
    pub history: Option<StageChangeBody>,
}

/// An assignment to make.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AssignRequest {
    /// Id of an active staff user.
    pub assigned_to: i64,
    /// Why.
    pub remarks: Option<String>,
}
