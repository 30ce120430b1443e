//! Finding: messages of sessions linked to no client that mention an email or a phone number.

use crate::chat::ChatMessage;
use crate::error::{Error, Result, Rule};
use crate::query::PageRequest;
use crate::store::{Store, dispatch};

/// A value to look for in messages of sessions linked to no client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonalDataQuery {
    /// Messages containing this email, case-insensitively.
    Email(String),
    /// Messages containing this phone number: compared by its digits, with spaces, dashes,
    /// dots, parentheses and `+` ignored on both sides (`+1 (555) 010-9999` finds
    /// `15550109999` and `1-555-010-9999`). At least 6 digits.
    Phone(String),
}

/// The shortest phone number [`PersonalDataQuery::Phone`] accepts, in digits.
pub const MIN_PHONE_DIGITS: usize = 6;

impl PersonalDataQuery {
    /// The validated text to search for: the trimmed email, or the phone's digits.
    pub(crate) fn needle(&self) -> Result<String> {
        match self {
            PersonalDataQuery::Email(email) => {
                let email = email.trim();
                if email.is_empty() {
                    return Err(Error::invalid("email", Rule::Blank));
                }
                if email.contains('\0') {
                    return Err(Error::invalid("email", Rule::NullCharacter));
                }
                if email.chars().count() > 254 {
                    return Err(Error::invalid("email", Rule::TooLong { max: 254 }));
                }
                if !email.contains('@') {
                    return Err(Error::invalid("email", Rule::InvalidEmail));
                }
                Ok(email.to_owned())
            }
            PersonalDataQuery::Phone(phone) => {
                if phone.chars().count() > 40 {
                    return Err(Error::invalid("phone", Rule::TooLong { max: 40 }));
                }
                if phone
                    .chars()
                    .any(|c| !(c.is_ascii_digit() || " -().+".contains(c)))
                {
                    return Err(Error::invalid(
                        "phone",
                        Rule::Other(
                            "A phone number holds only digits, spaces, dashes, dots, \
                             parentheses and +."
                                .into(),
                        ),
                    ));
                }
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                if digits.len() < MIN_PHONE_DIGITS {
                    return Err(Error::invalid(
                        "phone",
                        Rule::TooShort {
                            min: MIN_PHONE_DIGITS,
                        },
                    ));
                }
                Ok(digits)
            }
        }
    }
}

/// The store's search for personal data.
impl Store {
    /// Up to `limit` (1 to [`PageRequest::MAX_LIMIT`]) messages of sessions linked to no client
    /// that contain the email or phone number of `query`, newest first, so that an operator
    /// can export or erase those sessions. Bad input is [`Error::Validation`].
    pub async fn find_unlinked_messages(
        &self,
        query: &PersonalDataQuery,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        let needle = query.needle()?;
        let phone = matches!(query, PersonalDataQuery::Phone(_));
        let limit = i64::from(limit.clamp(1, PageRequest::MAX_LIMIT));
        dispatch!(self.find_unlinked_messages(&needle, phone, limit))
    }
}
