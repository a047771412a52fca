//! API resources (RFC 8707 indicators) and the permissions defined on them.

use crate::jose::keys::SigningAlg;
use crate::sql::{Row, Sql, SqlError, Statement};

use super::{AdminDirectory, Page};

/// A resource's fields as a request sets them: `None` keeps a field, or on creation takes the
/// schema's default (not default, one-hour tokens, EdDSA).
#[derive(Debug, Default)]
pub struct ResourceFields {
    pub indicator: Option<String>,
    pub name: Option<String>,
    pub default: Option<bool>,
    pub access_token_ttl_secs: Option<i64>,
    pub access_token_alg: Option<SigningAlg>,
}

impl ResourceFields {
    /// At most one resource is the default: when this one becomes it, the previous one steps
    /// down in the same batch.
    fn step_down(&self, id: &str) -> Option<Statement> {
        (self.default == Some(true)).then(|| {
            (
                "UPDATE api_resources SET is_default = 0 WHERE is_default = 1 AND id != ?1",
                vec![id.into()],
            )
        })
    }
}

impl<S: Sql> AdminDirectory<'_, S> {
    pub async fn resource(&self, id: &str) -> Result<Option<Row>, SqlError> {
        self.first_row(
            "SELECT id, indicator, name, is_default, access_token_ttl_secs, access_token_alg, created_at FROM api_resources WHERE id = ?1",
            vec![id.into()],
        )
        .await
    }

    pub async fn resource_exists(&self, id: &str) -> Result<bool, SqlError> {
        self.exists("SELECT id FROM api_resources WHERE id = ?1", id)
            .await
    }

    /// The resource's permissions (`id`, `name`, `description`), by name.
    pub async fn resource_permissions(&self, id: &str) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT id, name, description FROM permissions WHERE resource_id = ?1 ORDER BY name",
                vec![id.into()],
            )
            .await
    }

    /// Creates the resource (and, when it is the default, steps the previous one down).
    pub async fn create_resource(
        &self,
        id: &str,
        resource: ResourceFields,
    ) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = resource.step_down(id).into_iter().collect();
        statements.push((
            "INSERT INTO api_resources (id, indicator, name, is_default, access_token_ttl_secs, access_token_alg, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                id.into(),
                resource.indicator.into(),
                resource.name.into(),
                resource.default.unwrap_or(false).into(),
                resource.access_token_ttl_secs.unwrap_or(3600).into(),
                resource.access_token_alg.unwrap_or_default().as_str().into(),
                self.now.into(),
            ],
        ));
        self.write(statements).await.map(drop)
    }

    /// Changes the resource (and, when it becomes the default, steps the previous one down).
    pub async fn update_resource(
        &self,
        id: &str,
        resource: ResourceFields,
    ) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = resource.step_down(id).into_iter().collect();
        statements.push((
            "UPDATE api_resources SET indicator = COALESCE(?2, indicator), name = COALESCE(?3, name), is_default = COALESCE(?4, is_default), access_token_ttl_secs = COALESCE(?5, access_token_ttl_secs), access_token_alg = COALESCE(?6, access_token_alg) WHERE id = ?1",
            vec![
                id.into(),
                resource.indicator.into(),
                resource.name.into(),
                resource.default.into(),
                resource.access_token_ttl_secs.into(),
                resource.access_token_alg.map(|a| a.as_str()).into(),
            ],
        ));
        self.write(statements).await.map(drop)
    }

    /// Deletes the resource and, by the schema's cascades, its permissions; false when there
    /// was no such resource.
    pub async fn delete_resource(&self, id: &str) -> Result<bool, SqlError> {
        self.change_one("DELETE FROM api_resources WHERE id = ?1", id)
            .await
    }

    /// Adds the permission `name` to the resource; its id is `<resource id>:<name>`, which is
    /// how roles name it.
    pub async fn add_permission(
        &self,
        resource_id: &str,
        name: &str,
        description: &str,
    ) -> Result<(), SqlError> {
        self.write(vec![(
            "INSERT INTO permissions (id, resource_id, name, description) VALUES (?1, ?2, ?3, ?4)",
            vec![
                format!("{resource_id}:{name}").into(),
                resource_id.into(),
                name.into(),
                description.into(),
            ],
        )])
        .await
        .map(drop)
    }

    /// Removes the permission `name` from the resource (and from every role holding it);
    /// false when the resource had no such permission.
    pub async fn remove_permission(&self, resource_id: &str, name: &str) -> Result<bool, SqlError> {
        let changed = self
            .write(vec![(
                "DELETE FROM permissions WHERE resource_id = ?1 AND name = ?2",
                vec![resource_id.into(), name.into()],
            )])
            .await?;
        Ok(changed.first() != Some(&0))
    }

    /// One page of resources, each with its permissions aggregated as JSON: one query per page.
    pub async fn list_resources(&self, page: &Page) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT r.id, r.indicator, r.name, r.is_default, r.access_token_ttl_secs, r.access_token_alg, r.created_at, \
                   (SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'description', p.description)) \
                    FROM permissions p WHERE p.resource_id = r.id) AS permissions \
                 FROM api_resources r WHERE r.id > ?1 ORDER BY r.id LIMIT ?2",
                vec![page.after.as_str().into(), page.limit.into()],
            )
            .await
    }
}
