//! Password hashes: PBKDF2-HMAC-SHA256, computed by WebCrypto on the edge.
//!
//! Format: `pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>`. 100,000 iterations is the
//! ceiling Workers' WebCrypto accepts for PBKDF2 (OWASP's 2023 figure is 600,000: the platform,
//! not a choice, bounds it). A verification costs roughly 30–60 ms of native CPU, so login
//! attempts are also throttled per email and per IP.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::ports::{PasswordHasher, StoreError};
use crate::primitives::secret::constant_time_eq;

pub const PBKDF2_ITERATIONS: u32 = 100_000;
pub const SALT_BYTES: usize = 16;
/// Minimum length of a new password (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, to bound the work per attempt.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A parsed stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

pub fn parse_password_hash(stored: &str) -> Option<PasswordHash> {
    let mut parts = stored.split('$');
    if parts.next()? != "pbkdf2-sha256" {
        return None;
    }
    let iterations: u32 = parts.next()?.parse().ok()?;
    let salt = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    let hash = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    if parts.next().is_some()
        || iterations == 0
        || iterations > PBKDF2_ITERATIONS
        || hash.len() != 32
        || salt.len() < 8
    {
        return None;
    }
    Some(PasswordHash {
        iterations,
        salt,
        hash,
    })
}

pub fn format_password_hash(iterations: u32, salt: &[u8], hash: &[u8]) -> String {
    format!(
        "pbkdf2-sha256${iterations}${}${}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(hash)
    )
}

/// Checks a password against a stored hash. With no stored hash (unknown user, or a user without
/// a password) it still spends one derivation, so timing does not tell which emails exist.
pub async fn verify_password(
    hasher: &impl PasswordHasher,
    password: &str,
    stored: Option<&str>,
) -> Result<bool, StoreError> {
    let parsed = stored.and_then(parse_password_hash);
    match parsed {
        Some(p) if password.len() <= MAX_PASSWORD_BYTES => {
            let derived = hasher
                .pbkdf2_sha256(password, &p.salt, p.iterations)
                .await?;
            Ok(constant_time_eq(&derived, &p.hash))
        }
        _ => {
            let _ = hasher
                .pbkdf2_sha256(
                    "timing equaliser",
                    b"portcullis-dummy-salt",
                    PBKDF2_ITERATIONS,
                )
                .await?;
            Ok(false)
        }
    }
}

/// A new password's stored form: PBKDF2-SHA256 over a fresh random salt.
pub async fn hash_password(
    backend: &(impl PasswordHasher + crate::ports::Rng),
    password: &str,
) -> Result<String, StoreError> {
    let mut salt = [0u8; SALT_BYTES];
    backend.fill(&mut salt)?;
    let hash = backend
        .pbkdf2_sha256(password, &salt, PBKDF2_ITERATIONS)
        .await?;
    Ok(format_password_hash(PBKDF2_ITERATIONS, &salt, &hash))
}

/// Why a chosen password is refused, for the page that asked for it.
pub fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(format!(
            "Choose a password of at least {MIN_PASSWORD_CHARS} characters."
        ))
    } else if password.len() > MAX_PASSWORD_BYTES {
        Some(format!(
            "Choose a password of at most {MAX_PASSWORD_BYTES} bytes."
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_their_format() {
        let text = format_password_hash(100_000, &[1; 16], &[2; 32]);
        let parsed = parse_password_hash(&text).unwrap();
        assert_eq!(parsed.iterations, 100_000);
        assert_eq!(parsed.salt, vec![1; 16]);
    }

    #[test]
    fn malformed_hashes_do_not_parse() {
        for bad in [
            "",
            "bcrypt$1$a$b",
            "pbkdf2-sha256$0$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pbkdf2-sha256$999999999$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
            "pbkdf2-sha256$1000$!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(parse_password_hash(bad).is_none(), "{bad}");
        }
    }
}
