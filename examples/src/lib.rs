//! Examples of apps embedding rivo-core; run them with `cargo run --example NAME`.
//! This library holds what they share.

/// The database URL from `DATABASE_URL`, or an in-memory SQLite database. Examples run
/// unchanged on PostgreSQL with `DATABASE_URL=postgres://…`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned())
}
