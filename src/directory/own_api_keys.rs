//! The API keys a user holds, as their account page lists and changes them: only ever their own
//! (every statement names the user), and on `user_http` plugins only that plugin's. The admin
//! API's statements for keys are in `admin/api_keys.rs`; both store what
//! [`crate::accounts::api_keys::issue_api_key`] issued.

use crate::ports::{ApiKeySummary, OwnApiKey, StoreError};
use crate::sql::Sql;

use super::{n, opt_s, s, store_error, SqlDirectory};

/// Keys listed on one account page, at most.
const MAX_LISTED_KEYS: i64 = 100;

impl<S: Sql> SqlDirectory<'_, S> {
    /// The user's keys, newest first; with `plugin`, that plugin's only.
    pub async fn own_api_keys(
        &self,
        user_id: &str,
        plugin: Option<&str>,
    ) -> Result<Vec<ApiKeySummary>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT id, plugin, prefix, name, scopes, created_at, last_used_at, revoked_at FROM api_keys \
                 WHERE user_id = ?1 AND (?2 IS NULL OR plugin = ?2) ORDER BY created_at DESC, id LIMIT ?3",
                vec![user_id.into(), plugin.into(), MAX_LISTED_KEYS.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows
            .iter()
            .map(|r| ApiKeySummary {
                id: s(r, "id"),
                plugin: opt_s(r, "plugin"),
                prefix: s(r, "prefix"),
                name: s(r, "name"),
                scopes: s(r, "scopes"),
                created_at: n(r, "created_at").unwrap_or(0),
                last_used_at: n(r, "last_used_at"),
                revoked_at: n(r, "revoked_at"),
            })
            .collect())
    }

    pub async fn revoke_own_api_key(
        &self,
        user_id: &str,
        key_id: &str,
        plugin: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.changed_one(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) \
             WHERE id = ?1 AND user_id = ?2 AND (?4 IS NULL OR plugin = ?4)",
            vec![key_id.into(), user_id.into(), now.into(), plugin.into()],
        )
        .await
    }

    /// Inserts the key only while the user holds fewer than `limit` live keys at its plugin.
    pub async fn create_own_api_key(
        &self,
        key: &OwnApiKey<'_>,
        limit: usize,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.changed_one(
            "INSERT INTO api_keys (id, prefix, key_hash, user_id, name, scopes, created_at, plugin) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
             WHERE (SELECT COUNT(*) FROM api_keys WHERE user_id = ?4 AND plugin = ?8 AND revoked_at IS NULL) < ?9",
            vec![
                key.id.into(),
                key.prefix.into(),
                key.key_hash.into(),
                key.user_id.into(),
                key.name.into(),
                key.scopes.into(),
                now.into(),
                key.plugin.into(),
                (limit as i64).into(),
            ],
        )
        .await
    }

    pub async fn rename_own_api_key(
        &self,
        user_id: &str,
        plugin: &str,
        key_id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.changed_one(
            "UPDATE api_keys SET name = ?4 \
             WHERE id = ?1 AND user_id = ?2 AND plugin = ?3 AND revoked_at IS NULL",
            vec![key_id.into(), user_id.into(), plugin.into(), name.into()],
        )
        .await
    }

    /// One batch (D1 runs it atomically): the new key, with the old one's name, made only while
    /// the old one is the user's and live; then the old one revoked.
    pub async fn rotate_own_api_key(
        &self,
        old_id: &str,
        new: &OwnApiKey<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .sql
            .batch(vec![
                (
                    "INSERT INTO api_keys (id, prefix, key_hash, user_id, name, scopes, created_at, plugin) \
                     SELECT ?1, ?2, ?3, user_id, name, ?4, ?5, plugin FROM api_keys \
                     WHERE id = ?6 AND user_id = ?7 AND plugin = ?8 AND revoked_at IS NULL",
                    vec![
                        new.id.into(),
                        new.prefix.into(),
                        new.key_hash.into(),
                        new.scopes.into(),
                        now.into(),
                        old_id.into(),
                        new.user_id.into(),
                        new.plugin.into(),
                    ],
                ),
                (
                    "UPDATE api_keys SET revoked_at = ?4 \
                     WHERE id = ?1 AND user_id = ?2 AND plugin = ?3 AND revoked_at IS NULL",
                    vec![
                        old_id.into(),
                        new.user_id.into(),
                        new.plugin.into(),
                        now.into(),
                    ],
                ),
            ])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    /// Runs one statement; whether it changed a row.
    async fn changed_one(
        &self,
        sql: &'static str,
        args: Vec<crate::sql::SqlValue>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .sql
            .batch(vec![(sql, args)])
            .await
            .map_err(store_error)?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }
}
