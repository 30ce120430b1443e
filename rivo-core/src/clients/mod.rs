//! Clients: leads moving through stages, with context, stage history and assignment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::ids::{ClientId, SessionId, UserId};
use crate::names::names;
use crate::query::{Conds, sort_fields};
#[cfg(doc)]
use crate::store::Store;

macro_rules! stages {
    ($($variant:ident => ($code:literal, $label:literal)),+ $(,)?) => {
        /// Where a client stands in the pipeline, in pipeline order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Stage {
            /// Lead (the default).
            #[default]
            Lead,
            $(
                #[doc = $label]
                $variant,
            )+
        }

        impl Stage {
            /// Every stage, in pipeline order.
            pub const ALL: [Stage; 14] = [Stage::Lead, $(Stage::$variant),+];

            /// A label for people, e.g. `Docs Pending`.
            pub fn label(self) -> &'static str {
                match self { Stage::Lead => "Lead", $(Stage::$variant => $label),+ }
            }
        }

        names! {
            /// The stored and wire spelling, e.g. `docs_pending`.
            Stage { Lead => "lead", $($variant => $code),+ }
        }
    };
}

stages! {
    Contacted => ("contacted", "Contacted"),
    Qualified => ("qualified", "Qualified"),
    DocsPending => ("docs_pending", "Docs Pending"),
    DocsReceived => ("docs_received", "Docs Received"),
    ApplicationStarted => ("application_started", "Application Started"),
    ApplicationSubmitted => ("application_submitted", "Application Submitted"),
    ApplicationInProcess => ("application_in_process", "Application In Process"),
    ApplicationApproved => ("application_approved", "Application Approved"),
    Disbursed => ("disbursed", "Disbursed"),
    Active => ("active", "Active"),
    Lost => ("lost", "Lost"),
    Closed => ("closed", "Closed"),
    Rejected => ("rejected", "Rejected"),
}

/// A client (lead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Id.
    pub id: ClientId,
    /// Name, 1 to 255 characters.
    pub name: String,
    /// Email, may be empty.
    pub email: String,
    /// Phone, at most 20 characters, may be empty.
    pub phone: String,
    /// Where the client stands; changed only through [`Store::set_stage`].
    pub current_stage: Stage,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A client to create.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Name (required).
    pub name: String,
    /// Email (may be empty).
    pub email: String,
    /// Phone (may be empty).
    pub phone: String,
    /// First stage (default `lead`).
    pub stage: Stage,
    /// The chat the lead came from, if any.
    pub chat_session_id: Option<SessionId>,
    /// Initial context data.
    pub context: Map<String, Json>,
    /// Who creates it (recorded on the first stage history entry).
    pub created_by: Option<UserId>,
}

impl NewClient {
    /// A lead with this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// Changes to a client; `None` leaves a field as it is. Stages change with [`Store::set_stage`].
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New phone.
    pub phone: Option<String>,
}

/// Filters for [`Store::list_clients`].
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    /// Case-insensitive substring of name, email or phone.
    pub search: Option<String>,
    /// Only clients in this stage.
    pub stage: Option<Stage>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
}

impl ClientFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.indexed_search(
            "clients_fts",
            &["name", "email", "phone"],
            self.search.as_deref(),
        )
        .eq("current_stage", self.stage.map(Stage::as_str))
        .at_least("created_at", self.created_from)
        .before("created_at", self.created_before);
        c
    }
}

sort_fields!(
    /// Fields clients can be sorted by.
    ClientSort {
        /// Creation time.
        CreatedAt => ("created_at", "created_at"),
        /// Last change.
        UpdatedAt => ("updated_at", "updated_at"),
        /// Name.
        Name => ("name", "name"),
        /// Email.
        Email => ("email", "email"),
        /// Stage.
        Stage => ("current_stage", "current_stage"),
        /// Id.
        Id => ("id", "id"),
    }
);

mod history;
mod store;

pub use history::{
    Assignment, AssignmentFilter, ClientContext, ContextChange, ContextFilter, HistorySort,
    StageChange, StageChangeFilter, StageOutcome,
};
pub(crate) use store::{CleanClient, clean_client_fields, client_conflict};

#[cfg(test)]
mod tests;
