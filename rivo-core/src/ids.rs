//! Typed ids, so a user id is never passed where a client id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Rule;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    };
}

id_type!(
    /// Id of a [`Role`](crate::accounts::Role).
    RoleId
);
id_type!(
    /// Id of a [`User`](crate::accounts::User).
    UserId
);
id_type!(
    /// Id of a [`ChatMessage`](crate::chat::ChatMessage); increases with every stored message.
    MessageId
);
id_type!(
    /// Id of a [`Client`](crate::clients::Client).
    ClientId
);
id_type!(
    /// Id of a [`ClientContext`](crate::clients::ClientContext).
    ContextId
);
id_type!(
    /// Id of a [`StageChange`](crate::clients::StageChange).
    StageChangeId
);
id_type!(
    /// Id of an [`Assignment`](crate::clients::Assignment).
    AssignmentId
);

/// Id of a chat session: the UUID a chatbot front end generates for one conversation.
///
/// Parsing accepts every spelling Python's `uuid.UUID` accepts (any case, with or without
/// hyphens, `{braces}`, a `urn:uuid:` prefix); `Display` always gives the lowercase hyphenated
/// form.
///
/// ```
/// use rivo_core::SessionId;
/// let id: SessionId = "{URN:UUID:1B4E28BA-2FA1-11D2-883F-0016D3CCA427}".to_lowercase().parse().unwrap();
/// assert_eq!(id.to_string(), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
/// assert!("not-a-uuid".parse::<SessionId>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub Uuid);

impl SessionId {
    /// A new random session id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for SessionId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for SessionId {
    type Err = Rule;

    /// Python's `uuid.UUID(hex)`: drop `urn:` and `uuid:`, strip braces at both ends, drop every
    /// hyphen, then exactly 32 hex digits.
    fn from_str(s: &str) -> Result<Self, Rule> {
        let without_prefix = s.replace("urn:", "").replace("uuid:", "");
        let hex: String = without_prefix
            .trim_matches(|c| c == '{' || c == '}')
            .chars()
            .filter(|&c| c != '-')
            .collect();
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Rule::InvalidUuid);
        }
        Uuid::try_parse(&hex)
            .map(SessionId)
            .map_err(|_| Rule::InvalidUuid)
    }
}
