//! Users' API keys: stored as SHA-256 digests, revoked by id.

use crate::sql::{Row, Sql, SqlError};

use super::{AdminDirectory, Page};

/// An API key to store: only its hash and the prefix that lets a person recognise it.
pub struct NewApiKey<'k> {
    pub id: &'k str,
    /// The plugin (`name_for_model`) whose admin API issued it: the only one it works at.
    pub plugin: &'k str,
    pub prefix: &'k str,
    pub key_hash: &'k str,
    pub user_id: &'k str,
    pub name: &'k str,
    /// Space-separated scope tokens.
    pub scopes: &'k str,
}

impl<S: Sql> AdminDirectory<'_, S> {
    pub async fn create_api_key(&self, key: &NewApiKey<'_>) -> Result<(), SqlError> {
        self.write(vec![(
            "INSERT INTO api_keys (id, prefix, key_hash, user_id, name, scopes, created_at, plugin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            vec![
                key.id.into(),
                key.prefix.into(),
                key.key_hash.into(),
                key.user_id.into(),
                key.name.into(),
                key.scopes.into(),
                self.now.into(),
                key.plugin.into(),
            ],
        )])
        .await
        .map(drop)
    }

    /// The key's row, hash included (the admin API shows only the columns it names), with its
    /// user's email.
    pub async fn api_key(&self, id: &str) -> Result<Option<Row>, SqlError> {
        self.first_row(
            "SELECT k.*, u.email AS user_email FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.id = ?1",
            vec![id.into()],
        )
        .await
    }

    pub async fn api_key_exists(&self, id: &str) -> Result<bool, SqlError> {
        self.exists("SELECT id FROM api_keys WHERE id = ?1", id)
            .await
    }

    /// Revokes the key now, unless it already was (the first revocation's time stays).
    pub async fn revoke_api_key(&self, id: &str) -> Result<(), SqlError> {
        self.write(vec![(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            vec![id.into(), self.now.into()],
        )])
        .await
        .map(drop)
    }

    /// One page of keys, of one user when `user_id` is given, each with its user's email (so a
    /// list shows whose keys they are without loading the users).
    pub async fn list_api_keys(
        &self,
        page: &Page,
        user_id: Option<&str>,
    ) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT k.*, u.email AS user_email FROM api_keys k LEFT JOIN users u ON u.id = k.user_id \
                 WHERE k.id > ?1 AND (?2 IS NULL OR k.user_id = ?2) ORDER BY k.id LIMIT ?3",
                vec![page.after.as_str().into(), user_id.into(), page.limit.into()],
            )
            .await
    }
}
