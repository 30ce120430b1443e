//! Listing: pagination, sorting and the filter conditions every list is built from.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return, at most [`PageRequest::MAX_LIMIT`].
    pub limit: u32,
}

impl PageRequest {
    /// The largest page a list returns; bigger requests are cut to it.
    pub const MAX_LIMIT: u32 = 1000;

    /// The first `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self { offset: 0, limit }
    }

    /// Page `page` (1-based, like DRF's `?page=`) of `page_size` rows.
    pub fn page(page: u64, page_size: u32) -> Self {
        Self {
            offset: page.saturating_sub(1).saturating_mul(u64::from(page_size)),
            limit: page_size,
        }
    }

    pub(crate) fn clamped_limit(&self) -> i64 {
        i64::from(self.limit.min(Self::MAX_LIMIT))
    }

    pub(crate) fn clamped_offset(&self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(50)
    }
}

/// One page of a list and the total number of rows matching its filters.
///
/// Totals are exact up to [`StoreOptions::exact_count_limit`](crate::StoreOptions) rows, which
/// bounds what a count costs whatever the table's size (Django admin's answer for big tables).
/// Above it, `total` is an estimate and `estimated` says so: the planner's statistics for a
/// whole table, or the limit itself (a lower bound: "more than N") for a filtered list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows of this page, in the requested order.
    pub items: Vec<T>,
    /// How many rows match the filters in all pages (see `estimated`).
    pub total: u64,
    /// Whether `total` is an estimate rather than an exact count.
    pub estimated: bool,
    /// Whether rows follow this page (exact, whatever `estimated` says).
    pub has_next: bool,
}

impl<T> Page<T> {
    /// Converts every item.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            estimated: self.estimated,
            has_next: self.has_next,
        }
    }
}

/// Sort order of a list: a field of the model and a direction. Ties are always broken by id
/// in the same direction, so every order is stable across pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<F> {
    /// The field to sort by.
    pub field: F,
    /// Largest first when true.
    pub descending: bool,
}

impl<F> Sort<F> {
    /// Smallest first.
    pub fn asc(field: F) -> Self {
        Self {
            field,
            descending: false,
        }
    }

    /// Largest first.
    pub fn desc(field: F) -> Self {
        Self {
            field,
            descending: true,
        }
    }
}

impl<F: SortField> Sort<F> {
    /// Parses DRF's `?ordering=` spelling: `field` or `-field`.
    pub fn parse(s: &str) -> Option<Self> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, s),
        };
        F::from_name(name).map(|field| Self { field, descending })
    }
}

/// A field a list can be sorted by.
pub trait SortField: Copy + Sized + 'static {
    /// Every sortable field.
    const ALL: &'static [Self];
    /// The public name (as in `?ordering=name`).
    fn name(self) -> &'static str;
    /// The field for a public name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }
    #[doc(hidden)]
    fn column(self) -> &'static str;
}

macro_rules! sort_fields {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => ($public:literal, $column:literal)),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $crate::query::SortField for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn name(self) -> &'static str {
                match self { $(Self::$variant => $public),+ }
            }
            fn column(self) -> &'static str {
                match self { $(Self::$variant => $column),+ }
            }
        }
    };
}
pub(crate) use sort_fields;

/// A value bound into a filter.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(i64),
    Bool(bool),
    Text(String),
    Uuid(Uuid),
    Time(DateTime<Utc>),
}

/// One condition of a list's `WHERE`, on a column name chosen by rivo-core (never by input).
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Eq(&'static str, Value),
    AtLeast(&'static str, Value),
    Before(&'static str, Value),
    /// Case-insensitive substring match on any of the columns; `%`, `_` and `\` match literally.
    Search(&'static [&'static str], String),
    /// [`Cond::Search`] served by a trigram index: on SQLite the FTS5 table named here (over
    /// exactly these columns) narrows the candidates, and LIKE decides (so matching is the
    /// same); on PostgreSQL the planner uses the pg_trgm GIN indexes by itself. Holds the
    /// columns, the LIKE pattern, the FTS table and the trimmed search text.
    IndexedSearch(&'static [&'static str], String, &'static str, String),
    /// Keyset paging, newest first: rows strictly after `(column, id)` in
    /// `ORDER BY column DESC, id DESC`, written so that an index on `column` starts there.
    AfterDesc(&'static str, Value, i64),
}

/// Collects conditions from optional filter fields.
#[derive(Debug, Default)]
pub(crate) struct Conds(pub Vec<Cond>);

impl Conds {
    pub fn eq(&mut self, column: &'static str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = value {
            self.0.push(Cond::Eq(column, v.into()));
        }
        self
    }
    pub fn at_least(&mut self, column: &'static str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = value {
            self.0.push(Cond::AtLeast(column, v.into()));
        }
        self
    }
    pub fn before(&mut self, column: &'static str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = value {
            self.0.push(Cond::Before(column, v.into()));
        }
        self
    }
    pub fn search(&mut self, columns: &'static [&'static str], text: Option<&str>) -> &mut Self {
        if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
            self.0.push(Cond::Search(columns, like_pattern(text)));
        }
        self
    }
    /// [`Conds::search`] through the trigram index `fts` (see [`Cond::IndexedSearch`]).
    pub fn indexed_search(
        &mut self,
        fts: &'static str,
        columns: &'static [&'static str],
        text: Option<&str>,
    ) -> &mut Self {
        if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
            self.0.push(Cond::IndexedSearch(
                columns,
                like_pattern(text),
                fts,
                text.to_owned(),
            ));
        }
        self
    }
}

/// An FTS5 phrase query matching `text` as a substring under the trigram tokenizer, or `None`
/// when the text is too short for trigrams (under 3 characters) and only a scan can answer.
pub(crate) fn fts_phrase(text: &str) -> Option<String> {
    (text.chars().count() >= 3).then(|| format!("\"{}\"", text.replace('"', "\"\"")))
}

/// `%text%` with LIKE's metacharacters escaped by `\`.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Value::Uuid(v)
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Time(v)
    }
}

macro_rules! value_from_id {
    ($($id:ty),*) => {$(
        impl From<$id> for Value {
            fn from(v: $id) -> Self {
                Value::Int(v.0)
            }
        }
    )*};
}
value_from_id!(
    crate::RoleId,
    crate::UserId,
    crate::MessageId,
    crate::ClientId,
    crate::ContextId,
    crate::StageChangeId,
    crate::AssignmentId
);
impl From<crate::SessionId> for Value {
    fn from(v: crate::SessionId) -> Self {
        Value::Uuid(v.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_metacharacters() {
        assert_eq!(like_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
    }

    #[test]
    fn page_numbers_convert_to_offsets() {
        assert_eq!(PageRequest::page(3, 20).offset, 40);
        assert_eq!(PageRequest::page(0, 20).offset, 0);
        assert_eq!(
            PageRequest::page(u64::MAX, u32::MAX).clamped_offset(),
            i64::MAX
        );
    }
}
