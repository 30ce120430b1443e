//! Webhook endpoints and their deliveries: thin mappings of [`rivo_core::webhooks`].
//!
//! **Superusers only**: an endpoint receives every message and lead of the site, so
//! registering one is as powerful as reading everything; no Django-style model permission is
//! enough. Writes are audited (`webhook`, `webhookdelivery`); cookie sessions need the CSRF
//! header like every admin write.
//!
//! The secret is returned when it is set (creation, or an update with `secret` or
//! `rotate_secret`) and never again: reads show its last four characters (`secret_hint`). It is
//! stored, because signing needs it, and never logged.

use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi, param::Path, param::Query};
use rivo_core::PageRequest;
use rivo_core::webhooks::{Attempt, CreatedWebhook, Delivery, NewWebhook, Webhook, WebhookUpdate};
use serde::Serialize;

use rivo_core::access::Access;

use super::ctx::AdminCtx;
use super::input::JsonBody;
use super::{
    AdminTag, Created, DeleteErrors, Found, ListErrors, NoContent, Paging, ReadErrors, WriteErrors,
    created, found,
};
use crate::error::OpError;
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

impl Example for WebhookBody {
    fn example() -> Self {
        Self {
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
        }
    }
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

impl Example for WebhookCreateRequest {
    fn example() -> Self {
        Self {
            url: "https://bot.example.com/rivo/webhook".into(),
            events: vec!["message.created".into()],
            secret: None,
            active: Some(true),
            description: Some("Bot backend".into()),
        }
    }
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

impl Example for WebhookUpdateRequest {
    fn example() -> Self {
        Self {
            url: None,
            events: Some(vec!["message.created".into(), "client.assigned".into()]),
            active: Some(false),
            description: None,
            secret: None,
            rotate_secret: None,
        }
    }
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

impl Example for DeliveryBody {
    fn example() -> Self {
        Self {
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
        }
    }
}

/// A page of webhook endpoints.
#[derive(Debug, Clone, Object, Serialize)]
pub struct WebhookPage {
    /// Endpoints in all pages.
    pub count: u64,
    /// Always `false` (the count is exact).
    pub count_is_estimate: bool,
    /// URL of the next page, null on the last.
    pub next: Option<String>,
    /// URL of the previous page, null on the first.
    pub previous: Option<String>,
    /// This page's endpoints.
    pub results: Vec<WebhookBody>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Object, Serialize)]
pub struct WebhookDeliveryPage {
    /// Deliveries in all pages.
    pub count: u64,
    /// Always `false` (the count is exact).
    pub count_is_estimate: bool,
    /// URL of the next page, null on the last.
    pub next: Option<String>,
    /// URL of the previous page, null on the first.
    pub previous: Option<String>,
    /// This page's deliveries.
    pub results: Vec<DeliveryBody>,
}

impl From<super::Paged<WebhookBody>> for WebhookPage {
    fn from(p: super::Paged<WebhookBody>) -> Self {
        Self {
            count: p.count,
            count_is_estimate: p.count_is_estimate,
            next: p.next,
            previous: p.previous,
            results: p.results,
        }
    }
}

impl From<super::Paged<DeliveryBody>> for WebhookDeliveryPage {
    fn from(p: super::Paged<DeliveryBody>) -> Self {
        Self {
            count: p.count,
            count_is_estimate: p.count_is_estimate,
            next: p.next,
            previous: p.previous,
            results: p.results,
        }
    }
}

/// Webhook endpoints and deliveries (superusers only).
pub struct AdminWebhooksApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::AdminWebhooks")]
impl AdminWebhooksApi {
    /// List webhook endpoints
    ///
    /// Oldest first. Superusers only.
    #[oai(
        path = "/webhooks/",
        method = "get",
        operation_id = "admin_webhooks_list"
    )]
    async fn list(
        &self,
        ctx: AdminCtx<'_>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
    ) -> Result<Found<WebhookPage>, OpError<ListErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
        let paging = Paging::new(page.0, page_size.0)?;
        let all = admin.store.list_webhooks().await?;
        let request = paging.request();
        let total = all.len() as u64;
        let offset = usize::try_from(request.offset).unwrap_or(usize::MAX);
        let items: Vec<Webhook> = all
            .into_iter()
            .skip(offset)
            .take(request.limit as usize)
            .collect();
        let has_next = (offset as u64).saturating_add(items.len() as u64) < total;
        let page = rivo_core::Page {
            items,
            total,
            estimated: false,
            has_next,
        };
        Ok(found(WebhookPage::from(paging.paged(ctx.req(), page)?)))
    }

    /// Register a webhook endpoint
    ///
    /// Checks the URL against the SSRF rules (and what its host resolves to now), generates a
    /// secret unless one is given, and returns the endpoint **with its secret, shown this
    /// once**. Superusers only.
    #[oai(
        path = "/webhooks/",
        method = "post",
        operation_id = "admin_webhooks_create"
    )]
    async fn create(
        &self,
        ctx: AdminCtx<'_>,
        body: JsonBody<WebhookCreateRequest>,
    ) -> Result<Created<WebhookBody>, OpError<WriteErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
        let mut body = body;
        let url = body.string("url");
        let events = body.events("events");
        let secret = body.opt_string("secret");
        let active = body.opt_bool("active");
        let description = body.opt_string("description");
        body.finish()?;
        let created_webhook = admin
            .store
            .create_webhook(NewWebhook {
                url: url.unwrap_or_default(),
                events: events.unwrap_or_default(),
                secret,
                active: active.unwrap_or(true),
                description: description.unwrap_or_default(),
            })
            .await?;
        Ok(created(created_webhook.into()))
    }

    /// Read a webhook endpoint
    ///
    /// Without its secret (`secret_hint` shows the last four characters). Superusers only.
    #[oai(
        path = "/webhooks/:id/",
        method = "get",
        operation_id = "admin_webhooks_read"
    )]
    async fn read(
        &self,
        ctx: AdminCtx<'_>,
        /// Endpoint id.
        id: Path<i64>,
    ) -> Result<Found<WebhookBody>, OpError<ReadErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
        Ok(found(admin.store.webhook(id.0).await?.into()))
    }

    /// Change a webhook endpoint
    ///
    /// Absent fields are kept. A new `secret`, or `rotate_secret: true`, is returned in the
    /// answer. Deactivating stops new deliveries; pending ones wait for reactivation (or give
    /// up at their age limit). Superusers only.
    #[oai(
        path = "/webhooks/:id/",
        method = "patch",
        operation_id = "admin_webhooks_update"
    )]
    async fn update(
        &self,
        ctx: AdminCtx<'_>,
        /// Endpoint id.
        id: Path<i64>,
        body: JsonBody<WebhookUpdateRequest>,
    ) -> Result<Found<WebhookBody>, OpError<WriteErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
        let mut body = body;
        let url = body.opt_string("url");
        let events = if body.has("events") {
            body.events("events")
        } else {
            None
        };
        let active = body.opt_bool("active");
        let description = body.opt_string("description");
        let secret = body.opt_string("secret");
        let rotate = body.opt_bool("rotate_secret").unwrap_or(false);
        body.finish()?;
        let secret = match (secret, rotate) {
            (Some(s), _) => Some(Some(s)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let (webhook, secret) = admin
            .store
            .update_webhook(
                id.0,
                WebhookUpdate {
                    url,
                    events,
                    active,
                    description,
                    secret,
                },
            )
            .await?;
        Ok(found(WebhookBody {
            secret,
            ..webhook.into()
        }))
    }

    /// Delete a webhook endpoint
    ///
    /// With its deliveries. Superusers only.
    #[oai(
        path = "/webhooks/:id/",
        method = "delete",
        operation_id = "admin_webhooks_delete"
    )]
    async fn delete(
        &self,
        ctx: AdminCtx<'_>,
        /// Endpoint id.
        id: Path<i64>,
    ) -> Result<NoContent, OpError<DeleteErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
        admin.store.delete_webhook(id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// List an endpoint's deliveries
    ///
    /// Newest first, each with its last attempts (status code, latency, error) and, while
    /// pending, its next attempt. Superusers only.
    #[oai(
        path = "/webhooks/:id/deliveries/",
        method = "get",
        operation_id = "admin_webhooks_deliveries"
    )]
    async fn deliveries(
        &self,
        ctx: AdminCtx<'_>,
        /// Endpoint id.
        id: Path<i64>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
    ) -> Result<Found<WebhookDeliveryPage>, OpError<ListErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
        let paging = Paging::new(page.0, page_size.0)?;
        let request: PageRequest = paging.request();
        let deliveries = admin.store.list_webhook_deliveries(id.0, request).await?;
        Ok(found(WebhookDeliveryPage::from(
            paging.paged(ctx.req(), deliveries)?,
        )))
    }

    /// Re-send a delivery
    ///
    /// Makes the delivery pending and due now, whatever its status (a failed one, or a
    /// delivered one the receiver lost); the give-up age counts from now. The same event id
    /// and body are sent, with a new signature. Superusers only.
    #[oai(
        path = "/webhooks/deliveries/:id/resend/",
        method = "post",
        operation_id = "admin_webhooks_resend"
    )]
    async fn resend(
        &self,
        ctx: AdminCtx<'_>,
        /// Delivery id.
        id: Path<i64>,
    ) -> Result<Found<DeliveryBody>, OpError<DeleteErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
        Ok(found(
            admin.store.resend_webhook_delivery(id.0).await?.into(),
        ))
    }
}
