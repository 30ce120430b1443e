//! Size limits (issue 15, finding 2): how long a chat message may be, how large a client's
//! context may grow, how much of a change the audit log keeps, and how many bytes one
//! unpaginated history answer holds. Set them with [`Store::with_limits`]; `rivo-server` reads
//! them from `RIVO_MAX_MESSAGE_CHARS`, `RIVO_MAX_CONTEXT_KEYS`, `RIVO_MAX_CONTEXT_BYTES`,
//! `RIVO_AUDIT_MAX_VALUE_CHARS`, `RIVO_AUDIT_MAX_BYTES` and `RIVO_HISTORY_MAX_BYTES`.

use serde_json::{Map, Value as Json};

use crate::error::{Error, Result, Rule, ValidationErrors};
use crate::store::Store;

/// The size limits a [`Store`] enforces. The defaults accept every normal use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest chat message, in characters (after trimming). Default 4 194 304 (4 Mi): the
    /// original enforced none and accepted several MiB, so the default does too; a message
    /// over it is refused with `{"message": ["Ensure this field has no more than N
    /// characters."]}`.
    pub max_message_chars: usize,
    /// Most keys a client's context may hold after a change. Default 1000.
    pub max_context_keys: usize,
    /// Largest serialized (JSON) context after a change, in bytes. Default 1 MiB.
    pub max_context_bytes: usize,
    /// Longest string value kept in an audit entry's `changes`, in characters; longer ones are
    /// cut and end with a `…[truncated: N characters]` marker. Default 1000.
    pub max_audit_value_chars: usize,
    /// Largest serialized audit `changes`, in bytes, after cutting strings: a larger one is
    /// replaced by `{"truncated": true, "bytes": N, "keys": [...]}` (its top-level keys).
    /// Default 64 KiB.
    pub max_audit_bytes: usize,
    /// Most message bytes one unpaginated history answer holds ([`Store::history_bounded`]):
    /// a longer history is cut at a message boundary and continues at the returned cursor.
    /// Default 16 MiB.
    pub max_history_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_chars: 4 * 1024 * 1024,
            max_context_keys: 1000,
            max_context_bytes: 1024 * 1024,
            max_audit_value_chars: 1000,
            max_audit_bytes: 64 * 1024,
            max_history_bytes: 16 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Refuses a message longer than [`Limits::max_message_chars`].
    pub fn check_message(&self, message: &str) -> Result<()> {
        // Bytes bound characters from above: count only when it could matter.
        if message.len() > self.max_message_chars
            && message.chars().count() > self.max_message_chars
        {
            return Err(Error::invalid(
                "message",
                Rule::TooLong {
                    max: self.max_message_chars,
                },
            ));
        }
        Ok(())
    }

    /// Refuses a context over [`Limits::max_context_keys`] or [`Limits::max_context_bytes`]
    /// (field `context_data`).
    pub fn check_context(&self, data: &Map<String, Json>) -> Result<()> {
        let mut errors = ValidationErrors::new();
        if data.len() > self.max_context_keys {
            errors.add(
                "context_data",
                Rule::Other(format!(
                    "Ensure the context has no more than {} keys (it would have {}).",
                    self.max_context_keys,
                    data.len()
                )),
            );
        }
        let bytes = serde_json::to_vec(data).map_or(usize::MAX, |v| v.len());
        if bytes > self.max_context_bytes {
            errors.add(
                "context_data",
                Rule::Other(format!(
                    "Ensure the context is no larger than {} bytes as JSON (it would be {bytes}).",
                    self.max_context_bytes
                )),
            );
        }
        errors.into_result()
    }

    /// The audit log's bounded copy of a change: long strings cut with a marker, and a whole
    /// entry over [`Limits::max_audit_bytes`] replaced by a summary.
    pub fn bound_audit(&self, changes: Json) -> Json {
        let cut = self.cut_strings(changes);
        let bytes = serde_json::to_vec(&cut).map_or(usize::MAX, |v| v.len());
        if bytes <= self.max_audit_bytes {
            return cut;
        }
        let mut keys: Vec<Json> = match &cut {
            Json::Object(map) => map
                .keys()
                .take(100)
                .map(|k| Json::String(k.clone()))
                .collect(),
            _ => Vec::new(),
        };
        keys.truncate(100);
        serde_json::json!({ "truncated": true, "bytes": bytes, "keys": keys })
    }

    fn cut_strings(&self, value: Json) -> Json {
        match value {
            Json::String(text) => Json::String(self.cut(text)),
            Json::Array(items) => {
                Json::Array(items.into_iter().map(|v| self.cut_strings(v)).collect())
            }
            Json::Object(map) => Json::Object(
                map.into_iter()
                    .map(|(k, v)| (self.cut(k), self.cut_strings(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    fn cut(&self, text: String) -> String {
        let max = self.max_audit_value_chars;
        if text.len() <= max {
            return text;
        }
        let total = text.chars().count();
        if total <= max {
            return text;
        }
        let mut kept: String = text.chars().take(max).collect();
        kept.push_str(&format!("…[truncated: {total} characters]"));
        kept
    }
}

impl Store {
    /// A handle to the same database enforcing `limits` (cheap: it shares the pools).
    pub fn with_limits(&self, limits: Limits) -> Store {
        Store {
            limits: std::sync::Arc::new(limits),
            ..self.clone()
        }
    }

    /// The limits this handle enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
