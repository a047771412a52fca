//! `/admin/api/users`: users, their passwords, their quota, and revoking their grants.

use super::validate::Fields;
use serde_json::{json, Value};

use super::roles::RoleHolder;
use super::{
    flag, int, json_body, json_column, listing, ok, page, store_error, text, Admin,
    MAX_ADMIN_BODY_BYTES,
};
use crate::directory::SqlDirectory;
use crate::error::ApiError;
use crate::http::{Reply, RequestHead};
use crate::oauth::grants::Grants;
use crate::ports::{GrantStore, PasswordHasher, Rng, Throttle};
use crate::sql::{Sql, Statement};

impl<S: Sql, B: PasswordHasher + Rng + GrantStore + Throttle> Admin<'_, S, B> {
    pub(crate) async fn user_json(&self, id: &str) -> Result<Value, ApiError> {
        let row = self
            .one(
                "SELECT id, email, name, disabled, password_hash IS NOT NULL AS has_password, created_at, updated_at FROM users WHERE id = ?1",
                vec![id.into()],
            )
            .await?;
        let roles = self.roles_of(RoleHolder::User, id).await?;
        Ok(json!({
            "id": text(&row, "id"),
            "email": text(&row, "email"),
            "name": text(&row, "name"),
            "disabled": flag(&row, "disabled"),
            "has_password": flag(&row, "has_password"),
            "roles": roles,
            "created_at": int(&row, "created_at"),
            "updated_at": int(&row, "updated_at"),
        }))
    }

    pub(crate) async fn create_user(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let mut f = Fields::default();
        let email = f.text(&body, "email", true, 320);
        f.email("email", email.as_deref());
        let name = f.text(&body, "name", false, 200).unwrap_or_default();
        let password = match body.get("password") {
            Some(Value::String(p)) => Some(p.clone()),
            None | Some(Value::Null) => None,
            Some(_) => {
                f.error("password", "must be a string");
                None
            }
        };
        f.password("password", password.as_deref(), email.as_deref());
        let disabled = f.boolean(&body, "disabled").unwrap_or(false);
        let roles = f.strings(&body, "roles", 100, 100).unwrap_or_default();
        f.finish()?;
        let email = email.unwrap_or_default();
        self.require_ids("roles", "roles", &roles).await?;
        let hash = match &password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let id = self.new_id("usr")?;
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO users (id, email, name, password_hash, disabled, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            vec![id.as_str().into(), email.into(), name.into(), hash.into(), disabled.into(), self.now.into()],
        )];
        statements.extend(RoleHolder::User.assignments(&id, &roles));
        self.batch(statements).await?;
        ok(201, self.user_json(&id).await?)
    }

    pub(crate) async fn update_user(&self, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        self.one("SELECT id FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        let mut f = Fields::default();
        let email = f.text(&body, "email", false, 320);
        f.email("email", email.as_deref());
        let name = f.text(&body, "name", false, 200);
        let disabled = f.boolean(&body, "disabled");
        f.finish()?;
        self.batch(vec![(
            // Disabling also signs the user out of every portal session.
            "UPDATE users SET email = COALESCE(?2, email), name = COALESCE(?3, name), disabled = COALESCE(?4, disabled), \
             session_epoch = session_epoch + (CASE WHEN ?4 = 1 THEN 1 ELSE 0 END), updated_at = ?5 WHERE id = ?1",
            vec![id.into(), email.into(), name.into(), disabled.into(), self.now.into()],
        )])
        .await?;
        if disabled == Some(true) {
            self.revoke_user_grants(id).await?;
        }
        ok(200, self.user_json(id).await?)
    }

    /// Revokes every grant the user still holds: a disabled or deleted user's apps lose access
    /// at once (their refresh tokens stop working; access tokens end with their lifetime). The
    /// intents are written first, so a sweep a failure interrupts is finished by the cron.
    pub(crate) async fn revoke_user_grants(&self, user_id: &str) -> Result<usize, ApiError> {
        let index = SqlDirectory {
            sql: self.sql,
            now: self.now,
        };
        Grants::new(self.backend, &index)
            .revoke_all_of(user_id, self.now)
            .await
            .map_err(store_error)
    }

    /// The user's quota in the current window, without counting anything.
    pub(crate) async fn user_quota(&self, id: &str) -> Result<Reply, ApiError> {
        self.one("SELECT id FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        let Some((plugin, quota)) = self.quota else {
            return ok(200, json!({ "quota": null }));
        };
        let key = crate::quota::counter_key(plugin, id);
        let d = self
            .backend
            .peek(&key, quota.limit, quota.period_secs, self.now as u64)
            .await
            .map_err(store_error)?;
        ok(
            200,
            json!({
                "quota": {
                    "limit": quota.limit,
                    "period_secs": quota.period_secs,
                    "used": quota.limit - d.remaining,
                    "remaining": d.remaining,
                    "reset_secs": d.reset_secs,
                }
            }),
        )
    }

    pub(crate) async fn delete_user(&self, id: &str) -> Result<Reply, ApiError> {
        self.one("SELECT id FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        self.revoke_user_grants(id).await?;
        self.delete("DELETE FROM users WHERE id = ?1", id).await
    }

    pub(crate) async fn set_password(&self, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body = json_body(body)?;
        let user = self
            .one("SELECT email FROM users WHERE id = ?1", vec![id.into()])
            .await?;
        let mut f = Fields::default();
        let password = f.text(&body, "password", true, MAX_ADMIN_BODY_BYTES);
        f.password(
            "password",
            password.as_deref(),
            user.get("email").and_then(Value::as_str),
        );
        f.finish()?;
        let hash = self.hash_password(&password.unwrap_or_default()).await?;
        self.batch(vec![(
            // A new password signs the user out of every portal session.
            "UPDATE users SET password_hash = ?2, session_epoch = session_epoch + 1, updated_at = ?3 WHERE id = ?1",
            vec![id.into(), hash.into(), self.now.into()],
        )])
        .await?;
        ok(200, self.user_json(id).await?)
    }

    pub(crate) async fn list_users(&self, head: &RequestHead) -> Result<Reply, ApiError> {
        let (limit, after, _) = page(head)?;
        // One query per page: each user's roles come aggregated as JSON.
        let rows = self
            .query(
                "SELECT u.id, u.email, u.name, u.disabled, u.created_at, \
                   (SELECT json_group_array(json_object('id', r.id, 'name', r.name)) \
                    FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id) AS roles \
                 FROM users u WHERE u.id > ?1 ORDER BY u.id LIMIT ?2",
                vec![after.into(), limit.into()],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                json!({
                    "id": text(r, "id"),
                    "email": text(r, "email"),
                    "name": text(r, "name"),
                    "disabled": flag(r, "disabled"),
                    "roles": json_column(r, "roles"),
                    "created_at": int(r, "created_at"),
                })
            })
            .collect();
        listing(items, limit)
    }
}
