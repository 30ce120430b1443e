//! The admin API under `/api/v1/admin/`: everything the original's Django admin managed, as
//! authenticated JSON routes in Django REST framework's conventions (`?page=&page_size=`
//! answering `{"count", "next", "previous", "results"}`, `?search=`, `?ordering=field|-field`,
//! filters named after fields).
//!
//! Only active staff get in; each route needs the Django-style permission of its model
//! (`client.change_client`, …), which superusers always hold. Every write is recorded in the
//! audit log (`GET /api/v1/admin/log/`).
//!
//! Each section is described once, in [`rivo_core::admin`] (label, permission model, columns,
//! filters, search, orderings). Its list, read and delete routes are generated from that
//! description and its store methods by `admin_resource!` (see `resource.rs`); the index
//! (`index.rs`) serves the descriptions, and the admin UI renders from them. Writes and actions
//! (stage, assign, context, …) are written by hand. Every handler takes one
//! [`ctx::AdminCtx`] and gates in one line with [`ctx::AdminCtx::require`].
//!
//! Adding a section: a `ResourceSpec` (plus its `ResourceKind` and count) in `rivo_core::admin`,
//! one `admin_resource!` call with the store calls, and its API in [`AdminResourceApis`].

pub mod bodies;
pub mod chat;
pub mod clients;
pub mod ctx;
pub(crate) mod examples;
pub mod index;
pub mod input;
mod log;
mod names;
pub mod pages;
pub mod privacy;
mod resource;
pub mod users;
pub mod webhooks;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use poem::Request;
use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::Type;
use rivo_core::admin::ResourceSpec;
use rivo_core::{PageRequest, Sort, query::SortField};

use crate::error::{ApiError, ErrorDetail, ErrorMessage, FieldErrors, one_of};

pub use chat::{AdminChatApi, AdminChatMessagesApi, AdminChatSessionsApi};
pub use clients::{
    AdminAssignmentsApi, AdminClientListsApi, AdminClientsApi, AdminClientsResourceApi,
    AdminContextsApi, AdminStageHistoryApi,
};
pub use index::AdminIndexApi;
pub use log::AdminLogApi;
pub use privacy::AdminPrivacyApi;
pub use users::{AdminAccountsApi, AdminRolesApi, AdminUsersApi};
pub use webhooks::AdminWebhooksApi;

/// The admin index and the list/read/delete routes generated from the section descriptions
/// ([`rivo_core::admin::RESOURCES`]), one API per section, and a client's own lists of two of
/// them.
pub type AdminResourceApis = (
    AdminIndexApi,
    AdminUsersApi,
    AdminRolesApi,
    AdminChatSessionsApi,
    AdminChatMessagesApi,
    AdminClientsResourceApi,
    AdminContextsApi,
    AdminStageHistoryApi,
    AdminAssignmentsApi,
    AdminClientListsApi,
    AdminLogApi,
);

/// The OpenAPI tags of the admin and account routes.
#[derive(poem_openapi::Tags)]
#[oai(rename_all = "lowercase")]
pub enum AdminTag {
    /// Log in and out, and who am I.
    Account,
    /// Users, roles and permissions.
    #[oai(rename = "admin-accounts")]
    AdminAccounts,
    /// Chat messages and sessions.
    #[oai(rename = "admin-chat")]
    AdminChat,
    /// Clients with their context, stage history and assignments.
    #[oai(rename = "admin-clients")]
    AdminClients,
    /// The audit log and the admin's index.
    #[oai(rename = "admin")]
    Admin,
    /// Erasure and export of one person's data; finding conversations that mention them.
    #[oai(rename = "admin-privacy")]
    AdminPrivacy,
    /// Signed webhooks: endpoints, deliveries and re-sends (superusers only).
    #[oai(rename = "admin-webhooks")]
    AdminWebhooks,
}

pub use rivo_core::admin::DEFAULT_PAGE_SIZE;

/// `?page=` and `?page_size=` as DRF's `PageNumberPagination` reads them: a missing or bad
/// `page_size` means the default, a page below 1 or past the last is `404 Invalid page.`.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// 1-based page number.
    pub page: u64,
    /// Rows per page.
    pub size: u32,
}

impl Paging {
    /// Reads the two parameters.
    pub fn new(page: Option<i64>, page_size: Option<i64>) -> Result<Self, ApiError> {
        let page = match page {
            None => 1,
            Some(p) if p >= 1 => u64::try_from(p).map_err(|_| ApiError::InvalidPage)?,
            Some(_) => return Err(ApiError::InvalidPage),
        };
        let size = match page_size {
            Some(s) if s >= 1 => u32::try_from(s.min(i64::from(PageRequest::MAX_LIMIT)))
                .unwrap_or(PageRequest::MAX_LIMIT),
            _ => DEFAULT_PAGE_SIZE,
        };
        Ok(Self { page, size })
    }

    /// The slice to ask the store for.
    pub fn request(&self) -> PageRequest {
        PageRequest::page(self.page, self.size)
    }

    /// DRF's `next` and `previous` links for a page of `total` rows, or `404` when the page is
    /// past the last (page 1 always exists).
    ///
    /// When the total is an estimate, the page's own `has_next` decides the `next` link, and a
    /// page past the last is one that came back empty.
    pub fn links<T>(
        &self,
        req: &Request,
        page: &rivo_core::Page<T>,
    ) -> Result<(Option<String>, Option<String>), ApiError> {
        let has_next = if page.estimated {
            if self.page > 1 && page.items.is_empty() {
                return Err(ApiError::InvalidPage);
            }
            page.has_next
        } else {
            let pages = page.total.div_ceil(u64::from(self.size)).max(1);
            if self.page > pages {
                return Err(ApiError::InvalidPage);
            }
            self.page < pages
        };
        let next = has_next.then(|| page_url(req, Some(self.page + 1)));
        let previous = match self.page {
            1 => None,
            2 => Some(page_url(req, None)),
            n => Some(page_url(req, Some(n - 1))),
        };
        Ok((next, previous))
    }
}

/// One page of a list in DRF's shape, before it takes its named schema (`ClientPage`, …).
#[derive(Debug)]
pub struct Paged<B> {
    /// Rows matching the filters, in all pages.
    pub count: u64,
    /// Whether `count` is an estimate.
    pub count_is_estimate: bool,
    /// URL of the next page.
    pub next: Option<String>,
    /// URL of the previous page.
    pub previous: Option<String>,
    /// This page's rows.
    pub results: Vec<B>,
}

impl<B> Paged<B> {
    /// The same page with each row mapped.
    pub fn map<C>(self, f: impl FnMut(B) -> C) -> Paged<C> {
        Paged {
            count: self.count,
            count_is_estimate: self.count_is_estimate,
            next: self.next,
            previous: self.previous,
            results: self.results.into_iter().map(f).collect(),
        }
    }
}

impl Paging {
    /// A store page as DRF's `{count, next, previous, results}` (see [`Paging::links`]).
    pub fn paged<T, B: From<T>>(
        &self,
        req: &Request,
        page: rivo_core::Page<T>,
    ) -> Result<Paged<B>, ApiError> {
        let (next, previous) = self.links(req, &page)?;
        Ok(Paged {
            count: page.total,
            count_is_estimate: page.estimated,
            next,
            previous,
            results: page.items.into_iter().map(B::from).collect(),
        })
    }
}

/// Keyset paging (`?cursor=`): a page of rows and the cursor of the next one in DRF's shape,
/// with `next` carrying `cursor` (and no `page`). `previous` is null: keyset pages go forward.
pub fn keyset_paged<T, B: From<T>, C: std::fmt::Display>(
    req: &Request,
    keyset: rivo_core::chat::KeysetPage<T, C>,
) -> Paged<B> {
    Paged {
        count: keyset.page.total,
        count_is_estimate: keyset.page.estimated,
        next: keyset
            .next
            .map(|c| url_with(req, &["page", "cursor"], Some(("cursor", c.to_string())))),
        previous: None,
        results: keyset.page.items.into_iter().map(B::from).collect(),
    }
}

/// The request's absolute URL with `page` set (or removed), like DRF's `replace_query_param`.
fn page_url(req: &Request, page: Option<u64>) -> String {
    url_with(req, &["page"], page.map(|p| ("page", p.to_string())))
}

/// The request's absolute URL without the `remove` parameters and with `set` added.
fn url_with(req: &Request, remove: &[&str], set: Option<(&str, String)>) -> String {
    let scheme = match req.header("x-forwarded-proto") {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = req
        .header("host")
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(ToString::to_string))
        .unwrap_or_else(|| "localhost".to_owned());
    let mut pairs: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    pairs.retain(|(k, _)| !remove.contains(&k.as_str()));
    if let Some((key, value)) = set {
        pairs.push((key.to_owned(), value));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    // The documented spelling, with the trailing slash. The original URI keeps the prefix of an
    // app that mounts rivo with `Route::nest("/prefix", rivo_server::app(..))` (requests built
    // in-process, e.g. by `poem::test::TestClient`, have none: use the routed path then).
    let routed = req.uri().path().trim_end_matches('/');
    let original = req.original_uri().path().trim_end_matches('/');
    let path = if original.ends_with(routed) {
        original
    } else {
        routed
    };
    let path = format!("{path}/");
    if query.is_empty() {
        format!("{scheme}://{host}{path}")
    } else {
        format!("{scheme}://{host}{path}?{query}")
    }
}

/// A section's list order: `?ordering=field` / `-field`, else the section's default ordering,
/// else `fallback`. Unknown fields are ignored (DRF's `OrderingFilter` does the same).
pub fn sort_for<F: SortField>(
    section: &ResourceSpec,
    ordering: Option<&str>,
    fallback: Sort<F>,
) -> Sort<F> {
    ordering
        .and_then(|o| o.split(',').next())
        .map(str::trim)
        .and_then(Sort::parse)
        .unwrap_or_else(|| section.default_sort(fallback))
}

/// A `?…_after=` bound: a date (from its start) or an RFC 3339 datetime, inclusive.
pub fn time_from(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    parse_time(field, value, false)
}

/// A `?…_before=` bound: a date (through its end) or an RFC 3339 datetime, exclusive.
pub fn time_before(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    parse_time(field, value, true)
}

fn parse_time(
    field: &str,
    value: Option<&str>,
    end: bool,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    // `str::is_empty` spelled out: poem-openapi's `Type` (in scope) also has an `is_empty`.
    let Some(value) = value.map(str::trim).filter(|v| !str::is_empty(v)) else {
        return Ok(None);
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        return Ok(Some(day.and_time(NaiveTime::MIN).and_utc()));
    }
    Err(ApiError::field(
        field,
        "Enter a valid date or date/time (YYYY-MM-DD or RFC 3339).",
    ))
}

/// Builds an [`ErrorSet`] from `(status, description)` pairs; each body schema follows the
/// status (DRF's shapes, [`error_schema`]), or `with` another function of the status.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident { $($status:literal => $desc:literal),+ $(,)? }) => {
        $crate::admin::error_set!(
            $(#[$doc])* $name with $crate::admin::error_schema { $($status => $desc),+ }
        );
    };
    (
        $(#[$doc:meta])* $name:ident with $schema:path
        { $($status:literal => $desc:literal),+ $(,)? }
    ) => {
        $(#[$doc])*
        pub struct $name;

        impl $crate::error::ErrorSet for $name {
            fn responses() -> Vec<(u16, &'static str, poem_openapi::registry::MetaSchemaRef)> {
                vec![$(($status, $desc, $schema($status))),+]
            }
        }
    };
}
pub(crate) use error_set;

/// The body schema of an error status.
pub fn error_schema(status: u16) -> MetaSchemaRef {
    match status {
        400 => one_of(vec![FieldErrors::schema_ref(), ErrorDetail::schema_ref()]),
        401 => one_of(vec![ErrorDetail::schema_ref(), ErrorMessage::schema_ref()]),
        409 => FieldErrors::schema_ref(),
        _ => ErrorDetail::schema_ref(),
    }
}

error_set!(
    /// Errors of admin reads.
    ReadErrors {
        400 => "A malformed parameter.",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Not active staff, or missing the permission.",
        404 => "No such object.",
        503 => "The database is unavailable.",
    }
);

error_set!(
    /// Errors of admin lists.
    ListErrors {
        400 => "A malformed filter or parameter (`FieldErrors` or `ErrorDetail`).",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Not active staff, or missing the permission.",
        404 => "`Invalid page.`: the page is past the last one.",
        503 => "The database is unavailable.",
    }
);

error_set!(
    /// Errors of admin writes.
    WriteErrors {
        400 => "Invalid fields (`FieldErrors`, every wrong field at once) or a malformed body.",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Not active staff, missing the permission, or (cookie sessions) a missing or wrong `X-CSRFToken`.",
        404 => "No such object.",
        409 => "A unique value is taken (e.g. the email of another user).",
        413 => "The body is larger than `RIVO_MAX_BODY_BYTES`.",
        415 => "The body is not JSON.",
        503 => "The database is unavailable.",
    }
);

error_set!(
    /// Errors of admin deletes and body-less actions.
    DeleteErrors {
        400 => "A malformed parameter.",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Not active staff, missing the permission, or (cookie sessions) a missing or wrong `X-CSRFToken`.",
        404 => "No such object.",
        503 => "The database is unavailable.",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_follows_drf() {
        assert!(matches!(
            Paging::new(Some(0), None),
            Err(ApiError::InvalidPage)
        ));
        assert!(matches!(
            Paging::new(Some(-3), None),
            Err(ApiError::InvalidPage)
        ));
        let p = Paging::new(None, Some(-1)).unwrap();
        assert_eq!((p.page, p.size), (1, DEFAULT_PAGE_SIZE));
        let p = Paging::new(Some(2), Some(1_000_000)).unwrap();
        assert_eq!((p.page, p.size), (2, PageRequest::MAX_LIMIT));
    }

    #[test]
    fn dates_and_datetimes_bound_ranges() {
        let from = time_from("x", Some("2026-01-02")).unwrap().unwrap();
        let before = time_before("x", Some("2026-01-02")).unwrap().unwrap();
        assert_eq!((before - from).num_hours(), 24);
        let at = time_from("x", Some("2026-01-02T03:04:05.123456Z"))
            .unwrap()
            .unwrap();
        assert_eq!(at.timestamp_subsec_micros(), 123_456);
        assert!(time_from("x", Some("yesterday")).is_err());
        assert_eq!(time_from("x", Some("")).unwrap(), None);
    }
}

/// `200` with a body.
#[derive(poem_openapi::ApiResponse)]
pub enum Found<T: Type + serde::Serialize + Send> {
    /// The object.
    #[oai(status = 200)]
    Ok(crate::render::DrfJson<T>),
}

/// `201` with the created object.
#[derive(poem_openapi::ApiResponse)]
pub enum Created<T: Type + serde::Serialize + Send> {
    /// Created; the body is the stored object.
    #[oai(status = 201)]
    Created(crate::render::DrfJson<T>),
}

/// `204` without a body.
#[derive(poem_openapi::ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// `200` with `body`.
pub fn found<T: Type + serde::Serialize + Send>(body: T) -> Found<T> {
    Found::Ok(crate::render::DrfJson(body))
}

/// `201` with `body`.
pub fn created<T: Type + serde::Serialize + Send>(body: T) -> Created<T> {
    Created::Created(crate::render::DrfJson(body))
}
