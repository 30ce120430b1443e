//! The bodies of the webhook routes: endpoints, deliveries and their attempts.

use poem_openapi::Object;
use rivo_core::webhooks::{Attempt, CreatedWebhook, Delivery, Webhook};
use serde::Serialize;

use crate::admin::examples::examples;
use crate::render::DrfDateTime;

/// A webhook endpoint (its secret only when just set).
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Webhook", example)]
pub struct WebhookBody {
    /// Id.
    pub id: i64,
    /// Where deliveries are POSTed (`http` or `https`, a public address unless allowed).
    pub url: String,
    /// The event types it receives: `message.created`, `client.created`,
    /// `client.stage_changed`, `client.assigned`.
    pub events: Vec<String>,
    /// Whether it receives deliveries.
    pub active: bool,
    /// A note for admins.
    pub description: String,
    /// The last four characters of the secret.
    pub secret_hint: String,
    /// The signing secret: present only in the answer that set it (creation, rotation).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Created.
    pub created_at: DrfDateTime,
    /// Last changed.
    pub updated_at: DrfDateTime,
}

impl From<Webhook> for WebhookBody {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events.iter().map(|k| k.as_str().to_owned()).collect(),
            active: w.active,
            description: w.description,
            secret_hint: w.secret_hint,
            secret: None,
            created_at: DrfDateTime(w.created_at),
            updated_at: DrfDateTime(w.updated_at),
        }
    }
}

impl From<CreatedWebhook> for WebhookBody {
    fn from(c: CreatedWebhook) -> Self {
        Self {
            secret: Some(c.secret),
            ..c.webhook.into()
        }
    }
}

fn example_time() -> DrfDateTime {
    DrfDateTime(
        chrono::DateTime::parse_from_rfc3339("2026-03-02T10:15:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default(),
    )
}

examples! {
    WebhookBody => Self {
        id: 3,
        url: "https://bot.example.com/rivo/webhook".into(),
        events: vec!["message.created".into(), "client.created".into()],
        active: true,
        description: "Bot backend".into(),
        secret_hint: "9f2c".into(),
        secret: Some(
            "whsec_4b1d5e0c8a7f6e3d2c1b0a99887766554433221100ffeeddccbbaa99f2c".into(),
        ),
        created_at: example_time(),
        updated_at: example_time(),
    };
}

/// An endpoint to register.
#[derive(Debug, Object)]
#[oai(example)]
pub struct WebhookCreateRequest {
    /// `http(s)` URL, at most 2048 characters, no credentials; private and loopback addresses
    /// are refused unless `RIVO_WEBHOOK_ALLOW_PRIVATE` / `RIVO_WEBHOOK_ALLOW_NETWORKS` allow
    /// them.
    pub url: String,
    /// Event types wanted (at least one).
    pub events: Vec<String>,
    /// The signing secret (16 to 256 characters, no spaces); omit to have one generated.
    pub secret: Option<String>,
    /// Default `true`.
    pub active: Option<bool>,
    /// A note for admins (at most 255 characters).
    pub description: Option<String>,
}

examples! {
    WebhookCreateRequest => Self {
        url: "https://bot.example.com/rivo/webhook".into(),
        events: vec!["message.created".into()],
        secret: None,
        active: Some(true),
        description: Some("Bot backend".into()),
    };
}

/// Changes to an endpoint; absent fields are kept.
#[derive(Debug, Object)]
#[oai(example)]
pub struct WebhookUpdateRequest {
    /// A new URL (checked like on creation).
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// Active or not.
    pub active: Option<bool>,
    /// A new note.
    pub description: Option<String>,
    /// A new secret (returned in the answer).
    pub secret: Option<String>,
    /// `true`: generate a new secret (returned in the answer).
    pub rotate_secret: Option<bool>,
}

examples! {
    WebhookUpdateRequest => Self {
        url: None,
        events: Some(vec!["message.created".into(), "client.assigned".into()]),
        active: Some(false),
        description: None,
        secret: None,
        rotate_secret: None,
    };
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "WebhookAttempt")]
pub struct AttemptBody {
    /// When it started.
    pub attempted_at: DrfDateTime,
    /// The receiver's HTTP status; null when it did not answer (timeout, refused, SSRF rule).
    pub status_code: Option<u16>,
    /// How long it took.
    pub latency_ms: u64,
    /// What went wrong (at most 500 characters); null on success.
    pub error: Option<String>,
}

impl From<Attempt> for AttemptBody {
    fn from(a: Attempt) -> Self {
        Self {
            attempted_at: DrfDateTime(a.attempted_at),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "WebhookDelivery", example)]
pub struct DeliveryBody {
    /// Id (the `Rivo-Delivery-Id` header).
    pub id: i64,
    /// The endpoint.
    pub endpoint: i64,
    /// The event id (the `Rivo-Event-Id` header and the body's `id`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the event happened.
    pub created_at: DrfDateTime,
    /// When it is attempted next (pending only).
    pub next_attempt_at: Option<DrfDateTime>,
    /// When it was delivered or given up.
    pub finished_at: Option<DrfDateTime>,
    /// The last attempts (at most 20), oldest first.
    pub attempt_log: Vec<AttemptBody>,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            endpoint: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.event_type.as_str().to_owned(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            created_at: DrfDateTime(d.created_at),
            next_attempt_at: d.next_attempt_at.map(DrfDateTime),
            finished_at: d.finished_at.map(DrfDateTime),
            attempt_log: d.attempt_log.into_iter().map(Into::into).collect(),
        }
    }
}

examples! {
    DeliveryBody => Self {
        id: 812,
        endpoint: 3,
        event_id: "msg_40211".into(),
        event_type: "message.created".into(),
        status: "delivered".into(),
        attempts: 2,
        created_at: example_time(),
        next_attempt_at: None,
        finished_at: Some(example_time()),
        attempt_log: vec![
            AttemptBody {
                attempted_at: example_time(),
                status_code: Some(503),
                latency_ms: 41,
                error: Some("HTTP 503".into()),
            },
            AttemptBody {
                attempted_at: example_time(),
                status_code: Some(200),
                latency_ms: 12,
                error: None,
            },
        ],
    };
}
