//! `/api/v1/admin/clients/` with each client's context, stage and assignment, and the global
//! `/contexts/`, `/stage-history/` and `/assignments/` lists.

use poem_openapi::{Object, OpenApi, param::Path, param::Query};
use rivo_core::accounts::{Action, Model};
use rivo_core::admin::{ASSIGNMENTS, CLIENTS, CONTEXTS, STAGE_HISTORY};
use rivo_core::clients::{
    AssignmentFilter, ClientFilter, ClientSort, ClientUpdate, ContextChange, ContextFilter,
    HistorySort, NewClient, StageChangeFilter,
};
use rivo_core::{ClientId, SessionId, Sort, Stage, UserId};
use serde::Serialize;

use super::bodies::{
    AssignmentBody, AssignmentPage, ClientBody, ClientPage, ContextBody, ContextPage,
    StageChangeBody, StageChangePage, StageName,
};
use rivo_core::access::Access;

use super::ctx::AdminCtx;
use super::input::JsonBody;
use super::resource::admin_resource;
use super::{
    AdminTag, Created, DeleteErrors, Found, ListErrors, NoContent, Paging, ReadErrors, WriteErrors,
    created, found, names, time_before, time_from,
};
use crate::auth::Admin;
use crate::error::{ApiError, OpError};

fn client_permission(action: Action) -> Access {
    Access::admin(action, Model::Client)
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
        ctx: AdminCtx<'_>,
        body: JsonBody<ClientCreateRequest>,
    ) -> Result<Created<ClientBody>, OpError<WriteErrors>> {
        let admin = ctx.require(client_permission(Action::Add)).await?;
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
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<ClientUpdateRequest>,
    ) -> Result<Found<ClientBody>, OpError<WriteErrors>> {
        let admin = ctx.require(client_permission(Action::Change)).await?;
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

    /// Read a client's context
    #[oai(
        path = "/clients/:id/context/",
        method = "get",
        operation_id = "admin_clients_context_read"
    )]
    async fn context_read(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<Found<ContextBody>, OpError<ReadErrors>> {
        let admin = ctx
            .require(Access::admin(Action::View, Model::Context))
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
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<ContextReplaceRequest>,
    ) -> Result<Found<ContextBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::Context))
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
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<ContextMergeRequest>,
    ) -> Result<Found<ContextBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::Context))
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
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<StageRequest>,
    ) -> Result<Found<StageResult>, OpError<WriteErrors>> {
        let admin = ctx.require(client_permission(Action::Change)).await?;
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
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
        body: JsonBody<AssignRequest>,
    ) -> Result<Created<AssignmentBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Add, Model::ClientAssignment))
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
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<Found<AssignmentBody>, OpError<DeleteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::ClientAssignment))
            .await?;
        match admin.store.unassign(ClientId(id.0)).await? {
            Some(ended) => Ok(found(ended.into())),
            None => Err(ApiError::NotFound.into()),
        }
    }

    /// List a client's stage history
    ///
    /// Newest first by default.
    #[oai(
        path = "/clients/:id/stage-history/",
        method = "get",
        operation_id = "admin_clients_stage_history"
    )]
    async fn client_stage_history(
        &self,
        ctx: AdminCtx<'_>,
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
        let admin = ctx.require(STAGE_HISTORY.access(Action::View)).await?;
        let paging = Paging::new(page.0, page_size.0)?;
        stage_history(ctx.req(), &admin, paging, ordering.0, filter).await
    }

    /// List a client's assignments
    ///
    /// Newest first by default.
    #[oai(
        path = "/clients/:id/assignments/",
        method = "get",
        operation_id = "admin_clients_assignments"
    )]
    async fn client_assignments(
        &self,
        ctx: AdminCtx<'_>,
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
        let admin = ctx.require(ASSIGNMENTS.access(Action::View)).await?;
        let paging = Paging::new(page.0, page_size.0)?;
        assignments(ctx.req(), &admin, paging, ordering.0, filter).await
    }
}

/// A page of stage history, named.
async fn stage_history(
    req: &poem::Request,
    admin: &Admin,
    paging: Paging,
    ordering: Option<String>,
    filter: StageChangeFilter,
) -> Result<Found<StageChangePage>, OpError<ListErrors>> {
    let sort = super::ordering(
        ordering.as_deref(),
        STAGE_HISTORY.default_sort(Sort::desc(HistorySort::CreatedAt)),
    );
    let history = admin
        .store
        .list_stage_changes(&filter, sort, paging.request())
        .await?;
    let mut page = StageChangePage::from(paging.paged(req, history)?);
    names::stage_changes(&admin.store, &mut page.results).await?;
    Ok(found(page))
}

/// A page of assignments, named.
async fn assignments(
    req: &poem::Request,
    admin: &Admin,
    paging: Paging,
    ordering: Option<String>,
    filter: AssignmentFilter,
) -> Result<Found<AssignmentPage>, OpError<ListErrors>> {
    let sort = super::ordering(
        ordering.as_deref(),
        ASSIGNMENTS.default_sort(Sort::desc(HistorySort::CreatedAt)),
    );
    let list = admin
        .store
        .list_assignments(&filter, sort, paging.request())
        .await?;
    let mut page = AssignmentPage::from(paging.paged(req, list)?);
    names::assignments(&admin.store, &mut page.results).await?;
    Ok(found(page))
}

admin_resource! {
    /// `GET` and `DELETE` of clients (create, update and actions: [`AdminClientsApi`]).
    AdminClientsResourceApi for CLIENTS, tag = "AdminTag::AdminClients";

    list:
    /// List clients
    ///
    /// Newest first by default. `search` matches name, email and phone.
    ("/clients/", "admin_clients_list") -> ClientPage {
        /// Case-insensitive text to find.
        search: String,
        /// `created_at`, `updated_at`, `name`, `email`, `current_stage` or `id`; `-` for
        /// descending.
        ordering: String,
        /// Only clients in this stage.
        current_stage: StageName,
        /// Created on or after this date (`YYYY-MM-DD`) or instant (RFC 3339).
        created_at_after: String,
        /// Created on or before this date, or before this instant.
        created_at_before: String,
    } |admin, req, paging| {
        let filter = ClientFilter {
            search,
            stage: current_stage.map(Stage::from),
            created_from: time_from("created_at_after", created_at_after.as_deref())?,
            created_before: time_before("created_at_before", created_at_before.as_deref())?,
        };
        let sort = super::ordering(
            ordering.as_deref(),
            CLIENTS.default_sort(Sort::desc(ClientSort::CreatedAt)),
        );
        let clients = admin
            .store
            .list_clients(&filter, sort, paging.request())
            .await?;
        Ok(found(ClientPage::from(paging.paged(req, clients)?)))
    }

    read:
    /// Read a client
    ("/clients/:id/", "admin_clients_read", /// Client id.
        id: i64) -> ClientBody
    |admin| {
        Ok(found(admin.store.client(ClientId(id)).await?.into()))
    }

    delete:
    /// Delete a client
    ///
    /// With its context, stage history and assignments.
    ("/clients/:id/", "admin_clients_delete", /// Client id.
        id: i64)
    |admin| {
        admin.store.delete_client(ClientId(id)).await?;
        Ok(NoContent::NoContent)
    }
}

admin_resource! {
    /// Client contexts, all clients.
    AdminContextsApi for CONTEXTS, tag = "AdminTag::AdminClients";

    list:
    /// List client contexts
    ("/contexts/", "admin_contexts_list") -> ContextPage {
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only this client's context.
        client: i64,
        /// Only contexts linked to this chat session.
        chat_session_id: String,
    } |admin, req, paging| {
        let filter = ContextFilter {
            client_id: client.map(ClientId),
            chat_session_id: chat_session_id
                .as_deref()
                .map(|s| {
                    s.parse::<SessionId>()
                        .map_err(|rule| ApiError::field("chat_session_id", rule.to_string()))
                })
                .transpose()?,
        };
        let sort = super::ordering(
            ordering.as_deref(),
            CONTEXTS.default_sort(Sort::desc(HistorySort::CreatedAt)),
        );
        let contexts = admin
            .store
            .list_contexts(&filter, sort, paging.request())
            .await?;
        let mut page = ContextPage::from(paging.paged(req, contexts)?);
        names::contexts(&admin.store, &mut page.results).await?;
        Ok(found(page))
    }
}

admin_resource! {
    /// Stage history, all clients.
    AdminStageHistoryApi for STAGE_HISTORY, tag = "AdminTag::AdminClients";

    list:
    /// List stage history
    ///
    /// Newest first by default.
    ("/stage-history/", "admin_stage_history_list") -> StageChangePage {
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only this client's history.
        client: i64,
        /// Only changes to this stage.
        to_stage: StageName,
        /// Only changes by this user.
        changed_by: i64,
    } |admin, req, paging| {
        let filter = StageChangeFilter {
            client_id: client.map(ClientId),
            to_stage: to_stage.map(Stage::from),
            changed_by: changed_by.map(UserId),
        };
        stage_history(req, &admin, paging, ordering, filter).await
    }
}

admin_resource! {
    /// Assignments, all clients.
    AdminAssignmentsApi for ASSIGNMENTS, tag = "AdminTag::AdminClients";

    list:
    /// List assignments
    ///
    /// Newest first by default.
    ("/assignments/", "admin_assignments_list") -> AssignmentPage {
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only this client's assignments.
        client: i64,
        /// Only active (or ended) assignments.
        is_active: bool,
        /// Only assignments to this user.
        assigned_to: i64,
    } |admin, req, paging| {
        let filter = AssignmentFilter {
            client_id: client.map(ClientId),
            is_active,
            assigned_to: assigned_to.map(UserId),
        };
        assignments(req, &admin, paging, ordering, filter).await
    }
}
