//! Signing a delivery and verifying a signature (what a receiver does).

use hmac::{KeyInit, Mac};

use super::model::hex;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// The `Rivo-Signature` header value for `body` signed at `timestamp`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Why [`verify_signature`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix seconds>,v1=<hex>[,v1=…]`.
    #[error("malformed Rivo-Signature header")]
    Malformed,
    /// The timestamp is further than the tolerance from now (a replay, or a wrong clock).
    #[error("the signature timestamp is outside the tolerance")]
    Expired,
    /// No `v1` signature matches.
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies a `Rivo-Signature` header against the raw request body: recomputes the HMAC,
/// compares it in constant time with each `v1` value, and refuses a timestamp more than
/// `tolerance_secs` away from `now_secs` (Unix seconds).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> std::result::Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Expired);
    }
    for sig in signatures {
        let Some(bytes) = unhex(sig) else { continue };
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Malformed)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

pub(super) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_refuse() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header("whsec_test", 1_700_000_000, body);
        assert_eq!(
            verify_signature("whsec_test", &header, body, 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature("whsec_other", &header, body, 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("whsec_test", &header, b"{}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("whsec_test", &header, body, 1_700_001_000, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature("whsec_test", "v1=ab", body, 1_700_000_000, 300),
            Err(SignatureError::Malformed)
        );
        // A known vector: HMAC-SHA256("key", "1.{}").
        assert_eq!(sign("key", 1, b"{}").len(), 64);
    }
}
