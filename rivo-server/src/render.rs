//! JSON output byte-compatible with Django REST framework's `JSONRenderer`: compact, keys in
//! declaration order, U+2028/U+2029 escaped, datetimes as `2026-11-25T00:57:13.952520Z`.

use std::io;

use chrono::{DateTime, Datelike, Timelike, Utc};
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
        // Both characters start with the byte 0xE2; most text has none (a memchr scan).
        if !fragment.as_bytes().contains(&0xE2) {
            return writer.write_all(fragment.as_bytes());
        }
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
    let mut buf = [0u8; DRF_DATETIME_MAX];
    match format_drf_datetime(at, &mut buf) {
        Some(text) => text.to_owned(),
        None => drf_datetime_general(at),
    }
}

/// Longest [`drf_datetime`] of a four-digit year: `2026-11-25T00:57:13.952520Z`.
const DRF_DATETIME_MAX: usize = 27;

/// [`drf_datetime`] into a stack buffer, without allocating or parsing a format string (it runs
/// once per message of every history). `None` outside years 0–9999 and on leap seconds, which
/// take the general path.
fn format_drf_datetime<'a>(
    at: &DateTime<Utc>,
    buf: &'a mut [u8; DRF_DATETIME_MAX],
) -> Option<&'a str> {
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    fn digits(buf: &mut [u8], mut value: u32) {
        for slot in buf.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    digits(&mut buf[0..4], year);
    buf[4] = b'-';
    digits(&mut buf[5..7], at.month());
    buf[7] = b'-';
    digits(&mut buf[8..10], at.day());
    buf[10] = b'T';
    digits(&mut buf[11..13], at.hour());
    buf[13] = b':';
    digits(&mut buf[14..16], at.minute());
    buf[16] = b':';
    digits(&mut buf[17..19], at.second());
    let micros = nanos / 1_000;
    let len = if micros == 0 {
        buf[19] = b'Z';
        20
    } else {
        buf[19] = b'.';
        digits(&mut buf[20..26], micros);
        buf[26] = b'Z';
        27
    };
    std::str::from_utf8(&buf[..len]).ok()
}

fn drf_datetime_general(at: &DateTime<Utc>) -> String {
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
        let mut buf = [0u8; DRF_DATETIME_MAX];
        match format_drf_datetime(&self.0, &mut buf) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&drf_datetime_general(&self.0)),
        }
    }
}

/// The items of a hand-written poem-openapi [`Type`] whose value is always present and is its
/// own raw value and only element (a scalar, or an object serialised as a whole).
macro_rules! single_value_type {
    () => {
        const IS_REQUIRED: bool = true;
        type RawValueType = Self;
        type RawElementValueType = Self;

        fn as_raw_value(&self) -> Option<&Self::RawValueType> {
            Some(self)
        }

        fn raw_element_iter<'a>(
            &'a self,
        ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
            Box::new(std::iter::once(self))
        }
    };
}
pub(crate) use single_value_type;

impl Type for DrfDateTime {
    single_value_type!();

    fn name() -> std::borrow::Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        <DateTime<Utc> as Type>::schema_ref()
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

    #[test]
    fn fast_datetime_format_matches_the_general_one() {
        let mut micros: i64 = -62_135_596_800_000_000; // 0001-01-01
        while micros < 253_402_300_799_000_000 {
            // ..9999-12-31
            let at = DateTime::from_timestamp_micros(micros).unwrap_or_default();
            assert_eq!(drf_datetime(&at), drf_datetime_general(&at), "{micros}");
            micros += 7_777_777_777_777_777 / 1_000 + 123_457;
        }
        let far = DateTime::from_timestamp_micros(300_000_000_000_000_000).unwrap_or_default();
        assert_eq!(drf_datetime(&far), drf_datetime_general(&far));
        assert_eq!(
            String::from_utf8_lossy(&to_drf_json(&DrfDateTime(far))),
            format!("\"{}\"", drf_datetime_general(&far))
        );
    }
}
