//! Field rules shared by every model: lengths, blanks, emails, usernames.

use crate::error::Rule;

/// Trims like Python's `str.strip()`: Unicode whitespace plus the separators U+001C..U+001F.
pub(crate) fn python_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// A required text: trimmed, not blank, no NUL, at most `max` characters (if given).
pub(crate) fn required_text(value: &str, max: Option<usize>) -> Result<String, Rule> {
    let trimmed = python_strip(value);
    if trimmed.is_empty() {
        return Err(Rule::Blank);
    }
    optional_text(trimmed, max)
}

/// An optional text (may be empty): trimmed, no NUL, at most `max` characters (if given).
pub(crate) fn optional_text(value: &str, max: Option<usize>) -> Result<String, Rule> {
    let trimmed = python_strip(value);
    if trimmed.contains('\0') {
        return Err(Rule::NullCharacter);
    }
    if let Some(max) = max
        && trimmed.chars().count() > max
    {
        return Err(Rule::TooLong { max });
    }
    Ok(trimmed.to_owned())
}

/// Maximum length of an email address (RFC 5321, Django's `EmailField`).
pub const EMAIL_MAX: usize = 254;

/// Checks email syntax and normalises it like Django's `normalize_email` (domain lowercased).
pub(crate) fn email(value: &str) -> Result<String, Rule> {
    let value = optional_text(value, Some(EMAIL_MAX))?;
    if value.is_empty() {
        return Err(Rule::Blank);
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(Rule::InvalidEmail);
    };
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    if !local_ok || !domain_ok {
        return Err(Rule::InvalidEmail);
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// An optional email: empty is allowed, anything else must be valid.
pub(crate) fn optional_email(value: &str) -> Result<String, Rule> {
    if python_strip(value).is_empty() {
        Ok(String::new())
    } else {
        email(value)
    }
}

/// Django's `UnicodeUsernameValidator`: letters, digits and `@.+-_`, 1 to 150 characters.
pub(crate) fn username(value: &str) -> Result<String, Rule> {
    let value = required_text(value, Some(150))?;
    if value
        .chars()
        .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
    {
        Ok(value)
    } else {
        Err(Rule::InvalidUsername)
    }
}

/// The identity of an email address: what login, the login throttle and the unique index
/// compare. NFKC normalisation (compatibility forms such as fullwidth letters fold to their
/// plain form, composed and decomposed accents agree), then Rust's Unicode lowercase
/// ([`str::to_lowercase`], full Unicode mappings, not SQLite's ASCII-only `lower()` nor the
/// database locale's), then NFKC again so the result is stable. Computed in Rust only, so
/// both backends agree: `ÉMAIL@x.com` and `émail@x.com` are one address everywhere, and
/// `admİn@example.com` (whose lowercase keeps a combining dot) is not `admin@example.com`.
pub fn email_identity(email: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = email.trim().nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_python() {
        assert_eq!(python_strip("\u{1c}\u{1f} hi \u{a0}\u{3000}\n"), "hi");
        assert_eq!(python_strip("\0"), "\0");
    }

    #[test]
    fn email_rules() {
        assert_eq!(email("Ann@Example.COM").unwrap(), "Ann@example.com");
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@.com",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            "a@b.123",
        ] {
            assert!(email(bad).is_err(), "{bad} accepted");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn username_rules() {
        assert!(username("ann.o+x@y-z_1").is_ok());
        assert_eq!(username("a b"), Err(Rule::InvalidUsername));
        assert_eq!(username(&"x".repeat(151)), Err(Rule::TooLong { max: 150 }));
        assert_eq!(username("  "), Err(Rule::Blank));
    }
}
