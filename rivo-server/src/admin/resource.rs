//! `admin_resource!`: the list, read and delete routes of one described admin section
//! ([`rivo_core::admin::ResourceSpec`]) as one `#[OpenApi]` impl.
//!
//! poem-openapi wants literal paths and operation ids, and an `#[OpenApi]` impl cannot contain
//! a macro call, so the macro emits the whole impl. Each route gets the caller through
//! [`AdminCtx`](super::ctx::AdminCtx), gated by the section's permission model
//! (`view` to list and read, `delete` to delete, or superusers only); lists get `page` and
//! `page_size` (DRF's paging) before the section's own query parameters, which reach the body
//! as plain `Option`s. The body is what is left: building the store's filter and calling the
//! store.
//!
//! ```ignore
//! admin_resource! {
//!     /// Chat sessions.
//!     AdminChatSessionsApi for rivo_core::admin::CHAT_SESSIONS, tag = "AdminTag::AdminChat";
//!     list:
//!     /// List chat sessions
//!     ("/chat/sessions/", "admin_chat_sessions_list") -> ChatSessionPage {
//!         /// Case-insensitive text to find in the sessions' messages.
//!         search: String,
//!     } |admin, req, paging| {
//!         let sessions = admin.store.list_sessions(&SessionFilter { search }, paging.request()).await?;
//!         Ok(found(ChatSessionPage::from(paging.paged(req, sessions)?)))
//!     }
//! }
//! ```
//!
//! Paths are relative to `/api/v1/admin`.

/// Emits `pub struct $api` and its `#[OpenApi]` impl; see the module docs.
macro_rules! admin_resource {
    (
        $(#[$api_doc:meta])*
        $api:ident for $spec:path, tag = $tag:tt;
        list: $(#[$list_doc:meta])*
        ($list_path:tt, $list_op:tt) -> $Page:ty {
            $( $(#[$param_doc:meta])* $param:ident: $param_ty:ty ),* $(,)?
        } |$list_admin:ident, $list_req:ident, $paging:ident| $list_body:block
        $(
            read: $(#[$read_doc:meta])*
            ($read_path:tt, $read_op:tt, $(#[$read_id_doc:meta])* $read_id:ident: $read_id_ty:ty) -> $Body:ty
            |$read_admin:ident| $read_body:block
        )?
        $(
            delete: $(#[$delete_doc:meta])*
            ($delete_path:tt, $delete_op:tt, $(#[$delete_id_doc:meta])* $delete_id:ident: $delete_id_ty:ty)
            |$delete_admin:ident| $delete_body:block
        )?
    ) => {
        $(#[$api_doc])*
        #[derive(Default)]
        pub struct $api;

        #[poem_openapi::OpenApi(prefix_path = "/api/v1/admin", tag = $tag)]
        impl $api {
            $(#[$list_doc])*
            #[oai(path = $list_path, method = "get", operation_id = $list_op)]
            // One argument per documented query parameter: poem-openapi describes a parameter
            // per extractor, so filters cannot be grouped in one struct.
            #[allow(clippy::too_many_arguments)]
            async fn list(
                &self,
                ctx: $crate::admin::ctx::AdminCtx<'_>,
                /// Page number, from 1.
                page: poem_openapi::param::Query<Option<i64>>,
                /// Rows per page (default 25, at most 1000).
                page_size: poem_openapi::param::Query<Option<i64>>,
                $( $(#[$param_doc])* $param: poem_openapi::param::Query<Option<$param_ty>>, )*
            ) -> Result<
                $crate::admin::Found<$Page>,
                $crate::error::OpError<$crate::admin::ListErrors>,
            > {
                let $list_admin = ctx
                    .require($spec.access(rivo_core::accounts::Action::View))
                    .await?;
                let $paging = $crate::admin::Paging::new(page.0, page_size.0)?;
                let $list_req = ctx.req();
                $( let $param = $param.0; )*
                $list_body
            }

            $(
                $(#[$read_doc])*
                #[oai(path = $read_path, method = "get", operation_id = $read_op)]
                async fn read(
                    &self,
                    ctx: $crate::admin::ctx::AdminCtx<'_>,
                    $(#[$read_id_doc])*
                    $read_id: poem_openapi::param::Path<$read_id_ty>,
                ) -> Result<
                    $crate::admin::Found<$Body>,
                    $crate::error::OpError<$crate::admin::ReadErrors>,
                > {
                    let $read_admin = ctx
                        .require($spec.access(rivo_core::accounts::Action::View))
                        .await?;
                    let $read_id = $read_id.0;
                    $read_body
                }
            )?

            $(
                $(#[$delete_doc])*
                #[oai(path = $delete_path, method = "delete", operation_id = $delete_op)]
                async fn delete(
                    &self,
                    ctx: $crate::admin::ctx::AdminCtx<'_>,
                    $(#[$delete_id_doc])*
                    $delete_id: poem_openapi::param::Path<$delete_id_ty>,
                ) -> Result<
                    $crate::admin::NoContent,
                    $crate::error::OpError<$crate::admin::DeleteErrors>,
                > {
                    let $delete_admin = ctx
                        .require($spec.access(rivo_core::accounts::Action::Delete))
                        .await?;
                    let $delete_id = $delete_id.0;
                    $delete_body
                }
            )?
        }
    };
}
pub(crate) use admin_resource;
