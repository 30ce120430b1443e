//! Closed sets of names: enums whose variants are stored and sent as fixed strings.

use std::str::FromStr;

use crate::error::{Error, Result};

/// Gives a fieldless enum its names both ways: `as_str` (documented by the attributes before
/// the type), [`Display`](std::fmt::Display) (the name, padded like a `str`) and
/// [`FromStr`](std::str::FromStr), case-sensitive, whose error is
/// [`Rule::InvalidChoice`](crate::error::Rule::InvalidChoice).
///
/// ```ignore
/// names! {
///     /// `create`, `update` or `delete`.
///     AuditAction { Create => "create", Update => "update", Delete => "delete" }
/// }
/// ```
macro_rules! names {
    ($(#[$doc:meta])* $ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            $(#[$doc])*
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::error::Rule;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err($crate::error::Rule::InvalidChoice {
                        value: other.to_owned(),
                    }),
                }
            }
        }
    };
}

pub(crate) use names;

/// A name read back from the database; one that does not parse is [`Error::Corrupt`]
/// (`unknown {what} "{value}"`).
pub(crate) fn stored<T: FromStr>(what: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::Corrupt(format!("unknown {what} {value:?}")))
}
