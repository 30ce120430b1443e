//! Chat history, with the sessions it implies.

use sqlx::PgConnection;

use super::ImportReport;
use super::rows::SrcMessageRow;
use super::source::SourceSchema;
use super::{Chunks, count};
use crate::chat::ChatMessage;
use crate::error::Result;
use crate::store::dialect::Dialect;
use crate::store::sql::Sql;

pub(super) async fn import_chat<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    report: &mut ImportReport,
) -> Result<()> {
    let mut tx = target.import_begin().await?;
    count(report, "chat_chathistory", "chat_messages");
    let data_type = if schema.message_data_type {
        "data_type"
    } else {
        "'message'"
    };
    let mut table = Chunks::new(format!(
        "SELECT id::bigint AS id, session_id::text AS session_id, message, sender_type, \
         {data_type} AS data_type, sent_at \
         FROM chat_chathistory WHERE id > $1 ORDER BY id LIMIT $2"
    ));
    while let Some(rows) = table
        .next_checked::<SrcMessageRow, ChatMessage>(src)
        .await?
    {
        let inserted = target.import_messages(&mut tx, &rows).await?;
        count(report, "chat_chathistory", "chat_messages").add_chunk(rows.len(), inserted);
    }
    target.import_reset_ids(&mut tx, &["chat_messages"]).await?;
    target.import_sessions(&mut tx).await?;
    tx.commit().await?;
    tracing::info!("imported chat history");
    Ok(())
}
