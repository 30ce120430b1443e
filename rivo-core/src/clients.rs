//! Clients: leads moving through stages, with context, stage history and assignment.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::audit::set_fields;

use crate::error::{Error, Result, Rule, UniqueRule, ValidationErrors};
use crate::ids::{AssignmentId, ClientId, ContextId, SessionId, StageChangeId, UserId};
use crate::query::{Conds, Page, PageRequest, Sort, sort_fields};
use crate::store::{Store, dispatch};
use crate::validate;

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

            /// The stored and wire spelling, e.g. `docs_pending`.
            pub fn as_str(self) -> &'static str {
                match self { Stage::Lead => "lead", $(Stage::$variant => $code),+ }
            }

            /// A label for people, e.g. `Docs Pending`.
            pub fn label(self) -> &'static str {
                match self { Stage::Lead => "Lead", $(Stage::$variant => $label),+ }
            }
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

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = Rule;

    fn from_str(s: &str) -> Result<Self, Rule> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| Rule::InvalidChoice {
                value: s.to_owned(),
            })
    }
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

/// The free-form data kept about a client, and the chat it came from. One per client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientContext {
    /// Id.
    pub id: ContextId,
    /// The client (also read as `client`, the admin API's name).
    #[serde(alias = "client")]
    pub client_id: ClientId,
    /// The chat session the lead came from.
    pub chat_session_id: Option<SessionId>,
    /// A JSON object (also read as `context_data`, the admin API's name).
    #[serde(alias = "context_data")]
    pub data: Map<String, Json>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// Filters for [`Store::list_contexts`].
#[derive(Debug, Clone, Default)]
pub struct ContextFilter {
    /// Only the context of this client.
    pub client_id: Option<ClientId>,
    /// Only contexts linked to this chat session.
    pub chat_session_id: Option<SessionId>,
}

impl ContextFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("client_id", self.client_id)
            .eq("chat_session_id", self.chat_session_id);
        c
    }
}

/// How to change a context.
#[derive(Debug, Clone)]
pub enum ContextChange {
    /// Set one key.
    Set(String, Json),
    /// Remove one key.
    Remove(String),
    /// Set every key of the object (top-level merge, like Python's `dict.update`).
    Merge(Map<String, Json>),
    /// Replace the whole object.
    Replace(Map<String, Json>),
    /// Link to a chat session, or unlink.
    ChatSession(Option<SessionId>),
}

impl ContextChange {
    /// The change as a JSON object, for the audit log.
    pub(crate) fn describe(&self) -> Json {
        match self {
            ContextChange::Set(key, value) => json!({ "set": { key: value } }),
            ContextChange::Remove(key) => json!({ "remove": key }),
            ContextChange::Merge(map) => json!({ "merge": map }),
            ContextChange::Replace(map) => json!({ "replace": map }),
            ContextChange::ChatSession(session) => json!({ "chat_session_id": session }),
        }
    }

    pub(crate) fn apply(self, context: &mut ClientContext) {
        match self {
            ContextChange::Set(key, value) => {
                context.data.insert(key, value);
            }
            ContextChange::Remove(key) => {
                context.data.remove(&key);
            }
            ContextChange::Merge(map) => context.data.extend(map),
            ContextChange::Replace(map) => context.data = map,
            ContextChange::ChatSession(session) => context.chat_session_id = session,
        }
    }
}

/// What [`Store::set_stage`] did, read in its own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOutcome {
    /// The client as the stage change left it (in the asked stage either way).
    pub client: Client,
    /// The stage history entry written; `None` when the client already was in that stage
    /// (then nothing was written).
    pub change: Option<StageChange>,
}

/// One entry of a client's stage history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// Id.
    pub id: StageChangeId,
    /// The client (also read as `client`, the admin API's name).
    #[serde(alias = "client")]
    pub client_id: ClientId,
    /// The stage before (none for the first entry).
    pub from_stage: Option<Stage>,
    /// The stage after.
    pub to_stage: Stage,
    /// Who made the change, if known.
    pub changed_by: Option<UserId>,
    /// Free text, may be empty.
    pub remarks: String,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// When the row was last changed.
    pub updated_at: DateTime<Utc>,
}

/// Filters for [`Store::list_stage_changes`].
#[derive(Debug, Clone, Default)]
pub struct StageChangeFilter {
    /// Only this client's history.
    pub client_id: Option<ClientId>,
    /// Only changes to this stage.
    pub to_stage: Option<Stage>,
    /// Only changes by this user.
    pub changed_by: Option<UserId>,
}

impl StageChangeFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("client_id", self.client_id)
            .eq("to_stage", self.to_stage.map(Stage::as_str))
            .eq("changed_by_id", self.changed_by);
        c
    }
}

/// A client handed to a support user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Id.
    pub id: AssignmentId,
    /// The client (also read as `client`, the admin API's name).
    #[serde(alias = "client")]
    pub client_id: ClientId,
    /// The support user; `None` on an active row means "awaiting assignment" (the later
    /// original's marker, written by lead capture when no one is picked automatically).
    pub assigned_to: Option<UserId>,
    /// Who assigned, if known.
    pub assigned_by: Option<UserId>,
    /// At most one active assignment per client exists.
    pub is_active: bool,
    /// Free text, may be empty.
    pub remarks: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last changed (e.g. deactivated).
    pub updated_at: DateTime<Utc>,
}

/// Filters for [`Store::list_assignments`].
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    /// Only this client's assignments.
    pub client_id: Option<ClientId>,
    /// Only active (or inactive) assignments.
    pub is_active: Option<bool>,
    /// Only assignments to this user.
    pub assigned_to: Option<UserId>,
}

impl AssignmentFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("client_id", self.client_id)
            .eq("is_active", self.is_active)
            .eq("assigned_to_id", self.assigned_to);
        c
    }
}

sort_fields!(
    /// Fields stage changes, assignments and contexts can be sorted by.
    HistorySort {
        /// Creation time.
        CreatedAt => ("created_at", "created_at"),
        /// Id.
        Id => ("id", "id"),
    }
);

/// Validated client fields, ready to store.
#[derive(Debug, Clone)]
pub(crate) struct CleanClient {
    pub name: String,
    pub email: String,
    pub phone: String,
}

pub(crate) fn clean_client_fields(
    errors: &mut ValidationErrors,
    name: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
) -> (Option<String>, Option<String>, Option<String>) {
    (
        name.and_then(|v| errors.check("name", validate::required_text(v, Some(255)))),
        email.and_then(|v| errors.check("email", validate::optional_email(v))),
        phone.and_then(|v| errors.check("phone", validate::optional_text(v, Some(20)))),
    )
}

pub(crate) fn clean_remarks(remarks: &str) -> Result<String> {
    validate::optional_text(remarks, None).map_err(|rule| Error::invalid("remarks", rule))
}

/// The store's client operations.
impl Store {
    /// Creates a client with its context and the first stage history entry (from none to
    /// `stage`), in one transaction.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rivo_core::Error> {
    /// use rivo_core::{clients::{NewClient, Stage}, Store};
    /// let store = Store::open("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let client = store.create_client(NewClient::new("Ada Lovelace")).await?;
    /// store.set_stage(client.id, Stage::Contacted, None, "called back").await?;
    /// assert_eq!(store.client(client.id).await?.current_stage, Stage::Contacted);
    /// # Ok(()) }
    /// ```
    pub async fn create_client(&self, client: NewClient) -> Result<Client> {
        let mut errors = ValidationErrors::new();
        let (name, email, phone) = clean_client_fields(
            &mut errors,
            Some(&client.name),
            Some(&client.email),
            Some(&client.phone),
        );
        errors.into_result()?;
        let (Some(name), Some(email), Some(phone)) = (name, email, phone) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        self.limits.check_context(&client.context)?;
        let clean = CleanClient { name, email, phone };
        let changes = json!({
            "name": clean.name,
            "email": clean.email,
            "phone": clean.phone,
            "current_stage": client.stage,
            "chat_session_id": client.chat_session_id,
        });
        let created = dispatch!(self.create_client(&clean, &client, self.audit(changes)))?;
        self.streams.wake(crate::streams::Wake::Activity);
        self.webhooks
            .committed(crate::events::EventKind::ClientCreated);
        Ok(created)
    }

    /// The names of the clients `ids` (their `__str__` in the admin), in one query; unknown
    /// ids are left out.
    pub async fn client_names(
        &self,
        ids: &[ClientId],
    ) -> Result<std::collections::BTreeMap<ClientId, String>> {
        let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
        Ok(dispatch!(self.client_names(&raw))?
            .into_iter()
            .map(|(id, name)| (ClientId(id), name))
            .collect())
    }

    /// One client by id.
    pub async fn client(&self, id: ClientId) -> Result<Client> {
        dispatch!(self.client(id))
    }

    /// Changes a client's name, email or phone.
    pub async fn update_client(&self, id: ClientId, update: ClientUpdate) -> Result<Client> {
        let mut errors = ValidationErrors::new();
        let (name, email, phone) = clean_client_fields(
            &mut errors,
            update.name.as_deref(),
            update.email.as_deref(),
            update.phone.as_deref(),
        );
        errors.into_result()?;
        let changes = set_fields([
            ("name", name.as_ref().map(|v| json!(v))),
            ("email", email.as_ref().map(|v| json!(v))),
            ("phone", phone.as_ref().map(|v| json!(v))),
        ]);
        let update = ClientUpdate { name, email, phone };
        dispatch!(self.update_client(id, &update, self.audit(changes)))
    }

    /// Deletes a client with its context, stage history and assignments.
    pub async fn delete_client(&self, id: ClientId) -> Result<()> {
        dispatch!(self.delete_client(id, self.audit(json!({}))))
    }

    /// Clients matching `filter`, sorted (newest first by default), one page.
    pub async fn list_clients(
        &self,
        filter: &ClientFilter,
        sort: Sort<ClientSort>,
        page: PageRequest,
    ) -> Result<Page<Client>> {
        dispatch!(self.list_clients(filter, sort, page))
    }

    /// A client's context.
    pub async fn context(&self, client_id: ClientId) -> Result<ClientContext> {
        dispatch!(self.context(client_id))
    }

    /// One key of a client's context (`None` if the key is not set).
    pub async fn context_value(&self, client_id: ClientId, key: &str) -> Result<Option<Json>> {
        Ok(self.context(client_id).await?.data.remove(key))
    }

    /// Applies `changes` to a client's context, in order, as one atomic change, and returns
    /// the context. Every change is checked before anything is read, then the context is read,
    /// changed and written in **one** transaction (so concurrent changes of different keys are
    /// all kept), and the [`Limits`](crate::Limits) are checked on the result: when any change
    /// fails, nothing is written and the context stays exactly as it was.
    ///
    /// The audit log gets one entry per call: its `changes` is the change's description
    /// (`{"set": {…}}`, `{"remove": key}`, `{"merge": {…}}`, `{"replace": {…}}` or
    /// `{"chat_session_id": …}`) for one change, or `{"changes": [those, in order]}` for
    /// several. An empty slice changes nothing, writes no audit entry, and returns the context
    /// as it is.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rivo_core::Error> {
    /// use rivo_core::clients::{ContextChange, NewClient};
    /// use serde_json::json;
    /// let store = rivo_core::Store::open("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let client = store.create_client(NewClient::new("Ada")).await?;
    /// store.change_context(client.id, &[ContextChange::Set("a".into(), json!(1))]).await?;
    /// // The second change is refused, so the first is not applied either.
    /// let refused = store
    ///     .change_context(
    ///         client.id,
    ///         &[ContextChange::Set("b".into(), json!(2)), ContextChange::Remove(String::new())],
    ///     )
    ///     .await;
    /// assert!(refused.is_err());
    /// assert_eq!(store.context(client.id).await?.data.get("b"), None);
    /// # Ok(()) }
    /// ```
    pub async fn change_context(
        &self,
        client_id: ClientId,
        changes: &[ContextChange],
    ) -> Result<ClientContext> {
        for change in changes {
            if let ContextChange::Set(key, _) | ContextChange::Remove(key) = change
                && key.is_empty()
            {
                return Err(Error::invalid("key", Rule::Blank));
            }
        }
        let described = match changes {
            [] => return self.context(client_id).await,
            [one] => one.describe(),
            several => {
                json!({ "changes": several.iter().map(ContextChange::describe).collect::<Vec<_>>() })
            }
        };
        dispatch!(self.change_context(client_id, changes, &self.limits, self.audit(described)))
    }

    /// Contexts matching `filter`, newest first by default.
    pub async fn list_contexts(
        &self,
        filter: &ContextFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<ClientContext>> {
        dispatch!(self.list_contexts(filter, sort, page))
    }

    /// Moves a client to `to_stage`: updates the client and writes the stage history entry in
    /// one transaction (with the client row locked, so concurrent changes serialise and the
    /// history always replays to the current stage). Returns the client as that transaction
    /// left it, and the history entry; the entry is `None`, and nothing is written, when the
    /// client is already in that stage.
    pub async fn set_stage(
        &self,
        client_id: ClientId,
        to_stage: Stage,
        changed_by: Option<UserId>,
        remarks: &str,
    ) -> Result<StageOutcome> {
        let remarks = clean_remarks(remarks)?;
        let changes = json!({ "to_stage": to_stage, "remarks": remarks });
        let outcome = dispatch!(self.set_stage(
            client_id,
            to_stage,
            changed_by,
            &remarks,
            self.audit(changes)
        ))?;
        if outcome.change.is_some() {
            self.streams.wake(crate::streams::Wake::Activity);
        }
        self.webhooks
            .committed(crate::events::EventKind::ClientStageChanged);
        Ok(outcome)
    }

    /// Stage history entries matching `filter`, newest first by default.
    pub async fn list_stage_changes(
        &self,
        filter: &StageChangeFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<StageChange>> {
        dispatch!(self.list_stage_changes(filter, sort, page))
    }

    /// Assigns a client to an active user who may work clients (staff, or a holder of
    /// `client.view_client`: [`Store::may_be_assigned`]): deactivates the current active assignment and
    /// creates the new one in one transaction. Concurrent assigns of one client serialise; the
    /// database also refuses a second active assignment (partial unique index).
    pub async fn assign(
        &self,
        client_id: ClientId,
        assigned_to: UserId,
        assigned_by: Option<UserId>,
        remarks: &str,
    ) -> Result<Assignment> {
        let remarks = clean_remarks(remarks)?;
        let user = match self.user(assigned_to).await {
            Ok(user) => user,
            Err(Error::NotFound { .. }) => {
                return Err(Error::invalid(
                    "assigned_to",
                    Rule::DoesNotExist { id: assigned_to.0 },
                ));
            }
            Err(e) => return Err(e),
        };
        if !self.may_be_assigned(&user).await? {
            return Err(Error::invalid(
                "assigned_to",
                Rule::Other(
                    "Clients can only be assigned to active users who may view clients.".into(),
                ),
            ));
        }
        let changes = json!({ "assigned_to": assigned_to, "remarks": remarks });
        let assignment = dispatch!(self.assign(
            client_id,
            assigned_to,
            assigned_by,
            &remarks,
            self.audit(changes)
        ))
        .map_err(client_conflict)?;
        self.streams.wake(crate::streams::Wake::Activity);
        self.webhooks
            .committed(crate::events::EventKind::ClientAssigned);
        Ok(assignment)
    }

    /// Ends the client's active assignment, returning it (`None` if there was none).
    pub async fn unassign(&self, client_id: ClientId) -> Result<Option<Assignment>> {
        dispatch!(self.unassign(client_id, self.audit(json!({ "is_active": false }))))
    }

    /// The client's active assignment, if any.
    pub async fn active_assignment(&self, client_id: ClientId) -> Result<Option<Assignment>> {
        let page = self
            .list_assignments(
                &AssignmentFilter {
                    client_id: Some(client_id),
                    is_active: Some(true),
                    assigned_to: None,
                },
                Sort::desc(HistorySort::CreatedAt),
                PageRequest::first(1),
            )
            .await?;
        Ok(page.items.into_iter().next())
    }

    /// Assignments matching `filter`, newest first by default.
    pub async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<Assignment>> {
        dispatch!(self.list_assignments(filter, sort, page))
    }
}

/// Words a unique rule broken by a client write (the SQL layer only says which rule:
/// [`Error::unique_violation`]): a second active assignment is a conflict on `client_id`.
/// Other errors pass through.
pub(crate) fn client_conflict(err: Error) -> Error {
    let (field, message) = match err.unique_violation() {
        None => return err,
        Some(UniqueRule::OneActiveAssignment) => ("client_id", "This client_id is already taken."),
        Some(_) => ("non_field_errors", "This value is already taken."),
    };
    Error::Conflict {
        field,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_round_trip_in_order() {
        assert_eq!(Stage::ALL.len(), 14);
        assert_eq!(Stage::default(), Stage::Lead);
        for s in Stage::ALL {
            assert_eq!(s.as_str().parse::<Stage>().unwrap(), s);
        }
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            Stage::ApplicationInProcess.as_str(),
            "application_in_process"
        );
        assert!("Lead".parse::<Stage>().is_err());
    }
}
