//! The CSM's client views (the public API is in `crate::client_views`).

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{Dialect, Sql, StageStep, assign_in, locked_client, now, record, stage_in};
use crate::audit::{Audit, AuditAction};
use crate::clients::Client;
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::names::stored;
use crate::store::rows::{CLIENT_COLS, ClientRow, context_object, from_stage};

use crate::client_views::{
    AssignmentChange, CleanEdit, ClientDetail, ClientOverview, HistoryEntry, OverviewFilter,
};

#[derive(sqlx::FromRow)]
struct OverviewRow {
    #[sqlx(flatten)]
    client: ClientRow,
    assignee_email: Option<String>,
    context_data: Option<sqlx::types::Json<serde_json::Value>>,
}

impl TryFrom<OverviewRow> for ClientOverview {
    type Error = Error;
    fn try_from(r: OverviewRow) -> Result<Self> {
        let client = Client::try_from(r.client)?;
        let context = context_object(r.context_data.map_or(Json::Null, |j| j.0), client.id)?;
        Ok(ClientOverview {
            client,
            assigned_to: r.assignee_email,
            context,
        })
    }
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    from_stage: Option<String>,
    to_stage: String,
    by_email: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<HistoryRow> for HistoryEntry {
    type Error = Error;
    fn try_from(r: HistoryRow) -> Result<Self> {
        Ok(HistoryEntry {
            from: from_stage(r.from_stage.as_deref())?,
            to: stored("to_stage", &r.to_stage)?,
            by: r.by_email,
            at: r.created_at,
        })
    }
}

/// `SELECT` of overview rows up to the `WHERE`: the client, its active assignee's email and its
/// context, joined (one query however many rows).
fn overview_select<DB: Dialect>() -> QueryBuilder<DB> {
    let mut qb = QueryBuilder::<DB>::new(
        "SELECT c.id, c.name, c.email, c.phone, c.current_stage, c.created_at, c.updated_at, \
         u.email AS assignee_email, x.context_data AS context_data \
         FROM clients c \
         LEFT JOIN client_assignments a ON a.client_id = c.id AND a.is_active = ",
    );
    qb.push_bind(true);
    qb.push(
        " LEFT JOIN users u ON u.id = a.assigned_to_id \
         LEFT JOIN client_contexts x ON x.client_id = c.id WHERE 1 = 1",
    );
    qb
}

impl<DB: Dialect> Sql<DB> {
    pub(crate) async fn client_overviews(
        &self,
        filter: &OverviewFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ClientOverview>> {
        let mut qb = overview_select();
        if let Some(user) = filter.assigned_to {
            qb.push(" AND a.assigned_to_id = ").push_bind(user.0);
        }
        if let Some(stage) = filter.stage {
            qb.push(" AND c.current_stage = ").push_bind(stage.as_str());
        }
        qb.push(" ORDER BY c.created_at DESC, c.id DESC LIMIT ")
            .push(limit)
            .push(" OFFSET ")
            .push_bind(offset);
        let rows: Vec<OverviewRow> = qb.build_query_as().fetch_all(&self.read).await?;
        rows.into_iter().map(ClientOverview::try_from).collect()
    }

    pub(crate) async fn client_detail(
        &self,
        id: ClientId,
        max_history: i64,
    ) -> Result<ClientDetail> {
        let mut qb = overview_select();
        qb.push(" AND c.id = ").push_bind(id.0);
        let row: Option<OverviewRow> = qb.build_query_as().fetch_optional(&self.read).await?;
        let Some(row) = row else {
            return Err(Error::NotFound { entity: "client" });
        };
        let rows: Vec<HistoryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT h.from_stage, h.to_stage, u.email AS by_email, h.created_at \
             FROM client_stage_history h LEFT JOIN users u ON u.id = h.changed_by_id \
             WHERE h.client_id = $1 ORDER BY h.created_at DESC, h.id DESC LIMIT {max_history}"
        )))
        .bind(id.0)
        .fetch_all(&self.read)
        .await?;
        Ok(ClientDetail {
            overview: row.try_into()?,
            history: rows
                .into_iter()
                .map(HistoryEntry::try_from)
                .collect::<Result<_>>()?,
        })
    }

    /// Fields, stage and assignment in one transaction. Returns the client, whether the stage
    /// changed and whether the assignment changed.
    pub(crate) async fn edit_client(
        &self,
        id: ClientId,
        edit: &CleanEdit,
        audit: Audit<'_>,
    ) -> Result<(Client, bool, bool)> {
        let mut tx = self.begin().await?;
        let current = locked_client(&mut tx, id).await?.current_stage;
        Self::check_ref(&mut tx, "users", "changed_by", edit.by.map(|u| u.0)).await?;
        let at = now();
        let fields = [
            ("name", &edit.fields.name),
            ("email", &edit.fields.email),
            ("phone", &edit.fields.phone),
        ];
        let touched = fields.iter().any(|(_, v)| v.is_some());
        if touched {
            let mut qb = QueryBuilder::<DB>::new("UPDATE clients SET updated_at = ");
            qb.push_bind(at);
            for (column, value) in fields {
                if let Some(value) = value {
                    qb.push(format_args!(", {column} = "))
                        .push_bind(value.clone());
                }
            }
            qb.push(" WHERE id = ").push_bind(id.0);
            qb.build().execute(&mut *tx).await?;
        }
        let mut staged = false;
        if let Some(to) = edit.stage
            && current != to
        {
            let step = StageStep {
                from: current,
                to,
                by: edit.by,
                remarks: &edit.remarks,
                at,
            };
            stage_in(&mut tx, id, step, &audit).await?;
            staged = true;
        }
        let mut assigned = false;
        match edit.assignment {
            AssignmentChange::Keep => {}
            AssignmentChange::To(user) => {
                let holder: Option<Option<i64>> = sqlx::query_scalar(
                    "SELECT assigned_to_id FROM client_assignments \
                     WHERE client_id = $1 AND is_active = $2",
                )
                .bind(id.0)
                .bind(true)
                .fetch_optional(&mut *tx)
                .await?;
                if holder.flatten() != Some(user.0) {
                    assign_in(
                        &mut tx,
                        id,
                        user,
                        edit.by,
                        &edit.remarks,
                        at,
                        &audit,
                        "assign_to",
                    )
                    .await?;
                    assigned = true;
                }
            }
            AssignmentChange::Unassign => {
                let ended: Option<i64> = sqlx::query_scalar(
                    "UPDATE client_assignments SET is_active = $1, updated_at = $2 \
                     WHERE client_id = $3 AND is_active = $4 RETURNING id",
                )
                .bind(false)
                .bind(at)
                .bind(id.0)
                .bind(true)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(assignment) = ended {
                    let repr = format!("client {id}: unassigned");
                    record(
                        &mut tx,
                        &audit,
                        AuditAction::Update,
                        "clientassignment",
                        assignment,
                        &repr,
                    )
                    .await?;
                }
            }
        }
        let row: ClientRow = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CLIENT_COLS} FROM clients WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        let client = Client::try_from(row)?;
        if touched {
            record(
                &mut tx,
                &audit,
                AuditAction::Update,
                "client",
                id,
                &client.name,
            )
            .await?;
        }
        tx.commit().await?;
        Ok((client, staged, assigned))
    }
}
