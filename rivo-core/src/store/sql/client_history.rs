//! A client's context, stage history and assignments: reading and changing them, each change
//! in one transaction with the client row locked.

use chrono::{DateTime, Utc};

use super::sqlx::{self, AssertSqlSafe};
use super::{Dialect, Sql, Tx, commit_recorded, emit, lock_client, locked_client, now, record};
use crate::audit::{Audit, AuditAction};
use crate::clients::{
    Assignment, AssignmentFilter, Client, ClientContext, ContextChange, ContextFilter, HistorySort,
    Stage, StageChange, StageChangeFilter, StageOutcome,
};
use crate::error::{Error, Result, Rule};
use crate::events::Event;
use crate::ids::{ClientId, ContextId, UserId};
use crate::query::{Page, PageRequest, Sort};
use crate::store::rows::{
    ASSIGNMENT_COLS, AssignmentRow, CONTEXT_COLS, ContextRow, STAGE_CHANGE_COLS, StageChangeRow,
};

/// The context of a client that has no context row yet (e.g. imported): empty, unlinked.
fn empty_context(client_id: ClientId, at: DateTime<Utc>) -> ClientContext {
    ClientContext {
        id: ContextId(0),
        client_id,
        chat_session_id: None,
        data: serde_json::Map::new(),
        created_at: at,
        updated_at: at,
    }
}

/// Ends the client's active assignment and makes `assigned_to` its active assignee, inside `tx`
/// (whose caller has locked the client row): the assignment row, its audit entry and the
/// `client.assigned` event. A user that does not exist is a validation error on `field`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn assign_in<DB: Dialect>(
    tx: &mut Tx<DB>,
    client_id: ClientId,
    assigned_to: UserId,
    assigned_by: Option<UserId>,
    remarks: &str,
    at: chrono::DateTime<chrono::Utc>,
    audit: &Audit<'_>,
    field: &'static str,
) -> Result<Assignment> {
    sqlx::query(
        "UPDATE client_assignments SET is_active = $1, updated_at = $2 \
         WHERE client_id = $3 AND is_active = $4",
    )
    .bind(false)
    .bind(at)
    .bind(client_id.0)
    .bind(true)
    .execute(&mut **tx)
    .await?;
    let row: AssignmentRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO client_assignments (client_id, assigned_to_id, assigned_by_id, is_active, \
         remarks, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         RETURNING {ASSIGNMENT_COLS}"
    )))
    .bind(client_id.0)
    .bind(assigned_to.0)
    .bind(assigned_by.map(|u| u.0))
    .bind(true)
    .bind(remarks)
    .bind(at)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match e.as_database_error() {
        Some(db) if db.is_foreign_key_violation() => {
            Error::invalid(field, Rule::DoesNotExist { id: assigned_to.0 })
        }
        _ => Error::from(e),
    })?;
    let assignment = Assignment::try_from(row)?;
    let repr = format!("client {client_id} -> user {assigned_to}");
    record(
        tx,
        audit,
        AuditAction::Create,
        "clientassignment",
        assignment.id,
        &repr,
    )
    .await?;
    emit(tx, &Event::ClientAssigned(assignment.clone())).await?;
    Ok(assignment)
}

/// A move of a client from one stage to another, by whom, why and when.
pub(crate) struct StageStep<'a> {
    pub(crate) from: Stage,
    pub(crate) to: Stage,
    pub(crate) by: Option<UserId>,
    pub(crate) remarks: &'a str,
    pub(crate) at: DateTime<Utc>,
}

/// Moves the client along `step` inside `tx` (whose caller has locked the client row and
/// checked `step.by`): the client's stage, the stage history row, its audit entry and the
/// `client.stage_changed` event.
pub(crate) async fn stage_in<DB: Dialect>(
    tx: &mut Tx<DB>,
    client_id: ClientId,
    step: StageStep<'_>,
    audit: &Audit<'_>,
) -> Result<StageChange> {
    sqlx::query("UPDATE clients SET current_stage = $1, updated_at = $2 WHERE id = $3")
        .bind(step.to.as_str())
        .bind(step.at)
        .bind(client_id.0)
        .execute(&mut **tx)
        .await?;
    let row: StageChangeRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO client_stage_history (client_id, from_stage, to_stage, changed_by_id, \
         remarks, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         RETURNING {STAGE_CHANGE_COLS}"
    )))
    .bind(client_id.0)
    .bind(step.from.as_str())
    .bind(step.to.as_str())
    .bind(step.by.map(|u| u.0))
    .bind(step.remarks)
    .bind(step.at)
    .fetch_one(&mut **tx)
    .await?;
    let change = StageChange::try_from(row)?;
    let repr = format!("client {client_id}: {} -> {}", step.from, step.to);
    record(
        tx,
        audit,
        AuditAction::Create,
        "clientstagehistory",
        change.id,
        &repr,
    )
    .await?;
    emit(tx, &Event::ClientStageChanged(change.clone())).await?;
    Ok(change)
}

impl<DB: Dialect> Sql<DB> {
    pub(crate) async fn context(&self, client_id: ClientId) -> Result<ClientContext> {
        let row: Option<ContextRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONTEXT_COLS} FROM client_contexts WHERE client_id = $1"
        )))
        .bind(client_id.0)
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(row) => row.try_into(),
            None => {
                // A client without a context row (e.g. imported) has an empty one.
                let client = self.client(client_id).await?;
                Ok(empty_context(client_id, client.created_at))
            }
        }
    }

    pub(crate) async fn change_context(
        &self,
        client_id: ClientId,
        changes: &[ContextChange],
        limits: &crate::Limits,
        audit: Audit<'_>,
    ) -> Result<ClientContext> {
        let mut tx = self.begin().await?;
        lock_client(&mut tx, client_id).await?;
        let at = now();
        let row: Option<ContextRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONTEXT_COLS} FROM client_contexts WHERE client_id = $1"
        )))
        .bind(client_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let mut context = match row {
            Some(row) => ClientContext::try_from(row)?,
            None => empty_context(client_id, at),
        };
        for change in changes {
            change.clone().apply(&mut context);
        }
        limits.check_context(&context.data)?;
        let row: ContextRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (client_id) DO UPDATE SET \
             chat_session_id = excluded.chat_session_id, context_data = excluded.context_data, \
             updated_at = excluded.updated_at RETURNING {CONTEXT_COLS}"
        )))
        .bind(client_id.0)
        .bind(context.chat_session_id.map(|s| s.0))
        .bind(sqlx::types::Json(&context.data))
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let context = ClientContext::try_from(row)?;
        let repr = format!("context of client {client_id}");
        commit_recorded(
            tx,
            &audit,
            AuditAction::Update,
            "context",
            context.id,
            &repr,
        )
        .await?;
        Ok(context)
    }

    pub(crate) async fn list_contexts(
        &self,
        filter: &ContextFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<ClientContext>> {
        self.list::<ContextRow, _, _>(
            CONTEXT_COLS,
            "client_contexts",
            &filter.conds().0,
            sort,
            page,
        )
        .await
    }

    pub(crate) async fn set_stage(
        &self,
        client_id: ClientId,
        to_stage: Stage,
        changed_by: Option<UserId>,
        remarks: &str,
        audit: Audit<'_>,
    ) -> Result<StageOutcome> {
        let mut tx = self.begin().await?;
        let client = locked_client(&mut tx, client_id).await?;
        if client.current_stage == to_stage {
            tx.commit().await?;
            return Ok(StageOutcome {
                client,
                change: None,
            });
        }
        Self::check_ref(&mut tx, "users", "changed_by", changed_by.map(|u| u.0)).await?;
        let at = now();
        let step = StageStep {
            from: client.current_stage,
            to: to_stage,
            by: changed_by,
            remarks,
            at,
        };
        let change = stage_in(&mut tx, client_id, step, &audit).await?;
        tx.commit().await?;
        Ok(StageOutcome {
            client: Client {
                current_stage: to_stage,
                updated_at: at,
                ..client
            },
            change: Some(change),
        })
    }

    pub(crate) async fn list_stage_changes(
        &self,
        filter: &StageChangeFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<StageChange>> {
        self.list::<StageChangeRow, _, _>(
            STAGE_CHANGE_COLS,
            "client_stage_history",
            &filter.conds().0,
            sort,
            page,
        )
        .await
    }

    pub(crate) async fn assign(
        &self,
        client_id: ClientId,
        assigned_to: UserId,
        assigned_by: Option<UserId>,
        remarks: &str,
        audit: Audit<'_>,
    ) -> Result<Assignment> {
        let mut tx = self.begin().await?;
        lock_client(&mut tx, client_id).await?;
        Self::check_ref(&mut tx, "users", "assigned_by", assigned_by.map(|u| u.0)).await?;
        let assignment = assign_in(
            &mut tx,
            client_id,
            assigned_to,
            assigned_by,
            remarks,
            now(),
            &audit,
            "assigned_to",
        )
        .await?;
        tx.commit().await?;
        Ok(assignment)
    }

    pub(crate) async fn unassign(
        &self,
        client_id: ClientId,
        audit: Audit<'_>,
    ) -> Result<Option<Assignment>> {
        let mut tx = self.begin().await?;
        lock_client(&mut tx, client_id).await?;
        let row: Option<AssignmentRow> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE client_assignments SET is_active = $1, updated_at = $2 \
             WHERE client_id = $3 AND is_active = $4 RETURNING {ASSIGNMENT_COLS}"
        )))
        .bind(false)
        .bind(now())
        .bind(client_id.0)
        .bind(true)
        .fetch_optional(&mut *tx)
        .await?;
        let ended = row.map(Assignment::try_from).transpose()?;
        if let Some(a) = &ended {
            let repr = match a.assigned_to {
                Some(user) => format!("client {client_id} -> user {user}"),
                None => format!("client {client_id} -> awaiting assignment"),
            };
            record(
                &mut tx,
                &audit,
                AuditAction::Update,
                "clientassignment",
                a.id,
                &repr,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    pub(crate) async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<Assignment>> {
        self.list::<AssignmentRow, _, _>(
            ASSIGNMENT_COLS,
            "client_assignments",
            &filter.conds().0,
            sort,
            page,
        )
        .await
    }
}
