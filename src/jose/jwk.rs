//! JSON Web Keys (RFC 7517) and the signature algorithms checked with them (RFC 7518, RFC 8037):
//! parsing a JWKS, what a key may be used for, and the published form of our own keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// The smallest RSA modulus accepted (RFC 7518 §3.3 asks for 2048 bits or more).
pub const MIN_RSA_MODULUS_BITS: usize = 2048;

/// The signature algorithms a client assertion may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    Ps256,
    /// ECDSA on P-256 with SHA-256 (the signature is `r || s`, 64 bytes).
    Es256,
    /// ECDSA on P-384 with SHA-384 (`r || s`, 96 bytes): Logto's default for ID tokens.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl JwsAlgorithm {
    /// Every algorithm accepted, as `token_endpoint_auth_signing_alg_values_supported` lists them.
    pub const ALL: [JwsAlgorithm; 5] = [
        JwsAlgorithm::Rs256,
        JwsAlgorithm::Ps256,
        JwsAlgorithm::Es256,
        JwsAlgorithm::Es384,
        JwsAlgorithm::EdDsa,
    ];

    pub fn parse(name: &str) -> Option<JwsAlgorithm> {
        JwsAlgorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlgorithm::Rs256 => "RS256",
            JwsAlgorithm::Ps256 => "PS256",
            JwsAlgorithm::Es256 => "ES256",
            JwsAlgorithm::Es384 => "ES384",
            JwsAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// Whether a key of this shape can verify this algorithm.
    pub fn fits(self, key: &PublicJwk) -> bool {
        matches!(
            (self, &key.material),
            (
                JwsAlgorithm::Rs256 | JwsAlgorithm::Ps256,
                KeyMaterial::Rsa { .. }
            ) | (JwsAlgorithm::Es256, KeyMaterial::P256 { .. })
                | (JwsAlgorithm::Es384, KeyMaterial::P384 { .. })
                | (JwsAlgorithm::EdDsa, KeyMaterial::Ed25519 { .. })
        )
    }
}

/// A public key from a client's JWKS, reduced to what verification needs. Base64url fields are
/// kept as sent (WebCrypto imports the JWK as is), after their lengths were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: Option<String>,
    /// The key's own `alg`, when it names one.
    pub alg: Option<String>,
    pub material: KeyMaterial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    Rsa { n: String, e: String },
    P256 { x: String, y: String },
    P384 { x: String, y: String },
    Ed25519 { x: String },
}

impl PublicJwk {
    /// The RFC 7638 thumbprint: SHA-256 over the key's required members in lexical order,
    /// base64url (DPoP's `jkt`).
    pub fn thumbprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let canonical = match &self.material {
            KeyMaterial::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            KeyMaterial::P256 { x, y } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            KeyMaterial::P384 { x, y } => {
                format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            KeyMaterial::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The JWK as WebCrypto's `importKey("jwk", …)` takes it: public members only.
    pub fn to_import_json(&self) -> Value {
        match &self.material {
            KeyMaterial::Rsa { n, e } => serde_json::json!({"kty": "RSA", "n": n, "e": e}),
            KeyMaterial::P256 { x, y } => {
                serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y})
            }
            KeyMaterial::P384 { x, y } => {
                serde_json::json!({"kty": "EC", "crv": "P-384", "x": x, "y": y})
            }
            KeyMaterial::Ed25519 { x } => {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x})
            }
        }
    }
}

/// Keys as a JWKS document (public members, `kid` and `alg`): how they are stored and echoed.
pub fn jwks_json(keys: &[PublicJwk]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|key| {
            let mut out = key.to_import_json();
            if let Some(kid) = &key.kid {
                out["kid"] = Value::String(kid.clone());
            }
            if let Some(alg) = &key.alg {
                out["alg"] = Value::String(alg.clone());
            }
            out
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<Value>,
}

fn b64_len(value: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(value).ok().map(|b| b.len())
}

/// The signing keys of a JWKS document (RFC 7517 §5). Keys that are not public signature keys
/// of a supported type are skipped, as §5 allows; a key with private members refuses the whole
/// set (whoever published it leaked it).
pub fn parse_jwks(document: &Value) -> Result<Vec<PublicJwk>, String> {
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("a JWKS must be an object with a \"keys\" array")?;
    let mut out = Vec::new();
    for raw in keys {
        let Ok(raw) = RawJwk::deserialize(raw) else {
            continue;
        };
        if raw.d.is_some() {
            return Err("the JWKS holds a private key".into());
        }
        if raw.use_.as_deref().is_some_and(|u| u != "sig")
            || raw
                .key_ops
                .as_ref()
                .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
        {
            continue;
        }
        let material = match (raw.kty.as_deref(), raw.crv.as_deref()) {
            (Some("RSA"), _) => match (raw.n, raw.e) {
                (Some(n), Some(e))
                    if b64_len(&n).is_some_and(|l| l * 8 >= MIN_RSA_MODULUS_BITS && l <= 1024)
                        && b64_len(&e).is_some_and(|l| (1..=8).contains(&l)) =>
                {
                    KeyMaterial::Rsa { n, e }
                }
                _ => continue,
            },
            (Some("EC"), Some("P-256")) => match (raw.x, raw.y) {
                (Some(x), Some(y)) if b64_len(&x) == Some(32) && b64_len(&y) == Some(32) => {
                    KeyMaterial::P256 { x, y }
                }
                _ => continue,
            },
            (Some("EC"), Some("P-384")) => match (raw.x, raw.y) {
                (Some(x), Some(y)) if b64_len(&x) == Some(48) && b64_len(&y) == Some(48) => {
                    KeyMaterial::P384 { x, y }
                }
                _ => continue,
            },
            (Some("OKP"), Some("Ed25519")) => match raw.x {
                Some(x) if b64_len(&x) == Some(32) => KeyMaterial::Ed25519 { x },
                _ => continue,
            },
            _ => continue,
        };
        out.push(PublicJwk {
            kid: raw.kid,
            alg: raw.alg,
            material,
        });
    }
    Ok(out)
}
