use super::hosts::strip_port;
use super::redact_url;

#[test]
fn redacts_passwords() {
    assert_eq!(
        redact_url("postgres://rivo:s3cret@db:5432/rivo?sslmode=require"),
        "postgres://rivo:***@db:5432/rivo?sslmode=require"
    );
    assert_eq!(
        redact_url("postgres://db/rivo?user=x&password=s3cret"),
        "postgres://db/rivo?user=x&password=***"
    );
    assert_eq!(
        redact_url("sqlite://rivo.sqlite3?mode=rwc"),
        "sqlite://rivo.sqlite3?mode=rwc"
    );
}

#[test]
fn strips_ports() {
    assert_eq!(strip_port("example.com:5000"), "example.com");
    assert_eq!(strip_port("[::1]:5000"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
    assert_eq!(strip_port("example.com"), "example.com");
}
