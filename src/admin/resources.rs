//! `/admin/api/resources`: API resources and their permissions.

use super::validate::Fields;
use serde_json::{json, Value};

use super::{
    flag, found, int, json_body, json_column, listing, must_exist, ok, page, sql_error, text, Admin,
};
use crate::directory::admin::ResourceFields;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::sql::{Row, Sql};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn resource_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = found(self.directory().resource(id).await)?;
        let permissions: Vec<Value> = self
            .directory()
            .resource_permissions(id)
            .await
            .map_err(sql_error)?
            .iter()
            .map(|p| json!({ "id": text(p, "id"), "name": text(p, "name"), "description": text(p, "description") }))
            .collect();
        Ok(Self::resource_row_json(&row, Value::Array(permissions)))
    }

    /// A resource as the API shows it, from its row and its permissions.
    pub(crate) fn resource_row_json(row: &Row, permissions: Value) -> Value {
        json!({
            "id": text(row, "id"),
            "indicator": text(row, "indicator"),
            "name": text(row, "name"),
            "default": flag(row, "is_default"),
            "access_token_ttl_secs": int(row, "access_token_ttl_secs"),
            "access_token_alg": text(row, "access_token_alg"),
            "permissions": permissions,
            "created_at": int(row, "created_at"),
        })
    }

    pub(crate) async fn save_resource(
        &self,
        id: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let creating = id.is_none();
        if let Some(id) = id {
            must_exist(self.directory().resource_exists(id).await)?;
        }
        let mut f = Fields::default();
        let indicator = f.text(&body, "indicator", creating, 2048);
        f.indicator("indicator", indicator.as_deref());
        let resource = ResourceFields {
            indicator,
            name: f.text(&body, "name", creating, 200),
            default: f.boolean(&body, "default"),
            access_token_ttl_secs: f.integer(&body, "access_token_ttl_secs", 60, 86_400),
            access_token_alg: f.signing_alg(&body, "access_token_alg", self.rsa_signing),
        };
        f.finish()?;
        let id = match id {
            Some(id) => {
                self.directory()
                    .update_resource(id, resource)
                    .await
                    .map_err(sql_error)?;
                id.to_string()
            }
            None => {
                let id = self.new_id("res")?;
                self.directory()
                    .create_resource(&id, resource)
                    .await
                    .map_err(sql_error)?;
                id
            }
        };
        ok(
            if creating { 201 } else { 200 },
            self.resource_json(&id).await?,
        )
    }

    pub(crate) async fn add_permission(
        &self,
        resource_id: &str,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        must_exist(self.directory().resource_exists(resource_id).await)?;
        let mut f = Fields::default();
        let name = f.text(&body, "name", true, 100);
        f.scope_token("name", name.as_deref());
        let description = f.text(&body, "description", false, 500).unwrap_or_default();
        f.finish()?;
        let name = name.unwrap_or_default();
        self.directory()
            .add_permission(resource_id, &name, &description)
            .await
            .map_err(sql_error)?;
        ok(201, self.resource_json(resource_id).await?)
    }

    pub(crate) async fn remove_permission(
        &self,
        resource_id: &str,
        name: &str,
    ) -> Result<Reply, ApiError> {
        let removed = self
            .directory()
            .remove_permission(resource_id, name)
            .await
            .map_err(sql_error)?;
        if !removed {
            return Err(ApiError::NotFound);
        }
        ok(200, self.resource_json(resource_id).await?)
    }

    pub(crate) async fn list_resources(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (page, _) = page(head)?;
        let rows = self
            .directory()
            .list_resources(&page)
            .await
            .map_err(sql_error)?;
        let items = rows
            .iter()
            .map(|r| Self::resource_row_json(r, json_column(r, "permissions")))
            .collect();
        listing(items, page.limit)
    }
}
