//! The store API for endpoints and deliveries: register, list, change, delete, re-send.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;

use super::model::{delivery_of, generate_secret, kinds_of, mask_of};
use super::ssrf::check_url;
use super::{
    CleanWebhook, CreatedWebhook, Delivery, NewWebhook, SECRET_LEN, Webhook, WebhookOptions,
    WebhookQueue, WebhookUpdate, micros,
};
use crate::error::{Result, Rule, ValidationErrors};
use crate::events::EventKind;
use crate::query::{Page, PageRequest};
use crate::store::{Store, dispatch};

pub(super) fn clean_events(errors: &mut ValidationErrors, events: &[EventKind]) -> i32 {
    if events.is_empty() {
        errors.add(
            "events",
            Rule::Other("Choose at least one event type.".into()),
        );
    }
    mask_of(events)
}

pub(super) fn clean_secret(errors: &mut ValidationErrors, secret: Option<&str>) -> Result<String> {
    match secret {
        None => generate_secret(),
        Some(s) => {
            let n = s.chars().count();
            if n < SECRET_LEN.0 {
                errors.add("secret", Rule::TooShort { min: SECRET_LEN.0 });
            } else if n > SECRET_LEN.1 {
                errors.add("secret", Rule::TooLong { max: SECRET_LEN.1 });
            } else if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
                errors.add(
                    "secret",
                    Rule::Other("The secret may not contain spaces or control characters.".into()),
                );
            }
            Ok(s.to_owned())
        }
    }
}

pub(super) fn clean_description(errors: &mut ValidationErrors, d: &str) -> String {
    if d.chars().count() > 255 {
        errors.add("description", Rule::TooLong { max: 255 });
    }
    if d.contains('\0') {
        errors.add("description", Rule::NullCharacter);
    }
    d.to_owned()
}

impl Store {
    /// Sets how webhooks are checked and delivered (for this store and its clones).
    pub fn set_webhook_options(&self, options: WebhookOptions) {
        match self.webhooks.options.write() {
            Ok(mut o) => *o = Arc::new(options),
            Err(p) => *p.into_inner() = Arc::new(options),
        }
    }

    /// The current [`WebhookOptions`].
    pub fn webhook_options(&self) -> WebhookOptions {
        WebhookOptions::clone(&self.webhooks.options())
    }

    pub(super) async fn refresh_subscriptions(&self) -> Result<()> {
        let mask = dispatch!(self.webhook_subscriptions())?;
        self.webhooks.subscribed.store(mask, Ordering::Relaxed);
        Ok(())
    }

    /// Registers an endpoint. The URL must pass the SSRF rules of [`WebhookOptions`]; a
    /// secret is generated unless given. Returns the endpoint with its secret.
    pub async fn create_webhook(&self, new: NewWebhook) -> Result<CreatedWebhook> {
        let options = self.webhooks.options();
        let mut errors = ValidationErrors::new();
        let url = match check_url(&new.url, &options).await {
            Ok(u) => u,
            Err(e) => {
                errors.add("url", Rule::Other(e));
                String::new()
            }
        };
        let event_mask = clean_events(&mut errors, &new.events);
        let secret = clean_secret(&mut errors, new.secret.as_deref())?;
        let description = clean_description(&mut errors, &new.description);
        errors.into_result()?;
        let clean = CleanWebhook {
            url,
            secret: secret.clone(),
            event_mask,
            active: new.active,
            description,
        };
        let audit = self.audit(serde_json::json!({
            "url": clean.url, "events": kinds_of(event_mask), "active": clean.active,
        }));
        let row = dispatch!(self.create_webhook(&clean, i64::from(options.max_endpoints), audit))?;
        let _ = self.refresh_subscriptions().await;
        Ok(CreatedWebhook {
            webhook: row.into(),
            secret,
        })
    }

    /// One endpoint.
    pub async fn webhook(&self, id: i64) -> Result<Webhook> {
        Ok(dispatch!(self.webhook(id))?.into())
    }

    /// Every endpoint, oldest first (at most [`WebhookOptions::max_endpoints`]).
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        Ok(dispatch!(self.list_webhooks())?
            .into_iter()
            .map(Webhook::from)
            .collect())
    }

    /// Changes an endpoint; returns it, with the secret when the secret changed.
    pub async fn update_webhook(
        &self,
        id: i64,
        update: WebhookUpdate,
    ) -> Result<(Webhook, Option<String>)> {
        let options = self.webhooks.options();
        let current = dispatch!(self.webhook(id))?;
        let mut errors = ValidationErrors::new();
        let url = match &update.url {
            Some(u) => match check_url(u, &options).await {
                Ok(u) => u,
                Err(e) => {
                    errors.add("url", Rule::Other(e));
                    String::new()
                }
            },
            None => current.url.clone(),
        };
        let event_mask = match &update.events {
            Some(e) => clean_events(&mut errors, e),
            None => current.event_mask,
        };
        let new_secret = match &update.secret {
            Some(s) => Some(clean_secret(&mut errors, s.as_deref())?),
            None => None,
        };
        let description = match &update.description {
            Some(d) => clean_description(&mut errors, d),
            None => current.description.clone(),
        };
        errors.into_result()?;
        let clean = CleanWebhook {
            url,
            secret: new_secret.clone().unwrap_or(current.secret),
            event_mask,
            active: update.active.unwrap_or(current.active),
            description,
        };
        let audit = self.audit(serde_json::json!({
            "url": clean.url, "events": kinds_of(event_mask), "active": clean.active,
            "secret_changed": new_secret.is_some(),
        }));
        let row = dispatch!(self.update_webhook(id, &clean, audit))?;
        let _ = self.refresh_subscriptions().await;
        Ok((row.into(), new_secret))
    }

    /// Deletes an endpoint with its deliveries.
    pub async fn delete_webhook(&self, id: i64) -> Result<()> {
        dispatch!(self.delete_webhook(id, self.audit(serde_json::json!({}))))?;
        let _ = self.refresh_subscriptions().await;
        Ok(())
    }

    /// An endpoint's deliveries, newest first, each with its last attempts.
    pub async fn list_webhook_deliveries(
        &self,
        endpoint_id: i64,
        page: PageRequest,
    ) -> Result<Page<Delivery>> {
        dispatch!(self.webhook(endpoint_id))?;
        let limit = page.clamped_limit();
        let (rows, attempts, total) =
            dispatch!(self.list_deliveries(endpoint_id, page.clamped_offset(), limit + 1))?;
        let has_next = rows.len() as i64 > limit;
        let items = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|r| delivery_of(r, &attempts))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            estimated: false,
            has_next,
        })
    }

    /// One delivery with its last attempts.
    pub async fn webhook_delivery(&self, id: i64) -> Result<Delivery> {
        let (row, attempts) = dispatch!(self.delivery(id))?;
        delivery_of(row, &attempts)
    }

    /// Sends a delivery again (whatever its status): it becomes pending, due now, and the
    /// give-up age counts from now.
    pub async fn resend_webhook_delivery(&self, id: i64) -> Result<Delivery> {
        let audit = self.audit(serde_json::json!({ "status": "pending", "resent": true }));
        dispatch!(self.resend_delivery(id, audit))?;
        self.webhooks.wake.notify_one();
        self.webhook_delivery(id).await
    }

    /// Pending deliveries and how overdue the oldest is.
    pub async fn webhook_queue(&self) -> Result<WebhookQueue> {
        let (depth, oldest) = dispatch!(self.webhook_queue())?;
        let now = micros(Utc::now());
        Ok(WebhookQueue {
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_due: oldest
                .map(|o| Duration::from_micros(u64::try_from(now - o).unwrap_or(0)))
                .unwrap_or_default(),
        })
    }
}
