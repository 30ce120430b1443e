//! Passwords: Django's validation rules, argon2 hashing on a bounded pool of threads, and
//! verification of argon2 and imported Django hashes.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use crate::error::{Error, Result, Rule, ValidationErrors};

/// Minimum password length (Django's `MinimumLengthValidator` default).
pub const PASSWORD_MIN_LENGTH: usize = 8;

/// The 20,000 common passwords Django's `CommonPasswordValidator` refuses (see
/// `data/README.md`), looked up case-insensitively.
fn is_common_password(password: &str) -> bool {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    COMMON
        .get_or_init(|| {
            include_str!("../../data/common-passwords.txt")
                .lines()
                .collect()
        })
        .contains(password.trim().to_lowercase().as_str())
}

/// Checks a password the way Django's four default validators do: at least
/// [`PASSWORD_MIN_LENGTH`] characters, not a common password, not entirely numeric, and not
/// too similar to the user's email, username or names.
///
/// ```
/// use rivo_core::accounts::check_password;
/// assert!(check_password("correct horse battery", &["ann@example.com"]).is_ok());
/// assert!(check_password("short", &[]).is_err());
/// assert!(check_password("annsmith1", &["annsmith@example.com"]).is_err());
/// ```
pub fn check_password(password: &str, user_attributes: &[&str]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if password.chars().count() < PASSWORD_MIN_LENGTH {
        problems.push(format!(
            "This password is too short. It must contain at least {PASSWORD_MIN_LENGTH} characters."
        ));
    }
    let lower = password.to_lowercase();
    if is_common_password(password) {
        problems.push("This password is too common.".to_owned());
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_owned());
    }
    let similar = user_attributes.iter().any(|attr| {
        let attr = attr.to_lowercase();
        attr.split(['@', '.', '+', '-', '_', ' '])
            .chain(std::iter::once(attr.as_str()))
            .filter(|part| part.chars().count() >= 3)
            .any(|part| {
                lower.contains(part) || (lower.chars().count() >= 3 && part.contains(&lower))
            })
    });
    if similar {
        problems.push("The password is too similar to your personal information.".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

pub(super) fn password_errors(
    errors: &mut ValidationErrors,
    field: &'static str,
    password: &str,
    attrs: &[&str],
) {
    if let Err(problems) = check_password(password, attrs) {
        for p in problems {
            errors.add(field, Rule::Password(p));
        }
    }
}

/// How many password hashes (argon2 takes 19 MiB each, pbkdf2 a core for a while) may run at
/// once in this process; further ones wait in line. `0` (the default): one per core.
static MAX_CONCURRENT_HASHES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Bounds the password hashes that run at once in this process (argon2 needs 19 MiB of memory
/// per hash, so 200 concurrent logins would otherwise need 4 GB); the others wait for a turn on
/// a fixed set of hashing threads. `0` means one per core (the default). Takes effect only
/// before the first hash.
pub fn set_max_concurrent_hashes(max: usize) {
    MAX_CONCURRENT_HASHES.store(max, std::sync::atomic::Ordering::Relaxed);
}

type HashJob = Box<dyn FnOnce() + Send>;

/// The hashing threads: a fixed set (one per permitted hash), started at the first hash and
/// kept for the life of the process. Fixed threads matter for memory: glibc keeps an arena per
/// thread and does not give a freed 19 MiB argon2 buffer back to the system, so hashing on
/// ever-changing blocking threads left up to 16 arenas × 19 MiB allocated (500 MB after 200
/// logins); with fixed threads at most one buffer per thread stays.
fn hashing_threads() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<HashJob>> {
    static THREADS: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>> =
        std::sync::OnceLock::new();
    THREADS.get_or_init(|| {
        let configured = MAX_CONCURRENT_HASHES.load(std::sync::atomic::Ordering::Relaxed);
        let threads = if configured == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            configured
        }
        .min(1024);
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rivo-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        std::sync::Mutex::new(tx)
    })
}

/// Hashes running now and the most seen at once (for the test of the bound).
#[cfg(test)]
static HASHES_RUNNING: (
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicUsize,
) = (
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
);

/// Runs a password hash or check on one of the hashing threads (queued until one is free).
pub(super) async fn hashing<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering;
            let now = HASHES_RUNNING.0.fetch_add(1, Ordering::SeqCst) + 1;
            HASHES_RUNNING.1.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        #[cfg(test)]
        HASHES_RUNNING
            .0
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        let _ = done.send(out);
    });
    hashing_threads()
        .lock()
        .map_err(|_| Error::Internal(format!("{what} unavailable")))?
        .send(job)
        .map_err(|_| Error::Internal(format!("{what} threads are gone")))?;
    match result.await {
        Ok(Ok(out)) => Ok(out),
        _ => Err(Error::Internal(format!("{what} task failed"))),
    }
}

/// Hashes a password with argon2 (default parameters, random salt) on a blocking thread, so the
/// async runtime is never held up; at most [`set_max_concurrent_hashes`] at once.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    hashing("password hashing", move || {
        hash_password_blocking(&password)
    })
    .await?
}

fn hash_password_blocking(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash on a blocking thread, at most
/// [`set_max_concurrent_hashes`] at once. Unusable or unknown hashes never match.
pub async fn verify_password(password: &str, stored_hash: &str) -> Result<bool> {
    let password = password.to_owned();
    let stored = stored_hash.to_owned();
    hashing("password check", move || {
        verify_password_blocking(&password, &stored)
    })
    .await
}

/// Rivo's argon2 PHC strings, and the hashes of the original Django app (`pbkdf2_sha256$…`,
/// `argon2$argon2id$…`) so imported logins keep working. `!…` (unusable) never matches.
pub(super) fn verify_password_blocking(password: &str, stored_hash: &str) -> bool {
    use crate::django_hash::{self, HashKind};
    match django_hash::kind(stored_hash) {
        HashKind::Argon2 => match PasswordHash::new(stored_hash) {
            Ok(hash) => Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        },
        HashKind::DjangoPbkdf2 => django_hash::verify_pbkdf2_sha256(password, stored_hash),
        HashKind::DjangoArgon2 => django_hash::verify_django_argon2(password, stored_hash),
        HashKind::Unusable | HashKind::Unsupported => false,
    }
}

/// Whether some password can match this stored hash: rivo's argon2, or a Django
/// `pbkdf2_sha256$…`/`argon2$…` hash. `false` for Django's unusable passwords (`!…`), empty
/// hashes and hashers rivo does not support (bcrypt, md5, …).
///
/// ```
/// use rivo_core::accounts::is_usable_hash;
/// assert!(is_usable_hash("pbkdf2_sha256$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4="));
/// assert!(!is_usable_hash("!Yq0Tf2d1Ut3dYJJqQcBn6ZkdV4aVxL0dGg0Z9EYr"));
/// assert!(!is_usable_hash("md5$salt$0123456789abcdef"));
/// ```
pub fn is_usable_hash(stored_hash: &str) -> bool {
    use crate::django_hash::{self, HashKind};
    !matches!(
        django_hash::kind(stored_hash),
        HashKind::Unusable | HashKind::Unsupported
    )
}

/// Whether a stored hash that just matched should be replaced by rivo's argon2 (Django's hasher
/// upgrade): every usable hash that is not rivo's own argon2 PHC string.
pub(super) fn needs_rehash(stored_hash: &str) -> bool {
    use crate::django_hash::{self, HashKind};
    matches!(
        django_hash::kind(stored_hash),
        HashKind::DjangoPbkdf2 | HashKind::DjangoArgon2
    )
}

/// A hash no password matches, for accounts without a usable password (Django's `!` prefix).
pub(crate) fn unusable_password() -> String {
    format!("!{}", uuid::Uuid::new_v4().simple())
}

/// A real argon2 hash to check against when the email is unknown, so that a wrong email takes
/// as long as a wrong password.
pub(super) fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password_blocking("rivo-timing-equaliser").unwrap_or_else(|_| unusable_password())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_password("12345678901", &[]).is_err());
        assert!(check_password("Password", &[]).is_err());
        // From Django's list, not only the obvious ones.
        assert!(check_password("Sunshine1", &[]).unwrap_err()[0].contains("too common"));
        assert!(check_password("letmein123", &[]).is_err());
        assert!(check_password("a reasonably long one", &[]).is_ok());
        let problems = check_password("abc", &[]).unwrap_err();
        assert!(problems[0].contains("at least 8"));
        assert!(check_password("a reasonably long one", &["bob@example.com", "bob"]).is_ok());
    }

    /// Issue 15, finding 11: 64 concurrent password checks never run more hashes at once than
    /// the bound (one per core), whatever else the test binary is hashing meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_hashing_is_bounded_by_the_cores() {
        let hash = hash_password("bounded").await.unwrap();
        let checks: Vec<_> = (0..64)
            .map(|_| {
                let hash = hash.clone();
                tokio::spawn(async move { verify_password("wrong", &hash).await })
            })
            .collect();
        for check in checks {
            assert!(!check.await.unwrap().unwrap());
        }
        let bound = std::thread::available_parallelism().map_or(2, |n| n.get());
        let peak = HASHES_RUNNING.1.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            peak >= 1 && peak <= bound,
            "{peak} hashes ran at once (bound {bound})"
        );
    }

    #[test]
    fn hashes_are_argon2_and_verify() {
        let hash = hash_password_blocking("secret words").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password_blocking("secret words", &hash));
        assert!(!verify_password_blocking("other", &hash));
        assert!(!verify_password_blocking("x", &unusable_password()));
    }
}
