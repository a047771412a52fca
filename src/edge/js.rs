//! The request's way in and out, in a fixed handful of calls into JavaScript.
//!
//! Reading a request through `worker::Request` and building responses through `worker::Headers`
//! crosses the wasm boundary several times per header, and each crossing costs more than the
//! work it carries. Here the request head is read in one call, a proxied request is built and
//! sent in one, the origin's response head is read in one and the relayed response made in one;
//! header lists cross as one string ([`crate::wire`]). What is forwarded, kept or dropped is still
//! decided in Rust; this file only moves bytes.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::worker_sys::web_sys;

use crate::wire::{self, IncomingRequest, WireChanges};

#[wasm_bindgen(inline_js = r#"
function headersOf(block) {
  return changed(new Headers(), '', block);
}

// A copy of `headers` (made natively) with the names in `remove` deleted and `append` added.
function changed(headers, remove, append) {
  if (remove) for (const name of remove.split('\n')) headers.delete(name);
  if (append) {
    for (const line of append.split('\n')) {
      const colon = line.indexOf(':');
      headers.append(line.slice(0, colon), line.slice(colon + 1));
    }
  }
  return headers;
}

function headLines(first, headers) {
  let out = first;
  for (const [name, value] of headers) out += '\n' + name + ':' + value;
  return out;
}

export function requestHead(request) {
  return headLines(request.method + (request.body === null ? '\n0\n' : '\n1\n') + request.url, request.headers);
}

export async function forward(request, url, method, remove, append, withBody, held, timeoutMs) {
  const controller = new AbortController();
  // The deadline covers the origin's response head only: once it answers, its body may stream
  // for as long as it takes (a server-sent event stream, a large download).
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(url, {
      method,
      headers: changed(new Headers(request.headers), remove, append),
      // A body the gateway read (to check it) goes as those bytes.
      body: held ? held : withBody ? request.body : null,
      redirect: 'manual',
      signal: controller.signal,
    });
  } catch (e) {
    throw new Error(controller.signal.aborted ? 'timeout' : String((e && e.message) || e));
  } finally {
    clearTimeout(timer);
  }
}

// The status, and the headers whose names are among `names` (one per line).
export function responseHead(response, names) {
  let out = String(response.status);
  for (const [name, value] of response.headers) {
    if (names.includes('\n' + name + '\n')) out += '\n' + name + ':' + value;
  }
  return out;
}

export function relay(response, status, remove, append) {
  return new Response(response.body, { status, headers: changed(new Headers(response.headers), remove, append) });
}

export function reply(status, block, body) {
  return new Response(body.length === 0 ? null : new Uint8Array(body), { status, headers: headersOf(block) });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = requestHead)]
    fn request_head_block(request: &web_sys::Request) -> String;

    #[wasm_bindgen(catch, js_name = forward)]
    async fn forward_raw(
        request: &web_sys::Request,
        url: &str,
        method: &str,
        remove: &str,
        append: &str,
        with_body: bool,
        held: Option<js_sys::Uint8Array>,
        timeout_ms: f64,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = responseHead)]
    fn response_head_block(response: &web_sys::Response, names: &str) -> String;

    #[wasm_bindgen(catch, js_name = relay)]
    fn relay_raw(
        response: &web_sys::Response,
        status: u16,
        remove: &str,
        append: &str,
    ) -> Result<web_sys::Response, JsValue>;

    #[wasm_bindgen(catch, js_name = reply)]
    fn reply_raw(status: u16, block: &str, body: &[u8]) -> Result<web_sys::Response, JsValue>;
}

/// The request as the runtime gave it, whether it has a body, and that body if the gateway read
/// it (to check it) before forwarding.
pub(crate) struct Incoming {
    pub(crate) raw: web_sys::Request,
    pub(crate) has_body: bool,
    pub(crate) held_body: Option<Vec<u8>>,
}

/// Why a forward produced no response.
pub enum ForwardFailure {
    /// The connection failed (refused, reset, DNS), or the request could not be built.
    Failed(String),
    /// No response head within the deadline; the request was aborted.
    TimedOut,
}

/// The request's head, the authority it was addressed to and whether it has a body, in one call.
pub fn incoming(request: &web_sys::Request) -> Option<IncomingRequest> {
    wire::parse_incoming(&request_head_block(request))
}

/// Sends the request to `url` with its own headers changed by `changes` (copied natively, then
/// the named ones deleted and the others appended) and, when `with_body`, its body: `held`, the
/// bytes the gateway already read of it, or else the body itself, streamed. Redirects are not
/// followed.
pub async fn forward(
    request: &web_sys::Request,
    url: &str,
    method: &str,
    changes: &WireChanges,
    with_body: bool,
    held: Option<&[u8]>,
    timeout_ms: u64,
) -> Result<web_sys::Response, ForwardFailure> {
    // Copied out of wasm memory into a JavaScript array the fetch owns.
    let held = held.map(js_sys::Uint8Array::from);
    let sent = forward_raw(
        request,
        url,
        method,
        &changes.remove,
        &changes.append,
        with_body,
        held,
        timeout_ms as f64,
    );
    match sent.await {
        Ok(response) => response
            .dyn_into::<web_sys::Response>()
            .map_err(|_| ForwardFailure::Failed("fetch did not return a Response".into())),
        Err(e) => {
            let message = js_message(&e);
            if message == "timeout" {
                Err(ForwardFailure::TimedOut)
            } else {
                Err(ForwardFailure::Failed(message))
            }
        }
    }
}

/// A response's status and those of its headers named in `names` (a [`wire::name_list`]), in
/// one call.
pub fn response_head(
    response: &web_sys::Response,
    names: &str,
) -> Option<(u16, Vec<(String, String)>)> {
    wire::parse_response_head(&response_head_block(response, names))
}

/// A new response with `response`'s body (streamed, not read), `status`, and its headers
/// changed by `changes`.
pub fn relay(
    response: &web_sys::Response,
    status: u16,
    changes: &WireChanges,
) -> Result<web_sys::Response, String> {
    relay_raw(response, status, &changes.remove, &changes.append).map_err(|e| js_message(&e))
}

/// A response with a body held in memory.
pub fn reply(status: u16, headers: &str, body: &[u8]) -> Result<web_sys::Response, String> {
    reply_raw(status, headers, body).map_err(|e| js_message(&e))
}

fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "a JavaScript error".into())
}
