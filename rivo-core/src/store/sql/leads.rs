//! Lead capture (the public API is in `crate::leads`).

use chrono::{DateTime, Utc};

use super::sqlx::{self, AssertSqlSafe};
use super::{Dialect, Sql, Tx, emit, locked_client, now, summaries_enqueue};
use crate::clients::{Assignment, Client, Stage};
use crate::error::{Error, Result};
use crate::events::{ClientCreated, Event};
use crate::ids::{ClientId, SessionId};
use crate::store::rows::{ASSIGNMENT_COLS, AssignmentRow, CLIENT_COLS, ClientRow};

use crate::leads::{AssignmentRule, Captured, LeadCaptureOptions};

/// Remarks of the stage history row written when chat capture creates a client.
const CAPTURED_REMARKS: &str = "Client information collected via chat.";
/// Remarks of the assignment row written when a captured lead completes with nobody picked.
const AWAITING_REMARKS: &str = "Awaiting assignment";
/// Remarks of the assignment row written when the round-robin rule picked someone.
const ROUND_ROBIN_REMARKS: &str = "Assigned automatically (round-robin)";
/// The advisory-lock key that serialises round-robin picks (PostgreSQL; SQLite has one writer).
const PICK_LOCK_KEY: &str = "rivo-lead-round-robin";

impl<DB: Dialect> Sql<DB> {
    /// Stores `row` and, when `value` is given (a contact detail the store may capture), puts
    /// it on the session's client, creating the client when missing: one transaction.
    pub(crate) async fn capture(
        &self,
        row: &crate::store::append::NewMessage,
        value: Option<&str>,
        options: &LeadCaptureOptions,
        origin: &str,
    ) -> Result<(Captured, Vec<crate::streams::Mark>)> {
        let mut tx = self.begin().await?;
        // The message first, through the group commit's own statement: it upserts the session
        // row and keeps it locked until commit (PostgreSQL; SQLite holds the only writer), so
        // concurrent messages of one session run one after the other from here on and the
        // second sees the client the first created. It also writes the `tx` column, the
        // streams' NOTIFY and the `message.created` outbox rows.
        let (mut stored, marks) = DB::append_in(self, &mut tx, &[row], origin).await?;
        let message = stored
            .pop()
            .ok_or_else(|| Error::Internal("append returned no row".into()))?;
        let linked: Option<i64> = sqlx::query_scalar(
            "SELECT client_id FROM client_contexts WHERE chat_session_id = $1 \
             ORDER BY id LIMIT 1",
        )
        .bind(row.session_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let column = match row.data_type {
            crate::chat::DataType::Name => "name",
            crate::chat::DataType::Email => "email",
            crate::chat::DataType::Phone => "phone",
            crate::chat::DataType::Message => "",
        };
        let value = value.filter(|_| !column.is_empty());
        let Some(value) = value else {
            let client = match linked {
                Some(id) => Some(locked_client(&mut tx, ClientId(id)).await?),
                None => None,
            };
            tx.commit().await?;
            let marks = DB::committed_marks(self, std::slice::from_ref(&message), marks)?;
            return Ok((
                Captured {
                    message,
                    client,
                    created: false,
                    completed: false,
                    assignment: None,
                },
                marks,
            ));
        };
        let at = now();
        let (client_id, created) = match linked {
            Some(id) => (id, false),
            None => (
                Self::create_captured_client(&mut tx, row.session_id, at).await?,
                true,
            ),
        };
        let before = locked_client(&mut tx, ClientId(client_id)).await?;
        let updated: ClientRow = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE clients SET {column} = $1, updated_at = $2 WHERE id = $3 \
             RETURNING {CLIENT_COLS}"
        )))
        .bind(value)
        .bind(at)
        .bind(client_id)
        .fetch_one(&mut *tx)
        .await?;
        let client = Client::try_from(updated)?;
        if created {
            emit(
                &mut tx,
                &Event::ClientCreated(ClientCreated {
                    client: client.clone(),
                    chat_session_id: Some(row.session_id),
                }),
            )
            .await?;
        }
        let complete =
            |c: &Client| !c.name.is_empty() && !c.email.is_empty() && !c.phone.is_empty();
        let completed = complete(&client) && !complete(&before);
        let mut assignment = None;
        if completed {
            // The AI summary of the conversation, made off the request path by the worker.
            summaries_enqueue(
                &mut tx,
                client.id,
                crate::summaries::SummaryReason::LeadCompleted,
            )
            .await?;
            assignment = self
                .assign_completed_lead(&mut tx, client.id, &options.assignment, at)
                .await?;
        }
        tx.commit().await?;
        let marks = DB::committed_marks(self, std::slice::from_ref(&message), marks)?;
        Ok((
            Captured {
                message,
                client: Some(client),
                created,
                completed,
                assignment,
            },
            marks,
        ))
    }

    /// An empty client in stage `lead` for `session`: its context row (which links the
    /// session row, through the relink trigger) and its first stage history row.
    async fn create_captured_client(
        tx: &mut Tx<DB>,
        session: SessionId,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO clients (name, email, phone, current_stage, created_at, updated_at) \
             VALUES ('', '', '', $1, $2, $2) RETURNING id",
        )
        .bind(Stage::Lead.as_str())
        .bind(at)
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(id)
        .bind(session.0)
        .bind(sqlx::types::Json(serde_json::json!({})))
        .bind(at)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO client_stage_history (client_id, from_stage, to_stage, changed_by_id, \
             remarks, created_at, updated_at) VALUES ($1, NULL, $2, NULL, $3, $4, $4)",
        )
        .bind(id)
        .bind(Stage::Lead.as_str())
        .bind(CAPTURED_REMARKS)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    /// Applies `rule` to a lead that just completed, unless it already has an active
    /// assignment (which is never touched). Returns the assignment written, if any.
    async fn assign_completed_lead(
        &self,
        tx: &mut Tx<DB>,
        client: ClientId,
        rule: &AssignmentRule,
        at: DateTime<Utc>,
    ) -> Result<Option<Assignment>> {
        let active: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM client_assignments WHERE client_id = $1 AND is_active = $2",
        )
        .bind(client.0)
        .bind(true)
        .fetch_optional(&mut **tx)
        .await?;
        if active.is_some() {
            return Ok(None);
        }
        let assignee = match rule {
            AssignmentRule::Awaiting => None,
            AssignmentRule::RoundRobin { role, cap } => {
                DB::lock_throttle_key(tx, PICK_LOCK_KEY).await?;
                let picked: Option<i64> = sqlx::query_scalar(
                    "SELECT u.id FROM users u JOIN roles r ON r.id = u.role_id \
                     WHERE r.name = $1 AND u.is_active = $2 \
                     AND (SELECT count(*) FROM client_assignments a \
                          JOIN clients c ON c.id = a.client_id \
                          WHERE a.assigned_to_id = u.id AND a.is_active = $2 \
                          AND c.current_stage NOT IN ('lost', 'closed', 'rejected')) < $3 \
                     ORDER BY (SELECT max(a.id) FROM client_assignments a \
                               WHERE a.assigned_to_id = u.id) IS NOT NULL, \
                              (SELECT max(a.id) FROM client_assignments a \
                               WHERE a.assigned_to_id = u.id), u.id \
                     LIMIT 1",
                )
                .bind(role)
                .bind(true)
                .bind(i64::from((*cap).max(1)))
                .fetch_optional(&mut **tx)
                .await?;
                picked
            }
        };
        let row: AssignmentRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO client_assignments (client_id, assigned_to_id, assigned_by_id, is_active, \
             remarks, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, $5, $5) \
             RETURNING {ASSIGNMENT_COLS}"
        )))
        .bind(client.0)
        .bind(assignee)
        .bind(true)
        .bind(if assignee.is_some() {
            ROUND_ROBIN_REMARKS
        } else {
            AWAITING_REMARKS
        })
        .bind(at)
        .fetch_one(&mut **tx)
        .await?;
        let assignment = Assignment::try_from(row)?;
        if assignment.assigned_to.is_some() {
            emit(tx, &Event::ClientAssigned(assignment.clone())).await?;
        }
        Ok(Some(assignment))
    }
}
