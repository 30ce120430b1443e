//! The chat API: `POST /api/v1/chat/stream/` and `GET /api/v1/chat/history/`, wire-compatible
//! with the original Django REST framework server.

mod api;
mod bodies;
pub mod drf;
mod original;
mod request;

pub use api::{ChatHistoryApi, ChatStreamApi};
pub use bodies::{ChatMessageBody, SenderTypeName};
pub use original::{API_ROOT_SUFFIXES, api_root, negotiation, original_options_body};
pub use request::BodyLimit;

/// The OpenAPI tag of the chat routes.
#[derive(poem_openapi::Tags)]
#[oai(rename_all = "lowercase")]
pub(crate) enum ChatTag {
    /// The chatbot widget's public API: store a message, read a session's history.
    Chat,
}

/// The chat operations, for `OpenApiService::new`.
pub type ChatApis = (ChatStreamApi, ChatHistoryApi);
