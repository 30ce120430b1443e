//! The Django REST framework conventions of every API operation, read from the OpenAPI
//! metadata: trailing slashes, `405` with `Allow`, `OPTIONS` descriptions.

use std::sync::Arc;

use poem::{
    Endpoint, Request,
    error::ResponseError,
    http::{HeaderValue, Method, StatusCode, Uri, header},
};
use poem_openapi::registry::MetaApi;
use serde::Serialize;

use super::{API_PREFIX, MiddlewareFuture, respond};
use crate::error::ApiError;
use crate::render::{json_response, to_drf_json};

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
    with_path(uri, &path)
}

/// `/api/v1/chat/stream` → `/api/v1/chat/stream/` (query kept); `None` when nothing changes.
fn with_trailing_slash(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or_default();
    if !path.starts_with(API_PREFIX) || path.ends_with('/') || last.contains('.') {
        return None;
    }
    with_path(uri, &format!("{path}/"))
}

/// The URI with `path` in place of its path, its query kept.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
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
