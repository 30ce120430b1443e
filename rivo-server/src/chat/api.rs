//! The two chat operations, their errors and answers.

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::Query,
    registry::MetaSchemaRef,
    types::{MaybeUndefined, Type},
};
use rivo_core::{SessionId, Store};

use super::ChatTag;
use super::bodies::{ChatHistoryBody, ChatMessageBody};
use super::request::{SendMessageBody, off_runtime_if_large};
use crate::config::ChatCompat;
use crate::error::{ApiError, ErrorDetail, ErrorMessage, ErrorSet, FieldErrors, OpError, one_of};
use crate::render::DrfJson;

fn field_errors_schema() -> MetaSchemaRef {
    FieldErrors::schema_ref()
}

/// Errors of `chat_send`.
pub struct SendErrors;

impl ErrorSet for SendErrors {
    fn responses() -> Vec<(u16, &'static str, MetaSchemaRef)> {
        vec![
            (
                400,
                "Invalid fields (`FieldErrors`, all wrong fields at once, or `non_field_errors` \
                 when the JSON body is not an object) or a malformed body (`ErrorDetail`). \
                 Under `RIVO_CHAT_COMPAT=lead-capture` also a bad `data_type`, or a contact \
                 detail that breaks its rule, e.g. `{\"message\": [\"Phone number must have at \
                 least 10 digits\"]}`.",
                one_of(vec![field_errors_schema(), ErrorDetail::schema_ref()]),
            ),
            (
                405,
                "Wrong method; the `Allow` header lists the allowed ones.",
                ErrorDetail::schema_ref(),
            ),
            (
                413,
                "The body is larger than `RIVO_MAX_BODY_BYTES`.",
                ErrorDetail::schema_ref(),
            ),
            (
                415,
                "Content type other than JSON, URL-encoded form or multipart form.",
                ErrorDetail::schema_ref(),
            ),
            (
                403,
                "`sender_type` is `bot`, the server has a bot key (`RIVO_BOT_KEY`) and the \
                 `X-Rivo-Bot-Key` header is missing or wrong.",
                ErrorDetail::schema_ref(),
            ),
            (
                429,
                "Too many messages from this client address or to this session within the \
                 window (only when `RIVO_CHAT_MAX_PER_ADDRESS` or `RIVO_CHAT_MAX_PER_SESSION` is \
                 set); `Retry-After` gives the seconds to wait.",
                ErrorDetail::schema_ref(),
            ),
            (
                503,
                "The database is unavailable.",
                ErrorDetail::schema_ref(),
            ),
        ]
    }
}

/// Errors of `chat_history`.
pub struct HistoryErrors;

impl ErrorSet for HistoryErrors {
    fn responses() -> Vec<(u16, &'static str, MetaSchemaRef)> {
        vec![
            (
                400,
                "`session_id` missing or empty (`ErrorMessage`: `session_id is required`, or \
                 `session_id required` under `RIVO_CHAT_COMPAT=lead-capture`), or `session_id` \
                 not a UUID, `limit` not a positive integer or `after` not a cursor \
                 (`FieldErrors`).",
                one_of(vec![ErrorMessage::schema_ref(), field_errors_schema()]),
            ),
            (
                405,
                "Wrong method; the `Allow` header lists the allowed ones.",
                ErrorDetail::schema_ref(),
            ),
            (
                503,
                "The database is unavailable.",
                ErrorDetail::schema_ref(),
            ),
        ]
    }
}

/// `chat_send`'s success.
#[derive(ApiResponse)]
pub enum SendResponse {
    /// The message was stored; the body is the stored message.
    #[oai(status = 201)]
    Created(DrfJson<ChatMessageBody>),
}

/// `chat_history`'s success.
#[derive(ApiResponse)]
pub enum HistoryResponse {
    /// The session's messages, oldest first.
    #[oai(status = 200)]
    Ok(DrfJson<ChatHistoryBody>),
}

/// `POST /api/v1/chat/stream/`. Handlers find the [`Store`] in the request data.
#[derive(Default)]
pub struct ChatStreamApi;

/// `GET /api/v1/chat/history/`. Handlers find the [`Store`] in the request data.
#[derive(Default)]
pub struct ChatHistoryApi;

// Each path lives in its own `prefix_path` so that its trailing slash survives (see
// ECOSYSTEM-NOTES: `#[oai(path = "/stream/")]` would lose it).
#[OpenApi(prefix_path = "/api/v1/chat/stream/", tag = "ChatTag::Chat")]
impl ChatStreamApi {
    /// Store a chat message
    ///
    /// Stores one message of a session (trimmed) and answers it with its id and time. The body
    /// may be JSON, URL-encoded form or multipart form; `sender_type` defaults to `client`.
    ///
    /// Two wire contracts, chosen by `RIVO_CHAT_COMPAT`: `original` (the default, the 898bd7e
    /// original byte for byte: no `data_type`) or `lead-capture` (the later original's: an
    /// optional `data_type`, echoed in every message answered; `name`, `email` and `phone`
    /// messages from a `client` create or update the session's client, a lead).
    ///
    /// Optional protections (off by default, like the original): per-address and per-session
    /// rate limits (`RIVO_CHAT_MAX_PER_ADDRESS`, `RIVO_CHAT_MAX_PER_SESSION`, `429` with
    /// `Retry-After`), and `RIVO_BOT_KEY`, which makes `sender_type=bot` need the
    /// `X-Rivo-Bot-Key` header (`403` without it).
    #[oai(path = "/", method = "post", operation_id = "chat_send")]
    async fn send(
        &self,
        req: &poem::Request,
        store: Data<&Store>,
        config: Data<&std::sync::Arc<crate::Config>>,
        /// The bot key (`RIVO_BOT_KEY`), needed to post `sender_type=bot` when the server has
        /// one configured. Keep it in the bot backend: never send it from a browser.
        #[oai(name = "X-Rivo-Bot-Key")]
        bot_key: poem_openapi::param::Header<Option<String>>,
        body: SendMessageBody,
    ) -> Result<SendResponse, OpError<SendErrors>> {
        let size = body.approximate_size();
        let compat = config.chat_compat;
        let valid = off_runtime_if_large(size, move || body.validate(compat)).await?;
        let address = crate::auth::client_address(req, &config.trusted_proxies);
        let origin = rivo_core::chat_guard::PostOrigin {
            client_address: address.as_deref(),
            bot_key: bot_key.0.as_deref(),
        };
        let stored = if valid.data_type.is_contact() {
            // `lead-capture` only (the `original` contract never reads `data_type`).
            store
                .capture_guarded(
                    valid.session,
                    &valid.message,
                    valid.sender,
                    valid.data_type,
                    origin,
                    &config.chat_policy,
                )
                .await?
                .message
        } else {
            store
                .append_guarded(
                    valid.session,
                    &valid.message,
                    valid.sender,
                    origin,
                    &config.chat_policy,
                )
                .await?
        };
        Ok(SendResponse::Created(DrfJson(ChatMessageBody::render(
            stored, compat,
        ))))
    }
}

#[OpenApi(prefix_path = "/api/v1/chat/history/", tag = "ChatTag::Chat")]
impl ChatHistoryApi {
    /// Read a session's history
    ///
    /// Every message of a session, oldest first. An unknown session has an empty history.
    ///
    /// Long sessions can be read page by page: `limit` (and then `after`, the `next` of the
    /// previous page) return one page and a `next` cursor. Without them the answer is the
    /// original's, every message and no `next`, up to `RIVO_HISTORY_MAX_BYTES` (16 MiB) of
    /// messages: a longer history is cut at a message and carries `next`.
    #[oai(path = "/", method = "get", operation_id = "chat_history")]
    async fn history(
        &self,
        req: &poem::Request,
        store: Data<&Store>,
        config: Data<&std::sync::Arc<crate::Config>>,
        /// The session: a UUID in any spelling Python's `uuid.UUID` accepts. Echoed as sent.
        session_id: Query<Option<String>>,
        /// Page size (1 to 1000; larger values are cut to 1000). Asks for a page: the answer
        /// then carries `next`. Default with `after` alone: 100.
        limit: Query<Option<String>>,
        /// Where the page starts: the `next` of the previous page. Opaque.
        after: Query<Option<String>>,
    ) -> Result<HistoryResponse, OpError<HistoryErrors>> {
        // Django's `QueryDict.get`: the last of repeated `session_id`s.
        let raw = last_query_value(req, "session_id").or(session_id.0);
        let raw = raw.filter(|s| !s.is_empty());
        let compat = config.chat_compat;
        let raw = raw.ok_or(match compat {
            ChatCompat::Original => ApiError::MissingParameter("session_id"),
            ChatCompat::LeadCapture => ApiError::MissingParameterShort("session_id"),
        })?;
        let session: SessionId = ApiError::parse_field("session_id", &raw)?;
        let page = HistoryPageParams::parse(limit.0, after.0)?;
        let Some(page) = page else {
            // Read a page at a time up to RIVO_HISTORY_MAX_BYTES, so a huge session cannot
            // take the server's memory; below that the answer is the original's, byte for byte.
            let found = store.history_bounded(session).await?;
            return Ok(HistoryResponse::Ok(DrfJson(ChatHistoryBody {
                session_id: raw,
                messages: render_all(found.messages, compat),
                next: found.next.map_or(MaybeUndefined::Undefined, |c| {
                    MaybeUndefined::Value(c.to_string())
                }),
            })));
        };
        let found = store.history_page(session, page.after, page.limit).await?;
        Ok(HistoryResponse::Ok(DrfJson(ChatHistoryBody {
            session_id: raw,
            messages: render_all(found.messages, compat),
            next: found.next.map_or(MaybeUndefined::Null, |c| {
                MaybeUndefined::Value(c.to_string())
            }),
        })))
    }
}

fn render_all(messages: Vec<rivo_core::ChatMessage>, compat: ChatCompat) -> Vec<ChatMessageBody> {
    messages
        .into_iter()
        .map(|m| ChatMessageBody::render(m, compat))
        .collect()
}

/// The optional paging parameters of `GET /api/v1/chat/history/`.
struct HistoryPageParams {
    limit: u32,
    after: Option<rivo_core::chat::HistoryCursor>,
}

impl HistoryPageParams {
    /// Page size when only `after` is given.
    const DEFAULT_LIMIT: u32 = 100;

    /// `None` when neither parameter is present (the original, unpaginated form).
    fn parse(limit: Option<String>, after: Option<String>) -> Result<Option<Self>, ApiError> {
        if limit.is_none() && after.is_none() {
            return Ok(None);
        }
        let limit = match limit.as_deref() {
            None | Some("") => Self::DEFAULT_LIMIT,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(n) if n >= 1 => {
                    u32::try_from(n.min(u64::from(rivo_core::PageRequest::MAX_LIMIT)))
                        .unwrap_or(rivo_core::PageRequest::MAX_LIMIT)
                }
                _ => {
                    return Err(ApiError::field(
                        "limit",
                        "Ensure this value is a whole number greater than or equal to 1.",
                    ));
                }
            },
        };
        let after = match after.as_deref() {
            None | Some("") => None,
            Some(text) => Some(ApiError::parse_field::<rivo_core::chat::HistoryCursor>(
                "after", text,
            )?),
        };
        Ok(Some(Self { limit, after }))
    }
}

/// The last value of the query parameter `name` (Django's `QueryDict.get`), decoded like a form.
pub(super) fn last_query_value(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}
