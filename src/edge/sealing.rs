//! [`TokenCipher`] on the platform: AES-256-GCM through WebCrypto, a fresh 96-bit IV from
//! `crypto.getRandomValues` per seal, the associated data bound in. No AES code ships in the wasm.
//! Sealed form: `v1.` and base64url of IV ‖ ciphertext ‖ tag.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::ports::StoreError;

#[wasm_bindgen(inline_js = r#"
async function aesKey(raw, use) {
  return crypto.subtle.importKey('raw', raw.slice(), { name: 'AES-GCM' }, false, [use]);
}
export async function aesGcmSeal(raw, plaintext, aad) {
  const key = await aesKey(raw, 'encrypt');
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(aad) },
    key,
    new TextEncoder().encode(plaintext),
  ));
  const out = new Uint8Array(12 + sealed.length);
  out.set(iv);
  out.set(sealed, 12);
  return out;
}
// null when it does not open: another key, other associated data, or tampered.
export async function aesGcmOpen(raw, sealed, aad) {
  const key = await aesKey(raw, 'decrypt');
  const bytes = sealed.slice();
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: new TextEncoder().encode(aad) },
      key,
      bytes.subarray(12),
    );
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch (e) {
    if (e && e.name === 'OperationError') return null;
    throw e;
  }
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = aesGcmSeal)]
    fn aes_gcm_seal(raw: &[u8], plaintext: &str, aad: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = aesGcmOpen)]
    fn aes_gcm_open(raw: &[u8], sealed: &[u8], aad: &str) -> Result<Promise, JsValue>;
}

const VERSION: &str = "v1.";

fn failed(what: &str, e: JsValue) -> StoreError {
    StoreError::unavailable(format!(
        "{what}: {}",
        e.as_string().unwrap_or_else(|| format!("{e:?}"))
    ))
}

pub async fn seal(key: &[u8; 32], plaintext: &str, aad: &str) -> Result<String, StoreError> {
    let promise = aes_gcm_seal(key, plaintext, aad).map_err(|e| failed("seal", e))?;
    let bytes = JsFuture::from(promise)
        .await
        .map_err(|e| failed("seal", e))?;
    Ok(format!(
        "{VERSION}{}",
        URL_SAFE_NO_PAD.encode(Uint8Array::new(&bytes).to_vec())
    ))
}

pub async fn unseal(key: &[u8; 32], sealed: &str, aad: &str) -> Result<Option<String>, StoreError> {
    let Some(bytes) = sealed
        .strip_prefix(VERSION)
        .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
        .filter(|b| b.len() > 12 + 16)
    else {
        return Ok(None);
    };
    let promise = aes_gcm_open(key, &bytes, aad).map_err(|e| failed("unseal", e))?;
    let opened = JsFuture::from(promise)
        .await
        .map_err(|e| failed("unseal", e))?;
    Ok(opened.as_string())
}
