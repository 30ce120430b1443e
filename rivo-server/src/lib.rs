//! # rivo-server
//!
//! The HTTP server of Rivo over [`rivo_core`]: the chat API, wire-compatible with the original
//! Django REST framework server ([`chat`]), logins ([`account`], [`auth`]) and the admin API
//! ([`admin`]), with a generated OpenAPI spec (`/api/v1/openapi.json`) and an interactive viewer
//! (`/api/docs/`), and the admin web UI at `/admin/` ([`admin_ui`]). Handlers are thin: every
//! rule lives in `rivo-core`.
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

pub mod account;
pub mod admin;
pub mod admin_ui;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod clients_api;
pub mod config;
pub mod error;
pub mod events;
pub mod http;
pub mod middleware;
pub mod observability;
pub mod proxy;
pub mod render;
pub mod server;
pub mod spec;
pub mod telemetry;

pub use app::{api_service, app, openapi_json};
pub use config::{Config, ConfigError};
pub use error::ApiError;
