//! Signing keys and the JWKS that publishes them.
//!
//! Keys are Ed25519 (RFC 8037), held as Worker secrets: `SIGNING_KEY` signs, and
//! `PREVIOUS_SIGNING_KEY` (the key `SIGNING_KEY` replaced) stays published so tokens signed before
//! a rotation keep verifying until they expire. Key ids are RFC 7638 thumbprints, so the same key
//! always has the same `kid` and no registry of ids is needed.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_compact::{KeyPair, PublicKey, SecretKey, Seed};
use sha2::{Digest, Sha256};

/// Why the key secrets could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Missing,
    Malformed { which: &'static str },
}

/// A key that signs: the private half never leaves this struct.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    secret: SecretKey,
    public: PublicKey,
}

impl SigningKey {
    /// Builds the key from the base64url (unpadded) 32-byte seed kept in the secret.
    pub fn from_seed_b64(seed: &str) -> Option<SigningKey> {
        let bytes = URL_SAFE_NO_PAD.decode(seed.trim()).ok()?;
        let seed: [u8; 32] = bytes.try_into().ok()?;
        let pair = KeyPair::from_seed(Seed::new(seed));
        Some(SigningKey {
            kid: thumbprint(&pair.pk),
            secret: pair.sk,
            public: pair.pk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

/// The current signing key and the public keys still accepted.
#[derive(Clone, Debug)]
pub struct KeySet {
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl KeySet {
    pub fn from_secrets(current: Option<&str>, previous: Option<&str>) -> Result<KeySet, KeyError> {
        let current = match current {
            None => return Err(KeyError::Missing),
            Some(s) if s.trim().is_empty() => return Err(KeyError::Missing),
            Some(s) => SigningKey::from_seed_b64(s).ok_or(KeyError::Malformed {
                which: "SIGNING_KEY",
            })?,
        };
        let previous = match previous {
            None => None,
            Some(s) if s.trim().is_empty() => None,
            Some(s) => Some(SigningKey::from_seed_b64(s).ok_or(KeyError::Malformed {
                which: "PREVIOUS_SIGNING_KEY",
            })?),
        }
        .filter(|p| p.kid != current.kid);
        Ok(KeySet { current, previous })
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// The public key for a `kid`, if it is one we publish.
    pub fn verifying_key(&self, kid: &str) -> Option<&PublicKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.kid == kid)
            .map(|k| &k.public)
    }

    /// The JWK Set (RFC 7517 §5) with the current key first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(k.public.as_ref()),
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// RFC 7638 thumbprint of an OKP key: SHA-256 over the required members in lexical order.
pub fn thumbprint(public: &PublicKey) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public.as_ref())
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 Appendix A.1 private key.
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

    #[test]
    fn the_rfc8037_seed_gives_its_public_key_and_thumbprint() {
        let key = SigningKey::from_seed_b64(RFC8037_D).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(key.public().as_ref()),
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        // RFC 8037 Appendix A.3.
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn the_jwks_publishes_current_then_previous_without_private_parts() {
        let previous = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let set = KeySet::from_secrets(Some(RFC8037_D), Some(&previous)).unwrap();
        let jwks = set.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kid"], set.current().kid());
        assert!(keys.iter().all(|k| k.get("d").is_none()));
        let old_kid = keys[1]["kid"].as_str().unwrap();
        assert!(set.verifying_key(old_kid).is_some());
        assert!(set.verifying_key("unknown").is_none());
    }

    #[test]
    fn a_previous_key_equal_to_the_current_one_is_published_once() {
        let set = KeySet::from_secrets(Some(RFC8037_D), Some(RFC8037_D)).unwrap();
        assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn malformed_secrets_are_named() {
        assert_eq!(
            KeySet::from_secrets(None, None).unwrap_err(),
            KeyError::Missing
        );
        assert_eq!(
            KeySet::from_secrets(Some("not base64!"), None).unwrap_err(),
            KeyError::Malformed {
                which: "SIGNING_KEY"
            }
        );
        assert_eq!(
            KeySet::from_secrets(Some(RFC8037_D), Some("AAAA")).unwrap_err(),
            KeyError::Malformed {
                which: "PREVIOUS_SIGNING_KEY"
            }
        );
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let set = KeySet::from_secrets(Some(RFC8037_D), None).unwrap();
        let text = format!("{set:?}");
        assert!(!text.contains(RFC8037_D));
        assert!(text.contains("kPrK_"));
    }
}
