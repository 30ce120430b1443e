//! The chat API: `POST /api/v1/chat/stream/` and `GET /api/v1/chat/history/`, wire-compatible
//! with the original Django REST framework server.

use chrono::DateTime;
use poem::{Request, RequestBody, http::StatusCode, web::Data};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, Enum, ExtractParamOptions, Object, OpenApi,
    param::Query,
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::{Example, MaybeUndefined, Type},
};
use rivo_core::chat::DataType;
use rivo_core::{SenderType, SessionId, Store};
use serde::Serialize;
use uuid::Uuid;

use crate::config::ChatCompat;
use crate::error::{ApiError, ErrorDetail, ErrorMessage, ErrorSet, FieldErrors, OpError, one_of};
use crate::render::{DrfDateTime, DrfJson};

pub mod drf;

/// The OpenAPI tag of the chat routes.
#[derive(poem_openapi::Tags)]
#[oai(rename_all = "lowercase")]
pub(crate) enum ChatTag {
    /// The chatbot widget's public API: store a message, read a session's history.
    Chat,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "SenderType", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SenderTypeName {
    /// The website visitor.
    Client,
    /// The chatbot.
    Bot,
}

impl From<SenderType> for SenderTypeName {
    fn from(sender: SenderType) -> Self {
        match sender {
            SenderType::Client => SenderTypeName::Client,
            SenderType::Bot => SenderTypeName::Bot,
        }
    }
}

/// What a message carries (the `lead-capture` contract's `data_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "DataType", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DataTypeName {
    /// A plain message (the default).
    Message,
    /// The visitor's name.
    Name,
    /// The visitor's email address.
    Email,
    /// The visitor's phone number.
    Phone,
}

impl From<DataType> for DataTypeName {
    fn from(data_type: DataType) -> Self {
        match data_type {
            DataType::Message => DataTypeName::Message,
            DataType::Name => DataTypeName::Name,
            DataType::Email => DataTypeName::Email,
            DataType::Phone => DataTypeName::Phone,
        }
    }
}

/// One stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "ChatMessage", example)]
pub struct ChatMessageBody {
    /// Increases with every stored message.
    pub id: i64,
    /// The conversation, lowercase hyphenated.
    pub session_id: Uuid,
    /// The text, trimmed.
    pub message: String,
    /// Who wrote it.
    pub sender_type: SenderTypeName,
    /// What it carries. Present exactly when the server speaks the `lead-capture` contract
    /// (`RIVO_CHAT_COMPAT=lead-capture`, the later original's), absent in the default
    /// `original` contract (898bd7e), whose messages have no such key.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataTypeName>,
    /// When it was stored: UTC, microseconds (omitted when zero), `Z` suffix.
    pub sent_at: DrfDateTime,
}

impl From<rivo_core::ChatMessage> for ChatMessageBody {
    /// The `original` contract's shape (no `data_type`).
    fn from(m: rivo_core::ChatMessage) -> Self {
        Self::render(m, ChatCompat::Original)
    }
}

impl ChatMessageBody {
    /// The message as `compat` shows it: with `data_type` (between `sender_type` and
    /// `sent_at`) in the `lead-capture` contract only.
    pub fn render(m: rivo_core::ChatMessage, compat: ChatCompat) -> Self {
        Self {
            id: m.id.0,
            session_id: m.session_id.0,
            message: m.message,
            sender_type: m.sender_type.into(),
            data_type: (compat == ChatCompat::LeadCapture).then(|| m.data_type.into()),
            sent_at: DrfDateTime(m.sent_at),
        }
    }
}

fn example_session() -> Uuid {
    Uuid::from_u128(0x1b4e28ba_2fa1_11d2_883f_0016d3cca427)
}

impl Example for ChatMessageBody {
    fn example() -> Self {
        Self {
            id: 42,
            session_id: example_session(),
            message: "Hi! Can I get a quote?".to_owned(),
            sender_type: SenderTypeName::Client,
            data_type: None,
            sent_at: DrfDateTime(
                DateTime::from_timestamp_micros(1_764_032_233_952_520).unwrap_or_default(),
            ),
        }
    }
}

/// A session's conversation, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "ChatHistory", example)]
pub struct ChatHistoryBody {
    /// The `session_id` query parameter exactly as sent.
    pub session_id: String,
    /// Every message of the session, oldest first; empty for an unknown session. With
    /// `limit` or `after`, one page of them.
    pub messages: Vec<ChatMessageBody>,
    /// Only when the request asked for a page (`limit` or `after`): the `after` value of the
    /// next page, `null` on the last page. Absent from the original, unpaginated form.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub next: MaybeUndefined<String>,
}

impl Example for ChatHistoryBody {
    fn example() -> Self {
        Self {
            session_id: example_session().to_string(),
            messages: vec![ChatMessageBody::example()],
            next: MaybeUndefined::Undefined,
        }
    }
}

/// The body of `POST /api/v1/chat/stream/`, as JSON, `application/x-www-form-urlencoded` or
/// `multipart/form-data`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SendMessageRequest", example)]
pub struct SendMessageRequest {
    /// The conversation: a UUID in any spelling Python's `uuid.UUID` accepts (any case, with or
    /// without hyphens, `{braces}`, `urn:uuid:` prefix).
    pub session_id: Uuid,
    /// The text; trimmed before it is stored, must not be blank or contain NUL characters.
    pub message: String,
    /// Who wrote it; `client` when absent (or an empty form field).
    #[oai(default = "default_sender")]
    pub sender_type: SenderTypeName,
    /// `lead-capture` contract only (ignored, like any unknown key, by the default `original`
    /// contract): what the message carries, `message` when absent (or an empty form field).
    /// `name`, `email` and `phone` are checked (`{"message": ["Name must be at least 2
    /// characters"]}` …) and, from a `client`, set that field of the session's client, creating
    /// the client (a lead) when the session has none.
    pub data_type: Option<DataTypeName>,
}

fn default_sender() -> SenderTypeName {
    SenderTypeName::Client
}

impl Example for SendMessageRequest {
    fn example() -> Self {
        Self {
            session_id: example_session(),
            message: "  Hi! Can I get a quote?  ".to_owned(),
            sender_type: SenderTypeName::Client,
            data_type: None,
        }
    }
}

/// One field of a loosely parsed body: DRF tells missing, null and wrong types apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RawField {
    /// Not in the body.
    #[default]
    Missing,
    /// JSON `null`.
    Null,
    /// A string (JSON string or form field).
    Text(String),
    /// A JSON number, as Python reads it.
    Number(drf::PyNumber),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON array or object, or an uploaded file: Python's `str()` of it (`['a', 1]`, the
    /// file's name), which DRF's choice errors quote.
    Other(String),
}

impl RawField {
    fn from_py(value: drf::PyValue) -> Self {
        match value {
            drf::PyValue::None => RawField::Null,
            drf::PyValue::Str(s) => RawField::Text(s),
            drf::PyValue::Number(n) => RawField::Number(n),
            drf::PyValue::Bool(b) => RawField::Bool(b),
            other => RawField::Other(other.py_str()),
        }
    }
}

/// The parsed but unvalidated body of `POST /api/v1/chat/stream/`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendMessageBody {
    /// `session_id`.
    pub session_id: RawField,
    /// `message`.
    pub message: RawField,
    /// `sender_type`.
    pub sender_type: RawField,
    /// `data_type` (read by the `lead-capture` contract only).
    pub data_type: RawField,
}

/// A validated `POST /api/v1/chat/stream/` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMessage {
    /// The session.
    pub session: SessionId,
    /// The trimmed text.
    pub message: String,
    /// Who wrote it.
    pub sender: SenderType,
    /// What it carries (`message` in the `original` contract).
    pub data_type: DataType,
}

/// The largest body [`SendMessageBody`] reads; set by the app from `RIVO_MAX_BODY_BYTES`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

const PARSED_MEDIA_TYPES: [&str; 3] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

impl SendMessageBody {
    fn from_fields(fields: impl IntoIterator<Item = (String, RawField)>) -> Self {
        let mut body = Self::default();
        for (name, value) in fields {
            match name.as_str() {
                "session_id" => body.session_id = value,
                "message" => body.message = value,
                "sender_type" => body.sender_type = value,
                "data_type" => body.data_type = value,
                _ => {}
            }
        }
        body
    }

    /// Form semantics (Django's `QueryDict`): the last value of a repeated field wins, and an
    /// empty optional field means "use the default".
    fn from_form(fields: Vec<(String, RawField)>) -> Self {
        let mut body = Self::from_fields(fields);
        if body.sender_type == RawField::Text(String::new()) {
            body.sender_type = RawField::Missing;
        }
        if body.data_type == RawField::Text(String::new()) {
            body.data_type = RawField::Missing;
        }
        body
    }

    /// Parses `bytes` by `content_type` like DRF's parsers, with their error texts (see
    /// [`drf`]).
    pub async fn parse(
        _request: &Request,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<Self, ApiError> {
        if bytes.is_empty() {
            // DRF treats an empty body as empty data, whatever its content type.
            return Ok(Self::default());
        }
        let content_type = content_type.unwrap_or_default();
        match drf::select_parser(content_type) {
            Some(drf::Parser::Json) => {
                let value = off_runtime_if_large(bytes.len(), move || {
                    drf::parse_json(&bytes)
                        .map_err(|err| ApiError::BadRequest(format!("JSON parse error - {err}")))
                })
                .await?;
                match value {
                    drf::PyValue::Dict(items) => Ok(Self::from_fields(
                        items.into_iter().map(|(k, v)| (k, RawField::from_py(v))),
                    )),
                    drf::PyValue::None => {
                        Err(ApiError::field("non_field_errors", "No data provided"))
                    }
                    other => Err(ApiError::field(
                        "non_field_errors",
                        format!(
                            "Invalid data. Expected a dictionary, but got {}.",
                            other.type_name()
                        ),
                    )),
                }
            }
            Some(drf::Parser::Form) => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                    .map_err(|err| ApiError::BadRequest(format!("Form parse error - {err}")))?;
                Ok(Self::from_form(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, RawField::Text(v)))
                        .collect(),
                ))
            }
            Some(drf::Parser::Multipart) => {
                let content_type = content_type.to_owned();
                let fields = off_runtime_if_large(bytes.len(), move || {
                    drf::parse_multipart(&content_type, &bytes).map_err(|err| {
                        ApiError::BadRequest(format!("Multipart form parse error - {err}"))
                    })
                })
                .await?;
                Ok(Self::from_form(
                    fields
                        .into_iter()
                        .map(|(name, value)| {
                            let value = match value {
                                drf::MultipartValue::Text(text) => RawField::Text(text),
                                drf::MultipartValue::File(name) => RawField::Other(name),
                            };
                            (name, value)
                        })
                        .collect(),
                ))
            }
            None => Err(ApiError::UnsupportedMediaType(content_type.to_owned())),
        }
    }

    /// Roughly how many bytes the fields hold.
    pub fn approximate_size(&self) -> usize {
        [
            &self.session_id,
            &self.message,
            &self.sender_type,
            &self.data_type,
        ]
        .iter()
        .map(|f| match f {
            RawField::Text(s) | RawField::Other(s) => s.len(),
            _ => 8,
        })
        .sum()
    }

    /// Validates every field like the original serializer, collecting all errors in the order
    /// `session_id`, `message`, `sender_type` (then `data_type` in the `lead-capture`
    /// contract, whose contact rules run once every field is valid, as the later original's
    /// `validate()` does).
    pub fn validate(&self, compat: ChatCompat) -> Result<ValidMessage, ApiError> {
        use rivo_core::Rule;
        let mut errors = rivo_core::ValidationErrors::new();
        let session = errors.check(
            "session_id",
            match &self.session_id {
                RawField::Missing => Err(Rule::Required),
                RawField::Null => Err(Rule::Null),
                RawField::Text(s) => s.parse::<SessionId>(),
                // DRF's UUIDField also took an integer as the UUID's number, and Python's
                // `True`/`False` are the integers 1 and 0.
                RawField::Number(n) => n
                    .as_uuid_int()
                    .map(|n| SessionId(Uuid::from_u128(n)))
                    .ok_or(Rule::InvalidUuid),
                RawField::Bool(b) => Ok(SessionId(Uuid::from_u128(u128::from(*b)))),
                RawField::Other(_) => Err(Rule::InvalidUuid),
            },
        );
        let message = errors.check(
            "message",
            match &self.message {
                RawField::Missing => Err(Rule::Required),
                RawField::Null => Err(Rule::Null),
                RawField::Text(s) => rivo_core::chat::clean_message(s),
                // DRF's CharField coerces numbers to text.
                RawField::Number(n) => rivo_core::chat::clean_message(&n.to_string()),
                RawField::Bool(_) | RawField::Other(_) => {
                    Err(Rule::Other("Not a valid string.".to_owned()))
                }
            },
        );
        let sender = errors.check(
            "sender_type",
            match &self.sender_type {
                RawField::Missing => Ok(SenderType::default()),
                RawField::Null => Err(Rule::Null),
                RawField::Text(s) => s.parse::<SenderType>(),
                RawField::Number(n) => Err(Rule::InvalidChoice {
                    value: n.to_string(),
                }),
                RawField::Bool(b) => Err(Rule::InvalidChoice {
                    value: if *b { "True" } else { "False" }.to_owned(),
                }),
                RawField::Other(text) => Err(Rule::InvalidChoice {
                    value: text.clone(),
                }),
            },
        );
        let data_type = match compat {
            ChatCompat::Original => Some(DataType::Message),
            ChatCompat::LeadCapture => errors.check(
                "data_type",
                match &self.data_type {
                    RawField::Missing => Ok(DataType::default()),
                    RawField::Null => Err(Rule::Null),
                    RawField::Text(s) => s.parse::<DataType>(),
                    RawField::Number(n) => Err(Rule::InvalidChoice {
                        value: n.to_string(),
                    }),
                    RawField::Bool(b) => Err(Rule::InvalidChoice {
                        value: if *b { "True" } else { "False" }.to_owned(),
                    }),
                    RawField::Other(text) => Err(Rule::InvalidChoice {
                        value: text.clone(),
                    }),
                },
            ),
        };
        match (session, message, sender, data_type) {
            (Some(session), Some(message), Some(sender), Some(data_type)) if errors.is_empty() => {
                // The later original's cross-field rules (a one-element list on `message`).
                rivo_core::leads::check_contact(data_type, &message)
                    .map_err(|rule| ApiError::field("message", rule.to_string()))?;
                Ok(ValidMessage {
                    session,
                    message,
                    sender,
                    data_type,
                })
            }
            _ => Err(ApiError::Fields((&errors).into())),
        }
    }
}

/// Bodies from this size on are parsed and validated on a blocking thread, so that a few MiB of
/// JSON never stall the async runtime.
const LARGE_BODY_BYTES: usize = 256 * 1024;

/// Runs `work` inline for small inputs and on the blocking pool for large ones.
async fn off_runtime_if_large<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if size < LARGE_BODY_BYTES {
        return work();
    }
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(%err, "body parsing task failed");
        ApiError::Internal
    })?
}

impl<'a> ApiExtractor<'a> for SendMessageBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        SendMessageRequest::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "The message. The same fields are accepted as JSON, URL-encoded form or \
                 multipart form.",
            ),
            content: PARSED_MEDIA_TYPES
                .iter()
                .map(|content_type| MetaMediaType {
                    content_type,
                    schema: SendMessageRequest::schema_ref(),
                })
                .collect(),
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let limit = request
            .data::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit(8 * 1024 * 1024))
            .0;
        let bytes = body
            .take()?
            .into_bytes_limit(limit)
            .await
            .map_err(|err| match err {
                poem::error::ReadBodyError::PayloadTooLarge => ApiError::PayloadTooLarge { limit },
                other => ApiError::BadRequest(format!("Could not read the request body: {other}")),
            })?;
        Ok(Self::parse(request, request.content_type(), bytes.into()).await?)
    }
}

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
pub struct ChatStreamApi;

/// `GET /api/v1/chat/history/`. Handlers find the [`Store`] in the request data.
pub struct ChatHistoryApi;

/// The chat operations, for `OpenApiService::new`.
pub type ChatApis = (ChatStreamApi, ChatHistoryApi);

/// The chat operations, for `OpenApiService::new`.
pub fn apis() -> ChatApis {
    (ChatStreamApi, ChatHistoryApi)
}

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
        let session = raw
            .parse::<SessionId>()
            .map_err(|rule| ApiError::field("session_id", rule.to_string()))?;
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
            Some(text) => Some(
                text.parse::<rivo_core::chat::HistoryCursor>()
                    .map_err(|rule| ApiError::field("after", rule.to_string()))?,
            ),
        };
        Ok(Some(Self { limit, after }))
    }
}

/// The last value of the query parameter `name` (Django's `QueryDict.get`), decoded like a form.
fn last_query_value(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// The original's chat routes (DRF views): path without its trailing slash, `Allow`.
const ORIGINAL_ROUTES: [(&str, &str); 3] = [
    ("/api/v1/chat", "GET, HEAD, OPTIONS"),
    ("/api/v1/chat/stream", "POST, OPTIONS"),
    ("/api/v1/chat/history", "GET, HEAD, OPTIONS"),
];

/// The API root's format-suffix routes (DefaultRouter's `^\.(?P<format>[a-z0-9]+)/?$`).
pub const API_ROOT_SUFFIXES: [&str; 4] = [
    "/api/v1/chat/.json",
    "/api/v1/chat/.json/",
    "/api/v1/chat/.api",
    "/api/v1/chat/.api/",
];

/// The `Allow` value and the format suffix of an original chat route.
fn original_route(path: &str) -> Option<(&'static str, Option<&'static str>)> {
    if let Some(suffix) = API_ROOT_SUFFIXES.iter().find(|p| **p == path) {
        let format = if suffix.contains(".json") {
            "json"
        } else {
            "api"
        };
        return Some((ORIGINAL_ROUTES[0].1, Some(format)));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    ORIGINAL_ROUTES
        .iter()
        .find(|(p, _)| *p == trimmed)
        .map(|(_, allow)| (*allow, None))
}

/// What the original's `OPTIONS` answered (DRF's `SimpleMetadata`: the view's name and its
/// dedented docstring, the two renderers, the three parsers), by route template.
pub fn original_options_body(path: &str) -> Option<Vec<u8>> {
    let (name, description) = match path.trim_end_matches('/') {
        "/api/v1/chat" => ("Api Root", "The default basic root view for DefaultRouter"),
        "/api/v1/chat/stream" => (
            "Stream",
            "Send a message and add it to chat history\n\nPOST /chat/stream//\n{\n    \
             \"session_id\": \"550e8400-e29b-41d4-a716-446655440000\",\n    \"message\": \
             \"Hello!\",\n    \"sender_type\": \"client\"\n}",
        ),
        "/api/v1/chat/history" => (
            "History",
            "Get chat history for a specific session\n\nGET \
             /chat/history/?session_id=550e8400-e29b-41d4-a716-446655440000",
        ),
        _ => return None,
    };
    /// DRF's `SimpleMetadata`, keys in its order.
    #[derive(Serialize)]
    struct Metadata {
        name: &'static str,
        description: &'static str,
        renders: [&'static str; 2],
        parses: [&'static str; 3],
    }
    Some(crate::render::to_drf_json(&Metadata {
        name,
        description,
        renders: ["application/json", "text/html"],
        parses: PARSED_MEDIA_TYPES,
    }))
}

/// DRF's content negotiation on the original's chat routes, which it runs before anything
/// else (method, body): `?format=` (or a format suffix) naming no renderer is a `404`, an
/// `Accept` no renderer satisfies a `406`, and `Accept: application/json; indent=N` indents
/// the answer. Rivo has no browsable API: what would have been HTML is answered in JSON.
pub async fn negotiation<E: poem::Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    use poem::http::{HeaderValue, header};
    let Some((allow, suffix)) = original_route(req.uri().path()) else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let accept: Option<String> = {
        let values: Vec<&str> = req
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let format = suffix
        .map(str::to_owned)
        .or_else(|| last_query_value(&req, "format"));
    let indent = match drf::negotiate(accept.as_deref(), format.as_deref()) {
        Ok((_, indent)) => indent,
        Err(failure) => {
            let err = match failure {
                drf::NegotiationError::UnknownFormat => ApiError::NotFound,
                drf::NegotiationError::NotAcceptable => ApiError::Status(
                    StatusCode::NOT_ACCEPTABLE,
                    "Could not satisfy the request Accept header.".to_owned(),
                ),
            };
            let mut resp = poem::error::ResponseError::as_response(&err);
            // DRF's headers; the session was never read, so `Vary` has no `Cookie`.
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            resp.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept"));
            return Ok(resp);
        }
    };
    let resp = ep.call(req).await.map(IntoResponse::into_response)?;
    let Some(indent) = indent else {
        return Ok(resp);
    };
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_vec().await.map_err(|err| {
        tracing::error!(%err, "reading a response to indent it failed");
        ApiError::Internal
    })?;
    let mut resp =
        poem::Response::from_parts(parts, poem::Body::from(drf::reindent(&bytes, indent)));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(resp)
}

/// `/api/v1/chat/` (and its `.json` / `.api` suffixes): the original's API root, DRF's
/// `APIRootView` with no list routes — `{}` to `GET`, its description to `OPTIONS`, `405`
/// to anything else, with DRF's `Allow` and `Vary`.
#[poem::handler]
pub fn api_root(req: &Request) -> poem::Response {
    use poem::http::{HeaderValue, Method, header};
    let allow = ORIGINAL_ROUTES[0].1;
    let mut resp = match *req.method() {
        Method::GET | Method::HEAD => crate::render::json_response(StatusCode::OK, b"{}".to_vec()),
        Method::OPTIONS => crate::render::json_response(
            StatusCode::OK,
            original_options_body("/api/v1/chat/").unwrap_or_default(),
        ),
        ref other => poem::error::ResponseError::as_response(&ApiError::MethodNotAllowed {
            method: other.as_str().to_owned(),
            allow: allow.to_owned(),
        }),
    };
    let headers = resp.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    headers.insert(header::VARY, HeaderValue::from_static("Accept, Cookie"));
    resp
}
