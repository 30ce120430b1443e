//! Optional protections of the public chat endpoint (issue 15, finding 13): rate limits per
//! client address and per session, counted in the database so that every server on it shares
//! them, and a key that a bot backend must present to post as `bot`. All off by default, like
//! the original server.

use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::chat::{ChatMessage, DataType, SenderType};
use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::store::{Store, dispatch};

/// The protections of [`Store::append_guarded`]. The default turns everything off.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ChatPolicy {
    /// Messages one client address may post per `window` (`0`: no limit).
    pub max_per_address: u32,
    /// Messages one session may receive per `window` (`0`: no limit).
    pub max_per_session: u32,
    /// The length of a rate-limit window (fixed windows; zero counts as one second).
    pub window: Duration,
    /// When set, a message with `sender_type` bot must come with this key.
    pub bot_key: Option<String>,
}

impl std::fmt::Debug for ChatPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatPolicy")
            .field("max_per_address", &self.max_per_address)
            .field("max_per_session", &self.max_per_session)
            .field("window", &self.window)
            .field("bot_key", &self.bot_key.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Who is posting: what the server knows about the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostOrigin<'a> {
    /// The client address (after trusted proxies), when known.
    pub client_address: Option<&'a str>,
    /// The bot key the request presented, if any.
    pub bot_key: Option<&'a str>,
}

fn key_matches(given: Option<&str>, expected: &str) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

/// The store's guarded chat append.
impl Store {
    /// [`Store::append`] behind `policy`: a bot message without the right key fails with
    /// [`Error::BotKeyRequired`]; a message over the address or the session limit fails with
    /// [`Error::Throttled`] (until the window ends) and is not stored. Invalid messages fail
    /// validation before they count.
    pub async fn append_guarded(
        &self,
        session_id: SessionId,
        message: &str,
        sender_type: SenderType,
        origin: PostOrigin<'_>,
        policy: &ChatPolicy,
    ) -> Result<ChatMessage> {
        if crate::chat::clean_message(message).is_err() {
            // Let `append` report it, without counting the request.
            self.check_bot_key(sender_type, origin, policy)?;
            return self.append(session_id, message, sender_type).await;
        }
        self.guard(session_id, sender_type, origin, policy).await?;
        self.append(session_id, message, sender_type).await
    }

    /// [`Store::capture`] behind `policy`, like [`Store::append_guarded`]: invalid messages
    /// (including a contact detail that breaks its rule) fail validation before they count.
    pub async fn capture_guarded(
        &self,
        session_id: SessionId,
        message: &str,
        sender_type: SenderType,
        data_type: DataType,
        origin: PostOrigin<'_>,
        policy: &ChatPolicy,
    ) -> Result<crate::leads::Captured> {
        let valid = crate::chat::clean_message(message)
            .ok()
            .is_some_and(|m| crate::leads::check_contact(data_type, &m).is_ok());
        if valid {
            self.guard(session_id, sender_type, origin, policy).await?;
        } else {
            self.check_bot_key(sender_type, origin, policy)?;
        }
        self.capture(session_id, message, sender_type, data_type)
            .await
    }

    fn check_bot_key(
        &self,
        sender_type: SenderType,
        origin: PostOrigin<'_>,
        policy: &ChatPolicy,
    ) -> Result<()> {
        if sender_type == SenderType::Bot
            && let Some(expected) = &policy.bot_key
            && !key_matches(origin.bot_key, expected)
        {
            return Err(Error::BotKeyRequired);
        }
        Ok(())
    }

    /// The bot key, then the rate limits (each counts this request).
    async fn guard(
        &self,
        session_id: SessionId,
        sender_type: SenderType,
        origin: PostOrigin<'_>,
        policy: &ChatPolicy,
    ) -> Result<()> {
        self.check_bot_key(sender_type, origin, policy)?;
        let window = i64::try_from(policy.window.as_secs().max(1)).unwrap_or(i64::MAX);
        let now = chrono::Utc::now().timestamp();
        let mut limits = Vec::new();
        if policy.max_per_address > 0
            && let Some(address) = origin.client_address
        {
            limits.push((
                format!("chat-addr:{}", address.replace('\0', "\u{fffd}")),
                policy.max_per_address,
            ));
        }
        if policy.max_per_session > 0 {
            limits.push((
                format!("chat-session:{}", session_id.0),
                policy.max_per_session,
            ));
        }
        for (key, max) in limits {
            let (count, ends) = dispatch!(self.count_request(&key, window, now))?;
            if count > i64::from(max) {
                let retry = u64::try_from((ends - now).max(1)).unwrap_or(1);
                return Err(Error::Throttled {
                    retry_after: Duration::from_secs(retry),
                });
            }
        }
        Ok(())
    }
}
