//! `/api/v1/clients/`: list, create, read, update and delete, with their errors.

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, OpenApi, param::Path, param::Query};
use rivo_core::access::Access;
use rivo_core::accounts::{Action, Model};
use rivo_core::client_views::{AssignmentChange, ClientEdit, MAX_OVERVIEW_PAGE, OverviewFilter};
use rivo_core::clients::{ClientUpdate, NewClient};
use rivo_core::{ClientId, Stage, UserId};
use serde::Serialize;

use super::bodies::{
    CsmClient, CsmClientDetail, CsmClientList, CsmCreateRequest, CsmCreated, CsmHistory,
    CsmUpdateRequest, CsmUpdated, stage_labels,
};
use super::{ClientsTag, DEFAULT_LIMIT, permission};
use crate::admin::ctx::AdminCtx;
use crate::admin::input::JsonBody;
use crate::admin::{NoContent, error_schema, error_set};
use crate::error::{ApiError, ErrorMessage, OpError};
use crate::render::DrfJson;

/// Unknown clients answer the original's `{"error": "Not found"}`.
fn not_found(err: rivo_core::Error) -> ApiError {
    match err {
        rivo_core::Error::NotFound { .. } => ApiError::NotFoundError,
        other => other.into(),
    }
}

// ----- error sets (the 404 body is the original's `{"error": "Not found"}`) -----

/// The body schema of an error status: the admin's, but the original's `{"error": "Not found"}`
/// for `404`.
fn csm_error_schema(status: u16) -> MetaSchemaRef {
    match status {
        404 => ErrorMessage::schema_ref(),
        other => error_schema(other),
    }
}

error_set!(
    /// Errors of the client list.
    CsmListErrors with csm_error_schema {
        400 => "A bad `page`, `limit`, `stage` or `assigned_to` (`FieldErrors`).",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Missing `client.view_client`.",
        503 => "The database is unavailable.",
    }
);

error_set!(
    /// Errors of reading one client.
    CsmReadErrors with csm_error_schema {
        400 => "A malformed id (not a 64-bit integer).",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Missing `client.view_client`.",
        404 => "`{\"error\": \"Not found\"}`: no such client.",
        503 => "The database is unavailable.",
    }
);

error_set!(
    /// Errors of creating and changing clients.
    CsmWriteErrors with csm_error_schema {
        400 => "Invalid fields (`FieldErrors`, every wrong field at once), a body that is not a JSON object, or malformed JSON.",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Missing the permission (`client.add_client`, `client.change_client`, `client.add_clientassignment`/`client.change_clientassignment` for `assign_to`), or (cookie sessions) a missing or wrong `X-CSRFToken`.",
        404 => "`{\"error\": \"Not found\"}`: no such client.",
        409 => "A concurrent assignment of the same client won; retry.",
        413 => "The body is larger than `RIVO_MAX_BODY_BYTES`.",
        415 => "The body is not JSON.",
        503 => "The database is unavailable.",
    }
);

error_set!(
    /// Errors of deleting a client.
    CsmDeleteErrors with csm_error_schema {
        400 => "A malformed id (not a 64-bit integer).",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Missing `client.delete_client`, or (cookie sessions) a missing or wrong `X-CSRFToken`.",
        404 => "`{\"error\": \"Not found\"}`: no such client.",
        503 => "The database is unavailable.",
    }
);

/// `201` with `{"id"}`.
#[derive(ApiResponse)]
pub enum CsmCreatedResponse {
    /// Created.
    #[oai(status = 201)]
    Created(DrfJson<CsmCreated>),
}

/// `200` with a body.
#[derive(ApiResponse)]
pub enum CsmOk<T: Type + Serialize + Send> {
    /// The answer.
    #[oai(status = 200)]
    Ok(DrfJson<T>),
}

/// The optional `stage` of a body: a known stage code.
fn body_stage(stage: Option<String>) -> Result<Option<Stage>, ApiError> {
    stage
        .as_deref()
        .map(|s| parse_stage("stage", s))
        .transpose()
}

fn parse_stage(field: &'static str, value: &str) -> Result<Stage, ApiError> {
    value.parse::<Stage>().map_err(|rule| {
        ApiError::field(
            field,
            format!(
                "{rule} Known stages: {}.",
                Stage::ALL.map(Stage::as_str).join(", ")
            ),
        )
    })
}

/// The CSM client API.
#[derive(Default)]
pub struct ClientsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ClientsTag::Clients")]
impl ClientsApi {
    /// List clients
    ///
    /// Newest first, with each client's active assignee (email) and context, and the stage
    /// labels. One page of at most `limit` rows (default 100, at most 500) in one query;
    /// `has_more` says whether `page + 1` has rows. `assigned_to=me`: only the caller's
    /// clients. Needs `client.view_client` (staff not required).
    #[oai(path = "/clients/", method = "get", operation_id = "clients_list")]
    async fn list(
        &self,
        ctx: AdminCtx<'_>,
        /// `me`: only clients whose active assignment is the caller's.
        assigned_to: Query<Option<String>>,
        /// Only clients in this stage (a stage code).
        stage: Query<Option<String>>,
        /// Page number, from 1 (default 1).
        page: Query<Option<i64>>,
        /// Rows per page (default 100, at most 500).
        limit: Query<Option<i64>>,
    ) -> Result<CsmOk<CsmClientList>, OpError<CsmListErrors>> {
        let member = ctx
            .require(Access::Member(permission(Action::View, Model::Client)))
            .await?;
        let page = match page.0 {
            None => 1,
            Some(p) if p >= 1 => u64::try_from(p).unwrap_or(1),
            Some(_) => return Err(ApiError::field("page", "Must be 1 or more.").into()),
        };
        let limit = match limit.0 {
            None => DEFAULT_LIMIT,
            Some(l) if l >= 1 => {
                u32::try_from(l.min(i64::from(MAX_OVERVIEW_PAGE))).unwrap_or(MAX_OVERVIEW_PAGE)
            }
            Some(_) => {
                return Err(ApiError::field("limit", "Must be 1 or more.").into());
            }
        };
        let assigned_to = match assigned_to.0.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if v.eq_ignore_ascii_case("me") => Some(member.user.id),
            Some(_) => {
                return Err(ApiError::field("assigned_to", "The only value is \"me\".").into());
            }
        };
        let stage = match stage.0.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(parse_stage("stage", s)?),
        };
        let offset = (page - 1).saturating_mul(u64::from(limit));
        let rows = member
            .store
            .client_overviews(&OverviewFilter { assigned_to, stage }, offset, limit)
            .await?;
        Ok(CsmOk::Ok(DrfJson(CsmClientList {
            clients: rows.items.into_iter().map(CsmClient::from).collect(),
            stages: stage_labels(),
            page,
            limit,
            has_more: rows.has_more,
        })))
    }

    /// Create a client
    ///
    /// Creates the client, its empty context and its first stage history entry (by the
    /// caller) in one transaction. Needs `client.add_client`.
    #[oai(path = "/clients/", method = "post", operation_id = "clients_create")]
    async fn create(
        &self,
        ctx: AdminCtx<'_>,
        mut body: JsonBody<CsmCreateRequest>,
    ) -> Result<CsmCreatedResponse, OpError<CsmWriteErrors>> {
        let member = ctx
            .require(Access::Member(permission(Action::Add, Model::Client)))
            .await?;
        let name = body.string("name");
        let email = body.opt_string("email");
        let phone = body.opt_string("phone");
        let stage = body.opt_string("stage");
        body.finish()?;
        let stage = body_stage(stage)?;
        let client = member
            .store
            .create_client(NewClient {
                name: name.unwrap_or_default(),
                email: email.unwrap_or_default(),
                phone: phone.unwrap_or_default(),
                stage: stage.unwrap_or_default(),
                created_by: Some(member.user.id),
                ..NewClient::default()
            })
            .await?;
        Ok(CsmCreatedResponse::Created(DrfJson(CsmCreated {
            id: client.id.0,
        })))
    }

    /// Read a client
    ///
    /// The client with its context and active assignee, its stage history (newest first, who
    /// by email, times as `…+00:00`) and the stage labels. Needs `client.view_client`.
    #[oai(path = "/clients/:id/", method = "get", operation_id = "clients_read")]
    async fn read(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<CsmOk<CsmClientDetail>, OpError<CsmReadErrors>> {
        let member = ctx
            .require(Access::Member(permission(Action::View, Model::Client)))
            .await?;
        let detail = member
            .store
            .client_detail(ClientId(id.0))
            .await
            .map_err(not_found)?;
        Ok(CsmOk::Ok(DrfJson(CsmClientDetail {
            client: detail.overview.into(),
            history: detail.history.into_iter().map(CsmHistory::from).collect(),
            stages: stage_labels(),
        })))
    }

    /// Update a client
    ///
    /// Name, email, phone, stage and assignment, all in one transaction (all or nothing).
    /// Fields and `stage` need `client.change_client`; `assign_to` needs
    /// `client.add_clientassignment` or `client.change_clientassignment` (`null`, ending the
    /// assignment, needs `client.change_clientassignment`).
    #[oai(
        path = "/clients/:id/",
        method = "put",
        operation_id = "clients_update"
    )]
    async fn update(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
        mut body: JsonBody<CsmUpdateRequest>,
    ) -> Result<CsmOk<CsmUpdated>, OpError<CsmWriteErrors>> {
        let user = ctx.user()?;
        let name = body.opt_string("name");
        let email = body.opt_string("email");
        let phone = body.opt_string("phone");
        let stage = body.opt_string("stage");
        let assign = body.opt_nullable_id("assign_to");
        let remarks = body.opt_string("remarks");
        body.finish()?;
        let stage = body_stage(stage)?;
        let edit = ClientEdit {
            fields: ClientUpdate { name, email, phone },
            stage,
            assignment: match assign {
                None => AssignmentChange::Keep,
                Some(Some(user)) => AssignmentChange::To(UserId(user)),
                Some(None) => AssignmentChange::Unassign,
            },
            remarks: remarks.unwrap_or_default(),
        };
        if !ctx.store().may_edit_client(&user, &edit).await? {
            return Err(
                ApiError::Forbidden("You do not have permission to perform this action.").into(),
            );
        }
        ctx.store()
            .acting_as(&user)
            .edit_client(ClientId(id.0), edit, Some(user.id))
            .await
            .map_err(not_found)?;
        Ok(CsmOk::Ok(DrfJson(CsmUpdated {
            message: "Updated".into(),
        })))
    }

    /// Delete a client
    ///
    /// With its context, stage history, assignments and summary job; its chat messages stay.
    /// Needs `client.delete_client`.
    #[oai(
        path = "/clients/:id/",
        method = "delete",
        operation_id = "clients_delete"
    )]
    async fn delete(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<NoContent, OpError<CsmDeleteErrors>> {
        let member = ctx
            .require(Access::Member(permission(Action::Delete, Model::Client)))
            .await?;
        member
            .store
            .delete_client(ClientId(id.0))
            .await
            .map_err(not_found)?;
        Ok(NoContent::NoContent)
    }
}
