//! New challenges ([`super::challenge`]): their id, code and link drawn from the [`Rng`] port.

use super::challenge::*;
use crate::error::StoreError;
use crate::ports::Rng;
use crate::primitives::hash::sha256_hex;
use crate::web::session::SealKey;

/// What a new challenge sends: the code and the link's token, in the clear only in its mail.
pub struct Secrets {
    pub code: String,
    pub link_token: String,
}

/// A new challenge and what its mail carries. `real`: whether the mail will hold the code and
/// link at all. An address that cannot use them (an account already exists at a sign-up, none
/// exists at a reset) gets a challenge whose secrets nobody is told, so that the stored work,
/// the answer and its timing are the same either way (no enumeration).
pub fn new_challenge(
    rng: &impl Rng,
    key: SealKey<'_>,
    purpose: Purpose,
    email: &str,
    issuer: &str,
    now: i64,
) -> Result<(EmailChallenge, Secrets), StoreError> {
    let id = format!("ech_{}", random_b64(rng, 16)?);
    let code = six_digits(rng)?;
    let link_token = random_b64(rng, 32)?;
    let ttl = match purpose {
        Purpose::Reset => RESET_TTL_SECS,
        Purpose::Invite => INVITATION_TTL_SECS,
        Purpose::SignUp | Purpose::SignIn | Purpose::EmailChange => CODE_TTL_SECS,
    };
    let challenge = EmailChallenge {
        code_hash: code_digest(key, &id, &code),
        link_hash: sha256_hex(&link_token),
        id,
        purpose,
        email: email.to_ascii_lowercase(),
        user_id: None,
        issuer: issuer.to_string(),
        attempts: 0,
        pending: Pending::default(),
        session_epoch: None,
        created_at: now,
        expires_at: now + ttl,
        used_at: None,
    };
    Ok((challenge, Secrets { code, link_token }))
}

/// Six decimal digits, uniform: rejection sampling, so no code is likelier than another.
fn six_digits(rng: &impl Rng) -> Result<String, StoreError> {
    const BOUND: u32 = u32::MAX - (u32::MAX % 1_000_000);
    loop {
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes)?;
        let n = u32::from_le_bytes(bytes);
        if n < BOUND {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

fn random_b64(rng: &impl Rng, len: usize) -> Result<String, StoreError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut buf = vec![0u8; len];
    rng.fill(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Bytes from a counter: deterministic, different every call.
    struct Counting(Cell<u8>);
    impl Rng for Counting {
        fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
            for b in buf {
                self.0.set(self.0.get().wrapping_add(37));
                *b = self.0.get();
            }
            Ok(())
        }
    }

    const KEY: SealKey<'static> =
        SealKey::new(b"0123456789abcdef0123456789abcdef", "https://a.example");

    #[test]
    fn a_code_matches_only_its_own_challenge_and_is_kept_as_a_digest() {
        let rng = Counting(Cell::new(0));
        let (c, s) = new_challenge(
            &rng,
            KEY,
            Purpose::SignUp,
            "Ann@Example.com",
            "https://a.example",
            100,
        )
        .unwrap();
        assert_eq!(c.email, "ann@example.com");
        assert_eq!(s.code.len(), 6);
        assert!(!c.code_hash.contains(&s.code));
        assert!(code_matches(KEY, &c, &s.code));
        assert!(code_matches(
            KEY,
            &c,
            &format!(" {} {} ", &s.code[..3], &s.code[3..])
        ));
        let (other, other_secrets) = new_challenge(
            &rng,
            KEY,
            Purpose::SignUp,
            "ann@example.com",
            "https://a.example",
            100,
        )
        .unwrap();
        assert_ne!(other_secrets.code, s.code);
        assert!(!code_matches(KEY, &other, &s.code));
        let elsewhere = SealKey::new(b"0123456789abcdef0123456789abcdef", "https://b.example");
        assert!(!code_matches(elsewhere, &c, &s.code));
        assert_eq!(
            link_digest(&s.link_token).as_deref(),
            Some(c.link_hash.as_str())
        );
        assert_eq!(c.expires_at, 100 + CODE_TTL_SECS);
    }

    #[test]
    fn codes_are_spread_over_every_digit() {
        let rng = Counting(Cell::new(3));
        let mut seen = [0u32; 10];
        for _ in 0..2000 {
            for d in six_digits(&rng).unwrap().bytes() {
                seen[(d - b'0') as usize] += 1;
            }
        }
        assert!(seen.iter().all(|n| *n > 600), "{seen:?}");
    }

    #[test]
    fn a_challenge_is_open_once_before_it_expires_and_only_where_it_was_sent() {
        let rng = Counting(Cell::new(9));
        let (mut c, _) = new_challenge(
            &rng,
            KEY,
            Purpose::Reset,
            "a@b.example",
            "https://a.example",
            0,
        )
        .unwrap();
        assert_eq!(c.expires_at, RESET_TTL_SECS);
        assert!(c.is_open("https://a.example", RESET_TTL_SECS - 1));
        assert!(!c.is_open("https://a.example", RESET_TTL_SECS));
        assert!(!c.is_open("https://b.example", 1));
        c.used_at = Some(5);
        assert!(!c.is_open("https://a.example", 6));
    }
}
