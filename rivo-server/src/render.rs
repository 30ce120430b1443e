//! JSON output byte-compatible with Django REST framework's `JSONRenderer`: compact, keys in
//! declaration order, U+2028/U+2029 escaped, datetimes as `2026-11-25T00:57:13.952520Z`.

use std::io;

use chrono::{DateTime, Timelike, Utc};
use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde::{Serialize, Serializer};

/// Serialises `value` as DRF does: compact, with U+2028 and U+2029 escaped.
pub fn to_drf_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, DrfFormatter);
    if let Err(err) = value.serialize(&mut ser) {
        // Only possible for maps with non-string keys, which no response type has.
        tracing::error!(%err, "response serialisation failed");
        return br#"{"detail":"A server error occurred."}"#.to_vec();
    }
    out
}

/// serde_json's compact formatter, plus the two escapes Python's `json` leaves out but DRF adds.
struct DrfFormatter;

impl serde_json::ser::Formatter for DrfFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(pos) = rest.find(['\u{2028}', '\u{2029}']) {
            writer.write_all(&rest.as_bytes()[..pos])?;
            let escaped: &[u8] = if rest[pos..].starts_with('\u{2028}') {
                b"\\u2028"
            } else {
                b"\\u2029"
            };
            writer.write_all(escaped)?;
            // Both characters are three bytes long in UTF-8.
            rest = &rest[pos + 3..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// A datetime the way DRF's `DateTimeField` prints UTC: microseconds (omitted when zero) and `Z`.
pub fn drf_datetime(at: &DateTime<Utc>) -> String {
    let micros = at.nanosecond() / 1_000 % 1_000_000;
    if micros == 0 {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        format!("{}.{micros:06}Z", at.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// A UTC datetime that serialises (to JSON and in OpenAPI examples) like DRF: see
/// [`drf_datetime`]. Its schema is `string`/`date-time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrfDateTime(pub DateTime<Utc>);

impl Serialize for DrfDateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&drf_datetime(&self.0))
    }
}

impl Type for DrfDateTime {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        <DateTime<Utc> as Type>::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for DrfDateTime {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(drf_datetime(&self.0)))
    }
}

impl ParseFromJSON for DrfDateTime {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        <DateTime<Utc> as ParseFromJSON>::parse_from_json(value)
            .map(DrfDateTime)
            .map_err(ParseError::propagate)
    }
}

/// A JSON response body rendered like DRF (see [`to_drf_json`]); its OpenAPI schema is `T`'s.
#[derive(Debug, Clone)]
pub struct DrfJson<T>(pub T);

/// A response with a JSON body that is already rendered.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body)
}

impl<T: Type + Serialize> Payload for DrfJson<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for DrfJson<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, to_drf_json(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_and_paragraph_separators_only() {
        let out = to_drf_json(&serde_json::json!({"m": "a\u{2028}b\u{2029}c <😀/> \"\n"}));
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"m":"a\u2028b\u2029c <😀/> \"\n"}"#
        );
    }

    #[test]
    fn datetimes_have_microseconds_unless_zero() {
        let at = DateTime::from_timestamp_micros(1_764_032_233_952_520).unwrap_or_default();
        assert_eq!(drf_datetime(&at), "2025-11-25T00:57:13.952520Z");
        let at = DateTime::from_timestamp_micros(1_764_032_233_000_000).unwrap_or_default();
        assert_eq!(drf_datetime(&at), "2025-11-25T00:57:13Z");
        let at = DateTime::from_timestamp_micros(1_764_032_233_000_001).unwrap_or_default();
        assert_eq!(drf_datetime(&at), "2025-11-25T00:57:13.000001Z");
    }
}
