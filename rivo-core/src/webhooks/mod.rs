//! Signed webhooks: endpoints, the outbox, and the delivery worker.
//!
//! - **Endpoints** ([`Store::create_webhook`](crate::Store::create_webhook), …) are an `http(s)` URL, a signing secret, the
//!   [`EventKind`](crate::events::EventKind)s wanted and an active flag. URLs are checked against the SSRF rules of the
//!   store's [`WebhookOptions`] when registered and again, against the addresses the name
//!   resolves to, at every delivery (the connection goes to the address that was checked, so a
//!   DNS answer that changes in between cannot redirect it).
//! - **The outbox.** Every [`Event`](crate::events::Event) is written as one delivery row per subscribed active
//!   endpoint in the same transaction as the change it reports (nothing when no endpoint
//!   subscribes): client events when they are emitted, `message.created` by the group-commit
//!   batch that stores the messages. A reported event always happened; a committed change is
//!   always reported.
//! - **The worker** ([`Store::run_webhook_worker`](crate::Store::run_webhook_worker)) claims due deliveries (PostgreSQL:
//!   `FOR UPDATE SKIP LOCKED` and a lease, so several servers each attempt a due delivery once,
//!   and a killed server's claims expire and are retried), POSTs them signed, records every
//!   attempt (status, latency, error) and retries failures with exponential backoff and full
//!   jitter until the give-up age. Delivery is at least once: a receiver deduplicates by the
//!   event id.
//!
//! ## The request
//!
//! `POST <url>` with `Content-Type: application/json` and the body
//! `{"id": "<event id>", "type": "message.created", "created_at": "<RFC 3339>", "data": {…}}`
//! (`type`/`data` are the serialised [`Event`](crate::events::Event)). Headers:
//!
//! - `Rivo-Event-Id`: the event id (the same on every retry; per event, not per endpoint);
//! - `Rivo-Event-Type`: the event's kind;
//! - `Rivo-Delivery-Id`: this endpoint's delivery of the event;
//! - `Rivo-Timestamp`: Unix seconds when this attempt was signed;
//! - `Rivo-Signature: t=<timestamp>,v1=<hex>`, where `<hex>` is the lowercase hex
//!   HMAC-SHA256, keyed with the endpoint's secret, of `"{timestamp}.{body}"` (the raw body
//!   bytes).
//!
//! A receiver recomputes the HMAC over the raw body, compares it in constant time, and refuses
//! timestamps too far from its clock (replays): [`verify_signature`] does all three.

mod endpoints;
mod http;
mod model;
mod options;
mod signature;
mod ssrf;
mod worker;

pub(crate) use http::tls_config;
pub use model::{
    Attempt, CreatedWebhook, Delivery, DeliveryStatus, NewWebhook, Webhook, WebhookQueue,
    WebhookUpdate,
};
pub(crate) use model::{
    AttemptRow, ClaimedRow, CleanWebhook, DELIVERY_COLS, DeliveryRow, ENDPOINT_COLS, EndpointRow,
    Outcome, kind_bit, micros, new_event_id,
};
pub(crate) use options::Shared;
pub use options::{Network, WebhookOptions};
pub use signature::{SignatureError, sign, signature_header, verify_signature};
pub use ssrf::forbidden_reason;

/// Longest endpoint URL, in characters.
pub const MAX_URL_LEN: usize = 2048;
/// Shortest and longest secret a caller may give, in characters.
pub const SECRET_LEN: (usize, usize) = (16, 256);
/// Longest error text kept per attempt, in characters.
pub const MAX_ERROR_LEN: usize = 500;
/// Most bytes of a receiver's answer that are read (and discarded).
pub const MAX_RESPONSE_READ: usize = 64 * 1024;
