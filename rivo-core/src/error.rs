//! The one error type of rivo-core.

use crate::names::names;
use std::fmt;

/// Everything a rivo-core operation can fail with.
///
/// Callers can tell every case apart without parsing strings: a taken email is
/// [`Error::Conflict`] with `field == "email"`, a bad input is [`Error::Validation`] listing every
/// wrong field, a database outage is [`Error::Database`].
///
/// The database driver (sqlx) is no part of this type: [`Error::Database`] and
/// [`Error::Migration`] hold opaque wrappers, so a driver upgrade is no breaking change. The
/// only trace left is a pair of `From` conversions from sqlx's errors, which rivo-core's own
/// code uses with `?`; they are hidden from the docs and not meant to be called by embedders
/// (Rust has no private trait impls).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object asked for does not exist.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `"user"` or `"client"`.
        entity: &'static str,
    },
    /// A unique rule would be broken (e.g. the email is already taken).
    #[error("{field}: {message}")]
    Conflict {
        /// The field whose value is taken, e.g. `"email"`.
        field: &'static str,
        /// A sentence for humans.
        message: String,
    },
    /// Input broke one or more validation rules; every broken field is listed.
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    /// Login failed. `Display` never tells which reason, so it is safe to show to anyone;
    /// the [`AuthFailure`] is there for logs and trusted callers.
    #[error("invalid credentials")]
    Authentication(AuthFailure),
    /// Too many failed logins: try again after `retry_after`.
    #[error("too many failed login attempts; retry in {} seconds", retry_after.as_secs())]
    Throttled {
        /// How long until another attempt is considered.
        retry_after: std::time::Duration,
    },
    /// A message with `sender_type` bot came without the bot key that
    /// [`crate::chat_guard::ChatPolicy::bot_key`] requires.
    #[error("posting as bot needs the bot key")]
    BotKeyRequired,
    /// The database failed or could not be reached. The [`DatabaseError`] is opaque (the
    /// database driver is no part of rivo-core's API); ask it [`DatabaseError::code`] or
    /// [`Error::kind`] what happened.
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
    /// Applying migrations failed.
    #[error("migration error: {0}")]
    Migration(#[source] MigrationError),
    /// rivo-core was configured wrongly (e.g. a `DATABASE_URL` with an unsupported scheme or
    /// an unparsable option): no retry helps, an operator must fix the setting. Never
    /// [`Error::is_unavailable`]. The text says what is wrong and never holds a password.
    #[error("configuration error: {0}")]
    Config(String),
    /// A stored value could not be understood (a row written by something other than rivo).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The acting user may not make this change (e.g. only a superuser grants
    /// `is_superuser`); the text says why and is safe to show.
    #[error("{0}")]
    PermissionDenied(&'static str),
    /// The operation does not exist on this backend; the text says what to use instead
    /// (e.g. [`Store::backup`](crate::Store::backup) on PostgreSQL: use `pg_dump`).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The SQLite database is already in use by another server process
    /// ([`Store::lock_exclusive`](crate::Store::lock_exclusive)).
    #[error("{0}")]
    InUse(String),
    /// An internal task failed (e.g. the password hashing thread panicked).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for a single-field validation error.
    pub fn invalid(field: &'static str, rule: Rule) -> Self {
        Error::Validation(ValidationErrors::single(field, rule))
    }

    /// A short, stable name of what went wrong, from a closed set, for metrics labels and logs
    /// (never a value from the input): `not_found`, `conflict`, `validation`, `authentication`,
    /// `throttled`, `bot_key_required`, `permission_denied`, `unsupported`, `in_use`,
    /// `corrupt`, `internal`, `migration`, `config`, and for [`Error::Database`] one of `db_pool_timeout`
    /// (no connection within the acquire timeout), `db_pool_closed`, `db_io` (connection lost
    /// or refused), `db_tls`, `db_protocol`, `db_row_not_found`, `db_decode`,
    /// `db_unique_violation`, `db_foreign_key_violation`, `db_check_violation`,
    /// `db_not_null_violation`, `db_query` (any other error the database reported, e.g. a
    /// statement timeout or a serialization failure) and `db_other`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::Validation(_) => "validation",
            Error::Authentication(_) => "authentication",
            Error::Throttled { .. } => "throttled",
            Error::BotKeyRequired => "bot_key_required",
            Error::Database(e) => database_error_kind(&e.0),
            Error::Migration(_) => "migration",
            Error::Config(_) => "config",
            Error::Corrupt(_) => "corrupt",
            Error::PermissionDenied(_) => "permission_denied",
            Error::Unsupported(_) => "unsupported",
            Error::InUse(_) => "in_use",
            Error::Internal(_) => "internal",
        }
    }

    /// Whether this error comes from the database being unavailable or failing (as opposed to
    /// bad input). Servers map it to `503`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Database(e) => !matches!(e.0, sqlx::Error::RowNotFound),
            Error::Migration(_) => true,
            _ => false,
        }
    }

    /// Which unique rule of the schema a write broke, if this is a unique violation. The SQL
    /// layer only reports the rule; the domain module that made the write words it (e.g.
    /// [`crate::accounts`] turns [`UniqueRule::UserEmail`] into "A user with that email
    /// already exists.").
    pub(crate) fn unique_violation(&self) -> Option<UniqueRule> {
        match self {
            Error::Database(e) => crate::store::unique_rule(&e.0),
            _ => None,
        }
    }
}

/// Wraps a driver error; sqlx's `Configuration` error (a URL or option it cannot parse) becomes
/// [`Error::Config`]. Hidden from the docs: this is how rivo-core's own code uses `?`, not an
/// API, so that the driver stays out of rivo-core's documented API.
#[doc(hidden)]
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Configuration(e) => Error::Config(e.to_string()),
            e => Error::Database(DatabaseError(e)),
        }
    }
}

/// Wraps a migration failure (hidden like the conversion of driver errors).
#[doc(hidden)]
impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migration(MigrationError(e))
    }
}

/// A failure of the database or of the connection to it: opaque, so that a new database
/// driver version is no breaking change of rivo-core. `Display` and
/// [`source`](std::error::Error::source) show the driver's own error;
/// [`Error::kind`] classifies it; [`DatabaseError::code`] gives the database's error code.
pub struct DatabaseError(pub(crate) sqlx::Error);

impl DatabaseError {
    /// The error code the database reported (PostgreSQL's SQLSTATE, e.g. `"57014"` for a
    /// statement cancelled by `statement_timeout`; SQLite's extended result code), or `None`
    /// when the database itself reported nothing (a lost connection, a pool timeout, …).
    pub fn code(&self) -> Option<String> {
        self.0
            .as_database_error()
            .and_then(|db| db.code())
            .map(|c| c.into_owned())
    }

    /// Whether the database refused a write for breaking a unique rule.
    pub fn is_unique_violation(&self) -> bool {
        self.0
            .as_database_error()
            .is_some_and(|db| db.is_unique_violation())
    }
}

/// `Debug`, `Display` and `source` of an opaque wrapper: those of the error it wraps.
macro_rules! opaque_error {
    ($($wrapper:ident),+) => {$(
        impl fmt::Debug for $wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::error::Error for $wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.0.source()
            }
        }
    )+};
}

/// Applying the migrations failed: opaque like [`DatabaseError`]; `Display` says why.
pub struct MigrationError(pub(crate) sqlx::migrate::MigrateError);

opaque_error!(DatabaseError, MigrationError);

/// The unique rules of rivo's schema, as the SQL layer reports a broken one (see
/// `store::unique_rule`); the domain modules word them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UniqueRule {
    /// `roles.name`.
    RoleName,
    /// `users.username`.
    UserUsername,
    /// `users.email` (case-insensitively, and by its normalised identity).
    UserEmail,
    /// At most one active assignment per client.
    OneActiveAssignment,
    /// Any other unique rule.
    Other,
}

/// [`Error::kind`] of a database error.
fn database_error_kind(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::PoolTimedOut => "db_pool_timeout",
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => "db_pool_closed",
        sqlx::Error::Io(_) => "db_io",
        sqlx::Error::Tls(_) => "db_tls",
        sqlx::Error::Protocol(_) => "db_protocol",
        sqlx::Error::RowNotFound => "db_row_not_found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "db_decode",
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => "db_unique_violation",
            sqlx::error::ErrorKind::ForeignKeyViolation => "db_foreign_key_violation",
            sqlx::error::ErrorKind::CheckViolation => "db_check_violation",
            sqlx::error::ErrorKind::NotNullViolation => "db_not_null_violation",
            _ => "db_query",
        },
        _ => "db_other",
    }
}

/// Why a login failed. Only for logs and trusted callers: tell end users "invalid credentials".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No user has this email.
    UnknownEmail,
    /// The password does not match (or the user has no usable password).
    WrongPassword,
    /// The user exists and the password matched, but the account is disabled.
    Inactive,
    /// A token or session is unknown, expired, revoked, or its user is inactive.
    InvalidToken,
}

names! {
    /// `unknown_email`, `wrong_password`, `inactive` or `invalid_token` (a metrics label).
    AuthFailure {
        UnknownEmail => "unknown_email",
        WrongPassword => "wrong_password",
        Inactive => "inactive",
        InvalidToken => "invalid_token",
    }
}

/// One broken validation rule. `Display` gives a sentence in the style of Django REST framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A value is required but was not given.
    Required,
    /// A value was given as null where null is not allowed.
    Null,
    /// Empty, or only whitespace.
    Blank,
    /// Longer than allowed (in characters).
    TooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// A list with more items than allowed.
    TooManyItems {
        /// The maximum number of items.
        max: usize,
    },
    /// Shorter than allowed (in characters).
    TooShort {
        /// The minimum number of characters.
        min: usize,
    },
    /// Contains a NUL character.
    NullCharacter,
    /// Not a UUID.
    InvalidUuid,
    /// Not a syntactically valid email address.
    InvalidEmail,
    /// Not one of the allowed values.
    InvalidChoice {
        /// The value that was given.
        value: String,
    },
    /// Not a known permission codename.
    UnknownPermission {
        /// The value that was given.
        value: String,
    },
    /// A username with characters other than letters, digits and `@.+-_`.
    InvalidUsername,
    /// A referenced object does not exist.
    DoesNotExist {
        /// The id that was given.
        id: i64,
    },
    /// Not a JSON object.
    NotAnObject,
    /// A password rule was broken; the text says which.
    Password(String),
    /// Any other rule; the text says which.
    Other(String),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => f.write_str("This field is required."),
            Rule::Null => f.write_str("This field may not be null."),
            Rule::Blank => f.write_str("This field may not be blank."),
            Rule::TooLong { max } => {
                write!(f, "Ensure this field has no more than {max} characters.")
            }
            Rule::TooManyItems { max } => {
                write!(f, "Ensure this field has no more than {max} elements.")
            }
            Rule::TooShort { min } => write!(f, "Ensure this field has at least {min} characters."),
            Rule::NullCharacter => f.write_str("Null characters are not allowed."),
            Rule::InvalidUuid => f.write_str("Must be a valid UUID."),
            Rule::InvalidEmail => f.write_str("Enter a valid email address."),
            Rule::InvalidChoice { value } => write!(f, "\"{value}\" is not a valid choice."),
            Rule::UnknownPermission { value } => write!(f, "\"{value}\" is not a known permission."),
            Rule::InvalidUsername => f.write_str(
                "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
            ),
            Rule::DoesNotExist { id } => {
                write!(f, "Invalid pk \"{id}\" - object does not exist.")
            }
            Rule::NotAnObject => f.write_str("Expected a JSON object."),
            Rule::Password(text) | Rule::Other(text) => f.write_str(text),
        }
    }
}

/// The broken rules of one input, in field order, possibly several per field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    errors: Vec<(&'static str, Rule)>,
}

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One error.
    pub fn single(field: &'static str, rule: Rule) -> Self {
        Self {
            errors: vec![(field, rule)],
        }
    }

    /// Records a broken rule for `field`.
    pub fn add(&mut self, field: &'static str, rule: Rule) {
        self.errors.push((field, rule));
    }

    /// Runs a check and records its error, if any, returning the checked value.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, Rule>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(rule) => {
                self.add(field, rule);
                None
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The recorded errors in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Rule)> {
        self.errors.iter().map(|(field, rule)| (*field, rule))
    }

    /// The rules broken by one field.
    pub fn field(&self, field: &str) -> Vec<&Rule> {
        self.errors
            .iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, rule)| rule)
            .collect()
    }

    /// `Ok(())` when empty, otherwise an [`Error::Validation`].
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self))
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, rule)) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field}: {rule}")?;
        }
        Ok(())
    }
}

/// The result type of rivo-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
