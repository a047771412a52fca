//! Recovery codes, pure: the ten single-use codes a person keeps for when their second factor is
//! lost, made from the random source, shown once, stored only as SHA-256 hashes, and checked
//! against the stored set.
//!
//! A code is twelve characters of Crockford's base32 (`0`–`9` and the letters but `i`, `l`, `o`,
//! `u`), shown as `xxxx-xxxx-xxxx`: 60 random bits. The alphabet has no two characters that look
//! alike, and what a person may type for one is read as it (`o` as `0`, `i` and `l` as `1`), as
//! are upper case, dashes and spaces. A code is good once: [`verify_recovery_code`] returns the
//! hash that matched, and the caller deletes it in the same store call that accepts it.

use crate::error::StoreError;
use crate::ports::Rng;
use crate::primitives::hash::sha256_hex;
use crate::primitives::secret::{constant_time_eq, Secret};

/// Codes made at once: enough for years of lost phones, few enough to print.
pub const RECOVERY_CODES: usize = 10;

/// Characters of a code: 12 × 5 = 60 random bits. Online guessing is throttled; offline, each
/// hash takes some 2^59 SHA-256 evaluations on average to reverse.
pub const CODE_CHARS: usize = 12;

/// Crockford's base32 alphabet, in lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Longest text read as a code: a code with a space round every character, and some.
const MAX_TYPED_LEN: usize = 64;

/// New recovery codes: the codes to show the person once, and the hashes to store in their place
/// (in the same order).
#[derive(Debug)]
pub struct RecoveryCodes {
    /// Each as `xxxx-xxxx-xxxx`.
    pub codes: Vec<Secret>,
    /// The SHA-256 hex of each code's canonical form (twelve lower-case characters, no dashes).
    pub hashes: Vec<String>,
}

/// Why a recovery code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryRefusal {
    /// Not twelve characters of the alphabet once case, dashes and spaces are set aside.
    Malformed,
    /// Not one of the stored codes (never one, or used already).
    Unknown,
}

/// [`RECOVERY_CODES`] new codes from the random source. Fails if the source fails, or repeats a
/// code (which only a broken source does: two of ten 60-bit codes meet once in some 10^16 sets).
pub fn generate_recovery_codes(rng: &impl Rng) -> Result<RecoveryCodes, StoreError> {
    let mut random = [0u8; RECOVERY_CODES * CODE_CHARS];
    rng.fill(&mut random)?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes: Vec<String> = Vec::with_capacity(RECOVERY_CODES);
    for chunk in random.chunks_exact(CODE_CHARS) {
        // 256 is a multiple of 32: the low five bits of a uniform byte are uniform.
        let canonical: String = chunk
            .iter()
            .map(|&b| char::from(ALPHABET[usize::from(b & 31)]))
            .collect();
        let hash = sha256_hex(&canonical);
        if hashes.contains(&hash) {
            return Err(StoreError::unavailable(
                "the random source repeated a recovery code",
            ));
        }
        hashes.push(hash);
        codes.push(Secret::new(grouped(&canonical)));
    }
    Ok(RecoveryCodes { codes, hashes })
}

/// `xxxxxxxxxxxx` as `xxxx-xxxx-xxxx`.
fn grouped(canonical: &str) -> String {
    let mut out = String::with_capacity(CODE_CHARS + 2);
    for (i, c) in canonical.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// A typed code in canonical form: lower case, without dashes and whitespace, `o` read as `0`
/// and `i`, `l` as `1`. `None` unless that leaves twelve characters of the alphabet.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    if typed.len() > MAX_TYPED_LEN {
        return None;
    }
    let mut canonical = String::with_capacity(CODE_CHARS);
    for byte in typed.bytes() {
        let c = match byte.to_ascii_lowercase() {
            b'-' => continue,
            b if b.is_ascii_whitespace() => continue,
            b'o' => b'0',
            b'i' | b'l' => b'1',
            b if ALPHABET.contains(&b) => b,
            _ => return None,
        };
        canonical.push(char::from(c));
    }
    (canonical.len() == CODE_CHARS).then_some(canonical)
}

/// The hash a typed code is stored and looked up as; `None` when it is malformed.
pub fn hash_recovery_code(typed: &str) -> Option<String> {
    normalize_recovery_code(typed).map(|canonical| sha256_hex(&canonical))
}

/// Checks a typed code against the stored hashes, and returns the one it matched, for the caller
/// to delete (the code is then spent). Every stored hash is compared, in constant time, whichever
/// matches.
pub fn verify_recovery_code<'a, S: AsRef<str>>(
    typed: &str,
    stored: &'a [S],
) -> Result<&'a str, RecoveryRefusal> {
    let hash = hash_recovery_code(typed).ok_or(RecoveryRefusal::Malformed)?;
    let mut matched = None;
    for candidate in stored {
        let candidate = candidate.as_ref();
        if constant_time_eq(candidate.as_bytes(), hash.as_bytes()) {
            matched = Some(candidate);
        }
    }
    matched.ok_or(RecoveryRefusal::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::cases::Cases;
    use std::cell::RefCell;

    /// A random source from the test generator.
    struct Seeded(RefCell<Cases>);

    impl Rng for Seeded {
        fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
            let mut cases = self.0.borrow_mut();
            buf.iter_mut().for_each(|b| *b = cases.number() as u8);
            Ok(())
        }
    }

    /// A source that gives the same bytes every time.
    struct Stuck;

    impl Rng for Stuck {
        fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
            buf.fill(7);
            Ok(())
        }
    }

    struct Broken;

    impl Rng for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), StoreError> {
            Err(StoreError::unavailable("no randomness"))
        }
    }

    fn seeded(seed: u64) -> RecoveryCodes {
        generate_recovery_codes(&Seeded(RefCell::new(Cases::new(seed)))).unwrap()
    }

    #[test]
    fn ten_codes_are_made_each_of_twelve_characters_in_three_groups() {
        let made = seeded(1);
        assert_eq!(made.codes.len(), 10);
        assert_eq!(made.hashes.len(), 10);
        for (code, hash) in made.codes.iter().zip(&made.hashes) {
            let code = code.expose();
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            assert!(groups.iter().all(|g| g.len() == 4), "{code}");
            assert!(code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
            assert_eq!(hash, &sha256_hex(&code.replace('-', "")));
            assert_eq!(hash.len(), 64);
        }
    }

    #[test]
    fn the_codes_are_never_printed() {
        let made = seeded(2);
        let printed = format!("{made:?}");
        for code in &made.codes {
            assert!(!printed.contains(code.expose()), "{printed}");
        }
    }

    #[test]
    fn every_character_of_the_alphabet_is_used_evenly() {
        let mut counts = [0usize; 32];
        for seed in 1..=200 {
            for code in seeded(seed).codes {
                for b in code.expose().bytes().filter(|&b| b != b'-') {
                    let at = ALPHABET.iter().position(|&a| a == b).unwrap();
                    counts[at] += 1;
                }
            }
        }
        // 24,000 characters, 750 expected of each.
        assert!(
            counts.iter().all(|&n| (600..=900).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_alphabet_has_no_look_alikes() {
        for b in [b'i', b'l', b'o', b'u'] {
            assert!(!ALPHABET.contains(&b));
        }
        assert_eq!(ALPHABET.len(), 32);
    }

    #[test]
    fn a_failing_or_repeating_random_source_makes_no_codes() {
        assert!(generate_recovery_codes(&Broken).is_err());
        assert!(generate_recovery_codes(&Stuck).is_err());
    }

    #[test]
    fn each_code_matches_its_own_hash() {
        let made = seeded(3);
        for (code, hash) in made.codes.iter().zip(&made.hashes) {
            assert_eq!(
                verify_recovery_code(code.expose(), &made.hashes),
                Ok(hash.as_str())
            );
        }
    }

    #[test]
    fn a_code_is_read_whatever_its_case_dashes_and_spaces() {
        let hashes = [sha256_hex("0123456789ab")];
        for typed in [
            "0123-4567-89ab",
            "0123456789ab",
            "0123-4567-89AB",
            " 0123 4567 89ab ",
            "0-1-2-3-4-5-6-7-8-9-a-b",
            "O123-4567-89AB", // O read as 0
        ] {
            assert_eq!(
                verify_recovery_code(typed, &hashes),
                Ok(hashes[0].as_str()),
                "{typed:?}"
            );
        }
        let ones = [sha256_hex("1111abcdefgh")];
        for typed in ["1111-abcd-efgh", "iIlL-ABCD-EFGH"] {
            assert_eq!(verify_recovery_code(typed, &ones), Ok(ones[0].as_str()));
        }
    }

    #[test]
    fn a_code_once_used_and_deleted_is_refused() {
        let made = seeded(4);
        let mut stored = made.hashes.clone();
        let code = made.codes[5].expose();
        let matched = verify_recovery_code(code, &stored).unwrap().to_owned();
        stored.retain(|h| h != &matched);
        assert_eq!(stored.len(), 9);
        assert_eq!(
            verify_recovery_code(code, &stored),
            Err(RecoveryRefusal::Unknown)
        );
        // The others still work.
        for other in made.codes.iter().filter(|c| c.expose() != code) {
            assert!(verify_recovery_code(other.expose(), &stored).is_ok());
        }
    }

    #[test]
    fn another_persons_code_is_unknown() {
        let mine = seeded(5);
        let theirs = seeded(6);
        for code in &theirs.codes {
            assert_eq!(
                verify_recovery_code(code.expose(), &mine.hashes),
                Err(RecoveryRefusal::Unknown)
            );
        }
        let none: [String; 0] = [];
        assert_eq!(
            verify_recovery_code(mine.codes[0].expose(), &none),
            Err(RecoveryRefusal::Unknown)
        );
    }

    #[test]
    fn anything_but_twelve_characters_of_the_alphabet_is_malformed() {
        let made = seeded(7);
        for typed in [
            "",
            "0123-4567-89a",
            "0123-4567-89abc",
            "0123-4567-89a!",
            "0123-4567-89au", // u is not in the alphabet
            "0123_4567_89ab",
            "0123-4567-89aß",
            "０123-4567-89ab", // a full-width digit
            &"-".repeat(100),
            &format!("0123-4567-89ab{}", " ".repeat(100)),
        ] {
            assert_eq!(
                verify_recovery_code(typed, &made.hashes),
                Err(RecoveryRefusal::Malformed),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn a_stored_hash_is_compared_whole() {
        let hash = sha256_hex("0123456789ab");
        let prefix = [hash[..63].to_owned(), format!("{hash}0"), String::new()];
        assert_eq!(
            verify_recovery_code("0123-4567-89ab", &prefix),
            Err(RecoveryRefusal::Unknown)
        );
    }
}
