//! Webhook endpoints, deliveries and attempts as callers see them, the rows they are read
//! from, and their conversions.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::names::{names, stored};
use crate::store::rows::row_struct;

/// A registered endpoint (without its secret: see [`CreatedWebhook`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The kinds it receives.
    pub events: Vec<EventKind>,
    /// Whether it receives anything (an inactive endpoint gets no new deliveries, and its
    /// pending ones wait).
    pub active: bool,
    /// A note for admins.
    pub description: String,
    /// The last four characters of the secret (to tell secrets apart).
    pub secret_hint: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An endpoint and its secret, as returned once when created (or when the secret changes).
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedWebhook {
    /// The endpoint.
    pub webhook: Webhook,
    /// The signing secret.
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("CreatedWebhook")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// A new endpoint.
#[derive(Clone, Default)]
pub struct NewWebhook {
    /// `http://` or `https://`, at most [`MAX_URL_LEN`](super::MAX_URL_LEN) characters, no credentials.
    pub url: String,
    /// The kinds wanted (at least one).
    pub events: Vec<EventKind>,
    /// The signing secret; `None` generates one (`whsec_` and 64 hex digits).
    pub secret: Option<String>,
    /// Active from the start.
    pub active: bool,
    /// A note for admins (at most 255 characters).
    pub description: String,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A change to an endpoint: `None` keeps a field.
#[derive(Clone, Default)]
pub struct WebhookUpdate {
    /// A new URL.
    pub url: Option<String>,
    /// New kinds.
    pub events: Option<Vec<EventKind>>,
    /// Active or not.
    pub active: Option<bool>,
    /// A new note.
    pub description: Option<String>,
    /// A new secret: `Some(None)` generates one, `Some(Some(s))` sets `s`.
    pub secret: Option<Option<String>>,
}

impl std::fmt::Debug for WebhookUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookUpdate")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempted (again) at `next_attempt_at`.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Given up (the give-up age passed, or the event's data was deleted).
    Failed,
}

names! {
    /// `pending`, `delivered` or `failed`.
    DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// What went wrong (at most [`MAX_ERROR_LEN`](super::MAX_ERROR_LEN) characters), `None` on success.
    pub error: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its id (`Rivo-Delivery-Id`).
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event's id (`Rivo-Event-Id`).
    pub event_id: String,
    /// The event's kind.
    pub event_type: EventKind,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    /// When it is attempted next (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last attempts (at most 20), oldest first.
    pub attempt_log: Vec<Attempt>,
}

/// The outbox now, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookQueue {
    /// Pending deliveries.
    pub depth: u64,
    /// How long the most overdue pending delivery has been due (zero when none is).
    pub oldest_due: Duration,
}

// ----- rows (crate) -----

row_struct! {
    pub(crate) struct EndpointRow, columns ENDPOINT_COLS {
        pub(crate) id: i64,
        pub(crate) url: String,
        pub(crate) secret: String,
        pub(crate) event_mask: i32,
        pub(crate) active: bool,
        pub(crate) description: String,
        pub(crate) created_at: i64,
        pub(crate) updated_at: i64,
    }
}

row_struct! {
    pub(crate) struct DeliveryRow, columns DELIVERY_COLS {
        pub(crate) id: i64,
        pub(crate) endpoint_id: i64,
        pub(crate) event_id: String,
        pub(crate) event_type: String,
        pub(crate) status: String,
        pub(crate) attempts: i32,
        pub(crate) created_at: i64,
        pub(crate) next_attempt_at: i64,
        pub(crate) finished_at: Option<i64>,
    }
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub(crate) struct AttemptRow {
    pub(crate) delivery_id: i64,
    pub(crate) attempted_at: i64,
    pub(crate) status_code: Option<i32>,
    pub(crate) latency_ms: i64,
    pub(crate) error: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    pub(crate) id: i64,
    #[allow(dead_code)]
    pub(crate) endpoint_id: i64,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) payload: Option<String>,
    pub(crate) message_id: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) attempts: i32,
    pub(crate) retry_since: i64,
    pub(crate) url: String,
    pub(crate) secret: String,
    #[sqlx(skip)]
    pub(crate) message: Option<ChatMessage>,
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Delivered,
    Retry { at: i64 },
    Failed,
}

/// Validated endpoint fields, as stored.
pub(crate) struct CleanWebhook {
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) event_mask: i32,
    pub(crate) active: bool,
    pub(crate) description: String,
}

// ----- helpers -----

/// Unix microseconds.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The bit of `kind` in an endpoint's `event_mask`.
pub(crate) fn kind_bit(kind: EventKind) -> i32 {
    let index = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    1 << index
}

pub(super) fn mask_of(kinds: &[EventKind]) -> i32 {
    kinds.iter().fold(0, |m, k| m | kind_bit(*k))
}

pub(super) fn kinds_of(mask: i32) -> Vec<EventKind> {
    EventKind::ALL
        .into_iter()
        .filter(|k| mask & kind_bit(*k) != 0)
        .collect()
}

/// A new event id: `evt_` and 32 hex digits. (`message.created` events use `msg_<message id>`,
/// written by the append batch.)
pub(crate) fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::new_v4().simple())
}

pub(super) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // No randomness is a broken system; a zero jitter still retries.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

pub(super) fn generate_secret() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(format!("whsec_{}", hex(&b)))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

pub(super) fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl From<EndpointRow> for Webhook {
    fn from(r: EndpointRow) -> Self {
        let n = r.secret.chars().count();
        Webhook {
            id: r.id,
            url: r.url,
            events: kinds_of(r.event_mask),
            active: r.active,
            description: r.description,
            secret_hint: r.secret.chars().skip(n.saturating_sub(4)).collect(),
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        }
    }
}

pub(super) fn attempt_of(a: &AttemptRow) -> Attempt {
    Attempt {
        attempted_at: from_micros(a.attempted_at),
        status_code: a.status_code.and_then(|c| u16::try_from(c).ok()),
        latency_ms: u64::try_from(a.latency_ms).unwrap_or(0),
        error: a.error.clone(),
    }
}

pub(super) fn delivery_of(r: DeliveryRow, attempts: &[AttemptRow]) -> Result<Delivery> {
    let status: DeliveryStatus = stored("delivery status", &r.status)?;
    Ok(Delivery {
        id: r.id,
        endpoint_id: r.endpoint_id,
        event_type: r
            .event_type
            .parse()
            .map_err(|e| Error::Corrupt(format!("{e}")))?,
        event_id: r.event_id,
        attempts: u32::try_from(r.attempts).unwrap_or(0),
        created_at: from_micros(r.created_at),
        next_attempt_at: (status == DeliveryStatus::Pending)
            .then(|| from_micros(r.next_attempt_at)),
        finished_at: r.finished_at.map(from_micros),
        status,
        attempt_log: attempts
            .iter()
            .filter(|a| a.delivery_id == r.id)
            .map(attempt_of)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(kinds_of(mask_of(&[kind])), vec![kind]);
        }
        assert_eq!(kind_bit(EventKind::MessageCreated), 1);
        assert_eq!(kinds_of(mask_of(&EventKind::ALL)), EventKind::ALL.to_vec());
    }
}
