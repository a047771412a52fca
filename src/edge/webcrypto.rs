//! Ed25519 signature checks through the platform's WebCrypto, which workerd runs natively: a
//! first-seen access token costs a fraction of verifying in wasm. Imported keys are kept per
//! isolate by `kid`. Any failure here only means the wasm verifier does the work instead.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::oauth::access_token::PendingSignature;

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

async fn public_key(subtle: &JsValue, pending: &PendingSignature) -> Result<JsValue, JsValue> {
    if let Some(key) = KEYS.with(|k| k.borrow().get(&pending.kid).cloned()) {
        return Ok(key);
    }
    let args = Array::new();
    args.push(&"raw".into());
    args.push(&Uint8Array::from(&pending.public_key[..]));
    args.push(&ed25519()?);
    args.push(&JsValue::FALSE);
    let usages = Array::new();
    usages.push(&"verify".into());
    args.push(&usages);
    let key = call(subtle, "importKey", &args).await?;
    KEYS.with(|k| k.borrow_mut().insert(pending.kid.clone(), key.clone()));
    Ok(key)
}

/// Whether the signature is valid; `Err` when WebCrypto could not say.
pub async fn verify_ed25519(pending: &PendingSignature) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let key = public_key(&subtle, pending).await?;
    let args = Array::new();
    args.push(&ed25519()?);
    args.push(&key);
    args.push(&Uint8Array::from(&pending.signature[..]));
    args.push(&Uint8Array::from(&pending.message[..]));
    Ok(call(&subtle, "verify", &args).await?.as_bool() == Some(true))
}

thread_local! {
    static REPORTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Logs, once per isolate, that WebCrypto could not verify (wasm takes over).
pub fn report_unavailable(error: &JsValue) {
    if !REPORTED.with(|r| r.replace(true)) {
        worker::console_error!(
            "{}",
            serde_json::json!({"event": "webcrypto_ed25519_unavailable", "reason": format!("{error:?}")})
        );
    }
}
