//! Password hashes written by the original Django app, so imported logins keep working.
//!
//! Django stores `pbkdf2_sha256$<iterations>$<salt>$<base64 digest>` by default (and
//! `argon2$argon2id$…` when its Argon2 hasher is enabled); a hash starting with `!` is Django's
//! "unusable password" and never matches. Rivo verifies these and replaces them with its own
//! argon2 hash at the first successful login (see [`Store::authenticate`](crate::Store::authenticate)).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

/// The algorithm prefix of Django's default hasher.
pub(crate) const PBKDF2_SHA256: &str = "pbkdf2_sha256";

/// What a stored hash is, as far as logging in goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashKind {
    /// Rivo's own argon2 PHC string (`$argon2id$…`).
    Argon2,
    /// Django's `pbkdf2_sha256$…`.
    DjangoPbkdf2,
    /// Django's `argon2$argon2id$…` (a PHC string with `argon2` in front).
    DjangoArgon2,
    /// Django's unusable password (`!…`), or an empty one.
    Unusable,
    /// Something else (another Django hasher such as bcrypt or md5, or garbage).
    Unsupported,
}

/// Classifies a stored hash without checking any password.
pub(crate) fn kind(stored: &str) -> HashKind {
    if stored.is_empty() || stored.starts_with('!') {
        HashKind::Unusable
    } else if stored.starts_with("$argon2") {
        match argon2::PasswordHash::new(stored) {
            Ok(_) => HashKind::Argon2,
            Err(_) => HashKind::Unsupported,
        }
    } else if let Some(phc) = stored.strip_prefix("argon2") {
        match argon2::PasswordHash::new(phc) {
            Ok(_) => HashKind::DjangoArgon2,
            Err(_) => HashKind::Unsupported,
        }
    } else if parse_pbkdf2(stored).is_some() {
        HashKind::DjangoPbkdf2
    } else {
        HashKind::Unsupported
    }
}

/// The algorithm name of a stored hash: the part before the first `$` (`pbkdf2_sha256`,
/// `bcrypt_sha256`, `md5`…), `argon2` for rivo's own, or `unusable`.
pub(crate) fn algorithm(stored: &str) -> &str {
    if stored.is_empty() || stored.starts_with('!') {
        return "unusable";
    }
    if stored.starts_with("$argon2") {
        return "argon2";
    }
    stored.split('$').next().unwrap_or_default()
}

/// `(iterations, salt, digest)` of a well-formed `pbkdf2_sha256` hash.
fn parse_pbkdf2(stored: &str) -> Option<(u32, &str, Vec<u8>)> {
    let mut parts = stored.split('$');
    let (Some(algorithm), Some(iterations), Some(salt), Some(digest), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if algorithm != PBKDF2_SHA256 || salt.is_empty() {
        return None;
    }
    let iterations: u32 = iterations.parse().ok().filter(|&n| n > 0)?;
    let digest = STANDARD.decode(digest).ok().filter(|d| !d.is_empty())?;
    Some((iterations, salt, digest))
}

/// Checks `password` against a Django `pbkdf2_sha256$…` hash in constant time. Malformed hashes
/// never match. CPU-bound (hundreds of thousands of rounds): call it on a blocking thread.
pub(crate) fn verify_pbkdf2_sha256(password: &str, stored: &str) -> bool {
    let Some((iterations, salt, expected)) = parse_pbkdf2(stored) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut computed,
    );
    computed.ct_eq(&expected).into()
}

/// Checks `password` against a Django `argon2$argon2id$…` hash.
pub(crate) fn verify_django_argon2(password: &str, stored: &str) -> bool {
    use argon2::{Argon2, PasswordHash, PasswordVerifier};
    let Some(phc) = stored.strip_prefix("argon2") else {
        return false;
    };
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated with Python:
    // base64.b64encode(hashlib.pbkdf2_hmac('sha256', pw, salt, iterations)).decode()
    const PW_SALT_1000: &str =
        "pbkdf2_sha256$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=";
    const UNICODE_1000: &str =
        "pbkdf2_sha256$1000$AbCdEf123456$dAEZ0tXcskC3i8FMCkAzSBuJkEw95b0kMZ/bu9ssqQU=";
    /// Django 5.1's default iteration count.
    const REALISTIC_870000: &str =
        "pbkdf2_sha256$870000$q8Vr2sYtXn0LwK5m$HSf1+fkVBXTaCD8wmNgqnm7ciPdIsrJsr5XM7YqfjWs=";

    #[test]
    fn django_pbkdf2_hashes_verify() {
        assert!(verify_pbkdf2_sha256("pw", PW_SALT_1000));
        assert!(!verify_pbkdf2_sha256("pw ", PW_SALT_1000));
        assert!(!verify_pbkdf2_sha256("PW", PW_SALT_1000));
        assert!(verify_pbkdf2_sha256("correct horse ✓", UNICODE_1000));
        assert!(!verify_pbkdf2_sha256("correct horse", UNICODE_1000));
        assert!(verify_pbkdf2_sha256("Old Django pass 42", REALISTIC_870000));
        assert_eq!(kind(REALISTIC_870000), HashKind::DjangoPbkdf2);
    }

    #[test]
    fn malformed_and_unusable_hashes_never_match() {
        for bad in [
            "",
            "!",
            "!pbkdf2_sha256$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=",
            "pbkdf2_sha256$0$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=",
            "pbkdf2_sha256$x$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=",
            "pbkdf2_sha256$1000$$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=",
            "pbkdf2_sha256$1000$salt$not base64!",
            "pbkdf2_sha256$1000$salt$",
            "pbkdf2_sha256$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=$extra",
            "pbkdf2_sha1$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=",
        ] {
            assert!(!verify_pbkdf2_sha256("pw", bad), "{bad:?} matched");
        }
        assert_eq!(kind("!abc"), HashKind::Unusable);
        assert_eq!(kind(""), HashKind::Unusable);
        assert_eq!(kind("md5$salt$abc"), HashKind::Unsupported);
        assert_eq!(algorithm("bcrypt_sha256$$2b$12$abc"), "bcrypt_sha256");
        assert_eq!(algorithm("!x"), "unusable");
        assert_eq!(algorithm(PW_SALT_1000), PBKDF2_SHA256);
    }

    #[test]
    fn django_argon2_is_a_prefixed_phc_string() {
        use argon2::{Argon2, PasswordHasher};
        let phc = Argon2::default()
            .hash_password(b"long secret words")
            .unwrap()
            .to_string();
        assert_eq!(kind(&phc), HashKind::Argon2);
        assert_eq!(algorithm(&phc), "argon2");
        let django = format!("argon2{phc}");
        assert_eq!(kind(&django), HashKind::DjangoArgon2);
        assert!(verify_django_argon2("long secret words", &django));
        assert!(!verify_django_argon2("other", &django));
    }
}
