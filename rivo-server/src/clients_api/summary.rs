//! `/api/v1/admin/clients/{id}/summary/`: a client's AI summary, read and requested.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, types::Example};
use rivo_core::access::Access;
use rivo_core::accounts::{Action, Model};
use rivo_core::summaries::{SUMMARY_KEY, SummaryJob};
use rivo_core::{ClientId, Store};
use serde::Serialize;

use super::api::CsmOk;
use super::permission;
use crate::admin::AdminTag;
use crate::admin::ctx::AdminCtx;
use crate::error::OpError;
use crate::render::{DrfDateTime, DrfJson};

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

/// The answer of both routes: `job`'s status and the summary stored in `client`'s context.
/// Read the job first: a job read as done was committed with its summary, which the context
/// read here sees.
async fn summary_body(
    store: &Store,
    client: ClientId,
    job: Option<SummaryJob>,
) -> Result<SummaryStatusBody, rivo_core::Error> {
    let summary = store.context_value(client, SUMMARY_KEY).await?;
    let options = store.summary_options();
    let enabled = options.enabled();
    Ok(match job {
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
    })
}

/// `202` with the job.
#[derive(ApiResponse)]
pub enum SummaryAccepted {
    /// Queued; the worker makes the summary off the request path.
    #[oai(status = 202)]
    Accepted(DrfJson<SummaryStatusBody>),
}

/// The AI summary routes of the admin API.
#[derive(Default)]
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
        let job = admin.store.summary_job(client).await?;
        Ok(CsmOk::Ok(DrfJson(
            summary_body(&admin.store, client, job).await?,
        )))
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
        Ok(SummaryAccepted::Accepted(DrfJson(
            summary_body(&admin.store, client, Some(job)).await?,
        )))
    }
}
