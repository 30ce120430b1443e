//! Roles, users and their permission grants.

use std::collections::{BTreeMap, HashSet};

use sqlx::PgConnection;

use super::rows::{SrcRole, SrcUser};
use super::source::SourceSchema;
use super::{CHUNK, Chunks, Unique, check_unique, count};
use super::{ImportOptions, ImportReport, UnusablePassword};
use crate::accounts::Permission;
use crate::django_hash::{self, HashKind};
use crate::error::Result;
use crate::ids::UserId;
use crate::store::dialect::Dialect;
use crate::store::sql::{Sql, Tx};

/// A Django many-to-many permission table and rivo's table of the same grants.
struct GrantTable {
    /// The Django table, e.g. `account_role_permissions`.
    source: &'static str,
    /// rivo's table, e.g. `role_permissions`.
    target: &'static str,
    /// The owner's column, in both tables (`role_id`, `user_id`).
    owner: &'static str,
}

/// Copies the grants of `table` whose owner was imported (the others' are left as they are),
/// counting those whose permission rivo does not know in `ignored`.
async fn import_grants<DB: Dialect>(
    src: &mut PgConnection,
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    table: GrantTable,
    imported_owners: &HashSet<i64>,
    ignored: &mut BTreeMap<String, u64>,
    report: &mut ImportReport,
) -> Result<()> {
    let GrantTable {
        source,
        target: target_table,
        owner,
    } = table;
    // `(owner id, "<app_label>.<codename>")`
    let grants: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT g.{owner}::bigint, ct.app_label || '.' || p.codename FROM {source} g \
         JOIN auth_permission p ON p.id = g.permission_id \
         JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY g.{owner}, p.id"
    )))
    .fetch_all(&mut *src)
    .await?;
    let line = count(report, source, target_table);
    line.read = grants.len() as u64;
    let mut known = Vec::new();
    for (owner, codename) in grants {
        if codename.parse::<Permission>().is_err() {
            *ignored.entry(codename).or_insert(0) += 1;
            line.ignored += 1;
        } else if imported_owners.contains(&owner) {
            known.push((owner, codename));
        } else {
            // The owner was already present (merge): its permissions are left as they are.
            line.skipped += 1;
        }
    }
    for batch in known.chunks(CHUNK as usize) {
        let inserted = target
            .import_grants(&mut *tx, target_table, owner, batch)
            .await?;
        line.imported += inserted;
        line.skipped += batch.len() as u64 - inserted;
    }
    Ok(())
}

pub(super) async fn import_accounts<DB: Dialect>(
    src: &mut PgConnection,
    schema: &SourceSchema,
    target: &Sql<DB>,
    options: ImportOptions,
    report: &mut ImportReport,
    ignored: &mut BTreeMap<String, u64>,
) -> Result<()> {
    let mut tx = target.import_begin().await?;
    for (source, table) in [
        ("account_role", "roles"),
        ("account_role_permissions", "role_permissions"),
        ("account_user", "users"),
        ("account_user_user_permissions", "user_permissions"),
    ] {
        count(report, source, table);
    }

    let mut roles_imported = HashSet::new();
    let description = if schema.role_description {
        "COALESCE(description, '')"
    } else {
        "''"
    };
    let mut table = Chunks::new(format!(
        "SELECT id::bigint AS id, name, {description} AS description, created_at, updated_at \
         FROM account_role WHERE id > $1 ORDER BY id LIMIT $2"
    ));
    while let Some(rows) = table.next_rows::<SrcRole>(src).await? {
        if options.merge {
            let names: Vec<(i64, String)> = rows.iter().map(|r| (r.id, r.name.clone())).collect();
            let unique = Unique::of("roles", "name");
            check_unique(target, &mut tx, unique, ("account_role", "name"), &names).await?;
        }
        let inserted: Vec<i64> = target.import_roles(&mut tx, &rows).await?;
        count(report, "account_role", "roles").add_chunk(rows.len(), inserted.len() as u64);
        roles_imported.extend(inserted);
    }
    let role_grants = GrantTable {
        source: "account_role_permissions",
        target: "role_permissions",
        owner: "role_id",
    };
    import_grants(
        src,
        target,
        &mut tx,
        role_grants,
        &roles_imported,
        ignored,
        report,
    )
    .await?;

    let mut users_imported = HashSet::new();
    let mut created_by = Vec::new();
    let created_by_column = if schema.user_created_by {
        "created_by_id::bigint"
    } else {
        "NULL::bigint"
    };
    let mut table = Chunks::new(format!(
        "SELECT id::bigint AS id, password, last_login, is_superuser, username, \
         COALESCE(first_name, '') AS first_name, COALESCE(last_name, '') AS last_name, \
         COALESCE(email, '') AS email, is_staff, is_active, date_joined, created_at, \
         updated_at, COALESCE(phone, '') AS phone, role_id::bigint AS role_id, \
         {created_by_column} AS created_by_id \
         FROM account_user WHERE id > $1 ORDER BY id LIMIT $2"
    ));
    while let Some(rows) = table.next_rows::<SrcUser>(src).await? {
        for user in &rows {
            let kind = django_hash::kind(&user.password);
            if matches!(kind, HashKind::Unusable | HashKind::Unsupported) {
                report.unusable_passwords.push(UnusablePassword {
                    user_id: UserId(user.id),
                    email: user.email.clone(),
                    algorithm: django_hash::algorithm(&user.password).to_owned(),
                });
            }
        }
        if options.merge {
            let emails: Vec<(i64, String)> = rows.iter().map(|r| (r.id, r.email.clone())).collect();
            let unique = Unique {
                lower: true,
                ..Unique::of("users", "email")
            };
            check_unique(target, &mut tx, unique, ("account_user", "email"), &emails).await?;
            let names: Vec<(i64, String)> =
                rows.iter().map(|r| (r.id, r.username.clone())).collect();
            let unique = Unique::of("users", "username");
            check_unique(
                target,
                &mut tx,
                unique,
                ("account_user", "username"),
                &names,
            )
            .await?;
        }
        let inserted: Vec<i64> = target.import_users(&mut tx, &rows).await?;
        let inserted: HashSet<i64> = inserted.into_iter().collect();
        created_by.extend(
            rows.iter()
                .filter(|u| inserted.contains(&u.id))
                .filter_map(|u| u.created_by_id.map(|by| (u.id, by))),
        );
        count(report, "account_user", "users").add_chunk(rows.len(), inserted.len() as u64);
        users_imported.extend(inserted);
    }
    // Users were written without `created_by`, so creators need not come first.
    target.import_user_created_by(&mut tx, &created_by).await?;
    let user_grants = GrantTable {
        source: "account_user_user_permissions",
        target: "user_permissions",
        owner: "user_id",
    };
    import_grants(
        src,
        target,
        &mut tx,
        user_grants,
        &users_imported,
        ignored,
        report,
    )
    .await?;

    target
        .import_reset_ids(&mut tx, &["roles", "users"])
        .await?;
    tx.commit().await?;
    tracing::info!("imported accounts");
    Ok(())
}
