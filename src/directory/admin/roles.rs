//! Roles, the permissions they hold, and the roles users and machine clients hold.

use crate::sql::{Row, Sql, SqlError, Statement};

use super::{AdminDirectory, Page, Referenced};

/// Who holds roles: users, and machine clients (the `client_credentials` grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleHolder {
    User,
    Client,
}

impl RoleHolder {
    /// Finds the holder; a client's row carries its `kind`, since a public client cannot act
    /// for itself and so holds no roles.
    fn find(self) -> &'static str {
        match self {
            RoleHolder::User => Referenced::User.exists(),
            RoleHolder::Client => "SELECT id, kind FROM oauth_clients WHERE id = ?1",
        }
    }

    fn clear(self) -> &'static str {
        match self {
            RoleHolder::User => "DELETE FROM user_roles WHERE user_id = ?1",
            RoleHolder::Client => "DELETE FROM client_roles WHERE client_id = ?1",
        }
    }

    fn assign(self) -> &'static str {
        match self {
            RoleHolder::User => "INSERT INTO user_roles (user_id, role_id) VALUES (?1, ?2)",
            RoleHolder::Client => "INSERT INTO client_roles (client_id, role_id) VALUES (?1, ?2)",
        }
    }

    /// The statements that give `id` the `roles` (added to what it holds: clear first to
    /// replace them).
    pub(super) fn assignments(self, id: &str, roles: &[String]) -> Vec<Statement> {
        roles
            .iter()
            .map(|role| (self.assign(), vec![id.into(), role.as_str().into()]))
            .collect()
    }
}

/// A role's fields as a request sets them: `None` keeps a field (on creation, takes its
/// default); `permissions`, when given, become exactly the role's permissions.
#[derive(Debug, Default)]
pub struct RoleFields<'r> {
    pub name: Option<&'r str>,
    pub description: Option<&'r str>,
    pub permissions: Option<&'r [String]>,
}

impl RoleFields<'_> {
    /// The statements that make the role's permissions exactly the ones given, if any were.
    fn permission_statements(&self, role_id: &str) -> Vec<Statement> {
        let Some(permissions) = self.permissions else {
            return Vec::new();
        };
        let mut statements: Vec<Statement> = vec![(
            "DELETE FROM role_permissions WHERE role_id = ?1",
            vec![role_id.into()],
        )];
        for p in permissions {
            statements.push((
                "INSERT INTO role_permissions (role_id, permission_id) VALUES (?1, ?2)",
                vec![role_id.into(), p.as_str().into()],
            ));
        }
        statements
    }
}

impl<S: Sql> AdminDirectory<'_, S> {
    pub async fn role(&self, id: &str) -> Result<Option<Row>, SqlError> {
        self.first_row(
            "SELECT id, name, description, created_at FROM roles WHERE id = ?1",
            vec![id.into()],
        )
        .await
    }

    /// Of the role names given, those no role has.
    pub async fn missing_role_names(&self, names: &[String]) -> Result<Vec<String>, SqlError> {
        let list = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
        let rows = self
            .sql
            .query(
                "SELECT value AS name FROM json_each(?1) WHERE value NOT IN (SELECT name FROM roles)",
                vec![list.into()],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get("name").and_then(|v| v.as_str()).map(str::to_string))
            .collect())
    }

    pub async fn role_exists(&self, id: &str) -> Result<bool, SqlError> {
        self.exists(Referenced::Role.exists(), id).await
    }

    /// The role's permissions (`id`, `name`, and their resource's `indicator`), by resource
    /// and name.
    pub async fn role_permissions(&self, id: &str) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT p.id, p.name, r.indicator FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id JOIN api_resources r ON r.id = p.resource_id WHERE rp.role_id = ?1 ORDER BY r.indicator, p.name",
                vec![id.into()],
            )
            .await
    }

    /// Creates the role with its permissions in one batch.
    pub async fn create_role(&self, id: &str, role: &RoleFields<'_>) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO roles (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
            vec![
                id.into(),
                role.name.into(),
                role.description.unwrap_or_default().into(),
                self.now.into(),
            ],
        )];
        statements.extend(role.permission_statements(id));
        self.write(statements).await.map(drop)
    }

    /// Changes the role, and replaces its permissions when they are given, in one batch.
    pub async fn update_role(&self, id: &str, role: &RoleFields<'_>) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = vec![(
            "UPDATE roles SET name = COALESCE(?2, name), description = COALESCE(?3, description) WHERE id = ?1",
            vec![id.into(), role.name.into(), role.description.into()],
        )];
        statements.extend(role.permission_statements(id));
        self.write(statements).await.map(drop)
    }

    /// Deletes the role (its holders lose it); false when there was no such role.
    pub async fn delete_role(&self, id: &str) -> Result<bool, SqlError> {
        self.change_one("DELETE FROM roles WHERE id = ?1", id).await
    }

    /// One page of roles, each with its permissions aggregated as JSON: one query per page.
    pub async fn list_roles(&self, page: &Page) -> Result<Vec<Row>, SqlError> {
        self.sql
            .query(
                "SELECT ro.id, ro.name, ro.description, ro.created_at, \
                   (SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'resource', r.indicator)) \
                    FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id \
                    JOIN api_resources r ON r.id = p.resource_id WHERE rp.role_id = ro.id) AS permissions \
                 FROM roles ro WHERE ro.id > ?1 ORDER BY ro.id LIMIT ?2",
                vec![page.after.as_str().into(), page.limit.into()],
            )
            .await
    }

    /// Whether the holder is a public client: `None` when there is no such holder.
    pub async fn holder_is_public_client(
        &self,
        holder: RoleHolder,
        id: &str,
    ) -> Result<Option<bool>, SqlError> {
        let row = self.first_row(holder.find(), vec![id.into()]).await?;
        Ok(row.map(|row| crate::directory::opt_s(&row, "kind").as_deref() == Some("public")))
    }

    /// Makes the holder's roles exactly `roles`, in one batch: the old set stays whole if any
    /// assignment fails.
    pub async fn replace_roles(
        &self,
        holder: RoleHolder,
        id: &str,
        roles: &[String],
    ) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = vec![(holder.clear(), vec![id.into()])];
        statements.extend(holder.assignments(id, roles));
        self.write(statements).await.map(drop)
    }
}
