//! Examples of the account and admin bodies, shown in the OpenAPI spec and the API viewer.

use chrono::DateTime;
use serde_json::json;
use uuid::Uuid;

use super::bodies::{
    AssignmentBody, AuditActionName, AuditEntryBody, ChatSessionBody, ClientBody, ContextBody,
    PermissionBody, RoleBody, StageChangeBody, StageName, UserBody,
};
use super::chat::BulkDeleteRequest;
use super::clients::{
    AssignRequest, ClientCreateRequest, ClientUpdateRequest, ContextMergeRequest,
    ContextReplaceRequest, StageRequest, StageResult,
};
use super::users::{
    PasswordRequest, RoleCreateRequest, RoleUpdateRequest, UserCreateRequest, UserUpdateRequest,
};
use crate::account::{LoginRequest, LoginResponse, LoginUser, MeResponse, SessionResponse};
use crate::render::DrfDateTime;

fn at(micros: i64) -> DrfDateTime {
    DrfDateTime(DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

const CREATED: i64 = 1_764_032_233_952_520;
const CHANGED: i64 = 1_764_035_833_000_017;
const TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn session() -> Uuid {
    Uuid::from_u128(0x1b4e28ba_2fa1_11d2_883f_0016d3cca427)
}

/// `impl Example` for each `Type => value;` of the table (the examples of the spec).
macro_rules! examples {
    ($($ty:ty => $example:expr;)+) => {
        $(
            impl poem_openapi::types::Example for $ty {
                fn example() -> Self {
                    $example
                }
            }
        )+
    };
}
pub(crate) use examples;

examples! {
    LoginRequest => Self {
        email: "ada@example.com".into(),
        password: "correct horse battery staple".into(),
    };

    LoginResponse => Self {
        token: TOKEN.into(),
        user: LoginUser {
            id: 7,
            email: "ada@example.com".into(),
            name: "Ada Lovelace".into(),
        },
        expires_at: at(CHANGED),
    };

    SessionResponse => Self {
        user: LoginResponse::example().user,
        csrf_token: "3c6e0b8a9c15224a8228b9a98ca1531d0f3b2d7c4e5f60718293a4b5c6d7e8f9".into(),
        expires_at: at(CHANGED),
    };

    MeResponse => Self {
        id: 7,
        email: "ada@example.com".into(),
        username: "ada".into(),
        name: "Ada Lovelace".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        is_staff: true,
        is_superuser: false,
        role: Some(2),
        permissions: vec!["client.change_client".into(), "client.view_client".into()],
        csrf_token: None,
    };

    UserBody => Self {
        id: 7,
        email: "ada@example.com".into(),
        username: "ada".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        phone: "+44 20 7946 0000".into(),
        role: Some(2),
        created_by: Some(1),
        is_active: true,
        is_staff: true,
        is_superuser: false,
        permissions: vec!["chat.view_chathistory".into()],
        last_login: Some(at(CHANGED)),
        date_joined: at(CREATED),
        created_at: at(CREATED),
        updated_at: at(CHANGED),
    };

    UserCreateRequest => Self {
        email: "ada@example.com".into(),
        username: "ada".into(),
        password: Some("correct horse battery staple".into()),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        phone: None,
        role: Some(2),
        is_active: None,
        is_staff: Some(true),
        is_superuser: None,
        permissions: Some(vec!["chat.view_chathistory".into()]),
    };

    UserUpdateRequest => Self {
        email: None,
        username: None,
        first_name: None,
        last_name: Some("King".into()),
        phone: None,
        role: Some(3),
        is_active: Some(true),
        is_staff: None,
        is_superuser: None,
        permissions: None,
    };

    PasswordRequest => Self {
        password: "a new long passphrase".into(),
    };

    RoleBody => Self {
        id: 2,
        name: "Support".into(),
        description: "Answers leads".into(),
        permissions: vec!["client.change_client".into(), "client.view_client".into()],
        created_at: at(CREATED),
        updated_at: at(CHANGED),
    };

    RoleCreateRequest => Self {
        name: "Support".into(),
        description: Some("Answers leads".into()),
        permissions: Some(vec![
            "client.change_client".into(),
            "client.view_client".into(),
        ]),
    };

    RoleUpdateRequest => Self {
        name: None,
        description: None,
        permissions: Some(vec!["client.view_client".into()]),
    };

    PermissionBody => Self {
        codename: "chat.view_chathistory".into(),
        name: "Can view chat history".into(),
        app_label: "chat".into(),
        model: "chathistory".into(),
        action: "view".into(),
    };

    ChatSessionBody => Self {
        session_id: session(),
        message_count: 12,
        first_sent_at: at(CREATED),
        last_sent_at: at(CHANGED),
        last_message_preview: "Thanks, I will send the documents tomorrow.".to_owned(),
        last_sender_type: crate::chat::SenderTypeName::Client,
        client: Some(42),
    };

    BulkDeleteRequest => Self {
        ids: vec![41, 42, 43],
    };

    ClientBody => Self {
        id: 5,
        name: "Grace Hopper".into(),
        email: "grace@example.com".into(),
        phone: "+1 555 0100".into(),
        current_stage: StageName::Contacted,
        created_at: at(CREATED),
        updated_at: at(CHANGED),
    };

    ClientCreateRequest => Self {
        name: "Grace Hopper".into(),
        email: Some("grace@example.com".into()),
        phone: Some("+1 555 0100".into()),
        current_stage: None,
        chat_session_id: Some(session().to_string()),
        context_data: Some(json!({"amount": 12000, "source": "chatbot"})),
    };

    ClientUpdateRequest => Self {
        name: None,
        email: None,
        phone: Some("+1 555 0199".into()),
    };

    ContextBody => Self {
        id: 5,
        client: 5,
        client_name: Some("Ada Lovelace".into()),
        chat_session_id: Some(session()),
        context_data: json!({"amount": 12000, "source": "chatbot"}),
        created_at: at(CREATED),
        updated_at: at(CHANGED),
    };

    ContextReplaceRequest => Self {
        context_data: json!({"amount": 15000}),
        chat_session_id: None,
    };

    ContextMergeRequest => Self {
        context_data: Some(json!({"city": "Oslo"})),
        remove: Some(vec!["source".into()]),
        chat_session_id: None,
    };

    StageChangeBody => Self {
        id: 9,
        client: 5,
        client_name: Some("Ada Lovelace".into()),
        from_stage: Some(StageName::Lead),
        to_stage: StageName::Contacted,
        changed_by: Some(7),
        changed_by_repr: Some("support@example.com".into()),
        remarks: "called back".into(),
        created_at: at(CHANGED),
        updated_at: at(CHANGED),
    };

    StageRequest => Self {
        to_stage: StageName::Contacted,
        remarks: Some("called back".into()),
    };

    StageResult => Self {
        changed: true,
        client: ClientBody::example(),
        history: Some(StageChangeBody::example()),
    };

    AssignmentBody => Self {
        id: 3,
        client: 5,
        client_name: Some("Ada Lovelace".into()),
        assigned_to: Some(7),
        assigned_to_repr: Some("support@example.com".into()),
        assigned_by: Some(1),
        assigned_by_repr: Some("admin@example.com".into()),
        is_active: true,
        remarks: "speaks Norwegian".into(),
        created_at: at(CHANGED),
        updated_at: at(CHANGED),
    };

    AssignRequest => Self {
        assigned_to: 7,
        remarks: Some("speaks Norwegian".into()),
    };

    AuditEntryBody => Self {
        id: 120,
        actor: Some(1),
        actor_repr: "admin@example.com".into(),
        action: AuditActionName::Update,
        object_type: "client".into(),
        object_id: "5".into(),
        object_repr: "Grace Hopper".into(),
        changes: json!({"phone": "+1 555 0199"}),
        created_at: at(CHANGED),
    };
}
