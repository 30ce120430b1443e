//! Cross-cutting HTTP behaviour: request ids and logs, security headers, the `ALLOWED_HOSTS`
//! check, CORS for the chat widget, and the Django REST framework conventions of the API
//! (trailing slashes, `405` with `Allow`, `OPTIONS`, JSON `404`).

use std::sync::Arc;
use std::time::Instant;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{HeaderValue, Method, StatusCode, header},
};
use tracing::Instrument;

use crate::config::Config;
use crate::error::ApiError;

mod conventions;

pub use conventions::ApiConventions;

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
                    // django-cors-headers' default allow-list, as the original answered
                    // (wire contract); `x-csrftoken` there is Django's CSRF header, which is
                    // also `rivo_core::admin::CSRF_HEADER`.
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
