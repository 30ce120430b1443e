//! The router: every route, middleware and the OpenAPI service, built in one place.

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Response, Route, get, handler, http::StatusCode, web::Data};
use poem_openapi::{OpenApi, OpenApiService};
use rivo_core::Store;

use crate::account::AccountApi;
use crate::admin::{
    AdminAccountsApi, AdminChatApi, AdminClientsApi, AdminPrivacyApi, AdminResourceApis,
    AdminWebhooksApi,
};
use crate::chat::{self, BodyLimit, ChatApis};
use crate::clients_api::{AdminSummariesApi, ClientsApi};
use crate::config::Config;
use crate::error::ApiError;
use crate::events::{AdminEventsApi, ChatEventsApi, EventStreams};
use crate::middleware::{self, ApiConventions};
use crate::render::json_response;

/// Every `#[OpenApi]` struct of the server (each a `Default` unit struct, so the tuple is
/// `Apis::default()`). An API added to this tuple gets the spec, the routes and the DRF
/// conventions with no other change.
pub type Apis = (
    ChatApis,
    AccountApi,
    AdminAccountsApi,
    AdminChatApi,
    AdminClientsApi,
    AdminResourceApis,
    AdminPrivacyApi,
    ChatEventsApi,
    AdminEventsApi,
    AdminWebhooksApi,
    ClientsApi,
    AdminSummariesApi,
);

/// Path of the generated spec.
pub const SPEC_PATH: &str = "/api/v1/openapi.json";
/// Path of the interactive API viewer.
pub const DOCS_PATH: &str = "/api/docs/";

/// The OpenAPI service of every API operation (paths are absolute, e.g. `/api/v1/chat/stream/`).
pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "Rivo API", env!("CARGO_PKG_VERSION"))
        .description(
            "The HTTP API of Rivo. The chat routes are wire-compatible with the original \
             Django REST framework server: DRF-shaped errors, trailing slashes optional, JSON, \
             URL-encoded and multipart bodies.",
        )
        .license(poem_openapi::LicenseObject::new("MIT OR Apache-2.0"))
}

/// The OpenAPI document (JSON) the server serves at `/api/v1/openapi.json` and
/// `rivo-server openapi` prints; `openapi.json` at the repository root is a copy of it.
///
/// Every path is spelled with its trailing slash, Django's convention (poem-openapi cannot
/// register a path parameter followed by a slash; the server answers both spellings).
pub fn openapi_json() -> String {
    let spec = api_service().spec();
    // Merging: a path served by two APIs (a generated list/read/delete and hand-written
    // writes) is written twice by poem-openapi, once per API.
    let Ok(mut doc) = crate::spec::parse_merging_duplicates(&spec) else {
        return spec;
    };
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        let respelled: serde_json::Map<String, serde_json::Value> = std::mem::take(paths)
            .into_iter()
            .map(|(path, item)| {
                let path = if path.ends_with('/') {
                    path
                } else {
                    format!("{path}/")
                };
                (path, item)
            })
            .collect();
        *paths = respelled;
    }
    crate::events::describe_event_streams(&mut doc);
    crate::spec::tidy_for_sdks(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or(spec)
}

/// The whole server as one endpoint, for `poem::Server` or `poem::test::TestClient`, or to be
/// nested in another poem app under a path prefix with
/// `Route::new().nest("/prefix", rivo_server::app(..))` (`nest` strips the prefix, so Rivo's
/// routes and middleware see the absolute `/api/v1/...` paths; see `examples/embed_server.rs`).
pub fn app(store: Store, config: Config) -> impl Endpoint<Output = Response> {
    let service = api_service();
    let docs = service.swagger_ui();
    let spec = Arc::new(openapi_json());
    let conventions = ApiConventions::new(<Apis as OpenApi>::meta());
    // The configured size limits, enforced by rivo-core (issue 15, finding 2).
    let store = store
        .with_limits(config.limits.clone())
        .with_lead_capture(config.lead_capture.clone());
    // The SSRF rules the admin API checks webhook URLs against (RIVO_WEBHOOK_*).
    store.set_webhook_options(config.webhooks.clone());
    // How AI summaries are made (AI_INTEGRATIONS_OPENAI_*, RIVO_AI_*); the worker runs apart.
    store.set_summary_options(config.summaries.clone());
    let metrics = crate::observability::install(&config);
    let config = Arc::new(config);

    let spec_endpoint = get(poem::endpoint::make_sync(move |_| {
        json_response(StatusCode::OK, spec.as_bytes().to_vec())
    }));

    Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at(crate::observability::METRICS_PATH, get(metrics_endpoint))
        .at("/api/v1/chat/", chat::api_root)
        .at(chat::API_ROOT_SUFFIXES[0], chat::api_root)
        .at(chat::API_ROOT_SUFFIXES[1], chat::api_root)
        .at(chat::API_ROOT_SUFFIXES[2], chat::api_root)
        .at(chat::API_ROOT_SUFFIXES[3], chat::api_root)
        .at(SPEC_PATH, spec_endpoint)
        .nest(DOCS_PATH, docs)
        .nest(crate::admin_ui::ADMIN_PATH, crate::admin_ui::endpoint())
        .nest_no_strip("/api/v1", service)
        .data(store)
        .data(BodyLimit(config.max_body_bytes))
        .data(EventStreams::new(config.event_streams))
        .data(config.clone())
        .with(poem::middleware::CookieJarManager::new())
        .around(conventions.clone().layer())
        // DRF's content negotiation on the original's chat routes (before its 405 and OPTIONS).
        .around(chat::negotiation)
        .around(middleware::cors(
            Arc::new(config.cors_allowed_origins.clone()),
            "/api/v1/chat/",
        ))
        .around(middleware::host_check(config.clone()))
        .around(middleware::request_timeout(config.request_timeout))
        .around(middleware::security_headers)
        .around(middleware::request_log(conventions, metrics))
        .map_to_response()
}

/// `GET /healthz`: the process is up.
#[handler]
fn healthz() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// `GET /metrics`: Prometheus metrics, when `RIVO_METRICS_TOKEN` is set (and only with it as
/// bearer token); `404` otherwise. Not in the OpenAPI spec, like `/healthz` and `/readyz`: it is
/// for the operator's scraper, not for API clients.
#[handler]
fn metrics_endpoint(
    req: &poem::Request,
    store: Data<&Store>,
    config: Data<&Arc<Config>>,
) -> Response {
    crate::observability::scrape(req, &store, &config, false)
}

/// `GET /readyz`: the database answers (503 otherwise).
#[handler]
async fn readyz(store: Data<&Store>, config: Data<&Arc<Config>>) -> Response {
    match tokio::time::timeout(config.db_timeout, store.ping()).await {
        Ok(Ok(())) => json_response(StatusCode::OK, br#"{"status":"ready"}"#.to_vec()),
        Ok(Err(err)) => {
            tracing::warn!(%err, "readiness check failed");
            poem::error::ResponseError::as_response(&ApiError::Unavailable)
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            poem::error::ResponseError::as_response(&ApiError::Unavailable)
        }
    }
}
