//! # rivo-core
//!
//! Typed models and one storage API for a website chatbot's back office, on **SQLite**
//! (embedded, zero setup) or **PostgreSQL** (production; several servers can share it):
//!
//! - [`accounts`]: users who log in with their email (argon2 password hashes), roles and the
//!   Django-style permissions (`chat.view_chathistory`, …) they grant;
//! - [`chat`]: chatbot messages grouped by session, sent by the `client` or the `bot`;
//! - [`clients`]: leads moving through fourteen [`Stage`]s, with a JSON context, a stage
//!   history and at most one active assignment to a support user;
//! - [`auth`]: hashed bearer tokens and browser sessions, and a login throttle, kept in the
//!   database so several servers can share them;
//! - [`audit`]: who changed what, recorded in the same transaction as the change;
//! - [`import`]: copy an existing database of the original Django app, logins included;
//! - [`leads`]: chat-to-lead capture (a session's name, email and phone messages make and
//!   update its client, with an assignment rule when the lead completes);
//! - [`events`]: what streams and webhooks report (`message.created`, `client.created`, …);
//! - [`webhooks`]: signed webhooks (endpoints, the outbox, the delivery worker);
//! - [`privacy`]: chat retention, erasure and export of one person's data, and finding
//!   conversations that mention an email or phone number.
//!
//! Every rule — validation, stage history, single active assignment, password hashing — lives
//! here, so an app embedding rivo-core gets the same behaviour as `rivo-server`.
//!
//! ## Quick start
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rivo_core::Error> {
//! use rivo_core::{clients::NewClient, SenderType, SessionId, Stage, Store};
//!
//! // `sqlite://rivo.sqlite3?mode=rwc` for a file, `postgres://user@host/db` for PostgreSQL.
//! let store = Store::open("sqlite::memory:").await?;
//! store.migrate().await?;
//!
//! // Store a conversation and read it back.
//! let session = SessionId::new_random();
//! store.append(session, "Hi! Can I get a quote?", SenderType::Client).await?;
//! store.append(session, "Of course. What is your name?", SenderType::Bot).await?;
//! assert_eq!(store.history(session).await?.len(), 2);
//!
//! // Turn it into a lead and move it along the pipeline.
//! let lead = store
//!     .create_client(NewClient { chat_session_id: Some(session), ..NewClient::new("Grace") })
//!     .await?;
//! let moved = store.set_stage(lead.id, Stage::Contacted, None, "called").await?;
//! assert_eq!(moved.client.current_stage, Stage::Contacted);
//! assert_eq!(store.client(lead.id).await?, moved.client);
//! # Ok(()) }
//! ```
//!
//! ## Errors
//!
//! Every operation returns [`Error`]: [`Error::Validation`] lists each broken field rule,
//! [`Error::Conflict`] names the field whose value is taken, [`Error::NotFound`] names what is
//! missing, and [`Error::Database`] means the database failed — callers never parse strings.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod chat_guard;
pub mod client_views;
pub mod clients;
mod django_hash;
mod error;
pub mod events;
mod ids;
pub mod import;
pub mod leads;
pub mod limits;
mod names;
pub mod observability;
pub mod privacy;
pub mod query;
mod store;
pub mod streams;
pub mod summaries;
mod validate;
pub mod webhooks;

pub use accounts::{Permission, Role, User};
pub use chat::{ChatMessage, SenderType};
pub use clients::{Assignment, Client, ClientContext, Stage, StageChange, StageOutcome};
pub use error::{
    AuthFailure, DatabaseError, Error, MigrationError, Result, Rule, ValidationErrors,
};
pub use ids::{
    AssignmentId, ClientId, ContextId, MessageId, RoleId, SessionId, StageChangeId, UserId,
};
pub use limits::Limits;
pub use query::{Page, PageRequest, Sort};
pub use store::{BackendKind, GroupCommitStats, Store, StoreLock, StoreOptions};
pub use validate::email_identity;
