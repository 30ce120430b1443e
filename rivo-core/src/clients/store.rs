//! The store's client operations: create, change, list and delete clients, and change their
//! context, stage and assignment — each validated here and written in one transaction.

use serde_json::{Value as Json, json};

use super::{
    Assignment, AssignmentFilter, Client, ClientContext, ClientFilter, ClientSort, ClientUpdate,
    ContextChange, ContextFilter, HistorySort, NewClient, Stage, StageChange, StageChangeFilter,
    StageOutcome,
};
use crate::audit::set_fields;
use crate::error::{Error, Result, Rule, UniqueRule, ValidationErrors};
use crate::ids::{ClientId, UserId};
use crate::query::{Page, PageRequest, Sort};
use crate::store::{Store, dispatch};
use crate::validate;

/// Validated client fields, ready to store.
#[derive(Debug, Clone)]
pub(crate) struct CleanClient {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// Checks the fields given (name required, email and phone optional), recording each broken
/// rule in `errors`; returns the cleaned values of the fields that passed.
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

/// Remarks as stored (trimmed, no NUL), or a validation error on `remarks`.
fn clean_remarks(remarks: &str) -> Result<String> {
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
