//! What the proxy and the health check read from D1, and the few writes beside them: an API key
//! by the hash of the presented key, when it was last used, OpenAI's stored egress list, and the
//! newest migration applied. The proxy's reads tolerate a read replica (D1's Sessions API): see
//! [`api_key_by_hash_replicated`].

use crate::ports::StoreError;
use crate::proxy::api_key_cache::ApiKeyRecord;
use crate::sql::{Sql, SqlValue};

use super::{n, opt_s, s, store_error, SqlDirectory};

/// Where OpenAI's egress list is kept (`egress_lists.source`).
pub const OPENAI_EGRESS_SOURCE: &str = "openai";

/// An API key by hash, read first where reads may lag (a D1 read replica, near the caller) and
/// again from the primary when the replica has no such key or cannot answer. A key made a moment
/// ago therefore works at once; a revocation or a disabled user reaches the proxy within the
/// replica's lag (on top of the isolate's own cache, `API_KEY_CACHE_SECS`), the same bound
/// stated for that cache.
pub async fn api_key_by_hash_replicated<R: Sql, P: Sql>(
    replica: &SqlDirectory<'_, R>,
    primary: &SqlDirectory<'_, P>,
    key_hash: &str,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    match replica.api_key_by_hash(key_hash).await {
        Ok(Some(record)) => Ok(Some(record)),
        Ok(None) | Err(_) => primary.api_key_by_hash(key_hash).await,
    }
}

impl<S: Sql> SqlDirectory<'_, S> {
    /// The API key whose SHA-256 is `key_hash`, with the plugin it was issued at and whether its
    /// user is disabled (the proxy decides whether it works here).
    pub async fn api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT k.id, k.plugin, k.user_id, k.scopes, k.revoked_at, k.last_used_at, u.disabled \
                 FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
                vec![key_hash.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().map(|row| ApiKeyRecord {
            id: s(row, "id"),
            plugin: opt_s(row, "plugin"),
            user_id: s(row, "user_id"),
            scopes: s(row, "scopes")
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            revoked: n(row, "revoked_at").is_some(),
            user_disabled: n(row, "disabled").unwrap_or(0) != 0,
            last_used_at: n(row, "last_used_at"),
        }))
    }

    /// Records that a key was used at `now` (never moving the time back).
    pub async fn record_api_key_use(&self, key_id: &str, now: i64) -> Result<(), StoreError> {
        self.sql
            .batch(vec![(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                vec![key_id.into(), now.into()],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// The CIDRs stored for an egress list (as the scheduled refresh wrote them); `None` when
    /// none is stored or it does not parse.
    pub async fn egress_cidrs(&self, source: &str) -> Result<Option<Vec<String>>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT cidrs FROM egress_lists WHERE source = ?1",
                vec![source.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows
            .first()
            .and_then(|row| opt_s(row, "cidrs"))
            .and_then(|text| serde_json::from_str::<Vec<String>>(&text).ok()))
    }

    /// Replaces an egress list with a newly fetched one.
    pub async fn store_egress_list(
        &self,
        source: &str,
        creation_time: Option<&str>,
        cidrs: &[String],
    ) -> Result<(), StoreError> {
        let cidrs =
            serde_json::to_string(cidrs).map_err(|e| StoreError::unavailable(e.to_string()))?;
        self.sql
            .batch(vec![(
                "INSERT INTO egress_lists (source, creation_time, cidrs, fetched_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(source) DO UPDATE SET creation_time = excluded.creation_time, cidrs = excluded.cidrs, fetched_at = excluded.fetched_at",
                vec![
                    source.into(),
                    SqlValue::from(creation_time),
                    cidrs.into(),
                    self.now.into(),
                ],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// The greatest migration name applied (not the last applied: a migration numbered below one
    /// already applied, from branches merged in another order, is applied after it).
    pub async fn latest_migration(&self) -> Result<Option<String>, StoreError> {
        let rows = self
            .sql
            .query("SELECT MAX(name) AS name FROM d1_migrations", vec![])
            .await
            .map_err(store_error)?;
        Ok(rows.first().and_then(|row| opt_s(row, "name")))
    }
}
