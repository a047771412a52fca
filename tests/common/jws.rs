//! Native JWS signing and verification for tests: clients' keys (RSA, P-256, Ed25519) that sign
//! `private_key_jwt` assertions, and the verifier and RS256 signer that stand in for WebCrypto.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use portcullis::oauth::client_assertion::{JwsAlgorithm, KeyMaterial, PublicJwk};
use rsa::pkcs1v15;
use rsa::pss;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Verifies as WebCrypto would: the algorithm decides the scheme, the key its parameters.
pub fn verify(alg: JwsAlgorithm, key: &PublicJwk, message: &[u8], signature: &[u8]) -> bool {
    match (alg, &key.material) {
        (JwsAlgorithm::Rs256 | JwsAlgorithm::Ps256, KeyMaterial::Rsa { n, e }) => {
            let (Some(n), Some(e)) = (unb64(n), unb64(e)) else {
                return false;
            };
            let Ok(public) =
                RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
            else {
                return false;
            };
            if alg == JwsAlgorithm::Rs256 {
                let Ok(sig) = pkcs1v15::Signature::try_from(signature) else {
                    return false;
                };
                pkcs1v15::VerifyingKey::<Sha256>::new(public)
                    .verify(message, &sig)
                    .is_ok()
            } else {
                let Ok(sig) = pss::Signature::try_from(signature) else {
                    return false;
                };
                pss::VerifyingKey::<Sha256>::new(public)
                    .verify(message, &sig)
                    .is_ok()
            }
        }
        (JwsAlgorithm::Es256, KeyMaterial::P256 { x, y }) => {
            let (Some(x), Some(y)) = (unb64(x), unb64(y)) else {
                return false;
            };
            let mut sec1 = vec![4u8];
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            let Ok(vk) = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1) else {
                return false;
            };
            let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            vk.verify(message, &sig).is_ok()
        }
        (JwsAlgorithm::EdDsa, KeyMaterial::Ed25519 { x }) => {
            let Some(x) = unb64(x) else { return false };
            let (Ok(pk), Ok(sig)) = (
                ed25519_compact::PublicKey::from_slice(&x),
                ed25519_compact::Signature::from_slice(signature),
            ) else {
                return false;
            };
            pk.verify(message, &sig).is_ok()
        }
        _ => false,
    }
}

/// Signs as WebCrypto does with our RSA key: RSASSA-PKCS1-v1_5 with SHA-256, from the private JWK.
pub fn sign_rs256(private_jwk: &str, message: &[u8]) -> Result<Vec<u8>, String> {
    let jwk: Value = serde_json::from_str(private_jwk).map_err(|e| e.to_string())?;
    let uint = |member: &str| {
        jwk[member]
            .as_str()
            .and_then(unb64)
            .map(|b| BigUint::from_bytes_be(&b))
            .ok_or_else(|| format!("{member} is missing"))
    };
    let private = RsaPrivateKey::from_components(
        uint("n")?,
        uint("e")?,
        uint("d")?,
        vec![uint("p")?, uint("q")?],
    )
    .map_err(|e| e.to_string())?;
    Ok(pkcs1v15::SigningKey::<Sha256>::new(private)
        .sign(message)
        .to_vec())
}

/// A client's signing key.
pub enum ClientKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_compact::KeyPair),
}

impl ClientKey {
    pub fn rsa() -> ClientKey {
        let mut rng = rand_core::OsRng;
        ClientKey::Rsa(Box::new(
            RsaPrivateKey::new(&mut rng, 2048).expect("an RSA key"),
        ))
    }

    pub fn p256() -> ClientKey {
        ClientKey::P256(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng))
    }

    pub fn ed25519() -> ClientKey {
        ClientKey::Ed25519(ed25519_compact::KeyPair::generate())
    }

    /// The public JWK, as a client publishes it.
    pub fn public_jwk(&self, kid: &str) -> Value {
        match self {
            ClientKey::Rsa(k) => {
                json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be())})
            }
            ClientKey::P256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
            }
            ClientKey::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(k.pk.as_ref())})
            }
        }
    }

    /// A compact JWS of `claims` with this key under `alg`.
    pub fn sign(&self, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        self.sign_with_header(alg, &header, claims)
    }

    /// A DPoP proof (RFC 9449 §4.2) by this key for `htm` and `htu`, with `ath` for `token`,
    /// and any further claims in `extra` (a `null` removes one).
    pub fn dpop_proof(
        &self,
        alg: &str,
        htm: &str,
        htu: &str,
        token: Option<&str>,
        now: i64,
        extra: Value,
    ) -> String {
        let mut jwk = self.public_jwk("");
        if let Some(o) = jwk.as_object_mut() {
            o.remove("kid");
            o.remove("use");
        }
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        let mut claims = json!({
            "jti": format!("{:016x}", rand_core::RngCore::next_u64(&mut rand_core::OsRng)),
            "htm": htm,
            "htu": htu,
            "iat": now,
        });
        if let Some(token) = token {
            claims["ath"] = json!(portcullis::oauth::dpop::ath(token));
        }
        for (k, v) in extra.as_object().into_iter().flatten() {
            match v {
                Value::Null => {
                    claims.as_object_mut().map(|c| c.remove(k));
                }
                v => claims[k] = v.clone(),
            }
        }
        self.sign_with_header(alg, &header, &claims)
    }

    /// The RFC 7638 thumbprint of this key.
    pub fn thumbprint(&self) -> String {
        portcullis::oauth::client_assertion::parse_jwks(&json!({"keys": [self.public_jwk("")]}))
            .expect("a public key")[0]
            .thumbprint()
    }

    /// A compact JWS of `claims` under `header`, signed with this key under `alg`.
    pub fn sign_with_header(&self, alg: &str, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match (self, alg) {
            (ClientKey::Rsa(k), "PS256") => pss::SigningKey::<Sha256>::new((**k).clone())
                .sign_with_rng(&mut rand_core::OsRng, input.as_bytes())
                .to_vec(),
            (ClientKey::Rsa(k), _) => pkcs1v15::SigningKey::<Sha256>::new((**k).clone())
                .sign(input.as_bytes())
                .to_vec(),
            (ClientKey::P256(k), _) => {
                let sig: p256::ecdsa::Signature = k.sign(input.as_bytes());
                sig.to_bytes().to_vec()
            }
            (ClientKey::Ed25519(k), _) => k.sk.sign(input.as_bytes(), None).to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }
}
