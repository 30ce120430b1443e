//! `POST /api/v1/chat/stream/`'s body: read as DRF's parsers read JSON and forms, then
//! validated as the original serializer validated it.

use poem::{Request, RequestBody};
use poem_openapi::ApiExtractor;
use rivo_core::chat::DataType;
use rivo_core::{SenderType, SessionId};
use uuid::Uuid;

use super::bodies::SendMessageRequest;
use super::drf;
use crate::admin::input::body_extractor;
use crate::config::ChatCompat;
use crate::error::ApiError;
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

    /// A DRF `ChoiceField`: the default when missing, else the choice the text names; any
    /// other value is an invalid choice, quoted as Python's `str()` of it.
    fn choice<T: Default + std::str::FromStr<Err = rivo_core::Rule>>(
        &self,
    ) -> Result<T, rivo_core::Rule> {
        use rivo_core::Rule;
        match self {
            RawField::Missing => Ok(T::default()),
            RawField::Null => Err(Rule::Null),
            RawField::Text(s) => s.parse::<T>(),
            RawField::Number(n) => Err(Rule::InvalidChoice {
                value: n.to_string(),
            }),
            RawField::Bool(b) => Err(Rule::InvalidChoice {
                value: if *b { "True" } else { "False" }.to_owned(),
            }),
            RawField::Other(text) => Err(Rule::InvalidChoice {
                value: text.clone(),
            }),
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

impl BodyLimit {
    /// Reads `body` up to the request's limit (8 MiB when the app set none): a larger body is
    /// a `413`, a broken one a `400`.
    pub async fn read(request: &Request, body: &mut RequestBody) -> poem::Result<Vec<u8>> {
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
        Ok(bytes.into())
    }
}

pub(super) const PARSED_MEDIA_TYPES: [&str; 3] = [
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
        let sender = errors.check("sender_type", self.sender_type.choice::<SenderType>());
        let data_type = match compat {
            ChatCompat::Original => Some(DataType::Message),
            ChatCompat::LeadCapture => {
                errors.check("data_type", self.data_type.choice::<DataType>())
            }
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
pub(super) async fn off_runtime_if_large<T: Send + 'static>(
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
    body_extractor!(
        SendMessageRequest,
        Some(
            "The message. The same fields are accepted as JSON, URL-encoded form or \
             multipart form."
        ),
        PARSED_MEDIA_TYPES,
        |request, bytes| Self::parse(request, request.content_type(), bytes).await
    );
}
