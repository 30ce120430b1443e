-- Issue 15, finding 7: one email identity on both backends. `email_key` holds
-- rivo_core::email_identity(email) (NFKC, Unicode lowercase, NFKC), computed in Rust: SQL's
-- lower() is ASCII-only on SQLite and locale-dependent on PostgreSQL. Existing rows are filled
-- by Store::migrate right after this migration (NULLs do not collide in a unique index).
ALTER TABLE users ADD COLUMN email_key TEXT;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_identity ON users (email_key);
