//! Cross-cutting HTTP behaviour: request ids and logs, security headers, the `ALLOWED_HOSTS`
//! check, CORS for the chat widget, and the Django REST framework conventions of the API
//! (trailing slashes, `405` with `Allow`, `OPTIONS`, JSON `404`).

use std::sync::Arc;
use std::time::Instant;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{HeaderValue, Method, StatusCode, Uri, header},
};
use poem_openapi::registry::MetaApi;
use serde::Serialize;
use tracing::Instrument;

use crate::config::Config;
use crate::error::ApiError;
use crate::render::{json_response, to_drf_json};

/// Header carrying the request id, taken from the request when sane, otherwise generated.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Paths under this prefix follow DRF's trailing-slash convention.
pub const API_PREFIX: &str = "/api/";

/// Paths that answer whatever the Host header (load balancer and orchestrator probes, and the
/// Prometheus scrape).
/// `/metrics` too: Prometheus scrapes by address, and the endpoint has its own protection.
const PROBE_PATHS: [&str; 3] = ["/healthz", "/readyz", crate::observability::METRICS_PATH];

fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Turns the result of an inner endpoint into a response, with JSON bodies for routing errors.
async fn respond<E: Endpoint>(ep: &E, req: Request) -> Response {
    let method = req.method().clone();
    match ep.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) if err.is::<NotFoundError>() => ApiError::NotFound.as_response(),
        Err(err) if err.is::<MethodNotAllowedError>() => ApiError::MethodNotAllowed {
            method: method.as_str().to_owned(),
            allow: String::new(),
        }
        .as_response(),
        Err(err) if err.is::<ApiError>() => err.into_response(),
        // No security scheme matched: no credentials were sent.
        Err(err) if err.is::<poem_openapi::error::AuthorizationError>() => {
            ApiError::NotAuthenticated.as_response()
        }
        // Any other error (e.g. a malformed query or path parameter) gets a JSON body too.
        Err(err) => {
            let status = err.status();
            if status.is_server_error() {
                tracing::error!(%err, "unhandled error");
                ApiError::Internal.as_response()
            } else {
                ApiError::Status(status, err.to_string()).as_response()
            }
        }
    }
}

/// The bounded label of a request that is no API operation (never the raw path).
fn route_label(path: &str) -> (&'static str, &'static str) {
    use crate::app::{DOCS_PATH, SPEC_PATH};
    match path {
        "/healthz" => ("healthz", "/healthz"),
        "/readyz" => ("readyz", "/readyz"),
        crate::observability::METRICS_PATH => ("metrics", crate::observability::METRICS_PATH),
        SPEC_PATH => ("openapi_json", SPEC_PATH),
        "/api/v1/chat/" | "/api/v1/chat" => ("chat_api_root", "/api/v1/chat/"),
        _ if path.starts_with(DOCS_PATH.trim_end_matches('/')) => ("api_docs", DOCS_PATH),
        _ if path.starts_with(crate::admin_ui::ADMIN_PATH) => {
            ("admin_ui", crate::admin_ui::ADMIN_PATH)
        }
        _ => ("unmatched", "unmatched"),
    }
}

/// Outermost layer: assigns a request id (echoed in `X-Request-Id`; the trace id when traces
/// are exported), runs the request in a `request` span named after its operation, logs one
/// line per request with status and latency, and (with metrics on) counts it.
///
/// The span carries only the method, the route template and the operation (no raw path, no
/// query, no header): it is exported when tracing is on. The raw path is in the log line only.
pub fn request_log<E: Endpoint + 'static>(
    conventions: ApiConventions,
    metrics: bool,
) -> impl Fn(Arc<E>, Request) -> MiddlewareFuture + Send + Sync + 'static {
    let conventions = Arc::new(conventions);
    move |ep, req| {
        let conventions = conventions.clone();
        Box::pin(async move {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let (operation, route) = match conventions.operation(&path, &method) {
                Some((operation, template)) => (operation, template),
                None => {
                    let (operation, route) = route_label(&path);
                    (operation, Arc::from(route))
                }
            };
            let span = tracing::info_span!(
                "request",
                id = tracing::field::Empty,
                otel.name = %format_args!("{} {}", method, operation),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                http.request.method = %method,
                http.route = %route,
                rivo.operation = operation,
                http.response.status_code = tracing::field::Empty,
            );
            let trace_id = crate::telemetry::adopt_trace(&span, req.headers());
            let upstream_id = req
                .header(REQUEST_ID_HEADER)
                .filter(|id| valid_request_id(id))
                .map(str::to_owned);
            let request_id = match (&trace_id, &upstream_id) {
                (Some(trace_id), _) => trace_id.clone(),
                (None, Some(id)) => id.clone(),
                (None, None) => uuid::Uuid::new_v4().to_string(),
            };
            span.record("id", request_id.as_str());
            let _in_flight = metrics.then(crate::observability::RequestInFlight::enter);
            let started = Instant::now();
            let mut resp = respond(ep.as_ref(), req).instrument(span.clone()).await;
            let status = resp.status().as_u16();
            let elapsed = started.elapsed();
            let latency_us = elapsed.as_micros() as u64;
            span.record("http.response.status_code", status);
            if status >= 500 {
                span.record("otel.status_code", "ERROR");
            }
            span.in_scope(|| {
                // A client's own X-Request-Id, when the trace id replaced it.
                let upstream = upstream_id.as_deref().filter(|_| trace_id.is_some());
                if status >= 500 {
                    tracing::warn!(status, latency_us, path = %path, upstream, "request failed");
                } else {
                    tracing::info!(status, latency_us, path = %path, upstream, "request");
                }
            });
            if metrics {
                crate::observability::record_request(operation, status, elapsed);
            }
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(resp)
        })
    }
}

/// The headers Django's middleware set on every response.
pub async fn security_headers<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let mut resp = respond(ep.as_ref(), req).await;
    let headers = resp.headers_mut();
    for (name, value) in [
        ("x-frame-options", "SAMEORIGIN"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    Ok(resp)
}

/// Rejects requests whose Host is not in `ALLOWED_HOSTS` with a 400 JSON body.
pub fn host_check<E: Endpoint + 'static>(
    config: Arc<Config>,
) -> impl Fn(Arc<E>, Request) -> MiddlewareFuture + Send + Sync + 'static {
    move |ep, req| {
        let config = config.clone();
        Box::pin(async move {
            if !PROBE_PATHS.contains(&req.uri().path()) {
                // Two Host headers: which one a proxy or a link builder reads differs, so
                // neither is trusted.
                if req.headers().get_all(header::HOST).iter().count() > 1 {
                    tracing::warn!("request with several Host headers refused");
                    return Ok(ApiError::BadRequest(
                        "Invalid HTTP_HOST header: several Host headers were sent.".into(),
                    )
                    .as_response());
                }
                let host = match req.headers().get(header::HOST) {
                    Some(value) => Some(value.to_str().unwrap_or_default().to_owned()),
                    None => req.uri().authority().map(|a| a.to_string()),
                };
                // No Host at all (HTTP/1.0): nothing forged to check, answered like the
                // original (which checks its own bind address, allowed by its default `*`).
                let Some(host) = host else {
                    return Ok(respond(ep.as_ref(), req).await);
                };
                if !host.is_empty() && crate::config::host_domain(&host).is_none() {
                    tracing::warn!(host = %host.escape_debug(), "Host with invalid syntax");
                    return Ok(ApiError::BadRequest(format!(
                        "Invalid HTTP_HOST header: '{host}'. The domain name provided is not \
                         valid according to RFC 1034/1035."
                    ))
                    .as_response());
                }
                if !config.host_allowed(&host) {
                    tracing::warn!(host = %host.escape_debug(), "Host not in ALLOWED_HOSTS");
                    return Ok(ApiError::InvalidHost(host).as_response());
                }
            }
            Ok(respond(ep.as_ref(), req).await)
        })
    }
}

/// Answers `503` (JSON) to a request still unanswered after `limit`, e.g. because the database
/// stopped answering a query already sent (a network partition), which no pool timeout covers.
/// Dropping the request's future rolls back its open transaction. A zero `limit` turns it off.
pub fn request_timeout<E: Endpoint + 'static>(
    limit: std::time::Duration,
) -> impl Fn(Arc<E>, Request) -> MiddlewareFuture + Send + Sync + 'static {
    move |ep, req| {
        Box::pin(async move {
            if limit.is_zero() {
                return Ok(respond(ep.as_ref(), req).await);
            }
            match tokio::time::timeout(limit, respond(ep.as_ref(), req)).await {
                Ok(resp) => Ok(resp),
                Err(_) => {
                    tracing::error!(
                        timeout_s = limit.as_secs(),
                        "request timed out (RIVO_REQUEST_TIMEOUT_SECS)"
                    );
                    Ok(ApiError::Unavailable.as_response())
                }
            }
        })
    }
}

/// The future of the configurable middleware functions.
pub type MiddlewareFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = poem::Result<Response>> + Send + 'static>>;

/// CORS for the chat API: only origins in `CORS_ALLOWED_ORIGINS` (or any, with `*`) get
/// `Access-Control-Allow-Origin`; preflight requests from them are answered here. Requests from
/// other origins pass through without CORS headers, so browsers block them.
pub fn cors<E: Endpoint + 'static>(
    origins: Arc<Vec<String>>,
    scope: &'static str,
) -> impl Fn(Arc<E>, Request) -> MiddlewareFuture + Send + Sync + 'static {
    move |ep, req| {
        let origins = origins.clone();
        Box::pin(async move {
            let allowed = req
                .header(header::ORIGIN)
                .filter(|origin| {
                    req.uri().path().starts_with(scope)
                        && origins.iter().any(|o| o == "*" || o == origin)
                })
                .and_then(|origin| HeaderValue::from_str(origin).ok());
            let Some(origin) = allowed else {
                return Ok(respond(ep.as_ref(), req).await);
            };
            if req.method() == Method::OPTIONS
                && req
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            {
                let mut resp = Response::builder()
                    .status(StatusCode::OK)
                    .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
                    .header(
                        header::ACCESS_CONTROL_ALLOW_METHODS,
                        "GET, HEAD, POST, OPTIONS",
                    )
                    .header(
                        header::ACCESS_CONTROL_ALLOW_HEADERS,
                        "accept, accept-encoding, authorization, content-type, dnt, origin, \
                         user-agent, x-csrftoken, x-requested-with, x-request-id",
                    )
                    .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
                    .body(());
                resp.headers_mut()
                    .append(header::VARY, HeaderValue::from_static("Origin"));
                return Ok(resp);
            }
            let mut resp = respond(ep.as_ref(), req).await;
            let headers = resp.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
            Ok(resp)
        })
    }
}

/// One API path and what it answers to, from the OpenAPI metadata.
#[derive(Debug, Clone)]
struct ApiRoute {
    segments: Vec<String>,
    /// Whether the route is registered with a trailing slash (paths with parameters cannot be).
    slash: bool,
    methods: Vec<Method>,
    /// The operation id of each method (metrics labels and span names).
    operation_ids: Vec<(Method, &'static str)>,
    /// The path as the spec spells it, e.g. `/api/v1/admin/chat/messages/{id}`.
    template: Arc<str>,
    allow: String,
    options_body: Vec<u8>,
}

impl ApiRoute {
    fn matches(&self, path: &str) -> bool {
        let mut parts = path.trim_matches('/').split('/');
        let all_match = self.segments.iter().all(|seg| match parts.next() {
            Some(part) => (seg.starts_with('{') && !part.is_empty()) || seg == part,
            None => false,
        });
        all_match && parts.next().is_none()
    }

    fn allows(&self, method: &Method) -> bool {
        self.methods.contains(method)
            || (method == Method::HEAD && self.methods.contains(&Method::GET))
    }
}

/// What DRF answered to `OPTIONS`: a description of the endpoint.
#[derive(Serialize)]
struct OptionsBody<'a> {
    name: &'a str,
    description: &'a str,
    renders: [&'a str; 1],
    parses: [&'a str; 3],
}

/// The DRF conventions of every API operation, derived from the OpenAPI metadata so that new
/// `#[OpenApi]` structs get them for free:
///
/// - a path under `/api/` without its trailing slash (and without a `.` in its last segment) is
///   served as if it had one;
/// - a method the path does not support gets `405 {"detail": "Method \"X\" not allowed."}` with
///   `Allow` (in DRF's order, `HEAD` with `GET`, always `OPTIONS`);
/// - `OPTIONS` gets `200` with a description of the endpoint and `Allow`;
/// - responses get `Vary: Accept, Cookie` like the original's.
#[derive(Debug, Clone)]
pub struct ApiConventions {
    routes: Arc<Vec<ApiRoute>>,
}

impl ApiConventions {
    /// Reads the paths and methods of `meta` (from `<T as OpenApi>::meta()`).
    pub fn new(meta: Vec<MetaApi>) -> Self {
        let mut routes: Vec<ApiRoute> = Vec::new();
        for path in meta.into_iter().flat_map(|api| api.paths) {
            let segments: Vec<String> = path
                .path
                .trim_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect();
            let route = match routes.iter_mut().position(|r| r.segments == segments) {
                Some(i) => &mut routes[i],
                None => {
                    routes.push(ApiRoute {
                        segments,
                        slash: path.path.ends_with('/'),
                        methods: Vec::new(),
                        operation_ids: Vec::new(),
                        template: Arc::from(path.path.as_str()),
                        allow: String::new(),
                        options_body: Vec::new(),
                    });
                    let last = routes.len() - 1;
                    &mut routes[last]
                }
            };
            for op in &path.operations {
                route.methods.push(op.method.clone());
                if let Some(id) = op.operation_id {
                    route.operation_ids.push((op.method.clone(), id));
                }
                if route.options_body.is_empty() {
                    // The original's chat routes answer its own description, byte for byte.
                    if let Some(body) = crate::chat::original_options_body(&path.path) {
                        route.options_body = body;
                        continue;
                    }
                    route.options_body = to_drf_json(&OptionsBody {
                        name: op.summary.unwrap_or_default(),
                        description: op.description.unwrap_or_default(),
                        renders: ["application/json"],
                        parses: [
                            "application/json",
                            "application/x-www-form-urlencoded",
                            "multipart/form-data",
                        ],
                    });
                }
            }
        }
        for route in &mut routes {
            let mut allow: Vec<&str> = [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ]
            .iter()
            .filter(|m| route.methods.contains(m))
            .map(Method::as_str)
            .collect();
            if route.allows(&Method::HEAD) {
                allow.push("HEAD");
            }
            allow.push("OPTIONS");
            route.allow = allow.join(", ");
        }
        Self {
            routes: Arc::new(routes),
        }
    }

    /// The route of `path`; literal segments win over parameters
    /// (`messages/bulk-delete` over `messages/{id}`).
    fn route(&self, path: &str) -> Option<&ApiRoute> {
        self.routes
            .iter()
            .filter(|r| r.matches(path))
            .max_by_key(|r| r.segments.iter().filter(|s| !s.starts_with('{')).count())
    }

    /// The bounded name of what a request asks for, for metrics labels and span names: the
    /// OpenAPI operation id of an API path (`HEAD` counts as `GET`), `options` and
    /// `method_not_allowed` for what the conventions answer themselves, or `None` for a path
    /// that is no API operation. Never a piece of the raw path. Also the route template.
    pub fn operation(&self, path: &str, method: &Method) -> Option<(&'static str, Arc<str>)> {
        let route = self.route(path)?;
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let name = if method == Method::OPTIONS {
            "options"
        } else {
            route
                .operation_ids
                .iter()
                .find(|(m, _)| m == method)
                .map_or("method_not_allowed", |(_, id)| *id)
        };
        Some((name, route.template.clone()))
    }

    /// The middleware function, for `EndpointExt::around`.
    pub fn layer<E: Endpoint + 'static>(
        self,
    ) -> impl Fn(Arc<E>, Request) -> MiddlewareFuture + Send + Sync + 'static {
        move |ep, mut req| {
            let this = self.clone();
            Box::pin(async move {
                let found = this.route(req.uri().path());
                // Serve both spellings of an API path: with and without its trailing slash.
                let respelled = match found {
                    Some(route) => respell(req.uri(), route.slash),
                    None => with_trailing_slash(req.uri()),
                };
                if let Some(uri) = respelled {
                    *req.uri_mut() = uri;
                }
                let Some(route) = found else {
                    return Ok(respond(ep.as_ref(), req).await);
                };
                let mut resp = if req.method() == Method::OPTIONS {
                    json_response(StatusCode::OK, route.options_body.clone())
                } else if !route.allows(req.method()) {
                    ApiError::MethodNotAllowed {
                        method: req.method().as_str().to_owned(),
                        allow: route.allow.clone(),
                    }
                    .as_response()
                } else {
                    respond(ep.as_ref(), req).await
                };
                let headers = resp.headers_mut();
                if !headers.contains_key(header::ALLOW)
                    && let Ok(allow) = HeaderValue::from_str(&route.allow)
                {
                    headers.insert(header::ALLOW, allow);
                }
                if !headers.contains_key(header::VARY) {
                    headers.insert(header::VARY, HeaderValue::from_static("Accept, Cookie"));
                }
                Ok(resp)
            })
        }
    }
}

/// The URI with its path ending in a slash or not, as `slash` says (query kept); `None` when
/// nothing changes.
fn respell(uri: &Uri, slash: bool) -> Option<Uri> {
    let path = uri.path();
    if path.ends_with('/') == slash || path == "/" {
        return None;
    }
    let path = if slash {
        format!("{path}/")
    } else {
        path.trim_end_matches('/').to_owned()
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).ok()
}

/// `/api/v1/chat/stream` → `/api/v1/chat/stream/` (query kept); `None` when nothing changes.
fn with_trailing_slash(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or_default();
    if !path.starts_with(API_PREFIX) || path.ends_with('/') || last.contains('.') {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}/?{query}"),
        None => format!("{path}/"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_trailing_slash_to_api_paths_only() {
        let uri: Uri = "/api/v1/chat/history?session_id=x"
            .parse()
            .unwrap_or_default();
        assert_eq!(
            with_trailing_slash(&uri).map(|u| u.to_string()),
            Some("/api/v1/chat/history/?session_id=x".to_owned())
        );
        for unchanged in ["/api/v1/chat/stream/", "/api/v1/openapi.json", "/healthz"] {
            let uri: Uri = unchanged.parse().unwrap_or_default();
            assert_eq!(with_trailing_slash(&uri), None, "{unchanged}");
        }
    }
}
