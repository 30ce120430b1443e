//! Personal data: chat retention, erasure of one person's data, export of a copy, and finding
//! conversations that mention an email or a phone number.
//!
//! - **Retention** ([`Store::run_retention`]) deletes sessions whose last message is older than
//!   a limit, with their messages, in bounded batches (one short transaction each), once
//!   across several servers (a lease row), audited as one summary entry per run. Clients are
//!   kept; their context's link to a deleted conversation (`chat_session_id`) is cleared, since
//!   it would point at nothing.
//! - **Erasure** ([`Store::erase_client`], [`Store::erase_session`]) deletes everything of one
//!   client or one session in one transaction and leaves one audit entry that says an erasure
//!   happened (ids and counts only). Earlier audit entries about the erased objects keep who
//!   did what and when, but their descriptions and recorded changes (which held names, emails,
//!   phones and context values) are replaced by `[erased]`.
//! - **Export** ([`Store::export_client`], [`Store::export_session`]) gives typed, serde
//!   (de)serialisable copies, and transcripts as plain text or CSV.
//! - **Finding** ([`Store::find_unlinked_messages`]) lists messages of sessions linked to no
//!   client that contain an email (case-insensitive) or a phone number (by its digits).

mod erasure;
mod export;
mod find;
mod retention;

pub use erasure::{ClientErasure, SessionErasure};
pub use export::{ClientExport, EXPORT_FORMAT, SessionExport, TranscriptFormat, transcript};
pub use find::{MIN_PHONE_DIGITS, PersonalDataQuery};
pub use retention::{RetentionBatch, RetentionPolicy, RetentionPreview, RetentionReport};

#[cfg(doc)]
use crate::store::Store;

/// The lease name of the retention job (one row of `maintenance_leases`).
pub(crate) const RETENTION_LEASE: &str = "chat_retention";

#[cfg(test)]
mod tests;
