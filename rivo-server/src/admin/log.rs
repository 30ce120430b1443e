//! `/api/v1/admin/log/`: the audit log (superusers only).

use rivo_core::Sort;
use rivo_core::UserId;
use rivo_core::admin::LOG;
use rivo_core::audit::{AuditFilter, AuditSort};

use super::AdminTag;
use super::bodies::AuditActionName;
use super::pages::AuditPage;
use super::resource::admin_resource;

admin_resource! {
    /// The audit log.
    AdminLogApi for LOG, tag = "AdminTag::Admin";

    list:
    /// List the audit log
    ///
    /// Every admin write: who, when, which object, what changed (never a password). Newest
    /// first by default. Superusers only.
    ("/log/", "admin_log_list") -> AuditPage {
        /// Case-insensitive text to find in the object or actor description.
        search: String,
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only entries by this user.
        actor: i64,
        /// Only this kind of object (`user`, `role`, `chathistory`, `chatsession`, `client`,
        /// `context`, `clientstagehistory`, `clientassignment`).
        object_type: String,
        /// Only this object (with `object_type`).
        object_id: String,
        /// Only this action.
        action: AuditActionName,
    } |list| {
        let filter = AuditFilter {
            actor_id: actor.map(UserId),
            object_type,
            object_id,
            action: action.map(|a| match a {
                AuditActionName::Create => rivo_core::audit::AuditAction::Create,
                AuditActionName::Update => rivo_core::audit::AuditAction::Update,
                AuditActionName::Delete => rivo_core::audit::AuditAction::Delete,
            }),
            search,
        };
        let sort = list.sort(ordering, Sort::desc(AuditSort::CreatedAt));
        list.found(list.store().list_audit(&filter, sort, list.request()).await?)
    }
}
