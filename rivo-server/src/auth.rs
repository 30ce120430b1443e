//! Who is calling: bearer tokens (`Authorization: Bearer …` or DRF's `Authorization: Token …`)
//! for scripts and SDKs, and a signed session cookie with CSRF protection for the admin web UI.
//!
//! Tokens and sessions live in the database (hashed, see [`rivo_core::auth`]), so every server
//! process sharing it accepts them. The session cookie also carries an HMAC of the token keyed by
//! `SECRET_KEY`, and each session has a CSRF token derived from it the same way: a request
//! authenticated by cookie with an unsafe method must repeat it in `X-CSRFToken`.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use poem::Request;
use poem::http::Method;
use poem::web::cookie::{Cookie, SameSite};
use poem_openapi::{
    SecurityScheme,
    auth::{ApiKey, Bearer},
};
use rivo_core::access::Access;
use rivo_core::auth::TokenKind;
use rivo_core::{Store, User};
use sha2::Sha256;

use crate::config::Config;
use crate::error::ApiError;

/// The cookie names, and the header that must repeat the CSRF token on unsafe requests
/// authenticated by cookie: one spelling each, which the admin UI's page is given too.
pub use rivo_core::admin::{CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE};

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A bearer token (the secret itself, to revoke it on logout).
    Token(String),
    /// The session cookie (the session token, to revoke it on logout).
    Session(String),
}

/// The result of checking a request's credentials.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Valid credentials of an active user.
    User {
        /// The user.
        user: Box<User>,
        /// The credentials used.
        via: Via,
    },
    /// Credentials were sent but are wrong, expired or revoked (or the user is inactive).
    Invalid,
    /// Credentials were sent but could not be checked: the database failed. Answered `503`,
    /// never `401`, so a client keeps its token (issue 15, finding 8). A checker must not
    /// return an error for this: the `Auth` enum would then try the next scheme and answer
    /// `401` from it.
    Unavailable,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, purpose: &str, value: &str) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(purpose.as_bytes());
    mac.update(b"|");
    mac.update(value.as_bytes());
    Some(mac)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `HMAC-SHA256(SECRET_KEY, purpose | value)` in hex.
fn sign(secret: &str, purpose: &str, value: &str) -> String {
    mac(secret, purpose, value)
        .map(|m| hex(&m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Checks a hex signature in constant time.
fn verify(secret: &str, purpose: &str, value: &str, signature: &str) -> bool {
    match (mac(secret, purpose, value), unhex(signature)) {
        (Some(m), Some(tag)) => m.verify_slice(&tag).is_ok(),
        _ => false,
    }
}

/// The session cookie's value: the session token and its signature.
pub fn session_cookie_value(secret: &str, session_token: &str) -> String {
    format!("{session_token}.{}", sign(secret, "session", session_token))
}

/// The session token inside a cookie value, if its signature is valid.
pub fn session_token_from_cookie(secret: &str, value: &str) -> Option<String> {
    let (token, signature) = value.rsplit_once('.')?;
    verify(secret, "session", token, signature).then(|| token.to_owned())
}

/// The CSRF token of a session.
pub fn csrf_token(secret: &str, session_token: &str) -> String {
    sign(secret, "csrf", session_token)
}

/// The cookies that open a browser session: the signed session (HttpOnly) and the CSRF token
/// (readable by the page's scripts). Both `SameSite=Lax`, `Secure` unless `DEBUG`.
pub fn session_cookies(config: &Config, session_token: &str) -> [Cookie; 2] {
    let max_age = config.session_ttl;
    let mut session = Cookie::new_with_str(
        SESSION_COOKIE,
        session_cookie_value(&config.secret_key, session_token),
    );
    session.set_http_only(true);
    let mut csrf = Cookie::new_with_str(CSRF_COOKIE, csrf_token(&config.secret_key, session_token));
    csrf.set_http_only(false);
    for cookie in [&mut session, &mut csrf] {
        cookie.set_path("/");
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(!config.debug);
        cookie.set_max_age(max_age);
    }
    [session, csrf]
}

/// Cookies that end a browser session.
pub fn expired_session_cookies(config: &Config) -> [Cookie; 2] {
    [SESSION_COOKIE, CSRF_COOKIE].map(|name| {
        let mut cookie = Cookie::new_with_str(name, "");
        cookie.set_path("/");
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(!config.debug);
        cookie.set_http_only(name == SESSION_COOKIE);
        cookie.set_max_age(std::time::Duration::ZERO);
        cookie
    })
}

async fn resolve(req: &Request, token: &str, kind: TokenKind, via: Via) -> poem::Result<Principal> {
    let store = req.data::<Store>().ok_or(ApiError::Internal)?;
    match store.user_for_token(token, kind).await {
        Ok(user) => Ok(Principal::User {
            user: Box::new(user),
            via,
        }),
        Err(rivo_core::Error::Authentication(_)) => Ok(Principal::Invalid),
        Err(err) if err.is_unavailable() => {
            tracing::error!(%err, "database unavailable while checking credentials");
            Ok(Principal::Unavailable)
        }
        Err(err) => Err(ApiError::from(err).into()),
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let token = bearer.token.trim().to_owned();
    resolve(req, &token, TokenKind::Api, Via::Token(token.clone())).await
}

async fn check_token_header(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    let value = key.key.trim();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("token") => token.trim().to_owned(),
        _ => return Ok(Principal::Invalid),
    };
    resolve(req, &token, TokenKind::Api, Via::Token(token.clone())).await
}

async fn check_session(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    let Some(config) = req.data::<Arc<Config>>() else {
        return Err(ApiError::Internal.into());
    };
    match session_token_from_cookie(&config.secret_key, &key.key) {
        Some(token) => resolve(req, &token, TokenKind::Session, Via::Session(token.clone())).await,
        None => Ok(Principal::Invalid),
    }
}

/// `Authorization: Bearer <token>`: a token from `POST /api/v1/account/login/`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "BearerToken", checker = "check_bearer")]
pub struct BearerAuth(Principal);

/// `Authorization: Token <token>`: the same token in Django REST framework's spelling.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "Authorization",
    key_in = "header",
    rename = "TokenHeader",
    checker = "check_token_header"
)]
pub struct TokenHeaderAuth(Principal);

/// The admin web UI's session cookie, from `POST /api/v1/account/session/`. Unsafe methods also
/// need the `X-CSRFToken` header.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "rivo_session",
    key_in = "cookie",
    rename = "SessionCookie",
    checker = "check_session"
)]
pub struct SessionAuth(Principal);

/// Any of the accepted credentials. Requests without any are answered `401` before the handler
/// runs.
#[derive(SecurityScheme)]
pub enum Auth {
    /// `Authorization: Bearer`.
    Bearer(BearerAuth),
    /// `Authorization: Token`.
    Token(TokenHeaderAuth),
    /// The session cookie.
    Session(SessionAuth),
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub user: User,
    /// How.
    pub via: Via,
}

impl Auth {
    fn principal(&self) -> &Principal {
        match self {
            Auth::Bearer(BearerAuth(p))
            | Auth::Token(TokenHeaderAuth(p))
            | Auth::Session(SessionAuth(p)) => p,
        }
    }

    /// The caller, or `401` for wrong, expired or revoked credentials (`503` when the database
    /// could not check them). Unsafe requests
    /// authenticated by cookie must carry the session's CSRF token (`403` otherwise).
    pub fn caller(&self, req: &Request, config: &Config) -> Result<Caller, ApiError> {
        let (user, via) = match self.principal() {
            Principal::User { user, via } => (user, via),
            Principal::Invalid => return Err(ApiError::Unauthenticated),
            Principal::Unavailable => return Err(ApiError::Unavailable),
        };
        if let Via::Session(token) = via
            && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        {
            let sent = req.header(CSRF_HEADER).unwrap_or_default();
            if !verify(&config.secret_key, "csrf", token, sent) {
                return Err(ApiError::Forbidden(
                    "CSRF Failed: CSRF token missing or incorrect.",
                ));
            }
        }
        Ok(Caller {
            user: (**user).clone(),
            via: via.clone(),
        })
    }

    /// The caller if rivo-core's admin gate lets them use `access`
    /// ([`Store::authorize`]): `401` for bad credentials, `403` when the gate refuses. The
    /// returned store records the caller's writes in the audit log.
    pub async fn authorize(
        &self,
        req: &Request,
        config: &Config,
        store: &Store,
        access: Access,
    ) -> Result<Admin, ApiError> {
        let caller = self.caller(req, config)?;
        let store = store.authorize(&caller.user, access).await?;
        Ok(Admin {
            store,
            user: caller.user,
        })
    }
}

/// A staff user allowed to do what they asked.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Who.
    pub user: User,
    /// The store, acting as them (writes go to the audit log).
    pub store: Store,
}

/// The client address a request came from (for the login throttle and the chat rate limits):
/// the TCP peer, or, when the peer is one of `RIVO_TRUSTED_PROXIES`, the right-most
/// `X-Forwarded-For` hop that is not (see [`crate::proxy::client_address`]).
pub fn client_address(req: &Request, trusted_proxies: &[crate::proxy::IpNet]) -> Option<String> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    crate::proxy::client_address(peer, forwarded, trusted_proxies).map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_signed() {
        let value = session_cookie_value("k", "abc");
        assert_eq!(
            session_token_from_cookie("k", &value).as_deref(),
            Some("abc")
        );
        assert_eq!(session_token_from_cookie("other", &value), None);
        assert_eq!(session_token_from_cookie("k", "abc.00"), None);
        assert_eq!(session_token_from_cookie("k", "abc"), None);
        let forged = value.replacen("abc", "abd", 1);
        assert_eq!(session_token_from_cookie("k", &forged), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let a = csrf_token("k", "s1");
        assert!(verify("k", "csrf", "s1", &a));
        assert!(!verify("k", "csrf", "s2", &a));
        assert!(!verify("k", "csrf", "s1", ""));
        assert!(!verify("k", "csrf", "s1", "zz"));
    }
}
