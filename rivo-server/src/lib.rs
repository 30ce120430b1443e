//! # rivo-server
//!
//! The HTTP server of Rivo over [`rivo_core`]: the chat API, wire-compatible with the original
//! Django REST framework server, logins and the admin API, with a generated OpenAPI spec
//! (`/api/v1/openapi.json`, also [`openapi_json()`]) and an interactive viewer (`/api/docs/`),
//! and the admin web UI at `/admin/`. Handlers are thin: every rule lives in `rivo-core`.
//!
//! The public surface is what embedders use: [`app()`] (the whole server as one poem
//! endpoint), [`api_service()`], [`Config`] (and the [`config`] module of its parts), the
//! background tasks a server runs beside the app ([`spawn_purger`], [`spawn_webhook_worker`],
//! [`spawn_summary_worker`]),
//! and the binary's entry points ([`cli`], [`telemetry`]). Every other module is private.
//!
//! [`app()`] builds the whole server as one poem endpoint, so tests drive it in-process with
//! `poem::test::TestClient` and other apps can mount it:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = rivo_server::Config::from_env()?;
//! let store = rivo_core::Store::open(&config.database_url).await?;
//! store.migrate().await?;
//! let app = rivo_server::app(store, config);
//! poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:5000")).run(app).await?;
//! # Ok(()) }
//! ```

mod account;
mod admin;
mod admin_ui;
mod app;
mod auth;
mod chat;
pub mod cli;
mod clients_api;
pub mod config;
mod error;
mod events;
mod http;
mod middleware;
mod observability;
mod proxy;
mod render;
mod server;
mod spec;
pub mod telemetry;

pub use app::{api_service, app, openapi_json};
pub use config::{Config, ConfigError};
pub use error::ApiError;
pub use render::drf_datetime;
pub use server::{spawn_purger, spawn_summary_worker, spawn_webhook_worker};
