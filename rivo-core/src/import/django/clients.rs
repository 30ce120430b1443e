//! Clients, their stage history, assignments and contexts (from whichever table the source's
//! commit keeps them in).

use std::collections::HashMap;

use sqlx::PgConnection;

use super::rows::{
    SrcAssignment, SrcClientContextRow, SrcClientRow, SrcContextRow, SrcStageChangeRow,
    context_object, parse_session,
};
use super::source::SourceSchema;
use super::{Chunks, Unique, check_unique, count};
use super::{ImportOptions, ImportReport};
use crate::clients::{Client, ClientContext, StageChange};
use crate::error::Result;
use crate::ids::{ClientId, ContextId, SessionId};
use crate::store::dialect::Dialect;
use crate::store::sql::{Sql, Tx};

pub(super) async fn import_clients<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<()> {
    let mut tx = target.import_begin().await?;

    count(report, "client_client", "clients");
    let mut table = Chunks::new(
        "SELECT id::bigint AS id, name, COALESCE(email, '') AS email, COALESCE(phone, '') AS phone, \
         current_stage, created_at, updated_at \
         FROM client_client WHERE id > $1 ORDER BY id LIMIT $2",
    );
    while let Some(rows) = table.next_checked::<SrcClientRow, Client>(src).await? {
        let inserted = target.import_clients(&mut tx, &rows).await?;
        count(report, "client_client", "clients").add_chunk(rows.len(), inserted);
    }

    if schema.context_table {
        import_context_table(src, target, &mut tx, options, report).await?;
    } else {
        import_client_contexts(src, schema, target, &mut tx, options, report).await?;
    }

    count(report, "client_clientstagehistory", "client_stage_history");
    let mut table = Chunks::new(
        "SELECT id::bigint AS id, client_id::bigint AS client_id, from_stage, to_stage, \
         changed_by_id::bigint AS changed_by_id, \
         COALESCE(remarks, '') AS remarks, created_at, updated_at \
         FROM client_clientstagehistory WHERE id > $1 ORDER BY id LIMIT $2",
    );
    while let Some(rows) = table
        .next_checked::<SrcStageChangeRow, StageChange>(src)
        .await?
    {
        let inserted = target.import_stage_changes(&mut tx, &rows).await?;
        count(report, "client_clientstagehistory", "client_stage_history")
            .add_chunk(rows.len(), inserted);
    }

    count(report, "client_clientassignment", "client_assignments");
    let mut table = Chunks::new(
        "SELECT id::bigint AS id, client_id::bigint AS client_id, \
         assigned_to_id::bigint AS assigned_to_id, assigned_by_id::bigint AS assigned_by_id, \
         is_active, \
         COALESCE(remarks, '') AS remarks, created_at, updated_at \
         FROM client_clientassignment WHERE id > $1 ORDER BY id LIMIT $2",
    );
    while let Some(rows) = table.next_rows::<SrcAssignment>(src).await? {
        if options.merge {
            let active: Vec<(i64, String)> = rows
                .iter()
                .filter(|r| r.is_active)
                .map(|r| (r.id, r.client_id.to_string()))
                .collect();
            let unique = Unique {
                active_only: true,
                ..Unique::of("client_assignments", "client_id")
            };
            let source = ("client_clientassignment", "active assignment of client");
            check_unique(target, &mut tx, unique, source, &active).await?;
        }
        let inserted = target.import_assignments(&mut tx, &rows).await?;
        count(report, "client_clientassignment", "client_assignments")
            .add_chunk(rows.len(), inserted);
    }

    target
        .import_reset_ids(
            &mut tx,
            &[
                "clients",
                "client_contexts",
                "client_stage_history",
                "client_assignments",
            ],
        )
        .await?;
    tx.commit().await?;
    tracing::info!("imported clients");
    Ok(())
}

/// Contexts of the 898bd7e schema: the `client_context` table.
async fn import_context_table<DB: Dialect>(
    src: &mut PgConnection,
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<()> {
    count(report, "client_context", "client_contexts");
    let mut table = Chunks::new(
        "SELECT id::bigint AS id, client_id::bigint AS client_id, \
         chat_session_id::text AS chat_session_id, \
         context_data::jsonb AS context_data, created_at, updated_at \
         FROM client_context WHERE id > $1 ORDER BY id LIMIT $2",
    );
    while let Some(rows) = table
        .next_checked::<SrcContextRow, ClientContext>(src)
        .await?
    {
        let source = ContextSource {
            table: "client_context",
            clash_table: "client_context",
            clash_what: "client",
        };
        store_contexts(target, tx, options, report, source, &rows).await?;
    }
    Ok(())
}

/// Contexts of the later schema (b2fff2d on): the context on the client (`client_client.context`,
/// e0ca024 on) and the client's chat session, which is the session whose oldest linked message
/// is the client's oldest (the original's `_get_client`: a session belongs to the client of its
/// oldest linked message). A client with neither gets no context row. The row keeps the client's
/// id and times.
async fn import_client_contexts<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<()> {
    const T: &str = "client_client.context";
    let mut sessions: HashMap<i64, SessionId> = HashMap::new();
    if schema.message_client {
        let links: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT DISTINCT ON (client_id) client_id::bigint, session_id::text, id::bigint \
             FROM (SELECT DISTINCT ON (session_id) session_id, client_id, id \
             FROM chat_chathistory WHERE client_id IS NOT NULL \
             ORDER BY session_id, id) AS first_link \
             ORDER BY client_id, id",
        )
        .fetch_all(&mut *src)
        .await?;
        for (client, session, message) in links {
            let session = parse_session("chat_chathistory", message, "session_id", &session)?;
            sessions.insert(client, session);
        }
    }
    count(report, T, "client_contexts");
    let context = if schema.client_context_column {
        "context::jsonb"
    } else {
        "NULL::jsonb"
    };
    let mut table = Chunks::new(format!(
        "SELECT id::bigint AS id, {context} AS context, created_at, updated_at \
         FROM client_client WHERE id > $1 ORDER BY id LIMIT $2"
    ));
    while let Some(rows) = table.next_rows::<SrcClientContextRow>(src).await? {
        let rows: Vec<ClientContext> = rows
            .into_iter()
            .filter_map(|r| {
                let data = context_object(r.context.map(|j| j.0));
                let chat_session_id = sessions.get(&r.id).copied();
                (!data.is_empty() || chat_session_id.is_some()).then_some(ClientContext {
                    id: ContextId(r.id),
                    client_id: ClientId(r.id),
                    chat_session_id,
                    data,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                })
            })
            .collect();
        let source = ContextSource {
            table: T,
            clash_table: "client_client",
            clash_what: "context of client",
        };
        store_contexts(target, tx, options, report, source, &rows).await?;
    }
    Ok(())
}

/// Where a chunk of contexts came from: its line in the report, and how a clash names it.
struct ContextSource {
    /// The report line (`client_context`, or `client_client.context` for the later schema).
    table: &'static str,
    /// The source table a clash names.
    clash_table: &'static str,
    /// What a clash says is already there.
    clash_what: &'static str,
}

/// Stores one chunk of contexts, counted on `source`'s report line. With
/// [`ImportOptions::merge`], a client that already has a context in the target is a clash
/// (nothing of the import is kept).
async fn store_contexts<DB: Dialect>(
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
    source: ContextSource,
    rows: &[ClientContext],
) -> Result<()> {
    if options.merge {
        let keys: Vec<(i64, String)> = rows
            .iter()
            .map(|r| (r.id.0, r.client_id.to_string()))
            .collect();
        let unique = Unique::of("client_contexts", "client_id");
        let clash = (source.clash_table, source.clash_what);
        check_unique(target, &mut *tx, unique, clash, &keys).await?;
    }
    let inserted = target.import_contexts(&mut *tx, rows).await?;
    count(report, source.table, "client_contexts").add_chunk(rows.len(), inserted);
    Ok(())
}
