//! Clients, users and the policy the scope decision needs, read from D1 through the [`Sql`] port.
//! The edge runs these queries on D1; native tests run the very same statements on SQLite with
//! the same migrations.

use serde_json::Value;

use crate::oauth::client::{Client, ClientKind};
use crate::ports::{ClientRegistry, PolicyStore, StoreError, User, UserDirectory};
use crate::rbac::scope::{Resource, ScopeContext};
use crate::sql::{Row, Sql, SqlError, SqlValue};

/// The directory over any SQL backend; `now` decides which dynamic registrations have expired.
pub struct SqlDirectory<'a, S: Sql> {
    pub sql: &'a S,
    pub now: i64,
}

fn store_error(e: SqlError) -> StoreError {
    StoreError(format!("D1: {e:?}"))
}

fn s(row: &Row, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn opt_s(row: &Row, key: &str) -> Option<String> {
    row.get(key).and_then(Value::as_str).map(str::to_string)
}

fn n(row: &Row, key: &str) -> Option<i64> {
    row.get(key).and_then(Value::as_f64).map(|f| f as i64)
}

fn user(row: &Row) -> User {
    User {
        id: s(row, "id"),
        email: s(row, "email"),
        name: s(row, "name"),
        password_hash: opt_s(row, "password_hash"),
        disabled: n(row, "disabled").unwrap_or(0) != 0,
    }
}

impl<S: Sql> ClientRegistry for SqlDirectory<'_, S> {
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT id, name, secret_hash, redirect_uris, kind, first_party, locked_until FROM oauth_clients \
                 WHERE id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                vec![client_id.into(), self.now.into()],
            )
            .await
            .map_err(store_error)?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let redirect_uris: Vec<String> = serde_json::from_str(&s(row, "redirect_uris"))
            .map_err(|e| StoreError(format!("client {}: redirect_uris: {e}", s(row, "id"))))?;
        Ok(Some(Client {
            id: s(row, "id"),
            name: s(row, "name"),
            secret_hash: opt_s(row, "secret_hash"),
            redirect_uris,
            kind: if s(row, "kind") == "public" {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            },
            first_party: n(row, "first_party").unwrap_or(0) != 0,
            locked_until: n(row, "locked_until"),
        }))
    }

    async fn lock_client(&self, client_id: &str, until: i64) -> Result<(), StoreError> {
        self.sql
            .batch(vec![(
                "UPDATE oauth_clients SET locked_until = ?1 WHERE id = ?2",
                vec![until.into(), client_id.into()],
            )])
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

impl<S: Sql> UserDirectory for SqlDirectory<'_, S> {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT id, email, name, password_hash, disabled FROM users WHERE email = ?1",
                vec![email.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().map(user))
    }

    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let rows = self
            .sql
            .query(
                "SELECT id, email, name, password_hash, disabled FROM users WHERE id = ?1",
                vec![user_id.into()],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.first().map(user))
    }
}

impl<S: Sql> PolicyStore for SqlDirectory<'_, S> {
    async fn scope_context(
        &self,
        user_id: &str,
        indicator: Option<&str>,
    ) -> Result<ScopeContext, StoreError> {
        // One round trip: the resource (named, or the default one) joined with the permissions
        // the user's roles hold on it.
        let rows = self
            .sql
            .query(
                "SELECT r.id, r.indicator, r.access_token_ttl_secs, p.name AS permission, p.description \
                 FROM api_resources r \
                 LEFT JOIN permissions p ON p.resource_id = r.id AND p.id IN ( \
                   SELECT rp.permission_id FROM role_permissions rp \
                   JOIN user_roles ur ON ur.role_id = rp.role_id WHERE ur.user_id = ?1) \
                 WHERE (?2 IS NULL AND r.is_default = 1) OR r.indicator = ?2 \
                 ORDER BY p.name",
                vec![user_id.into(), SqlValue::from(indicator)],
            )
            .await
            .map_err(store_error)?;
        let mut context = ScopeContext::default();
        for row in &rows {
            if context.resource.is_none() {
                context.resource = Some(Resource {
                    id: s(row, "id"),
                    indicator: s(row, "indicator"),
                    access_token_ttl_secs: n(row, "access_token_ttl_secs").unwrap_or(3600),
                });
            }
            if let Some(p) = opt_s(row, "permission") {
                context
                    .descriptions
                    .push((p.clone(), s(row, "description")));
                context.user_permissions.push(p);
            }
        }
        Ok(context)
    }
}
