//! `/api/v1/account/`: log in (a bearer token for scripts, or a cookie session for the admin
//! web UI), log out, and who am I.

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem_openapi::{ApiResponse, Object, OpenApi};
use rivo_core::auth::{IssuedToken, TokenKind};
use rivo_core::{Store, User};
use serde::Serialize;

use crate::admin::input::JsonBody;
use crate::admin::{AdminTag, NoContent, error_set};
use crate::auth::{self, Auth, Via};
use crate::config::Config;
use crate::error::{ApiError, OpError};
use crate::render::{DrfDateTime, DrfJson};

/// Credentials.
#[derive(Debug, Object)]
#[oai(example)]
pub struct LoginRequest {
    /// The account's email (case-insensitive).
    pub email: String,
    /// The password.
    pub password: String,
}

/// A user as the login answers it.
#[derive(Debug, Object, Serialize)]
pub struct LoginUser {
    /// Id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// "First Last", or the email when both are empty.
    pub name: String,
}

impl From<&User> for LoginUser {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.0,
            email: user.email.clone(),
            name: user.display_name(),
        }
    }
}

/// A bearer token and its user.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct LoginResponse {
    /// Send it as `Authorization: Bearer <token>` (or `Token <token>`). Shown once.
    pub token: String,
    /// Who it belongs to.
    pub user: LoginUser,
    /// When it stops working.
    pub expires_at: DrfDateTime,
}

/// A browser session was opened.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct SessionResponse {
    /// Who logged in.
    pub user: LoginUser,
    /// Send it as `X-CSRFToken` with every unsafe request (also in the `rivo_csrftoken`
    /// cookie).
    pub csrf_token: String,
    /// When the session ends.
    pub expires_at: DrfDateTime,
}

/// The current user.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct MeResponse {
    /// Id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Username.
    pub username: String,
    /// "First Last", or the email.
    pub name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Staff users may use the admin.
    pub is_staff: bool,
    /// Superusers hold every permission.
    pub is_superuser: bool,
    /// Role id.
    pub role: Option<i64>,
    /// Everything the user may do (their own permissions and their role's; all for a
    /// superuser).
    pub permissions: Vec<String>,
    /// The session's CSRF token when authenticated by the session cookie.
    pub csrf_token: Option<String>,
}

error_set!(
    /// Errors of the logins.
    LoginErrors {
        400 => "A missing field (`FieldErrors`) or a malformed body.",
        401 => "`{\"error\": \"Invalid credentials\"}`: wrong email or password, or an inactive account.",
        413 => "The body is larger than `RIVO_MAX_BODY_BYTES`.",
        415 => "The body is not JSON.",
        429 => "Too many failed logins for this email or from this address; see `Retry-After`.",
        503 => "The database is unavailable.",
    }
);

error_set!(
    /// Errors of authenticated account routes.
    AccountErrors {
        401 => "No, wrong, expired or revoked credentials.",
        403 => "(cookie sessions) a missing or wrong `X-CSRFToken`.",
        503 => "The database is unavailable.",
    }
);

/// `200` with a session and its cookies.
#[derive(ApiResponse)]
pub enum SessionOpened {
    /// Logged in; `Set-Cookie` carries `rivo_session` (HttpOnly) and `rivo_csrftoken`.
    #[oai(status = 200)]
    Ok(DrfJson<SessionResponse>),
}

/// `200` with a token.
#[derive(ApiResponse)]
pub enum LoggedIn {
    /// Logged in.
    #[oai(status = 200)]
    Ok(DrfJson<LoginResponse>),
}

/// `200` with the current user.
#[derive(ApiResponse)]
pub enum Me {
    /// The current user.
    #[oai(status = 200)]
    Ok(DrfJson<MeResponse>),
}

/// Checks the email and password of `body` and issues a token of `kind` valid for `ttl`.
async fn log_in(
    req: &Request,
    store: &Store,
    config: &Config,
    mut body: JsonBody<LoginRequest>,
    kind: TokenKind,
    ttl: std::time::Duration,
) -> Result<(User, IssuedToken), ApiError> {
    let email = body.string("email");
    let password = body.string("password");
    body.finish()?;
    let (email, password) = (email.unwrap_or_default(), password.unwrap_or_default());
    let address = auth::client_address(req, &config.trusted_proxies);
    let user = match store
        .login(&email, &password, address.as_deref(), &config.login_policy)
        .await
    {
        Ok(user) => user,
        Err(rivo_core::Error::Authentication(reason)) => {
            tracing::info!(?reason, "login failed");
            return Err(ApiError::InvalidCredentials);
        }
        Err(err) => return Err(err.into()),
    };
    let issued = store.issue_token(user.id, kind, ttl).await?;
    Ok((user, issued))
}

/// Logging in and out.
#[derive(Default)]
pub struct AccountApi;

#[OpenApi(prefix_path = "/api/v1/account", tag = "AdminTag::Account")]
impl AccountApi {
    /// Log in for a token
    ///
    /// Checks the email and password (throttled per email and per client address) and issues a
    /// bearer token. A wrong email, a wrong password and an inactive account get the same
    /// answer.
    #[oai(path = "/login/", method = "post", operation_id = "account_login")]
    async fn login(
        &self,
        req: &Request,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        body: JsonBody<LoginRequest>,
    ) -> Result<LoggedIn, OpError<LoginErrors>> {
        let (user, issued) =
            log_in(req, &store, &config, body, TokenKind::Api, config.token_ttl).await?;
        Ok(LoggedIn::Ok(DrfJson(LoginResponse {
            token: issued.token,
            user: (&user).into(),
            expires_at: DrfDateTime(issued.expires_at),
        })))
    }

    /// Log out
    ///
    /// Revokes the token or the session used to call it (and clears the session cookies).
    #[oai(path = "/logout/", method = "post", operation_id = "account_logout")]
    async fn logout(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        cookies: &CookieJar,
    ) -> Result<NoContent, OpError<AccountErrors>> {
        let caller = auth.caller(req, &config)?;
        match &caller.via {
            Via::Token(token) | Via::Session(token) => store.revoke_token(token).await?,
        }
        if let Via::Session(_) = caller.via {
            for cookie in auth::expired_session_cookies(&config) {
                cookies.add(cookie);
            }
        }
        Ok(NoContent::NoContent)
    }

    /// Log in for a browser session
    ///
    /// Like `account_login`, but opens a session kept in an HttpOnly cookie (signed with
    /// `SECRET_KEY`; `Secure` unless `DEBUG`) for the admin web UI. Unsafe requests made with
    /// it must send the returned `csrf_token` as `X-CSRFToken`.
    #[oai(
        path = "/session/",
        method = "post",
        operation_id = "account_session_login"
    )]
    async fn session_login(
        &self,
        req: &Request,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
        cookies: &CookieJar,
        body: JsonBody<LoginRequest>,
    ) -> Result<SessionOpened, OpError<LoginErrors>> {
        let (user, issued) = log_in(
            req,
            &store,
            &config,
            body,
            TokenKind::Session,
            config.session_ttl,
        )
        .await?;
        let [session, csrf] = auth::session_cookies(&config, &issued.token);
        let csrf_token = csrf.value_str().to_owned();
        cookies.add(session);
        cookies.add(csrf);
        Ok(SessionOpened::Ok(DrfJson(SessionResponse {
            user: (&user).into(),
            csrf_token,
            expires_at: DrfDateTime(issued.expires_at),
        })))
    }

    /// Who am I
    ///
    /// The current user with everything they may do.
    #[oai(path = "/me/", method = "get", operation_id = "account_me")]
    async fn me(
        &self,
        req: &Request,
        auth: Auth,
        store: Data<&Store>,
        config: Data<&Arc<Config>>,
    ) -> Result<Me, OpError<AccountErrors>> {
        let caller = auth.caller(req, &config)?;
        let permissions = store.effective_permissions(&caller.user).await?;
        let user = caller.user;
        Ok(Me::Ok(DrfJson(MeResponse {
            id: user.id.0,
            name: user.display_name(),
            email: user.email,
            username: user.username,
            first_name: user.first_name,
            last_name: user.last_name,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            role: user.role_id.map(|r| r.0),
            permissions: permissions.iter().map(ToString::to_string).collect(),
            csrf_token: match &caller.via {
                Via::Session(token) => Some(auth::csrf_token(&config.secret_key, token)),
                Via::Token(_) => None,
            },
        })))
    }
}
