//! Request bodies of the account and admin routes: JSON objects read field by field, so every
//! wrong field is reported at once in Django REST framework's shape (`{"field": ["…"]}`).

use std::collections::BTreeSet;
use std::marker::PhantomData;

use poem_openapi::{ApiExtractor, types::Type};
use rivo_core::{Permission, Rule};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};

/// A JSON object body documented in the spec as `T`. Read its fields with the typed getters;
/// they record DRF-style errors, which [`JsonBody::finish`] returns all together.
pub struct JsonBody<T> {
    map: Map<String, Value>,
    errors: FieldErrors,
    _schema: PhantomData<T>,
}

impl<T> JsonBody<T> {
    /// A body from an already parsed object (for tests and internal callers).
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: FieldErrors::default(),
            _schema: PhantomData,
        }
    }

    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(field, message.into());
    }

    /// Whether the field was sent (even as `null`).
    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field)
    }

    /// A field as sent, unchecked.
    pub fn raw(&mut self, field: &str) -> Option<Value> {
        self.take(field)
    }

    /// A required string (numbers are taken as text, like DRF's `CharField`).
    pub fn string(&mut self, field: &str) -> Option<String> {
        match self.take(field) {
            None => {
                self.error(field, Rule::Required.to_string());
                None
            }
            Some(value) => self.as_string(field, value),
        }
    }

    /// An optional string: `None` when absent.
    pub fn opt_string(&mut self, field: &str) -> Option<String> {
        let value = self.take(field)?;
        self.as_string(field, value)
    }

    fn as_string(&mut self, field: &str, value: Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Null => {
                self.error(field, Rule::Null.to_string());
                None
            }
            _ => {
                self.error(field, "Not a valid string.");
                None
            }
        }
    }

    /// An optional boolean: `None` when absent.
    pub fn opt_bool(&mut self, field: &str) -> Option<bool> {
        match self.take(field)? {
            Value::Bool(b) => Some(b),
            Value::String(s) if matches!(s.as_str(), "true" | "True" | "1") => Some(true),
            Value::String(s) if matches!(s.as_str(), "false" | "False" | "0") => Some(false),
            _ => {
                self.error(field, "Must be a valid boolean.");
                None
            }
        }
    }

    fn as_id(&mut self, field: &str, value: Value) -> Option<i64> {
        let id = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if id.is_none() {
            self.error(
                field,
                format!(
                    "Incorrect type. Expected pk value, received {}.",
                    type_name(&value)
                ),
            );
        }
        id
    }

    /// A required id of another object.
    pub fn id(&mut self, field: &str) -> Option<i64> {
        match self.take(field) {
            None => {
                self.error(field, Rule::Required.to_string());
                None
            }
            Some(Value::Null) => {
                self.error(field, Rule::Null.to_string());
                None
            }
            Some(value) => self.as_id(field, value),
        }
    }

    /// An optional, nullable id: `None` when absent, `Some(None)` for `null`.
    pub fn opt_nullable_id(&mut self, field: &str) -> Option<Option<i64>> {
        match self.take(field)? {
            Value::Null => Some(None),
            value => self.as_id(field, value).map(Some),
        }
    }

    /// An optional list of permission codenames.
    pub fn opt_permissions(&mut self, field: &str) -> Option<BTreeSet<Permission>> {
        let value = self.take(field)?;
        let Value::Array(items) = value else {
            self.error(
                field,
                format!(
                    "Expected a list of items but got type \"{}\".",
                    type_name(&value)
                ),
            );
            return None;
        };
        let mut set = BTreeSet::new();
        let mut ok = true;
        for item in items {
            match item.as_str().map(str::parse::<Permission>) {
                Some(Ok(p)) => {
                    set.insert(p);
                }
                Some(Err(rule)) => {
                    self.error(field, rule.to_string());
                    ok = false;
                }
                None => {
                    self.error(field, "Not a valid string.");
                    ok = false;
                }
            }
        }
        ok.then_some(set)
    }

    /// An optional JSON object.
    pub fn opt_object(&mut self, field: &str) -> Option<Map<String, Value>> {
        match self.take(field)? {
            Value::Object(map) => Some(map),
            _ => {
                self.error(field, Rule::NotAnObject.to_string());
                None
            }
        }
    }

    /// An optional, nullable UUID (any spelling Python accepts).
    pub fn opt_nullable_session(&mut self, field: &str) -> Option<Option<rivo_core::SessionId>> {
        match self.take(field)? {
            Value::Null => Some(None),
            Value::String(s) if s.is_empty() => Some(None),
            Value::String(s) => match s.parse() {
                Ok(id) => Some(Some(id)),
                Err(rule) => {
                    self.error(field, Rule::to_string(&rule));
                    None
                }
            },
            _ => {
                self.error(field, Rule::InvalidUuid.to_string());
                None
            }
        }
    }

    /// An optional choice parsed by `FromStr` with a [`Rule`] error (e.g. a stage).
    pub fn opt_choice<C: std::str::FromStr<Err = Rule>>(&mut self, field: &str) -> Option<C> {
        let text = self.opt_string(field)?;
        match text.parse() {
            Ok(choice) => Some(choice),
            Err(rule) => {
                self.error(field, rule.to_string());
                None
            }
        }
    }

    /// A required choice.
    pub fn choice<C: std::str::FromStr<Err = Rule>>(&mut self, field: &str) -> Option<C> {
        if !self.has(field) {
            self.error(field, Rule::Required.to_string());
            return None;
        }
        self.opt_choice(field)
    }

    /// A required list of event types (`message.created`, …); an unknown one is a field error.
    pub fn events(&mut self, field: &str) -> Option<Vec<rivo_core::events::EventKind>> {
        match self.take(field) {
            None => {
                self.error(field, Rule::Required.to_string());
                None
            }
            Some(Value::Array(items)) => {
                let mut kinds = Vec::new();
                for item in items {
                    match item
                        .as_str()
                        .map(str::parse::<rivo_core::events::EventKind>)
                    {
                        Some(Ok(kind)) => {
                            if !kinds.contains(&kind) {
                                kinds.push(kind);
                            }
                        }
                        Some(Err(e)) => self.error(field, e.to_string()),
                        None => self.error(field, "Expected a list of event type names."),
                    }
                }
                Some(kinds)
            }
            Some(other) => {
                self.error(
                    field,
                    format!(
                        "Expected a list of items but got type \"{}\".",
                        type_name(&other)
                    ),
                );
                None
            }
        }
    }

    /// The recorded errors, if any, as one `400`.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self.errors))
        }
    }
}

/// Python's name of a JSON value's type, as DRF's messages use.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// An [`ApiExtractor`] that reads the request body (within the server's body limit) and
/// parses it with `|request, bytes| …`; in the spec, a required body described as `$schema`
/// under each of `$content_types`, with an optional `$description`. Written inside the
/// extractor's `impl<'a> ApiExtractor<'a>`.
macro_rules! body_extractor {
    (
        $schema:ty, $description:expr, $content_types:expr,
        |$request:ident, $bytes:ident| $parse:expr
    ) => {
        const TYPES: &'static [poem_openapi::ApiExtractorType] =
            &[poem_openapi::ApiExtractorType::RequestObject];
        type ParamType = ();
        type ParamRawType = ();

        fn register(registry: &mut poem_openapi::registry::Registry) {
            <$schema as poem_openapi::types::Type>::register(registry);
        }

        fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
            Some(poem_openapi::registry::MetaRequest {
                description: $description,
                content: $content_types
                    .iter()
                    .map(|content_type| poem_openapi::registry::MetaMediaType {
                        content_type,
                        schema: <$schema as poem_openapi::types::Type>::schema_ref(),
                    })
                    .collect(),
                required: true,
            })
        }

        async fn from_request(
            $request: &'a poem::Request,
            body: &mut poem::RequestBody,
            _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
        ) -> poem::Result<Self> {
            let $bytes = $crate::chat::BodyLimit::read($request, body).await?;
            Ok($parse?)
        }
    };
}
pub(crate) use body_extractor;

impl<T> JsonBody<T> {
    /// A JSON object body: `415` for another content type, `400` for malformed JSON or a value
    /// that is not an object. An empty body is an empty object.
    fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.is_empty() {
            return Ok(Self::from_map(Map::new()));
        }
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase());
        if essence.as_deref() != Some("application/json") {
            return Err(ApiError::UnsupportedMediaType(
                content_type.unwrap_or_default().to_owned(),
            ));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|err| ApiError::BadRequest(format!("JSON parse error - {err}")))?;
        match value {
            Value::Object(map) => Ok(Self::from_map(map)),
            other => Err(ApiError::field(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    type_name(&other)
                ),
            )),
        }
    }
}

impl<'a, T: Type + Send> ApiExtractor<'a> for JsonBody<T> {
    body_extractor!(T, None, ["application/json"], |request, bytes| {
        Self::parse(request.content_type(), &bytes)
    });
}
