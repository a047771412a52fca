//! Signatures through the platform's WebCrypto, which workerd runs natively: checks of Ed25519
//! access tokens (a first-seen token costs a fraction of verifying in wasm; imported keys are
//! kept per isolate by `kid`, and any failure only means the wasm verifier does the work), of
//! RS256 access tokens (only WebCrypto checks those: no RSA code ships in the wasm), and of the
//! RS256, PS256, ES256 and EdDSA client assertions of `private_key_jwt` clients; and signing with
//! our keys: RS256 (ID tokens, and the access tokens of resources that ask for it) and Ed25519
//! (access tokens, and the assertions the origin receives, a new one per identity on the proxy's
//! path), which workerd signs natively in a fraction of the time the wasm takes.

use std::cell::RefCell;

use crate::primitives::bounded_cache::BoundedCache;
use std::collections::HashMap;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

// A first-seen access token is checked on the proxy's hot path: its Ed25519 import and
// verification are one call each into JavaScript, instead of building the arguments piece by
// piece across the boundary. The byte views into wasm memory are copied before the call returns.
#[wasm_bindgen(inline_js = r#"
export function importEd25519(raw) {
  return crypto.subtle.importKey('raw', raw.slice(), { name: 'Ed25519' }, false, ['verify']);
}
export function verifyEd25519(key, signature, message) {
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature.slice(), message.slice());
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = importEd25519)]
    fn import_ed25519(raw: &[u8]) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = verifyEd25519)]
    fn verify_ed25519_raw(
        key: &JsValue,
        signature: &[u8],
        message: &[u8],
    ) -> Result<Promise, JsValue>;
}

use crate::jose::keys::{RsaSigningKey, SigningKey};
use crate::oauth::access_token::{PendingKey, PendingSignature};
use crate::oauth::client_assertion::{JwsAlgorithm, PublicJwk};
use crate::ports::{JwsSigner, StoreError};

thread_local! {
    static KEYS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}

fn ed25519() -> Result<JsValue, JsValue> {
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"Ed25519".into())?;
    Ok(algorithm.into())
}

fn subtle() -> Result<JsValue, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    Reflect::get(&crypto, &"subtle".into())
}

async fn call(subtle: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
    let function: Function = Reflect::get(subtle, &method.into())?.dyn_into()?;
    let promise: Promise = function.apply(subtle, args)?.dyn_into()?;
    JsFuture::from(promise).await
}

async fn public_key(kid: &str, raw: &[u8; 32]) -> Result<JsValue, JsValue> {
    if let Some(key) = KEYS.with(|k| k.borrow().get(kid).cloned()) {
        return Ok(key);
    }
    let key = JsFuture::from(import_ed25519(raw)?).await?;
    KEYS.with(|k| k.borrow_mut().insert(kid.to_string(), key.clone()));
    Ok(key)
}

/// Whether an access token's signature is valid, by the kind of its key; `Err` when WebCrypto
/// could not say.
pub async fn verify_access_token(pending: &PendingSignature) -> Result<bool, JsValue> {
    match &pending.key {
        PendingKey::Ed25519(raw) => verify_ed25519(pending, raw).await,
        PendingKey::Rsa(jwk) => {
            verify_jws(
                JwsAlgorithm::Rs256,
                jwk,
                &pending.message,
                &pending.signature,
            )
            .await
        }
    }
}

async fn verify_ed25519(pending: &PendingSignature, raw: &[u8; 32]) -> Result<bool, JsValue> {
    let key = public_key(&pending.kid, raw).await?;
    let verified = verify_ed25519_raw(&key, &pending.signature, &pending.message)?;
    Ok(JsFuture::from(verified).await?.as_bool() == Some(true))
}

thread_local! {
    /// The events [`report_once`] has logged in this isolate.
    static REPORTED: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Logs `event` with WebCrypto's error the first time it happens in this isolate.
fn report_once(event: &'static str, error: &JsValue) {
    let first = REPORTED.with(|r| {
        let mut r = r.borrow_mut();
        let first = !r.contains(&event);
        if first {
            r.push(event);
        }
        first
    });
    if first {
        worker::console_error!(
            "{}",
            serde_json::json!({"event": event, "reason": format!("{error:?}")})
        );
    }
}

/// Logs, once per isolate, that WebCrypto could not verify (wasm takes over for Ed25519; RS256
/// tokens are refused).
pub fn report_unavailable(error: &JsValue) {
    report_once("webcrypto_ed25519_unavailable", error);
}

thread_local! {
    /// Imported client keys, by algorithm and JWK: a client signs every token request with the
    /// same few keys.
    /// They never expire (a key's JWK is its cache key), so `now` is always 0 here.
    static CLIENT_KEYS: RefCell<BoundedCache<String, JsValue>> =
        RefCell::new(BoundedCache::new(MAX_IMPORTED_CLIENT_KEYS));
}

/// Client keys an isolate keeps imported (see [`BoundedCache`] for what goes when full).
const MAX_IMPORTED_CLIENT_KEYS: usize = 256;

fn object(pairs: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v)?;
    }
    Ok(o.into())
}

/// The WebCrypto parameters for importing a key and for verifying with it.
fn algorithms(alg: JwsAlgorithm) -> Result<(JsValue, JsValue), JsValue> {
    let sha256: JsValue = "SHA-256".into();
    Ok(match alg {
        JwsAlgorithm::Rs256 => {
            let a = object(&[("name", "RSASSA-PKCS1-v1_5".into()), ("hash", sha256)])?;
            (a.clone(), a)
        }
        JwsAlgorithm::Ps256 => (
            object(&[("name", "RSA-PSS".into()), ("hash", sha256)])?,
            // RFC 7518 §3.5: the salt is as long as the hash.
            object(&[("name", "RSA-PSS".into()), ("saltLength", 32.into())])?,
        ),
        JwsAlgorithm::Es256 => (
            object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())])?,
            // JWS carries `r || s`, which is what WebCrypto's ECDSA takes.
            object(&[("name", "ECDSA".into()), ("hash", sha256)])?,
        ),
        JwsAlgorithm::Es384 => (
            object(&[("name", "ECDSA".into()), ("namedCurve", "P-384".into())])?,
            object(&[("name", "ECDSA".into()), ("hash", "SHA-384".into())])?,
        ),
        JwsAlgorithm::EdDsa => (ed25519()?, ed25519()?),
    })
}

/// Whether `signature` over `message` verifies with a client's public key; `Err` when WebCrypto
/// could not say (an unimportable key is a failed verification, not an error).
pub async fn verify_jws(
    alg: JwsAlgorithm,
    key: &PublicJwk,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let (import_alg, verify_alg) = algorithms(alg)?;
    let jwk_text = key.to_import_json().to_string();
    let cache_key = format!("{}:{jwk_text}", alg.as_str());
    let cached = CLIENT_KEYS.with(|k| k.borrow().get(&cache_key, 0).cloned());
    let crypto_key = match cached {
        Some(k) => k,
        None => {
            let args = Array::new();
            args.push(&"jwk".into());
            args.push(&js_sys::JSON::parse(&jwk_text)?);
            args.push(&import_alg);
            args.push(&JsValue::FALSE);
            let usages = Array::new();
            usages.push(&"verify".into());
            args.push(&usages);
            let Ok(imported) = call(&subtle, "importKey", &args).await else {
                return Ok(false);
            };
            CLIENT_KEYS.with(|k| {
                k.borrow_mut()
                    .insert(cache_key, imported.clone(), i64::MAX, 0)
            });
            imported
        }
    };
    let args = Array::new();
    args.push(&verify_alg);
    args.push(&crypto_key);
    args.push(&Uint8Array::from(signature));
    args.push(&Uint8Array::from(message));
    Ok(call(&subtle, "verify", &args).await?.as_bool() == Some(true))
}

thread_local! {
    /// Our RSA private keys, imported once per isolate, by `kid`; only keys whose first signature
    /// verified with the published public key are kept.
    static SIGNING_KEYS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}

/// Signs `message` with one of our private keys (a JWK), imported once per isolate and kept in
/// `cache` by `kid`. A key is kept only once its first signature passed `check`: a secret whose
/// private part does not belong to its public half fails loudly instead of issuing tokens no one
/// can verify.
async fn sign_with_private_jwk<C, F>(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<String, JsValue>>>,
    kid: &str,
    jwk: &str,
    algorithm: &JsValue,
    message: &[u8],
    check: C,
) -> Result<Vec<u8>, JsValue>
where
    C: FnOnce(Vec<u8>) -> F,
    F: std::future::Future<Output = Result<Vec<u8>, JsValue>>,
{
    let subtle = subtle()?;
    let cached = cache.with(|k| k.borrow().get(kid).cloned());
    let (crypto_key, fresh) = match cached {
        Some(k) => (k, false),
        None => {
            let args = Array::new();
            args.push(&"jwk".into());
            args.push(&js_sys::JSON::parse(jwk)?);
            args.push(algorithm);
            args.push(&JsValue::FALSE);
            let usages = Array::new();
            usages.push(&"sign".into());
            args.push(&usages);
            (call(&subtle, "importKey", &args).await?, true)
        }
    };
    let args = Array::new();
    args.push(algorithm);
    args.push(&crypto_key);
    args.push(&Uint8Array::from(message));
    let signed = call(&subtle, "sign", &args).await?;
    let signature = Uint8Array::new(&signed).to_vec();
    if !fresh {
        return Ok(signature);
    }
    let signature = check(signature).await?;
    cache.with(|k| k.borrow_mut().insert(kid.to_string(), crypto_key));
    Ok(signature)
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over `message` with our RSA key, its first signature checked
/// against the published public key.
pub async fn sign_rs256(key: &RsaSigningKey, message: &[u8]) -> Result<Vec<u8>, JsValue> {
    let (algorithm, _) = algorithms(JwsAlgorithm::Rs256)?;
    let check = |signature: Vec<u8>| async move {
        if verify_jws(JwsAlgorithm::Rs256, key.public(), message, &signature).await? {
            Ok(signature)
        } else {
            Err(JsValue::from_str(
                "the RSA key's private members do not match its modulus",
            ))
        }
    };
    sign_with_private_jwk(
        &SIGNING_KEYS,
        key.kid(),
        key.private_jwk(),
        &algorithm,
        message,
        check,
    )
    .await
}

thread_local! {
    /// Our Ed25519 private keys, imported once per isolate, by `kid`.
    static ED25519_SIGNING_KEYS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}

/// Ed25519 over `message` with our key, through WebCrypto, its first signature checked in Rust
/// against the key's public half.
pub async fn sign_ed25519(key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, JsValue> {
    let check = |signature: Vec<u8>| async move {
        let valid = ed25519_compact::Signature::from_slice(&signature)
            .ok()
            .is_some_and(|s| key.public().verify(message, &s).is_ok());
        if valid {
            Ok(signature)
        } else {
            Err(JsValue::from_str(
                "WebCrypto's Ed25519 signature does not verify with the key's public half",
            ))
        }
    };
    let jwk = key.private_jwk();
    sign_with_private_jwk(
        &ED25519_SIGNING_KEYS,
        key.kid(),
        &jwk,
        &ed25519()?,
        message,
        check,
    )
    .await
}

/// The platform's signer, for code that signs without a backend at hand (the proxy's
/// assertions). Ed25519 falls back to Rust if WebCrypto cannot sign (reported once).
pub struct Platform;

impl JwsSigner for Platform {
    async fn sign_rs256(&self, key: &RsaSigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        sign_rs256(key, message).await.map_err(|e| {
            StoreError::unavailable(format!("WebCrypto RS256 signing with {}: {e:?}", key.kid()))
        })
    }

    async fn sign_ed25519(&self, key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, StoreError> {
        match sign_ed25519(key, message).await {
            Ok(signature) => Ok(signature),
            Err(e) => {
                report_once("webcrypto_ed25519_signing_unavailable", &e);
                Ok(key.secret().sign(message, None).to_vec())
            }
        }
    }
}
