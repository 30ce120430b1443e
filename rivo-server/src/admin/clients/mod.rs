//! `/api/v1/admin/clients/` with each client's context, stage and assignment, and the global
//! `/contexts/`, `/stage-history/` and `/assignments/` lists.

use poem_openapi::{OpenApi, param::Path};
use rivo_core::access::Access;
use rivo_core::accounts::{Action, Model};
use rivo_core::clients::{ClientUpdate, ContextChange, NewClient};
use rivo_core::{ClientId, Stage, UserId};

use super::bodies::{AssignmentBody, ClientBody, ContextBody};
use super::ctx::AdminCtx;
use super::input::JsonBody;
use super::{AdminTag, Created, DeleteErrors, Found, ReadErrors, WriteErrors, created, found};
use crate::error::{ApiError, OpError};

mod lists;
mod requests;

pub use lists::{
    AdminAssignmentsApi, AdminClientListsApi, AdminClientsResourceApi, AdminContextsApi,
    AdminStageHistoryApi,
};
pub use requests::{
    AssignRequest, ClientCreateRequest, ClientUpdateRequest, ContextMergeRequest,
    ContextReplaceRequest, StageRequest, StageResult,
};

fn client_permission(action: Action) -> Access {
    Access::admin(action, Model::Client)
}

/// Clients and everything about them.
#[derive(Default)]
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
        mut body: JsonBody<ClientCreateRequest>,
    ) -> Result<Created<ClientBody>, OpError<WriteErrors>> {
        let admin = ctx.require(client_permission(Action::Add)).await?;
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
        mut body: JsonBody<ClientUpdateRequest>,
    ) -> Result<Found<ClientBody>, OpError<WriteErrors>> {
        let admin = ctx.require(client_permission(Action::Change)).await?;
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
        mut body: JsonBody<ContextReplaceRequest>,
    ) -> Result<Found<ContextBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::Context))
            .await?;
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
        mut body: JsonBody<ContextMergeRequest>,
    ) -> Result<Found<ContextBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::Context))
            .await?;
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
        mut body: JsonBody<StageRequest>,
    ) -> Result<Found<StageResult>, OpError<WriteErrors>> {
        let admin = ctx.require(client_permission(Action::Change)).await?;
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
        mut body: JsonBody<AssignRequest>,
    ) -> Result<Created<AssignmentBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Add, Model::ClientAssignment))
            .await?;
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
}
