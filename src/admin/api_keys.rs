//! `/admin/api/api-keys`: users' API keys, shown once and revoked by id.

use super::validate::Fields;
use serde_json::{json, Value};

use super::{int, json_body, listing, ok, page, text, Admin};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::primitives::hash::sha256_hex;
use crate::sql::{Row, Sql};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) fn key_json(row: &Row) -> Value {
        json!({
            "id": text(row, "id"),
            "prefix": text(row, "prefix"),
            "user_id": text(row, "user_id"),
            "name": text(row, "name"),
            "scopes": text(row, "scopes"),
            "created_at": int(row, "created_at"),
            "last_used_at": int(row, "last_used_at"),
            "revoked_at": int(row, "revoked_at"),
        })
    }

    pub(crate) async fn create_api_key(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let mut f = Fields::default();
        let user_id = f.text(&body, "user_id", true, 100);
        let name = f.text(&body, "name", false, 200).unwrap_or_default();
        let scopes = f.text(&body, "scopes", false, 2000).unwrap_or_default();
        for s in scopes.split(' ').filter(|s| !s.is_empty()) {
            f.scope_token("scopes", Some(s));
        }
        f.finish()?;
        let user_id = user_id.unwrap_or_default();
        self.require_ids("users", "user_id", std::slice::from_ref(&user_id))
            .await?;
        let id = self.new_id("key")?;
        let key = format!("pk_{}", self.random(32)?);
        let prefix: String = key.chars().take(12).collect();
        self.batch(vec![(
            "INSERT INTO api_keys (id, prefix, key_hash, user_id, name, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                id.as_str().into(),
                prefix.into(),
                sha256_hex(&key).into(),
                user_id.into(),
                name.into(),
                scopes.into(),
                self.now.into(),
            ],
        )])
        .await?;
        let row = self
            .one(
                "SELECT * FROM api_keys WHERE id = ?1",
                vec![id.as_str().into()],
            )
            .await?;
        let mut out = Self::key_json(&row);
        out["key"] = json!(key);
        ok(201, out)
    }

    pub(crate) async fn revoke_api_key(&self, id: &str) -> Result<Reply, ApiError> {
        self.one("SELECT id FROM api_keys WHERE id = ?1", vec![id.into()])
            .await?;
        self.batch(vec![(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            vec![id.into(), self.now.into()],
        )])
        .await?;
        let row = self
            .one("SELECT * FROM api_keys WHERE id = ?1", vec![id.into()])
            .await?;
        ok(200, Self::key_json(&row))
    }

    pub(crate) async fn list_api_keys(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, user) = page(head)?;
        let rows = self
            .query(
                "SELECT * FROM api_keys WHERE id > ?1 AND (?2 IS NULL OR user_id = ?2) ORDER BY id LIMIT ?3",
                vec![after.into(), user.into(), limit.into()],
            )
            .await?;
        listing(rows.iter().map(Self::key_json).collect(), limit)
    }
}
