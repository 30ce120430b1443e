//! The audit log: listing it, and the entries of erasures.

use super::privacy::ERASED;
use super::sqlx::{self, QueryBuilder};
use super::{Dialect, Sql, Tx, now};
use crate::audit::{Audit, AuditAction, AuditEntry, AuditFilter, AuditSort};
use crate::error::Result;
use crate::query::{Page, PageRequest, Sort};
use crate::store::dialect::RowsAffected as _;
use crate::store::rows::{AUDIT_COLS, AuditRow};

pub(crate) async fn record<DB: Dialect>(
    tx: &mut Tx<DB>,
    audit: &Audit<'_>,
    action: AuditAction,
    object_type: &str,
    object_id: impl ToString,
    object_repr: &str,
) -> Result<()> {
    let Some(actor) = audit.actor else {
        return Ok(());
    };
    let repr: String = object_repr.chars().take(255).collect();
    // The actor may have just deleted themselves: link only while the user exists.
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_repr, action, object_type, object_id, \
         object_repr, changes, created_at) \
         VALUES ((SELECT id FROM users WHERE id = $1), $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.id.0)
    .bind(&actor.repr)
    .bind(action.as_str())
    .bind(object_type)
    .bind(object_id.to_string())
    .bind(repr)
    .bind(sqlx::types::Json(&audit.changes))
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the audit entry of the change made in `tx` ([`record`]), then commits it: the change
/// and its entry are kept together or not at all.
pub(crate) async fn commit_recorded<DB: Dialect>(
    mut tx: Tx<DB>,
    audit: &Audit<'_>,
    action: AuditAction,
    object_type: &str,
    object_id: impl ToString,
    object_repr: &str,
) -> Result<()> {
    record(&mut tx, audit, action, object_type, object_id, object_repr).await?;
    tx.commit().await?;
    Ok(())
}

/// [`record`] for many objects of one kind at once: one multi-row INSERT (a bulk delete of 500
/// messages is one statement, not 500). Each object is `(id, description, changes)`: its own
/// changes are recorded when they are an object, the audit's shared changes otherwise.
pub(crate) async fn record_many<DB: Dialect>(
    tx: &mut Tx<DB>,
    audit: &Audit<'_>,
    action: AuditAction,
    object_type: &str,
    objects: &[(String, String, serde_json::Value)],
) -> Result<()> {
    let Some(actor) = audit.actor else {
        return Ok(());
    };
    if objects.is_empty() {
        return Ok(());
    }
    let at = now();
    let mut qb = QueryBuilder::<DB>::new(
        "INSERT INTO audit_log (actor_id, actor_repr, action, object_type, object_id, \
         object_repr, changes, created_at) ",
    );
    qb.push("SELECT (SELECT id FROM users WHERE id = ");
    qb.push_bind(actor.id.0);
    qb.push("), v.* FROM (");
    qb.push_values(objects, |mut b, (id, repr, own)| {
        let changes = if own.is_object() { own } else { &audit.changes };
        b.push_bind(&actor.repr)
            .push_bind(action.as_str())
            .push_bind(object_type)
            .push_bind(id)
            .push_bind(repr.chars().take(255).collect::<String>())
            .push_bind(sqlx::types::Json(changes))
            .push_bind(at);
    });
    qb.push(") AS v");
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Replaces the description and changes of the audit entries about `object_type` objects
/// with ids `ids` by `[erased]`; returns how many entries changed.
pub(super) async fn scrub_audit<DB: Dialect>(
    tx: &mut Tx<DB>,
    object_type: &str,
    ids: &[String],
) -> Result<u64> {
    scrub_entries(tx, ids, |qb| {
        qb.push("object_type = ")
            .push_bind(object_type.to_owned())
            .push(" AND object_id");
    })
    .await
}

/// [`scrub_audit`] for the entries of deleted messages of `sessions` (which record their
/// session in `changes.session_id`).
pub(super) async fn scrub_message_audit<DB: Dialect>(
    tx: &mut Tx<DB>,
    sessions: &[String],
) -> Result<u64> {
    scrub_entries(tx, sessions, |qb| {
        qb.push("object_type = 'chathistory' AND changes ->> 'session_id'");
    })
    .await
}

/// Replaces the description and changes of the audit entries whose key (the expression that
/// `key` pushes) is one of `values` by `[erased]`, 500 values per statement; returns how many
/// entries changed.
async fn scrub_entries<DB: Dialect>(
    tx: &mut Tx<DB>,
    values: &[String],
    key: impl Fn(&mut QueryBuilder<DB>),
) -> Result<u64> {
    let mut scrubbed = 0;
    for chunk in values.chunks(500) {
        let mut qb = QueryBuilder::<DB>::new("UPDATE audit_log SET object_repr = ");
        qb.push_bind(ERASED)
            .push(", changes = ")
            .push_bind(sqlx::types::Json(serde_json::json!({ "erased": true })))
            .push(" WHERE ");
        key(&mut qb);
        qb.push(" IN (");
        let mut list = qb.separated(", ");
        for value in chunk {
            list.push_bind(value.clone());
        }
        qb.push(")");
        scrubbed += qb.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(scrubbed)
}

/// Writes an audit entry whether or not the store acts as someone (erasures and retention
/// runs are always recorded): by `actor`, or by no user with `fallback` as its description.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_always<DB: Dialect>(
    tx: &mut Tx<DB>,
    actor: Option<&crate::audit::Actor>,
    fallback: &str,
    action: AuditAction,
    object_type: &str,
    object_id: &str,
    object_repr: &str,
    changes: &serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_repr, action, object_type, object_id, \
         object_repr, changes, created_at) \
         VALUES ((SELECT id FROM users WHERE id = $1), $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.map(|a| a.id.0))
    .bind(actor.map_or(fallback, |a| a.repr.as_str()))
    .bind(action.as_str())
    .bind(object_type)
    .bind(object_id)
    .bind(object_repr)
    .bind(sqlx::types::Json(changes))
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl<DB: Dialect> Sql<DB> {
    pub(crate) async fn list_audit(
        &self,
        filter: &AuditFilter,
        sort: Sort<AuditSort>,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        self.list::<AuditRow, _, _>(AUDIT_COLS, "audit_log", &filter.conds().0, sort, page)
            .await
    }
}
