//! What the source is: which commit of the original its schema is at ([`SourceSchema`]),
//! checked before anything is read.

use std::str::FromStr;

use sqlx::PgConnection;

use super::rows::{bad_row, parse_stage};
use super::{REQUIRED_TABLES, join, unusable_source};
use crate::chat::{DataType, SenderType};
use crate::clients::Stage;
use crate::error::Result;

/// The tables and columns the source has: which commit of the original it was migrated to
/// (see the module docs).
pub(super) struct SourceSchema {
    /// `client_context` (up to 898bd7e; dropped in b2fff2d).
    pub(super) context_table: bool,
    /// `client_client.context` (e0ca024 on).
    pub(super) client_context_column: bool,
    /// `chat_chathistory.client_id` (b2fff2d on).
    pub(super) message_client: bool,
    /// `chat_chathistory.data_type` (b2fff2d on).
    pub(super) message_data_type: bool,
    /// `account_user.created_by_id` (dropped in 7167cbf).
    pub(super) user_created_by: bool,
    /// `account_role.description`.
    pub(super) role_description: bool,
    /// DRF's `authtoken_token` (954f323 on).
    pub(super) tokens: bool,
    pub(super) auth_group: bool,
    pub(super) user_groups: bool,
}

async fn column_exists(src: &mut PgConnection, table: &str, column: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) \
         AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
    )
    .bind(table)
    .bind(column)
    .fetch_one(&mut *src)
    .await?)
}

async fn table_exists(src: &mut PgConnection, table: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(table)
        .fetch_one(&mut *src)
        .await?;
    Ok(found.is_some())
}

/// Checks the source as a whole before anything is written, and finds out its schema.
pub(super) async fn check_source(src: &mut PgConnection) -> Result<SourceSchema> {
    for table in REQUIRED_TABLES {
        if !table_exists(src, table).await? {
            return Err(unusable_source(format!(
                "table {table} not found: is this the Django app's database (and its schema \
                     on the search_path)?"
            )));
        }
    }
    let schema = SourceSchema {
        context_table: table_exists(src, "client_context").await?,
        client_context_column: column_exists(src, "client_client", "context").await?,
        message_client: column_exists(src, "chat_chathistory", "client_id").await?,
        message_data_type: column_exists(src, "chat_chathistory", "data_type").await?,
        user_created_by: column_exists(src, "account_user", "created_by_id").await?,
        role_description: column_exists(src, "account_role", "description").await?,
        tokens: table_exists(src, "authtoken_token").await?,
        auth_group: table_exists(src, "auth_group").await?,
        user_groups: table_exists(src, "account_user_groups").await?,
    };
    let stages: Vec<String> = Stage::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    let bad: Option<(i64, String)> = sqlx::query_as(
        "SELECT id::bigint, current_stage FROM client_client WHERE NOT (current_stage = ANY($1)) \
         ORDER BY id LIMIT 1",
    )
    .bind(&stages)
    .fetch_optional(&mut *src)
    .await?;
    if let Some((id, value)) = bad {
        return Err(parse_stage("client_client", id, "current_stage", &value)
            .err()
            .unwrap_or_else(|| {
                bad_row("client_client", id, format_args!("current_stage {value:?}"))
            }));
    }
    let bad: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id::bigint, CASE WHEN NOT (to_stage = ANY($1)) THEN 'to_stage' ELSE 'from_stage' END, \
         CASE WHEN NOT (to_stage = ANY($1)) THEN to_stage ELSE from_stage END \
         FROM client_clientstagehistory WHERE NOT (to_stage = ANY($1)) \
         OR (from_stage <> '' AND NOT (from_stage = ANY($1))) ORDER BY id LIMIT 1",
    )
    .bind(&stages)
    .fetch_optional(&mut *src)
    .await?;
    if let Some((id, column, value)) = bad {
        return Err(bad_row(
            "client_clientstagehistory",
            id,
            format_args!("{column} {value:?} is not a rivo stage"),
        ));
    }
    let bad: Option<(i64, String)> = sqlx::query_as(
        "SELECT id::bigint, sender_type FROM chat_chathistory \
         WHERE sender_type NOT IN ('client', 'bot') OR message = '' ORDER BY id LIMIT 1",
    )
    .fetch_optional(&mut *src)
    .await?;
    if let Some((id, sender_type)) = bad {
        let what = if SenderType::from_str(&sender_type).is_ok() {
            "the message is empty".to_owned()
        } else {
            format!("sender_type {sender_type:?} is not client or bot")
        };
        return Err(bad_row("chat_chathistory", id, what));
    }
    if schema.message_data_type {
        let kinds: Vec<String> = DataType::ALL
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        let bad: Option<(i64, String)> = sqlx::query_as(
            "SELECT id::bigint, data_type FROM chat_chathistory \
             WHERE NOT (data_type = ANY($1)) ORDER BY id LIMIT 1",
        )
        .bind(&kinds)
        .fetch_optional(&mut *src)
        .await?;
        if let Some((id, value)) = bad {
            return Err(bad_row(
                "chat_chathistory",
                id,
                format_args!("data_type {value:?} is not message, name, email or phone"),
            ));
        }
    }
    let same_email: Option<(Vec<i64>, Vec<String>)> = sqlx::query_as(
        "SELECT array_agg(id::bigint ORDER BY id), array_agg(email::text ORDER BY id) FROM account_user \
         GROUP BY lower(email) HAVING count(*) > 1 ORDER BY min(id) LIMIT 1",
    )
    .fetch_optional(&mut *src)
    .await?;
    if let Some((ids, emails)) = same_email {
        return Err(unusable_source(format!(
            "account_user ids {} have the same email ignoring case ({}); rivo logs users in \
                 by email, so change all but one in the Django database and import again",
            join(&ids),
            emails
                .iter()
                .map(|e| format!("{e:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let same_name: Option<(Vec<i64>, String)> = sqlx::query_as(
        "SELECT array_agg(id::bigint ORDER BY id), min(name)::text FROM account_role GROUP BY name \
         HAVING count(*) > 1 ORDER BY min(id) LIMIT 1",
    )
    .fetch_optional(&mut *src)
    .await?;
    if let Some((ids, name)) = same_name {
        return Err(unusable_source(format!(
            "account_role ids {} have the same name {name:?}; role names are unique in rivo",
            join(&ids)
        )));
    }
    let mut unique = vec![(
        "client_clientassignment",
        "WHERE is_active ",
        "several active assignments",
    )];
    if schema.context_table {
        unique.insert(0, ("client_context", "", "several contexts"));
    }
    for (table, filter, what) in unique {
        let dup: Option<(i64, Vec<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT client_id::bigint, array_agg(id::bigint ORDER BY id) FROM {table} {filter}\
             GROUP BY client_id HAVING count(*) > 1 ORDER BY client_id LIMIT 1"
        )))
        .fetch_optional(&mut *src)
        .await?;
        if let Some((client, ids)) = dup {
            return Err(unusable_source(format!(
                "{table} ids {} are {what} of client {client}; rivo keeps at most one",
                join(&ids)
            )));
        }
    }
    Ok(schema)
}
