//! Chat-to-lead capture (the later original's `data_type` messages, done carefully).
//!
//! A chat message may carry one of the visitor's contact details: its [`DataType`] is `name`,
//! `email` or `phone`. [`Store::capture`] stores such a message and, in the **same
//! transaction**, copies the normalised value onto the session's client, creating the client
//! when the session has none yet:
//!
//! - the message goes through the same path as every other one (the session row is upserted
//!   and locked first, so messages of one session keep their order and concurrent contact
//!   messages of one session serialise and make **one** client; live streams and the
//!   `message.created` webhook see it);
//! - a new client starts empty in stage `lead`, with its context row linking the session (the
//!   admin's session list then shows the client) and its **first stage history row**
//!   (`none → lead`), so initialisation happens exactly once; `client.created` is emitted;
//! - only the one field is updated (last write wins), normalised by [`normalize_contact`];
//! - when the client first has a name, an email and a phone, the [`AssignmentRule`] runs —
//!   unless the client already has an active assignment, which is never touched (a CSM's
//!   assignment survives a repeated phone message).
//!
//! Validation ([`check_contact`]) happens before anything is written, and its limits match the
//! columns (name ≤ 100 characters, email ≤ 254, phone ≤ 20 digits), so a bad value is a
//! [`Error::Validation`] on field `message`, never a database error.
//!
//! Only `sender_type = client` messages set contact details unless
//! [`LeadCaptureOptions::any_sender`] is set: a `bot` message with a contact `data_type` is
//! stored with its `data_type` but changes no client.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rivo_core::Error> {
//! use rivo_core::chat::DataType;
//! use rivo_core::{SenderType, SessionId, Stage, Store};
//! let store = Store::open("sqlite::memory:").await?;
//! store.migrate().await?;
//! let s = SessionId::new_random();
//! store.capture(s, "I'd like to refinance", SenderType::Client, DataType::Message).await?;
//! store.capture(s, "mary o'brien-smith", SenderType::Client, DataType::Name).await?;
//! store.capture(s, "Mary.OBrien@Example.COM", SenderType::Client, DataType::Email).await?;
//! let done = store.capture(s, "+1 (555) 123-4567", SenderType::Client, DataType::Phone).await?;
//! // The message is stored as sent (trimmed); the client gets the normalised values.
//! assert_eq!(done.message.message, "+1 (555) 123-4567");
//! let client = done.client.expect("a contact message of a client links a client");
//! assert_eq!(
//!     (client.name.as_str(), client.email.as_str(), client.phone.as_str()),
//!     ("Mary O'Brien-Smith", "mary.obrien@example.com", "15551234567")
//! );
//! assert_eq!(client.current_stage, Stage::Lead);
//! assert!(done.completed);
//! // Completion with the default rule: an active assignment with no one, "awaiting assignment".
//! assert_eq!(done.assignment.expect("the rule ran").assigned_to, None);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, DataType, SenderType, clean_message};
use crate::clients::{Assignment, Client};
use crate::error::{Error, Result, Rule};
use crate::ids::SessionId;
use crate::store::Store;
use crate::store::append::NewMessage;
use crate::store::dispatch;

/// How many characters a captured name may have (the later original's limit; the column holds
/// 255).
pub const NAME_MAX_CHARS: usize = 100;
/// How many characters a captured email may have (the `clients.email` column).
pub const EMAIL_MAX_CHARS: usize = 254;
/// How many digits a captured phone may have (the `clients.phone` column).
pub const PHONE_MAX_DIGITS: usize = 20;
/// How many digits a captured phone needs at least.
pub const PHONE_MIN_DIGITS: usize = 10;

/// Who gets a lead once it is complete (name, email and phone all known), when it has no
/// active assignment yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AssignmentRule {
    /// Nobody: an active assignment row with no assignee, "awaiting assignment" (the later
    /// original's behaviour). A person then assigns the lead by hand.
    #[default]
    Awaiting,
    /// Round-robin over the active users holding the role named `role`: the one whose last
    /// assignment is the oldest (never assigned first, then by id) among those holding fewer
    /// than `cap` **open leads** — active assignments of clients not in stage `lost`,
    /// `closed` or `rejected`. When everyone is at the cap (or nobody holds the role), the
    /// lead is awaiting assignment, as with [`AssignmentRule::Awaiting`]. Picks are serialised
    /// across servers, so the cap holds under concurrency.
    RoundRobin {
        /// The role's name (e.g. `CSM`).
        role: String,
        /// Most open leads per person (at least 1).
        cap: u32,
    },
}

/// Settings of lead capture ([`Store::capture`]); set with [`Store::with_lead_capture`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeadCaptureOptions {
    /// Let `bot` messages set contact details too (the later original did). Default: only
    /// `sender_type = client` messages do.
    pub any_sender: bool,
    /// Who gets a lead when it completes.
    pub assignment: AssignmentRule,
}

/// What [`Store::capture`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    /// The stored message (its text trimmed, not normalised).
    pub message: ChatMessage,
    /// The session's client after the change, when the message set a contact detail (or the
    /// session already had a client).
    pub client: Option<Client>,
    /// Whether this message created the client.
    pub created: bool,
    /// Whether this message completed the lead (name, email and phone known for the first
    /// time).
    pub completed: bool,
    /// The assignment written on completion (`assigned_to: None`: awaiting assignment); `None`
    /// when nothing was written (not completed now, or an active assignment already existed).
    pub assignment: Option<Assignment>,
}

/// Checks a contact detail the way the later original's chat serializer does, with its
/// messages, but with limits that match the columns and Unicode letters in names. `text` is
/// the trimmed message; a plain message always passes.
///
/// - name: 2 to [`NAME_MAX_CHARS`] characters, letters (any script: `José`), spaces, `.`,
///   `-` and `'` only;
/// - email: `local@domain.tld` with the later original's character sets (ASCII), at most
///   [`EMAIL_MAX_CHARS`] characters;
/// - phone: [`PHONE_MIN_DIGITS`] to [`PHONE_MAX_DIGITS`] ASCII digits, anything else ignored.
///
/// ```
/// use rivo_core::chat::DataType;
/// use rivo_core::leads::check_contact;
/// assert!(check_contact(DataType::Name, "José Núñez").is_ok());
/// assert_eq!(
///     check_contact(DataType::Name, "R2D2").unwrap_err().to_string(),
///     "Name can only contain letters, spaces, dots, hyphens, and apostrophes"
/// );
/// assert_eq!(
///     check_contact(DataType::Phone, "555-1234").unwrap_err().to_string(),
///     "Phone number must have at least 10 digits"
/// );
/// ```
pub fn check_contact(data_type: DataType, text: &str) -> Result<(), Rule> {
    let other = |m: &str| Err(Rule::Other(m.to_owned()));
    match data_type {
        DataType::Message => Ok(()),
        DataType::Name => {
            let n = text.chars().count();
            if n < 2 {
                return other("Name must be at least 2 characters");
            }
            if n > NAME_MAX_CHARS {
                return other("Name must be less than 100 characters");
            }
            if !text
                .chars()
                .all(|c| c.is_alphabetic() || c.is_whitespace() || matches!(c, '.' | '-' | '\''))
            {
                return other(
                    "Name can only contain letters, spaces, dots, hyphens, and apostrophes",
                );
            }
            Ok(())
        }
        DataType::Email => {
            if !is_email(text) {
                return other("Please provide a valid email address");
            }
            if text.chars().count() > EMAIL_MAX_CHARS {
                return other("Email must be at most 254 characters");
            }
            Ok(())
        }
        DataType::Phone => {
            let digits = text.chars().filter(char::is_ascii_digit).count();
            if digits < PHONE_MIN_DIGITS {
                return other("Phone number must have at least 10 digits");
            }
            if digits > PHONE_MAX_DIGITS {
                return other("Phone number must have at most 20 digits");
            }
            Ok(())
        }
    }
}

/// The later original's email regex, `^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-'));
    // The regex's `[a-zA-Z0-9.-]+` is greedy and backtracks: the domain must end in `.` and two
    // or more letters, with at least one character before that dot.
    let domain_ok = domain
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && domain.rsplit_once('.').is_some_and(|(head, tld)| {
            !head.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
    local_ok && domain_ok
}

/// The value a checked contact detail writes onto the client:
///
/// - **name**: whitespace runs become one space, and each run of letters is capitalised like
///   Python's `str.title()` (`mary o'brien-smith` → `Mary O'Brien-Smith`), except that a run
///   already written in mixed case keeps its inner capitals (`McDonald`, `DeVries` stay; the
///   later original wrote `Mcdonald`). All-lowercase and all-uppercase runs are title-cased
///   (`MCDONALD` → `Mcdonald`: nothing tells where the inner capital was);
/// - **email**: lowercased entirely, local part too (as the later original);
/// - **phone**: its ASCII digits only (`+1 (555) 123-4567` → `15551234567`; the `+` is dropped,
///   as the later original does).
///
/// ```
/// use rivo_core::chat::DataType;
/// use rivo_core::leads::normalize_contact;
/// assert_eq!(normalize_contact(DataType::Name, "ronald  McDonald"), "Ronald McDonald");
/// assert_eq!(normalize_contact(DataType::Name, "JOSÉ o'brien"), "José O'Brien");
/// assert_eq!(normalize_contact(DataType::Email, "Mary@Example.COM"), "mary@example.com");
/// assert_eq!(normalize_contact(DataType::Phone, "+47 912 34 567"), "4791234567");
/// ```
pub fn normalize_contact(data_type: DataType, text: &str) -> String {
    match data_type {
        DataType::Message => text.to_owned(),
        DataType::Name => title_case(&text.split_whitespace().collect::<Vec<_>>().join(" ")),
        DataType::Email => text.trim().to_lowercase(),
        DataType::Phone => text.chars().filter(char::is_ascii_digit).collect(),
    }
}

fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let mixed = run.chars().any(char::is_lowercase) && run.chars().any(char::is_uppercase);
        let mut chars = run.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            if mixed {
                out.extend(chars);
            } else {
                out.extend(chars.flat_map(char::to_lowercase));
            }
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_alphabetic() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Chat-to-lead capture.
impl Store {
    /// A handle to the same database capturing leads with `options` (cheap: it shares the
    /// pools).
    pub fn with_lead_capture(&self, options: LeadCaptureOptions) -> Store {
        Store {
            lead_capture: std::sync::Arc::new(options),
            ..self.clone()
        }
    }

    /// The lead capture settings of this handle.
    pub fn lead_capture_options(&self) -> &LeadCaptureOptions {
        &self.lead_capture
    }

    /// Stores one chat message with its [`DataType`] and, for a contact detail, captures it
    /// onto the session's client, all in one transaction (see the [module](crate::leads) for
    /// the rules). A plain message is stored like [`Store::append`] does (one transaction of
    /// its own instead of a shared group commit) and returns the session's client, if any.
    ///
    /// The text is trimmed and checked ([`clean_message`], [`check_contact`]) before anything
    /// is written: a bad one fails with [`Error::Validation`] on field `message`.
    #[tracing::instrument(skip_all, fields(%sender_type, %data_type))]
    pub async fn capture(
        &self,
        session_id: SessionId,
        message: &str,
        sender_type: SenderType,
        data_type: DataType,
    ) -> Result<Captured> {
        let message = clean_message(message).map_err(|rule| Error::invalid("message", rule))?;
        check_contact(data_type, &message).map_err(|rule| Error::invalid("message", rule))?;
        self.limits.check_message(&message)?;
        let sets_contact = data_type.is_contact()
            && (sender_type == SenderType::Client || self.lead_capture.any_sender);
        let value = sets_contact.then(|| normalize_contact(data_type, &message));
        let row = NewMessage {
            session_id,
            message,
            sender_type,
            data_type,
        };
        let options = self.lead_capture.clone();
        let origin = self.streams.origin().to_owned();
        let (captured, marks) = dispatch!(self.capture(&row, value.as_deref(), &options, &origin))?;
        // After the commit, as the group commit does: this process's session streams take the
        // message in memory (other servers read it on the NOTIFY), then the wake-ups.
        self.streams
            .committed(std::slice::from_ref(&captured.message), &marks);
        self.webhooks
            .committed(crate::events::EventKind::MessageCreated);
        if captured.created || captured.assignment.is_some() {
            self.streams.wake(crate::streams::Wake::Activity);
        }
        if captured.created {
            self.webhooks
                .committed(crate::events::EventKind::ClientCreated);
        }
        if captured
            .assignment
            .as_ref()
            .is_some_and(|a| a.assigned_to.is_some())
        {
            self.webhooks
                .committed(crate::events::EventKind::ClientAssigned);
        }
        if captured.completed {
            // Its transaction queued the lead's AI summary.
            self.summaries.enqueued();
        }
        Ok(captured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_title_cased_without_mangling_mixed_case() {
        let n = |s| normalize_contact(DataType::Name, s);
        assert_eq!(n("mary o'brien-smith"), "Mary O'Brien-Smith");
        assert_eq!(n("McDonald"), "McDonald");
        assert_eq!(n("MCDONALD"), "Mcdonald");
        assert_eq!(n("  josé   núñez "), "José Núñez");
        assert_eq!(n("d'artagnan"), "D'Artagnan");
        assert_eq!(n("jean-luc picard"), "Jean-Luc Picard");
    }

    #[test]
    fn contact_rules_and_messages() {
        assert!(check_contact(DataType::Message, "anything").is_ok());
        assert!(check_contact(DataType::Name, "Jo").is_ok());
        assert!(check_contact(DataType::Name, "J").is_err());
        assert!(check_contact(DataType::Name, &"a".repeat(100)).is_ok());
        assert_eq!(
            check_contact(DataType::Name, &"a".repeat(101))
                .unwrap_err()
                .to_string(),
            "Name must be less than 100 characters"
        );
        assert!(check_contact(DataType::Email, "a.b+c@example.co").is_ok());
        for bad in [
            "a@b",
            "a@.com",
            "@x.com",
            "a b@x.com",
            "a@x.c",
            "a@x.c0m",
            "ä@x.com",
        ] {
            assert_eq!(
                check_contact(DataType::Email, bad).unwrap_err().to_string(),
                "Please provide a valid email address",
                "{bad}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            check_contact(DataType::Email, &long)
                .unwrap_err()
                .to_string(),
            "Email must be at most 254 characters"
        );
        assert!(check_contact(DataType::Phone, "+1 (555) 123-4567").is_ok());
        assert_eq!(
            check_contact(DataType::Phone, &"1".repeat(21))
                .unwrap_err()
                .to_string(),
            "Phone number must have at most 20 digits"
        );
    }
}
