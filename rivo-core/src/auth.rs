//! Logins for servers built on rivo-core: random bearer tokens and browser sessions stored only
//! as hashes, and a login throttle. All state lives in the database, so several server processes
//! sharing it agree on every token and every failed attempt.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::accounts::User;
use crate::error::{AuthFailure, Error, Result};
use crate::ids::UserId;
use crate::names::names;
use crate::store::{Store, dispatch};

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A bearer token for scripts and SDKs (`Authorization: Bearer …`).
    Api,
    /// A browser session (the value of the session cookie).
    Session,
}

names! {
    /// `api` or `session`.
    TokenKind {
        Api => "api",
        Session => "session",
    }
}

/// A freshly issued token. The secret is shown once: the database keeps only its SHA-256 hash.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The secret to hand to the client (64 hex characters, 256 random bits).
    pub token: String,
    /// What it is for.
    pub kind: TokenKind,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// How many failed logins are tolerated before more attempts are refused for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failures allowed for one email within `window`.
    pub max_failures_per_email: u32,
    /// Failures allowed from one client address within `window`.
    pub max_failures_per_address: u32,
    /// How far back failures count.
    pub window: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            max_failures_per_email: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// SHA-256 of a token: tokens carry 256 random bits, so a fast hash is enough to make a stolen
/// database useless for logging in.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The throttle key of an email. NUL (which PostgreSQL text cannot hold, and no valid email
/// contains) is replaced so a hostile login is throttled, not a database error.
fn email_key(email: &str) -> String {
    // The same identity as login and the unique index (issue 15, finding 7).
    format!(
        "email:{}",
        crate::validate::email_identity(email).replace('\0', "\u{fffd}")
    )
}

fn address_key(address: &str) -> String {
    format!("addr:{}", address.replace('\0', "\u{fffd}"))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The store's login operations.
impl Store {
    /// Issues a token for a user, valid for `ttl`.
    pub async fn issue_token(
        &self,
        user_id: UserId,
        kind: TokenKind,
        ttl: Duration,
    ) -> Result<IssuedToken> {
        let token = new_secret()?;
        let now = Utc::now();
        let expires_at = now + chrono_duration(ttl);
        dispatch!(self.insert_token(user_id, &token_hash(&token), kind.as_str(), expires_at))?;
        Ok(IssuedToken {
            token,
            kind,
            expires_at,
        })
    }

    /// The active user a token belongs to. Unknown, expired or revoked tokens, tokens of another
    /// kind and tokens of inactive users all fail with [`AuthFailure::InvalidToken`].
    pub async fn user_for_token(&self, token: &str, kind: TokenKind) -> Result<User> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Authentication(AuthFailure::InvalidToken));
        }
        let user: Option<User> = dispatch!(self.token_user(&token_hash(token), kind.as_str()))?;
        match user {
            Some(user) if user.is_active => Ok(user),
            _ => Err(Error::Authentication(AuthFailure::InvalidToken)),
        }
    }

    /// Revokes one token (logout). Revoking an unknown token is not an error.
    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        dispatch!(self.delete_token(&token_hash(token)))
    }

    /// Revokes every token and session of a user; returns how many there were.
    pub async fn revoke_user_tokens(&self, user_id: UserId) -> Result<u64> {
        dispatch!(self.delete_user_tokens(user_id))
    }

    /// Deletes expired tokens and sessions, and login failures older than `policy.window`;
    /// returns how many rows went. See [`Store::purge_expired_every`] to run it periodically.
    pub async fn purge_expired(&self, policy: &LoginPolicy) -> Result<u64> {
        let now = Utc::now();
        let delivered = now - chrono_duration(self.webhook_options().delivered_retention);
        dispatch!(self.purge_expired(
            now,
            now - chrono_duration(policy.window),
            delivered.timestamp_micros()
        ))
    }

    /// Runs [`Store::purge_expired`] now and then every `every`, forever (spawn it as a task
    /// and abort it on shutdown). A failed purge is logged and retried at the next tick.
    ///
    /// Safe with several servers on one database: each purge is two `DELETE … WHERE expired`
    /// statements in one transaction, idempotent, so purges of several servers at the same
    /// time only find fewer rows (on PostgreSQL the second waits for the first's row locks,
    /// then skips the rows already gone). No coordination is needed.
    pub async fn purge_expired_every(&self, policy: LoginPolicy, every: std::time::Duration) {
        let mut ticks = tokio::time::interval(every.max(std::time::Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.purge_expired(&policy).await {
                Ok(0) => {}
                Ok(purged) => {
                    tracing::info!(purged, "expired tokens, sessions and login failures purged")
                }
                Err(err) => {
                    tracing::warn!(%err, "purging expired tokens and login failures failed")
                }
            }
        }
    }

    /// [`Store::authenticate`] behind a throttle: after too many failures for this email or
    /// from this client address within the policy's window, fails with [`Error::Throttled`]
    /// (without checking the password) until the oldest counted failure leaves the window.
    /// Failures are recorded for both; a success clears the email's failures.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client_address: Option<&str>,
        policy: &LoginPolicy,
    ) -> Result<User> {
        let now = Utc::now();
        let since = now - chrono_duration(policy.window);
        let mut keys = vec![(email_key(email), i64::from(policy.max_failures_per_email))];
        if let Some(address) = client_address {
            keys.push((
                address_key(address),
                i64::from(policy.max_failures_per_address),
            ));
        }
        // Counting and recording are one atomic step: the attempt is recorded as a failure
        // before the password is checked, so concurrent attempts cannot all pass the check.
        let reserved = match dispatch!(self.reserve_attempt(&keys, since, now))? {
            Ok(ids) => ids,
            Err(oldest) => {
                let retry = (oldest + chrono_duration(policy.window) - now)
                    .num_seconds()
                    .max(1);
                metrics::counter!(crate::observability::names::LOGIN_THROTTLED).increment(1);
                return Err(Error::Throttled {
                    retry_after: Duration::from_secs(u64::try_from(retry).unwrap_or(1)),
                });
            }
        };
        match self.authenticate(email, password).await {
            Ok(user) => {
                // Success clears the email's failures (this attempt's included) and takes back
                // the attempt recorded against the address.
                dispatch!(self.clear_failures(&keys[0].0))?;
                dispatch!(self.release_attempts(&reserved[1..]))?;
                Ok(user)
            }
            Err(Error::Authentication(reason)) => {
                metrics::counter!(
                    crate::observability::names::LOGIN_FAILURES,
                    "reason" => reason.as_str()
                )
                .increment(1);
                Err(Error::Authentication(reason))
            }
            Err(other) => {
                // Not a failed login (the database or the hasher failed): take it back.
                if let Err(e) = dispatch!(self.release_attempts(&reserved)) {
                    tracing::warn!(error = %e, "cannot release a login throttle reservation");
                }
                Err(other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hex() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 32);
        assert!(
            !format!(
                "{:?}",
                IssuedToken {
                    token: a.clone(),
                    kind: TokenKind::Api,
                    expires_at: Utc::now()
                }
            )
            .contains(&a)
        );
    }
}
