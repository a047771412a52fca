//! `/admin/api/roles`, and the roles users and machine clients hold (`PUT …/roles`).

use super::validate::Fields;
use serde_json::{json, Value};

use super::{
    found, int, json_body, json_column, listing, must_exist, ok, page, sql_error, text, Admin,
};
use crate::directory::admin::{Referenced, RoleFields, RoleHolder};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::sql::Sql;

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn role_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = found(self.directory().role(id).await)?;
        let permissions: Vec<Value> = self
            .directory()
            .role_permissions(id)
            .await
            .map_err(sql_error)?
            .iter()
            .map(|p| json!({ "id": text(p, "id"), "name": text(p, "name"), "resource": text(p, "indicator") }))
            .collect();
        Ok(json!({
            "id": text(&row, "id"),
            "name": text(&row, "name"),
            "description": text(&row, "description"),
            "permissions": permissions,
            "created_at": int(&row, "created_at"),
        }))
    }

    pub(crate) async fn save_role(&self, id: Option<&str>, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let creating = id.is_none();
        if let Some(id) = id {
            must_exist(self.directory().role_exists(id).await)?;
        }
        let mut f = Fields::default();
        let name = f.text(&body, "name", creating, 100);
        let description = f.text(&body, "description", false, 500);
        let permissions = f.strings(&body, "permissions", 500, 300);
        f.finish()?;
        if let Some(p) = &permissions {
            self.require_ids(Referenced::Permission, "permissions", p)
                .await?;
        }
        let role = RoleFields {
            name: name.as_deref(),
            description: description.as_deref(),
            permissions: permissions.as_deref(),
        };
        let id = match id {
            Some(id) => {
                self.directory()
                    .update_role(id, &role)
                    .await
                    .map_err(sql_error)?;
                id.to_string()
            }
            None => {
                let id = self.new_id("rol")?;
                self.directory()
                    .create_role(&id, &role)
                    .await
                    .map_err(sql_error)?;
                id
            }
        };
        ok(if creating { 201 } else { 200 }, self.role_json(&id).await?)
    }

    pub(crate) async fn list_roles(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (page, _) = page(head)?;
        let rows = self
            .directory()
            .list_roles(&page)
            .await
            .map_err(sql_error)?;
        let items = rows
            .iter()
            .map(|r| {
                json!({
                    "id": text(r, "id"),
                    "name": text(r, "name"),
                    "description": text(r, "description"),
                    "permissions": json_column(r, "permissions"),
                    "created_at": int(r, "created_at"),
                })
            })
            .collect();
        listing(items, page.limit)
    }

    /// `PUT …/roles`: the holder's roles become exactly the ones listed, in one batch.
    pub(crate) async fn set_roles(
        &self,
        holder: RoleHolder,
        id: &str,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let public_client = found(self.directory().holder_is_public_client(holder, id).await)?;
        let mut f = Fields::default();
        let roles = f.strings(&body, "roles", 100, 100);
        if !body.contains_key("roles") {
            f.error("roles", "is required");
        }
        // As at creation: only a confidential client can act for itself.
        if public_client && roles.as_ref().is_some_and(|r| !r.is_empty()) {
            f.error("roles", "only a confidential client can act for itself");
        }
        f.finish()?;
        let roles = roles.unwrap_or_default();
        self.require_ids(Referenced::Role, "roles", &roles).await?;
        self.directory()
            .replace_roles(holder, id, &roles)
            .await
            .map_err(sql_error)?;
        ok(
            200,
            match holder {
                RoleHolder::User => self.user_json(id).await?,
                RoleHolder::Client => self.client_json(id).await?,
            },
        )
    }
}
