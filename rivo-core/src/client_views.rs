//! The CSM's view of clients (the later original's `/api/v1/clients/`): list rows with the
//! active assignee's email and the context inline, one client with its stage history (who by
//! email), and one atomic edit of fields, stage and assignment.
//!
//! Rules (in rivo-core, so an embedding app gets the same):
//! - a list page is **one** query (client, active assignee's email and context joined), at most
//!   [`MAX_OVERVIEW_PAGE`] rows, newest first;
//! - [`Store::edit_client`] validates every field first (stage from the closed set, email,
//!   lengths), then changes the fields, the stage (with its history row) and the assignment in
//!   **one** transaction: all or nothing;
//! - a client may be assigned to an active user who may work clients: staff, a superuser, or a
//!   holder of `client.view_client` (through their role or their own permissions) —
//!   [`Store::may_be_assigned`]. `is_staff` is not needed (the later original's model: any
//!   active user with the permission works leads).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::accounts::{Action, Model, Permission, User};
use crate::audit::set_fields;
use crate::clients::{Client, ClientUpdate, Stage, clean_client_fields};
use crate::error::{Error, Result, Rule, ValidationErrors};
use crate::ids::{ClientId, UserId};
use crate::store::{Store, dispatch};

/// Most rows of one [`Store::client_overviews`] page.
pub const MAX_OVERVIEW_PAGE: u32 = 500;
/// Most stage history entries [`Store::client_detail`] returns (newest first).
pub const MAX_DETAIL_HISTORY: u32 = 500;

/// A client as the CSM list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOverview {
    /// The client.
    pub client: Client,
    /// The email of the active assignment's user (`None`: unassigned, or awaiting assignment).
    pub assigned_to: Option<String>,
    /// The client's context data (`{}` when it has none).
    pub context: Map<String, Json>,
}

/// Which clients [`Store::client_overviews`] lists.
#[derive(Debug, Clone, Default)]
pub struct OverviewFilter {
    /// Only clients whose active assignment is this user's ("my clients").
    pub assigned_to: Option<UserId>,
    /// Only clients in this stage.
    pub stage: Option<Stage>,
}

/// One page of [`Store::client_overviews`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverviewPage {
    /// The rows, newest first.
    pub items: Vec<ClientOverview>,
    /// Whether a further page has rows.
    pub has_more: bool,
}

/// One stage history entry with who made it, by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The stage before (`None` for the first entry).
    pub from: Option<Stage>,
    /// The stage after.
    pub to: Stage,
    /// The email of who made the change (`None`: the system, or a deleted user).
    pub by: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A client with its context, active assignee and stage history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientDetail {
    /// The client, its assignee's email and its context.
    pub overview: ClientOverview,
    /// Newest first, at most [`MAX_DETAIL_HISTORY`] entries.
    pub history: Vec<HistoryEntry>,
}

/// What to do with the assignment in [`Store::edit_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignmentChange {
    /// Leave it.
    #[default]
    Keep,
    /// Assign to this user (nothing changes if they already hold the active assignment).
    To(UserId),
    /// End the active assignment.
    Unassign,
}

/// Changes made together by [`Store::edit_client`]; absent parts stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ClientEdit {
    /// Name, email and phone.
    pub fields: ClientUpdate,
    /// The new stage (nothing is written if the client is already in it).
    pub stage: Option<Stage>,
    /// The assignment.
    pub assignment: AssignmentChange,
    /// Remarks for the stage history entry and the assignment.
    pub remarks: String,
}

impl ClientEdit {
    /// Whether the edit touches the client itself: its name, email, phone or stage.
    pub fn changes_client(&self) -> bool {
        let f = &self.fields;
        f.name.is_some() || f.email.is_some() || f.phone.is_some() || self.stage.is_some()
    }

    /// The permissions that allow this edit, as alternatives per requirement: every inner
    /// list must have one permission the user holds.
    fn required(&self) -> Vec<Vec<Permission>> {
        let change_client = Permission::new(Action::Change, Model::Client);
        let add_assignment = Permission::new(Action::Add, Model::ClientAssignment);
        let change_assignment = Permission::new(Action::Change, Model::ClientAssignment);
        let mut needs = Vec::new();
        if self.changes_client() {
            needs.push(vec![change_client]);
        }
        match self.assignment {
            AssignmentChange::Keep => {}
            AssignmentChange::To(_) => needs.push(vec![add_assignment, change_assignment]),
            AssignmentChange::Unassign => needs.push(vec![change_assignment]),
        }
        if needs.is_empty() {
            // An edit that changes nothing is still a change of the client.
            needs.push(vec![change_client]);
        }
        needs
    }
}

/// A validated [`ClientEdit`], as the backend applies it.
pub(crate) struct CleanEdit {
    pub(crate) fields: ClientUpdate,
    pub(crate) stage: Option<Stage>,
    pub(crate) assignment: AssignmentChange,
    pub(crate) remarks: String,
    pub(crate) by: Option<UserId>,
}

/// The store's CSM client views.
impl Store {
    /// One page of clients with their active assignee's email and context, newest first, in
    /// one query. `limit` is clamped to 1..=[`MAX_OVERVIEW_PAGE`].
    pub async fn client_overviews(
        &self,
        filter: &OverviewFilter,
        offset: u64,
        limit: u32,
    ) -> Result<OverviewPage> {
        let limit = i64::from(limit.clamp(1, MAX_OVERVIEW_PAGE));
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut items = dispatch!(self.client_overviews(filter, offset, limit + 1))?;
        let has_more = items.len() as i64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(OverviewPage { items, has_more })
    }

    /// One client with its context, active assignee and stage history.
    pub async fn client_detail(&self, id: ClientId) -> Result<ClientDetail> {
        dispatch!(self.client_detail(id, i64::from(MAX_DETAIL_HISTORY)))
    }

    /// Whether `user` may hold a client's assignment: active, and staff, a superuser or a
    /// holder of `client.view_client`.
    pub async fn may_be_assigned(&self, user: &User) -> Result<bool> {
        if !user.is_active {
            return Ok(false);
        }
        if user.is_staff {
            return Ok(true);
        }
        self.has_permission(user, Permission::new(Action::View, Model::Client))
            .await
    }

    /// Whether `user` may make `edit` (the rule of the CSM API's `PUT /api/v1/clients/{id}/`):
    /// name, email, phone and stage need `client.change_client`; assigning someone needs
    /// `client.add_clientassignment` or `client.change_clientassignment`; ending the assignment
    /// needs `client.change_clientassignment`; an edit that changes nothing still needs
    /// `client.change_client`. An inactive user may do nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rivo_core::Error> {
    /// use rivo_core::Store;
    /// use rivo_core::accounts::{Action, Model, NewUser, Permission};
    /// use rivo_core::client_views::{AssignmentChange, ClientEdit};
    ///
    /// let store = Store::open("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let mut new = NewUser::new("csm@example.com", "csm");
    /// new.permissions.insert(Permission::new(Action::Add, Model::ClientAssignment));
    /// let csm = store.create_user(new).await?;
    ///
    /// let unassign = ClientEdit { assignment: AssignmentChange::Unassign, ..Default::default() };
    /// let assign = ClientEdit { assignment: AssignmentChange::To(csm.id), ..Default::default() };
    /// assert!(store.may_edit_client(&csm, &assign).await?);
    /// assert!(!store.may_edit_client(&csm, &unassign).await?); // needs the change permission
    /// # Ok(())
    /// # }
    /// ```
    pub async fn may_edit_client(&self, user: &User, edit: &ClientEdit) -> Result<bool> {
        if !user.is_active {
            return Ok(false);
        }
        for alternatives in edit.required() {
            let mut allowed = false;
            for permission in alternatives {
                if self.has_permission(user, permission).await? {
                    allowed = true;
                    break;
                }
            }
            if !allowed {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Changes a client's fields, stage and assignment in one transaction, made by `by`.
    /// Every input is checked first (a [`Error::Validation`] lists every wrong field); then
    /// either everything is written — the stage history row and the assignment rows included —
    /// or nothing.
    pub async fn edit_client(
        &self,
        id: ClientId,
        edit: ClientEdit,
        by: Option<UserId>,
    ) -> Result<Client> {
        let mut errors = ValidationErrors::new();
        let (name, email, phone) = clean_client_fields(
            &mut errors,
            edit.fields.name.as_deref(),
            edit.fields.email.as_deref(),
            edit.fields.phone.as_deref(),
        );
        let remarks = errors
            .check(
                "remarks",
                crate::validate::optional_text(&edit.remarks, None),
            )
            .unwrap_or_default();
        if let AssignmentChange::To(user_id) = edit.assignment {
            match self.user(user_id).await {
                Ok(user) => {
                    if !self.may_be_assigned(&user).await? {
                        errors.add(
                            "assign_to",
                            Rule::Other(
                                "Clients can only be assigned to active users who may view \
                                 clients."
                                    .into(),
                            ),
                        );
                    }
                }
                Err(Error::NotFound { .. }) => {
                    errors.add("assign_to", Rule::DoesNotExist { id: user_id.0 });
                }
                Err(e) => return Err(e),
            }
        }
        errors.into_result()?;
        let changes = set_fields([
            ("name", name.as_ref().map(|v| json!(v))),
            ("email", email.as_ref().map(|v| json!(v))),
            ("phone", phone.as_ref().map(|v| json!(v))),
            ("current_stage", edit.stage.map(|s| json!(s))),
            (
                "assigned_to",
                match edit.assignment {
                    AssignmentChange::Keep => None,
                    AssignmentChange::To(u) => Some(json!(u)),
                    AssignmentChange::Unassign => Some(Json::Null),
                },
            ),
        ]);
        let clean = CleanEdit {
            fields: ClientUpdate { name, email, phone },
            stage: edit.stage,
            assignment: edit.assignment,
            remarks,
            by,
        };
        let (client, staged, assigned) =
            dispatch!(self.edit_client(id, &clean, self.audit(changes)))
                .map_err(crate::clients::client_conflict)?;
        if staged || assigned {
            self.streams.wake(crate::streams::Wake::Activity);
        }
        if staged {
            self.webhooks
                .committed(crate::events::EventKind::ClientStageChanged);
        }
        if assigned {
            self.webhooks
                .committed(crate::events::EventKind::ClientAssigned);
        }
        Ok(client)
    }
}
