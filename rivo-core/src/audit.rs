//! The audit log: who changed what, when — like Django admin's history. Writes made through a
//! store [acting as](Store::acting_as) a user are recorded in the same transaction as the change
//! itself, so the log never misses a committed change nor records one that was rolled back.
//! Passwords never appear in it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::accounts::User;
use crate::error::Result;
use crate::ids::UserId;
use crate::names::names;
use crate::query::{Conds, Page, PageRequest, Sort, sort_fields};
use crate::store::{Store, dispatch};

/// The user on whose behalf a store writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub id: UserId,
    /// How they appear in the log (their email), kept even if the user is deleted later.
    pub repr: String,
}

impl From<&User> for Actor {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            repr: user.email.clone(),
        }
    }
}

/// What was done to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    /// Created.
    Create,
    /// Changed.
    Update,
    /// Deleted.
    Delete,
}

names! {
    /// `create`, `update` or `delete`.
    AuditAction { Create => "create", Update => "update", Delete => "delete" }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// Who did it (none if that user was deleted since).
    pub actor_id: Option<UserId>,
    /// Who did it, as they appeared then (their email).
    pub actor_repr: String,
    /// What was done.
    pub action: AuditAction,
    /// The kind of object: a [`Model`](crate::accounts::Model) name such as `client`, or
    /// `chatsession`.
    pub object_type: String,
    /// The object's id.
    pub object_id: String,
    /// A short description of the object (email, name, first words of a message…).
    pub object_repr: String,
    /// What changed: the fields set and their new values (never a password).
    pub changes: Json,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Filters for [`Store::list_audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries by this user.
    pub actor_id: Option<UserId>,
    /// Only this kind of object.
    pub object_type: Option<String>,
    /// Only this object (with `object_type`).
    pub object_id: Option<String>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Case-insensitive substring of the object or actor description.
    pub search: Option<String>,
}

impl AuditFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("actor_id", self.actor_id)
            .eq("object_type", self.object_type.clone())
            .eq("object_id", self.object_id.clone())
            .eq("action", self.action.map(AuditAction::as_str))
            .search(&["object_repr", "actor_repr"], self.search.as_deref());
        c
    }
}

sort_fields!(
    /// Fields the audit log can be sorted by.
    AuditSort {
        /// When.
        CreatedAt => ("created_at", "created_at"),
        /// Id.
        Id => ("id", "id"),
    }
);

/// What a write hands to the backend to record (nothing when no actor is set).
#[derive(Debug, Clone)]
pub(crate) struct Audit<'a> {
    pub actor: Option<&'a Actor>,
    pub changes: Json,
}

/// The store's audit operations.
impl Store {
    /// A handle to the same database whose writes are recorded in the audit log as made by
    /// `actor`. Cheap: it shares the connection pools.
    pub fn acting_as(&self, actor: impl Into<Actor>) -> Store {
        Store {
            backend: self.backend.clone(),
            actor: Some(Arc::new(actor.into())),
            appender: self.appender.clone(),
            limits: self.limits.clone(),
            streams: self.streams.clone(),
            webhooks: self.webhooks.clone(),
            lead_capture: self.lead_capture.clone(),
            summaries: self.summaries.clone(),
        }
    }

    /// The actor this handle writes as, if any.
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_deref()
    }

    pub(crate) fn audit(&self, changes: Json) -> Audit<'_> {
        // Bounded (issue 15, finding 2): a 10⁵-key merge used to be copied whole into each
        // audit row. Nothing to bound when nothing is recorded.
        let changes = match self.actor {
            Some(_) => self.limits.bound_audit(changes),
            None => changes,
        };
        Audit {
            actor: self.actor.as_deref(),
            changes,
        }
    }

    /// Audit log entries matching `filter`, newest first by default.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        sort: Sort<AuditSort>,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        dispatch!(self.list_audit(filter, sort, page))
    }
}

/// The fields an update sets, as a JSON object for the audit log's `changes` (fields left as
/// they are, `None`, are not listed).
pub(crate) fn set_fields<const N: usize>(
    fields: [(&str, Option<serde_json::Value>); N],
) -> serde_json::Value {
    serde_json::Value::Object(
        fields
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
            .collect(),
    )
}
