//! Roles, users and their permission grants.

use std::collections::{BTreeMap, HashSet};

use sqlx::PgConnection;

use super::rows::{SrcRole, SrcUser};
use super::source::SourceSchema;
use super::{CHUNK, Chunks, count, first_clash};
use super::{ImportOptions, ImportReport, TableReport, UnusablePassword};
use crate::accounts::Permission;
use crate::django_hash::{self, HashKind};
use crate::error::Result;
use crate::ids::UserId;
use crate::store::dialect::Dialect;
use crate::store::sql::{Sql, Tx};

/// Grants `(owner id, "<app_label>.<codename>")` of a Django many-to-many permission table.
async fn read_grants(src: &mut PgConnection, sql: &'static str) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(sql).fetch_all(&mut *src).await?)
}

async fn import_grants<DB: Dialect>(
    target: &Sql<DB>,
    tx: &mut Tx<DB>,
    grants: Vec<(i64, String)>,
    imported_owners: &HashSet<i64>,
    ignored: &mut BTreeMap<String, u64>,
    (table, owner_column): (&'static str, &'static str),
    line: &mut TableReport,
) -> Result<()> {
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
            .import_grants(&mut *tx, table, owner_column, batch)
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
    let mut table = Chunks::new(if schema.role_description {
        "SELECT id::bigint AS id, name, COALESCE(description, '') AS description, \
         created_at, updated_at FROM account_role WHERE id > $1 ORDER BY id LIMIT $2"
    } else {
        "SELECT id::bigint AS id, name, '' AS description, created_at, updated_at \
         FROM account_role WHERE id > $1 ORDER BY id LIMIT $2"
    });
    while let Some(rows) = table.next_rows::<SrcRole>(src).await? {
        if options.merge {
            let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
            let present = target
                .import_present(&mut tx, "roles", "name", false, false, &names)
                .await?;
            let keys = rows.iter().map(|r| (r.id, r.name.as_str()));
            if let Some(e) = first_clash("account_role", "name", &present, keys) {
                return Err(e);
            }
        }
        let inserted: Vec<i64> = target.import_roles(&mut tx, &rows).await?;
        count(report, "account_role", "roles").add_chunk(rows.len(), inserted.len() as u64);
        roles_imported.extend(inserted);
    }
    let grants = read_grants(
        src,
        "SELECT rp.role_id::bigint, ct.app_label || '.' || p.codename FROM account_role_permissions rp \
         JOIN auth_permission p ON p.id = rp.permission_id \
         JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY rp.role_id, p.id",
    )
    .await?;
    import_grants(
        target,
        &mut tx,
        grants,
        &roles_imported,
        ignored,
        ("role_permissions", "role_id"),
        count(report, "account_role_permissions", "role_permissions"),
    )
    .await?;

    let mut users_imported = HashSet::new();
    let mut created_by = Vec::new();
    let mut table = Chunks::new(if schema.user_created_by {
        "SELECT id::bigint AS id, password, last_login, is_superuser, username, \
         COALESCE(first_name, '') AS first_name, COALESCE(last_name, '') AS last_name, \
         COALESCE(email, '') AS email, is_staff, is_active, date_joined, created_at, \
         updated_at, COALESCE(phone, '') AS phone, role_id::bigint AS role_id, \
         created_by_id::bigint AS created_by_id \
         FROM account_user WHERE id > $1 ORDER BY id LIMIT $2"
    } else {
        "SELECT id::bigint AS id, password, last_login, is_superuser, username, \
         COALESCE(first_name, '') AS first_name, COALESCE(last_name, '') AS last_name, \
         COALESCE(email, '') AS email, is_staff, is_active, date_joined, created_at, \
         updated_at, COALESCE(phone, '') AS phone, role_id::bigint AS role_id, \
         NULL::bigint AS created_by_id \
         FROM account_user WHERE id > $1 ORDER BY id LIMIT $2"
    });
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
            let emails: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
            let present = target
                .import_present(&mut tx, "users", "email", true, false, &emails)
                .await?;
            let keys = rows.iter().map(|r| (r.id, r.email.as_str()));
            if let Some(e) = first_clash("account_user", "email", &present, keys) {
                return Err(e);
            }
            let names: Vec<String> = rows.iter().map(|r| r.username.clone()).collect();
            let present = target
                .import_present(&mut tx, "users", "username", false, false, &names)
                .await?;
            let keys = rows.iter().map(|r| (r.id, r.username.as_str()));
            if let Some(e) = first_clash("account_user", "username", &present, keys) {
                return Err(e);
            }
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
    let grants = read_grants(
        src,
        "SELECT up.user_id::bigint, ct.app_label || '.' || p.codename \
         FROM account_user_user_permissions up \
         JOIN auth_permission p ON p.id = up.permission_id \
         JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY up.user_id, p.id",
    )
    .await?;
    import_grants(
        target,
        &mut tx,
        grants,
        &users_imported,
        ignored,
        ("user_permissions", "user_id"),
        count(report, "account_user_user_permissions", "user_permissions"),
    )
    .await?;

    target
        .import_reset_ids(&mut tx, &["roles", "users"])
        .await?;
    tx.commit().await?;
    tracing::info!("imported accounts");
    Ok(())
}
