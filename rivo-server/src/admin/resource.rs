//! `admin_resource!`: the list, read and delete routes of one described admin section
//! ([`rivo_core::admin::ResourceSpec`]) as one `#[OpenApi]` impl.
//!
//! poem-openapi wants literal paths and operation ids, and an `#[OpenApi]` impl cannot contain
//! a macro call, so the macro emits the whole impl. Each route gets the caller through
//! [`AdminCtx`](super::ctx::AdminCtx), gated by the section's permission model
//! (`view` to list and read, `delete` to delete, or superusers only); lists get `page` and
//! `page_size` (DRF's paging) before the section's own query parameters, which reach the body
//! as plain `Option`s, with an [`AdminList`] (the caller, the paging and the section's order).
//! The body is what is left: building the store's filter and calling the store. Read and delete
//! (both or neither) share one path and its id: the read body's value is the object, answered
//! `200`; the delete body deletes it, answered `204`.
//!
//! ```ignore
//! admin_resource! {
//!     /// Roles.
//!     AdminRolesApi for rivo_core::admin::ROLES, tag = "AdminTag::AdminAccounts";
//!     list:
//!     /// List roles
//!     ("/roles/", "admin_roles_list") -> RolePage {
//!         /// Case-insensitive text to find.
//!         search: String,
//!         /// `name`, `created_at` or `id`; `-` for descending.
//!         ordering: String,
//!     } |list| {
//!         let sort = list.sort(ordering, Sort::asc(RoleSort::Name));
//!         list.found(list.store().list_roles(&RoleFilter { search }, sort, list.request()).await?)
//!     }
//! }
//! ```
//!
//! Paths are relative to `/api/v1/admin`.

use poem::Request;
use poem_openapi::types::Type;
use rivo_core::accounts::Action;
use rivo_core::admin::ResourceSpec;
use rivo_core::chat::KeysetPage;
use rivo_core::query::SortField;
use rivo_core::{Page, PageRequest, Sort, Store};

use super::ctx::AdminCtx;
use super::pages::PageBody;
use super::{Found, ListErrors, Paged, Paging, found, keyset_paged, sort_for};
use crate::auth::Admin;
use crate::error::{ApiError, OpError};

/// What the body of a section's list route works with: the caller, the paging parameters and
/// the section (for its default order).
pub struct AdminList<'a> {
    /// The caller; its store records writes in the audit log.
    pub admin: Admin,
    /// `?page=` and `?page_size=`.
    pub paging: Paging,
    req: &'a Request,
    section: &'static ResourceSpec,
}

impl<'a> AdminList<'a> {
    /// Gates a list of `section` (its `view` permission, or superusers only) and reads the
    /// paging parameters.
    pub async fn open(
        ctx: &AdminCtx<'a>,
        section: &'static ResourceSpec,
        page: Option<i64>,
        page_size: Option<i64>,
    ) -> Result<Self, ApiError> {
        let admin = ctx.require(section.access(Action::View)).await?;
        let paging = Paging::new(page, page_size)?;
        Ok(Self {
            admin,
            paging,
            req: ctx.req(),
            section,
        })
    }

    /// The store, acting as the caller.
    pub fn store(&self) -> &Store {
        &self.admin.store
    }

    /// The order `?ordering=` asks for, else the section's default, else `fallback`
    /// (see [`sort_for`]).
    pub fn sort<F: SortField>(&self, ordering: Option<String>, fallback: Sort<F>) -> Sort<F> {
        sort_for(self.section, ordering.as_deref(), fallback)
    }

    /// The slice of rows to ask the store for.
    pub fn request(&self) -> PageRequest {
        self.paging.request()
    }

    /// A store page in DRF's shape (`404` past the last page), rows converted with `From`.
    pub fn paged<T, B: From<T>>(&self, rows: Page<T>) -> Result<Paged<B>, ApiError> {
        self.paging.paged(self.req, rows)
    }

    /// A store page as the route's page schema `P` (`404` past the last page).
    pub fn page<T, P: PageBody<Item: From<T>>>(&self, rows: Page<T>) -> Result<P, ApiError> {
        Ok(P::from(self.paged(rows)?))
    }

    /// A store page as the route's answer.
    pub fn found<T, P>(&self, rows: Page<T>) -> Result<Found<P>, OpError<ListErrors>>
    where
        P: PageBody<Item: From<T>> + Type + serde::Serialize + Send,
    {
        Ok(found(self.page(rows)?))
    }

    /// A keyset page (`?cursor=`) as the route's answer (see [`keyset_paged`]).
    pub fn found_keyset<T, C, P>(
        &self,
        rows: KeysetPage<T, C>,
    ) -> Result<Found<P>, OpError<ListErrors>>
    where
        C: std::fmt::Display,
        P: PageBody<Item: From<T>> + Type + serde::Serialize + Send,
    {
        Ok(found(P::from(keyset_paged(self.req, rows))))
    }
}

/// Emits `pub struct $api` and its `#[OpenApi]` impl; see the module docs.
macro_rules! admin_resource {
    (
        $(#[$api_doc:meta])*
        $api:ident for $spec:path, tag = $tag:tt;
        list: $(#[$list_doc:meta])*
        ($list_path:tt, $list_op:tt) -> $Page:ty {
            $( $(#[$param_doc:meta])* $param:ident: $param_ty:ty ),* $(,)?
        } |$list:ident| $list_body:block
        $(
            read: $(#[$read_doc:meta])*
            ($item_path:tt, $read_op:tt, $(#[$id_doc:meta])* $id:ident: $id_ty:ty) -> $Body:ty
            |$read_admin:ident| $read_body:block
            delete: $(#[$delete_doc:meta])*
            ($delete_op:tt) |$delete_admin:ident| $delete_body:block
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
                let $list =
                    $crate::admin::resource::AdminList::open(&ctx, &$spec, page.0, page_size.0)
                        .await?;
                $( let $param = $param.0; )*
                $list_body
            }

            $(
                $(#[$read_doc])*
                #[oai(path = $item_path, method = "get", operation_id = $read_op)]
                // A one-expression body is a block around the object.
                #[allow(unused_braces)]
                async fn read(
                    &self,
                    ctx: $crate::admin::ctx::AdminCtx<'_>,
                    $(#[$id_doc])*
                    $id: poem_openapi::param::Path<$id_ty>,
                ) -> Result<
                    $crate::admin::Found<$Body>,
                    $crate::error::OpError<$crate::admin::ReadErrors>,
                > {
                    let $read_admin = ctx
                        .require($spec.access(rivo_core::accounts::Action::View))
                        .await?;
                    let $id = $id.0;
                    Ok($crate::admin::found::<$Body>($read_body))
                }

                $(#[$delete_doc])*
                #[oai(path = $item_path, method = "delete", operation_id = $delete_op)]
                async fn delete(
                    &self,
                    ctx: $crate::admin::ctx::AdminCtx<'_>,
                    $(#[$id_doc])*
                    $id: poem_openapi::param::Path<$id_ty>,
                ) -> Result<
                    $crate::admin::NoContent,
                    $crate::error::OpError<$crate::admin::DeleteErrors>,
                > {
                    let $delete_admin = ctx
                        .require($spec.access(rivo_core::accounts::Action::Delete))
                        .await?;
                    let $id = $id.0;
                    let () = $delete_body;
                    Ok($crate::admin::NoContent::NoContent)
                }
            )?
        }
    };
}
pub(crate) use admin_resource;
