//! `/api/v1/clients/`: the later original's client API for CSMs (its shapes: `stage`,
//! `assigned_to` as an email, `context` inline, the `stages` label map, `history[{from, to,
//! by, at}]`, `{"id"}` on create, `{"message": "Updated"}` on update, `{"error": "Not found"}`),
//! and, under `/api/v1/admin/clients/{id}/summary/`, the AI summary of a client.
//!
//! Unlike the original:
//! - every route checks a permission — `client.view_client`, `client.add_client`,
//!   `client.change_client`, `client.delete_client`, and for `assign_to`
//!   `client.add_clientassignment` or `client.change_clientassignment` (unassigning with
//!   `null`: `client.change_clientassignment`). `is_staff` is **not** needed here: any active
//!   user holding the permission (e.g. through a "CSM" role) works leads, as in the original;
//!   `/api/v1/admin/` and `/admin/` stay staff-only;
//! - bad input is a `400` with field errors (`stage` must be a known stage, emails are checked,
//!   lengths match the columns, a body must be an object, `"name": null` and `"assign_to":
//!   "abc"` are field errors);
//! - `PUT` changes fields, stage and assignment in one transaction
//!   ([`rivo_core::Store::edit_client`]);
//! - the list is bounded: `?page=` (from 1) and `?limit=` (default 100, at most 500), one query
//!   per page, with `has_more`; `?assigned_to=me` lists the caller's clients, `?stage=` one
//!   stage.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query, types::Example};
use rivo_core::accounts::{Action, Model};
use rivo_core::client_views::{
    AssignmentChange, ClientEdit, ClientOverview, HistoryEntry, MAX_OVERVIEW_PAGE, OverviewFilter,
};
use rivo_core::clients::{ClientUpdate, NewClient};
use rivo_core::summaries::{SUMMARY_KEY, SummaryJob};
use rivo_core::{ClientId, Permission, Stage, Store, UserId};
use serde::{Serialize, Serializer};

use crate::admin::ctx::AdminCtx;
use crate::admin::input::JsonBody;
use crate::admin::{AdminTag, NoContent, error_schema};
use crate::error::{ApiError, ErrorMessage, ErrorSet, OpError};
use crate::render::{DrfDateTime, DrfJson};
use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::Type;
use rivo_core::access::Access;

/// Default `?limit=` of the client list.
pub const DEFAULT_LIMIT: u32 = 100;

/// The OpenAPI tag of the CSM client API.
#[derive(poem_openapi::Tags)]
pub enum ClientsTag {
    /// The later original's client API for CSMs: permission-checked, validated, atomic.
    #[oai(rename = "clients")]
    Clients,
}

fn permission(action: Action, model: Model) -> Permission {
    Permission::new(action, model)
}

/// Unknown clients answer the original's `{"error": "Not found"}`.
fn not_found(err: rivo_core::Error) -> ApiError {
    match err {
        rivo_core::Error::NotFound { .. } => ApiError::NotFoundError,
        other => other.into(),
    }
}

/// Python's `datetime.isoformat()` of a UTC time: `2026-12-01T23:28:45.954890+00:00`, the
/// fraction left out when it is zero.
pub fn python_isoformat(at: DateTime<Utc>) -> String {
    if at.nanosecond() / 1000 == 0 {
        at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// The stage label map in pipeline order (`{"lead": "Lead", "contacted": "Contacted", …}`).
fn stage_labels() -> BTreeMap<String, String> {
    Stage::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), s.label().to_owned()))
        .collect()
}

/// Writes the stage label map in pipeline order (the original's dict order), not sorted.
fn serialize_stages<S: Serializer>(
    map: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut out = serializer.serialize_map(Some(map.len()))?;
    for stage in Stage::ALL {
        if let Some(label) = map.get(stage.as_str()) {
            out.serialize_entry(stage.as_str(), label)?;
        }
    }
    out.end()
}

// ----- bodies -----

/// A client in the list.
#[derive(Debug, Object, Serialize)]
pub struct CsmClient {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email (may be empty).
    pub email: String,
    /// Phone (may be empty).
    pub phone: String,
    /// The stage code, e.g. `lead` (labels in `stages`).
    pub stage: String,
    /// The email of the user holding the active assignment; `null` when unassigned.
    pub assigned_to: Option<String>,
    /// The client's context (a JSON object; the AI summary is under `ai_summary`).
    pub context: serde_json::Value,
}

impl From<ClientOverview> for CsmClient {
    fn from(o: ClientOverview) -> Self {
        Self {
            id: o.client.id.0,
            name: o.client.name,
            email: o.client.email,
            phone: o.client.phone,
            stage: o.client.current_stage.as_str().to_owned(),
            assigned_to: o.assigned_to,
            context: serde_json::Value::Object(o.context),
        }
    }
}

/// The client list: the original's `{"clients", "stages"}` plus the paging keys.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmClientList {
    /// This page's clients, newest first.
    pub clients: Vec<CsmClient>,
    /// Stage code → label, in pipeline order.
    #[serde(serialize_with = "serialize_stages")]
    pub stages: BTreeMap<String, String>,
    /// This page (from 1).
    pub page: u64,
    /// Rows per page.
    pub limit: u32,
    /// Whether the next page has rows.
    pub has_more: bool,
}

/// One stage history entry.
#[derive(Debug, Object, Serialize)]
pub struct CsmHistory {
    /// The stage before (`null` for the first entry).
    pub from: Option<String>,
    /// The stage after.
    pub to: String,
    /// The email of who changed it (`null`: the system or a deleted user).
    pub by: Option<String>,
    /// When, as Python's `isoformat()` (`…+00:00`).
    pub at: String,
}

impl From<HistoryEntry> for CsmHistory {
    fn from(h: HistoryEntry) -> Self {
        Self {
            from: h.from.map(|s| s.as_str().to_owned()),
            to: h.to.as_str().to_owned(),
            by: h.by,
            at: python_isoformat(h.at),
        }
    }
}

/// One client, its history and the stage labels.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmClientDetail {
    /// The client (`assigned_to` is an addition to the original's keys).
    pub client: CsmClient,
    /// Stage history, newest first (at most 500 entries).
    pub history: Vec<CsmHistory>,
    /// Stage code → label, in pipeline order.
    #[serde(serialize_with = "serialize_stages")]
    pub stages: BTreeMap<String, String>,
}

/// A client to create.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CsmCreateRequest {
    /// Name (required, 1 to 255 characters).
    pub name: String,
    /// Email (checked; may be empty).
    pub email: Option<String>,
    /// Phone (at most 20 characters; may be empty).
    pub phone: Option<String>,
    /// First stage (default `lead`; a known stage code).
    pub stage: Option<String>,
}

/// Changes to a client, made together in one transaction; absent keys stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CsmUpdateRequest {
    /// Name (1 to 255 characters).
    pub name: Option<String>,
    /// Email (checked).
    pub email: Option<String>,
    /// Phone (at most 20 characters).
    pub phone: Option<String>,
    /// A known stage code; writes a stage history entry by the caller when it changes.
    pub stage: Option<String>,
    /// Id of an active user who may view clients; `null` ends the assignment.
    pub assign_to: Option<i64>,
    /// Remarks for the stage history entry and the assignment.
    pub remarks: Option<String>,
}

/// `{"id": …}` of a created client.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmCreated {
    /// The new client's id.
    pub id: i64,
}

/// `{"message": "Updated"}`.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmUpdated {
    /// Always `Updated`.
    pub message: String,
}

impl Example for CsmCreated {
    fn example() -> Self {
        Self { id: 4 }
    }
}

impl Example for CsmUpdated {
    fn example() -> Self {
        Self {
            message: "Updated".into(),
        }
    }
}

fn example_client() -> CsmClient {
    CsmClient {
        id: 4,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        phone: "+447700900123".into(),
        stage: "contacted".into(),
        assigned_to: Some("csm@example.com".into()),
        context: serde_json::json!({"ai_summary": {"intent": "refinance", "urgency": "high",
            "summary": "Wants to refinance before the fixed rate ends.",
            "model": "gpt-4o-mini", "generated_at": "2026-12-01T23:28:47.120000Z"}}),
    }
}

impl Example for CsmClientList {
    fn example() -> Self {
        Self {
            clients: vec![example_client()],
            stages: stage_labels(),
            page: 1,
            limit: DEFAULT_LIMIT,
            has_more: false,
        }
    }
}

impl Example for CsmClientDetail {
    fn example() -> Self {
        Self {
            client: example_client(),
            history: vec![
                CsmHistory {
                    from: Some("lead".into()),
                    to: "contacted".into(),
                    by: Some("csm@example.com".into()),
                    at: "2026-12-01T23:28:45.954890+00:00".into(),
                },
                CsmHistory {
                    from: None,
                    to: "lead".into(),
                    by: None,
                    at: "2026-12-01T23:20:01.002000+00:00".into(),
                },
            ],
            stages: stage_labels(),
        }
    }
}

impl Example for CsmCreateRequest {
    fn example() -> Self {
        Self {
            name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            phone: Some("+447700900123".into()),
            stage: Some("lead".into()),
        }
    }
}

impl Example for CsmUpdateRequest {
    fn example() -> Self {
        Self {
            name: None,
            email: None,
            phone: Some("+447700900124".into()),
            stage: Some("contacted".into()),
            assign_to: Some(2),
            remarks: Some("Called back".into()),
        }
    }
}

// ----- error sets (the 404 body is the original's `{"error": "Not found"}`) -----

macro_rules! csm_errors {
    ($(#[$doc:meta])* $name:ident { $($status:literal => $desc:literal),+ $(,)? }) => {
        $(#[$doc])*
        pub struct $name;

        impl ErrorSet for $name {
            fn responses() -> Vec<(u16, &'static str, MetaSchemaRef)> {
                vec![$(($status, $desc, csm_error_schema($status))),+]
            }
        }
    };
}

fn csm_error_schema(status: u16) -> MetaSchemaRef {
    match status {
        404 => ErrorMessage::schema_ref(),
        other => error_schema(other),
    }
}

csm_errors!(
    /// Errors of the client list.
    CsmListErrors {
        400 => "A bad `page`, `limit`, `stage` or `assigned_to` (`FieldErrors`).",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Missing `client.view_client`.",
        503 => "The database is unavailable.",
    }
);

csm_errors!(
    /// Errors of reading one client.
    CsmReadErrors {
        400 => "A malformed id (not a 64-bit integer).",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Missing `client.view_client`.",
        404 => "`{\"error\": \"Not found\"}`: no such client.",
        503 => "The database is unavailable.",
    }
);

csm_errors!(
    /// Errors of creating and changing clients.
    CsmWriteErrors {
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

csm_errors!(
    /// Errors of deleting a client.
    CsmDeleteErrors {
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
        body: JsonBody<CsmCreateRequest>,
    ) -> Result<CsmCreatedResponse, OpError<CsmWriteErrors>> {
        let member = ctx
            .require(Access::Member(permission(Action::Add, Model::Client)))
            .await?;
        let mut body = body;
        let name = body.string("name");
        let email = body.opt_string("email");
        let phone = body.opt_string("phone");
        let stage = body.opt_string("stage");
        body.finish()?;
        let stage = stage
            .as_deref()
            .map(|s| parse_stage("stage", s))
            .transpose()?;
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
        body: JsonBody<CsmUpdateRequest>,
    ) -> Result<CsmOk<CsmUpdated>, OpError<CsmWriteErrors>> {
        let user = ctx.user()?;
        let mut body = body;
        let name = body.opt_string("name");
        let email = body.opt_string("email");
        let phone = body.opt_string("phone");
        let stage = body.opt_string("stage");
        let assign = body.opt_nullable_id("assign_to");
        let remarks = body.opt_string("remarks");
        let changes_client =
            name.is_some() || email.is_some() || phone.is_some() || stage.is_some();
        body.finish()?;
        let stage = stage
            .as_deref()
            .map(|s| parse_stage("stage", s))
            .transpose()?;
        let deny = || ApiError::Forbidden("You do not have permission to perform this action.");
        let may = |action: Action, model: Model| {
            let store = ctx.store().clone();
            let user = user.clone();
            async move { store.has_permission(&user, permission(action, model)).await }
        };
        if changes_client && !may(Action::Change, Model::Client).await? {
            return Err(deny().into());
        }
        let assignment = match assign {
            None => AssignmentChange::Keep,
            Some(Some(user)) => {
                if !(may(Action::Add, Model::ClientAssignment).await?
                    || may(Action::Change, Model::ClientAssignment).await?)
                {
                    return Err(deny().into());
                }
                AssignmentChange::To(UserId(user))
            }
            Some(None) => {
                if !may(Action::Change, Model::ClientAssignment).await? {
                    return Err(deny().into());
                }
                AssignmentChange::Unassign
            }
        };
        if !changes_client && assignment == AssignmentChange::Keep {
            // Nothing to change: still only for those who may change clients.
            if !may(Action::Change, Model::Client).await? {
                return Err(deny().into());
            }
        }
        ctx.store()
            .acting_as(&user)
            .edit_client(
                ClientId(id.0),
                ClientEdit {
                    fields: ClientUpdate { name, email, phone },
                    stage,
                    assignment,
                    remarks: remarks.unwrap_or_default(),
                },
                Some(user.id),
            )
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

// ----- AI summaries (admin) -----

/// A client's AI summary: the job's status and the stored summary.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct SummaryStatusBody {
    /// Whether summaries are made (an API key or a base URL is configured).
    pub enabled: bool,
    /// `pending`, `running`, `done` or `failed`; `null` when no summary was ever asked for.
    pub status: Option<String>,
    /// `on_demand` or `lead_completed`.
    pub reason: Option<String>,
    /// Attempts since the last request.
    pub attempts: u32,
    /// The last failure (a timeout, an HTTP error, an answer that is not a JSON object, …).
    /// Never written into the context.
    pub last_error: Option<String>,
    /// The model of the last summary.
    pub model: Option<String>,
    /// When it was last asked for.
    pub requested_at: Option<DrfDateTime>,
    /// When it finished.
    pub finished_at: Option<DrfDateTime>,
    /// What the status means now, e.g. that summaries are disabled.
    pub detail: String,
    /// The stored summary (the context's `ai_summary`), if any.
    pub summary: Option<serde_json::Value>,
}

impl Example for SummaryStatusBody {
    fn example() -> Self {
        let at = DateTime::parse_from_rfc3339("2026-12-01T23:28:47.120000Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        Self {
            enabled: true,
            status: Some("done".into()),
            reason: Some("lead_completed".into()),
            attempts: 1,
            last_error: None,
            model: Some("gpt-4o-mini".into()),
            requested_at: Some(DrfDateTime(at)),
            finished_at: Some(DrfDateTime(at)),
            detail: "Summary stored under \"ai_summary\".".into(),
            summary: Some(serde_json::json!({"intent": "refinance", "urgency": "high",
                "summary": "Wants to refinance before the fixed rate ends.",
                "model": "gpt-4o-mini", "generated_at": "2026-12-01T23:28:47.120000Z"})),
        }
    }
}

fn summary_body(
    store: &Store,
    job: Option<SummaryJob>,
    summary: Option<serde_json::Value>,
) -> SummaryStatusBody {
    let options = store.summary_options();
    let enabled = options.enabled();
    match job {
        Some(job) => SummaryStatusBody {
            enabled,
            status: Some(job.status.as_str().to_owned()),
            reason: Some(job.reason.as_str().to_owned()),
            attempts: job.attempts,
            last_error: job.last_error,
            model: job.model,
            requested_at: Some(DrfDateTime(job.requested_at)),
            finished_at: job.finished_at.map(DrfDateTime),
            detail: job.detail,
            summary,
        },
        None => SummaryStatusBody {
            enabled,
            status: None,
            reason: None,
            attempts: 0,
            last_error: None,
            model: None,
            requested_at: None,
            finished_at: None,
            detail: if enabled {
                "No summary was asked for yet.".into()
            } else {
                rivo_core::summaries::SummaryOptions::disabled_reason().into()
            },
            summary,
        },
    }
}

/// `202` with the job.
#[derive(ApiResponse)]
pub enum SummaryAccepted {
    /// Queued; the worker makes the summary off the request path.
    #[oai(status = 202)]
    Accepted(DrfJson<SummaryStatusBody>),
}

/// The AI summary routes of the admin API.
pub struct AdminSummariesApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::AdminClients")]
impl AdminSummariesApi {
    /// Read a client's AI summary
    ///
    /// The summary job's status (including whether summaries are enabled at all, and the last
    /// error) and the stored summary. Needs `client.view_context`.
    #[oai(
        path = "/clients/:id/summary/",
        method = "get",
        operation_id = "admin_clients_summary_read"
    )]
    async fn summary_read(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<CsmOk<SummaryStatusBody>, OpError<crate::admin::ReadErrors>> {
        let admin = ctx
            .require(Access::Admin(permission(Action::View, Model::Context)))
            .await?;
        let client = ClientId(id.0);
        // The job first: a job read as done was committed with its summary, which the
        // context read that follows sees.
        let job = admin.store.summary_job(client).await?;
        let summary = admin.store.context_value(client, SUMMARY_KEY).await?;
        Ok(CsmOk::Ok(DrfJson(summary_body(&admin.store, job, summary))))
    }

    /// Summarise a client's chat
    ///
    /// Queues an AI summary of the client's linked conversation (again, if one exists: the
    /// new summary replaces the old under `ai_summary`). Answers at once; the worker calls the
    /// model off the request path. Needs `client.change_context`.
    #[oai(
        path = "/clients/:id/summary/",
        method = "post",
        operation_id = "admin_clients_summary_request"
    )]
    async fn summary_request(
        &self,
        ctx: AdminCtx<'_>,
        /// Client id.
        id: Path<i64>,
    ) -> Result<SummaryAccepted, OpError<crate::admin::DeleteErrors>> {
        let admin = ctx
            .require(Access::Admin(permission(Action::Change, Model::Context)))
            .await?;
        let client = ClientId(id.0);
        let job = admin.store.request_summary(client).await?;
        let summary = admin.store.context_value(client, SUMMARY_KEY).await?;
        Ok(SummaryAccepted::Accepted(DrfJson(summary_body(
            &admin.store,
            Some(job),
            summary,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_python_isoformat() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T23:28:45.954890Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(python_isoformat(at), "2026-12-01T23:28:45.954890+00:00");
        let whole = DateTime::parse_from_rfc3339("2026-12-01T23:28:45Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(python_isoformat(whole), "2026-12-01T23:28:45+00:00");
    }

    #[test]
    fn stages_keep_pipeline_order() {
        let body = serde_json::to_string(&CsmClientList::example()).unwrap();
        let lead = body.find("\"lead\":\"Lead\"").unwrap();
        let contacted = body.find("\"contacted\":\"Contacted\"").unwrap();
        let rejected = body.find("\"rejected\":\"Rejected\"").unwrap();
        assert!(lead < contacted && contacted < rejected);
    }
}
