//! The account and admin API, one binary with a module per topic: authentication (tokens,
//! cookie sessions with CSRF, throttle), the permission matrix over every admin route, DRF
//! pagination, search, ordering and filters, users, transactional stage changes and
//! assignments under concurrency, and the audit log.
//! Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod auth;
mod clients;
mod lists;
mod permissions;
mod users;
