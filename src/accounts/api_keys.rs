//! API keys, as an administrator (the admin API) or a user (the account page, on `user_http`
//! plugins) issues them: 256 random bits behind `pk_`, shown once, stored only as their SHA-256
//! beside a prefix that lets a person tell their keys apart. One issuer for both, so a key made
//! on the account page is the proxy's key exactly as one the admin API made.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::ports::{Rng, StoreError};
use crate::primitives::hash::sha256_hex;
use crate::primitives::secret::Secret;

/// What every key begins with, so that people and secret scanners recognise one.
pub const API_KEY_PREFIX: &str = "pk_";
/// Random bytes in a key: 256 bits, base64url.
pub const API_KEY_RANDOM_BYTES: usize = 32;
/// Characters of a key kept in the clear (`pk_` and nine more, 54 of its 256 bits): enough to
/// tell keys apart, far too few to guess the rest.
pub const API_KEY_SHOWN_CHARS: usize = 12;
/// Live keys a user may make for themselves at one plugin: a handful for their assistants and
/// devices, not a store of thousands.
pub const MAX_OWN_API_KEYS: usize = 10;
/// Longest name a user gives their key.
pub const MAX_API_KEY_NAME_CHARS: usize = 100;

/// A key just issued: the secret to show once, and what is stored of it.
pub struct IssuedApiKey {
    /// `key_` and 24 hex digits.
    pub id: String,
    /// The key itself: never stored, logged or put in a URL.
    pub key: Secret,
    /// Its first [`API_KEY_SHOWN_CHARS`] characters.
    pub prefix: String,
    /// SHA-256 of the key, hex: what the proxy looks the presented key up by.
    pub key_hash: String,
}

/// Issues a new key from `rng`.
pub fn issue_api_key(rng: &impl Rng) -> Result<IssuedApiKey, StoreError> {
    let mut id = [0u8; 12];
    rng.fill(&mut id)?;
    let mut random = [0u8; API_KEY_RANDOM_BYTES];
    rng.fill(&mut random)?;
    let key = format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
    Ok(IssuedApiKey {
        id: format!(
            "key_{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        prefix: key.chars().take(API_KEY_SHOWN_CHARS).collect(),
        key_hash: sha256_hex(&key),
        key: Secret::new(key),
    })
}

/// Why a name a user typed for their key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNameError {
    Empty,
    TooLong,
    ControlCharacter,
}

impl KeyNameError {
    /// What the account page says.
    pub fn message(self) -> String {
        match self {
            KeyNameError::Empty => "Give the key a name, such as the assistant it is for.".into(),
            KeyNameError::TooLong => {
                format!("A key's name is at most {MAX_API_KEY_NAME_CHARS} characters.")
            }
            KeyNameError::ControlCharacter => "A key's name cannot hold control characters.".into(),
        }
    }
}

/// The name a user gave their key, trimmed: one line of at most [`MAX_API_KEY_NAME_CHARS`].
pub fn validate_key_name(name: Option<&str>) -> Result<String, KeyNameError> {
    let name = name.unwrap_or("").trim();
    if name.is_empty() {
        Err(KeyNameError::Empty)
    } else if name.chars().count() > MAX_API_KEY_NAME_CHARS {
        Err(KeyNameError::TooLong)
    } else if name.chars().any(char::is_control) {
        Err(KeyNameError::ControlCharacter)
    } else {
        Ok(name.to_string())
    }
}

/// The scopes of a key a user makes: what their roles hold on the plugin's resource now (a key
/// can never do more than its user may), and on a rotation no more than the old key had.
pub fn own_key_scopes(held: &[String], old: Option<&str>) -> String {
    let kept: Vec<&str> = held
        .iter()
        .map(String::as_str)
        .filter(|s| old.is_none_or(|old| old.split(' ').any(|o| o == *s)))
        .collect();
    kept.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(std::cell::Cell<u8>);
    impl Rng for Counting {
        fn fill(&self, buf: &mut [u8]) -> Result<(), StoreError> {
            for b in buf {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
            Ok(())
        }
    }

    #[test]
    fn a_key_is_stored_as_its_hash_and_shown_by_its_prefix() {
        let issued = issue_api_key(&Counting(std::cell::Cell::new(0))).unwrap();
        let key = issued.key.expose();
        assert!(key.starts_with("pk_"));
        assert_eq!(key.len(), 3 + 43);
        assert_eq!(issued.prefix, &key[..12]);
        assert_eq!(issued.key_hash, sha256_hex(key));
        assert_eq!(issued.id, "key_000102030405060708090a0b");
        assert_eq!(format!("{:?}", issued.key), "Secret(..)");
    }

    #[test]
    fn a_key_name_is_one_short_line() {
        assert_eq!(validate_key_name(Some("  ChatGPT  ")), Ok("ChatGPT".into()));
        assert_eq!(validate_key_name(None), Err(KeyNameError::Empty));
        assert_eq!(validate_key_name(Some("   ")), Err(KeyNameError::Empty));
        assert_eq!(
            validate_key_name(Some(&"é".repeat(101))),
            Err(KeyNameError::TooLong)
        );
        assert!(validate_key_name(Some(&"é".repeat(100))).is_ok());
        assert_eq!(
            validate_key_name(Some("a\nb")),
            Err(KeyNameError::ControlCharacter)
        );
    }

    #[test]
    fn an_own_key_holds_what_its_user_holds_and_a_rotation_never_widens_it() {
        let held = vec!["todos:read".to_string(), "todos:write".to_string()];
        assert_eq!(own_key_scopes(&held, None), "todos:read todos:write");
        assert_eq!(own_key_scopes(&held, Some("todos:read")), "todos:read");
        assert_eq!(
            own_key_scopes(&held[..1], Some("todos:read todos:write")),
            "todos:read"
        );
        assert_eq!(own_key_scopes(&[], None), "");
    }
}
