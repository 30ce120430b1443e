//! `rivo-server createsuperuser` and `rivo-server changepassword`, run as a script would: the
//! password from the environment, the database from `DATABASE_URL`.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

use std::process::{Command, Output};

use rivo_core::Store;

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let url = format!("sqlite://{}?mode=rwc", dir.join("rivo.sqlite3").display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rivo-server"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn createsuperuser_and_changepassword_work_from_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["createsuperuser", "--email", "root@example.com"],
        &[("RIVO_SUPERUSER_PASSWORD", "a long enough passphrase")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Superuser root@example.com"));

    // The same email again is refused with a clear message.
    let again = run(
        dir.path(),
        &[
            "createsuperuser",
            "--email",
            "ROOT@example.com",
            "--username",
            "other",
        ],
        &[("RIVO_SUPERUSER_PASSWORD", "a long enough passphrase")],
    );
    assert!(!again.status.success());
    assert!(stderr(&again).contains("email"), "{}", stderr(&again));

    // A weak password is refused with Django's messages, and nothing is created.
    let weak = run(
        dir.path(),
        &["createsuperuser", "--email", "weak@example.com"],
        &[("RIVO_SUPERUSER_PASSWORD", "123")],
    );
    assert!(!weak.status.success());
    assert!(stderr(&weak).contains("too short"), "{}", stderr(&weak));

    let changed = run(
        dir.path(),
        &["changepassword", "root@example.com"],
        &[("RIVO_PASSWORD", "a brand new passphrase")],
    );
    assert!(changed.status.success(), "{}", stderr(&changed));
    let unknown = run(
        dir.path(),
        &["changepassword", "nobody@example.com"],
        &[("RIVO_PASSWORD", "a brand new passphrase")],
    );
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("nobody@example.com"));

    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("rivo.sqlite3").display()
    );
    let store = Store::open(&url).await.unwrap();
    let root = store
        .authenticate("root@example.com", "a brand new passphrase")
        .await
        .unwrap();
    assert!(root.is_superuser && root.is_staff && root.is_active);
    assert_eq!(root.username, "root");
    assert!(
        store
            .authenticate("root@example.com", "a long enough passphrase")
            .await
            .is_err()
    );
    assert!(store.user_by_email("weak@example.com").await.is_err());
}
