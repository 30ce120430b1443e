//! # rivo-client
//!
//! A Rust client for the Rivo HTTP API, generated at build time by
//! [progenitor](https://github.com/oxidecomputer/progenitor) from the committed `openapi.json`
//! at the repository root. One builder method per operation, named by its `operationId`
//! (`chat_send`, `chat_history`, `account_login`, `admin_clients_list`,
//! `admin_clients_set_stage`, …); request and response bodies are the spec's named schemas in
//! [`types`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use rivo_client::{Client, types};
//!
//! let rivo = Client::new("http://127.0.0.1:5000");
//! let session: uuid::Uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301".parse()?;
//! let sent = rivo
//!     .chat_send()
//!     .body(types::SendMessageRequest {
//!         session_id: session,
//!         message: "Hi, I need a loan".into(),
//!         sender_type: Some(types::SenderType::Client),
//!         data_type: None, // `lead-capture` servers only: e.g. Some(types::DataType::Email)
//!     })
//!     .send()
//!     .await?;
//! println!("stored message {}", sent.id);
//!
//! // Admin routes need a token: log in, then send it on every request.
//! let login = rivo
//!     .account_login()
//!     .body(types::LoginRequest {
//!         email: "admin@example.com".into(),
//!         password: "change me".into(),
//!     })
//!     .send()
//!     .await?;
//! let admin = rivo_client::with_token("http://127.0.0.1:5000", &login.token)?;
//! let leads = admin
//!     .admin_clients_list()
//!     .current_stage(types::Stage::Lead)
//!     .send()
//!     .await?;
//! println!("{} leads", leads.count);
//! # Ok(()) }
//! ```
//!
//! Generated code is not committed: it is rebuilt whenever `openapi.json` changes, and
//! rivo-server's end-to-end tests call the server through it.

// Generated code: lints are for hand-written code. (`Client::new` unwraps building a reqwest
// client, which cannot fail without a TLS backend; `with_token` returns the error instead.)
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unused
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/rivo_api.rs"));
}

pub use generated::*;

/// A client that sends `Authorization: Bearer <token>` (a token from `account_login`) on
/// every request.
pub fn with_token(base_url: &str, token: &str) -> Result<Client, reqwest::Error> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    Ok(Client::new_with_client(base_url, http))
}
