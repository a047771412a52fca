//! `/admin/api/roles`, and the roles users and machine clients hold (`PUT …/roles`).

use super::validate::Fields;
use serde_json::{json, Value};

use super::{int, json_body, json_column, listing, ok, page, text, Admin};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::sql::{Sql, Statement};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn role_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                "SELECT id, name, description, created_at FROM roles WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        let permissions: Vec<Value> = self
            .query(
                "SELECT p.id, p.name, r.indicator FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id JOIN api_resources r ON r.id = p.resource_id WHERE rp.role_id = ?1 ORDER BY r.indicator, p.name",
                vec![id.into()],
            )
            .await?
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
            self.one("SELECT id FROM roles WHERE id = ?1", vec![id.into()])
                .await?;
        }
        let mut f = Fields::default();
        let name = f.text(&body, "name", creating, 100);
        let description = f.text(&body, "description", false, 500);
        let permissions = f.strings(&body, "permissions", 500, 300);
        f.finish()?;
        if let Some(p) = &permissions {
            self.require_ids("permissions", "permissions", p).await?;
        }
        let id = match id {
            Some(id) => id.to_string(),
            None => self.new_id("rol")?,
        };
        let mut statements: Vec<Statement> = vec![if creating {
            (
                "INSERT INTO roles (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
                vec![
                    id.as_str().into(),
                    name.into(),
                    description.unwrap_or_default().into(),
                    self.now.into(),
                ],
            )
        } else {
            (
                "UPDATE roles SET name = COALESCE(?2, name), description = COALESCE(?3, description) WHERE id = ?1",
                vec![id.as_str().into(), name.into(), description.into()],
            )
        }];
        if let Some(permissions) = &permissions {
            statements.push((
                "DELETE FROM role_permissions WHERE role_id = ?1",
                vec![id.as_str().into()],
            ));
            for p in permissions {
                statements.push((
                    "INSERT INTO role_permissions (role_id, permission_id) VALUES (?1, ?2)",
                    vec![id.as_str().into(), p.as_str().into()],
                ));
            }
        }
        self.batch(statements).await?;
        ok(if creating { 201 } else { 200 }, self.role_json(&id).await?)
    }

    pub(crate) async fn list_roles(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, _) = page(head)?;
        let rows = self
            .query(
                "SELECT ro.id, ro.name, ro.description, ro.created_at, \
                   (SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'resource', r.indicator)) \
                    FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id \
                    JOIN api_resources r ON r.id = p.resource_id WHERE rp.role_id = ro.id) AS permissions \
                 FROM roles ro WHERE ro.id > ?1 ORDER BY ro.id LIMIT ?2",
                vec![after.into(), limit.into()],
            )
            .await?;
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
        listing(items, limit)
    }

    /// `PUT …/roles`: the holder's roles become exactly the ones listed, in one batch.
    pub(crate) async fn set_roles(
        &self,
        holder: RoleHolder,
        id: &str,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let found = self.one(holder.exists(), vec![id.into()]).await?;
        let mut f = Fields::default();
        let roles = f.strings(&body, "roles", 100, 100);
        if !body.contains_key("roles") {
            f.error("roles", "is required");
        }
        // As at creation: only a confidential client can act for itself.
        let public_client = found.get("kind").and_then(|k| k.as_str()) == Some("public");
        if public_client && roles.as_ref().is_some_and(|r| !r.is_empty()) {
            f.error("roles", "only a confidential client can act for itself");
        }
        f.finish()?;
        let roles = roles.unwrap_or_default();
        self.require_ids("roles", "roles", &roles).await?;
        let mut statements: Vec<Statement> = vec![(holder.clear(), vec![id.into()])];
        statements.extend(holder.assignments(id, &roles));
        self.batch(statements).await?;
        ok(
            200,
            match holder {
                RoleHolder::User => self.user_json(id).await?,
                RoleHolder::Client => self.client_json(id).await?,
            },
        )
    }

    pub(crate) async fn roles_of(
        &self,
        holder: RoleHolder,
        id: &str,
    ) -> Result<Vec<Value>, ApiError> {
        Ok(self
            .query(holder.roles(), vec![id.into()])
            .await?
            .iter()
            .map(|r| json!({ "id": text(r, "id"), "name": text(r, "name") }))
            .collect())
    }
}

/// Who holds roles: users, and machine clients (the `client_credentials` grant).
#[derive(Clone, Copy)]
pub(crate) enum RoleHolder {
    User,
    Client,
}

impl RoleHolder {
    pub(crate) fn exists(self) -> &'static str {
        match self {
            RoleHolder::User => "SELECT id FROM users WHERE id = ?1",
            RoleHolder::Client => "SELECT id, kind FROM oauth_clients WHERE id = ?1",
        }
    }

    pub(crate) fn roles(self) -> &'static str {
        match self {
            RoleHolder::User => "SELECT r.id, r.name FROM user_roles h JOIN roles r ON r.id = h.role_id WHERE h.user_id = ?1 ORDER BY r.name",
            RoleHolder::Client => "SELECT r.id, r.name FROM client_roles h JOIN roles r ON r.id = h.role_id WHERE h.client_id = ?1 ORDER BY r.name",
        }
    }

    pub(crate) fn clear(self) -> &'static str {
        match self {
            RoleHolder::User => "DELETE FROM user_roles WHERE user_id = ?1",
            RoleHolder::Client => "DELETE FROM client_roles WHERE client_id = ?1",
        }
    }

    pub(crate) fn assign(self) -> &'static str {
        match self {
            RoleHolder::User => "INSERT INTO user_roles (user_id, role_id) VALUES (?1, ?2)",
            RoleHolder::Client => "INSERT INTO client_roles (client_id, role_id) VALUES (?1, ?2)",
        }
    }

    /// The statements that give `id` exactly `roles`.
    pub(crate) fn assignments(self, id: &str, roles: &[String]) -> Vec<Statement> {
        roles
            .iter()
            .map(|role| (self.assign(), vec![id.into(), role.as_str().into()]))
            .collect()
    }
}
