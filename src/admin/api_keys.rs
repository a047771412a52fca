//! `/admin/api/api-keys`: users' API keys, shown once and revoked by id. A key is issued for the
//! plugin whose host the call reached (the admin API is served on each plugin's hosts) and works
//! only there.

use super::validate::Fields;
use serde_json::{json, Value};

use super::{
    found, int, json_body, listing, must_exist, ok, page, sql_error, store_error, text, Admin,
};
use crate::accounts::api_keys::issue_api_key;
use crate::directory::admin::{NewApiKey, Referenced};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::sql::{Row, Sql};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) fn key_json(row: &Row) -> Value {
        json!({
            "id": text(row, "id"),
            "plugin": text(row, "plugin"),
            "prefix": text(row, "prefix"),
            "user_id": text(row, "user_id"),
            "user_email": text(row, "user_email"),
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
        self.require_ids(Referenced::User, "user_id", std::slice::from_ref(&user_id))
            .await?;
        let issued = issue_api_key(self.backend).map_err(store_error)?;
        let id = issued.id;
        let stored = NewApiKey {
            id: &id,
            plugin: self.plugin,
            prefix: &issued.prefix,
            key_hash: &issued.key_hash,
            user_id: &user_id,
            name: &name,
            scopes: &scopes,
        };
        self.directory()
            .create_api_key(&stored)
            .await
            .map_err(sql_error)?;
        let row = found(self.directory().api_key(&id).await)?;
        let mut out = Self::key_json(&row);
        out["key"] = json!(issued.key.expose());
        ok(201, out)
    }

    pub(crate) async fn revoke_api_key(&self, id: &str) -> Result<Reply, ApiError> {
        must_exist(self.directory().api_key_exists(id).await)?;
        self.directory()
            .revoke_api_key(id)
            .await
            .map_err(sql_error)?;
        let row = found(self.directory().api_key(id).await)?;
        ok(200, Self::key_json(&row))
    }

    pub(crate) async fn list_api_keys(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (page, user) = page(head)?;
        let rows = self
            .directory()
            .list_api_keys(&page, user.as_deref())
            .await
            .map_err(sql_error)?;
        listing(rows.iter().map(Self::key_json).collect(), page.limit)
    }
}
