//! Compact JWS signing (RFC 7515 §7.1) with our keys, for access tokens (RFC 9068), ID tokens
//! (OpenID Connect Core §2) and the assertions the origin receives: through the platform's signer
//! ([`JwsSigner`]: WebCrypto at the edge, so no RSA code ships in the wasm and Ed25519 runs
//! natively), or EdDSA in Rust, synchronously, where no signer is at hand.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::error::StoreError;
use crate::jose::keys::{KeySet, SigningAlg};
use crate::jose::JwsSigner;

/// Why a token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// RS256 was asked for and no `RSA_SIGNING_KEY` is configured.
    NoRsaKey,
    /// The claims did not serialize.
    Encoding,
    /// The platform signer failed.
    Platform(StoreError),
}

impl SignError {
    pub fn describe(&self) -> String {
        match self {
            SignError::NoRsaKey => "RS256 was asked for but RSA_SIGNING_KEY is not set".into(),
            SignError::Encoding => "the claims did not serialize".into(),
            SignError::Platform(e) => format!("the platform's signer failed: {e}"),
        }
    }
}

/// `base64url(header) "." base64url(payload)`: what the signature covers.
fn signing_input(
    alg: SigningAlg,
    kid: &str,
    typ: &str,
    payload: &impl Serialize,
) -> Result<String, SignError> {
    let header = serde_json::json!({"alg": alg.as_str(), "kid": kid, "typ": typ});
    let payload = serde_json::to_vec(payload).map_err(|_| SignError::Encoding)?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    ))
}

fn compact(input: String, signature: &[u8]) -> String {
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Signs with the current Ed25519 key, in Rust (in wasm at the edge).
pub fn sign_eddsa(keys: &KeySet, typ: &str, payload: &impl Serialize) -> Result<String, SignError> {
    let key = keys.current();
    let input = signing_input(SigningAlg::EdDsa, key.kid(), typ, payload)?;
    let signature = key.secret().sign(input.as_bytes(), None);
    Ok(compact(input, &signature[..]))
}

/// Signs with the current key of `alg`, through `signer`.
pub async fn sign_jwt<S: JwsSigner>(
    keys: &KeySet,
    alg: SigningAlg,
    typ: &str,
    payload: &impl Serialize,
    signer: &S,
) -> Result<String, SignError> {
    let rsa = match alg {
        SigningAlg::EdDsa => None,
        SigningAlg::Rs256 => Some(keys.rsa().ok_or(SignError::NoRsaKey)?),
    };
    let kid = rsa.map_or(keys.current().kid(), |key| key.kid());
    let input = signing_input(alg, kid, typ, payload)?;
    let signature = match rsa {
        None => signer.sign_ed25519(keys.current(), input.as_bytes()).await,
        Some(key) => signer.sign_rs256(key, input.as_bytes()).await,
    }
    .map_err(SignError::Platform)?;
    Ok(compact(input, &signature))
}

/// Native stand-ins for WebCrypto's RSA, P-256 and Ed25519 checks, for unit tests (`rsa` and
/// `p256` are dev-dependencies).
#[cfg(test)]
pub(crate) mod native {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rsa::pkcs1v15;
    use rsa::signature::{SignatureEncoding, Signer, Verifier};
    use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
    use sha2::Sha256;

    use crate::error::StoreError;
    use crate::jose::jwk::{JwsAlgorithm, KeyMaterial, PublicJwk};
    use crate::jose::keys::RsaSigningKey;
    use crate::jose::{JwsSigner, JwsVerifier};

    /// Signs and verifies as WebCrypto does at the edge.
    pub struct NativeCrypto;

    fn uint(jwk: &serde_json::Value, member: &str) -> BigUint {
        let text = jwk[member].as_str().unwrap_or_default();
        BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(text).unwrap_or_default())
    }

    impl JwsSigner for NativeCrypto {
        async fn sign_rs256(
            &self,
            key: &RsaSigningKey,
            message: &[u8],
        ) -> Result<Vec<u8>, StoreError> {
            let jwk: serde_json::Value = serde_json::from_str(key.private_jwk())
                .map_err(|e| StoreError::unavailable(e.to_string()))?;
            let private = RsaPrivateKey::from_components(
                uint(&jwk, "n"),
                uint(&jwk, "e"),
                uint(&jwk, "d"),
                vec![uint(&jwk, "p"), uint(&jwk, "q")],
            )
            .map_err(|e| StoreError::unavailable(e.to_string()))?;
            Ok(pkcs1v15::SigningKey::<Sha256>::new(private)
                .sign(message)
                .to_vec())
        }
    }

    impl JwsVerifier for NativeCrypto {
        async fn verify_jws(
            &self,
            alg: JwsAlgorithm,
            key: &PublicJwk,
            message: &[u8],
            signature: &[u8],
        ) -> Result<bool, StoreError> {
            let unb64 = |v: &str| URL_SAFE_NO_PAD.decode(v).unwrap_or_default();
            match (alg, &key.material) {
                (JwsAlgorithm::Es256, KeyMaterial::P256 { x, y }) => {
                    let point = [vec![4u8], unb64(x), unb64(y)].concat();
                    let (Ok(key), Ok(sig)) = (
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point),
                        p256::ecdsa::Signature::from_slice(signature),
                    ) else {
                        return Ok(false);
                    };
                    return Ok(key.verify(message, &sig).is_ok());
                }
                (JwsAlgorithm::EdDsa, KeyMaterial::Ed25519 { x }) => {
                    let (Ok(key), Ok(sig)) = (
                        ed25519_compact::PublicKey::from_slice(&unb64(x)),
                        ed25519_compact::Signature::from_slice(signature),
                    ) else {
                        return Ok(false);
                    };
                    return Ok(key.verify(message, &sig).is_ok());
                }
                (JwsAlgorithm::Rs256, KeyMaterial::Rsa { .. }) => {}
                _ => return Ok(false),
            }
            let KeyMaterial::Rsa { n, e } = &key.material else {
                return Ok(false);
            };
            let jwk = serde_json::json!({"n": n, "e": e});
            let Ok(public) = RsaPublicKey::new(uint(&jwk, "n"), uint(&jwk, "e")) else {
                return Ok(false);
            };
            let Ok(signature) = pkcs1v15::Signature::try_from(signature) else {
                return Ok(false);
            };
            Ok(pkcs1v15::VerifyingKey::<Sha256>::new(public)
                .verify(message, &signature)
                .is_ok())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::native::NativeCrypto;
    use super::*;
    use crate::jose::jwk::JwsAlgorithm;
    use crate::jose::keys::tests::{RSA_A, RSA_B};
    use crate::jose::JwsVerifier;
    use futures_executor::block_on;

    const SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

    fn keys(rsa: Option<&str>) -> KeySet {
        KeySet::from_secrets(Some(SEED), None)
            .unwrap()
            .with_rsa(rsa, None)
            .unwrap()
    }

    fn parts(token: &str) -> (serde_json::Value, String, Vec<u8>) {
        let (input, sig) = token.rsplit_once('.').unwrap();
        let header = input.split('.').next().unwrap();
        let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        (header, input.into(), URL_SAFE_NO_PAD.decode(sig).unwrap())
    }

    #[test]
    fn an_eddsa_jws_verifies_with_the_current_ed25519_key() {
        let set = keys(None);
        let token = sign_eddsa(&set, "JWT", &serde_json::json!({"sub": "u"})).unwrap();
        let (header, input, sig) = parts(&token);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], set.current().kid());
        assert_eq!(header["typ"], "JWT");
        let sig = ed25519_compact::Signature::from_slice(&sig).unwrap();
        assert!(set.current().public().verify(input, &sig).is_ok());
    }

    #[test]
    fn an_rs256_jws_verifies_with_the_published_rsa_key() {
        let set = keys(Some(RSA_A));
        let token = block_on(sign_jwt(
            &set,
            SigningAlg::Rs256,
            "JWT",
            &serde_json::json!({"sub": "u"}),
            &NativeCrypto,
        ))
        .unwrap();
        let (header, input, sig) = parts(&token);
        assert_eq!(header["alg"], "RS256");
        let key = set.rsa().unwrap();
        assert_eq!(header["kid"], key.kid());
        let ok = block_on(NativeCrypto.verify_jws(
            JwsAlgorithm::Rs256,
            key.public(),
            input.as_bytes(),
            &sig,
        ));
        assert_eq!(ok, Ok(true));
        let other = keys(Some(RSA_B));
        let ok = block_on(NativeCrypto.verify_jws(
            JwsAlgorithm::Rs256,
            other.rsa().unwrap().public(),
            input.as_bytes(),
            &sig,
        ));
        assert_eq!(ok, Ok(false));
    }

    #[test]
    fn rs256_without_an_rsa_key_is_a_named_error() {
        let result = block_on(sign_jwt(
            &keys(None),
            SigningAlg::Rs256,
            "JWT",
            &serde_json::json!({}),
            &NativeCrypto,
        ));
        assert_eq!(result, Err(SignError::NoRsaKey));
    }
}
