//! The original's DRF behaviour around the chat routes: its API root, `OPTIONS` descriptions
//! and content negotiation.

use poem::{Request, http::StatusCode};
use serde::Serialize;

use super::api::last_query_value;
use super::drf;
use super::request::PARSED_MEDIA_TYPES;
use crate::error::ApiError;
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
