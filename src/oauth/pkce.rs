//! PKCE (RFC 7636) with S256 only, as OAuth 2.1 §4.1.1 recommends; `plain` is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::primitives::secret::constant_time_eq;

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Validates the challenge sent at authorize. The method defaults to `plain` when absent
/// (RFC 7636 §4.3), which is refused like an explicit `plain`.
pub fn validate_code_challenge(challenge: &str, method: Option<&str>) -> Result<(), &'static str> {
    match method {
        Some("S256") => {}
        None | Some("plain") => {
            return Err("code_challenge_method must be S256; plain is not supported")
        }
        Some(_) => return Err("code_challenge_method must be S256"),
    }
    // An S256 challenge is the base64url of a SHA-256 digest: exactly 43 characters.
    if challenge.len() != 43 || !is_pkce_string(challenge) {
        return Err("code_challenge must be the base64url SHA-256 of the verifier (43 characters)");
    }
    Ok(())
}

pub fn validate_code_verifier(verifier: &str) -> bool {
    is_pkce_string(verifier)
}

/// The S256 challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks a verifier against the stored challenge, in constant time.
pub fn verify_pkce(verifier: &str, challenge: &str) -> bool {
    validate_code_verifier(verifier)
        && constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc7636_appendix_b_vector_verifies() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert!(verify_pkce(VERIFIER, CHALLENGE));
    }

    #[test]
    fn a_wrong_verifier_fails() {
        let wrong = format!("{}A", &VERIFIER[..VERIFIER.len() - 1]);
        assert!(!verify_pkce(&wrong, CHALLENGE));
    }

    #[test]
    fn verifiers_outside_the_alphabet_or_length_fail() {
        assert!(!verify_pkce("short", CHALLENGE));
        assert!(!validate_code_verifier(&"a".repeat(129)));
        assert!(!validate_code_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn plain_and_missing_methods_are_refused() {
        assert!(validate_code_challenge(CHALLENGE, Some("S256")).is_ok());
        assert_eq!(
            validate_code_challenge(CHALLENGE, Some("plain")).err(),
            Some("code_challenge_method must be S256; plain is not supported")
        );
        assert_eq!(
            validate_code_challenge(CHALLENGE, None).err(),
            Some("code_challenge_method must be S256; plain is not supported")
        );
        assert_eq!(
            validate_code_challenge(CHALLENGE, Some("S512")).err(),
            Some("code_challenge_method must be S256")
        );
    }

    #[test]
    fn malformed_challenges_are_refused() {
        assert_eq!(
            validate_code_challenge("abc", Some("S256")).err(),
            Some("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
        );
        assert_eq!(
            validate_code_challenge(&"a".repeat(44), Some("S256")).err(),
            Some("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
        );
    }
}
