//! `/admin/api/resources`: API resources and their permissions.

use super::validate::Fields;
use serde_json::{json, Value};

use super::{flag, int, json_body, json_column, listing, ok, page, text, Admin};
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::sql::{Row, Sql, Statement};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn resource_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                "SELECT id, indicator, name, is_default, access_token_ttl_secs, access_token_alg, created_at FROM api_resources WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        let permissions: Vec<Value> = self
            .query(
                "SELECT id, name, description FROM permissions WHERE resource_id = ?1 ORDER BY name",
                vec![id.into()],
            )
            .await?
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
            self.one(
                "SELECT id FROM api_resources WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        }
        let mut f = Fields::default();
        let indicator = f.text(&body, "indicator", creating, 2048);
        f.indicator("indicator", indicator.as_deref());
        let name = f.text(&body, "name", creating, 200);
        let default = f.boolean(&body, "default");
        let ttl = f.integer(&body, "access_token_ttl_secs", 60, 86_400);
        let alg = f.signing_alg(&body, "access_token_alg", self.rsa_signing);
        f.finish()?;
        let id = match id {
            Some(id) => id.to_string(),
            None => self.new_id("res")?,
        };
        let mut statements: Vec<Statement> = Vec::new();
        if default == Some(true) {
            // At most one default resource: the previous one steps down in the same batch.
            statements.push((
                "UPDATE api_resources SET is_default = 0 WHERE is_default = 1 AND id != ?1",
                vec![id.as_str().into()],
            ));
        }
        if creating {
            statements.push((
                "INSERT INTO api_resources (id, indicator, name, is_default, access_token_ttl_secs, access_token_alg, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vec![
                    id.as_str().into(),
                    indicator.into(),
                    name.into(),
                    default.unwrap_or(false).into(),
                    ttl.unwrap_or(3600).into(),
                    alg.unwrap_or_default().as_str().into(),
                    self.now.into(),
                ],
            ));
        } else {
            statements.push((
                "UPDATE api_resources SET indicator = COALESCE(?2, indicator), name = COALESCE(?3, name), is_default = COALESCE(?4, is_default), access_token_ttl_secs = COALESCE(?5, access_token_ttl_secs), access_token_alg = COALESCE(?6, access_token_alg) WHERE id = ?1",
                vec![
                    id.as_str().into(),
                    indicator.into(),
                    name.into(),
                    default.into(),
                    ttl.into(),
                    alg.map(|a| a.as_str()).into(),
                ],
            ));
        }
        self.batch(statements).await?;
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
        self.one(
            "SELECT id FROM api_resources WHERE id = ?1",
            vec![resource_id.into()],
        )
        .await?;
        let mut f = Fields::default();
        let name = f.text(&body, "name", true, 100);
        f.scope_token("name", name.as_deref());
        let description = f.text(&body, "description", false, 500).unwrap_or_default();
        f.finish()?;
        let name = name.unwrap_or_default();
        let id = format!("{resource_id}:{name}");
        self.batch(vec![(
            "INSERT INTO permissions (id, resource_id, name, description) VALUES (?1, ?2, ?3, ?4)",
            vec![
                id.as_str().into(),
                resource_id.into(),
                name.into(),
                description.into(),
            ],
        )])
        .await?;
        ok(201, self.resource_json(resource_id).await?)
    }

    pub(crate) async fn remove_permission(
        &self,
        resource_id: &str,
        name: &str,
    ) -> Result<Reply, ApiError> {
        let changed = self
            .batch(vec![(
                "DELETE FROM permissions WHERE resource_id = ?1 AND name = ?2",
                vec![resource_id.into(), name.into()],
            )])
            .await?;
        if changed.first() == Some(&0) {
            return Err(ApiError::NotFound);
        }
        ok(200, self.resource_json(resource_id).await?)
    }

    pub(crate) async fn list_resources(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, _) = page(head)?;
        let rows = self
            .query(
                "SELECT r.id, r.indicator, r.name, r.is_default, r.access_token_ttl_secs, r.access_token_alg, r.created_at, \
                   (SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'description', p.description)) \
                    FROM permissions p WHERE p.resource_id = r.id) AS permissions \
                 FROM api_resources r WHERE r.id > ?1 ORDER BY r.id LIMIT ?2",
                vec![after.into(), limit.into()],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| Self::resource_row_json(r, json_column(r, "permissions")))
            .collect();
        listing(items, limit)
    }
}
