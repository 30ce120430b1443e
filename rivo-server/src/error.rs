//! The one place that turns errors into HTTP answers, in Django REST framework's shapes.
//!
//! | error | status | body |
//! | --- | --- | --- |
//! | [`rivo_core::Error::Validation`] | 400 | `{"<field>": ["<message>", …], …}` ([`FieldErrors`]) |
//! | malformed body | 400 | `{"detail": "JSON parse error - …"}` ([`ErrorDetail`]) |
//! | missing query parameter | 400 | `{"error": "session_id is required"}` ([`ErrorMessage`]) |
//! | [`rivo_core::Error::Authentication`], no credentials | 401 | `{"detail": …}` |
//! | wrong login | 401 | `{"error": "Invalid credentials"}` |
//! | missing permission, not staff, CSRF failure | 403 | `{"detail": …}` |
//! | page out of range | 404 | `{"detail": "Invalid page."}` |
//! | [`rivo_core::Error::NotFound`] | 404 | `{"detail": "Not found."}` (`{"error": "Not found"}` on `/api/v1/clients/…`) |
//! | wrong method | 405 | `{"detail": "Method \"GET\" not allowed."}` and `Allow` |
//! | [`rivo_core::Error::Conflict`] | 409 | `{"<field>": ["<message>"]}` |
//! | body too large | 413 | `{"detail": …}` |
//! | unsupported content type | 415 | `{"detail": "Unsupported media type \"…\" in request."}` |
//! | [`rivo_core::Error::Throttled`] | 429 | `{"detail": …}` and `Retry-After` |
//! | database unavailable | 503 | `{"detail": …}` |
//! | [`rivo_core::Error::Config`] (misconfigured: no retry helps; `serve` refuses to start) | 500 | `{"detail": "A server error occurred."}` |
//! | anything else | 500 | `{"detail": "A server error occurred."}` |

use std::borrow::Cow;
use std::marker::PhantomData;
use std::time::Duration;

use poem::{IntoResponse, Response, error::ResponseError, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use serde::{Serialize, ser::SerializeMap};

use crate::render::{json_response, single_value_type, to_drf_json};

/// `{"detail": "..."}`: DRF's body for errors that are not about one field.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(example)]
pub struct ErrorDetail {
    /// What went wrong, for humans.
    pub detail: String,
}

impl poem_openapi::types::Example for ErrorDetail {
    fn example() -> Self {
        Self {
            detail: "JSON parse error - expected value at line 1 column 1".to_owned(),
        }
    }
}

/// `{"error": "..."}`: the original's body for a missing query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(example)]
pub struct ErrorMessage {
    /// What went wrong, for humans.
    pub error: String,
}

impl poem_openapi::types::Example for ErrorMessage {
    fn example() -> Self {
        Self {
            error: "session_id is required".to_owned(),
        }
    }
}

/// `{"<field>": ["<message>", …], …}`: DRF's validation error body, one list of messages per
/// wrong field, fields in the order they were checked. Errors not about one field are listed
/// under `non_field_errors`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(String, Vec<String>)>);

impl FieldErrors {
    /// Adds `message` to `field`'s list, keeping first-seen field order.
    pub fn push(&mut self, field: &str, message: String) {
        match self.0.iter_mut().find(|(f, _)| f == field) {
            Some((_, messages)) => messages.push(message),
            None => self.0.push((field.to_owned(), vec![message])),
        }
    }

    /// One message for one field.
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.push(field, message.into());
        errors
    }
}

impl From<&rivo_core::ValidationErrors> for FieldErrors {
    fn from(errors: &rivo_core::ValidationErrors) -> Self {
        let mut out = Self::default();
        for (field, rule) in errors.iter() {
            out.push(field, rule.to_string());
        }
        out
    }
}

impl Serialize for FieldErrors {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (field, messages) in &self.0 {
            map.serialize_entry(field, messages)?;
        }
        map.end()
    }
}

impl Type for FieldErrors {
    single_value_type!();

    fn name() -> Cow<'static, str> {
        "FieldErrors".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
            String::register(registry);
            MetaSchema {
                description: Some(
                    "Validation errors: one list of messages per wrong field, in field order. \
                     Errors not about one field are under `non_field_errors`.",
                ),
                additional_properties: Some(Box::new(<Vec<String>>::schema_ref())),
                example: Some(serde_json::json!({
                    "session_id": ["Must be a valid UUID."],
                    "message": ["This field may not be blank."]
                })),
                ..MetaSchema::new("object")
            }
        });
    }
}

/// Every error an HTTP handler can answer with. See the module docs for the mapping.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with DRF's field map.
    #[error("invalid input")]
    Fields(FieldErrors),
    /// 400 `{"detail": …}` (e.g. malformed JSON).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400 `{"error": "<name> is required"}`.
    #[error("{0} is required")]
    MissingParameter(&'static str),
    /// 400 `{"error": "<name> required"}` (the later original's wording, `lead-capture`).
    #[error("{0} required")]
    MissingParameterShort(&'static str),
    /// 400: the Host header is not in `ALLOWED_HOSTS`.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// 401: credentials were given but are wrong, expired or revoked.
    #[error("not authenticated")]
    Unauthenticated,
    /// 401: no credentials at all.
    #[error("no credentials")]
    NotAuthenticated,
    /// 401 `{"error": "Invalid credentials"}`: a login with a wrong email or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 403 with the reason.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404 `{"detail": "Invalid page."}`.
    #[error("invalid page")]
    InvalidPage,
    /// Any other status with a `{"detail": …}` body (e.g. a malformed parameter).
    #[error("{1}")]
    Status(StatusCode, String),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 404 with the later original's `{"error": "Not found"}` (the `/api/v1/clients/` routes).
    #[error("not found")]
    NotFoundError,
    /// 405 with `Allow`.
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The `Allow` header value.
        allow: String,
    },
    /// 409 with DRF's field map.
    #[error("conflict on {0:?}")]
    Conflict(FieldErrors),
    /// 413.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// 429 with `Retry-After`.
    #[error("throttled")]
    Throttled(Duration),
    /// 503: the database is down or failing.
    #[error("service unavailable")]
    Unavailable,
    /// 500.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// 400 with one message for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Fields(FieldErrors::single(field, message))
    }

    /// `value` of `field` parsed; the rule it breaks is that field's error.
    pub fn parse_field<T: std::str::FromStr<Err = rivo_core::Rule>>(
        field: &str,
        value: &str,
    ) -> Result<T, Self> {
        value
            .parse()
            .map_err(|rule: rivo_core::Rule| Self::field(field, rule.to_string()))
    }

    fn detail(&self) -> Option<Cow<'static, str>> {
        Some(match self {
            ApiError::Fields(_)
            | ApiError::Conflict(_)
            | ApiError::MissingParameter(_)
            | ApiError::NotFoundError
            | ApiError::MissingParameterShort(_)
            | ApiError::InvalidCredentials => {
                return None;
            }
            ApiError::NotAuthenticated => "Authentication credentials were not provided.".into(),
            ApiError::Forbidden(reason) => (*reason).into(),
            ApiError::InvalidPage => "Invalid page.".into(),
            ApiError::Status(_, detail) => detail.clone().into(),
            ApiError::BadRequest(text) => text.clone().into(),
            ApiError::InvalidHost(host) => format!(
                "Invalid HTTP_HOST header: '{host}'. You may need to add '{host}' to ALLOWED_HOSTS."
            )
            .into(),
            ApiError::Unauthenticated => "Incorrect authentication credentials.".into(),
            ApiError::NotFound => "Not found.".into(),
            ApiError::MethodNotAllowed { method, .. } => {
                format!("Method \"{method}\" not allowed.").into()
            }
            ApiError::PayloadTooLarge { limit } => {
                format!("Request body is larger than the limit of {limit} bytes.").into()
            }
            ApiError::UnsupportedMediaType(media) => {
                format!("Unsupported media type \"{media}\" in request.").into()
            }
            ApiError::Throttled(retry) => format!(
                "Request was throttled. Expected available in {} seconds.",
                retry.as_secs().max(1)
            )
            .into(),
            ApiError::Unavailable => "Service temporarily unavailable, try again later.".into(),
            ApiError::Internal => "A server error occurred.".into(),
        })
    }
}

impl From<rivo_core::Error> for ApiError {
    fn from(err: rivo_core::Error) -> Self {
        use rivo_core::Error;
        match err {
            Error::Validation(errors) => ApiError::Fields((&errors).into()),
            Error::NotFound { .. } => ApiError::NotFound,
            Error::Conflict { field, message } => {
                ApiError::Conflict(FieldErrors::single(field, message))
            }
            Error::Authentication(reason) => {
                tracing::info!(?reason, "authentication failed");
                ApiError::Unauthenticated
            }
            Error::Throttled { retry_after } => ApiError::Throttled(retry_after),
            Error::PermissionDenied(reason) => ApiError::Forbidden(reason),
            Error::BotKeyRequired => ApiError::Forbidden(
                "Posting as bot requires the X-Rivo-Bot-Key header with the bot key.",
            ),
            Error::Config(_) => {
                tracing::error!(%err, "misconfigured");
                ApiError::Internal
            }
            err if err.is_unavailable() => {
                tracing::error!(%err, "database unavailable");
                ApiError::Unavailable
            }
            err => {
                tracing::error!(%err, "internal error");
                ApiError::Internal
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Fields(_)
            | ApiError::BadRequest(_)
            | ApiError::MissingParameter(_)
            | ApiError::MissingParameterShort(_)
            | ApiError::InvalidHost(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated
            | ApiError::NotAuthenticated
            | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::InvalidPage => StatusCode::NOT_FOUND,
            ApiError::Status(status, _) => *status,
            ApiError::NotFound | ApiError::NotFoundError => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        let body = match self {
            ApiError::Fields(errors) | ApiError::Conflict(errors) => to_drf_json(errors),
            ApiError::MissingParameter(name) => to_drf_json(&ErrorMessage {
                error: format!("{name} is required"),
            }),
            ApiError::MissingParameterShort(name) => to_drf_json(&ErrorMessage {
                error: format!("{name} required"),
            }),
            ApiError::InvalidCredentials => to_drf_json(&ErrorMessage {
                error: "Invalid credentials".to_owned(),
            }),
            ApiError::NotFoundError => to_drf_json(&ErrorMessage {
                error: "Not found".to_owned(),
            }),
            other => to_drf_json(&ErrorDetail {
                detail: other.detail().unwrap_or_default().into_owned(),
            }),
        };
        let mut response = json_response(self.status(), body);
        match self {
            ApiError::MethodNotAllowed { allow, .. } if !allow.is_empty() => {
                if let Ok(value) = allow.parse() {
                    response.headers_mut().insert("allow", value);
                }
            }
            ApiError::Throttled(retry) => {
                response
                    .headers_mut()
                    .insert("retry-after", retry.as_secs().max(1).into());
            }
            ApiError::NotAuthenticated | ApiError::Unauthenticated => {
                // DRF's TokenAuthentication answers 401 with this challenge.
                response.headers_mut().insert(
                    "www-authenticate",
                    poem::http::HeaderValue::from_static("Bearer realm=\"api\""),
                );
            }
            _ => {}
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.as_response()
    }
}

/// Documents, in the OpenAPI spec, which errors an operation answers with; at run time it is
/// just an [`ApiError`]. `S` lists the statuses.
#[derive(Debug)]
pub struct OpError<S>(pub ApiError, PhantomData<S>);

impl<S> From<ApiError> for OpError<S> {
    fn from(err: ApiError) -> Self {
        Self(err, PhantomData)
    }
}

impl<S> From<rivo_core::Error> for OpError<S> {
    fn from(err: rivo_core::Error) -> Self {
        Self(err.into(), PhantomData)
    }
}

impl<S> From<OpError<S>> for poem::Error {
    fn from(err: OpError<S>) -> Self {
        poem::Error::from(err.0)
    }
}

impl<S: Send> IntoResponse for OpError<S> {
    fn into_response(self) -> Response {
        self.0.as_response()
    }
}

/// The error statuses one operation documents.
pub trait ErrorSet: Send + Sync + 'static {
    /// `(status, description, body schema)` for each documented error.
    fn responses() -> Vec<(u16, &'static str, MetaSchemaRef)>;
    /// Registers the body schemas.
    fn register(registry: &mut Registry) {
        ErrorDetail::register(registry);
        ErrorMessage::register(registry);
        FieldErrors::register(registry);
    }
}

impl<S: ErrorSet> ApiResponse for OpError<S> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: S::responses()
                .into_iter()
                .map(|(status, description, schema)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json",
                        schema,
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        S::register(registry);
    }
}

/// A schema that is one of `refs`.
pub fn one_of(refs: Vec<MetaSchemaRef>) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        one_of: refs,
        ..MetaSchema::ANY
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivo_core::{Rule, ValidationErrors};

    #[test]
    fn validation_errors_keep_field_order_and_group_messages() {
        let mut errors = ValidationErrors::new();
        errors.add("session_id", Rule::InvalidUuid);
        errors.add("message", Rule::Blank);
        errors.add("session_id", Rule::Required);
        let body = to_drf_json(&FieldErrors::from(&errors));
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"session_id":["Must be a valid UUID.","This field is required."],"message":["This field may not be blank."]}"#
        );
    }

    #[test]
    fn method_not_allowed_has_allow_header() {
        let resp = ApiError::MethodNotAllowed {
            method: "GET".into(),
            allow: "POST, OPTIONS".into(),
        }
        .as_response();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some("POST, OPTIONS")
        );
    }
}
