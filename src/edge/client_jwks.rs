//! The JWKS of clients that authenticate with `private_key_jwt`, of upstream identity providers,
//! and the key directories of signed agents: fetched with the guards of client metadata documents
//! (a checked public https URL, no redirects, bounded in size and time), cached per isolate for
//! as long as `Cache-Control` says within bounds, and fetched again on an unknown `kid` (key
//! rotation) at most once a minute per URL.

use std::cell::RefCell;

use crate::primitives::bounded_cache::BoundedCache;

use super::backend::EdgeBackend;
use crate::edge::fetch::get_checked_json;
use crate::oauth::client_assertion::{parse_jwks, PublicJwk};
use crate::oauth::registration::{
    check_metadata_document_url, metadata_cache_secs, METADATA_FETCH_TIMEOUT_MS,
    METADATA_MIN_CACHE_SECS,
};
use crate::ports::{AgentDirectory, ClientKeys, StoreError};

/// The largest JWKS fetched: a few RSA keys take 2 KiB.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// An unknown `kid` refetches a JWKS at most this often.
pub const JWKS_MIN_REFETCH_SECS: i64 = 60;
/// Key sets an isolate keeps (see [`BoundedCache`] for what goes when full).
const MAX_CACHED_JWKS: usize = 500;

struct Cached {
    keys: Result<Vec<PublicJwk>, String>,
    fetched_at: i64,
}

thread_local! {
    /// By kind and URL, until the answer's `Cache-Control` runs out.
    static JWKS: RefCell<BoundedCache<String, Cached>> = RefCell::new(BoundedCache::new(MAX_CACHED_JWKS));
}

/// The signing keys at `jwks_uri`; see [`crate::ports::ClientKeys`].
pub async fn keys(
    jwks_uri: &str,
    refresh: bool,
    allow_loopback: bool,
    now: i64,
) -> Result<Vec<PublicJwk>, String> {
    keys_checked(jwks_uri, refresh, now, Document::Jwks, |uri| {
        check_metadata_document_url(uri, allow_loopback).map_err(|why| format!("jwks_uri: {why}"))
    })
    .await
}

/// The Ed25519 keys valid now in a signed agent's directory (`<origin>/.well-known/
/// http-message-signatures-directory`); see [`crate::ports::AgentDirectory`]. The origin is one
/// the plugin trusts; the URL still passes the fetch guards.
pub async fn agent_keys(
    origin: &str,
    refresh: bool,
    allow_loopback: bool,
    now: i64,
) -> Result<Vec<PublicJwk>, String> {
    let url = crate::proxy::signed_agent::directory_url(origin);
    keys_checked(&url, refresh, now, Document::AgentDirectory, |uri| {
        check_metadata_document_url(uri, allow_loopback)
            .map_err(|why| format!("agent directory: {why}"))
    })
    .await
}

/// What is read at a URL: a JWKS, or an agent's key directory (keys valid now only). Part of the
/// cache key: a directory read as a JWKS (a client may name any URL as its `jwks_uri`) must not
/// stand for the directory, whose keys' `nbf` and `exp` are then unchecked.
#[derive(Clone, Copy, Debug)]
enum Document {
    Jwks,
    AgentDirectory,
}

/// An upstream identity provider's signing keys (its `jwks_uri` from discovery), cached the same
/// way; see [`crate::ports::Upstream::provider_jwks`].
pub async fn provider_keys(
    jwks_uri: &str,
    refresh: bool,
    now: i64,
) -> Result<Vec<PublicJwk>, String> {
    keys_checked(jwks_uri, refresh, now, Document::Jwks, |uri| {
        crate::federation::check_provider_url(uri).map_err(|why| format!("jwks_uri: {why}"))
    })
    .await
}

async fn keys_checked(
    jwks_uri: &str,
    refresh: bool,
    now: i64,
    kind: Document,
    check: impl FnOnce(&str) -> Result<url::Url, String>,
) -> Result<Vec<PublicJwk>, String> {
    let cache_key = format!("{kind:?} {jwks_uri}");
    let cached = JWKS.with(|c| {
        let c = c.borrow();
        if refresh {
            // Fetched within the last minute: answered as held, fresh or not.
            c.held(&cache_key)
                .filter(|entry| now < entry.fetched_at + JWKS_MIN_REFETCH_SECS)
        } else {
            c.get(&cache_key, now)
        }
        .map(|entry| entry.keys.clone())
    });
    if let Some(keys) = cached {
        return keys;
    }
    let (keys, fresh_secs) = match fetch(check(jwks_uri), kind, now).await {
        Ok((keys, secs)) => (Ok(keys), secs),
        Err(why) => {
            worker::console_log!(
                "{}",
                serde_json::json!({"event": "jwks_refused", "jwks_uri": jwks_uri, "reason": why})
            );
            (Err(why), METADATA_MIN_CACHE_SECS)
        }
    };
    JWKS.with(|c| {
        c.borrow_mut().insert(
            cache_key,
            Cached {
                keys: keys.clone(),
                fetched_at: now,
            },
            now + fresh_secs as i64,
            now,
        )
    });
    keys
}

async fn fetch(
    url: Result<url::Url, String>,
    kind: Document,
    now: i64,
) -> Result<(Vec<PublicJwk>, u64), String> {
    let url = url?;
    let (body, cache_control) = get_checked_json(&url, METADATA_FETCH_TIMEOUT_MS, MAX_JWKS_BYTES)
        .await
        .map_err(|why| format!("the JWKS: {why}"))?;
    let document = crate::primitives::json::parse_unique(&body)
        .map_err(|_| "the JWKS is not JSON, or repeats a key".to_string())?;
    let secs = metadata_cache_secs(cache_control.as_deref());
    match kind {
        Document::Jwks => Ok((parse_jwks(&document)?, secs)),
        Document::AgentDirectory => {
            // Kept no longer than its first key stays valid.
            let (keys, until) = crate::proxy::signed_agent::parse_directory(&document, now)?;
            let left = until.map_or(secs, |u| u64::try_from(u - now).unwrap_or(0));
            Ok((keys, secs.min(left.max(1))))
        }
    }
}

impl ClientKeys for EdgeBackend<'_> {
    async fn client_jwks(
        &self,
        jwks_uri: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError> {
        Ok(keys(jwks_uri, refresh, self.allow_loopback_client_metadata, now).await)
    }
}

impl AgentDirectory for EdgeBackend<'_> {
    async fn agent_keys(
        &self,
        origin: &str,
        refresh: bool,
        now: i64,
    ) -> Result<Result<Vec<PublicJwk>, String>, StoreError> {
        Ok(agent_keys(origin, refresh, self.allow_loopback_client_metadata, now).await)
    }
}
