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

use poem_openapi::{OpenApi, param::Path, param::Query};
use rivo_core::PageRequest;
use rivo_core::access::Access;
use rivo_core::webhooks::{NewWebhook, Webhook, WebhookUpdate};

use super::ctx::AdminCtx;
use super::input::JsonBody;
use super::pages::{WebhookDeliveryPage, WebhookPage};
use super::{
    AdminTag, Created, DeleteErrors, Found, ListErrors, NoContent, Paging, ReadErrors, WriteErrors,
    created, found,
};
use crate::error::OpError;

mod bodies;

pub use bodies::{DeliveryBody, WebhookBody, WebhookCreateRequest, WebhookUpdateRequest};

/// Webhook endpoints and deliveries (superusers only).
#[derive(Default)]
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
        mut body: JsonBody<WebhookCreateRequest>,
    ) -> Result<Created<WebhookBody>, OpError<WriteErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
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
        mut body: JsonBody<WebhookUpdateRequest>,
    ) -> Result<Found<WebhookBody>, OpError<WriteErrors>> {
        let admin = ctx.require(Access::Superuser).await?;
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
