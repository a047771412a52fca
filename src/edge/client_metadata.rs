//! Client ID metadata documents: a `client_id` that is an https URL is resolved by fetching it
//! (bounded in size and time, no redirects, never to a private or local address), and the
//! result is cached per isolate for as long as its `Cache-Control` says, within bounds. A
//! document that cannot be used makes the client unknown; why goes to the log. Fetches are
//! throttled per client address (`RATE_LIMIT_CLIENT_METADATA`); a cached document costs none.

use std::cell::RefCell;

use url::Url;
use worker::Env;

use crate::edge::fetch::get_checked_json;
use crate::error::StoreError;
use crate::oauth::client::Client;
use crate::oauth::registration::{
    check_metadata_document_url, metadata_cache_secs, parse_metadata_document,
    MAX_METADATA_DOCUMENT_BYTES, METADATA_FETCH_TIMEOUT_MS, METADATA_MIN_CACHE_SECS,
};
use crate::primitives::bounded_cache::BoundedCache;

/// The Workers rate-limit binding that bounds the fetches one client address can cause.
pub const FETCH_RATE_LIMIT_BINDING: &str = "RATE_LIMIT_CLIENT_METADATA";

/// How long a client address refused more document fetches is told to wait: the binding's
/// window is a minute.
const FETCH_THROTTLED_RETRY_SECS: u64 = 60;

/// Documents an isolate keeps (see [`BoundedCache`] for what goes when full).
const MAX_CACHED_DOCUMENTS: usize = 1000;

thread_local! {
    /// By client_id: the client (or `None` for a document that failed), until it is fetched again.
    static DOCUMENTS: RefCell<BoundedCache<String, Option<Client>>> =
        RefCell::new(BoundedCache::new(MAX_CACHED_DOCUMENTS));
}

/// The client a metadata-document `client_id` names, or `None` if it cannot be used; refused
/// when `client_ip` has caused too many fetches. A cached answer, and a URL refused before any
/// fetch, cost the address nothing. `first_party_names` reads the names of the administrators'
/// clients, which a fetched document may not copy: only when a document was fetched.
pub async fn resolve(
    env: &Env,
    client_id: &str,
    allow_loopback: bool,
    now: i64,
    client_ip: &str,
    first_party_names: impl AsyncFnOnce() -> Result<Vec<String>, StoreError>,
) -> Result<Option<Client>, StoreError> {
    let cached = DOCUMENTS.with(|d| d.borrow().get(client_id, now).cloned());
    if let Some(client) = cached {
        return Ok(client);
    }
    let fetched = match check_metadata_document_url(client_id, allow_loopback) {
        Ok(url) => {
            if !fetch_allowed(env, client_ip).await {
                return Err(StoreError::Throttled {
                    retry_after_secs: FETCH_THROTTLED_RETRY_SECS,
                });
            }
            match fetch(&url).await {
                Ok((body, secs)) => {
                    let names = first_party_names().await?;
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    parse_metadata_document(client_id, &body, &names)
                        .map(|client| (client, secs))
                        .map_err(|e| e.description)
                }
                Err(why) => Err(why),
            }
        }
        Err(why) => Err(why),
    };
    let (client, fresh_secs) = match fetched {
        Ok((client, secs)) => (Some(client), secs),
        Err(why) => {
            worker::console_log!(
                "{}",
                serde_json::json!({"event": "client_metadata_refused", "client_id": client_id, "reason": why})
            );
            // Failures are remembered briefly, so a bad client_id cannot make us fetch per request.
            (None, METADATA_MIN_CACHE_SECS)
        }
    };
    DOCUMENTS.with(|d| {
        d.borrow_mut().insert(
            client_id.to_string(),
            client.clone(),
            now + fresh_secs as i64,
            now,
        )
    });
    Ok(client)
}

/// Charges one fetch to the client address. Without the binding, or when the limiter fails, the
/// fetch goes ahead, like the gateway's other coarse per-address limits.
async fn fetch_allowed(env: &Env, client_ip: &str) -> bool {
    let Ok(limiter) = env.rate_limiter(FETCH_RATE_LIMIT_BINDING) else {
        return true;
    };
    match limiter.limit(client_ip.to_string()).await {
        Ok(outcome) => outcome.success,
        Err(_) => true,
    }
}

/// The document's body, and how long it may be trusted.
async fn fetch(url: &Url) -> Result<(Vec<u8>, u64), String> {
    let (body, cache_control) =
        get_checked_json(url, METADATA_FETCH_TIMEOUT_MS, MAX_METADATA_DOCUMENT_BYTES)
            .await
            .map_err(|why| format!("the document: {why}"))?;
    Ok((body, metadata_cache_secs(cache_control.as_deref())))
}
