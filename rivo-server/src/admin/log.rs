//! `/api/v1/admin/log/` (the audit log) and `/api/v1/admin/` (what the caller may see, with
//! counts: the admin's home page).

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Query};
use rivo_core::access::Access;
use rivo_core::accounts::{Action, Model};
use rivo_core::accounts::{RoleFilter, RoleSort, UserFilter, UserSort};
use rivo_core::audit::{AuditFilter, AuditSort};
use rivo_core::chat::{MessageFilter, MessageSort, SessionFilter};
use rivo_core::clients::{
    AssignmentFilter, ClientFilter, ClientSort, ContextFilter, HistorySort, StageChangeFilter,
};
use rivo_core::{PageRequest, Permission, Sort, Store, UserId};
use serde::Serialize;

use super::bodies::{AuditActionName, AuditPage};
use super::{AdminTag, Found, ListErrors, Paging, ReadErrors, found};
use crate::auth::Auth;
use crate::config::Config;
use crate::error::OpError;

/// What the caller may do with one kind of object.
#[derive(Debug, Object, Serialize)]
pub struct Abilities {
    /// List and read.
    pub view: bool,
    /// Create.
    pub add: bool,
    /// Change.
    pub change: bool,
    /// Delete.
    pub delete: bool,
}

/// One section of the admin.
#[derive(Debug, Object, Serialize)]
pub struct AdminSection {
    /// Stable name, e.g. `clients`.
    pub name: String,
    /// For people, e.g. `Clients`.
    pub label: String,
    /// The list route.
    pub path: String,
    /// How many objects the list holds (exact up to 10,000; see `count_is_estimate`).
    pub count: u64,
    /// `true` when `count` is an estimate from the table's statistics.
    pub count_is_estimate: bool,
    /// What the caller may do there.
    pub permissions: Abilities,
}

/// The sections the caller may see.
#[derive(Debug, Object, Serialize)]
pub struct AdminIndex {
    /// Sections with at least the view permission, in menu order.
    pub sections: Vec<AdminSection>,
}

/// A list's total and whether it is an estimate.
fn tally<T>(page: rivo_core::Page<T>) -> (u64, bool) {
    (page.total, page.estimated)
}

/// The audit log and the admin index.
pub struct AdminLogApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::Admin")]
impl AdminLogApi {
    /// The admin index
    ///
    /// The sections the caller may see, with their counts and what the caller may do in each:
    /// the admin's home page.
    #[oai(path = "/", method = "get", operation_id = "admin_index")]
    async fn index(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
    ) -> Result<Found<AdminIndex>, OpError<ReadErrors>> {
        let caller = auth.caller(req, &config)?;
        store.authorize(&caller.user, Access::AdminIndex).await?;
        let held = store.effective_permissions(&caller.user).await?;
        let can = |model: Model| Abilities {
            view: held.contains(&Permission::new(Action::View, model)),
            add: held.contains(&Permission::new(Action::Add, model)),
            change: held.contains(&Permission::new(Action::Change, model)),
            delete: held.contains(&Permission::new(Action::Delete, model)),
        };
        let one = PageRequest::first(0);
        let mut sections = Vec::new();
        for (name, label, path, model) in [
            ("users", "Users", "/api/v1/admin/users/", Model::User),
            ("roles", "Roles", "/api/v1/admin/roles/", Model::Role),
            (
                "chat_sessions",
                "Chat sessions",
                "/api/v1/admin/chat/sessions/",
                Model::ChatHistory,
            ),
            (
                "chat_messages",
                "Chat history",
                "/api/v1/admin/chat/messages/",
                Model::ChatHistory,
            ),
            (
                "clients",
                "Clients",
                "/api/v1/admin/clients/",
                Model::Client,
            ),
            (
                "contexts",
                "Client context",
                "/api/v1/admin/contexts/",
                Model::Context,
            ),
            (
                "stage_history",
                "Stage history",
                "/api/v1/admin/stage-history/",
                Model::ClientStageHistory,
            ),
            (
                "assignments",
                "Assignments",
                "/api/v1/admin/assignments/",
                Model::ClientAssignment,
            ),
        ] {
            let abilities = can(model);
            if !abilities.view {
                continue;
            }
            let counted = match name {
                "users" => store
                    .list_users(&UserFilter::default(), Sort::asc(UserSort::Id), one)
                    .await
                    .map(tally)?,
                "roles" => store
                    .list_roles(&RoleFilter::default(), Sort::asc(RoleSort::Id), one)
                    .await
                    .map(tally)?,
                "chat_sessions" => store
                    .list_sessions(&SessionFilter::default(), one)
                    .await
                    .map(tally)?,
                "chat_messages" => store
                    .list_messages(&MessageFilter::default(), Sort::asc(MessageSort::Id), one)
                    .await
                    .map(tally)?,
                "clients" => store
                    .list_clients(&ClientFilter::default(), Sort::asc(ClientSort::Id), one)
                    .await
                    .map(tally)?,
                "contexts" => store
                    .list_contexts(&ContextFilter::default(), Sort::asc(HistorySort::Id), one)
                    .await
                    .map(tally)?,
                "stage_history" => store
                    .list_stage_changes(
                        &StageChangeFilter::default(),
                        Sort::asc(HistorySort::Id),
                        one,
                    )
                    .await
                    .map(tally)?,
                _ => store
                    .list_assignments(
                        &AssignmentFilter::default(),
                        Sort::asc(HistorySort::Id),
                        one,
                    )
                    .await
                    .map(tally)?,
            };
            sections.push(AdminSection {
                name: name.to_owned(),
                label: label.to_owned(),
                path: path.to_owned(),
                count: counted.0,
                count_is_estimate: counted.1,
                permissions: abilities,
            });
        }
        if store.may(&caller.user, Access::AuditLog).await? {
            let count = store
                .list_audit(&AuditFilter::default(), Sort::asc(AuditSort::Id), one)
                .await?;
            sections.push(AdminSection {
                name: "log".to_owned(),
                label: "Audit log".to_owned(),
                path: "/api/v1/admin/log/".to_owned(),
                count: count.total,
                count_is_estimate: count.estimated,
                permissions: Abilities {
                    view: true,
                    add: false,
                    change: false,
                    delete: false,
                },
            });
        }
        Ok(found(AdminIndex { sections }))
    }

    /// List the audit log
    ///
    /// Every admin write: who, when, which object, what changed (never a password). Newest
    /// first by default. Superusers only.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/log/", method = "get", operation_id = "admin_log_list")]
    async fn log_list(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// Case-insensitive text to find in the object or actor description.
        search: Query<Option<String>>,
        /// `created_at` or `id`; `-` for descending.
        ordering: Query<Option<String>>,
        /// Only entries by this user.
        actor: Query<Option<i64>>,
        /// Only this kind of object (`user`, `role`, `chathistory`, `chatsession`, `client`,
        /// `context`, `clientstagehistory`, `clientassignment`).
        object_type: Query<Option<String>>,
        /// Only this object (with `object_type`).
        object_id: Query<Option<String>>,
        /// Only this action.
        action: Query<Option<AuditActionName>>,
    ) -> Result<Found<AuditPage>, OpError<ListErrors>> {
        let admin = auth
            .authorize(req, &config, &store, Access::AuditLog)
            .await?;
        let paging = Paging::new(page.0, page_size.0)?;
        let filter = AuditFilter {
            actor_id: actor.0.map(UserId),
            object_type: object_type.0,
            object_id: object_id.0,
            action: action.0.map(|a| match a {
                AuditActionName::Create => rivo_core::audit::AuditAction::Create,
                AuditActionName::Update => rivo_core::audit::AuditAction::Update,
                AuditActionName::Delete => rivo_core::audit::AuditAction::Delete,
            }),
            search: search.0,
        };
        let sort = super::ordering(ordering.0.as_deref(), Sort::desc(AuditSort::CreatedAt));
        let entries = admin
            .store
            .list_audit(&filter, sort, paging.request())
            .await?;
        Ok(found(AuditPage::from(paging.paged(req, entries)?)))
    }
}
