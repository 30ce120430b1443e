//! `/api/v1/admin/clients/` with each client's context, stage and assignment, and the global
//! `/contexts/`, `/stage-history/` and `/assignments/` lists.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Path, param::Query};
use rivo_core::accounts::{Action, Model};
use rivo_core::clients::{
    AssignmentFilter, ClientFilter, ClientSort, ClientUpdate, ContextChange, ContextFilter,
    HistorySort, NewClient, StageChangeFilter,
};
use rivo_core::{ClientId, Permission, SessionId, Sort, Stage, Store, UserId};
use serde::Serialize;

use super::bodies::{
    AssignmentBody, AssignmentPage, ClientBody, ClientPage, ContextBody, ContextPage,
    StageChangeBody, StageChangePage, StageName,
};
use super::input::JsonBody;
use super::{
    AdminTag, Created, DeleteErrors, Found, ListErrors, NoContent, Paging, ReadErrors, WriteErrors,
    created, found, time_before, time_from,
};
use crate::auth::Auth;
use crate::config::Config;
use crate::error::{ApiError, OpError};

fn client_permission(action: Action) -> Permission {
    Permission::new(action, Model::Client)
}

/// A client to create.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientCreateRequest {
    /// Name (required, at most 255 characters).
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Phone (at most 20 characters).
    pub phone: Option<String>,
    /// First stage (default `lead`).
    pub current_stage: Option<StageName>,
    /// The chat session the lead came from.
    pub chat_session_id: Option<String>,
    /// Initial context (a JSON object).
    pub context_data: Option<serde_json::Value>,
}

/// Changes to a client; absent fields stay as they are. Stages change with
/// `admin_clients_set_stage`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientUpdateRequest {
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// A whole new context.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ContextReplaceRequest {
    /// The new JSON object (replaces the old one).
    pub context_data: serde_json::Value,
    /// The chat session the lead came from (`null` unlinks; absent keeps it).
    pub chat_session_id: Option<String>,
}

/// Keys to set in a context.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ContextMergeRequest {
    /// Keys to set (top-level merge; other keys stay).
    pub context_data: Option<serde_json::Value>,
    /// Keys to remove.
    pub remove: Option<Vec<String>>,
    /// The chat session the lead came from (`null` unlinks; absent keeps it).
    pub chat_session_id: Option<String>,
}

/// A stage change.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StageRequest {
    /// The new stage.
    pub to_stage: StageName,
    /// Why.
    pub remarks: Option<String>,
}

/// The result of a stage change.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct StageResult {
    /// Whether the stage changed (`false` when the client was already in it).
    pub changed: bool,
    /// The client after the change.
    pub client: ClientBody,
    /// The stage history entry written, if the stage changed.
    pub history: Option<StageChangeBody>,
}

/// An assignment to make.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AssignRequest {
    /// Id of an active staff user.
    pub assigned_to: i64,
    /// Why.
    pub remarks: Option<String>,
}

/// Clients and everything about them.
pub struct AdminClientsApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::AdminClients")]
impl AdminClientsApi {
    /// List clients
    ///
    /// Newest first by default. `search` matches name, email and phone.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/clients/",
        method = "get",
        operation_id = "admin_clients_list"
    )]
    async fn clients_list(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// Case-insensitive text to find.
        search: Query<Option<String>>,
        /// `created_at`, `updated_at`, `name`, `email`, `current_stage` or `id`; `-` for
        /// descending.
        ordering: Query<Option<String>>,
        /// Only clients in this stage.
        current_stage: Query<Option<StageName>>,
        /// Created on or after this date (`YYYY-MM-DD`) or instant (RFC 3339).
        created_at_after: Query<Option<String>>,
        /// Created on or before this date, or before this instant.
        created_at_before: Query<Option<String>>,
    ) -> Result<Found<ClientPage>, OpError<ListErrors>> {
        let admin = auth
            .admin(req, &config, &store, client_permission(Action::View))
            .await?;
        let paging = Paging::new(page.0, page_size.0)?;
        let filter = ClientFilter {
            search: search.0,
            stage: current_stage.0.map(Stage::from),
            created_from: time_from("created_at_after", created_at_after.0.as_deref())?,
            created_before: time_before("created_at_before", created_at_before.0.as_deref())?,
        };
        let sort = super::ordering(ordering.0.as_deref(), Sort::desc(ClientSort::CreatedAt));
        let clients = admin
            .store
            .list_clients(&filter, sort, paging.request())
            .await?;
        Ok(found(ClientPage::from(paging.paged(req, clients)?)))
    }

    /// Create a client
    ///
    /// Creates the client, its context and the first stage history entry in one transaction.
    #[oai(
        path = "/clients/",
        method = "post",
        operation_id = "admin_clients_create"
    )]
    async fn clients_create(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        body: JsonBody<ClientCreateRequest>,
    ) -> Result<Created<ClientBody>, OpError<WriteErrors>> {
        let admin = auth
            .admin(req, &config, &store, client_permission(Action::Add))
            .await?;
        let mut body = body;
        let name = body.string("name");
        let email = body.opt_string("email");
        let phone = body.opt_string("phone");
        let stage: Option<Stage> = body.opt_choice("current_stage");
        let session = body.opt_nullable_session("chat_session_id").flatten();
        let context = body.opt_object("context_data");
        body.finish()?;
        let client = admin
            .store
            .create_client(NewClient {
                name: name.unwrap_or_default(),
                email: email.unwrap_or_default(),
                phone: phone.unwrap_or_default(),
                stage: stage.unwrap_or_default(),
                chat_session_id: session,
                context: context.unwrap_or_default(),
                created_by: Some(admin.user.id),
            })
            .await?;
        Ok(created(client.into()))
    }

    /// Read a client
    #[oai(
        path = "/clients/:id/",
        method = "get",
        operation_id = "admin_clients_read"
    )]
    async fn clients_read(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<Found<ClientBody>, OpError<ReadErrors>> {
        let admin = auth
            .admin(req, &config, &store, client_permission(Action::View))
            .await?;
        Ok(found(admin.store.client(ClientId(id.0)).await?.into()))
    }

    /// Update a client
    ///
    /// Only the fields sent change.
    #[oai(
        path = "/clients/:id/",
        method = "patch",
        operation_id = "admin_clients_update"
    )]
    async fn clients_update(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<ClientUpdateRequest>,
    ) -> Result<Found<ClientBody>, OpError<WriteErrors>> {
        let admin = auth
            .admin(req, &config, &store, client_permission(Action::Change))
            .await?;
        let mut body = body;
        if body.has("current_stage") {
            body.raw("current_stage");
            return Err(ApiError::field(
                "current_stage",
                "Change the stage with POST /api/v1/admin/clients/{id}/stage/.",
            )
            .into());
        }
        let update = ClientUpdate {
            name: body.opt_string("name"),
            email: body.opt_string("email"),
            phone: body.opt_string("phone"),
        };
        body.finish()?;
        Ok(found(
            admin
                .store
                .update_client(ClientId(id.0), update)
                .await?
                .into(),
        ))
    }

    /// Delete a client
    ///
    /// With its context, stage history and assignments.
    #[oai(
        path = "/clients/:id/",
        method = "delete",
        operation_id = "admin_clients_delete"
    )]
    async fn clients_delete(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<NoContent, OpError<DeleteErrors>> {
        let admin = auth
            .admin(req, &config, &store, client_permission(Action::Delete))
            .await?;
        admin.store.delete_client(ClientId(id.0)).await?;
        Ok(NoContent::NoContent)
    }

    /// Read a client's context
    #[oai(
        path = "/clients/:id/context/",
        method = "get",
        operation_id = "admin_clients_context_read"
    )]
    async fn context_read(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<Found<ContextBody>, OpError<ReadErrors>> {
        let admin = auth
            .admin(
                req,
                &config,
                &store,
                Permission::new(Action::View, Model::Context),
            )
            .await?;
        Ok(found(admin.store.context(ClientId(id.0)).await?.into()))
    }

    /// Replace a client's context
    ///
    /// `context_data` replaces the whole object.
    #[oai(
        path = "/clients/:id/context/",
        method = "put",
        operation_id = "admin_clients_context_replace"
    )]
    async fn context_replace(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<ContextReplaceRequest>,
    ) -> Result<Found<ContextBody>, OpError<WriteErrors>> {
        let admin = auth
            .admin(
                req,
                &config,
                &store,
                Permission::new(Action::Change, Model::Context),
            )
            .await?;
        let mut body = body;
        if !body.has("context_data") {
            body.string("context_data");
        }
        let data = body.opt_object("context_data");
        let session = body.opt_nullable_session("chat_session_id");
        body.finish()?;
        let mut changes = vec![ContextChange::Replace(data.unwrap_or_default())];
        changes.extend(session.map(ContextChange::ChatSession));
        let context = admin.store.change_context(ClientId(id.0), &changes).await?;
        Ok(found(context.into()))
    }

    /// Merge keys into a client's context
    ///
    /// Sets the keys of `context_data` (other keys stay) and removes the keys in `remove`, all
    /// in one transaction: when one change is refused, none is applied.
    #[oai(
        path = "/clients/:id/context/",
        method = "patch",
        operation_id = "admin_clients_context_merge"
    )]
    async fn context_merge(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<ContextMergeRequest>,
    ) -> Result<Found<ContextBody>, OpError<WriteErrors>> {
        let admin = auth
            .admin(
                req,
                &config,
                &store,
                Permission::new(Action::Change, Model::Context),
            )
            .await?;
        let mut body = body;
        let data = body.opt_object("context_data");
        let remove = match body.raw("remove") {
            None => Vec::new(),
            Some(serde_json::Value::Array(keys)) if keys.iter().all(|k| k.is_string()) => keys
                .into_iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            Some(_) => {
                return Err(ApiError::field("remove", "Expected a list of key names.").into());
            }
        };
        let session = body.opt_nullable_session("chat_session_id");
        body.finish()?;
        let mut changes: Vec<ContextChange> = Vec::new();
        if let Some(data) = data {
            changes.push(ContextChange::Merge(data));
        }
        changes.extend(remove.into_iter().map(ContextChange::Remove));
        if let Some(session) = session {
            changes.push(ContextChange::ChatSession(session));
        }
        let context = admin.store.change_context(ClientId(id.0), &changes).await?;
        Ok(found(context.into()))
    }

    /// Move a client to a stage
    ///
    /// Updates the client and writes the stage history entry (by the caller) in one
    /// transaction. Moving to the current stage changes nothing (`changed: false`).
    #[oai(
        path = "/clients/:id/stage/",
        method = "post",
        operation_id = "admin_clients_set_stage"
    )]
    async fn set_stage(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<StageRequest>,
    ) -> Result<Found<StageResult>, OpError<WriteErrors>> {
        let admin = auth
            .admin(req, &config, &store, client_permission(Action::Change))
            .await?;
        let mut body = body;
        let stage: Option<Stage> = body.choice("to_stage");
        let remarks = body.opt_string("remarks");
        body.finish()?;
        let outcome = admin
            .store
            .set_stage(
                ClientId(id.0),
                stage.unwrap_or_default(),
                Some(admin.user.id),
                remarks.as_deref().unwrap_or_default(),
            )
            .await?;
        Ok(found(StageResult {
            changed: outcome.change.is_some(),
            client: outcome.client.into(),
            history: outcome.change.map(Into::into),
        }))
    }

    /// Assign a client to a support user
    ///
    /// Ends the current assignment and makes the new one in one transaction; the user must be
    /// active staff.
    #[oai(
        path = "/clients/:id/assign/",
        method = "post",
        operation_id = "admin_clients_assign"
    )]
    async fn assign(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<AssignRequest>,
    ) -> Result<Created<AssignmentBody>, OpError<WriteErrors>> {
        let admin = auth
            .admin(
                req,
                &config,
                &store,
                Permission::new(Action::Add, Model::ClientAssignment),
            )
            .await?;
        let mut body = body;
        let to = body.id("assigned_to");
        let remarks = body.opt_string("remarks");
        body.finish()?;
        let assignment = admin
            .store
            .assign(
                ClientId(id.0),
                UserId(to.unwrap_or_default()),
                Some(admin.user.id),
                remarks.as_deref().unwrap_or_default(),
            )
            .await?;
        Ok(created(assignment.into()))
    }

    /// End a client's assignment
    ///
    /// Deactivates the active assignment and returns it; `404` when there is none.
    #[oai(
        path = "/clients/:id/unassign/",
        method = "post",
        operation_id = "admin_clients_unassign"
    )]
    async fn unassign(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<Found<AssignmentBody>, OpError<DeleteErrors>> {
        let admin = auth
            .admin(
                req,
                &config,
                &store,
                Permission::new(Action::Change, Model::ClientAssignment),
            )
            .await?;
        match admin.store.unassign(ClientId(id.0)).await? {
            Some(ended) => Ok(found(ended.into())),
            None => Err(ApiError::NotFound.into()),
        }
    }

    /// List client contexts
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/contexts/",
        method = "get",
        operation_id = "admin_contexts_list"
    )]
    async fn contexts_list(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// `created_at` or `id`; `-` for descending.
        ordering: Query<Option<String>>,
        /// Only this client's context.
        client: Query<Option<i64>>,
        /// Only contexts linked to this chat session.
        chat_session_id: Query<Option<String>>,
    ) -> Result<Found<ContextPage>, OpError<ListErrors>> {
        let admin = auth
            .admin(
                req,
                &config,
                &store,
                Permission::new(Action::View, Model::Context),
            )
            .await?;
        let paging = Paging::new(page.0, page_size.0)?;
        let filter = ContextFilter {
            client_id: client.0.map(ClientId),
            chat_session_id: chat_session_id
                .0
                .as_deref()
                .map(|s| {
                    s.parse::<SessionId>()
                        .map_err(|rule| ApiError::field("chat_session_id", rule.to_string()))
                })
                .transpose()?,
        };
        let sort = super::ordering(ordering.0.as_deref(), Sort::desc(HistorySort::CreatedAt));
        let contexts = admin
            .store
            .list_contexts(&filter, sort, paging.request())
            .await?;
        Ok(found(ContextPage::from(paging.paged(req, contexts)?)))
    }

    /// List stage history
    ///
    /// Newest first by default.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/stage-history/",
        method = "get",
        operation_id = "admin_stage_history_list"
    )]
    async fn stage_history_list(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// `created_at` or `id`; `-` for descending.
        ordering: Query<Option<String>>,
        /// Only this client's history.
        client: Query<Option<i64>>,
        /// Only changes to this stage.
        to_stage: Query<Option<StageName>>,
        /// Only changes by this user.
        changed_by: Query<Option<i64>>,
    ) -> Result<Found<StageChangePage>, OpError<ListErrors>> {
        let filter = StageChangeFilter {
            client_id: client.0.map(ClientId),
            to_stage: to_stage.0.map(Stage::from),
            changed_by: changed_by.0.map(UserId),
        };
        stage_history(
            req,
            &auth,
            &store,
            &config,
            page.0,
            page_size.0,
            ordering.0,
            filter,
        )
        .await
    }

    /// List a client's stage history
    ///
    /// Newest first by default.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/clients/:id/stage-history/",
        method = "get",
        operation_id = "admin_clients_stage_history"
    )]
    async fn client_stage_history(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// `created_at` or `id`; `-` for descending.
        ordering: Query<Option<String>>,
    ) -> Result<Found<StageChangePage>, OpError<ListErrors>> {
        let filter = StageChangeFilter {
            client_id: Some(ClientId(id.0)),
            ..Default::default()
        };
        stage_history(
            req,
            &auth,
            &store,
            &config,
            page.0,
            page_size.0,
            ordering.0,
            filter,
        )
        .await
    }

    /// List assignments
    ///
    /// Newest first by default.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/assignments/",
        method = "get",
        operation_id = "admin_assignments_list"
    )]
    async fn assignments_list(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// `created_at` or `id`; `-` for descending.
        ordering: Query<Option<String>>,
        /// Only this client's assignments.
        client: Query<Option<i64>>,
        /// Only active (or ended) assignments.
        is_active: Query<Option<bool>>,
        /// Only assignments to this user.
        assigned_to: Query<Option<i64>>,
    ) -> Result<Found<AssignmentPage>, OpError<ListErrors>> {
        let filter = AssignmentFilter {
            client_id: client.0.map(ClientId),
            is_active: is_active.0,
            assigned_to: assigned_to.0.map(UserId),
        };
        assignments(
            req,
            &auth,
            &store,
            &config,
            page.0,
            page_size.0,
            ordering.0,
            filter,
        )
        .await
    }

    /// List a client's assignments
    ///
    /// Newest first by default.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/clients/:id/assignments/",
        method = "get",
        operation_id = "admin_clients_assignments"
    )]
    async fn client_assignments(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        /// Client id.
        id: Path<i64>,
        /// Page number, from 1.
        page: Query<Option<i64>>,
        /// Rows per page (default 25, at most 1000).
        page_size: Query<Option<i64>>,
        /// `created_at` or `id`; `-` for descending.
        ordering: Query<Option<String>>,
    ) -> Result<Found<AssignmentPage>, OpError<ListErrors>> {
        let filter = AssignmentFilter {
            client_id: Some(ClientId(id.0)),
            ..Default::default()
        };
        assignments(
            req,
            &auth,
            &store,
            &config,
            page.0,
            page_size.0,
            ordering.0,
            filter,
        )
        .await
    }
}

#[allow(clippy::too_many_arguments)]
async fn stage_history(
    req: &Request,
    auth: &Auth,
    store: &Store,
    config: &Config,
    page: Option<i64>,
    page_size: Option<i64>,
    ordering: Option<String>,
    filter: StageChangeFilter,
) -> Result<Found<StageChangePage>, OpError<ListErrors>> {
    let admin = auth
        .admin(
            req,
            config,
            store,
            Permission::new(Action::View, Model::ClientStageHistory),
        )
        .await?;
    let paging = Paging::new(page, page_size)?;
    let sort = super::ordering(ordering.as_deref(), Sort::desc(HistorySort::CreatedAt));
    let history = admin
        .store
        .list_stage_changes(&filter, sort, paging.request())
        .await?;
    Ok(found(StageChangePage::from(paging.paged(req, history)?)))
}

#[allow(clippy::too_many_arguments)]
async fn assignments(
    req: &Request,
    auth: &Auth,
    store: &Store,
    config: &Config,
    page: Option<i64>,
    page_size: Option<i64>,
    ordering: Option<String>,
    filter: AssignmentFilter,
) -> Result<Found<AssignmentPage>, OpError<ListErrors>> {
    let admin = auth
        .admin(
            req,
            config,
            store,
            Permission::new(Action::View, Model::ClientAssignment),
        )
        .await?;
    let paging = Paging::new(page, page_size)?;
    let sort = super::ordering(ordering.as_deref(), Sort::desc(HistorySort::CreatedAt));
    let list = admin
        .store
        .list_assignments(&filter, sort, paging.request())
        .await?;
    Ok(found(AssignmentPage::from(paging.paged(req, list)?)))
}
