//! The generated list, read and delete routes of clients, contexts, stage history and
//! assignments.

use poem_openapi::{OpenApi, param::Path, param::Query};
use rivo_core::admin::{ASSIGNMENTS, CLIENTS, CONTEXTS, STAGE_HISTORY};
use rivo_core::clients::{
    AssignmentFilter, ClientFilter, ClientSort, ContextFilter, HistorySort, StageChangeFilter,
};
use rivo_core::{ClientId, Sort, Stage, UserId};

use crate::admin::AdminTag;
use crate::admin::bodies::{ClientBody, StageName};
use crate::admin::ctx::AdminCtx;
use crate::admin::pages::{AssignmentPage, ClientPage, ContextPage, StageChangePage};
use crate::admin::resource::{AdminList, admin_resource};
use crate::admin::{Found, ListErrors, found, names, time_before, time_from};
use crate::error::{ApiError, OpError};

/// A page of stage history, named.
async fn stage_history(
    list: &AdminList<'_>,
    ordering: Option<String>,
    filter: StageChangeFilter,
) -> Result<Found<StageChangePage>, OpError<ListErrors>> {
    let sort = list.sort(ordering, Sort::desc(HistorySort::CreatedAt));
    let history = list
        .store()
        .list_stage_changes(&filter, sort, list.request())
        .await?;
    let mut page: StageChangePage = list.page(history)?;
    names::stage_changes(list.store(), &mut page.results).await?;
    Ok(found(page))
}

/// A page of assignments, named.
async fn assignments(
    list: &AdminList<'_>,
    ordering: Option<String>,
    filter: AssignmentFilter,
) -> Result<Found<AssignmentPage>, OpError<ListErrors>> {
    let sort = list.sort(ordering, Sort::desc(HistorySort::CreatedAt));
    let assignments = list
        .store()
        .list_assignments(&filter, sort, list.request())
        .await?;
    let mut page: AssignmentPage = list.page(assignments)?;
    names::assignments(list.store(), &mut page.results).await?;
    Ok(found(page))
}

/// Emits `pub struct $api` and its `#[OpenApi]` impl: one list route per section of a
/// client's own rows (`/clients/:id/<rows>/`), the section's list with its client filter set
/// from the path. poem-openapi wants literal paths, so the macro emits the whole impl.
macro_rules! client_lists {
    (
        $(#[$api_doc:meta])*
        $api:ident;
        $(
            $(#[$doc:meta])*
            ($path:tt, $op:tt) $route:ident -> $Page:ty = $list:ident($spec:path, $Filter:ident);
        )+
    ) => {
        $(#[$api_doc])*
        #[derive(Default)]
        pub struct $api;

        #[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::AdminClients")]
        impl $api {
            $(
                $(#[$doc])*
                #[oai(path = $path, method = "get", operation_id = $op)]
                async fn $route(
                    &self,
                    ctx: AdminCtx<'_>,
                    /// Client id.
                    id: Path<i64>,
                    /// Page number, from 1.
                    page: Query<Option<i64>>,
                    /// Rows per page (default 25, at most 1000).
                    page_size: Query<Option<i64>>,
                    /// `created_at` or `id`; `-` for descending.
                    ordering: Query<Option<String>>,
                ) -> Result<Found<$Page>, OpError<ListErrors>> {
                    let filter = $Filter {
                        client_id: Some(ClientId(id.0)),
                        ..Default::default()
                    };
                    let list = AdminList::open(&ctx, &$spec, page.0, page_size.0).await?;
                    $list(&list, ordering.0, filter).await
                }
            )+
        }
    };
}

client_lists! {
    /// A client's stage history and assignments (all clients': [`AdminStageHistoryApi`],
    /// [`AdminAssignmentsApi`]).
    AdminClientListsApi;

    /// List a client's stage history
    ///
    /// Newest first by default.
    ("/clients/:id/stage-history/", "admin_clients_stage_history")
    client_stage_history -> StageChangePage = stage_history(STAGE_HISTORY, StageChangeFilter);

    /// List a client's assignments
    ///
    /// Newest first by default.
    ("/clients/:id/assignments/", "admin_clients_assignments")
    client_assignments -> AssignmentPage = assignments(ASSIGNMENTS, AssignmentFilter);
}

admin_resource! {
    /// `GET` and `DELETE` of clients (create, update and actions: [`AdminClientsApi`]).
    AdminClientsResourceApi for CLIENTS, tag = "AdminTag::AdminClients";

    list:
    /// List clients
    ///
    /// Newest first by default. `search` matches name, email and phone.
    ("/clients/", "admin_clients_list") -> ClientPage {
        /// Case-insensitive text to find.
        search: String,
        /// `created_at`, `updated_at`, `name`, `email`, `current_stage` or `id`; `-` for
        /// descending.
        ordering: String,
        /// Only clients in this stage.
        current_stage: StageName,
        /// Created on or after this date (`YYYY-MM-DD`) or instant (RFC 3339).
        created_at_after: String,
        /// Created on or before this date, or before this instant.
        created_at_before: String,
    } |list| {
        let filter = ClientFilter {
            search,
            stage: current_stage.map(Stage::from),
            created_from: time_from("created_at_after", created_at_after.as_deref())?,
            created_before: time_before("created_at_before", created_at_before.as_deref())?,
        };
        let sort = list.sort(ordering, Sort::desc(ClientSort::CreatedAt));
        list.found(list.store().list_clients(&filter, sort, list.request()).await?)
    }

    read:
    /// Read a client
    ("/clients/:id/", "admin_clients_read", /// Client id.
        id: i64) -> ClientBody
    |admin| { admin.store.client(ClientId(id)).await?.into() }

    delete:
    /// Delete a client
    ///
    /// With its context, stage history and assignments.
    ("admin_clients_delete") |admin| {
        admin.store.delete_client(ClientId(id)).await?;
    }
}

admin_resource! {
    /// Client contexts, all clients.
    AdminContextsApi for CONTEXTS, tag = "AdminTag::AdminClients";

    list:
    /// List client contexts
    ("/contexts/", "admin_contexts_list") -> ContextPage {
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only this client's context.
        client: i64,
        /// Only contexts linked to this chat session.
        chat_session_id: String,
    } |list| {
        let filter = ContextFilter {
            client_id: client.map(ClientId),
            chat_session_id: chat_session_id
                .as_deref()
                .map(|s| ApiError::parse_field("chat_session_id", s))
                .transpose()?,
        };
        let sort = list.sort(ordering, Sort::desc(HistorySort::CreatedAt));
        let contexts = list.store().list_contexts(&filter, sort, list.request()).await?;
        let mut page: ContextPage = list.page(contexts)?;
        names::contexts(list.store(), &mut page.results).await?;
        Ok(found(page))
    }
}

admin_resource! {
    /// Stage history, all clients.
    AdminStageHistoryApi for STAGE_HISTORY, tag = "AdminTag::AdminClients";

    list:
    /// List stage history
    ///
    /// Newest first by default.
    ("/stage-history/", "admin_stage_history_list") -> StageChangePage {
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only this client's history.
        client: i64,
        /// Only changes to this stage.
        to_stage: StageName,
        /// Only changes by this user.
        changed_by: i64,
    } |list| {
        let filter = StageChangeFilter {
            client_id: client.map(ClientId),
            to_stage: to_stage.map(Stage::from),
            changed_by: changed_by.map(UserId),
        };
        stage_history(&list, ordering, filter).await
    }
}

admin_resource! {
    /// Assignments, all clients.
    AdminAssignmentsApi for ASSIGNMENTS, tag = "AdminTag::AdminClients";

    list:
    /// List assignments
    ///
    /// Newest first by default.
    ("/assignments/", "admin_assignments_list") -> AssignmentPage {
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only this client's assignments.
        client: i64,
        /// Only active (or ended) assignments.
        is_active: bool,
        /// Only assignments to this user.
        assigned_to: i64,
    } |list| {
        let filter = AssignmentFilter {
            client_id: client.map(ClientId),
            is_active,
            assigned_to: assigned_to.map(UserId),
        };
        assignments(&list, ordering, filter).await
    }
}
