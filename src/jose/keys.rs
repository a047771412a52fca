//! Signing keys and the JWKS that publishes them.
//!
//! Two kinds of key, held as Worker secrets and rotated the same way:
//! - Ed25519 (RFC 8037), always present: `SIGNING_KEY` signs, and `PREVIOUS_SIGNING_KEY` (the key
//!   it replaced) stays published so tokens signed before a rotation keep verifying until they
//!   expire. Signed in wasm.
//! - RSA (RFC 7518 §3.3, RS256), optional: `RSA_SIGNING_KEY` and `PREVIOUS_RSA_SIGNING_KEY`, each a
//!   private JWK (RFC 7518 §6.3) with a modulus of 2048 bits or more. OpenID Connect Core §15.1
//!   makes RS256 mandatory for ID tokens and many relying parties accept nothing else. A JWK needs
//!   no DER parsing, and the platform signs with it (WebCrypto imports it as is), so no RSA code
//!   ships in the wasm.
//!
//! Key ids are RFC 7638 thumbprints, so the same key always has the same `kid` and no registry of
//! ids is needed.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_compact::{KeyPair, PublicKey, SecretKey, Seed};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::jose::jwk::{KeyMaterial, PublicJwk, MIN_RSA_MODULUS_BITS};

/// Why the key secrets could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Missing,
    Malformed {
        which: &'static str,
    },
    /// An RSA key secret that is not a usable private JWK; `reason` says what is wrong.
    Rsa {
        which: &'static str,
        reason: &'static str,
    },
}

/// The algorithms our tokens are signed with (RFC 7518 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    /// Ed25519 (RFC 8037): the default, signed in wasm.
    #[default]
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, signed by the platform.
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::EdDsa, SigningAlg::Rs256];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Rs256 => "RS256",
        }
    }

    pub fn parse(name: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|a| a.as_str() == name)
    }
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

    /// The key as a private JWK (RFC 8037: `OKP`, `Ed25519`, with `d`), for the platform's
    /// signer to import. It holds the secret: never log or send it.
    pub fn private_jwk(&self) -> String {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "d": URL_SAFE_NO_PAD.encode(self.secret.seed().as_ref()),
            "x": URL_SAFE_NO_PAD.encode(self.public.as_ref()),
        })
        .to_string()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

/// An RSA key that signs RS256: the private JWK stays in this struct and goes only to the
/// platform signer ([`crate::jose::JwsSigner`]).
#[derive(Clone)]
pub struct RsaSigningKey {
    kid: String,
    /// The private members as WebCrypto's `importKey("jwk", …)` takes them.
    private_jwk: String,
    /// The public half as published: `kid`, `alg: RS256`, minimal `n` and `e`.
    public: PublicJwk,
}

/// The members of an RSA private JWK (RFC 7518 §6.3), as sent.
#[derive(Deserialize)]
struct RawRsaJwk {
    kty: String,
    n: String,
    e: String,
    d: String,
    p: String,
    q: String,
    dp: String,
    dq: String,
    qi: String,
    #[serde(default)]
    alg: Option<String>,
}

impl RsaSigningKey {
    /// Builds the key from the private JWK kept in the secret; `which` names the secret in errors.
    pub fn from_jwk(text: &str, which: &'static str) -> Result<RsaSigningKey, KeyError> {
        let fail = |reason| KeyError::Rsa { which, reason };
        let raw: RawRsaJwk = serde_json::from_str(text.trim()).map_err(|_| {
            fail("a private RSA JWK: a JSON object with kty, n, e, d, p, q, dp, dq and qi")
        })?;
        if raw.kty != "RSA" {
            return Err(fail("kty must be RSA"));
        }
        if raw.alg.as_deref().is_some_and(|a| a != "RS256") {
            return Err(fail("alg, if present, must be RS256"));
        }
        let n = minimal(&raw.n).ok_or(fail("n must be base64url"))?;
        let e = minimal(&raw.e).ok_or(fail("e must be base64url"))?;
        let bits = n
            .first()
            .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize);
        if bits < MIN_RSA_MODULUS_BITS {
            return Err(fail("the modulus must be at least 2048 bits"));
        }
        let e_odd = e.last().is_some_and(|low| low & 1 == 1);
        if e.len() > 8 || !e_odd || e == [1] {
            return Err(fail("e must be an odd public exponent greater than 1"));
        }
        for member in [&raw.d, &raw.p, &raw.q, &raw.dp, &raw.dq, &raw.qi] {
            if minimal(member).is_none_or(|m| m.is_empty()) {
                return Err(fail("d, p, q, dp, dq and qi must be base64url"));
            }
        }
        let (n, e) = (URL_SAFE_NO_PAD.encode(&n), URL_SAFE_NO_PAD.encode(&e));
        // RFC 7638 §3.2: the required members in lexical order, no whitespace.
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(
            format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#).as_bytes(),
        ));
        let private_jwk = serde_json::json!({
            "kty": "RSA", "n": n, "e": e, "d": raw.d, "p": raw.p, "q": raw.q,
            "dp": raw.dp, "dq": raw.dq, "qi": raw.qi,
        })
        .to_string();
        Ok(RsaSigningKey {
            public: PublicJwk {
                kid: Some(kid.clone()),
                alg: Some("RS256".into()),
                material: KeyMaterial::Rsa { n, e },
            },
            kid,
            private_jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as a JWK (JSON text), for the platform signer only: never log it.
    pub fn private_jwk(&self) -> &str {
        &self.private_jwk
    }

    pub fn public(&self) -> &PublicJwk {
        &self.public
    }
}

impl fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

/// A base64url big-endian integer without its leading zero octets (RFC 7518 §2 "Base64urlUInt").
fn minimal(text: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Some(bytes[start..].to_vec())
}

/// A published key that verifies, by kind.
#[derive(Debug, Clone, Copy)]
pub enum VerifyingKey<'k> {
    Ed25519(&'k PublicKey),
    Rsa(&'k PublicJwk),
}

impl VerifyingKey<'_> {
    /// The one algorithm this key verifies: a token's `alg` must name it.
    pub fn alg(&self) -> SigningAlg {
        match self {
            VerifyingKey::Ed25519(_) => SigningAlg::EdDsa,
            VerifyingKey::Rsa(_) => SigningAlg::Rs256,
        }
    }
}

/// The current signing keys and the public keys still accepted.
#[derive(Clone, Debug)]
pub struct KeySet {
    current: SigningKey,
    previous: Option<SigningKey>,
    rsa: Option<RsaSigningKey>,
    previous_rsa: Option<RsaSigningKey>,
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
        Ok(KeySet {
            current,
            previous,
            rsa: None,
            previous_rsa: None,
        })
    }

    /// Adds the RSA keys from their secrets (`RSA_SIGNING_KEY`, `PREVIOUS_RSA_SIGNING_KEY`), each
    /// optional: a previous key alone is still published, so RS256 tokens outlive the removal of
    /// the RSA key, but nothing new is signed RS256.
    pub fn with_rsa(
        self,
        current: Option<&str>,
        previous: Option<&str>,
    ) -> Result<KeySet, KeyError> {
        let parse = |text: Option<&str>, which| match text {
            Some(t) if !t.trim().is_empty() => RsaSigningKey::from_jwk(t, which).map(Some),
            _ => Ok(None),
        };
        let rsa = parse(current, "RSA_SIGNING_KEY")?;
        let previous_rsa = parse(previous, "PREVIOUS_RSA_SIGNING_KEY")?
            .filter(|p| rsa.as_ref().is_none_or(|c| c.kid != p.kid));
        Ok(KeySet {
            rsa,
            previous_rsa,
            ..self
        })
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// The RSA key that signs RS256, if one is configured.
    pub fn rsa(&self) -> Option<&RsaSigningKey> {
        self.rsa.as_ref()
    }

    /// What ID tokens are signed with: RS256 when an RSA key is configured (OpenID Connect Core
    /// §15.1 makes it the one algorithm every relying party accepts), else EdDSA.
    pub fn id_token_alg(&self) -> SigningAlg {
        if self.rsa.is_some() {
            SigningAlg::Rs256
        } else {
            SigningAlg::EdDsa
        }
    }

    /// The public key for a `kid`, if it is one we publish.
    pub fn verifying_key(&self, kid: &str) -> Option<VerifyingKey<'_>> {
        let ed25519 = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.kid == kid)
            .map(|k| VerifyingKey::Ed25519(&k.public));
        ed25519.or_else(|| {
            self.rsa
                .iter()
                .chain(self.previous_rsa.as_ref())
                .find(|k| k.kid == kid)
                .map(|k| VerifyingKey::Rsa(&k.public))
        })
    }

    /// The JWK Set (RFC 7517 §5): the current Ed25519 key first, then the previous one, then the
    /// RSA keys in the same order. Public members only.
    pub fn jwks(&self) -> serde_json::Value {
        let rsa = self.rsa.iter().chain(self.previous_rsa.as_ref()).map(|k| {
            // `kty`, `n` and `e`, then what says how the key is used.
            let mut jwk = k.public.to_import_json();
            jwk["kid"] = k.kid.clone().into();
            jwk["alg"] = "RS256".into();
            jwk["use"] = "sig".into();
            jwk
        });
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
            .chain(rsa)
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
pub(crate) mod tests {
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
    fn the_private_jwk_is_rfc8037s() {
        let key = SigningKey::from_seed_b64(RFC8037_D).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&key.private_jwk()).unwrap();
        // RFC 8037 Appendix A.1, member for member.
        assert_eq!(
            jwk,
            serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "d": RFC8037_D,
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            })
        );
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

    pub(crate) const RSA_A: &str = include_str!("../../tests/fixtures/rsa-2048-a.jwk.json");
    pub(crate) const RSA_B: &str = include_str!("../../tests/fixtures/rsa-2048-b.jwk.json");
    const RSA_1024: &str = include_str!("../../tests/fixtures/rsa-1024.jwk.json");

    fn with_rsa(current: Option<&str>, previous: Option<&str>) -> Result<KeySet, KeyError> {
        KeySet::from_secrets(Some(RFC8037_D), None)?.with_rsa(current, previous)
    }

    #[test]
    fn the_rsa_keys_are_published_beside_the_ed25519_ones_without_private_members() {
        let set = with_rsa(Some(RSA_A), Some(RSA_B)).unwrap();
        let jwks = set.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0]["kty"], "OKP");
        assert_eq!(keys[1]["kty"], "RSA");
        assert_eq!(keys[1]["alg"], "RS256");
        assert_eq!(keys[1]["use"], "sig");
        assert_eq!(keys[1]["kid"], set.rsa().unwrap().kid());
        for key in &keys[1..] {
            let mut names: Vec<_> = key.as_object().unwrap().keys().cloned().collect();
            names.sort();
            assert_eq!(names, ["alg", "e", "kid", "kty", "n", "use"]);
        }
        let source: serde_json::Value = serde_json::from_str(RSA_A).unwrap();
        assert_eq!(keys[1]["n"], source["n"]);
        assert!(matches!(
            set.verifying_key(keys[2]["kid"].as_str().unwrap()),
            Some(VerifyingKey::Rsa(_))
        ));
        assert!(matches!(
            set.verifying_key(set.current().kid()),
            Some(VerifyingKey::Ed25519(_))
        ));
    }

    #[test]
    fn the_rsa_kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1: the example RSA key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = serde_json::json!({
            "kty": "RSA", "n": n, "e": "AQAB", "d": "AQ", "p": "AQ", "q": "AQ", "dp": "AQ",
            "dq": "AQ", "qi": "AQ",
        });
        let key = RsaSigningKey::from_jwk(&jwk.to_string(), "RSA_SIGNING_KEY").unwrap();
        assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn ed25519_and_rsa_keys_each_rotate_with_their_previous_key() {
        let old = with_rsa(Some(RSA_A), None).unwrap();
        let old_kid = old.rsa().unwrap().kid().to_string();
        let rotated = with_rsa(Some(RSA_B), Some(RSA_A)).unwrap();
        assert_ne!(rotated.rsa().unwrap().kid(), old_kid);
        assert!(rotated.verifying_key(&old_kid).is_some());
        let dropped = with_rsa(Some(RSA_B), None).unwrap();
        assert!(dropped.verifying_key(&old_kid).is_none());
        // A previous key alone is published, and nothing is signed RS256.
        let retired = with_rsa(None, Some(RSA_A)).unwrap();
        assert!(retired.verifying_key(&old_kid).is_some());
        assert!(retired.rsa().is_none());
        assert_eq!(retired.id_token_alg(), SigningAlg::EdDsa);
        // The same key twice is published once.
        let twice = with_rsa(Some(RSA_A), Some(RSA_A)).unwrap();
        assert_eq!(twice.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn id_tokens_are_rs256_when_an_rsa_key_is_configured() {
        assert_eq!(
            with_rsa(None, None).unwrap().id_token_alg(),
            SigningAlg::EdDsa
        );
        let set = with_rsa(Some(RSA_A), None).unwrap();
        assert_eq!(set.id_token_alg(), SigningAlg::Rs256);
    }

    #[test]
    fn an_rsa_modulus_under_2048_bits_is_refused_by_name() {
        assert_eq!(
            with_rsa(Some(RSA_1024), None).unwrap_err(),
            KeyError::Rsa {
                which: "RSA_SIGNING_KEY",
                reason: "the modulus must be at least 2048 bits"
            }
        );
        assert!(matches!(
            with_rsa(Some(RSA_A), Some(RSA_1024)).unwrap_err(),
            KeyError::Rsa {
                which: "PREVIOUS_RSA_SIGNING_KEY",
                ..
            }
        ));
    }

    #[test]
    fn malformed_rsa_secrets_are_named() {
        let mut public_only: serde_json::Value = serde_json::from_str(RSA_A).unwrap();
        public_only.as_object_mut().unwrap().remove("d");
        let mut ec: serde_json::Value = serde_json::from_str(RSA_A).unwrap();
        ec["kty"] = "EC".into();
        let mut bad_b64: serde_json::Value = serde_json::from_str(RSA_A).unwrap();
        bad_b64["n"] = "not base64!".into();
        let mut even_e: serde_json::Value = serde_json::from_str(RSA_A).unwrap();
        even_e["e"] = "AQAA".into();
        let mut wrong_alg: serde_json::Value = serde_json::from_str(RSA_A).unwrap();
        wrong_alg["alg"] = "PS256".into();
        for text in [
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".to_string(),
            public_only.to_string(),
            ec.to_string(),
            bad_b64.to_string(),
            even_e.to_string(),
            wrong_alg.to_string(),
        ] {
            assert!(
                matches!(
                    with_rsa(Some(&text), None),
                    Err(KeyError::Rsa {
                        which: "RSA_SIGNING_KEY",
                        ..
                    })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_rsa_key_material() {
        let set = with_rsa(Some(RSA_A), Some(RSA_B)).unwrap();
        let text = format!("{set:?}");
        let source: serde_json::Value = serde_json::from_str(RSA_A).unwrap();
        for member in ["n", "d", "p", "q", "dp", "dq", "qi"] {
            let value = source[member].as_str().unwrap();
            assert!(!text.contains(&value[..16]), "{member} shows");
        }
        assert!(text.contains(set.rsa().unwrap().kid()));
    }
}
