//! API keys an isolate has looked up (`user_http` plugins), so the hot path reads D1 at most once
//! per key and isolate per `API_KEY_CACHE_SECS`; a revocation takes effect within that window.
//! Unknown keys are kept too, so guessing cannot turn every request into a D1 read. A key's
//! `last_used_at` is due to be written at most once an hour.
//!
//! Entries are kept per plugin: a key looked up at one plugin of a deployment is read again at
//! another (where the proxy refuses it unless it was issued there), never served from here.

use crate::primitives::bounded_cache::BoundedCache;

/// An API key as the proxy needs it (looked up by the hash of the presented key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    /// The plugin (its `name_for_model`) the key was issued at, the only one it works at; `None`
    /// for a key issued before keys named their plugin ([`crate::config::Config::takes_unbound_api_keys`]).
    pub plugin: Option<String>,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
    pub user_disabled: bool,
    pub last_used_at: Option<i64>,
}

/// Most keys an isolate remembers (bounded memory; see [`BoundedCache`] for what goes when full).
pub const MAX_CACHED_KEYS: usize = 10_000;
/// The longest window `API_KEY_CACHE_SECS` may set (`config/shared.rs`): no entry outlives it,
/// whatever window the caller reads with.
pub const MAX_API_KEY_CACHE_SECS: u64 = 300;
/// How stale `last_used_at` may get before it is written again.
pub const LAST_USED_RESOLUTION_SECS: i64 = 3600;

#[derive(Debug)]
pub struct ApiKeyCache {
    /// (Plugin, key hash) → (the record, or `None` for no such key; when it was read, in ms),
    /// times in milliseconds.
    entries: BoundedCache<(String, String), (Option<ApiKeyRecord>, u64)>,
}

impl Default for ApiKeyCache {
    fn default() -> Self {
        ApiKeyCache::with_capacity(MAX_CACHED_KEYS)
    }
}

impl ApiKeyCache {
    pub fn with_capacity(capacity: usize) -> Self {
        ApiKeyCache {
            entries: BoundedCache::new(capacity),
        }
    }

    /// What was read for `key_hash` at `plugin` less than `ttl_secs` ago: `Some(None)` for a key
    /// known not to exist, `None` when it must be read again.
    pub fn fresh(
        &self,
        plugin: &str,
        key_hash: &str,
        now_ms: u64,
        ttl_secs: u64,
    ) -> Option<Option<ApiKeyRecord>> {
        self.entries
            .get(&Self::key(plugin, key_hash), ms(now_ms))
            .filter(|(_, at)| now_ms.saturating_sub(*at) < ttl_secs.saturating_mul(1000))
            .map(|(record, _)| record.clone())
    }

    pub fn insert(
        &mut self,
        plugin: &str,
        key_hash: &str,
        record: Option<ApiKeyRecord>,
        now_ms: u64,
    ) {
        let expires_ms = now_ms.saturating_add(MAX_API_KEY_CACHE_SECS * 1000);
        self.entries.insert(
            Self::key(plugin, key_hash),
            (record, now_ms),
            ms(expires_ms),
            ms(now_ms),
        );
    }

    fn key(plugin: &str, key_hash: &str) -> (String, String) {
        (plugin.to_string(), key_hash.to_string())
    }

    /// Whether this use of a live key should be written to D1 (its `last_used_at` is unset or an
    /// hour old); if so, the cache records it as written, so this isolate will not write again
    /// for an hour.
    pub fn note_use(
        &mut self,
        plugin: &str,
        key_hash: &str,
        record: &ApiKeyRecord,
        now: i64,
    ) -> bool {
        let due = !record.revoked
            && record
                .last_used_at
                .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_SECS);
        if due {
            // Whatever is held: marking a stale entry written changes nothing.
            if let Some((Some(cached), _)) = self.entries.held_mut(&Self::key(plugin, key_hash)) {
                cached.last_used_at = Some(now);
            }
        }
        due
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Milliseconds as the cache's clock.
fn ms(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(last_used_at: Option<i64>) -> ApiKeyRecord {
        ApiKeyRecord {
            id: "key_1".into(),
            plugin: Some("todo".into()),
            user_id: "usr_1".into(),
            scopes: vec!["todos:read".into()],
            revoked: false,
            user_disabled: false,
            last_used_at,
        }
    }

    #[test]
    fn a_read_is_trusted_for_its_window_and_unknown_keys_are_kept_too() {
        let mut cache = ApiKeyCache::default();
        assert_eq!(cache.fresh("todo", "h", 0, 60), None);
        cache.insert("todo", "h", Some(record(None)), 1_000);
        cache.insert("todo", "unknown", None, 1_000);
        assert_eq!(
            cache.fresh("todo", "h", 60_999, 60),
            Some(Some(record(None)))
        );
        assert_eq!(cache.fresh("todo", "unknown", 60_999, 60), Some(None));
        assert_eq!(
            cache.fresh("todo", "h", 61_000, 60),
            None,
            "read again after the window"
        );
        assert_eq!(
            cache.fresh("todo", "h", 1_000, 0),
            None,
            "a zero window never trusts"
        );
    }

    #[test]
    fn use_is_written_at_most_once_an_hour() {
        let mut cache = ApiKeyCache::default();
        let now = 1_790_000_000;
        cache.insert("todo", "h", Some(record(None)), 0);
        let seen = cache.fresh("todo", "h", 0, 60).unwrap().unwrap();
        assert!(cache.note_use("todo", "h", &seen, now));
        let seen = cache.fresh("todo", "h", 0, 60).unwrap().unwrap();
        assert_eq!(seen.last_used_at, Some(now));
        assert!(!cache.note_use("todo", "h", &seen, now + LAST_USED_RESOLUTION_SECS - 1));
        assert!(cache.note_use("todo", "h", &seen, now + LAST_USED_RESOLUTION_SECS));
        let revoked = ApiKeyRecord {
            revoked: true,
            ..record(None)
        };
        assert!(
            !cache.note_use("todo", "h", &revoked, now),
            "a revoked key is not touched"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = ApiKeyCache::with_capacity(3);
        for i in 0..10 {
            cache.insert("todo", &format!("h{i}"), None, 0);
            assert!(cache.len() <= 3);
        }
    }
}
