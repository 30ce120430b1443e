//! [`AdminCtx`]: the one extractor of every admin handler. It is the request's credentials
//! (documented in the spec exactly like [`Auth`]) plus the `Store` and `Config` the app put in
//! the request's data, so handlers take one parameter instead of three, and gate in one line:
//!
//! ```ignore
//! let admin = ctx.require(Access::admin(Action::View, Model::Client)).await?;
//! ```
//!
//! [`AdminCtx::require`] is the only place the admin gate is called.

use std::sync::Arc;

use poem::{Request, RequestBody};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use rivo_core::access::Access;
use rivo_core::{Permission, Store, User};

use crate::auth::{Admin, Auth};
use crate::config::Config;
use crate::error::ApiError;

/// The credentials, store and configuration of an admin request.
pub struct AdminCtx<'a> {
    req: &'a Request,
    auth: Auth,
    store: Store,
    config: Arc<Config>,
}

impl<'a> AdminCtx<'a> {
    /// The request (for paging links).
    pub fn req(&self) -> &'a Request {
        self.req
    }

    /// The store (not acting as anyone: use [`Admin::store`] for writes).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The server's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The caller if they may do what `need` says: `401` for bad credentials, `403` for a user
    /// who is not active staff or lacks the permission (or, with a cookie session, for an
    /// unsafe request without the CSRF header). The returned store records the caller's writes
    /// in the audit log.
    pub async fn require(&self, access: Access) -> Result<Admin, ApiError> {
        self.auth
            .authorize(self.req, &self.config, &self.store, access)
            .await
    }

    /// Like [`AdminCtx::require`], and the caller must also hold `also` (routes that read
    /// two models, e.g. a client's export with its conversations).
    pub async fn require_both(&self, access: Access, also: Permission) -> Result<Admin, ApiError> {
        let admin = self.require(access).await?;
        if admin.store.has_permission(&admin.user, also).await? {
            Ok(admin)
        } else {
            Err(ApiError::Forbidden(
                "You do not have permission to perform this action.",
            ))
        }
    }

    /// The caller's user, whoever they are (no staff check).
    pub fn user(&self) -> Result<User, ApiError> {
        Ok(self.auth.caller(self.req, &self.config)?.user)
    }
}

impl<'a> ApiExtractor<'a> for AdminCtx<'a> {
    const TYPES: &'static [ApiExtractorType] = <Auth as ApiExtractor<'a>>::TYPES;

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Auth as ApiExtractor<'a>>::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        <Auth as ApiExtractor<'a>>::security_schemes()
    }

    fn has_security_fallback() -> bool {
        <Auth as ApiExtractor<'a>>::has_security_fallback()
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let auth = <Auth as ApiExtractor<'a>>::from_request(req, body, param_opts).await?;
        let store = req.data::<Store>().cloned().ok_or(ApiError::Internal)?;
        let config = req
            .data::<Arc<Config>>()
            .cloned()
            .ok_or(ApiError::Internal)?;
        Ok(Self {
            req,
            auth,
            store,
            config,
        })
    }
}
