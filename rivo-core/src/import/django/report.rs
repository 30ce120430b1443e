//! The import report's permission groups: which source grants have no rivo counterpart.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use super::count;
use super::source::SourceSchema;
use super::{GroupReport, ImportReport};
use crate::error::Result;
use crate::ids::UserId;

pub(super) async fn report_groups(
    src: &mut PgConnection,
    optional: &SourceSchema,
    report: &mut ImportReport,
) -> Result<()> {
    let mut groups: BTreeMap<i64, GroupReport> = BTreeMap::new();
    if optional.auth_group {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id::bigint, name FROM auth_group ORDER BY id")
                .fetch_all(&mut *src)
                .await?;
        for (id, name) in rows {
            groups.insert(
                id,
                GroupReport {
                    id,
                    name,
                    members: Vec::new(),
                },
            );
        }
    }
    if optional.user_groups {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT group_id::bigint, user_id::bigint FROM account_user_groups \
             ORDER BY group_id, user_id",
        )
        .fetch_all(&mut *src)
        .await?;
        let line = count(report, "account_user_groups", "-");
        line.read = rows.len() as u64;
        line.ignored = rows.len() as u64;
        for (group, user) in rows {
            groups
                .entry(group)
                .or_insert_with(|| GroupReport {
                    id: group,
                    name: String::new(),
                    members: Vec::new(),
                })
                .members
                .push(UserId(user));
        }
    }
    report.groups = groups.into_values().collect();
    Ok(())
}
